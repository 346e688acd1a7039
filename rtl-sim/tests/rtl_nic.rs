//! The simulated NIC on the RTL backend (feature `rtl`), through sim-link as a driver sees it:
//! a stepped pair on a cable in which one NIC is the RTL device gives exactly the run (frames,
//! completions, timestamps) of the same pair with two model NICs; an RTL NIC on its own thread
//! under cable back-pressure delivers every TSO segment.
#![cfg(feature = "rtl")]

use std::time::{Duration, Instant};

use hw_spec::{CsumStatus, ErrorCode, TxOffloadRequest};
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::conformance::link_driver::{DriverConfig, LinkDriver};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, SimNic, build_core};
use rtl_sim::wire::Port;
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use sim_link::{AttachOptions, DeviceLink, DriverLink, LinkConfig};

fn nic(backend: Backend, port: Box<dyn Port>, clock: Clock) -> SimNic {
    let link = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let core = build_core(backend, DeviceConfig::REFERENCE).unwrap_or_else(|e| panic!("{e}"));
    SimNic::new(core, link, port, clock)
}

/// What a driver saw, per completion: length, checksum statuses, sequence number, timestamp.
type Seen = Vec<(u32, CsumStatus, CsumStatus, u32, u64)>;

/// A sends a TSO request and checksummed frames to B, B answers with frames of its own, on a
/// stepped cable with a manual clock. Returns what B and A received and A's TX completions.
fn exchange(a_backend: Backend, b_backend: Backend) -> (Seen, Seen, Seen) {
    let (a, b) = CableEnd::pair(&CableConfig::default()).unwrap();
    let na = nic(a_backend, Box::new(a), Clock::Manual(0)).into_stepped();
    let nb = nic(b_backend, Box::new(b), Clock::Manual(0)).into_stepped();
    let rings = DriverConfig {
        ring_log2: 7,
        buf_len: 32 * 1024,
        ..DriverConfig::default()
    };
    let mut da =
        LinkDriver::bring_up(na.attach_driver(AttachOptions::default()).unwrap(), rings).unwrap();
    let mut db =
        LinkDriver::bring_up(nb.attach_driver(AttachOptions::default()).unwrap(), rings).unwrap();
    let spec = TcpSpec {
        seq: 1000,
        ..TcpSpec::default()
    };
    let big = frames::tcp_frame(&spec, &frames::payload(30_000, 7));
    assert!(da.queue_frame(&big, TxOffloadRequest::tso(1448, 14, 20, 32)));
    for i in 0..5u32 {
        let f = frames::tcp_frame(
            &TcpSpec {
                seq: 100_000 + i,
                ..spec
            },
            &frames::payload(100 + i as usize * 300, 1),
        );
        assert!(da.queue_frame(&f, TxOffloadRequest::tcp_checksums(14, 20)));
        let back = frames::udp_frame([10, 0, 0, 2], [10, 0, 0, 1], 7, 9, &frames::payload(50, 3));
        assert!(db.queue_frame(&back, frames::udp_checksums()));
    }
    da.doorbell().unwrap();
    db.doorbell().unwrap();
    let (mut at_b, mut at_a, mut sent) = (Seen::new(), Seen::new(), Seen::new());
    let seq = |f: &[u8]| frames::be32(f, frames::ETH + frames::IP + 4);
    for _ in 0..50 {
        na.with(|n| n.advance_time(1_000));
        nb.with(|n| n.advance_time(1_000));
        na.run_until_idle(100);
        nb.run_until_idle(100);
        da.reap_tx(|c| {
            assert_eq!(c.error, ErrorCode::None);
            sent.push((
                c.len,
                c.ip_csum,
                c.l4_csum,
                u32::from(c.segments),
                c.timestamp,
            ));
        })
        .unwrap();
        db.reap_tx(|c| assert_eq!(c.error, ErrorCode::None))
            .unwrap();
        db.receive(|c, f| at_b.push((c.len, c.ip_csum, c.l4_csum, seq(f), c.timestamp)))
            .unwrap();
        da.receive(|c, f| at_a.push((c.len, c.ip_csum, c.l4_csum, seq(f), c.timestamp)))
            .unwrap();
        if at_b.len() >= 26 && at_a.len() >= 5 {
            break;
        }
    }
    (at_b, at_a, sent)
}

#[test]
fn an_rtl_nic_on_a_cable_runs_exactly_like_the_model() {
    let reference = exchange(Backend::Model, Backend::Model);
    assert_eq!(reference.0.len(), 21 + 5, "21 TSO segments and 5 frames");
    assert_eq!(reference.1.len(), 5);
    assert!(
        reference
            .0
            .iter()
            .chain(&reference.1)
            .all(|g| (g.1, g.2) == (CsumStatus::Good, CsumStatus::Good))
    );
    assert_eq!(
        exchange(Backend::Rtl, Backend::Model),
        reference,
        "RTL sender"
    );
    assert_eq!(
        exchange(Backend::Model, Backend::Rtl),
        reference,
        "RTL receiver"
    );
    assert_eq!(exchange(Backend::Rtl, Backend::Rtl), reference, "both RTL");
}

#[test]
fn a_threaded_rtl_nic_under_back_pressure_delivers_every_tso_segment() {
    // A cable of 64 slots and 45-segment TSO requests: the RTL NIC must hold frames the cable
    // cannot take (its MAC's elastic buffer) and start nothing new until they are out.
    let (a, b) = CableEnd::pair(&CableConfig {
        slots: 64,
        ..CableConfig::default()
    })
    .unwrap();
    let na = nic(Backend::Rtl, Box::new(a), Clock::Real(Instant::now()))
        .spawn()
        .unwrap();
    let nb = nic(Backend::Model, Box::new(b), Clock::Real(Instant::now()))
        .spawn()
        .unwrap();
    let mut da = LinkDriver::bring_up(
        DriverLink::attach(na.paths(), AttachOptions::default()).unwrap(),
        DriverConfig {
            ring_log2: 5,
            buf_len: 65536 + 128,
            rx_csum: true,
        },
    )
    .unwrap();
    let mut db = LinkDriver::bring_up(
        DriverLink::attach(nb.paths(), AttachOptions::default()).unwrap(),
        DriverConfig {
            ring_log2: 7,
            ..DriverConfig::default()
        },
    )
    .unwrap();
    let frame = frames::tcp_frame(&TcpSpec::default(), &frames::payload(64_000, 9));
    da.fill_tx_buffers(&frame);
    let requests = 12u32;
    let total = u64::from(requests) * 45;
    let s = da
        .stream_tso(
            &mut db,
            frame.len() as u32,
            TxOffloadRequest::tso(1448, 14, 20, 32),
            requests,
            45,
            Duration::from_secs(60),
        )
        .unwrap();
    let a = na.stop();
    nb.stop();
    assert!(!s.timed_out, "stuck: {s:?}");
    assert_eq!((s.wrong_segment_counts, s.not_good_csums), (0, 0), "{s:?}");
    assert_eq!(s.received + s.rx_dropped, total);
    assert_eq!(
        a.port().counters().dropped,
        0,
        "back-pressure, not loss on the cable"
    );
    assert!(s.received > 0 && s.completed <= requests);
}
