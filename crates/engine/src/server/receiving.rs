//! The server's receiver: the task serving transfers sent to this server, the records of what
//! arrived and from whom, and the authorized sender keys (RecvInterface).

use super::actor::{now_us, to_json, Actor, Msg};
use super::events::{EventError, ServerEvent};
use super::options::RelayAddress;
use super::ServerOptions;
use crate::admission::AdmissionCounters;
use crate::authorized_keys::AuthorizedKeys;
use crate::clients::{ClientList, Clients};
use crate::command::GetReceivedTransfers;
use crate::error::{Code, Error, Result};
use crate::multiplex::SendRoutes;
use crate::receive::{LoginVerdict, ReceiveEvent, ReceiveOptions, Receiver, ReceiverControls};
use crate::store::{EventKind, NewEvent, NewReceived, Page, Store};
use jetstream_relay::link;
use jetstream_wire::crypto::handshake::{Identity, PublicKey};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// What a server's receiver is, once bound.
#[derive(Clone, Debug)]
pub struct Receiving {
    /// The address it is bound to.
    pub local_addr: SocketAddr,
    /// How many keys its authorized-keys file held when it started, when it has one.
    pub authorized_keys: Option<usize>,
    /// What it did with datagrams that had no session, live.
    pub admission: Arc<AdmissionCounters>,
    /// Where senders reach it through its relay, once the relay gave it a port (a receiver
    /// without a relay keeps `None`).
    pub relayed: watch::Receiver<Option<SocketAddr>>,
}

/// The running receiver (none when the server only sends).
pub(super) struct ReceiverHandle {
    receiving: Option<Receiving>,
    clients: Clients,
    /// The receiver's intake cap and part-file sweeps.
    controls: Option<ReceiverControls>,
    task: Option<JoinHandle<()>>,
    /// The task keeping the receiver's relay allocation, when it is relayed.
    relayed: Option<JoinHandle<()>>,
    /// Records of transfers arriving, by sender address and the sender's transfer id.
    arriving: HashMap<(SocketAddr, u64), u64>,
}

impl ReceiverHandle {
    /// Binds the receiver and starts serving; its events go to the actor.
    pub(super) fn start(
        identity: Identity,
        opts: &ServerOptions,
        store: &Store,
        tx: mpsc::UnboundedSender<Msg>,
    ) -> Result<ReceiverHandle> {
        let clients = Clients::from(store.client_list()?);
        let Some(listen) = opts.recv_listen else {
            return Ok(ReceiverHandle {
                receiving: None,
                clients,
                controls: None,
                task: None,
                relayed: None,
                arriving: HashMap::new(),
            });
        };
        let mut receiver = Receiver::bind(
            identity.clone(),
            ReceiveOptions {
                listen,
                root: opts.sandbox_dir.clone(),
                min_cipher: opts.min_cipher,
                idle_timeout: opts.recv_idle_timeout,
                clients: clients.clone(),
                authorized_keys: opts.authorized_keys_file.clone(),
                max_overwrite: opts.max_overwrite,
                discard: opts.recv_discard,
                accounts: true,
                part_file_max_age: opts.part_file_max_age,
            },
        )?;
        let (public, relayed) = watch::channel(None);
        let receiving = Receiving {
            local_addr: receiver.local_addr(),
            authorized_keys: receiver.authorized_keys().map(AuthorizedKeys::len),
            admission: receiver.admission_counters(),
            relayed,
        };
        let controls = Some(receiver.controls());
        let relayed = opts
            .recv_relay
            .clone()
            .map(|relay| tokio::spawn(keep_relayed(relay, identity, receiver.controls(), public)));
        let task = tokio::spawn(async move {
            let mut on_event = |event| match tx.send(Msg::Received(event)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            };
            if let Err(e) = receiver.run(&mut on_event).await {
                tracing::error!("the receiver stopped: {e}");
                let _ = tx.send(Msg::ReceiverStopped(e));
            }
        });
        Ok(ReceiverHandle {
            receiving: Some(receiving),
            clients,
            controls,
            task: Some(task),
            relayed,
            arriving: HashMap::new(),
        })
    }

    /// The bound receiver; `None` when the server only sends.
    pub(super) fn receiving(&self) -> Option<&Receiving> {
        self.receiving.as_ref()
    }

    /// Caps what all sessions together accept, in bytes per second (`None`: no cap); a server
    /// that only sends accepts nothing anyway.
    pub(super) fn set_intake(&self, bytes_per_second: Option<u64>) {
        if let Some(controls) = &self.controls {
            controls.intake.set(bytes_per_second);
        }
    }

    /// The routes of sessions sending over the receive port; `None` when the server only
    /// sends.
    pub(super) fn send_routes(&self) -> Option<SendRoutes> {
        self.controls.as_ref().map(|c| c.routes.clone())
    }

    /// Asks the receiver to give back the part files no session writes; the answer is how many
    /// were removed and how many kept. A server that only sends has none.
    pub(super) fn sweep_parts(&self) -> oneshot::Receiver<(usize, usize)> {
        match &self.controls {
            Some(controls) => controls.sweep_parts(),
            None => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send((0, 0));
                rx
            }
        }
    }

    /// Hands the receiver the verdict on a sender's login (a server that only sends has no
    /// sessions waiting for one).
    pub(super) fn settle(&self, id: u64, verdict: LoginVerdict) {
        if let Some(controls) = &self.controls {
            controls.settle(id, verdict);
        }
    }

    /// The authorized keys in force.
    pub(super) fn clients(&self) -> ClientList {
        self.clients.get()
    }

    /// Stops serving (sessions in progress end with the socket).
    pub(super) async fn stop(&mut self) {
        if let Some(relayed) = self.relayed.take() {
            relayed.abort();
            let _ = relayed.await;
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// How often a relayed receiver tells the relay it is there (a NAT forgets a quiet mapping
/// after 30 s or more).
const RELAY_KEEPALIVE: Duration = Duration::from_secs(15);
/// The longest wait before registering with the relay again.
const RELAY_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Keeps the receiver reachable through `relay`: registers, hands the receiver the relay's
/// data address and its BIND frames, and registers again, after a growing wait, whenever the
/// relay or the connection to it goes away. Each allocation's public address goes to
/// `public`.
async fn keep_relayed(
    relay: RelayAddress,
    identity: Identity,
    controls: ReceiverControls,
    public: watch::Sender<Option<SocketAddr>>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let target = format!("{}:{}", relay.host, relay.port);
        let resolved = tokio::net::lookup_host(&target).await.map(|mut a| a.next());
        let failure = match resolved {
            Ok(Some(address)) => match link::register(address, &identity, relay.key.as_ref()).await
            {
                Ok(linked) => {
                    backoff = Duration::from_secs(1);
                    let allocation = linked.allocation().clone();
                    tracing::info!(
                        "reached through the relay at {target}: senders send to {}",
                        allocation.public
                    );
                    public.send_replace(Some(allocation.public));
                    let data = Some(allocation.data);
                    let ended = linked
                        .run(RELAY_KEEPALIVE, |frame| {
                            controls.relay_through(data, Some(frame.to_vec()));
                        })
                        .await;
                    ended.to_string()
                }
                Err(e) => e.to_string(),
            },
            Ok(None) => format!("relay {target}: the name has no address"),
            Err(e) => format!("relay {target}: {e}"),
        };
        tracing::warn!("{failure}; registering again in {backoff:?}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RELAY_BACKOFF_MAX);
    }
}

impl Actor {
    pub(super) fn on_received(&mut self, event: ReceiveEvent) {
        if let Some(told) = event_of(&event) {
            self.events.emit(told);
        }
        let now = now_us();
        let recorded = match event {
            ReceiveEvent::Login(login) => {
                self.check_transfer_login(login);
                Ok(())
            }
            ReceiveEvent::Started {
                peer,
                key,
                user,
                header,
            } => self
                .store
                .insert_received(&NewReceived {
                    sender_key: key.to_string(),
                    sender_address: peer.to_string(),
                    transfer_id: header.id,
                    destination_path: header.dest_dir.clone(),
                    total_files: u64::from(header.total_files),
                    total_bytes: header.total_bytes,
                    start_time: now,
                    user_name: user.clone(),
                    uses_token: header.shared_token,
                })
                .map(|id| {
                    self.receiver.arriving.insert((peer, header.id), id);
                    let by = user.as_ref().map_or(String::new(), |u| format!(", user {u:?}"));
                    self.record(NewEvent {
                        received_id: Some(id),
                        path: Some(header.dest_dir.clone()),
                        user_name: user.clone(),
                        ..NewEvent::new(
                            EventKind::ReceivedStarted,
                            format!(
                                "receiving transfer {} from {peer} (key {key}{by}): {} files, {} bytes",
                                header.id, header.total_files, header.total_bytes
                            ),
                        )
                    });
                }),
            ReceiveEvent::Finished {
                peer,
                header: Some(header),
                result,
                ..
            } => match self.receiver.arriving.remove(&(peer, header.id)) {
                Some(id) => {
                    let outcome = result
                        .as_ref()
                        .map(|stats| (u64::from(stats.files_complete), stats.bytes_received))
                        .map_err(|e| e.message.as_str());
                    let message = match outcome {
                        Ok((files, bytes)) => format!(
                            "received transfer {} from {peer}: complete, {files} files, {bytes} bytes",
                            header.id
                        ),
                        Err(error) => format!(
                            "received transfer {} from {peer}: error: {error}",
                            header.id
                        ),
                    };
                    self.record(NewEvent {
                        received_id: Some(id),
                        ..NewEvent::new(EventKind::ReceivedEnded, message)
                    });
                    self.store.finish_received(id, outcome, now)
                }
                None => Ok(()),
            },
            // A session that ended before its transfer was announced left no record.
            ReceiveEvent::Finished { header: None, .. } => Ok(()),
            // Nothing to store: the file itself is the list.
            ReceiveEvent::AuthorizedKeysReloaded { result } => {
                let file = self
                    .opts
                    .authorized_keys_file
                    .as_deref()
                    .unwrap_or(Path::new(""));
                match result {
                    Ok(keys) => tracing::info!(
                        "authorized-keys file {} read again: {keys} key(s)",
                        file.display()
                    ),
                    Err(e) => tracing::warn!(
                        "authorized-keys file {}: {e}; none of its keys is trusted until it is \
                         fixed",
                        file.display()
                    ),
                }
                Ok(())
            }
        };
        if let Err(e) = recorded {
            tracing::warn!("recording a received transfer: {e}");
        }
    }

    pub(super) fn get_sources(&self, limit: Option<usize>) -> Result<Value> {
        to_json(&self.store.list_sources(limit)?)
    }

    pub(super) fn get_received_transfers(&self, p: &GetReceivedTransfers) -> Result<Value> {
        let page = Page {
            before: p.before,
            after: p.after,
            limit: p.limit,
        };
        to_json(&self.store.list_received(&page)?)
    }

    pub(super) fn add_authorized_client(&mut self, key: &str) -> Result<Value> {
        let key = parse_key("addAuthorizedClientAsync", key)?;
        self.store.add_client(&key.to_string(), now_us())?;
        self.record(NewEvent::new(
            EventKind::AuthorizedClientAdded,
            format!("authorized client {key} added"),
        ));
        self.reload_clients()
    }

    pub(super) fn remove_authorized_client(&mut self, key: &str) -> Result<Value> {
        let key = parse_key("removeAuthorizedClientAsync", key)?;
        self.store.remove_client(&key.to_string())?;
        self.record(NewEvent::new(
            EventKind::AuthorizedClientRemoved,
            format!("authorized client {key} removed"),
        ));
        self.reload_clients()
    }

    pub(super) fn allow_only_authorized_clients(&mut self, enabled: bool) -> Result<Value> {
        self.store.set_only_authorized(enabled)?;
        let state = if enabled { "on" } else { "off" };
        self.record(NewEvent::new(
            EventKind::OnlyAuthorizedClientsChanged,
            format!("only authorized clients allowed: {state}"),
        ));
        self.reload_clients()
    }

    /// Puts the stored list in force; the list as the result.
    fn reload_clients(&mut self) -> Result<Value> {
        let list = self.store.client_list()?;
        self.info.only_authorized_clients_allowed = list.only_authorized;
        self.receiver.clients.set(list.clone());
        to_json(&list)
    }
}

/// A receiver event as subscribers see it, if they do (a login is told by its outcome).
fn event_of(event: &ReceiveEvent) -> Option<ServerEvent> {
    Some(match event {
        ReceiveEvent::Login(_) => return None,
        ReceiveEvent::Started {
            peer, key, header, ..
        } => ServerEvent::ReceiveStarted {
            peer: peer.to_string(),
            sender_key: key.to_string(),
            transfer_id: header.id,
            total_files: u64::from(header.total_files),
            total_bytes: header.total_bytes,
        },
        ReceiveEvent::Finished {
            peer,
            result,
            stats,
            ..
        } => ServerEvent::ReceiveEnded {
            peer: peer.to_string(),
            files_complete: u64::from(stats.files_complete),
            bytes_received: stats.bytes_received,
            error: result.as_ref().err().map(EventError::from),
        },
        ReceiveEvent::AuthorizedKeysReloaded { result } => ServerEvent::AuthorizedKeysReloaded {
            keys: result.as_ref().ok().copied(),
            error: result.as_ref().err().map(EventError::from),
        },
    })
}

/// A sender key given to a RecvInterface method.
fn parse_key(method: &str, key: &str) -> Result<PublicKey> {
    key.parse().map_err(|e| {
        Error::new(
            Code::InvalidArgument,
            format!("{method}: clientPublicKey: {e}"),
        )
    })
}
