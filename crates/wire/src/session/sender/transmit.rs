//! What leaves: each datagram in turn (handshake, probes and PINGs, control frames, the MTU
//! probe, DATA, DONE, CLOSE) within the window and the pacer's rate, the FILE frames announced
//! ahead of the data, digests batched, repairs before new bytes, and the sealing that hands
//! every datagram to loss recovery and rate control.

use super::progress::resumed;
use super::{Done, SenderSession, State};
use crate::codec::{self, Frame, DATA_FRAME_OVERHEAD, PROTECTED_HEADER_LEN};
use crate::files::DataSource;
use crate::session::recovery::{Content, ControlItem};
use crate::session::SessionError;
use std::time::{Duration, Instant};

/// The longest burst of acknowledgements the window allows for.
const ACK_AGGREGATION: Duration = Duration::from_millis(4);
/// How soon a digest still being computed is asked for again.
const DIGEST_POLL: Duration = Duration::from_millis(5);
/// Digests wait for this many to share a datagram while new data is still being sent...
const DIGEST_BATCH: usize = 32;
/// ...but no longer than this: a file is complete only once its digest arrives.
const DIGEST_DELAY: Duration = Duration::from_millis(2);
/// How many entries are announced ahead of the one whose data goes out: the receiver answers
/// them while data flows, so a tree of unchanged files costs round trips by the thousand
/// files, not one each.
pub(super) const ANNOUNCE_AHEAD: u32 = 4096;

impl SenderSession {
    /// The most bytes in flight: the controller's window, but never less than what the current
    /// rate sends in [`ACK_AGGREGATION`], since ACKs arrive in bursts (receive batching, GRO)
    /// and a window smaller than one burst would stall the sender between them.
    fn window(&self) -> u64 {
        let burst = u128::from(self.rate()) * ACK_AGGREGATION.as_nanos() / 1_000_000_000;
        self.controller
            .window()
            .max(u64::try_from(burst).unwrap_or(u64::MAX))
    }

    /// Asks the source for the digests of the files read through, in order, and queues them.
    fn poll_digests(&mut self, now: Instant, source: &mut dyn DataSource) {
        self.digest_retry_at = None;
        while self.digest_next < self.cursor_file {
            let file = self.digest_next;
            // A file kept by the receiver is never read, not even to be hashed.
            if self.needs_digest(file) && !self.placed.contains(u64::from(file)) {
                match source.digest(file) {
                    Ok(Some(hash)) => {
                        self.digests.insert(file, hash);
                        self.control.push_back(ControlItem::Digest(file));
                        self.digest_queued_at.get_or_insert(now);
                    }
                    Ok(None) => {
                        self.digest_retry_at = Some(now + DIGEST_POLL);
                        return;
                    }
                    Err(e) => {
                        self.fail(SessionError::from(e));
                        return;
                    }
                }
            }
            self.digest_next += 1;
        }
    }

    fn all_complete(&self) -> bool {
        self.transfer_acked && self.delivered.len() == self.files.len() as u64
    }

    /// Writes the next datagram into `buf` (at least `max_datagram` bytes) and returns its
    /// length, or `None` when nothing may be sent now (see `poll_timeout`). File bytes are read
    /// from `source` straight into `buf` and sealed in place.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn DataSource,
    ) -> Option<usize> {
        match &self.state {
            State::Hello { hello, .. } => return self.handshake_datagram(now, buf, hello.clone()),
            // The receiver has the keys as soon as it has the ClientFinish: the first flight
            // follows it at once rather than a round trip later, after the ACCEPT.
            State::Finish { finish } if now >= self.handshake_resend_at => {
                return self.handshake_datagram(now, buf, finish.clone())
            }
            State::Closed => return self.close_datagram(buf),
            State::Finish { .. } | State::Established => {}
        }
        let payload_cap = self.protection.as_ref()?.payload_capacity(self.datagram);
        let start = PROTECTED_HEADER_LEN;
        let end = start + payload_cap;
        // Probes and PINGs go out whatever the window and the pacer say.
        if self.probe_pending || self.pings.iter().any(|p| p.1.is_none()) {
            self.probe_pending = false;
            let mut pos = start;
            for ping in self.pings.iter_mut().filter(|p| p.1.is_none()) {
                if (Frame::Ping { id: ping.0 })
                    .encode(&mut buf[..end], &mut pos)
                    .is_none()
                {
                    break;
                }
                ping.1 = Some(now);
            }
            if pos == start {
                (Frame::Ping { id: 0 }).encode(&mut buf[..end], &mut pos)?;
            }
            return Some(self.seal(now, buf, pos - start, Content::Probe));
        }
        if self.recovery.in_flight() + self.datagram as u64 > self.window() {
            self.next_send_at = None;
            return None;
        }
        let rate = self.rate();
        if let Some(at) = self.pacer.delay(now, rate, self.datagram) {
            self.next_send_at = Some(at);
            return None;
        }
        self.next_send_at = None;
        if rate < self.controller.pacing_rate() {
            // Capped below what the path could take: samples are not the path's.
            self.sampler.on_app_limited(self.recovery.in_flight());
        }
        self.poll_digests(now, source);
        if matches!(self.state, State::Closed) {
            return self.close_datagram(buf);
        }
        let waiting = self.awaiting_answer() && self.repair.is_empty();
        let probing = waiting && self.rate_probe_left > 0;
        if waiting && !probing {
            // What goes out now is announcements and the like, less than the path could take:
            // their acknowledgements do not measure it.
            self.sampler.on_app_limited(self.recovery.in_flight());
        }
        if let Some(len) = self.control_datagram(now, buf, end, false) {
            return Some(len);
        }
        if let Some(len) = self.mtu_probe(now, buf) {
            return Some(len);
        }
        if !self.suspended {
            match self.data_datagram(now, buf, end, source) {
                Ok(Some(len)) => return Some(len),
                Ok(None) => {}
                Err(e) => {
                    self.fail(SessionError::from(e));
                    return self.close_datagram(buf);
                }
            }
        }
        if probing {
            return self.rate_probe(now, buf, end);
        }
        // No new data went out: digests waiting for company go now.
        if let Some(len) = self.control_datagram(now, buf, end, true) {
            return Some(len);
        }
        if self.done == Done::NotYet && self.all_complete() {
            let mut pos = start;
            Frame::Done.encode(&mut buf[..end], &mut pos)?;
            let resend_at = now + self.recovery.rtt().pto(self.config.max_ack_delay) * 2;
            self.done = Done::Sent { resend_at };
            return Some(self.seal(now, buf, pos - start, Content::Probe));
        }
        self.sampler.on_app_limited(self.recovery.in_flight());
        None
    }

    /// A datagram of padding in the first flight, while the data waits for the receiver's
    /// answers to the FILE frames that went with the ClientFinish: the first flight measures
    /// the path as a flight of data would (its ACK train comes back with the answers), so the
    /// data leaves at the path's rate instead of starting to measure it a round trip later.
    /// One initial window of it at most; the receiver acknowledges it and drops it.
    fn rate_probe(&mut self, now: Instant, buf: &mut [u8], end: usize) -> Option<usize> {
        let mut pos = PROTECTED_HEADER_LEN;
        Frame::Padding(end - pos).encode(&mut buf[..end], &mut pos)?;
        self.rate_probe_left = self.rate_probe_left.saturating_sub(self.datagram as u64);
        Some(self.seal(now, buf, pos - PROTECTED_HEADER_LEN, Content::Probe))
    }

    fn close_datagram(&mut self, buf: &mut [u8]) -> Option<usize> {
        let (code, message, file) = self.close_pending.take()?;
        let protection = self.protection.as_mut()?;
        let end = PROTECTED_HEADER_LEN + protection.payload_capacity(self.config.max_datagram);
        let mut pos = PROTECTED_HEADER_LEN;
        Frame::Close {
            code: code as u8,
            message,
            file,
        }
        .encode(&mut buf[..end], &mut pos)?;
        let (_, len) = protection.seal(buf, pos - PROTECTED_HEADER_LEN);
        self.stats.packets_sent += 1;
        Some(len)
    }

    pub(super) fn seal(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        payload_len: usize,
        content: Content,
    ) -> usize {
        let protection = self
            .protection
            .as_mut()
            .expect("established sessions have keys");
        let (pn, len) = protection.seal(buf, payload_len);
        let in_flight = self.recovery.in_flight();
        let state = self.sampler.on_sent(now, len as u64, in_flight);
        self.recovery.on_sent(pn, now, len as u32, state, content);
        self.controller
            .on_sent(now, len as u64, in_flight + len as u64);
        self.pacer.on_sent(len);
        self.stats.packets_sent += 1;
        self.last_sent = now;
        len
    }

    /// Control frames that must be (re)sent, and the FILE frames the data cursor needs next.
    /// Unless `flush`, digests alone wait until [`DIGEST_BATCH`] of them share a datagram.
    fn control_datagram(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        end: usize,
        flush: bool,
    ) -> Option<usize> {
        let needs_meta = !self.suspended
            && (self.meta_next as usize) < self.files.len()
            && self.meta_next <= self.cursor_file.saturating_add(ANNOUNCE_AHEAD);
        if self.control.is_empty() && !needs_meta {
            return None;
        }
        // Digests alone wait for company while data flows: one each would double the
        // datagrams of a tree of small files.
        if !flush
            && !needs_meta
            && self.control.len() < DIGEST_BATCH
            && self
                .digest_queued_at
                .is_some_and(|t| now < t + DIGEST_DELAY)
            && self
                .control
                .iter()
                .all(|item| matches!(item, ControlItem::Digest(_)))
        {
            return None;
        }
        let start = PROTECTED_HEADER_LEN;
        let mut pos = start;
        let mut items = Vec::new();
        while let Some(&item) = self.control.front() {
            if self
                .encode_control(item, &mut buf[..end], &mut pos)
                .is_none()
            {
                break;
            }
            self.control.pop_front();
            items.push(item);
        }
        while needs_meta
            && (self.meta_next as usize) < self.files.len()
            && self.meta_next <= self.cursor_file.saturating_add(ANNOUNCE_AHEAD)
        {
            let item = ControlItem::Meta(self.meta_next);
            if self
                .encode_control(item, &mut buf[..end], &mut pos)
                .is_none()
            {
                break;
            }
            self.meta_next += 1;
            items.push(item);
        }
        if items.is_empty() {
            return None;
        }
        if !self
            .control
            .iter()
            .any(|item| matches!(item, ControlItem::Digest(_)))
        {
            self.digest_queued_at = None;
        }
        Some(self.seal(now, buf, pos - start, Content::Control(items.into())))
    }

    fn encode_control(&self, item: ControlItem, out: &mut [u8], pos: &mut usize) -> Option<()> {
        match item {
            ControlItem::Transfer => Frame::Transfer(self.header.clone()).encode(out, pos),
            ControlItem::Meta(file) => Frame::File {
                file,
                meta: self.files[file as usize].clone(),
                resume: resumed(&self.config, &self.files, file),
            }
            .encode(out, pos),
            ControlItem::Digest(file) => match self.digests.get(&file) {
                Some(&hash) if !self.digest_acked.contains(u64::from(file)) => {
                    Frame::Digest { file, hash }.encode(out, pos)
                }
                // Acknowledged (or placed) meanwhile: nothing to send.
                _ => Some(()),
            },
        }
    }

    /// A datagram of DATA frames: a repair first, else new bytes at the cursor. It carries one
    /// contiguous range of the transfer's bytes, which may run across the ends of files (one
    /// frame per file), so small files and the tails of large ones share datagrams.
    fn data_datagram(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        end: usize,
        source: &mut dyn DataSource,
    ) -> Result<Option<usize>, crate::files::StorageError> {
        let room = (end - PROTECTED_HEADER_LEN - DATA_FRAME_OVERHEAD) as u64;
        // The bytes to carry, from `start` up to `limit`, and for a repair the end of the lost
        // range it belongs to.
        let (start, limit, repair) = loop {
            if let Some(range) = self.repair.pop_front() {
                if let Some(gap) = self.acked.gaps(range.clone()).next() {
                    break (gap.start, gap.end, Some(range.end));
                }
                continue;
            }
            match self.new_data(room) {
                Some((start, limit)) => break (start, limit, None),
                None => return Ok(None),
            }
        };
        let mut pos = PROTECTED_HEADER_LEN;
        let mut at = start;
        while at < limit && end - pos > DATA_FRAME_OVERHEAD {
            let file = self.file_at(at);
            let offset = at - self.bases[file as usize];
            let n = (self.files[file as usize].size - offset)
                .min(limit - at)
                .min((end - pos - DATA_FRAME_OVERHEAD) as u64);
            let payload = codec::encode_data_header(buf, pos, file, offset, n as u16);
            source.read_at(file, offset, &mut buf[payload..payload + n as usize])?;
            pos = payload + n as usize;
            at += n;
        }
        let len = at - start;
        match repair {
            Some(range_end) => {
                // What did not fit of the lost range goes next.
                if at < range_end {
                    self.repair.push_front(at..range_end);
                }
                let again: u64 = self.unsent.gaps(start..at).map(|g| g.end - g.start).sum();
                self.unsent.remove(start..at);
                self.stats.bytes_retransmitted += again;
            }
            None => {
                let file = self.file_at(start + len.saturating_sub(1));
                self.cursor_file = file;
                self.cursor_offset = at - self.bases[file as usize];
            }
        }
        self.stats.bytes_sent += len;
        let content = Content::Data {
            start,
            len: len as u32,
            repair: repair.is_some(),
        };
        Ok(Some(self.seal(
            now,
            buf,
            pos - PROTECTED_HEADER_LEN,
            content,
        )))
    }

    /// Whether every new byte has been sent once.
    pub(super) fn all_sent(&self) -> bool {
        self.cursor_file as usize >= self.files.len()
    }

    /// Whether the next new bytes wait for their file's FILE frame to go or to be answered.
    fn awaiting_answer(&self) -> bool {
        (self.cursor_file as usize) < self.files.len() && !self.may_send(self.cursor_file)
    }

    /// Whether `file`'s data may go: its FILE frame went (data ahead of it would be dropped)
    /// and the receiver answered that it wants it (or, without a skip rule, will).
    fn may_send(&self, file: u32) -> bool {
        file < self.meta_next && self.answered.contains(u64::from(file))
    }

    /// The range of new bytes the next datagram may carry, about `room` long: from the cursor
    /// on through the following files while they are answered and start from their first byte
    /// (a resumed file leaves a gap in the transfer's bytes). None when nothing new can go.
    fn new_data(&mut self, room: u64) -> Option<(u64, u64)> {
        let start = loop {
            while (self.cursor_file as usize) < self.files.len()
                && self.cursor_offset >= self.files[self.cursor_file as usize].size
            {
                self.cursor_file += 1;
                self.cursor_offset = resumed(&self.config, &self.files, self.cursor_file);
            }
            if self.cursor_file as usize >= self.files.len() || !self.may_send(self.cursor_file) {
                return None;
            }
            let base = self.bases[self.cursor_file as usize];
            let start = base + self.cursor_offset;
            // Bytes the receiver already holds (it said so in a DURABLE frame) are skipped.
            let held_to = self.acked.run_from(start);
            if held_to == start {
                break start;
            }
            self.cursor_offset = held_to - base;
        };
        let mut file = self.cursor_file as usize;
        loop {
            let limit = self.bases[file] + self.files[file].size;
            file += 1;
            if limit - start >= room
                || file >= self.files.len()
                || !self.may_send(file as u32)
                || resumed(&self.config, &self.files, file as u32) > 0
            {
                // Up to the next bytes the receiver already holds.
                let limit = self
                    .acked
                    .gaps(start..limit)
                    .next()
                    .map_or(limit, |g| g.end);
                return Some((start, limit));
            }
        }
    }
}
