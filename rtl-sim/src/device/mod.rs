//! The whole device behind one trait, and the interfaces it drives.
//!
//! [`DeviceCore`] is what a NIC implementation is to the rest of the simulator: MMIO writes in,
//! MMIO reads out, and [`step`](DeviceCore::step) to let it work. While it works it reaches the
//! outside world only through [`DeviceIo`]:
//!
//! | interface | what it is on hardware | serviced by |
//! |---|---|---|
//! | [`Dma`] | PCIe reads/writes of host memory through the IOMMU | sim-link's IOMMU, or a test memory |
//! | [`Wire`] | the Ethernet MAC's TX and RX streams | a cable, a TAP device, a pcap file, a test wire |
//! | [`IrqOut`] | MSI-X messages | sim-link's interrupt lines, or a test counter |
//! | [`RegisterImage`] | (none: BAR reads are answered by the device) | sim-link's BAR0 file, or a vector |
//!
//! The register image exists because the simulated BAR0 is a file the driver reads without
//! asking the device: a core keeps the image equal to what [`DeviceCore::mmio_read`] would
//! return, at least whenever it returns from `mmio_write` or `step`.
//!
//! Implementations: [`model::ModelDevice`] (the Rust reference model, the default backend) and
//! `rtl::RtlDevice` (the Verilated `ft_device`: register file, queue engines, offload engines;
//! feature `rtl`). The RTL harness services the interfaces from its clock loop: descriptor and
//! buffer fetches become [`Dma::read`], buffer and completion writes [`Dma::write`], the
//! AXI-Stream TX output [`Wire::transmit`], the RX input [`Wire::receive`], interrupt pulses
//! [`IrqOut::signal`], and register-file changes [`RegisterImage::store`]. The descriptor-level
//! test suite in [`crate::conformance`] runs against any implementation.
//!
//! Owns the interfaces only; it must not contain device behaviour (that is `model`'s) nor
//! shared-memory code (sim-link's).

pub mod config;
pub mod model;

pub use config::{ConfigError, DeviceConfig};
pub use sim_link::DmaFault;

use hw_spec::Implementation;

/// Host memory as the device reaches it: through the IOMMU, with faults.
pub trait Dma {
    /// Reads `buf.len()` bytes at `iova`. On a fault nothing is read.
    fn read(&mut self, iova: u64, buf: &mut [u8]) -> Result<(), DmaFault>;
    /// Writes `data` at `iova`; the last byte becomes visible last (completions rely on it).
    /// On a fault nothing is written.
    fn write(&mut self, iova: u64, data: &[u8]) -> Result<(), DmaFault>;
    /// Checks that `len` bytes at `iova` are mapped, without transferring them.
    fn check(&mut self, iova: u64, len: u64) -> Result<(), DmaFault>;
}

/// The device's Ethernet port.
pub trait Wire {
    /// Sends one frame (no FCS, no padding: exactly the bytes given). `now_ns` is device time.
    fn transmit(&mut self, frame: &[u8], now_ns: u64);
    /// Takes the next received frame into `buf` and returns its length, or `None` when nothing
    /// waits. A returned length above `buf.len()` means the frame was longer than `buf` and only
    /// its first `buf.len()` bytes were copied.
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize>;
    /// Sends one frame given in two pieces, `headers` then `payload` (the frame is the two
    /// back to back), if the port can take it that way without joining them first; returns
    /// false, having sent nothing, if it cannot (the caller then joins the pieces and calls
    /// [`transmit`](Wire::transmit)). The default cannot.
    fn transmit_split(&mut self, _headers: &[u8], _payload: &[u8], _now_ns: u64) -> bool {
        false
    }
    /// Whether a received frame waits (cheap; used to decide whether the device may sleep).
    fn rx_pending(&self) -> bool;
    /// Whether the port can take `frames` more frames now. The device does not start a TX
    /// request until it can (the MAC is busy: back-pressure, as a stream's `ready`). A port
    /// that can never hold `frames` at once answers for as many as it can hold.
    fn tx_ready(&self, _frames: usize) -> bool {
        true
    }
    /// Called at the end of each device step: a port may release frames it holds back.
    fn flush(&mut self, _now_ns: u64) {}
    /// Called at the start of each device step with the device time (before any
    /// [`receive`](Wire::receive), which has no clock of its own): a port that times the
    /// frames it receives (a bottleneck's queue, a capture's timestamps) takes the time of
    /// this step from here, not from the last step's [`flush`](Wire::flush), which may lie
    /// long before it (a NIC that slept). The default ignores it.
    fn begin_step(&mut self, _now_ns: u64) {}
}

/// Interrupt delivery (MSI-X on hardware).
pub trait IrqOut {
    /// Signals vector `vector` (the device has counted it and checked its mask).
    fn signal(&mut self, vector: u32);
}

/// The register image a driver reads (see the module documentation).
pub trait RegisterImage {
    /// Stores the word at BAR0 offset `offset` (aligned, inside BAR0).
    fn store(&mut self, offset: u32, value: u32);
    /// Starts a batch of stores readers must see all or nothing of (64-bit counters).
    fn begin_batch(&mut self) {}
    /// Ends the batch.
    fn end_batch(&mut self) {}
}

/// What a device step may touch.
pub struct DeviceIo<'a> {
    /// Host memory.
    pub dma: &'a mut dyn Dma,
    /// The Ethernet port.
    pub wire: &'a mut dyn Wire,
    /// Interrupts.
    pub irq: &'a mut dyn IrqOut,
    /// The register image.
    pub image: &'a mut dyn RegisterImage,
    /// Device time in nanoseconds (timestamps in registers and completions).
    pub now_ns: u64,
}

/// What one [`DeviceCore::step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepReport {
    /// TX requests (descriptor chains) completed, errors included.
    pub tx_requests: u32,
    /// Frames put on the wire.
    pub tx_frames: u32,
    /// Frames taken from the wire (delivered or dropped).
    pub rx_frames: u32,
    /// Whether the step stopped at its budget with work left (step again without sleeping).
    pub more: bool,
    /// Non-zero when a TX request waits for the wire: the frames it needs room for. A runner
    /// may sleep until [`Wire::tx_ready`] holds for that many.
    pub wire_blocked: u32,
}

impl StepReport {
    /// Whether the step did anything.
    pub fn did_work(&self) -> bool {
        self.tx_requests + self.rx_frames > 0
    }
}

/// A NIC implementation: the reference model, or the RTL under Verilator.
///
/// Contract: MMIO writes are applied in the order given, each completely, before the call
/// returns; `mmio_read` has no side effects; the image passed in `io` equals what `mmio_read`
/// returns for every aligned BAR0 offset whenever a method returns (multi-word updates inside
/// `begin_batch`/`end_batch`). No method panics on anything a driver or the wire can send: bad
/// input is counted and reported as hw-spec section 8 says.
pub trait DeviceCore: Send {
    /// What implements this core (`IDENT.DEVICE_ID.IMPLEMENTATION`).
    fn implementation(&self) -> Implementation;

    /// Writes every readable register to `image` (after creation, or when a new image is
    /// attached).
    fn publish_image(&mut self, image: &mut dyn RegisterImage);

    /// Applies one 32-bit MMIO write at BAR0 `offset` (possibly unaligned or undefined: the
    /// device reports those).
    fn mmio_write(&mut self, offset: u32, value: u32, io: &mut DeviceIo<'_>);

    /// What a 32-bit read at the aligned BAR0 `offset` returns now.
    fn mmio_read(&mut self, offset: u32) -> u32;

    /// A read the transport could not serve (unaligned): the device reports it.
    fn report_bad_read(&mut self, offset: u32, io: &mut DeviceIo<'_>);

    /// Runs the device: TX queues and received frames, at most `budget` TX requests and
    /// `budget` RX frames.
    fn step(&mut self, io: &mut DeviceIo<'_>, budget: u32) -> StepReport;

    /// Clock cycles this implementation has simulated since it was built, where it has a clock
    /// to count (the RTL under Verilator); `None` for the model, which has none. Benchmarks
    /// divide it by wall time to report simulated cycles per second.
    fn simulated_cycles(&self) -> Option<u64> {
        None
    }
}
