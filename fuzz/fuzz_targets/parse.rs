// SPDX-License-Identifier: GPL-2.0

//! Any input: the parser never panics; what it accepts, printed the way the
//! interface files print it, is accepted again with the same meaning
//! (what a read prints, a write accepts).

#![no_main]

use devcg_logic::logic::parse::{parse_value, parse_write, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    if let Ok(lines) = parse_write(text) {
        for line in lines {
            let want: Vec<(&str, u64)> = line.assignments().collect();
            let mut printed = String::from(line.device);
            for (region, value) in &want {
                printed.push_str(&format!(" region.{region}={}", Value(*value)));
            }
            let again: Vec<_> = parse_write(&printed)
                .unwrap_or_else(|e| panic!("printed {printed:?} is refused: {e:?}"))
                .collect();
            assert_eq!(again.len(), 1, "{printed:?}");
            assert_eq!(again[0].device, line.device);
            let got: Vec<(&str, u64)> = again[0].assignments().collect();
            assert_eq!(got, want, "{printed:?}");
        }
    }
    for token in text.split([' ', '\t', '\n', '=']) {
        if let Ok(value) = parse_value(token) {
            assert_eq!(parse_value(&Value(value).to_string()), Ok(value), "{token:?}");
        }
    }
});
