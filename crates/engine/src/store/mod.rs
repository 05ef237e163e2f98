//! The object store: destinations, connections, manifests, transfers, tokens, user data and
//! requests kept in one SQLite file, so a killed server loses no object and no acknowledged
//! progress.
//!
//! Every SQL statement of the engine lives below this module; callers see typed records and
//! methods on [`Store`]. The store is owned by the one actor that holds the server state: writes
//! take `&mut self`, reads `&self`, and the store is `Send` but not `Sync`. Times are Unix
//! microseconds passed in by the caller, so the store never reads the clock.

use rusqlite::types::{FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection as Db, Params, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

/// Defines a fieldless enum stored in SQLite and serialized to the API as lowercase text.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The name the API and the database use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                match value.as_str()? {
                    $($text => Ok($name::$variant),)+
                    other => Err(rusqlite::types::FromSqlError::Other(
                        format!("unknown {} {other:?}", stringify!($name)).into(),
                    )),
                }
            }
        }
    };
}

/// The transfer statuses in which a transfer is queued or moving data, as an SQL list.
macro_rules! queued_statuses_sql {
    () => {
        "('pending', 'sending', 'resuming')"
    };
}

/// Builds the `(column, value)` assignments of an update from its `Option` fields: a field that
/// is `None` leaves its column unchanged.
macro_rules! assignments {
    ($patch:expr; $($field:ident => $column:literal),+ $(,)?) => {{
        let mut sets: Vec<(&'static str, &dyn rusqlite::types::ToSql)> = Vec::new();
        $(
            if let Some(value) = &$patch.$field {
                sets.push(($column, value));
            }
        )+
        sets
    }};
}

mod api_tokens;
mod bandwidth;
mod codec;
mod connections;
mod destinations;
mod events;
mod figures;
mod manifests;
mod received;
mod requests;
mod sandbox_mappings;
mod schema;
mod tokens;
mod transfer_files;
mod transfers;
mod user_data;
mod users;

pub use api_tokens::{ApiToken, NewApiToken};
/// The blob form of stored range sets, public so the fuzz targets reach its decoder.
pub use bandwidth::BandwidthLimits;
pub use codec::{
    decode as decode_range_blob, encode as encode_range_blob, DecodeError as RangeBlobError,
};
pub use connections::{Connection, ConnectionUpdate, NewConnection};
pub use destinations::{
    Destination, DestinationParams, DestinationUpdate, PriorityLanes, TransferDefaults,
};
pub use events::{Event, EventKind, NewEvent, EVENT_KEEP_COUNT};
pub use figures::{ReceivedTotals, SentTotals};
pub use manifests::{Manifest, ManifestFile, ManifestFiles, ManifestStatus};
pub use received::{NewReceived, ReceivedTransfer, Source};
pub use requests::{Request, RequestStatus, REQUEST_KEEP_COUNT, REQUEST_KEEP_MICROS};
pub use sandbox_mappings::SandboxMapping;
pub use schema::SCHEMA_VERSION;
pub use tokens::{DownloadCheck, NewToken, Token, TokenSecret};
pub use transfer_files::{FileOutcome, TransferFile, TransferFileStatus};
pub use transfers::{
    Checkpoint, NewTransfer, Transfer, TransferParams, TransferProgress, TransferStatus,
    TransferUpdate,
};
pub use user_data::{ObjectRef, UserData};
pub use users::{verify_password, CheckMemory, User};

text_enum! {
    /// State of the encrypted channel to a receiver.
    ConnectionState {
        /// No channel (and always the state after the store is reopened).
        Disconnected => "disconnected",
        /// The handshake is running.
        Negotiating => "negotiating",
        /// The channel is up.
        Connected => "connected",
    }
}

/// A failure of the object store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No object of kind `what` has the id `id`, given as parameter `param`.
    #[error("{param} {id}: no such {what}")]
    NotFound {
        /// The kind of object, as the API names it ("destination", "transfer", ...).
        what: &'static str,
        /// The API parameter that carried the id ("destinationId", "after", ...).
        param: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// SQLite failed, or a stored value could not be decoded.
    #[error("object store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database has a schema version this build cannot migrate (written by a newer one).
    #[error("object store schema version {found} is unknown (this build knows up to {supported})")]
    UnknownSchema {
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// An object of kind `what` with the id `id` exists already.
    #[error("{param} {id}: the {what} exists already")]
    Exists {
        /// The kind of object, as the API names it.
        what: &'static str,
        /// The API parameter that carried the id.
        param: &'static str,
        /// The id.
        id: String,
    },
    /// The system's random generator failed (ids, tokens and salts need it).
    #[error("the system random generator failed")]
    Random,
}

impl StoreError {
    fn not_found(what: &'static str, param: &'static str, id: impl Display) -> Self {
        StoreError::NotFound {
            what,
            param,
            id: id.to_string(),
        }
    }

    /// No row of `table` has the key `id`.
    fn missing(table: &Table, id: impl Display) -> Self {
        Self::not_found(table.what, table.param, id)
    }

    /// A row of `table` has the key `id` already.
    fn exists(table: &Table, id: impl Display) -> Self {
        StoreError::Exists {
            what: table.what,
            param: table.param,
            id: id.to_string(),
        }
    }

    /// The same error, saying the missing id came as parameter `param` (for ids given under
    /// another name than their own, such as `before` or `objId`); other errors are unchanged.
    pub fn for_param(self, param: &'static str) -> Self {
        match self {
            StoreError::NotFound { what, id, .. } => StoreError::NotFound { what, param, id },
            other => other,
        }
    }

    /// Whether the object looked up does not exist (deleted meanwhile, or never made).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

impl From<StoreError> for crate::error::Error {
    fn from(e: StoreError) -> Self {
        use crate::error::Code;
        let code = match e {
            StoreError::NotFound { .. } => Code::NotFound,
            StoreError::Exists { .. } => Code::AlreadyExists,
            _ => Code::Internal,
        };
        crate::error::Error::new(code, e.to_string()).with_source(e)
    }
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Which part of a list to return, in creation order.
///
/// `after` and `before` exclude the object they name. With only `before` set, the `limit`
/// objects nearest before it are returned (still oldest first); otherwise the `limit` oldest
/// objects within the bounds. `limit: None` (or `Some(0)`) returns them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<K> {
    /// Only objects created before this one.
    pub before: Option<K>,
    /// Only objects created after this one.
    pub after: Option<K>,
    /// At most this many objects.
    pub limit: Option<usize>,
}

impl<K> Default for Page<K> {
    fn default() -> Self {
        Page {
            before: None,
            after: None,
            limit: None,
        }
    }
}

/// A page resolved to bounds on an integer creation-order column.
struct Window {
    after: i64,
    before: i64,
    limit: i64,
    nearest_before: bool,
}

impl Window {
    fn new(after: Option<i64>, before: Option<i64>, limit: Option<usize>) -> Window {
        Window {
            after: after.unwrap_or(i64::MIN),
            before: before.unwrap_or(i64::MAX),
            // SQLite reads a negative LIMIT as "no limit"; the API's documented default,
            // `limit=0`, means no limit too.
            limit: limit
                .filter(|l| *l > 0)
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)),
            nearest_before: before.is_some() && after.is_none(),
        }
    }

    /// `column > ?a AND column < ?b ORDER BY column LIMIT ?c`, numbering parameters from
    /// `first`; bind [`Window::params`] there.
    fn clause(&self, column: &str, first: usize) -> String {
        let order = if self.nearest_before { "DESC" } else { "ASC" };
        format!(
            "{column} > ?{} AND {column} < ?{} ORDER BY {column} {order} LIMIT ?{}",
            first,
            first + 1,
            first + 2
        )
    }

    fn params(&self) -> [i64; 3] {
        [self.after, self.before, self.limit]
    }

    /// Puts rows fetched with [`Window::clause`] in creation order.
    fn finish<T>(&self, mut rows: Vec<T>) -> Vec<T> {
        if self.nearest_before {
            rows.reverse();
        }
        rows
    }
}

/// Clamps an API integer id (transfer, received transfer) into SQLite's integer range (ids
/// never exceed it).
fn sql_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// Converts a caller's `limit` for SQLite (negative means no limit; so does 0 from the API).
fn sql_limit(limit: Option<usize>) -> i64 {
    Window::new(None, None, limit).limit
}

/// One object table: its name, key column, the API's word for its objects and the API's name
/// of their id.
struct Table {
    name: &'static str,
    key: &'static str,
    what: &'static str,
    param: &'static str,
}

/// A kind of object read from one table into a typed record.
trait Record: Sized {
    /// The table the records come from.
    const TABLE: Table;
    /// `SELECT <columns> FROM <table> <alias>`; callers append `WHERE`/`ORDER BY`.
    const SELECT: &'static str;
    /// Builds the record from a row of [`Record::SELECT`].
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self>;
    /// Loads what is stored beside the row (user data).
    fn attach(&mut self, db: &Db) -> Result<()>;
}

/// A row's columns by name. rusqlite finds a column by name by scanning every column name,
/// once per field read; this reads the names once per row.
struct Columns<'r, 's> {
    row: &'r Row<'s>,
    names: std::collections::HashMap<&'r str, usize>,
}

impl<'r, 's> Columns<'r, 's> {
    fn of(row: &'r Row<'s>) -> Self {
        let stmt: &'r rusqlite::Statement<'s> = row.as_ref();
        let names = stmt
            .column_names()
            .enumerate()
            .map(|(i, name)| (name, i))
            .collect();
        Columns { row, names }
    }

    /// The value of column `name`.
    fn get<T: rusqlite::types::FromSql>(&self, name: &str) -> rusqlite::Result<T> {
        match self.names.get(name) {
            Some(&i) => self.row.get(i),
            None => Err(rusqlite::Error::InvalidColumnName(name.to_owned())),
        }
    }
}

/// Runs `SELECT ... <tail>` and builds the records.
fn query<T: Record>(db: &Db, tail: &str, params: impl Params) -> Result<Vec<T>> {
    let sql = format!("{} {tail}", T::SELECT);
    let mut stmt = db.prepare_cached(&sql)?;
    let mut records = stmt
        .query_map(params, T::from_row)?
        .collect::<rusqlite::Result<Vec<T>>>()?;
    for record in &mut records {
        record.attach(db)?;
    }
    Ok(records)
}

/// Reads the record whose key is `id`.
fn get<T: Record, K: ToSql + Display>(db: &Db, id: K) -> Result<T> {
    let tail = format!("WHERE {} = ?1", T::TABLE.key);
    query(db, &tail, [&id])?
        .pop()
        .ok_or_else(|| StoreError::missing(&T::TABLE, &id))
}

/// Fails with `NotFound` unless `table` has a row keyed `id`.
fn require<K: ToSql + Display>(db: &Db, table: &Table, id: K) -> Result<()> {
    let sql = format!(
        "SELECT EXISTS(SELECT 1 FROM {} WHERE {} = ?1)",
        table.name, table.key
    );
    if db
        .prepare_cached(&sql)?
        .query_row([&id], |row| row.get(0))?
    {
        Ok(())
    } else {
        Err(StoreError::missing(table, &id))
    }
}

/// Sets `sets` on the row keyed `id`; `NotFound` if there is none (even with nothing to set).
fn update<K: ToSql + Display>(
    db: &Db,
    table: &Table,
    id: K,
    sets: &[(&'static str, &dyn ToSql)],
) -> Result<()> {
    let assignments = if sets.is_empty() {
        format!("{key} = {key}", key = table.key)
    } else {
        sets.iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = ?{}", i + 2))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "UPDATE {} SET {assignments} WHERE {} = ?1",
        table.name, table.key
    );
    let mut params: Vec<&dyn ToSql> = vec![&id];
    params.extend(sets.iter().map(|(_, value)| *value));
    match db.prepare_cached(&sql)?.execute(params.as_slice())? {
        0 => Err(StoreError::missing(table, &id)),
        _ => Ok(()),
    }
}

/// Deletes the row keyed `id` (and, through the schema, everything that belongs to it).
fn delete<K: ToSql + Display>(db: &Db, table: &Table, id: K) -> Result<()> {
    let sql = format!("DELETE FROM {} WHERE {} = ?1", table.name, table.key);
    match db.prepare_cached(&sql)?.execute([&id])? {
        0 => Err(StoreError::missing(table, &id)),
        _ => Ok(()),
    }
}

/// `value` as JSON text for a column.
fn json_to_sql<T: Serialize>(value: &T) -> rusqlite::Result<ToSqlOutput<'static>> {
    serde_json::to_string(value)
        .map(ToSqlOutput::from)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A value read from a column of JSON text.
fn json_from_sql<T: DeserializeOwned>(value: ValueRef<'_>) -> FromSqlResult<T> {
    serde_json::from_str(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
}

/// Makes SQLite plan each statement once, whatever values are bound to it. By default a
/// statement whose plan could depend on a bound value is marked for a new plan when its
/// bindings are cleared, which rusqlite's statement cache does after every use: each cached
/// read was compiled again.
fn plan_once(db: &Db) -> rusqlite::Result<()> {
    db.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
}

/// The engine's object store over one SQLite database.
pub struct Store {
    db: Db,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in the SQLite file at `path`: WAL journal,
    /// `synchronous=NORMAL`, foreign keys on, schema created or migrated to
    /// [`SCHEMA_VERSION`]. Connection states left from a previous run read `disconnected`.
    pub fn open(path: &Path) -> Result<Store> {
        let db = Db::open(path)?;
        // In WAL mode, NORMAL loses no committed transaction on a process crash; only a power
        // loss may roll back the last ones.
        db.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        Self::init(db)
    }

    /// Opens the store in `path` for reading only, beside the server that writes it (which
    /// must have opened it first: the schema is neither created nor migrated here).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        // Opened read-write but refusing writes: a read-only open would map the WAL index
        // read-only, which makes SQLite check the schema again (and re-prepare) each read.
        let db = Db::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        db.pragma_update(None, "query_only", true)?;
        plan_once(&db)?;
        db.busy_timeout(Duration::from_secs(5))?;
        let store = Store {
            db,
            rng: ring::rand::SystemRandom::new(),
        };
        match store.schema_version()? {
            SCHEMA_VERSION => Ok(store),
            found => Err(StoreError::UnknownSchema {
                found,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    /// Runs `read` in one read transaction: one consistent snapshot, and the database's locks
    /// taken once rather than once per statement.
    pub fn read<T, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let tx = self
            .db
            .unchecked_transaction()
            .map_err(|e| E::from(e.into()))?;
        let value = read(self)?;
        tx.commit().map_err(|e| E::from(e.into()))?;
        Ok(value)
    }

    /// Opens a store that lives in memory only (for tests).
    pub fn open_in_memory() -> Result<Store> {
        Self::init(Db::open_in_memory()?)
    }

    fn init(mut db: Db) -> Result<Store> {
        plan_once(&db)?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.pragma_update(None, "foreign_keys", true)?;
        db.busy_timeout(Duration::from_secs(5))?;
        schema::migrate(&mut db)?;
        db.execute_batch(
            "UPDATE destinations SET connection_state = 'disconnected';
             UPDATE connections SET connection_state = 'disconnected';
             UPDATE received_transfers SET status = 'error',
                 error_message = 'the receiver stopped during the transfer'
                 WHERE status = 'receiving';",
        )?;
        Ok(Store {
            db,
            rng: ring::rand::SystemRandom::new(),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        schema::version(&self.db)
    }

    /// 128 random bits as 32 lowercase hex digits (destination, manifest and token ids).
    fn random_id(&self) -> Result<String> {
        let bytes: [u8; 16] = self.random_bytes()?;
        Ok(hex::encode(bytes))
    }

    fn random_bytes<const N: usize>(&self) -> Result<[u8; N]> {
        ring::rand::generate(&self.rng)
            .map(|random| random.expose())
            .map_err(|_| StoreError::Random)
    }
}
