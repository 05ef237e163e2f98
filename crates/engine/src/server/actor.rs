//! The actor: the one task that owns the object store, the running transfers and the waiting
//! callers. Commands, traversal results, transfer progress and receiver events all arrive as
//! [`Msg`]s and are handled one at a time, so no state is shared and nothing is locked.

use super::accounts::Login;
use super::caller::Caller;
use super::events::{EventError, Events, ServerEvent};
use super::files::FileOp;
use super::info::{self, ServerInfo, API_VERSION};
use super::logins::Logins;
use super::password_checks::PasswordChecks;
use super::pings::SessionPing;
use super::reads;
use super::receiving::ReceiverHandle;
use super::runner::{Outcome, Running};
use super::sessions::Sessions;
use super::transfers::StartQueue;
use super::ServerOptions;
use crate::command::Command;
use crate::error::{Code, Error, Result};
use crate::identity;
use crate::receive::ReceiveEvent;
use crate::send::Progress;
use crate::store::{self, BandwidthLimits, ManifestFile, NewEvent, Store};
use jetstream_wire::codec::Auth;
use jetstream_wire::crypto::handshake::Identity;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// What the actor handles.
pub(super) enum Msg {
    /// A client's command, on whose behalf it runs, and where its answer goes.
    Execute {
        caller: Caller,
        command: Command,
        reply: oneshot::Sender<Result<Value>>,
    },
    /// Entries of a manifest being traversed, in order.
    Entries {
        manifest_id: String,
        files: Vec<ManifestFile>,
    },
    /// A manifest's traversal ended: its entry count and size, or why it failed.
    Walked {
        manifest_id: String,
        totals: std::result::Result<(u64, u64), String>,
    },
    /// A running transfer's latest figures.
    Progress {
        transfer_id: u64,
        progress: Progress,
    },
    /// A running transfer ended.
    Ended { transfer_id: u64, outcome: Outcome },
    /// A ping session of a destination ended.
    Pinged {
        destination_id: String,
        responder: Responder,
        result: Result<super::pings::PingReply>,
    },
    /// The receiver accepted or finished a transfer.
    Received(ReceiveEvent),
    /// A login's password was checked.
    Authenticated {
        address: Option<std::net::IpAddr>,
        ok: bool,
        waiter: super::accounts::Waiter,
    },
    /// The receiver stopped serving.
    ReceiverStopped(Error),
    /// Work done off the actor's thread ended: its result, and the event it leaves.
    Worked {
        responder: Responder,
        result: Result<Value>,
        event: Option<NewEvent>,
    },
    /// Stop everything.
    Close { reply: oneshot::Sender<()> },
}

/// Where a command's result goes.
pub(super) enum Responder {
    /// A caller waiting for the result itself.
    Caller(oneshot::Sender<Result<Value>>),
    /// A caller of an `*Async` method, waiting for its Request structure: answered as soon as
    /// the command is accepted (or refused).
    Async {
        reply: oneshot::Sender<Result<Value>>,
        method: &'static str,
    },
    /// A request already answered: its result is recorded in the store.
    Request(u64),
}

/// The actor's state.
pub(super) struct Actor {
    pub(super) store: Store,
    pub(super) identity: Arc<Identity>,
    pub(super) info: ServerInfo,
    pub(super) opts: ServerOptions,
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    pub(super) receiver: ReceiverHandle,
    /// Where events go.
    pub(super) events: Events,
    /// Transfers with a session running, by transfer id.
    pub(super) running: HashMap<u64, Running>,
    /// Ping requests waiting for PONGs inside a running transfer's session.
    pub(super) session_pings: Vec<SessionPing>,
    /// Credentials of transfers not ended yet, by transfer id (never stored).
    pub(super) credentials: HashMap<u64, Auth>,
    /// The transfers that may have to start.
    pub(super) start_queue: StartQueue,
    /// Callers of `waitForManifest`, by manifest id.
    pub(super) manifest_waiters: HashMap<String, Vec<Responder>>,
    /// Callers of `waitForTransfer`, by transfer id.
    pub(super) transfer_waiters: HashMap<u64, Vec<Responder>>,
    /// Callers of `getRequestResult`, by request id.
    pub(super) request_waiters: HashMap<u64, Vec<Responder>>,
    /// Manifests being traversed that lost a batch of entries to a store failure, with the
    /// failure: they fail when their traversal ends instead of completing short.
    pub(super) unsaved_entries: HashMap<String, String>,
    /// Transfers that ended but whose end the store did not save, with that failure: the store
    /// still lists them as queued, yet they are not started again while this server runs, and
    /// whoever waits for their end gets the failure.
    pub(super) unsaved_ends: HashMap<u64, Error>,
    /// The sessions of the users logged in, shared with the readers that check bearers.
    pub(super) sessions: Arc<Sessions>,
    /// Logins by address: those under way, waiting, and the failures.
    pub(super) logins: Logins<Login>,
    /// The threads that check passwords.
    pub(super) password_checks: PasswordChecks,
    /// The sandbox directory with every symbolic link resolved: the base of API tokens'
    /// directories.
    pub(super) sandbox_root: std::path::PathBuf,
    /// The server-wide caps in force.
    pub(super) bandwidth: BandwidthLimits,
}

/// The current Unix time in microseconds.
pub(super) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Logs a failed store write the server does without: figures and states the API shows (of a
/// destination, a connection or a running transfer) that no transfer depends on, and that the
/// next event mostly writes again. `what` names the object and the figures. An object deleted
/// meanwhile is no failure.
pub(super) fn stored(what: impl Display, result: store::Result<()>) {
    match result {
        Ok(()) => {}
        Err(e) if e.is_not_found() => tracing::debug!("{what} not saved: {e}"),
        Err(e) => tracing::warn!("{what} not saved: {e}"),
    }
}

/// Waits until `when`; forever without it.
async fn at(when: Option<std::time::Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when.into()).await,
        None => std::future::pending().await,
    }
}

/// `value` as JSON.
pub(super) fn to_json<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::new(Code::Internal, e.to_string()).with_source(e))
}

impl Actor {
    /// Opens the state directory (store, identity) and starts the receiver.
    pub(super) fn open(
        opts: ServerOptions,
        tx: mpsc::UnboundedSender<Msg>,
        sessions: Arc<Sessions>,
        events: Events,
    ) -> Result<Actor> {
        let io = |what: &str, e: std::io::Error| Error::from(e).context(what);
        // Read while this server's threads create no file yet.
        crate::umask::umask();
        std::fs::create_dir_all(&opts.state_dir)
            .map_err(|e| io(&format!("state directory {}", opts.state_dir.display()), e))?;
        std::fs::create_dir_all(&opts.sandbox_dir)
            .map_err(|e| io(&format!("sandbox {}", opts.sandbox_dir.display()), e))?;
        let sandbox_root = opts
            .sandbox_dir
            .canonicalize()
            .map_err(|e| io(&format!("sandbox {}", opts.sandbox_dir.display()), e))?;
        // The sender and the receiver each own a copy of the one identity key.
        let key_file = &opts.identity_file;
        let identity = Arc::new(identity::load_or_create(key_file)?);
        let mut store = Store::open(&opts.state_dir.join(super::STORE_FILE))?;
        // Before the receiver starts: no sender meets a list about to change.
        if let Some(only) = opts.only_authorized_clients {
            store.set_only_authorized(only)?;
        }
        for key in &opts.authorized_clients {
            store.add_client(&key.to_string(), now_us())?;
        }
        let public_key = identity.public_key().to_string();
        let server_id = info::new_server_id()?;
        let receiver = ReceiverHandle::start(
            identity::load_or_create(key_file)?,
            &opts,
            &store,
            tx.clone(),
        )?;
        let local = receiver.receiving().map(|r| r.local_addr);
        let host = info::host_name();
        let info = ServerInfo {
            server_id,
            server_uid: public_key[..32].to_owned(),
            server_name: host.clone(),
            host_name: host,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            api_version: API_VERSION.to_owned(),
            public_key,
            recv_address: local.map(|l| l.ip().to_string()).unwrap_or_default(),
            recv_port: local.map_or(0, |l| l.port()),
            api_control_port: opts.api_control_port,
            sandbox_dir: opts.sandbox_dir.display().to_string(),
            min_cipher: u32::from(opts.min_cipher as u8),
            encryption_available: true,
            multiplex_available: local.is_some(),
            auth_required: opts.auth_required,
            only_authorized_clients_allowed: receiver.clients().only_authorized,
            max_overwrite_mode: u32::from(opts.max_overwrite.widest().code()),
            bandwidth_limits: BandwidthLimits::default(),
        };
        let bandwidth = store.bandwidth_limits()?;
        let mut actor = Actor {
            store,
            identity,
            info,
            opts,
            tx,
            receiver,
            events,
            running: HashMap::new(),
            session_pings: Vec::new(),
            credentials: HashMap::new(),
            start_queue: StartQueue::default(),
            manifest_waiters: HashMap::new(),
            transfer_waiters: HashMap::new(),
            request_waiters: HashMap::new(),
            unsaved_entries: HashMap::new(),
            unsaved_ends: HashMap::new(),
            sessions,
            logins: Logins::default(),
            password_checks: PasswordChecks::start()
                .map_err(|e| io("password-check threads", e))?,
            sandbox_root,
            bandwidth,
        };
        actor.apply_bandwidth_limits(bandwidth);
        Ok(actor)
    }

    pub(super) fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// Handles messages until `Close` (or until every handle is gone).
    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        self.recover();
        let mut prune = tokio::time::interval(Duration::from_secs(60));
        loop {
            let logins_due = self.logins.next_due();
            let msg = tokio::select! {
                msg = rx.recv() => msg,
                _ = prune.tick() => {
                    if let Err(e) = self.store.prune_requests(now_us()) {
                        tracing::warn!("pruning requests: {e}");
                    }
                    continue;
                }
                () = at(logins_due) => {
                    self.logins_due();
                    continue;
                }
            };
            match msg {
                Some(Msg::Close { reply }) => {
                    self.shutdown().await;
                    let _ = reply.send(());
                    return;
                }
                None => {
                    self.shutdown().await;
                    return;
                }
                Some(msg) => self.handle(msg),
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Execute {
                caller,
                command,
                reply,
            } => {
                let responder = if command.is_async() {
                    Responder::Async {
                        reply,
                        method: command.method(),
                    }
                } else {
                    Responder::Caller(reply)
                };
                self.dispatch(&caller, command, responder);
            }
            Msg::Entries { manifest_id, files } => self.on_entries(&manifest_id, &files),
            Msg::Walked {
                manifest_id,
                totals,
            } => self.on_walked(&manifest_id, totals),
            Msg::Progress {
                transfer_id,
                progress,
            } => self.on_progress(transfer_id, &progress),
            Msg::Ended {
                transfer_id,
                outcome,
            } => self.on_ended(transfer_id, outcome),
            Msg::Pinged {
                destination_id,
                responder,
                result,
            } => self.on_pinged(&destination_id, responder, result),
            Msg::Received(event) => self.on_received(event),
            Msg::Authenticated {
                address,
                ok,
                waiter,
            } => self.on_authenticated(address, ok, waiter),
            Msg::ReceiverStopped(e) => self.events.emit(ServerEvent::ReceiverStopped {
                error: EventError::from(&e),
            }),
            Msg::Worked {
                responder,
                result,
                event,
            } => {
                if let Some(event) = event {
                    self.record(event);
                }
                self.respond(responder, result);
            }
            Msg::Close { .. } => unreachable!("handled by run"),
        }
    }

    /// Runs one command on behalf of `caller`; its result goes to `responder`, now or later.
    fn dispatch(&mut self, caller: &Caller, command: Command, responder: Responder) {
        use Command as C;
        if let Some(result) = reads::read(&self.store, &command) {
            return self.respond(responder, result);
        }
        let result = match command {
            C::CreateDestination(p) => self.create_destination(&p),
            C::DeleteDestination(p) => self.delete_destination(&p.destination_id),
            C::SetSendRateMaxAsync(p) => self.set_send_rate_max(&p),
            C::SetPriorityLanesAsync(p) => self.set_priority_lanes(&p),
            C::UpdateTransferDefaults(p) => self.update_transfer_defaults(&p),
            C::SchedulePingAsync(p) => return self.schedule_ping(&p, responder),
            C::UpdateConnectionParamsAsync(p) => self.update_connection_params(&p),
            C::CreateManifest(p) => self.create_manifest(caller, &p),
            C::DeleteManifest(p) => self.delete_manifest(&p.manifest_id),
            C::WaitForManifest(p) => return self.wait_for_manifest(p.manifest_id, responder),
            C::CreateTransfer(p) => self.create_transfer(&p),
            C::DeleteTransfer(p) => self.delete_transfer(p.transfer_id),
            C::FailTransfer(p) => self.fail_transfer(&p),
            C::SuspendTransferAsync(p) => self.suspend_transfer(p.transfer_id),
            C::ResumeTransferAsync(p) => self.resume_transfer(p.transfer_id),
            C::SetTransferPriorityAsync(p) => self.set_transfer_priority(&p),
            C::SetTransferSendRateMaxAsync(p) => self.set_transfer_send_rate_max(&p),
            C::WaitForTransfer(p) => return self.wait_for_transfer(p.transfer_id, responder),
            C::CreateSharedToken(p) => self.create_shared_token(&p),
            C::UpdateSharedToken(p) => self.update_shared_token(&p),
            C::DeleteSharedToken(p) => self.delete_shared_token(&p.token),
            C::UpdateObjectUserData(p) => self.update_object_user_data(&p),
            C::DeleteObjectUserData(p) => self.delete_object_user_data(&p),
            C::GetRequestResult(p) => {
                return self.get_request_result(caller, p.request_id, responder)
            }
            C::GetSourcesAsync(p) => self.get_sources(p.limit),
            C::GetTransfersAsync(p) => self.get_received_transfers(&p),
            C::AddAuthorizedClientAsync(p) => self.add_authorized_client(&p.client_public_key),
            C::RemoveAuthorizedClientAsync(p) => {
                self.remove_authorized_client(&p.client_public_key)
            }
            C::AllowOnlyAuthorizedClientsAsync(p) => {
                self.allow_only_authorized_clients(p.only_authorized_clients_allowed)
            }
            C::GetServerInfo(_) => to_json(&self.info),
            C::Auth(p) | C::AuthAsync(p) => return self.auth(caller, p, responder),
            C::AuthToken(p) => return self.auth_token(caller, p, responder),
            C::CreateDownload(p) => self.create_download(caller, &p),
            C::CreateApiToken(p) => self.create_api_token(caller, &p),
            C::DeleteApiToken(p) => self.delete_api_token(caller, &p.token),
            C::Echo(p) => Ok(p.value),
            C::UpdateBandwidthLimits(p) => self.update_bandwidth_limits(&p),
            C::GarbageCollect(_) => return self.garbage_collect(caller, responder),
            C::LsAsync(p) => return self.file_op(caller, FileOp::Ls(p.path), responder),
            C::LsListAsync(p) => return self.file_op(caller, FileOp::LsList(p.paths), responder),
            C::LsRootsAsync(_) => return self.file_op(caller, FileOp::LsRoots, responder),
            C::DuAsync(p) => return self.file_op(caller, FileOp::Du(p.path), responder),
            C::MkdirAsync(p) => return self.file_op(caller, FileOp::Mkdir(p.path), responder),
            C::MkFileAsync(p) => {
                let op = FileOp::MkFile {
                    path: p.path,
                    content: p.content.unwrap_or_default(),
                };
                return self.file_op(caller, op, responder);
            }
            C::MvAsync(p) => {
                let op = FileOp::Mv {
                    src: p.src,
                    dst: p.dst,
                };
                return self.file_op(caller, op, responder);
            }
            C::CreateSandboxMapping(p) => self.create_sandbox_mapping(caller, &p),
            C::DeleteSandboxMapping(p) => self.delete_sandbox_mapping(caller, &p.name),
            _ => unreachable!("reads::read answered it"),
        };
        self.respond(responder, result);
    }

    /// Sends `result` where `responder` says.
    pub(super) fn respond(&mut self, responder: Responder, result: Result<Value>) {
        match responder {
            Responder::Caller(reply) => {
                let _ = reply.send(result);
            }
            Responder::Async { reply, method } => {
                // Refused before anything changed: the call itself fails, no request is kept.
                let answer = match result {
                    Err(e) => Err(e),
                    Ok(value) => self.record_request(method, &value),
                };
                let _ = reply.send(answer);
            }
            Responder::Request(id) => self.finish_request(id, result),
        }
    }

    /// Answers an `*Async` caller at once with a new request that stays processing; the
    /// returned responder records its result later. Other responders are returned as they are.
    pub(super) fn defer(&mut self, responder: Responder) -> Responder {
        let Responder::Async { reply, method } = responder else {
            return responder;
        };
        let now = now_us();
        let id = self
            .store
            .insert_request(method, now)
            .and_then(|id| self.store.start_request(id).map(|()| id));
        match id {
            Ok(id) => {
                let _ = reply.send(Ok(json!({ "requestId": id })));
                Responder::Request(id)
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                // Nobody waits for this result any more.
                Responder::Request(0)
            }
        }
    }

    /// Records a request that completed as it was accepted; its Request structure.
    fn record_request(&mut self, method: &str, result: &Value) -> Result<Value> {
        let now = now_us();
        let id = self.store.insert_request(method, now)?;
        self.store.complete_request(id, result, now)?;
        Ok(json!({ "requestId": id }))
    }

    /// Queues a waiter for transfer `id`'s end.
    pub(super) fn wait_transfer(&mut self, id: u64, responder: Responder) {
        self.transfer_waiters.entry(id).or_default().push(responder);
    }

    /// Stops every running session; transfers keep their stored state and restart at the next
    /// open.
    async fn shutdown(&mut self) {
        let running: Vec<Running> = self.running.drain().map(|(_, r)| r).collect();
        for run in running {
            run.stop().await;
        }
        self.receiver.stop().await;
        let pending = std::mem::take(&mut self.manifest_waiters)
            .into_values()
            .chain(std::mem::take(&mut self.transfer_waiters).into_values())
            .chain(std::mem::take(&mut self.request_waiters).into_values())
            .flatten();
        for responder in pending.collect::<Vec<_>>() {
            self.respond(
                responder,
                Err(Error::new(Code::Unavailable, "the engine is closing")),
            );
        }
    }
}
