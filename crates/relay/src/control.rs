//! The relay's control connection: TCP from the server behind the firewall to the relay, one
//! JSON message a line. The two prove their identity keys to each other by signing the other's
//! fresh nonce (a challenge-response in both directions, as SSH's public-key authentication
//! does in one, RFC 4252 §7): the relay sends `hello` with its key and a nonce; the server
//! answers `register` with its key, its signature over both nonces and the relay's key, and a
//! nonce of its own; the relay checks the key against its authorized keys and the signature,
//! and answers `allocated` (its signature over both nonces and the server's key, the public
//! port it opened for the server, and the first BIND nonce) or `refused`. The connection then
//! carries `bound` notices and `ping`/`pong` for as long as the allocation lives: it ends with
//! the connection. Nothing secret crosses it: the datagrams are sealed end to end by keys the
//! relay never sees.

use jetstream_wire::crypto::{Identity, PublicKey};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

/// The protocol version a relay speaks.
pub const VERSION: u32 = 1;
/// The longest line either side accepts.
pub const MAX_LINE: usize = 4096;
/// Bytes of a registration nonce.
pub const NONCE_LEN: usize = 32;

/// What a server signs to register.
const REGISTER_CONTEXT: &[u8] = b"jetstream relay register v1";
/// What a relay signs to allocate.
const ALLOCATED_CONTEXT: &[u8] = b"jetstream relay allocated v1";

/// One message of the control connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Message {
    /// Relay → server, first: the relay's key and the nonce to sign.
    Hello {
        /// [`VERSION`].
        version: u32,
        /// The relay's identity key.
        key: String,
        /// Hex, [`NONCE_LEN`] bytes.
        nonce: String,
    },
    /// Server → relay: the server's key, its signature and its own nonce.
    Register {
        /// The server's identity key.
        key: String,
        /// Hex, [`NONCE_LEN`] bytes.
        nonce: String,
        /// Hex Ed25519 signature ([`sign_register`]).
        signature: String,
    },
    /// Relay → server: the allocation.
    Allocated {
        /// Names the allocation in BIND frames.
        id: u64,
        /// The public UDP port peers send to.
        port: u16,
        /// The relay's UDP data port the server exchanges DATA and BIND frames with.
        data_port: u16,
        /// Hex Ed25519 signature ([`sign_allocated`]).
        signature: String,
        /// Hex, the nonce of the next BIND frame.
        bind_nonce: String,
    },
    /// Relay → server: registration refused, and why.
    Refused {
        /// What was wrong.
        reason: String,
    },
    /// Relay → server: a BIND frame was accepted.
    Bound {
        /// The server's data address, as the relay sees it.
        address: String,
        /// Hex, the nonce of the next BIND frame.
        bind_nonce: String,
    },
    /// Either side: still here.
    Ping,
    /// The answer to [`Message::Ping`].
    Pong,
}

impl Message {
    /// The message as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("messages always serialize");
        line.push('\n');
        line
    }

    /// The message a line holds.
    pub fn from_line(line: &str) -> Result<Message, String> {
        serde_json::from_str(line.trim_end()).map_err(|e| format!("not a relay message: {e}"))
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes into `line`: the message it holds, or why
/// not.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    line: &mut Vec<u8>,
) -> Result<Message, String> {
    line.clear();
    let mut limited = (&mut *reader).take(MAX_LINE as u64);
    match limited.read_until(b'\n', line).await {
        Ok(0) => Err("the connection closed".into()),
        Ok(_) if line.last() != Some(&b'\n') => Err("a line too long".into()),
        Ok(_) => Message::from_line(&String::from_utf8_lossy(line)),
        Err(e) => Err(e.to_string()),
    }
}

/// What both signatures cover: the two nonces, in the order hello then register, and the
/// key of the side that did not sign.
fn transcript(relay_nonce: &[u8], server_nonce: &[u8], other: &PublicKey) -> Vec<u8> {
    [relay_nonce, server_nonce, &other.0].concat()
}

/// The server's `register` signature over the relay's nonce, its own and the relay's key.
pub fn sign_register(
    server: &Identity,
    relay_nonce: &[u8],
    server_nonce: &[u8],
    relay: &PublicKey,
) -> String {
    let message = transcript(relay_nonce, server_nonce, relay);
    hex::encode(server.sign(REGISTER_CONTEXT, &message))
}

/// Whether `signature` is `server`'s `register` signature for these nonces and `relay`.
pub fn check_register(
    server: &PublicKey,
    signature: &str,
    relay_nonce: &[u8],
    server_nonce: &[u8],
    relay: &PublicKey,
) -> bool {
    let message = transcript(relay_nonce, server_nonce, relay);
    hex::decode(signature).is_ok_and(|sig| server.verify(REGISTER_CONTEXT, &message, &sig).is_ok())
}

/// The relay's `allocated` signature over both nonces and the server's key.
pub fn sign_allocated(
    relay: &Identity,
    relay_nonce: &[u8],
    server_nonce: &[u8],
    server: &PublicKey,
) -> String {
    let message = transcript(relay_nonce, server_nonce, server);
    hex::encode(relay.sign(ALLOCATED_CONTEXT, &message))
}

/// Whether `signature` is `relay`'s `allocated` signature for these nonces and `server`.
pub fn check_allocated(
    relay: &PublicKey,
    signature: &str,
    relay_nonce: &[u8],
    server_nonce: &[u8],
    server: &PublicKey,
) -> bool {
    let message = transcript(relay_nonce, server_nonce, server);
    hex::decode(signature).is_ok_and(|sig| relay.verify(ALLOCATED_CONTEXT, &message, &sig).is_ok())
}

/// A fresh random nonce.
pub fn nonce<const N: usize>() -> [u8; N] {
    ring::rand::generate(&ring::rand::SystemRandom::new())
        .map(|random| random.expose())
        .expect("the system random generator works")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn each_side_proves_its_key_over_both_nonces_and_the_other_key() {
        let rng = SystemRandom::new();
        let (relay, server, stranger) = (
            Identity::generate(&rng).unwrap(),
            Identity::generate(&rng).unwrap(),
            Identity::generate(&rng).unwrap(),
        );
        let (rn, sn) = (nonce::<NONCE_LEN>(), nonce::<NONCE_LEN>());
        let (rk, sk) = (relay.public_key(), server.public_key());
        let signed = sign_register(&server, &rn, &sn, &rk);
        assert!(check_register(&sk, &signed, &rn, &sn, &rk));
        assert!(!check_register(
            &stranger.public_key(),
            &signed,
            &rn,
            &sn,
            &rk
        ));
        assert!(
            !check_register(&sk, &signed, &sn, &rn, &rk),
            "nonces in order"
        );
        assert!(
            !check_register(&sk, &signed, &rn, &sn, &sk),
            "bound to the relay"
        );
        assert!(!check_register(&sk, "zz", &rn, &sn, &rk));
        let allocated = sign_allocated(&relay, &rn, &sn, &sk);
        assert!(check_allocated(&rk, &allocated, &rn, &sn, &sk));
        assert!(
            !check_allocated(&rk, &signed, &rn, &sn, &sk),
            "contexts differ"
        );
    }

    #[test]
    fn messages_travel_as_single_lines() {
        let message = Message::Allocated {
            id: 7,
            port: 20_000,
            data_port: 8887,
            signature: "ab".into(),
            bind_nonce: "cd".into(),
        };
        let line = message.to_line();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains("\"type\":\"allocated\"") && line.contains("\"dataPort\":8887"));
        assert_eq!(Message::from_line(&line), Ok(message));
        assert!(Message::from_line("{\"type\":\"launch\"}").is_err());
    }
}
