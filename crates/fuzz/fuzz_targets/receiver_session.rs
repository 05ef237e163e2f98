//! A receiver session after a real handshake, fed authenticated hostile frames by a harness
//! that holds the sender's keys (see `jetstream_fuzz::receiver`).
#![no_main]

use jetstream_fuzz::receiver::{run, ReceiverInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: ReceiverInput| {
    run(&input);
});
