//! The `ferrotoe` binary: its command list, `spec`, and clap's errors on bad input.

use std::process::Command;

fn ferrotoe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotoe"))
        .args(args)
        .output()
        .expect("run the ferrotoe binary")
}

#[test]
fn help_lists_every_command() {
    let out = ferrotoe(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "demo", "bench", "serve", "connect", "nicsim", "probe", "spec",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help does not list `{cmd}`:\n{text}"
        );
    }
}

#[test]
fn spec_prints_every_block_and_layout() {
    let out = ferrotoe(&["spec"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for b in hw_spec::regs::BLOCKS {
        assert!(
            text.contains(&format!("{} @ {:#06x}", b.name, b.base)),
            "missing block {}",
            b.name
        );
    }
    for d in hw_spec::descriptors::DESCRIPTORS {
        assert!(
            text.contains(&format!("{} ({} bytes", d.name, d.size)),
            "missing layout {}",
            d.name
        );
    }
}

#[test]
fn spec_formats_match_the_generated_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (format, file) in [
        ("verilog", "hw-spec/generated/ferrotoe_hw_spec.vh"),
        ("c", "hw-spec/generated/ferrotoe_hw_spec.h"),
        ("markdown", "hw-spec/generated/REFERENCE.md"),
    ] {
        let out = ferrotoe(&["spec", "--format", format]);
        assert!(out.status.success());
        let committed = std::fs::read(root.join(file)).expect("generated file");
        assert_eq!(
            out.stdout, committed,
            "`spec --format {format}` differs from {file}"
        );
    }
}

#[test]
fn bad_arguments_are_clap_errors() {
    let out = ferrotoe(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
    let out = ferrotoe(&["spec", "--format", "vhdl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'vhdl'"));
}
