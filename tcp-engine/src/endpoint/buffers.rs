//! How the application's buffers attach to a connection slot.
//!
//! A connection slot holds one value of the endpoint's buffer type `B` (moved in by
//! [`connect`](super::Endpoint::connect) or [`listen`](super::Endpoint::listen), handed back
//! by [`release`](super::Endpoint::release), [`abort`](super::Endpoint::abort) or
//! [`recycle`](super::Endpoint::recycle)). `B` says which part is the send buffer and which the
//! receive buffer ([`ConnectionBuffers`]); the state machine reads retransmissions straight
//! from the send buffer and writes received bytes, in order or not, straight into the receive
//! buffer, so the engine copies payload exactly once each way.
//!
//! [`Buffers`] is the usual choice: a pair of [`RingBuffer`]s over any storage, e.g. two
//! halves of one chunk of a big allocation carved up at start-up (a million connections share
//! one allocation), `Box<[u8]>`s, or `&'static mut [u8]`s without an allocator. The engine
//! never allocates, drops or resizes buffers; their memory is the application's.
//!
//! Owns the buffer contracts of a slot; must not know about segments or sequence numbers.

use crate::tcb::{RecvBuffer, RingBuffer, SendBuffer};

/// The send and receive buffer of one connection.
pub trait ConnectionBuffers {
    /// The send buffer type.
    type Send: SendBuffer;
    /// The receive buffer type.
    type Recv: RecvBuffer;

    /// Both buffers, mutably (the state machine needs them together).
    fn split_mut(&mut self) -> (&mut Self::Send, &mut Self::Recv);

    /// The send buffer.
    fn send_buffer(&self) -> &Self::Send;

    /// The receive buffer.
    fn recv_buffer(&self) -> &Self::Recv;
}

/// Byte-stream access for the application: the endpoint's [`write`](super::Endpoint::write)
/// and [`read`](super::Endpoint::read) go through it.
pub trait StreamBuffers: ConnectionBuffers {
    /// Appends as much of `data` as fits to the send buffer; returns the bytes taken.
    fn write(&mut self, data: &[u8]) -> usize;

    /// Moves up to `out.len()` received in-order bytes into `out`; returns how many.
    fn read(&mut self, out: &mut [u8]) -> usize;

    /// Lets `fill` write straight into the send buffer's next contiguous free run; it returns
    /// the bytes written, which join the buffer. Returns that count (0 when full).
    fn write_with(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> usize;

    /// Lets `consume` use the next contiguous run of received in-order bytes in place; it
    /// returns how many it took, which leave the buffer. Returns that count.
    fn read_with(&mut self, consume: impl FnOnce(&[u8]) -> usize) -> usize;

    /// Free bytes in the send buffer.
    fn send_space(&self) -> usize;

    /// Received in-order bytes waiting to be read.
    fn readable(&self) -> usize;

    /// Empties both buffers (before they serve another connection).
    fn clear(&mut self);
}

/// A send buffer and a receive buffer (see the module docs).
#[derive(Clone, Debug)]
pub struct Buffers<S, R = S> {
    /// Bytes the application wrote and the peer has not acknowledged.
    pub send: S,
    /// Bytes received and not read yet (and out-of-order bytes at their offset).
    pub recv: R,
}

impl<T: AsRef<[u8]> + AsMut<[u8]>, U: AsRef<[u8]> + AsMut<[u8]>>
    Buffers<RingBuffer<T>, RingBuffer<U>>
{
    /// Two empty rings over `send` and `recv` storage.
    pub fn new(send: T, recv: U) -> Self {
        Buffers {
            send: RingBuffer::new(send),
            recv: RingBuffer::new(recv),
        }
    }
}

#[cfg(feature = "std")]
impl Buffers<RingBuffer<std::boxed::Box<[u8]>>> {
    /// Two rings of `send` and `recv` bytes on the heap (allocated here, once).
    pub fn with_capacity(send: usize, recv: usize) -> Self {
        Buffers::new(
            std::vec![0u8; send].into_boxed_slice(),
            std::vec![0u8; recv].into_boxed_slice(),
        )
    }
}

impl<S: SendBuffer, R: RecvBuffer> ConnectionBuffers for Buffers<S, R> {
    type Send = S;
    type Recv = R;

    #[inline]
    fn split_mut(&mut self) -> (&mut S, &mut R) {
        (&mut self.send, &mut self.recv)
    }

    #[inline]
    fn send_buffer(&self) -> &S {
        &self.send
    }

    #[inline]
    fn recv_buffer(&self) -> &R {
        &self.recv
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>, U: AsRef<[u8]> + AsMut<[u8]>> StreamBuffers
    for Buffers<RingBuffer<T>, RingBuffer<U>>
{
    #[inline]
    fn write(&mut self, data: &[u8]) -> usize {
        self.send.write(data)
    }

    #[inline]
    fn read(&mut self, out: &mut [u8]) -> usize {
        self.recv.read(out)
    }

    #[inline]
    fn write_with(&mut self, fill: impl FnOnce(&mut [u8]) -> usize) -> usize {
        self.send.write_with(fill)
    }

    #[inline]
    fn read_with(&mut self, consume: impl FnOnce(&[u8]) -> usize) -> usize {
        self.recv.read_with(consume)
    }

    #[inline]
    fn send_space(&self) -> usize {
        self.send.free()
    }

    #[inline]
    fn readable(&self) -> usize {
        self.recv.len()
    }

    fn clear(&mut self) {
        self.send.clear();
        self.recv.clear();
    }
}

/// Stands in for the buffers of a connection whose buffers the application took back
/// (TIME-WAIT after [`release`](super::Endpoint::release)): holds nothing, takes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NoBuffers;

impl SendBuffer for NoBuffers {
    fn len(&self) -> usize {
        0
    }
    fn capacity(&self) -> usize {
        0
    }
    fn peek(&self, _offset: usize, _len: usize) -> (&[u8], &[u8]) {
        (&[], &[])
    }
    fn consume(&mut self, _n: usize) {}
}

impl RecvBuffer for NoBuffers {
    fn capacity(&self) -> usize {
        0
    }
    fn window(&self) -> usize {
        0
    }
    fn write_at(&mut self, _offset: usize, _data: &[u8]) {}
    fn commit(&mut self, _n: usize) {}
}
