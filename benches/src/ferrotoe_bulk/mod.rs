//! The bulk workload on ferrotoe's own engine (`tcp-engine`), the stack every figure of the
//! benchmark is about.
//!
//! Does the work of [`crate::smoltcp_bulk`] with our [`tcp_engine::endpoint::Endpoint`]: two endpoints (client and
//! server) over a pair of frame devices, one thread polling the client and then the server,
//! one TCP connection, [`BulkConfig::bytes`] from client to server. Each iteration of the loop
//! reads the wall clock once, polls both endpoints, lets the client application fill its send
//! buffer (copying the pattern in, straight into the buffer, when verifying) and lets the
//! server application drain its receive buffer (comparing with the pattern in place when
//! verifying): the same four passes over the data as the smoltcp workload (pattern to send
//! buffer, send buffer to frame, frame to receive buffer, receive buffer against the pattern).
//! Socket buffers, Nagle and the per-poll receive limit come from the config; the handshake
//! (ARP included) is inside the timed run, as for smoltcp.
//!
//! ## Backends: the seam
//! The transfer loop ([`FerrotoeTransfer`]) is generic over [`BulkDevices`]: a pair of
//! [`FrameDevice`]s and whatever must run between polls to move frames (nothing for the
//! in-memory link; stepping the simulated NIC for the `model` and `rtl` backends). The one
//! place that picks a backend is [`FerrotoeBulk::prepare`] (and [`FerrotoeBulk::supports`]),
//! which dispatches on [`BulkConfig::backend`]: a new backend is a module implementing
//! [`BulkDevices`] plus one match arm there; the workload code does not change. The
//! engine's configuration follows the devices' [`OffloadCaps`](tcp_engine::device::OffloadCaps).
//!
//! Backends today: [`link`] (the in-memory link of `tcp_engine::link`); `model` and `rtl` are
//! handed to the two simulated hosts of [`crate::sim_hosts`] (engine + driver + simulated NIC).
//!
//! Owns the ferrotoe harness only. Must not time itself: the runner measures
//! [`BulkRun::run`].

pub mod link;

use tcp_engine::device::FrameDevice;
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig};
use tcp_engine::table::{HashSecret, SlotKey};
use tcp_engine::tcb::{Events, RingBuffer, TcbConfig};
use tcp_engine::time::StdClock;
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

use crate::pattern::Pattern;
use crate::workload::{
    Backend, BulkConfig, BulkCounts, BulkError, BulkRun, BulkStack, Congestion, Unsupported,
};

const NAME: &str = "ferrotoe";
/// The server's port.
const SERVER_PORT: u16 = 5000;
/// Addresses from the benchmarking range (RFC 2544), never routed anywhere.
const CLIENT_IP: [u8; 4] = [198, 18, 0, 1];
const SERVER_IP: [u8; 4] = [198, 18, 0, 2];
/// Connection slots of each endpoint (one connection, one listening slot, room to spare).
const SLOTS: usize = 4;

/// The endpoint type of the workload: heap storage, two rings per connection.
type Endpoint = BoxedEndpoint<Buffers<RingBuffer<Box<[u8]>>>>;

/// What the transfer loop needs from a backend: the two ends' frame devices and a way to let
/// simulated hardware move frames between polls.
///
/// Implemented by [`link::LinkDevices`]; the simulated NIC backends implement it in their own
/// module and are picked in [`FerrotoeBulk::prepare`].
pub trait BulkDevices {
    /// The frame device of each end.
    type Device: FrameDevice;

    /// The client's and the server's device, in that order.
    fn ends(&mut self) -> (&mut Self::Device, &mut Self::Device);

    /// Runs whatever moves frames between the ends outside the devices' own calls (a simulated
    /// NIC's engines, a cable); called once per iteration of the loop, after both endpoints
    /// were polled. Devices that deliver on `transmit` do nothing.
    fn service(&mut self) {}

    /// What crossed the wire so far: data frames, their bytes and reverse frames, counted as a
    /// real wire would carry them (TSO super-frames as the segments they stand for), and the
    /// client's transmit requests.
    fn wire_counts(&self) -> WireCounts;
}

/// Frames and bytes on the wire, as [`BulkDevices::wire_counts`] reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireCounts {
    /// Frames from client to server, after TSO segmentation.
    pub data_frames: u64,
    /// Bytes of those frames, Ethernet headers included.
    pub data_wire_bytes: u64,
    /// Frames from server to client.
    pub reverse_frames: u64,
    /// Transmit requests of the client (a TSO super-frame counts once).
    pub tx_requests: u64,
}

/// The ferrotoe stack for the runner.
#[derive(Clone, Copy, Debug, Default)]
pub struct FerrotoeBulk;

impl BulkStack for FerrotoeBulk {
    fn name(&self) -> &'static str {
        NAME
    }

    fn supports(&self, config: &BulkConfig) -> Result<(), Unsupported> {
        let reason = match (config.congestion, config.backend) {
            (Congestion::None, _) => {
                "the engine always runs a congestion window (NewReno or CUBIC): run with \
                 --cc reno or --cc cubic"
            }
            // Two simulated hosts (engine + driver + simulated NIC) joined by a cable.
            (Congestion::Reno | Congestion::Cubic, Backend::Model | Backend::Rtl) => {
                return crate::sim_hosts::FerrotoeSimBulk.supports(config);
            }
            (Congestion::Reno | Congestion::Cubic, Backend::Link) => return Ok(()),
        };
        Err(Unsupported {
            stack: NAME.into(),
            reason: reason.into(),
        })
    }

    fn prepare(&self, config: &BulkConfig) -> Result<Box<dyn BulkRun>, BulkError> {
        config.validate()?;
        self.supports(config)?;
        // The backend seam: one arm per backend, each building its devices.
        match config.backend {
            Backend::Link => Ok(Box::new(FerrotoeTransfer::new(
                *config,
                link::LinkDevices::new(config)?,
            )?)),
            Backend::Model | Backend::Rtl => crate::sim_hosts::bulk_run(config),
        }
    }
}

fn setup_error(detail: String) -> BulkError {
    BulkError::setup(NAME, detail)
}

fn transfer_error(detail: String) -> BulkError {
    BulkError::transfer(NAME, detail)
}

/// The connection settings of both ends for `config`: the RFC defaults (window scaling,
/// timestamps, SACK, 40 ms delayed ACK with an ACK at least every second full segment), the
/// MSS of the MTU, Nagle and the congestion control as asked (NewReno for
/// [`Congestion::None`], which [`FerrotoeBulk::supports`] refuses).
pub fn tcb_config(config: &BulkConfig) -> TcbConfig {
    TcbConfig {
        nagle: config.nagle,
        congestion: config.congestion.engine().unwrap_or_default(),
        ..TcbConfig::RFC.with_mtu(config.mtu)
    }
}

/// One end's endpoint over `device`'s offloads, its connections set up as `tcb`.
fn endpoint<D: FrameDevice>(
    device: &D,
    host: u8,
    ip: [u8; 4],
    config: &BulkConfig,
    tcb: TcbConfig,
) -> Result<Endpoint, BulkError> {
    let [a, b, c, d] = ip;
    let address = Ipv4Cidr::new(Ipv4Address::new(a, b, c, d), 24)
        .ok_or_else(|| setup_error("the benchmark's /24 prefix is invalid".into()))?;
    let secret = HashSecret::from_os_random()
        .map_err(|e| setup_error(format!("reading a hash secret from the OS: {e}")))?;
    let mut ep_config = EndpointConfig::new(
        EthernetAddress([0x02, 0, 0, 0, 0, host]),
        address,
        device.caps(),
        secret,
    );
    ep_config.tcb = tcb;
    // No limit unless asked (smoltcp's interface drains its device the same way).
    ep_config.rx_burst = config.rx_burst.map_or(usize::MAX, |burst| burst as usize);

    Endpoint::with_capacity(ep_config, SLOTS)
        .map_err(|e| setup_error(format!("building the endpoint of 198.18.0.{host}: {e}")))
}

/// One prepared ferrotoe transfer over devices `D`.
pub struct FerrotoeTransfer<D: BulkDevices> {
    config: BulkConfig,
    devices: D,
    client: Endpoint,
    server: Endpoint,
    /// The client connection's buffers until `run` connects.
    client_buffers: Option<Buffers<RingBuffer<Box<[u8]>>>>,
    pattern: Option<Pattern>,
    /// The server reads in-order payload straight from received frames when its receive
    /// buffer is empty (zero-copy receive); `false` reads everything from the buffer.
    zero_copy_receive: bool,
    ran: bool,
}

impl<D: BulkDevices> FerrotoeTransfer<D> {
    /// Builds both endpoints over `devices` (the server listening) and the pattern, with the
    /// connection settings of [`tcb_config`].
    pub fn new(config: BulkConfig, devices: D) -> Result<FerrotoeTransfer<D>, BulkError> {
        Self::with_tcb_config(config, devices, tcb_config(&config))
    }

    /// [`new`](Self::new) with other connection settings (e.g. a short minimum RTO over an
    /// impaired link).
    pub fn with_tcb_config(
        config: BulkConfig,
        mut devices: D,
        tcb: TcbConfig,
    ) -> Result<FerrotoeTransfer<D>, BulkError> {
        let (client_dev, server_dev) = devices.ends();
        let client = endpoint(client_dev, 1, CLIENT_IP, &config, tcb)?;
        let mut server = endpoint(server_dev, 2, SERVER_IP, &config, tcb)?;
        let size = config.socket_buffer;
        server
            .listen(SERVER_PORT, Buffers::with_capacity(size, size))
            .map_err(|(e, _)| setup_error(format!("listen on port {SERVER_PORT}: {e}")))?;
        Ok(FerrotoeTransfer {
            config,
            devices,
            client,
            server,
            client_buffers: Some(Buffers::with_capacity(size, size)),
            pattern: config.verify.then(|| Pattern::new(size)),
            zero_copy_receive: true,
            ran: false,
        })
    }

    /// Turns zero-copy receive on (the default) or off (every byte goes through the server's
    /// receive buffer: one more copy per byte), to measure what it buys.
    pub fn set_zero_copy_receive(&mut self, on: bool) {
        self.zero_copy_receive = on;
    }

    /// The backend's devices (counters, tests).
    pub fn devices(&self) -> &D {
        &self.devices
    }

    fn state(&self, conn: SlotKey, accepted: Option<SlotKey>) -> String {
        let client = self.client.state(conn);
        let queued = self.client.buffers(conn).map_or(0, |b| b.send.len());
        let (server, unread) = match accepted {
            Some(key) => (
                format!("{:?}", self.server.state(key)),
                self.server.buffers(key).map_or(0, |b| b.recv.len()),
            ),
            None => ("not accepted yet".into(), 0),
        };
        format!(
            "client {client:?} with {queued} bytes queued, server {server} with {unread} bytes unread"
        )
    }
}

impl<D: BulkDevices> BulkRun for FerrotoeTransfer<D> {
    fn run(&mut self) -> Result<BulkCounts, BulkError> {
        if std::mem::replace(&mut self.ran, true) {
            return Err(BulkError::AlreadyRun { stack: NAME });
        }
        let total = self.config.bytes;
        let stall = self.config.stall_timeout;
        let buffers = self
            .client_buffers
            .take()
            .ok_or(BulkError::AlreadyRun { stack: NAME })?;
        let clock = StdClock::new();
        let [a, b, c, d] = SERVER_IP;
        let conn = self
            .client
            .connect(
                clock.now(),
                Ipv4Address::new(a, b, c, d),
                SERVER_PORT,
                buffers,
            )
            .map_err(|(e, _)| setup_error(format!("connect to port {SERVER_PORT}: {e}")))?;

        let (mut sent, mut received, mut polls) = (0u64, 0u64, 0u64);
        let mut accepted: Option<SlotKey> = None;
        let mut failure: Option<String> = None;
        let stall = tcp_engine::time::Duration::from(stall);
        let mut last_progress = (0u64, clock.now());
        while received < total {
            polls += 1;
            let now = clock.now();
            let (client_dev, server_dev) = self.devices.ends();
            self.client.poll(now, client_dev, |_, open| {
                if open.events.contains(Events::RESET) || open.events.contains(Events::CLOSED) {
                    failure = Some(format!("the client connection ended: {:?}", open.events));
                }
            });
            let pattern = self.pattern.as_ref();
            let zero_copy = self.zero_copy_receive;
            // Zero-copy receive: in-order payload arriving while the receive buffer is empty
            // is compared with the pattern straight in the received frame; the rest is read
            // from the receive buffer below.
            let mut direct_mismatch = None;
            self.server.poll_direct(
                now,
                server_dev,
                |_, open| {
                    if open.events.contains(Events::SYN_TO_LISTENER) {
                        accepted = Some(open.key);
                    } else if open.events.contains(Events::RESET)
                        || open.events.contains(Events::CLOSED)
                    {
                        failure = Some(format!("the server connection ended: {:?}", open.events));
                    }
                },
                |_key, data: &[u8]| {
                    if !zero_copy {
                        return 0;
                    }
                    if let Some(p) = pattern {
                        if direct_mismatch.is_none() {
                            direct_mismatch = p.check(received, data).err();
                        }
                    }
                    received += data.len() as u64;
                    data.len()
                },
            );
            self.devices.service();
            if let Some(why) = failure.take() {
                return Err(transfer_error(why));
            }
            if let Some(m) = direct_mismatch {
                return Err(BulkError::Corrupt {
                    stack: NAME,
                    offset: m.offset,
                });
            }

            while sent < total {
                let n = self
                    .client
                    .write_with(conn, |free| {
                        let n = free.len().min((total - sent) as usize);
                        if let Some(p) = pattern {
                            p.fill(sent, &mut free[..n]);
                        }
                        n
                    })
                    .map_err(|e| transfer_error(format!("write on the client: {e}")))?;
                if n == 0 {
                    break;
                }
                sent += n as u64;
            }

            if let Some(key) = accepted {
                loop {
                    let mut mismatch = None;
                    let n = self
                        .server
                        .read_with(key, |data| {
                            if let Some(p) = pattern {
                                mismatch = p.check(received, data).err();
                            }
                            data.len()
                        })
                        .map_err(|e| transfer_error(format!("read on the server: {e}")))?;
                    if let Some(m) = mismatch {
                        return Err(BulkError::Corrupt {
                            stack: NAME,
                            offset: m.offset,
                        });
                    }
                    if n == 0 {
                        break;
                    }
                    received += n as u64;
                }
            }

            if received != last_progress.0 {
                last_progress = (received, now);
            } else if now - last_progress.1 > stall {
                return Err(BulkError::Stalled {
                    stack: NAME,
                    delivered: received,
                    expected: total,
                    state: self.state(conn, accepted),
                });
            }
        }

        let wire = self.devices.wire_counts();
        let retransmissions = self
            .client
            .tcb(conn)
            .map(|t| u64::from(t.counters().retransmitted_segments));
        Ok(BulkCounts {
            bytes: received,
            verified: self.config.verify,
            data_frames: wire.data_frames,
            data_wire_bytes: wire.data_wire_bytes,
            reverse_frames: wire.reverse_frames,
            tx_requests: wire.tx_requests,
            polls,
            retransmissions,
            nic_cpu: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::OffloadMode;
    use tcp_engine::link::{Impairments, Loss};

    fn small(bytes: u64) -> BulkConfig {
        BulkConfig {
            bytes,
            socket_buffer: 64 << 10,
            ..BulkConfig::REFERENCE
        }
    }

    #[test]
    fn moves_every_byte_verified_in_every_mode_and_mtu() {
        for mtu in [1500u16, 9000] {
            for offload in OffloadMode::ALL {
                let config = BulkConfig {
                    mtu,
                    offload,
                    ..small(3 << 20)
                };
                let counts = FerrotoeBulk.prepare(&config).unwrap().run().unwrap();
                assert_eq!(counts.bytes, 3 << 20, "{mtu} {offload}");
                assert!(counts.verified);
                assert_eq!(counts.retransmissions, Some(0), "a perfect link");
                // Frames as a wire carries them: at least one per MSS, none beyond the MTU.
                let mss = u64::from(mtu) - 40 - 12;
                assert!(counts.data_frames >= (3 << 20) / mss, "{counts:?}");
                assert!(counts.data_wire_bytes <= counts.data_frames * (u64::from(mtu) + 14));
                assert!(counts.data_wire_bytes > 3 << 20);
                match offload {
                    OffloadMode::Tso => assert!(
                        counts.tx_requests * 2 < counts.data_frames,
                        "TSO: super-frames stand for several wire frames: {counts:?}"
                    ),
                    _ => assert_eq!(counts.tx_requests, counts.data_frames, "{counts:?}"),
                }
                assert!(counts.reverse_frames > 0 && counts.polls > 0);
            }
        }
    }

    #[test]
    fn honours_burst_and_nagle_knobs() {
        for config in [
            BulkConfig {
                rx_burst: Some(4),
                ..small(512 << 10)
            },
            BulkConfig {
                nagle: false,
                verify: false,
                ..small(512 << 10)
            },
        ] {
            let counts = FerrotoeBulk.prepare(&config).unwrap().run().unwrap();
            assert_eq!(counts.bytes, 512 << 10, "{config:?}");
            assert_eq!(counts.verified, config.verify);
        }
    }

    #[test]
    fn recovers_every_byte_over_a_lossy_corrupting_link() {
        // The workload loop over an impaired link: lost and corrupted frames are recovered by
        // the engine (checksums verified in software, or by the link's "NIC" for corrupted
        // frames when offloaded) and the application still sees the exact pattern.
        for (offload, congestion) in [
            (OffloadMode::None, Congestion::Reno),
            (OffloadMode::Csum, Congestion::Cubic),
        ] {
            let config = BulkConfig {
                offload,
                congestion,
                ..small(1 << 20)
            };
            let mut link = link::link_config(&config);
            link = link.impaired(Impairments {
                loss: Loss::Uniform(0.01),
                corrupt: 0.01,
                ..Impairments::NONE
            });
            let devices = link::LinkDevices::with_link(&link).unwrap();
            // Retransmission timeouts in real time: a data-center minimum RTO keeps them short.
            let tcb = TcbConfig {
                rto_min: tcp_engine::time::Duration::from_millis(5),
                rto_initial: tcp_engine::time::Duration::from_millis(50),
                ..tcb_config(&config)
            };
            let mut transfer = FerrotoeTransfer::with_tcb_config(config, devices, tcb).unwrap();
            let counts = transfer.run().unwrap();
            assert_eq!(counts.bytes, 1 << 20);
            assert!(counts.retransmissions.unwrap() > 0, "{counts:?}");
            let sent = transfer.devices().client().link_end().sent_counters();
            assert!(sent.lost > 0 && sent.corrupted > 0, "{sent:?}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_run_and_hands_simulated_nics_to_the_sim_hosts() {
        let stack = FerrotoeBulk;
        let err = stack
            .supports(&BulkConfig {
                congestion: Congestion::None,
                ..BulkConfig::REFERENCE
            })
            .unwrap_err();
        assert!(err.reason.contains("--cc cubic"), "{err}");
        stack.supports(&BulkConfig::REFERENCE).unwrap();
        let cubic = BulkConfig {
            congestion: Congestion::Cubic,
            ..BulkConfig::REFERENCE
        };
        stack.supports(&cubic).unwrap();
        assert_eq!(
            tcb_config(&cubic).congestion,
            tcp_engine::tcb::CongestionControl::Cubic
        );
        // The simulated-NIC backends are the two simulated hosts' workload, with its verdict.
        for backend in [Backend::Model, Backend::Rtl] {
            let config = BulkConfig {
                backend,
                ..BulkConfig::REFERENCE
            };
            assert_eq!(
                stack.supports(&config),
                crate::sim_hosts::FerrotoeSimBulk.supports(&config)
            );
        }
        let model = BulkConfig {
            backend: Backend::Model,
            ..small(64 << 10)
        };
        let counts = stack.prepare(&model).unwrap().run().unwrap();
        assert_eq!(counts.bytes, 64 << 10);
        let rtl = BulkConfig {
            backend: Backend::Rtl,
            ..BulkConfig::REFERENCE
        };
        assert_eq!(
            stack.supports(&rtl).is_ok(),
            rtl_sim::nic::RTL_AVAILABLE,
            "the RTL backend runs exactly when this build has it"
        );
    }

    #[test]
    fn zero_copy_receive_verifies_in_the_frame_and_can_be_turned_off() {
        for zero_copy in [true, false] {
            let config = small(2 << 20);
            let devices = link::LinkDevices::new(&config).unwrap();
            let mut transfer = FerrotoeTransfer::new(config, devices).unwrap();
            transfer.set_zero_copy_receive(zero_copy);
            let counts = transfer.run().unwrap();
            assert_eq!(counts.bytes, 2 << 20);
            let direct = transfer.server.counters().rx_direct_bytes;
            if zero_copy {
                // Nearly everything is read in the frames (the buffer is drained every round).
                assert!(direct > (2 << 20) / 2, "{direct}");
            } else {
                assert_eq!(direct, 0);
            }
        }
    }

    #[test]
    fn a_transfer_runs_once() {
        let mut transfer = FerrotoeBulk.prepare(&small(16 << 10)).unwrap();
        transfer.run().unwrap();
        assert!(matches!(transfer.run(), Err(BulkError::AlreadyRun { .. })));
    }
}
