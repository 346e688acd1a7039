//! The committed artifacts in `hw-spec/generated/` must be exactly what the definitions produce.
//! Change a field without regenerating and this fails; regenerate and it passes.

#[test]
fn generated_artifacts_are_fresh() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    for artifact in hw_spec::render::ARTIFACTS {
        let path = root.join(artifact.path);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if committed != (artifact.render)() {
            stale.push(artifact.path.to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `cargo run -p hw-spec --bin hwspec-gen` and commit them"
    );
}

#[test]
fn verilog_header_defines_what_the_rtl_needs() {
    let vh = hw_spec::render::verilog_header();
    for needle in [
        "`define FT_CONTROL_CTRL_ENABLE_MASK",
        "`define FT_TXD_MSS_RANGE 127:112",
        "`define FT_CPL_PHASE_LSB 255",
        "`define FT_ERROR_CODE_TSO_BAD_MSS 8'h08",
        "`define FT_CONTROL_TSO_FLAGS_FIRST_RESET 32'h000001F6",
    ] {
        assert!(vh.contains(needle), "Verilog header lacks `{needle}`");
    }
    let h = hw_spec::render::c_header();
    assert!(h.contains("#define FT_OPCODE_SET_PROD 0x3u"));
    assert!(
        !h.contains("_RANGE"),
        "C header must not carry Verilog ranges"
    );
}

#[test]
fn the_generator_refuses_unknown_arguments_instead_of_writing() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hwspec-gen"))
        .arg("--chek")
        .output()
        .expect("run hwspec-gen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown argument `--chek`"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("wrote:"),
        "nothing may be written"
    );
}
