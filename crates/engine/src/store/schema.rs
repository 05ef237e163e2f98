//! The database schema and its migrations, tracked by SQLite's `user_version`.
//!
//! `MIGRATIONS[i]` takes a database from version `i` to `i + 1`; version 0 is an empty file.
//! A later version appends a migration, never edits a shipped one.

use super::{Result, StoreError};
use rusqlite::{Connection as Db, TransactionBehavior};

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10];

/// Version 1: every object kind.
///
/// Transfers keep their manifest id without a foreign key: a manifest may be deleted while
/// transfers made from it live on. User data is keyed by (kind, object id), and a trigger per
/// kind deletes it with its object (foreign-key cascades fire these triggers too).
const V1: &str = "
CREATE TABLE connections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination_ip TEXT NOT NULL,
    destination_port INTEGER NOT NULL,
    relay_ip TEXT,
    relay_port INTEGER,
    send_rate REAL NOT NULL,
    send_rate_min REAL NOT NULL,
    send_rate_max REAL,
    rate_controller_active INTEGER NOT NULL,
    rate_control_method INTEGER NOT NULL,
    round_trip_time_ms REAL,
    loss_rate REAL NOT NULL DEFAULT 0,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    packets_sent INTEGER NOT NULL DEFAULT 0,
    connection_state TEXT NOT NULL DEFAULT 'disconnected',
    last_recv_time INTEGER,
    last_send_time INTEGER
);
CREATE INDEX connections_address ON connections (destination_ip, destination_port);

CREATE TABLE destinations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    ip TEXT,
    port INTEGER NOT NULL,
    connection_id INTEGER REFERENCES connections (id) ON DELETE SET NULL,
    send_rate_max REAL,
    sender_port INTEGER NOT NULL,
    relay_address TEXT,
    relay_port INTEGER,
    authenticate INTEGER NOT NULL,
    public_key TEXT,
    exclusive INTEGER NOT NULL,
    permanent INTEGER NOT NULL,
    connection_state TEXT NOT NULL DEFAULT 'disconnected',
    last_error TEXT,
    last_error_message TEXT,
    last_recv_time INTEGER,
    last_send_time INTEGER,
    last_destination_server_id TEXT,
    last_receiver_destination_id TEXT,
    round_trip_time_ms REAL,
    priority_lanes TEXT NOT NULL,
    transfer_defaults TEXT NOT NULL
);
CREATE INDEX destinations_address ON destinations (address, port);
CREATE INDEX destinations_connection ON destinations (connection_id);

CREATE TABLE manifests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    error_message TEXT,
    total_files INTEGER NOT NULL DEFAULT 0,
    total_size INTEGER NOT NULL DEFAULT 0,
    symlink_options INTEGER NOT NULL,
    creation_time INTEGER NOT NULL
);

CREATE TABLE manifest_files (
    manifest INTEGER NOT NULL REFERENCES manifests (seq) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    src_path TEXT NOT NULL,
    dest_path TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    is_empty_dir INTEGER NOT NULL,
    executable INTEGER NOT NULL,
    modification_time INTEGER,
    PRIMARY KEY (manifest, idx)
) WITHOUT ROWID;

CREATE TABLE transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    destination_id TEXT NOT NULL REFERENCES destinations (id) ON DELETE CASCADE,
    manifest_id TEXT NOT NULL,
    destination_path TEXT,
    priority INTEGER NOT NULL,
    priority_lane TEXT NOT NULL,
    send_rate_max REAL,
    overwrite_mode INTEGER NOT NULL,
    transfer_flags INTEGER NOT NULL,
    min_cipher INTEGER NOT NULL,
    checkpoint_frequency_seconds INTEGER NOT NULL,
    file_time_resolution_us INTEGER NOT NULL,
    timeout_seconds REAL NOT NULL,
    user_name TEXT,
    uses_token INTEGER NOT NULL,
    transfer_log INTEGER NOT NULL,
    block_size INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_message TEXT,
    cipher INTEGER,
    request_time INTEGER NOT NULL,
    queue_time INTEGER,
    start_time INTEGER,
    end_time INTEGER,
    total_files INTEGER NOT NULL DEFAULT 0,
    files_complete INTEGER NOT NULL DEFAULT 0,
    total_bytes INTEGER NOT NULL DEFAULT 0,
    total_blocks INTEGER NOT NULL DEFAULT 0,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    bytes_acked INTEGER NOT NULL DEFAULT 0,
    blocks_sent INTEGER NOT NULL DEFAULT 0,
    blocks_acked INTEGER NOT NULL DEFAULT 0,
    blocks_retransmitted INTEGER NOT NULL DEFAULT 0,
    packets_sent INTEGER NOT NULL DEFAULT 0,
    packets_recv INTEGER NOT NULL DEFAULT 0,
    send_rate REAL NOT NULL DEFAULT 0,
    acked_ranges BLOB NOT NULL DEFAULT x'',
    complete_files BLOB NOT NULL DEFAULT x''
);
CREATE INDEX transfers_destination ON transfers (destination_id, id);

CREATE TABLE tokens (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    manifest_id TEXT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    description TEXT,
    password_salt BLOB,
    password_hash BLOB,
    password_iterations INTEGER,
    download_limit INTEGER,
    download_count INTEGER NOT NULL DEFAULT 0,
    creation_time INTEGER NOT NULL,
    expiry_time INTEGER
);
CREATE INDEX tokens_manifest ON tokens (manifest_id);

CREATE TABLE user_data (
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (kind, object_id, key)
) WITHOUT ROWID;

CREATE TRIGGER destinations_user_data AFTER DELETE ON destinations BEGIN
    DELETE FROM user_data WHERE kind = 'destination' AND object_id = old.id;
END;
CREATE TRIGGER manifests_user_data AFTER DELETE ON manifests BEGIN
    DELETE FROM user_data WHERE kind = 'manifest' AND object_id = old.id;
END;
CREATE TRIGGER transfers_user_data AFTER DELETE ON transfers BEGIN
    DELETE FROM user_data WHERE kind = 'transfer' AND object_id = CAST(old.id AS TEXT);
END;
CREATE TRIGGER tokens_user_data AFTER DELETE ON tokens BEGIN
    DELETE FROM user_data WHERE kind = 'token' AND object_id = old.token;
END;

CREATE TABLE requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    request_time INTEGER NOT NULL,
    end_time INTEGER
);
";

/// The schema version of `db`.
pub(super) fn version(db: &Db) -> Result<i64> {
    Ok(db.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings `db` to [`SCHEMA_VERSION`], one migration per immediate transaction (so two
/// processes opening a new file at once do not both migrate it).
pub(super) fn migrate(db: &mut Db) -> Result<()> {
    loop {
        let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = version(&tx)?;
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let migration = usize::try_from(found)
            .ok()
            .and_then(|from| MIGRATIONS.get(from))
            .ok_or(StoreError::UnknownSchema {
                found,
                supported: SCHEMA_VERSION,
            })?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}

/// Version 2: the receiver's side: transfers received, authorized sender keys and settings.
const V2: &str = "
CREATE TABLE received_transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_key TEXT NOT NULL,
    sender_address TEXT NOT NULL,
    sender_transfer_id INTEGER NOT NULL,
    destination_path TEXT NOT NULL,
    status TEXT NOT NULL,
    error_message TEXT,
    total_files INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL,
    files_complete INTEGER NOT NULL DEFAULT 0,
    bytes_received INTEGER NOT NULL DEFAULT 0,
    start_time INTEGER NOT NULL,
    end_time INTEGER
);
CREATE INDEX received_transfers_sender ON received_transfers (sender_key, id);

CREATE TABLE authorized_clients (
    public_key TEXT PRIMARY KEY,
    added_time INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 3: the transfers not ended yet, found without reading the ended ones (the server
/// looks for them whenever it schedules).
const V3: &str = "
CREATE INDEX transfers_unfinished ON transfers (id) WHERE status NOT IN ('complete', 'error');
";

/// Version 4: how often a transfer's session was started again after it died, and why the
/// last one died.
const V4: &str = "
ALTER TABLE transfers ADD COLUMN reconnects INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN last_error TEXT;
";

/// Version 5: the accounts of the control port: users with their password hashes, and API
/// tokens kept as their SHA-256.
const V5: &str = "
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    creation_time INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_tokens (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id TEXT NOT NULL UNIQUE,
    token_hash BLOB NOT NULL UNIQUE,
    user_name TEXT,
    description TEXT,
    sandbox_path TEXT NOT NULL,
    permissions TEXT NOT NULL,
    creation_time INTEGER NOT NULL,
    expiry_time INTEGER
);
";

/// Version 6: the server's event log, and the sandbox roots of users.
const V6: &str = "
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    transfer_id INTEGER,
    received_id INTEGER,
    path TEXT,
    user_name TEXT
);

CREATE TABLE sandbox_mappings (
    user_name TEXT PRIMARY KEY,
    path TEXT NOT NULL
) WITHOUT ROWID;
";

/// Version 7: the per-file results of sent transfers, deleted with their transfer.
const V7: &str = "
CREATE TABLE transfer_files (
    transfer_id INTEGER NOT NULL REFERENCES transfers (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    src_path TEXT NOT NULL,
    dest_path TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    is_empty_dir INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    digest TEXT,
    error_message TEXT,
    end_time INTEGER,
    PRIMARY KEY (transfer_id, idx)
) WITHOUT ROWID;
";

/// Version 8: who a received transfer was for: the account the sender logged in as, and whether
/// it was a download by one of the sender's shared tokens.
const V8: &str = "
ALTER TABLE received_transfers ADD COLUMN user_name TEXT;
ALTER TABLE received_transfers ADD COLUMN uses_token INTEGER NOT NULL DEFAULT 0;
";

/// Version 9: what the last transfer over a connection measured about its path (the rate it
/// carried in kbit/s, its smallest RTT and the fraction lost), which the next one starts from.
const V9: &str = "
ALTER TABLE connections ADD COLUMN measured_rate REAL;
ALTER TABLE connections ADD COLUMN measured_min_rtt_ms REAL;
ALTER TABLE connections ADD COLUMN measured_loss_rate REAL;
";

/// Version 10: which files a transfer's receiver keeps as they are (`SKIP_*`; existing
/// transfers compare size and time), and how many it kept.
const V10: &str = "
ALTER TABLE transfers ADD COLUMN skip_mode INTEGER NOT NULL DEFAULT 1;
ALTER TABLE transfers ADD COLUMN files_skipped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transfers ADD COLUMN bytes_skipped INTEGER NOT NULL DEFAULT 0;
";
