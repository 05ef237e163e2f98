//! The simulated link on its own, and the rate controllers driving bulk flows across it.

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use jetstream_wire::rate::{FixedController, ModelController, RateController, RateLimits};
use support::bulk::{tag_of as tag, tagged as datagram, Flow, Run, MTU};
use support::link::{Count, Link, LinkConfig};

const MS: Duration = Duration::from_millis(1);

/// Sends `count` datagrams of `len` bytes, one every `gap` from `base`; returns every
/// (tag, arrival time) in delivery order, polling at each arrival.
fn send_and_collect(
    link: &mut Link,
    base: Instant,
    count: u64,
    gap: Duration,
    len: usize,
) -> Vec<(u64, Instant)> {
    for i in 0..count {
        link.send(base + gap * i as u32, datagram(i, len));
    }
    let mut out = Vec::new();
    while let Some(at) = link.next_arrival() {
        let d = link.poll_deliver(at).expect("a datagram is due");
        out.push((tag(&d), at));
    }
    out
}

#[test]
fn saturated_link_delivers_exactly_its_bandwidth() {
    let base = Instant::now();
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 100_000_000,
        delay: 20 * MS,
        queue_bytes: usize::MAX,
        ..LinkConfig::default()
    });
    // 10,000 datagrams of 1,250 bytes offered at once: 100 Mbit/s serialises one per 100 µs.
    let arrivals = send_and_collect(&mut link, base, 10_000, Duration::ZERO, 1_250);
    assert_eq!(arrivals.len(), 10_000);
    for (i, &(t, at)) in arrivals.iter().enumerate() {
        assert_eq!(t, i as u64, "no reordering");
        assert_eq!(
            at - base,
            20 * MS + Duration::from_micros(100) * (i as u32 + 1)
        );
    }
    // An odd size does not drift: 1,000 datagrams of 1,001 bytes take exactly 80.08 ms.
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 100_000_000,
        delay: Duration::ZERO,
        queue_bytes: usize::MAX,
        ..LinkConfig::default()
    });
    let arrivals = send_and_collect(&mut link, base, 1_000, Duration::ZERO, 1_001);
    assert_eq!(
        arrivals.last().map(|&(_, at)| at - base),
        Some(Duration::from_micros(80_080))
    );
    let stats = link.stats();
    assert_eq!(
        stats.delivered,
        Count {
            datagrams: 1_000,
            bytes: 1_001_000
        }
    );
    assert_eq!(stats.sent, stats.delivered);
}

#[test]
fn delay_and_jitter_stay_within_bounds_without_reordering() {
    let base = Instant::now();
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 0,
        delay: 30 * MS,
        jitter: 10 * MS,
        seed: 7,
        ..LinkConfig::default()
    });
    let gap = 2 * MS;
    let arrivals = send_and_collect(&mut link, base, 5_000, gap, 1_000);
    assert_eq!(arrivals.len(), 5_000);
    let mut latencies = Vec::new();
    for (i, &(t, at)) in arrivals.iter().enumerate() {
        assert_eq!(t, i as u64, "jitter alone never reorders");
        let latency = at - (base + gap * t as u32);
        assert!(
            latency >= 30 * MS && latency <= 40 * MS,
            "latency {latency:?}"
        );
        latencies.push(latency);
    }
    // The jitter is really spread over its range.
    let min = latencies.iter().min().copied().unwrap_or_default();
    let max = latencies.iter().max().copied().unwrap_or_default();
    assert!(
        min < 31 * MS && max > 39 * MS,
        "jitter range {min:?}..{max:?}"
    );
}

#[test]
fn random_loss_matches_the_configured_fraction() {
    let base = Instant::now();
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 0,
        loss: 0.05,
        seed: 11,
        ..LinkConfig::default()
    });
    let arrivals = send_and_collect(&mut link, base, 100_000, Duration::from_micros(10), 100);
    let stats = link.stats();
    let lost = stats.dropped_random.datagrams;
    // 5% of 100,000 with a standard deviation of about 69.
    assert!((4_700..=5_300).contains(&lost), "lost {lost}");
    assert_eq!(arrivals.len() as u64 + lost, 100_000);
    assert_eq!(stats.delivered.datagrams, arrivals.len() as u64);
    assert_eq!(stats.dropped_queue, Count::default());
}

#[test]
fn burst_loss_drops_runs_of_datagrams() {
    let base = Instant::now();
    // Bad 1% of the time to enter, leaving with 20%: bursts of 5 on average, ~4.8% lost.
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 0,
        burst_loss: Some((0.01, 0.2)),
        seed: 3,
        ..LinkConfig::default()
    });
    let arrivals = send_and_collect(&mut link, base, 100_000, Duration::from_micros(10), 100);
    let lost = 100_000 - arrivals.len() as u64;
    assert!((3_800..=5_800).contains(&lost), "lost {lost}");
    assert_eq!(link.stats().dropped_random.datagrams, lost);
    let mut runs = 0u64;
    let mut expected = 0u64;
    for &(t, _) in &arrivals {
        if t != expected {
            runs += 1;
        }
        expected = t + 1;
    }
    let mean_run = lost as f64 / runs as f64;
    assert!((4.0..=6.0).contains(&mean_run), "mean burst {mean_run}");
}

#[test]
fn reordering_holds_some_datagrams_back() {
    let base = Instant::now();
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 0,
        delay: 10 * MS,
        reorder: 0.1,
        reorder_delay: 5 * MS,
        seed: 5,
        ..LinkConfig::default()
    });
    let arrivals = send_and_collect(&mut link, base, 10_000, MS, 100);
    assert_eq!(arrivals.len(), 10_000);
    let late: Vec<u64> = arrivals
        .windows(2)
        .filter(|w| w[0].0 > w[1].0)
        .map(|w| w[0].0)
        .collect();
    assert!(
        (800..=1_200).contains(&late.len()),
        "reordered {}",
        late.len()
    );
    for &(t, at) in &arrivals {
        let latency = at - (base + MS * t as u32);
        assert!(
            latency == 10 * MS || latency == 15 * MS,
            "latency {latency:?}"
        );
    }
}

#[test]
fn a_full_queue_drops_the_tail() {
    let base = Instant::now();
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 8_000_000, // 1 byte per µs
        delay: 5 * MS,
        queue_bytes: 10_000,
        ..LinkConfig::default()
    });
    // 30 datagrams of 1,000 bytes at once: the queue holds 10 of them.
    let arrivals = send_and_collect(&mut link, base, 30, Duration::ZERO, 1_000);
    let tags: Vec<u64> = arrivals.iter().map(|&(t, _)| t).collect();
    assert_eq!(tags, (0..10).collect::<Vec<_>>());
    let stats = link.stats();
    assert_eq!(
        stats.dropped_queue,
        Count {
            datagrams: 20,
            bytes: 20_000
        }
    );
    assert_eq!(stats.dropped_random, Count::default());
    assert_eq!(stats.delivered.datagrams, 10);

    // Once the queue has drained by one datagram, one more fits.
    let later = base + MS;
    link.send(later, datagram(100, 1_000));
    link.send(later, datagram(101, 1_000));
    assert_eq!(link.stats().dropped_queue.datagrams, 21);
    let at = link.next_arrival().expect("queued");
    let d = link.poll_deliver(at).expect("due");
    assert_eq!(tag(&d), 100);
    assert_eq!(at, base + 11 * MS + 5 * MS);
}

#[test]
fn poll_deliver_waits_for_the_arrival_time() {
    let base = Instant::now();
    let mut link = Link::new(LinkConfig {
        bandwidth_bps: 0,
        delay: 10 * MS,
        ..LinkConfig::default()
    });
    link.send(base, datagram(1, 100));
    assert_eq!(link.next_arrival(), Some(base + 10 * MS));
    assert!(link.poll_deliver(base + 9 * MS).is_none());
    assert_eq!(link.poll_deliver(base + 10 * MS).map(|d| tag(&d)), Some(1));
    assert!(link.poll_deliver(base + 20 * MS).is_none());
    assert_eq!(link.next_arrival(), None);
}

#[test]
fn the_same_seed_gives_the_same_outcome() {
    let cfg = |seed| LinkConfig {
        bandwidth_bps: 50_000_000,
        jitter: 3 * MS,
        loss: 0.05,
        burst_loss: Some((0.01, 0.3)),
        reorder: 0.05,
        reorder_delay: 2 * MS,
        queue_bytes: 50_000,
        seed,
        ..LinkConfig::default()
    };
    let base = Instant::now();
    let run = |seed| {
        let mut link = Link::new(cfg(seed));
        let arrivals = send_and_collect(&mut link, base, 20_000, Duration::from_micros(100), 1_000);
        let offsets: Vec<(u64, Duration)> =
            arrivals.iter().map(|&(t, at)| (t, at - base)).collect();
        (offsets, link.stats())
    };
    let (a, stats_a) = run(42);
    let (b, stats_b) = run(42);
    let (c, _) = run(43);
    assert_eq!(a, b);
    assert_eq!(stats_a, stats_b);
    assert_ne!(a, c);
    assert!(stats_a.dropped_queue.datagrams > 0 && stats_a.dropped_random.datagrams > 0);
}

// ---------------------------------------------------------------------------------------------
// Bulk flows driven by the rate controllers across the link.

fn model() -> Box<dyn RateController> {
    Box::new(ModelController::new(MTU))
}

/// One model-controlled flow over a link of `mbps`, `rtt`, random `loss` and a queue of one
/// bandwidth-delay product (at least 100 datagrams), measured over the second half of the run;
/// returns goodput / ((1 - loss) × link).
fn single_flow_efficiency(mbps: u64, rtt: Duration, loss: f64, seconds: u64, seed: u64) -> f64 {
    let link_bytes_per_s = mbps * 1_000_000 / 8;
    let bdp = (link_bytes_per_s as f64 * rtt.as_secs_f64()) as usize;
    let out = Run {
        link: LinkConfig {
            bandwidth_bps: mbps * 1_000_000,
            delay: rtt / 2,
            loss,
            queue_bytes: bdp.max(100 * MTU),
            seed,
            ..LinkConfig::default()
        },
        flows: vec![Flow::new(Instant::now(), model(), RateLimits::default())],
        duration: Duration::from_secs(seconds),
        measure_from: Duration::from_secs(seconds / 2),
    }
    .execute();
    let efficiency = out.goodput[0] as f64 / ((1.0 - loss) * link_bytes_per_s as f64);
    eprintln!(
        "{mbps} Mbit/s, rtt {rtt:?}, loss {loss}: efficiency {efficiency:.3}, mean rtt {:?}",
        out.mean_rtt[0]
    );
    efficiency
}

#[test]
fn model_fills_a_clean_link() {
    for rtt in [MS, 100 * MS] {
        let e = single_flow_efficiency(100, rtt, 0.0, 10, 1);
        assert!(e >= 0.9, "rtt {rtt:?}: efficiency {e:.3}");
    }
}

#[test]
fn model_fills_a_long_lossy_link() {
    let e = single_flow_efficiency(100, 600 * MS, 0.10, 40, 2);
    assert!(e >= 0.85, "efficiency {e:.3}");
}

#[test]
fn model_ignores_random_loss_on_a_short_link() {
    for loss in [0.01, 0.05] {
        let e = single_flow_efficiency(100, 20 * MS, loss, 10, 3);
        assert!(e >= 0.85, "loss {loss}: efficiency {e:.3}");
    }
}

/// The whole matrix the transfer simulations rely on; minutes of CPU, so run on demand.
#[test]
#[ignore = "minutes of CPU: run with --ignored"]
fn model_efficiency_matrix() {
    let mut failures = Vec::new();
    for mbps in [100, 1_000] {
        for rtt in [MS, 100 * MS, 600 * MS] {
            for loss in [0.0, 0.01, 0.05, 0.10] {
                let seconds = if rtt >= 600 * MS { 40 } else { 12 };
                let e = single_flow_efficiency(mbps, rtt, loss, seconds, 9);
                if e < 0.85 {
                    failures.push(format!("{mbps} Mbit/s {rtt:?} {loss}: {e:.3}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "below 0.85: {failures:?}");
}

/// Two model flows, the second starting `stagger` later, over `link`; returns the smaller
/// goodput over the larger one across the second half of the run.
fn two_flow_fairness(link: LinkConfig, stagger: Duration, seconds: u64) -> f64 {
    let base = Instant::now();
    let bandwidth = link.bandwidth_bps as f64 / 8.0;
    let out = Run {
        link,
        flows: vec![
            Flow::new(base, model(), RateLimits::default()),
            Flow::new(base + stagger, model(), RateLimits::default()),
        ],
        duration: Duration::from_secs(seconds),
        measure_from: Duration::from_secs(seconds / 2),
    }
    .execute();
    let (a, b) = (out.goodput[0] as f64, out.goodput[1] as f64);
    eprintln!(
        "two flows: {:.3} / {:.3} of the link, mean rtt {:?}",
        a / bandwidth,
        b / bandwidth,
        out.mean_rtt
    );
    a.min(b) / a.max(b)
}

#[test]
fn two_model_flows_converge_to_fair_shares() {
    let link = LinkConfig {
        bandwidth_bps: 100_000_000,
        delay: 25 * MS,
        queue_bytes: 625_000,
        seed: 4,
        ..LinkConfig::default()
    };
    let fairness = two_flow_fairness(link, Duration::from_secs(3), 40);
    assert!(fairness >= 0.8, "fairness {fairness:.2}");
}

/// Two-flow fairness across link rates, RTTs, queues, losses and start times; slow.
#[test]
#[ignore = "a minute of CPU: run with --ignored"]
fn two_flow_fairness_matrix() {
    let mut failures = Vec::new();
    for (mbps, rtt_ms, queue_bytes, loss, stagger_s) in [
        (100, 20, 250_000, 0.0, 0),
        (100, 20, 250_000, 0.0, 2),
        (100, 50, 1_000_000, 0.01, 1),
        (100, 100, 1_250_000, 0.0, 3),
        (100, 100, 500_000, 0.05, 3),
        (1_000, 10, 1_250_000, 0.0, 1),
        (1_000, 20, 4_000_000, 0.01, 2),
        (1_000, 50, 2_000_000, 0.0, 2),
        (100, 2, 100_000, 0.0, 1),
    ] {
        let link = LinkConfig {
            bandwidth_bps: mbps * 1_000_000,
            delay: rtt_ms * MS / 2,
            queue_bytes,
            loss,
            seed: 8,
            ..LinkConfig::default()
        };
        let fairness = two_flow_fairness(link, Duration::from_secs(stagger_s), 40);
        if fairness < 0.8 {
            failures.push(format!(
                "{mbps} Mbit/s {rtt_ms} ms {queue_bytes} B {loss}: {fairness:.2}"
            ));
        }
    }
    assert!(failures.is_empty(), "unfair: {failures:?}");
}

#[test]
fn caps_are_never_exceeded() {
    let base = Instant::now();
    let cap = 2_500_000; // 20 Mbit/s on a 100 Mbit/s link
    let limits = RateLimits {
        min: RateLimits::DEFAULT_MIN,
        max: Some(cap),
    };
    let out = Run {
        link: LinkConfig {
            delay: 20 * MS,
            seed: 6,
            ..LinkConfig::default()
        },
        flows: vec![
            Flow::new(base, model(), limits),
            Flow::new(base, Box::new(FixedController::new(50_000_000)), limits),
        ],
        duration: Duration::from_secs(10),
        measure_from: Duration::from_secs(1),
    }
    .execute();
    // Over the 9 s window: at most the cap plus one pacer burst (2 datagrams at this rate).
    let most = cap * 9 + 2 * MTU as u64;
    for (measured, goodput) in out.measured.into_iter().zip(out.goodput) {
        assert!(
            measured <= most,
            "{measured} bytes in 9 s exceeds the cap {cap}"
        );
        assert!(
            goodput >= cap * 95 / 100,
            "goodput {goodput} well under the cap {cap}"
        );
    }
}
