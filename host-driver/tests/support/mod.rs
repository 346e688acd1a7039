//! Shared set-up of the driver tests: simulated NICs (stepped or threaded) with the device
//! backend as a parameter, drivers attached to them, test frames and step loops.
#![allow(dead_code)] // each test binary uses part of it

use std::time::Duration;

use host_driver::nic::{PacketBatch, PacketBuf, QueuePair};
use host_driver::{Nic, NicConfig, QueueConfig, SimDevice};
use hw_spec::TxOffloadRequest;
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::device::{DeviceConfig, DeviceCore};
use rtl_sim::nic::{Backend, Clock, NicThread, SimNic, SteppedNic, build_core};
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use rtl_sim::wire::{NullPort, Port};
use sim_link::{AttachOptions, DeviceLink, LinkConfig};

/// The device backends the tests run on: the model always, the RTL device when rtl-sim is
/// built with its `rtl` feature (Verilator), as `cargo test --workspace --all-features` and
/// `cargo test -p host-driver --features rtl-sim/rtl` do.
pub const BACKENDS: &[Backend] = if rtl_sim::nic::RTL_AVAILABLE {
    &[Backend::Model, Backend::Rtl]
} else {
    &[Backend::Model]
};

/// A device core of `backend`.
pub fn core(backend: Backend, cfg: DeviceConfig) -> Box<dyn DeviceCore> {
    build_core(backend, cfg).expect("device core")
}

/// A simulated NIC around `core` with `port` as its wire, on an anonymous link.
pub fn sim_nic(core: Box<dyn DeviceCore>, vectors: u8, port: Box<dyn Port>) -> SimNic {
    let link = DeviceLink::create_anonymous(&LinkConfig {
        irq_vectors: vectors.into(),
        ..LinkConfig::default()
    })
    .expect("anonymous link");
    SimNic::new(core, link, port, Clock::Manual(0))
}

/// A driver-side device for a stepped NIC: the driver's waits step it.
pub fn stepped_device(nic: &SteppedNic) -> SimDevice {
    let link = nic
        .attach_driver(AttachOptions::default())
        .expect("attach to the stepped NIC");
    let n = nic.clone();
    SimDevice::stepped(link, move || {
        n.step();
    })
}

/// A driver-side device for a NIC on its own thread.
pub fn threaded_device(nic: &NicThread) -> SimDevice {
    SimDevice::attach(nic.paths(), AttachOptions::default()).expect("attach to the NIC thread")
}

/// Two stepped NICs of `backend` joined by a cable: A's frames arrive at B and back.
pub fn stepped_pair(backend: Backend, cfg: DeviceConfig) -> (SteppedNic, SteppedNic) {
    let (a, b) = CableEnd::pair(&CableConfig {
        slots: 4096,
        max_frame: usize::from(cfg.caps.max_frame_len),
        ..CableConfig::default()
    })
    .expect("cable");
    (
        sim_nic(core(backend, cfg), cfg.irq_vectors, Box::new(a)).into_stepped(),
        sim_nic(core(backend, cfg), cfg.irq_vectors, Box::new(b)).into_stepped(),
    )
}

/// One stepped NIC whose frames go nowhere.
pub fn stepped_alone(backend: Backend, cfg: DeviceConfig) -> SteppedNic {
    sim_nic(
        core(backend, cfg),
        cfg.irq_vectors,
        Box::new(NullPort::default()),
    )
    .into_stepped()
}

/// Steps both NICs until neither has anything left to do.
pub fn settle(a: &SteppedNic, b: &SteppedNic) {
    for _ in 0..10_000 {
        let sa = a.run_until_idle(1000);
        let sb = b.run_until_idle(1000);
        if sa == 1 && sb == 1 {
            return;
        }
    }
    panic!("the NICs did not settle");
}

/// A NIC opened, one queue pair opened, started.
pub fn open(dev: SimDevice, qcfg: &QueueConfig) -> (Nic<SimDevice>, QueuePair<SimDevice>) {
    let nic = Nic::open(dev, NicConfig::default()).expect("open the NIC");
    let qp = nic.open_queue_pair(0, qcfg).expect("open queue pair 0");
    nic.start().expect("start the NIC");
    (nic, qp)
}

/// Small rings (8 entries: the reference device's smallest) and a matching pool.
pub fn tiny_rings() -> QueueConfig {
    QueueConfig {
        buffers: 64,
        ..QueueConfig::with_rings(3)
    }
}

/// A TCP test frame numbered `n` (in its sequence number) with `len` payload bytes.
pub fn frame(n: u32, len: usize) -> Vec<u8> {
    frames::tcp_frame(
        &TcpSpec {
            seq: n,
            ..TcpSpec::default()
        },
        &frames::payload(len, n as u8),
    )
}

/// The sequence number of a test frame.
pub fn seq_of(frame: &[u8]) -> u32 {
    frames::be32(frame, frames::ETH + frames::IP + 4)
}

/// A packet from `qp`'s pool holding `bytes`, to be sent with `offload`.
pub fn packet<D: host_driver::DeviceAccess>(
    qp: &QueuePair<D>,
    bytes: &[u8],
    offload: TxOffloadRequest,
) -> PacketBuf {
    let pool = if bytes.len() > qp.pool().buf_size() as usize {
        qp.large_pool().expect("a large pool for a long frame")
    } else {
        qp.pool()
    };
    let mut p = pool.alloc().expect("a free buffer");
    p.copy_from(bytes).expect("fits");
    p.set_tx_offload(offload);
    p
}

/// Sends every packet of `batch` (stepping the NICs when the ring is full).
pub fn send_all(
    qp: &mut QueuePair<SimDevice>,
    batch: &mut PacketBatch,
    a: &SteppedNic,
    b: &SteppedNic,
) {
    for _ in 0..10_000 {
        qp.tx_burst(batch);
        if batch.is_empty() {
            return;
        }
        settle(a, b);
    }
    panic!("the TX ring never drained");
}

/// Bound of the waits in tests.
pub const WAIT: Duration = Duration::from_secs(10);
