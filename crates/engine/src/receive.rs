//! Receiving transfers: one UDP endpoint serving many [`ReceiverSession`]s demultiplexed by
//! connection id, each writing through its own [`FileSink`] confined to the receiver's root,
//! with the receiver's policy on sender keys, credentials and overwrite modes.

use crate::admission::{Admission, AdmissionCounters, Verdict};
use crate::authorized_keys::{AuthorizedKeys, Refresh};
use crate::clients::Clients;
use crate::error::{Code, Error, Result};
use crate::flags;
use crate::intake::{Intake, IntakeLimit};
use crate::overwrite::{OverwriteLimit, OverwriteMode};
use crate::pace;
use crate::parts;
use crate::sandbox::Sandbox;
use crate::sink::{FileSink, SinkOptions, RESERVE_AHEAD};
use crate::udp::{max_datagram_for, UdpEndpoint};
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
}

/// What the receiver reports about its sessions.
#[derive(Clone, Debug)]
pub enum ReceiveEvent {
    /// A sender was accepted and announced its transfer.
    Started {
        /// Sender's address.
        peer: SocketAddr,
        /// Sender's identity key.
        key: PublicKey,
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

    fn lock_sweeps(&self) -> std::sync::MutexGuard<'_, Vec<SweepReply>> {
        self.sweeps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Active {
    session: ReceiverSession,
    storage: Storage,
    peer: SocketAddr,
    outcome: Option<std::result::Result<(), SessionError>>,
}

/// A receiver bound to its UDP port.
pub struct Receiver {
    endpoint: UdpEndpoint,
    identity: Identity,
    sandbox: Arc<Sandbox>,
    opts: ReceiveOptions,
    authorized_keys: Option<AuthorizedKeys>,
    sessions: HashMap<ConnectionId, Active>,
    admission: Admission,
    controls: ReceiverControls,
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
        let (removed, kept) = parts::sweep(&sandbox);
        if removed + kept > 0 {
            tracing::info!("part files left by an earlier run: {removed} with nothing durable removed, {kept} kept for resumption");
        }
        let endpoint = UdpEndpoint::bind(opts.listen).map_err(|e| {
            Error::new(
                Code::Unavailable,
                format!("cannot listen on {}: {e}", opts.listen),
            )
        })?;
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
        let mut inbuf = vec![0u8; self.endpoint.recv_buffer_len()];
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
        let mut intake = Intake::new(
            self.controls.intake.clone(),
            max_datagram_for(&self.opts.listen),
        );
        loop {
            let sweeps = std::mem::take(&mut *self.controls.lock_sweeps());
            if !sweeps.is_empty() {
                let swept = parts::sweep(&self.sandbox);
                for reply in sweeps {
                    let _ = reply.send(swept);
                }
            }
            let now = Instant::now();
            let deadline = self
                .sessions
                .values()
                .filter_map(|a| a.session.poll_timeout())
                .min()
                .unwrap_or(now + Duration::from_secs(1));
            let Receiver {
                endpoint,
                identity,
                sandbox,
                opts,
                sessions,
                admission,
                ..
            } = self;
            let mut handle = |at: Instant, peer: SocketAddr, datagram: &mut [u8]| {
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
                            retries.push((peer, retry));
                        }
                    }
                    Verdict::Admit => {
                        match ReceiverSession::accept(at, &rng, identity, config.clone(), datagram)
                        {
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
                                    },
                                );
                            }
                            Err(e) => tracing::debug!(%peer, "refused a ClientHello: {e}"),
                        }
                    }
                }
            };
            if let Err(e) =
                pace::recv_until(endpoint, &alarm, &mut inbuf, deadline, &mut handle).await
            {
                // An ICMP answer to one of our datagrams (a sender that went away) surfaces
                // here; it concerns that sender alone, whose session times out.
                if !is_transient(&e) {
                    return Err(Error::new(Code::Io, format!("receive failed: {e}")));
                }
                tracing::debug!("ignored a socket error: {e}");
            }
            for (peer, retry) in retries.drain(..) {
                if let Err(e) = self.endpoint.send(peer, &retry, retry.len()).await {
                    tracing::debug!(%peer, "send failed: {e}");
                }
            }
            if self.service(&mut out, on_event).await?.is_break() {
                return Ok(());
            }
        }
    }

    /// Timers, events and transmissions of every session; ends the finished ones.
    async fn service(
        &mut self,
        out: &mut [u8],
        on_event: &mut (dyn FnMut(ReceiveEvent) -> ControlFlow<()> + Send),
    ) -> Result<ControlFlow<()>> {
        let now = Instant::now();
        let mut flow = ControlFlow::Continue(());
        for active in self.sessions.values_mut() {
            let session = &mut active.session;
            if session.poll_timeout().is_some_and(|t| t <= now) {
                session.handle_timeout(now);
            }
            session.poll_sink(now, &mut active.storage);
            while let Some(event) = session.poll_event() {
                match event {
                    ReceiverEvent::Authenticate { peer, auth } => {
                        if refresh(&mut self.authorized_keys, on_event).is_break() {
                            flow = ControlFlow::Break(());
                        }
                        let file = self.authorized_keys.as_ref();
                        session.authorize(authorize(&self.opts.clients, file, &peer, &auth));
                    }
                    ReceiverEvent::TransferStarted(header) => {
                        let key = session.peer_key().expect("keys precede the transfer");
                        if on_event(ReceiveEvent::Started {
                            peer: active.peer,
                            key,
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
                if let Err(e) = self.endpoint.send(active.peer, &out[..n], n).await {
                    tracing::debug!(peer = %active.peer, "send failed: {e}");
                }
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

/// The receiver's verdict on a sender's key and credentials: the key must be one of `clients`
/// (unless those accept any) or of the authorized-keys `file`.
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
    if !clients.allows(key) && !file.is_some_and(|file| file.contains(key)) {
        return refuse(format!(
            "sender key {key} is not authorized by the receiver"
        ));
    }
    if !auth.user.is_empty() || !auth.password.is_empty() || !auth.token.is_empty() {
        return refuse(
            "this receiver has no accounts or tokens to check credentials against".into(),
        );
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
    sink: Option<FileSink>,
}

impl Storage {
    fn new(sandbox: Arc<Sandbox>, max_overwrite: OverwriteLimit, discard: bool) -> Self {
        Storage {
            sandbox,
            max_overwrite,
            discard,
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
        let opts = SinkOptions {
            dest_dir: header.dest_dir.clone(),
            overwrite,
            write: header.flags & flags::WRITE != 0 && !self.discard,
            write_mtime: header.flags & flags::WRITE_MTIME != 0,
            only_newer: (header.flags & flags::WRITE_ONLY_NEWER != 0)
                .then_some(header.time_resolution_us as i64),
            verify: header.verify,
            reserve_ahead: RESERVE_AHEAD,
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
