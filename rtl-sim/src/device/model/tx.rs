//! The model's transmit path: descriptor chains (hw-spec section 6.1, rules C1-C4), gathering,
//! the TX engines, completions and statistics.
//!
//! A request without TSO is gathered whole and processed in place. A TSO request is gathered
//! up to its headers only; each segment's payload is read from host memory when the segment
//! is sent ([`DmaPayload`], every buffer having been checked mapped first), as a DMA engine
//! feeding the segmenter would, so no buffer holds the whole request.

use hw_spec::descriptors::txd;
use hw_spec::regs::queue;
use hw_spec::{
    Completion, CompletionKind, CsumStatus, ErrorCode, QueueKind, RssType, TxDescriptor,
    TxOffloadRequest, validate_tx_request,
};

use super::{ModelDevice, Ring};
use crate::device::{DeviceIo, StepReport};
use crate::engines;

/// What one attempt at a TX queue did.
enum TxOutcome {
    /// Nothing to do (empty, disabled, incomplete chain, or its CQ cannot take a completion).
    Idle,
    /// A request was completed (or the queue stopped on a fault).
    Done,
}

impl ModelDevice {
    /// Serves the TX queues round robin (hw-spec SPEC.md 6): after a request of queue `q` the
    /// search for work starts at `q + 1`, so queues with work alternate one request each,
    /// whatever the step budget. Stops at `budget` requests or `budget` wire frames (a TSO
    /// request counts its segments).
    pub(super) fn tx_step(&mut self, io: &mut DeviceIo<'_>, budget: u32, report: &mut StepReport) {
        let n = self.txq.len();
        let spent = |r: &StepReport| r.tx_requests >= budget || r.tx_frames >= budget;
        // Queues tried without finding work since the last request.
        let mut tried = 0;
        while tried < n {
            if spent(report) {
                report.more = true;
                return;
            }
            let q = (self.tx_next + tried) % n;
            match self.tx_one(q, io, report) {
                TxOutcome::Done => {
                    report.tx_requests += 1;
                    self.tx_next = (q + 1) % n;
                    tried = 0;
                }
                TxOutcome::Idle => tried += 1,
            }
        }
    }

    /// How many wire frames the chain in `self.chain` can produce, from its raw descriptors
    /// (1 unless its SOP asks for TSO; malformed requests send nothing, so any bound will do).
    fn wire_frames_bound(&self, chain_len: u16) -> usize {
        let sop = &self.chain[..txd::SIZE];
        let mss = txd::MSS.get_le(sop);
        if txd::TSO.get_le(sop) == 0 || mss == 0 {
            return 1;
        }
        let total: u64 = (0..usize::from(chain_len))
            .map(|i| txd::LEN.get_le(&self.chain[i * txd::SIZE..][..txd::SIZE]))
            .sum();
        let hdr = txd::L2_LEN.get_le(sop) + txd::L3_LEN.get_le(sop) + txd::L4_LEN.get_le(sop);
        total.saturating_sub(hdr).max(1).div_ceil(mss) as usize
    }

    /// Takes one descriptor chain of queue `q` through C1-C4, the engines and its completion.
    fn tx_one(&mut self, q: usize, io: &mut DeviceIo<'_>, report: &mut StepReport) -> TxOutcome {
        let r: Ring = self.txq[q];
        if !r.enabled {
            return TxOutcome::Idle;
        }
        let cqi = usize::from(r.binding);
        if !self.cq_has_room(cqi) {
            // Section 5: a full (or disabled) CQ stalls the TX queues bound to it.
            return TxOutcome::Idle;
        }
        let avail = r.used();
        if avail == 0 {
            return TxOutcome::Idle;
        }
        let max_sg = u16::from(self.cfg.caps.max_sg);
        let mask = r.mask();
        let desc_iova =
            |k: u16| r.base + u64::from(r.cons.wrapping_add(k) & mask) * txd::SIZE as u64;

        // Find the chain: up to the first EOP, at most MAX_SG descriptors, all within PROD.
        let scan = avail.min(max_sg);
        let mut chain_len = 0u16;
        for k in 0..scan {
            let raw = &mut self.chain[usize::from(k) * txd::SIZE..][..txd::SIZE];
            if let Err(f) = io.dma.read(desc_iova(k), raw) {
                // The ring itself is unreadable: nothing can be reported through it.
                self.stop_on_fault(io.image, QueueKind::Tx, q, f.iova);
                return TxOutcome::Done;
            }
            if txd::EOP.get_le(raw) == 1 {
                chain_len = k + 1;
                break;
            }
        }
        if chain_len == 0 {
            if scan < max_sg {
                // Wait until the producer covers a whole chain.
                return TxOutcome::Idle;
            }
            chain_len = max_sg;
        }
        let frames = self.wire_frames_bound(chain_len);
        if !io.wire.tx_ready(frames) {
            // The MAC is busy: start the request when the port can take all its frames.
            report.wire_blocked = report
                .wire_blocked
                .max(frames.min(u32::MAX as usize) as u32);
            return TxOutcome::Idle;
        }

        // C1-C4 per descriptor in ring order, gathering the bytes as we go: all of them, or
        // for TSO the headers only (each segment's payload is read when it is sent).
        let cap = self.gather.len();
        let mut want = cap;
        let mut total: u64 = 0;
        let mut gathered = 0usize;
        let mut req = TxOffloadRequest::NONE;
        self.sg.clear();
        let mut failure: Option<(ErrorCode, u64)> = None;
        for i in 0..chain_len {
            let raw = &self.chain[usize::from(i) * txd::SIZE..][..txd::SIZE];
            let at = desc_iova(i);
            let d = match TxDescriptor::decode(raw) {
                Ok(d) if d.sop == (i == 0) => d,
                _ => {
                    failure = Some((ErrorCode::BadFlags, at));
                    break;
                }
            };
            if d.len == 0 {
                failure = Some((ErrorCode::BadLength, at));
                break;
            }
            if i + 1 == chain_len && !d.eop {
                failure = Some((ErrorCode::SgTooLong, at));
                break;
            }
            if let Err(f) = io.dma.check(d.addr, d.len.into()) {
                failure = Some((ErrorCode::DmaFault, f.iova));
                break;
            }
            if i == 0 {
                req = d.offload;
                if req.tso {
                    want = engines::tso::HEADER_SCRATCH.min(cap);
                }
            }
            self.sg.push((d.addr, d.len));
            let take = (d.len as usize).min(want - gathered);
            if let Err(f) = io
                .dma
                .read(d.addr, &mut self.gather[gathered..gathered + take])
            {
                failure = Some((ErrorCode::DmaFault, f.iova));
                break;
            }
            gathered += take;
            total += u64::from(d.len);
        }

        let frame_len = total.min(u64::from(u32::MAX)) as u32;
        let mut sent_frames = 0u32;
        let mut sent_bytes = 0u64;
        let result = match failure {
            Some((code, addr)) => Err((code, addr)),
            None if total as usize > cap => {
                // Longer than any valid request: validation fails on the prefix we hold.
                let code =
                    validate_tx_request(&req, &self.gather[..gathered], frame_len, &self.cfg.caps)
                        .err()
                        .unwrap_or(ErrorCode::BadLength);
                Err((code, desc_iova(0)))
            }
            None => {
                let now = io.now_ns;
                let wire = &mut *io.wire;
                let join = &mut self.segment;
                let emit = |headers: &[u8], payload: &[u8]| {
                    let len = headers.len() + payload.len();
                    if payload.is_empty() {
                        wire.transmit(headers, now);
                    } else if !wire.transmit_split(headers, payload, now) {
                        let frame = &mut join[..len];
                        frame[..headers.len()].copy_from_slice(headers);
                        frame[headers.len()..].copy_from_slice(payload);
                        wire.transmit(frame, now);
                    }
                    sent_frames += 1;
                    sent_bytes += len as u64;
                };
                if req.tso {
                    let mut payload = DmaPayload {
                        dma: &mut *io.dma,
                        sg: &self.sg,
                        header_len: usize::from(req.l2_len)
                            + usize::from(req.l3_len)
                            + usize::from(req.l4_len),
                        scratch: &mut self.tso_payload,
                    };
                    engines::tx::process_tso_from(
                        &self.gather[..gathered],
                        frame_len,
                        &req,
                        &self.cfg.caps,
                        &self.masks,
                        &mut payload,
                        emit,
                    )
                } else {
                    engines::tx::process_split(
                        &mut self.gather[..total as usize],
                        &req,
                        &self.cfg.caps,
                        &self.masks,
                        &mut self.tso_headers,
                        emit,
                    )
                }
                .map_err(|code| (code, desc_iova(0)))
            }
        };

        // Consume the chain, count, complete.
        let last_index = r.cons.wrapping_add(chain_len - 1) & mask;
        let cons = r.cons.wrapping_add(chain_len);
        self.txq[q].cons = cons;
        self.publish_pointer(QueueKind::Tx, q, &queue::CONS, cons, io.image);
        let s = &mut self.tx_stats[q];
        s.requests = s.requests.saturating_add(1);
        self.stats_dirty = true;
        let (error, segments) = match result {
            Ok(plan) => {
                s.frames += u64::from(sent_frames);
                s.bytes += sent_bytes;
                if plan.checksummed {
                    s.csum_inserted = s.csum_inserted.saturating_add(sent_frames);
                }
                if req.tso {
                    s.tso_segments = s.tso_segments.saturating_add(sent_frames);
                }
                report.tx_frames += sent_frames;
                (ErrorCode::None, plan.segments)
            }
            Err((code, addr)) => {
                s.errors = s.errors.saturating_add(1);
                self.record_error(io.image, code, QueueKind::Tx, q, addr);
                (code, 0)
            }
        };
        let cpl = Completion {
            kind: CompletionKind::Tx,
            queue: q as u16,
            index: last_index,
            len: frame_len,
            rss_hash: 0,
            rss_type: RssType::None,
            segments,
            desc_count: chain_len as u8,
            error,
            timestamp: io.now_ns,
            ip_csum: CsumStatus::Unknown,
            l4_csum: CsumStatus::Unknown,
            phase: false,
        };
        self.post_completion(cqi, cpl, io);
        TxOutcome::Done
    }
}

/// The payload of a TSO request, read from host memory segment by segment: what the TX DMA
/// engine fetches as the segmenter needs it ([`engines::tso::PayloadSource`]). Every buffer of
/// the chain was checked mapped before (C1-C4), so reads do not fault; one that does ends the
/// request as a DMA fault.
struct DmaPayload<'a> {
    dma: &'a mut dyn crate::device::Dma,
    /// The chain's buffers, in order.
    sg: &'a [(u64, u32)],
    /// Request bytes before the payload.
    header_len: usize,
    /// One segment's payload.
    scratch: &'a mut [u8],
}

impl engines::tso::PayloadSource for DmaPayload<'_> {
    fn chunk(&mut self, offset: usize, len: usize) -> Option<&[u8]> {
        let out = self.scratch.get_mut(..len)?;
        // Request offset of the chunk, then the buffers it spans.
        let mut at = self.header_len + offset;
        let mut done = 0;
        for &(addr, blen) in self.sg {
            let blen = blen as usize;
            if at >= blen {
                at -= blen;
                continue;
            }
            let n = (blen - at).min(len - done);
            self.dma
                .read(addr + at as u64, &mut out[done..done + n])
                .ok()?;
            done += n;
            at = 0;
            if done == len {
                return Some(out);
            }
        }
        None
    }
}
