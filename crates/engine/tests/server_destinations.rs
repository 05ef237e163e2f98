//! What a destination asks of the sessions sent to it, on loopback: `senderPort` binds the
//! sender's UDP port (a port held elsewhere is waited for and named when the transfer gives
//! up; -1 sends over the server's receive port, which goes on receiving), and
//! `schedulePingAsync` measures the round trip inside a running transfer's session when there
//! is one, with no new handshake.

#[allow(dead_code)]
mod support;

use jetstream_engine::server::Server;
use serde_json::{json, Value};
use std::fs;
use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;
use support::{digests, generated_pair, ok, ok_async, open};

/// A manifest of one file of `size` patterned bytes written under `dir`; its id.
async fn file_manifest(server: &Server, dir: &Path, size: usize) -> String {
    fs::create_dir_all(dir).unwrap();
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    fs::write(dir.join("f.bin"), data).unwrap();
    let params = json!({ "mappings": { "t": dir.to_str().unwrap() } });
    let manifest = ok(server, "createManifest", params).await;
    let id = manifest["manifestId"].as_str().unwrap().to_owned();
    ok(server, "waitForManifest", json!({ "manifestId": id })).await;
    id
}

/// Runs a transfer of `manifest_id` to `destination_id` with `extra` parameters to its end.
async fn transfer(server: &Server, destination_id: &str, manifest_id: &str, extra: Value) -> Value {
    let mut params = json!({ "destinationId": destination_id, "manifestId": manifest_id });
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = ok(server, "createTransfer", params).await;
    let id = json!({ "transferId": created["transferId"] });
    ok(server, "waitForTransfer", id).await
}

/// The port of the address `receiver` last heard the one sender from.
async fn source_port(receiver: &Server) -> u16 {
    let sources = ok_async(receiver, "getSourcesAsync", json!({})).await;
    let address = sources[0]["lastAddress"].as_str().unwrap().to_owned();
    address.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_sender_port_is_bound_and_a_port_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let sender = open(&dir.path().join("a")).await;
    let receiver = open(&dir.path().join("b")).await;
    support::authorize(&receiver, &sender).await;
    let src = dir.path().join("src");
    let manifest_id = file_manifest(&sender, &src, 300_000).await;

    let blocker = UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = blocker.local_addr().unwrap().port();
    let params = json!({ "destinationAddress": "127.0.0.1",
                         "destinationPort": receiver.info().recv_port, "senderPort": port });
    let created = ok(&sender, "createDestination", params).await;
    assert_eq!(created["senderPort"], port);
    let destination_id = created["destinationId"].as_str().unwrap().to_owned();

    let refused = transfer(
        &sender,
        &destination_id,
        &manifest_id,
        json!({ "timeoutSeconds": 1, "destinationPath": "held" }),
    )
    .await;
    assert_eq!(refused["status"], "error", "{refused}");
    let message = refused["errorMessage"].as_str().unwrap();
    assert!(
        message.contains(&format!("sender port {port} is in use")),
        "{message}"
    );
    let sandbox = dir.path().join("b/received");
    assert!(!sandbox.join("held").exists());

    drop(blocker);
    let done = transfer(
        &sender,
        &destination_id,
        &manifest_id,
        json!({ "destinationPath": "free" }),
    )
    .await;
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(digests(&sandbox.join("free/t")), digests(&src));
    assert_eq!(source_port(&receiver).await, port);
    sender.close().await;
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_port_minus_one_sends_over_the_receive_port_which_keeps_receiving() {
    let dir = tempfile::tempdir().unwrap();
    let sender = open(&dir.path().join("a")).await;
    let receiver = open(&dir.path().join("b")).await;
    support::authorize(&receiver, &sender).await;
    support::authorize(&sender, &receiver).await;
    let info = ok(&sender, "getServerInfo", json!({})).await;
    assert_eq!(info["multiplexAvailable"], true);
    let src = dir.path().join("src");
    let manifest_id = file_manifest(&sender, &src, 2_000_000).await;
    let params = json!({ "destinationAddress": "127.0.0.1",
                         "destinationPort": receiver.info().recv_port, "senderPort": -1 });
    let created = ok(&sender, "createDestination", params).await;
    assert_eq!(created["senderPort"], -1);
    let destination_id = created["destinationId"].as_str().unwrap();
    // A transfer the other way arrives on the same port meanwhile.
    let back_src = dir.path().join("back");
    let back_manifest = file_manifest(&receiver, &back_src, 1_000_000).await;
    let params = json!({ "destinationAddress": "127.0.0.1",
                         "destinationPort": sender.info().recv_port });
    let back_destination = ok(&receiver, "createDestination", params).await;
    let back_destination = back_destination["destinationId"].as_str().unwrap();

    let (one, two, back) = tokio::join!(
        transfer(
            &sender,
            destination_id,
            &manifest_id,
            json!({ "destinationPath": "one" })
        ),
        transfer(
            &sender,
            destination_id,
            &manifest_id,
            json!({ "destinationPath": "two" })
        ),
        transfer(
            &receiver,
            back_destination,
            &back_manifest,
            json!({ "destinationPath": "back" })
        ),
    );
    for done in [&one, &two, &back] {
        assert_eq!(done["status"], "complete", "{done}");
    }
    let sandbox = dir.path().join("b/received");
    assert_eq!(digests(&sandbox.join("one/t")), digests(&src));
    assert_eq!(digests(&sandbox.join("two/t")), digests(&src));
    let back_dir = dir.path().join("a/received/back/t");
    assert_eq!(digests(&back_dir), digests(&back_src));
    // Both transfers came from the sender's receive port.
    assert_eq!(source_port(&receiver).await, sender.info().recv_port);
    let sources = ok_async(&receiver, "getSourcesAsync", json!({})).await;
    assert_eq!(sources[0]["numTransfers"], 2, "{sources}");
    sender.close().await;
    receiver.close().await;
}

/// Sessions the receiver of `server` admitted since it started.
fn admitted(server: &Server) -> u64 {
    server
        .reader()
        .unwrap()
        .metrics()
        .unwrap()
        .admission
        .admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_go_inside_a_running_transfers_session_and_by_handshakes_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (sender, receiver, destination_id, manifest_id) =
        generated_pair(dir.path(), 1_000_000_000).await;
    let receiver_key = receiver.info().public_key.clone();
    // 8 Mbit/s: the transfer runs far longer than the test.
    let created = ok(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination_id, "manifestId": manifest_id,
                "transferFlags": 0, "sendRateMax": 8000, "timeoutSeconds": 60 }),
    )
    .await;
    let id = created["transferId"].as_u64().unwrap();
    for _ in 0..1000 {
        let t = ok(&sender, "getTransfer", json!({ "transferId": id })).await;
        if t["bytesAcked"].as_u64().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = admitted(&receiver);
    let ping = json!({ "destinationId": destination_id, "pingCount": 3 });
    let answer = ok_async(&sender, "schedulePingAsync", ping.clone()).await;
    assert_eq!(answer["transferId"], id, "{answer}");
    assert_eq!(answer["lastReceiverDestinationId"], receiver_key.as_str());
    assert!(
        answer["roundTripTimeMs"].as_f64().unwrap() > 0.0,
        "{answer}"
    );
    // No handshake was made for the pings.
    assert_eq!(admitted(&receiver), before);
    let shown = ok(
        &sender,
        "getDestination",
        json!({ "destinationId": destination_id }),
    )
    .await;
    assert!(shown["roundTripTimeMs"].as_f64().unwrap() > 0.0, "{shown}");
    assert_eq!(shown["lastReceiverDestinationId"], receiver_key.as_str());

    ok(
        &sender,
        "failTransfer",
        json!({ "transferId": id, "errorMessage": "enough" }),
    )
    .await;
    ok(&sender, "waitForTransfer", json!({ "transferId": id })).await;
    // With no transfer running, each ping is a handshake of its own.
    let before = admitted(&receiver);
    let answer = ok_async(&sender, "schedulePingAsync", ping).await;
    assert_eq!(answer["transferId"], Value::Null, "{answer}");
    assert_eq!(answer["lastReceiverDestinationId"], receiver_key.as_str());
    assert_eq!(admitted(&receiver), before + 3);
    sender.close().await;
    receiver.close().await;
}
