//! Network namespaces for kernel-interop tests: create one with a unique name, create a TAP
//! inside it (or move an interface in), give interfaces addresses from the benchmarking range
//! 198.18.0.0/15 only (RFC 2544), set per-namespace sysctls, run commands or Rust closures
//! inside, and delete it on drop.
//!
//! Commands go through `ip` (iproute2); closures run on a thread that entered the namespace
//! with `setns` (file descriptors opened there, such as a TAP or a socket, keep working from
//! any thread afterwards). Needs root. Owns namespace lifetime only; it never touches the
//! caller's own namespace beyond `ip netns add/delete`.

use std::fmt;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use super::{TapConfig, TapDevice, TapError};
use crate::sys;

/// Why a namespace operation failed.
#[derive(Debug)]
pub enum NetNsError {
    /// A program could not be started (not installed).
    ToolMissing {
        /// The program.
        program: String,
        /// The error from the OS.
        source: io::Error,
    },
    /// A command ran and failed.
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: Option<i32>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// An address outside 198.18.0.0/15 was asked for.
    OutsideBenchRange {
        /// The address.
        addr: Ipv4Addr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// The namespace could not be entered.
    Enter {
        /// The namespace.
        name: String,
        /// The error from the kernel.
        source: io::Error,
    },
    /// A sysctl could not be written.
    Sysctl {
        /// The key, e.g. `net.ipv4.tcp_sack`.
        key: String,
        /// The error from the kernel.
        source: io::Error,
    },
    /// Opening a TAP inside the namespace failed.
    Tap(TapError),
    /// A closure run inside the namespace panicked.
    Panicked {
        /// The namespace.
        name: String,
    },
}

impl fmt::Display for NetNsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetNsError::ToolMissing { program, source } => write!(
                f,
                "cannot run {program} ({source}): install iproute2 (`apt-get install -y iproute2`)"
            ),
            NetNsError::CommandFailed {
                command,
                status,
                stderr,
            } => write!(
                f,
                "`{command}` failed (exit {status:?}): {}; namespaces need root",
                stderr.trim()
            ),
            NetNsError::OutsideBenchRange { addr, prefix_len } => write!(
                f,
                "{addr}/{prefix_len} is outside 198.18.0.0/15: test networks use only the \
                 benchmarking range (RFC 2544)"
            ),
            NetNsError::Enter { name, source } => write!(
                f,
                "cannot enter network namespace {name} ({source}): run as root"
            ),
            NetNsError::Sysctl { key, source } => write!(
                f,
                "cannot set sysctl {key} ({source}): check the name (it must exist under \
                 /proc/sys/) and that it is per network namespace"
            ),
            NetNsError::Tap(e) => write!(f, "{e}"),
            NetNsError::Panicked { name } => {
                write!(f, "a closure run in namespace {name} panicked")
            }
        }
    }
}

impl std::error::Error for NetNsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NetNsError::ToolMissing { source, .. } | NetNsError::Enter { source, .. } => {
                Some(source)
            }
            NetNsError::Tap(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TapError> for NetNsError {
    fn from(e: TapError) -> Self {
        NetNsError::Tap(e)
    }
}

/// `addr/prefix_len` lies inside 198.18.0.0/15.
pub fn in_bench_range(addr: Ipv4Addr, prefix_len: u8) -> bool {
    let [a, b, ..] = addr.octets();
    a == 198 && (b == 18 || b == 19) && (15..=32).contains(&prefix_len)
}

fn run_checked(mut cmd: Command) -> Result<Output, NetNsError> {
    let line = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|source| NetNsError::ToolMissing {
        program: cmd.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(NetNsError::CommandFailed {
            command: line,
            status: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A network namespace that is deleted when dropped.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

impl NetNs {
    /// Creates a namespace named `<prefix>-<pid>-<n>` (unique within the machine while this
    /// process lives) with its loopback up.
    ///
    /// # Errors
    /// `ip` is missing or fails (not root).
    pub fn create(prefix: &str) -> Result<NetNs, NetNsError> {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "add", &name]);
        run_checked(cmd)?;
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec NAME ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME <args>` and returns its stdout.
    ///
    /// # Errors
    /// The command could not run or failed.
    pub fn ip(&self, args: &[&str]) -> Result<String, NetNsError> {
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.name]).args(args);
        run_checked(cmd).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`), to add
    /// arguments to and spawn or run.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program args` inside the namespace and returns its stdout.
    ///
    /// # Errors
    /// The program could not run or exited unsuccessfully.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String, NetNsError> {
        let mut cmd = self.command(program);
        cmd.args(args);
        run_checked(cmd).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Adds `addr/prefix_len` to `ifname`.
    ///
    /// # Errors
    /// [`NetNsError::OutsideBenchRange`] for any address outside 198.18.0.0/15, or `ip` fails.
    pub fn add_address(
        &self,
        ifname: &str,
        addr: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), NetNsError> {
        if !in_bench_range(addr, prefix_len) {
            return Err(NetNsError::OutsideBenchRange { addr, prefix_len });
        }
        self.ip(&[
            "addr",
            "add",
            &format!("{addr}/{prefix_len}"),
            "dev",
            ifname,
        ])
        .map(drop)
    }

    /// Sets `ifname` up.
    ///
    /// # Errors
    /// `ip` fails.
    pub fn link_up(&self, ifname: &str) -> Result<(), NetNsError> {
        self.ip(&["link", "set", ifname, "up"]).map(drop)
    }

    /// Sets the MTU of `ifname`.
    ///
    /// # Errors
    /// `ip` fails.
    pub fn set_mtu(&self, ifname: &str, mtu: u16) -> Result<(), NetNsError> {
        self.ip(&["link", "set", ifname, "mtu", &mtu.to_string()])
            .map(drop)
    }

    /// Moves interface `ifname` of the caller's namespace into this one (an open TAP keeps
    /// working).
    ///
    /// # Errors
    /// `ip` fails.
    pub fn move_link_in(&self, ifname: &str) -> Result<(), NetNsError> {
        let mut cmd = Command::new("ip");
        cmd.args(["link", "set", ifname, "netns", &self.name]);
        run_checked(cmd).map(drop)
    }

    /// Moves interface `ifname` of namespace `from` into this one (an open TAP keeps working).
    ///
    /// # Errors
    /// `ip` fails.
    pub fn move_link_from(&self, from: &NetNs, ifname: &str) -> Result<(), NetNsError> {
        from.ip(&["link", "set", ifname, "netns", &self.name])
            .map(drop)
    }

    /// Sets a per-namespace sysctl, e.g. `("net.ipv4.tcp_sack", "0")`.
    ///
    /// # Errors
    /// The namespace cannot be entered or the value cannot be written.
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<(), NetNsError> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = value.to_owned();
        let key = key.to_owned();
        self.in_namespace(move || {
            std::fs::write(&path, value).map_err(|source| NetNsError::Sysctl { key, source })
        })?
    }

    fn namespace_file(&self) -> Result<File, NetNsError> {
        File::open(format!("/run/netns/{}", self.name)).map_err(|source| NetNsError::Enter {
            name: self.name.clone(),
            source,
        })
    }

    /// Runs `f` on a thread inside the namespace and returns its result.
    ///
    /// # Errors
    /// The namespace cannot be entered, or `f` panicked.
    pub fn in_namespace<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, NetNsError> {
        let file = self.namespace_file()?;
        let name = &self.name;
        std::thread::scope(|s| {
            s.spawn(move || {
                sys::enter_net_namespace(file.as_raw_fd()).map_err(|source| NetNsError::Enter {
                    name: name.clone(),
                    source,
                })?;
                Ok(f())
            })
            .join()
            .map_err(|_| NetNsError::Panicked { name: name.clone() })?
        })
    }

    /// Starts `f` on a thread inside the namespace (e.g. a kernel socket client) and returns its
    /// handle. The thread's result is `Err` when it could not enter the namespace.
    ///
    /// # Errors
    /// The namespace file cannot be opened.
    pub fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<JoinHandle<Result<R, NetNsError>>, NetNsError> {
        let file = self.namespace_file()?;
        let name = self.name.clone();
        Ok(std::thread::spawn(move || {
            sys::enter_net_namespace(file.as_raw_fd())
                .map_err(|source| NetNsError::Enter { name, source })?;
            Ok(f())
        }))
    }

    /// Creates (or attaches to) the TAP of `config` inside the namespace.
    ///
    /// # Errors
    /// The namespace cannot be entered or the TAP cannot be opened ([`NetNsError::Tap`]).
    pub fn open_tap(&self, config: &TapConfig) -> Result<TapDevice, NetNsError> {
        let config = config.clone();
        Ok(self.in_namespace(move || TapDevice::open(&config))??)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "delete", &self.name]);
        if let Err(e) = run_checked(cmd) {
            eprintln!(
                "warning: could not delete network namespace {}: {e}",
                self.name
            );
        }
    }
}
