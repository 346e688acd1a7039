//! A third opinion on the emitted bytes: frames written by `wire` are saved as a pcap and
//! decoded by Wireshark's dissectors (`tshark`), which must see correct checksums and the
//! fields we meant to write. Needs `tshark` (Debian package `tshark`, listed in
//! `scripts/system-packages.txt`); the test fails, saying so, when it is missing.

use std::io::Write;
use std::process::Command;
use tcp_engine::segment::{SackBlock, TcpFlags, TcpHeader, TcpOptions};
use tcp_engine::seq::SeqNum;
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_arp_frame, emit_echo_reply, emit_tcp_frame};
use tcp_engine::wire::{
    ArpRepr, EthernetAddress, IcmpEchoKind, IcmpEchoRepr, IpProtocol, Ipv4Address, Ipv4Repr,
    TxChecksum,
};

const A_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const B_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const A_IP: Ipv4Address = Ipv4Address([198, 18, 0, 1]);
const B_IP: Ipv4Address = Ipv4Address([198, 18, 0, 2]);

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    // Classic pcap, microsecond timestamps, Ethernet link type.
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for v in [i as u32, 0, f.len() as u32, f.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

fn frames() -> Vec<Vec<u8>> {
    let addrs = TcpFrameAddresses {
        src_mac: A_MAC,
        dst_mac: B_MAC,
        src_ip: A_IP,
        dst_ip: B_IP,
        ttl: 64,
        dscp_ecn: 0,
    };
    let mut frames = Vec::new();
    // 1: SYN with every SYN option.
    let syn = TcpHeader {
        src_port: 49152,
        dst_port: 80,
        seq: SeqNum(0x0102_0304),
        ack: SeqNum(0),
        flags: TcpFlags::SYN,
        window: 64240,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((0x0a0b_0c0d, 0)),
            ..TcpOptions::default()
        },
    };
    // 2: data with timestamps and three SACK blocks (a fourth is dropped for room).
    let mut data = TcpHeader {
        src_port: 80,
        dst_port: 49152,
        seq: SeqNum(1000),
        ack: SeqNum(5000),
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 1024,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some((77, 66)),
            ..TcpOptions::default()
        },
    };
    for i in 0..4u32 {
        data.options.push_sack(SackBlock {
            left: SeqNum(6000 + 1000 * i),
            right: SeqNum(6500 + 1000 * i),
        });
    }
    let payload: Vec<u8> = (0..1001u32).map(|i| (i * 13) as u8).collect();
    for (header, body, ident) in [(&syn, &[][..], 1u16), (&data, &payload[..], 2)] {
        let mut buf = vec![0u8; 2048];
        let layout = emit_tcp_frame(
            &mut buf,
            &addrs,
            ident,
            header,
            &[body],
            TxChecksum::Software,
        )
        .expect("fits");
        buf.truncate(layout.frame_len());
        frames.push(buf);
    }
    // 3, 4: ARP request and reply.
    let req = ArpRepr::request(A_MAC, A_IP, B_IP);
    for (mac, arp) in [(A_MAC, req), (B_MAC, ArpRepr::reply_to(&req, B_MAC))] {
        let mut buf = vec![0u8; 64];
        let n = emit_arp_frame(&mut buf, mac, &arp).expect("fits");
        buf.truncate(n);
        frames.push(buf);
    }
    // 5: echo reply to a request from B (odd data length).
    let ip = Ipv4Repr {
        src_addr: B_IP,
        dst_addr: A_IP,
        protocol: IpProtocol::ICMP,
        payload_len: 0,
        ttl: 64,
        ident: 0,
        dont_frag: false,
        dscp_ecn: 0,
    };
    let echo = IcmpEchoRepr {
        kind: IcmpEchoKind::Request,
        ident: 0x4242,
        seq_no: 9,
        data: b"odd-length ping data",
    };
    let mut buf = vec![0u8; 128];
    let n = emit_echo_reply(&mut buf, A_MAC, B_MAC, &ip, &echo, 3, 64).expect("fits");
    buf.truncate(n);
    frames.push(buf);
    frames
}

#[test]
fn tshark_decodes_emitted_frames() {
    let path = std::env::temp_dir().join(format!("ferrotoe-wire-{}.pcap", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&pcap(&frames())))
        .expect("write the pcap into the temp directory");
    let fields = [
        "frame.number",
        "ip.checksum.status",
        "tcp.checksum.status",
        "icmp.checksum.status",
        "tcp.flags",
        "tcp.seq_raw",
        "tcp.options.mss_val",
        "tcp.options.wscale.shift",
        "tcp.options.timestamp.tsval",
        "tcp.options.sack_le",
        "tcp.len",
        "arp.opcode",
        "arp.src.proto_ipv4",
        "arp.dst.proto_ipv4",
        "icmp.type",
        "icmp.seq",
        "ip.flags.df",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(&path);
    for o in [
        "ip.check_checksum:TRUE",
        "tcp.check_checksum:TRUE",
        "tcp.relative_sequence_numbers:FALSE",
        "tcp.analyze_sequence_numbers:FALSE",
    ] {
        cmd.args(["-o", o]);
    }
    cmd.args([
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run tshark ({e}): install it with `apt-get install -y tshark` \
             (it is listed in scripts/system-packages.txt; ./scripts/test installs it)"
        ),
    };
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("tshark prints UTF-8");
    eprintln!("{text}");
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 5, "tshark output:\n{text}");
    let col = |row: usize, name: &str| {
        let i = fields.iter().position(|f| *f == name).expect("known field");
        rows[row][i]
    };
    // Checksum status 1 = good (tshark's verdict).
    for row in [0, 1, 4] {
        assert_eq!(
            col(row, "ip.checksum.status"),
            "1",
            "frame {}: {text}",
            row + 1
        );
    }
    assert_eq!(col(0, "tcp.checksum.status"), "1");
    assert_eq!(col(1, "tcp.checksum.status"), "1");
    assert_eq!(col(4, "icmp.checksum.status"), "1");

    assert_eq!(col(0, "tcp.flags"), "0x0002");
    assert_eq!(col(0, "tcp.seq_raw"), "16909060");
    assert_eq!(col(0, "tcp.options.mss_val"), "1460");
    assert_eq!(col(0, "tcp.options.wscale.shift"), "7");
    assert_eq!(col(0, "tcp.options.timestamp.tsval"), "168496141");
    assert_eq!(col(0, "ip.flags.df"), "1");

    assert_eq!(col(1, "tcp.flags"), "0x0018");
    assert_eq!(col(1, "tcp.len"), "1001");
    assert_eq!(col(1, "tcp.options.timestamp.tsval"), "77");
    assert_eq!(col(1, "tcp.options.sack_le"), "6000,7000,8000");

    assert_eq!(col(2, "arp.opcode"), "1");
    assert_eq!(col(2, "arp.src.proto_ipv4"), "198.18.0.1");
    assert_eq!(col(2, "arp.dst.proto_ipv4"), "198.18.0.2");
    assert_eq!(col(3, "arp.opcode"), "2");
    assert_eq!(col(3, "arp.src.proto_ipv4"), "198.18.0.2");

    assert_eq!(col(4, "icmp.type"), "0");
    assert_eq!(col(4, "icmp.seq"), "9");
}
