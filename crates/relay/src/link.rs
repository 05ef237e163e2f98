//! A server's side of a relay: the outbound control connection that registers the server
//! ([`register`]) and keeps its allocation ([`Link::run`]): pings on the connection, and BIND
//! frames — sent by the caller from the socket the server receives on, so that the relay learns
//! the address its datagrams come from through any NAT — at the start, again until the relay
//! confirms one, and then at every keep-alive interval, which also keeps a NAT's mapping open.

use crate::control::{self, read_message, Message, NONCE_LEN, VERSION};
use crate::frame::{self, BIND_LEN};
use jetstream_wire::crypto::{Identity, PublicKey};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// How long a registration may take.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// A BIND frame not confirmed within this is sent again.
const BIND_RETRY: Duration = Duration::from_secs(1);

/// Why a relay link failed or ended.
#[derive(Debug, thiserror::Error)]
#[error("relay {relay}: {message}")]
pub struct LinkError {
    /// The relay's control address.
    pub relay: SocketAddr,
    /// What went wrong.
    pub message: String,
}

/// What the relay gave the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Names it in BIND frames.
    pub id: u64,
    /// Where peers send to reach the server.
    pub public: SocketAddr,
    /// The relay's data address, which the server's receive socket exchanges frames with.
    pub data: SocketAddr,
    /// The relay's identity key.
    pub relay_key: PublicKey,
}

/// A registered server's control connection.
pub struct Link {
    relay: SocketAddr,
    identity: Identity,
    allocation: Allocation,
    bind_nonce: [u8; frame::NONCE_LEN],
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// Connects to the relay whose control port is `relay`, proves `identity`'s key, and checks
/// the relay's (against `expected` when given): the server's allocation.
pub async fn register(
    relay: SocketAddr,
    identity: &Identity,
    expected: Option<&PublicKey>,
) -> Result<Link, LinkError> {
    let fail = |message: String| LinkError { relay, message };
    tokio::time::timeout(REGISTER_TIMEOUT, async {
        let stream = TcpStream::connect(relay)
            .await
            .map_err(|e| fail(format!("cannot connect: {e}")))?;
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        let Message::Hello {
            version,
            key,
            nonce,
        } = read_message(&mut reader, &mut line).await.map_err(fail)?
        else {
            return Err(fail("it did not say hello".into()));
        };
        if version != VERSION {
            return Err(fail(format!(
                "it speaks version {version}, this server {VERSION}"
            )));
        }
        let relay_key: PublicKey = key.parse().map_err(|_| fail("a malformed key".into()))?;
        if expected.is_some_and(|expected| *expected != relay_key) {
            return Err(fail(format!(
                "its key is {relay_key}, not the expected {}",
                expected.map(ToString::to_string).unwrap_or_default()
            )));
        }
        let relay_nonce = hex::decode(nonce)
            .ok()
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or_else(|| fail("a malformed nonce".into()))?;
        let server_nonce = control::nonce::<NONCE_LEN>();
        let register = Message::Register {
            key: identity.public_key().to_string(),
            nonce: hex::encode(server_nonce),
            signature: control::sign_register(identity, &relay_nonce, &server_nonce, &relay_key),
        };
        writer
            .write_all(register.to_line().as_bytes())
            .await
            .map_err(|e| fail(e.to_string()))?;
        match read_message(&mut reader, &mut line).await.map_err(fail)? {
            Message::Allocated {
                id,
                port,
                data_port,
                signature,
                bind_nonce,
            } => {
                let server_key = identity.public_key();
                if !control::check_allocated(
                    &relay_key,
                    &signature,
                    &relay_nonce,
                    &server_nonce,
                    &server_key,
                ) {
                    return Err(fail("its signature does not prove its key".into()));
                }
                let bind_nonce =
                    read_nonce(&bind_nonce).ok_or_else(|| fail("a malformed bind nonce".into()))?;
                Ok(Link {
                    relay,
                    identity: identity.clone(),
                    allocation: Allocation {
                        id,
                        public: SocketAddr::new(relay.ip(), port),
                        data: SocketAddr::new(relay.ip(), data_port),
                        relay_key,
                    },
                    bind_nonce,
                    reader,
                    writer,
                })
            }
            Message::Refused { reason } => Err(fail(format!("registration refused: {reason}"))),
            other => Err(fail(format!("expected allocated, got {other:?}"))),
        }
    })
    .await
    .map_err(|_| fail(format!("no registration within {REGISTER_TIMEOUT:?}")))?
}

/// A BIND nonce in hex.
fn read_nonce(hex_nonce: &str) -> Option<[u8; frame::NONCE_LEN]> {
    hex::decode(hex_nonce).ok()?.try_into().ok()
}

impl Link {
    /// What the relay gave.
    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    /// Keeps the allocation: `send_bind` gets each BIND frame to send to the relay's data
    /// address from the server's receive socket; a ping goes on the control connection every
    /// `keepalive`. Returns when the connection ends, with why.
    pub async fn run(
        mut self,
        keepalive: Duration,
        mut send_bind: impl FnMut([u8; BIND_LEN]),
    ) -> LinkError {
        let fail = |message: String| LinkError {
            relay: self.relay,
            message,
        };
        let mut line = Vec::new();
        // Whether the relay confirmed the last BIND frame sent, and when it was sent.
        let mut confirmed = false;
        let mut told = false;
        let mut sent_at = Instant::now();
        let mut pinged_at = Instant::now();
        send_bind(frame::bind(
            &self.identity,
            self.allocation.id,
            &self.bind_nonce,
        ));
        let mut tick = tokio::time::interval(BIND_RETRY);
        loop {
            tokio::select! {
                read = read_message(&mut self.reader, &mut line) => match read {
                    Ok(Message::Bound { address, bind_nonce }) => {
                        let Some(nonce) = read_nonce(&bind_nonce) else {
                            return fail("a malformed bind nonce".into());
                        };
                        self.bind_nonce = nonce;
                        confirmed = true;
                        if !told {
                            told = true;
                            tracing::info!(relay = %self.relay, public = %self.allocation.public,
                                "relayed: the relay sees this server at {address}");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return fail(e),
                },
                _ = tick.tick() => {
                    let now = Instant::now();
                    let since = now.duration_since(sent_at);
                    // Unconfirmed, the frame was lost: again soon; confirmed, again at each
                    // keep-alive, which holds a NAT's mapping open.
                    if (!confirmed && since >= BIND_RETRY) || (confirmed && since >= keepalive) {
                        send_bind(frame::bind(&self.identity, self.allocation.id, &self.bind_nonce));
                        sent_at = now;
                        confirmed = false;
                    }
                    if now.duration_since(pinged_at) >= keepalive {
                        pinged_at = now;
                        if let Err(e) = self.writer.write_all(Message::Ping.to_line().as_bytes()).await {
                            return fail(e.to_string());
                        }
                    }
                }
            }
        }
    }
}
