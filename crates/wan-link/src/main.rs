//! `wan-link`: joins two network namespaces through an emulated WAN link. It makes a TUN
//! device in each (moved there and addressed with `ip`), and moves the IP packets between them
//! through one [`link::Link`] per direction: a bottleneck rate, a tail-drop queue, random loss
//! and half the round-trip time of delay each way. It prints `ready` once both devices are up,
//! samples each direction's counters every 100 ms into a CSV file (the goodput the link itself
//! measured), and on SIGINT or SIGTERM writes a last sample, prints the totals and exits; the
//! devices go with the process.

mod link;
mod tun;

use clap::Parser;
use link::{default_queue_bytes, Config, Counters, Link, NANOS_PER_SECOND};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tun::Tun;

/// How often the counters are written to the series file.
const SAMPLE_EVERY_NS: i64 = 100_000_000;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Namespace of side A (a name `ip netns` knows).
    #[arg(long)]
    ns_a: String,
    /// Namespace of side B.
    #[arg(long)]
    ns_b: String,
    /// Address of side A's device, CIDR.
    #[arg(long, default_value = "198.18.0.1/24")]
    addr_a: String,
    /// Address of side B's device, CIDR.
    #[arg(long, default_value = "198.18.0.2/24")]
    addr_b: String,
    /// Bottleneck rate each way, Mbit/s of IP packets.
    #[arg(long, default_value_t = 500.0, value_parser = positive)]
    rate_mbit: f64,
    /// Round-trip time the link adds, ms (half of it each way).
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    rtt_ms: f64,
    /// Share of packets lost at random each way, percent.
    #[arg(long, default_value_t = 0.0, value_parser = percent)]
    loss_percent: f64,
    /// Bytes each direction's queue holds [default: one bandwidth-delay product at the rate
    /// and RTT, at least 64 packets of 1,500 bytes].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1500..))]
    queue_bytes: Option<u64>,
    /// Seed of the random loss (B to A uses the next one).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// MTU of both devices.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..))]
    mtu: u16,
    /// CSV file of the counters every 100 ms: the wall-clock time in seconds, then for A to B
    /// and for B to A each: packets and bytes delivered, random drops and their bytes, queue
    /// drops and their bytes (all cumulative).
    #[arg(long)]
    series: Option<PathBuf>,
}

fn positive(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{value:?} is not a positive number")),
    }
}

fn non_negative(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{value:?} is not a number of at least 0")),
    }
}

fn percent(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("{value:?} is not a percentage from 0 to 100")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wan-link: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Each direction's link settings.
fn configs(args: &Args) -> [Config; 2] {
    let rate_bps = (args.rate_mbit * 1e6) as u64;
    let rtt_ns = (args.rtt_ms * 1e6) as u64;
    let config = Config {
        rate_bps,
        delay_ns: rtt_ns / 2,
        loss: args.loss_percent / 100.0,
        queue_bytes: args
            .queue_bytes
            .unwrap_or_else(|| default_queue_bytes(rate_bps, rtt_ns)),
        seed: args.seed,
    };
    let back = Config {
        seed: args.seed.wrapping_add(1),
        ..config.clone()
    };
    [config, back]
}

fn run(args: &Args) -> io::Result<()> {
    let signals = block_stop_signals()?;
    let id = std::process::id();
    let a = Tun::create(&format!("wl{id}a"))?;
    let b = Tun::create(&format!("wl{id}b"))?;
    a.place(&args.ns_a, &args.addr_a, args.mtu)?;
    b.place(&args.ns_b, &args.addr_b, args.mtu)?;
    let mut series = match &args.series {
        Some(path) => {
            let mut file = BufWriter::new(File::create(path)?);
            writeln!(file, "{}", series_header())?;
            Some(file)
        }
        None => None,
    };
    let devices = Arc::new((a, b));
    let counters = Arc::new([Mutex::default(), Mutex::default()]);
    let epoch = Instant::now();
    let (failed, failure) = mpsc::channel();
    for (direction, config) in configs(args).into_iter().enumerate() {
        let (devices, counters, failed) = (devices.clone(), counters.clone(), failed.clone());
        thread::spawn(move || {
            let (from, to) = match direction {
                0 => (&devices.0, &devices.1),
                _ => (&devices.1, &devices.0),
            };
            let error = tun::pump(from, to, Link::new(config), epoch, &counters[direction]);
            let _ = failed.send(error);
        });
    }
    let [ab, _] = configs(args);
    println!(
        "ready dev-a={} dev-b={} rate-bps={} one-way-delay-ns={} loss={} queue-bytes={}",
        format_args!("wl{id}a"),
        format_args!("wl{id}b"),
        ab.rate_bps,
        ab.delay_ns,
        ab.loss,
        ab.queue_bytes
    );
    io::stdout().flush()?;
    let sample = |series: &mut Option<BufWriter<File>>| -> io::Result<[Counters; 2]> {
        let now = [&counters[0], &counters[1]]
            .map(|c| *c.lock().expect("no thread panics holding the counters"));
        if let Some(file) = series {
            writeln!(file, "{}", series_line(SystemTime::now(), &now))?;
            file.flush()?;
        }
        Ok(now)
    };
    loop {
        if let Ok(error) = failure.try_recv() {
            return Err(error);
        }
        if wait_for_stop(&signals, SAMPLE_EVERY_NS)? {
            break;
        }
        sample(&mut series)?;
    }
    // Let the directions publish their last counts before the final sample.
    thread::sleep(std::time::Duration::from_millis(20));
    let totals = sample(&mut series)?;
    for (name, c) in ["a-to-b", "b-to-a"].iter().zip(totals) {
        println!(
            "{name} delivered-packets={} delivered-bytes={} random-drops={} random-drop-bytes={} queue-drops={} queue-drop-bytes={}",
            c.delivered_packets, c.delivered_bytes, c.random_drops, c.random_drop_bytes, c.queue_drops, c.queue_drop_bytes
        );
    }
    Ok(())
}

/// The series file's first line.
fn series_header() -> String {
    let mut columns = vec!["unix_seconds".to_owned()];
    for direction in ["ab", "ba"] {
        for counter in [
            "packets",
            "bytes",
            "random_drops",
            "random_drop_bytes",
            "queue_drops",
            "queue_drop_bytes",
        ] {
            columns.push(format!("{direction}_{counter}"));
        }
    }
    columns.join(",")
}

/// One line of the series file: `at`, then both directions' counters.
fn series_line(at: SystemTime, counters: &[Counters; 2]) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut line = format!(
        "{}.{:06}",
        since.as_secs(),
        since.subsec_nanos() as u64 * 1_000_000 / NANOS_PER_SECOND
    );
    for c in counters {
        for value in [
            c.delivered_packets,
            c.delivered_bytes,
            c.random_drops,
            c.random_drop_bytes,
            c.queue_drops,
            c.queue_drop_bytes,
        ] {
            line.push_str(&format!(",{value}"));
        }
    }
    line
}

/// Blocks SIGINT and SIGTERM in this thread and the threads it starts, so that they wait for
/// [`wait_for_stop`] instead of killing the process before its last sample.
fn block_stop_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data that sigemptyset initialises; the calls are checked.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// Waits up to `ns` nanoseconds for one of `signals`: whether one came.
fn wait_for_stop(signals: &libc::sigset_t, ns: i64) -> io::Result<bool> {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: ns as libc::c_long,
    };
    // SAFETY: valid set and timespec; no siginfo is asked for.
    let rc = unsafe { libc::sigtimedwait(signals, std::ptr::null_mut(), &timeout) };
    if rc > 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(false),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_series_line_has_a_value_for_every_column() {
        let c = Counters {
            delivered_packets: 1,
            delivered_bytes: 2,
            random_drops: 3,
            random_drop_bytes: 4,
            queue_drops: 5,
            queue_drop_bytes: 6,
        };
        let line = series_line(
            UNIX_EPOCH + Duration::from_millis(1_500),
            &[c, Counters::default()],
        );
        assert_eq!(line, "1.500000,1,2,3,4,5,6,0,0,0,0,0,0");
        assert_eq!(series_header().split(',').count(), line.split(',').count());
    }

    #[test]
    fn each_direction_gets_half_the_rtt_and_its_own_seed() {
        let args = Args::parse_from([
            "wan-link",
            "--ns-a",
            "a",
            "--ns-b",
            "b",
            "--rtt-ms",
            "100",
            "--loss-percent",
            "2",
            "--seed",
            "9",
        ]);
        let [ab, ba] = configs(&args);
        assert_eq!(ab.delay_ns, 50_000_000);
        assert_eq!(ab.rate_bps, 500_000_000);
        assert_eq!(ab.queue_bytes, 6_250_000);
        assert!((ab.loss - 0.02).abs() < 1e-12);
        assert_eq!((ab.seed, ba.seed), (9, 10));
        assert_eq!(ba.delay_ns, ab.delay_ns);
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        for (name, value) in [
            ("--loss-percent", "101"),
            ("--rate-mbit", "0"),
            ("--rtt-ms", "-1"),
            ("--queue-bytes", "10"),
        ] {
            let bad = format!("{name}={value}");
            let error =
                Args::try_parse_from(["wan-link", "--ns-a", "a", "--ns-b", "b", &bad]).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
