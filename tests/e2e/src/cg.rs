// SPDX-License-Identifier: GPL-2.0

//! Helpers for cgroup files: reads, single-syscall writes with their errno,
//! and cgroups that remove themselves.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const ROOT: &str = "/sys/fs/cgroup";

/// The errno of the last failed libc call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// Reads a file to a string, or fails the test.
pub fn read(path: impl AsRef<Path>) -> Result<String, String> {
    fs::read_to_string(path.as_ref()).map_err(|e| format!("read {}: {e}", path.as_ref().display()))
}

/// Writes `data` in one write(2), as a shell `echo >` would. Returns the errno on failure.
pub fn write(path: impl AsRef<Path>, data: &str) -> Result<(), i32> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path.as_ref())
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    match f.write(data.as_bytes()) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(_) => Err(-1),
        Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
    }
}

/// Like [`write`], failing the test on error.
pub fn set(path: impl AsRef<Path>, data: &str) -> Result<(), String> {
    write(path.as_ref(), data)
        .map_err(|e| format!("write {:?} to {}: errno {e}", data, path.as_ref().display()))
}

/// Enables the dev controller for the children of `dir`.
pub fn enable_dev(dir: impl AsRef<Path>) -> Result<(), String> {
    set(dir.as_ref().join("cgroup.subtree_control"), "+dev")
}

/// A cgroup created for a test and removed (children first) when dropped.
pub struct Cgroup {
    pub path: PathBuf,
}

impl Cgroup {
    pub fn new(parent: impl AsRef<Path>, name: &str) -> Result<Self, String> {
        let path = parent.as_ref().join(name);
        if path.exists() {
            remove_tree(&path);
        }
        fs::create_dir(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        Ok(Cgroup { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn read(&self, name: &str) -> Result<String, String> {
        read(self.file(name))
    }
}

fn remove_tree(path: &Path) {
    if let Ok(entries) = fs::read_dir(path) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(path);
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        remove_tree(&self.path);
    }
}

/// Value of `region.<region>=` on the line of `device` in nested-keyed `text`.
pub fn value(text: &str, device: &str, key: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(device))?;
    line.split_whitespace()
        .skip(1)
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
}

/// Fails with a message unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
