//! Serving the control port: the accept loop, one HTTP/1.1 keep-alive connection task per
//! client, the limits that keep a client from holding the port (connections, header and body
//! time, body size), the loopback-only rule, routing, and the shutdown.

use crate::api;
use crate::auth::{self, Need};
use crate::metrics::{self, Calls};
use crate::reply::{self, Reply};
use crate::tls::TlsIdentity;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use jetstream_engine::error::{Code, Error, Result};
use jetstream_engine::server::{Reader, Server};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// The most connections served at once by default. A busy application server holds a
/// connection per client (1,000 clients at once are a use the port must take); an idle
/// keep-alive TLS connection costs the server about 26 KiB, so 4,096 of them stay near
/// 100 MiB, and each is a file descriptor (the packaged service allows 65,536).
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How long the port waits for a request's head by default, which is also how long a
/// keep-alive connection may stay idle.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How the control port serves.
#[derive(Clone, Debug)]
pub struct ControlOptions {
    /// Serve clients from any address; otherwise only loopback clients are served and the
    /// others get `PERMISSION_DENIED`.
    pub allow_remote: bool,
    /// The largest request body, in bytes; a larger one gets 413 (`INVALID_ARGUMENT`).
    pub max_body: usize,
    /// How long a connection may take to send a request's head, counted from when the server
    /// starts waiting for it: this also closes a keep-alive connection left idle that long.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive.
    pub body_timeout: Duration,
    /// The most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// The certificate served with TLS; `None` serves plain HTTP.
    pub tls: Option<TlsIdentity>,
    /// Every request but a login must carry credentials; otherwise a request without any
    /// runs with every right.
    pub auth_required: bool,
}

impl Default for ControlOptions {
    /// Loopback clients only, 8 MiB bodies, 10 s for a head (and of idleness), 30 s for a
    /// body, 4,096 connections, plain HTTP, logins required.
    fn default() -> Self {
        ControlOptions {
            allow_remote: false,
            max_body: 8 << 20,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls: None,
            auth_required: true,
        }
    }
}

/// What every connection of the port shares.
pub(crate) struct Shared {
    pub(crate) server: Arc<Server>,
    pub(crate) reader: Reader,
    pub(crate) opts: ControlOptions,
    pub(crate) calls: Calls,
    /// The TLS settings new connections get (`None` for plain HTTP); replaced when the
    /// certificate is.
    tls: RwLock<Option<Arc<rustls::ServerConfig>>>,
}

/// A running control port.
pub struct Control {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

impl Control {
    /// Serves `server` on `listener` (bound by the caller, so that the server could be told
    /// its port before it opened) on the current tokio runtime.
    pub fn start(
        listener: TcpListener,
        server: Arc<Server>,
        opts: ControlOptions,
    ) -> Result<Control> {
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            tls: RwLock::new(opts.tls.as_ref().map(|tls| Arc::clone(&tls.config))),
            reader: server.reader()?,
            server,
            opts,
            calls: Calls::default(),
        });
        let (stop, stopped) = watch::channel(None);
        let task = tokio::spawn(accept(listener, Arc::clone(&shared), stopped));
        Ok(Control {
            local_addr,
            shared,
            stop,
            task,
        })
    }

    /// The address the port listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `identity` to the connections from now on (a renewed certificate); those open
    /// keep theirs. Refused for a port serving plain HTTP.
    pub fn replace_certificate(&self, identity: &TlsIdentity) -> Result<()> {
        let mut tls = self
            .shared
            .tls
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match tls.as_mut() {
            Some(config) => {
                *config = Arc::clone(&identity.config);
                Ok(())
            }
            None => Err(Error::new(
                Code::InvalidState,
                "the control port serves plain HTTP: it has no certificate to replace",
            )),
        }
    }

    /// Stops accepting connections, lets the requests in progress end within `grace`, then
    /// closes every connection.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        let _ = self.task.await;
    }
}

/// Accepts connections until told to stop, then shuts them down.
async fn accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<Option<Duration>>,
) {
    let slots = Arc::new(Semaphore::new(shared.opts.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next() => continue,
            accepted = async {
                let slot = Arc::clone(&slots).acquire_owned().await;
                (slot, listener.accept().await)
            } => accepted,
        };
        let (slot, stream, peer) = match accepted {
            (Ok(slot), Ok((stream, peer))) => (slot, stream, peer),
            (_, Err(e)) => {
                // Out of file descriptors, most likely: give the connections time to end.
                tracing::warn!("control port: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            (Err(_), _) => unreachable!("the semaphore is never closed"),
        };
        let _ = stream.set_nodelay(true);
        let watcher = graceful.watcher();
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            if let Err(e) = connection(stream, peer, shared, watcher).await {
                tracing::debug!("control connection from {peer}: {e}");
            }
            drop(slot);
        });
    }
    let grace = stop.borrow().unwrap_or_default();
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!(
            "control port: closing {} connections still busy",
            connections.len()
        );
    }
    connections.shutdown().await;
}

/// Serves one client's connection, through TLS if the port has a certificate; the TLS
/// handshake must end within the header timeout.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    watcher: Watcher,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tls = shared
        .tls
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let Some(tls) = tls else {
        return Ok(serve_connection(stream, peer, shared, watcher).await?);
    };
    let accept = TlsAcceptor::from(tls).accept(stream);
    let stream = tokio::time::timeout(shared.opts.header_timeout, accept)
        .await
        .map_err(|_| "the TLS handshake did not end in time")??;
    Ok(serve_connection(stream, peer, shared, watcher).await?)
}

/// Serves one client's connection: HTTP/1.1 with keep-alive, until the client closes it, a
/// limit is crossed, or the port shuts down.
async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    shared: Arc<Shared>,
    watcher: Watcher,
) -> std::result::Result<(), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = shared.opts.header_timeout;
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move {
            let reply = route(&shared, peer, request).await;
            Ok::<_, Infallible>(reply::keep_alive(reply, header_timeout))
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    watcher.watch(conn).await
}

/// Sends `request` to the endpoint it names.
async fn route(shared: &Shared, peer: SocketAddr, request: Request<Incoming>) -> Reply {
    if !shared.opts.allow_remote && !is_loopback(peer.ip()) {
        tracing::info!("control port: refused a request from {peer}: not a loopback client");
        return reply::closing(reply::error(&Error::new(
            Code::PermissionDenied,
            format!("this server serves its API only to loopback clients, not to {peer}"),
        )));
    }
    match (request.method(), request.uri().path()) {
        (&Method::POST, "/api") => api::call(shared, peer.ip(), request).await,
        (&Method::GET, "/metrics") => metrics(shared, peer, &request),
        (_, path @ ("/api" | "/metrics")) => {
            let allowed = if path == "/api" { "POST" } else { "GET" };
            let mut reply = reply::error_with(
                StatusCode::METHOD_NOT_ALLOWED,
                &Error::new(
                    Code::InvalidArgument,
                    format!("{} {path}: the endpoint takes {allowed}", request.method()),
                ),
            );
            reply
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            reply
        }
        (_, path) => reply::error(&Error::new(
            Code::NotFound,
            format!("no endpoint {path}: commands are sent to POST /api, metrics read from GET /metrics"),
        )),
    }
}

/// `GET /metrics`, for any caller with credentials.
fn metrics(shared: &Shared, peer: SocketAddr, request: &Request<Incoming>) -> Reply {
    if let Err(reply) = auth::caller(shared, request.headers(), peer.ip(), Need::Login) {
        return reply;
    }
    match shared.reader.metrics() {
        Ok(figures) => metrics::reply(&figures, &shared.calls),
        Err(e) => reply::error(&e),
    }
}

/// Whether `ip` is a loopback address, IPv4 mapped into IPv6 included.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_clients_are_told_apart_from_others_in_both_families() {
        for local in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(local.parse().unwrap()), "{local}");
        }
        for remote in [
            "10.0.0.1",
            "192.0.2.7",
            "::ffff:192.0.2.7",
            "2001:db8::1",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(remote.parse().unwrap()), "{remote}");
        }
    }
}
