//! Transfers sent as a user of the receiving server: the sender logs in inside the encrypted
//! handshake, and its files land in that user's sandbox mapping; wrong passwords, unknown users
//! and paths out of the mapping are refused with nothing written, and logged.

#[allow(dead_code)]
mod support;

use jetstream_engine::error::Error;
use jetstream_engine::server::{store_file, Server};
use jetstream_engine::store::Store;
use serde_json::{json, Value};
use std::path::Path;
use support::{call, digests, ok, ok_async, open};

/// A receiving server in `dir` with users ann and bob, each confined to `users/<name>`.
async fn receiver_with_users(dir: &Path) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let mut store = Store::open(&store_file(dir)).unwrap();
    store.add_user("ann", "ann's secret", 0).unwrap();
    store.add_user("bob", "bob's secret", 0).unwrap();
    drop(store);
    let server = open(dir).await;
    for user in ["ann", "bob"] {
        let mapping = json!({ "userName": user, "path": "users/%u" });
        ok(&server, "createSandboxMapping", mapping).await;
    }
    server
}

/// A small tree to send: two files, one in a subdirectory.
fn source_tree(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"for the user only").unwrap();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.join("sub/b.bin"), bytes).unwrap();
    src
}

/// Sends `src` from `sender` to `destination_id` with `credentials` (and a destination path,
/// if any) and waits for the transfer's end: its record, or the error of a transfer refused
/// at its creation.
async fn send_as(
    sender: &Server,
    destination_id: &str,
    src: &Path,
    credentials: Value,
) -> Result<Value, Error> {
    let mappings = json!({ "mappings": { "tree": src } });
    let manifest = ok(sender, "createManifest", mappings).await;
    let params = json!({ "manifestId": manifest["manifestId"] });
    ok(sender, "waitForManifest", params).await;
    let mut params = credentials;
    params["destinationId"] = json!(destination_id);
    params["manifestId"] = manifest["manifestId"].clone();
    params["timeoutSeconds"] = json!(5);
    let created = call(sender, "createTransfer", params).await?;
    let id = created["transferId"].clone();
    Ok(ok(sender, "waitForTransfer", json!({ "transferId": id })).await)
}

/// The receiver's event log entries of `kind`.
async fn events(server: &Server, kind: &str) -> Vec<Value> {
    let log = ok(server, "getEventLog", json!({})).await;
    let all = log.as_array().unwrap().iter();
    all.filter(|e| e["kind"] == kind).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_receive_into_their_own_roots_and_bad_logins_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_tree(dir.path());
    let receiver = receiver_with_users(&dir.path().join("b")).await;
    let sender = open(&dir.path().join("a")).await;
    // The receiver does not know the sender's key: the user's password is what admits it.
    let port = receiver.info().recv_port;
    let params = json!({ "destinationAddress": "127.0.0.1", "destinationPort": port });
    let destination = ok(&sender, "createDestination", params).await;
    let destination_id = destination["destinationId"].as_str().unwrap();
    let root = dir.path().join("b/received");

    let ann = json!({ "userName": "ann", "password": "ann's secret" });
    let done = send_as(&sender, destination_id, &src, ann).await.unwrap();
    assert_eq!(done["status"], "complete", "{done}");
    let bob = json!({ "userName": "bob", "password": "bob's secret", "destinationPath": "inbox" });
    let done = send_as(&sender, destination_id, &src, bob).await.unwrap();
    assert_eq!(done["status"], "complete", "{done}");
    let sent = digests(&src);
    assert_eq!(
        digests(&root.join("users/ann/tree")),
        sent,
        "{:?} {done}",
        digests(&dir.path().join("b"))
    );
    assert_eq!(digests(&root.join("users/bob/inbox/tree")), sent);

    let before = digests(&root);
    for (credentials, why) in [
        (
            json!({ "userName": "ann", "password": "bob's secret" }),
            "AUTH_FAILED",
        ),
        (
            json!({ "userName": "carol", "password": "ann's secret" }),
            "AUTH_FAILED",
        ),
        (
            json!({ "userName": "ann", "password": "ann's secret", "destinationPath": "../bob" }),
            "",
        ),
    ] {
        match send_as(&sender, destination_id, &src, credentials.clone()).await {
            Ok(done) => {
                assert_eq!(done["status"], "error", "{credentials}: {done}");
                let message = done["errorMessage"].as_str().unwrap_or_default();
                assert!(message.contains(why), "{credentials}: {message}");
            }
            Err(refused) => assert!(
                why.is_empty(),
                "{credentials}: refused at once: {refused:?}"
            ),
        }
    }
    assert_eq!(digests(&root), before, "a refused login wrote nothing");

    let logged_in = events(&receiver, "loggedIn").await;
    let users: Vec<&Value> = logged_in.iter().map(|e| &e["userName"]).collect();
    assert!(
        users.contains(&&json!("ann")) && users.contains(&&json!("bob")),
        "{logged_in:?}"
    );
    let failed = events(&receiver, "loginFailed").await;
    let failed: Vec<&Value> = failed.iter().map(|e| &e["userName"]).collect();
    assert_eq!(failed, [&json!("ann"), &json!("carol")]);
    let started = events(&receiver, "receivedStarted").await;
    assert_eq!(started[0]["userName"], "ann", "{started:?}");
    // The receiver's records say whose transfers they were.
    let received = ok_async(&receiver, "getTransfersAsync", json!({})).await;
    let complete: Vec<(&Value, &Value)> = received
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "complete")
        .map(|t| (&t["userName"], &t["usesToken"]))
        .collect();
    assert_eq!(
        complete,
        [
            (&json!("ann"), &json!(false)),
            (&json!("bob"), &json!(false))
        ],
        "{received}"
    );
    sender.close().await;
    receiver.close().await;
}
