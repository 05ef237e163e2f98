//! Requests: the record of each queued (`*Async`) command, its status and its JSON result or
//! error, kept for `getRequestStatus`/`getRequestResult` and pruned once old and numerous.

use super::{get, json_from_sql, json_to_sql, update, Columns, Record, Result, Store, Table};
use rusqlite::types::{FromSql, FromSqlResult, ValueRef};
use rusqlite::{params, Connection as Db, Row};
use serde::Serialize;
use serde_json::Value;

text_enum! {
    /// Where a request is.
    RequestStatus {
        /// Queued.
        Pending => "pending",
        /// Being carried out.
        Processing => "processing",
        /// Done; the result is stored.
        Complete => "complete",
        /// Failed; the error is stored.
        Error => "error",
    }
}

/// Finished requests younger than this (µs) are never pruned.
pub const REQUEST_KEEP_MICROS: i64 = 10 * 60 * 1_000_000;

/// This many of the most recently finished requests are never pruned.
pub const REQUEST_KEEP_COUNT: usize = 10_000;

/// A request as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Positive, increasing, never reused.
    pub request_id: u64,
    /// The command's name.
    pub command: String,
    /// Where it is.
    pub status: RequestStatus,
    /// Whether it is pending or processing.
    pub processing: bool,
    /// The error code (`NOT_FOUND`, ...) if it failed.
    pub error_code: Option<String>,
    /// The error message if it failed.
    pub error_message: Option<String>,
    /// The command's result once complete.
    pub result: Option<Value>,
    /// When it was queued (Unix µs).
    pub request_time: i64,
    /// When it finished (Unix µs).
    pub end_time: Option<i64>,
}

/// A JSON result read from its text column.
struct JsonValue(Value);

impl FromSql for JsonValue {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        json_from_sql(value).map(JsonValue)
    }
}

impl Record for Request {
    const TABLE: Table = Table {
        name: "requests",
        key: "id",
        what: "request",
        param: "requestId",
    };
    const SELECT: &'static str = "SELECT * FROM requests";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        let status: RequestStatus = c.get("status")?;
        let result: Option<JsonValue> = c.get("result")?;
        Ok(Request {
            request_id: c.get("id")?,
            command: c.get("command")?,
            status,
            processing: matches!(status, RequestStatus::Pending | RequestStatus::Processing),
            error_code: c.get("error_code")?,
            error_message: c.get("error_message")?,
            result: result.map(|JsonValue(value)| value),
            request_time: c.get("request_time")?,
            end_time: c.get("end_time")?,
        })
    }

    fn attach(&mut self, _db: &Db) -> Result<()> {
        // Requests carry no user data.
        Ok(())
    }
}

impl Store {
    /// Records a new pending request for `command`, queued at `now`; returns its id.
    pub fn insert_request(&mut self, command: &str, now: i64) -> Result<u64> {
        Ok(self
            .db
            .prepare_cached(
                "INSERT INTO requests (command, status, request_time) VALUES (?1, ?2, ?3)
                 RETURNING id",
            )?
            .query_row(params![command, RequestStatus::Pending, now], |row| {
                row.get(0)
            })?)
    }

    /// Marks request `id` as being carried out.
    pub fn start_request(&mut self, id: u64) -> Result<()> {
        update(
            &self.db,
            &Request::TABLE,
            id,
            &[("status", &RequestStatus::Processing)],
        )
    }

    /// Marks request `id` complete with `result`, at `now`.
    pub fn complete_request(&mut self, id: u64, result: &Value, now: i64) -> Result<()> {
        let result = json_to_sql(result)?;
        update(
            &self.db,
            &Request::TABLE,
            id,
            &[
                ("status", &RequestStatus::Complete),
                ("result", &result),
                ("end_time", &now),
            ],
        )
    }

    /// Marks request `id` failed with an error `code` and `message`, at `now`.
    pub fn fail_request(&mut self, id: u64, code: &str, message: &str, now: i64) -> Result<()> {
        update(
            &self.db,
            &Request::TABLE,
            id,
            &[
                ("status", &RequestStatus::Error),
                ("error_code", &code),
                ("error_message", &message),
                ("end_time", &now),
            ],
        )
    }

    /// Fails every request still pending or processing (after a restart nothing will carry
    /// them out); returns how many.
    pub fn fail_unfinished_requests(
        &mut self,
        code: &str,
        message: &str,
        now: i64,
    ) -> Result<usize> {
        Ok(self
            .db
            .prepare_cached(
                "UPDATE requests SET status = ?1, error_code = ?2, error_message = ?3,
                     end_time = ?4
                 WHERE status IN (?5, ?6)",
            )?
            .execute(params![
                RequestStatus::Error,
                code,
                message,
                now,
                RequestStatus::Pending,
                RequestStatus::Processing,
            ])?)
    }

    /// The request `id`.
    pub fn get_request(&self, id: u64) -> Result<Request> {
        get(&self.db, id)
    }

    /// Deletes finished requests that both ended more than [`REQUEST_KEEP_MICROS`] before
    /// `now` and are not among the [`REQUEST_KEEP_COUNT`] most recently finished; returns how
    /// many.
    pub fn prune_requests(&mut self, now: i64) -> Result<usize> {
        let keep_count = i64::try_from(REQUEST_KEEP_COUNT).unwrap_or(i64::MAX);
        Ok(self
            .db
            .prepare_cached(
                "DELETE FROM requests
                 WHERE status IN (?1, ?2) AND end_time < ?3
                   AND id NOT IN (SELECT id FROM requests WHERE status IN (?1, ?2)
                                  ORDER BY end_time DESC, id DESC LIMIT ?4)",
            )?
            .execute(params![
                RequestStatus::Complete,
                RequestStatus::Error,
                now.saturating_sub(REQUEST_KEEP_MICROS),
                keep_count,
            ])?)
    }
}
