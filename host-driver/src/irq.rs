//! Interrupt vectors as eventfds: the one mechanism VFIO (MSI/MSI-X), the simulated NIC and the
//! fake backend share.
//!
//! Owns [`InterruptEvent`]: a non-blocking eventfd that the device side signals and the driver
//! waits on with a timeout, polls without blocking, or hands to its own event loop (`as_fd`).
//! The counter semantics are the kernel's: each signal adds one, a read returns the sum since the
//! last read and resets it, so no event is lost and several collapse into one wake-up.
//!
//! Must not know which device raised the vector or what it means (the driver's job).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};

/// One interrupt vector: an eventfd counter.
#[derive(Debug)]
pub struct InterruptEvent {
    fd: OwnedFd,
}

impl InterruptEvent {
    /// A new vector with no pending events (non-blocking, close-on-exec).
    pub fn new() -> io::Result<InterruptEvent> {
        let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)?;
        Ok(InterruptEvent { fd })
    }

    /// The raw descriptor, as VFIO's `SET_IRQS` wants it.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Raises the vector once (what a simulated or fake device does; VFIO's kernel side does the
    /// same for a real MSI).
    pub fn signal(&self) -> io::Result<()> {
        rustix::io::write(&self.fd, &1u64.to_ne_bytes())?;
        Ok(())
    }

    /// Takes the events raised since the last take, without blocking: 0 when there were none.
    pub fn take(&self) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        match rustix::io::read(&self.fd, &mut buf) {
            Ok(8) => Ok(u64::from_ne_bytes(buf)),
            Ok(n) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("eventfd read returned {n} bytes, not 8"),
            )),
            Err(rustix::io::Errno::AGAIN) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits up to `timeout` for the vector to be raised, then takes its events: 0 means the
    /// timeout ran out. `Duration::ZERO` polls.
    pub fn wait(&self, timeout: Duration) -> io::Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.take()?;
            if events > 0 {
                return Ok(events);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(0);
            }
            let ts = Timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for InterruptEvent {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_accumulate_and_take_resets() {
        let v = InterruptEvent::new().unwrap();
        assert_eq!(v.take().unwrap(), 0);
        v.signal().unwrap();
        v.signal().unwrap();
        v.signal().unwrap();
        assert_eq!(v.take().unwrap(), 3);
        assert_eq!(v.take().unwrap(), 0);
    }

    #[test]
    fn wait_times_out_then_sees_a_signal_from_another_thread() {
        let v = std::sync::Arc::new(InterruptEvent::new().unwrap());
        assert_eq!(v.wait(Duration::from_millis(5)).unwrap(), 0);
        assert_eq!(v.wait(Duration::ZERO).unwrap(), 0);
        let raiser = {
            let v = std::sync::Arc::clone(&v);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                v.signal().unwrap();
            })
        };
        assert_eq!(v.wait(Duration::from_secs(10)).unwrap(), 1);
        raiser.join().unwrap();
    }
}
