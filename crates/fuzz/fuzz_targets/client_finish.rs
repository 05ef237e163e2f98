//! A ClientFinish at a `Responder` that answered a real ClientHello: the first byte picks the
//! level the hello offered, the rest is the message. Hostile bytes give errors.
#![no_main]

use std::sync::LazyLock;

use jetstream_fuzz::keys;
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::Responder;
use libfuzzer_sys::fuzz_target;

/// One responder per level; `finish` takes `&self`, so they serve every input.
static RESPONDERS: LazyLock<Vec<Responder>> = LazyLock::new(|| {
    CipherLevel::ALL
        .iter()
        .map(|&level| {
            let (_, hello) = keys::initiator(level);
            keys::respond(&hello, CipherLevel::None)
                .expect("a real ClientHello is accepted")
                .0
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Some((&level, message)) = data.split_first() else {
        return;
    };
    let responder = &RESPONDERS[usize::from(level % 4)];
    if let Ok((keys, client, _)) = responder.finish(message) {
        assert_eq!(client, keys::client().public_key());
        assert_eq!(keys.level, keys::level_of(level));
    }
});
