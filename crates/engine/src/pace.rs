//! Waiting on a socket with sub-millisecond precision: the pacer asks for waits far shorter
//! than the runtime's 1 ms timer, so short waits poll the socket and yield instead of sleeping.

use crate::udp::UdpEndpoint;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Waits shorter than this are spent polling rather than sleeping.
const SPIN_BELOW: Duration = Duration::from_millis(2);

/// Hands every datagram already queued on the socket to `handle`, without waiting. Returns how
/// many there were.
pub async fn drain(
    endpoint: &UdpEndpoint,
    buf: &mut [u8],
    handle: &mut (dyn FnMut(Instant, SocketAddr, &mut [u8]) + Send),
) -> io::Result<usize> {
    let mut count = 0;
    loop {
        let batch = tokio::select! {
            biased;
            batch = endpoint.recv(buf) => batch?,
            _ = std::future::ready(()) => return Ok(count),
        };
        let now = Instant::now();
        for (addr, datagram) in batch {
            handle(now, addr, datagram);
            count += 1;
        }
    }
}

/// Waits until a batch of datagrams arrives (handing them to `handle`) or `deadline` passes.
pub async fn recv_until(
    endpoint: &UdpEndpoint,
    buf: &mut [u8],
    deadline: Instant,
    handle: &mut (dyn FnMut(Instant, SocketAddr, &mut [u8]) + Send),
) -> io::Result<()> {
    if deadline.saturating_duration_since(Instant::now()) >= SPIN_BELOW {
        let batch = tokio::select! {
            batch = endpoint.recv(buf) => batch?,
            _ = tokio::time::sleep_until(deadline.into()) => return Ok(()),
        };
        let now = Instant::now();
        for (addr, datagram) in batch {
            handle(now, addr, datagram);
        }
        return Ok(());
    }
    while Instant::now() < deadline {
        if drain(endpoint, buf, handle).await? > 0 {
            return Ok(());
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}
