//! Errors of device access: what failed, on which device, where, with which errno, and the fix.
//!
//! Owns [`DeviceError`] (set-up and control-path failures, with a one-line fix) and the two small
//! `Copy` errors of the data path, [`RegisterError`] and [`DmaAccessError`], which never allocate.
//! Backends build `DeviceError`s; this module knows nothing about VFIO or the simulator beyond
//! the kinds of failure they report.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What kind of failure a [`DeviceError`] is, for callers that react differently to each.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceErrorKind {
    /// The device address is not well formed.
    InvalidAddress,
    /// No device at that address (or no device with the expected IDs).
    NotFound,
    /// The device has other vendor/device IDs than expected.
    WrongDevice,
    /// The device speaks a contract version this driver does not support.
    UnsupportedSpecVersion,
    /// The device is not bound to the `vfio-pci` driver.
    NotBoundToVfio,
    /// VFIO itself is missing (`/dev/vfio/vfio` absent: module not loaded).
    VfioUnavailable,
    /// The device has no IOMMU group: the IOMMU is off.
    NoIommuGroup,
    /// Some device of the IOMMU group is bound to a host driver.
    GroupNotViable,
    /// The caller may not open a device node.
    PermissionDenied,
    /// Another process (or container) holds the IOMMU group.
    GroupBusy,
    /// Pinning DMA memory exceeded the locked-memory limit.
    LockedMemoryLimit,
    /// Not enough free hugepages for the DMA memory asked for.
    NoHugepages,
    /// No IOVA range (within the device's DMA mask) has room for the mapping.
    IovaExhausted,
    /// The device (or the IOMMU) allows no more DMA mappings.
    TooManyMappings,
    /// The device lacks something the driver needs (a BAR, an interrupt kind, ...).
    Unsupported,
    /// A register access outside BAR0 or misaligned.
    Register,
    /// The device did not respond within a bounded wait.
    Timeout,
    /// The device did something the contract does not allow.
    DeviceMisbehaved,
    /// Any other operating-system failure.
    Io,
}

/// A failure of device set-up or control, with everything a user needs to fix it.
///
/// Its `Display` is one line naming the device, the IOMMU group (when known), the failing step,
/// what happened, the path and the errno, followed by a line starting with `fix:`.
///
/// Boxed inside, so a `Result<_, DeviceError>` stays one pointer wide.
#[derive(Debug)]
pub struct DeviceError {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: DeviceErrorKind,
    device: String,
    group: Option<u32>,
    step: String,
    detail: String,
    path: Option<PathBuf>,
    errno: Option<i32>,
    fix: Option<String>,
    source: Option<io::Error>,
}

impl DeviceError {
    /// A new error: `device` is the device's location (a PCI address, a simulator path), `step`
    /// the operation that failed ("mapping BAR0"), `detail` what went wrong.
    pub fn new(
        kind: DeviceErrorKind,
        device: impl Into<String>,
        step: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        DeviceError {
            inner: Box::new(Inner {
                kind,
                device: device.into(),
                group: None,
                step: step.into(),
                detail: detail.into(),
                path: None,
                errno: None,
                fix: None,
                source: None,
            }),
        }
    }

    /// Wraps an operating-system error: takes its errno and keeps it as the source.
    pub fn from_io(
        kind: DeviceErrorKind,
        device: impl Into<String>,
        step: impl Into<String>,
        err: io::Error,
    ) -> Self {
        let detail = match err.raw_os_error() {
            Some(errno) => strerror(errno).to_owned(),
            None => err.to_string(),
        };
        let errno = err.raw_os_error();
        let mut e = DeviceError::new(kind, device, step, detail);
        e.inner.errno = errno;
        e.inner.source = Some(err);
        e
    }

    /// Adds the IOMMU group.
    pub fn with_group(mut self, group: u32) -> Self {
        self.inner.group = Some(group);
        self
    }

    /// Adds the path the failing step used.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.inner.path = Some(path.as_ref().to_path_buf());
        self
    }

    /// Adds an errno.
    pub fn with_errno(mut self, errno: i32) -> Self {
        self.inner.errno = Some(errno);
        self
    }

    /// Adds the one-line fix.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.inner.fix = Some(fix.into());
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> DeviceErrorKind {
        self.inner.kind
    }

    /// The device's location.
    pub fn device(&self) -> &str {
        &self.inner.device
    }

    /// The IOMMU group, when known.
    pub fn group(&self) -> Option<u32> {
        self.inner.group
    }

    /// The step that failed.
    pub fn step(&self) -> &str {
        &self.inner.step
    }

    /// What went wrong.
    pub fn detail(&self) -> &str {
        &self.inner.detail
    }

    /// The path involved, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The errno, when the failure came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        self.inner.errno
    }

    /// The one-line fix, when there is one.
    pub fn fix(&self) -> Option<&str> {
        self.inner.fix.as_deref()
    }

    /// An error for a register access the backend refused.
    pub fn register(device: impl Into<String>, err: RegisterError) -> Self {
        DeviceError::new(
            DeviceErrorKind::Register,
            device,
            "accessing a BAR0 register",
            err.to_string(),
        )
        .with_fix("this is a driver bug: registers are 32-bit, 4-byte aligned and inside BAR0")
    }

    /// An error for a DMA memory access outside its region (a driver bug).
    pub fn dma_access(device: impl Into<String>, err: DmaAccessError) -> Self {
        DeviceError::new(
            DeviceErrorKind::DeviceMisbehaved,
            device,
            "accessing DMA memory",
            err.to_string(),
        )
        .with_fix("this is a driver bug: DMA memory accesses must stay inside their region")
    }

    /// An error for a device whose contract version the driver does not support.
    pub fn unsupported_spec_version(
        device: impl Into<String>,
        found: (u16, u16),
        supported_major: u16,
    ) -> Self {
        DeviceError::new(
            DeviceErrorKind::UnsupportedSpecVersion,
            device,
            "checking the device's contract version (IDENT.SPEC_VERSION)",
            format!(
                "the device implements contract {}.{}, this driver supports {}.x",
                found.0, found.1, supported_major
            ),
        )
        .with_fix(if found.0 > supported_major {
            "update ferrotoe: this device is newer than the driver"
        } else {
            "update the device's bitstream/firmware (or the simulator) to the driver's contract"
        })
    }

    /// An error for a bounded wait that ran out.
    pub fn timeout(
        device: impl Into<String>,
        step: impl Into<String>,
        waited: std::time::Duration,
    ) -> Self {
        DeviceError::new(
            DeviceErrorKind::Timeout,
            device,
            step,
            format!(
                "the device did not respond within {} ms",
                waited.as_millis()
            ),
        )
        .with_fix("check that the device is alive (reset it or reload its bitstream/simulator)")
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner;
        write!(f, "{}", e.device)?;
        if let Some(group) = e.group {
            write!(f, " (IOMMU group {group})")?;
        }
        write!(f, ": {} failed: {}", e.step, e.detail)?;
        if let Some(path) = &e.path {
            write!(f, " [path {}]", path.display())?;
        }
        if let Some(errno) = e.errno {
            write!(f, " [errno {} {}]", errno, errno_name(errno))?;
        }
        if let Some(fix) = &e.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why a register access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterErrorKind {
    /// The 4 bytes at the offset do not lie inside BAR0.
    OutOfBounds,
    /// The offset is not a multiple of 4.
    Unaligned,
}

/// A refused BAR0 register access (32-bit, 4-byte aligned, inside BAR0). `Copy`, no allocation:
/// data-path code returns it as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterError {
    /// Byte offset of the access in BAR0.
    pub offset: usize,
    /// Length of BAR0 in bytes.
    pub bar_len: usize,
    /// Why it was refused.
    pub kind: RegisterErrorKind,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RegisterErrorKind::OutOfBounds => write!(
                f,
                "32-bit register access at BAR0 offset {:#x} is outside BAR0 ({:#x} bytes)",
                self.offset, self.bar_len
            ),
            RegisterErrorKind::Unaligned => write!(
                f,
                "32-bit register access at BAR0 offset {:#x} is not 4-byte aligned",
                self.offset
            ),
        }
    }
}

impl std::error::Error for RegisterError {}

/// Checks a 32-bit register access against a BAR of `bar_len` bytes: every backend uses this, so
/// they refuse the same accesses.
#[inline]
pub fn check_register_access(offset: usize, bar_len: usize) -> Result<(), RegisterError> {
    if offset % 4 != 0 {
        return Err(RegisterError {
            offset,
            bar_len,
            kind: RegisterErrorKind::Unaligned,
        });
    }
    match offset.checked_add(4) {
        Some(end) if end <= bar_len => Ok(()),
        _ => Err(RegisterError {
            offset,
            bar_len,
            kind: RegisterErrorKind::OutOfBounds,
        }),
    }
}

/// Why a DMA memory access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaAccessErrorKind {
    /// The bytes do not lie inside the region.
    OutOfBounds,
    /// The offset is not a multiple of the access size (atomic and multi-byte accesses).
    Misaligned,
}

/// A refused access to DMA memory. `Copy`, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaAccessError {
    /// Byte offset of the access in the region.
    pub offset: usize,
    /// Bytes the access covers.
    pub len: usize,
    /// Length of the region.
    pub region_len: usize,
    /// Why it was refused.
    pub kind: DmaAccessErrorKind,
}

impl fmt::Display for DmaAccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DmaAccessErrorKind::OutOfBounds => write!(
                f,
                "DMA memory access of {} bytes at offset {:#x} is outside the region ({:#x} bytes)",
                self.len, self.offset, self.region_len
            ),
            DmaAccessErrorKind::Misaligned => write!(
                f,
                "DMA memory access of {} bytes at offset {:#x} is not {}-byte aligned",
                self.len, self.offset, self.len
            ),
        }
    }
}

impl std::error::Error for DmaAccessError {}

/// The symbolic name of the errnos users meet with VFIO, hugepages and device nodes.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        19 => "ENODEV",
        22 => "EINVAL",
        24 => "EMFILE",
        25 => "ENOTTY",
        28 => "ENOSPC",
        95 => "EOPNOTSUPP",
        110 => "ETIMEDOUT",
        _ => "",
    }
}

/// A short description of an errno (the kernel's wording), without allocating.
pub fn strerror(errno: i32) -> &'static str {
    match errno {
        1 => "operation not permitted",
        2 => "no such file or directory",
        5 => "input/output error",
        9 => "bad file descriptor",
        11 => "resource temporarily unavailable",
        12 => "cannot allocate memory",
        13 => "permission denied",
        14 => "bad address",
        16 => "device or resource busy",
        17 => "file exists",
        19 => "no such device",
        22 => "invalid argument",
        24 => "too many open files",
        25 => "inappropriate ioctl for device",
        28 => "no space left on device",
        95 => "operation not supported",
        110 => "timed out",
        _ => "operating-system error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_device_group_step_path_errno_and_fix() {
        let e = DeviceError::from_io(
            DeviceErrorKind::PermissionDenied,
            "0000:03:00.0",
            "opening the IOMMU group",
            io::Error::from_raw_os_error(13),
        )
        .with_group(7)
        .with_path("/dev/vfio/7")
        .with_fix("run as root");
        assert_eq!(
            e.to_string(),
            "0000:03:00.0 (IOMMU group 7): opening the IOMMU group failed: permission denied \
             [path /dev/vfio/7] [errno 13 EACCES]\n  fix: run as root"
        );
        assert_eq!(e.errno(), Some(13));
        assert_eq!(e.kind(), DeviceErrorKind::PermissionDenied);
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn register_checks_refuse_unaligned_and_out_of_bounds() {
        assert_eq!(check_register_access(0, 4), Ok(()));
        assert_eq!(check_register_access(0xffc, 0x1000), Ok(()));
        assert_eq!(
            check_register_access(0x1000, 0x1000).unwrap_err().kind,
            RegisterErrorKind::OutOfBounds
        );
        assert_eq!(
            check_register_access(2, 0x1000).unwrap_err().kind,
            RegisterErrorKind::Unaligned
        );
        assert_eq!(
            check_register_access(usize::MAX - 3, usize::MAX)
                .unwrap_err()
                .kind,
            RegisterErrorKind::OutOfBounds
        );
        let msg = DeviceError::register("sim0", check_register_access(6, 16).unwrap_err());
        assert!(msg.to_string().contains("offset 0x6 is not 4-byte aligned"));
    }

    #[test]
    fn spec_version_message_points_at_the_older_side() {
        let newer = DeviceError::unsupported_spec_version("0000:01:00.0", (2, 0), 1);
        assert!(newer.to_string().contains("contract 2.0"));
        assert!(newer.fix().unwrap().contains("update ferrotoe"));
        let older = DeviceError::unsupported_spec_version("0000:01:00.0", (0, 9), 1);
        assert!(older.fix().unwrap().contains("bitstream"));
    }
}
