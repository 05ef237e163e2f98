//! A server whose receiver is reached through a relay: it registers over its outbound control
//! connection, and a transfer to a destination whose `relayAddress`/`relayPort` name the
//! relay's public port arrives identical, the relay forwarding sealed datagrams it cannot open.

#[allow(dead_code)]
mod support;

use jetstream_engine::relay::{Authorizer, Relay, RelayOptions};
use jetstream_engine::server::{RelayAddress, Server, ServerOptions};
use jetstream_wire::crypto::{Identity, PublicKey};
use ring::rand::SystemRandom;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use support::{authorize, digests, ok, open};

/// Allows every key.
struct Anyone;

impl Authorizer for Anyone {
    fn allows(&self, _: &PublicKey) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_the_relays_public_port_reaches_the_relayed_receiver_identical() {
    let dir = tempfile::tempdir().unwrap();
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let relay_identity = Identity::generate(&SystemRandom::new()).unwrap();
    let relay_key = relay_identity.public_key();
    let relay = Relay::bind(
        relay_identity,
        RelayOptions {
            control: local,
            data: local,
            public_ip: Ipv4Addr::LOCALHOST.into(),
            authorizer: Arc::new(Anyone),
            max_allocations_per_key: 1,
            max_rate: None,
            peer_idle: Duration::from_secs(60),
            control_idle: Duration::from_secs(60),
        },
    )
    .await
    .unwrap();
    let control = relay.control_addr().unwrap();
    tokio::spawn(relay.run());

    let mut opts = ServerOptions::new(dir.path().join("receiver"));
    opts.recv_relay = Some(RelayAddress {
        host: "127.0.0.1".into(),
        port: control.port(),
        key: Some(relay_key),
    });
    let receiver = Server::open(opts).await.unwrap();
    let mut relayed = receiver.receiving().unwrap().relayed.clone();
    let public = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(public) = *relayed.borrow_and_update() {
                break public;
            }
            relayed.changed().await.unwrap();
        }
    })
    .await
    .expect("the relay gives the receiver a public port");
    assert_ne!(public.port(), receiver.info().recv_port);

    let sender = open(&dir.path().join("sender")).await;
    authorize(&receiver, &sender).await;
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let bytes: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(src.join("through.bin"), &bytes).unwrap();
    std::fs::write(src.join("small.txt"), b"relayed").unwrap();
    // The receiver's own address is one the sender cannot reach; the relay's is.
    let destination = ok(
        &sender,
        "createDestination",
        json!({ "destinationAddress": "192.0.2.1", "destinationPort": 8886,
                "relayAddress": "127.0.0.1", "relayPort": public.port(),
                "destinationPublicKey": receiver.info().public_key,
                "authenticateDestination": true }),
    )
    .await;
    let connection = ok(
        &sender,
        "getConnection",
        json!({ "connectionId": destination["connectionId"] }),
    )
    .await;
    assert_eq!(
        (
            &connection["destinationIP"],
            &connection["relayIP"],
            &connection["relayPort"]
        ),
        (
            &json!("192.0.2.1"),
            &json!("127.0.0.1"),
            &json!(public.port())
        ),
        "{connection}"
    );
    let manifest = ok(
        &sender,
        "createManifest",
        json!({ "mappings": { "tree": src } }),
    )
    .await;
    ok(
        &sender,
        "waitForManifest",
        json!({ "manifestId": manifest["manifestId"] }),
    )
    .await;
    let transfer = ok(
        &sender,
        "createTransfer",
        json!({ "destinationId": destination["destinationId"], "manifestId": manifest["manifestId"] }),
    )
    .await;
    let done = ok(
        &sender,
        "waitForTransfer",
        json!({ "transferId": transfer["transferId"] }),
    )
    .await;
    assert_eq!(done["status"], "complete", "{done}");
    let received = dir.path().join("receiver/received/tree");
    assert_eq!(digests(&received), digests(&src));
    // The receiver saw the sender's own address, not the relay's.
    let arrived = ok(&receiver, "getTransfersAsync", json!({})).await;
    let request = json!({ "requestId": arrived["requestId"] });
    let arrived = ok(&receiver, "getRequestResult", request).await;
    let peer = arrived[0]["senderAddress"].as_str().unwrap().to_owned();
    assert_ne!(peer, public.to_string(), "{arrived}");
    sender.close().await;
    receiver.close().await;
}
