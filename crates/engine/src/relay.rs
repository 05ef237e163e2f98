//! The relay itself: it accepts control connections from the servers it may relay for, opens a
//! public UDP port for each registered server (an allocation), and forwards datagrams between
//! the peers that send to that port and the server, framed on the relay's data port
//! ([`jetstream_relay::frame`]). It reads nothing it forwards: the datagrams are sealed end to
//! end. Its sockets are the engine's UDP endpoints (large buffers, batched receives).
//!
//! Its limits: only servers whose keys it authorizes register, each key holds at most
//! [`RelayOptions::max_allocations_per_key`] allocations; an allocation lives as long as its
//! control connection, which ends when the server is silent for
//! [`RelayOptions::control_idle`]; a server's datagrams go only to peers that sent to its
//! public port within [`RelayOptions::peer_idle`] (TURN's permissions), at most
//! [`MAX_PEERS`] of them; both directions of an allocation share one rate cap.

use crate::udp::UdpEndpoint;
use jetstream_relay::control::{self, read_message, Message, NONCE_LEN, VERSION};
use jetstream_relay::frame::{self, BIND, DATA};
use jetstream_relay::{Identity, PublicKey};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Peers remembered per allocation; the longest idle one is forgotten for a new one.
pub const MAX_PEERS: usize = 4096;
/// How long a server has to register once connected.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Decides which server keys may register.
pub trait Authorizer: Send + Sync {
    /// Whether the server with `key` may hold allocations.
    fn allows(&self, key: &PublicKey) -> bool;
}

/// How a relay listens and what it allows.
#[derive(Clone)]
pub struct RelayOptions {
    /// TCP address of the control port.
    pub control: SocketAddr,
    /// UDP address of the data port.
    pub data: SocketAddr,
    /// The address allocations' public ports are opened on.
    pub public_ip: IpAddr,
    /// The servers that may register.
    pub authorizer: Arc<dyn Authorizer>,
    /// Allocations one server key may hold at once.
    pub max_allocations_per_key: usize,
    /// Bytes per second one allocation forwards, both directions together; `None`: no cap.
    pub max_rate: Option<u64>,
    /// How long a peer may send to a server's datagrams after it last sent to the server.
    pub peer_idle: Duration,
    /// A control connection silent this long ends, and its allocation with it.
    pub control_idle: Duration,
}

/// A token bucket: bytes per second, up to one second's worth at once.
struct Bucket {
    rate: Option<u64>,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: Option<u64>) -> Bucket {
        Bucket {
            rate,
            tokens: rate.unwrap_or(0) as f64,
            at: Instant::now(),
        }
    }

    /// Takes `bytes` if the cap allows them now.
    fn take(&mut self, bytes: usize) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let now = Instant::now();
        let earned = now.duration_since(self.at).as_secs_f64() * rate as f64;
        self.tokens = (self.tokens + earned).min(rate as f64);
        self.at = now;
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            false
        }
    }
}

/// One registered server's public port and where its frames come from.
struct Allocation {
    key: PublicKey,
    public: Arc<UdpEndpoint>,
    /// The server's data address, once a BIND frame named it.
    server: Option<SocketAddr>,
    /// The nonce the next BIND frame must carry.
    bind_nonce: [u8; frame::NONCE_LEN],
    /// The peers that sent to the public port, and when they last did.
    peers: HashMap<SocketAddr, Instant>,
    bucket: Bucket,
    /// Notices for the server's control connection.
    notices: mpsc::UnboundedSender<Message>,
}

impl Allocation {
    /// Remembers that `peer` sent at `now`.
    fn permit(&mut self, peer: SocketAddr, now: Instant) {
        if self.peers.len() >= MAX_PEERS && !self.peers.contains_key(&peer) {
            let oldest = self
                .peers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(p, _)| *p);
            if let Some(oldest) = oldest {
                self.peers.remove(&oldest);
            }
        }
        self.peers.insert(peer, now);
    }
}

/// Every allocation, by id and by the server address its frames come from.
#[derive(Default)]
struct Table {
    by_id: HashMap<u64, Allocation>,
    by_server: HashMap<SocketAddr, u64>,
    next_id: u64,
}

/// What the relay's tasks share.
struct Shared {
    identity: Identity,
    opts: RelayOptions,
    data: Arc<UdpEndpoint>,
    table: Mutex<Table>,
}

impl Shared {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A relay bound to its ports.
pub struct Relay {
    shared: Arc<Shared>,
    control: TcpListener,
}

impl Relay {
    /// Binds the control and data ports.
    pub async fn bind(identity: Identity, opts: RelayOptions) -> io::Result<Relay> {
        let control = TcpListener::bind(opts.control).await?;
        let data = Arc::new(UdpEndpoint::bind(opts.data)?);
        // A frame is longer than the datagram it carries, which was sized for a path without
        // the relay: on a path of the same MTU it must leave in fragments.
        data.allow_fragments()?;
        Ok(Relay {
            shared: Arc::new(Shared {
                identity,
                opts,
                data,
                table: Mutex::new(Table::default()),
            }),
            control,
        })
    }

    /// The control port's address.
    pub fn control_addr(&self) -> io::Result<SocketAddr> {
        self.control.local_addr()
    }

    /// The data port's address.
    pub fn data_addr(&self) -> SocketAddr {
        self.shared.data.local_addr()
    }

    /// Serves until the data port fails.
    pub async fn run(self) -> io::Result<()> {
        let shared = self.shared.clone();
        let control = self.control;
        let accept = tokio::spawn(async move {
            loop {
                match control.accept().await {
                    Ok((stream, from)) => {
                        tokio::spawn(serve_control(shared.clone(), stream, from));
                    }
                    Err(e) => tracing::warn!("accepting a control connection: {e}"),
                }
            }
        });
        let served = serve_data(&self.shared).await;
        accept.abort();
        served
    }
}

/// One server's control connection: its registration, then its allocation's life.
async fn serve_control(shared: Arc<Shared>, stream: TcpStream, from: SocketAddr) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    let relay_nonce = control::nonce::<NONCE_LEN>();
    let relay_key = shared.identity.public_key();
    let hello = Message::Hello {
        version: VERSION,
        key: relay_key.to_string(),
        nonce: hex::encode(relay_nonce),
    };
    if writer.write_all(hello.to_line().as_bytes()).await.is_err() {
        return;
    }
    let registered =
        tokio::time::timeout(REGISTER_TIMEOUT, read_message(&mut reader, &mut line)).await;
    let (id, mut notices) = match registered {
        Ok(Ok(Message::Register {
            key,
            nonce,
            signature,
        })) => match allocate(&shared, &relay_nonce, &key, &nonce, &signature).await {
            Ok((id, allocated, notices)) => {
                if writer
                    .write_all(allocated.to_line().as_bytes())
                    .await
                    .is_err()
                {
                    release(&shared, id);
                    return;
                }
                tracing::info!(%from, key, id, "allocation opened");
                (id, notices)
            }
            Err(reason) => {
                tracing::warn!(%from, key, "registration refused: {reason}");
                let refused = Message::Refused { reason };
                let _ = writer.write_all(refused.to_line().as_bytes()).await;
                return;
            }
        },
        Ok(Ok(other)) => {
            tracing::debug!(%from, "expected register, got {other:?}");
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(%from, "control connection: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(%from, "no registration in time");
            return;
        }
    };
    let idle = shared.opts.control_idle;
    loop {
        tokio::select! {
            read = tokio::time::timeout(idle, read_message(&mut reader, &mut line)) => {
                match read {
                    Ok(Ok(Message::Ping)) => {
                        if writer.write_all(Message::Pong.to_line().as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::info!(%from, id, "allocation closed: {e}");
                        break;
                    }
                    Err(_) => {
                        tracing::info!(%from, id, "allocation closed: the server was silent for {idle:?}");
                        break;
                    }
                }
            }
            Some(notice) = notices.recv() => {
                if writer.write_all(notice.to_line().as_bytes()).await.is_err() {
                    break;
                }
            }
        }
    }
    release(&shared, id);
}

/// Checks a registration and opens its allocation: its id, the `allocated` answer and the
/// notices for its control connection; or why not.
async fn allocate(
    shared: &Arc<Shared>,
    relay_nonce: &[u8],
    key: &str,
    server_nonce: &str,
    signature: &str,
) -> Result<(u64, Message, mpsc::UnboundedReceiver<Message>), String> {
    let key: PublicKey = key.parse().map_err(|_| "a malformed key".to_owned())?;
    let server_nonce = hex::decode(server_nonce)
        .ok()
        .filter(|n| n.len() == NONCE_LEN)
        .ok_or("a malformed nonce")?;
    let relay_key = shared.identity.public_key();
    if !control::check_register(&key, signature, relay_nonce, &server_nonce, &relay_key) {
        return Err("the signature does not prove the key".into());
    }
    if !shared.opts.authorizer.allows(&key) {
        return Err(format!("key {key} is not authorized by this relay"));
    }
    let held = shared
        .table()
        .by_id
        .values()
        .filter(|a| a.key == key)
        .count();
    if held >= shared.opts.max_allocations_per_key {
        return Err(format!(
            "key {key} holds {held} allocations, the most this relay gives one key"
        ));
    }
    let public = UdpEndpoint::bind(SocketAddr::new(shared.opts.public_ip, 0))
        .map_err(|e| format!("cannot open a public port: {e}"))?;
    let port = public.local_addr().port();
    let data_port = shared.data.local_addr().port();
    let public = Arc::new(public);
    let bind_nonce = control::nonce::<{ frame::NONCE_LEN }>();
    let (tx, rx) = mpsc::unbounded_channel();
    let id = {
        let mut table = shared.table();
        let id = table.next_id;
        table.next_id += 1;
        table.by_id.insert(
            id,
            Allocation {
                key,
                public: public.clone(),
                server: None,
                bind_nonce,
                peers: HashMap::new(),
                bucket: Bucket::new(shared.opts.max_rate),
                notices: tx,
            },
        );
        id
    };
    tokio::spawn(serve_public(shared.clone(), id, public));
    let allocated = Message::Allocated {
        id,
        port,
        data_port,
        signature: control::sign_allocated(&shared.identity, relay_nonce, &server_nonce, &key),
        bind_nonce: hex::encode(bind_nonce),
    };
    Ok((id, allocated, rx))
}

/// Ends allocation `id`: its public port closes once its task sees it gone.
fn release(shared: &Shared, id: u64) {
    let mut table = shared.table();
    if let Some(allocation) = table.by_id.remove(&id) {
        if let Some(server) = allocation.server {
            table.by_server.remove(&server);
        }
    }
}

/// Forwards what peers send to allocation `id`'s public port to its server, as DATA frames.
async fn serve_public(shared: Arc<Shared>, id: u64, public: Arc<UdpEndpoint>) {
    let mut inbuf = vec![0u8; public.recv_buffer_len()];
    let mut framed = Vec::new();
    let mut out = Outgoing::default();
    loop {
        // A closed allocation's task ends at its next datagram or within a second.
        let batch =
            match tokio::time::timeout(Duration::from_secs(1), public.recv(&mut inbuf)).await {
                Ok(Ok(batch)) => batch,
                Ok(Err(e)) => {
                    tracing::debug!(id, "public port: {e}");
                    continue;
                }
                Err(_) if shared.table().by_id.contains_key(&id) => continue,
                Err(_) => return,
            };
        let now = Instant::now();
        {
            let mut table = shared.table();
            let Some(allocation) = table.by_id.get_mut(&id) else {
                return;
            };
            for (peer, datagram) in batch {
                allocation.permit(peer, now);
                let Some(server) = allocation.server else {
                    continue;
                };
                if allocation.bucket.take(datagram.len()) {
                    frame::frame_data(&peer, datagram, &mut framed);
                    out.push(&shared.data, server, &framed);
                }
            }
        }
        out.send().await;
    }
}

/// The data port: BIND frames from servers, and DATA frames to forward to their peers.
async fn serve_data(shared: &Shared) -> io::Result<()> {
    let mut inbuf = vec![0u8; shared.data.recv_buffer_len()];
    let mut out = Outgoing::default();
    loop {
        let batch = shared.data.recv(&mut inbuf).await?;
        {
            let mut table = shared.table();
            for (from, frame) in batch {
                match frame.first() {
                    Some(&BIND) => bind(&mut table, frame, from),
                    Some(&DATA) => {
                        let Some((peer, datagram)) = frame::read_data(frame) else {
                            continue;
                        };
                        let Some(id) = table.by_server.get(&from).copied() else {
                            continue;
                        };
                        let Some(allocation) = table.by_id.get_mut(&id) else {
                            continue;
                        };
                        let permitted = allocation
                            .peers
                            .get(&peer)
                            .is_some_and(|at| at.elapsed() < shared.opts.peer_idle);
                        if permitted && allocation.bucket.take(datagram.len()) {
                            out.push(&allocation.public, peer, datagram);
                        }
                    }
                    _ => {}
                }
            }
        }
        out.send().await;
    }
}

/// The datagrams one received batch makes the relay send, grouped into runs that one GSO call
/// each carries: consecutive datagrams out of one endpoint to one address, all of one size but
/// the last. A sender's data datagrams are of one size, and so are their frames to one server.
#[derive(Default)]
struct Outgoing {
    bytes: Vec<u8>,
    runs: Vec<Run>,
}

/// One run of [`Outgoing`]: `bytes[start..end]`.
struct Run {
    endpoint: Arc<UdpEndpoint>,
    to: SocketAddr,
    segment: usize,
    start: usize,
    end: usize,
}

impl Outgoing {
    /// Adds `datagram`, to be sent to `to` out of `endpoint`. An empty one is dropped: the
    /// protocol never sends one.
    fn push(&mut self, endpoint: &Arc<UdpEndpoint>, to: SocketAddr, datagram: &[u8]) {
        if datagram.is_empty() {
            return;
        }
        self.bytes.extend_from_slice(datagram);
        let end = self.bytes.len();
        if let Some(run) = self.runs.last_mut() {
            let same_size =
                (run.end - run.start) % run.segment == 0 && datagram.len() <= run.segment;
            if same_size && run.to == to && Arc::ptr_eq(&run.endpoint, endpoint) {
                run.end = end;
                return;
            }
        }
        self.runs.push(Run {
            endpoint: endpoint.clone(),
            to,
            segment: datagram.len(),
            start: end - datagram.len(),
            end,
        });
    }

    /// Sends every run and empties the batch; a datagram that cannot be sent is dropped (its
    /// sender repairs the loss), as on any hop.
    async fn send(&mut self) {
        for run in self.runs.drain(..) {
            let contents = &self.bytes[run.start..run.end];
            if let Err(e) = run.endpoint.send(run.to, contents, run.segment).await {
                tracing::debug!(to = %run.to, "forwarding: {e}");
            }
        }
        self.bytes.clear();
    }
}

/// A BIND frame from `from`: with the nonce its allocation expects and its server's signature,
/// `from` becomes that server's data address, and the server hears of it with the next nonce.
fn bind(table: &mut Table, frame: &[u8], from: SocketAddr) {
    let Some((id, nonce)) = frame::read_bind(frame) else {
        return;
    };
    let Some(allocation) = table.by_id.get_mut(&id) else {
        return;
    };
    if nonce != allocation.bind_nonce || frame::check_bind(frame, &allocation.key).is_err() {
        tracing::debug!(id, %from, "a BIND frame refused");
        return;
    }
    allocation.bind_nonce = control::nonce::<{ frame::NONCE_LEN }>();
    let previous = allocation.server.replace(from);
    let _ = allocation.notices.send(Message::Bound {
        address: from.to_string(),
        bind_nonce: hex::encode(allocation.bind_nonce),
    });
    if let Some(previous) = previous {
        table.by_server.remove(&previous);
    }
    table.by_server.insert(from, id);
}
