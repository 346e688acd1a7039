//! Zero-copy receive: in-order payload handed to the application straight from the received
//! frame, skipping the copy into the connection's receive buffer.
//!
//! [`Endpoint::poll_direct`](super::Endpoint::poll_direct) and
//! [`Endpoint::receive_direct`](super::Endpoint::receive_direct) take a [`ReceiveSink`]. When a
//! segment for a connection arrives while that connection's receive buffer holds no readable
//! bytes and no out-of-order data is pending, the state machine's one in-order write
//! ([`RecvBuffer::write_at`] at offset 0) goes to the sink first: the sink sees the payload the
//! state machine accepted (already trimmed to the window, duplicates cut off) inside the
//! frame, and returns how many leading bytes it took. Only the rest is copied into the receive
//! buffer, where [`Endpoint::read`](super::Endpoint::read) finds it as usual. Bytes the sink
//! took count as read: they free window at once.
//!
//! Why the conditions keep the stream exact: with nothing readable and nothing out of order,
//! the accepted payload is the very next byte of the stream, so handing it out first cannot
//! overtake anything; any other case (data waiting in the buffer, holes being filled) takes the
//! ordinary copying path. The sink runs while the state machine is in the middle of a segment:
//! it gets bytes and a key, never the endpoint, so it cannot re-enter it.
//!
//! Owns the sink contract and the buffer adaptor; it must not look at headers or change
//! connection state (the state machine decides what is in order and how far the window goes).

use crate::table::SlotKey;
use crate::tcb::RecvBuffer;

/// Where [`Endpoint::poll_direct`](super::Endpoint::poll_direct) hands in-order payload read
/// straight from received frames (see the module docs).
///
/// Implemented for closures `FnMut(SlotKey, &[u8]) -> usize`.
pub trait ReceiveSink {
    /// `false` for sinks that never take anything ([`NoSink`]): the endpoint then skips the
    /// check entirely.
    const ACTIVE: bool = true;

    /// Offers `data`, the next in-order bytes of connection `key`'s stream, in the received
    /// frame. Returns how many leading bytes the application took (at most `data.len()`; more
    /// is read as `data.len()`); the rest goes to the receive buffer.
    fn deliver(&mut self, key: SlotKey, data: &[u8]) -> usize;
}

impl<F: FnMut(SlotKey, &[u8]) -> usize> ReceiveSink for F {
    #[inline]
    fn deliver(&mut self, key: SlotKey, data: &[u8]) -> usize {
        self(key, data)
    }
}

/// The sink that takes nothing: every byte goes through the receive buffer (what
/// [`Endpoint::poll`](super::Endpoint::poll) and [`Endpoint::receive`](super::Endpoint::receive)
/// use).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSink;

impl ReceiveSink for NoSink {
    const ACTIVE: bool = false;

    #[inline]
    fn deliver(&mut self, _key: SlotKey, _data: &[u8]) -> usize {
        0
    }
}

/// A receive buffer seen through a sink for one segment: the first in-order write goes to the
/// sink, the remainder to `inner`, and commits skip what the sink took.
///
/// Build it only when `inner` holds no readable bytes and the connection has no out-of-order
/// data ([`DirectRecv::eligible`]); then the in-order write is at stream offset 0 of `inner`.
pub(super) struct DirectRecv<'a, R: ?Sized, K: ?Sized> {
    inner: &'a mut R,
    sink: &'a mut K,
    key: SlotKey,
    /// The sink may still be offered a write.
    armed: bool,
    /// Bytes the sink took that the state machine has not committed yet.
    pending: usize,
    /// Bytes the sink took in all.
    delivered: usize,
}

impl<'a, R: RecvBuffer + ?Sized, K: ReceiveSink + ?Sized> DirectRecv<'a, R, K> {
    /// Whether a segment may go through a sink: nothing readable in `inner` and no
    /// out-of-order ranges (`ooo_empty`).
    #[inline]
    pub(super) fn eligible(inner: &R, ooo_empty: bool) -> bool {
        ooo_empty && inner.window() == inner.capacity()
    }

    pub(super) fn new(inner: &'a mut R, sink: &'a mut K, key: SlotKey) -> Self {
        DirectRecv {
            inner,
            sink,
            key,
            armed: true,
            pending: 0,
            delivered: 0,
        }
    }

    /// Bytes the sink took.
    pub(super) fn delivered(&self) -> usize {
        self.delivered
    }
}

impl<R: RecvBuffer + ?Sized, K: ReceiveSink + ?Sized> RecvBuffer for DirectRecv<'_, R, K> {
    #[inline]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    #[inline]
    fn window(&self) -> usize {
        self.inner.window()
    }

    #[inline]
    fn write_at(&mut self, offset: usize, data: &[u8]) {
        if self.armed && offset == 0 && !data.is_empty() {
            self.armed = false;
            // Never more than the window: the state machine trimmed `data` to it already.
            let room = data.len().min(self.inner.window());
            let took = self.sink.deliver(self.key, &data[..room]).min(room);
            self.pending += took;
            self.delivered += took;
            if took < data.len() {
                self.inner.write_at(0, &data[took..]);
            }
            return;
        }
        // Stream offsets past what the sink took map onto the buffer shifted back by it.
        let skip = self.pending.saturating_sub(offset);
        if skip < data.len() {
            self.inner
                .write_at(offset + skip - self.pending, &data[skip..]);
        }
    }

    #[inline]
    fn commit(&mut self, n: usize) {
        let taken = self.pending.min(n);
        self.pending -= taken;
        self.inner.commit(n - taken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcb::{RingBuffer, SendBuffer};

    fn key() -> SlotKey {
        let slots: Vec<crate::table::Slot<()>> =
            (0..2).map(|_| crate::table::Slot::vacant()).collect();
        let mut map = crate::table::SlotMap::new(slots).unwrap();
        map.insert(()).unwrap()
    }

    #[test]
    fn the_sink_takes_a_prefix_and_the_rest_is_buffered_in_order() {
        let mut ring = RingBuffer::new([0u8; 16]);
        assert!(DirectRecv::<_, NoSink>::eligible(&ring, true));
        let mut seen = Vec::new();
        let mut sink = |k: SlotKey, d: &[u8]| {
            assert_eq!(k, key());
            seen.extend_from_slice(d);
            3
        };
        let mut direct = DirectRecv::new(&mut ring, &mut sink, key());
        direct.write_at(0, b"abcdefg");
        direct.commit(7);
        assert_eq!(direct.delivered(), 3);
        assert_eq!(seen, b"abcdefg", "the sink saw the whole accepted payload");
        assert_eq!(ring.len(), 4);
        assert_eq!(SendBuffer::peek(&ring, 0, 16), (&b"defg"[..], &b""[..]));
        assert!(
            !DirectRecv::<_, NoSink>::eligible(&ring, true),
            "readable bytes wait"
        );
    }

    #[test]
    fn a_sink_taking_everything_leaves_the_buffer_untouched_and_empty() {
        let mut ring = RingBuffer::new([0xEEu8; 8]);
        let mut sink = |_: SlotKey, d: &[u8]| d.len() + 5; // claims more: clamped
        let mut direct = DirectRecv::new(&mut ring, &mut sink, key());
        assert_eq!(direct.window(), 8);
        direct.write_at(0, b"12345678");
        direct.commit(8);
        assert_eq!(direct.delivered(), 8);
        assert!(ring.is_empty());
        assert_eq!(RecvBuffer::window(&ring), 8, "the window is free again");
    }

    #[test]
    fn later_writes_and_commits_shift_past_what_the_sink_took() {
        let mut ring = RingBuffer::new([0u8; 16]);
        let mut sink = |_: SlotKey, _: &[u8]| 2;
        let mut direct = DirectRecv::new(&mut ring, &mut sink, key());
        direct.write_at(0, b"abcd");
        // A second write (never made by the state machine today) lands after the first.
        direct.write_at(4, b"ef");
        direct.write_at(1, b"bcd"); // overlaps what the sink took: only "cd" is stored
        direct.commit(6);
        assert_eq!(SendBuffer::peek(&ring, 0, 16), (&b"cdef"[..], &b""[..]));
    }

    #[test]
    fn no_sink_is_inactive_and_takes_nothing() {
        const { assert!(!NoSink::ACTIVE) };
        assert_eq!(NoSink.deliver(key(), b"x"), 0);
    }
}
