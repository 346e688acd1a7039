//! The whole device in RTL as a [`DeviceCore`]: the Verilated `rtl/ft_device.v` (register
//! file, queue engines, offload engines, completion writer), clocked from Rust, with its
//! interfaces serviced through [`DeviceIo`].
//!
//! Owns the harness around the Verilated device, cycle by cycle:
//!
//! | RTL interface | serviced by |
//! |---|---|
//! | register port (`s_axil_*`) | [`DeviceCore::mmio_write`] / [`DeviceCore::mmio_read`]; an unaligned read from [`DeviceCore::report_bad_read`] |
//! | DMA reads (`m_dma_rd_req_*`, `s_dma_rd_rsp_*`) | [`Dma::read`](crate::device::Dma::read) (or [`Dma::check`](crate::device::Dma::check) for a CHECK) when the request is taken; the bytes are returned in beats, a fault as one beat |
//! | DMA writes (`m_dma_wr_*`) | the data beats are collected, then one [`Dma::write`](crate::device::Dma::write) (all or nothing, last byte last), then the response |
//! | MAC TX (`m_axis_tx_*`) | each frame to [`Wire::transmit`]; frames the wire has no room for wait in an elastic buffer (no new TX requests start meanwhile) |
//! | MAC RX (`s_axis_rx_*`) | frames from [`Wire::receive`], fed beat by beat; frames longer than [`RX_FRAME_LIMIT`] are fed truncated with `tuser` set; empty frames are discarded (no beat can carry them) |
//! | `irq_valid` | [`IrqOut::signal`](crate::device::IrqOut::signal) |
//! | `time_ns` | [`DeviceIo::now_ns`] of the current step (held between steps) |
//! | `reg_dirty` | the register image: after each method, the register groups the RTL flags as changed (plus the register just written) are read back over the register port and stored, in one batch; nothing else is read |
//!
//! A step clocks the device until it is idle (nothing in flight, nothing startable) and the
//! wire has nothing more to deliver within the budget. For verification the DMA and MAC sides
//! can withhold handshakes at random ([`RtlDevice::set_back_pressure`]). New TX requests start only during a step
//! (`sched_enable`), so the round-robin arbitration sees exactly the doorbells a step-based
//! model sees; every step therefore ends with the device idle, and register accesses between
//! steps never meet work in flight. Timestamps: completions carry the step's `now_ns`, as in
//! the model; `CONTROL.TIMESTAMP` is sampled from the same input every cycle.
//!
//! Must not: interpret frames or descriptors (the RTL does), or contain unsafe code (that is
//! `device_ffi`'s).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hw_spec::Implementation;
use hw_spec::regs::{self, BAR0_SIZE, control, ident, irq, queue, stats};

use super::device_ffi::{DevIo, DevModel};
use super::{DataWidth, RtlError};
use crate::device::config::IdentWords;
use crate::device::{DeviceConfig, DeviceCore, DeviceIo, RegisterImage, StepReport, Wire};

/// Longest frame the harness takes from the wire; longer frames reach the RTL truncated, marked
/// with `tuser` (dropped and counted on RX queue 0, as the reference model does).
pub const RX_FRAME_LIMIT: usize = crate::device::model::RX_FRAME_LIMIT;

/// Bytes of the widest beat (DATA_WIDTH 512): the size of the port struct's data arrays.
const MAX_BEAT: usize = 64;
/// Cycles without any handshake, while the device is not idle, after which the RTL is declared
/// stalled (an RTL bug: nothing a driver or the wire does can stall it).
const STALL_CYCLES: u64 = 200_000;
/// Reset cycles at creation.
const RESET_CYCLES: u32 = 4;

static VCD_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The register groups of `ft_regs`' change tracking, as BAR0 offsets.
#[derive(Debug)]
struct RegMap {
    /// Registers of each group (index = bit of `reg_dirty`; group 0 is "everything").
    groups: Vec<Vec<u32>>,
    /// Every register the build defines (all other offsets read 0).
    all: Vec<u32>,
}

impl RegMap {
    fn new(cfg: &DeviceConfig) -> RegMap {
        let (tx, rx, cq, nirq) = (
            u32::from(cfg.tx_queues),
            u32::from(cfg.rx_queues),
            u32::from(cfg.completion_queues),
            u32::from(cfg.irq_vectors),
        );
        let c = |r: &hw_spec::layout::Register| control::BASE + r.offset;
        let mut groups: Vec<Vec<u32>> = vec![
            Vec::new(),
            [
                &control::CTRL,
                &control::STATUS,
                &control::ERROR_STATUS,
                &control::ERROR_COUNT,
                &control::LAST_ERROR,
                &control::LAST_ERROR_ADDR_LO,
                &control::LAST_ERROR_ADDR_HI,
                &control::TSO_FLAGS_FIRST,
                &control::TSO_FLAGS_MIDDLE,
                &control::TSO_FLAGS_LAST,
                &control::SCRATCH,
                &control::RX_DROPS_NO_QUEUE,
            ]
            .iter()
            .map(|r| c(r))
            .collect(),
            vec![c(&control::TIMESTAMP_LO), c(&control::TIMESTAMP_HI)],
        ];
        let qregs = [
            &queue::BASE_LO,
            &queue::BASE_HI,
            &queue::STATUS,
            &queue::PROD,
            &queue::CONS,
        ];
        for (n, addr) in [
            (
                tx,
                regs::txq::reg_addr as fn(u32, &hw_spec::layout::Register) -> u32,
            ),
            (rx, regs::rxq::reg_addr),
            (cq, regs::cq::reg_addr),
        ] {
            for i in 0..n {
                groups.push(qregs.iter().map(|r| addr(i, r)).collect());
            }
        }
        let sets = &stats::BLOCK.arrays;
        for i in 0..tx {
            groups.push(
                sets[0]
                    .registers
                    .iter()
                    .map(|r| stats::tx_addr(i, r))
                    .collect(),
            );
        }
        for i in 0..rx {
            groups.push(
                sets[1]
                    .registers
                    .iter()
                    .map(|r| stats::rx_addr(i, r))
                    .collect(),
            );
        }
        for v in 0..nirq {
            groups.push(vec![
                irq::reg_addr(v, &irq::EVENTS),
                irq::reg_addr(v, &irq::MASK),
            ]);
        }
        // Everything: the fixed registers of every block and the elements that exist.
        let mut all = Vec::new();
        for block in regs::BLOCKS {
            all.extend(block.registers.iter().map(|r| block.base + r.offset));
            for array in block.arrays {
                let count = match array.name {
                    "TXQ" | "TXQ_STATS" => tx,
                    "RXQ" | "RXQ_STATS" => rx,
                    "CQ" => cq,
                    "VECTOR" => nirq,
                    _ => array.max_count,
                };
                for i in 0..count {
                    for r in array.registers {
                        all.push(block.base + array.offset + i * array.stride + r.offset);
                    }
                }
            }
        }
        all.sort_unstable();
        all.dedup();
        RegMap { groups, all }
    }
}

/// The DMA read being answered.
#[derive(Debug, Default)]
struct ReadPort {
    active: bool,
    /// One beat, no data: a fault or a CHECK.
    single: bool,
    fault: Option<u64>,
    tag: u8,
    len: usize,
    pos: usize,
    buf: Vec<u8>,
}

/// The DMA write being collected or acknowledged.
#[derive(Debug, Default)]
struct WritePort {
    collecting: bool,
    responding: bool,
    addr: u64,
    len: usize,
    tag: u8,
    fault: Option<u64>,
    buf: Vec<u8>,
}

/// TX frames: the one being received from the RTL, and those waiting for room on the wire.
#[derive(Debug, Default)]
struct TxPort {
    frame: Vec<u8>,
    in_frame: bool,
    /// Frames the wire had no room for, oldest first (`pending[head..]`); buffers are reused.
    pending: Vec<Vec<u8>>,
    pending_len: Vec<usize>,
    head: usize,
    count: usize,
}

impl TxPort {
    fn waiting(&self) -> bool {
        self.count > 0
    }
    fn park(&mut self, frame: &[u8]) {
        if self.count == self.pending.len() {
            // Grow the ring (only while more requests are in flight than ever before).
            let n = self.pending.len();
            self.pending.rotate_left(self.head);
            self.pending_len.rotate_left(self.head);
            self.head = 0;
            self.pending.push(Vec::new());
            self.pending_len.push(0);
            debug_assert_eq!(self.pending.len(), n + 1);
        }
        let i = (self.head + self.count) % self.pending.len();
        self.pending[i].clear();
        self.pending[i].extend_from_slice(frame);
        self.pending_len[i] = frame.len();
        self.count += 1;
    }
    /// Sends parked frames, oldest first, while the wire has room.
    fn drain(&mut self, wire: &mut dyn Wire, now_ns: u64) {
        while self.count > 0 && wire.tx_ready(1) {
            let i = self.head;
            wire.transmit(&self.pending[i][..self.pending_len[i]], now_ns);
            self.head = (self.head + 1) % self.pending.len();
            self.count -= 1;
        }
    }
}

/// Random back-pressure on the DMA and MAC handshakes (SplitMix64), off by default.
#[derive(Debug, Default)]
struct Pressure {
    percent: u8,
    state: u64,
}

impl Pressure {
    fn stall(&mut self) -> bool {
        if self.percent == 0 {
            return false;
        }
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % 100) < u64::from(self.percent)
    }
}

/// The received frame being fed to the RTL.
#[derive(Debug)]
struct RxPort {
    buf: Vec<u8>,
    len: usize,
    pos: usize,
    truncated: bool,
    feeding: bool,
}

/// The Verilated whole device behind [`DeviceCore`] (see the module documentation).
pub struct RtlDevice {
    model: DevModel,
    io: Box<DevIo>,
    width: DataWidth,
    /// Bytes per beat.
    beat: usize,
    cfg: DeviceConfig,
    map: RegMap,
    rd: ReadPort,
    wr: WritePort,
    tx: TxPort,
    rx: RxPort,
    pressure: Pressure,
    cycles: u64,
    /// Scratch for register reads: offsets and values.
    addrs: Vec<u32>,
    values: Vec<u32>,
    vcd: Option<PathBuf>,
}

impl std::fmt::Debug for RtlDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtlDevice")
            .field("cfg", &self.cfg)
            .field("cycles", &self.cycles)
            .field("vcd", &self.vcd)
            .finish_non_exhaustive()
    }
}

/// tkeep with the low `n` lanes set.
fn keep_mask(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

impl RtlDevice {
    /// The reference build (512 bits), reset. Traces to a VCD file when the environment variable
    /// `FERROTOE_RTL_VCD` names a directory (files `ft_device_<n>.vcd`).
    pub fn new() -> Result<RtlDevice, RtlError> {
        Self::with_width(DataWidth::Bits512)
    }

    /// The build of datapath `width` (512 bits, the reference, or 64), reset; VCD as
    /// [`RtlDevice::new`].
    pub fn with_width(width: DataWidth) -> Result<RtlDevice, RtlError> {
        let vcd = std::env::var_os("FERROTOE_RTL_VCD").map(|dir| {
            let n = VCD_COUNTER.fetch_add(1, Ordering::Relaxed);
            PathBuf::from(dir).join(format!("ft_device_{n}.vcd"))
        });
        Self::build(width, vcd)
    }

    /// The build of `width`, reset, writing a VCD waveform of everything it simulates to `vcd`.
    pub fn with_vcd(width: DataWidth, vcd: &Path) -> Result<RtlDevice, RtlError> {
        Self::build(width, Some(vcd.to_path_buf()))
    }

    fn build(width: DataWidth, vcd: Option<PathBuf>) -> Result<RtlDevice, RtlError> {
        let model = DevModel::new(width.bits(), vcd.as_deref()).map_err(RtlError::Model)?;
        let mut dev = RtlDevice {
            model,
            io: Box::default(),
            width,
            beat: width.bytes(),
            cfg: DeviceConfig::REFERENCE,
            map: RegMap {
                groups: Vec::new(),
                all: Vec::new(),
            },
            rd: ReadPort::default(),
            wr: WritePort::default(),
            tx: TxPort::default(),
            rx: RxPort {
                buf: vec![0; RX_FRAME_LIMIT],
                len: 0,
                pos: 0,
                truncated: false,
                feeding: false,
            },
            pressure: Pressure::default(),
            cycles: 0,
            addrs: Vec::new(),
            values: Vec::new(),
            vcd,
        };
        dev.io.rst = 1;
        for _ in 0..RESET_CYCLES {
            dev.cycle();
        }
        dev.io.rst = 0;
        dev.cycle();
        // Learn the build from IDENT, like a driver.
        let offsets = IdentWords::OFFSETS;
        let mut words = [0u32; IdentWords::OFFSETS.len()];
        dev.read_regs(&offsets, &mut words);
        let ident = IdentWords::from_array(words);
        let implementation = ident::DEVICE_ID_IMPLEMENTATION.get32(ident.device_id);
        if implementation != Implementation::RtlVerilator.bits() {
            return Err(RtlError::Protocol(format!(
                "the Verilated device reports DEVICE_ID {:#010x}, not the RTL under Verilator",
                ident.device_id
            )));
        }
        let cfg = DeviceConfig::from_ident(&ident)
            .map_err(|e| RtlError::Protocol(format!("the RTL build's IDENT: {e}")))?;
        dev.cfg = cfg;
        dev.map = RegMap::new(&cfg);
        if dev.map.groups.len() > 64 {
            // `reg_dirty` crosses the shim as 64 bits.
            return Err(RtlError::Protocol(format!(
                "the RTL build tracks {} register groups; the harness handles 64",
                dev.map.groups.len()
            )));
        }
        dev.rd.buf = vec![0; cfg.max_request_len() + MAX_BEAT];
        dev.wr.buf = Vec::with_capacity(usize::from(cfg.caps.max_frame_len) + MAX_BEAT);
        dev.tx.frame = Vec::with_capacity(usize::from(cfg.caps.max_frame_len) + MAX_BEAT);
        dev.addrs = Vec::with_capacity(dev.map.all.len() + 1);
        dev.values = vec![0; dev.map.all.len() + 1];
        // The power-on dirty flags are consumed by the first publish_image.
        Ok(dev)
    }

    /// The datapath width of this build.
    pub fn width(&self) -> DataWidth {
        self.width
    }

    /// What the RTL build's `IDENT` says (queue counts, limits, capabilities).
    pub fn config(&self) -> &DeviceConfig {
        &self.cfg
    }

    /// Makes the DMA and MAC sides withhold each handshake (request and data ready, response
    /// and frame valid) in `percent` % of cycles, in a pattern drawn from `seed`: a verification
    /// knob. What the device does must not change, only when.
    pub fn set_back_pressure(&mut self, percent: u8, seed: u64) {
        self.pressure = Pressure {
            percent: percent.min(95),
            state: seed,
        };
    }

    /// Clock cycles simulated since the device was created.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Where this device writes its VCD waveform, if it does.
    pub fn vcd_path(&self) -> Option<&Path> {
        self.vcd.as_deref()
    }

    #[inline]
    fn cycle(&mut self) {
        self.model.cycle(&mut self.io);
        self.cycles += 1;
    }

    /// Inputs of a cycle in which nothing outside the register port is serviced.
    fn hold_ports(&mut self) {
        let io = &mut *self.io;
        io.sched_enable = 0;
        io.rd_req_ready = 0;
        io.rd_rsp_valid = 0;
        io.wr_req_ready = 0;
        io.wr_ready = 0;
        io.wr_rsp_valid = 0;
        io.tx_ready = 0;
        io.rx_valid = 0;
        io.reg_dirty_ack = 0;
    }

    /// A soft reset was signalled: drop every partial transaction of the DMA and MAC sides.
    fn on_soft_reset(&mut self) {
        self.rd.active = false;
        self.wr.collecting = false;
        self.wr.responding = false;
        self.tx.in_frame = false;
        self.tx.frame.clear();
        self.rx.feeding = false;
    }

    /// Reads `addrs` over the register port, one word per cycle (pipelined), into `out`.
    /// `ack` is acknowledged to the change tracking in the first cycle.
    fn read_regs_ack(&mut self, addrs: &[u32], out: &mut [u32], ack: u64) {
        self.hold_ports();
        self.io.wvalid = 0;
        self.io.rready = 1;
        self.io.reg_dirty_ack = ack;
        let (mut issued, mut got) = (0usize, 0usize);
        let mut waited = 0u64;
        while got < addrs.len() {
            let offer = issued < addrs.len();
            self.io.arvalid = offer.into();
            if offer {
                self.io.araddr = addrs[issued];
            }
            self.cycle();
            self.io.reg_dirty_ack = 0;
            if offer && self.io.arready != 0 {
                issued += 1;
            }
            if self.io.rvalid != 0 {
                out[got] = self.io.rdata;
                got += 1;
                waited = 0;
            } else {
                waited += 1;
                assert!(
                    waited < STALL_CYCLES,
                    "RTL device: register read of {:#x} not answered for {STALL_CYCLES} cycles{}",
                    addrs[got],
                    self.vcd_hint()
                );
            }
        }
        self.io.arvalid = 0;
    }

    fn read_regs(&mut self, addrs: &[u32], out: &mut [u32]) {
        self.read_regs_ack(addrs, out, 0);
    }

    fn vcd_hint(&self) -> String {
        match &self.vcd {
            Some(p) => format!(" (waveform: {})", p.display()),
            None => " (rerun with FERROTOE_RTL_VCD=<dir> for a waveform)".into(),
        }
    }

    /// Brings the image up to date: the registers of every group the RTL flagged, plus
    /// `written` (the register a write just targeted), in one batch.
    fn sync_image(&mut self, image: &mut dyn RegisterImage, written: Option<u32>) {
        let mut written = written.filter(|o| o % 4 == 0 && *o < BAR0_SIZE);
        // Outputs are sampled before the clock edge: one more cycle shows the flags the last
        // edge raised.
        self.hold_ports();
        self.cycle();
        for _ in 0..4 {
            let dirty = self.io.reg_dirty;
            if dirty == 0 && written.is_none() {
                return;
            }
            let mut addrs = std::mem::take(&mut self.addrs);
            addrs.clear();
            if dirty & 1 != 0 {
                addrs.extend_from_slice(&self.map.all);
            } else {
                for (g, regs) in self.map.groups.iter().enumerate() {
                    if dirty >> g & 1 != 0 {
                        addrs.extend_from_slice(regs);
                    }
                }
            }
            addrs.extend(written.take());
            let mut values = std::mem::take(&mut self.values);
            values.resize(addrs.len(), 0);
            self.read_regs_ack(&addrs, &mut values, dirty);
            image.begin_batch();
            for (a, v) in addrs.iter().zip(&values) {
                image.store(*a, *v);
            }
            image.end_batch();
            self.addrs = addrs;
            self.values = values;
            // One more cycle so that flags raised during the reads (none while idle) show.
            self.hold_ports();
            self.cycle();
        }
    }

    /// Drives the DMA, MAC and interrupt sides for one cycle and services what the RTL did.
    /// Returns whether any handshake happened.
    fn service_cycle(&mut self, io: &mut DeviceIo<'_>, report: &mut StepReport) -> bool {
        // Back-pressure (a verification knob): each handshake of the DMA and MAC sides is
        // withheld in a random share of cycles.
        let mut stall = || self.pressure.stall();
        let rd_req_ready = !self.rd.active && !stall();
        let rd_rsp_valid = self.rd.active && !stall();
        let wr_req_ready = !self.wr.collecting && !self.wr.responding && !stall();
        let wr_ready = self.wr.collecting && !stall();
        let wr_rsp_valid = self.wr.responding && !stall();
        // The MAC takes frames whenever it is not stalled; the elastic buffer holds what the
        // wire cannot.
        let tx_ready = !stall();
        let rx_valid = self.rx.feeding && !stall();
        let d = &mut *self.io;
        d.wvalid = 0;
        d.arvalid = 0;
        d.reg_dirty_ack = 0;
        d.rd_req_ready = rd_req_ready.into();
        d.rd_rsp_valid = rd_rsp_valid.into();
        if rd_rsp_valid {
            if self.rd.single {
                d.rd_rsp_keep = 0;
                d.rd_rsp_last = 1;
                d.rd_rsp_fault = self.rd.fault.is_some().into();
                d.rd_rsp_fault_addr = self.rd.fault.unwrap_or(0);
            } else {
                let n = (self.rd.len - self.rd.pos).min(self.beat);
                d.rd_rsp_data[..n].copy_from_slice(&self.rd.buf[self.rd.pos..self.rd.pos + n]);
                d.rd_rsp_data[n..].fill(0);
                d.rd_rsp_keep = keep_mask(n);
                d.rd_rsp_last = (self.rd.pos + n == self.rd.len).into();
                d.rd_rsp_fault = 0;
            }
            d.rd_rsp_tag = self.rd.tag;
        }
        d.wr_req_ready = wr_req_ready.into();
        d.wr_ready = wr_ready.into();
        d.wr_rsp_valid = wr_rsp_valid.into();
        d.wr_rsp_fault = self.wr.fault.is_some().into();
        d.wr_rsp_fault_addr = self.wr.fault.unwrap_or(0);
        d.wr_rsp_tag = self.wr.tag;
        d.tx_ready = tx_ready.into();
        d.rx_valid = rx_valid.into();
        if rx_valid {
            let n = (self.rx.len - self.rx.pos).min(self.beat);
            d.rx_data[..n].copy_from_slice(&self.rx.buf[self.rx.pos..self.rx.pos + n]);
            d.rx_data[n..].fill(0);
            d.rx_keep = keep_mask(n);
            let last = self.rx.pos + n == self.rx.len;
            d.rx_last = last.into();
            d.rx_user = (last && self.rx.truncated).into();
        }

        self.cycle();

        let d = &*self.io;
        let mut progress = false;
        if d.soft_reset != 0 {
            self.on_soft_reset();
            return true;
        }
        // DMA read response beat taken
        if rd_rsp_valid && d.rd_rsp_ready != 0 {
            progress = true;
            if self.rd.single {
                self.rd.active = false;
            } else {
                self.rd.pos += (self.rd.len - self.rd.pos).min(self.beat);
                if self.rd.pos >= self.rd.len {
                    self.rd.active = false;
                }
            }
        }
        // DMA read request taken (only when no response was in progress)
        if rd_req_ready && d.rd_req_valid != 0 {
            progress = true;
            let (addr, len) = (d.rd_req_addr, d.rd_req_len as usize);
            self.rd.tag = d.rd_req_tag;
            self.rd.active = true;
            self.rd.pos = 0;
            self.rd.fault = None;
            if d.rd_req_check != 0 {
                self.rd.single = true;
                self.rd.fault = io.dma.check(addr, len as u64).err().map(|f| f.iova);
            } else {
                assert!(
                    len <= self.rd.buf.len(),
                    "RTL device: DMA read of {len} bytes at {addr:#x} exceeds the largest request \
                     the device can make ({} bytes){}",
                    self.rd.buf.len(),
                    self.vcd_hint()
                );
                match io.dma.read(addr, &mut self.rd.buf[..len]) {
                    Ok(()) => {
                        self.rd.single = len == 0;
                        self.rd.len = len;
                    }
                    Err(f) => {
                        self.rd.single = true;
                        self.rd.fault = Some(f.iova);
                    }
                }
            }
        }
        // DMA write: acknowledge, data, request
        if wr_rsp_valid && d.wr_rsp_ready != 0 {
            progress = true;
            self.wr.responding = false;
        }
        if wr_ready && d.wr_valid != 0 {
            progress = true;
            let n = d.wr_keep.trailing_ones() as usize;
            self.wr.buf.extend_from_slice(&d.wr_data[..n]);
            if d.wr_last != 0 {
                self.wr.collecting = false;
                self.wr.responding = true;
                let len = self.wr.len.min(self.wr.buf.len());
                self.wr.fault = io
                    .dma
                    .write(self.wr.addr, &self.wr.buf[..len])
                    .err()
                    .map(|f| f.iova);
            }
        } else if wr_req_ready && d.wr_req_valid != 0 {
            progress = true;
            self.wr.collecting = true;
            self.wr.addr = d.wr_req_addr;
            self.wr.len = d.wr_req_len as usize;
            self.wr.tag = d.wr_req_tag;
            self.wr.buf.clear();
        }
        // MAC TX
        if tx_ready && d.tx_valid != 0 {
            progress = true;
            let n = d.tx_keep.trailing_ones() as usize;
            self.tx.frame.extend_from_slice(&d.tx_data[..n]);
            self.tx.in_frame = d.tx_last == 0;
            if d.tx_last != 0 {
                report.tx_frames += 1;
                if !self.tx.waiting() && io.wire.tx_ready(1) {
                    io.wire.transmit(&self.tx.frame, io.now_ns);
                } else {
                    let frame = std::mem::take(&mut self.tx.frame);
                    self.tx.park(&frame);
                    self.tx.frame = frame;
                }
                self.tx.frame.clear();
            }
        }
        // MAC RX
        if rx_valid && d.rx_ready != 0 {
            progress = true;
            self.rx.pos += (self.rx.len - self.rx.pos).min(self.beat);
            if self.rx.pos >= self.rx.len {
                self.rx.feeding = false;
            }
        }
        if d.irq_valid != 0 {
            io.irq.signal(d.irq_vector.into());
        }
        if d.tx_req_done != 0 {
            report.tx_requests += 1;
            progress = true;
        }
        progress || d.tx_req_start != 0
    }

    /// Takes the next frame from the wire into the RX feeder (false when none waits).
    fn next_rx_frame(&mut self, wire: &mut dyn Wire) -> bool {
        loop {
            let Some(n) = wire.receive(&mut self.rx.buf) else {
                return false;
            };
            if n == 0 {
                // An empty frame has no beat to carry it: the MAC discards it.
                continue;
            }
            self.rx.truncated = n > self.rx.buf.len();
            self.rx.len = n.min(self.rx.buf.len());
            self.rx.pos = 0;
            self.rx.feeding = true;
            return true;
        }
    }
}

impl DeviceCore for RtlDevice {
    fn implementation(&self) -> Implementation {
        Implementation::RtlVerilator
    }

    fn publish_image(&mut self, image: &mut dyn RegisterImage) {
        let mut addrs = std::mem::take(&mut self.addrs);
        addrs.clear();
        addrs.extend_from_slice(&self.map.all);
        let mut values = std::mem::take(&mut self.values);
        values.resize(addrs.len(), 0);
        let dirty = self.io.reg_dirty;
        self.read_regs_ack(&addrs, &mut values, dirty);
        image.begin_batch();
        let mut next = addrs.iter().zip(&values).peekable();
        for off in (0..BAR0_SIZE).step_by(4) {
            match next.peek() {
                Some((a, v)) if **a == off => {
                    image.store(off, **v);
                    next.next();
                }
                _ => image.store(off, 0),
            }
        }
        image.end_batch();
        self.addrs = addrs;
        self.values = values;
        self.hold_ports();
        self.cycle();
    }

    fn mmio_write(&mut self, offset: u32, value: u32, io: &mut DeviceIo<'_>) {
        self.hold_ports();
        self.io.wvalid = 1;
        self.io.awaddr = offset;
        self.io.wdata = value;
        self.io.bready = 1;
        let mut accepted = false;
        let mut waited = 0u64;
        loop {
            self.cycle();
            if self.io.irq_valid != 0 {
                io.irq.signal(self.io.irq_vector.into());
            }
            if self.io.soft_reset != 0 {
                self.on_soft_reset();
            }
            if !accepted && self.io.wready != 0 {
                accepted = true;
                self.io.wvalid = 0;
            } else if accepted && self.io.bvalid != 0 {
                break;
            }
            waited += 1;
            assert!(
                waited < STALL_CYCLES,
                "RTL device: register write at {offset:#x} not acknowledged{}",
                self.vcd_hint()
            );
        }
        self.io.bready = 0;
        // Let the effects of the write (and a soft reset) settle before reading back.
        for _ in 0..2 {
            self.hold_ports();
            self.cycle();
            if self.io.irq_valid != 0 {
                io.irq.signal(self.io.irq_vector.into());
            }
            if self.io.soft_reset != 0 {
                self.on_soft_reset();
            }
        }
        self.sync_image(io.image, Some(offset));
    }

    fn mmio_read(&mut self, offset: u32) -> u32 {
        let mut v = [0u32];
        self.read_regs(&[offset], &mut v);
        v[0]
    }

    fn report_bad_read(&mut self, offset: u32, io: &mut DeviceIo<'_>) {
        // The RTL sees the access as an unaligned read and records it.
        let mut v = [0u32];
        self.read_regs(&[offset], &mut v);
        self.hold_ports();
        self.cycle();
        self.sync_image(io.image, None);
    }

    fn step(&mut self, io: &mut DeviceIo<'_>, budget: u32) -> StepReport {
        let mut report = StepReport::default();
        io.wire.begin_step(io.now_ns);
        self.io.time_ns = io.now_ns;
        // Frames that waited for the wire go first; while any still wait, nothing new starts.
        self.tx.drain(io.wire, io.now_ns);
        let (mut started, mut rx_taken) = (0u32, 0u32);
        let mut last_progress = self.cycles;
        loop {
            if !self.rx.feeding && rx_taken < budget && self.next_rx_frame(io.wire) {
                rx_taken += 1;
                report.rx_frames += 1;
            }
            let may_start = started < budget && report.tx_frames < budget && !self.tx.waiting();
            self.io.sched_enable = may_start.into();
            let progress = self.service_cycle(io, &mut report);
            if progress {
                last_progress = self.cycles;
            }
            if self.io.tx_req_start != 0 {
                started += 1;
            }
            let harness_idle = !self.rd.active
                && !self.wr.collecting
                && !self.wr.responding
                && !self.tx.in_frame
                && !self.rx.feeding;
            // `idle` is sampled before the edge: it holds after the edge only if nothing was
            // handed over at it.
            if self.io.idle != 0
                && !progress
                && harness_idle
                && (rx_taken >= budget || !io.wire.rx_pending())
            {
                break;
            }
            assert!(
                self.cycles - last_progress < STALL_CYCLES,
                "RTL device stalled: no handshake for {STALL_CYCLES} cycles (read {:?}, write \
                 collecting {} responding {}, TX in frame {}, RX feeding {}){}",
                (self.rd.active, self.rd.tag),
                self.wr.collecting,
                self.wr.responding,
                self.tx.in_frame,
                self.rx.feeding,
                self.vcd_hint()
            );
        }
        self.io.sched_enable = 0;
        self.tx.drain(io.wire, io.now_ns);
        let tx_cut = started >= budget || report.tx_frames >= budget || self.tx.waiting();
        report.more = (tx_cut && self.io.tx_work != 0 && !self.tx.waiting())
            || (rx_taken >= budget && io.wire.rx_pending());
        if self.tx.waiting() {
            report.wire_blocked = 1;
        }
        io.wire.flush(io.now_ns);
        self.sync_image(io.image, None);
        report
    }

    fn simulated_cycles(&self) -> Option<u64> {
        Some(self.cycles)
    }
}
