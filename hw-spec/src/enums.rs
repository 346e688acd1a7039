//! Enumerated field values: queue kinds, checksum status, L4 checksum requests, error codes,
//! implementations, RSS hash types.
//!
//! Each Rust enum and its [`Enumeration`] table come from one macro invocation, so the value a
//! generated header prints is the discriminant the Rust code matches on.

use crate::layout::{EnumValue, Enumeration};

macro_rules! spec_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $repr:ty, table $table:ident, width $width:literal, $tdoc:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $vname:literal, $vdoc:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every value, in encoding order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// Decodes a field value; `None` for values without a meaning.
            pub const fn from_bits(bits: u32) -> Option<$name> {
                match bits {
                    $( $value => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// The encoded value.
            pub const fn bits(self) -> u32 {
                self as u32
            }

            /// The upper-case name used in the generated artifacts.
            pub const fn spec_name(self) -> &'static str {
                match self {
                    $( $name::$variant => $vname, )+
                }
            }
        }

        #[doc = concat!("The `", stringify!($name), "` values as data, for the generators.")]
        pub const $table: Enumeration = Enumeration {
            name: stringify!($table),
            width: $width,
            doc: $tdoc,
            values: &[ $( EnumValue { name: $vname, value: $value, doc: $vdoc }, )+ ],
        };
    };
}

spec_enum! {
    /// Which kind of queue a register, command or error concerns.
    pub enum QueueKind: u8, table QUEUE_KIND, width 2, "Queue kinds (LAST_ERROR.QUEUE_KIND)" {
        /// A transmit queue.
        Tx = 0 => "TX", "Transmit queue";
        /// A receive queue.
        Rx = 1 => "RX", "Receive queue";
        /// A completion queue.
        Cq = 2 => "CQ", "Completion queue";
        /// No queue.
        None = 3 => "NONE", "Not about a queue";
    }
}

spec_enum! {
    /// Checksum status of one layer of a received frame.
    pub enum CsumStatus: u8, table CSUM_STATUS, width 2, "Receive checksum status per layer" {
        /// Not checked (checksum verification disabled or not supported).
        Unknown = 0 => "UNKNOWN", "Not checked (RX_CSUM_ENABLE clear)";
        /// Checked and correct.
        Good = 1 => "GOOD", "Checked and correct";
        /// Checked and wrong, or the header is malformed.
        Bad = 2 => "BAD", "Checked and wrong, or the header lengths are inconsistent";
        /// The layer has no checksum to check (not IPv4; not TCP/UDP; UDP with checksum 0; fragment).
        None = 3 => "NONE", "Nothing to check at this layer";
    }
}

spec_enum! {
    /// L4 checksum requested in a TX descriptor.
    pub enum L4Csum: u8, table L4_CSUM, width 2, "L4 checksum request (TXD.L4_CSUM)" {
        /// No L4 checksum.
        None = 0 => "NONE", "No L4 checksum";
        /// TCP checksum, pseudo-header included.
        Tcp = 1 => "TCP", "TCP checksum including the pseudo-header";
        /// UDP checksum, pseudo-header included.
        Udp = 2 => "UDP", "UDP checksum including the pseudo-header";
    }
}

spec_enum! {
    /// What implements a device (`IDENT.DEVICE_ID.IMPLEMENTATION`).
    pub enum Implementation: u8, table IMPLEMENTATION, width 8, "Device implementations" {
        /// The Rust reference model in rtl-sim.
        Model = 1 => "MODEL", "Rust reference model (rtl-sim)";
        /// The Verilog RTL under Verilator.
        RtlVerilator = 2 => "RTL_VERILATOR", "Verilog RTL simulated by Verilator (rtl-sim)";
        /// The RTL on an FPGA.
        Fpga = 3 => "FPGA", "Verilog RTL on an FPGA";
    }
}

spec_enum! {
    /// What the RSS hash of a received frame covers.
    pub enum RssType: u8, table RSS_TYPE, width 2, "Input of the RSS hash (CPL.RSS_TYPE)" {
        /// No hash (not IPv4, or RSS disabled).
        None = 0 => "NONE", "No hash computed";
        /// IPv4 source and destination addresses.
        Ipv4 = 1 => "IPV4", "IPv4 addresses";
        /// IPv4 addresses and TCP ports.
        Ipv4Tcp = 2 => "IPV4_TCP", "IPv4 addresses and TCP ports";
        /// IPv4 addresses and UDP ports.
        Ipv4Udp = 3 => "IPV4_UDP", "IPv4 addresses and UDP ports";
    }
}

spec_enum! {
    /// Error codes, in completions (`CPL.ERROR`) and in `CONTROL.LAST_ERROR.CODE`.
    ///
    /// For a TX request the device checks in a fixed order and reports the first failure, so
    /// the model and the RTL agree on the code: see [`crate::offload::validate_tx_request`].
    pub enum ErrorCode: u8, table ERROR_CODE, width 8, "Error codes (CPL.ERROR, LAST_ERROR.CODE)" {
        /// No error.
        None = 0 => "NONE", "No error";
        /// A DMA address outside the memory mapped for the device.
        DmaFault = 1 => "DMA_FAULT", "DMA address outside the memory mapped for the device";
        /// Zero-length descriptor, or a frame longer than allowed.
        BadLength = 2 => "BAD_LENGTH", "Zero-length descriptor, frame shorter than 14 bytes, or longer than allowed";
        /// Reserved bits set, invalid L4 type, offload fields outside the first descriptor,
        /// SOP/EOP out of sequence, or TSO without both checksum requests.
        BadFlags = 3 => "BAD_FLAGS", "Reserved bits, invalid L4 type, offload fields on a non-SOP descriptor, SOP/EOP out of order, TSO without IP_CSUM and L4_CSUM=TCP";
        /// A frame spanning more descriptors than `RING_LIMITS.MAX_SG`.
        SgTooLong = 4 => "SG_TOO_LONG", "Frame spans more than MAX_SG descriptors";
        /// Header lengths out of range or beyond the frame.
        HeaderLengths = 5 => "HEADER_LENGTHS", "L2/L3/L4 header lengths out of range or beyond the frame";
        /// The L3 header is not IPv4 with IHL * 4 == L3_LEN.
        NotIpv4 = 6 => "NOT_IPV4", "L3 header is not IPv4 with IHL * 4 == L3_LEN";
        /// The IPv4 protocol differs from the requested L4 checksum type.
        L4Protocol = 7 => "L4_PROTOCOL", "IPv4 protocol differs from the requested L4 type";
        /// TSO MSS outside `MSS_LIMITS`, or MSS plus headers longer than `MAX_FRAME_LEN`.
        TsoBadMss = 8 => "TSO_BAD_MSS", "TSO MSS outside MSS_LIMITS or MSS + headers > MAX_FRAME_LEN";
        /// TSO payload empty or above `MAX_TSO_PAYLOAD`.
        TsoBadPayload = 9 => "TSO_BAD_PAYLOAD", "TSO payload empty or above MAX_TSO_PAYLOAD";
        /// TCP data offset * 4 differs from L4_LEN.
        TsoTcpHeader = 10 => "TSO_TCP_HEADER", "TCP data offset * 4 differs from L4_LEN";
        /// An offload the device does not advertise in `CAPS`.
        UnsupportedOffload = 11 => "UNSUPPORTED_OFFLOAD", "Offload not advertised in CAPS";
        /// Unknown command opcode, or one the queue kind does not take.
        BadCommandOpcode = 16 => "BAD_COMMAND_OPCODE", "Unknown opcode, or not valid for the queue kind";
        /// Command argument out of range.
        BadCommandArgument = 17 => "BAD_COMMAND_ARGUMENT", "Command argument out of range";
        /// Command not allowed in the queue's current state.
        BadCommandState = 18 => "BAD_COMMAND_STATE", "Command not allowed in the queue's state";
        /// Write to a read-only or undefined register, or unaligned access.
        BadRegisterAccess = 19 => "BAD_REGISTER_ACCESS", "Write to a read-only or undefined register, or unaligned access";
        /// `SET_PROD` more than a ring ahead of the consumer, or `SET_CONS` beyond the producer.
        RingOverrun = 20 => "RING_OVERRUN", "Producer more than a ring ahead, or consumer beyond producer";
    }
}

spec_enum! {
    /// Queue command opcodes (`CMD.OPCODE`); see [`crate::commands`] for the rules.
    pub enum Opcode: u8, table OPCODE, width 8, "Queue command opcodes (CMD.OPCODE)" {
        /// Set the ring size (ARG = log2 of entries).
        SetLog2Size = 1 => "SET_LOG2_SIZE", "Set ring size; ARG = log2(entries); queue disabled";
        /// Bind a TX/RX queue to a completion queue (ARG = completion queue index).
        SetCq = 2 => "SET_CQ", "TX/RX: bind to completion queue ARG; queue disabled";
        /// Move the producer pointer of a TX/RX queue (ARG = pointer): the doorbell.
        SetProd = 3 => "SET_PROD", "TX/RX: producer pointer = ARG (doorbell)";
        /// Tell a completion queue how far the driver has consumed (ARG = pointer).
        SetCons = 4 => "SET_CONS", "CQ: driver consumed up to pointer ARG";
        /// `SET_CONS` and `ARM` in one write.
        SetConsArm = 5 => "SET_CONS_ARM", "CQ: SET_CONS then ARM";
        /// Arm a completion queue's interrupt.
        Arm = 6 => "ARM", "CQ: raise the vector on the next completion, once";
        /// Bind a completion queue to an interrupt vector (ARG = vector).
        SetIrq = 7 => "SET_IRQ", "CQ: bind to interrupt vector ARG; queue disabled";
        /// Enable the queue.
        Enable = 8 => "ENABLE", "Enable the queue";
        /// Disable the queue.
        Disable = 9 => "DISABLE", "Disable the queue (TX finishes the frame in flight)";
        /// Zero both pointers of a disabled queue.
        ResetPointers = 10 => "RESET_POINTERS", "PROD = CONS = 0; queue disabled";
    }
}

impl ErrorCode {
    /// Whether this is the success value.
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::None)
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let doc = ERROR_CODE
            .values
            .iter()
            .find(|v| v.value == *self as u32)
            .map(|v| v.doc)
            .unwrap_or("");
        write!(f, "{} ({})", self.spec_name(), doc)
    }
}

/// Every enumeration of the contract, for the generators.
pub const ENUMERATIONS: &[Enumeration] = &[
    QUEUE_KIND,
    CSUM_STATUS,
    L4_CSUM,
    IMPLEMENTATION,
    RSS_TYPE,
    ERROR_CODE,
    OPCODE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_value() {
        for e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_bits(e.bits()), Some(*e));
        }
        for c in CsumStatus::ALL {
            assert_eq!(CsumStatus::from_bits(c.bits()), Some(*c));
        }
        assert_eq!(L4Csum::from_bits(3), None);
        assert_eq!(ErrorCode::from_bits(12), None);
    }

    #[test]
    fn values_fit_their_width_and_are_unique() {
        for e in ENUMERATIONS {
            for (i, v) in e.values.iter().enumerate() {
                assert!(
                    u64::from(v.value) < (1u64 << e.width),
                    "{}.{}",
                    e.name,
                    v.name
                );
                for w in &e.values[i + 1..] {
                    assert_ne!(v.value, w.value, "{}: {} and {}", e.name, v.name, w.name);
                    assert_ne!(v.name, w.name, "{}", e.name);
                }
            }
        }
    }
}
