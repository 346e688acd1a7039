//! Per-endpoint tuning of the connection state machine.
//!
//! One [`TcbConfig`] is shared by every connection of an endpoint and handed to each call, so
//! no connection pays memory for it. Owns the knobs and their defaults; must not hold
//! per-connection state.

use crate::device::TsoCaps;
use crate::time::Duration;

/// Keepalive (RFC 1122 4.2.3.6; off by default as the RFC demands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes after which the connection is dropped.
    pub probes: u8,
}

/// HyStart++ (RFC 9406) for the initial slow start: per-round minimum RTT tracking leaves
/// slow start for Conservative Slow Start, then congestion avoidance, when queueing delay
/// builds up, before the queue overflows. [`TcbConfig::hystart`] holds one (`None`: classic
/// slow start until the first loss).
///
/// The delay threshold of a round is `clamp(lastRoundMinRTT / 8, min_rtt_thresh,
/// max_rtt_thresh)`, never below two timestamp ticks (RTT samples mostly come from the
/// timestamp echo, whose quantisation must not look like a queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HyStart {
    /// Lower bound of the delay threshold (RFC 9406's MIN_RTT_THRESH: 4 ms). Default 25 us:
    /// RFC 9406's 4 ms floor assumes Internet paths; in a data centre with RTTs of tens of
    /// microseconds a 4 ms rise is a queue of megabytes that a shallow-buffered switch port
    /// drops long before. 25 us is a queue of about 20 full frames at 10 Gbit/s (200 at 100
    /// Gbit/s), above the jitter of a busy-polling host and 2.5 ticks of
    /// [`TcbConfig::DATACENTER`]'s 10 us timestamp clock (deviation 29 of the `tcb` module).
    pub min_rtt_thresh: Duration,
    /// Upper bound of the delay threshold (RFC 9406's MAX_RTT_THRESH: 16 ms, kept: paths of
    /// more than 128 ms RTT behave as the RFC says).
    pub max_rtt_thresh: Duration,
}

impl HyStart {
    /// RFC 9406's bounds, 4 ms and 16 ms (for Internet paths).
    pub const RFC: HyStart = HyStart {
        min_rtt_thresh: Duration::from_millis(4),
        max_rtt_thresh: Duration::from_millis(16),
    };

    /// This engine's default: 25 us and 16 ms (see [`HyStart::min_rtt_thresh`]).
    pub const DEFAULT: HyStart = HyStart {
        min_rtt_thresh: Duration::from_micros(25),
        max_rtt_thresh: Duration::from_millis(16),
    };
}

impl Default for HyStart {
    fn default() -> Self {
        HyStart::DEFAULT
    }
}

/// Whether connections use Explicit Congestion Notification (RFC 3168).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EcnMode {
    /// Never: SYNs ask for nothing, and a peer's ECN-setup SYN is answered with a plain
    /// SYN-ACK.
    Off,
    /// Agree when the peer's SYN asks (an ECN-setup SYN, ECE and CWR set), but never ask in our
    /// own SYN. Linux's default (`net.ipv4.tcp_ecn = 2`).
    #[default]
    Accept,
    /// Ask in our SYN too (`net.ipv4.tcp_ecn = 1`); still needs the peer to agree.
    On,
}

/// The congestion-control algorithm of every connection of an endpoint (chosen when a
/// connection is created: a connection keeps its algorithm for its lifetime).
///
/// All share slow start (RFC 3465 byte counting, L = 2 SMSS), RFC 6675 SACK recovery (or
/// NewReno recovery without SACK), the tail loss probe and the RTO; they differ in the
/// multiplicative decrease and in congestion-avoidance growth (DCTCP: in its response to ECN
/// echoes only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionControl {
    /// NewReno (RFC 5681, 6582): halve on loss, one SMSS per round trip in congestion
    /// avoidance. The default: its behaviour is what the engine's exact-segment tests pin.
    #[default]
    NewReno,
    /// CUBIC (RFC 9438): reduce to 0.7 on loss, grow along `C * (t - K)^3 + W_max` with
    /// C = 0.4 (or at least as fast as Reno would, the Reno-friendly region), fast
    /// convergence. Linux's default; the better choice for long or fast paths.
    Cubic,
    /// DCTCP (RFC 8257), for data centres whose switches mark CE at a shallow queue
    /// threshold: the fraction of ECN-marked data per round trip, smoothed (alpha, g = 1/16),
    /// scales the reduction on an ECN echo (`cwnd * (1 - alpha / 2)`, once per window), so
    /// the queue stays near the marking threshold with full throughput. Loss, the RTO and
    /// window growth are NewReno's; a connection that did not negotiate ECN (both ends must:
    /// set [`TcbConfig::ecn`] to [`EcnMode::On`] on the side that opens) is plain NewReno.
    /// As a receiver it echoes each data segment's CE mark as it is (RFC 8257 3.2). No
    /// HyStart++. See the private module `dctcp`.
    Dctcp,
}

impl CongestionControl {
    /// Every algorithm, in declaration order.
    pub const ALL: [CongestionControl; 3] = [
        CongestionControl::NewReno,
        CongestionControl::Cubic,
        CongestionControl::Dctcp,
    ];

    /// A short lowercase name (`"newreno"`, `"cubic"`, `"dctcp"`), as [`str::parse`] accepts
    /// it.
    pub const fn name(self) -> &'static str {
        match self {
            CongestionControl::NewReno => "newreno",
            CongestionControl::Cubic => "cubic",
            CongestionControl::Dctcp => "dctcp",
        }
    }
}

impl core::fmt::Display for CongestionControl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name [`CongestionControl`]'s `FromStr` does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCongestionControl;

impl core::fmt::Display for UnknownCongestionControl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("unknown congestion control: use newreno (or reno), cubic or dctcp")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UnknownCongestionControl {}

impl core::str::FromStr for CongestionControl {
    type Err = UnknownCongestionControl;

    /// `newreno` or `reno`, `cubic`, `dctcp` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("newreno") || s.eq_ignore_ascii_case("reno") {
            Ok(CongestionControl::NewReno)
        } else if s.eq_ignore_ascii_case("cubic") {
            Ok(CongestionControl::Cubic)
        } else if s.eq_ignore_ascii_case("dctcp") {
            Ok(CongestionControl::Dctcp)
        } else {
            Err(UnknownCongestionControl)
        }
    }
}

/// How every connection of an endpoint behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcbConfig {
    /// MSS this host advertises and the largest payload it puts in one segment, before TCP
    /// options (MTU minus 40 for IPv4).
    pub mss: u16,
    /// RTO before the first RTT sample (RFC 6298: 1 s).
    pub rto_initial: Duration,
    /// Lower bound of the RTO (RFC 6298: 1 s; data-center stacks use far less).
    pub rto_min: Duration,
    /// Upper bound of the RTO and of backed-off persist intervals (RFC 6298: at least 60 s).
    pub rto_max: Duration,
    /// RTO used once data flows when the handshake needed a retransmission and no RTT sample
    /// exists (RFC 6298 5.7: 3 s).
    pub rto_after_syn_loss: Duration,
    /// Retransmission timeouts of one segment after which a synchronized connection is
    /// dropped.
    pub max_retransmissions: u8,
    /// SYN (or SYN-ACK) retransmissions after which the open fails.
    pub max_syn_retransmissions: u8,
    /// Length of TIME-WAIT (2 * MSL).
    pub time_wait: Duration,
    /// Longest a connection waits in FIN-WAIT-2 for the peer's FIN; `None` waits forever
    /// (RFC 9293).
    pub fin_wait2_timeout: Option<Duration>,
    /// Delayed acknowledgements: the longest an ACK for in-order data is held (RFC 1122:
    /// at most 500 ms). `None` acknowledges every segment at once.
    pub delayed_ack: Option<Duration>,
    /// Nagle's algorithm (Minshall's variant, see the module docs).
    pub nagle: bool,
    /// Keepalive probing; `None` (the default) sends none.
    pub keepalive: Option<Keepalive>,
    /// Offer and accept RFC 7323 window scaling.
    pub window_scaling: bool,
    /// Offer and accept RFC 7323 timestamps (RTT measurement and PAWS).
    pub timestamps: bool,
    /// Offer and accept SACK (RFC 2018), and use the peer's SACK blocks for recovery.
    pub sack: bool,
    /// Timestamp clock tick (RFC 7323 asks for 1 ms to 1 s; finer ticks give finer RTT samples
    /// after retransmissions but make PAWS wrap sooner than 24 days).
    pub timestamp_tick: Duration,
    /// Initial congestion window in segments (RFC 6928: 10, capped at 14600 bytes).
    pub initial_window_segments: u8,
    /// Challenge ACKs (RFC 5961) and replies to out-of-window bare segments allowed per
    /// [`TcbConfig::challenge_ack_interval`] per connection.
    pub challenge_ack_limit: u8,
    /// The interval of [`TcbConfig::challenge_ack_limit`].
    pub challenge_ack_interval: Duration,
    /// TCP segmentation offload of the device: super-segments up to `max_payload` bytes.
    /// `None` plans MSS-sized segments.
    pub tso: Option<TsoCaps>,
    /// Explicit Congestion Notification (RFC 3168). Default [`EcnMode::Accept`]: a peer that
    /// asks gets ECN (its network presumably carries it), but connections we open do not ask,
    /// because ECN-setup SYNs used to be dropped by broken middleboxes and falling back costs
    /// a SYN timeout (Linux chose the same default for the same reason). Data-center fabrics
    /// whose switches mark should say [`EcnMode::On`].
    pub ecn: EcnMode,
    /// Congestion control of the connections created under this config (a connection keeps
    /// the algorithm it was created with).
    pub congestion: CongestionControl,
    /// Learn the path's reordering from D-SACKs (RFC 2883; RFC 4653's idea, Linux's
    /// `tp->reordering`): each loss recovery a D-SACK shows spurious doubles the connection's
    /// DupThresh, from 3 up to 24 (never above half the flight), which the duplicate-ACK
    /// trigger, `IsLost` and Limited Transmit use. Default on; off keeps DupThresh at 3 (RFC
    /// 5681, RFC 6675). Needs SACK.
    pub adaptive_reordering: bool,
    /// Undo a window reduction shown spurious (Linux's undo): when the timestamps echoed
    /// (Eifel, RFC 3522) or D-SACKs for every byte retransmitted (RFC 3708's idea) show
    /// that a fast recovery, a retransmission timeout or a tail loss probe's reduction
    /// repaired nothing, cwnd and ssthresh go back to what they were before the cut (never
    /// more). Default on; needs a loss state from the endpoint's pool during the episode.
    pub spurious_undo: bool,
    /// HyStart++ (RFC 9406) in the initial slow start, with NewReno or CUBIC (a DCTCP
    /// connection that negotiated ECN has none: its marks end slow start; one that did not is
    /// NewReno and has it):
    /// leaves slow start when the per-round minimum RTT rises by the threshold (a queue
    /// builds), instead of overshooting until a burst of losses. Default
    /// `Some(HyStart::DEFAULT)`, whose delay floor suits data centres (deviation 29); `None`
    /// keeps classic slow start. Needs RTT samples on most ACKs, i.e. timestamps
    /// ([`TcbConfig::timestamps`] and the peer's agreement): without them one segment per
    /// round trip is timed, fewer than the 8 samples a round needs, and slow start stays
    /// classic.
    pub hystart: Option<HyStart>,
}

impl TcbConfig {
    /// RFC defaults: 1 s minimum RTO, 40 ms delayed ACK, Nagle on, window scaling,
    /// timestamps and SACK offered, IW10, 60 s TIME-WAIT, no keepalive, MSS 1460, ECN
    /// accepted but not asked for, NewReno (select CUBIC with [`TcbConfig::with_congestion`]),
    /// HyStart++ with this engine's delay bounds ([`HyStart::DEFAULT`]; RFC 9406's own are
    /// [`HyStart::RFC`]).
    pub const RFC: TcbConfig = TcbConfig {
        mss: 1460,
        rto_initial: Duration::from_secs(1),
        rto_min: Duration::from_secs(1),
        rto_max: Duration::from_secs(120),
        rto_after_syn_loss: Duration::from_secs(3),
        max_retransmissions: 15,
        max_syn_retransmissions: 6,
        time_wait: Duration::from_secs(60),
        fin_wait2_timeout: None,
        delayed_ack: Some(Duration::from_millis(40)),
        nagle: true,
        keepalive: None,
        window_scaling: true,
        timestamps: true,
        sack: true,
        timestamp_tick: Duration::from_millis(1),
        initial_window_segments: 10,
        challenge_ack_limit: 10,
        challenge_ack_interval: Duration::from_secs(1),
        tso: None,
        ecn: EcnMode::Accept,
        congestion: CongestionControl::NewReno,
        adaptive_reordering: true,
        spurious_undo: true,
        hystart: Some(HyStart::DEFAULT),
    };

    /// Settings for a data-center fabric: 1 ms minimum RTO (200 ms initial), 1 ms delayed
    /// ACK, 10 us timestamp tick; otherwise [`TcbConfig::RFC`] (ECN too: accepted, not asked
    /// for, since not every fabric's switches mark; say [`EcnMode::On`] where they do).
    pub const DATACENTER: TcbConfig = TcbConfig {
        rto_initial: Duration::from_millis(200),
        rto_min: Duration::from_millis(1),
        rto_max: Duration::from_secs(10),
        rto_after_syn_loss: Duration::from_millis(600),
        delayed_ack: Some(Duration::from_millis(1)),
        timestamp_tick: Duration::from_micros(10),
        ..TcbConfig::RFC
    };

    /// This config with the MSS derived from an IPv4 MTU (MTU - 40, at least 64).
    pub const fn with_mtu(mut self, mtu: u16) -> TcbConfig {
        self.mss = if mtu > 104 { mtu - 40 } else { 64 };
        self
    }

    /// This config with congestion control `cc`.
    pub const fn with_congestion(mut self, cc: CongestionControl) -> TcbConfig {
        self.congestion = cc;
        self
    }

    /// The timestamp tick in microseconds, at least 1.
    #[inline]
    pub(crate) fn tick_us(&self) -> u64 {
        self.timestamp_tick.micros().max(1)
    }
}

impl Default for TcbConfig {
    fn default() -> Self {
        TcbConfig::RFC
    }
}
