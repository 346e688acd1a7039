//! Ephemeral local port selection, RFC 6056 algorithm 3 ("simple hash-based"):
//! `port = first + (counter + F(local addr, remote addr, remote port, secret)) mod range`.
//!
//! Each destination gets its own secret offset into the range, so a peer learns nothing about
//! the ports used toward others; a global counter advances on every attempt, so consecutive
//! connections to one destination take consecutive ports and reuse is as late as possible.
//! A port is skipped when the caller says it is in use (with [`EphemeralPorts::allocate_in`]:
//! when the tuple map holds that 4-tuple or a listener on that local port). The search stops
//! after one pass over the range with an explicit [`TableError::PortsExhausted`]: bounded work.
//!
//! An optional *steering filter* (`allocate_steered_hashed_in`, used by the endpoint's
//! [`set_port_steering`](crate::endpoint::Endpoint::set_port_steering)) may refuse ports
//! too: a host with one endpoint per receive queue (RSS) accepts only ports whose replies the
//! NIC steers to its own queue. Refused ports are skipped like ports in use, within the same
//! one pass, and the error says how many the filter refused. Without a filter no indirect
//! call is made.

use core::fmt;
use core::net::Ipv4Addr;

use super::siphash::{HashSecret, sip24};
use super::tuple_map::{Bucket, TupleHasher, TupleMap};
use super::{FourTuple, TableError};

/// An inclusive range of local ports to allocate from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

/// A [`PortRange`] that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPortRange {
    /// First port asked for.
    pub first: u16,
    /// Last port asked for.
    pub last: u16,
}

impl fmt::Display for InvalidPortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid ephemeral port range {}-{}: it must be non-empty and not include port 0",
            self.first, self.last
        )
    }
}

impl PortRange {
    /// The IANA dynamic range, 49152-65535 (RFC 6335), the default.
    pub const IANA: PortRange = PortRange {
        first: 49152,
        last: 65535,
    };

    /// Ports `first..=last`.
    ///
    /// # Errors
    /// An empty range or one containing port 0.
    pub const fn new(first: u16, last: u16) -> Result<PortRange, InvalidPortRange> {
        if first == 0 || first > last {
            Err(InvalidPortRange { first, last })
        } else {
            Ok(PortRange { first, last })
        }
    }

    /// The first port.
    pub const fn first(self) -> u16 {
        self.first
    }

    /// The last port.
    pub const fn last(self) -> u16 {
        self.last
    }

    /// Number of ports.
    pub const fn len(self) -> u32 {
        self.last as u32 - self.first as u32 + 1
    }

    /// Never true (ranges are non-empty); present for API symmetry with `len`.
    pub const fn is_empty(self) -> bool {
        false
    }

    /// `port` lies in the range.
    pub const fn contains(self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange::IANA
    }
}

/// Chooses ephemeral local ports (RFC 6056 algorithm 3).
#[derive(Clone, Debug)]
pub struct EphemeralPorts {
    range: PortRange,
    secret: HashSecret,
    counter: u32,
    /// The last destination's hash input and offset: a client opening many connections to one
    /// server hashes once (the offset is a function of these bytes and the secret only).
    last: Option<([u8; 10], u32)>,
}

impl EphemeralPorts {
    /// An allocator over `range`, keyed with `secret` (use one derived for this purpose, see
    /// [`HashSecret::derive`]).
    pub const fn new(range: PortRange, secret: HashSecret) -> Self {
        EphemeralPorts {
            range,
            secret,
            counter: 0,
            last: None,
        }
    }

    /// The range ports come from.
    pub const fn range(&self) -> PortRange {
        self.range
    }

    /// A local port for a connection from `local_addr` to `remote_addr:remote_port` for which
    /// `in_use(port)` is false. Calls `in_use` at most once per port of the range.
    ///
    /// # Errors
    /// [`TableError::PortsExhausted`] when every port of the range is in use toward this
    /// destination.
    pub fn allocate(
        &mut self,
        local_addr: Ipv4Addr,
        remote_addr: Ipv4Addr,
        remote_port: u16,
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Result<u16, TableError> {
        let mut bytes = [0u8; 10];
        bytes[..4].copy_from_slice(&local_addr.octets());
        bytes[4..8].copy_from_slice(&remote_addr.octets());
        bytes[8..].copy_from_slice(&remote_port.to_be_bytes());
        let offset = match self.last {
            Some((last, offset)) if last == bytes => offset,
            _ => {
                let offset = sip24(&self.secret, &bytes) as u32;
                self.last = Some((bytes, offset));
                offset
            }
        };
        let count = self.range.len();
        for _ in 0..count {
            let port = self.range.first as u32 + self.counter.wrapping_add(offset) % count;
            self.counter = self.counter.wrapping_add(1);
            let port = port as u16;
            if !in_use(port) {
                return Ok(port);
            }
        }
        Err(TableError::PortsExhausted {
            remote_addr,
            remote_port,
            range: self.range,
            steered_away: 0,
        })
    }

    /// [`allocate`](Self::allocate) with the map deciding what is in use: the exact 4-tuple, or
    /// a listener on the port at `local_addr` or at the wildcard address.
    ///
    /// # Errors
    /// [`TableError::PortsExhausted`] as for `allocate`.
    pub fn allocate_in<S, H>(
        &mut self,
        map: &TupleMap<S, H>,
        local_addr: Ipv4Addr,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> Result<u16, TableError>
    where
        S: AsRef<[Bucket]> + AsMut<[Bucket]>,
        H: TupleHasher,
    {
        self.allocate_hashed_in(map, local_addr, remote_addr, remote_port)
            .map(|(port, _)| port)
    }

    /// [`allocate_in`](Self::allocate_in), with the map hasher's hash of the 4-tuple of the
    /// port it returns (hashed to check that the tuple is free), for registering it without
    /// hashing it again.
    ///
    /// # Errors
    /// As [`allocate_in`](Self::allocate_in).
    pub(crate) fn allocate_hashed_in<S, H>(
        &mut self,
        map: &TupleMap<S, H>,
        local_addr: Ipv4Addr,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> Result<(u16, u32), TableError>
    where
        S: AsRef<[Bucket]> + AsMut<[Bucket]>,
        H: TupleHasher,
    {
        self.allocate_accepted_hashed_in(map, local_addr, remote_addr, remote_port, |_| true)
    }

    /// [`allocate_hashed_in`](Self::allocate_hashed_in) taking only ports for whose 4-tuple
    /// `steer` is true (tried before the map, at most once per port of the range). On failure
    /// the error counts the ports `steer` refused (`steered_away`; the whole range: no port of
    /// it steers here).
    ///
    /// # Errors
    /// [`TableError::PortsExhausted`] when no port of the range is both free and accepted.
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub(crate) fn allocate_steered_hashed_in<S, H>(
        &mut self,
        map: &TupleMap<S, H>,
        local_addr: Ipv4Addr,
        remote_addr: Ipv4Addr,
        remote_port: u16,
        steer: &dyn Fn(&FourTuple) -> bool,
    ) -> Result<(u16, u32), TableError>
    where
        S: AsRef<[Bucket]> + AsMut<[Bucket]>,
        H: TupleHasher,
    {
        let mut refused = 0u32;
        let found =
            self.allocate_accepted_hashed_in(map, local_addr, remote_addr, remote_port, |t| {
                let ok = steer(t);
                refused += u32::from(!ok);
                ok
            });
        match found {
            Err(TableError::PortsExhausted {
                remote_addr,
                remote_port,
                range,
                ..
            }) => Err(TableError::PortsExhausted {
                remote_addr,
                remote_port,
                range,
                steered_away: refused,
            }),
            other => other,
        }
    }

    /// The search behind both: a port is taken when `accept` takes its 4-tuple and the map
    /// holds neither the tuple nor a listener on the port.
    #[inline(always)]
    fn allocate_accepted_hashed_in<S, H>(
        &mut self,
        map: &TupleMap<S, H>,
        local_addr: Ipv4Addr,
        remote_addr: Ipv4Addr,
        remote_port: u16,
        mut accept: impl FnMut(&FourTuple) -> bool,
    ) -> Result<(u16, u32), TableError>
    where
        S: AsRef<[Bucket]> + AsMut<[Bucket]>,
        H: TupleHasher,
    {
        // Without listeners in the map (a host that only connects) only the 4-tuple can clash.
        let listeners = map.holds_listeners();
        let mut hash = 0;
        let port = self.allocate(local_addr, remote_addr, remote_port, |port| {
            let tuple = FourTuple::new(local_addr, port, remote_addr, remote_port);
            if !accept(&tuple) {
                return true;
            }
            hash = map.hasher().hash_tuple(&tuple);
            map.get_hashed(&tuple, hash).is_some()
                || listeners && map.get(&FourTuple::listener(local_addr, port)).is_some()
                || listeners
                    && map
                        .get(&FourTuple::listener(Ipv4Addr::UNSPECIFIED, port))
                        .is_some()
        })?;
        Ok((port, hash))
    }
}
