//! The server's receiver: the task serving transfers sent to this server, the records of what
//! arrived and from whom, and the authorized sender keys (RecvInterface).

use super::actor::{now_us, to_json, Actor, Msg};
use super::ServerOptions;
use crate::admission::AdmissionCounters;
use crate::clients::{ClientList, Clients};
use crate::command::GetReceivedTransfers;
use crate::error::{Code, Error, Result};
use crate::receive::{ReceiveEvent, ReceiveOptions, Receiver};
use crate::store::{NewReceived, Page, Store};
use jetstream_wire::crypto::handshake::{Identity, PublicKey};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a sender may stay silent before its session at this receiver fails.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The running receiver.
pub(super) struct ReceiverHandle {
    local: SocketAddr,
    clients: Clients,
    task: Option<JoinHandle<()>>,
    /// Records of transfers arriving, by sender address and the sender's transfer id.
    arriving: HashMap<(SocketAddr, u64), u64>,
    /// What the receiver did with datagrams that had no session.
    admission: Arc<AdmissionCounters>,
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
        let mut receiver = Receiver::bind(
            identity,
            ReceiveOptions {
                listen: opts.recv_listen,
                root: opts.sandbox_dir.clone(),
                min_cipher: opts.min_cipher,
                idle_timeout: IDLE_TIMEOUT,
                clients: clients.clone(),
                authorized_keys: None,
                max_overwrite: opts.max_overwrite,
            },
        )?;
        let local = receiver.local_addr();
        let admission = receiver.admission_counters();
        let task = tokio::spawn(async move {
            let mut on_event = |event| match tx.send(Msg::Received(event)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            };
            if let Err(e) = receiver.run(&mut on_event).await {
                tracing::error!("the receiver stopped: {e}");
            }
        });
        Ok(ReceiverHandle {
            local,
            clients,
            task: Some(task),
            arriving: HashMap::new(),
            admission,
        })
    }

    /// The receiver's admission counters, shared.
    pub(super) fn admission(&self) -> Arc<AdmissionCounters> {
        Arc::clone(&self.admission)
    }

    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The authorized keys in force.
    pub(super) fn clients(&self) -> ClientList {
        self.clients.get()
    }

    /// Stops serving (sessions in progress end with the socket).
    pub(super) async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Actor {
    pub(super) fn on_received(&mut self, event: ReceiveEvent) {
        let now = now_us();
        let recorded = match event {
            ReceiveEvent::Started { peer, key, header } => self
                .store
                .insert_received(&NewReceived {
                    sender_key: key.to_string(),
                    sender_address: peer.to_string(),
                    transfer_id: header.id,
                    destination_path: header.dest_dir.clone(),
                    total_files: u64::from(header.total_files),
                    total_bytes: header.total_bytes,
                    start_time: now,
                })
                .map(|id| {
                    self.receiver.arriving.insert((peer, header.id), id);
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
                    self.store.finish_received(id, outcome, now)
                }
                None => Ok(()),
            },
            // A session that ended before its transfer was announced left no record.
            ReceiveEvent::Finished { header: None, .. } => Ok(()),
            // This receiver has no authorized-keys file: its keys are in the store.
            ReceiveEvent::AuthorizedKeysReloaded { .. } => Ok(()),
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
        self.reload_clients()
    }

    pub(super) fn remove_authorized_client(&mut self, key: &str) -> Result<Value> {
        let key = parse_key("removeAuthorizedClientAsync", key)?;
        self.store.remove_client(&key.to_string())?;
        self.reload_clients()
    }

    pub(super) fn allow_only_authorized_clients(&mut self, enabled: bool) -> Result<Value> {
        self.store.set_only_authorized(enabled)?;
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

/// A sender key given to a RecvInterface method.
fn parse_key(method: &str, key: &str) -> Result<PublicKey> {
    key.parse()
        .map_err(|e| Error::new(Code::InvalidArgument, format!("{method}: publicKey: {e}")))
}
