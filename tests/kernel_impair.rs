//! The Linux kernel against ferrotoe on the simulated NIC under seeded wire impairment
//! (`--loss`, `--duplicate`, ... with `--nic sim`; the machines have no `tc netem`), judged by
//! the kernel's own counters as well as ours:
//!
//! - kernel -> NIC frames duplicated (and some lost): ferrotoe receives segments twice and
//!   must report each in an RFC 2883 D-SACK; the kernel's `TcpExt TCPDSACKRecv` (read from
//!   `/proc/net/netstat` inside the namespace, before and after) must grow. The echo comes
//!   back byte-exact.
//! - the same with discard, where our only frames are pure ACKs: at most one D-SACK per
//!   duplicate reaches the kernel (RFC 2883 section 4).
//! - NIC -> kernel frames lost: ferrotoe's `connect` sends to a kernel listener, which must
//!   receive the verification pattern byte-exact; our retransmission counters must be
//!   non-zero and the kernel must have queued out-of-order data (`TCPOFOQueue`), which only
//!   the losses cause.
//!
//! - NIC -> kernel frames held back behind the next 6, none lost: every retransmission of ours
//!   is spurious; the kernel's D-SACKs (and timestamp echoes) must reach our counters and undo
//!   our window cuts.
//! - NIC -> kernel frames (our ACKs) lost while the kernel sends in app-limited bursts: the
//!   kernel's tail loss probes and timeouts retransmit data ferrotoe already holds; our
//!   D-SACKs for them must be accepted (`TCPDSACKRecvSegs` grows, none dubious), the way
//!   RFC 2883 meant them: to show the sender its retransmission was spurious.
//!
//! - NIC -> kernel through a bottleneck (`--rate 200M --queue 16`): the queue drops our
//!   bursts, we recover, the kernel receives byte-exact; with `--ce-threshold 4 --ecn on` the
//!   queue marks our ECN-capable frames CE, the kernel echoes them and we cut our window.
//!
//! Needs root and /dev/net/tun (fails, never skips, without them).

mod kernel;

use std::collections::HashMap;
use std::net::SocketAddrV4;

use kernel::{
    Features, Lab, counter, kernel_echo, kernel_listener, kernel_sink, line_with, pattern, success,
};

/// The kernel's TCP extension counters in the lab's namespace (`TcpExt` of
/// `/proc/net/netstat`, by name).
fn tcp_ext(lab: &Lab) -> HashMap<String, u64> {
    let out = lab
        .ns
        .command("cat")
        .arg("/proc/net/netstat")
        .output()
        .expect("running cat (coreutils) in the namespace");
    assert!(
        out.status.success(),
        "reading /proc/net/netstat in the namespace failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        panic!("no TcpExt lines in /proc/net/netstat:\n{text}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
        .map(|(n, v)| (n.to_owned(), v.parse().expect("a counter value")))
        .collect()
}

/// `name`'s growth between two readings (the counter must exist in this kernel).
fn grew(before: &HashMap<String, u64>, after: &HashMap<String, u64>, name: &str) -> u64 {
    let b = before
        .get(name)
        .unwrap_or_else(|| panic!("this kernel has no TcpExt {name} counter"));
    after[name] - b
}

/// 2 % of the kernel's frames duplicated and 1 % lost on their way to the NIC.
const DUPLICATES_TO_NIC: [&str; 6] = [
    "--duplicate",
    "0.02",
    "--loss",
    "0.01",
    "--impair-direction",
    "to-nic",
];

/// `ferrotoe serve --nic sim --app APP` with the impairment flags `impairment`.
fn serve_impaired(lab: &Lab, app: &str, impairment: &[&str]) -> kernel::Serve {
    let mut args = vec!["--nic", "sim", "--app", app];
    args.extend_from_slice(impairment);
    lab.serve(&args)
}

/// Kernel client: sends `n` pattern bytes to a discard server at `to` (from inside the lab's
/// namespace), then closes.
fn kernel_send(lab: &Lab, to: SocketAddrV4, n: usize) {
    use std::io::{Read, Write};
    lab.spawn(move || {
        let mut s = std::net::TcpStream::connect_timeout(&to.into(), kernel::STEP).unwrap();
        s.set_read_timeout(Some(kernel::STEP)).unwrap();
        s.write_all(&pattern(n)).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "discard sent something");
    })
    .join()
    .expect("the kernel's sender")
    .expect("entering the namespace");
}

/// `connect --nic sim` sends `n` pattern bytes to a kernel listener with the wire impaired by
/// `impairment` (flags); the kernel must receive them byte-exact. Returns `connect`'s report.
fn send_to_kernel(lab: &Lab, n: usize, impairment: &[&str]) -> String {
    let listener = kernel_listener(lab, 5001);
    let sink = std::thread::spawn(move || kernel_sink(listener));
    let to = format!("{}:5001", lab.kernel_ip());
    let bytes = n.to_string();
    let mut args = vec!["--nic", "sim", "--to", &to, "--send", &bytes];
    args.extend_from_slice(impairment);
    let out = success(
        &lab.connect(&args),
        &format!("connect --nic sim {}", impairment.join(" ")),
    );
    let got = sink.join().unwrap();
    assert!(
        got.len() == n && got == pattern(n),
        "the kernel received the pattern byte-exact ({} of {n} bytes)\n{out}",
        got.len()
    );
    out
}

#[test]
fn the_kernel_receives_our_dsacks_when_its_segments_arrive_twice() {
    let lab = Lab::new("ft-imp-dsack", 80, Features::ALL_ON);
    let serve = serve_impaired(
        &lab,
        "echo",
        &[&DUPLICATES_TO_NIC[..], &["--impair-seed", "11"]].concat(),
    );
    assert!(serve.ready.contains("impaired"), "{}", serve.ready);
    let before = tcp_ext(&lab);
    let n = 4 << 20;
    let to = SocketAddrV4::new(lab.our_ip(), 7);
    let back = lab
        .spawn(move || kernel_echo(to, n))
        .join()
        .expect("the kernel's echo client")
        .expect("entering the namespace");
    let after = tcp_ext(&lab);
    let report = serve.stop();
    assert!(
        back.len() == n && back == pattern(n),
        "the echo came back byte-exact ({} of {n} bytes)\n{report}",
        back.len()
    );
    let dsack = grew(&before, &after, "TCPDSACKRecv");
    let dsack_ofo = grew(&before, &after, "TCPDSACKOfoRecv");
    let dup = counter(&report, "impair_to_nic_duplicated");
    let lost = counter(&report, "impair_to_nic_lost");
    let dubious = grew(&before, &after, "TCPDSACKIgnoredDubious");
    eprintln!(
        "kernel TcpExt TCPDSACKRecv {} -> {} (+{dsack}), TCPDSACKOfoRecv +{dsack_ofo}, \
         TCPDSACKIgnoredDubious +{dubious}; frames duplicated to the NIC {dup}, lost {lost}",
        before["TCPDSACKRecv"], after["TCPDSACKRecv"]
    );
    assert!(
        dup > 20 && lost > 10,
        "the wire impaired the kernel's frames\n{report}"
    );
    assert_eq!(
        counter(&report, "impair_to_kernel_frames"),
        0,
        "only the kernel -> NIC direction is impaired\n{report}"
    );
    // Each duplicate of data the kernel sent earns a D-SACK (a duplicated pure ACK earns
    // none), reported once even though our echo data goes out in TSO super-frames (a report
    // rides a segment of its own: a super-frame's header is copied onto every segment). The
    // kernel files them as dubious (TCPDSACKIgnoredDubious): it never retransmitted those
    // segments, the wire copied them.
    assert!(
        dsack > 0 && dsack + dsack_ofo <= dup,
        "the kernel counted {dsack} D-SACKs (+{dsack_ofo} out-of-order) for {dup} duplicated \
         frames\n{report}"
    );
    assert!(report.contains("SACK 1"), "{report}");
}

#[test]
fn each_duplicate_earns_at_most_one_dsack_when_we_only_acknowledge() {
    let lab = Lab::new("ft-imp-once", 83, Features::ALL_ON);
    let serve = serve_impaired(
        &lab,
        "discard",
        &[&DUPLICATES_TO_NIC[..], &["--impair-seed", "17"]].concat(),
    );
    let before = tcp_ext(&lab);
    let n = 4 << 20;
    let to = SocketAddrV4::new(lab.our_ip(), 9);
    kernel_send(&lab, to, n);
    let after = tcp_ext(&lab);
    let report = serve.stop();
    let [dsack, dsack_ofo, accepted, dubious] = [
        "TCPDSACKRecv",
        "TCPDSACKOfoRecv",
        "TCPDSACKRecvSegs",
        "TCPDSACKIgnoredDubious",
    ]
    .map(|k| grew(&before, &after, k));
    let dup = counter(&report, "impair_to_nic_duplicated");
    eprintln!(
        "kernel TcpExt: TCPDSACKRecv +{dsack}, TCPDSACKOfoRecv +{dsack_ofo}, \
         TCPDSACKRecvSegs +{accepted}, TCPDSACKIgnoredDubious +{dubious}; frames duplicated \
         to the NIC {dup}, lost {}",
        counter(&report, "impair_to_nic_lost")
    );
    assert!(
        report.contains(&format!("{n} bytes in")),
        "discard received every byte\n{report}"
    );
    assert!(
        dup > 20,
        "the wire duplicated the kernel's frames\n{report}"
    );
    // Our only frames are pure ACKs here (no TSO super-frame to copy a report onto), so the
    // kernel sees each report once: RFC 2883 section 4, at most one D-SACK per duplicate.
    assert!(
        dsack > 0 && dsack + dsack_ofo <= dup,
        "the kernel counted {dsack} D-SACKs (+{dsack_ofo} out-of-order) for {dup} duplicated \
         frames\n{report}"
    );
}

#[test]
fn ferrotoe_recovers_its_losses_to_the_kernel_byte_exact() {
    let lab = Lab::new("ft-imp-loss", 81, Features::ALL_ON);
    let before = tcp_ext(&lab);
    let out = send_to_kernel(
        &lab,
        4 << 20,
        &[
            "--loss",
            "0.01",
            "--impair-direction",
            "to-kernel",
            "--impair-seed",
            "5",
        ],
    );
    let after = tcp_ext(&lab);
    let retransmitted: u64 = line_with(&out, "segments retransmitted")
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no retransmission count in:\n{out}"));
    let lost = counter(&out, "impair_to_kernel_lost");
    let ofo = grew(&before, &after, "TCPOFOQueue");
    eprintln!(
        "frames lost to the kernel {lost}, segments we retransmitted {retransmitted}; kernel \
         TcpExt TCPOFOQueue +{ofo}"
    );
    assert!(lost > 10, "the wire lost our frames\n{out}");
    assert!(
        retransmitted >= lost / 2,
        "{retransmitted} retransmissions for {lost} lost frames\n{out}"
    );
    assert!(ofo > 0, "the kernel saw the gaps the losses left\n{out}");
    assert_eq!(counter(&out, "impair_to_nic_frames"), 0, "{out}");
}

#[test]
fn the_kernels_dsacks_undo_our_spurious_window_cuts() {
    // NIC -> kernel frames held back behind the next 6 (no loss): the kernel's duplicate ACKs
    // make ferrotoe retransmit segments that were only late; the kernel receives them twice
    // and says so with D-SACKs (Linux's default), and its timestamp echo names the original.
    // ferrotoe must count the D-SACKs and undo its window cuts (RFC 3708, RFC 3522).
    let lab = Lab::new("ft-imp-undo", 84, Features::ALL_ON);
    let out = send_to_kernel(
        &lab,
        16 << 20,
        &[
            "--reorder",
            "0.02",
            "--reorder-depth",
            "6",
            "--impair-direction",
            "to-kernel",
            "--impair-seed",
            "9",
        ],
    );
    let reordered = counter(&out, "impair_to_kernel_reordered");
    let dsacks = counter(&out, "dsacks_received");
    let undone = counter(&out, "spurious_recoveries_undone");
    eprintln!("frames reordered {reordered}, D-SACKs received {dsacks}, cuts undone {undone}");
    assert!(reordered > 10, "the wire reordered our frames\n{out}");
    assert_eq!(counter(&out, "impair_to_kernel_lost"), 0, "{out}");
    assert!(
        dsacks > 0,
        "the kernel reported duplicates with D-SACKs\n{out}"
    );
    assert!(
        undone > 0,
        "with nothing lost, some cut was shown spurious and undone\n{out}"
    );
}

#[test]
fn the_kernel_accepts_our_dsacks_for_its_spurious_retransmissions() {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    let lab = Lab::new("ft-imp-tlp", 82, Features::ALL_ON);
    let serve = serve_impaired(
        &lab,
        "discard",
        &[
            "--loss",
            "0.3",
            "--impair-direction",
            "to-kernel",
            "--impair-seed",
            "3",
        ],
    );
    let before = tcp_ext(&lab);
    let to = SocketAddrV4::new(lab.our_ip(), 9);
    // App-limited bursts: each ends a flight, and when our ACKs of its tail are lost the
    // kernel's loss probe or timeout sends again data we already hold. How often that
    // happens depends on timing (the probe timer against the next burst), so the kernel
    // sends until it has accepted a few of our D-SACKs, for at most ~10 s.
    let (done, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sender = {
        let (done, sent) = (Arc::clone(&done), Arc::clone(&sent));
        lab.spawn(move || {
            // A connection whose probes stop coming (the kernel keeps one probe episode open
            // at a time) is replaced by a fresh one after 2 s.
            let mut connections = 0;
            while !done.load(Ordering::Relaxed) && connections < 5 {
                connections += 1;
                let mut s = std::net::TcpStream::connect_timeout(&to.into(), kernel::STEP).unwrap();
                s.set_read_timeout(Some(kernel::STEP)).unwrap();
                let burst = [7u8; 20_000];
                let until = Instant::now() + Duration::from_secs(2);
                while !done.load(Ordering::Relaxed) && Instant::now() < until {
                    s.write_all(&burst).unwrap();
                    sent.fetch_add(burst.len() as u64, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(15));
                }
                s.shutdown(std::net::Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty(), "discard sent something");
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sender.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        if grew(&before, &tcp_ext(&lab), "TCPDSACKRecvSegs") >= 3 {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    sender
        .join()
        .expect("the kernel's sender")
        .expect("entering the namespace");
    let after = tcp_ext(&lab);
    let report = serve.stop();
    let [dsack, accepted, dubious, probes, timeouts] = [
        "TCPDSACKRecv",
        "TCPDSACKRecvSegs",
        "TCPDSACKIgnoredDubious",
        "TCPLossProbes",
        "TCPTimeouts",
    ]
    .map(|k| grew(&before, &after, k));
    let lost = counter(&report, "impair_to_kernel_lost");
    let sent = sent.load(Ordering::Relaxed);
    eprintln!(
        "kernel TcpExt: TCPDSACKRecv +{dsack}, TCPDSACKRecvSegs +{accepted}, \
         TCPDSACKIgnoredDubious +{dubious}, TCPLossProbes +{probes}, TCPTimeouts +{timeouts}; \
         our frames lost {lost}; {sent} bytes sent"
    );
    assert!(
        report.contains(&format!("{sent} bytes in")),
        "discard received every byte ({sent})\n{report}"
    );
    assert!(lost > 5, "the wire lost our ACKs\n{report}");
    assert!(
        accepted > 0 && dsack > 0,
        "the kernel accepted none of our D-SACKs ({dsack} received, {dubious} dubious, \
         {probes} loss probes, {timeouts} timeouts)\n{report}"
    );
    assert_eq!(
        dubious, 0,
        "we reported more duplicates than the kernel retransmitted\n{report}"
    );
}

#[test]
fn a_bottleneck_to_the_kernel_drops_our_bursts_and_marks_them_with_ecn() {
    let lab = Lab::new("ft-imp-queue", 85, Features::ALL_ON);
    let queue = [
        "--rate",
        "200M",
        "--queue",
        "16",
        "--impair-direction",
        "to-kernel",
    ];
    let out = send_to_kernel(&lab, 4 << 20, &queue);
    let offered = counter(&out, "bottleneck_to_kernel_offered");
    let drops = counter(&out, "bottleneck_to_kernel_drops");
    let delivered = counter(&out, "bottleneck_to_kernel_delivered");
    eprintln!("bottleneck: {offered} frames offered, {drops} dropped, {delivered} delivered");
    assert!(drops > 0, "a 16-frame queue drops the NIC's bursts\n{out}");
    assert!(
        delivered + drops <= offered && delivered > 0,
        "every frame offered was dropped or delivered, at most\n{out}"
    );
    assert!(
        counter(&out, "bottleneck_to_kernel_peak_frames") <= 16,
        "{out}"
    );
    assert_eq!(
        counter(&out, "bottleneck_to_kernel_ce_marked"),
        0,
        "not ECN-capable: {out}"
    );
    assert_eq!(counter(&out, "bottleneck_to_nic_offered"), 0, "{out}");

    let marking = [&queue[..], &["--ce-threshold", "4", "--ecn", "on"]].concat();
    let out = send_to_kernel(&lab, 4 << 20, &marking);
    let marks = counter(&out, "bottleneck_to_kernel_ce_marked");
    let cuts = counter(&out, "ecn_window_reductions");
    eprintln!("bottleneck with ECN: {marks} frames marked CE, {cuts} window reductions");
    assert!(marks > 0, "the queue marked our ECN-capable frames\n{out}");
    assert!(
        cuts > 0,
        "the kernel echoed the marks and we slowed down\n{out}"
    );
}
