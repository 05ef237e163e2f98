//! Overwrite modes end to end between two servers on loopback: `OVERWRITE_NEVER` with a target
//! that appears while its file is received, and `OVERWRITE_IN_PLACE_SAME_SIZE` with targets of
//! the same and of another size.

#[allow(dead_code)]
mod support;

use jetstream_engine::overwrite::OverwriteLimit;
use jetstream_engine::server::{Server, ServerOptions};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;
use support::{authorize, ok};

/// A server in `dir` whose receiver allows every overwrite mode.
async fn permissive(dir: &Path) -> Server {
    let mut opts = ServerOptions::new(dir.to_path_buf());
    opts.max_overwrite = OverwriteLimit::InPlace;
    Server::open(opts).await.unwrap()
}

/// A destination on `sender` for `receiver`, and a complete manifest of `src` mapped to `t`.
async fn setup(sender: &Server, receiver: &Server, src: &Path) -> (String, String) {
    authorize(receiver, sender).await;
    let params = json!({ "destinationAddress": "127.0.0.1",
                         "destinationPort": receiver.info().recv_port });
    let destination = ok(sender, "createDestination", params).await;
    let params = json!({ "mappings": { "t": src.to_str().unwrap() } });
    let manifest = ok(sender, "createManifest", params).await;
    let manifest_id = manifest["manifestId"].as_str().unwrap().to_owned();
    ok(
        sender,
        "waitForManifest",
        json!({ "manifestId": manifest_id }),
    )
    .await;
    let destination_id = destination["destinationId"].as_str().unwrap().to_owned();
    (destination_id, manifest_id)
}

async fn transfer(server: &Server, id: &Value) -> Value {
    ok(server, "getTransfer", json!({ "transferId": id })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_keeps_a_target_that_appears_and_leaves_the_received_part_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    fs::write(src.join("f.bin"), &data).unwrap();
    let sender = support::open(&dir.path().join("a")).await;
    let receiver = support::open(&dir.path().join("b")).await;
    let (destination_id, manifest_id) = setup(&sender, &receiver, &src).await;
    // 8 Mbit/s: about 3 s, time to put a file where it is going.
    let params = json!({ "destinationId": destination_id, "manifestId": manifest_id,
                         "overwriteMode": 3, "sendRateMax": 8000 });
    let created = ok(&sender, "createTransfer", params).await;
    let id = &created["transferId"];
    let target = dir.path().join("b/received/t/f.bin");
    for _ in 0..1000 {
        if transfer(&sender, id).await["bytesAcked"].as_u64().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fs::write(&target, b"theirs").unwrap();
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(done["status"], "error", "{done}");
    assert!(
        done["errorMessage"].as_str().unwrap().contains("exists"),
        "{done}"
    );
    // Once the receiver has ended its session too (and let go of its files)...
    for _ in 0..500 {
        let received = support::ok_async(&receiver, "getTransfersAsync", json!({})).await;
        if received[0]["status"] != "receiving" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sender.close().await;
    receiver.close().await;
    // ... the file that appeared is untouched, and what was received waits beside it, whole.
    assert_eq!(fs::read(&target).unwrap(), b"theirs");
    let part = dir.path().join("b/received/t/f.bin.jetpart");
    let kept = fs::read(&part).unwrap_or_default();
    assert!(kept == data, "the part file holds {} bytes", kept.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_same_size_replaces_only_a_file_of_the_new_size() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f.bin"), b"ten bytes!").unwrap();
    let sender = support::open(&dir.path().join("a")).await;
    let receiver = permissive(&dir.path().join("b")).await;
    let (destination_id, manifest_id) = setup(&sender, &receiver, &src).await;
    let target = dir.path().join("b/received/t/f.bin");
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    let run = || async {
        let params = json!({ "destinationId": destination_id, "manifestId": manifest_id,
                             "overwriteMode": 2 });
        let created = ok(&sender, "createTransfer", params).await;
        let id = json!({ "transferId": created["transferId"] });
        ok(&sender, "waitForTransfer", id).await
    };

    fs::write(&target, b"another size entirely").unwrap();
    let refused = run().await;
    assert_eq!(refused["status"], "error", "{refused}");
    let message = refused["errorMessage"].as_str().unwrap();
    assert!(message.contains("21 bytes, not 10"), "{message}");
    assert_eq!(fs::read(&target).unwrap(), b"another size entirely");

    fs::write(&target, b"0123456789").unwrap();
    let inode = fs::metadata(&target).unwrap().ino();
    let replaced = run().await;
    assert_eq!(replaced["status"], "complete", "{replaced}");
    assert_eq!(fs::read(&target).unwrap(), b"ten bytes!");
    // Written in place: the same file, not a new one renamed over it.
    assert_eq!(fs::metadata(&target).unwrap().ino(), inode);
    sender.close().await;
    receiver.close().await;
}
