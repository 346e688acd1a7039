#![no_std]
#![doc = include_str!("../SPEC.md")]
//!
//! # Crate layout
//!
//! - [`layout`]: the data model (bit fields, registers, blocks, descriptor layouts, enums).
//! - [`regs`]: the register map of BAR0, block by block.
//! - [`commands`]: queue command words.
//! - [`descriptors`]: TX/RX descriptors and completion entries, with typed encode/decode.
//! - [`enums`]: enumerated values (error codes, checksum status, ...).
//! - [`offload`]: capabilities, TSO flag masks and TX request validation, executable.
//! - [`rss`]: the Toeplitz hash.
//! - `render` (feature `render`, default): the generators of the committed artifacts.
//!
//! Depends on nothing. `rtl-sim` (the model, the RTL and the simulated device) and
//! `host-driver` depend on it; `tcp-engine` does not know it exists.

#[cfg(feature = "render")]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod commands;
pub mod descriptors;
pub mod enums;
pub mod layout;
pub mod offload;
pub mod regs;
pub mod rss;

#[cfg(feature = "render")]
pub mod render;

pub use commands::{CommandError, Opcode, QueueCommand};
pub use descriptors::{
    Completion, CompletionKind, DecodeError, RxDescriptor, TxDescriptor, TxOffloadRequest,
};
pub use enums::{CsumStatus, ErrorCode, Implementation, L4Csum, QueueKind, RssType};
pub use offload::{DeviceCaps, TsoFlagMasks, TxPlan, validate_tx_request};

/// Named numeric parameters of the contract, for the generators.
pub const CONSTANTS: &[layout::Constant] = &[
    layout::Constant {
        name: "VENDOR",
        value: regs::VENDOR as u64,
        doc: "Vendor code in the upper half of every block TYPE register",
    },
    layout::Constant {
        name: "SPEC_VERSION_MAJOR",
        value: regs::SPEC_VERSION_MAJOR as u64,
        doc: "Contract major version",
    },
    layout::Constant {
        name: "SPEC_VERSION_MINOR",
        value: regs::SPEC_VERSION_MINOR as u64,
        doc: "Contract minor version",
    },
    layout::Constant {
        name: "BAR0_SIZE",
        value: regs::BAR0_SIZE as u64,
        doc: "Bytes of BAR0",
    },
    layout::Constant {
        name: "RING_ALIGN",
        value: regs::RING_ALIGN,
        doc: "Alignment of ring base addresses in bytes",
    },
    layout::Constant {
        name: "MIN_L2_LEN",
        value: offload::MIN_L2_LEN as u64,
        doc: "Smallest L2_LEN (and smallest frame)",
    },
    layout::Constant {
        name: "MAX_L2_LEN",
        value: offload::MAX_L2_LEN as u64,
        doc: "Largest L2_LEN",
    },
    layout::Constant {
        name: "MIN_L3_LEN",
        value: offload::MIN_L3_LEN as u64,
        doc: "Smallest L3_LEN",
    },
    layout::Constant {
        name: "MAX_L3_LEN",
        value: offload::MAX_L3_LEN as u64,
        doc: "Largest L3_LEN",
    },
    layout::Constant {
        name: "MIN_TCP_LEN",
        value: offload::MIN_TCP_LEN as u64,
        doc: "Smallest TCP header (and L4_LEN with TSO)",
    },
    layout::Constant {
        name: "MAX_TCP_LEN",
        value: offload::MAX_TCP_LEN as u64,
        doc: "Largest TCP header (and L4_LEN with TSO)",
    },
    layout::Constant {
        name: "UDP_LEN",
        value: offload::UDP_LEN as u64,
        doc: "UDP header length (smallest L4 region of a UDP checksum request)",
    },
    layout::Constant {
        name: "IPV4_CSUM_OFFSET",
        value: offload::IPV4_CSUM_OFFSET as u64,
        doc: "Offset of the checksum field inside an IPv4 header",
    },
    layout::Constant {
        name: "TCP_CSUM_OFFSET",
        value: offload::TCP_CSUM_OFFSET as u64,
        doc: "Offset of the checksum field inside a TCP header",
    },
    layout::Constant {
        name: "UDP_CSUM_OFFSET",
        value: offload::UDP_CSUM_OFFSET as u64,
        doc: "Offset of the checksum field inside a UDP header",
    },
    layout::Constant {
        name: "IPPROTO_TCP",
        value: offload::IPPROTO_TCP as u64,
        doc: "IPv4 protocol number of TCP",
    },
    layout::Constant {
        name: "IPPROTO_UDP",
        value: offload::IPPROTO_UDP as u64,
        doc: "IPv4 protocol number of UDP",
    },
    layout::Constant {
        name: "ETHERTYPE_IPV4",
        value: offload::ETHERTYPE_IPV4 as u64,
        doc: "Ethertype of IPv4 (frame bytes 12-13)",
    },
    layout::Constant {
        name: "RSS_KEY_WORDS",
        value: regs::rss::KEY_WORDS as u64,
        doc: "32-bit words in the RSS key",
    },
    layout::Constant {
        name: "RSS_TABLE_ENTRIES",
        value: regs::rss::TABLE_ENTRIES as u64,
        doc: "Entries in the RSS indirection table",
    },
];
