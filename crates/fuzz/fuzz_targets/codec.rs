//! `Header::decode`, `Frames` and `Auth::decode` over hostile bytes; the same bytes, read as a
//! list of frames, must encode to exactly their `encoded_len` and decode to themselves.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use jetstream_fuzz::frames::{check_round_trip, decode_all, FrameSpec};
use jetstream_wire::codec::{Auth, Header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Header::decode(data);
    decode_all(data);
    if let Ok(auth) = Auth::decode(data) {
        assert_eq!(auth.encode().as_deref(), Some(data));
    }
    if let Ok(specs) = Vec::<FrameSpec>::arbitrary_take_rest(Unstructured::new(data)) {
        check_round_trip(&specs);
    }
});
