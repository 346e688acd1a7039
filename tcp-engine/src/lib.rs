//! # tcp-engine: an allocation-free TCP engine for a host fast path
//!
//! Owns the wire formats (Ethernet, ARP, IPv4, ICMP echo and errors, TCP), the connection table (a keyed
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
//! | [`wire`] | zero-copy packet views and `Repr`s of Ethernet II, ARP, IPv4, ICMP (echo, destination unreachable, time exceeded, with the quoted datagram) and TCP (options included), one written panic contract, the typed [`wire::Error`]; [`wire::frame`]: the one-pass Ethernet+IPv4+TCP header builder of the transmit path and the receive-side frame parser that honours the device's checksum verdicts |
//! | [`neighbor`] | the fixed-capacity ARP neighbour cache: expiry, bounded and rate-limited resolution, RFC 826 learning |
//! | [`table`] | connection table: generational slotmap, keyed Robin Hood 4-tuple map, RFC 6528 ISNs, RFC 6056 ephemeral ports, RFC 4987 SYN cookies (no_std, no alloc) |
//! | [`endpoint`] | the seed's `Endpoint` and typed packet phases: receive (with in-place ARP, ICMP echo, RST and SYN-cookie answers, and RFC 5927-validated ICMP errors: RFC 1191 path MTU, hard and soft errors), two-phase transmit with timers checked on each offered buffer, connections over user buffers in a fixed-capacity table, a timer wheel and a ready queue (O(1) per segment), counters, a `FrameDevice` poll helper (software segmentation, receive-burst prefetching) |
//! | [`softnic`] | the NIC offload contract in software (SPEC 6.2 checksums, 6.3 TSO, 7.1 RX verification) for devices that stand in for the NIC |
//! | `link` (std) | in-memory two-ended link with seeded loss, duplication, reordering, corruption, delay, rate; simulated clock |
//! | `pcap` (std) | classic pcap writer and a capture wrapper for any `FrameDevice` |
//! | `tap` (std, Linux) | TAP device with the virtio-net header (kernel checksum and TSO offload); network-namespace helpers |
//! | `sys` (std, Linux, private) | every raw system call of the crate, each `unsafe` block with its `SAFETY:` argument |
//!
//! Everything but the std-only modules (`link`, `pcap`, `tap`) needs neither `std` nor `alloc`
//! (`cargo build -p tcp-engine --no-default-features` builds it `no_std`).
//!
#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(test)]
extern crate std;

pub mod checksum;
pub mod device;
pub mod endpoint;
#[cfg(feature = "std")]
pub mod link;
pub mod neighbor;
#[cfg(feature = "std")]
pub mod pcap;
pub mod segment;
pub mod seq;
pub mod softnic;
#[cfg(all(feature = "std", target_os = "linux"))]
mod sys;
pub mod table;
#[cfg(all(feature = "std", target_os = "linux"))]
pub mod tap;
pub mod tcb;
#[cfg(test)]
mod testutil;
pub mod time;
pub mod wire;
