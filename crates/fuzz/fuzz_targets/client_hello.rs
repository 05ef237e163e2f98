//! A ClientHello at a `Responder`: the first byte picks the responder's minimum cipher level,
//! the rest is the message. Hostile bytes give errors; an accepted hello is never answered with
//! more bytes than it carried.
#![no_main]

use jetstream_fuzz::keys;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&level, message)) = data.split_first() else {
        return;
    };
    if let Ok((_, server_hello)) = keys::respond(message, keys::level_of(level)) {
        assert!(server_hello.len() <= message.len());
    }
});
