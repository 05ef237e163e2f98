//! The `jetstream` binary as a user runs it: a transfer on loopback (IPv4 and IPv6) verified
//! byte for byte, and a one-line error with a failing status for a receiver that is down, a
//! key that does not match, a source that cannot be read and a destination outside the root.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_jetstream");

struct Receiver {
    child: Child,
    addr: String,
    key: String,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(root: &Path, listen: &str) -> Receiver {
    let mut child = Command::new(BIN)
        .args(["receive", "--once", "--listen", listen, "--root"])
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The rest of stdout is left unread: the receiver must not mind.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines.next().unwrap().unwrap();
    let key = lines.next().unwrap().unwrap();
    Receiver {
        child,
        addr: addr.strip_prefix("listening ").unwrap().to_string(),
        key: key.strip_prefix("public-key ").unwrap().to_string(),
    }
}

fn send(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("send")
        .args(args)
        .args(["--no-progress", "--timeout", "3"])
        .output()
        .unwrap()
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("jetstream: "), "{stderr}");
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

fn transfer_over(listen: &str) {
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("payload");
    fs::create_dir_all(dir.join("inner/empty")).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.join("big"), &big).unwrap();
    fs::write(dir.join("inner/small"), b"hello").unwrap();
    let dst = tempfile::tempdir().unwrap();
    let mut rx = receiver(dst.path(), listen);
    let out = send(&[
        dir.to_str().unwrap(),
        "--to",
        &rx.addr,
        "--destination-key",
        &rx.key,
        "--dest",
        "incoming",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("complete files=5 bytes=3000005 "),
        "{last}"
    );
    assert!(rx.child.wait().unwrap().success());
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
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"x").unwrap();
    let to = format!("127.0.0.2:{port}");
    let out = send(&[src.path().join("f").to_str().unwrap(), "--to", &to]);
    let err = one_line_error(&out);
    assert!(err.contains(&to), "{err}");
}

#[test]
fn key_mismatch() {
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(dst.path(), "127.0.0.1:0");
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"x").unwrap();
    let wrong = "ab".repeat(32);
    let out = send(&[
        src.path().join("f").to_str().unwrap(),
        "--to",
        &rx.addr,
        "--destination-key",
        &wrong,
    ]);
    let err = one_line_error(&out);
    assert!(err.contains(&wrong), "{err}");
    assert!(fs::read_dir(dst.path()).unwrap().next().is_none());
}

#[test]
fn unreadable_source() {
    let dst = tempfile::tempdir().unwrap();
    let rx = receiver(dst.path(), "127.0.0.1:0");
    let missing = dst.path().join("does-not-exist");
    let out = send(&[missing.to_str().unwrap(), "--to", &rx.addr]);
    let err = one_line_error(&out);
    assert!(err.contains("does-not-exist"), "{err}");
}

#[test]
fn destination_outside_the_root() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    fs::create_dir(&root).unwrap();
    let rx = receiver(&root, "127.0.0.1:0");
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"x").unwrap();
    let out = send(&[
        src.path().join("f").to_str().unwrap(),
        "--to",
        &rx.addr,
        "--dest",
        "../escape",
    ]);
    let err = one_line_error(&out);
    assert!(err.contains(".."), "{err}");
    assert_eq!(fs::read_dir(outer.path()).unwrap().count(), 1);
    assert!(fs::read_dir(&root).unwrap().next().is_none());
}
