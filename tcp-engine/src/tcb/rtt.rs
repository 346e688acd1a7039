//! RFC 6298 round-trip estimation and retransmission timeout.
//!
//! Owns SRTT, RTTVAR, the base RTO and the exponential backoff; must not decide *when* a
//! sample is valid (Karn's rule and timestamp echo belong to the state machine).

use super::config::TcbConfig;
use crate::time::Duration;

/// SRTT/RTTVAR/RTO in microseconds (`u32`: RTTs up to 71 minutes).
///
/// Packed to 2-byte alignment: 10 bytes instead of 12, so the `Tcb` puts a 2-byte field
/// where padding would be (fields are only ever read and written by value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(2))]
pub(crate) struct RttEstimator {
    /// Smoothed RTT; 0 until the first sample.
    srtt: u32,
    /// RTT variation.
    rttvar: u32,
    /// Consecutive timeouts: the RTO in force is the base RTO doubled `backoff` times.
    backoff: u8,
    /// The handshake lost a segment and no sample exists yet (RFC 6298 5.7).
    syn_lost: bool,
}

const MAX_US: u64 = u32::MAX as u64;

fn clamp_us(d: Duration) -> u32 {
    d.micros().min(MAX_US) as u32
}

impl RttEstimator {
    pub(crate) fn new() -> Self {
        RttEstimator {
            srtt: 0,
            rttvar: 0,
            backoff: 0,
            syn_lost: false,
        }
    }

    /// Smoothed RTT (zero before the first sample).
    pub(crate) fn srtt(&self) -> Duration {
        Duration::from_micros(u64::from(self.srtt))
    }

    /// RTT variation.
    pub(crate) fn rttvar(&self) -> Duration {
        Duration::from_micros(u64::from(self.rttvar))
    }

    /// Consecutive timeouts.
    #[inline]
    pub(crate) fn backoff(&self) -> u8 {
        self.backoff
    }

    /// Feeds one RTT measurement (RFC 6298 2.2 and 2.3, K = 4, G = 1 us).
    pub(crate) fn sample(&mut self, cfg: &TcbConfig, rtt: Duration) {
        let r = clamp_us(rtt).max(1);
        if self.srtt == 0 {
            self.srtt = r;
            self.rttvar = r / 2;
        } else {
            let delta = self.srtt.abs_diff(r);
            // rttvar = 3/4 rttvar + 1/4 |srtt - r|; srtt = 7/8 srtt + 1/8 r (in u64: no overflow).
            self.rttvar = ((3 * u64::from(self.rttvar) + u64::from(delta)) / 4) as u32;
            self.srtt = ((7 * u64::from(self.srtt) + u64::from(r)) / 8).max(1) as u32;
        }
        self.backoff = 0;
        self.syn_lost = false;
        let _ = cfg;
    }

    /// The RTO before backoff: SRTT + max(G, 4 * RTTVAR) (RFC 6298 2.3), the initial RTO
    /// before any sample, at least `rto_after_syn_loss` after a lost SYN.
    fn base_rto(&self, cfg: &TcbConfig) -> Duration {
        if self.srtt == 0 {
            if self.syn_lost {
                cfg.rto_initial.max(cfg.rto_after_syn_loss)
            } else {
                cfg.rto_initial
            }
        } else {
            Duration::from_micros(u64::from(self.srtt) + (4 * u64::from(self.rttvar)).max(1))
        }
    }

    /// The RTO in force: base RTO doubled per consecutive timeout, within the configured bounds.
    pub(crate) fn rto(&self, cfg: &TcbConfig) -> Duration {
        let max = cfg.rto_max.max(cfg.rto_min);
        self.base_rto(cfg)
            .max(cfg.rto_min)
            .saturating_shl(u32::from(self.backoff))
            .min(max)
    }

    /// One more timeout (RFC 6298 5.5).
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// New data was acknowledged: the backoff ends (the next RTO uses the estimate again).
    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// RFC 6298 5.7: the handshake needed a retransmission and no sample exists, so data
    /// starts with an RTO of at least `rto_after_syn_loss`.
    pub(crate) fn after_syn_loss(&mut self) {
        self.backoff = 0;
        self.syn_lost = self.srtt == 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc6298() {
        let cfg = TcbConfig {
            rto_min: Duration::from_micros(100),
            ..TcbConfig::RFC
        };
        let mut e = RttEstimator::new();
        assert_eq!(e.rto(&cfg), Duration::from_secs(1));
        e.after_syn_loss();
        assert_eq!(e.rto(&cfg), Duration::from_secs(3));
        e.sample(&cfg, Duration::from_micros(1000));
        assert_eq!((e.srtt, e.rttvar), (1000, 500));
        assert_eq!(e.rto(&cfg), Duration::from_micros(3000));
        e.sample(&cfg, Duration::from_micros(2000));
        // rttvar = (3*500 + 1000)/4 = 625; srtt = (7000 + 2000)/8 = 1125; rto = 1125 + 2500.
        assert_eq!((e.srtt, e.rttvar), (1125, 625));
        assert_eq!(e.rto(&cfg), Duration::from_micros(3625));
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(&cfg), Duration::from_micros(3625 * 4));
        for _ in 0..100 {
            e.back_off();
        }
        assert_eq!(e.rto(&cfg), cfg.rto_max);
        e.reset_backoff();
        assert_eq!(e.rto(&cfg), Duration::from_micros(3625));
    }

    #[test]
    fn minimum_applies() {
        let cfg = TcbConfig::RFC;
        let mut e = RttEstimator::new();
        e.sample(&cfg, Duration::from_micros(10));
        assert_eq!(e.rto(&cfg), Duration::from_secs(1));
    }
}
