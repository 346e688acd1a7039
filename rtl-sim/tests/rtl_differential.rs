//! Differential verification of the Verilog engines (feature `rtl`): every frame goes through
//! the RTL under Verilator, the Rust reference model (`engines::tx::process`,
//! `engines::rx::classify`) and an independent computation written here from hw-spec SPEC.md
//! (a byte-at-a-time checksum, a straight-line validator, the TSO rewrite table, the RX rules);
//! all three must agree bit for bit: wire frames, statuses, error codes, RSS input and hash.
//!
//! Random streams are seeded (`FERROTOE_RTL_SEED` overrides the seed; a failure prints the
//! seed and the request). Each CI run pushes well over 100,000 random frames (most at 512 bits,
//! the reference build, a share at 64 bits) plus the fixed edge-case set at both widths, part of
//! them under random back-pressure on input and output.
#![cfg(feature = "rtl")]

use hw_spec::offload::{TsoFlagMasks, tcp_flags};

use hw_spec::{CsumStatus, DeviceCaps, ErrorCode, L4Csum, RssType, TxOffloadRequest, TxPlan};
use rtl_sim::engines::{rx, tx};
use rtl_sim::rtl::{DataWidth, Pressure, REFERENCE_CAPS, RtlConfig, RtlEngines};

// ------------------------------------------------------------------ configuration

const CAPS: DeviceCaps = REFERENCE_CAPS;

/// The key of Microsoft's RSS verification suite.
const RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

fn config(caps: DeviceCaps, masks: TsoFlagMasks, rx_csum_enable: bool) -> RtlConfig {
    RtlConfig {
        caps,
        masks,
        rx_csum_enable,
        rss_key: RSS_KEY,
    }
}

fn engines(width: DataWidth, cfg: RtlConfig) -> RtlEngines {
    RtlEngines::new(width, cfg).unwrap_or_else(|e| panic!("{e}"))
}

fn seed(default: u64) -> u64 {
    std::env::var("FERROTOE_RTL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ------------------------------------------------------------------ randomness

/// xoshiro256** seeded through SplitMix64: small, fast, reproducible.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }
    fn u64(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.u64() % (hi - lo + 1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.u64() % 100 < percent
    }
    fn byte(&mut self) -> u8 {
        self.u64() as u8
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.byte();
        }
    }
}

// ------------------------------------------------------------------ frames

/// What a generated frame looks like (the header lengths a matching request uses).
#[derive(Clone, Copy, Debug)]
struct Shape {
    l2: usize,
    l3: usize,
    l4: usize,
    proto: u8,
}

/// An Ethernet (+ `l2 - 14` extra L2 bytes) + IPv4 (`l3` bytes) + L4 frame with random
/// contents, consistent lengths and garbage in the checksum fields.
fn ip_frame(
    rng: &mut Rng,
    l2: usize,
    l3: usize,
    proto: u8,
    l4_hdr: usize,
    payload: usize,
) -> Vec<u8> {
    let mut f = vec![0u8; l2 + l3 + l4_hdr + payload];
    rng.fill(&mut f);
    if l2 == 18 {
        f[12..14].copy_from_slice(&[0x81, 0x00]);
        f[16..18].copy_from_slice(&[0x08, 0x00]);
    } else {
        f[l2 - 2..l2].copy_from_slice(&[0x08, 0x00]);
    }
    let ip = &mut f[l2..];
    ip[0] = 0x40 | (l3 / 4) as u8;
    let total = (l3 + l4_hdr + payload).min(0xFFFF) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] &= 0x40; // DF at most: not a fragment
    ip[7] = 0;
    ip[9] = proto;
    let l4 = &mut f[l2 + l3..];
    if proto == 6 && l4_hdr >= 20 {
        l4[12] = ((l4_hdr / 4) as u8) << 4 | (l4[12] & 0x0F);
    }
    if proto == 17 && l4_hdr >= 8 {
        let ulen = (l4_hdr + payload).min(0xFFFF) as u16;
        l4[4..6].copy_from_slice(&ulen.to_be_bytes());
    }
    f
}

fn random_shape(rng: &mut Rng) -> Shape {
    let l2 = match rng.range(0, 9) {
        0 => 18,
        1 => rng.range(14, 64),
        _ => 14,
    };
    let l3 = if rng.chance(30) {
        4 * rng.range(5, 15)
    } else {
        20
    };
    let (proto, l4) = if rng.chance(20) {
        (17, 8)
    } else {
        (
            6,
            if rng.chance(40) {
                4 * rng.range(5, 15)
            } else {
                32
            },
        )
    };
    Shape { l2, l3, l4, proto }
}

fn random_payload_len(rng: &mut Rng, max: usize) -> usize {
    let len = match rng.range(0, 9) {
        0 => rng.range(0, 3),
        1..=3 => rng.range(0, 64),
        4..=6 => rng.range(0, 1500),
        7 => rng.range(1400, 1500),
        _ => rng.range(0, max),
    };
    len.min(max)
}

/// A random TX request and its frame: mostly valid, the rest broken in one random way.
fn random_tx(rng: &mut Rng, max_tso: usize) -> (Vec<u8>, TxOffloadRequest) {
    let s = random_shape(rng);
    let kind = rng.range(0, 99);
    let (mut frame, mut req) = if kind < 8 {
        // No offload: any bytes at all.
        let mut f = vec![0u8; rng.range(1, 1600)];
        rng.fill(&mut f);
        (f, TxOffloadRequest::NONE)
    } else if kind < 30 && s.proto == 6 {
        // TSO.
        let mss = *[64usize, 536, 1000, 1448, 1460, 8960, 9000]
            .get(rng.range(0, 6))
            .expect("in range");
        let mss = mss.min(9216 - s.l2 - s.l3 - s.l4);
        let payload = if rng.chance(10) {
            rng.range(1, max_tso)
        } else {
            rng.range(1, (4 * mss).min(max_tso))
        };
        let f = ip_frame(rng, s.l2, s.l3, 6, s.l4, payload);
        let req = TxOffloadRequest::tso(mss as u16, s.l2 as u8, s.l3 as u16, s.l4 as u8);
        (f, req)
    } else {
        // Checksums.
        let l4_hdr = if s.proto == 6 { s.l4 } else { 8 };
        let payload = random_payload_len(rng, 9216 - s.l2 - s.l3 - l4_hdr);
        let f = ip_frame(rng, s.l2, s.l3, s.proto, l4_hdr, payload);
        let req = TxOffloadRequest {
            ip_csum: !rng.chance(15),
            l4_csum: match (rng.range(0, 9), s.proto) {
                (0, _) => L4Csum::None,
                (_, 17) => L4Csum::Udp,
                _ => L4Csum::Tcp,
            },
            tso: false,
            mss: 0,
            l2_len: s.l2 as u8,
            l3_len: s.l3 as u16,
            l4_len: 0,
        };
        (f, req)
    };
    if rng.chance(12) {
        break_request(rng, &mut frame, &mut req);
    }
    (frame, req)
}

/// Breaks a request in one random way (some breakages happen to stay valid; that is fine).
fn break_request(rng: &mut Rng, frame: &mut Vec<u8>, req: &mut TxOffloadRequest) {
    let l2 = usize::from(req.l2_len);
    match rng.range(0, 13) {
        0 => frame.truncate(rng.range(1, 13)),
        1 => req.l2_len = rng.byte(),
        2 => req.l3_len = rng.range(0, 70) as u16,
        3 => req.l4_len = rng.byte(),
        4 => req.mss = rng.range(0, 10_000) as u16,
        5 => req.ip_csum = !req.ip_csum,
        6 => req.l4_csum = [L4Csum::None, L4Csum::Tcp, L4Csum::Udp][rng.range(0, 2)],
        7 => req.tso = !req.tso,
        8 if l2 < frame.len() => frame[l2] = rng.byte(),
        9 if l2 + 9 < frame.len() => frame[l2 + 9] = rng.byte(),
        10 => {
            let at = l2 + usize::from(req.l3_len) + 12;
            if at < frame.len() {
                frame[at] = rng.byte();
            }
        }
        11 => frame.truncate(frame.len().min(usize::from(req.l2_len) + rng.range(0, 60))),
        12 => {
            let extra = rng.range(1, 200);
            let n = frame.len() + extra;
            frame.resize(n.max(9217), 0xA5);
        }
        _ => req.tso = true,
    }
    if frame.is_empty() {
        frame.push(0);
    }
}

// ------------------------------------------------------------------ independent computation

/// Ones' complement checksum, one byte at a time (RFC 1071), of the concatenated parts.
fn naive_csum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0usize;
    for p in parts {
        for b in p.iter() {
            sum += if i % 2 == 0 {
                u32::from(*b) << 8
            } else {
                u32::from(*b)
            };
            sum = (sum & 0xFFFF) + (sum >> 16);
            i += 1;
        }
    }
    !(sum as u16)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// SPEC.md 6.1 rules F1-F10, straight from the table.
fn spec_validate(req: &TxOffloadRequest, f: &[u8], caps: &DeviceCaps) -> Result<u32, ErrorCode> {
    let len = f.len();
    let (l2, l3, l4) = (
        usize::from(req.l2_len),
        usize::from(req.l3_len),
        usize::from(req.l4_len),
    );
    if len < 14 {
        return Err(ErrorCode::BadLength);
    }
    let l4_asked = req.l4_csum != L4Csum::None;
    if (req.ip_csum && !caps.tx_ipv4_csum)
        || (req.l4_csum == L4Csum::Tcp && !caps.tx_tcp_csum)
        || (req.l4_csum == L4Csum::Udp && !caps.tx_udp_csum)
        || (req.tso && !caps.tso)
    {
        return Err(ErrorCode::UnsupportedOffload);
    }
    if req.tso && (!req.ip_csum || req.l4_csum != L4Csum::Tcp) {
        return Err(ErrorCode::BadFlags);
    }
    if !req.tso && len > usize::from(caps.max_frame_len) {
        return Err(ErrorCode::BadLength);
    }
    if !req.ip_csum && !l4_asked {
        return Ok(1);
    }
    let needed = l2
        + l3
        + if req.tso {
            l4
        } else if req.l4_csum == L4Csum::Tcp {
            20
        } else if req.l4_csum == L4Csum::Udp {
            8
        } else {
            0
        };
    if !(14..=64).contains(&l2)
        || !(20..=60).contains(&l3)
        || l3 % 4 != 0
        || (req.tso && (!(20..=60).contains(&l4) || l4 % 4 != 0))
        || needed > len
    {
        return Err(ErrorCode::HeaderLengths);
    }
    if f[l2] >> 4 != 4 || usize::from(f[l2] & 15) * 4 != l3 {
        return Err(ErrorCode::NotIpv4);
    }
    match req.l4_csum {
        L4Csum::Tcp if f[l2 + 9] != 6 => return Err(ErrorCode::L4Protocol),
        L4Csum::Udp if f[l2 + 9] != 17 => return Err(ErrorCode::L4Protocol),
        _ => {}
    }
    if !req.tso {
        return Ok(1);
    }
    let mss = usize::from(req.mss);
    if mss == 0
        || mss < usize::from(caps.min_mss)
        || mss > usize::from(caps.max_mss)
        || l2 + l3 + l4 + mss > usize::from(caps.max_frame_len)
    {
        return Err(ErrorCode::TsoBadMss);
    }
    let payload = len - (l2 + l3 + l4);
    if payload == 0 || payload > caps.max_tso_payload as usize {
        return Err(ErrorCode::TsoBadPayload);
    }
    if usize::from(f[l2 + l3 + 12] >> 4) * 4 != l4 {
        return Err(ErrorCode::TsoTcpHeader);
    }
    Ok(payload.div_ceil(mss) as u32)
}

/// The expected checksum field values of a frame per SPEC.md 6.2 (computed over a copy with
/// the fields zeroed), written into `out`.
fn spec_insert(out: &mut [u8], l2: usize, l3: usize, ip: bool, l4: L4Csum) {
    if ip {
        out[l2 + 10..l2 + 12].fill(0);
        let c = naive_csum(&[&out[l2..l2 + l3]]);
        out[l2 + 10..l2 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let (proto, field) = match l4 {
        L4Csum::None => return,
        L4Csum::Tcp => (6u8, 16usize),
        L4Csum::Udp => (17, 6),
    };
    let start = l2 + l3;
    out[start + field..start + field + 2].fill(0);
    let l4_len = (out.len() - start) as u16;
    let mut pseudo = [0u8; 12];
    pseudo[..8].copy_from_slice(&out[l2 + 12..l2 + 20]);
    pseudo[9] = proto;
    pseudo[10..12].copy_from_slice(&l4_len.to_be_bytes());
    let mut c = naive_csum(&[&pseudo, &out[start..]]);
    if l4 == L4Csum::Udp && c == 0 {
        c = 0xFFFF;
    }
    out[start + field..start + field + 2].copy_from_slice(&c.to_be_bytes());
}

/// The expected wire frames of a valid request, per SPEC.md 6.2 and the 6.3 rewrite table.
fn spec_frames(req: &TxOffloadRequest, f: &[u8], masks: &TsoFlagMasks) -> Vec<Vec<u8>> {
    let (l2, l3, l4) = (
        usize::from(req.l2_len),
        usize::from(req.l3_len),
        usize::from(req.l4_len),
    );
    if !req.tso {
        let mut out = f.to_vec();
        if req.ip_csum || req.l4_csum != L4Csum::None {
            spec_insert(&mut out, l2, l3, req.ip_csum, req.l4_csum);
        }
        return vec![out];
    }
    let hdr = &f[..l2 + l3 + l4];
    let payload = &f[l2 + l3 + l4..];
    let mss = usize::from(req.mss);
    let n = payload.len().div_ceil(mss);
    let id = be16(f, l2 + 4);
    let seq = u32::from_be_bytes(f[l2 + l3 + 4..l2 + l3 + 8].try_into().expect("4 bytes"));
    let flags = (u16::from(f[l2 + l3 + 12] & 1) << 8) | u16::from(f[l2 + l3 + 13]);
    (0..n)
        .map(|i| {
            let chunk = &payload[i * mss..((i + 1) * mss).min(payload.len())];
            let mut s = hdr.to_vec();
            s.extend_from_slice(chunk);
            s[l2 + 2..l2 + 4].copy_from_slice(&((l3 + l4 + chunk.len()) as u16).to_be_bytes());
            s[l2 + 4..l2 + 6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
            let sq = seq.wrapping_add((i * mss) as u32);
            s[l2 + l3 + 4..l2 + l3 + 8].copy_from_slice(&sq.to_be_bytes());
            let mask = match (i == 0, i + 1 == n) {
                (true, true) => masks.first | masks.last,
                (true, false) => masks.first,
                (false, true) => masks.last,
                (false, false) => masks.middle,
            };
            let fl = flags & mask;
            s[l2 + l3 + 12] = (s[l2 + l3 + 12] & 0xFE) | (fl >> 8) as u8;
            s[l2 + l3 + 13] = fl as u8;
            spec_insert(&mut s, l2, l3, true, L4Csum::Tcp);
            s
        })
        .collect()
}

/// SPEC.md 7.1 and 7.2 from the table: (IP status, L4 status, RSS type and input bytes).
fn spec_rx(f: &[u8], enabled: bool) -> (CsumStatus, CsumStatus, RssType, Vec<u8>) {
    use CsumStatus::{Bad, Good, None as No, Unknown};
    let gate = |s: CsumStatus| if enabled { s } else { Unknown };
    if f.len() < 14 || be16(f, 12) != 0x0800 {
        return (gate(No), gate(No), RssType::None, vec![]);
    }
    if f.len() < 34 {
        return (gate(Bad), gate(No), RssType::None, vec![]);
    }
    let ihl = usize::from(f[14] & 15) * 4;
    let total = usize::from(be16(f, 16));
    if f[14] >> 4 != 4 || ihl < 20 || f.len() < 14 + ihl || total < ihl || 14 + total > f.len() {
        return (gate(Bad), gate(No), RssType::None, vec![]);
    }
    let proto = f[23];
    let fragment = be16(f, 20) & 0x3FFF != 0;
    let l4 = &f[14 + ihl..14 + total];
    let mut rss_in = f[26..34].to_vec();
    let mut kind = RssType::Ipv4;
    if !fragment && (proto == 6 || proto == 17) && l4.len() >= 4 {
        rss_in.extend_from_slice(&l4[..4]);
        kind = if proto == 6 {
            RssType::Ipv4Tcp
        } else {
            RssType::Ipv4Udp
        };
    }
    if !enabled {
        return (Unknown, Unknown, kind, rss_in);
    }
    if naive_csum(&[&f[14..14 + ihl]]) != 0 {
        return (Bad, No, kind, rss_in);
    }
    let l4_status = if fragment || (proto != 6 && proto != 17) {
        No
    } else if (proto == 6 && l4.len() < 20) || (proto == 17 && l4.len() < 8) {
        Bad
    } else if proto == 17 && l4[6] == 0 && l4[7] == 0 {
        No
    } else {
        let mut pseudo = [0u8; 12];
        pseudo[..8].copy_from_slice(&f[26..34]);
        pseudo[9] = proto;
        pseudo[10..12].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        if naive_csum(&[&pseudo, l4]) == 0 {
            Good
        } else {
            Bad
        }
    };
    (Good, l4_status, kind, rss_in)
}

// ------------------------------------------------------------------ comparison

/// Runs TX requests through the RTL (one batch), the model and the spec computation; panics
/// with the request on the first disagreement. Returns the number of requests checked.
fn check_tx(
    e: &mut RtlEngines,
    reqs: &[(Vec<u8>, TxOffloadRequest)],
    pressure: Pressure,
    what: &str,
) -> usize {
    let cfg = *e.config();
    let batch_in: Vec<(&[u8], TxOffloadRequest)> =
        reqs.iter().map(|(f, r)| (f.as_slice(), *r)).collect();
    let batch = e
        .tx_batch(&batch_in, pressure)
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    assert_eq!(
        batch.results.len(),
        reqs.len(),
        "{what}: one status per request"
    );
    let mut rtl_frames = batch.frames.iter();
    let mut scratch = vec![0u8; 9216];
    for (k, ((frame, req), rtl_result)) in reqs.iter().zip(&batch.results).enumerate() {
        let ctx = || {
            format!(
                "{what}, request {k}: {req:?}, frame of {} bytes, width {:?}\nframe: {:02x?}",
                frame.len(),
                e.width(),
                &frame[..frame.len().min(200)]
            )
        };
        let mut model_frame = frame.clone();
        let mut model_out = Vec::new();
        let model_result = tx::process(
            &mut model_frame,
            req,
            &cfg.caps,
            &cfg.masks,
            &mut scratch,
            |f| model_out.push(f.to_vec()),
        );
        let spec_result = spec_validate(req, frame, &cfg.caps);
        assert_eq!(
            rtl_result.map(|p: TxPlan| p.segments as u32),
            spec_result,
            "RTL vs spec verdict: {}",
            ctx()
        );
        assert_eq!(*rtl_result, model_result, "RTL vs model result: {}", ctx());
        let n = rtl_result.map_or(0, |p| usize::from(p.segments));
        let rtl_out: Vec<&Vec<u8>> = rtl_frames.by_ref().take(n).collect();
        assert_eq!(rtl_out.len(), n, "RTL frames of request: {}", ctx());
        assert_eq!(model_out.len(), n, "model frames of request: {}", ctx());
        let spec_out = if spec_result.is_ok() {
            spec_frames(req, frame, &cfg.masks)
        } else {
            vec![]
        };
        for i in 0..n {
            assert_eq!(
                *rtl_out[i],
                model_out[i],
                "RTL vs model, frame {i}: {}",
                ctx()
            );
            assert_eq!(
                *rtl_out[i],
                spec_out[i],
                "RTL vs spec, frame {i}: {}",
                ctx()
            );
        }
    }
    assert!(
        rtl_frames.next().is_none(),
        "{what}: RTL emitted extra frames"
    );
    reqs.len()
}

fn check_rx(e: &mut RtlEngines, frames: &[Vec<u8>], pressure: Pressure, what: &str) -> usize {
    let enabled = e.config().rx_csum_enable;
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    let batch = e
        .rx_batch(&refs, pressure)
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    for (k, (frame, st)) in frames.iter().zip(&batch.statuses).enumerate() {
        let ctx = || {
            format!(
                "{what}, frame {k} of {} bytes (csum enabled {enabled}, width {:?}): {:02x?}",
                frame.len(),
                e.width(),
                &frame[..frame.len().min(120)]
            )
        };
        let model = rx::classify(frame, enabled);
        assert_eq!(st.class, model, "RTL vs model: {}", ctx());
        let (ip, l4, kind, input) = spec_rx(frame, enabled);
        let rtl_input = st
            .class
            .rss
            .map(|r| r.as_bytes().to_vec())
            .unwrap_or_default();
        let rtl_kind = st.class.rss.map_or(RssType::None, |r| r.kind);
        assert_eq!(
            (st.class.ip, st.class.l4, rtl_kind, &rtl_input),
            (ip, l4, kind, &input),
            "RTL vs spec: {}",
            ctx()
        );
        let hash = if input.is_empty() {
            0
        } else {
            hw_spec::rss::toeplitz(&RSS_KEY, &input)
        };
        assert_eq!(st.rss_hash, hash, "RSS hash: {}", ctx());
        assert_eq!(usize::from(st.len), frame.len(), "frame length: {}", ctx());
    }
    frames.len()
}

fn pressure_for(rng: &mut Rng, batch: usize) -> Pressure {
    if batch % 4 == 3 {
        Pressure {
            input_gap_percent: rng.range(5, 40) as u8,
            output_stall_percent: rng.range(5, 50) as u8,
            seed: rng.u64(),
        }
    } else {
        Pressure::default()
    }
}

// ------------------------------------------------------------------ random streams

fn random_tx_stream(width: DataWidth, requests: usize, batch: usize, max_tso: usize, seed0: u64) {
    let s = seed(seed0);
    eprintln!("random TX stream at {width:?}: seed {s} (FERROTOE_RTL_SEED)");
    let mut rng = Rng::new(s);
    let mut e = engines(width, config(CAPS, TsoFlagMasks::LINUX, true));
    let mut done = 0;
    let mut b = 0;
    while done < requests {
        let reqs: Vec<_> = (0..batch.min(requests - done))
            .map(|_| random_tx(&mut rng, max_tso))
            .collect();
        let p = pressure_for(&mut rng, b);
        done += check_tx(&mut e, &reqs, p, &format!("random TX seed {s} batch {b}"));
        b += 1;
    }
}

fn random_rx_frame(rng: &mut Rng, scratch: &mut [u8]) -> Vec<u8> {
    let s = random_shape(rng);
    let l2 = 14;
    let proto = match rng.range(0, 19) {
        0 => 1,
        1 => rng.byte(),
        _ => s.proto,
    };
    let l4_hdr = if proto == 17 { 8 } else { s.l4 };
    let payload = random_payload_len(rng, 9000 - s.l3 - l4_hdr);
    let mut f = ip_frame(rng, l2, s.l3, proto, l4_hdr, payload);
    // Most frames carry correct checksums (inserted by the model), so GOOD is well covered.
    if rng.chance(75) && (proto == 6 || proto == 17) {
        let l4 = if proto == 6 { L4Csum::Tcp } else { L4Csum::Udp };
        let req = TxOffloadRequest {
            l4_csum: l4,
            ..TxOffloadRequest::tcp_checksums(14, s.l3 as u16)
        };
        tx::process(&mut f, &req, &CAPS, &TsoFlagMasks::LINUX, scratch, |_| {}).expect("valid");
    } else if rng.chance(50) {
        let ip = TxOffloadRequest {
            l4_csum: L4Csum::None,
            ..TxOffloadRequest::tcp_checksums(14, s.l3 as u16)
        };
        tx::process(&mut f, &ip, &CAPS, &TsoFlagMasks::LINUX, scratch, |_| {}).expect("valid");
    }
    match rng.range(0, 19) {
        0 => f.truncate(rng.range(1, f.len())),
        1 => f.extend((0..rng.range(1, 70)).map(|i| i as u8)), // trailing padding
        2 => {
            let at = rng.range(0, f.len() - 1);
            f[at] ^= 1 << rng.range(0, 7);
        }
        3 => f[14 + 6] |= 0x20,      // MF
        4 => f[14 + 7] = rng.byte(), // fragment offset
        5 => f[14] = rng.byte(),
        6 => f[16..18].copy_from_slice(&(rng.range(0, 0xFFFF) as u16).to_be_bytes()),
        7 => f[12..14].copy_from_slice(&[0x86, 0xdd]),
        8 if proto == 17 => f[14 + s.l3 + 6..14 + s.l3 + 8].fill(0),
        _ => {}
    }
    f
}

fn random_rx_stream(width: DataWidth, frames: usize, batch: usize, seed0: u64) {
    let s = seed(seed0);
    eprintln!("random RX stream at {width:?}: seed {s} (FERROTOE_RTL_SEED)");
    let mut rng = Rng::new(s);
    let mut scratch = vec![0u8; 9216];
    let mut e = engines(width, config(CAPS, TsoFlagMasks::LINUX, true));
    let mut done = 0;
    let mut b = 0;
    while done < frames {
        let enabled = !rng.chance(10);
        e.set_config(config(CAPS, TsoFlagMasks::LINUX, enabled))
            .expect("valid config");
        let fs: Vec<Vec<u8>> = (0..batch.min(frames - done))
            .map(|_| random_rx_frame(&mut rng, &mut scratch))
            .collect();
        let p = pressure_for(&mut rng, b);
        done += check_rx(&mut e, &fs, p, &format!("random RX seed {s} batch {b}"));
        b += 1;
    }
}

#[test]
fn random_tx_512() {
    random_tx_stream(DataWidth::Bits512, 30_000, 250, 65535, 0x5EED_0001);
}

#[test]
fn random_rx_512() {
    random_rx_stream(DataWidth::Bits512, 45_000, 500, 0x5EED_0002);
}

#[test]
fn random_tx_64() {
    random_tx_stream(DataWidth::Bits64, 8_000, 200, 12_000, 0x5EED_0003);
}

#[test]
fn random_rx_64() {
    random_rx_stream(DataWidth::Bits64, 20_000, 500, 0x5EED_0004);
}

// ------------------------------------------------------------------ fixed edge cases

fn tcp(rng: &mut Rng, l2: usize, l3: usize, l4: usize, payload: usize) -> Vec<u8> {
    ip_frame(rng, l2, l3, 6, l4, payload)
}

fn tcp_req(l2: usize, l3: usize) -> TxOffloadRequest {
    TxOffloadRequest::tcp_checksums(l2 as u8, l3 as u16)
}

fn udp_req(l2: usize, l3: usize) -> TxOffloadRequest {
    TxOffloadRequest {
        l4_csum: L4Csum::Udp,
        ..tcp_req(l2, l3)
    }
}

/// Sets the 16-bit word at `at` (even offset inside the checksummed region) so that the
/// checksum the device computes for `req` comes out as 0x0000 in the field at `field`.
fn force_zero_csum(f: &mut [u8], req: &TxOffloadRequest, at: usize, field: usize) {
    f[at..at + 2].fill(0);
    let mut probe = f.to_vec();
    spec_insert(
        &mut probe,
        req.l2_len.into(),
        req.l3_len.into(),
        req.ip_csum,
        req.l4_csum,
    );
    // The field value c0 is !fold(S); adding c0 into the region makes the sum 0xFFFF.
    let c0 = be16(&probe, field);
    f[at..at + 2].copy_from_slice(&c0.to_be_bytes());
}

fn edge_tx_cases(rng: &mut Rng) -> Vec<(Vec<u8>, TxOffloadRequest)> {
    let mut v = Vec::new();
    // Minimum and short frames without offload (1..13 bytes: BAD_LENGTH), every length to 130.
    for len in 1..=130 {
        let mut f = vec![0u8; len];
        rng.fill(&mut f);
        v.push((f, TxOffloadRequest::NONE));
    }
    // Odd and even lengths, empty and 1-byte payloads, odd L2 lengths (odd region offsets).
    for l2 in [14usize, 15, 17, 18, 63, 64] {
        for payload in 0..=70 {
            v.push((tcp(rng, l2, 20, 20, payload), tcp_req(l2, 20)));
        }
        for payload in [0usize, 1, 2, 3, 1471] {
            v.push((ip_frame(rng, l2, 20, 17, 8, payload), udp_req(l2, 20)));
            let ip_only = TxOffloadRequest {
                l4_csum: L4Csum::None,
                ..tcp_req(l2, 20)
            };
            v.push((tcp(rng, l2, 20, 20, payload), ip_only));
            let l4_only = TxOffloadRequest {
                ip_csum: false,
                ..tcp_req(l2, 20)
            };
            v.push((tcp(rng, l2, 20, 20, payload), l4_only));
        }
    }
    // IP and TCP options, up to the largest headers (184 bytes with L2 = 64).
    for l3 in (20..=60).step_by(4) {
        for l4 in [20usize, 32, 60] {
            v.push((tcp(rng, 14, l3, l4, 33), tcp_req(14, l3)));
            v.push((
                tcp(rng, 64, l3, l4, 1),
                TxOffloadRequest::tso(64, 64, l3 as u16, l4 as u8),
            ));
            v.push((
                tcp(rng, 15, l3, l4, 3001),
                TxOffloadRequest::tso(1000, 15, l3 as u16, l4 as u8),
            ));
        }
    }
    // Largest frame with checksums, and TSO boundaries.
    v.push((tcp(rng, 14, 20, 20, 9216 - 54), tcp_req(14, 20)));
    for (mss, payload) in [
        (1448usize, 65535usize), // maximum payload: 45 full segments and a short one
        (64, 65535),             // smallest MSS: 1024 segments
        (9216 - 66, 65535),      // largest MSS for this header
        (1448, 1448 * 7),        // payload a multiple of MSS
        (1448, 1448 * 7 + 1),    // last segment of 1 byte
        (1448, 1),               // sole segment of 1 byte
        (1448, 1447),            // sole segment just under MSS
        (1448, 1448),            // sole segment of exactly MSS
        (1000, 2999),            // last segment shorter than MSS
        (65, 130),
        (127, 1000),
    ] {
        let mut f = tcp(rng, 14, 20, 32, payload);
        f[14 + 20 + 13] = 0xFF; // every flag, NS too: the masks decide
        f[14 + 20 + 12] |= 1;
        v.push((f, TxOffloadRequest::tso(mss as u16, 14, 20, 32)));
    }
    // Sequence number and IP ID wrap-around.
    let mut f = tcp(rng, 14, 20, 20, 5000);
    f[14 + 4..14 + 6].copy_from_slice(&[0xFF, 0xFE]);
    f[34 + 4..34 + 8].copy_from_slice(&[0xFF, 0xFF, 0xFA, 0x00]);
    v.push((f, TxOffloadRequest::tso(1000, 14, 20, 20)));
    // Checksum results 0x0000 (TCP, IP) and a UDP result 0x0000 sent as 0xFFFF, at even and
    // odd frame offsets.
    for l2 in [14usize, 15] {
        let req = tcp_req(l2, 20);
        let mut f = tcp(rng, l2, 20, 20, 40);
        force_zero_csum(&mut f, &req, l2 + 20 + 18, l2 + 20 + 16); // via the urgent pointer
        v.push((f, req));
        let ip_only = TxOffloadRequest {
            l4_csum: L4Csum::None,
            ..req
        };
        let mut f = tcp(rng, l2, 20, 20, 40);
        force_zero_csum(&mut f, &ip_only, l2 + 4, l2 + 10); // via the IPv4 ID
        v.push((f, ip_only));
        let ureq = udp_req(l2, 20);
        let mut f = ip_frame(rng, l2, 20, 17, 8, 9);
        force_zero_csum(&mut f, &ureq, l2 + 28, l2 + 26); // via the first payload word
        v.push((f, ureq));
    }
    v
}

/// One request per error code reachable with full capabilities, with the code expected.
fn error_cases(rng: &mut Rng) -> Vec<(Vec<u8>, TxOffloadRequest, ErrorCode)> {
    let tso = TxOffloadRequest::tso(1448, 14, 20, 32);
    let good = |rng: &mut Rng| tcp(rng, 14, 20, 32, 3000);
    let mut v = Vec::new();
    let mut f = good(rng);
    f.truncate(13);
    v.push((f, tcp_req(14, 20), ErrorCode::BadLength));
    v.push((
        good(rng),
        TxOffloadRequest {
            ip_csum: false,
            ..tso
        },
        ErrorCode::BadFlags,
    ));
    v.push((
        good(rng),
        TxOffloadRequest {
            l4_csum: L4Csum::Udp,
            ..tso
        },
        ErrorCode::BadFlags,
    ));
    v.push((
        good(rng),
        TxOffloadRequest {
            l4_csum: L4Csum::None,
            ..tso
        },
        ErrorCode::BadFlags,
    ));
    v.push((
        tcp(rng, 14, 20, 20, 9216 - 53),
        tcp_req(14, 20),
        ErrorCode::BadLength,
    ));
    v.push((
        tcp(rng, 14, 20, 20, 9216 - 53),
        TxOffloadRequest::NONE,
        ErrorCode::BadLength,
    ));
    for (l2, l3, l4) in [
        (13usize, 20usize, 32usize),
        (65, 20, 32),
        (14, 16, 32),
        (14, 22, 32),
        (14, 64, 32),
        (14, 20, 16),
        (14, 20, 34),
        (14, 20, 64),
    ] {
        let req = TxOffloadRequest::tso(1448, l2 as u8, l3 as u16, l4 as u8);
        v.push((good(rng), req, ErrorCode::HeaderLengths));
    }
    v.push((
        tcp(rng, 14, 20, 20, 0)[..50].to_vec(),
        tcp_req(14, 20),
        ErrorCode::HeaderLengths,
    ));
    v.push((
        ip_frame(rng, 14, 20, 17, 8, 0)[..41].to_vec(),
        udp_req(14, 20),
        ErrorCode::HeaderLengths,
    ));
    let mut f = good(rng);
    f[14] = 0x65;
    v.push((f, tso, ErrorCode::NotIpv4));
    let mut f = good(rng);
    f[14] = 0x46;
    v.push((f, tso, ErrorCode::NotIpv4));
    v.push((
        ip_frame(rng, 14, 20, 17, 8, 100),
        tcp_req(14, 20),
        ErrorCode::L4Protocol,
    ));
    v.push((good(rng), udp_req(14, 20), ErrorCode::L4Protocol));
    for mss in [0u16, 63, 9163, 9216 - 66 + 1] {
        v.push((
            good(rng),
            TxOffloadRequest { mss, ..tso },
            ErrorCode::TsoBadMss,
        ));
    }
    v.push((tcp(rng, 14, 20, 32, 0), tso, ErrorCode::TsoBadPayload));
    v.push((tcp(rng, 14, 20, 32, 65536), tso, ErrorCode::TsoBadPayload));
    let mut f = good(rng);
    f[34 + 12] = 5 << 4;
    v.push((f, tso, ErrorCode::TsoTcpHeader));
    v
}

fn edge_tx(width: DataWidth) {
    let mut rng = Rng::new(seed(0xED6E_0001));
    let mut e = engines(width, config(CAPS, TsoFlagMasks::LINUX, true));
    let cases = edge_tx_cases(&mut rng);
    check_tx(&mut e, &cases, Pressure::default(), "edge TX");
    check_tx(
        &mut e,
        &cases,
        Pressure {
            input_gap_percent: 30,
            output_stall_percent: 40,
            seed: 7,
        },
        "edge TX under back-pressure",
    );
    // Every error code, each asserted explicitly as well as against the model and spec.
    let errors = error_cases(&mut rng);
    let reqs: Vec<_> = errors.iter().map(|(f, r, _)| (f.clone(), *r)).collect();
    check_tx(&mut e, &reqs, Pressure::default(), "error codes");
    let batch_in: Vec<(&[u8], TxOffloadRequest)> =
        reqs.iter().map(|(f, r)| (f.as_slice(), *r)).collect();
    let batch = e.tx_batch(&batch_in, Pressure::default()).expect("runs");
    for ((_, req, code), got) in errors.iter().zip(&batch.results) {
        assert_eq!(*got, Err(*code), "{req:?}");
    }
    assert!(batch.frames.is_empty(), "failed requests send nothing");
    // UNSUPPORTED_OFFLOAD: each offload missing from the capabilities in turn.
    for strip in 0..4 {
        let mut caps = CAPS;
        match strip {
            0 => caps.tx_ipv4_csum = false,
            1 => caps.tx_tcp_csum = false,
            2 => caps.tx_udp_csum = false,
            _ => caps.tso = false,
        }
        e.set_config(config(caps, TsoFlagMasks::LINUX, true))
            .expect("valid config");
        let reqs = vec![
            (tcp(&mut rng, 14, 20, 20, 100), tcp_req(14, 20)),
            (ip_frame(&mut rng, 14, 20, 17, 8, 100), udp_req(14, 20)),
            (
                tcp(&mut rng, 14, 20, 32, 3000),
                TxOffloadRequest::tso(1448, 14, 20, 32),
            ),
            (tcp(&mut rng, 14, 20, 20, 100), TxOffloadRequest::NONE),
        ];
        check_tx(&mut e, &reqs, Pressure::default(), "unsupported offloads");
        let n_unsupported = {
            let batch_in: Vec<(&[u8], TxOffloadRequest)> =
                reqs.iter().map(|(f, r)| (f.as_slice(), *r)).collect();
            let b = e.tx_batch(&batch_in, Pressure::default()).expect("runs");
            b.results
                .iter()
                .filter(|r| **r == Err(ErrorCode::UnsupportedOffload))
                .count()
        };
        assert!(
            n_unsupported >= 1,
            "capability {strip} removed: some request must be refused"
        );
    }
    // Other TSO flag masks, and other limits.
    let masks = TsoFlagMasks {
        first: 0x0F0,
        middle: 0x00F,
        last: 0x1A5,
    };
    let caps = DeviceCaps {
        max_frame_len: 1600,
        min_mss: 100,
        max_mss: 1500,
        max_tso_payload: 20_000,
        ..CAPS
    };
    e.set_config(config(caps, masks, true))
        .expect("valid config");
    let mut reqs = Vec::new();
    for (mss, payload) in [
        (1000u16, 2500usize),
        (1000, 999),
        (1500, 20_000),
        (1501, 100),
        (99, 500),
        (1000, 20_001),
    ] {
        let mut f = tcp(&mut rng, 14, 20, 32, payload);
        f[34 + 13] = 0xFF;
        f[34 + 12] |= 1;
        reqs.push((f, TxOffloadRequest::tso(mss, 14, 20, 32)));
    }
    reqs.push((tcp(&mut rng, 14, 20, 20, 1546), tcp_req(14, 20)));
    reqs.push((tcp(&mut rng, 14, 20, 20, 1547), tcp_req(14, 20)));
    check_tx(
        &mut e,
        &reqs,
        Pressure::default(),
        "custom masks and limits",
    );
    let flags: Vec<u16> = {
        let batch_in: Vec<(&[u8], TxOffloadRequest)> =
            reqs[..1].iter().map(|(f, r)| (f.as_slice(), *r)).collect();
        let b = e.tx_batch(&batch_in, Pressure::default()).expect("runs");
        b.frames
            .iter()
            .map(|s| (u16::from(s[46] & 1) << 8) | u16::from(s[47]))
            .collect()
    };
    assert_eq!(
        flags,
        vec![0x0F0, 0x00F, 0x1A5 & tcp_flags::ALL],
        "masks per segment position"
    );
}

fn edge_rx_frames(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut scratch = vec![0u8; 9216];
    let mut good = |rng: &mut Rng, l3: usize, proto: u8, l4: usize, payload: usize| {
        let mut f = ip_frame(rng, 14, l3, proto, l4, payload);
        let kind = match proto {
            6 => L4Csum::Tcp,
            17 => L4Csum::Udp,
            _ => L4Csum::None,
        };
        let req = TxOffloadRequest {
            l4_csum: kind,
            ..tcp_req(14, l3)
        };
        tx::process(
            &mut f,
            &req,
            &CAPS,
            &TsoFlagMasks::LINUX,
            &mut scratch,
            |_| {},
        )
        .expect("valid");
        f
    };
    let mut v = Vec::new();
    for len in 1..=80 {
        let mut f = good(rng, 20, 6, 20, 40);
        f.truncate(len);
        v.push(f);
    }
    for l3 in (20..=60).step_by(4) {
        for payload in [0usize, 1, 2, 3, 100] {
            v.push(good(rng, l3, 6, 20, payload));
            v.push(good(rng, l3, 17, 8, payload));
        }
    }
    let base = good(rng, 20, 6, 32, 500);
    let mut push_mut = |f: &mut dyn FnMut(&mut Vec<u8>)| {
        let mut g = base.clone();
        f(&mut g);
        v.push(g);
    };
    push_mut(&mut |g| g.extend_from_slice(&[0xEE; 7])); // padding
    push_mut(&mut |g| g[12..14].copy_from_slice(&[0x81, 0x00])); // VLAN: not parsed
    push_mut(&mut |g| g[14] = 0x65); // version 6
    push_mut(&mut |g| g[14] = 0x44); // IHL 4
    push_mut(&mut |g| g[16..18].copy_from_slice(&19u16.to_be_bytes())); // total < IHL*4
    push_mut(&mut |g| g[16..18].copy_from_slice(&2000u16.to_be_bytes())); // beyond frame
    push_mut(&mut |g| g[20] |= 0x20); // MF
    push_mut(&mut |g| g[21] = 1); // fragment offset
    push_mut(&mut |g| g[23] = 1); // ICMP
    push_mut(&mut |g| g[24] ^= 0x10); // header checksum wrong
    push_mut(&mut |g| *g.last_mut().expect("non-empty") ^= 0x80); // payload corrupted
    push_mut(&mut |g| g[16..18].copy_from_slice(&39u16.to_be_bytes())); // TCP of 19 bytes
    // TCP checksum 0x0000 and its twin 0xFFFF: both verify (ones' complement has two zeros).
    let mut z = ip_frame(rng, 14, 20, 6, 20, 40);
    force_zero_csum(&mut z, &tcp_req(14, 20), 34 + 18, 34 + 16);
    let mut scratch2 = vec![0u8; 9216];
    tx::process(
        &mut z,
        &tcp_req(14, 20),
        &CAPS,
        &TsoFlagMasks::LINUX,
        &mut scratch2,
        |_| {},
    )
    .expect("valid");
    assert_eq!(&z[50..52], &[0, 0]);
    v.push(z.clone());
    z[50..52].copy_from_slice(&[0xFF, 0xFF]);
    v.push(z);
    // UDP: zero checksum (nothing to check), short UDP, wrong checksum.
    let u = good(rng, 20, 17, 8, 30);
    let mut g = u.clone();
    g[40..42].fill(0);
    v.push(g);
    let mut g = u.clone();
    g[16..18].copy_from_slice(&27u16.to_be_bytes());
    v.push(g);
    let mut g = u;
    g[41] ^= 1;
    v.push(g);
    v.push(good(rng, 20, 6, 20, 9000 - 54));
    v
}

fn edge_rx(width: DataWidth) {
    let mut rng = Rng::new(seed(0xED6E_0002));
    let frames = edge_rx_frames(&mut rng);
    for enabled in [true, false] {
        let mut e = engines(width, config(CAPS, TsoFlagMasks::LINUX, enabled));
        check_rx(&mut e, &frames, Pressure::default(), "edge RX");
        check_rx(
            &mut e,
            &frames,
            Pressure {
                input_gap_percent: 25,
                output_stall_percent: 60,
                seed: 11,
            },
            "edge RX under back-pressure",
        );
    }
}

#[test]
fn edge_cases_tx_512() {
    edge_tx(DataWidth::Bits512);
}

#[test]
fn edge_cases_tx_64() {
    edge_tx(DataWidth::Bits64);
}

#[test]
fn edge_cases_rx_512() {
    edge_rx(DataWidth::Bits512);
}

#[test]
fn edge_cases_rx_64() {
    edge_rx(DataWidth::Bits64);
}

#[test]
fn single_request_api_matches_the_model() {
    let mut rng = Rng::new(seed(0xED6E_0003));
    let mut e = engines(DataWidth::Bits512, config(CAPS, TsoFlagMasks::LINUX, true));
    let f = tcp(&mut rng, 14, 20, 32, 4000);
    let req = TxOffloadRequest::tso(1448, 14, 20, 32);
    let mut frames = Vec::new();
    let plan = e
        .tx(&f, &req, |s| frames.push(s.to_vec()))
        .expect("runs")
        .expect("valid");
    assert_eq!(plan.segments, 3);
    assert_eq!(frames, spec_frames(&req, &f, &TsoFlagMasks::LINUX));
    let st = e.rx(&frames[0]).expect("runs");
    assert_eq!(
        (st.class.ip, st.class.l4),
        (CsumStatus::Good, CsumStatus::Good)
    );
    assert!(e.cycles() > 0);
}

// ------------------------------------------------------------------ waveform

/// The VCD option (`RtlEngines::with_vcd`, or `FERROTOE_RTL_VCD=<dir>`) writes a waveform that
/// covers the run: the harness's ports are declared, the TX output's valid is seen rising, and
/// the last timestamp is within the cycles simulated (two dumps per cycle).
#[test]
fn a_vcd_waveform_records_the_run() {
    let path = std::env::temp_dir().join(format!("ferrotoe-vcd-test-{}.vcd", std::process::id()));
    let mut rng = Rng::new(seed(0xED6E_0004));
    let mut e = RtlEngines::with_vcd(
        DataWidth::Bits64,
        config(CAPS, TsoFlagMasks::LINUX, true),
        &path,
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let f = tcp(&mut rng, 14, 20, 20, 300);
    let mut sent = 0;
    e.tx(&f, &tcp_req(14, 20), |_| sent += 1)
        .expect("runs")
        .expect("valid");
    assert_eq!(sent, 1);
    let cycles = e.cycles();
    drop(e); // closes the trace
    let vcd = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("the VCD file {}: {err}", path.display()));
    std::fs::remove_file(&path).ok();
    let (head, body) = vcd
        .split_once("$enddefinitions")
        .expect("a VCD header with $enddefinitions");
    assert!(head.contains("$scope module ft_sim_top"), "{head}");
    let code = |signal: &str| -> String {
        let line = head
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some(signal))
            .unwrap_or_else(|| panic!("`{signal}` not declared in the VCD"));
        line.split_whitespace()
            .nth(3)
            .expect("an id code")
            .to_string()
    };
    let tvalid = code("tx_m_axis_tvalid");
    code("rx_s_axis_tvalid");
    assert!(
        body.lines().any(|l| l.trim() == format!("1{tvalid}")),
        "tx_m_axis_tvalid never rises in the waveform"
    );
    let last = body
        .lines()
        .filter_map(|l| l.strip_prefix('#')?.trim().parse::<u64>().ok())
        .max()
        .expect("timestamps");
    assert!(
        last > 0 && last < 2 * cycles + 2,
        "last timestamp {last} for {cycles} cycles"
    );
}
