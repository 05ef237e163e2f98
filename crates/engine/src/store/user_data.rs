//! User data: string key/value pairs attached to a destination, manifest, transfer or token,
//! deleted with their object (by the schema's triggers).

use super::{require, Destination, Manifest, Record, Result, Store, StoreError, Token, Transfer};
use rusqlite::Connection as Db;
use std::collections::BTreeMap;

/// An object's user data, ordered by key.
pub type UserData = BTreeMap<String, String>;

/// The object a piece of user data belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectRef {
    /// A destination, by `destinationId`.
    Destination(String),
    /// A manifest, by `manifestId`.
    Manifest(String),
    /// A transfer, by `transferId`.
    Transfer(u64),
    /// A shared token, by its token string.
    Token(String),
}

pub(super) const DESTINATION: &str = "destination";
pub(super) const MANIFEST: &str = "manifest";
pub(super) const TRANSFER: &str = "transfer";
pub(super) const TOKEN: &str = "token";

impl ObjectRef {
    /// The kind and object id as the `user_data` table keys them.
    fn key(&self) -> (&'static str, String) {
        match self {
            ObjectRef::Destination(id) => (DESTINATION, id.clone()),
            ObjectRef::Manifest(id) => (MANIFEST, id.clone()),
            ObjectRef::Transfer(id) => (TRANSFER, id.to_string()),
            ObjectRef::Token(token) => (TOKEN, token.clone()),
        }
    }

    /// Fails with `NotFound` unless the object exists.
    fn require(&self, db: &Db) -> Result<()> {
        match self {
            ObjectRef::Destination(id) => require(db, &Destination::TABLE, id.as_str()),
            ObjectRef::Manifest(id) => require(db, &Manifest::TABLE, id.as_str()),
            ObjectRef::Transfer(id) => require(db, &Transfer::TABLE, *id),
            ObjectRef::Token(token) => require(db, &Token::TABLE, token.as_str()),
        }
    }
}

/// The user data of object `object_id` of kind `kind`.
pub(super) fn load(db: &Db, kind: &str, object_id: &str) -> Result<UserData> {
    let mut stmt = db.prepare_cached(
        "SELECT key, value FROM user_data WHERE kind = ?1 AND object_id = ?2 ORDER BY key",
    )?;
    let pairs = stmt.query_map([kind, object_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(pairs.collect::<rusqlite::Result<UserData>>()?)
}

/// Sets `key` to `value` for the object, adding or replacing it.
pub(super) fn set(db: &Db, kind: &str, object_id: &str, key: &str, value: &str) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO user_data (kind, object_id, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, object_id, key) DO UPDATE SET value = excluded.value",
    )?
    .execute([kind, object_id, key, value])?;
    Ok(())
}

impl Store {
    /// Adds or replaces the user data `key` of `object`.
    pub fn set_user_data(&mut self, object: &ObjectRef, key: &str, value: &str) -> Result<()> {
        object.require(&self.db)?;
        let (kind, object_id) = object.key();
        set(&self.db, kind, &object_id, key, value)
    }

    /// Removes the user data `key` of `object`; `NotFound` if the object or the key is absent.
    pub fn delete_user_data(&mut self, object: &ObjectRef, key: &str) -> Result<()> {
        object.require(&self.db)?;
        let (kind, object_id) = object.key();
        let deleted = self
            .db
            .prepare_cached(
                "DELETE FROM user_data WHERE kind = ?1 AND object_id = ?2 AND key = ?3",
            )?
            .execute([kind, &object_id, key])?;
        match deleted {
            0 => Err(StoreError::not_found("user data key", "key", key)),
            _ => Ok(()),
        }
    }

    /// All user data of `object`.
    pub fn user_data(&self, object: &ObjectRef) -> Result<UserData> {
        object.require(&self.db)?;
        let (kind, object_id) = object.key();
        load(&self.db, kind, &object_id)
    }

    /// The destination, manifest or token whose id is `id` (an API call may name any of them
    /// by a string id; transfers have integer ids).
    pub fn resolve_object(&self, id: &str) -> Result<ObjectRef> {
        let candidates = [
            ObjectRef::Destination(id.to_owned()),
            ObjectRef::Manifest(id.to_owned()),
            ObjectRef::Token(id.to_owned()),
        ];
        for candidate in candidates {
            match candidate.require(&self.db) {
                Ok(()) => return Ok(candidate),
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::not_found("object", "objId", id))
    }
}
