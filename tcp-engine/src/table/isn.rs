//! RFC 6528 initial sequence numbers: `ISN = M + F(localip, localport, remoteip, remoteport,
//! secretkey)`, with `M` a clock ticking every 4 microseconds and `F` SipHash-2-4 keyed with a
//! secret.
//!
//! Different 4-tuples get unrelated ISNs, so a peer cannot guess another connection's sequence
//! space; the same tuple reused later gets a larger ISN (the clock advanced), so old duplicates
//! of a previous incarnation fall below the new window. The clock wraps every 2^32 * 4 us (about
//! 4.8 hours), as RFC 9293 intends. Time is passed in (microseconds from any fixed origin); this
//! module never reads a clock. (The seed's generator ticked every 4 s instead: regression-tested
//! below.)

use super::FourTuple;
use super::siphash::{HashSecret, sip24_12};
use crate::seq::SeqNum;

/// Microseconds per ISN clock tick (RFC 9293 section 3.4.1, RFC 6528).
pub const ISN_TICK_US: u64 = 4;

/// Generates RFC 6528 initial sequence numbers.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    secret: HashSecret,
}

impl IsnGenerator {
    /// A generator keyed with `secret` (use one derived for this purpose, see
    /// [`HashSecret::derive`]).
    pub const fn new(secret: HashSecret) -> Self {
        IsnGenerator { secret }
    }

    /// The ISN for a connection on `tuple` opened at `now_us` microseconds.
    pub fn isn(&self, tuple: &FourTuple, now_us: u64) -> SeqNum {
        let clock = (now_us / ISN_TICK_US) as u32;
        // The tuple's 12 bytes as SipHash reads them, from registers (a byte array built and
        // read back as words would stall on store forwarding).
        let (first8, last4) = tuple.hash_words();
        let offset = sip24_12(&self.secret, first8, last4) as u32;
        SeqNum(clock.wrapping_add(offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn gen_() -> IsnGenerator {
        IsnGenerator::new(HashSecret::from_bytes(*b"isn test secret!"))
    }

    fn tuple(remote_port: u16) -> FourTuple {
        FourTuple::new(
            Ipv4Addr::new(198, 18, 0, 1),
            80,
            Ipv4Addr::new(198, 18, 0, 2),
            remote_port,
        )
    }

    #[test]
    fn isn_is_the_4us_clock_plus_siphash24_of_the_tuple_bytes() {
        let g = gen_();
        let t = tuple(40000);
        let offset = super::super::sip24(&g.secret, &t.to_bytes()) as u32;
        assert_eq!(
            g.isn(&t, 4_000_004).get(),
            1_000_001u32.wrapping_add(offset)
        );
    }

    #[test]
    fn different_tuples_get_different_isns() {
        let g = gen_();
        let mut seen: Vec<u32> = (1..=2000)
            .map(|p| g.isn(&tuple(p), 1_000_000).get())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(
            seen.len(),
            2000,
            "2000 tuples at one instant must give 2000 distinct ISNs"
        );
        // Not a simple function of the port: neighbouring ports are far apart.
        let a = g.isn(&tuple(1000), 0).get();
        let b = g.isn(&tuple(1001), 0).get();
        assert!(a.abs_diff(b) > 1 << 16, "{a} vs {b}");
    }

    #[test]
    fn same_tuple_later_gets_a_larger_isn_at_4us_resolution() {
        let g = gen_();
        let t = tuple(40000);
        let t0 = 123_456_789;
        let base = g.isn(&t, t0);
        assert_eq!(g.isn(&t, t0), base, "deterministic");
        assert_eq!(g.isn(&t, t0 + 4) - base, 1, "one tick per 4 us");
        assert_eq!(
            g.isn(&t, t0 + 1_000_000) - base,
            250_000,
            "250000 ticks per second"
        );
        assert!(g.isn(&t, t0 + 4).gt(base));
        // The seed's 4-second clock would give the same ISN a second later.
        assert!(g.isn(&t, t0 + 1_000_000).gt(base));
    }

    #[test]
    fn secret_matters() {
        let other = IsnGenerator::new(HashSecret::from_bytes([9; 16]));
        assert_ne!(gen_().isn(&tuple(5), 0), other.isn(&tuple(5), 0));
    }
}
