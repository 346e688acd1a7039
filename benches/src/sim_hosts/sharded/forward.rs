//! ICMP errors to the shard that owns their connection. The NIC hashes ICMP over the two
//! addresses only, so every ICMP error between two hosts lands on one queue, whichever
//! connection it quotes. A shard's receive path ([`ShardRx`]) looks at each frame for that
//! shape (a cheap test of the EtherType and IPv4 protocol bytes first; the full parse only
//! for ICMP): an error quoting a TCP connection that the NIC steers to another queue is
//! copied into that shard's [`Inbox`] instead of being handed to this shard's endpoint, and
//! the owning shard takes it at its next poll, before its own queue's frames (its checksums
//! are checked again there).
//!
//! Owns the inboxes and the receive-path view; allocation only in [`Inbox::new`]. A full
//! inbox drops the error (counted): ICMP errors are advisory and the connection recovers by
//! retransmission. Must not contain protocol logic (the endpoint judges the error).

use tcp_engine::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta};
use tcp_engine::table::FourTuple;
use tcp_engine::wire::frame::parse_frame;
use tcp_engine::wire::{IpProtocol, RxPayload};

use super::RssSteering;
use crate::sim_hosts::HostDevice;

/// ICMP errors that can wait for one shard at once.
pub const INBOX_FRAMES: usize = 16;

/// Frames forwarded to one shard, waiting for its next poll: a fixed ring of buffers.
pub(super) struct Inbox {
    frames: Box<[(Box<[u8]>, usize)]>,
    head: usize,
    len: usize,
}

impl Inbox {
    /// An empty inbox of [`INBOX_FRAMES`] buffers of `max_frame` bytes.
    pub(super) fn new(max_frame: usize) -> Inbox {
        Inbox {
            frames: (0..INBOX_FRAMES)
                .map(|_| (vec![0u8; max_frame].into_boxed_slice(), 0))
                .collect(),
            head: 0,
            len: 0,
        }
    }

    /// No frame waits.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
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

/// What the forwarding did on one host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardCounters {
    /// ICMP errors handed on to the shard owning the quoted connection.
    pub icmp_forwarded: u64,
    /// ICMP errors for another shard dropped because its inbox was full.
    pub icmp_inbox_full: u64,
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
    pub(super) inboxes: &'a mut [Inbox],
    pub(super) me: u16,
    pub(super) steering: &'a RssSteering,
    pub(super) counters: &'a mut ForwardCounters,
}

impl FrameDevice for ShardRx<'_> {
    fn caps(&self) -> OffloadCaps {
        self.device.caps()
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let mut n = 0;
        if let Some(inbox) = self.inboxes.get_mut(usize::from(self.me)) {
            while n < max && inbox.len > 0 {
                let (buf, len) = &mut inbox.frames[inbox.head];
                on_frame(&mut buf[..*len], RxMeta::UNVERIFIED);
                inbox.head = (inbox.head + 1) % INBOX_FRAMES;
                inbox.len -= 1;
                n += 1;
            }
        }
        let (inboxes, me, steering, counters) = (
            &mut *self.inboxes,
            self.me,
            self.steering,
            &mut *self.counters,
        );
        n + self.device.rx_burst(max - n, |frame, meta| {
            match foreign_owner(frame, steering, me) {
                Some(owner) => {
                    let kept = inboxes
                        .get_mut(usize::from(owner))
                        .is_some_and(|inbox| inbox.push(frame));
                    if kept {
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
}
