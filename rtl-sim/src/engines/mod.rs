//! Bit-exact Rust reference models of the NIC's offload engines.
//!
//! Each function here is the behaviour of one RTL engine in `rtl-sim/rtl`, stated over whole
//! frames instead of stream beats:
//! - [`tx::process`]: validation (hw-spec rules F1-F10), then checksum insertion
//!   ([`tx_csum`]) or TCP segmentation ([`tso`]) — what the TX datapath puts on the wire
//!   ([`tx::process_split`] hands each frame over as headers and payload, without joining them,
//!   for a sink that takes pieces: the device model's path to the cable);
//! - [`rx::classify`]: receive checksum verification and the RSS hash input — what lands in
//!   the completion.
//!
//! The semantics are hw-spec's (`hw-spec/SPEC.md` sections 6 and 7); these models are their
//! executable form, the oracle the RTL is compared against, and the engines of the default
//! (`model`) device backend. They own frame arithmetic only: no registers, queues or DMA (that is
//! the device model's), and they never allocate — callers pass scratch buffers.

pub mod csum;
pub mod rx;
pub mod tso;
pub mod tx;
pub mod tx_csum;
