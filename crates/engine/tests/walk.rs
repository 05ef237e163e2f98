//! The tree walk: ordering, empty directories, globs, symlink policies and errors.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use jetstream_engine::walk::{walk, SymlinkPolicy, WalkEntry, WalkError, WalkOptions};
use jetstream_wire::files::EntryKind;

/// `src/{a.txt, b/c.txt, b/d/, e.bin (executable)}` with known mtimes.
fn tree(root: &Path) -> PathBuf {
    let src = root.join("src");
    fs::create_dir_all(src.join("b/d")).unwrap();
    fs::write(src.join("a.txt"), b"alpha").unwrap();
    fs::write(src.join("b/c.txt"), b"charlie!").unwrap();
    fs::write(src.join("e.bin"), [0u8; 300]).unwrap();
    fs::set_permissions(src.join("e.bin"), fs::Permissions::from_mode(0o700)).unwrap();
    filetime::set_file_mtime(
        src.join("a.txt"),
        FileTime::from_unix_time(1_600_000_000, 123_456_000),
    )
    .unwrap();
    src
}

fn run(mappings: &[(&str, &Path)], opts: &WalkOptions) -> Result<Vec<WalkEntry>, WalkError> {
    let owned: Vec<(String, PathBuf)> = mappings
        .iter()
        .map(|(d, s)| (d.to_string(), s.to_path_buf()))
        .collect();
    walk(&owned, opts)
}

fn paths(entries: &[WalkEntry]) -> Vec<(String, EntryKind)> {
    entries
        .iter()
        .map(|e| (e.meta.path.clone(), e.meta.kind.clone()))
        .collect()
}

use EntryKind::{Directory as D, File as F};

fn expect(list: &[(&str, EntryKind)]) -> Vec<(String, EntryKind)> {
    list.iter()
        .map(|(p, k)| (p.to_string(), k.clone()))
        .collect()
}

#[test]
fn nested_and_empty_directories_in_order_with_their_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let entries = run(&[("dst", &src)], &WalkOptions::default()).unwrap();
    assert_eq!(
        paths(&entries),
        expect(&[
            ("dst", D),
            ("dst/a.txt", F),
            ("dst/b", D),
            ("dst/b/c.txt", F),
            ("dst/b/d", D),
            ("dst/e.bin", F),
        ])
    );
    let a = &entries[1];
    assert_eq!(a.source, src.join("a.txt"));
    assert_eq!((a.meta.size, a.meta.executable), (5, false));
    assert_eq!(a.meta.mtime_us, 1_600_000_000_123_456);
    assert_eq!(entries[3].meta.size, 8);
    let e = &entries[5];
    assert_eq!((e.meta.size, e.meta.executable), (300, true));
    for dir in [&entries[0], &entries[2], &entries[4]] {
        assert_eq!(dir.source, PathBuf::new());
        assert_eq!((dir.meta.size, dir.meta.executable), (0, false));
    }
    // Deterministic.
    assert_eq!(
        run(&[("dst", &src)], &WalkOptions::default()).unwrap(),
        entries
    );
}

#[test]
fn root_destination_and_file_mappings() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let a = src.join("a.txt");
    let entries = run(
        &[("", &src.join("b")), ("x/renamed.txt", &a)],
        &WalkOptions::default(),
    )
    .unwrap();
    assert_eq!(
        paths(&entries),
        expect(&[("c.txt", F), ("d", D), ("x/renamed.txt", F)])
    );
    assert_eq!(entries[2].source, a);

    let err = run(&[("", &a)], &WalkOptions::default()).unwrap_err();
    assert!(matches!(err, WalkError::NoDestinationName { .. }), "{err}");
    assert!(err.to_string().contains("a.txt"), "{err}");
}

#[test]
fn include_and_exclude_globs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let include = WalkOptions {
        include: vec!["*.txt".into()],
        ..Default::default()
    };
    assert_eq!(
        paths(&run(&[("", &src)], &include).unwrap()),
        expect(&[("a.txt", F), ("b", D), ("b/c.txt", F), ("b/d", D)])
    );
    let exclude = WalkOptions {
        exclude: vec!["b".into(), "*.bin".into()],
        ..Default::default()
    };
    assert_eq!(
        paths(&run(&[("", &src)], &exclude).unwrap()),
        expect(&[("a.txt", F)])
    );
    let both = WalkOptions {
        include: vec!["**/*.txt".into()],
        exclude: vec!["a.*".into()],
        ..Default::default()
    };
    assert_eq!(
        paths(&run(&[("", &src)], &both).unwrap()),
        expect(&[("b", D), ("b/c.txt", F), ("b/d", D)])
    );
    // A mapped file is matched by its name.
    let only_bin = WalkOptions {
        include: vec!["*.bin".into()],
        ..Default::default()
    };
    assert!(run(&[("t", &src.join("a.txt"))], &only_bin)
        .unwrap()
        .is_empty());

    let bad = WalkOptions {
        exclude: vec!["a[".into()],
        ..Default::default()
    };
    let err = run(&[("", &src)], &bad).unwrap_err();
    assert!(
        matches!(err, WalkError::Glob { ref pattern, .. } if pattern == "a["),
        "{err}"
    );
}

#[test]
fn each_symlink_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    symlink(src.join("a.txt"), src.join("link_file")).unwrap();
    symlink("b", src.join("link_dir")).unwrap();
    symlink("absent", src.join("dangling")).unwrap();
    symlink("../..", src.join("b/d/loop")).unwrap();

    let plain = [
        ("a.txt", F),
        ("b", D),
        ("b/c.txt", F),
        ("b/d", D),
        ("e.bin", F),
    ];
    let link_dir = [("link_dir", D), ("link_dir/c.txt", F), ("link_dir/d", D)];
    let sorted = |extra: &[(&str, EntryKind)]| {
        let mut all: Vec<_> = plain.iter().chain(extra).cloned().collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        expect(&all)
    };
    let with_both = sorted(&[link_dir.as_slice(), &[("link_file", F)]].concat());
    let link = |target: &str| EntryKind::Symlink {
        target: target.into(),
    };
    let absolute = src.join("a.txt").to_str().unwrap().to_owned();
    // Every link is an entry of its own, its target as written, dangling or looping ones too.
    let links = sorted(&[
        ("b/d/loop", link("../..")),
        ("dangling", link("absent")),
        ("link_dir", link("b")),
        ("link_file", link(&absolute)),
    ]);
    let cases = [
        (SymlinkPolicy::CopyContents, with_both),
        (SymlinkPolicy::Preserve, links),
        (SymlinkPolicy::IgnoreFiles, sorted(&link_dir)),
        (
            SymlinkPolicy::IgnoreDirectories,
            sorted(&[("link_file", F)]),
        ),
        (SymlinkPolicy::Ignore, sorted(&[])),
    ];
    for (policy, expected) in cases {
        let opts = WalkOptions {
            symlinks: policy,
            ..Default::default()
        };
        let entries = run(&[("", &src)], &opts).unwrap();
        assert_eq!(paths(&entries), expected, "{policy:?}");
        if let Some(link) = entries.iter().find(|e| e.meta.path == "link_file") {
            let size = if policy == SymlinkPolicy::Preserve {
                0
            } else {
                5
            };
            assert_eq!(
                (link.meta.size, link.source.clone()),
                (size, src.join("link_file"))
            );
        }
    }
}

#[test]
fn a_mapped_symlink_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let link = tmp.path().join("link");
    symlink(&src, &link).unwrap();
    let opts = WalkOptions {
        symlinks: SymlinkPolicy::Ignore,
        ..Default::default()
    };
    let entries = run(&[("d", &link)], &opts).unwrap();
    assert_eq!(entries.len(), 6);
}

#[test]
fn a_mapped_link_to_a_file_is_sent_as_a_link_when_links_are_preserved() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let link = tmp.path().join("link");
    symlink(src.join("a.txt"), &link).unwrap();
    let preserve = WalkOptions {
        symlinks: SymlinkPolicy::Preserve,
        ..Default::default()
    };
    let entries = run(&[("l", &link)], &preserve).unwrap();
    let target = src.join("a.txt").to_str().unwrap().to_owned();
    assert_eq!(
        paths(&entries),
        expect(&[("l", EntryKind::Symlink { target })])
    );
    let copy = run(&[("l", &link)], &WalkOptions::default()).unwrap();
    assert_eq!(paths(&copy), expect(&[("l", F)]));
    // A target that cannot travel with its path is an error naming the link.
    let long = tmp.path().join("long");
    symlink("x".repeat(1100), &long).unwrap();
    let err = run(&[("", tmp.path())], &preserve).unwrap_err();
    assert!(
        matches!(err, WalkError::LinkTarget { ref path, .. } if *path == long),
        "{err}"
    );
}

#[test]
fn a_missing_source_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    let err = run(&[("x", &missing)], &WalkOptions::default()).unwrap_err();
    assert!(
        matches!(err, WalkError::Missing { ref path } if *path == missing),
        "{err}"
    );
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}

#[test]
fn unsendable_names_and_destinations_are_errors_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tree(tmp.path());
    let err = run(&[("../up", &src)], &WalkOptions::default()).unwrap_err();
    assert!(matches!(err, WalkError::Destination { .. }), "{err}");

    fs::write(src.join("back\\slash"), b"").unwrap();
    let err = run(&[("", &src)], &WalkOptions::default()).unwrap_err();
    assert!(err.to_string().contains("back\\slash"), "{err}");
    fs::remove_file(src.join("back\\slash")).unwrap();

    let bad = src.join(std::ffi::OsStr::from_bytes(b"bad\xff"));
    fs::write(&bad, b"").unwrap();
    let err = run(&[("", &src)], &WalkOptions::default()).unwrap_err();
    assert!(
        matches!(err, WalkError::NonUtf8 { ref path } if *path == bad),
        "{err}"
    );
}

#[test]
fn policy_codes() {
    assert_eq!(SymlinkPolicy::from_u8(0), Some(SymlinkPolicy::CopyContents));
    assert_eq!(SymlinkPolicy::from_u8(3), Some(SymlinkPolicy::Ignore));
    assert_eq!(SymlinkPolicy::from_u8(4), Some(SymlinkPolicy::Preserve));
    assert_eq!(SymlinkPolicy::from_u8(5), None);
}
