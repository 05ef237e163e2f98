//! Tests of the model controller: its rules on synthetic samples, and its behaviour in a closed
//! loop through a fixed-rate bottleneck.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::*;
use crate::rate::{DeliverySampler, Pacer, PacketState};

const MTU: u64 = 1_400;
const MS: Duration = Duration::from_millis(1);
/// 10 MB/s (80 Mbit/s).
const RATE: u64 = 10_000_000;
const RTT: Duration = Duration::from_millis(40);

/// Feeds a controller the samples of a steady flow: one datagram sent per ACK, a pipe of one
/// rate × RTT, the delivery rate and the RTT as given.
struct Feed {
    c: ModelController,
    now: Instant,
    delivered: u64,
}

/// A stretch of synthetic feedback.
#[derive(Clone, Copy)]
struct Phase {
    rounds: u32,
    rate: u64,
    rtt: Duration,
    /// Every other ACK comes this much later (a receiver's ACK delay).
    ack_delay: Duration,
    /// The fraction of datagrams lost.
    loss: f64,
    app_limited: bool,
}

/// `rounds` rounds at `rate` and `rtt`, nothing lost, nothing delayed.
fn phase(rounds: u32, rate: u64, rtt: Duration) -> Phase {
    Phase {
        rounds,
        rate,
        rtt,
        ack_delay: Duration::ZERO,
        loss: 0.0,
        app_limited: false,
    }
}

impl Phase {
    fn loss(self, loss: f64) -> Self {
        Self { loss, ..self }
    }

    fn ack_delay(self, ack_delay: Duration) -> Self {
        Self { ack_delay, ..self }
    }

    fn app_limited(self) -> Self {
        Self {
            app_limited: true,
            ..self
        }
    }
}

/// What the pacing rate did during [`Feed::run`].
struct Seen {
    lowest_pacing: u64,
}

impl Feed {
    /// A controller fed 20 rounds at [`RATE`] and [`RTT`]: past startup and drain.
    fn steady() -> Self {
        Self::steady_under(RatePolicy::Fill)
    }

    /// [`Feed::steady`] under `policy`.
    fn steady_under(policy: RatePolicy) -> Self {
        let mut feed = Self {
            c: ModelController::with(MTU as usize, policy, None),
            now: Instant::now(),
            delivered: 0,
        };
        feed.run(phase(20, RATE, RTT));
        feed
    }

    fn run(&mut self, p: Phase) -> Seen {
        let pipe = bytes_in(p.rate, p.rtt).max(MTU);
        let acks = pipe / MTU * u64::from(p.rounds);
        let gap = Duration::from_nanos(MTU * 1_000_000_000 / p.rate);
        let mut lowest_pacing = u64::MAX;
        let mut lost_credit = 0.0;
        for i in 0..acks {
            self.now += gap;
            self.delivered += MTU;
            lost_credit += p.loss / (1.0 - p.loss);
            while lost_credit >= 1.0 {
                lost_credit -= 1.0;
                self.c.on_loss(self.now, MTU, pipe);
            }
            // One datagram goes for each that arrives: the pipe stays full.
            self.c.on_sent(self.now, MTU, pipe);
            let prior = self.delivered.saturating_sub(pipe);
            let sample = RateSample {
                delivery_rate: p.rate,
                rtt: p.rtt + p.ack_delay * (i % 2) as u32,
                interval: p.rtt,
                delivered: self.delivered - prior,
                prior_delivered: prior,
                is_app_limited: p.app_limited,
                acked_bytes: MTU,
                lost_bytes: 0,
            };
            self.c.on_ack(self.now, &sample, pipe);
            lowest_pacing = lowest_pacing.min(self.c.pacing_rate());
        }
        Seen { lowest_pacing }
    }
}

#[test]
fn steady_samples_set_the_model() {
    let feed = Feed::steady();
    let c = &feed.c;
    assert_eq!(c.bandwidth(), RATE);
    assert_eq!(c.min_rtt(), Some(RTT));
    assert!(matches!(c.mode, Mode::ProbeBw { .. }));
    // Two bandwidth-delay products and the floor.
    assert_eq!(c.window(), 2 * 400_000 + 64 * MTU);
    assert!([RATE * 5 / 4, RATE * 3 / 4, RATE].contains(&c.pacing_rate()));
    assert_eq!(c.name(), "model");
}

#[test]
fn before_any_sample_the_initial_window_is_paced_out() {
    let c = ModelController::new(MTU as usize);
    assert_eq!(c.window(), 64 * MTU);
    assert_eq!(c.min_rtt(), None);
    // The initial window paced over two milliseconds.
    let expected = per_second(64 * MTU, INITIAL_FLIGHT_TIME);
    assert_eq!(c.pacing_rate(), expected);
}

#[test]
fn random_loss_without_delay_keeps_the_estimate() {
    let mut feed = Feed::steady();
    // 10% lost, the delivery rate down by as much, the RTT unchanged: not congestion.
    let seen = feed.run(phase(8, RATE * 9 / 10, RTT).loss(0.1));
    assert_eq!(feed.c.bandwidth(), RATE);
    assert!(
        seen.lowest_pacing >= RATE * 3 / 4,
        "it drained: {}",
        seen.lowest_pacing
    );
}

#[test]
fn a_queue_above_target_lowers_the_estimate_at_once() {
    let mut feed = Feed::steady();
    // 20 ms of standing queue (the target is 10 ms) while half the rate gets through.
    let seen = feed.run(phase(3, RATE / 2, RTT + 20 * MS));
    // Far sooner than the 10-round filter would forget the old rate.
    assert_eq!(feed.c.bandwidth(), RATE / 2);
    assert!(
        seen.lowest_pacing <= (RATE / 2) * 36 / 100,
        "no drain: {}",
        seen.lowest_pacing
    );
}

#[test]
fn a_queue_below_target_alone_is_not_congestion() {
    let mut feed = Feed::steady();
    let seen = feed.run(phase(8, RATE * 6 / 10, RTT + 4 * MS));
    assert_eq!(feed.c.bandwidth(), RATE);
    assert!(seen.lowest_pacing >= RATE * 3 / 4);
}

#[test]
fn losses_with_a_smaller_rise_in_delay_are_congestion() {
    let mut feed = Feed::steady();
    // 4 ms more (under the 10 ms target, over the 2 ms floor) with 10% lost.
    feed.run(phase(8, RATE * 6 / 10, RTT + 4 * MS).loss(0.1));
    assert_eq!(feed.c.bandwidth(), RATE * 6 / 10);
}

#[test]
fn a_steady_ack_delay_with_random_loss_is_not_congestion() {
    // Every other ACK 8 ms late from the start: the mean delay sits 4 ms over the minimum.
    let mut feed = Feed {
        c: ModelController::new(MTU as usize),
        now: Instant::now(),
        delivered: 0,
    };
    feed.run(phase(30, RATE, RTT).ack_delay(8 * MS));
    let seen = feed.run(phase(8, RATE * 9 / 10, RTT).ack_delay(8 * MS).loss(0.1));
    assert_eq!(feed.c.bandwidth(), RATE);
    assert!(
        seen.lowest_pacing >= RATE * 3 / 4,
        "it drained: {}",
        seen.lowest_pacing
    );
}

#[test]
fn the_fair_policy_backs_off_on_loss_with_a_slight_delay_rise_where_the_default_does_not() {
    // 2% lost while the mean delay rises 1 ms: too little of a rise for the default policy to
    // take the losses as anything but random, enough for the fair one, which then gives up
    // more than the rate it was delivered (CUBIC's 0.7).
    let signal = phase(8, RATE * 8 / 10, RTT + MS).loss(0.02);
    let mut fill = Feed::steady();
    let seen = fill.run(signal);
    assert_eq!(fill.c.bandwidth(), RATE);
    assert!(seen.lowest_pacing >= RATE * 3 / 4, "fill drained");
    let mut fair = Feed::steady_under(RatePolicy::Fair);
    assert_eq!(fair.c.bandwidth(), RATE);
    let seen = fair.run(signal);
    assert!(
        seen.lowest_pacing <= RATE * 8 / 10 * 7 / 10,
        "fair paced no lower than {}",
        seen.lowest_pacing
    );
    // Random loss without any rise in delay leaves both alone.
    let mut fair = Feed::steady_under(RatePolicy::Fair);
    fair.run(phase(8, RATE * 9 / 10, RTT).loss(0.1));
    assert_eq!(fair.c.bandwidth(), RATE);
}

#[test]
fn heavy_loss_is_congestion() {
    let mut feed = Feed::steady();
    feed.run(phase(3, RATE * 6 / 10, RTT).loss(0.4));
    assert_eq!(feed.c.bandwidth(), RATE * 6 / 10);
}

#[test]
fn a_delay_that_draining_does_not_shrink_becomes_the_path_rtt() {
    let mut feed = Feed::steady();
    // The path gets 30 ms longer; the rate does not change.
    feed.run(phase(30, RATE, RTT + 30 * MS));
    assert_eq!(feed.c.min_rtt(), Some(RTT + 30 * MS));
    assert_eq!(feed.c.bandwidth(), RATE);
    let seen = feed.run(phase(10, RATE, RTT + 30 * MS));
    assert!(seen.lowest_pacing >= RATE * 3 / 4, "still reacting");
    // A shorter RTT is taken at once.
    feed.run(phase(1, RATE, RTT));
    assert_eq!(feed.c.min_rtt(), Some(RTT));
}

#[test]
fn a_delay_that_empties_while_this_flow_drains_is_not_taken_as_the_path_rtt() {
    // A queue shared with flows like this one: its reactions do not shrink it while the others
    // refill it, but it empties while this flow drains for longer, as they drain too.
    let mut feed = Feed::steady();
    let queued = RTT + 15 * MS;
    let mut rounds = 0;
    while !matches!(
        feed.c.mode,
        Mode::Drain {
            lowest: Some(_),
            ..
        }
    ) {
        feed.run(phase(1, RATE, queued));
        assert_eq!(
            feed.c.min_rtt(),
            Some(RTT),
            "the queue was taken as the path's"
        );
        rounds += 1;
        assert!(rounds < 40, "the reactions were never found futile");
    }
    feed.run(phase(1, RATE, RTT + MS));
    assert_eq!(feed.c.min_rtt(), Some(RTT));
    assert!(
        matches!(feed.c.mode, Mode::ProbeBw { .. }),
        "{:?}",
        feed.c.mode
    );
}

#[test]
fn acknowledged_announcements_do_not_prolong_the_first_flight() {
    // The first datagrams, small announcements, are acknowledged before any data goes; that
    // measures nothing, and the data still leaves at the first flight's rate for one initial
    // window only.
    let mut c = ModelController::new(MTU as usize);
    let start = Instant::now();
    let fast = c.pacing_rate();
    c.on_sent(start, 100, 100);
    let sample = RateSample {
        delivery_rate: per_second(100, RTT),
        rtt: RTT,
        interval: RTT,
        delivered: 100,
        prior_delivered: 0,
        is_app_limited: true,
        acked_bytes: 100,
        lost_bytes: 0,
    };
    c.on_ack(start + RTT, &sample, 0);
    assert_eq!(c.bandwidth(), 0, "the announcements measured the path");
    assert_eq!(c.pacing_rate(), fast);
    let window = c.window();
    let mut sent = 0;
    while sent < window {
        sent += MTU;
        c.on_sent(start + RTT, MTU, sent);
    }
    assert_eq!(c.pacing_rate(), per_second(window, NOMINAL_RTT));
}

#[test]
fn app_limited_samples_below_the_estimate_are_ignored() {
    let mut feed = Feed::steady();
    feed.run(phase(15, RATE / 5, RTT).app_limited());
    assert_eq!(feed.c.bandwidth(), RATE);
    // The same rate without the app-limited mark is the path's: the old maximum ages out.
    feed.run(phase(15, RATE / 5, RTT));
    assert_eq!(feed.c.bandwidth(), RATE / 5);
}

/// A sender driven by the controller through a fixed-rate bottleneck with an unbounded queue;
/// every `drop_every`-th datagram is lost before the bottleneck.
struct Loop {
    c: ModelController,
    sampler: DeliverySampler,
    pacer: Pacer,
    now: Instant,
    /// Bottleneck rate, bytes per second.
    rate: u64,
    /// When the bottleneck is free again.
    free_at: Instant,
    drop_every: Option<u64>,
    next_pn: u64,
    in_flight: u64,
    sent: HashMap<u64, (Instant, PacketState)>,
    /// ACKs and loss notices to come: (when, packet number, lost).
    events: BinaryHeap<Reverse<(Instant, u64, bool)>>,
    delivered: u64,
    /// The largest RTT seen since this was last reset.
    max_rtt: Duration,
}

impl Loop {
    fn new(rate: u64, drop_every: Option<u64>) -> Self {
        let now = Instant::now();
        Self {
            c: ModelController::new(MTU as usize),
            sampler: DeliverySampler::new(),
            pacer: Pacer::new(MTU as usize),
            now,
            rate,
            free_at: now,
            drop_every,
            next_pn: 0,
            in_flight: 0,
            sent: HashMap::new(),
            events: BinaryHeap::new(),
            delivered: 0,
            max_rtt: Duration::ZERO,
        }
    }

    /// Runs for `span`; returns the lowest bandwidth estimate seen.
    fn run(&mut self, span: Duration) -> u64 {
        let end = self.now + span;
        let mut lowest = u64::MAX;
        while self.now < end {
            while let Some(&Reverse((at, pn, lost))) = self.events.peek() {
                if at > self.now {
                    break;
                }
                self.events.pop();
                self.complete(pn, lost);
            }
            lowest = lowest.min(self.c.bandwidth());
            let wake = self.send();
            let next_event = self.events.peek().map(|Reverse((at, _, _))| *at);
            self.now = [wake, next_event, Some(end)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end);
        }
        lowest
    }

    /// Sends what the window and the pacer allow; returns when the pacer allows more.
    fn send(&mut self) -> Option<Instant> {
        while self.in_flight + MTU <= self.c.window() {
            if let Some(at) = self
                .pacer
                .delay(self.now, self.c.pacing_rate(), MTU as usize)
            {
                return Some(at);
            }
            let state = self.sampler.on_sent(self.now, MTU, self.in_flight);
            self.in_flight += MTU;
            self.c.on_sent(self.now, MTU, self.in_flight);
            self.pacer.on_sent(MTU as usize);
            let pn = self.next_pn;
            self.next_pn += 1;
            self.sent.insert(pn, (self.now, state));
            if self.drop_every.is_some_and(|n| pn % n == n - 1) {
                // Noticed about when its successors are acknowledged.
                self.events.push(Reverse((self.now + RTT, pn, true)));
            } else {
                let departs = self.now.max(self.free_at)
                    + Duration::from_nanos(MTU * 1_000_000_000 / self.rate);
                self.free_at = departs;
                self.events.push(Reverse((departs + RTT, pn, false)));
            }
        }
        None
    }

    fn complete(&mut self, pn: u64, lost: bool) {
        let Some((sent_at, state)) = self.sent.remove(&pn) else {
            return;
        };
        self.in_flight -= MTU;
        if lost {
            self.c.on_loss(self.now, MTU, self.in_flight);
            return;
        }
        self.delivered += MTU;
        let rtt = self.now - sent_at;
        self.max_rtt = self.max_rtt.max(rtt);
        self.sampler.on_acked(self.now, &state, MTU);
        if let Some(sample) = self.sampler.take_sample(self.now, rtt) {
            self.c.on_ack(self.now, &sample, self.in_flight);
        }
    }
}

#[test]
fn closed_loop_converges_near_the_bottleneck() {
    let mut lp = Loop::new(RATE, None);
    lp.run(Duration::from_secs(4));
    let before = lp.delivered;
    lp.max_rtt = Duration::ZERO;
    lp.run(Duration::from_secs(4));
    let goodput = (lp.delivered - before) / 4;
    assert!(goodput >= RATE * 95 / 100, "goodput {goodput}");
    let bw = lp.c.bandwidth();
    assert!(
        (RATE * 95 / 100..=RATE * 105 / 100).contains(&bw),
        "estimate {bw}"
    );
    // The probes' queue stays around a quarter of the RTT.
    assert!(lp.max_rtt < RTT + 15 * MS, "max rtt {:?}", lp.max_rtt);
}

#[test]
fn closed_loop_keeps_its_rate_through_random_loss() {
    let mut lp = Loop::new(RATE, Some(10));
    lp.run(Duration::from_secs(4));
    let before = lp.delivered;
    let lowest = lp.run(Duration::from_secs(4));
    let goodput = (lp.delivered - before) / 4;
    // 10% is lost before the bottleneck: 90% of the rate is all that can arrive.
    assert!(goodput >= RATE * 85 / 100, "goodput {goodput}");
    assert!(lowest >= RATE * 90 / 100, "estimate fell to {lowest}");
}

#[test]
fn closed_loop_backs_off_when_the_queue_grows() {
    let mut lp = Loop::new(RATE, None);
    lp.run(Duration::from_secs(4));
    // The bottleneck halves: the queue grows, and the estimate follows before the 10-round
    // filter window (over 800 ms at the RTTs the queue makes) would forget the old rate.
    lp.rate = RATE / 2;
    let lowest = lp.run(Duration::from_millis(600));
    assert!(lowest <= RATE * 55 / 100, "estimate stayed at {lowest}");
    // Once the queue drained, the flow fills the smaller pipe without rebuilding it.
    lp.run(Duration::from_secs(2));
    lp.max_rtt = Duration::ZERO;
    let before = lp.delivered;
    lp.run(Duration::from_secs(4));
    let goodput = (lp.delivered - before) / 4;
    assert!(goodput >= RATE / 2 * 95 / 100, "goodput {goodput}");
    assert!(lp.max_rtt < RTT + 25 * MS, "max rtt {:?}", lp.max_rtt);
}
