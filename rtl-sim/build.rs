//! Build script of rtl-sim. With the `rtl` feature it Verilates the RTL engines
//! (`rtl/ft_sim_top.v` and everything it instantiates) once per datapath width (512 and 64
//! bits, model prefixes `Vft512` and `Vft64`) and the whole device (`rtl/ft_device.v` at 512
//! and 64 bits, prefixes `Vftdev512` and `Vftdev64`, its `BUILD_ID` the crate version as
//! `DeviceConfig` computes it),
//! and compiles the generated C++, the Verilator runtime and the C ABI shims
//! (`csrc/ft_sim_shim.cpp`, `csrc/ft_dev_shim.cpp`) into a static library linked into the
//! crate. Without the feature it does nothing.
//!
//! The Verilog comes from `rtl/`, with the files of the directory named by
//! `FERROTOE_RTL_OVERLAY` (when set) in place of the same-named ones: see `src/rtl/sources.rs`.
//! The overlay's path reaches the crate as `FERROTOE_RTL_OVERLAY_BUILT` (empty without one) and
//! the file set's one-line summary as `FERROTOE_RTL_SUMMARY`, so what a binary was built from
//! is what it reports.

#[cfg(feature = "rtl")]
use std::path::{Path, PathBuf};
#[cfg(feature = "rtl")]
use std::process::Command;

#[cfg(feature = "rtl")]
#[path = "src/rtl/sources.rs"]
#[allow(dead_code)] // the build uses part of what the crate uses
mod sources;

/// Verilated models: top module, DATA_WIDTH and model prefix.
#[cfg(feature = "rtl")]
const MODELS: &[(&str, u32, &str)] = &[
    ("ft_sim_top", 512, "Vft512"),
    ("ft_sim_top", 64, "Vft64"),
    ("ft_device", 512, "Vftdev512"),
    ("ft_device", 64, "Vftdev64"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "rtl")]
    verilate_and_compile();
}

/// Verilates the models and compiles them with the shims into `libft_sim.a` (feature `rtl`).
#[cfg(feature = "rtl")]
fn verilate_and_compile() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let rtl = manifest.join("rtl");
    let spec = manifest.join("../hw-spec/generated");
    let shims = [
        manifest.join("csrc/ft_sim_shim.cpp"),
        manifest.join("csrc/ft_dev_shim.cpp"),
    ];
    let lanes = manifest.join("csrc/ft_lanes.h");

    println!("cargo:rerun-if-env-changed={}", sources::OVERLAY_ENV);
    // Relative to where cargo was started, as a user means it (cargo runs build scripts in
    // the package directory); then the build depends on that directory too.
    let arg = sources::overlay_arg(
        std::env::var_os(sources::OVERLAY_ENV).as_deref(),
        std::env::var_os("PWD").as_deref(),
    )
    .unwrap_or_else(|e| panic!("rtl-sim: {e}"));
    if arg.as_ref().is_some_and(|a| a.depends_on_pwd) {
        println!("cargo:rerun-if-env-changed=PWD");
    }
    let overlay = arg.map(|a| a.dir);
    let set = sources::RtlSources::resolve(&rtl, overlay.as_deref())
        .unwrap_or_else(|e| panic!("rtl-sim: {e}"));
    println!(
        "cargo:rustc-env=FERROTOE_RTL_OVERLAY_BUILT={}",
        overlay
            .as_deref()
            .map(|d| d.display().to_string())
            .unwrap_or_default()
    );
    println!("cargo:rustc-env=FERROTOE_RTL_SUMMARY={}", set.summary());
    if overlay.is_some() {
        println!("cargo:warning=rtl-sim: {}", set.summary());
    }
    for dir in set.include_dirs() {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let sources: Vec<PathBuf> = set.files.iter().map(|f| f.path.clone()).collect();
    for p in &sources {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        spec.join("ferrotoe_hw_spec.vh").display()
    );
    for shim in shims.iter().chain([&lanes]) {
        println!("cargo:rerun-if-changed={}", shim.display());
    }

    let verilog: Vec<PathBuf> = set.verilog().map(|f| f.path.clone()).collect();
    let include = verilator_root().join("include");
    let opt_level = if std::env::var("PROFILE").as_deref() == Ok("release") {
        2
    } else {
        1
    };

    // `cargo clippy` and `cargo test` run this script separately (different OUT_DIRs) with the
    // same inputs; the C++ takes a minute to compile, so the library is cached next to the
    // OUT_DIRs (in target/<profile>/build), keyed by everything that goes into it.
    let mut inputs: Vec<PathBuf> = sources.clone();
    // Whatever the overlay holds besides (headers of other names, subdirectories) is on the
    // include path too.
    inputs.extend(set.overlay_tree().unwrap_or_else(|e| {
        panic!(
            "rtl-sim: cannot list the RTL overlay {}: {e}",
            overlay.as_deref().unwrap_or(Path::new("")).display()
        )
    }));
    inputs.push(spec.join("ferrotoe_hw_spec.vh"));
    inputs.extend(shims.iter().cloned());
    inputs.push(lanes);
    inputs.push(manifest.join("build.rs"));
    let key = cache_key(&inputs, &format!("{}-O{opt_level}", verilator_version()));
    let cache = out
        .parent()
        .and_then(Path::parent)
        .map(|build| build.join(format!("ft-sim-cache-{key:016x}")));
    if let Some(dir) = &cache
        && dir.join("libft_sim.a").is_file()
    {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static=ft_sim");
        println!("cargo:rustc-link-lib=stdc++");
        return;
    }

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .warnings(false)
        .debug(false)
        // Simulation speed against compile time: -O1 for tests (the debug profile), -O2 for
        // release builds and benchmarks.
        .opt_level(opt_level)
        .define("VM_TRACE", "1")
        .define("VM_TRACE_VCD", "1")
        .define("VM_COVERAGE", "0")
        .define("VM_SC", "0")
        .include(&include)
        .include(include.join("vltstd"))
        .include(manifest.join("csrc"));

    let build_id = crate_build_id();
    for (top, width, prefix) in MODELS {
        let mdir = out.join(format!("verilated_{prefix}"));
        let _ = std::fs::remove_dir_all(&mdir);
        let mut cmd = Command::new("verilator");
        cmd.args(["--cc", "--top-module", top, "--prefix", prefix])
            .arg(format!("-GDATA_WIDTH={width}"));
        if *top == "ft_device" {
            cmd.arg(format!("-GBUILD_ID={build_id}"));
        }
        let status = cmd
            .args([
                "-O3",
                "--x-assign",
                "fast",
                "--x-initial",
                "fast",
                "--trace",
            ])
            .arg("-Mdir")
            .arg(&mdir)
            .args(
                set.include_dirs()
                    .iter()
                    .map(|d| format!("-I{}", d.display())),
            )
            .arg(format!("-I{}", spec.display()))
            .args(&verilog)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "rtl-sim: feature `rtl` needs Verilator 5 on PATH, and running `verilator` \
                     failed ({e}). Install it: `apt-get install verilator` (Debian/Ubuntu), \
                     or build without `--features rtl`."
                )
            });
        assert!(
            status.success(),
            "rtl-sim: verilator failed on {top} for DATA_WIDTH={width} with {} (see its \
             messages above)",
            set.summary()
        );
        build.include(&mdir);
        for cpp in generated_sources(&mdir) {
            build.file(cpp);
        }
    }
    for runtime in [
        "verilated.cpp",
        "verilated_threads.cpp",
        "verilated_vcd_c.cpp",
    ] {
        build.file(include.join(runtime));
    }
    for shim in &shims {
        build.file(shim);
    }
    build.compile("ft_sim");
    if let Some(dir) = cache {
        // Publish atomically: copy into a temporary directory, then rename it into place.
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        if std::fs::create_dir_all(&tmp).is_ok()
            && std::fs::copy(out.join("libft_sim.a"), tmp.join("libft_sim.a")).is_ok()
            && std::fs::rename(&tmp, &dir).is_err()
        {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
}

#[cfg(feature = "rtl")]
/// The crate version as `major << 16 | minor << 8 | patch` (what `DeviceConfig` reports as
/// `IDENT.BUILD_ID`).
fn crate_build_id() -> u32 {
    let part = |name: &str| -> u32 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("rtl-sim: cargo sets {name} to a number"))
    };
    (part("CARGO_PKG_VERSION_MAJOR") << 16)
        | (part("CARGO_PKG_VERSION_MINOR") << 8)
        | part("CARGO_PKG_VERSION_PATCH")
}

#[cfg(feature = "rtl")]
/// `verilator --version`, part of the cache key.
fn verilator_version() -> String {
    Command::new("verilator")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(feature = "rtl")]
/// FNV-1a over the names and contents of `inputs` and `extra`.
fn cache_key(inputs: &[PathBuf], extra: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(extra.as_bytes());
    for p in inputs {
        eat(p.to_string_lossy().as_bytes());
        eat(&std::fs::read(p)
            .unwrap_or_else(|e| panic!("rtl-sim: cannot read {}: {e}", p.display())));
    }
    h
}

#[cfg(feature = "rtl")]
/// Verilator's installation root (`verilator --getenv VERILATOR_ROOT`), defaulting to the
/// Debian location.
fn verilator_root() -> PathBuf {
    let fallback = PathBuf::from("/usr/share/verilator");
    match Command::new("verilator")
        .args(["--getenv", "VERILATOR_ROOT"])
        .output()
    {
        Ok(o) if o.status.success() => {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s.is_empty() {
                fallback
            } else {
                PathBuf::from(s)
            }
        }
        Ok(_) => fallback,
        Err(e) => panic!(
            "rtl-sim: feature `rtl` needs Verilator 5 on PATH, and running `verilator` failed \
             ({e}). Install it: `apt-get install verilator` (Debian/Ubuntu), or build without \
             `--features rtl`."
        ),
    }
}

#[cfg(feature = "rtl")]
/// The split C++ files Verilator generated (not the `__ALL` amalgamations, which would define
/// every symbol twice).
fn generated_sources(mdir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(mdir)
        .unwrap_or_else(|e| panic!("rtl-sim: cannot list {}: {e}", mdir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "cpp")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("__ALL"))
        })
        .collect();
    v.sort();
    v
}
