//! The server's user accounts: a name and an argon2id hash of its password (PHC string, with
//! its own salt and parameters), checked when a client of the control port logs in.

use super::{delete, query, Columns, Record, Result, Store, StoreError, Table};
use argon2::password_hash::phc::Output;
use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use rusqlite::{params, Connection as Db, OptionalExtension, Row};
use serde::Serialize;
use std::sync::OnceLock;

/// A user account as the API and `jetstream user list` show it (never its password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The name it logs in with.
    pub user_name: String,
    /// Creation time (Unix µs).
    pub creation_time: i64,
}

impl Record for User {
    const TABLE: Table = Table {
        name: "users",
        key: "name",
        what: "user",
        param: "userName",
    };
    const SELECT: &'static str = "SELECT name, creation_time FROM users";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        Ok(User {
            user_name: c.get("name")?,
            creation_time: c.get("creation_time")?,
        })
    }

    fn attach(&mut self, _: &Db) -> Result<()> {
        Ok(())
    }
}

impl Store {
    /// Adds user `name` with `password`, kept as an argon2id hash; `AlreadyExists` if the name
    /// is taken. Hashing takes a noticeable time by design.
    pub fn add_user(&mut self, name: &str, password: &str, now: i64) -> Result<()> {
        let hash = hash_password(password)?;
        let added = self
            .db
            .prepare_cached(
                "INSERT INTO users (name, password_hash, creation_time) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO NOTHING",
            )?
            .execute(params![name, hash, now])?;
        match added {
            0 => Err(StoreError::exists(&User::TABLE, name)),
            _ => Ok(()),
        }
    }

    /// Deletes user `name`.
    pub fn delete_user(&mut self, name: &str) -> Result<()> {
        delete(&self.db, &User::TABLE, name)
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<User>> {
        query(&self.db, "ORDER BY name", [])
    }

    /// The password hash of user `name`; `None` if there is no such user.
    pub fn user_password_hash(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .db
            .prepare_cached("SELECT password_hash FROM users WHERE name = ?1")?
            .query_row([name], |row| row.get(0))
            .optional()?)
    }
}

/// The argon2id hash of `password` with a new random salt, as a PHC string.
fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| StoreError::Random)
}

/// The working memory of argon2id checks (about 19 MiB for the default parameters), kept by a
/// thread that checks passwords one after another: each check reuses it instead of allocating
/// its own, which the allocator would keep after it.
#[derive(Default)]
pub struct CheckMemory(Vec<Block>);

/// Whether `password` matches `hash` (a PHC string from [`Store::user_password_hash`]), checked
/// in `memory`. Without a hash (no such user) the password is checked against a hash of a
/// random one, so that a wrong user name takes as long to refuse as a wrong password.
pub fn verify_password(memory: &mut CheckMemory, hash: Option<&str>, password: &str) -> bool {
    static NOBODY: OnceLock<Option<String>> = OnceLock::new();
    let nobody = NOBODY.get_or_init(|| {
        let random: [u8; 16] = ring::rand::generate(&ring::rand::SystemRandom::new())
            .ok()?
            .expose();
        hash_password(&hex::encode(random)).ok()
    });
    match hash {
        Some(hash) => matches(memory, hash, password),
        None => {
            if let Some(nobody) = nobody {
                matches(memory, nobody, password);
            }
            false
        }
    }
}

/// Whether `password` hashes to `hash` with the salt, algorithm, version and parameters `hash`
/// names (what argon2's own verifier does, in `memory`); a hash that does not parse matches
/// nothing.
fn matches(memory: &mut CheckMemory, hash: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&hash),
        Algorithm::try_from(hash.algorithm.as_str()),
    ) else {
        return false;
    };
    let Ok(version) = hash.version.map(Version::try_from).transpose() else {
        return false;
    };
    let blocks = params.block_count();
    if memory.0.len() < blocks {
        memory.0.resize(blocks, Block::default());
    }
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    let hashed = Argon2::new(algorithm, version.unwrap_or_default(), params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory.0[..blocks]);
    // `Output`'s comparison takes the same time wherever the bytes differ.
    hashed.is_ok() && Output::new(out).is_ok_and(|computed| computed == *expected)
}
