//! Connections: one per remote receiver address and port (and relay), shared by the
//! destinations that reach it; rate bounds, rate control and traffic counters.

use super::{
    delete, get, query, sql_limit, update, Columns, ConnectionState, Record, Result, Store, Table,
};
use jetstream_wire::rate::PathMemory;
use rusqlite::{params, Connection as Db, Row};
use serde::Serialize;
use std::time::Duration;

/// A new connection's address and rate settings.
#[derive(Clone, Debug, PartialEq)]
pub struct NewConnection {
    /// The receiver's IP address.
    pub destination_ip: String,
    /// The receiver's UDP port.
    pub destination_port: u16,
    /// The relay's IP address, if any.
    pub relay_ip: Option<String>,
    /// The relay's port, if any.
    pub relay_port: Option<u16>,
    /// Current send rate in kbit/s.
    pub send_rate: f64,
    /// Lower rate bound in kbit/s.
    pub send_rate_min: f64,
    /// Upper rate bound in kbit/s; `None` for none.
    pub send_rate_max: Option<f64>,
    /// Whether the rate controller adjusts the rate.
    pub rate_controller_active: bool,
    /// Rate control method: 0 fills the path, 1 is fair to TCP
    /// ([`jetstream_wire::rate::RatePolicy`]).
    pub rate_control_method: u32,
}

/// A connection as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Positive, never reused.
    pub connection_id: u64,
    /// The receiver's IP address.
    #[serde(rename = "destinationIP")]
    pub destination_ip: String,
    /// The receiver's UDP port.
    pub destination_port: u16,
    /// Current send rate in kbit/s.
    pub send_rate: f64,
    /// Lower rate bound in kbit/s.
    pub send_rate_min: f64,
    /// Upper rate bound in kbit/s; `None` for none.
    pub send_rate_max: Option<f64>,
    /// Whether the rate controller adjusts the rate.
    pub rate_controller_active: bool,
    /// Rate control method: 0 fills the path, 1 is fair to TCP.
    pub rate_control_method: u32,
    /// The rate in kbit/s the path carried when a transfer over it last measured it (what the
    /// next transfer starts from); `None` before any did.
    pub measured_rate: Option<f64>,
    /// The smallest RTT that transfer measured.
    pub measured_min_rtt_ms: Option<f64>,
    /// The fraction of what that transfer sent that was lost, 0 to 1.
    pub measured_loss_rate: Option<f64>,
    /// Last measured round-trip time.
    pub round_trip_time_ms: Option<f64>,
    /// Fraction of packets lost, 0 to 1.
    pub loss_rate: f64,
    /// Bytes sent over the connection.
    pub bytes_sent: u64,
    /// Packets sent over the connection.
    pub packets_sent: u64,
    /// State of the encrypted channel.
    pub encrypted_connection_state: ConnectionState,
    /// The relay's IP address, if any.
    #[serde(rename = "relayIP")]
    pub relay_ip: Option<String>,
    /// The relay's port, if any.
    pub relay_port: Option<u16>,
    /// When a datagram last arrived (Unix µs).
    pub last_recv_time: Option<i64>,
    /// When a datagram was last sent (Unix µs).
    pub last_send_time: Option<i64>,
    /// Transfers pending, sending or resuming over this connection.
    pub num_transfers_queued: u64,
}

/// Changes to a connection: every `Some` field is written, `None` fields are left alone;
/// `send_rate_max: Some(None)` removes the cap.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectionUpdate {
    /// Current send rate in kbit/s.
    pub send_rate: Option<f64>,
    /// Lower rate bound in kbit/s.
    pub send_rate_min: Option<f64>,
    /// Upper rate bound in kbit/s.
    pub send_rate_max: Option<Option<f64>>,
    /// Whether the rate controller adjusts the rate.
    pub rate_controller_active: Option<bool>,
    /// Rate control method.
    pub rate_control_method: Option<u32>,
    /// The rate the path carried, kbit/s.
    pub measured_rate: Option<f64>,
    /// The path's smallest RTT.
    pub measured_min_rtt_ms: Option<f64>,
    /// The fraction of what was sent that was lost on the path.
    pub measured_loss_rate: Option<f64>,
    /// Measured round-trip time.
    pub round_trip_time_ms: Option<f64>,
    /// Fraction of packets lost.
    pub loss_rate: Option<f64>,
    /// Bytes sent so far.
    pub bytes_sent: Option<u64>,
    /// Packets sent so far.
    pub packets_sent: Option<u64>,
    /// State of the encrypted channel.
    pub encrypted_connection_state: Option<ConnectionState>,
    /// Last receive time (Unix µs).
    pub last_recv_time: Option<i64>,
    /// Last send time (Unix µs).
    pub last_send_time: Option<i64>,
}

impl Connection {
    /// What the last transfer over the connection measured about the path, as rate control
    /// takes it; `None` before any did (or when the stored figures make no sense).
    pub fn path_memory(&self) -> Option<PathMemory> {
        let rate = self.measured_rate?;
        let rtt = Duration::try_from_secs_f64(self.measured_min_rtt_ms? / 1000.0).ok()?;
        PathMemory::new((rate * 1000.0 / 8.0) as u64, rtt, self.measured_loss_rate?)
    }
}

impl ConnectionUpdate {
    /// The figures of `memory` to write, in the connection's units (kbit/s, ms).
    pub fn measured(memory: &PathMemory) -> ConnectionUpdate {
        ConnectionUpdate {
            measured_rate: Some(memory.bandwidth as f64 * 8.0 / 1000.0),
            measured_min_rtt_ms: Some(memory.min_rtt.as_secs_f64() * 1000.0),
            measured_loss_rate: Some(memory.loss),
            ..ConnectionUpdate::default()
        }
    }
}

impl Record for Connection {
    const TABLE: Table = Table {
        name: "connections",
        key: "id",
        what: "connection",
        param: "connectionId",
    };
    const SELECT: &'static str = concat!(
        "SELECT c.*, (SELECT COUNT(*) FROM transfers t JOIN destinations d",
        " ON t.destination_id = d.id WHERE d.connection_id = c.id AND t.status IN ",
        queued_statuses_sql!(),
        ") AS queued FROM connections c"
    );

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        Ok(Connection {
            connection_id: c.get("id")?,
            destination_ip: c.get("destination_ip")?,
            destination_port: c.get("destination_port")?,
            send_rate: c.get("send_rate")?,
            send_rate_min: c.get("send_rate_min")?,
            send_rate_max: c.get("send_rate_max")?,
            rate_controller_active: c.get("rate_controller_active")?,
            rate_control_method: c.get("rate_control_method")?,
            measured_rate: c.get("measured_rate")?,
            measured_min_rtt_ms: c.get("measured_min_rtt_ms")?,
            measured_loss_rate: c.get("measured_loss_rate")?,
            round_trip_time_ms: c.get("round_trip_time_ms")?,
            loss_rate: c.get("loss_rate")?,
            bytes_sent: c.get("bytes_sent")?,
            packets_sent: c.get("packets_sent")?,
            encrypted_connection_state: c.get("connection_state")?,
            relay_ip: c.get("relay_ip")?,
            relay_port: c.get("relay_port")?,
            last_recv_time: c.get("last_recv_time")?,
            last_send_time: c.get("last_send_time")?,
            num_transfers_queued: c.get("queued")?,
        })
    }

    fn attach(&mut self, _db: &Db) -> Result<()> {
        // Connections carry no user data.
        Ok(())
    }
}

impl Store {
    /// Adds a connection with a new id.
    pub fn insert_connection(&mut self, new: &NewConnection) -> Result<Connection> {
        self.db
            .prepare_cached(
                "INSERT INTO connections (destination_ip, destination_port, relay_ip, relay_port,
                     send_rate, send_rate_min, send_rate_max, rate_controller_active,
                     rate_control_method)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                new.destination_ip,
                new.destination_port,
                new.relay_ip,
                new.relay_port,
                new.send_rate,
                new.send_rate_min,
                new.send_rate_max,
                new.rate_controller_active,
                new.rate_control_method,
            ])?;
        let id = self.db.last_insert_rowid();
        get(&self.db, id)
    }

    /// The connection `id`.
    pub fn get_connection(&self, id: u64) -> Result<Connection> {
        get(&self.db, id)
    }

    /// The oldest connection to this receiver address and port through this relay (or none).
    pub fn find_connection(
        &self,
        destination_ip: &str,
        destination_port: u16,
        relay_ip: Option<&str>,
        relay_port: Option<u16>,
    ) -> Result<Option<Connection>> {
        let found = query(
            &self.db,
            "WHERE destination_ip = ?1 AND destination_port = ?2 AND relay_ip IS ?3
               AND relay_port IS ?4
             ORDER BY id LIMIT 1",
            params![destination_ip, destination_port, relay_ip, relay_port],
        )?;
        Ok(found.into_iter().next())
    }

    /// Connections in creation order, at most `limit` of them.
    pub fn list_connections(&self, limit: Option<usize>) -> Result<Vec<Connection>> {
        query(&self.db, "ORDER BY id LIMIT ?1", [sql_limit(limit)])
    }

    /// Writes the `Some` fields of `changes` to connection `id`.
    pub fn update_connection(&mut self, id: u64, changes: &ConnectionUpdate) -> Result<()> {
        let sets = assignments!(changes;
            send_rate => "send_rate",
            send_rate_min => "send_rate_min",
            send_rate_max => "send_rate_max",
            rate_controller_active => "rate_controller_active",
            rate_control_method => "rate_control_method",
            measured_rate => "measured_rate",
            measured_min_rtt_ms => "measured_min_rtt_ms",
            measured_loss_rate => "measured_loss_rate",
            round_trip_time_ms => "round_trip_time_ms",
            loss_rate => "loss_rate",
            bytes_sent => "bytes_sent",
            packets_sent => "packets_sent",
            encrypted_connection_state => "connection_state",
            last_recv_time => "last_recv_time",
            last_send_time => "last_send_time",
        );
        update(&self.db, &Connection::TABLE, id, &sets)
    }

    /// Deletes connection `id`; its destinations keep going without one.
    pub fn delete_connection(&mut self, id: u64) -> Result<()> {
        delete(&self.db, &Connection::TABLE, id)
    }
}
