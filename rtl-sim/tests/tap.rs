//! The TAP wire: a simulated NIC whose wire is a TAP interface inside a network namespace this
//! test creates, with the Linux kernel as the peer. The NIC asks the kernel for its MAC (ARP),
//! then pings it with the IPv4 header checksum inserted by the device; the kernel's replies come
//! back through the device with their checksum verified.
//!
//! Needs root (or CAP_NET_ADMIN), `/dev/net/tun` and `ip` (iproute2); it fails saying so when
//! they are missing.

use std::time::{Duration, Instant};

use hw_spec::{CsumStatus, TxOffloadRequest};
use rtl_sim::conformance::frames;
use rtl_sim::conformance::link_driver::{DriverConfig, LinkDriver};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, Clock, SimNic, build_core};
use rtl_sim::wire::tap::TapPort;
use sim_link::{AttachOptions, DeviceLink, LinkConfig};

#[path = "support/netns.rs"]
mod netns;
use netns::{Netns, ip};

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const OUR_IP: [u8; 4] = [198, 18, 77, 2];
const KERNEL_IP: [u8; 4] = [198, 18, 77, 1];

fn arp_request() -> Vec<u8> {
    let mut f = vec![0u8; 42];
    f[0..6].fill(0xFF);
    f[6..12].copy_from_slice(&OUR_MAC);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&OUR_MAC);
    f[28..32].copy_from_slice(&OUR_IP);
    f[38..42].copy_from_slice(&KERNEL_IP);
    f
}

fn echo_request(dst_mac: [u8; 6]) -> Vec<u8> {
    let payload = b"ferrotoe says hello to the kernel";
    let mut f = vec![0u8; 14 + 20 + 8 + payload.len()];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&OUR_MAC);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let total = (f.len() - 14) as u16;
    let ipv4 = &mut f[14..34];
    ipv4[0] = 0x45;
    ipv4[2..4].copy_from_slice(&total.to_be_bytes());
    ipv4[8] = 64;
    ipv4[9] = 1;
    ipv4[12..16].copy_from_slice(&OUR_IP);
    ipv4[16..20].copy_from_slice(&KERNEL_IP);
    let icmp = &mut f[34..];
    icmp[0] = 8;
    icmp[4..8].copy_from_slice(&[0x12, 0x34, 0, 1]);
    icmp[8..].copy_from_slice(payload);
    let mut sum = 0u32;
    for c in icmp.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    icmp[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f
}

#[test]
fn the_kernel_answers_arp_and_ping_through_a_tap_wire() {
    assert!(
        std::path::Path::new("/dev/net/tun").exists(),
        "/dev/net/tun is missing: load the tun module (`modprobe tun`)"
    );
    let pid = std::process::id();
    let name = format!("ftoe{}", pid % 100_000);
    let tap = TapPort::open(&name).expect("open a TAP interface (needs root or CAP_NET_ADMIN)");
    let ns = Netns(format!("ftoe-tap-{pid}"));
    ip(&["netns", "add", &ns.0]);
    ip(&["link", "set", &name, "netns", &ns.0]);
    ip(&["-n", &ns.0, "addr", "add", "198.18.77.1/24", "dev", &name]);
    ip(&["-n", &ns.0, "link", "set", &name, "up"]);

    let link = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let core = build_core(Backend::Model, DeviceConfig::REFERENCE).unwrap();
    let nic = SimNic::new(core, link, Box::new(tap), Clock::Real(Instant::now())).into_stepped();
    let drv = nic.attach_driver(AttachOptions::default()).unwrap();
    let mut d = LinkDriver::bring_up(
        drv,
        DriverConfig {
            ring_log2: 6,
            ..DriverConfig::default()
        },
    )
    .unwrap();

    // ARP: who has 198.18.77.1?
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut kernel_mac = None;
    while kernel_mac.is_none() {
        assert!(Instant::now() < deadline, "no ARP reply from the kernel");
        d.queue_frame(&arp_request(), TxOffloadRequest::NONE);
        d.doorbell().unwrap();
        for _ in 0..50 {
            nic.run_until_idle(100);
            d.reap_tx(|_| ()).unwrap();
            d.receive(|c, f| {
                let is_reply = f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 2];
                if is_reply && f[28..32] == KERNEL_IP {
                    assert_eq!(c.ip_csum, CsumStatus::None, "ARP is not IPv4");
                    kernel_mac = Some(<[u8; 6]>::try_from(&f[22..28]).unwrap());
                }
            })
            .unwrap();
            if kernel_mac.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let kernel_mac = kernel_mac.unwrap();

    // Ping with the IPv4 header checksum left to the device.
    let request = echo_request(kernel_mac);
    let ip_only = TxOffloadRequest {
        ip_csum: true,
        l2_len: 14,
        l3_len: 20,
        ..TxOffloadRequest::NONE
    };
    let mut replied = false;
    while !replied {
        assert!(Instant::now() < deadline, "no echo reply from the kernel");
        d.queue_frame(&request, ip_only);
        d.doorbell().unwrap();
        for _ in 0..50 {
            nic.run_until_idle(100);
            d.reap_tx(|_| ()).unwrap();
            d.receive(|c, f| {
                if f.len() >= 42 && f[12..14] == [8, 0] && f[23] == 1 && f[34] == 0 {
                    assert_eq!(&f[26..30], &KERNEL_IP);
                    assert!(frames::ipv4_ok(f));
                    assert_eq!((c.ip_csum, c.l4_csum), (CsumStatus::Good, CsumStatus::None));
                    assert_eq!(&f[42..], &request[42..], "the payload is echoed");
                    replied = true;
                }
            })
            .unwrap();
            if replied {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let counters = nic.with(|n| n.port().counters());
    assert!(counters.sent >= 2 && counters.received >= 2, "{counters:?}");
}
