//! Start-up and the end of a transfer through the simulator at 500 Mbit/s: a new path reaches
//! 90% of the link's rate within 8 round trips of the handshake, a path remembered from an
//! earlier transfer within 3, and the bottleneck's queue (one bandwidth-delay product) drops at
//! most 1% of what start-up sent; the sender learns that the transfer is complete half a round
//! trip after the receiver placed the last file.

#[allow(dead_code)]
mod support;

use jetstream_wire::files::SkipRule;
use jetstream_wire::rate::PathMemory;
use std::time::Duration;
use support::startup::{measure, Startup};
use support::transfer::{link, run, run_sampled, Flow};

const LINK: u64 = 500_000_000;

/// A transfer long enough to outlast the start-up, measured over 16 round trips.
fn transfer(rtt_ms: u64, loss: f64, seed: u64, memory: Option<PathMemory>) -> Startup {
    let size = LINK / 8 * rtt_ms * 30 / 1000;
    let flow = Flow {
        memory,
        ..Flow::single(size)
    };
    let s = measure(LINK, Duration::from_millis(rtt_ms), loss, seed, flow, 16);
    eprintln!("{rtt_ms} ms, loss {loss}, memory {memory:?}: {s:?}");
    s
}

/// Asserts the start-up figures: at most `rounds` round trips to 90%, at most 1% dropped.
fn assert_startup(s: &Startup, rounds: f64) {
    let rtts = s.rtts_to_90.expect("never reached 90% of the link");
    assert!(rtts <= rounds, "{rtts} round trips to 90%: {s:?}");
    assert!(
        s.loss_fraction() <= 0.01,
        "start-up lost {:.2}% to the queue: {s:?}",
        100.0 * s.loss_fraction()
    );
}

/// A first transfer on a new path, then a second that starts from what the first measured.
fn new_then_remembered(rtt_ms: u64, loss: f64, seed: u64) {
    let first = transfer(rtt_ms, loss, seed, None);
    assert_startup(&first, 8.0);
    let memory = first.memory.expect("the first transfer measured the path");
    // What was measured is the rate that fills the link once random losses are taken out of
    // what is sent (the simulator loses them before the bottleneck), within 10%.
    let link_bytes = LINK as f64 / 8.0 / (1.0 - loss);
    assert!(
        (memory.bandwidth as f64 - link_bytes).abs() <= 0.1 * link_bytes,
        "{memory:?}"
    );
    assert!(
        memory.min_rtt >= Duration::from_millis(rtt_ms),
        "{memory:?}"
    );
    let second = transfer(rtt_ms, loss, seed + 1, Some(memory));
    assert_startup(&second, 3.0);
}

#[test]
fn startup_500mbit_100ms_1pct() {
    new_then_remembered(100, 0.01, 31);
}

#[test]
fn startup_500mbit_300ms_5pct() {
    new_then_remembered(300, 0.05, 34);
}

#[test]
fn startup_500mbit_600ms_10pct() {
    new_then_remembered(600, 0.10, 33);
}

#[test]
fn a_remembered_rate_the_path_no_longer_carries_is_given_up() {
    // Remembered at four times what the link now carries: the check sees the queue build and
    // falls back to what the path delivers, which it then fills.
    let stale = PathMemory::new(4 * LINK / 8, Duration::from_millis(100), 0.0).unwrap();
    let s = transfer(100, 0.01, 41, Some(stale));
    let rtts = s.rtts_to_90.expect("never reached 90% of the link");
    assert!(rtts <= 8.0, "{rtts} round trips to 90%: {s:?}");
    // It remembers what the path carries now, not the stale rate.
    let memory = s.memory.expect("measured");
    assert!(memory.bandwidth < 2 * LINK / 8, "{memory:?}");
}

/// For one file sent under `skip` over a loss-free link: the tenths of `rtt` in which a flight
/// first left the sender, in which file bytes first reached the receiver, and by whose end the
/// receiver had got 90% of what the link carries in a round trip, over the last round trip.
fn first_data(rtt: Duration, skip: SkipRule) -> (Option<usize>, Option<usize>, Option<usize>) {
    let flow = Flow {
        skip,
        ..Flow::single(50_000_000)
    };
    let outcome = run_sampled(link(LINK, rtt, 0.0, 3), vec![flow], rtt * 8, rtt / 10);
    let f = &outcome.flows[0];
    let delivered = &f.delivered_per_window;
    let target = 0.9 * LINK as f64 / 8.0 * rtt.as_secs_f64();
    let full = (0..delivered.len()).find(|&w| {
        let round: u64 = delivered[w.saturating_sub(9)..=w].iter().sum();
        round as f64 >= target
    });
    (
        f.sent_per_window.iter().position(|&b| b > 8_000),
        delivered.iter().position(|&b| b > 0),
        full,
    )
}

#[test]
fn data_leaves_with_the_client_finish_not_a_round_trip_later() {
    // ClientHello out at 0, ServerHello back at one round trip: the ClientFinish and the first
    // flight go then, and reach the receiver half a round trip later, before any ACCEPT.
    let rtt = Duration::from_millis(100);
    let (sent, received, whole_full) = first_data(rtt, SkipRule::Whole);
    assert_eq!(
        sent,
        Some(10),
        "data left in tenth {sent:?} of the round trip"
    );
    assert!(
        received.is_some_and(|w| w <= 15),
        "arrived in tenth {received:?}"
    );
    // Under a skip rule the FILE frames go with the ClientFinish, and the data of a file only
    // once the receiver answered that it wants it: a round trip later. The first flight is
    // padding then, whose acknowledgements measure the path as data would: the data leaves at
    // the path's rate, and the link is full as soon as without a skip rule.
    let (sent, received, full) = first_data(rtt, SkipRule::QuickCheck);
    assert_eq!(
        sent,
        Some(10),
        "the first flight left in tenth {sent:?} of the round trip"
    );
    assert!(
        received.is_some_and(|w| (20..=25).contains(&w)),
        "data arrived in tenth {received:?}"
    );
    assert!(whole_full.is_some(), "never full without a skip rule");
    assert_eq!(
        full, whole_full,
        "full in tenth {full:?}, not {whole_full:?}"
    );
}

#[test]
fn start_up_holds_whatever_the_handshake_and_first_flight_lose() {
    // 300 ms, 5% loss both ways: across seeds, some lose a ClientHello, a ClientFinish (and
    // with it the whole first flight, which the receiver cannot open) or the first flight's
    // ACKs. None may leave start-up with the rate of a pause of its own, nor end in a tail of
    // round trips: 60 MB at 500 Mbit/s is about one second of data.
    let rtt = Duration::from_millis(300);
    let mut slowest = (Duration::ZERO, 0);
    for seed in 0..30 {
        let outcome = run(
            link(LINK, rtt, 0.05, 500 + seed),
            vec![Flow::single(60_000_000)],
            Duration::from_secs(60),
        );
        let f = &outcome.flows[0];
        assert!(f.result.is_ok(), "seed {seed}: {:?}", f.result);
        let took = f.complete_at.expect("complete");
        slowest = slowest.max((took, seed));
    }
    // Handshake: 1.5 RTTs, more when a packet or two of it is lost; data ≈ 3.5 RTTs;
    // start-up ≈ 3; tail ≈ 3; and room for the unluckiest of the seeds.
    assert!(
        slowest.0 <= rtt * 20,
        "seed {} took {:?}",
        slowest.1,
        slowest.0
    );
}

#[test]
fn the_sender_learns_of_completion_half_a_round_trip_after_the_last_file_is_placed() {
    // The receiver tells the RESULT as soon as every entry the header announced is in place,
    // in the datagram of the last PLACED: no DONE has to go out and the RESULT come back.
    let rtt = Duration::from_millis(100);
    let window = rtt / 20;
    for skip in [SkipRule::Whole, SkipRule::QuickCheck] {
        let flow = Flow {
            skip,
            ..Flow::single(10_000_000)
        };
        let outcome = run_sampled(link(LINK, rtt, 0.0, 5), vec![flow], rtt * 20, window);
        let f = &outcome.flows[0];
        assert!(f.result.is_ok(), "{skip:?}: {:?}", f.result);
        let last_delivered = f.delivered_per_window.iter().rposition(|&b| b > 0).unwrap();
        let placed = window * (last_delivered as u32 + 1);
        let complete = f.complete_at.expect("complete");
        // Half a round trip back, and the receiver's ACK delay at most.
        assert!(
            complete <= placed + rtt * 6 / 10,
            "{skip:?}: the last bytes placed by {placed:?}, complete at {complete:?}"
        );
    }
}
