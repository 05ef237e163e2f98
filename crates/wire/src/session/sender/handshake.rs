//! The handshake as initiator: the ClientHello (again, with the token a Retry gives), the
//! receiver's ServerHello and the ClientFinish it calls for, and the receiver's ACCEPT.

use super::{SenderEvent, SenderSession, State};
use crate::codec::{self, DatagramKind};
use crate::crypto::token::{Token, TOKEN_LEN};
use crate::session::{ErrorCode, Protection, SessionError, HANDSHAKE_RTO, MAX_HANDSHAKE_RTO};
use std::time::Instant;

/// Most Retry datagrams one handshake follows; a receiver asks once.
const MAX_RETRIES: u32 = 3;

impl SenderSession {
    /// The receiver wants the sender to prove its address: the ClientHello goes again at once,
    /// carrying `token`. A handshake follows a few Retries at most, so that forged ones cannot
    /// keep it going for ever.
    pub(super) fn on_retry(&mut self, now: Instant, token: &[u8]) {
        match Token::try_from(token) {
            Ok(token) if self.stats.retries < MAX_RETRIES => {
                self.stats.retries += 1;
                self.config.token = Some(token);
                self.handshake_resend_at = now;
            }
            _ => self.stats.packets_dropped += 1,
        }
    }

    pub(super) fn on_server_hello(&mut self, now: Instant, message: &[u8]) {
        let State::Hello { initiator, .. } = &self.state else {
            return;
        };
        let Some(auth) = self.config.auth.encode() else {
            self.fail(SessionError::local(
                ErrorCode::AuthFailed,
                "credentials are too long",
            ));
            return;
        };
        match initiator.finish(message, self.config.expected_key.as_ref(), &auth) {
            Ok((keys, peer, finish)) => {
                let cipher = keys.level;
                self.protection = Some(Protection::new(
                    self.cid,
                    keys,
                    self.config.key_update_interval,
                ));
                self.receiver_key = Some(peer);
                self.state = State::Finish { finish };
                self.handshake_resend_at = now;
                self.handshake_rto = HANDSHAKE_RTO;
                self.last_recv = now;
                self.stats.packets_received += 1;
                self.events
                    .push_back(SenderEvent::Connected { peer, cipher });
            }
            Err(crate::crypto::aead::CryptoError::KeyMismatch) => {
                let expected = self
                    .config
                    .expected_key
                    .map(|k| k.to_string())
                    .unwrap_or_default();
                self.fail(SessionError::local(
                    ErrorCode::AuthFailed,
                    format!("receiver's key does not match the expected key {expected}"),
                ));
            }
            // Forged or corrupted: ignore it, the genuine answer may still come.
            Err(_) => self.stats.packets_dropped += 1,
        }
    }

    /// The receiver accepted the sender's credentials.
    pub(super) fn on_accepted(&mut self) {
        if !matches!(self.state, State::Finish { .. }) {
            return;
        }
        self.state = State::Established;
        self.events.push_back(SenderEvent::Accepted);
    }

    pub(super) fn handshake_datagram(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        msg: Vec<u8>,
    ) -> Option<usize> {
        if now < self.handshake_resend_at {
            return None;
        }
        let kind = match self.state {
            State::Hello { .. } => DatagramKind::ClientHello,
            _ => DatagramKind::ClientFinish,
        };
        self.handshake_resend_at = now + self.handshake_rto;
        self.handshake_rto = (self.handshake_rto * 2).min(MAX_HANDSHAKE_RTO);
        self.stats.packets_sent += 1;
        let len = codec::encode_handshake(kind, &self.cid, &msg, buf)?;
        match self.config.token {
            Some(token) if kind == DatagramKind::ClientHello => {
                buf.get_mut(len..len + TOKEN_LEN)?.copy_from_slice(&token);
                Some(len + TOKEN_LEN)
            }
            _ => Some(len),
        }
    }
}
