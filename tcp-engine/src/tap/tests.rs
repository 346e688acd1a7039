//! Tests of the TAP device against the running Linux kernel, in network namespaces these tests
//! create (addresses from 198.18.0.0/15 only). They need root and `/dev/net/tun`; without
//! them they fail and say so (CI runs as root).
//!
//! Frames are built by hand (`testutil`); the kernel is the peer: it resolves our address with
//! ARP, opens TCP connections to us, sends bulk data as GSO super-frames, and forwards our
//! checksum-offloaded and TSO frames between two TAPs, completing the checksums and segmenting
//! them with its own code so we can check the result.

use super::netns::{NetNs, NetNsError, in_bench_range};
use super::*;
use crate::checksum;
use crate::softnic::verify_rx;
use crate::testutil::{self, TcpSpec};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::Command;
use std::time::Instant;

const OUR_MAC: [u8; 6] = [0x02, 0xf0, 0x0d, 0x00, 0x00, 0x02];
const KERNEL_MAC: [u8; 6] = [0x02, 0xf0, 0x0d, 0x00, 0x00, 0x01];
const WAIT: Duration = Duration::from_secs(10);

fn require_environment() {
    if let Err(why) = check_environment(Path::new(TUN_PATH)) {
        panic!("TAP test cannot run: {why}");
    }
}

/// Receives until `pick` returns `Some` for a frame; fails the test after `WAIT`.
fn receive_until<T>(tap: &mut TapDevice, mut pick: impl FnMut(&[u8], RxMeta) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        // One frame at a time: frames after the match stay queued for the next call.
        let mut found = None;
        if tap.rx_burst(1, |frame, meta| found = pick(frame, meta)) == 1 {
            match found {
                Some(value) => return value,
                None => continue,
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no expected frame from the kernel on {} within {WAIT:?}",
            tap.name()
        );
        tap.wait_readable(Some(left.min(Duration::from_millis(50))))
            .unwrap();
    }
}

fn ethertype(frame: &[u8]) -> u16 {
    u16::from_be_bytes([frame[12], frame[13]])
}

/// An ARP request for `ip`: returns the requester's MAC and IP.
fn arp_request_for(frame: &[u8], ip: [u8; 4]) -> Option<([u8; 6], [u8; 4])> {
    (ethertype(frame) == 0x0806
        && frame.len() >= 42
        && frame[20..22] == [0, 1]
        && frame[38..42] == ip)
        .then(|| {
            (
                frame[22..28].try_into().unwrap(),
                frame[28..32].try_into().unwrap(),
            )
        })
}

fn send_frame(tap: &mut TapDevice, frame: &[u8], meta: TxMeta) -> Option<(usize, TxMeta)> {
    tap.transmit(|buf| {
        buf[..frame.len()].copy_from_slice(frame);
        Some((frame.len(), meta))
    })
}

fn answer_arp(tap: &mut TapDevice, request: ([u8; 6], [u8; 4]), our_ip: [u8; 4]) {
    let reply = testutil::arp_frame(2, OUR_MAC, our_ip, request.0, request.1);
    send_frame(tap, &reply, TxMeta::NONE).expect("ARP reply written");
}

/// A TCP segment from the kernel: (seq, flags byte, payload).
struct Seg {
    seq: u32,
    ack: u32,
    flags: u8,
    src_port: u16,
    payload: Vec<u8>,
    frame_len: usize,
    meta: RxMeta,
}

fn tcp_segment(frame: &[u8], meta: RxMeta, dst_ip: [u8; 4], dst_port: u16) -> Option<Seg> {
    if ethertype(frame) != 0x0800 || frame[23] != 6 || frame[30..34] != dst_ip {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let t = 14 + ihl;
    if u16::from_be_bytes([frame[t + 2], frame[t + 3]]) != dst_port {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let data = t + usize::from(frame[t + 12] >> 4) * 4;
    Some(Seg {
        seq: u32::from_be_bytes(frame[t + 4..t + 8].try_into().unwrap()),
        ack: u32::from_be_bytes(frame[t + 8..t + 12].try_into().unwrap()),
        flags: frame[t + 13],
        src_port: u16::from_be_bytes([frame[t], frame[t + 1]]),
        payload: frame[data..14 + total].to_vec(),
        frame_len: frame.len(),
        meta,
    })
}

fn offload(mss: Option<u16>, l4_len: u8) -> TxMeta {
    TxMeta {
        checksum: true,
        tso_mss: mss,
        l2_len: 14,
        l3_len: 20,
        l4_len,
    }
}

/// The kernel side of a TAP in a fresh namespace: interface `name` with address
/// `198.18.<net>.1/24` and the fixed kernel MAC.
fn namespace_with_tap(prefix: &str, config: &TapConfig, net: u8) -> (NetNs, TapDevice) {
    require_environment();
    let ns = NetNs::create(prefix).expect("namespace");
    let tap = ns.open_tap(config).expect("TAP inside the namespace");
    ns.ip(&["link", "set", tap.name(), "address", "02:f0:0d:00:00:01"])
        .unwrap();
    ns.add_address(tap.name(), Ipv4Addr::new(198, 18, net, 1), 24)
        .unwrap();
    (ns, tap)
}

#[test]
fn kernel_arp_request_then_syn_arrive_with_offload_metadata() {
    for checksum_offload in [true, false] {
        let config = TapConfig {
            checksum_offload,
            tso: checksum_offload,
            ..TapConfig::new("ftarp0")
        };
        let (ns, mut tap) = namespace_with_tap("ft-arp", &config, 0);
        let client = ns
            .spawn(|| {
                TcpStream::connect_timeout(
                    &SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 7).into(),
                    WAIT,
                )
            })
            .unwrap();
        // The kernel first resolves 198.18.0.2.
        let request = receive_until(&mut tap, |f, _| arp_request_for(f, [198, 18, 0, 2]));
        assert_eq!(request, (KERNEL_MAC, [198, 18, 0, 1]));
        answer_arp(&mut tap, request, [198, 18, 0, 2]);
        // Then its SYN comes to our MAC.
        let (syn, frame) = receive_until(&mut tap, |f, m| {
            let seg = tcp_segment(f, m, [198, 18, 0, 2], 7)?;
            (seg.flags & 0x02 != 0).then(|| (seg, f.to_vec()))
        });
        assert_eq!(&frame[..6], &OUR_MAC);
        assert!(
            testutil::ipv4_header_ok(&frame),
            "the kernel's IPv4 header checksum is valid"
        );
        let tcp_len = (frame.len() - 34) as u32;
        let seed = pseudo_header_sum(&frame, 14, 6, tcp_len);
        let field = u16::from_be_bytes([frame[50], frame[51]]);
        if checksum_offload {
            assert_eq!(
                syn.meta,
                RxMeta {
                    ip: ChecksumState::Unknown,
                    l4: ChecksumState::Good
                }
            );
            // NEEDS_CSUM: the field holds the pseudo-header sum, the convention our transmit
            // side seeds with; finishing it the virtio way gives a valid checksum.
            assert_eq!(field, seed, "partial checksum = pseudo-header sum");
            let mut done = frame.clone();
            let c = checksum::checksum(&done[34..]);
            done[50..52].copy_from_slice(&c.to_be_bytes());
            assert_eq!(verify_rx(&done).l4, ChecksumState::Good);
        } else {
            assert_eq!(syn.meta, RxMeta::UNVERIFIED);
            assert_eq!(
                verify_rx(&frame),
                RxMeta {
                    ip: ChecksumState::Good,
                    l4: ChecksumState::Good
                }
            );
        }
        // Refuse it with an RST|ACK whose checksums the device inserts (when it can): the
        // kernel's connect() sees "connection refused", so the frame got through intact.
        let rst = TcpSpec {
            src_mac: OUR_MAC,
            dst_mac: KERNEL_MAC,
            src: [198, 18, 0, 2],
            dst: [198, 18, 0, 1],
            src_port: 7,
            dst_port: syn.src_port,
            seq: 0,
            ack: syn.seq.wrapping_add(1),
            flags: 0x14,
            window: 0,
            options: &[],
        };
        let (frame, meta) = if checksum_offload {
            (testutil::tcp_frame(&rst, &[], false), offload(None, 20))
        } else {
            (testutil::tcp_frame(&rst, &[], true), TxMeta::NONE)
        };
        send_frame(&mut tap, &frame, meta).expect("RST written");
        let outcome = client.join().unwrap().unwrap();
        assert_eq!(
            outcome.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::ConnectionRefused),
            "offload {checksum_offload}"
        );
        let c = tap.counters();
        assert!(c.rx_frames >= 2 && c.tx_frames == 2, "{c:?}");
    }
}

#[test]
fn kernel_forwards_our_offloaded_frames_with_correct_checksums_and_segments() {
    require_environment();
    let ns = NetNs::create("ft-fwd").unwrap();
    let mut inside = ns.open_tap(&TapConfig::new("ftin0")).unwrap();
    // The egress TAP accepts no offload: the kernel must finish checksums and segment.
    let mut outside = ns
        .open_tap(&TapConfig {
            checksum_offload: false,
            tso: false,
            ..TapConfig::new("ftout0")
        })
        .unwrap();
    ns.ip(&["link", "set", "ftin0", "address", "02:f0:0d:00:00:01"])
        .unwrap();
    ns.add_address("ftin0", Ipv4Addr::new(198, 18, 1, 1), 24)
        .unwrap();
    ns.add_address("ftout0", Ipv4Addr::new(198, 18, 2, 1), 24)
        .unwrap();
    ns.set_sysctl("net.ipv4.ip_forward", "1").unwrap();
    // A neighbour entry for our sending side, so the kernel need not ask.
    ns.ip(&[
        "neigh",
        "replace",
        "198.18.1.2",
        "lladdr",
        "02:f0:0d:00:00:02",
        "dev",
        "ftin0",
    ])
    .unwrap();

    let spec = TcpSpec {
        src_mac: OUR_MAC,
        dst_mac: KERNEL_MAC,
        src: [198, 18, 1, 2],
        dst: [198, 18, 2, 2],
        src_port: 40000,
        dst_port: 5001,
        seq: 0xFFFF_F000,
        ack: 1,
        flags: 0x18 | 0x80, // PSH, ACK, CWR
        // MSS-irrelevant options: NOP NOP timestamps (12 bytes), repeated on every segment.
        options: &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
        ..TcpSpec::default()
    };
    // 1) One frame with checksum offload.
    let small = testutil::pattern(500, 1);
    let frame = testutil::tcp_frame(
        &TcpSpec {
            flags: 0x18,
            ..spec
        },
        &small,
        false,
    );
    send_frame(&mut inside, &frame, offload(None, 32)).expect("checksum-offload frame");
    let request = receive_until(&mut outside, |f, _| arp_request_for(f, [198, 18, 2, 2]));
    answer_arp(&mut outside, request, [198, 18, 2, 2]);
    let (seg, wire) = receive_until(&mut outside, |f, m| {
        Some((tcp_segment(f, m, [198, 18, 2, 2], 5001)?, f.to_vec()))
    });
    assert_eq!(seg.payload, small);
    assert_eq!(
        verify_rx(&wire),
        RxMeta {
            ip: ChecksumState::Good,
            l4: ChecksumState::Good
        },
        "kernel-completed checksums are valid"
    );
    assert_eq!(wire[22], 63, "forwarded: TTL decremented");

    // 2) A TSO super-frame: 10000 bytes at MSS 1400.
    let payload = testutil::pattern(10_000, 2);
    let frame = testutil::tcp_frame(&spec, &payload, false);
    send_frame(&mut inside, &frame, offload(Some(1400), 32)).expect("TSO frame");
    assert_eq!(inside.counters().tx_gso_frames, 1);
    let mut segments = Vec::new();
    while segments
        .iter()
        .map(|(s, _): &(Seg, Vec<u8>)| s.payload.len())
        .sum::<usize>()
        < payload.len()
    {
        segments.push(receive_until(&mut outside, |f, m| {
            Some((tcp_segment(f, m, [198, 18, 2, 2], 5001)?, f.to_vec()))
        }));
    }
    assert_eq!(segments.len(), 8);
    let mut rebuilt = Vec::new();
    for (i, (seg, wire)) in segments.iter().enumerate() {
        assert_eq!(
            verify_rx(wire),
            RxMeta {
                ip: ChecksumState::Good,
                l4: ChecksumState::Good
            },
            "segment {i}"
        );
        assert_eq!(
            seg.seq,
            spec.seq.wrapping_add(1400 * i as u32),
            "sequence of segment {i}"
        );
        assert_eq!(seg.ack, 1);
        let expected_flags = match i {
            0 => 0x10 | 0x80,
            7 => 0x18,
            _ => 0x10,
        };
        assert_eq!(
            seg.flags, expected_flags,
            "flags of segment {i} (CWR first, PSH last)"
        );
        assert_eq!(&wire[54..66], spec.options, "options repeated");
        assert_eq!(
            u16::from_be_bytes([wire[18], wire[19]]),
            0x1234 + i as u16,
            "IP ID + i"
        );
        assert!(seg.frame_len <= 1514);
        rebuilt.extend_from_slice(&seg.payload);
    }
    assert_eq!(rebuilt, payload);

    // 3) A request the NIC rules refuse is not sent.
    assert_eq!(send_frame(&mut inside, &frame, offload(Some(8), 32)), None);
    assert_eq!(inside.last_offload_error(), Some(OffloadError::TsoBadMss));
    assert_eq!(inside.counters().tx_offload_refused, 1);
}

#[test]
fn kernel_sends_bulk_data_as_gso_super_frames() {
    let (ns, mut tap) = namespace_with_tap("ft-gso", &TapConfig::new("ftgso0"), 3);
    const TOTAL: usize = 300_000;
    let expected = testutil::pattern(TOTAL, 7);
    let to_send = expected.clone();
    let client = ns
        .spawn(move || -> io::Result<()> {
            use std::io::Write;
            let mut s = TcpStream::connect_timeout(
                &SocketAddrV4::new(Ipv4Addr::new(198, 18, 3, 2), 9).into(),
                WAIT,
            )?;
            s.set_write_timeout(Some(WAIT))?;
            s.write_all(&to_send)?;
            s.shutdown(std::net::Shutdown::Write)
        })
        .unwrap();
    let request = receive_until(&mut tap, |f, _| arp_request_for(f, [198, 18, 3, 2]));
    answer_arp(&mut tap, request, [198, 18, 3, 2]);
    let syn = receive_until(&mut tap, |f, m| {
        tcp_segment(f, m, [198, 18, 3, 2], 9).filter(|s| s.flags & 0x02 != 0)
    });
    let reply = |seq: u32, ack: u32, flags: u8, options: &'static [u8]| {
        testutil::tcp_frame(
            &TcpSpec {
                src_mac: OUR_MAC,
                dst_mac: KERNEL_MAC,
                src: [198, 18, 3, 2],
                dst: [198, 18, 3, 1],
                src_port: 9,
                dst_port: syn.src_port,
                seq,
                ack,
                flags,
                window: 65535,
                options,
            },
            &[],
            true,
        )
    };
    let iss = 5000u32;
    let mut rcv_nxt = syn.seq.wrapping_add(1);
    // SYN-ACK with MSS 1460 (no window scaling: our window is 65535 bytes).
    send_frame(
        &mut tap,
        &reply(iss, rcv_nxt, 0x12, &[2, 4, 0x05, 0xb4]),
        TxMeta::NONE,
    )
    .unwrap();
    let mut received = Vec::new();
    let mut largest = 0;
    let mut fin = false;
    while !fin {
        let seg = receive_until(&mut tap, |f, m| tcp_segment(f, m, [198, 18, 3, 2], 9));
        if seg.seq == rcv_nxt && !seg.payload.is_empty() {
            assert_eq!(
                seg.meta.l4,
                ChecksumState::Good,
                "kernel frames are trusted"
            );
            largest = largest.max(seg.frame_len);
            received.extend_from_slice(&seg.payload);
            rcv_nxt = rcv_nxt.wrapping_add(seg.payload.len() as u32);
        }
        if seg.flags & 0x01 != 0 && seg.seq.wrapping_add(seg.payload.len() as u32) == rcv_nxt {
            rcv_nxt = rcv_nxt.wrapping_add(1);
            fin = true;
        }
        send_frame(&mut tap, &reply(iss + 1, rcv_nxt, 0x10, &[]), TxMeta::NONE).unwrap();
    }
    client
        .join()
        .unwrap()
        .unwrap()
        .expect("kernel client sent everything");
    assert_eq!(received.len(), TOTAL);
    assert!(received == expected, "byte-exact");
    let c = tap.counters();
    assert!(
        c.rx_gso_frames > 0 && largest > 1514,
        "GSO super-frames arrived: {c:?}, largest frame {largest}"
    );
}

#[test]
fn a_tap_moved_to_another_namespace_keeps_working() {
    require_environment();
    let first = NetNs::create("ft-move-a").unwrap();
    let second = NetNs::create("ft-move-b").unwrap();
    let mut tap = first.open_tap(&TapConfig::new("ftmove0")).unwrap();
    second.move_link_from(&first, "ftmove0").unwrap();
    assert!(
        first.ip(&["link", "show", "ftmove0"]).is_err(),
        "gone from the first namespace"
    );
    second.link_up("ftmove0").unwrap();
    second
        .ip(&["link", "set", "ftmove0", "address", "02:f0:0d:00:00:01"])
        .unwrap();
    second
        .add_address("ftmove0", Ipv4Addr::new(198, 18, 4, 1), 24)
        .unwrap();
    // The kernel of the second namespace reaches us through the same descriptor.
    let _client = second
        .spawn(|| {
            TcpStream::connect_timeout(
                &SocketAddrV4::new(Ipv4Addr::new(198, 18, 4, 2), 7).into(),
                Duration::from_secs(1),
            )
        })
        .unwrap();
    let request = receive_until(&mut tap, |f, _| arp_request_for(f, [198, 18, 4, 2]));
    assert_eq!(request, (KERNEL_MAC, [198, 18, 4, 1]));
}

#[test]
fn names_are_checked_before_any_system_call() {
    for (name, fragment) in [
        ("", "empty"),
        ("a-very-long-name-x", "longer than 15"),
        ("tap/0", "'/'"),
        ("tap 0", "whitespace"),
        ("..", "reserved"),
        // Linux's isspace() also takes vertical tab and 0xA0 (the second byte of U+00A0 and
        // of many other UTF-8 characters): TUNSETIFF would fail with EINVAL, which reads
        // as "not a TAP device".
        ("tap\x0b0", "whitespace"),
        ("tap\u{a0}0", "whitespace"),
        ("t\u{e0}p", "whitespace"),
    ] {
        let err = TapDevice::open(&TapConfig {
            tun_path: PathBuf::from("/nonexistent"),
            ..TapConfig::new(name)
        })
        .unwrap_err();
        assert!(
            matches!(err, TapError::InvalidName { .. }),
            "{name:?}: {err}"
        );
        assert!(err.to_string().contains(fragment), "{err}");
    }
    let err = TapDevice::open(&TapConfig {
        checksum_offload: false,
        ..TapConfig::new("tap0")
    })
    .unwrap_err();
    assert!(matches!(err, TapError::TsoNeedsChecksum { .. }), "{err}");
}

#[test]
fn missing_clone_device_says_to_load_the_driver() {
    let err = TapDevice::open(&TapConfig {
        tun_path: PathBuf::from("/nonexistent/net/tun"),
        ..TapConfig::new("ftmiss0")
    })
    .unwrap_err();
    assert!(matches!(err, TapError::TunMissing { .. }), "{err}");
    assert!(err.to_string().contains("modprobe tun"), "{err}");
}

#[test]
fn busy_or_foreign_names_say_what_holds_them() {
    require_environment();
    let ns = NetNs::create("ft-name").unwrap();
    let _held = ns.open_tap(&TapConfig::new("ftbusy0")).unwrap();
    let err = ns.open_tap(&TapConfig::new("ftbusy0")).unwrap_err();
    assert!(
        matches!(&err, NetNsError::Tap(TapError::NameInUse { .. }))
            && err.to_string().contains("another process holds"),
        "{err}"
    );
    let err = ns.open_tap(&TapConfig::new("lo")).unwrap_err();
    assert!(
        matches!(&err, NetNsError::Tap(TapError::NameInUse { .. }))
            && err.to_string().contains("is not a TAP"),
        "{err}"
    );
    // A persistent TAP made beforehand (`ip tuntap add`, e.g. for a non-root user) is attached.
    ns.ip(&["tuntap", "add", "dev", "ftpers0", "mode", "tap"])
        .unwrap();
    let attached = ns.open_tap(&TapConfig::new("ftpers0")).unwrap();
    assert_eq!(attached.name(), "ftpers0");
    drop(attached);
    assert!(
        ns.ip(&["link", "show", "ftpers0"]).is_ok(),
        "a persistent TAP outlives the fd"
    );
    // The kernel picks a number for a pattern.
    let picked = ns.open_tap(&TapConfig::new("ftpat%d")).unwrap();
    assert!(
        picked.name().starts_with("ftpat") && !picked.name().contains('%'),
        "{}",
        picked.name()
    );
}

/// Set in the child process of the test below.
const UNPRIVILEGED_CHILD: &str = "FERROTOE_TAP_TEST_WITHOUT_NET_ADMIN";

#[test]
fn without_net_admin_the_error_names_the_capability() {
    if std::env::var_os(UNPRIVILEGED_CHILD).is_some() {
        // Child: CAP_NET_ADMIN was dropped from the bounding set before exec.
        match TapDevice::open(&TapConfig::new("ftnoperm0")) {
            Ok(_) => println!("CHILD-RESULT: opened"),
            Err(e) => println!("CHILD-RESULT: {e}"),
        }
        return;
    }
    require_environment();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args(["--bounding-set", "-net_admin", "--"])
        .arg(exe)
        .args(["--exact", "tap::tests::without_net_admin_the_error_names_the_capability", "--nocapture", "--test-threads=1"])
        .env(UNPRIVILEGED_CHILD, "1")
        .output()
        .unwrap_or_else(|e| panic!("running setpriv failed ({e}): it is part of util-linux (`apt-get install -y util-linux`)"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT: ").map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| {
            panic!(
                "child printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        line.contains("not permitted to create TAP interface ftnoperm0"),
        "{line}"
    );
    assert!(
        line.contains("CAP_NET_ADMIN") && line.contains("run as root"),
        "{line}"
    );
}

#[test]
fn namespace_helpers_keep_to_the_benchmark_range_and_clean_up() {
    require_environment();
    assert!(in_bench_range(Ipv4Addr::new(198, 19, 255, 1), 24));
    assert!(!in_bench_range(Ipv4Addr::new(198, 20, 0, 1), 24));
    assert!(!in_bench_range(Ipv4Addr::new(10, 0, 0, 1), 8));
    assert!(
        !in_bench_range(Ipv4Addr::new(198, 18, 0, 1), 8),
        "a /8 would cover other networks"
    );
    let ns = NetNs::create("ft-helpers").unwrap();
    let name = ns.name().to_owned();
    let tap = ns.open_tap(&TapConfig::new("fthelp0")).unwrap();
    let err = ns
        .add_address("fthelp0", Ipv4Addr::new(10, 1, 2, 3), 24)
        .unwrap_err();
    assert!(err.to_string().contains("outside 198.18.0.0/15"), "{err}");
    ns.add_address("fthelp0", Ipv4Addr::new(198, 18, 9, 1), 24)
        .unwrap();
    ns.set_mtu("fthelp0", 9000).unwrap();
    let outer = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_sack").unwrap();
    let inner = if outer.trim() == "0" { "1" } else { "0" };
    ns.set_sysctl("net.ipv4.tcp_sack", inner).unwrap();
    let shown = ns.ip(&["-4", "addr", "show", "fthelp0"]).unwrap();
    assert!(
        shown.contains("198.18.9.1/24") && shown.contains("mtu 9000") && shown.contains("UP"),
        "{shown}"
    );
    assert_eq!(
        ns.run("cat", &["/proc/sys/net/ipv4/tcp_sack"])
            .unwrap()
            .trim(),
        inner
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_sack").unwrap(),
        outer,
        "the caller's namespace is untouched"
    );
    let err = ns.set_sysctl("net.ipv4.no_such_knob", "1").unwrap_err();
    assert!(
        matches!(err, NetNsError::Sysctl { .. }) && err.to_string().contains("no_such_knob"),
        "{err}"
    );
    let err = ns.run("false", &[]).unwrap_err();
    assert!(matches!(err, NetNsError::CommandFailed { .. }), "{err}");
    drop(tap);
    drop(ns);
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&name),
        "namespace deleted on drop"
    );
}

// The receive header translation, without a device (no root needed): the virtio-net header
// the kernel hands with each frame is checked against the frame like any other input.

/// A virtio-net header (fields in host order, as the TAP reads and writes them).
fn vnet_hdr(
    flags: u8,
    gso_type: u8,
    hdr_len: u16,
    gso_size: u16,
    start: u16,
    offset: u16,
) -> [u8; 12] {
    let mut h = [0u8; VNET_HDR_LEN];
    h[0] = flags;
    h[1] = gso_type;
    h[2..4].copy_from_slice(&hdr_len.to_ne_bytes());
    h[4..6].copy_from_slice(&gso_size.to_ne_bytes());
    h[6..8].copy_from_slice(&start.to_ne_bytes());
    h[8..10].copy_from_slice(&offset.to_ne_bytes());
    h
}

/// A TCP/IPv4 frame as the kernel hands it with `NEEDS_CSUM`: IPv4 checksum valid, the TCP
/// checksum field holding only the pseudo-header sum.
fn partial_frame(payload_len: usize) -> Vec<u8> {
    let payload = testutil::pattern(payload_len, 3);
    let mut f = testutil::tcp_frame(&TcpSpec::default(), &payload, true);
    let seed = pseudo_header_sum(&f, 14, 6, (f.len() - 34) as u32);
    f[50..52].copy_from_slice(&seed.to_be_bytes());
    f
}

const PARTIAL_TCP: (u16, u16) = (34, 16);

fn caps(rx_checksum: bool, tso: bool) -> OffloadCaps {
    TapConfig {
        checksum_offload: rx_checksum,
        tso,
        ..TapConfig::new("t")
    }
    .caps()
}

const GOOD_L4: RxMeta = RxMeta {
    ip: ChecksumState::Unknown,
    l4: ChecksumState::Good,
};

#[test]
fn rx_partial_checksum_on_the_tcp_field_is_good_and_left_as_the_kernel_sent_it() {
    let frame = partial_frame(100);
    let mut got = frame.clone();
    let h = vnet_hdr(
        VIRTIO_NET_HDR_F_NEEDS_CSUM,
        0,
        0,
        0,
        PARTIAL_TCP.0,
        PARTIAL_TCP.1,
    );
    let rx = rx_translate(&h, &mut got, &caps(true, true)).unwrap();
    assert_eq!((rx.meta, rx.gso), (GOOD_L4, false));
    assert_eq!(got, frame, "nothing summed on the fast path");
    // A GSO super-frame from the kernel: the same, marked GSO.
    let mut big = partial_frame(20_000);
    let h = vnet_hdr(
        VIRTIO_NET_HDR_F_NEEDS_CSUM,
        VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
        54,
        1448,
        PARTIAL_TCP.0,
        PARTIAL_TCP.1,
    );
    let rx = rx_translate(&h, &mut big, &caps(true, true)).unwrap();
    assert_eq!((rx.meta, rx.gso), (GOOD_L4, true));
    // DATA_VALID: the kernel verified it.
    let mut f = testutil::tcp_frame(&TcpSpec::default(), b"x", true);
    let h = vnet_hdr(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0);
    assert_eq!(
        rx_translate(&h, &mut f, &caps(true, true)).unwrap().meta,
        GOOD_L4
    );
    assert_eq!(
        rx_translate(&h, &mut f, &caps(false, false)).unwrap().meta,
        RxMeta::UNVERIFIED,
        "without checksum offload the engine verifies"
    );
}

#[test]
fn rx_partial_checksum_without_checksum_offload_is_completed_not_left_as_a_seed() {
    let mut f = partial_frame(101);
    let h = vnet_hdr(
        VIRTIO_NET_HDR_F_NEEDS_CSUM,
        0,
        0,
        0,
        PARTIAL_TCP.0,
        PARTIAL_TCP.1,
    );
    let rx = rx_translate(&h, &mut f, &caps(false, false)).unwrap();
    assert_eq!(rx.meta, RxMeta::UNVERIFIED);
    assert_eq!(
        verify_rx(&f),
        RxMeta {
            ip: ChecksumState::Good,
            l4: ChecksumState::Good
        },
        "the engine's own check passes: the checksum was completed"
    );
}

#[test]
fn rx_partial_checksum_elsewhere_than_the_tcp_field_is_not_taken_as_verified() {
    // In range, but not this frame's TCP checksum: the IPv4 header's field, a start inside
    // the payload, a VLAN-tagged layout, a total length shorter than the frame.
    let cases: [(u16, u16, &str); 4] = [
        (14, 10, "the IPv4 header checksum"),
        (60, 4, "a start inside the payload"),
        (34, 6, "the UDP offset on a TCP packet"),
        (38, 16, "four bytes after the TCP header's start"),
    ];
    for (start, offset, what) in cases {
        let frame = partial_frame(64);
        let mut got = frame.clone();
        let h = vnet_hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, start, offset);
        let rx = rx_translate(&h, &mut got, &caps(true, true)).unwrap();
        assert_eq!(rx.meta, RxMeta::UNVERIFIED, "{what}");
        let field = usize::from(start + offset);
        let done = crate::checksum::checksum(&frame[usize::from(start)..]);
        assert_eq!(
            got[field..field + 2],
            done.to_be_bytes(),
            "{what}: completed there"
        );
        let v = verify_rx(&got);
        assert!(
            v.ip == ChecksumState::Bad || v.l4 == ChecksumState::Bad,
            "{what}: the engine drops it ({v:?})"
        );
    }
    // Trailing bytes beyond the IPv4 total length: the kernel's sum would cover them.
    let mut padded = partial_frame(10);
    padded.extend_from_slice(&[0xAB; 7]);
    let h = vnet_hdr(
        VIRTIO_NET_HDR_F_NEEDS_CSUM,
        0,
        0,
        0,
        PARTIAL_TCP.0,
        PARTIAL_TCP.1,
    );
    let rx = rx_translate(&h, &mut padded, &caps(true, true)).unwrap();
    assert_eq!(rx.meta, RxMeta::UNVERIFIED);
}

#[test]
fn rx_headers_that_are_out_of_range_or_inconsistent_are_typed_drops() {
    use VnetHeaderError::*;
    let needs = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    let tcpv4 = VIRTIO_NET_HDR_GSO_TCPV4;
    let len = partial_frame(40).len();
    let field_past_end = (len - 1) as u16;
    let cases: Vec<([u8; 12], OffloadCaps, VnetHeaderError)> = vec![
        (
            vnet_hdr(needs, 0, 0, 0, u16::MAX, u16::MAX),
            caps(true, true),
            ChecksumOutOfRange {
                csum_start: u16::MAX,
                csum_offset: u16::MAX,
                frame_len: len,
            },
        ),
        (
            vnet_hdr(needs, 0, 0, 0, field_past_end, 0),
            caps(true, true),
            ChecksumOutOfRange {
                csum_start: field_past_end,
                csum_offset: 0,
                frame_len: len,
            },
        ),
        (
            vnet_hdr(needs, 0, 0, 0, 34, 16 + len as u16),
            caps(false, false),
            ChecksumOutOfRange {
                csum_start: 34,
                csum_offset: 16 + len as u16,
                frame_len: len,
            },
        ),
        (
            vnet_hdr(0x04 | needs, 0, 0, 0, 34, 16),
            caps(true, true),
            UnknownFlags { flags: 0x05 },
        ),
        (
            vnet_hdr(needs, 3, 0, 1400, 34, 16),
            caps(true, true),
            UnexpectedGso { gso_type: 3 },
        ),
        (
            vnet_hdr(needs, 4, 0, 1400, 34, 16),
            caps(true, true),
            UnexpectedGso { gso_type: 4 },
        ),
        (
            vnet_hdr(needs, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 34, 16),
            caps(true, true),
            UnexpectedGso { gso_type: 0x80 },
        ),
        (
            vnet_hdr(needs, tcpv4, 54, 1400, 34, 16),
            caps(true, false),
            UnexpectedGso { gso_type: 1 },
        ),
        (
            vnet_hdr(0, tcpv4, 54, 1400, 0, 0),
            caps(true, true),
            InconsistentGso {
                reason: "a GSO frame without NEEDS_CSUM",
            },
        ),
        (
            vnet_hdr(needs, tcpv4, 54, 0, 34, 16),
            caps(true, true),
            InconsistentGso {
                reason: "gso_size is 0",
            },
        ),
        (
            vnet_hdr(needs, tcpv4, len as u16 + 1, 1400, 34, 16),
            caps(true, true),
            InconsistentGso {
                reason: "hdr_len is longer than the frame",
            },
        ),
    ];
    for (h, caps, want) in cases {
        let frame = partial_frame(40);
        let mut got = frame.clone();
        assert_eq!(rx_translate(&h, &mut got, &caps), Err(want), "{h:?}");
        assert_eq!(got, frame, "{want}: the dropped frame was not written");
        assert!(!want.to_string().is_empty());
    }
}

proptest::proptest! {
    /// Any header with any frame: no panic, no write outside the checksum field, and a `Good`
    /// verdict for `NEEDS_CSUM` only where finishing the checksum makes the frame verify.
    #[test]
    fn rx_translation_of_arbitrary_headers_never_panics_or_trusts_a_wrong_field(
        hdr in proptest::array::uniform12(proptest::prelude::any::<u8>()),
        use_tcp in proptest::prelude::any::<bool>(),
        junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        rx_checksum in proptest::prelude::any::<bool>(),
    ) {
        let frame = if use_tcp { partial_frame(junk.len()) } else { junk };
        let mut got = frame.clone();
        let caps = caps(rx_checksum, rx_checksum);
        let h = VnetRxHeader::parse(&hdr);
        if let Ok(rx) = rx_translate(&hdr, &mut got, &caps) {
            let changed: Vec<usize> = (0..got.len()).filter(|&i| got[i] != frame[i]).collect();
            let field = usize::from(h.csum_start) + usize::from(h.csum_offset);
            proptest::prop_assert!(changed.iter().all(|&i| i == field || i == field + 1));
            if h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 && rx.meta.l4 == ChecksumState::Good {
                let mut done = frame.clone();
                let c = crate::checksum::checksum(&done[usize::from(h.csum_start)..]);
                done[field..field + 2].copy_from_slice(&c.to_be_bytes());
                proptest::prop_assert_eq!(verify_rx(&done).l4, ChecksumState::Good);
            }
        }
    }
}
