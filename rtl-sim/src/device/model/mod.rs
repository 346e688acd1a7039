//! The reference model of the whole device: registers, queues, DMA, completions, interrupts,
//! statistics — hw-spec sections 2 to 9, executable.
//!
//! Owns the device's architectural state and every rule the spec states about it: the register
//! file (`IDENT` values from the [`DeviceConfig`], `CONTROL`, queues, `STATS`, `IRQ`, `RSS`),
//! the queue command words (section 5), TX chain gathering with rules C1-C4 (`tx`), receive
//! with drops and steering (`rx`), the completion phase bit, arming and interrupts, and error
//! reporting (section 8). Frame arithmetic is not here: it calls [`crate::engines`] (validation
//! F1-F10, checksum insertion, TSO, RX classification) and [`hw_spec::rss`]. It must not touch
//! shared memory, threads or time sources: everything outside comes through [`DeviceIo`].
//!
//! After set-up nothing here allocates: descriptor chains, gathered frames, TSO segments and
//! received frames use buffers sized from the configuration at construction.

mod regmap;
mod rx;
mod tx;

use hw_spec::layout::BitField;
use hw_spec::offload::TsoFlagMasks;
use hw_spec::regs::{self, BAR0_SIZE, control, ident, irq as irq_regs, queue, stats};
use hw_spec::{Completion, ErrorCode, Implementation, Opcode, QueueCommand, QueueKind};

use super::{ConfigError, DeviceConfig, DeviceCore, DeviceIo, RegisterImage, StepReport};
use regmap::{Counts, QueueReg, WriteTarget};

/// One descriptor or completion ring and its register state.
#[derive(Clone, Copy, Debug, Default)]
struct Ring {
    base: u64,
    log2: u8,
    enabled: bool,
    stopped: bool,
    /// TX/RX: bound completion queue. CQ: interrupt vector.
    binding: u8,
    prod: u16,
    cons: u16,
    /// CQ only.
    armed: bool,
}

impl Ring {
    fn size(&self) -> u16 {
        if self.log2 == 0 { 0 } else { 1 << self.log2 }
    }
    fn mask(&self) -> u16 {
        self.size().wrapping_sub(1)
    }
    /// Entries between consumer and producer.
    fn used(&self) -> u16 {
        self.prod.wrapping_sub(self.cons)
    }
    fn status_word(&self) -> u32 {
        let mut w = queue::STATUS_ENABLED.set32(0, self.enabled.into());
        w = queue::STATUS_STOPPED_ON_FAULT.set32(w, self.stopped.into());
        w = queue::STATUS_ARMED.set32(w, self.armed.into());
        w = queue::STATUS_LOG2_SIZE.set32(w, self.log2.into());
        queue::STATUS_BINDING.set32(w, self.binding.into())
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct TxStats {
    frames: u64,
    bytes: u64,
    requests: u32,
    csum_inserted: u32,
    tso_segments: u32,
    errors: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct RxStats {
    frames: u64,
    bytes: u64,
    drops: u32,
    csum_bad: u32,
    csum_good: u32,
    errors: u32,
}

/// The sticky `ERROR_STATUS` bit an error code sets.
fn status_bit(code: ErrorCode) -> BitField {
    match code {
        ErrorCode::DmaFault => control::ERROR_STATUS_DMA_FAULT,
        ErrorCode::BadRegisterAccess => control::ERROR_STATUS_BAD_REGISTER_ACCESS,
        ErrorCode::BadCommandOpcode
        | ErrorCode::BadCommandArgument
        | ErrorCode::BadCommandState
        | ErrorCode::RingOverrun => control::ERROR_STATUS_BAD_COMMAND,
        _ => control::ERROR_STATUS_BAD_DESCRIPTOR,
    }
}

/// The Rust reference model of the ferrotoe NIC.
pub struct ModelDevice {
    cfg: DeviceConfig,
    counts: Counts,
    /// What every aligned BAR0 read returns (kept equal to the published image).
    shadow: Box<[u32]>,
    ctrl: u32,
    error_status: u32,
    error_count: u32,
    masks: TsoFlagMasks,
    rx_drops_no_queue: u32,
    txq: Vec<Ring>,
    rxq: Vec<Ring>,
    cq: Vec<Ring>,
    tx_stats: Vec<TxStats>,
    rx_stats: Vec<RxStats>,
    stats_dirty: bool,
    irq_events: Vec<u32>,
    irq_masked: Vec<bool>,
    rss_key: [u8; hw_spec::rss::KEY_LEN],
    rss_table: [u8; regs::rss::TABLE_ENTRIES as usize],
    tx_next: usize,
    /// Raw descriptors of the chain being examined (`MAX_SG` x 32 bytes).
    chain: Vec<u8>,
    /// The gathered TX request.
    gather: Vec<u8>,
    /// One TSO segment, joined for a port that takes frames whole only.
    segment: Vec<u8>,
    /// The payload of the current TSO segment, read from host memory.
    tso_payload: Vec<u8>,
    /// The buffers (address, length) of the current TX request, in chain order.
    sg: Vec<(u64, u32)>,
    /// The headers of the current TSO segment.
    tso_headers: [u8; crate::engines::tso::HEADER_SCRATCH],
    /// One received frame.
    rx_buf: Vec<u8>,
}

impl std::fmt::Debug for ModelDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelDevice")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Largest frame the RX path takes from the wire (a TAP device delivers up to 64 KiB); longer
/// frames are dropped and counted on RX queue 0 (the MAC truncates them).
pub const RX_FRAME_LIMIT: usize = 65536 + 64;

impl ModelDevice {
    /// A device built with `cfg`, in its reset state.
    pub fn new(cfg: DeviceConfig) -> Result<ModelDevice, ConfigError> {
        cfg.check()?;
        let counts = Counts {
            tx: cfg.tx_queues.into(),
            rx: cfg.rx_queues.into(),
            cq: cfg.completion_queues.into(),
            irq: cfg.irq_vectors.into(),
        };
        let mut dev = ModelDevice {
            cfg,
            counts,
            shadow: vec![0u32; BAR0_SIZE as usize / 4].into_boxed_slice(),
            ctrl: 0,
            error_status: 0,
            error_count: 0,
            masks: TsoFlagMasks::LINUX,
            rx_drops_no_queue: 0,
            txq: vec![Ring::default(); counts.tx.into()],
            rxq: vec![Ring::default(); counts.rx.into()],
            cq: vec![Ring::default(); counts.cq.into()],
            tx_stats: vec![TxStats::default(); counts.tx.into()],
            rx_stats: vec![RxStats::default(); counts.rx.into()],
            stats_dirty: false,
            irq_events: vec![0; counts.irq.into()],
            irq_masked: vec![false; counts.irq.into()],
            rss_key: [0; hw_spec::rss::KEY_LEN],
            rss_table: [0; regs::rss::TABLE_ENTRIES as usize],
            tx_next: 0,
            chain: vec![0u8; usize::from(cfg.caps.max_sg) * hw_spec::descriptors::txd::SIZE],
            gather: vec![0u8; cfg.max_request_len()],
            segment: vec![0u8; cfg.caps.max_frame_len.into()],
            tso_payload: vec![0u8; cfg.caps.max_frame_len.into()],
            sg: Vec::with_capacity(cfg.caps.max_sg.into()),
            tso_headers: [0u8; crate::engines::tso::HEADER_SCRATCH],
            rx_buf: vec![0u8; RX_FRAME_LIMIT],
        };
        dev.reset_state();
        Ok(dev)
    }

    /// The configuration the device was built with.
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    /// Returns every register and queue to its reset value (host memory is not touched).
    fn reset_state(&mut self) {
        self.ctrl = 0;
        self.error_status = 0;
        self.error_count = 0;
        self.masks = TsoFlagMasks::LINUX;
        self.rx_drops_no_queue = 0;
        self.txq.fill(Ring::default());
        self.rxq.fill(Ring::default());
        self.cq.fill(Ring::default());
        self.tx_stats.fill(TxStats::default());
        self.rx_stats.fill(RxStats::default());
        self.irq_events.fill(0);
        self.irq_masked.fill(false);
        self.rss_key = [0; hw_spec::rss::KEY_LEN];
        self.rss_table = [0; regs::rss::TABLE_ENTRIES as usize];
        self.tx_next = 0;
        self.stats_dirty = false;
        // Reset values of every fixed register (headers, TSO masks), then the IDENT words.
        self.shadow.fill(0);
        for block in regs::BLOCKS {
            for r in block.registers {
                self.shadow[((block.base + r.offset) / 4) as usize] = r.reset;
            }
        }
        let c = &self.cfg;
        let device_id = ident::DEVICE_ID_REVISION.set32(
            ident::DEVICE_ID_IMPLEMENTATION.set32(0, Implementation::Model.bits()),
            c.revision.into(),
        );
        for (reg, value) in [
            (&ident::DEVICE_ID, device_id),
            (&ident::BUILD_ID, c.build_id),
            (&ident::CAPS, c.caps_word()),
            (&ident::MAX_TSO_PAYLOAD, c.caps.max_tso_payload),
            (&ident::MAX_FRAME_LEN, c.caps.max_frame_len.into()),
            (&ident::MSS_LIMITS, c.caps.mss_limits_word()),
            (&ident::QUEUE_COUNTS, c.queue_counts_word()),
            (&ident::RING_LIMITS, c.ring_limits_word()),
            (&ident::DATAPATH, c.datapath_word()),
        ] {
            self.shadow[((ident::BASE + reg.offset) / 4) as usize] = value;
        }
    }

    #[inline]
    fn put(&mut self, image: &mut dyn RegisterImage, offset: u32, value: u32) {
        self.shadow[(offset / 4) as usize] = value;
        image.store(offset, value);
    }

    fn put64(&mut self, image: &mut dyn RegisterImage, lo_offset: u32, value: u64) {
        self.put(image, lo_offset, value as u32);
        self.put(image, lo_offset + 4, (value >> 32) as u32);
    }

    fn ring(&self, kind: QueueKind, index: usize) -> &Ring {
        match kind {
            QueueKind::Tx => &self.txq[index],
            QueueKind::Rx => &self.rxq[index],
            _ => &self.cq[index],
        }
    }

    fn ring_mut(&mut self, kind: QueueKind, index: usize) -> &mut Ring {
        match kind {
            QueueKind::Tx => &mut self.txq[index],
            QueueKind::Rx => &mut self.rxq[index],
            _ => &mut self.cq[index],
        }
    }

    /// Publishes every register of one queue.
    fn publish_ring(&mut self, kind: QueueKind, index: usize, image: &mut dyn RegisterImage) {
        let r = *self.ring(kind, index);
        let at = |reg: &hw_spec::layout::Register| regmap::queue_reg(kind, index, reg.offset);
        self.put(image, at(&queue::BASE_LO), r.base as u32);
        self.put(image, at(&queue::BASE_HI), (r.base >> 32) as u32);
        self.put(image, at(&queue::STATUS), r.status_word());
        self.put(image, at(&queue::PROD), r.prod.into());
        self.put(image, at(&queue::CONS), r.cons.into());
    }

    fn publish_pointer(
        &mut self,
        kind: QueueKind,
        index: usize,
        reg: &hw_spec::layout::Register,
        value: u16,
        image: &mut dyn RegisterImage,
    ) {
        self.put(
            image,
            regmap::queue_reg(kind, index, reg.offset),
            value.into(),
        );
    }

    fn publish_status(&mut self, kind: QueueKind, index: usize, image: &mut dyn RegisterImage) {
        let w = self.ring(kind, index).status_word();
        self.put(
            image,
            regmap::queue_reg(kind, index, queue::STATUS.offset),
            w,
        );
    }

    fn publish_control(&mut self, image: &mut dyn RegisterImage) {
        let c = control::BASE;
        let status = control::STATUS_ERROR.set32(
            control::STATUS_ENABLED.set32(0, control::CTRL_ENABLE.get32(self.ctrl)),
            (self.error_status != 0).into(),
        );
        self.put(image, c + control::CTRL.offset, self.ctrl);
        self.put(image, c + control::STATUS.offset, status);
        self.put(image, c + control::ERROR_STATUS.offset, self.error_status);
        self.put(image, c + control::ERROR_COUNT.offset, self.error_count);
        self.put(
            image,
            c + control::RX_DROPS_NO_QUEUE.offset,
            self.rx_drops_no_queue,
        );
    }

    /// Publishes statistics and device time in one batch (readers see all or none).
    fn publish_counters(&mut self, image: &mut dyn RegisterImage, now_ns: u64) {
        image.begin_batch();
        self.put64(image, control::BASE + control::TIMESTAMP_LO.offset, now_ns);
        if self.stats_dirty {
            self.stats_dirty = false;
            for q in 0..self.tx_stats.len() {
                let s = self.tx_stats[q];
                let at = |r: &hw_spec::layout::Register| stats::tx_addr(q as u32, r);
                self.put64(image, at(&stats::FRAMES_LO), s.frames);
                self.put64(image, at(&stats::BYTES_LO), s.bytes);
                self.put(image, at(&stats::TX_REQUESTS), s.requests);
                self.put(image, at(&stats::TX_CSUM_INSERTED), s.csum_inserted);
                self.put(image, at(&stats::TX_TSO_SEGMENTS), s.tso_segments);
                self.put(image, at(&stats::TX_ERRORS), s.errors);
            }
            for q in 0..self.rx_stats.len() {
                let s = self.rx_stats[q];
                let at = |r: &hw_spec::layout::Register| stats::rx_addr(q as u32, r);
                self.put64(image, at(&stats::FRAMES_LO), s.frames);
                self.put64(image, at(&stats::BYTES_LO), s.bytes);
                self.put(image, at(&stats::RX_DROPS), s.drops);
                self.put(image, at(&stats::RX_CSUM_BAD), s.csum_bad);
                self.put(image, at(&stats::RX_CSUM_GOOD), s.csum_good);
                self.put(image, at(&stats::RX_ERRORS), s.errors);
            }
            let c = control::BASE + control::RX_DROPS_NO_QUEUE.offset;
            self.put(image, c, self.rx_drops_no_queue);
        }
        image.end_batch();
    }

    /// Records an error as hw-spec section 8 says: sticky bit, count, `LAST_ERROR`, address.
    fn record_error(
        &mut self,
        image: &mut dyn RegisterImage,
        code: ErrorCode,
        kind: QueueKind,
        queue: usize,
        addr: u64,
    ) {
        self.error_status |= status_bit(code).mask32();
        self.error_count = self.error_count.saturating_add(1);
        let mut last = control::LAST_ERROR_CODE.set32(0, code.bits());
        last = control::LAST_ERROR_QUEUE.set32(last, queue as u32);
        last = control::LAST_ERROR_QUEUE_KIND.set32(last, kind.bits());
        let c = control::BASE;
        image.begin_batch();
        self.put(image, c + control::LAST_ERROR.offset, last);
        self.put64(image, c + control::LAST_ERROR_ADDR_LO.offset, addr);
        self.publish_control(image);
        image.end_batch();
    }

    /// A DMA fault on a ring: the queue is disabled and marked stopped (section 8).
    fn stop_on_fault(
        &mut self,
        image: &mut dyn RegisterImage,
        kind: QueueKind,
        index: usize,
        iova: u64,
    ) {
        let r = self.ring_mut(kind, index);
        r.enabled = false;
        r.stopped = true;
        self.error_status |= control::ERROR_STATUS_QUEUE_STOPPED.mask32();
        self.publish_status(kind, index, image);
        self.record_error(image, ErrorCode::DmaFault, kind, index, iova);
    }

    fn bad_register_access(&mut self, image: &mut dyn RegisterImage, offset: u32) {
        self.record_error(
            image,
            ErrorCode::BadRegisterAccess,
            QueueKind::None,
            0,
            offset.into(),
        );
    }

    /// Raises vector `v`: counted in `EVENTS` (wrapping) and signalled unless masked.
    fn raise(&mut self, v: usize, io: &mut DeviceIo<'_>) {
        if v >= self.irq_events.len() {
            return;
        }
        self.irq_events[v] = self.irq_events[v].wrapping_add(1);
        let events = self.irq_events[v];
        self.put(
            io.image,
            irq_regs::reg_addr(v as u32, &irq_regs::EVENTS),
            events,
        );
        if !self.irq_masked[v] {
            io.irq.signal(v as u32);
        }
    }

    /// Writes a completion at the CQ's producer with the current phase. Returns false when the
    /// write faulted (the CQ is then stopped, section 8).
    fn post_completion(&mut self, cqi: usize, mut cpl: Completion, io: &mut DeviceIo<'_>) -> bool {
        let r = self.cq[cqi];
        let slot = u64::from(r.prod & r.mask());
        cpl.phase = (r.prod >> r.log2) & 1 == 0;
        if !self.cfg.caps.timestamp {
            cpl.timestamp = 0;
        }
        let addr = r.base + slot * hw_spec::descriptors::cpl::SIZE as u64;
        if let Err(f) = io.dma.write(addr, &cpl.encode()) {
            self.stop_on_fault(io.image, QueueKind::Cq, cqi, f.iova);
            return false;
        }
        let cq = &mut self.cq[cqi];
        cq.prod = cq.prod.wrapping_add(1);
        let (prod, armed, vector) = (cq.prod, cq.armed, cq.binding);
        self.publish_pointer(QueueKind::Cq, cqi, &queue::PROD, prod, io.image);
        if armed {
            self.cq[cqi].armed = false;
            self.publish_status(QueueKind::Cq, cqi, io.image);
            self.raise(vector.into(), io);
        }
        true
    }

    /// Whether completion queue `cqi` can take an entry now.
    fn cq_has_room(&self, cqi: usize) -> bool {
        let r = &self.cq[cqi];
        r.enabled && r.used() < r.size()
    }

    fn device_enabled(&self) -> bool {
        control::CTRL_ENABLE.get32(self.ctrl) == 1
    }

    fn write_ctrl(&mut self, value: u32, io: &mut DeviceIo<'_>) {
        if control::CTRL_RESET.get32(value) == 1 {
            self.reset_state();
            self.publish_image(io.image);
            return;
        }
        let mut writable = control::CTRL_ENABLE.mask32();
        if self.cfg.caps.rx_csum {
            writable |= control::CTRL_RX_CSUM_ENABLE.mask32();
        }
        if self.cfg.caps.rss {
            writable |= control::CTRL_RSS_ENABLE.mask32();
        }
        self.ctrl = value & writable;
        self.publish_control(io.image);
    }

    fn command(&mut self, kind: QueueKind, index: usize, word: u32, io: &mut DeviceIo<'_>) {
        let cmd_addr = regmap::queue_reg(kind, index, queue::CMD.offset);
        match self.apply_command(kind, index, word, io) {
            Ok(()) => {}
            Err(code) => self.record_error(io.image, code, kind, index, cmd_addr.into()),
        }
    }

    /// Applies one command word, or says why it is ignored (hw-spec section 5 and the table of
    /// `hw_spec::commands`). Checks run in the order: opcode known, valid for the queue kind,
    /// argument in range, allowed in the queue's state.
    fn apply_command(
        &mut self,
        kind: QueueKind,
        index: usize,
        word: u32,
        io: &mut DeviceIo<'_>,
    ) -> Result<(), ErrorCode> {
        let op_bits = hw_spec::commands::CMD_OPCODE.get32(word);
        let op = Opcode::from_bits(op_bits).ok_or(ErrorCode::BadCommandOpcode)?;
        if !op.valid_for(kind) {
            return Err(ErrorCode::BadCommandOpcode);
        }
        let cmd = QueueCommand::decode(word).map_err(|_| ErrorCode::BadCommandArgument)?;
        let cfg = self.cfg;
        let r = *self.ring(kind, index);
        let need_disabled = || {
            if r.enabled {
                Err(ErrorCode::BadCommandState)
            } else {
                Ok(())
            }
        };
        match cmd {
            QueueCommand::SetLog2Size(l) => {
                if !(cfg.ring_min_log2..=cfg.ring_max_log2).contains(&l) {
                    return Err(ErrorCode::BadCommandArgument);
                }
                need_disabled()?;
                self.ring_mut(kind, index).log2 = l;
                self.publish_status(kind, index, io.image);
            }
            QueueCommand::SetCq(c) | QueueCommand::SetIrq(c) => {
                let limit = if matches!(cmd, QueueCommand::SetCq(_)) {
                    cfg.completion_queues
                } else {
                    cfg.irq_vectors
                };
                if c >= limit {
                    return Err(ErrorCode::BadCommandArgument);
                }
                need_disabled()?;
                self.ring_mut(kind, index).binding = c;
                self.publish_status(kind, index, io.image);
            }
            QueueCommand::SetProd(p) => {
                if r.log2 == 0 {
                    return Err(ErrorCode::BadCommandState);
                }
                if p.wrapping_sub(r.cons) > r.size() {
                    return Err(ErrorCode::RingOverrun);
                }
                self.ring_mut(kind, index).prod = p;
                self.publish_pointer(kind, index, &queue::PROD, p, io.image);
            }
            QueueCommand::SetCons(c) | QueueCommand::SetConsArm(c) => {
                // The new consumer must lie between the old one and the producer.
                if r.prod.wrapping_sub(c) > r.used() {
                    return Err(ErrorCode::RingOverrun);
                }
                self.ring_mut(kind, index).cons = c;
                self.publish_pointer(kind, index, &queue::CONS, c, io.image);
                if matches!(cmd, QueueCommand::SetConsArm(_)) {
                    self.arm(index, io);
                }
            }
            QueueCommand::Arm => self.arm(index, io),
            QueueCommand::Enable => {
                let aligned = r.base % regs::RING_ALIGN == 0;
                let cq_ok = match kind {
                    QueueKind::Cq => true,
                    _ => self.cq.get(r.binding as usize).is_some_and(|c| c.enabled),
                };
                if r.log2 == 0 || !aligned || !cq_ok {
                    return Err(ErrorCode::BadCommandState);
                }
                let ring = self.ring_mut(kind, index);
                ring.enabled = true;
                ring.stopped = false;
                self.publish_status(kind, index, io.image);
            }
            QueueCommand::Disable => {
                self.ring_mut(kind, index).enabled = false;
                self.publish_status(kind, index, io.image);
            }
            QueueCommand::ResetPointers => {
                need_disabled()?;
                let ring = self.ring_mut(kind, index);
                ring.prod = 0;
                ring.cons = 0;
                self.publish_ring(kind, index, io.image);
            }
        }
        Ok(())
    }

    /// Arms completion queue `index`; raises at once when entries are pending (section 5).
    fn arm(&mut self, index: usize, io: &mut DeviceIo<'_>) {
        let r = self.cq[index];
        if r.used() != 0 {
            self.cq[index].armed = false;
            self.publish_status(QueueKind::Cq, index, io.image);
            self.raise(r.binding.into(), io);
        } else {
            self.cq[index].armed = true;
            self.publish_status(QueueKind::Cq, index, io.image);
        }
    }

    fn write_queue_reg(
        &mut self,
        kind: QueueKind,
        index: usize,
        reg: QueueReg,
        offset: u32,
        value: u32,
        io: &mut DeviceIo<'_>,
    ) {
        match reg {
            QueueReg::Cmd => self.command(kind, index, value, io),
            QueueReg::BaseLo | QueueReg::BaseHi => {
                if self.ring(kind, index).enabled {
                    // Section 5: a BASE write to an enabled queue is a bad register access.
                    self.record_error(
                        io.image,
                        ErrorCode::BadRegisterAccess,
                        kind,
                        index,
                        offset.into(),
                    );
                    return;
                }
                let r = self.ring_mut(kind, index);
                r.base = if reg == QueueReg::BaseLo {
                    (r.base & !0xFFFF_FFFF) | u64::from(value)
                } else {
                    (r.base & 0xFFFF_FFFF) | (u64::from(value) << 32)
                };
                self.put(io.image, offset, value);
            }
        }
    }
}

impl DeviceCore for ModelDevice {
    fn implementation(&self) -> Implementation {
        Implementation::Model
    }

    fn publish_image(&mut self, image: &mut dyn RegisterImage) {
        image.begin_batch();
        for (i, v) in self.shadow.iter().enumerate() {
            image.store(i as u32 * 4, *v);
        }
        image.end_batch();
    }

    fn mmio_write(&mut self, offset: u32, value: u32, io: &mut DeviceIo<'_>) {
        if offset % 4 != 0 || offset >= BAR0_SIZE {
            return self.bad_register_access(io.image, offset);
        }
        let Some(target) = regmap::decode_write(offset, &self.counts) else {
            return self.bad_register_access(io.image, offset);
        };
        match target {
            WriteTarget::Ctrl => self.write_ctrl(value, io),
            WriteTarget::ErrorStatus => {
                self.error_status &= !value;
                self.publish_control(io.image);
            }
            WriteTarget::TsoFlags(which) => {
                let v = control::TSO_FLAGS_MASK.get32(value) as u16;
                match which {
                    0 => self.masks.first = v,
                    1 => self.masks.middle = v,
                    _ => self.masks.last = v,
                }
                self.put(io.image, offset, v.into());
            }
            WriteTarget::Scratch => self.put(io.image, offset, value),
            WriteTarget::Queue { kind, index, reg } => {
                self.write_queue_reg(kind, index.into(), reg, offset, value, io)
            }
            WriteTarget::IrqMask(v) => {
                let masked = irq_regs::MASK_MASKED.get32(value);
                self.irq_masked[usize::from(v)] = masked == 1;
                self.put(io.image, offset, masked);
            }
            WriteTarget::RssKey(i) => {
                self.rss_key[4 * i..4 * i + 4].copy_from_slice(&value.to_be_bytes());
                self.put(io.image, offset, value);
            }
            WriteTarget::RssEntry(i) => {
                let q = regs::rss::ENTRY_QUEUE.get32(value);
                self.rss_table[i] = q as u8;
                self.put(io.image, offset, q);
            }
        }
    }

    fn mmio_read(&mut self, offset: u32) -> u32 {
        if offset % 4 != 0 || offset >= BAR0_SIZE {
            return 0;
        }
        self.shadow[(offset / 4) as usize]
    }

    fn report_bad_read(&mut self, offset: u32, io: &mut DeviceIo<'_>) {
        self.bad_register_access(io.image, offset);
    }

    fn step(&mut self, io: &mut DeviceIo<'_>, budget: u32) -> StepReport {
        let mut report = StepReport::default();
        io.wire.begin_step(io.now_ns);
        if self.device_enabled() {
            self.tx_step(io, budget, &mut report);
        }
        self.rx_step(io, budget, &mut report);
        io.wire.flush(io.now_ns);
        self.publish_counters(io.image, io.now_ns);
        report
    }
}
