//! Throughput of packet protection: sealing and opening a 1,400-byte payload behind a 17-byte
//! header at each protecting cipher level.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use jetstream_wire::crypto::aead::{CipherLevel, PacketKey};

const HEADER_LEN: usize = 17;
const PAYLOAD_LEN: usize = 1400;

fn bench_aead(c: &mut Criterion) {
    let mut group = c.benchmark_group("aead");
    group.throughput(Throughput::Bytes(PAYLOAD_LEN as u64));
    for level in [
        CipherLevel::Authenticated,
        CipherLevel::Aes128Gcm,
        CipherLevel::Aes256Gcm,
    ] {
        let key = PacketKey::new(level, &[0x5a; 32]);
        let mut buf = vec![0x42; HEADER_LEN + PAYLOAD_LEN + key.tag_len()];

        // Sealing in place again over the previous ciphertext costs the same as over plaintext.
        group.bench_function(format!("seal/{level:?}"), |b| {
            b.iter(|| key.seal(black_box(7), black_box(&mut buf), HEADER_LEN, PAYLOAD_LEN))
        });

        let len = key.seal(7, &mut buf, HEADER_LEN, PAYLOAD_LEN);
        let sealed = buf[..len].to_vec();
        // Measure the success path, not an early rejection.
        assert_eq!(
            key.open(7, &mut sealed.clone(), HEADER_LEN),
            Ok(PAYLOAD_LEN)
        );
        // Opening decrypts in place, so each iteration gets a fresh copy (outside the timing).
        group.bench_function(format!("open/{level:?}"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |packet| key.open(black_box(7), packet, HEADER_LEN),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_aead);
criterion_main!(benches);
