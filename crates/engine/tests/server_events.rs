//! The server's events and the options a one-shot client opens it with: a sending-only server
//! tells a receiver's first contact and each transfer's end with its figures; a receiving
//! server opened with its authorized clients and the discard option tells each session and
//! writes nothing; a sender it does not know is told why it was refused.

#[allow(dead_code)]
mod support;

use jetstream_engine::server::{Server, ServerEvent, ServerOptions, TransferReport};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use support::ok;
use tokio::sync::broadcast;

/// The next event `pick` accepts (others are skipped); a test that waits too long fails.
async fn next<T>(
    events: &mut broadcast::Receiver<ServerEvent>,
    mut pick: impl FnMut(ServerEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            if let Some(found) = pick(events.recv().await.unwrap()) {
                return found;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("no such event")
}

/// A server in `dir` that only sends, with its identity in `dir/key`.
async fn sender(dir: &Path) -> Server {
    let mut opts = ServerOptions::new(dir.join("state"));
    opts.identity_file = dir.join("key");
    opts.recv_listen = None;
    Server::open(opts).await.unwrap()
}

/// Sends `file` from `server` to the receiver at `port`; the transfer's id.
async fn send(server: &Server, port: u16, file: &Path) -> u64 {
    let destination = ok(
        server,
        "createDestination",
        json!({ "destinationAddress": "127.0.0.1", "destinationPort": port }),
    )
    .await;
    let manifest = ok(
        server,
        "createManifest",
        json!({ "mappings": { "f": file.to_str().unwrap() } }),
    )
    .await;
    let transfer = ok(
        server,
        "createTransfer",
        json!({
            "destinationId": destination["destinationId"],
            "manifestId": manifest["manifestId"],
            "timeoutSeconds": 5,
        }),
    )
    .await;
    transfer["transferId"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_a_discarding_receiver_is_told_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, vec![5u8; 300_000]).unwrap();
    let sending = sender(&dir.path().join("a")).await;
    assert_eq!(sending.receiving().map(|r| r.local_addr), None);
    assert_eq!(sending.info().recv_port, 0);
    let sender_key = sending.info().public_key.clone();

    let mut opts = ServerOptions::new(dir.path().join("b"));
    opts.only_authorized_clients = Some(true);
    opts.authorized_clients = vec![sender_key.parse().unwrap()];
    opts.recv_discard = true;
    let receiving = Server::open(opts.clone()).await.unwrap();
    let port = receiving.receiving().unwrap().local_addr.port();
    let mut sent = sending.subscribe();
    let mut received = receiving.subscribe();

    let id = send(&sending, port, &file).await;
    let (line, key) = next(&mut sent, |e| match e {
        ServerEvent::ReceiverRecorded {
            transfer_id,
            receiver,
            public_key,
            file,
            line,
        } if transfer_id == id => {
            assert_eq!(receiver, format!("127.0.0.1:{port}"));
            assert!(file.ends_with("known_receivers"), "{file}");
            Some((line, public_key))
        }
        _ => None,
    })
    .await;
    assert_eq!(
        (line, key.as_str()),
        (1, receiving.info().public_key.as_str())
    );
    let report: TransferReport = next(&mut sent, |e| match e {
        ServerEvent::TransferEnded {
            transfer_id,
            report,
            error: None,
        } if transfer_id == id => report,
        ServerEvent::TransferEnded { error: Some(e), .. } => panic!("{e:?}"),
        _ => None,
    })
    .await;
    assert_eq!((report.files, report.bytes), (1, 300_000));
    assert_eq!(report.bytes_sent - report.bytes_retransmitted, 300_000);
    assert_eq!(report.bytes_skipped, 0);
    assert!(report.seconds > 0.0);

    let (peer_key, total) = next(&mut received, |e| match e {
        ServerEvent::ReceiveStarted {
            sender_key,
            total_bytes,
            ..
        } => Some((sender_key, total_bytes)),
        _ => None,
    })
    .await;
    assert_eq!((peer_key.as_str(), total), (sender_key.as_str(), 300_000));
    let (files, bytes) = next(&mut received, |e| match e {
        ServerEvent::ReceiveEnded {
            files_complete,
            bytes_received,
            error: None,
            ..
        } => Some((files_complete, bytes_received)),
        _ => None,
    })
    .await;
    assert_eq!((files, bytes), (1, 300_000));
    // Discarded: nothing below the root.
    assert_eq!(std::fs::read_dir(&opts.sandbox_dir).unwrap().count(), 0);
    let known = std::fs::read_to_string(dir.path().join("a/state/known_receivers")).unwrap();
    assert_eq!(known, format!("127.0.0.1:{port} {key}\n"));
    sending.close().await;
    receiving.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_the_receiver_does_not_know_is_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"x").unwrap();
    let sending = sender(&dir.path().join("a")).await;
    let receiving = Server::open(ServerOptions::new(dir.path().join("b")))
        .await
        .unwrap();
    let port = receiving.receiving().unwrap().local_addr.port();
    let mut sent = sending.subscribe();
    let mut received = receiving.subscribe();
    let id = send(&sending, port, &file).await;
    let error = next(&mut sent, |e| match e {
        ServerEvent::TransferEnded {
            transfer_id,
            report: None,
            error,
        } if transfer_id == id => error,
        _ => None,
    })
    .await;
    let key = sending.info().public_key.clone();
    assert_eq!(
        error.message,
        format!("receiver reported: sender key {key} is not authorized by the receiver")
    );
    let transfer = ok(&sending, "getTransfer", json!({ "transferId": id })).await;
    assert!(transfer["errorMessage"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}: ", error.code)));
    let refused = next(&mut received, |e| match e {
        ServerEvent::ReceiveEnded { error, .. } => error,
        _ => None,
    })
    .await;
    assert!(refused.message.contains("is not authorized"), "{refused:?}");
    sending.close().await;
    receiving.close().await;
}
