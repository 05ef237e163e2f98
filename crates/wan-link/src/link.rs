//! One direction of the emulated link, sans-IO: packets go in with the time they arrived and
//! come out when they are due. A packet waits in a finite tail-drop queue for the bottleneck,
//! is serialised at the set rate (its time on the wire follows its size), may then be lost at
//! random (seeded), and arrives one one-way delay after its serialisation ended. Times are
//! nanoseconds on any monotonic clock the caller chooses.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;

/// Nanoseconds in a second.
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// What one direction of the link does to the packets it carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The bottleneck's rate in bits per second of IP packet (no link-layer framing).
    pub rate_bps: u64,
    /// The one-way delay added after serialisation, in nanoseconds.
    pub delay_ns: u64,
    /// The probability that a packet is lost on the wire after the bottleneck (0 to 1): a lost
    /// packet has used its share of the bottleneck's rate, as on a real lossy path.
    pub loss: f64,
    /// The bytes the bottleneck holds, counting the packet being serialised; a packet that
    /// would overflow it is dropped on arrival (tail drop).
    pub queue_bytes: u64,
    /// Seed of the random loss, so a run can be repeated packet for packet.
    pub seed: u64,
}

/// What one direction of the link did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets handed on at the far end.
    pub delivered_packets: u64,
    /// Their bytes (whole IP packets).
    pub delivered_bytes: u64,
    /// Packets lost at random after the bottleneck.
    pub random_drops: u64,
    /// Their bytes.
    pub random_drop_bytes: u64,
    /// Packets dropped on arrival because the queue was full.
    pub queue_drops: u64,
    /// Their bytes.
    pub queue_drop_bytes: u64,
}

/// One direction of the link, carrying packets of type `P`.
#[derive(Debug)]
pub struct Link<P> {
    config: Config,
    rng: StdRng,
    /// When the bottleneck finishes serialising every packet accepted so far.
    busy_until: u64,
    /// (time its serialisation ends, bytes) of each accepted packet still in the bottleneck.
    serialising: VecDeque<(u64, u64)>,
    /// The bytes in `serialising`: the queue's occupancy.
    queued_bytes: u64,
    /// Packets past the bottleneck and not lost, with the time each is due at the far end, in
    /// order (serialisation ends in order and the delay is the same for all).
    in_flight: VecDeque<(u64, P)>,
    counters: Counters,
}

impl<P: AsRef<[u8]>> Link<P> {
    /// An idle link.
    pub fn new(config: Config) -> Link<P> {
        Link {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            busy_until: 0,
            serialising: VecDeque::new(),
            queued_bytes: 0,
            in_flight: VecDeque::new(),
            counters: Counters::default(),
        }
    }

    /// A packet arrives at the bottleneck at `now`: it is dropped if the queue is full, else
    /// queued behind the packets already there and either lost at random or put on its way.
    pub fn send(&mut self, now: u64, packet: P) {
        while let Some(&(ends, bytes)) = self.serialising.front() {
            if ends > now {
                break;
            }
            self.serialising.pop_front();
            self.queued_bytes -= bytes;
        }
        let bytes = packet.as_ref().len() as u64;
        if self.queued_bytes + bytes > self.config.queue_bytes {
            self.counters.queue_drops += 1;
            self.counters.queue_drop_bytes += bytes;
            return;
        }
        let ends = self.busy_until.max(now) + self.serialisation_ns(bytes);
        self.busy_until = ends;
        self.serialising.push_back((ends, bytes));
        self.queued_bytes += bytes;
        if self.config.loss > 0.0 && self.rng.random::<f64>() < self.config.loss {
            self.counters.random_drops += 1;
            self.counters.random_drop_bytes += bytes;
            return;
        }
        self.in_flight
            .push_back((ends + self.config.delay_ns, packet));
    }

    /// When the next packet is due at the far end, if any is on its way.
    pub fn next_due(&self) -> Option<u64> {
        self.in_flight.front().map(|&(due, _)| due)
    }

    /// The next packet due by `now`, counted as delivered.
    pub fn deliver(&mut self, now: u64) -> Option<P> {
        if self.next_due()? > now {
            return None;
        }
        let (_, packet) = self.in_flight.pop_front()?;
        self.counters.delivered_packets += 1;
        self.counters.delivered_bytes += packet.as_ref().len() as u64;
        Some(packet)
    }

    /// What the link did so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Nanoseconds the bottleneck takes to serialise `bytes`.
    fn serialisation_ns(&self, bytes: u64) -> u64 {
        (u128::from(bytes) * 8 * u128::from(NANOS_PER_SECOND) / u128::from(self.config.rate_bps))
            as u64
    }
}

/// The default queue: one bandwidth-delay product at `rate_bps` and `rtt_ns`, and never less
/// than 64 packets of 1,500 bytes, so a short path still absorbs a burst.
pub fn default_queue_bytes(rate_bps: u64, rtt_ns: u64) -> u64 {
    let bdp = u128::from(rate_bps) * u128::from(rtt_ns) / 8 / u128::from(NANOS_PER_SECOND);
    (bdp as u64).max(64 * 1_500)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn config(rate_bps: u64, delay_ns: u64, loss: f64, queue_bytes: u64) -> Config {
        Config {
            rate_bps,
            delay_ns,
            loss,
            queue_bytes,
            seed: 7,
        }
    }

    /// Every packet delivered by `until`, with the time it came out (polled at each due time).
    fn drain(link: &mut Link<Vec<u8>>, until: u64) -> Vec<(u64, usize)> {
        let mut out = Vec::new();
        while let Some(due) = link.next_due().filter(|&due| due <= until) {
            let packet = link.deliver(due).unwrap();
            out.push((due, packet.len()));
        }
        out
    }

    #[test]
    fn packets_leave_at_the_set_rate_after_the_delay() {
        // 100 Mbit/s: a 1,250-byte packet takes 100 µs on the wire.
        let mut link = Link::new(config(100_000_000, 20 * MS, 0.0, 1 << 30));
        for _ in 0..1_000 {
            link.send(0, vec![0u8; 1_250]);
        }
        assert_eq!(
            link.deliver(20 * MS + 99_999),
            None,
            "not due before it is serialised"
        );
        let out = drain(&mut link, u64::MAX);
        assert_eq!(out.len(), 1_000);
        for (i, &(due, len)) in out.iter().enumerate() {
            assert_eq!(len, 1_250);
            assert_eq!(due, 20 * MS + (i as u64 + 1) * 100_000);
        }
        // 1,000 packets of 10,000 bits in 100 ms: exactly 100 Mbit/s.
        let counters = link.counters();
        assert_eq!(counters.delivered_bytes, 1_250_000);
        assert_eq!(counters.delivered_packets, 1_000);
        assert_eq!(counters.random_drops + counters.queue_drops, 0);
    }

    #[test]
    fn an_idle_link_serialises_from_the_arrival_not_from_its_last_packet() {
        let mut link = Link::new(config(8_000_000, 5 * MS, 0.0, 1 << 20));
        link.send(0, vec![0u8; 1_000]); // 1 ms on the wire
        link.send(50 * MS, vec![0u8; 500]);
        assert_eq!(
            drain(&mut link, u64::MAX),
            [(6 * MS, 1_000), (55 * MS + MS / 2, 500)]
        );
    }

    #[test]
    fn a_full_queue_drops_arrivals_and_takes_them_again_once_it_drains() {
        // Ten 1,500-byte packets fit; 25 arrive at once.
        let mut link = Link::new(config(12_000_000, 0, 0.0, 15_000));
        for _ in 0..25 {
            link.send(0, vec![0u8; 1_500]);
        }
        let counters = link.counters();
        assert_eq!(counters.queue_drops, 15);
        assert_eq!(counters.queue_drop_bytes, 15 * 1_500);
        // One packet takes 1 ms: after 3 ms three have left, so three more fit and the fourth
        // does not.
        for _ in 0..4 {
            link.send(3 * MS, vec![0u8; 1_500]);
        }
        assert_eq!(link.counters().queue_drops, 16);
        let out = drain(&mut link, u64::MAX);
        assert_eq!(out.len(), 13);
        assert_eq!(out.last().unwrap().0, 13 * MS, "the queue never ran dry");
        assert_eq!(link.counters().delivered_bytes, 13 * 1_500);
    }

    #[test]
    fn random_loss_takes_the_set_share_and_repeats_with_its_seed() {
        let run = |seed: u64| {
            let mut link = Link::new(Config {
                seed,
                ..config(1_000_000_000, MS, 0.05, u64::MAX)
            });
            for i in 0..100_000u64 {
                link.send(i * 12_000, vec![0u8; 1_500]);
            }
            drain(&mut link, u64::MAX);
            link.counters()
        };
        let counters = run(7);
        assert_eq!(counters.queue_drops, 0);
        assert_eq!(counters.delivered_packets + counters.random_drops, 100_000);
        assert_eq!(counters.random_drop_bytes, counters.random_drops * 1_500);
        // 5,000 expected with a standard deviation of 69: 5σ either side.
        assert!(
            (4_655..=5_345).contains(&counters.random_drops),
            "{} random drops of 100,000 at 5%",
            counters.random_drops
        );
        assert_eq!(run(7), counters);
        assert_ne!(run(8), counters);
    }

    #[test]
    fn a_lost_packet_still_uses_the_bottleneck() {
        // Every packet lost: the next one still waits for the lost one's serialisation.
        let mut link = Link::new(config(8_000_000, 0, 1.0, 1 << 20));
        link.send(0, vec![0u8; 1_000]);
        assert_eq!(link.next_due(), None);
        let mut link = Link::<Vec<u8>>::new(Config {
            loss: 0.5,
            ..config(8_000_000, 0, 0.0, 1 << 20)
        });
        for _ in 0..64 {
            link.send(0, vec![0u8; 1_000]);
        }
        let out = drain(&mut link, u64::MAX);
        let lost = link.counters().random_drops;
        assert!(lost > 0 && !out.is_empty());
        // Packet i (counting the lost ones) leaves at (i + 1) ms, so the last delivered one
        // is due at a whole millisecond no earlier than the count of packets delivered.
        assert!(out.iter().all(|&(due, _)| due % MS == 0));
        assert!(out.last().unwrap().0 >= out.len() as u64 * MS);
        assert_eq!(out.len() as u64 + lost, 64);
    }

    #[test]
    fn the_default_queue_is_one_bandwidth_delay_product() {
        assert_eq!(default_queue_bytes(500_000_000, 100 * MS), 6_250_000);
        assert_eq!(default_queue_bytes(500_000_000, 0), 96_000);
    }
}
