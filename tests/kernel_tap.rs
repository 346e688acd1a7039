//! The engine directly on a TAP device with the Linux kernel's TCP as the peer, through the
//! CLI, in a namespace per test: a kernel client against `ferrotoe serve` (echo of several
//! MiB both ways at once, chargen), and `ferrotoe connect` against a kernel server (bulk to
//! it, bulk from it), byte-exact, with the kernel's SACK, timestamps and window scaling each
//! on and off, and once with CUBIC on our side. The negotiated options both ends report must
//! match the kernel's settings. With the kernel's `net.ipv4.tcp_ecn=1`, ECN (RFC 3168) is
//! negotiated both ways (our counters say so, and the captured handshake and ECN-capable data
//! show it).
//!
//! Needs root and /dev/net/tun (fails, never skips, without them).

mod kernel;

use std::net::SocketAddrV4;

use kernel::{
    EcnFrame, Features, Lab, ecn_frames, kernel_chargen, kernel_echo, kernel_listener, kernel_sink,
    kernel_source, line_with, pattern, success, wire_frames,
};

const ECHO_BYTES: usize = 4 << 20;
const BULK_BYTES: usize = 8 << 20;

/// Server side then client side, over one namespace whose kernel has `features`.
fn interop(prefix: &str, net: u8, features: Features, extra: &[&str]) {
    let lab = Lab::new(prefix, net, features);
    let ours = lab.our_ip();
    let mut args = vec!["--app", "echo", "--also", "chargen", "--also", "discard"];
    args.extend_from_slice(extra);
    let serve = lab.serve(&args);
    let cc = if extra.contains(&"cubic") {
        "cubic congestion control"
    } else {
        "newreno congestion control"
    };
    assert!(serve.ready.contains(cc), "{}", serve.ready);
    let echo = lab.spawn(move || kernel_echo(SocketAddrV4::new(ours, 7), ECHO_BYTES));
    let chargen = lab.spawn(move || kernel_chargen(SocketAddrV4::new(ours, 19), ECHO_BYTES));
    let back = echo.join().unwrap().unwrap();
    assert_eq!(back.len(), ECHO_BYTES, "echoed length");
    assert!(back == pattern(ECHO_BYTES), "echoed bytes are exact");
    chargen
        .join()
        .unwrap()
        .unwrap()
        .expect("chargen stream exact");
    let report = serve.stop();
    let (ws, ts, sack) = (
        u8::from(features.window_scaling),
        u8::from(features.timestamps),
        u8::from(features.sack),
    );
    let echo_line = line_with(&report, "echo on port 7:");
    assert!(
        echo_line.contains(&format!(
            "1 connections accepted, 1 finished, {ECHO_BYTES} bytes in, {ECHO_BYTES} bytes out; \
             negotiated: window scaling {ws}, timestamps {ts}, SACK {sack}"
        )),
        "{report}"
    );
    let chargen_line = line_with(&report, "chargen on port 19:");
    assert!(
        chargen_line.contains("1 connections accepted, 1 finished")
            && chargen_line.contains(&format!(
                "negotiated: window scaling {ws}, timestamps {ts}, SACK {sack}"
            )),
        "{report}"
    );
    assert!(
        line_with(&report, "application errors").ends_with("application errors: 0"),
        "{report}"
    );

    // Our client to a kernel server: bulk to it, then bulk from it.
    let listener = kernel_listener(&lab, 5001);
    let sink = std::thread::spawn(move || kernel_sink(listener));
    let to = format!("{}:5001", lab.kernel_ip());
    let bulk = BULK_BYTES.to_string();
    let mut cargs = vec!["--to", &to, "--send", &bulk];
    cargs.extend_from_slice(extra);
    let out = success(&lab.connect(&cargs), "connect --send");
    let got = sink.join().unwrap();
    assert_eq!(got.len(), BULK_BYTES, "{out}");
    assert!(
        got == pattern(BULK_BYTES),
        "the kernel received the pattern exactly"
    );
    assert!(out.contains(&format!("sent {BULK_BYTES} bytes")), "{out}");
    assert!(out.contains(cc), "{out}");
    assert!(out.contains(&lab.negotiated_phrase()), "{out}");

    let listener = kernel_listener(&lab, 5002);
    let source = std::thread::spawn(move || kernel_source(listener, BULK_BYTES));
    let to = format!("{}:5002", lab.kernel_ip());
    let mut cargs = vec!["--to", &to, "--recv", "--expect", "pattern"];
    cargs.extend_from_slice(extra);
    let out = success(&lab.connect(&cargs), "connect --recv");
    source.join().unwrap();
    assert!(
        out.contains(&format!("received {BULK_BYTES} bytes (verified: pattern)")),
        "{out}"
    );
    assert!(out.contains(&lab.negotiated_phrase()), "{out}");
    let mss = if features.timestamps { 1448 } else { 1460 };
    assert!(out.contains(&format!("MSS {mss}")), "{out}");
}

#[test]
fn tap_kernel_all_features_on() {
    interop("ft-tap-on", 40, Features::ALL_ON, &[]);
}

#[test]
fn tap_kernel_sack_off() {
    interop("ft-tap-nosack", 41, Features::NO_SACK, &[]);
}

#[test]
fn tap_kernel_timestamps_off() {
    interop("ft-tap-nots", 42, Features::NO_TIMESTAMPS, &[]);
}

#[test]
fn tap_kernel_window_scaling_off() {
    interop("ft-tap-nows", 43, Features::NO_WINDOW_SCALING, &[]);
}

#[test]
fn tap_kernel_all_features_off() {
    interop("ft-tap-off", 44, Features::ALL_OFF, &[]);
}

#[test]
fn tap_kernel_software_checksums_and_segmentation() {
    interop("ft-tap-sw", 45, Features::ALL_ON, &["--no-offload"]);
}

#[test]
fn tap_kernel_with_cubic_on_our_side() {
    // `serve` and `connect` both take `--cc`; the kernel runs its own congestion control.
    interop("ft-tap-cubic", 47, Features::ALL_ON, &["--cc", "cubic"]);
}

#[test]
fn tap_http_serves_a_directory_and_captures_the_wire() {
    let lab = Lab::new("ft-tap-http", 46, Features::ALL_ON);
    let site = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(site.path().join("index.html"), b"<h1>home</h1>\n").unwrap();
    std::fs::write(site.path().join("big.bin"), &big).unwrap();
    std::fs::create_dir(site.path().join("sub")).unwrap();
    std::fs::write(site.path().join("sub/a.txt"), b"alpha\n").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let pcap = scratch.path().join("tap.pcap");
    let serve = lab.serve(&[
        "--app",
        "http",
        "--port",
        "8080",
        "--root",
        site.path().to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert!(serve.ready.contains("(3 pages)"), "{}", serve.ready);
    let base = format!("http://{}:8080", lab.our_ip());
    let curl = |args: &[&str]| lab.curl(args);
    assert_eq!(curl(&[&format!("{base}/")]), b"<h1>home</h1>\n");
    assert!(
        curl(&[&format!("{base}/big.bin")]) == big,
        "3 MB file byte-exact"
    );
    assert_eq!(curl(&[&format!("{base}/sub/a.txt")]), b"alpha\n");
    let code = |args: &[&str]| {
        let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        all.extend_from_slice(args);
        String::from_utf8(curl(&all)).unwrap()
    };
    assert_eq!(code(&[&format!("{base}/sub/missing")]), "404");
    assert_eq!(
        code(&["-X", "POST", "-d", "x=1", &format!("{base}/")]),
        "405"
    );
    let report = serve.stop_with(libc::SIGINT, "SIGINT");
    assert!(
        line_with(&report, "http: ").contains("5 requests; responses 200 x3, 404 x1, 405 x1"),
        "{report}"
    );
    // Our frames as they left: transmit offloads applied in software by the capture, so
    // every checksum is right and TSO super-frames appear as MSS-sized segments. (The
    // kernel's frames carry partial checksums under the TAP's checksum offload.)
    let ours = lab.our_ip().to_string();
    let frames: Vec<_> = wire_frames(&pcap)
        .into_iter()
        .filter(|f| f.src == ours)
        .collect();
    assert!(
        frames.iter().filter(|f| f.tcp).count() > 2000,
        "{} frames of ours",
        frames.len()
    );
    assert!(
        frames
            .iter()
            .all(|f| !f.ip_bad && !f.tcp_bad && f.len <= 1514)
    );
}

/// The kernel with `net.ipv4.tcp_ecn=1` (it asks for ECN and agrees to it): its client asks
/// our `serve` (default `--ecn accept`), our `connect --ecn on` asks its servers. Both ways
/// the handshake negotiates ECN and the data goes ECN-capable, ECT(0), pure ACKs not.
#[test]
fn tap_kernel_ecn() {
    const BYTES: usize = 2 << 20;
    let lab = Lab::new("ft-tap-ecn", 47, Features::ALL_ON);
    lab.ns.set_sysctl("net.ipv4.tcp_ecn", "1").unwrap();
    let ours = lab.our_ip();
    let serve = lab.serve(&["--app", "echo"]);
    let echo = lab.spawn(move || kernel_echo(SocketAddrV4::new(ours, 7), BYTES));
    let back = echo.join().unwrap().unwrap();
    assert!(back == pattern(BYTES), "echoed bytes are exact");
    let report = serve.stop();
    assert!(report.contains("ecn_connections=1"), "{report}");

    let scratch = tempfile::tempdir().unwrap();
    let (ours, kernel) = (ours.to_string(), lab.kernel_ip().to_string());
    // Our client sends to a kernel server.
    let pcap = scratch.path().join("send.pcap");
    let listener = kernel_listener(&lab, 5001);
    let sink = std::thread::spawn(move || kernel_sink(listener));
    let to = format!("{}:5001", lab.kernel_ip());
    let bytes = BYTES.to_string();
    let out = success(
        &lab.connect(&[
            "--to",
            &to,
            "--send",
            &bytes,
            "--ecn",
            "on",
            "--pcap",
            pcap.to_str().unwrap(),
        ]),
        "connect --send --ecn on",
    );
    assert!(sink.join().unwrap() == pattern(BYTES), "{out}");
    assert!(out.contains("ecn_connections=1"), "{out}");
    let frames = ecn_frames(&pcap);
    let handshake = |f: &[EcnFrame]| -> Vec<(String, bool, bool, bool, u8)> {
        f.iter()
            .filter(|f| f.syn)
            .map(|f| (f.src.clone(), f.ack, f.ece, f.cwr, f.ecn))
            .collect()
    };
    assert_eq!(
        handshake(&frames),
        [
            // An ECN-setup SYN, an ECN-setup SYN-ACK; neither ECN-capable.
            (ours.clone(), false, true, true, 0),
            (kernel.clone(), true, true, false, 0)
        ]
    );
    ecn_capable_data_only(&frames, &ours, BYTES);

    // Our client receives from a kernel server: the kernel's data is ECN-capable.
    let pcap = scratch.path().join("recv.pcap");
    let listener = kernel_listener(&lab, 5002);
    let source = std::thread::spawn(move || kernel_source(listener, BYTES));
    let to = format!("{}:5002", lab.kernel_ip());
    let out = success(
        &lab.connect(&[
            "--to",
            &to,
            "--recv",
            "--expect",
            "pattern",
            "--ecn",
            "on",
            "--pcap",
            pcap.to_str().unwrap(),
        ]),
        "connect --recv --ecn on",
    );
    source.join().unwrap();
    assert!(
        out.contains(&format!("received {BYTES} bytes (verified: pattern)")),
        "{out}"
    );
    assert!(out.contains("ecn_connections=1"), "{out}");
    ecn_capable_data_only(&ecn_frames(&pcap), &kernel, BYTES);
}

/// DCTCP on our side (`connect --cc dctcp --ecn on`) against the kernel's RFC 3168 ECN
/// (`net.ipv4.tcp_ecn=1`): ECN is negotiated, so DCTCP runs (the connection reports it), and
/// bulk both ways is byte-exact. The TAP marks nothing, so this checks the handshake and that
/// DCTCP's paths leave a plain transfer alone, not its reaction to marks (the in-memory link's
/// tests do that).
#[test]
fn tap_kernel_dctcp_on_our_side() {
    const BYTES: usize = 4 << 20;
    let lab = Lab::new("ft-tap-dctcp", 48, Features::ALL_ON);
    lab.ns.set_sysctl("net.ipv4.tcp_ecn", "1").unwrap();
    for (port, send) in [(5001, true), (5002, false)] {
        let to = format!("{}:{port}", lab.kernel_ip());
        let bytes = BYTES.to_string();
        let listener = kernel_listener(&lab, port);
        let mut args = vec!["--to", &to, "--cc", "dctcp", "--ecn", "on"];
        let out = if send {
            let sink = std::thread::spawn(move || kernel_sink(listener));
            args.extend_from_slice(&["--send", &bytes]);
            let out = success(&lab.connect(&args), "connect --send --cc dctcp");
            assert!(sink.join().unwrap() == pattern(BYTES), "{out}");
            out
        } else {
            let source = std::thread::spawn(move || kernel_source(listener, BYTES));
            args.extend_from_slice(&["--recv", "--expect", "pattern"]);
            let out = success(&lab.connect(&args), "connect --recv --cc dctcp");
            source.join().unwrap();
            assert!(
                out.contains(&format!("received {BYTES} bytes (verified: pattern)")),
                "{out}"
            );
            out
        };
        assert!(out.contains("dctcp congestion control"), "{out}");
        assert!(out.contains("ecn_connections=1"), "{out}");
        // The connection itself ran DCTCP with ECN (not the NewReno fallback).
        assert!(out.contains("ECN on"), "{out}");
        assert!(out.contains("congestion control: dctcp (alpha"), "{out}");
    }
}

/// In `frames`, the data `sender` sent (`bytes` of it) went ECT(0) (all of it but
/// retransmissions, which must not), and no frame without data, nor anything of the other
/// side, was ECN-capable.
fn ecn_capable_data_only(frames: &[EcnFrame], sender: &str, bytes: usize) {
    let ect: usize = frames
        .iter()
        .filter(|f| f.src == sender && f.ecn == 2)
        .map(|f| f.len)
        .sum();
    assert!(ect >= bytes, "{ect} of {bytes} bytes went ECT(0)");
    for f in frames {
        if f.ecn != 0 {
            assert!(
                f.src == sender && f.len > 0 && f.ecn == 2,
                "only data of {sender} is ECN-capable: {f:?}"
            );
        }
    }
}

/// The kernel connects through a SYN cookie (`--syn-cookies always`: every SYN is answered
/// without a slot, the ACK that returns the cookie takes one), and echo runs byte-exact over
/// the connection. With the kernel's timestamps the cookie carries window scaling and SACK
/// (both ends report them); without timestamps the connection has neither, as documented.
fn through_syn_cookies(prefix: &str, net: u8, features: Features) {
    const BYTES: usize = 1 << 20;
    let lab = Lab::new(prefix, net, features);
    let ours = lab.our_ip();
    let serve = lab.serve(&["--app", "echo", "--syn-cookies", "always"]);
    let echo = lab.spawn(move || kernel_echo(SocketAddrV4::new(ours, 7), BYTES));
    let back = echo.join().unwrap().unwrap();
    assert!(back == pattern(BYTES), "echoed bytes are exact");
    let report = serve.stop();
    let counters: Vec<&str> = report.split_whitespace().collect();
    for exact in ["syn_cookies_sent=1", "syn_cookies_accepted=1"] {
        assert!(counters.contains(&exact), "{exact}: {report}");
    }
    assert!(
        !report.contains("syn_cookies_rejected=") && !report.contains("syn_cookie_no_slot="),
        "{report}"
    );
    let on = u8::from(features.timestamps);
    let (ws, sack) = (
        on * u8::from(features.window_scaling),
        on * u8::from(features.sack),
    );
    let echo_line = line_with(&report, "echo on port 7:");
    assert!(
        echo_line.contains(&format!(
            "1 connections accepted, 1 finished, {BYTES} bytes in, {BYTES} bytes out; \
             negotiated: window scaling {ws}, timestamps {on}, SACK {sack}"
        )),
        "{report}"
    );
}

#[test]
fn tap_kernel_through_syn_cookies() {
    through_syn_cookies("ft-tap-cookie", 48, Features::ALL_ON);
}

#[test]
fn tap_kernel_through_syn_cookies_without_timestamps() {
    through_syn_cookies("ft-tap-cookie-nots", 49, Features::NO_TIMESTAMPS);
}
