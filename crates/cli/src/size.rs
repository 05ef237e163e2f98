//! Sizes as written on the command line: a number of bytes, or one with a binary multiple
//! (`64K`, `512M`, `10G`, `1T`; K is 1024 bytes).

/// `text` as a number of bytes.
pub fn parse(text: &str) -> Result<u64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &text[digits.len()..] {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        suffix => return Err(format!("unknown unit {suffix:?}: use K, M, G or T")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 1048576, 64K or 10G"))?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("1048576"), Ok(1 << 20));
        assert_eq!(parse("64K"), Ok(64 << 10));
        assert_eq!(parse("10G"), Ok(10 << 30));
        assert_eq!(parse("2t"), Ok(2 << 40));
        assert!(parse("").is_err());
        assert!(parse("G").is_err());
        assert!(parse("10X").unwrap_err().contains("\"X\""));
        assert!(parse("-1").is_err());
        assert!(parse("99999999999T").unwrap_err().contains("too large"));
    }
}
