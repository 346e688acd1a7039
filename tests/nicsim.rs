//! `ferrotoe nicsim` as a separate process: a driver in this process reaches it only through
//! the shared-memory files, as a real device across PCIe. One NIC writing a capture file, two
//! NICs joined by a cable file (one of them on the RTL backend when the build has it), and a
//! device killed under a driver.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hw_spec::{CsumStatus, ErrorCode, TxOffloadRequest};
use rtl_sim::conformance::frames::{self, TcpSpec};
use rtl_sim::conformance::link_driver::{DriverConfig, LinkDriver};
use sim_link::{DriverLink, LinkError};
use support::{Nicsim, dir};

fn rings() -> DriverConfig {
    DriverConfig {
        ring_log2: 6,
        ..DriverConfig::default()
    }
}

/// Repeats `f` until it returns true or 10 s pass.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The frames of a classic pcap file.
fn pcap_frames(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        u32::from_ne_bytes(bytes[0..4].try_into().unwrap()),
        0xa1b2_c3d4
    );
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32::from_ne_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(bytes[at + 16..at + 16 + len].to_vec());
        at += 16 + len;
    }
    out
}

#[test]
fn a_driver_reaches_a_nicsim_process_through_the_shared_files() {
    let d = dir("pcap");
    let pcap = d.join("wire.pcap");
    let nicsim = Nicsim::spawn(
        &d.join("link"),
        &["--wire", &format!("pcap:{}", pcap.display())],
    );
    let link = DriverLink::attach_dir(&d.join("link")).unwrap();
    let mut drv = LinkDriver::bring_up(link, rings()).unwrap();
    for i in 0..20u32 {
        let f = frames::tcp_frame(
            &TcpSpec {
                seq: i,
                ..TcpSpec::default()
            },
            &frames::payload(300, 2),
        );
        assert!(drv.queue_frame(&f, TxOffloadRequest::tcp_checksums(14, 20)));
    }
    drv.doorbell().unwrap();
    let mut done = 0;
    until("20 TX completions", || {
        done += drv
            .reap_tx(|c| assert_eq!(c.error, ErrorCode::None))
            .unwrap();
        done == 20
    });
    // The device's own view, read through BAR0 across the process boundary.
    let frames_sent = drv
        .link()
        .read64(hw_spec::regs::stats::tx_addr(
            0,
            &hw_spec::regs::stats::FRAMES_LO,
        ))
        .unwrap();
    assert_eq!(frames_sent, 20);
    let summary = nicsim.stop();
    assert!(summary.contains("20 frames sent"), "{summary}");
    let captured = pcap_frames(&pcap);
    assert_eq!(captured.len(), 20);
    for f in &captured {
        assert!(frames::ipv4_ok(f) && frames::l4_ok(f), "checksums inserted");
    }
    // The driver sees the device go away instead of hanging.
    let err = drv.link().read32(0).unwrap_err();
    assert!(matches!(err, LinkError::DeviceStopped { .. }), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn two_nicsim_processes_on_one_cable() {
    let d = dir("cable");
    let (a, b) = Nicsim::cable_pair(&d);
    let big_buffers = DriverConfig {
        buf_len: 32 * 1024,
        ..rings()
    };
    let mut da =
        LinkDriver::bring_up(DriverLink::attach_dir(&d.join("a")).unwrap(), big_buffers).unwrap();
    let mut db =
        LinkDriver::bring_up(DriverLink::attach_dir(&d.join("b")).unwrap(), rings()).unwrap();
    let payload = frames::payload(30_000, 4);
    let big = frames::tcp_frame(&TcpSpec::default(), &payload);
    assert!(da.queue_frame(&big, TxOffloadRequest::tso(1448, 14, 20, 32)));
    da.doorbell().unwrap();
    let mut got = Vec::new();
    until("21 TSO segments at B", || {
        db.receive(|c, f| {
            assert_eq!((c.ip_csum, c.l4_csum), (CsumStatus::Good, CsumStatus::Good));
            got.extend_from_slice(&f[66..]);
        })
        .unwrap();
        got.len() >= payload.len()
    });
    assert_eq!(got, payload);
    let sb = b.stop();
    let sa = a.stop();
    assert!(sa.contains("21 frames sent"), "{sa}");
    assert!(sb.contains("21 received"), "{sb}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_nicsim_process_on_the_rtl_backend_talks_to_a_model_one() {
    if !rtl_sim::nic::RTL_AVAILABLE {
        // This build has no RTL: asking for it must say how to get it, not fall back.
        let out = Command::new(env!("CARGO_BIN_EXE_ferrotoe"))
            .args(["nicsim", "--backend", "rtl", "--link"])
            .arg(dir("no-rtl").join("link"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--features rtl-sim/rtl"), "{err}");
        return;
    }
    let d = dir("rtl-cable");
    let cable = d.join("cable");
    let a = Nicsim::spawn(
        &d.join("a"),
        &[
            "--backend",
            "rtl",
            "--wire",
            &format!("cable:{}:a", cable.display()),
        ],
    );
    let b = Nicsim::spawn(
        &d.join("b"),
        &["--wire", &format!("cable:{}:b", cable.display())],
    );
    let big_buffers = DriverConfig {
        buf_len: 32 * 1024,
        ..rings()
    };
    let mut da =
        LinkDriver::bring_up(DriverLink::attach_dir(&d.join("a")).unwrap(), big_buffers).unwrap();
    let mut db =
        LinkDriver::bring_up(DriverLink::attach_dir(&d.join("b")).unwrap(), rings()).unwrap();
    // The device identifies itself as the RTL.
    let id = da
        .link()
        .read32(hw_spec::regs::ident::BASE + hw_spec::regs::ident::DEVICE_ID.offset)
        .unwrap();
    assert_eq!(
        hw_spec::regs::ident::DEVICE_ID_IMPLEMENTATION.get32(id),
        hw_spec::Implementation::RtlVerilator.bits()
    );
    let payload = frames::payload(30_000, 4);
    let big = frames::tcp_frame(&TcpSpec::default(), &payload);
    assert!(da.queue_frame(&big, TxOffloadRequest::tso(1448, 14, 20, 32)));
    da.doorbell().unwrap();
    let mut got = Vec::new();
    until("21 TSO segments at B", || {
        db.receive(|c, f| {
            assert_eq!((c.ip_csum, c.l4_csum), (CsumStatus::Good, CsumStatus::Good));
            got.extend_from_slice(&f[66..]);
        })
        .unwrap();
        got.len() >= payload.len()
    });
    assert_eq!(got, payload);
    // And back: B's frame reaches the RTL device's receive path.
    let back = frames::tcp_frame(&TcpSpec::default(), &frames::payload(500, 5));
    assert!(db.queue_frame(&back, TxOffloadRequest::tcp_checksums(14, 20)));
    db.doorbell().unwrap();
    let mut back_got = 0;
    until("the answer at A", || {
        back_got += da
            .receive(|c, f| {
                assert_eq!((c.ip_csum, c.l4_csum), (CsumStatus::Good, CsumStatus::Good));
                assert_eq!(f.len(), back.len());
            })
            .unwrap();
        back_got == 1
    });
    let sb = b.stop();
    let sa = a.stop();
    assert!(sa.contains("21 frames sent"), "{sa}");
    assert!(sb.contains("21 received"), "{sb}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_killed_device_does_not_hang_the_driver() {
    let d = dir("kill");
    let mut nicsim = Nicsim::spawn(&d.join("link"), &[]);
    let mut link = DriverLink::attach_dir(&d.join("link")).unwrap();
    link.set_timeout(Duration::from_millis(300));
    link.write32(0x13C, 5).unwrap();
    assert_eq!(link.read32(0x13C).unwrap(), 5);
    nicsim.child.kill().unwrap();
    nicsim.child.wait().unwrap();
    link.write32(0x13C, 6).unwrap();
    let start = Instant::now();
    // The process is gone (SIGKILL left its link marked running): the read waiting for the
    // posted write notices that, not only its 300 ms timeout.
    let err = link.read32(0x13C).unwrap_err();
    assert!(matches!(err, LinkError::DeviceStopped { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(3));
    std::fs::remove_dir_all(&d).unwrap();
}
