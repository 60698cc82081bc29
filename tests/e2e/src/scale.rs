// SPDX-License-Identifier: GPL-2.0

//! `devcg-e2e cgroup-scale <count>`: what a cgroup-heavy node pays for the
//! controller, for `make bench` (tests/bench/guest-bench.sh). Under fresh
//! parents in the root, `count` cgroups are made and removed with no
//! controller, with `+dev` and with `+memory` enabled for them; the kernel
//! memory they take is read from /proc/meminfo (unreclaimable slab and
//! per-CPU), then with
//! `+dev` one pool per cgroup is made (a `dev.max` write each), and the
//! interface files are read at the parent and at a leaf. Prints
//! `<key> <value>` lines; times are per cgroup or per read.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cg::{self, ROOT};

/// Kernel memory as /proc/meminfo counts it: (unreclaimable slab, per-CPU)
/// in bytes. Reclaimable slab (dentries and inodes of the files a test
/// happens to open) is left out: it is a cache, and varies with lookups.
fn kernel_memory() -> Result<(u64, u64), String> {
    let info = cg::read("/proc/meminfo")?;
    let field = |name: &str| -> Result<u64, String> {
        let line = info
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| format!("no {name} in /proc/meminfo"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("bad line {line:?}"))?;
        Ok(kib * 1024)
    };
    Ok((field("SUnreclaim:")?, field("Percpu:")?))
}

/// Lets freed cgroups go (RCU, workqueues) so that memory readings settle.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = fs::write("/proc/sys/vm/drop_caches", "2");
}

/// Nanoseconds per call of `f` over `reads` calls.
fn per_call(reads: u32, mut f: impl FnMut() -> Result<(), String>) -> Result<u128, String> {
    let start = Instant::now();
    for _ in 0..reads {
        f()?;
    }
    Ok(start.elapsed().as_nanos() / u128::from(reads.max(1)))
}

/// One mode: `count` children of a fresh parent whose subtree_control is
/// `control`. Prints the results under `label`.
fn one_mode(label: &str, control: &str, count: usize, pools: bool) -> Result<(), String> {
    let parent = PathBuf::from(ROOT).join(format!("scale_{label}"));
    let _ = fs::remove_dir(&parent);
    fs::create_dir(&parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
    if !control.is_empty() {
        cg::set(parent.join("cgroup.subtree_control"), control)?;
    }
    let children: Vec<PathBuf> = (0..count).map(|i| parent.join(format!("c{i}"))).collect();
    settle();
    let (slab0, percpu0) = kernel_memory()?;
    let start = Instant::now();
    for child in &children {
        fs::create_dir(child).map_err(|e| format!("mkdir {}: {e}", child.display()))?;
    }
    let mkdir = start.elapsed().as_nanos() / count as u128;
    settle();
    let (slab1, percpu1) = kernel_memory()?;
    // What `count` of something grew kernel memory by, each.
    let each = |before: u64, after: u64| after.saturating_sub(before) / count as u64;
    println!("{label}_mkdir_ns {mkdir}");
    println!("{label}_slab_bytes_per_cgroup {}", each(slab0, slab1));
    println!("{label}_percpu_bytes_per_cgroup {}", each(percpu0, percpu1));
    if pools {
        // One pool per cgroup (and its table), made by a write.
        let start = Instant::now();
        for child in &children {
            cg::set(child.join("dev.max"), "system region.ram=1G")?;
        }
        let write = start.elapsed().as_nanos() / count as u128;
        settle();
        let (slab2, _) = kernel_memory()?;
        println!("{label}_first_dev_max_write_ns {write}");
        println!("{label}_slab_bytes_per_pool {}", each(slab1, slab2));
        let leaf = &children[count / 2];
        for file in ["dev.current", "dev.stat"] {
            let at_parent = per_call(20, || cg::read(parent.join(file)).map(drop))?;
            let at_leaf = per_call(200, || cg::read(leaf.join(file)).map(drop))?;
            let key = file.replace('.', "_");
            println!("{label}_{key}_read_ns_parent {at_parent}");
            println!("{label}_{key}_read_ns_leaf {at_leaf}");
        }
    }
    let start = Instant::now();
    for child in &children {
        fs::remove_dir(child).map_err(|e| format!("rmdir {}: {e}", child.display()))?;
    }
    println!(
        "{label}_rmdir_ns {}",
        start.elapsed().as_nanos() / count as u128
    );
    fs::remove_dir(&parent).map_err(|e| format!("rmdir {}: {e}", parent.display()))
}

/// Makes `count` children with `+dev` under `scale_hold` and leaves them, for
/// the fast path and registration to be timed while they exist; `remove`
/// takes them away again.
fn hold(count: usize, remove: bool) -> Result<(), String> {
    let parent = Path::new(ROOT).join("scale_hold");
    if remove {
        for i in 0..count {
            let _ = fs::remove_dir(parent.join(format!("c{i}")));
        }
        return fs::remove_dir(&parent).map_err(|e| format!("rmdir {}: {e}", parent.display()));
    }
    fs::create_dir(&parent).map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
    cg::set(parent.join("cgroup.subtree_control"), "+dev")?;
    for i in 0..count {
        let child = parent.join(format!("c{i}"));
        fs::create_dir(&child).map_err(|e| format!("mkdir {}: {e}", child.display()))?;
    }
    Ok(())
}

pub fn cli(args: &[String]) -> i32 {
    let usage = "usage: devcg-e2e cgroup-scale <count> | cgroup-scale hold|unhold <count>";
    let (mode, count) = match args {
        [count] => ("measure", count),
        [mode, count] => (mode.as_str(), count),
        _ => {
            eprintln!("{usage}");
            return 2;
        }
    };
    let Ok(count) = count.parse::<usize>() else {
        eprintln!("{usage}");
        return 2;
    };
    let result = match mode {
        "measure" if count > 0 => (|| {
            let available = cg::read(Path::new(ROOT).join("cgroup.controllers"))?;
            let enabled = cg::read(Path::new(ROOT).join("cgroup.subtree_control"))?;
            one_mode("none", "", count, false)?;
            if available.split_whitespace().any(|c| c == "dev") {
                if !enabled.split_whitespace().any(|c| c == "dev") {
                    cg::set(Path::new(ROOT).join("cgroup.subtree_control"), "+dev")?;
                }
                one_mode("dev", "+dev", count, true)?;
            }
            cg::set(Path::new(ROOT).join("cgroup.subtree_control"), "+memory")?;
            one_mode("memory", "+memory", count, false)
        })(),
        "hold" => hold(count, false),
        "unhold" => hold(count, true),
        _ => Err(usage.to_string()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cgroup-scale: {e}");
            1
        }
    }
}
