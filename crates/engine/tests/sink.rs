//! The file writer: overwrite modes, finishing, out-of-order data, WRITE off, hostile paths and
//! bounded descriptors.

use jetstream_wire::files::SkipRule;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::thread;
use std::time::Duration;

use jetstream_engine::overwrite::OverwriteMode;
use jetstream_engine::parts::TransferId;
use jetstream_engine::sandbox::Sandbox;
use jetstream_engine::sink::{FileSink, SinkOptions, OPEN_FILES, PREPARED_AHEAD};
use jetstream_engine::umask::umask;
use jetstream_wire::crypto::handshake::PublicKey;
use jetstream_wire::files::{DataSink, Digest, EntryKind, FileMeta, SinkReport};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use ring::digest::{digest, SHA256};

/// The descriptor test counts this process's descriptors: it runs alone, the others together.
static FDS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

const PIECE: usize = 1400;

/// A temp dir holding `root` (the sandbox) and `outside` (must stay untouched).
struct Fixture {
    tmp: tempfile::TempDir,
    sandbox: Arc<Sandbox>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::in_dir(tempfile::tempdir().unwrap())
    }

    /// A fixture in `tmp`.
    fn in_dir(tmp: tempfile::TempDir) -> Fixture {
        fs::create_dir(tmp.path().join("root")).unwrap();
        fs::create_dir(tmp.path().join("outside")).unwrap();
        let sandbox = Arc::new(Sandbox::open(&tmp.path().join("root")).unwrap());
        Fixture { tmp, sandbox }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.tmp.path().join("outside")
    }

    fn sink(&self, overwrite: OverwriteMode) -> FileSink {
        self.sink_with(SinkOptions {
            overwrite,
            ..options()
        })
    }

    fn sink_with(&self, opts: SinkOptions) -> FileSink {
        FileSink::new(self.sandbox.clone(), opts).unwrap()
    }
}

fn options() -> SinkOptions {
    SinkOptions {
        dest_dir: String::new(),
        overwrite: OverwriteMode::Always,
        write: true,
        write_mtime: false,
        only_newer: None,
        verify: false,
        skip: SkipRule::Checksum,
        time_resolution_us: 0,
        reserve_ahead: jetstream_engine::sink::RESERVE_AHEAD,
        transfer: TransferId {
            sender: PublicKey([7; 32]),
            id: 1,
        },
    }
}

fn file_meta(path: &str, size: usize) -> FileMeta {
    FileMeta {
        path: path.into(),
        kind: EntryKind::File,
        size: size as u64,
        mtime_us: 1_234_567_890_123_456,
        executable: false,
    }
}

fn dir_meta(path: &str) -> FileMeta {
    FileMeta {
        kind: EntryKind::Directory,
        ..file_meta(path, 0)
    }
}

fn write_all(sink: &mut FileSink, file: u32, data: &[u8]) {
    for (i, piece) in data.chunks(PIECE).enumerate() {
        sink.write_at(file, (i * PIECE) as u64, piece).unwrap();
    }
}

/// Announces, writes and finishes one file, and waits until it is in place.
fn send(sink: &mut FileSink, file: u32, path: &str, data: &[u8]) {
    sink.open(file, &file_meta(path, data.len())).unwrap();
    write_all(sink, file, data);
    sink.finish(file, None).unwrap();
    sink.settle().unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn overwrite_modes_that_write_in_place() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let new = b"fresh data".to_vec();

    // InPlaceNever: an existing target refuses the file; a new one is written directly.
    fs::write(root.join("old"), b"old content").unwrap();
    let mut sink = fx.sink(OverwriteMode::InPlaceNever);
    let err = sink.open(0, &file_meta("old", new.len())).unwrap_err();
    assert!(err.message.contains("exists"), "{err}");
    sink.open(1, &file_meta("new", new.len())).unwrap();
    write_all(&mut sink, 1, &new);
    sink.flush().unwrap();
    assert_eq!(names(&root), ["new", "old"], "no part file in place");
    sink.finish(1, None).unwrap();
    sink.settle().unwrap();
    assert_eq!(fs::read(root.join("new")).unwrap(), new);
    assert_eq!(fs::read(root.join("old")).unwrap(), b"old content");

    // InPlaceAlways: a longer target is written directly and cut to the new size.
    fs::write(root.join("long"), b"a much longer old content").unwrap();
    let mut sink = fx.sink(OverwriteMode::InPlaceAlways);
    sink.open(0, &file_meta("long", new.len())).unwrap();
    write_all(&mut sink, 0, &new);
    sink.flush().unwrap();
    assert_eq!(
        fs::read(root.join("long")).unwrap(),
        new,
        "written before finish"
    );
    assert!(!root.join("long.jetpart").exists());
    sink.finish(0, None).unwrap();
    sink.settle().unwrap();
    assert_eq!(fs::read(root.join("long")).unwrap(), new);

    // InPlaceSameSize: same size in place; another size refused and kept; a new file through
    // a part file.
    fs::write(root.join("same"), b"0123456789").unwrap();
    fs::write(root.join("other"), b"0123").unwrap();
    let mut sink = fx.sink(OverwriteMode::InPlaceSameSize);
    sink.open(0, &file_meta("same", new.len())).unwrap();
    let err = sink.open(1, &file_meta("other", new.len())).unwrap_err();
    assert!(err.message.contains("4 bytes, not 10"), "{err}");
    sink.open(2, &file_meta("fresh", new.len())).unwrap();
    write_all(&mut sink, 0, &new);
    write_all(&mut sink, 2, &new);
    sink.flush().unwrap();
    assert_eq!(fs::read(root.join("same")).unwrap(), new);
    assert!(!root.join("same.jetpart").exists());
    assert!(!root.join("fresh").exists());
    sink.finish(0, None).unwrap();
    sink.finish(2, None).unwrap();
    sink.settle().unwrap();
    assert_eq!(fs::read(root.join("other")).unwrap(), b"0123");
    assert!(!root.join("other.jetpart").exists());
    assert_eq!(fs::read(root.join("fresh")).unwrap(), new);
    assert!(!root.join("fresh.jetpart").exists());
}

#[test]
fn in_place_modes_replace_a_hard_linked_target_instead_of_writing_through_it() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let new = b"fresh data".to_vec();
    for (mode, name) in [
        (OverwriteMode::InPlaceAlways, "always"),
        (OverwriteMode::InPlaceSameSize, "same"),
    ] {
        // Same size as the new data, so InPlaceSameSize would otherwise write in place.
        fs::write(root.join(name), b"0123456789").unwrap();
        let elsewhere = fx.outside().join(name);
        fs::hard_link(root.join(name), &elsewhere).unwrap();
        let mut sink = fx.sink(mode);
        sink.open(0, &file_meta(name, new.len())).unwrap();
        write_all(&mut sink, 0, &new);
        sink.flush().unwrap();
        assert_eq!(
            fs::read(root.join(name)).unwrap(),
            b"0123456789",
            "{mode:?}"
        );
        assert_eq!(fs::read(root.join(format!("{name}.jetpart"))).unwrap(), new);
        sink.finish(0, None).unwrap();
        sink.settle().unwrap();
        assert_eq!(fs::read(root.join(name)).unwrap(), new, "{mode:?}");
        assert_eq!(fs::read(&elsewhere).unwrap(), b"0123456789", "{mode:?}");
        assert_eq!(fs::metadata(&elsewhere).unwrap().nlink(), 1, "{mode:?}");
    }
}

#[test]
fn a_mode_that_never_replaces_places_an_empty_file_that_is_already_there() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let meta = file_meta("empty", 0);
    fs::write(root.join("empty"), b"").unwrap();
    filetime::set_file_mtime(
        root.join("empty"),
        filetime::FileTime::from_unix_time(1_234_567_890, 123_456_000),
    )
    .unwrap();
    let mut sink = fx.sink_with(SinkOptions {
        overwrite: OverwriteMode::Never,
        write_mtime: true,
        verify: true,
        skip: SkipRule::Checksum,
        time_resolution_us: 0,
        ..options()
    });
    sink.open(0, &meta).unwrap();
    sink.finish(0, None).unwrap();
    sink.settle().unwrap();
    assert!(matches!(
        sink.poll_report().unwrap(),
        Some(SinkReport::Placed(0))
    ));
    assert_eq!(names(&root), ["empty"]);
}

#[test]
fn overwrite_modes_with_part_files() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let new = vec![7u8; 5000];

    // Never: an existing target refuses the file at once.
    fs::write(root.join("kept"), b"keep").unwrap();
    let mut sink = fx.sink(OverwriteMode::Never);
    let err = sink.open(0, &file_meta("kept", new.len())).unwrap_err();
    assert!(err.message.contains("exists"), "{err}");
    assert_eq!(fs::read(root.join("kept")).unwrap(), b"keep");
    // ... a target that appears during the transfer refuses the finish and stays.
    sink.open(1, &file_meta("racy", new.len())).unwrap();
    write_all(&mut sink, 1, &new);
    sink.flush().unwrap();
    fs::write(root.join("racy"), b"theirs").unwrap();
    sink.finish(1, None).unwrap();
    assert!(sink.settle().is_err(), "reported once the worker tried");
    assert!(sink.settle().is_ok(), "and only once");
    assert_eq!(fs::read(root.join("racy")).unwrap(), b"theirs");
    assert_eq!(fs::read(root.join("racy.jetpart")).unwrap(), new);
    // ... and a new target arrives through a part file.
    sink.open(2, &file_meta("fresh", new.len())).unwrap();
    write_all(&mut sink, 2, &new);
    sink.flush().unwrap();
    assert!(!root.join("fresh").exists());
    assert_eq!(
        fs::metadata(root.join("fresh.jetpart")).unwrap().len(),
        5000
    );
    sink.finish(2, None).unwrap();
    sink.settle().unwrap();
    assert_eq!(fs::read(root.join("fresh")).unwrap(), new);

    // Always: the old target stays readable until the finish replaces it.
    fs::write(root.join("replaced"), b"old").unwrap();
    let mut sink = fx.sink(OverwriteMode::Always);
    sink.open(0, &file_meta("replaced", new.len())).unwrap();
    write_all(&mut sink, 0, &new);
    sink.flush().unwrap();
    assert_eq!(fs::read(root.join("replaced")).unwrap(), b"old");
    sink.finish(0, None).unwrap();
    sink.settle().unwrap();
    assert_eq!(fs::read(root.join("replaced")).unwrap(), new);

    // Backup: the old target is kept as NAME.jetbak; no backup when there was nothing.
    fs::write(root.join("backed"), b"previous").unwrap();
    let mut sink = fx.sink(OverwriteMode::Backup);
    send(&mut sink, 0, "backed", &new);
    send(&mut sink, 1, "unbacked", &new);
    assert_eq!(fs::read(root.join("backed")).unwrap(), new);
    assert_eq!(fs::read(root.join("backed.jetbak")).unwrap(), b"previous");
    assert_eq!(fs::read(root.join("unbacked")).unwrap(), new);
    assert_eq!(
        names(&root),
        [
            "backed",
            "backed.jetbak",
            "fresh",
            "kept",
            "racy",
            "racy.jetpart",
            "replaced",
            "unbacked"
        ]
    );
}

#[test]
fn exec_bit_and_mtime() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let mut sink = fx.sink_with(SinkOptions {
        write_mtime: true,
        ..options()
    });
    let exec = FileMeta {
        executable: true,
        ..file_meta("d/run.sh", 3)
    };
    sink.open(0, &dir_meta("d")).unwrap();
    sink.open(1, &exec).unwrap();
    sink.open(2, &file_meta("d/data", 3)).unwrap();
    sink.write_at(1, 0, b"#!/").unwrap();
    sink.write_at(2, 0, b"abc").unwrap();
    sink.finish(1, None).unwrap();
    sink.finish(2, None).unwrap();
    sink.finish(0, None).unwrap();
    sink.settle().unwrap();
    for (name, mode) in [("d/run.sh", 0o755), ("d/data", 0o644)] {
        let meta = fs::metadata(root.join(name)).unwrap();
        assert_eq!(meta.mode() & 0o777, mode & !umask(), "{name}");
        assert_eq!(
            (meta.mtime(), meta.mtime_nsec()),
            (1_234_567_890, 123_456_000),
            "{name}"
        );
    }
    assert_eq!(fs::metadata(root.join("d")).unwrap().mtime(), 1_234_567_890);

    // Without WRITE_MTIME the file keeps the time it was written.
    let mut sink = fx.sink(OverwriteMode::Always);
    send(&mut sink, 0, "now", b"x");
    assert!(fs::metadata(root.join("now")).unwrap().mtime() > 1_700_000_000);
}

#[test]
fn empty_files_and_empty_directories() {
    let _guard = shared();
    for mode in [OverwriteMode::InPlaceAlways, OverwriteMode::Always] {
        let fx = Fixture::new();
        let root = fx.root();
        let mut sink = fx.sink_with(SinkOptions {
            dest_dir: "in/here/".into(),
            ..fx_opts(mode)
        });
        sink.open(0, &dir_meta("a/b/empty")).unwrap();
        sink.open(1, &file_meta("a/zero", 0)).unwrap();
        sink.open(2, &file_meta("top", 0)).unwrap();
        for file in 0..3 {
            sink.finish(file, None).unwrap();
        }
        sink.settle().unwrap();
        assert!(root.join("in/here/a/b/empty").is_dir());
        assert_eq!(names(&root.join("in/here/a/b/empty")), Vec::<String>::new());
        assert_eq!(fs::metadata(root.join("in/here/a/zero")).unwrap().len(), 0);
        assert_eq!(names(&root.join("in/here")), ["a", "top"], "{mode:?}");
        assert_eq!(sink.open_files(), 0);
    }
}

fn fx_opts(overwrite: OverwriteMode) -> SinkOptions {
    SinkOptions {
        overwrite,
        ..options()
    }
}

#[test]
fn a_large_file_in_shuffled_pieces_with_duplicates() {
    let _guard = shared();
    let fx = Fixture::new();
    let mut rng = StdRng::seed_from_u64(42);
    let big = 100_000_000;
    let mut data = vec![0u8; big];
    rng.fill_bytes(&mut data);
    let small: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();

    // Pieces in runs of up to 32 contiguous packets, runs shuffled, 5% duplicates, and the
    // pieces of a second file interleaved.
    let mut runs: Vec<Vec<(u32, usize)>> = Vec::new();
    for (file, len) in [(0u32, big), (1, small.len())] {
        let offsets: Vec<usize> = (0..len).step_by(PIECE).collect();
        for run in offsets.chunks(32) {
            runs.push(run.iter().map(|&o| (file, o)).collect());
        }
    }
    runs.shuffle(&mut rng);
    let mut order: Vec<(u32, usize)> = runs.into_iter().flatten().collect();
    for _ in 0..order.len() / 20 {
        let dup = order[rng.random_range(0..order.len())];
        let at = rng.random_range(0..order.len());
        order.insert(at, dup);
    }

    let mut sink = fx.sink(OverwriteMode::Always);
    sink.open(0, &file_meta("big", big)).unwrap();
    sink.open(1, &file_meta("small", small.len())).unwrap();
    for (file, offset) in order {
        let src = if file == 0 { &data } else { &small };
        let end = (offset + PIECE).min(src.len());
        sink.write_at(file, offset as u64, &src[offset..end])
            .unwrap();
    }
    sink.finish(0, None).unwrap();
    sink.finish(1, None).unwrap();
    sink.settle().unwrap();
    let written = fs::read(fx.root().join("big")).unwrap();
    assert_eq!(written.len(), big);
    assert_eq!(
        digest(&SHA256, &written).as_ref(),
        digest(&SHA256, &data).as_ref()
    );
    assert_eq!(fs::read(fx.root().join("small")).unwrap(), small);
}

#[test]
fn write_off_touches_nothing() {
    let _guard = shared();
    let fx = Fixture::new();
    let mut sink = fx.sink_with(SinkOptions {
        dest_dir: "dest/dir".into(),
        write: false,
        write_mtime: true,
        ..options()
    });
    sink.open(0, &dir_meta("d")).unwrap();
    sink.open(1, &file_meta("d/f", 3000)).unwrap();
    write_all(&mut sink, 1, &[9u8; 3000]);
    assert!(
        sink.write_at(1, 2999, b"xy").is_err(),
        "bounds still checked"
    );
    assert!(
        sink.open(2, &file_meta("../evil", 1)).is_err(),
        "paths still checked"
    );
    sink.flush().unwrap();
    sink.sync(&[(1, 3000)]).unwrap();
    sink.finish(1, None).unwrap();
    sink.finish(0, None).unwrap();
    drop(sink);
    assert_eq!(names(&fx.root()), Vec::<String>::new());
}

#[test]
fn hostile_paths_are_refused_and_nothing_appears_outside() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let outside = fx.outside();
    fs::write(outside.join("target"), b"precious").unwrap();
    symlink(&outside, root.join("out_dir")).unwrap();
    symlink(outside.join("target"), root.join("out_file")).unwrap();

    let err = FileSink::new(
        fx.sandbox.clone(),
        SinkOptions {
            dest_dir: "../x".into(),
            ..options()
        },
    );
    assert!(err.is_err());
    let err = FileSink::new(
        fx.sandbox.clone(),
        SinkOptions {
            dest_dir: "out_dir".into(),
            ..options()
        },
    );
    assert!(err.is_err());

    for mode in [OverwriteMode::InPlaceAlways, OverwriteMode::Always] {
        let mut sink = fx.sink(mode);
        for (i, path) in [
            "../escape",
            "/tmp/abs",
            "a/../../escape",
            "a\\b",
            "nul\0",
            "./dot",
            "a//b",
            "out_dir/new",
            "out_dir/target",
            "out_dir/sub/new",
        ]
        .into_iter()
        .enumerate()
        {
            assert!(sink.open(i as u32, &file_meta(path, 4)).is_err(), "{path}");
        }
        assert!(sink.open(20, &dir_meta("out_dir/newdir")).is_err());
        assert!(sink.open(21, &file_meta("", 4)).is_err());
        // A link as the file itself: never written through. In place it is refused; through a
        // part file the rename replaces the link, not what it points to.
        match mode {
            OverwriteMode::InPlaceAlways => {
                assert!(sink.open(30, &file_meta("out_file", 4)).is_err());
            }
            _ => {
                send(&mut sink, 30, "out_file", b"mine");
                assert!(!fs::symlink_metadata(root.join("out_file"))
                    .unwrap()
                    .is_symlink());
            }
        }
    }
    assert_eq!(names(&outside), ["target"]);
    assert_eq!(fs::read(outside.join("target")).unwrap(), b"precious");
    assert_eq!(names(fx.tmp.path()), ["outside", "root"]);
    assert_eq!(names(&root), ["out_dir", "out_file"]);
}

#[test]
fn only_newer_skips_and_reports() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let src_us: i64 = 1_600_000_000_000_000;
    for (name, dest_us) in [
        ("newer", src_us + 5),
        ("equal", src_us),
        ("close", src_us - 500),
        ("older", src_us - 5000),
    ] {
        fs::write(root.join(name), b"dest").unwrap();
        let t = filetime::FileTime::from_unix_time(
            dest_us.div_euclid(1_000_000),
            (dest_us.rem_euclid(1_000_000) * 1000) as u32,
        );
        filetime::set_file_mtime(root.join(name), t).unwrap();
    }
    let mut sink = fx.sink_with(SinkOptions {
        only_newer: Some(1000),
        ..options()
    });
    for (i, name) in ["newer", "equal", "close", "older", "absent"]
        .into_iter()
        .enumerate()
    {
        let meta = FileMeta {
            mtime_us: src_us,
            ..file_meta(name, 6)
        };
        sink.open(i as u32, &meta).unwrap();
        sink.write_at(i as u32, 0, b"source").unwrap();
        sink.finish(i as u32, None).unwrap();
    }
    sink.settle().unwrap();
    assert_eq!(sink.skipped(), [0, 1, 2]);
    for name in ["newer", "equal", "close"] {
        assert_eq!(fs::read(root.join(name)).unwrap(), b"dest", "{name}");
    }
    for name in ["older", "absent"] {
        assert_eq!(fs::read(root.join(name)).unwrap(), b"source", "{name}");
    }
}

#[test]
fn protocol_misuse_is_an_error() {
    let _guard = shared();
    let fx = Fixture::new();
    let mut sink = fx.sink(OverwriteMode::Always);
    sink.open(0, &file_meta("f", 10)).unwrap();
    sink.open(1, &dir_meta("d")).unwrap();
    assert!(
        sink.open(0, &file_meta("g", 10)).is_err(),
        "announced twice"
    );
    assert!(sink.write_at(0, 8, b"abc").is_err(), "beyond the size");
    assert!(sink.write_at(0, u64::MAX, b"a").is_err(), "offset overflow");
    assert!(sink.write_at(1, 0, b"a").is_err(), "data for a directory");
    assert!(sink.write_at(5, 0, b"a").is_err(), "never announced");
    assert!(sink.finish(5, None).is_err());
    sink.write_at(0, 0, b"0123456789").unwrap();
    sink.finish(0, None).unwrap();
    sink.write_at(0, 0, b"late").unwrap();
    sink.settle().unwrap();
    assert_eq!(fs::read(fx.root().join("f")).unwrap(), b"0123456789");
}

/// The free bytes of the file system holding `dir`, as an unprivileged writer sees them.
fn free_bytes(dir: &Path) -> u64 {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a C string and `stats` is writable for one `statvfs`.
    assert_eq!(
        unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) },
        0
    );
    // SAFETY: statvfs succeeded.
    let stats = unsafe { stats.assume_init() };
    stats.f_bavail * stats.f_frsize
}

#[test]
fn a_file_larger_than_the_free_space_is_refused_before_anything_is_written() {
    let _guard = shared();
    // The temp dir's file system (blocks reserved with fallocate) and, where there is one, a
    // memory file system (checked, not allocated).
    let mut places = vec![Fixture::new()];
    if let Ok(tmp) = tempfile::tempdir_in("/dev/shm") {
        places.push(Fixture::in_dir(tmp));
    }
    for fx in places {
        let size = free_bytes(&fx.root()) + (1 << 30);
        let mut sink = fx.sink(OverwriteMode::Always);
        sink.open(0, &file_meta("big", size as usize)).unwrap();
        let refused = sink.settle().unwrap_err();
        assert_eq!(refused.file, 0);
        assert!(
            refused.message.starts_with("\"big.jetpart\"")
                && refused
                    .message
                    .contains(&format!("{size} bytes do not fit")),
            "{}",
            refused.message
        );
        for name in names(&fx.root()) {
            let meta = fs::metadata(fx.root().join(&name)).unwrap();
            assert_eq!((name, meta.blocks()), ("big.jetpart".to_string(), 0));
        }
    }
}

/// Every report the sink has, once its background work is done.
fn reports(sink: &mut FileSink) -> Vec<SinkReport> {
    sink.settle().unwrap();
    std::iter::from_fn(|| sink.poll_report().unwrap()).collect()
}

#[test]
fn a_synced_prefix_is_reported_durable_and_kept_by_the_next_writer() {
    let _guard = shared();
    let fx = Fixture::new();
    for mode in [OverwriteMode::Always, OverwriteMode::InPlaceAlways] {
        let mut sink = fx.sink(mode);
        let meta = file_meta("a", 6);
        assert_eq!(
            sink.open(0, &meta).unwrap(),
            0,
            "{mode:?}: nothing held yet"
        );
        sink.write_at(0, 0, b"abc").unwrap();
        sink.sync(&[(0, 3)]).unwrap();
        assert_eq!(
            reports(&mut sink),
            [SinkReport::Durable { file: 0, bytes: 3 }]
        );
        sink.write_at(0, 3, b"d").unwrap();
        drop(sink);
        // A later session (after a crash) keeps exactly the synced bytes; a file of another
        // size or time is not the same file and keeps nothing.
        let mut other = fx.sink(mode);
        let mut newer = meta.clone();
        newer.mtime_us += 1;
        assert_eq!(other.open(0, &newer).unwrap(), 0, "{mode:?}");
        other.settle().unwrap();
        drop(other);
        let mut again = fx.sink(mode);
        assert_eq!(again.open(0, &meta).unwrap(), 3, "{mode:?}");
        again.write_at(0, 3, b"def").unwrap();
        again.finish(0, None).unwrap();
        assert_eq!(reports(&mut again), [SinkReport::Placed(0)]);
        assert_eq!(fs::read(fx.root().join("a")).unwrap(), b"abcdef");
        fs::remove_file(fx.root().join("a")).unwrap();
    }
}

/// With `verify` the file is hashed while it is written; without, only when it is finished.
#[test]
fn a_file_that_does_not_match_its_digest_is_not_placed() {
    let _guard = shared();
    for verify in [false, true] {
        let fx = Fixture::new();
        let mut sink = fx.sink_with(SinkOptions {
            verify,
            ..options()
        });
        sink.open(0, &file_meta("a", 6)).unwrap();
        sink.write_at(0, 0, b"abcdef").unwrap();
        let wrong = *blake3::hash(b"abcdeF").as_bytes();
        sink.finish(0, Some(&wrong)).unwrap();
        assert_eq!(reports(&mut sink), [SinkReport::Mismatch(0)], "{verify}");
        assert!(
            !fx.root().join("a").exists(),
            "a wrong file is never put in place"
        );
        sink.write_at(0, 0, b"abcdeF").unwrap();
        sink.finish(0, Some(&wrong)).unwrap();
        assert_eq!(reports(&mut sink), [SinkReport::Placed(0)], "{verify}");
        assert_eq!(fs::read(fx.root().join("a")).unwrap(), b"abcdeF");
    }
}

/// A file is hashed on a thread of its own while it is written (each time its written prefix
/// grows by 64 MiB, at each sync and at its end); what is left is hashed when it is finished. Bytes after a gap wait for it to be filled; a damaged byte
/// anywhere is caught, and a file written again after that is hashed again from the start.
#[test]
fn a_large_file_hashed_while_it_is_written_is_checked_whole() {
    let _guard = shared();
    let fx = Fixture::new();
    const MIB: usize = 1 << 20;
    let mut data = vec![0u8; 170 * MIB + 12_345];
    StdRng::seed_from_u64(9).fill_bytes(&mut data);
    let right = *blake3::hash(&data).as_bytes();
    let mut sink = fx.sink_with(SinkOptions {
        verify: true,
        ..options()
    });
    // MiB 41 comes after 42..100 (a repair), then 0..100 is synced, then the rest in order.
    let pieces = data.len().div_ceil(MIB);
    let order: Vec<usize> = (0..41)
        .chain(42..100)
        .chain([41])
        .chain(100..pieces)
        .collect();
    let write = |sink: &mut FileSink, file: u32, bytes: &[u8]| {
        for &i in &order {
            let piece = &bytes[i * MIB..((i + 1) * MIB).min(bytes.len())];
            sink.write_at(file, (i * MIB) as u64, piece).unwrap();
            if i == 41 {
                sink.sync(&[(file, 100 * MIB as u64)]).unwrap();
            }
            if i == 99 || i == 41 {
                // Time for the hashing thread to read what it was asked before the next bytes
                // come (the repair, the bytes after the synced prefix): hashing a byte not yet
                // written would show as a mismatch of the right bytes.
                thread::sleep(Duration::from_millis(100));
            }
        }
        sink.finish(file, Some(&right)).unwrap();
        let mut ends = reports(sink);
        ends.retain(|r| !matches!(r, SinkReport::Durable { .. }));
        ends
    };
    // Each into a new file: what is not written yet reads as zeros.
    for (file, damaged) in [5, 41 * MIB + 7, 150 * MIB, data.len() - 1]
        .into_iter()
        .enumerate()
    {
        let file = file as u32;
        let mut bad = data.clone();
        bad[damaged] ^= 0x10;
        sink.open(file, &file_meta(&format!("big{file}"), data.len()))
            .unwrap();
        let ends = write(&mut sink, file, &bad);
        assert_eq!(ends, [SinkReport::Mismatch(file)], "{damaged}");
        assert!(!fx.root().join(format!("big{file}")).exists(), "{damaged}");
    }
    sink.open(9, &file_meta("big9", data.len())).unwrap();
    assert_eq!(write(&mut sink, 9, &data), [SinkReport::Placed(9)]);
    assert_eq!(write(&mut sink, 0, &data), [SinkReport::Placed(0)]);
    for name in ["big9", "big0"] {
        let written = fs::read(fx.root().join(name)).unwrap();
        assert_eq!(blake3::hash(&written).as_bytes(), &right, "{name}");
    }
}

#[test]
fn a_target_with_the_sources_size_and_time_is_checked_not_written() {
    let _guard = shared();
    let fx = Fixture::new();
    let opts = SinkOptions {
        write_mtime: true,
        verify: true,
        skip: SkipRule::Checksum,
        time_resolution_us: 0,
        overwrite: OverwriteMode::Never,
        ..options()
    };
    let mut meta = file_meta("kept", 6);
    meta.mtime_us = 1_600_000_000_000_000;
    let mut first = fx.sink_with(opts.clone());
    first.open(0, &meta).unwrap();
    first.write_at(0, 0, b"abcdef").unwrap();
    let digest = *blake3::hash(b"abcdef").as_bytes();
    first.finish(0, Some(&digest)).unwrap();
    assert_eq!(reports(&mut first), [SinkReport::Placed(0)]);
    // A second run of the transfer (the first one's confirmation was lost): the whole file is
    // held, and placed once its digest matches, even though the mode never overwrites.
    let mut second = fx.sink_with(opts.clone());
    assert_eq!(second.open(0, &meta).unwrap(), 6);
    second.finish(0, Some(&digest)).unwrap();
    assert_eq!(reports(&mut second), [SinkReport::Placed(0)]);
    // Another content with the same size and time is refused: the mode never overwrites.
    let mut third = fx.sink_with(opts);
    assert_eq!(third.open(0, &meta).unwrap(), 6);
    let other = *blake3::hash(b"uvwxyz").as_bytes();
    third.finish(0, Some(&other)).unwrap();
    let err = third.settle().unwrap_err();
    assert!(err.message.contains("differs"), "{err}");
    assert_eq!(fs::read(fx.root().join("kept")).unwrap(), b"abcdef");
}

fn open_descriptors() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn descriptors_stay_bounded_with_ten_thousand_announced_files() {
    let _guard = FDS.write().unwrap_or_else(|e| e.into_inner());
    let fx = Fixture::new();
    let before = open_descriptors();
    let mut sink = fx.sink(OverwriteMode::Always);
    let count = 10_000u32;
    for file in 0..count {
        sink.open(file, &file_meta(&format!("d{}/f{file}", file % 50), 8))
            .unwrap();
    }
    assert!(
        open_descriptors() <= before + PREPARED_AHEAD + 2,
        "announcing opens only the files prepared ahead"
    );
    // Data for many more files than the writer keeps open, two passes, then the finishes.
    let written = 0..(4 * OPEN_FILES as u32);
    for file in written.clone() {
        sink.write_at(file, 0, &file.to_le_bytes()).unwrap();
    }
    for file in written.clone() {
        sink.write_at(file, 4, &[0xAA; 4]).unwrap();
    }
    assert_eq!(sink.open_files(), OPEN_FILES);
    assert!(open_descriptors() <= before + OPEN_FILES + PREPARED_AHEAD + 2);
    for file in written.clone() {
        sink.finish(file, None).unwrap();
    }
    sink.settle().unwrap();
    assert_eq!(sink.open_files(), 0);
    assert!(open_descriptors() <= before + PREPARED_AHEAD + 2);
    let last = written.end - 1;
    let check = fs::read(fx.root().join(format!("d{}/f{last}", last % 50))).unwrap();
    assert_eq!(check, [&last.to_le_bytes()[..], &[0xAA; 4]].concat());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_order_of_overlapping_pieces_rebuilds_the_file(
        data in proptest::collection::vec(any::<u8>(), 1..20_000),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        extra in proptest::collection::vec((any::<prop::sample::Index>(), 1usize..3000), 0..20),
        seed in any::<u64>(),
    ) {
        let _guard = shared();
        let fx = Fixture::new();
        let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(data.len())).collect();
        bounds.extend([0, data.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        let mut pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        for (start, len) in extra {
            let start = start.index(data.len());
            pieces.push((start, (start + len).min(data.len())));
        }
        pieces.shuffle(&mut StdRng::seed_from_u64(seed));
        let mut sink = fx.sink(OverwriteMode::Backup);
        sink.open(3, &file_meta("p", data.len())).unwrap();
        for (start, end) in pieces {
            sink.write_at(3, start as u64, &data[start..end]).unwrap();
        }
        sink.finish(3, None).unwrap();
        sink.settle().unwrap();
        prop_assert_eq!(fs::read(fx.root().join("p")).unwrap(), data);
    }
}

/// What a session did with file 0 (of these bytes and digest) before it was killed.
type FirstSession = fn(&mut FileSink, &[u8], &Digest);

/// What a receiver killed at each step of making a file complete leaves on disk, and what the
/// next session makes of it: the file ends complete and identical, or is received again —
/// never complete and wrong.
#[test]
fn a_file_killed_at_any_step_ends_complete_and_right_or_is_received_again() {
    let _guard = shared();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let digest = *blake3::hash(&data).as_bytes();
    let opts = SinkOptions {
        write_mtime: true,
        verify: true,
        skip: SkipRule::Checksum,
        time_resolution_us: 0,
        ..options()
    };
    let mut meta = file_meta("f", data.len());
    meta.mtime_us = 1_650_000_000_000_000;
    // Each step: what a first session did before it was killed.
    let steps: [(&str, FirstSession); 4] = [
        ("after writing, before any sync", |sink, data, _| {
            sink.write_at(0, 0, data).unwrap();
            sink.flush().unwrap();
        }),
        ("after a sync of part of it", |sink, data, _| {
            sink.write_at(0, 0, &data[..60_000]).unwrap();
            sink.sync(&[(0, 40_000)]).unwrap();
            sink.settle().unwrap();
            // Written after the sync, not durable: not to be trusted.
            sink.write_at(0, 60_000, &data[60_000..]).unwrap();
            sink.flush().unwrap();
        }),
        ("after the data sync, before the rename", |sink, data, _| {
            sink.write_at(0, 0, data).unwrap();
            sink.sync(&[(0, data.len() as u64)]).unwrap();
            sink.settle().unwrap();
        }),
        (
            "after the rename, before the report",
            |sink, data, digest| {
                sink.write_at(0, 0, data).unwrap();
                sink.finish(0, Some(digest)).unwrap();
                sink.settle().unwrap();
            },
        ),
    ];
    for (step, first_session) in steps {
        let fx = Fixture::new();
        let mut first = fx.sink_with(opts.clone());
        first.open(0, &meta).unwrap();
        first_session(&mut first, &data, &digest);
        // The process dies: nothing more of this sink runs (its buffered bytes were flushed
        // above, as the page cache keeps them through a SIGKILL).
        std::mem::forget(first);
        let mut next = fx.sink_with(opts.clone());
        let held = next.open(0, &meta).unwrap() as usize;
        match step {
            "after writing, before any sync" => assert_eq!(held, 0, "{step}"),
            "after a sync of part of it" => assert_eq!(held, 40_000, "{step}"),
            _ => assert_eq!(held, data.len(), "{step}"),
        }
        // The next session writes only what is not held, then finishes the file.
        if held < data.len() {
            next.write_at(0, held as u64, &data[held..]).unwrap();
        }
        next.finish(0, Some(&digest)).unwrap();
        assert_eq!(reports(&mut next), [SinkReport::Placed(0)], "{step}");
        assert_eq!(fs::read(fx.root().join("f")).unwrap(), data, "{step}");
        assert_eq!(names(&fx.root()), ["f"], "{step}: no part file left");
    }
}

#[test]
fn a_held_prefix_that_was_damaged_is_caught_by_the_digest() {
    let _guard = shared();
    let fx = Fixture::new();
    let data = vec![5u8; 50_000];
    let digest = *blake3::hash(&data).as_bytes();
    let meta = file_meta("f", data.len());
    let mut first = fx.sink(OverwriteMode::Always);
    first.open(0, &meta).unwrap();
    first.write_at(0, 0, &data[..30_000]).unwrap();
    first.sync(&[(0, 30_000)]).unwrap();
    first.settle().unwrap();
    drop(first);
    // Something changes the kept bytes behind the receiver's back.
    let part = fx.root().join("f.jetpart");
    let mut bytes = fs::read(&part).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&part, &bytes).unwrap();
    let mut next = fx.sink(OverwriteMode::Always);
    assert_eq!(next.open(0, &meta).unwrap(), 30_000);
    next.write_at(0, 30_000, &data[30_000..]).unwrap();
    next.finish(0, Some(&digest)).unwrap();
    assert_eq!(reports(&mut next), [SinkReport::Mismatch(0)]);
    assert!(!fx.root().join("f").exists(), "never complete and wrong");
    next.write_at(0, 0, &data).unwrap();
    next.finish(0, Some(&digest)).unwrap();
    assert_eq!(reports(&mut next), [SinkReport::Placed(0)]);
    assert_eq!(fs::read(fx.root().join("f")).unwrap(), data);
}

#[test]
fn an_abandoned_transfer_leaves_no_part_file() {
    let _guard = shared();
    let fx = Fixture::new();
    let mut sink = fx.sink(OverwriteMode::Always);
    sink.open(0, &file_meta("done", 3)).unwrap();
    sink.open(1, &file_meta("half", 6)).unwrap();
    sink.open(2, &file_meta("untouched", 6)).unwrap();
    sink.write_at(0, 0, b"abc").unwrap();
    sink.finish(0, None).unwrap();
    sink.write_at(1, 0, b"abc").unwrap();
    sink.sync(&[(1, 3)]).unwrap();
    sink.abandon().unwrap();
    drop(sink);
    assert_eq!(names(&fx.root()), ["done"]);
}

/// Bytes allocated on disk to the file at `path`.
fn allocated(path: &Path) -> u64 {
    fs::metadata(path).unwrap().blocks() * 512
}

/// Size of each file [`interrupted_session`] announces.
const BIG: usize = 8 << 20;

/// A session stopped midway: "synced" has its first MiB durable and another written, "unsynced"
/// a MiB written, "nested/untouched" nothing.
fn interrupted_session(fx: &Fixture) -> FileSink {
    let mut sink = fx.sink(OverwriteMode::Always);
    sink.open(0, &file_meta("synced", BIG)).unwrap();
    sink.open(1, &file_meta("unsynced", BIG)).unwrap();
    sink.open(2, &file_meta("nested/untouched", BIG)).unwrap();
    sink.write_at(0, 0, &vec![1; 1 << 20]).unwrap();
    sink.sync(&[(0, 1 << 20)]).unwrap();
    sink.write_at(0, 1 << 20, &vec![2; 1 << 20]).unwrap();
    sink.write_at(1, 0, &vec![3; 1 << 20]).unwrap();
    sink
}

/// Only the durable MiB of "synced" is left of [`interrupted_session`], and the next session
/// keeps it.
fn assert_only_the_durable_prefix_is_kept(fx: &Fixture) {
    let part = fx.root().join("synced.jetpart");
    assert_eq!(fs::metadata(&part).unwrap().len(), BIG as u64);
    let held = allocated(&part);
    assert!(
        held <= (1 << 20) + 64 * 1024,
        "{held} bytes still allocated"
    );
    assert_eq!(names(&fx.root().join("nested")), Vec::<String>::new());
    let mut again = fx.sink(OverwriteMode::Always);
    assert_eq!(again.open(0, &file_meta("synced", BIG)).unwrap(), 1 << 20);
}

#[test]
fn a_released_session_keeps_only_durable_prefixes_and_frees_the_rest() {
    let _guard = shared();
    let fx = Fixture::new();
    let mut sink = interrupted_session(&fx);
    sink.release().unwrap();
    drop(sink);
    assert_eq!(names(&fx.root()), ["nested", "synced.jetpart"]);
    assert_only_the_durable_prefix_is_kept(&fx);
}

#[test]
fn a_receiver_starting_again_gives_back_what_a_killed_one_left() {
    let _guard = shared();
    let fx = Fixture::new();
    let mut sink = interrupted_session(&fx);
    sink.settle().unwrap();
    // Killed: nothing given back. A session still writing elsewhere is left alone.
    drop(sink);
    let mut live = fx.sink(OverwriteMode::Always);
    live.open(0, &file_meta("live", 6)).unwrap();
    live.write_at(0, 0, b"abc").unwrap();
    live.flush().unwrap();
    assert_eq!(jetstream_engine::parts::sweep(&fx.sandbox, None), (2, 1));
    assert_eq!(
        names(&fx.root()),
        ["live.jetpart", "nested", "synced.jetpart"]
    );
    assert_only_the_durable_prefix_is_kept(&fx);
}

#[test]
fn a_part_file_taken_over_by_a_later_session_is_left_to_it() {
    let _guard = shared();
    let fx = Fixture::new();
    let mut old = fx.sink(OverwriteMode::Always);
    old.open(0, &file_meta("f", 6)).unwrap();
    old.write_at(0, 0, b"abc").unwrap();
    // The sender reconnected: its new session writes the same part file.
    let mut new = fx.sink(OverwriteMode::Always);
    new.open(0, &file_meta("f", 6)).unwrap();
    new.write_at(0, 0, b"abcdef").unwrap();
    new.flush().unwrap();
    // The old session, should its sender still be there, writes it no more.
    old.write_at(0, 0, b"xyz").unwrap();
    let refused = old.flush().unwrap_err();
    assert_eq!(
        refused.message,
        "\"f\": a newer session of this transfer writes it now"
    );
    assert_eq!(old.finish(0, None).unwrap_err().message, refused.message);
    old.release().unwrap();
    old.abandon().unwrap();
    drop(old);
    new.finish(0, None).unwrap();
    assert_eq!(reports(&mut new), [SinkReport::Placed(0)]);
    assert_eq!(fs::read(fx.root().join("f")).unwrap(), b"abcdef");
}

/// A file system of `mib` MiB of its own: an ext4 image mounted through a loop device.
struct SmallFileSystem {
    dir: tempfile::TempDir,
    _image: tempfile::NamedTempFile,
}

impl SmallFileSystem {
    fn new(mib: u64) -> SmallFileSystem {
        let image = tempfile::NamedTempFile::new().unwrap();
        image.as_file().set_len(mib << 20).unwrap();
        let run = |cmd: &mut std::process::Command| {
            let status = cmd.status().unwrap();
            assert!(status.success(), "{cmd:?} failed");
        };
        run(std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(image.path()));
        let dir = tempfile::tempdir().unwrap();
        run(std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(image.path())
            .arg(dir.path()));
        SmallFileSystem { dir, _image: image }
    }

    /// Bytes free for an unprivileged writer.
    fn free(&self) -> u64 {
        let path = std::ffi::CString::new(self.dir.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `path` is NUL-terminated and `stats` is a plain struct statvfs fills in.
        let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stats) }, 0);
        stats.f_bavail * stats.f_frsize
    }
}

impl Drop for SmallFileSystem {
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

#[test]
#[ignore = "needs root: mounts a file system image through a loop device"]
fn a_sender_that_announces_ten_times_the_free_space_and_vanishes_leaves_nothing_behind() {
    let _guard = shared();
    let fs = SmallFileSystem::new(64);
    let fx = Fixture::in_dir(tempfile::tempdir_in(fs.dir.path()).unwrap());
    let free = fs.free();
    // Twenty files of half the free space each: each fits alone, together ten times over.
    let size = usize::try_from(free / 2).unwrap();
    let mut sink = fx.sink(OverwriteMode::Always);
    let mut refused = None;
    for file in 0..20 {
        if let Err(e) = sink.open(file, &file_meta(&format!("f{file}"), size)) {
            refused = Some(e);
            break;
        }
    }
    sink.write_at(0, 0, &[7; PIECE])
        .unwrap_or_else(|e| refused = Some(e));
    // The files were reserved ahead of their data until the space ran out.
    let refused = refused
        .or_else(|| sink.settle().err())
        .expect("ten times the free space did not fit");
    assert!(refused.message.contains("free"), "{}", refused.message);
    assert!(fs.free() < free / 2, "nothing was reserved ahead");
    // The sender is gone: its session times out and gives everything back.
    sink.release().unwrap();
    drop(sink);
    assert_eq!(names(&fx.root()), Vec::<String>::new());
    // The file system counts freed blocks once its journal has committed them.
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
    assert!(
        fs.free() + (1 << 20) >= free,
        "{} of {free} bytes free",
        fs.free()
    );
}

#[test]
#[ignore = "needs root: mounts a file system image through a loop device"]
fn files_are_reserved_ahead_of_their_data_only_within_the_quota() {
    let _guard = shared();
    let fs = SmallFileSystem::new(64);
    let fx = Fixture::in_dir(tempfile::tempdir_in(fs.dir.path()).unwrap());
    let free = fs.free();
    let quota = 8 << 20;
    let mut sink = fx.sink_with(SinkOptions {
        reserve_ahead: quota,
        ..options()
    });
    for file in 0..10 {
        sink.open(file, &file_meta(&format!("f{file}"), 3 << 20))
            .unwrap();
    }
    sink.settle().unwrap();
    let reserved = free - fs.free();
    assert!(reserved >= 6 << 20, "only {reserved} bytes reserved ahead");
    assert!(
        reserved <= quota + (1 << 20),
        "{reserved} bytes reserved ahead"
    );
    // Data for a file beyond the quota reserves it as it arrives.
    sink.write_at(9, 0, &[1; PIECE]).unwrap();
    sink.flush().unwrap();
    assert!(free - fs.free() >= reserved + (3 << 20));
}

fn link_meta(path: &str, target: &str) -> FileMeta {
    FileMeta {
        kind: EntryKind::Symlink {
            target: target.into(),
        },
        ..file_meta(path, 0)
    }
}

#[test]
fn links_are_made_inside_and_refused_with_nothing_written_when_they_lead_out() {
    let _guard = shared();
    let fx = Fixture::new();
    let root = fx.root();
    let mut sink = fx.sink_with(SinkOptions {
        dest_dir: "in".into(),
        overwrite: OverwriteMode::Never,
        ..options()
    });
    sink.open(0, &link_meta("d/up", "../f")).unwrap();
    sink.open(1, &link_meta("d/out", "../../f")).unwrap();
    sink.finish(0, None).unwrap();
    sink.finish(1, None).unwrap();
    let got = reports(&mut sink);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&SinkReport::Placed(0)), "{got:?}");
    let refused = got.iter().find_map(|r| match r {
        SinkReport::Refused { file: 1, reason } => Some(reason.clone()),
        _ => None,
    });
    let reason = refused.expect("the link leading out is refused");
    assert!(reason.contains("d/out"), "{reason}");
    assert_eq!(
        fs::read_link(root.join("in/d/up")).unwrap(),
        Path::new("../f")
    );
    let names: Vec<_> = fs::read_dir(root.join("in/d")).unwrap().collect();
    assert_eq!(names.len(), 1);

    // The same link again is kept; another entry there is kept under `never`...
    let mut again = fx.sink_with(SinkOptions {
        dest_dir: "in".into(),
        overwrite: OverwriteMode::Never,
        ..options()
    });
    again.open(0, &link_meta("d/up", "../f")).unwrap();
    again.finish(0, None).unwrap();
    assert_eq!(reports(&mut again), [SinkReport::Placed(0)]);
    fs::write(root.join("in/d/file"), b"kept").unwrap();
    assert!(again.open(1, &link_meta("d/file", "../f")).is_err());
    assert_eq!(fs::read(root.join("in/d/file")).unwrap(), b"kept");
    // ...and replaced under `backup`, the old entry kept beside it.
    let mut backup = fx.sink_with(SinkOptions {
        dest_dir: "in".into(),
        overwrite: OverwriteMode::Backup,
        ..options()
    });
    backup.open(0, &link_meta("d/file", "up")).unwrap();
    backup.finish(0, None).unwrap();
    assert_eq!(reports(&mut backup), [SinkReport::Placed(0)]);
    assert_eq!(
        fs::read_link(root.join("in/d/file")).unwrap(),
        Path::new("up")
    );
    assert_eq!(fs::read(root.join("in/d/file.jetbak")).unwrap(), b"kept");
    assert!(fs::symlink_metadata(root.join("in/d/file.jetpart")).is_err());
}
