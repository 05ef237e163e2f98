//! The default model-based rate controller (BBR-like) with a queueing-delay target.
//!
//! The model is the bottleneck bandwidth (the largest delivery rate of the last rounds) and the
//! path's minimum RTT; the pacing rate is the bandwidth times a gain that depends on the phase:
//! startup doubles the rate every round until it stops growing, drain empties the queue startup
//! built, and probe-bandwidth cycles 1.25 (probe), 0.75 (drain what the probe queued) and six
//! rounds at 1. The 0.75 phases and the drains keep the minimum-RTT filter fresh without ever
//! emptying the pipe.
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
//! There is no ProbeRTT phase that empties the pipe: a delay that three reactions in a row did
//! not shrink (a longer path, jitter, a queue others keep full) is taken as part of the path's
//! RTT instead, and any lower RTT sample lowers the minimum again at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::filter::MaxFilter;
use super::{bytes_in, per_second, RateController, RateSample};

/// Startup and its window: 2 / ln 2, enough to double the delivery rate every round.
const STARTUP_GAIN: f64 = 2.885;
/// Drain: the inverse of the startup gain, to empty the queue startup built in about a round.
const DRAIN_GAIN: f64 = 1.0 / STARTUP_GAIN;
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
/// The RTT assumed for the first pacing rate, before any was measured.
const NOMINAL_RTT: Duration = Duration::from_millis(10);

/// The phase of the controller.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Doubling the rate every round until the bandwidth stops growing or a queue builds.
    Startup,
    /// Emptying the queue; entered in `since_round`.
    Drain { since_round: u64 },
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
}

impl ModelController {
    /// A controller in startup for datagrams of at most `max_datagram` bytes.
    pub fn new(max_datagram: usize) -> Self {
        Self {
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
            Mode::Drain { .. } => DRAIN_GAIN,
            Mode::ProbeBw { phase, .. } => PROBE_GAINS[phase],
        }
    }

    /// The bandwidth-delay product in bytes, once both were measured.
    fn bdp(&self) -> Option<u64> {
        let bw = self.bw.get();
        let rtt = self.min_rtt?;
        (bw > 0).then(|| bytes_in(bw, rtt))
    }

    fn enter_drain(&mut self) {
        self.mode = Mode::Drain {
            since_round: self.round,
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
                self.enter_drain();
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

        let target = QUEUE_DELAY_FLOOR.max(min_rtt / 4);
        let delayed = standing > target;
        let heavy_loss = period.lost as f64 / bytes as f64 > CONGESTION_LOSS_RATE;
        // Losses while a queue builds that is not this flow's own probe: a full queue too short
        // to reach the target. Random losses without a queue are not congestion.
        let queue_loss = period.lost > 0
            && !period.probed
            && mean > quiet + RAISED_DELAY_FLOOR.max(min_rtt / 32);
        if !(delayed || heavy_loss || queue_loss) {
            self.reacted_at = None;
            self.futile = 0;
            return;
        }
        match self.mode {
            // Startup's estimate never ran ahead of the path: keep it and drain. Losses are left
            // to the bandwidth plateau: startup causes them itself when the queue is short, and
            // a sender that does not know the RTT yet may declare losses early.
            Mode::Startup if delayed => self.enter_drain(),
            Mode::ProbeBw { .. } => {
                if !heavy_loss {
                    let shrank = self.reacted_at.is_none_or(|last| mean + target / 8 < last);
                    self.futile = if shrank { 0 } else { self.futile + 1 };
                    if self.futile >= FUTILE_REACTIONS {
                        // Draining does not shrink this delay: take it as the path's.
                        self.min_rtt = Some(period_min);
                        self.reacted_at = None;
                        self.futile = 0;
                        return;
                    }
                }
                // Down to the best this flow delivered in the period, which keeps what its own
                // probes won but drops what it held only through the filter's memory.
                if period.max_rate > 0 {
                    self.bw
                        .reset(self.round, period.max_rate.min(self.bw.get()));
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
            Mode::Startup => {}
            Mode::Drain { since_round } => {
                if in_flight <= bdp || self.round >= since_round + DRAIN_MAX_ROUNDS {
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
    /// Sending changes nothing in the model: it is driven by ACKs and losses.
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}

    fn on_ack(&mut self, now: Instant, sample: &RateSample, in_flight: u64) {
        self.min_rtt = Some(self.min_rtt.map_or(sample.rtt, |m| m.min(sample.rtt)));
        let probing = matches!(self.mode, Mode::ProbeBw { phase, .. } if PROBE_GAINS[phase] != 1.0);
        let period = self.period.get_or_insert(Period::new(self.round + 1));
        period.probed |= probing;
        period.samples += 1;
        period.rtt_sum += sample.rtt;
        period.acked += sample.acked_bytes;
        period.max_rate = period.max_rate.max(sample.delivery_rate);
        period.min_rtt = Some(period.min_rtt.map_or(sample.rtt, |m| m.min(sample.rtt)));

        let round_start = sample.prior_delivered >= self.next_round_delivered;
        if round_start {
            self.round += 1;
            self.next_round_delivered = sample.prior_delivered + sample.delivered;
        }
        // App-limited samples say little about the path unless they beat the estimate.
        if sample.delivery_rate > 0
            && (!sample.is_app_limited || sample.delivery_rate >= self.bw.get())
        {
            self.bw.update(self.round, sample.delivery_rate);
        }
        if round_start {
            if self.mode == Mode::Startup && !sample.is_app_limited {
                self.check_full_bandwidth();
            }
            self.end_period();
        }
        self.advance(now, in_flight);
    }

    fn on_loss(&mut self, _now: Instant, lost_bytes: u64, _in_flight: u64) {
        let period = self.period.get_or_insert(Period::new(self.round + 1));
        period.lost += lost_bytes;
    }

    fn pacing_rate(&self) -> u64 {
        let bw = self.bw.get();
        if bw == 0 {
            let rtt = self
                .min_rtt
                .unwrap_or(NOMINAL_RTT)
                .max(Duration::from_micros(1));
            let initial = per_second(self.window(), rtt);
            return (initial as f64 * STARTUP_GAIN) as u64;
        }
        (bw as f64 * self.pacing_gain()) as u64
    }

    fn window(&self) -> u64 {
        let floor = WINDOW_FLOOR_DATAGRAMS * self.max_datagram;
        let gain = match self.mode {
            Mode::Startup => STARTUP_GAIN,
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

    fn name(&self) -> &'static str {
        "model"
    }
}

#[cfg(test)]
mod tests;
