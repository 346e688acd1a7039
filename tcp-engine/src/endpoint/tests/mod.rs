//! Tests of the endpoint, frame by frame, on a simulated clock.
//!
//! `scenarios`: the brief's scenarios that need the endpoint (closed ports, passive open,
//! checksums, ISNs, stale keys and exhaustion, ARP miss), ARP, ICMP echo, the lifecycle.
//! `limits`: fixed capacities driven past exhaustion, and the recovery after.
//! A hand-driven peer builds frames with the `wire` emitters and reads ours back with
//! `parse_frame`; checksums of what we send are also checked by `softnic::verify_rx`.

mod cookies;
mod direct;
mod ecn;
mod gro;
mod icmp;
mod limits;
mod scenarios;
mod steering;

use super::*;
use crate::device::{ChecksumState, RxMeta, TxMeta};
use crate::segment::{TcpFlags, TcpHeader, TcpOptions};
use crate::softnic::verify_rx;
use crate::tcb::RingBuffer;
use crate::wire::frame::{TcpFrameAddresses, emit_arp_frame, emit_tcp_frame, parse_frame};
use crate::wire::{ArpRepr, EthernetRepr, Ipv4Repr, RxPayload};
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

pub(super) type Bufs = Buffers<RingBuffer<Box<[u8]>>>;
pub(super) type Ep = BoxedEndpoint<Bufs>;

pub(super) const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
pub(super) const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
pub(super) const OUR_IP: Ipv4Address = Ipv4Address([198, 18, 0, 1]);
pub(super) const PEER_IP: Ipv4Address = Ipv4Address([198, 18, 0, 2]);

/// The reply a received frame was answered with (panics on anything else).
pub(super) fn reply(r: Received) -> Reply {
    match r {
        Received::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// The connection event a received frame caused (panics on anything else).
pub(super) fn open(r: Received) -> Open {
    match r {
        Received::Open(o) => o,
        other => panic!("expected an Open, got {other:?}"),
    }
}

/// A plain configuration: no options beyond MSS, no delayed ACK, so frames are predictable.
pub(super) fn plain_tcb() -> TcbConfig {
    TcbConfig {
        window_scaling: false,
        timestamps: false,
        sack: false,
        delayed_ack: None,
        ..TcbConfig::RFC
    }
}

pub(super) fn config(caps: OffloadCaps) -> EndpointConfig {
    let mut c = EndpointConfig::new(
        OUR_MAC,
        Ipv4Cidr::new(OUR_IP, 24).unwrap(),
        caps,
        HashSecret::from_bytes(*b"endpoint tests!!"),
    );
    c.tcb = plain_tcb();
    c
}

pub(super) fn endpoint(capacity: usize) -> Ep {
    Ep::with_capacity(config(OffloadCaps::none(1514)), capacity).unwrap()
}

pub(super) fn bufs() -> Bufs {
    Buffers::with_capacity(16 << 10, 16 << 10)
}

/// An endpoint that knows the peer's MAC already.
pub(super) fn endpoint_with_peer(capacity: usize) -> Ep {
    let mut ep = endpoint(capacity);
    ep.add_neighbor(Instant::ZERO, PEER_IP, PEER_MAC);
    ep
}

/// The peer's side of the wire: builds frames to us and reads ours.
pub(super) struct Peer {
    pub mac: EthernetAddress,
    pub ip: Ipv4Address,
}

pub(super) const PEER: Peer = Peer {
    mac: PEER_MAC,
    ip: PEER_IP,
};

impl Peer {
    /// A TCP frame from the peer to us, checksums filled.
    pub fn tcp(&self, h: &TcpHeader, payload: &[u8]) -> Vec<u8> {
        self.tcp_tos(h, payload, 0)
    }

    /// [`Peer::tcp`] with DSCP/ECN byte `dscp_ecn` (e.g. `ECN_CE`: marked on the way).
    pub fn tcp_tos(&self, h: &TcpHeader, payload: &[u8], dscp_ecn: u8) -> Vec<u8> {
        let addrs = TcpFrameAddresses {
            src_mac: self.mac,
            dst_mac: OUR_MAC,
            src_ip: self.ip,
            dst_ip: OUR_IP,
            ttl: 64,
            dscp_ecn,
        };
        let mut buf = vec![0u8; 14 + 20 + 60 + payload.len()];
        let layout =
            emit_tcp_frame(&mut buf, &addrs, 1, h, &[payload], TxChecksum::Software).unwrap();
        buf.truncate(layout.frame_len());
        buf
    }

    pub fn arp(&self, arp: &ArpRepr) -> Vec<u8> {
        let mut buf = vec![0u8; 60];
        let n = emit_arp_frame(&mut buf, self.mac, arp).unwrap();
        buf.truncate(n);
        buf
    }
}

/// A segment header from the peer's port `sport` to our port `dport`.
pub(super) fn seg(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    window: u16,
) -> TcpHeader {
    TcpHeader {
        src_port: sport,
        dst_port: dport,
        seq: SeqNum(seq),
        ack: SeqNum(ack.unwrap_or(0)),
        flags: if ack.is_some() {
            flags | TcpFlags::ACK
        } else {
            flags
        },
        window,
        urgent: 0,
        options: TcpOptions::default(),
    }
}

/// A TCP frame we sent, taken apart (checksums verified in software).
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub eth: EthernetRepr,
    pub ip: Ipv4Repr,
    pub h: TcpHeader,
    pub payload: Vec<u8>,
}

/// Parses a TCP frame we sent; checks both checksums independently first when we computed
/// them.
pub(super) fn parse_sent(frame: &[u8], meta: TxMeta) -> Sent {
    let rx = if meta.checksum {
        RxMeta {
            ip: ChecksumState::Good,
            l4: ChecksumState::Good,
        }
    } else {
        let v = verify_rx(frame);
        assert_eq!(
            v,
            RxMeta {
                ip: ChecksumState::Good,
                l4: ChecksumState::Good
            },
            "checksums of a frame computed in software"
        );
        RxMeta::UNVERIFIED
    };
    let parsed = parse_frame(frame, rx).expect("our frame parses");
    let RxPayload::Tcp {
        ip, tcp, payload, ..
    } = parsed.payload
    else {
        panic!("not TCP: {parsed:?}");
    };
    Sent {
        eth: parsed.ethernet,
        ip,
        h: tcp.header,
        payload: payload.to_vec(),
    }
}

/// Opens a connection to PEER:80 at `now` (nothing sent yet).
pub(super) fn connect_to_peer(ep: &mut Ep, now: Instant) -> SlotKey {
    ep.connect(now, PEER_IP, 80, bufs())
        .map_err(|(e, _)| e)
        .unwrap()
}

/// Runs the send phase until it has nothing: frames (committed) and events.
pub(super) fn drain(ep: &mut Ep, now: Instant) -> (Vec<(Vec<u8>, TxMeta)>, Vec<Open>) {
    let mut frames = Vec::new();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 70_000];
    for _ in 0..10_000 {
        match ep.poll_transmit(now, &mut buf) {
            Outbound::Frame(f) => {
                frames.push((buf[..f.len].to_vec(), f.meta));
                ep.commit(now, &f).expect("commit");
            }
            Outbound::Event(e) => events.push(e),
            Outbound::Nothing => break,
        }
        ep.check_invariants().expect("endpoint invariants");
    }
    (frames, events)
}

/// The TCP segments of [`drain`].
pub(super) fn drain_tcp(ep: &mut Ep, now: Instant) -> Vec<Sent> {
    drain(ep, now)
        .0
        .iter()
        .map(|(f, m)| parse_sent(f, *m))
        .collect()
}

/// Delivers a frame and checks the invariants.
pub(super) fn deliver(
    ep: &mut Ep,
    now: Instant,
    mut frame: Vec<u8>,
    meta: RxMeta,
) -> (Received, Vec<u8>) {
    let r = ep.receive(now, &mut frame, meta);
    ep.check_invariants().expect("endpoint invariants");
    (r, frame)
}
