//! A single-producer single-consumer ring of Ethernet frames in shared memory: one direction
//! of a cable (between threads or processes), or the inbox a TAP reader thread fills.
//!
//! Layout at the ring's offset in its region (all 64-byte lines):
//! `SLOTS` and `SLOT_SIZE` (u32, written once), `HEAD` (u32, consumer), `TAIL` (u32, producer),
//! `DROPS` (u32, frames the producer found no room for), then `SLOTS` slots of `SLOT_SIZE`
//! bytes, each a u32 length followed by the frame. Frames are copied in and out; the ring never
//! allocates.
//!
//! Owns the ring protocol only; it uses sim-link's safe shared-memory API and has no `unsafe`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sim_link::SharedRegion;

const LINE: usize = 64;
const SLOTS_OFF: usize = 0;
const SLOT_SIZE_OFF: usize = 4;
const HEAD_OFF: usize = LINE;
const TAIL_OFF: usize = 2 * LINE;
const DROPS_OFF: usize = 3 * LINE;
const SLOTS_START: usize = 4 * LINE;
/// Bytes before the frame in a slot.
const SLOT_HEADER: usize = 8;

/// One direction of frames in a shared region.
#[derive(Clone, Debug)]
pub struct FrameRing {
    region: Arc<SharedRegion>,
    at: usize,
    slots: u32,
    slot_size: usize,
}

impl FrameRing {
    /// Bytes a ring of `slots` slots for frames up to `max_frame` bytes needs.
    pub fn bytes_needed(slots: u32, max_frame: usize) -> usize {
        SLOTS_START + slots as usize * Self::slot_size(max_frame)
    }

    fn slot_size(max_frame: usize) -> usize {
        (SLOT_HEADER + max_frame).next_multiple_of(LINE)
    }

    /// Formats a new, empty ring at `at` in `region` (which must hold
    /// [`bytes_needed`](Self::bytes_needed) bytes there).
    ///
    /// # Panics
    /// Panics if the region is too small (a caller bug: it sized the region).
    pub fn init(region: Arc<SharedRegion>, at: usize, slots: u32, max_frame: usize) -> FrameRing {
        assert!(slots.is_power_of_two(), "ring slots must be a power of two");
        let slot_size = Self::slot_size(max_frame);
        region
            .check(at as u64, Self::bytes_needed(slots, max_frame) as u64)
            .expect("region sized for the ring");
        region
            .atomic_u32(at + SLOT_SIZE_OFF)
            .store(slot_size as u32, Ordering::Relaxed);
        region
            .atomic_u32(at + SLOTS_OFF)
            .store(slots, Ordering::Release);
        FrameRing {
            region,
            at,
            slots,
            slot_size,
        }
    }

    /// Attaches to a ring another party formatted; `None` if what is there is not a ring that
    /// fits the region.
    pub fn attach(region: Arc<SharedRegion>, at: usize) -> Option<FrameRing> {
        let slots = region.atomic_u32(at + SLOTS_OFF).load(Ordering::Acquire);
        let slot_size = region
            .atomic_u32(at + SLOT_SIZE_OFF)
            .load(Ordering::Relaxed) as usize;
        if !slots.is_power_of_two() || slot_size <= SLOT_HEADER || slot_size % LINE != 0 {
            return None;
        }
        let needed = SLOTS_START + slots as usize * slot_size;
        region.check(at as u64, needed as u64).ok()?;
        Some(FrameRing {
            region,
            at,
            slots,
            slot_size,
        })
    }

    /// Largest frame a slot holds.
    pub fn max_frame(&self) -> usize {
        self.slot_size - SLOT_HEADER
    }

    fn word(&self, off: usize) -> &std::sync::atomic::AtomicU32 {
        self.region.atomic_u32(self.at + off)
    }

    fn slot(&self, index: u32) -> usize {
        self.at + SLOTS_START + (index & (self.slots - 1)) as usize * self.slot_size
    }

    /// Appends a frame; returns false (and counts a drop) when the ring is full or the frame
    /// does not fit a slot. Producer side only.
    pub fn push(&self, frame: &[u8]) -> bool {
        self.push_split(frame, &[])
    }

    /// [`push`](FrameRing::push) for a frame in two pieces, `headers` then `payload`: both are
    /// copied straight into the slot (no joining copy first). Producer side only.
    pub fn push_split(&self, headers: &[u8], payload: &[u8]) -> bool {
        let tail = self.word(TAIL_OFF).load(Ordering::Relaxed);
        let head = self.word(HEAD_OFF).load(Ordering::Acquire);
        let len = headers.len() + payload.len();
        if tail.wrapping_sub(head) >= self.slots || len > self.max_frame() {
            let d = self.word(DROPS_OFF);
            d.store(
                d.load(Ordering::Relaxed).saturating_add(1),
                Ordering::Relaxed,
            );
            return false;
        }
        let slot = self.slot(tail);
        let at = slot + SLOT_HEADER;
        self.region
            .write(at as u64, headers)
            .expect("slot inside the ring");
        if !payload.is_empty() {
            self.region
                .write((at + headers.len()) as u64, payload)
                .expect("slot inside the ring");
        }
        self.region
            .atomic_u32(slot)
            .store(len as u32, Ordering::Relaxed);
        self.word(TAIL_OFF)
            .store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    /// Takes the oldest frame into `buf`; returns its length (above `buf.len()` when it was
    /// cut to fit). Consumer side only.
    pub fn pop(&self, buf: &mut [u8]) -> Option<usize> {
        let head = self.word(HEAD_OFF).load(Ordering::Relaxed);
        let tail = self.word(TAIL_OFF).load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let slot = self.slot(head);
        // A length written by a broken producer cannot make us read past the slot.
        let len =
            (self.region.atomic_u32(slot).load(Ordering::Relaxed) as usize).min(self.max_frame());
        let n = len.min(buf.len());
        self.region
            .read((slot + SLOT_HEADER) as u64, &mut buf[..n])
            .expect("slot inside the ring");
        self.word(HEAD_OFF)
            .store(head.wrapping_add(1), Ordering::Release);
        Some(len)
    }

    /// Free slots (producer side).
    pub fn free(&self) -> usize {
        let used = self
            .word(TAIL_OFF)
            .load(Ordering::Relaxed)
            .wrapping_sub(self.word(HEAD_OFF).load(Ordering::Acquire));
        (self.slots.saturating_sub(used)) as usize
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.slots as usize
    }

    /// Whether a frame waits.
    pub fn pending(&self) -> bool {
        self.word(HEAD_OFF).load(Ordering::Relaxed) != self.word(TAIL_OFF).load(Ordering::Acquire)
    }

    /// Frames dropped because the ring was full (or a frame too long).
    pub fn drops(&self) -> u32 {
        self.word(DROPS_OFF).load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_go_through_in_order_and_overflow_is_counted() {
        let region =
            Arc::new(SharedRegion::anonymous("ring", FrameRing::bytes_needed(4, 100)).unwrap());
        let tx = FrameRing::init(Arc::clone(&region), 0, 4, 100);
        let other = Arc::new(SharedRegion::open(region.path()).unwrap());
        let rx = FrameRing::attach(other, 0).unwrap();
        assert!(rx.max_frame() >= 100);
        for i in 0..6u8 {
            let ok = tx.push(&[i; 60]);
            assert_eq!(ok, i < 4);
        }
        assert!(!tx.push(&vec![0; rx.max_frame() + 1]));
        assert_eq!(tx.drops(), 3);
        let mut buf = [0u8; 200];
        for i in 0..4u8 {
            assert!(rx.pending());
            assert_eq!(rx.pop(&mut buf), Some(60));
            assert_eq!(buf[..60], [i; 60]);
        }
        assert_eq!(rx.pop(&mut buf), None);
        // A short buffer gets the frame's prefix and its true length.
        tx.push(&[7; 90]);
        let mut small = [0u8; 10];
        assert_eq!(rx.pop(&mut small), Some(90));
        assert_eq!(small, [7; 10]);
    }

    #[test]
    fn split_frames_arrive_joined_and_oversize_splits_are_dropped() {
        let region =
            Arc::new(SharedRegion::anonymous("split", FrameRing::bytes_needed(2, 100)).unwrap());
        let ring = FrameRing::init(region, 0, 2, 100);
        assert!(ring.push_split(&[1, 2, 3], &[4, 5]));
        assert!(ring.push_split(&[6; 10], &[]));
        let mut buf = [0u8; 128];
        assert_eq!(ring.pop(&mut buf), Some(5));
        assert_eq!(buf[..5], [1, 2, 3, 4, 5]);
        assert_eq!(ring.pop(&mut buf), Some(10));
        assert_eq!(buf[..10], [6; 10]);
        let max = ring.max_frame();
        assert!(!ring.push_split(&[0; 60], &vec![0; max - 59]));
        assert_eq!(ring.drops(), 1);
        assert!(ring.push_split(&[9; 60], &vec![8; max - 60]));
        assert_eq!(ring.pop(&mut buf), Some(max));
        assert_eq!((buf[59], buf[60]), (9, 8));
    }

    #[test]
    fn attach_refuses_garbage() {
        let region = Arc::new(SharedRegion::anonymous("junk", 4096).unwrap());
        region.atomic_u32(0).store(3, Ordering::Relaxed);
        assert!(FrameRing::attach(Arc::clone(&region), 0).is_none());
        region.atomic_u32(0).store(1 << 20, Ordering::Relaxed);
        region.atomic_u32(4).store(128, Ordering::Relaxed);
        assert!(
            FrameRing::attach(region, 0).is_none(),
            "larger than the region"
        );
    }
}
