//! Build script of ferrotoe-benches: records which Cargo profile the crate is built with, so
//! benchmark reports can say whether their figures come from the like-for-like `perf` profile
//! (fat LTO and one codegen unit, as the smoltcp-bulk baseline is built) or another one.
//!
//! Cargo puts `OUT_DIR` at `<target>/<profile directory>/build/<package>-<hash>/out`; the
//! profile directory is `debug` for `dev`/`test`, `release` for `release`/`bench`, and the
//! profile's own name for custom profiles such as `perf`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    let profile_dir = std::path::Path::new(&out)
        .ancestors()
        .nth(3)
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("unknown")
        .to_owned();
    println!("cargo:rustc-env=FERROTOE_BENCHES_PROFILE_DIR={profile_dir}");
}
