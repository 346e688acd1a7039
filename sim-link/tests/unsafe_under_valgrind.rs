//! Runs every `unsafe` block of `sim_link::shm` natively, then again under valgrind's memcheck
//! (which fails the test on any invalid read or write, use of uninitialised memory, or definite
//! leak): file-backed and memfd mappings (`mmap`, `munmap` on drop, `memfd_create`, the seals of
//! `anonymous`), a second mapping of the same memory, the atomics and byte copies at the edges
//! of a region and their range errors, every path of `seal_against_shrinking` (`F_GET_SEALS`,
//! `F_ADD_SEALS`, the refusals), `populate` (`madvise`), and the futex wait (woken, changed,
//! timed out) and wake.
//!
//! Re-executes itself under valgrind through `testsupport/under_valgrind.rs`.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sim_link::SharedRegion;
use sim_link::shm::{FutexWait, futex_wait, futex_wake};

#[path = "../../testsupport/under_valgrind.rs"]
mod under_valgrind;
use under_valgrind::{Exercise, check, text};

/// Copies, fills and atomics at the first and last bytes of `a`, read back through `b` (another
/// mapping of the same memory), and the range errors one byte past the end.
fn edges(a: &SharedRegion, b: &SharedRegion) -> Result<(), String> {
    let n = a.len();
    let n64 = n as u64;
    let pattern: Vec<u8> = (0..41u8).map(|x| x.wrapping_mul(37) ^ 0x5a).collect();
    for start in [0, 1, 7, n - 41, n - 40] {
        for len in [0usize, 1, 8, 17, 41] {
            if start + len > n {
                continue;
            }
            a.fill(start as u64, len as u64, 0xcc).map_err(text)?;
            a.write(start as u64, &pattern[..len]).map_err(text)?;
            let mut back = vec![0u8; len];
            b.read(start as u64, &mut back).map_err(text)?;
            check(back == pattern[..len], "bytes through the second mapping")?;
        }
    }
    b.fill(n64 - 3, 3, 0xee).map_err(text)?;
    let mut tail = [0u8; 3];
    a.read(n64 - 3, &mut tail).map_err(text)?;
    check(tail == [0xee; 3], "fill at the end")?;
    let mut buf = [0u8; 2];
    check(a.read(n64 - 1, &mut buf).is_err(), "read past the end")?;
    check(a.write(n64, &[1]).is_err(), "write at the end")?;
    check(a.write(u64::MAX, &[1]).is_err(), "write at u64::MAX")?;
    check(a.fill(n64 - 1, 2, 0).is_err(), "fill past the end")?;
    check(
        a.read(0, &mut vec![0u8; n + 1]).is_err(),
        "read longer than the region",
    )?;
    let last32 = (n - 4) & !3;
    let last64 = (n - 8) & !7;
    a.atomic_u32(last32).store(0xdead_beef, Ordering::Release);
    a.atomic_u64(0).store(u64::MAX - 5, Ordering::Release);
    a.atomic_u8(n - 1).store(0x42, Ordering::Release);
    check(
        b.atomic_u32(last32).load(Ordering::Acquire) == 0xdead_beef
            && b.atomic_u64(0).fetch_add(1, Ordering::AcqRel) == u64::MAX - 5
            && a.atomic_u64(0).load(Ordering::Acquire) == u64::MAX - 4
            && b.atomic_u8(n - 1).load(Ordering::Acquire) == 0x42,
        "atomics through the second mapping",
    )?;
    b.atomic_u64(last64).store(7, Ordering::Release);
    check(
        a.atomic_u64(last64).load(Ordering::Acquire) == 7,
        "last u64",
    )?;
    let outside = under_valgrind::panics(|| a.atomic_u32(n));
    let unaligned = under_valgrind::panics(|| a.atomic_u64(4));
    check(
        outside && unaligned,
        "bad atomic offsets panic before any access",
    )
}

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sim-link-valgrind-{tag}-{}", std::process::id()))
}

fn file_mappings() -> Result<(), String> {
    let path = temp_path("file");
    let result = (|| -> Result<(), String> {
        // An odd length: the last page is partial.
        let a = SharedRegion::create(&path, 3 * 4096 + 13).map_err(text)?;
        let b = SharedRegion::open(&path).map_err(text)?;
        check(
            b.len() == a.len() && !b.is_empty(),
            "second mapping's length",
        )?;
        edges(&a, &b)?;
        // Re-creating replaces the file; the old mappings keep the old bytes.
        a.write(5, b"old").map_err(text)?;
        let c = SharedRegion::create(&path, 4096).map_err(text)?;
        let mut got = [0u8; 3];
        b.read(5, &mut got).map_err(text)?;
        check(&got == b"old", "old mapping kept after re-create")?;
        c.read(5, &mut got).map_err(text)?;
        check(got == [0; 3], "new file starts zeroed")?;
        // A regular file cannot be sealed: refused before any access could SIGBUS.
        refused(&a, "only memfds", "regular-file refusal says why")?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&path);
    result?;
    let empty = temp_path("empty");
    File::create(&empty).map_err(text)?;
    let e = SharedRegion::open(&empty).err();
    let _ = std::fs::remove_file(&empty);
    check(
        e.is_some_and(|e| e.to_string().contains("nothing to map")),
        "an empty file is refused",
    )?;
    check(
        SharedRegion::open(&temp_path("missing")).is_err(),
        "a missing file is refused",
    )
}

fn memfd_mappings_and_seals() -> Result<(), String> {
    let a = SharedRegion::anonymous("valgrind\0memfd", 2 * 4096 + 1).map_err(text)?;
    let b = SharedRegion::open(a.path()).map_err(text)?;
    edges(&a, &b)?;
    // `anonymous` sealed it against shrinking and growing.
    a.seal_against_shrinking().map_err(text)?;
    check(
        a.file().set_len(4096).is_err() && b.file().set_len(1 << 20).is_err(),
        "sealed against shrinking and growing",
    )?;
    a.populate().map_err(text)?;
    b.populate().map_err(text)?;
    let mut back = [0u8; 1];
    b.read(0, &mut back).map_err(text)?;
    check(
        back[0] == a.atomic_u8(0).load(Ordering::Acquire),
        "populate keeps bytes",
    )?;
    check(
        SharedRegion::anonymous("empty", 0).is_err(),
        "empty memfd refused",
    )
}

/// `seal_against_shrinking` refuses `r` with an error containing `why`.
fn refused(r: &SharedRegion, why: &str, what: &str) -> Result<(), String> {
    match r.seal_against_shrinking() {
        Ok(()) => Err(format!("exercise failed: {what}: sealing was accepted")),
        Err(e) => check(e.to_string().contains(why), &format!("{what}: {e}")),
    }
}

fn proc_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn seals_added_and_refused() -> Result<(), String> {
    use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, fcntl_get_seals, memfd_create};
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // Sealing allowed, no seal yet: the seal is added.
    let fd = File::from(memfd_create("open-seals", flags).map_err(text)?);
    fd.set_len(8192).map_err(text)?;
    let r = SharedRegion::open(&proc_path(&fd)).map_err(text)?;
    r.seal_against_shrinking().map_err(text)?;
    check(
        fcntl_get_seals(fd.as_fd())
            .map_err(text)?
            .contains(SealFlags::SHRINK),
        "F_SEAL_SHRINK added",
    )?;
    check(fd.set_len(4096).is_err(), "the file can no longer shrink")?;
    // Seals closed without SHRINK: refused.
    let closed = File::from(memfd_create("closed-seals", flags).map_err(text)?);
    closed.set_len(4096).map_err(text)?;
    fcntl_add_seals(closed.as_fd(), SealFlags::SEAL).map_err(text)?;
    let r = SharedRegion::open(&proc_path(&closed)).map_err(text)?;
    refused(
        &r,
        "closed without F_SEAL_SHRINK",
        "closed-seals refusal says why",
    )?;
    // Shrunk under the mapping before the seal: refused (and no page past the end touched).
    let shrunk = File::from(memfd_create("shrunk", flags).map_err(text)?);
    shrunk.set_len(8192).map_err(text)?;
    let r = SharedRegion::open(&proc_path(&shrunk)).map_err(text)?;
    shrunk.set_len(4096).map_err(text)?;
    refused(&r, "shrank to 4096", "shrunk refusal says why")?;
    r.write(0, b"first page still mapped").map_err(text)
}

fn futexes() -> Result<(), String> {
    let a = Arc::new(SharedRegion::anonymous("futex", 4096).map_err(text)?);
    let b = SharedRegion::open(a.path()).map_err(text)?;
    let w = a.atomic_u32(64);
    w.store(5, Ordering::Release);
    check(futex_wait(w, 4, None) == FutexWait::Changed, "changed")?;
    check(
        futex_wait(w, 5, Some(Duration::from_millis(2))) == FutexWait::TimedOut,
        "timed out",
    )?;
    check(futex_wake(w, 1) == 0, "no sleeper to wake")?;
    let a2 = Arc::clone(&a);
    let sleeper = std::thread::spawn(move || {
        let w = a2.atomic_u32(64);
        let mut outcomes = Vec::new();
        a2.atomic_u32(128).store(1, Ordering::Release);
        while w.load(Ordering::Acquire) == 5 {
            outcomes.push(futex_wait(w, 5, Some(Duration::from_secs(20))));
        }
        outcomes
    });
    let start = Instant::now();
    // Let the sleeper reach its wait (it announces itself just before).
    while b.atomic_u32(128).load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(30));
    b.atomic_u32(64).store(6, Ordering::Release);
    let mut woken = 0;
    while !sleeper.is_finished() {
        woken += futex_wake(b.atomic_u32(64), u32::MAX);
        std::thread::sleep(Duration::from_millis(1));
    }
    let outcomes = sleeper.join().map_err(|_| "sleeper panicked")?;
    check(
        start.elapsed() < Duration::from_secs(20)
            && outcomes.contains(&FutexWait::Woken)
            && !outcomes.contains(&FutexWait::TimedOut)
            && woken >= 1,
        "the sleeper was woken through the second mapping, not by the timeout",
    )
}

fn main() -> ExitCode {
    under_valgrind::main(
        "shm_under_valgrind",
        &[
            Exercise {
                name: "file_mappings",
                run: file_mappings,
            },
            Exercise {
                name: "memfd_mappings_and_seals",
                run: memfd_mappings_and_seals,
            },
            Exercise {
                name: "seals_added_and_refused",
                run: seals_added_and_refused,
            },
            Exercise {
                name: "futexes",
                run: futexes,
            },
        ],
        &[],
    )
}
