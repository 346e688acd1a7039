//! Network-namespace plumbing for the TAP tests of rtl-sim (`tests/tap.rs`,
//! `tests/unsafe_under_valgrind.rs`): running `ip`, and a namespace deleted on drop. Owns
//! nothing else; included with `#[path]`.

use std::process::Command;

/// Runs `ip args`; an error says what failed and what to install.
pub fn try_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!("cannot run `ip` ({e}): install iproute2 with `apt-get install -y iproute2`")
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `ip args`, panicking on failure.
#[allow(dead_code)] // Not every test uses both forms.
pub fn ip(args: &[&str]) {
    try_ip(args).unwrap_or_else(|e| panic!("{e}"));
}

/// A network namespace (by name), deleted on drop.
pub struct Netns(pub String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
