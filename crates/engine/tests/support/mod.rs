//! Shared support for the server's integration tests: a server in a directory, commands run
//! through `execute_json` as every client sends them, and digests of trees on disk.

use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{Server, ServerOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A server whose state (and received files) live in `dir`.
pub async fn open(dir: &Path) -> Server {
    Server::open(ServerOptions::new(dir.to_path_buf()))
        .await
        .unwrap()
}

/// Runs `method` with `params` and returns its JSON result or the engine's error.
pub async fn call(server: &Server, method: &str, params: Value) -> Result<Value, Error> {
    let request = json!({ "method": method, "params": params }).to_string();
    server
        .execute_json(&request)
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
}

/// [`call`], which must succeed.
pub async fn ok(server: &Server, method: &str, params: Value) -> Value {
    call(server, method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e:?}"))
}

/// Creates a transfer of `manifest_id` to `destination_id` with no flags (nothing read from
/// disk, nothing written) and returns its id.
pub async fn plain_transfer(server: &Server, destination_id: &str, manifest_id: &str) -> u64 {
    let params = json!({ "destinationId": destination_id, "manifestId": manifest_id,
                         "transferFlags": 0 });
    ok(server, "createTransfer", params).await["transferId"]
        .as_u64()
        .expect("a transfer id")
}

/// [`call`], which must fail: its error code.
pub async fn code(server: &Server, method: &str, params: Value) -> Code {
    call(server, method, params).await.unwrap_err().code
}

/// SHA-256 of the file at `path`, in hex.
pub fn digest(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
}

/// [`digest`] of every file below `root`, by relative path.
pub fn digests(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, digest(&path));
            }
        }
    }
    out
}

/// Runs the asynchronous `method` with `params` to its result, which must be a success.
pub async fn ok_async(server: &Server, method: &str, params: Value) -> Value {
    let request = ok(server, method, params).await;
    let params = json!({ "requestId": request["requestId"] });
    ok(server, "getRequestResult", params).await
}

/// Makes `receiver` accept transfers from `sender` (it accepts only authorized senders).
pub async fn authorize(receiver: &Server, sender: &Server) {
    let key = json!({ "publicKey": sender.info().public_key });
    ok_async(receiver, "addAuthorizedClientAsync", key).await;
}

/// A destination on `sender` for `receiver`'s receive port, the receiver authorizing the
/// sender; its id.
pub async fn destination(sender: &Server, receiver: &Server) -> String {
    authorize(receiver, sender).await;
    let port = receiver.info().recv_port;
    let params = json!({ "destinationAddress": "127.0.0.1", "destinationPort": port });
    let destination = ok(sender, "createDestination", params).await;
    destination["destinationId"].as_str().unwrap().to_owned()
}

/// The sessions `receiver` recorded for the sender's transfer `id`, oldest first.
pub async fn sessions(receiver: &Server, id: u64) -> Vec<Value> {
    let received = ok_async(receiver, "getTransfersAsync", json!({})).await;
    let all = received.as_array().unwrap().iter();
    all.filter(|r| r["transferId"] == id).cloned().collect()
}

/// A sender with a destination to a second server's receiver (state in `dir/a` and `dir/b`)
/// and a complete I/O-free manifest of one generated file of `size` bytes; returns the two
/// servers, the destination id and the manifest id.
pub async fn generated_pair(dir: &Path, size: u64) -> (Server, Server, String, String) {
    let sender = open(&dir.join("a")).await;
    let receiver = open(&dir.join("b")).await;
    let destination_id = destination(&sender, &receiver).await;
    let params = json!({ "mappings": { "gen.bin": { "src": "/nonexistent", "size": size } } });
    let manifest = ok(&sender, "createManifest", params).await;
    let manifest_id = manifest["manifestId"].as_str().unwrap().to_owned();
    ok(
        &sender,
        "waitForManifest",
        json!({ "manifestId": manifest_id }),
    )
    .await;
    (sender, receiver, destination_id, manifest_id)
}
