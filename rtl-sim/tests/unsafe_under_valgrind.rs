//! Runs every `unsafe` block of rtl-sim natively, then again under valgrind's memcheck (which
//! fails the test on any invalid read or write, use of uninitialised memory, or definite
//! leak):
//! - `engines::csum`: the run-time AVX2 dispatch of the block sum, on every length 0..=100 at
//!   every start alignment 0..32, and longer ones at a few, against a byte-pair reference;
//! - `wire::tap`: `TUNSETIFF` and `TUNSETOFFLOAD` of a real TAP moved into a throw-away network
//!   namespace, its reader thread's `poll`, an ARP exchange with the kernel through it, the
//!   refusal of a name held by a non-TAP interface, and the port's drop;
//! - with feature `rtl`, `rtl::ffi` and `rtl::device_ffi`: Verilated engines (both widths) and a
//!   Verilated whole device created, stepped a few hundred cycles on real frames (results checked
//!   against the reference model and the conformance suite), and freed. No VCD.
//!
//! The TAP exercise needs root, `/dev/net/tun` and `ip` (iproute2), as `tests/tap.rs`; it fails
//! saying so without them. Re-executes itself under valgrind through
//! `testsupport/under_valgrind.rs`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rtl_sim::device::Wire;
use rtl_sim::engines::csum;
use rtl_sim::wire::tap::TapPort;

#[path = "support/netns.rs"]
mod netns;
use netns::{Netns, try_ip as ip};

#[path = "../../testsupport/under_valgrind.rs"]
mod under_valgrind;
use under_valgrind::{Exercise, check};

/// The RFC 1071 sum of `data` as big-endian byte pairs, folded: the reference.
fn reference_sum(data: &[u8]) -> u16 {
    let mut sum: u64 = data
        .chunks(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn checksum_lanes() -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    check(
        std::arch::is_x86_feature_detected!("avx2"),
        "this CPU has AVX2, so the AVX2 build of the checksum runs (Intel since 2013, AMD \
         since 2015; valgrind reports the host's AVX2)",
    )?;
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 131 + 7) as u8).collect();
    // Every alignment of the short lengths (where the tail handling is), a few of the long.
    let every = (0..=100).map(|len| (len, 0..32));
    let some = (101..=160).chain([255, 256, 257, 1499, 1500, 9000]);
    for (len, starts) in every.chain(some.map(|len| (len, 0..3))) {
        for start in starts.chain([31]) {
            let slice = &data[start..start + len];
            check(
                csum::fold(csum::add_bytes(0, slice)) == reference_sum(slice),
                &format!("checksum of {len} bytes at offset {start}"),
            )?;
        }
    }
    // All ones: the widest lane sums.
    let ones = vec![0xffu8; 9001];
    check(
        csum::fold(csum::add_bytes(0, &ones)) == reference_sum(&ones),
        "all-ones checksum",
    )
}

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x42];
const OUR_IP: [u8; 4] = [198, 18, 43, 2];
const KERNEL_IP: [u8; 4] = [198, 18, 43, 1];

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xffu8; 6];
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&OUR_IP);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&KERNEL_IP);
    f
}

fn tap_port() -> Result<(), String> {
    check(
        std::path::Path::new("/dev/net/tun").exists(),
        "/dev/net/tun exists (load the tun module: `modprobe tun`)",
    )?;
    let e = TapPort::open("lo")
        .err()
        .ok_or("TUNSETIFF on lo succeeded")?;
    check(
        e.to_string().contains("TUNSETIFF"),
        "TUNSETIFF on a non-TAP interface is refused",
    )?;
    let pid = std::process::id();
    let name = format!("ftvg{}", pid % 100_000);
    let mut tap = TapPort::open(&name)
        .map_err(|e| format!("{e} (the TAP exercise needs root or CAP_NET_ADMIN)"))?;
    check(tap.name() == name, "the TAP has the name asked for")?;
    let ns = Netns(format!("ftoe-vg-{pid}"));
    ip(&["netns", "add", &ns.0])?;
    ip(&["link", "set", &name, "netns", &ns.0])?;
    ip(&["-n", &ns.0, "addr", "add", "198.18.43.1/24", "dev", &name])?;
    ip(&["-n", &ns.0, "link", "set", &name, "up"])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 2048];
    let mut kernel_mac = None;
    while kernel_mac.is_none() {
        check(
            Instant::now() < deadline,
            "an ARP reply from the kernel within 10 s",
        )?;
        tap.transmit(&arp_request(), 0);
        let until = Instant::now() + Duration::from_millis(200);
        while kernel_mac.is_none() && Instant::now() < until {
            match tap.receive(&mut buf) {
                Some(n) => {
                    let f = &buf[..n];
                    if n >= 42
                        && f[12..14] == [8, 6]
                        && f[20..22] == [0, 2]
                        && f[28..32] == KERNEL_IP
                    {
                        kernel_mac = Some(f[22..28].to_vec());
                    }
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    let stats = tap.stats();
    let sent = stats.sent.load(std::sync::atomic::Ordering::Relaxed);
    let received = stats.received.load(std::sync::atomic::Ordering::Relaxed);
    check(sent >= 1 && received >= 1, "the port counted the exchange")?;
    // Dropping the port stops and joins its reader thread and closes the TAP.
    drop(tap);
    drop(ns);
    Ok(())
}

#[cfg(feature = "rtl")]
mod rtl {
    use super::under_valgrind::{check, text};
    use hw_spec::Implementation;
    use hw_spec::offload::TsoFlagMasks;
    use hw_spec::regs::ident;
    use rtl_sim::conformance::frames;
    use rtl_sim::device::model::ModelDevice;
    use rtl_sim::device::{DeviceConfig, DeviceCore};
    use rtl_sim::engines::{rx, tx};
    use rtl_sim::rtl::{DataWidth, REFERENCE_CAPS, RtlConfig, RtlDevice, RtlEngines};

    /// The offload engines at both widths: RX classification and TX checksum insertion of real
    /// frames, against the reference model, then the model is freed.
    pub fn engines() -> Result<(), String> {
        for width in [DataWidth::Bits512, DataWidth::Bits64] {
            let cfg = RtlConfig {
                caps: REFERENCE_CAPS,
                masks: TsoFlagMasks::LINUX,
                rx_csum_enable: true,
                rss_key: [0x6d; 40],
            };
            let mut e = RtlEngines::new(width, cfg).map_err(text)?;
            for (k, len) in [1usize, 63, 301, 1400].into_iter().enumerate() {
                let mut frame = frames::udp_frame(
                    [198, 18, 0, 1],
                    [198, 18, 0, 2],
                    4000,
                    53,
                    &frames::payload(len, k as u8),
                );
                let req = frames::udp_checksums();
                let mut rtl_out = Vec::new();
                let rtl_plan = e
                    .tx(&frame, &req, |f| rtl_out.push(f.to_vec()))
                    .map_err(text)?;
                let mut model_out = Vec::new();
                let mut scratch = vec![0u8; 9216];
                let model_plan = tx::process(
                    &mut frame,
                    &req,
                    &REFERENCE_CAPS,
                    &TsoFlagMasks::LINUX,
                    &mut scratch,
                    |f| model_out.push(f.to_vec()),
                );
                check(
                    rtl_plan == model_plan && rtl_out == model_out && rtl_out.len() == 1,
                    "RTL TX equals the model",
                )?;
                check(
                    frames::ipv4_ok(&rtl_out[0]) && frames::l4_ok(&rtl_out[0]),
                    "checksums inserted",
                )?;
                let mut bad = rtl_out[0].clone();
                bad[40] ^= 0x10; // The UDP checksum.
                for f in [&rtl_out[0], &bad] {
                    let st = e.rx(f).map_err(text)?;
                    check(st.class == rx::classify(f, true), "RTL RX equals the model")?;
                }
            }
            check(
                e.cycles() >= 100 && e.cycles() < 5_000,
                &format!("a few hundred cycles ({} simulated)", e.cycles()),
            )?;
        }
        Ok(())
    }

    /// The whole device at both widths: created and reset, its identity read through MMIO
    /// again and again (each read runs the model for a few cycles) and compared with the
    /// reference model's, then freed. (Publishing the whole register image, as a driver attach does, takes some
    /// 30,000 cycles: too slow under valgrind for a memory check, and no other FFI call.)
    pub fn device() -> Result<(), String> {
        let mut model = ModelDevice::new(DeviceConfig::REFERENCE).map_err(text)?;
        for width in [DataWidth::Bits512, DataWidth::Bits64] {
            let mut dev = RtlDevice::with_width(width).map_err(text)?;
            // Each read is a register-port handshake of a few cycles: some hundreds in all.
            for reg in std::iter::repeat_n(
                [
                    &ident::SPEC_VERSION,
                    &ident::QUEUE_COUNTS,
                    &ident::RING_LIMITS,
                    &ident::CAPS,
                    &ident::MAX_FRAME_LEN,
                    &ident::MSS_LIMITS,
                ],
                40,
            )
            .flatten()
            {
                let (rtl, reference) = (
                    dev.mmio_read(ident::BASE + reg.offset),
                    model.mmio_read(ident::BASE + reg.offset),
                );
                check(
                    rtl == reference,
                    &format!(
                        "IDENT.{} of the RTL device ({rtl:#x}) equals the model's ({reference:#x})",
                        reg.name
                    ),
                )?;
            }
            let id = dev.mmio_read(ident::BASE + ident::DEVICE_ID.offset);
            check(
                ident::DEVICE_ID_IMPLEMENTATION.get32(id) == Implementation::RtlVerilator.bits(),
                "the RTL device says it is the RTL under Verilator",
            )?;
            let cycles = dev.simulated_cycles().unwrap_or(0);
            check(
                (200..5_000).contains(&cycles),
                &format!("a few hundred cycles ({cycles} simulated)"),
            )?;
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    under_valgrind::main(
        "unsafe_under_valgrind",
        &[
            Exercise {
                name: "checksum_lanes",
                run: checksum_lanes,
            },
            Exercise {
                name: "tap_port",
                run: tap_port,
            },
            #[cfg(feature = "rtl")]
            Exercise {
                name: "rtl_engines",
                run: rtl::engines,
            },
            #[cfg(feature = "rtl")]
            Exercise {
                name: "rtl_device",
                run: rtl::device,
            },
        ],
        &[],
    )
}
