//! `wan-link` between two network namespaces the test makes: a TCP handshake takes at least
//! the set round-trip time (and not much more), 4 MiB sent over TCP arrive identical, and the
//! link's own counters show the set random loss over the packets it carried. Needs root (CI
//! runs as root); elsewhere it says so and passes nothing.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use wan_link::netns::Namespaces;

const BIN: &str = env!("CARGO_BIN_EXE_wan-link");
const RTT_MS: u64 = 40;
const LOSS_PERCENT: f64 = 1.0;

/// The emulator, stopped by SIGTERM when dropped.
struct Emulator {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Emulator {
    fn start(ns: &Namespaces, series: &std::path::Path) -> Emulator {
        let mut child = Command::new(BIN)
            .args([
                "--ns-a",
                ns.name(0),
                "--ns-b",
                ns.name(1),
                "--rate-mbit",
                "200",
            ])
            .args(["--rtt-ms", &RTT_MS.to_string()])
            .args(["--loss-percent", &LOSS_PERCENT.to_string()])
            .args(["--queue-bytes", "67108864", "--series"])
            .arg(series)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("ready "), "wan-link said {line:?}");
        Emulator { child, stdout }
    }

    /// Stops the emulator: its closing lines, one a direction.
    fn stop(mut self) -> String {
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        assert!(self.child.wait().unwrap().success());
        rest
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on a thread inside namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    thread::spawn(move || {
        let file = File::open(&path).unwrap();
        // SAFETY: a descriptor of a network namespace; only this thread moves into it.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        f()
    })
}

fn pseudo_random(size: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A counter from a closing line such as `a-to-b delivered-packets=5 ...`.
fn counter(totals: &str, direction: &str, name: &str) -> u64 {
    let line = totals
        .lines()
        .find(|l| l.starts_with(direction))
        .unwrap_or_else(|| panic!("no {direction} line in {totals:?}"));
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        .parse()
        .unwrap()
}

#[test]
fn tcp_crosses_the_emulated_link_with_its_delay_and_loss() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: making network namespaces and TUN devices needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series.csv");
    let id = std::process::id();
    let ns = Namespaces::make([format!("wan-t{id}a"), format!("wan-t{id}b")]).unwrap();
    let emulator = Emulator::start(&ns, &series);
    let listener = in_netns(ns.name(1), || TcpListener::bind("198.18.0.2:0").unwrap())
        .join()
        .unwrap();
    let server: SocketAddr = listener.local_addr().unwrap();
    let data = pseudo_random(4 << 20);
    let received = thread::spawn(move || {
        // Five handshakes to time, then the transfer.
        for _ in 0..5 {
            listener.accept().unwrap();
        }
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        received
    });
    let sent = data.clone();
    let handshakes = in_netns(ns.name(0), move || {
        let handshakes: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                TcpStream::connect(server).unwrap();
                start.elapsed()
            })
            .collect();
        let mut stream = TcpStream::connect(server).unwrap();
        stream.write_all(&sent).unwrap();
        handshakes
    })
    .join()
    .unwrap();
    assert!(received.join().unwrap() == data, "the bytes differ");
    // A handshake is one round trip: never shorter than the link's delay, and on an idle
    // link not much longer (the fastest of five, in case a SYN was lost).
    let fastest = *handshakes.iter().min().unwrap();
    assert!(fastest >= Duration::from_millis(RTT_MS), "{fastest:?}");
    assert!(fastest < Duration::from_millis(RTT_MS + 60), "{fastest:?}");

    // 20,000 datagrams, to measure the loss on enough packets.
    let sink = in_netns(ns.name(1), || UdpSocket::bind("198.18.0.2:0").unwrap())
        .join()
        .unwrap();
    let sink_addr = sink.local_addr().unwrap();
    in_netns(ns.name(0), move || {
        let socket = UdpSocket::bind("198.18.0.1:0").unwrap();
        for _ in 0..20_000 {
            socket.send_to(&[0u8; 200], sink_addr).unwrap();
            // Below the receiver's buffer and the link's rate, so only the link drops.
            thread::sleep(Duration::from_micros(20));
        }
    })
    .join()
    .unwrap();
    thread::sleep(Duration::from_millis(RTT_MS * 2));
    drop(sink);

    let totals = emulator.stop();
    let delivered = counter(&totals, "a-to-b", "delivered-packets")
        + counter(&totals, "b-to-a", "delivered-packets");
    let lost =
        counter(&totals, "a-to-b", "random-drops") + counter(&totals, "b-to-a", "random-drops");
    assert_eq!(
        counter(&totals, "a-to-b", "queue-drops") + counter(&totals, "b-to-a", "queue-drops"),
        0
    );
    assert!(counter(&totals, "a-to-b", "delivered-bytes") > 4 << 20);
    // The seeded draws make the share the same on every run of the same packets; five
    // standard deviations either side of the set share covers any run.
    let carried = (delivered + lost) as f64;
    let expected = carried * LOSS_PERCENT / 100.0;
    let sigma = (expected * (1.0 - LOSS_PERCENT / 100.0)).sqrt();
    assert!(
        (lost as f64 - expected).abs() <= 5.0 * sigma,
        "{lost} lost of {carried} at {LOSS_PERCENT}%"
    );
    // The series' last line holds the same totals.
    let series = std::fs::read_to_string(&series).unwrap();
    let last: Vec<u64> = series
        .lines()
        .last()
        .unwrap()
        .split(',')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(last[0] + last[6], delivered);
    assert_eq!(last[2] + last[8], lost);
}
