//! Running transfers steered through the server's commands on loopback: a suspended session
//! outlives its idle timeout, and checkpoints of the acknowledged ranges reach the store at the
//! transfer's `checkpointFrequencySeconds`; a transfer waits for its manifest's walk.

#[allow(dead_code)]
mod support;

use jetstream_engine::error::Code;
use jetstream_engine::server::Server;
use jetstream_engine::store::Store;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::{call, destination, digests, generated_pair, ok, open, plain_transfer, sessions};

async fn transfer(server: &Server, id: u64) -> Value {
    ok(server, "getTransfer", json!({ "transferId": id })).await
}

/// Polls transfer `id` until `done` holds (at most 20 s) and returns it.
async fn until(server: &Server, id: u64, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..1000 {
        let t = transfer(server, id).await;
        if done(&t) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("transfer {id}: {}", transfer(server, id).await);
}

/// Polls transfer `id` until its bytes sent and acknowledged stop changing for 400 ms (what
/// was in flight has arrived or been given up for lost); returns it then.
async fn settled(server: &Server, id: u64) -> Value {
    for _ in 0..20 {
        let before = transfer(server, id).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let after = transfer(server, id).await;
        if before["bytesSent"] == after["bytesSent"] && before["bytesAcked"] == after["bytesAcked"]
        {
            return after;
        }
    }
    panic!(
        "transfer {id} never settled: {}",
        transfer(server, id).await
    );
}

async fn suspend(server: &Server, id: u64) {
    let request = ok(server, "suspendTransferAsync", json!({ "transferId": id })).await;
    ok(server, "getRequestResult", request).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_transfer_outlives_its_timeout_and_then_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 50_000_000).await;
    let created = ok(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination_id, "manifestId": manifest_id, "transferFlags": 0,
                "sendRateMax": 16_000, "timeoutSeconds": 1 }),
    )
    .await;
    let id = created["transferId"].as_u64().unwrap();
    until(&sender, id, |t| {
        t["status"] == "sending" && t["bytesAcked"].as_u64() > Some(0)
    })
    .await;
    suspend(&sender, id).await;
    let quiet = settled(&sender, id).await;
    // Three times its timeout with no data: keep-alives hold the session.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = transfer(&sender, id).await;
    assert_eq!(after["status"], "suspended", "{after}");
    assert_eq!(after["errorMessage"], Value::Null);
    assert_eq!(after["bytesSent"], quiet["bytesSent"]);

    let request = ok(&sender, "resumeTransferAsync", json!({ "transferId": id })).await;
    ok(&sender, "getRequestResult", request).await;
    let request = ok(
        &sender,
        "setTransferSendRateMaxAsync",
        json!({ "transferId": id, "sendRateMax": -1 }),
    )
    .await;
    ok(&sender, "getRequestResult", request).await;
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["bytesAcked"], 50_000_000);
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_record_the_durable_ranges_at_their_frequency() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 50_000_000).await;
    let mut ids = Vec::new();
    for every in [1, 0] {
        let created = ok(
            &sender,
            "createTransfer",
            json!({ "destinationId": destination_id, "manifestId": manifest_id,
                    "transferFlags": 0, "sendRateMax": 8_000,
                    "checkpointFrequencySeconds": every }),
        )
        .await;
        ids.push(created["transferId"].as_u64().unwrap());
    }
    for &id in &ids {
        until(&sender, id, |t| t["bytesAcked"].as_u64() > Some(1_000_000)).await;
        suspend(&sender, id).await;
    }
    let mut acked = Vec::new();
    for &id in &ids {
        acked.push(settled(&sender, id).await["bytesAcked"].as_u64().unwrap());
    }
    // The receiver reports what it holds once a second, and a checkpoint is due at least once
    // a second while suspended.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    sender.close().await;
    receiver.close().await;

    let store = Store::open(&dir.path().join("a/jetstream.db")).unwrap();
    let every_second = store.transfer_checkpoint(ids[0]).unwrap();
    assert_eq!(every_second.acked.len(), acked[0]);
    assert!(every_second.complete_files.is_empty());
    // Without a frequency, only completed entries are recorded: none yet.
    let never = store.transfer_checkpoint(ids[1]).unwrap();
    assert!(never.acked.is_empty());
    assert!(never.complete_files.is_empty());
}

/// A transfer about to be cut by a restart: `files` files of `size` bytes in `dir/src`, sent at
/// 2 MB/s with a checkpoint every second from a sender whose state is `dir/sender`.
struct Restartable {
    receiver: Server,
    sender: Server,
    state: std::path::PathBuf,
    src: std::path::PathBuf,
    id: u64,
}

async fn restartable(dir: &Path, name: &str, files: u64, size: u64) -> Restartable {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..files {
        let data: Vec<u8> = (0..size).map(|b| (b * 31 + i * 7) as u8).collect();
        std::fs::write(src.join(format!("f{i}")), data).unwrap();
    }
    let receiver = open(&dir.join("receiver")).await;
    let state = dir.join("sender");
    let sender = open(&state).await;
    let destination_id = destination(&sender, &receiver).await;
    let params = json!({ "mappings": { name: src.to_str().unwrap() } });
    let manifest = ok(&sender, "createManifest", params).await;
    let params = json!({ "manifestId": manifest["manifestId"] });
    ok(&sender, "waitForManifest", params).await;
    let created = ok(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination_id, "manifestId": manifest["manifestId"],
                "sendRateMax": 16000, "checkpointFrequencySeconds": 1 }),
    )
    .await;
    let id = created["transferId"].as_u64().unwrap();
    Restartable {
        receiver,
        sender,
        state,
        src,
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_interrupted_by_a_restart_resumes_without_resending_complete_entries() {
    let dir = tempfile::tempdir().unwrap();
    const FILES: u64 = 8;
    const SIZE: u64 = 1 << 20;
    let t = restartable(dir.path(), "tree", FILES, SIZE).await;
    let before = until(&t.sender, t.id, |x| x["filesComplete"].as_u64() >= Some(4)).await;
    t.sender.close().await;

    let sender = open(&t.state).await;
    let reopened = transfer(&sender, t.id).await;
    assert!(
        reopened["filesComplete"].as_u64() >= before["filesComplete"].as_u64(),
        "{reopened}"
    );
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": t.id })).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["filesComplete"], FILES + 1);
    assert_eq!(done["bytesAcked"], FILES * SIZE);
    let params = json!({ "transferId": t.id, "getCompleteFlags": true });
    let flags = ok(&sender, "getTransfer", params).await;
    assert!(flags["completeFlags"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f == true));
    let landed = Path::new(&t.receiver.info().sandbox_dir).join("tree");
    assert_eq!(digests(&landed), digests(&t.src));

    // The receiver saw two sessions; the second announced only what the first had not
    // completed.
    let sessions = sessions(&t.receiver, t.id).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let completed_first = before["filesComplete"].as_u64().unwrap() - 1; // the directory entry
    assert!(
        sessions[1]["totalBytes"].as_u64().unwrap() <= (FILES - completed_first) * SIZE,
        "{sessions:?}"
    );
    sender.close().await;
    t.receiver.close().await;
}

/// The id of the connection of destination `destination_id`.
async fn connection_of(server: &Server, destination_id: &str) -> Value {
    let destination = ok(
        server,
        "getDestination",
        json!({ "destinationId": destination_id }),
    )
    .await;
    destination["connectionId"].clone()
}

/// The connection `connection_id`.
async fn get_connection(server: &Server, connection_id: &Value) -> Value {
    ok(
        server,
        "getConnection",
        json!({ "connectionId": connection_id }),
    )
    .await
}

/// Bytes per second acknowledged by transfer `id` over `span`.
async fn measured_rate(server: &Server, id: u64, span: Duration) -> f64 {
    let start = transfer(server, id).await["bytesAcked"].as_u64().unwrap();
    let at = std::time::Instant::now();
    tokio::time::sleep(span).await;
    let end = transfer(server, id).await["bytesAcked"].as_u64().unwrap();
    (end - start) as f64 / at.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_rate_control_off_fixes_the_rate_at_the_connections_send_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 50_000_000).await;
    let connection_id = connection_of(&sender, &destination_id).await;
    let fix = |kbps: u32| {
        let sender = &sender;
        let connection_id = connection_id.clone();
        async move {
            let request = ok(
                sender,
                "updateConnectionParamsAsync",
                json!({ "connectionId": connection_id, "rateControlEnabled": false,
                        "sendRate": kbps }),
            )
            .await;
            ok(sender, "getRequestResult", request).await
        }
    };
    // 8,000 kbit/s: 1 MB/s, from the start.
    assert_eq!(fix(8000).await["rateControllerActive"], false);
    let id = plain_transfer(&sender, &destination_id, &manifest_id).await;
    until(&sender, id, |t| t["status"] == "sending").await;
    let first = measured_rate(&sender, id, Duration::from_secs(2)).await;
    assert!(
        (0.85e6..1.15e6).contains(&first),
        "{first} B/s, fixed at 1 MB/s"
    );
    // Changed while it runs: 2 MB/s.
    fix(16000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = measured_rate(&sender, id, Duration::from_secs(2)).await;
    assert!(
        (1.7e6..2.3e6).contains(&second),
        "{second} B/s, fixed at 2 MB/s"
    );
    ok(&sender, "failTransfer", json!({ "transferId": id })).await;
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_transfer_leaves_what_it_measured_of_the_path_on_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 100_000_000).await;
    let connection_id = connection_of(&sender, &destination_id).await;
    let connection = get_connection(&sender, &connection_id).await;
    assert_eq!(connection["measuredRate"], Value::Null, "{connection}");
    // The fair method is one the connection takes; a method that does not exist is refused.
    let request = ok(
        &sender,
        "updateConnectionParamsAsync",
        json!({ "connectionId": connection_id, "rateControlMethod": 1 }),
    )
    .await;
    assert_eq!(
        ok(&sender, "getRequestResult", request).await["rateControlMethod"],
        1
    );
    let refused = call(
        &sender,
        "updateConnectionParamsAsync",
        json!({ "connectionId": connection_id, "rateControlMethod": 2 }),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message.contains("rateControlMethod 2"),
        "{refused:?}"
    );

    // A path with a bottleneck for start-up to find: the receiver takes in 800 Mbit/s.
    ok(
        &receiver,
        "updateBandwidthLimits",
        json!({ "incomingKbps": 800_000 }),
    )
    .await;
    let id = plain_transfer(&sender, &destination_id, &manifest_id).await;
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(done["status"], "complete", "{done}");
    let connection = get_connection(&sender, &connection_id).await;
    assert_eq!(connection["rateControlMethod"], 1);
    let rate = connection["measuredRate"].as_f64().unwrap_or(0.0);
    let rtt = connection["measuredMinRttMs"].as_f64().unwrap_or(0.0);
    let loss = connection["measuredLossRate"].as_f64().unwrap_or(-1.0);
    assert!(rate > 0.0 && rtt > 0.0, "{connection}");
    assert!((0.0..=0.5).contains(&loss), "{connection}");
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_cut_by_a_restart_goes_on_from_its_acknowledged_bytes() {
    let dir = tempfile::tempdir().unwrap();
    const SIZE: u64 = 4 << 20;
    // At 2 MB/s with a checkpoint every second, the first file is cut about three quarters in.
    let t = restartable(dir.path(), "big", 2, SIZE).await;
    until(&t.sender, t.id, |x| {
        x["bytesAcked"].as_u64() >= Some(3 << 20)
    })
    .await;
    t.sender.close().await;

    let sender = open(&t.state).await;
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": t.id })).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["bytesAcked"], 2 * SIZE);
    let landed = Path::new(&t.receiver.info().sandbox_dir).join("big");
    assert_eq!(digests(&landed), digests(&t.src));
    // The second session wrote less than the two files: at least the first checkpoint's
    // megabytes of the first file were not sent again.
    let sessions = sessions(&t.receiver, t.id).await;
    let second = sessions.last().unwrap();
    assert_eq!(second["status"], "complete", "{sessions:?}");
    assert!(
        second["bytesReceived"].as_u64().unwrap() <= 2 * SIZE - (1 << 20),
        "{sessions:?}"
    );
    sender.close().await;
    t.receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_claim_the_receiver_never_synced_is_received_again() {
    let dir = tempfile::tempdir().unwrap();
    const SIZE: u64 = 4 << 20;
    let t = restartable(dir.path(), "big", 2, SIZE).await;
    until(&t.sender, t.id, |x| {
        x["bytesAcked"].as_u64() >= Some(2 << 20)
    })
    .await;
    t.sender.close().await;

    // A doctored checkpoint: it claims both files whole on the receiver's disk (but not
    // complete), far beyond what the receiver synced.
    let mut store = Store::open(&t.state.join("jetstream.db")).unwrap();
    let transfer = store.get_transfer(t.id, false).unwrap();
    let mut checkpoint = store.transfer_checkpoint(t.id).unwrap();
    assert!(checkpoint.acked.len() < 2 * SIZE, "{checkpoint:?}");
    checkpoint.acked.insert(0..2 * SIZE);
    store
        .save_transfer_checkpoint(t.id, &transfer.progress, &checkpoint)
        .unwrap();
    drop(store);

    let sender = open(&t.state).await;
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": t.id })).await;
    assert_eq!(done["status"], "complete", "{done}");
    let landed = Path::new(&t.receiver.info().sandbox_dir).join("big");
    assert_eq!(digests(&landed), digests(&t.src));
    // The receiver received (again) at least the bytes the claim said it held and it did not:
    // half of the second file had never been sent.
    let sessions = sessions(&t.receiver, t.id).await;
    let last = sessions.last().unwrap();
    assert!(
        last["bytesReceived"].as_u64().unwrap() >= SIZE / 2,
        "{sessions:?}"
    );
    sender.close().await;
    t.receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transfer_leaves_no_part_file_at_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let t = restartable(dir.path(), "big", 2, 4 << 20).await;
    until(&t.sender, t.id, |x| {
        x["bytesAcked"].as_u64() >= Some(1 << 20)
    })
    .await;
    let root = Path::new(&t.receiver.info().sandbox_dir).join("big");
    let parts = || {
        std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".jetpart"))
            .collect::<Vec<_>>()
    };
    assert!(!parts().is_empty(), "a file is being written");
    ok(&t.sender, "failTransfer", json!({ "transferId": t.id })).await;
    let start = std::time::Instant::now();
    while !parts().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "part files left: {:?}",
            parts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.sender.close().await;
    t.receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_wait_for_their_manifests_walk_and_fail_at_once_when_it_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, _) = generated_pair(dir.path(), 1).await;
    // Enough files that the walk is still going when the transfer and the delete arrive.
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..20_000 {
        std::fs::write(tree.join(format!("f{i}")), b"x").unwrap();
    }
    let manifest = |path: &Path| json!({ "mappings": { "t": path.to_str().unwrap() } });
    let walking = ok(&sender, "createManifest", manifest(&tree)).await["manifestId"].clone();
    let create =
        |manifest_id: &Value| json!({ "destinationId": destination_id, "manifestId": manifest_id });
    let waiting = ok(&sender, "createTransfer", create(&walking)).await["transferId"]
        .as_u64()
        .unwrap();
    let state = ok(&sender, "getManifest", json!({ "manifestId": walking })).await;
    assert_eq!(
        state["status"], "pending",
        "the walk ended too soon for this test"
    );
    ok(&sender, "deleteManifest", json!({ "manifestId": walking })).await;
    let ended = tokio::time::timeout(
        Duration::from_secs(60),
        ok(&sender, "waitForTransfer", json!({ "transferId": waiting })),
    )
    .await
    .expect("the transfer still waits for a manifest that was deleted");
    assert_eq!(ended["status"], "error", "{ended}");
    let message = ended["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("NOT_FOUND: manifest ") && message.ends_with(" was deleted"),
        "{message}"
    );

    // A transfer created during its manifest's walk starts when the walk ends, and completes.
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    for name in ["a", "b", "c"] {
        std::fs::write(small.join(name), name.repeat(1000)).unwrap();
    }
    let walked = ok(&sender, "createManifest", manifest(&small)).await["manifestId"].clone();
    let id = ok(&sender, "createTransfer", create(&walked)).await["transferId"]
        .as_u64()
        .unwrap();
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(
        digests(&dir.path().join("b/received/t")),
        digests(&small),
        "the received tree is the source"
    );
    sender.close().await;
    receiver.close().await;
}
