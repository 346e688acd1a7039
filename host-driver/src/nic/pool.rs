//! Packet buffers: a fixed pool of equal buffers in one DMA region, a LIFO free stack, and the
//! [`PacketBuf`] handle that returns its buffer to the pool when dropped.
//!
//! Owns buffer ownership. Every buffer is in exactly one of three states, tracked per buffer:
//! - **free**: on the free stack;
//! - **device**: posted to an RX ring (the device may write it at any time);
//! - **user**: held by exactly one [`PacketBuf`] (the application's, or a TX ring slot's while
//!   the device reads it).
//!
//! Moves between states go through this module only, and each checks the state it leaves, so a
//! bookkeeping bug elsewhere becomes a refused operation, never two handles to one buffer. The
//! free stack is LIFO: the buffer freed last is handed out next, while it is still in cache.
//! Nothing here allocates after the pool is built.
//!
//! # The unsafe here
//!
//! [`PacketBuf::data`] and [`PacketBuf::data_mut`] give zero-copy views of a buffer in the
//! `user` state, through [`DmaMemory::slice`]/[`DmaMemory::slice_mut`]. They are sound as long
//! as the device touches only buffers posted to it, as the contract requires: a buffer in the
//! `user` state is in no RX ring, and a TX ring only reads the buffers of the frames it sends
//! (whose handles the ring holds, so no view of them exists). An IOMMU maps the whole pool, so it
//! cannot stop a device that ignores the contract from writing a buffer it was not given; such a
//! device corrupts packet data, which is the residual trust every zero-copy driver places in its
//! hardware. Everything else the device says (indices, lengths) is checked before use.
//!
//! Pools are single-threaded (`Rc`, `Cell`): a queue pair, its pools and its packets live on one
//! thread, which is what makes a buffer handle cost two non-atomic increments.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use hw_spec::{CsumStatus, RssType, TxOffloadRequest};

use crate::access::DeviceAccess;
use crate::dma::DmaRegion;
use crate::error::{DeviceError, DeviceErrorKind};

/// What the device reported with a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxInfo {
    /// IPv4 header checksum status.
    pub ip_csum: CsumStatus,
    /// TCP/UDP checksum status.
    pub l4_csum: CsumStatus,
    /// Toeplitz hash (see `rss_type`).
    pub rss_hash: u32,
    /// What the hash covers.
    pub rss_type: RssType,
}

impl RxInfo {
    /// Nothing reported (a buffer that was not received).
    pub const NONE: RxInfo = RxInfo {
        ip_csum: CsumStatus::Unknown,
        l4_csum: CsumStatus::Unknown,
        rss_hash: 0,
        rss_type: RssType::None,
    };
}

impl Default for RxInfo {
    fn default() -> Self {
        RxInfo::NONE
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BufState {
    Free,
    Device,
    User,
}

pub(crate) struct PoolShared {
    region: DmaRegion,
    iova: u64,
    buf_size: u32,
    count: u32,
    stack: Box<[Cell<u32>]>,
    top: Cell<u32>,
    state: Box<[Cell<BufState>]>,
    alloc_failures: Cell<u64>,
    name: &'static str,
}

impl PoolShared {
    #[inline]
    fn pop(&self) -> Option<u32> {
        let top = self.top.get();
        if top == 0 {
            self.alloc_failures.set(self.alloc_failures.get() + 1);
            return None;
        }
        let top = top - 1;
        self.top.set(top);
        Some(self.stack[top as usize].get())
    }

    #[inline]
    fn push(&self, index: u32) {
        let top = self.top.get();
        // At most `count` indices exist, so the stack never overflows; a slot past the end
        // would be a bookkeeping bug and is refused rather than written.
        if let Some(slot) = self.stack.get(top as usize) {
            slot.set(index);
            self.top.set(top + 1);
        }
    }

    /// Moves buffer `index` from `from` to `to`; false (and nothing changes) when it is not in
    /// `from` or does not exist.
    #[inline]
    fn transition(&self, index: u32, from: BufState, to: BufState) -> bool {
        match self.state.get(index as usize) {
            Some(s) if s.get() == from => {
                s.set(to);
                true
            }
            _ => false,
        }
    }

    #[inline]
    fn offset(&self, index: u32) -> usize {
        index as usize * self.buf_size as usize
    }
}

/// A pool of packet buffers in DMA memory. Cloning gives another handle to the same pool.
#[derive(Clone)]
pub struct PacketPool {
    shared: Rc<PoolShared>,
}

impl fmt::Debug for PacketPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketPool")
            .field("name", &self.shared.name)
            .field("buffers", &self.shared.count)
            .field("buf_size", &self.shared.buf_size)
            .field("free", &self.free_count())
            .finish()
    }
}

impl PacketPool {
    /// Allocates `count` buffers of `buf_size` bytes (rounded up to 64) in one DMA region of
    /// `dev`. `name` appears in messages ("rx", "large").
    pub fn new<D: DeviceAccess + ?Sized>(
        dev: &D,
        count: u32,
        buf_size: u32,
        name: &'static str,
    ) -> Result<PacketPool, DeviceError> {
        let buf_size = buf_size.max(64).next_multiple_of(64);
        let bytes = u64::from(count) * u64::from(buf_size);
        if count == 0 || bytes > isize::MAX as u64 {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                dev.location(),
                format!("creating the {name} packet pool"),
                format!("{count} buffers of {buf_size} bytes is not a usable pool"),
            )
            .with_fix("ask for at least one buffer and less than the address space"));
        }
        let region = dev.alloc_dma(bytes as usize)?;
        let iova = region.iova();
        Ok(PacketPool {
            shared: Rc::new(PoolShared {
                region,
                iova,
                buf_size,
                count,
                // Index 0 on top: the first buffers handed out are the lowest.
                stack: (0..count).rev().map(Cell::new).collect(),
                top: Cell::new(count),
                state: (0..count).map(|_| Cell::new(BufState::Free)).collect(),
                alloc_failures: Cell::new(0),
                name,
            }),
        })
    }

    /// Takes a free buffer (length 0, no offload request), or `None` when all are in use.
    #[inline]
    pub fn alloc(&self) -> Option<PacketBuf> {
        let index = self.shared.pop()?;
        if !self
            .shared
            .transition(index, BufState::Free, BufState::User)
        {
            return None;
        }
        Some(PacketBuf {
            buf: BufHandle {
                pool: Rc::clone(&self.shared),
                index,
                len: 0,
            },
            tx: TxOffloadRequest::NONE,
            rx: RxInfo::NONE,
        })
    }

    /// Bytes of every buffer.
    pub fn buf_size(&self) -> u32 {
        self.shared.buf_size
    }

    /// Buffers in the pool.
    pub fn capacity(&self) -> u32 {
        self.shared.count
    }

    /// Buffers free now.
    pub fn free_count(&self) -> u32 {
        self.shared.top.get()
    }

    /// Times a buffer was asked for while none was free.
    pub fn alloc_failures(&self) -> u64 {
        self.shared.alloc_failures.get()
    }

    /// The pool's name.
    pub fn name(&self) -> &'static str {
        self.shared.name
    }

    /// Whether `buf` belongs to this pool.
    pub fn owns(&self, buf: &PacketBuf) -> bool {
        Rc::ptr_eq(&self.shared, &buf.buf.pool)
    }

    /// Takes a free buffer for the device (an RX ring): its index and IOVA.
    #[inline]
    pub(crate) fn take_for_device(&self) -> Option<(u32, u64)> {
        let index = self.shared.pop()?;
        if !self
            .shared
            .transition(index, BufState::Free, BufState::Device)
        {
            return None;
        }
        Some((index, self.shared.iova + self.shared.offset(index) as u64))
    }

    /// Hands a buffer the device filled to the application: `len` bytes (at most the buffer
    /// size) with what the device reported. `None` when `index` is not a device buffer (a
    /// driver bug) or `len` does not fit.
    #[inline]
    pub(crate) fn hand_out(&self, index: u32, len: u32, rx: RxInfo) -> Option<PacketBuf> {
        if len > self.shared.buf_size
            || !self
                .shared
                .transition(index, BufState::Device, BufState::User)
        {
            return None;
        }
        Some(PacketBuf {
            buf: BufHandle {
                pool: Rc::clone(&self.shared),
                index,
                len,
            },
            tx: TxOffloadRequest::NONE,
            rx,
        })
    }

    /// Returns a device buffer to the free stack without handing it out (an error completion,
    /// a queue torn down). False when `index` is not a device buffer.
    #[inline]
    pub(crate) fn return_from_device(&self, index: u32) -> bool {
        if self
            .shared
            .transition(index, BufState::Device, BufState::Free)
        {
            self.shared.push(index);
            true
        } else {
            false
        }
    }
}

/// Why [`PacketBuf::set_len`] refused a length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityError {
    /// The length asked for.
    pub len: usize,
    /// The buffer's capacity.
    pub capacity: u32,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes do not fit a packet buffer of {} bytes",
            self.len, self.capacity
        )
    }
}

impl std::error::Error for CapacityError {}

/// Ownership of one buffer in the `user` state and the length of its data: what a TX ring
/// slot keeps while the device reads the buffer. Returns the buffer to its pool when dropped.
pub(crate) struct BufHandle {
    pool: Rc<PoolShared>,
    index: u32,
    len: u32,
}

impl BufHandle {
    /// Bytes of data.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.len
    }
}

impl Drop for BufHandle {
    #[inline]
    fn drop(&mut self) {
        if self
            .pool
            .transition(self.index, BufState::User, BufState::Free)
        {
            self.pool.push(self.index);
        }
    }
}

/// One packet buffer, owned: its bytes, their length, the TX offload request to send it with,
/// and what the device reported when it was received. Returns itself to its pool when dropped.
pub struct PacketBuf {
    buf: BufHandle,
    tx: TxOffloadRequest,
    rx: RxInfo,
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketBuf")
            .field("pool", &self.buf.pool.name)
            .field("index", &self.buf.index)
            .field("len", &self.buf.len)
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .finish()
    }
}

impl PacketBuf {
    /// Bytes of packet data.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len as usize
    }

    /// Whether the buffer holds no data.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.len == 0
    }

    /// Bytes the buffer can hold.
    #[inline]
    pub fn capacity(&self) -> u32 {
        self.buf.pool.buf_size
    }

    /// Sets the data length (for a frame written through [`buffer_mut`](Self::buffer_mut)).
    #[inline]
    pub fn set_len(&mut self, len: usize) -> Result<(), CapacityError> {
        if len > self.buf.pool.buf_size as usize {
            return Err(CapacityError {
                len,
                capacity: self.buf.pool.buf_size,
            });
        }
        self.buf.len = len as u32;
        Ok(())
    }

    /// The IOVA of the first byte (what a descriptor carries).
    #[inline]
    pub fn iova(&self) -> u64 {
        self.buf.pool.iova + self.buf.pool.offset(self.buf.index) as u64
    }

    /// The packet's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let b = &self.buf;
        let off = b.pool.offset(b.index);
        // SAFETY: this handle is the only owner of the buffer (state `user`: on no ring the
        // device writes, in no other handle), and `&self` excludes a mutable view for the
        // slice's lifetime. `len <= buf_size`, so the range is inside the buffer, which is inside
        // the region (checked again by `slice`). See the module documentation for the device's
        // side of the bargain.
        unsafe { b.pool.region.slice(off, b.len as usize) }.unwrap_or(&[])
    }

    /// The packet's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let b = &self.buf;
        let off = b.pool.offset(b.index);
        // SAFETY: as in `data`; `&mut self` makes this the only view of the buffer.
        unsafe { b.pool.region.slice_mut(off, b.len as usize) }.unwrap_or(&mut [])
    }

    /// The whole buffer, writable, whatever the data length: write a frame, then
    /// [`set_len`](Self::set_len).
    #[inline]
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        let b = &self.buf;
        let off = b.pool.offset(b.index);
        // SAFETY: as in `data_mut`, over the whole buffer (`buf_size` bytes at the buffer's
        // offset, inside the region).
        unsafe { b.pool.region.slice_mut(off, b.pool.buf_size as usize) }.unwrap_or(&mut [])
    }

    /// Copies `frame` into the buffer and sets the length.
    #[inline]
    pub fn copy_from(&mut self, frame: &[u8]) -> Result<(), CapacityError> {
        self.set_len(frame.len())?;
        self.data_mut().copy_from_slice(frame);
        Ok(())
    }

    /// The offload request the frame is sent with.
    #[inline]
    pub fn tx_offload(&self) -> TxOffloadRequest {
        self.tx
    }

    /// Sets the offload request the frame is sent with (checksums, TSO).
    #[inline]
    pub fn set_tx_offload(&mut self, request: TxOffloadRequest) {
        self.tx = request;
    }

    /// What the device reported when it received this frame.
    #[inline]
    pub fn rx_info(&self) -> RxInfo {
        self.rx
    }

    /// The offload request, by reference (the hot path reads its fields in place).
    #[inline]
    pub(crate) fn tx_request(&self) -> &TxOffloadRequest {
        &self.tx
    }

    /// The buffer's ownership without the metadata (what a TX ring slot keeps).
    #[inline]
    pub(crate) fn into_handle(self) -> BufHandle {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeDevice;

    fn pool(count: u32, size: u32) -> (FakeDevice, PacketPool) {
        let dev = FakeDevice::builder("fake0", 64).build();
        let p = PacketPool::new(&dev, count, size, "test").unwrap();
        (dev, p)
    }

    #[test]
    fn buffers_return_on_drop_lifo() {
        let (_dev, p) = pool(4, 100);
        assert_eq!(p.buf_size(), 128, "rounded up to 64");
        let a = p.alloc().unwrap();
        let b = p.alloc().unwrap();
        assert_eq!((a.buf.index, b.buf.index), (0, 1));
        assert_eq!(b.iova() - a.iova(), 128);
        assert_eq!(p.free_count(), 2);
        let b_index = b.buf.index;
        drop(b);
        let c = p.alloc().unwrap();
        assert_eq!(
            c.buf.index, b_index,
            "the buffer freed last is handed out first"
        );
        let _d = p.alloc().unwrap();
        let _e = p.alloc().unwrap();
        assert!(p.alloc().is_none());
        assert_eq!(p.alloc_failures(), 1);
        drop(a);
        assert_eq!(p.free_count(), 1);
    }

    #[test]
    fn data_views_and_lengths() {
        let (_dev, p) = pool(2, 64);
        let mut a = p.alloc().unwrap();
        assert!(a.is_empty());
        a.copy_from(b"hello").unwrap();
        assert_eq!(a.data(), b"hello");
        a.data_mut()[0] = b'j';
        assert_eq!(a.data(), b"jello");
        assert_eq!(a.buffer_mut().len(), 64);
        assert_eq!(
            a.set_len(65),
            Err(CapacityError {
                len: 65,
                capacity: 64
            })
        );
        assert!(a.copy_from(&[0u8; 65]).is_err());
        assert_eq!(a.len(), 5, "a refused length changes nothing");
        let b = p.alloc().unwrap();
        assert!(p.owns(&b));
        let (_dev2, other) = pool(1, 64);
        assert!(!other.owns(&b));
    }

    #[test]
    fn device_states_are_checked() {
        let (_dev, p) = pool(2, 64);
        let (i, iova) = p.take_for_device().unwrap();
        assert_eq!(iova, p.shared.iova);
        // A user buffer is not a device buffer.
        let u = p.alloc().unwrap();
        assert!(p.hand_out(u.buf.index, 10, RxInfo::NONE).is_none());
        assert!(!p.return_from_device(u.buf.index));
        // Too long for the buffer.
        assert!(p.hand_out(i, 65, RxInfo::NONE).is_none());
        let got = p.hand_out(i, 64, RxInfo::NONE).unwrap();
        assert_eq!(got.len(), 64);
        // Handed out once only.
        assert!(p.hand_out(i, 1, RxInfo::NONE).is_none());
        drop(got);
        let (j, _) = p.take_for_device().unwrap();
        assert!(p.return_from_device(j));
        assert!(!p.return_from_device(j), "twice is refused");
        assert!(!p.return_from_device(99), "unknown index");
        assert_eq!(p.free_count(), 1);
        drop(u);
        assert_eq!(p.free_count(), 2);
    }

    #[test]
    fn outstanding_buffers_keep_the_pool_mapped() {
        let dev = FakeDevice::builder("fake0", 64).build();
        let p = PacketPool::new(&dev, 2, 64, "test").unwrap();
        let mut a = p.alloc().unwrap();
        drop(p);
        assert_eq!(dev.mapped_regions(), 1);
        a.copy_from(b"still here").unwrap();
        assert_eq!(a.data(), b"still here");
        drop(a);
        assert_eq!(dev.mapped_regions(), 0);
    }
}
