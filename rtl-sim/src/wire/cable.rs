//! A cable between two simulated NICs: two frame rings in one shared-memory file, so the NICs
//! may run on threads of one process or in two `ferrotoe nicsim` processes, with optional seeded
//! impairment and an optional [`Bottleneck`] per direction.
//!
//! Each end shapes what it sends: impairment first (a frame lost there never reaches the
//! queue; a duplicate takes two places in it), then the bottleneck's queue and line rate
//! (threshold marks and drops are its own, counted apart from the impairment's), then the
//! ring to the other end. Without a bottleneck frames go straight to the ring, as before it
//! existed (one branch on the transmit path). With one, the end always takes frames (the queue
//! drops what does not fit, as a switch does, so [`Wire::tx_ready`] is always true), frames
//! given in pieces are joined by the device first, and a frame reaches the ring only when
//! device time passes its departure: [`Port::next_event_ns`] says when.
//!
//! File layout: a header line (magic `FTOECBL1`, version, slots, max frame), one 256-byte line
//! group per side (a generation counter and the path of that side's sim-link file, so the other
//! side can wake its device), then the ring from A to B and the ring from B to A.
//!
//! Owns the cable file and the per-end impairment; frames are copied in and out, never
//! allocated per frame.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sim_link::{DeviceWaker, SharedRegion};

use super::bottleneck::{Bottleneck, BottleneckQueue, BottleneckStats};
use super::impair::{ImpairStats, Impairer, Impairment};
use super::ring::FrameRing;
use super::{Port, PortCounters};
use crate::device::Wire;

const MAGIC: u64 = u64::from_le_bytes(*b"FTOECBL1");
const VERSION: u32 = 1;
const MAGIC_OFF: usize = 0;
const VERSION_OFF: usize = 8;
const SLOTS_OFF: usize = 12;
const MAX_FRAME_OFF: usize = 16;
const SIDE_OFF: [usize; 2] = [0x40, 0x140];
const SIDE_GEN: usize = 0;
const SIDE_PATH_LEN: usize = 4;
const SIDE_PATH: usize = 16;
const SIDE_PATH_MAX: usize = 256 - SIDE_PATH;
const RINGS_OFF: usize = 0x240;

/// Which end of a cable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The end that creates the cable file.
    A,
    /// The other end.
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }
}

/// Shape of a cable.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CableConfig {
    /// Frames in flight per direction (a power of two).
    pub slots: u32,
    /// Largest frame carried.
    pub max_frame: usize,
    /// Impairment of each direction (side B uses the seed plus one).
    pub impairment: Impairment,
    /// A bottleneck on each direction, after the impairment ([`Bottleneck::OFF`]: none).
    pub bottleneck: Bottleneck,
}

impl Default for CableConfig {
    fn default() -> Self {
        CableConfig {
            slots: 512,
            max_frame: 9216,
            impairment: Impairment::NONE,
            bottleneck: Bottleneck::OFF,
        }
    }
}

/// Counters of one cable end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CableStats {
    /// Frames this end put on the cable (after impairment).
    pub sent: u64,
    /// Frames this end took off the cable.
    pub received: u64,
    /// Frames lost because the other end did not take them in time (its ring was full).
    pub overflow: u32,
    /// What the impairment did to frames sent from this end.
    pub impairment: ImpairStats,
    /// What the bottleneck did to frames sent from this end (zero without one).
    pub bottleneck: BottleneckStats,
}

/// One end of a cable: the wire port of one NIC.
#[derive(Debug)]
pub struct CableEnd {
    region: Arc<SharedRegion>,
    side: Side,
    tx: FrameRing,
    rx: FrameRing,
    impair: Impairer,
    /// The queue and line of this end's direction, if it has a bottleneck.
    bottleneck: Option<Box<BottleneckQueue>>,
    peer: Option<DeviceWaker>,
    peer_gen: u32,
    /// Frames were sent (the peer has input) or taken (the peer has room) since the last wake.
    wake_peer: bool,
    sent: u64,
    received: u64,
}

fn ring_bytes(cfg: &CableConfig) -> usize {
    FrameRing::bytes_needed(cfg.slots, cfg.max_frame)
}

fn check(cfg: &CableConfig) -> io::Result<()> {
    let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
    if !cfg.slots.is_power_of_two() || !(2..=65536).contains(&cfg.slots) {
        return bad(format!(
            "cable slots {}: use a power of two, 2 to 65536",
            cfg.slots
        ));
    }
    if !(60..=65536 + 64).contains(&cfg.max_frame) {
        return bad(format!(
            "cable max frame {}: use 60 to 65600 bytes",
            cfg.max_frame
        ));
    }
    cfg.impairment
        .check()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    cfg.bottleneck
        .check()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

impl CableEnd {
    fn format(region: SharedRegion, cfg: &CableConfig) -> Arc<SharedRegion> {
        let region = Arc::new(region);
        let rb = ring_bytes(cfg);
        FrameRing::init(Arc::clone(&region), RINGS_OFF, cfg.slots, cfg.max_frame);
        FrameRing::init(
            Arc::clone(&region),
            RINGS_OFF + rb,
            cfg.slots,
            cfg.max_frame,
        );
        region
            .atomic_u32(VERSION_OFF)
            .store(VERSION, Ordering::Relaxed);
        region
            .atomic_u32(SLOTS_OFF)
            .store(cfg.slots, Ordering::Relaxed);
        region
            .atomic_u32(MAX_FRAME_OFF)
            .store(cfg.max_frame as u32, Ordering::Relaxed);
        region.atomic_u64(MAGIC_OFF).store(MAGIC, Ordering::Release);
        region
    }

    fn end(region: Arc<SharedRegion>, side: Side, impairment: Impairment) -> io::Result<CableEnd> {
        let invalid = |m: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a ferrotoe cable: {m}", region.path().display()),
            )
        };
        if region.len() < RINGS_OFF || region.atomic_u64(MAGIC_OFF).load(Ordering::Acquire) != MAGIC
        {
            return Err(invalid("bad magic"));
        }
        if region.atomic_u32(VERSION_OFF).load(Ordering::Relaxed) != VERSION {
            return Err(invalid("unknown version"));
        }
        let ab =
            FrameRing::attach(Arc::clone(&region), RINGS_OFF).ok_or_else(|| invalid("ring"))?;
        let rb = FrameRing::bytes_needed(
            region.atomic_u32(SLOTS_OFF).load(Ordering::Relaxed),
            region.atomic_u32(MAX_FRAME_OFF).load(Ordering::Relaxed) as usize,
        );
        let ba = FrameRing::attach(Arc::clone(&region), RINGS_OFF + rb)
            .ok_or_else(|| invalid("ring"))?;
        let (tx, rx) = match side {
            Side::A => (ab, ba),
            Side::B => (ba, ab),
        };
        let seed = impairment.seed.wrapping_add(side.index() as u64);
        let impair = Impairer::new(Impairment { seed, ..impairment }, tx.max_frame());
        Ok(CableEnd {
            region,
            side,
            tx,
            rx,
            impair,
            bottleneck: None,
            peer: None,
            peer_gen: 0,
            wake_peer: false,
            sent: 0,
            received: 0,
        })
    }

    /// Both ends of a cable in anonymous shared memory (for NICs in this process).
    pub fn pair(cfg: &CableConfig) -> io::Result<(CableEnd, CableEnd)> {
        check(cfg)?;
        let region = SharedRegion::anonymous("ferrotoe-cable", RINGS_OFF + 2 * ring_bytes(cfg))?;
        let region = Self::format(region, cfg);
        Ok((
            Self::end(Arc::clone(&region), Side::A, cfg.impairment)?
                .with_bottleneck(cfg.bottleneck)?,
            Self::end(region, Side::B, cfg.impairment)?.with_bottleneck(cfg.bottleneck)?,
        ))
    }

    /// Creates the cable file at `path` (replacing it) and returns end A.
    pub fn create(path: &Path, cfg: &CableConfig) -> io::Result<CableEnd> {
        check(cfg)?;
        let region = SharedRegion::create(path, RINGS_OFF + 2 * ring_bytes(cfg))?;
        let region = Self::format(region, cfg);
        Self::end(region, Side::A, cfg.impairment)?.with_bottleneck(cfg.bottleneck)
    }

    /// This end with `bottleneck` on the direction it sends ([`Bottleneck::OFF`]: none). Use
    /// it on an end [`open`](CableEnd::open)ed from a file.
    ///
    /// # Errors
    /// Settings [`Bottleneck::check`] refuses (`InvalidInput`, saying how to fix them).
    pub fn with_bottleneck(mut self, bottleneck: Bottleneck) -> io::Result<CableEnd> {
        self.bottleneck = if bottleneck.is_on() {
            let q = BottleneckQueue::new(bottleneck, self.tx.max_frame())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            Some(Box::new(q))
        } else {
            None
        };
        Ok(self)
    }

    /// Opens end `side` of the cable file at `path`, which end A created.
    pub fn open(path: &Path, side: Side, impairment: Impairment) -> io::Result<CableEnd> {
        impairment
            .check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let region = Arc::new(SharedRegion::open(path)?);
        Self::end(region, side, impairment)
    }

    /// This end's side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// This end's counters.
    pub fn stats(&self) -> CableStats {
        CableStats {
            sent: self.sent,
            received: self.received,
            overflow: self.tx.drops(),
            impairment: self.impair.stats(),
            bottleneck: self
                .bottleneck
                .as_ref()
                .map(|b| b.stats())
                .unwrap_or_default(),
        }
    }

    /// Looks up (again, if it changed) the waker of the device at the other end.
    fn refresh_peer(&mut self) {
        let other = SIDE_OFF[1 - self.side.index()];
        let g = self
            .region
            .atomic_u32(other + SIDE_GEN)
            .load(Ordering::Acquire);
        if g == self.peer_gen {
            return;
        }
        self.peer_gen = g;
        let len = (self
            .region
            .atomic_u32(other + SIDE_PATH_LEN)
            .load(Ordering::Relaxed) as usize)
            .min(SIDE_PATH_MAX);
        let mut path = [0u8; SIDE_PATH_MAX];
        let ok = self
            .region
            .read((other + SIDE_PATH) as u64, &mut path[..len])
            .is_ok();
        self.peer = std::str::from_utf8(&path[..len])
            .ok()
            .filter(|_| ok)
            .and_then(|p| DeviceWaker::open(Path::new(p)).ok());
    }
}

impl Wire for CableEnd {
    fn transmit(&mut self, frame: &[u8], now_ns: u64) {
        let (tx, sent) = (&self.tx, &mut self.sent);
        match &mut self.bottleneck {
            None => self.impair.apply(frame, |f| {
                if tx.push(f) {
                    *sent += 1;
                }
            }),
            Some(b) => self.impair.apply(frame, |f| {
                b.offer(f, now_ns, |out| push_counted(tx, sent, out))
            }),
        }
        self.wake_peer = true;
    }

    fn transmit_split(&mut self, headers: &[u8], payload: &[u8], _now_ns: u64) -> bool {
        // Impairment and the bottleneck's queue work on whole frames: only a transparent
        // cable takes the pieces.
        if self.bottleneck.is_some() || !self.impair.pass_through() {
            return false;
        }
        if self.tx.push_split(headers, payload) {
            self.sent += 1;
        }
        self.wake_peer = true;
        true
    }

    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.rx.pop(buf)?;
        self.received += 1;
        // The peer may be waiting for room on its side of the cable.
        self.wake_peer = true;
        Some(n)
    }

    fn rx_pending(&self) -> bool {
        self.rx.pending()
    }

    fn tx_ready(&self, frames: usize) -> bool {
        // A bottleneck's queue takes (or drops) every frame, as a switch port does.
        // Otherwise one slot is kept for the frame impairment may hold back and release.
        self.bottleneck.is_some() || self.tx.free() > frames.min(self.tx.capacity() - 1)
    }

    fn flush(&mut self, now_ns: u64) {
        let (tx, sent) = (&self.tx, &mut self.sent);
        match &mut self.bottleneck {
            None => self.impair.release(|f| {
                if tx.push(f) {
                    *sent += 1;
                }
            }),
            Some(b) => {
                self.impair
                    .release(|f| b.offer(f, now_ns, |out| push_counted(tx, sent, out)));
                let before = *sent;
                b.release(now_ns, |out| push_counted(tx, sent, out));
                self.wake_peer |= *sent != before;
            }
        }
        if self.wake_peer {
            self.wake_peer = false;
            self.refresh_peer();
            if let Some(p) = &self.peer {
                p.wake();
            }
        }
    }
}

impl Port for CableEnd {
    fn connect(&mut self, own: &DeviceWaker) {
        let mine = SIDE_OFF[self.side.index()];
        let path = own.link_path().as_os_str().as_encoded_bytes();
        let len = path.len().min(SIDE_PATH_MAX);
        if self
            .region
            .write((mine + SIDE_PATH) as u64, &path[..len])
            .is_ok()
        {
            self.region
                .atomic_u32(mine + SIDE_PATH_LEN)
                .store(len as u32, Ordering::Relaxed);
            self.region
                .atomic_u32(mine + SIDE_GEN)
                .fetch_add(1, Ordering::Release);
        }
    }

    fn describe(&self) -> String {
        format!(
            "cable {} (side {:?})",
            self.region.path().display(),
            self.side
        )
    }

    fn counters(&self) -> PortCounters {
        let s = self.stats();
        PortCounters {
            sent: s.sent,
            received: s.received,
            dropped: s.overflow.into(),
            impairment: s.impairment,
            bottleneck: s.bottleneck,
            ..PortCounters::default()
        }
    }

    fn next_event_ns(&self) -> Option<u64> {
        self.bottleneck.as_ref().and_then(|b| b.next_delivery_ns())
    }
}

/// Pushes a frame leaving a bottleneck onto the ring and counts it; false (the frame stays
/// in the queue) while the ring is full.
fn push_counted(tx: &FrameRing, sent: &mut u64, frame: &[u8]) -> bool {
    if tx.free() == 0 {
        return false;
    }
    if tx.push(frame) {
        *sent += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_and_a_file_backed_second_end() {
        let path = std::env::temp_dir().join(format!("cable-test-{}", std::process::id()));
        let cfg = CableConfig {
            slots: 8,
            max_frame: 1600,
            ..CableConfig::default()
        };
        let mut a = CableEnd::create(&path, &cfg).unwrap();
        let mut b = CableEnd::open(&path, Side::B, Impairment::NONE).unwrap();
        let mut buf = [0u8; 2000];
        a.transmit(&[1; 100], 0);
        b.transmit(&[2; 200], 0);
        assert!(b.rx_pending());
        assert_eq!(b.receive(&mut buf), Some(100));
        assert_eq!(buf[..100], [1; 100]);
        assert_eq!(a.receive(&mut buf), Some(200));
        assert_eq!(a.receive(&mut buf), None);
        for _ in 0..10 {
            a.transmit(&[3; 60], 0);
        }
        let s = a.stats();
        assert_eq!((s.sent, s.overflow), (9, 2), "8 slots: two frames overflow");
        assert!(CableEnd::open(&path.with_extension("x"), Side::B, Impairment::NONE).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_bottleneck_holds_frames_until_device_time_passes_their_departure() {
        // 1 Gbit/s: a 101-byte frame is 125 bytes on the line, 1 us.
        let cfg = CableConfig {
            slots: 8,
            max_frame: 1600,
            bottleneck: Bottleneck {
                rate_bps: 1_000_000_000,
                queue_frames: 3,
                ce_threshold: None,
                delay_ns: 0,
            },
            ..CableConfig::default()
        };
        let (mut a, mut b) = CableEnd::pair(&cfg).unwrap();
        let mut buf = [0u8; 2000];
        assert!(
            !a.transmit_split(&[1; 14], &[2; 87], 0),
            "whole frames only"
        );
        for i in 0..5u8 {
            assert!(a.tx_ready(64), "the queue takes (or drops) every frame");
            a.transmit(&[i; 101], 0);
        }
        assert!(!b.rx_pending(), "nothing is out before its last bit");
        assert_eq!(a.next_event_ns(), Some(1_000));
        a.flush(1_999);
        assert_eq!(b.receive(&mut buf), Some(101));
        assert_eq!(buf[0], 0);
        assert_eq!(b.receive(&mut buf), None, "the second frame leaves at 2 us");
        a.flush(3_000);
        assert_eq!(b.receive(&mut buf).map(|_| buf[0]), Some(1));
        assert_eq!(b.receive(&mut buf).map(|_| buf[0]), Some(2));
        assert_eq!(a.next_event_ns(), None);
        let c = a.counters();
        assert_eq!(
            (c.sent, c.bottleneck.drops, c.bottleneck.peak_queue),
            (3, 2, 3)
        );
        assert_eq!(c.bottleneck.delivered, 3);
        // The other direction has its own queue.
        b.transmit(&[9; 101], 5_000);
        assert_eq!(b.next_event_ns(), Some(6_000));
        assert_eq!(b.stats().bottleneck.offered, 1);
    }

    #[test]
    fn without_a_bottleneck_frames_go_straight_to_the_ring() {
        let cfg = CableConfig {
            slots: 8,
            max_frame: 1600,
            ..CableConfig::default()
        };
        let (mut a, mut b) = CableEnd::pair(&cfg).unwrap();
        let mut buf = [0u8; 2000];
        a.transmit(&[1; 100], 0);
        assert!(a.transmit_split(&[2; 14], &[3; 86], 0));
        assert_eq!(a.next_event_ns(), None);
        assert_eq!(b.receive(&mut buf), Some(100));
        assert_eq!(b.receive(&mut buf), Some(100));
        assert_eq!(a.stats().bottleneck, BottleneckStats::default());
        let bad = CableConfig {
            bottleneck: Bottleneck {
                rate_bps: 1_000_000_000,
                queue_frames: 4,
                ce_threshold: Some(4),
                delay_ns: 0,
            },
            ..cfg
        };
        let e = CableEnd::pair(&bad).unwrap_err().to_string();
        assert!(e.contains("threshold 4"), "{e}");
    }

    #[test]
    fn bad_shapes_are_refused() {
        let cfg = CableConfig {
            slots: 3,
            ..CableConfig::default()
        };
        assert!(CableEnd::pair(&cfg).is_err());
        let mut cfg = CableConfig::default();
        cfg.impairment.loss = 1.5;
        assert!(
            CableEnd::pair(&cfg)
                .unwrap_err()
                .to_string()
                .contains("loss")
        );
    }
}
