//! The authenticated key agreement: SIGMA-I over X25519, Ed25519, HKDF-SHA256 and AES-256-GCM.
//!
//! The initiator (the sender of files) and the responder (the receiver) agree on the traffic
//! secrets of a session, each proving its long-term Ed25519 identity, following the SIGMA-I
//! pattern (Krawczyk, "SIGMA: the SIGn-and-MAc approach", 2003) with identity protection, as
//! used by IKEv2 and mirrored by the TLS 1.3 key schedule. Every primitive comes from `ring`.
//!
//! # Messages
//!
//! ```text
//! ClientHello  = 0x01 ‖ version ‖ offered level ‖ e_C ‖ zero padding        (179 bytes)
//! ServerHello  = SH_head ‖ AES-256-GCM{s_hs}(aad = SH_head; S ‖ sig_S ‖ mac_S) (179 bytes)
//!   SH_head    = 0x02 ‖ version ‖ chosen level ‖ e_S
//! ClientFinish = CF_head ‖ AES-256-GCM{c_hs}(aad = CF_head; C ‖ sig_C ‖ mac_C ‖ auth)
//!   CF_head    = 0x03 ‖ version                                    (146 to 1,170 bytes)
//! ```
//!
//! `version` is 1. `e_C`, `e_S` are fresh X25519 public keys; `S`, `C` the Ed25519 identity
//! public keys; `auth` is the application's opaque payload (user name, password, token) of at
//! most 1,024 bytes. The responder chooses `max(offered, its minimum)`; the initiator refuses a
//! choice below its offer. The ClientHello is padded to the ServerHello's length so that a
//! responder never answers a spoofed datagram with more bytes than it received.
//!
//! # Key schedule
//!
//! `Expand-Label(secret, label, context)` is HKDF-SHA256 expand with a TLS 1.3 style label
//! (see `crypto::expand_label`); `H` is SHA-256.
//!
//! ```text
//! hs    = HKDF-Extract(salt = "jetstream v1 handshake", X25519(e_C, e_S))
//! th1   = H(ClientHello ‖ SH_head)
//! s_hs  = Expand-Label(hs, "s hs", th1)        c_hs = Expand-Label(hs, "c hs", th1)
//!         each gives an AES-256-GCM key "key", an IV "iv" (nonce = IV, one message per key)
//!         and an HMAC-SHA256 key "mac" (`PacketKey` derives the first two)
//! sig_S = Ed25519_S("jetstream v1 responder signature" ‖ 0x00 ‖ th1)
//! mac_S = HMAC(s_hs.mac, th1 ‖ S)
//! th2   = H(ClientHello ‖ ServerHello)
//! sig_C = Ed25519_C("jetstream v1 initiator signature" ‖ 0x00 ‖ th2)
//! mac_C = HMAC(c_hs.mac, th2 ‖ C)
//! th3   = H(ClientHello ‖ ServerHello ‖ ClientFinish)
//! c_ap  = Expand-Label(hs, "c ap", th3)        s_ap = Expand-Label(hs, "s ap", th3)
//! key update, from key phase n to n + 1 (both directions at once):
//! c_ap' = Expand-Label(c_ap, "ku", "")         s_ap' = Expand-Label(s_ap, "ku", "")
//! ```
//!
//! Each signature covers both ephemeral keys and the negotiated level (SIGMA's `SIG(g^x, g^y)`),
//! each MAC binds the signer's identity to the shared secret (SIGMA's `MAC_Km(ID)`), and the
//! identities travel encrypted (the "-I" variant: the responder reveals itself only to the
//! holder of `e_C`, the initiator only after authenticating the responder). The traffic secrets
//! depend on the whole transcript. The initiator sends with `PacketKey::new(level, c_ap)` and
//! receives with `s_ap`; the responder the other way round. Key updates carry both secrets
//! forward from there (`crypto::traffic`, and the key phases in `session::protection`).
//!
//! # Retransmissions
//!
//! Both `finish` methods take `&self`, so a retransmitted message is processed again with the
//! same outcome. ring's X25519 private key serves a single agreement, so the initiator agrees
//! with the first ServerHello that passes the plaintext checks and then refuses any ServerHello
//! carrying another ephemeral key ([`CryptoError::WrongHandshake`]). As with QUIC's Initial
//! packets, an attacker who injects a forged ServerHello first can make the handshake fail (the
//! caller then starts a new one) but cannot make it succeed.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::digest::{self, SHA256};
use ring::hkdf;
use ring::hmac;
use ring::rand::SecureRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair};

use super::aead::{CipherLevel, CryptoError, PacketKey};
use super::expand_label;
use super::traffic::TrafficSecret;

/// Protocol version carried by every handshake message.
const VERSION: u8 = 1;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CLIENT_FINISH: u8 = 3;

/// The largest `auth` payload a ClientFinish carries.
pub const MAX_AUTH_LEN: usize = 1024;
/// No handshake message is longer than this.
pub const MAX_MESSAGE_LEN: usize = 1200;

const KEY_LEN: usize = 32;
/// Bytes of an Ed25519 signature.
pub const SIG_LEN: usize = 64;
const MAC_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Identity public key ‖ signature ‖ MAC.
const PROOF_LEN: usize = KEY_LEN + SIG_LEN + MAC_LEN;
/// Type ‖ version ‖ level ‖ ephemeral key.
const HELLO_HEAD_LEN: usize = 3 + KEY_LEN;
const SERVER_HELLO_LEN: usize = HELLO_HEAD_LEN + PROOF_LEN + TAG_LEN;
/// Length of a ClientHello message.
pub const CLIENT_HELLO_LEN: usize = SERVER_HELLO_LEN;
/// Type ‖ version.
const FINISH_HEAD_LEN: usize = 2;
const FINISH_MIN_LEN: usize = FINISH_HEAD_LEN + PROOF_LEN + TAG_LEN;
const _: () = assert!(FINISH_MIN_LEN + MAX_AUTH_LEN <= MAX_MESSAGE_LEN);

const HANDSHAKE_SALT: &[u8] = b"jetstream v1 handshake";
const RESPONDER_CONTEXT: &[u8] = b"jetstream v1 responder signature";
const INITIATOR_CONTEXT: &[u8] = b"jetstream v1 initiator signature";

/// An Ed25519 identity public key. Displays (and parses) as 64 hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Checks a signature made by [`Identity::sign`] with the same `context` and `message`.
    pub fn verify(
        &self,
        context: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(&signed_data(context, message), signature)
            .map_err(|_| CryptoError::BadSignature)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = CryptoError;

    /// Parses exactly 64 hexadecimal digits (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const BAD: CryptoError = CryptoError::Malformed("public key must be 64 hex digits");
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(BAD);
        }
        let mut key = [0u8; 32];
        for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
            let nibble = |d: u8| char::from(d).to_digit(16).ok_or(BAD);
            // Two hex digits make at most 0xff, so the cast never truncates.
            *byte = (nibble(pair[0])? * 16 + nibble(pair[1])?) as u8;
        }
        Ok(PublicKey(key))
    }
}

/// A long-term Ed25519 key pair. `Debug` shows only the public key; cloning shares it.
#[derive(Clone)]
pub struct Identity {
    pkcs8: Arc<[u8]>,
    pair: Arc<Ed25519KeyPair>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh key pair.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Identity, CryptoError> {
        let document = Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| CryptoError::Rng)?;
        Identity::from_pkcs8(document.as_ref())
    }

    /// The key pair stored in `der`, a PKCS#8 v2 document as written by [`pkcs8`](Self::pkcs8).
    pub fn from_pkcs8(der: &[u8]) -> Result<Identity, CryptoError> {
        let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKey)?;
        Ok(Identity {
            pkcs8: der.into(),
            pair: Arc::new(pair),
        })
    }

    /// The PKCS#8 document to persist the key pair (it holds the private key).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public half, which peers know this identity by.
    pub fn public_key(&self) -> PublicKey {
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(key)
    }

    /// An Ed25519 signature over `context ‖ 0x00 ‖ message`: `context` names what is signed,
    /// so a signature made for one purpose never passes for another.
    pub fn sign(&self, context: &[u8], message: &[u8]) -> [u8; SIG_LEN] {
        let mut signature = [0u8; SIG_LEN];
        signature.copy_from_slice(self.pair.sign(&signed_data(context, message)).as_ref());
        signature
    }

    /// Public key ‖ signature over `context ‖ 0x00 ‖ th` ‖ MAC over `th ‖ public key`.
    fn prove(&self, keys: &HandshakeKeys, context: &[u8], th: &[u8]) -> [u8; PROOF_LEN] {
        let public = self.public_key();
        let signature = self.pair.sign(&signed_data(context, th));
        let mac = hmac::sign(&keys.mac, &mac_data(th, &public.0));
        let mut proof = [0u8; PROOF_LEN];
        proof[..KEY_LEN].copy_from_slice(&public.0);
        proof[KEY_LEN..KEY_LEN + SIG_LEN].copy_from_slice(signature.as_ref());
        proof[KEY_LEN + SIG_LEN..].copy_from_slice(mac.as_ref());
        proof
    }
}

/// Checks a proof made by [`Identity::prove`] and returns the identity it proves.
fn verify_proof(
    proof: &[u8; PROOF_LEN],
    keys: &HandshakeKeys,
    context: &[u8],
    th: &[u8],
) -> Result<PublicKey, CryptoError> {
    let (public, rest) = proof.split_at(KEY_LEN);
    let (sig, mac) = rest.split_at(SIG_LEN);
    signature::UnparsedPublicKey::new(&signature::ED25519, public)
        .verify(&signed_data(context, th), sig)
        .map_err(|_| CryptoError::BadSignature)?;
    hmac::verify(&keys.mac, &mac_data(th, public), mac).map_err(|_| CryptoError::BadMac)?;
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(public);
    Ok(PublicKey(key))
}

/// What an identity signs: `context ‖ 0x00 ‖ th`.
fn signed_data(context: &[u8], th: &[u8]) -> Vec<u8> {
    [context, &[0], th].concat()
}

/// What an identity MAC covers: `th ‖ public key`.
fn mac_data(th: &[u8], public: &[u8]) -> Vec<u8> {
    [th, public].concat()
}

/// The traffic secrets of a session, one per direction, and the level they protect at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionKeys {
    /// The negotiated cipher level, that of both directions.
    pub level: CipherLevel,
    /// Secret of the packets this side sends.
    pub send: TrafficSecret,
    /// Secret of the packets this side receives.
    pub recv: TrafficSecret,
}

impl SessionKeys {
    /// Derives both traffic secrets from the handshake secret and the final transcript hash.
    fn derive(level: CipherLevel, hs: &hkdf::Prk, th3: &[u8], initiator: bool) -> SessionKeys {
        let client = TrafficSecret::new(expand_label(hs, b"c ap", th3));
        let server = TrafficSecret::new(expand_label(hs, b"s ap", th3));
        let (send, recv) = if initiator {
            (client, server)
        } else {
            (server, client)
        };
        SessionKeys { level, send, recv }
    }

    /// The secrets of the next key phase: both directions step along their chains.
    pub fn next(&self) -> SessionKeys {
        SessionKeys {
            level: self.level,
            send: self.send.next(),
            recv: self.recv.next(),
        }
    }

    /// The key that seals what this side sends.
    pub fn send_key(&self) -> PacketKey {
        self.send.packet_key(self.level)
    }

    /// The key that opens what this side receives.
    pub fn recv_key(&self) -> PacketKey {
        self.recv.packet_key(self.level)
    }
}

/// The handshake keys of one direction: one AES-256-GCM encryption and one HMAC key.
struct HandshakeKeys {
    aead: PacketKey,
    mac: hmac::Key,
}

impl HandshakeKeys {
    /// The keys of the direction labelled `label` ("s hs" or "c hs").
    fn new(hs: &hkdf::Prk, label: &[u8], th1: &[u8]) -> HandshakeKeys {
        let secret: [u8; 32] = expand_label(hs, label, th1);
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
        HandshakeKeys {
            aead: PacketKey::new(CipherLevel::Aes256Gcm, &secret),
            mac: hmac::Key::new(hmac::HMAC_SHA256, &expand_label::<32>(&prk, b"mac", b"")),
        }
    }

    /// `head ‖ seal(plaintext)`. Each key seals one message, so the packet number is 0.
    fn seal(&self, head: &[u8], plaintext: &[&[u8]]) -> Vec<u8> {
        let mut message = [head, &plaintext.concat(), &[0; TAG_LEN]].concat();
        let payload_len = message.len() - head.len() - TAG_LEN;
        self.aead.seal(0, &mut message, head.len(), payload_len);
        message
    }

    /// The plaintext after the first `head_len` bytes of `message`.
    fn open(&self, message: &[u8], head_len: usize) -> Result<Vec<u8>, CryptoError> {
        let mut buf = message.to_vec();
        let n = self.aead.open(0, &mut buf, head_len)?;
        buf.truncate(head_len + n);
        buf.drain(..head_len);
        Ok(buf)
    }
}

/// A ClientHello or the plaintext head of a ServerHello.
struct Hello {
    level: CipherLevel,
    ephemeral: [u8; KEY_LEN],
}

/// Parses `kind ‖ version ‖ level ‖ ephemeral key` at the start of `message`.
fn parse_hello_head(message: &[u8], kind: u8, name: &'static str) -> Result<Hello, CryptoError> {
    let Some((&[found, version, level], rest)) = message.split_first_chunk::<3>() else {
        return Err(CryptoError::Malformed(name));
    };
    if found != kind {
        return Err(CryptoError::Malformed(name));
    }
    if version != VERSION {
        return Err(CryptoError::Unsupported);
    }
    let level = CipherLevel::from_u8(level).ok_or(CryptoError::Unsupported)?;
    let ephemeral = *rest.first_chunk().ok_or(CryptoError::Malformed(name))?;
    Ok(Hello { level, ephemeral })
}

/// A fresh ephemeral X25519 key pair.
fn ephemeral(rng: &dyn SecureRandom) -> Result<(EphemeralPrivateKey, [u8; KEY_LEN]), CryptoError> {
    let private = EphemeralPrivateKey::generate(&X25519, rng).map_err(|_| CryptoError::Rng)?;
    let public = private.compute_public_key().map_err(|_| CryptoError::Rng)?;
    let mut bytes = [0u8; KEY_LEN];
    bytes.copy_from_slice(public.as_ref());
    Ok((private, bytes))
}

/// `hs`: HKDF-Extract of the X25519 shared secret with the handshake salt.
fn agree(private: EphemeralPrivateKey, peer: &[u8; KEY_LEN]) -> Result<hkdf::Prk, CryptoError> {
    agreement::agree_ephemeral(private, &UnparsedPublicKey::new(&X25519, peer), |dh| {
        hkdf::Salt::new(hkdf::HKDF_SHA256, HANDSHAKE_SALT).extract(dh)
    })
    .map_err(|_| CryptoError::InvalidKey)
}

/// SHA-256 of the concatenation of `parts`.
fn transcript(parts: &[&[u8]]) -> digest::Context {
    let mut context = digest::Context::new(&SHA256);
    parts.iter().for_each(|part| context.update(part));
    context
}

/// Where the initiator's Diffie-Hellman stands. ring consumes an ephemeral private key in its
/// one agreement, so the initiator agrees with the first ServerHello ephemeral key it is given
/// and keeps the result to process retransmissions of that ServerHello.
enum DhState {
    Pending(EphemeralPrivateKey),
    Agreed {
        server_ephemeral: [u8; KEY_LEN],
        hs: hkdf::Prk,
        /// The `auth` sealed into the ClientFinish, once one was produced.
        auth: Option<Vec<u8>>,
    },
    /// The agreement failed: the ServerHello carried an unusable key.
    Failed,
}

/// The initiator's side of a handshake, between its ClientHello and the ServerHello.
pub struct Initiator {
    /// Boxed: key schedules are large, and the state is moved around by its owner.
    state: Box<InitiatorState>,
}

/// What an [`Initiator`] remembers.
struct InitiatorState {
    identity: Identity,
    offered: CipherLevel,
    client_hello: [u8; CLIENT_HELLO_LEN],
    dh: Mutex<DhState>,
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator")
            .field("identity", &self.state.identity.public_key())
            .field("offered", &self.state.offered)
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Starts a handshake offering `offered`; returns the state and the ClientHello to send.
    pub fn start(
        rng: &dyn SecureRandom,
        identity: &Identity,
        offered: CipherLevel,
    ) -> Result<(Initiator, Vec<u8>), CryptoError> {
        let (private, public) = ephemeral(rng)?;
        let mut client_hello = [0u8; CLIENT_HELLO_LEN];
        client_hello[..3].copy_from_slice(&[CLIENT_HELLO, VERSION, offered as u8]);
        client_hello[3..HELLO_HEAD_LEN].copy_from_slice(&public);
        let initiator = Initiator {
            state: Box::new(InitiatorState {
                identity: identity.clone(),
                offered,
                client_hello,
                dh: Mutex::new(DhState::Pending(private)),
            }),
        };
        Ok((initiator, client_hello.to_vec()))
    }

    /// Checks the server's signature and MAC; if `expected` is Some and differs from the
    /// server's identity → `Err(CryptoError::KeyMismatch)`. Returns keys, the server identity
    /// and the ClientFinish bytes carrying `auth` (≤ 1,024 bytes, else
    /// [`CryptoError::AuthTooLong`]).
    ///
    /// The first ServerHello that gets past its plaintext checks fixes the server's ephemeral
    /// key: a ServerHello with another one then gives [`CryptoError::WrongHandshake`]. Calling
    /// again with the same ServerHello and `auth` returns the same ClientFinish (for
    /// retransmission); another `auth` gives [`CryptoError::AuthChanged`].
    pub fn finish(
        &self,
        server_hello: &[u8],
        expected: Option<&PublicKey>,
        auth: &[u8],
    ) -> Result<(SessionKeys, PublicKey, Vec<u8>), CryptoError> {
        if auth.len() > MAX_AUTH_LEN {
            return Err(CryptoError::AuthTooLong(auth.len()));
        }
        if server_hello.len() != SERVER_HELLO_LEN {
            return Err(CryptoError::Malformed("ServerHello length"));
        }
        let hello = parse_hello_head(server_hello, SERVER_HELLO, "not a ServerHello")?;
        if hello.level < self.state.offered {
            return Err(CryptoError::Unsupported);
        }
        let hs = self.handshake_secret(&hello.ephemeral)?;

        let head = &server_hello[..HELLO_HEAD_LEN];
        let th1 = transcript(&[&self.state.client_hello, head]).finish();
        let server_keys = HandshakeKeys::new(&hs, b"s hs", th1.as_ref());
        let proof = server_keys.open(server_hello, HELLO_HEAD_LEN)?;
        let proof = proof
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed("ServerHello proof length"))?;
        let server = verify_proof(proof, &server_keys, RESPONDER_CONTEXT, th1.as_ref())?;
        if expected.is_some_and(|key| *key != server) {
            return Err(CryptoError::KeyMismatch);
        }
        self.record_auth(auth)?;

        let mut th = transcript(&[&self.state.client_hello, server_hello]);
        let client_keys = HandshakeKeys::new(&hs, b"c hs", th1.as_ref());
        let proof = self.state.identity.prove(
            &client_keys,
            INITIATOR_CONTEXT,
            th.clone().finish().as_ref(),
        );
        let client_finish = client_keys.seal(&[CLIENT_FINISH, VERSION], &[&proof, auth]);
        th.update(&client_finish);
        let keys = SessionKeys::derive(hello.level, &hs, th.finish().as_ref(), true);
        Ok((keys, server, client_finish))
    }

    /// `hs` for the server ephemeral key `server_ephemeral`, agreeing on first use.
    fn handshake_secret(&self, server_ephemeral: &[u8; KEY_LEN]) -> Result<hkdf::Prk, CryptoError> {
        let mut dh = self.state.dh.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *dh, DhState::Failed) {
            DhState::Pending(private) => {
                let hs = agree(private, server_ephemeral)?;
                *dh = DhState::Agreed {
                    server_ephemeral: *server_ephemeral,
                    hs: hs.clone(),
                    auth: None,
                };
                Ok(hs)
            }
            state => {
                let result = match &state {
                    DhState::Agreed {
                        server_ephemeral: agreed,
                        hs,
                        ..
                    } if agreed == server_ephemeral => Ok(hs.clone()),
                    _ => Err(CryptoError::WrongHandshake),
                };
                *dh = state;
                result
            }
        }
    }

    /// Remembers the `auth` about to be sealed, refusing one that differs from an earlier one:
    /// the ClientFinish key and nonce are fixed by the ServerHello, so sealing another
    /// plaintext under them would reuse a nonce.
    fn record_auth(&self, auth: &[u8]) -> Result<(), CryptoError> {
        let mut dh = self.state.dh.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *dh {
            DhState::Agreed {
                auth: Some(sealed), ..
            } if sealed.as_slice() != auth => Err(CryptoError::AuthChanged),
            DhState::Agreed { auth: recorded, .. } => {
                *recorded = Some(auth.to_vec());
                Ok(())
            }
            DhState::Pending(_) | DhState::Failed => Err(CryptoError::WrongHandshake),
        }
    }
}

/// The responder's side of a handshake, between its ServerHello and the ClientFinish.
///
/// Keep one per handshake and resend its ServerHello when the ClientHello is retransmitted:
/// a second `accept` picks a new ephemeral key, which the initiator refuses once it has
/// processed the first ServerHello.
pub struct Responder {
    /// Boxed: key schedules are large, and the state is moved around by its owner.
    state: Box<ResponderState>,
}

/// What a [`Responder`] remembers.
struct ResponderState {
    level: CipherLevel,
    hs: hkdf::Prk,
    /// Transcript of ClientHello ‖ ServerHello.
    transcript: digest::Context,
    client_keys: HandshakeKeys,
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("level", &self.state.level)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// Answers a ClientHello. `min_level` is the responder's own minimum cipher level; the
    /// session runs at `max(offered, min_level)`. Returns the state and the ServerHello.
    pub fn accept(
        rng: &dyn SecureRandom,
        identity: &Identity,
        client_hello: &[u8],
        min_level: CipherLevel,
    ) -> Result<(Responder, Vec<u8>), CryptoError> {
        if client_hello.len() != CLIENT_HELLO_LEN {
            return Err(CryptoError::Malformed("ClientHello length"));
        }
        let hello = parse_hello_head(client_hello, CLIENT_HELLO, "not a ClientHello")?;
        if client_hello[HELLO_HEAD_LEN..].iter().any(|&b| b != 0) {
            return Err(CryptoError::Malformed("ClientHello padding"));
        }
        let level = hello.level.max(min_level);
        let (private, public) = ephemeral(rng)?;
        let hs = agree(private, &hello.ephemeral)?;

        let mut head = [0u8; HELLO_HEAD_LEN];
        head[..3].copy_from_slice(&[SERVER_HELLO, VERSION, level as u8]);
        head[3..].copy_from_slice(&public);
        let th1 = transcript(&[client_hello, &head]).finish();
        let server_keys = HandshakeKeys::new(&hs, b"s hs", th1.as_ref());
        let proof = identity.prove(&server_keys, RESPONDER_CONTEXT, th1.as_ref());
        let server_hello = server_keys.seal(&head, &[&proof]);

        let responder = Responder {
            state: Box::new(ResponderState {
                level,
                client_keys: HandshakeKeys::new(&hs, b"c hs", th1.as_ref()),
                hs,
                transcript: transcript(&[client_hello, &server_hello]),
            }),
        };
        Ok((responder, server_hello))
    }

    /// Checks a ClientFinish; returns keys, the client identity and the decrypted `auth`.
    /// Deciding whether that identity and `auth` are welcome is the caller's business.
    pub fn finish(
        &self,
        client_finish: &[u8],
    ) -> Result<(SessionKeys, PublicKey, Vec<u8>), CryptoError> {
        if !(FINISH_MIN_LEN..=FINISH_MIN_LEN + MAX_AUTH_LEN).contains(&client_finish.len()) {
            return Err(CryptoError::Malformed("ClientFinish length"));
        }
        match client_finish[..FINISH_HEAD_LEN] {
            [CLIENT_FINISH, VERSION] => {}
            [CLIENT_FINISH, _] => return Err(CryptoError::Unsupported),
            _ => return Err(CryptoError::Malformed("not a ClientFinish")),
        }
        let mut plaintext = self
            .state
            .client_keys
            .open(client_finish, FINISH_HEAD_LEN)?;
        let auth = plaintext.split_off(PROOF_LEN);
        let proof = plaintext
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed("ClientFinish proof length"))?;
        let th2 = self.state.transcript.clone().finish();
        let client = verify_proof(
            proof,
            &self.state.client_keys,
            INITIATOR_CONTEXT,
            th2.as_ref(),
        )?;

        let mut th = self.state.transcript.clone();
        th.update(client_finish);
        let keys = SessionKeys::derive(
            self.state.level,
            &self.state.hs,
            th.finish().as_ref(),
            false,
        );
        Ok((keys, client, auth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ring::rand::SystemRandom;

    const LEVELS: [CipherLevel; 4] = CipherLevel::ALL;

    fn identity() -> Identity {
        Identity::generate(&SystemRandom::new()).expect("identity")
    }

    /// Both sides of a handshake up to (not including) the ClientFinish.
    struct Started {
        client: Identity,
        server: Identity,
        initiator: Initiator,
        responder: Responder,
        client_hello: Vec<u8>,
        server_hello: Vec<u8>,
    }

    fn start(offered: CipherLevel, min_level: CipherLevel) -> Started {
        let rng = SystemRandom::new();
        let (client, server) = (identity(), identity());
        let (initiator, client_hello) = Initiator::start(&rng, &client, offered).expect("start");
        let (responder, server_hello) =
            Responder::accept(&rng, &server, &client_hello, min_level).expect("accept");
        Started {
            client,
            server,
            initiator,
            responder,
            client_hello,
            server_hello,
        }
    }

    /// Seals a packet with `send` and checks `recv` opens it to the same payload.
    fn assert_pair(send: &PacketKey, recv: &PacketKey) {
        let payload = b"file bytes travelling one way".to_vec();
        let mut buf = [&[7u8; 17][..], &payload, &[0; 16]].concat();
        let n = send.seal(42, &mut buf, 17, payload.len());
        buf.truncate(n);
        assert_eq!(recv.open(42, &mut buf, 17), Ok(payload.len()));
        assert_eq!(&buf[17..17 + payload.len()], &payload[..]);
    }

    fn flip(message: &[u8], bit: usize) -> Vec<u8> {
        let mut flipped = message.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        flipped
    }

    #[test]
    fn full_handshake_at_every_level_protects_both_directions() {
        for offered in LEVELS {
            for min_level in LEVELS {
                let s = start(offered, min_level);
                let auth = b"user:alice token:xyz";
                let (client_keys, server_id, finish) = s
                    .initiator
                    .finish(&s.server_hello, Some(&s.server.public_key()), auth)
                    .expect("initiator finish");
                let (server_keys, client_id, got_auth) =
                    s.responder.finish(&finish).expect("responder finish");

                let level = offered.max(min_level);
                assert_eq!((client_keys.level, server_keys.level), (level, level));
                assert_eq!(client_keys.send_key().level(), level);
                assert_eq!(server_keys.recv_key().level(), level);
                assert_eq!(server_id, s.server.public_key());
                assert_eq!(client_id, s.client.public_key());
                assert_eq!(got_auth, auth);
                assert_pair(&client_keys.send_key(), &server_keys.recv_key());
                assert_pair(&server_keys.send_key(), &client_keys.recv_key());
            }
        }
    }

    #[test]
    fn the_two_directions_use_different_keys() {
        let s = start(CipherLevel::Aes256Gcm, CipherLevel::None);
        let (keys, _, _) = s
            .initiator
            .finish(&s.server_hello, None, b"")
            .expect("finish");
        let mut buf = [&[1u8; 17][..], &[2; 32], &[0; 16]].concat();
        let n = keys.send_key().seal(1, &mut buf, 17, 32);
        assert_eq!(
            keys.recv_key().open(1, &mut buf[..n], 17),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn both_sides_keep_matching_keys_through_updates_and_never_reuse_a_phase() {
        let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        let (mut client, _, finish) = s
            .initiator
            .finish(&s.server_hello, None, b"")
            .expect("initiator finish");
        let (mut server, _, _) = s.responder.finish(&finish).expect("responder finish");
        let first = client.clone();
        for phase in 1..=25 {
            client = client.next();
            server = server.next();
            assert_eq!(client.send, server.recv, "phase {phase}");
            assert_eq!(client.recv, server.send, "phase {phase}");
            assert_ne!(client.send, client.recv, "phase {phase}");
            assert_pair(&client.send_key(), &server.recv_key());
            assert_pair(&server.send_key(), &client.recv_key());
        }
        let mut buf = [&[1u8; 17][..], &[2; 32], &[0; 16]].concat();
        let n = first.send_key().seal(1, &mut buf, 17, 32);
        assert_eq!(
            server.recv_key().open(1, &mut buf[..n], 17),
            Err(CryptoError::Decrypt),
            "a key of phase 0 does not open at phase 25"
        );
    }

    #[test]
    fn messages_fit_and_auth_is_bounded() {
        let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        assert!(s.client_hello.len() <= MAX_MESSAGE_LEN);
        assert_eq!(s.server_hello.len(), SERVER_HELLO_LEN);
        assert!(
            s.client_hello.len() >= s.server_hello.len(),
            "no amplification"
        );
        assert_eq!(
            s.initiator
                .finish(&s.server_hello, None, &[0; MAX_AUTH_LEN + 1])
                .err(),
            Some(CryptoError::AuthTooLong(MAX_AUTH_LEN + 1))
        );
        let auth = [0xa5; MAX_AUTH_LEN];
        let (_, _, finish) = s
            .initiator
            .finish(&s.server_hello, None, &auth)
            .expect("finish");
        assert!(finish.len() <= MAX_MESSAGE_LEN);
        let (_, _, got) = s.responder.finish(&finish).expect("responder finish");
        assert_eq!(got, auth);
    }

    #[test]
    fn an_unexpected_server_identity_is_refused() {
        let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        let other = identity().public_key();
        assert_eq!(
            s.initiator.finish(&s.server_hello, Some(&other), b"").err(),
            Some(CryptoError::KeyMismatch)
        );
        let expected = s.server.public_key();
        assert!(s
            .initiator
            .finish(&s.server_hello, Some(&expected), b"")
            .is_ok());
    }

    #[test]
    fn a_client_finish_replayed_into_another_handshake_fails() {
        let first = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        let (_, _, finish) = first
            .initiator
            .finish(&first.server_hello, None, b"secret")
            .expect("finish");
        let second = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        assert_eq!(
            second.responder.finish(&finish).err(),
            Some(CryptoError::Decrypt)
        );
    }

    #[test]
    fn retransmissions_are_processed_again() {
        let s = start(CipherLevel::Aes256Gcm, CipherLevel::None);
        let (keys_a, _, finish_a) = s.initiator.finish(&s.server_hello, None, b"a").expect("a");
        let (keys_b, _, finish_b) = s.initiator.finish(&s.server_hello, None, b"a").expect("b");
        assert_eq!(finish_a, finish_b);
        assert_pair(&keys_a.send_key(), &keys_b.send_key());
        assert_eq!(
            s.initiator.finish(&s.server_hello, None, b"other").err(),
            Some(CryptoError::AuthChanged)
        );
        let (server_a, _, _) = s.responder.finish(&finish_a).expect("responder a");
        let (server_b, _, _) = s.responder.finish(&finish_a).expect("responder b");
        assert_pair(&keys_a.send_key(), &server_a.recv_key());
        assert_pair(&server_b.send_key(), &keys_b.recv_key());
    }

    #[test]
    fn a_server_hello_from_another_responder_is_refused_after_the_first() {
        let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        s.initiator
            .finish(&s.server_hello, None, b"")
            .expect("finish");
        let (_, second_hello) = Responder::accept(
            &SystemRandom::new(),
            &s.server,
            &s.client_hello,
            CipherLevel::None,
        )
        .expect("accept");
        assert_eq!(
            s.initiator.finish(&second_hello, None, b"").err(),
            Some(CryptoError::WrongHandshake)
        );
    }

    #[test]
    fn a_level_below_the_offer_is_refused() {
        let s = start(CipherLevel::Aes256Gcm, CipherLevel::None);
        let mut downgraded = s.server_hello.clone();
        downgraded[2] = CipherLevel::Aes128Gcm as u8;
        assert_eq!(
            s.initiator.finish(&downgraded, None, b"").err(),
            Some(CryptoError::Unsupported)
        );
    }

    #[test]
    fn every_bit_flip_of_the_client_hello_is_rejected() {
        let rng = SystemRandom::new();
        let (client, server) = (identity(), identity());
        let (_, hello) = Initiator::start(&rng, &client, CipherLevel::Aes128Gcm).expect("start");
        for bit in 0..hello.len() * 8 {
            // Fresh initiator per flip: a flip in the ephemeral key or the level can only be
            // caught by the initiator, through the transcript.
            let (initiator, hello) =
                Initiator::start(&rng, &client, CipherLevel::Aes128Gcm).expect("start");
            let flipped = flip(&hello, bit);
            if let Ok((_, server_hello)) =
                Responder::accept(&rng, &server, &flipped, CipherLevel::None)
            {
                assert!(
                    initiator.finish(&server_hello, None, b"").is_err(),
                    "bit {bit} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn every_bit_flip_of_the_server_hello_is_rejected() {
        let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        for bit in 0..s.server_hello.len() * 8 {
            let flipped = flip(&s.server_hello, bit);
            assert!(
                s.initiator.finish(&flipped, None, b"").is_err(),
                "bit {bit}"
            );
        }
        // The rejections left the handshake usable.
        let (_, _, finish) = s
            .initiator
            .finish(&s.server_hello, None, b"")
            .expect("finish");
        assert!(s.responder.finish(&finish).is_ok());
    }

    #[test]
    fn every_bit_flip_of_the_server_ephemeral_key_is_rejected_by_a_fresh_initiator() {
        for bit in 3 * 8..HELLO_HEAD_LEN * 8 {
            let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
            let flipped = flip(&s.server_hello, bit);
            assert!(
                s.initiator.finish(&flipped, None, b"").is_err(),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn every_bit_flip_of_the_client_finish_is_rejected() {
        let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
        let (_, _, finish) = s
            .initiator
            .finish(&s.server_hello, None, b"user:bob")
            .expect("finish");
        for bit in 0..finish.len() * 8 {
            assert!(
                s.responder.finish(&flip(&finish, bit)).is_err(),
                "bit {bit}"
            );
        }
        assert!(s.responder.finish(&finish).is_ok());
    }

    #[test]
    fn identities_persist_and_print_as_hex() {
        let id = identity();
        let again = Identity::from_pkcs8(id.pkcs8()).expect("reload");
        assert_eq!(again.public_key(), id.public_key());
        let hex = id.public_key().to_string();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(format!("{:?}", id.public_key()), hex);
        assert_eq!(
            format!("{id:?}"),
            format!("Identity {{ public_key: {hex}, .. }}")
        );
        assert_eq!(
            Identity::from_pkcs8(b"not a key").err(),
            Some(CryptoError::InvalidKey)
        );
    }

    #[test]
    fn public_keys_parse_only_64_hex_digits() {
        let key = PublicKey([0xab; 32]);
        assert_eq!("ab".repeat(32).parse(), Ok(key));
        assert_eq!("AB".repeat(32).parse(), Ok(key));
        for bad in [
            "ab".repeat(31),
            "ab".repeat(33),
            format!("+b{}", "ab".repeat(31)),
            format!("zz{}", "ab".repeat(31)),
            format!("é{}", "a".repeat(62)),
        ] {
            assert!(matches!(
                bad.parse::<PublicKey>(),
                Err(CryptoError::Malformed(_))
            ));
        }
    }

    proptest! {
        #[test]
        fn public_key_display_round_trips(bytes in any::<[u8; 32]>()) {
            let key = PublicKey(bytes);
            prop_assert_eq!(key.to_string().parse::<PublicKey>(), Ok(key));
        }

        #[test]
        fn random_bytes_as_any_message_are_rejected(
            bytes in prop::collection::vec(any::<u8>(), 0..1300),
        ) {
            let rng = SystemRandom::new();
            let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
            let hello_shaped = bytes.len() == CLIENT_HELLO_LEN
                && bytes[..2] == [CLIENT_HELLO, VERSION]
                && bytes[2] <= 3
                && bytes[HELLO_HEAD_LEN..].iter().all(|&b| b == 0);
            if !hello_shaped {
                prop_assert!(Responder::accept(&rng, &s.server, &bytes, CipherLevel::None).is_err());
            }
            prop_assert!(s.initiator.finish(&bytes, None, b"").is_err());
            prop_assert!(s.responder.finish(&bytes).is_err());
        }

        #[test]
        fn random_bodies_with_valid_heads_are_rejected(
            body in prop::collection::vec(any::<u8>(), SERVER_HELLO_LEN..=SERVER_HELLO_LEN),
            finish_len in FINISH_MIN_LEN..=FINISH_MIN_LEN + MAX_AUTH_LEN,
        ) {
            let s = start(CipherLevel::Aes128Gcm, CipherLevel::None);
            let mut server_hello = body.clone();
            server_hello[..3].copy_from_slice(&[SERVER_HELLO, VERSION, 3]);
            prop_assert!(s.initiator.finish(&server_hello, None, b"").is_err());
            let mut finish: Vec<u8> = body.iter().copied().cycle().take(finish_len).collect();
            finish[..2].copy_from_slice(&[CLIENT_FINISH, VERSION]);
            prop_assert_eq!(s.responder.finish(&finish).err(), Some(CryptoError::Decrypt));
        }
    }
}
