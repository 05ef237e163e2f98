//! The server end to end on loopback: two servers, one sending to the other's receiver through
//! the commands every client uses, checked on disk (SHA-256) and in the stored records.

#[allow(dead_code)]
mod support;

use jetstream_engine::error::Code;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use support::{code, destination, digest, ok, open};

/// A small tree: two files (one empty) and an empty directory.
fn tree(root: &Path) {
    fs::create_dir_all(root.join("sub/empty")).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(root.join("sub/data.bin"), data).unwrap();
    fs::write(root.join("zero"), b"").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_made_by_commands_arrives_and_is_recorded_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    let sender = open(&dir.path().join("a")).await;
    let receiver = open(&dir.path().join("b")).await;
    let destination_id = destination(&sender, &receiver).await;
    let manifest = ok(
        &sender,
        "createManifest",
        json!({ "mappings": { "tree": src.to_str().unwrap() } }),
    )
    .await;
    let manifest_id = manifest["manifestId"].as_str().unwrap();
    let ready = ok(
        &sender,
        "waitForManifest",
        json!({ "manifestId": manifest_id }),
    )
    .await;
    assert_eq!(ready["status"], "complete");
    assert_eq!(ready["totalSize"], 300_000);

    let transfer = ok(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination_id, "manifestId": manifest_id,
                "destinationPath": "in", "transferLog": true }),
    )
    .await;
    let id = transfer["transferId"].as_u64().unwrap();
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["bytesAcked"], 300_000);
    assert_eq!(done["cipher"], 2);

    let landed = Path::new(&receiver.info().sandbox_dir).join("in/tree");
    assert_eq!(
        digest(&landed.join("sub/data.bin")),
        digest(&src.join("sub/data.bin"))
    );
    assert!(landed.join("sub/empty").is_dir());
    assert_eq!(fs::read(landed.join("zero")).unwrap(), b"");
    let log = dir
        .path()
        .join(format!("a/transfer-logs/transfer-{id}.log"));
    assert!(fs::read_to_string(log).unwrap().contains("complete"));

    // The receiver records the end once its session has closed, just after the sender's.
    let mut received = Value::Null;
    for _ in 0..100 {
        let request = ok(&receiver, "getTransfersAsync", json!({})).await;
        let params = json!({ "requestId": request["requestId"] });
        received = ok(&receiver, "getRequestResult", params).await;
        if received[0]["status"] != "receiving" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(received[0]["transferId"], id);
    assert_eq!(received[0]["status"], "complete");
    assert_eq!(received[0]["senderPublicKey"], sender.info().public_key);

    assert_eq!(
        code(&sender, "deleteTransfer", json!({ "transferId": 999 })).await,
        Code::NotFound
    );
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = open(&state).await;
    let destination = ok(
        &server,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": 9, "permanent": true }),
    )
    .await;
    let key = server.info().public_key.clone();
    server.close().await;
    assert_eq!(
        code(&server, "getServerInfo", json!({})).await,
        Code::Unavailable
    );

    let server = open(&state).await;
    assert_eq!(server.info().public_key, key);
    let again = ok(
        &server,
        "getDestination",
        json!({ "destinationId": destination["destinationId"] }),
    )
    .await;
    assert_eq!(again["destinationPort"], 9);
    server.close().await;
}
