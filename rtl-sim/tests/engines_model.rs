//! The engine models against independent arithmetic written here (a plain per-byte checksum,
//! hand-built frames), and against the rules of hw-spec SPEC.md.

use hw_spec::offload::TsoFlagMasks;
use hw_spec::{CsumStatus, DeviceCaps, ErrorCode, L4Csum, RssType, TxOffloadRequest};
use rtl_sim::engines::{rx, tso, tx};

/// The reference device's capabilities (max frame 9216, MSS 64..=9162, TSO payload 65535).
const CAPS: DeviceCaps = rtl_sim::device::DeviceConfig::REFERENCE.caps;

/// A per-byte ones' complement checksum, written independently of the engines.
fn naive_csum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let mut sum: u32 = 0;
    for (i, b) in bytes.iter().enumerate() {
        sum += if i % 2 == 0 {
            u32::from(*b) << 8
        } else {
            u32::from(*b)
        };
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

fn tcp_frame(payload: &[u8], tcp_opts: usize, flags: u8) -> Vec<u8> {
    let l4 = 20 + tcp_opts;
    let mut f = vec![0u8; 14 + 20 + l4];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4 + payload.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0xFFFEu16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&[198, 18, 0, 1]);
    ip[16..20].copy_from_slice(&[198, 18, 0, 2]);
    let tcp = &mut f[34..34 + l4];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&0xFFFF_FF00u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&12345u32.to_be_bytes());
    tcp[12] = ((l4 / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    for (i, b) in tcp[20..].iter_mut().enumerate() {
        *b = if i % 4 == 0 { 1 } else { 0xAB }; // NOPs and junk: options are opaque to the NIC
    }
    f.extend_from_slice(payload);
    f
}

fn verify_independently(frame: &[u8]) {
    let ip = &frame[14..34];
    assert_eq!(naive_csum(&[ip]), 0, "IPv4 header checksum");
    let l4 = &frame[34..];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&ip[12..20]);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    assert_eq!(naive_csum(&[&pseudo, l4]), 0, "TCP checksum");
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn checksum_insertion_matches_independent_arithmetic() {
    let mut scratch = vec![0u8; 9216];
    for len in [0usize, 1, 2, 3, 17, 1448] {
        let mut f = tcp_frame(&payload(len), 12, 0x18);
        // Garbage in the checksum fields must be ignored.
        f[24] = 0xde;
        f[25] = 0xad;
        f[50] = 0xbe;
        f[51] = 0xef;
        let mut out = Vec::new();
        let req = TxOffloadRequest::tcp_checksums(14, 20);
        let plan = tx::process(
            &mut f,
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut scratch,
            |fr| out.push(fr.to_vec()),
        )
        .unwrap();
        assert_eq!(plan.segments, 1);
        assert_eq!(out.len(), 1);
        verify_independently(&out[0]);
        let class = rx::classify(&out[0], true);
        assert_eq!((class.ip, class.l4), (CsumStatus::Good, CsumStatus::Good));
    }
}

#[test]
fn no_offload_sends_bytes_unchanged() {
    let original = tcp_frame(&payload(100), 0, 0x10);
    let mut f = original.clone();
    let mut out = Vec::new();
    tx::process(
        &mut f,
        &TxOffloadRequest::NONE,
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut [],
        |fr| out.push(fr.to_vec()),
    )
    .unwrap();
    assert_eq!(out, vec![original]);
}

#[test]
fn tso_rewrites_exactly_the_spec_fields() {
    let data = payload(3000);
    // FIN | PSH | ACK | CWR
    let mut f = tcp_frame(&data, 12, 0x01 | 0x08 | 0x10 | 0x80);
    let req = TxOffloadRequest::tso(1000, 14, 20, 32);
    let mut scratch = vec![0u8; 9216];
    let mut segs = Vec::new();
    let plan = tx::process(
        &mut f,
        &req,
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut scratch,
        |fr| segs.push(fr.to_vec()),
    )
    .unwrap();
    assert_eq!(plan.segments, 3);
    assert_eq!(segs.len(), 3);
    let mut joined = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        verify_independently(s);
        let hdr = &s[..66];
        assert_eq!(
            u16::from_be_bytes([hdr[16], hdr[17]]) as usize,
            20 + 32 + 1000
        );
        assert_eq!(
            u16::from_be_bytes([hdr[18], hdr[19]]),
            0xFFFEu16.wrapping_add(i as u16)
        );
        let seq = u32::from_be_bytes(hdr[38..42].try_into().unwrap());
        assert_eq!(seq, 0xFFFF_FF00u32.wrapping_add(1000 * i as u32));
        let flags = tso::tcp_flags(&hdr[34..]);
        let expect = match i {
            0 => 0x10 | 0x80,
            1 => 0x10,
            _ => 0x10 | 0x01 | 0x08,
        };
        assert_eq!(flags, expect, "segment {i}");
        // Everything else in the header is the original's.
        assert_eq!(&hdr[..16], &f[..16]);
        assert_eq!(&hdr[20..24], &f[20..24]);
        assert_eq!(&hdr[26..38], &f[26..38]);
        assert_eq!(&hdr[42..46], &f[42..46]);
        assert_eq!(&hdr[48..50], &f[48..50]);
        assert_eq!(&hdr[52..66], &f[52..66]);
        joined.extend_from_slice(&s[66..]);
    }
    assert_eq!(joined, data);
}

#[test]
fn tso_single_segment_keeps_first_and_last_flags() {
    let mut f = tcp_frame(&payload(10), 0, 0x01 | 0x08 | 0x10 | 0x80);
    let req = TxOffloadRequest::tso(1000, 14, 20, 20);
    let mut segs = Vec::new();
    tx::process(
        &mut f,
        &req,
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut vec![0; 9216],
        |fr| segs.push(fr.to_vec()),
    )
    .unwrap();
    assert_eq!(segs.len(), 1);
    assert_eq!(tso::tcp_flags(&segs[0][34..]), 0x99);
}

#[test]
fn invalid_requests_emit_nothing() {
    let mut f = tcp_frame(&payload(100), 0, 0x10);
    let mut req = TxOffloadRequest::tso(0, 14, 20, 20);
    let mut emitted = 0;
    let r = tx::process(
        &mut f,
        &req,
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut vec![0; 9216],
        |_| emitted += 1,
    );
    assert_eq!(r, Err(ErrorCode::TsoBadMss));
    req.mss = 100;
    req.l4_len = 24;
    let r = tx::process(
        &mut f,
        &req,
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut vec![0; 9216],
        |_| emitted += 1,
    );
    assert_eq!(r, Err(ErrorCode::TsoTcpHeader));
    assert_eq!(emitted, 0);
}

fn udp_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = tcp_frame(&[], 0, 0);
    f.truncate(34);
    f[14 + 9] = 17;
    let total = (20 + 8 + payload.len()) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    let mut udp = vec![0u8; 8];
    udp[0..2].copy_from_slice(&5353u16.to_be_bytes());
    udp[2..4].copy_from_slice(&5353u16.to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&udp);
    f.extend_from_slice(payload);
    f
}

#[test]
fn udp_zero_checksum_is_sent_as_ffff() {
    // Find two payload bytes that make the UDP checksum compute to 0x0000.
    let mut f = udp_frame(&[0, 0]);
    let req = TxOffloadRequest {
        ip_csum: true,
        l4_csum: L4Csum::Udp,
        ..TxOffloadRequest::tcp_checksums(14, 20)
    };
    let mut probe = f.clone();
    tx::process(
        &mut probe,
        &req,
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut [],
        |_| {},
    )
    .unwrap();
    let c = u16::from_be_bytes([probe[40], probe[41]]);
    // Adding the checksum value into the payload word makes the sum 0xFFFF, so the result is 0.
    let n = f.len();
    f[n - 2..].copy_from_slice(&c.to_be_bytes());
    let mut out = Vec::new();
    tx::process(&mut f, &req, &CAPS, &TsoFlagMasks::LINUX, &mut [], |fr| {
        out.push(fr.to_vec())
    })
    .unwrap();
    assert_eq!(&out[0][40..42], &[0xFF, 0xFF]);
    let class = rx::classify(&out[0], true);
    assert_eq!(class.l4, CsumStatus::Good);
}

#[test]
fn rx_classification_rules() {
    let mut scratch = vec![0u8; 9216];
    let mut good = tcp_frame(&payload(50), 0, 0x10);
    tx::process(
        &mut good,
        &TxOffloadRequest::tcp_checksums(14, 20),
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut scratch,
        |_| {},
    )
    .unwrap();
    let c = rx::classify(&good, true);
    assert_eq!((c.ip, c.l4), (CsumStatus::Good, CsumStatus::Good));
    assert_eq!(c.rss.unwrap().kind, RssType::Ipv4Tcp);
    assert_eq!(
        c.rss.unwrap().as_bytes(),
        &[198, 18, 0, 1, 198, 18, 0, 2, 0x9c, 0x40, 0, 80]
    );

    // Disabled: unknown, but RSS input still formed.
    let c = rx::classify(&good, false);
    assert_eq!((c.ip, c.l4), (CsumStatus::Unknown, CsumStatus::Unknown));
    assert!(c.rss.is_some());

    // Trailing padding is ignored.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xEE; 7]);
    let c = rx::classify(&padded, true);
    assert_eq!((c.ip, c.l4), (CsumStatus::Good, CsumStatus::Good));

    // Payload corruption: L4 bad.
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(rx::classify(&bad, true).l4, CsumStatus::Bad);

    // Header corruption: IP bad, L4 not checked.
    let mut bad = good.clone();
    bad[14 + 8] ^= 1;
    let c = rx::classify(&bad, true);
    assert_eq!((c.ip, c.l4), (CsumStatus::Bad, CsumStatus::None));

    // Total length beyond the frame: malformed.
    let mut bad = good.clone();
    bad[16..18].copy_from_slice(&2000u16.to_be_bytes());
    let c = rx::classify(&bad, true);
    assert_eq!(
        (c.ip, c.l4, c.rss),
        (CsumStatus::Bad, CsumStatus::None, None)
    );

    // Not IPv4.
    let mut arp = good.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let c = rx::classify(&arp, true);
    assert_eq!((c.ip, c.l4), (CsumStatus::None, CsumStatus::None));

    // UDP with checksum 0: nothing to check.
    let mut udp = udp_frame(&payload(9));
    let req = TxOffloadRequest::tcp_checksums(14, 20);
    let req = TxOffloadRequest {
        l4_csum: L4Csum::None,
        ..req
    };
    tx::process(&mut udp, &req, &CAPS, &TsoFlagMasks::LINUX, &mut [], |_| {}).unwrap();
    let c = rx::classify(&udp, true);
    assert_eq!((c.ip, c.l4), (CsumStatus::Good, CsumStatus::None));
    assert_eq!(c.rss.unwrap().kind, RssType::Ipv4Udp);

    // Short frames never panic.
    for n in 0..good.len() {
        let _ = rx::classify(&good[..n], true);
    }
}

/// The split datapath (headers and payload apart, what the model device sends through a cable)
/// puts exactly the bytes of the joined one on the wire, for TSO with odd and even payloads,
/// options, a short last segment, and for whole frames with and without checksums.
#[test]
fn split_datapath_sends_the_joined_datapaths_bytes() {
    let cases = [
        (TxOffloadRequest::tso(1448, 14, 20, 20), 0, 5000),
        (TxOffloadRequest::tso(1000, 14, 20, 32), 12, 3001),
        (TxOffloadRequest::tso(64, 14, 20, 20), 0, 64 * 7),
        (TxOffloadRequest::tso(1460, 14, 20, 20), 0, 65_535 - 54),
        (TxOffloadRequest::tcp_checksums(14, 20), 12, 1447),
        (TxOffloadRequest::NONE, 0, 99),
    ];
    let mut scratch = vec![0u8; 9216];
    let mut headers = [0u8; tso::HEADER_SCRATCH];
    for (req, opts, len) in cases {
        let original = tcp_frame(&payload(len), opts, 0x19);
        let mut joined = Vec::new();
        let mut f = original.clone();
        let plan_joined = tx::process(
            &mut f,
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut scratch,
            |fr| joined.push(fr.to_vec()),
        )
        .unwrap();
        let mut split = Vec::new();
        let mut f = original.clone();
        let plan_split = tx::process_split(
            &mut f,
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut headers,
            |h, p| split.push([h, p].concat()),
        )
        .unwrap();
        assert_eq!(plan_joined, plan_split, "{req:?}");
        assert_eq!(joined, split, "{req:?} with {len} payload bytes");
        if req.tso {
            split.iter().for_each(|s| verify_independently(s));
        }
    }
    // A request the device refuses sends nothing either way.
    let mut f = tcp_frame(&payload(10), 0, 0x10);
    let bad = TxOffloadRequest::tso(0, 14, 20, 20);
    let r = tx::process_split(
        &mut f,
        &bad,
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut headers,
        |_, _| panic!("a refused request sent a frame"),
    );
    assert!(r.is_err());
}

/// A payload source that copies each chunk out of the frame into a buffer of its own (as the
/// model's DMA source does), recording the chunks asked for; it fails from `fail_at` on.
struct Fetching<'a> {
    payload: &'a [u8],
    buf: Vec<u8>,
    asked: Vec<(usize, usize)>,
    fail_at: usize,
}

impl tso::PayloadSource for Fetching<'_> {
    fn chunk(&mut self, offset: usize, len: usize) -> Option<&[u8]> {
        self.asked.push((offset, len));
        if offset >= self.fail_at {
            return None;
        }
        self.buf.clear();
        self.buf
            .extend_from_slice(&self.payload[offset..offset + len]);
        Some(&self.buf)
    }
}

/// Segmenting from the headers and a payload fetched chunk by chunk puts exactly the bytes of
/// the gathered request on the wire, asks for each segment's payload once and in order, and a
/// chunk that cannot be read ends the request there as a DMA fault.
#[test]
fn tso_from_fetched_payload_sends_the_gathered_requests_bytes() {
    let mut headers = [0u8; tso::HEADER_SCRATCH];
    for (req, opts, len) in [
        (TxOffloadRequest::tso(1448, 14, 20, 20), 0, 5000),
        (TxOffloadRequest::tso(1000, 14, 20, 32), 12, 3001),
        (TxOffloadRequest::tso(1460, 14, 20, 20), 0, 65_535 - 54),
    ] {
        let original = tcp_frame(&payload(len), opts, 0x19);
        let mut gathered = Vec::new();
        let mut f = original.clone();
        let plan = tx::process_split(
            &mut f,
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut headers,
            |h, p| gathered.push([h, p].concat()),
        )
        .unwrap();
        let hdr = plan.header_len as usize;
        let mut source = Fetching {
            payload: &original[hdr..],
            buf: Vec::new(),
            asked: Vec::new(),
            fail_at: usize::MAX,
        };
        let mut fetched = Vec::new();
        // The prefix the model gathers: the headers and a little payload.
        let prefix = &original[..tso::HEADER_SCRATCH.min(original.len())];
        let plan_from = tx::process_tso_from(
            prefix,
            original.len() as u32,
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut source,
            |h, p| fetched.push([h, p].concat()),
        )
        .unwrap();
        assert_eq!(plan, plan_from);
        assert_eq!(gathered, fetched, "{req:?} with {len} payload bytes");
        let mss = usize::from(req.mss);
        let want: Vec<(usize, usize)> = (0..len)
            .step_by(mss)
            .map(|o| (o, mss.min(len - o)))
            .collect();
        assert_eq!(source.asked, want);

        // The third chunk cannot be read: two segments went, then the request failed.
        let mut failing = Fetching {
            payload: &original[hdr..],
            buf: Vec::new(),
            asked: Vec::new(),
            fail_at: 2 * mss,
        };
        let mut sent = 0;
        let r = tx::process_tso_from(
            prefix,
            original.len() as u32,
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut failing,
            |_, _| sent += 1,
        );
        assert_eq!((r, sent), (Err(ErrorCode::DmaFault), 2));
    }
    // Without TSO a prefix is not the request: refused.
    let f = tcp_frame(&payload(100), 0, 0x10);
    let r = tx::process_tso_from(
        &f,
        f.len() as u32,
        &TxOffloadRequest::tcp_checksums(14, 20),
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut &f[54..],
        |_, _| panic!("sent"),
    );
    assert_eq!(r, Err(ErrorCode::BadFlags));
}

/// The per-request checksum bases TSO adds each segment's fields to give the sums of the
/// whole rewritten headers: every segment verifies independently, for every flag bit
/// (NS, the top bit of byte 12, included; the data offset and reserved bits kept), ID and
/// sequence wrap-around, odd MSS and payload lengths, with and without options.
#[test]
fn tso_checksums_hold_for_every_flag_and_length() {
    let mut headers = [0u8; tso::HEADER_SCRATCH];
    for (mss, opts, len, flags, ns, reserved) in [
        (1448u16, 0usize, 5000usize, 0xFFu8, true, 0x0E),
        (999, 12, 4001, 0x19, false, 0),
        (537, 40, 537 * 3 + 1, 0x01, true, 0x02),
        (1460, 0, 1, 0x02, false, 0x08),
    ] {
        let mut f = tcp_frame(&payload(len), opts, flags);
        f[34 + 12] |= u8::from(ns) | reserved;
        let req = TxOffloadRequest::tso(mss, 14, 20, (20 + opts) as u8);
        let mut segments = Vec::new();
        tx::process_split(
            &mut f.clone(),
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut headers,
            |h, p| segments.push([h, p].concat()),
        )
        .unwrap();
        assert_eq!(segments.len(), len.div_ceil(usize::from(mss)));
        for (i, s) in segments.iter().enumerate() {
            verify_independently(s);
            assert_eq!(
                s[34 + 12],
                f[34 + 12] & !1 | (s[34 + 12] & 1),
                "byte 12 of {i}"
            );
        }
        // NS (a flag bit) goes through the masks like the others: kept where they keep it.
        assert_eq!(segments[0][34 + 12] & 1, u8::from(ns));
    }
}
