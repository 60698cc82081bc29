// SPDX-License-Identifier: GPL-2.0

//! End-to-end tests of the dev controller, run as root inside the test guest
//! with cgroup2 at /sys/fs/cgroup. Reports KTAP on stdout; exit status 0 only
//! if every test passed.

mod cg;
mod containers;
mod faults;
mod files;
mod heaps;
mod kms;
mod robust;
mod scale;
mod transfer;
mod v4l2;

use std::panic::{self, AssertUnwindSafe};

/// A test: `Err` (or a panic) fails it, unless the message starts with
/// [`SKIP`]: then it is reported as skipped, with the rest as the reason.
pub type TestResult = Result<(), String>;

/// Prefix of a test's `Err` that reports a skip rather than a failure.
pub const SKIP: &str = "SKIP: ";

/// One named test.
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("heap-alloc") => std::process::exit(heaps::cli(&args[1..])),
        Some("v4l2-reqbufs") => std::process::exit(v4l2::cli(&args[1..])),
        Some("kms-scanout") => std::process::exit(kms::cli(&args[1..])),
        Some("heap-bench") => std::process::exit(heaps::bench_cli(&args[1..])),
        Some("heap-hold") => std::process::exit(heaps::hold_cli(&args[1..])),
        Some("cgroup-scale") => std::process::exit(scale::cli(&args[1..])),
        _ => {}
    }
    let mut tests = if args.first().map(String::as_str) == Some("faults") {
        // `devcg-e2e faults`: only the fault-injection tests.
        faults::tests()
    } else {
        let mut tests: Vec<Test> = files::tests();
        tests.extend(heaps::tests());
        tests.extend(v4l2::tests());
        tests.extend(kms::tests());
        tests.extend(transfer::tests());
        tests.extend(containers::tests());
        // Before robust: it takes vivid instance 0 away.
        tests.extend(faults::tests());
        tests.extend(robust::tests());
        tests
    };
    // `devcg-e2e only <part of a name>`: the matching tests (for working on them).
    if let [only, part] = &args[..] {
        if only == "only" {
            tests.retain(|t| t.name.contains(part.as_str()));
        }
    }
    println!("KTAP version 1");
    println!("1..{}", tests.len());
    let mut failed = 0;
    for (i, test) in tests.iter().enumerate() {
        let outcome = panic::catch_unwind(AssertUnwindSafe(test.run))
            .unwrap_or_else(|_| Err("panicked".to_string()));
        match outcome {
            Ok(()) => println!("ok {} {}", i + 1, test.name),
            Err(why) if why.starts_with(SKIP) => {
                println!("ok {} {} # SKIP {}", i + 1, test.name, &why[SKIP.len()..]);
            }
            Err(why) => {
                failed += 1;
                for line in why.lines() {
                    println!("# {line}");
                }
                println!("not ok {} {}", i + 1, test.name);
            }
        }
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
