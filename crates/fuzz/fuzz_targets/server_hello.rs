//! A ServerHello at an `Initiator` that sent a real ClientHello. The first byte picks the level
//! offered (bits 0-1), whether the responder's key is expected (bit 2) and whether the message
//! arrives twice (bit 3); the rest is the message. Hostile bytes give errors; a message that
//! passes twice gives the same ClientFinish twice.
#![no_main]

use jetstream_fuzz::keys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, message)) = data.split_first() else {
        return;
    };
    let (initiator, _) = keys::initiator(keys::level_of(flags));
    let expected = (flags & 4 != 0).then(|| keys::server().public_key());
    let auth = keys::auth().encode().expect("short credentials");
    let first = initiator.finish(message, expected.as_ref(), &auth);
    if flags & 8 != 0 {
        let again = initiator.finish(message, expected.as_ref(), &auth);
        if let (Ok((_, _, a)), Ok((_, _, b))) = (&first, &again) {
            assert_eq!(a, b);
        }
    }
});
