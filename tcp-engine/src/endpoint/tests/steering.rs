//! The port steering filter ([`Endpoint::set_port_steering`]) with fake steering functions:
//! which ports active opens take through it, the bounded search, and the error and counters
//! when no port of the range steers here; and the same exhaustion without a filter.

use super::*;
use crate::table::{FourTuple, PortRange};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const T0: Instant = Instant::from_secs(1);

/// An endpoint over `first..=last` that knows the peer's MAC.
fn endpoint_over(first: u16, last: u16) -> Ep {
    let mut cfg = config(OffloadCaps::none(1514));
    cfg.ports = PortRange::new(first, last).unwrap();
    let mut ep = Ep::with_capacity(cfg, 64).unwrap();
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    ep
}

fn try_connect(ep: &mut Ep, port: u16) -> Result<SlotKey, EndpointError> {
    ep.connect(T0, PEER_IP, port, bufs()).map_err(|(e, _)| e)
}

/// A fake two-queue NIC: "queue" = the low bit of local port plus remote port.
fn fake_queue(t: &FourTuple) -> u16 {
    (t.local_port ^ t.remote_port) & 1
}

#[test]
fn active_opens_take_only_ports_the_filter_accepts() {
    let mut ep = endpoint_over(50000, 50999);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    ep.set_port_steering(Some(Box::new(move |t: &FourTuple| {
        seen.fetch_add(1, Ordering::Relaxed);
        assert_eq!(t.local_addr, Ipv4Addr::from(OUR_IP));
        assert_eq!(t.remote_addr, Ipv4Addr::from(PEER_IP));
        fake_queue(t) == 1
    })));
    assert!(ep.has_port_steering());
    let mut ports = Vec::new();
    for i in 0..40 {
        let remote_port = 80 + (i % 2);
        let before = calls.load(Ordering::Relaxed);
        let key = try_connect(&mut ep, remote_port).unwrap();
        let tuple = ep.tuple(key).unwrap();
        assert_eq!(fake_queue(&tuple), 1, "{tuple}");
        assert!((50000..=50999).contains(&tuple.local_port));
        let asked = calls.load(Ordering::Relaxed) - before;
        assert!(
            (1..=1000).contains(&asked),
            "{asked} calls: bounded by the range"
        );
        ports.push((tuple.local_port, remote_port));
    }
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 40, "no tuple handed out twice");
    // The SYNs leave from the ports chosen.
    let syns: Vec<_> = drain_tcp(&mut ep, T0)
        .into_iter()
        .filter(|s| s.h.flags.syn())
        .map(|s| (s.h.src_port, s.h.dst_port))
        .collect();
    assert_eq!(syns.len(), 40);
    assert!(syns.iter().all(|&(l, r)| (l ^ r) & 1 == 1), "{syns:?}");
    assert_eq!(ep.counters().ports_exhausted, 0);

    // Without the filter ports of both parities come back.
    ep.set_port_steering(None);
    assert!(!ep.has_port_steering());
    let parities: Vec<u16> = (0..8)
        .map(|_| {
            let key = try_connect(&mut ep, 80).unwrap();
            fake_queue(&ep.tuple(key).unwrap())
        })
        .collect();
    assert!(
        parities.contains(&0) && parities.contains(&1),
        "{parities:?}"
    );
}

#[test]
fn a_filter_that_takes_no_port_fails_connect_with_a_clear_error() {
    let mut ep = endpoint_over(50000, 50099);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    ep.set_port_steering(Some(Box::new(move |_: &FourTuple| {
        seen.fetch_add(1, Ordering::Relaxed);
        false
    })));
    let (err, _buffers) = ep.connect(T0, PEER_IP, 80, bufs()).unwrap_err();
    assert_eq!(calls.load(Ordering::Relaxed), 100, "each port asked once");
    let EndpointError::Table(TableError::PortsExhausted {
        remote_port,
        steered_away,
        range,
        ..
    }) = err
    else {
        panic!("expected PortsExhausted, got {err:?}");
    };
    assert_eq!((remote_port, steered_away, range.len()), (80, 100, 100));
    let msg = err.to_string();
    assert!(msg.contains("steers to this endpoint"), "{msg}");
    assert!(msg.contains("RSS indirection table"), "{msg}");
    assert_eq!(ep.counters().ports_exhausted, 1);
    assert_eq!(ep.counters().ports_unsteerable, 1);
    assert_eq!(ep.len(), 0, "no slot taken");
    assert!(drain(&mut ep, T0).0.is_empty(), "nothing sent");
}

#[test]
fn steered_ports_in_use_exhaust_the_range_with_a_count_of_the_refused() {
    let mut ep = endpoint_over(50000, 50003);
    ep.set_port_steering(Some(Box::new(|t: &FourTuple| t.local_port % 2 == 1)));
    let mut got: Vec<u16> = (0..2)
        .map(|_| {
            let key = try_connect(&mut ep, 443).unwrap();
            ep.tuple(key).unwrap().local_port
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, [50001, 50003]);
    let err = try_connect(&mut ep, 443).unwrap_err();
    assert!(
        matches!(
            err,
            EndpointError::Table(TableError::PortsExhausted {
                steered_away: 2,
                ..
            })
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("in use or steer to other receive queues (2 of them)"),
        "{msg}"
    );
    assert_eq!(ep.counters().ports_exhausted, 1);
    assert_eq!(
        ep.counters().ports_unsteerable,
        0,
        "the filter took two ports"
    );
    // Another destination port reuses the steered ports.
    assert!(try_connect(&mut ep, 444).is_ok());
}

#[test]
fn without_a_filter_ports_in_use_exhaust_the_range_explicitly_and_come_back() {
    let mut ep = endpoint_over(50000, 50003);
    let keys: Vec<SlotKey> = (0..4).map(|_| try_connect(&mut ep, 443).unwrap()).collect();
    let (err, _buffers_back) = ep.connect(T0, PEER_IP, 443, bufs()).unwrap_err();
    assert!(
        matches!(
            err,
            EndpointError::Table(TableError::PortsExhausted {
                remote_port: 443,
                steered_away: 0,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "no free local port toward 198.18.0.2:443: all 4 ports of 50000-50003 are in use; \
         widen the ephemeral port range or close connections"
    );
    assert_eq!(
        (
            ep.counters().ports_exhausted,
            ep.counters().ports_unsteerable
        ),
        (1, 0)
    );
    assert_eq!(ep.len(), 4, "the failed open took no slot");
    ep.check_invariants().unwrap();
    // Another destination port has the whole range; a port freed is taken again.
    assert!(try_connect(&mut ep, 444).is_ok());
    let freed = ep.tuple(keys[2]).unwrap().local_port;
    ep.abort(T0, keys[2]).unwrap();
    let again = try_connect(&mut ep, 443).unwrap();
    assert_eq!(ep.tuple(again).unwrap().local_port, freed);
}
