//! Transfers that survive SIGKILL: a mixed tree (one 1 GiB file, 1,000 small files, empty
//! directories) is sent by the `jetstream` binary while the receiver, and in another run the
//! sender, is killed with SIGKILL at random moments and started again on the same root, key and
//! port. Every run must end complete with every file identical to its source (BLAKE3), no part
//! file left, and no more bytes sent again per kill than the receiver could not have synced
//! plus one sync interval's worth. `cargo crash-stress` runs the same with 100 kills a side.

use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_jetstream");
/// The large file of the tree.
const BIG: u64 = 1 << 30;
/// The small files of the tree.
const SMALL: u64 = 1000;
/// The sender's rate cap for ten kills, kbit/s (50 MB/s); more kills get a lower cap so that
/// the transfer outlasts them.
const RATE_KBPS_FOR_TEN: u64 = 400_000;
/// How often the receiver syncs what it received (its default).
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Kills land this long after the last start, at random.
const KILL_AFTER: std::ops::Range<u64> = 300..2_500;

/// The tree to send, in `dir/tree`; returns its total size.
fn make_tree(dir: &Path) -> u64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let tree = dir.join("tree");
    fs::create_dir_all(dir.join("root")).unwrap();
    for empty in ["empty", "nested/empty", "nested/deeper/empty"] {
        fs::create_dir_all(tree.join(empty)).unwrap();
    }
    let mut total = 0;
    let mut big = fs::File::create(tree.join("big.bin")).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    for _ in 0..BIG / chunk.len() as u64 {
        rng.fill(&mut chunk[..]);
        big.write_all(&chunk).unwrap();
    }
    total += BIG;
    for i in 0..SMALL {
        let sub = tree.join(format!("small/{:02}", i % 20));
        fs::create_dir_all(&sub).unwrap();
        let mut data = vec![0u8; rng.random_range(0..20_000)];
        rng.fill(&mut data[..]);
        fs::write(sub.join(format!("f{i:04}")), &data).unwrap();
        total += data.len() as u64;
    }
    total
}

/// Every directory (as "dir") and file (as its BLAKE3 digest) below `root`.
fn digests(root: &Path) -> BTreeMap<String, String> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.insert(rel, "dir".into());
                visit(root, &path, out);
            } else {
                let mut hasher = blake3::Hasher::new();
                hasher
                    .update_reader(fs::File::open(&path).unwrap())
                    .unwrap();
                out.insert(rel, hasher.finalize().to_hex().to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

/// A UDP port free on loopback now.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Collects a child's stderr lines on a thread.
fn collect(stderr: ChildStderr, into: &Arc<Mutex<Vec<String>>>) {
    let into = into.clone();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    });
}

/// A receiver process on `port` with the key in `dir/receiver.key` and root `dir/root`.
struct Receiver {
    child: Child,
    key: String,
}

fn start_receiver(dir: &Path, port: u16, lines: &Arc<Mutex<Vec<String>>>) -> Receiver {
    let mut child = Command::new(BIN)
        .args([
            "receive",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--timeout",
            "3",
        ])
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--key-file")
        .arg(dir.join("receiver.key"))
        .arg("--allow-any-sender")
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    collect(child.stderr.take().unwrap(), lines);
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = stdout.next().unwrap().unwrap();
    assert!(listening.starts_with("listening "), "{listening}");
    let key = stdout.next().unwrap().unwrap();
    let key = key.strip_prefix("public-key ").unwrap().to_string();
    let lines = lines.clone();
    thread::spawn(move || {
        for line in stdout.map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    Receiver { child, key }
}

/// The sender's rate cap for `kills` kills, kbit/s.
fn rate_kbps(kills: u64) -> u64 {
    RATE_KBPS_FOR_TEN * 10 / kills.max(10)
}

/// A sender process sending `dir/tree` to the receiver at `port` at `kbps`, never giving up.
fn start_sender(dir: &Path, port: u16, key: &str, kbps: u64) -> Child {
    Command::new(BIN)
        .arg("send")
        .arg(dir.join("tree"))
        .args([
            "--to",
            &format!("127.0.0.1:{port}"),
            "--destination-key",
            key,
        ])
        .args([
            "--timeout",
            "0",
            "--no-progress",
            "--rate",
            &kbps.to_string(),
        ])
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill(child: &mut Child) {
    // `Child::kill` sends SIGKILL.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Waits for a sender to finish, at most `limit`; its stderr.
fn finish(mut sender: Child, limit: Duration) -> String {
    let start = Instant::now();
    while sender.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            kill(&mut sender);
            panic!("the sender did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
    let out = sender.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the sender failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("complete files="),
        "{stdout}"
    );
    stderr
}

/// The first number after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> u64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {text}"))
        + prefix.len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The tree arrived whole: the same files and directories with the same digests, and no part
/// file anywhere.
fn assert_identical(dir: &Path) {
    let want = digests(&dir.join("tree"));
    let got = digests(&dir.join("root/tree"));
    let parts: Vec<_> = got.keys().filter(|k| k.contains(".jetpart")).collect();
    assert!(parts.is_empty(), "part files left: {parts:?}");
    assert_eq!(want.len(), got.len());
    for (path, digest) in &want {
        assert_eq!(got.get(path), Some(digest), "{path}");
    }
}

/// Most bytes that may be sent again for `kills` kills: what the receiver had not synced when
/// killed and one sync interval's worth, at the capped rate, each; plus what the sender has in
/// flight when it learns of it.
fn resend_bound(kills: u64) -> u64 {
    let rate = rate_kbps(kills) * 1000 / 8;
    let interval = SYNC_INTERVAL.as_secs_f64();
    kills * ((2.0 * interval * rate as f64) as u64 + (8 << 20))
}

fn seeded(what: &str) -> rand::rngs::StdRng {
    let seed = std::env::var("JETSTREAM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("{what}: seed {seed} (JETSTREAM_CRASH_SEED)");
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn receiver_killed(kills: u64) {
    let dir = tempfile::tempdir().unwrap();
    let total = make_tree(dir.path());
    let mut rng = seeded("receiver killed");
    let port = free_port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut receiver = start_receiver(dir.path(), port, &lines);
    let sender = start_sender(dir.path(), port, &receiver.key, rate_kbps(kills));
    let mut sender = Some(sender);
    for kill_number in 0..kills {
        thread::sleep(Duration::from_millis(rng.random_range(KILL_AFTER)));
        let running = sender.as_mut().unwrap().try_wait().unwrap().is_none();
        assert!(
            running,
            "the transfer ended after {kill_number} of {kills} kills"
        );
        kill(&mut receiver.child);
        if rng.random_bool(0.5) {
            thread::sleep(Duration::from_millis(rng.random_range(0..1_000)));
        }
        receiver = start_receiver(dir.path(), port, &lines);
    }
    let stderr = finish(sender.take().unwrap(), Duration::from_secs(600));
    kill(&mut receiver.child);
    assert_identical(dir.path());
    let sent = number_after(&stderr, "sent ");
    let again = sent.saturating_sub(total);
    eprintln!("receiver killed {kills} times: {again} bytes sent again ({stderr})");
    assert!(
        again <= resend_bound(kills),
        "{again} bytes sent again for {kills} kills, bound {}",
        resend_bound(kills)
    );
}

fn sender_killed(kills: u64) {
    let dir = tempfile::tempdir().unwrap();
    let total = make_tree(dir.path());
    let mut rng = seeded("sender killed");
    let port = free_port();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut receiver = start_receiver(dir.path(), port, &lines);
    for kill_number in 0..kills {
        let mut sender = start_sender(dir.path(), port, &receiver.key, rate_kbps(kills));
        thread::sleep(Duration::from_millis(rng.random_range(KILL_AFTER)));
        let running = sender.try_wait().unwrap().is_none();
        assert!(
            running,
            "the transfer ended after {kill_number} of {kills} kills"
        );
        kill(&mut sender);
    }
    let stderr = finish(
        start_sender(dir.path(), port, &receiver.key, rate_kbps(kills)),
        Duration::from_secs(600),
    );
    // Sessions of killed senders end at the receiver's idle timeout (3 s) and report what
    // they received.
    thread::sleep(Duration::from_secs(4));
    kill(&mut receiver.child);
    assert_identical(dir.path());
    let lines = lines.lock().unwrap();
    let received: u64 = lines
        .iter()
        .filter(|l| l.contains("after receiving ") || l.starts_with("received files="))
        .map(|l| {
            if l.starts_with("received files=") {
                number_after(l, "bytes=")
            } else {
                number_after(l, "after receiving ")
            }
        })
        .sum();
    let again = received.saturating_sub(total);
    eprintln!("sender killed {kills} times: {again} bytes received again; last run: {stderr}");
    assert!(
        again <= resend_bound(kills),
        "{again} bytes received again for {kills} kills, bound {}: {lines:?}",
        resend_bound(kills)
    );
}

#[test]
fn a_transfer_survives_ten_receiver_kills() {
    receiver_killed(10);
}

#[test]
fn a_transfer_survives_ten_sender_kills() {
    sender_killed(10);
}

#[test]
#[ignore = "long: run with `cargo crash-stress`"]
fn a_transfer_survives_a_hundred_receiver_kills() {
    receiver_killed(100);
}

#[test]
#[ignore = "long: run with `cargo crash-stress`"]
fn a_transfer_survives_a_hundred_sender_kills() {
    sender_killed(100);
}
