//! `jetstream server` driven only with `jetstream api`, as an operator would: two servers, one
//! sending to the other, through a whole transfer whose received file is identical to its
//! source; the same with the sending server stopped by SIGTERM mid-transfer and started again
//! on its state directory, the transfer then completing with identical bytes. And what the
//! operator sees when something is wrong: failures as `CODE: message` with a failing status,
//! failed logins logged by the server, an untrusted certificate refused, unsafe flags refused.
//! And `jetstream send --server`, which hands a send to the sending server.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_jetstream");
const USER: &str = "ops";
const PASSWORD: &str = "correct horse";

/// A running `jetstream server` and what it printed at its start.
struct Server {
    child: Child,
    state_dir: PathBuf,
    api_port: u16,
    fingerprint: String,
    recv_port: u16,
    public_key: String,
    /// Everything it printed on stderr so far.
    stderr: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds the test's user to the server whose state directory is `state_dir`.
fn add_user(state_dir: &Path) {
    let out = Command::new(BIN)
        .args(["user", "add", "--state-dir"])
        .arg(state_dir)
        .arg(USER)
        .env("JETSTREAM_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Server {
    /// `jetstream server` on `state_dir`, everything on loopback at free ports.
    fn start(state_dir: &Path, args: &[&str]) -> Server {
        let mut command = Command::new(BIN);
        command
            .args([
                "server",
                "--api-port",
                "0",
                "--recv-host",
                "127.0.0.1",
                "--recv-port",
                "0",
            ])
            .arg("--state-dir")
            .arg(state_dir)
            .args(args)
            .env("JETSTREAM_LOG", "info");
        Server::spawn(command, state_dir)
    }

    /// Runs `command` (a `jetstream server` whose state directory is `state_dir`) and reads
    /// the lines it prints at its start.
    fn spawn(mut command: Command, state_dir: &Path) -> Server {
        let mut child = command
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
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        for _ in 0..4 {
            match lines.next() {
                Some(Ok(line)) => printed.push(line),
                _ => {
                    let _ = child.wait();
                    panic!("the server did not start: {}", stderr.lock().unwrap());
                }
            }
        }
        let field = |name: &str| {
            printed
                .iter()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {printed:?}"))
                .to_owned()
        };
        let api = field("api-listening https://");
        let recv = field("recv-listening ");
        Server {
            child,
            state_dir: state_dir.to_owned(),
            api_port: api.rsplit_once(':').unwrap().1.parse().unwrap(),
            fingerprint: field("api-fingerprint "),
            recv_port: recv.rsplit_once(':').unwrap().1.parse().unwrap(),
            public_key: field("public-key "),
            stderr,
        }
    }

    /// `jetstream api METHOD ARGS` against this server, logged in as the test's user.
    fn api_output(&self, method: &str, args: &[&str]) -> Output {
        let port = self.api_port.to_string();
        Command::new(BIN)
            .args(["api", "--host", "127.0.0.1", "--api-control-port", &port])
            .args(["--fingerprint", &self.fingerprint, "--user", USER, method])
            .args(args)
            .env("JETSTREAM_API_PASSWORD", PASSWORD)
            .output()
            .unwrap()
    }

    /// [`Server::api_output`], which must succeed: its JSON result.
    fn api(&self, method: &str, args: &[&str]) -> Value {
        let out = self.api_output(method, args);
        assert!(
            out.status.success(),
            "{method} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Stops the server with SIGTERM; whether it exited with status 0.
    fn terminate(mut self) -> bool {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling a child process this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        self.child.wait().unwrap().success()
    }

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

/// A file of `size` pseudo-random bytes at `path`.
fn random_file(path: &Path, size: usize) {
    let mut data = vec![0u8; size];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(path, data).unwrap();
}

fn digest(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

/// Makes `receiver` trust `sender`'s key.
fn authorize(sender: &Server, receiver: &Server) {
    let request = receiver.api(
        "recv.addAuthorizedClientAsync",
        &[&format!("--publicKey={}", sender.public_key)],
    );
    receiver.api(
        "server.getRequestResult",
        &[&format!("--requestId={}", request["requestId"])],
    );
}

/// A sender and a receiver server, the receiver trusting the sender's key, and a destination
/// at the sender for the receiver (with `destination_args`): the destination's id.
fn pair(sender: &Server, receiver: &Server, destination_args: &[&str]) -> String {
    authorize(sender, receiver);
    let mut args = vec![
        "--destinationAddress=127.0.0.1".to_owned(),
        format!("--destinationPort={}", receiver.recv_port),
    ];
    args.extend(destination_args.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let destination = sender.api("send.createDestination", &args);
    destination["destinationId"].as_str().unwrap().to_owned()
}

/// Creates a manifest of `source` (sent as `name`) and a transfer of it: the transfer's id.
fn start_transfer(sender: &Server, destination: &str, name: &str, source: &Path) -> u64 {
    let mappings = json!({ "mappings": { name: source.to_str().unwrap() } }).to_string();
    let manifest = sender.api("send.createManifest", &[&mappings]);
    let manifest_id = manifest["manifestId"].as_str().unwrap();
    let ready = sender.api(
        "send.waitForManifest",
        &[&format!("--manifestId={manifest_id}")],
    );
    assert_eq!(ready["status"], "complete", "{ready}");
    let transfer = sender.api(
        "send.createTransfer",
        &[
            &format!("--destinationId={destination}"),
            &format!("--manifestId={manifest_id}"),
        ],
    );
    transfer["transferId"].as_u64().unwrap()
}

#[test]
fn two_servers_driven_by_jetstream_api_move_a_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    add_user(&a);
    add_user(&b);
    let sender = Server::start(&a, &[]);
    let receiver = Server::start(&b, &["--sandbox", b.join("inbox").to_str().unwrap()]);
    let info = sender.api("server.getServerInfo", &[]);
    assert_eq!(info["apiControlPort"], json!(sender.api_port));
    assert_eq!(info["recvPort"], json!(sender.recv_port));
    assert_eq!(info["authRequired"], true);
    let destination = pair(&sender, &receiver, &[]);
    let source = dir.path().join("payload.bin");
    random_file(&source, 5_000_000);
    let transfer = start_transfer(&sender, &destination, "payload.bin", &source);
    let done = sender.api(
        "send.waitForTransfer",
        &[&format!("--transferId={transfer}")],
    );
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(digest(&b.join("inbox/payload.bin")), digest(&source));
    assert!(sender.terminate(), "SIGTERM ends the server with status 0");
    assert!(receiver.terminate());
}

#[test]
fn a_transfer_survives_sigterm_to_its_sending_server_and_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    add_user(&a);
    add_user(&b);
    let sender = Server::start(&a, &[]);
    let receiver = Server::start(&b, &[]);
    // 24 MB at 32 Mbit/s: about six seconds.
    let destination = pair(&sender, &receiver, &["--sendRateMax=32000"]);
    let source = dir.path().join("big.bin");
    random_file(&source, 24_000_000);
    let transfer = start_transfer(&sender, &destination, "big.bin", &source);
    let id = format!("--transferId={transfer}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progress = sender.api("send.getTransfer", &[&id]);
        assert_ne!(
            progress["status"], "complete",
            "the transfer ended before the stop"
        );
        if progress["bytesAcked"].as_u64().unwrap() > 1_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {progress}");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(sender.terminate(), "SIGTERM ends the server with status 0");
    let sender = Server::start(&a, &[]);
    let done = sender.api("send.waitForTransfer", &[&id]);
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(
        digest(&b.join("received/big.bin")),
        digest(&source),
        "the received file differs from its source"
    );
    assert!(sender.terminate());
    assert!(receiver.terminate());
}

#[test]
fn failures_read_code_and_message_and_failed_logins_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    add_user(&a);
    let server = Server::start(&a, &[]);
    let port = server.api_port.to_string();
    let code_of = |out: &Output| {
        assert!(
            !out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8(out.stderr.clone()).unwrap();
        let line = stderr.trim_end();
        assert!(!line.contains('\n'), "one line: {line}");
        line.split_once(": ").unwrap().0.to_owned()
    };
    assert_eq!(
        code_of(&server.api_output("send.noSuchMethod", &[])),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code_of(&server.api_output("send.getTransfer", &["--transferId=77"])),
        "NOT_FOUND"
    );
    assert_eq!(
        code_of(&server.api_output("send.getTransfer", &["--transferId=x"])),
        "INVALID_ARGUMENT"
    );
    // No credentials.
    let anonymous = Command::new(BIN)
        .args(["api", "--host", "127.0.0.1", "--api-control-port", &port])
        .args(["--fingerprint", &server.fingerprint, "server.getServerInfo"])
        .env_remove("JETSTREAM_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(code_of(&anonymous), "AUTH_FAILED");
    // A wrong password, logged with the user and the address.
    let wrong = Command::new(BIN)
        .args(["api", "--host", "127.0.0.1", "--api-control-port", &port])
        .args([
            "--fingerprint",
            &server.fingerprint,
            "--user",
            USER,
            "server.getServerInfo",
        ])
        .env("JETSTREAM_API_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(code_of(&wrong), "AUTH_FAILED");
    let log = server.wait_for_stderr("failed login");
    assert!(
        log.contains(&format!("failed login as \"{USER}\" from 127.0.0.1")),
        "{log}"
    );
    // Another certificate than the pinned one.
    let other = format!("sha256:{}", "ab".repeat(32));
    let pinned = Command::new(BIN)
        .args(["api", "--host", "127.0.0.1", "--api-control-port", &port])
        .args([
            "--fingerprint",
            &other,
            "--user",
            USER,
            "server.getServerInfo",
        ])
        .env("JETSTREAM_API_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(code_of(&pinned), "AUTH_FAILED");
    assert!(String::from_utf8_lossy(&pinned.stderr).contains("certificate"));
    // The right password still works.
    assert!(server.api("server.getServerInfo", &[])["publicKey"].is_string());
    assert!(server.terminate());
}

#[test]
fn the_certificate_is_kept_across_starts_and_unsafe_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let first = Server::start(&a, &[]);
    let fingerprint = first.fingerprint.clone();
    assert!(first.terminate());
    let second = Server::start(&a, &[]);
    assert_eq!(
        second.fingerprint, fingerprint,
        "the self-signed certificate is reused"
    );
    let key = std::fs::metadata(second.state_dir.join("api-tls/key.pem")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    assert!(second.terminate());
    for unsafe_flags in [
        &["--api-host", "0.0.0.0", "--api-plain"][..],
        &["--api-host", "0.0.0.0", "--api-no-auth"][..],
        &["--api-no-auth", "--api-allow-remote-control"][..],
    ] {
        let out = Command::new(BIN)
            .args([
                "server",
                "--api-port",
                "0",
                "--recv-port",
                "0",
                "--state-dir",
            ])
            .arg(&a)
            .args(unsafe_flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{unsafe_flags:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("loopback"), "{unsafe_flags:?}: {stderr}");
    }
}

#[test]
fn a_config_file_sets_what_flags_do_rate_limits_included_and_sighup_changes_the_log_level() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    add_user(&a);
    let config = dir.path().join("server.toml");
    let write_config = |level: &str| {
        let text = format!(
            "state-dir = {:?}\nsandbox = {:?}\nlog-format = \"json\"\nlog-level = \"{level}\"\n\
             api-port = 1\noutgoing-rate-limit = 4000\n",
            a.to_str().unwrap(),
            dir.path().join("inbox").to_str().unwrap()
        );
        std::fs::write(&config, text).unwrap();
    };
    write_config("warn");
    // Flags win: --api-port 0 over the file's port 1.
    let mut command = Command::new(BIN);
    command
        .args(["server", "--config", config.to_str().unwrap()])
        .args([
            "--api-port",
            "0",
            "--recv-host",
            "127.0.0.1",
            "--recv-port",
            "0",
            "--incoming-rate-limit",
            "2000",
        ]);
    let server = Server::spawn(command, &a);
    assert_ne!(server.api_port, 1);
    let info = server.api("server.getServerInfo", &[]);
    assert!(
        info["sandboxDir"].as_str().unwrap().ends_with("inbox"),
        "{info}"
    );
    // The rate limits of the file and the flags are the server's bandwidth limits.
    assert_eq!(
        info["bandwidthLimits"],
        json!({ "incomingKbps": 2000.0, "outgoingKbps": 4000.0 }),
        "{info}"
    );
    // At warn, a login is not logged; after SIGHUP at info, it is, as JSON.
    assert!(!server.stderr.lock().unwrap().contains("logged in"));
    write_config("info");
    let pid = libc::pid_t::try_from(server.child.id()).unwrap();
    // SAFETY: signalling a child process this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let log = server.wait_for_stderr("SIGHUP: log level info");
    assert!(log.contains("SIGHUP: log level info"), "{log}");
    server.api("server.getServerInfo", &[]);
    let log = server.wait_for_stderr("logged in");
    let line = log.lines().find(|line| line.contains("logged in")).unwrap();
    let event: Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["level"], "INFO", "{line}");
    assert!(
        event["fields"]["message"].as_str().unwrap().contains(USER),
        "{line}"
    );
    // A broken file keeps the settings in force.
    std::fs::write(&config, "state-dir = [").unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let log = server.wait_for_stderr("the settings are kept");
    assert!(log.contains("the settings are kept"), "{log}");
    server.api("server.getServerInfo", &[]);
    assert!(server.terminate());
}

/// `jetstream send ARGS --server` through `sender`'s control port, logged in with `password`, to
/// `receiver`, whose key is `destination_key`.
fn send_through(
    sender: &Server,
    receiver: &Server,
    password: &str,
    destination_key: &str,
    args: &[&str],
) -> Output {
    Command::new(BIN)
        .arg("send")
        .args(args)
        .args(["--to", &format!("127.0.0.1:{}", receiver.recv_port)])
        .args(["--server", &format!("127.0.0.1:{}", sender.api_port)])
        .args(["--fingerprint", &sender.fingerprint, "--user", USER])
        .args(["--destination-key", destination_key])
        .env("JETSTREAM_API_PASSWORD", password)
        .output()
        .unwrap()
}

#[test]
fn jetstream_send_with_server_hands_the_send_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    add_user(&a);
    add_user(&b);
    let sender = Server::start(&a, &[]);
    let inbox = b.join("inbox");
    let receiver = Server::start(&b, &["--sandbox", inbox.to_str().unwrap()]);
    authorize(&sender, &receiver);
    let source = dir.path().join("payload.bin");
    random_file(&source, 3_000_000);
    let key = receiver.public_key.clone();
    let out = send_through(
        &sender,
        &receiver,
        PASSWORD,
        &key,
        &[
            source.to_str().unwrap(),
            "--dest",
            "sent",
            "--rate",
            "2000000",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("complete files=1 bytes=3000000 seconds=") && last.contains(" gbps="),
        "{stdout}"
    );
    assert_eq!(digest(&inbox.join("sent/payload.bin")), digest(&source));
    // The transfer is the server's, with the parameters the flags gave.
    let transfers = sender.api("send.getTransfers", &[]);
    let transfer = &transfers.as_array().unwrap()[0];
    assert_eq!(transfer["destinationPath"], "sent", "{transfer}");
    assert_eq!(transfer["sendRateMax"], json!(2_000_000.0), "{transfer}");

    // Generated bytes: the server honours --generate per transfer.
    let out = send_through(
        &sender,
        &receiver,
        PASSWORD,
        &key,
        &["--generate", "1M", "--dest", "gen"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete files=1 bytes=1048576 "));
    assert_eq!(
        std::fs::metadata(inbox.join("gen/generated"))
            .unwrap()
            .len(),
        1_048_576
    );

    // A transfer that fails ends the command with its error and a failing status.
    let wrong_key = "ab".repeat(32);
    let out = send_through(
        &sender,
        &receiver,
        PASSWORD,
        &wrong_key,
        &[source.to_str().unwrap(), "--dest", "refused"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&wrong_key), "{stderr}");
    assert!(!inbox.join("refused").exists());

    // A wrong password is refused before anything is created.
    let before = sender
        .api("send.getTransfers", &[])
        .as_array()
        .unwrap()
        .len();
    let out = send_through(
        &sender,
        &receiver,
        "wrong",
        &key,
        &[source.to_str().unwrap(), "--dest", "denied"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong user name or password"), "{stderr}");
    assert_eq!(
        sender
            .api("send.getTransfers", &[])
            .as_array()
            .unwrap()
            .len(),
        before
    );

    // A relative path means nothing on the server's machine.
    let out = send_through(&sender, &receiver, PASSWORD, &key, &["payload.bin"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be absolute"), "{stderr}");
    // Flags only an engine in this process honours are refused with --server, and the control
    // port's flags without it.
    let out = send_through(
        &sender,
        &receiver,
        PASSWORD,
        &key,
        &[source.to_str().unwrap(), "--no-verify"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-verify"));
    let out = Command::new(BIN)
        .args(["send", source.to_str().unwrap(), "--to", "127.0.0.1:9"])
        .args(["--user", USER])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server"));
    assert!(sender.terminate());
    assert!(receiver.terminate());
}

/// `jetstream download` of `token` from `server` into `dir`, with the token's `password`.
fn download(server: &Server, token: &str, password: &str, dir: &Path, home: &Path) -> Output {
    Command::new(BIN)
        .arg("download")
        .arg(dir)
        .args(["--token", token])
        .args(["--from", &format!("127.0.0.1:{}", server.api_port)])
        .args(["--fingerprint", &server.fingerprint, "--timeout", "10"])
        .env("JETSTREAM_TOKEN_PASSWORD", password)
        .env("XDG_CONFIG_HOME", home)
        .output()
        .unwrap()
}

#[test]
fn jetstream_download_fetches_what_a_shared_token_grants_within_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("server");
    add_user(&state);
    let server = Server::start(&state, &[]);
    let source = dir.path().join("shared.bin");
    random_file(&source, 2_000_000);
    let mappings = json!({ "mappings": { "shared.bin": source } }).to_string();
    let manifest = server.api("send.createManifest", &[&mappings]);
    let id = format!("--manifestId={}", manifest["manifestId"].as_str().unwrap());
    server.api("send.waitForManifest", &[&id]);
    let token = server.api(
        "send.createSharedToken",
        &[&id, "--password=open sesame", "--downloadLimit=1"],
    );
    let token = token["token"].as_str().unwrap();
    let home = dir.path().join("home");

    let refused = download(&server, token, "guess", &dir.path().join("no"), &home);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("wrong password"), "{stderr}");

    let into = dir.path().join("downloaded");
    let out = download(&server, token, "open sesame", &into, &home);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("received files=1 bytes=2000000"),
        "{stdout}"
    );
    assert_eq!(digest(&into.join("shared.bin")), digest(&source));

    let again = download(
        &server,
        token,
        "open sesame",
        &dir.path().join("again"),
        &home,
    );
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("download limit"), "{stderr}");
    assert!(!dir.path().join("again/shared.bin").exists());
    assert!(server.terminate());
}

/// The public key of the identity key file at `key_file` (made if missing).
fn key_of(key_file: &Path) -> String {
    let out = Command::new(BIN)
        .args(["key", "--key-file"])
        .arg(key_file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_server_with_authorized_keys_accepts_the_senders_of_the_file_and_reads_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("server");
    let inbox = state.join("inbox");
    let (listed, unlisted) = (dir.path().join("listed.key"), dir.path().join("other.key"));
    let keys = dir.path().join("senders");
    let listed_line = format!("{} listed sender\n", key_of(&listed));
    std::fs::write(&keys, format!("# who may send\n{listed_line}")).unwrap();
    let receiver = Server::start(
        &state,
        &[
            "--sandbox",
            inbox.to_str().unwrap(),
            "--authorized-keys",
            keys.to_str().unwrap(),
        ],
    );
    let source = dir.path().join("payload.bin");
    random_file(&source, 200_000);
    let send = |key_file: &Path, dest: &str| {
        Command::new(BIN)
            .args([
                "send",
                source.to_str().unwrap(),
                "--no-progress",
                "--timeout",
                "2",
            ])
            .args(["--to", &format!("127.0.0.1:{}", receiver.recv_port)])
            .args(["--destination-key", &receiver.public_key, "--dest", dest])
            .arg("--key-file")
            .arg(key_file)
            .output()
            .unwrap()
    };
    let out = send(&listed, "listed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(digest(&inbox.join("listed/payload.bin")), digest(&source));

    let out = send(&unlisted, "unlisted");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refused = format!("sender key {} is not authorized", key_of(&unlisted));
    assert!(stderr.contains(&refused), "{stderr}");
    assert!(!inbox.join("unlisted").exists());

    // Added to the file while the server runs: accepted at its next handshake.
    std::fs::write(
        &keys,
        format!("{listed_line}{} added later\n", key_of(&unlisted)),
    )
    .unwrap();
    let out = send(&unlisted, "added");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(digest(&inbox.join("added/payload.bin")), digest(&source));
    let stderr = receiver.wait_for_stderr("read again: 2 key(s)");
    assert!(stderr.contains("read again: 2 key(s)"), "{stderr}");
    assert!(receiver.terminate());
}
