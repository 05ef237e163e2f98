//! The store's range-set blobs: hostile bytes decode to an error or to the one set whose
//! encoding they are; ranges read as a set encode and decode back to that set.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use jetstream_engine::store::{decode_range_blob, encode_range_blob};
use jetstream_wire::ranges::RangeSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = decode_range_blob(data) {
        assert_eq!(encode_range_blob(&set), data);
    }
    if let Ok(ranges) = Vec::<(u64, u64)>::arbitrary_take_rest(Unstructured::new(data)) {
        let mut set = RangeSet::new();
        for (a, b) in ranges {
            set.insert(a.min(b)..a.max(b));
        }
        assert_eq!(decode_range_blob(&encode_range_blob(&set)), Ok(set));
    }
});
