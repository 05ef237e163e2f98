//! `SYMLINKS_PRESERVE` end to end between two servers on loopback: a link is sent as itself and
//! recreated when its target stays inside the destination directory; a link leading out of it
//! is refused with nothing written, counted and named in the transfer's error at both ends,
//! while the other entries complete byte for byte.

#[allow(dead_code)]
mod support;

use jetstream_engine::server::Server;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use support::{destination, digest, ok, ok_async, open};

/// A complete manifest of `src` mapped to `t`, with `symlinkOptions`; its id.
async fn manifest(server: &Server, src: &Path, symlinks: u32) -> String {
    let params = json!({ "mappings": { "t": src.to_str().unwrap() }, "symlinkOptions": symlinks });
    let created = ok(server, "createManifest", params).await;
    let id = created["manifestId"].as_str().unwrap().to_owned();
    let ready = ok(server, "waitForManifest", json!({ "manifestId": id })).await;
    assert_eq!(ready["status"], "complete", "{ready}");
    id
}

/// Runs a transfer of `manifest_id` into `path` to its end.
async fn send(server: &Server, destination_id: &str, manifest_id: &str, path: &str) -> Value {
    let params = json!({ "destinationId": destination_id, "manifestId": manifest_id,
                         "destinationPath": path });
    let created = ok(server, "createTransfer", params).await;
    let id = json!({ "transferId": created["transferId"] });
    ok(server, "waitForTransfer", id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_inside_are_recreated_and_links_leading_out_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("f.txt"), b"the file the links name").unwrap();
    symlink("f.txt", src.join("inside")).unwrap();
    symlink("../f.txt", src.join("sub/up")).unwrap();
    symlink("../../../outside", src.join("sub/escape")).unwrap();
    symlink("/etc/passwd", src.join("absolute")).unwrap();
    let sender = open(&dir.path().join("a")).await;
    let receiver = open(&dir.path().join("b")).await;
    let destination_id = destination(&sender, &receiver).await;

    let preserve = manifest(&sender, &src, 4).await;
    let files = ok(
        &sender,
        "getManifestFiles",
        json!({ "manifestId": preserve }),
    )
    .await;
    let sizes: Vec<(String, u64)> = files["fileMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["destPath"].as_str().unwrap().to_owned();
            (path, f["fileSize"].as_u64().unwrap())
        })
        .collect();
    // The links are entries of their own, without data.
    assert!(sizes.contains(&("t/inside".into(), 0)), "{sizes:?}");
    assert!(sizes.contains(&("t/sub/escape".into(), 0)), "{sizes:?}");

    let done = send(&sender, &destination_id, &preserve, "in").await;
    assert_eq!(done["status"], "error", "{done}");
    let message = done["errorMessage"].as_str().unwrap();
    assert!(message.contains("2 entries refused"), "{message}");
    assert!(message.contains("t/sub/escape"), "{message}");
    assert!(message.contains("t/absolute"), "{message}");
    // Everything else is in place: the file byte for byte, the links as links.
    assert_eq!(done["filesComplete"], 5, "{done}");
    let root = dir.path().join("b/received/in/t");
    assert_eq!(digest(&root.join("f.txt")), digest(&src.join("f.txt")));
    assert_eq!(
        fs::read_link(root.join("inside")).unwrap(),
        Path::new("f.txt")
    );
    assert_eq!(
        fs::read_link(root.join("sub/up")).unwrap(),
        Path::new("../f.txt")
    );
    assert_eq!(
        fs::read(root.join("sub/up")).unwrap(),
        b"the file the links name"
    );
    // Nothing of the refused links was written, under any name.
    let mut left: Vec<String> = fs::read_dir(root.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["up"]);
    assert!(fs::symlink_metadata(root.join("absolute")).is_err());
    // The receiver's record says the same, once its session has ended.
    let mut record = Value::Null;
    for _ in 0..500 {
        let received = ok_async(&receiver, "getTransfersAsync", json!({})).await;
        record = received[0].clone();
        if record["status"] != "receiving" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(record["status"], "error", "{record}");
    assert!(
        record["errorMessage"]
            .as_str()
            .unwrap()
            .contains("2 entries refused"),
        "{record}"
    );

    // Sent again without the links that lead out, the transfer completes.
    fs::remove_file(src.join("sub/escape")).unwrap();
    fs::remove_file(src.join("absolute")).unwrap();
    let inside = manifest(&sender, &src, 4).await;
    let done = send(&sender, &destination_id, &inside, "again").await;
    assert_eq!(done["status"], "complete", "{done}");
    let root = dir.path().join("b/received/again/t");
    assert_eq!(
        fs::read_link(root.join("sub/up")).unwrap(),
        Path::new("../f.txt")
    );

    // The default copies what a link names instead.
    let copy = manifest(&sender, &src, 0).await;
    let done = send(&sender, &destination_id, &copy, "copied").await;
    assert_eq!(done["status"], "complete", "{done}");
    let copied = dir.path().join("b/received/copied/t/inside");
    assert!(fs::symlink_metadata(&copied).unwrap().is_file());
    assert_eq!(digest(&copied), digest(&src.join("f.txt")));
    sender.close().await;
    receiver.close().await;
}
