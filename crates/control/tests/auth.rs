//! Logging in to the control port: requests without valid credentials get 401 AUTH_FAILED
//! (except the logins themselves); a password opens a session; wrong passwords and unknown
//! users are refused alike, and an address that keeps failing is held back while another is
//! not. API tokens grant what they were created with: their permissions, inside their
//! directory of the sandbox, until they expire or are deleted.

mod support;

use jetstream_control::{Client, ClientOptions};
use jetstream_engine::error::Code;
use jetstream_engine::server::store_file;
use jetstream_engine::store::Store;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use support::{post, post_with, Port};
use tokio::task::JoinSet;

/// Adds user `name` with `password` to the server whose state directory is `dir`.
fn add_user(dir: &Path, name: &str, password: &str) {
    Store::open(&store_file(dir))
        .unwrap()
        .add_user(name, password, 1)
        .unwrap();
}

/// A raw connection to `addr` from the local address `from`.
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(addr).await.unwrap().into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

fn login(user: &str, password: &str) -> String {
    json!({ "method": "auth", "params": { "userName": user, "password": password } }).to_string()
}

async fn plain(port: &Port, token: Option<&str>) -> Client {
    port.client(ClientOptions {
        plain: true,
        token: token.map(str::to_owned),
        ..ClientOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_login_is_answered_without_credentials_and_a_session_opens_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "ann", "right");
    let port = Port::with_login(dir.path()).await;
    let client = plain(&port, None).await;
    for (method, params) in [
        ("getServerInfo", json!({})),
        ("getDestinations", json!({})),
        ("getRequestResult", json!({ "requestId": 1 })),
    ] {
        let e = client.execute(method, params).await.unwrap_err();
        assert_eq!(e.code, Code::AuthFailed, "{method}: {e}");
    }
    for bearer in ["Bearer nonsense", "Basic YW5uOnJpZ2h0", "Bearer "] {
        let addr = port.addr;
        let header = format!("Authorization: {bearer}\r\n");
        let answer = tokio::task::spawn_blocking(move || {
            post_with(
                &mut support::connect(addr),
                r#"{"method":"getServerInfo"}"#,
                &header,
            )
        })
        .await
        .unwrap();
        assert_eq!(answer.status, 401, "{bearer}");
        assert_eq!(answer.body["code"], "AUTH_FAILED", "{bearer}");
        assert!(
            answer.headers.contains("www-authenticate: bearer"),
            "{bearer}"
        );
    }
    // A wrong password and an unknown user read the same.
    let wrong = client.auth("ann", "wrong").await.unwrap_err();
    let unknown = client.auth("bob", "right").await.unwrap_err();
    assert_eq!(
        (wrong.code, unknown.code),
        (Code::AuthFailed, Code::AuthFailed)
    );
    assert_eq!(wrong.message, unknown.message);
    let session = client.auth("ann", "right").await.unwrap();
    assert_eq!(session["userName"], "ann");
    assert_eq!(session["sessionToken"].as_str().unwrap().len(), 64);
    assert!(session["expiryTime"].as_i64().unwrap() > 0);
    let info = client.execute("getServerInfo", json!({})).await.unwrap();
    assert_eq!(info["authRequired"], true);
    assert_eq!(
        client.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    // The session is the bearer's, whichever connection carries it.
    let other = plain(&port, session["sessionToken"].as_str()).await;
    assert_eq!(
        other.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    // The event log tells the failures and the login, with the user names tried.
    let log = client.execute("getEventLog", json!({})).await.unwrap();
    let logins: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["userName"].as_str().unwrap()))
        .collect();
    assert_eq!(
        logins,
        [
            ("loginFailed", "ann"),
            ("loginFailed", "bob"),
            ("loggedIn", "ann")
        ],
        "{log}"
    );
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_wrong_passwords_are_refused_and_held_back_while_another_address_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "ann", "right");
    let port = Port::with_login(dir.path()).await;
    let client = Arc::new(plain(&port, None).await);
    let start = Instant::now();
    let (mut checked, mut limited, mut busy) = (0, 0, 0);
    // A thousand in waves of 250 at once (each call holds a connection of its own).
    for _ in 0..4 {
        let mut wave = JoinSet::new();
        for _ in 0..250 {
            let client = client.clone();
            wave.spawn(async move { client.auth("ann", "wrong").await.unwrap_err() });
        }
        while let Some(e) = wave.join_next().await {
            let e = e.unwrap();
            match (e.code, e.message.as_str()) {
                (Code::AuthFailed, "wrong user name or password") => checked += 1,
                (Code::AuthFailed, m) if m.starts_with("too many failed logins from 127.0.0.1") => {
                    limited += 1;
                }
                (Code::Unavailable, m) if m.starts_with("too many logins from 127.0.0.1") => {
                    busy += 1;
                }
                other => panic!("unexpected refusal {other:?}"),
            }
        }
    }
    // Five at once, then one per second (a second more for the one under way).
    let allowed = 5 + start.elapsed().as_secs() as usize + 1;
    assert!((5..=allowed).contains(&checked), "{checked} checked");
    assert_eq!(checked + limited + busy, 1000);
    // Refused unchecked: for the failures (or, when more wait than may, as busy).
    assert!(limited > 0, "limited {limited}, busy {busy}");
    // Meanwhile another address logs in at once,
    let addr = port.addr;
    let mut other = connect_from("127.0.0.2", addr).await;
    let answer = tokio::task::spawn_blocking(move || post(&mut other, &login("ann", "right")))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["userName"], "ann");
    // and 127.0.0.1 is held back, not locked out: its right password waits for a token.
    client.auth("ann", "right").await.unwrap();
    // Every password checked and failed is in the event log; those refused unchecked are not.
    let log = client.execute("getEventLog", json!({})).await.unwrap();
    let failed = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "loginFailed")
        .count();
    assert_eq!(failed, checked, "{log}");
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_grants_its_permissions_inside_its_directory_until_deleted_or_expired() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "ann", "right");
    let port = Port::with_login(dir.path()).await;
    let admin = plain(&port, None).await;
    admin.auth("ann", "right").await.unwrap();
    let sandbox = dir.path().join("received").canonicalize().unwrap();
    std::fs::create_dir_all(sandbox.join("in/sub")).unwrap();
    std::fs::write(sandbox.join("in/sub/a.txt"), b"a").unwrap();
    std::fs::write(sandbox.join("outside.txt"), b"b").unwrap();

    let created = admin
        .execute(
            "createAPIToken",
            json!({ "description": "for the scanner", "sandboxPath": "/in", "permissions": ["send"] }),
        )
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let token_id = created["tokenId"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert_eq!(created["userName"], "ann");
    assert_eq!(created["sandboxPath"], "/in");
    assert_eq!(created["permissions"], json!(["send"]));
    assert_eq!(created["expiryTime"], Value::Null);
    // Listed and read back without the secret, by the secret or by the id.
    let listed = admin.execute("getAPITokens", json!({})).await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none());
    let by_secret = admin
        .execute("getAPIToken", json!({ "token": token }))
        .await
        .unwrap();
    let by_id = admin
        .execute("getAPIToken", json!({ "token": token_id }))
        .await
        .unwrap();
    assert_eq!(by_secret, by_id);
    assert_eq!(by_id["description"], "for the scanner");

    let scanner = plain(&port, Some(&token)).await;
    // Its permission: send. Not receive, not admin.
    assert_eq!(
        scanner.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    for (method, params) in [
        ("getSourcesAsync", json!({})),
        ("getAPITokens", json!({})),
        ("createAPIToken", json!({})),
    ] {
        let e = scanner.execute(method, params).await.unwrap_err();
        assert_eq!(e.code, Code::PermissionDenied, "{method}: {e}");
    }
    // Its directory: sources inside /in only.
    let inside = sandbox.join("in/sub/a.txt");
    let manifest = scanner
        .execute(
            "createManifest",
            json!({ "mappings": { "/a.txt": inside.to_str().unwrap() } }),
        )
        .await
        .unwrap();
    assert!(manifest["manifestId"].is_string());
    let outside = scanner
        .execute(
            "createManifest",
            json!({ "mappings": { "/b.txt": sandbox.join("outside.txt").to_str().unwrap() } }),
        )
        .await
        .unwrap_err();
    assert_eq!(outside.code, Code::PermissionDenied, "{outside}");
    // A token's id is no credential.
    let by_id = plain(&port, Some(&token_id)).await;
    assert_eq!(
        by_id
            .execute("getDestinations", json!({}))
            .await
            .unwrap_err()
            .code,
        Code::AuthFailed
    );
    // A token that creates tokens gives no more than it holds.
    let delegate = admin
        .execute(
            "createAPIToken",
            json!({ "sandboxPath": "in", "permissions": ["admin", "receive"] }),
        )
        .await
        .unwrap();
    let delegate = plain(&port, delegate["token"].as_str()).await;
    let wider = delegate
        .execute("createAPIToken", json!({ "permissions": ["send"] }))
        .await
        .unwrap_err();
    assert_eq!(wider.code, Code::PermissionDenied, "{wider}");
    let elsewhere = delegate
        .execute(
            "createAPIToken",
            json!({ "sandboxPath": "/other", "permissions": ["receive"] }),
        )
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code, Code::PermissionDenied, "{elsewhere}");
    let narrower = delegate
        .execute(
            "createAPIToken",
            json!({ "sandboxPath": "/in/sub", "permissions": ["receive"] }),
        )
        .await
        .unwrap();
    assert_eq!(narrower["permissions"], json!(["receive"]));
    // Bad parameters are named.
    for params in [
        json!({ "permissions": ["send", "root"] }),
        json!({ "sandboxPath": "/in/../.." }),
        json!({ "timeLimitSeconds": -1 }),
        json!({ "color": "red" }),
    ] {
        let e = admin
            .execute("createAPIToken", params.clone())
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{params}: {e}");
    }
    // An expired token is refused.
    let expired = admin
        .execute("createAPIToken", json!({ "timeLimitSeconds": 0 }))
        .await
        .unwrap();
    let expired = plain(&port, expired["token"].as_str()).await;
    let e = expired
        .execute("getDestinations", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::AuthFailed, "{e}");
    assert!(e.message.contains("expired"), "{e}");
    // A deleted one too.
    admin
        .execute("deleteAPIToken", json!({ "token": token }))
        .await
        .unwrap();
    let e = scanner
        .execute("getDestinations", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::AuthFailed, "{e}");
    let e = admin
        .execute("getAPIToken", json!({ "token": token_id }))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound, "{e}");
    assert!(
        !e.message.contains(&token),
        "a message never shows a secret: {e}"
    );
    let e = admin
        .execute("deleteAPIToken", json!({ "token": token }))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound, "{e}");
    assert!(
        !e.message.contains(&token),
        "a message never shows a secret: {e}"
    );
    port.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_login_opens_a_session_only_a_caller_with_every_right_may_read() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "ann", "right");
    let port = Port::with_login(dir.path()).await;
    let anonymous = plain(&port, None).await;
    let request = anonymous
        .execute(
            "authAsync",
            json!({ "userName": "ann", "password": "right" }),
        )
        .await
        .unwrap();
    let id = request["requestId"].as_u64().unwrap();
    let e = anonymous
        .execute("getRequestResult", json!({ "requestId": id }))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::AuthFailed, "{e}");
    let ann = plain(&port, None).await;
    ann.auth("ann", "right").await.unwrap();
    let result = ann
        .execute("getRequestResult", json!({ "requestId": id }))
        .await
        .unwrap();
    assert_eq!(result["userName"], "ann");
    let session = plain(&port, result["sessionToken"].as_str()).await;
    assert_eq!(
        session.execute("getDestinations", json!({})).await.unwrap(),
        json!([])
    );
    let token = ann
        .execute(
            "createAPIToken",
            json!({ "permissions": ["send", "receive"] }),
        )
        .await
        .unwrap();
    let restricted = plain(&port, token["token"].as_str()).await;
    let e = restricted
        .execute("getRequestResult", json!({ "requestId": id }))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::PermissionDenied, "{e}");
    // A failed queued login is a failed request.
    let failed = anonymous
        .execute(
            "authAsync",
            json!({ "userName": "ann", "password": "wrong" }),
        )
        .await
        .unwrap();
    let e = ann
        .execute(
            "getRequestResult",
            json!({ "requestId": failed["requestId"] }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::AuthFailed, "{e}");
    port.stop().await;
}

/// Runs a queued method as `client` and waits for its result.
async fn queued(client: &Client, method: &str, params: Value) -> Result<Value, Code> {
    let request = client.execute(method, params).await.map_err(|e| e.code)?;
    client
        .execute(
            "getRequestResult",
            json!({ "requestId": request["requestId"] }),
        )
        .await
        .map_err(|e| e.code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_a_sandbox_mapping_sends_and_works_only_inside_it() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "root", "r00t");
    add_user(dir.path(), "ann", "s3cret");
    let port = Port::with_login(dir.path()).await;
    let sandbox = dir.path().join("received").canonicalize().unwrap();
    std::fs::create_dir_all(sandbox.join("users/ann")).unwrap();
    std::fs::write(sandbox.join("users/ann/hers.txt"), b"ann's").unwrap();
    std::fs::write(sandbox.join("theirs.txt"), b"not ann's").unwrap();
    let admin = plain(&port, None).await;
    admin.auth("root", "r00t").await.unwrap();
    admin
        .execute(
            "createSandboxMapping",
            json!({ "userName": "ann", "path": "users/%u" }),
        )
        .await
        .unwrap();
    let ann = plain(&port, None).await;
    ann.auth("ann", "s3cret").await.unwrap();

    // Her file operations see and change only her root.
    let listed = queued(&ann, "lsAsync", json!({ "path": "" }))
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hers.txt"]);
    queued(&ann, "mkdirAsync", json!({ "path": "made" }))
        .await
        .unwrap();
    assert!(sandbox.join("users/ann/made").is_dir());
    assert!(!sandbox.join("made").exists());
    let escape = queued(
        &ann,
        "mvAsync",
        json!({ "src": "hers.txt", "dst": "../../x" }),
    )
    .await;
    assert_eq!(escape.unwrap_err(), Code::PermissionDenied);

    // She sends only from inside it.
    let outside = ann
        .execute(
            "createManifest",
            json!({ "mappings": { "t": sandbox.join("theirs.txt").to_str().unwrap() } }),
        )
        .await
        .unwrap_err();
    assert_eq!(outside.code, Code::PermissionDenied, "{outside}");
    ann.execute(
        "createManifest",
        json!({ "mappings": { "h": sandbox.join("users/ann/hers.txt").to_str().unwrap() } }),
    )
    .await
    .unwrap();

    // What governs the whole server is not hers.
    for (method, params) in [
        ("getEventLog", json!({})),
        ("deleteSandboxMapping", json!({ "name": "ann" })),
        ("getAPITokens", json!({})),
    ] {
        let e = ann.execute(method, params).await.unwrap_err();
        assert_eq!(e.code, Code::PermissionDenied, "{method}: {e}");
    }
    port.stop().await;
}
