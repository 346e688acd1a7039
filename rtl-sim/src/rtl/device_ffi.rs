//! The only `unsafe` of the RTL device core: the C ABI of `csrc/ft_dev_shim.cpp`, which wraps
//! the Verilated whole-device models of `rtl/ft_device.v` (512 and 64 bits).
//!
//! Owns: [`DevIo`] (the per-cycle port struct, mirrored field for field by `ftdev_io` in the
//! shim) and [`DevModel`], an owned model handle whose methods are safe. Must not: interpret
//! ports (that is [`super::device`]'s job). Runs under valgrind's memcheck in
//! `tests/unsafe_under_valgrind.rs`.

use std::ffi::{c_char, c_void};
use std::path::Path;

pub use super::ffi::ModelError;

/// Every port of `ft_device`, as bytes and integers; inputs are written before a cycle,
/// outputs are read after it (sampled before the rising edge, so `valid && ready` in one
/// `DevIo` is the handshake of that edge). Wide outputs (`*_data`, `*_keep`, request fields)
/// are only refreshed in cycles whose valid is set; wide inputs are only passed in cycles
/// whose valid is set. Layout is `ftdev_io` of the shim; [`DevModel::new`] checks it.
#[repr(C)]
#[derive(Clone)]
pub struct DevIo {
    pub time_ns: u64,
    pub reg_dirty: u64,
    pub reg_dirty_ack: u64,
    pub rd_req_addr: u64,
    pub rd_rsp_keep: u64,
    pub rd_rsp_fault_addr: u64,
    pub wr_req_addr: u64,
    pub wr_keep: u64,
    pub wr_rsp_fault_addr: u64,
    pub tx_keep: u64,
    pub rx_keep: u64,
    pub awaddr: u32,
    pub wdata: u32,
    pub araddr: u32,
    pub rdata: u32,
    pub rd_req_len: u32,
    pub wr_req_len: u32,
    pub rd_rsp_data: [u8; 64],
    pub wr_data: [u8; 64],
    pub tx_data: [u8; 64],
    pub rx_data: [u8; 64],
    pub rst: u8,
    pub sched_enable: u8,
    pub wvalid: u8,
    pub bready: u8,
    pub arvalid: u8,
    pub rready: u8,
    pub rd_req_ready: u8,
    pub rd_rsp_valid: u8,
    pub rd_rsp_last: u8,
    pub rd_rsp_fault: u8,
    pub rd_rsp_tag: u8,
    pub wr_req_ready: u8,
    pub wr_ready: u8,
    pub wr_rsp_valid: u8,
    pub wr_rsp_fault: u8,
    pub wr_rsp_tag: u8,
    pub tx_ready: u8,
    pub rx_valid: u8,
    pub rx_last: u8,
    pub rx_user: u8,
    pub wready: u8,
    pub bvalid: u8,
    pub arready: u8,
    pub rvalid: u8,
    pub irq_valid: u8,
    pub irq_vector: u8,
    pub idle: u8,
    pub tx_work: u8,
    pub tx_req_start: u8,
    pub tx_req_done: u8,
    pub soft_reset: u8,
    pub rd_req_valid: u8,
    pub rd_req_tag: u8,
    pub rd_req_check: u8,
    pub rd_rsp_ready: u8,
    pub wr_req_valid: u8,
    pub wr_req_tag: u8,
    pub wr_valid: u8,
    pub wr_last: u8,
    pub wr_rsp_ready: u8,
    pub tx_valid: u8,
    pub tx_last: u8,
    pub rx_ready: u8,
    pub pad: [u8; 5],
}

impl Default for DevIo {
    fn default() -> Self {
        DevIo {
            time_ns: 0,
            reg_dirty: 0,
            reg_dirty_ack: 0,
            rd_req_addr: 0,
            rd_rsp_keep: 0,
            rd_rsp_fault_addr: 0,
            wr_req_addr: 0,
            wr_keep: 0,
            wr_rsp_fault_addr: 0,
            tx_keep: 0,
            rx_keep: 0,
            awaddr: 0,
            wdata: 0,
            araddr: 0,
            rdata: 0,
            rd_req_len: 0,
            wr_req_len: 0,
            rd_rsp_data: [0; 64],
            wr_data: [0; 64],
            tx_data: [0; 64],
            rx_data: [0; 64],
            rst: 0,
            sched_enable: 0,
            wvalid: 0,
            bready: 0,
            arvalid: 0,
            rready: 0,
            rd_req_ready: 0,
            rd_rsp_valid: 0,
            rd_rsp_last: 0,
            rd_rsp_fault: 0,
            rd_rsp_tag: 0,
            wr_req_ready: 0,
            wr_ready: 0,
            wr_rsp_valid: 0,
            wr_rsp_fault: 0,
            wr_rsp_tag: 0,
            tx_ready: 0,
            rx_valid: 0,
            rx_last: 0,
            rx_user: 0,
            wready: 0,
            bvalid: 0,
            arready: 0,
            rvalid: 0,
            irq_valid: 0,
            irq_vector: 0,
            idle: 0,
            tx_work: 0,
            tx_req_start: 0,
            tx_req_done: 0,
            soft_reset: 0,
            rd_req_valid: 0,
            rd_req_tag: 0,
            rd_req_check: 0,
            rd_rsp_ready: 0,
            wr_req_valid: 0,
            wr_req_tag: 0,
            wr_valid: 0,
            wr_last: 0,
            wr_rsp_ready: 0,
            tx_valid: 0,
            tx_last: 0,
            rx_ready: 0,
            pad: [0; 5],
        }
    }
}

unsafe extern "C" {
    fn ftdev_io_size() -> usize;
    fn ftdev_io_last_offset() -> usize;
    fn ftdev_new(width: u32, vcd_path: *const c_char) -> *mut c_void;
    fn ftdev_free(dev: *mut c_void);
    fn ftdev_cycle(dev: *mut c_void, io: *mut DevIo);
}

/// One Verilated `ft_device`.
pub struct DevModel {
    raw: *mut c_void,
}

// SAFETY: the model is reached only through `&mut self` (one thread at a time), and a Verilated
// model without `--threads` keeps no thread affinity outside debug builds (`VL_DEBUG`, which
// rtl-sim never defines): moving it to another thread between calls is sound. It is not
// `Sync`: concurrent use would race.
unsafe impl Send for DevModel {}

impl DevModel {
    /// A device model of DATA_WIDTH `width` (512 or 64), tracing to `vcd` when given.
    pub fn new(width: u32, vcd: Option<&Path>) -> Result<DevModel, ModelError> {
        // SAFETY: pure functions of the shim without arguments.
        let (size, last) = unsafe { (ftdev_io_size(), ftdev_io_last_offset()) };
        if size != std::mem::size_of::<DevIo>() || last != std::mem::offset_of!(DevIo, rx_ready) {
            return Err(ModelError::IoLayout {
                rust: std::mem::size_of::<DevIo>(),
                cpp: size,
            });
        }
        let path = super::ffi::vcd_path(vcd)?;
        let ptr = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: `ptr` is null or a NUL-terminated string that outlives the call (the shim
        // copies it into the VCD writer before returning); the shim checks the width and
        // returns null for widths it has no model for.
        let raw = unsafe { ftdev_new(width, ptr) };
        if raw.is_null() {
            return Err(if matches!(width, 512 | 64) {
                ModelError::CreateFailed
            } else {
                ModelError::UnknownWidth(width)
            });
        }
        Ok(DevModel { raw })
    }

    /// One clock cycle with the inputs in `io`; outputs are written back into `io`.
    #[inline]
    pub fn cycle(&mut self, io: &mut DevIo) {
        // SAFETY: `self.raw` is a live model created by `ftdev_new` and freed only in `Drop`;
        // `io` is an exclusive reference to a struct whose layout matches `ftdev_io` (size and
        // last field offset checked in `new`, field order mirrored), which the shim reads and
        // writes only during the call.
        unsafe { ftdev_cycle(self.raw, io) }
    }
}

impl Drop for DevModel {
    fn drop(&mut self) {
        // SAFETY: `self.raw` came from `ftdev_new`, is not null, and is freed exactly once here.
        unsafe { ftdev_free(self.raw) }
    }
}
