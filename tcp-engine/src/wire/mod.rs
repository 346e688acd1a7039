//! Wire formats: zero-copy packet views and plain representations of Ethernet II, ARP, IPv4,
//! ICMP (echo, destination unreachable, time exceeded) and TCP, plus the one-pass frame builder of the transmit hot path
//! ([`frame`]).
//!
//! Owns byte layouts and their validation. It makes no protocol decisions (whether to answer,
//! what state a connection is in) and must not: those belong to the endpoint and the state
//! machine, which see only the `Repr`-level values parsed here.
//!
//! ## Two levels per protocol
//!
//! - A **packet view** (`EthernetFrame<T>`, `ArpPacket<T>`, `Ipv4Packet<T>`, `IcmpPacket<T>`,
//!   `QuotedDatagram<T>`, `TcpPacket<T>`) wraps any `T: AsRef<[u8]>` without copying. Getters need `AsRef<[u8]>`,
//!   setters `AsMut<[u8]>`. `new_unchecked` wraps without looking; `new_checked` wraps and calls
//!   `check_len`.
//! - A **representation** (`EthernetRepr`, `ArpRepr`, `Ipv4Repr`, `IcmpEchoRepr`, `IcmpErrorRepr`, and
//!   [`TcpHeader`](crate::segment::TcpHeader) for TCP) is a plain value with `parse` (from a
//!   checked view: validates every field), `buffer_len` (bytes `emit` writes) and `emit` (into
//!   a view).
//!
//! ## Panic contract
//!
//! 1. After `check_len` (or `new_checked`) has returned `Ok`, **no accessor of that view
//!    panics**, whatever the bytes hold: every length field that accessors rely on (IPv4 IHL and
//!    total length, TCP data offset) was checked against the buffer.
//! 2. `parse` never panics on a view that passed `check_len`; anything malformed is an
//!    [`Error`].
//! 3. `emit` never panics on a view whose buffer holds at least `buffer_len()` bytes (for
//!    [`TcpHeader::emit`](crate::segment::TcpHeader::emit), whose checksum covers the payload,
//!    the view is the whole segment: `buffer_len()` header bytes and the payload after them).
//!    The whole-frame emitters of [`frame`] check the buffer and return
//!    [`Error::BufferTooSmall`] instead.
//! 4. Setters on a view built with `new_unchecked` over too short a buffer may panic (they
//!    index the buffer); the transmit paths only call them on buffers sized with `buffer_len`.
//! 5. Work is bounded by the buffer length: option walks advance by at least one byte per step
//!    and stop at the header end.
//!
//! The fuzz tests (`tests/wire_fuzz.rs`) feed arbitrary and mutated bytes to every parser to
//! hold this contract.
//!
//! ## Checksums
//!
//! On receive, `parse` functions take the device's [`ChecksumState`] for their layer: `Good`
//! is trusted, `Bad` is rejected with [`Error::BadChecksum`], `Unknown` (and `None`, which a
//! device must not report for IPv4 or TCP) is verified in software. On transmit, [`TxChecksum`]
//! says whether the checksums are computed in software or left to the device, which ignores
//! the field and computes the whole checksum, pseudo-header included (hw-spec `SPEC.md` 6.2).
//!
//! ## Deviations and limits
//!
//! - No 802.1Q VLAN tags: a tagged frame's EtherType is `0x8100` and the caller drops it.
//! - IPv4 options are skipped on receive (their length honoured) and never emitted.
//! - IPv4 fragments are reported as [`Error::Fragment`] (no reassembly): the caller drops and
//!   counts them. TCP endpoints set DF and never need fragments.
//! - Trailing bytes after the IPv4 total length (Ethernet minimum-frame padding) are ignored.
//! - ICMP: echo request and reply, destination unreachable (every code) and time exceeded
//!   are parsed; other types (redirects, source quench, ...) are [`Error::Unsupported`].

/// Defines a packet view: the struct over `T: AsRef<[u8]>` and the constructors shared by
/// every view (`new_unchecked`, `new_checked`, `into_inner`). The module that invokes it
/// writes `check_len` and the accessors.
macro_rules! packet_view {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a buffer without looking at it (see the panic contract in `wire`).
            #[inline]
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }

            /// Wraps a buffer and checks it with `check_len`, after which no accessor panics.
            #[inline]
            pub fn new_checked(buffer: T) -> Result<$name<T>> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            /// The wrapped buffer.
            #[inline]
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}
use packet_view;

pub mod arp;
pub mod ethernet;
pub mod frame;
pub mod icmp;
pub mod ipv4;
pub mod tcp;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use frame::{FrameLayout, RxFrame, RxPayload, TcpFrameAddresses};
pub use icmp::{
    IcmpEchoKind, IcmpEchoRepr, IcmpErrorKind, IcmpErrorRepr, IcmpPacket, QuotedDatagram,
    QuotedRepr,
};
pub use ipv4::{IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, Ipv4Repr};
pub use tcp::{TcpPacket, TcpRepr};

use crate::device::ChecksumState;

/// The protocol layer an [`Error`] was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Ethernet II header.
    Ethernet,
    /// ARP packet.
    Arp,
    /// IPv4 header.
    Ipv4,
    /// ICMP message.
    Icmp,
    /// TCP segment.
    Tcp,
}

impl Layer {
    /// A short lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Icmp => "icmp",
            Layer::Tcp => "tcp",
        }
    }
}

/// Why bytes were not accepted as a packet, or a packet could not be written.
///
/// Every malformed input maps to one of these; the endpoint counts drops by variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the fixed header, before the header length a field announces, or
    /// before the total length the IPv4 header announces.
    Truncated(Layer),
    /// A header length field is impossible: IPv4 IHL below 5 or total length below the header
    /// length, TCP data offset below 5.
    BadHeaderLength(Layer),
    /// The checksum does not verify (or the device reported it bad).
    BadChecksum(Layer),
    /// An IPv4 fragment (MF set or a non-zero fragment offset): not reassembled, drop it.
    Fragment,
    /// A well-formed packet of a kind this engine does not handle: IP version not 4, ARP for
    /// other hardware or protocols, ARP operations other than request and reply, ICMP other
    /// than echo and errors (or an ICMP error quoting a datagram that is not IPv4).
    Unsupported(Layer),
    /// A TCP option with a length of 0 or 1, running past the header, or a known option with the
    /// wrong length.
    BadOption,
    /// A transmit buffer too small for the frame, or a frame too long for its length fields.
    BufferTooSmall,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated(l) => write!(
                f,
                "{} packet truncated: buffer shorter than its header or length field",
                l.name()
            ),
            Error::BadHeaderLength(l) => {
                write!(f, "{} header length field is impossible", l.name())
            }
            Error::BadChecksum(l) => write!(f, "{} checksum does not verify", l.name()),
            Error::Fragment => write!(f, "ipv4 fragment (not reassembled; dropped)"),
            Error::Unsupported(l) => write!(f, "unsupported {} packet kind or version", l.name()),
            Error::BadOption => write!(
                f,
                "malformed tcp option (length 0 or 1, past the header, or wrong for its kind)"
            ),
            Error::BufferTooSmall => write!(
                f,
                "transmit buffer too small for the frame, or frame longer than its length fields allow; give a larger buffer or less payload"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Result of wire-format operations.
pub type Result<T> = core::result::Result<T, Error>;

/// Who computes transmit checksums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TxChecksum {
    /// Software computes every checksum before the frame leaves.
    #[default]
    Software,
    /// The device computes the IPv4 header and TCP checksums (pseudo-header included) and
    /// ignores the fields' contents; software writes zero there and sets `TxMeta::checksum`.
    Device,
}

impl TxChecksum {
    /// `Device` when the device offloads transmit checksums.
    #[inline]
    pub const fn from_caps(caps: &crate::device::OffloadCaps) -> TxChecksum {
        if caps.tx_checksum {
            TxChecksum::Device
        } else {
            TxChecksum::Software
        }
    }
}

/// Applies a device's receive verdict: trusts `Good`, rejects `Bad`, and otherwise runs
/// `verify_in_software` (which returns whether the checksum is correct).
#[inline]
pub fn check_rx_checksum(
    state: ChecksumState,
    layer: Layer,
    verify_in_software: impl FnOnce() -> bool,
) -> Result<()> {
    let ok = match state {
        ChecksumState::Good => true,
        ChecksumState::Bad => false,
        ChecksumState::Unknown | ChecksumState::None => verify_in_software(),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadChecksum(layer))
    }
}

/// Reads a big-endian `u16` at `at` (panics past the end: callers check lengths first).
#[inline(always)]
pub(crate) fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian `u32` at `at`.
#[inline(always)]
pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes a big-endian `u16` at `at`.
#[inline(always)]
pub(crate) fn write_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian `u32` at `at`.
#[inline(always)]
pub(crate) fn write_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
