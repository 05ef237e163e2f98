//! The datagrams between a relay and the server it relays for, on the relay's data port. Every
//! datagram a peer sends to the server's public port reaches the server as a DATA frame naming
//! that peer; every datagram the server sends a peer goes to the relay as a DATA frame naming
//! it, and leaves the public port as it was sealed. (The framing follows TURN's ChannelData
//! idea, RFC 8656 §12.4, with the peer's address in place of a channel number so that neither
//! side keeps channel state.) A BIND frame, signed with the server's identity key over a nonce
//! the relay gave it on the control connection, tells the relay where the server's datagrams
//! come from (its address as the relay sees it, through any NAT).
//!
//! ```text
//! DATA: 'D' | family (4 or 6) | port (u16 BE) | IP (4 or 16 bytes) | datagram
//! BIND: 'B' | allocation id (u64 BE) | nonce (16 bytes) | Ed25519 signature (64 bytes)
//! ```

use jetstream_wire::crypto::handshake::SIG_LEN;
use jetstream_wire::crypto::{CryptoError, Identity, PublicKey};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The first byte of a DATA frame.
pub const DATA: u8 = b'D';
/// The first byte of a BIND frame.
pub const BIND: u8 = b'B';
/// The longest DATA header (an IPv6 peer).
pub const MAX_DATA_HEADER: usize = 1 + 1 + 2 + 16;
/// Bytes of a bind nonce.
pub const NONCE_LEN: usize = 16;
/// Bytes of a BIND frame.
pub const BIND_LEN: usize = 1 + 8 + NONCE_LEN + SIG_LEN;
/// What a BIND signature is for.
const BIND_CONTEXT: &[u8] = b"jetstream relay bind v1";

/// The length of the DATA header for `peer`.
pub fn data_header_len(peer: &SocketAddr) -> usize {
    match peer.ip() {
        IpAddr::V4(_) => 1 + 1 + 2 + 4,
        IpAddr::V6(_) => MAX_DATA_HEADER,
    }
}

/// Writes the DATA header for `peer` at the start of `out` (at least
/// [`data_header_len`] long); its length.
pub fn write_data_header(peer: &SocketAddr, out: &mut [u8]) -> usize {
    out[0] = DATA;
    out[2..4].copy_from_slice(&peer.port().to_be_bytes());
    match peer.ip() {
        IpAddr::V4(ip) => {
            out[1] = 4;
            out[4..8].copy_from_slice(&ip.octets());
            8
        }
        IpAddr::V6(ip) => {
            out[1] = 6;
            out[4..20].copy_from_slice(&ip.octets());
            20
        }
    }
}

/// The peer a DATA frame names and the datagram it carries; `None` for anything else.
pub fn read_data(frame: &[u8]) -> Option<(SocketAddr, &[u8])> {
    let (&kind, rest) = frame.split_first()?;
    if kind != DATA {
        return None;
    }
    let (&family, rest) = rest.split_first()?;
    let port = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
    let rest = &rest[2..];
    let (ip, payload) = match family {
        4 => {
            let octets: [u8; 4] = rest.get(..4)?.try_into().ok()?;
            (IpAddr::V4(Ipv4Addr::from(octets)), &rest[4..])
        }
        6 => {
            let octets: [u8; 16] = rest.get(..16)?.try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(octets)), &rest[16..])
        }
        _ => return None,
    };
    Some((SocketAddr::new(ip, port), payload))
}

/// [`read_data`] of a frame the caller may change: the datagram is opened where it lies.
pub fn read_data_mut(frame: &mut [u8]) -> Option<(SocketAddr, &mut [u8])> {
    let (peer, datagram) = read_data(frame)?;
    let header = frame.len() - datagram.len();
    Some((peer, &mut frame[header..]))
}

/// `datagram` framed for `peer`, into `out` (cleared first).
pub fn frame_data(peer: &SocketAddr, datagram: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(data_header_len(peer), 0);
    write_data_header(peer, out);
    out.extend_from_slice(datagram);
}

/// A BIND frame for allocation `id` and `nonce`, signed by `identity`.
pub fn bind(identity: &Identity, id: u64, nonce: &[u8; NONCE_LEN]) -> [u8; BIND_LEN] {
    let mut frame = [0u8; BIND_LEN];
    frame[0] = BIND;
    frame[1..9].copy_from_slice(&id.to_be_bytes());
    frame[9..9 + NONCE_LEN].copy_from_slice(nonce);
    let signature = identity.sign(BIND_CONTEXT, &frame[..9 + NONCE_LEN]);
    frame[9 + NONCE_LEN..].copy_from_slice(&signature);
    frame
}

/// The allocation id and nonce of a BIND frame, unchecked: look the allocation up, then
/// [`check_bind`] it.
pub fn read_bind(frame: &[u8]) -> Option<(u64, [u8; NONCE_LEN])> {
    if frame.len() != BIND_LEN || frame[0] != BIND {
        return None;
    }
    let id = u64::from_be_bytes(frame[1..9].try_into().ok()?);
    let nonce = frame[9..9 + NONCE_LEN].try_into().ok()?;
    Some((id, nonce))
}

/// Whether `frame` (a BIND frame) was signed by `key`.
pub fn check_bind(frame: &[u8], key: &PublicKey) -> Result<(), CryptoError> {
    if frame.len() != BIND_LEN {
        return Err(CryptoError::BadSignature);
    }
    key.verify(
        BIND_CONTEXT,
        &frame[..9 + NONCE_LEN],
        &frame[9 + NONCE_LEN..],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn a_data_frame_names_its_peer_and_carries_the_datagram_unchanged() {
        for peer in [
            "192.0.2.7:8886".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:65535".parse().unwrap(),
        ] {
            let datagram = b"sealed bytes";
            let mut frame = Vec::new();
            frame_data(&peer, datagram, &mut frame);
            assert_eq!(frame.len(), data_header_len(&peer) + datagram.len());
            assert_eq!(read_data(&frame), Some((peer, &datagram[..])));
            let (named, inner) = read_data_mut(&mut frame).unwrap();
            assert_eq!((named, &*inner), (peer, &datagram[..]));
        }
        assert_eq!(read_data(b""), None);
        assert_eq!(read_data(&[DATA, 5, 0, 1]), None);
        assert_eq!(read_data(&[DATA, 4, 0, 1, 127, 0]), None);
        assert_eq!(read_data(&[BIND, 4, 0, 1, 127, 0, 0, 1]), None);
    }

    #[test]
    fn a_bind_frame_passes_only_for_its_signer_and_unaltered() {
        let rng = SystemRandom::new();
        let server = Identity::generate(&rng).unwrap();
        let other = Identity::generate(&rng).unwrap();
        let nonce = [7u8; NONCE_LEN];
        let frame = bind(&server, 42, &nonce);
        assert_eq!(read_bind(&frame), Some((42, nonce)));
        assert!(check_bind(&frame, &server.public_key()).is_ok());
        assert!(check_bind(&frame, &other.public_key()).is_err());
        let mut altered = frame;
        altered[3] ^= 1;
        assert!(check_bind(&altered, &server.public_key()).is_err());
        assert_eq!(read_bind(&frame[..BIND_LEN - 1]), None);
    }
}
