//! Waiting for datagrams with sub-millisecond precision: the pacer asks for waits far shorter
//! than the runtime's 1 ms timer, so a wait ends on a high-resolution [`Alarm`] (a timerfd) and
//! the thread sleeps until then; only waits shorter than a wake-up's own delay are spent
//! polling. (Polling through every short wait kept a sender's core busy that a receiver on the
//! same machine, or the kernel's writeback, needed.)

use crate::multiplex::Route;
use crate::udp::UdpEndpoint;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;

/// Waits shorter than this are spent polling. A sleep costs about 18 µs of CPU and ends 20–40 µs
/// late on a small VM (timerfd, measured); a wait this long is at most half the pacer's bucket
/// (it holds two datagrams or more), so the bucket absorbs the lateness and no rate is lost.
const SPIN_BELOW: Duration = Duration::from_micros(50);

/// A one-shot high-resolution timer the runtime can wait on.
pub struct Alarm {
    fd: AsyncFd<OwnedFd>,
}

impl Alarm {
    /// A disarmed alarm; must be made inside the runtime.
    pub fn new() -> io::Result<Alarm> {
        // SAFETY: timerfd_create takes no pointers; a valid result is a descriptor we own.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the `OwnedFd` keeps its descriptor open, unchanged, until the `AsyncFd` drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
        Ok(Alarm { fd })
    }

    /// Waits until `deadline` (a wait cancelled midway leaves nothing behind: the next one
    /// re-arms the timer, which drops any expiry not read).
    pub async fn sleep_until(&self, deadline: Instant) -> io::Result<()> {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: the descriptor is a timerfd; `spec` is read, the old value not asked for.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) }
            != 0
        {
            return Err(io::Error::last_os_error());
        }
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into `expirations`.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}

/// Datagrams one [`drain`] hands over before it returns, so that a loop that drains and then
/// sends goes on sending however fast datagrams arrive (a flood at its port, or a burst of
/// acknowledgements).
const DRAIN_AT_MOST: usize = 1024;

/// Routed datagrams handed over in one batch at most.
const ROUTED_BATCH: usize = 64;

/// Where a loop's datagrams come from: a socket of its own, or what the receive loop routes to
/// a session that sends over the receive port.
pub enum Inbound {
    /// A socket, and the buffer its batches are received into.
    Socket {
        endpoint: Arc<UdpEndpoint>,
        buf: Vec<u8>,
    },
    /// A connection's share of the receive port.
    Routed(Route),
}

impl Inbound {
    /// The datagrams of `endpoint`.
    pub fn socket(endpoint: Arc<UdpEndpoint>) -> Inbound {
        let buf = vec![0u8; endpoint.recv_buffer_len()];
        Inbound::Socket { endpoint, buf }
    }

    /// Waits for the next batch and hands it to `handle`; how many datagrams it held.
    async fn next(
        &mut self,
        handle: &mut (dyn FnMut(Instant, SocketAddr, &mut [u8]) + Send),
    ) -> io::Result<usize> {
        match self {
            Inbound::Socket { endpoint, buf } => {
                let batch = endpoint.recv(buf).await?;
                let now = Instant::now();
                let mut count = 0;
                for (addr, datagram) in batch {
                    handle(now, addr, datagram);
                    count += 1;
                }
                Ok(count)
            }
            Inbound::Routed(route) => {
                let mut next = route.recv().await.ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotConnected,
                        "the receive port this transfer sends over was closed",
                    )
                })?;
                let mut count = 1;
                loop {
                    handle(next.at, next.from, &mut next.datagram);
                    match route.try_recv() {
                        Some(more) if count < ROUTED_BATCH => next = more,
                        _ => return Ok(count),
                    }
                    count += 1;
                }
            }
        }
    }
}

/// Hands the datagrams already waiting to `handle`, without waiting, up to a batch past
/// [`DRAIN_AT_MOST`]. Returns how many there were.
pub async fn drain(
    inbound: &mut Inbound,
    handle: &mut (dyn FnMut(Instant, SocketAddr, &mut [u8]) + Send),
) -> io::Result<usize> {
    let mut count = 0;
    while count < DRAIN_AT_MOST {
        let received = tokio::select! {
            biased;
            received = inbound.next(handle) => received?,
            _ = std::future::ready(()) => return Ok(count),
        };
        count += received;
    }
    Ok(count)
}

/// Waits until a batch of datagrams arrives (handing them to `handle`) or `deadline` passes.
pub async fn recv_until(
    inbound: &mut Inbound,
    alarm: &Alarm,
    deadline: Instant,
    handle: &mut (dyn FnMut(Instant, SocketAddr, &mut [u8]) + Send),
) -> io::Result<()> {
    if deadline.saturating_duration_since(Instant::now()) >= SPIN_BELOW {
        tokio::select! {
            received = inbound.next(handle) => received?,
            slept = alarm.sleep_until(deadline) => return slept,
        };
        return Ok(());
    }
    while Instant::now() < deadline {
        if drain(inbound, handle).await? > 0 {
            return Ok(());
        }
        // Give way to any other thread ready on this core (with none it returns at once): on a
        // busy machine a short wait goes to their work, not to polling.
        std::thread::yield_now();
        tokio::task::yield_now().await;
    }
    Ok(())
}
