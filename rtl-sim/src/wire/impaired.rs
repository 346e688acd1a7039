//! Seeded impairment in front of any wire port, per direction: [`Impaired`] wraps a port (a
//! TAP, whose far side is the Linux kernel, in practice) and loses, duplicates, reorders,
//! corrupts or CE-marks the frames the NIC transmits through it and, independently, the frames
//! it receives from it, as a cable's [`Impairer`] does to the frames of one end. The machines
//! have no `tc netem`; this is how the kernel's TCP meets a lossy path here.
//!
//! Transmit: each frame goes through the transmit [`Impairer`] on its way to the inner port;
//! a frame held back for reordering leaves after the next frame or at the end of the device
//! step ([`Wire::flush`]). Receive: a frame taken from the inner port goes through the receive
//! impairer into a small queue the device drains (a duplicate and a released frame can come
//! out of one input frame); a frame held back is queued at the end of the step, so
//! [`Wire::rx_pending`] wakes the device for it. A direction without impairment has no
//! impairer at all: its frames go straight through (split frames included), and it counts
//! nothing.
//!
//! Counters: [`Port::counters`] reports the transmit direction's [`ImpairStats`] in
//! `impairment` and the receive direction's in `impairment_received`; an [`ImpairMonitor`]
//! (cloned before the port moves to the NIC's thread) reads the same figures from any thread.
//!
//! Bottleneck: each direction may also have a [`Bottleneck`] after its impairment (a line
//! rate, a drop-tail queue, threshold CE marking; see `wire::bottleneck`), on the device time
//! the device passes to [`Wire::transmit`] and [`Wire::flush`] (the receive side uses the
//! time of the last of those calls: [`Wire::receive`] has none). A transmitted frame reaches
//! the inner port when a flush finds its departure passed; a received frame is taken from the
//! inner port at once, queued, and handed to the device once its departure has passed
//! ([`Wire::rx_pending`] says so after the flush that sees it). [`Port::next_event_ns`] tells
//! the NIC's run loop when to step again.
//!
//! Owns the per-direction impairers and bottlenecks, the receive queue and the published
//! counters. It must
//! not know what the inner port is, nor decide what happens to a frame (that is
//! [`Impairer`]'s). Every buffer is allocated at construction; nothing allocates per frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sim_link::DeviceWaker;

use super::bottleneck::{Bottleneck, BottleneckQueue, BottleneckStats};
use super::impair::{ImpairStats, Impairer, Impairment};
use super::{Port, PortCounters};
use crate::device::Wire;

/// What [`Impaired`] does to each direction. Give the two directions different seeds, or
/// their decisions coincide frame for frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImpairConfig {
    /// Frames the NIC transmits (towards the inner port's far side, e.g. the kernel).
    pub transmit: Impairment,
    /// Frames the NIC receives (from the inner port's far side).
    pub receive: Impairment,
    /// A bottleneck on the frames the NIC transmits, after their impairment.
    pub transmit_bottleneck: Bottleneck,
    /// A bottleneck on the frames the NIC receives, after their impairment.
    pub receive_bottleneck: Bottleneck,
}

impl ImpairConfig {
    /// No impairment in either direction.
    pub const NONE: ImpairConfig = ImpairConfig {
        transmit: Impairment::NONE,
        receive: Impairment::NONE,
        transmit_bottleneck: Bottleneck::OFF,
        receive_bottleneck: Bottleneck::OFF,
    };

    /// Whether neither direction is impaired nor has a bottleneck (then do not wrap the port
    /// at all).
    pub fn is_none(&self) -> bool {
        self.transmit.is_none()
            && self.receive.is_none()
            && !self.transmit_bottleneck.is_on()
            && !self.receive_bottleneck.is_on()
    }

    /// Checks both directions' probabilities.
    ///
    /// # Errors
    /// A probability outside `[0, 1]`, named with its direction.
    pub fn check(&self) -> Result<(), String> {
        self.transmit
            .check()
            .map_err(|e| format!("transmit direction: {e}"))?;
        self.receive
            .check()
            .map_err(|e| format!("receive direction: {e}"))?;
        self.transmit_bottleneck
            .check()
            .map_err(|e| format!("transmit direction: {e}"))?;
        self.receive_bottleneck
            .check()
            .map_err(|e| format!("receive direction: {e}"))
    }
}

/// The counters of one direction, readable from another thread.
#[derive(Debug, Default)]
struct SharedStats([AtomicU64; 6]);

impl SharedStats {
    fn store(&self, s: ImpairStats) {
        let values = [
            s.frames,
            s.lost,
            s.duplicated,
            s.reordered,
            s.corrupted,
            s.ce_marked,
        ];
        for (slot, v) in self.0.iter().zip(values) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    fn load(&self) -> ImpairStats {
        let [frames, lost, duplicated, reordered, corrupted, ce_marked] =
            std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed));
        ImpairStats {
            frames,
            lost,
            duplicated,
            reordered,
            corrupted,
            ce_marked,
        }
    }
}

/// A bottleneck's counters, readable from another thread.
#[derive(Debug, Default)]
struct SharedQueueStats([AtomicU64; 7]);

impl SharedQueueStats {
    fn store(&self, s: BottleneckStats) {
        let values = [
            s.offered,
            s.delivered,
            s.drops,
            s.ce_marked,
            s.peak_queue.into(),
            s.frame_ns,
            s.span_ns,
        ];
        for (slot, v) in self.0.iter().zip(values) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    fn load(&self) -> BottleneckStats {
        let [
            offered,
            delivered,
            drops,
            ce_marked,
            peak,
            frame_ns,
            span_ns,
        ] = std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed));
        BottleneckStats {
            offered,
            delivered,
            drops,
            ce_marked,
            peak_queue: peak as u32,
            frame_ns,
            span_ns,
        }
    }
}

#[derive(Debug, Default)]
struct MonitorShared {
    transmit: SharedStats,
    receive: SharedStats,
    receive_overflow: AtomicU64,
    transmit_queue: SharedQueueStats,
    receive_queue: SharedQueueStats,
}

/// Reads an [`Impaired`] port's counters from any thread (the port itself usually lives on
/// the NIC's thread).
#[derive(Clone, Debug, Default)]
pub struct ImpairMonitor(Arc<MonitorShared>);

impl ImpairMonitor {
    /// What impairment did to the frames the NIC transmitted.
    pub fn transmitted(&self) -> ImpairStats {
        self.0.transmit.load()
    }

    /// What impairment did to the frames the NIC received.
    pub fn received(&self) -> ImpairStats {
        self.0.receive.load()
    }

    /// What the bottleneck did to the frames the NIC transmitted (zero without one).
    pub fn transmit_bottleneck(&self) -> BottleneckStats {
        self.0.transmit_queue.load()
    }

    /// What the bottleneck did to the frames the NIC received (zero without one).
    pub fn receive_bottleneck(&self) -> BottleneckStats {
        self.0.receive_queue.load()
    }

    /// Received frames lost because the receive queue was full (never expected: the queue
    /// holds what one input frame can produce; counted rather than trusted).
    pub fn receive_overflow(&self) -> u64 {
        self.0.receive_overflow.load(Ordering::Relaxed)
    }
}

/// Most frames one received frame can turn into: itself, its duplicate, and a frame held
/// back before it.
const QUEUE_SLOTS: usize = 3;

/// Received frames waiting for the device, oldest first (a fixed ring of full-size buffers).
#[derive(Debug)]
struct FrameQueue {
    bufs: [Vec<u8>; QUEUE_SLOTS],
    lens: [usize; QUEUE_SLOTS],
    head: usize,
    len: usize,
    overflow: u64,
}

impl FrameQueue {
    fn new(max_frame: usize) -> FrameQueue {
        FrameQueue {
            bufs: std::array::from_fn(|_| vec![0; max_frame]),
            lens: [0; QUEUE_SLOTS],
            head: 0,
            len: 0,
            overflow: 0,
        }
    }

    /// Queues a copy of `frame` (at most `max_frame` bytes: the impairer's limit too), or
    /// counts it lost when full.
    fn push(&mut self, frame: &[u8]) {
        if self.len == QUEUE_SLOTS {
            self.overflow += 1;
            return;
        }
        let i = (self.head + self.len) % QUEUE_SLOTS;
        let n = frame.len().min(self.bufs[i].len());
        self.bufs[i][..n].copy_from_slice(&frame[..n]);
        self.lens[i] = n;
        self.len += 1;
    }

    /// The oldest frame into `buf`, with [`Wire::receive`]'s length contract.
    fn pop(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        let n = self.lens[i];
        let k = n.min(buf.len());
        buf[..k].copy_from_slice(&self.bufs[i][..k]);
        self.head = (self.head + 1) % QUEUE_SLOTS;
        self.len -= 1;
        Some(n)
    }
}

/// The receive direction's state.
#[derive(Debug)]
struct Receive {
    impairer: Impairer,
    /// Where a frame from the inner port lands before impairment.
    frame: Vec<u8>,
    queue: FrameQueue,
}

/// A wire port with seeded impairment in each direction (see the module docs).
#[derive(Debug)]
pub struct Impaired<P> {
    inner: P,
    transmit: Option<Impairer>,
    receive: Option<Receive>,
    /// The transmit direction's bottleneck.
    transmit_queue: Option<BottleneckQueue>,
    /// The receive direction's bottleneck, with a buffer for the frame taken from the inner
    /// port.
    receive_queue: Option<(BottleneckQueue, Vec<u8>)>,
    /// Device time of the last transmit or flush (the receive side's clock).
    now_ns: u64,
    monitor: ImpairMonitor,
}

/// Most frames one [`Wire::receive`] takes from the inner port into a receive bottleneck.
const RECEIVE_PULL: usize = 64;

impl<P> Impaired<P> {
    /// Wraps `inner`, impairing frames up to `max_frame` bytes (longer ones pass untouched;
    /// use the inner port's largest frame).
    ///
    /// # Errors
    /// A probability of `cfg` outside `[0, 1]`.
    pub fn new(inner: P, cfg: ImpairConfig, max_frame: usize) -> Result<Impaired<P>, String> {
        cfg.check()?;
        let impairer = |c: Impairment| (!c.is_none()).then(|| Impairer::new(c, max_frame));
        let queue = |b: Bottleneck| {
            b.is_on()
                .then(|| BottleneckQueue::new(b, max_frame))
                .transpose()
        };
        let transmit_queue = queue(cfg.transmit_bottleneck)?;
        let receive_queue = queue(cfg.receive_bottleneck)?.map(|q| (q, vec![0; max_frame]));
        Ok(Impaired {
            transmit_queue,
            receive_queue,
            now_ns: 0,
            inner,
            transmit: impairer(cfg.transmit),
            receive: impairer(cfg.receive).map(|impairer| Receive {
                impairer,
                frame: vec![0; max_frame],
                queue: FrameQueue::new(max_frame),
            }),
            monitor: ImpairMonitor::default(),
        })
    }

    /// A handle that reads the counters from any thread.
    pub fn monitor(&self) -> ImpairMonitor {
        self.monitor.clone()
    }

    /// The wrapped port.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    fn publish_transmit(&self) {
        if let Some(t) = &self.transmit {
            self.monitor.0.transmit.store(t.stats());
        }
        if let Some(q) = &self.transmit_queue {
            self.monitor.0.transmit_queue.store(q.stats());
        }
    }

    fn publish_receive(&self) {
        if let Some((q, _)) = &self.receive_queue {
            self.monitor.0.receive_queue.store(q.stats());
        }
        if let Some(r) = &self.receive {
            self.monitor.0.receive.store(r.impairer.stats());
            self.monitor
                .0
                .receive_overflow
                .store(r.queue.overflow, Ordering::Relaxed);
        }
    }
}

impl<P: Wire> Wire for Impaired<P> {
    fn transmit(&mut self, frame: &[u8], now_ns: u64) {
        self.now_ns = now_ns;
        let inner = &mut self.inner;
        match (&mut self.transmit, &mut self.transmit_queue) {
            (None, None) => return inner.transmit(frame, now_ns),
            (Some(impairer), None) => impairer.apply(frame, |f| inner.transmit(f, now_ns)),
            (impairer, Some(q)) => {
                let mut offer = |f: &[u8]| {
                    q.offer(f, now_ns, |out| {
                        inner.transmit(out, now_ns);
                        true
                    })
                };
                match impairer {
                    Some(i) => i.apply(frame, offer),
                    None => offer(frame),
                }
            }
        }
        self.publish_transmit();
    }

    fn transmit_split(&mut self, headers: &[u8], payload: &[u8], now_ns: u64) -> bool {
        // Impairment and bottlenecks work on whole frames: only a direction without either
        // takes the pieces.
        self.transmit.is_none()
            && self.transmit_queue.is_none()
            && self.inner.transmit_split(headers, payload, now_ns)
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.receive_queue.is_some() {
            return self.receive_through_queue(buf);
        }
        let Some(rx) = &mut self.receive else {
            return self.inner.receive(buf);
        };
        // Each pass takes one frame from the inner port, so this ends when it runs dry.
        let got = loop {
            if let Some(n) = rx.queue.pop(buf) {
                break Some(n);
            }
            let Some(n) = self.inner.receive(&mut rx.frame) else {
                break None;
            };
            if n > rx.frame.len() {
                // Longer than any frame the port carries: hand on what was copied with its
                // true length, as the inner port would (the device drops it as oversized).
                let k = buf.len().min(rx.frame.len());
                buf[..k].copy_from_slice(&rx.frame[..k]);
                break Some(n);
            }
            let queue = &mut rx.queue;
            rx.impairer.apply(&rx.frame[..n], |f| queue.push(f));
        };
        self.publish_receive();
        got
    }

    fn rx_pending(&self) -> bool {
        let due = |(q, _): &(BottleneckQueue, Vec<u8>)| {
            q.next_delivery_ns().is_some_and(|t| t <= self.now_ns)
        };
        self.receive.as_ref().is_some_and(|r| r.queue.len > 0)
            || self.receive_queue.as_ref().is_some_and(due)
            || self.inner.rx_pending()
    }

    fn tx_ready(&self, frames: usize) -> bool {
        self.inner.tx_ready(frames)
    }

    fn flush(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
        let inner = &mut self.inner;
        let mut to_inner = |f: &[u8]| {
            inner.transmit(f, now_ns);
            true
        };
        match (&mut self.transmit, &mut self.transmit_queue) {
            (Some(impairer), None) => impairer.release(|f| {
                to_inner(f);
            }),
            (impairer, Some(q)) => {
                if let Some(i) = impairer {
                    i.release(|f| q.offer(f, now_ns, &mut to_inner));
                }
                q.release(now_ns, &mut to_inner);
            }
            (None, None) => {}
        }
        if let Some(rx) = &mut self.receive {
            match &mut self.receive_queue {
                // Held back, it joins the bottleneck now; the device takes it when it is out.
                Some((q, _)) => rx.impairer.release(|f| q.offer(f, now_ns, |_| false)),
                None => {
                    let queue = &mut rx.queue;
                    rx.impairer.release(|f| queue.push(f));
                }
            }
        }
        if self.transmit_queue.is_some() {
            self.publish_transmit();
        }
        if self.receive_queue.is_some() {
            self.publish_receive();
        }
        self.inner.flush(now_ns);
    }

    fn begin_step(&mut self, now_ns: u64) {
        // Frames received in this step arrive at the receive bottleneck now, not at the last
        // flush (before the NIC slept, perhaps for milliseconds).
        self.now_ns = now_ns;
        self.inner.begin_step(now_ns);
    }
}

impl<P: Wire> Impaired<P> {
    /// [`Wire::receive`] with a receive bottleneck: takes what the inner port has (at most
    /// [`RECEIVE_PULL`] frames) through the receive impairment into the queue, then hands the
    /// device the oldest frame whose departure has passed.
    fn receive_through_queue(&mut self, buf: &mut [u8]) -> Option<usize> {
        let now = self.now_ns;
        let Some((q, frame)) = &mut self.receive_queue else {
            return None;
        };
        for _ in 0..RECEIVE_PULL {
            let Some(n) = self.inner.receive(frame) else {
                break;
            };
            if n > frame.len() {
                // Longer than any frame the port carries: hand on what was copied with its
                // true length, as the inner port would (the device drops it as oversized).
                let k = buf.len().min(frame.len());
                buf[..k].copy_from_slice(&frame[..k]);
                return Some(n);
            }
            // Frames already due stay in the queue: the device takes them below.
            match &mut self.receive {
                Some(rx) => rx
                    .impairer
                    .apply(&frame[..n], |f| q.offer(f, now, |_| false)),
                None => q.offer(&frame[..n], now, |_| false),
            }
        }
        let mut got = None;
        q.release(now, |f| {
            if got.is_some() {
                return false;
            }
            let k = buf.len().min(f.len());
            buf[..k].copy_from_slice(&f[..k]);
            got = Some(f.len());
            true
        });
        self.publish_receive();
        got
    }
}

impl<P: Port> Port for Impaired<P> {
    fn connect(&mut self, own: &DeviceWaker) {
        self.inner.connect(own);
    }

    fn describe(&self) -> String {
        format!("{}, impaired", self.inner.describe())
    }

    fn counters(&self) -> PortCounters {
        PortCounters {
            impairment: self
                .transmit
                .as_ref()
                .map(Impairer::stats)
                .unwrap_or_default(),
            impairment_received: self
                .receive
                .as_ref()
                .map(|r| r.impairer.stats())
                .unwrap_or_default(),
            dropped: self.inner.counters().dropped
                + self.receive.as_ref().map_or(0, |r| r.queue.overflow),
            bottleneck: self
                .transmit_queue
                .as_ref()
                .map(BottleneckQueue::stats)
                .unwrap_or_default(),
            bottleneck_received: self
                .receive_queue
                .as_ref()
                .map(|(q, _)| q.stats())
                .unwrap_or_default(),
            ..self.inner.counters()
        }
    }

    fn next_event_ns(&self) -> Option<u64> {
        let own = [
            self.transmit_queue.as_ref(),
            self.receive_queue.as_ref().map(|(q, _)| q),
        ];
        own.into_iter()
            .flatten()
            .filter_map(BottleneckQueue::next_delivery_ns)
            .chain(self.inner.next_event_ns())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A port that records what it is given and hands out frames a test queued.
    #[derive(Debug, Default)]
    struct FakePort {
        inbox: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
        split: bool,
        flushes: u32,
    }

    impl Wire for FakePort {
        fn transmit(&mut self, frame: &[u8], _now_ns: u64) {
            self.sent.push(frame.to_vec());
        }
        fn transmit_split(&mut self, headers: &[u8], payload: &[u8], _now_ns: u64) -> bool {
            if self.split {
                self.sent.push([headers, payload].concat());
            }
            self.split
        }
        fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
            let f = self.inbox.pop_front()?;
            let k = f.len().min(buf.len());
            buf[..k].copy_from_slice(&f[..k]);
            Some(f.len())
        }
        fn rx_pending(&self) -> bool {
            !self.inbox.is_empty()
        }
        fn flush(&mut self, _now_ns: u64) {
            self.flushes += 1;
        }
    }

    impl Port for FakePort {
        fn connect(&mut self, _own: &DeviceWaker) {}
        fn describe(&self) -> String {
            "fake".into()
        }
        fn counters(&self) -> PortCounters {
            PortCounters {
                sent: self.sent.len() as u64,
                received: 7,
                ..PortCounters::default()
            }
        }
    }

    /// Frame `i`: 64 bytes, numbered in its first four.
    fn frame(i: u32) -> Vec<u8> {
        let mut f = vec![0xA5; 64];
        f[..4].copy_from_slice(&i.to_be_bytes());
        f
    }

    fn numbers(frames: &[Vec<u8>]) -> Vec<u32> {
        frames
            .iter()
            .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            .collect()
    }

    fn only(dir: &str, imp: Impairment) -> ImpairConfig {
        match dir {
            "tx" => ImpairConfig {
                transmit: imp,
                ..ImpairConfig::NONE
            },
            _ => ImpairConfig {
                receive: imp,
                ..ImpairConfig::NONE
            },
        }
    }

    fn with(f: impl FnOnce(&mut Impairment)) -> Impairment {
        let mut i = Impairment::NONE;
        f(&mut i);
        i
    }

    /// Drains the port's receive side.
    fn drain(p: &mut Impaired<FakePort>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while let Some(n) = p.receive(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    #[test]
    fn transmit_loss_drops_frames_and_counts_them_receive_untouched() {
        let mut p =
            Impaired::new(FakePort::default(), only("tx", with(|i| i.loss = 1.0)), 256).unwrap();
        let monitor = p.monitor();
        for i in 0..10 {
            p.transmit(&frame(i), 0);
            p.inner.inbox.push_back(frame(100 + i));
        }
        p.flush(0);
        assert!(p.inner().sent.is_empty(), "every frame lost");
        let got = drain(&mut p);
        assert_eq!(numbers(&got), (100..110).collect::<Vec<_>>());
        let c = p.counters();
        assert_eq!((c.impairment.frames, c.impairment.lost), (10, 10));
        assert_eq!(c.impairment_received, ImpairStats::default());
        assert_eq!((c.sent, c.received), (0, 7), "the inner port's own counts");
        assert_eq!(monitor.transmitted(), c.impairment);
        assert_eq!(monitor.received(), ImpairStats::default());
    }

    #[test]
    fn received_frames_are_duplicated_in_order() {
        let mut p = Impaired::new(
            FakePort::default(),
            only("rx", with(|i| i.duplicate = 1.0)),
            256,
        )
        .unwrap();
        for i in 0..4 {
            p.inner.inbox.push_back(frame(i));
        }
        assert!(p.rx_pending());
        assert_eq!(numbers(&drain(&mut p)), [0, 0, 1, 1, 2, 2, 3, 3]);
        assert!(!p.rx_pending());
        let s = p.monitor().received();
        assert_eq!((s.frames, s.duplicated), (4, 4));
        assert_eq!(p.counters().impairment_received, s);
        assert_eq!(p.monitor().receive_overflow(), 0);
        // The transmit direction is untouched and takes split frames.
        p.inner.split = true;
        assert!(p.transmit_split(&[1, 2], &[3], 0));
        assert_eq!(p.inner().sent, [vec![1, 2, 3]]);
    }

    #[test]
    fn transmit_reordering_swaps_neighbours_and_flush_releases_the_held_frame() {
        let mut p = Impaired::new(
            FakePort::default(),
            only("tx", with(|i| i.reorder = 1.0)),
            256,
        )
        .unwrap();
        // Split frames are refused on an impaired direction (the caller joins them).
        p.inner.split = true;
        assert!(!p.transmit_split(&[1], &[2], 0));
        assert!(p.inner().sent.is_empty());
        p.transmit(&frame(0), 0);
        assert!(p.inner().sent.is_empty(), "frame 0 held back");
        p.transmit(&frame(1), 0);
        assert_eq!(numbers(&p.inner().sent), [1, 0], "delivered after the next");
        p.transmit(&frame(2), 0);
        assert_eq!(p.inner().sent.len(), 2, "frame 2 held");
        p.flush(0);
        assert_eq!(numbers(&p.inner().sent), [1, 0, 2], "released on flush");
        assert_eq!(p.inner().flushes, 1, "the inner port is flushed too");
        assert_eq!(p.monitor().transmitted().reordered, 2);
    }

    #[test]
    fn a_received_frame_held_back_is_released_at_the_end_of_the_step() {
        let mut p = Impaired::new(
            FakePort::default(),
            only("rx", with(|i| i.reorder = 1.0)),
            256,
        )
        .unwrap();
        p.inner.inbox.extend([frame(0), frame(1), frame(2)]);
        assert_eq!(numbers(&drain(&mut p)), [1, 0], "frame 2 held back");
        assert!(!p.rx_pending());
        p.flush(0);
        assert!(p.rx_pending(), "the held frame wakes the device");
        assert_eq!(numbers(&drain(&mut p)), [2]);
        assert_eq!(p.counters().impairment_received.reordered, 2);
    }

    #[test]
    fn bottlenecks_hold_each_direction_until_device_time_passes_the_departure() {
        // 1 Gbit/s: a 101-byte frame is 125 bytes on the line, 1 us; two fit in the queue.
        let queue = Bottleneck {
            rate_bps: 1_000_000_000,
            queue_frames: 2,
            ce_threshold: None,
            delay_ns: 0,
        };
        let cfg = ImpairConfig {
            transmit_bottleneck: queue,
            receive_bottleneck: queue,
            ..ImpairConfig::NONE
        };
        assert!(!cfg.is_none(), "a bottleneck alone wraps the port");
        let mut p = Impaired::new(
            FakePort {
                split: true,
                ..FakePort::default()
            },
            cfg,
            256,
        )
        .unwrap();
        let monitor = p.monitor();
        assert!(
            !p.transmit_split(&[1; 14], &[1; 87], 0),
            "whole frames only"
        );
        for i in 0..3u8 {
            p.transmit(&[i; 101], 10_000);
        }
        assert!(
            p.inner().sent.is_empty(),
            "nothing is out before its last bit"
        );
        assert_eq!(p.next_event_ns(), Some(11_000));
        p.flush(11_000);
        assert_eq!(numbers(&p.inner().sent), [0]);
        p.flush(12_000);
        assert_eq!(p.inner().sent.len(), 2);
        assert_eq!(p.next_event_ns(), None);
        let t = monitor.transmit_bottleneck();
        assert_eq!(
            (t.offered, t.drops, t.delivered, t.peak_queue),
            (3, 1, 2, 2)
        );
        // Receive: taken from the inner port at once, handed to the device when out.
        for i in 0..2u8 {
            p.inner.inbox.push_back(vec![i + 10; 101]);
        }
        assert_eq!(drain(&mut p), Vec::<Vec<u8>>::new());
        assert!(p.inner().inbox.is_empty() && !p.rx_pending());
        assert_eq!(p.next_event_ns(), Some(13_000));
        p.flush(13_500);
        assert!(p.rx_pending(), "due after the flush that sees it");
        assert_eq!(drain(&mut p), [vec![10; 101]]);
        p.flush(14_000);
        assert_eq!(drain(&mut p), [vec![11; 101]]);
        let r = p.counters().bottleneck_received;
        assert_eq!((r.offered, r.delivered, r.drops), (2, 2, 0));
        assert_eq!(monitor.receive_bottleneck().delivered, 2);
        let bad = ImpairConfig {
            receive_bottleneck: Bottleneck {
                ce_threshold: Some(2),
                ..queue
            },
            ..cfg
        };
        let e = Impaired::new(FakePort::default(), bad, 256).unwrap_err();
        assert!(
            e.contains("receive direction") && e.contains("threshold 2"),
            "{e}"
        );
    }

    #[test]
    fn frames_received_after_an_idle_gap_arrive_at_the_step_s_time() {
        // A device that slept 1 ms after its last step (flush at 0) steps at 1 ms: the
        // frames it takes then reach the receive bottleneck at 1 ms, and leave it 1 us
        // apart from there (1 Gbit/s, 125 bytes on the line each). Stamped with the last
        // flush's time, they would all be long due at once: a burst through the line at
        // any rate, never queued, dropped or marked.
        let cfg = ImpairConfig {
            receive_bottleneck: Bottleneck {
                rate_bps: 1_000_000_000,
                queue_frames: 8,
                ce_threshold: None,
                delay_ns: 0,
            },
            ..ImpairConfig::NONE
        };
        let mut p = Impaired::new(FakePort::default(), cfg, 256).unwrap();
        p.flush(0);
        for i in 0..3u8 {
            p.inner.inbox.push_back(vec![i; 101]);
        }
        p.begin_step(1_000_000);
        assert_eq!(drain(&mut p), Vec::<Vec<u8>>::new(), "none is out yet");
        assert_eq!(p.next_event_ns(), Some(1_001_000));
        p.flush(1_001_000);
        assert_eq!(drain(&mut p), [vec![0; 101]]);
        p.begin_step(1_002_500);
        assert_eq!(drain(&mut p), [vec![1; 101]]);
        assert_eq!(p.next_event_ns(), Some(1_003_000));
    }

    #[test]
    fn rates_follow_the_configuration_and_the_seed_reproduces() {
        let run = |seed: u64| {
            let cfg = ImpairConfig {
                transmit: Impairment {
                    loss: 0.1,
                    seed,
                    ..Impairment::NONE
                },
                receive: Impairment {
                    duplicate: 0.2,
                    loss: 0.05,
                    seed: seed + 1,
                    ..Impairment::NONE
                },
                ..ImpairConfig::NONE
            };
            let mut p = Impaired::new(FakePort::default(), cfg, 256).unwrap();
            let mut received = Vec::new();
            for i in 0..5000 {
                p.transmit(&frame(i), 0);
                p.inner.inbox.push_back(frame(i));
                received.extend(drain(&mut p));
                p.flush(0);
            }
            (p.inner.sent.clone(), received, p.counters())
        };
        let (sent, received, c) = run(5);
        assert_eq!(run(5).0, sent, "same seed, same losses");
        assert_ne!(run(6).0, sent);
        let near = |n: u64, expect: f64| (n as f64 - expect).abs() < expect * 0.2;
        assert!(near(c.impairment.lost, 500.0), "{c:?}");
        assert_eq!(sent.len() as u64, 5000 - c.impairment.lost);
        let r = c.impairment_received;
        assert!(
            near(r.lost, 250.0) && near(r.duplicated, 0.2 * 4750.0),
            "{r:?}"
        );
        assert_eq!(received.len() as u64, 5000 - r.lost + r.duplicated);
    }

    #[test]
    fn oversized_received_frames_pass_with_their_length_and_bad_configs_are_refused() {
        let mut p = Impaired::new(
            FakePort::default(),
            only("rx", with(|i| i.duplicate = 1.0)),
            64,
        )
        .unwrap();
        p.inner.inbox.push_back(vec![7; 100]);
        let mut buf = [0u8; 256];
        assert_eq!(p.receive(&mut buf), Some(100));
        assert_eq!(p.receive(&mut buf), None);
        let err =
            Impaired::new(FakePort::default(), only("rx", with(|i| i.loss = 1.5)), 64).unwrap_err();
        assert!(
            err.contains("receive direction") && err.contains("loss"),
            "{err}"
        );
        assert!(ImpairConfig::NONE.is_none());
        assert!(!only("tx", with(|i| i.corrupt = 0.1)).is_none());
    }
}
