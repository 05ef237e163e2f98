//! A receiver's endpoint against spoofed and forged handshakes on loopback. Every address in
//! 127.0.0.0/8 is this machine's, so sockets bound to a thousand of them stand for a thousand
//! spoofed sources whose answers can still be counted: a quiet receiver admits a few new
//! senders at once, a busy one asks each to prove its address with a Retry first; a flood of
//! spoofed ClientHellos costs the receiver no more key agreements than a quiet receiver's few
//! while a real transfer goes through, and no datagram from an address the receiver has not
//! validated draws more than three times its size, to that address or to anyone else.

use jetstream_engine::admission::{
    AdmissionCounters, QUIET_HALF_OPEN, RETRIES_PER_ADDRESS_PER_SECOND, RETRY_LEN,
};
use jetstream_engine::clients::Clients;
use jetstream_engine::error::Error;
use jetstream_engine::identity;
use jetstream_engine::overwrite::OverwriteLimit;
use jetstream_engine::receive::{ReceiveEvent, ReceiveOptions, Receiver};
use jetstream_engine::send::{self, SendOptions};
use jetstream_engine::walk::{walk, SymlinkPolicy, WalkOptions};
use jetstream_wire::codec::{
    self, ConnectionId, DatagramKind, CID_LEN, HANDSHAKE_HEADER_LEN, PROTECTED_HEADER_LEN,
};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::{Initiator, CLIENT_HELLO_LEN};
use jetstream_wire::crypto::token::TOKEN_LEN;
use jetstream_wire::session::ReceiverStats;
use rand::{RngCore, SeedableRng};
use ring::rand::SystemRandom;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A receiver on loopback serving until a session completes; its admission counters, live.
struct TestReceiver {
    addr: SocketAddr,
    counters: Arc<AdmissionCounters>,
    task: tokio::task::JoinHandle<Result<ReceiverStats, Error>>,
}

fn start_receiver(root: &Path, clients: Clients) -> TestReceiver {
    let opts = ReceiveOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.to_path_buf(),
        min_cipher: CipherLevel::Aes128Gcm,
        idle_timeout: Duration::from_secs(10),
        clients,
        authorized_keys: None,
        max_overwrite: OverwriteLimit::Never,
        discard: false,
        accounts: false,
        part_file_max_age: None,
    };
    let mut receiver = Receiver::bind(identity::generate().unwrap(), opts).unwrap();
    let addr = receiver.local_addr();
    let counters = receiver.admission_counters();
    let task = tokio::spawn(async move {
        let mut outcome = None;
        receiver
            .run(&mut |event| match event {
                ReceiveEvent::Finished {
                    result: Ok(stats), ..
                } => {
                    outcome = Some(stats);
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            })
            .await?;
        Ok(outcome.expect("ran until a session completed"))
    });
    TestReceiver {
        addr,
        counters,
        task,
    }
}

/// A well-formed ClientHello message (a fresh ephemeral key each call).
fn client_hello() -> Vec<u8> {
    let identity = identity::generate().unwrap();
    let (_, hello) = Initiator::start(&SystemRandom::new(), &identity, CipherLevel::Aes128Gcm)
        .expect("a ClientHello");
    hello
}

/// A handshake datagram of `kind` for `cid` carrying `body`.
fn handshake(kind: DatagramKind, cid: &ConnectionId, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; HANDSHAKE_HEADER_LEN + body.len()];
    let n = codec::encode_handshake(kind, cid, body, &mut out).unwrap();
    out.truncate(n);
    out
}

/// A socket bound to `ip` that counts the bytes it sends and receives.
struct Probe {
    socket: UdpSocket,
    sent: usize,
    received: usize,
}

impl Probe {
    fn bind(ip: Ipv4Addr) -> Probe {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        Probe {
            socket,
            sent: 0,
            received: 0,
        }
    }

    fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        self.sent += self.socket.send_to(datagram, to).unwrap();
    }

    /// The next datagram within the read timeout, if any.
    fn recv(&mut self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 2048];
        let (n, _) = self.socket.recv_from(&mut buf).ok()?;
        self.received += n;
        Some(buf[..n].to_vec())
    }

    /// Everything that arrives until the socket has been quiet for the read timeout.
    fn drain(&mut self) -> usize {
        let before = self.received;
        while self.recv().is_some() {}
        self.received - before
    }
}

/// Opens [`QUIET_HALF_OPEN`] handshakes from as many addresses in 127.0.2.0/24, which a quiet
/// receiver admits without a Retry, each answered by a ServerHello no longer than its
/// ClientHello: the receiver is busy from then on. Returns the probes, to keep the handshakes.
fn fill_half_open(rx: &TestReceiver) -> Vec<Probe> {
    (0..QUIET_HALF_OPEN)
        .map(|i| {
            let mut probe = Probe::bind(Ipv4Addr::new(127, 0, 2, 1 + i as u8));
            let cid = [0x70 + i as u8; CID_LEN];
            let hello = handshake(DatagramKind::ClientHello, &cid, &client_hello());
            probe.send(rx.addr, &hello);
            let answer = probe.recv().expect("a ServerHello");
            assert_eq!(answer[0], DatagramKind::ServerHello as u8, "{i}");
            assert!(answer.len() <= hello.len());
            probe
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_receiver_admits_new_senders_at_once_and_asks_for_proof_once_busy() {
    let root = tempfile::tempdir().unwrap();
    let rx = start_receiver(root.path(), Clients::any());
    let _open = fill_half_open(&rx);
    let counters = &rx.counters;
    assert_eq!(counters.admitted.load(Ordering::Relaxed), 4);
    assert_eq!(counters.admitted_unproven.load(Ordering::Relaxed), 4);
    assert_eq!(counters.retries.load(Ordering::Relaxed), 0);
    // Busy now: a new address, and one of those with a handshake open, get a Retry.
    for ip in [Ipv4Addr::new(127, 0, 3, 1), Ipv4Addr::new(127, 0, 2, 1)] {
        let mut probe = Probe::bind(ip);
        probe.send(
            rx.addr,
            &handshake(DatagramKind::ClientHello, &[0x11; CID_LEN], &client_hello()),
        );
        let answer = probe.recv().expect("an answer");
        assert_eq!(answer.len(), RETRY_LEN, "{ip}");
        assert_eq!(answer[0], DatagramKind::Retry as u8, "{ip}");
    }
    assert_eq!(counters.admitted.load(Ordering::Relaxed), 4);
    assert_eq!(counters.retries.load(Ordering::Relaxed), 2);
    rx.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_datagram_from_an_unvalidated_address_draws_more_than_three_times_its_bytes() {
    let root = tempfile::tempdir().unwrap();
    let rx = start_receiver(root.path(), Clients::any());
    // A busy receiver: every new address is asked to prove itself.
    let _open = fill_half_open(&rx);
    let mut victim = Probe::bind(Ipv4Addr::new(127, 0, 0, 1));
    let mut attacker = Probe::bind(Ipv4Addr::new(127, 0, 0, 2));
    let cid: ConnectionId = [0x5a; CID_LEN];
    let hello = client_hello();

    // The victim's honest handshake, up to the ServerHello: a Retry first, then the answer to
    // the ClientHello that carries its token.
    victim.send(rx.addr, &handshake(DatagramKind::ClientHello, &cid, &hello));
    let retry = victim.recv().expect("a Retry");
    assert_eq!(retry.len(), RETRY_LEN);
    assert!(victim.received <= 3 * victim.sent);
    let token = &retry[HANDSHAKE_HEADER_LEN..];
    let with_token = handshake(
        DatagramKind::ClientHello,
        &cid,
        &[&hello[..], token].concat(),
    );
    victim.send(rx.addr, &with_token);
    let server_hello = victim.recv().expect("a ServerHello");
    assert_eq!(server_hello[0], DatagramKind::ServerHello as u8);
    let victim_before = victim.received;

    // Everything an attacker at another address can send about that session, or to start one.
    let stolen = handshake(
        DatagramKind::ClientHello,
        &[0x33; CID_LEN],
        &[&hello[..], token].concat(),
    );
    let mut junk = vec![
        with_token.clone(),
        with_token[..HANDSHAKE_HEADER_LEN].to_vec(),
        handshake(DatagramKind::ClientHello, &cid, &hello),
        handshake(DatagramKind::ClientFinish, &cid, &[7; 200]),
        stolen,
        handshake(DatagramKind::ClientHello, &[0x44; CID_LEN], &hello),
        handshake(
            DatagramKind::ClientHello,
            &[0x45; CID_LEN],
            &[&hello[..], &[9; TOKEN_LEN]].concat(),
        ),
        handshake(DatagramKind::ServerHello, &[0x46; CID_LEN], &[1; 189]),
        handshake(DatagramKind::Retry, &cid, &[1; TOKEN_LEN]),
    ];
    let mut protected = vec![0u8; PROTECTED_HEADER_LEN + 64];
    codec::encode_protected_header(&cid, 0, false, &mut protected);
    junk.push(protected);
    for _ in 0..5 {
        for datagram in &junk {
            attacker.send(rx.addr, datagram);
        }
    }
    attacker.drain();
    assert!(attacker.sent > 0);
    assert!(
        attacker.received <= 3 * attacker.sent,
        "{} bytes answered to {} sent",
        attacker.received,
        attacker.sent
    );
    assert_eq!(
        victim.drain(),
        0,
        "the attacker made the receiver send to the victim"
    );

    // The victim itself: a bare header draws nothing; its whole ClientHello again draws one
    // ServerHello, no longer than what it sent.
    victim.send(rx.addr, &with_token[..HANDSHAKE_HEADER_LEN]);
    assert_eq!(victim.drain(), 0);
    victim.send(rx.addr, &with_token);
    assert_eq!(victim.drain(), server_hello.len());
    assert!(victim.received - victim_before <= with_token.len());
    assert_eq!(
        rx.counters.admitted.load(Ordering::Relaxed),
        1 + QUIET_HALF_OPEN as u64
    );
    rx.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_draws_a_few_retries_a_second_however_many_hellos_it_sends() {
    let root = tempfile::tempdir().unwrap();
    let rx = start_receiver(root.path(), Clients::any());
    let mut flooder = Probe::bind(Ipv4Addr::new(127, 0, 0, 3));
    let hello = client_hello();
    for n in 0..200u8 {
        flooder.send(
            rx.addr,
            &handshake(DatagramKind::ClientHello, &[n; CID_LEN], &hello),
        );
    }
    // The first opens a handshake on the quiet receiver; the address has one open from then
    // on, and the others are asked for proof.
    let (mut server_hellos, mut retries) = (0, 0);
    while let Some(answer) = flooder.recv() {
        match answer[0] {
            k if k == DatagramKind::ServerHello as u8 => server_hellos += 1,
            k if k == DatagramKind::Retry as u8 => retries += 1,
            other => panic!("a datagram of kind {other}"),
        }
    }
    assert_eq!(server_hellos, 1);
    // The hellos may straddle the start of a second: two seconds' worth at most.
    assert!(retries >= 1, "no Retry at all");
    assert!(
        retries <= usize::from(2 * RETRIES_PER_ADDRESS_PER_SECOND),
        "{retries} Retries"
    );
    let withheld = rx.counters.retries_withheld.load(Ordering::Relaxed);
    assert_eq!(withheld as usize + retries, 199);
    rx.task.abort();
}

/// Sends `count` ClientHellos (a tenth with a forged token) from each of `sources` addresses
/// in 127.1.0.0/16, keeping the sockets to count what comes back; returns them.
fn flood(to: SocketAddr, sources: usize, count: usize) -> Vec<Probe> {
    let hello = client_hello();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut probes = Vec::with_capacity(sources);
    for i in 0..sources {
        let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
        let mut probe = Probe::bind(ip);
        probe.socket.set_nonblocking(true).unwrap();
        for n in 0..count {
            let mut cid = [0u8; CID_LEN];
            rng.fill_bytes(&mut cid);
            let datagram = if n % 10 == 0 {
                let mut token = [0u8; TOKEN_LEN];
                rng.fill_bytes(&mut token);
                handshake(
                    DatagramKind::ClientHello,
                    &cid,
                    &[&hello[..], &token].concat(),
                )
            } else {
                handshake(DatagramKind::ClientHello, &cid, &hello)
            };
            // A full socket buffer drops the datagram, as a congested path would.
            if let Ok(n) = probe.socket.send_to(&datagram, to) {
                probe.sent += n;
            }
        }
        probes.push(probe);
    }
    probes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_spoofed_hellos_costs_only_a_quiet_receivers_few_key_agreements_and_the_transfer_completes(
) {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("payload.bin");
    let mut bytes = vec![0u8; 32 << 20];
    rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut bytes);
    std::fs::write(&file, &bytes).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let sender = identity::generate().unwrap();
    let rx = start_receiver(dst.path(), Clients::only(&[sender.public_key()]));

    let to = rx.addr;
    let flooding = std::thread::spawn(move || flood(to, 1000, 20));
    // The transfer starts while the flood is under way.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let entries = walk(
        &[("payload.bin".into(), file.clone())],
        &WalkOptions {
            symlinks: SymlinkPolicy::CopyContents,
            include: Vec::new(),
            exclude: Vec::new(),
        },
    )
    .unwrap();
    let mut opts = SendOptions::new(rx.addr);
    opts.timeout = Some(Duration::from_secs(30));
    let started = Instant::now();
    let report = send::send(&sender, &opts, entries, &mut |_| {})
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let mut probes = flooding.join().unwrap();
    rx.task.await.unwrap().unwrap();

    assert_eq!(
        std::fs::read(dst.path().join("payload.bin")).unwrap(),
        bytes
    );
    let counters = &rx.counters;
    let answered = counters.retries.load(Ordering::Relaxed);
    let forged = counters.bad_tokens.load(Ordering::Relaxed);
    let admitted = counters.admitted.load(Ordering::Relaxed);
    let unproven = counters.admitted_unproven.load(Ordering::Relaxed);
    eprintln!(
        "{answered} tokenless and {forged} forged hellos answered with a Retry, {admitted} \
         sessions admitted; the transfer took {elapsed:?} with {} reconnections",
        report.reconnects
    );
    assert!(
        answered + forged > 0,
        "the flood never reached the receiver"
    );
    // The spoofed handshakes a quiet receiver admits stay half-open (their ServerHellos go to
    // addresses that never answer) and keep it busy past the flood; every other session is
    // the real sender's.
    assert!(
        unproven <= QUIET_HALF_OPEN as u64,
        "{unproven} sessions admitted without a token"
    );
    assert!(
        admitted <= u64::from(report.reconnects) + 1 + unproven,
        "a session was admitted for a spoofed address with a token"
    );
    for probe in &mut probes {
        probe.socket.set_nonblocking(false).unwrap();
        probe
            .socket
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        probe.drain();
        assert!(probe.received <= 3 * probe.sent);
    }
    let hello_len = HANDSHAKE_HEADER_LEN + CLIENT_HELLO_LEN;
    assert!(probes.iter().map(|p| p.sent).sum::<usize>() >= 1000 * hello_len);
}
