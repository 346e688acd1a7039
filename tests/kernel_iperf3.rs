//! The stock `iperf3` client (Debian's, 3.12 here) against `ferrotoe serve --nic sim --app
//! iperf3`: the engine on the host driver on the simulated ferrotoe NIC, whose wire is a TAP
//! device in a namespace the test creates, the client in that namespace on the kernel's TCP.
//!
//! Runs a normal test (`-t 1`), a reverse one (`-R`), two parallel streams (`-P 2`), a byte
//! count (`-n`) and `--bidir`, each with `--json`, and checks what the client printed: no
//! error, bytes both ways where they should be, and the totals the server reported to the
//! clients equal to the totals the server prints when it stops. A UDP test is refused with
//! iperf3's own error message. Before them, hand-made hostile control connections (an
//! oversized parameter object, an unknown state byte, a bad cookie, a stray data connection,
//! a client that leaves mid-test) each get their typed answer and are counted, and the server
//! serves the real clients afterwards.
//!
//! Needs root, /dev/net/tun and `iperf3` (fails, never skips, without them).

mod kernel;

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::process::Command;

use kernel::{Features, Lab, STEP, line_with};
use serde_json::Value;

fn require_iperf3() {
    match Command::new("iperf3").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "this test runs the stock iperf3 client, which is not usable here ({other:?}): \
             `apt-get install -y iperf3`"
        ),
    }
}

/// Runs `iperf3 -c OURS --json ARGS` in the namespace; returns its exit success and JSON.
fn iperf3(lab: &Lab, args: &[&str]) -> (bool, Value) {
    let ip = lab.our_ip().to_string();
    let out = lab
        .ns
        .command("iperf3")
        .args(["-c", &ip, "--json", "--connect-timeout", "5000"])
        .args(args)
        .output()
        .expect("running iperf3 in the namespace (`apt-get install -y iperf3`)");
    let text = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "iperf3 {args:?} printed no JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), json)
}

fn bytes(json: &Value, sum: &str) -> u64 {
    json["end"][sum]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no end.{sum}.bytes in {json}"))
}

/// A run that must succeed: no error, data moved.
fn ok_run(lab: &Lab, args: &[&str]) -> Value {
    let (ok, json) = iperf3(lab, args);
    assert!(ok && json.get("error").is_none(), "iperf3 {args:?}: {json}");
    json
}

/// The number before `what` in the report line.
fn count_before(line: &str, what: &str) -> u64 {
    let at = line
        .find(what)
        .unwrap_or_else(|| panic!("no {what:?} in {line}"));
    line[..at]
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count before {what:?} in {line}"))
}

const COOKIE: &[u8; 37] = b"ferrotoehostiletestcookie0123456789a\0";

fn control(to: SocketAddrV4, cookie: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&to.into(), STEP).expect("connect to ferrotoe");
    s.set_read_timeout(Some(STEP)).unwrap();
    s.write_all(cookie).unwrap();
    s
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).expect("reading the server's answer");
    b
}

fn framed(json: &str) -> Vec<u8> {
    let mut v = (json.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(json.as_bytes());
    v
}

/// SERVER_ERROR (-2) and the error number, then the server's close once we close.
fn expect_server_error(s: &mut TcpStream, i_errno: u32) {
    let e = read_n(s, 9);
    assert_eq!(e[0], 0xfe, "SERVER_ERROR expected: {e:?}");
    assert_eq!(u32::from_be_bytes(e[1..5].try_into().unwrap()), i_errno);
}

/// The hostile control-channel cases, from a thread in the namespace.
fn hostile(to: SocketAddrV4) {
    // A parameter object longer than the cap.
    let mut s = control(to, COOKIE);
    assert_eq!(read_n(&mut s, 1), [9], "PARAM_EXCHANGE");
    s.write_all(&(1u32 << 20).to_be_bytes()).unwrap();
    expect_server_error(&mut s, 114);
    drop(s);
    // An unknown state byte while the server waits for streams.
    let mut s = control(to, COOKIE);
    assert_eq!(read_n(&mut s, 1), [9]);
    s.write_all(&framed(r#"{"tcp":true,"time":1,"parallel":1}"#))
        .unwrap();
    assert_eq!(read_n(&mut s, 1), [10], "CREATE_STREAMS");
    s.write_all(&[99]).unwrap();
    expect_server_error(&mut s, 110);
    drop(s);
    // Not a cookie: the server closes without a word.
    let mut s = control(to, &[0x01; 37]);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the server closes");
    assert!(rest.is_empty(), "{rest:?}");
    // A test whose client leaves mid-test, and a data connection that comes too late.
    let mut c = control(to, COOKIE);
    assert_eq!(read_n(&mut c, 1), [9]);
    c.write_all(&framed(r#"{"tcp":true,"time":5,"parallel":1}"#))
        .unwrap();
    assert_eq!(read_n(&mut c, 1), [10]);
    let data = control(to, COOKIE);
    assert_eq!(read_n(&mut c, 2), [1, 2], "TEST_START, TEST_RUNNING");
    let mut late = control(to, COOKIE);
    assert_eq!(
        read_n(&mut late, 1),
        [0xff],
        "ACCESS_DENIED for a stray stream"
    );
    drop(late);
    drop(data);
    drop(c);
}

#[test]
fn the_stock_iperf3_client_measures_ferrotoe_over_the_simulated_nic() {
    require_iperf3();
    let lab = Lab::new("ft-iperf3", 80, Features::ALL_ON);
    let serve = lab.serve(&["--nic", "sim", "--app", "iperf3"]);
    assert!(
        serve.ready.contains("simulated ferrotoe NIC")
            && serve.ready.contains("iperf3 on port 5201"),
        "{}",
        serve.ready
    );
    let to = SocketAddrV4::new(lab.our_ip(), 5201);
    lab.spawn(move || hostile(to))
        .join()
        .expect("the hostile cases ran")
        .expect("entering the namespace");

    let mut server_received = 0;
    let mut server_sent = 0;
    // Normal: the client sends, ferrotoe receives.
    for args in [&["-t", "1"][..], &["-t", "1", "-P", "2"], &["-n", "4M"]] {
        let json = ok_run(&lab, args);
        let (sent, received) = (bytes(&json, "sum_sent"), bytes(&json, "sum_received"));
        assert!(
            received > 0 && received <= sent,
            "{args:?}: {sent} {received}"
        );
        if args[0] == "-n" {
            assert!(sent >= 4 << 20, "-n 4M sent {sent}");
        }
        let streams = json["end"]["streams"].as_array().unwrap().len();
        assert_eq!(streams, if args.contains(&"-P") { 2 } else { 1 }, "{json}");
        server_received += received;
    }
    // Reverse: ferrotoe sends, the client receives.
    let json = ok_run(&lab, &["-t", "1", "-R"]);
    let (sent, received) = (bytes(&json, "sum_sent"), bytes(&json, "sum_received"));
    assert!(received > 0 && received <= sent, "-R: {sent} {received}");
    assert_eq!(json["start"]["test_start"]["reverse"], 1, "{json}");
    server_sent += sent;
    let json = ok_run(&lab, &["-t", "1", "-R", "-P", "2"]);
    server_sent += bytes(&json, "sum_sent");
    assert!(bytes(&json, "sum_received") > 0);
    // Both at once.
    let json = ok_run(&lab, &["-t", "1", "--bidir"]);
    server_received += bytes(&json, "sum_received");
    server_sent += bytes(&json, "sum_sent_bidir_reverse");
    assert!(bytes(&json, "sum_received_bidir_reverse") > 0, "{json}");
    // UDP is refused with iperf3's message (3.12 exits 0 after an error with --json; the
    // JSON says it).
    let (_, json) = iperf3(&lab, &["-u", "-t", "1"]);
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("not implemented")),
        "{json}"
    );

    let report = serve.stop();
    let line = line_with(&report, "  iperf3: ");
    assert_eq!(count_before(line, "tests completed"), 6, "{report}");
    assert_eq!(
        count_before(line, "data bytes received"),
        server_received,
        "the server's total received is what it reported to the clients\n{report}"
    );
    assert_eq!(count_before(line, " sent)"), server_sent, "{report}");
    assert_eq!(count_before(line, "refused"), 1, "{report}");
    assert_eq!(count_before(line, "UDP)"), 1, "{report}");
    assert_eq!(count_before(line, "failed"), 2, "{report}");
    assert_eq!(count_before(line, "aborted"), 1, "{report}");
    assert_eq!(count_before(line, "stray streams"), 1, "{report}");
    assert_eq!(count_before(line, "bad cookies"), 1, "{report}");
    assert_eq!(count_before(line, "running at exit"), 0, "{report}");
    let app = line_with(&report, "application errors");
    assert!(app.ends_with("application errors: 0"), "{report}");
}
