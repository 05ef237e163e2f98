//! Totals over the stored transfers, sent and received, for the server's metrics.

use super::{Result, Store, TransferStatus};

/// The transfers this server sends, in total.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SentTotals {
    /// How many transfers are in each status (statuses with none are left out).
    pub by_status: Vec<(TransferStatus, u64)>,
    /// Bytes sent, repairs included.
    pub bytes_sent: u64,
    /// Bytes sent again to repair losses.
    pub bytes_retransmitted: u64,
    /// The current rates of the transfers sending, added up, in kbit/s.
    pub send_rate: f64,
}

/// The transfers this server receives, in total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceivedTotals {
    /// Bytes written.
    pub bytes_received: u64,
    /// Transfers arriving now.
    pub receiving: u64,
}

impl Store {
    /// Totals over the transfers kept in the store.
    pub fn sent_totals(&self) -> Result<SentTotals> {
        let mut by_status = self
            .db
            .prepare_cached("SELECT status, COUNT(*) FROM transfers GROUP BY status")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(TransferStatus, u64)>>>()?;
        by_status.sort_by_key(|(status, _)| status.as_str());
        let (bytes_sent, bytes_retransmitted, send_rate) = self
            .db
            .prepare_cached(
                "SELECT COALESCE(SUM(bytes_sent), 0),
                        COALESCE(SUM(blocks_retransmitted * block_size), 0),
                        COALESCE(SUM(CASE WHEN status = 'sending' THEN send_rate END), 0.0)
                 FROM transfers",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(SentTotals {
            by_status,
            bytes_sent,
            bytes_retransmitted,
            send_rate,
        })
    }

    /// Totals over the received transfers kept in the store.
    pub fn received_totals(&self) -> Result<ReceivedTotals> {
        let (bytes_received, receiving) = self
            .db
            .prepare_cached(
                "SELECT COALESCE(SUM(bytes_received), 0),
                        COUNT(CASE WHEN status = 'receiving' THEN 1 END)
                 FROM received_transfers",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(ReceivedTotals {
            bytes_received,
            receiving,
        })
    }
}
