//! A simulated network link, one direction, in virtual time and seeded.
//!
//! A datagram that enters the link first meets random loss (independent, or Gilbert-Elliott
//! bursts), then the bottleneck queue (tail drop when full), is serialised at the bottleneck
//! rate, and arrives after the propagation delay plus jitter. Jitter never reorders datagrams;
//! only the `reorder` knob does, by holding single datagrams back.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How a [`Link`] behaves.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Bottleneck rate in bits per second; 0 means no bottleneck (no serialisation, no queue).
    pub bandwidth_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra random delay, uniform in [0, jitter]; it never reorders datagrams.
    pub jitter: Duration,
    /// Probability that a datagram is lost at random, independently of the others.
    pub loss: f64,
    /// Gilbert-Elliott bursts: (p good→bad, p bad→good), drawn per datagram; the bad state drops.
    pub burst_loss: Option<(f64, f64)>,
    /// Probability that a datagram is held back by `reorder_delay` and overtaken.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_delay: Duration,
    /// Bottleneck queue in bytes, including the datagram being serialised; a datagram that would
    /// overfill it is dropped (tail drop), except that an idle bottleneck takes any datagram.
    pub queue_bytes: usize,
    /// Seed of the link's randomness.
    pub seed: u64,
}

impl Default for LinkConfig {
    /// 100 Mbit/s, 10 ms one way, a 1 MB queue, nothing lost or reordered.
    fn default() -> Self {
        Self {
            bandwidth_bps: 100_000_000,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            burst_loss: None,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            queue_bytes: 1_000_000,
            seed: 1,
        }
    }
}

/// Datagram and byte counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Datagrams.
    pub datagrams: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, bytes: usize) {
        self.datagrams += 1;
        self.bytes += bytes as u64;
    }
}

/// What happened to the datagrams given to a [`Link`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Given to [`Link::send`].
    pub sent: Count,
    /// Handed out by [`Link::poll_deliver`].
    pub delivered: Count,
    /// Lost at random (independent or burst loss).
    pub dropped_random: Count,
    /// Dropped because the bottleneck queue was full.
    pub dropped_queue: Count,
}

/// A datagram on its way, ordered by arrival time, then by entry order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    arrival: Instant,
    seq: u64,
    datagram: Vec<u8>,
}

/// One direction of a simulated link.
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    rng: StdRng,
    /// Gilbert-Elliott state: true while bursts drop everything.
    bad: bool,
    /// When the bottleneck finishes serialising what it holds.
    busy_until: Option<Instant>,
    /// Sub-nanosecond remainder of serialisation times, in bit-nanoseconds, so the bottleneck
    /// runs at exactly its rate over any span.
    carry: u128,
    /// Latest arrival of a datagram that was not held back: jitter never goes below it.
    last_arrival: Option<Instant>,
    next_seq: u64,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    stats: LinkStats,
}

impl Link {
    /// A link that behaves as `cfg` says.
    pub fn new(cfg: LinkConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            bad: false,
            busy_until: None,
            carry: 0,
            last_arrival: None,
            next_seq: 0,
            in_flight: BinaryHeap::new(),
            stats: LinkStats::default(),
        }
    }

    /// A datagram enters the link at `now` (it queues behind earlier ones at the bottleneck rate).
    pub fn send(&mut self, now: Instant, datagram: Vec<u8>) {
        let len = datagram.len();
        self.stats.sent.add(len);
        if self.random_drop() {
            self.stats.dropped_random.add(len);
            return;
        }
        let Some(departure) = self.serialise(now, len) else {
            self.stats.dropped_queue.add(len);
            return;
        };
        let jitter = self.uniform(self.cfg.jitter);
        let mut arrival = departure + self.cfg.delay + jitter;
        if self.cfg.reorder > 0.0 && self.rng.random_bool(self.cfg.reorder.min(1.0)) {
            arrival += self.cfg.reorder_delay;
        } else {
            arrival = self.last_arrival.map_or(arrival, |last| arrival.max(last));
            self.last_arrival = Some(arrival);
        }
        self.in_flight.push(Reverse(InFlight {
            arrival,
            seq: self.next_seq,
            datagram,
        }));
        self.next_seq += 1;
    }

    /// The next datagram whose arrival time is ≤ now, in arrival order.
    pub fn poll_deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_arrival()? > now {
            return None;
        }
        let Reverse(next) = self.in_flight.pop()?;
        self.stats.delivered.add(next.datagram.len());
        Some(next.datagram)
    }

    /// When the next datagram arrives, if any.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse(next)| next.arrival)
    }

    /// Counts of what was sent, delivered and dropped so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Draws the random losses for one datagram: whether it is dropped.
    fn random_drop(&mut self) -> bool {
        if let Some((good_to_bad, bad_to_good)) = self.cfg.burst_loss {
            let flip = if self.bad { bad_to_good } else { good_to_bad };
            if self.rng.random_bool(flip.clamp(0.0, 1.0)) {
                self.bad = !self.bad;
            }
            if self.bad {
                return true;
            }
        }
        self.cfg.loss > 0.0 && self.rng.random_bool(self.cfg.loss.min(1.0))
    }

    /// Queues `len` bytes at the bottleneck at `now`: when they finish serialising, or `None`
    /// when the queue is full.
    fn serialise(&mut self, now: Instant, len: usize) -> Option<Instant> {
        if self.cfg.bandwidth_bps == 0 {
            return Some(now);
        }
        let bps = u128::from(self.cfg.bandwidth_bps);
        let start = match self.busy_until {
            Some(busy) if busy > now => {
                let backlog = (busy - now).as_nanos() * bps / 8_000_000_000;
                if backlog + len as u128 > self.cfg.queue_bytes as u128 {
                    return None;
                }
                busy
            }
            _ => {
                // An idle bottleneck starts afresh: no remainder carries over the idle time.
                self.carry = 0;
                now
            }
        };
        let bit_nanos = len as u128 * 8 * 1_000_000_000 + self.carry;
        self.carry = bit_nanos % bps;
        let nanos = u64::try_from(bit_nanos / bps).unwrap_or(u64::MAX);
        let done = start + Duration::from_nanos(nanos);
        self.busy_until = Some(done);
        Some(done)
    }

    /// A duration uniform in [0, max].
    fn uniform(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.rng.random_range(0..=max.as_nanos() as u64))
    }
}
