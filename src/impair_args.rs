//! The wire-impairment flags, one definition for every subcommand that has a simulated wire:
//! `--loss --reorder --duplicate --corrupt --ce-mark` ([`ImpairArgs`], used by `demo` for its
//! cable), and for `serve`/`connect --nic sim` the same plus `--impair-seed` and
//! `--impair-direction` ([`WireImpairArgs`]: which way between the kernel and the simulated
//! NIC is impaired); and `demo`'s cable bottleneck, `--rate --queue --ce-threshold`
//! ([`BottleneckArgs`]). Owns the flags, their checks and their error wording; it must not
//! impair or queue anything itself (that is rtl-sim's `wire::impair`, `wire::impaired` and
//! `wire::bottleneck`) nor build devices (`net_args`, `demo_cmd`).

use anyhow::bail;
use clap::{Args, ValueEnum};
use rtl_sim::wire::bottleneck::{Bottleneck, parse_delay, parse_rate};
use rtl_sim::wire::impair::Impairment;
use rtl_sim::wire::impaired::ImpairConfig;

/// How often the wire does what to a frame (per frame, probabilities 0 to 1).
#[derive(Args, Clone, Debug, Default)]
pub struct ImpairArgs {
    /// Probability that the wire loses a frame (each impaired direction), e.g. 0.01.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub loss: f64,
    /// Probability that the wire holds a frame back, to deliver it after the next
    /// `--reorder-depth` frames.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub reorder: f64,
    /// How many later frames overtake a frame `--reorder` holds back (1: neighbours swap; 4
    /// or more lets a TCP receiver's duplicate ACKs trigger a sender's fast retransmit).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub reorder_depth: u32,
    /// Probability that the wire delivers a frame twice.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub duplicate: f64,
    /// Probability that the wire flips a bit of a frame (the receiver must catch it by its
    /// checksum).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub corrupt: f64,
    /// Probability that the wire marks an ECN-capable frame CE (Congestion Experienced)
    /// instead of losing it, as an RFC 3168 router does; frames that are not ECN-capable are
    /// never marked. Pair it with `--ecn on`.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub ce_mark: f64,
}

impl ImpairArgs {
    /// The impairment these flags ask for, with `seed`.
    ///
    /// # Errors
    /// A probability outside 0 to 1, with the flags that take one.
    pub fn impairment(&self, seed: u64) -> anyhow::Result<Impairment> {
        let impairment = Impairment {
            loss: self.loss,
            reorder: self.reorder,
            reorder_depth: self.reorder_depth,
            duplicate: self.duplicate,
            corrupt: self.corrupt,
            ce_mark: self.ce_mark,
            seed,
        };
        if let Err(why) = impairment.check() {
            bail!(
                "{why} (--loss, --reorder, --duplicate, --corrupt and --ce-mark take \
                 probabilities 0 to 1)"
            );
        }
        Ok(impairment)
    }

    /// The flags given a non-zero probability (for error messages).
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--loss", self.loss),
            ("--reorder", self.reorder),
            ("--duplicate", self.duplicate),
            ("--corrupt", self.corrupt),
            ("--ce-mark", self.ce_mark),
        ]
        .into_iter()
        .filter(|(_, p)| *p != 0.0)
        .map(|(name, _)| name)
        .collect()
    }
}

/// A bottleneck on each direction of the simulated wire (demo's cable; serve/connect's wire
/// to the kernel): a line rate, a drop-tail queue and threshold ECN marking, on the NIC's
/// device clock (the demo's simulated clock; wall time for serve/connect).
#[derive(Args, Clone, Debug, Default)]
pub struct BottleneckArgs {
    /// Line rate of a bottleneck on each direction of the wire, in bit/s with k, M, G or T
    /// (powers of 1000): 10G, 25Gbit, 2.5Gbps, 100M. A frame occupies the line for its
    /// length plus FCS, preamble and inter-frame gap (24 bytes). Default: no bottleneck.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<u64>,
    /// Frames the bottleneck's queue holds, the one on the line included; a frame that finds
    /// it full is dropped (drop-tail). Needs --rate. Default: 100.
    #[arg(long, value_name = "FRAMES")]
    pub queue: Option<u32>,
    /// Mark ECN-capable frames CE when they find at least K frames queued (a DCTCP switch's
    /// K; below --queue). Needs --rate; pair it with --ecn on. Default: no marking.
    #[arg(long, value_name = "K")]
    pub ce_threshold: Option<u32>,
    /// One-way propagation delay after the bottleneck's line, with a unit: 50us, 1.5ms (up
    /// to 1 s). Needs --rate. Default: none.
    #[arg(long, value_name = "DELAY", value_parser = parse_delay)]
    pub delay: Option<u64>,
}

impl BottleneckArgs {
    /// The bottleneck these flags ask for ([`Bottleneck::OFF`] without --rate).
    ///
    /// # Errors
    /// --queue or --ce-threshold without --rate, a queue outside 1 to 16384 frames, or a
    /// threshold not below the queue, each saying how to fix it.
    ///
    /// (The flags given, for error messages: [`BottleneckArgs::given`].)
    pub fn bottleneck(&self) -> anyhow::Result<Bottleneck> {
        let Some(rate_bps) = self.rate else {
            if self.queue.is_some() || self.ce_threshold.is_some() || self.delay.is_some() {
                bail!(
                    "--queue, --ce-threshold and --delay shape the wire's bottleneck, which \
                     needs a line rate: add --rate (e.g. --rate 10G)"
                );
            }
            return Ok(Bottleneck::OFF);
        };
        let b = Bottleneck {
            rate_bps,
            queue_frames: self.queue.unwrap_or(Bottleneck::DEFAULT_QUEUE_FRAMES),
            ce_threshold: self.ce_threshold,
            delay_ns: self.delay.unwrap_or(0),
        };
        if let Err(why) = b.check() {
            bail!("{why} (--rate, --queue, --ce-threshold, --delay)");
        }
        Ok(b)
    }

    /// The flags given (for error messages).
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--rate", self.rate.is_some()),
            ("--queue", self.queue.is_some()),
            ("--ce-threshold", self.ce_threshold.is_some()),
            ("--delay", self.delay.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| name)
        .collect()
    }
}

/// Which way between the kernel and the simulated NIC is impaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ImpairDirection {
    /// Both ways (each with its own seed: N to the kernel, N+1 to the NIC).
    #[default]
    Both,
    /// Frames the kernel sends to the NIC (what ferrotoe receives).
    ToNic,
    /// Frames the NIC sends to the kernel (what ferrotoe transmits).
    ToKernel,
}

/// The impairment flags of `serve` and `connect` (`--nic sim` only).
#[derive(Args, Clone, Debug, Default)]
#[command(
    next_help_heading = "Wire impairment between the kernel and the simulated NIC (--nic sim only)"
)]
pub struct WireImpairArgs {
    #[command(flatten)]
    pub probabilities: ImpairArgs,
    /// A bottleneck after the impairment, each impaired direction (--impair-direction).
    #[command(flatten)]
    pub bottleneck: BottleneckArgs,
    /// Seed of the impairment: the same seed gives the same decisions frame by frame. N seeds
    /// the NIC -> kernel direction, N+1 the kernel -> NIC one (default 1).
    #[arg(long, value_name = "N")]
    pub impair_seed: Option<u64>,
    /// Which way the impairment applies: both, to-nic (frames the kernel sends) or
    /// to-kernel (frames ferrotoe sends). Default: both.
    #[arg(long, value_enum, value_name = "WAY")]
    pub impair_direction: Option<ImpairDirection>,
}

impl WireImpairArgs {
    /// Whether any impairment flag was given.
    pub fn any(&self) -> bool {
        !self.given().is_empty()
    }

    /// The impairment and bottleneck flags given (for error messages).
    pub fn given(&self) -> Vec<&'static str> {
        let mut flags = self.probabilities.given();
        flags.extend(self.bottleneck.given());
        if self.impair_seed.is_some() {
            flags.push("--impair-seed");
        }
        if self.impair_direction.is_some() {
            flags.push("--impair-direction");
        }
        flags
    }

    /// Whether a probability or a bottleneck was given (what --impair-seed and
    /// --impair-direction apply to).
    fn shapes_the_wire(&self) -> bool {
        !self.probabilities.given().is_empty() || self.bottleneck.rate.is_some()
    }

    /// The wire's impairment per direction (`transmit` is the NIC's, towards the kernel).
    ///
    /// # Errors
    /// A probability outside 0 to 1, or `--impair-seed`/`--impair-direction` without any
    /// probability to apply.
    pub fn config(&self) -> anyhow::Result<ImpairConfig> {
        if !self.shapes_the_wire()
            && (self.impair_seed.is_some() || self.impair_direction.is_some())
        {
            bail!(
                "--impair-seed and --impair-direction choose how the wire is impaired, but no \
                 impairment was given: add --loss, --reorder, --duplicate, --corrupt, \
                 --ce-mark or --rate (e.g. --loss 0.01)"
            );
        }
        let bottleneck = self.bottleneck.bottleneck()?;
        let seed = self.impair_seed.unwrap_or(1);
        let to_kernel = self.probabilities.impairment(seed)?;
        let to_nic = Impairment {
            seed: seed.wrapping_add(1),
            ..to_kernel
        };
        let direction = self.impair_direction.unwrap_or_default();
        let pick = |on: bool, imp: Impairment| if on { imp } else { Impairment::NONE };
        let pick_queue = |on: bool| if on { bottleneck } else { Bottleneck::OFF };
        let (transmit, receive) = (
            direction != ImpairDirection::ToNic,
            direction != ImpairDirection::ToKernel,
        );
        Ok(ImpairConfig {
            transmit: pick(transmit, to_kernel),
            receive: pick(receive, to_nic),
            transmit_bottleneck: pick_queue(transmit),
            receive_bottleneck: pick_queue(receive),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_seeds() {
        let mut a = WireImpairArgs {
            probabilities: ImpairArgs {
                loss: 0.01,
                duplicate: 0.02,
                ..ImpairArgs::default()
            },
            impair_seed: Some(7),
            impair_direction: None,
            ..WireImpairArgs::default()
        };
        let both = a.config().unwrap();
        assert_eq!((both.transmit.loss, both.transmit.seed), (0.01, 7));
        assert_eq!((both.receive.duplicate, both.receive.seed), (0.02, 8));
        a.impair_direction = Some(ImpairDirection::ToNic);
        let c = a.config().unwrap();
        assert!(c.transmit.is_none() && !c.receive.is_none());
        a.impair_direction = Some(ImpairDirection::ToKernel);
        let c = a.config().unwrap();
        assert!(!c.transmit.is_none() && c.receive.is_none());
        assert_eq!(a.probabilities.given(), ["--loss", "--duplicate"]);
        assert!(WireImpairArgs::default().config().unwrap().is_none());
        assert!(!WireImpairArgs::default().any());
    }

    #[test]
    fn mistakes_are_refused_with_the_fix() {
        let lone_seed = WireImpairArgs {
            impair_seed: Some(3),
            ..WireImpairArgs::default()
        };
        let e = lone_seed.config().unwrap_err().to_string();
        assert!(
            e.contains("no impairment was given") && e.contains("--loss"),
            "{e}"
        );
        let bad = ImpairArgs {
            reorder: 2.0,
            ..ImpairArgs::default()
        };
        let e = bad.impairment(1).unwrap_err().to_string();
        assert!(
            e.contains("reorder=2") && e.contains("probabilities 0 to 1"),
            "{e}"
        );
    }

    #[test]
    fn the_wire_bottleneck_follows_the_impaired_direction() {
        let mut a = WireImpairArgs {
            bottleneck: BottleneckArgs {
                rate: Some(100_000_000),
                ..BottleneckArgs::default()
            },
            ..WireImpairArgs::default()
        };
        assert!(a.any(), "--rate alone shapes the wire");
        assert_eq!(a.given(), ["--rate"]);
        let both = a.config().unwrap();
        assert!(both.transmit.is_none() && both.receive.is_none() && !both.is_none());
        assert_eq!(both.transmit_bottleneck.rate_bps, 100_000_000);
        assert_eq!(both.receive_bottleneck, both.transmit_bottleneck);
        a.impair_direction = Some(ImpairDirection::ToKernel);
        let c = a.config().unwrap();
        assert!(c.transmit_bottleneck.is_on() && !c.receive_bottleneck.is_on());
        a.bottleneck.ce_threshold = Some(200);
        let e = a.config().unwrap_err().to_string();
        assert!(e.contains("threshold 200") && e.contains("--queue"), "{e}");
    }

    #[test]
    fn bottleneck_flags_and_their_mistakes() {
        let args = |rate: Option<&str>, queue, k| BottleneckArgs {
            rate: rate.map(|r| parse_rate(r).unwrap()),
            queue,
            ce_threshold: k,
            delay: None,
        };
        let delayed = BottleneckArgs {
            delay: Some(parse_delay("50us").unwrap()),
            ..args(Some("10G"), None, None)
        };
        assert_eq!(delayed.bottleneck().unwrap().delay_ns, 50_000);
        let e = BottleneckArgs {
            rate: None,
            ..delayed
        }
        .bottleneck()
        .unwrap_err()
        .to_string();
        assert!(e.contains("--delay") && e.contains("--rate 10G"), "{e}");
        assert_eq!(
            args(None, None, None).bottleneck().unwrap(),
            Bottleneck::OFF
        );
        let b = args(Some("10G"), None, None).bottleneck().unwrap();
        assert_eq!(
            (b.rate_bps, b.queue_frames, b.ce_threshold),
            (10_000_000_000, 100, None)
        );
        let b = args(Some("25Gbit"), Some(64), Some(16))
            .bottleneck()
            .unwrap();
        assert_eq!(
            (b.rate_bps, b.queue_frames, b.ce_threshold),
            (25_000_000_000, 64, Some(16))
        );
        let e = args(None, Some(10), None)
            .bottleneck()
            .unwrap_err()
            .to_string();
        assert!(e.contains("--rate"), "{e}");
        let e = args(Some("1G"), Some(20), Some(20))
            .bottleneck()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("below 20") && e.contains("--ce-threshold"),
            "{e}"
        );
        let e = args(Some("1G"), Some(0), None)
            .bottleneck()
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 to 16384"), "{e}");
    }
}
