//! The register map of BAR0.
//!
//! BAR0 is a chain of discoverable blocks. Every block starts with the same three registers
//! ([`header`]): `TYPE` (vendor in the upper 16 bits, block type in the lower 16), `VERSION` and
//! `NEXT` (BAR offset of the next block, 0 ends the chain). A driver starts at offset 0, walks
//! the chain and finds each block by type; the bases given here are where the reference device
//! puts them, and a driver must not assume them.
//!
//! Per-queue registers live in [`RegisterArray`]s: element `i` of an array is at
//! `block base + array offset + i * stride`. How many elements exist is in
//! [`ident::QUEUE_COUNTS`].
//!
//! Queue state changes are command words written to a queue's `CMD` register (see
//! [`crate::commands`]); writing the producer pointer (`SET_PROD`) is the doorbell.
//!
//! All registers are 32 bits wide and must be accessed with aligned 32-bit reads and writes.
//! 64-bit quantities are split into `_LO`/`_HI` pairs; counters are read `HI`, `LO`, `HI` and the
//! read retried when the two `HI` values differ.

use crate::layout::{Access, BitField, Block, Register, RegisterArray};

/// PCI-style vendor code in the upper half of every block `TYPE` register.
pub const VENDOR: u16 = 0xF70E;

/// Major version of this contract. A driver refuses a device with a different major version.
pub const SPEC_VERSION_MAJOR: u16 = 1;
/// Minor version of this contract. Minor versions only add; older drivers keep working.
pub const SPEC_VERSION_MINOR: u16 = 0;

/// Size of BAR0 in bytes.
pub const BAR0_SIZE: u32 = 0x1_0000;

/// Alignment of every ring base address (descriptor and completion rings), in bytes.
pub const RING_ALIGN: u64 = 4096;

/// The `TYPE` word of a block of type `block_type`.
pub const fn type_word(block_type: u16) -> u32 {
    ((VENDOR as u32) << 16) | block_type as u32
}

/// The `SPEC_VERSION` word of this contract.
pub const fn spec_version_word() -> u32 {
    ((SPEC_VERSION_MAJOR as u32) << 16) | SPEC_VERSION_MINOR as u32
}

const fn reg(
    name: &'static str,
    offset: u32,
    access: Access,
    reset: u32,
    doc: &'static str,
    fields: &'static [BitField],
) -> Register {
    Register {
        name,
        offset,
        access,
        reset,
        doc,
        fields,
    }
}

const fn ro(name: &'static str, offset: u32, doc: &'static str) -> Register {
    reg(name, offset, Access::ReadOnly, 0, doc, &[])
}

/// The header every block starts with.
pub mod header {
    use super::*;

    /// `TYPE.VENDOR`: vendor code, always [`VENDOR`].
    pub const TYPE_VENDOR: BitField = BitField::new("VENDOR", 16, 16, "Vendor code");
    /// `TYPE.BLOCK`: block type.
    pub const TYPE_BLOCK: BitField = BitField::new("BLOCK", 0, 16, "Block type");
    /// Offset of `TYPE` within a block.
    pub const TYPE_OFFSET: u32 = 0x00;
    /// Offset of `VERSION` within a block.
    pub const VERSION_OFFSET: u32 = 0x04;
    /// Offset of `NEXT` within a block.
    pub const NEXT_OFFSET: u32 = 0x08;
    /// First offset after the header.
    pub const SIZE: u32 = 0x0C;

    /// The three header registers of a block with the given type word, version and next offset.
    pub const fn registers(type_id: u16, version: u32, next: u32) -> [Register; 3] {
        [
            reg(
                "TYPE",
                TYPE_OFFSET,
                Access::ReadOnly,
                super::type_word(type_id),
                "Vendor (upper 16 bits) and block type (lower 16 bits)",
                &[TYPE_VENDOR, TYPE_BLOCK],
            ),
            reg(
                "VERSION",
                VERSION_OFFSET,
                Access::ReadOnly,
                version,
                "Layout version of this block",
                &[],
            ),
            reg(
                "NEXT",
                NEXT_OFFSET,
                Access::ReadOnly,
                next,
                "BAR0 offset of the next block; 0 ends the chain",
                &[],
            ),
        ]
    }
}

/// Block type codes (lower 16 bits of `TYPE`).
pub mod block_type {
    /// Identity and capabilities.
    pub const IDENT: u16 = 0x0001;
    /// Global control and status.
    pub const CONTROL: u16 = 0x0002;
    /// Transmit queues.
    pub const TXQ: u16 = 0x0010;
    /// Receive queues.
    pub const RXQ: u16 = 0x0011;
    /// Completion queues.
    pub const CQ: u16 = 0x0012;
    /// Per-queue statistics.
    pub const STATS: u16 = 0x0020;
    /// Interrupt vectors.
    pub const IRQ: u16 = 0x0030;
    /// Receive-side scaling.
    pub const RSS: u16 = 0x0040;
}

/// Identity and capabilities: what this device is and what it can do. All read only.
pub mod ident {
    use super::*;

    /// Offset in BAR0. The chain starts here; this base is fixed for every build.
    pub const BASE: u32 = 0x0000;

    /// `SPEC_VERSION.MAJOR`.
    pub const SPEC_VERSION_MAJOR: BitField =
        BitField::new("MAJOR", 16, 16, "Contract major version");
    /// `SPEC_VERSION.MINOR`.
    pub const SPEC_VERSION_MINOR: BitField =
        BitField::new("MINOR", 0, 16, "Contract minor version");
    /// Version of this contract the device implements.
    pub const SPEC_VERSION: Register = reg(
        "SPEC_VERSION",
        0x0C,
        Access::ReadOnly,
        super::spec_version_word(),
        "Version of the hw-spec contract the device implements",
        &[SPEC_VERSION_MAJOR, SPEC_VERSION_MINOR],
    );

    /// `DEVICE_ID.IMPLEMENTATION`: see [`crate::enums::IMPLEMENTATION`].
    pub const DEVICE_ID_IMPLEMENTATION: BitField = BitField::new(
        "IMPLEMENTATION",
        0,
        8,
        "What implements the device (enum IMPLEMENTATION)",
    );
    /// `DEVICE_ID.REVISION`.
    pub const DEVICE_ID_REVISION: BitField =
        BitField::new("REVISION", 16, 16, "Implementation revision");
    /// Which implementation this is.
    pub const DEVICE_ID: Register = reg(
        "DEVICE_ID",
        0x10,
        Access::ReadOnly,
        0,
        "Implementation and revision (filled in by the device)",
        &[DEVICE_ID_IMPLEMENTATION, DEVICE_ID_REVISION],
    );

    /// Free-form build identifier (e.g. a source hash).
    pub const BUILD_ID: Register = ro(
        "BUILD_ID",
        0x14,
        "Build identifier of the implementation (filled in by the device)",
    );

    /// `CAPS.TX_IPV4_CSUM`.
    pub const CAPS_TX_IPV4_CSUM: BitField =
        BitField::new("TX_IPV4_CSUM", 0, 1, "Inserts IPv4 header checksums");
    /// `CAPS.TX_TCP_CSUM`.
    pub const CAPS_TX_TCP_CSUM: BitField = BitField::new(
        "TX_TCP_CSUM",
        1,
        1,
        "Inserts TCP checksums (pseudo-header included)",
    );
    /// `CAPS.TX_UDP_CSUM`.
    pub const CAPS_TX_UDP_CSUM: BitField = BitField::new(
        "TX_UDP_CSUM",
        2,
        1,
        "Inserts UDP checksums (pseudo-header included)",
    );
    /// `CAPS.RX_CSUM`.
    pub const CAPS_RX_CSUM: BitField = BitField::new(
        "RX_CSUM",
        3,
        1,
        "Verifies IPv4, TCP and UDP checksums on receive",
    );
    /// `CAPS.TSO`.
    pub const CAPS_TSO: BitField = BitField::new("TSO", 4, 1, "TCP segmentation offload (IPv4)");
    /// `CAPS.RSS`.
    pub const CAPS_RSS: BitField =
        BitField::new("RSS", 5, 1, "Toeplitz receive-side scaling over RX queues");
    /// `CAPS.TIMESTAMP`.
    pub const CAPS_TIMESTAMP: BitField =
        BitField::new("TIMESTAMP", 6, 1, "Completions carry a device timestamp");
    /// `CAPS.TX_SCATTER_GATHER`.
    pub const CAPS_TX_SCATTER_GATHER: BitField = BitField::new(
        "TX_SCATTER_GATHER",
        7,
        1,
        "A TX frame may span several descriptors",
    );
    /// Offload capabilities.
    pub const CAPS: Register = reg(
        "CAPS",
        0x18,
        Access::ReadOnly,
        0,
        "Capability bits (filled in by the device)",
        &[
            CAPS_TX_IPV4_CSUM,
            CAPS_TX_TCP_CSUM,
            CAPS_TX_UDP_CSUM,
            CAPS_RX_CSUM,
            CAPS_TSO,
            CAPS_RSS,
            CAPS_TIMESTAMP,
            CAPS_TX_SCATTER_GATHER,
        ],
    );

    /// Largest TSO payload (bytes after the headers) one request may carry.
    pub const MAX_TSO_PAYLOAD: Register = ro(
        "MAX_TSO_PAYLOAD",
        0x1C,
        "Largest TCP payload of one TSO request, in bytes",
    );

    /// `MAX_FRAME_LEN.BYTES`.
    pub const MAX_FRAME_LEN_BYTES: BitField = BitField::new(
        "BYTES",
        0,
        16,
        "Largest frame in bytes (Ethernet header included, FCS excluded)",
    );
    /// Largest frame on the wire.
    pub const MAX_FRAME_LEN: Register = reg(
        "MAX_FRAME_LEN",
        0x20,
        Access::ReadOnly,
        0,
        "Largest frame the device sends or receives",
        &[MAX_FRAME_LEN_BYTES],
    );

    /// `MSS_LIMITS.MAX_MSS`.
    pub const MSS_LIMITS_MAX: BitField =
        BitField::new("MAX_MSS", 0, 16, "Largest TSO segment payload");
    /// `MSS_LIMITS.MIN_MSS`.
    pub const MSS_LIMITS_MIN: BitField =
        BitField::new("MIN_MSS", 16, 16, "Smallest TSO segment payload");
    /// Range of MSS values a TSO request may use.
    pub const MSS_LIMITS: Register = reg(
        "MSS_LIMITS",
        0x24,
        Access::ReadOnly,
        0,
        "Allowed TSO MSS range",
        &[MSS_LIMITS_MAX, MSS_LIMITS_MIN],
    );

    /// `QUEUE_COUNTS.TX`.
    pub const QUEUE_COUNTS_TX: BitField = BitField::new("TX", 0, 8, "Number of TX queues");
    /// `QUEUE_COUNTS.RX`.
    pub const QUEUE_COUNTS_RX: BitField = BitField::new("RX", 8, 8, "Number of RX queues");
    /// `QUEUE_COUNTS.CQ`.
    pub const QUEUE_COUNTS_CQ: BitField = BitField::new("CQ", 16, 8, "Number of completion queues");
    /// `QUEUE_COUNTS.IRQ`.
    pub const QUEUE_COUNTS_IRQ: BitField =
        BitField::new("IRQ", 24, 8, "Number of interrupt vectors");
    /// How many queues and vectors exist.
    pub const QUEUE_COUNTS: Register = reg(
        "QUEUE_COUNTS",
        0x28,
        Access::ReadOnly,
        0,
        "Queue and interrupt vector counts",
        &[
            QUEUE_COUNTS_TX,
            QUEUE_COUNTS_RX,
            QUEUE_COUNTS_CQ,
            QUEUE_COUNTS_IRQ,
        ],
    );

    /// `RING_LIMITS.MIN_LOG2`.
    pub const RING_LIMITS_MIN_LOG2: BitField =
        BitField::new("MIN_LOG2", 0, 8, "Smallest ring size, log2 of entries");
    /// `RING_LIMITS.MAX_LOG2`.
    pub const RING_LIMITS_MAX_LOG2: BitField = BitField::new(
        "MAX_LOG2",
        8,
        8,
        "Largest ring size, log2 of entries (at most 15)",
    );
    /// `RING_LIMITS.MAX_SG`.
    pub const RING_LIMITS_MAX_SG: BitField =
        BitField::new("MAX_SG", 16, 8, "Most descriptors one TX frame may span");
    /// Ring size limits.
    pub const RING_LIMITS: Register = reg(
        "RING_LIMITS",
        0x2C,
        Access::ReadOnly,
        0,
        "Ring size limits and scatter-gather depth",
        &[
            RING_LIMITS_MIN_LOG2,
            RING_LIMITS_MAX_LOG2,
            RING_LIMITS_MAX_SG,
        ],
    );

    /// `DATAPATH.WIDTH_BITS`.
    pub const DATAPATH_WIDTH_BITS: BitField =
        BitField::new("WIDTH_BITS", 0, 16, "Stream datapath width in bits");
    /// `DATAPATH.CLOCK_MHZ`.
    pub const DATAPATH_CLOCK_MHZ: BitField =
        BitField::new("CLOCK_MHZ", 16, 16, "Nominal datapath clock in MHz");
    /// Datapath geometry.
    pub const DATAPATH: Register = reg(
        "DATAPATH",
        0x30,
        Access::ReadOnly,
        0,
        "Datapath width and nominal clock",
        &[DATAPATH_WIDTH_BITS, DATAPATH_CLOCK_MHZ],
    );

    const HEADER: [Register; 3] = header::registers(block_type::IDENT, 1, control::BASE);

    /// The block.
    pub const BLOCK: Block = Block {
        name: "IDENT",
        type_id: block_type::IDENT,
        version: 1,
        base: BASE,
        size: 0x100,
        doc: "Identity and capabilities. Read once at attach time.",
        registers: &[
            HEADER[0],
            HEADER[1],
            HEADER[2],
            SPEC_VERSION,
            DEVICE_ID,
            BUILD_ID,
            CAPS,
            MAX_TSO_PAYLOAD,
            MAX_FRAME_LEN,
            MSS_LIMITS,
            QUEUE_COUNTS,
            RING_LIMITS,
            DATAPATH,
        ],
        arrays: &[],
    };
}

/// Global control and status: enable, reset, error reporting, TSO flag masks, device time.
pub mod control {
    use super::*;

    /// Offset in BAR0 of the reference layout.
    pub const BASE: u32 = 0x0100;

    /// `CTRL.ENABLE`.
    pub const CTRL_ENABLE: BitField = BitField::new(
        "ENABLE",
        0,
        1,
        "Device enable: queues are processed and frames received only while set",
    );
    /// `CTRL.RESET`.
    pub const CTRL_RESET: BitField = BitField::new(
        "RESET",
        1,
        1,
        "Write 1: return every register, queue, counter and error to its reset value; reads 0",
    );
    /// `CTRL.RX_CSUM_ENABLE`.
    pub const CTRL_RX_CSUM_ENABLE: BitField = BitField::new(
        "RX_CSUM_ENABLE",
        2,
        1,
        "Verify checksums on receive; when clear, RX status is UNKNOWN",
    );
    /// `CTRL.RSS_ENABLE`.
    pub const CTRL_RSS_ENABLE: BitField = BitField::new(
        "RSS_ENABLE",
        3,
        1,
        "Steer received frames by RSS hash; when clear, everything goes to RX queue 0",
    );
    /// Device control.
    pub const CTRL: Register = reg(
        "CTRL",
        0x0C,
        Access::ReadWrite,
        0,
        "Device control",
        &[
            CTRL_ENABLE,
            CTRL_RESET,
            CTRL_RX_CSUM_ENABLE,
            CTRL_RSS_ENABLE,
        ],
    );

    /// `STATUS.ENABLED`.
    pub const STATUS_ENABLED: BitField = BitField::new("ENABLED", 0, 1, "The device is enabled");
    /// `STATUS.ERROR`.
    pub const STATUS_ERROR: BitField =
        BitField::new("ERROR", 1, 1, "At least one ERROR_STATUS bit is set");
    /// Device status.
    pub const STATUS: Register = reg(
        "STATUS",
        0x10,
        Access::ReadOnly,
        0,
        "Device status",
        &[STATUS_ENABLED, STATUS_ERROR],
    );

    /// `ERROR_STATUS.DMA_FAULT`.
    pub const ERROR_STATUS_DMA_FAULT: BitField = BitField::new(
        "DMA_FAULT",
        0,
        1,
        "A DMA address was outside the memory mapped for the device",
    );
    /// `ERROR_STATUS.BAD_DESCRIPTOR`.
    pub const ERROR_STATUS_BAD_DESCRIPTOR: BitField = BitField::new(
        "BAD_DESCRIPTOR",
        1,
        1,
        "A TX descriptor or offload request was invalid (an error completion was written)",
    );
    /// `ERROR_STATUS.BAD_COMMAND`.
    pub const ERROR_STATUS_BAD_COMMAND: BitField = BitField::new(
        "BAD_COMMAND",
        2,
        1,
        "A queue command word was invalid or not allowed in the queue's state; it was ignored",
    );
    /// `ERROR_STATUS.BAD_REGISTER_ACCESS`.
    pub const ERROR_STATUS_BAD_REGISTER_ACCESS: BitField = BitField::new(
        "BAD_REGISTER_ACCESS",
        3,
        1,
        "A write to a read-only or undefined offset, or an unaligned access; it was ignored",
    );
    /// `ERROR_STATUS.QUEUE_STOPPED`.
    pub const ERROR_STATUS_QUEUE_STOPPED: BitField = BitField::new(
        "QUEUE_STOPPED",
        4,
        1,
        "The device disabled a queue because it could not fetch a descriptor or write a completion",
    );
    /// Sticky error bits, cleared by writing 1.
    pub const ERROR_STATUS: Register = reg(
        "ERROR_STATUS",
        0x14,
        Access::ReadWrite1Clear,
        0,
        "Sticky error bits; write 1 to clear",
        &[
            ERROR_STATUS_DMA_FAULT,
            ERROR_STATUS_BAD_DESCRIPTOR,
            ERROR_STATUS_BAD_COMMAND,
            ERROR_STATUS_BAD_REGISTER_ACCESS,
            ERROR_STATUS_QUEUE_STOPPED,
        ],
    );

    /// Count of errors since reset.
    pub const ERROR_COUNT: Register = ro(
        "ERROR_COUNT",
        0x18,
        "Number of errors recorded since reset (saturates)",
    );

    /// `LAST_ERROR.CODE`.
    pub const LAST_ERROR_CODE: BitField =
        BitField::new("CODE", 0, 8, "Error code (enum ERROR_CODE)");
    /// `LAST_ERROR.QUEUE`.
    pub const LAST_ERROR_QUEUE: BitField =
        BitField::new("QUEUE", 8, 16, "Index of the queue concerned");
    /// `LAST_ERROR.QUEUE_KIND`.
    pub const LAST_ERROR_QUEUE_KIND: BitField = BitField::new(
        "QUEUE_KIND",
        24,
        2,
        "Kind of the queue concerned (enum QUEUE_KIND)",
    );
    /// The most recent error.
    pub const LAST_ERROR: Register = reg(
        "LAST_ERROR",
        0x1C,
        Access::ReadOnly,
        0,
        "The most recent error: code and queue",
        &[LAST_ERROR_CODE, LAST_ERROR_QUEUE, LAST_ERROR_QUEUE_KIND],
    );
    /// Address of the most recent error, low half.
    pub const LAST_ERROR_ADDR_LO: Register = ro(
        "LAST_ERROR_ADDR_LO",
        0x20,
        "IOVA (DMA faults) or BAR offset (register errors) of the most recent error, bits 31:0",
    );
    /// Address of the most recent error, high half.
    pub const LAST_ERROR_ADDR_HI: Register = ro(
        "LAST_ERROR_ADDR_HI",
        0x24,
        "IOVA of the most recent error, bits 63:32",
    );

    /// `TSO_FLAGS_*.FLAGS`: the nine TCP flag bits (FIN = bit 0 ... NS = bit 8).
    pub const TSO_FLAGS_MASK: BitField = BitField::new(
        "FLAGS",
        0,
        9,
        "TCP flags kept in this segment position (FIN = bit 0 ... NS = bit 8)",
    );
    /// TCP flags kept in the first segment of a TSO request.
    pub const TSO_FLAGS_FIRST: Register = reg(
        "TSO_FLAGS_FIRST",
        0x28,
        Access::ReadWrite,
        crate::offload::TsoFlagMasks::LINUX.first as u32,
        "TCP flag mask applied to the first segment (reset: all but FIN and PSH)",
        &[TSO_FLAGS_MASK],
    );
    /// TCP flags kept in middle segments of a TSO request.
    pub const TSO_FLAGS_MIDDLE: Register = reg(
        "TSO_FLAGS_MIDDLE",
        0x2C,
        Access::ReadWrite,
        crate::offload::TsoFlagMasks::LINUX.middle as u32,
        "TCP flag mask applied to middle segments (reset: all but FIN, PSH and CWR)",
        &[TSO_FLAGS_MASK],
    );
    /// TCP flags kept in the last segment of a TSO request.
    pub const TSO_FLAGS_LAST: Register = reg(
        "TSO_FLAGS_LAST",
        0x30,
        Access::ReadWrite,
        crate::offload::TsoFlagMasks::LINUX.last as u32,
        "TCP flag mask applied to the last segment (reset: all but CWR)",
        &[TSO_FLAGS_MASK],
    );

    /// Device time, low half.
    pub const TIMESTAMP_LO: Register = ro(
        "TIMESTAMP_LO",
        0x34,
        "Device time in nanoseconds, bits 31:0",
    );
    /// Device time, high half.
    pub const TIMESTAMP_HI: Register = ro(
        "TIMESTAMP_HI",
        0x38,
        "Device time in nanoseconds, bits 63:32",
    );

    /// A register with no effect, for testing register access.
    pub const SCRATCH: Register = reg(
        "SCRATCH",
        0x3C,
        Access::ReadWrite,
        0,
        "Holds what is written; no effect (probing aid)",
        &[],
    );

    /// Frames dropped before reaching an RX queue.
    pub const RX_DROPS_NO_QUEUE: Register = ro(
        "RX_DROPS_NO_QUEUE",
        0x40,
        "Frames received while the device or the selected RX queue was disabled (saturates)",
    );

    const HEADER: [Register; 3] = header::registers(block_type::CONTROL, 1, txq::BASE);

    /// The block.
    pub const BLOCK: Block = Block {
        name: "CONTROL",
        type_id: block_type::CONTROL,
        version: 1,
        base: BASE,
        size: 0x100,
        doc: "Global control and status.",
        registers: &[
            HEADER[0],
            HEADER[1],
            HEADER[2],
            CTRL,
            STATUS,
            ERROR_STATUS,
            ERROR_COUNT,
            LAST_ERROR,
            LAST_ERROR_ADDR_LO,
            LAST_ERROR_ADDR_HI,
            TSO_FLAGS_FIRST,
            TSO_FLAGS_MIDDLE,
            TSO_FLAGS_LAST,
            TIMESTAMP_LO,
            TIMESTAMP_HI,
            SCRATCH,
            RX_DROPS_NO_QUEUE,
        ],
        arrays: &[],
    };
}

/// Registers of one descriptor queue (TX or RX) or completion queue.
pub mod queue {
    use super::*;

    /// Ring base IOVA, bits 31:0 (bits 11:0 must be zero).
    pub const BASE_LO: Register = reg(
        "BASE_LO",
        0x00,
        Access::ReadWrite,
        0,
        "Ring base IOVA bits 31:0; 4 KiB aligned; write only while the queue is disabled",
        &[],
    );
    /// Ring base IOVA, bits 63:32.
    pub const BASE_HI: Register = reg(
        "BASE_HI",
        0x04,
        Access::ReadWrite,
        0,
        "Ring base IOVA bits 63:32",
        &[],
    );
    /// Command word register (see [`crate::commands`]).
    pub const CMD: Register = reg(
        "CMD",
        0x08,
        Access::WriteOnly,
        0,
        "Command word (OPCODE in 31:24, ARG in 23:0); SET_PROD is the doorbell",
        &[crate::commands::CMD_OPCODE, crate::commands::CMD_ARG],
    );

    /// `STATUS.ENABLED`.
    pub const STATUS_ENABLED: BitField = BitField::new("ENABLED", 0, 1, "Queue is enabled");
    /// `STATUS.STOPPED_ON_FAULT`.
    pub const STATUS_STOPPED_ON_FAULT: BitField = BitField::new(
        "STOPPED_ON_FAULT",
        1,
        1,
        "The device disabled the queue after a DMA fault on its ring",
    );
    /// `STATUS.ARMED` (completion queues only).
    pub const STATUS_ARMED: BitField = BitField::new(
        "ARMED",
        2,
        1,
        "Completion queue: the next completion raises the interrupt",
    );
    /// `STATUS.LOG2_SIZE`.
    pub const STATUS_LOG2_SIZE: BitField =
        BitField::new("LOG2_SIZE", 8, 5, "Ring size, log2 of entries (0: not set)");
    /// `STATUS.BINDING`: completion queue (TX/RX queues) or interrupt vector (completion queues).
    pub const STATUS_BINDING: BitField = BitField::new(
        "BINDING",
        16,
        8,
        "TX/RX queue: bound completion queue; completion queue: interrupt vector",
    );
    /// Queue status.
    pub const STATUS: Register = reg(
        "STATUS",
        0x0C,
        Access::ReadOnly,
        0,
        "Queue status",
        &[
            STATUS_ENABLED,
            STATUS_STOPPED_ON_FAULT,
            STATUS_ARMED,
            STATUS_LOG2_SIZE,
            STATUS_BINDING,
        ],
    );

    /// `PROD.PTR` / `CONS.PTR`: a 16-bit free-running pointer; ring index = pointer mod size.
    pub const POINTER: BitField = BitField::new(
        "PTR",
        0,
        16,
        "Free-running pointer; index = PTR mod ring size",
    );
    /// Producer pointer.
    pub const PROD: Register = reg(
        "PROD",
        0x10,
        Access::ReadOnly,
        0,
        "Producer pointer (TX/RX: written by the driver with SET_PROD; CQ: the device's)",
        &[POINTER],
    );
    /// Consumer pointer.
    pub const CONS: Register = reg(
        "CONS",
        0x14,
        Access::ReadOnly,
        0,
        "Consumer pointer (TX/RX: the device's; CQ: written by the driver with SET_CONS)",
        &[POINTER],
    );

    /// Distance between the register sets of two queues.
    pub const STRIDE: u32 = 0x20;
    /// Offset of queue 0 from its block base.
    pub const ARRAY_OFFSET: u32 = 0x40;
    /// The registers of one queue.
    pub const REGISTERS: &[Register] = &[BASE_LO, BASE_HI, CMD, STATUS, PROD, CONS];
    /// Most queues of one kind the layout has room for.
    pub const MAX_QUEUES: u32 = (0x1000 - ARRAY_OFFSET) / STRIDE;
}

macro_rules! queue_block {
    ($(#[$m:meta])* $modname:ident, $name:literal, $ty:expr, $base:expr, $next:expr, $doc:literal, $elem_doc:literal) => {
        $(#[$m])*
        pub mod $modname {
            use super::*;
            /// Offset in BAR0 of the reference layout.
            pub const BASE: u32 = $base;
            const HEADER: [Register; 3] = header::registers($ty, 1, $next);
            /// The block.
            pub const BLOCK: Block = Block {
                name: $name,
                type_id: $ty,
                version: 1,
                base: BASE,
                size: 0x1000,
                doc: $doc,
                registers: &[HEADER[0], HEADER[1], HEADER[2]],
                arrays: &[RegisterArray {
                    name: $name,
                    offset: queue::ARRAY_OFFSET,
                    stride: queue::STRIDE,
                    max_count: queue::MAX_QUEUES,
                    registers: queue::REGISTERS,
                    doc: $elem_doc,
                }],
            };
            /// BAR0 offset of register `reg` of queue `index` in the reference layout.
            pub const fn reg_addr(index: u32, reg: &Register) -> u32 {
                BASE + queue::ARRAY_OFFSET + index * queue::STRIDE + reg.offset
            }
        }
    };
}

queue_block!(
    /// Transmit queues: rings of TX descriptors.
    txq,
    "TXQ",
    block_type::TXQ,
    0x1000,
    rxq::BASE,
    "Transmit queues. Each is a ring of TX descriptors the driver fills and the device consumes.",
    "One transmit queue"
);
queue_block!(
    /// Receive queues: rings of RX buffer descriptors.
    rxq,
    "RXQ",
    block_type::RXQ,
    0x2000,
    cq::BASE,
    "Receive queues. Each is a ring of empty buffers the driver posts and the device fills.",
    "One receive queue"
);
queue_block!(
    /// Completion queues: rings of completion entries the device writes.
    cq,
    "CQ",
    block_type::CQ,
    0x3000,
    stats::BASE,
    "Completion queues. Each is a ring of completion entries the device writes with a phase bit.",
    "One completion queue"
);

/// Per-queue statistics counters. All read only, reset by `CTRL.RESET`.
pub mod stats {
    use super::*;

    /// Offset in BAR0 of the reference layout.
    pub const BASE: u32 = 0x4000;

    /// Frames, low half.
    pub const FRAMES_LO: Register = ro(
        "FRAMES_LO",
        0x00,
        "Frames sent on (TX) or received from (RX) the wire, bits 31:0",
    );
    /// Frames, high half.
    pub const FRAMES_HI: Register = ro("FRAMES_HI", 0x04, "Frames, bits 63:32");
    /// Bytes, low half.
    pub const BYTES_LO: Register = ro(
        "BYTES_LO",
        0x08,
        "Bytes of those frames (Ethernet header included, FCS excluded), bits 31:0",
    );
    /// Bytes, high half.
    pub const BYTES_HI: Register = ro("BYTES_HI", 0x0C, "Bytes, bits 63:32");
    /// TX: requests (descriptor chains) completed. RX: frames dropped.
    pub const TX_REQUESTS: Register = ro(
        "REQUESTS",
        0x10,
        "Frame requests (descriptor chains) completed, errors included",
    );
    /// TX: frames in which the device computed at least one checksum.
    pub const TX_CSUM_INSERTED: Register = ro(
        "CSUM_INSERTED",
        0x14,
        "Wire frames in which the device inserted at least one checksum",
    );
    /// TX: segments produced by TSO.
    pub const TX_TSO_SEGMENTS: Register =
        ro("TSO_SEGMENTS", 0x18, "Wire frames produced by TSO requests");
    /// TX: error completions.
    pub const TX_ERRORS: Register = ro(
        "ERRORS",
        0x1C,
        "Requests completed with an error code (nothing was sent for them)",
    );
    /// RX: frames dropped.
    pub const RX_DROPS: Register = ro(
        "DROPS",
        0x10,
        "Frames dropped: no buffer posted, buffer too small, completion queue full, or too long",
    );
    /// RX: frames with a bad checksum.
    pub const RX_CSUM_BAD: Register = ro(
        "CSUM_BAD",
        0x14,
        "Frames delivered with IPv4 or L4 checksum status BAD",
    );
    /// RX: frames with good checksums.
    pub const RX_CSUM_GOOD: Register = ro(
        "CSUM_GOOD",
        0x18,
        "Frames delivered with every present checksum GOOD",
    );
    /// RX: error completions.
    pub const RX_ERRORS: Register = ro(
        "ERRORS",
        0x1C,
        "Error completions: the buffer write faulted, or its descriptor had reserved bits set",
    );

    /// Distance between two queues' counters.
    pub const STRIDE: u32 = 0x20;
    /// Offset of TX queue 0's counters from the block base.
    pub const TX_ARRAY_OFFSET: u32 = 0x0040;
    /// Offset of RX queue 0's counters from the block base.
    pub const RX_ARRAY_OFFSET: u32 = 0x1000;

    const HEADER: [Register; 3] = header::registers(block_type::STATS, 1, irq::BASE);

    /// The block.
    pub const BLOCK: Block = Block {
        name: "STATS",
        type_id: block_type::STATS,
        version: 1,
        base: BASE,
        size: 0x2000,
        doc: "Per-queue statistics counters (64-bit counters as LO/HI pairs; 32-bit ones saturate).",
        registers: &[HEADER[0], HEADER[1], HEADER[2]],
        arrays: &[
            RegisterArray {
                name: "TXQ_STATS",
                offset: TX_ARRAY_OFFSET,
                stride: STRIDE,
                max_count: (RX_ARRAY_OFFSET - TX_ARRAY_OFFSET) / STRIDE,
                registers: &[
                    FRAMES_LO,
                    FRAMES_HI,
                    BYTES_LO,
                    BYTES_HI,
                    TX_REQUESTS,
                    TX_CSUM_INSERTED,
                    TX_TSO_SEGMENTS,
                    TX_ERRORS,
                ],
                doc: "Counters of one TX queue",
            },
            RegisterArray {
                name: "RXQ_STATS",
                offset: RX_ARRAY_OFFSET,
                stride: STRIDE,
                max_count: (0x2000 - RX_ARRAY_OFFSET) / STRIDE,
                registers: &[
                    FRAMES_LO,
                    FRAMES_HI,
                    BYTES_LO,
                    BYTES_HI,
                    RX_DROPS,
                    RX_CSUM_BAD,
                    RX_CSUM_GOOD,
                    RX_ERRORS,
                ],
                doc: "Counters of one RX queue",
            },
        ],
    };

    /// BAR0 offset of counter `reg` of TX queue `index` in the reference layout.
    pub const fn tx_addr(index: u32, reg: &Register) -> u32 {
        BASE + TX_ARRAY_OFFSET + index * STRIDE + reg.offset
    }

    /// BAR0 offset of counter `reg` of RX queue `index` in the reference layout.
    pub const fn rx_addr(index: u32, reg: &Register) -> u32 {
        BASE + RX_ARRAY_OFFSET + index * STRIDE + reg.offset
    }
}

/// Interrupt vectors: an event counter and a mask per vector.
pub mod irq {
    use super::*;

    /// Offset in BAR0 of the reference layout.
    pub const BASE: u32 = 0x6000;

    /// Interrupts raised on this vector.
    pub const EVENTS: Register = ro(
        "EVENTS",
        0x00,
        "Interrupts raised on this vector since reset (wraps)",
    );
    /// `MASK.MASKED`.
    pub const MASK_MASKED: BitField = BitField::new(
        "MASKED",
        0,
        1,
        "Masked: events are counted but not signalled",
    );
    /// Vector mask.
    pub const MASK: Register = reg(
        "MASK",
        0x04,
        Access::ReadWrite,
        0,
        "Vector mask",
        &[MASK_MASKED],
    );
    /// Distance between two vectors.
    pub const STRIDE: u32 = 0x10;
    /// Offset of vector 0 from the block base.
    pub const ARRAY_OFFSET: u32 = 0x40;

    const HEADER: [Register; 3] = header::registers(block_type::IRQ, 1, rss::BASE);

    /// The block.
    pub const BLOCK: Block = Block {
        name: "IRQ",
        type_id: block_type::IRQ,
        version: 1,
        base: BASE,
        size: 0x1000,
        doc: "Interrupt vectors. An armed completion queue raises its vector once, then disarms.",
        registers: &[HEADER[0], HEADER[1], HEADER[2]],
        arrays: &[RegisterArray {
            name: "VECTOR",
            offset: ARRAY_OFFSET,
            stride: STRIDE,
            max_count: (0x1000 - ARRAY_OFFSET) / STRIDE,
            registers: &[EVENTS, MASK],
            doc: "One interrupt vector",
        }],
    };

    /// BAR0 offset of register `reg` of vector `index` in the reference layout.
    pub const fn reg_addr(index: u32, reg: &Register) -> u32 {
        BASE + ARRAY_OFFSET + index * STRIDE + reg.offset
    }
}

/// Receive-side scaling: Toeplitz key and indirection table (see [`crate::rss`]).
pub mod rss {
    use super::*;

    /// Offset in BAR0 of the reference layout.
    pub const BASE: u32 = 0x7000;

    /// One word of the Toeplitz key.
    pub const KEY: Register = reg(
        "KEY",
        0x00,
        Access::ReadWrite,
        0,
        "Key bytes 4i..4i+3, byte 4i in bits 31:24",
        &[],
    );
    /// `ENTRY.QUEUE`.
    pub const ENTRY_QUEUE: BitField =
        BitField::new("QUEUE", 0, 8, "RX queue for hashes with these low bits");
    /// One indirection table entry.
    pub const ENTRY: Register = reg(
        "ENTRY",
        0x00,
        Access::ReadWrite,
        0,
        "RX queue for frames whose hash mod the table size equals this entry's index",
        &[ENTRY_QUEUE],
    );
    /// Offset of key word 0 from the block base.
    pub const KEY_OFFSET: u32 = 0x40;
    /// Words in the key (40 bytes).
    pub const KEY_WORDS: u32 = 10;
    /// Offset of indirection entry 0 from the block base.
    pub const TABLE_OFFSET: u32 = 0x100;
    /// Entries in the indirection table.
    pub const TABLE_ENTRIES: u32 = 128;

    const HEADER: [Register; 3] = header::registers(block_type::RSS, 1, 0);

    /// The block (last in the chain).
    pub const BLOCK: Block = Block {
        name: "RSS",
        type_id: block_type::RSS,
        version: 1,
        base: BASE,
        size: 0x400,
        doc: "Receive-side scaling: 40-byte Toeplitz key and a 128-entry indirection table.",
        registers: &[HEADER[0], HEADER[1], HEADER[2]],
        arrays: &[
            RegisterArray {
                name: "RSS_KEY",
                offset: KEY_OFFSET,
                stride: 4,
                max_count: KEY_WORDS,
                registers: &[KEY],
                doc: "One word of the Toeplitz key",
            },
            RegisterArray {
                name: "RSS_TABLE",
                offset: TABLE_OFFSET,
                stride: 4,
                max_count: TABLE_ENTRIES,
                registers: &[ENTRY],
                doc: "One indirection table entry",
            },
        ],
    };
}

/// Every block of the reference layout, in chain order.
pub const BLOCKS: &[Block] = &[
    ident::BLOCK,
    control::BLOCK,
    txq::BLOCK,
    rxq::BLOCK,
    cq::BLOCK,
    stats::BLOCK,
    irq::BLOCK,
    rss::BLOCK,
];

/// Looks a block up by its type code.
pub fn block_by_type(type_id: u16) -> Option<&'static Block> {
    BLOCKS.iter().find(|b| b.type_id == type_id)
}

/// The `NEXT` value a block's header holds.
pub fn next_of(block: &Block) -> u32 {
    block
        .register("NEXT")
        .map(|r| r.reset)
        .expect("every block has a header")
}
