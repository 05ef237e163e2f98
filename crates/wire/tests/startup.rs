//! Start-up through the simulator: a new path reaches 90% of the link's rate within 8 round
//! trips of the handshake, and the bottleneck's queue drops at most 1% of what start-up sent.

#[allow(dead_code)]
mod support;

use std::time::Duration;
use support::startup::measure;
use support::transfer::Flow;

const MBIT: u64 = 1_000_000;

fn new_path(bandwidth_bps: u64, rtt_ms: u64, loss: f64, seed: u64) {
    let rtt = Duration::from_millis(rtt_ms);
    let size = bandwidth_bps / 8 * rtt_ms * 30 / 1000;
    let s = measure(bandwidth_bps, rtt, loss, seed, Flow::single(size), 16);
    eprintln!("{} Mbit/s {rtt_ms} ms {loss}: {s:?} ({:.3}%)", bandwidth_bps / MBIT, 100.0 * s.loss_fraction());
    let rtts = s.rtts_to_90.expect("never reached 90% of the link");
    assert!(rtts <= 8.0, "{rtts} round trips to 90%: {s:?}");
    assert!(s.loss_fraction() <= 0.01, "start-up lost {:.2}%: {s:?}", 100.0 * s.loss_fraction());
}

#[test]
fn new_path_500mbit_100ms_1pct() {
    new_path(500 * MBIT, 100, 0.01, 31);
}

#[test]
fn new_path_500mbit_300ms_5pct() {
    new_path(500 * MBIT, 300, 0.05, 34);
}

#[test]
fn new_path_500mbit_600ms_10pct() {
    new_path(500 * MBIT, 600, 0.10, 33);
}
