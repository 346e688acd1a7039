//! Every raw system call of the crate, each in one `unsafe` block with its `SAFETY:` argument
//! and a `Result` out. Linux only, `std` only. The TAP device (`tap`), the namespace helpers and
//! the table's heap constructors call these; nothing else in the crate uses `unsafe`.
//!
//! Owns: `/dev/net/tun` ioctls (`TUNSETIFF`, `TUNSETVNETHDRSZ`, `TUNSETOFFLOAD`), interface
//! flag ioctls, non-blocking `read`/`write`, `poll`, `setns`, and the `madvise` huge-page hint.
//! Must not hold policy: callers decide what to do with errors. Every `unsafe` block here runs
//! under valgrind's memcheck in `tests/unsafe_under_valgrind.rs` (success and error paths).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// `errno` of the last failed call as an `io::Error`.
fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// Interface names are at most 15 bytes plus the terminating NUL.
const IFNAMSIZ: usize = libc::IFNAMSIZ;

fn ifreq_named(name: &CStr) -> libc::ifreq {
    // SAFETY: `ifreq` is a plain C struct of integers, arrays and a union of such; all-zero
    // bytes are a valid value of every field.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.to_bytes();
    debug_assert!(bytes.len() < IFNAMSIZ, "name length checked by the caller");
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    req
}

/// `ioctl(fd, TUNSETIFF, {name, flags})`: attach the tun fd to interface `name` (created if
/// absent) with `flags`. Returns the name the kernel chose (it fills in `%d` patterns).
pub(crate) fn tun_set_iff(
    fd: BorrowedFd<'_>,
    name: &CStr,
    flags: libc::c_short,
) -> io::Result<String> {
    let mut req = ifreq_named(name);
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: `fd` is an open descriptor (borrowed for the call); TUNSETIFF reads and writes one
    // `struct ifreq`, and `req` is a valid, exclusively borrowed `ifreq` for the whole call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETIFF,
            &mut req as *mut libc::ifreq,
        )
    };
    if rc < 0 {
        return Err(last_error());
    }
    let name: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&name).into_owned())
}

/// `ioctl(fd, TUNSETVNETHDRSZ, &size)`.
pub(crate) fn tun_set_vnet_hdr_size(fd: BorrowedFd<'_>, size: libc::c_int) -> io::Result<()> {
    // SAFETY: TUNSETVNETHDRSZ reads one `int` through the pointer; `size` lives on our stack for
    // the duration of the call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETVNETHDRSZ,
            &size as *const libc::c_int,
        )
    };
    if rc < 0 { Err(last_error()) } else { Ok(()) }
}

/// `ioctl(fd, TUNSETOFFLOAD, flags)`: which offloads the reader accepts (`TUN_F_*`).
pub(crate) fn tun_set_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned long), no memory is
    // accessed through it.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(flags),
        )
    };
    if rc < 0 { Err(last_error()) } else { Ok(()) }
}

/// A new `AF_INET` datagram socket (unbound), for interface ioctls in the calling thread's
/// network namespace.
pub(crate) fn inet_control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes three integers and returns a new descriptor or -1; no memory is
    // passed.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(last_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets `IFF_UP` on interface `name` in the calling thread's network namespace, through the
/// socket `sock` (any `AF_INET` datagram socket).
pub(crate) fn set_interface_up(sock: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let mut req = ifreq_named(name);
    // SAFETY: SIOCGIFFLAGS reads the name from and writes the flags into `req`, a valid and
    // exclusively borrowed `ifreq`.
    if unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut libc::ifreq,
        )
    } < 0
    {
        return Err(last_error());
    }
    // SAFETY: the kernel filled `ifru_flags` above; reading a `c_short` from the union is valid
    // for any bit pattern.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads name and flags from `req`, valid for the call.
    if unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &mut req as *mut libc::ifreq,
        )
    } < 0
    {
        return Err(last_error());
    }
    Ok(())
}

/// Runs a read/write-like call until it is not interrupted: `Ok(Some(n))` on success,
/// `Ok(None)` on `EAGAIN`.
fn retry_io(mut call: impl FnMut() -> isize) -> io::Result<Option<usize>> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let err = last_error();
        match err.kind() {
            io::ErrorKind::WouldBlock => return Ok(None),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(err),
        }
    }
}

/// `read(fd, buf)`; `Ok(None)` when the non-blocking descriptor has nothing (`EAGAIN`).
pub(crate) fn read_nonblocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid, exclusively borrowed byte buffer of `buf.len()` bytes; the
    // kernel writes at most that many.
    retry_io(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(fd, buf)`; `Ok(None)` on `EAGAIN`.
pub(crate) fn write_nonblocking(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<Option<usize>> {
    // SAFETY: `buf` is a valid byte buffer of `buf.len()` bytes; the kernel only reads it.
    retry_io(|| unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Waits until `fd` is readable or `timeout` passes (`None`: forever). Returns whether it is
/// readable. An interrupted wait returns `Ok(false)` (the caller polls again).
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = match timeout {
        None => -1,
        // Round up so a 100 us timeout does not become a busy 0 ms poll.
        Some(t) => t.as_micros().div_ceil(1000).min(libc::c_int::MAX as u128) as libc::c_int,
    };
    // SAFETY: `pfd` is one valid `pollfd`, exclusively borrowed for the call; nfds is 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        let err = last_error();
        return if err.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(err)
        };
    }
    if pfd.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err(io::Error::other(format!(
            "poll reported an error condition (revents {:#x})",
            pfd.revents
        )));
    }
    Ok(rc > 0 && pfd.revents & (libc::POLLIN | libc::POLLHUP) != 0)
}

/// `setns(fd, CLONE_NEWNET)`: moves the calling thread into the network namespace `fd` names.
pub(crate) fn enter_net_namespace(fd: RawFd) -> io::Result<()> {
    // SAFETY: setns only reads its two integer arguments; an invalid fd is reported as EBADF.
    // It changes the namespace of the calling thread only.
    let rc = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
    if rc < 0 { Err(last_error()) } else { Ok(()) }
}

/// Asks the kernel to back `bytes` with transparent huge pages (`madvise(MADV_HUGEPAGE)` on the
/// 2 MiB-aligned part of it). A hint: big tables then cost one TLB entry per 2 MiB instead of
/// per 4 KiB. Failure (no THP support) changes nothing and is ignored by callers.
pub(crate) fn advise_huge_pages<T>(bytes: &mut [T]) -> io::Result<()> {
    const HUGE: usize = 2 << 20;
    let start = bytes.as_mut_ptr() as usize;
    let end = start + std::mem::size_of_val(bytes);
    let aligned_start = start.next_multiple_of(HUGE);
    let aligned_end = end & !(HUGE - 1);
    if aligned_end <= aligned_start {
        return Ok(());
    }
    // SAFETY: the range lies inside `bytes`, memory we exclusively borrow; MADV_HUGEPAGE only
    // changes how the kernel backs the pages, never their contents or validity.
    let rc = unsafe {
        libc::madvise(
            aligned_start as *mut libc::c_void,
            aligned_end - aligned_start,
            libc::MADV_HUGEPAGE,
        )
    };
    if rc < 0 { Err(last_error()) } else { Ok(()) }
}
