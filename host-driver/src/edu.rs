//! A driver for QEMU's `edu` teaching device (PCI 1234:11e8), the device the VFIO backend is
//! tested against end to end, plus a behavioural model of it on the fake backend.
//!
//! Owns [`Edu`] (identity check, liveness check, the DMA engine, interrupt raise/ack) written
//! against [`DeviceAccess`] only, so the very same code runs against the fake model in unit tests
//! and against the real `edu` through VFIO in a QEMU guest (`tests/vfio_qemu.rs`). Register
//! offsets are QEMU's (`docs/specs/edu.rst`): ID at 0x00, liveness at 0x04, interrupt status /
//! raise / acknowledge at 0x24 / 0x60 / 0x64, DMA source / destination / count / command at
//! 0x80 / 0x88 / 0x90 / 0x98, and a 4 KiB buffer inside the device at device address 0x40000.
//! `edu` drives 28 address bits: DMA beyond 256 MiB is silently clamped by the device, so this
//! driver refuses such IOVAs before programming it.
//!
//! Must not know about the ferrotoe NIC contract: this is a test and diagnostic device.

use std::time::Duration;

use crate::access::{DeviceAccess, poll_register};
use crate::dma::DmaRegion;
use crate::error::{DeviceError, DeviceErrorKind};
use crate::fake::{FakeDevice, FakeHandle};

/// `edu`'s PCI vendor ID.
pub const EDU_VENDOR_ID: u16 = 0x1234;
/// `edu`'s PCI device ID.
pub const EDU_DEVICE_ID: u16 = 0x11e8;
/// Address bits `edu`'s DMA engine drives.
pub const EDU_DMA_MASK_BITS: u8 = 28;
/// Length of `edu`'s BAR0.
pub const EDU_BAR0_LEN: usize = 1 << 20;
/// The identification register's value on QEMU's `edu` (version 1.0, magic 0xed).
pub const EDU_IDENT: u32 = 0x0100_00ed;
/// Device address of `edu`'s internal DMA buffer.
pub const EDU_BUFFER_ADDR: u32 = 0x4_0000;
/// Size of `edu`'s internal DMA buffer.
pub const EDU_BUFFER_LEN: usize = 4096;
/// The longest transfer `edu` accepts: QEMU checks `end < buffer end` strictly, so a transfer
/// may not reach the buffer's last byte (anything else is a "hardware error" that aborts QEMU).
pub const EDU_MAX_TRANSFER: usize = EDU_BUFFER_LEN - 1;

const REG_IDENT: usize = 0x00;
const REG_LIVENESS: usize = 0x04;
const REG_IRQ_STATUS: usize = 0x24;
const REG_IRQ_RAISE: usize = 0x60;
const REG_IRQ_ACK: usize = 0x64;
const REG_DMA_SRC: usize = 0x80;
const REG_DMA_DST: usize = 0x88;
const REG_DMA_COUNT: usize = 0x90;
const REG_DMA_CMD: usize = 0x98;
const DMA_CMD_START: u32 = 1 << 0;
const DMA_CMD_FROM_DEVICE: u32 = 1 << 1;
const DMA_CMD_IRQ: u32 = 1 << 2;
/// The interrupt status bit `edu` sets when a DMA command asked for an interrupt.
pub const EDU_IRQ_DMA_DONE: u32 = 0x100;

/// Which way an `edu` DMA transfer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EduDmaDirection {
    /// Host memory to the device's buffer.
    ToDevice,
    /// The device's buffer to host memory.
    FromDevice,
}

/// QEMU's `edu` device on any [`DeviceAccess`] backend.
pub struct Edu<D: DeviceAccess> {
    dev: D,
    ident: u32,
}

impl<D: DeviceAccess> Edu<D> {
    /// Checks the identification register (low byte 0xed) and the liveness register, then
    /// takes the device.
    pub fn attach(dev: D) -> Result<Self, DeviceError> {
        let ident = dev
            .read32(REG_IDENT)
            .map_err(|e| DeviceError::register(dev.location(), e))?;
        if ident & 0xff != 0xed {
            return Err(DeviceError::new(
                DeviceErrorKind::WrongDevice,
                dev.location(),
                "reading edu's identification register (BAR0 + 0x0)",
                format!("read {ident:#010x}, expected 0xMMmm00ed"),
            )
            .with_fix("point the test at QEMU's edu device (PCI 1234:11e8, `-device edu`)"));
        }
        let edu = Edu { dev, ident };
        edu.liveness_check(0x5a5a_1234)?;
        Ok(edu)
    }

    /// The identification register as read at attach (0x010000ed on QEMU).
    pub fn ident(&self) -> u32 {
        self.ident
    }

    /// The device underneath.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device underneath, mutably (interrupt set-up, reset, quiesce).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Gives the device back.
    pub fn into_inner(self) -> D {
        self.dev
    }

    fn write(&self, offset: usize, value: u32) -> Result<(), DeviceError> {
        self.dev
            .write32(offset, value)
            .map_err(|e| DeviceError::register(self.dev.location(), e))
    }

    fn read(&self, offset: usize) -> Result<u32, DeviceError> {
        self.dev
            .read32(offset)
            .map_err(|e| DeviceError::register(self.dev.location(), e))
    }

    /// Writes `value` to the liveness register and checks that it reads back inverted.
    pub fn liveness_check(&self, value: u32) -> Result<(), DeviceError> {
        self.write(REG_LIVENESS, value)?;
        let back = self.read(REG_LIVENESS)?;
        if back != !value {
            return Err(DeviceError::new(
                DeviceErrorKind::DeviceMisbehaved,
                self.dev.location(),
                "edu liveness check (BAR0 + 0x4)",
                format!(
                    "wrote {value:#010x}, read back {back:#010x}, expected {:#010x}",
                    !value
                ),
            )
            .with_fix("the device is not responding to register writes: reset the guest"));
        }
        Ok(())
    }

    /// Runs one DMA transfer of `len` bytes between host memory at `host_iova` and the device's
    /// buffer at `buffer_offset`, waiting up to `timeout` for it to finish. With `irq`, the device
    /// raises [`EDU_IRQ_DMA_DONE`] on vector 0 when done.
    pub fn dma(
        &self,
        direction: EduDmaDirection,
        host_iova: u64,
        buffer_offset: usize,
        len: usize,
        irq: bool,
        timeout: Duration,
    ) -> Result<(), DeviceError> {
        let step = format!("edu DMA {direction:?} of {len} bytes at IOVA {host_iova:#x}");
        let mask_end = 1u64 << EDU_DMA_MASK_BITS;
        let host_end = host_iova.checked_add(len as u64);
        if host_end.is_none_or(|end| end > mask_end) {
            return Err(DeviceError::new(
                DeviceErrorKind::IovaExhausted,
                self.dev.location(),
                step,
                format!("the IOVA range ends beyond edu's {EDU_DMA_MASK_BITS}-bit DMA mask"),
            )
            .with_fix("allocate edu's DMA memory from a device opened with dma_mask_bits = 28"));
        }
        if buffer_offset
            .checked_add(len)
            .is_none_or(|end| end > EDU_MAX_TRANSFER)
            || len == 0
        {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                self.dev.location(),
                step,
                format!(
                    "edu's buffer is {EDU_BUFFER_LEN} bytes and a transfer must end before its \
                     last byte; asked for {len} at {buffer_offset}"
                ),
            )
            .with_fix("transfer 1 to 4095 bytes, ending before byte 4095 of edu's buffer"));
        }
        let buffer_addr = EDU_BUFFER_ADDR + buffer_offset as u32;
        let (src, dst, dir_bit) = match direction {
            EduDmaDirection::ToDevice => (host_iova as u32, buffer_addr, 0),
            EduDmaDirection::FromDevice => (buffer_addr, host_iova as u32, DMA_CMD_FROM_DEVICE),
        };
        // IOVAs are below 2^28 (checked), so 32-bit writes set the whole 64-bit address.
        self.write(REG_DMA_SRC, src)?;
        self.write(REG_DMA_DST, dst)?;
        self.write(REG_DMA_COUNT, len as u32)?;
        let irq_bit = if irq { DMA_CMD_IRQ } else { 0 };
        self.write(REG_DMA_CMD, DMA_CMD_START | dir_bit | irq_bit)?;
        poll_register(&self.dev, REG_DMA_CMD, timeout, &step, |cmd| {
            cmd & DMA_CMD_START == 0
        })?;
        Ok(())
    }

    /// Fills `len` bytes of `src` with a pattern derived from `seed`, zeroes `dst`, has the
    /// device copy `src` into its buffer and back into `dst`, and compares.
    pub fn dma_round_trip(
        &self,
        src: &DmaRegion,
        dst: &DmaRegion,
        len: usize,
        seed: u8,
        timeout: Duration,
    ) -> Result<(), DeviceError> {
        let location = self.dev.location();
        let pattern: Vec<u8> = (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect();
        src.write_bytes(0, &pattern)
            .map_err(|e| DeviceError::dma_access(location, e))?;
        dst.fill(0, len, 0)
            .map_err(|e| DeviceError::dma_access(location, e))?;
        self.dma(
            EduDmaDirection::ToDevice,
            src.iova(),
            0,
            len,
            false,
            timeout,
        )?;
        self.dma(
            EduDmaDirection::FromDevice,
            dst.iova(),
            0,
            len,
            false,
            timeout,
        )?;
        let mut back = vec![0u8; len];
        dst.read_bytes(0, &mut back)
            .map_err(|e| DeviceError::dma_access(location, e))?;
        if let Some(i) = back.iter().zip(&pattern).position(|(a, b)| a != b) {
            return Err(DeviceError::new(
                DeviceErrorKind::DeviceMisbehaved,
                location,
                "edu DMA round trip",
                format!(
                    "byte {i} of {len} came back as {:#04x}, sent {:#04x} (IOVAs {:#x} -> {:#x})",
                    back[i],
                    pattern[i],
                    src.iova(),
                    dst.iova()
                ),
            )
            .with_fix("check the IOMMU mappings (dmesg shows DMAR faults)"));
        }
        Ok(())
    }

    /// Has the device raise its interrupt with status bits `value`.
    pub fn raise_interrupt(&self, value: u32) -> Result<(), DeviceError> {
        self.write(REG_IRQ_RAISE, value)
    }

    /// The interrupt status register.
    pub fn interrupt_status(&self) -> Result<u32, DeviceError> {
        self.read(REG_IRQ_STATUS)
    }

    /// Acknowledges (clears) interrupt status bits `value`.
    pub fn ack_interrupt(&self, value: u32) -> Result<(), DeviceError> {
        self.write(REG_IRQ_ACK, value)
    }
}

/// A behavioural model of QEMU's `edu` on the fake backend: identification, liveness, interrupt
/// raise/ack on vector 0, and the DMA engine (done at once, through the fake IOMMU; a faulting
/// transfer leaves memory untouched, like a DMA to an unmapped IOVA).
pub fn fake_edu() -> FakeDevice {
    let mut buffer = vec![0u8; EDU_BUFFER_LEN];
    let mut irq_status = 0u32;
    let dev = FakeDevice::builder("fake-edu", EDU_BAR0_LEN)
        .dma_mask_bits(EDU_DMA_MASK_BITS)
        .vectors(1)
        .on_write(move |side: &FakeHandle, offset, value| match offset {
            REG_IDENT => side.set_reg(REG_IDENT, EDU_IDENT),
            REG_LIVENESS => side.set_reg(REG_LIVENESS, !value),
            REG_IRQ_STATUS => side.set_reg(REG_IRQ_STATUS, irq_status),
            REG_IRQ_RAISE => {
                irq_status |= value;
                side.set_reg(REG_IRQ_STATUS, irq_status);
                side.raise(0);
            }
            REG_IRQ_ACK => {
                irq_status &= !value;
                side.set_reg(REG_IRQ_STATUS, irq_status);
            }
            REG_DMA_CMD if value & DMA_CMD_START != 0 => {
                let mask = (1u64 << EDU_DMA_MASK_BITS) - 1;
                let src = u64::from(side.reg(REG_DMA_SRC)) & mask;
                let dst = u64::from(side.reg(REG_DMA_DST)) & mask;
                let count = side.reg(REG_DMA_COUNT) as usize;
                let buffer_range = |addr: u64| {
                    let start = addr.checked_sub(u64::from(EDU_BUFFER_ADDR))? as usize;
                    // QEMU's strict check: the transfer must end before the buffer's last byte.
                    (start.checked_add(count)? <= EDU_MAX_TRANSFER).then_some(start..start + count)
                };
                if value & DMA_CMD_FROM_DEVICE == 0 {
                    if let Some(r) = buffer_range(dst) {
                        let mut data = vec![0u8; count];
                        if side.dma_read(src, &mut data).is_ok() {
                            buffer[r].copy_from_slice(&data);
                        }
                    }
                } else if let Some(r) = buffer_range(src) {
                    let _ = side.dma_write(dst, &buffer[r]);
                }
                side.set_reg(REG_DMA_CMD, value & !DMA_CMD_START);
                if value & DMA_CMD_IRQ != 0 {
                    irq_status |= EDU_IRQ_DMA_DONE;
                    side.set_reg(REG_IRQ_STATUS, irq_status);
                    side.raise(0);
                }
            }
            _ => {}
        })
        .build();
    dev.handle().set_reg(REG_IDENT, EDU_IDENT);
    dev
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn attaches_to_the_model_and_round_trips_dma() {
        let edu = Edu::attach(fake_edu()).unwrap();
        assert_eq!(edu.ident(), EDU_IDENT);
        let src = edu.device().alloc_dma(4096).unwrap();
        let dst = edu.device().alloc_dma(4096).unwrap();
        edu.dma_round_trip(&src, &dst, EDU_MAX_TRANSFER, 7, T)
            .unwrap();
        let mut first = [0u8; 4];
        dst.read_bytes(0, &mut first).unwrap();
        assert_eq!(first, [7, 38, 69, 100]);
    }

    #[test]
    fn dma_from_a_freed_region_faults_instead_of_reading_memory() {
        let edu = Edu::attach(fake_edu()).unwrap();
        let src = edu.device().alloc_dma(4096).unwrap();
        let dst = edu.device().alloc_dma(4096).unwrap();
        edu.dma_round_trip(&src, &dst, 64, 1, T).unwrap();
        let mut sent = [0u8; 64];
        src.read_bytes(0, &mut sent).unwrap();
        let stale_iova = src.iova();
        drop(src);
        // The transfer from the unmapped IOVA faults: the device's buffer keeps what it had.
        edu.dma(EduDmaDirection::ToDevice, stale_iova, 0, 64, false, T)
            .unwrap();
        dst.fill(0, 64, 0).unwrap();
        edu.dma(EduDmaDirection::FromDevice, dst.iova(), 0, 64, false, T)
            .unwrap();
        let mut back = [0u8; 64];
        dst.read_bytes(0, &mut back).unwrap();
        assert_eq!(back, sent);
    }

    #[test]
    fn refuses_iovas_beyond_the_28_bit_mask_and_bad_lengths() {
        let edu = Edu::attach(fake_edu()).unwrap();
        let err = edu
            .dma(EduDmaDirection::ToDevice, (1 << 28) - 8, 0, 16, false, T)
            .unwrap_err();
        assert_eq!(err.kind(), DeviceErrorKind::IovaExhausted);
        assert!(err.to_string().contains("28-bit DMA mask"), "{err}");
        let err = edu
            .dma(EduDmaDirection::FromDevice, 0x1000, 4000, 200, false, T)
            .unwrap_err();
        assert_eq!(err.kind(), DeviceErrorKind::Unsupported);
        // The whole buffer is one byte too many for QEMU's range check.
        assert!(
            edu.dma(
                EduDmaDirection::ToDevice,
                0x1000,
                0,
                EDU_BUFFER_LEN,
                false,
                T
            )
            .is_err()
        );
        assert!(
            edu.dma(EduDmaDirection::FromDevice, 0x1000, 0, 0, false, T)
                .is_err()
        );
    }

    #[test]
    fn dma_completion_and_raise_signal_vector_zero() {
        let mut edu = Edu::attach(fake_edu()).unwrap();
        edu.device_mut().enable_interrupts(1).unwrap();
        edu.raise_interrupt(0x5).unwrap();
        assert_eq!(edu.device().wait_interrupt(0, T).unwrap(), 1);
        assert_eq!(edu.interrupt_status().unwrap(), 0x5);
        edu.ack_interrupt(0x5).unwrap();
        assert_eq!(edu.interrupt_status().unwrap(), 0);
        let buf = edu.device().alloc_dma(4096).unwrap();
        edu.dma(EduDmaDirection::ToDevice, buf.iova(), 0, 16, true, T)
            .unwrap();
        assert_eq!(edu.device().wait_interrupt(0, T).unwrap(), 1);
        assert_eq!(edu.interrupt_status().unwrap(), EDU_IRQ_DMA_DONE);
    }

    #[test]
    fn a_device_that_is_not_edu_is_refused() {
        let dev = FakeDevice::builder("not-edu", 4096).build();
        dev.handle().set_reg(0, 0x1234_5678);
        let err = Edu::attach(dev).err().unwrap();
        assert_eq!(err.kind(), DeviceErrorKind::WrongDevice);
        assert!(err.to_string().contains("0x12345678"), "{err}");
    }

    #[test]
    fn a_device_that_ignores_writes_fails_the_liveness_check() {
        let dev = FakeDevice::builder("dead-edu", 4096).build();
        dev.handle().set_reg(0, EDU_IDENT);
        let err = Edu::attach(dev).err().unwrap();
        assert_eq!(err.kind(), DeviceErrorKind::DeviceMisbehaved);
    }

    #[test]
    fn a_dma_engine_that_never_finishes_times_out() {
        let dev = FakeDevice::builder("stuck-edu", EDU_BAR0_LEN)
            .on_write(|side, offset, value| {
                if offset == REG_LIVENESS {
                    side.set_reg(REG_LIVENESS, !value);
                }
            })
            .build();
        dev.handle().set_reg(0, EDU_IDENT);
        let edu = Edu::attach(dev).unwrap();
        let err = edu
            .dma(
                EduDmaDirection::ToDevice,
                0x1000,
                0,
                8,
                false,
                Duration::from_millis(20),
            )
            .unwrap_err();
        assert_eq!(err.kind(), DeviceErrorKind::Timeout);
    }
}
