//! The default model-based rate controller (BBR-like) with a queueing-delay target.
//!
//! The model is the bottleneck bandwidth (the largest delivery rate of the last rounds) and the
//! path's minimum RTT; the pacing rate is the bandwidth times a gain that depends on the phase:
//! startup finds the bandwidth, drain empties the queue startup built, and probe-bandwidth
//! cycles 1.25 (probe), 0.75 (drain what the probe queued) and six rounds at 1. The 0.75 phases
//! and the drains keep the minimum-RTT filter fresh without ever emptying the pipe.
//!
//! Startup is paced from the first packet and measures the bottleneck from the spacing of ACKs
//! rather than waiting for the window to grow. The initial window leaves paced over two
//! milliseconds (never as one burst), and then nothing more until the first estimate. The ACKs
//! of each round form a train: the bytes it delivered over the time it spanned are the rate the
//! bottleneck let through, or the rate sent at when that is lower. This packet-train estimate
//! jumps the first round to what the path carries instead of a window per RTT. The pacing rate
//! is then twice the estimate, doubling each round while the path keeps up, and startup ends:
//!
//! * as soon as a train delivered less than 80% of the lowest rate its packets were sent at,
//!   random losses added back: the bottleneck is slower than that, and the rate must not grow
//!   past it for the round trip it takes the queue to show in the RTT;
//! * when eight RTT samples in a row lie above the minimum by an eighth of it (4 to 40 ms,
//!   HyStart++'s delay-based exit): a queue is growing;
//! * as a fallback, when the estimate grew less than 25% in three rounds.
//!
//! Losses alone never end startup under the default policy: random loss is not congestion.
//! On leaving, the estimate is what the path delivered with the random losses added back (never
//! more than was sent), and drain empties the queue startup may have built. A doubling per round
//! is the most growth that can stop with under half a bandwidth-delay product queued in the
//! round trip the feedback takes; the ACK-train exit usually stops it within the first round.
//!
//! A path remembered from an earlier transfer ([`PathMemory`]) skips startup: the controller
//! paces at 95% of the remembered rate from the first packet and checks it for three rounds.
//! A queue (the delay rise above) or a train short of the rate sent means the path carries less
//! now: the estimate falls to what it delivered, and drain follows. Far less delivered without a
//! queue sends it back to startup. Otherwise the rate is the path's, and probing goes on from it.
//!
//! Congestion is judged once per measurement period (at least one round and enough datagrams):
//! an RTT that stays above the minimum by more than `max(5 ms, min_rtt / 4)` for the whole
//! period means a queue is building; losses count only together with a smaller rise in the mean
//! delay (over the lowest mean of recent periods, which holds what ACK delays and jitter always
//! add) that is not this flow's own probe, or when they are far above any plausible random loss
//! (more than 30% of the period, a full queue). On congestion the estimate drops to the best
//! rate delivered during the period, forgetting what the filter only remembered, and the
//! controller drains. Random loss alone never lowers the rate.
//!
//! Under the fair policy ([`RatePolicy::Fair`]), meant for paths shared with loss-based TCP, any
//! loss in a period whose mean delay rose at all (more than `max(0.5 ms, min_rtt / 64)`, its
//! own probes included) is congestion, as is a loss in startup together with such a rise, and
//! the estimate drops to 0.7 of the best rate delivered (CUBIC's multiplicative decrease), so
//! that it yields to TCP flows on the same queue as they yield to each other. Random loss with
//! no rise in delay is still not congestion.
//!
//! There is no ProbeRTT phase that empties the pipe periodically. A delay that three reactions
//! in a row did not shrink (a longer path, jitter, a queue others keep full) is checked by one
//! longer drain, up to three rounds: if the RTT falls back within the target of the minimum
//! meanwhile, the queue was (partly) this flow's and the minimum stands; otherwise the lowest
//! RTT seen is taken as the path's. Flows of this kind that share a bottleneck all see their
//! reactions fail while the others refill the queue; were the delay taken as the path's at
//! once, the first flow to do so would keep the queue full against the others, which go on
//! yielding to a delay they measure from the true minimum (the latecomer problem of delay-based
//! control). Draining alongside them, it sees the queue empty instead. Any lower RTT sample
//! lowers the minimum again at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::filter::MaxFilter;
use super::{bytes_in, per_second, PathMemory, RateController, RatePolicy, RateSample};

/// Startup paces at this many times the delivery rate measured, so the rate doubles every
/// round while the path keeps up: faster growth queues more in the round trip it takes to see
/// the queue (the overshoot is about (gain − 1) / ln gain − 1 bandwidth-delay products).
const STARTUP_GAIN: f64 = 2.0;
/// Startup's window, in bandwidth-delay products: never the limit while pacing is.
const STARTUP_WINDOW_GAIN: f64 = 3.0;
/// The first flight, the initial window, is paced over this long: fast enough that the
/// spacing of its ACKs shows the bottleneck's rate on many paths, spread enough that the
/// pacer's bucket (a millisecond of the rate) holds half of it, never all of it at once. Once
/// it is out, the rate falls to the window per nominal RTT until the first estimate, so that
/// nothing beyond the window leaves on the strength of the fast rate.
const INITIAL_FLIGHT_TIME: Duration = Duration::from_millis(2);
/// How much later than its pace a train's packets may have left before the train starts again
/// (timer and scheduling slack).
const TRAIN_SEND_SLACK: Duration = Duration::from_millis(2);
/// An ACK train measures the path once it covers this many datagrams.
const TRAIN_MIN_DATAGRAMS: u64 = 16;
/// Startup ends when an ACK train delivered less than this fraction of the lowest rate its
/// packets were sent at (random losses added back): the bottleneck is slower than that.
const KEPT_UP: f64 = 0.8;
/// Startup (and the check of a remembered path) ends once this many RTT samples in a row lie
/// above the minimum by more than the delay-rise threshold...
const DELAY_RISE_SAMPLES: u32 = 8;
/// ...which is an eighth of the min RTT, within these bounds (HyStart++'s).
const DELAY_RISE_MIN: Duration = Duration::from_millis(4);
const DELAY_RISE_MAX: Duration = Duration::from_millis(40);
/// A remembered path is paced at this fraction of its remembered rate at first...
const MEMORY_FRACTION: f64 = 0.95;
/// ...for this many rounds, after which the rate is the path's if no queue built.
const MEMORY_CHECK_ROUNDS: u64 = 3;
/// A remembered path that delivers less than this fraction of what it was paced at (without a
/// queue) is measured again from startup.
const MEMORY_SHORTFALL: f64 = 0.5;
/// The fair policy's multiplicative decrease on congestion (CUBIC's beta).
const FAIR_BETA: f64 = 0.7;
/// The fair policy counts losses as congestion with any rise in the mean delay above the larger
/// of this and a sixty-fourth of the min RTT.
const FAIR_RAISED_DELAY_FLOOR: Duration = Duration::from_micros(500);
/// Drain: 1 / 2.885 (ln 2 / 2), to empty a queue of up to twice the bandwidth-delay product in
/// about a round.
const DRAIN_GAIN: f64 = 1.0 / 2.885;
/// Probe-bandwidth gains, one phase of about one min RTT each.
const PROBE_GAINS: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// The phases a probe-bandwidth cycle may start in (cruising, so entry never probes at once).
const CRUISE_PHASES: usize = 6;
/// The bandwidth estimate is the largest delivery rate over this many rounds.
const BW_WINDOW_ROUNDS: u64 = 10;
/// After this many reactions in a row that did not shrink the queue, the queue is not this
/// flow's to drain (the path got longer, or jitter, or others keep it full): its delay is taken
/// as part of the path's RTT.
const FUTILE_REACTIONS: u32 = 3;
/// Startup ends when the bandwidth grew less than this factor...
const FULL_BW_GROWTH: f64 = 1.25;
/// ...for this many rounds in a row.
const FULL_BW_ROUNDS: u32 = 3;
/// Drain lasts at most this many rounds, whatever the bytes in flight.
const DRAIN_MAX_ROUNDS: u64 = 3;
/// Outside startup the window is this many bandwidth-delay products...
const WINDOW_GAIN: f64 = 2.0;
/// ...plus this many datagrams, which is also the window before anything was measured.
const WINDOW_FLOOR_DATAGRAMS: u64 = 64;
/// The queueing-delay target is the larger of this and a quarter of the min RTT.
const QUEUE_DELAY_FLOOR: Duration = Duration::from_millis(5);
/// Losses count as congestion when the mean delay rose by more than the larger of this and a
/// thirty-second of the min RTT (a queue too short to reach the target, filling up)...
const RAISED_DELAY_FLOOR: Duration = Duration::from_millis(2);
/// ...above the lowest mean delay of this many recent periods, which holds what ACK delays and
/// jitter always add.
const QUIET_PERIODS: usize = 16;
/// A loss fraction above this over a period is a full queue, not random loss.
const CONGESTION_LOSS_RATE: f64 = 0.3;
/// A measurement period covers at least this many datagrams' worth of acked or lost bytes...
const PERIOD_MIN_DATAGRAMS: u64 = 100;
/// ...and at least this many RTT samples.
const PERIOD_MIN_SAMPLES: u32 = 8;
/// The RTT assumed before any was measured.
const NOMINAL_RTT: Duration = Duration::from_millis(10);

/// The phase of the controller.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Doubling the rate every round until the bandwidth stops growing or a queue builds.
    Startup,
    /// Pacing at a remembered path's rate until `until_round`, watching for a queue.
    Check { until_round: u64 },
    /// Emptying the queue; entered in `since_round`. With `lowest`, the lowest RTT sampled
    /// since, the drain checks whether a delay that reactions did not shrink is the path's.
    Drain {
        since_round: u64,
        lowest: Option<Duration>,
    },
    /// Cycling through [`PROBE_GAINS`]; the current phase began at `since`.
    ProbeBw { phase: usize, since: Instant },
}

/// What was measured since the current measurement period began.
#[derive(Clone, Copy, Debug)]
struct Period {
    /// The period has covered a whole round once this round begins.
    complete_at_round: u64,
    /// RTT samples taken.
    samples: u32,
    /// The smallest RTT sampled.
    min_rtt: Option<Duration>,
    /// The sum of the RTTs sampled.
    rtt_sum: Duration,
    /// Bytes acknowledged.
    acked: u64,
    /// The largest delivery rate sampled.
    max_rate: u64,
    /// Bytes declared lost.
    lost: u64,
    /// Whether the controller probed (gain other than 1) during the period: the queue it saw may
    /// be its own probe's, which the next phase drains.
    probed: bool,
}

impl Period {
    fn new(complete_at_round: u64) -> Self {
        Self {
            complete_at_round,
            samples: 0,
            min_rtt: None,
            rtt_sum: Duration::ZERO,
            acked: 0,
            max_rate: 0,
            lost: 0,
            probed: false,
        }
    }
}

/// The ACKs of one round, measured as a train.
#[derive(Clone, Copy, Debug)]
struct Train {
    round: u64,
    /// When its first ACK came.
    start: Instant,
    /// When the packet that ACK acknowledged was sent.
    sent_at: Instant,
    /// Bytes delivered in total by then.
    delivered: u64,
    /// The lowest pacing rate any packet it acknowledged was sent at.
    sent_rate: u64,
}

/// Model-based rate control: pacing at the measured bottleneck bandwidth, window at about two
/// bandwidth-delay products, queueing delay held under a target.
#[derive(Clone, Debug)]
pub struct ModelController {
    max_datagram: u64,
    mode: Mode,
    /// The largest recent delivery rates.
    bw: MaxFilter,
    /// The smallest RTT seen; raised only after [`FUTILE_REACTIONS`].
    min_rtt: Option<Duration>,
    /// The mean queueing delay at the last reaction, while periods stay congested.
    reacted_at: Option<Duration>,
    /// Reactions in a row that did not shrink the queue.
    futile: u32,
    /// The mean queueing delay of the last [`QUIET_PERIODS`] periods, oldest first.
    recent_means: VecDeque<Duration>,
    /// Rounds (one per window of delivered data) counted so far.
    round: u64,
    /// The round ends when a packet sent after this many bytes were delivered is acknowledged.
    next_round_delivered: u64,
    /// The bandwidth startup last saw grow by [`FULL_BW_GROWTH`].
    full_bw: u64,
    /// Rounds since it last grew that much.
    full_bw_stalls: u32,
    /// The current measurement period, once anything was acknowledged.
    period: Option<Period>,
    /// How losses and shared queues are treated.
    policy: RatePolicy,
    /// The remembered RTT, used for the window until one is measured.
    memory_rtt: Option<Duration>,
    /// The rate a remembered path was first paced at.
    memory_rate: u64,
    /// The ACK train of the current round: its round, when its first ACK came, the bytes
    /// delivered by then and the lowest rate the packets acknowledged since were sent at.
    train: Option<Train>,
    /// The pacing rates asked for while measuring the path, and from when, oldest first.
    sent_rates: VecDeque<(Instant, u64)>,
    /// RTT samples in a row above the minimum by more than the delay-rise threshold.
    delay_streak: u32,
    /// The largest delivery rate of the current round.
    round_max_rate: u64,
    /// The highest pacing rate asked for so far: no ACK train can show more than was sent.
    max_pacing: u64,
    /// Bytes sent before the first estimate (the first flight, then what followed it).
    first_flight: u64,
    /// Bytes acknowledged and bytes declared lost, in total.
    acked: u64,
    lost: u64,
}

impl ModelController {
    /// A controller in startup for datagrams of at most `max_datagram` bytes, filling the path.
    pub fn new(max_datagram: usize) -> Self {
        Self::with(max_datagram, RatePolicy::Fill, None)
    }

    /// A controller under `policy`; with `memory`, it paces at once at (a safe fraction of) the
    /// remembered rate and checks it over its first rounds instead of starting up.
    pub fn with(max_datagram: usize, policy: RatePolicy, memory: Option<PathMemory>) -> Self {
        let mut c = Self {
            max_datagram: max_datagram.max(1) as u64,
            mode: Mode::Startup,
            bw: MaxFilter::new(BW_WINDOW_ROUNDS),
            min_rtt: None,
            reacted_at: None,
            futile: 0,
            recent_means: VecDeque::with_capacity(QUIET_PERIODS),
            round: 0,
            next_round_delivered: 0,
            full_bw: 0,
            full_bw_stalls: 0,
            period: None,
            policy,
            memory_rtt: None,
            memory_rate: 0,
            train: None,
            sent_rates: VecDeque::new(),
            delay_streak: 0,
            round_max_rate: 0,
            max_pacing: 0,
            first_flight: 0,
            acked: 0,
            lost: 0,
        };
        if let Some(m) = memory {
            c.memory_rate = (m.bandwidth as f64 * MEMORY_FRACTION) as u64;
            c.bw.update(0, c.memory_rate);
            c.memory_rtt = Some(m.min_rtt);
            c.mode = Mode::Check {
                until_round: MEMORY_CHECK_ROUNDS,
            };
        }
        c
    }

    /// The policy the controller follows.
    pub fn policy(&self) -> RatePolicy {
        self.policy
    }

    /// The fraction of the bytes sent that were lost so far, at most
    /// [`PathMemory::MAX_LOSS`].
    fn loss_fraction(&self) -> f64 {
        let total = self.acked + self.lost;
        if total == 0 {
            return 0.0;
        }
        (self.lost as f64 / total as f64).min(PathMemory::MAX_LOSS)
    }

    /// The queueing delay a flow keeps at most over a path of `min_rtt`.
    fn queue_target(min_rtt: Duration) -> Duration {
        QUEUE_DELAY_FLOOR.max(min_rtt / 4)
    }

    /// How far the RTT must rise over the minimum to show a queue growing.
    fn delay_rise(min_rtt: Duration) -> Duration {
        (min_rtt / 8).clamp(DELAY_RISE_MIN, DELAY_RISE_MAX)
    }

    /// Whether enough RTT samples in a row lay above the minimum by more than the delay-rise
    /// threshold: a queue is growing.
    fn delay_rose(&self) -> bool {
        self.delay_streak >= DELAY_RISE_SAMPLES
    }

    /// Whether the path's rate is still being found: in startup, or checking a remembered one.
    fn measuring(&self) -> bool {
        matches!(self.mode, Mode::Startup | Mode::Check { .. })
    }

    /// The pacing rate startup asked for at `at` (the earliest one known if `at` is older).
    fn sent_rate_at(&self, at: Instant) -> u64 {
        let i = self.sent_rates.partition_point(|&(from, _)| from <= at);
        self.sent_rates
            .get(i.saturating_sub(1))
            .map_or(0, |&(_, rate)| rate)
    }

    /// Startup found the path's rate: the estimate becomes what the path delivered, random
    /// losses added back (never more than was sent), and the queue built meanwhile drains.
    fn exit_startup(&mut self) {
        let delivered = self.bw.get();
        let carried = (delivered as f64 / (1.0 - self.loss_fraction())) as u64;
        self.bw
            .reset(self.round, carried.min(self.max_pacing).max(delivered));
        self.enter_drain();
    }

    /// Measures the ACK train of the current round: the bytes delivered since its first ACK
    /// over the time since, which shows the bottleneck's rate (or the rate sent at, when that
    /// is lower) a round before the delivery-rate samples of a flight limited by the window do.
    /// A train that delivered clearly less than its packets were sent at found the bottleneck:
    /// startup ends then, before the rate grows past it, and so does the check of a remembered
    /// rate the path no longer carries.
    fn measure_train(&mut self, now: Instant, sample: &RateSample) {
        let delivered = sample.prior_delivered + sample.delivered;
        let sent_at = now.checked_sub(sample.rtt).unwrap_or(now);
        let sent_rate = self.sent_rate_at(sent_at);
        let train = match self.train {
            Some(t)
                if t.round == self.round
                    && (sample.is_app_limited || !Self::sent_apart(&t, sent_at, delivered)) =>
            {
                Train {
                    sent_rate: t.sent_rate.min(sent_rate),
                    ..t
                }
            }
            _ => Train {
                round: self.round,
                start: now,
                sent_at,
                delivered,
                sent_rate,
            },
        };
        self.train = Some(train);
        let bytes = delivered - train.delivered;
        if bytes < TRAIN_MIN_DATAGRAMS * self.max_datagram {
            return;
        }
        let rate = per_second(bytes, now.saturating_duration_since(train.start));
        let rate = rate.min(self.max_pacing);
        if rate == 0 {
            return;
        }
        self.bw.update(self.round, rate);
        let carried = rate as f64 / (1.0 - self.loss_fraction());
        if sample.is_app_limited || carried >= KEPT_UP * train.sent_rate as f64 {
            return;
        }
        if self.mode == Mode::Startup {
            self.exit_startup();
        } else {
            // A remembered rate the path no longer carries: what it delivered is its rate now,
            // and the losses of the overshoot say nothing about random loss.
            self.bw.reset(self.round, rate);
            self.enter_drain();
        }
    }

    /// Whether the packet sent at `sent_at`, with `delivered` bytes delivered by its ACK, left
    /// well after the pace of `train` would have sent it: the sender paused in between (a
    /// probe, then the repair of a first flight that was lost), and the gap in the ACKs is its
    /// own, not the bottleneck's. A train starts again from it. (An app-limited sender, held
    /// under the controller's pace by a cap, sends slower than that pace all the time.)
    fn sent_apart(train: &Train, sent_at: Instant, delivered: u64) -> bool {
        let bytes = delivered.saturating_sub(train.delivered);
        let paced = Duration::from_secs_f64(bytes as f64 / train.sent_rate.max(1) as f64);
        sent_at.saturating_duration_since(train.sent_at) > 2 * paced + TRAIN_SEND_SLACK
    }

    /// At each ACK while checking a remembered path: a queue means the path now carries less,
    /// and the estimate falls to what it delivered; after the check rounds without one, the
    /// rate is the path's, unless far less got through, which startup measures again.
    fn check_memory(&mut self, now: Instant, round_start: bool) {
        let Mode::Check { until_round } = self.mode else {
            return;
        };
        if self.delay_rose() {
            let delivered = self.round_max_rate.max(1);
            self.bw.reset(self.round, delivered);
            self.enter_drain();
        } else if round_start && self.round >= until_round {
            let expected = self.memory_rate as f64 * (1.0 - self.loss_fraction());
            if (self.bw.get() as f64) < MEMORY_SHORTFALL * expected {
                self.mode = Mode::Startup;
            } else {
                self.enter_probe_bw(now);
            }
        }
    }

    /// The bottleneck bandwidth estimate in bytes per second, 0 before the first sample.
    pub fn bandwidth(&self) -> u64 {
        self.bw.get()
    }

    /// The pacing gain of the current phase.
    fn pacing_gain(&self) -> f64 {
        match self.mode {
            Mode::Startup => STARTUP_GAIN,
            Mode::Check { .. } => 1.0,
            Mode::Drain { .. } => DRAIN_GAIN,
            Mode::ProbeBw { phase, .. } => PROBE_GAINS[phase],
        }
    }

    /// The bandwidth-delay product in bytes, once both were measured.
    fn bdp(&self) -> Option<u64> {
        let bw = self.bw.get();
        let rtt = self.min_rtt.or(self.memory_rtt)?;
        (bw > 0).then(|| bytes_in(bw, rtt))
    }

    fn enter_drain(&mut self) {
        self.mode = Mode::Drain {
            since_round: self.round,
            lowest: None,
        };
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        // Start in a cruising phase picked from the delivery count, so flows that enter at
        // different times probe at different times.
        let pick = (self.next_round_delivered / self.max_datagram) as usize % CRUISE_PHASES;
        self.mode = Mode::ProbeBw {
            phase: PROBE_GAINS.len() - CRUISE_PHASES + pick,
            since: now,
        };
        // Whatever was measured while draining says nothing about the new phase.
        self.period = Some(Period::new(self.round + 2));
    }

    /// At the start of a round in startup: has the bandwidth stopped growing?
    fn check_full_bandwidth(&mut self) {
        let bw = self.bw.get();
        if bw as f64 >= self.full_bw as f64 * FULL_BW_GROWTH {
            self.full_bw = bw;
            self.full_bw_stalls = 0;
        } else {
            self.full_bw_stalls += 1;
            if self.full_bw_stalls >= FULL_BW_ROUNDS {
                self.exit_startup();
            }
        }
    }

    /// At the start of a round: closes the measurement period if it is long enough, and reacts
    /// if it shows congestion.
    fn end_period(&mut self) {
        let Some(period) = self.period else {
            return;
        };
        let bytes = period.acked + period.lost;
        if self.round < period.complete_at_round
            || bytes < PERIOD_MIN_DATAGRAMS * self.max_datagram
            || period.samples < PERIOD_MIN_SAMPLES
        {
            return;
        }
        self.period = Some(Period::new(self.round + 1));
        let (Some(min_rtt), Some(period_min)) = (self.min_rtt, period.min_rtt) else {
            return;
        };
        if matches!(self.mode, Mode::Drain { .. }) {
            // Draining already; the judgement resumes with the next phase.
            return;
        }
        // The queue that stood through the whole period, and the mean one.
        let standing = period_min.saturating_sub(min_rtt);
        let mean = (period.rtt_sum / period.samples).saturating_sub(min_rtt);

        if self.recent_means.len() == QUIET_PERIODS {
            self.recent_means.pop_front();
        }
        self.recent_means.push_back(mean);
        let quiet = self.recent_means.iter().min().copied().unwrap_or(mean);

        let target = Self::queue_target(min_rtt);
        let delayed = standing > target;
        let heavy_loss = period.lost as f64 / bytes as f64 > CONGESTION_LOSS_RATE;
        // Losses while a queue builds that is not this flow's own probe: a full queue too short
        // to reach the target. Random losses without a queue are not congestion.
        let queue_loss = match self.policy {
            RatePolicy::Fill => {
                period.lost > 0
                    && !period.probed
                    && mean > quiet + RAISED_DELAY_FLOOR.max(min_rtt / 32)
            }
            // Loss-based TCP backs off on any loss; this one on losses that come with a queue,
            // its own probe's included, which is what a flow sharing the queue sees.
            RatePolicy::Fair => {
                period.lost > 0 && mean > quiet + FAIR_RAISED_DELAY_FLOOR.max(min_rtt / 64)
            }
        };
        if !(delayed || heavy_loss || queue_loss) {
            self.reacted_at = None;
            self.futile = 0;
            return;
        }
        match self.mode {
            // Startup's estimate never ran ahead of the path: keep it and drain. Losses are left
            // to the bandwidth plateau: startup causes them itself when the queue is short, and
            // a sender that does not know the RTT yet may declare losses early.
            Mode::Startup if delayed => self.exit_startup(),
            Mode::Startup if self.policy == RatePolicy::Fair => self.exit_startup(),
            Mode::ProbeBw { .. } => {
                if !heavy_loss {
                    let shrank = self.reacted_at.is_none_or(|last| mean + target / 8 < last);
                    self.futile = if shrank { 0 } else { self.futile + 1 };
                    if self.futile >= FUTILE_REACTIONS {
                        // Reactions did not shrink this delay: drain for longer to see whether
                        // it is the path's.
                        self.reacted_at = None;
                        self.futile = 0;
                        self.mode = Mode::Drain {
                            since_round: self.round,
                            lowest: Some(period_min),
                        };
                        return;
                    }
                }
                // Down to the best this flow delivered in the period, which keeps what its own
                // probes won but drops what it held only through the filter's memory.
                if period.max_rate > 0 {
                    let kept = match self.policy {
                        RatePolicy::Fill => period.max_rate,
                        RatePolicy::Fair => (period.max_rate as f64 * FAIR_BETA) as u64,
                    };
                    self.bw.reset(self.round, kept.min(self.bw.get()).max(1));
                }
                self.reacted_at = Some(mean);
                self.enter_drain();
            }
            _ => {}
        }
    }

    /// Moves between phases as the bytes in flight and the time allow.
    fn advance(&mut self, now: Instant, in_flight: u64) {
        let bdp = self.bdp().unwrap_or(0);
        match self.mode {
            Mode::Startup | Mode::Check { .. } => {}
            Mode::Drain {
                since_round,
                lowest: None,
            } => {
                if in_flight <= bdp || self.round >= since_round + DRAIN_MAX_ROUNDS {
                    self.enter_probe_bw(now);
                }
            }
            Mode::Drain {
                since_round,
                lowest: Some(lowest),
            } => {
                let min_rtt = self.min_rtt.unwrap_or(lowest);
                if lowest <= min_rtt + Self::queue_target(min_rtt) {
                    self.enter_probe_bw(now);
                } else if self.round >= since_round + DRAIN_MAX_ROUNDS {
                    self.min_rtt = Some(lowest);
                    self.enter_probe_bw(now);
                }
            }
            Mode::ProbeBw { phase, since } => {
                let min_rtt = self.min_rtt.unwrap_or(NOMINAL_RTT);
                let elapsed = now.saturating_duration_since(since);
                let gain = PROBE_GAINS[phase];
                let done = if gain > 1.0 {
                    // Probe until the extra data is in flight, but not forever.
                    elapsed >= min_rtt
                        && (in_flight as f64 >= gain * bdp as f64 || elapsed >= 2 * min_rtt)
                } else if gain < 1.0 {
                    elapsed >= min_rtt || in_flight <= bdp
                } else {
                    elapsed >= min_rtt
                };
                if done {
                    self.mode = Mode::ProbeBw {
                        phase: (phase + 1) % PROBE_GAINS.len(),
                        since: now,
                    };
                }
            }
        }
    }
}

impl RateController for ModelController {
    /// Sending changes nothing in the model but the highest rate sent at, which bounds what an
    /// ACK train may show.
    fn on_sent(&mut self, now: Instant, bytes: u64, _in_flight: u64) {
        // Counted until the path is measured, not until the first ACK: a sender whose first
        // datagrams (announcements waiting for the receiver's answer) are acknowledged before
        // its data goes would otherwise send that data at the first flight's rate, and twice
        // the initial window, since its window covers what the rate sends between ACK bursts.
        if self.bw.get() == 0 {
            self.first_flight += bytes;
        }
        let rate = self.pacing_rate();
        self.max_pacing = self.max_pacing.max(rate);
        if self.measuring() && self.sent_rates.back().is_none_or(|&(_, r)| r != rate) {
            self.sent_rates.push_back((now, rate));
            // Two RTTs of history answer for any packet still to be acknowledged.
            let keep = 2 * self.min_rtt.unwrap_or(NOMINAL_RTT).max(NOMINAL_RTT);
            while self.sent_rates.len() > 2 && self.sent_rates[1].0 + keep < now {
                self.sent_rates.pop_front();
            }
        }
    }

    fn on_ack(&mut self, now: Instant, sample: &RateSample, in_flight: u64) {
        self.min_rtt = Some(self.min_rtt.map_or(sample.rtt, |m| m.min(sample.rtt)));
        self.acked += sample.acked_bytes;
        let probing = matches!(self.mode, Mode::ProbeBw { phase, .. } if PROBE_GAINS[phase] != 1.0);
        let period = self.period.get_or_insert(Period::new(self.round + 1));
        period.probed |= probing;
        period.samples += 1;
        period.rtt_sum += sample.rtt;
        period.acked += sample.acked_bytes;
        period.max_rate = period.max_rate.max(sample.delivery_rate);
        period.min_rtt = Some(period.min_rtt.map_or(sample.rtt, |m| m.min(sample.rtt)));

        if let Mode::Drain {
            lowest: Some(lowest),
            ..
        } = &mut self.mode
        {
            *lowest = (*lowest).min(sample.rtt);
        }
        let round_start = sample.prior_delivered >= self.next_round_delivered;
        if round_start {
            self.round += 1;
            self.next_round_delivered = sample.prior_delivered + sample.delivered;
            self.round_max_rate = 0;
        }
        self.round_max_rate = self.round_max_rate.max(sample.delivery_rate);
        let min_rtt = self.min_rtt.unwrap_or(sample.rtt);
        if sample.rtt > min_rtt + Self::delay_rise(min_rtt) {
            self.delay_streak += 1;
        } else {
            self.delay_streak = 0;
        }
        if self.measuring() {
            self.measure_train(now, sample);
        }
        // App-limited samples say little about the path unless they beat the estimate, and
        // the first estimate takes a few datagrams' worth: the ACK of a probe (after a first
        // flight lost whole, say) or of the announcements a sender makes while its data waits
        // for the receiver's answer says nothing of the path's rate, and startup would double
        // from it for many round trips.
        let bw = self.bw.get();
        let measured = bw > 0 || sample.delivered >= TRAIN_MIN_DATAGRAMS * self.max_datagram;
        if sample.delivery_rate > 0
            && measured
            && (!sample.is_app_limited || sample.delivery_rate >= bw)
        {
            self.bw.update(self.round, sample.delivery_rate);
        }
        if self.mode == Mode::Startup && self.delay_rose() {
            self.exit_startup();
        }
        self.check_memory(now, round_start);
        if round_start {
            if self.mode == Mode::Startup && !sample.is_app_limited {
                self.check_full_bandwidth();
            }
            self.end_period();
        }
        self.advance(now, in_flight);
    }

    fn on_loss(&mut self, _now: Instant, lost_bytes: u64, _in_flight: u64) {
        self.lost += lost_bytes;
        let period = self.period.get_or_insert(Period::new(self.round + 1));
        period.lost += lost_bytes;
    }

    fn pacing_rate(&self) -> u64 {
        let bw = self.bw.get();
        if bw == 0 {
            let span = if self.first_flight < self.window() {
                INITIAL_FLIGHT_TIME
            } else {
                NOMINAL_RTT
            };
            return per_second(self.window(), span);
        }
        (bw as f64 * self.pacing_gain()) as u64
    }

    fn window(&self) -> u64 {
        let floor = WINDOW_FLOOR_DATAGRAMS * self.max_datagram;
        let gain = match self.mode {
            Mode::Startup => STARTUP_WINDOW_GAIN,
            _ => WINDOW_GAIN,
        };
        self.bdp()
            .map_or(floor, |bdp| (bdp as f64 * gain) as u64 + floor)
    }

    fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    fn set_max_datagram(&mut self, size: usize) {
        self.max_datagram = size.max(1) as u64;
    }

    /// What the path carried, once startup (or the check of a remembered path) measured it.
    fn path_memory(&self) -> Option<PathMemory> {
        if matches!(self.mode, Mode::Startup | Mode::Check { .. }) {
            return None;
        }
        let loss = self.loss_fraction();
        let bandwidth = (self.bw.get() as f64 / (1.0 - loss)) as u64;
        PathMemory::new(bandwidth, self.min_rtt?, loss)
    }

    fn name(&self) -> &'static str {
        "model"
    }
}

#[cfg(test)]
mod tests;
