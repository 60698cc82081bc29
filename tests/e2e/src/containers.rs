// SPDX-License-Identifier: GPL-2.0

//! OCI runtimes from Debian, unchanged, setting `dev.max` on a container
//! through the runtime spec's `linux.resources.unified`, which is how
//! Kubernetes (CRI-O's unified-cgroup annotation, NRI) and Podman pass any
//! cgroup v2 file: `crun` and `runc` run a bundle whose program allocates CMA
//! heap buffers, `update` changes the limit of the running container, and
//! the container's cgroup goes with it.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cg::{self, enable_dev, ensure, Cgroup, ROOT};
use crate::heaps::CMA;
use crate::{Test, TestResult};

const M: u64 = 1024 * 1024;

/// How long a runtime may take to start, answer or stop a container under
/// TCG.
const PATIENCE: Duration = Duration::from_secs(120);

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "crun_sets_dev_max_through_unified",
            run: || unified_dev_max(&CRUN),
        },
        Test {
            name: "runc_sets_dev_max_through_unified",
            run: || unified_dev_max(&RUNC),
        },
    ]
}

/// An OCI runtime in the guest (installed by scripts/initramfs.sh).
struct Runtime {
    name: &'static str,
    binary: &'static str,
}

const CRUN: Runtime = Runtime {
    name: "crun",
    binary: "/usr/bin/crun",
};

const RUNC: Runtime = Runtime {
    name: "runc",
    binary: "/usr/sbin/runc",
};

impl Runtime {
    /// The runtime with its state kept in the guest's /tmp.
    fn command(&self) -> Command {
        let mut command = Command::new(self.binary);
        command.args(["--root", &format!("/tmp/oci-state-{}", self.name)]);
        command
    }

    /// Runs a runtime subcommand to completion; its output on failure.
    fn run(&self, args: &[&str]) -> TestResult {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|e| format!("{} {}: {e}", self.name, args.join(" ")))?;
        ensure(out.status.success(), || {
            format!(
                "{} {}: {}\n{}{}",
                self.name,
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// A container started with `<runtime> run` in the foreground, its program
/// driven through stdin and stdout; killed and deleted if the test stops
/// early.
struct Running<'a> {
    runtime: &'a Runtime,
    id: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl<'a> Running<'a> {
    fn start(runtime: &'a Runtime, bundle: &Path, id: &str) -> Result<Self, String> {
        let mut child = runtime
            .command()
            .args(["run", "--no-pivot", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{} run: {e}", runtime.name))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Running {
            runtime,
            id: id.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
        })
    }

    /// Asks the program to allocate `count` buffers: `(allocated, refused,
    /// errno of the first refusal)`.
    fn allocate(&mut self, count: u32) -> Result<(u32, u32, i32), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{count}").map_err(|e| format!("write to the container: {e}"))?;
        let line = self.lines.recv_timeout(PATIENCE).map_err(|_| {
            format!(
                "{}: no answer from the container in {PATIENCE:?}",
                self.runtime.name
            )
        })?;
        let numbers: Vec<i64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match numbers[..] {
            [allocated, refused, errno] => Ok((allocated as u32, refused as u32, errno as i32)),
            _ => Err(format!("unexpected answer from the container: {line:?}")),
        }
    }

    /// Closes the program's stdin and waits for the runtime to exit.
    fn stop(mut self) -> TestResult {
        drop(self.stdin.take());
        let started = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return ensure(status.success(), || {
                        format!("{} run exited with {status}", self.runtime.name)
                    })
                }
                Ok(None) if started.elapsed() < PATIENCE => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => return Err(format!("{} run did not exit", self.runtime.name)),
                Err(e) => return Err(format!("wait for {} run: {e}", self.runtime.name)),
            }
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.runtime.run(&["kill", &self.id, "KILL"]);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = self.runtime.run(&["delete", "--force", &self.id]);
    }
}

/// Major and minor of a device node.
fn device_numbers(path: &str) -> Result<(u64, u64), String> {
    let rdev = fs::metadata(path)
        .map_err(|e| format!("stat {path}: {e}"))?
        .rdev();
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    Ok((major, minor))
}

/// A bundle whose program holds CMA heap buffers of 1 MiB, with `dev.max`
/// set to `max` through `linux.resources.unified`, in cgroup `cgroup`.
fn write_bundle(dir: &Path, cgroup: &str, max: &str) -> TestResult {
    let rootfs = dir.join("rootfs");
    for sub in ["proc", "dev"] {
        fs::create_dir_all(rootfs.join(sub))
            .map_err(|e| format!("mkdir in {}: {e}", rootfs.display()))?;
    }
    fs::copy("/usr/bin/devcg-e2e", rootfs.join("devcg-e2e"))
        .map_err(|e| format!("copy devcg-e2e into the bundle: {e}"))?;
    let heap = "/dev/dma_heap/reserved";
    let (major, minor) = device_numbers(heap)?;
    let config = format!(
        r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": false,
    "user": {{ "uid": 0, "gid": 0 }},
    "args": ["/devcg-e2e", "heap-hold", "reserved", "{size}"],
    "env": ["PATH=/"],
    "cwd": "/",
    "noNewPrivileges": true
  }},
  "root": {{ "path": "rootfs", "readonly": true }},
  "hostname": "devcg",
  "mounts": [
    {{ "destination": "/proc", "type": "proc", "source": "proc" }},
    {{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=1024k"] }}
  ],
  "linux": {{
    "cgroupsPath": "{cgroup}",
    "namespaces": [
      {{ "type": "pid" }}, {{ "type": "mount" }}, {{ "type": "ipc" }},
      {{ "type": "uts" }}, {{ "type": "cgroup" }}
    ],
    "devices": [
      {{ "path": "{heap}", "type": "c", "major": {major}, "minor": {minor},
        "fileMode": 438, "uid": 0, "gid": 0 }}
    ],
    "resources": {{
      "devices": [
        {{ "allow": false, "access": "rwm" }},
        {{ "allow": true, "type": "c", "major": {major}, "minor": {minor}, "access": "rw" }}
      ],
      "unified": {{ "dev.max": "{max}" }}
    }}
  }}
}}
"#,
        size = M,
    );
    fs::write(dir.join("config.json"), config).map_err(|e| format!("write config.json: {e}"))
}

/// The container's `dev.max` and `dev.current` for the CMA region.
fn limit_and_usage(dir: &Path) -> Result<(String, u64), String> {
    let max = cg::read(dir.join("dev.max"))?;
    let limit = cg::value(&max, CMA.device, CMA.region).ok_or_else(|| {
        format!(
            "no {} {} in {}/dev.max: {max:?}",
            CMA.device,
            CMA.region,
            dir.display()
        )
    })?;
    Ok((limit, CMA.current(dir)?))
}

/// A container whose spec sets `dev.max` to 8M gets 8 MiB of CMA and then
/// ENOMEM, with the limit and usage visible in its cgroup; `update` with a
/// new unified value raises the limit of the running container to 12M; when
/// it exits its cgroup is gone and every `dev.current` is back.
fn unified_dev_max(runtime: &Runtime) -> TestResult {
    ensure(Path::new(runtime.binary).exists(), || {
        format!(
            "{} is not in the guest (scripts/initramfs.sh installs it)",
            runtime.binary
        )
    })?;
    enable_dev(ROOT)?;
    let parent = Cgroup::new(ROOT, "oci")?;
    // Where the containers go, with the dev controller enabled for them, as
    // a node's setup does for its container slice: runc would enable it
    // itself (it enables every available controller in a container's
    // parents), crun only enables the controllers it knows and otherwise
    // refuses the unified key ("controller `dev` is not available").
    enable_dev(&parent.path)?;
    let root_before = CMA.current(Path::new(ROOT))?;
    let id = format!("devcg-{}", runtime.name);
    let cgroup_path = format!("/oci/{id}");
    let container_dir: PathBuf = Path::new(ROOT).join(cgroup_path.trim_start_matches('/'));
    let bundle = PathBuf::from(format!("/tmp/oci-bundle-{}", runtime.name));
    let _ = fs::remove_dir_all(&bundle);
    write_bundle(&bundle, &cgroup_path, "cma region.reserved=8M")?;

    let mut running = Running::start(runtime, &bundle, &id)?;
    let (allocated, refused, errno) = running.allocate(10)?;
    ensure((allocated, refused, errno) == (8, 2, libc::ENOMEM), || {
        format!("under dev.max 8M: {allocated} allocated, {refused} refused (errno {errno}), expected 8, 2, ENOMEM")
    })?;
    let (limit, usage) = limit_and_usage(&container_dir)?;
    ensure(limit == (8 * M).to_string() && usage == 8 * M, || {
        format!(
            "{}: dev.max {limit}, dev.current {usage} while running",
            container_dir.display()
        )
    })?;
    println!(
        "# {}: container cgroup {} limited to {limit} bytes, holds {usage}, the 9th MiB refused with ENOMEM",
        runtime.name,
        container_dir.display()
    );

    let resources = bundle.join("resources.json");
    fs::write(
        &resources,
        r#"{ "unified": { "dev.max": "cma region.reserved=12M" } }"#,
    )
    .map_err(|e| format!("write resources.json: {e}"))?;
    runtime.run(&[
        "update",
        "--resources",
        &resources.display().to_string(),
        &id,
    ])?;
    let (allocated, refused, _) = running.allocate(10)?;
    ensure((allocated, refused) == (4, 6), || {
        format!("after update to 12M: {allocated} allocated, {refused} refused, expected 4 and 6")
    })?;
    let (limit, usage) = limit_and_usage(&container_dir)?;
    ensure(limit == (12 * M).to_string() && usage == 12 * M, || {
        format!("after update: dev.max {limit}, dev.current {usage}")
    })?;
    println!(
        "# {} update: dev.max {limit}, the container then held {usage}",
        runtime.name
    );

    running.stop()?;
    ensure(!container_dir.exists(), || {
        format!(
            "{} still exists after the container exited",
            container_dir.display()
        )
    })?;
    CMA.expect(&parent.path, "dev.current", "", 0)?;
    let root_after = CMA.current(Path::new(ROOT))?;
    ensure(root_after == root_before, || {
        format!("root dev.current {root_after} after the container, {root_before} before")
    })
}
