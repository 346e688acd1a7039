//! ICMP errors from Linux to ferrotoe.
//!
//! RFC 1191 path MTU discovery through a real Linux router: ferrotoe on a TAP in a namespace
//! that forwards (`ip_forward=1`) to a second namespace over a veth whose router end has an
//! MTU of 1280. The far end of the veth keeps 1500, so the kernel listener there announces
//! MSS 1460 and our full-sized (DF) segments, super-frames included, do not fit the hop: the
//! router drops them and answers "fragmentation needed" with next-hop MTU 1280. Our engine
//! must lower the MSS and resend at once, so that `ferrotoe connect --send 16MiB` completes
//! byte-exact with `icmp_frag_needed` counted and no retransmission timeout.
//!
//! RFC 1122 hard errors: a host that answers our SYN with an ICMP port unreachable (what a
//! `REJECT --reject-with icmp-port-unreachable` firewall does; the machines have no nftables,
//! so a python3 raw socket in the namespace plays it, quoting the SYN it saw on the TAP) makes
//! `ferrotoe connect` fail at once with the close reason, not after the SYN retries.
//!
//! Needs root and /dev/net/tun (fails, never skips, without them).

mod kernel;

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use kernel::{Features, Lab, counter, kernel_sink, pattern, success};
use tcp_engine::tap::netns::NetNs;

/// The lab's third octet: the router is 198.18.90.1 on the TAP, ferrotoe 198.18.90.2; the
/// veth is 198.19.90.0/24 (router .1, far host .2).
const NET: u8 = 90;
/// The MTU of the router's next hop.
const HOP_MTU: u16 = 1280;
const BYTES: usize = 16 << 20;
const PORT: u16 = 5001;

/// `name` of the `Icmp:` lines of `/proc/net/snmp` in `ns`.
fn icmp_counter(ns: &NetNs, name: &str) -> u64 {
    let text = ns
        .run("cat", &["/proc/net/snmp"])
        .expect("reading /proc/net/snmp in the router's namespace (coreutils cat)");
    let mut lines = text.lines().filter(|l| l.starts_with("Icmp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        panic!("no Icmp lines in /proc/net/snmp:\n{text}");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no Icmp {name} counter in:\n{text}"))
        .1
        .parse()
        .expect("a counter value")
}

#[test]
fn frag_needed_from_a_kernel_router_lowers_the_mss_without_a_timeout() {
    let lab = Lab::new("ft-pmtu", NET, Features::ALL_ON);
    let router = &lab.ns;
    router.set_sysctl("net.ipv4.ip_forward", "1").unwrap();
    let far = NetNs::create("ft-pmtu-far").expect("creating the far namespace");
    router
        .ip(&["link", "add", "rt0", "type", "veth", "peer", "name", "far0"])
        .expect("creating a veth pair in the router's namespace");
    far.move_link_from(router, "far0").unwrap();
    router.set_mtu("rt0", HOP_MTU).unwrap();
    router
        .add_address("rt0", Ipv4Addr::new(198, 19, NET, 1), 24)
        .unwrap();
    far.add_address("far0", Ipv4Addr::new(198, 19, NET, 2), 24)
        .unwrap();
    router.link_up("rt0").unwrap();
    far.link_up("far0").unwrap();
    far.ip(&["route", "add", "default", "via", &format!("198.19.{NET}.1")])
        .expect("the far host's route back through the router");

    let at = SocketAddrV4::new(Ipv4Addr::new(198, 19, NET, 2), PORT);
    let listener = far
        .in_namespace(move || TcpListener::bind(at))
        .unwrap()
        .expect("binding the far kernel listener");
    let sink = std::thread::spawn(move || kernel_sink(listener));
    let unreachables_before = icmp_counter(router, "OutDestUnreachs");

    let gateway = lab.kernel_ip().to_string();
    let to = at.to_string();
    let bytes = BYTES.to_string();
    let out = success(
        &lab.connect(&["--gateway", &gateway, "--to", &to, "--send", &bytes]),
        "connect --send through the router",
    );
    let got = sink.join().unwrap();
    assert_eq!(got.len(), BYTES, "{out}");
    assert!(
        got == pattern(BYTES),
        "the far kernel received the pattern exactly"
    );
    assert!(out.contains(&format!("sent {BYTES} bytes")), "{out}");

    let sent_by_router = icmp_counter(router, "OutDestUnreachs") - unreachables_before;
    assert!(
        sent_by_router >= 1,
        "the router sent no destination unreachable (fragmentation needed):\n{out}"
    );
    let applied = counter(&out, "icmp_frag_needed");
    assert!(applied >= 1, "icmp_frag_needed not counted:\n{out}");
    assert!(
        applied <= sent_by_router,
        "more applied ({applied}) than the router sent ({sent_by_router})"
    );
    for rejected in [
        "icmp_rejected_quote",
        "icmp_rejected_no_connection",
        "icmp_rejected_sequence",
        "icmp_rejected_mtu",
    ] {
        assert_eq!(counter(&out, rejected), 0, "{rejected}:\n{out}");
    }
    // Recovered by the resend the ICMP message triggered, not by the retransmission timer:
    // neither the connection's retransmission timeouts nor a connection timeout.
    assert_eq!(retransmission_timeouts(&out), 0, "{out}");
    assert_eq!(counter(&out, "timeouts"), 0, "{out}");
}

/// `T` of the report's "connection: N segments retransmitted (F fast, T timeouts)".
fn retransmission_timeouts(report: &str) -> u64 {
    let line = kernel::line_with(report, "segments retransmitted (");
    let before = line
        .split(" timeouts)")
        .next()
        .unwrap_or_else(|| panic!("no timeouts count in {line:?}"));
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no timeouts count in {line:?}"))
}

/// Waits on `ft0` for a SYN to DST (argv[1]) and answers it with an ICMP port unreachable
/// quoting its IPv4 header and first 8 TCP bytes, sent from the namespace's own address.
const PORT_UNREACHABLE_RESPONDER: &str = r#"
import socket, struct, sys
dst = sys.argv[1]
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
sniff.bind(("ft0", 0))
sniff.settimeout(20)
print("ready", flush=True)
while True:
    frame = sniff.recv(65535)
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 6 or socket.inet_ntoa(ip[16:20]) != dst:
        continue
    flags = ip[ihl + 13]
    if flags & 0x02 and not flags & 0x10:
        break
src = socket.inet_ntoa(ip[12:16])
msg = bytearray(struct.pack("!BBHI", 3, 3, 0, 0) + ip[:ihl + 8])
total = sum(struct.unpack("!%dH" % (len(msg) // 2), bytes(msg[:len(msg) // 2 * 2])))
if len(msg) % 2:
    total += msg[-1] << 8
while total >> 16:
    total = (total & 0xFFFF) + (total >> 16)
struct.pack_into("!H", msg, 2, ~total & 0xFFFF)
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
raw.sendto(bytes(msg), (src, 0))
print("sent", flush=True)
"#;

#[test]
fn port_unreachable_for_our_syn_aborts_the_connect() {
    let lab = Lab::new("ft-icmp-hard", NET + 1, Features::ALL_ON);
    let far = format!("198.19.{}.2", NET + 1);
    let mut responder = lab
        .ns
        .command("python3")
        .args(["-c", PORT_UNREACHABLE_RESPONDER, &far])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python3 in the namespace (install python3)");
    let mut lines = BufReader::new(responder.stdout.take().unwrap()).lines();
    let first = lines.next().map(|l| l.unwrap_or_default());
    if first.as_deref() != Some("ready") {
        let out = responder.wait_with_output().unwrap();
        panic!(
            "the ICMP responder did not start: {first:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let gateway = lab.kernel_ip().to_string();
    let to = format!("{far}:5001");
    let out = lab.connect(&["--gateway", &gateway, "--to", &to, "--send", "1000"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = responder.wait().unwrap();
    assert!(status.success(), "the ICMP responder failed: {status}");
    assert!(
        !out.status.success(),
        "connect succeeded through a port unreachable:\n{text}"
    );
    assert!(
        text.contains("unreachable: an ICMP protocol or port unreachable answered the SYN"),
        "the close reason reaches the user:\n{text}"
    );
    assert_eq!(counter(&text, "icmp_hard_errors"), 1, "{text}");
    // At once, on the first SYN: no retransmission, no timeout.
    assert_eq!(counter(&text, "tx_segments"), 1, "{text}");
    assert_eq!(retransmission_timeouts(&text), 0, "{text}");
}
