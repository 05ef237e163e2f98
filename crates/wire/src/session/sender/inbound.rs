//! What arrives from the receiver: handshake datagrams handed to the handshake, protected ones
//! opened and their frames applied, acknowledgements fed to loss recovery and rate control,
//! and what was lost queued again.

use super::progress::Placed;
use super::{Done, SenderEvent, SenderSession, State};
use crate::codec::{DatagramKind, Frame, Frames, Header, HANDSHAKE_HEADER_LEN};
use crate::session::recovery::{Content, ControlItem};
use crate::session::{ErrorCode, SessionError};
use std::time::{Duration, Instant};

impl SenderSession {
    /// Processes one received datagram (modified in place while it is opened).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &mut [u8]) {
        let header = match Header::decode(datagram) {
            Ok(h) if h.cid() == self.cid => h,
            _ => {
                self.stats.packets_dropped += 1;
                return;
            }
        };
        match (&self.state, header) {
            (
                State::Hello { .. },
                Header::Handshake {
                    kind: DatagramKind::ServerHello,
                    ..
                },
            ) => self.on_server_hello(now, &datagram[HANDSHAKE_HEADER_LEN..]),
            (
                State::Hello { .. },
                Header::Handshake {
                    kind: DatagramKind::Retry,
                    ..
                },
            ) => self.on_retry(now, &datagram[HANDSHAKE_HEADER_LEN..]),
            (State::Finish { .. } | State::Established, Header::Protected { .. }) => {
                self.on_protected(now, datagram)
            }
            _ => self.stats.packets_dropped += 1,
        }
    }

    fn on_protected(&mut self, now: Instant, datagram: &mut [u8]) {
        let Some(protection) = self.protection.as_mut() else {
            return;
        };
        let Ok((_, payload)) = protection.open(now, datagram) else {
            self.stats.packets_dropped += 1;
            return;
        };
        self.stats.packets_received += 1;
        self.last_recv = now;
        for frame in Frames::new(&datagram[payload]) {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.protocol_error(format!("bad frame from receiver: {e}"));
                    return;
                }
            };
            match frame {
                Frame::Accept => self.on_accepted(),
                Frame::Ack { delay_us, ranges } => {
                    // Only an accepting receiver acknowledges: its ACCEPT was lost.
                    self.on_accepted();
                    if matches!(self.state, State::Established) {
                        self.on_ack(now, &ranges, Duration::from_micros(delay_us.into()));
                    }
                }
                Frame::Result { code, message } => {
                    if self.done == Done::Confirmed || matches!(self.state, State::Closed) {
                        continue;
                    }
                    if code == ErrorCode::Ok as u8 {
                        // Every file is in place: those whose PLACED was lost too.
                        for file in 0..self.files.len() as u32 {
                            self.mark_placed(file, Placed::Written);
                        }
                        self.done = Done::Confirmed;
                        self.state = State::Closed;
                        // Lets the receiver stop lingering at once; harmless if lost.
                        self.close_pending = Some((ErrorCode::Ok, "complete".into(), None));
                        self.events.push_back(SenderEvent::Complete);
                    } else {
                        self.fail(SessionError {
                            code: ErrorCode::from_u8(code),
                            message,
                            remote: true,
                            file: None,
                        });
                    }
                }
                Frame::Close {
                    code,
                    message,
                    file,
                } => {
                    if !matches!(self.state, State::Closed) {
                        self.fail(SessionError {
                            code: ErrorCode::from_u8(code),
                            message,
                            remote: true,
                            file,
                        });
                    }
                    return;
                }
                Frame::Pong { id } => {
                    if let Some(i) = self.pings.iter().position(|p| p.0 == id) {
                        if let (_, Some(sent)) = self.pings[i] {
                            self.pings.remove(i);
                            self.events.push_back(SenderEvent::Pong {
                                id,
                                rtt: now.saturating_duration_since(sent),
                            });
                        }
                    }
                }
                Frame::Durable { file, bytes } => {
                    let Some(range) = self.file_range(file, 0..bytes) else {
                        self.protocol_error(format!("DURABLE beyond file {file}"));
                        return;
                    };
                    self.durable.insert(range.clone());
                    self.acked.insert(range);
                    self.check_delivered(file);
                }
                Frame::Placed { file } | Frame::Kept { file, .. } => {
                    let Some(range) = self.file_range(file, 0..self.file_size(file)) else {
                        self.protocol_error(format!("PLACED or KEPT for unknown file {file}"));
                        return;
                    };
                    self.durable.insert(range);
                    let placed = match frame {
                        Frame::Kept { verified, .. } => Placed::Kept { verified },
                        _ => Placed::Written,
                    };
                    self.mark_placed(file, placed);
                }
                Frame::Missing { file, range } => {
                    let Some(range) = self.file_range(file, range) else {
                        self.protocol_error(format!("MISSING beyond file {file}"));
                        return;
                    };
                    self.on_missing(file, range);
                }
                Frame::NewToken(token) => self.events.push_back(SenderEvent::NewToken(token)),
                Frame::Answers { first, answers } => {
                    if u64::from(first) + answers.len() as u64 > self.files.len() as u64 {
                        self.protocol_error(format!("ANSWERS beyond file {first}"));
                        return;
                    }
                    for (file, answer) in (first..).zip(answers) {
                        self.on_answer(file, answer);
                    }
                    if self.unanswered(1).is_empty() {
                        self.reannounce_at = None;
                    }
                }
                Frame::Ping { .. } | Frame::Padding(_) => {}
                other => {
                    self.protocol_error(format!("unexpected frame from receiver: {other:?}"));
                    return;
                }
            }
        }
    }

    fn protocol_error(&mut self, message: String) {
        self.fail(SessionError::local(ErrorCode::Protocol, message));
    }

    fn on_ack(&mut self, now: Instant, ranges: &[std::ops::Range<u64>], delay: Duration) {
        let outcome = self.recovery.on_ack(now, ranges, delay);
        let mut acked_bytes = 0u64;
        for (content, state, size) in outcome.acked {
            self.sampler.on_acked(now, &state, u64::from(size));
            acked_bytes += u64::from(size);
            match content {
                Content::Data { start, len, .. } => {
                    self.acked.insert(start..start + u64::from(len));
                    let first = self.file_at(start);
                    let last = self.file_at(start + u64::from(len) - 1);
                    for file in first..=last {
                        self.check_delivered(file);
                    }
                }
                Content::Control(items) => {
                    for item in items.iter() {
                        match *item {
                            ControlItem::Transfer => self.transfer_acked = true,
                            ControlItem::Meta(file) => {
                                self.meta_acked.insert(u64::from(file)..u64::from(file) + 1);
                                self.check_delivered(file);
                                if self.reannounce_at.is_none()
                                    && !self.answered.contains(u64::from(file))
                                {
                                    self.arm_reannounce(now);
                                }
                            }
                            ControlItem::Digest(file) => {
                                self.digest_acked
                                    .insert(u64::from(file)..u64::from(file) + 1);
                                self.check_delivered(file);
                            }
                        }
                    }
                }
                Content::MtuProbe(size) => self.on_mtu_probe_acked(size),
                Content::Probe => {}
            }
        }
        let lost_bytes: u64 = outcome.lost.iter().map(|(_, size)| u64::from(*size)).sum();
        if outcome.rtt_sampled {
            if let Some(mut sample) = self
                .sampler
                .take_sample(now, self.recovery.rtt().latest_adjusted())
            {
                sample.acked_bytes = acked_bytes;
                sample.lost_bytes = lost_bytes;
                self.controller
                    .on_ack(now, &sample, self.recovery.in_flight());
            }
        }
        self.on_lost(now, outcome.lost);
    }

    pub(super) fn on_lost(&mut self, now: Instant, lost: Vec<(Content, u32)>) {
        if lost.is_empty() {
            return;
        }
        // A lost MTU probe says the path is narrower, not congested (RFC 8899, 3).
        let bytes: u64 = lost
            .iter()
            .filter(|(c, _)| !matches!(c, Content::MtuProbe(_)))
            .map(|(_, s)| u64::from(*s))
            .sum();
        self.stats.packets_lost += lost.len() as u64;
        if bytes > 0 {
            self.controller
                .on_loss(now, bytes, self.recovery.in_flight());
        }
        let requeued = self.control.len();
        for (content, _) in lost {
            match content {
                Content::Data { start, len, repair } => {
                    let range = start..start + u64::from(len);
                    if repair && self.all_sent() {
                        // Lost twice, at the end of the transfer, when each loss costs a round
                        // trip and nothing else waits: two copies go.
                        self.repair.push_back(range.clone());
                    }
                    self.repair.push_back(range);
                }
                Content::Control(items) => {
                    for item in items.iter() {
                        let needed = match *item {
                            ControlItem::Transfer => !self.transfer_acked,
                            ControlItem::Meta(f) => !self.meta_acked.contains(u64::from(f)),
                            ControlItem::Digest(f) => !self.digest_acked.contains(u64::from(f)),
                        };
                        if needed {
                            self.control.push_back(*item);
                        }
                    }
                }
                Content::MtuProbe(_) => self.mtu.on_lost(),
                Content::Probe => {}
            }
        }
        if self.control.len() > requeued {
            // Losses are found in the order things were sent, which can put a file's DIGEST
            // ahead of the FILE frame it depends on (sent again later, lost again): repaired in
            // that order they would be dropped together for good.
            let mut queue = Vec::from(std::mem::take(&mut self.control));
            queue.sort_unstable();
            queue.dedup();
            self.control = queue.into();
        }
    }
}
