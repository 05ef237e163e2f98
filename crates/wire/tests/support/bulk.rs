//! Bulk flows over a simulated [`Link`]: senders that always have data, paced and windowed by
//! a rate controller, and receivers that acknowledge every datagram over a return link.
//!
//! Loss detection is deliberately simple (a packet-number threshold, and a timeout for tails),
//! so that what the tests see is the rate controller's behaviour, not a session's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jetstream_wire::rate::{DeliverySampler, Pacer, PacketState, RateController, RateLimits};

use super::link::{Link, LinkConfig};

/// Size of a data datagram.
pub const MTU: usize = 1_400;
/// Size of an acknowledgement datagram.
const ACK_LEN: usize = 50;
/// A packet is lost once a packet sent this many later was acknowledged.
const REORDER_THRESHOLD: u64 = 3;
/// Flow ids live above this many bits of a tag; packet numbers below.
const PN_BITS: u32 = 48;

/// A datagram of `len` bytes (at least 8) starting with `tag`.
pub fn tagged(tag: u64, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len.max(8)];
    d[..8].copy_from_slice(&tag.to_le_bytes());
    d
}

/// The tag a datagram made by [`tagged`] starts with.
pub fn tag_of(d: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&d[..8]);
    u64::from_le_bytes(bytes)
}

/// A packet in flight.
struct Sent {
    time: Instant,
    state: PacketState,
}

/// One bulk sender and its receiver's tally.
pub struct Flow {
    id: u64,
    start: Instant,
    sampler: DeliverySampler,
    controller: Box<dyn RateController>,
    pacer: Pacer,
    limits: RateLimits,
    next_pn: u64,
    sent: BTreeMap<u64, Sent>,
    in_flight: u64,
    max_rtt: Duration,
    /// From when goodput and RTT are measured.
    measure_from: Instant,
    /// Sum and count of the RTT samples inside the measurement window.
    rtt_sum: Duration,
    rtt_count: u32,
    /// Bytes the receiver got inside the measurement window.
    measured: u64,
}

impl Flow {
    /// A flow that starts sending at `start` under `controller`, clamped by `limits`.
    pub fn new(start: Instant, controller: Box<dyn RateController>, limits: RateLimits) -> Self {
        Self {
            id: 0,
            start,
            sampler: DeliverySampler::new(),
            controller,
            pacer: Pacer::new(MTU),
            limits,
            next_pn: 0,
            sent: BTreeMap::new(),
            in_flight: 0,
            max_rtt: Duration::ZERO,
            measure_from: start,
            rtt_sum: Duration::ZERO,
            rtt_count: 0,
            measured: 0,
        }
    }

    /// Sends what the window and the pacer allow; returns when to try again, if not on an ACK.
    fn send(&mut self, now: Instant, link: &mut Link) -> Option<Instant> {
        if now < self.start {
            return Some(self.start);
        }
        loop {
            if self.in_flight + MTU as u64 > self.controller.window() {
                return None;
            }
            let wanted = self.controller.pacing_rate();
            let rate = self.limits.clamp(wanted);
            if rate < wanted {
                self.sampler.on_app_limited(self.in_flight);
            }
            if let Some(at) = self.pacer.delay(now, rate, MTU) {
                return Some(at);
            }
            let state = self.sampler.on_sent(now, MTU as u64, self.in_flight);
            self.in_flight += MTU as u64;
            self.controller.on_sent(now, MTU as u64, self.in_flight);
            self.pacer.on_sent(MTU);
            let pn = self.next_pn;
            self.next_pn += 1;
            self.sent.insert(pn, Sent { time: now, state });
            link.send(now, tagged(self.id << PN_BITS | pn, MTU));
        }
    }

    fn on_ack(&mut self, now: Instant, pn: u64) {
        let Some(sent) = self.sent.remove(&pn) else {
            return; // already declared lost
        };
        self.in_flight -= MTU as u64;
        self.sampler.on_acked(now, &sent.state, MTU as u64);
        let rtt = now - sent.time;
        self.max_rtt = self.max_rtt.max(rtt);
        if now >= self.measure_from {
            self.rtt_sum += rtt;
            self.rtt_count += 1;
        }
        let mut lost = 0;
        while let Some(entry) = self.sent.first_entry() {
            if *entry.key() + REORDER_THRESHOLD > pn {
                break;
            }
            entry.remove();
            lost += MTU as u64;
        }
        self.in_flight -= lost;
        if lost > 0 {
            self.controller.on_loss(now, lost, self.in_flight);
        }
        if let Some(mut sample) = self.sampler.take_sample(now, rtt) {
            sample.lost_bytes = lost;
            self.controller.on_ack(now, &sample, self.in_flight);
        }
    }

    /// Declares lost what has been out far longer than any RTT seen (the tail of a burst
    /// loss); returns when the oldest packet in flight would time out.
    fn expire(&mut self, now: Instant) -> Option<Instant> {
        let timeout = if self.max_rtt.is_zero() {
            Duration::from_secs(2)
        } else {
            2 * self.max_rtt + Duration::from_millis(50)
        };
        let mut lost = 0;
        while let Some(entry) = self.sent.first_entry() {
            if now < entry.get().time + timeout {
                break;
            }
            entry.remove();
            lost += MTU as u64;
        }
        if lost > 0 {
            self.in_flight -= lost;
            self.controller.on_loss(now, lost, self.in_flight);
        }
        self.sent.first_key_value().map(|(_, s)| s.time + timeout)
    }
}

/// Bulk flows sharing one bottleneck; acknowledgements return over a link with the same delay
/// and jitter but no bottleneck and no loss.
pub struct Run {
    /// The data direction.
    pub link: LinkConfig,
    /// The flows; each starts at its own time.
    pub flows: Vec<Flow>,
    /// How long the run lasts, from the earliest start.
    pub duration: Duration,
    /// Goodput and RTT are measured from this long after the earliest start to the end.
    pub measure_from: Duration,
}

/// What a run measured, per flow, over the measurement window.
pub struct Outcome {
    /// Bytes received.
    pub measured: Vec<u64>,
    /// Goodput in bytes per second.
    pub goodput: Vec<u64>,
    /// Mean RTT.
    pub mean_rtt: Vec<Duration>,
}

impl Run {
    /// Runs the flows to the end in virtual time.
    pub fn execute(mut self) -> Outcome {
        let base = self
            .flows
            .iter()
            .map(|f| f.start)
            .min()
            .expect("at least one flow");
        let end = base + self.duration;
        let measure_from = base + self.measure_from;
        let mut data = Link::new(self.link.clone());
        let mut acks = Link::new(LinkConfig {
            bandwidth_bps: 0,
            loss: 0.0,
            burst_loss: None,
            reorder: 0.0,
            seed: self.link.seed ^ 0x5eed,
            ..self.link.clone()
        });
        for (id, flow) in self.flows.iter_mut().enumerate() {
            flow.id = id as u64;
            flow.measure_from = measure_from;
        }
        let mut now = base;
        while now < end {
            while let Some(d) = data.poll_deliver(now) {
                let tag = tag_of(&d);
                if now >= measure_from {
                    self.flows[(tag >> PN_BITS) as usize].measured += d.len() as u64;
                }
                acks.send(now, tagged(tag, ACK_LEN));
            }
            while let Some(a) = acks.poll_deliver(now) {
                let tag = tag_of(&a);
                self.flows[(tag >> PN_BITS) as usize].on_ack(now, tag & ((1 << PN_BITS) - 1));
            }
            let mut next = None;
            for flow in &mut self.flows {
                for wake in [flow.expire(now), flow.send(now, &mut data)]
                    .into_iter()
                    .flatten()
                {
                    next = Some(next.map_or(wake, |n: Instant| n.min(wake)));
                }
            }
            // After the sends: what they put on the link arrives too.
            for arrival in [data.next_arrival(), acks.next_arrival()]
                .into_iter()
                .flatten()
            {
                next = Some(next.map_or(arrival, |n: Instant| n.min(arrival)));
            }
            match next {
                Some(t) => now = t.max(now),
                None => break,
            }
        }
        let window = (self.duration - self.measure_from).as_secs_f64();
        Outcome {
            measured: self.flows.iter().map(|f| f.measured).collect(),
            goodput: self
                .flows
                .iter()
                .map(|f| (f.measured as f64 / window) as u64)
                .collect(),
            mean_rtt: self
                .flows
                .iter()
                .map(|f| f.rtt_sum / f.rtt_count.max(1))
                .collect(),
        }
    }
}
