//! A receiver behind a firewall, reached through `jetstream relay`, in three network
//! namespaces the test makes: the sender's and the receiver's each reach only the relay's (no
//! route leads from one to the other, so the receiver takes no UDP or TCP from the sender), and
//! 1 GiB sent to the relay's public port arrives identical. Needs root (CI runs as root);
//! elsewhere it says so and passes nothing.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use wan_link::netns;

const BIN: &str = env!("CARGO_BIN_EXE_jetstream");
const USER: &str = "ops";
const PASSWORD: &str = "relay test";
/// The relay's control port inside its namespace.
const CONTROL_PORT: &str = "18887";

/// Three namespaces and the links between them; removed when dropped.
struct Namespaces {
    sender: String,
    receiver: String,
    relay: String,
    _made: netns::Namespaces,
}

impl Namespaces {
    /// sender 10.77.1.1 ⇄ 10.77.1.2 relay 10.77.2.2 ⇄ 10.77.2.1 receiver; the relay forwards
    /// nothing between its links (a new namespace does not).
    fn make() -> Namespaces {
        let id = std::process::id();
        let [sender, receiver, relay] = ["s", "r", "x"].map(|side| format!("js-{side}-{id}"));
        let made = netns::Namespaces::make([&sender, &receiver, &relay].map(String::from));
        let ns = Namespaces {
            sender,
            receiver,
            relay,
            _made: made.unwrap(),
        };
        for (side, net, a, b) in [
            (&ns.sender, "1", "vs", "xs"),
            (&ns.receiver, "2", "vr", "xr"),
        ] {
            let (a, b) = (format!("{a}{id}"), format!("{b}{id}"));
            ip(&[
                "link", "add", &a, "netns", side, "type", "veth", "peer", "name", &b, "netns",
                &ns.relay,
            ]);
            ip(&[
                "-n",
                side,
                "addr",
                "add",
                &format!("10.77.{net}.1/24"),
                "dev",
                &a,
            ]);
            ip(&[
                "-n",
                &ns.relay,
                "addr",
                "add",
                &format!("10.77.{net}.2/24"),
                "dev",
                &b,
            ]);
            ip(&["-n", side, "link", "set", &a, "up"]);
            ip(&["-n", &ns.relay, "link", "set", &b, "up"]);
        }
        ns
    }

    /// `jetstream ARGS` in namespace `ns`.
    fn jetstream(&self, ns: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns, BIN]).args(args);
        command
    }
}

fn ip(args: &[&str]) {
    netns::ip(args).unwrap();
}

/// Runs `command`, which must succeed: its stdout.
fn ok(mut command: Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A process that runs until dropped, with the lines it printed on stdout.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut sink = String::new();
            let _ = stderr.read_to_string(&mut sink);
            eprint!("{sink}");
        });
        Running { child, lines }
    }

    /// The rest of the first line starting with `prefix`, within 30 s.
    fn field(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no line starting {prefix:?}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn random_file(path: &Path, size: usize) {
    let mut data = vec![0u8; size];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(path, data).unwrap();
}

fn digest(path: &Path) -> String {
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut hasher).unwrap();
    hasher.finalize().to_hex().to_string()
}

#[test]
fn a_receiver_behind_a_firewall_gets_1_gib_through_the_relay_identical() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: making network namespaces needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| -> PathBuf { dir.path().join(name) };
    let ns = Namespaces::make();
    let state = path("receiver");
    std::fs::create_dir_all(&state).unwrap();
    let server_key = ok({
        let mut c = Command::new(BIN);
        c.args(["key", "--key-file"])
            .arg(state.join("identity.pk8"));
        c
    });
    let server_key = server_key.trim();
    let sender_key = ok({
        let mut c = Command::new(BIN);
        c.args(["key", "--key-file"]).arg(path("sender.key"));
        c
    });
    let out = Command::new(BIN)
        .args(["user", "add", "--state-dir"])
        .arg(&state)
        .arg(USER)
        .env("JETSTREAM_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success());

    let relay = Running::start(ns.jetstream(
        &ns.relay,
        &[
            "relay",
            "--control-port",
            CONTROL_PORT,
            "--authorized-key",
            server_key,
            "--key-file",
            path("relay.key").to_str().unwrap(),
        ],
    ));
    relay.field("relay-control ");
    let inbox = state.join("in");
    let server = Running::start(ns.jetstream(
        &ns.receiver,
        &[
            "server",
            "--state-dir",
            state.to_str().unwrap(),
            "--sandbox",
            inbox.to_str().unwrap(),
            "--api-port",
            "0",
            "--recv-port",
            "0",
            "--recv-relay-host",
            "10.77.2.2",
            "--recv-relay-port",
            CONTROL_PORT,
        ],
    ));
    let api = server.field("api-listening https://");
    let fingerprint = server.field("api-fingerprint ");
    let direct = server.field("recv-listening ");
    let public = server.field("recv-relay ");
    let api_port = api.rsplit_once(':').unwrap().1;
    let port = public.rsplit_once(':').unwrap().1;
    let mut authorize = ns.jetstream(
        &ns.receiver,
        &["api", "--host", "127.0.0.1", "--api-control-port", api_port],
    );
    authorize
        .args(["--fingerprint", &fingerprint, "--user", USER])
        .args([
            "recv.addAuthorizedClientAsync",
            &format!("--publicKey={}", sender_key.trim()),
        ])
        .env("JETSTREAM_API_PASSWORD", PASSWORD);
    ok(authorize);

    let source = path("one.bin");
    random_file(&source, 1 << 30);
    let send = |to: String, timeout: &str| -> Output {
        ns.jetstream(
            &ns.sender,
            &[
                "send",
                source.to_str().unwrap(),
                "--to",
                &to,
                "--destination-key",
                server_key,
                "--key-file",
                path("sender.key").to_str().unwrap(),
                "--no-progress",
                "--timeout",
                timeout,
            ],
        )
        .output()
        .unwrap()
    };
    // The receiver cannot be reached from the sender's namespace.
    let direct_port = direct.rsplit_once(':').unwrap().1;
    let refused = send(format!("10.77.2.1:{direct_port}"), "2");
    assert!(!refused.status.success(), "a direct send must fail");
    let out = send(format!("10.77.1.2:{port}"), "30");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("complete files=1 bytes=1073741824"),
        "{summary}"
    );
    eprintln!("through the relay: {summary}");
    assert_eq!(digest(&inbox.join("one.bin")), digest(&source));
}
