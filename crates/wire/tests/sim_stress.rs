//! The whole link matrix: 100 Mbit/s and 1 Gbit/s, RTT 1/100/600 ms, random loss
//! 0/1/5/10%. Minutes of CPU, so ignored by default: `cargo stress` runs it.

#[allow(dead_code)]
mod support;

use std::time::Duration;
use support::transfer::assert_matrix_case;

#[test]
#[ignore = "the full matrix; run with `cargo stress`"]
fn full_matrix() {
    let mut seed = 100;
    for bandwidth in [100_000_000, 1_000_000_000] {
        for rtt_ms in [1, 100, 600] {
            for loss in [0.0, 0.01, 0.05, 0.10] {
                seed += 1;
                eprintln!("{} Mbit/s, {rtt_ms} ms, {loss}", bandwidth / 1_000_000);
                assert_matrix_case(bandwidth, Duration::from_millis(rtt_ms), loss, seed);
            }
        }
    }
}
