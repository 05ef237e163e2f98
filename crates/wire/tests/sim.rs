//! Whole transfers through the simulated network, a representative part of the link matrix
//! (`cargo stress` runs all of it), plus correctness under reordering, bursty loss, many small
//! files, a rate cap and two competing flows.

#[allow(dead_code)]
mod support;

use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::rate::RateLimits;
use std::time::Duration;
use support::transfer::{assert_matrix_case, dir, file, link, run, Flow};

const MBIT: u64 = 1_000_000;

#[test]
fn matrix_100mbit_1ms_clean() {
    assert_matrix_case(100 * MBIT, Duration::from_millis(1), 0.0, 1);
}

#[test]
fn matrix_100mbit_100ms_5pct() {
    assert_matrix_case(100 * MBIT, Duration::from_millis(100), 0.05, 2);
}

#[test]
fn matrix_100mbit_600ms_1pct() {
    assert_matrix_case(100 * MBIT, Duration::from_millis(600), 0.01, 3);
}

#[test]
fn matrix_1gbit_1ms_10pct() {
    assert_matrix_case(1000 * MBIT, Duration::from_millis(1), 0.10, 4);
}

#[test]
fn tree_of_small_files_survives_loss_reordering_and_encryption() {
    let mut files = vec![dir("tree"), dir("tree/empty"), dir("tree/a")];
    files.push(file("tree/zero", 0));
    files.push(file("tree/one", 1));
    files.push(file("tree/a/256", 256));
    for i in 0..2000 {
        files.push(file(&format!("tree/a/f{i}"), (i * 97 % 5000) as u64));
    }
    files.push(file("tree/big", 3_000_000));
    let total_files = files.len() as u64;
    for cipher in [
        CipherLevel::Authenticated,
        CipherLevel::Aes128Gcm,
        CipherLevel::Aes256Gcm,
    ] {
        // The receiver's sink puts files in place in the background: the first DONEs wait.
        let flow = Flow {
            files: files.clone(),
            cipher,
            unsettled: 3,
            ..Flow::single(0)
        };
        let mut cfg = link(100 * MBIT, Duration::from_millis(20), 0.05, 7);
        cfg.jitter = Duration::from_millis(2);
        cfg.reorder = 0.01;
        cfg.reorder_delay = Duration::from_millis(5);
        let outcome = run(cfg, vec![flow], Duration::from_secs(120));
        let f = &outcome.flows[0];
        assert!(f.result.is_ok(), "{cipher:?}: {:?}", f.result);
        assert_eq!(f.received_bytes, f.total_bytes);
        assert_eq!(f.files_finished, total_files);
    }
}

#[test]
fn small_files_share_datagrams() {
    // 1,000 files of 100 bytes: a datagram each would be 1,000 data datagrams; packed into
    // 1,472-byte datagrams they take about 70, besides the FILE announcements.
    let files = (0..1000).map(|i| file(&format!("f{i}"), 100)).collect();
    let flow = Flow {
        files,
        cipher: CipherLevel::Aes128Gcm,
        ..Flow::single(0)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(10), 0.0, 5);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, 100_000);
    assert_eq!(f.files_finished, 1000);
    assert!(
        f.packets_sent < 200,
        "{} datagrams for 1,000 files of 100 bytes",
        f.packets_sent
    );
}

#[test]
fn resumed_files_among_packed_small_ones_get_only_their_missing_bytes() {
    // Small files share datagrams, but a resumed file's bytes start at its resume offset: what
    // an earlier session delivered is never sent again and every other byte arrives, once,
    // through 5% loss.
    let sizes: Vec<u64> = (0..300).map(|i| (i * 389 % 5000) as u64).collect();
    let resume: Vec<u64> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| match i % 7 {
            0 => size / 2,
            3 => size,
            _ => 0,
        })
        .collect();
    let files = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| file(&format!("f{i}"), size))
        .collect();
    let flow = Flow {
        files,
        cipher: CipherLevel::Aes128Gcm,
        resume: resume.clone(),
        held: resume.clone(),
        ..Flow::single(0)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(10), 0.05, 13);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    let missing = f.total_bytes - resume.iter().sum::<u64>();
    assert_eq!(f.received_bytes, missing);
    assert_eq!(f.bytes_sent - f.retransmitted, missing, "new bytes sent");
    assert_eq!(f.files_finished, 300);
}

#[test]
fn a_resume_claim_the_receiver_cannot_confirm_is_sent_again() {
    // A sender restarted from a checkpoint that claims more than the receiver synced (a
    // doctored or stale checkpoint): the receiver keeps only what it holds durably and asks
    // for the rest; every file ends complete, each byte written once.
    let sizes: Vec<u64> = (0..40).map(|i| 10_000 + i * 3_001).collect();
    let claims: Vec<u64> = sizes.iter().map(|s| s / 2).collect();
    let held: Vec<u64> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| if i % 3 == 0 { 0 } else { s / 4 })
        .collect();
    let files = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| file(&format!("f{i}"), size))
        .collect();
    let flow = Flow {
        files,
        cipher: CipherLevel::Aes128Gcm,
        resume: claims,
        held: held.clone(),
        ..Flow::single(0)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(10), 0.02, 17);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, f.total_bytes - held.iter().sum::<u64>());
    assert_eq!(f.files_finished, 40);
}

#[test]
fn files_the_receiver_already_holds_are_reported_kept() {
    // A transfer sent again: the receiver holds two of its files whole and leaves them as they
    // are; the sender learns which (KEPT), and writes only the others.
    let sizes: Vec<u64> = (0..6).map(|i| 20_000 + i * 7_001).collect();
    let kept = vec![1, 4];
    let held: Vec<u64> = sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| if kept.contains(&(i as u32)) { s } else { 0 })
        .collect();
    let files = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| file(&format!("f{i}"), size))
        .collect();
    let flow = Flow {
        files,
        cipher: CipherLevel::Aes128Gcm,
        held: held.clone(),
        kept: kept.clone(),
        ..Flow::single(0)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(10), 0.0, 23);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, f.total_bytes - held.iter().sum::<u64>());
    let mut reported = f.reported.clone();
    reported.sort_unstable();
    let expected: Vec<(u32, bool)> = (0..6).map(|i| (i, kept.contains(&i))).collect();
    assert_eq!(reported, expected);
}

#[test]
fn files_the_receiver_answers_kept_cost_no_data_through_lost_answers() {
    // A tree sent again: the receiver answers most announcements "kept" (ANSWERS frames, some
    // lost on the way back); the sender sends only the others' bytes, and every file is
    // reported, the kept ones as kept.
    let count = 3000u32;
    let files: Vec<_> = (0..count)
        .map(|i| file(&format!("t/f{i}"), 1000 + u64::from(i % 7) * 333))
        .collect();
    let same: Vec<u32> = (0..count).filter(|i| i % 100 != 7).collect();
    let sent: u64 = files
        .iter()
        .enumerate()
        .filter(|(i, _)| !same.contains(&(*i as u32)))
        .map(|(_, f)| f.size)
        .sum();
    let flow = Flow {
        files,
        cipher: CipherLevel::Aes128Gcm,
        same: same.clone(),
        ..Flow::single(0)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(20), 0.05, 29);
    let outcome = run(cfg, vec![flow], Duration::from_secs(120));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, sent);
    assert_eq!(f.bytes_sent - f.retransmitted, sent);
    assert_eq!(f.receiver_stats.files_kept as usize, same.len());
    let mut reported = f.reported.clone();
    reported.sort_unstable();
    let expected: Vec<(u32, bool)> = (0..count).map(|i| (i, same.contains(&i))).collect();
    assert_eq!(reported, expected);
}

#[test]
fn what_the_receiver_holds_is_not_sent_again_even_unclaimed() {
    // A second run of the same transfer without a checkpoint: the receiver says how much of
    // the file it holds and the sender skips it (beyond what it sent before hearing so).
    let size = 8_000_000;
    let held = 6_000_000;
    let flow = Flow {
        cipher: CipherLevel::Aes128Gcm,
        held: vec![held],
        ..Flow::single(size)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(10), 0.0, 19);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, size - held);
    assert!(
        f.bytes_sent < size - held + 500_000,
        "{} bytes sent for {} missing",
        f.bytes_sent,
        size - held
    );
}

#[test]
fn a_file_whose_digest_does_not_match_is_received_again() {
    let files: Vec<_> = (0..5).map(|i| file(&format!("f{i}"), 200_000)).collect();
    let flow = Flow {
        files,
        cipher: CipherLevel::Aes128Gcm,
        corrupt: vec![2],
        ..Flow::single(0)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(10), 0.01, 23);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.files_finished, 5);
    // The mismatched file was written twice.
    assert_eq!(f.received_bytes, 1_200_000);
}

#[test]
fn a_file_that_mismatches_twice_fails_the_transfer_naming_it() {
    let files: Vec<_> = (0..3).map(|i| file(&format!("f{i}"), 100_000)).collect();
    let flow = Flow {
        files,
        cipher: CipherLevel::Aes128Gcm,
        corrupt: vec![1, 1],
        ..Flow::single(0)
    };
    let cfg = link(100 * MBIT, Duration::from_millis(10), 0.0, 29);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let err = outcome.flows[0].result.clone().unwrap_err();
    assert!(err.message.contains("f1"), "{err}");
    assert!(err.message.contains("digest"), "{err}");
}

#[test]
fn bursty_loss_is_repaired() {
    let mut cfg = link(100 * MBIT, Duration::from_millis(50), 0.0, 11);
    cfg.burst_loss = Some((0.002, 0.2));
    let outcome = run(
        cfg,
        vec![Flow::single(50_000_000)],
        Duration::from_secs(120),
    );
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, 50_000_000);
    assert!(outcome.lost_bytes > 0, "the burst model dropped nothing");
}

#[test]
fn keys_change_every_64_datagrams_through_loss_and_reordering_and_every_byte_arrives() {
    let size = 16_000_000;
    let flow = Flow {
        cipher: CipherLevel::Aes128Gcm,
        key_update_interval: 64,
        ..Flow::single(size)
    };
    // Both directions lose 5% and hold 3% of datagrams back behind later ones.
    let mut cfg = link(100 * MBIT, Duration::from_millis(10), 0.05, 17);
    cfg.jitter = Duration::from_millis(1);
    cfg.reorder = 0.03;
    cfg.reorder_delay = Duration::from_millis(3);
    let outcome = run(cfg, vec![flow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    // The checking sink compared every byte with the generator as it arrived.
    assert_eq!(f.received_bytes, size);
    assert_eq!(f.files_finished, 1);
    assert!(outcome.lost_bytes > 0, "nothing was lost");
    let rx = &f.receiver_stats;
    assert!(
        f.sender_key_updates >= 20 && rx.key_updates >= 20,
        "key phases: sender {}, receiver {}",
        f.sender_key_updates,
        rx.key_updates
    );
    // Datagrams held back across an update opened with the previous keys.
    assert_eq!((rx.packets_forged, rx.packets_replayed), (0, 0), "{rx:?}");
}

#[test]
fn rate_never_exceeds_the_cap() {
    let cap_bytes = 2_500_000; // 20 Mbit/s
    let flow = Flow {
        limits: RateLimits {
            min: RateLimits::DEFAULT_MIN,
            max: Some(cap_bytes),
        },
        ..Flow::single(30_000_000)
    };
    let outcome = run(
        link(1000 * MBIT, Duration::from_millis(10), 0.0, 5),
        vec![flow],
        Duration::from_secs(60),
    );
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    let window = outcome.rate_window.as_secs_f64();
    // One window's worth at the cap, plus the pacer's burst of 2 datagrams at this rate.
    let allowed = cap_bytes as f64 * window + 2.0 * 1500.0;
    let peak = *f.sent_per_window.iter().max().unwrap() as f64;
    assert!(
        peak <= allowed,
        "sent {peak} bytes in a window, cap allows {allowed}"
    );
    let goodput = f.goodput_bps() / 8.0;
    assert!(
        goodput >= 0.85 * cap_bytes as f64,
        "goodput {goodput} B/s far below the cap"
    );
}

#[test]
fn two_flows_share_a_link_fairly() {
    // The second flow starts at several moments of the first one's probing cycle. For its
    // first seconds a newcomer takes the larger share (its start-up fills the queue, and the
    // first flow, seeing the delay rise, lowers its estimate); compared once both have had a
    // few seconds (200 round trips) to measure the path, until the first one ends.
    let size = 120_000_000;
    for start_ms in [300, 500, 900, 1300] {
        let start = Duration::from_millis(start_ms);
        let flows = vec![
            Flow::single(size),
            Flow {
                start,
                ..Flow::single(size)
            },
        ];
        let outcome = run(
            link(200 * MBIT, Duration::from_millis(20), 0.0, 9),
            flows,
            Duration::from_secs(120),
        );
        for f in &outcome.flows {
            assert!(f.result.is_ok(), "{start_ms} ms: {:?}", f.result);
            assert_eq!(f.received_bytes, size);
        }
        let first_end = outcome
            .flows
            .iter()
            .map(|f| f.complete_at.unwrap())
            .min()
            .unwrap();
        let w = outcome.rate_window.as_secs_f64();
        let from = ((start + Duration::from_secs(4)).as_secs_f64() / w) as usize;
        let to = (first_end.as_secs_f64() / w) as usize;
        assert!(to > from + 10, "flows overlapped too briefly to compare");
        let share = |f: &support::transfer::FlowOutcome| -> u64 {
            f.delivered_per_window[from..to.min(f.delivered_per_window.len())]
                .iter()
                .sum()
        };
        let (a, b) = (
            share(&outcome.flows[0]) as f64,
            share(&outcome.flows[1]) as f64,
        );
        let gap = (a - b).abs() / a.max(b);
        assert!(
            gap <= 0.20,
            "second flow at {start_ms} ms: flows got {a} and {b} bytes: {:.0}% apart",
            gap * 100.0
        );
    }
}

#[test]
fn larger_datagrams_where_the_path_allows_them() {
    let cfg = link(1000 * MBIT, Duration::from_millis(10), 0.0, 21);
    // The path carries jumbo frames: the sender finds out and uses them.
    let jumbo = Flow {
        datagram_limit: 20_000,
        path_max_datagram: 8972,
        ..Flow::single(50_000_000)
    };
    let outcome = run(cfg.clone(), vec![jumbo], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, 50_000_000);
    assert_eq!(f.longest_datagram, 20_000, "the largest size was probed");
    assert_eq!(f.final_datagram, 8972);
    // A path that carries only 1,500-byte frames: probes are lost, data is not.
    let narrow = Flow {
        datagram_limit: 20_000,
        path_max_datagram: 1472,
        ..Flow::single(50_000_000)
    };
    let outcome = run(cfg, vec![narrow], Duration::from_secs(60));
    let f = &outcome.flows[0];
    assert!(f.result.is_ok(), "{:?}", f.result);
    assert_eq!(f.received_bytes, 50_000_000);
    assert_eq!(f.final_datagram, 1472);
    // Probes dropped by the narrow path are not data: only what the link lost is repaired.
    assert!(
        f.retransmitted as f64 <= 1.1 * outcome.lost_bytes as f64,
        "retransmitted {} for {} lost on the link",
        f.retransmitted,
        outcome.lost_bytes
    );
}

#[test]
fn a_sender_asked_to_retry_repeats_its_hello_with_the_token_a_few_times_at_most() {
    use jetstream_wire::codec::{self, DatagramKind, Header, HANDSHAKE_HEADER_LEN};
    use jetstream_wire::crypto::handshake::{Identity, CLIENT_HELLO_LEN};
    use jetstream_wire::crypto::token::TOKEN_LEN;
    use jetstream_wire::files::TransferHeader;
    use jetstream_wire::session::{SenderConfig, SenderSession};
    use std::time::Instant;

    let rng = ring::rand::SystemRandom::new();
    let identity = Identity::generate(&rng).unwrap();
    let now = Instant::now();
    let header = TransferHeader {
        id: 1,
        flags: 0,
        overwrite: 0,
        time_resolution_us: 0,
        total_files: 0,
        total_bytes: 0,
        sync_interval_ms: 0,
        verify: false,
        shared_token: false,
        skip: jetstream_wire::files::SkipRule::QuickCheck,
        dest_dir: String::new(),
    };
    let files = vec![file("f", 10)];
    let mut sender =
        SenderSession::new(now, &rng, &identity, SenderConfig::default(), header, files).unwrap();
    let mut source = support::transfer::GeneratedFiles;
    let mut buf = vec![0u8; 2048];
    let hello_len = HANDSHAKE_HEADER_LEN + CLIENT_HELLO_LEN;
    assert_eq!(
        sender.poll_transmit(now, &mut buf, &mut source),
        Some(hello_len)
    );
    let cid = Header::decode(&buf).unwrap().cid();
    for round in 1..=4u8 {
        let mut retry = vec![0u8; HANDSHAKE_HEADER_LEN + TOKEN_LEN];
        codec::encode_handshake(DatagramKind::Retry, &cid, &[round; TOKEN_LEN], &mut retry)
            .unwrap();
        sender.handle_datagram(now, &mut retry);
        let again = sender.poll_transmit(now, &mut buf, &mut source);
        if round <= 3 {
            // At once, carrying the newest token.
            assert_eq!(again, Some(hello_len + TOKEN_LEN), "round {round}");
            assert_eq!(buf[hello_len..hello_len + TOKEN_LEN], [round; TOKEN_LEN]);
        } else {
            assert_eq!(again, None, "a fourth Retry was followed");
        }
    }
    assert_eq!(sender.stats().retries, 3);
}

#[test]
fn lost_file_frames_and_digests_are_repaired_under_heavy_loss() {
    // A FILE frame and, later, its file's DIGEST are both lost, and the repair must carry them
    // in the order the receiver can take them.
    let files: Vec<_> = (0..200)
        .map(|i| file(&format!("f{i}"), 20_000 + (i * 7_919 % 80_000) as u64))
        .collect();
    for seed in 0..12 {
        let cfg = link(200 * MBIT, Duration::from_millis(2), 0.2, 300 + seed);
        let flow = Flow {
            files: files.clone(),
            verify: true,
            ..Flow::single(0)
        };
        let outcome = run(cfg, vec![flow], Duration::from_secs(60));
        let f = &outcome.flows[0];
        assert!(f.result.is_ok(), "seed {seed}: {:?}", f.result);
        assert!(
            f.complete_at.is_some(),
            "seed {seed}: stalled after {} bytes",
            f.received_bytes
        );
        assert_eq!(f.received_bytes, f.total_bytes, "seed {seed}");
        assert_eq!(f.files_finished, files.len() as u64, "seed {seed}");
    }
}
