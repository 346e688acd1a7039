//! [`PacketBatch`]: the fixed-capacity queue of packets that bursts fill and drain.
//!
//! Owns nothing but the container. Its capacity is fixed when it is made, so a burst never
//! allocates: [`rx_burst`](super::QueuePair::rx_burst) takes at most [`room`](PacketBatch::room)
//! frames, [`tx_burst`](super::QueuePair::tx_burst) takes packets from the front and leaves the
//! ones the ring had no room for in order.

use std::collections::VecDeque;
use std::fmt;

use super::pool::PacketBuf;

/// A fixed-capacity FIFO of packets.
pub struct PacketBatch {
    queue: VecDeque<PacketBuf>,
    capacity: usize,
}

impl fmt::Debug for PacketBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBatch")
            .field("len", &self.queue.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl PacketBatch {
    /// An empty batch holding at most `capacity` packets (allocates once, here).
    pub fn with_capacity(capacity: usize) -> PacketBatch {
        PacketBatch {
            queue: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Packets in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether the batch is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The fixed capacity.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Packets that still fit.
    #[inline]
    pub fn room(&self) -> usize {
        self.capacity - self.queue.len()
    }

    /// Appends a packet; gives it back when the batch is full.
    #[inline]
    pub fn push(&mut self, buf: PacketBuf) -> Result<(), PacketBuf> {
        if self.queue.len() >= self.capacity {
            return Err(buf);
        }
        self.queue.push_back(buf);
        Ok(())
    }

    /// Takes the first packet.
    #[inline]
    pub fn pop(&mut self) -> Option<PacketBuf> {
        self.queue.pop_front()
    }

    /// The first packet.
    #[inline]
    pub fn front(&self) -> Option<&PacketBuf> {
        self.queue.front()
    }

    /// The packets, first to last.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &PacketBuf> {
        self.queue.iter()
    }

    /// The packets, writable.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = &mut PacketBuf> {
        self.queue.iter_mut()
    }

    /// The packet at `i`.
    pub fn get(&self, i: usize) -> Option<&PacketBuf> {
        self.queue.get(i)
    }

    /// The packet at `i`, writable.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut PacketBuf> {
        self.queue.get_mut(i)
    }

    /// Drops every packet (their buffers return to their pools).
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Takes the packets out, first to last.
    pub fn drain(&mut self) -> impl Iterator<Item = PacketBuf> + '_ {
        self.queue.drain(..)
    }
}
