//! ICMP errors to the shard that owns their connection. The NIC hashes ICMP over the two
//! addresses only, so every ICMP error between two hosts lands on one queue, whichever
//! connection it quotes. A shard's receive path ([`ShardRx`]) looks at each frame for that
//! shape (a cheap test of the EtherType and IPv4 protocol bytes first; the full parse only
//! for ICMP): an error quoting a TCP connection that the NIC steers to another queue is
//! copied into that shard's inbox ([`Inboxes`]) instead of being handed to this shard's
//! endpoint, and the owning shard takes it at its next poll, before its own queue's frames
//! (its checksums are checked again there).
//!
//! The one channel between shards, and safe across threads (the threaded mode runs each
//! shard on a thread of its own): each inbox is a fixed ring of [`INBOX_FRAMES`] buffers
//! behind a lock, with an atomic count of the frames waiting so that a shard whose inbox is
//! empty (nearly always) takes no lock at all. Any shard may push into any inbox (multiple
//! producers, one consumer); an ICMP error is rare, so the lock is not contended.
//!
//! Owns the inboxes and the receive-path view; allocation only in [`Inboxes::new`]. A full
//! inbox drops the error (counted): ICMP errors are advisory and the connection recovers by
//! retransmission. Must not contain protocol logic (the endpoint judges the error).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tcp_engine::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta};
use tcp_engine::table::FourTuple;
use tcp_engine::wire::frame::parse_frame;
use tcp_engine::wire::{IpProtocol, RxPayload};

use super::RssSteering;
use crate::sim_hosts::HostDevice;

/// ICMP errors that can wait for one shard at once.
pub const INBOX_FRAMES: usize = 16;

/// Frames forwarded to one shard, waiting for its next poll: a fixed ring of buffers.
struct Inbox {
    frames: Box<[(Box<[u8]>, usize)]>,
    head: usize,
    len: usize,
}

impl Inbox {
    /// An empty inbox of [`INBOX_FRAMES`] buffers of `max_frame` bytes.
    fn new(max_frame: usize) -> Inbox {
        Inbox {
            frames: (0..INBOX_FRAMES)
                .map(|_| (vec![0u8; max_frame].into_boxed_slice(), 0))
                .collect(),
            head: 0,
            len: 0,
        }
    }

    /// Keeps a copy of `frame`; false (nothing kept) when full or the frame is too long.
    fn push(&mut self, frame: &[u8]) -> bool {
        if self.len == self.frames.len() {
            return false;
        }
        let slot = &mut self.frames[(self.head + self.len) % INBOX_FRAMES];
        let Some(dst) = slot.0.get_mut(..frame.len()) else {
            return false;
        };
        dst.copy_from_slice(frame);
        slot.1 = frame.len();
        self.len += 1;
        true
    }
}

/// One inbox and the count of its frames (read without the lock).
struct Slot {
    waiting: AtomicUsize,
    inbox: Mutex<Inbox>,
}

/// The inboxes of one host's shards (index: shard), shared by its shards (`Sync`).
pub(super) struct Inboxes {
    slots: Box<[Slot]>,
}

impl Inboxes {
    /// `shards` empty inboxes of [`INBOX_FRAMES`] buffers of `max_frame` bytes.
    pub(super) fn new(shards: u16, max_frame: usize) -> Inboxes {
        Inboxes {
            slots: (0..shards)
                .map(|_| Slot {
                    waiting: AtomicUsize::new(0),
                    inbox: Mutex::new(Inbox::new(max_frame)),
                })
                .collect(),
        }
    }

    /// A frame waits in some shard's inbox.
    pub(super) fn any_waiting(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.waiting.load(Ordering::Acquire) > 0)
    }

    /// Copies `frame` into shard `owner`'s inbox; false when it has none, is full or the frame
    /// is too long.
    fn push(&self, owner: u16, frame: &[u8]) -> bool {
        let Some(slot) = self.slots.get(usize::from(owner)) else {
            return false;
        };
        // A poisoned lock (a shard panicked while holding it) still holds a consistent ring:
        // head and len change only after the copy.
        let mut inbox = slot.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let kept = inbox.push(frame);
        slot.waiting.store(inbox.len, Ordering::Release);
        kept
    }

    /// Hands at most `max` of shard `me`'s waiting frames to `on_frame`, oldest first;
    /// returns how many. Takes no lock when none waits.
    fn drain(&self, me: u16, max: usize, mut on_frame: impl FnMut(&mut [u8])) -> usize {
        let Some(slot) = self.slots.get(usize::from(me)) else {
            return 0;
        };
        if max == 0 || slot.waiting.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let mut inbox = slot.inbox.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0;
        while n < max && inbox.len > 0 {
            let head = inbox.head;
            let (buf, len) = &mut inbox.frames[head];
            on_frame(&mut buf[..*len]);
            inbox.head = (head + 1) % INBOX_FRAMES;
            inbox.len -= 1;
            n += 1;
        }
        slot.waiting.store(inbox.len, Ordering::Release);
        n
    }
}

/// What the forwarding did on one shard's receive path, or on a host (its shards added up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardCounters {
    /// ICMP errors handed on to the shard owning the quoted connection.
    pub icmp_forwarded: u64,
    /// ICMP errors for another shard dropped because its inbox was full.
    pub icmp_inbox_full: u64,
}

impl ForwardCounters {
    /// Both counts added up.
    pub fn plus(&self, other: &ForwardCounters) -> ForwardCounters {
        ForwardCounters {
            icmp_forwarded: self.icmp_forwarded + other.icmp_forwarded,
            icmp_inbox_full: self.icmp_inbox_full + other.icmp_inbox_full,
        }
    }
}

/// The queue that owns the connection an ICMP error in `frame` quotes, when that is not `me`;
/// `None` for every other frame.
fn foreign_owner(frame: &[u8], steering: &RssSteering, me: u16) -> Option<u16> {
    // EtherType IPv4 and protocol ICMP, before any parsing.
    if frame.get(12..14) != Some(&[0x08, 0x00]) || frame.get(23) != Some(&IpProtocol::ICMP.0) {
        return None;
    }
    let RxPayload::IcmpError { error, .. } = parse_frame(frame, RxMeta::UNVERIFIED).ok()?.payload
    else {
        return None;
    };
    let q = error.quoted;
    if q.protocol != IpProtocol::TCP {
        return None;
    }
    let tuple = FourTuple::new(q.src_addr.into(), q.src_port, q.dst_addr.into(), q.dst_port);
    let owner = steering.queue_of(&tuple);
    (owner != me).then_some(owner)
}

/// Shard `me`'s device as its endpoint sees it: the inbox's frames first, then its queue
/// pair's, less the ICMP errors that go to other shards. Transmit is the queue pair's.
pub(super) struct ShardRx<'a> {
    pub(super) device: &'a mut HostDevice,
    pub(super) inboxes: &'a Inboxes,
    pub(super) me: u16,
    pub(super) steering: &'a RssSteering,
    pub(super) counters: &'a mut ForwardCounters,
}

impl FrameDevice for ShardRx<'_> {
    fn caps(&self) -> OffloadCaps {
        self.device.caps()
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let (inboxes, me, steering, counters) =
            (self.inboxes, self.me, self.steering, &mut *self.counters);
        let n = inboxes.drain(me, max, |frame| on_frame(frame, RxMeta::UNVERIFIED));
        n + self.device.rx_burst(max - n, |frame, meta| {
            match foreign_owner(frame, steering, me) {
                Some(owner) => {
                    if inboxes.push(owner, frame) {
                        counters.icmp_forwarded += 1;
                    } else {
                        counters.icmp_inbox_full += 1;
                    }
                }
                None => on_frame(frame, meta),
            }
        })
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        self.device.transmit(fill)
    }

    fn transmit_batch<F: FnMut(usize, &mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        count: usize,
        fill: F,
    ) -> usize {
        self.device.transmit_batch(count, fill)
    }

    fn flush(&mut self) {
        self.device.flush();
    }

    fn peek_rx<F: FnMut(&[u8])>(&mut self, max: usize, on_frame: F) {
        self.device.peek_rx(max, on_frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_frames_are_not_forwarded_and_a_full_inbox_refuses() {
        let steering = RssSteering::spread(4);
        // Short, garbage, and ICMP-looking frames without a valid message: never forwarded.
        let mut icmp_like = [0u8; 60];
        icmp_like[12..14].copy_from_slice(&[0x08, 0x00]);
        icmp_like[23] = 1;
        for frame in [&[][..], &[0x08; 13][..], &[0xff; 64][..], &icmp_like[..]] {
            assert_eq!(foreign_owner(frame, &steering, 0), None, "{frame:?}");
        }
        let mut inbox = Inbox::new(64);
        assert!(!inbox.push(&[0u8; 65]), "longer than a buffer");
        for _ in 0..INBOX_FRAMES {
            assert!(inbox.push(&[1u8; 64]));
        }
        assert!(!inbox.push(&[1u8; 10]), "full");
        assert_eq!(inbox.len, INBOX_FRAMES);
    }

    #[test]
    fn inboxes_pushed_from_other_threads_hand_over_every_frame_that_fit_in_order() {
        // Two producers on threads of their own fill shard 0's inbox; what fits is taken in
        // the order each producer pushed, what does not is refused (and would be counted).
        let inboxes = Inboxes::new(3, 64);
        let kept: Vec<usize> = std::thread::scope(|s| {
            let pushers: Vec<_> = (1u8..=2)
                .map(|p| {
                    let inboxes = &inboxes;
                    s.spawn(move || {
                        (0..INBOX_FRAMES as u8)
                            .filter(|&i| inboxes.push(0, &[p, i]))
                            .count()
                    })
                })
                .collect();
            pushers.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(kept.iter().sum::<usize>(), INBOX_FRAMES, "{kept:?}");
        assert!(inboxes.any_waiting());
        assert!(!inboxes.push(9, &[1]), "no shard 9");
        let mut last = [None::<u8>; 3];
        let taken = inboxes.drain(0, usize::MAX, |f| {
            let (p, i) = (usize::from(f[0]), f[1]);
            assert!(
                last[p].is_none_or(|l| l < i),
                "producer {p}: {i} after {last:?}"
            );
            last[p] = Some(i);
        });
        assert_eq!(taken, INBOX_FRAMES);
        assert!(!inboxes.any_waiting());
        assert_eq!(inboxes.drain(0, 8, |_| panic!("empty")), 0);
    }
}
