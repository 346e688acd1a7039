//! The model's receive path (hw-spec section 7): steering, buffer rules, drops, completions.
//!
//! A frame from the wire goes through these checks in this order, the first that applies
//! decides (all drops are counted, nothing is written for them; empty frames are not frames and
//! are discarded, as a MAC does):
//!
//! 1. device disabled: `CONTROL.RX_DROPS_NO_QUEUE`;
//! 2. classification ([`crate::engines::rx::classify`]) and steering (RSS or queue 0);
//! 3. the selected queue disabled: `CONTROL.RX_DROPS_NO_QUEUE`;
//! 4. frame longer than `MAX_FRAME_LEN`: the queue's `DROPS`;
//! 5. its completion queue disabled or full: `DROPS`;
//! 6. no posted buffer: `DROPS`;
//! 7. the buffer's descriptor cannot be fetched: the queue stops on the fault, `DROPS`;
//! 8. the descriptor has reserved bits set: an error completion `BAD_FLAGS` consumes it
//!    (`ERRORS`);
//! 9. the buffer is smaller than the frame: `DROPS` (the buffer stays posted);
//! 10. writing the buffer faults: an error completion `DMA_FAULT` consumes it (`ERRORS`);
//! 11. otherwise the frame is delivered.

use hw_spec::descriptors::rxd;
use hw_spec::regs::queue;
use hw_spec::{
    Completion, CompletionKind, CsumStatus, ErrorCode, QueueKind, RssType, RxDescriptor,
};

use super::ModelDevice;
use crate::device::{DeviceIo, StepReport};
use crate::engines;

impl ModelDevice {
    /// Takes up to `budget` frames from the wire.
    pub(super) fn rx_step(&mut self, io: &mut DeviceIo<'_>, budget: u32, report: &mut StepReport) {
        let mut taken = 0;
        while taken < budget {
            let Some(n) = io.wire.receive(&mut self.rx_buf) else {
                return;
            };
            if n == 0 {
                // Not a frame: the MAC discards it (SPEC 7).
                continue;
            }
            taken += 1;
            report.rx_frames += 1;
            self.rx_one(n, io);
        }
        report.more |= io.wire.rx_pending();
    }

    fn count_no_queue(&mut self) {
        self.rx_drops_no_queue = self.rx_drops_no_queue.saturating_add(1);
        self.stats_dirty = true;
    }

    fn count_drop(&mut self, q: usize) {
        let s = &mut self.rx_stats[q];
        s.drops = s.drops.saturating_add(1);
        self.stats_dirty = true;
    }

    fn rx_one(&mut self, n: usize, io: &mut DeviceIo<'_>) {
        if !self.device_enabled() {
            return self.count_no_queue();
        }
        if n > self.rx_buf.len() {
            // Longer than the device can buffer at all: nothing to classify.
            return self.count_drop(0);
        }
        let csum_on = hw_spec::regs::control::CTRL_RX_CSUM_ENABLE.get32(self.ctrl) == 1;
        let rss_on = hw_spec::regs::control::CTRL_RSS_ENABLE.get32(self.ctrl) == 1;
        let class = engines::rx::classify(&self.rx_buf[..n], csum_on);
        let (q, hash, rss_type) = match class.rss {
            Some(input) if rss_on => {
                let hash = hw_spec::rss::toeplitz(&self.rss_key, input.as_bytes());
                let entry = self.rss_table[(hash % self.rss_table.len() as u32) as usize];
                let q = usize::from(entry);
                let q = if q < self.rxq.len() { q } else { 0 };
                (q, hash, input.kind)
            }
            _ => (0, 0, RssType::None),
        };
        let r = self.rxq[q];
        if !r.enabled {
            return self.count_no_queue();
        }
        if n > usize::from(self.cfg.caps.max_frame_len) {
            return self.count_drop(q);
        }
        let cqi = usize::from(r.binding);
        if !self.cq_has_room(cqi) || r.used() == 0 {
            return self.count_drop(q);
        }
        let index = r.cons & r.mask();
        let desc_at = r.base + u64::from(index) * rxd::SIZE as u64;
        let mut raw = [0u8; rxd::SIZE];
        if let Err(f) = io.dma.read(desc_at, &mut raw) {
            self.count_drop(q);
            return self.stop_on_fault(io.image, QueueKind::Rx, q, f.iova);
        }
        let mut cpl = Completion {
            kind: CompletionKind::Rx,
            queue: q as u16,
            index,
            len: n as u32,
            rss_hash: 0,
            rss_type: RssType::None,
            segments: 0,
            desc_count: 1,
            error: ErrorCode::None,
            timestamp: io.now_ns,
            ip_csum: CsumStatus::Unknown,
            l4_csum: CsumStatus::Unknown,
            phase: false,
        };
        let failure = match RxDescriptor::decode(&raw) {
            Err(_) => Some((ErrorCode::BadFlags, desc_at)),
            Ok(d) if (d.len as usize) < n => return self.count_drop(q),
            Ok(d) => io
                .dma
                .write(d.addr, &self.rx_buf[..n])
                .err()
                .map(|f| (ErrorCode::DmaFault, f.iova)),
        };
        let cons = r.cons.wrapping_add(1);
        self.rxq[q].cons = cons;
        self.publish_pointer(QueueKind::Rx, q, &queue::CONS, cons, io.image);
        self.stats_dirty = true;
        match failure {
            Some((code, addr)) => {
                let s = &mut self.rx_stats[q];
                s.errors = s.errors.saturating_add(1);
                cpl.error = code;
                self.record_error(io.image, code, QueueKind::Rx, q, addr);
            }
            None => {
                cpl.rss_hash = hash;
                cpl.rss_type = rss_type;
                cpl.ip_csum = class.ip;
                cpl.l4_csum = class.l4;
                let s = &mut self.rx_stats[q];
                s.frames += 1;
                s.bytes += n as u64;
                let statuses = [class.ip, class.l4];
                if statuses.contains(&CsumStatus::Bad) {
                    s.csum_bad = s.csum_bad.saturating_add(1);
                } else if statuses.contains(&CsumStatus::Good)
                    && statuses
                        .iter()
                        .all(|c| matches!(c, CsumStatus::Good | CsumStatus::None))
                {
                    s.csum_good = s.csum_good.saturating_add(1);
                }
            }
        }
        self.post_completion(cqi, cpl, io);
    }
}
