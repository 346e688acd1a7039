//! User-supplied send and receive buffers (the seed's `SendBuf`/`RecvBuf` idea).
//!
//! The connection state machine owns no payload bytes. The application hands it a
//! [`SendBuffer`] that holds every byte not yet acknowledged (retransmissions read from it, so
//! the engine never copies data twice) and a [`RecvBuffer`] into which the engine writes
//! received bytes, in order *and* out of order at their offset; the state machine keeps only a
//! bounded list of the holes. [`RingBuffer`] implements both over any byte storage the user
//! owns (an array, a slice, a `Vec`), so a million connections can share one big allocation.
//!
//! Owns the buffer contracts and the ring implementation; must not know about sequence
//! numbers, segments or connection state.

/// The bytes a connection has been asked to send and that the peer has not acknowledged yet.
///
/// Offset 0 is the first unacknowledged data byte (SND.UNA, or ISS + 1 before the SYN is
/// acknowledged). The application appends at the end; the state machine reads at any offset
/// (first transmission and retransmission alike) and consumes from the front when the peer
/// acknowledges.
pub trait SendBuffer {
    /// Bytes held: unacknowledged and not yet sent.
    fn len(&self) -> usize;

    /// Whether the buffer holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total capacity (used to size "full" segments when the buffer is small).
    fn capacity(&self) -> usize;

    /// The bytes `[offset, offset + len)` as up to two slices (a ring may wrap). The slices
    /// are shorter than asked when the buffer holds fewer bytes.
    fn peek(&self, offset: usize, len: usize) -> (&[u8], &[u8]);

    /// Drops `n` bytes from the front: the peer acknowledged them. `n` never exceeds
    /// [`SendBuffer::len`].
    fn consume(&mut self, n: usize);
}

/// Where a connection puts the bytes it receives.
///
/// Offset 0 is RCV.NXT, the first byte not yet received in order. The state machine writes
/// in-order and out-of-order bytes at their offset with [`RecvBuffer::write_at`] and makes a
/// prefix readable with [`RecvBuffer::commit`] once no hole precedes it.
pub trait RecvBuffer {
    /// Total capacity (chooses the window scale and the receiver's silly-window threshold).
    fn capacity(&self) -> usize;

    /// Free bytes from offset 0 on: the receive window the connection may advertise.
    fn window(&self) -> usize;

    /// Stores `data` at `offset`. The state machine only writes inside
    /// `[0, window())`; an implementation ignores bytes beyond it.
    fn write_at(&mut self, offset: usize, data: &[u8]);

    /// Makes the first `n` bytes (already written) readable for the application. `n` never
    /// exceeds [`RecvBuffer::window`].
    fn commit(&mut self, n: usize);
}

/// A ring of bytes over user storage, usable as a [`SendBuffer`] (the application
/// [`write`](RingBuffer::write)s, the connection consumes) or as a [`RecvBuffer`] (the
/// connection writes, the application [`read`](RingBuffer::read)s).
#[derive(Debug, Clone)]
pub struct RingBuffer<S> {
    storage: S,
    /// Index of the first readable byte.
    head: usize,
    /// Readable bytes.
    len: usize,
    /// As a receive buffer: bytes past the readable ones that may hold out-of-order data
    /// (the furthest extent of [`RecvBuffer::write_at`] not yet committed).
    ahead: usize,
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> RingBuffer<S> {
    /// An empty ring over `storage`; its capacity is `storage`'s length.
    pub fn new(storage: S) -> Self {
        RingBuffer {
            storage,
            head: 0,
            len: 0,
            ahead: 0,
        }
    }

    /// Capacity in bytes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Readable (or, as a send buffer, unacknowledged) bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is readable.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free bytes.
    #[inline]
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Drops all content.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.ahead = 0;
    }

    /// Appends as much of `data` as fits and returns how many bytes were taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let cap = self.capacity();
        if n == 0 {
            return 0;
        }
        let tail = wrap(self.head + self.len, cap);
        self.copy_in(tail, &data[..n]);
        self.len += n;
        n
    }

    /// Hands the first contiguous run of free bytes (at the tail; empty when full) to `fill`,
    /// which writes into a prefix of it and returns how many bytes it wrote; they become part
    /// of the ring. Returns that count. Lets an application produce data straight into the
    /// ring instead of copying it in from a buffer of its own; call again after a wrap (a
    /// ring whose free space wraps offers it in two calls).
    ///
    /// A count larger than the run offered is clipped to it.
    pub fn write_with(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> usize {
        let cap = self.capacity();
        if self.len == cap {
            return 0;
        }
        let tail = wrap(self.head + self.len, cap);
        let run = (cap - tail).min(cap - self.len);
        let n = fill(&mut self.storage.as_mut()[tail..tail + run]).min(run);
        self.len += n;
        n
    }

    /// Hands the first contiguous run of readable bytes (empty when there are none) to
    /// `consume`, which returns how many of them it took; those leave the ring. Returns that
    /// count. Lets an application use received data in place instead of copying it out;
    /// call again after a wrap.
    ///
    /// A count larger than the run offered is clipped to it.
    pub fn read_with(&mut self, consume: impl FnOnce(&[u8]) -> usize) -> usize {
        let (run, _) = self.slices(0, self.len);
        let n = consume(run).min(run.len());
        self.drop_front(n);
        n
    }

    /// Moves up to `out.len()` readable bytes into `out` and returns how many.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        if n == 0 {
            // Nothing readable (the read that ends a read loop): no copies of nothing.
            return 0;
        }
        let (a, b) = self.slices(0, n);
        let (a_len, b_len) = (a.len(), b.len());
        out[..a_len].copy_from_slice(a);
        if b_len > 0 {
            out[a_len..a_len + b_len].copy_from_slice(b);
        }
        self.drop_front(n);
        n
    }

    /// The readable bytes `[offset, offset + len)`, clipped to what is readable.
    pub fn slices(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let cap = self.capacity();
        if offset >= self.len || cap == 0 {
            return (&[], &[]);
        }
        let len = len.min(self.len - offset);
        let start = wrap(self.head + offset, cap);
        let first = len.min(cap - start);
        let storage = self.storage.as_ref();
        (&storage[start..start + first], &storage[..len - first])
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.len);
        let cap = self.capacity();
        if cap == 0 {
            return;
        }
        self.head = wrap(self.head + n, cap);
        self.len -= n;
        if self.len == 0 && self.ahead == 0 {
            // Empty, and no out-of-order bytes wait beyond the readable ones: start over at
            // the front, so a ring that keeps emptying works in the same few cache lines
            // instead of sweeping its whole storage.
            self.head = 0;
        }
    }

    /// Copies `data` (at most the capacity) into the ring starting at index `at`.
    fn copy_in(&mut self, at: usize, data: &[u8]) {
        let cap = self.capacity();
        let first = data.len().min(cap - at);
        let storage = self.storage.as_mut();
        storage[at..at + first].copy_from_slice(&data[..first]);
        if first < data.len() {
            // Wrapped: the rest goes to the front (no call to copy nothing otherwise).
            storage[..data.len() - first].copy_from_slice(&data[first..]);
        }
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> SendBuffer for RingBuffer<S> {
    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        RingBuffer::capacity(self)
    }

    fn peek(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        self.slices(offset, len)
    }

    fn consume(&mut self, n: usize) {
        self.drop_front(n);
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> RecvBuffer for RingBuffer<S> {
    fn capacity(&self) -> usize {
        RingBuffer::capacity(self)
    }

    fn window(&self) -> usize {
        self.free()
    }

    fn write_at(&mut self, offset: usize, data: &[u8]) {
        let free = self.free();
        if offset >= free {
            return;
        }
        let n = data.len().min(free - offset);
        let cap = self.capacity();
        let at = wrap(self.head + self.len + offset, cap);
        self.copy_in(at, &data[..n]);
        self.ahead = self.ahead.max(offset + n);
    }

    fn commit(&mut self, n: usize) {
        let n = n.min(self.free());
        self.len += n;
        self.ahead = self.ahead.saturating_sub(n);
    }
}

/// `at % cap` for an `at` below `2 * cap`: every ring index is the head (below the capacity)
/// plus at most the capacity. A compare instead of a division on the per-segment paths.
#[inline(always)]
fn wrap(at: usize, cap: usize) -> usize {
    debug_assert!(
        at < 2 * cap,
        "ring index {at} beyond twice the capacity {cap}"
    );
    if at >= cap { at - cap } else { at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps_for_send_and_receive() {
        let mut r = RingBuffer::new([0u8; 8]);
        assert_eq!(r.write(b"abcdef"), 6);
        SendBuffer::consume(&mut r, 4);
        assert_eq!(r.write(b"ghijklmn"), 6, "only the free space is taken");
        assert_eq!(r.peek(0, 8), (&b"efgh"[..], &b"ijkl"[..]));
        assert_eq!(r.peek(3, 2), (&b"h"[..], &b"i"[..]));
        assert_eq!(r.peek(9, 2), (&b""[..], &b""[..]));
        let mut out = [0u8; 8];
        assert_eq!(r.read(&mut out), 8);
        assert_eq!(&out, b"efghijkl");

        // As a receive buffer: out-of-order write first, then the hole, then commit.
        let mut rx = RingBuffer::new([0u8; 8]);
        rx.write(b"xyzw");
        let mut sink = [0u8; 3];
        rx.read(&mut sink);
        assert_eq!(rx.window(), 7);
        rx.write_at(3, b"DEF");
        rx.write_at(0, b"ABC");
        rx.write_at(6, b"GHIJK"); // clipped at the window
        rx.commit(7);
        assert_eq!(rx.window(), 0);
        let mut out = [0u8; 8];
        assert_eq!(rx.read(&mut out), 8);
        assert_eq!(&out, b"wABCDEFG");
    }

    #[test]
    fn out_of_order_bytes_survive_an_empty_ring() {
        let mut rx = RingBuffer::new([0u8; 8]);
        rx.write_at(0, b"ab");
        rx.commit(2);
        rx.write_at(1, b"d"); // out of order, beyond the hole at offset 0
        let mut out = [0u8; 2];
        assert_eq!(rx.read(&mut out), 2); // the ring is empty now
        rx.write_at(0, b"c");
        rx.commit(2);
        assert_eq!(rx.read(&mut out), 2);
        assert_eq!(&out, b"cd");
    }

    #[test]
    fn write_with_and_read_with_offer_contiguous_runs() {
        let mut r = RingBuffer::new([0u8; 8]);
        assert_eq!(r.write(b"abcdef"), 6);
        let mut out = [0u8; 5];
        assert_eq!(r.read(&mut out), 5); // head at 5, "f" readable
        // Free space wraps: first the run at the end (indices 6..8), then the one at the start.
        let n = r.write_with(|free| {
            assert_eq!(free.len(), 2);
            free.copy_from_slice(b"gh");
            2
        });
        assert_eq!(n, 2);
        let n = r.write_with(|free| {
            assert_eq!(free.len(), 5, "indices 0..5 are free");
            free[..3].copy_from_slice(b"ijk");
            99 // more than offered: clipped
        });
        assert_eq!(n, 5);
        assert_eq!(r.len(), 8);
        assert_eq!(r.write_with(|free| free.len()), 0, "full");
        // Readable bytes wrap too: "fgh" at the end, then the rest.
        let mut seen = Vec::new();
        let n = r.read_with(|data| {
            seen.extend_from_slice(data);
            2
        });
        assert_eq!((n, &seen[..]), (2, &b"fgh"[..]));
        let n = r.read_with(|data| {
            assert_eq!(data, b"h");
            data.len()
        });
        assert_eq!(n, 1);
        let n = r.read_with(|data| {
            assert_eq!(&data[..3], b"ijk");
            data.len()
        });
        assert_eq!(n, 5);
        assert_eq!(r.read_with(|data| data.len()), 0, "empty");
    }

    #[test]
    fn an_emptied_ring_starts_over_at_the_front_unless_out_of_order_bytes_wait() {
        let mut r = RingBuffer::new([0u8; 8]);
        r.write(b"abcde");
        let mut out = [0u8; 5];
        r.read(&mut out);
        assert_eq!(r.head, 0, "emptied: back to the front");
        // Out-of-order bytes beyond an emptied ring keep it where it is.
        r.write_at(0, b"xy");
        r.commit(2);
        r.write_at(1, b"Q"); // one past the readable bytes: a hole before it
        assert_eq!(r.read(&mut out[..2]), 2);
        assert_eq!(r.head, 2, "the out-of-order byte pins the ring");
        r.write_at(0, b"P");
        r.commit(2); // "PQ" readable, nothing ahead any more
        assert_eq!(r.read(&mut out[..2]), 2);
        assert_eq!(&out[..2], b"PQ");
        assert_eq!(r.head, 0);
    }

    #[test]
    fn zero_capacity_is_inert() {
        let mut r = RingBuffer::new([0u8; 0]);
        assert_eq!(r.write(b"a"), 0);
        assert_eq!(r.write_with(|free| free.len()), 0);
        assert_eq!(r.read_with(|data| data.len()), 0);
        r.write_at(0, b"abc");
        r.commit(3);
        assert_eq!(r.len(), 0);
        assert_eq!(r.peek(0, 1), (&b""[..], &b""[..]));
        SendBuffer::consume(&mut r, 1);
    }
}
