//! Path MTU search (packetization-layer path MTU discovery, RFC 8899): the sizes to try above
//! the starting one, the padded probe datagram, and what its acknowledgement or loss changes.

use super::SenderSession;
use crate::codec::{Frame, PROTECTED_HEADER_LEN};
use crate::rate::pacer::Pacer;
use crate::session::recovery::Content;
use std::time::Instant;

/// Path MTU probing: the sizes still to try, largest first, and the tries of the current one.
#[derive(Debug)]
pub(super) struct MtuSearch {
    candidates: Vec<usize>,
    tries: u32,
    in_flight: bool,
}

impl MtuSearch {
    /// A probe size is given up after this many losses.
    const TRIES: u32 = 2;
    /// The jumbo-frame payload, tried when the largest size fails.
    const JUMBO: usize = 8972;

    pub(super) fn new(base: usize, limit: usize) -> Self {
        let mut candidates = vec![Self::JUMBO, limit];
        candidates.retain(|&c| c > base && c <= limit);
        candidates.dedup();
        MtuSearch {
            candidates,
            tries: 0,
            in_flight: false,
        }
    }

    fn next_size(&self) -> Option<usize> {
        (!self.in_flight)
            .then(|| self.candidates.last().copied())
            .flatten()
    }

    pub(super) fn on_lost(&mut self) {
        self.in_flight = false;
        self.tries += 1;
        if self.tries >= Self::TRIES {
            self.candidates.pop();
            self.tries = 0;
        }
    }
}

impl SenderSession {
    /// The path refused a datagram as too large: go back to the starting size.
    pub fn on_datagram_too_large(&mut self) {
        if self.datagram > self.config.max_datagram {
            self.datagram = self.config.max_datagram;
            self.pacer = Pacer::new(self.datagram);
            self.controller.set_max_datagram(self.datagram);
        }
        self.mtu.candidates.clear();
    }

    /// The receiver acknowledged a probe of `size` bytes: the path carries datagrams that large.
    pub(super) fn on_mtu_probe_acked(&mut self, size: usize) {
        self.mtu.in_flight = false;
        self.mtu.candidates.retain(|&c| c > size);
        if size > self.datagram {
            self.datagram = size;
            self.pacer = Pacer::new(size);
            self.controller.set_max_datagram(size);
        }
    }

    /// A PING padded to the next size to try, when one is due and `buf` can hold it.
    pub(super) fn mtu_probe(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let size = self.mtu.next_size()?;
        let protection = self.protection.as_ref()?;
        if buf.len() < size || self.suspended {
            return None;
        }
        let end = PROTECTED_HEADER_LEN + protection.payload_capacity(size);
        let mut pos = PROTECTED_HEADER_LEN;
        Frame::Ping { id: 0 }.encode(&mut buf[..end], &mut pos)?;
        Frame::Padding(end - pos).encode(&mut buf[..end], &mut pos)?;
        self.mtu.in_flight = true;
        Some(self.seal(
            now,
            buf,
            pos - PROTECTED_HEADER_LEN,
            Content::MtuProbe(size),
        ))
    }
}
