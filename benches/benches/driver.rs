//! Driver-side cost per packet of `rx_burst` and `tx_burst` at batch sizes 1, 8, 32 and 64,
//! against the simulated NIC (Rust model) stepped on this thread, with the device's work
//! outside the timed region:
//!
//! - `driver_rx/B`: the device has delivered 2048 frames (untimed: a peer NIC sends them, both
//!   NICs are stepped until idle); timed: `rx_burst` in bursts of B until all 2048 are taken,
//!   each packet dropped back to its pool, RX refills and their doorbells included.
//! - `driver_tx/B`: timed: per packet a pool allocation, length and offload request set (the
//!   buffer keeps its bytes from the first round, as a packet generator's would), `tx_burst` in
//!   bursts of B with its doorbell, and the reclaim of the previous round's completions;
//!   untimed: the device consumes the ring and writes the completions.
//! - `driver_forward/B`: ixy's measure: `rx_burst` then `tx_burst` of the same packets out of
//!   the same queue pair (zero copy), completions reclaimed; untimed: the peer NIC sends the
//!   round and drains what comes back.
//! - `device/model_tx_then_rx_step`: the simulated device's own work per packet (one NIC's TX
//!   and the other's RX), for scale: it is not driver cost.
//!
//! One criterion iteration is one packet: the reported time is the cost per packet, taken from
//! the fastest 2048-packet round of each sample (see `rounds`; `FERROTOE_BENCH_ALL_ROUNDS=1`
//! averages over every round instead).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use host_driver::nic::PacketBatch;
use host_driver::{Nic, NicConfig, QueueConfig, QueuePair, SimDevice};
use hw_spec::TxOffloadRequest;
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, SimNic, SteppedNic, build_core};
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use rtl_sim::wire::{NullPort, Port};
use sim_link::{AttachOptions, DeviceLink, LinkConfig};

/// Packets per untimed device round.
const ROUND: usize = 2048;
const BATCHES: [usize; 4] = [1, 8, 32, 64];

fn stepped(port: Box<dyn Port>) -> SteppedNic {
    let cfg = DeviceConfig::REFERENCE;
    let link = DeviceLink::create_anonymous(&LinkConfig {
        fifo_capacity: 16384,
        ..LinkConfig::default()
    })
    .expect("link");
    let core = build_core(Backend::Model, cfg).expect("model");
    SimNic::new(core, link, port, Clock::Manual(0)).into_stepped()
}

fn driver(nic: &SteppedNic) -> (Nic<SimDevice>, QueuePair<SimDevice>) {
    let link = nic.attach_driver(AttachOptions::default()).expect("attach");
    let n = nic.clone();
    let dev = SimDevice::stepped(link, move || {
        n.step();
    });
    let nic = Nic::open(dev, NicConfig::default()).expect("open");
    let qcfg = QueueConfig {
        buffers: 3 * 4096,
        ..QueueConfig::with_rings(12)
    };
    let qp = nic.open_queue_pair(0, &qcfg).expect("queue pair");
    nic.start().expect("start");
    (nic, qp)
}

fn settle(nics: &[&SteppedNic]) {
    loop {
        let mut busy = false;
        for n in nics {
            busy |= n.run_until_idle(100_000) > 1;
        }
        if !busy {
            return;
        }
    }
}

fn frame() -> Vec<u8> {
    frames::tcp_frame(
        &TcpSpec {
            opt_len: 0,
            ..TcpSpec::default()
        },
        &[0u8; 6],
    )
}

/// Sends `n` copies of `frame` from `qp` (untimed set-up of an RX round).
fn send(qp: &mut QueuePair<SimDevice>, frame: &[u8], n: usize, batch: &mut PacketBatch) {
    let mut left = n;
    while left > 0 {
        while left > 0 && batch.room() > 0 {
            let mut p = qp.pool().alloc().expect("a TX buffer");
            p.copy_from(frame).expect("fits");
            batch.push(p).expect("room");
            left -= 1;
        }
        qp.tx_burst(batch);
        assert!(batch.is_empty(), "the TX ring holds a round");
    }
}

/// Two stepped NICs on a cable, each with a started driver: (A, B, A's queue pair, B's).
type Pair = (
    SteppedNic,
    SteppedNic,
    (Nic<SimDevice>, QueuePair<SimDevice>),
    (Nic<SimDevice>, QueuePair<SimDevice>),
);

fn cable_pair() -> Pair {
    let (ca, cb) = CableEnd::pair(&CableConfig {
        slots: 4096,
        max_frame: 2048,
        ..CableConfig::default()
    })
    .expect("cable");
    let (a, b) = (stepped(Box::new(ca)), stepped(Box::new(cb)));
    let (da, db) = (driver(&a), driver(&b));
    (a, b, da, db)
}

/// The timed stretches of one round.
#[derive(Default)]
struct Stopwatch {
    total: Duration,
    started: Option<Instant>,
}

impl Stopwatch {
    fn start(&mut self) {
        self.started = Some(Instant::now());
    }

    fn stop(&mut self) {
        if let Some(t) = self.started.take() {
            self.total += t.elapsed();
        }
    }
}

/// Runs `iters` packets in rounds of at most [`ROUND`]; `round(n, watch)` does one round of `n`
/// packets and times its driver part with `watch`. Returns `iters` times the per-packet time of
/// the fastest round: the machines are shared, and preemption by other work lands in the
/// slower rounds (each round still averages over up to 2048 packets). With
/// `FERROTOE_BENCH_ALL_ROUNDS=1` in the environment it returns the total of every round instead.
fn rounds(iters: u64, mut round: impl FnMut(usize, &mut Stopwatch)) -> Duration {
    let all_rounds = std::env::var_os("FERROTOE_BENCH_ALL_ROUNDS").is_some();
    let (mut best, mut total) = (f64::INFINITY, Duration::ZERO);
    let mut left = iters as usize;
    while left > 0 {
        let n = left.min(ROUND);
        let mut watch = Stopwatch::default();
        round(n, &mut watch);
        best = best.min(watch.total.as_secs_f64() / n as f64);
        total += watch.total;
        left -= n;
    }
    if all_rounds {
        total
    } else {
        Duration::from_secs_f64(best * iters as f64)
    }
}

/// A benchmark group of per-packet costs.
fn group<'c>(
    c: &'c mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group
}

fn driver_rx(c: &mut Criterion) {
    let (a, b, (_na, mut tx), (_nb, mut rx)) = cable_pair();
    let f = frame();
    let mut staging = PacketBatch::with_capacity(64);
    let mut group = group(c, "driver_rx");
    for size in BATCHES {
        let mut out = PacketBatch::with_capacity(size);
        group.bench_function(BenchmarkId::from_parameter(size), |bench| {
            bench.iter_custom(|iters| {
                rounds(iters, |n, watch| {
                    send(&mut tx, &f, n, &mut staging);
                    settle(&[&a, &b]);
                    tx.reclaim_tx();
                    watch.start();
                    let mut got = 0;
                    while got < n {
                        got += rx.rx_burst(&mut out);
                        out.clear();
                    }
                    watch.stop();
                    assert_eq!(got, n, "frames went missing");
                })
            })
        });
    }
    group.finish();
    assert_eq!(rx.stats().misbehaviour.total(), 0);
}

fn driver_tx(c: &mut Criterion) {
    let a = stepped(Box::new(NullPort::default()));
    let (_na, mut tx) = driver(&a);
    let len = frame().len();
    let mut group = group(c, "driver_tx");
    for size in BATCHES {
        let mut batch = PacketBatch::with_capacity(size);
        group.bench_function(BenchmarkId::from_parameter(size), |bench| {
            bench.iter_custom(|iters| {
                rounds(iters, |n, watch| {
                    watch.start();
                    let mut queued = 0;
                    while queued < n {
                        while batch.room() > 0 && queued + batch.len() < n {
                            let mut p = tx.pool().alloc().expect("a TX buffer");
                            p.set_len(len).expect("fits");
                            p.set_tx_offload(TxOffloadRequest::NONE);
                            let _ = batch.push(p);
                        }
                        queued += tx.tx_burst(&mut batch);
                    }
                    watch.stop();
                    settle(&[&a]);
                })
            })
        });
    }
    group.finish();
    tx.flush_tx(Duration::from_secs(5)).expect("drained");
    assert_eq!(tx.stats().misbehaviour.total(), 0);
}

/// ixy's measure: frames received and sent back out of the same queue pair in bursts of B
/// (zero copy: the received buffers are the ones sent), reclaim included. Untimed: the peer
/// sends a round, and drains what comes back.
fn driver_forward(c: &mut Criterion) {
    let (a, b, (_na, mut peer), (_nb, mut fwd)) = cable_pair();
    let f = frame();
    let mut staging = PacketBatch::with_capacity(64);
    let mut drain = PacketBatch::with_capacity(64);
    let mut group = group(c, "driver_forward");
    for size in BATCHES {
        let mut batch = PacketBatch::with_capacity(size);
        group.bench_function(BenchmarkId::from_parameter(size), |bench| {
            bench.iter_custom(|iters| {
                rounds(iters, |n, watch| {
                    send(&mut peer, &f, n, &mut staging);
                    settle(&[&a, &b]);
                    peer.reclaim_tx();
                    watch.start();
                    let mut moved = 0;
                    while moved < n {
                        fwd.rx_burst(&mut batch);
                        moved += fwd.tx_burst(&mut batch);
                    }
                    watch.stop();
                    settle(&[&a, &b]);
                    while peer.rx_burst(&mut drain) > 0 {
                        drain.clear();
                    }
                })
            })
        });
    }
    group.finish();
    assert_eq!(fwd.stats().misbehaviour.total(), 0);
}

/// The simulated device's own cost per packet, for scale: TX (ring to wire, completion) and RX
/// (wire to buffer, completion), stepped without the driver in the timed region.
fn device_steps(c: &mut Criterion) {
    let (a, b, (_na, mut tx), (_nb, mut rx)) = cable_pair();
    let f = frame();
    let mut staging = PacketBatch::with_capacity(64);
    let mut out = PacketBatch::with_capacity(64);
    let mut group = group(c, "device");
    group.bench_function("model_tx_then_rx_step", |bench| {
        bench.iter_custom(|iters| {
            rounds(iters, |n, watch| {
                send(&mut tx, &f, n, &mut staging);
                watch.start();
                settle(&[&a, &b]);
                watch.stop();
                tx.reclaim_tx();
                let mut got = 0;
                while got < n {
                    got += rx.rx_burst(&mut out);
                    black_box(&out);
                    out.clear();
                }
            })
        })
    });
    group.finish();
}

/// Criterion's generated group function carries no docs of its own.
mod group {
    #![allow(missing_docs)]
    use super::{device_steps, driver_forward, driver_rx, driver_tx};
    criterion::criterion_group!(benches, driver_rx, driver_tx, driver_forward, device_steps);
}

criterion_main!(group::benches);
