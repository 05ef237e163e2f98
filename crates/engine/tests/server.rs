//! The server end to end on loopback: two servers, one sending to the other's receiver through
//! the commands every client uses, checked on disk (SHA-256) and in the stored records.

use jetstream_engine::error::Code;
use jetstream_engine::server::{Server, ServerOptions};
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

async fn open(dir: &Path) -> Server {
    Server::open(ServerOptions::new(dir.to_path_buf()))
        .await
        .unwrap()
}

async fn call(server: &Server, method: &str, params: Value) -> Result<Value, Code> {
    let request = json!({ "method": method, "params": params }).to_string();
    server
        .execute_json(&request)
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .map_err(|e| e.code)
}

fn digest(path: &Path) -> String {
    let bytes = fs::read(path).unwrap();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
}

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
    let port = receiver.info().recv_port;

    let destination = call(
        &sender,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": port }),
    )
    .await
    .unwrap();
    let destination_id = destination["destinationId"].as_str().unwrap();
    let manifest = call(
        &sender,
        "createManifest",
        json!({ "mappings": { "tree": src.to_str().unwrap() } }),
    )
    .await
    .unwrap();
    let manifest_id = manifest["manifestId"].as_str().unwrap();
    let ready = call(
        &sender,
        "waitForManifest",
        json!({ "manifestId": manifest_id }),
    )
    .await
    .unwrap();
    assert_eq!(ready["status"], "complete");
    assert_eq!(ready["totalSize"], 300_000);

    let transfer = call(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination_id, "manifestId": manifest_id,
                "destinationPath": "in", "transferLog": true }),
    )
    .await
    .unwrap();
    let id = transfer["transferId"].as_u64().unwrap();
    let done = call(&sender, "waitForTransfer", json!({ "transferId": id }))
        .await
        .unwrap();
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
        let request = call(&receiver, "getTransfersAsync", json!({}))
            .await
            .unwrap();
        let params = json!({ "requestId": request["requestId"] });
        received = call(&receiver, "getRequestResult", params).await.unwrap();
        if received[0]["status"] != "receiving" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(received[0]["transferId"], id);
    assert_eq!(received[0]["status"], "complete");
    assert_eq!(received[0]["senderPublicKey"], sender.info().public_key);

    assert_eq!(
        call(&sender, "deleteTransfer", json!({ "transferId": 999 })).await,
        Err(Code::NotFound)
    );
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = open(&state).await;
    let destination = call(
        &server,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": 9, "permanent": true }),
    )
    .await
    .unwrap();
    let key = server.info().public_key.clone();
    server.close().await;
    assert_eq!(
        call(&server, "getServerInfo", json!({})).await,
        Err(Code::Unavailable)
    );

    let server = open(&state).await;
    assert_eq!(server.info().public_key, key);
    let again = call(
        &server,
        "getDestination",
        json!({ "destinationId": destination["destinationId"] }),
    )
    .await
    .unwrap();
    assert_eq!(again["destinationPort"], 9);
    server.close().await;
}
