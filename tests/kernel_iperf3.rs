//! The stock `iperf3` client (Debian's, 3.12 here) against `ferrotoe serve --nic sim --app
//! iperf3`: the engine on the host driver on the simulated ferrotoe NIC, whose wire is a TAP
//! device in a namespace the test creates, the client in that namespace on the kernel's TCP.
//!
//! Runs a normal test (`-t 1`), a reverse one (`-R`), two parallel streams (`-P 2`), a byte
//! count (`-n`), `--bidir` and two tests at once, each with `--json`, and checks what the
//! client printed: no error, bytes both ways where they should be, and the totals the server
//! reported to the clients equal to the totals the server prints when it stops. A UDP test is refused with
//! iperf3's own error message. Before them, hand-made hostile control connections (an
//! oversized parameter object, an unknown state byte, a bad cookie, a stray data connection,
//! a client that leaves mid-test) each get their typed answer and are counted, and the server
//! serves the real clients afterwards. The RTL backend (the Verilator build of the device)
//! gets one short test each way.
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

/// `iperf3 -c OURS --json ARGS` in the namespace.
fn iperf3_command(lab: &Lab, args: &[&str]) -> Command {
    let mut c = lab.ns.command("iperf3");
    c.args([
        "-c",
        &lab.our_ip().to_string(),
        "--json",
        "--connect-timeout",
        "5000",
    ])
    .args(args);
    c
}

/// Runs `iperf3 -c OURS --json ARGS` in the namespace; returns its exit success and JSON.
fn iperf3(lab: &Lab, args: &[&str]) -> (bool, Value) {
    let out = iperf3_command(lab, args)
        .output()
        .expect("running iperf3 in the namespace (`apt-get install -y iperf3`)");
    parse(args, &out)
}

fn parse(args: &[&str], out: &std::process::Output) -> (bool, Value) {
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

/// Runs each client command line of `runs` (all must succeed and move data both ways they
/// should) and returns the totals the server reported: (received, sent).
fn run_all(lab: &Lab, runs: &[&[&str]]) -> (u64, u64) {
    let (mut server_received, mut server_sent) = (0, 0);
    for &args in runs {
        let json = ok_run(lab, args);
        let streams = json["end"]["streams"].as_array().unwrap().len();
        // The server reports its process's CPU use over the test, as iperf3's own does: the
        // engine, the driver and the simulated NIC all ran, so it is more than nothing.
        let remote_cpu = json["end"]["cpu_utilization_percent"]["remote_total"]
            .as_f64()
            .unwrap_or(0.0);
        assert!(remote_cpu > 0.0, "{args:?}: the server's CPU use: {json}");
        let parallel = args
            .iter()
            .position(|a| *a == "-P")
            .map_or(1, |i| args[i + 1].parse().unwrap());
        if args.contains(&"--bidir") {
            assert_eq!(streams, 2 * parallel, "{json}");
            server_received += bytes(&json, "sum_received");
            server_sent += bytes(&json, "sum_sent_bidir_reverse");
            assert!(bytes(&json, "sum_received_bidir_reverse") > 0, "{json}");
            continue;
        }
        assert_eq!(streams, parallel, "{json}");
        let (sent, received) = (bytes(&json, "sum_sent"), bytes(&json, "sum_received"));
        assert!(
            received > 0 && received <= sent,
            "{args:?}: {sent} {received}"
        );
        if let Some(i) = args.iter().position(|a| *a == "-n") {
            let mib: u64 = args[i + 1].trim_end_matches('M').parse().unwrap();
            assert!(sent >= mib << 20, "{args:?} sent {sent}");
        }
        if args.contains(&"-R") {
            // ferrotoe sends, the client receives.
            assert_eq!(json["start"]["test_start"]["reverse"], 1, "{json}");
            server_sent += sent;
        } else {
            server_received += received;
        }
    }
    (server_received, server_sent)
}

/// Checks the server's iperf3 report line: `completed` tests with these totals, and the
/// other counters.
fn check_report(report: &str, completed: u64, totals: (u64, u64), others: &[(&str, u64)]) {
    let line = line_with(report, "  iperf3: ");
    assert_eq!(count_before(line, "tests completed"), completed, "{report}");
    assert_eq!(
        count_before(line, "data bytes received"),
        totals.0,
        "the server's total received is what it reported to the clients\n{report}"
    );
    assert_eq!(count_before(line, " sent)"), totals.1, "{report}");
    for (what, n) in others {
        assert_eq!(count_before(line, what), *n, "{what}: {report}");
    }
    assert_eq!(count_before(line, "running at exit"), 0, "{report}");
    let app = line_with(report, "application errors");
    assert!(app.ends_with("application errors: 0"), "{report}");
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
    let mut totals = run_all(
        &lab,
        &[
            &["-t", "1"],
            &["-t", "1", "-P", "2"],
            &["-n", "4M"],
            &["-t", "1", "-R"],
            &["-t", "1", "-R", "-P", "2"],
            &["-t", "1", "--bidir"],
        ],
    );
    // Two tests at once, one each way.
    let (normal, reverse) = (["-t", "1"], ["-t", "1", "-R"]);
    let spawn = |args: &[&str]| {
        iperf3_command(&lab, args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawning iperf3")
    };
    let (a, b) = (spawn(&normal), spawn(&reverse));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for (args, out) in [(&normal[..], a), (&reverse[..], b)] {
        let (ok, json) = parse(args, &out);
        assert!(
            ok && json.get("error").is_none(),
            "concurrent {args:?}: {json}"
        );
        assert!(bytes(&json, "sum_received") > 0, "{json}");
        if args.contains(&"-R") {
            totals.1 += bytes(&json, "sum_sent");
        } else {
            totals.0 += bytes(&json, "sum_received");
        }
    }
    // UDP is refused with iperf3's message (3.12 exits 0 after an error with --json; the
    // JSON says it).
    let (_, json) = iperf3(&lab, &["-u", "-t", "1"]);
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("not implemented")),
        "{json}"
    );
    check_report(
        &serve.stop(),
        8,
        totals,
        &[
            ("refused", 1),
            ("UDP)", 1),
            ("failed", 2),
            ("aborted", 1),
            ("stray streams", 1),
            ("bad cookies", 1),
        ],
    );
}

/// The same client through the Verilator RTL of the whole device (about 8 MB/s simulated, so
/// one short test each way).
#[test]
fn the_stock_iperf3_client_over_the_rtl_nic() {
    require_iperf3();
    let lab = Lab::new("ft-iperf3-rtl", 81, Features::ALL_ON);
    let serve = lab.serve(&["--nic", "sim", "--backend", "rtl", "--app", "iperf3"]);
    assert!(serve.ready.contains("backend Rtl"), "{}", serve.ready);
    let totals = run_all(&lab, &[&["-n", "1M"], &["-t", "1", "-R"]]);
    check_report(
        &serve.stop(),
        2,
        totals,
        &[("refused", 0), ("failed", 0), ("aborted", 0)],
    );
}
