//! The rules of `setPriorityLanesAsync` that need no server state: at least one lane, names not
//! blank, proportions from 0 to 1 summing to 1.0, at most one idle (0.0) lane.

use super::args::{shorten, Args};
use super::error::CommandError;
use crate::store::PriorityLanes;
use serde_json::Value;

/// How far the proportions' sum may be from 1.0.
const SUM_TOLERANCE: f64 = 1e-9;

/// Reads the `priorityLanes` parameter `value`: an object of lane name → rate proportion, kept
/// in the order the object yields (lane names are unique as keys of one object).
pub(super) fn read_lanes(args: &Args<'_>, value: &Value) -> Result<PriorityLanes, CommandError> {
    const KEY: &str = "priorityLanes";
    let invalid = |expected: &str, got: &Value| args.invalid(KEY, expected.into(), got);
    let Some(map) = value.as_object() else {
        return Err(invalid("an object of lane name → rate proportion", value));
    };
    if map.is_empty() {
        return Err(invalid("at least one lane", value));
    }
    let mut lanes = Vec::with_capacity(map.len());
    for (name, proportion) in map {
        let at = format!(
            "{KEY}[{}]",
            shorten(&Value::from(name.as_str()).to_string())
        );
        if name.trim().is_empty() {
            return Err(args.invalid(&at, "named: lane names cannot be blank".into(), proportion));
        }
        let Some(share) = proportion.as_f64().filter(|p| (0.0..=1.0).contains(p)) else {
            return Err(args.invalid(&at, "a rate proportion from 0 to 1".into(), proportion));
        };
        lanes.push((name.clone(), share));
    }
    let sum: f64 = lanes.iter().map(|(_, share)| share).sum();
    if (sum - 1.0).abs() > SUM_TOLERANCE {
        return Err(invalid(
            &format!("proportions summing to 1.0 (they sum to {sum})"),
            value,
        ));
    }
    if lanes.iter().filter(|(_, share)| *share == 0.0).count() > 1 {
        return Err(invalid("lanes with at most one 0.0 (idle) lane", value));
    }
    Ok(PriorityLanes(lanes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lanes(value: Value) -> Result<PriorityLanes, CommandError> {
        let params = serde_json::Map::new();
        read_lanes(&Args::new("setPriorityLanesAsync", &params), &value)
    }

    #[test]
    fn the_sum_may_miss_one_by_the_tolerance_only() {
        assert!(lanes(json!({ "a": 0.5, "b": 0.5 + 0.5e-9 })).is_ok());
        let err = lanes(json!({ "a": 0.5, "b": 0.5 + 2e-9 })).expect_err("sum too far from 1");
        assert_eq!(err.param(), Some("priorityLanes"));
    }

    #[test]
    fn one_idle_lane_is_allowed() {
        let read = lanes(json!({ "Busy": 1.0, "Idle": 0.0 })).expect("valid lanes");
        assert_eq!(read.0.len(), 2);
        assert!(read.0.contains(&("Idle".to_owned(), 0.0)));
    }
}
