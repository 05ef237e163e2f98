//! A relay on loopback with raw sockets as the server and its peers: registration and its
//! refusals, and datagrams forwarded both ways byte for byte, only to peers that sent first and
//! only once the server bound its data address.

use jetstream_engine::relay::{Authorizer, Relay, RelayOptions};
use jetstream_relay::frame;
use jetstream_relay::link::{self, Link};
use jetstream_relay::{Identity, PublicKey};
use ring::rand::SystemRandom;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Allows the listed keys.
struct Keys(Vec<PublicKey>);

impl Authorizer for Keys {
    fn allows(&self, key: &PublicKey) -> bool {
        self.0.contains(key)
    }
}

fn identity() -> Identity {
    Identity::generate(&SystemRandom::new()).unwrap()
}

/// A relay on loopback that authorizes `keys`: its control address.
async fn relay(keys: Vec<PublicKey>, per_key: usize) -> SocketAddr {
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let relay = Relay::bind(
        identity(),
        RelayOptions {
            control: local,
            data: local,
            public_ip: Ipv4Addr::LOCALHOST.into(),
            authorizer: Arc::new(Keys(keys)),
            max_allocations_per_key: per_key,
            max_rate: None,
            peer_idle: Duration::from_secs(60),
            control_idle: Duration::from_secs(60),
        },
    )
    .await
    .unwrap();
    let control = relay.control_addr().unwrap();
    tokio::spawn(relay.run());
    control
}

async fn socket() -> Arc<UdpSocket> {
    Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap())
}

/// The next datagram on `socket`, or `None` after half a second.
async fn next(socket: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 70_000];
    let (n, from) = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    buf.truncate(n);
    Some((buf, from))
}

/// Keeps `link` with its BIND frames sent from `server`.
fn keep(link: Link, server: Arc<UdpSocket>) {
    let data = link.allocation().data;
    tokio::spawn(link.run(Duration::from_secs(5), move |bind| {
        let server = server.clone();
        tokio::spawn(async move { server.send_to(&bind, data).await.unwrap() });
    }));
}

#[tokio::test]
async fn datagrams_pass_both_ways_unchanged_and_only_to_peers_that_sent() {
    let server_key = identity();
    let control = relay(vec![server_key.public_key()], 1).await;
    let linked = link::register(control, &server_key, None).await.unwrap();
    let allocation = linked.allocation().clone();
    let (server, peer, stranger) = (socket().await, socket().await, socket().await);

    // Before the server binds its data address, nothing is forwarded to it.
    peer.send_to(b"too early", allocation.public).await.unwrap();
    assert_eq!(next(&server).await, None);

    keep(linked, server.clone());
    // The BIND frame's confirmation travels on the control connection: retry until through.
    let sealed: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let mut forwarded = None;
    for _ in 0..20 {
        peer.send_to(&sealed, allocation.public).await.unwrap();
        if let Some(got) = next(&server).await {
            forwarded = Some(got);
            break;
        }
    }
    let (frame_bytes, from) = forwarded.expect("the relay forwards once bound");
    assert_eq!(from, allocation.data);
    let (named, datagram) = frame::read_data(&frame_bytes).unwrap();
    assert_eq!(named, peer.local_addr().unwrap());
    assert_eq!(datagram, &sealed[..], "forwarded unchanged");

    let mut reply = Vec::new();
    frame::frame_data(&named, b"sealed answer", &mut reply);
    server.send_to(&reply, allocation.data).await.unwrap();
    let (answer, from) = next(&peer).await.expect("the peer gets the answer");
    assert_eq!(
        (answer.as_slice(), from),
        (&b"sealed answer"[..], allocation.public)
    );

    // A peer that never sent to the public port gets nothing through the relay, and frames
    // from an address that did not bind are dropped.
    frame::frame_data(&stranger.local_addr().unwrap(), b"unasked", &mut reply);
    server.send_to(&reply, allocation.data).await.unwrap();
    assert_eq!(next(&stranger).await, None);
    frame::frame_data(&named, b"forged", &mut reply);
    stranger.send_to(&reply, allocation.data).await.unwrap();
    assert_eq!(next(&peer).await, None);
}

#[tokio::test]
async fn unknown_keys_and_keys_over_their_quota_are_refused() {
    let (allowed, unknown) = (identity(), identity());
    let control = relay(vec![allowed.public_key()], 1).await;
    let refused = link::register(control, &unknown, None).await.err().unwrap();
    assert!(refused.message.contains("not authorized"), "{refused}");

    let held = link::register(control, &allowed, None).await.unwrap();
    let over = link::register(control, &allowed, None).await.err().unwrap();
    assert!(
        over.message.contains("the most this relay gives one key"),
        "{over}"
    );
    // The allocation ends with its connection, and the key may register again.
    drop(held);
    let mut again = None;
    for _ in 0..50 {
        match link::register(control, &allowed, None).await {
            Ok(linked) => {
                again = Some(linked);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(again.is_some(), "a closed allocation frees the quota");

    let wrong = identity().public_key();
    let pinned = link::register(control, &allowed, Some(&wrong))
        .await
        .err()
        .unwrap();
    assert!(pinned.message.contains("not the expected"), "{pinned}");
}
