//! The flags that switch the engine's loss-recovery and slow-start refinements on and off,
//! shared by `ferrotoe demo`, `serve` and `connect`, so that a user can measure what each one
//! buys on the same run set-up. Owns the flag definitions and their mapping onto
//! [`TcbConfig`]; must not touch anything else of the configuration.

use clap::{Args, ValueEnum};
use tcp_engine::tcb::{HyStart, TcbConfig};

/// A feature switch on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// The feature runs.
    On,
    /// The feature does not run.
    Off,
}

impl Switch {
    fn on(self) -> bool {
        self == Switch::On
    }
}

/// `--hystart`, `--spurious-undo`, `--adaptive-reordering`.
#[derive(Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFeatureArgs {
    /// HyStart++ (RFC 9406) in the initial slow start: leave slow start when the round trip
    /// time rises (a queue builds) instead of doubling until a burst of losses.
    #[arg(long, value_enum, default_value = "on")]
    pub hystart: Switch,
    /// Undo window reductions that timestamps (Eifel, RFC 3522) or D-SACKs (RFC 3708) show
    /// were spurious.
    #[arg(long, value_enum, default_value = "on")]
    pub spurious_undo: Switch,
    /// Learn the path's reordering from D-SACKs (DupThresh 3, 6, 12, 24) instead of a fixed
    /// DupThresh of 3.
    #[arg(long, value_enum, default_value = "on")]
    pub adaptive_reordering: Switch,
}

impl TcpFeatureArgs {
    /// Sets the switches' fields of `cfg`; HyStart++ on keeps `cfg`'s thresholds if it has
    /// some, else takes [`HyStart::DEFAULT`].
    pub fn apply(&self, cfg: &mut TcbConfig) {
        cfg.hystart = match self.hystart {
            Switch::On => Some(cfg.hystart.unwrap_or(HyStart::DEFAULT)),
            Switch::Off => None,
        };
        cfg.spurious_undo = self.spurious_undo.on();
        cfg.adaptive_reordering = self.adaptive_reordering.on();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        features: TcpFeatureArgs,
    }

    fn config(args: &[&str]) -> TcbConfig {
        let cli = Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .expect("the flags parse");
        let mut cfg = TcbConfig::RFC;
        cli.features.apply(&mut cfg);
        cfg
    }

    #[test]
    fn defaults_leave_every_feature_on() {
        let cfg = config(&[]);
        assert_eq!(cfg.hystart, Some(HyStart::DEFAULT));
        assert!(cfg.spurious_undo && cfg.adaptive_reordering);
    }

    #[test]
    fn each_switch_turns_its_feature_off_alone() {
        let cfg = config(&["--hystart", "off"]);
        assert_eq!(cfg.hystart, None);
        assert!(cfg.spurious_undo && cfg.adaptive_reordering);
        let cfg = config(&["--spurious-undo", "off"]);
        assert!(cfg.hystart.is_some() && !cfg.spurious_undo && cfg.adaptive_reordering);
        let cfg = config(&["--adaptive-reordering", "off"]);
        assert!(cfg.hystart.is_some() && cfg.spurious_undo && !cfg.adaptive_reordering);
    }

    #[test]
    fn hystart_on_keeps_configured_thresholds() {
        let cli = Cli::try_parse_from(["t"]).unwrap();
        let mut cfg = TcbConfig {
            hystart: Some(HyStart::RFC),
            ..TcbConfig::RFC
        };
        cli.features.apply(&mut cfg);
        assert_eq!(cfg.hystart, Some(HyStart::RFC));
    }

    #[test]
    fn a_misspelt_value_is_refused() {
        assert!(Cli::try_parse_from(["t", "--hystart", "maybe"]).is_err());
    }
}
