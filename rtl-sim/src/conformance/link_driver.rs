//! A minimal driver over sim-link, for tests and benchmarks of the simulated NIC (the product
//! driver is `host-driver`). It talks to the device only as a real driver would: BAR0 through a
//! [`DriverLink`], rings and buffers in DMA memory it registers, completions by phase.
//!
//! Layout of its DMA memory (one region at [`DMA_IOVA`]): CQ 0 (TX completions), CQ 1 (RX
//! completions), the TX ring, the RX ring, then one buffer of `buf_len` bytes per TX slot and
//! per RX slot. Frames are copied into the TX slot buffers; the hot path does not allocate.

use hw_spec::descriptors::{cpl, rxd, txd};
use hw_spec::regs::{control, cq, queue, rxq, txq};
use hw_spec::{Completion, QueueCommand, RxDescriptor, TxDescriptor, TxOffloadRequest};
use sim_link::{DriverLink, LinkError, SharedRegion};

/// IOVA of the driver's DMA region.
pub const DMA_IOVA: u64 = 0x1_0000_0000;

/// Ring and buffer geometry.
#[derive(Clone, Copy, Debug)]
pub struct DriverConfig {
    /// log2 of every ring's entries.
    pub ring_log2: u8,
    /// Bytes of each TX and RX buffer.
    pub buf_len: u32,
    /// Verify checksums on receive.
    pub rx_csum: bool,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            ring_log2: 9,
            buf_len: 9216,
            rx_csum: true,
        }
    }
}

/// A driver for TX queue 0 and RX queue 0 of one simulated NIC.
pub struct LinkDriver {
    link: DriverLink,
    mem: SharedRegion,
    cfg: DriverConfig,
    size: u16,
    cq_at: [u64; 2],
    tx_ring: u64,
    rx_ring: u64,
    tx_bufs: u64,
    rx_bufs: u64,
    tx_prod: u16,
    tx_done: u16,
    rx_prod: u16,
    cq_cons: [u16; 2],
}

impl std::fmt::Debug for LinkDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkDriver")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl LinkDriver {
    /// Creates the DMA memory (a memfd), registers it, resets and brings up the device: CQ 0 on
    /// vector 0 for TX 0, CQ 1 on vector 1 for RX 0 with every buffer posted, device enabled.
    pub fn bring_up(mut link: DriverLink, cfg: DriverConfig) -> Result<LinkDriver, LinkError> {
        let size = 1u16 << cfg.ring_log2;
        let n = usize::from(size);
        let page = |b: usize| b.next_multiple_of(4096) as u64;
        let cq_bytes = page(n * cpl::SIZE);
        let cq_at = [DMA_IOVA, DMA_IOVA + cq_bytes];
        let tx_ring = DMA_IOVA + 2 * cq_bytes;
        let rx_ring = tx_ring + page(n * txd::SIZE);
        let tx_bufs = rx_ring + page(n * rxd::SIZE);
        let rx_bufs = tx_bufs + n as u64 * u64::from(cfg.buf_len);
        let total = (rx_bufs - DMA_IOVA + n as u64 * u64::from(cfg.buf_len)) as usize;
        let mem = SharedRegion::anonymous("ferrotoe-dma", total).map_err(|e| LinkError::Io {
            what: "creating DMA memory".into(),
            source: e,
        })?;
        link.map_dma(&mem, DMA_IOVA)?;
        let mut d = LinkDriver {
            link,
            mem,
            cfg,
            size,
            cq_at,
            tx_ring,
            rx_ring,
            tx_bufs,
            rx_bufs,
            tx_prod: 0,
            tx_done: 0,
            rx_prod: 0,
            cq_cons: [0; 2],
        };
        d.init()?;
        Ok(d)
    }

    fn init(&mut self) -> Result<(), LinkError> {
        let l = &mut self.link;
        l.write32(
            control::BASE + control::CTRL.offset,
            control::CTRL_RESET.mask32(),
        )?;
        let log2 = QueueCommand::SetLog2Size(self.cfg.ring_log2).encode();
        for (i, at) in self.cq_at.iter().enumerate() {
            let i = i as u32;
            l.write32(cq::reg_addr(i, &queue::BASE_LO), *at as u32)?;
            l.write32(cq::reg_addr(i, &queue::BASE_HI), (*at >> 32) as u32)?;
            l.write32(cq::reg_addr(i, &queue::CMD), log2)?;
            l.write32(
                cq::reg_addr(i, &queue::CMD),
                QueueCommand::SetIrq(i as u8).encode(),
            )?;
            l.write32(cq::reg_addr(i, &queue::CMD), QueueCommand::Enable.encode())?;
        }
        for (ring, base, is_tx) in [
            (rxq::reg_addr(0, &queue::BASE_LO), self.rx_ring, false),
            (txq::reg_addr(0, &queue::BASE_LO), self.tx_ring, true),
        ] {
            l.write32(ring, base as u32)?;
            l.write32(ring + 4, (base >> 32) as u32)?;
            let cmd = ring - queue::BASE_LO.offset + queue::CMD.offset;
            l.write32(cmd, log2)?;
            l.write32(cmd, QueueCommand::SetCq(if is_tx { 0 } else { 1 }).encode())?;
            l.write32(cmd, QueueCommand::Enable.encode())?;
        }
        for slot in 0..self.size {
            let d = RxDescriptor {
                addr: self.rx_bufs + u64::from(slot) * u64::from(self.cfg.buf_len),
                len: self.cfg.buf_len,
            };
            self.mem
                .write(
                    self.off(self.rx_ring) + u64::from(slot) * rxd::SIZE as u64,
                    &d.encode(),
                )
                .expect("inside DMA memory");
        }
        self.rx_prod = self.size;
        let l = &mut self.link;
        l.write32(
            rxq::reg_addr(0, &queue::CMD),
            QueueCommand::SetProd(self.rx_prod).encode(),
        )?;
        let mut ctrl = control::CTRL_ENABLE.mask32();
        if self.cfg.rx_csum {
            ctrl |= control::CTRL_RX_CSUM_ENABLE.mask32();
        }
        l.write32(control::BASE + control::CTRL.offset, ctrl)?;
        // A read waits for every write above: the device is up when it returns.
        let status = l.read32(control::BASE + control::STATUS.offset)?;
        debug_assert_eq!(control::STATUS_ENABLED.get32(status), 1);
        Ok(())
    }

    fn off(&self, iova: u64) -> u64 {
        iova - DMA_IOVA
    }

    /// The link (register access, interrupts).
    pub fn link(&mut self) -> &mut DriverLink {
        &mut self.link
    }

    /// The DMA memory.
    pub fn memory(&self) -> &SharedRegion {
        &self.mem
    }

    /// TX descriptors the device has not completed yet.
    pub fn tx_in_flight(&self) -> u16 {
        self.tx_prod.wrapping_sub(self.tx_done)
    }

    /// Room for more TX requests.
    pub fn tx_room(&self) -> u16 {
        self.size - self.tx_in_flight()
    }

    /// Copies `frame` into the next TX slot's buffer and queues it (no doorbell); false when
    /// the ring is full or the frame longer than a buffer.
    pub fn queue_frame(&mut self, frame: &[u8], offload: TxOffloadRequest) -> bool {
        if self.tx_room() == 0 || frame.len() > self.cfg.buf_len as usize {
            return false;
        }
        let slot = u64::from(self.tx_prod & (self.size - 1));
        let buf = self.tx_bufs + slot * u64::from(self.cfg.buf_len);
        self.mem
            .write(self.off(buf), frame)
            .expect("inside DMA memory");
        self.queue_slot(frame.len() as u32, offload)
    }

    /// Queues the next TX slot's buffer as it is (a frame written there earlier) with `len`
    /// bytes: a benchmark re-sends without copying.
    pub fn queue_slot(&mut self, len: u32, offload: TxOffloadRequest) -> bool {
        if self.tx_room() == 0 {
            return false;
        }
        let slot = u64::from(self.tx_prod & (self.size - 1));
        let buf = self.tx_bufs + slot * u64::from(self.cfg.buf_len);
        self.queue_descriptor(&TxDescriptor::single(buf, len, offload))
    }

    /// Queues a descriptor as given (its buffer is the caller's business: tests point it
    /// outside registered memory).
    pub fn queue_descriptor(&mut self, d: &TxDescriptor) -> bool {
        if self.tx_room() == 0 {
            return false;
        }
        let slot = u64::from(self.tx_prod & (self.size - 1));
        self.mem
            .write(
                self.off(self.tx_ring) + slot * txd::SIZE as u64,
                &d.encode(),
            )
            .expect("inside DMA memory");
        self.tx_prod = self.tx_prod.wrapping_add(1);
        true
    }

    /// Writes `frame` into every TX slot's buffer (for [`queue_slot`](Self::queue_slot)).
    pub fn fill_tx_buffers(&mut self, frame: &[u8]) {
        for slot in 0..u64::from(self.size) {
            let at = self.off(self.tx_bufs) + slot * u64::from(self.cfg.buf_len);
            self.mem.write(at, frame).expect("inside DMA memory");
        }
    }

    /// Rings the TX doorbell with everything queued.
    pub fn doorbell(&mut self) -> Result<(), LinkError> {
        self.link.write32(
            txq::reg_addr(0, &queue::CMD),
            QueueCommand::SetProd(self.tx_prod).encode(),
        )
    }

    fn next_completion(&mut self, which: usize) -> Option<Completion> {
        let cons = self.cq_cons[which];
        let at = self.off(self.cq_at[which]) + u64::from(cons & (self.size - 1)) * cpl::SIZE as u64;
        let phase = (cons >> self.cfg.ring_log2) & 1 == 0;
        let last = self.mem.atomic_u8((at as usize) + cpl::SIZE - 1);
        if (last.load(std::sync::atomic::Ordering::Acquire) >> 7 == 1) != phase {
            return None;
        }
        let mut e = [0u8; cpl::SIZE];
        self.mem.read(at, &mut e).expect("inside DMA memory");
        self.cq_cons[which] = cons.wrapping_add(1);
        Completion::decode(&e).ok()
    }

    /// Streams `requests` TSO requests of the `len`-byte frame already in every TX buffer
    /// ([`fill_tx_buffers`](Self::fill_tx_buffers)) to the NIC at the other end of the wire,
    /// driven by `rx`, as fast as the TX ring takes them, until each of the `segments` frames
    /// of every request was received by `rx` or counted as an RX drop by its device, or until
    /// `timeout` passes. Back-pressure tests use it: nothing may be lost on the wire.
    pub fn stream_tso(
        &mut self,
        rx: &mut LinkDriver,
        len: u32,
        offload: TxOffloadRequest,
        requests: u32,
        segments: u16,
        timeout: std::time::Duration,
    ) -> Result<TsoStream, LinkError> {
        let total = u64::from(requests) * u64::from(segments);
        let drops_at = hw_spec::regs::stats::rx_addr(0, &hw_spec::regs::stats::RX_DROPS);
        let deadline = std::time::Instant::now() + timeout;
        let mut s = TsoStream::default();
        let mut queued = 0u32;
        while s.received + s.rx_dropped < total {
            if std::time::Instant::now() >= deadline {
                s.timed_out = true;
                break;
            }
            while queued < requests && self.tx_room() > 0 {
                self.queue_slot(len, offload);
                queued += 1;
            }
            self.doorbell()?;
            s.completed += self.reap_tx(|c| {
                if c.segments != segments {
                    s.wrong_segment_counts += 1;
                }
            })? as u32;
            s.received += rx.receive(|c, _| {
                if c.l4_csum != hw_spec::CsumStatus::Good {
                    s.not_good_csums += 1;
                }
            })? as u64;
            s.rx_dropped = u64::from(rx.link().read32(drops_at)?);
        }
        Ok(s)
    }

    /// Takes TX completions, calling `f` for each; returns how many, after returning them to
    /// the device.
    pub fn reap_tx(&mut self, mut f: impl FnMut(&Completion)) -> Result<usize, LinkError> {
        let mut n = 0;
        while let Some(c) = self.next_completion(0) {
            self.tx_done = self.tx_done.wrapping_add(u16::from(c.desc_count.max(1)));
            f(&c);
            n += 1;
        }
        if n > 0 {
            self.link.write32(
                cq::reg_addr(0, &queue::CMD),
                QueueCommand::SetCons(self.cq_cons[0]).encode(),
            )?;
        }
        Ok(n)
    }

    /// Takes received frames, calling `f(completion, bytes)` for each, reposts their buffers;
    /// returns how many.
    pub fn receive(&mut self, mut f: impl FnMut(&Completion, &[u8])) -> Result<usize, LinkError> {
        let mut n = 0;
        let mut frame = [0u8; 9216];
        while let Some(c) = self.next_completion(1) {
            let len = (c.len as usize)
                .min(frame.len())
                .min(self.cfg.buf_len as usize);
            let buf = self.rx_bufs + u64::from(c.index) * u64::from(self.cfg.buf_len);
            if c.error.is_ok() {
                self.mem
                    .read(self.off(buf), &mut frame[..len])
                    .expect("inside DMA memory");
            }
            f(&c, &frame[..len]);
            n += 1;
        }
        if n > 0 {
            // Buffers go back in ring order: the consumed ones are exactly the next to post.
            self.rx_prod = self.rx_prod.wrapping_add(n as u16);
            self.link.write32(
                cq::reg_addr(1, &queue::CMD),
                QueueCommand::SetCons(self.cq_cons[1]).encode(),
            )?;
            self.link.write32(
                rxq::reg_addr(0, &queue::CMD),
                QueueCommand::SetProd(self.rx_prod).encode(),
            )?;
        }
        Ok(n)
    }

    /// Arms CQ `which` (0: TX, 1: RX) with the current consumer: the next completion (or one
    /// pending) signals its vector.
    pub fn arm(&mut self, which: usize) -> Result<(), LinkError> {
        self.link.write32(
            cq::reg_addr(which as u32, &queue::CMD),
            QueueCommand::SetConsArm(self.cq_cons[which]).encode(),
        )
    }
}

/// What [`LinkDriver::stream_tso`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TsoStream {
    /// TX completions taken.
    pub completed: u32,
    /// Frames the receiving driver took.
    pub received: u64,
    /// Frames the receiving device dropped for want of buffers (its RX drop counter).
    pub rx_dropped: u64,
    /// TX completions whose segment count was not the one expected.
    pub wrong_segment_counts: u32,
    /// Received frames whose L4 checksum status was not Good.
    pub not_good_csums: u32,
    /// The timeout passed before every frame was accounted for.
    pub timed_out: bool,
}
