//! `schedulePingAsync`: the round trip to a destination's receiver, measured by PINGs inside
//! the session of a transfer running to that destination when there is one, else by as many
//! zero-file handshakes. The shortest round trip goes to the destination and to the request.

use super::actor::{now_us, stored, Actor, Msg, Responder};
use super::destinations::resolve;
use crate::command::SchedulePing;
use crate::error::{Code, Error, Result};
use crate::flags;
use crate::send::{self, Progress, SendOptions};
use crate::store::DestinationUpdate;
use jetstream_wire::crypto::handshake::PublicKey;
use serde_json::json;
use std::ops::RangeInclusive;
use std::time::Duration;

/// What a ping request learned.
pub(super) struct PingReply {
    /// The receiver's identity key.
    key: Option<PublicKey>,
    /// The shortest round trip seen.
    rtt: Duration,
    /// The transfer whose session carried the pings; `None` for handshakes.
    transfer_id: Option<u64>,
}

/// A ping request answered by PINGs inside a running transfer's session.
pub(super) struct SessionPing {
    /// The transfer whose session carries the pings.
    transfer_id: u64,
    destination_id: String,
    /// The session's ids of the PINGs asked for.
    ids: RangeInclusive<u64>,
    /// PONGs received so far.
    answered: u64,
    /// The shortest round trip so far.
    best: Option<Duration>,
    responder: Responder,
}

impl Actor {
    /// Measures the round trip to the destination's receiver with `pingCount` pings: inside
    /// the session of a transfer running there, connected and sending, when there is one;
    /// otherwise with as many handshakes, one after another.
    pub(super) fn schedule_ping(&mut self, p: &SchedulePing, responder: Responder) {
        if let Err(e) = self.store.get_destination(&p.destination_id) {
            return self.respond(responder, Err(e.into()));
        }
        let count = u64::from(p.ping_count.max(1));
        let carrier = self
            .running
            .iter()
            .find(|(_, run)| run.destination_id == p.destination_id && run.carries_pings());
        let Some((&transfer_id, run)) = carrier else {
            return self.ping_by_handshakes(&p.destination_id, count, responder);
        };
        let mut ids = 0..=0;
        run.steer(|c| {
            ids = c.pings + 1..=c.pings + count;
            c.pings += count;
        });
        let responder = self.defer(responder);
        self.session_pings.push(SessionPing {
            transfer_id,
            destination_id: p.destination_id.clone(),
            ids,
            answered: 0,
            best: None,
            responder,
        });
    }

    /// Starts `count` handshakes with the destination's receiver, one after another; the
    /// shortest round trip answers `responder`.
    fn ping_by_handshakes(&mut self, destination_id: &str, count: u64, responder: Responder) {
        let destination = match self.store.get_destination(destination_id) {
            Ok(destination) => destination,
            Err(e) => return self.respond(responder, Err(e.into())),
        };
        let to = match resolve(&destination) {
            Ok(to) => to,
            Err(e) => return self.respond(responder, Err(e)),
        };
        let responder = self.defer(responder);
        let mut opts = SendOptions::new(to);
        opts.flags = flags::NONE;
        self.destination_session(&destination, &mut opts);
        opts.timeout = Some(Duration::from_secs(5));
        let identity = self.identity.clone();
        let tx = self.tx.clone();
        let destination_id = destination_id.to_owned();
        tokio::spawn(async move {
            let mut best: Option<PingReply> = None;
            let mut result = Ok(());
            for _ in 0..count {
                match send::send(&identity, &opts, Vec::new(), &mut |_| {}).await {
                    Ok(report) => {
                        let rtt = report.stats.min_rtt.unwrap_or(report.stats.rtt);
                        if best.as_ref().is_none_or(|b| rtt < b.rtt) {
                            best = Some(PingReply {
                                key: report.receiver_key,
                                rtt,
                                transfer_id: None,
                            });
                        }
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let result = result.and(best.ok_or_else(|| Error::new(Code::Internal, "no ping")));
            let _ = tx.send(Msg::Pinged {
                destination_id,
                responder,
                result,
            });
        });
    }

    /// Takes the PONGs of a running transfer's report: a request whose every PING is answered
    /// gets its reply. Pings whose session died unanswered are measured again by handshakes.
    pub(super) fn on_pongs(&mut self, transfer_id: u64, p: &Progress) {
        if !self
            .session_pings
            .iter()
            .any(|s| s.transfer_id == transfer_id)
        {
            return;
        }
        let mut waiting = Vec::new();
        for mut ping in std::mem::take(&mut self.session_pings) {
            if ping.transfer_id != transfer_id {
                waiting.push(ping);
                continue;
            }
            for &(_, rtt) in p.pongs.iter().filter(|(id, _)| ping.ids.contains(id)) {
                ping.answered += 1;
                ping.best = Some(ping.best.map_or(rtt, |best| best.min(rtt)));
            }
            let asked = ping.ids.end() - ping.ids.start() + 1;
            if ping.answered >= asked {
                let reply = ping.best.map(|rtt| PingReply {
                    key: p.receiver_key,
                    rtt,
                    transfer_id: Some(transfer_id),
                });
                let result = reply.ok_or_else(|| Error::new(Code::Internal, "no ping"));
                self.on_pinged(&ping.destination_id, ping.responder, result);
            } else if !p.connected {
                // The session that carried them is gone: what it did not answer is lost.
                self.ping_by_handshakes(&ping.destination_id, asked, ping.responder);
            } else {
                waiting.push(ping);
            }
        }
        self.session_pings.extend(waiting);
    }

    /// The transfer carrying ping requests ended before answering them: they are measured
    /// again by handshakes.
    pub(super) fn on_carrier_ended(&mut self, transfer_id: u64) {
        let (ended, waiting) = std::mem::take(&mut self.session_pings)
            .into_iter()
            .partition(|s| s.transfer_id == transfer_id);
        self.session_pings = waiting;
        for ping in ended {
            let asked = ping.ids.end() - ping.ids.start() + 1;
            self.ping_by_handshakes(&ping.destination_id, asked, ping.responder);
        }
    }

    pub(super) fn on_pinged(
        &mut self,
        destination_id: &str,
        responder: Responder,
        result: Result<PingReply>,
    ) {
        let now = now_us();
        let update = match &result {
            Ok(reply) => {
                let key = reply.key.map(|k| k.to_string());
                DestinationUpdate {
                    round_trip_time_ms: Some(reply.rtt.as_secs_f64() * 1000.0),
                    last_receiver_destination_id: key.clone(),
                    last_destination_server_id: key,
                    last_recv_time: Some(now),
                    last_send_time: Some(now),
                    last_error: Some(None),
                    last_error_message: Some(None),
                    ..DestinationUpdate::default()
                }
            }
            Err(e) => DestinationUpdate {
                last_send_time: Some(now),
                last_error: Some(Some(e.code.as_str().to_owned())),
                last_error_message: Some(Some(e.message.clone())),
                ..DestinationUpdate::default()
            },
        };
        // The destination may have been deleted meanwhile; the request still gets its answer.
        stored(
            format_args!("destination {destination_id}: ping result"),
            self.store.update_destination(destination_id, &update),
        );
        let answer = result.map(|reply| {
            json!({
                "destinationId": destination_id,
                "roundTripTimeMs": reply.rtt.as_secs_f64() * 1000.0,
                "lastReceiverDestinationId": reply.key.map(|k| k.to_string()),
                "transferId": reply.transfer_id,
            })
        });
        self.respond(responder, answer);
    }
}
