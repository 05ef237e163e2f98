//! A sender session after a real handshake, fed authenticated hostile frames by a harness that
//! holds the receiver's keys (see `jetstream_fuzz::sender`).
#![no_main]

use jetstream_fuzz::sender::{run, SenderInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: SenderInput| {
    run(&input);
});
