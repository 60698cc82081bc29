// SPDX-License-Identifier: GPL-2.0

//! Robustness in the guest, bounded so that it fits `make test`: random and
//! mutated writes into the settings of live cgroups while buffers come and
//! go; several processes allocating against shared limits while cgroups are
//! created, tasks migrated and cgroups removed; delegation to an
//! unprivileged user; and unbinding a driver with live charges.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use devcg_logic::logic::parse::{parse_write, Value};

use crate::cg::{self, enable_dev, ensure, Cgroup, ROOT};
use crate::heaps::{Inside, CMA, SYSTEM};
use crate::{Test, TestResult, SKIP};

/// xorshift64*: deterministic, so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "interface_fuzz_20000_writes_under_load",
            run: interface_fuzz,
        },
        Test {
            name: "stress_processes_migrations_and_rmdir",
            run: stress,
        },
        Test {
            name: "delegated_subtree_limits_children_not_itself",
            run: delegation,
        },
        // Near the end: it takes vivid instance 0 away.
        Test {
            name: "unbinding_vivid_with_live_charges",
            run: unbind_vivid_with_live_charges,
        },
        // Last: everything above has had its chance to leak.
        Test {
            name: "kmemleak_finds_nothing_of_ours",
            run: kmemleak_finds_nothing_of_ours,
        },
    ]
}

/// On a kernel with kmemleak (make test-debug), no unreferenced object
/// allocated by the controller or its adapters; skipped on other kernels.
fn kmemleak_finds_nothing_of_ours() -> TestResult {
    let file = Path::new("/sys/kernel/debug/kmemleak");
    if !file.exists() {
        // SAFETY: plain mount(2) with NUL-terminated literals.
        unsafe {
            libc::mount(
                c"debugfs".as_ptr(),
                c"/sys/kernel/debug".as_ptr(),
                c"debugfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
    }
    if !file.exists() {
        return Err(format!(
            "{SKIP}this kernel has no kmemleak (make test-debug has)"
        ));
    }
    // Objects are reported once unreferenced for 5 s; scan twice to settle.
    for _ in 0..2 {
        cg::set(file, "scan")?;
        std::thread::sleep(Duration::from_secs(6));
    }
    let report = cg::read(file)?;
    let ours: Vec<&str> = report
        .split("unreferenced object")
        .filter(|entry| {
            ["dev_cgroup", "devcg", "cgroup_dev", "kernel/cgroup/dev"]
                .iter()
                .any(|s| entry.contains(s))
        })
        .collect();
    let total = report.matches("unreferenced object").count();
    println!(
        "# kmemleak: {total} unreferenced objects in all, {} of the controller's",
        ours.len()
    );
    ensure(ours.is_empty(), || {
        format!("kmemleak reports:\n{}", ours.join("unreferenced object"))
    })
}

const SETTINGS: [&str; 3] = ["dev.max", "dev.min", "dev.low"];

/// A line the generator builds: mostly well-formed, then mutated.
fn random_write(rng: &mut Rng) -> String {
    let devices = ["cma", "system", "nosuchdev", "cma ", "system\t"];
    let regions = ["reserved", "ram", "vram", "bad/name", "", "reserved.x"];
    let values = [
        "0",
        "1",
        "4096",
        "1k",
        "64K",
        "3m",
        "16M",
        "1g",
        "2G",
        "1t",
        "max",
        "MAX",
        "-1",
        "12x",
        "18446744073709551615",
        "18446744073709551616",
        "17179869184G",
        "",
        " 5",
    ];
    let mut text = String::new();
    for _ in 0..=rng.below(3) {
        if rng.below(8) == 0 {
            text.push('\n');
            continue;
        }
        let device = *rng.pick(&devices[..]);
        text.push_str(device);
        for _ in 0..=rng.below(2) {
            // Half the time the device's own region, so that enough writes
            // are well-formed to be accepted.
            let own = match device.trim() {
                "cma" => "reserved",
                "system" => "ram",
                _ => "reserved",
            };
            let region = if rng.below(2) == 0 {
                own
            } else {
                *rng.pick(&regions)
            };
            text.push_str(&format!(" region.{region}={}", rng.pick(&values)));
        }
        text.push('\n');
    }
    // Mutations: a flipped byte, a cut, a doubled token.
    let mut bytes = text.into_bytes();
    match rng.below(6) {
        0 if !bytes.is_empty() => {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] = b" =.\nxK9\t"[rng.below(8) as usize];
        }
        1 if !bytes.is_empty() => {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(at);
        }
        _ => {}
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Every write either fails and changes nothing, or succeeds and every region
/// it names reads back as written; dev.peak takes anything.
fn interface_fuzz() -> TestResult {
    const WRITES: u32 = 20_000;
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "fuzz")?;
    enable_dev(&parent.path)?;
    let a = Cgroup::new(&parent.path, "a")?;
    let b = Cgroup::new(&parent.path, "b")?;
    let dirs = [parent.path.clone(), a.path.clone(), b.path.clone()];
    // Load: buffers allocated and freed in a by a child process.
    let load = spawn_loop(&a.path, 7)?;
    let mut rng = Rng(0x5EED_0F_DE_7C_0001);
    let (mut accepted, mut rejected) = (0u32, 0u32);
    let result = (|| -> TestResult {
        for i in 0..WRITES {
            let dir = rng.pick(&dirs);
            if rng.below(16) == 0 {
                let text = if rng.below(2) == 0 {
                    "reset\n".to_string()
                } else {
                    random_write(&mut rng)
                };
                // Any write resets, as for memory.peak.
                let result = cg::write(dir.join("dev.peak"), &text);
                ensure(result.is_ok(), || {
                    format!("write {i}: dev.peak refused {text:?}: {result:?}")
                })?;
                continue;
            }
            let file = dir.join(rng.pick(&SETTINGS));
            let before = cg::read(&file)?;
            let text = random_write(&mut rng);
            match cg::write(&file, &text) {
                Err(_) => {
                    rejected += 1;
                    let after = cg::read(&file)?;
                    ensure(after == before, || {
                        format!("write {i} of {text:?} to {} failed but changed it:\n{before}->\n{after}", file.display())
                    })?;
                }
                // A write of zero bytes never reaches the file (cgroup_file_write returns 0).
                Ok(()) if text.is_empty() => {}
                Ok(()) => {
                    accepted += 1;
                    let after = cg::read(&file)?;
                    let lines = parse_write(&text).map_err(|e| {
                        format!("write {i}: the kernel took {text:?}, the parser says {e:?}")
                    })?;
                    for line in lines {
                        for (region, value) in line.assignments() {
                            let got = cg::value(&after, line.device, &format!("region.{region}"));
                            let want = Value(value).to_string();
                            ensure(got.as_deref() == Some(want.as_str()), || {
                                format!("write {i} of {text:?} to {}: {} region.{region} reads {got:?}, not {want}", file.display(), line.device)
                            })?;
                        }
                    }
                }
            }
        }
        Ok(())
    })();
    stop(load);
    result?;
    println!("# interface fuzz: {WRITES} writes, {accepted} accepted, {rejected} rejected");
    ensure(accepted > 500 && rejected > 500, || {
        format!("fuzz mix too narrow: {accepted} accepted, {rejected} rejected")
    })?;
    for dir in &dirs {
        for heap in [&CMA, &SYSTEM] {
            heap.expect(dir, "dev.current", "", 0)?;
        }
    }
    Ok(())
}

/// A child process that joins `dir` and allocates and frees heap buffers
/// until killed. Returns its pid.
fn spawn_loop(dir: &Path, seed: u64) -> Result<libc::pid_t, String> {
    // SAFETY: this program is single-threaded, so the child may run anything.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        let _ = cg::write(dir.join("cgroup.procs"), "0");
        let mut rng = Rng(seed | 1);
        let mut held: Vec<OwnedFd> = Vec::new();
        loop {
            let heap = if rng.below(2) == 0 { &CMA } else { &SYSTEM };
            if held.len() < 8 && rng.below(3) != 0 {
                if let Ok(fd) = heap.alloc((1 + rng.below(64)) * 4096) {
                    held.push(fd);
                }
            } else if !held.is_empty() {
                let at = rng.below(held.len() as u64) as usize;
                held.swap_remove(at);
            }
        }
    }
    Ok(pid)
}

/// A child process that joins `dir` and has vivid instance 1 (vmalloc)
/// allocate and free capture buffers until killed.
fn spawn_vivid_loop(dir: &Path) -> Result<libc::pid_t, String> {
    // SAFETY: this program is single-threaded, so the child may run anything.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        let _ = cg::write(dir.join("cgroup.procs"), "0");
        loop {
            // Opening, requesting 3 buffers and closing frees them again.
            drop(crate::v4l2::open_and_request(1, 3));
        }
    }
    Ok(pid)
}

fn stop(pid: libc::pid_t) {
    // SAFETY: `pid` is our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// 4 processes allocating heap buffers and one allocating vivid buffers,
/// under a parent limited to 8M (children to 3M and 5M) on 2 vCPUs for 3 s,
/// while the main process migrates them between the leaves and creates and
/// removes empty cgroups. Sampled usage never
/// passes any max, and all is 0 once the processes are gone.
fn stress() -> TestResult {
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "stress")?;
    enable_dev(&parent.path)?;
    let leaves = [
        Cgroup::new(&parent.path, "l0")?,
        Cgroup::new(&parent.path, "l1")?,
    ];
    let limits = [("8M", 8u64 << 20), ("3M", 3 << 20), ("5M", 5 << 20)];
    let dirs: Vec<PathBuf> = [
        parent.path.clone(),
        leaves[0].path.clone(),
        leaves[1].path.clone(),
    ]
    .into();
    for (dir, (text, _)) in dirs.iter().zip(limits) {
        for heap in [&CMA, &SYSTEM] {
            heap.set_max(dir, text)?;
        }
    }
    let mut pids: Vec<_> = (0..4)
        .map(|i| spawn_loop(&leaves[i % 2].path, 100 + i as u64))
        .collect::<Result<_, _>>()?;
    pids.push(spawn_vivid_loop(&leaves[1].path)?);
    let mut rng = Rng(42);
    let (mut samples, mut migrations, mut churn) = (0u32, 0u32, 0u32);
    let mut saw_v4l2 = false;
    let deadline = Instant::now() + Duration::from_secs(3);
    let result = (|| -> TestResult {
        while Instant::now() < deadline {
            for (dir, (_, max)) in dirs.iter().zip(limits) {
                for heap in [&CMA, &SYSTEM] {
                    let used = heap.current(dir)?;
                    ensure(used <= max, || {
                        format!(
                            "{}: {} usage {used} over max {max}",
                            dir.display(),
                            heap.name
                        )
                    })?;
                    samples += 1;
                }
            }
            saw_v4l2 |= SYSTEM.value_in(&parent.path, "dev.stat", ".v4l2")? > 0;
            let pid = rng.pick(&pids);
            let leaf = rng.pick(&leaves);
            if cg::write(leaf.file("cgroup.procs"), &pid.to_string()).is_ok() {
                migrations += 1;
            }
            let tmp = Cgroup::new(&leaves[0].path, "tmp")?;
            drop(tmp);
            churn += 1;
        }
        Ok(())
    })();
    for pid in pids {
        stop(pid);
    }
    result?;
    println!(
        "# stress: {samples} samples, {migrations} migrations, {churn} cgroups made and removed"
    );
    ensure(migrations > 10 && churn > 10, || {
        "stress did too little".into()
    })?;
    ensure(saw_v4l2, || {
        "vivid's buffers were never seen charged during the stress".into()
    })?;
    for dir in &dirs {
        for heap in [&CMA, &SYSTEM] {
            heap.expect(dir, "dev.current", "", 0)?;
        }
    }
    Ok(())
}

/// As systemd's Delegate=: the subtree, its cgroup.procs, cgroup.threads and
/// cgroup.subtree_control belong to uid 1000, its dev.* files do not. The
/// user limits its own children but not itself.
fn delegation() -> TestResult {
    const UID: u32 = 1000;
    enable_dev(ROOT)?;
    let delegated = Cgroup::new(ROOT, "delegated")?;
    for path in [
        delegated.path.clone(),
        delegated.file("cgroup.procs"),
        delegated.file("cgroup.threads"),
        delegated.file("cgroup.subtree_control"),
    ] {
        std::os::unix::fs::chown(&path, Some(UID), Some(UID))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    enable_dev(&delegated.path)?;
    let child_path = delegated.path.join("job");
    // SAFETY: single-threaded; the child only makes syscalls and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        // Exit status bit 0: setuid failed; 1: could not make the child; 2:
        // could not limit the child; 3: could change its own dev.max.
        let mut status = 0;
        // SAFETY: plain syscalls.
        if unsafe { libc::setgid(UID) } != 0 || unsafe { libc::setuid(UID) } != 0 {
            status |= 1;
        }
        if fs::create_dir(&child_path).is_err() {
            status |= 2;
        }
        if cg::write(child_path.join("dev.max"), "cma region.reserved=1M").is_err() {
            status |= 4;
        }
        if cg::write(delegated.file("dev.max"), "cma region.reserved=1M").is_ok() {
            status |= 8;
        }
        // SAFETY: leaves without running the parent's destructors.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        255
    };
    ensure(code & 1 == 0, || "could not become uid 1000".into())?;
    ensure(code & 2 == 0, || {
        "the delegated user could not create a child cgroup".into()
    })?;
    ensure(code & 4 == 0, || {
        "the delegated user could not set its child's dev.max".into()
    })?;
    ensure(code & 8 == 0, || {
        "the delegated user changed its own dev.max".into()
    })?;
    let child_max = cg::read(child_path.join("dev.max"))?;
    ensure(
        cg::value(&child_max, "cma", "region.reserved").as_deref() == Some("1048576"),
        || format!("child dev.max: {child_max:?}"),
    )?;
    let own = cg::read(delegated.file("dev.max"))?;
    ensure(
        cg::value(&own, "cma", "region.reserved").as_deref() == Some("max"),
        || format!("own dev.max: {own:?}"),
    )
}

/// vivid instance 0 unbound from its driver while a queue of an open file
/// holds charged buffers: nothing crashes; the driver's removal frees the
/// buffers (vb2_video_unregister_device), which uncharges them, and closing
/// the file afterwards uncharges nothing twice (an underflow would WARN and
/// fail the run).
fn unbind_vivid_with_live_charges() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "unbind")?;
    let _inside = Inside::new(&cg.path)?;
    let capture = crate::v4l2::open_and_request(0, 2)?;
    let charged = CMA.current(&cg.path)?;
    ensure(charged > 0, || "vivid's buffers were not charged".into())?;
    cg::set("/sys/bus/platform/drivers/vivid/unbind", "vivid.0")?;
    ensure(
        !Path::new("/sys/bus/platform/drivers/vivid/vivid.0").exists(),
        || "vivid.0 still bound".into(),
    )?;
    CMA.expect(&cg.path, "dev.current", "", 0)?;
    drop(capture);
    println!("# vivid.0 unbound with {charged} charged bytes: uncharged as the driver freed them");
    CMA.expect(&cg.path, "dev.current", "", 0)?;
    CMA.expect(Path::new(ROOT), "dev.current", "", 0)
}
