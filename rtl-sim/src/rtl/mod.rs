//! The Verilog of `rtl-sim/rtl`, compiled by Verilator and driven from Rust (feature `rtl`).
//!
//! Owns two harnesses:
//! - [`RtlEngines`]: the offload engines alone. It drives the Verilated `ft_sim_top` (one
//!   `ft_tx_engine` and one `ft_rx_csum` side by side, see `rtl-sim/rtl/README.md`) cycle by
//!   cycle: frames go in as stream beats, output beats and statuses are collected, cycles are
//!   counted. Results come back in the reference model's types ([`TxPlan`]/[`ErrorCode`],
//!   [`RxClass`]), so the RTL and [`crate::engines`] compare directly.
//! - [`device::RtlDevice`]: the whole device (`ft_device`: register file, queue engines,
//!   completion writer, offload engines) as a [`crate::device::DeviceCore`], the `rtl` backend
//!   of the simulated NIC.
//!
//! All FFI is in the private `ffi` and `device_ffi` modules. Must not: re-implement engine or
//! device behaviour (the RTL is the thing under test) or touch the device model.
//!
//! Usage: one [`RtlEngines`] per thread (Verilated models are not thread-safe; the type is
//! neither `Send` nor `Sync`). Two builds exist, [`DataWidth::Bits512`] (the reference
//! configuration) and [`DataWidth::Bits64`]. A VCD waveform of a run is written when the model is
//! created with [`RtlEngines::with_vcd`], or for every model when the environment variable
//! `FERROTOE_RTL_VCD` names a directory (files `ft_sim_<width>_<n>.vcd`); open it with GTKWave.

pub mod device;
mod device_ffi;
mod ffi;
pub mod sources;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hw_spec::offload::TsoFlagMasks;
use hw_spec::{CsumStatus, DeviceCaps, ErrorCode, RssType, TxOffloadRequest, TxPlan};

use crate::engines::rx::{RssInput, RxClass};
pub use device::RtlDevice;
pub use ffi::ModelError;
use ffi::{FtIo, Model};

/// The RTL overlay directory this crate was built with (`FERROTOE_RTL_OVERLAY` at build
/// time, see [`sources`]), or `None` for the reference RTL alone.
pub fn built_overlay() -> Option<&'static Path> {
    let dir = env!("FERROTOE_RTL_OVERLAY_BUILT");
    (!dir.is_empty()).then(|| Path::new(dir))
}

/// What this crate's RTL was built from, in one line: `reference RTL (rtl-sim/rtl)`, or the
/// overlay directory and its files ([`sources::RtlSources::summary`] at build time).
pub fn built_summary() -> &'static str {
    env!("FERROTOE_RTL_SUMMARY")
}

/// The Verilog file set this crate was built from: `rtl-sim/rtl` with [`built_overlay`] laid
/// over it, resolved again now (an overlay edited since the build lists its current files).
pub fn built_sources() -> Result<sources::RtlSources, sources::SourcesError> {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("rtl");
    sources::RtlSources::resolve(&reference, built_overlay())
}

/// Largest frame the RTL build holds (`MAX_FRAME_LEN` of `ft_sim_top`).
pub const BUILD_MAX_FRAME_LEN: u16 = 9216;
/// Largest TSO payload the RTL build supports (`MAX_TSO_PAYLOAD` of `ft_sim_top`).
pub const BUILD_MAX_TSO_PAYLOAD: u32 = 65535;
/// Every offload the engines implement with the build's limits: the configuration the tests and
/// benchmarks run (MSS from 64 bytes to the most a 54-byte header leaves in a maximum frame).
pub const REFERENCE_CAPS: DeviceCaps = DeviceCaps {
    tx_ipv4_csum: true,
    tx_tcp_csum: true,
    tx_udp_csum: true,
    rx_csum: true,
    tso: true,
    rss: true,
    timestamp: true,
    tx_scatter_gather: true,
    max_tso_payload: BUILD_MAX_TSO_PAYLOAD,
    max_frame_len: BUILD_MAX_FRAME_LEN,
    min_mss: 64,
    max_mss: BUILD_MAX_FRAME_LEN - 54,
    max_sg: 16,
};
/// Cycles without any handshake after which a run is declared stalled.
const STALL_LIMIT: u64 = 20_000;

/// The compiled datapath widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataWidth {
    /// 64 bits (8 bytes) per beat.
    Bits64,
    /// 512 bits (64 bytes) per beat: the reference configuration.
    Bits512,
}

impl DataWidth {
    /// Bits per beat.
    pub const fn bits(self) -> u32 {
        match self {
            DataWidth::Bits64 => 64,
            DataWidth::Bits512 => 512,
        }
    }

    /// Bytes per beat.
    pub const fn bytes(self) -> usize {
        self.bits() as usize / 8
    }
}

/// What the engines are configured with: the device's capabilities and TSO masks
/// (`IDENT.*`, `CONTROL.TSO_FLAGS_*`), receive checksum enable and RSS key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtlConfig {
    /// Capabilities the TX engine validates against (limits at most the build's).
    pub caps: DeviceCaps,
    /// TSO flag masks.
    pub masks: TsoFlagMasks,
    /// `CTRL.RX_CSUM_ENABLE`.
    pub rx_csum_enable: bool,
    /// The Toeplitz key (`RSS.KEY`).
    pub rss_key: [u8; hw_spec::rss::KEY_LEN],
}

/// Why an RTL run failed. Each of these is a finding about the RTL or its use, never a
/// difference of results (those are compared by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtlError {
    /// The model could not be created.
    Model(ModelError),
    /// The configuration asks for more than the RTL build holds.
    ConfigExceedsBuild {
        /// Which limit.
        what: &'static str,
        /// Requested value.
        requested: u32,
        /// The build's limit.
        limit: u32,
    },
    /// No handshake happened for too long.
    Stalled {
        /// Which engine.
        engine: &'static str,
        /// Cycle at which the run gave up.
        cycle: u64,
        /// What was still outstanding.
        detail: String,
    },
    /// The RTL broke the stream protocol (e.g. non-contiguous tkeep).
    Protocol(String),
    /// A request the harness cannot present to the RTL (e.g. an empty frame: a stream carries
    /// at least one beat).
    Unrepresentable(&'static str),
}

impl std::fmt::Display for RtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RtlError::Model(e) => write!(f, "rtl-sim: cannot create the Verilated model: {e:?}"),
            RtlError::ConfigExceedsBuild {
                what,
                requested,
                limit,
            } => write!(
                f,
                "rtl-sim: {what} = {requested} exceeds the RTL build's {limit}; lower it or \
                 rebuild the RTL with a larger parameter"
            ),
            RtlError::Stalled {
                engine,
                cycle,
                detail,
            } => write!(
                f,
                "rtl-sim: {engine} engine stalled at cycle {cycle} ({detail}); rerun with \
                 FERROTOE_RTL_VCD=<dir> for a waveform"
            ),
            RtlError::Protocol(s) => write!(f, "rtl-sim: stream protocol violation: {s}"),
            RtlError::Unrepresentable(s) => write!(f, "rtl-sim: cannot present request: {s}"),
        }
    }
}

impl std::error::Error for RtlError {}

/// How often the harness withholds input beats or output ready, to exercise back-pressure.
/// Percentages 0..=100; zero (the default) streams at full rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Percentage of cycles in which no input beat is offered.
    pub input_gap_percent: u8,
    /// Percentage of cycles in which the output (frames and statuses) is not ready.
    pub output_stall_percent: u8,
    /// Seed of the pattern.
    pub seed: u64,
}

/// Cycle-level observations of one run (a batch of frames pushed back to back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Cycles the run took.
    pub cycles: u64,
    /// Input beats accepted.
    pub in_beats: u64,
    /// Output beats (TX frames) or statuses (RX) delivered.
    pub out_beats: u64,
    /// Output frames (TX) or statuses (RX).
    pub out_frames: u64,
    /// Run-relative cycle of the first input beat accepted.
    pub first_in_cycle: u64,
    /// Run-relative cycle of the last beat of the first frame accepted.
    pub first_frame_last_in_cycle: u64,
    /// Run-relative cycle of the last input beat accepted.
    pub last_in_cycle: u64,
    /// Run-relative cycle of the first output beat (TX) or status (RX).
    pub first_out_cycle: u64,
    /// Run-relative cycle of the last output beat (TX) or status (RX).
    pub last_out_cycle: u64,
    /// Cycles between the first and last output beat with no beat on the output bus.
    pub out_idle_cycles: u64,
    /// Of those, the cycles between a frame's last beat and the next frame's first beat.
    pub idle_between_frames: u64,
}

impl StreamStats {
    /// Output beats per cycle over the span from the first to the last output beat.
    pub fn out_utilisation(&self) -> f64 {
        let span = self.last_out_cycle.saturating_sub(self.first_out_cycle) + 1;
        self.out_beats as f64 / span as f64
    }
}

/// Results of a TX batch, in request order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxBatch {
    /// One result per request, as `tx::process` returns it.
    pub results: Vec<Result<TxPlan, ErrorCode>>,
    /// The wire frames of every request, in order (request `k` owns `results[k].segments`).
    pub frames: Vec<Vec<u8>>,
    /// Cycle statistics.
    pub stats: StreamStats,
}

/// The RX status of one frame: the model's classification plus what only the RTL computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxStatus {
    /// Checksum statuses and RSS input, as `rx::classify` returns them.
    pub class: RxClass,
    /// Toeplitz hash of the RSS input (0 without input).
    pub rss_hash: u32,
    /// Frame length as the engine counted it.
    pub len: u16,
}

/// Results of an RX batch, in frame order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RxBatch {
    /// One status per frame.
    pub statuses: Vec<RxStatus>,
    /// Cycle statistics.
    pub stats: StreamStats,
}

/// A tiny deterministic generator for the back-pressure pattern (SplitMix64).
struct PressureRng(u64);

impl PressureRng {
    fn percent(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % 100) as u8
    }
}

/// The TX and RX engines of one Verilated model.
pub struct RtlEngines {
    model: Model,
    io: Box<FtIo>,
    width: DataWidth,
    config: RtlConfig,
    cycle: u64,
}

static VCD_COUNTER: AtomicU64 = AtomicU64::new(0);

impl RtlEngines {
    /// A model of `width`, reset and configured. Traces to a VCD file when the environment
    /// variable `FERROTOE_RTL_VCD` names a directory.
    pub fn new(width: DataWidth, config: RtlConfig) -> Result<RtlEngines, RtlError> {
        let vcd = std::env::var_os("FERROTOE_RTL_VCD").map(|dir| {
            let n = VCD_COUNTER.fetch_add(1, Ordering::Relaxed);
            PathBuf::from(dir).join(format!("ft_sim_{}_{n}.vcd", width.bits()))
        });
        Self::build(width, config, vcd.as_deref())
    }

    /// A model of `width` that writes a VCD waveform of everything it simulates to `vcd`.
    pub fn with_vcd(width: DataWidth, config: RtlConfig, vcd: &Path) -> Result<Self, RtlError> {
        Self::build(width, config, Some(vcd))
    }

    fn build(width: DataWidth, config: RtlConfig, vcd: Option<&Path>) -> Result<Self, RtlError> {
        check_config(&config)?;
        let model = Model::new(width.bits(), vcd).map_err(RtlError::Model)?;
        let mut engines = RtlEngines {
            model,
            io: Box::default(),
            width,
            config,
            cycle: 0,
        };
        engines.apply_config();
        engines.io.rst = 1;
        for _ in 0..4 {
            engines.step();
        }
        engines.io.rst = 0;
        engines.step();
        Ok(engines)
    }

    /// The datapath width of this model.
    pub fn width(&self) -> DataWidth {
        self.width
    }

    /// The configuration in force.
    pub fn config(&self) -> &RtlConfig {
        &self.config
    }

    /// Changes the configuration (between runs; the engines are idle then).
    pub fn set_config(&mut self, config: RtlConfig) -> Result<(), RtlError> {
        check_config(&config)?;
        self.config = config;
        self.apply_config();
        self.step();
        Ok(())
    }

    /// Cycles simulated since the model was created.
    pub fn cycles(&self) -> u64 {
        self.cycle
    }

    fn apply_config(&mut self) {
        let c = &self.config;
        let io = &mut *self.io;
        io.cfg_cap_tx_ipv4_csum = c.caps.tx_ipv4_csum.into();
        io.cfg_cap_tx_tcp_csum = c.caps.tx_tcp_csum.into();
        io.cfg_cap_tx_udp_csum = c.caps.tx_udp_csum.into();
        io.cfg_cap_tso = c.caps.tso.into();
        io.cfg_max_frame_len = c.caps.max_frame_len;
        io.cfg_min_mss = c.caps.min_mss;
        io.cfg_max_mss = c.caps.max_mss;
        io.cfg_max_tso_payload = c.caps.max_tso_payload;
        io.cfg_tso_flags_first = c.masks.first;
        io.cfg_tso_flags_middle = c.masks.middle;
        io.cfg_tso_flags_last = c.masks.last;
        io.cfg_rx_csum_enable = c.rx_csum_enable.into();
        io.cfg_rss_key = hw_spec::rss::key_to_words(&c.rss_key);
    }

    #[inline]
    fn step(&mut self) {
        self.model.cycle(&mut self.io);
        self.cycle += 1;
    }

    /// Processes one TX request like `engines::tx::process`: `emit` receives each wire frame.
    pub fn tx<E: FnMut(&[u8])>(
        &mut self,
        frame: &[u8],
        req: &TxOffloadRequest,
        mut emit: E,
    ) -> Result<Result<TxPlan, ErrorCode>, RtlError> {
        let batch = self.tx_batch(&[(frame, *req)], Pressure::default())?;
        for f in &batch.frames {
            emit(f);
        }
        Ok(batch.results[0])
    }

    /// Pushes TX requests back to back through the engine (inputs offered every cycle unless
    /// `pressure` says otherwise) and collects every status and wire frame.
    pub fn tx_batch(
        &mut self,
        requests: &[(&[u8], TxOffloadRequest)],
        pressure: Pressure,
    ) -> Result<TxBatch, RtlError> {
        if requests.iter().any(|(f, _)| f.is_empty()) {
            return Err(RtlError::Unrepresentable(
                "an empty frame has no beat to carry it",
            ));
        }
        let w = self.width.bytes();
        let start = self.cycle;
        let mut rng = PressureRng(pressure.seed);
        let mut out = TxBatch::default();
        let mut req_idx = 0usize;
        let mut beat_idx = 0usize;
        let mut current: Vec<u8> = Vec::new();
        let mut expected_frames: Option<u64> = None;
        let mut idle_run = 0u64;
        let mut in_frame_gap = false;
        let mut seen_out = false;
        let mut last_progress = self.cycle;
        let mut segments_due = 0u64;
        loop {
            // Inputs for this cycle.
            let offer = req_idx < requests.len() && rng.percent() >= pressure.input_gap_percent;
            let stall_out = rng.percent() < pressure.output_stall_percent;
            let io = &mut *self.io;
            io.tx_in_valid = offer.into();
            if offer {
                let (frame, req) = &requests[req_idx];
                let lo = beat_idx * w;
                let hi = (lo + w).min(frame.len());
                io.tx_in_data[..w].fill(0);
                io.tx_in_data[..hi - lo].copy_from_slice(&frame[lo..hi]);
                io.tx_in_keep = keep_mask(hi - lo);
                io.tx_in_last = (hi == frame.len()).into();
                io.tx_req_len = frame.len() as u32;
                io.tx_req_ip_csum = req.ip_csum.into();
                io.tx_req_l4_csum = req.l4_csum.bits() as u8;
                io.tx_req_tso = req.tso.into();
                io.tx_req_mss = req.mss;
                io.tx_req_l2_len = req.l2_len;
                io.tx_req_l3_len = req.l3_len;
                io.tx_req_l4_len = req.l4_len;
            }
            io.tx_out_ready = (!stall_out).into();
            io.tx_status_ready = (!stall_out).into();
            self.step();
            let now = self.cycle - start;
            let io = &*self.io;
            // Input handshake.
            if offer && io.tx_in_ready != 0 {
                last_progress = self.cycle;
                out.stats.in_beats += 1;
                if out.stats.in_beats == 1 {
                    out.stats.first_in_cycle = now;
                }
                out.stats.last_in_cycle = now;
                let (frame, _) = &requests[req_idx];
                if (beat_idx + 1) * w >= frame.len() {
                    if req_idx == 0 {
                        out.stats.first_frame_last_in_cycle = now;
                    }
                    req_idx += 1;
                    beat_idx = 0;
                } else {
                    beat_idx += 1;
                }
            }
            // Output beat.
            if io.tx_out_valid != 0 && !stall_out {
                last_progress = self.cycle;
                let n = keep_len(io.tx_out_keep, w, io.tx_out_last != 0).ok_or_else(|| {
                    RtlError::Protocol(format!(
                        "TX output tkeep {:#x} (last={}) is not contiguous at cycle {}",
                        io.tx_out_keep, io.tx_out_last, self.cycle
                    ))
                })?;
                current.extend_from_slice(&io.tx_out_data[..n]);
                out.stats.out_beats += 1;
                if !seen_out {
                    seen_out = true;
                    out.stats.first_out_cycle = now;
                } else {
                    out.stats.out_idle_cycles += idle_run;
                    if in_frame_gap {
                        out.stats.idle_between_frames += idle_run;
                    }
                }
                idle_run = 0;
                out.stats.last_out_cycle = now;
                in_frame_gap = io.tx_out_last != 0;
                if io.tx_out_last != 0 {
                    out.frames.push(std::mem::take(&mut current));
                    out.stats.out_frames += 1;
                }
            } else if seen_out {
                idle_run += 1;
            }
            // Status.
            if io.tx_status_valid != 0 && !stall_out {
                last_progress = self.cycle;
                let result = if io.tx_status_error == 0 {
                    segments_due += u64::from(io.tx_status_segments);
                    Ok(TxPlan {
                        segments: io.tx_status_segments,
                        header_len: u32::from(io.tx_status_header_len),
                        payload_len: io.tx_status_payload_len,
                        checksummed: io.tx_status_checksummed != 0,
                    })
                } else {
                    Err(
                        ErrorCode::from_bits(u32::from(io.tx_status_error)).ok_or_else(|| {
                            RtlError::Protocol(format!(
                                "TX status carries unknown error code {:#x}",
                                io.tx_status_error
                            ))
                        })?,
                    )
                };
                out.results.push(result);
                if out.results.len() == requests.len() {
                    expected_frames = Some(segments_due);
                }
            }
            if let Some(n) = expected_frames
                && out.stats.out_frames >= n
            {
                break;
            }
            if self.cycle - last_progress > STALL_LIMIT {
                return Err(RtlError::Stalled {
                    engine: "TX",
                    cycle: self.cycle,
                    detail: format!(
                        "{} of {} requests accepted, {} statuses, {} frames out",
                        req_idx,
                        requests.len(),
                        out.results.len(),
                        out.stats.out_frames
                    ),
                });
            }
        }
        if out.stats.out_frames != expected_frames.unwrap_or(0) || !current.is_empty() {
            return Err(RtlError::Protocol(format!(
                "TX emitted {} frames where the statuses announce {}",
                out.stats.out_frames,
                expected_frames.unwrap_or(0)
            )));
        }
        out.stats.cycles = self.cycle - start;
        Ok(out)
    }

    /// Classifies one received frame like `engines::rx::classify` (with the configured
    /// `rx_csum_enable`).
    pub fn rx(&mut self, frame: &[u8]) -> Result<RxStatus, RtlError> {
        let batch = self.rx_batch(&[frame], Pressure::default())?;
        Ok(batch.statuses[0])
    }

    /// Pushes received frames back to back through the RX engine and collects their statuses.
    pub fn rx_batch(&mut self, frames: &[&[u8]], pressure: Pressure) -> Result<RxBatch, RtlError> {
        if frames.iter().any(|f| f.is_empty()) {
            return Err(RtlError::Unrepresentable(
                "an empty frame has no beat to carry it",
            ));
        }
        let w = self.width.bytes();
        let start = self.cycle;
        let mut rng = PressureRng(pressure.seed);
        let mut out = RxBatch::default();
        let mut frame_idx = 0usize;
        let mut beat_idx = 0usize;
        let mut last_progress = self.cycle;
        let mut seen_out = false;
        let mut idle_run = 0u64;
        while out.statuses.len() < frames.len() {
            let offer = frame_idx < frames.len() && rng.percent() >= pressure.input_gap_percent;
            let stall_out = rng.percent() < pressure.output_stall_percent;
            let io = &mut *self.io;
            io.rx_in_valid = offer.into();
            if offer {
                let frame = frames[frame_idx];
                let lo = beat_idx * w;
                let hi = (lo + w).min(frame.len());
                io.rx_in_data[..w].fill(0);
                io.rx_in_data[..hi - lo].copy_from_slice(&frame[lo..hi]);
                io.rx_in_keep = keep_mask(hi - lo);
                io.rx_in_last = (hi == frame.len()).into();
            }
            io.rx_status_ready = (!stall_out).into();
            self.step();
            let now = self.cycle - start;
            let io = &*self.io;
            if offer && io.rx_in_ready != 0 {
                last_progress = self.cycle;
                out.stats.in_beats += 1;
                if out.stats.in_beats == 1 {
                    out.stats.first_in_cycle = now;
                }
                out.stats.last_in_cycle = now;
                if (beat_idx + 1) * w >= frames[frame_idx].len() {
                    if frame_idx == 0 {
                        out.stats.first_frame_last_in_cycle = now;
                    }
                    frame_idx += 1;
                    beat_idx = 0;
                } else {
                    beat_idx += 1;
                }
            }
            if io.rx_status_valid != 0 && !stall_out {
                last_progress = self.cycle;
                out.statuses.push(decode_rx(io)?);
                out.stats.out_beats += 1;
                out.stats.out_frames += 1;
                if !seen_out {
                    seen_out = true;
                    out.stats.first_out_cycle = now;
                } else {
                    out.stats.out_idle_cycles += idle_run;
                }
                idle_run = 0;
                out.stats.last_out_cycle = now;
            } else if seen_out {
                idle_run += 1;
            }
            if self.cycle - last_progress > STALL_LIMIT {
                return Err(RtlError::Stalled {
                    engine: "RX",
                    cycle: self.cycle,
                    detail: format!(
                        "{} of {} frames accepted, {} statuses",
                        frame_idx,
                        frames.len(),
                        out.statuses.len()
                    ),
                });
            }
        }
        out.stats.cycles = self.cycle - start;
        Ok(out)
    }
}

fn check_config(config: &RtlConfig) -> Result<(), RtlError> {
    if config.caps.max_frame_len > BUILD_MAX_FRAME_LEN {
        return Err(RtlError::ConfigExceedsBuild {
            what: "MAX_FRAME_LEN",
            requested: config.caps.max_frame_len.into(),
            limit: BUILD_MAX_FRAME_LEN.into(),
        });
    }
    if config.caps.max_tso_payload > BUILD_MAX_TSO_PAYLOAD {
        return Err(RtlError::ConfigExceedsBuild {
            what: "MAX_TSO_PAYLOAD",
            requested: config.caps.max_tso_payload,
            limit: BUILD_MAX_TSO_PAYLOAD,
        });
    }
    Ok(())
}

/// tkeep with the low `n` lanes set.
fn keep_mask(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Bytes in a beat whose tkeep must be contiguous from lane 0 (all `w` lanes unless last).
fn keep_len(keep: u64, w: usize, last: bool) -> Option<usize> {
    let n = keep.trailing_ones() as usize;
    let full = keep_mask(w);
    if keep & !full != 0 || keep != keep_mask(n) || n == 0 || (!last && n != w) {
        None
    } else {
        Some(n)
    }
}

fn decode_rx(io: &FtIo) -> Result<RxStatus, RtlError> {
    let status = |bits: u8| {
        CsumStatus::from_bits(u32::from(bits)).ok_or_else(|| {
            RtlError::Protocol(format!("RX status carries checksum status {bits:#x}"))
        })
    };
    let kind = RssType::from_bits(u32::from(io.rx_status_rss_type))
        .ok_or_else(|| RtlError::Protocol("RX status carries an unknown RSS type".into()))?;
    let rss = match kind {
        RssType::None => None,
        RssType::Ipv4 => Some(RssInput {
            kind,
            bytes: io.rx_status_rss_input,
            len: 8,
        }),
        RssType::Ipv4Tcp | RssType::Ipv4Udp => Some(RssInput {
            kind,
            bytes: io.rx_status_rss_input,
            len: 12,
        }),
    };
    Ok(RxStatus {
        class: RxClass {
            ip: status(io.rx_status_ip_csum)?,
            l4: status(io.rx_status_l4_csum)?,
            rss,
        },
        rss_hash: io.rx_status_rss_hash,
        len: io.rx_status_len,
    })
}
