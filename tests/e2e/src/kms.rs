// SPDX-License-Identifier: GPL-2.0

//! VRAM on bochs (QEMU `-vga std`, GEM VRAM helper on TTM) through raw KMS
//! ioctls: dumb buffers, ADDFB2 and SETCRTC. A buffer only occupies VRAM
//! once it is pinned for scanout, and then stays there until evicted, so
//! residency, limits and eviction are all driven by SETCRTC.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::cg::{self, enable_dev, ensure, Cgroup, ROOT};
use crate::heaps::Inside;
use crate::{Test, TestResult};

const GETRESOURCES: libc::c_ulong = 0xC040_64A0;
const GETCONNECTOR: libc::c_ulong = 0xC050_64A7;
const SETCRTC: libc::c_ulong = 0xC068_64A2;
const CREATE_DUMB: libc::c_ulong = 0xC020_64B2;
const DESTROY_DUMB: libc::c_ulong = 0xC004_64B4;
const ADDFB2: libc::c_ulong = 0xC068_64B8;
const RMFB: libc::c_ulong = 0xC004_64AF;
const XRGB8888: u32 = u32::from_le_bytes(*b"XR24");
const MODEINFO_SIZE: usize = 68;

/// The mode every test scans out: 640x480, 32 bpp, 1228800 bytes a buffer.
const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
pub(crate) const FB_BYTES: u64 = (WIDTH * HEIGHT * 4) as u64;

fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_ne_bytes(b)
}

fn get16(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([buf[at], buf[at + 1]])
}

/// The bochs card, opened (as the first opener, this process is DRM master).
pub(crate) struct Card {
    file: File,
    crtc: u32,
    connector: u32,
    mode: [u8; MODEINFO_SIZE],
}

/// A dumb buffer with a framebuffer on it.
pub(crate) struct Framebuffer {
    pub(crate) handle: u32,
    pub(crate) fb_id: u32,
}

/// The `drm/<unique>` device name of the bochs card, e.g. `drm/0000:00:02.0`.
pub fn bochs_device() -> Result<(String, String), String> {
    for entry in fs::read_dir("/sys/class/drm")
        .map_err(|e| format!("/sys/class/drm: {e}"))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("card") || name.contains('-') {
            continue;
        }
        let driver = fs::read_link(entry.path().join("device/driver")).unwrap_or_default();
        if driver.file_name().is_some_and(|d| d == "bochs-drm") {
            let pci = fs::read_link(entry.path().join("device")).map_err(|e| e.to_string())?;
            let unique = pci
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            return Ok((format!("/dev/dri/{name}"), format!("drm/{unique}")));
        }
    }
    Err("no bochs-drm card (QEMU -vga std?)".into())
}

impl Card {
    fn ioctl(&self, request: libc::c_ulong, arg: &mut [u8]) -> Result<(), i32> {
        // SAFETY: `arg` is a buffer of the ioctl's argument size (checked by the callers' layouts).
        if unsafe { libc::ioctl(self.file.as_raw_fd(), request, arg.as_mut_ptr()) } < 0 {
            Err(cg::errno())
        } else {
            Ok(())
        }
    }

    pub(crate) fn open() -> Result<Self, String> {
        let (path, _) = bochs_device()?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| format!("open {path}: {e}"))?;
        let mut card = Card {
            file,
            crtc: 0,
            connector: 0,
            mode: [0; MODEINFO_SIZE],
        };
        // Resources: the first CRTC and connector.
        let mut res = [0u8; 64];
        card.ioctl(GETRESOURCES, &mut res)
            .map_err(|e| format!("GETRESOURCES: errno {e}"))?;
        let (ncrtc, nconn) = (get32(&res, 36) as usize, get32(&res, 40) as usize);
        ensure(ncrtc > 0 && nconn > 0, || {
            "bochs has no CRTC or connector".into()
        })?;
        let mut crtcs = vec![0u32; ncrtc];
        let mut conns = vec![0u32; nconn];
        let mut res = [0u8; 64];
        put64(&mut res, 8, crtcs.as_mut_ptr() as u64);
        put64(&mut res, 16, conns.as_mut_ptr() as u64);
        put32(&mut res, 36, ncrtc as u32);
        put32(&mut res, 40, nconn as u32);
        card.ioctl(GETRESOURCES, &mut res)
            .map_err(|e| format!("GETRESOURCES: errno {e}"))?;
        card.crtc = crtcs[0];
        card.connector = conns[0];
        // Its modes: find 640x480.
        let mut conn = [0u8; 80];
        put32(&mut conn, 48, card.connector);
        card.ioctl(GETCONNECTOR, &mut conn)
            .map_err(|e| format!("GETCONNECTOR: errno {e}"))?;
        let nmodes = get32(&conn, 32) as usize;
        let mut modes = vec![0u8; nmodes * MODEINFO_SIZE];
        let mut conn = [0u8; 80];
        put32(&mut conn, 48, card.connector);
        put64(&mut conn, 8, modes.as_mut_ptr() as u64);
        put32(&mut conn, 32, nmodes as u32);
        card.ioctl(GETCONNECTOR, &mut conn)
            .map_err(|e| format!("GETCONNECTOR: errno {e}"))?;
        let mode = modes
            .chunks(MODEINFO_SIZE)
            .find(|m| get16(m, 4) as u32 == WIDTH && get16(m, 14) as u32 == HEIGHT)
            .ok_or_else(|| format!("no {WIDTH}x{HEIGHT} mode among {nmodes}"))?;
        card.mode.copy_from_slice(mode);
        Ok(card)
    }

    /// DRM_IOCTL_MODE_CREATE_DUMB + ADDFB2 for one 640x480 XRGB8888 buffer.
    fn framebuffer(&self) -> Result<Framebuffer, String> {
        let (handle, pitch) = self
            .create_dumb()
            .map_err(|e| format!("CREATE_DUMB: errno {e}"))?;
        let fb_id = self
            .add_framebuffer(handle, pitch)
            .map_err(|e| format!("ADDFB2: errno {e}"))?;
        Ok(Framebuffer { handle, fb_id })
    }

    /// DRM_IOCTL_MODE_CREATE_DUMB for one 640x480 32 bpp buffer: its handle
    /// and pitch, or the errno.
    pub(crate) fn create_dumb(&self) -> Result<(u32, u32), i32> {
        let mut dumb = [0u8; 32];
        put32(&mut dumb, 0, HEIGHT);
        put32(&mut dumb, 4, WIDTH);
        put32(&mut dumb, 8, 32);
        self.ioctl(CREATE_DUMB, &mut dumb)?;
        Ok((get32(&dumb, 16), get32(&dumb, 20)))
    }

    /// DRM_IOCTL_MODE_ADDFB2: an XRGB8888 framebuffer on the dumb buffer
    /// `handle`; its id, or the errno.
    pub(crate) fn add_framebuffer(&self, handle: u32, pitch: u32) -> Result<u32, i32> {
        let mut fb = [0u8; 104];
        put32(&mut fb, 4, WIDTH);
        put32(&mut fb, 8, HEIGHT);
        put32(&mut fb, 12, XRGB8888);
        put32(&mut fb, 20, handle);
        put32(&mut fb, 36, pitch);
        self.ioctl(ADDFB2, &mut fb)?;
        Ok(get32(&fb, 0))
    }

    /// DRM_IOCTL_MODE_SETCRTC: scans `fb` out (pinning it in VRAM).
    pub(crate) fn scanout(&self, fb: &Framebuffer) -> Result<(), i32> {
        let mut connectors = [self.connector];
        let mut crtc = [0u8; 104];
        put64(&mut crtc, 0, connectors.as_mut_ptr() as u64);
        put32(&mut crtc, 8, 1);
        put32(&mut crtc, 12, self.crtc);
        put32(&mut crtc, 16, fb.fb_id);
        put32(&mut crtc, 32, 1);
        crtc[36..36 + MODEINFO_SIZE].copy_from_slice(&self.mode);
        self.ioctl(SETCRTC, &mut crtc)
    }

    fn must_scanout(&self, fb: &Framebuffer, what: &str) -> TestResult {
        self.scanout(fb)
            .map_err(|e| format!("SETCRTC {what}: errno {e}"))
    }

    fn remove(&self, fb: Framebuffer) {
        let _ = self.remove_framebuffer(fb.fb_id);
        let _ = self.destroy_dumb(fb.handle);
    }

    /// DRM_IOCTL_MODE_RMFB (switching the CRTC off if it scans `fb_id` out).
    pub(crate) fn remove_framebuffer(&self, fb_id: u32) -> Result<(), i32> {
        let mut id = fb_id.to_ne_bytes();
        self.ioctl(RMFB, &mut id)
    }

    /// DRM_IOCTL_MODE_DESTROY_DUMB.
    pub(crate) fn destroy_dumb(&self, handle: u32) -> Result<(), i32> {
        let mut handle = handle.to_ne_bytes();
        self.ioctl(DESTROY_DUMB, &mut handle)
    }
}

/// `region.vram` of the bochs device in file `file` of cgroup `dir`.
pub(crate) fn vram(dir: &Path, file: &str, suffix: &str) -> Result<u64, String> {
    let (_, device) = bochs_device()?;
    let text = cg::read(dir.join(file))?;
    let key = format!("region.vram{suffix}");
    cg::value(&text, &device, &key)
        .ok_or_else(|| {
            format!(
                "{}: no {device} {key} in {text:?}",
                dir.join(file).display()
            )
        })?
        .parse()
        .map_err(|e| format!("{}: {e}", dir.join(file).display()))
}

fn expect_vram(dir: &Path, want: u64) -> TestResult {
    let got = vram(dir, "dev.current", "")?;
    ensure(got == want, || {
        format!("{}: region.vram is {got}, expected {want}", dir.display())
    })
}

fn set_vram_max(dir: &Path, value: &str) -> TestResult {
    let (_, device) = bochs_device()?;
    cg::set(
        dir.join("dev.max"),
        &format!("{device} region.vram={value}"),
    )
}

pub fn tests() -> Vec<Test> {
    vec![
        Test {
            name: "module_loaded_from_a_cgroup_charges_it_nothing",
            run: module_loaded_from_a_cgroup_charges_it_nothing,
        },
        Test {
            name: "bochs_vram_is_a_region",
            run: bochs_vram_is_a_region,
        },
        Test {
            name: "scanout_over_vram_limit_refused_cleanly",
            run: scanout_over_vram_limit_refused_cleanly,
        },
        Test {
            name: "lowered_vram_limit_evicts_own_buffers_only",
            run: lowered_vram_limit_evicts_own_buffers_only,
        },
        Test {
            name: "driver_bound_from_a_cgroup_charges_its_console_to_the_root",
            run: driver_bound_from_a_cgroup_charges_its_console_to_the_root,
        },
    ]
}

fn bochs_vram_is_a_region() -> TestResult {
    let (_, device) = bochs_device()?;
    let capacity = cg::read(format!("{ROOT}/dev.capacity"))?;
    let vram = cg::value(&capacity, &device, "region.vram");
    ensure(vram.as_deref() == Some("16777216"), || {
        format!("{device} region.vram should be QEMU's 16 MiB: {capacity:?}")
    })
}

/// A limit below two framebuffers: dumb buffers cost no VRAM until scanned
/// out; the first scanout fits, the second is refused with ENOMEM/ENOSPC and
/// usage never passes the limit; raising the limit lets it through; closing
/// the card gives everything back.
fn scanout_over_vram_limit_refused_cleanly() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "kms_limit")?;
    set_vram_max(&cg.path, "2M")?;
    {
        let _inside = Inside::new(&cg.path)?;
        let card = Card::open()?;
        let fb1 = card.framebuffer()?;
        let fb2 = card.framebuffer()?;
        expect_vram(&cg.path, 0)?;
        card.must_scanout(&fb1, "of the first framebuffer")?;
        expect_vram(&cg.path, FB_BYTES)?;
        match card.scanout(&fb2) {
            Err(e @ (libc::ENOMEM | libc::ENOSPC)) => {
                println!(
                    "# SETCRTC over the VRAM limit: errno {e} ({})",
                    std::io::Error::from_raw_os_error(e)
                );
            }
            other => {
                return Err(format!(
                    "second scanout over a 2M limit: expected ENOMEM or ENOSPC, got {other:?}"
                ))
            }
        }
        expect_vram(&cg.path, FB_BYTES)?;
        ensure(vram(&cg.path, "dev.events", ".max")? >= 1, || {
            "the refusal was not counted".into()
        })?;
        ensure(vram(&cg.path, "dev.peak", "")? <= 2 * 1024 * 1024, || {
            "dev.peak passed the limit".into()
        })?;
        set_vram_max(&cg.path, "max")?;
        card.must_scanout(&fb2, "after raising the limit")?;
        expect_vram(&cg.path, 2 * FB_BYTES)?;
        card.remove(fb1);
        card.remove(fb2);
    }
    expect_vram(&cg.path, 0)
}

/// Three framebuffers resident (one scanned out), the limit lowered below
/// usage: the next scanout evicts this cgroup's idle framebuffers until it
/// fits, and nobody else's (the root's fbdev buffer stays resident).
fn lowered_vram_limit_evicts_own_buffers_only() -> TestResult {
    enable_dev(ROOT)?;
    let cg = Cgroup::new(ROOT, "kms_evict")?;
    let _inside = Inside::new(&cg.path)?;
    let card = Card::open()?;
    let fbs = (0..4)
        .map(|_| card.framebuffer())
        .collect::<Result<Vec<_>, _>>()?;
    for (i, fb) in fbs.iter().take(3).enumerate() {
        card.must_scanout(fb, &format!("of framebuffer {i}"))?;
    }
    expect_vram(&cg.path, 3 * FB_BYTES)?;
    let others_before = vram(Path::new(ROOT), "dev.current", "")? - 3 * FB_BYTES;
    set_vram_max(&cg.path, "3M")?;
    card.must_scanout(&fbs[3], "under a limit lowered below usage")?;
    let now = vram(&cg.path, "dev.current", "")?;
    ensure(now == 2 * FB_BYTES, || {
        format!(
            "after evicting within the cgroup, region.vram is {now}, expected {}",
            2 * FB_BYTES
        )
    })?;
    let others_after = vram(Path::new(ROOT), "dev.current", "")? - now;
    ensure(others_after == others_before, || {
        format!("buffers outside the cgroup were evicted: {others_before} -> {others_after}")
    })?;
    for fb in fbs {
        card.remove(fb);
    }
    drop(card);
    expect_vram(&cg.path, 0)
}

/// Bytes of bochs's fbdev console framebuffer, from its fb device, once the
/// console is up: `None` while it is not.
fn bochs_console_bytes() -> Result<Option<u64>, String> {
    let Ok(dir) = fs::read_dir("/sys/class/graphics") else {
        return Ok(None);
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let name = fs::read_to_string(path.join("name")).unwrap_or_default();
        if !name.contains("bochs") {
            continue;
        }
        let size = cg::read(path.join("virtual_size"))?;
        let bpp = cg::read(path.join("bits_per_pixel"))?;
        let mut dims = size
            .trim()
            .split(',')
            .map(|v| v.parse::<u64>().unwrap_or(0));
        let (w, h) = (dims.next().unwrap_or(0), dims.next().unwrap_or(0));
        let bpp = bpp.trim().parse::<u64>().unwrap_or(0);
        return Ok(Some(w * h * bpp / 8));
    }
    Ok(None)
}

/// bochs is a module, which the guest's /init loaded from a cgroup of its own
/// (`modload`), as a distribution's udev loads drivers: the console came up,
/// and what the driver took for itself at probe is charged to the root, not
/// to that cgroup.
fn module_loaded_from_a_cgroup_charges_it_nothing() -> TestResult {
    let modules = cg::read("/proc/modules")?;
    ensure(modules.lines().any(|l| l.starts_with("bochs ")), || {
        "bochs is not a loaded module (CONFIG_DRM_BOCHS=m, modprobe in /init)".into()
    })?;
    let console = bochs_console_bytes()?.ok_or("no bochs fbdev console after modprobe")?;
    let modload = Path::new(ROOT).join("modload");
    expect_vram(&modload, 0)?;
    let root = vram(Path::new(ROOT), "dev.current", "")?;
    ensure(root >= console, || {
        format!("the root holds {root} bytes of VRAM, the console takes {console}")
    })?;
    println!(
        "# bochs loaded as a module from a cgroup: its {console}-byte console charged to the root"
    );
    Ok(())
}

/// A driver bound by a task inside a cgroup, as udev binds it when it loads
/// the driver's module, or a write to its bind file: what the driver
/// allocates for itself at probe, the fbdev console's framebuffer among it,
/// is charged to the root, not to the binding task's cgroup.
fn driver_bound_from_a_cgroup_charges_its_console_to_the_root() -> TestResult {
    enable_dev(ROOT)?;
    let (_, device) = bochs_device()?;
    let pci = device.trim_start_matches("drm/").to_string();
    let driver = "/sys/bus/pci/drivers/bochs-drm";
    let cg = Cgroup::new(ROOT, "kms_probe")?;
    {
        let _inside = Inside::new(&cg.path)?;
        cg::set(format!("{driver}/unbind"), &pci)?;
        ensure(bochs_device().is_err(), || {
            "bochs still bound after unbind".into()
        })?;
        cg::set(format!("{driver}/bind"), &pci)?;
    }
    let (_, again) = bochs_device()?;
    ensure(again == device, || {
        format!("bound again as {again}, was {device}")
    })?;
    let console = bochs_console_bytes()?.ok_or("no bochs fbdev console after binding")?;
    expect_vram(&cg.path, 0)?;
    let root = vram(Path::new(ROOT), "dev.current", "")?;
    ensure(root >= console, || {
        format!("the root holds {root} bytes of VRAM, the console takes {console}")
    })?;
    println!("# bochs bound from a cgroup: its {console}-byte console charged to the root");
    Ok(())
}

/// `devcg-e2e kms-scanout <count> [cgroup dir]`: for the demo. Creates
/// `count` 640x480 framebuffers on bochs and scans each out in turn, printing
/// every outcome and the cgroup's VRAM usage after it.
pub fn cli(args: &[String]) -> i32 {
    let [count, rest @ ..] = args else {
        eprintln!("usage: devcg-e2e kms-scanout <count> [cgroup dir]");
        return 2;
    };
    let Ok(count) = count.parse::<u32>() else {
        eprintln!("count must be a number");
        return 2;
    };
    let card = match Card::open() {
        Ok(card) => card,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    for i in 1..=count {
        let outcome = match card.framebuffer() {
            Err(e) => e,
            Ok(fb) => match card.scanout(&fb) {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("refused, {}", std::io::Error::from_raw_os_error(e)),
            },
        };
        let usage = match rest.first() {
            Some(dir) => vram(Path::new(dir), "dev.current", "")
                .map(|v| format!(", region.vram now {v}"))
                .unwrap_or_else(|e| e),
            None => String::new(),
        };
        println!("  SETCRTC framebuffer {i} ({FB_BYTES} bytes): {outcome}{usage}");
    }
    0
}
