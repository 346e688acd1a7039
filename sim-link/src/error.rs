//! The one error type of sim-link. Every variant says what failed, where (link file, path,
//! offset, IOVA) and, where there is one, how to fix it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::layout::LayoutError;

/// What went wrong on a link.
#[derive(Debug)]
pub enum LinkError {
    /// A file operation failed.
    Io {
        /// The operation and its path.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The requested link geometry is not usable.
    Layout(LayoutError),
    /// A file is not a link (or BAR0) file.
    NotALink {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The link file was made by a build that speaks another link layout (a `ferrotoe nicsim`
    /// of another version).
    LayoutVersion {
        /// The link file.
        path: PathBuf,
        /// The file's layout version.
        found: u32,
        /// The one this build speaks.
        expected: u32,
    },
    /// Another driver process is attached to the link.
    DriverAttached {
        /// The link file.
        path: PathBuf,
        /// The other driver's pid.
        pid: u32,
    },
    /// A BAR0 access beyond `BAR0_SIZE`.
    OutOfBar {
        /// The offset.
        offset: u32,
    },
    /// The device side has stopped for good.
    DeviceStopped {
        /// The link file.
        path: PathBuf,
    },
    /// The device did not make progress within the timeout.
    DeviceNotResponding {
        /// The link file.
        path: PathBuf,
        /// What the driver waited for.
        what: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// A DMA region's IOVA is not 4 KiB aligned, or its length is 0.
    BadRegion {
        /// The IOVA.
        iova: u64,
        /// The length.
        len: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A DMA region overlaps one already mapped.
    RegionOverlap {
        /// The new region's IOVA.
        iova: u64,
        /// The new region's length.
        len: u64,
        /// The IOVA of the region it overlaps.
        other: u64,
    },
    /// Every region slot of the link is in use.
    NoFreeRegionSlot {
        /// How many slots the link has.
        slots: u32,
    },
    /// The path of a DMA region is longer than a slot holds.
    PathTooLong {
        /// The path.
        path: PathBuf,
        /// The limit in bytes.
        max: usize,
    },
    /// The device could not open or map a DMA region's file.
    DeviceCouldNotMap {
        /// The file.
        path: PathBuf,
        /// The device side's errno.
        errno: i32,
    },
    /// No region is mapped at this IOVA.
    NotMapped {
        /// The IOVA.
        iova: u64,
    },
    /// An interrupt vector the link does not have.
    NoSuchVector {
        /// The vector asked for.
        vector: u32,
        /// Vectors the link has.
        vectors: u32,
    },
}

impl LinkError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> LinkError {
        LinkError::Io {
            what: what.into(),
            source,
        }
    }
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Io { what, source } => write!(f, "{what}: {source}"),
            LinkError::Layout(e) => write!(f, "bad link geometry: {e}"),
            LinkError::NotALink { path, reason } => write!(
                f,
                "{} is not a ferrotoe sim-link file ({reason}); point the driver at the \
                 directory a running `ferrotoe nicsim` created",
                path.display()
            ),
            LinkError::LayoutVersion {
                path,
                found,
                expected,
            } => write!(
                f,
                "{} is a link of layout version {found}, made by another ferrotoe build (this \
                 one speaks version {expected}); run `ferrotoe nicsim` and the driver from the \
                 same build",
                path.display()
            ),
            LinkError::DriverAttached { path, pid } => write!(
                f,
                "link {} already has a driver attached (pid {pid}); stop that process first",
                path.display()
            ),
            LinkError::OutOfBar { offset } => write!(
                f,
                "BAR0 offset {offset:#x} is beyond BAR0 ({:#x} bytes)",
                hw_spec::regs::BAR0_SIZE
            ),
            LinkError::DeviceStopped { path } => write!(
                f,
                "the simulated device on link {} has stopped; restart it (`ferrotoe nicsim`)",
                path.display()
            ),
            LinkError::DeviceNotResponding { path, what, waited } => write!(
                f,
                "the simulated device on link {} did not respond within {waited:?} while the \
                 driver waited for {what}; is its process (or thread, or stepping loop) running?",
                path.display()
            ),
            LinkError::BadRegion { iova, len, reason } => write!(
                f,
                "cannot map DMA region at IOVA {iova:#x} ({len} bytes): {reason}"
            ),
            LinkError::RegionOverlap { iova, len, other } => write!(
                f,
                "DMA region at IOVA {iova:#x} ({len} bytes) overlaps the region at {other:#x}; \
                 choose a free IOVA range"
            ),
            LinkError::NoFreeRegionSlot { slots } => write!(
                f,
                "all {slots} DMA region slots of the link are in use; unmap a region or create \
                 the link with more slots"
            ),
            LinkError::PathTooLong { path, max } => write!(
                f,
                "DMA region path {} is longer than {max} bytes; use a shorter path",
                path.display()
            ),
            LinkError::DeviceCouldNotMap { path, errno } => {
                write!(
                    f,
                    "the simulated device could not map DMA region {}: {}",
                    path.display(),
                    io::Error::from_raw_os_error(*errno)
                )?;
                if *errno == libc::EPERM {
                    write!(
                        f,
                        "; the device maps only files that cannot shrink under it (a truncated \
                         file would crash it): use a memfd sealed against shrinking \
                         (SharedRegion::anonymous)"
                    )?;
                }
                Ok(())
            }
            LinkError::NotMapped { iova } => write!(f, "no DMA region is mapped at IOVA {iova:#x}"),
            LinkError::NoSuchVector { vector, vectors } => write!(
                f,
                "interrupt vector {vector} does not exist (the link has {vectors})"
            ),
        }
    }
}

impl std::error::Error for LinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinkError::Io { source, .. } => Some(source),
            LinkError::Layout(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LayoutError> for LinkError {
    fn from(e: LayoutError) -> Self {
        LinkError::Layout(e)
    }
}
