//! A snapshot of the server's figures for monitoring: transfers by status and their bytes and
//! rates, the connections' round-trip times and losses, the sessions running, and what the
//! receiver did with datagrams that had no session. Read by a [`Reader`] on the caller's
//! thread.

use super::reads::Reader;
use crate::error::Result;
use crate::store::{ReceivedTotals, SentTotals, TransferStatus};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

/// One connection's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionFigures {
    /// Its id.
    pub connection_id: u64,
    /// The receiver it reaches, `IP:PORT`.
    pub destination: String,
    /// The last round-trip time measured, in milliseconds.
    pub round_trip_time_ms: Option<f64>,
    /// The share of packets lost, 0 to 1.
    pub loss_rate: f64,
}

/// What the receiver did with datagrams that had no session, since the server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// Sessions started.
    pub admitted: u64,
    /// Of those, the ones started without an address token, by a quiet receiver.
    pub admitted_unproven: u64,
    /// ClientHellos without an address token, answered with a Retry.
    pub retries: u64,
    /// ClientHellos with a bad address token, answered with a Retry.
    pub bad_tokens: u64,
    /// ClientHellos left unanswered: their address had had its Retries.
    pub retries_withheld: u64,
    /// ClientHellos refused over the handshake limits.
    pub over_limit: u64,
    /// Other datagrams dropped.
    pub dropped: u64,
}

/// The server's figures at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// The transfers this server sends (those kept in the store).
    pub sent: SentTotals,
    /// The transfers this server receives (those kept in the store).
    pub received: ReceivedTotals,
    /// Transfers with a session sending now.
    pub sending: u64,
    /// Every connection.
    pub connections: Vec<ConnectionFigures>,
    /// The receiver's admission counters.
    pub admission: Admission,
}

impl Reader {
    /// The server's figures now.
    pub fn metrics(&self) -> Result<Metrics> {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let (sent, received, connections) = store.read(|store| {
            Ok::<_, crate::error::Error>((
                store.sent_totals()?,
                store.received_totals()?,
                store.list_connections(None)?,
            ))
        })?;
        drop(store);
        let sending = sent
            .by_status
            .iter()
            .find(|(status, _)| *status == TransferStatus::Sending)
            .map_or(0, |(_, n)| *n);
        let counters = &self.shared.admission;
        let n = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        Ok(Metrics {
            sent,
            received,
            sending,
            connections: connections
                .into_iter()
                .map(|c| ConnectionFigures {
                    connection_id: c.connection_id,
                    destination: match c.destination_ip.parse::<std::net::IpAddr>() {
                        Ok(ip) => std::net::SocketAddr::new(ip, c.destination_port).to_string(),
                        Err(_) => format!("{}:{}", c.destination_ip, c.destination_port),
                    },
                    round_trip_time_ms: c.round_trip_time_ms,
                    loss_rate: c.loss_rate,
                })
                .collect(),
            admission: Admission {
                admitted: n(&counters.admitted),
                admitted_unproven: n(&counters.admitted_unproven),
                retries: n(&counters.retries),
                bad_tokens: n(&counters.bad_tokens),
                retries_withheld: n(&counters.retries_withheld),
                over_limit: n(&counters.over_limit),
                dropped: n(&counters.dropped),
            },
        })
    }
}
