//! Runs every `unsafe` block of tcp-engine's `sys` module natively, then again under valgrind's
//! memcheck (which fails the test on any invalid read or write, use of uninitialised memory, or
//! definite leak), through the public API that calls them:
//! - a TAP in a throw-away network namespace (`setns`; `TUNSETIFF`, `TUNSETVNETHDRSZ`,
//!   `TUNSETOFFLOAD`; the control socket and `SIOCGIFFLAGS`/`SIOCSIFFLAGS` of `set_link_up`;
//!   `poll`, non-blocking `read` and `write`): the kernel ARPs for a peer through the TAP, our
//!   reply is written to it, and the kernel's UDP datagram that was waiting for it comes back;
//! - the error paths: `TUNSETIFF` on a name held by a non-TAP interface, `SIOCGIFFLAGS` on a
//!   missing interface, `TUNSETIFF` and `SIOCSIFFLAGS` from a thread without `CAP_NET_ADMIN`,
//!   `read` with nothing queued (`EAGAIN`), `poll` timing out;
//! - a heap table big enough for the `madvise(MADV_HUGEPAGE)` hint.
//!
//! Needs root and `/dev/net/tun` (as the crate's other TAP tests; CI runs as root): without them
//! it fails and says so. Re-executes itself under valgrind through
//! `testsupport/under_valgrind.rs`.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tcp_engine::device::{FrameDevice, TxMeta};
use tcp_engine::table::SlotMap;
use tcp_engine::tap::netns::{NetNs, NetNsError};
use tcp_engine::tap::{TUN_PATH, TapConfig, TapDevice, TapError, check_environment, set_link_up};

#[path = "../../testsupport/under_valgrind.rs"]
mod under_valgrind;
use under_valgrind::{Exercise, check, text};

const OUR_MAC: [u8; 6] = [0x02, 0xf0, 0x0d, 0x00, 0x00, 0x42];
const KERNEL_IP: [u8; 4] = [198, 18, 42, 1];
const OUR_IP: [u8; 4] = [198, 18, 42, 2];
const PORT: u16 = 9;
const PAYLOAD: &[u8] = b"through the TAP under memcheck";

/// The first frame `pick` accepts within 10 s, waiting in `poll` between bursts.
fn receive<T>(tap: &mut TapDevice, mut pick: impl FnMut(&[u8]) -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut found = None;
        tap.rx_burst(8, |frame, _meta| {
            if found.is_none() {
                found = pick(frame);
            }
        });
        if let Some(v) = found {
            return Ok(v);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        check(!left.is_zero(), "the expected frame arrived within 10 s")?;
        tap.wait_readable(Some(left.min(Duration::from_millis(50))))
            .map_err(text)?;
    }
}

/// An ARP request from the kernel for our address: the kernel's MAC.
fn arp_request(frame: &[u8]) -> Option<[u8; 6]> {
    (frame.len() >= 42
        && frame[12..14] == [0x08, 0x06]
        && frame[20..22] == [0, 1]
        && frame[28..32] == KERNEL_IP
        && frame[38..42] == OUR_IP)
        .then(|| frame[22..28].try_into().unwrap())
}

fn arp_reply(kernel_mac: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&kernel_mac);
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&OUR_IP);
    f.extend_from_slice(&kernel_mac);
    f.extend_from_slice(&KERNEL_IP);
    f
}

/// The kernel's UDP datagram to us: its payload.
fn udp_to_us(frame: &[u8]) -> Option<Vec<u8>> {
    let ihl = usize::from(*frame.get(14)? & 0x0f) * 4;
    let udp = 14 + ihl;
    (frame.len() >= udp + 8
        && frame[..6] == OUR_MAC
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 17
        && frame[30..34] == OUR_IP
        && frame[udp + 2..udp + 4] == PORT.to_be_bytes())
    .then(|| frame[udp + 8..].to_vec())
}

fn tap_in_a_namespace() -> Result<(), String> {
    check_environment(Path::new(TUN_PATH))
        .map_err(|why| format!("the TAP exercise cannot run: {why}"))?;
    let ns = NetNs::create("ft-vg").map_err(text)?;
    let mut tap = ns.open_tap(&TapConfig::new("ftvg0")).map_err(text)?;
    let name = tap.name().to_owned();
    ns.add_address(&name, Ipv4Addr::from(KERNEL_IP), 24)
        .map_err(text)?;
    ns.in_namespace(|| set_link_up(&name))
        .map_err(text)?
        .map_err(text)?;
    let shown = ns.ip(&["link", "show", &name]).map_err(text)?;
    check(shown.contains(",UP"), "set_link_up set IFF_UP")?;
    // Drain what the kernel sent on link-up: the last read finds nothing (EAGAIN).
    let drained = (0..100).any(|_| tap.rx_burst(64, |_, _| {}) == 0);
    check(drained, "a read of an empty TAP returns no frame")?;
    // The kernel resolves our address for a datagram sent from inside the namespace.
    let sender = ns
        .spawn(|| -> std::io::Result<()> {
            let s = UdpSocket::bind("0.0.0.0:0")?;
            s.send_to(PAYLOAD, (Ipv4Addr::from(OUR_IP), PORT))?;
            Ok(())
        })
        .map_err(text)?;
    let kernel_mac = receive(&mut tap, arp_request)?;
    sender
        .join()
        .map_err(|_| "the sender thread panicked")?
        .map_err(text)?
        .map_err(text)?;
    let reply = arp_reply(kernel_mac);
    let sent = tap.transmit(|buf| {
        buf[..reply.len()].copy_from_slice(&reply);
        Some((reply.len(), TxMeta::NONE))
    });
    check(sent.is_some(), "ARP reply written to the TAP")?;
    let payload = receive(&mut tap, udp_to_us)?;
    check(payload == PAYLOAD, "the waiting datagram came through")?;
    // Error paths of the same calls.
    check(
        !tap.wait_readable(Some(Duration::from_millis(1)))
            .map_err(text)?
            || tap.rx_burst(64, |_, _| {}) > 0,
        "poll times out on an idle TAP",
    )?;
    let err = ns
        .open_tap(&TapConfig::new("lo"))
        .err()
        .ok_or("TUNSETIFF on lo succeeded")?;
    check(
        matches!(err, NetNsError::Tap(TapError::NameInUse { .. })),
        "TUNSETIFF on a non-TAP name is refused",
    )?;
    let err = ns
        .in_namespace(|| set_link_up("ftvg-none"))
        .map_err(text)?
        .err()
        .ok_or("set_link_up on a missing interface succeeded")?;
    check(
        matches!(err, TapError::Setup { .. }),
        "SIOCGIFFLAGS on a missing interface is an error",
    )?;
    drop(tap);
    drop(ns);
    Ok(())
}

/// The "not permitted" paths of `TUNSETIFF` and `SIOCSIFFLAGS`, as root: capabilities are per
/// thread, so the namespace's thread drops `CAP_NET_ADMIN` from its effective set first.
fn tap_without_net_admin() -> Result<(), String> {
    use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
    check_environment(Path::new(TUN_PATH))
        .map_err(|why| format!("the TAP exercise cannot run: {why}"))?;
    let ns = NetNs::create("ft-vgnp").map_err(text)?;
    ns.in_namespace(|| -> Result<(), String> {
        let mut caps = capabilities(None).map_err(text)?;
        caps.effective.remove(CapabilitySet::NET_ADMIN);
        set_capabilities(None, caps).map_err(text)?;
        let err = TapDevice::open(&TapConfig::new("ftvgnp0"))
            .err()
            .ok_or("a TAP was created without CAP_NET_ADMIN")?;
        check(
            matches!(err, TapError::NotPermitted { .. }),
            "TUNSETIFF without CAP_NET_ADMIN is NotPermitted",
        )?;
        let err = set_link_up("lo")
            .err()
            .ok_or("a link was set up without CAP_NET_ADMIN")?;
        check(
            matches!(err, TapError::NotPermitted { .. }),
            "SIOCSIFFLAGS without CAP_NET_ADMIN is NotPermitted",
        )
    })
    .map_err(text)?
}

fn huge_page_hint() -> Result<(), String> {
    // 512 Ki slots of a u64 are well over the 4 MiB at which the table asks for huge pages.
    let mut map = SlotMap::<u64, _>::with_capacity(512 * 1024).map_err(text)?;
    let keys: Vec<_> = (0..1000u64)
        .map(|i| map.insert(i * 3).map_err(|(e, _)| e.to_string()))
        .collect::<Result<_, _>>()?;
    check(
        keys.iter()
            .enumerate()
            .all(|(i, k)| map.get(*k) == Some(&(i as u64 * 3))),
        "the table holds what was inserted",
    )?;
    check(
        map.capacity() == 512 * 1024 && map.len() == 1000,
        "table size",
    )
}

fn main() -> ExitCode {
    under_valgrind::main(
        "sys_under_valgrind",
        &[
            Exercise {
                name: "tap_in_a_namespace",
                run: tap_in_a_namespace,
            },
            Exercise {
                name: "tap_without_net_admin",
                run: tap_without_net_admin,
            },
            Exercise {
                name: "huge_page_hint",
                run: huge_page_hint,
            },
        ],
        &[],
    )
}
