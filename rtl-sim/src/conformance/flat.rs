//! Allocation-free stand-ins for the device's interfaces, for the allocation test and the
//! benchmarks: flat host memory at one IOVA, a loopback wire with preallocated slots (what the
//! device sends comes back in), an interrupt counter and a plain register image.

use crate::device::{Dma, DmaFault, IrqOut, RegisterImage, Wire};

/// Host memory: `bytes` at IOVA `base`; anything else faults.
#[derive(Debug)]
pub struct FlatMemory {
    /// First IOVA.
    pub base: u64,
    /// The memory.
    pub bytes: Vec<u8>,
}

impl FlatMemory {
    /// The byte range of `len` bytes at `iova`, or a fault at the first byte outside memory.
    pub fn range(&self, iova: u64, len: u64) -> Result<std::ops::Range<usize>, DmaFault> {
        let end_of_mem = self.base + self.bytes.len() as u64;
        if !(self.base..end_of_mem).contains(&iova) {
            return Err(DmaFault { iova });
        }
        match iova.checked_add(len) {
            Some(end) if end <= end_of_mem => {
                Ok((iova - self.base) as usize..(end - self.base) as usize)
            }
            _ => Err(DmaFault { iova: end_of_mem }),
        }
    }
}

impl Dma for FlatMemory {
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault> {
        let r = self.range(iova, buf.len() as u64)?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }
    fn write(&mut self, iova: u64, data: &[u8]) -> Result<(), DmaFault> {
        let r = self.range(iova, data.len() as u64)?;
        self.bytes[r].copy_from_slice(data);
        Ok(())
    }
    fn check(&mut self, iova: u64, len: u64) -> Result<(), DmaFault> {
        self.range(iova, len).map(|_| ())
    }
}

/// A wire whose transmitted frames are received back, through `slots` preallocated slots
/// (frames beyond them are dropped; [`tx_ready`](Wire::tx_ready) says when there is room).
#[derive(Debug)]
pub struct LoopbackWire {
    slots: Vec<Vec<u8>>,
    lens: Vec<usize>,
    head: usize,
    tail: usize,
}

impl LoopbackWire {
    /// `slots` slots of `max_frame` bytes.
    pub fn new(slots: usize, max_frame: usize) -> LoopbackWire {
        LoopbackWire {
            slots: vec![vec![0; max_frame]; slots],
            lens: vec![0; slots],
            head: 0,
            tail: 0,
        }
    }
}

impl Wire for LoopbackWire {
    fn transmit(&mut self, frame: &[u8], _now_ns: u64) {
        let i = self.tail % self.slots.len();
        if self.tail - self.head < self.slots.len() && frame.len() <= self.slots[i].len() {
            self.slots[i][..frame.len()].copy_from_slice(frame);
            self.lens[i] = frame.len();
            self.tail += 1;
        }
    }
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.head == self.tail {
            return None;
        }
        let i = self.head % self.slots.len();
        let n = self.lens[i].min(buf.len());
        buf[..n].copy_from_slice(&self.slots[i][..n]);
        self.head += 1;
        Some(self.lens[i])
    }
    fn rx_pending(&self) -> bool {
        self.head != self.tail
    }
    fn tx_ready(&self, frames: usize) -> bool {
        self.slots.len() - (self.tail - self.head) >= frames.min(self.slots.len())
    }
}

/// Counts interrupt signals.
#[derive(Debug, Default)]
pub struct CountingIrq(pub u64);

impl IrqOut for CountingIrq {
    fn signal(&mut self, _vector: u32) {
        self.0 += 1;
    }
}

/// A register image in a vector of BAR0 words.
#[derive(Debug)]
pub struct FlatImage(pub Vec<u32>);

impl FlatImage {
    /// A zeroed image of BAR0.
    pub fn new() -> FlatImage {
        FlatImage(vec![0; hw_spec::regs::BAR0_SIZE as usize / 4])
    }
}

impl Default for FlatImage {
    fn default() -> Self {
        FlatImage::new()
    }
}

impl RegisterImage for FlatImage {
    fn store(&mut self, offset: u32, value: u32) {
        self.0[(offset / 4) as usize] = value;
    }
}
