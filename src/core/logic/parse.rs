// SPDX-License-Identifier: GPL-2.0

//! Parsing and formatting of the nested-keyed interface files.
//!
//! Every line of `dev.max`, `dev.min`, `dev.low` (and of what they print) is
//! `<device> region.<name>=<value> [region.<name>=<value> ...]` where a value
//! is a byte count with an optional binary suffix, or `max`. This module only
//! checks syntax; whether a device or region exists is the caller's business.
//! [`ParseError::kind`] says which errno a rejection gets.

use core::fmt;

/// The value printed and accepted as `max`: no limit.
pub const MAX: u64 = u64::MAX;

/// Why a write was rejected by the syntax check. [`ParseError::Overflow`] is
/// `-ERANGE`, every other variant `-EINVAL` (see [`ParseError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A write with no line other than blank ones (empty, or only spaces,
    /// tabs, carriage returns and newlines).
    Empty,
    /// The device name is empty or contains `=`.
    BadDevice,
    /// A device name with no `region.<name>=<value>` after it.
    MissingAssignment,
    /// A token that is not `region.<name>=<value>`.
    BadKey,
    /// A region name outside `[A-Za-z0-9_.-]+`.
    BadRegionName,
    /// A value that is neither `max` nor decimal digits with an optional
    /// `K`/`M`/`G`/`T`/`P`/`E` (either case).
    BadValue,
    /// A well-formed value that does not fit in 64 bits: too many digits, or
    /// a suffix whose multiple does not fit.
    Overflow,
}

/// The class of a rejection: which errno the kernel returns for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed input: `-EINVAL`.
    Invalid,
    /// A number out of range: `-ERANGE`, as `kstrtoull()` returns.
    Range,
}

impl ParseError {
    /// Which errno this rejection gets.
    pub const fn kind(self) -> ErrorKind {
        match self {
            ParseError::Overflow => ErrorKind::Range,
            ParseError::Empty
            | ParseError::BadDevice
            | ParseError::MissingAssignment
            | ParseError::BadKey
            | ParseError::BadRegionName
            | ParseError::BadValue => ErrorKind::Invalid,
        }
    }
}

/// Whether `name` may name a device: non-empty, printable, no whitespace, no `=`.
pub fn valid_device_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

/// Whether `name` may name a region: `[A-Za-z0-9_.-]+`.
pub fn valid_region_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Parses a value: `max`, or decimal bytes with an optional binary suffix
/// `K`, `M`, `G`, `T`, `P` or `E` in either case, as `memparse()` (`1G` is
/// 2^30 bytes, `1E` 2^60). A value whose digits or multiple do not fit in 64
/// bits is [`ParseError::Overflow`]; anything malformed is
/// [`ParseError::BadValue`], even if its digits alone would overflow.
pub fn parse_value(text: &str) -> Result<u64, ParseError> {
    if text == "max" {
        return Ok(MAX);
    }
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 20),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 30),
        Some(b't' | b'T') => (&text[..text.len() - 1], 40),
        Some(b'p' | b'P') => (&text[..text.len() - 1], 50),
        Some(b'e' | b'E') => (&text[..text.len() - 1], 60),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadValue);
    }
    let mut value: u64 = 0;
    for digit in digits.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .ok_or(ParseError::Overflow)?;
    }
    value.checked_mul(1u64 << shift).ok_or(ParseError::Overflow)
}

/// One `region.<name>=<value>` token.
fn parse_assignment(token: &str) -> Result<(&str, u64), ParseError> {
    let rest = token.strip_prefix("region.").ok_or(ParseError::BadKey)?;
    let (name, value) = rest.split_once('=').ok_or(ParseError::BadKey)?;
    if !valid_region_name(name) {
        return Err(ParseError::BadRegionName);
    }
    Ok((name, parse_value(value)?))
}

fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split([' ', '\t']).filter(|t| !t.is_empty())
}

/// A syntactically valid line: a device name and at least one assignment.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The device the line is about.
    pub device: &'a str,
    // Invariant: every token of `assignments` parsed successfully once.
    assignments: &'a str,
}

impl<'a> Line<'a> {
    /// Parses one line. `Ok(None)` for a line that holds only whitespace.
    pub fn parse(line: &'a str) -> Result<Option<Self>, ParseError> {
        let line = line.trim_matches([' ', '\t', '\r']);
        if line.is_empty() {
            return Ok(None);
        }
        let (device, assignments) = match line.find([' ', '\t']) {
            Some(at) => (&line[..at], &line[at..]),
            None => (line, ""),
        };
        if !valid_device_name(device) {
            return Err(ParseError::BadDevice);
        }
        let mut count = 0usize;
        for token in tokens(assignments) {
            parse_assignment(token)?;
            count += 1;
        }
        if count == 0 {
            return Err(ParseError::MissingAssignment);
        }
        Ok(Some(Line {
            device,
            assignments,
        }))
    }

    /// The `(region, value)` pairs of the line, in the order written.
    pub fn assignments(&self) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        // Every token parsed in `Line::parse` (type invariant), so none is dropped here.
        tokens(self.assignments).filter_map(|token| parse_assignment(token).ok())
    }
}

/// Checks the syntax of a whole write and returns its non-empty lines.
///
/// The whole input is checked before any line is returned, so a caller that
/// applies lines only after this succeeds never applies half a write. The
/// first rejected line decides the error; a write whose lines are all blank
/// (including an empty write) is [`ParseError::Empty`].
pub fn parse_write(text: &str) -> Result<impl Iterator<Item = Line<'_>>, ParseError> {
    let mut count = 0usize;
    for line in text.split('\n') {
        if Line::parse(line)?.is_some() {
            count += 1;
        }
    }
    if count == 0 {
        return Err(ParseError::Empty);
    }
    Ok(text
        .split('\n')
        .filter_map(|line| Line::parse(line).ok().flatten()))
}

/// Formats a value as the interface files print it: `max` or decimal bytes.
#[derive(Debug, Clone, Copy)]
pub struct Value(pub u64);

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == MAX {
            f.write_str("max")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn lines(text: &str) -> Result<Vec<(&str, Vec<(&str, u64)>)>, ParseError> {
        Ok(parse_write(text)?
            .map(|l| (l.device, l.assignments().collect()))
            .collect())
    }

    #[test]
    fn values_with_suffixes_and_max() {
        assert_eq!(parse_value("0"), Ok(0));
        assert_eq!(parse_value("4096"), Ok(4096));
        assert_eq!(parse_value("1k"), Ok(1024));
        assert_eq!(parse_value("1K"), Ok(1024));
        assert_eq!(parse_value("3m"), Ok(3 << 20));
        assert_eq!(parse_value("64M"), Ok(64 << 20));
        assert_eq!(parse_value("2g"), Ok(2 << 30));
        assert_eq!(parse_value("5T"), Ok(5 << 40));
        assert_eq!(parse_value("max"), Ok(MAX));
        assert_eq!(parse_value("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn every_value_rejection() {
        for bad in [
            "", "K", "-1", "+1", "1.5", "1KB", "1 K", "0x10", "MAX", "Max", "maxx", "1e3", "１",
            "12a", "k1",
        ] {
            assert_eq!(parse_value(bad), Err(ParseError::BadValue), "{bad:?}");
        }
        for big in [
            "18446744073709551616",
            "99999999999999999999999",
            "16777216T",
            "17179869184G",
        ] {
            assert_eq!(parse_value(big), Err(ParseError::Overflow), "{big:?}");
        }
        // The largest values that still fit.
        assert_eq!(parse_value("16777215T"), Ok(16777215u64 << 40));
    }

    #[test]
    fn p_and_e_suffixes_as_memparse() {
        assert_eq!(parse_value("1p"), Ok(1 << 50));
        assert_eq!(parse_value("1P"), Ok(1 << 50));
        assert_eq!(parse_value("3e"), Ok(3 << 60));
        assert_eq!(parse_value("1E"), Ok(1 << 60));
        assert_eq!(parse_value("0E"), Ok(0));
        // The largest that fit, and the smallest whose multiple does not.
        assert_eq!(parse_value("16383P"), Ok(16383 << 50));
        assert_eq!(parse_value("15E"), Ok(15 << 60));
        assert_eq!(parse_value("16384P"), Err(ParseError::Overflow));
        assert_eq!(parse_value("16e"), Err(ParseError::Overflow));
        assert_eq!(
            parse_value("99999999999999999999E"),
            Err(ParseError::Overflow)
        );
        for bad in ["P", "e", "1PB", "1EiB", "1PE", "1.5E", "1 P"] {
            assert_eq!(parse_value(bad), Err(ParseError::BadValue), "{bad:?}");
        }
        assert_eq!(
            lines("cma region.a=2P region.b=1e").unwrap(),
            [("cma", [("a", 2 << 50), ("b", 1 << 60)].to_vec())]
        );
    }

    #[test]
    fn out_of_range_is_range_and_the_rest_invalid() {
        use ParseError::*;
        assert_eq!(Overflow.kind(), ErrorKind::Range);
        for e in [
            Empty,
            BadDevice,
            MissingAssignment,
            BadKey,
            BadRegionName,
            BadValue,
        ] {
            assert_eq!(e.kind(), ErrorKind::Invalid, "{e:?}");
        }
        let kind = |text| lines(text).err().map(ParseError::kind);
        for big in [
            "cma region.a=18446744073709551616",
            "cma region.a=16777216T",
            "cma region.a=16E",
            "cma region.a=1\nsystem region.ram=16384p",
        ] {
            assert_eq!(kind(big), Some(ErrorKind::Range), "{big:?}");
        }
        // Malformed beats too big within a value; otherwise the first
        // rejected token, in order, decides.
        for (text, want) in [
            ("cma region.a=99999999999999999999x", ErrorKind::Invalid),
            ("cma region.a=16E junk", ErrorKind::Range),
            ("cma junk region.a=16E", ErrorKind::Invalid),
            ("cma\nsystem region.ram=16E", ErrorKind::Invalid),
        ] {
            assert_eq!(kind(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn an_empty_or_blank_write_is_invalid() {
        for blank in [
            "",
            "\n",
            " ",
            "\t",
            "\r\n",
            "\n\n",
            "\n \n\t\n",
            "  \r\n\t \n",
        ] {
            assert_eq!(lines(blank).err(), Some(ParseError::Empty), "{blank:?}");
        }
        assert_eq!(ParseError::Empty.kind(), ErrorKind::Invalid);
        // Blank lines next to a real one are still ignored, and a blank line
        // alone is still no line.
        assert_eq!(
            lines("\n\ncma region.a=1\n \n").unwrap(),
            [("cma", [("a", 1)].to_vec())]
        );
        assert!(matches!(Line::parse(" \t\r"), Ok(None)));
    }

    #[test]
    fn lines_and_assignments() {
        let got =
            lines("cma region.reserved=1M region.other=max\n\nsystem region.ram=0\n").unwrap();
        assert_eq!(
            got,
            [
                ("cma", [("reserved", 1 << 20), ("other", MAX)].to_vec()),
                ("system", [("ram", 0)].to_vec()),
            ]
        );
        let got = lines("  drm/0000:00:02.0\tregion.vram=16M  \r\n").unwrap();
        assert_eq!(got, [("drm/0000:00:02.0", [("vram", 16 << 20)].to_vec())]);
        assert_eq!(
            lines("d region.a.b-c_9=7").unwrap(),
            [("d", [("a.b-c_9", 7)].to_vec())]
        );
    }

    #[test]
    fn every_line_rejection() {
        use ParseError::*;
        let cases: &[(&str, ParseError)] = &[
            ("cma", MissingAssignment),
            ("cma   ", MissingAssignment),
            ("region.reserved=1M", BadDevice),
            ("=x region.a=1", BadDevice),
            ("cma reserved=1M", BadKey),
            ("cma region.reserved", BadKey),
            ("cma region=1", BadKey),
            ("cma Region.reserved=1", BadKey),
            ("cma region.=1", BadRegionName),
            ("cma region.res/erved=1", BadRegionName),
            ("cma region.a b=1", BadKey),
            ("cma region.a=", BadValue),
            ("cma region.a=1x", BadValue),
            ("cma region.a=99999999999999999999", Overflow),
            ("cma region.a=1 junk", BadKey),
            ("cma\u{e9} region.a=1", BadDevice),
        ];
        for (text, want) in cases {
            assert_eq!(Line::parse(text).err(), Some(*want), "{text:?}");
        }
    }

    #[test]
    fn a_bad_line_anywhere_rejects_the_whole_write() {
        assert_eq!(
            lines("cma region.reserved=1M\nsystem region.ram=oops\n").err(),
            Some(ParseError::BadValue)
        );
        assert_eq!(
            lines("system region.ram=1\n\ncma\n").err(),
            Some(ParseError::MissingAssignment)
        );
    }

    #[test]
    fn names() {
        assert!(valid_device_name("drm/0000:00:02.0"));
        assert!(!valid_device_name(""));
        assert!(!valid_device_name("a b"));
        assert!(!valid_device_name("a=b"));
        assert!(valid_region_name("reserved"));
        assert!(valid_region_name("linux,cma") == false);
        assert!(!valid_region_name(""));
    }

    #[test]
    fn what_is_printed_is_accepted() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let value = match seed % 4 {
                0 => MAX,
                1 => seed % 4096,
                _ => seed,
            };
            let printed = Value(value).to_string();
            assert_eq!(parse_value(&printed), Ok(value), "{printed}");
        }
    }
}
