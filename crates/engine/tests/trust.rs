//! Whom a receiver accepts and what it lets them do, and whom a sender trusts: unknown senders
//! and overwrite modes above the receiver's limit are refused with a clear error, an
//! authorized-keys file is read again when it changes, and a sender records a receiver's key at
//! first contact and refuses a changed one before any file data leaves.

use jetstream_engine::clients::Clients;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::flags;
use jetstream_engine::identity;
use jetstream_engine::known_receivers::{KnownReceivers, Recognized};
use jetstream_engine::overwrite::OverwriteLimit;
use jetstream_engine::receive::{ReceiveEvent, ReceiveOptions, Receiver};
use jetstream_engine::send::{self, SendOptions, SendReport};
use jetstream_engine::walk::{walk, SymlinkPolicy, WalkEntry, WalkOptions};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::{Identity, PublicKey};
use std::fs;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// A receiver on loopback serving until dropped; what it reports arrives on `events`.
struct TestReceiver {
    addr: SocketAddr,
    key: PublicKey,
    events: mpsc::UnboundedReceiver<ReceiveEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestReceiver {
    /// The next session's end: its result and the bytes it received.
    async fn next_finished(&mut self) -> (Result<(), Error>, u64) {
        loop {
            match self.events.recv().await.expect("the receiver runs") {
                ReceiveEvent::Finished { result, stats, .. } => {
                    return (result.map(drop), stats.bytes_received)
                }
                _ => continue,
            }
        }
    }
}

fn options(root: &Path) -> ReceiveOptions {
    ReceiveOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        root: root.to_path_buf(),
        min_cipher: CipherLevel::Aes128Gcm,
        idle_timeout: Duration::from_secs(5),
        clients: Clients::only(&[]),
        authorized_keys: None,
        max_overwrite: OverwriteLimit::Never,
        discard: false,
        accounts: false,
        part_file_max_age: None,
    }
}

fn start(opts: ReceiveOptions) -> TestReceiver {
    let mut receiver = Receiver::bind(identity::generate().unwrap(), opts).unwrap();
    let (addr, key) = (receiver.local_addr(), receiver.public_key());
    let (tx, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut forward = |event| match tx.send(event) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        };
        receiver.run(&mut forward).await.unwrap();
    });
    TestReceiver {
        addr,
        key,
        events,
        task,
    }
}

/// A directory `tree` with two files below `dir` (made once); its entries.
fn tree(dir: &Path) -> Vec<WalkEntry> {
    let src = dir.join("tree");
    if !src.exists() {
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("a"), vec![1u8; 40_000]).unwrap();
        fs::write(src.join("b"), b"bee").unwrap();
    }
    walk(
        &[("tree".to_string(), src)],
        &WalkOptions {
            symlinks: SymlinkPolicy::CopyContents,
            include: Vec::new(),
            exclude: Vec::new(),
        },
    )
    .unwrap()
}

/// Sends `entries` as `opts` say; the result and the known receivers' verdicts reported.
async fn send_tree(
    identity: &Identity,
    opts: &SendOptions,
    entries: Vec<WalkEntry>,
) -> (Result<SendReport, Error>, Vec<Recognized>) {
    let mut recognized = Vec::new();
    let result = send::send(identity, opts, entries, &mut |p| {
        if let Some(r) = p.recognized.filter(|r| recognized.last() != Some(r)) {
            recognized.push(r);
        }
    })
    .await;
    (result, recognized)
}

fn pinned(rx: &TestReceiver) -> SendOptions {
    let mut opts = SendOptions::new(rx.addr);
    opts.expected_key = Some(rx.key);
    opts.timeout = Some(Duration::from_secs(5));
    opts
}

fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().next().is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_sender_is_refused_with_an_error_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let mut rx = start(options(&root));
    let sender = identity::generate().unwrap();
    let (result, _) = send_tree(&sender, &pinned(&rx), tree(dir.path())).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, Code::AuthFailed, "{err}");
    let expected = format!(
        "sender key {} is not authorized by the receiver",
        sender.public_key()
    );
    assert!(err.message.contains(&expected), "{err}");
    let (ended, bytes) = rx.next_finished().await;
    assert_eq!(ended.unwrap_err().code, Code::AuthFailed);
    assert_eq!(bytes, 0);
    assert!(is_empty(&root));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorized_keys_file_is_read_again_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let keys = dir.path().join("authorized_keys");
    let stranger = identity::generate().unwrap().public_key();
    fs::write(&keys, format!("# senders\n{stranger} someone else\n")).unwrap();
    let mut rx = start(ReceiveOptions {
        authorized_keys: Some(keys.clone()),
        ..options(&root)
    });
    let sender = identity::generate().unwrap();
    let opts = pinned(&rx);

    let (refused, _) = send_tree(&sender, &opts, tree(dir.path())).await;
    assert_eq!(refused.unwrap_err().code, Code::AuthFailed);
    assert!(rx.next_finished().await.0.is_err());

    fs::write(
        &keys,
        format!("{stranger}\n{} the sender\n", sender.public_key()),
    )
    .unwrap();
    let (accepted, _) = send_tree(&sender, &opts, tree(dir.path())).await;
    accepted.unwrap();
    let reloaded = loop {
        match rx.events.recv().await.unwrap() {
            ReceiveEvent::AuthorizedKeysReloaded { result } => break result,
            _ => continue,
        }
    };
    assert_eq!(reloaded.unwrap(), 2);
    assert_eq!(fs::read(root.join("tree/b")).unwrap(), b"bee");

    // A line that breaks on editing trusts nobody until it is fixed.
    fs::write(&keys, format!("{}\noops\n", sender.public_key())).unwrap();
    let (broken, _) = send_tree(&sender, &opts, tree(dir.path())).await;
    assert_eq!(broken.unwrap_err().code, Code::AuthFailed);
}

#[test]
fn a_bad_authorized_keys_line_keeps_the_receiver_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("authorized_keys");
    fs::write(&keys, "\n# fine\nnot-a-key comment\n").unwrap();
    let opts = ReceiveOptions {
        authorized_keys: Some(keys.clone()),
        ..options(dir.path())
    };
    let Err(err) = Receiver::bind(identity::generate().unwrap(), opts) else {
        panic!("a receiver started with a bad authorized-keys file");
    };
    assert_eq!(err.code, Code::InvalidArgument);
    let expected = format!("authorized keys {} line 3: \"not-a-key\"", keys.display());
    assert!(err.message.starts_with(&expected), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_mode_above_the_receivers_maximum_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let sender = identity::generate().unwrap();
    let mut rx = start(ReceiveOptions {
        clients: Clients::only(&[sender.public_key()]),
        max_overwrite: OverwriteLimit::Backup,
        discard: false,
        accounts: false,
        part_file_max_age: None,
        ..options(&root)
    });
    let mut opts = pinned(&rx);
    opts.dest_dir = "inbox".into();
    opts.overwrite = flags::OVERWRITE_ALWAYS;
    let (result, _) = send_tree(&sender, &opts, tree(dir.path())).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, Code::PermissionDenied, "{err}");
    assert!(
        err.message
            .contains("overwrite mode always is above this receiver's maximum, backup"),
        "{err}"
    );
    assert_eq!(rx.next_finished().await.1, 0);
    assert!(is_empty(&root), "not even the destination directory");

    // Up to the maximum is fine.
    opts.overwrite = flags::OVERWRITE_BACKUP;
    send_tree(&sender, &opts, tree(dir.path())).await.0.unwrap();
    assert_eq!(fs::read(root.join("inbox/tree/b")).unwrap(), b"bee");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_contact_records_the_receiver_and_a_changed_key_is_refused_before_any_data() {
    let dir = tempfile::tempdir().unwrap();
    let sender = identity::generate().unwrap();
    let known: PathBuf = dir.path().join("config/known_receivers");
    let with_known = |rx: &TestReceiver| {
        let mut opts = SendOptions::new(rx.addr);
        opts.known_receivers = Some(KnownReceivers::new(&known));
        // Both receivers stand at one name, as a receiver replaced (or impersonated) does.
        opts.receiver_name = "receiver.example:8886".into();
        opts.timeout = Some(Duration::from_secs(5));
        opts
    };
    let trusting = |root: &Path| ReceiveOptions {
        clients: Clients::only(&[sender.public_key()]),
        ..options(root)
    };

    let first_root = dir.path().join("first");
    fs::create_dir(&first_root).unwrap();
    let first = start(trusting(&first_root));
    let (result, recognized) = send_tree(&sender, &with_known(&first), tree(dir.path())).await;
    result.unwrap();
    assert_eq!(recognized, [Recognized::Recorded { line: 1 }]);
    let line = format!("receiver.example:8886 {}\n", first.key);
    assert_eq!(fs::read_to_string(&known).unwrap(), line);

    // Known now: accepted as it is.
    let (again, recognized) = send_tree(&sender, &with_known(&first), tree(dir.path())).await;
    again.unwrap();
    assert_eq!(recognized, [Recognized::Known { line: 1 }]);

    let other_root = dir.path().join("other");
    fs::create_dir(&other_root).unwrap();
    let mut other = start(trusting(&other_root));
    let (result, _) = send_tree(&sender, &with_known(&other), tree(dir.path())).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, Code::AuthFailed, "{err}");
    for part in [
        other.key.to_string(),
        first.key.to_string(),
        format!("line 1 of {}", known.display()),
    ] {
        assert!(err.message.contains(&part), "{part} not in {err}");
    }
    // The impostor heard no credentials and got no byte; the file is unchanged.
    let (ended, bytes) = other.next_finished().await;
    assert!(ended.is_err());
    assert_eq!(bytes, 0);
    assert!(is_empty(&other_root));
    assert_eq!(fs::read_to_string(&known).unwrap(), line);

    // Pinned explicitly, the new key is used, and the file is left as it is.
    let mut pinned = with_known(&other);
    pinned.expected_key = Some(other.key);
    send_tree(&sender, &pinned, tree(dir.path()))
        .await
        .0
        .unwrap();
    assert_eq!(fs::read_to_string(&known).unwrap(), line);
}
