//! The bulk-transfer workload that every benchmarked TCP stack implements.
//!
//! One TCP connection, one thread running both ends, `bytes` of application data from the
//! client to the server over an in-memory link or a simulated NIC, with the application
//! copying a known pattern in and comparing it out when `verify` is set. This is the work of
//! `../shared/baselines/smoltcp-bulk`, described by a [`BulkConfig`] instead of environment
//! variables.
//!
//! A stack plugs in by implementing [`BulkStack`] (what it can run, and how to set a transfer
//! up) and [`BulkRun`] (the transfer itself). The runner (`crate::runner`) times only
//! [`BulkRun::run`]: set-up (buffers, sockets, devices) is outside the measurement, the
//! handshake and everything after it is inside, for every stack alike.
//!
//! Owns the workload's vocabulary (configuration, counters, errors). Must not time anything
//! (`crate::measure` does) or know any particular stack (`crate::stacks` registers them).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which of the NIC's offloads the stack may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffloadMode {
    /// Nothing offloaded: the stack computes and verifies every checksum in software.
    None,
    /// Checksums left to the device on transmit and trusted from it on receive.
    Csum,
    /// Checksum offload plus TCP segmentation offload (super-segments up to 64 KiB).
    Tso,
}

impl OffloadMode {
    /// Every mode, cheapest for the device first.
    pub const ALL: [OffloadMode; 3] = [OffloadMode::None, OffloadMode::Csum, OffloadMode::Tso];

    /// The name used on the command line, in tables and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OffloadMode::None => "none",
            OffloadMode::Csum => "csum",
            OffloadMode::Tso => "tso",
        }
    }
}

/// What carries the frames between the two ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An in-memory Ethernet link; its ports play the NIC's offload role in software (or skip
    /// the offloaded work, as hardware would do it).
    Link,
    /// The simulated ferrotoe NIC with the Rust reference model of its engines, driven through
    /// the host driver.
    Model,
    /// The simulated ferrotoe NIC with the Verilog engines under Verilator.
    Rtl,
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 3] = [Backend::Link, Backend::Model, Backend::Rtl];

    /// The name used on the command line, in tables and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Link => "link",
            Backend::Model => "model",
            Backend::Rtl => "rtl",
        }
    }
}

/// Congestion control of the sending side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Congestion {
    /// No congestion window (only the receiver's window limits the sender).
    None,
    /// RFC 5681 Reno (the stack's NewReno where it has one).
    Reno,
    /// RFC 9438 CUBIC.
    Cubic,
}

impl Congestion {
    /// The engine's congestion control for this choice; `None` for [`Congestion::None`],
    /// which the engine does not offer (every connection has a congestion window).
    pub fn engine(self) -> Option<tcp_engine::tcb::CongestionControl> {
        match self {
            Congestion::None => None,
            Congestion::Reno => Some(tcp_engine::tcb::CongestionControl::NewReno),
            Congestion::Cubic => Some(tcp_engine::tcb::CongestionControl::Cubic),
        }
    }

    /// The name used on the command line, in tables and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Congestion::None => "none",
            Congestion::Reno => "reno",
            Congestion::Cubic => "cubic",
        }
    }
}

/// A command-line or JSON word that names none of an enum's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was being named ("offload mode", ...).
    pub what: &'static str,
    /// The word given.
    pub given: String,
    /// The words accepted.
    pub accepted: &'static str,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} `{}`: expected one of {}",
            self.what, self.given, self.accepted
        )
    }
}

impl std::error::Error for UnknownName {}

/// `Display` and case-insensitive `FromStr` for an enum with an `as_str` naming each value.
macro_rules! named_enum {
    ($ty:ty, $what:literal, $accepted:literal, [$($variant:path),+ $(,)?]) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::workload::UnknownName;

            fn from_str(s: &str) -> Result<Self, $crate::workload::UnknownName> {
                let word = s.trim();
                [$($variant),+]
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(word))
                    .ok_or_else(|| $crate::workload::UnknownName {
                        what: $what,
                        given: word.to_owned(),
                        accepted: $accepted,
                    })
            }
        }
    };
}

pub(crate) use named_enum;

named_enum!(
    OffloadMode,
    "offload mode",
    "none, csum, tso",
    [OffloadMode::None, OffloadMode::Csum, OffloadMode::Tso]
);
named_enum!(
    Backend,
    "backend",
    "link, model, rtl",
    [Backend::Link, Backend::Model, Backend::Rtl]
);
named_enum!(
    Congestion,
    "congestion control",
    "none, reno, cubic",
    [Congestion::None, Congestion::Reno, Congestion::Cubic]
);

/// One bulk transfer: what to move, over what, with which knobs. The knobs are those of
/// `smoltcp-bulk` (`MTU`, `BUF`, `CC`, `CSUM`, `VERIFY`, `NODELAY`, `BURST`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkConfig {
    /// Application bytes from client to server.
    pub bytes: u64,
    /// IP MTU (the Ethernet frame is 14 bytes longer).
    pub mtu: u16,
    /// Offloads the stack may use.
    pub offload: OffloadMode,
    /// What carries the frames.
    pub backend: Backend,
    /// Send and receive buffer of each socket, in bytes.
    pub socket_buffer: usize,
    /// Congestion control of the sender.
    pub congestion: Congestion,
    /// The client application copies a known pattern into its send buffer and the server
    /// application compares every received byte with it (`VERIFY=1`). Without it the
    /// applications only mark bytes as sent and consumed.
    pub verify: bool,
    /// Nagle's algorithm on (`NODELAY=1` turns it off).
    pub nagle: bool,
    /// At most this many frames received per end per poll (`BURST`); `None`: no limit.
    pub rx_burst: Option<u32>,
    /// A transfer in which no byte arrives for this long is abandoned with
    /// [`BulkError::Stalled`], so a wedged stack cannot hang the benchmark.
    pub stall_timeout: Duration,
    /// Backends `model` and `rtl`: the simulated NICs (and cable) run on a thread of their
    /// own, in parallel with the hosts, as a real NIC does (`--nic-thread`). Other backends
    /// ignore it.
    pub nic_thread: bool,
}

/// Smallest IP MTU a run accepts (the IPv4 minimum every host must take, RFC 791).
pub const MIN_MTU: u16 = 576;
/// Largest IP MTU a run accepts: the Ethernet frame must fit 16 bits.
pub const MAX_MTU: u16 = 65_535 - 14;
/// Largest socket buffer a run accepts: TCP window scaling reaches 1 GiB (RFC 7323).
pub const MAX_SOCKET_BUFFER: usize = 1 << 30;

impl BulkConfig {
    /// The reference work of issue #3: 1 GiB, MTU 1500, checksums offloaded, 1 MiB socket
    /// buffers, Reno, Nagle on, no receive burst limit, every byte verified. Equal to
    /// `VERIFY=1 smoltcp-bulk`.
    pub const REFERENCE: BulkConfig = BulkConfig {
        bytes: 1 << 30,
        mtu: 1500,
        offload: OffloadMode::Csum,
        backend: Backend::Link,
        socket_buffer: 1 << 20,
        congestion: Congestion::Reno,
        verify: true,
        nagle: true,
        rx_burst: None,
        stall_timeout: Duration::from_secs(10),
        nic_thread: false,
    };

    /// Ethernet frame length of an MTU-sized packet.
    pub fn max_frame_len(&self) -> usize {
        usize::from(self.mtu) + 14
    }

    /// Checks the numbers a user can get wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bytes == 0 {
            return Err(ConfigError("bytes must be at least 1".into()));
        }
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError(format!(
                "MTU {} is outside {MIN_MTU}..={MAX_MTU}",
                self.mtu
            )));
        }
        if self.socket_buffer < 2 * usize::from(self.mtu) || self.socket_buffer > MAX_SOCKET_BUFFER
        {
            return Err(ConfigError(format!(
                "socket buffer of {} bytes is outside 2 x MTU ({})..={MAX_SOCKET_BUFFER}",
                self.socket_buffer,
                2 * usize::from(self.mtu)
            )));
        }
        if self.rx_burst == Some(0) {
            return Err(ConfigError(
                "a receive burst limit of 0 frames would never receive; use no limit instead"
                    .into(),
            ));
        }
        if self.stall_timeout.is_zero() {
            return Err(ConfigError("the stall timeout must be positive".into()));
        }
        Ok(())
    }
}

/// A configuration a user can fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid bulk workload: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// What one transfer did, as counted by the stack's harness (not by a clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkCounts {
    /// Application bytes the server received (equal to [`BulkConfig::bytes`] on success).
    pub bytes: u64,
    /// Every byte was compared with the pattern ([`BulkConfig::verify`]).
    pub verified: bool,
    /// Ethernet frames that crossed the wire from client to server (after TSO segmentation:
    /// what a real wire carries).
    pub data_frames: u64,
    /// Bytes of those frames (Ethernet header included).
    pub data_wire_bytes: u64,
    /// Frames from server to client (ACKs and window updates).
    pub reverse_frames: u64,
    /// Transmit requests the client handed its device. Equals `data_frames` without TSO;
    /// fewer with TSO super-segments.
    pub tx_requests: u64,
    /// Iterations of the poll loop.
    pub polls: u64,
    /// Segments the client retransmitted, where the stack counts them.
    pub retransmissions: Option<u64>,
    /// CPU time of the simulated NICs within the run (backends `model` and `rtl`): part of
    /// the process's CPU time that is not the hosts'.
    pub nic_cpu: Option<Duration>,
}

/// A configuration a stack cannot run, with the reason (shown in reports as a skipped cell).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsupported {
    /// The stack's name.
    pub stack: String,
    /// Why, in words a user understands.
    pub reason: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cannot run this cell: {}", self.stack, self.reason)
    }
}

impl std::error::Error for Unsupported {}

/// Why a bulk transfer failed.
#[derive(Debug)]
pub enum BulkError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The stack cannot run this configuration.
    Unsupported(Unsupported),
    /// Building the two ends failed.
    Setup {
        /// The stack's name.
        stack: &'static str,
        /// What failed and how to fix it.
        detail: String,
    },
    /// The connection failed during the transfer (reset, refused, a socket error).
    Transfer {
        /// The stack's name.
        stack: &'static str,
        /// What failed, in the stack's words.
        detail: String,
    },
    /// No byte arrived for [`BulkConfig::stall_timeout`].
    Stalled {
        /// The stack's name.
        stack: &'static str,
        /// Bytes the server had received.
        delivered: u64,
        /// Bytes it should receive.
        expected: u64,
        /// Where the connection was, in the stack's words.
        state: String,
    },
    /// A received byte differs from the pattern: the stack corrupted, lost, duplicated or
    /// reordered data.
    Corrupt {
        /// The stack's name.
        stack: &'static str,
        /// Stream offset of the first wrong byte.
        offset: u64,
    },
    /// [`BulkRun::run`] was called a second time.
    AlreadyRun {
        /// The stack's name.
        stack: &'static str,
    },
}

impl BulkError {
    /// [`BulkError::Setup`] of `stack`.
    pub fn setup(stack: &'static str, detail: String) -> BulkError {
        BulkError::Setup { stack, detail }
    }

    /// [`BulkError::Transfer`] of `stack`.
    pub fn transfer(stack: &'static str, detail: String) -> BulkError {
        BulkError::Transfer { stack, detail }
    }
}

impl fmt::Display for BulkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkError::Config(e) => e.fmt(f),
            BulkError::Unsupported(u) => u.fmt(f),
            BulkError::Setup { stack, detail } => {
                write!(f, "{stack}: setting up the bulk transfer failed: {detail}")
            }
            BulkError::Transfer { stack, detail } => {
                write!(f, "{stack}: the bulk transfer failed: {detail}")
            }
            BulkError::Stalled {
                stack,
                delivered,
                expected,
                state,
            } => write!(
                f,
                "{stack}: bulk transfer stalled after {delivered} of {expected} bytes \
                 (connection {state}); a socket buffer of a few segments with Nagle on can \
                 wedge a stack on delayed ACKs: try a larger --buffer or --nodelay"
            ),
            BulkError::Corrupt { stack, offset } => write!(
                f,
                "{stack}: received data differs from what was sent at stream offset {offset}"
            ),
            BulkError::AlreadyRun { stack } => write!(
                f,
                "{stack}: a prepared bulk transfer runs once; prepare another"
            ),
        }
    }
}

impl std::error::Error for BulkError {}

impl From<ConfigError> for BulkError {
    fn from(e: ConfigError) -> Self {
        BulkError::Config(e)
    }
}

impl From<Unsupported> for BulkError {
    fn from(e: Unsupported) -> Self {
        BulkError::Unsupported(e)
    }
}

/// A TCP stack that can run the bulk workload.
///
/// The runner calls [`supports`](BulkStack::supports) for every cell of the matrix (an
/// unsupported cell is reported as skipped with its reason), then for each repetition
/// [`prepare`](BulkStack::prepare) (untimed) and [`BulkRun::run`] (timed: wall clock, process
/// CPU time and, where the machine has them, CPU cycles).
pub trait BulkStack {
    /// The stack's name in reports (`"smoltcp"`, `"ferrotoe"`).
    fn name(&self) -> &'static str;

    /// Whether this stack can run `config`; the reason when not. Called with valid
    /// configurations only.
    fn supports(&self, config: &BulkConfig) -> Result<(), Unsupported>;

    /// Builds both ends (devices, buffers, sockets or endpoint, pattern) for one transfer.
    /// Everything that allocates belongs here. Connecting may happen here or in the run; the
    /// smoltcp workload connects in the run, as `smoltcp-bulk` does.
    fn prepare(&self, config: &BulkConfig) -> Result<Box<dyn BulkRun>, BulkError>;
}

/// One prepared transfer.
pub trait BulkRun {
    /// Moves [`BulkConfig::bytes`] from client to server on the calling thread and returns
    /// when the server application has received (and, with `verify`, checked) all of them.
    /// Must not return before that except with an error; must give up with
    /// [`BulkError::Stalled`] after [`BulkConfig::stall_timeout`] without progress.
    fn run(&mut self) -> Result<BulkCounts, BulkError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_round_trip() {
        for mode in OffloadMode::ALL {
            assert_eq!(mode.to_string().parse::<OffloadMode>(), Ok(mode));
            assert_eq!(
                mode.as_str().to_uppercase().parse::<OffloadMode>(),
                Ok(mode)
            );
        }
        for backend in Backend::ALL {
            assert_eq!(backend.to_string().parse::<Backend>(), Ok(backend));
        }
        assert_eq!(" cubic ".parse::<Congestion>(), Ok(Congestion::Cubic));
        let err = "gso".parse::<OffloadMode>().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`gso`") && text.contains("offload mode"),
            "{text}"
        );
        assert!(
            text.contains("none, csum, tso"),
            "lists the accepted names: {text}"
        );
    }

    #[test]
    fn reference_config_is_valid_and_matches_smoltcp_bulk_defaults() {
        let c = BulkConfig::REFERENCE;
        c.validate().unwrap();
        assert_eq!(c.bytes, 1 << 30);
        assert_eq!(c.max_frame_len(), 1514);
        assert_eq!(c.socket_buffer, 1_048_576);
        assert_eq!(c.offload, OffloadMode::Csum);
        assert!(c.verify && c.nagle && c.rx_burst.is_none());
    }

    #[test]
    fn validation_rejects_what_cannot_run() {
        let base = BulkConfig::REFERENCE;
        let cases = [
            BulkConfig { bytes: 0, ..base },
            BulkConfig { mtu: 575, ..base },
            BulkConfig {
                socket_buffer: 2000,
                ..base
            },
            BulkConfig {
                socket_buffer: MAX_SOCKET_BUFFER + 1,
                ..base
            },
            BulkConfig {
                rx_burst: Some(0),
                ..base
            },
            BulkConfig {
                stall_timeout: Duration::ZERO,
                ..base
            },
        ];
        for c in cases {
            let err = c.validate().unwrap_err();
            assert!(
                err.to_string().starts_with("invalid bulk workload"),
                "{err}"
            );
        }
        BulkConfig {
            mtu: MAX_MTU,
            socket_buffer: 1 << 30,
            ..base
        }
        .validate()
        .unwrap();
    }
}
