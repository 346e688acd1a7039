//! A Linux TAP device as a [`FrameDevice`], with the kernel's checksum and TCP segmentation
//! offload through the virtio-net header, so the Linux kernel's own TCP can be the engine's
//! peer under the same offload contract as the ferrotoe NIC.
//!
//! The device opens `/dev/net/tun` with `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, sets a 12-byte
//! virtio-net header (`TUNSETVNETHDRSZ`) and tells the kernel which offloads it accepts on
//! frames it reads (`TUNSETOFFLOAD`: `TUN_F_CSUM`, plus `TUN_F_TSO4` with TSO). I/O is
//! non-blocking; [`TapDevice::wait_readable`] sleeps until a frame arrives or a timeout passes.
//!
//! **Transmit** (engine to kernel): [`TxMeta`] means "the device computes everything" (SPEC
//! 6.2); virtio means "the device finishes one checksum that software seeded". The adapter
//! bridges them: the request is validated by the NIC's rules (SPEC 6.1, `softnic`; a refused
//! request sends nothing and is counted), the IPv4 header checksum is computed here (virtio
//! has no IP checksum offload), the TCP checksum field is seeded with the pseudo-header sum
//! (`NEEDS_CSUM`, `csum_start` = L2 + L3, `csum_offset` = 16), and a TSO request becomes
//! `GSO_TCPV4` with `gso_size` = MSS and the super-frame's IPv4 total length set; the kernel
//! then segments exactly as SPEC 6.3 describes (IP ID + i, FIN/PSH last, CWR first).
//!
//! **Receive** (kernel to engine): with checksum offload the kernel may hand frames whose TCP
//! checksum is only seeded (`NEEDS_CSUM`) or already verified (`DATA_VALID`); both are reported
//! as [`ChecksumState::Good`] for L4 (the data is the kernel's own or was verified), the IPv4
//! header as [`ChecksumState::Unknown`] (the kernel does not say; the engine checks 20 bytes).
//! `NEEDS_CSUM` counts as `Good` only when `csum_start`/`csum_offset` name exactly the IPv4
//! packet's TCP (or UDP) checksum field; any other in-range `NEEDS_CSUM` frame (or one arriving
//! with checksum offload off) has its checksum completed here as a virtio device would, and
//! is left `Unknown` for the engine to verify. Without checksum offload everything else is
//! `Unknown`. The header is input like the frame: unknown flags, a checksum field outside the
//! frame, a GSO type not negotiated or a self-contradicting GSO header drop the frame, counted
//! in [`TapCounters::rx_bad_vnet_hdr`] ([`VnetHeaderError`]). With TSO the kernel may hand up GSO
//! super-frames of up to 64 KiB (an LRO-like peer): buffers are sized for them, and they are
//! counted in [`TapCounters::rx_gso_frames`]. A frame captured from here may therefore show a
//! "wrong" TCP checksum (the seed), as `tcpdump` does on a Linux host with offload.
//!
//! Owns the TAP file descriptor and the virtio-net header translation; every system call is in
//! `crate::sys`. Must not parse beyond the headers the offload needs. [`netns`] holds helpers
//! for network namespaces (used by the kernel-interop tests).

pub mod netns;
#[cfg(test)]
mod tests;

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::device::{ChecksumState, FrameDevice, OffloadCaps, RxMeta, TsoCaps, TxMeta};
use crate::softnic::{
    OffloadError, TxPlan, fill_ipv4_checksum, max_tx_frame_len, pseudo_header_sum,
};
use crate::sys;

/// Bytes of the virtio-net header in front of every frame (`struct virtio_net_hdr_v1`: flags,
/// gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers).
pub const VNET_HDR_LEN: usize = 12;

const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

/// Largest frame the kernel hands up: one IPv4 packet of 65535 bytes behind an Ethernet header
/// with a VLAN tag.
const MAX_RX_FRAME: usize = 14 + 4 + 65535;

/// The default path of the TUN/TAP clone device.
pub const TUN_PATH: &str = "/dev/net/tun";

/// How to open a TAP device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapConfig {
    /// Interface name (at most 15 bytes; `%d` lets the kernel pick a number, e.g. `tap%d`).
    /// An existing TAP interface of that name that nobody holds is attached to.
    pub name: String,
    /// IP MTU of the interface; sets [`OffloadCaps::max_frame_len`] (`mtu + 14`). The
    /// interface's own MTU is set with `ip link set NAME mtu N` (see [`netns::NetNs`]).
    pub mtu: u16,
    /// Checksum offload both ways (`TUN_F_CSUM`).
    pub checksum_offload: bool,
    /// TCP segmentation offload both ways (`TUN_F_TSO4`); needs `checksum_offload`.
    pub tso: bool,
    /// Set the interface up (`IFF_UP`) after creating it, in the calling thread's namespace.
    pub bring_up: bool,
    /// Path of the clone device.
    pub tun_path: PathBuf,
}

impl TapConfig {
    /// A TAP named `name` with MTU 1500, checksum offload and TSO, brought up.
    pub fn new(name: &str) -> TapConfig {
        TapConfig {
            name: name.to_owned(),
            mtu: 1500,
            checksum_offload: true,
            tso: true,
            bring_up: true,
            tun_path: PathBuf::from(TUN_PATH),
        }
    }

    /// What a TAP device with this configuration offloads.
    pub fn caps(&self) -> OffloadCaps {
        OffloadCaps {
            tx_checksum: self.checksum_offload,
            rx_checksum: self.checksum_offload,
            tso: (self.tso && self.checksum_offload).then_some(TsoCaps {
                // One IPv4 packet (65535 bytes) with the longest IPv4 and TCP headers.
                max_payload: 65535 - 60 - 60,
                min_mss: 64,
                max_mss: self.mtu.saturating_sub(40),
            }),
            max_frame_len: self.mtu.saturating_add(14),
        }
    }
}

/// Why a TAP device could not be opened. Every message says how to fix it.
#[derive(Debug)]
pub enum TapError {
    /// The interface name is not one Linux accepts.
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The clone device does not exist or the `tun` driver is not loaded.
    TunMissing {
        /// The path tried.
        path: PathBuf,
        /// The error from the kernel.
        source: io::Error,
    },
    /// The process may not open the clone device or create interfaces.
    NotPermitted {
        /// The interface name.
        name: String,
        /// The step that failed.
        step: &'static str,
        /// The error from the kernel.
        source: io::Error,
    },
    /// The name belongs to an interface this process cannot attach to.
    NameInUse {
        /// The interface name.
        name: String,
        /// Why (busy TAP, or a device that is not a TAP).
        detail: &'static str,
        /// The error from the kernel.
        source: io::Error,
    },
    /// Another set-up step failed.
    Setup {
        /// The interface name.
        name: String,
        /// The step that failed (e.g. `TUNSETOFFLOAD`).
        step: &'static str,
        /// The error from the kernel.
        source: io::Error,
    },
    /// TSO was asked for without checksum offload.
    TsoNeedsChecksum {
        /// The interface name.
        name: String,
    },
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapError::InvalidName { name, reason } => write!(
                f,
                "invalid TAP interface name {name:?}: {reason}; use 1-15 characters without \
                 '/', ':' or whitespace (e.g. tap0)"
            ),
            TapError::TunMissing { path, source } => write!(
                f,
                "cannot open {} ({source}): the tun driver is missing; load it with \
                 `modprobe tun`, or in a container create the node with \
                 `mkdir -p /dev/net && mknod /dev/net/tun c 10 200` (or pass --device \
                 /dev/net/tun)",
                path.display()
            ),
            TapError::NotPermitted { name, step, source } => write!(
                f,
                "not permitted to create TAP interface {name} ({step}: {source}): run as root, \
                 or grant the binary CAP_NET_ADMIN with `setcap cap_net_admin+ep <binary>`, or \
                 create the interface beforehand for your user with `ip tuntap add dev {name} \
                 mode tap vnet_hdr user $USER`"
            ),
            TapError::NameInUse {
                name,
                detail,
                source,
            } => write!(
                f,
                "TAP interface {name} cannot be used ({source}): {detail}; choose another name \
                 or inspect it with `ip -d link show {name}` (delete a stale one with `ip link \
                 delete {name}`)"
            ),
            TapError::Setup { name, step, source } => write!(
                f,
                "setting up TAP interface {name} failed at {step}: {source}; the kernel may \
                 lack virtio-net header or offload support for TAP (Linux >= 3.x is needed)"
            ),
            TapError::TsoNeedsChecksum { name } => write!(
                f,
                "TAP interface {name}: TSO needs checksum offload; enable checksum_offload or \
                 turn tso off"
            ),
        }
    }
}

impl std::error::Error for TapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TapError::TunMissing { source, .. }
            | TapError::NotPermitted { source, .. }
            | TapError::NameInUse { source, .. }
            | TapError::Setup { source, .. } => Some(source),
            TapError::InvalidName { .. } | TapError::TsoNeedsChecksum { .. } => None,
        }
    }
}

/// Checks an interface name the way Linux's `dev_valid_name` does (with `%d` allowed, which
/// the kernel replaces with a number), before any system call: at most 15 bytes, not `.` or
/// `..`, no `/`, `:`, NUL or byte the kernel's `isspace()` takes (ASCII whitespace, vertical
/// tab, and 0xA0, which is part of many UTF-8 characters).
///
/// # Errors
/// [`TapError::InvalidName`] saying what is wrong.
pub fn check_name(name: &str) -> Result<(), TapError> {
    let invalid = |reason| TapError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > 15 {
        return Err(invalid("it is longer than 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are reserved"));
    }
    let kernel_space = |b: u8| b.is_ascii_whitespace() || b == 0x0b || b == 0xa0;
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || kernel_space(b) || b == 0)
    {
        return Err(invalid(
            "it contains '/', ':', NUL or whitespace (as Linux counts it: also vertical tab \
             and the byte 0xA0, part of many non-ASCII characters)",
        ));
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<CString, TapError> {
    check_name(name)?;
    CString::new(name).map_err(|_| TapError::InvalidName {
        name: name.to_owned(),
        reason: "it contains NUL",
    })
}

/// Counters of a TAP device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapCounters {
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes of frames received (without the virtio-net header).
    pub rx_bytes: u64,
    /// Received GSO super-frames (larger than the MTU).
    pub rx_gso_frames: u64,
    /// Reads that failed (other than "nothing to read"), or returned a frame shorter than the
    /// virtio-net header and an Ethernet header.
    pub rx_errors: u64,
    /// Frames dropped because their virtio-net header was inconsistent or out of range (see
    /// [`TapDevice::last_rx_header_error`]).
    pub rx_bad_vnet_hdr: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Bytes of frames sent (without the virtio-net header).
    pub tx_bytes: u64,
    /// Frames sent as GSO super-frames.
    pub tx_gso_frames: u64,
    /// Offload requests refused by the NIC rules (nothing sent).
    pub tx_offload_refused: u64,
    /// Writes that failed (e.g. the interface is down).
    pub tx_errors: u64,
}

/// A TAP interface opened with the virtio-net header.
pub struct TapDevice {
    fd: OwnedFd,
    name: String,
    caps: OffloadCaps,
    rx_buf: Box<[u8]>,
    tx_buf: Box<[u8]>,
    counters: TapCounters,
    last_tx_error: Option<String>,
    last_offload_error: Option<OffloadError>,
    last_rx_header_error: Option<VnetHeaderError>,
}

impl TapDevice {
    /// Opens (creating if needed) the TAP interface of `config`, in the calling thread's
    /// network namespace.
    ///
    /// # Errors
    /// A [`TapError`] naming the interface, the failing step and the fix.
    pub fn open(config: &TapConfig) -> Result<TapDevice, TapError> {
        let cname = validate_name(&config.name)?;
        if config.tso && !config.checksum_offload {
            return Err(TapError::TsoNeedsChecksum {
                name: config.name.clone(),
            });
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&config.tun_path)
            .map_err(|source| open_error(config, source))?;
        let fd = OwnedFd::from(file);
        let flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
        let name = sys::tun_set_iff(fd.as_fd(), &cname, flags).map_err(|source| {
            let name = config.name.clone();
            match source.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => TapError::NotPermitted {
                    name,
                    step: "TUNSETIFF",
                    source,
                },
                Some(libc::EBUSY) => TapError::NameInUse {
                    name,
                    detail: "another process holds this TAP interface open",
                    source,
                },
                Some(libc::EINVAL) => TapError::NameInUse {
                    name,
                    detail: "an interface of this name exists and is not a TAP device with these \
                             flags (or the kernel rejected the flags)",
                    source,
                },
                _ => TapError::Setup {
                    name,
                    step: "TUNSETIFF",
                    source,
                },
            }
        })?;
        let setup = |step: &'static str| {
            let name = name.clone();
            move |source| TapError::Setup { name, step, source }
        };
        sys::tun_set_vnet_hdr_size(fd.as_fd(), VNET_HDR_LEN as libc::c_int)
            .map_err(setup("TUNSETVNETHDRSZ"))?;
        let mut offload = 0;
        if config.checksum_offload {
            offload |= libc::TUN_F_CSUM;
        }
        if config.tso {
            offload |= libc::TUN_F_TSO4;
        }
        sys::tun_set_offload(fd.as_fd(), offload).map_err(setup("TUNSETOFFLOAD"))?;
        if config.bring_up {
            set_link_up(&name)?;
        }
        let caps = config.caps();
        Ok(TapDevice {
            fd,
            name,
            caps,
            rx_buf: vec![0u8; VNET_HDR_LEN + MAX_RX_FRAME].into_boxed_slice(),
            tx_buf: vec![0u8; VNET_HDR_LEN + max_tx_frame_len(&caps)].into_boxed_slice(),
            counters: TapCounters::default(),
            last_tx_error: None,
            last_offload_error: None,
            last_rx_header_error: None,
        })
    }

    /// The interface name (as the kernel chose it, for `%d` patterns).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counters since opening.
    pub fn counters(&self) -> TapCounters {
        self.counters
    }

    /// The last failed write, described.
    pub fn last_tx_error(&self) -> Option<&str> {
        self.last_tx_error.as_deref()
    }

    /// The offload rule the last refused request broke.
    pub fn last_offload_error(&self) -> Option<OffloadError> {
        self.last_offload_error
    }

    /// What was wrong with the last received frame dropped for its virtio-net header.
    pub fn last_rx_header_error(&self) -> Option<VnetHeaderError> {
        self.last_rx_header_error
    }

    /// Waits until a frame can be read or `timeout` passes (`None`: no limit). Returns whether
    /// a frame is ready. A signal ends the wait early with `Ok(false)`.
    ///
    /// # Errors
    /// `poll` failed (the error names the interface).
    pub fn wait_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        sys::poll_readable(self.fd.as_fd(), timeout).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("waiting for frames on TAP {}: {e}", self.name),
            )
        })
    }
}

/// Sets interface `name` up (`IFF_UP`) in the calling thread's network namespace, as
/// `ip link set NAME up` does: [`TapDevice::open`] does it with [`TapConfig::bring_up`], and
/// other users of a TAP (the simulated NIC's wire port) call it after opening theirs.
///
/// # Errors
/// [`TapError::NotPermitted`] without `CAP_NET_ADMIN`, [`TapError::Setup`] otherwise (e.g.
/// no such interface).
pub fn set_link_up(name: &str) -> Result<(), TapError> {
    let cname = validate_name(name)?;
    let step = "SIOCSIFFLAGS (bring the link up)";
    let sock = sys::inet_control_socket().map_err(|source| TapError::Setup {
        name: name.to_owned(),
        step: "socket for SIOCSIFFLAGS",
        source,
    })?;
    sys::set_interface_up(sock.as_fd(), &cname).map_err(|source| match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => TapError::NotPermitted {
            name: name.to_owned(),
            step,
            source,
        },
        _ => TapError::Setup {
            name: name.to_owned(),
            step,
            source,
        },
    })
}

fn open_error(config: &TapConfig, source: io::Error) -> TapError {
    match source.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => TapError::NotPermitted {
            name: config.name.clone(),
            step: "open /dev/net/tun",
            source,
        },
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => TapError::TunMissing {
            path: config.tun_path.clone(),
            source,
        },
        _ => TapError::Setup {
            name: config.name.clone(),
            step: "open /dev/net/tun",
            source,
        },
    }
}

impl AsFd for TapDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The virtio-net header for a frame with offload request `meta` (validated by `plan`), after
/// preparing the frame the way virtio expects: IPv4 header checksum computed, IPv4 total length
/// set for GSO, the L4 checksum field seeded with the pseudo-header sum.
fn prepare_tx(frame: &mut [u8], meta: &TxMeta, plan: &TxPlan) -> [u8; VNET_HDR_LEN] {
    let mut hdr = [0u8; VNET_HDR_LEN];
    if !plan.wants_checksums() {
        return hdr;
    }
    let (l2, l3) = (usize::from(meta.l2_len), usize::from(meta.l3_len));
    let protocol = frame[l2 + 9];
    if meta.tso_mss.is_some() {
        let ip_len = (frame.len() - l2) as u16; // the plan bounds the payload
        frame[l2 + 2..l2 + 4].copy_from_slice(&ip_len.to_be_bytes());
    }
    fill_ipv4_checksum(frame, l2, l3);
    let csum_offset: u16 = if protocol == 6 { 16 } else { 6 };
    let field = l2 + l3 + usize::from(csum_offset);
    let seed = pseudo_header_sum(frame, l2, protocol, (frame.len() - l2 - l3) as u32);
    frame[field..field + 2].copy_from_slice(&seed.to_be_bytes());
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[6..8].copy_from_slice(&((l2 + l3) as u16).to_ne_bytes());
    hdr[8..10].copy_from_slice(&csum_offset.to_ne_bytes());
    if let Some(mss) = meta.tso_mss {
        let cwr = frame[l2 + l3 + 13] & 0x80 != 0;
        hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4 | if cwr { VIRTIO_NET_HDR_GSO_ECN } else { 0 };
        hdr[2..4].copy_from_slice(&(l2 as u16 + l3 as u16 + u16::from(meta.l4_len)).to_ne_bytes());
        hdr[4..6].copy_from_slice(&mss.to_ne_bytes());
    }
    hdr
}

/// Why a received frame's virtio-net header was refused. The frame is dropped and counted
/// ([`TapCounters::rx_bad_vnet_hdr`], [`TapDevice::last_rx_header_error`]): the header comes
/// from the kernel, but it is input like any other and is never trusted to index the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VnetHeaderError {
    /// Flag bits other than `NEEDS_CSUM` and `DATA_VALID` (the only ones a TAP sets).
    UnknownFlags {
        /// The flags byte.
        flags: u8,
    },
    /// `NEEDS_CSUM` with a checksum field (`csum_start + csum_offset`, two bytes) that is not
    /// inside the frame.
    ChecksumOutOfRange {
        /// Where the checksum starts.
        csum_start: u16,
        /// The checksum field's offset from `csum_start`.
        csum_offset: u16,
        /// The frame's length (without the virtio-net header).
        frame_len: usize,
    },
    /// A GSO type this device did not negotiate (only `GSO_TCPV4`, with TSO on).
    UnexpectedGso {
        /// The `gso_type` byte.
        gso_type: u8,
    },
    /// A GSO header that contradicts itself or the frame.
    InconsistentGso {
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for VnetHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VnetHeaderError::UnknownFlags { flags } => write!(
                f,
                "virtio-net header flags {flags:#04x} carry bits other than NEEDS_CSUM and \
                 DATA_VALID"
            ),
            VnetHeaderError::ChecksumOutOfRange {
                csum_start,
                csum_offset,
                frame_len,
            } => write!(
                f,
                "NEEDS_CSUM with csum_start {csum_start} + csum_offset {csum_offset} outside \
                 the {frame_len}-byte frame"
            ),
            VnetHeaderError::UnexpectedGso { gso_type } => write!(
                f,
                "GSO type {gso_type:#04x} was not negotiated (only TCPv4, with TSO on)"
            ),
            VnetHeaderError::InconsistentGso { reason } => {
                write!(f, "inconsistent GSO header: {reason}")
            }
        }
    }
}

impl std::error::Error for VnetHeaderError {}

/// A received frame's virtio-net header, fields in host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct VnetRxHeader {
    flags: u8,
    gso_type: u8,
    hdr_len: u16,
    gso_size: u16,
    csum_start: u16,
    csum_offset: u16,
}

impl VnetRxHeader {
    fn parse(hdr: &[u8; VNET_HDR_LEN]) -> VnetRxHeader {
        let word = |at: usize| u16::from_ne_bytes([hdr[at], hdr[at + 1]]);
        VnetRxHeader {
            flags: hdr[0],
            gso_type: hdr[1],
            hdr_len: word(2),
            gso_size: word(4),
            csum_start: word(6),
            csum_offset: word(8),
        }
    }
}

/// What a received frame's header says once checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RxFrame {
    meta: RxMeta,
    /// A GSO super-frame.
    gso: bool,
}

/// Checks a received frame's virtio-net header against the frame and `caps`, and gives the
/// checksum verdicts. `NEEDS_CSUM` on the IPv4 frame's own TCP or UDP checksum field (the
/// kernel's partial checksum, as Linux treats `CHECKSUM_PARTIAL`) is [`ChecksumState::Good`]
/// with checksum offload; any other in-range `NEEDS_CSUM` (another layout, or checksum
/// offload off) is completed here the way a virtio device would and left for the engine to
/// verify. `DATA_VALID` is `Good` with checksum offload. The IPv4 header is always `Unknown`.
///
/// # Errors
/// A [`VnetHeaderError`]: the frame must be dropped.
fn rx_translate(
    hdr: &[u8; VNET_HDR_LEN],
    frame: &mut [u8],
    caps: &OffloadCaps,
) -> Result<RxFrame, VnetHeaderError> {
    let h = VnetRxHeader::parse(hdr);
    let known = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
    if h.flags & !known != 0 {
        return Err(VnetHeaderError::UnknownFlags { flags: h.flags });
    }
    let needs_csum = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0;
    let gso = match h.gso_type & !VIRTIO_NET_HDR_GSO_ECN {
        VIRTIO_NET_HDR_GSO_NONE if h.gso_type == VIRTIO_NET_HDR_GSO_NONE => false,
        VIRTIO_NET_HDR_GSO_TCPV4 if caps.tso.is_some() => true,
        _ => {
            return Err(VnetHeaderError::UnexpectedGso {
                gso_type: h.gso_type,
            });
        }
    };
    if gso {
        let reason = if !needs_csum {
            Some("a GSO frame without NEEDS_CSUM")
        } else if h.gso_size == 0 {
            Some("gso_size is 0")
        } else if usize::from(h.hdr_len) > frame.len() {
            Some("hdr_len is longer than the frame")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(VnetHeaderError::InconsistentGso { reason });
        }
    }
    if needs_csum {
        let start = usize::from(h.csum_start);
        let field = start + usize::from(h.csum_offset);
        if field + 2 > frame.len() {
            return Err(VnetHeaderError::ChecksumOutOfRange {
                csum_start: h.csum_start,
                csum_offset: h.csum_offset,
                frame_len: frame.len(),
            });
        }
        if caps.rx_checksum && is_ipv4_l4_checksum_field(frame, start, field) {
            return Ok(RxFrame {
                meta: RxMeta {
                    ip: ChecksumState::Unknown,
                    l4: ChecksumState::Good,
                },
                gso,
            });
        }
        // The field holds the seed; the sum from `start` to the end (seed included) finishes
        // it. The engine then verifies the frame as it would any other.
        let c = crate::checksum::checksum(&frame[start..]);
        frame[field..field + 2].copy_from_slice(&c.to_be_bytes());
        return Ok(RxFrame {
            meta: RxMeta::UNVERIFIED,
            gso,
        });
    }
    let meta = if caps.rx_checksum && h.flags & VIRTIO_NET_HDR_F_DATA_VALID != 0 {
        RxMeta {
            ip: ChecksumState::Unknown,
            l4: ChecksumState::Good,
        }
    } else {
        RxMeta::UNVERIFIED
    };
    Ok(RxFrame { meta, gso })
}

/// Whether a partial checksum from `start` with its field at `field` is exactly the TCP or UDP
/// checksum of an untagged, unfragmented IPv4 packet that fills `frame`.
fn is_ipv4_l4_checksum_field(frame: &[u8], start: usize, field: usize) -> bool {
    const ETH: usize = 14;
    if frame.len() < ETH + 20 || frame[12..14] != [0x08, 0x00] || frame[ETH] >> 4 != 4 {
        return false;
    }
    let ihl = usize::from(frame[ETH] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([frame[ETH + 2], frame[ETH + 3]]));
    let fragment = u16::from_be_bytes([frame[ETH + 6], frame[ETH + 7]]) & 0x3FFF != 0;
    let offset = match frame[ETH + 9] {
        6 => 16,
        17 => 6,
        _ => return false,
    };
    ihl >= 20
        && !fragment
        && ETH + total == frame.len()
        && start == ETH + ihl
        && field == start + offset
}

impl FrameDevice for TapDevice {
    fn caps(&self) -> OffloadCaps {
        self.caps
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let mut delivered = 0;
        // At most `max` reads, dropped frames included: a flood of bad frames cannot hold
        // the caller here.
        for _ in 0..max {
            let n = match sys::read_nonblocking(self.fd.as_fd(), &mut self.rx_buf) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(_) => {
                    self.counters.rx_errors += 1;
                    break;
                }
            };
            if n < VNET_HDR_LEN + 14 {
                self.counters.rx_errors += 1;
                continue;
            }
            let Some((hdr, rest)) = self.rx_buf.split_first_chunk_mut::<VNET_HDR_LEN>() else {
                break;
            };
            let frame = &mut rest[..n - VNET_HDR_LEN];
            let rx = match rx_translate(hdr, frame, &self.caps) {
                Ok(rx) => rx,
                Err(e) => {
                    self.counters.rx_bad_vnet_hdr += 1;
                    self.last_rx_header_error = Some(e);
                    continue;
                }
            };
            if rx.gso {
                self.counters.rx_gso_frames += 1;
            }
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += frame.len() as u64;
            on_frame(frame, rx.meta);
            delivered += 1;
        }
        delivered
    }

    /// Writes the frame `fill` builds. Returns `None` after `fill` when the offload request
    /// breaks the NIC's rules (see [`TapDevice::last_offload_error`]) or the write fails (see
    /// [`TapDevice::last_tx_error`]): nothing was sent, and the engine must not advance.
    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        let (hdr_space, frame_space) = self.tx_buf.split_at_mut(VNET_HDR_LEN);
        let (len, meta) = fill(frame_space)?;
        let frame = frame_space.get_mut(..len)?;
        let plan = match TxPlan::new(frame, &meta, &self.caps) {
            Ok(plan) => plan,
            Err(e) => {
                self.counters.tx_offload_refused += 1;
                self.last_offload_error = Some(e);
                return None;
            }
        };
        let hdr = prepare_tx(frame, &meta, &plan);
        hdr_space.copy_from_slice(&hdr);
        match sys::write_nonblocking(self.fd.as_fd(), &self.tx_buf[..VNET_HDR_LEN + len]) {
            Ok(Some(_)) => {
                self.counters.tx_frames += 1;
                self.counters.tx_bytes += len as u64;
                if meta.tso_mss.is_some() {
                    self.counters.tx_gso_frames += 1;
                }
                Some((len, meta))
            }
            Ok(None) => {
                self.counters.tx_errors += 1;
                self.last_tx_error = Some(format!("TAP {}: write would block", self.name));
                None
            }
            Err(e) => {
                self.counters.tx_errors += 1;
                self.last_tx_error = Some(format!("TAP {}: write failed: {e}", self.name));
                None
            }
        }
    }
}

impl fmt::Debug for TapDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapDevice")
            .field("name", &self.name)
            .field("caps", &self.caps)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// Whether this process can create TAP devices here: `Ok(())`, or the reason with the fix.
/// Kernel-interop tests call it first and fail with its message (they never skip silently).
///
/// # Errors
/// Not root (euid 0 is required for namespaces and TAP creation), or `tun_path` missing.
pub fn check_environment(tun_path: &Path) -> Result<(), String> {
    // The effective uid from /proc (no system call, no unsafe).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<u32>().ok());
    if euid != Some(0) {
        return Err(format!(
            "this test needs root (network namespaces and TAP devices need CAP_SYS_ADMIN and \
             CAP_NET_ADMIN); effective uid is {euid:?}: run the tests as root (CI does), e.g. \
             `sudo -E cargo test -p tcp-engine`"
        ));
    }
    if !tun_path.exists() {
        return Err(format!(
            "{} does not exist: load the tun driver with `modprobe tun`, or in a container \
             create it with `mkdir -p /dev/net && mknod /dev/net/tun c 10 200`",
            tun_path.display()
        ));
    }
    Ok(())
}
