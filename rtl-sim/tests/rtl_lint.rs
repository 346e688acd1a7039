//! Every RTL module is `verilator --lint-only -Wall` clean at 64 and 512 bits and elaborates
//! under Icarus Verilog (`iverilog -g2005`) (feature `rtl`); the whole device (`ft_device`) also
//! at other build parameters than the reference (queue counts, scatter-gather depth, frame and
//! TSO limits). A missing tool fails the test with the package to install. The files are those
//! the crate was built from: with `FERROTOE_RTL_OVERLAY` set at build time, the overlay's
//! modules are checked in place of the reference ones.
#![cfg(feature = "rtl")]

use std::path::{Path, PathBuf};
use std::process::Command;

use rtl_sim::rtl::sources::RtlSources;

/// The file set the crate was built from: `rtl-sim/rtl`, with the `FERROTOE_RTL_OVERLAY`
/// directory of the build laid over it (so an overlay's modules are linted too).
fn built() -> RtlSources {
    rtl_sim::rtl::built_sources().unwrap_or_else(|e| panic!("{e}"))
}

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hw-spec/generated")
}

/// Every module: one per `.v` file, named after it.
fn modules() -> Vec<(String, PathBuf)> {
    let set = built();
    let v: Vec<(String, PathBuf)> = set
        .verilog()
        .map(|f| (f.name.trim_end_matches(".v").to_string(), f.path.clone()))
        .collect();
    assert!(
        v.len() >= 8,
        "expected the engine modules in {}",
        set.reference.display()
    );
    v
}

/// The include directories (overlay first), the generated contract, then every source.
fn source_args() -> Vec<String> {
    let set = built();
    let mut args: Vec<String> = set
        .include_dirs()
        .iter()
        .map(|d| format!("-I{}", d.display()))
        .collect();
    args.push(format!("-I{}", spec_dir().display()));
    args.extend(set.verilog().map(|f| f.path.display().to_string()));
    args
}

fn run(tool: &str, package: &str, cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("`{tool}` could not run ({e}); install it with `apt-get install {package}`")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn verilator_lint_clean_every_module() {
    let mut failures = Vec::new();
    for (name, _) in modules() {
        for width in [64, 512] {
            let (ok, text) = run(
                "verilator",
                "verilator",
                Command::new("verilator")
                    .args(["--lint-only", "-Wall", "--top-module", &name])
                    .arg(format!("-GDATA_WIDTH={width}"))
                    .args(source_args()),
            );
            // Modules without a DATA_WIDTH parameter reject -G for it; lint those once plainly.
            let (ok, text) = if !ok && text.contains("DATA_WIDTH") && text.contains("not found") {
                run(
                    "verilator",
                    "verilator",
                    Command::new("verilator")
                        .args(["--lint-only", "-Wall", "--top-module", &name])
                        .args(source_args()),
                )
            } else {
                (ok, text)
            };
            if !ok || !text.trim().is_empty() {
                failures.push(format!("{name} at {width} bits:\n{text}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "lint findings:\n{}",
        failures.join("\n")
    );
}

#[test]
fn icarus_elaborates_every_module() {
    let mut failures = Vec::new();
    for (name, _) in modules() {
        let (ok, text) = run(
            "iverilog",
            "iverilog",
            Command::new("iverilog")
                .args(["-g2005", "-o", "/dev/null", "-s", &name])
                .args(source_args()),
        );
        if !ok || !text.trim().is_empty() {
            failures.push(format!("{name}:\n{text}"));
        }
    }
    assert!(
        failures.is_empty(),
        "iverilog findings:\n{}",
        failures.join("\n")
    );
}

/// Builds of the device other than the reference one: (DATA_WIDTH, parameter overrides).
const DEVICE_BUILDS: &[(u32, &[&str])] = &[
    (
        64,
        &[
            "TX_QUEUES=1",
            "RX_QUEUES=1",
            "CQ_COUNT=1",
            "IRQ_COUNT=1",
            "MAX_SG=1",
            "MAX_FRAME_LEN=1518",
            "MAX_TSO_PAYLOAD=16384",
            "MAX_MSS=1464",
            "INFLIGHT_LOG2=2",
        ],
    ),
    (
        256,
        &[
            "TX_QUEUES=3",
            "RX_QUEUES=5",
            "CQ_COUNT=7",
            "IRQ_COUNT=3",
            "MAX_SG=5",
            "RING_MIN_LOG2=1",
            "RING_MAX_LOG2=12",
        ],
    ),
    (
        128,
        &[
            "TX_QUEUES=16",
            "RX_QUEUES=16",
            "CQ_COUNT=32",
            "IRQ_COUNT=16",
            "MAX_SG=32",
        ],
    ),
];

#[test]
fn the_device_lints_and_elaborates_at_other_build_parameters() {
    let mut failures = Vec::new();
    for (width, params) in DEVICE_BUILDS {
        let mut lint = Command::new("verilator");
        lint.args(["--lint-only", "-Wall", "--top-module", "ft_device"])
            .arg(format!("-GDATA_WIDTH={width}"));
        let mut icarus = Command::new("iverilog");
        icarus
            .args(["-g2005", "-o", "/dev/null", "-s", "ft_device"])
            .arg(format!("-Pft_device.DATA_WIDTH={width}"));
        for p in *params {
            lint.arg(format!("-G{p}"));
            icarus.arg(format!("-Pft_device.{p}"));
        }
        for cmd in [&mut lint, &mut icarus] {
            cmd.args(source_args());
        }
        for (tool, cmd) in [("verilator", &mut lint), ("iverilog", &mut icarus)] {
            let (ok, text) = run(tool, tool, cmd);
            if !ok || !text.trim().is_empty() {
                failures.push(format!(
                    "{tool}, ft_device at {width} bits {params:?}:\n{text}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "findings:\n{}", failures.join("\n"));
}

#[test]
fn every_module_includes_the_generated_contract_or_needs_none() {
    // Nothing numbered by hand: modules that use a contract value include the generated header.
    for (name, path) in modules() {
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(
            text.contains("`default_nettype none"),
            "{name}: `default_nettype none"
        );
        let uses_contract = text.contains("`FT_");
        if uses_contract {
            assert!(
                text.contains("`include \"ferrotoe_hw_spec.vh\""),
                "{name} uses contract macros without including the generated header"
            );
        }
        assert!(
            text.contains(&format!("module {name}")),
            "{name}: one module per file, named after it"
        );
    }
}
