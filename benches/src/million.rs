//! A million established connections in one `Endpoint`, set up for the receive-path
//! measurements of issue #3 (the engine's memory per connection; a segment's cost at 1,000 and
//! at 1,000,000 connections): the `million` criterion bench and the `million_ratio` example
//! (1k and 1M interleaved in one process, for a ratio on a noisy machine) share it.
//!
//! Set-up (untimed): an endpoint of N slots opens N connections to one peer (16384 ephemeral
//! ports toward each of 62 server ports), a SYN-ACK for each makes it ESTABLISHED, and the
//! handshake's ACKs leave through the send phase. Per segment ([`receive_all`]):
//! `Endpoint::receive` of a pure ACK for a connection drawn at random (an Ethernet + IPv4 +
//! TCP frame built at set-up, checksums vouched for by the "device"), then the send phase it
//! queues (`poll_transmit`, which finds nothing to send): parsing, the 4-tuple lookup, the
//! connection's state machine and the endpoint's bookkeeping, as real traffic hits them. The
//! frames sit in one array in the order they are received (as a NIC's receive ring would hold
//! them), so the connections, not the frames, are what the caches miss at 1M. With prefetching,
//! the frames go in bursts of [`RX_BURST`], each handed to `Endpoint::prefetch` while the one
//! before it is received (a driver's receive loop, software pipelined).
//!
//! Owns the set-up and the receive loop; timing belongs to the callers.

use std::hint::black_box;
use std::time::Instant as WallInstant;

use tcp_engine::device::{ChecksumState, OffloadCaps, RxMeta};
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig, Outbound, Received};
use tcp_engine::segment::{TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::table::{FourTuple, HashSecret};
use tcp_engine::tcb::{Events, RingBuffer, State, TcbConfig};
use tcp_engine::time::Instant;
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_tcp_frame};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, TxChecksum};

/// Buffers without storage: the connections here only exchange ACKs.
pub type Bufs = Buffers<RingBuffer<[u8; 0]>>;
/// The endpoint under test.
pub type Ep = BoxedEndpoint<Bufs>;

const ME: Ipv4Address = Ipv4Address::new(198, 18, 0, 1);
const PEER: Ipv4Address = Ipv4Address::new(198, 18, 0, 2);
const MY_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
/// Frames are this long (Ethernet + IPv4 + TCP, no options, no payload).
pub const FRAME: usize = 54;
const VOUCHED: RxMeta = RxMeta {
    ip: ChecksumState::Good,
    l4: ChecksumState::Good,
};

/// A segment from the peer to connection `(local_port, remote_port)`.
fn frame(h: &TcpHeader) -> [u8; FRAME] {
    let addrs = TcpFrameAddresses {
        src_mac: PEER_MAC,
        dst_mac: MY_MAC,
        src_ip: PEER,
        dst_ip: ME,
        ttl: 64,
        dscp_ecn: 0,
    };
    let mut buf = [0u8; FRAME];
    let layout = emit_tcp_frame(&mut buf, &addrs, 1, h, &[], TxChecksum::Software).expect("fits");
    assert_eq!(layout.frame_len(), FRAME);
    buf
}

/// An endpoint with `n` established connections, and a pure ACK frame for each.
pub fn established(n: usize) -> (Ep, Vec<[u8; FRAME]>) {
    let started = WallInstant::now();
    let config = EndpointConfig {
        tcb: TcbConfig::DATACENTER,
        ..EndpointConfig::new(
            MY_MAC,
            Ipv4Cidr::new(ME, 16).expect("prefix"),
            OffloadCaps::none(1514),
            HashSecret::from_bytes([3; 16]),
        )
    };
    let mut ep = Ep::with_capacity(config, n).expect("endpoint");
    let now = Instant::from_secs(10);
    ep.add_neighbor(now, PEER, PEER_MAC);
    let mut acks = Vec::with_capacity(n);
    let mut buf = vec![0u8; 1514];
    for i in 0..n {
        let port = 1000 + (i / 16_384) as u16;
        let key = ep
            .connect(now, PEER, port, Buffers::new([0u8; 0], [0u8; 0]))
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        // The SYN leaves, the peer's SYN-ACK arrives, our ACK leaves.
        while let Outbound::Frame(f) = ep.poll_transmit(now, &mut buf) {
            ep.commit(now, &f).expect("commit");
        }
        let tuple = ep.tuple(key).expect("live");
        let iss = ep.tcb(key).expect("live").snd_una();
        let mut h = TcpHeader {
            src_port: tuple.remote_port,
            dst_port: tuple.local_port,
            seq: SeqNum(5000),
            ack: iss + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: 1000,
            urgent: 0,
            options: TcpOptions::default(),
        };
        let mut syn_ack = frame(&h);
        let Received::Open(open) = ep.receive(now, &mut syn_ack, VOUCHED) else {
            panic!("connection {i}: SYN-ACK not taken");
        };
        assert!(open.events.contains(Events::ESTABLISHED));
        while let Outbound::Frame(f) = ep.poll_transmit(now, &mut buf) {
            ep.commit(now, &f).expect("commit");
        }
        assert_eq!(ep.state(key), Some(State::Established));
        h.seq = SeqNum(5001);
        h.flags = TcpFlags::ACK;
        acks.push(frame(&h));
    }
    eprintln!(
        "million: {n} connections established in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    (ep, acks)
}

/// The `n`-th tuple of the table-only measurements (`table` bench, `million_ratio`): local
/// 198.18.0.1:443, remote addresses and ports counting up from 198.18.1.0:1024.
pub fn table_tuple(n: u32) -> FourTuple {
    let [a, b, c, d] = (0xC612_0100u32 + n / 60_000).to_be_bytes();
    FourTuple::new(
        std::net::Ipv4Addr::new(198, 18, 0, 1),
        443,
        std::net::Ipv4Addr::new(a, b, c, d),
        1024 + (n % 60_000) as u16,
    )
}

/// A deterministic shuffle (xorshift) of `count` picks among `n`.
pub fn picks(n: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        })
        .collect()
}

/// Runs `frames` through the receive path and the send phase; every one must be taken
/// quietly (a pure ACK changes nothing). With `prefetch`, the frames go in bursts of
/// [`RX_BURST`] and each burst is handed to `Endpoint::prefetch` while the one before it is
/// received, as a driver's receive loop would.
pub fn receive_all(ep: &mut Ep, frames: &mut [[u8; FRAME]], buf: &mut [u8], prefetch: bool) {
    receive_in_bursts(ep, frames, buf, prefetch.then_some(RX_BURST));
}

/// [`receive_all`] with the prefetched burst's size given: `Some(n)`, bursts of `n` frames
/// (each prefetched while the one before it is received); `None`, no prefetching.
pub fn receive_in_bursts(
    ep: &mut Ep,
    frames: &mut [[u8; FRAME]],
    buf: &mut [u8],
    prefetch: Option<usize>,
) {
    let now = Instant::from_secs(10);
    let burst = prefetch.unwrap_or(RX_BURST).max(1);
    if prefetch.is_some() {
        ep.prefetch(frames.iter().take(burst).map(|f| &f[..]));
    }
    let bursts = frames.len().div_ceil(burst);
    for b in 0..bursts {
        let start = b * burst;
        let end = (start + burst).min(frames.len());
        if prefetch.is_some() {
            // The next burst's connections are fetched while this one is processed.
            let next = frames.iter().skip(end).take(burst);
            ep.prefetch(next.map(|f| &f[..]));
        }
        for f in frames[start..end].iter_mut() {
            let r = ep.receive(now, f, VOUCHED);
            debug_assert_eq!(r, Received::Nothing);
            black_box(r);
            while let Outbound::Frame(f) = ep.poll_transmit(now, buf) {
                let _ = ep.commit(now, &f);
            }
        }
    }
}

/// Frames of one receive burst (a NIC driver's typical burst).
pub const RX_BURST: usize = 32;

/// `n` established connections and the frames of a run: pure ACKs for random connections
/// of the active set (`active` of them spread over the `n`, or all).
pub fn setup(n: usize, active: Option<usize>) -> (Ep, Vec<[u8; FRAME]>) {
    let (mut ep, acks) = established(n);
    let active: Vec<usize> = match active {
        Some(k) => picks(n, k, 7),
        None => (0..n).collect(),
    };
    let order = picks(active.len(), 1 << 20, 11);
    let frames: Vec<[u8; FRAME]> = order.iter().map(|&i| acks[active[i]]).collect();
    // Each frame is taken quietly: checked once, outside the timing.
    let mut check = frames[0];
    assert_eq!(
        ep.receive(Instant::from_secs(10), &mut check, VOUCHED),
        Received::Nothing
    );
    (ep, frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_segment_is_taken_quietly_with_and_without_prefetching() {
        let (mut ep, mut frames) = setup(500, None);
        let mut buf = vec![0u8; 1514];
        let before = ep.counters().rx_segments;
        receive_in_bursts(&mut ep, &mut frames[..1000], &mut buf, None);
        receive_in_bursts(&mut ep, &mut frames[1000..2003], &mut buf, Some(7));
        receive_all(&mut ep, &mut frames[2003..3000], &mut buf, true);
        let c = ep.counters();
        assert_eq!(
            c.rx_segments - before,
            3000,
            "every frame reached its connection"
        );
        assert_eq!(c.resets, 0);
        assert_eq!(c.tx_frames, 1000, "only the handshake's ACKs went out");
        ep.check_invariants().unwrap();
    }
}
