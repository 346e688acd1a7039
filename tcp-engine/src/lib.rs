//! # tcp-engine: an allocation-free TCP engine for a host fast path
//!
//! Owns the wire formats (Ethernet, ARP, IPv4, ICMP echo, TCP), the connection table (a keyed
//! 4-tuple hash map to generational slot keys and a slotmap of connection states), the RFC 9293
//! state machine, loss recovery, congestion control and the timers that are checked whenever the
//! user offers a send buffer.
//!
//! Knows nothing of hardware beyond the offload-capabilities interface in [`device`] (checksum
//! offload, TSO): it depends on no other ferrotoe crate. The CLI and the benches connect it to a
//! device.
//!
//! ## Module map
//!
//! | module | owns |
//! |---|---|
//! | [`seq`] | sequence-number arithmetic modulo 2^32 |
//! | [`segment`] | flags, options and the parsed TCP header shared by `wire` and the state machine |
//! | [`device`] | offload capabilities, per-frame TX/RX offload metadata, the `FrameDevice` trait |
//! | [`time`] | deterministic engine time (`Instant`, `Duration` in microseconds) |
//! | [`tcb`] | the per-connection RFC 9293 state machine, loss recovery, timers as deadlines, user buffers |
//! | [`checksum`] | the RFC 1071 ones' complement sum (wide, any length and alignment), pseudo-header sum, RFC 1624 incremental update |
//! | [`wire`] | zero-copy packet views and `Repr`s of Ethernet II, ARP, IPv4, ICMP echo and TCP (options included), one written panic contract, the typed [`wire::Error`]; [`wire::frame`]: the one-pass Ethernet+IPv4+TCP header builder of the transmit path and the receive-side frame parser that honours the device's checksum verdicts |
//! | [`neighbor`] | the fixed-capacity ARP neighbour cache: expiry, bounded and rate-limited resolution, RFC 826 learning |
//!
//! Everything but the TAP device needs neither `std` nor `alloc`
//! (`cargo build -p tcp-engine --no-default-features` builds it `no_std`).
//!
//! Modules arriving with issue #3: `table` (keyed hash map, slotmap, ISN generator, port
//! allocator), `endpoint` (the packet phases of the seed design), `tap` (Linux TAP device with
//! virtio-net offload header).
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(test)]
extern crate std;

pub mod checksum;
pub mod device;
pub mod neighbor;
pub mod segment;
pub mod seq;
pub mod tcb;
pub mod time;
pub mod wire;
