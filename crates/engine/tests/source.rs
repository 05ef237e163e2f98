//! The file reader and the generated source.

use std::fs;
use std::path::PathBuf;

use jetstream_engine::source::{generated_bytes, FileSource, GeneratedSource, EXTENT_BYTES};
use jetstream_wire::files::DataSource;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    rng.fill_bytes(&mut data);
    data
}

#[test]
fn random_ranges_equal_the_files_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let sizes = [3 * EXTENT_BYTES + 123, 1000, 0, EXTENT_BYTES];
    let mut paths = vec![PathBuf::new()]; // file 0: a directory entry
    let mut contents = vec![Vec::new()];
    for (i, size) in sizes.iter().enumerate() {
        let path = tmp.path().join(format!("f{i}"));
        let data = random_bytes(&mut rng, *size);
        fs::write(&path, &data).unwrap();
        paths.push(path);
        contents.push(data);
    }
    let mut source = FileSource::new(paths);
    let mut buf = vec![0; 70_000];
    // Ranges that straddle extent boundaries and the end of each file, then random ones.
    let mut ranges = vec![
        (1, EXTENT_BYTES as u64 - 700, 1400),
        (1, 3 * EXTENT_BYTES as u64 + 100, 23),
        (4, EXTENT_BYTES as u64 - 1, 1),
        (2, 0, 1000),
        (3, 0, 0),
    ];
    for _ in 0..2000 {
        let file = rng.random_range(1..=4u32);
        let size = contents[file as usize].len();
        let len = rng.random_range(0..=size.min(buf.len()));
        let offset = rng.random_range(0..=size - len) as u64;
        ranges.push((file, offset, len));
    }
    for (file, offset, len) in ranges {
        source.read_at(file, offset, &mut buf[..len]).unwrap();
        let start = offset as usize;
        assert_eq!(
            &buf[..len],
            &contents[file as usize][start..start + len],
            "{file} {offset} {len}"
        );
    }
}

#[test]
fn more_files_than_descriptors_are_read_in_turns() {
    let tmp = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..100)
        .map(|i| {
            let path = tmp.path().join(format!("f{i}"));
            fs::write(&path, format!("file number {i:03}")).unwrap();
            path
        })
        .collect();
    let mut source = FileSource::new(paths);
    let mut buf = [0u8; 3];
    for round in 0..3 {
        for i in 0..100u32 {
            source.read_at(i, 12, &mut buf).unwrap();
            assert_eq!(buf, *format!("{i:03}").as_bytes(), "round {round}");
        }
    }
}

#[test]
fn short_missing_and_directory_entries_are_errors_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let short = tmp.path().join("short");
    fs::write(&short, [1u8; 1000]).unwrap();
    let missing = tmp.path().join("missing");
    let mut source = FileSource::new(vec![short.clone(), missing.clone(), PathBuf::new()]);
    let mut buf = [0u8; 20];

    source.read_at(0, 980, &mut buf).unwrap();
    let err = source.read_at(0, 990, &mut buf).unwrap_err();
    assert_eq!(err.file, 0);
    assert!(err.message.contains(&short.display().to_string()), "{err}");
    let err = source
        .read_at(0, 2 * EXTENT_BYTES as u64, &mut buf)
        .unwrap_err();
    assert!(err.message.contains("shorter"), "{err}");

    let err = source.read_at(1, 0, &mut buf).unwrap_err();
    assert_eq!(err.file, 1);
    assert!(
        err.message.contains(&missing.display().to_string()),
        "{err}"
    );

    assert_eq!(source.read_at(2, 0, &mut buf).unwrap_err().file, 2);
    assert_eq!(source.read_at(9, 0, &mut buf).unwrap_err().file, 9);
}

#[test]
fn generated_bytes_differ_between_files_and_positions() {
    let mut a = [0u8; 4096];
    let mut b = [0u8; 4096];
    generated_bytes(0, 0, &mut a);
    generated_bytes(1, 0, &mut b);
    assert_ne!(a, b);
    assert_ne!(a[..2048], a[2048..]);
    assert!(
        a.iter().filter(|&&x| x == 0).count() < 100,
        "looks random, not zero"
    );
    let mut again = [0u8; 4096];
    GeneratedSource::default()
        .read_at(0, 0, &mut again)
        .unwrap();
    assert_eq!(a, again);
}

proptest! {
    #[test]
    fn generated_bytes_are_position_pure(
        file in any::<u32>(),
        offset in 0u64..(u64::MAX / 2),
        len in 0usize..3000,
        cuts in proptest::collection::vec(0usize..3000, 0..8),
    ) {
        let mut whole = vec![0u8; len];
        generated_bytes(file, offset, &mut whole);
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= len).collect();
        cuts.push(0);
        cuts.push(len);
        cuts.sort_unstable();
        let mut pieces = vec![0u8; len];
        for pair in cuts.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            generated_bytes(file, offset + start as u64, &mut pieces[start..end]);
        }
        prop_assert_eq!(pieces, whole);
    }
}
