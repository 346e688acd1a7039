//! Hostile-input and round-trip tests of every wire parser, bounded in time for CI
//! (proptest on stable Rust stands in for cargo-fuzz, which needs nightly).
//!
//! - Arbitrary bytes to every parser: no panic; whatever `check_len` accepts, every accessor
//!   can read (panic contract clause 1).
//! - Valid frames mutated by bit flips, truncation, length-field lies and option garbage, fed
//!   to the whole-frame parser both with software verification and with the device vouching
//!   for the checksums (so the mutations reach the inner parsers): no panic, and accepted
//!   input re-emits to bytes that parse back to the same representation.
//! - emit -> parse round trips of every representation, with buffers of exactly
//!   `buffer_len()` bytes (panic contract clause 3).

mod common;

use proptest::prelude::*;
use tcp_engine::device::{ChecksumState, RxMeta};
use tcp_engine::segment::{SackBlock, TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::wire::frame::{
    SegmentTemplate, TcpFrameAddresses, emit_arp_frame, emit_echo_reply, emit_tcp_frame,
    parse_frame, parse_tcp_fast,
};
use tcp_engine::wire::tcp::{self, TcpRepr, emitted_sack_blocks, parse_options};
use tcp_engine::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetRepr, IcmpEchoKind,
    IcmpEchoRepr, IcmpErrorKind, IcmpErrorRepr, IcmpPacket, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv4Repr, QuotedDatagram, QuotedRepr, RxPayload, TcpPacket, TxChecksum,
};

const STATES: [ChecksumState; 4] = [
    ChecksumState::Unknown,
    ChecksumState::Good,
    ChecksumState::Bad,
    ChecksumState::None,
];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: common::fuzz_cases(cases),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

fn arb_mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

fn arb_ip() -> impl Strategy<Value = Ipv4Address> {
    any::<[u8; 4]>().prop_map(Ipv4Address)
}

fn arb_options() -> impl Strategy<Value = TcpOptions> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        proptest::option::of(any::<(u32, u32)>()),
        proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
    )
        .prop_map(|(mss, window_scale, sack_permitted, timestamps, sacks)| {
            let mut o = TcpOptions {
                mss,
                window_scale,
                sack_permitted,
                timestamps,
                ..TcpOptions::default()
            };
            for (l, r) in sacks {
                o.push_sack(SackBlock {
                    left: SeqNum(l),
                    right: SeqNum(r),
                });
            }
            o
        })
}

fn arb_tcp_header() -> impl Strategy<Value = TcpHeader> {
    (
        any::<(u16, u16, u32, u32)>(),
        0u16..0x200,
        any::<(u16, u16)>(),
        arb_options(),
    )
        .prop_map(
            |((src_port, dst_port, seq, ack), flags, (window, urgent), options)| TcpHeader {
                src_port,
                dst_port,
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: TcpFlags(flags),
                window,
                urgent,
                options,
            },
        )
}

fn arb_addrs() -> impl Strategy<Value = TcpFrameAddresses> {
    (
        arb_mac(),
        arb_mac(),
        arb_ip(),
        arb_ip(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(
            |(src_mac, dst_mac, src_ip, dst_ip, ttl, dscp_ecn)| TcpFrameAddresses {
                src_mac,
                dst_mac,
                src_ip,
                dst_ip,
                ttl,
                dscp_ecn,
            },
        )
}

/// The options as they come back after emit: SACK blocks cut to what fits.
fn as_emitted(mut o: TcpOptions) -> TcpOptions {
    let n = emitted_sack_blocks(&o);
    for b in &mut o.sack_blocks[n..] {
        *b = SackBlock::default();
    }
    o.sack_count = n as u8;
    o
}

/// A valid frame of one of the kinds the engine handles.
fn arb_valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let tcp = (
        arb_addrs(),
        any::<u16>(),
        arb_tcp_header(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(addrs, ident, header, payload)| {
            let mut buf = vec![0u8; 14 + 20 + 60 + payload.len()];
            let layout = emit_tcp_frame(
                &mut buf,
                &addrs,
                ident,
                &header,
                &[&payload],
                TxChecksum::Software,
            )
            .expect("buffer sized for the frame");
            buf.truncate(layout.frame_len());
            buf
        });
    let arp = (arb_mac(), arb_ip(), arb_ip(), any::<bool>(), arb_mac()).prop_map(
        |(mac, ip, target, reply, peer)| {
            let mut req = ArpRepr::request(mac, ip, target);
            if reply {
                req = ArpRepr::reply_to(&req, peer);
            }
            let mut buf = vec![0u8; 60];
            let n = emit_arp_frame(&mut buf, mac, &req).expect("60 bytes hold an ARP frame");
            buf.truncate(n);
            buf
        },
    );
    let echo = (
        arb_mac(),
        arb_mac(),
        arb_ip(),
        arb_ip(),
        any::<(u16, u16, u16)>(),
        proptest::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(|(a, b, ip_a, ip_b, (ident, seq_no, ip_id), data)| {
            let ip = Ipv4Repr {
                src_addr: ip_a,
                dst_addr: ip_b,
                protocol: tcp_engine::wire::IpProtocol::ICMP,
                payload_len: 8 + data.len(),
                ttl: 64,
                ident: 0,
                dont_frag: false,
                dscp_ecn: 0,
            };
            let request = IcmpEchoRepr {
                kind: IcmpEchoKind::Request,
                ident,
                seq_no,
                data: &data,
            };
            let mut buf = vec![0u8; 14 + 20 + 8 + data.len()];
            let n = emit_echo_reply(&mut buf, a, b, &ip, &request, ip_id, 64)
                .expect("buffer sized for the reply");
            buf.truncate(n);
            buf
        });
    let icmp_error = (arb_mac(), arb_mac(), arb_ip(), arb_ip(), arb_icmp_error())
        .prop_map(|(a, b, ip_a, ip_b, error)| icmp_error_frame(a, b, ip_a, ip_b, &error));
    prop_oneof![3 => tcp, 1 => arp, 1 => echo, 1 => icmp_error]
}

fn arb_icmp_error() -> impl Strategy<Value = IcmpErrorRepr> {
    let kind = prop_oneof![
        any::<u8>().prop_filter_map("code 4 carries an MTU", |c| {
            (c != 4).then_some(IcmpErrorKind::Unreachable(c))
        }),
        any::<u16>().prop_map(|m| IcmpErrorKind::FragmentationNeeded { next_hop_mtu: m }),
        any::<u8>().prop_map(IcmpErrorKind::TimeExceeded),
    ];
    (kind, arb_ip(), arb_ip(), any::<(u8, u16, u16, u16, u32)>()).prop_map(
        |(kind, src, dst, (protocol, total_len, sport, dport, seq))| IcmpErrorRepr {
            kind,
            quoted: QuotedRepr {
                src_addr: src,
                dst_addr: dst,
                protocol: IpProtocol(protocol),
                total_len,
                src_port: sport,
                dst_port: dport,
                seq,
            },
        },
    )
}

/// An Ethernet frame `a` -> `b` carrying ICMP error `error` from `ip_a` to `ip_b`.
fn icmp_error_frame(
    a: EthernetAddress,
    b: EthernetAddress,
    ip_a: Ipv4Address,
    ip_b: Ipv4Address,
    error: &IcmpErrorRepr,
) -> Vec<u8> {
    common::icmp_error_frame((a, b), (ip_a, ip_b), error)
}

/// One way of damaging a frame.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flip bit `bit` of byte `at` (positions taken modulo the length).
    FlipBit { at: usize, bit: u8 },
    /// Overwrite byte `at` with `value`.
    SetByte { at: usize, value: u8 },
    /// Cut the frame to `len` bytes (modulo length + 1).
    Truncate { len: usize },
    /// Append bytes (padding or garbage).
    Append { bytes: Vec<u8> },
    /// Lie in the IPv4 IHL (byte 14 low nibble).
    Ihl { value: u8 },
    /// Lie in the IPv4 total length.
    TotalLen { value: u16 },
    /// Lie in the TCP data offset (at the IPv4 payload, byte 12 high nibble).
    DataOffset { value: u8 },
    /// Overwrite bytes of the TCP options area with garbage.
    Options { at: usize, bytes: Vec<u8> },
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        2 => any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        1 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| Mutation::Append { bytes }),
        2 => (0u8..16).prop_map(|value| Mutation::Ihl { value }),
        2 => any::<u16>().prop_map(|value| Mutation::TotalLen { value }),
        2 => (0u8..16).prop_map(|value| Mutation::DataOffset { value }),
        3 => (0usize..40, proptest::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, bytes)| Mutation::Options { at, bytes }),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    let ihl_len = |f: &Vec<u8>| f.get(14).map_or(20, |b| usize::from(b & 0x0F) * 4);
    match m {
        Mutation::FlipBit { at, bit } if !frame.is_empty() => {
            let i = at % frame.len();
            frame[i] ^= 1 << bit;
        }
        Mutation::SetByte { at, value } if !frame.is_empty() => {
            let i = at % frame.len();
            frame[i] = *value;
        }
        Mutation::Truncate { len } => frame.truncate(len % (frame.len() + 1)),
        Mutation::Append { bytes } => frame.extend_from_slice(bytes),
        Mutation::Ihl { value } if frame.len() > 14 => frame[14] = (frame[14] & 0xF0) | value,
        Mutation::TotalLen { value } if frame.len() > 17 => {
            frame[16..18].copy_from_slice(&value.to_be_bytes())
        }
        Mutation::DataOffset { value } => {
            let at = 14 + ihl_len(frame) + 12;
            if at < frame.len() {
                frame[at] = (frame[at] & 0x0F) | (value << 4);
            }
        }
        Mutation::Options { at, bytes } => {
            let start = 14 + ihl_len(frame) + 20 + at;
            for (i, b) in bytes.iter().enumerate() {
                if let Some(slot) = frame.get_mut(start + i) {
                    *slot = *b;
                }
            }
        }
        _ => {}
    }
}

/// Reads every accessor of every view that accepts `bytes` (panic contract clause 1) and runs
/// every parser on them (clause 2).
fn exercise_all_parsers(bytes: &[u8]) {
    if let Ok(f) = EthernetFrame::new_checked(bytes) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.payload().len());
        let _ = EthernetRepr::parse(&f);
    }
    if let Ok(p) = ArpPacket::new_checked(bytes) {
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len());
        let _ = (p.protocol_len(), p.operation(), p.source_hardware_addr());
        let _ = (p.source_protocol_addr(), p.target_hardware_addr());
        let _ = p.target_protocol_addr();
        let _ = ArpRepr::parse(&p);
    }
    if let Ok(p) = Ipv4Packet::new_checked(bytes) {
        let _ = (
            p.version(),
            p.header_len(),
            p.dscp(),
            p.ecn(),
            p.total_len(),
        );
        let _ = (p.ident(), p.dont_frag(), p.more_frags(), p.frag_offset());
        let _ = (p.is_fragment(), p.ttl(), p.protocol(), p.checksum());
        let _ = (p.src_addr(), p.dst_addr(), p.verify_checksum());
        let _ = (p.options().len(), p.payload().len());
        for s in STATES {
            let _ = Ipv4Repr::parse(&p, s);
        }
    }
    if let Ok(p) = IcmpPacket::new_checked(bytes) {
        let _ = (p.msg_type(), p.msg_code(), p.checksum(), p.echo_ident());
        let _ = (p.echo_seq_no(), p.data().len(), p.verify_checksum());
        let _ = (IcmpEchoRepr::parse(&p), p.next_hop_mtu());
        let _ = IcmpErrorRepr::parse(&p);
    }
    if let Ok(q) = QuotedDatagram::new_checked(bytes) {
        let _ = (q.header_len(), q.total_len(), q.protocol(), q.src_addr());
        let _ = (q.dst_addr(), q.src_port(), q.dst_port(), q.seq_number());
    }
    if let Ok(p) = TcpPacket::new_checked(bytes) {
        let a = Ipv4Address([198, 18, 0, 1]);
        let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number());
        let _ = (p.header_len(), p.flags(), p.window_len(), p.checksum());
        let _ = (p.urgent_at(), p.options().len(), p.payload().len());
        let _ = p.verify_checksum(a, a);
        let _ = TcpHeader::parse(&p);
        for s in STATES {
            let _ = TcpRepr::parse(&p, a, a, s);
        }
    }
    let _ = parse_options(&bytes[..bytes.len().min(tcp::MAX_OPTIONS_LEN)]);
    for ip in STATES {
        for l4 in STATES {
            let _ = parse_frame(bytes, RxMeta { ip, l4 });
        }
    }
}

/// An accepted frame must re-emit to bytes that parse back to the same representation.
fn check_reemit(frame: &[u8], meta: RxMeta) -> Result<(), TestCaseError> {
    let Ok(rx) = parse_frame(frame, meta) else {
        return Ok(());
    };
    let mut out = vec![0u8; frame.len() + 64];
    match rx.payload {
        RxPayload::Tcp {
            ip, tcp, payload, ..
        } => {
            let addrs = TcpFrameAddresses {
                src_mac: rx.ethernet.src_addr,
                dst_mac: rx.ethernet.dst_addr,
                src_ip: ip.src_addr,
                dst_ip: ip.dst_addr,
                ttl: ip.ttl,
                dscp_ecn: ip.dscp_ecn,
            };
            prop_assert_eq!(payload.len(), tcp.payload_len);
            let layout = emit_tcp_frame(
                &mut out,
                &addrs,
                ip.ident,
                &tcp.header,
                &[payload],
                TxChecksum::Software,
            )
            .expect("re-emit of a parsed segment fits");
            let back = parse_frame(&out[..layout.frame_len()], RxMeta::UNVERIFIED)
                .expect("a re-emitted segment parses");
            let RxPayload::Tcp {
                ip: ip2,
                tcp: tcp2,
                payload: payload2,
                ..
            } = back.payload
            else {
                return Err(TestCaseError::fail(
                    "re-emitted TCP frame parsed as another kind",
                ));
            };
            let mut expect = tcp.header;
            expect.options = as_emitted(expect.options);
            prop_assert_eq!(tcp2.header, expect);
            prop_assert_eq!(payload2, payload);
            prop_assert_eq!(ip2.src_addr, ip.src_addr);
            prop_assert_eq!(ip2.dst_addr, ip.dst_addr);
            prop_assert_eq!(back.ethernet, rx.ethernet);
        }
        RxPayload::Arp(arp) => {
            let n = emit_arp_frame(&mut out, rx.ethernet.src_addr, &arp).expect("fits");
            let back = parse_frame(&out[..n], RxMeta::UNVERIFIED).expect("re-emitted ARP parses");
            prop_assert_eq!(back.payload, RxPayload::Arp(arp));
            // The ARP body is canonical: the re-emitted 28 bytes are the received ones.
            prop_assert_eq!(&out[14..42], &frame[14..42]);
        }
        RxPayload::IcmpEcho { ip, echo } => {
            let mut buf = vec![0u8; echo.buffer_len()];
            echo.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]));
            let p = IcmpPacket::new_checked(&buf[..]).expect("fits");
            prop_assert_eq!(
                IcmpEchoRepr::parse(&p).expect("re-emitted echo parses"),
                echo
            );
            prop_assert_eq!(ip.payload_len, echo.buffer_len());
        }
        RxPayload::IcmpError { ip, error } => {
            let mut buf = vec![0u8; error.buffer_len()];
            error.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]));
            let p = IcmpPacket::new_checked(&buf[..]).expect("fits");
            prop_assert_eq!(
                IcmpErrorRepr::parse(&p).expect("re-emitted error parses"),
                error
            );
            prop_assert!(ip.payload_len >= error.buffer_len());
        }
        RxPayload::OtherIpv4 { ip } => {
            let mut buf = vec![0u8; ip.buffer_len() + ip.payload_len];
            ip.emit(
                &mut Ipv4Packet::new_unchecked(&mut buf[..]),
                TxChecksum::Software,
            );
            let p = Ipv4Packet::new_checked(&buf[..]).expect("fits");
            prop_assert_eq!(Ipv4Repr::parse(&p, ChecksumState::Unknown), Ok(ip));
        }
        RxPayload::OtherEtherType => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        exercise_all_parsers(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic_and_reemit_consistently(
        frame in arb_valid_frame(),
        mutations in proptest::collection::vec(arb_mutation(), 1..4),
    ) {
        let mut frame = frame;
        for m in &mutations {
            apply(&mut frame, m);
        }
        exercise_all_parsers(&frame);
        // With the device vouching for checksums, damage reaches the inner parsers.
        let trusted = RxMeta { ip: ChecksumState::Good, l4: ChecksumState::Good };
        check_reemit(&frame, trusted)?;
        check_reemit(&frame, RxMeta::UNVERIFIED)?;
        // Software verification catches what a checksum can see: one flipped bit anywhere
        // in an IPv4 datagram (header or ICMP/TCP checksummed payload) is always detected.
        if let [Mutation::FlipBit { at, .. }] = mutations.as_slice() {
            let at = at % frame.len();
            if at >= 14 && frame[12..14] == [0x08, 0x00] {
                prop_assert!(
                    parse_frame(&frame, RxMeta::UNVERIFIED).is_err(),
                    "flipped bit at {} went unnoticed", at
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn option_bytes_never_panic_and_reparse(bytes in proptest::collection::vec(any::<u8>(), 0..=40)) {
        if let Ok(opts) = parse_options(&bytes) {
            let expect = as_emitted(opts);
            let mut buf = [0u8; tcp::MAX_OPTIONS_LEN];
            let n = tcp::emit_options(&opts, &mut buf);
            prop_assert_eq!(n, tcp::options_len(&opts));
            prop_assert!(n % 4 == 0 && n <= 40);
            prop_assert_eq!(parse_options(&buf[..n]), Ok(expect));
        }
    }

    #[test]
    fn tcp_frame_round_trip(
        addrs in arb_addrs(),
        ident in any::<u16>(),
        header in arb_tcp_header(),
        payload in proptest::collection::vec(any::<u8>(), 0..1600),
        split in any::<usize>(),
        padding in 0usize..20,
    ) {
        let l4 = header.buffer_len();
        prop_assert!(l4 % 4 == 0 && (20..=60).contains(&l4));
        // Exactly the frame length: emit must not need more.
        let mut buf = vec![0u8; 14 + 20 + l4 + payload.len()];
        let cut = split % (payload.len() + 1);
        let layout = emit_tcp_frame(
            &mut buf, &addrs, ident, &header, &[&payload[..cut], &payload[cut..]], TxChecksum::Software,
        ).unwrap();
        prop_assert_eq!(layout.frame_len(), buf.len());
        // Trailing Ethernet padding is ignored.
        buf.extend(std::iter::repeat_n(0u8, padding));
        let rx = parse_frame(&buf, RxMeta::UNVERIFIED).unwrap();
        let RxPayload::Tcp { ip, tcp, payload: got, l4_offset } = rx.payload else {
            return Err(TestCaseError::fail("not parsed as TCP"));
        };
        let mut expect = header;
        expect.options = as_emitted(header.options);
        // A CE-marked datagram (ECN field 11) shows as the IP_CE pseudo-flag (RFC 3168).
        if addrs.dscp_ecn & 0b11 == 0b11 {
            expect.flags |= TcpFlags::IP_CE;
        }
        prop_assert_eq!(tcp.header, expect);
        prop_assert_eq!(got, &payload[..]);
        prop_assert_eq!(l4_offset + tcp.payload_offset, layout.header_len());
        prop_assert_eq!((ip.src_addr, ip.dst_addr, ip.ident, ip.ttl), (addrs.src_ip, addrs.dst_ip, ident, addrs.ttl));
        prop_assert_eq!(ip.dscp_ecn, addrs.dscp_ecn);
        prop_assert_eq!((rx.ethernet.src_addr, rx.ethernet.dst_addr), (addrs.src_mac, addrs.dst_mac));
    }

    #[test]
    fn arp_and_ipv4_round_trip(
        mac in arb_mac(), ip in arb_ip(), target in arb_ip(), reply in any::<bool>(), peer in arb_mac(),
        src in arb_ip(), dst in arb_ip(), protocol in any::<u8>(), payload_len in 0usize..100,
        ttl in any::<u8>(), ident in any::<u16>(), dont_frag in any::<bool>(), dscp_ecn in any::<u8>(),
    ) {
        let mut arp = ArpRepr::request(mac, ip, target);
        if reply {
            arp = ArpRepr::reply_to(&arp, peer);
        }
        let mut buf = [0u8; 28];
        arp.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        let back = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()).unwrap();
        prop_assert_eq!(back, arp);
        prop_assert_eq!(back.operation == ArpOperation::Reply, reply);

        let repr = Ipv4Repr { src_addr: src, dst_addr: dst, protocol: tcp_engine::wire::IpProtocol(protocol),
            payload_len, ttl, ident, dont_frag, dscp_ecn };
        let mut buf = vec![0u8; repr.buffer_len() + payload_len];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]), TxChecksum::Software);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&p, ChecksumState::Unknown), Ok(repr));
    }

    #[test]
    fn icmp_error_round_trip_and_every_truncation_is_typed(
        error in arb_icmp_error(), a in arb_mac(), b in arb_mac(), ip_a in arb_ip(), ip_b in arb_ip(),
    ) {
        let frame = icmp_error_frame(a, b, ip_a, ip_b, &error);
        let rx = parse_frame(&frame, RxMeta::UNVERIFIED).expect("an emitted error parses");
        prop_assert_eq!(rx.payload, RxPayload::IcmpError {
            ip: Ipv4Repr { src_addr: ip_a, dst_addr: ip_b, protocol: IpProtocol::ICMP,
                payload_len: error.buffer_len(), ttl: 64, ident: 1, dont_frag: false, dscp_ecn: 0 },
            error,
        });
        // Every shorter message (checksum fixed up, so only the length is wrong) is a typed
        // error, never a panic and never a parse.
        let msg = &frame[34..];
        for len in 0..msg.len() {
            let mut cut = msg[..len].to_vec();
            if len >= 8 {
                IcmpPacket::new_unchecked(&mut cut[..]).fill_checksum();
            }
            let got = IcmpPacket::new_checked(&cut[..]).and_then(|p| IcmpErrorRepr::parse(&p));
            prop_assert_eq!(got, Err(tcp_engine::wire::Error::Truncated(tcp_engine::wire::Layer::Icmp)));
        }
    }
}

/// A frame of (nearly) the receive fast path's shape: ACK set plus any other flags, no options,
/// timestamps alone, or arbitrary options.
fn arb_fast_frame() -> impl Strategy<Value = (Vec<u8>, EthernetAddress, bool)> {
    (
        arb_addrs(),
        any::<u16>(),
        any::<(u16, u16, u32, u32, u16)>(),
        prop_oneof![Just(0u16), 0u16..0x200],
        prop_oneof![
            2 => Just(TcpOptions::default()),
            3 => any::<(u32, u32)>().prop_map(|ts| TcpOptions { timestamps: Some(ts), ..TcpOptions::default() }),
            1 => arb_options(),
        ],
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(addrs, ident, (sport, dport, seq, ack, window), extra, options, payload)| {
            let header = TcpHeader {
                src_port: sport,
                dst_port: dport,
                seq: SeqNum(seq),
                ack: SeqNum(ack),
                flags: TcpFlags(TcpFlags::ACK.0 | extra),
                window,
                urgent: 0,
                options,
            };
            let mut buf = vec![0u8; 14 + 20 + 60 + payload.len()];
            let n = emit_tcp_frame(&mut buf, &addrs, ident, &header, &[&payload], TxChecksum::Software)
                .expect("buffer sized for the frame")
                .frame_len();
            buf.truncate(n);
            // Not marked CE (RFC 3168): the fast parser leaves marks to the full one.
            let fast_shape = !header.flags.intersects(TcpFlags::SYN | TcpFlags::RST | TcpFlags::URG)
                && addrs.dscp_ecn & 0b11 != 0b11
                && (options == TcpOptions::default()
                    || options == TcpOptions { timestamps: options.timestamps, ..TcpOptions::default() });
            (buf, addrs.dst_mac, fast_shape)
        })
}

proptest! {
    #![proptest_config(config(3000))]

    /// The fast path's parser takes intact frames of its shape, and whatever it takes (after
    /// any damage) the full parser takes identically.
    #[test]
    fn fast_tcp_parser_agrees_with_the_full_parser(
        (frame, mac, fast_shape) in arb_fast_frame(),
        mutations in proptest::collection::vec(arb_mutation(), 0..3),
    ) {
        if fast_shape {
            let fast = parse_tcp_fast(&frame, RxMeta::UNVERIFIED, mac);
            prop_assert!(fast.is_some(), "an intact frame of the fast shape was refused");
        }
        let mut frame = frame;
        for m in &mutations {
            apply(&mut frame, m);
        }
        for ip in STATES {
            for l4 in STATES {
                let meta = RxMeta { ip, l4 };
                let Some(fast) = parse_tcp_fast(&frame, meta, mac) else { continue };
                let full = parse_frame(&frame, meta);
                let Ok(full) = full else {
                    return Err(TestCaseError::fail(format!("fast took what the full parser refuses: {full:?}")));
                };
                prop_assert_eq!(full.ethernet.dst_addr, mac);
                prop_assert_eq!(full.ethernet.src_addr, fast.src_mac);
                let RxPayload::Tcp { ip, tcp, payload, .. } = full.payload else {
                    return Err(TestCaseError::fail("fast took a frame that is not TCP"));
                };
                prop_assert_eq!(ip.src_addr, fast.src_ip);
                prop_assert_eq!(ip.dst_addr, fast.dst_ip);
                prop_assert_eq!(tcp.header, fast.header);
                prop_assert_eq!(payload, &frame[fast.payload.clone()]);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// A segment stamped from a template is byte for byte the frame `emit_tcp_frame` writes
    /// for the same header with the sequence number moved on and the flags replaced.
    #[test]
    fn segment_template_matches_emit_tcp_frame(
        addrs in arb_addrs(),
        header in arb_tcp_header(),
        ident in any::<u16>(),
        offset in any::<u32>(),
        flags in 0u16..0x200,
        payload in proptest::collection::vec(any::<u8>(), 0..1600),
        split in any::<usize>(),
        software in any::<bool>(),
    ) {
        let csum = if software { TxChecksum::Software } else { TxChecksum::Device };
        let template = SegmentTemplate::new(&addrs, &header, csum).unwrap();
        let cut = split % (payload.len() + 1);
        let pieces = [&payload[..cut], &payload[cut..]];
        let mut got = vec![0u8; 14 + 20 + 60 + payload.len()];
        let got_layout = template.emit(&mut got, ident, offset, TcpFlags(flags), &pieces).unwrap();
        let mut moved = header;
        moved.seq = SeqNum(header.seq.0.wrapping_add(offset));
        moved.flags = TcpFlags(flags);
        let mut want = vec![0u8; got.len()];
        let want_layout = emit_tcp_frame(&mut want, &addrs, ident, &moved, &pieces, csum).unwrap();
        prop_assert_eq!(got_layout, want_layout);
        prop_assert_eq!(&got[..got_layout.frame_len()], &want[..want_layout.frame_len()]);
        // A buffer one byte short is refused, not overrun.
        let mut short = vec![0u8; want_layout.frame_len() - 1];
        prop_assert!(template.emit(&mut short, ident, offset, TcpFlags(flags), &pieces).is_err());
    }
}
