//! The sender's record of packets in flight: RTT estimation, acknowledgement processing and
//! loss detection (a packet is lost once three later packets were acknowledged, or once it is
//! older than 9/8 of the RTT behind an acknowledged one, as in RFC 9002).

use crate::rate::delivery::PacketState;
use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Packets acknowledged after this many later ones are lost.
const PACKET_THRESHOLD: u64 = 3;
/// Shortest time threshold for loss.
const MIN_LOSS_DELAY: Duration = Duration::from_millis(1);
/// Shortest probe timeout.
const MIN_PTO: Duration = Duration::from_millis(10);

/// Smoothed round-trip time, as RFC 9002 keeps it.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    latest: Duration,
    latest_adjusted: Duration,
    smoothed: Option<Duration>,
    var: Duration,
    min: Option<Duration>,
}

impl RttEstimator {
    fn new() -> Self {
        RttEstimator {
            latest: Duration::ZERO,
            latest_adjusted: Duration::ZERO,
            smoothed: None,
            var: Duration::ZERO,
            min: None,
        }
    }

    fn update(&mut self, sample: Duration, ack_delay: Duration) {
        self.latest = sample;
        let min = self.min.map_or(sample, |m| m.min(sample));
        self.min = Some(min);
        // The peer's ACK delay is subtracted only while it leaves at least the minimum.
        let adjusted = if sample >= min + ack_delay {
            sample - ack_delay
        } else {
            sample
        };
        self.latest_adjusted = adjusted;
        match self.smoothed {
            None => {
                self.smoothed = Some(adjusted);
                self.var = adjusted / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(adjusted);
                self.var = (self.var * 3 + diff) / 4;
                self.smoothed = Some((srtt * 7 + adjusted) / 8);
            }
        }
    }

    /// Smoothed RTT (the handshake's initial guess until a sample arrives).
    pub fn smoothed(&self) -> Duration {
        self.smoothed.unwrap_or(Duration::from_millis(100))
    }

    /// Smallest RTT seen.
    pub fn min(&self) -> Option<Duration> {
        self.min
    }

    /// Newest sample less the time the receiver held its acknowledgement back, as long as
    /// that leaves at least the minimum: the path's delay, for the rate controller.
    pub fn latest_adjusted(&self) -> Duration {
        self.latest_adjusted
    }

    fn loss_delay(&self) -> Duration {
        (self.smoothed().max(self.latest) * 9 / 8).max(MIN_LOSS_DELAY)
    }

    /// How long to wait for an ACK before probing.
    pub fn pto(&self, max_ack_delay: Duration) -> Duration {
        (self.smoothed() + (self.var * 4).max(Duration::from_millis(1)) + max_ack_delay)
            .max(MIN_PTO)
    }
}

/// What a packet carried, so that its loss can be repaired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// File bytes, by position in the transfer's byte space.
    Data {
        /// Position of the first byte in the transfer (file base + offset).
        start: u64,
        /// Byte count.
        len: u32,
    },
    /// Reliable control frames.
    Control(Box<[ControlItem]>),
    /// A padded PING probing whether the path carries datagrams of this size.
    MtuProbe(usize),
    /// Nothing that needs repair (PING, CLOSE).
    Probe,
}

/// A control frame that must arrive. The order is the one the receiver can take them in: the
/// TRANSFER frame before any FILE frame, and a file's FILE frame before its DIGEST (a frame
/// that comes before the one it depends on makes the receiver drop its whole datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ControlItem {
    /// The TRANSFER frame.
    Transfer,
    /// The FILE frame of an entry.
    Meta(u32),
    /// The DIGEST frame of a file.
    Digest(u32),
}

#[derive(Debug)]
struct SentPacket {
    time: Instant,
    size: u32,
    state: PacketState,
    content: Content,
}

/// What one ACK frame resolved.
#[derive(Debug, Default)]
pub struct AckOutcome {
    /// Contents of newly acknowledged packets, with their rate-sampler state and size.
    pub acked: Vec<(Content, PacketState, u32)>,
    /// Contents of packets now declared lost, with their size.
    pub lost: Vec<(Content, u32)>,
    /// Whether the largest acknowledged packet is new (gave an RTT sample).
    pub rtt_sampled: bool,
}

/// Packets sent and not yet acknowledged or lost.
#[derive(Debug)]
pub struct Recovery {
    /// Packet number of `sent[0]`.
    base: u64,
    sent: VecDeque<Option<SentPacket>>,
    in_flight: u64,
    largest_acked: Option<u64>,
    rtt: RttEstimator,
    last_ack_time: Option<Instant>,
    pto_count: u32,
}

impl Recovery {
    /// An empty record; the first packet will have number `first_pn`.
    pub fn new(first_pn: u64) -> Self {
        Recovery {
            base: first_pn,
            sent: VecDeque::new(),
            in_flight: 0,
            largest_acked: None,
            rtt: RttEstimator::new(),
            last_ack_time: None,
            pto_count: 0,
        }
    }

    /// Bytes sent and not yet acknowledged or lost.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// The RTT estimate.
    pub fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Records a packet just sent. Packet numbers must be consecutive.
    pub fn on_sent(
        &mut self,
        pn: u64,
        now: Instant,
        size: u32,
        state: PacketState,
        content: Content,
    ) {
        debug_assert_eq!(pn, self.base + self.sent.len() as u64);
        if self.sent.is_empty() {
            self.base = pn;
        }
        self.in_flight += u64::from(size);
        self.sent.push_back(Some(SentPacket {
            time: now,
            size,
            state,
            content,
        }));
    }

    /// Processes the ranges of an ACK frame (highest first).
    pub fn on_ack(
        &mut self,
        now: Instant,
        ranges: &[Range<u64>],
        ack_delay: Duration,
    ) -> AckOutcome {
        let mut out = AckOutcome::default();
        let end = self.base + self.sent.len() as u64;
        let Some(top) = ranges.first() else {
            return out;
        };
        if top.end > end {
            // Acknowledges a packet never sent: ignore the whole frame.
            return out;
        }
        let largest = top.end - 1;
        for range in ranges {
            let lo = range.start.max(self.base);
            for pn in lo..range.end.min(end) {
                let slot = &mut self.sent[(pn - self.base) as usize];
                if let Some(p) = slot.take() {
                    self.in_flight -= u64::from(p.size);
                    if pn == largest && self.largest_acked.is_none_or(|l| largest > l) {
                        self.rtt
                            .update(now.saturating_duration_since(p.time), ack_delay);
                        out.rtt_sampled = true;
                    }
                    out.acked.push((p.content, p.state, p.size));
                }
            }
        }
        if !out.acked.is_empty() {
            self.last_ack_time = Some(now);
            self.pto_count = 0;
        }
        self.largest_acked = Some(self.largest_acked.map_or(largest, |l| l.max(largest)));
        self.detect_lost(now, &mut out.lost);
        self.trim();
        out
    }

    fn detect_lost(&mut self, now: Instant, lost: &mut Vec<(Content, u32)>) {
        let Some(largest) = self.largest_acked else {
            return;
        };
        let loss_delay = self.rtt.loss_delay();
        for (i, slot) in self.sent.iter_mut().enumerate() {
            let pn = self.base + i as u64;
            if pn >= largest {
                break;
            }
            let Some(p) = slot else { continue };
            let too_old = now.saturating_duration_since(p.time) >= loss_delay;
            if largest - pn >= PACKET_THRESHOLD || too_old {
                let p = slot.take().expect("checked Some above");
                self.in_flight -= u64::from(p.size);
                lost.push((p.content, p.size));
            } else {
                // Later packets were sent later and are closer to the largest: not lost either.
                break;
            }
        }
    }

    fn trim(&mut self) {
        while let Some(None) = self.sent.front() {
            self.sent.pop_front();
            self.base += 1;
        }
    }

    /// When the oldest outstanding packet behind the largest acknowledged one becomes lost by
    /// the time threshold.
    pub fn loss_time(&self) -> Option<Instant> {
        let largest = self.largest_acked?;
        let (i, p) = self
            .sent
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.as_ref().map(|p| (i, p)))?;
        (self.base + (i as u64) < largest).then(|| p.time + self.rtt.loss_delay())
    }

    /// Declares lost, by the time threshold, what is due at `now`.
    pub fn on_loss_timeout(&mut self, now: Instant) -> Vec<(Content, u32)> {
        let mut lost = Vec::new();
        self.detect_lost(now, &mut lost);
        self.trim();
        lost
    }

    /// When to send a probe if no ACK arrives: only while packets are in flight.
    pub fn pto_deadline(&self, max_ack_delay: Duration) -> Option<Instant> {
        if self.in_flight == 0 {
            return None;
        }
        let newest = self.sent.iter().rev().find_map(|s| s.as_ref())?.time;
        let since = self.last_ack_time.map_or(newest, |t| t.max(newest));
        Some(since + self.rtt.pto(max_ack_delay) * 2u32.pow(self.pto_count.min(6)))
    }

    /// A probe timeout fired: back off the next one.
    pub fn on_pto(&mut self) {
        self.pto_count += 1;
    }
}
