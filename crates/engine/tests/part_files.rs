//! Part files at the receiver: one transfer writes each (another is refused it while a session
//! writes it, a reconnection of the same takes it over), those left longer than the receiver's
//! limit are removed, and where the file system keeps no extended attributes the resume record
//! lives in a sidecar file that resumes, hides and goes with its part file.

use jetstream_engine::clients::Clients;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::file_ops;
use jetstream_engine::identity;
use jetstream_engine::overwrite::{OverwriteLimit, OverwriteMode};
use jetstream_engine::parts::{self, TransferId};
use jetstream_engine::receive::{ReceiveEvent, ReceiveOptions, Receiver, ReceiverControls};
use jetstream_engine::record::{self, Record};
use jetstream_engine::sandbox::{Access, Sandbox};
use jetstream_engine::send::{self, SendOptions, SendReport};
use jetstream_engine::sink::{FileSink, SinkOptions, RESERVE_AHEAD};
use jetstream_engine::walk::WalkEntry;
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::{Identity, PublicKey};
use jetstream_wire::files::SkipRule;
use jetstream_wire::files::{DataSink, EntryKind, FileMeta, SinkReport};
use jetstream_wire::rate::RateLimits;
use rand::{RngCore, SeedableRng};
use std::fs;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn random_file(path: &Path, size: usize, seed: u64) -> blake3::Hash {
    let mut data = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    fs::write(path, &data).unwrap();
    blake3::hash(&data)
}

fn hash_of(path: &Path) -> blake3::Hash {
    blake3::hash(&fs::read(path).unwrap())
}

fn receive_options(root: &Path, part_file_max_age: Option<Duration>) -> ReceiveOptions {
    ReceiveOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.to_path_buf(),
        min_cipher: CipherLevel::None,
        // Long enough that a sender killed midway keeps its session for the whole test.
        idle_timeout: Duration::from_secs(120),
        clients: Clients::any(),
        authorized_keys: None,
        max_overwrite: OverwriteLimit::Always,
        discard: false,
        part_file_max_age,
        accounts: false,
    }
}

/// A receiver serving until the test ends.
fn serve(mut receiver: Receiver) -> (SocketAddr, ReceiverControls) {
    let addr = receiver.local_addr();
    let controls = receiver.controls();
    tokio::spawn(async move {
        receiver
            .run(&mut |_: ReceiveEvent| ControlFlow::Continue(()))
            .await
    });
    (addr, controls)
}

/// The entry of the file `src` sent as `name`.
fn entry(src: &Path, name: &str) -> WalkEntry {
    let meta = fs::metadata(src).unwrap();
    WalkEntry {
        source: src.to_path_buf(),
        meta: FileMeta {
            path: name.into(),
            kind: EntryKind::File,
            size: meta.len(),
            mtime_us: 1_700_000_000_000_000,
            executable: false,
        },
    }
}

async fn send_file(
    identity: &Identity,
    to: SocketAddr,
    transfer_id: u64,
    entries: Vec<WalkEntry>,
    cap: Option<u64>,
) -> Result<SendReport, Error> {
    let mut opts = SendOptions::new(to);
    opts.cipher = CipherLevel::None;
    opts.transfer_id = transfer_id;
    opts.overwrite = jetstream_engine::flags::OVERWRITE_ALWAYS;
    // Its sources have one size and may share a time: each is written whatever is there.
    opts.skip = SkipRule::Whole;
    opts.timeout = Some(Duration::from_secs(30));
    if let Some(cap) = cap {
        opts.limits = RateLimits {
            max: Some(cap),
            ..RateLimits::default()
        };
    }
    send::send(identity, &opts, entries, &mut |_| {}).await
}

/// Waits until `path` exists (the receiver has opened a file).
async fn exists(path: &Path) {
    while !path.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_transfer_is_refused_a_file_being_received_and_a_reconnection_takes_it_over() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let size = 4 << 20;
    let first_src = src.path().join("first");
    let first = random_file(&first_src, size, 1);
    let second_src = src.path().join("second");
    let second = random_file(&second_src, size, 2);
    let receiver = Receiver::bind(
        identity::generate().unwrap(),
        receive_options(dst.path(), None),
    )
    .unwrap();
    let (addr, _controls) = serve(receiver);

    // The first transfer, slowed so that it is still being received, then its sender killed:
    // the receiver keeps its session (and the file) until the session times out.
    let first_sender = identity::generate().unwrap();
    let sending = {
        let identity = first_sender.clone();
        let entries = vec![entry(&first_src, "shared.bin")];
        tokio::spawn(async move { send_file(&identity, addr, 7, entries, Some(64 << 10)).await })
    };
    exists(&dst.path().join("shared.bin.jetpart")).await;
    sending.abort();
    assert!(sending.await.unwrap_err().is_cancelled());

    // Another sender with the same transfer id, and the same sender with another transfer:
    // both are other transfers, refused the file by name.
    let others = [
        (identity::generate().unwrap(), 7),
        (first_sender.clone(), 8),
    ];
    for (identity, transfer_id) in &others {
        let entries = vec![entry(&second_src, "shared.bin")];
        let refused = send_file(identity, addr, *transfer_id, entries, None)
            .await
            .unwrap_err();
        assert_eq!(refused.code, Code::Io, "{}", refused.message);
        assert!(
            refused
                .message
                .contains("\"shared.bin\": another transfer is receiving it"),
            "{}",
            refused.message
        );
    }
    assert!(!dst.path().join("shared.bin").exists());

    // The first sender reconnects (same key, same transfer): its new session takes the file
    // over from the one still held, and the file ends identical to its source.
    let entries = vec![entry(&first_src, "shared.bin")];
    let report = send_file(&first_sender, addr, 7, entries, None)
        .await
        .unwrap();
    assert_eq!(report.files, 1);
    assert_eq!(hash_of(&dst.path().join("shared.bin")), first);
    assert!(!dst.path().join("shared.bin.jetpart").exists());

    // Once in place, the file is free for another transfer (the killed session, still held,
    // lost it when its sender reconnected).
    let (identity, transfer_id) = &others[0];
    let entries = vec![entry(&second_src, "shared.bin")];
    send_file(identity, addr, *transfer_id, entries, None)
        .await
        .unwrap();
    assert_eq!(hash_of(&dst.path().join("shared.bin")), second);
}

/// A part file at `path` below `root` holding 100 bytes, 60 of them recorded durable
/// `age_secs` ago.
fn left_part(root: &Path, path: &str, age_secs: i64) {
    let sandbox = Sandbox::open(root).unwrap();
    fs::write(root.join(path), [9u8; 100]).unwrap();
    let file = sandbox.open_file(path, Access::Read).unwrap();
    let record = Record {
        written_us: record::unix_now_us() - age_secs * 1_000_000,
        ..Record::now(100, 1, 60)
    };
    record.write(&sandbox, path, &file).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_files_older_than_the_limit_are_removed_at_start_and_at_each_sweep() {
    let root = tempfile::tempdir().unwrap();
    left_part(root.path(), "old.jetpart", 7200);
    left_part(root.path(), "young.jetpart", 60);
    let hour = Some(Duration::from_secs(3600));
    let receiver = Receiver::bind(
        identity::generate().unwrap(),
        receive_options(root.path(), hour),
    )
    .unwrap();
    assert_eq!(names(root.path()), ["young.jetpart"]);
    let (_, controls) = serve(receiver);
    left_part(root.path(), "later.jetpart", 3601);
    assert_eq!(controls.sweep_parts().await.unwrap(), (1, 1));
    assert_eq!(names(root.path()), ["young.jetpart"]);

    // Without a limit, nothing durable is removed.
    let root = tempfile::tempdir().unwrap();
    left_part(root.path(), "old.jetpart", 10 * 365 * 86_400);
    Receiver::bind(
        identity::generate().unwrap(),
        receive_options(root.path(), None),
    )
    .unwrap();
    assert_eq!(names(root.path()), ["old.jetpart"]);
}

/// A ramfs (no user extended attributes) mounted on a temporary directory, unmounted when
/// dropped; `None` (with the reason printed) where mounting is not allowed.
struct NoXattrFs {
    dir: tempfile::TempDir,
}

impl NoXattrFs {
    fn mount() -> Option<NoXattrFs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a ramfs (a file system without xattrs) needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "ramfs", "none"])
            .arg(dir.path())
            .status();
        match status {
            Ok(status) if status.success() => Some(NoXattrFs { dir }),
            other => {
                eprintln!("skipped: cannot mount a ramfs: {other:?}");
                None
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for NoXattrFs {
    fn drop(&mut self) {
        match std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
        {
            Ok(status) if status.success() => {}
            other => eprintln!("could not unmount {}: {other:?}", self.dir.path().display()),
        }
    }
}

fn sink(sandbox: &Arc<Sandbox>) -> FileSink {
    let opts = SinkOptions {
        dest_dir: String::new(),
        overwrite: OverwriteMode::Always,
        write: true,
        write_mtime: true,
        only_newer: None,
        verify: true,
        skip: SkipRule::Checksum,
        time_resolution_us: 0,
        reserve_ahead: RESERVE_AHEAD,
        transfer: TransferId {
            sender: PublicKey([3; 32]),
            id: 1,
        },
    };
    FileSink::new(sandbox.clone(), opts).unwrap()
}

fn meta(path: &str, size: usize) -> FileMeta {
    FileMeta {
        path: path.into(),
        kind: EntryKind::File,
        size: size as u64,
        mtime_us: 1_700_000_000_000_000,
        executable: false,
    }
}

fn reports(sink: &mut FileSink) -> Vec<SinkReport> {
    sink.settle().unwrap();
    std::iter::from_fn(|| sink.poll_report().unwrap()).collect()
}

#[test]
fn without_extended_attributes_the_record_is_a_sidecar_that_resumes_hides_and_goes() {
    let Some(fs_) = NoXattrFs::mount() else {
        return;
    };
    let root = fs_.path();
    let sandbox = Arc::new(Sandbox::open(&root).unwrap());
    let mut data = vec![0u8; 3 << 20];
    rand::rngs::StdRng::seed_from_u64(5).fill_bytes(&mut data);
    let half = 1 << 20;

    // A session writes two MiB of "f", one of them synced, and ends without completing it.
    let mut first = sink(&sandbox);
    assert_eq!(first.open(0, &meta("f", data.len())).unwrap(), 0);
    first.write_at(0, 0, &data[..half]).unwrap();
    first.sync(&[(0, half as u64)]).unwrap();
    first
        .write_at(0, half as u64, &data[half..2 * half])
        .unwrap();
    assert_eq!(
        reports(&mut first),
        [SinkReport::Durable {
            file: 0,
            bytes: half as u64
        }]
    );
    first.release().unwrap();
    drop(first);
    assert_eq!(names(&root), ["f.jetpart", "f.jetpart.jetrecord"]);
    let part = sandbox.open_file("f.jetpart", Access::Read).unwrap();
    // SAFETY: the descriptor is open and the name is NUL-terminated.
    let xattr = unsafe {
        libc::fgetxattr(
            std::os::fd::AsRawFd::as_raw_fd(&part),
            c"user.jetstream.resume".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    assert_eq!(xattr, -1, "this file system keeps no extended attributes");
    // The server's listing shows neither the record nor a way to reach it by name.
    let listed: Vec<String> = file_ops::ls(&sandbox, "")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(listed, ["f.jetpart"]);
    let refused = file_ops::check("f.jetpart.jetrecord").unwrap_err();
    assert_eq!(refused.code, Code::PermissionDenied);
    assert_eq!(file_ops::du(&sandbox, "").unwrap().files, 1);

    // The next session resumes from the synced MiB and completes the file; the record goes.
    let mut next = sink(&sandbox);
    assert_eq!(next.open(0, &meta("f", data.len())).unwrap(), half as u64);
    next.write_at(0, half as u64, &data[half..]).unwrap();
    next.finish(0, Some(blake3::hash(&data).as_bytes()))
        .unwrap();
    assert_eq!(reports(&mut next), [SinkReport::Placed(0)]);
    assert_eq!(hash_of(&root.join("f")), blake3::hash(&data));
    assert_eq!(names(&root), ["f"]);

    // A sender cannot plant a file under a record's name.
    let refused = next.open(1, &meta("x.jetrecord", 3)).unwrap_err();
    assert!(
        refused.message.contains("are the receiver's own"),
        "{}",
        refused.message
    );
    drop(next);

    // Giving back a part file with nothing durable, and the sweep's expiry, remove the sidecar
    // with its part file.
    left_part(&root, "old.jetpart", 7200);
    left_part(&root, "young.jetpart", 10);
    assert_eq!(
        names(&root),
        [
            "f",
            "old.jetpart",
            "old.jetpart.jetrecord",
            "young.jetpart",
            "young.jetpart.jetrecord"
        ]
    );
    let mut abandoned = sink(&sandbox);
    abandoned.open(0, &meta("young", 100)).unwrap();
    abandoned.abandon().unwrap();
    drop(abandoned);
    assert_eq!(
        parts::sweep(&sandbox, Some(Duration::from_secs(3600))),
        (1, 0)
    );
    assert_eq!(names(&root), ["f"]);
}
