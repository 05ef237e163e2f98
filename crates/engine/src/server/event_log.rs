//! The event log's one writer: every event the actor records goes through [`Actor::record`]
//! (`getEventLog` only reads the store; see `reads`).

use super::actor::{now_us, Actor};
use crate::store::NewEvent;

impl Actor {
    /// Records `event`, stamped now. The log is a record for people: a store failure is
    /// logged, and what caused the event goes on.
    pub(super) fn record(&mut self, event: NewEvent) {
        if let Err(e) = self.store.insert_event(&event, now_us()) {
            tracing::warn!("event {} not recorded: {e}", event.kind.as_str());
        }
    }
}
