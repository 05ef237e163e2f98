//! Lane scheduling of one destination: how its send rate is split among the transfers that want
//! to send, by priority lane and priority ([`allocate`]), and the rules of
//! `setPriorityLanesAsync` that depend on transfers in progress ([`lane_change_allowed`]). The
//! stateless lane rules are checked when the request is read (`command::lanes`).

use crate::store::PriorityLanes;

/// The lane a transfer whose lane is not among the destination's lanes is scheduled in, if the
/// destination has it; otherwise such a transfer goes to the first lane.
const FALLBACK_LANE: &str = "Normal";

/// One transfer that wants to send.
#[derive(Clone, Debug)]
pub struct Flow {
    pub id: u64,
    /// Its priority lane; see [`allocate`] for a lane the destination does not have.
    pub lane: String,
    /// Lower numbers go first.
    pub priority: u32,
    /// Its own sendRateMax, in the unit of `total`; `None` for no limit. Below 0 counts as 0.
    pub cap: Option<f64>,
}

/// Splits `total` (a rate, any unit) among `flows` by `lanes`; returns (flow id, rate) for
/// every flow, in the order of `flows`. A `total` of [`f64::INFINITY`] (no cap) still decides
/// who waits: each flow that may send gets its `cap` (infinite without one), the others 0.
///
/// - Each lane with flows gets `total` in proportion to its share among the lanes with flows:
///   the shares of empty lanes go to the others. The idle lanes (share 0.0) send only when no
///   other lane has a flow, sharing `total` equally among them; otherwise their flows get 0.
/// - Within a lane, the flows with the lowest priority number share the lane's rate equally;
///   a higher number gets only what the lower ones cannot use.
/// - A flow never gets more than its `cap`. What capped flows cannot use goes to the next
///   priority in their lane, then to the other lanes, so the rates sum to `total` unless every
///   flow that may send is at its cap.
/// - A flow whose lane is not in `lanes` is scheduled in the lane "Normal" if `lanes` has it,
///   otherwise in the first lane. With no lanes at all, every flow gets 0.
pub fn allocate(lanes: &PriorityLanes, flows: &[Flow], total: f64) -> Vec<(u64, f64)> {
    let mut members = vec![Vec::new(); lanes.0.len()];
    for (index, flow) in flows.iter().enumerate() {
        if let Some(lane) = lane_index(lanes, &flow.lane) {
            members[lane].push(index);
        }
    }
    let busy = lanes
        .0
        .iter()
        .zip(&members)
        .any(|((_, share), members)| *share > 0.0 && !members.is_empty());
    // The lanes that send now, with their weights.
    let sending: Vec<(usize, f64)> = lanes
        .0
        .iter()
        .enumerate()
        .map(|(lane, (_, share))| (lane, if busy { *share } else { 1.0 }))
        .filter(|&(lane, weight)| weight > 0.0 && !members[lane].is_empty())
        .collect();
    let wants: Vec<(f64, f64)> = sending
        .iter()
        .map(|&(lane, weight)| (weight, members[lane].iter().map(|&i| cap(&flows[i])).sum()))
        .collect();
    let mut rates = vec![0.0; flows.len()];
    for (&(lane, _), lane_rate) in sending.iter().zip(fill(total.max(0.0), &wants)) {
        split_lane(lane_rate, flows, &mut members[lane], &mut rates);
    }
    flows
        .iter()
        .zip(rates)
        .map(|(flow, rate)| (flow.id, rate))
        .collect()
}

/// Checks the rules of `setPriorityLanesAsync` that depend on transfers in progress, given the
/// lanes that have one (`busy_lanes`): the number of lanes cannot change while any transfer is
/// in progress, and a lane with a transfer in progress cannot be renamed (its name must stay).
/// The error names the rule broken and the lane.
pub fn lane_change_allowed(
    old: &PriorityLanes,
    new: &PriorityLanes,
    busy_lanes: &[&str],
) -> Result<(), String> {
    if let Some(lane) = busy_lanes.first() {
        if old.0.len() != new.0.len() {
            return Err(format!(
                "the number of lanes cannot change while a transfer is in progress \
                 (lane {lane:?} has one)"
            ));
        }
    }
    match busy_lanes
        .iter()
        .find(|&&busy| !new.0.iter().any(|(name, _)| name == busy))
    {
        Some(lane) => Err(format!(
            "a lane with a transfer in progress cannot be renamed (lane {lane:?} has one)"
        )),
        None => Ok(()),
    }
}

/// The index in `lanes` of the lane a flow naming `name` is scheduled in.
fn lane_index(lanes: &PriorityLanes, name: &str) -> Option<usize> {
    let find = |name: &str| lanes.0.iter().position(|(lane, _)| lane == name);
    find(name)
        .or_else(|| find(FALLBACK_LANE))
        .or((!lanes.0.is_empty()).then_some(0))
}

/// The most `flow` can use.
fn cap(flow: &Flow) -> f64 {
    flow.cap.map_or(f64::INFINITY, |cap| cap.max(0.0))
}

/// Splits a lane's `rate` among its flows (`members`, indexes into `flows`) into `rates`: the
/// lowest priority number first, equal numbers sharing equally.
fn split_lane(mut rate: f64, flows: &[Flow], members: &mut [usize], rates: &mut [f64]) {
    members.sort_by_key(|&i| flows[i].priority);
    for group in members.chunk_by(|&a, &b| flows[a].priority == flows[b].priority) {
        let wants: Vec<(f64, f64)> = group.iter().map(|&i| (1.0, cap(&flows[i]))).collect();
        for (&i, given) in group.iter().zip(fill(rate, &wants)) {
            rates[i] = given;
            // A flow without a cap uses an unlimited rate up: nothing is left after it.
            rate = if given.is_infinite() {
                0.0
            } else {
                rate - given
            };
        }
    }
}

/// Splits `budget` among `wants` of (weight > 0, demand) in proportion to their weights, giving
/// none more than its demand; what one cannot use is split again among the others. An infinite
/// budget gives each its demand.
fn fill(mut budget: f64, wants: &[(f64, f64)]) -> Vec<f64> {
    if budget.is_infinite() {
        return wants.iter().map(|&(_, demand)| demand).collect();
    }
    let mut given = vec![0.0; wants.len()];
    let mut open: Vec<usize> = (0..wants.len()).collect();
    while !open.is_empty() && budget > 0.0 {
        let weights: f64 = open.iter().map(|&i| wants[i].0).sum();
        let share = |i: usize| budget * wants[i].0 / weights;
        let (full, rest): (Vec<usize>, Vec<usize>) =
            open.iter().partition(|&&i| wants[i].1 <= share(i));
        if full.is_empty() {
            for i in rest {
                given[i] = share(i);
            }
            break;
        }
        for i in full {
            given[i] = wants[i].1;
            budget -= wants[i].1;
        }
        open = rest;
    }
    given
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flow(id: u64, lane: &str, priority: u32, cap: Option<f64>) -> Flow {
        let lane = lane.to_owned();
        Flow {
            id,
            lane,
            priority,
            cap,
        }
    }

    fn lanes(pairs: &[(&str, f64)]) -> PriorityLanes {
        PriorityLanes(pairs.iter().map(|&(n, p)| (n.to_owned(), p)).collect())
    }

    /// The rates of `allocate` on the default lanes, checking the ids come back in order.
    fn rates(flows: &[Flow], total: f64) -> Vec<f64> {
        rates_in(&PriorityLanes::default(), flows, total)
    }

    fn rates_in(lanes: &PriorityLanes, flows: &[Flow], total: f64) -> Vec<f64> {
        let allocated = allocate(lanes, flows, total);
        let ids: Vec<u64> = allocated.iter().map(|&(id, _)| id).collect();
        assert_eq!(ids, flows.iter().map(|f| f.id).collect::<Vec<_>>());
        allocated.into_iter().map(|(_, rate)| rate).collect()
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 0.01, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn each_lane_gets_its_proportion() {
        let flows = [
            flow(1, "High", 100, None),
            flow(2, "Normal", 100, None),
            flow(3, "Low", 100, None),
        ];
        assert_close(&rates(&flows, 100.0), &[70.0, 25.0, 5.0]);
    }

    #[test]
    fn an_empty_lane_share_goes_to_the_others_by_their_shares() {
        let flows = [flow(1, "High", 100, None), flow(2, "Normal", 100, None)];
        assert_close(&rates(&flows, 100.0), &[73.68, 26.32]);
    }

    #[test]
    fn a_capped_flow_frees_the_rest_for_the_others() {
        let flows = [
            flow(1, "High", 100, Some(10.0)),
            flow(2, "Normal", 100, None),
            flow(3, "Low", 100, None),
        ];
        // The 90 left are split 25:5.
        assert_close(&rates(&flows, 100.0), &[10.0, 75.0, 15.0]);
    }

    #[test]
    fn the_idle_lane_sends_only_when_the_others_are_empty() {
        let idle = [flow(1, "Idle", 100, None), flow(2, "Idle", 100, None)];
        assert_close(&rates(&idle, 100.0), &[50.0, 50.0]);
        let mixed = [flow(1, "Idle", 100, None), flow(2, "Low", 100, Some(1.0))];
        assert_close(&rates(&mixed, 100.0), &[0.0, 1.0]);
    }

    #[test]
    fn equal_priorities_share_the_lane_and_a_higher_number_waits() {
        let flows = [
            flow(1, "High", 5, None),
            flow(2, "High", 7, None),
            flow(3, "High", 5, None),
        ];
        assert_close(&rates(&flows, 100.0), &[50.0, 0.0, 50.0]);
    }

    #[test]
    fn what_a_priority_cannot_use_goes_down_the_lane_then_to_other_lanes() {
        let flows = [
            flow(1, "High", 1, Some(20.0)),
            flow(2, "High", 1, None),
            flow(3, "High", 2, None),
            flow(4, "Low", 1, None),
        ];
        // High and Low split 75 as 0.70:0.05; priority 2 waits while priority 1 can use High's 70.
        assert_close(&rates(&flows, 75.0), &[20.0, 50.0, 0.0, 5.0]);
        let capped = [
            flow(1, "High", 1, Some(20.0)),
            flow(2, "High", 2, Some(30.0)),
            flow(3, "High", 3, Some(5.0)),
            flow(4, "Low", 1, None),
        ];
        assert_close(&rates(&capped, 100.0), &[20.0, 30.0, 5.0, 45.0]);
    }

    #[test]
    fn caps_below_the_total_leave_the_rest_unused() {
        let flows = [flow(1, "High", 1, Some(3.0)), flow(2, "Low", 1, Some(-1.0))];
        assert_close(&rates(&flows, 100.0), &[3.0, 0.0]);
    }

    #[test]
    fn an_unknown_lane_is_normal_or_else_the_first_lane() {
        let flows = [flow(1, "Bulk", 1, None), flow(2, "High", 1, None)];
        assert_close(&rates(&flows, 95.0), &[25.0, 70.0]);
        let custom = lanes(&[("Fast", 0.6), ("Slow", 0.4)]);
        let flows = [flow(1, "Bulk", 1, None), flow(2, "Slow", 1, None)];
        assert_close(&rates_in(&custom, &flows, 100.0), &[60.0, 40.0]);
    }

    #[test]
    fn without_a_total_flows_get_their_caps_and_lanes_and_priorities_still_hold_some() {
        let flows = [
            flow(1, "High", 1, Some(20.0)),
            flow(2, "High", 2, None),
            flow(3, "High", 3, Some(5.0)),
            flow(4, "Low", 1, None),
            flow(5, "Idle", 1, None),
        ];
        // Priority 1 is capped, so 2 sends too; 2 has no cap, so 3 waits; Idle waits for Low.
        let inf = f64::INFINITY;
        assert_eq!(
            rates(&flows, inf),
            [20.0, inf, 0.0, inf, 0.0].to_vec(),
            "unlimited"
        );
        let idle = [flow(1, "Idle", 1, Some(3.0)), flow(2, "Idle", 1, None)];
        assert_eq!(rates(&idle, inf), [3.0, inf].to_vec());
    }

    #[test]
    fn nothing_to_share_gives_zero() {
        assert!(allocate(&PriorityLanes::default(), &[], 100.0).is_empty());
        assert_close(
            &rates_in(&lanes(&[]), &[flow(1, "High", 1, None)], 9.0),
            &[0.0],
        );
        assert_close(&rates(&[flow(1, "High", 1, None)], 0.0), &[0.0]);
    }

    #[test]
    fn lane_count_and_busy_names_are_kept_while_transfers_run() {
        let old = PriorityLanes::default();
        let reweighted = lanes(&[("High", 0.5), ("Normal", 0.3), ("Low", 0.2), ("Idle", 0.0)]);
        let renamed = lanes(&[("Top", 0.7), ("Normal", 0.25), ("Low", 0.05), ("Idle", 0.0)]);
        let fewer = lanes(&[("High", 0.75), ("Normal", 0.25)]);
        assert_eq!(lane_change_allowed(&old, &fewer, &[]), Ok(()));
        assert_eq!(lane_change_allowed(&old, &reweighted, &["High"]), Ok(()));
        assert_eq!(lane_change_allowed(&old, &renamed, &["Low"]), Ok(()));
        let err = lane_change_allowed(&old, &fewer, &["Low"]).expect_err("count changed");
        assert!(
            err.contains("number of lanes") && err.contains("\"Low\""),
            "{err}"
        );
        let err = lane_change_allowed(&old, &renamed, &["Low", "High"]).expect_err("renamed");
        assert!(err.contains("renamed") && err.contains("\"High\""), "{err}");
    }

    /// Custom lanes A, B, ... with positive shares and maybe a last idle lane, or the defaults.
    fn any_lanes() -> impl Strategy<Value = PriorityLanes> {
        let custom = (prop::collection::vec(0.01f64..1.0, 1..5), any::<bool>()).prop_map(
            |(weights, idle)| {
                let sum: f64 = weights.iter().sum();
                let shares = weights.iter().map(|w| w / sum);
                let shares = shares.chain(idle.then_some(0.0));
                let named = shares
                    .enumerate()
                    .map(|(i, s)| (((b'A' + i as u8) as char).into(), s));
                PriorityLanes(named.collect())
            },
        );
        prop_oneof![Just(PriorityLanes::default()), custom]
    }

    /// Flows in the lanes of `any_lanes`, or in lanes that may not exist.
    fn any_flows() -> impl Strategy<Value = Vec<Flow>> {
        let lane = prop::sample::select(vec!["A", "B", "C", "E", "High", "Normal", "Low", "Idle"]);
        let cap = prop::option::of(0.0f64..100.0);
        prop::collection::vec((lane, 0u32..3, cap), 0..8).prop_map(|flows| {
            let flows = flows.into_iter().enumerate();
            flows
                .map(|(id, (l, p, c))| flow(id as u64, l, p, c))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn rates_are_fair_bounded_and_waste_nothing(
            lanes in any_lanes(),
            flows in any_flows(),
            total in 0.0f64..1000.0,
        ) {
            let rates = rates_in(&lanes, &flows, total);
            let eps = 1e-9 * total.max(1.0);
            let at_cap = |i: usize| rates[i] >= cap(&flows[i]) - eps;
            let lane_of: &[usize] =
                &flows.iter().map(|f| lane_index(&lanes, &f.lane).expect("lanes")).collect::<Vec<_>>();
            let share = |i: usize| lanes.0[lane_of[i]].1;
            let busy = (0..flows.len()).any(|i| share(i) > 0.0);
            let may_send = |i: usize| !busy || share(i) > 0.0;
            let mates = |i: usize| (0..flows.len()).filter(move |&j| lane_of[j] == lane_of[i]);

            let sum: f64 = rates.iter().sum();
            prop_assert!(sum <= total + eps);
            if !flows.is_empty() && flows.iter().all(|f| f.cap.is_none()) {
                prop_assert!((sum - total).abs() <= eps);
            }
            for i in 0..flows.len() {
                prop_assert!(rates[i] >= 0.0 && rates[i] <= cap(&flows[i]));
                prop_assert!(may_send(i) || rates[i] == 0.0, "idle while busy");
                prop_assert!(sum >= total - eps || !may_send(i) || at_cap(i), "wasted");
                for j in mates(i) {
                    let (a, b) = (flows[i].priority, flows[j].priority);
                    prop_assert!(a >= b || rates[j] <= eps || at_cap(i), "priority");
                    prop_assert!(a != b || rates[i] >= rates[j] - eps || at_cap(i), "equal");
                }
            }
            // Per unit of weight, a lane not at its caps gets at least what any other gets.
            let weight = |i: usize| if busy { share(i) } else { 1.0 };
            let per_weight = |i: usize| mates(i).map(|j| rates[j]).sum::<f64>() / weight(i);
            for i in (0..flows.len()).filter(|&i| may_send(i) && !mates(i).all(at_cap)) {
                for j in (0..flows.len()).filter(|&j| may_send(j)) {
                    prop_assert!(per_weight(i) >= per_weight(j) - eps, "lanes");
                }
            }
        }
    }
}
