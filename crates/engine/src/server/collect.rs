//! `garbageCollect`: removes what the server keeps but no longer needs — destinations that are
//! not permanent and have no transfer left, finished requests past their retention, part files
//! no session writes (those with nothing durable; the others are trimmed to what a resumed
//! transfer can use), and events beyond the log's bound — and says how many of each.

use super::actor::{now_us, Actor, Msg, Responder};
use super::caller::Caller;
use crate::error::{Code, Error, Result};
use crate::store::{EventKind, NewEvent};
use serde::Serialize;
use std::time::Duration;

/// How long the receiver may take to get to the sweep of its part files (it looks between
/// batches of datagrams, at least once a second).
const SWEEP_WAIT: Duration = Duration::from_secs(30);

/// What one collection removed.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Collected {
    /// Destinations not permanent without transfers.
    destinations: usize,
    /// Finished requests past retention.
    requests: usize,
    /// Part files with nothing durable, no session writing them.
    part_files_removed: usize,
    /// Part files no session writes, kept for the durable data a resumed transfer uses (the
    /// space reserved beyond it given back).
    part_files_kept: usize,
    /// Events beyond the log's bound.
    events: usize,
}

impl Actor {
    pub(super) fn garbage_collect(&mut self, caller: &Caller, responder: Responder) {
        let mut collected = match self.collect_store() {
            Ok(collected) => collected,
            Err(e) => return self.respond(responder, Err(e)),
        };
        let sweep = self.receiver.sweep_parts();
        let tx = self.tx.clone();
        let user_name = caller.user.clone();
        tokio::spawn(async move {
            let swept = tokio::time::timeout(SWEEP_WAIT, sweep).await;
            let (result, event) = match swept {
                Ok(Ok((removed, kept))) => {
                    collected.part_files_removed = removed;
                    collected.part_files_kept = kept;
                    let event = NewEvent {
                        user_name,
                        ..NewEvent::new(EventKind::GarbageCollected, summary(&collected))
                    };
                    (super::actor::to_json(&collected), Some(event))
                }
                _ => (
                    Err(Error::new(
                        Code::Unavailable,
                        "garbageCollect: the receiver did not sweep its part files",
                    )),
                    None,
                ),
            };
            let _ = tx.send(Msg::Worked {
                responder,
                result,
                event,
            });
        });
    }

    /// What the store holds and no longer needs.
    fn collect_store(&mut self) -> Result<Collected> {
        Ok(Collected {
            destinations: self.store.delete_unused_destinations()?,
            requests: self.store.prune_requests(now_us())?,
            events: self.store.prune_events()?,
            ..Collected::default()
        })
    }
}

/// The event log's line for a collection.
fn summary(c: &Collected) -> String {
    format!(
        "garbage collected: {} destinations, {} requests, {} part files removed ({} kept), {} events",
        c.destinations, c.requests, c.part_files_removed, c.part_files_kept, c.events
    )
}
