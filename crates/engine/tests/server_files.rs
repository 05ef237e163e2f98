//! The per-file results of a transfer (`getTransferFiles`) on loopback: every file listed with
//! what became of it, the digest the receiver verified it against, and paging.

#[allow(dead_code)]
mod support;

use jetstream_engine::error::Code;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use support::{code, destination, ok, open};

/// A small tree: three files with data (one of them also at the receiver already), an empty
/// file and an empty directory.
fn tree(root: &Path) {
    fs::create_dir_all(root.join("sub/empty")).unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(root.join("sub/data.bin"), data).unwrap();
    fs::write(
        root.join("held.txt"),
        b"the receiver has this one already\n",
    )
    .unwrap();
    fs::write(root.join("note.txt"), b"a short note\n").unwrap();
    fs::write(root.join("zero"), b"").unwrap();
}

/// Copies `from` to `to` with the same modification time, as an earlier transfer leaves it.
fn copy_with_time(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(from, to).unwrap();
    let modified = fs::metadata(from).unwrap().modified().unwrap();
    fs::File::options()
        .write(true)
        .open(to)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_is_listed_with_its_outcome_and_the_digest_of_its_source_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree(&src);
    let sender = open(&dir.path().join("a")).await;
    let receiver = open(&dir.path().join("b")).await;
    let landed = Path::new(&receiver.info().sandbox_dir).join("in/tree");
    copy_with_time(&src.join("held.txt"), &landed.join("held.txt"));
    let destination_id = destination(&sender, &receiver).await;
    let manifest = ok(
        &sender,
        "createManifest",
        json!({ "mappings": { "tree": src.to_str().unwrap() } }),
    )
    .await;
    let manifest_id = manifest["manifestId"].as_str().unwrap();
    ok(
        &sender,
        "waitForManifest",
        json!({ "manifestId": manifest_id }),
    )
    .await;
    let transfer = ok(
        &sender,
        "createTransfer",
        // The file the receiver holds is kept once its digest matches the source's.
        json!({ "destinationId": destination_id, "manifestId": manifest_id,
                "destinationPath": "in", "skipMode": 2 }),
    )
    .await;
    let id = transfer["transferId"].as_u64().unwrap();
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(done["status"], "complete", "{done}");

    let files = ok(&sender, "getTransferFiles", json!({ "transferId": id })).await;
    let files = files.as_array().unwrap();
    let by_path: BTreeMap<&str, &Value> = files
        .iter()
        .map(|f| (f["destPath"].as_str().unwrap(), f))
        .collect();
    let paths: Vec<&str> = by_path.keys().copied().collect();
    assert_eq!(
        paths,
        [
            "tree",
            "tree/held.txt",
            "tree/note.txt",
            "tree/sub",
            "tree/sub/data.bin",
            "tree/sub/empty",
            "tree/zero"
        ]
    );
    let indices: Vec<u64> = files
        .iter()
        .map(|f| f["fileIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, (0..7).collect::<Vec<_>>());
    for file in files {
        let path = file["destPath"].as_str().unwrap();
        let rel = path.strip_prefix("tree").unwrap().trim_start_matches('/');
        let status = if rel == "held.txt" {
            "skipped"
        } else {
            "complete"
        };
        assert_eq!(file["status"], status, "{file}");
        assert_eq!(file["transferId"], id);
        assert_eq!(file["errorMessage"], Value::Null, "{file}");
        assert!(file["endTime"].as_i64().unwrap() > 0, "{file}");
        let source = src.join(rel);
        if source.is_dir() {
            assert_eq!(file["fileSize"], 0);
            assert_eq!(file["digest"], Value::Null, "{file}");
            continue;
        }
        assert_eq!(file["isEmptyDir"], false);
        let bytes = fs::read(&source).unwrap();
        assert_eq!(file["fileSize"], bytes.len());
        assert_eq!(file["srcPath"], source.to_str().unwrap());
        let digest = if bytes.is_empty() {
            Value::Null
        } else {
            json!(blake3::hash(&bytes).to_hex().as_str())
        };
        assert_eq!(file["digest"], digest, "{file}");
        assert_eq!(fs::read(landed.join(rel)).unwrap(), bytes);
    }

    let page = ok(
        &sender,
        "getTransferFiles",
        json!({ "transferId": id, "after": files[1], "limit": 2 }),
    )
    .await;
    assert_eq!(page, json!([files[2], files[3]]));
    assert_eq!(
        code(&sender, "getTransferFiles", json!({ "transferId": 999 })).await,
        Code::NotFound
    );
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_receiver_refuses_is_listed_in_error_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("kept.txt"),
        b"the receiver has another file here\n",
    )
    .unwrap();
    fs::write(src.join("new.txt"), b"nothing in the way\n").unwrap();
    let sender = open(&dir.path().join("a")).await;
    let receiver = open(&dir.path().join("b")).await;
    let landed = Path::new(&receiver.info().sandbox_dir).join("tree");
    fs::create_dir_all(&landed).unwrap();
    fs::write(landed.join("kept.txt"), b"not the sender's\n").unwrap();
    let destination_id = destination(&sender, &receiver).await;
    let manifest = ok(
        &sender,
        "createManifest",
        json!({ "mappings": { "tree": src.to_str().unwrap() } }),
    )
    .await;
    let manifest_id = manifest["manifestId"].as_str().unwrap();
    ok(
        &sender,
        "waitForManifest",
        json!({ "manifestId": manifest_id }),
    )
    .await;
    let transfer = ok(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination_id, "manifestId": manifest_id }),
    )
    .await;
    let id = transfer["transferId"].as_u64().unwrap();
    let done = ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    assert_eq!(done["status"], "error", "{done}");

    let files = ok(&sender, "getTransferFiles", json!({ "transferId": id })).await;
    let files = files.as_array().unwrap();
    assert_eq!(files.len(), 3);
    for file in files {
        if file["destPath"] == "tree/kept.txt" {
            assert_eq!(file["status"], "error", "{file}");
            let message = file["errorMessage"].as_str().unwrap();
            assert!(message.contains("overwrite mode is never"), "{message}");
            assert!(file["endTime"].as_i64().unwrap() > 0, "{file}");
            assert_eq!(file["digest"], Value::Null);
        } else {
            // The directory and new.txt: placed before the refusal, or never reached.
            assert!(
                file["status"] == "complete" || file["status"] == "pending",
                "{file}"
            );
        }
    }
    assert_eq!(
        fs::read(landed.join("kept.txt")).unwrap(),
        b"not the sender's\n"
    );
    sender.close().await;
    receiver.close().await;
}
