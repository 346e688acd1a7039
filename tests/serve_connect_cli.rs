//! `ferrotoe serve` and `ferrotoe connect` refuse what cannot work with a message that says
//! what is wrong and how to fix it: bad addresses and flags, a port given twice, no
//! permission to create a TAP, no /dev/net/tun, an interface that is busy or not a TAP, a
//! server that refuses or does not exist, the RTL backend asked of the TAP path.
//!
//! The tests that touch interfaces run in their own network namespaces and need root (they
//! fail, never skip, without it).

mod kernel;

use std::process::{Command, Output};

use kernel::{Features, Lab};

fn ferrotoe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotoe"))
        .args(args)
        .output()
        .expect("run the ferrotoe binary")
}

/// Runs and expects failure with `code` and every fragment in stderr.
fn fails(out: &Output, code: i32, fragments: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stderr}{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for f in fragments {
        assert!(stderr.contains(f), "missing {f:?} in:\n{stderr}");
    }
}

const SERVE: &[&str] = &["serve", "--tap", "ftx0", "--app", "echo"];

/// `connect --to TO --send 1` from 198.18.0.2/24 over TAP ftx0, then `extra`.
fn connect_to(to: &str, extra: &[&str]) -> Output {
    connect_from(to, &[&["--tap", "ftx0"], extra].concat())
}

/// `connect --ip 198.18.0.2/24 --to TO --send 1`, then `extra` (which chooses the device).
fn connect_from(to: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "connect",
        "--ip",
        "198.18.0.2/24",
        "--to",
        to,
        "--send",
        "1",
    ];
    args.extend_from_slice(extra);
    ferrotoe(&args)
}

fn serve(extra: &[&str]) -> Output {
    let mut args = SERVE.to_vec();
    args.extend_from_slice(extra);
    ferrotoe(&args)
}

#[test]
fn bad_addresses_are_refused_with_an_example() {
    fails(
        &serve(&["--ip", "198.18.0.2"]),
        2,
        &["no prefix length", "198.18.0.2/24"],
    );
    fails(&serve(&["--ip", "198.18.0.0/24"]), 2, &["network address"]);
    fails(
        &serve(&["--ip", "198.18.0.255/24"]),
        2,
        &["broadcast address"],
    );
    fails(&serve(&["--ip", "198.18.0.2/40"]), 2, &["1 to 32"]);
    fails(
        &serve(&["--ip", "198.18.0/24"]),
        2,
        &["not an IPv4 address"],
    );
    fails(
        &serve(&["--ip", "239.1.1.1/24"]),
        2,
        &["not a unicast host address"],
    );
    fails(
        &serve(&["--ip", "198.18.0.2/24", "--gateway", "198.19.0.1"]),
        1,
        &["--gateway 198.19.0.1 must be another host address inside 198.18.0.0/24"],
    );
    fails(
        &serve(&["--ip", "198.18.0.2/24", "--mac", "01:00:5e:00:00:01"]),
        2,
        &["multicast"],
    );
    let connect = |to: &str| connect_to(to, &[]);
    fails(
        &connect("198.18.1.1:7"),
        1,
        &["outside 198.18.0.0/24 and no --gateway", "add --gateway"],
    );
    fails(&connect("198.18.0.2:7"), 1, &["this host's own address"]);
    fails(&connect("198.18.0.1:0"), 1, &["port 0"]);
    fails(&connect("198.18.0.1"), 2, &["--to"]);
    // Each way of getting ADDR:PORT wrong says which part and shows the form.
    for (to, fragments) in [
        (
            "198.18.0.1",
            &["`198.18.0.1` has no port", "198.18.0.1:7"][..],
        ),
        ("198.18.0.1:", &["no port", "198.18.0.1:7"]),
        ("198.18.0.1:65536", &["port `65536`", "1 to 65535"]),
        ("198.18.0.1:echo", &["port `echo`", "1 to 65535"]),
        (
            "server:7",
            &[
                "`server` is not an IPv4 address",
                "host names are not resolved",
            ],
        ),
        ("[::1]:7", &["not an IPv4 address"]),
    ] {
        fails(&connect(to), 2, fragments);
    }
    fails(
        &ferrotoe(&[
            "connect",
            "--tap",
            "ftx0",
            "--ip",
            "198.18.0.2/24",
            "--to",
            "198.18.0.1:7",
        ]),
        2,
        &["--send", "--recv"],
    );
    fails(
        &ferrotoe(&[
            "connect",
            "--tap",
            "ftx0",
            "--ip",
            "198.18.0.2/24",
            "--to",
            "198.18.0.1:7",
            "--send",
            "8X",
        ]),
        2,
        &["not a byte count"],
    );
}

#[test]
fn settings_that_cannot_work_are_refused_before_any_interface_is_touched() {
    let ip = ["--ip", "198.18.0.2/24"];
    fails(
        &serve(&[&ip[..], &["--also", "discard:7"]].concat()),
        1,
        &["port 7 is in use", "echo already listens"],
    );
    fails(
        &serve(&[&ip[..], &["--port", "0"]].concat()),
        1,
        &["--port 0"],
    );
    fails(
        &serve(&[&ip[..], &["--port", "65536"]].concat()),
        2,
        &["'65536' for '--port <PORT>'"],
    );
    fails(
        &serve(&[&ip[..], &["--stream-idle-timeout", "0"]].concat()),
        2,
        &["'0' for '--stream-idle-timeout <SECS>'", "1..=86400"],
    );
    fails(
        &serve(&[&ip[..], &["--also", "discard:65536"]].concat()),
        2,
        &["service `discard:65536`: the port must be a number 1-65535"],
    );
    fails(
        &serve(&[&ip[..], &["--cc", "bbr"]].concat()),
        2,
        &["unknown congestion control `bbr`", "reno, cubic or dctcp"],
    );
    fails(
        &serve(&[&ip[..], &["--also", "ftp:21"]].concat()),
        2,
        &["unknown application"],
    );
    fails(
        &serve(&[&ip[..], &["--listeners", "8", "--max-connections", "4"]].concat()),
        1,
        &["--max-connections 4 is less than the 8 listening slots"],
    );
    fails(
        &serve(&[&ip[..], &["--backend", "rtl"]].concat()),
        1,
        &["add --nic sim"],
    );
    fails(
        &serve(&[&ip[..], &["--nic", "sim", "--no-offload"]].concat()),
        1,
        &["--no-offload applies to --nic tap"],
    );
    fails(
        &serve(&[&ip[..], &["--root", "/nonexistent/site"]].concat()),
        1,
        &["/nonexistent/site", "--root"],
    );
    fails(
        &ferrotoe(&[
            "serve",
            "--tap",
            "a/b",
            "--ip",
            "198.18.0.2/24",
            "--app",
            "echo",
        ]),
        1,
        &["invalid TAP interface name", "tap0"],
    );
    fails(
        &ferrotoe(&[
            "serve",
            "--tap",
            "a-very-long-name-x",
            "--ip",
            "198.18.0.2/24",
            "--app",
            "echo",
        ]),
        1,
        &["longer than 15"],
    );
    // A byte the kernel counts as a space: said before TUNSETIFF's EINVAL reads as "exists
    // and is not a TAP device".
    fails(
        &ferrotoe(&[
            "serve",
            "--tap",
            "t\u{e0}p0",
            "--ip",
            "198.18.0.2/24",
            "--app",
            "echo",
            "--tun-device",
            NO_TUN,
        ]),
        1,
        &["invalid TAP interface name", "whitespace"],
    );
}

#[test]
fn a_missing_tun_device_says_to_load_the_driver() {
    for nic in ["tap", "sim"] {
        fails(
            &serve(&[
                "--ip",
                "198.18.0.2/24",
                "--nic",
                nic,
                "--tun-device",
                "/nonexistent/tun",
            ]),
            1,
            &["/nonexistent/tun", "modprobe tun"],
        );
    }
}

#[test]
fn without_net_admin_the_error_says_to_run_as_root() {
    kernel::require_root_and_tun();
    for nic in ["tap", "sim"] {
        let out = Command::new("setpriv")
            .args(["--bounding-set", "-net_admin", "--"])
            .arg(env!("CARGO_BIN_EXE_ferrotoe"))
            .args(SERVE)
            .args(["--ip", "198.18.0.2/24", "--nic", nic])
            .output()
            .unwrap_or_else(|e| {
                panic!("running setpriv failed ({e}): `apt-get install -y util-linux`")
            });
        fails(
            &out,
            1,
            &[
                "not permitted to create TAP interface ftx0",
                "run as root",
                "CAP_NET_ADMIN",
            ],
        );
    }
}

#[test]
fn busy_and_foreign_interfaces_say_what_holds_them() {
    let lab = Lab::new("ft-cli-busy", 70, Features::ALL_ON);
    for nic in ["tap", "sim"] {
        let first = lab.serve(&["--nic", nic, "--app", "echo"]);
        let out = lab
            .ferrotoe("serve")
            .args(["--nic", nic, "--app", "echo"])
            .output()
            .unwrap();
        fails(
            &out,
            1,
            &["TAP interface ft0 cannot be used", "another process holds"],
        );
        first.stop();
        let out = lab
            .ns
            .command(env!("CARGO_BIN_EXE_ferrotoe"))
            .args([
                "serve",
                "--tap",
                "lo",
                "--ip",
                "198.18.70.2/24",
                "--app",
                "echo",
                "--nic",
                nic,
            ])
            .output()
            .unwrap();
        fails(
            &out,
            1,
            &["TAP interface lo cannot be used", "is not a TAP"],
        );
    }
}

#[test]
fn connect_reports_refusal_and_silence() {
    let lab = Lab::new("ft-cli-conn", 71, Features::ALL_ON);
    let out = lab.connect(&["--to", "198.18.71.1:5999", "--send", "10"]);
    fails(
        &out,
        1,
        &[
            "connection to 198.18.71.1:5999 failed",
            "connection refused",
        ],
    );
    // Nobody at .77: ARP goes unanswered and the time limit ends the attempt.
    let out = lab.connect(&["--to", "198.18.71.77:7", "--send", "10", "--timeout", "1"]);
    fails(&out, 1, &["did not finish within --timeout 1 s"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not established"));
}

#[test]
fn wire_impairment_needs_the_simulated_nic_and_a_probability() {
    let ip = ["--ip", "198.18.0.2/24"];
    fails(
        &serve(&[&ip[..], &["--loss", "0.01", "--duplicate", "0.02"]].concat()),
        1,
        &[
            "--loss, --duplicate impair the simulated NIC's wire",
            "add --nic sim",
        ],
    );
    fails(
        &serve(&[&ip[..], &["--nic", "sim", "--impair-seed", "4"]].concat()),
        1,
        &["no impairment was given", "--loss 0.01"],
    );
    fails(
        &serve(&[&ip[..], &["--nic", "sim", "--reorder", "1.5"]].concat()),
        1,
        &["reorder=1.5", "probabilities 0 to 1"],
    );
    fails(
        &serve(
            &[
                &ip[..],
                &["--nic", "sim", "--loss", "0.1", "--impair-direction", "up"],
            ]
            .concat(),
        ),
        2,
        &["--impair-direction", "to-nic", "to-kernel"],
    );
    fails(
        &connect_to("198.18.0.1:7", &["--corrupt", "0.1"]),
        1,
        &["--corrupt impair the simulated NIC's wire", "add --nic sim"],
    );
}

#[test]
fn connection_counts_that_cannot_be_allocated_are_refused_not_a_crash() {
    let ip = ["--ip", "198.18.0.2/24"];
    // usize::MAX overflowed `connections + TIME-WAIT slots` (a panic); 10^8 connections of
    // 512 KiB each aborted on a failed allocation of the slot table.
    fails(
        &serve(&[&ip[..], &["--max-connections", "18446744073709551615"]].concat()),
        1,
        &[
            "--max-connections 18446744073709551615",
            "lower --max-connections or --buffer",
        ],
    );
    fails(
        &serve(&[&ip[..], &["--max-connections", "100000000"]].concat()),
        1,
        &[
            "--max-connections 100000000",
            "GiB",
            "lower --max-connections or --buffer",
        ],
    );
}

/// A clone device that does not exist: a command whose flags pass every check fails at once
/// (instead of serving) when it opens the device.
const NO_TUN: &str = "/nonexistent/tun";

#[test]
fn the_subnets_network_and_broadcast_addresses_are_no_gateway_or_destination() {
    for gw in ["198.18.0.0", "198.18.0.255"] {
        fails(
            &serve(&[
                "--ip",
                "198.18.0.2/24",
                "--gateway",
                gw,
                "--tun-device",
                NO_TUN,
            ]),
            1,
            &[
                &format!("--gateway {gw}"),
                "another host address inside 198.18.0.0/24",
            ],
        );
    }
    // A /31 has no network or broadcast address: its other address is a fine gateway.
    let out = ferrotoe(&[
        "connect",
        "--tap",
        "ftx0",
        "--ip",
        "10.0.0.0/31",
        "--gateway",
        "10.0.0.1",
        "--to",
        "10.0.0.1:0",
        "--send",
        "1",
        "--tun-device",
        NO_TUN,
    ]);
    fails(&out, 1, &["port 0"]);
    for to in ["198.18.0.0:7", "198.18.0.255:7"] {
        fails(
            &connect_to(to, &["--tun-device", NO_TUN]),
            1,
            &[
                &format!("--to {}", to.trim_end_matches(":7")),
                "network or broadcast address of 198.18.0.0/24",
            ],
        );
    }
}

/// `serve --app echo --ip 198.18.0.2/24` and `extra`.
fn serve_on(extra: &[&str]) -> Output {
    let mut args = vec!["serve", "--app", "echo", "--ip", "198.18.0.2/24"];
    args.extend_from_slice(extra);
    ferrotoe(&args)
}

/// Each `serve` with `extra` flags fails (exit 1) with every fragment in its error.
fn serve_refuses(cases: &[(&[&str], &[&str])]) {
    for (extra, fragments) in cases {
        fails(&serve_on(extra), 1, fragments);
    }
}

#[test]
fn a_nic_outside_the_process_needs_its_link_and_no_wire_flags() {
    let link = ["--nic", "attach", "--link", "/dev/shm/nic0"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { [&link[..], extra].concat() };
    let (tap, loss, rtl, no_offload) = (
        with(&["--tap", "ft0"]),
        with(&["--loss", "0.01"]),
        with(&["--backend", "rtl"]),
        with(&["--no-offload"]),
    );
    serve_refuses(&[
        // No --link: where the nicsim process is, and that it must run first.
        (
            &["--nic", "attach"],
            &[
                "--nic attach needs --link DIR",
                "ferrotoe nicsim --link DIR",
            ],
        ),
        // The wire is nicsim's: --tap goes to it, with the exact command.
        (
            &tap,
            &[
                "the wire belongs to the nicsim process",
                "ferrotoe nicsim --link /dev/shm/nic0 --wire tap:ft0",
            ],
        ),
        // So are its impairment and its implementation.
        (
            &loss,
            &[
                "--loss",
                "wire belongs to the device",
                "ferrotoe nicsim --impair",
            ],
        ),
        (&rtl, &["--backend", "give --backend to `ferrotoe nicsim`"]),
        (&no_offload, &["--no-offload applies to --nic tap"]),
        // The TAP paths still need their TAP, and other device flags need their --nic.
        (&[], &["--nic tap needs --tap NAME"]),
        (&["--nic", "sim"], &["--nic sim needs --tap NAME"]),
        (
            &["--tap", "ft0", "--link", "/dev/shm/nic0"],
            &["add --nic attach"],
        ),
        (
            &["--tap", "ft0", "--pci", "0000:03:00.0"],
            &["add --nic vfio"],
        ),
    ]);
    // A directory no nicsim runs in: start it first, with this directory.
    let missing = std::env::temp_dir().join(format!("ferrotoe-no-nic-{}", std::process::id()));
    let missing = missing.to_str().unwrap();
    let start =
        format!("start the NIC first with `ferrotoe nicsim --link {missing} --wire tap:NAME`");
    let flags = ["--nic", "attach", "--link", missing];
    for out in [serve_on(&flags), connect_from("198.18.0.1:7", &flags)] {
        fails(&out, 1, &[&start, "holds no simulated NIC's link files"]);
    }
    // A file given as the directory (e.g. the link file itself): no nicsim can be started
    // there, so the message says what to give instead.
    let file = std::env::temp_dir().join(format!("ferrotoe-link-file-{}", std::process::id()));
    std::fs::write(&file, b"not a directory").unwrap();
    let flags = ["--nic", "attach", "--link", file.to_str().unwrap()];
    let out = serve_on(&flags);
    std::fs::remove_file(&file).unwrap();
    fails(
        &out,
        1,
        &[
            &format!("--link {}: a file, not a directory", file.display()),
            "the directory given to `ferrotoe nicsim --link DIR`",
        ],
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("start the NIC first"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_vfio_nic_needs_a_well_formed_address_of_a_device_that_exists() {
    serve_refuses(&[
        (
            &["--nic", "vfio"],
            &["--nic vfio needs --pci ADDR", "0000:03:00.0"],
        ),
        (
            &["--nic", "vfio", "--pci", "03:00"],
            &["--pci 03:00", "DDDD:BB:DD.F"],
        ),
        (
            &["--nic", "vfio", "--pci", "0000:03:00.0", "--tap", "ft0"],
            &["--tap ft0", "drop --tap"],
        ),
        (
            &[
                "--nic",
                "vfio",
                "--pci",
                "0000:03:00.0",
                "--link",
                "/dev/shm/x",
            ],
            &["--link belongs to --nic attach"],
        ),
    ]);
    // Well formed, but no such device: the error names the address, what failed and the fix.
    let absent = "0000:7f:1f.7";
    let named = format!("the ferrotoe NIC at PCI {absent} (--nic vfio)");
    let flags = ["--nic", "vfio", "--pci", absent];
    for out in [serve_on(&flags), connect_from("198.18.0.1:7", &flags)] {
        fails(
            &out,
            1,
            &[
                &named,
                "bound to vfio-pci",
                "no PCI device at this address",
                "fix: list the PCI addresses with `lspci -Dnn`",
            ],
        );
    }
}
