//! The engine directly on a TAP device with the Linux kernel's TCP as the peer, through the
//! CLI, in a namespace per test: a kernel client against `ferrotoe serve` (echo of several
//! MiB both ways at once, chargen), and `ferrotoe connect` against a kernel server (bulk to
//! it, bulk from it), byte-exact, with the kernel's SACK, timestamps and window scaling each
//! on and off. The negotiated options both ends report must match the kernel's settings.
//!
//! Needs root and /dev/net/tun (fails, never skips, without them).

mod kernel;

use std::net::SocketAddrV4;

use kernel::{
    Features, Lab, kernel_chargen, kernel_echo, kernel_listener, kernel_sink, kernel_source,
    line_with, pattern, success,
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
