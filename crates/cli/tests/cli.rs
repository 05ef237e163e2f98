//! The `jetstream` binary as a user runs it: a transfer on loopback (IPv4 and IPv6) verified
//! byte for byte; a one-line error with a failing status for a receiver that is down, a key
//! that does not match, a source that cannot be read and a destination outside the root; and
//! the safe defaults: a receiver accepts only the senders it is told to and replaces no file
//! unless allowed, a sender remembers each receiver's key, and received files honour the
//! receiver's umask and never change a file through another hard link. For testing a network
//! alone: a sender that generates its bytes and a receiver that writes nothing. A receiver
//! removes the part files left longer than `--keep-partial`. A send again costs only what
//! changed: unchanged files are skipped by size and time (or digest, or age), and a dry run
//! lists what would go.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_jetstream");

/// One user's configuration directory (identity key, known receivers), for one test.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Home {
        Home(tempfile::tempdir().unwrap())
    }

    /// The configuration directory `jetstream` uses.
    fn config(&self) -> PathBuf {
        self.0.path().join("config/jetstream")
    }

    /// The `jetstream` binary run by this user.
    fn command(&self) -> Command {
        self.program(BIN)
    }

    /// `program` run by this user.
    fn program(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("XDG_CONFIG_HOME", self.0.path().join("config"))
            .env("HOME", self.0.path());
        command
    }

    /// This user's public key, as `jetstream key` prints it.
    fn key(&self) -> String {
        let out = self.command().arg("key").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert_eq!(key.len(), 64, "{key}");
        key
    }

    /// `jetstream send ARGS` by this user, with a short timeout and no progress bar.
    fn send(&self, args: &[&str]) -> Output {
        self.command()
            .arg("send")
            .args(args)
            .args(["--no-progress", "--timeout", "3"])
            .output()
            .unwrap()
    }

    /// The known-receivers file.
    fn known_receivers(&self) -> String {
        fs::read_to_string(self.config().join("known_receivers")).unwrap_or_default()
    }
}

struct Receiver {
    child: Child,
    addr: String,
    key: String,
    /// Everything it printed on stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    /// Waits (a few seconds at most) until its stderr holds `text` and the end of that line;
    /// what it holds then.
    fn wait_for_stderr(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stderr = self.stderr.lock().unwrap().clone();
            let line_ended = stderr
                .find(text)
                .is_some_and(|at| stderr[at..].contains('\n'));
            if line_ended || Instant::now() > deadline {
                return stderr;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `jetstream receive --root ROOT --listen LISTEN ARGS` run by `home`.
fn receiver(home: &Home, root: &Path, listen: &str, args: &[&str]) -> Receiver {
    start_receiver(home.command(), root, listen, args)
}

fn start_receiver(mut command: Command, root: &Path, listen: &str, args: &[&str]) -> Receiver {
    let mut child = command
        .args(["receive", "--listen", listen, "--root"])
        .arg(root)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut from = child.stderr.take().unwrap();
    let into = stderr.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    // The rest of stdout is left unread: the receiver must not mind.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (Some(Ok(addr)), Some(Ok(key))) = (lines.next(), lines.next()) else {
        let _ = child.wait();
        panic!("the receiver did not start: {}", stderr.lock().unwrap());
    };
    Receiver {
        child,
        addr: addr.strip_prefix("listening ").unwrap().to_string(),
        key: key.strip_prefix("public-key ").unwrap().to_string(),
        stderr,
    }
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("jetstream: "), "{stderr}");
    stderr
}

fn succeeded(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

fn digest(path: &Path) -> String {
    hex_digest(&fs::read(path).unwrap())
}

fn hex_digest(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().next().is_none()
}

/// A file `name` with `content` in a new directory; its path (the directory lives as long as
/// the returned guard).
fn source(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, content).unwrap();
    (dir, path)
}

fn transfer_over(listen: &str) {
    let sender = Home::new();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("payload");
    fs::create_dir_all(dir.join("inner/empty")).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.join("big"), &big).unwrap();
    fs::write(dir.join("inner/small"), b"hello").unwrap();
    let dst = tempfile::tempdir().unwrap();
    let receiving = Home::new();
    let mut rx = receiver(
        &receiving,
        dst.path(),
        listen,
        &["--once", "--authorized-key", &sender.key()],
    );
    let out = sender.send(&[
        dir.to_str().unwrap(),
        "--to",
        &rx.addr,
        "--destination-key",
        &rx.key,
        "--dest",
        "incoming",
    ]);
    succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("complete files=5 bytes=3000005 "),
        "{last}"
    );
    assert!(rx.child.wait().unwrap().success());
    // A quiet receiver admits a new sender at once: one session, no Retry.
    let said = rx.wait_for_stderr("sessions admitted");
    assert!(
        said.contains("sessions admitted: 1 (1 at once, without a Retry)"),
        "{said}"
    );
    assert!(said.contains("Retry: 0 without a token"), "{said}");
    let got = dst.path().join("incoming/payload");
    assert_eq!(digest(&got.join("big")), hex_digest(&big));
    assert_eq!(fs::read(got.join("inner/small")).unwrap(), b"hello");
    assert!(got.join("inner/empty").is_dir());
}

#[test]
fn transfer_on_ipv4_loopback() {
    transfer_over("127.0.0.1:0");
}

#[test]
fn transfer_on_ipv6_loopback() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback here");
        return;
    }
    transfer_over("[::1]:0");
}

#[test]
fn receiver_down() {
    // 127.0.0.2, where no test's receiver listens: a port freed here cannot be taken by the
    // receiver of a test running beside this one.
    let port = std::net::UdpSocket::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_src, file) = source("f", b"x");
    let to = format!("127.0.0.2:{port}");
    let out = Home::new().send(&[file.to_str().unwrap(), "--to", &to]);
    let err = one_line_error(&out);
    assert!(err.contains(&to), "{err}");
}

#[test]
fn a_timeout_of_zero_waits_for_a_receiver_that_starts_late() {
    // 127.0.0.2, where no other test's receiver listens (see receiver_down).
    let port = std::net::UdpSocket::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let to = format!("127.0.0.2:{port}");
    let (_src, file) = source("late", b"sent once the receiver is up");
    let sending = Home::new();
    let receiving = Home::new();
    let mut child = sending
        .command()
        .args(["send", file.to_str().unwrap(), "--to", &to, "--no-progress"])
        .args(["--timeout", "0", "--destination-key", &receiving.key()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Longer than the 3 s the other tests give up after: a sender without a timeout waits on.
    thread::sleep(Duration::from_secs(4));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the sender gave up with --timeout 0"
    );
    let dst = tempfile::tempdir().unwrap();
    let mut rx = receiver(
        &receiving,
        dst.path(),
        &to,
        &["--once", "--authorized-key", &sending.key()],
    );
    let out = child.wait_with_output().unwrap();
    succeeded(&out);
    assert!(rx.child.wait().unwrap().success());
    assert_eq!(
        fs::read(dst.path().join("late")).unwrap(),
        b"sent once the receiver is up"
    );
}

#[test]
fn key_mismatch() {
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(
        &Home::new(),
        dst.path(),
        "127.0.0.1:0",
        &["--allow-any-sender"],
    );
    let (_src, file) = source("f", b"x");
    let wrong = "ab".repeat(32);
    let out = Home::new().send(&[
        file.to_str().unwrap(),
        "--to",
        &rx.addr,
        "--destination-key",
        &wrong,
    ]);
    let err = one_line_error(&out);
    assert!(err.contains(&wrong), "{err}");
    assert!(is_empty(dst.path()));
}

#[test]
fn unreadable_source() {
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(
        &Home::new(),
        dst.path(),
        "127.0.0.1:0",
        &["--allow-any-sender"],
    );
    let missing = dst.path().join("does-not-exist");
    let out = Home::new().send(&[missing.to_str().unwrap(), "--to", &rx.addr]);
    let err = one_line_error(&out);
    assert!(err.contains("does-not-exist"), "{err}");
}

#[test]
fn destination_outside_the_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir(&root).unwrap();
    let rx = receiver(&Home::new(), &root, "127.0.0.1:0", &["--allow-any-sender"]);
    let (_src, file) = source("f", b"x");
    let out = Home::new().send(&[
        file.to_str().unwrap(),
        "--to",
        &rx.addr,
        "--destination-key",
        &rx.key,
        "--dest",
        "../escape",
    ]);
    let err = one_line_error(&out);
    assert!(err.contains(".."), "{err}");
    assert_eq!(fs::read_dir(outer.path()).unwrap().count(), 1);
    assert!(is_empty(&root));
}

#[test]
fn a_receiver_told_no_sender_to_accept_refuses_to_start() {
    let dst = tempfile::tempdir().unwrap();
    let out = Home::new()
        .command()
        .args(["receive", "--listen", "127.0.0.1:0", "--root"])
        .arg(dst.path())
        .output()
        .unwrap();
    let err = one_line_error(&out);
    for flag in [
        "--authorized-keys",
        "--authorized-key",
        "--allow-any-sender",
    ] {
        assert!(err.contains(flag), "{err}");
    }
}

#[test]
fn the_receiver_says_whom_it_accepts_in_its_first_lines() {
    let home = Home::new();
    let dst = tempfile::tempdir().unwrap();
    let open = receiver(&home, dst.path(), "127.0.0.1:0", &["--allow-any-sender"]);
    let said = open.wait_for_stderr("overwrite at most");
    let first = said.lines().next().unwrap();
    assert!(
        first.starts_with("accepting ANY sender (--allow-any-sender)"),
        "{said}"
    );
    assert!(
        said.contains("lowest cipher aes128; overwrite at most never"),
        "{said}"
    );

    let keys = dst.path().join("authorized_keys");
    fs::write(
        &keys,
        format!("{} a\n{} b\n", "1".repeat(64), "2".repeat(64)),
    )
    .unwrap();
    let known = receiver(
        &home,
        dst.path(),
        "127.0.0.1:0",
        &[
            "--authorized-keys",
            keys.to_str().unwrap(),
            "--authorized-key",
            &"3".repeat(64),
        ],
    );
    let said = known.wait_for_stderr("overwrite at most");
    let expected = format!(
        "accepting only known senders: 2 keys from {} (read again when it changes) and 1 key \
         given with --authorized-key",
        keys.display()
    );
    assert_eq!(said.lines().next().unwrap(), expected, "{said}");
}

#[test]
fn an_unknown_sender_is_refused_with_an_error_naming_its_key() {
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(
        &Home::new(),
        dst.path(),
        "127.0.0.1:0",
        &["--authorized-key", &"1".repeat(64)],
    );
    let (_src, file) = source("f", b"x");
    let sender = Home::new();
    let out = sender.send(&[
        file.to_str().unwrap(),
        "--to",
        &rx.addr,
        "--destination-key",
        &rx.key,
    ]);
    let err = one_line_error(&out);
    assert_eq!(
        err,
        format!(
            "jetstream: receiver reported: sender key {} is not authorized by the receiver",
            sender.key()
        )
    );
    assert!(is_empty(dst.path()));
}

#[test]
fn the_authorized_keys_file_is_read_again_when_it_changes_and_a_bad_line_is_named() {
    let dst = tempfile::tempdir().unwrap();
    let keys = dst.path().join("authorized_keys");
    fs::write(&keys, "# nobody yet\n").unwrap();
    let root = dst.path().join("root");
    fs::create_dir(&root).unwrap();
    let args = ["--authorized-keys", keys.to_str().unwrap()];
    let rx = receiver(&Home::new(), &root, "127.0.0.1:0", &args);
    let (_src, file) = source("f", b"some bytes");
    let sender = Home::new();
    let send = || {
        sender.send(&[
            file.to_str().unwrap(),
            "--to",
            &rx.addr,
            "--destination-key",
            &rx.key,
        ])
    };
    assert!(one_line_error(&send()).contains("is not authorized"));

    fs::write(&keys, format!("# the build box\n{} ci\n", sender.key())).unwrap();
    succeeded(&send());
    assert_eq!(digest(&root.join("f")), digest(&file));
    let said = rx.wait_for_stderr("authorized keys read again: 1 key");
    assert!(said.contains("authorized keys read again: 1 key"), "{said}");

    fs::write(
        &keys,
        format!("{}\nssh-ed25519 AAAA laptop\n", sender.key()),
    )
    .unwrap();
    assert!(one_line_error(&send()).contains("is not authorized"));
    let said = rx.wait_for_stderr("none of its keys is trusted");
    let expected = format!("authorized keys {} line 2: \"ssh-ed25519\"", keys.display());
    assert!(said.contains(&expected), "{said}");

    // At startup the same line keeps the receiver from starting.
    let out = Home::new()
        .command()
        .args(["receive", "--listen", "127.0.0.1:0", "--root"])
        .arg(&root)
        .args(args)
        .output()
        .unwrap();
    assert!(one_line_error(&out).contains(&expected));
}

#[test]
fn overwrite_above_the_receivers_maximum_is_refused() {
    let dst = tempfile::tempdir().unwrap();
    let sender = Home::new();
    let trust = ["--authorized-key", &sender.key()];
    let (src, file) = source("f", b"first");
    let send = |rx: &Receiver, mode: &str| {
        sender.send(&[
            file.to_str().unwrap(),
            "--to",
            &rx.addr,
            "--destination-key",
            &rx.key,
            "--overwrite",
            mode,
        ])
    };
    let careful = receiver(&Home::new(), dst.path(), "127.0.0.1:0", &trust);
    succeeded(&send(&careful, "never"));
    // Sent again unchanged, the file is found in place.
    succeeded(&send(&careful, "never"));
    fs::write(&file, b"second").unwrap();
    let err = one_line_error(&send(&careful, "never"));
    assert!(
        err.contains("exists and the overwrite mode is never"),
        "{err}"
    );
    let err = one_line_error(&send(&careful, "always"));
    assert!(
        err.ends_with("overwrite mode always is above this receiver's maximum, never"),
        "{err}"
    );
    assert_eq!(fs::read(dst.path().join("f")).unwrap(), b"first");
    drop(careful);

    let mut args = trust.to_vec();
    args.extend(["--max-overwrite", "always"]);
    let allowing = receiver(&Home::new(), dst.path(), "127.0.0.1:0", &args);
    let err = one_line_error(&send(&allowing, "in-place-always"));
    assert!(
        err.ends_with("above this receiver's maximum, always"),
        "{err}"
    );
    succeeded(&send(&allowing, "backup"));
    assert_eq!(digest(&dst.path().join("f")), digest(&file));
    assert_eq!(fs::read(dst.path().join("f.jetbak")).unwrap(), b"first");
    drop(src);
}

#[test]
fn first_contact_is_recorded_and_a_changed_receiver_key_is_refused() {
    let dst = tempfile::tempdir().unwrap();
    let sender = Home::new();
    let trust = ["--allow-any-sender"];
    let (_src, file) = source("f", b"payload");
    let first = receiver(&Home::new(), dst.path(), "127.0.0.1:0", &trust);
    let addr = first.addr.clone();
    let send = |extra: &[&str]| {
        let mut args = vec![file.to_str().unwrap(), "--to", &addr];
        args.extend(extra);
        sender.send(&args)
    };
    let known = sender.config().join("known_receivers");

    let said = succeeded(&send(&[]));
    let line = format!("{addr} {}\n", first.key);
    assert_eq!(sender.known_receivers(), line);
    let expected = format!(
        "first contact with receiver {addr}: its key {} is now recorded in {} line 1",
        first.key,
        known.display()
    );
    assert_eq!(said.lines().next(), Some(expected.as_str()), "{said}");
    // Known now: nothing more is said or recorded.
    let said = succeeded(&send(&[]));
    assert!(!said.contains("first contact"), "{said}");
    assert_eq!(sender.known_receivers(), line);
    drop(first);

    // Another key at the same address: a reinstalled receiver, or someone standing in for it.
    let other_root = dst.path().join("other");
    fs::create_dir(&other_root).unwrap();
    let other = receiver(&Home::new(), &other_root, &addr, &trust);
    let err = one_line_error(&send(&[]));
    for part in [
        other.key.as_str(),
        line.trim_end().rsplit(' ').next().unwrap(),
        &format!("line 1 of {}", known.display()),
        "--destination-key",
    ] {
        assert!(err.contains(part), "{part:?} not in {err}");
    }
    assert!(is_empty(&other_root));
    assert_eq!(sender.known_receivers(), line);

    // Pinned, the new key is accepted for that transfer; with the line deleted, it is recorded.
    succeeded(&send(&["--destination-key", &other.key]));
    assert_eq!(digest(&other_root.join("f")), digest(&file));
    fs::write(&known, "").unwrap();
    assert!(succeeded(&send(&[])).contains("first contact"));
    assert_eq!(sender.known_receivers(), format!("{addr} {}\n", other.key));

    // --known-receivers names another file.
    let elsewhere = dst.path().join("mine");
    succeeded(&send(&["--known-receivers", elsewhere.to_str().unwrap()]));
    assert_eq!(
        fs::read_to_string(&elsewhere).unwrap(),
        format!("{addr} {}\n", other.key)
    );
}

#[test]
fn received_files_honour_the_receivers_umask() {
    let dst = tempfile::tempdir().unwrap();
    let mut in_shell = Home::new().program("sh");
    in_shell.args(["-c", r#"umask 077 && exec "$0" "$@""#, BIN]);
    let rx = start_receiver(in_shell, dst.path(), "127.0.0.1:0", &["--allow-any-sender"]);
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("t");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("run.sh"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(tree.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(tree.join("data"), b"data").unwrap();
    succeeded(&Home::new().send(&[
        tree.to_str().unwrap(),
        "--to",
        &rx.addr,
        "--destination-key",
        &rx.key,
    ]));
    let mode = |name: &str| {
        fs::metadata(dst.path().join("t").join(name))
            .unwrap()
            .mode()
            & 0o777
    };
    assert_eq!(mode("run.sh"), 0o700);
    assert_eq!(mode("data"), 0o600);
    assert_eq!(
        digest(&dst.path().join("t/data")),
        digest(&tree.join("data"))
    );
}

#[test]
fn an_in_place_overwrite_never_writes_through_another_hard_link() {
    let dst = tempfile::tempdir().unwrap();
    let root = dst.path().join("root");
    fs::create_dir(&root).unwrap();
    let elsewhere = dst.path().join("linked");
    fs::write(&elsewhere, b"0123456789").unwrap();
    let args = ["--allow-any-sender", "--max-overwrite", "in-place"];
    let rx = receiver(&Home::new(), &root, "127.0.0.1:0", &args);
    let (_src, file) = source("f", b"");
    // Both of the target's size: in place, unless the target has another link.
    for (mode, content) in [
        ("in-place-same-size", "abcdefghij"),
        ("in-place-always", "ABCDEFGHIJ"),
    ] {
        if root.join("f").exists() {
            fs::remove_file(root.join("f")).unwrap();
        }
        fs::hard_link(&elsewhere, root.join("f")).unwrap();
        fs::write(&file, content).unwrap();
        succeeded(&Home::new().send(&[
            file.to_str().unwrap(),
            "--to",
            &rx.addr,
            "--destination-key",
            &rx.key,
            "--overwrite",
            mode,
        ]));
        assert_eq!(digest(&root.join("f")), digest(&file), "{mode}");
        assert_eq!(fs::read(&elsewhere).unwrap(), b"0123456789", "{mode}");
    }
}

/// The byte count in `line` after `prefix`.
fn count_after(line: &str, prefix: &str) -> u64 {
    let at = line
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix:?} in {line}"))
        + prefix.len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn generated_bytes_are_sent_without_reading_a_file() {
    const SIZE: u64 = 3 << 20;
    let dst = tempfile::tempdir().unwrap();
    let sender = Home::new();
    let rx = receiver(
        &Home::new(),
        dst.path(),
        "127.0.0.1:0",
        &["--authorized-key", &sender.key()],
    );
    let out = sender.send(&[
        "--generate",
        "3M",
        "--to",
        &rx.addr,
        "--destination-key",
        &rx.key,
    ]);
    let said = succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("complete files=1 bytes={SIZE} ")),
        "{last}"
    );
    // Every generated byte crossed the wire once, besides repairs.
    assert_eq!(count_after(&said, "sent "), SIZE, "{said}");
    let said = rx.wait_for_stderr("receiving");
    assert!(
        said.contains(&format!("receiving 1 files, {SIZE} bytes from")),
        "{said}"
    );
    assert_eq!(
        fs::metadata(dst.path().join("generated")).unwrap().len(),
        SIZE
    );
}

#[test]
fn what_a_send_measured_of_the_path_is_kept_for_the_next_send_to_the_receiver() {
    let SyncPair { sender, rx, dst } = SyncPair::new();
    let send = |extra: &[&str]| {
        let mut args = vec![
            "--generate",
            // Long enough to leave start-up on a fast loopback: only then is the path measured.
            "200M",
            "--overwrite",
            "always",
            "--to",
            &rx.addr,
        ];
        args.extend(["--destination-key", &rx.key]);
        args.extend(extra);
        sender.send(&args)
    };
    let known = sender.config().join("known_paths");
    succeeded(&send(&["--rate-control", "fair"]));
    let text = fs::read_to_string(&known).unwrap();
    let figures = |text: &str| -> (u64, u64, f64) {
        let line = text.lines().next().unwrap_or_default();
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words.len(), 4, "{text}");
        assert_eq!(words[0], rx.addr, "{text}");
        (
            words[1].parse().unwrap(),
            words[2].parse().unwrap(),
            words[3].parse().unwrap(),
        )
    };
    let (rate, rtt_us, loss) = figures(&text);
    assert!(
        rate > 0 && rtt_us > 0 && (0.0..=0.5).contains(&loss),
        "{text}"
    );
    // The next send to the receiver starts from it and leaves its own figures in its place.
    succeeded(&send(&[]));
    let text = fs::read_to_string(&known).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    figures(&text);
    // --known-paths names another file; a policy that does not exist is refused.
    let elsewhere = dst.path().join("paths");
    // It starts from the figures copied there: a send that never left start-up (a short one
    // on a fast loopback) has nothing measured to keep.
    fs::copy(&known, &elsewhere).unwrap();
    succeeded(&send(&["--known-paths", elsewhere.to_str().unwrap()]));
    figures(&fs::read_to_string(&elsewhere).unwrap());
    let out = send(&["--rate-control", "fast"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--rate-control"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_file(dst.path().join("generated")).unwrap();
}

#[test]
fn a_discarding_receiver_writes_nothing() {
    const SIZE: u64 = 5 << 20;
    let dst = tempfile::tempdir().unwrap();
    let root = dst.path().join("root");
    fs::create_dir(&root).unwrap();
    let sender = Home::new();
    let rx = receiver(
        &Home::new(),
        &root,
        "127.0.0.1:0",
        &["--authorized-key", &sender.key(), "--discard"],
    );
    let said = rx.wait_for_stderr("overwrite at most");
    assert!(said.contains("writing nothing (--discard)"), "{said}");
    let send = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "--to",
            &rx.addr,
            "--destination-key",
            &rx.key,
            "--dest",
            "in",
        ]);
        sender.send(&all)
    };

    // Generated bytes: counted on the wire, none written.
    let out = send(&["--generate", "5M"]);
    let said = succeeded(&out);
    assert_eq!(count_after(&said, "sent "), SIZE, "{said}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with(&format!("complete files=1 bytes={SIZE} ")),
        "{stdout}"
    );

    // Files read from disk: verified at the receiver, and still none written.
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    fs::create_dir_all(tree.join("empty")).unwrap();
    fs::write(tree.join("a"), vec![7u8; 100_000]).unwrap();
    let out = send(&[tree.to_str().unwrap()]);
    succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().last().unwrap().contains(" bytes=100000 "),
        "{stdout}"
    );
    let said = rx.wait_for_stderr("100000 bytes from");
    assert!(
        said.contains("receiving 3 files, 100000 bytes from"),
        "{said}"
    );
    assert!(
        is_empty(&root),
        "{:?}",
        fs::read_dir(&root).unwrap().collect::<Vec<_>>()
    );
}

#[test]
fn the_state_directory_of_a_killed_command_is_removed_by_the_next_one() {
    let home = Home::new();
    let tmp = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let states = || -> Vec<String> {
        fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("jetstream-run-"))
            .collect()
    };
    let start = || {
        let mut command = home.command();
        command.env("TMPDIR", tmp.path());
        start_receiver(command, dst.path(), "127.0.0.1:0", &["--allow-any-sender"])
    };
    // Dropped, a receiver is killed with SIGKILL: it cannot remove its state directory.
    drop(start());
    assert_eq!(states().len(), 1);
    let second = start();
    let left = states();
    assert_eq!(left.len(), 1, "{left:?}");
    let pid = second.child.id();
    assert!(
        left[0].starts_with(&format!("jetstream-run-{pid}-")),
        "{left:?}"
    );
}

/// Names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn the_receiver_removes_part_files_left_longer_than_keep_partial() {
    use jetstream_engine::record::{unix_now_us, Record};
    use jetstream_engine::sandbox::{Access, Sandbox};
    for (keep, left) in [
        ("3600", vec!["young.jetpart"]),
        ("0", vec!["old.jetpart", "young.jetpart"]),
    ] {
        let dst = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::open(dst.path()).unwrap();
        for (name, age_secs) in [("old.jetpart", 7200), ("young.jetpart", 60)] {
            fs::write(dst.path().join(name), [1u8; 100]).unwrap();
            let file = sandbox.open_file(name, Access::Read).unwrap();
            let record = Record {
                written_us: unix_now_us() - age_secs * 1_000_000,
                ..Record::now(100, 1, 50)
            };
            record.write(&sandbox, name, &file).unwrap();
        }
        // The receiver sweeps its root before it listens.
        let _rx = receiver(
            &Home::new(),
            dst.path(),
            "127.0.0.1:0",
            &["--allow-any-sender", "--keep-partial", keep],
        );
        assert_eq!(names(dst.path()), left, "--keep-partial {keep}");
    }
}

/// Digests of every regular file below `root`, by path relative to it.
fn tree_digests(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut found = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(rel, digest(&path));
            }
        }
    }
    found
}

/// Sets the modification time of `path`.
fn set_mtime(path: &Path, time: std::time::SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// A receiver on loopback that accepts `sender` and lets it replace files, and what the sends
/// to it print.
struct SyncPair {
    sender: Home,
    rx: Receiver,
    dst: tempfile::TempDir,
}

impl SyncPair {
    fn new() -> SyncPair {
        let sender = Home::new();
        let dst = tempfile::tempdir().unwrap();
        let rx = receiver(
            &Home::new(),
            dst.path(),
            "127.0.0.1:0",
            &[
                "--authorized-key",
                &sender.key(),
                "--max-overwrite",
                "always",
            ],
        );
        SyncPair { sender, rx, dst }
    }

    /// `jetstream send PATH --overwrite always ARGS` to the receiver: its new data bytes (the
    /// sender's counter, repairs aside) and the files it skipped, from its summary.
    fn send(&self, path: &Path, args: &[&str]) -> (u64, u64) {
        let out = self.send_output(path, args);
        let said = succeeded(&out);
        let line = said.lines().find(|l| l.starts_with("sent ")).unwrap();
        (count_after(line, "sent "), count_after(line, "skipped "))
    }

    fn send_output(&self, path: &Path, args: &[&str]) -> Output {
        let mut all = vec![
            path.to_str().unwrap(),
            "--to",
            &self.rx.addr,
            "--destination-key",
            &self.rx.key,
            "--overwrite",
            "always",
        ];
        all.extend_from_slice(args);
        self.sender.send(&all)
    }

    fn landed(&self, name: &str) -> PathBuf {
        self.dst.path().join(name)
    }
}

#[test]
fn an_unchanged_tree_sends_no_file_data_and_one_changed_file_of_a_thousand_is_all_that_goes() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    let mut total = 0u64;
    for i in 0..1000u32 {
        let dir = tree.join(format!("d{}", i % 10));
        fs::create_dir_all(&dir).unwrap();
        let content: Vec<u8> = (0..1000 + i * 3).map(|j| (i * 31 + j) as u8).collect();
        total += content.len() as u64;
        fs::write(dir.join(format!("f{i}")), content).unwrap();
    }
    let bench = SyncPair::new();
    assert_eq!(bench.send(&tree, &[]), (total, 0));
    assert_eq!(tree_digests(&bench.landed("tree")), tree_digests(&tree));

    // Sent again unchanged: not one byte of file data, every file skipped.
    assert_eq!(bench.send(&tree, &[]), (0, 1000));
    assert_eq!(tree_digests(&bench.landed("tree")), tree_digests(&tree));

    // One file changed (new bytes, one more of them): only it goes.
    let changed = tree.join("d7/f517");
    let mut content = fs::read(&changed).unwrap();
    content.iter_mut().for_each(|b| *b = b.wrapping_add(1));
    content.push(9);
    fs::write(&changed, &content).unwrap();
    assert_eq!(bench.send(&tree, &[]), (content.len() as u64, 999));
    assert_eq!(tree_digests(&bench.landed("tree")), tree_digests(&tree));
}

#[test]
fn same_size_and_time_but_other_bytes_is_sent_with_checksum_and_skipped_without() {
    let (_dir, file) = source("data.bin", &vec![7u8; 100_000]);
    let bench = SyncPair::new();
    assert_eq!(bench.send(&file, &[]), (100_000, 0));
    // The receiver's copy changes behind the sender's back, keeping its size and time.
    let landed = bench.landed("data.bin");
    let time = fs::metadata(&landed).unwrap().modified().unwrap();
    fs::write(&landed, vec![8u8; 100_000]).unwrap();
    set_mtime(&landed, time);
    let other = digest(&landed);

    // Size and time say it is the same: skipped, left as it is.
    assert_eq!(bench.send(&file, &[]), (0, 1));
    assert_eq!(digest(&landed), other);
    // Digests say otherwise: sent.
    assert_eq!(bench.send(&file, &["--checksum"]), (100_000, 0));
    assert_eq!(digest(&landed), digest(&file));
    // And once they match, skipped again by digest.
    assert_eq!(bench.send(&file, &["--checksum"]), (0, 1));
    assert_eq!(digest(&landed), digest(&file));
}

#[test]
fn update_leaves_a_newer_receiver_copy_untouched_and_sends_the_older_ones() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("newer-there"), b"source one").unwrap();
    fs::write(tree.join("older-there"), b"source two").unwrap();
    let bench = SyncPair::new();
    assert_eq!(bench.send(&tree, &[]), (20, 0));
    // The receiver's first copy is edited there later than the source; the source's second
    // file is edited after the receiver's copy.
    let newer = bench.landed("tree/newer-there");
    fs::write(&newer, b"edited at the receiver").unwrap();
    let hour = Duration::from_secs(3600);
    set_mtime(&newer, std::time::SystemTime::now() + hour);
    fs::write(tree.join("newer-there"), b"source one, edited").unwrap();
    fs::write(tree.join("older-there"), b"source two, edited").unwrap();
    set_mtime(
        &tree.join("older-there"),
        std::time::SystemTime::now() + hour,
    );

    assert_eq!(bench.send(&tree, &["--update"]), (18, 1));
    assert_eq!(fs::read(&newer).unwrap(), b"edited at the receiver");
    assert_eq!(
        digest(&bench.landed("tree/older-there")),
        digest(&tree.join("older-there"))
    );
    // Without --update the newer copy is replaced like any other changed file.
    assert_eq!(bench.send(&tree, &[]), (18, 1));
    assert_eq!(tree_digests(&bench.landed("tree")), tree_digests(&tree));
}

#[test]
fn a_dry_run_lists_what_would_be_sent_and_changes_nothing() {
    let src = tempfile::tempdir().unwrap();
    let tree = src.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    for name in ["a", "b", "sub/c"] {
        fs::write(tree.join(name), format!("content of {name}")).unwrap();
    }
    let bench = SyncPair::new();
    bench.send(&tree, &[]);
    let before = tree_digests(&bench.landed("tree"));
    assert_eq!(before, tree_digests(&tree));
    fs::write(tree.join("b"), b"b, changed").unwrap();
    fs::write(tree.join("sub/new"), b"a new file").unwrap();

    let out = bench.send_output(&tree, &["--dry-run"]);
    let said = succeeded(&out);
    assert!(said.contains("nothing changed"), "{said}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = stdout
        .lines()
        .filter(|path| {
            tree.join(path.strip_prefix("tree/").unwrap_or(""))
                .is_file()
        })
        .collect();
    assert_eq!(listed, ["tree/b", "tree/sub/new"], "{stdout}");
    // The receiver holds what it held, byte for byte, and nothing more.
    assert_eq!(tree_digests(&bench.landed("tree")), before);
    // The real send then does what the dry run said.
    assert_eq!(bench.send(&tree, &[]), (20, 2));
    assert_eq!(tree_digests(&bench.landed("tree")), tree_digests(&tree));
}
