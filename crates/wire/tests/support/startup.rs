//! Start-up figures of one transfer through the simulator: how many round trips after the
//! handshake the receiver first gets 90% of what the link can carry, and how many datagrams the
//! bottleneck's queue dropped while the sender got there.

use std::time::Duration;

use jetstream_wire::rate::PathMemory;

use super::transfer::{link, run_sampled, Flow};

/// What a start-up achieved.
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    /// Round trips from the first data the sender sent (the handshake is over then) until the file bytes the receiver got over the last round trip first reach 90% of
    /// (1 − loss) × the link's rate; `None` if they never did in the time simulated.
    pub rtts_to_90: Option<f64>,
    /// Datagrams the sender put on the link from its start to three round trips after that.
    pub sent: u64,
    /// Datagrams of those that the full bottleneck queue dropped.
    pub queue_drops: u64,
    /// What the sender's rate control had measured about the path by the end.
    pub memory: Option<PathMemory>,
}

impl Startup {
    /// Queue drops as a fraction of the datagrams sent during start-up.
    pub fn loss_fraction(&self) -> f64 {
        self.queue_drops as f64 / self.sent.max(1) as f64
    }
}

/// Runs `flow` (its size large enough to outlast the start-up) through a link of
/// `bandwidth_bps`, `rtt` and random `loss` with a queue of one bandwidth-delay product, for
/// `rounds` round trips, and measures its start-up.
pub fn measure(
    bandwidth_bps: u64,
    rtt: Duration,
    loss: f64,
    seed: u64,
    flow: Flow,
    rounds: u32,
) -> Startup {
    // Ten windows a round trip: the time to 90% is known to a tenth of a round trip.
    let window = rtt / 10;
    let outcome = run_sampled(
        link(bandwidth_bps, rtt, loss, seed),
        vec![flow],
        rtt * rounds,
        window,
    );
    let delivered = &outcome.flows[0].delivered_per_window;
    let target = 0.9 * (1.0 - loss) * bandwidth_bps as f64 / 8.0 * rtt.as_secs_f64();
    let mut sum = 0u64;
    let mut reached = None;
    for (w, &bytes) in delivered.iter().enumerate() {
        sum += bytes;
        if w >= 10 {
            sum -= delivered[w - 10];
        }
        if sum as f64 >= target {
            reached = Some(w + 1);
            break;
        }
    }
    // The handshake's datagrams are small: data starts with the first window of more.
    let sent_bytes = &outcome.flows[0].sent_per_window;
    let first_data = sent_bytes.iter().position(|&b| b > 8_000).unwrap_or(0);
    let rtts_to_90 = reached.map(|w| (w - first_data) as f64 / 10.0);
    let end = reached.map_or(usize::MAX, |w| w + 30);
    let links = &outcome.link_by_window;
    let (sent, queue_drops) = links[end.min(links.len() - 1)];
    Startup {
        rtts_to_90,
        sent,
        queue_drops,
        memory: outcome.flows[0].path_memory,
    }
}
