//! A Linux TAP device as the wire: frames the device sends go to the kernel as if received on
//! a real Ethernet port, and frames the kernel sends out of the TAP come to the device. With it
//! the Linux TCP stack can be the peer of a simulated host.
//!
//! A reader thread waits on the TAP file descriptor (in 100 ms polls, so it notices when the
//! port is dropped), copies frames into a shared-memory [`FrameRing`] and wakes the device; the
//! device's own thread writes transmitted frames to the descriptor directly. Plain frames: the
//! TAP is opened with `IFF_NO_PI`, so there is no packet-information header and no FCS.
//!
//! Owns the TAP descriptor and its reader thread. The two system calls Rust's standard library
//! does not offer (the `TUNSETIFF` ioctl and `poll`) are in the private `sys` module, the only
//! `unsafe` of rtl-sim.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sim_link::{DeviceWaker, SharedRegion};

use super::ring::FrameRing;
use super::{Port, PortCounters};
use crate::device::Wire;

/// Largest frame the TAP port carries (jumbo frames; larger ones are counted and dropped).
pub const TAP_MAX_FRAME: usize = 9216 + 64;
const INBOX_SLOTS: u32 = 1024;

mod sys {
    //! The `unsafe` system calls of the TAP port (run under valgrind's memcheck in
    //! `tests/unsafe_under_valgrind.rs`).
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::fd::RawFd;

    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }

    /// Opens `/dev/net/tun` and attaches it to TAP interface `name` (created if missing).
    /// Returns the descriptor and the interface's actual name.
    pub fn open_tap(name: &str) -> io::Result<(File, String)> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TAP name `{name}`: use 1 to 15 bytes"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot open /dev/net/tun ({e}); the TAP port needs the tun module and root (or CAP_NET_ADMIN)"),
                )
            })?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: `fd` is an open /dev/net/tun descriptor; TUNSETIFF reads and writes a struct
        // ifreq, which `IfReq` lays out (16-byte name, flags, padding to 40 bytes) and which
        // lives on this stack frame for the duration of the call.
        let r = unsafe { libc::ioctl(fd, libc::TUNSETIFF, &mut req as *mut IfReq) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "TUNSETIFF for TAP `{name}` failed: {e} (needs root or CAP_NET_ADMIN; the name may be taken by a non-TAP interface)"
                ),
            ));
        }
        // A TAP keeps the offloads a previous user enabled (a persistent interface that a
        // virtio-net-header user such as tcp-engine's TAP device opened before). This port
        // reads plain frames: the kernel must hand over complete checksums and no GSO
        // super-frames, so turn every offload off.
        // SAFETY: `fd` is the TAP descriptor attached above; TUNSETOFFLOAD takes the offload
        // flags by value (no memory is passed).
        let r = unsafe { libc::ioctl(fd, libc::TUNSETOFFLOAD, 0 as libc::c_ulong) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("TUNSETOFFLOAD (turning offloads off) for TAP `{name}` failed: {e}"),
            ));
        }
        let end = req
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(req.name.len());
        Ok((file, String::from_utf8_lossy(&req.name[..end]).into_owned()))
    }

    /// Waits up to `timeout_ms` for `fd` to be readable.
    pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the stack, count 1.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        match r {
            0 => Ok(false),
            n if n > 0 => Ok(p.revents & libc::POLLIN != 0),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// Counters of a TAP port.
#[derive(Debug, Default)]
pub struct TapStats {
    /// Frames written to the kernel.
    pub sent: AtomicU64,
    /// Frames read from the kernel and queued for the device.
    pub received: AtomicU64,
    /// Frames that could not be written (the kernel refused them).
    pub send_errors: AtomicU64,
    /// Frames read but dropped: too long, or the device's inbox was full.
    pub dropped: AtomicU64,
}

/// A TAP interface as a wire port.
pub struct TapPort {
    file: Arc<File>,
    name: String,
    inbox: FrameRing,
    waker: Arc<Mutex<Option<DeviceWaker>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    stats: Arc<TapStats>,
}

impl std::fmt::Debug for TapPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapPort").field("name", &self.name).finish()
    }
}

impl TapPort {
    /// Opens (creating if needed) TAP interface `name`. Bring it up and address it with
    /// `ip link`/`ip addr` (or move it into a network namespace) as for any interface.
    pub fn open(name: &str) -> io::Result<TapPort> {
        let (file, name) = sys::open_tap(name)?;
        let file = Arc::new(file);
        let region = Arc::new(SharedRegion::anonymous(
            "ferrotoe-tap-inbox",
            FrameRing::bytes_needed(INBOX_SLOTS, TAP_MAX_FRAME),
        )?);
        let inbox = FrameRing::init(region, 0, INBOX_SLOTS, TAP_MAX_FRAME);
        let waker: Arc<Mutex<Option<DeviceWaker>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(TapStats::default());
        let reader = {
            let (file, inbox, waker, stop, stats) = (
                Arc::clone(&file),
                inbox.clone(),
                Arc::clone(&waker),
                Arc::clone(&stop),
                Arc::clone(&stats),
            );
            std::thread::Builder::new()
                .name(format!("tap-{name}"))
                .spawn(move || read_loop(&file, &inbox, &waker, &stop, &stats))?
        };
        Ok(TapPort {
            file,
            name,
            inbox,
            waker,
            stop,
            reader: Some(reader),
            stats,
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port's counters.
    pub fn stats(&self) -> &TapStats {
        &self.stats
    }
}

fn read_loop(
    file: &File,
    inbox: &FrameRing,
    waker: &Mutex<Option<DeviceWaker>>,
    stop: &AtomicBool,
    stats: &TapStats,
) {
    let mut buf = vec![0u8; 65536 + 64];
    let fd = file.as_raw_fd();
    while !stop.load(Ordering::Acquire) {
        match sys::wait_readable(fd, 100) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => return,
        }
        let n = match (&*file).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if n == 0 {
            continue;
        }
        if n <= TAP_MAX_FRAME && inbox.push(&buf[..n]) {
            stats.received.fetch_add(1, Ordering::Relaxed);
            if let Some(w) = waker.lock().ok().as_ref().and_then(|g| g.as_ref()) {
                w.wake();
            }
        } else {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Wire for TapPort {
    fn transmit(&mut self, frame: &[u8], _now_ns: u64) {
        // A TAP write takes a whole frame or fails; a short count would be a kernel bug.
        match (&*self.file).write(frame) {
            Ok(n) if n == frame.len() => self.stats.sent.fetch_add(1, Ordering::Relaxed),
            _ => self.stats.send_errors.fetch_add(1, Ordering::Relaxed),
        };
    }
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.inbox.pop(buf)
    }
    fn rx_pending(&self) -> bool {
        self.inbox.pending()
    }
}

impl Port for TapPort {
    fn connect(&mut self, own: &DeviceWaker) {
        if let Ok(mut w) = self.waker.lock() {
            *w = Some(own.clone());
        }
    }
    fn describe(&self) -> String {
        format!("TAP interface {}", self.name)
    }
    fn counters(&self) -> PortCounters {
        let s = &self.stats;
        PortCounters {
            sent: s.sent.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            dropped: s.send_errors.load(Ordering::Relaxed) + s.dropped.load(Ordering::Relaxed),
            ..PortCounters::default()
        }
    }
}

impl Drop for TapPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}
