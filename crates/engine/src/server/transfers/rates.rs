//! Sharing each destination's rate among its running transfers, by lane and priority, and
//! steering their sessions to their shares.

use crate::error::Result;
use crate::schedule::{self, Flow};
use crate::server::actor::Actor;
use crate::server::destinations::kbps_to_bytes;
use crate::store::{PriorityLanes, TransferParams, TransferStatus};
use jetstream_wire::rate::RateLimits;
use std::collections::HashMap;

impl Actor {
    /// Transfers of a destination whose sessions run.
    pub(in crate::server) fn running_for<'a>(
        &'a self,
        destination_id: &'a str,
    ) -> impl Iterator<Item = u64> + 'a {
        self.running
            .iter()
            .filter(move |(_, run)| run.destination_id == destination_id)
            .map(|(id, _)| *id)
    }

    /// The lanes of a destination that have a transfer in progress.
    pub(in crate::server) fn busy_lanes(&self, destination_id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .unfinished_transfers(Some(destination_id))?
            .into_iter()
            .map(|t| t.params.priority_lane)
            .collect())
    }

    /// Shares the destination's rate among its running transfers by lane and priority, and
    /// applies each one's cap. Without a cap on the destination nothing is split, but lanes and
    /// priorities still hold back the transfers that must wait (the idle lane while another
    /// lane has a transfer, a higher priority number behind an uncapped lower one). A held
    /// transfer sends no data; its session stays up. Under a server-wide outgoing cap every
    /// destination's share depends on the others: all of them are shared out again.
    pub(in crate::server) fn rebalance(&mut self, destination_id: &str) {
        if self.bandwidth.outgoing_kbps.is_some() {
            return self.rebalance_all();
        }
        if let Some(plan) = self.rate_plan(destination_id) {
            self.apply_rates(&plan, plan.total);
        }
    }

    /// The running transfers of a destination and the rate settings their shares come from;
    /// `None` for a destination deleted meanwhile.
    pub(in crate::server) fn rate_plan(&self, destination_id: &str) -> Option<RatePlan> {
        let destination = self.store.get_destination(destination_id).ok()?;
        let connection = destination
            .connection_id
            .and_then(|id| self.store.get_connection(id).ok());
        let mut flows = Vec::new();
        let mut params: HashMap<u64, TransferParams> = HashMap::new();
        for id in self.running_for(destination_id) {
            let Ok(transfer) = self.store.get_transfer(id, false) else {
                continue;
            };
            if transfer.status != TransferStatus::Suspended {
                flows.push(Flow {
                    id,
                    lane: transfer.params.priority_lane.clone(),
                    priority: transfer.params.priority,
                    cap: transfer.params.send_rate_max.filter(|r| *r >= 0.0),
                });
            }
            params.insert(id, transfer.params);
        }
        let total = [
            destination.params.send_rate_max,
            connection.as_ref().and_then(|c| c.send_rate_max),
        ]
        .into_iter()
        .flatten()
        .filter(|r| *r >= 0.0)
        .fold(f64::INFINITY, f64::min);
        let min = connection
            .as_ref()
            .map_or(RateLimits::DEFAULT_MIN, |c| kbps_to_bytes(c.send_rate_min))
            .max(RateLimits::DEFAULT_MIN);
        // Rate control off: the connection's send rate, fixed (the caps still hold).
        let fixed_rate = connection
            .as_ref()
            .filter(|c| !c.rate_controller_active)
            .map(|c| kbps_to_bytes(c.send_rate).max(min));
        Some(RatePlan {
            lanes: destination.priority_lanes,
            flows,
            params,
            total,
            min,
            fixed_rate,
        })
    }

    /// Shares `total` (kbit/s, infinite for no cap) among the transfers of `plan` and steers
    /// their sessions to their shares.
    pub(in crate::server) fn apply_rates(&mut self, plan: &RatePlan, total: f64) {
        let shares: HashMap<u64, f64> = schedule::allocate(&plan.lanes, &plan.flows, total)
            .into_iter()
            .collect();
        for (id, run) in self.running.iter_mut() {
            let Some(transfer) = plan.params.get(id) else {
                continue;
            };
            let share = shares.get(id).copied().unwrap_or(f64::INFINITY);
            let cap = [Some(share), transfer.send_rate_max.filter(|r| *r >= 0.0)]
                .into_iter()
                .flatten()
                .reduce(f64::min)
                .filter(|c| c.is_finite());
            run.held = shares.get(id).is_some_and(|s| *s <= 0.0);
            let min = plan.min;
            let limits = RateLimits {
                min: cap.map_or(min, |c| min.min(kbps_to_bytes(c).max(1))),
                max: cap.map(|c| kbps_to_bytes(c).max(1)),
            };
            let fixed_rate = plan.fixed_rate;
            run.steer(|c| {
                c.limits = limits;
                c.fixed_rate = fixed_rate;
            });
            run.apply_pause();
        }
    }
}

/// A destination's running transfers and the rate settings their shares come from.
pub(in crate::server) struct RatePlan {
    /// The destination's lanes.
    lanes: PriorityLanes,
    /// The transfers that may send (not suspended).
    flows: Vec<Flow>,
    /// The settings of every running transfer, suspended ones included.
    params: HashMap<u64, TransferParams>,
    /// The destination's own cap (its and its connection's) in kbit/s; infinite without one.
    pub(in crate::server) total: f64,
    /// The floor of every transfer's rate, in bytes per second.
    min: u64,
    /// The fixed rate when rate control is off, in bytes per second.
    fixed_rate: Option<u64>,
}

impl RatePlan {
    /// The most the destination's transfers can send together, in kbit/s (infinite when one
    /// of them may send without a cap).
    pub(in crate::server) fn demand(&self) -> f64 {
        let wanted: f64 = schedule::allocate(&self.lanes, &self.flows, f64::INFINITY)
            .into_iter()
            .map(|(_, rate)| rate)
            .sum();
        wanted.min(self.total)
    }
}
