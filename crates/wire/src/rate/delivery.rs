//! Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation): a snapshot of the
//! delivery state is taken when each packet is sent, and each ACK turns the snapshot of its
//! newest packet into one [`RateSample`].
//!
//! The rate is measured over the longer of the send interval and the ACK interval, so neither
//! ACK compression nor a burst of sends can make it exceed what the path delivered.

use std::time::{Duration, Instant};

use super::{per_second, RateSample};

/// The delivery state when a packet was sent; the sender keeps it with the packet and hands it
/// back to [`DeliverySampler::on_acked`].
#[derive(Clone, Copy, Debug)]
pub struct PacketState {
    /// Bytes delivered in total when the packet was sent.
    delivered: u64,
    /// When `delivered` last grew, as of the send.
    delivered_time: Instant,
    /// Send time of the newest packet acknowledged before this send.
    first_sent_time: Instant,
    /// When the packet was sent.
    sent_time: Instant,
    /// Whether the sender was app-limited when the packet was sent.
    is_app_limited: bool,
}

/// The newest packet acknowledged since the last sample, and what the ACK covered.
#[derive(Clone, Copy, Debug)]
struct Pending {
    newest: PacketState,
    acked_bytes: u64,
}

/// Turns send snapshots and ACKs into delivery-rate samples.
#[derive(Clone, Debug, Default)]
pub struct DeliverySampler {
    /// Bytes delivered in total.
    delivered: u64,
    /// When `delivered` last grew (or when sending started after an idle period).
    delivered_time: Option<Instant>,
    /// Send time of the newest packet acknowledged so far.
    first_sent_time: Option<Instant>,
    /// 0 when not app-limited; otherwise samples stay app-limited until `delivered` passes it.
    app_limited_until: u64,
    /// What the current ACK has acknowledged so far.
    pending: Option<Pending>,
}

impl DeliverySampler {
    /// A sampler with nothing sent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A packet is being sent at `now` with `in_flight_before` bytes already in flight; returns
    /// the snapshot to keep with it. The datagram's size does not enter the snapshot: it is
    /// counted when the packet is acknowledged.
    pub fn on_sent(&mut self, now: Instant, _bytes: u64, in_flight_before: u64) -> PacketState {
        if in_flight_before == 0 || self.first_sent_time.is_none() {
            // Nothing in flight: intervals restart here rather than spanning the idle period.
            self.first_sent_time = Some(now);
            self.delivered_time = Some(now);
        }
        PacketState {
            delivered: self.delivered,
            delivered_time: self.delivered_time.unwrap_or(now),
            first_sent_time: self.first_sent_time.unwrap_or(now),
            sent_time: now,
            is_app_limited: self.app_limited_until != 0,
        }
    }

    /// A packet of `bytes` sent with snapshot `state` was acknowledged at `now`. Call it once per
    /// newly acknowledged packet of an ACK, preferably lowest packet number first.
    pub fn on_acked(&mut self, now: Instant, state: &PacketState, bytes: u64) {
        self.delivered += bytes;
        self.delivered_time = Some(now);
        let pending = self.pending.get_or_insert(Pending {
            newest: *state,
            acked_bytes: 0,
        });
        pending.acked_bytes += bytes;
        if state.sent_time >= pending.newest.sent_time {
            pending.newest = *state;
        }
        let newest_sent = pending.newest.sent_time;
        if self.first_sent_time.is_none_or(|t| newest_sent > t) {
            self.first_sent_time = Some(newest_sent);
        }
    }

    /// After all packets of one ACK were passed to [`on_acked`](Self::on_acked): the sample, if
    /// any was made. `rtt` is the RTT of the newest acknowledged packet.
    pub fn take_sample(&mut self, now: Instant, rtt: Duration) -> Option<RateSample> {
        let Pending {
            newest,
            acked_bytes,
        } = self.pending.take()?;
        if self.app_limited_until != 0 && self.delivered > self.app_limited_until {
            self.app_limited_until = 0;
        }
        let send_elapsed = newest
            .sent_time
            .saturating_duration_since(newest.first_sent_time);
        let ack_elapsed = now.saturating_duration_since(newest.delivered_time);
        let interval = send_elapsed.max(ack_elapsed);
        let delivered = self.delivered - newest.delivered;
        let delivery_rate = per_second(delivered, interval);
        Some(RateSample {
            delivery_rate,
            rtt,
            interval,
            delivered,
            prior_delivered: newest.delivered,
            is_app_limited: newest.is_app_limited,
            acked_bytes,
            lost_bytes: 0,
        })
    }

    /// The sender has nothing to send (or is capped below the estimate): packets sent from now
    /// until the bytes in flight are delivered are marked app-limited.
    pub fn on_app_limited(&mut self, in_flight: u64) {
        // 0 means "not app-limited", so an empty pipe still marks with 1.
        self.app_limited_until = (self.delivered + in_flight).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Sends one 1,000-byte packet per millisecond; each is acknowledged alone `rtt` later.
    #[test]
    fn steady_flow_measures_the_send_rate_exactly() {
        let base = Instant::now();
        let rtt = 50 * MS;
        let mut s = DeliverySampler::new();
        let mut states = Vec::new();
        let mut samples = Vec::new();
        for ms in 0..300u32 {
            let now = base + ms * MS;
            // The ACK arriving at this instant is processed before the send.
            if ms >= 50 {
                let k = (ms - 50) as usize;
                s.on_acked(now, &states[k], 1_000);
                samples.push(s.take_sample(now, rtt).expect("a packet was acked"));
            }
            let in_flight = (states.len() - samples.len()) as u64 * 1_000;
            states.push(s.on_sent(now, 1_000, in_flight));
        }
        // The first ACK: 1,000 bytes over one RTT.
        assert_eq!(samples[0].delivery_rate, 20_000);
        assert_eq!(samples[0].interval, rtt);
        // From the second flight on: exactly one packet per millisecond.
        for sample in &samples[50..] {
            assert_eq!(sample.delivery_rate, 1_000_000);
            assert_eq!(sample.interval, rtt);
            assert_eq!(sample.delivered, 50_000);
            assert_eq!(sample.acked_bytes, 1_000);
            assert!(!sample.is_app_limited);
        }
        assert_eq!(samples[100].prior_delivered, 51_000);
    }

    /// Same flow, but the receiver acknowledges ten packets at a time.
    #[test]
    fn aggregated_acks_still_give_the_send_rate() {
        let base = Instant::now();
        let mut s = DeliverySampler::new();
        let mut states = Vec::new();
        let mut samples = Vec::new();
        for ms in 0..400u32 {
            let now = base + ms * MS;
            // Packets 10j..10j+9 are acknowledged together at 10j + 59 ms.
            if ms >= 59 && (ms - 59) % 10 == 0 {
                let first = (ms - 59) as usize;
                for state in &states[first..first + 10] {
                    s.on_acked(now, state, 1_000);
                }
                samples.push(s.take_sample(now, 50 * MS).expect("packets were acked"));
            }
            let in_flight = (states.len() as u64 - samples.len() as u64 * 10) * 1_000;
            states.push(s.on_sent(now, 1_000, in_flight));
        }
        for sample in &samples[6..] {
            assert_eq!(sample.acked_bytes, 10_000);
            assert_eq!(sample.delivered, 50_000);
            assert_eq!(sample.interval, 50 * MS);
            assert_eq!(sample.delivery_rate, 1_000_000);
        }
    }

    /// ACKs that arrive closer together than the packets were sent cannot inflate the rate.
    #[test]
    fn send_interval_bounds_compressed_acks() {
        let base = Instant::now();
        let mut s = DeliverySampler::new();
        let p0 = s.on_sent(base, 1_000, 0);
        let p1 = s.on_sent(base + 10 * MS, 1_000, 1_000);

        s.on_acked(base + 100 * MS, &p0, 1_000);
        let first = s.take_sample(base + 100 * MS, 100 * MS).expect("acked");
        assert_eq!(first.delivery_rate, 10_000);

        let p2 = s.on_sent(base + 100 * MS, 1_000, 1_000);

        s.on_acked(base + 101 * MS, &p1, 1_000);
        let second = s.take_sample(base + 101 * MS, 91 * MS).expect("acked");
        assert_eq!(second.interval, 101 * MS);
        assert_eq!(second.delivery_rate, 19_801);

        // p2's ACK comes only 50 ms after the ACK it was sent on, but it was sent 100 ms after
        // the newest acknowledged packet: the send interval decides.
        s.on_acked(base + 150 * MS, &p2, 1_000);
        let third = s.take_sample(base + 150 * MS, 50 * MS).expect("acked");
        assert_eq!(third.interval, 100 * MS);
        assert_eq!(third.delivered, 2_000);
        assert_eq!(third.delivery_rate, 20_000);
    }

    #[test]
    fn sending_after_idle_restarts_the_interval() {
        let base = Instant::now();
        let mut s = DeliverySampler::new();
        let p0 = s.on_sent(base, 1_000, 0);
        s.on_acked(base + 100 * MS, &p0, 1_000);
        let first = s.take_sample(base + 100 * MS, 100 * MS).expect("acked");
        assert_eq!(first.delivery_rate, 10_000);

        // Idle for 400 ms, then one packet with a 10 ms RTT: the idle time is not counted.
        let p1 = s.on_sent(base + 500 * MS, 1_000, 0);
        s.on_acked(base + 510 * MS, &p1, 1_000);
        let sample = s.take_sample(base + 510 * MS, 10 * MS).expect("acked");
        assert_eq!(sample.interval, 10 * MS);
        assert_eq!(sample.delivered, 1_000);
        assert_eq!(sample.prior_delivered, 1_000);
        assert_eq!(sample.delivery_rate, 100_000);
    }

    #[test]
    fn a_zero_interval_gives_no_rate() {
        let base = Instant::now();
        let mut s = DeliverySampler::new();
        let p = s.on_sent(base, 1_000, 0);
        s.on_acked(base, &p, 1_000);
        let sample = s.take_sample(base, Duration::ZERO).expect("acked");
        assert_eq!(sample.delivery_rate, 0);
        assert_eq!(sample.acked_bytes, 1_000);
    }

    #[test]
    fn no_ack_no_sample() {
        let base = Instant::now();
        let mut s = DeliverySampler::new();
        assert!(s.take_sample(base, MS).is_none());
        let p = s.on_sent(base, 1_000, 0);
        s.on_acked(base + 10 * MS, &p, 1_000);
        assert!(s.take_sample(base + 10 * MS, 10 * MS).is_some());
        assert!(s.take_sample(base + 11 * MS, 10 * MS).is_none());
    }

    #[test]
    fn app_limited_marks_packets_until_the_pipe_is_delivered() {
        let base = Instant::now();
        let mut s = DeliverySampler::new();
        let p0 = s.on_sent(base, 1_000, 0);
        let p1 = s.on_sent(base, 1_000, 1_000);
        // Nothing more to send with 2,000 bytes in flight.
        s.on_app_limited(2_000);
        let p2 = s.on_sent(base + 5 * MS, 1_000, 2_000);
        assert!(!p0.is_app_limited && !p1.is_app_limited && p2.is_app_limited);

        s.on_acked(base + 20 * MS, &p0, 1_000);
        s.on_acked(base + 20 * MS, &p1, 1_000);
        let sample = s.take_sample(base + 20 * MS, 20 * MS).expect("acked");
        assert!(!sample.is_app_limited);
        // 2,000 bytes delivered: not past the mark yet, so new packets stay app-limited.
        let p3 = s.on_sent(base + 20 * MS, 1_000, 1_000);
        assert!(p3.is_app_limited);

        s.on_acked(base + 25 * MS, &p2, 1_000);
        let sample = s.take_sample(base + 25 * MS, 20 * MS).expect("acked");
        assert!(sample.is_app_limited);
        // 3,000 bytes delivered passes the mark of 2,000.
        let p4 = s.on_sent(base + 25 * MS, 1_000, 1_000);
        assert!(!p4.is_app_limited);
    }

    #[test]
    fn the_newest_packet_of_an_ack_decides() {
        let base = Instant::now();
        let mut s = DeliverySampler::new();
        let early = s.on_sent(base, 1_000, 0);
        let late = s.on_sent(base + 30 * MS, 1_000, 1_000);
        // Acknowledged newest first: the later-sent packet still gives the interval.
        s.on_acked(base + 100 * MS, &late, 1_000);
        s.on_acked(base + 100 * MS, &early, 1_000);
        let sample = s.take_sample(base + 100 * MS, 70 * MS).expect("acked");
        assert_eq!(sample.acked_bytes, 2_000);
        assert_eq!(sample.interval, 100 * MS);
        assert_eq!(sample.delivered, 2_000);
        assert_eq!(sample.rtt, 70 * MS);
    }
}
