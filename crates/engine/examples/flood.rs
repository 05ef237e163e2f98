//! A flood of spoofed handshakes toward a receiver on loopback: `COUNT` well-formed ClientHellos
//! (no token, each with its own connection id) from `SOURCES` addresses in 127.1.0.0/16 (every
//! address in 127.0.0.0/8 is this machine's), spread evenly over `SECONDS`. Each address sends
//! its share in segmented batches (UDP GSO), one system call per batch, so that the flood
//! itself costs this machine little CPU beside what the kernel spends carrying the datagrams;
//! a benchmark then measures the receiver rather than the flooder. Answers (Retry datagrams)
//! are counted, not followed.
//!
//! ```sh
//! cargo run --release -p jetstream-engine --example flood -- HOST:PORT SOURCES COUNT SECONDS
//! ```
//!
//! Prints `sent N datagrams (B bytes) from S sources in T s; answered with A bytes`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use jetstream_engine::identity;
use jetstream_wire::codec::{self, ConnectionId, DatagramKind, HANDSHAKE_HEADER_LEN};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::Initiator;
use quinn_udp::{Transmit, UdpSockRef, UdpSocketState};
use ring::rand::{SecureRandom, SystemRandom};

/// Datagrams one address sends in one call.
const BATCH: usize = 10;
/// Distinct hellos the flood cycles through.
const DISTINCT: usize = 64;

/// One source address of the flood.
struct Source {
    socket: UdpSocket,
    state: UdpSocketState,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [to, sources, count, seconds] => (
            to.parse::<SocketAddr>().ok(),
            sources
                .parse::<usize>()
                .ok()
                .filter(|&n| (1..=60_000).contains(&n)),
            count.parse::<usize>().ok(),
            seconds
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0),
        ),
        _ => (None, None, None, None),
    };
    let (Some(to), Some(sources), Some(count), Some(seconds)) = parsed else {
        eprintln!("usage: flood HOST:PORT SOURCES(1-60000) COUNT SECONDS");
        return ExitCode::FAILURE;
    };
    match flood(to, sources, count, Duration::from_secs_f64(seconds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flood: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flood(to: SocketAddr, sources: usize, count: usize, spread: Duration) -> std::io::Result<()> {
    let random = SystemRandom::new();
    let mut hellos = Vec::new();
    for _ in 0..DISTINCT {
        hellos.extend_from_slice(&hello(&random)?);
    }
    let len = hellos.len() / DISTINCT;
    let sources = (0..sources)
        .map(|i| {
            let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
            let socket = UdpSocket::bind((ip, 0))?;
            socket.set_nonblocking(true)?;
            let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
            Ok(Source { socket, state })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let batch = BATCH.min(sources[0].state.max_gso_segments()).max(1);
    let passes = count.div_ceil(sources.len() * batch).max(1);
    let start = Instant::now();
    let (mut sent, mut at) = (0, 0);
    'passes: for pass in 0..passes {
        for source in &sources {
            let n = batch.min(count - sent);
            if n == 0 {
                break 'passes;
            }
            let first = at % (DISTINCT - n + 1);
            at += n;
            let contents = &hellos[first * len..(first + n) * len];
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents,
                segment_size: (n > 1).then_some(len),
                src_ip: None,
            };
            // A full socket buffer drops the batch, as a congested path would.
            if source
                .state
                .try_send(UdpSockRef::from(&source.socket), &transmit)
                .is_ok()
            {
                sent += n;
            }
        }
        let due = spread.mul_f64((pass + 1) as f64 / passes as f64);
        thread::sleep(due.saturating_sub(start.elapsed()));
    }
    let elapsed = start.elapsed();
    thread::sleep(Duration::from_millis(500));
    let mut answered = 0;
    let mut buf = [0u8; 2048];
    for source in &sources {
        while let Ok(n) = source.socket.recv(&mut buf) {
            answered += n;
        }
    }
    println!(
        "sent {sent} datagrams ({} bytes) from {} sources in {:.3} s; answered with {answered} bytes",
        sent * len,
        sources.len(),
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// A ClientHello datagram with a fresh ephemeral key and connection id.
fn hello(random: &SystemRandom) -> std::io::Result<Vec<u8>> {
    let identity = identity::generate().map_err(std::io::Error::other)?;
    let (_, body) = Initiator::start(random, &identity, CipherLevel::Aes128Gcm)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let mut cid = ConnectionId::default();
    random
        .fill(&mut cid)
        .map_err(|_| std::io::Error::other("no randomness"))?;
    let mut out = vec![0u8; HANDSHAKE_HEADER_LEN + body.len()];
    let n = codec::encode_handshake(DatagramKind::ClientHello, &cid, &body, &mut out)
        .ok_or_else(|| std::io::Error::other("a ClientHello too long for a datagram"))?;
    out.truncate(n);
    Ok(out)
}
