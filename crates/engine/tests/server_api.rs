//! The ServerInterface methods that live in the engine: echo, the event log, the server-wide
//! bandwidth limits (enforced across transfers), garbage collection, the sandbox file
//! operations (confined to the caller's root) and the sandbox mappings.

#[allow(dead_code)]
mod support;

use jetstream_engine::command;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{Caller, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{code, generated_pair, ok, open, plain_transfer};

/// Runs `method` for `caller` and returns its result (for an `*Async` method: the result of
/// its request).
async fn run_as(
    server: &Server,
    caller: &Caller,
    method: &str,
    params: Value,
) -> Result<Value, Error> {
    let command = command::parse(&json!({ "method": method, "params": params }))?;
    let queued = command.is_async();
    let value = server.execute_as(caller.clone(), command).await?;
    if !queued {
        return Ok(value);
    }
    let result =
        json!({ "method": "getRequestResult", "params": { "requestId": value["requestId"] } });
    server.execute(command::parse(&result)?).await
}

/// [`run_as`] for the embedding process.
async fn run(server: &Server, method: &str, params: Value) -> Result<Value, Error> {
    run_as(server, &Caller::local(), method, params).await
}

fn sandbox(dir: &Path) -> PathBuf {
    dir.join("received")
}

#[tokio::test]
async fn echo_returns_its_value_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    let value = json!({ "a": [1, 2.5, "x", null, { "b": true }] });
    assert_eq!(ok(&server, "echo", json!({ "value": value })).await, value);
    // Null, as for every required parameter, is a missing value.
    assert_eq!(
        code(&server, "echo", json!({ "value": null })).await,
        Code::InvalidArgument
    );
    server.close().await;
}

#[tokio::test]
async fn file_operations_work_inside_the_sandbox_and_refuse_every_escape() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    let root = sandbox(dir.path());
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();

    let made = run(&server, "mkdirAsync", json!({ "path": "a/b" }))
        .await
        .unwrap();
    assert_eq!(made["type"], "directory");
    assert_eq!(made["path"], "a/b");
    assert!(root.join("a/b").is_dir());
    let file = run(
        &server,
        "mkFileAsync",
        json!({ "path": "a/b/f.txt", "content": "hello" }),
    )
    .await
    .unwrap();
    assert_eq!(
        (file["type"].clone(), file["size"].clone()),
        (json!("file"), json!(5))
    );
    assert_eq!(std::fs::read(root.join("a/b/f.txt")).unwrap(), b"hello");
    let again = run(
        &server,
        "mkFileAsync",
        json!({ "path": "a/b/f.txt", "content": "x" }),
    )
    .await;
    assert_eq!(again.unwrap_err().code, Code::AlreadyExists);
    assert_eq!(std::fs::read(root.join("a/b/f.txt")).unwrap(), b"hello");

    let listed = run(&server, "lsAsync", json!({ "path": "a/b" }))
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "f.txt");
    assert_eq!(listed[0]["path"], "a/b/f.txt");
    assert!(listed[0]["modificationTime"].as_i64().unwrap() > 0);
    let top = run(&server, "lsAsync", json!({ "path": "" }))
        .await
        .unwrap();
    let kinds: Vec<(String, String)> = top
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["type"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("a".into(), "directory".into()),
            ("link".into(), "symlink".into())
        ]
    );
    let several = run(
        &server,
        "lsListAsync",
        json!({ "paths": ["a", "a/b/f.txt"] }),
    )
    .await
    .unwrap();
    assert_eq!(several[0]["type"], "directory");
    assert_eq!(several[1]["size"], 5);
    // The symlink is counted as itself, never followed to what it points at.
    let usage = run(&server, "duAsync", json!({ "path": "" }))
        .await
        .unwrap();
    assert_eq!(
        (usage["size"].clone(), usage["files"].clone()),
        (json!(5), json!(1))
    );
    assert_eq!(usage["directories"], 3);
    let roots = run(&server, "lsRootsAsync", json!({})).await.unwrap();
    assert_eq!(roots.as_array().unwrap().len(), 1);
    assert_eq!(
        (roots[0]["path"].clone(), roots[0]["type"].clone()),
        (json!(""), json!("directory"))
    );

    let moved = run(
        &server,
        "mvAsync",
        json!({ "src": "a/b/f.txt", "dst": "a/g.txt" }),
    )
    .await
    .unwrap();
    assert_eq!(moved["path"], "a/g.txt");
    assert_eq!(std::fs::read(root.join("a/g.txt")).unwrap(), b"hello");
    assert!(!root.join("a/b/f.txt").exists());

    // Escapes: by `..`, by an absolute path, through a symlink.
    for (method, params) in [
        ("lsAsync", json!({ "path": "../" })),
        ("lsAsync", json!({ "path": "a/../.." })),
        ("lsAsync", json!({ "path": outside.display().to_string() })),
        ("duAsync", json!({ "path": ".." })),
        ("mkdirAsync", json!({ "path": "../escaped" })),
        (
            "mkFileAsync",
            json!({ "path": "/tmp/escaped", "content": "x" }),
        ),
        ("mvAsync", json!({ "src": "a/g.txt", "dst": "../g.txt" })),
        ("lsListAsync", json!({ "paths": ["a", "../outside"] })),
    ] {
        let refused = code(&server, method, params.clone()).await;
        assert_eq!(refused, Code::PermissionDenied, "{method} {params}");
    }
    for (method, params) in [
        ("lsAsync", json!({ "path": "link" })),
        ("lsListAsync", json!({ "paths": ["link/secret"] })),
        ("duAsync", json!({ "path": "link/secret" })),
        ("mkdirAsync", json!({ "path": "link/made" })),
        (
            "mkFileAsync",
            json!({ "path": "link/made.txt", "content": "x" }),
        ),
        ("mvAsync", json!({ "src": "a/g.txt", "dst": "link/g.txt" })),
        ("mvAsync", json!({ "src": "link/secret", "dst": "stolen" })),
    ] {
        let refused = run(&server, method, params.clone()).await.unwrap_err();
        assert_eq!(
            refused.code,
            Code::PermissionDenied,
            "{method} {params}: {refused}"
        );
    }
    // Nothing outside the root was touched, and what was inside stayed.
    let mut names: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["secret"]);
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
    assert!(!dir.path().join("escaped").exists() && !dir.path().join("g.txt").exists());
    assert!(!root.join("stolen").exists());
    assert_eq!(std::fs::read(root.join("a/g.txt")).unwrap(), b"hello");
    assert_eq!(
        code(&server, "lsAsync", json!({ "path": "a\\b" })).await,
        Code::InvalidArgument
    );
    server.close().await;
}

#[tokio::test]
async fn a_confined_caller_sees_and_changes_its_own_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    let root = sandbox(dir.path());
    std::fs::write(root.join("shared.txt"), b"not yours").unwrap();
    let own = root.join("users/ann");
    std::fs::create_dir_all(&own).unwrap();
    let ann = Caller {
        user: Some("ann".into()),
        root: Some(own.clone()),
        ..Caller::local()
    };
    run_as(
        &server,
        &ann,
        "mkFileAsync",
        json!({ "path": "mine.txt", "content": "ann" }),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(own.join("mine.txt")).unwrap(), b"ann");
    let listed = run_as(&server, &ann, "lsAsync", json!({ "path": "" }))
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "mine.txt");
    let roots = run_as(&server, &ann, "lsRootsAsync", json!({}))
        .await
        .unwrap();
    assert_eq!(roots[0]["name"], "ann");
    for path in ["..", "../../shared.txt", "/"] {
        let refused = run_as(&server, &ann, "lsListAsync", json!({ "paths": [path] })).await;
        assert_eq!(refused.unwrap_err().code, Code::PermissionDenied, "{path}");
    }
    let refused = run_as(
        &server,
        &ann,
        "mvAsync",
        json!({ "src": "mine.txt", "dst": "../x" }),
    )
    .await;
    assert_eq!(refused.unwrap_err().code, Code::PermissionDenied);
    assert!(own.join("mine.txt").exists() && !root.join("users/x").exists());
    // Its change is in the event log, with its name.
    let events = ok(&server, "getEventLog", json!({})).await;
    let change = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "fileChanged")
        .expect("a fileChanged event");
    assert_eq!(
        (change["path"].clone(), change["userName"].clone()),
        (json!("mine.txt"), json!("ann"))
    );
    server.close().await;
}

#[tokio::test]
async fn sandbox_mappings_are_kept_and_resolve_below_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    assert_eq!(
        ok(&server, "getSandboxMappings", json!({})).await,
        json!([])
    );
    let made = ok(
        &server,
        "createSandboxMapping",
        json!({ "userName": "ann", "path": "users/%u" }),
    )
    .await;
    assert_eq!(made, json!({ "userName": "ann", "path": "users/%u" }));
    ok(
        &server,
        "createSandboxMapping",
        json!({ "userName": "bob", "path": "shared" }),
    )
    .await;
    for path in ["../up", "/abs"] {
        let refused = code(
            &server,
            "createSandboxMapping",
            json!({ "userName": "eve", "path": path }),
        )
        .await;
        assert_eq!(refused, Code::InvalidArgument, "{path}");
    }
    server.close().await;
    // Kept in the store across a restart.
    let server = open(dir.path()).await;
    let mappings = ok(&server, "getSandboxMappings", json!({})).await;
    assert_eq!(
        mappings,
        json!([{ "userName": "ann", "path": "users/%u" }, { "userName": "bob", "path": "shared" }])
    );
    assert_eq!(
        ok(&server, "deleteSandboxMapping", json!({ "name": "ann" })).await,
        Value::Null
    );
    assert_eq!(
        code(&server, "deleteSandboxMapping", json!({ "name": "ann" })).await,
        Code::NotFound
    );
    let left = ok(&server, "getSandboxMappings", json!({})).await;
    assert_eq!(left, json!([{ "userName": "bob", "path": "shared" }]));
    server.close().await;
}

#[tokio::test]
async fn the_event_log_records_settings_changes_and_is_polled_by_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    let key = "0".repeat(64);
    let request = ok(
        &server,
        "addAuthorizedClientAsync",
        json!({ "publicKey": key }),
    )
    .await;
    ok(&server, "getRequestResult", request).await;
    let first = ok(&server, "getEventLog", json!({})).await;
    let first = first.as_array().unwrap();
    assert_eq!(first.last().unwrap()["kind"], "authorizedClientAdded");
    let last_id = first.last().unwrap()["eventId"].as_u64().unwrap();
    run(
        &server,
        "allowOnlyAuthorizedClientsAsync",
        json!({ "enabled": false }),
    )
    .await
    .unwrap();
    run(
        &server,
        "removeAuthorizedClientAsync",
        json!({ "publicKey": key }),
    )
    .await
    .unwrap();
    ok(
        &server,
        "updateBandwidthLimits",
        json!({ "outgoingKbps": 5000 }),
    )
    .await;
    let newer = ok(&server, "getEventLog", json!({ "after": last_id })).await;
    let kinds: Vec<&str> = newer
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "onlyAuthorizedClientsChanged",
            "authorizedClientRemoved",
            "bandwidthLimitsChanged"
        ]
    );
    for event in newer.as_array().unwrap() {
        assert!(event["eventId"].as_u64().unwrap() > last_id);
        assert!(event["time"].as_i64().unwrap() > 1_600_000_000_000_000);
        assert!(!event["message"].as_str().unwrap().is_empty());
    }
    let limited = ok(
        &server,
        "getEventLog",
        json!({ "after": last_id, "limit": 2 }),
    )
    .await;
    assert_eq!(limited.as_array().unwrap().len(), 2);
    assert_eq!(limited[0]["kind"], "onlyAuthorizedClientsChanged");
    let newest = ok(&server, "getEventLog", json!({ "limit": 1 })).await;
    assert_eq!(newest[0]["kind"], "bandwidthLimitsChanged");
    // The reader's fast path answers the same.
    let reader = server.reader().unwrap();
    let text = reader
        .execute_json(&json!({ "method": "getEventLog", "params": { "limit": 1 } }).to_string())
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), newest);
    server.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_sent_and_received_leave_events_with_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) = generated_pair(dir.path(), 100_000).await;
    let created = ok(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination_id, "manifestId": manifest_id, "transferFlags": 0 }),
    )
    .await;
    let id = created["transferId"].clone();
    let ended = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(ended["status"], "complete", "{ended}");
    let sent = ok(&sender, "getEventLog", json!({})).await;
    let of_transfer: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["transferId"] == id)
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        of_transfer,
        ["transferCreated", "transferStarted", "transferEnded"]
    );
    assert!(sent.as_array().unwrap().iter().any(
        |e| e["kind"] == "transferEnded" && e["message"].as_str().unwrap().contains("complete")
    ));
    // The receiver records the end once its session closes.
    let mut kinds = Vec::new();
    for _ in 0..200 {
        let received = ok(&receiver, "getEventLog", json!({})).await;
        kinds = received
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["receivedId"].is_u64())
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect();
        if kinds.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kinds, ["receivedStarted", "receivedEnded"]);
    sender.close().await;
    receiver.close().await;
}

#[tokio::test]
async fn bandwidth_limits_are_kept_and_shown_in_server_info() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    let info = ok(&server, "getServerInfo", json!({})).await;
    assert_eq!(
        info["bandwidthLimits"],
        json!({ "incomingKbps": null, "outgoingKbps": null })
    );
    let set = ok(
        &server,
        "updateBandwidthLimits",
        json!({ "incomingKbps": 1000, "outgoingKbps": 2000 }),
    )
    .await;
    assert_eq!(
        set,
        json!({ "incomingKbps": 1000.0, "outgoingKbps": 2000.0 })
    );
    // Left out: unchanged; null: removed.
    let set = ok(
        &server,
        "updateBandwidthLimits",
        json!({ "outgoingKbps": null }),
    )
    .await;
    assert_eq!(set, json!({ "incomingKbps": 1000.0, "outgoingKbps": null }));
    server.close().await;
    let server = open(dir.path()).await;
    let info = ok(&server, "getServerInfo", json!({})).await;
    assert_eq!(
        info["bandwidthLimits"],
        json!({ "incomingKbps": 1000.0, "outgoingKbps": null })
    );
    for field in [
        "serverId",
        "serverUid",
        "serverName",
        "hostName",
        "version",
        "apiVersion",
        "publicKey",
        "recvAddress",
        "sandboxDir",
    ] {
        assert!(!info[field].as_str().unwrap().is_empty(), "{field}");
    }
    assert!(info["recvPort"].as_u64().unwrap() > 0);
    server.close().await;
}

/// Counter `field` of transfer `id`.
async fn counter(server: &Server, id: u64, field: &str) -> u64 {
    ok(server, "getTransfer", json!({ "transferId": id })).await[field]
        .as_u64()
        .unwrap()
}

/// Bytes per second sent by transfers `ids` over `span`: together, and each.
async fn sent_rate(server: &Server, ids: &[u64], span: Duration) -> (f64, Vec<f64>) {
    let mut start = Vec::new();
    for id in ids {
        start.push(counter(server, *id, "bytesSent").await);
    }
    let at = std::time::Instant::now();
    tokio::time::sleep(span).await;
    let mut each = Vec::new();
    for (id, start) in ids.iter().zip(start) {
        each.push((counter(server, *id, "bytesSent").await - start) as f64);
    }
    let seconds = at.elapsed().as_secs_f64();
    let each: Vec<f64> = each.into_iter().map(|bytes| bytes / seconds).collect();
    (each.iter().sum(), each)
}

/// Polls transfer `id` until it is sending.
async fn sending(server: &Server, id: u64) {
    for _ in 0..500 {
        let t = ok(server, "getTransfer", json!({ "transferId": id })).await;
        if t["status"] == "sending" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("transfer {id} never started sending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outgoing_cap_holds_for_the_sum_of_concurrent_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 200_000_000).await;
    // A second destination to the same receiver: the cap is shared across destinations.
    let port = receiver.info().recv_port;
    let other = ok(
        &sender,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": port, "exclusive": true }),
    )
    .await;
    // 16,000 kbit/s: 2 MB/s for the two together.
    const CAP: f64 = 2_000_000.0;
    ok(
        &sender,
        "updateBandwidthLimits",
        json!({ "outgoingKbps": 16_000 }),
    )
    .await;
    let mut ids = Vec::new();
    for (destination, path) in [
        (json!(destination_id), "one"),
        (other["destinationId"].clone(), "two"),
    ] {
        let created = ok(
            &sender,
            "createTransfer",
            json!({ "destinationId": destination, "manifestId": manifest_id,
                    "destinationPath": path, "transferFlags": 0 }),
        )
        .await;
        ids.push(created["transferId"].as_u64().unwrap());
    }
    for id in &ids {
        sending(&sender, *id).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (sum, each) = sent_rate(&sender, &ids, Duration::from_secs(3)).await;
    assert!(
        sum < CAP * 1.2 && sum > CAP * 0.5,
        "{sum} B/s for a cap of {CAP}: {each:?}"
    );
    // Shared among them: each sends.
    assert!(each.iter().all(|rate| *rate > CAP * 0.2), "{each:?}");
    // Lifted: nothing holds them back any more (at the cap they would need minutes).
    ok(
        &sender,
        "updateBandwidthLimits",
        json!({ "outgoingKbps": null }),
    )
    .await;
    for id in ids {
        let ended = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
        assert_eq!(ended["status"], "complete", "{ended}");
    }
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incoming_cap_limits_what_the_receiver_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 200_000_000).await;
    // 8,000 kbit/s: 1 MB/s accepted by the receiver.
    const CAP: f64 = 1_000_000.0;
    ok(
        &receiver,
        "updateBandwidthLimits",
        json!({ "incomingKbps": 8_000 }),
    )
    .await;
    let id = plain_transfer(&sender, &destination_id, &manifest_id).await;
    sending(&sender, id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = counter(&sender, id, "bytesAcked").await;
    let at = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rate =
        (counter(&sender, id, "bytesAcked").await - start) as f64 / at.elapsed().as_secs_f64();
    assert!(
        rate < CAP * 1.2 && rate > CAP * 0.3,
        "{rate} B/s accepted under a cap of {CAP}"
    );
    ok(&sender, "failTransfer", json!({ "transferId": id })).await;
    sender.close().await;
    receiver.close().await;
}

#[tokio::test]
async fn garbage_collection_removes_what_is_no_longer_needed_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = sandbox(dir.path());
    // A part file an earlier run left with nothing durable, found after the server started.
    let server = open(dir.path()).await;
    std::fs::create_dir_all(root.join("d")).unwrap();
    std::fs::write(root.join("d/big.bin.jetpart"), vec![0u8; 4096]).unwrap();
    std::fs::write(root.join("d/kept.bin"), b"data").unwrap();
    let unused = ok(
        &server,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": 9 }),
    )
    .await;
    let permanent = ok(
        &server,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": 10, "permanent": true }),
    )
    .await;
    let collected = ok(&server, "garbageCollect", json!({})).await;
    assert_eq!(collected["destinations"], 1, "{collected}");
    assert_eq!(collected["partFilesRemoved"], 1, "{collected}");
    assert_eq!(collected["requests"], 0);
    assert!(!root.join("d/big.bin.jetpart").exists());
    assert_eq!(std::fs::read(root.join("d/kept.bin")).unwrap(), b"data");
    let gone = code(
        &server,
        "getDestination",
        json!({ "destinationId": unused["destinationId"] }),
    )
    .await;
    assert_eq!(gone, Code::NotFound);
    ok(
        &server,
        "getDestination",
        json!({ "destinationId": permanent["destinationId"] }),
    )
    .await;
    // Nothing left to collect.
    let again = ok(&server, "garbageCollect", json!({})).await;
    assert_eq!(
        (
            again["destinations"].clone(),
            again["partFilesRemoved"].clone()
        ),
        (json!(0), json!(0))
    );
    let events = ok(&server, "getEventLog", json!({})).await;
    let collections = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "garbageCollected")
        .count();
    assert_eq!(collections, 2);
    server.close().await;
}

#[tokio::test]
async fn server_info_shows_the_control_port_and_whether_it_asks_for_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = open(dir.path()).await;
    let info = ok(&embedded, "getServerInfo", json!({})).await;
    assert_eq!(
        (info["apiControlPort"].clone(), info["authRequired"].clone()),
        (Value::Null, json!(false))
    );
    embedded.close().await;
    let mut opts = jetstream_engine::server::ServerOptions::new(dir.path().to_path_buf());
    opts.api_control_port = Some(8886);
    opts.auth_required = true;
    let served = Server::open(opts).await.unwrap();
    let info = ok(&served, "getServerInfo", json!({})).await;
    assert_eq!(
        (info["apiControlPort"].clone(), info["authRequired"].clone()),
        (json!(8886), json!(true))
    );
    served.close().await;
}
