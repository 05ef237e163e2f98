//! The server's user accounts: a name and an argon2id hash of its password (PHC string, with
//! its own salt and parameters), checked when a client of the control port logs in.

use super::{delete, query, Columns, Record, Result, Store, StoreError, Table};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
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

/// Whether `password` matches `hash` (a PHC string from [`Store::user_password_hash`]). Without
/// a hash (no such user) the password is checked against a hash of a random one, so that a
/// wrong user name takes as long to refuse as a wrong password.
pub fn verify_password(hash: Option<&str>, password: &str) -> bool {
    static NOBODY: OnceLock<Option<String>> = OnceLock::new();
    let nobody = NOBODY.get_or_init(|| {
        let random: [u8; 16] = ring::rand::generate(&ring::rand::SystemRandom::new())
            .ok()?
            .expose();
        hash_password(&hex::encode(random)).ok()
    });
    let verify = |hash: &str| {
        Argon2::default()
            .verify_password(password.as_bytes(), hash)
            .is_ok()
    };
    match hash {
        Some(hash) => verify(hash),
        None => {
            if let Some(nobody) = nobody {
                verify(nobody);
            }
            false
        }
    }
}
