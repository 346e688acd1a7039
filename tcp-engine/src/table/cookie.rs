//! SYN cookies (RFC 4987 section 3.6): an initial sequence number that carries, authenticated,
//! what a listener needs to create the connection later, so that a SYN can be answered without
//! keeping any state.
//!
//! # Layout
//! A cookie is our ISN, 32 bits:
//!
//! | bits | what |
//! |---|---|
//! | 31..8 | MAC: 24 bits of SipHash-2-4, keyed with a secret, of the 4-tuple, the full time counter, the peer's SYN sequence number, the MSS index and the option bits |
//! | 7..3 | the time counter modulo 32 (one tick per [`SynCookieCodec::period`]) |
//! | 2..0 | index into [`MSS_TABLE`]: the peer's MSS rounded down to an entry |
//!
//! The returning ACK acknowledges cookie + 1. [`SynCookieCodec::check`] reads the counter bits,
//! rejects a cookie older than [`SynCookieCodec::max_age`] periods, rebuilds the full counter and
//! recomputes the MAC; a forged ACK is accepted with probability 2^-24 per try (the counter and
//! MSS bits are covered by the MAC, so choosing them gains nothing).
//!
//! # Options in the timestamp
//! When the SYN carried timestamps (RFC 7323) the SYN-ACK echoes them, and the low
//! [`TS_OPTION_BITS`] bits of our TSval carry the peer's window scale, its SACK permission and
//! the window scale we offered ([`CookieOptions::to_bits`]); the peer echoes them in the ACK's
//! TSecr. They are part of the MAC input, so a peer cannot alter them either. Without
//! timestamps there is nowhere to carry them: the connection gets neither window scaling nor
//! SACK ([`CookieOptions::NONE`]).
//!
//! Owns the cookie arithmetic only: no packets, no clock (time is passed in), no state.

use super::FourTuple;
use super::siphash::{HashSecret, sip24};
use crate::seq::SeqNum;

/// The MSS values a cookie can carry (3 bits): the peer's MSS is rounded down to the largest
/// entry not above it (below 536, to 536's predecessor: 256, and 64 below that, the engine's
/// minimum). Common Ethernet, tunnel and jumbo-frame values are exact.
pub const MSS_TABLE: [u16; 8] = [64, 256, 536, 1200, 1400, 1440, 1460, 8960];

/// Bits of our TSval that carry [`CookieOptions`] when timestamps are in use.
pub const TS_OPTION_BITS: u32 = 9;
/// Mask of those bits.
pub const TS_OPTION_MASK: u32 = (1 << TS_OPTION_BITS) - 1;

/// Counter bits kept in the cookie.
const COUNTER_BITS: u32 = 5;
const COUNTER_MASK: u32 = (1 << COUNTER_BITS) - 1;
/// Window-scale field meaning "not in use".
const NO_WSCALE: u32 = 15;

/// The options a cookie connection negotiated, as carried in the low bits of our TSval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieOptions {
    /// The peer's window scale (0-14), `None` when it offered none (then we offer none).
    pub peer_wscale: Option<u8>,
    /// The window scale we offered in the SYN-ACK (meaningful with `peer_wscale`).
    pub our_wscale: u8,
    /// The peer permitted SACK and we offered it.
    pub sack: bool,
    /// Timestamps are in use (the options below travel in the TSval; without them nothing
    /// does and the other fields are `None`/0/`false`).
    pub timestamps: bool,
}

impl CookieOptions {
    /// No timestamps: no window scaling, no SACK.
    pub const NONE: CookieOptions = CookieOptions {
        peer_wscale: None,
        our_wscale: 0,
        sack: false,
        timestamps: false,
    };

    /// The [`TS_OPTION_BITS`] bits these options take in a TSval: bits 0-3 the peer's window
    /// scale (15: none), bit 4 SACK, bits 5-8 our window scale. Without timestamps the value
    /// is outside the 9 bits (it is only MAC input then).
    pub fn to_bits(self) -> u32 {
        if !self.timestamps {
            return 1 << TS_OPTION_BITS;
        }
        let peer = self.peer_wscale.map_or(NO_WSCALE, |s| u32::from(s.min(14)));
        let ours = match self.peer_wscale {
            Some(_) => u32::from(self.our_wscale.min(14)),
            None => 0,
        };
        peer | u32::from(self.sack) << 4 | ours << 5
    }

    /// The options a TSecr's low bits carry; `None` for bits no cookie SYN-ACK sends (a window
    /// scale above 14, our scale without the peer's).
    pub fn from_ts_bits(tsecr: u32) -> Option<CookieOptions> {
        let bits = tsecr & TS_OPTION_MASK;
        let peer = bits & 0xF;
        let ours = (bits >> 5) & 0xF;
        let peer_wscale = match peer {
            NO_WSCALE if ours == 0 => None,
            0..=14 if ours <= 14 => Some(peer as u8),
            _ => return None,
        };
        Some(CookieOptions {
            peer_wscale,
            our_wscale: ours as u8,
            sack: bits & 0x10 != 0,
            timestamps: true,
        })
    }

    /// `tsval` with its low bits replaced by these options, never later than `tsval` (a TSval
    /// ahead of the ones the connection sends next would fail the peer's PAWS check).
    pub fn stamp(self, tsval: u32) -> u32 {
        let stamped = (tsval & !TS_OPTION_MASK) | (self.to_bits() & TS_OPTION_MASK);
        if (stamped.wrapping_sub(tsval) as i32) > 0 {
            stamped.wrapping_sub(TS_OPTION_MASK + 1)
        } else {
            stamped
        }
    }
}

/// What a valid cookie carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieGrant {
    /// The peer's MSS, rounded down to a [`MSS_TABLE`] entry.
    pub mss: u16,
    /// The peer's initial sequence number (its SYN's).
    pub peer_isn: SeqNum,
    /// Our initial sequence number (the cookie).
    pub iss: SeqNum,
}

/// Why a cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieError {
    /// Older than [`SynCookieCodec::max_age`] periods.
    Expired,
    /// The MAC does not match: forged, corrupted, or for another tuple or secret.
    BadMac,
}

/// Makes and checks SYN cookies with a secret key and a time counter.
#[derive(Clone, Debug)]
pub struct SynCookieCodec {
    secret: HashSecret,
    period_us: u64,
    max_age: u32,
}

impl SynCookieCodec {
    /// A codec keyed with `secret` (derive one for this purpose, see [`HashSecret::derive`])
    /// whose counter ticks every `period_us` microseconds (at least 1) and that accepts
    /// cookies made up to `max_age` ticks ago (at most 30).
    pub fn new(secret: HashSecret, period_us: u64, max_age: u32) -> Self {
        SynCookieCodec {
            secret,
            period_us: period_us.max(1),
            max_age: max_age.min(COUNTER_MASK - 1),
        }
    }

    /// Microseconds per counter tick.
    pub fn period(&self) -> u64 {
        self.period_us
    }

    /// Counter ticks a cookie stays valid after the one it was made in.
    pub fn max_age(&self) -> u32 {
        self.max_age
    }

    /// The [`MSS_TABLE`] index for a peer MSS (rounded down; below the first entry, 0).
    pub fn mss_index(mss: u16) -> u32 {
        MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32
    }

    fn counter(&self, now_us: u64) -> u32 {
        (now_us / self.period_us) as u32
    }

    fn mac(
        &self,
        tuple: &FourTuple,
        counter: u32,
        peer_isn: SeqNum,
        mss_index: u32,
        opts: u32,
    ) -> u32 {
        let mut data = [0u8; 24];
        data[..12].copy_from_slice(&tuple.to_bytes());
        data[12..16].copy_from_slice(&counter.to_le_bytes());
        data[16..20].copy_from_slice(&peer_isn.get().to_le_bytes());
        data[20..24].copy_from_slice(&(mss_index | opts << 3).to_le_bytes());
        (sip24(&self.secret, &data) as u32) >> 8
    }

    /// The cookie (our ISN) answering a SYN on `tuple` (local = ours) with sequence number
    /// `peer_isn` and MSS option `peer_mss` (536 when absent), at `now_us`, for options `opts`.
    pub fn make(
        &self,
        tuple: &FourTuple,
        peer_isn: SeqNum,
        peer_mss: u16,
        opts: CookieOptions,
        now_us: u64,
    ) -> SeqNum {
        let counter = self.counter(now_us);
        let index = Self::mss_index(peer_mss);
        let mac = self.mac(tuple, counter, peer_isn, index, opts.to_bits());
        SeqNum(mac << 8 | (counter & COUNTER_MASK) << 3 | index)
    }

    /// Checks the cookie an ACK on `tuple` returns: `ack` is its acknowledgement number
    /// (cookie + 1), `seq` its sequence number (the peer's ISN + 1), `opts` the options its
    /// TSecr carries ([`CookieOptions::NONE`] without timestamps).
    ///
    /// # Errors
    /// [`CookieError::Expired`] or [`CookieError::BadMac`].
    pub fn check(
        &self,
        tuple: &FourTuple,
        seq: SeqNum,
        ack: SeqNum,
        opts: CookieOptions,
        now_us: u64,
    ) -> Result<CookieGrant, CookieError> {
        let cookie = (ack - 1u32).get();
        let now = self.counter(now_us);
        let age = now.wrapping_sub(cookie >> 3) & COUNTER_MASK;
        if age > self.max_age {
            return Err(CookieError::Expired);
        }
        let counter = now.wrapping_sub(age);
        let index = cookie & 7;
        let peer_isn = seq - 1u32;
        if self.mac(tuple, counter, peer_isn, index, opts.to_bits()) != cookie >> 8 {
            return Err(CookieError::BadMac);
        }
        Ok(CookieGrant {
            mss: MSS_TABLE[index as usize],
            peer_isn,
            iss: SeqNum(cookie),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    const PERIOD: u64 = 64_000_000;

    fn codec() -> SynCookieCodec {
        SynCookieCodec::new(HashSecret::from_bytes(*b"cookie secret 16"), PERIOD, 1)
    }

    fn tuple(port: u16) -> FourTuple {
        FourTuple::new(
            Ipv4Addr::new(198, 18, 0, 1),
            80,
            Ipv4Addr::new(198, 18, 0, 2),
            port,
        )
    }

    const TS: CookieOptions = CookieOptions {
        peer_wscale: Some(7),
        our_wscale: 9,
        sack: true,
        timestamps: true,
    };

    #[test]
    fn round_trip_gives_back_what_the_syn_carried() {
        let c = codec();
        let t = tuple(40000);
        for (mss, want) in [
            (1460, 1460),
            (1448, 1440),
            (9000, 8960),
            (100, 64),
            (536, 536),
        ] {
            for opts in [CookieOptions::NONE, TS] {
                let now = 5 * PERIOD + 17;
                let iss = c.make(&t, SeqNum(0xfffffff0), mss, opts, now);
                let g = c
                    .check(&t, SeqNum(0xfffffff1), iss + 1, opts, now + 1000)
                    .expect("a fresh cookie is valid");
                assert_eq!(
                    g,
                    CookieGrant {
                        mss: want,
                        peer_isn: SeqNum(0xfffffff0),
                        iss
                    }
                );
            }
        }
    }

    #[test]
    fn mss_table_rounds_down() {
        assert_eq!(SynCookieCodec::mss_index(0), 0);
        assert_eq!(SynCookieCodec::mss_index(63), 0);
        assert_eq!(SynCookieCodec::mss_index(255), 0);
        assert_eq!(SynCookieCodec::mss_index(256), 1);
        assert_eq!(SynCookieCodec::mss_index(1459), 5);
        assert_eq!(SynCookieCodec::mss_index(1460), 6);
        assert_eq!(SynCookieCodec::mss_index(u16::MAX), 7);
        for (i, &m) in MSS_TABLE.iter().enumerate() {
            assert_eq!(SynCookieCodec::mss_index(m) as usize, i);
            assert!(i == 0 || MSS_TABLE[i - 1] < m, "table ascending");
        }
    }

    #[test]
    fn cookies_expire_after_max_age_periods() {
        let c = codec();
        let t = tuple(1);
        let made = 10 * PERIOD + PERIOD - 1; // late in period 10
        let iss = c.make(&t, SeqNum(7), 1460, TS, made);
        let check = |now| c.check(&t, SeqNum(8), iss + 1, TS, now);
        assert!(check(made).is_ok());
        assert!(check(11 * PERIOD).is_ok(), "one period later");
        assert!(check(12 * PERIOD - 1).is_ok(), "end of the next period");
        assert_eq!(check(12 * PERIOD), Err(CookieError::Expired));
        // The 5-bit counter wraps after 32 periods: still refused (the MAC has the full counter).
        assert_eq!(check(42 * PERIOD), Err(CookieError::BadMac));
        assert_eq!(check(43 * PERIOD), Err(CookieError::BadMac));
        assert_eq!(check(44 * PERIOD), Err(CookieError::Expired));
    }

    #[test]
    fn every_tampered_bit_is_refused() {
        let c = codec();
        let t = tuple(2);
        let now = 3 * PERIOD;
        let iss = c.make(&t, SeqNum(1000), 1460, TS, now);
        for bit in 0..32 {
            let r = c.check(&t, SeqNum(1001), SeqNum(iss.get() ^ 1 << bit) + 1, TS, now);
            assert!(r.is_err(), "flipped cookie bit {bit} accepted");
        }
        assert!(
            c.check(&t, SeqNum(1002), iss + 1, TS, now).is_err(),
            "other ISN"
        );
        assert!(
            c.check(&tuple(3), SeqNum(1001), iss + 1, TS, now).is_err(),
            "other tuple"
        );
        let mut opts = TS;
        opts.sack = false;
        assert!(
            c.check(&t, SeqNum(1001), iss + 1, opts, now).is_err(),
            "option bits"
        );
        assert!(
            c.check(&t, SeqNum(1001), iss + 1, CookieOptions::NONE, now)
                .is_err(),
            "timestamps dropped"
        );
        let other = SynCookieCodec::new(HashSecret::from_bytes([1; 16]), PERIOD, 1);
        assert!(other.check(&t, SeqNum(1001), iss + 1, TS, now).is_err());
    }

    #[test]
    fn random_acks_are_refused() {
        // A forged ACK passes with probability 2^-24: 200,000 tries find none (expected 0.012).
        let c = codec();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let now = 7 * PERIOD;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let t = tuple(x as u16 | 1);
            let r = c.check(
                &t,
                SeqNum((x >> 16) as u32),
                SeqNum((x >> 32) as u32),
                TS,
                now,
            );
            assert!(r.is_err(), "forged ACK accepted: {x:#x}");
        }
    }

    #[test]
    fn option_bits_round_trip_and_stamp_never_moves_ahead() {
        for peer in [None, Some(0), Some(7), Some(14)] {
            for sack in [false, true] {
                let o = CookieOptions {
                    peer_wscale: peer,
                    our_wscale: if peer.is_some() { 9 } else { 0 },
                    sack,
                    timestamps: true,
                };
                assert_eq!(CookieOptions::from_ts_bits(o.to_bits()), Some(o));
                for tsval in [0u32, 1, 0x1ff, 0x200, 0x12345, u32::MAX] {
                    let s = o.stamp(tsval);
                    assert_eq!(s & TS_OPTION_MASK, o.to_bits());
                    let behind = tsval.wrapping_sub(s);
                    assert!(behind <= TS_OPTION_MASK, "{tsval:#x} -> {s:#x}");
                }
            }
        }
        assert_eq!(CookieOptions::from_ts_bits(15 | 3 << 5), None);
        assert_eq!(CookieOptions::from_ts_bits(15 << 5), None);
        assert_eq!(CookieOptions::NONE.to_bits() & TS_OPTION_MASK, 0);
    }
}
