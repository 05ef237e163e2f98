//! The compact blob form of a range set (acknowledged byte ranges, completed file indices).
//!
//! A blob is a sequence of LEB128 varint pairs `(gap, length)`, one per range, lowest first:
//! `gap` is the distance from the previous range's end (from 0 for the first range) and must be
//! at least 1 after the first range; `length` is at least 1. So a set received in order stays a
//! few bytes however large it grows, and each set has exactly one encoding. The empty blob is the
//! empty set.

use jetstream_wire::ranges::RangeSet;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Why a stored range blob was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The blob ends inside a varint or between a gap and its length.
    #[error("range blob truncated")]
    Truncated,
    /// A varint or a range bound does not fit in 64 bits.
    #[error("range blob overflows 64 bits")]
    Overflow,
    /// A range is empty or touches the previous one, or a varint is longer than needed.
    #[error("range blob is not canonical")]
    NotCanonical,
}

/// Encodes `set` as a blob.
pub fn encode(set: &RangeSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 * set.range_count());
    let mut previous_end = 0;
    for range in set.iter() {
        put_varint(&mut out, range.start - previous_end);
        put_varint(&mut out, range.end - range.start);
        previous_end = range.end;
    }
    out
}

/// Decodes a blob written by [`encode`]; hostile bytes give an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<RangeSet, DecodeError> {
    let mut set = RangeSet::new();
    let mut pos = 0;
    let mut previous_end = 0u64;
    while pos < bytes.len() {
        let gap = get_varint(bytes, &mut pos)?;
        let length = get_varint(bytes, &mut pos)?;
        if length == 0 || (gap == 0 && !set.is_empty()) {
            return Err(DecodeError::NotCanonical);
        }
        let start = previous_end.checked_add(gap).ok_or(DecodeError::Overflow)?;
        let end = start.checked_add(length).ok_or(DecodeError::Overflow)?;
        set.insert(start..end);
        previous_end = end;
    }
    Ok(set)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos).ok_or(DecodeError::Truncated)?;
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        // The tenth byte holds bit 63 only.
        if shift == 63 && bits > 1 {
            return Err(DecodeError::Overflow);
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            // A zero last byte after the first would be a longer spelling of a shorter varint.
            if byte == 0 && shift > 0 {
                return Err(DecodeError::NotCanonical);
            }
            return Ok(value);
        }
    }
    Err(DecodeError::Overflow)
}

/// A range set bound to or read from a blob column.
pub struct RangeBlob(pub RangeSet);

impl ToSql for RangeBlob {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(encode(&self.0)))
    }
}

impl FromSql for RangeBlob {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        decode(value.as_blob()?)
            .map(RangeBlob)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set_of(ranges: &[(u64, u64)]) -> RangeSet {
        ranges.iter().map(|&(start, end)| start..end).collect()
    }

    #[test]
    fn in_order_set_is_a_few_bytes() {
        let set = set_of(&[(0, 10_000_000_000)]);
        let blob = encode(&set);
        assert_eq!(blob.len(), 1 + 5);
        assert_eq!(decode(&blob), Ok(set));
    }

    #[test]
    fn empty_blob_is_empty_set() {
        assert_eq!(encode(&RangeSet::new()), Vec::<u8>::new());
        assert_eq!(decode(&[]), Ok(RangeSet::new()));
    }

    #[test]
    fn extreme_bounds_round_trip() {
        let set = set_of(&[(0, 1), (u64::MAX - 2, u64::MAX)]);
        assert_eq!(decode(&encode(&set)), Ok(set));
    }

    #[test]
    fn refuses_bad_blobs() {
        assert_eq!(decode(&[0x80]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[5]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0, 0]), Err(DecodeError::NotCanonical));
        assert_eq!(decode(&[0x80, 0x00, 1]), Err(DecodeError::NotCanonical));
        // Second range adjacent to the first.
        assert_eq!(decode(&[0, 2, 0, 2]), Err(DecodeError::NotCanonical));
        let mut eleven = vec![0xff; 10];
        eleven.push(0);
        assert_eq!(decode(&eleven), Err(DecodeError::Overflow));
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(decode(&too_big), Err(DecodeError::Overflow));
        // Start near the top, then a length that runs past u64::MAX.
        let mut past_end = Vec::new();
        put_varint(&mut past_end, u64::MAX - 1);
        put_varint(&mut past_end, 2);
        assert_eq!(decode(&past_end), Err(DecodeError::Overflow));
    }

    proptest! {
        #[test]
        fn round_trips(ranges in proptest::collection::vec((0u64..1 << 40, 1u64..1 << 20), 0..64)) {
            let set = set_of(
                &ranges.iter().map(|&(start, len)| (start, start + len)).collect::<Vec<_>>(),
            );
            prop_assert_eq!(decode(&encode(&set)), Ok(set));
        }

        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(set) = decode(&bytes) {
                // Whatever decodes is canonical: it encodes back to the same bytes.
                prop_assert_eq!(encode(&set), bytes);
            }
        }
    }
}
