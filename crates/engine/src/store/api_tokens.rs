//! API tokens: random bearer secrets for the control port, each granting a set of permissions
//! inside a directory of the server's sandbox, with an optional expiry. Only the SHA-256 of a
//! token is kept; its first 8 bytes in hex are the token's public id.

use super::tokens::expiry;
use super::{delete, query, sql_limit, Columns, Record, Result, Store, StoreError, Table};
use crate::command::Permissions;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, Connection as Db, Row};
use serde::Serialize;

/// A token to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiToken {
    /// The user who creates it; `None` for the embedding process.
    pub user_name: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The directory below the server's sandbox that confines it (`/`-separated, checked by
    /// the caller; empty for the whole sandbox).
    pub sandbox_path: String,
    /// What it may do.
    pub permissions: Permissions,
    /// Seconds from creation until it expires; `None` for never.
    pub time_limit_seconds: Option<u64>,
}

/// An API token as the API shows it (never the token itself, which only its creation returns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// The token's public id: the first 16 hex digits of its SHA-256.
    pub token_id: String,
    /// The user who created it.
    pub user_name: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The directory of the server's sandbox that confines it, `/` for the whole sandbox.
    pub sandbox_path: String,
    /// What it may do.
    pub permissions: Permissions,
    /// Creation time (Unix µs).
    pub creation_time: i64,
    /// Expiry time (Unix µs); `None` for never.
    pub expiry_time: Option<i64>,
}

impl ToSql for Permissions {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.to_text().into())
    }
}

impl FromSql for Permissions {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Permissions::from_text(text)
            .ok_or_else(|| FromSqlError::Other(format!("unknown permissions {text:?}").into()))
    }
}

impl Record for ApiToken {
    const TABLE: Table = Table {
        name: "api_tokens",
        key: "token_id",
        what: "API token",
        param: "token",
    };
    const SELECT: &'static str = "SELECT * FROM api_tokens";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        let sandbox_path: String = c.get("sandbox_path")?;
        Ok(ApiToken {
            token_id: c.get("token_id")?,
            user_name: c.get("user_name")?,
            description: c.get("description")?,
            sandbox_path: format!("/{sandbox_path}"),
            permissions: c.get("permissions")?,
            creation_time: c.get("creation_time")?,
            expiry_time: c.get("expiry_time")?,
        })
    }

    fn attach(&mut self, _: &Db) -> Result<()> {
        Ok(())
    }
}

/// The id of `token`: what the store keys it by.
fn token_id(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    hex::encode(&digest.as_ref()[..8])
}

/// The full SHA-256 of `token`, which the store keeps to check a bearer.
fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Whether `text` has the form of a token (64 hex digits) rather than of a token id.
fn is_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Store {
    /// Adds a token with a new random secret, created at `now`: the secret (shown this once)
    /// and the token's record.
    pub fn insert_api_token(&mut self, new: &NewApiToken, now: i64) -> Result<(String, ApiToken)> {
        let bytes: [u8; 32] = self.random_bytes()?;
        let token = hex::encode(bytes);
        let id = token_id(&token);
        self.db
            .prepare_cached(
                "INSERT INTO api_tokens (token_id, token_hash, user_name, description,
                     sandbox_path, permissions, creation_time, expiry_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                token_hash(&token),
                new.user_name,
                new.description,
                new.sandbox_path,
                new.permissions,
                now,
                new.time_limit_seconds.map(|seconds| expiry(now, seconds)),
            ])?;
        let record = self.get_api_token(&id)?;
        Ok((token, record))
    }

    /// The token given by its secret or by its id.
    pub fn get_api_token(&self, token_or_id: &str) -> Result<ApiToken> {
        let found = if is_token(token_or_id) {
            self.api_token_by_secret(token_or_id)?
        } else {
            query(&self.db, "WHERE token_id = ?1", [token_or_id])?.pop()
        };
        found.ok_or_else(|| StoreError::missing(&ApiToken::TABLE, shown(token_or_id)))
    }

    /// The token whose secret is `token` (never found by its id: the id is public).
    pub fn api_token_by_secret(&self, token: &str) -> Result<Option<ApiToken>> {
        if !is_token(token) {
            return Ok(None);
        }
        let hash = token_hash(&token.to_ascii_lowercase());
        Ok(query(&self.db, "WHERE token_hash = ?1", [hash])?.pop())
    }

    /// Tokens in creation order, at most `limit` of them.
    pub fn list_api_tokens(&self, limit: Option<usize>) -> Result<Vec<ApiToken>> {
        query(&self.db, "ORDER BY seq LIMIT ?1", [sql_limit(limit)])
    }

    /// Deletes the token given by its secret or by its id.
    pub fn delete_api_token(&mut self, token_or_id: &str) -> Result<()> {
        let id = self.get_api_token(token_or_id)?.token_id;
        delete(&self.db, &ApiToken::TABLE, id)
    }
}

/// How a token named in a request appears in a message: a secret by its id only.
fn shown(token_or_id: &str) -> String {
    if is_token(token_or_id) {
        format!("with id {}", token_id(&token_or_id.to_ascii_lowercase()))
    } else {
        token_or_id.to_owned()
    }
}
