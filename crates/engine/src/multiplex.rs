//! Sending over the receive port (`senderPort` -1): sessions that send to a destination from
//! the port this engine receives on. They send through the receiver's endpoint, and the
//! receive loop hands them the datagrams of their connections (by connection id), which it
//! does not serve itself. One port then carries both directions, as a firewall that opens
//! only the receive port expects.

use crate::udp::UdpEndpoint;
use jetstream_wire::codec::ConnectionId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::mpsc;

/// Datagrams waiting for one sending session; more are dropped, as a full socket buffer would.
const QUEUE: usize = 4096;

/// A datagram the receive loop routed to a sending session.
pub struct Routed {
    /// When it arrived.
    pub at: Instant,
    /// Where it came from.
    pub from: SocketAddr,
    /// The datagram.
    pub datagram: Vec<u8>,
}

/// The receive port's endpoint, while a receiver serves it, and the sending sessions that
/// share it; clones share them.
#[derive(Clone, Default)]
pub struct SendRoutes {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SendRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRoutes")
            .field("routed", &self.shared.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    /// How many sessions are routed: the receive loop looks no further while there are none.
    count: AtomicUsize,
    routes: Mutex<Routes>,
}

#[derive(Default)]
struct Routes {
    endpoint: Option<Arc<UdpEndpoint>>,
    by_cid: HashMap<ConnectionId, mpsc::Sender<Routed>>,
}

impl SendRoutes {
    fn routes(&self) -> MutexGuard<'_, Routes> {
        self.shared
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The receive loop serves `endpoint` from now on (`None`: no longer, and the sessions
    /// routed through it hear nothing more).
    pub(crate) fn serve(&self, endpoint: Option<Arc<UdpEndpoint>>) {
        let mut routes = self.routes();
        if endpoint.is_none() {
            routes.by_cid.clear();
            self.shared.count.store(0, Ordering::Relaxed);
        }
        routes.endpoint = endpoint;
    }

    /// The receive port's endpoint, while a receiver serves it.
    pub fn endpoint(&self) -> Option<Arc<UdpEndpoint>> {
        self.routes().endpoint.clone()
    }

    /// Routes the datagrams of connection `cid` to the returned route until it drops.
    pub fn route(&self, cid: ConnectionId) -> Route {
        let (tx, rx) = mpsc::channel(QUEUE);
        if self.routes().by_cid.insert(cid, tx).is_none() {
            self.shared.count.fetch_add(1, Ordering::Relaxed);
        }
        Route {
            routes: self.clone(),
            cid,
            rx,
        }
    }

    /// Hands `datagram` to the sending session of connection `cid`, if there is one; whether
    /// it was one of theirs.
    pub(crate) fn deliver(
        &self,
        cid: &ConnectionId,
        at: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        if self.shared.count.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let routes = self.routes();
        let Some(tx) = routes.by_cid.get(cid) else {
            return false;
        };
        let _ = tx.try_send(Routed {
            at,
            from,
            datagram: datagram.to_vec(),
        });
        true
    }
}

/// A receive loop's hold on its port: the port is shared while it lasts.
pub(crate) struct Serving(SendRoutes);

impl Serving {
    pub(crate) fn start(routes: SendRoutes, endpoint: Arc<UdpEndpoint>) -> Serving {
        routes.serve(Some(endpoint));
        Serving(routes)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.serve(None);
    }
}

/// One sending session's share of the receive port: the datagrams of its connection.
pub struct Route {
    routes: SendRoutes,
    cid: ConnectionId,
    rx: mpsc::Receiver<Routed>,
}

impl Route {
    /// The next datagram; `None` once the receive loop has stopped.
    pub async fn recv(&mut self) -> Option<Routed> {
        self.rx.recv().await
    }

    /// A datagram already waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<Routed> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        if self.routes.routes().by_cid.remove(&self.cid).is_some() {
            self.routes.shared.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
