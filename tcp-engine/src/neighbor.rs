//! The ARP neighbour cache: a fixed-capacity map from on-link IPv4 addresses to MAC addresses
//! with expiry, and bounded, rate-limited resolution of unknown neighbours.
//!
//! Owns which neighbours are known and when to ask for one. It never builds or sends frames
//! (the endpoint does, with [`ArpRepr::request`] and `wire::frame::emit_arp_frame`) and never
//! holds packets waiting for resolution (the endpoint keeps them, so the connection state
//! advances only when the frame really leaves).
//!
//! ## How the endpoint uses it
//!
//! - Before sending to next hop `ip`: [`NeighborCache::resolve`]. `Found(mac)`: send.
//!   `FoundRefresh(mac)`: send, and also send an ARP request for `ip` (the entry is stale and
//!   being confirmed). `SendRequest`: send an ARP request now and hold the packet. `Pending`:
//!   a request is outstanding and the rate limit forbids another; hold the packet.
//!   `Unreachable`: the last resolution got no answer; drop and report. `Busy`: too many
//!   resolutions in progress; drop and count.
//! - Every received ARP packet: [`NeighborCache::process_arp`], which learns per RFC 826 and
//!   says whether to reply and which pending address was just resolved (send what was held).
//! - In each send phase: [`NeighborCache::poll_requests`] until `None`, sending one ARP request
//!   per address it returns (retries of outstanding resolutions), and
//!   [`NeighborCache::next_deadline`] to know when to call it again.
//!
//! ## Bounds
//!
//! Lookups scan the table (`O(N)`; a host has few on-link neighbours, N is small). At most
//! `max_pending` resolutions are in progress at once and each address is asked for at most once
//! per `retry_interval`, so the cache emits at most `max_pending` requests per
//! `retry_interval` whatever the traffic (RFC 1122 2.3.2.1 asks for at most one request per
//! second per address).
//!
//! ## Learning policy (hostile links)
//!
//! Following RFC 826: a packet whose sender is already in the table refreshes it; a packet
//! addressed to us (target protocol address = ours) adds its sender. Unsolicited learning
//! (a request to us from a host we do not know) takes only a free or dead slot and never evicts
//! a live entry, so a flood of forged requests cannot flush the neighbours in use. Senders with
//! a multicast, broadcast or zero MAC, or an unspecified or non-unicast IPv4 address, are
//! ignored. Answers for a pending address always land (they are what was asked for).

use crate::time::{Duration, Instant};
use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::EthernetAddress;
use crate::wire::ipv4::Ipv4Address;

/// Timing and bounds of a [`NeighborCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NeighborConfig {
    /// How long a learnt MAC is used without confirmation.
    pub reachable_time: Duration,
    /// How long after `reachable_time` a stale MAC is still used while it is being confirmed
    /// (`FoundRefresh`); after that the entry is forgotten.
    pub stale_time: Duration,
    /// Least time between two requests for the same address.
    pub retry_interval: Duration,
    /// Requests sent for an address before it is declared unreachable.
    pub max_requests: u8,
    /// How long an unreachable address answers `Unreachable` before a new resolution.
    pub failure_hold: Duration,
    /// Most resolutions in progress at once (clamped to the capacity).
    pub max_pending: usize,
}

impl Default for NeighborConfig {
    /// 60 s reachable, 30 s stale, 1 s between requests, 3 requests, 5 s hold, 8 pending.
    fn default() -> NeighborConfig {
        NeighborConfig {
            reachable_time: Duration::from_secs(60),
            stale_time: Duration::from_secs(30),
            retry_interval: Duration::from_secs(1),
            max_requests: 3,
            failure_hold: Duration::from_secs(5),
            max_pending: 8,
        }
    }
}

/// What to do about a packet for a neighbour (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// Send to this MAC.
    Found(EthernetAddress),
    /// Send to this MAC, and send an ARP request for the address too (the entry is stale).
    FoundRefresh(EthernetAddress),
    /// Unknown: send an ARP request now and hold the packet.
    SendRequest,
    /// A request is outstanding; hold the packet (or drop it) and try again later.
    Pending,
    /// Recent requests got no answer: drop the packet and report the neighbour unreachable.
    Unreachable,
    /// No room for another resolution (`max_pending` reached or the table holds only
    /// resolutions in progress): drop and count.
    Busy,
}

/// What [`NeighborCache::process_arp`] found in an ARP packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ArpOutcome {
    /// The reply to send (the packet was a request for our address).
    pub reply: Option<ArpRepr>,
    /// An address whose resolution was pending (or whose entry was stale) and is now known:
    /// send the packets held for it.
    pub resolved: Option<Ipv4Address>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Empty,
    /// Known; usable until `expires_at`, then stale until `expires_at + stale_time`.
    Known {
        mac: EthernetAddress,
        expires_at: Instant,
        /// Refresh requests sent while stale, and when the last one went.
        refreshes: u8,
        last_request: Instant,
    },
    /// Resolution in progress.
    Pending {
        requests: u8,
        last_request: Instant,
    },
    /// No answer; `Unreachable` until `until`.
    Failed {
        until: Instant,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ip: Ipv4Address,
    state: State,
    last_used: Instant,
}

impl Entry {
    const EMPTY: Entry = Entry {
        ip: Ipv4Address::UNSPECIFIED,
        state: State::Empty,
        last_used: Instant::ZERO,
    };
}

/// A fixed-capacity ARP neighbour cache of `N` entries (no allocation).
#[derive(Clone, Debug)]
pub struct NeighborCache<const N: usize> {
    entries: [Entry; N],
    config: NeighborConfig,
}

impl<const N: usize> NeighborCache<N> {
    /// An empty cache.
    pub const fn new(config: NeighborConfig) -> NeighborCache<N> {
        NeighborCache {
            entries: [Entry::EMPTY; N],
            config,
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &NeighborConfig {
        &self.config
    }

    /// Entries in use (known, pending or failed).
    pub fn len(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.state != State::Empty)
            .count()
    }

    /// Whether no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Most resolutions in progress at once: the configured `max_pending`, at most the
    /// capacity.
    pub fn max_pending(&self) -> usize {
        self.config.max_pending.min(N)
    }

    fn pending_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, State::Pending { .. }))
            .count()
    }

    fn find(&self, ip: Ipv4Address) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.state != State::Empty && e.ip == ip)
    }

    /// Whether an entry is dead at `now` (its slot may be reused without loss).
    fn is_dead(&self, e: &Entry, now: Instant) -> bool {
        match e.state {
            State::Empty => true,
            State::Known { expires_at, .. } => now >= expires_at + self.config.stale_time,
            State::Failed { until } => now >= until,
            State::Pending { .. } => false,
        }
    }

    /// A slot for a new entry: free or dead first, else (when `may_evict`) the least recently
    /// used known or failed entry. Pending entries are never evicted.
    fn victim(&self, now: Instant, may_evict: bool) -> Option<usize> {
        if let Some(i) = self.entries.iter().position(|e| self.is_dead(e, now)) {
            return Some(i);
        }
        if !may_evict {
            return None;
        }
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !matches!(e.state, State::Pending { .. }))
            .min_by_key(|(_, e)| e.last_used)
            .map(|(i, _)| i)
    }

    /// The MAC of `ip` if it is known and not stale at `now`. Does not change the cache.
    pub fn lookup(&self, ip: Ipv4Address, now: Instant) -> Option<EthernetAddress> {
        let e = &self.entries[self.find(ip)?];
        match e.state {
            State::Known {
                mac, expires_at, ..
            } if now < expires_at => Some(mac),
            _ => None,
        }
    }

    /// What to do about a packet for next hop `ip` at `now` (see [`Resolution`]). Records
    /// the request it asks the caller to send.
    pub fn resolve(&mut self, ip: Ipv4Address, now: Instant) -> Resolution {
        let cfg = self.config;
        if let Some(i) = self.find(ip) {
            let dead = self.is_dead(&self.entries[i], now);
            let e = &mut self.entries[i];
            e.last_used = now;
            match &mut e.state {
                State::Known {
                    mac,
                    expires_at,
                    refreshes,
                    last_request,
                } if !dead => {
                    if now < *expires_at {
                        return Resolution::Found(*mac);
                    }
                    let due = *refreshes == 0 || now >= *last_request + cfg.retry_interval;
                    if due && *refreshes < cfg.max_requests {
                        *refreshes += 1;
                        *last_request = now;
                        return Resolution::FoundRefresh(*mac);
                    }
                    return Resolution::Found(*mac);
                }
                State::Pending {
                    requests,
                    last_request,
                } => {
                    if now < *last_request + cfg.retry_interval {
                        return Resolution::Pending;
                    }
                    if *requests >= cfg.max_requests {
                        e.state = State::Failed {
                            until: now + cfg.failure_hold,
                        };
                        return Resolution::Unreachable;
                    }
                    *requests += 1;
                    *last_request = now;
                    return Resolution::SendRequest;
                }
                State::Failed { until } if now < *until => return Resolution::Unreachable,
                _ => {
                    // Dead known entry or expired failure: start over in this slot.
                    if self.pending_count() >= self.max_pending() {
                        return Resolution::Busy;
                    }
                    self.entries[i].state = State::Pending {
                        requests: 1,
                        last_request: now,
                    };
                    return Resolution::SendRequest;
                }
            }
        }
        if self.pending_count() >= self.max_pending() {
            return Resolution::Busy;
        }
        let Some(i) = self.victim(now, true) else {
            return Resolution::Busy;
        };
        self.entries[i] = Entry {
            ip,
            state: State::Pending {
                requests: 1,
                last_request: now,
            },
            last_used: now,
        };
        Resolution::SendRequest
    }

    /// Records that `ip` is at `mac` (from a reply to our request, or configured statically).
    /// Returns whether this resolved a pending address (or confirmed a stale one), whose held
    /// packets can now go. Never evicts a pending entry; evicts the least recently used entry
    /// when the table is full.
    pub fn fill(&mut self, ip: Ipv4Address, mac: EthernetAddress, now: Instant) -> bool {
        self.learn(ip, mac, now, true)
    }

    fn learn(
        &mut self,
        ip: Ipv4Address,
        mac: EthernetAddress,
        now: Instant,
        may_evict: bool,
    ) -> bool {
        let known = Entry {
            ip,
            state: State::Known {
                mac,
                expires_at: now + self.config.reachable_time,
                refreshes: 0,
                last_request: now,
            },
            last_used: now,
        };
        if let Some(i) = self.find(ip) {
            let was_waiting = match self.entries[i].state {
                State::Pending { .. } => true,
                State::Known { expires_at, .. } => now >= expires_at,
                _ => false,
            };
            let last_used = self.entries[i].last_used;
            self.entries[i] = Entry { last_used, ..known };
            return was_waiting;
        }
        if let Some(i) = self.victim(now, may_evict) {
            self.entries[i] = known;
        }
        false
    }

    /// Learns from a received ARP packet (module docs: learning policy) and says whether to
    /// reply. `our_ip` is the interface address; `our_mac` the interface MAC for the reply.
    pub fn process_arp(
        &mut self,
        arp: &ArpRepr,
        our_ip: Ipv4Address,
        our_mac: EthernetAddress,
        now: Instant,
    ) -> ArpOutcome {
        let mut outcome = ArpOutcome::default();
        let sender_ok = arp.source_hardware_addr.is_unicast()
            && arp.source_protocol_addr.is_unicast()
            && arp.source_protocol_addr != our_ip;
        let for_us = arp.target_protocol_addr == our_ip;
        if sender_ok {
            let ip = arp.source_protocol_addr;
            let mac = arp.source_hardware_addr;
            if self.find(ip).is_some() {
                if self.learn(ip, mac, now, false) {
                    outcome.resolved = Some(ip);
                }
            } else if for_us {
                self.learn(ip, mac, now, false);
            }
        }
        if for_us && arp.operation == ArpOperation::Request && sender_ok {
            outcome.reply = Some(ArpRepr::reply_to(arp, our_mac));
        }
        outcome
    }

    /// The next address whose outstanding resolution is due for another request at `now`; the
    /// cache records the request as sent, so call it until `None` and send one request per
    /// address. Resolutions that used up `max_requests` become unreachable here.
    pub fn poll_requests(&mut self, now: Instant) -> Option<Ipv4Address> {
        let cfg = self.config;
        for e in &mut self.entries {
            if let State::Pending {
                requests,
                last_request,
            } = &mut e.state
            {
                if now < *last_request + cfg.retry_interval {
                    continue;
                }
                if *requests >= cfg.max_requests {
                    e.state = State::Failed {
                        until: now + cfg.failure_hold,
                    };
                    continue;
                }
                *requests += 1;
                *last_request = now;
                return Some(e.ip);
            }
        }
        None
    }

    /// When [`poll_requests`](Self::poll_requests) next has work: the earliest retry or
    /// give-up time of an outstanding resolution.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| match e.state {
                State::Pending { last_request, .. } => {
                    Some(last_request + self.config.retry_interval)
                }
                _ => None,
            })
            .min()
    }

    /// Forgets `ip`.
    pub fn remove(&mut self, ip: Ipv4Address) {
        if let Some(i) = self.find(ip) {
            self.entries[i] = Entry::EMPTY;
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries = [Entry::EMPTY; N];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUR_IP: Ipv4Address = Ipv4Address([198, 18, 0, 1]);
    const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    fn ip(n: u8) -> Ipv4Address {
        Ipv4Address([198, 18, 0, n])
    }
    fn mac(n: u8) -> EthernetAddress {
        EthernetAddress([2, 0, 0, 0, 1, n])
    }
    fn secs(s: u64) -> Instant {
        Instant::from_secs(s)
    }
    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }
    fn reply_from(n: u8) -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Reply,
            source_hardware_addr: mac(n),
            source_protocol_addr: ip(n),
            target_hardware_addr: OUR_MAC,
            target_protocol_addr: OUR_IP,
        }
    }

    #[test]
    fn miss_requests_then_reply_resolves() {
        let mut c = NeighborCache::<4>::new(NeighborConfig::default());
        assert_eq!(c.lookup(ip(2), secs(0)), None);
        assert_eq!(c.resolve(ip(2), secs(0)), Resolution::SendRequest);
        // Rate limited: no second request within the retry interval.
        assert_eq!(c.resolve(ip(2), ms(500)), Resolution::Pending);
        assert_eq!(c.poll_requests(ms(500)), None);
        assert_eq!(c.next_deadline(), Some(secs(1)));
        let out = c.process_arp(&reply_from(2), OUR_IP, OUR_MAC, ms(700));
        assert_eq!(out.resolved, Some(ip(2)));
        assert_eq!(out.reply, None);
        assert_eq!(c.resolve(ip(2), ms(800)), Resolution::Found(mac(2)));
        assert_eq!(c.lookup(ip(2), ms(800)), Some(mac(2)));
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn retries_then_unreachable_then_retry_after_hold() {
        let cfg = NeighborConfig::default();
        let mut c = NeighborCache::<4>::new(cfg);
        assert_eq!(c.resolve(ip(2), secs(0)), Resolution::SendRequest);
        assert_eq!(c.poll_requests(secs(1)), Some(ip(2)));
        assert_eq!(c.poll_requests(secs(1)), None);
        assert_eq!(c.resolve(ip(2), secs(2)), Resolution::SendRequest);
        // Three requests sent; the next due time gives up.
        assert_eq!(c.resolve(ip(2), ms(2500)), Resolution::Pending);
        assert_eq!(c.resolve(ip(2), secs(3)), Resolution::Unreachable);
        assert_eq!(c.resolve(ip(2), secs(7)), Resolution::Unreachable);
        assert_eq!(c.next_deadline(), None);
        // After the hold a new resolution starts.
        assert_eq!(c.resolve(ip(2), secs(8)), Resolution::SendRequest);
    }

    #[test]
    fn poll_gives_up_too() {
        let mut c = NeighborCache::<2>::new(NeighborConfig::default());
        c.resolve(ip(2), secs(0));
        assert_eq!(c.poll_requests(secs(1)), Some(ip(2)));
        assert_eq!(c.poll_requests(secs(2)), Some(ip(2)));
        assert_eq!(c.poll_requests(secs(3)), None);
        assert_eq!(c.resolve(ip(2), secs(3)), Resolution::Unreachable);
    }

    #[test]
    fn pending_is_bounded() {
        let cfg = NeighborConfig {
            max_pending: 2,
            ..NeighborConfig::default()
        };
        let mut c = NeighborCache::<8>::new(cfg);
        assert_eq!(c.resolve(ip(2), secs(0)), Resolution::SendRequest);
        assert_eq!(c.resolve(ip(3), secs(0)), Resolution::SendRequest);
        assert_eq!(c.resolve(ip(4), secs(0)), Resolution::Busy);
        // A table full of pending entries is busy too.
        let mut small = NeighborCache::<2>::new(NeighborConfig::default());
        small.resolve(ip(2), secs(0));
        small.resolve(ip(3), secs(0));
        assert_eq!(small.resolve(ip(4), secs(0)), Resolution::Busy);
        // Requests over time stay within max_pending per retry interval.
        let mut c = NeighborCache::<8>::new(cfg);
        let mut sent = 0;
        for t in 0..1000u64 {
            let now = ms(t);
            let target = ip(2 + (t % 50) as u8);
            if c.resolve(target, now) == Resolution::SendRequest {
                sent += 1;
            }
            while c.poll_requests(now).is_some() {
                sent += 1;
            }
        }
        assert!(sent <= 2, "sent {sent} requests in one retry interval");
    }

    #[test]
    fn expiry_refresh_and_forgetting() {
        let mut c = NeighborCache::<4>::new(NeighborConfig::default());
        assert!(!c.fill(ip(2), mac(2), secs(0)));
        assert_eq!(c.resolve(ip(2), secs(59)), Resolution::Found(mac(2)));
        // Stale: still used, a refresh request is asked for, rate limited.
        assert_eq!(c.lookup(ip(2), secs(60)), None);
        assert_eq!(c.resolve(ip(2), secs(60)), Resolution::FoundRefresh(mac(2)));
        assert_eq!(c.resolve(ip(2), ms(60_500)), Resolution::Found(mac(2)));
        assert_eq!(c.resolve(ip(2), secs(61)), Resolution::FoundRefresh(mac(2)));
        // The answer renews it.
        let out = c.process_arp(&reply_from(2), OUR_IP, OUR_MAC, secs(62));
        assert_eq!(out.resolved, Some(ip(2)));
        assert_eq!(c.resolve(ip(2), secs(100)), Resolution::Found(mac(2)));
        // Unconfirmed past reachable + stale: forgotten, a new resolution starts.
        assert_eq!(c.resolve(ip(2), secs(62 + 90)), Resolution::SendRequest);
    }

    #[test]
    fn answers_requests_for_us_and_learns_requester() {
        let mut c = NeighborCache::<4>::new(NeighborConfig::default());
        let req = ArpRepr::request(mac(5), ip(5), OUR_IP);
        let out = c.process_arp(&req, OUR_IP, OUR_MAC, secs(0));
        let reply = out.reply.unwrap();
        assert_eq!(reply.operation, ArpOperation::Reply);
        assert_eq!(reply.source_hardware_addr, OUR_MAC);
        assert_eq!(reply.source_protocol_addr, OUR_IP);
        assert_eq!(reply.target_hardware_addr, mac(5));
        assert_eq!(reply.target_protocol_addr, ip(5));
        assert_eq!(c.lookup(ip(5), secs(1)), Some(mac(5)));
        // A request for someone else: no reply, and its sender is not learnt.
        let other = ArpRepr::request(mac(6), ip(6), ip(9));
        assert_eq!(
            c.process_arp(&other, OUR_IP, OUR_MAC, secs(0)),
            ArpOutcome::default()
        );
        assert_eq!(c.lookup(ip(6), secs(1)), None);
        // ... but a known sender's new MAC is picked up (RFC 826 merge).
        let moved = ArpRepr::request(mac(7), ip(5), ip(9));
        c.process_arp(&moved, OUR_IP, OUR_MAC, secs(2));
        assert_eq!(c.lookup(ip(5), secs(3)), Some(mac(7)));
    }

    #[test]
    fn hostile_senders_are_ignored() {
        let mut c = NeighborCache::<4>::new(NeighborConfig::default());
        for (sha, spa) in [
            (EthernetAddress::BROADCAST, ip(2)),
            (EthernetAddress([1, 0, 0x5e, 0, 0, 1]), ip(2)),
            (EthernetAddress::ZERO, ip(2)),
            (mac(2), Ipv4Address::UNSPECIFIED),
            (mac(2), Ipv4Address::new(224, 0, 0, 1)),
            (mac(2), OUR_IP),
        ] {
            let req = ArpRepr::request(sha, spa, OUR_IP);
            let out = c.process_arp(&req, OUR_IP, OUR_MAC, secs(0));
            assert_eq!(out, ArpOutcome::default(), "{sha} {spa}");
        }
        assert!(c.is_empty());
    }

    #[test]
    fn unsolicited_flood_does_not_evict_live_entries() {
        let mut c = NeighborCache::<2>::new(NeighborConfig::default());
        c.fill(ip(2), mac(2), secs(0));
        c.fill(ip(3), mac(3), secs(0));
        for n in 10..200u8 {
            let req = ArpRepr::request(mac(n), ip(n), OUR_IP);
            // Still answered, never learnt over a live entry.
            assert!(
                c.process_arp(&req, OUR_IP, OUR_MAC, secs(1))
                    .reply
                    .is_some()
            );
        }
        assert_eq!(c.lookup(ip(2), secs(1)), Some(mac(2)));
        assert_eq!(c.lookup(ip(3), secs(1)), Some(mac(3)));
        // Explicit fills and new resolutions evict the least recently used.
        c.resolve(ip(3), secs(2));
        c.fill(ip(4), mac(4), secs(3));
        assert_eq!(c.lookup(ip(2), secs(3)), None);
        assert_eq!(c.lookup(ip(3), secs(3)), Some(mac(3)));
        assert_eq!(c.len(), 2);
        c.remove(ip(3));
        assert_eq!(c.len(), 1);
        c.clear();
        assert!(c.is_empty());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Resolve(u8),
        Reply(u8, u8),
        Request(u8, u8, bool),
        Fill(u8, u8),
        Poll,
    }

    fn arb_op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0u8..12).prop_map(Op::Resolve),
            2 => (0u8..12, 0u8..4).prop_map(|(a, m)| Op::Reply(a, m)),
            2 => (0u8..12, 0u8..4, any::<bool>()).prop_map(|(a, m, us)| Op::Request(a, m, us)),
            1 => (0u8..12, 0u8..4).prop_map(|(a, m)| Op::Fill(a, m)),
            2 => Just(Op::Poll),
        ]
    }

    proptest::proptest! {
        /// Any sequence of lookups, ARP traffic and polls keeps the bounds: at most
        /// `max_pending` resolutions, at most `N` entries, and at most `N + max_pending`
        /// requests asked for in any `retry_interval`; a `Found` MAC is one that was learnt.
        #[test]
        fn random_operations_keep_bounds(ops in proptest::collection::vec((arb_op(), 0u64..400), 1..300)) {
            const N: usize = 6;
            let cfg = NeighborConfig { max_pending: 3, ..NeighborConfig::default() };
            let mut c = NeighborCache::<N>::new(cfg);
            let mut now = Instant::ZERO;
            let mut asked: Vec<Instant> = Vec::new();
            let mut learnt: Vec<(Ipv4Address, EthernetAddress)> = Vec::new();
            for (op, step) in ops {
                now += Duration::from_millis(step);
                match op {
                    Op::Resolve(a) => match c.resolve(ip(10 + a), now) {
                        Resolution::SendRequest => asked.push(now),
                        r @ (Resolution::FoundRefresh(m) | Resolution::Found(m)) => {
                            proptest::prop_assert!(learnt.contains(&(ip(10 + a), m)));
                            if matches!(r, Resolution::FoundRefresh(_)) {
                                asked.push(now);
                            }
                            if matches!(c.resolve(ip(10 + a), now), Resolution::FoundRefresh(_)) {
                                proptest::prop_assert!(false, "refresh asked twice at once");
                            }
                        }
                        _ => {}
                    },
                    Op::Reply(a, m) => {
                        let arp = reply_from(10 + a);
                        let arp = ArpRepr { source_hardware_addr: mac(m), ..arp };
                        learnt.push((ip(10 + a), mac(m)));
                        c.process_arp(&arp, OUR_IP, OUR_MAC, now);
                    }
                    Op::Request(a, m, to_us) => {
                        let target = if to_us { OUR_IP } else { ip(99) };
                        learnt.push((ip(10 + a), mac(m)));
                        let out = c.process_arp(&ArpRepr::request(mac(m), ip(10 + a), target), OUR_IP, OUR_MAC, now);
                        proptest::prop_assert_eq!(out.reply.is_some(), to_us);
                    }
                    Op::Fill(a, m) => {
                        learnt.push((ip(10 + a), mac(m)));
                        c.fill(ip(10 + a), mac(m), now);
                    }
                    Op::Poll => {
                        while c.poll_requests(now).is_some() {
                            asked.push(now);
                        }
                    }
                }
                proptest::prop_assert!(c.pending_count() <= cfg.max_pending);
                proptest::prop_assert!(c.len() <= N);
                let window = asked.iter().filter(|t| now - **t < cfg.retry_interval).count();
                proptest::prop_assert!(window <= N + cfg.max_pending, "{} requests in one interval", window);
            }
        }
    }

    #[test]
    fn huge_durations_saturate() {
        let cfg = NeighborConfig {
            reachable_time: Duration::MAX,
            stale_time: Duration::MAX,
            retry_interval: Duration::MAX,
            failure_hold: Duration::MAX,
            max_requests: 0,
            max_pending: usize::MAX,
        };
        let mut c = NeighborCache::<2>::new(cfg);
        let late = Instant::from_micros(u64::MAX - 1_000_000);
        c.fill(ip(2), mac(2), late);
        assert_eq!(c.resolve(ip(2), late), Resolution::Found(mac(2)));
        assert_eq!(c.resolve(ip(3), late), Resolution::SendRequest);
        assert_eq!(c.resolve(ip(3), late), Resolution::Pending);
        assert_eq!(c.poll_requests(late), None);
        assert_eq!(c.next_deadline(), Some(Instant::MAX));
        // At the end of time nothing overflows (everything has expired).
        c.resolve(ip(2), Instant::MAX);
        c.resolve(ip(3), Instant::MAX);
        c.poll_requests(Instant::MAX);
    }

    #[test]
    fn pending_entries_are_not_evicted() {
        let mut c = NeighborCache::<2>::new(NeighborConfig::default());
        c.resolve(ip(2), secs(0));
        c.fill(ip(3), mac(3), secs(0));
        c.fill(ip(4), mac(4), secs(1));
        // ip(3) (known) was evicted, ip(2) (pending) kept.
        assert_eq!(c.lookup(ip(3), secs(1)), None);
        assert_eq!(c.resolve(ip(2), ms(1500)), Resolution::SendRequest);
        assert!(
            c.process_arp(&reply_from(2), OUR_IP, OUR_MAC, secs(2))
                .resolved
                == Some(ip(2))
        );
    }
}
