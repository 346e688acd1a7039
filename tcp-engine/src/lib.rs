//! # tcp-engine: an allocation-free TCP engine for a host fast path
//!
//! Owns the wire formats (Ethernet, ARP, IPv4, ICMP echo, TCP), the connection table (a keyed
//! 4-tuple hash map to generational slot keys and a slotmap of connection states), the RFC 9293
//! state machine, loss recovery, congestion control and the timers that are checked whenever the
//! user offers a send buffer.
//!
//! Knows nothing of hardware beyond an offload-capabilities interface (checksum offload, TSO):
//! it depends on no other ferrotoe crate. The CLI and the benches connect it to a device.
//!
//! Status: the engine arrives with issue #3.
