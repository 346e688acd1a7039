//! A million connections in one endpoint: the storage is built once, a million active opens
//! fill every slot, a million SYNs leave through the send phase with a million timers in the
//! wheel, lookups still find the right connection, and the engine state per connection
//! (buffers excluded) stays within 256 bytes. Prints the figure.

use tcp_engine::device::{OffloadCaps, RxMeta};
use tcp_engine::endpoint::{
    BoxedEndpoint, Buffers, EndpointConfig, EndpointError, Outbound, Received,
};
use tcp_engine::segment::{TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::table::{HashSecret, TableError};
use tcp_engine::tcb::{Events, RingBuffer, State, TcbConfig};
use tcp_engine::time::Instant;
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_tcp_frame};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, TxChecksum};

/// Buffers without storage: the connections here only open.
type Bufs = Buffers<RingBuffer<[u8; 0]>>;

const N: usize = 1_000_000;

#[test]
fn a_million_connections_fit_256_bytes_each() {
    let bytes = BoxedEndpoint::<Bufs>::engine_bytes_per_connection(N);
    println!("engine state per connection at {N} connections: {bytes:.1} bytes (buffers excluded)");
    assert!(bytes <= 256.0);

    let me = Ipv4Address::new(198, 18, 0, 1);
    let peer = Ipv4Address::new(198, 18, 0, 2);
    let config = EndpointConfig {
        tcb: TcbConfig::DATACENTER,
        ..EndpointConfig::new(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            Ipv4Cidr::new(me, 16).unwrap(),
            OffloadCaps::none(1514),
            HashSecret::from_bytes([3; 16]),
        )
    };
    let mut ep = BoxedEndpoint::<Bufs>::with_capacity(config, N).unwrap();
    let now = Instant::from_secs(10);
    let empty = || Buffers::new([0u8; 0], [0u8; 0]);
    // 16384 ephemeral ports toward each of 62 server ports: a million distinct tuples.
    let mut keys = Vec::with_capacity(N);
    for i in 0..N {
        let port = 1000 + (i / 16_384) as u16;
        let key = ep
            .connect(now, peer, port, empty())
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        keys.push(key);
    }
    assert_eq!(ep.len(), N);
    assert!(matches!(
        ep.connect(now, peer, 9, empty()),
        Err((EndpointError::Table(TableError::SlotsExhausted { .. }), _))
    ));

    // A million SYNs leave through the send phase; a million retransmission timers run.
    ep.add_neighbor(now, peer, EthernetAddress([2, 0, 0, 0, 0, 2]));
    let mut buf = vec![0u8; 1514];
    let mut syns = 0;
    while let Outbound::Frame(f) = ep.poll_transmit(now, &mut buf) {
        ep.commit(now, &f).unwrap();
        syns += 1;
    }
    assert_eq!(syns, N);
    // All due at now + RTO: the deadline is exact once the wheel has re-filed them into
    // level 0; until then it is the start of the bucket holding them (earlier, never later).
    let rto = ep.tcb(keys[0]).unwrap().rto(ep.tcb_config());
    let mut wakeups = 0;
    loop {
        let due = ep.next_deadline().unwrap();
        assert!(due > now && due <= now + rto, "{due:?}");
        if due == now + rto {
            break;
        }
        assert_eq!(
            ep.poll_transmit(due, &mut buf),
            Outbound::Nothing,
            "nothing due before the RTO"
        );
        wakeups += 1;
        assert!(wakeups <= 5, "one wake-up per level at most");
    }
    assert!(
        matches!(ep.poll_transmit(now + rto, &mut buf), Outbound::Frame(_)),
        "SYN retransmitted"
    );

    // Segments still find their connection among a million: a SYN-ACK to a few of them.
    for &i in &[0usize, 1, 499_999, 777_777, N - 1] {
        let key = keys[i];
        let tuple = ep.tuple(key).unwrap();
        let iss = ep.tcb(key).unwrap().snd_una();
        let h = TcpHeader {
            src_port: tuple.remote_port,
            dst_port: tuple.local_port,
            seq: SeqNum(5000),
            ack: iss + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 1000,
            urgent: 0,
            options: TcpOptions::default(),
        };
        let addrs = TcpFrameAddresses {
            src_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
            dst_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
            src_ip: peer,
            dst_ip: me,
            ttl: 64,
            dscp_ecn: 0,
        };
        let mut frame = vec![0u8; 128];
        let n = emit_tcp_frame(&mut frame, &addrs, 1, &h, &[], TxChecksum::Software)
            .unwrap()
            .frame_len();
        let Received::Open(open) = ep.receive(now, &mut frame[..n], RxMeta::UNVERIFIED) else {
            panic!("connection {i} not found");
        };
        assert_eq!(open.key, key);
        assert!(open.events.contains(Events::ESTABLISHED));
        assert_eq!(ep.state(key), Some(State::Established));
    }
}
