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
//!
//! Modules arriving with issue #3: `checksum` (fast ones' complement sums), `wire` (zero-copy
//! packet views and `Repr`s), `table` (keyed hash map, slotmap, ISN generator, port allocator),
//! `tcb` (the per-connection state machine), `endpoint` (the packet phases of the seed design),
//! `tap` (Linux TAP device with virtio-net offload header).
#![cfg_attr(not(feature = "std"), no_std)]

pub mod device;
pub mod segment;
pub mod seq;
pub mod table;
