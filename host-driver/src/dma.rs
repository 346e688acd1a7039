//! DMA memory: memory a device reads and writes behind the CPU's back.
//!
//! Owns [`DmaMemory`] (the allocation: hugepages, ordinary pages, a shared-memory file, or heap
//! memory for tests) and [`DmaRegion`] (that memory plus the device's view of it: its IOVA and
//! the mapping that lets the device reach it). This is the only module that dereferences
//! pointers into DMA memory.
//!
//! # The access model
//!
//! A device may write DMA memory at any time, so no Rust reference (`&[u8]`, `&mut [u8]`) to it
//! is ever made by safe code: the accessors here are volatile (little-endian integers, byte
//! copies) or atomic (acquire/release, for the ownership bits of a ring protocol, such as a
//! completion's phase bit). Byte copies and integer accesses are plain volatile accesses, not
//! atomic ones: two Rust threads that touch the same bytes must order themselves through the
//! protocol (the device writes an entry, then its phase bit with release; the driver loads the
//! phase bit with acquire, then reads the entry). The unsafe [`DmaMemory::slice`] and
//! [`DmaMemory::slice_mut`] give zero-copy views for the times the protocol guarantees the device
//! is not touching those bytes (a received buffer after its completion, before it is posted
//! again); the caller promises that.
//!
//! Dropping a [`DmaRegion`] first revokes the device's mapping ([`DeviceMapping::revoke`]), then
//! frees the memory, so a device can never write memory that was handed back to the allocator.
//! When revoking fails, the region leaks its memory instead of freeing it.
//!
//! Must not know about VFIO, the simulator or any register: backends supply the mapping.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapMut, MmapOptions};

use crate::error::{DmaAccessError, DmaAccessErrorKind};

/// Size of a 2 MiB hugepage, the granule of hugepage-backed DMA memory.
pub const HUGEPAGE_2M: usize = 2 << 20;

/// Where a [`DmaMemory`]'s bytes live.
enum Backing {
    /// A memory mapping (anonymous, hugepage, or a shared file); unmapped on drop.
    Mapping {
        /// Held only to keep the mapping alive.
        _map: MmapMut,
    },
    /// A heap allocation of `words` u64s (test memory), reclaimed on drop.
    Heap { words: usize },
}

/// A block of memory for DMA, accessed only through volatile and atomic accessors.
///
/// Its base address is at least 8-byte aligned, and it is zeroed when allocated.
pub struct DmaMemory {
    base: NonNull<u8>,
    len: usize,
    backing: Backing,
}

// SAFETY: the memory is owned by this value (a mapping or a heap allocation reached only through
// `base`); every access goes through volatile or atomic raw-pointer operations that take `&self`,
// never through references (except the unsafe `slice`/`slice_mut`, whose callers take on the
// aliasing duty), so moving it to another thread moves no borrowed data.
unsafe impl Send for DmaMemory {}
// SAFETY: concurrent access through `&self` is volatile/atomic raw-pointer access to memory a
// device also writes; ordering between threads is the ring protocol's job (acquire/release
// accessors), as documented in the module.
unsafe impl Sync for DmaMemory {}

impl fmt::Debug for DmaMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.backing {
            Backing::Mapping { .. } => "mapping",
            Backing::Heap { .. } => "heap",
        };
        f.debug_struct("DmaMemory")
            .field("base", &self.base)
            .field("len", &self.len)
            .field("backing", &kind)
            .finish()
    }
}

impl Drop for DmaMemory {
    fn drop(&mut self) {
        if let Backing::Heap { words } = self.backing {
            let slice = std::ptr::slice_from_raw_parts_mut(self.base.as_ptr().cast::<u64>(), words);
            // SAFETY: `base` came from `Box::into_raw` of a `Box<[u64]>` of `words` elements in
            // `heap`, and is reclaimed exactly once, here. No reference into it outlives `self`
            // (the unsafe slice accessors borrow `self`).
            drop(unsafe { Box::from_raw(slice) });
        }
        // A `Mapping` unmaps itself when `backing` drops.
    }
}

impl DmaMemory {
    /// Zeroed heap memory of `len` bytes, 8-byte aligned: DMA memory for the fake backend and for
    /// tests, where no real device reads it.
    pub fn heap(len: usize) -> DmaMemory {
        let words = len.div_ceil(8).max(1);
        let boxed: Box<[u64]> = vec![0u64; words].into_boxed_slice();
        let raw = Box::into_raw(boxed).cast::<u8>();
        DmaMemory {
            // `Box::into_raw` never returns null.
            base: NonNull::new(raw).unwrap_or(NonNull::dangling()),
            len,
            backing: Backing::Heap { words },
        }
    }

    /// Zeroed anonymous memory of `len` bytes in ordinary (4 KiB) pages, populated up front.
    pub fn anonymous(len: usize) -> io::Result<DmaMemory> {
        let map = MmapOptions::new().len(len).populate().map_anon()?;
        Ok(DmaMemory::from_mapping(map))
    }

    /// Zeroed anonymous memory of `len` bytes (a multiple of 2 MiB) in 2 MiB hugepages, populated
    /// up front. Fails with `ENOMEM` when the system has too few free hugepages.
    pub fn hugepages_2m(len: usize) -> io::Result<DmaMemory> {
        if len == 0 || len % HUGEPAGE_2M != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "hugepage DMA memory must be a non-zero multiple of 2 MiB, not {len} bytes"
                ),
            ));
        }
        let map = MmapOptions::new()
            .len(len)
            .huge(Some(21))
            .populate()
            .map_anon()?;
        Ok(DmaMemory::from_mapping(map))
    }

    /// Maps `len` bytes of `file` at `offset` (a multiple of the page size), shared: memory that
    /// a simulated device in another process maps too.
    ///
    /// # Safety
    ///
    /// Nobody may truncate the file below `offset + len` while the memory exists (the process
    /// would take `SIGBUS`), and nobody else may access the bytes through Rust references.
    pub unsafe fn map_shared_file(file: &File, offset: u64, len: usize) -> io::Result<DmaMemory> {
        // SAFETY: the caller guarantees the file keeps its length and that the mapping is only
        // accessed through this module's raw-pointer accessors.
        let map = unsafe { MmapOptions::new().offset(offset).len(len).map_mut(file)? };
        Ok(DmaMemory::from_mapping(map))
    }

    /// Zeroed shared memory of `len` bytes in a sealed memfd, and the file: DMA memory a
    /// simulated device (in this process or another one of the same user) maps through
    /// `/proc/<pid>/fd/<fd>` while the file is open.
    ///
    /// The memfd is sealed against shrinking and growing before it is mapped, so nobody (not a
    /// buggy or hostile simulator either) can truncate it under the mapping: no `SIGBUS`.
    pub fn shared_memfd(name: &str, len: usize) -> io::Result<(DmaMemory, File)> {
        use rustix::fs::{MemfdFlags, SealFlags};
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "shared DMA memory must not be empty",
            ));
        }
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let file = File::from(fd);
        // Populated up front (MAP_POPULATE), as VFIO pins DMA memory when it is mapped: the
        // pages are there before the device's first write, not faulted in during traffic.
        // SAFETY: the file is a memfd of exactly `len` bytes sealed against shrinking (and
        // against removing that seal), so it can never become shorter than the mapping; the
        // mapping is reached only through this module's raw-pointer accessors.
        let map = unsafe { MmapOptions::new().len(len).populate().map_mut(&file)? };
        Ok((DmaMemory::from_mapping(map), file))
    }

    fn from_mapping(mut map: MmapMut) -> DmaMemory {
        let len = map.len();
        let raw = map.as_mut_ptr();
        DmaMemory {
            // A mapping's pointer is page aligned and never null; an empty mapping gets a
            // dangling pointer that no accessor dereferences (every access is out of bounds).
            base: NonNull::new(raw).unwrap_or(NonNull::dangling()),
            len,
            backing: Backing::Mapping { _map: map },
        }
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the memory has no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The CPU address of the first byte. Dereferencing it is the caller's (unsafe) business.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Checks that `len` bytes at `offset` lie inside the memory and, when `align > 1`, that
    /// `offset` is a multiple of `align` (the base is 8-byte aligned, so this aligns the address).
    #[inline]
    fn check(&self, offset: usize, len: usize, align: usize) -> Result<*mut u8, DmaAccessError> {
        let err = |kind| DmaAccessError {
            offset,
            len,
            region_len: self.len,
            kind,
        };
        match offset.checked_add(len) {
            Some(end) if end <= self.len => {}
            _ => return Err(err(DmaAccessErrorKind::OutOfBounds)),
        }
        if offset % align != 0 {
            return Err(err(DmaAccessErrorKind::Misaligned));
        }
        // SAFETY: `offset + len <= self.len`, so the result stays inside the allocation.
        Ok(unsafe { self.base.as_ptr().add(offset) })
    }

    /// Copies `buf.len()` bytes at `offset` into `buf` (volatile reads).
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<(), DmaAccessError> {
        let src = self.check(offset, buf.len(), 1)?;
        let mut i = 0;
        let n = buf.len();
        // Byte reads until the source is 8-byte aligned, then whole words, then the tail.
        while i < n && (src as usize + i) % 8 != 0 {
            // SAFETY: `i < n`, and `offset + n` is inside the memory (checked above).
            buf[i] = unsafe { src.add(i).read_volatile() };
            i += 1;
        }
        while i + 8 <= n {
            // SAFETY: in bounds as above; `src + i` is 8-byte aligned by the loop before.
            let word = unsafe { src.add(i).cast::<u64>().read_volatile() };
            buf[i..i + 8].copy_from_slice(&word.to_ne_bytes());
            i += 8;
        }
        while i < n {
            // SAFETY: `i < n`, in bounds as above.
            buf[i] = unsafe { src.add(i).read_volatile() };
            i += 1;
        }
        Ok(())
    }

    /// Copies `data` to `offset` (volatile writes).
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), DmaAccessError> {
        let dst = self.check(offset, data.len(), 1)?;
        let mut i = 0;
        let n = data.len();
        while i < n && (dst as usize + i) % 8 != 0 {
            // SAFETY: `i < n`, and `offset + n` is inside the memory (checked above).
            unsafe { dst.add(i).write_volatile(data[i]) };
            i += 1;
        }
        while i + 8 <= n {
            let mut word = [0u8; 8];
            word.copy_from_slice(&data[i..i + 8]);
            // SAFETY: in bounds as above; `dst + i` is 8-byte aligned by the loop before.
            unsafe {
                dst.add(i)
                    .cast::<u64>()
                    .write_volatile(u64::from_ne_bytes(word))
            };
            i += 8;
        }
        while i < n {
            // SAFETY: `i < n`, in bounds as above.
            unsafe { dst.add(i).write_volatile(data[i]) };
            i += 1;
        }
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `value` (volatile writes).
    pub fn fill(&self, offset: usize, len: usize, value: u8) -> Result<(), DmaAccessError> {
        let dst = self.check(offset, len, 1)?;
        for i in 0..len {
            // SAFETY: `i < len`, and `offset + len` is inside the memory (checked above).
            unsafe { dst.add(i).write_volatile(value) };
        }
        Ok(())
    }

    /// A shared view of `len` bytes at `offset`, without copying.
    ///
    /// # Safety
    ///
    /// While the returned slice lives, nothing may write those bytes: not the device (the
    /// protocol must have handed them to the CPU, e.g. a received buffer after its completion and
    /// before it is posted again), not another thread, not this memory's write accessors.
    pub unsafe fn slice(&self, offset: usize, len: usize) -> Result<&[u8], DmaAccessError> {
        let p = self.check(offset, len, 1)?;
        // SAFETY: in bounds and initialised (zeroed at allocation); the caller guarantees that
        // no one writes the bytes while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts(p, len) })
    }

    /// An exclusive view of `len` bytes at `offset`, without copying.
    ///
    /// # Safety
    ///
    /// While the returned slice lives, nothing else may read or write those bytes: not the
    /// device (the protocol must have handed them to the CPU, e.g. a transmit buffer before it
    /// is posted), not another thread, not another slice, not this memory's accessors.
    #[allow(clippy::mut_from_ref)] // exclusivity is the caller's documented duty
    pub unsafe fn slice_mut(&self, offset: usize, len: usize) -> Result<&mut [u8], DmaAccessError> {
        let p = self.check(offset, len, 1)?;
        // SAFETY: in bounds and initialised; the caller guarantees exclusive access.
        Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
    }
}

/// Little-endian volatile integer accessors, naturally aligned.
macro_rules! volatile_int_accessors {
    ($($ty:ty, $read:ident, $write:ident;)*) => {
        impl DmaMemory {
            $(
                #[doc = concat!("Reads the little-endian `", stringify!($ty),
                    "` at `offset` (volatile; `offset` a multiple of its size).")]
                #[inline]
                pub fn $read(&self, offset: usize) -> Result<$ty, DmaAccessError> {
                    let size = std::mem::size_of::<$ty>();
                    let p = self.check(offset, size, size)?;
                    // SAFETY: in bounds and naturally aligned (checked; the base is 8-aligned).
                    Ok(<$ty>::from_le(unsafe { p.cast::<$ty>().read_volatile() }))
                }

                #[doc = concat!("Writes `value` as a little-endian `", stringify!($ty),
                    "` at `offset` (volatile; `offset` a multiple of its size).")]
                #[inline]
                pub fn $write(&self, offset: usize, value: $ty) -> Result<(), DmaAccessError> {
                    let size = std::mem::size_of::<$ty>();
                    let p = self.check(offset, size, size)?;
                    // SAFETY: in bounds and naturally aligned (checked; the base is 8-aligned).
                    unsafe { p.cast::<$ty>().write_volatile(value.to_le()) };
                    Ok(())
                }
            )*
        }
    };
}

volatile_int_accessors! {
    u8, read_u8, write_u8;
    u16, read_u16, write_u16;
    u32, read_u32, write_u32;
    u64, read_u64, write_u64;
}

impl DmaMemory {
    /// Reads `N` consecutive little-endian `u64`s at `offset` (volatile; `offset` a multiple of
    /// 8) with one bounds check: a descriptor or completion in one go.
    #[inline]
    pub fn read_words<const N: usize>(&self, offset: usize) -> Result<[u64; N], DmaAccessError> {
        let p = self.check(offset, 8 * N, 8)?.cast::<u64>();
        let mut words = [0u64; N];
        for (i, w) in words.iter_mut().enumerate() {
            // SAFETY: the `8 * N` bytes at `offset` are in bounds and 8-byte aligned (checked
            // above; the base is 8-aligned), so word `i < N` is too.
            *w = u64::from_le(unsafe { p.add(i).read_volatile() });
        }
        Ok(words)
    }

    /// Writes `N` consecutive little-endian `u64`s at `offset` (volatile, in order; `offset` a
    /// multiple of 8) with one bounds check: a descriptor in one go.
    #[inline]
    pub fn write_words<const N: usize>(
        &self,
        offset: usize,
        words: &[u64; N],
    ) -> Result<(), DmaAccessError> {
        let p = self.check(offset, 8 * N, 8)?.cast::<u64>();
        for (i, w) in words.iter().enumerate() {
            // SAFETY: as in `read_words`.
            unsafe { p.add(i).write_volatile(w.to_le()) };
        }
        Ok(())
    }
}

/// Acquire/release accessors for ownership bits (a completion's phase bit, a ring index the
/// other side publishes).
macro_rules! atomic_accessors {
    ($($ty:ty, $atomic:ty, $load:ident, $store:ident;)*) => {
        impl DmaMemory {
            $(
                #[doc = concat!("Loads the little-endian `", stringify!($ty),
                    "` at `offset` with acquire ordering: reads after it see what the writer ",
                    "wrote before its release store.")]
                #[inline]
                pub fn $load(&self, offset: usize) -> Result<$ty, DmaAccessError> {
                    let size = std::mem::size_of::<$ty>();
                    let p = self.check(offset, size, size)?;
                    // SAFETY: in bounds, naturally aligned, valid for the memory's lifetime, and
                    // only ever accessed through raw pointers, so viewing it as an atomic for
                    // this one load creates no conflicting reference.
                    let atomic = unsafe { <$atomic>::from_ptr(p.cast()) };
                    Ok(<$ty>::from_le(atomic.load(Ordering::Acquire)))
                }

                #[doc = concat!("Stores `value` as a little-endian `", stringify!($ty),
                    "` at `offset` with release ordering: a reader that acquires it sees ",
                    "everything written before.")]
                #[inline]
                pub fn $store(&self, offset: usize, value: $ty) -> Result<(), DmaAccessError> {
                    let size = std::mem::size_of::<$ty>();
                    let p = self.check(offset, size, size)?;
                    // SAFETY: as in the load above.
                    let atomic = unsafe { <$atomic>::from_ptr(p.cast()) };
                    atomic.store(value.to_le(), Ordering::Release);
                    Ok(())
                }
            )*
        }
    };
}

atomic_accessors! {
    u8, AtomicU8, load_acquire_u8, store_release_u8;
    u32, AtomicU32, load_acquire_u32, store_release_u32;
    u64, AtomicU64, load_acquire_u64, store_release_u64;
}

/// The device's view of a [`DmaRegion`]: an IOMMU mapping, a registration with a simulated
/// device's IOMMU, an entry in a fake's table.
pub trait DeviceMapping: Send + Sync {
    /// Revokes the device's access to the region's memory. Called exactly once, when the region
    /// is dropped, before the memory is freed.
    ///
    /// Returns `Err` with a description when the device may still reach the memory; the region
    /// then leaks the memory rather than free bytes a device can write.
    fn revoke(self: Box<Self>) -> Result<(), String>;
}

/// DMA memory mapped for a device: the memory, its IOVA (the address the device uses), and the
/// mapping that makes the IOVA reach the memory. Dereferences to [`DmaMemory`] for the
/// accessors.
pub struct DmaRegion {
    memory: Arc<DmaMemory>,
    iova: u64,
    mapping: Option<Box<dyn DeviceMapping>>,
}

impl fmt::Debug for DmaRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaRegion")
            .field("iova", &format_args!("{:#x}", self.iova))
            .field("len", &self.memory.len())
            .finish()
    }
}

impl DmaRegion {
    /// A region from memory a backend has mapped at `iova` for its device; `mapping` revokes
    /// that on drop.
    pub fn new(memory: Arc<DmaMemory>, iova: u64, mapping: Box<dyn DeviceMapping>) -> DmaRegion {
        DmaRegion {
            memory,
            iova,
            mapping: Some(mapping),
        }
    }

    /// The IOVA of the first byte: the address the device uses.
    #[inline]
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// The IOVA of the byte at `offset` (`offset` may be the length: the end address).
    #[inline]
    pub fn iova_at(&self, offset: usize) -> Result<u64, DmaAccessError> {
        if offset > self.memory.len() {
            return Err(DmaAccessError {
                offset,
                len: 0,
                region_len: self.memory.len(),
                kind: DmaAccessErrorKind::OutOfBounds,
            });
        }
        Ok(self.iova + offset as u64)
    }

    /// The memory, shared (a fake device keeps a handle to reach it).
    pub fn memory(&self) -> &Arc<DmaMemory> {
        &self.memory
    }
}

impl Deref for DmaRegion {
    type Target = DmaMemory;
    #[inline]
    fn deref(&self) -> &DmaMemory {
        &self.memory
    }
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        if let Some(mapping) = self.mapping.take()
            && let Err(why) = mapping.revoke()
        {
            // The device may still write this memory: never give it back to the allocator.
            eprintln!(
                "host-driver: could not revoke the device's mapping of DMA memory at IOVA {:#x} \
                 ({} bytes): {why}; leaking the memory so the device cannot corrupt reused memory",
                self.iova,
                self.memory.len()
            );
            std::mem::forget(Arc::clone(&self.memory));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn heap_memory_is_zeroed_and_round_trips_integers_little_endian() {
        let m = DmaMemory::heap(64);
        assert_eq!(m.len(), 64);
        assert_eq!(m.as_ptr() as usize % 8, 0);
        for off in (0..64).step_by(8) {
            assert_eq!(m.read_u64(off).unwrap(), 0);
        }
        m.write_u32(4, 0x1122_3344).unwrap();
        assert_eq!(m.read_u8(4).unwrap(), 0x44, "little-endian in memory");
        assert_eq!(m.read_u16(6).unwrap(), 0x1122);
        m.write_u64(8, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(m.read_u32(8).unwrap(), 0x0506_0708);
        m.write_u16(62, 0xabcd).unwrap();
        assert_eq!(m.read_u8(63).unwrap(), 0xab);
    }

    #[test]
    fn word_runs_match_single_words_and_are_checked() {
        let m = DmaMemory::heap(64);
        m.write_words(16, &[1, 2, 0x0102_0304_0506_0708]).unwrap();
        assert_eq!(m.read_u64(24).unwrap(), 2);
        assert_eq!(m.read_u8(32).unwrap(), 0x08, "little-endian");
        assert_eq!(
            m.read_words::<3>(16).unwrap(),
            [1, 2, 0x0102_0304_0506_0708]
        );
        assert_eq!(
            m.read_words::<2>(56).unwrap_err().kind,
            DmaAccessErrorKind::OutOfBounds
        );
        assert_eq!(
            m.write_words(4, &[0]).unwrap_err().kind,
            DmaAccessErrorKind::Misaligned
        );
        assert_eq!(m.read_words::<0>(64).unwrap(), []);
    }

    #[test]
    fn accessors_refuse_out_of_bounds_and_misaligned() {
        let m = DmaMemory::heap(16);
        assert_eq!(
            m.read_u64(16).unwrap_err().kind,
            DmaAccessErrorKind::OutOfBounds
        );
        assert_eq!(
            m.read_u64(12).unwrap_err().kind,
            DmaAccessErrorKind::OutOfBounds
        );
        assert_eq!(
            m.write_u32(2, 0).unwrap_err().kind,
            DmaAccessErrorKind::Misaligned
        );
        assert_eq!(
            m.load_acquire_u64(4).unwrap_err().kind,
            DmaAccessErrorKind::Misaligned
        );
        let mut buf = [0u8; 4];
        assert!(m.read_bytes(13, &mut buf).is_err());
        assert!(m.write_bytes(usize::MAX, &buf).is_err());
        assert!(m.fill(10, 7, 1).is_err());
        // Zero-length accesses at the end are fine.
        assert!(m.read_bytes(16, &mut []).is_ok());
    }

    #[test]
    fn byte_copies_handle_every_alignment_and_length() {
        let m = DmaMemory::heap(96);
        let pattern: Vec<u8> = (0..96u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(11))
            .collect();
        for start in 0..9 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 40] {
                m.fill(0, 96, 0).unwrap();
                m.write_bytes(start, &pattern[..len]).unwrap();
                let mut back = vec![0xffu8; len];
                m.read_bytes(start, &mut back).unwrap();
                assert_eq!(back, &pattern[..len], "start {start} len {len}");
                // Bytes around the copy are untouched.
                if start > 0 {
                    assert_eq!(m.read_u8(start - 1).unwrap(), 0);
                }
                assert_eq!(m.read_u8(start + len).unwrap(), 0);
            }
        }
    }

    #[test]
    fn acquire_release_accessors_publish_data() {
        let m = Arc::new(DmaMemory::heap(4096));
        let writer = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                m.write_bytes(64, b"completion entry").unwrap();
                m.store_release_u32(0, 1).unwrap();
            })
        };
        while m.load_acquire_u32(0).unwrap() != 1 {
            std::hint::spin_loop();
        }
        let mut entry = [0u8; 16];
        m.read_bytes(64, &mut entry).unwrap();
        assert_eq!(&entry, b"completion entry");
        writer.join().unwrap();
        m.store_release_u8(7, 0x80).unwrap();
        assert_eq!(m.load_acquire_u8(7).unwrap(), 0x80);
        m.store_release_u64(8, u64::MAX - 1).unwrap();
        assert_eq!(m.load_acquire_u64(8).unwrap(), u64::MAX - 1);
    }

    #[test]
    fn slices_see_the_same_bytes() {
        let m = DmaMemory::heap(32);
        m.write_bytes(3, b"abc").unwrap();
        // SAFETY: no device and no other thread touches this memory.
        let s = unsafe { m.slice(3, 3) }.unwrap();
        assert_eq!(s, b"abc");
        // SAFETY: as above, and `s` is no longer used.
        let sm = unsafe { m.slice_mut(0, 2) }.unwrap();
        sm.copy_from_slice(b"xy");
        assert_eq!(m.read_u16(0).unwrap(), u16::from_le_bytes(*b"xy"));
        // SAFETY: nothing is dereferenced for an out-of-bounds request.
        assert!(unsafe { m.slice(30, 3) }.is_err());
    }

    struct CountingMapping {
        revoked: Arc<AtomicUsize>,
        fail: bool,
    }

    impl DeviceMapping for CountingMapping {
        fn revoke(self: Box<Self>) -> Result<(), String> {
            self.revoked.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                Err("still mapped".into())
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn dropping_a_region_revokes_before_freeing_and_leaks_on_failure() {
        let revoked = Arc::new(AtomicUsize::new(0));
        let memory = Arc::new(DmaMemory::heap(4096));
        let watch = Arc::downgrade(&memory);
        let region = DmaRegion::new(
            memory,
            0x20_0000,
            Box::new(CountingMapping {
                revoked: Arc::clone(&revoked),
                fail: false,
            }),
        );
        assert_eq!(region.iova(), 0x20_0000);
        assert_eq!(region.iova_at(4096).unwrap(), 0x20_1000);
        assert!(region.iova_at(4097).is_err());
        region.write_u32(0, 5).unwrap();
        drop(region);
        assert_eq!(revoked.load(Ordering::SeqCst), 1);
        assert!(watch.upgrade().is_none(), "memory freed after revoke");

        let memory = Arc::new(DmaMemory::heap(64));
        let watch = Arc::downgrade(&memory);
        let region = DmaRegion::new(
            memory,
            0x1000,
            Box::new(CountingMapping {
                revoked: Arc::clone(&revoked),
                fail: true,
            }),
        );
        drop(region);
        assert_eq!(revoked.load(Ordering::SeqCst), 2);
        let leaked = watch.upgrade().expect("memory must leak when revoke fails");
        // Reclaim it so the test itself leaks nothing (leak checkers run these tests).
        let leaked_ptr = Arc::into_raw(leaked);
        // SAFETY: two strong counts exist (the forgotten clone and the one just made); give both
        // back so the memory is freed.
        unsafe {
            Arc::decrement_strong_count(leaked_ptr);
            drop(Arc::from_raw(leaked_ptr));
        }
        assert!(watch.upgrade().is_none());
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot mmap shared or populated memory")]
    fn anonymous_memory_maps_and_hugepage_sizes_are_checked() {
        let m = DmaMemory::anonymous(8192).unwrap();
        assert_eq!(m.as_ptr() as usize % 4096, 0);
        m.write_u64(8184, 7).unwrap();
        assert_eq!(m.read_u64(8184).unwrap(), 7);
        let err = DmaMemory::hugepages_2m(4096).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
