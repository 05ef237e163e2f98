//! The UDP side a transfer's sessions share: the socket (its own, or the receive port's when
//! sending from it), the datagram sizes the path allows, and what a socket error means for the
//! session (a refused port is retried, as is any other failure).

use super::{Ended, SendOptions};
use crate::error::{Code, Error};
use crate::multiplex::SendRoutes;
use crate::pace::Inbound;
use crate::udp::{max_datagram_for, UdpEndpoint};
use jetstream_wire::codec::ConnectionId;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The smallest datagram the protocol works with (room for the handshake messages).
const MIN_DATAGRAM: usize = 1200;

/// The socket and sizes every session of a transfer shares.
pub(super) struct Link {
    pub(super) endpoint: Arc<UdpEndpoint>,
    pub(super) to: SocketAddr,
    /// Datagram size to start with, and the largest the path may carry.
    pub(super) base: usize,
    pub(super) limit: usize,
    /// The receive port's routes, when the endpoint is the receive port's.
    pub(super) routes: Option<SendRoutes>,
}

impl Link {
    /// Binds the local port of `opts` and connects to the receiver. A fixed port in use may
    /// be freed (by another transfer to the same destination, which holds it while it runs):
    /// that is worth another attempt; any other failure ends the transfer.
    pub(super) async fn open(opts: &SendOptions) -> std::result::Result<Link, Ended> {
        if let Some((routes, endpoint)) = opts
            .multiplex
            .as_ref()
            .and_then(|routes| Some((routes, routes.endpoint()?)))
        {
            let base = max_datagram_for(&opts.to);
            return Ok(Link {
                endpoint,
                to: opts.to,
                base,
                limit: opts.mtu.map_or(base, |mtu| mtu_datagram(mtu, base)),
                routes: Some(routes.clone()),
            });
        }
        let local: SocketAddr = match opts.to {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, opts.local_port).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, opts.local_port).into(),
        };
        let endpoint = UdpEndpoint::bind(local).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                Ended::Retry(Error::new(
                    Code::Unavailable,
                    format!("sender port {} is in use", opts.local_port),
                ))
            } else if opts.local_port != 0 {
                Ended::Fatal(Error::new(
                    Code::Unavailable,
                    format!("cannot open sender port {}: {e}", opts.local_port),
                ))
            } else {
                Ended::Fatal(Error::new(
                    Code::Unavailable,
                    format!("cannot open a UDP socket: {e}"),
                ))
            }
        })?;
        endpoint
            .connect(opts.to)
            .await
            .map_err(|e| Ended::Fatal(socket_error(e, opts.to)))?;
        // Start at the size any 1,500-byte path carries; probe up to what the route allows.
        let base = max_datagram_for(&opts.to);
        let limit = match opts.mtu {
            Some(mtu) => mtu_datagram(mtu, base),
            None => endpoint.path_max_datagram().unwrap_or(base),
        };
        Ok(Link {
            endpoint: Arc::new(endpoint),
            to: opts.to,
            base: base.min(limit),
            limit,
            routes: None,
        })
    }

    /// Where the datagrams of the session with connection id `cid` come from.
    pub(super) fn inbound(&self, cid: ConnectionId) -> Inbound {
        match &self.routes {
            Some(routes) => Inbound::Routed(routes.route(cid)),
            None => Inbound::socket(self.endpoint.clone()),
        }
    }
}

/// The largest datagram a path of `mtu` bytes carries, where `base` is what a 1,500-byte one
/// does.
fn mtu_datagram(mtu: usize, base: usize) -> usize {
    // IP and UDP headers: what a 1,500-byte packet holds beyond the base datagram.
    mtu.saturating_sub(1500 - base).max(MIN_DATAGRAM)
}

/// The kernel reports an ICMP "port unreachable" answer as `ConnectionRefused` on the next
/// socket call. One can be stale or spurious; several before the receiver ever answered mean
/// nothing listens there. Once the receiver has answered, the idle timeout decides.
#[derive(Default)]
pub(super) struct Refusals {
    count: u32,
}

impl Refusals {
    const BEFORE_GIVING_UP: u32 = 2;

    /// A socket error ends the session; the next one may find the receiver (or the path)
    /// back.
    pub(super) fn check(
        &mut self,
        result: std::io::Result<()>,
        heard: bool,
        to: SocketAddr,
    ) -> std::result::Result<(), Ended> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                self.count += 1;
                tracing::debug!(count = self.count, heard, "port unreachable from {to}");
                if !heard && self.count >= Self::BEFORE_GIVING_UP {
                    Err(Ended::Retry(socket_error(e, to)))
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(Ended::Retry(socket_error(e, to))),
        }
    }
}

/// A socket error while talking to `to`, worded for the user.
fn socket_error(e: std::io::Error, to: SocketAddr) -> Error {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        Error::new(
            Code::Unavailable,
            format!("no receiver at {to} (connection refused)"),
        )
    } else {
        Error::new(Code::Unavailable, format!("cannot talk to {to}: {e}"))
    }
}
