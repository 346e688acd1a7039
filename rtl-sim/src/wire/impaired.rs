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
//! Owns the per-direction impairers, the receive queue and the published counters. It must
//! not know what the inner port is, nor decide what happens to a frame (that is
//! [`Impairer`]'s). Every buffer is allocated at construction; nothing allocates per frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sim_link::DeviceWaker;

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
}

impl ImpairConfig {
    /// No impairment in either direction.
    pub const NONE: ImpairConfig = ImpairConfig {
        transmit: Impairment::NONE,
        receive: Impairment::NONE,
    };

    /// Whether neither direction is impaired (then do not wrap the port at all).
    pub fn is_none(&self) -> bool {
        self.transmit.is_none() && self.receive.is_none()
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

#[derive(Debug, Default)]
struct MonitorShared {
    transmit: SharedStats,
    receive: SharedStats,
    receive_overflow: AtomicU64,
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
    monitor: ImpairMonitor,
}

impl<P> Impaired<P> {
    /// Wraps `inner`, impairing frames up to `max_frame` bytes (longer ones pass untouched;
    /// use the inner port's largest frame).
    ///
    /// # Errors
    /// A probability of `cfg` outside `[0, 1]`.
    pub fn new(inner: P, cfg: ImpairConfig, max_frame: usize) -> Result<Impaired<P>, String> {
        cfg.check()?;
        let impairer = |c: Impairment| (!c.is_none()).then(|| Impairer::new(c, max_frame));
        Ok(Impaired {
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
    }

    fn publish_receive(&self) {
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
        let Some(impairer) = &mut self.transmit else {
            return self.inner.transmit(frame, now_ns);
        };
        let inner = &mut self.inner;
        impairer.apply(frame, |f| inner.transmit(f, now_ns));
        self.publish_transmit();
    }

    fn transmit_split(&mut self, headers: &[u8], payload: &[u8], now_ns: u64) -> bool {
        // Impairment works on whole frames: only an unimpaired direction takes the pieces.
        self.transmit.is_none() && self.inner.transmit_split(headers, payload, now_ns)
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
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
        self.receive.as_ref().is_some_and(|r| r.queue.len > 0) || self.inner.rx_pending()
    }

    fn tx_ready(&self, frames: usize) -> bool {
        self.inner.tx_ready(frames)
    }

    fn flush(&mut self, now_ns: u64) {
        if let Some(impairer) = &mut self.transmit {
            let inner = &mut self.inner;
            impairer.release(|f| inner.transmit(f, now_ns));
        }
        if let Some(rx) = &mut self.receive {
            let queue = &mut rx.queue;
            rx.impairer.release(|f| queue.push(f));
        }
        self.inner.flush(now_ns);
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
            ..self.inner.counters()
        }
    }

    fn next_event_ns(&self) -> Option<u64> {
        self.inner.next_event_ns()
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
