//! `DriverNic`, the engine's device on any ferrotoe NIC the host driver reaches, on simulated
//! NICs running on their own threads (as a `ferrotoe nicsim` process runs them): it waits on
//! the RX interrupt when the backend has vectors and polls when it has none, refuses an MTU the
//! device cannot carry with the `--mtu` that fits, moves frames between two NICs joined by a
//! cable, and ends a wait with the driver's error when its device goes away.

use std::time::{Duration, Instant};

use ferrotoe_benches::apps::device::{DriverNic, NicSetup, WaitDevice};
use host_driver::{
    DeviceAccess, DeviceError, DmaConstraints, DmaRegion, InterruptEvent, RegisterError,
    ResetOutcome, SimDevice,
};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, NicThread, SimNic, build_core};
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use rtl_sim::wire::{NullPort, Port};
use sim_link::{AttachOptions, DeviceLink, LinkConfig};
use tcp_engine::device::{FrameDevice, TxMeta};

const SETUP: NicSetup = NicSetup {
    mtu: 1500,
    timeout: Duration::from_secs(2),
};

/// A model NIC on its own thread, its wire `port`.
fn spawn_nic(port: Box<dyn Port>) -> NicThread {
    let cfg = DeviceConfig::REFERENCE;
    let link = DeviceLink::create_anonymous(&LinkConfig {
        irq_vectors: cfg.irq_vectors.into(),
        ..LinkConfig::default()
    })
    .unwrap();
    let core = build_core(Backend::Model, cfg).unwrap();
    SimNic::new(core, link, port, Clock::Real(Instant::now()))
        .spawn()
        .unwrap()
}

fn attach(nic: &NicThread) -> SimDevice {
    SimDevice::attach(
        nic.paths(),
        AttachOptions {
            timeout: SETUP.timeout,
            force: false,
        },
    )
    .unwrap()
}

/// The simulated device behind a backend that offers no interrupt vectors, as a PCI device
/// without MSI or MSI-X: everything else passes through.
struct NoInterrupts(SimDevice);

impl DeviceAccess for NoInterrupts {
    fn location(&self) -> &str {
        self.0.location()
    }
    fn bar0_len(&self) -> usize {
        self.0.bar0_len()
    }
    fn read32(&self, offset: usize) -> Result<u32, RegisterError> {
        self.0.read32(offset)
    }
    fn write32(&self, offset: usize, value: u32) -> Result<(), RegisterError> {
        self.0.write32(offset, value)
    }
    fn dma_constraints(&self) -> DmaConstraints {
        self.0.dma_constraints()
    }
    fn alloc_dma(&self, len: usize) -> Result<DmaRegion, DeviceError> {
        self.0.alloc_dma(len)
    }
    fn max_interrupt_vectors(&self) -> u32 {
        0
    }
    fn enable_interrupts(&mut self, _count: u32) -> Result<(), DeviceError> {
        panic!("the driver asked a backend without vectors for interrupts")
    }
    fn disable_interrupts(&mut self) -> Result<(), DeviceError> {
        self.0.disable_interrupts()
    }
    fn interrupt(&self, _vector: u32) -> Option<&InterruptEvent> {
        None
    }
    fn relax(&self, attempt: u32) {
        self.0.relax(attempt);
    }
    fn failure(&self) -> Option<String> {
        self.0.failure()
    }
    fn reset(&mut self) -> Result<ResetOutcome, DeviceError> {
        self.0.reset()
    }
    fn quiesce(&mut self) -> Result<(), DeviceError> {
        self.0.quiesce()
    }
}

#[test]
fn interrupts_when_the_backend_has_vectors_polling_when_not() {
    let thread = spawn_nic(Box::new(NullPort::default()));
    let nic = DriverNic::open(attach(&thread), "with vectors".into(), &SETUP, ()).unwrap();
    assert!(nic.interrupts());
    assert!(
        nic.describe().contains("RX by interrupt"),
        "{}",
        nic.describe()
    );
    drop(nic);
    let dev = NoInterrupts(attach(&thread));
    let mut nic = DriverNic::open(dev, "no vectors".into(), &SETUP, ()).unwrap();
    assert!(!nic.interrupts());
    assert!(
        nic.describe().starts_with("no vectors ("),
        "{}",
        nic.describe()
    );
    assert!(
        nic.describe().contains("RX by polling"),
        "{}",
        nic.describe()
    );
    // Nothing arrives: the wait returns after its timeout, without error.
    nic.wait(Duration::from_millis(20)).unwrap();
}

#[test]
fn an_mtu_the_device_cannot_carry_is_refused_with_the_mtu_that_fits() {
    let thread = spawn_nic(Box::new(NullPort::default()));
    let max = DeviceConfig::REFERENCE.caps.max_frame_len;
    let too_big = NicSetup {
        mtu: max - 13,
        ..SETUP
    };
    let err = DriverNic::open(attach(&thread), "nic".into(), &too_big, ()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("--mtu {}", max - 13)), "{text}");
    assert!(
        text.contains(&format!("use --mtu {} or less", max - 14)),
        "{text}"
    );
    let largest = NicSetup {
        mtu: max - 14,
        ..SETUP
    };
    DriverNic::open(attach(&thread), "nic".into(), &largest, ()).unwrap();
}

#[test]
fn frames_cross_a_cable_between_two_driver_nics() {
    let (a_end, b_end) = CableEnd::pair(&CableConfig::default()).unwrap();
    let (ta, tb) = (spawn_nic(Box::new(a_end)), spawn_nic(Box::new(b_end)));
    let mut a = DriverNic::open(attach(&ta), "a".into(), &SETUP, ()).unwrap();
    let mut b = DriverNic::open(NoInterrupts(attach(&tb)), "b".into(), &SETUP, ()).unwrap();
    assert!(!b.interrupts());
    let frame: Vec<u8> = (0..200u8).collect();
    transmit(&mut a, &frame);
    transmit(&mut b, &frame);
    // Each side receives the other's frame: `a` woken by its interrupt, `b` by polling.
    assert_eq!(receive(&mut a), std::slice::from_ref(&frame));
    assert_eq!(receive(&mut b), std::slice::from_ref(&frame));
    let counters = a.counters();
    let count = |name: &str| counters.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    // The driver's counters are exact now; the device's are its statistics block, which it
    // refreshes on its own schedule: present, not yet necessarily counted.
    assert_eq!(count("driver_rx_packets"), Some(1), "{counters:?}");
    assert_eq!(count("driver_rx_bytes"), Some(200), "{counters:?}");
    assert!(count("nic_tx_frames").is_some(), "{counters:?}");
}

/// Sends `frame` (no offloads) through `nic`.
fn transmit<D: DeviceAccess>(nic: &mut DriverNic<D>, frame: &[u8]) {
    nic.transmit(|buf| {
        buf[..frame.len()].copy_from_slice(frame);
        Some((frame.len(), TxMeta::default()))
    })
    .expect("a transmit buffer");
    nic.flush();
}

/// Waits (at most 5 s) for frames on `nic` and returns them.
fn receive<D: DeviceAccess>(nic: &mut DriverNic<D>) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(Instant::now() < deadline, "no frame arrived");
        nic.wait(Duration::from_millis(100)).unwrap();
        nic.rx_burst(8, |f, _| got.push(f.to_vec()));
    }
    got
}

#[test]
fn a_device_that_goes_away_ends_the_wait_with_an_error() {
    let thread = spawn_nic(Box::new(NullPort::default()));
    let mut nic = DriverNic::open(attach(&thread), "nic".into(), &SETUP, ()).unwrap();
    nic.wait(Duration::from_millis(10)).unwrap();
    drop(thread);
    let start = Instant::now();
    let err = loop {
        if let Err(e) = nic.wait(Duration::from_millis(50)) {
            break e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the wait never failed"
        );
    };
    let text = err.to_string();
    assert!(text.contains("sim:"), "the error names the device: {text}");
}
