//! The server-wide bandwidth limits, kept in the settings table so they outlive a restart.

use super::{Result, Store};
use rusqlite::OptionalExtension;
use serde::Serialize;

/// The settings keys of the two limits.
const INCOMING: &str = "incoming_kbps";
const OUTGOING: &str = "outgoing_kbps";

/// Caps on the sum of the rates of all transfers, in kbit/s; `None` for no cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BandwidthLimits {
    /// What the receiver accepts from all senders together.
    pub incoming_kbps: Option<f64>,
    /// What all transfers sent from this server send together.
    pub outgoing_kbps: Option<f64>,
}

impl Store {
    /// The limits in force (none until set).
    pub fn bandwidth_limits(&self) -> Result<BandwidthLimits> {
        Ok(BandwidthLimits {
            incoming_kbps: self.setting_f64(INCOMING)?,
            outgoing_kbps: self.setting_f64(OUTGOING)?,
        })
    }

    /// Replaces both limits.
    pub fn set_bandwidth_limits(&mut self, limits: &BandwidthLimits) -> Result<()> {
        let tx = self.db.unchecked_transaction()?;
        for (key, value) in [
            (INCOMING, limits.incoming_kbps),
            (OUTGOING, limits.outgoing_kbps),
        ] {
            match value {
                Some(value) => tx
                    .prepare_cached(
                        "INSERT INTO settings (key, value) VALUES (?1, ?2)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(rusqlite::params![key, value.to_string()])?,
                None => tx
                    .prepare_cached("DELETE FROM settings WHERE key = ?1")?
                    .execute([key])?,
            };
        }
        tx.commit()?;
        Ok(())
    }

    /// A numeric setting; `None` when unset or unreadable.
    fn setting_f64(&self, key: &str) -> Result<Option<f64>> {
        let value: Option<String> = self
            .db
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?;
        Ok(value.and_then(|v| v.parse().ok()))
    }
}
