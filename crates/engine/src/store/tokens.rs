//! Shared tokens: random strings that grant downloads of a manifest, with an optional password
//! kept only as a salted PBKDF2-HMAC-SHA256 hash, a download limit and an expiry time.

use super::user_data::{self, UserData};
use super::{
    delete, get, query, require, sql_limit, update, Columns, Manifest, Record, Result, Store,
    StoreError, Table,
};
use ring::pbkdf2;
use rusqlite::types::ToSql;
use rusqlite::{params, Connection as Db, OptionalExtension, Row};
use serde::Serialize;
use std::num::NonZeroU32;

static PBKDF2_ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;

/// Iterations for new hashes; each row records its own, so this can grow later.
// `unwrap` is evaluated at compile time on a non-zero literal.
const PBKDF2_ITERATIONS: NonZeroU32 = NonZeroU32::new(310_000).unwrap();

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// A shared token's password, as kept: a salted PBKDF2-HMAC-SHA256 hash, or none.
pub struct TokenSecret {
    salt: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
    iterations: Option<u32>,
}

/// Shows only whether there is a password.
impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSecret")
            .field("password", &self.hash.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenSecret {
    /// Whether `password` opens the token: always for a token without a password, never
    /// without a password for one that has it. The comparison takes constant time.
    pub fn opens(&self, password: Option<&str>) -> bool {
        let Some(hash) = &self.hash else {
            return true;
        };
        // No password given, or a hash stored without its salt or iteration count: refused.
        let (Some(salt), Some(iterations), Some(password)) = (
            &self.salt,
            self.iterations.and_then(NonZeroU32::new),
            password,
        ) else {
            return false;
        };
        pbkdf2::verify(
            PBKDF2_ALGORITHM,
            iterations,
            salt,
            password.as_bytes(),
            hash,
        )
        .is_ok()
    }
}

/// A token to add.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewToken {
    /// The manifest it grants.
    pub manifest_id: String,
    /// How many downloads it may start; `None` for no limit.
    pub download_limit: Option<u32>,
    /// Seconds from creation until it expires; `None` for never.
    pub time_limit_seconds: Option<u64>,
    /// What it represents.
    pub description: Option<String>,
}

/// A shared token as the API returns it (never its password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// The token string (32 hex digits).
    pub token: String,
    /// The manifest it grants.
    pub manifest_id: String,
    /// What it represents.
    pub description: Option<String>,
    /// Whether a password must come with it.
    pub password_required: bool,
    /// How many downloads it may start; `None` for no limit.
    pub download_limit: Option<u32>,
    /// How many downloads it has started.
    pub download_count: u32,
    /// Creation time (Unix µs).
    pub creation_time: i64,
    /// Expiry time (Unix µs); `None` for never.
    pub expiry_time: Option<i64>,
    /// User data.
    pub user_data: UserData,
}

/// The outcome of counting a download against a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadCheck {
    /// The download was counted; this is the new count.
    Counted {
        /// Downloads started with the token, this one included.
        download_count: u32,
    },
    /// The token has expired; nothing was counted.
    Expired,
    /// The download limit is reached; nothing was counted.
    Exhausted,
}

impl Record for Token {
    const TABLE: Table = Table {
        name: "tokens",
        key: "token",
        what: "shared token",
        param: "token",
    };
    const SELECT: &'static str =
        "SELECT *, password_hash IS NOT NULL AS password_required FROM tokens";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        Ok(Token {
            token: c.get("token")?,
            manifest_id: c.get("manifest_id")?,
            description: c.get("description")?,
            password_required: c.get("password_required")?,
            download_limit: c.get("download_limit")?,
            download_count: c.get("download_count")?,
            creation_time: c.get("creation_time")?,
            expiry_time: c.get("expiry_time")?,
            user_data: UserData::new(),
        })
    }

    fn attach(&mut self, db: &Db) -> Result<()> {
        self.user_data = user_data::load(db, user_data::TOKEN, &self.token)?;
        Ok(())
    }
}

/// `now` plus `seconds`, in Unix µs, saturating.
pub(super) fn expiry(now: i64, seconds: u64) -> i64 {
    let micros = i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    now.saturating_add(micros)
}

impl Store {
    /// Adds a token for `new.manifest_id` (`NotFound` if it does not exist) with a new random
    /// token string, created at `now`; a `password` is stored as a salted hash only.
    pub fn insert_token(
        &mut self,
        new: &NewToken,
        password: Option<&str>,
        now: i64,
    ) -> Result<Token> {
        require(&self.db, &Manifest::TABLE, new.manifest_id.as_str())?;
        let token = self.random_id()?;
        let (salt, hash) = match password {
            Some(password) => {
                let salt: [u8; SALT_LEN] = self.random_bytes()?;
                let mut hash = [0u8; HASH_LEN];
                pbkdf2::derive(
                    PBKDF2_ALGORITHM,
                    PBKDF2_ITERATIONS,
                    &salt,
                    password.as_bytes(),
                    &mut hash,
                );
                (Some(salt), Some(hash))
            }
            None => (None, None),
        };
        self.db
            .prepare_cached(
                "INSERT INTO tokens (token, manifest_id, description, password_salt,
                     password_hash, password_iterations, download_limit, creation_time,
                     expiry_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                token,
                new.manifest_id,
                new.description,
                salt,
                hash,
                hash.map(|_| PBKDF2_ITERATIONS.get()),
                new.download_limit,
                now,
                new.time_limit_seconds.map(|seconds| expiry(now, seconds)),
            ])?;
        self.get_token(&token)
    }

    /// The token `token`.
    pub fn get_token(&self, token: &str) -> Result<Token> {
        get(&self.db, token)
    }

    /// Tokens in creation order, at most `limit` of them.
    pub fn list_tokens(&self, limit: Option<usize>) -> Result<Vec<Token>> {
        query(&self.db, "ORDER BY seq LIMIT ?1", [sql_limit(limit)])
    }

    /// Sets a new expiry `time_limit_seconds` after `now` and/or a new description.
    pub fn update_token(
        &mut self,
        token: &str,
        time_limit_seconds: Option<u64>,
        description: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let expiry_time = time_limit_seconds.map(|seconds| expiry(now, seconds));
        let mut sets: Vec<(&'static str, &dyn ToSql)> = Vec::new();
        if let Some(expiry_time) = &expiry_time {
            sets.push(("expiry_time", expiry_time));
        }
        if let Some(description) = &description {
            sets.push(("description", description));
        }
        update(&self.db, &Token::TABLE, token, &sets)
    }

    /// Deletes token `token` and its user data.
    pub fn delete_token(&mut self, token: &str) -> Result<()> {
        delete(&self.db, &Token::TABLE, token)
    }

    /// What checks a password of `token` ([`TokenSecret::opens`]): read here, checked away
    /// from the store (PBKDF2 takes a while on purpose).
    pub fn token_secret(&self, token: &str) -> Result<TokenSecret> {
        let (salt, hash, iterations) = self
            .db
            .prepare_cached(
                "SELECT password_salt, password_hash, password_iterations FROM tokens
                 WHERE token = ?1",
            )?
            .query_row([token], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?
            .ok_or_else(|| StoreError::missing(&Token::TABLE, token))?;
        Ok(TokenSecret {
            salt,
            hash,
            iterations,
        })
    }

    /// Counts one download against `token` at `now`, unless it has expired or reached its
    /// limit.
    pub fn count_token_download(&mut self, token: &str, now: i64) -> Result<DownloadCheck> {
        let tx = self.db.transaction()?;
        let (limit, count, expiry_time): (Option<u32>, u32, Option<i64>) = tx
            .prepare_cached(
                "SELECT download_limit, download_count, expiry_time FROM tokens WHERE token = ?1",
            )?
            .query_row([token], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?
            .ok_or_else(|| StoreError::missing(&Token::TABLE, token))?;
        if expiry_time.is_some_and(|expiry| expiry <= now) {
            return Ok(DownloadCheck::Expired);
        }
        if limit.is_some_and(|limit| count >= limit) {
            return Ok(DownloadCheck::Exhausted);
        }
        let download_count = count.saturating_add(1);
        update(
            &tx,
            &Token::TABLE,
            token,
            &[("download_count", &download_count)],
        )?;
        tx.commit()?;
        Ok(DownloadCheck::Counted { download_count })
    }
}
