//! The whole stack with the Linux kernel as the peer: `ferrotoe serve --nic sim` runs the
//! engine on the host driver on the simulated ferrotoe NIC, whose wire is a TAP device in a
//! namespace per test. `curl` fetches pages from the HTTP responder, python sockets do bulk
//! both ways (echo, discard, chargen), `ferrotoe connect --nic sim` sends to and receives
//! from a kernel server; byte-exact, with the kernel's SACK, timestamps and window scaling
//! toggled. The NIC's counters must show its offloads at work, and the captured wire must
//! pass tshark's checksum checks with every frame within the MTU.
//!
//! Each backend gets the same tests through `whole_stack_tests!`: the model and the RTL (the
//! Verilator build of the whole device; smaller transfers, as it simulates every clock).
//!
//! Needs root, /dev/net/tun, curl, python3 and tshark (fails, never skips, without them).

mod kernel;

use ferrotoe_benches::apps::http::site::{INDEX_HTML, PATTERN_PAGE_LEN};
use kernel::{
    Features, Lab, counter, kernel_listener, kernel_sink, kernel_source, line_with, pattern,
    success, wire_frames,
};

/// How much each transfer of a whole-stack test moves: the RTL backend simulates every clock
/// of the device, so it gets smaller transfers of the same shape.
#[derive(Clone, Copy)]
struct Sizes {
    /// Bytes of each python transfer (echo both ways, discard, chargen).
    python: usize,
    /// Bytes of each `ferrotoe connect` transfer (send, receive).
    client: usize,
}

const MODEL_SIZES: Sizes = Sizes {
    python: 4 << 20,
    client: 4 << 20,
};
const RTL_SIZES: Sizes = Sizes {
    python: 512 << 10,
    client: 512 << 10,
};

impl Sizes {
    /// Payload bytes our NIC transmits: the 1 MiB page, the echo and chargen streams.
    fn ours_transmitted(self) -> usize {
        PATTERN_PAGE_LEN + 2 * self.python + self.client
    }

    /// Payload bytes in both directions.
    fn total(self) -> usize {
        self.ours_transmitted() + 2 * self.python + self.client
    }
}

/// Echo (both directions at once), discard and chargen from a python client, each verified.
const PYTHON_BULK: &str = r#"
import socket, sys, threading
host, n = sys.argv[1], int(sys.argv[2])
data = (bytes(range(251)) * (n // 251 + 1))[:n]
s = socket.create_connection((host, 7), timeout=20)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send)
t.start()
got = bytearray()
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
t.join()
s.close()
assert got == data, "echo: %d of %d bytes, first difference at %s" % (
    len(got), n, next((i for i, (a, b) in enumerate(zip(got, data)) if a != b), None))
s = socket.create_connection((host, 9), timeout=20)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
assert s.recv(1) == b"", "discard sent something"
s.close()
line = lambda i: bytes(32 + (1 + i + c) % 95 for c in range(72)) + b"\r\n"
cycle = b"".join(line(i) for i in range(95))
want = (cycle * (n // len(cycle) + 1))[:n]
s = socket.create_connection((host, 19), timeout=20)
got = bytearray()
while len(got) < n:
    b = s.recv(1 << 20)
    if not b:
        break
    got += b
s.close()
assert got[:n] == want, "chargen stream differs"
print("python bulk ok", n)
"#;

fn tool(lab: &Lab, program: &str, args: &[&str], install: &str) -> Vec<u8> {
    let out = lab.ns.command(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}{}\n(if {program} is missing: `apt-get install -y \
         {install}`)",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Frames with bad IPv4 or TCP checksums, frames over the MTU, TCP frames in all.
///
/// A TCP checksum field of 0xffff where the sum calls for 0x0000 is the same ones'-complement
/// zero, and verifies; Linux writes it that way when it completes a checksum in software
/// (`CSUM_MANGLED_0`), and tshark flags it (RFC 1624). It counts as bad only in frames from
/// `ours` (our NIC must write 0x0000).
fn wire_counts(pcap: &std::path::Path, ours: std::net::Ipv4Addr) -> (usize, usize, usize) {
    let frames = wire_frames(pcap);
    let ours = ours.to_string();
    let bad = frames
        .iter()
        .filter(|f| f.ip_bad || (f.tcp_bad && (!f.tcp_ffff || f.src == ours)))
        .count();
    let oversize = frames.iter().filter(|f| f.len > 1514).count();
    (bad, oversize, frames.iter().filter(|f| f.tcp).count())
}

fn whole_stack(prefix: &str, net: u8, backend: &str, features: Features, sizes: Sizes) {
    let lab = Lab::new(prefix, net, features);
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("wire.pcap");
    let pcap_arg = pcap.to_str().unwrap();
    let serve = lab.serve(&[
        "--nic",
        "sim",
        "--backend",
        backend,
        "--app",
        "http",
        "--also",
        "echo",
        "--also",
        "discard",
        "--also",
        "chargen",
        "--pcap",
        pcap_arg,
    ]);
    assert!(
        serve.ready.contains("simulated ferrotoe NIC"),
        "{}",
        serve.ready
    );
    let base = format!("http://{}", lab.our_ip());
    let curl = |args: &[&str]| {
        let mut all = vec!["-sS", "--max-time", "20"];
        all.extend_from_slice(args);
        tool(&lab, "curl", &all, "curl")
    };
    assert_eq!(curl(&[&format!("{base}/")]), INDEX_HTML.as_bytes());
    let big = curl(&[&format!("{base}/pattern-1m.bin")]);
    assert_eq!(big.len(), PATTERN_PAGE_LEN);
    assert!(
        big == pattern(PATTERN_PAGE_LEN),
        "the 1 MiB page is byte-exact"
    );
    let head = String::from_utf8(curl(&["-I", &format!("{base}/pattern-1m.bin")])).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {PATTERN_PAGE_LEN}\r\n")),
        "{head}"
    );
    let missing = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/missing"),
    ]);
    assert_eq!(missing, b"404");
    let py = tool(
        &lab,
        "python3",
        &[
            "-c",
            PYTHON_BULK,
            &lab.our_ip().to_string(),
            &sizes.python.to_string(),
        ],
        "python3",
    );
    assert!(String::from_utf8_lossy(&py).contains("python bulk ok"));
    let report = serve.stop();
    let http = line_with(&report, "http: ");
    assert!(
        http.contains("4 requests; responses 200 x3, 404 x1"),
        "{report}"
    );
    let (ws, ts, sack) = (
        u8::from(features.window_scaling),
        u8::from(features.timestamps),
        u8::from(features.sack),
    );
    for (service, n) in [
        ("http on port 80:", 4),
        ("echo on port 7:", 1),
        ("discard on port 9:", 1),
        ("chargen on port 19:", 1),
    ] {
        let l = line_with(&report, service);
        assert!(
            l.contains(&format!("{n} connections accepted, {n} finished"))
                && l.contains(&format!(
                    "negotiated: window scaling {}, timestamps {}, SACK {}",
                    ws * n,
                    ts * n,
                    sack * n
                )),
            "{service} {report}"
        );
    }
    // The NIC did the checksums and the segmentation, and checked what arrived.
    // At least half as many frames as the payload needs at MSS 1448 (TSO segments only on
    // transmit: received data arrives in frames of the kernel's making).
    let ours_min = (sizes.ours_transmitted() / 1448 / 2) as u64;
    let theirs_min = ((2 * sizes.python + sizes.client) / 1448 / 2) as u64;
    assert!(
        counter(&report, "nic_tx_csum_inserted") > ours_min,
        "{report}"
    );
    assert!(
        counter(&report, "nic_tx_tso_segments") > ours_min,
        "{report}"
    );
    assert!(
        counter(&report, "nic_rx_csum_good") > theirs_min,
        "{report}"
    );
    assert_eq!(counter(&report, "nic_rx_csum_bad"), 0, "{report}");
    assert_eq!(counter(&report, "nic_errors"), 0, "{report}");
    let (bad, oversize, tcp) = wire_counts(&pcap, lab.our_ip());
    if (bad, oversize) != (0, 0) {
        let kept = std::env::temp_dir().join(format!("{prefix}-wire.pcap"));
        std::fs::copy(&pcap, &kept).unwrap();
        panic!(
            "{bad} frames with bad checksums and {oversize} over 1514 bytes on the wire; the \
             capture is kept in {}",
            kept.display()
        );
    }
    assert!(
        tcp > sizes.total() / 1448 / 2,
        "the wire carried the transfers ({tcp} TCP frames)"
    );

    // Our client over the whole stack, both directions.
    let listener = kernel_listener(&lab, 5001);
    let sink = std::thread::spawn(move || kernel_sink(listener));
    let to = format!("{}:5001", lab.kernel_ip());
    let bytes = sizes.client.to_string();
    let out = success(
        &lab.connect(&[
            "--nic",
            "sim",
            "--backend",
            backend,
            "--to",
            &to,
            "--send",
            &bytes,
        ]),
        "connect --nic sim --send",
    );
    let got = sink.join().unwrap();
    assert!(
        got == pattern(sizes.client),
        "the kernel received the pattern exactly\n{out}"
    );
    assert!(out.contains(&lab.negotiated_phrase()), "{out}");
    let listener = kernel_listener(&lab, 5002);
    let source = std::thread::spawn(move || kernel_source(listener, sizes.client));
    let to = format!("{}:5002", lab.kernel_ip());
    let out = success(
        &lab.connect(&[
            "--nic",
            "sim",
            "--backend",
            backend,
            "--to",
            &to,
            "--recv",
            "--expect",
            "pattern",
        ]),
        "connect --nic sim --recv",
    );
    source.join().unwrap();
    assert!(
        out.contains(&format!(
            "received {} bytes (verified: pattern)",
            sizes.client
        )),
        "{out}"
    );
}

/// The whole-stack tests of one backend, on networks `$net`..`$net + 4`.
macro_rules! whole_stack_tests {
    ($backend:ident, $net:literal, $sizes:expr) => {
        mod $backend {
            use super::*;

            const BACKEND: &str = stringify!($backend);

            #[test]
            fn kernel_features_all_on() {
                whole_stack(
                    concat!("ft-nic-on-", stringify!($backend)),
                    $net,
                    BACKEND,
                    Features::ALL_ON,
                    $sizes,
                );
            }

            #[test]
            fn kernel_sack_off() {
                whole_stack(
                    concat!("ft-nic-nosack-", stringify!($backend)),
                    $net + 1,
                    BACKEND,
                    Features::NO_SACK,
                    $sizes,
                );
            }

            #[test]
            fn kernel_timestamps_off() {
                whole_stack(
                    concat!("ft-nic-nots-", stringify!($backend)),
                    $net + 2,
                    BACKEND,
                    Features::NO_TIMESTAMPS,
                    $sizes,
                );
            }

            #[test]
            fn kernel_window_scaling_off() {
                whole_stack(
                    concat!("ft-nic-nows-", stringify!($backend)),
                    $net + 3,
                    BACKEND,
                    Features::NO_WINDOW_SCALING,
                    $sizes,
                );
            }

            #[test]
            fn kernel_features_all_off() {
                whole_stack(
                    concat!("ft-nic-off-", stringify!($backend)),
                    $net + 4,
                    BACKEND,
                    Features::ALL_OFF,
                    $sizes,
                );
            }
        }
    };
}

whole_stack_tests!(model, 50, MODEL_SIZES);
whole_stack_tests!(rtl, 60, RTL_SIZES);
