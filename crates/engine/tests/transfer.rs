//! Real transfers on loopback: trees of every shape compared byte for byte (SHA-256) and by
//! modification time, through a lossy reordering forwarder, against a hostile peer injecting
//! truncated, replayed and forged datagrams, and with a sender trying to escape the root.

use jetstream_engine::clients::Clients;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::identity;
use jetstream_engine::overwrite::OverwriteLimit;
use jetstream_engine::receive::{ReceiveEvent, ReceiveOptions, Receiver};
use jetstream_engine::send::{self, SendOptions, SendReport};
use jetstream_engine::walk::{walk, SymlinkPolicy, WalkEntry, WalkOptions};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::files::{EntryKind, FileMeta};
use jetstream_wire::session::ReceiverStats;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};
use tokio::net::UdpSocket;

/// SHA-256, size, mtime (seconds) and exec bit of every file, and every directory, below `root`.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel, "dir".into());
                visit(root, &path, out);
            } else {
                let bytes = fs::read(&path).unwrap();
                let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
                let mtime = meta
                    .modified()
                    .unwrap()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let exec = meta.permissions().mode() & 0o111 != 0;
                out.insert(
                    rel,
                    format!("{} {} {mtime} {exec}", hex::encode(digest), meta.len()),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

fn write_random(path: &Path, size: usize, rng: &mut impl RngCore) {
    let mut file = fs::File::create(path).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        rng.fill_bytes(&mut chunk[..n]);
        file.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
}

/// A tree with nested and empty directories, empty, 1-byte and 256-byte files, an executable
/// and a few larger files, all with distinct modification times.
fn make_tree(root: &Path, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    fs::create_dir_all(root.join("nested/deeper/deepest")).unwrap();
    fs::create_dir_all(root.join("empty_dir")).unwrap();
    fs::create_dir_all(root.join("nested/empty_too")).unwrap();
    fs::File::create(root.join("empty_file")).unwrap();
    write_random(&root.join("one_byte"), 1, &mut rng);
    write_random(&root.join("nested/b256"), 256, &mut rng);
    write_random(&root.join("nested/deeper/tool.sh"), 3000, &mut rng);
    fs::set_permissions(
        root.join("nested/deeper/tool.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    for i in 0..20 {
        let size = rng.random_range(0..200_000);
        write_random(
            &root.join(format!("nested/deeper/deepest/f{i}")),
            size,
            &mut rng,
        );
    }
    write_random(&root.join("big.bin"), 5_000_000, &mut rng);
    let mut t = 1_600_000_000;
    set_times(root, &mut t);
}

fn set_times(dir: &Path, t: &mut i64) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            set_times(&path, t);
        } else {
            *t += 1000;
            filetime::set_file_mtime(&path, filetime::FileTime::from_unix_time(*t, 0)).unwrap();
        }
    }
}

/// A receiver on loopback that ends after its first session.
struct TestReceiver {
    addr: SocketAddr,
    key: jetstream_wire::crypto::handshake::PublicKey,
    task: tokio::task::JoinHandle<Result<ReceiverStats, Error>>,
}

fn start_receiver(root: &Path, min_cipher: CipherLevel) -> TestReceiver {
    receiver_until(root, min_cipher, |_| true)
}

/// A receiver that serves sessions until one completes, and returns that one's counters.
fn start_lasting_receiver(root: &Path) -> TestReceiver {
    receiver_until(root, CipherLevel::None, |result| result.is_ok())
}

/// A receiver on loopback that ends after the first session whose result `last` accepts.
fn receiver_until(
    root: &Path,
    min_cipher: CipherLevel,
    last: fn(&Result<ReceiverStats, Error>) -> bool,
) -> TestReceiver {
    let opts = ReceiveOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.to_path_buf(),
        min_cipher,
        idle_timeout: Duration::from_secs(10),
        clients: Clients::any(),
        authorized_keys: None,
        max_overwrite: OverwriteLimit::Never,
        discard: false,
        accounts: false,
        part_file_max_age: None,
    };
    let mut receiver = Receiver::bind(identity::generate().unwrap(), opts).unwrap();
    let addr = receiver.local_addr();
    let key = receiver.public_key();
    let task = tokio::spawn(async move {
        let mut outcome = Err(Error::new(Code::Internal, "no session"));
        receiver
            .run(&mut |event| match event {
                ReceiveEvent::Finished { result, .. } if last(&result) => {
                    outcome = result;
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            })
            .await?;
        outcome
    });
    TestReceiver { addr, key, task }
}

fn tree_entries(src: &Path, name: &str) -> Vec<WalkEntry> {
    walk(
        &[(name.to_string(), src.to_path_buf())],
        &WalkOptions {
            symlinks: SymlinkPolicy::CopyContents,
            include: Vec::new(),
            exclude: Vec::new(),
        },
    )
    .unwrap()
}

async fn send_to(
    to: SocketAddr,
    key: Option<jetstream_wire::crypto::handshake::PublicKey>,
    cipher: CipherLevel,
    entries: Vec<WalkEntry>,
) -> Result<SendReport, Error> {
    send_with_mtu(to, key, cipher, entries, None).await
}

/// `mtu` pins the datagram size; `None` lets the sender probe the path.
async fn send_with_mtu(
    to: SocketAddr,
    key: Option<jetstream_wire::crypto::handshake::PublicKey>,
    cipher: CipherLevel,
    entries: Vec<WalkEntry>,
    mtu: Option<usize>,
) -> Result<SendReport, Error> {
    let mut opts = SendOptions::new(to);
    opts.mtu = mtu;
    opts.cipher = cipher;
    opts.expected_key = key;
    opts.timeout = Some(Duration::from_secs(10));
    let identity = identity::generate().unwrap();
    send::send(&identity, &opts, entries, &mut |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_arrives_identical_at_every_cipher_level() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    make_tree(&tree, 1);
    for cipher in CipherLevel::ALL {
        let dst = tempfile::tempdir().unwrap();
        let rx = start_receiver(dst.path(), CipherLevel::None);
        let report = send_to(rx.addr, Some(rx.key), cipher, tree_entries(&tree, "tree"))
            .await
            .unwrap();
        let stats = rx.task.await.unwrap().unwrap();
        assert_eq!(stats.files_complete, report.files);
        assert_eq!(
            snapshot(&tree),
            snapshot(&dst.path().join("tree")),
            "{cipher:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_small_files() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("many");
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for d in 0..100 {
        let dir = tree.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            let size = rng.random_range(0..2000);
            write_random(&dir.join(format!("f{f}")), size, &mut rng);
        }
    }
    let dst = tempfile::tempdir().unwrap();
    let rx = start_receiver(dst.path(), CipherLevel::None);
    let report = send_to(
        rx.addr,
        Some(rx.key),
        CipherLevel::Aes128Gcm,
        tree_entries(&tree, "many"),
    )
    .await
    .unwrap();
    assert_eq!(report.files, 10_101);
    rx.task.await.unwrap().unwrap();
    assert_eq!(snapshot(&tree), snapshot(&dst.path().join("many")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gibibyte_file() {
    let src = tempfile::tempdir().unwrap();
    let path = src.path().join("gib.bin");
    write_random(&path, 1 << 30, &mut rand::rngs::StdRng::seed_from_u64(3));
    let dst = tempfile::tempdir().unwrap();
    let rx = start_receiver(dst.path(), CipherLevel::None);
    let entries = walk(
        &[("gib.bin".to_string(), path.clone())],
        &WalkOptions {
            symlinks: SymlinkPolicy::CopyContents,
            include: Vec::new(),
            exclude: Vec::new(),
        },
    )
    .unwrap();
    let report = send_to(rx.addr, Some(rx.key), CipherLevel::Aes128Gcm, entries)
        .await
        .unwrap();
    assert_eq!(report.bytes, 1 << 30);
    rx.task.await.unwrap().unwrap();
    let mut want = BTreeMap::new();
    want.insert(
        "gib.bin".to_string(),
        snapshot(src.path())["gib.bin"].clone(),
    );
    assert_eq!(snapshot(dst.path()), want);
}

/// Forwards datagrams between a sender and a receiver, dropping `loss` of them and holding
/// back `reorder` of them behind the next few, in both directions; optionally injects
/// truncated, replayed and forged copies towards the receiver.
async fn forwarder(receiver: SocketAddr, loss: f64, reorder: f64, hostile: bool) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut sender: Option<SocketAddr> = None;
        let mut held_fwd: Vec<Vec<u8>> = Vec::new();
        let mut held_back: Vec<Vec<u8>> = Vec::new();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut a = vec![0u8; 65536];
        let mut b = vec![0u8; 65536];
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let Ok((n, from)) = r else { return };
                    sender = Some(from);
                    let d = a[..n].to_vec();
                    if hostile && rng.random_bool(0.02) {
                        // Truncated, forged (one bit flipped) and replayed copies.
                        let _ = back.send_to(&d[..n / 2], receiver).await;
                        let mut forged = d.clone();
                        let bit = rng.random_range(0..n * 8);
                        forged[bit / 8] ^= 1 << (bit % 8);
                        let _ = back.send_to(&forged, receiver).await;
                        if let Some(old) = seen.get(rng.random_range(0..seen.len().max(1))) {
                            let _ = back.send_to(old, receiver).await;
                        }
                        if seen.len() < 1000 { seen.push(d.clone()); }
                    }
                    relay(&back, receiver, d, &mut held_fwd, &mut rng, loss, reorder).await;
                }
                r = back.recv_from(&mut b) => {
                    let Ok((n, _)) = r else { return };
                    let Some(to) = sender else { continue };
                    let d = b[..n].to_vec();
                    relay(&front, to, d, &mut held_back, &mut rng, loss, reorder).await;
                }
            }
        }
    });
    addr
}

/// One direction of the forwarder: drops `loss` of the datagrams, holds `reorder` of them back
/// and now and then releases what it holds after a later one.
async fn relay(
    sock: &UdpSocket,
    to: SocketAddr,
    datagram: Vec<u8>,
    held: &mut Vec<Vec<u8>>,
    rng: &mut rand::rngs::StdRng,
    loss: f64,
    reorder: f64,
) {
    if rng.random_bool(loss) {
        return;
    }
    if rng.random_bool(reorder) {
        held.push(datagram);
        return;
    }
    let _ = sock.send_to(&datagram, to).await;
    if !held.is_empty() && rng.random_bool(0.3) {
        for h in held.drain(..) {
            let _ = sock.send_to(&h, to).await;
        }
    }
}

/// Sends a tree through a forwarder with 1,500-byte packets (so that loss and reordering hit
/// many datagrams), checks that it arrived intact and returns the receiver's counters.
async fn through_forwarder(seed: u64, loss: f64, reorder: f64, hostile: bool) -> ReceiverStats {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    make_tree(&tree, seed);
    let dst = tempfile::tempdir().unwrap();
    let rx = start_receiver(dst.path(), CipherLevel::None);
    let via = forwarder(rx.addr, loss, reorder, hostile).await;
    let entries = tree_entries(&tree, "tree");
    send_with_mtu(
        via,
        Some(rx.key),
        CipherLevel::Aes128Gcm,
        entries,
        Some(1500),
    )
    .await
    .unwrap();
    let stats = rx.task.await.unwrap().unwrap();
    assert_eq!(snapshot(&tree), snapshot(&dst.path().join("tree")));
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_reordering_path() {
    through_forwarder(5, 0.05, 0.01, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_datagrams_are_dropped_and_counted() {
    let stats = through_forwarder(6, 0.0, 0.0, true).await;
    assert!(stats.packets_forged > 0, "{stats:?}");
    assert!(stats.packets_replayed > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_escape_is_refused_and_nothing_lands_outside() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir(&root).unwrap();
    let src = outer.path().join("payload");
    fs::write(&src, b"escaped").unwrap();
    for path in ["../escaped.txt", "/tmp/escaped.txt", "a/../../escaped.txt"] {
        let rx = start_receiver(&root, CipherLevel::None);
        let entry = WalkEntry {
            source: src.clone(),
            meta: FileMeta {
                path: path.into(),
                kind: EntryKind::File,
                size: 7,
                mtime_us: 0,
                executable: false,
            },
        };
        let err = send_to(rx.addr, Some(rx.key), CipherLevel::Aes128Gcm, vec![entry])
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Io, "{path}: {err}");
        assert!(
            err.message.contains(path.trim_start_matches('/')) || err.message.contains(".."),
            "{err}"
        );
        rx.task.await.unwrap().unwrap_err();
        let names: Vec<PathBuf> = fs::read_dir(outer.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "something landed outside the root: {names:?}"
        );
        assert!(
            fs::read_dir(&root).unwrap().next().is_none(),
            "{path} left something in the root"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_destination_key_is_refused() {
    let dst = tempfile::tempdir().unwrap();
    let rx = start_receiver(dst.path(), CipherLevel::None);
    let other = identity::generate().unwrap().public_key();
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"x").unwrap();
    let err = send_to(
        rx.addr,
        Some(other),
        CipherLevel::Aes128Gcm,
        tree_entries(src.path(), "d"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, Code::AuthFailed, "{err}");
    assert!(err.message.contains(&other.to_string()), "{err}");
    rx.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_is_reported() {
    // A port with nothing behind it, on 127.0.0.2 where no test's receiver listens (so the
    // receiver of a test running beside this one cannot take it over).
    let sock = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    let addr = sock.local_addr().unwrap();
    drop(sock);
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"x").unwrap();
    let mut opts = SendOptions::new(addr);
    opts.timeout = Some(Duration::from_secs(2));
    let err = send::send(
        &identity::generate().unwrap(),
        &opts,
        tree_entries(src.path(), "d"),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.code, Code::Unavailable, "{err}");
    assert!(err.message.contains(&addr.to_string()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_vanishes_does_not_stop_the_receiver() {
    let dst = tempfile::tempdir().unwrap();
    let opts = ReceiveOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: dst.path().to_path_buf(),
        min_cipher: CipherLevel::None,
        idle_timeout: Duration::from_secs(10),
        clients: Clients::any(),
        authorized_keys: None,
        max_overwrite: OverwriteLimit::Never,
        discard: false,
        accounts: false,
        part_file_max_age: None,
    };
    let mut receiver = Receiver::bind(identity::generate().unwrap(), opts).unwrap();
    let (addr, key) = (receiver.local_addr(), receiver.public_key());
    // Serves until a session completes.
    let task = tokio::spawn(async move {
        receiver
            .run(&mut |event| match event {
                ReceiveEvent::Finished { result: Ok(_), .. } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            })
            .await
    });
    // A ClientHello from a socket that is closed before the answer comes back: the kernel
    // answers the receiver's ServerHello with "port unreachable".
    {
        let rng = ring::rand::SystemRandom::new();
        let id = identity::generate().unwrap();
        let (_, hello) =
            jetstream_wire::crypto::handshake::Initiator::start(&rng, &id, CipherLevel::Aes128Gcm)
                .unwrap();
        let mut datagram = vec![0u8; 1500];
        let n = jetstream_wire::codec::encode_handshake(
            jetstream_wire::codec::DatagramKind::ClientHello,
            &[7; 8],
            &hello,
            &mut datagram,
        )
        .unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(&datagram[..n], addr).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"still here").unwrap();
    send_to(
        addr,
        Some(key),
        CipherLevel::Aes128Gcm,
        tree_entries(src.path(), "d"),
    )
    .await
    .unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(fs::read(dst.path().join("d/f")).unwrap(), b"still here");
}

/// Forwards datagrams both ways between a sender and `receiver`, dropping all of them while
/// `cut` is set.
async fn cuttable_path(receiver: SocketAddr, cut: std::sync::Arc<AtomicBool>) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = front.local_addr().unwrap();
    tokio::spawn(async move {
        let mut sender: Option<SocketAddr> = None;
        let (mut a, mut b) = (vec![0u8; 65536], vec![0u8; 65536]);
        loop {
            tokio::select! {
                r = front.recv_from(&mut a) => {
                    let Ok((n, from)) = r else { return };
                    sender = Some(from);
                    if !cut.load(Ordering::Relaxed) {
                        let _ = back.send_to(&a[..n], receiver).await;
                    }
                }
                r = back.recv_from(&mut b) => {
                    let Ok((n, _)) = r else { return };
                    if let Some(to) = sender.filter(|_| !cut.load(Ordering::Relaxed)) {
                        let _ = front.send_to(&b[..n], to).await;
                    }
                }
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_outlives_a_path_outage_longer_than_every_idle_timeout() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(60);
    write_random(&tree.join("big"), 48 << 20, &mut rng);
    for i in 0..20 {
        write_random(&tree.join(format!("small{i}")), 5_000 + i * 300, &mut rng);
    }
    let dst = tempfile::tempdir().unwrap();
    let rx = start_lasting_receiver(dst.path());
    let cut = std::sync::Arc::new(AtomicBool::new(false));
    let via = cuttable_path(rx.addr, cut.clone()).await;
    let mut opts = SendOptions::new(via);
    opts.expected_key = Some(rx.key);
    // 16 MB/s: the outage comes in the middle of the large file.
    opts.limits = jetstream_wire::rate::RateLimits {
        min: 1 << 20,
        max: Some(16 << 20),
    };
    opts.timeout = Some(Duration::from_secs(120));
    let entries = tree_entries(&tree, "tree");
    let outage = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cut.store(true, Ordering::Relaxed);
        // Longer than the receiver's idle timeout (10 s) and the sender's session silence.
        tokio::time::sleep(Duration::from_secs(60)).await;
        cut.store(false, Ordering::Relaxed);
    });
    let identity = identity::generate().unwrap();
    let report = send::send(&identity, &opts, entries, &mut |_| {})
        .await
        .expect("the transfer goes on after the outage");
    outage.await.unwrap();
    assert!(report.reconnects >= 1, "{report:?}");
    rx.task.await.unwrap().unwrap();
    assert_eq!(snapshot(&tree), snapshot(&dst.path().join("tree")));
    let leftovers: Vec<_> = fs::read_dir(dst.path().join("tree"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jetpart"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
