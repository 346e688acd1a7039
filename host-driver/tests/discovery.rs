//! Discovery refuses what it cannot drive, with a message that names the device, the block and
//! offset, and the fix: the reference device's register image (from the model) in a fake
//! device, then one thing broken at a time.

use host_driver::fake::{FakeDevice, FakeHandle};
use host_driver::nic::DeviceInfo;
use host_driver::{DeviceError, DeviceErrorKind, Nic, NicConfig};
use hw_spec::regs::{self, BAR0_SIZE, block_type, header, ident};
use rtl_sim::device::model::ModelDevice;
use rtl_sim::device::{DeviceConfig, DeviceCore, RegisterImage};

struct Image(FakeHandle);

impl RegisterImage for Image {
    fn store(&mut self, offset: u32, value: u32) {
        self.0.set_reg(offset as usize, value);
    }
}

/// A fake device holding the reference device's register image.
fn reference() -> (FakeDevice, FakeHandle) {
    let dev = FakeDevice::builder("fake:ref", BAR0_SIZE as usize).build();
    let h = dev.handle();
    ModelDevice::new(DeviceConfig::REFERENCE)
        .unwrap()
        .publish_image(&mut Image(h.clone()));
    (dev, h)
}

fn refused(break_it: impl FnOnce(&FakeHandle)) -> DeviceError {
    let (dev, h) = reference();
    break_it(&h);
    let e = DeviceInfo::discover(&dev).expect_err("the broken device is refused");
    let text = e.to_string();
    assert!(text.starts_with("fake:ref: "), "names the device: {text}");
    assert!(e.fix().is_some(), "gives a fix: {text}");
    e
}

fn next_of(base: u32) -> usize {
    (base + header::NEXT_OFFSET) as usize
}

fn type_of(base: u32) -> usize {
    (base + header::TYPE_OFFSET) as usize
}

#[test]
fn the_reference_image_is_accepted() {
    let (dev, _) = reference();
    let info = DeviceInfo::discover(&dev).unwrap();
    assert_eq!(info.location, "fake:ref");
    assert_eq!(info.caps, DeviceConfig::REFERENCE.caps);
    assert_eq!(info.bases.control, regs::control::BASE);
    assert_eq!(info.bases.rss, Some(regs::rss::BASE));
    assert_eq!(info.queue_pairs(), 4);
}

#[test]
fn a_foreign_vendor_is_refused() {
    let e = refused(|h| h.set_reg(0, 0x8086_0001));
    assert_eq!(e.kind(), DeviceErrorKind::WrongDevice);
    let t = e.to_string();
    assert!(t.contains("offset 0x0 has vendor 0x8086"), "{t}");
    assert!(t.contains("not a ferrotoe NIC"), "{t}");
    let e = refused(|h| h.set_reg(type_of(regs::stats::BASE), 0x1234_0020));
    assert!(
        e.to_string().contains("offset 0x4000 has vendor 0x1234"),
        "{e}"
    );
}

#[test]
fn a_device_reading_all_ones_is_not_responding() {
    let e = refused(|h| {
        for off in (0..BAR0_SIZE as usize).step_by(4) {
            h.set_reg(off, u32::MAX);
        }
    });
    assert_eq!(e.kind(), DeviceErrorKind::Timeout);
    assert!(e.to_string().contains("reads 0xffffffff"), "{e}");
}

#[test]
fn a_chain_that_loops_or_leaves_bar0_is_refused() {
    let e = refused(|h| h.set_reg(next_of(regs::txq::BASE), regs::control::BASE));
    let t = e.to_string();
    assert!(
        t.contains("NEXT of the TXQ block at BAR0 offset 0x1000 points back to 0x100"),
        "{t}"
    );
    let e = refused(|h| h.set_reg(next_of(regs::control::BASE), regs::control::BASE));
    assert!(e.to_string().contains("would loop"), "{e}");
    let e = refused(|h| h.set_reg(next_of(regs::irq::BASE), 0x2_0000));
    assert!(e.to_string().contains("outside BAR0"), "{e}");
    let e = refused(|h| h.set_reg(next_of(regs::irq::BASE), 0x7002));
    assert!(e.to_string().contains("not 4-byte aligned"), "{e}");
}

#[test]
fn missing_duplicate_or_misplaced_blocks_are_refused() {
    // STATS points past IRQ, straight to RSS.
    let e = refused(|h| h.set_reg(next_of(regs::stats::BASE), regs::rss::BASE));
    assert!(e.to_string().contains("no IRQ block"), "{e}");
    // The chain ends after CQ.
    let e = refused(|h| h.set_reg(next_of(regs::cq::BASE), 0));
    assert!(e.to_string().contains("no STATS block"), "{e}");
    // RSS claims to be a second CONTROL block.
    let e = refused(|h| {
        h.set_reg(
            type_of(regs::rss::BASE),
            regs::type_word(block_type::CONTROL),
        )
    });
    assert!(e.to_string().contains("appears twice"), "{e}");
    // The chain starts with a block of a type this driver does not know.
    let e = refused(|h| h.set_reg(0, regs::type_word(0x0099)));
    assert!(e.to_string().contains("not IDENT"), "{e}");
    // RSS moved to the end of BAR0: its table would not fit.
    let e = refused(|h| {
        let at = 0xFF00u32;
        h.set_reg(next_of(regs::irq::BASE), at);
        h.set_reg(type_of(at), regs::type_word(block_type::RSS));
        h.set_reg((at + header::VERSION_OFFSET) as usize, 1);
        h.set_reg(next_of(at), 0);
    });
    assert!(
        e.to_string()
            .contains("the RSS block at BAR0 offset 0xff00"),
        "{e}"
    );
}

#[test]
fn an_unsupported_contract_version_is_refused() {
    for (major, minor, fix) in [(2, 0, "update ferrotoe"), (0, 9, "bitstream")] {
        let e = refused(|h| h.set_reg(ident::SPEC_VERSION.offset as usize, (major << 16) | minor));
        assert_eq!(e.kind(), DeviceErrorKind::UnsupportedSpecVersion);
        assert!(
            e.to_string().contains(&format!("contract {major}.{minor}")),
            "{e}"
        );
        assert!(e.fix().unwrap().contains(fix));
    }
    // A newer minor version is fine.
    let (dev, h) = reference();
    h.set_reg(ident::SPEC_VERSION.offset as usize, (1 << 16) | 7);
    assert_eq!(DeviceInfo::discover(&dev).unwrap().spec_version, (1, 7));
}

#[test]
fn inconsistent_capabilities_and_limits_are_refused() {
    let caps = ident::CAPS.offset as usize;
    let e = refused(|h| {
        let w = h.reg(caps);
        h.set_reg(caps, ident::CAPS_TX_TCP_CSUM.set32(w, 0));
    });
    assert_eq!(e.kind(), DeviceErrorKind::DeviceMisbehaved);
    assert!(e.to_string().contains("TSO is advertised without"), "{e}");
    let e = refused(|h| {
        h.set_reg(
            ident::MSS_LIMITS.offset as usize,
            ident::MSS_LIMITS_MIN.set32(ident::MSS_LIMITS_MAX.set32(0, 100), 200),
        )
    });
    assert!(
        e.to_string().contains("MIN_MSS is 0 or above MAX_MSS"),
        "{e}"
    );
    let rl = ident::RING_LIMITS.offset as usize;
    let e = refused(|h| {
        let w = h.reg(rl);
        h.set_reg(rl, ident::RING_LIMITS_MIN_LOG2.set32(w, 0));
    });
    assert!(
        e.to_string().contains("RING_LIMITS gives ring sizes 2^0"),
        "{e}"
    );
    let qc = ident::QUEUE_COUNTS.offset as usize;
    let e = refused(|h| {
        let w = h.reg(qc);
        h.set_reg(qc, ident::QUEUE_COUNTS_CQ.set32(w, 1));
    });
    assert_eq!(e.kind(), DeviceErrorKind::Unsupported);
    assert!(e.to_string().contains("two completion queues"), "{e}");
    let e = refused(|h| {
        let w = h.reg(qc);
        h.set_reg(qc, ident::QUEUE_COUNTS_TX.set32(w, 200));
    });
    assert!(e.to_string().contains("the STATS block"), "{e}");
}

#[test]
fn open_refuses_the_same_way() {
    let (dev, h) = reference();
    h.set_reg(0, 0x8086_0001);
    let e = Nic::open(dev, NicConfig::default()).unwrap_err();
    assert_eq!(e.kind(), DeviceErrorKind::WrongDevice);
}

#[test]
fn a_reset_that_never_completes_is_a_bounded_timeout() {
    let cfg = NicConfig {
        timeout: std::time::Duration::from_millis(200),
        ..NicConfig::default()
    };
    let ctrl = (regs::control::BASE + regs::control::CTRL.offset) as usize;
    let status = (regs::control::BASE + regs::control::STATUS.offset) as usize;
    // The fake stores what is written and does nothing else: CTRL.RESET never clears.
    let (dev, h) = reference();
    let start = std::time::Instant::now();
    let e = Nic::open(dev, cfg.clone()).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(e.kind(), DeviceErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("CTRL.RESET"), "{e}");
    assert!(e.fix().is_some(), "{e}");
    assert_eq!(
        h.reg(ctrl),
        0,
        "the driver leaves the device it gave up on disabled"
    );

    // A reset that clears but leaves the device enabled is refused the same way.
    let dev = FakeDevice::builder("fake:ref", BAR0_SIZE as usize)
        .on_write(move |h, off, _| {
            if off == ctrl {
                h.set_reg(ctrl, 0);
                h.set_reg(status, regs::control::STATUS_ENABLED.mask32());
            }
        })
        .build();
    ModelDevice::new(DeviceConfig::REFERENCE)
        .unwrap()
        .publish_image(&mut Image(dev.handle()));
    let e = Nic::open(dev, cfg.clone()).unwrap_err();
    assert_eq!(e.kind(), DeviceErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("disabled after reset"), "{e}");

    // A device that drops off the bus during its reset: not responding, at once.
    let dev = FakeDevice::builder("fake:ref", BAR0_SIZE as usize)
        .on_write(move |h, off, _| {
            if off == ctrl {
                for r in (0..BAR0_SIZE as usize).step_by(4) {
                    h.set_reg(r, u32::MAX);
                }
            }
        })
        .build();
    ModelDevice::new(DeviceConfig::REFERENCE)
        .unwrap()
        .publish_image(&mut Image(dev.handle()));
    let start = std::time::Instant::now();
    let e = Nic::open(dev, cfg).unwrap_err();
    assert!(
        start.elapsed() < std::time::Duration::from_millis(150),
        "no waiting for the timeout"
    );
    assert!(e.to_string().contains("not responding"), "{e}");
}
