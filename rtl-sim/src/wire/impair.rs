//! Seeded wire impairment: loss, duplication, reordering, corruption and ECN congestion marks,
//! reproducible from a seed (the machines have no `tc netem`, and tests need the same run
//! twice).
//!
//! Owns the decision per frame and the one frame held back for reordering (overtaken by the
//! next [`Impairment::reorder_depth`] frames, or released earlier by the caller); it must not
//! know
//! where frames go (the caller passes an output function). It never allocates after creation.

/// What a cable does to frames, per direction. Probabilities are per frame, in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Impairment {
    /// A frame is lost.
    pub loss: f64,
    /// A frame is delivered twice.
    pub duplicate: f64,
    /// A frame is held back and delivered after the next `reorder_depth` frames (or when the
    /// caller releases it earlier, e.g. at the end of a device step).
    pub reorder: f64,
    /// How many later frames overtake a frame held back for reordering (at least 1): 1 swaps
    /// neighbours; 5 makes a receiver see five later segments first, enough for a TCP
    /// sender's three duplicate ACKs to retransmit what was only late.
    pub reorder_depth: u32,
    /// One bit of the frame (after the Ethernet header) is flipped.
    pub corrupt: f64,
    /// An ECN-capable IPv4 frame (ECN field ECT(0) or ECT(1)) is marked CE, Congestion
    /// Experienced, with its header checksum updated, as an RFC 3168 router marks instead of
    /// dropping. Frames that are not ECN-capable are never marked.
    pub ce_mark: f64,
    /// Seed of the generator.
    pub seed: u64,
}

impl Impairment {
    /// A perfect wire.
    pub const NONE: Impairment = Impairment {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_depth: 1,
        corrupt: 0.0,
        ce_mark: 0.0,
        seed: 1,
    };

    /// Whether any impairment is on.
    pub fn is_none(&self) -> bool {
        self.loss <= 0.0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.corrupt <= 0.0
            && self.ce_mark <= 0.0
    }

    /// Checks that every probability is in `[0, 1]`.
    pub fn check(&self) -> Result<(), String> {
        for (name, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
            ("ce_mark", self.ce_mark),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "impairment {name}={p} is not a probability in [0, 1]"
                ));
            }
        }
        Ok(())
    }

    /// Parses `loss=0.01,reorder=0.02,reorder_depth=3,duplicate=0,corrupt=0.001,ce_mark=0.02,
    /// seed=7` (any subset, any order).
    pub fn parse(s: &str) -> Result<Impairment, String> {
        let mut imp = Impairment::NONE;
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("impairment `{part}`: expected key=value"))?;
            let k = k.trim();
            let v = v.trim();
            if k == "seed" {
                imp.seed = v
                    .parse()
                    .map_err(|e| format!("impairment seed `{v}`: {e}"))?;
                continue;
            }
            if k == "reorder_depth" {
                imp.reorder_depth =
                    v.parse().ok().filter(|d| *d >= 1).ok_or_else(|| {
                        format!("impairment reorder_depth `{v}`: expected 1 or more")
                    })?;
                continue;
            }
            let p: f64 = v
                .parse()
                .map_err(|e| format!("impairment {k} `{v}`: {e}"))?;
            match k {
                "loss" => imp.loss = p,
                "duplicate" => imp.duplicate = p,
                "reorder" => imp.reorder = p,
                "corrupt" => imp.corrupt = p,
                "ce_mark" => imp.ce_mark = p,
                _ => {
                    return Err(format!(
                        "unknown impairment `{k}` (use loss, duplicate, reorder, \
                         reorder_depth, corrupt, ce_mark, seed)"
                    ));
                }
            }
        }
        imp.check()?;
        Ok(imp)
    }
}

/// Counts of what an impairer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Frames offered.
    pub frames: u64,
    /// Frames lost.
    pub lost: u64,
    /// Frames delivered twice.
    pub duplicated: u64,
    /// Frames held back and delivered late.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
    /// ECN-capable frames marked CE.
    pub ce_marked: u64,
}

/// SplitMix64: small, fast, and good enough to draw per-frame decisions.
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) < p
    }
}

/// Whether `frame` is an IPv4 datagram (no VLAN tag) whose ECN field says ECN-capable:
/// ECT(0) or ECT(1), not CE (RFC 3168 section 5).
pub(super) fn ecn_capable(frame: &[u8]) -> bool {
    frame.len() >= 34 && frame[12..14] == [0x08, 0x00] && matches!(frame[15] & 0b11, 0b01 | 0b10)
}

/// Sets the ECN field of IPv4 frame `frame` to CE and updates the header checksum for the
/// changed word (RFC 1624: `HC' = ~(~HC + ~m + m')`), as a router marking it does.
pub(super) fn mark_ce(frame: &mut [u8]) {
    let old = u16::from_be_bytes([frame[14], frame[15]]);
    frame[15] |= 0b11;
    let new = u16::from_be_bytes([frame[14], frame[15]]);
    let sum = u16::from_be_bytes([frame[24], frame[25]]);
    let mut acc = u32::from(!sum) + u32::from(!old) + u32::from(new);
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    frame[24..26].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}

/// Applies an [`Impairment`] to a stream of frames.
#[derive(Debug)]
pub struct Impairer {
    cfg: Impairment,
    rng: SplitMix,
    scratch: Vec<u8>,
    held: Vec<u8>,
    held_len: Option<usize>,
    /// Frames still to overtake the held one.
    held_left: u32,
    stats: ImpairStats,
}

impl Impairer {
    /// An impairer for frames up to `max_frame` bytes.
    pub fn new(cfg: Impairment, max_frame: usize) -> Impairer {
        Impairer {
            cfg,
            rng: SplitMix(cfg.seed),
            scratch: vec![0; max_frame],
            held: vec![0; max_frame],
            held_len: None,
            held_left: 0,
            stats: ImpairStats::default(),
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// Passes one frame through: `out` receives zero, one or more frames (a held one among
    /// them). Frames longer than `max_frame` pass untouched.
    pub fn apply(&mut self, frame: &[u8], mut out: impl FnMut(&[u8])) {
        self.stats.frames += 1;
        if self.cfg.is_none() || frame.len() > self.scratch.len() {
            out(frame);
            return self.overtaken(out);
        }
        if self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        let n = frame.len();
        self.scratch[..n].copy_from_slice(frame);
        if self.cfg.ce_mark > 0.0
            && ecn_capable(&self.scratch[..n])
            && self.rng.chance(self.cfg.ce_mark)
        {
            mark_ce(&mut self.scratch[..n]);
            self.stats.ce_marked += 1;
        }
        if n > 14 && self.rng.chance(self.cfg.corrupt) {
            let bit = 14 * 8 + self.rng.next() % ((n as u64 - 14) * 8);
            self.scratch[(bit / 8) as usize] ^= 1 << (bit % 8);
            self.stats.corrupted += 1;
        }
        if self.held_len.is_none() && self.rng.chance(self.cfg.reorder) {
            self.held[..n].copy_from_slice(&self.scratch[..n]);
            self.held_len = Some(n);
            self.held_left = self.cfg.reorder_depth.max(1);
            self.stats.reordered += 1;
            return;
        }
        out(&self.scratch[..n]);
        if self.rng.chance(self.cfg.duplicate) {
            self.stats.duplicated += 1;
            out(&self.scratch[..n]);
        }
        self.overtaken(out);
    }

    /// A frame went out past the held one: the held one follows once `reorder_depth` have.
    fn overtaken(&mut self, out: impl FnMut(&[u8])) {
        self.held_left = self.held_left.saturating_sub(1);
        if self.held_left == 0 {
            self.release(out);
        }
    }

    /// Passes a frame through untouched when this impairer does nothing to frames (no
    /// impairment configured and no frame held back): counts it and returns true, and the
    /// caller sends the frame as it is. Otherwise returns false, having counted nothing, and
    /// the caller must use [`apply`](Impairer::apply).
    pub fn pass_through(&mut self) -> bool {
        if self.cfg.is_none() && self.held_len.is_none() {
            self.stats.frames += 1;
            true
        } else {
            false
        }
    }

    /// Sends the frame held back for reordering, if any.
    pub fn release(&mut self, mut out: impl FnMut(&[u8])) {
        if let Some(n) = self.held_len.take() {
            out(&self.held[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_frames::{ipv4_frame, ipv4_sum};
    use super::*;

    fn run(cfg: Impairment, frames: u32) -> (Vec<Vec<u8>>, ImpairStats) {
        let mut imp = Impairer::new(cfg, 200);
        let mut out = Vec::new();
        for i in 0..frames {
            let mut f = vec![0u8; 64];
            f[..4].copy_from_slice(&i.to_be_bytes());
            imp.apply(&f, |o| out.push(o.to_vec()));
        }
        imp.release(|o| out.push(o.to_vec()));
        (out, imp.stats())
    }

    #[test]
    fn none_is_transparent() {
        let (out, s) = run(Impairment::NONE, 100);
        assert_eq!(out.len(), 100);
        assert_eq!(s.lost + s.duplicated + s.reordered + s.corrupted, 0);
    }

    fn numbers(out: &[Vec<u8>]) -> Vec<u32> {
        out.iter()
            .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            .collect()
    }

    #[test]
    fn a_held_frame_is_overtaken_by_reorder_depth_frames() {
        let every = |depth| Impairment {
            reorder: 1.0,
            reorder_depth: depth,
            ..Impairment::NONE
        };
        let (out, s) = run(every(1), 6);
        assert_eq!(
            numbers(&out),
            [1, 0, 3, 2, 5, 4],
            "depth 1 swaps neighbours"
        );
        assert_eq!(s.reordered, 3);
        let (out, s) = run(every(3), 9);
        assert_eq!(numbers(&out), [1, 2, 3, 0, 5, 6, 7, 4, 8]);
        assert_eq!(s.reordered, 3, "frame 8 was held, released at the end");
        let (out, _) = run(every(0), 4);
        assert_eq!(numbers(&out), [1, 0, 3, 2], "depth 0 counts as 1");
    }

    #[test]
    fn reorder_depth_parses_and_refuses_zero() {
        let i = Impairment::parse("reorder=0.1,reorder_depth=5").unwrap();
        assert_eq!((i.reorder, i.reorder_depth), (0.1, 5));
        assert_eq!(Impairment::parse("reorder=0.1").unwrap().reorder_depth, 1);
        for bad in ["reorder_depth=0", "reorder_depth=x", "reorder_depth=-1"] {
            let err = Impairment::parse(bad).unwrap_err();
            assert!(err.contains("reorder_depth"), "{bad}: {err}");
        }
    }

    #[test]
    fn rates_are_close_and_seeds_reproduce() {
        let cfg = Impairment {
            loss: 0.1,
            duplicate: 0.05,
            reorder: 0.05,
            reorder_depth: 1,
            corrupt: 0.02,
            ce_mark: 0.0,
            seed: 42,
        };
        let (a, s) = run(cfg, 20_000);
        let (b, _) = run(cfg, 20_000);
        assert_eq!(a, b, "same seed, same wire");
        let (c, _) = run(Impairment { seed: 43, ..cfg }, 20_000);
        assert_ne!(a, c);
        let near = |n: u64, p: f64| (n as f64 - 20_000.0 * p).abs() < 20_000.0 * p * 0.25;
        assert!(near(s.lost, 0.1), "{s:?}");
        assert!(near(s.corrupted, 0.02 * 0.9), "{s:?}");
        assert!(s.duplicated > 500 && s.reordered > 500, "{s:?}");
        assert_eq!(
            a.len() as u64,
            20_000 - s.lost + s.duplicated,
            "held frames are all released"
        );
        // Reordering puts some frame after its successor.
        let seqs: Vec<u32> = a
            .iter()
            .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            .collect();
        assert!(seqs.windows(2).any(|w| w[0] > w[1]));
        // Corruption never touches the Ethernet header.
        assert!(a.iter().all(|f| f[4..14] == [0; 10]));
    }

    #[test]
    fn ce_marks_only_ecn_capable_frames_with_a_valid_checksum() {
        let cfg = Impairment {
            ce_mark: 1.0,
            ..Impairment::NONE
        };
        let mut imp = Impairer::new(cfg, 200);
        let mut out = Vec::new();
        for ecn in [0b00, 0b01, 0b10, 0b11, 0xB8 | 0b10] {
            imp.apply(&ipv4_frame(ecn), |o| out.push(o.to_vec()));
        }
        let tos: Vec<u8> = out.iter().map(|f| f[15]).collect();
        assert_eq!(tos, [0b00, 0b11, 0b11, 0b11, 0xB8 | 0b11]);
        assert!(out.iter().all(|f| ipv4_sum(&f[14..34]) == 0xFFFF));
        assert_eq!(imp.stats().ce_marked, 3);
        // Not IPv4 (the frames of the other tests): never marked.
        let (_, s) = run(cfg, 100);
        assert_eq!(s.ce_marked, 0);
        assert_eq!(
            Impairment::parse("ce_mark=0.02").unwrap().ce_mark,
            0.02,
            "parsed"
        );
    }

    #[test]
    fn parse_and_check() {
        let i = Impairment::parse("loss=0.01, reorder=0.5,seed=9").unwrap();
        assert_eq!((i.loss, i.reorder, i.seed), (0.01, 0.5, 9));
        assert!(Impairment::parse("loss=2").is_err());
        assert!(
            Impairment::parse("jitter=1")
                .unwrap_err()
                .contains("unknown")
        );
        assert!(Impairment::parse("loss").is_err());
        assert!(Impairment::parse("").unwrap().is_none());
    }
}

/// Frames the impairment and bottleneck tests share.
#[cfg(test)]
pub(super) mod test_frames {
    /// An IPv4 frame with ECN field `ecn` and a valid header checksum.
    pub fn ipv4_frame(ecn: u8) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14..34].copy_from_slice(&[
            0x45, ecn, 0, 46, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ]);
        let sum = ipv4_sum(&f[14..34]);
        f[24..26].copy_from_slice(&(!sum).to_be_bytes());
        f
    }

    /// The ones'-complement sum of `h` (0xFFFF over a header whose checksum is right).
    pub fn ipv4_sum(h: &[u8]) -> u16 {
        let mut acc: u32 = h
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while acc > 0xFFFF {
            acc = (acc & 0xFFFF) + (acc >> 16);
        }
        acc as u16
    }
}
