//! Loopback tests of the UDP endpoint: GSO and plain sends, GRO and batched receives, IPv6,
//! oversized datagrams, socket buffers and argument errors.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use jetstream_engine::udp::{max_datagram_for, UdpEndpoint, UdpError};

/// Guard against a hang when datagrams go missing; never reached when the test passes.
const RECV_GUARD: Duration = Duration::from_secs(10);

fn v4() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

/// `count` datagrams of `size` bytes (the last one `last` bytes long), each distinct: the bytes
/// depend on both the datagram index and the position inside it.
fn datagrams(count: usize, size: usize, last: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|index| {
            let len = if index + 1 == count { last } else { size };
            (0..len)
                .map(|pos| (index.wrapping_mul(31) ^ pos.wrapping_mul(7) ^ (pos >> 8)) as u8)
                .collect()
        })
        .collect()
}

/// Receives until `count` datagrams arrived, returning each with its source.
async fn receive(endpoint: &UdpEndpoint, count: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = vec![0u8; endpoint.recv_buffer_len()];
    let mut received = Vec::new();
    while received.len() < count {
        let batch = tokio::time::timeout(RECV_GUARD, endpoint.recv(&mut buf))
            .await
            .expect("datagrams missing: nothing received before the guard expired")
            .expect("recv failed");
        received.extend(batch.map(|(source, datagram)| (source, datagram.to_vec())));
    }
    received
}

/// Sends `expected` from `sender` to `receiver` as one run of `segment_size` segments and checks
/// that every datagram arrives, in order, byte for byte, from the sender's address.
async fn round_trip(
    sender: &UdpEndpoint,
    receiver: &UdpEndpoint,
    expected: &[Vec<u8>],
    segment_size: usize,
) {
    let contents = expected.concat();
    let (received, sent) = tokio::join!(
        receive(receiver, expected.len()),
        sender.send(receiver.local_addr(), &contents, segment_size)
    );
    sent.expect("send failed");
    assert_eq!(received.len(), expected.len(), "datagram count");
    for (index, ((source, datagram), want)) in received.iter().zip(expected).enumerate() {
        assert_eq!(*source, sender.local_addr(), "source of datagram {index}");
        assert_eq!(datagram.len(), want.len(), "length of datagram {index}");
        assert!(datagram == want, "contents of datagram {index} differ");
    }
}

#[tokio::test]
async fn gso_batch_arrives_complete_and_in_order() {
    let sender = UdpEndpoint::bind(v4()).unwrap();
    let receiver = UdpEndpoint::bind(v4()).unwrap();
    if cfg!(target_os = "linux") {
        assert!(sender.max_gso_segments() > 1, "GSO expected on Linux");
        assert!(receiver.gro_segments() > 1, "GRO expected on Linux");
    }
    // 64 × 1,400 bytes exceeds one 64 KiB call, so this also covers splitting.
    round_trip(&sender, &receiver, &datagrams(64, 1_400, 1_400), 1_400).await;
}

#[tokio::test]
async fn batch_without_offloads_arrives_complete_and_in_order() {
    let sender = UdpEndpoint::bind_without_offloads(v4()).unwrap();
    let receiver = UdpEndpoint::bind_without_offloads(v4()).unwrap();
    assert_eq!(sender.max_gso_segments(), 1);
    assert_eq!(receiver.gro_segments(), 1);
    round_trip(&sender, &receiver, &datagrams(64, 1_400, 1_400), 1_400).await;
}

#[tokio::test]
async fn gso_sender_reaches_receiver_without_gro() {
    let sender = UdpEndpoint::bind(v4()).unwrap();
    let receiver = UdpEndpoint::bind_without_offloads(v4()).unwrap();
    round_trip(&sender, &receiver, &datagrams(40, 1_200, 1_200), 1_200).await;
}

#[tokio::test]
async fn last_segment_may_be_shorter() {
    let sender = UdpEndpoint::bind(v4()).unwrap();
    let receiver = UdpEndpoint::bind(v4()).unwrap();
    round_trip(&sender, &receiver, &datagrams(11, 1_000, 333), 1_000).await;

    let sender = UdpEndpoint::bind_without_offloads(v4()).unwrap();
    round_trip(&sender, &receiver, &datagrams(5, 1_000, 1), 1_000).await;
}

#[tokio::test]
async fn ipv6_batch_arrives_complete_and_in_order() {
    let localhost: SocketAddr = (Ipv6Addr::LOCALHOST, 0).into();
    let receiver = match UdpEndpoint::bind(localhost) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            println!("skipped: cannot bind [::1] in this environment ({error})");
            return;
        }
    };
    let sender = UdpEndpoint::bind(localhost).unwrap();
    assert!(receiver.local_addr().is_ipv6());
    round_trip(&sender, &receiver, &datagrams(64, 1_400, 700), 1_400).await;
}

#[tokio::test]
async fn ipv6_socket_is_v6_only() {
    let any6 = match UdpEndpoint::bind((Ipv6Addr::UNSPECIFIED, 0).into()) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            println!("skipped: cannot bind [::] in this environment ({error})");
            return;
        }
    };
    // A dual-stack socket on [::]:port would also hold 0.0.0.0:port and make this bind fail.
    let port = any6.local_addr().port();
    let any4 = UdpEndpoint::bind((Ipv4Addr::UNSPECIFIED, port).into())
        .expect("IPv4 bind on the port of a v6-only socket");
    assert_eq!(any4.local_addr().port(), port);
}

#[tokio::test]
async fn datagrams_above_the_mtu_policy_are_delivered_on_loopback() {
    let sender = UdpEndpoint::bind(v4()).unwrap();
    let receiver = UdpEndpoint::bind(v4()).unwrap();
    let policy = max_datagram_for(&receiver.local_addr());
    round_trip(&sender, &receiver, &datagrams(1, 0, 9_000), 9_000).await;
    // The largest IPv4 UDP payload fills a whole receive slot.
    let largest = 65_507;
    assert!(largest > policy);
    round_trip(&sender, &receiver, &datagrams(1, 0, largest), largest).await;
    // Several jumbo datagrams in one run: GSO calls are split to stay under 64 KiB.
    round_trip(&sender, &receiver, &datagrams(6, 9_000, 9_000), 9_000).await;
}

#[test]
fn mtu_policy_sizes() {
    assert_eq!(max_datagram_for(&v4()), 1_472);
    assert_eq!(max_datagram_for(&(Ipv6Addr::LOCALHOST, 0).into()), 1_452);
}

/// Reads a Linux sysctl under /proc/sys/net/core.
#[cfg(target_os = "linux")]
fn core_sysctl(name: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn buffer_sizes_are_at_least_the_kernel_default_and_enlarged() {
    const ASKED: usize = 32 * 1024 * 1024;
    let endpoint = UdpEndpoint::bind(v4()).unwrap();
    let (recv, send) = endpoint.buffer_sizes();
    assert!(recv >= core_sysctl("rmem_default"), "recv buffer {recv}");
    assert!(send >= core_sysctl("wmem_default"), "send buffer {send}");
    // Without the forcing options the kernel clamps to the system maximum; it never grants less
    // than what was asked up to that maximum.
    assert!(
        recv >= ASKED.min(core_sysctl("rmem_max")),
        "recv buffer {recv}"
    );
    assert!(
        send >= ASKED.min(core_sysctl("wmem_max")),
        "send buffer {send}"
    );
}

fn inner_error(error: &io::Error) -> Option<&UdpError> {
    error.get_ref().and_then(|inner| inner.downcast_ref())
}

#[tokio::test]
async fn zero_segment_size_is_rejected() {
    let endpoint = UdpEndpoint::bind(v4()).unwrap();
    let error = endpoint
        .send(endpoint.local_addr(), b"data", 0)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(matches!(
        inner_error(&error),
        Some(UdpError::ZeroSegmentSize)
    ));
}

#[tokio::test]
async fn receive_buffer_smaller_than_a_slot_is_rejected() {
    let endpoint = UdpEndpoint::bind(v4()).unwrap();
    let mut buf = vec![0u8; 1_500];
    let error = endpoint.recv(&mut buf).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(matches!(
        inner_error(&error),
        Some(UdpError::RecvBufferTooSmall { len: 1_500, .. })
    ));
}

#[test]
fn binding_outside_a_runtime_is_an_error() {
    let error = UdpEndpoint::bind(v4()).unwrap_err();
    assert!(matches!(inner_error(&error), Some(UdpError::NoRuntime)));
}
