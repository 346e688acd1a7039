//! The only `unsafe` of the RTL backend: the C ABI of `csrc/ft_sim_shim.cpp`, which wraps the
//! Verilated models of `rtl/ft_sim_top.v`.
//!
//! Owns: [`FtIo`] (the per-cycle port struct, mirrored field for field by `ft_io` in the shim)
//! and [`Model`], an owned model handle whose methods are safe. Must not: interpret ports
//! (that is [`super`]'s job). Runs under valgrind's memcheck in
//! `tests/unsafe_under_valgrind.rs`.

use std::ffi::{CString, c_char, c_void};
use std::marker::PhantomData;
use std::path::Path;

/// Every port of `ft_sim_top`, as bytes and integers; inputs are written before a cycle, outputs
/// are read after it (sampled before the rising edge, so `valid && ready` in one `FtIo` is the
/// handshake of that edge). Layout is `ft_io` of the shim; [`Model::new`] checks the size.
#[repr(C)]
#[derive(Clone)]
pub struct FtIo {
    /// In: TX input byte enables.
    pub tx_in_keep: u64,
    /// In: RX input byte enables.
    pub rx_in_keep: u64,
    /// Out: TX output byte enables.
    pub tx_out_keep: u64,
    /// In: TX request frame length.
    pub tx_req_len: u32,
    /// In: `IDENT.MAX_TSO_PAYLOAD`.
    pub cfg_max_tso_payload: u32,
    /// In: `RSS.KEY` words (word 0 = key bytes 0..3, big-endian).
    pub cfg_rss_key: [u32; 10],
    /// Out: TSO payload bytes of the request.
    pub tx_status_payload_len: u32,
    /// Out: Toeplitz hash.
    pub rx_status_rss_hash: u32,
    /// In: TSO MSS.
    pub tx_req_mss: u16,
    /// In: L3 header length.
    pub tx_req_l3_len: u16,
    /// In: `IDENT.MAX_FRAME_LEN`.
    pub cfg_max_frame_len: u16,
    /// In: `IDENT.MSS_LIMITS.MIN_MSS`.
    pub cfg_min_mss: u16,
    /// In: `IDENT.MSS_LIMITS.MAX_MSS`.
    pub cfg_max_mss: u16,
    /// In: `CONTROL.TSO_FLAGS_FIRST`.
    pub cfg_tso_flags_first: u16,
    /// In: `CONTROL.TSO_FLAGS_MIDDLE`.
    pub cfg_tso_flags_middle: u16,
    /// In: `CONTROL.TSO_FLAGS_LAST`.
    pub cfg_tso_flags_last: u16,
    /// Out: wire frames of the request.
    pub tx_status_segments: u16,
    /// Out: TSO header bytes of the request.
    pub tx_status_header_len: u16,
    /// Out: RX frame length.
    pub rx_status_len: u16,
    /// Padding (unused).
    pub pad16: u16,
    /// In: TX input beat.
    pub tx_in_data: [u8; 64],
    /// In: RX input beat.
    pub rx_in_data: [u8; 64],
    /// Out: TX output beat.
    pub tx_out_data: [u8; 64],
    /// Out: RSS hash input.
    pub rx_status_rss_input: [u8; 12],
    /// In: synchronous reset.
    pub rst: u8,
    /// In: `CAPS.TX_IPV4_CSUM`.
    pub cfg_cap_tx_ipv4_csum: u8,
    /// In: `CAPS.TX_TCP_CSUM`.
    pub cfg_cap_tx_tcp_csum: u8,
    /// In: `CAPS.TX_UDP_CSUM`.
    pub cfg_cap_tx_udp_csum: u8,
    /// In: `CAPS.TSO`.
    pub cfg_cap_tso: u8,
    /// In: `CTRL.RX_CSUM_ENABLE`.
    pub cfg_rx_csum_enable: u8,
    /// In: TX input valid.
    pub tx_in_valid: u8,
    /// In: TX input last beat.
    pub tx_in_last: u8,
    /// In: request `IP_CSUM`.
    pub tx_req_ip_csum: u8,
    /// In: request `L4_CSUM`.
    pub tx_req_l4_csum: u8,
    /// In: request `TSO`.
    pub tx_req_tso: u8,
    /// In: request `L2_LEN`.
    pub tx_req_l2_len: u8,
    /// In: request `L4_LEN`.
    pub tx_req_l4_len: u8,
    /// In: TX output ready.
    pub tx_out_ready: u8,
    /// In: TX status ready.
    pub tx_status_ready: u8,
    /// In: RX input valid.
    pub rx_in_valid: u8,
    /// In: RX input last beat.
    pub rx_in_last: u8,
    /// In: RX status ready.
    pub rx_status_ready: u8,
    /// Out: TX input ready.
    pub tx_in_ready: u8,
    /// Out: TX output valid.
    pub tx_out_valid: u8,
    /// Out: TX output last beat.
    pub tx_out_last: u8,
    /// Out: TX status valid.
    pub tx_status_valid: u8,
    /// Out: TX status error code.
    pub tx_status_error: u8,
    /// Out: TX status: a checksum was inserted.
    pub tx_status_checksummed: u8,
    /// Out: RX input ready.
    pub rx_in_ready: u8,
    /// Out: RX status valid.
    pub rx_status_valid: u8,
    /// Out: IPv4 checksum status.
    pub rx_status_ip_csum: u8,
    /// Out: L4 checksum status.
    pub rx_status_l4_csum: u8,
    /// Out: RSS type.
    pub rx_status_rss_type: u8,
    /// Padding (unused).
    pub pad8: u8,
}

impl Default for FtIo {
    fn default() -> Self {
        FtIo {
            tx_in_keep: 0,
            rx_in_keep: 0,
            tx_out_keep: 0,
            tx_req_len: 0,
            cfg_max_tso_payload: 0,
            cfg_rss_key: [0; 10],
            tx_status_payload_len: 0,
            rx_status_rss_hash: 0,
            tx_req_mss: 0,
            tx_req_l3_len: 0,
            cfg_max_frame_len: 0,
            cfg_min_mss: 0,
            cfg_max_mss: 0,
            cfg_tso_flags_first: 0,
            cfg_tso_flags_middle: 0,
            cfg_tso_flags_last: 0,
            tx_status_segments: 0,
            tx_status_header_len: 0,
            rx_status_len: 0,
            pad16: 0,
            tx_in_data: [0; 64],
            rx_in_data: [0; 64],
            tx_out_data: [0; 64],
            rx_status_rss_input: [0; 12],
            rst: 0,
            cfg_cap_tx_ipv4_csum: 0,
            cfg_cap_tx_tcp_csum: 0,
            cfg_cap_tx_udp_csum: 0,
            cfg_cap_tso: 0,
            cfg_rx_csum_enable: 0,
            tx_in_valid: 0,
            tx_in_last: 0,
            tx_req_ip_csum: 0,
            tx_req_l4_csum: 0,
            tx_req_tso: 0,
            tx_req_l2_len: 0,
            tx_req_l4_len: 0,
            tx_out_ready: 0,
            tx_status_ready: 0,
            rx_in_valid: 0,
            rx_in_last: 0,
            rx_status_ready: 0,
            tx_in_ready: 0,
            tx_out_valid: 0,
            tx_out_last: 0,
            tx_status_valid: 0,
            tx_status_error: 0,
            tx_status_checksummed: 0,
            rx_in_ready: 0,
            rx_status_valid: 0,
            rx_status_ip_csum: 0,
            rx_status_l4_csum: 0,
            rx_status_rss_type: 0,
            pad8: 0,
        }
    }
}

unsafe extern "C" {
    fn ftsim_io_size() -> usize;
    fn ftsim_new(width: u32, vcd_path: *const c_char) -> *mut c_void;
    fn ftsim_free(sim: *mut c_void);
    fn ftsim_cycle(sim: *mut c_void, io: *mut FtIo);
}

/// Why a model could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// No model of this width was compiled.
    UnknownWidth(u32),
    /// The VCD path contains a NUL byte.
    BadVcdPath,
    /// The C++ side could not construct the model (it threw).
    CreateFailed,
    /// The Rust and C++ views of the per-cycle port struct differ (a build mismatch).
    IoLayout {
        /// `size_of::<FtIo>()`.
        rust: usize,
        /// `sizeof(ft_io)`.
        cpp: usize,
    },
}

/// A VCD path as the shims take it (NUL-terminated), or `None` for no trace.
pub(super) fn vcd_path(vcd: Option<&Path>) -> Result<Option<CString>, ModelError> {
    vcd.map(|p| CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| ModelError::BadVcdPath))
        .transpose()
}

/// One Verilated `ft_sim_top`. Not `Send`/`Sync` (it holds a raw pointer): Verilated models
/// are not thread-safe, so each thread creates its own.
pub struct Model {
    raw: *mut c_void,
    _not_send: PhantomData<*mut ()>,
}

impl Model {
    /// A model of DATA_WIDTH `width` (512 or 64), tracing to `vcd` when given.
    pub fn new(width: u32, vcd: Option<&Path>) -> Result<Model, ModelError> {
        // SAFETY: a pure function of the shim without arguments.
        let cpp = unsafe { ftsim_io_size() };
        if cpp != std::mem::size_of::<FtIo>() {
            return Err(ModelError::IoLayout {
                rust: std::mem::size_of::<FtIo>(),
                cpp,
            });
        }
        let path = vcd_path(vcd)?;
        let ptr = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: `ptr` is null or a NUL-terminated string that outlives the call (the shim
        // copies it into the VCD writer before returning); the width is checked by the shim,
        // which returns null for widths it has no model for.
        let raw = unsafe { ftsim_new(width, ptr) };
        if raw.is_null() {
            return Err(ModelError::UnknownWidth(width));
        }
        Ok(Model {
            raw,
            _not_send: PhantomData,
        })
    }

    /// One clock cycle with the inputs in `io`; outputs are written back into `io`.
    #[inline]
    pub fn cycle(&mut self, io: &mut FtIo) {
        // SAFETY: `self.raw` is a live model created by `ftsim_new` and freed only in `Drop`;
        // `io` is an exclusive reference to a struct whose layout matches `ft_io` (size checked
        // in `new`, field order mirrored), which the shim reads and writes only during the call.
        unsafe { ftsim_cycle(self.raw, io) }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from `ftsim_new`, is not null, and is freed exactly once here.
        unsafe { ftsim_free(self.raw) }
    }
}
