//! Destinations and connections: creating and matching destinations, resolving them to a
//! connection per receiver address, rate caps, lanes, transfer defaults, what every session
//! to a destination shares, and the connection parameters that bound the rate controller.

use super::actor::{now_us, stored, to_json, Actor};
use crate::command::{
    CreateDestination, SetPriorityLanes, SetSendRateMax, UpdateConnectionParams,
    UpdateTransferDefaults,
};
use crate::error::{Code, Error, Result};
use crate::known_receivers::KnownReceivers;
use crate::schedule;
use crate::send::SendOptions;
use crate::store::{
    ConnectionState, ConnectionUpdate, Destination, DestinationParams, DestinationUpdate,
    NewConnection,
};
use jetstream_wire::crypto::handshake::PublicKey;
use jetstream_wire::rate::RatePolicy;
use serde_json::{json, Value};
use std::net::{SocketAddr, ToSocketAddrs};

/// The receiver port of a destination created without one (`DEFAULT_API_PORT`, over UDP).
pub const DEFAULT_RECEIVE_PORT: u16 = 8886;

/// Rates of the API (kbit/s) in bytes per second.
pub(super) fn kbps_to_bytes(kbps: f64) -> u64 {
    // Saturating float-to-int conversion is what we want for absurdly large caps.
    (kbps * 125.0) as u64
}

impl Actor {
    pub(super) fn create_destination(&mut self, p: &CreateDestination) -> Result<Value> {
        let new = DestinationParams {
            destination_address: p.destination_address.clone(),
            destination_port: p.destination_port.unwrap_or(DEFAULT_RECEIVE_PORT),
            send_rate_max: p.send_rate_max,
            sender_port: p.sender_port.unwrap_or(0),
            relay_address: p.relay_address.clone(),
            relay_port: p.relay_port,
            authenticate_destination: p.authenticate_destination.unwrap_or(false),
            destination_public_key: p.destination_public_key.clone(),
            exclusive: p.exclusive.unwrap_or(false),
            permanent: p.permanent.unwrap_or(false),
        };
        if let Some(key) = &new.destination_public_key {
            key.parse::<PublicKey>().map_err(|e| {
                Error::new(
                    Code::InvalidArgument,
                    format!("createDestination: destinationPublicKey: {e}"),
                )
            })?;
        } else if new.authenticate_destination {
            return Err(Error::new(
                Code::InvalidArgument,
                "createDestination: authenticateDestination needs a destinationPublicKey",
            ));
        }
        if new.relay_address.is_some() != new.relay_port.is_some() {
            return Err(Error::new(
                Code::InvalidArgument,
                "createDestination: relayAddress and relayPort go together: the relay's host and \
                 the public port it opened for the receiver (what the receiving server prints \
                 as recv-relay)",
            ));
        }
        if !new.exclusive {
            if let Some(found) = self.store.find_matching_destination(&new)? {
                return to_json(&found);
            }
        }
        let destination = self.store.insert_destination(&new)?;
        self.attach_connection(&destination)?;
        self.get_destination(&destination.destination_id)
    }

    /// Resolves the destination's address and links it to the connection of that address and
    /// port (made if new). An address that does not resolve now is left unresolved: it is
    /// resolved again when a transfer starts.
    fn attach_connection(&mut self, destination: &Destination) -> Result<()> {
        let Ok(addr) = resolve(destination) else {
            return Ok(());
        };
        // Through a relay, the receiver's own address may mean nothing here: it is kept as
        // given, and the connection is the relay's port.
        let (ip, port, relay_ip, relay_port) = match &destination.params.relay_address {
            None => (addr.ip().to_string(), addr.port(), None, None),
            Some(_) => (
                destination.params.destination_address.clone(),
                destination.params.destination_port,
                Some(addr.ip().to_string()),
                Some(addr.port()),
            ),
        };
        let found = self
            .store
            .find_connection(&ip, port, relay_ip.as_deref(), relay_port)?;
        let connection = match found {
            Some(connection) => connection,
            None => self.store.insert_connection(&NewConnection {
                destination_ip: ip.clone(),
                destination_port: port,
                relay_ip,
                relay_port,
                send_rate: 0.0,
                send_rate_min: 0.0,
                send_rate_max: None,
                rate_controller_active: true,
                rate_control_method: 0,
            })?,
        };
        self.store.update_destination(
            &destination.destination_id,
            &DestinationUpdate {
                destination_ip: Some(Some(ip)),
                connection_id: Some(Some(connection.connection_id)),
                ..DestinationUpdate::default()
            },
        )?;
        Ok(())
    }

    pub(super) fn get_destination(&self, id: &str) -> Result<Value> {
        to_json(&self.store.get_destination(id)?)
    }

    /// Deletes a destination with its transfers; refused while one of them is pending,
    /// sending or resuming. Suspended sessions are stopped, and callers waiting for a deleted
    /// transfer are told it is gone.
    pub(super) fn delete_destination(&mut self, id: &str) -> Result<Value> {
        let destination = self.store.get_destination(id)?;
        if destination.num_transfers_queued > 0 {
            return Err(Error::new(
                Code::InvalidState,
                format!(
                    "deleteDestination: destination {id} has {} active transfer(s); suspend \
                     or fail them first",
                    destination.num_transfers_queued
                ),
            ));
        }
        // Only unfinished transfers can have a session or waiters.
        let transfers = self.store.unfinished_transfers(Some(id))?;
        self.store.delete_destination(id)?;
        for transfer in transfers {
            let transfer_id = transfer.transfer_id;
            if let Some(run) = self.running.remove(&transfer_id) {
                run.cancel("the destination was deleted");
            }
            self.credentials.remove(&transfer_id);
            let gone = Error::new(
                Code::NotFound,
                format!("transfer {transfer_id} was deleted with destination {id}"),
            );
            for responder in self
                .transfer_waiters
                .remove(&transfer_id)
                .unwrap_or_default()
            {
                self.respond(responder, Err(gone.clone()));
            }
        }
        Ok(Value::Null)
    }

    pub(super) fn set_send_rate_max(&mut self, p: &SetSendRateMax) -> Result<Value> {
        self.store.update_destination(
            &p.destination_id,
            &DestinationUpdate {
                send_rate_max: Some(Some(p.send_rate_max)),
                ..DestinationUpdate::default()
            },
        )?;
        self.rebalance(&p.destination_id);
        Ok(json!({ "sendRateMax": p.send_rate_max }))
    }

    pub(super) fn set_priority_lanes(&mut self, p: &SetPriorityLanes) -> Result<Value> {
        let destination = self.store.get_destination(&p.destination_id)?;
        let busy = self.busy_lanes(&p.destination_id)?;
        let busy: Vec<&str> = busy.iter().map(String::as_str).collect();
        schedule::lane_change_allowed(&destination.priority_lanes, &p.priority_lanes, &busy)
            .map_err(|reason| {
                Error::new(
                    Code::InvalidState,
                    format!("setPriorityLanesAsync: priorityLanes: {reason}"),
                )
            })?;
        self.store.update_destination(
            &p.destination_id,
            &DestinationUpdate {
                priority_lanes: Some(p.priority_lanes.clone()),
                ..DestinationUpdate::default()
            },
        )?;
        self.rebalance(&p.destination_id);
        to_json(&p.priority_lanes)
    }

    pub(super) fn update_transfer_defaults(&mut self, p: &UpdateTransferDefaults) -> Result<Value> {
        self.store
            .merge_transfer_defaults(&p.destination_id, &p.defaults)?;
        Ok(Value::Null)
    }

    pub(super) fn update_connection_params(&mut self, p: &UpdateConnectionParams) -> Result<Value> {
        let connection = self.store.get_connection(p.connection_id)?;
        let min = p.send_rate_min.unwrap_or(connection.send_rate_min);
        let max = p.send_rate_max.or(connection.send_rate_max);
        if let Some(max) = max.filter(|max| *max < min) {
            return Err(Error::new(
                Code::InvalidArgument,
                format!(
                    "updateConnectionParamsAsync: sendRateMax {max} is below sendRateMin {min}"
                ),
            ));
        }
        if let Some(m) = p
            .rate_control_method
            .filter(|&m| RatePolicy::from_number(m).is_none())
        {
            return Err(Error::new(
                Code::InvalidArgument,
                format!(
                    "updateConnectionParamsAsync: rateControlMethod {m}: expected 0 (fill the \
                     path) or 1 (fair to TCP)"
                ),
            ));
        }
        self.store.update_connection(
            p.connection_id,
            &ConnectionUpdate {
                send_rate_min: p.send_rate_min,
                send_rate_max: p.send_rate_max.map(Some),
                send_rate: p.send_rate,
                rate_controller_active: p.rate_control_enabled,
                rate_control_method: p.rate_control_method,
                ..ConnectionUpdate::default()
            },
        )?;
        let destinations: Vec<String> = self
            .store
            .list_destinations(None)?
            .into_iter()
            .filter(|d| d.connection_id == Some(p.connection_id))
            .map(|d| d.destination_id)
            .collect();
        for id in &destinations {
            self.rebalance(id);
        }
        to_json(&self.store.get_connection(p.connection_id)?)
    }

    /// Sets what every session to `destination` shares: it checks the receiver's key (the key
    /// the destination pins when it authenticates the destination, or else the one this
    /// server's known receivers record at first contact), sends from the destination's sender
    /// port, and sends no packet larger than this server's MTU.
    pub(super) fn destination_session(&self, destination: &Destination, opts: &mut SendOptions) {
        opts.expected_key = expected_key(destination);
        opts.local_port = local_port(destination.params.sender_port);
        if destination.params.sender_port == -1 {
            opts.multiplex = self.receiver.send_routes();
        }
        opts.known_receivers = self
            .opts
            .known_receivers_file
            .clone()
            .map(KnownReceivers::new);
        opts.receiver_name = receiver_name(destination);
        opts.mtu = self.opts.mtu.map(usize::from);
    }

    /// Marks the destination (and its connection) connected or not.
    pub(super) fn set_connection_state(
        &mut self,
        destination: &Destination,
        state: ConnectionState,
    ) {
        let now = now_us();
        let destination_id = &destination.destination_id;
        stored(
            format_args!("destination {destination_id}: connection state"),
            self.store.update_destination(
                destination_id,
                &DestinationUpdate {
                    encrypted_connection_state: Some(state),
                    last_send_time: Some(now),
                    ..DestinationUpdate::default()
                },
            ),
        );
        if let Some(id) = destination.connection_id {
            stored(
                format_args!("connection {id}: state"),
                self.store.update_connection(
                    id,
                    &ConnectionUpdate {
                        encrypted_connection_state: Some(state),
                        ..ConnectionUpdate::default()
                    },
                ),
            );
        }
    }
}

/// `HOST:PORT`, a bare IPv6 address in brackets so that it parses with its port.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A destination's receiver as `HOST:PORT`, the host as the destination gives it.
pub(super) fn receiver_name(destination: &Destination) -> String {
    let params = &destination.params;
    host_port(&params.destination_address, params.destination_port)
}

/// The UDP address a destination's datagrams go to: the public port its relay opened for
/// the receiver when it has one, else the receiver's own.
pub(super) fn resolve(destination: &Destination) -> Result<SocketAddr> {
    let params = &destination.params;
    let name = match (&params.relay_address, params.relay_port) {
        (Some(relay), Some(port)) => host_port(relay, port),
        _ => receiver_name(destination),
    };
    name.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            Error::new(
                Code::Unavailable,
                format!("destination address {name} does not resolve"),
            )
        })
}

/// The local UDP port of a destination's `senderPort`: a fixed port as given, else 0 (the
/// system picks one). -1 sends over this server's receive port while it receives
/// (`multiplexAvailable`), and from a new port as 0 does when it only sends.
fn local_port(sender_port: i32) -> u16 {
    u16::try_from(sender_port).unwrap_or(0)
}

/// The key the receiver must prove, when the destination asks for one.
fn expected_key(destination: &Destination) -> Option<PublicKey> {
    let params = &destination.params;
    params
        .authenticate_destination
        .then_some(params.destination_public_key.as_deref())
        .flatten()
        .and_then(|key| key.parse().ok())
}
