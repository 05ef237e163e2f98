//! Destinations: where transfers go (address, port, relay, key), their rate cap, priority lanes,
//! transfer defaults and what was last heard from them. Deleting one deletes its transfers.

use super::user_data::{self, UserData};
use super::{
    delete, get, json_from_sql, json_to_sql, query, sql_limit, update, Columns, ConnectionState,
    Record, Result, Store, StoreError, Table,
};
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection as Db, OptionalExtension, Row};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// The priority lanes of a destination: `(name, proportion)` pairs in order. The API sees them
/// as an object keyed by lane name, in this order. The store keeps what it is given; the rules
/// of `setPriorityLanesAsync` are the caller's to check.
#[derive(Clone, Debug, PartialEq)]
pub struct PriorityLanes(pub Vec<(String, f64)>);

impl Default for PriorityLanes {
    /// High 0.70, Normal 0.25, Low 0.05, Idle 0.0.
    fn default() -> Self {
        PriorityLanes(
            [
                ("High", 0.70),
                ("Normal", 0.25),
                ("Low", 0.05),
                ("Idle", 0.0),
            ]
            .into_iter()
            .map(|(name, proportion)| (name.to_owned(), proportion))
            .collect(),
        )
    }
}

impl Serialize for PriorityLanes {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, proportion) in &self.0 {
            map.serialize_entry(name, proportion)?;
        }
        map.end()
    }
}

impl ToSql for PriorityLanes {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        // Stored as a JSON array of pairs, which keeps the order.
        json_to_sql(&self.0)
    }
}

impl FromSql for PriorityLanes {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        json_from_sql(value).map(PriorityLanes)
    }
}

/// Values used by `createTransfer` for the parameters it is not given; `None` means the
/// engine's own default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferDefaults {
    /// Transfer priority (lower goes first).
    pub priority: Option<u32>,
    /// `TRANSFER_FLAG_*` bits.
    pub transfer_flags: Option<u32>,
    /// Seconds between checkpoints; 0 disables them.
    pub checkpoint_frequency_seconds: Option<u32>,
    /// Rate cap in kbit/s.
    pub send_rate_max: Option<f64>,
    /// Priority lane name.
    pub priority_lane: Option<String>,
    /// `OVERWRITE_*` mode.
    pub overwrite_mode: Option<u32>,
    /// `MIN_CIPHER_*` level.
    pub min_cipher: Option<u32>,
    /// Modification times this close are equal.
    pub file_time_resolution_microseconds: Option<u64>,
}

impl TransferDefaults {
    /// Takes every value that `other` sets, keeping the others (`updateTransferDefaults`).
    pub fn merge(&mut self, other: &TransferDefaults) {
        self.priority = other.priority.or(self.priority);
        self.transfer_flags = other.transfer_flags.or(self.transfer_flags);
        self.checkpoint_frequency_seconds = other
            .checkpoint_frequency_seconds
            .or(self.checkpoint_frequency_seconds);
        self.send_rate_max = other.send_rate_max.or(self.send_rate_max);
        self.priority_lane = other.priority_lane.clone().or(self.priority_lane.take());
        self.overwrite_mode = other.overwrite_mode.or(self.overwrite_mode);
        self.min_cipher = other.min_cipher.or(self.min_cipher);
        self.file_time_resolution_microseconds = other
            .file_time_resolution_microseconds
            .or(self.file_time_resolution_microseconds);
    }
}

impl ToSql for TransferDefaults {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        json_to_sql(self)
    }
}

impl FromSql for TransferDefaults {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        json_from_sql(value)
    }
}

/// The `createDestination` parameters, defaults already applied; in a [`Destination`], as
/// current (the rate cap may change).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationParams {
    /// Host name or IP of the receiver.
    pub destination_address: String,
    /// The receiver's UDP port.
    pub destination_port: u16,
    /// Rate cap in kbit/s; `None` for none.
    pub send_rate_max: Option<f64>,
    /// Local UDP port: 0 picks a new one, -1 multiplexes the receive port.
    pub sender_port: i32,
    /// Relay host, if the receiver is reached through one.
    pub relay_address: Option<String>,
    /// Relay port.
    pub relay_port: Option<u16>,
    /// Only connect if the receiver proves `destination_public_key`.
    pub authenticate_destination: bool,
    /// The receiver's expected public key.
    pub destination_public_key: Option<String>,
    /// Never shared with a later non-exclusive `createDestination`.
    pub exclusive: bool,
    /// Kept when its last transfer is deleted.
    pub permanent: bool,
}

/// A destination as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// 32 hex digits.
    pub destination_id: String,
    /// `createDestination` parameters, as current.
    #[serde(flatten)]
    pub params: DestinationParams,
    /// The address it resolved to, once known.
    #[serde(rename = "destinationIP")]
    pub destination_ip: Option<String>,
    /// The connection it shares, once assigned.
    pub connection_id: Option<u64>,
    /// State of the encrypted channel.
    pub encrypted_connection_state: ConnectionState,
    /// Code of the last error, if any.
    pub last_error: Option<String>,
    /// Message of the last error, if any.
    pub last_error_message: Option<String>,
    /// When a datagram last arrived from it (Unix µs).
    pub last_recv_time: Option<i64>,
    /// When a datagram was last sent to it (Unix µs).
    pub last_send_time: Option<i64>,
    /// Server id the receiver last reported.
    pub last_destination_server_id: Option<String>,
    /// Destination id the receiver last reported in a ping response.
    pub last_receiver_destination_id: Option<String>,
    /// Last measured round-trip time.
    pub round_trip_time_ms: Option<f64>,
    /// Transfers pending, sending or resuming.
    pub num_transfers_queued: u64,
    /// Priority lanes, in order.
    pub priority_lanes: PriorityLanes,
    /// Defaults for new transfers.
    pub transfer_defaults: TransferDefaults,
    /// User data.
    pub user_data: UserData,
}

/// Changes to a destination: every `Some` field is written, `None` fields are left alone. For
/// nullable fields, `Some(None)` clears the value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DestinationUpdate {
    /// Rate cap in kbit/s.
    pub send_rate_max: Option<Option<f64>>,
    /// Resolved address.
    pub destination_ip: Option<Option<String>>,
    /// Shared connection.
    pub connection_id: Option<Option<u64>>,
    /// State of the encrypted channel.
    pub encrypted_connection_state: Option<ConnectionState>,
    /// Code of the last error.
    pub last_error: Option<Option<String>>,
    /// Message of the last error.
    pub last_error_message: Option<Option<String>>,
    /// Last receive time (Unix µs).
    pub last_recv_time: Option<i64>,
    /// Last send time (Unix µs).
    pub last_send_time: Option<i64>,
    /// Server id reported by the receiver.
    pub last_destination_server_id: Option<String>,
    /// Destination id reported by a ping response.
    pub last_receiver_destination_id: Option<String>,
    /// Measured round-trip time.
    pub round_trip_time_ms: Option<f64>,
    /// Priority lanes (replaced as a whole).
    pub priority_lanes: Option<PriorityLanes>,
    /// Transfer defaults (replaced as a whole; see [`Store::merge_transfer_defaults`]).
    pub transfer_defaults: Option<TransferDefaults>,
}

impl Record for Destination {
    const TABLE: Table = Table {
        name: "destinations",
        key: "id",
        what: "destination",
        param: "destinationId",
    };
    const SELECT: &'static str = concat!(
        "SELECT d.*, (SELECT COUNT(*) FROM transfers t WHERE t.destination_id = d.id AND t.status IN ",
        queued_statuses_sql!(),
        ") AS queued FROM destinations d"
    );

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        Ok(Destination {
            destination_id: c.get("id")?,
            params: DestinationParams {
                destination_address: c.get("address")?,
                destination_port: c.get("port")?,
                send_rate_max: c.get("send_rate_max")?,
                sender_port: c.get("sender_port")?,
                relay_address: c.get("relay_address")?,
                relay_port: c.get("relay_port")?,
                authenticate_destination: c.get("authenticate")?,
                destination_public_key: c.get("public_key")?,
                exclusive: c.get("exclusive")?,
                permanent: c.get("permanent")?,
            },
            destination_ip: c.get("ip")?,
            connection_id: c.get("connection_id")?,
            encrypted_connection_state: c.get("connection_state")?,
            last_error: c.get("last_error")?,
            last_error_message: c.get("last_error_message")?,
            last_recv_time: c.get("last_recv_time")?,
            last_send_time: c.get("last_send_time")?,
            last_destination_server_id: c.get("last_destination_server_id")?,
            last_receiver_destination_id: c.get("last_receiver_destination_id")?,
            round_trip_time_ms: c.get("round_trip_time_ms")?,
            num_transfers_queued: c.get("queued")?,
            priority_lanes: c.get("priority_lanes")?,
            transfer_defaults: c.get("transfer_defaults")?,
            user_data: UserData::new(),
        })
    }

    fn attach(&mut self, db: &Db) -> Result<()> {
        self.user_data = user_data::load(db, user_data::DESTINATION, &self.destination_id)?;
        Ok(())
    }
}

impl Store {
    /// Adds a destination with a new random id, the default priority lanes and no transfer
    /// defaults.
    pub fn insert_destination(&mut self, new: &DestinationParams) -> Result<Destination> {
        let id = self.random_id()?;
        self.db
            .prepare_cached(
                "INSERT INTO destinations (id, address, port, send_rate_max, sender_port,
                     relay_address, relay_port, authenticate, public_key, exclusive, permanent,
                     priority_lanes, transfer_defaults)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                id,
                new.destination_address,
                new.destination_port,
                new.send_rate_max,
                new.sender_port,
                new.relay_address,
                new.relay_port,
                new.authenticate_destination,
                new.destination_public_key,
                new.exclusive,
                new.permanent,
                PriorityLanes::default(),
                TransferDefaults::default(),
            ])?;
        self.get_destination(&id)
    }

    /// The oldest non-exclusive destination with the address, port, relay and key settings of
    /// `new` (what a non-exclusive `createDestination` returns instead of adding one).
    pub fn find_matching_destination(
        &self,
        new: &DestinationParams,
    ) -> Result<Option<Destination>> {
        let found = query(
            &self.db,
            "WHERE exclusive = 0 AND address = ?1 AND port = ?2 AND relay_address IS ?3
               AND relay_port IS ?4 AND authenticate = ?5 AND public_key IS ?6
             ORDER BY seq LIMIT 1",
            params![
                new.destination_address,
                new.destination_port,
                new.relay_address,
                new.relay_port,
                new.authenticate_destination,
                new.destination_public_key,
            ],
        )?;
        Ok(found.into_iter().next())
    }

    /// The destination `id`.
    pub fn get_destination(&self, id: &str) -> Result<Destination> {
        get(&self.db, id)
    }

    /// Destinations in creation order, at most `limit` of them.
    pub fn list_destinations(&self, limit: Option<usize>) -> Result<Vec<Destination>> {
        query(&self.db, "ORDER BY seq LIMIT ?1", [sql_limit(limit)])
    }

    /// Writes the `Some` fields of `changes` to destination `id`.
    pub fn update_destination(&mut self, id: &str, changes: &DestinationUpdate) -> Result<()> {
        let sets = assignments!(changes;
            send_rate_max => "send_rate_max",
            destination_ip => "ip",
            connection_id => "connection_id",
            encrypted_connection_state => "connection_state",
            last_error => "last_error",
            last_error_message => "last_error_message",
            last_recv_time => "last_recv_time",
            last_send_time => "last_send_time",
            last_destination_server_id => "last_destination_server_id",
            last_receiver_destination_id => "last_receiver_destination_id",
            round_trip_time_ms => "round_trip_time_ms",
            priority_lanes => "priority_lanes",
            transfer_defaults => "transfer_defaults",
        );
        update(&self.db, &Destination::TABLE, id, &sets)
    }

    /// Sets the transfer defaults that `changes` sets, keeping the others; returns the result.
    pub fn merge_transfer_defaults(
        &mut self,
        id: &str,
        changes: &TransferDefaults,
    ) -> Result<TransferDefaults> {
        let tx = self.db.transaction()?;
        let mut defaults: TransferDefaults = tx
            .query_row(
                "SELECT transfer_defaults FROM destinations WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::missing(&Destination::TABLE, id))?;
        defaults.merge(changes);
        update(
            &tx,
            &Destination::TABLE,
            id,
            &[("transfer_defaults", &defaults)],
        )?;
        tx.commit()?;
        Ok(defaults)
    }

    /// Deletes destination `id` with its transfers and their user data, in one statement.
    pub fn delete_destination(&mut self, id: &str) -> Result<()> {
        delete(&self.db, &Destination::TABLE, id)
    }

    /// Deletes every destination that is not permanent and has no transfer; returns how many.
    pub fn delete_unused_destinations(&mut self) -> Result<usize> {
        Ok(self
            .db
            .prepare_cached(
                "DELETE FROM destinations WHERE permanent = 0
                 AND NOT EXISTS (SELECT 1 FROM transfers WHERE destination_id = destinations.id)",
            )?
            .execute([])?)
    }
}
