//! The TCP engine's frame device over the ferrotoe NIC: frames the engine writes with `TxMeta`
//! checksum and TSO requests cross a stepped simulated NIC pair through two adapters and arrive
//! with `RxMeta` Good and the right bytes, parsed by the engine's own receive path.

use ferrotoe_benches::nic::{NicFrameDevice, checksum_state, offload_caps, tx_request};
use host_driver::{Nic, NicConfig, QueueConfig, SimDevice};
use hw_spec::{CsumStatus, DeviceCaps, L4Csum, TxOffloadRequest};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, SimNic, SteppedNic, build_core};
use rtl_sim::wire::cable::{CableConfig, CableEnd};
use sim_link::{AttachOptions, DeviceLink, LinkConfig};
use tcp_engine::device::{ChecksumState, FrameDevice, RxMeta, TsoCaps, TxMeta};
use tcp_engine::segment::{TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::wire::frame::{emit_tcp_frame, parse_frame};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, RxPayload, TcpFrameAddresses, TxChecksum};

const ADDRS: TcpFrameAddresses = TcpFrameAddresses {
    src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
    dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
    src_ip: Ipv4Address([198, 18, 0, 1]),
    dst_ip: Ipv4Address([198, 18, 0, 2]),
    ttl: 64,
    dscp_ecn: 0,
};

fn header(seq: u32, flags: TcpFlags) -> TcpHeader {
    TcpHeader {
        src_port: 5001,
        dst_port: 40000,
        seq: SeqNum(seq),
        ack: SeqNum(77),
        flags,
        window: 1024,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((11, 22)),
            ..TcpOptions::default()
        },
    }
}

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(13) ^ seed).collect()
}

fn stepped(port: CableEnd) -> SteppedNic {
    let cfg = DeviceConfig::REFERENCE;
    let link = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let core = build_core(Backend::Model, cfg).unwrap();
    SimNic::new(core, link, Box::new(port), Clock::Manual(0)).into_stepped()
}

fn adapter(nic: &SteppedNic, qcfg: &QueueConfig) -> (Nic<SimDevice>, NicFrameDevice<SimDevice>) {
    let link = nic.attach_driver(AttachOptions::default()).unwrap();
    let n = nic.clone();
    let dev = SimDevice::stepped(link, move || {
        n.step();
    });
    let nic = Nic::open(dev, NicConfig::default()).unwrap();
    let qp = nic.open_queue_pair(0, qcfg).unwrap();
    nic.start().unwrap();
    (nic, NicFrameDevice::new(qp))
}

fn settle(a: &SteppedNic, b: &SteppedNic) {
    while a.run_until_idle(10_000) > 1 || b.run_until_idle(10_000) > 1 {}
}

/// Queues one frame through `dev`: the engine's header builder, the payload, the request.
fn send(
    dev: &mut NicFrameDevice<SimDevice>,
    seq: u32,
    flags: TcpFlags,
    data: &[u8],
    csum: TxChecksum,
    tso_mss: Option<u16>,
) -> TxMeta {
    let (len, meta) = dev
        .transmit(|buf| {
            let layout = emit_tcp_frame(buf, &ADDRS, 9, &header(seq, flags), &[data], csum).ok()?;
            Some((layout.frame_len(), layout.tx_meta(csum, tso_mss)))
        })
        .expect("a buffer, and a request the device accepts");
    assert_eq!(len, 14 + 20 + 32 + data.len());
    meta
}

/// Everything `dev` received: (sequence number, flags, payload, metadata).
fn receive(dev: &mut NicFrameDevice<SimDevice>) -> Vec<(u32, TcpFlags, Vec<u8>, RxMeta)> {
    let mut got = Vec::new();
    while dev.rx_burst(16, |frame, meta| {
        let parsed = parse_frame(frame, meta).expect("the engine parses the frame");
        let RxPayload::Tcp { tcp, payload, .. } = parsed.payload else {
            panic!("not TCP: {:?}", parsed.payload);
        };
        got.push((tcp.header.seq.0, tcp.header.flags, payload.to_vec(), meta));
    }) > 0
    {}
    got
}

#[test]
fn checksum_and_tso_requests_arrive_good_and_intact() {
    let (ca, cb) = CableEnd::pair(&CableConfig::default()).unwrap();
    let (a, b) = (stepped(ca), stepped(cb));
    let with_large = QueueConfig {
        large_buffers: 16,
        ..QueueConfig::default()
    };
    let (_na, mut tx) = adapter(&a, &with_large);
    let (_nb, mut rx) = adapter(&b, &QueueConfig::default());
    let caps = tx.caps();
    assert!(caps.tx_checksum && caps.rx_checksum);
    assert_eq!(
        caps.tso,
        Some(TsoCaps {
            max_payload: 65535,
            min_mss: 64,
            max_mss: 9162
        })
    );
    assert_eq!(
        caps.max_frame_len, 2048,
        "bounded by the 2048-byte RX buffers"
    );

    // Checksums left to the device, checksums in software, and a TSO super-frame.
    let small = payload(500, 1);
    let meta = send(
        &mut tx,
        1000,
        TcpFlags::ACK,
        &small,
        TxChecksum::Device,
        None,
    );
    assert!(meta.checksum && meta.tso_mss.is_none());
    send(
        &mut tx,
        1500,
        TcpFlags::ACK,
        &small,
        TxChecksum::Software,
        None,
    );
    let big = payload(40_000, 2);
    let flags = TcpFlags::ACK.union(TcpFlags::PSH);
    let meta = send(&mut tx, 2000, flags, &big, TxChecksum::Device, Some(1448));
    assert_eq!((meta.l2_len, meta.l3_len, meta.l4_len), (14, 20, 32));
    assert_eq!(tx.tx_pending(), 3, "queued until the flush");
    tx.flush();
    assert_eq!(tx.tx_pending(), 0);
    settle(&a, &b);

    let got = receive(&mut rx);
    assert_eq!(
        got.len(),
        2 + 28,
        "two frames and 28 segments of 1448 bytes"
    );
    let good = RxMeta {
        ip: ChecksumState::Good,
        l4: ChecksumState::Good,
    };
    assert!(got.iter().all(|g| g.3 == good), "every frame verified Good");
    assert_eq!((got[0].0, &got[0].2), (1000, &small));
    assert_eq!((got[1].0, &got[1].2), (1500, &small));
    let mut data = Vec::new();
    for (i, (seq, flags, bytes, _)) in got[2..].iter().enumerate() {
        assert_eq!(*seq, 2000 + 1448 * i as u32);
        assert_eq!(flags.psh(), i == 27, "PSH on the last segment only");
        data.extend_from_slice(bytes);
    }
    assert_eq!(data, big, "the super-frame's payload, in order");

    let q = tx.queue_pair_mut();
    q.flush_tx(std::time::Duration::from_secs(5)).unwrap();
    let s = q.stats();
    assert_eq!((s.tx_packets, s.tx_segments), (3, 30));
    assert_eq!(tx.stats().tx_rejected, 0);
}

#[test]
fn requests_the_device_would_refuse_are_dropped_before_it() {
    let (ca, cb) = CableEnd::pair(&CableConfig::default()).unwrap();
    let (a, b) = (stepped(ca), stepped(cb));
    let (_na, mut tx) = adapter(&a, &QueueConfig::default());
    let (_nb, mut rx) = adapter(&b, &QueueConfig::default());
    assert_eq!(tx.caps().tso, None, "no large buffers: no TSO offered");
    // A TSO request with a TCP header length that does not match the frame.
    let queued = tx.transmit(|buf| {
        let layout = emit_tcp_frame(
            buf,
            &ADDRS,
            1,
            &header(5, TcpFlags::ACK),
            &[&[7u8; 300]],
            TxChecksum::Device,
        )
        .ok()?;
        let mut meta = layout.tx_meta(TxChecksum::Device, Some(100));
        meta.l4_len = 20;
        Some((layout.frame_len(), meta))
    });
    assert!(queued.is_none());
    assert_eq!(tx.stats().tx_rejected, 1);
    // A fill that declines gives the buffer back.
    let free = tx.queue_pair().pool().free_count();
    assert!(tx.transmit(|_| None).is_none());
    assert_eq!(tx.queue_pair().pool().free_count(), free);
    tx.flush();
    settle(&a, &b);
    assert!(receive(&mut rx).is_empty());
    assert_eq!(tx.queue_pair().stats().tx_packets, 0);
}

#[test]
fn the_vocabularies_map_one_to_one() {
    let caps = DeviceConfig::REFERENCE.caps;
    let c = offload_caps(&caps, true, 9216, Some(1024));
    assert_eq!(
        c.tso.unwrap().max_payload,
        1024 - 184,
        "bounded by the large buffers"
    );
    assert_eq!(c.max_frame_len, 9216);
    let no_tso = DeviceCaps {
        tso: false,
        tx_tcp_csum: false,
        ..caps
    };
    let c = offload_caps(&no_tso, false, 2048, Some(70_000));
    assert!(!c.tx_checksum && !c.rx_checksum && c.tso.is_none());

    let csum = TxMeta {
        checksum: true,
        tso_mss: None,
        l2_len: 18,
        l3_len: 24,
        l4_len: 32,
    };
    assert_eq!(tx_request(&csum), TxOffloadRequest::tcp_checksums(18, 24));
    let tso = TxMeta {
        tso_mss: Some(1000),
        ..csum
    };
    assert_eq!(tx_request(&tso), TxOffloadRequest::tso(1000, 18, 24, 32));
    assert_eq!(tx_request(&TxMeta::NONE), TxOffloadRequest::NONE);
    assert_eq!(tx_request(&tso).l4_csum, L4Csum::Tcp);
    for (s, c) in [
        (CsumStatus::Unknown, ChecksumState::Unknown),
        (CsumStatus::Good, ChecksumState::Good),
        (CsumStatus::Bad, ChecksumState::Bad),
        (CsumStatus::None, ChecksumState::None),
    ] {
        assert_eq!(checksum_state(s), c);
    }
}
