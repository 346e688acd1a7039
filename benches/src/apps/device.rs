//! The devices the application loops run on, behind one trait: [`WaitDevice`] is a
//! [`FrameDevice`] that can also sleep until a frame may have arrived and report its own
//! counters. Implemented for the TAP device (the kernel's virtio-net offloads), the ferrotoe
//! NIC's adapter (any driver backend), the in-memory link (tests; it never sleeps), and the
//! pcap capture wrapper around any of them.
//!
//! [`DriverNic`] is the engine's device on any ferrotoe NIC the host driver reaches, generic
//! over [`DeviceAccess`]: a simulated NIC in this process, one run by `ferrotoe nicsim` in
//! another process ([`SimDevice::attach_dir`]), or a real one over VFIO. It opens the NIC and
//! queue pair 0, waits for frames on an interrupt (polling when the device has no vectors),
//! checks the device's health while idle, and reports the driver's and the device's counters.
//!
//! [`SimTapNic`] builds the whole simulated stack in this process on top of it: a simulated NIC (model or
//! RTL backend) on its own thread whose wire is a Linux TAP interface, the driver attached to
//! it with interrupts, queue pair 0 open (with large buffers when the NIC offers TSO), and the
//! engine's adapter over it. The kernel's TCP on the TAP then talks to the NIC model (or the
//! RTL), through the driver, to the engine. With an [`ImpairConfig`] the wire between the
//! kernel and the NIC loses, duplicates, reorders or corrupts frames (rtl-sim's
//! [`Impaired`] port; not in the path at all without one).
//!
//! Owns the construction and the waits; the devices themselves belong to tcp-engine,
//! host-driver and rtl-sim.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use host_driver::nic::{DeviceInfo, DeviceStats};
use host_driver::{
    DeviceAccess, DeviceError, DeviceErrorKind, Nic, NicConfig, QueueConfig, SimDevice,
};
use rtl_sim::device::DeviceConfig;
use rtl_sim::nic::{Backend, BackendError, Clock, NicThread, SimNic, build_core};
use rtl_sim::wire::Port;
use rtl_sim::wire::impaired::{ImpairConfig, ImpairMonitor, Impaired};
use rtl_sim::wire::pcap::Capture as WireCapture;
use rtl_sim::wire::tap::{TAP_MAX_FRAME, TapPort};
use sim_link::{AttachOptions, DeviceLink, LinkConfig};
use tcp_engine::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta};
use tcp_engine::link::LinkEnd;
use tcp_engine::pcap::Capture;
use tcp_engine::tap::{TapDevice, TapError, set_link_up};

use crate::nic::NicFrameDevice;

/// A frame device a poll loop can sleep on.
pub trait WaitDevice: FrameDevice {
    /// Sleeps until a frame may be ready to receive or `timeout` passes (a signal may end it
    /// early). Devices that cannot sleep return at once.
    ///
    /// # Errors
    /// The device failed (the error says which and how).
    fn wait(&mut self, timeout: Duration) -> io::Result<()>;

    /// What the device is, for reports.
    fn describe(&self) -> String;

    /// The device's own counters, by name, for reports.
    fn counters(&self) -> Vec<(String, u64)>;
}

impl WaitDevice for TapDevice {
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        self.wait_readable(Some(timeout)).map(drop)
    }

    fn describe(&self) -> String {
        let c = self.caps();
        format!(
            "TAP {} (virtio-net offloads: checksum {}, TSO {})",
            self.name(),
            on_off(c.tx_checksum),
            on_off(c.tso.is_some())
        )
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let c = self.counters();
        [
            ("tap_rx_frames", c.rx_frames),
            ("tap_rx_bytes", c.rx_bytes),
            ("tap_rx_gso_frames", c.rx_gso_frames),
            ("tap_rx_errors", c.rx_errors),
            ("tap_rx_bad_vnet_hdr", c.rx_bad_vnet_hdr),
            ("tap_tx_frames", c.tx_frames),
            ("tap_tx_bytes", c.tx_bytes),
            ("tap_tx_gso_frames", c.tx_gso_frames),
            ("tap_tx_offload_refused", c.tx_offload_refused),
            ("tap_tx_errors", c.tx_errors),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
    }
}

impl WaitDevice for LinkEnd {
    fn wait(&mut self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "in-memory link".to_owned()
    }

    fn counters(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}

impl<D: DeviceAccess> WaitDevice for NicFrameDevice<D> {
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        self.queue_pair_mut()
            .wait_rx(timeout)
            .map(drop)
            .map_err(io::Error::other)
    }

    fn describe(&self) -> String {
        let c = self.caps();
        format!(
            "ferrotoe NIC queue pair {} (offloads: checksum {}, TSO {})",
            self.queue_pair().index(),
            on_off(c.tx_checksum),
            on_off(c.tso.is_some())
        )
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let s = self.queue_pair().stats();
        let a = self.stats();
        [
            ("driver_tx_packets", s.tx_packets),
            ("driver_tx_segments", s.tx_segments),
            ("driver_tx_bytes", s.tx_bytes),
            ("driver_tx_errors", s.tx_errors.total()),
            ("driver_rx_packets", s.rx_packets),
            ("driver_rx_bytes", s.rx_bytes),
            ("adapter_tx_rejected", a.tx_rejected),
            ("adapter_tx_no_buffer", a.tx_no_buffer),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
    }
}

impl<D: WaitDevice, W: io::Write, C: FnMut() -> u64> WaitDevice for Capture<D, W, C> {
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        self.inner_mut().wait(timeout)
    }

    fn describe(&self) -> String {
        format!("{}, captured", self.inner().describe())
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let mut c = self.inner().counters();
        c.push(("pcap_frames".to_owned(), self.frames_recorded()));
        c.push(("pcap_write_errors".to_owned(), self.write_errors()));
        c
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Why the simulated stack could not be built.
#[derive(Debug)]
pub enum SimNicError {
    /// The backend is not available (e.g. the RTL device in a build without rtl-sim's `rtl` feature).
    Backend(BackendError),
    /// The TAP interface of the wire could not be opened or brought up.
    Tap {
        /// The interface.
        name: String,
        /// Why.
        source: io::Error,
    },
    /// The capture file could not be created.
    Capture(io::Error),
    /// The simulated NIC's link or thread could not be set up.
    Link(io::Error),
    /// The driver failed.
    Driver(DeviceError),
}

impl fmt::Display for SimNicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimNicError::Backend(e) => write!(f, "{e}"),
            SimNicError::Tap { name, source } => {
                write!(
                    f,
                    "the simulated NIC's wire, TAP interface {name}: {source}"
                )
            }
            SimNicError::Capture(e) => write!(f, "the wire capture: {e}"),
            SimNicError::Link(e) => write!(f, "setting up the simulated NIC: {e}"),
            SimNicError::Driver(e) => write!(f, "{e}"),
        }
    }
}

/// The message already words the cause in (what failed, where, and the cause's own fix), so
/// there is no separate `source`: an error chain printed in full says everything once.
impl std::error::Error for SimNicError {}

impl From<DeviceError> for SimNicError {
    fn from(e: DeviceError) -> Self {
        SimNicError::Driver(e)
    }
}

/// How [`SimTapNic::create`] builds the stack.
#[derive(Clone, Debug)]
pub struct SimTapNicConfig {
    /// The device implementation.
    pub backend: Backend,
    /// The TAP interface of the wire (created if missing, then brought up).
    pub tap: String,
    /// IP MTU of the link (sizes the receive buffers; the TAP keeps the MTU it has).
    pub mtu: u16,
    /// Record the wire (both directions, as segmented by the NIC) to this pcap file.
    pub capture: Option<std::path::PathBuf>,
    /// Bound of the driver's waits on the device.
    pub timeout: Duration,
    /// Seeded impairment of the wire: `transmit` is what the NIC sends to the kernel,
    /// `receive` what the kernel sends to the NIC. [`ImpairConfig::NONE`] keeps the
    /// impairment out of the path.
    pub impairment: ImpairConfig,
}

/// How [`DriverNic::open`] sets a ferrotoe NIC up for the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NicSetup {
    /// IP MTU of the link: sizes the receive buffers, and must fit the device's largest frame.
    pub mtu: u16,
    /// Bound of the driver's waits on the device (reset, queue stop, register reads).
    pub timeout: Duration,
}

/// How often [`DriverNic`]'s idle waits read the queues' status registers, so a device that
/// went away (a `ferrotoe nicsim` process killed, a card removed) ends the run with the
/// driver's error instead of a silent wait for frames that never come.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The engine's device on any ferrotoe NIC the host driver reaches ([`DeviceAccess`]: a
/// simulated NIC in this process or in a `ferrotoe nicsim` process, a real one over VFIO):
/// the NIC opened, queue pair 0 open (with large buffers when the NIC offers TSO) and started,
/// the adapter over it; received frames waited for on the RX completion interrupt when the
/// device has vectors, by polling otherwise; the driver's, adapter's and device's counters for
/// reports, with those of its [`NicExtras`] `X`. Dropping it closes the queue pair and disables
/// the NIC, then drops `X`.
pub struct DriverNic<D: DeviceAccess, X: NicExtras = ()> {
    dev: NicFrameDevice<D>,
    nic: Nic<D>,
    description: String,
    interrupts: bool,
    last_health_check: Instant,
    /// Last: what it holds (a simulated NIC's thread) outlives the driver's hold on the device.
    extras: X,
}

/// What a [`DriverNic`] keeps besides the driver: parts that must outlive the driver's hold on
/// the device (a simulated NIC's thread), and counters of their own for reports.
pub trait NicExtras {
    /// Their counters, by name, appended to the NIC's in reports.
    fn counters(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}

/// Nothing besides the driver (a NIC outside this process).
impl NicExtras for () {}

impl<D: DeviceAccess, X: NicExtras> fmt::Debug for DriverNic<D, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DriverNic")
            .field("description", &self.description)
            .field("interrupts", &self.interrupts)
            .finish_non_exhaustive()
    }
}

impl<D: DeviceAccess, X: NicExtras> DriverNic<D, X> {
    /// Opens the NIC behind `dev` for the engine (see the type's docs); `description` says
    /// what it is in reports, `extras` is kept with it.
    ///
    /// # Errors
    /// The device cannot be discovered, reset or started, or its largest frame is shorter than
    /// `setup.mtu` needs (the error names the device and the `--mtu` that fits).
    pub fn open(
        dev: D,
        description: String,
        setup: &NicSetup,
        extras: X,
    ) -> Result<DriverNic<D, X>, DeviceError> {
        let info = DeviceInfo::discover(&dev)?;
        let frame = u32::from(setup.mtu) + 14;
        let max_frame = u32::from(info.caps.max_frame_len);
        if frame > max_frame {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                dev.location(),
                "checking the link's MTU",
                format!(
                    "--mtu {} needs {frame}-byte frames; the NIC carries at most {max_frame}",
                    setup.mtu
                ),
            )
            .with_fix(format!(
                "use --mtu {} or less",
                max_frame.saturating_sub(14)
            )));
        }
        let vectors = dev
            .max_interrupt_vectors()
            .min(info.irq_vectors.into())
            .min(info.completion_queues.into());
        let interrupts = vectors > 0;
        let nic = Nic::open(
            dev,
            NicConfig {
                interrupts,
                timeout: setup.timeout,
                ..NicConfig::default()
            },
        )?;
        let qcfg = QueueConfig {
            buf_size: frame.next_multiple_of(64).max(2048),
            large_buffers: if nic.info().caps.tso { 64 } else { 0 },
            ..QueueConfig::default()
        };
        let qp = nic.open_queue_pair(0, &qcfg)?;
        nic.start()?;
        Ok(DriverNic {
            dev: NicFrameDevice::new(qp),
            nic,
            description,
            interrupts,
            last_health_check: Instant::now(),
            extras,
        })
    }

    /// The device's statistics (offload counters: checksums inserted, TSO segments, RX
    /// checksum verdicts).
    ///
    /// # Errors
    /// The device does not answer.
    pub fn device_stats(&self) -> Result<DeviceStats, DeviceError> {
        self.nic.device_stats()
    }

    /// The adapter (its queue pair and counters).
    pub fn adapter(&self) -> &NicFrameDevice<D> {
        &self.dev
    }

    /// Where the device is (PCI address, `sim:` and the link's path).
    pub fn location(&self) -> &str {
        self.nic.location()
    }

    /// Whether received frames are waited for on an interrupt (else by polling).
    pub fn interrupts(&self) -> bool {
        self.interrupts
    }

    /// What it keeps besides the driver.
    pub fn extras(&self) -> &X {
        &self.extras
    }
}

impl<D: DeviceAccess, X: NicExtras> FrameDevice for DriverNic<D, X> {
    fn caps(&self) -> OffloadCaps {
        self.dev.caps()
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, on_frame: F) -> usize {
        self.dev.rx_burst(max, on_frame)
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        self.dev.transmit(fill)
    }

    fn flush(&mut self) {
        self.dev.flush();
    }
}

impl<D: DeviceAccess, X: NicExtras> WaitDevice for DriverNic<D, X> {
    /// Also reads the queues' status at most every [`HEALTH_CHECK_INTERVAL`]: a device that
    /// stopped answering, or stopped the queues, is an error.
    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if self.last_health_check.elapsed() >= HEALTH_CHECK_INTERVAL {
            self.last_health_check = Instant::now();
            let qp = self.dev.queue_pair();
            qp.health()
                .and_then(|()| qp.check_queues())
                .map_err(io::Error::other)?;
        }
        self.dev.wait(timeout)
    }

    fn describe(&self) -> String {
        format!(
            "{} ({}, RX by {})",
            self.description,
            self.dev.describe(),
            if self.interrupts {
                "interrupt"
            } else {
                "polling"
            }
        )
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let mut c = self.dev.counters();
        if let Ok(s) = self.device_stats() {
            let tx = s.tx.first().copied().unwrap_or_default();
            let rx = s.rx.first().copied().unwrap_or_default();
            c.extend(
                [
                    ("nic_tx_frames", tx.frames),
                    ("nic_tx_bytes", tx.bytes),
                    ("nic_tx_requests", u64::from(tx.requests)),
                    ("nic_tx_csum_inserted", u64::from(tx.csum_inserted)),
                    ("nic_tx_tso_segments", u64::from(tx.tso_segments)),
                    ("nic_tx_errors", u64::from(tx.errors)),
                    ("nic_rx_frames", rx.frames),
                    ("nic_rx_bytes", rx.bytes),
                    ("nic_rx_drops", u64::from(rx.drops)),
                    ("nic_rx_csum_good", u64::from(rx.csum_good)),
                    ("nic_rx_csum_bad", u64::from(rx.csum_bad)),
                    ("nic_rx_drops_no_queue", u64::from(s.rx_drops_no_queue)),
                    ("nic_errors", u64::from(s.error_count)),
                ]
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v)),
            );
        }
        c.extend(self.extras.counters());
        c
    }
}

/// The engine's device on the simulated NIC whose wire is a TAP (see the module docs), built
/// by [`SimTapNic::create`]. Dropping it closes the queue pair, disables the NIC and stops its
/// thread, in that order.
pub type SimTapNic = DriverNic<SimDevice, SimTapParts>;

/// What a [`SimTapNic`] keeps besides the driver: the simulated NIC's thread and the wire's
/// impairment monitor.
pub struct SimTapParts {
    _thread: NicThread,
    impairment: Option<ImpairMonitor>,
}

impl fmt::Debug for SimTapParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimTapParts")
            .field("impaired", &self.impairment.is_some())
            .finish_non_exhaustive()
    }
}

impl DriverNic<SimDevice, SimTapParts> {
    /// Builds the stack (see the module docs).
    ///
    /// # Errors
    /// The backend is not available, the TAP cannot be opened, or the driver fails.
    pub fn create(cfg: &SimTapNicConfig) -> Result<SimTapNic, SimNicError> {
        let mut dcfg = DeviceConfig::REFERENCE;
        dcfg.irq_vectors = dcfg.irq_vectors.max(1);
        let core = build_core(cfg.backend, dcfg).map_err(SimNicError::Backend)?;
        let tap_err = |source| SimNicError::Tap {
            name: cfg.tap.clone(),
            source,
        };
        let port = TapPort::open(&cfg.tap).map_err(tap_err)?;
        set_link_up(port.name()).map_err(|e: TapError| tap_err(io::Error::other(e.to_string())))?;
        let mut port: Box<dyn Port> = Box::new(port);
        let mut impairment = None;
        if !cfg.impairment.is_none() {
            // Inside the capture: the capture records the NIC's side of the impaired wire.
            let impaired = Impaired::new(port, cfg.impairment, TAP_MAX_FRAME).map_err(|e| {
                SimNicError::Link(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the wire's impairment: {e}"),
                ))
            })?;
            impairment = Some(impaired.monitor());
            port = Box::new(impaired);
        }
        let port: Box<dyn Port> = match &cfg.capture {
            Some(path) => Box::new(WireCapture::new(port, path).map_err(|e| {
                SimNicError::Capture(io::Error::new(
                    e.kind(),
                    format!("creating {}: {e}", path.display()),
                ))
            })?),
            None => port,
        };
        let rtl = match cfg.backend {
            Backend::Rtl => rtl_sim::nic::rtl_build_summary()
                .map(|s| format!(", {s}"))
                .unwrap_or_default(),
            Backend::Model => String::new(),
        };
        let description = format!(
            "simulated ferrotoe NIC (backend {:?}{rtl}) through its driver, wire {}",
            cfg.backend,
            port.describe()
        );
        let link = DeviceLink::create_anonymous(&LinkConfig {
            irq_vectors: dcfg.irq_vectors.into(),
            ..LinkConfig::default()
        })
        .map_err(|e| SimNicError::Link(io::Error::other(e.to_string())))?;
        let thread = SimNic::new(core, link, port, Clock::Real(Instant::now()))
            .spawn()
            .map_err(SimNicError::Link)?;
        let dev = SimDevice::attach(
            thread.paths(),
            AttachOptions {
                timeout: cfg.timeout,
                force: false,
            },
        )?;
        let setup = NicSetup {
            mtu: cfg.mtu,
            timeout: cfg.timeout,
        };
        let parts = SimTapParts {
            _thread: thread,
            impairment,
        };
        Ok(DriverNic::open(dev, description, &setup, parts)?)
    }

    /// What the wire's impairment did so far, when it is impaired.
    pub fn impairment(&self) -> Option<&ImpairMonitor> {
        self.extras.impairment.as_ref()
    }
}

impl NicExtras for SimTapParts {
    fn counters(&self) -> Vec<(String, u64)> {
        let mut c = Vec::new();
        if let Some(m) = &self.impairment {
            for (dir, s) in [("to_kernel", m.transmitted()), ("to_nic", m.received())] {
                c.extend(
                    [
                        ("frames", s.frames),
                        ("lost", s.lost),
                        ("duplicated", s.duplicated),
                        ("reordered", s.reordered),
                        ("corrupted", s.corrupted),
                        ("ce_marked", s.ce_marked),
                    ]
                    .into_iter()
                    .map(|(n, v)| (format!("impair_{dir}_{n}"), v)),
                );
            }
            c.push((
                "impair_to_nic_queue_overflow".to_owned(),
                m.receive_overflow(),
            ));
            let queues = [
                ("to_kernel", m.transmit_bottleneck()),
                ("to_nic", m.receive_bottleneck()),
            ];
            for (dir, q) in queues.into_iter().filter(|(_, q)| q.offered > 0) {
                c.extend(
                    [
                        ("offered", q.offered),
                        ("delivered", q.delivered),
                        ("drops", q.drops),
                        ("ce_marked", q.ce_marked),
                        ("peak_frames", q.peak_queue.into()),
                    ]
                    .into_iter()
                    .map(|(n, v)| (format!("bottleneck_{dir}_{n}"), v)),
                );
            }
        }
        c
    }
}
