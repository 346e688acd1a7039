//! The per-connection TCP state machine (transmission control block).
//!
//! # What it owns
//! One [`Tcb`] is the whole protocol state of one connection: the RFC 9293 state, the send and
//! receive sequence spaces, congestion control, the RTT estimator, the timers (as deadlines),
//! the out-of-order ranges of the receive side and the SACK scoreboard of the send side. It
//! consumes and produces [`TcpHeader`]s plus payload slices and never touches frame bytes,
//! checksums, addresses, ports or devices: `wire` parses and emits, the `endpoint` finds the
//! connection (4-tuple to slot key), fills in ports and addresses, and talks to the device.
//! Payload bytes live in user-supplied buffers ([`SendBuffer`], [`RecvBuffer`], see
//! [`buffer`]); configuration lives in one shared [`TcbConfig`]. The out-of-order ranges and
//! the SACK scoreboard live apart in a [`LossState`] that every call touching them takes as a
//! parameter: most connections need one only now and then, so an endpoint lends them from a
//! small pool. A `Tcb` is 176 bytes without padding (a test holds it to 180; CUBIC's 4 bytes
//! took what was padding; HyStart++ and DCTCP take no byte, they overlay fields they do not
//! otherwise use), which leaves room for the endpoint's tuple, links and map share within 256
//! bytes per connection.
//!
//! # How an endpoint drives it
//! * **Open.** [`Tcb::connect`] (active, SYN-SENT), [`Tcb::listen`] (LISTEN) and
//!   [`Tcb::accept`] (a listener's SYN, to SYN-RECEIVED). The endpoint supplies the ISS from its
//!   RFC 6528 generator.
//! * **Receive.** [`Tcb::on_segment`] takes one parsed, checksum-verified segment addressed to
//!   this connection, with the connection's buffers and loss state. It returns a [`Reaction`]: the events for
//!   the application ([`Events`]), a stateless reply to send at once (RSTs only), and the
//!   reason when the segment was dropped (for the endpoint's per-reason counters). In LISTEN a
//!   SYN yields [`Events::SYN_TO_LISTENER`]: the endpoint computes the ISS for the 4-tuple and
//!   calls [`Tcb::accept`].
//! * **Transmit, in two phases.** Whenever the endpoint holds a transmit buffer it calls
//!   [`Tcb::poll_transmit`]. That first runs every expired deadline (retransmission, persist,
//!   delayed ACK, keepalive, TIME-WAIT, FIN-WAIT-2): there is no timer thread. Then it *plans*
//!   at most one segment ([`TxPlan`]: the header, which send-buffer bytes to copy, and the TSO
//!   MSS for the device) without changing the sequence space. The endpoint writes the frame and
//!   calls [`Tcb::commit`] only when the frame really went out; a plan it cannot send (neighbour
//!   miss, no descriptor) is simply dropped and will be planned again, so nothing waits for an
//!   RTO. A plan is valid until the next call that changes the `Tcb`; committing a stale plan
//!   is refused with [`StalePlan`]. Loop `poll_transmit`/`commit` until it returns `None`.
//! * **Sleep.** [`Tcb::next_deadline`] says when the connection next needs a send opportunity
//!   even if nothing arrives, so a poll loop sleeps exactly until the earliest deadline.
//! * **Close.** [`Tcb::close`] queues a FIN after the buffered data, [`Tcb::abort`] returns the
//!   RST to send. When [`Tcb::state`] is [`State::Closed`], [`Tcb::close_reason`] says why and
//!   the endpoint frees the slot.
//!
//! Time is an [`Instant`] handed in by the caller (microseconds), so every test runs on a
//! simulated clock.
//!
//! # Protocol
//! * **RFC 9293** state machine with all eleven states, simultaneous open and close, FIN in
//!   every state, RST generation (`reset_for` answers segments for closed ports) and RFC 5961
//!   RST/SYN/ACK validation with a per-connection rate limit on challenge ACKs.
//! * **RFC 6298** RTO: SRTT/RTTVAR, Karn's rule (no sample from a retransmitted segment, nor
//!   from new data sent during recovery, whose cumulative ACK waits for the holes below it;
//!   timestamp echoes stay valid), exponential backoff, configurable minimum and maximum, RTO
//!   of at least 3 s after a lost SYN when no sample exists (5.7). The timer restarts on every
//!   ACK of new data (5.3), in NewReno recovery only on the first partial ACK (RFC 6582).
//! * **RFC 5681/6582/3042/6928** NewReno: slow start with appropriate byte counting (RFC 3465,
//!   L = 2 SMSS), congestion avoidance by byte counting, fast retransmit on exactly the
//!   DupThresh-th (third) duplicate ACK (a duplicate carries no data, no SYN/FIN, the same
//!   window and acknowledges SND.UNA while data is outstanding), fast recovery with the
//!   `recover` point, partial ACKs retransmitting the next hole with the timer reset on the
//!   first one, Limited Transmit on the first DupThresh - 1 (two) duplicates, IW10 (one
//!   segment after a lost SYN), restart after idle.
//!   The default congestion control ([`CongestionControl::NewReno`]).
//! * **RFC 9438 CUBIC** when [`TcbConfig::congestion`] selects it (private module `cubic`): the
//!   same slow start, loss detection, recovery and timers, with beta_cubic = 0.7 at every
//!   congestion event (fast retransmit, SACK recovery entry, the tail loss probe's response,
//!   the RTO), fast convergence, congestion-avoidance growth towards
//!   `W_cubic(t + SRTT) = C * (t + SRTT - K)^3 + W_max` (C = 0.4) clamped to
//!   `[cwnd, 1.5 * cwnd]`, the Reno-friendly estimate W_est (alpha_cubic = 9/17, 1 once it
//!   reaches W_max), K = 0 and W_max = the window at the first epoch after an RTO, and a new
//!   epoch after an idle restart or a wait behind the peer's closed window.
//! * **RFC 9406 HyStart++** in the initial slow start of either congestion control, per
//!   [`TcbConfig::hystart`] (default on; private module `hystart`): rounds end when SND.UNA
//!   passes `windowEnd`; after 8 RTT samples in a round whose minimum rose by
//!   `clamp(lastRoundMinRTT / 8, min, max)` over the last round's, Conservative Slow Start
//!   (a quarter of slow start's growth), back to slow start if a CSS round's minimum falls
//!   below the one that started it, congestion avoidance (`ssthresh = cwnd`) after 5 CSS
//!   rounds. Only before the first congestion event (loss, ECN echo, tail loss probe's
//!   reduction, RTO): slow start after an RTO is classic. Its state takes no byte of the
//!   `Tcb`: it sits in `ssthresh`'s unused values and in fields nothing reads before the
//!   first congestion event (`ca_acked`, CUBIC's `cubic_w_max` and `cubic_origin`; see the
//!   module for the proof and the debug assertions). [`Tcb::hystart_phase`] says where it
//!   stands; [`Reaction::hystart_exit`] marks the ACK that left slow start (the endpoint
//!   counts them, `hystart_exits`). Deviation 28.
//! * **RFC 7323** window scaling (shift chosen from the receive buffer's capacity) and
//!   timestamps with PAWS; RTT samples come from a timed segment (microsecond resolution) and,
//!   where Karn's rule forbids that (after retransmissions), from the timestamp echo.
//! * **RFC 2018/6675** SACK: this host reports the most recent out-of-order range first; as a
//!   receiver it also reports duplicates (**RFC 2883 D-SACK**): a segment received wholly or
//!   partly before (below RCV.NXT or inside a held out-of-order range) puts the repeated range
//!   first in the next ACK, followed by the out-of-order range holding it, once; a sender
//!   (Linux's undo and reordering logic) learns from it that a retransmission was spurious.
//!   Only the latest duplicate is reported, and an out-of-order segment that partly overlaps
//!   a held range reports nothing (deviation 26). A data segment PAWS drops (an old copy,
//!   overtaken by a retransmission with a later timestamp) is reported up to RCV.NXT, as
//!   Linux does. As a
//!   sender it keeps a bounded scoreboard and recovers with RFC 6675's pipe algorithm
//!   (`IsLost` with DupThresh, `SetPipe`, `NextSeg` rules 1 to 3, HighRxt, lost
//!   retransmissions detected from later SACKs), exiting at
//!   `recover`. Recovery starts on the third duplicate ACK or on any ACK with new SACK
//!   information, cumulative or not, after which `IsLost(SND.UNA)` holds (RFC 6675 section
//!   5), so a peer that coalesces its ACKs still triggers it. Without SACK, NewReno.
//! * **Reordering learnt from D-SACKs** (RFC 4653's idea, Linux's `tp->reordering`; RFC
//!   8985 6.2 grows RACK's reordering window on D-SACKs the same way, in time rather than
//!   segments), per [`TcbConfig::adaptive_reordering`]: DupThresh starts at 3 (RFC 5681,
//!   6675) and doubles, up to 24, each time a D-SACK reports a range below the `recover`
//!   point of a loss recovery that made its own window reduction (flag `RXT_EPISODE`: no
//!   timeout, tail loss probe or ECN echo since): that recovery's retransmission was
//!   spurious, the original had only been overtaken. The duplicate-ACK trigger, `IsLost`
//!   (DupThresh SACKed ranges or more than (DupThresh - 1) * SMSS SACKed bytes above a hole)
//!   and Limited Transmit (a new segment for each of the first DupThresh - 1 duplicates, RFC
//!   4653 section 3's extension of RFC 3042) use it. A retransmission timeout sets it back
//!   to 3 (the higher threshold may have held back a recovery). The level is two flag bits
//!   (29, 30); deviation 27.
//! * **RFC 9937 Proportional Rate Reduction** (which obsoletes RFC 6937) decides how much SACK
//!   recovery sends on each ACK, with either congestion control (private module `prr`):
//!   `ssthresh / RecoverFS` of the data each ACK delivers while the pipe exceeds ssthresh
//!   (half a segment per delivered segment with NewReno, 0.7 with CUBIC, from the ACK that
//!   starts recovery on), then the reduction bound (PRR-CRB, PRR-SSRB on safe ACKs) towards
//!   ssthresh, `cwnd = pipe + sndcnt` on every ACK and `cwnd = ssthresh` at the end. Its
//!   counters live in the [`LossState`]; a connection that got none from the endpoint's pool
//!   recovers with RFC 6675 alone (`cwnd = ssthresh`). NewReno recovery without SACK keeps
//!   RFC 6582's window inflation.
//! * **Undo of spurious window reductions** (RFC 3522 Eifel detection, RFC 3708's D-SACK
//!   detection, RFC 4015's response in part; Linux's undo), per
//!   [`TcbConfig::spurious_undo`] (private module `undo`): fast or SACK recovery, a
//!   retransmission timeout and the tail loss probe's reduction each remember the window
//!   before the cut (cwnd, ssthresh, CUBIC's W_max), the first retransmission's TSval and
//!   what the episode retransmits, in the [`LossState`]. When the first ACK covering the
//!   first retransmission echoes an older timestamp (the original filled the hole), or
//!   D-SACKs reported every retransmitted byte, then by the end of the episode (a fast
//!   recovery runs to `recover`; a timeout or probe is undone at once on Eifel's word),
//!   `cwnd = max(cwnd, prior)` and `ssthresh = max(ssthresh, prior)`, W_max restored; after
//!   a timeout Eifel shows spurious, go-back-N stops. Never more than the window of before.
//!   Deviation 28.
//! * **RFC 8985 tail loss probe** (with SACK, outside recovery): when no ACK came for two
//!   smoothed RTTs (at least 1/16 of the minimum RTO, plus the delayed-ACK time when one
//!   segment is out), the last segment is
//!   sent again beyond cwnd, so a lost tail or a lost ACK is repaired by SACK recovery or the
//!   probe's ACK instead of the RTO; then the RTO is armed. One probe per ACK of new data.
//!   The probe's window reduction (deviation 20) counts as the window's one reduction: it
//!   moves `recover`, so a loss its ACK reveals starts recovery without a second cut.
//! * **RFC 1122** delayed ACK (immediate when more than one full-sized segment is unacknowledged,
//!   for out-of-order or hole-filling data, for a FIN, and when the peer could not send a full
//!   segment into the remaining window). Every out-of-order segment gets its own immediate ACK
//!   (RFC 5681 4.2, RFC 9293 3.10.7.4): the ACKs owed are counted, and the send phase plans one
//!   per segment even when a whole receive burst arrived before it, so the peer sees one
//!   duplicate ACK per segment above a hole; in-order data is still acknowledged at least
//!   every second full-sized segment (RFC 5681's rule, coalesced within a burst), receiver SWS avoidance (the right edge advances by at
//!   least min(buffer/2, MSS)) with window updates when the application frees space, sender
//!   SWS avoidance, Nagle, zero-window probing with backoff, optional keepalive.
//! * **RFC 3168** Explicit Congestion Notification, per [`TcbConfig::ecn`] ([`EcnMode`]: off,
//!   accept the peer's request (the default, as Linux), or ask too): ECN-setup SYN (ECE, CWR)
//!   and SYN-ACK (ECE), neither ECN-capable; then new data goes ECT(0) ([`TxPlan::ect`]) and
//!   pure ACKs, window probes, keepalives and retransmissions do not. A CE-marked data
//!   segment (the general parser reports the IPv4 mark as [`TcpFlags::IP_CE`]; the fast
//!   parser, header prediction and GRO leave such segments to it) makes every segment carry
//!   ECE until the peer's CWR, and its first mark is acknowledged at once (as Linux's
//!   quick-ACK on CE). An ACK with ECE reduces the window as a loss would (`ssthresh =
//!   max(FlightSize / 2, 2 SMSS)` with the FlightSize before that ACK, with CUBIC 0.7,
//!   `cwnd = ssthresh`) without retransmitting, and an ACK with ECE never grows the window
//!   (6.1.2); the reduction comes once per window of data (until
//!   SND.UNA passes the SND.MAX of the reduction, kept in `recover`, and the CWR announcing
//!   it has gone out) and never during loss recovery; after any reduction the next new data
//!   segment carries CWR, on one wire segment. See `ecn.rs`.
//! * **ICMP errors** the endpoint validated (RFC 5927; [`Tcb::icmp_sequence_acceptable`]
//!   says whether a quoted sequence number is in flight): RFC 1191 "fragmentation needed"
//!   lowers the send MSS, never raises it, and resends the flight at once in segments of the
//!   new size without a window cut ([`Tcb::on_fragmentation_needed`]); RFC 1122 4.2.3.9 hard
//!   errors abort SYN-SENT only ([`Tcb::on_hard_error`], [`CloseReason::Unreachable`]). No
//!   byte of the `Tcb`: `smss` holds the path's MSS too. See `icmp.rs`.
//! * **RFC 8257 DCTCP** when [`TcbConfig::congestion`] selects it and ECN is negotiated
//!   (private module `dctcp`; without ECN the connection is NewReno): alpha, the EWMA (g =
//!   1/16, initially 1) of the fraction of segments acknowledged with ECE per observation
//!   window (one per round trip: until SND.UNA passes the RTT timer's segment), and on an
//!   echo, once per window as RFC 3168's, `ssthresh = max(cwnd * (1 - alpha / 2), 2 SMSS)`,
//!   `cwnd = min(cwnd, ssthresh)`. Slow start, growth, loss recovery and the RTO are
//!   NewReno's; no HyStart++. As a receiver, ECE mirrors the CE mark of the latest data
//!   segment (CWR does not end it), a change of mark is acknowledged at once, and data
//!   received before the change and not yet acknowledged gets its own ACK first, with the old
//!   mark. Its state overlays CUBIC's two fields and, for the old-mark ACK, `rcv_fin`; its
//!   identity is CUBIC's epoch bit on a non-CUBIC connection. An echo's cut voids any undo
//!   record (it moves `recover`), so it is never undone. Deviation 30.
//! * **Offloads:** with [`TcbConfig::tso`] the planner emits super-segments of up to the
//!   device's largest TSO payload (bounded by cwnd, the peer's window and the data) and reports
//!   the per-segment MSS for `TxMeta::tso_mss`; retransmissions are MSS-sized.
//!
//! # Nagle without the delayed-ACK deadlock
//! Nagle is Minshall's variant: a sub-MSS segment is held only while an earlier *sub-MSS*
//! segment is unacknowledged, so the tail of a bulk write never waits for a delayed ACK. The
//! receiver acknowledges at once when more than one full-sized segment (the largest seen) is
//! unacknowledged or when less than one full-sized segment of window remains, and it sends a
//! window update when the application drains the buffer, so small buffers (smaller than two
//! MSS, e.g. 64 KiB at MTU 65535, where smoltcp stalls at 0.05 Gbit/s) never wait for the
//! delayed-ACK timer. A regression test runs exactly that case.
//!
//! # Deviations from the RFCs (deliberate)
//! 1. Data and FIN carried in a SYN or SYN-ACK are not queued (the SYN alone is acknowledged and
//!    the peer retransmits them). No TCP Fast Open.
//! 2. A RST in SYN-RECEIVED of a passive open returns the `Tcb` to LISTEN (as RFC 9293 says)
//!    but the endpoint decides whether the slot keeps listening.
//! 3. A RST in TIME-WAIT is ignored (RFC 1337 "TIME-WAIT assassination" fix) instead of
//!    closing as RFC 9293 says.
//! 4. A SYN in SYN-RECEIVED that repeats the peer's ISN retransmits the SYN-ACK (Linux does the
//!    same); any other SYN in SYN-RECEIVED or a synchronized state gets a challenge ACK.
//! 5. The urgent pointer is ignored; urgent data is delivered inline (RFC 6093 advises against
//!    using it).
//! 6. Challenge ACKs and ACKs answering out-of-window segments without payload share one
//!    per-connection limit (RFC 5961 section 7 suggests a system-wide limit, which leaks state
//!    across connections, CVE-2016-5696). Out-of-window segments with payload are always
//!    answered.
//! 7. A segment without timestamps on a connection that negotiated them is dropped (RFC 7323
//!    3.2 "SHOULD") except RSTs. PAWS treats `TS.Recent` as invalid after 24 days idle.
//! 8. The MSS assumed when the peer's SYN has no MSS option is 536 (RFC 9293); MSS values
//!    below 64 are raised to 64 so hostile peers cannot force tiny segments.
//! 9. Congestion window growth in slow start uses RFC 3465 byte counting with L = 2 SMSS.
//!    The RTO backoff is cleared by any ACK of new data (as Linux does), not only by a new RTT
//!    sample.
//! 10. After a retransmission timeout the scoreboard is cleared (RFC 2018 section 8) and data is
//!     resent from SND.UNA (go-back-N); ACKs carry `SEQ = min(SND.MAX, SND.UNA + SND.WND)`
//!     so that they stay acceptable to the peer during go-back-N.
//! 11. At most [`reasm::MAX_OOO_RANGES`] out-of-order ranges are held; a segment needing one
//!     more is dropped (and counted) but still answered with an ACK. The scoreboard keeps the
//!     lowest [`scoreboard::SCOREBOARD_RANGES`] ranges; forgetting higher ones only makes
//!     recovery more conservative.
//! 12. During SACK recovery a partial ACK that leaves no hole marked lost by RFC 6675's rule
//!     retransmits the segment at SND.UNA (NewReno's rule), so a single loss near the end of the
//!     window needs no RTO. `NextSeg` rule 3 (resend an un-SACKed segment that is not yet
//!     deemed lost) applies only when no unsent data waits: while data waits behind the peer's
//!     window it would resend what is merely in flight. No rescue retransmission (rule 4), no
//!     RACK, no Accurate ECN (RFC 9768), no ECN nonce. The NewReno rule stays on after D-SACKs raised DupThresh
//!     (deviation 27): it may resend a segment that is only late, but without it a hole the
//!     larger threshold leaves unmarked waits for the RTO.
//! 13. Keepalive probes carry no data (`SEQ = SND.NXT - 1`), as RFC 1122 permits.
//! 14. Nagle is Minshall's variant (see above) rather than RFC 1122's original rule; window
//!     probes do not count as small segments for it.
//! 15. Beyond RFC 1122, an ACK is sent at once when less than one full-sized segment of
//!     receive window remains, so a window-limited peer never waits for the delayed-ACK timer.
//! 16. Restart after idle measures idleness on a 256 us clock that wraps after 12 days; at
//!     worst one restart is skipped after such an idle period. Idleness counts from the
//!     later of the last transmission and the ACK that drained the flight (RFC 5681 4.1 says
//!     from the last transmission, as Linux does): with a small minimum RTO on a jitter-free
//!     path the RTO comes within a clock tick of the RTT, and a window's wait for its ACKs
//!     would otherwise collapse cwnd to the initial window every round trip.
//! 17. The default 2 * MSL is 60 s (Linux) rather than RFC 9293's 4 minutes; configurable.
//! 18. The fast retransmission (and, in SACK recovery, every retransmission at SND.UNA)
//!     restarts the retransmission timer, as Linux does: RFC 6298 5.1 would leave the timer
//!     armed for the original transmission, which may fire while recovery repairs the hole.
//! 19. Duplicate ACKs owed to out-of-order segments that arrived before a hole-filling one in
//!     the same receive burst are not sent: they would carry the new cumulative ACK and look
//!     like duplicates of it. At most 256 immediate ACKs are owed at once.
//! 20. The tail loss probe retransmits the last segment even when new data waits (RFC 8985
//!     prefers new data): a receiver acknowledges a duplicate at once, whereas one new in-order
//!     segment may wait for its delayed-ACK timer, as long as the minimum RTO in data-center
//!     settings. Without D-SACK a probe cannot be told from a repair, so every probe reduces
//!     cwnd as a loss would (RFC 8985 7.4.2's response, taken when the probe is sent), at
//!     once rather than through PRR, and once per window of data: `recover` moves to
//!     SND.MAX, no probe reduces again before SND.UNA passes it, and a loss found in that
//!     window starts SACK recovery without a second reduction (nor a second CUBIC fast
//!     convergence).
//! 21. Lost retransmissions are detected in SACK recovery (RFC 6675 leaves them to the RTO):
//!     once data sent after the latest retransmission is SACKed while SND.UNA is still
//!     missing, HighRxt goes back to SND.UNA and the un-SACKed holes are sent again, without
//!     a second window reduction. A reordering path may make this resend a segment early.
//! 22. ECN (RFC 3168): a SYN retransmitted after a timeout no longer asks for ECN (the
//!     fallback 6.1.1.1 allows, as Linux does); a SYN-ACK retransmitted by a listener that
//!     agreed keeps ECE, unless the peer's SYN came again without asking: then the SYN-ACK
//!     goes plain and our data not ECN-capable (RFC 3168 6.1.1's SHOULD NOT), but marks the
//!     peer's data brings are still echoed (a peer whose first SYN-ACK arrived after all may
//!     use ECN). Likewise a client that fell back to a plain SYN and then hears an ECN-setup
//!     SYN-ACK echoes marks but never sends ECN-capable data (6.1.1's MUST NOT; Linux would). Only the first CE mark of an echo
//!     episode gets an immediate ACK, and a data segment with CWR is acknowledged at once
//!     (both as Linux). An echo on the ACK
//!     that acknowledges exactly the SND.MAX of the last reduction still counts as the old
//!     signal (the peer sent it before it could see our CWR). A CE-marked SYN or pure ACK is
//!     not echoed (RFC 3168 marks only data ECN-capable). The window is never raised by a
//!     reduction (`cwnd = min(cwnd, ssthresh)`). No per-connection ECN counters: the
//!     endpoint counts marks, reductions and ECN connections (a `Tcb` has no room for more).
//! 23. CUBIC (RFC 9438), where it departs from the RFC: W_est is kept in `ssthresh` during
//!     congestion avoidance (it starts at cwnd_epoch, which is at least ssthresh there, and
//!     only grows), so `ssthresh()` reports W_est there and slow start after an idle restart
//!     climbs to W_est rather than to the last loss's ssthresh; cwnd never falls below W_est
//!     in congestion avoidance (the RFC sets cwnd = W_est only while W_cubic(t) < W_est);
//!     alpha_cubic becomes 1 once W_est reaches W_max (the RFC says cwnd_prior, the window
//!     before the reduction: the two differ after fast convergence, an RTO, or an epoch that
//!     started above the old maximum, where W_max is the epoch's starting window);
//!     the per-ACK increase `(target - cwnd) * acked / cwnd` is rounded up to a byte; W_max
//!     is kept in SMSS units up to 65535 segments (95 MB at MSS 1460: a larger window is
//!     remembered as that, so growth turns convex sooner); the curve's origin (epoch start
//!     plus K) on an 8.192 ms clock, kept at most 134 s in the past (the cubic term is then
//!     960 000 segments, far beyond the 1.5 * cwnd clamp); the epoch ends when the peer's
//!     window holds the data back (t leaves out that wait, RFC 9438 5.8), and at an ACK that
//!     may not grow the window (deviation 24), so the curve restarts from the window as it
//!     stands (W_max kept) once cwnd limits again. Spurious-loss undo (4.9): cwnd,
//!     ssthresh and W_max come back, the epoch restarts from the window as it stands
//!     (deviation 28). An ECN echo reduces the window as a loss does (0.7, W_max recorded, RFC 9438 4.6).
//! 24. Both congestion controls grow the window only while cwnd limits the sender (RFC 5681
//!     lets it grow on every ACK of new data; this is RFC 7661's idea, RFC 9438 5.8 for
//!     CUBIC, and Linux's `tcp_is_cwnd_limited` for all): every data segment sent decides it
//!     (flag `CWND_LIMITED`: the flight after it within one MSS of cwnd, in slow start more
//!     than half of cwnd), and the ACKs processed before the next send all see that verdict.
//!     An ACK that finds it clear grows nothing (nor CUBIC's W_est), so slow start stops at
//!     about twice the flight used and an application that uses a tenth of the window does
//!     not inflate it. A sender held back by the peer's window is not cwnd-limited (RFC 9438
//!     5.8 counts the receiver's window as application-limiting; Linux likewise). Unlike
//!     Linux, the verdict is the last send's, not "cwnd-limited at any time in the last
//!     window" (one bit has no room for Linux's `cwnd_usage_seq`): a send phase cut short
//!     before cwnd fills (a full transmit ring) leaves the ACKs until the next send phase
//!     ungrown. Not done: the window is not reduced while unused (RFC 7661's decay, Linux's
//!     `tcp_cwnd_application_limited`), so a burst after a long application-limited period
//!     still leaves at the window of before (no larger, though).
//! 25. Proportional Rate Reduction (RFC 9937) runs in SACK recovery only, and only on a
//!     connection that holds a [`LossState`] from the start of the recovery: a connection the
//!     endpoint's exhausted pool hands an empty state each call recovers with RFC 6675 alone
//!     (`cwnd = ssthresh`, counted as `loss_states_exhausted`). NewReno recovery without SACK
//!     keeps RFC 6582's inflation; window reductions for an ECN echo or a tail loss probe
//!     apply at once (`cwnd = min(cwnd, ssthresh)`, RFC 9937 allows PRR there but does not
//!     require it). SafeACK's "no further loss indicated" is read as: no un-SACKed byte newly
//!     deemed lost by `IsLost` and no retransmission found lost again. A hole's
//!     retransmission goes out whole when `pipe < cwnd` (RFC 6675), so it may exceed `sndcnt`
//!     by less than a segment, which `prr_out` takes back at the next ACK; new data waits for
//!     a whole segment of `sndcnt` (sender SWS avoidance).
//! 26. D-SACK (RFC 2883) reports only the latest duplicate received before an ACK went out
//!     (the RFC allows more blocks for several), only on connections that negotiated SACK, and
//!     only for duplicates wholly below RCV.NXT, the repeated head of a segment that also
//!     brings new data, or a segment wholly inside a held out-of-order range; the overlap of
//!     a partly new out-of-order segment with a held range is not reported. The report needs
//!     a loss state from the endpoint's pool; when none is free it is skipped (counted as
//!     `loss_states_exhausted`), the ACK itself still goes out. As a sender the engine
//!     counts the D-SACKs it receives (`dsacks_received`), learns the path's reordering
//!     from them (deviation 27) and undoes a window reduction whose retransmissions they all
//!     report (deviation 28).
//! 27. DupThresh is learnt from D-SACKs (see Protocol) in four steps, 3, 6, 12 and 24 (two
//!     flag bits; Linux measures the reordering distance in segments, up to 300), one step
//!     per spurious recovery; it never decays but goes back to 3 at any retransmission
//!     timeout (Linux's `tcp_enter_loss` only when DupThresh segments were SACKed; RACK,
//!     RFC 8985 6.2, after 16 recoveries without a D-SACK, which needs a counter the `Tcb`
//!     has no room for). A D-SACK counts when it lies below
//!     the last recovery's `recover` and within the largest window the peer offered below it
//!     (the `Tcb` has no room for the recovery's first sequence number): a duplicate the
//!     network made of an original sent in that window raises it too. A recovery that starts
//!     inside a window a tail loss probe or an ECN echo already reduced does not count (its
//!     D-SACK may be the probe's). Limited Transmit sends one new segment for each of the
//!     first DupThresh - 1 duplicates (RFC 4653's extension; RFC 3042 stops at two), cwnd
//!     unchanged: each duplicate stands for a segment that left the network. No time-based
//!     reordering window (RACK, RFC 8985): a path that holds segments back for several round
//!     trips reorders deeper than 24 segments at a high rate, and still draws spurious fast
//!     retransmissions, fewer than with DupThresh 3. Without SACK the threshold stays 3.
//! 28. Undo of spurious window reductions (module `undo`; RFC 3522, 3708, 4015, RFC 9438
//!     4.9). The record lives in the [`LossState`]: a connection the endpoint's pool cannot
//!     serve when the cut is made undoes nothing (counted as `loss_states_exhausted`). Eifel
//!     looks only at the first ACK covering the first retransmission, and needs our timestamp
//!     clock to have ticked between original and retransmission. D-SACK detection counts the
//!     reported bytes inside the span from the lowest to the highest byte the episode
//!     retransmitted, each byte once (a watermark: D-SACKs arriving out of order count less,
//!     never more); a byte inside that span that was not retransmitted cannot be told apart
//!     (there is no per-segment record), so a receiver could make an undo come early by
//!     reporting it, never a larger window. A byte retransmitted twice (a lost
//!     retransmission, go-back-N after a second timeout) counts twice, so such an episode is
//!     undone only by Eifel. D-SACKs count until SND.UNA passes what was sent when the
//!     episode ended, or, when the flight drained then, for one RTO on the otherwise idle
//!     retransmission timer (one wake-up with nothing to do; a persist timer takes the
//!     timer's place, new data restarts it); the next reduction (its own episode) and
//!     TIME-WAIT end the record, and another reduction in between (an ECN echo) voids it.
//!     A fast recovery Eifel shows spurious still runs to its end at the reduced rate
//!     before the undo (restoring at once measured slower here). What RFC
//!     4015 does not get here: the RTO estimator is not adjusted after a spurious timeout,
//!     the reordering level a timeout reset is not restored, an ECN CWR already announced
//!     for the cut is not withdrawn, and a spurious timeout found by D-SACK (after its
//!     go-back-N) only restores the window.
//! 29. HyStart++ (RFC 9406), where it departs from the RFC: the delay threshold's bounds
//!     are configurable ([`HyStart`]) and default to 25 us and 16 ms instead of
//!     MIN_RTT_THRESH = 4 ms and MAX_RTT_THRESH = 16 ms ([`HyStart::RFC`] has those): our
//!     users run data centres with RTTs of tens of microseconds, where a 4 ms rise is a
//!     queue of megabytes that a shallow-buffered switch port drops long before, so the
//!     RFC's floor never triggers; 25 us is about 20 full frames of queue at 10 Gbit/s (200
//!     at 100 Gbit/s), above the jitter of a busy-polling host and above 2 ticks of
//!     [`TcbConfig::DATACENTER`]'s timestamp clock. On paths whose RTT/8 lies between the
//!     floors (RTTs below 32 ms) this threshold is lower than the RFC's, i.e. HyStart++
//!     leaves slow start at a smaller queue. The threshold is also never below two
//!     timestamp ticks (quantisation of the echo is not a queue; with the RFC config's 1 ms
//!     tick that is 2 ms). RTT samples: the timed segment's when its ACK completes it, else
//!     the timestamp echo of each ACK of new data (Linux times every segment; the `Tcb` has
//!     room for one): without timestamps a round has one sample, never 8, and slow start
//!     stays classic. Only ACKs that arrive while cwnd limits the sender (flag
//!     `CWND_LIMITED`, deviation 24) are looked at, as only they grow the window: an
//!     application-limited flight (a request far below cwnd) costs nothing, and its rounds
//!     are not tracked (Linux similarly starts HyStart only at a window of 16 segments).
//!     A round begins at the first ACK that passes `windowEnd` (as Linux;
//!     RFC 9406 says when `windowEnd` is acknowledged). lastRoundMinRTT and
//!     cssBaselineMinRtt share one 16-bit field (RTTs as 16-bit floats, 1/2048 precision),
//!     so slow start resumed from CSS compares with the baseline until its round ends
//!     (module `hystart`). Slow start keeps L = 2 SMSS (RFC 9406 allows 8 unpaced); CSS
//!     grows `min(N, 2 SMSS) / 4` per ACK.
//! 30. DCTCP (RFC 8257), where it departs from the RFC (module `dctcp`): it runs only when
//!     ECN was negotiated in the handshake with our data ECN-capable, else the connection
//!     is NewReno from its establishment on (as Linux falls back; RFC 3168's SYN rules
//!     kept: SYNs are not ECN-capable, RFC 8257 3.1's ECT on control packets is not
//!     done). The observation window is the RTT timer's: it ends at the ACK that moves
//!     SND.UNA past the timed segment (Karn: none is timed in loss recovery, so a window
//!     spanning a recovery ends after it), or after 1023 segments (10-bit counters), which
//!     updates alpha more than once per round trip on windows beyond 1.5 MB at MSS 1460. F
//!     is the fraction of segments, `ceil(acked / SMSS)` per ACK, rather than of bytes (the
//!     same for full-sized segments). alpha has 11 bits (units of 1/2048) and is rounded
//!     down at each update. No HyStart++ (both need the same overlaid fields; Linux's DCTCP
//!     has none). The cut is at once (`cwnd = min(cwnd, ssthresh)`), not through PRR, as
//!     RFC 3168's in this engine (deviation 25). The receiver's old-mark ACK is skipped
//!     while a FIN waits beyond a hole (its point lives in `rcv_fin`), and two changes of
//!     mark in one receive burst before the send phase give one old-mark ACK, up to the
//!     later change, with the mark before it. No per-connection DCTCP counters beyond
//!     [`Tcb::dctcp_alpha`]; the endpoint counts the echoes' reductions as for RFC 3168.
//! 31. CLOSE in SYN-SENT with data written (which the engine lets ride on the ACK that
//!     completes the handshake) queues the FIN after that data, as RFC 9293 does in
//!     SYN-RECEIVED, instead of deleting the connection and its data; the connection goes
//!     on to FIN-WAIT-1 when the handshake completes. With nothing written it is deleted,
//!     as the RFC says.
//! 32. A segment that could not leave (no route, neighbour unreachable or busy:
//!     [`Tcb::unsendable`]) arms the retransmission timer when it is not running, so it is
//!     planned again one RTO later; in SYN-SENT and SYN-RECEIVED those expiries count toward
//!     `max_syn_retransmissions`, so an open that can never send ends TimedOut. In the
//!     synchronized states, with nothing in flight, they count as retransmission timeouts
//!     (the RTO backs off, and after `max_retransmissions` the connection ends TimedOut), as
//!     Linux's retries would end it. This holds for a window update alone too (no data, FIN,
//!     probe or owed ACK): Linux does not retry a window update that could not leave at all
//!     (the peer's zero-window probes ask for it again); here it is tried again, backing off,
//!     and the connection ends like one whose ACKs can never leave.
//! 33. The persist timer probes a closed window for as long as the peer answers (RFC 1122
//!     4.2.2.17), at intervals backing off to the maximum RTO; after `max_retransmissions`
//!     probes in a row with no acceptable segment from the peer the connection closes
//!     (TimedOut), as Linux does, so a peer that closed its window and vanished does not hold
//!     the slot forever. The count starts at zero when persist starts (keepalive probes sent
//!     while the connection was idle do not count). A probe that could not leave
//!     ([`Tcb::unsendable`]) within an RTO counts as one more unanswered probe, not as a data
//!     timeout (the RTO backoff of a window closed for long is far beyond
//!     `max_retransmissions`, so one busy neighbour would otherwise end the connection).

pub mod buffer;
pub mod config;
mod congestion;
mod cookie;
mod cubic;
mod dctcp;
mod ecn;
mod hystart;
mod icmp;
mod input;
mod output;
mod predict;
mod prr;
pub mod reasm;
mod rtt;
pub mod scoreboard;
mod undo;

#[cfg(test)]
mod tests;

pub use buffer::{RecvBuffer, RingBuffer, SendBuffer};
pub use config::{
    CongestionControl, EcnMode, HyStart, Keepalive, TcbConfig, UnknownCongestionControl,
};

pub use ecn::EcnEvents;

use crate::segment::{TcpFlags, TcpHeader};
use crate::seq::SeqNum;
use crate::time::{Duration, Instant};
use prr::Prr;
use reasm::Reassembly;
use rtt::RttEstimator;
use scoreboard::Scoreboard;
use undo::Undo;

/// The eleven connection states of RFC 9293.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a SYN.
    Listen,
    /// SYN sent, waiting for the peer's SYN.
    SynSent,
    /// SYN received and answered, waiting for the ACK of ours.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We closed; our FIN is not acknowledged yet.
    FinWait1,
    /// We closed and our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer closed; waiting for the application to close.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Both closed; waiting 2 * MSL so stray segments die out.
    TimeWait,
}

impl State {
    /// Whether the handshake completed (ESTABLISHED or later, not CLOSED).
    #[inline]
    pub const fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// Whether the peer may still send data (its FIN has not been received).
    #[inline]
    const fn receives_data(self) -> bool {
        matches!(
            self,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2
        )
    }
}

/// Why a connection reached CLOSED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CloseReason {
    /// Not closed (or a fresh `Tcb`).
    None,
    /// Both sides closed and everything was acknowledged (or TIME-WAIT ended).
    Normal,
    /// The peer refused the connection (RST in SYN-SENT or to our SYN-ACK).
    Refused,
    /// The peer reset the connection.
    Reset,
    /// Retransmissions (or SYN retransmissions, or FIN-WAIT-2) timed out.
    TimedOut,
    /// Keepalive probes went unanswered.
    KeepaliveTimedOut,
    /// The application aborted.
    Aborted,
    /// The application closed before the connection was synchronized.
    ClosedBeforeOpen,
    /// An ICMP protocol or port unreachable answered our SYN (RFC 1122 4.2.3.9): the peer's
    /// host does not run TCP, or nothing listens on the port and its host answers with ICMP
    /// instead of a RST (a firewall rule such as `REJECT --reject-with icmp-port-unreachable`).
    Unreachable,
}

impl core::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CloseReason::None => "not closed",
            CloseReason::Normal => "closed normally",
            CloseReason::Refused => {
                "connection refused: the peer answered with a RST (nothing listens on that port)"
            }
            CloseReason::Reset => "the peer reset the connection",
            CloseReason::TimedOut => {
                "timed out: retransmissions unanswered (check the address, that the peer runs, \
                 and the route)"
            }
            CloseReason::KeepaliveTimedOut => "keepalive probes unanswered: the peer is gone",
            CloseReason::Aborted => "aborted by the application",
            CloseReason::ClosedBeforeOpen => "closed by the application before it was open",
            CloseReason::Unreachable => {
                "unreachable: an ICMP protocol or port unreachable answered the SYN (check \
                 that the peer listens on that port and that no firewall rejects it)"
            }
        })
    }
}

/// Why a received segment (or its payload) was dropped; the endpoint counts these per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The connection is CLOSED.
    Closed,
    /// A listener received a RST.
    ListenRst,
    /// A listener received an ACK (answered with a RST).
    ListenAck,
    /// A listener received neither SYN, ACK nor RST.
    ListenNoSyn,
    /// SYN-SENT: the ACK does not acknowledge our SYN (answered with a RST unless it was one).
    SynSentBadAck,
    /// SYN-SENT: a RST without an acceptable ACK.
    SynSentRstNoAck,
    /// SYN-SENT: neither SYN nor RST.
    SynSentNoSyn,
    /// Payload longer than any window could hold.
    Oversized,
    /// Timestamps were negotiated but the segment carries none.
    MissingTimestamp,
    /// PAWS: the timestamp is older than TS.Recent.
    Paws,
    /// The segment lies outside the receive window (answered with an ACK).
    OutOfWindow,
    /// A RST outside the window.
    RstOutOfWindow,
    /// A RST inside the window but not at RCV.NXT (challenge ACK).
    RstNotExact,
    /// A RST in TIME-WAIT (ignored, RFC 1337).
    RstInTimeWait,
    /// A SYN on a synchronized connection (challenge ACK).
    SynInSynchronized,
    /// A retransmitted SYN in SYN-RECEIVED (the SYN-ACK is sent again).
    DuplicateSyn,
    /// The ACK flag is off.
    NoAck,
    /// SYN-RECEIVED: the ACK does not acknowledge our SYN (answered with a RST).
    SynReceivedBadAck,
    /// The ACK acknowledges data never sent (answered with an ACK).
    AckTooNew,
    /// The ACK is older than SND.UNA - MAX.SND.WND (RFC 5961 5.2, answered with an ACK).
    AckTooOld,
    /// Payload arrived while the receive window was zero (answered with an ACK).
    ZeroWindow,
    /// Out-of-order payload that needed more than the bounded number of ranges.
    ReassemblyFull,
    /// Payload after the peer's FIN.
    DataAfterFin,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 23;

    /// Every reason, in declaration order (`ALL[r.index()] == r`).
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Closed,
        DropReason::ListenRst,
        DropReason::ListenAck,
        DropReason::ListenNoSyn,
        DropReason::SynSentBadAck,
        DropReason::SynSentRstNoAck,
        DropReason::SynSentNoSyn,
        DropReason::Oversized,
        DropReason::MissingTimestamp,
        DropReason::Paws,
        DropReason::OutOfWindow,
        DropReason::RstOutOfWindow,
        DropReason::RstNotExact,
        DropReason::RstInTimeWait,
        DropReason::SynInSynchronized,
        DropReason::DuplicateSyn,
        DropReason::NoAck,
        DropReason::SynReceivedBadAck,
        DropReason::AckTooNew,
        DropReason::AckTooOld,
        DropReason::ZeroWindow,
        DropReason::ReassemblyFull,
        DropReason::DataAfterFin,
    ];

    /// A dense index in `0..COUNT`, for per-reason counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short snake_case name (for counter listings).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Closed => "closed",
            DropReason::ListenRst => "listen_rst",
            DropReason::ListenAck => "listen_ack",
            DropReason::ListenNoSyn => "listen_no_syn",
            DropReason::SynSentBadAck => "syn_sent_bad_ack",
            DropReason::SynSentRstNoAck => "syn_sent_rst_no_ack",
            DropReason::SynSentNoSyn => "syn_sent_no_syn",
            DropReason::Oversized => "oversized",
            DropReason::MissingTimestamp => "missing_timestamp",
            DropReason::Paws => "paws",
            DropReason::OutOfWindow => "out_of_window",
            DropReason::RstOutOfWindow => "rst_out_of_window",
            DropReason::RstNotExact => "rst_not_exact",
            DropReason::RstInTimeWait => "rst_in_time_wait",
            DropReason::SynInSynchronized => "syn_in_synchronized",
            DropReason::DuplicateSyn => "duplicate_syn",
            DropReason::NoAck => "no_ack",
            DropReason::SynReceivedBadAck => "syn_received_bad_ack",
            DropReason::AckTooNew => "ack_too_new",
            DropReason::AckTooOld => "ack_too_old",
            DropReason::ZeroWindow => "zero_window",
            DropReason::ReassemblyFull => "reassembly_full",
            DropReason::DataAfterFin => "data_after_fin",
        }
    }
}

/// Things that happened, for the application. A bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Events(pub u16);

impl Events {
    /// The connection reached ESTABLISHED.
    pub const ESTABLISHED: Events = Events(1 << 0);
    /// New in-order bytes are readable in the receive buffer.
    pub const READABLE: Events = Events(1 << 1);
    /// The peer's FIN arrived in order: no more data will come.
    pub const PEER_CLOSED: Events = Events(1 << 2);
    /// Acknowledged bytes left the send buffer: there is room to write.
    pub const SEND_SPACE: Events = Events(1 << 3);
    /// The peer reset (or refused) the connection.
    pub const RESET: Events = Events(1 << 4);
    /// The connection reached CLOSED: free its slot.
    pub const CLOSED: Events = Events(1 << 5);
    /// A listener received a SYN: call [`Tcb::accept`] with an ISS.
    pub const SYN_TO_LISTENER: Events = Events(1 << 6);
    /// A passive open was reset in SYN-RECEIVED and the `Tcb` is listening again.
    pub const BACK_TO_LISTEN: Events = Events(1 << 7);
    /// The connection entered TIME-WAIT: both FINs are sent and acknowledged, nothing more
    /// will be sent or received; the application may take its buffers back
    /// (`Endpoint::release`) while the slot lingers for 2 * MSL. Comes with
    /// [`Events::PEER_CLOSED`] when the peer's FIN completed the close, and alone when the
    /// ACK of our FIN did (after a simultaneous close, from CLOSING).
    pub const TIME_WAIT: Events = Events(1 << 8);

    /// Whether all events of `other` happened.
    #[inline]
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether nothing happened.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Events {
    fn bitor_assign(&mut self, rhs: Events) {
        self.0 |= rhs.0;
    }
}

/// What [`Tcb::on_segment`] did with one segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaction {
    /// Events for the application.
    pub events: Events,
    /// A segment to send back at once without any state change: the RSTs of RFC 9293
    /// (ports already swapped from the received segment). ACKs are never here: they are
    /// planned by [`Tcb::poll_transmit`].
    pub reply: Option<TcpHeader>,
    /// Why the segment, or its payload, was discarded.
    pub dropped: Option<DropReason>,
    /// What the segment did to Explicit Congestion Notification, for the endpoint's counters.
    pub ecn: EcnEvents,
    /// The segment's first SACK block was a D-SACK (RFC 2883): the peer received something
    /// twice, most often because a retransmission of ours was spurious (a minimum RTO below
    /// the path's RTT variation, reordering taken for loss).
    pub dsack_received: bool,
    /// The segment showed a window reduction of ours spurious and undid it (Eifel, RFC 3522,
    /// or every retransmission of the episode D-SACKed, RFC 3708): cwnd and ssthresh are
    /// back to at least what they were before the cut.
    pub spurious_undone: bool,
    /// HyStart++ (RFC 9406) left slow start at this ACK: the round's minimum RTT rose by the
    /// threshold, and Conservative Slow Start began.
    pub hystart_exit: bool,
}

/// The phase of HyStart++ (RFC 9406) in a connection's initial slow start
/// ([`Tcb::hystart_phase`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HyStartPhase {
    /// Slow start, watching each round's minimum RTT.
    SlowStart,
    /// Conservative Slow Start: the RTT rose, the window grows at a quarter of slow start's
    /// pace for up to 5 rounds, then congestion avoidance; slow start again if the RTT
    /// falls back.
    ConservativeSlowStart,
}

/// Per-connection counters (saturating).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcbCounters {
    /// Segments sent again (timeout, fast retransmit, partial ACK, SACK recovery, tail loss
    /// probe).
    pub retransmitted_segments: u32,
    /// Fast retransmits (entries into fast recovery).
    pub fast_retransmits: u32,
    /// Retransmission timeouts.
    pub timeouts: u32,
    /// Duplicate ACKs received (RFC 5681 definition).
    pub duplicate_acks: u32,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u32,
    /// Segments dropped whole or in part (see [`DropReason`]).
    pub dropped_segments: u32,
    /// Zero-window probes sent.
    pub window_probes: u32,
}

/// What a [`Tcb::commit`] that took its plan reports besides the state it advanced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Committed {
    /// The segment was a tail loss probe (RFC 8985 7.3): the last segment sent again when no
    /// ACK came within the probe timeout. It is also counted among the retransmitted segments.
    pub loss_probe: bool,
}

/// A refused [`Tcb::commit`]: the plan was made before the `Tcb` changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StalePlan;

impl core::fmt::Display for StalePlan {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "transmit plan is stale: the connection changed after poll_transmit; \
             drop the frame and call poll_transmit again"
        )
    }
}

/// Errors of [`Tcb::accept`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptError {
    /// The segment is not a plain SYN (it has ACK or RST, or no SYN).
    NotASyn,
}

impl core::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AcceptError::NotASyn => write!(
                f,
                "accept needs a segment with SYN and without ACK or RST; answer other \
                 segments to a listener through Tcb::on_segment"
            ),
        }
    }
}

/// What kind of segment a [`TxPlan`] is; decides what [`Tcb::commit`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// Our SYN (active open).
    Syn,
    /// Our SYN-ACK (passive or simultaneous open).
    SynAck,
    /// Data and/or FIN sent for the first time.
    NewData,
    /// Data and/or FIN sent again.
    Retransmission,
    /// A zero-window probe (one byte).
    WindowProbe,
    /// A keepalive probe.
    Keepalive,
    /// A bare ACK (acknowledgement, window update, challenge ACK).
    Ack,
}

/// One segment [`Tcb::poll_transmit`] wants sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxPlan {
    /// The header. Ports are zero: the endpoint fills them in from the connection's 4-tuple.
    pub header: TcpHeader,
    /// Offset of the payload in the send buffer (0 = the first unacknowledged data byte).
    pub payload_offset: u32,
    /// Payload bytes to copy from the send buffer.
    pub payload_len: u32,
    /// With TSO: the MSS the device segments the payload with (`TxMeta::tso_mss`); `None`
    /// when the payload fits one segment.
    pub tso_mss: Option<u16>,
    /// What the segment is.
    pub kind: SegmentKind,
    /// Send it in an IPv4 header marked ECN-capable, ECT(0) (RFC 3168): new data of a
    /// connection that negotiated ECN. Never for SYNs, pure ACKs, window probes, keepalives
    /// or retransmissions (RFC 3168 6.1.1 and 6.1.5).
    pub ect: bool,
    /// Receive window this segment advertises, in bytes.
    advertised: u32,
    /// Consistency stamp (see [`Tcb::commit`]).
    stamp: [u32; 4],
}

impl TxPlan {
    /// Shrinks the plan to its first `len` payload bytes (no change when it holds no more).
    /// The FIN and PSH go with the last byte only, so a shortened plan carries neither; a plan
    /// of at most one segment needs no TSO. [`Tcb::commit`] accepts the shortened plan: the
    /// connection then records only what it covers.
    pub fn truncate(&mut self, len: u32) {
        if len >= self.payload_len {
            return;
        }
        self.payload_len = len;
        self.header.flags = self.header.flags.without(TcpFlags::FIN | TcpFlags::PSH);
        if self.tso_mss.is_some_and(|mss| len <= u32::from(mss)) {
            self.tso_mss = None;
        }
    }

    /// Shrinks a super-segment to its first MSS-sized segment (see [`TxPlan::truncate`]).
    pub fn truncate_to_first_segment(&mut self) {
        if let Some(mss) = self.tso_mss {
            self.truncate(u32::from(mss));
        }
    }
}

/// The loss-recovery state of one connection: the out-of-order ranges of its receive side and
/// a pending D-SACK report, the SACK scoreboard of its send side, the Proportional Rate
/// Reduction counters of a SACK recovery and the record of the last window reduction until it
/// is known whether it was spurious (140 bytes).
///
/// It lives outside the [`Tcb`] because most connections need none most of the time: only one
/// holding out-of-order data, owing a D-SACK report, recovering from loss with SACK or
/// waiting to learn whether a window reduction was spurious does. Every call that may touch
/// it takes it as a parameter. An owner of one `Tcb` keeps one `LossState` next to it; an
/// endpoint with a million connections lends entries from a small pool to the connections
/// whose [`Tcb::needs_loss_state`] says so, and hands the others an empty one. Replacing a
/// connection's state by [`LossState::EMPTY`] at any time is safe (out-of-order data is then
/// received again, the scoreboard relearnt, a running recovery goes on without Proportional
/// Rate Reduction, RFC 6675 alone, a spurious window reduction is not undone): it only costs
/// retransmissions and throughput.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossState {
    reasm: Reassembly,
    sb: Scoreboard,
    /// Proportional Rate Reduction of the running SACK recovery (see `prr`).
    prr: Prr,
    /// The window before the last reduction, until it is shown spurious or kept (see
    /// `undo`).
    undo: Undo,
}

impl LossState {
    /// No out-of-order ranges, an empty scoreboard.
    pub const EMPTY: LossState = LossState {
        reasm: Reassembly::EMPTY,
        sb: Scoreboard::EMPTY,
        prr: Prr::EMPTY,
        undo: Undo::EMPTY,
    };

    /// Whether it holds no ranges at all (nor a duplicate waiting to be reported, nor the
    /// record of a window reduction that may yet prove spurious).
    #[inline]
    pub fn is_empty(&self) -> bool {
        !self.reasm.reports_sack() && self.sb.ranges().is_empty() && !self.undo.active()
    }

    /// Whether it holds the record of a window reduction that may yet be undone.
    pub fn undo_pending(&self) -> bool {
        self.undo.active()
    }

    /// Whether the undo record is all it holds (in TIME-WAIT no ACK of ours is outstanding:
    /// the record can go).
    #[inline]
    fn holds_only_undo(&self) -> bool {
        !self.reasm.reports_sack() && self.sb.ranges().is_empty()
    }

    /// Out-of-order ranges held (receive side).
    pub fn out_of_order(&self) -> &[crate::segment::SackBlock] {
        self.reasm.ranges()
    }

    /// SACKed ranges remembered (send side).
    pub fn sacked(&self) -> &[crate::segment::SackBlock] {
        self.sb.ranges()
    }
}

/// Flag bits of [`Tcb::flags`].
mod flag {
    /// Opened by `accept` (a RST in SYN-RECEIVED returns to LISTEN).
    pub const PASSIVE: u32 = 1 << 0;
    /// The application closed: our FIN sits at `snd_fin`.
    pub const FIN_QUEUED: u32 = 1 << 1;
    /// Our FIN was sent at least once.
    pub const FIN_SENT: u32 = 1 << 2;
    /// Window scaling in use (in SYN-SENT: offered).
    pub const WS: u32 = 1 << 3;
    /// Timestamps in use (in SYN-SENT: offered).
    pub const TS: u32 = 1 << 4;
    /// SACK in use (in SYN-SENT: offered).
    pub const SACK: u32 = 1 << 5;
    /// An ACK is due now.
    pub const ACK_NOW: u32 = 1 << 6;
    /// In fast recovery.
    pub const RECOVERY: u32 = 1 << 7;
    /// Retransmit the segment at SND.UNA at the next opportunity.
    pub const FAST_RTX: u32 = 1 << 8;
    /// The retransmission deadline is the persist timer.
    pub const PERSIST: u32 = 1 << 9;
    /// A segment is being timed (`rtt_seq`, `rtt_start`).
    pub const RTT_TIMING: u32 = 1 << 10;
    /// The SYN or SYN-ACK was retransmitted.
    pub const SYN_LOST: u32 = 1 << 11;
    /// Send the SYN-ACK again now (duplicate SYN).
    pub const SYNACK_NOW: u32 = 1 << 12;
    /// Send a window probe now.
    pub const PROBE_NOW: u32 = 1 << 13;
    /// Send a keepalive probe now.
    pub const KEEPALIVE_NOW: u32 = 1 << 14;
    /// The first partial ACK of this recovery was seen.
    pub const PARTIAL_SEEN: u32 = 1 << 15;
    /// The peer's FIN arrived out of order at `rcv_fin`.
    pub const RCV_FIN: u32 = 1 << 16;
    /// `ts_recent` holds a value.
    pub const TS_RECENT: u32 = 1 << 17;
    /// The retransmission deadline is a tail loss probe timeout (RFC 8985 PTO); the RTO
    /// follows it.
    pub const TLP_ARMED: u32 = 1 << 18;
    /// Send a tail loss probe now.
    pub const TLP_NOW: u32 = 1 << 19;
    /// A tail loss probe is out and no ACK of new data arrived since.
    pub const TLP_OUT: u32 = 1 << 20;
    /// ECN in use (RFC 3168). In SYN-SENT: asked for in our SYN; in SYN-RECEIVED: the peer's
    /// SYN asked and we agreed.
    pub const ECN: u32 = 1 << 21;
    /// A CE-marked segment arrived: every segment we send carries ECE until the peer's CWR.
    pub const ECE_DUE: u32 = 1 << 22;
    /// The congestion window was reduced: the next new data segment carries CWR.
    pub const CWR_DUE: u32 = 1 << 23;
    /// Congestion control is CUBIC (set at creation from [`TcbConfig::congestion`]).
    ///
    /// [`TcbConfig::congestion`]: super::TcbConfig::congestion
    pub const CUBIC: u32 = 1 << 24;
    /// A CUBIC congestion-avoidance epoch runs (`cubic_origin` valid). Only with `CUBIC`:
    /// the same bit without `CUBIC` is [`DCTCP`].
    pub const CUBIC_EPOCH: u32 = 1 << 25;
    /// Congestion control is DCTCP (set at creation from [`TcbConfig::congestion`], cleared
    /// at establishment without ECN): `CUBIC_EPOCH`'s bit on a connection without `CUBIC`,
    /// where an epoch never runs (module `dctcp`). Code that ends a CUBIC epoch clears the
    /// bit only on a CUBIC connection (`Tcb::end_cubic_epoch`).
    ///
    /// [`TcbConfig::congestion`]: super::TcbConfig::congestion
    pub const DCTCP: u32 = CUBIC_EPOCH;
    /// With `ECN`: marks are echoed and echoes answered, but our data goes not ECN-capable,
    /// because a plain SYN was sent (our 6.1.1.1 fallback) or received (the peer's repeated
    /// SYN no longer asked; our SYN-ACKs go plain then).
    pub const NO_ECT: u32 = 1 << 26;
    /// The congestion window limited the sender at its last data segment (set and cleared
    /// by every data commit; cwnd grows only while it is set, deviation 24).
    pub const CWND_LIMITED: u32 = 1 << 27;
    /// `recover` was set by a window reduction outside loss recovery (an ECN echo or a tail
    /// loss probe, no loss recovery since): a loss found in that window still starts
    /// recovery, without a second reduction (one reduction per window of data).
    pub const WINDOW_CUT: u32 = 1 << 28;
    /// Low bit of the 2-bit reordering level (see [`REORDER_SHIFT`]).
    pub const REORDER_LO: u32 = 1 << 29;
    /// High bit of the 2-bit reordering level.
    pub const REORDER_HI: u32 = 1 << 30;
    /// Where the reordering level sits: `(flags >> REORDER_SHIFT) & 3` is 0 to 3, DupThresh
    /// `DUP_THRESH[level]` (3, 6, 12, 24). Raised by one when a D-SACK shows a retransmission
    /// of a loss recovery spurious, reset by a retransmission timeout.
    pub const REORDER_SHIFT: u32 = 29;
    /// `recover` marks the end of a loss recovery that made its own window reduction and
    /// retransmitted by fast retransmit or SACK recovery (no timeout, no tail loss probe, no
    /// ECN echo since): a D-SACK for a range below it shows that recovery's retransmission
    /// spurious, i.e. the path reordered deeper than DupThresh. Cleared when it raised the
    /// reordering level once.
    pub const RXT_EPISODE: u32 = 1 << 31;

    /// Every flag above (a new one goes here too): no two may share a bit.
    const ALL: [u32; 32] = [
        PASSIVE,
        FIN_QUEUED,
        FIN_SENT,
        WS,
        TS,
        SACK,
        ACK_NOW,
        RECOVERY,
        FAST_RTX,
        PERSIST,
        RTT_TIMING,
        SYN_LOST,
        SYNACK_NOW,
        PROBE_NOW,
        KEEPALIVE_NOW,
        PARTIAL_SEEN,
        RCV_FIN,
        TS_RECENT,
        TLP_ARMED,
        TLP_NOW,
        TLP_OUT,
        ECN,
        ECE_DUE,
        CWR_DUE,
        CUBIC,
        CUBIC_EPOCH,
        NO_ECT,
        CWND_LIMITED,
        WINDOW_CUT,
        REORDER_LO,
        REORDER_HI,
        RXT_EPISODE,
    ];
    const _: () = assert!(REORDER_LO == 1 << REORDER_SHIFT && REORDER_HI == REORDER_LO << 1);
    // `Tcb::end_cubic_epoch` clears the epoch bit of a CUBIC connection by shifting `CUBIC`.
    const _: () = assert!(CUBIC_EPOCH == CUBIC << 1);
    const _: () = {
        let mut seen = 0;
        let mut i = 0;
        while i < ALL.len() {
            assert!(
                ALL[i].count_ones() == 1 && seen & ALL[i] == 0,
                "two flags share a bit"
            );
            seen |= ALL[i];
            i += 1;
        }
    };
}

/// DupThresh at each reordering level (flags `REORDER_LO`/`REORDER_HI`).
const DUP_THRESH: [u32; 4] = [3, 6, 12, 24];

const NEVER: u64 = u64::MAX;
/// Largest payload accepted in one call (keeps sequence arithmetic far from 2^31).
const MAX_PAYLOAD: usize = 1 << 30;
/// MSS assumed without an MSS option (RFC 9293, IPv4).
const DEFAULT_MSS: u16 = 536;
/// Smallest MSS accepted from a peer.
const MIN_MSS: u16 = 64;
/// Bytes of the timestamp option as laid out on the wire.
const TS_OPTION_LEN: u32 = 12;
/// RFC 7323 5.5: TS.Recent is invalid after 24 days of idleness.
const PAWS_IDLE_SECS: u32 = 24 * 24 * 3600;

/// The state of one TCP connection. See the module documentation.
///
/// `repr(C)` keeps the declared order: the sequence spaces, flags, state and MSS (touched by
/// every segment) share the first 64-byte cache line; rarely used state comes last.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Tcb {
    // --- Hot: the sequence spaces, touched by every segment. ---
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    /// Highest sequence number sent plus one (SND.NXT before a go-back-N).
    snd_max: SeqNum,
    snd_wnd: u32,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    max_snd_wnd: u32,
    /// End of the last sub-MSS segment sent (Minshall's Nagle).
    snd_sml: SeqNum,
    /// Sequence number of our FIN (valid with `FIN_QUEUED`).
    snd_fin: SeqNum,
    rcv_nxt: SeqNum,
    /// Right edge of the window advertised so far (never moves left).
    rcv_adv: SeqNum,
    /// ACK value of the last segment sent (Last.ACK.sent).
    rcv_acked: SeqNum,
    flags: u32,
    state: State,
    snd_wscale: u8,
    rcv_wscale: u8,
    dupacks: u8,
    /// Send MSS before options (min of the peer's and ours).
    smss: u16,
    /// Largest payload received (the receiver's idea of a full-sized segment).
    rcv_mss: u16,
    // --- Congestion control. ---
    cwnd: u32,
    ssthresh: u32,
    recover: SeqNum,
    /// Bytes acknowledged since the last congestion-avoidance increase (NewReno) or the last
    /// step of the Reno-friendly estimate W_est (CUBIC).
    ca_acked: u32,
    // --- RTT. ---
    /// 10 bytes, 2-byte aligned.
    rtt: RttEstimator,
    /// CUBIC: W_max in SMSS units (saturating; 0 after an RTO: the next epoch takes its
    /// starting window). Sits where `rtt`'s padding would be. HyStart++ overlays an RTT here
    /// in the initial slow start (module `hystart`); DCTCP the high half of its state word
    /// (module `dctcp`: the window's acknowledged segments, high bits, and marked ones).
    cubic_w_max: u16,
    rtt_seq: SeqNum,
    /// Low 32 bits of the microsecond clock when `rtt_seq`'s segment was sent.
    rtt_start: u32,
    // --- Timestamps. ---
    ts_recent: u32,
    ts_offset: u32,
    /// Seconds clock when `ts_recent` was last updated (PAWS 24-day rule).
    ts_recent_secs: u32,
    /// Clock at the last data transmission or at the ACK that drained the flight, whichever
    /// came later, in 256 us units (restart after idle; wraps after 12 days, which at worst
    /// skips one restart).
    last_send: u32,
    // --- Deadlines, microseconds (`NEVER` = not armed). ---
    rtx_at: u64,
    delack_at: u64,
    /// TIME-WAIT, FIN-WAIT-2 or keepalive deadline.
    aux_at: u64,
    // --- Receive side FIN beyond a hole. ---
    /// The peer's FIN beyond a hole (valid with `RCV_FIN`). Without `RCV_FIN`, DCTCP keeps the
    /// acknowledgement number of its old-mark ACK here (module `dctcp`).
    rcv_fin: SeqNum,
    // --- Rate limits and probes. ---
    challenge_epoch: u16,
    challenge_count: u8,
    /// Probes sent without an acceptable segment since: keepalive probes of an idle
    /// connection, or zero-window probes of one whose data waits (persist starts it from
    /// zero, so what keepalive counted before the data came does not count for persist).
    keepalive_probes: u8,
    close_reason: CloseReason,
    /// Immediate ACKs owed beyond the one `ACK_NOW` stands for: one per out-of-order segment
    /// received since the last ACK went out (RFC 5681 4.2), so a burst of them yields as many
    /// duplicate ACKs as segments (saturates at 255).
    acks_owed: u8,
    /// CUBIC: when the running epoch's curve reaches W_max (epoch start + K), on the 8.192 ms
    /// clock of the `cubic` module (valid with `CUBIC_EPOCH`). HyStart++ overlays an RTT
    /// here (module `hystart`); DCTCP the low half of its state word (alpha and the window's
    /// acknowledged segments, low bits; module `dctcp`).
    cubic_origin: u16,
    counters: TcbCounters,
}

impl Tcb {
    fn blank(state: State, cfg: &TcbConfig) -> Tcb {
        Tcb {
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
            snd_max: SeqNum(0),
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: SeqNum(0),
            max_snd_wnd: 0,
            snd_sml: SeqNum(0),
            snd_fin: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_acked: SeqNum(0),
            flags: match cfg.congestion {
                CongestionControl::NewReno => 0,
                CongestionControl::Cubic => flag::CUBIC,
                CongestionControl::Dctcp => flag::DCTCP,
            },
            state,
            snd_wscale: 0,
            rcv_wscale: 0,
            dupacks: 0,
            smss: DEFAULT_MSS.min(cfg.mss.max(MIN_MSS)),
            rcv_mss: DEFAULT_MSS,
            cwnd: 0,
            ssthresh: u32::MAX,
            recover: SeqNum(0),
            ca_acked: 0,
            rtt: RttEstimator::new(),
            cubic_w_max: 0,
            rtt_seq: SeqNum(0),
            rtt_start: 0,
            ts_recent: 0,
            ts_offset: 0,
            ts_recent_secs: 0,
            rtx_at: NEVER,
            delack_at: NEVER,
            aux_at: NEVER,
            last_send: 0,
            rcv_fin: SeqNum(0),
            challenge_epoch: 0,
            challenge_count: 0,
            keepalive_probes: 0,
            close_reason: CloseReason::None,
            acks_owed: 0,
            cubic_origin: 0,
            counters: TcbCounters::default(),
        }
    }

    /// A listening `Tcb` (LISTEN). Segments to it go through [`Tcb::on_segment`]; a SYN is
    /// reported as [`Events::SYN_TO_LISTENER`] and turned into a connection by
    /// [`Tcb::accept`].
    pub fn listen(cfg: &TcbConfig) -> Tcb {
        Tcb::blank(State::Listen, cfg)
    }

    /// An active open (SYN-SENT) with initial send sequence `iss`. The SYN is planned by the
    /// first [`Tcb::poll_transmit`]. `rcv` is the connection's receive buffer: its capacity
    /// chooses the window scale offered.
    pub fn connect<R: RecvBuffer + ?Sized>(
        cfg: &TcbConfig,
        now: Instant,
        iss: SeqNum,
        rcv: &R,
    ) -> Tcb {
        let mut t = Tcb::blank(State::SynSent, cfg);
        t.init_send(cfg, now, iss);
        if cfg.window_scaling {
            t.flags |= flag::WS;
            t.rcv_wscale = window_shift(rcv.capacity());
        }
        if cfg.timestamps {
            t.flags |= flag::TS;
        }
        if cfg.sack {
            t.flags |= flag::SACK;
        }
        t.ecn_offer(cfg);
        t
    }

    /// A passive open: the connection a listener's `syn` creates (SYN-RECEIVED), with our
    /// initial send sequence `iss`. The SYN-ACK is planned by the next
    /// [`Tcb::poll_transmit`].
    pub fn accept<R: RecvBuffer + ?Sized>(
        cfg: &TcbConfig,
        now: Instant,
        syn: &TcpHeader,
        iss: SeqNum,
        rcv: &R,
    ) -> Result<Tcb, AcceptError> {
        if !syn.flags.syn() || syn.flags.intersects(TcpFlags::ACK | TcpFlags::RST) {
            return Err(AcceptError::NotASyn);
        }
        let mut t = Tcb::blank(State::SynReceived, cfg);
        t.init_send(cfg, now, iss);
        t.flags |= flag::PASSIVE;
        if cfg.window_scaling && syn.options.window_scale.is_some() {
            t.flags |= flag::WS;
            t.rcv_wscale = window_shift(rcv.capacity());
        }
        if cfg.timestamps {
            t.flags |= flag::TS;
        }
        if cfg.sack {
            t.flags |= flag::SACK;
        }
        t.ecn_accept(cfg, syn);
        t.take_peer_syn(cfg, now, syn);
        t.snd_wl1 = syn.seq;
        t.snd_wl2 = iss;
        Ok(t)
    }

    fn init_send(&mut self, cfg: &TcbConfig, now: Instant, iss: SeqNum) {
        self.snd_una = iss;
        self.snd_nxt = iss;
        self.snd_max = iss;
        self.snd_sml = iss;
        self.recover = iss;
        // A per-connection timestamp offset derived from the (secret-keyed) ISS.
        self.ts_offset = iss.0.rotate_left(13) ^ 0x9e37_79b9;
        self.last_send = coarse(now);
        let _ = cfg;
    }

    /// Takes the peer's SYN: its sequence number and options (RFC 7323 negotiation: an option
    /// is used only when both SYNs carry it).
    fn take_peer_syn(&mut self, cfg: &TcbConfig, now: Instant, syn: &TcpHeader) {
        self.rcv_nxt = syn.seq + 1;
        self.rcv_acked = self.rcv_nxt;
        self.rcv_adv = self.rcv_nxt;
        let peer_mss = syn.options.mss.unwrap_or(DEFAULT_MSS).max(MIN_MSS);
        self.smss = peer_mss.min(cfg.mss.max(MIN_MSS));
        match syn.options.window_scale {
            Some(shift) if self.has(flag::WS) => self.snd_wscale = shift.min(14),
            _ => {
                self.flags &= !flag::WS;
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        match syn.options.timestamps {
            Some((tsval, _)) if self.has(flag::TS) => {
                self.ts_recent = tsval;
                self.ts_recent_secs = secs32(now);
                self.flags |= flag::TS_RECENT;
            }
            _ => self.flags &= !flag::TS,
        }
        if !(syn.options.sack_permitted && self.has(flag::SACK)) {
            self.flags &= !flag::SACK;
        }
        self.rcv_mss = self.payload_mss().min(u32::from(u16::MAX)) as u16;
        // The window of a SYN is never scaled (RFC 7323 2.2).
        self.snd_wnd = u32::from(syn.window);
        self.max_snd_wnd = self.snd_wnd;
    }

    // --- Accessors. ---

    /// The RFC 9293 state.
    #[inline]
    pub fn state(&self) -> State {
        self.state
    }

    /// Why the connection closed ([`CloseReason::None`] while it is not CLOSED).
    #[inline]
    pub fn close_reason(&self) -> CloseReason {
        self.close_reason
    }

    /// Per-connection counters.
    #[inline]
    pub fn counters(&self) -> &TcbCounters {
        &self.counters
    }

    /// SND.UNA: the oldest unacknowledged sequence number.
    #[inline]
    pub fn snd_una(&self) -> SeqNum {
        self.snd_una
    }

    /// SND.NXT: the next sequence number to send.
    #[inline]
    pub fn snd_nxt(&self) -> SeqNum {
        self.snd_nxt
    }

    /// The highest sequence number sent, plus one.
    #[inline]
    pub fn snd_max(&self) -> SeqNum {
        self.snd_max
    }

    /// SND.WND in bytes (scaled).
    #[inline]
    pub fn snd_wnd(&self) -> u32 {
        self.snd_wnd
    }

    /// RCV.NXT: the next sequence number expected.
    #[inline]
    pub fn rcv_nxt(&self) -> SeqNum {
        self.rcv_nxt
    }

    /// Congestion window in bytes.
    #[inline]
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }

    /// Slow-start threshold in bytes. With CUBIC, in congestion avoidance it carries the
    /// Reno-friendly estimate W_est (deviation 22): it rises from the epoch's starting window,
    /// never above cwnd. While HyStart++ runs (the initial slow start) it is 2^30, the
    /// initial value (its state is kept in the field's low bits, see the `hystart` module).
    #[inline]
    pub fn ssthresh(&self) -> u32 {
        if self.hystart_running() {
            congestion::MAX_CWND
        } else {
            self.ssthresh
        }
    }

    /// Where HyStart++ (RFC 9406) stands: `None` when it does not run (configured off, or
    /// the initial slow start is over), else whether Conservative Slow Start runs.
    #[inline]
    pub fn hystart_phase(&self) -> Option<HyStartPhase> {
        if !self.hystart_running() {
            None
        } else if self.hystart_css() {
            Some(HyStartPhase::ConservativeSlowStart)
        } else {
            Some(HyStartPhase::SlowStart)
        }
    }

    /// The congestion control this connection runs (the endpoint's
    /// [`TcbConfig::congestion`] when it was created; NewReno for a DCTCP connection that did
    /// not negotiate ECN, from its establishment on).
    #[inline]
    pub fn congestion_control(&self) -> CongestionControl {
        if self.has(flag::CUBIC) {
            CongestionControl::Cubic
        } else if self.dctcp() {
            CongestionControl::Dctcp
        } else {
            CongestionControl::NewReno
        }
    }

    /// DCTCP's estimate of the fraction of data the network marks (RFC 8257 alpha, 0 to 1, in
    /// units of 1/2048: `Some(2048)` is 1), `None` when the connection does not run DCTCP.
    #[inline]
    pub fn dctcp_alpha(&self) -> Option<u32> {
        self.dctcp().then(|| self.dctcp_alpha_units())
    }

    /// Whether the connection is in fast recovery.
    #[inline]
    pub fn in_recovery(&self) -> bool {
        self.has(flag::RECOVERY)
    }

    /// The RTO in force (backoff included).
    pub fn rto(&self, cfg: &TcbConfig) -> Duration {
        self.rtt.rto(cfg)
    }

    /// Whether the connection needs its own [`LossState`] rather than a fresh empty one for
    /// every call: it holds ranges or a D-SACK report, SACK recovery is running (which keeps
    /// HighRxt there), or a window reduction may yet prove spurious (not in TIME-WAIT, where
    /// no ACK of ours is outstanding). Never in LISTEN or CLOSED: what a closed or reset
    /// connection left there is dead.
    #[inline]
    pub fn needs_loss_state(&self, loss: &LossState) -> bool {
        (!loss.is_empty() || self.sack_recovery())
            && !matches!(self.state, State::Listen | State::Closed)
            && (self.state != State::TimeWait || !loss.holds_only_undo())
    }

    /// Whether the application closed the sending side (a FIN is queued or sent).
    #[inline]
    pub fn fin_queued(&self) -> bool {
        self.has(flag::FIN_QUEUED)
    }

    /// Smoothed RTT and RTT variation (zero before the first sample).
    pub fn rtt_estimate(&self) -> (Duration, Duration) {
        (self.rtt.srtt(), self.rtt.rttvar())
    }

    /// The send MSS (payload bytes per segment, TCP options of data segments excluded).
    pub fn send_mss(&self) -> u32 {
        self.payload_mss()
    }

    /// Whether window scaling, timestamps and SACK are in use (after the handshake).
    pub fn negotiated(&self) -> (bool, bool, bool) {
        (self.has(flag::WS), self.has(flag::TS), self.has(flag::SACK))
    }

    /// The window shifts (ours for receiving, the peer's for sending).
    pub fn window_scales(&self) -> (u8, u8) {
        (self.rcv_wscale, self.snd_wscale)
    }

    /// The earliest deadline at which the connection needs [`Tcb::poll_transmit`] even if
    /// nothing arrives; `None` when it only waits for segments or the application.
    pub fn next_deadline(&self) -> Option<Instant> {
        let at = self.rtx_at.min(self.delack_at).min(self.aux_at);
        (at != NEVER).then_some(Instant::from_micros(at))
    }

    /// Queues our FIN after everything in `snd` (RFC 9293 CLOSE). Data already buffered is
    /// still sent; the application must not write more. In LISTEN, and in SYN-SENT with
    /// nothing written, the `Tcb` goes straight to CLOSED. In SYN-SENT with data written (it
    /// rides on the ACK that completes the handshake) the FIN is queued after it, as in
    /// SYN-RECEIVED, so the data is not lost (deviation 31). Closing twice does nothing.
    pub fn close<S: SendBuffer + ?Sized>(&mut self, snd: &S) {
        match self.state {
            State::Listen => self.become_closed(CloseReason::ClosedBeforeOpen),
            State::SynSent if snd.len() == 0 => self.become_closed(CloseReason::ClosedBeforeOpen),
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {
                if !self.has(flag::FIN_QUEUED) {
                    let start = if matches!(self.state, State::SynSent | State::SynReceived) {
                        self.snd_una + 1
                    } else {
                        self.snd_una
                    };
                    self.snd_fin = start + len32(snd.len());
                    self.flags |= flag::FIN_QUEUED;
                }
                match self.state {
                    State::Established => self.state = State::FinWait1,
                    State::CloseWait => self.state = State::LastAck,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Aborts the connection (RFC 9293 ABORT): returns the RST to send when the peer knows
    /// of the connection (ports zero, filled in by the endpoint) and goes to CLOSED.
    ///
    /// The RST carries SND.MAX (RFC 9293's SND.NXT), or the right edge of the peer's window
    /// when SND.MAX lies beyond it (a zero-window probe's byte is out): a peer checks an RST
    /// against its window (RFC 5961 3.2), and one at SND.MAX would miss a closed window by
    /// the probe byte and be dropped (Linux's `tcp_acceptable_seq` chooses the same).
    pub fn abort(&mut self) -> Option<TcpHeader> {
        let seq = match self.state {
            State::SynReceived => Some(self.snd_max),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                Some(self.snd_max.min(self.snd_una + self.snd_wnd))
            }
            _ => None,
        };
        let rst = seq.map(|seq| TcpHeader {
            seq,
            flags: TcpFlags::RST,
            ..TcpHeader::default()
        });
        if self.state != State::Closed {
            self.become_closed(CloseReason::Aborted);
        }
        rst
    }

    /// Reads a field from each part of the `Tcb` (start, middle, end) and returns a value
    /// derived from them: plain loads that bring the whole `Tcb` into the cache ahead of its
    /// use (an endpoint prefetching a receive burst feeds the result to
    /// `core::hint::black_box`).
    #[inline]
    pub fn touch(&self) -> u32 {
        self.snd_una.0 ^ self.ts_recent ^ self.counters.window_probes
    }

    /// Checks the internal invariants; `Err` names the first one broken. Used by the tests
    /// after every event; cheap enough for debug assertions in an endpoint.
    pub fn check_invariants<S: SendBuffer + ?Sized>(
        &self,
        snd: &S,
        loss: &LossState,
    ) -> Result<(), &'static str> {
        if !self.snd_una.le(self.snd_nxt) {
            return Err("SND.UNA > SND.NXT");
        }
        if !self.snd_nxt.le(self.snd_max) {
            return Err("SND.NXT > SND.MAX");
        }
        let syn = u32::from(matches!(self.state, State::SynSent | State::SynReceived));
        let fin = u32::from(self.has(flag::FIN_SENT));
        if self.state != State::Closed
            && self.state != State::Listen
            && (self.snd_max - self.snd_una) > len32(snd.len()).saturating_add(syn + fin)
        {
            return Err("more outstanding than the send buffer holds");
        }
        if self.snd_wnd > (u32::from(u16::MAX) << 14) {
            return Err("send window beyond the largest scaled window");
        }
        if self.state.is_synchronized() && self.state != State::Closed && self.cwnd == 0 {
            return Err("zero congestion window");
        }
        if self.has(flag::FIN_SENT) && !self.has(flag::FIN_QUEUED) {
            return Err("FIN sent but not queued");
        }
        let mut prev = self.rcv_nxt;
        for r in loss.reasm.ranges() {
            if !prev.lt(r.left) || !r.left.lt(r.right) || !r.right.le(self.rcv_adv) {
                return Err("out-of-order ranges not sorted, disjoint and inside the window");
            }
            prev = r.right;
        }
        if loss.reasm.duplicate_pending() && !self.has(flag::SACK) && self.state != State::Closed {
            return Err("a D-SACK report pending on a connection without SACK");
        }
        for r in loss.sb.ranges() {
            if !self.snd_una.lt(r.right) || !r.right.le(self.snd_max) {
                return Err("scoreboard range outside (SND.UNA, SND.MAX]");
            }
        }
        if self.rcv_wscale > 14 || self.snd_wscale > 14 {
            return Err("window scale above 14");
        }
        // While HyStart++ runs, the CUBIC fields hold its RTTs (the `hystart` module); on a
        // DCTCP connection, DCTCP's state (the `dctcp` module).
        if self.dctcp() {
            self.dctcp_invariants()?;
        } else if !self.has(flag::CUBIC)
            && !self.hystart_running()
            && (self.cubic_w_max != 0 || self.cubic_origin != 0)
        {
            return Err("CUBIC or DCTCP state on a NewReno connection");
        }
        let cubic_epoch =
            self.flags & (flag::CUBIC | flag::CUBIC_EPOCH) == flag::CUBIC | flag::CUBIC_EPOCH;
        if self.hystart_running()
            && (cubic_epoch || self.flags & (flag::RECOVERY | flag::WINDOW_CUT) != 0)
        {
            return Err("HyStart++ runs after a congestion event or in congestion avoidance");
        }
        if cubic_epoch && self.has(flag::RECOVERY) {
            return Err("a CUBIC epoch runs during recovery (a congestion event ends it)");
        }
        Ok(())
    }

    // --- Small helpers shared by the submodules. ---

    #[inline]
    fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Ends a running CUBIC epoch: clears `CUBIC_EPOCH` on a CUBIC connection and leaves
    /// the same bit, [`flag::DCTCP`], on any other (two ALU operations, no branch).
    #[inline(always)]
    fn end_cubic_epoch(&mut self) {
        self.flags &= !((self.flags & flag::CUBIC) << 1);
    }

    /// The reordering level, 0 to 3 (flags `REORDER_LO`/`REORDER_HI`).
    #[inline]
    fn reorder_level(&self) -> u32 {
        (self.flags >> flag::REORDER_SHIFT) & 3
    }

    /// DupThresh (RFC 5681, RFC 6675) for this path: 3, or after D-SACKs showed recoveries
    /// spurious 6, 12 or 24 (RFC 4653's idea, Linux's `tp->reordering`).
    #[inline]
    pub(super) fn dup_thresh(&self) -> u32 {
        DUP_THRESH[self.reorder_level() as usize]
    }

    /// Payload bytes per full-sized segment: the send MSS minus the timestamp option
    /// (RFC 9293 3.7.1: options reduce the payload).
    #[inline]
    fn payload_mss(&self) -> u32 {
        let ts = if self.has(flag::TS) { TS_OPTION_LEN } else { 0 };
        u32::from(self.smss).saturating_sub(ts).max(1)
    }

    /// First sequence number of data (after our SYN).
    #[inline]
    fn data_start(&self) -> SeqNum {
        if matches!(self.state, State::SynSent | State::SynReceived) {
            self.snd_una + 1
        } else {
            self.snd_una
        }
    }

    fn become_closed(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.close_reason = reason;
        self.stop_rtx_timer();
        self.delack_at = NEVER;
        self.aux_at = NEVER;
        // The congestion control stays what it was (DCTCP's bit is an epoch's on CUBIC).
        let keep = if self.dctcp() {
            // A closed connection sends nothing: no DCTCP old-mark ACK stays due (`rcv_fin`
            // parked at Last.ACK.sent, as the planner parks it), now that `ACK_NOW` is gone.
            self.rcv_fin = self.rcv_acked;
            flag::DCTCP
        } else {
            0
        };
        self.flags &= flag::FIN_QUEUED | flag::FIN_SENT | flag::CUBIC | keep;
        self.acks_owed = 0;
    }

    /// One more immediate ACK for an out-of-order segment (RFC 5681 4.2): when an ACK is
    /// already due, this one becomes a debt, so that every such segment of a receive burst
    /// gets its own (duplicate) ACK in the send phase instead of one ACK for the burst.
    fn ack_each_segment(&mut self) {
        if self.has(flag::ACK_NOW) {
            self.acks_owed = self.acks_owed.saturating_add(1);
        } else {
            self.flags |= flag::ACK_NOW;
        }
    }

    /// Our current timestamp value.
    #[inline]
    /// The RTT a timestamp echo `tsecr` shows at `now`, in microseconds (at least one tick),
    /// or `None` for an echo from the future or older than the maximum RTO.
    fn ts_rtt_us(&self, cfg: &TcbConfig, now: Instant, tsecr: u32) -> Option<u64> {
        let ticks = self.ts_now(cfg, now).wrapping_sub(tsecr);
        if (ticks as i32) < 0 {
            return None;
        }
        let us = u64::from(ticks.max(1)).saturating_mul(cfg.tick_us());
        (us <= cfg.rto_max.micros()).then_some(us)
    }

    fn ts_now(&self, cfg: &TcbConfig, now: Instant) -> u32 {
        ((now.micros() / cfg.tick_us()) as u32).wrapping_add(self.ts_offset)
    }

    /// Takes one token of the per-connection challenge-ACK budget; `true` when an ACK may go.
    fn rate_limited_ack(&mut self, cfg: &TcbConfig, now: Instant) -> bool {
        let epoch = (now.micros() / cfg.challenge_ack_interval.micros().max(1)) as u16;
        if epoch != self.challenge_epoch {
            self.challenge_epoch = epoch;
            self.challenge_count = 0;
        }
        if self.challenge_count < cfg.challenge_ack_limit {
            self.challenge_count += 1;
            self.flags |= flag::ACK_NOW;
            true
        } else {
            false
        }
    }
}

/// The smallest window shift that lets a 16-bit window cover `capacity` bytes (at most 14).
pub fn window_shift(capacity: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (capacity >> shift) > usize::from(u16::MAX) {
        shift += 1;
    }
    shift
}

/// The RST a host sends for `seg` when no connection (and no listener) exists for it
/// (RFC 9293 3.10.7.1): none for a RST, `<SEQ=SEG.ACK><RST>` for an ACK, otherwise
/// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>`. Ports are swapped from `seg`.
pub fn reset_for(seg: &TcpHeader, payload_len: usize) -> Option<TcpHeader> {
    if seg.flags.rst() {
        return None;
    }
    let mut h = TcpHeader {
        src_port: seg.dst_port,
        dst_port: seg.src_port,
        ..TcpHeader::default()
    };
    if seg.flags.ack() {
        h.seq = seg.ack;
        h.flags = TcpFlags::RST;
    } else {
        h.seq = SeqNum(0);
        h.ack = seg.seq + seg.seq_len(payload_len.min(MAX_PAYLOAD));
        h.flags = TcpFlags::RST | TcpFlags::ACK;
    }
    Some(h)
}

#[inline]
fn len32(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

/// The clock in 256 us units, low 32 bits.
#[inline]
fn coarse(now: Instant) -> u32 {
    (now.micros() >> 8) as u32
}

#[inline]
fn us32(now: Instant) -> u32 {
    now.micros() as u32
}

#[inline]
fn secs32(now: Instant) -> u32 {
    (now.micros() / 1_000_000) as u32
}
