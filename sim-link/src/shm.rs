//! The only `unsafe` of sim-link: mapping shared-memory files, atomics and byte copies on the
//! mapped memory, and the futex calls.
//!
//! Owns [`SharedRegion`] (one `MAP_SHARED` mapping of a file or a memfd, unmapped on drop) and
//! [`futex_wait`] / [`futex_wake`]. Every other module of the crate builds on this safe API and
//! never sees a raw pointer. This module knows no layout: offsets come from the caller and are
//! checked here (a bad offset is a typed [`RangeError`] for byte copies, a panic for the atomic
//! accessors, whose offsets are layout constants).
//!
//! Memory model. The other side of a mapping is another thread or another process this program
//! does not control, possibly a buggy one. Therefore:
//! - no Rust reference to plain bytes of a mapping is ever created: bytes are copied in and out
//!   with `copy_nonoverlapping` between the mapping and memory this process owns, so a concurrent
//!   writer can at worst produce torn *data*, never undefined behaviour in the copy's caller;
//! - words used for synchronisation are accessed only as atomics (both sides do so by protocol),
//!   and ordering between bulk bytes and those words comes from Release/Acquire on the words;
//! - futexes are the shared (not `FUTEX_PRIVATE`) kind, so they work between processes that map
//!   the same file.
//!
//! Every `unsafe` block here runs under valgrind's memcheck in `tests/unsafe_under_valgrind.rs`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64};
use std::time::Duration;

/// A byte range outside a shared region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeError {
    /// First byte asked for.
    pub offset: u64,
    /// Bytes asked for.
    pub len: u64,
    /// Size of the region.
    pub region_len: u64,
}

impl std::fmt::Display for RangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bytes {:#x}..{:#x} are outside a shared region of {:#x} bytes",
            self.offset,
            self.offset.saturating_add(self.len),
            self.region_len
        )
    }
}

impl std::error::Error for RangeError {}

/// One shared mapping (`MAP_SHARED`, read and write) of a whole file or memfd.
///
/// Several processes (or several mappings in one process) that map the same file see the same
/// bytes. The mapping stays valid until the region is dropped, whatever happens to the file.
pub struct SharedRegion {
    base: NonNull<u8>,
    len: usize,
    path: PathBuf,
    file: File,
}

// SAFETY: the region owns its mapping and its file descriptor; the mapping is not tied to a
// thread, and all access through `&self` goes through atomics or bounds-checked copies that are
// sound under concurrent access (see the module documentation).
unsafe impl Send for SharedRegion {}
// SAFETY: as above; `&SharedRegion` only offers atomics and copies, both fine from many threads.
unsafe impl Sync for SharedRegion {}

impl std::fmt::Debug for SharedRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRegion")
            .field("path", &self.path)
            .field("len", &self.len)
            .finish()
    }
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl SharedRegion {
    /// Creates the file at `path` with `len` zero bytes and maps it. An existing file there is
    /// replaced, never truncated: the new file is made under a temporary name beside it and
    /// renamed over it, so whoever still maps the old file keeps all of it (a file truncated
    /// under a mapping raises `SIGBUS` in every process that touches the lost pages).
    pub fn create(path: &Path, len: usize) -> io::Result<SharedRegion> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let made = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| with_path(e, "cannot create", &tmp))
            .and_then(|file| {
                file.set_len(len as u64)
                    .map_err(|e| with_path(e, "cannot size", &tmp))?;
                std::fs::rename(&tmp, path).map_err(|e| with_path(e, "cannot create", path))?;
                Ok(file)
            });
        let file = made.inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Self::map(file, len, path.to_path_buf())
    }

    /// Maps the whole of an existing file.
    pub fn open(path: &Path) -> io::Result<SharedRegion> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| with_path(e, "cannot open", path))?;
        let len = file
            .metadata()
            .map_err(|e| with_path(e, "cannot stat", path))?
            .len();
        let len = usize::try_from(len).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is too large to map", path.display()),
            )
        })?;
        Self::map(file, len, path.to_path_buf())
    }

    /// Creates an anonymous shared-memory file (memfd) of `len` zero bytes, sealed against
    /// shrinking and growing (no mapping of it can ever reach past its end), and maps it.
    ///
    /// Its [`path`](Self::path) is `/proc/<pid>/fd/<fd>`: other processes of the same user (and
    /// this one) can [`open`](Self::open) it while this region lives.
    pub fn anonymous(name: &str, len: usize) -> io::Result<SharedRegion> {
        let cname = std::ffi::CString::new(name.replace('\0', "_"))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `cname` is a valid NUL-terminated string; memfd_create has no other inputs.
        let fd = unsafe {
            libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("memfd_create({name}) failed: {e}"),
            ));
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(len as u64)?;
        // Its size is fixed for good: no mapping of it, here or in another process, can ever
        // reach past its end.
        // SAFETY: F_ADD_SEALS with seal constants on the memfd just created (open for writing).
        if unsafe {
            libc::fcntl(
                fd,
                libc::F_ADD_SEALS,
                libc::F_SEAL_SHRINK | libc::F_SEAL_GROW,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        let path = PathBuf::from(format!("/proc/{}/fd/{fd}", std::process::id()));
        Self::map(file, len, path)
    }

    fn map(file: File, len: usize, path: PathBuf) -> io::Result<SharedRegion> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is empty: nothing to map", path.display()),
            ));
        }
        // SAFETY: a fresh mapping chosen by the kernel (no fixed address), of a file descriptor
        // we own and keep open for the mapping's lifetime; nothing is aliased yet.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(with_path(e, "cannot mmap", &path));
        }
        let base = NonNull::new(ptr.cast::<u8>()).expect("mmap never returns NULL on success");
        Ok(SharedRegion {
            base,
            len,
            path,
            file,
        })
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: empty regions cannot be mapped.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The path another mapping can open (a file path, or `/proc/<pid>/fd/<fd>` for a memfd).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file behind the mapping.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Checks that `len` bytes at `offset` lie inside the region.
    #[inline]
    pub fn check(&self, offset: u64, len: u64) -> Result<(), RangeError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len as u64 => Ok(()),
            _ => Err(RangeError {
                offset,
                len,
                region_len: self.len as u64,
            }),
        }
    }

    #[inline]
    fn atomic_ptr(&self, offset: usize, size: usize) -> *mut u8 {
        assert!(
            offset % size == 0 && offset.checked_add(size).is_some_and(|e| e <= self.len),
            "atomic access of {size} bytes at {offset:#x} is unaligned or outside {} ({:#x} bytes)",
            self.path.display(),
            self.len
        );
        // SAFETY: offset + size <= len (checked above), so the result stays inside the mapping.
        unsafe { self.base.as_ptr().add(offset) }
    }

    /// The 32-bit word at `offset` as an atomic.
    ///
    /// # Panics
    /// Panics if `offset` is not 4-byte aligned or the word is outside the region (offsets are
    /// layout constants, so this is a bug of the caller).
    #[inline]
    pub fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        let p = self.atomic_ptr(offset, 4);
        // SAFETY: `p` is 4-byte aligned (mmap returns page-aligned memory and offset % 4 == 0),
        // inside the mapping, and valid for as long as `&self`. AtomicU32 has the size and
        // alignment of u32 and permits shared mutation, which is what the other side does.
        unsafe { &*p.cast::<AtomicU32>() }
    }

    /// The 64-bit word at `offset` as an atomic.
    ///
    /// # Panics
    /// As [`atomic_u32`](Self::atomic_u32), with 8-byte alignment.
    #[inline]
    pub fn atomic_u64(&self, offset: usize) -> &AtomicU64 {
        let p = self.atomic_ptr(offset, 8);
        // SAFETY: as in `atomic_u32`, for an 8-byte aligned 8-byte word.
        unsafe { &*p.cast::<AtomicU64>() }
    }

    /// The byte at `offset` as an atomic.
    ///
    /// # Panics
    /// Panics if `offset` is outside the region.
    #[inline]
    pub fn atomic_u8(&self, offset: usize) -> &AtomicU8 {
        let p = self.atomic_ptr(offset, 1);
        // SAFETY: as in `atomic_u32`, for one byte (always aligned).
        unsafe { &*p.cast::<AtomicU8>() }
    }

    /// Copies `buf.len()` bytes at `offset` out of the region.
    #[inline]
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), RangeError> {
        self.check(offset, buf.len() as u64)?;
        // SAFETY: the source range is inside the mapping (checked), the destination is a
        // distinct buffer this process owns, so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset as usize),
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        Ok(())
    }

    /// Copies `data` into the region at `offset`.
    #[inline]
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), RangeError> {
        self.check(offset, data.len() as u64)?;
        // SAFETY: the destination range is inside the mapping (checked); `data` is memory this
        // process owns and cannot overlap a mapping it only reaches through raw pointers.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.base.as_ptr().add(offset as usize),
                data.len(),
            );
        }
        Ok(())
    }

    /// Sets `len` bytes at `offset` to `byte`.
    pub fn fill(&self, offset: u64, len: u64, byte: u8) -> Result<(), RangeError> {
        self.check(offset, len)?;
        // SAFETY: the range is inside the mapping (checked).
        unsafe {
            std::ptr::write_bytes(self.base.as_ptr().add(offset as usize), byte, len as usize);
        }
        Ok(())
    }

    /// Makes sure the file behind the mapping can never become shorter than the mapping, so no
    /// access to the mapping can raise `SIGBUS` whatever the other side does to the file. Ok
    /// when the file is sealed against shrinking (`F_SEAL_SHRINK`); when that seal can still be
    /// added (a memfd created with sealing allowed), adds it. Otherwise (a regular file, or a
    /// memfd whose seals are closed without it) fails with `EPERM`; so does a file that is
    /// already shorter than the mapping.
    pub fn seal_against_shrinking(&self) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        let refuse = |why: String| {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} {why}: a file that can shrink under a mapping crashes the process that \
                     maps it (SIGBUS); use a memfd sealed against shrinking (F_SEAL_SHRINK)",
                    self.path.display()
                ),
            )
        };
        // SAFETY: F_GET_SEALS on a descriptor this region owns; it takes no argument and only
        // reads the file's seals.
        let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
        if seals < 0 {
            let e = io::Error::last_os_error();
            return Err(refuse(format!("cannot be sealed ({e}): only memfds can")));
        }
        if seals & libc::F_SEAL_SHRINK == 0 {
            if seals & libc::F_SEAL_SEAL != 0 {
                return Err(refuse(
                    "is a memfd whose seals are closed without F_SEAL_SHRINK".into(),
                ));
            }
            // SAFETY: F_ADD_SEALS with a seal constant on a descriptor this region owns (open
            // for writing, as the call requires); it changes no byte of the file.
            if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_SHRINK) } < 0 {
                let e = io::Error::last_os_error();
                return Err(refuse(format!("cannot be sealed against shrinking ({e})")));
            }
        }
        // The file may have shrunk between its mapping and the seal.
        let now = self
            .file
            .metadata()
            .map_err(|e| with_path(e, "cannot stat", &self.path))?
            .len();
        if now < self.len as u64 {
            return Err(refuse(format!(
                "shrank to {now} bytes under a mapping of {}",
                self.len
            )));
        }
        Ok(())
    }

    /// Faults in every page of the mapping now (`MADV_POPULATE_WRITE`), allocating what the
    /// file does not have yet, so later accesses take no page faults: what pinning DMA memory
    /// does for a device. Contents are unchanged. Fails on kernels older than 5.14 (`EINVAL`)
    /// and when memory runs out (`ENOMEM`); callers may go on without it.
    pub fn populate(&self) -> io::Result<()> {
        // SAFETY: `base`/`len` describe this live mapping; MADV_POPULATE_WRITE only faults
        // pages in (as writes of their current contents would), it changes no byte.
        let r = unsafe {
            libc::madvise(
                self.base.as_ptr().cast(),
                self.len,
                libc::MADV_POPULATE_WRITE,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(with_path(
                io::Error::last_os_error(),
                "cannot populate",
                &self.path,
            ))
        }
    }

    /// The start of the mapping, for code that builds its own zero-copy views.
    ///
    /// Getting the pointer is safe; using it is the caller's `unsafe` business: the memory is
    /// shared with another party that may write it at any time (see the module documentation),
    /// and it is valid only while this region lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` describe the mapping created in `map`, and no reference into it
        // can outlive `self` (every accessor borrows `self`).
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// How a [`futex_wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutexWait {
    /// Woken by [`futex_wake`] (or spuriously): re-check the condition.
    Woken,
    /// The word no longer held the expected value when the call started.
    Changed,
    /// The timeout elapsed.
    TimedOut,
}

/// Sleeps while `word` holds `expected`, at most `timeout` (forever when `None`).
///
/// The word may live in a shared mapping; wakers in other processes reach it through their own
/// mapping of the same file.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call; `ts_ptr` is NULL or
    // points to a timespec that outlives the call. FUTEX_WAIT only reads both.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return FutexWait::Woken;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => FutexWait::Changed,
        Some(libc::ETIMEDOUT) => FutexWait::TimedOut,
        // EINTR: a signal; the caller re-checks its condition like after a wake.
        _ => FutexWait::Woken,
    }
}

/// Wakes up to `count` threads (in any process) sleeping in [`futex_wait`] on `word`. Returns
/// how many were woken.
pub fn futex_wake(word: &AtomicU32, count: u32) -> u32 {
    let n = count.min(i32::MAX as u32) as i32;
    // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE does not access memory through it
    // beyond using its address as the wait-queue key.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    fn temp_path(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("sim-link-shm-{tag}-{}", std::process::id()))
    }

    #[test]
    fn two_mappings_of_one_file_share_bytes_and_atomics() {
        let path = temp_path("share");
        let a = SharedRegion::create(&path, 8192).unwrap();
        let b = SharedRegion::open(&path).unwrap();
        assert_eq!(b.len(), 8192);
        a.write(100, b"hello").unwrap();
        let mut buf = [0u8; 5];
        b.read(100, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        a.atomic_u32(4096).store(0xDEAD_BEEF, Ordering::Release);
        assert_eq!(b.atomic_u32(4096).load(Ordering::Acquire), 0xDEAD_BEEF);
        a.atomic_u64(8).store(u64::MAX - 1, Ordering::Release);
        assert_eq!(b.atomic_u64(8).load(Ordering::Acquire), u64::MAX - 1);
        b.fill(100, 5, 0xAA).unwrap();
        a.read(100, &mut buf).unwrap();
        assert_eq!(buf, [0xAA; 5]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn memfd_is_reopenable_by_its_proc_path() {
        let a = SharedRegion::anonymous("test", 4096).unwrap();
        assert!(a.path().starts_with("/proc"));
        let b = SharedRegion::open(a.path()).unwrap();
        a.atomic_u8(4095).store(7, Ordering::Release);
        assert_eq!(b.atomic_u8(4095).load(Ordering::Acquire), 7);
    }

    /// Populating faults pages in without changing a byte, in this mapping or in another
    /// mapping of the same memfd (the kernels this project runs on have MADV_POPULATE_WRITE).
    #[test]
    fn populate_keeps_the_contents_of_both_mappings() {
        let a = SharedRegion::anonymous("populate", 3 * 4096 + 100).unwrap();
        a.write(4096 + 7, b"pinned").unwrap();
        let b = SharedRegion::open(a.path()).unwrap();
        b.populate().unwrap();
        a.populate().unwrap();
        let mut got = [0u8; 6];
        b.read(4096 + 7, &mut got).unwrap();
        assert_eq!(&got, b"pinned");
        let mut rest = vec![1u8; 3 * 4096 + 100];
        a.read(0, &mut rest).unwrap();
        assert_eq!(
            rest.iter().filter(|&&x| x != 0).count(),
            6,
            "zeros stay zeros"
        );
    }

    #[test]
    fn out_of_range_copies_are_errors() {
        let a = SharedRegion::anonymous("range", 4096).unwrap();
        let mut buf = [0u8; 16];
        assert!(a.read(4090, &mut buf).is_err());
        assert!(a.write(u64::MAX - 2, &buf).is_err());
        assert!(a.fill(4096, 1, 0).is_err());
        assert!(a.read(4080, &mut buf).is_ok());
        let e = a.check(4095, 2).unwrap_err();
        assert_eq!(e.region_len, 4096);
        assert!(e.to_string().contains("0xfff"));
    }

    #[test]
    #[should_panic(expected = "unaligned")]
    fn unaligned_atomic_panics() {
        let a = SharedRegion::anonymous("align", 4096).unwrap();
        let _ = a.atomic_u32(2);
    }

    #[test]
    fn open_of_missing_file_names_the_path() {
        let e = SharedRegion::open(Path::new("/nonexistent/sim-link-x")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/sim-link-x"), "{e}");
    }

    #[test]
    fn futex_wakes_a_sleeper_through_another_mapping() {
        let a = Arc::new(SharedRegion::anonymous("futex", 4096).unwrap());
        let b = SharedRegion::open(a.path()).unwrap();
        let a2 = Arc::clone(&a);
        let sleeper = std::thread::spawn(move || {
            let w = a2.atomic_u32(64);
            let start = Instant::now();
            while w.load(Ordering::Acquire) == 0 {
                futex_wait(w, 0, Some(Duration::from_secs(10)));
            }
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(20));
        b.atomic_u32(64).store(1, Ordering::Release);
        // Wake until the sleeper has left (it may not have reached the wait yet).
        while !sleeper.is_finished() {
            futex_wake(b.atomic_u32(64), 1);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(sleeper.join().unwrap() < Duration::from_secs(10));
    }

    #[test]
    fn futex_wait_reports_changed_and_timeout() {
        let a = SharedRegion::anonymous("futex2", 4096).unwrap();
        let w = a.atomic_u32(0);
        w.store(5, Ordering::Release);
        assert_eq!(futex_wait(w, 4, None), FutexWait::Changed);
        assert_eq!(
            futex_wait(w, 5, Some(Duration::from_millis(1))),
            FutexWait::TimedOut
        );
    }
}
