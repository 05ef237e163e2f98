//! `updateBandwidthLimits`: the server-wide caps. The outgoing cap is shared equally among the
//! destinations with transfers that may send (what one cannot use goes to the others, through
//! the same [`schedule::allocate`] that shares a destination's rate among its lanes), and each
//! destination's share among its transfers as without the cap. The incoming cap is the
//! receiver's intake (see [`crate::intake`]).

use super::actor::{to_json, Actor};
use super::destinations::kbps_to_bytes;
use super::transfers::RatePlan;
use crate::command::UpdateBandwidthLimits;
use crate::error::Result;
use crate::schedule::{self, Flow};
use crate::store::{BandwidthLimits, EventKind, NewEvent, PriorityLanes};
use serde_json::Value;
use std::collections::BTreeSet;

impl Actor {
    pub(super) fn update_bandwidth_limits(&mut self, p: &UpdateBandwidthLimits) -> Result<Value> {
        let limits = BandwidthLimits {
            incoming_kbps: p.incoming_kbps.unwrap_or(self.bandwidth.incoming_kbps),
            outgoing_kbps: p.outgoing_kbps.unwrap_or(self.bandwidth.outgoing_kbps),
        };
        self.store.set_bandwidth_limits(&limits)?;
        self.apply_bandwidth_limits(limits);
        let show = |cap: Option<f64>| cap.map_or("none".to_owned(), |c| format!("{c} kbit/s"));
        self.record(NewEvent::new(
            EventKind::BandwidthLimitsChanged,
            format!(
                "bandwidth limits: incoming {}, outgoing {}",
                show(limits.incoming_kbps),
                show(limits.outgoing_kbps)
            ),
        ));
        to_json(&limits)
    }

    /// Puts `limits` in force.
    pub(super) fn apply_bandwidth_limits(&mut self, limits: BandwidthLimits) {
        self.bandwidth = limits;
        self.info.bandwidth_limits = limits;
        self.receiver
            .set_intake(limits.incoming_kbps.map(|c| kbps_to_bytes(c).max(1)));
        self.rebalance_all();
    }

    /// Shares the outgoing cap among every destination with running transfers, then each
    /// destination's share among its transfers.
    pub(super) fn rebalance_all(&mut self) {
        let destinations: BTreeSet<String> = self
            .running
            .values()
            .map(|run| run.destination_id.clone())
            .collect();
        let plans: Vec<RatePlan> = destinations
            .iter()
            .filter_map(|id| self.rate_plan(id))
            .collect();
        let budgets = budgets(&plans, self.bandwidth.outgoing_kbps);
        for (plan, budget) in plans.iter().zip(budgets) {
            self.apply_rates(plan, budget);
        }
    }
}

/// Each destination's budget in kbit/s: its own cap, and under a server-wide `cap` an equal
/// share of it, none more than it can use.
fn budgets(plans: &[RatePlan], cap: Option<f64>) -> Vec<f64> {
    let Some(cap) = cap else {
        return plans.iter().map(|plan| plan.total).collect();
    };
    let one_lane = PriorityLanes(vec![(String::new(), 1.0)]);
    let flows: Vec<Flow> = plans
        .iter()
        .enumerate()
        .map(|(i, plan)| Flow {
            id: i as u64,
            lane: String::new(),
            priority: 0,
            cap: Some(plan.demand()).filter(|d| d.is_finite()),
        })
        .collect();
    schedule::allocate(&one_lane, &flows, cap)
        .into_iter()
        .map(|(_, rate)| rate)
        .collect()
}
