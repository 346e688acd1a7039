//! The flags `ferrotoe serve` and `ferrotoe connect` share, their checks, and the device and
//! endpoint they build: the engine directly on a TAP device (`--nic tap`, the kernel's
//! virtio-net offloads standing in for the NIC); on the driver on the simulated ferrotoe NIC
//! in this process whose wire is the TAP (`--nic sim`, where `--loss`, `--duplicate`, ...
//! impair that wire); or on the driver on a ferrotoe NIC outside this process, as on real
//! hardware: a `ferrotoe nicsim` process (`--nic attach --link DIR`) or a PCI device bound to
//! vfio-pci (`--nic vfio --pci ADDR`), both through the same generic
//! `ferrotoe_benches::apps::device::DriverNic`. Every mistake a user can make here gets a
//! message that says what is wrong and how to fix it. Owns argument checking and error
//! wording only.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ferrotoe_benches::apps::device::{
    DriverNic, NicSetup, SimNicError, SimTapNic, SimTapNicConfig, WaitDevice,
};
use host_driver::SimDevice;
use host_driver::vfio::{PciAddress, PciAddressError, VfioDevice, VfioOptions};
use rtl_sim::nic::Backend;
use sim_link::AttachOptions;
use tcp_engine::device::OffloadCaps;
use tcp_engine::endpoint::{EndpointConfig, SynCookies};
use tcp_engine::pcap::Capture;
use tcp_engine::table::HashSecret;
use tcp_engine::tap::{TapConfig, TapDevice, TapError};
use tcp_engine::tcb::{CongestionControl, EcnMode, TcbConfig};
use tcp_engine::time::Duration as EngineDuration;
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

use crate::impair_args::WireImpairArgs;
use crate::tcp_args::TcpFeatureArgs;

/// Where the engine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NicKind {
    /// Directly on the TAP device (its virtio-net checksum and TSO offloads are the NIC).
    Tap,
    /// On the host driver on the simulated ferrotoe NIC, whose wire is the TAP device.
    Sim,
    /// On the host driver on a simulated ferrotoe NIC run as its own process by `ferrotoe
    /// nicsim --link DIR` (`--link DIR`; the wire is nicsim's).
    Attach,
    /// On the host driver on a ferrotoe NIC bound to vfio-pci (`--pci ADDR`).
    Vfio,
}

impl NicKind {
    /// The flag as written.
    fn flag(self) -> &'static str {
        match self {
            NicKind::Tap => "--nic tap",
            NicKind::Sim => "--nic sim",
            NicKind::Attach => "--nic attach",
            NicKind::Vfio => "--nic vfio",
        }
    }

    /// Whether the device is outside this process and the host driver reaches it as hardware.
    fn is_external(self) -> bool {
        matches!(self, NicKind::Attach | NicKind::Vfio)
    }
}

/// How long the driver waits for a NIC before it reports it as not answering.
const DEVICE_TIMEOUT: Duration = Duration::from_secs(5);

/// `--ecn`: the engine's [`EcnMode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EcnArg {
    /// Never use ECN.
    Off,
    /// Use ECN when the peer asks.
    Accept,
    /// Ask for ECN, use it when the peer agrees.
    On,
}

impl From<EcnArg> for EcnMode {
    fn from(a: EcnArg) -> EcnMode {
        match a {
            EcnArg::Off => EcnMode::Off,
            EcnArg::Accept => EcnMode::Accept,
            EcnArg::On => EcnMode::On,
        }
    }
}

/// `--syn-cookies`: the endpoint's [`SynCookies`] policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SynCookiesArg {
    /// Never: every SYN takes a listening slot.
    Off,
    /// When a port's listening slots run low (10 % of them kept for returning cookies).
    Pressure,
    /// For every SYN.
    Always,
}

impl From<SynCookiesArg> for SynCookies {
    fn from(a: SynCookiesArg) -> SynCookies {
        match a {
            SynCookiesArg::Off => SynCookies::Off,
            SynCookiesArg::Pressure => SynCookies::UnderPressure,
            SynCookiesArg::Always => SynCookies::Always,
        }
    }
}

/// Flags shared by `serve` and `connect`.
#[derive(Args, Debug)]
pub struct NetArgs {
    /// TAP interface to use (`--nic tap` and `--nic sim`): created if missing (and deleted on
    /// exit), or an existing one (e.g. made with `ip tuntap add dev NAME mode tap`) that
    /// nobody holds.
    #[arg(long, value_name = "NAME")]
    pub tap: Option<String>,
    /// This host's IPv4 address and prefix length, e.g. 198.18.0.2/24 (the kernel's side of
    /// the TAP needs another address in the same subnet).
    #[arg(long, value_name = "ADDR/PREFIX", value_parser = parse_cidr)]
    pub ip: Ipv4Cidr,
    /// Router for destinations outside the subnet.
    #[arg(long, value_name = "ADDR")]
    pub gateway: Option<Ipv4Addr>,
    /// Run the engine on the TAP directly; on the simulated ferrotoe NIC (driver and NIC in
    /// this process) whose wire is the TAP; on a `ferrotoe nicsim` process's NIC (attach,
    /// with --link); or on a real ferrotoe NIC bound to vfio-pci (vfio, with --pci).
    #[arg(long, value_enum, default_value = "tap")]
    pub nic: NicKind,
    /// `--nic attach`: the link directory of a running `ferrotoe nicsim --link DIR`.
    #[arg(long, value_name = "DIR")]
    pub link: Option<PathBuf>,
    /// `--nic vfio`: the PCI address of the ferrotoe NIC, bound to vfio-pci (e.g.
    /// 0000:03:00.0).
    #[arg(long, value_name = "ADDR")]
    pub pci: Option<String>,
    /// Device implementation of `--nic sim`: the Rust model, or the Verilog RTL under
    /// Verilator.
    #[arg(long, default_value = "model")]
    pub backend: Backend,
    /// IP MTU of the link (the TAP interface's MTU should match; 1500 by default).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..=9000))]
    pub mtu: u16,
    /// This host's MAC address (default: 02:fe followed by the IPv4 address).
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    pub mac: Option<EthernetAddress>,
    /// Record every frame to this pcap file (`--nic tap`, `attach`, `vfio`: the engine's frames
    /// as they leave and arrive, transmit offloads applied in software; `--nic sim`: the NIC's
    /// wire).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// `--nic tap`: do not use the TAP's checksum and TSO offloads (the engine checksums and
    /// segments in software).
    #[arg(long)]
    pub no_offload: bool,
    /// Explicit Congestion Notification (RFC 3168): off; accept (agree when the peer's SYN
    /// asks, as Linux's default `net.ipv4.tcp_ecn=2`); on (ask in our SYNs too, as
    /// `tcp_ecn=1`).
    #[arg(long, value_enum, default_value = "accept")]
    pub ecn: EcnArg,
    /// The TUN/TAP clone device.
    #[arg(long, value_name = "PATH", default_value = tcp_engine::tap::TUN_PATH, hide = true)]
    pub tun_device: PathBuf,
    /// Congestion control of the connections: reno (NewReno, RFC 5681/6582), cubic (RFC
    /// 9438, Linux's default) or dctcp (RFC 8257, for data centres whose switches mark ECN
    /// at a shallow threshold; needs ECN negotiated, e.g. `--ecn on`, else it runs NewReno).
    #[arg(long, value_name = "ALGORITHM", default_value = "reno", value_parser = parse_congestion)]
    pub cc: CongestionControl,
    /// SYN cookies (RFC 4987) for SYNs to listening ports: off; pressure (when a port's
    /// listening slots run low, so a SYN flood cannot take them all); always.
    #[arg(long, value_enum, default_value = "pressure")]
    pub syn_cookies: SynCookiesArg,
    /// Loss-recovery and slow-start refinements, each on by default.
    #[command(flatten)]
    pub features: TcpFeatureArgs,
    /// `--nic sim`: seeded impairment of the wire between the kernel and the simulated NIC.
    #[command(
        flatten,
        next_help_heading = "Wire impairment between the kernel and the simulated NIC (--nic sim only)"
    )]
    pub impair: WireImpairArgs,
}

/// Parses a `--cc` value: `reno` (or `newreno`), `cubic` or `dctcp`.
pub fn parse_congestion(s: &str) -> Result<CongestionControl, String> {
    s.parse()
        .map_err(|_| format!("unknown congestion control `{s}`: use reno, cubic or dctcp"))
}

/// Parses `ADDR/PREFIX` as a host address of its subnet.
pub fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let Some((addr, prefix)) = s.split_once('/') else {
        return Err(format!(
            "`{s}` has no prefix length: write ADDR/PREFIX, e.g. {s}/24"
        ));
    };
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("`{addr}` is not an IPv4 address (e.g. 198.18.0.2/24)"))?;
    let prefix: u8 = match prefix.parse() {
        Ok(p @ 1..=32) => p,
        _ => {
            return Err(format!(
                "prefix length `{prefix}` must be a number from 1 to 32 (e.g. /24)"
            ));
        }
    };
    let a = Ipv4Address::from(addr);
    if !a.is_unicast() || a.is_loopback() {
        return Err(format!(
            "{addr} is not a unicast host address (it is unspecified, broadcast, multicast or \
             loopback): use an address such as 198.18.0.2/24"
        ));
    }
    let cidr = Ipv4Cidr::new(a, prefix).ok_or_else(|| format!("bad prefix length {prefix}"))?;
    if prefix < 31 && (a == cidr.network() || a == cidr.broadcast()) {
        return Err(format!(
            "{addr} is the {} address of {}/{prefix}: use a host address inside it",
            if a == cidr.network() {
                "network"
            } else {
                "broadcast"
            },
            Ipv4Addr::from(cidr.network()),
        ));
    }
    Ok(cidr)
}

/// Parses a unicast MAC address `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = parts
            .next()
            .filter(|p| p.len() == 2)
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| format!("`{s}` is not a MAC address like 02:fe:00:00:00:01"))?;
    }
    if parts.next().is_some() {
        return Err(format!("`{s}` is not a MAC address like 02:fe:00:00:00:01"));
    }
    let mac = EthernetAddress(mac);
    if !mac.is_unicast() {
        return Err(format!(
            "{s} is a multicast or broadcast address: the first byte must be even (e.g. 02:...)"
        ));
    }
    Ok(mac)
}

impl NetArgs {
    /// Checks what clap cannot: the gateway, and flags that belong to the other `--nic`.
    pub fn check(&self) -> anyhow::Result<()> {
        self.check_device_flags()?;
        if let Some(tap) = &self.tap {
            tcp_engine::tap::check_name(tap)?;
            if tap.contains('%') {
                // The engine would accept a `%d` pattern, but the kernel's choice of name would
                // not match the one the user gave (and must configure).
                return Err(TapError::InvalidName {
                    name: tap.clone(),
                    reason: "it contains '%' (give the exact name, not a pattern)",
                }
                .into());
            }
        }
        if let Some(gw) = self.gateway {
            let g = Ipv4Address::from(gw);
            if !self.ip.contains(g)
                || g == self.ip.address()
                || !g.is_unicast()
                || self.is_subnet_network_or_broadcast(g)
            {
                bail!(
                    "--gateway {gw} must be another host address inside {}/{} (the gateway is \
                     reached directly)",
                    Ipv4Addr::from(self.ip.network()),
                    self.ip.prefix_len()
                );
            }
        }
        if self.nic == NicKind::Tap && self.backend != Backend::Model {
            bail!("--backend chooses the simulated NIC's implementation: add --nic sim");
        }
        if self.nic == NicKind::Tap && self.impair.any() {
            let flags = self.impair.given();
            bail!(
                "{} impair the simulated NIC's wire: add --nic sim (with --nic tap the engine \
                 writes to the TAP itself, with no wire of ours between it and the kernel to \
                 impair)",
                flags.join(", ")
            );
        }
        self.impair.config()?;
        if self.nic == NicKind::Sim && self.no_offload {
            bail!(
                "--no-offload applies to --nic tap; the simulated NIC's offloads are the device's"
            );
        }
        Ok(())
    }

    /// Checks that the flags that choose and describe the device fit `--nic`.
    fn check_device_flags(&self) -> anyhow::Result<()> {
        let nic = self.nic.flag();
        match self.nic {
            NicKind::Tap | NicKind::Sim => {
                if self.tap.is_none() {
                    bail!(
                        "{nic} needs --tap NAME: the TAP interface the kernel's side of the link \
                         is on (e.g. --tap ft0)"
                    );
                }
                if self.link.is_some() {
                    bail!(
                        "--link names a `ferrotoe nicsim` process's NIC: add --nic attach (and \
                         drop --tap: the wire is nicsim's)"
                    );
                }
                if self.pci.is_some() {
                    bail!("--pci names a ferrotoe NIC bound to vfio-pci: add --nic vfio");
                }
            }
            NicKind::Attach => {
                if self.pci.is_some() {
                    bail!("--pci belongs to --nic vfio; --nic attach takes --link DIR");
                }
                let Some(dir) = &self.link else {
                    bail!(
                        "--nic attach needs --link DIR: the link directory of a running \
                         `ferrotoe nicsim --link DIR --wire tap:NAME` (start that first)"
                    );
                };
                if let Some(tap) = &self.tap {
                    bail!(
                        "--tap {tap}: with --nic attach the wire belongs to the nicsim process: \
                         give it there (`ferrotoe nicsim --link {} --wire tap:{tap}`) and drop \
                         --tap here",
                        dir.display()
                    );
                }
            }
            NicKind::Vfio => {
                if self.link.is_some() {
                    bail!("--link belongs to --nic attach; --nic vfio takes --pci ADDR");
                }
                let Some(addr) = &self.pci else {
                    bail!(
                        "--nic vfio needs --pci ADDR: the PCI address of the ferrotoe NIC bound \
                         to vfio-pci, e.g. --pci 0000:03:00.0 (`lspci -Dnn` lists them)"
                    );
                };
                addr.parse::<PciAddress>().map_err(|e: PciAddressError| {
                    anyhow::anyhow!(
                        "--pci {addr}: {}: give the address as DDDD:BB:DD.F, e.g. \
                             0000:03:00.0 (`lspci -Dnn` lists them)",
                        e.reason
                    )
                })?;
                if let Some(tap) = &self.tap {
                    bail!(
                        "--tap {tap}: with --nic vfio the wire is the device's own port; drop \
                         --tap"
                    );
                }
            }
        }
        if self.nic.is_external() {
            if self.backend != Backend::Model {
                bail!(
                    "--backend chooses the implementation of a simulated NIC in this process \
                     (--nic sim); {nic} drives a NIC outside it{}",
                    if self.nic == NicKind::Attach {
                        ": give --backend to `ferrotoe nicsim`"
                    } else {
                        ""
                    }
                );
            }
            if self.impair.any() {
                bail!(
                    "{} impair the wire of a simulated NIC in this process (--nic sim); with \
                     {nic} the wire belongs to the device{}",
                    self.impair.given().join(", "),
                    if self.nic == NicKind::Attach {
                        " (`ferrotoe nicsim --impair` impairs a cable wire)"
                    } else {
                        ""
                    }
                );
            }
            if self.no_offload {
                bail!(
                    "--no-offload applies to --nic tap; the ferrotoe NIC's offloads are the device's"
                );
            }
        }
        Ok(())
    }

    /// Whether `a` is the network or directed broadcast address of `--ip`'s subnet (a /31 or
    /// /32 has neither).
    fn is_subnet_network_or_broadcast(&self, a: Ipv4Address) -> bool {
        self.ip.prefix_len() < 31 && (a == self.ip.network() || a == self.ip.broadcast())
    }

    /// This host's MAC address.
    pub fn mac(&self) -> EthernetAddress {
        self.mac.unwrap_or_else(|| {
            let [a, b, c, d] = self.ip.address().octets();
            EthernetAddress([0x02, 0xfe, a, b, c, d])
        })
    }

    /// Checks that a destination is reachable from this subnet.
    pub fn check_destination(&self, to: Ipv4Addr) -> anyhow::Result<()> {
        let a = Ipv4Address::from(to);
        if a == self.ip.address() {
            bail!("--to {to} is this host's own address (--ip): give the server's address");
        }
        if !a.is_unicast() || a.is_loopback() {
            bail!("--to {to} is not a unicast address of another host");
        }
        if self.is_subnet_network_or_broadcast(a) {
            bail!(
                "--to {to} is the network or broadcast address of {}/{}: give a host's address",
                Ipv4Addr::from(self.ip.network()),
                self.ip.prefix_len()
            );
        }
        if !self.ip.contains(a) && self.gateway.is_none() {
            bail!(
                "--to {to} is outside {}/{} and no --gateway was given: add --gateway ADDR or \
                 use an address inside the subnet",
                Ipv4Addr::from(self.ip.network()),
                self.ip.prefix_len()
            );
        }
        Ok(())
    }

    /// The endpoint's configuration over a device with `caps`: RFC behaviour with Linux's
    /// 200 ms minimum RTO and a 60 s FIN-WAIT-2 limit, MSS from the MTU, ECN per `--ecn`, the
    /// congestion control of `--cc`, the switches of `--hystart`, `--spurious-undo` and
    /// `--adaptive-reordering`.
    pub fn endpoint_config(&self, caps: OffloadCaps) -> anyhow::Result<EndpointConfig> {
        let secret = HashSecret::from_os_random().context("reading a random secret")?;
        let mut cfg = EndpointConfig::new(self.mac(), self.ip, caps, secret);
        cfg.gateway = self.gateway.map(Ipv4Address::from);
        cfg.syn_cookies = self.syn_cookies.into();
        cfg.tcb = TcbConfig {
            rto_min: EngineDuration::from_millis(200),
            fin_wait2_timeout: Some(EngineDuration::from_secs(60)),
            ecn: self.ecn.into(),
            congestion: self.cc,
            ..TcbConfig::RFC
        }
        .with_mtu(self.mtu);
        self.features.apply(&mut cfg.tcb);
        Ok(cfg)
    }

    /// Opens the device and runs `f` on it.
    pub fn with_device<R>(&self, f: impl DeviceUser<R>) -> anyhow::Result<R> {
        let tap = self.tap.as_deref().unwrap_or_default();
        if !self.nic.is_external() && !self.tun_device.exists() {
            return Err(TapError::TunMissing {
                path: self.tun_device.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }
            .into());
        }
        let setup = NicSetup {
            mtu: self.mtu,
            timeout: DEVICE_TIMEOUT,
        };
        match self.nic {
            NicKind::Tap => {
                let config = TapConfig {
                    mtu: self.mtu,
                    checksum_offload: !self.no_offload,
                    tso: !self.no_offload,
                    tun_path: self.tun_device.clone(),
                    ..TapConfig::new(tap)
                };
                run_captured(TapDevice::open(&config)?, self.pcap.as_deref(), f)
            }
            NicKind::Sim => {
                let mut dev = SimTapNic::create(&SimTapNicConfig {
                    backend: self.backend,
                    tap: tap.to_owned(),
                    mtu: self.mtu,
                    capture: self.pcap.clone(),
                    timeout: DEVICE_TIMEOUT,
                    impairment: self.impair.config()?,
                })
                .map_err(|e| sim_error(e, tap))?;
                f.run(&mut dev)
            }
            NicKind::Attach => {
                let dir = self.link.as_deref().unwrap_or(Path::new(""));
                let context = || {
                    format!(
                        "the simulated NIC of `ferrotoe nicsim --link {}` (--nic attach)",
                        dir.display()
                    )
                };
                if dir.exists() && !dir.is_dir() {
                    bail!(
                        "{}: --link {}: a file, not a directory: --link takes the directory \
                         given to `ferrotoe nicsim --link DIR` (it holds the files `bar0` and \
                         `link`){}",
                        context(),
                        dir.display(),
                        match dir.parent().filter(|p| p.join("bar0").exists()) {
                            Some(p) => format!(", here --link {}", p.display()),
                            None => String::new(),
                        }
                    );
                }
                if !dir.join("link").exists() {
                    bail!(
                        "{}: {} holds no simulated NIC's link files: start the NIC first with \
                         `ferrotoe nicsim --link {} --wire tap:NAME` (the kernel's side of the \
                         wire is TAP NAME), then attach to it",
                        context(),
                        dir.display(),
                        dir.display()
                    );
                }
                let dev = SimDevice::attach_dir(
                    dir,
                    AttachOptions {
                        timeout: DEVICE_TIMEOUT,
                        force: false,
                    },
                )
                .with_context(context)?;
                let description = format!(
                    "ferrotoe NIC of a `ferrotoe nicsim` process at {} through its driver",
                    dir.display()
                );
                let nic = DriverNic::open(dev, description, &setup, ()).with_context(context)?;
                run_captured(nic, self.pcap.as_deref(), f).with_context(|| {
                    format!(
                        "the simulated NIC of `ferrotoe nicsim --link {}` (--nic attach); if \
                         it stopped, restart it and run this again",
                        dir.display()
                    )
                })
            }
            NicKind::Vfio => {
                let addr = self.pci.as_deref().unwrap_or_default();
                let context = || {
                    format!(
                        "the ferrotoe NIC at PCI {addr} (--nic vfio): it must be bound to \
                         vfio-pci with the IOMMU on (README, \"Pointing the driver at a real \
                         device over VFIO\"); `ferrotoe probe {addr}` checks the set-up"
                    )
                };
                let dev =
                    VfioDevice::open_str(addr, VfioOptions::default()).with_context(context)?;
                let description = format!("ferrotoe NIC at PCI {addr} through VFIO");
                let nic = DriverNic::open(dev, description, &setup, ()).with_context(context)?;
                run_captured(nic, self.pcap.as_deref(), f).with_context(context)
            }
        }
    }
}

/// Runs `f` on `dev`, through a capture to `pcap` when one is given.
fn run_captured<D: WaitDevice, R>(
    mut dev: D,
    pcap: Option<&Path>,
    f: impl DeviceUser<R>,
) -> anyhow::Result<R> {
    match pcap {
        Some(path) => {
            let mut dev = Capture::to_file(dev, path)?;
            let r = f.run(&mut dev);
            dev.finish()
                .with_context(|| format!("writing the capture {}", path.display()))?;
            r
        }
        None => f.run(&mut dev),
    }
}

/// Something to run on whichever device the flags open.
pub trait DeviceUser<R> {
    /// Runs on `dev`.
    fn run<D: WaitDevice>(self, dev: &mut D) -> anyhow::Result<R>;
}

/// The simulated stack's errors, with the TAP's worded like the direct path's.
fn sim_error(e: SimNicError, tap: &str) -> anyhow::Error {
    match e {
        SimNicError::Tap { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            TapError::NotPermitted {
                name: tap.to_owned(),
                step: "TUNSETIFF (the simulated NIC's wire)",
                source,
            }
            .into()
        }
        SimNicError::Tap { source, .. } if source.kind() == std::io::ErrorKind::ResourceBusy => {
            TapError::NameInUse {
                name: tap.to_owned(),
                detail: "another process holds this TAP interface open",
                source,
            }
            .into()
        }
        SimNicError::Tap { source, .. } if source.kind() == std::io::ErrorKind::InvalidInput => {
            TapError::NameInUse {
                name: tap.to_owned(),
                detail: "an interface of this name exists and is not a TAP device (or the name \
                         is invalid)",
                source,
            }
            .into()
        }
        // `SimNicError` words its cause into its own message (it has no separate source).
        e => {
            anyhow::Error::new(e).context(format!("the simulated NIC (--nic sim, wire TAP {tap})"))
        }
    }
}

/// SIGINT and SIGTERM set the returned flag (a second SIGINT exits at once); the counter says
/// which signal came.
pub fn stop_on_signals() -> anyhow::Result<(Arc<AtomicBool>, Arc<AtomicUsize>)> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    let which = Arc::new(AtomicUsize::new(0));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .context("installing a signal handler")?;
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing a signal handler")?;
        signal_hook::flag::register_usize(sig, Arc::clone(&which), sig as usize)
            .context("installing a signal handler")?;
    }
    Ok((stop, which))
}

/// The name of a signal caught by [`stop_on_signals`].
pub fn signal_name(which: &AtomicUsize) -> &'static str {
    match which.load(Ordering::Relaxed) as i32 {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        _ => "a stop request",
    }
}

/// `name=value` lines of the non-zero counters, wrapped for a terminal.
pub fn counter_lines(prefix: &str, counters: impl IntoIterator<Item = (String, u64)>) -> String {
    let items: Vec<String> = counters
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let mut out = String::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + item.len() > 90 {
            out.push_str(&format!("  {prefix}: {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&item);
    }
    if !line.is_empty() {
        out.push_str(&format!("  {prefix}: {line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_with_fixes() {
        assert_eq!(
            parse_cidr("198.18.0.2/24").unwrap(),
            Ipv4Cidr::new(Ipv4Address::new(198, 18, 0, 2), 24).unwrap()
        );
        assert!(
            parse_cidr("198.18.0.2")
                .unwrap_err()
                .contains("198.18.0.2/24")
        );
        assert!(
            parse_cidr("198.18.0/24")
                .unwrap_err()
                .contains("not an IPv4 address")
        );
        assert!(parse_cidr("198.18.0.2/33").unwrap_err().contains("1 to 32"));
        assert!(
            parse_cidr("198.18.0.0/24")
                .unwrap_err()
                .contains("network address")
        );
        assert!(
            parse_cidr("198.18.0.255/24")
                .unwrap_err()
                .contains("broadcast address")
        );
        assert!(
            parse_cidr("224.0.0.1/24")
                .unwrap_err()
                .contains("not a unicast")
        );
        assert!(parse_cidr("127.0.0.1/8").unwrap_err().contains("loopback"));
        assert!(parse_cidr("10.0.0.1/31").is_ok(), "point-to-point /31");
        assert_eq!(
            parse_mac("02:aa:bb:cc:dd:0e").unwrap(),
            EthernetAddress([2, 0xaa, 0xbb, 0xcc, 0xdd, 0x0e])
        );
        assert!(
            parse_mac("01:00:5e:00:00:01")
                .unwrap_err()
                .contains("multicast")
        );
        assert!(parse_mac("02:aa:bb:cc:dd").is_err());
        assert!(parse_mac("02:aa:bb:cc:dd:ee:ff").is_err());
    }

    #[test]
    fn congestion_control_names() {
        assert_eq!(parse_congestion("reno"), Ok(CongestionControl::NewReno));
        assert_eq!(parse_congestion("newreno"), Ok(CongestionControl::NewReno));
        assert_eq!(parse_congestion("CUBIC"), Ok(CongestionControl::Cubic));
        assert_eq!(parse_congestion("dctcp"), Ok(CongestionControl::Dctcp));
        let err = parse_congestion("bbr").unwrap_err();
        assert!(
            err.contains("`bbr`") && err.contains("reno, cubic or dctcp"),
            "{err}"
        );
    }

    #[test]
    fn counters_print_non_zero_only() {
        let text = counter_lines("x", [("a".to_owned(), 0), ("b".to_owned(), 3)]);
        assert_eq!(text, "  x: b=3\n");
    }
}
