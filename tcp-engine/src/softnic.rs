//! The NIC's offload contract, done in software: checksum insertion (`hw-spec/SPEC.md` 6.2),
//! TCP segmentation (6.3) and receive checksum verification (7.1), over [`TxMeta`] and
//! [`RxMeta`].
//!
//! Devices that stand in for the NIC use it: the in-memory link (`link`) applies a transmitted
//! frame's offload request exactly as the hardware would, the pcap capture shows frames as they
//! would be on the wire, and the TAP adapter borrows the IPv4 header checksum and the
//! pseudo-header sum. The engine itself never calls this module (it computes its own checksums
//! when the device offloads nothing); it must not hold protocol state.
//!
//! Deviations from the hardware's rule order (section 6.1, F1-F10): [`TxMeta`] does not name
//! the L4 protocol, so it is read from the IPv4 header (6 = TCP, 17 = UDP, anything else is
//! [`OffloadError::L4Protocol`]) and the header-inside-frame part of F5 is checked after F7.
//! The ones' complement arithmetic is the engine's own [`checksum`] module (one fast routine for
//! the engine and the devices that stand in for the NIC).

use crate::checksum;
use crate::device::{ChecksumState, OffloadCaps, RxMeta, TxMeta};

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// TCP flag masks per segment position, as Linux's software segmentation and the NIC's reset
/// values: FIN and PSH only on the last segment, CWR only on the first.
const FLAGS_FIRST: u16 = 0x1FF & !(0x001 | 0x008);
const FLAGS_MIDDLE: u16 = 0x1FF & !(0x001 | 0x008 | 0x080);
const FLAGS_LAST: u16 = 0x1FF & !0x080;

/// Sum of the IPv4 pseudo-header (addresses from the IPv4 header at `l2`, `protocol`, `length`),
/// folded but not complemented: what a virtio `NEEDS_CSUM` frame carries in its checksum field.
/// The arithmetic is [`checksum::pseudo_header_sum`]; this reads the addresses from the frame.
pub fn pseudo_header_sum(frame: &[u8], l2: usize, protocol: u8, length: u32) -> u16 {
    let addr = |at: usize| [frame[at], frame[at + 1], frame[at + 2], frame[at + 3]];
    checksum::pseudo_header_sum(addr(l2 + 12), addr(l2 + 16), protocol, length)
}

/// Writes the IPv4 header checksum of the `l3`-byte header at `l2`.
pub fn fill_ipv4_checksum(frame: &mut [u8], l2: usize, l3: usize) {
    frame[l2 + 10..l2 + 12].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&frame[l2..l2 + l3]);
    frame[l2 + 10..l2 + 12].copy_from_slice(&c.to_be_bytes());
}

/// Writes the TCP or UDP checksum of the L4 bytes from `l2 + l3` to the end of `frame`.
fn fill_l4_checksum(frame: &mut [u8], l2: usize, l3: usize, protocol: u8) {
    let l4_start = l2 + l3;
    let field = l4_start + if protocol == PROTO_TCP { 16 } else { 6 };
    frame[field..field + 2].copy_from_slice(&[0, 0]);
    let length = (frame.len() - l4_start) as u32;
    let seed = pseudo_header_sum(frame, l2, protocol, length);
    let mut c = !checksum::add(seed, checksum::sum(&frame[l4_start..]));
    if protocol == PROTO_UDP && c == 0 {
        c = 0xFFFF;
    }
    frame[field..field + 2].copy_from_slice(&c.to_be_bytes());
}

/// The longest frame a device with `caps` may be handed: the largest plain frame, or with TSO
/// the longest headers (64 + 60 + 60 bytes) plus the largest TSO payload. Transmit buffers are
/// this long.
pub const fn max_tx_frame_len(caps: &OffloadCaps) -> usize {
    let plain = caps.max_frame_len as usize;
    match caps.tso {
        Some(tso) if 64 + 60 + 60 + tso.max_payload as usize > plain => {
            64 + 60 + 60 + tso.max_payload as usize
        }
        _ => plain,
    }
}

/// Why a transmit offload request was refused (SPEC 6.1, rules F1-F10). The device sends
/// nothing for a refused request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffloadError {
    /// F1/F4: frame shorter than 14 bytes, or longer than the largest frame without TSO.
    BadLength,
    /// F2: an offload the device does not advertise.
    UnsupportedOffload,
    /// F3: TSO without the checksum request.
    BadFlags,
    /// F5: header lengths out of range or beyond the frame.
    HeaderLengths,
    /// F6: not IPv4, or IHL disagrees with the IPv4 header length.
    NotIpv4,
    /// F7: neither TCP nor UDP (or UDP with TSO).
    L4Protocol,
    /// F8: MSS outside the device's limits, or MSS plus headers above the largest frame.
    TsoBadMss,
    /// F9: TSO payload empty or above the device's limit.
    TsoBadPayload,
    /// F10: TCP data offset disagrees with the TCP header length.
    TsoTcpHeader,
}

impl core::fmt::Display for OffloadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            OffloadError::BadLength => "frame length out of range (F1/F4)",
            OffloadError::UnsupportedOffload => "offload not advertised by the device (F2)",
            OffloadError::BadFlags => "TSO requested without checksum offload (F3)",
            OffloadError::HeaderLengths => "header lengths out of range or beyond the frame (F5)",
            OffloadError::NotIpv4 => "not an IPv4 header of the stated length (F6)",
            OffloadError::L4Protocol => "not TCP or UDP (F7)",
            OffloadError::TsoBadMss => "TSO MSS outside the device limits (F8)",
            OffloadError::TsoBadPayload => "TSO payload empty or too large (F9)",
            OffloadError::TsoTcpHeader => {
                "TCP data offset disagrees with the TCP header length (F10)"
            }
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OffloadError {}

/// A validated transmit request: how many wire frames it becomes and how to write each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxPlan {
    kind: PlanKind,
    frame_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlanKind {
    /// Sent byte for byte.
    Plain,
    /// Checksums inserted, one frame.
    Checksum { l2: usize, l3: usize, protocol: u8 },
    /// Segmented.
    Tso {
        l2: usize,
        l3: usize,
        headers: usize,
        mss: usize,
        segments: usize,
    },
}

impl TxPlan {
    /// Validates `meta` for the `frame` against what a device with `caps` supports.
    ///
    /// # Errors
    /// The first rule the request breaks, in the order of SPEC 6.1.
    #[inline(always)]
    pub fn new(frame: &[u8], meta: &TxMeta, caps: &OffloadCaps) -> Result<TxPlan, OffloadError> {
        let len = frame.len();
        if len < ETH_LEN {
            return Err(OffloadError::BadLength);
        }
        let wants_tso = meta.tso_mss.is_some();
        if (meta.checksum && !caps.tx_checksum) || (wants_tso && caps.tso.is_none()) {
            return Err(OffloadError::UnsupportedOffload);
        }
        if wants_tso && !meta.checksum {
            return Err(OffloadError::BadFlags);
        }
        if !wants_tso && len > usize::from(caps.max_frame_len) {
            return Err(OffloadError::BadLength);
        }
        if !meta.checksum {
            return Ok(TxPlan {
                kind: PlanKind::Plain,
                frame_len: len,
            });
        }
        let (l2, l3, l4) = (
            usize::from(meta.l2_len),
            usize::from(meta.l3_len),
            usize::from(meta.l4_len),
        );
        let lengths_ok = (14..=64).contains(&l2)
            && (20..=60).contains(&l3)
            && l3 % 4 == 0
            && (!wants_tso || ((20..=60).contains(&l4) && l4 % 4 == 0))
            && l2 + l3 <= len;
        if !lengths_ok {
            return Err(OffloadError::HeaderLengths);
        }
        let vihl = frame[l2];
        if vihl >> 4 != 4 || usize::from(vihl & 0x0F) * 4 != l3 {
            return Err(OffloadError::NotIpv4);
        }
        let protocol = frame[l2 + 9];
        if protocol != PROTO_TCP && (protocol != PROTO_UDP || wants_tso) {
            return Err(OffloadError::L4Protocol);
        }
        let l4_min = match (wants_tso, protocol) {
            (true, _) => l4,
            (false, PROTO_TCP) => 20,
            (false, _) => 8,
        };
        if l2 + l3 + l4_min > len {
            return Err(OffloadError::HeaderLengths);
        }
        let Some(mss) = meta.tso_mss else {
            return Ok(TxPlan {
                kind: PlanKind::Checksum { l2, l3, protocol },
                frame_len: len,
            });
        };
        let tso = caps.tso.ok_or(OffloadError::UnsupportedOffload)?;
        let headers = l2 + l3 + l4;
        let mss = usize::from(mss);
        if mss < usize::from(tso.min_mss)
            || mss > usize::from(tso.max_mss)
            || mss == 0
            || headers + mss > usize::from(caps.max_frame_len)
        {
            return Err(OffloadError::TsoBadMss);
        }
        let payload = len - headers;
        if payload == 0 || payload > tso.max_payload as usize {
            return Err(OffloadError::TsoBadPayload);
        }
        if usize::from(frame[l2 + l3 + 12] >> 4) * 4 != l4 {
            return Err(OffloadError::TsoTcpHeader);
        }
        Ok(TxPlan {
            kind: PlanKind::Tso {
                l2,
                l3,
                headers,
                mss,
                segments: payload.div_ceil(mss),
            },
            frame_len: len,
        })
    }

    /// Wire frames this request becomes.
    pub fn segments(&self) -> usize {
        match self.kind {
            PlanKind::Tso { segments, .. } => segments,
            _ => 1,
        }
    }

    /// Length of wire frame `index`.
    pub fn segment_len(&self, index: usize) -> usize {
        match self.kind {
            PlanKind::Tso {
                headers,
                mss,
                segments,
                ..
            } => {
                let payload = self.frame_len - headers;
                headers
                    + if index + 1 == segments {
                        payload - index * mss
                    } else {
                        mss
                    }
            }
            _ => self.frame_len,
        }
    }

    /// Writes wire frame `index` (below [`segments`](Self::segments)) of `frame` into `out` and
    /// returns its length.
    ///
    /// # Panics
    /// When `out` is shorter than [`segment_len`](Self::segment_len) or `frame` is not the
    /// frame the plan was made for (caller bugs).
    pub fn write_segment(&self, frame: &[u8], index: usize, out: &mut [u8]) -> usize {
        self.write_segment_with(frame, index, out, true)
    }

    /// [`write_segment`](Self::write_segment), optionally leaving the checksum fields as they
    /// are (for a link that models checksum offload without doing the work, see
    /// `link::LinkConfig::elide_offloaded_checksums`).
    ///
    /// # Panics
    /// As [`write_segment`](Self::write_segment).
    pub fn write_segment_with(
        &self,
        frame: &[u8],
        index: usize,
        out: &mut [u8],
        checksums: bool,
    ) -> usize {
        assert_eq!(
            frame.len(),
            self.frame_len,
            "TxPlan used with another frame"
        );
        let len = self.segment_len(index);
        let out = &mut out[..len];
        match self.kind {
            PlanKind::Plain => out.copy_from_slice(frame),
            PlanKind::Checksum { l2, l3, protocol } => {
                out.copy_from_slice(frame);
                if checksums {
                    fill_ipv4_checksum(out, l2, l3);
                    fill_l4_checksum(out, l2, l3, protocol);
                }
            }
            PlanKind::Tso {
                l2,
                l3,
                headers,
                mss,
                segments,
            } => {
                out[..headers].copy_from_slice(&frame[..headers]);
                let start = headers + index * mss;
                out[headers..].copy_from_slice(&frame[start..start + len - headers]);
                let ip_len = (len - l2) as u16;
                out[l2 + 2..l2 + 4].copy_from_slice(&ip_len.to_be_bytes());
                let id = u16::from_be_bytes([out[l2 + 4], out[l2 + 5]]).wrapping_add(index as u16);
                out[l2 + 4..l2 + 6].copy_from_slice(&id.to_be_bytes());
                let t = l2 + l3;
                let seq = u32::from_be_bytes([out[t + 4], out[t + 5], out[t + 6], out[t + 7]])
                    .wrapping_add((index * mss) as u32);
                out[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
                let mask = if segments == 1 {
                    FLAGS_FIRST | FLAGS_LAST
                } else if index == 0 {
                    FLAGS_FIRST
                } else if index + 1 == segments {
                    FLAGS_LAST
                } else {
                    FLAGS_MIDDLE
                };
                let flags = (u16::from(out[t + 12] & 1) << 8 | u16::from(out[t + 13])) & mask;
                out[t + 12] = (out[t + 12] & !1) | (flags >> 8) as u8;
                out[t + 13] = flags as u8;
                if checksums {
                    fill_ipv4_checksum(out, l2, l3);
                    fill_l4_checksum(out, l2, l3, PROTO_TCP);
                }
            }
        }
        len
    }

    /// Applies the request to `frame` in place as one frame: checksums for a checksum request;
    /// for a TSO request, what a receiver that coalesces segments (LRO/GRO) would hand up: the
    /// super-frame with its IPv4 total length set and checksums over the whole.
    ///
    /// # Errors
    /// [`OffloadError::TsoBadPayload`] when a TSO frame is too long for one IPv4 packet
    /// (total length above 65535); nothing is changed then.
    ///
    /// # Panics
    /// When `frame` is not the frame the plan was made for (a caller bug).
    #[inline(always)]
    pub fn apply_in_place(&self, frame: &mut [u8], checksums: bool) -> Result<(), OffloadError> {
        assert_eq!(
            frame.len(),
            self.frame_len,
            "TxPlan used with another frame"
        );
        // Nothing to do (a plain frame, or checksums left undone): no call.
        match self.kind {
            PlanKind::Plain => Ok(()),
            PlanKind::Checksum { .. } if !checksums => Ok(()),
            _ => self.apply_work(frame, checksums),
        }
    }

    /// [`apply_in_place`](Self::apply_in_place) for a plan with work to do.
    #[inline(never)]
    fn apply_work(&self, frame: &mut [u8], checksums: bool) -> Result<(), OffloadError> {
        match self.kind {
            PlanKind::Plain => {}
            PlanKind::Checksum { l2, l3, protocol } => {
                if checksums {
                    fill_ipv4_checksum(frame, l2, l3);
                    fill_l4_checksum(frame, l2, l3, protocol);
                }
            }
            PlanKind::Tso { l2, l3, .. } => {
                let ip_len =
                    u16::try_from(frame.len() - l2).map_err(|_| OffloadError::TsoBadPayload)?;
                frame[l2 + 2..l2 + 4].copy_from_slice(&ip_len.to_be_bytes());
                if checksums {
                    fill_ipv4_checksum(frame, l2, l3);
                    fill_l4_checksum(frame, l2, l3, PROTO_TCP);
                }
            }
        }
        Ok(())
    }

    /// Fills the checksums of one wire frame this plan produced (after
    /// `write_segment_with(.., false)` or `apply_in_place(.., false)`), when the plan asks for
    /// checksums at all.
    pub fn fill_checksums(&self, wire_frame: &mut [u8]) {
        match self.kind {
            PlanKind::Plain => {}
            PlanKind::Checksum { l2, l3, protocol } => {
                fill_ipv4_checksum(wire_frame, l2, l3);
                fill_l4_checksum(wire_frame, l2, l3, protocol);
            }
            PlanKind::Tso { l2, l3, .. } => {
                fill_ipv4_checksum(wire_frame, l2, l3);
                fill_l4_checksum(wire_frame, l2, l3, PROTO_TCP);
            }
        }
    }

    /// The request asks for checksums (so a frame written without them lacks valid ones).
    pub fn wants_checksums(&self) -> bool {
        !matches!(self.kind, PlanKind::Plain)
    }
}

/// The checksum verdicts a verifying NIC reports for a received `frame` (SPEC 7.1, with
/// receive checksum verification enabled).
pub fn verify_rx(frame: &[u8]) -> RxMeta {
    rx_verdict(frame, true)
}

/// The verdicts [`verify_rx`] would give a frame whose checksums are known to be intact, without
/// summing anything: the structural rules of SPEC 7.1 only. For links that model receive
/// checksum offload without doing the work.
pub fn classify_intact_rx(frame: &[u8]) -> RxMeta {
    rx_verdict(frame, false)
}

fn rx_verdict(frame: &[u8], sum: bool) -> RxMeta {
    use ChecksumState::{Bad, Good, None as Nothing};
    let verdict = |ip, l4| RxMeta { ip, l4 };
    if frame.len() < ETH_LEN || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_IPV4 {
        return verdict(Nothing, Nothing);
    }
    if frame.len() < 34 {
        return verdict(Bad, Nothing);
    }
    let ip = &frame[ETH_LEN..];
    let ihl = usize::from(ip[0] & 0x0F) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[0] >> 4 != 4 || ihl < 20 || ip.len() < ihl || total < ihl || total > ip.len() {
        return verdict(Bad, Nothing);
    }
    if sum && !checksum::is_valid_sum(checksum::sum(&ip[..ihl])) {
        return verdict(Bad, Nothing);
    }
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0;
    let protocol = ip[9];
    if fragment || (protocol != PROTO_TCP && protocol != PROTO_UDP) {
        return verdict(Good, Nothing);
    }
    let l4 = &ip[ihl..total];
    let min = if protocol == PROTO_TCP { 20 } else { 8 };
    if l4.len() < min {
        return verdict(Good, Bad);
    }
    if protocol == PROTO_UDP && l4[6] == 0 && l4[7] == 0 {
        return verdict(Good, Nothing);
    }
    if !sum {
        return verdict(Good, Good);
    }
    let seed = pseudo_header_sum(frame, ETH_LEN, protocol, l4.len() as u32);
    let l4_state = if checksum::is_valid_sum(checksum::add(seed, checksum::sum(l4))) {
        Good
    } else {
        Bad
    };
    verdict(Good, l4_state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::TsoCaps;
    use crate::testutil::{self, TcpSpec};

    const CAPS: OffloadCaps = OffloadCaps {
        tx_checksum: true,
        rx_checksum: true,
        tso: Some(TsoCaps {
            max_payload: 65536,
            min_mss: 64,
            max_mss: 9000,
        }),
        max_frame_len: 1514,
    };

    /// An Ethernet + IPv4 + TCP frame with `payload` bytes, `options` bytes of (NOP) options
    /// and zero checksums.
    fn tcp_frame(payload: usize, flags: u8, options: usize) -> Vec<u8> {
        const NOPS: [u8; 40] = [1; 40];
        let spec = TcpSpec {
            flags,
            options: &NOPS[..options],
            ..TcpSpec::default()
        };
        testutil::tcp_frame(&spec, &testutil::pattern(payload, 0), false)
    }

    fn meta(mss: Option<u16>, options: usize) -> TxMeta {
        TxMeta {
            checksum: true,
            tso_mss: mss,
            l2_len: 14,
            l3_len: 20,
            l4_len: 20 + options as u8,
        }
    }

    #[test]
    fn checksum_offload_produces_frames_the_verifier_accepts() {
        let frame = tcp_frame(100, 0x18, 12);
        let plan = TxPlan::new(&frame, &meta(None, 12), &CAPS).unwrap();
        let mut out = vec![0u8; 2000];
        let n = plan.write_segment(&frame, 0, &mut out);
        assert_eq!(n, frame.len());
        assert_eq!(
            verify_rx(&out[..n]),
            RxMeta {
                ip: ChecksumState::Good,
                l4: ChecksumState::Good
            }
        );
        assert_eq!(
            verify_rx(&frame),
            RxMeta {
                ip: ChecksumState::Bad,
                l4: ChecksumState::None
            }
        );
        // Every single-bit flip past the Ethernet header is caught.
        for bit in 14 * 8..n * 8 {
            let mut bad = out[..n].to_vec();
            bad[bit / 8] ^= 1 << (bit % 8);
            let v = verify_rx(&bad);
            assert!(
                v.ip == ChecksumState::Bad || v.l4 == ChecksumState::Bad,
                "bit {bit} undetected: {v:?}"
            );
        }
    }

    #[test]
    fn tso_follows_the_spec_rewrite_rules() {
        let payload = 3000;
        // ACK|PSH|FIN|CWR on the super-frame.
        let frame = tcp_frame(payload, 0x10 | 0x08 | 0x01 | 0x80, 12);
        let plan = TxPlan::new(&frame, &meta(Some(1000), 12), &CAPS).unwrap();
        assert_eq!(plan.segments(), 3);
        let headers = 14 + 20 + 32;
        let mut rebuilt = Vec::new();
        for i in 0..3 {
            let mut out = vec![0u8; 2000];
            let n = plan.write_segment(&frame, i, &mut out);
            let seg = &out[..n];
            assert_eq!(n, headers + 1000);
            assert_eq!(
                verify_rx(seg),
                RxMeta {
                    ip: ChecksumState::Good,
                    l4: ChecksumState::Good
                }
            );
            assert_eq!(
                u16::from_be_bytes([seg[16], seg[17]]) as usize,
                n - 14,
                "total length"
            );
            assert_eq!(
                u16::from_be_bytes([seg[18], seg[19]]),
                0x1234 + i as u16,
                "IP ID"
            );
            let seq = u32::from_be_bytes([seg[38], seg[39], seg[40], seg[41]]);
            assert_eq!(
                seq,
                0xFFFF_FF00u32.wrapping_add(1000 * i as u32),
                "sequence wraps"
            );
            let flags = seg[47];
            let expected = match i {
                0 => 0x10 | 0x80,
                1 => 0x10,
                _ => 0x10 | 0x08 | 0x01,
            };
            assert_eq!(flags, expected, "segment {i}");
            assert_eq!(&seg[54..headers], &frame[54..headers], "options repeated");
            rebuilt.extend_from_slice(&seg[headers..]);
        }
        assert_eq!(rebuilt, frame[headers..]);
    }

    #[test]
    fn tso_last_segment_is_short_and_sole_segment_keeps_all_flags() {
        let frame = tcp_frame(2500, 0x19 | 0x80, 0);
        let plan = TxPlan::new(&frame, &meta(Some(1000), 0), &CAPS).unwrap();
        assert_eq!((plan.segments(), plan.segment_len(2)), (3, 54 + 500));
        let frame = tcp_frame(700, 0x19 | 0x80, 0);
        let plan = TxPlan::new(&frame, &meta(Some(1000), 0), &CAPS).unwrap();
        let mut out = vec![0u8; 2000];
        let n = plan.write_segment(&frame, 0, &mut out);
        assert_eq!(out[47], 0x19 | 0x80);
        assert_eq!(verify_rx(&out[..n]).l4, ChecksumState::Good);
    }

    #[test]
    fn requests_are_refused_in_rule_order() {
        let frame = tcp_frame(3000, 0x10, 0);
        let no_tso = OffloadCaps { tso: None, ..CAPS };
        let none = OffloadCaps::none(1514);
        let cases: [(&[u8], TxMeta, OffloadCaps, OffloadError); 10] = [
            (&frame[..10], TxMeta::NONE, CAPS, OffloadError::BadLength),
            (
                &frame,
                meta(Some(1000), 0),
                no_tso,
                OffloadError::UnsupportedOffload,
            ),
            (
                &frame[..100],
                meta(None, 0),
                none,
                OffloadError::UnsupportedOffload,
            ),
            (
                &frame,
                TxMeta {
                    checksum: false,
                    ..meta(Some(1000), 0)
                },
                CAPS,
                OffloadError::BadFlags,
            ),
            (&frame, meta(None, 0), CAPS, OffloadError::BadLength),
            (
                &frame,
                TxMeta {
                    l3_len: 24,
                    ..meta(Some(1000), 0)
                },
                CAPS,
                OffloadError::NotIpv4,
            ),
            (
                &frame,
                TxMeta {
                    l4_len: 18,
                    ..meta(Some(1000), 0)
                },
                CAPS,
                OffloadError::HeaderLengths,
            ),
            (&frame, meta(Some(10), 0), CAPS, OffloadError::TsoBadMss),
            (&frame, meta(Some(1480), 0), CAPS, OffloadError::TsoBadMss),
            (
                &frame,
                TxMeta {
                    l4_len: 24,
                    ..meta(Some(1000), 0)
                },
                CAPS,
                OffloadError::TsoTcpHeader,
            ),
        ];
        for (i, (f, m, c, e)) in cases.into_iter().enumerate() {
            assert_eq!(TxPlan::new(f, &m, &c), Err(e), "case {i}");
        }
        let headers_only = tcp_frame(0, 0x10, 0);
        assert_eq!(
            TxPlan::new(&headers_only, &meta(Some(1000), 0), &CAPS),
            Err(OffloadError::TsoBadPayload)
        );
        let mut udp = tcp_frame(10, 0, 0);
        udp[23] = 1; // ICMP
        assert_eq!(
            TxPlan::new(&udp, &meta(None, 0), &CAPS),
            Err(OffloadError::L4Protocol)
        );
        assert_eq!(
            TxPlan::new(&frame[..100], &TxMeta::NONE, &none).map(|p| p.segments()),
            Ok(1)
        );
    }

    #[test]
    fn udp_checksum_zero_is_sent_as_ffff_and_verifier_rules() {
        let mut f = tcp_frame(0, 0, 0);
        f.truncate(14 + 20 + 8);
        f[23] = 17;
        f[16..18].copy_from_slice(&28u16.to_be_bytes());
        f[38..40].copy_from_slice(&8u16.to_be_bytes());
        // Search a payload-free header whose checksum computes to 0: vary the source port.
        let plan_meta = meta(None, 0);
        let mut found = false;
        for port in 0..=u16::MAX {
            f[34..36].copy_from_slice(&port.to_be_bytes());
            let plan = TxPlan::new(&f, &plan_meta, &CAPS).unwrap();
            let mut out = f.clone();
            plan.write_segment(&f, 0, &mut out);
            let c = u16::from_be_bytes([out[40], out[41]]);
            assert_ne!(c, 0, "UDP never sends a computed 0");
            if c == 0xFFFF {
                found = true;
                assert_eq!(verify_rx(&out).l4, ChecksumState::Good);
                break;
            }
        }
        assert!(found);
        // UDP checksum 0 means "none".
        let mut none = f.clone();
        fill_ipv4_checksum(&mut none, 14, 20);
        none[40..42].copy_from_slice(&[0, 0]);
        assert_eq!(verify_rx(&none).l4, ChecksumState::None);
        // Non-IPv4 and truncated frames.
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(
            verify_rx(&arp),
            RxMeta {
                ip: ChecksumState::None,
                l4: ChecksumState::None
            }
        );
        assert_eq!(verify_rx(&f[..30]).ip, ChecksumState::Bad);
        let mut fragment = none.clone();
        fragment[20] = 0x20; // MF
        fill_ipv4_checksum(&mut fragment, 14, 20);
        assert_eq!(
            verify_rx(&fragment),
            RxMeta {
                ip: ChecksumState::Good,
                l4: ChecksumState::None
            }
        );
    }
}
