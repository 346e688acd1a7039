//! The descriptor-level device test suite: every rule of hw-spec that a driver can observe,
//! checked through registers, host memory and the wire. Each function is one test, generic over
//! the device core; [`crate::conformance_suite!`] turns them into `#[test]`s.
//!
//! The suite learns the device from its `IDENT` block, like a driver, and needs a device with at
//! least 2 TX and 2 RX queues, 3 completion queues, 2 vectors, scatter-gather of 4, TSO and every
//! checksum offload and RSS (it fails saying so otherwise). `UNSUPPORTED_OFFLOAD` needs a device
//! that lacks an offload, so it is tested per implementation (the model's test builds one).

use hw_spec::descriptors::{rxd, txd};
use hw_spec::offload::{TsoFlagMasks, tcp_flags as f};
use hw_spec::regs::{self, BAR0_SIZE, control, ident, irq, queue, stats};
use hw_spec::{
    CompletionKind, CsumStatus, ErrorCode, L4Csum, QueueCommand, QueueKind, RssType, RxDescriptor,
    TxDescriptor, TxOffloadRequest,
};

use super::bench::{Bench, UNMAPPED, creg, qreg};
use super::frames::{self, ETH, IP, TcpSpec, be16, be32};
use crate::device::DeviceCore;

/// The completion queue of TX 0 in [`Bench::bring_up`].
const TX_CQ: usize = 0;
/// The completion queue of RX 0 in [`Bench::bring_up`].
const RX_CQ: usize = 1;

fn bench<C: DeviceCore>(make: &dyn Fn() -> C) -> Bench<C> {
    let b = Bench::new(make());
    let id = b.ident;
    b.require("2 TX queues", id.tx >= 2);
    b.require("2 RX queues", id.rx >= 2);
    b.require("3 completion queues", id.cq >= 3);
    b.require("2 interrupt vectors", id.irq >= 2);
    b.require("MAX_SG of at least 4", id.caps.max_sg >= 4);
    b.require(
        "every offload (checksums, TSO, RSS)",
        id.caps.tx_ipv4_csum
            && id.caps.tx_tcp_csum
            && id.caps.tx_udp_csum
            && id.caps.rx_csum
            && id.caps.tso
            && id.caps.rss
            && id.caps.tx_scatter_gather,
    );
    b
}

fn tcp(payload_len: usize) -> Vec<u8> {
    frames::tcp_frame(&TcpSpec::default(), &frames::payload(payload_len, 9))
}

/// Asserts the error bookkeeping of section 8 for the most recent error.
fn assert_error<C: DeviceCore>(
    b: &mut Bench<C>,
    code: ErrorCode,
    kind: QueueKind,
    queue: u16,
    bit: hw_spec::layout::BitField,
) {
    assert_eq!(b.last_error(), (code, queue, kind), "LAST_ERROR");
    assert_ne!(
        b.error_status() & bit.mask32(),
        0,
        "ERROR_STATUS.{}",
        bit.name
    );
    let status = b.read(creg(&control::STATUS));
    assert_eq!(control::STATUS_ERROR.get32(status), 1, "STATUS.ERROR");
}

/// Walks the block chain from offset 0 and checks `IDENT`.
pub fn ident_and_discovery<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    let mut at = 0u32;
    let mut seen = Vec::new();
    loop {
        let ty = b.read(at + regs::header::TYPE_OFFSET);
        assert_eq!(regs::header::TYPE_VENDOR.get32(ty), u32::from(regs::VENDOR));
        let block = regs::block_by_type(regs::header::TYPE_BLOCK.get32(ty) as u16)
            .unwrap_or_else(|| panic!("unknown block type {ty:#x} at {at:#x}"));
        assert_eq!(b.read(at + regs::header::VERSION_OFFSET), block.version);
        assert!(
            !seen.contains(&block.name),
            "chain visits {} twice",
            block.name
        );
        seen.push(block.name);
        let next = b.read(at + regs::header::NEXT_OFFSET);
        if next == 0 {
            break;
        }
        assert!(next > at && next < BAR0_SIZE, "NEXT {next:#x} at {at:#x}");
        at = next;
    }
    assert_eq!(seen.len(), regs::BLOCKS.len(), "blocks found: {seen:?}");
    assert_eq!(
        b.read(ident::BASE + ident::SPEC_VERSION.offset),
        regs::spec_version_word()
    );
    let id = b.read(ident::BASE + ident::DEVICE_ID.offset);
    assert_eq!(
        ident::DEVICE_ID_IMPLEMENTATION.get32(id),
        b.core.implementation().bits()
    );
    assert_eq!(b.ident.caps.check(), Ok(()));
    assert!(b.ident.min_log2 >= 1 && b.ident.min_log2 <= b.ident.max_log2);
    assert!(b.ident.max_log2 <= 15);
    let dp = b.read(ident::BASE + ident::DATAPATH.offset);
    assert!(ident::DATAPATH_WIDTH_BITS.get32(dp) > 0 && ident::DATAPATH_CLOCK_MHZ.get32(dp) > 0);
}

/// Every register reads its reset value after `CTRL.RESET`, whatever was written before.
pub fn reset_values<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    let fresh: Vec<u32> = b.image.words.clone();
    b.bring_up();
    b.write(creg(&control::SCRATCH), 0x1234_5678);
    b.write(creg(&control::TSO_FLAGS_FIRST), 0x1FF);
    b.write(irq::reg_addr(1, &irq::MASK), 1);
    b.write(regs::rss::BASE + regs::rss::TABLE_OFFSET + 8, 1);
    b.write(regs::rss::BASE + regs::rss::KEY_OFFSET, 0xAAAA_5555);
    b.send(0, &[&tcp(10)], TxOffloadRequest::NONE);
    b.write(creg(&control::TIMESTAMP_LO), 0); // an error to clear too
    let cq_mem = b.mem.get(super::bench::MEM_BASE, 4096);
    b.reset();
    b.check_image();
    for off in (0..BAR0_SIZE).step_by(4) {
        if off == creg(&control::TIMESTAMP_LO) || off == creg(&control::TIMESTAMP_HI) {
            continue;
        }
        assert_eq!(
            b.read(off),
            fresh[(off / 4) as usize],
            "register {off:#06x} after reset"
        );
    }
    // Every fixed register with a spec reset value has it (IDENT's filled-in ones excepted).
    for block in regs::BLOCKS.iter().filter(|b| b.name != "IDENT") {
        for r in block.registers {
            if r.name.starts_with("TIMESTAMP") {
                continue;
            }
            assert_eq!(
                b.read(block.base + r.offset),
                r.reset,
                "{}.{}",
                block.name,
                r.name
            );
        }
    }
    assert_eq!(
        b.mem.get(super::bench::MEM_BASE, 4096),
        cq_mem,
        "reset must not touch host memory"
    );
}

/// Writable, read-only, write-1-to-clear, write-only, undefined and unaligned accesses.
pub fn register_access_rules<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    let scratch = creg(&control::SCRATCH);
    b.write(scratch, 0xCAFE_F00D);
    assert_eq!(b.read(scratch), 0xCAFE_F00D);
    assert_eq!(b.error_count(), 0);
    assert_eq!(b.error_status(), 0);

    // Every read-only register of the fixed part of every block.
    let mut count = 0;
    for block in regs::BLOCKS {
        for r in block.registers.iter() {
            if r.access != hw_spec::layout::Access::ReadOnly {
                continue;
            }
            let off = block.base + r.offset;
            let before = b.read(off);
            b.write(off, !before);
            // Registers the error bookkeeping itself (or time) changes are exempt.
            let moves = [
                "STATUS",
                "ERROR_COUNT",
                "LAST_ERROR",
                "LAST_ERROR_ADDR_LO",
                "TIMESTAMP_LO",
                "TIMESTAMP_HI",
            ];
            if !(block.name == "CONTROL" && moves.contains(&r.name)) {
                assert_eq!(b.read(off), before, "{}.{} changed", block.name, r.name);
            }
            count += 1;
            assert_eq!(b.error_count(), count, "{}.{}", block.name, r.name);
            assert_error(
                &mut b,
                ErrorCode::BadRegisterAccess,
                QueueKind::None,
                0,
                control::ERROR_STATUS_BAD_REGISTER_ACCESS,
            );
            assert_eq!(b.last_error_addr(), u64::from(off));
        }
    }
    // Read-only queue registers, a queue that does not exist, undefined and unaligned offsets.
    let tx_count = b.ident.tx;
    for off in [
        qreg(QueueKind::Tx, 0, &queue::STATUS),
        qreg(QueueKind::Rx, 0, &queue::PROD),
        qreg(QueueKind::Cq, 0, &queue::CONS),
        qreg(QueueKind::Tx, tx_count, &queue::BASE_LO),
        stats::tx_addr(0, &stats::FRAMES_LO),
        irq::reg_addr(0, &irq::EVENTS),
        creg(&control::RX_DROPS_NO_QUEUE) + 4,
        0x8000,
        scratch + 1,
    ] {
        b.write(off, 0xFFFF_FFFF);
        assert_eq!(b.last_error().0, ErrorCode::BadRegisterAccess, "{off:#x}");
        assert_eq!(b.last_error_addr(), u64::from(off), "{off:#x}");
    }
    assert_eq!(b.read(scratch), 0xCAFE_F00D, "unaligned write ignored");
    b.bad_read(scratch + 2);
    assert_eq!(b.last_error().0, ErrorCode::BadRegisterAccess);
    assert_eq!(b.last_error_addr(), u64::from(scratch + 2));

    // ERROR_STATUS is write-1-to-clear, bit by bit.
    b.write(qreg(QueueKind::Tx, 0, &queue::CMD), 0xFF00_0000);
    let both = control::ERROR_STATUS_BAD_REGISTER_ACCESS.mask32()
        | control::ERROR_STATUS_BAD_COMMAND.mask32();
    assert_eq!(b.error_status(), both);
    b.write(
        creg(&control::ERROR_STATUS),
        control::ERROR_STATUS_BAD_COMMAND.mask32(),
    );
    assert_eq!(
        b.error_status(),
        control::ERROR_STATUS_BAD_REGISTER_ACCESS.mask32()
    );
    b.clear_errors();
    assert_eq!(b.error_status(), 0);
    assert_eq!(
        control::STATUS_ERROR.get32(b.read(creg(&control::STATUS))),
        0
    );
    let errors = b.error_count();

    // CMD is write-only: reads 0. Reserved bits of registers are ignored, without an error.
    b.cmd(
        QueueKind::Cq,
        0,
        QueueCommand::SetLog2Size(b.ident.min_log2),
    );
    assert_eq!(b.read(qreg(QueueKind::Cq, 0, &queue::CMD)), 0);
    b.write(
        creg(&control::CTRL),
        0xFFFF_FFF0 | control::CTRL_ENABLE.mask32(),
    );
    assert_eq!(b.read(creg(&control::CTRL)), control::CTRL_ENABLE.mask32());
    b.write(creg(&control::TSO_FLAGS_LAST), 0xFFFF_FFFF);
    assert_eq!(b.read(creg(&control::TSO_FLAGS_LAST)), 0x1FF);
    b.write(irq::reg_addr(0, &irq::MASK), 0xFFFF_FFFF);
    assert_eq!(b.read(irq::reg_addr(0, &irq::MASK)), 1);
    b.write(regs::rss::BASE + regs::rss::TABLE_OFFSET, 0x1234_5603);
    assert_eq!(b.read(regs::rss::BASE + regs::rss::TABLE_OFFSET), 3);
    assert_eq!(b.error_count(), errors, "reserved bits are not errors");
    b.check_image();
}

/// The bring-up order of section 4 and what the status registers say.
pub fn bring_up_sequence<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    assert_eq!(b.error_count(), 0, "a clean bring-up records no error");
    let st = b.status(QueueKind::Cq, 1);
    assert_eq!(queue::STATUS_ENABLED.get32(st), 1);
    assert_eq!(queue::STATUS_LOG2_SIZE.get32(st), 6);
    assert_eq!(queue::STATUS_BINDING.get32(st), 1, "CQ 1 on vector 1");
    let st = b.status(QueueKind::Rx, 0);
    assert_eq!(queue::STATUS_BINDING.get32(st), 1, "RX 0 on CQ 1");
    assert_eq!(b.read(qreg(QueueKind::Rx, 0, &queue::PROD)), 64);
    let st = b.status(QueueKind::Tx, 0);
    assert_eq!(
        (
            queue::STATUS_ENABLED.get32(st),
            queue::STATUS_BINDING.get32(st)
        ),
        (1, 0)
    );
    let status = b.read(creg(&control::STATUS));
    assert_eq!(control::STATUS_ENABLED.get32(status), 1);
    assert_eq!(control::STATUS_ERROR.get32(status), 0);
    // Quiesce in the opposite order.
    b.write(creg(&control::CTRL), 0);
    for (kind, q) in [
        (QueueKind::Tx, 0),
        (QueueKind::Rx, 0),
        (QueueKind::Cq, 0),
        (QueueKind::Cq, 1),
    ] {
        b.cmd(kind, q, QueueCommand::Disable);
        assert_eq!(queue::STATUS_ENABLED.get32(b.status(kind, q)), 0);
    }
    assert_eq!(b.error_count(), 0);
    b.check_image();
}

/// A frame without offload goes out byte for byte; its completion and counters.
pub fn tx_single_frame<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let frame = tcp(100);
    b.send(0, &[&frame], TxOffloadRequest::NONE);
    assert_eq!(b.wire.sent, vec![frame.clone()], "sent as is");
    let c = b.completions(TX_CQ);
    assert_eq!(c.len(), 1);
    let c = c[0];
    assert_eq!(c.kind, CompletionKind::Tx);
    assert_eq!((c.queue, c.index, c.len), (0, 0, frame.len() as u32));
    assert_eq!((c.segments, c.desc_count, c.error), (1, 1, ErrorCode::None));
    assert!(c.phase);
    if b.ident.caps.timestamp {
        assert!(c.timestamp > 0, "timestamp advertised but zero");
    }
    assert_eq!(b.tx_stat(0, &stats::FRAMES_LO), 1);
    assert_eq!(b.tx_stat(0, &stats::BYTES_LO), frame.len() as u64);
    assert_eq!(b.tx_stat(0, &stats::TX_REQUESTS), 1);
    assert_eq!(b.tx_stat(0, &stats::TX_CSUM_INSERTED), 0);
    assert_eq!(b.read(qreg(QueueKind::Tx, 0, &queue::CONS)), 1);
    assert_eq!(b.read(qreg(QueueKind::Cq, TX_CQ, &queue::PROD)), 1);
    b.check_image();
}

/// Scatter-gather with TCP and UDP checksum insertion, checked by independent arithmetic.
pub fn tx_scatter_gather_checksums<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let mut frame = tcp(1001);
    // Garbage in the checksum fields: the device ignores and overwrites it.
    frame[ETH + 10] = 0xDE;
    frame[ETH + IP + 16] = 0xAD;
    let (a, rest) = frame.split_at(23); // splits the IPv4 header
    let (m, z) = rest.split_at(40);
    b.send(0, &[a, m, z], TxOffloadRequest::tcp_checksums(14, 20));
    assert_eq!(b.wire.sent.len(), 1);
    let out = &b.wire.sent[0];
    assert!(frames::ipv4_ok(out), "IPv4 checksum");
    assert!(frames::l4_ok(out), "TCP checksum");
    let mut expect = frame.clone();
    frames::fill_checksums(&mut expect);
    assert_eq!(out, &expect, "only the checksum fields change");
    let c = b.completions(TX_CQ)[0];
    assert_eq!((c.desc_count, c.index, c.segments), (3, 2, 1));
    assert_eq!(c.len, frame.len() as u32);

    // UDP, with the pseudo-header, in two pieces.
    let udp = frames::udp_frame(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        53,
        5353,
        &frames::payload(77, 3),
    );
    let req = frames::udp_checksums();
    let (h, p) = udp.split_at(30);
    b.send(0, &[h, p], req);
    let out = &b.wire.sent[1];
    assert!(frames::ipv4_ok(out) && frames::l4_ok(out), "UDP checksums");
    assert_ne!(
        be16(out, ETH + IP + 6),
        0,
        "a UDP checksum is never sent as 0"
    );
    assert_eq!(b.completions(TX_CQ)[0].index, 4);

    // A UDP datagram whose checksum computes to 0x0000 goes out as 0xFFFF (RFC 768).
    let zero = frames::udp_frame_summing_to_zero(64, 9);
    b.send(0, &[&zero], req);
    let out = &b.wire.sent[2];
    assert_eq!(
        be16(out, ETH + IP + 6),
        0xFFFF,
        "a UDP checksum that computes to 0 is sent as 0xFFFF"
    );
    assert!(frames::ipv4_ok(out) && frames::l4_ok(out), "UDP checksums");
    let mut expect = zero.clone();
    frames::fill_checksums(&mut expect);
    assert_eq!(out, &expect, "only the checksum fields change");
    assert_eq!(b.tx_stat(0, &stats::TX_CSUM_INSERTED), 3);
    assert_eq!(b.tx_stat(0, &stats::FRAMES_LO), 3);
}

/// TSO: segment count, the per-segment rewrites of section 6.3, flag masks, counters.
pub fn tx_tso<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let spec = TcpSpec {
        flags: f::FIN | f::PSH | f::ACK | f::CWR | f::ECE,
        seq: 0xFFFF_F000, // wraps during the request
        ip_id: 0xFFFE,    // wraps too
        ..TcpSpec::default()
    };
    let max = b.ident.caps.max_tso_payload as usize;
    for (payload_len, mss) in [
        (20_000usize, 1448u16),
        (max, 1448),
        (1000, 1448),
        (2896, 1448),
    ] {
        b.wire.sent.clear();
        let data = frames::payload(payload_len, 5);
        let frame = frames::tcp_frame(&spec, &data);
        let hdr = ETH + IP + 20 + spec.opt_len;
        let (h, p) = frame.split_at(hdr);
        let (p1, p2) = p.split_at(p.len() / 3);
        b.send(
            0,
            &[h, p1, p2],
            TxOffloadRequest::tso(mss, 14, 20, (20 + spec.opt_len) as u8),
        );
        let n = payload_len.div_ceil(usize::from(mss));
        assert_eq!(b.wire.sent.len(), n, "segments for {payload_len} bytes");
        let c = b.completions(TX_CQ)[0];
        assert_eq!((c.segments as usize, c.error), (n, ErrorCode::None));
        let mut reassembled = Vec::new();
        for (i, seg) in b.wire.sent.iter().enumerate() {
            let pay = &seg[hdr..];
            assert!(pay.len() <= usize::from(mss));
            assert_eq!(
                be16(seg, ETH + 2) as usize,
                IP + 20 + spec.opt_len + pay.len(),
                "total length"
            );
            assert_eq!(
                be16(seg, ETH + 4),
                spec.ip_id.wrapping_add(i as u16),
                "IP ID"
            );
            assert_eq!(
                be32(seg, ETH + IP + 4),
                spec.seq.wrapping_add((i * usize::from(mss)) as u32),
                "sequence number"
            );
            let masks = TsoFlagMasks::LINUX;
            assert_eq!(
                frames::tcp_flags(seg),
                spec.flags & masks.mask_for(i as u32, n as u32),
                "flags of segment {i}"
            );
            assert!(
                frames::ipv4_ok(seg) && frames::l4_ok(seg),
                "checksums of segment {i}"
            );
            // Everything else of the header repeats unchanged.
            let mut h1 = seg[..hdr].to_vec();
            let mut h0 = frame[..hdr].to_vec();
            for r in [
                ETH + 2..ETH + 6,
                ETH + 10..ETH + 12,
                ETH + IP + 4..ETH + IP + 8,
                ETH + IP + 12..ETH + IP + 14,
                ETH + IP + 16..ETH + IP + 18,
            ] {
                h1[r.clone()].fill(0);
                h0[r].fill(0);
            }
            h1[ETH + IP + 12] = seg[ETH + IP + 12] & 0xF0;
            h0[ETH + IP + 12] = frame[ETH + IP + 12] & 0xF0;
            assert_eq!(h1, h0, "unchanged header fields of segment {i}");
            reassembled.extend_from_slice(pay);
        }
        assert_eq!(reassembled, data, "payload reassembles");
    }
    let total = b.tx_stat(0, &stats::TX_TSO_SEGMENTS);
    assert_eq!(total as usize, 14 + max.div_ceil(1448) + 1 + 2);
    assert_eq!(b.tx_stat(0, &stats::FRAMES_LO), total);
    assert_eq!(b.tx_stat(0, &stats::TX_CSUM_INSERTED), total);

    // Programmed masks apply: keep everything everywhere.
    for r in [
        &control::TSO_FLAGS_FIRST,
        &control::TSO_FLAGS_MIDDLE,
        &control::TSO_FLAGS_LAST,
    ] {
        b.write(creg(r), 0x1FF);
    }
    b.wire.sent.clear();
    let frame = frames::tcp_frame(&spec, &frames::payload(3000, 1));
    b.send(0, &[&frame], TxOffloadRequest::tso(1000, 14, 20, 32));
    assert_eq!(b.wire.sent.len(), 3);
    for seg in &b.wire.sent {
        assert_eq!(frames::tcp_flags(seg), spec.flags);
    }
}

struct Case {
    name: &'static str,
    descs: Vec<[u8; txd::SIZE]>,
    code: ErrorCode,
}

fn raw(d: &TxDescriptor) -> [u8; txd::SIZE] {
    d.encode()
}

/// Queues the chain `descs` on TX queue 0 with the frame `good` right behind, rings, runs, and
/// checks that only `good` went out (a failing request sends nothing and the queue keeps
/// running); returns the two completions, checked to be the chain's error and `good`'s success.
fn bad_then_good<C: DeviceCore>(
    b: &mut Bench<C>,
    name: &str,
    descs: &[[u8; txd::SIZE]],
    code: ErrorCode,
    good: &[u8],
) -> Vec<hw_spec::Completion> {
    b.wire.sent.clear();
    b.clear_errors();
    b.queue_tx_raw(0, descs);
    let d = b.descriptors(&[good], TxOffloadRequest::NONE);
    b.queue_tx(0, &d);
    b.doorbell_tx(0);
    b.run();
    assert!(
        b.wire.sent == [good.to_vec()],
        "{name}: only the good frame is sent"
    );
    let c = b.completions(TX_CQ);
    assert_eq!(c.len(), 2, "{name}");
    assert_eq!((c[0].error, c[0].segments), (code, 0), "{name}");
    assert_eq!(c[1].error, ErrorCode::None, "{name}: next request");
    let bit = if code == ErrorCode::DmaFault {
        control::ERROR_STATUS_DMA_FAULT
    } else {
        control::ERROR_STATUS_BAD_DESCRIPTOR
    };
    assert_error(b, code, QueueKind::Tx, 0, bit);
    c
}

/// Every TX error code from a crafted request: nothing on the wire, one error completion, the
/// bookkeeping of section 8, and the queue keeps running.
pub fn tx_error_codes<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let caps = b.ident.caps;
    let good = tcp(200);
    let tso = TxOffloadRequest::tso(1448, 14, 20, 32);
    let one = |b: &mut Bench<C>, frame: &[u8], req: TxOffloadRequest| -> Vec<[u8; txd::SIZE]> {
        b.descriptors(&[frame], req).iter().map(raw).collect()
    };
    let mut cases = Vec::new();
    // C1: reserved bit, reserved L4 type, missing SOP, second SOP, offload on a non-SOP.
    let mut d = one(&mut b, &good, TxOffloadRequest::NONE);
    d[0][24] = 1;
    cases.push(Case {
        name: "reserved bit",
        descs: d,
        code: ErrorCode::BadFlags,
    });
    let mut d = one(&mut b, &good, TxOffloadRequest::NONE);
    txd::L4_CSUM.set_le(&mut d[0], 3);
    cases.push(Case {
        name: "L4_CSUM 3",
        descs: d,
        code: ErrorCode::BadFlags,
    });
    let mut d = one(&mut b, &good, TxOffloadRequest::NONE);
    txd::SOP.set_le(&mut d[0], 0);
    cases.push(Case {
        name: "no SOP",
        descs: d,
        code: ErrorCode::BadFlags,
    });
    let parts: Vec<[u8; 32]> = b
        .descriptors(&[&good[..50], &good[50..]], TxOffloadRequest::NONE)
        .iter()
        .map(raw)
        .collect();
    let mut d = parts.clone();
    txd::SOP.set_le(&mut d[1], 1);
    cases.push(Case {
        name: "second SOP",
        descs: d,
        code: ErrorCode::BadFlags,
    });
    let mut d = parts.clone();
    txd::IP_CSUM.set_le(&mut d[1], 1);
    cases.push(Case {
        name: "offload on non-SOP",
        descs: d,
        code: ErrorCode::BadFlags,
    });
    // C2, C3, C4.
    let mut d = parts.clone();
    txd::LEN.set_le(&mut d[1], 0);
    cases.push(Case {
        name: "zero length",
        descs: d,
        code: ErrorCode::BadLength,
    });
    let sg: Vec<[u8; 32]> = (0..caps.max_sg)
        .map(|i| {
            raw(&TxDescriptor {
                sop: i == 0,
                ..b.descriptors(&[&good[..20]], TxOffloadRequest::NONE)[0]
            })
        })
        .map(|mut r| {
            txd::EOP.set_le(&mut r, 0);
            r
        })
        .collect();
    cases.push(Case {
        name: "no EOP within MAX_SG",
        descs: sg,
        code: ErrorCode::SgTooLong,
    });
    let mut d = parts.clone();
    txd::ADDR.set_le(&mut d[1], UNMAPPED);
    cases.push(Case {
        name: "unmapped buffer",
        descs: d,
        code: ErrorCode::DmaFault,
    });
    // F1 to F10.
    cases.push(Case {
        name: "13-byte frame",
        descs: one(&mut b, &good[..13], TxOffloadRequest::NONE),
        code: ErrorCode::BadLength,
    });
    let mut no_ip = tso;
    no_ip.ip_csum = false;
    cases.push(Case {
        name: "TSO without IP_CSUM",
        descs: one(&mut b, &tcp(3000), no_ip),
        code: ErrorCode::BadFlags,
    });
    let long = tcp(usize::from(caps.max_frame_len) - tcp(0).len() + 1);
    cases.push(Case {
        name: "longer than MAX_FRAME_LEN",
        descs: one(&mut b, &long, TxOffloadRequest::NONE),
        code: ErrorCode::BadLength,
    });
    cases.push(Case {
        name: "L3_LEN 22",
        descs: one(&mut b, &good, TxOffloadRequest::tcp_checksums(14, 22)),
        code: ErrorCode::HeaderLengths,
    });
    cases.push(Case {
        name: "L2_LEN 13",
        descs: one(&mut b, &good, TxOffloadRequest::tcp_checksums(13, 20)),
        code: ErrorCode::HeaderLengths,
    });
    cases.push(Case {
        name: "header beyond frame",
        descs: one(&mut b, &good[..40], TxOffloadRequest::tcp_checksums(14, 20)),
        code: ErrorCode::HeaderLengths,
    });
    let mut ihl = good.clone();
    ihl[ETH] = 0x46;
    cases.push(Case {
        name: "IHL mismatch",
        descs: one(&mut b, &ihl, TxOffloadRequest::tcp_checksums(14, 20)),
        code: ErrorCode::NotIpv4,
    });
    let udp_req = TxOffloadRequest {
        l4_csum: L4Csum::Udp,
        ..TxOffloadRequest::tcp_checksums(14, 20)
    };
    cases.push(Case {
        name: "UDP request on TCP",
        descs: one(&mut b, &good, udp_req),
        code: ErrorCode::L4Protocol,
    });
    let mut small = tso;
    small.mss = caps.min_mss - 1;
    cases.push(Case {
        name: "MSS below MIN_MSS",
        descs: one(&mut b, &tcp(3000), small),
        code: ErrorCode::TsoBadMss,
    });
    let mut big = tso;
    big.mss = caps.max_mss;
    cases.push(Case {
        name: "MSS + headers beyond MAX_FRAME_LEN",
        descs: one(&mut b, &tcp(3000), big),
        code: ErrorCode::TsoBadMss,
    });
    cases.push(Case {
        name: "TSO without payload",
        descs: one(&mut b, &tcp(0), tso),
        code: ErrorCode::TsoBadPayload,
    });
    let huge = tcp(caps.max_tso_payload as usize + 1);
    cases.push(Case {
        name: "TSO payload too large",
        descs: one(&mut b, &huge, tso),
        code: ErrorCode::TsoBadPayload,
    });
    let mut off = tcp(3000);
    off[ETH + IP + 12] = 5 << 4;
    cases.push(Case {
        name: "data offset != L4_LEN",
        descs: one(&mut b, &off, tso),
        code: ErrorCode::TsoTcpHeader,
    });

    let mut expected_errors = 0;
    let mut index = 0u16;
    for case in cases {
        let n = case.descs.len() as u16;
        let c = bad_then_good(&mut b, case.name, &case.descs, case.code, &good);
        assert_eq!(
            c[0].desc_count as u16, n,
            "{}: the whole chain is consumed",
            case.name
        );
        index = index.wrapping_add(n);
        assert_eq!(c[0].index, (index - 1) & 63, "{}: INDEX", case.name);
        index = index.wrapping_add(1);
        expected_errors += 1;
        assert_eq!(
            b.tx_stat(0, &stats::TX_ERRORS),
            expected_errors,
            "{}",
            case.name
        );
        if case.code == ErrorCode::DmaFault {
            assert_eq!(
                b.last_error_addr(),
                UNMAPPED,
                "{}: faulting IOVA",
                case.name
            );
            assert_eq!(
                queue::STATUS_STOPPED_ON_FAULT.get32(b.status(QueueKind::Tx, 0)),
                0
            );
        }
    }
    assert_eq!(b.tx_stat(0, &stats::TX_REQUESTS), 2 * expected_errors);
}

/// A hostile driver's TX requests at the edges of the arithmetic: MSS 0, lengths far beyond
/// any frame (inside mapped memory, and reaching past it up to `2^32 - 1`), a buffer that wraps
/// the top of the address space, and the most segments a valid TSO request can ask for. Each
/// invalid one sends nothing and completes with its error (the frame behind it goes out); the
/// valid one is segmented whole.
pub fn tx_hostile_requests<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let caps = b.ident.caps;
    let good = tcp(200);
    let tso = TxOffloadRequest::tso(1448, 14, 20, 32);
    let one_len = |b: &mut Bench<C>, frame: &[u8], req: TxOffloadRequest, len: Option<u32>| {
        let mut d = b.descriptors(&[frame], req)[0];
        if let Some(len) = len {
            d.len = len;
        }
        vec![raw(&d)]
    };
    let mut zero_mss = tso;
    zero_mss.mss = 0;
    let big = 1u32 << 20;
    let wrapping = TxDescriptor {
        addr: u64::MAX - 63,
        ..b.descriptors(&[&good], TxOffloadRequest::NONE)[0]
    };
    let end_of_memory = super::bench::MEM_BASE + super::bench::MEM_LEN as u64;
    // (name, chain, error; a DMA fault's LAST_ERROR_ADDR is the first byte not mapped)
    let cases: Vec<(&str, Vec<[u8; txd::SIZE]>, ErrorCode)> = vec![
        (
            "TSO with MSS 0",
            one_len(&mut b, &tcp(3000), zero_mss, None),
            ErrorCode::TsoBadMss,
        ),
        (
            "1 MiB without TSO",
            one_len(&mut b, &good, TxOffloadRequest::NONE, Some(big)),
            ErrorCode::BadLength,
        ),
        (
            "1 MiB with TSO",
            one_len(&mut b, &tcp(3000), tso, Some(big)),
            ErrorCode::TsoBadPayload,
        ),
        (
            "2^32 - 1 bytes",
            one_len(&mut b, &tcp(3000), tso, Some(u32::MAX)),
            ErrorCode::DmaFault,
        ),
        (
            "buffer wrapping the address space",
            vec![raw(&wrapping)],
            ErrorCode::DmaFault,
        ),
    ];
    for (name, descs, code) in cases {
        bad_then_good(&mut b, name, &descs, code, &good);
        if code == ErrorCode::DmaFault {
            let first_unmapped = if name.starts_with("2^32") {
                end_of_memory
            } else {
                wrapping.addr
            };
            assert_eq!(b.last_error_addr(), first_unmapped, "{name}");
        }
        assert_eq!(
            queue::STATUS_ENABLED.get32(b.status(QueueKind::Tx, 0)),
            1,
            "{name}"
        );
    }

    // The most segments a valid request makes: the largest payload at the smallest MSS.
    let payload = caps.max_tso_payload as usize;
    let mut tiny = tso;
    tiny.mss = caps.min_mss;
    let frame = tcp(payload);
    b.wire.sent.clear();
    b.send(0, &[&frame], tiny);
    let c = b.completions(TX_CQ);
    let n = payload.div_ceil(usize::from(caps.min_mss));
    assert_eq!((c.len(), c[0].error), (1, ErrorCode::None));
    assert_eq!(usize::from(c[0].segments), n);
    assert_eq!(b.wire.sent.len(), n);
    let sent_payload: usize = b.wire.sent.iter().map(|f| f.len() - (ETH + IP + 32)).sum();
    assert_eq!(sent_payload, payload);
}

/// Receive checksum status per layer, delivery, and the RX counters.
pub fn rx_checksum_status<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let mut good = tcp(300);
    frames::fill_checksums(&mut good);
    let mut bad_l4 = good.clone();
    bad_l4[100] ^= 0x40;
    let mut bad_ip = good.clone();
    bad_ip[ETH + 8] ^= 1; // TTL
    let mut arp = vec![0xFFu8; 60];
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut udp0 = frames::udp_frame([1, 1, 1, 1], [2, 2, 2, 2], 9, 9, b"no checksum");
    frames::fill_checksums(&mut udp0);
    udp0[ETH + IP + 6..ETH + IP + 8].fill(0);
    let mut short_ip = good.clone();
    short_ip[ETH + 2..ETH + 4].copy_from_slice(&5000u16.to_be_bytes());
    let cases = [
        (&good, CsumStatus::Good, CsumStatus::Good),
        (&bad_l4, CsumStatus::Good, CsumStatus::Bad),
        (&bad_ip, CsumStatus::Bad, CsumStatus::None),
        (&arp, CsumStatus::None, CsumStatus::None),
        (&udp0, CsumStatus::Good, CsumStatus::None),
        (&short_ip, CsumStatus::Bad, CsumStatus::None),
    ];
    for (frame, _, _) in &cases {
        b.inject((*frame).clone());
    }
    b.run();
    let c = b.completions(RX_CQ);
    assert_eq!(c.len(), cases.len());
    for (i, ((frame, ip, l4), c)) in cases.iter().zip(&c).enumerate() {
        assert_eq!(c.kind, CompletionKind::Rx);
        assert_eq!(
            (c.queue, c.index, c.desc_count, c.segments),
            (0, i as u16, 1, 0)
        );
        assert_eq!((c.ip_csum, c.l4_csum), (*ip, *l4), "case {i}");
        assert_eq!(c.error, ErrorCode::None);
        assert_eq!(c.rss_type, RssType::None, "RSS disabled");
        assert_eq!(b.rx_bytes(c), **frame, "case {i} delivered intact");
    }
    assert_eq!(b.rx_stat(0, &stats::FRAMES_LO), cases.len() as u64);
    let bytes: usize = cases.iter().map(|(f, _, _)| f.len()).sum();
    assert_eq!(b.rx_stat(0, &stats::BYTES_LO), bytes as u64);
    assert_eq!(
        b.rx_stat(0, &stats::RX_CSUM_GOOD),
        2,
        "good TCP and UDP without checksum"
    );
    assert_eq!(b.rx_stat(0, &stats::RX_CSUM_BAD), 3);

    // Verification off: UNKNOWN, and no checksum counters move.
    b.enable(false, false);
    b.inject(bad_l4.clone());
    b.run();
    let c = b.completions(RX_CQ)[0];
    assert_eq!(
        (c.ip_csum, c.l4_csum),
        (CsumStatus::Unknown, CsumStatus::Unknown)
    );
    assert_eq!(b.rx_stat(0, &stats::RX_CSUM_BAD), 3);
    assert_eq!(b.error_count(), 0, "network input is never an error");
}

/// The port hears the device time at the start of every step, before the device takes a
/// received frame ([`Wire::begin_step`](crate::device::Wire::begin_step)): a port that times what it receives (a bottleneck)
/// must not stamp it with the time of an earlier step's flush.
pub fn rx_port_knows_the_step_time<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    b.step();
    let before = b.now_ns;
    let mut frame = tcp(100);
    frames::fill_checksums(&mut frame);
    b.inject(frame.clone());
    b.inject(frame);
    b.run();
    assert_eq!(b.completions(RX_CQ).len(), 2);
    let at = &b.wire.received_at;
    assert_eq!(at.len(), 2);
    assert!(
        at.iter()
            .all(|t| t.is_some_and(|t| t > before && t <= b.now_ns)),
        "frames taken with the port told {at:?} (steps run to {} ns)",
        b.now_ns
    );
}

/// RSS: the Toeplitz hash picks the queue through the table; what the completion says.
pub fn rx_rss_steering<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let max = u32::from(b.ident.caps.max_frame_len);
    b.setup_cq(2, 6, 1);
    b.setup_rx(1, 6, 2, max);
    b.post_rx(1, 64);
    let key: [u8; 40] = core::array::from_fn(|i| (i as u8).wrapping_mul(73).wrapping_add(0x6D));
    for (i, w) in hw_spec::rss::key_to_words(&key).iter().enumerate() {
        b.write(regs::rss::BASE + regs::rss::KEY_OFFSET + 4 * i as u32, *w);
    }
    let table: Vec<u8> = (0..128u8).map(|i| (i / 3) % 2).collect();
    for (i, q) in table.iter().enumerate() {
        b.write(
            regs::rss::BASE + regs::rss::TABLE_OFFSET + 4 * i as u32,
            (*q).into(),
        );
    }
    b.enable(true, true);
    let mut per_queue = [0u32; 2];
    for i in 0..40u16 {
        let spec = TcpSpec {
            sport: 1000 + i * 77,
            src: [198, 18, 1, i as u8],
            ..TcpSpec::default()
        };
        let mut fr = frames::tcp_frame(&spec, b"x");
        frames::fill_checksums(&mut fr);
        let mut input = Vec::new();
        input.extend_from_slice(&fr[ETH + 12..ETH + 20]);
        input.extend_from_slice(&fr[ETH + IP..ETH + IP + 4]);
        let hash = hw_spec::rss::toeplitz(&key, &input);
        let q = table[(hash % 128) as usize];
        b.inject(fr);
        b.run();
        let cq = if q == 0 { RX_CQ } else { 2 };
        let c = b.completions(cq);
        assert_eq!(c.len(), 1, "frame {i} lands on queue {q}");
        assert_eq!(
            (c[0].queue, c[0].rss_hash, c[0].rss_type),
            (q.into(), hash, RssType::Ipv4Tcp)
        );
        per_queue[usize::from(q)] += 1;
    }
    assert!(
        per_queue[0] > 0 && per_queue[1] > 0,
        "both queues used: {per_queue:?}"
    );
    // Addresses only for a protocol without ports; UDP ports for UDP.
    let mut other = frames::udp_frame([9, 9, 9, 9], [8, 8, 8, 8], 7, 7, b"u");
    other[ETH + 9] = 47; // GRE: no ports
    b.inject(other.clone());
    let udp = frames::udp_frame([9, 9, 9, 9], [8, 8, 8, 8], 1234, 4321, b"u");
    b.inject(udp.clone());
    b.run();
    let mut got: Vec<_> = b.completions(RX_CQ);
    got.extend(b.completions(2));
    got.sort_by_key(|c| c.rss_type.bits());
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].rss_type, RssType::Ipv4);
    assert_eq!(
        got[0].rss_hash,
        hw_spec::rss::toeplitz(&key, &other[ETH + 12..ETH + 20])
    );
    assert_eq!(got[1].rss_type, RssType::Ipv4Udp);
    let mut input = udp[ETH + 12..ETH + 20].to_vec();
    input.extend_from_slice(&udp[ETH + IP..ETH + IP + 4]);
    assert_eq!(got[1].rss_hash, hw_spec::rss::toeplitz(&key, &input));
    // A table entry naming a queue that does not exist steers to queue 0.
    let missing = b.ident.rx as u32;
    for i in 0..128u32 {
        b.write(regs::rss::BASE + regs::rss::TABLE_OFFSET + 4 * i, missing);
    }
    b.inject(udp);
    b.run();
    let c = b.completions(RX_CQ);
    assert_eq!((c.len(), c[0].queue), (1, 0));
}

/// Every drop rule of section 7, counted where the spec says.
pub fn rx_drops<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.reset();
    let min = b.ident.min_log2;
    let max = b.ident.caps.max_frame_len;
    b.setup_cq(1, min, 1);
    b.setup_rx(0, min + 1, 1, 128);
    b.enable(true, false);
    let small = tcp(40); // 106 bytes
    let large = tcp(100); // 166 bytes
    // No buffer posted.
    b.inject(small.clone());
    b.run();
    assert_eq!(b.rx_stat(0, &stats::RX_DROPS), 1);
    // Buffer too small: dropped, and the buffer stays for the next frame.
    b.post_rx(0, 1);
    b.inject(large.clone());
    b.inject(small.clone());
    b.run();
    assert_eq!(b.rx_stat(0, &stats::RX_DROPS), 2);
    let c = b.completions(1);
    assert_eq!((c.len(), c[0].index, c[0].len), (1, 0, small.len() as u32));
    // Longer than MAX_FRAME_LEN.
    b.post_rx(0, 1);
    b.inject(vec![0u8; usize::from(max) + 1]);
    b.run();
    assert_eq!(b.rx_stat(0, &stats::RX_DROPS), 3);
    // CQ full: the CQ has 2^min entries, the ring twice that.
    let cq_size = 1u16 << min;
    b.post_rx(0, 2 * cq_size - 1);
    for _ in 0..cq_size + 3 {
        b.inject(small.clone());
    }
    b.run();
    assert_eq!(b.rx_stat(0, &stats::RX_DROPS), 3 + 3);
    assert_eq!(b.completions(1).len(), usize::from(cq_size));
    b.inject(small.clone());
    b.run();
    assert_eq!(b.completions(1).len(), 1, "room again after SET_CONS");
    // Selected queue disabled, then device disabled: RX_DROPS_NO_QUEUE.
    b.cmd(QueueKind::Rx, 0, QueueCommand::Disable);
    b.inject(small.clone());
    b.run();
    b.cmd(QueueKind::Rx, 0, QueueCommand::Enable);
    b.write(creg(&control::CTRL), 0);
    b.inject(small.clone());
    b.run();
    assert_eq!(b.read(creg(&control::RX_DROPS_NO_QUEUE)), 2);
    assert_eq!(b.rx_stat(0, &stats::RX_DROPS), 6);
    assert_eq!(b.rx_stat(0, &stats::FRAMES_LO), 1 + u64::from(cq_size) + 1);
    assert_eq!(b.error_count(), 0, "drops are not errors");
}

/// Completion rings wrap many times with the phase bit flipping; a full CQ stalls TX and
/// nothing is lost; a chain may span the end of the TX ring.
pub fn cq_wraparound_and_full<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.reset();
    let min = b.ident.min_log2;
    let size = 1usize << min;
    b.setup_cq(0, min, 0);
    b.setup_tx(0, min + 1, 0);
    b.enable(false, false);
    let mut sent = 0usize;
    for round in 0..12 {
        // Batches of 3/4 of the CQ, some frames in two descriptors (chains cross the ring end).
        let batch = size * 3 / 4;
        for i in 0..batch {
            let fr = tcp(10 + (sent % 50));
            if i % 2 == 0 {
                let d = b.descriptors(&[&fr[..30], &fr[30..]], TxOffloadRequest::NONE);
                b.queue_tx(0, &d);
            } else {
                let d = b.descriptors(&[&fr], TxOffloadRequest::NONE);
                b.queue_tx(0, &d);
            }
            sent += 1;
        }
        b.doorbell_tx(0);
        b.run();
        let c = b.completions(0);
        assert_eq!(c.len(), batch, "round {round}");
        assert!(c.iter().all(|c| c.error == ErrorCode::None));
    }
    assert_eq!(b.wire.sent.len(), sent);
    // Fill the CQ without returning entries: TX stalls at exactly `size` completions.
    b.wire.sent.clear();
    for _ in 0..size + 5 {
        let d = b.descriptors(&[&tcp(1)], TxOffloadRequest::NONE);
        b.queue_tx(0, &d);
    }
    b.doorbell_tx(0);
    b.run();
    assert_eq!(b.wire.sent.len(), size, "TX stalls on a full CQ");
    assert_eq!(b.poll(0).len(), size);
    b.release(0);
    b.run();
    assert_eq!(b.wire.sent.len(), size + 5, "nothing lost");
    assert_eq!(b.completions(0).len(), 5);
    assert_eq!(b.error_count(), 0);
}

/// ARM raises once; pending entries raise at once; masks count but do not signal.
pub fn interrupts_and_arming<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let events = |b: &mut Bench<C>| b.read(irq::reg_addr(0, &irq::EVENTS));
    let signals = |b: &Bench<C>| b.irq.signals.first().copied().unwrap_or(0);
    let send = |b: &mut Bench<C>| b.send(0, &[&tcp(5)], TxOffloadRequest::NONE);
    send(&mut b);
    assert_eq!(
        (events(&mut b), signals(&b)),
        (0, 0),
        "not armed: no interrupt"
    );
    b.completions(TX_CQ);
    b.cmd(QueueKind::Cq, TX_CQ, QueueCommand::Arm);
    assert_eq!(queue::STATUS_ARMED.get32(b.status(QueueKind::Cq, TX_CQ)), 1);
    send(&mut b);
    assert_eq!((events(&mut b), signals(&b)), (1, 1));
    assert_eq!(
        queue::STATUS_ARMED.get32(b.status(QueueKind::Cq, TX_CQ)),
        0,
        "disarmed"
    );
    send(&mut b);
    assert_eq!(events(&mut b), 1, "once per ARM");
    // Two entries pending: ARM raises at once.
    b.cmd(QueueKind::Cq, TX_CQ, QueueCommand::Arm);
    assert_eq!((events(&mut b), signals(&b)), (2, 2));
    // SET_CONS_ARM leaving one pending raises at once; consuming all arms.
    b.poll(TX_CQ);
    b.cmd(QueueKind::Cq, TX_CQ, QueueCommand::SetConsArm(2));
    assert_eq!(events(&mut b), 3);
    b.cmd(QueueKind::Cq, TX_CQ, QueueCommand::SetConsArm(3));
    assert_eq!(events(&mut b), 3);
    send(&mut b);
    assert_eq!((events(&mut b), signals(&b)), (4, 4));
    // Masked: counted, not signalled.
    b.completions(TX_CQ);
    b.write(irq::reg_addr(0, &irq::MASK), 1);
    b.cmd(QueueKind::Cq, TX_CQ, QueueCommand::Arm);
    send(&mut b);
    assert_eq!((events(&mut b), signals(&b)), (5, 4));
    // RX completions raise the RX CQ's vector.
    b.cmd(QueueKind::Cq, RX_CQ, QueueCommand::Arm);
    b.inject(tcp(1));
    b.run();
    assert_eq!(b.read(irq::reg_addr(1, &irq::EVENTS)), 1);
    assert_eq!(b.irq.signals.get(1).copied(), Some(1));
    assert_eq!(b.error_count(), 0);
}

/// Every `BAD_COMMAND_*` and `RING_OVERRUN` case: ignored whole and reported.
pub fn command_errors<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let id = b.ident;
    b.cmd(QueueKind::Tx, 1, QueueCommand::SetLog2Size(id.min_log2));
    let op = |o: hw_spec::Opcode, arg: u32| ((o as u32) << 24) | arg;
    use ErrorCode::{
        BadCommandArgument as ARG, BadCommandOpcode as OPC, BadCommandState as STATE,
        RingOverrun as OVERRUN,
    };
    use QueueKind::{Cq, Rx, Tx};
    use hw_spec::Opcode as O;
    let (min, max) = (u32::from(id.min_log2), u32::from(id.max_log2));
    #[rustfmt::skip]
    let cases: Vec<(QueueKind, usize, u32, ErrorCode)> = vec![
        (Tx, 1, 0xFF00_0000, OPC),
        (Tx, 1, 0, OPC),
        (Tx, 1, op(O::Arm, 0), OPC),
        (Rx, 0, op(O::SetIrq, 0), OPC),
        (Cq, 0, op(O::SetProd, 1), OPC),
        (Cq, 2, op(O::SetCq, 0), OPC),
        (Tx, 1, op(O::SetLog2Size, max + 1), ARG),
        (Tx, 1, op(O::SetLog2Size, min - 1), ARG),
        (Tx, 1, op(O::SetCq, id.cq as u32), ARG),
        (Cq, 2, op(O::SetIrq, id.irq as u32), ARG),
        (Tx, 1, op(O::Enable, 1), ARG),
        (Tx, 0, op(O::SetProd, 0x1_0000), ARG),
        (Tx, 0, op(O::SetLog2Size, min), STATE),
        (Tx, 0, op(O::SetCq, 1), STATE),
        (Cq, 0, op(O::SetIrq, 1), STATE),
        (Rx, 0, op(O::ResetPointers, 0), STATE),
        (Rx, 1, op(O::Enable, 0), STATE),
        (Rx, 1, op(O::SetProd, 0), STATE),
        (Tx, 0, op(O::SetProd, 65), OVERRUN),
        (Tx, 0, op(O::SetProd, 0xFFFF), OVERRUN),
        (Cq, 0, op(O::SetCons, 1), OVERRUN),
    ];
    for (kind, q, word, code) in cases {
        b.clear_errors();
        let status = b.status(kind, q);
        let prod = b.read(qreg(kind, q, &queue::PROD));
        let cons = b.read(qreg(kind, q, &queue::CONS));
        b.cmd_word(kind, q, word);
        assert_error(
            &mut b,
            code,
            kind,
            q as u16,
            control::ERROR_STATUS_BAD_COMMAND,
        );
        assert_eq!(
            b.last_error_addr(),
            u64::from(qreg(kind, q, &queue::CMD)),
            "{word:#x}"
        );
        assert_eq!(b.status(kind, q), status, "{kind:?} {q}: {word:#x} ignored");
        assert_eq!(b.read(qreg(kind, q, &queue::PROD)), prod);
        assert_eq!(b.read(qreg(kind, q, &queue::CONS)), cons);
    }
    // ENABLE needs an aligned base and an enabled CQ.
    b.clear_errors();
    b.write(qreg(QueueKind::Tx, 1, &queue::BASE_LO), 0x1_0800);
    b.cmd(QueueKind::Tx, 1, QueueCommand::Enable);
    assert_eq!(b.last_error().0, ErrorCode::BadCommandState);
    b.write(qreg(QueueKind::Tx, 1, &queue::BASE_LO), 0x1_0000);
    b.cmd(QueueKind::Tx, 1, QueueCommand::SetCq(2));
    b.cmd(QueueKind::Tx, 1, QueueCommand::Enable);
    assert_eq!(
        b.last_error().0,
        ErrorCode::BadCommandState,
        "CQ 2 is disabled"
    );
    assert_eq!(queue::STATUS_ENABLED.get32(b.status(QueueKind::Tx, 1)), 0);
    // A BASE write to an enabled queue is a bad register access on that queue.
    b.clear_errors();
    let base = b.read(qreg(QueueKind::Rx, 0, &queue::BASE_LO));
    b.write(qreg(QueueKind::Rx, 0, &queue::BASE_LO), 0);
    assert_error(
        &mut b,
        ErrorCode::BadRegisterAccess,
        QueueKind::Rx,
        0,
        control::ERROR_STATUS_BAD_REGISTER_ACCESS,
    );
    assert_eq!(b.read(qreg(QueueKind::Rx, 0, &queue::BASE_LO)), base);
    // The device still works.
    b.send(0, &[&tcp(3)], TxOffloadRequest::NONE);
    assert_eq!(b.completions(TX_CQ).len(), 1);
}

/// DMA faults: on buffers (error completions, queue running) and on rings (queue stopped),
/// and recovery by reprogramming.
pub fn dma_faults<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    // A TX ring the device cannot read: stopped on fault, no completion.
    b.setup_cq(2, 6, 0);
    b.setup_tx_at(1, 6, 2, Some(UNMAPPED));
    b.cmd(QueueKind::Tx, 1, QueueCommand::SetProd(1));
    b.run();
    let st = b.status(QueueKind::Tx, 1);
    assert_eq!(
        (
            queue::STATUS_ENABLED.get32(st),
            queue::STATUS_STOPPED_ON_FAULT.get32(st)
        ),
        (0, 1)
    );
    assert_error(
        &mut b,
        ErrorCode::DmaFault,
        QueueKind::Tx,
        1,
        control::ERROR_STATUS_QUEUE_STOPPED,
    );
    assert_ne!(
        b.error_status() & control::ERROR_STATUS_DMA_FAULT.mask32(),
        0
    );
    assert_eq!(b.last_error_addr(), UNMAPPED);
    assert!(b.poll(2).is_empty());
    // Recovery: reprogram and enable; STOPPED_ON_FAULT clears, frames flow.
    b.setup_tx(1, 6, 2);
    assert_eq!(
        queue::STATUS_STOPPED_ON_FAULT.get32(b.status(QueueKind::Tx, 1)),
        0
    );
    b.send(1, &[&tcp(1)], TxOffloadRequest::NONE);
    assert_eq!(b.completions(2).len(), 1);

    // A completion ring the device cannot write: the frame went out, the CQ stops, TX stalls.
    b.wire.sent.clear();
    b.setup_cq_at(2, 6, 0, Some(UNMAPPED + 0x10_0000));
    b.cmd(QueueKind::Tx, 1, QueueCommand::Disable);
    b.setup_tx(1, 6, 2);
    b.clear_errors();
    b.send(1, &[&tcp(1)], TxOffloadRequest::NONE);
    b.send(1, &[&tcp(2)], TxOffloadRequest::NONE);
    assert_eq!(
        b.wire.sent.len(),
        1,
        "second request stalls behind the stopped CQ"
    );
    assert_eq!(
        queue::STATUS_STOPPED_ON_FAULT.get32(b.status(QueueKind::Cq, 2)),
        1
    );
    assert_error(
        &mut b,
        ErrorCode::DmaFault,
        QueueKind::Cq,
        2,
        control::ERROR_STATUS_QUEUE_STOPPED,
    );
    assert_eq!(b.last_error_addr(), UNMAPPED + 0x10_0000);

    // An RX buffer the device cannot write: an error completion consumes it, ERRORS counts.
    b.clear_errors();
    let mut d = RxDescriptor {
        addr: UNMAPPED,
        len: 2048,
    }
    .encode();
    b.cmd(QueueKind::Rx, 0, QueueCommand::Disable);
    b.setup_rx(0, 6, 1, 2048);
    b.post_rx_raw(0, d);
    b.post_rx(0, 1);
    b.inject(tcp(10));
    b.inject(tcp(11));
    b.run();
    let c = b.completions(RX_CQ);
    assert_eq!(c.len(), 2);
    assert_eq!((c[0].error, c[0].index), (ErrorCode::DmaFault, 0));
    assert_eq!((c[1].error, c[1].index), (ErrorCode::None, 1));
    assert_eq!(b.rx_stat(0, &stats::RX_ERRORS), 1);
    assert_error(
        &mut b,
        ErrorCode::DmaFault,
        QueueKind::Rx,
        0,
        control::ERROR_STATUS_DMA_FAULT,
    );
    assert_eq!(b.last_error_addr(), UNMAPPED);
    // An RX descriptor with reserved bits: BAD_FLAGS completion.
    b.clear_errors();
    d = RxDescriptor {
        addr: UNMAPPED,
        len: 64,
    }
    .encode();
    d[12] = 1;
    b.post_rx_raw(0, d);
    b.inject(tcp(12));
    b.run();
    let c = b.completions(RX_CQ);
    assert_eq!(c[0].error, ErrorCode::BadFlags);
    assert_error(
        &mut b,
        ErrorCode::BadFlags,
        QueueKind::Rx,
        0,
        control::ERROR_STATUS_BAD_DESCRIPTOR,
    );
    assert_eq!(b.rx_stat(0, &stats::RX_ERRORS), 2);
    // An RX ring the device cannot read: stopped, the frame dropped.
    b.cmd(QueueKind::Rx, 0, QueueCommand::Disable);
    b.setup_rx_at(0, 6, 1, 2048, Some(UNMAPPED));
    let drops = b.rx_stat(0, &stats::RX_DROPS);
    b.cmd(QueueKind::Rx, 0, QueueCommand::SetProd(1));
    b.inject(tcp(13));
    b.run();
    assert_eq!(
        queue::STATUS_STOPPED_ON_FAULT.get32(b.status(QueueKind::Rx, 0)),
        1
    );
    assert_eq!(b.rx_stat(0, &stats::RX_DROPS), drops + 1);
    assert_eq!(rxd::SIZE, 16);
}

/// Two TX queues are served fairly; `DISABLE` stops a queue, `ENABLE` resumes it.
pub fn tx_queues_and_disable<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    b.setup_cq(2, 6, 0);
    b.setup_tx(1, 6, 2);
    for q in [0usize, 1] {
        for i in 0..4 {
            let d = b.descriptors(
                &[&frames::payload(60, (q * 10 + i) as u8)],
                TxOffloadRequest::NONE,
            );
            b.queue_tx(q, &d);
        }
        b.doorbell_tx(q);
    }
    b.run();
    assert_eq!(b.wire.sent.len(), 8);
    let firsts: Vec<u8> = b.wire.sent.iter().map(|f| f[0]).collect();
    let from = |q: usize, i: usize| frames::payload(60, (q * 10 + i) as u8)[0];
    // Per queue in order; queues interleaved (neither waits for the other to drain).
    let pos = |q: usize, i: usize| firsts.iter().position(|&x| x == from(q, i)).unwrap();
    assert!(pos(0, 0) < pos(0, 3) && pos(1, 0) < pos(1, 3));
    assert!(
        pos(1, 0) < pos(0, 3) && pos(0, 0) < pos(1, 3),
        "round-robin: {firsts:?}"
    );
    assert_eq!(b.completions(TX_CQ).len(), 4);
    assert_eq!(b.completions(2).len(), 4);
    b.cmd(QueueKind::Tx, 1, QueueCommand::Disable);
    b.wire.sent.clear();
    let d = b.descriptors(&[&tcp(1)], TxOffloadRequest::NONE);
    b.queue_tx(1, &d);
    b.doorbell_tx(1);
    b.run();
    assert!(b.wire.sent.is_empty(), "disabled queue sends nothing");
    b.cmd(QueueKind::Tx, 1, QueueCommand::Enable);
    b.run();
    assert_eq!(b.wire.sent.len(), 1);
    // Device disable stops TX too.
    b.write(creg(&control::CTRL), 0);
    b.send(0, &[&tcp(1)], TxOffloadRequest::NONE);
    assert_eq!(b.wire.sent.len(), 1);
    b.enable(true, false);
    b.run();
    assert_eq!(b.wire.sent.len(), 2);
}

/// Statistics over many frames, read as 64-bit counters.
pub fn statistics<C: DeviceCore>(make: &dyn Fn() -> C) {
    let mut b = bench(make);
    b.bring_up();
    let mut tx_bytes = 0u64;
    let mut rx_bytes = 0u64;
    for i in 0..50usize {
        let fr = tcp(i * 20);
        tx_bytes += fr.len() as u64;
        b.send(0, &[&fr], TxOffloadRequest::tcp_checksums(14, 20));
        let mut rx = fr.clone();
        frames::fill_checksums(&mut rx);
        rx_bytes += rx.len() as u64;
        b.inject(rx);
        b.run();
        b.completions(TX_CQ);
        b.completions(RX_CQ);
        b.post_rx(0, 1);
    }
    assert_eq!(b.tx_stat(0, &stats::FRAMES_LO), 50);
    assert_eq!(b.tx_stat(0, &stats::BYTES_LO), tx_bytes);
    assert_eq!(b.tx_stat(0, &stats::TX_REQUESTS), 50);
    assert_eq!(b.tx_stat(0, &stats::TX_CSUM_INSERTED), 50);
    assert_eq!(b.tx_stat(0, &stats::TX_TSO_SEGMENTS), 0);
    assert_eq!(b.tx_stat(0, &stats::TX_ERRORS), 0);
    assert_eq!(b.rx_stat(0, &stats::FRAMES_LO), 50);
    assert_eq!(b.rx_stat(0, &stats::BYTES_LO), rx_bytes);
    assert_eq!(b.rx_stat(0, &stats::RX_CSUM_GOOD), 50);
    assert_eq!(b.rx_stat(0, &stats::RX_DROPS), 0);
    assert_eq!(b.tx_stat(1, &stats::FRAMES_LO), 0, "other queues untouched");
    let t1 = b.read64(creg(&control::TIMESTAMP_LO));
    b.step();
    assert!(
        b.read64(creg(&control::TIMESTAMP_LO)) > t1,
        "device time advances"
    );
    b.check_image();
}
