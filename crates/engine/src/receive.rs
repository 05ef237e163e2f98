//! Receiving transfers: one UDP endpoint serving many [`ReceiverSession`]s demultiplexed by
//! connection id, each writing through its own [`FileSink`] confined to the receiver's root,
//! with the receiver's policy on sender keys, credentials and overwrite modes.

use crate::admission::{Admission, AdmissionCounters, Verdict};
use crate::authorized_keys::{AuthorizedKeys, Refresh};
use crate::clients::Clients;
use crate::error::{Code, Error, Result};
use crate::flags;
use crate::intake::{Intake, IntakeLimit};
use crate::multiplex::{SendRoutes, Serving};
use crate::overwrite::{OverwriteLimit, OverwriteMode};
use crate::pace;
use crate::parts::{self, TransferId};
use crate::record::unix_now_us;
use crate::sandbox::Sandbox;
use crate::sink::{FileSink, SinkOptions, RESERVE_AHEAD};
use crate::udp::{max_datagram_for, UdpEndpoint};
use jetstream_relay::frame;
use jetstream_wire::codec::{ConnectionId, Header};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::{Identity, PublicKey};
use jetstream_wire::files::{
    DataSink, Digest, FileMeta, Kept, SinkReport, StorageError, TransferHeader,
};
use jetstream_wire::session::{
    ErrorCode, ReceiverConfig, ReceiverEvent, ReceiverSession, ReceiverStats, SessionError,
};
use ring::rand::SystemRandom;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most sessions served at once; further ClientHellos are ignored until one ends.
const MAX_SESSIONS: usize = 1024;
/// Most Retry datagrams sent after one batch of received datagrams.
const MAX_RETRIES_QUEUED: usize = 256;

/// How the receiver listens, whom it accepts and what they may do.
#[derive(Clone, Debug)]
pub struct ReceiveOptions {
    /// UDP address to bind (port 0 picks one).
    pub listen: SocketAddr,
    /// Nothing is ever written outside this directory.
    pub root: PathBuf,
    /// Lowest cipher level accepted.
    pub min_cipher: CipherLevel,
    /// A session whose sender is silent this long fails.
    pub idle_timeout: Duration,
    /// Which sender keys are accepted (besides those of `authorized_keys`), or that any is.
    pub clients: Clients,
    /// An authorized-keys file whose keys are accepted too; read again whenever it changes.
    pub authorized_keys: Option<PathBuf>,
    /// The most existing data a sender's overwrite mode may destroy: a transfer asking for
    /// more is refused before anything is written.
    pub max_overwrite: OverwriteLimit,
    /// Write nothing: every transfer is received, verified and dropped as if its sender had
    /// turned the `WRITE` flag off.
    pub discard: bool,
    /// Senders may give a user name and password instead of a known key: each is handed to
    /// the receiver's owner as a [`ReceiveEvent::Login`], and its verdict decides. Without
    /// accounts, a sender that gives credentials is refused.
    pub accounts: bool,
    /// How long a part file no session writes keeps its durable data for the sender's next
    /// session, from its last durable write; older ones are removed when the receiver starts,
    /// at each sweep and every [`EXPIRY_INTERVAL`] while it runs. `None`: kept until a
    /// session of their transfer ends them.
    pub part_file_max_age: Option<Duration>,
}

/// What [`ReceiveOptions::part_file_max_age`] is unless the receiver says otherwise.
pub const PART_FILE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How often the receiver removes the part files left longer than their limit.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);

/// A sender's account credentials, for the receiver's owner to check (the receiver keeps no
/// accounts): the verdict comes back through [`ReceiverControls::settle`].
#[derive(Clone)]
pub struct Login {
    /// Names this check in its verdict.
    pub id: u64,
    /// Sender's address.
    pub peer: SocketAddr,
    /// Sender's identity key.
    pub key: PublicKey,
    /// The account.
    pub user: String,
    /// Its password, as the sender gave it.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("key", &self.key)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The owner's verdict on a [`Login`]: the directory below the root that the user's transfers
/// land in (`""`: the root itself), or the refusal the sender is told.
pub type LoginVerdict = std::result::Result<String, SessionError>;

/// What the receiver reports about its sessions.
#[derive(Clone, Debug)]
pub enum ReceiveEvent {
    /// A sender gave a user name and password; the session waits for the verdict.
    Login(Login),
    /// A sender was accepted and announced its transfer.
    Started {
        /// Sender's address.
        peer: SocketAddr,
        /// Sender's identity key.
        key: PublicKey,
        /// The account the sender logged in as, if it did.
        user: Option<String>,
        /// The transfer's header.
        header: TransferHeader,
    },
    /// A session ended.
    Finished {
        /// Sender's address.
        peer: SocketAddr,
        /// The transfer's header, if it arrived.
        header: Option<TransferHeader>,
        /// Counters, or why it failed.
        result: std::result::Result<ReceiverStats, Error>,
        /// Counters, whether it completed or not.
        stats: ReceiverStats,
    },
    /// The authorized-keys file changed and was read again (when a sender next connected).
    AuthorizedKeysReloaded {
        /// How many keys it holds now, or why it cannot be used: it then trusts no key until
        /// it is fixed.
        result: std::result::Result<usize, Error>,
    },
}

/// Where the counts of a part-file sweep go: removed, kept.
type SweepReply = oneshot::Sender<(usize, usize)>;

/// What the receiver's manager changes or asks of it while it serves; clones share it.
#[derive(Clone, Debug, Default)]
pub struct ReceiverControls {
    /// The most bytes per second all sessions together accept.
    pub intake: IntakeLimit,
    /// Callers waiting for a sweep of the part files.
    sweeps: Arc<Mutex<Vec<SweepReply>>>,
    /// Verdicts on logins, by [`Login::id`], not yet applied.
    verdicts: Arc<Mutex<Vec<(u64, LoginVerdict)>>>,
    /// The relay this receiver is reached through, if any.
    relay: Arc<Mutex<RelayPath>>,
    /// The sending sessions that share the receive port.
    pub routes: SendRoutes,
}

/// The relay a receiver is reached through: its data address, whose datagrams are frames of
/// peers' datagrams, and the frames waiting to go to it.
#[derive(Debug, Default)]
struct RelayPath {
    data: Option<SocketAddr>,
    outbox: Vec<Vec<u8>>,
}

impl ReceiverControls {
    /// Asks the receiver to give back the part files no session writes ([`parts::sweep`]),
    /// between two batches of datagrams, when no session is opening one; the answer is how
    /// many were removed and how many kept (holding durable data to resume from).
    pub fn sweep_parts(&self) -> oneshot::Receiver<(usize, usize)> {
        let (tx, rx) = oneshot::channel();
        self.lock_sweeps().push(tx);
        rx
    }

    /// From now on the receiver is also reached through the relay whose data address is
    /// `data` (`None`: no longer), and sends it `frame` (a BIND frame) from its socket.
    pub fn relay_through(&self, data: Option<SocketAddr>, frame: Option<Vec<u8>>) {
        let mut relay = lock(&self.relay);
        relay.data = data;
        relay.outbox.extend(frame);
    }

    /// Hands the receiver the verdict on login `id`; a session that ended meanwhile ignores it.
    pub fn settle(&self, id: u64, verdict: LoginVerdict) {
        lock(&self.verdicts).push((id, verdict));
    }

    fn lock_sweeps(&self) -> std::sync::MutexGuard<'_, Vec<SweepReply>> {
        lock(&self.sweeps)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often the receive loop looks for verdicts while logins wait for one.
const VERDICT_POLL: Duration = Duration::from_millis(5);

struct Active {
    session: ReceiverSession,
    storage: Storage,
    peer: SocketAddr,
    outcome: Option<std::result::Result<(), SessionError>>,
    /// The login waiting for its verdict, then the account it opened.
    login: Option<(u64, String)>,
    /// The relay data address the sender's datagrams come through, if they do.
    via: Option<SocketAddr>,
}

/// A receiver bound to its UDP port.
pub struct Receiver {
    endpoint: Arc<UdpEndpoint>,
    identity: Identity,
    sandbox: Arc<Sandbox>,
    opts: ReceiveOptions,
    authorized_keys: Option<AuthorizedKeys>,
    sessions: HashMap<ConnectionId, Active>,
    admission: Admission,
    controls: ReceiverControls,
    /// The id of the next [`Login`].
    next_login: u64,
}

impl Receiver {
    /// Reads the authorized-keys file, binds the receiver's port and opens its root.
    pub fn bind(identity: Identity, opts: ReceiveOptions) -> Result<Receiver> {
        let authorized_keys = opts
            .authorized_keys
            .as_deref()
            .map(AuthorizedKeys::load)
            .transpose()?;
        let sandbox = Sandbox::open(&opts.root).map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("receiver root {}: {e}", opts.root.display()),
            )
        })?;
        // Before any session: what a receiver killed earlier on this root left reserved.
        let (removed, kept) = parts::sweep(&sandbox, opts.part_file_max_age);
        if removed + kept > 0 {
            tracing::info!("part files left by an earlier run: {removed} with nothing durable removed, {kept} kept for resumption");
        }
        let endpoint = Arc::new(UdpEndpoint::bind(opts.listen).map_err(|e| {
            Error::new(
                Code::Unavailable,
                format!("cannot listen on {}: {e}", opts.listen),
            )
        })?);
        Ok(Receiver {
            endpoint,
            identity,
            sandbox: Arc::new(sandbox),
            opts,
            authorized_keys,
            sessions: HashMap::new(),
            admission: Admission::new(&SystemRandom::new())
                .map_err(|e| Error::new(Code::Internal, format!("no token key: {e}")))?,
            controls: ReceiverControls::default(),
            next_login: 0,
        })
    }

    /// The authorized-keys file, as read last.
    pub fn authorized_keys(&self) -> Option<&AuthorizedKeys> {
        self.authorized_keys.as_ref()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    /// What the endpoint did with datagrams that had no session, live.
    pub fn admission_counters(&self) -> Arc<AdmissionCounters> {
        self.admission.counters()
    }

    /// The receiver's identity key, which senders may check.
    pub fn public_key(&self) -> PublicKey {
        self.identity.public_key()
    }

    /// The handle through which the receiver is steered while it serves.
    pub fn controls(&self) -> ReceiverControls {
        self.controls.clone()
    }

    /// Serves sessions, reporting each start and end to `on_event`, until it returns
    /// `ControlFlow::Break`.
    pub async fn run(
        &mut self,
        on_event: &mut (dyn FnMut(ReceiveEvent) -> ControlFlow<()> + Send),
    ) -> Result<()> {
        let mut inbound = pace::Inbound::socket(self.endpoint.clone());
        let _serving = Serving::start(self.controls.routes.clone(), self.endpoint.clone());
        let alarm = pace::Alarm::new()
            .map_err(|e| Error::new(Code::Io, format!("cannot make a timer: {e}")))?;
        let mut out = vec![0u8; max_datagram_for(&self.opts.listen)];
        let rng = SystemRandom::new();
        let mut retries = Vec::with_capacity(MAX_RETRIES_QUEUED);
        let config = ReceiverConfig {
            max_datagram: max_datagram_for(&self.opts.listen),
            min_cipher: self.opts.min_cipher,
            idle_timeout: self.opts.idle_timeout,
            ..ReceiverConfig::default()
        };
        let relayed_config = ReceiverConfig {
            max_datagram: config.max_datagram - frame::MAX_DATA_HEADER,
            ..config.clone()
        };
        let mut framed = Vec::new();
        let mut intake = Intake::new(
            self.controls.intake.clone(),
            max_datagram_for(&self.opts.listen),
        );
        let mut next_expiry = Instant::now() + EXPIRY_INTERVAL;
        loop {
            let sweeps = std::mem::take(&mut *self.controls.lock_sweeps());
            if !sweeps.is_empty() {
                let swept = parts::sweep(&self.sandbox, self.opts.part_file_max_age);
                for reply in sweeps {
                    let _ = reply.send(swept);
                }
            }
            let (relay, outbox) = {
                let mut path = lock(&self.controls.relay);
                (path.data, std::mem::take(&mut path.outbox))
            };
            for frame in outbox {
                if let Some(data) = relay {
                    if let Err(e) = self.endpoint.send(data, &frame, frame.len()).await {
                        tracing::debug!(%data, "send to the relay failed: {e}");
                    }
                }
            }
            let now = Instant::now();
            let waiting = self.sessions.values().any(Active::awaits_verdict);
            if now >= next_expiry {
                next_expiry = now + EXPIRY_INTERVAL;
                self.expire_parts();
            }
            let deadline = self
                .sessions
                .values()
                .filter_map(|a| a.session.poll_timeout())
                .chain(waiting.then_some(now + VERDICT_POLL))
                .min()
                .unwrap_or(now + Duration::from_secs(1));
            let Receiver {
                identity,
                sandbox,
                opts,
                sessions,
                admission,
                controls,
                ..
            } = self;
            let routes = &controls.routes;
            let mut handle = |at: Instant, from: SocketAddr, datagram: &mut [u8]| {
                // A frame from the relay carries a peer's datagram as the peer sent it.
                let (peer, datagram, via) = match relay {
                    Some(data) if from == data => match frame::read_data_mut(datagram) {
                        Some((peer, datagram)) => (peer, datagram, Some(data)),
                        None => return,
                    },
                    _ => (from, datagram, None),
                };
                let Ok(header) = Header::decode(datagram) else {
                    return;
                };
                let cid = header.cid();
                if let Some(active) = sessions.get_mut(&cid) {
                    // A handshake message draws an answer to the session's sender, so only
                    // its own address may send one.
                    let protected = matches!(header, Header::Protected { .. });
                    if protected && !intake.admit(at, datagram.len()) {
                        return;
                    }
                    if peer == active.peer || protected {
                        active
                            .session
                            .handle_datagram(at, datagram, &mut active.storage);
                    }
                    return;
                }
                // An answer to one of this engine's sending sessions on this port.
                if via.is_none() && routes.deliver(&cid, at, peer, datagram) {
                    return;
                }
                let Header::Handshake { kind, .. } = header else {
                    return;
                };
                if sessions.len() >= MAX_SESSIONS {
                    return;
                }
                let half_open = |ip: IpAddr| half_open(sessions, ip);
                match admission.judge(at, peer, &cid, kind, datagram, half_open) {
                    Verdict::Drop => {}
                    Verdict::Retry(retry) => {
                        if retries.len() < MAX_RETRIES_QUEUED {
                            retries.push((peer, via, retry));
                        }
                    }
                    Verdict::Admit => {
                        // Frames through the relay are longer than what they carry.
                        let config = match via {
                            Some(_) => relayed_config.clone(),
                            None => config.clone(),
                        };
                        match ReceiverSession::accept(at, &rng, identity, config, datagram) {
                            Ok(mut session) => {
                                session.offer_token(admission.resumption_token(at, peer.ip()));
                                sessions.insert(
                                    cid,
                                    Active {
                                        session,
                                        storage: Storage::new(
                                            sandbox.clone(),
                                            opts.max_overwrite,
                                            opts.discard,
                                        ),
                                        peer,
                                        outcome: None,
                                        login: None,
                                        via,
                                    },
                                );
                            }
                            Err(e) => tracing::debug!(%peer, "refused a ClientHello: {e}"),
                        }
                    }
                }
            };
            if let Err(e) = pace::recv_until(&mut inbound, &alarm, deadline, &mut handle).await {
                // An ICMP answer to one of our datagrams (a sender that went away) surfaces
                // here; it concerns that sender alone, whose session times out.
                if !is_transient(&e) {
                    return Err(Error::new(Code::Io, format!("receive failed: {e}")));
                }
                tracing::debug!("ignored a socket error: {e}");
            }
            for (peer, via, retry) in retries.drain(..) {
                transmit(&self.endpoint, via, peer, &retry, &mut framed).await;
            }
            if self
                .service(&mut out, &mut framed, on_event)
                .await?
                .is_break()
            {
                return Ok(());
            }
        }
    }

    /// Removes the part files left longer than the limit (a look at the short list of those
    /// left, between two batches of datagrams).
    fn expire_parts(&self) {
        let Some(max_age) = self.opts.part_file_max_age else {
            return;
        };
        let removed = (self.sandbox.part_owners()).expire(&self.sandbox, max_age, unix_now_us());
        if removed > 0 {
            tracing::info!("{removed} part files left longer than {max_age:?} removed");
        }
    }

    /// Timers, events and transmissions of every session; ends the finished ones.
    async fn service(
        &mut self,
        out: &mut [u8],
        framed: &mut Vec<u8>,
        on_event: &mut (dyn FnMut(ReceiveEvent) -> ControlFlow<()> + Send),
    ) -> Result<ControlFlow<()>> {
        let now = Instant::now();
        let mut flow = ControlFlow::Continue(());
        for (id, verdict) in std::mem::take(&mut *lock(&self.controls.verdicts)) {
            if let Some(active) = self
                .sessions
                .values_mut()
                .find(|a| a.awaits_verdict() && a.login.as_ref().is_some_and(|l| l.0 == id))
            {
                active.settle(now, verdict);
            }
        }
        for active in self.sessions.values_mut() {
            let session = &mut active.session;
            if session.poll_timeout().is_some_and(|t| t <= now) {
                session.handle_timeout(now);
            }
            session.poll_sink(now, &mut active.storage);
            while let Some(event) = session.poll_event() {
                match event {
                    ReceiverEvent::Authenticate { peer, auth }
                        if self.opts.accounts && !auth.user.is_empty() && auth.token.is_empty() =>
                    {
                        let id = self.next_login;
                        self.next_login += 1;
                        active.login = Some((id, auth.user.clone()));
                        active.storage.sender = Some(peer);
                        let login = Login {
                            id,
                            peer: active.peer,
                            key: peer,
                            user: auth.user,
                            password: auth.password,
                        };
                        if on_event(ReceiveEvent::Login(login)).is_break() {
                            flow = ControlFlow::Break(());
                        }
                    }
                    ReceiverEvent::Authenticate { peer, auth } => {
                        if refresh(&mut self.authorized_keys, on_event).is_break() {
                            flow = ControlFlow::Break(());
                        }
                        let file = self.authorized_keys.as_ref();
                        active.storage.sender = Some(peer);
                        let verdict = authorize(&self.opts.clients, file, &peer, &auth);
                        session.authorize(now, verdict, &mut active.storage);
                    }
                    ReceiverEvent::TransferStarted(header) => {
                        let key = session.peer_key().expect("keys precede the transfer");
                        if on_event(ReceiveEvent::Started {
                            peer: active.peer,
                            key,
                            user: active.login.as_ref().map(|(_, user)| user.clone()),
                            header,
                        })
                        .is_break()
                        {
                            flow = ControlFlow::Break(());
                        }
                    }
                    ReceiverEvent::Complete => active.outcome = Some(Ok(())),
                    ReceiverEvent::Failed(e) => active.outcome = Some(Err(e)),
                    ReceiverEvent::FileComplete(_) => {}
                }
            }
            while let Some(n) = session.poll_transmit(now, out) {
                transmit(&self.endpoint, active.via, active.peer, &out[..n], framed).await;
            }
        }
        let ended: Vec<ConnectionId> = self
            .sessions
            .iter()
            .filter(|(_, a)| a.session.is_closed())
            .map(|(cid, _)| *cid)
            .collect();
        for cid in ended {
            let active = self.sessions.remove(&cid).expect("listed above");
            let result = match active.outcome {
                Some(Ok(())) => Ok(active.session.stats()),
                Some(Err(e)) => Err(Error::from(e)),
                None => Err(Error::new(Code::Internal, "session ended without a result")),
            };
            if on_event(ReceiveEvent::Finished {
                peer: active.peer,
                header: active.session.header().cloned(),
                result,
                stats: active.session.stats(),
            })
            .is_break()
            {
                flow = ControlFlow::Break(());
            }
        }
        Ok(flow)
    }
}

impl Active {
    /// Whether the session waits for its owner's verdict on a login.
    fn awaits_verdict(&self) -> bool {
        self.login.is_some() && self.session.awaits_verdict()
    }

    /// Applies the owner's verdict on the session's login: its transfer lands below the
    /// user's directory, or the sender is told why not.
    fn settle(&mut self, now: Instant, verdict: LoginVerdict) {
        let verdict = verdict.map(|base| self.storage.base = base);
        self.session.authorize(now, verdict, &mut self.storage);
    }
}

/// Sends `datagram` to `peer`: directly, or framed through the relay whose data address is
/// `via`. A failure concerns that peer alone, whose session times out.
async fn transmit(
    endpoint: &UdpEndpoint,
    via: Option<SocketAddr>,
    peer: SocketAddr,
    datagram: &[u8],
    framed: &mut Vec<u8>,
) {
    let sent = match via {
        None => endpoint.send(peer, datagram, datagram.len()).await,
        Some(data) => {
            frame::frame_data(&peer, datagram, framed);
            endpoint.send(data, framed, framed.len()).await
        }
    };
    if let Err(e) = sent {
        tracing::debug!(%peer, "send failed: {e}");
    }
}

/// Sessions of `ip` still in their handshake, and in all.
fn half_open(sessions: &HashMap<ConnectionId, Active>, ip: IpAddr) -> (usize, usize) {
    let ip = ip.to_canonical();
    sessions
        .values()
        .filter(|a| a.session.is_half_open())
        .fold((0, 0), |(of_ip, all), a| {
            (
                of_ip + usize::from(a.peer.ip().to_canonical() == ip),
                all + 1,
            )
        })
}

/// Socket errors that report on one peer (ICMP unreachable answers), not on the socket.
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | HostUnreachable | NetworkUnreachable | Interrupted
    )
}

/// Reads the authorized-keys file again if it changed, and reports it.
fn refresh(
    file: &mut Option<AuthorizedKeys>,
    on_event: &mut (dyn FnMut(ReceiveEvent) -> ControlFlow<()> + Send),
) -> ControlFlow<()> {
    let result = match file.as_mut().map(AuthorizedKeys::refresh) {
        None | Some(Ok(Refresh::Unchanged)) => return ControlFlow::Continue(()),
        Some(Ok(Refresh::Reloaded(keys))) => Ok(keys),
        Some(Err(e)) => Err(Error::from(e)),
    };
    on_event(ReceiveEvent::AuthorizedKeysReloaded { result })
}

/// The receiver's verdict on a sender that gave no account to log in to (or one this
/// receiver cannot check): its key must be one of `clients` (unless those accept any) or of the
/// authorized-keys `file`, and it may bring no other credentials.
fn authorize(
    clients: &Clients,
    file: Option<&AuthorizedKeys>,
    key: &PublicKey,
    auth: &jetstream_wire::codec::Auth,
) -> std::result::Result<(), SessionError> {
    let refuse = |message: String| {
        Err(SessionError {
            code: ErrorCode::AuthFailed,
            message,
            remote: false,
            file: None,
        })
    };
    if !auth.token.is_empty() {
        return refuse(
            "a shared token grants downloads from the server that made it (authToken, then \
             createDownload), not transfers to a receiver"
                .into(),
        );
    }
    if !auth.user.is_empty() {
        return refuse(
            "this receiver keeps no user accounts: it accepts senders by their keys".into(),
        );
    }
    if !auth.password.is_empty() {
        return refuse("a password came without a user name".into());
    }
    if !clients.allows(key) && !file.is_some_and(|file| file.contains(key)) {
        return refuse(format!(
            "sender key {key} is not authorized by the receiver"
        ));
    }
    Ok(())
}

/// A session's storage: the sink is made once the transfer's header says how to write, and
/// the receiver allows it.
struct Storage {
    sandbox: Arc<Sandbox>,
    max_overwrite: OverwriteLimit,
    /// Nothing is written, whatever the header's flags.
    discard: bool,
    /// The directory below the root that the transfer's destination is taken from: the
    /// account's, for a sender that logged in (empty: the root).
    base: String,
    /// The sender's key, once its session is authenticated.
    sender: Option<PublicKey>,
    sink: Option<FileSink>,
}

impl Storage {
    fn new(sandbox: Arc<Sandbox>, max_overwrite: OverwriteLimit, discard: bool) -> Self {
        Storage {
            sandbox,
            max_overwrite,
            discard,
            base: String::new(),
            sender: None,
            sink: None,
        }
    }

    fn sink(&mut self, file: u32) -> std::result::Result<&mut FileSink, StorageError> {
        self.sink.as_mut().ok_or_else(|| StorageError {
            file,
            message: "file data before the transfer header".into(),
        })
    }
}

impl DataSink for Storage {
    fn begin(&mut self, header: &TransferHeader) -> std::result::Result<(), SessionError> {
        let refuse = |code: ErrorCode, message: String| SessionError {
            code,
            message,
            remote: false,
            file: None,
        };
        if header.flags & !flags::ALL != 0 {
            return Err(refuse(
                ErrorCode::Protocol,
                format!("unknown transfer flags {:#x}", header.flags),
            ));
        }
        let overwrite = OverwriteMode::from_u8(header.overwrite).ok_or_else(|| {
            refuse(
                ErrorCode::Protocol,
                format!("unknown overwrite mode {}", header.overwrite),
            )
        })?;
        if !self.max_overwrite.allows(overwrite) {
            return Err(refuse(
                ErrorCode::PermissionDenied,
                format!(
                    "overwrite mode {overwrite} is above this receiver's maximum, {}",
                    self.max_overwrite
                ),
            ));
        }
        let dest_dir = match (self.base.as_str(), header.dest_dir.as_str()) {
            ("", dest) => dest.to_owned(),
            (base, "") => base.to_owned(),
            (base, dest) => format!("{base}/{dest}"),
        };
        let opts = SinkOptions {
            dest_dir,
            overwrite,
            write: header.flags & flags::WRITE != 0 && !self.discard,
            write_mtime: header.flags & flags::WRITE_MTIME != 0,
            only_newer: (header.flags & flags::WRITE_ONLY_NEWER != 0)
                .then_some(header.time_resolution_us as i64),
            verify: header.verify,
            skip: header.skip,
            time_resolution_us: i64::try_from(header.time_resolution_us).unwrap_or(i64::MAX),
            reserve_ahead: RESERVE_AHEAD,
            transfer: TransferId {
                sender: self.sender.ok_or_else(|| {
                    refuse(
                        ErrorCode::Protocol,
                        "transfer header before the sender was authenticated".into(),
                    )
                })?,
                id: header.id,
            },
        };
        let sink = FileSink::new(self.sandbox.clone(), opts)
            .map_err(|e| refuse(ErrorCode::Io, e.to_string()))?;
        self.sink = Some(sink);
        Ok(())
    }

    fn open(&mut self, file: u32, meta: &FileMeta) -> std::result::Result<u64, StorageError> {
        self.sink(file)?.open(file, meta)
    }

    fn kept(&self, file: u32) -> Option<Kept> {
        self.sink.as_ref().and_then(|sink| sink.kept(file))
    }

    fn write_at(
        &mut self,
        file: u32,
        offset: u64,
        data: &[u8],
    ) -> std::result::Result<(), StorageError> {
        self.sink(file)?.write_at(file, offset, data)
    }

    fn finish(
        &mut self,
        file: u32,
        digest: Option<&Digest>,
    ) -> std::result::Result<(), StorageError> {
        self.sink(file)?.finish(file, digest)
    }

    fn sync(&mut self, files: &[(u32, u64)]) -> std::result::Result<(), StorageError> {
        self.sink.as_mut().map_or(Ok(()), |sink| sink.sync(files))
    }

    fn release(&mut self) -> std::result::Result<(), StorageError> {
        self.sink.as_mut().map_or(Ok(()), FileSink::release)
    }

    fn abandon(&mut self) -> std::result::Result<(), StorageError> {
        self.sink.as_mut().map_or(Ok(()), FileSink::abandon)
    }

    fn poll_report(&mut self) -> std::result::Result<Option<SinkReport>, StorageError> {
        self.sink.as_mut().map_or(Ok(None), FileSink::poll_report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jetstream_wire::codec::Auth;

    fn auth(user: &str, password: &str, token: &str) -> Auth {
        Auth {
            user: user.into(),
            password: password.into(),
            token: token.into(),
        }
    }

    #[test]
    fn credentials_a_receiver_cannot_check_are_refused_with_what_it_takes_instead() {
        let key = PublicKey([7; 32]);
        let anyone = Clients::any();
        let verdict = |a: Auth| authorize(&anyone, None, &key, &a).unwrap_err();
        let token = verdict(auth("", "", "ab12"));
        assert_eq!(token.code, ErrorCode::AuthFailed);
        assert!(token.message.contains("downloads"), "{}", token.message);
        let user = verdict(auth("ann", "secret", ""));
        assert!(
            user.message.contains("no user accounts"),
            "{}",
            user.message
        );
        let password = verdict(auth("", "secret", ""));
        assert!(
            password.message.contains("without a user name"),
            "{}",
            password.message
        );
        assert!(authorize(&anyone, None, &key, &auth("", "", "")).is_ok());
        let unknown = authorize(&Clients::only(&[]), None, &key, &auth("", "", "")).unwrap_err();
        assert!(
            unknown.message.contains("not authorized"),
            "{}",
            unknown.message
        );
    }
}
