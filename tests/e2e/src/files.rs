// SPDX-License-Identifier: GPL-2.0

//! The interface files through the real cgroupfs: presence, formats,
//! defaults, accepted writes, and every kind of bad input.

use crate::cg::{self, enable_dev, ensure, read, set, value, Cgroup, ROOT};
use crate::{Test, TestResult};

const EINVAL: i32 = 22;
const ENODEV: i32 = 19;
const ERANGE: i32 = 34;

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "controllers_list_dev",
            run: controllers_list_dev,
        },
        Test {
            name: "capacity_lists_boot_regions",
            run: capacity_lists_boot_regions,
        },
        Test {
            name: "subtree_control_enables_dev",
            run: subtree_control_enables_dev,
        },
        Test {
            name: "root_and_child_files",
            run: root_and_child_files,
        },
        Test {
            name: "child_defaults",
            run: child_defaults,
        },
        Test {
            name: "settings_read_back_with_suffixes",
            run: settings_read_back_with_suffixes,
        },
        Test {
            name: "multi_line_write_applies_all",
            run: multi_line_write_applies_all,
        },
        Test {
            name: "bad_writes_change_nothing",
            run: bad_writes_change_nothing,
        },
        Test {
            name: "peak_reset",
            run: peak_reset,
        },
        Test {
            name: "nested_cgroups_configure_independently",
            run: nested_cgroups_configure_independently,
        },
        Test {
            name: "removed_cgroup_leaves_no_usage",
            run: removed_cgroup_leaves_no_usage,
        },
    ]
}

fn controllers_list_dev() -> TestResult {
    let controllers = read(format!("{ROOT}/cgroup.controllers"))?;
    ensure(controllers.split_whitespace().any(|c| c == "dev"), || {
        format!("cgroup.controllers: {controllers:?}")
    })
}

fn subtree_control_enables_dev() -> TestResult {
    enable_dev(ROOT)?;
    let control = read(format!("{ROOT}/cgroup.subtree_control"))?;
    ensure(control.split_whitespace().any(|c| c == "dev"), || {
        format!("subtree_control: {control:?}")
    })
}

/// Root files are visible from boot: the guest's /init copies dev.capacity
/// before anything writes cgroup.subtree_control (it then enables dev to load
/// modules from a cgroup).
fn capacity_lists_boot_regions() -> TestResult {
    let capacity = read("/tmp/dev.capacity.at-boot")?;
    print!(
        "{}",
        capacity
            .lines()
            .map(|l| format!("# dev.capacity: {l}\n"))
            .collect::<String>()
    );
    // cma=64M on the kernel command line makes the default area "reserved".
    ensure(
        value(&capacity, "cma", "region.reserved").as_deref() == Some("67108864"),
        || format!("no 64 MiB cma region.reserved in {capacity:?}"),
    )?;
    let ram: u64 = value(&capacity, "system", "region.ram")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no system region.ram in {capacity:?}"))?;
    ensure(ram > 512 << 20 && ram <= 2 << 30, || {
        format!("system RAM {ram} not the guest's ~2 GiB")
    })
}

fn root_and_child_files() -> TestResult {
    enable_dev(ROOT)?;
    let child = Cgroup::new(ROOT, "e2e-files")?;
    for f in ["dev.capacity", "dev.current"] {
        ensure(std::path::Path::new(ROOT).join(f).exists(), || {
            format!("root lacks {f}")
        })?;
    }
    for f in [
        "dev.max",
        "dev.min",
        "dev.low",
        "dev.peak",
        "dev.events",
        "dev.events.local",
        "dev.stat",
    ] {
        ensure(!std::path::Path::new(ROOT).join(f).exists(), || {
            format!("root has {f}")
        })?;
        ensure(child.file(f).exists(), || format!("child lacks {f}"))?;
    }
    ensure(!child.file("dev.capacity").exists(), || {
        "child has dev.capacity".into()
    })
}

/// Every registered device and region appears, with the documented defaults.
fn child_defaults() -> TestResult {
    enable_dev(ROOT)?;
    let child = Cgroup::new(ROOT, "e2e-defaults")?;
    let capacity = read(format!("{ROOT}/dev.capacity"))?;
    let devices: Vec<&str> = capacity
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let check = |file: &str, default: &str| -> TestResult {
        let text = child.read(file)?;
        let listed: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        ensure(listed == devices, || {
            format!("{file} lists {listed:?}, dev.capacity {devices:?}")
        })?;
        for line in text.lines() {
            for kv in line.split_whitespace().skip(1) {
                let (key, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("{file}: bad pair {kv:?}"))?;
                ensure(key.starts_with("region."), || {
                    format!("{file}: bad key {key:?}")
                })?;
                ensure(v == default, || format!("{file}: {kv} should be {default}"))?;
            }
        }
        Ok(())
    };
    check("dev.max", "max")?;
    check("dev.min", "0")?;
    check("dev.low", "0")?;
    check("dev.current", "0")?;
    check("dev.peak", "0")?;
    check("dev.events", "0")?;
    check("dev.events.local", "0")?;
    check("dev.stat", "0")?;
    let stat = child.read("dev.stat")?;
    ensure(
        stat.contains("cma region.reserved.drm=0 region.reserved.v4l2=0 region.reserved.dma_heap=0 region.reserved.other=0"),
        || format!("dev.stat format: {stat:?}"),
    )?;
    let events = child.read("dev.events")?;
    ensure(events.contains("cma region.reserved.max=0"), || {
        format!("dev.events format: {events:?}")
    })
}

fn settings_read_back_with_suffixes() -> TestResult {
    enable_dev(ROOT)?;
    let child = Cgroup::new(ROOT, "e2e-suffixes")?;
    let cases = [
        ("4096", "4096"),
        ("1k", "1024"),
        ("1K", "1024"),
        ("3m", "3145728"),
        ("64M", "67108864"),
        ("2g", "2147483648"),
        ("1T", "1099511627776"),
        ("0", "0"),
        ("max", "max"),
        ("18446744073709551615", "max"),
    ];
    for file in ["dev.max", "dev.min", "dev.low"] {
        for (input, shown) in cases {
            set(child.file(file), &format!("cma region.reserved={input}\n"))?;
            let got = value(&child.read(file)?, "cma", "region.reserved");
            ensure(got.as_deref() == Some(shown), || {
                format!("{file}: wrote {input}, read {got:?}")
            })?;
            // Only the named region changed.
            let ram = value(&child.read(file)?, "system", "region.ram");
            let default = if file == "dev.max" { "max" } else { "0" };
            ensure(ram.as_deref() == Some(default), || {
                format!("{file}: system changed to {ram:?}")
            })?;
        }
    }
    Ok(())
}

fn multi_line_write_applies_all() -> TestResult {
    enable_dev(ROOT)?;
    let child = Cgroup::new(ROOT, "e2e-multi")?;
    set(
        child.file("dev.max"),
        "cma region.reserved=8M\n\nsystem region.ram=1G\n",
    )?;
    let max = child.read("dev.max")?;
    ensure(
        value(&max, "cma", "region.reserved").as_deref() == Some("8388608"),
        || max.clone(),
    )?;
    ensure(
        value(&max, "system", "region.ram").as_deref() == Some("1073741824"),
        || max.clone(),
    )
}

/// Every rejection: the errno is right and nothing at all was applied.
fn bad_writes_change_nothing() -> TestResult {
    enable_dev(ROOT)?;
    let child = Cgroup::new(ROOT, "e2e-bad")?;
    set(
        child.file("dev.max"),
        "cma region.reserved=1M\nsystem region.ram=2M",
    )?;
    let cases: &[(&str, i32)] = &[
        ("cma", EINVAL),
        ("cma region.reserved", EINVAL),
        ("cma reserved=5", EINVAL),
        ("cma region.reserved=", EINVAL),
        ("cma region.reserved=-1", EINVAL),
        ("cma region.reserved=1.5M", EINVAL),
        ("cma region.reserved=1KB", EINVAL),
        ("cma region.reserved=0x10", EINVAL),
        ("cma region.reserved=MAX", EINVAL),
        ("cma region.reserved=18446744073709551616", ERANGE),
        ("cma region.reserved=16777216T", ERANGE),
        ("cma region.reserved=16E", ERANGE),
        ("cma region.reserved=99999999999999999999x", EINVAL),
        // Blank writes (a zero-byte write never reaches the file).
        ("\n", EINVAL),
        (" \t\n\n", EINVAL),
        ("cma region.nosuchregion=1", EINVAL),
        ("cma region.bad/name=1", EINVAL),
        ("cma region.reserved=5 region.reserved=6", EINVAL),
        ("region.reserved=5", EINVAL),
        ("nosuchdevice region.x=1", ENODEV),
        // A valid line does not get applied when another line is bad.
        ("system region.ram=7\ncma region.reserved=oops", EINVAL),
        ("system region.ram=7\nnosuchdevice region.x=1", ENODEV),
        ("cma region.reserved=9 garbage", EINVAL),
        ("\u{00ff}\u{00fe}", EINVAL),
    ];
    for file in ["dev.max", "dev.min", "dev.low"] {
        let before = child.read(file)?;
        for (input, errno) in cases {
            match cg::write(child.file(file), input) {
                Ok(()) => return Err(format!("{file}: {input:?} was accepted")),
                Err(e) => ensure(e == *errno, || {
                    format!("{file}: {input:?} gave errno {e}, want {errno}")
                })?,
            }
            let after = child.read(file)?;
            ensure(after == before, || {
                format!("{file}: {input:?} changed {before:?} to {after:?}")
            })?;
        }
    }
    Ok(())
}

fn peak_reset() -> TestResult {
    enable_dev(ROOT)?;
    let child = Cgroup::new(ROOT, "e2e-peak")?;
    set(child.file("dev.peak"), "reset\n")?;
    let peak = child.read("dev.peak")?;
    ensure(
        value(&peak, "cma", "region.reserved").as_deref() == Some("0"),
        || peak.clone(),
    )?;
    // Any write resets, as for memory.peak.
    for any in ["resett", "cma region.reserved=0", "0", "\n"] {
        let e = cg::write(child.file("dev.peak"), any);
        ensure(e.is_ok(), || format!("dev.peak: {any:?} gave {e:?}"))?;
    }
    Ok(())
}

fn nested_cgroups_configure_independently() -> TestResult {
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "e2e-nest")?;
    enable_dev(&parent.path)?;
    let child = Cgroup::new(&parent.path, "child")?;
    set(parent.file("dev.max"), "cma region.reserved=16M")?;
    set(child.file("dev.max"), "cma region.reserved=32M")?;
    set(child.file("dev.low"), "cma region.reserved=1M")?;
    let pmax = parent.read("dev.max")?;
    let cmax = child.read("dev.max")?;
    ensure(
        value(&pmax, "cma", "region.reserved").as_deref() == Some("16777216"),
        || pmax.clone(),
    )?;
    ensure(
        value(&cmax, "cma", "region.reserved").as_deref() == Some("33554432"),
        || cmax.clone(),
    )?;
    let plow = parent.read("dev.low")?;
    ensure(
        value(&plow, "cma", "region.reserved").as_deref() == Some("0"),
        || plow.clone(),
    )
}

/// Configuring and removing a cgroup changes no usage anywhere. (The root's
/// usage is not zero: the kernel's own fbdev framebuffer holds bochs VRAM.)
fn removed_cgroup_leaves_no_usage() -> TestResult {
    enable_dev(ROOT)?;
    let before = read(format!("{ROOT}/dev.current"))?;
    {
        let child = Cgroup::new(ROOT, "e2e-rm")?;
        set(child.file("dev.max"), "cma region.reserved=1M")?;
    }
    let after = read(format!("{ROOT}/dev.current"))?;
    ensure(after == before, || {
        format!("root dev.current changed: {before:?} -> {after:?}")
    })?;
    let cma = value(&after, "cma", "region.reserved");
    ensure(cma.as_deref() == Some("0"), || {
        format!("root dev.current: {after:?}")
    })
}
