//! The bulk workload on smoltcp 0.14: the peer baseline, measured inside our harness.
//!
//! Does the work of `../shared/baselines/smoltcp-bulk` (our own code, same work): two smoltcp
//! `Interface`s joined by an in-memory Ethernet wire, one thread polling the client and then
//! the server, one TCP connection, [`BulkConfig::bytes`] from client to server. Each iteration
//! of the loop polls both interfaces with the wall-clock time, lets the client application
//! fill its send buffer (copying the pattern in when verifying) and lets the server
//! application drain its receive buffer (comparing with the pattern when verifying). Socket
//! buffers, congestion control, Nagle and the per-poll receive limit come from the config.
//! Offload modes: `csum` tells smoltcp the device handles checksums (it then neither computes
//! nor checks them, as `smoltcp-bulk` does by default); `none` makes smoltcp compute and verify
//! every checksum in software (`CSUM=1`). smoltcp has no TSO and runs only over this wire.
//!
//! The wire keeps a free list of frame buffers sized at set-up, so the timed loop moves
//! buffers between queues without allocating (it allocates, and counts it, only if the list
//! runs dry).
//!
//! Measured behaviour worth knowing when reading its figures: smoltcp's receiver often holds
//! its first ACK for the whole 10 ms delayed-ACK time, so a transfer may idle (busy-polling) for
//! 10 ms right after the handshake; that is about 5 % of a 1 GiB run and more of shorter ones.
//! `smoltcp-bulk` does the same; this harness keeps smoltcp's defaults so the work stays equal.
//!
//! Owns the smoltcp harness only. Must not time itself: the runner measures
//! [`BulkRun::run`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use crate::pattern::Pattern;
use crate::workload::{
    Backend, BulkConfig, BulkCounts, BulkError, BulkRun, BulkStack, Congestion, OffloadMode,
    Unsupported,
};

const NAME: &str = "smoltcp";
/// Lane of frames from client to server.
const DATA_LANE: usize = 0;
/// Lane of frames from server to client.
const ACK_LANE: usize = 1;
/// The server's port; the client's ephemeral port.
const SERVER_PORT: u16 = 5000;
const CLIENT_PORT: u16 = 40_000;
/// Addresses from the benchmarking range (RFC 2544), never routed anywhere.
const CLIENT_IP: [u8; 4] = [198, 18, 0, 1];
const SERVER_IP: [u8; 4] = [198, 18, 0, 2];
/// The wire pre-allocates at most this much frame memory; beyond it, buffers are allocated
/// when first needed (and counted).
const MAX_PREALLOCATED_FRAME_BYTES: usize = 64 << 20;

/// The smoltcp stack for the runner.
#[derive(Clone, Copy, Debug, Default)]
pub struct SmoltcpBulk;

impl BulkStack for SmoltcpBulk {
    fn name(&self) -> &'static str {
        NAME
    }

    fn supports(&self, config: &BulkConfig) -> Result<(), Unsupported> {
        let reason = match (config.offload, config.backend) {
            (OffloadMode::Tso, _) => "smoltcp 0.14 has no TCP segmentation offload",
            (_, Backend::Model | Backend::Rtl) => {
                "smoltcp runs over its in-memory Ethernet wire only (no adapter to the \
                 simulated NIC's driver exists)"
            }
            (OffloadMode::None | OffloadMode::Csum, Backend::Link) => return Ok(()),
        };
        Err(Unsupported {
            stack: NAME.into(),
            reason: reason.into(),
        })
    }

    fn prepare(&self, config: &BulkConfig) -> Result<Box<dyn BulkRun>, BulkError> {
        config.validate()?;
        self.supports(config)?;
        Ok(Box::new(SmoltcpTransfer::new(*config)))
    }
}

/// A frame on the wire: a buffer of the wire's frame capacity and the bytes used.
struct Frame {
    buf: Box<[u8]>,
    len: usize,
}

/// Two one-way frame queues and the free list of buffers they share.
struct Wire {
    lanes: [RefCell<VecDeque<Frame>>; 2],
    free: RefCell<Vec<Box<[u8]>>>,
    frame_capacity: usize,
    /// Frames taken off each lane by the receiving end.
    received_frames: [Cell<u64>; 2],
    /// Bytes of those frames.
    received_bytes: [Cell<u64>; 2],
    /// Frames put on each lane.
    sent_frames: [Cell<u64>; 2],
    /// Buffers allocated after set-up because the free list was empty.
    late_allocations: Cell<u64>,
    /// Tests only: flip a payload bit of the data frame with this index (0-based).
    #[cfg(test)]
    corrupt_data_frame: Cell<Option<u64>>,
}

impl Wire {
    fn new(frame_capacity: usize, preallocated: usize) -> Wire {
        let free = (0..preallocated)
            .map(|_| vec![0u8; frame_capacity].into_boxed_slice())
            .collect();
        Wire {
            lanes: [
                RefCell::new(VecDeque::with_capacity(preallocated)),
                RefCell::new(VecDeque::with_capacity(preallocated)),
            ],
            free: RefCell::new(free),
            frame_capacity,
            received_frames: Default::default(),
            received_bytes: Default::default(),
            sent_frames: Default::default(),
            late_allocations: Cell::new(0),
            #[cfg(test)]
            corrupt_data_frame: Cell::new(None),
        }
    }

    fn take_buffer(&self, len: usize) -> Box<[u8]> {
        match self.free.borrow_mut().pop() {
            Some(buf) if buf.len() >= len => buf,
            _ => {
                self.late_allocations.set(self.late_allocations.get() + 1);
                vec![0u8; len.max(self.frame_capacity)].into_boxed_slice()
            }
        }
    }
}

/// One end's attachment to the wire: smoltcp's `Device`.
struct Port<'w> {
    wire: &'w Wire,
    rx_lane: usize,
    tx_lane: usize,
    capabilities: DeviceCapabilities,
    /// Frames this end may still receive in the current poll.
    rx_budget: u32,
}

impl<'w> Port<'w> {
    fn new(wire: &'w Wire, rx_lane: usize, config: &BulkConfig) -> Port<'w> {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = config.max_frame_len();
        capabilities.checksum = match config.offload {
            OffloadMode::None => ChecksumCapabilities::default(),
            OffloadMode::Csum | OffloadMode::Tso => ChecksumCapabilities::ignored(),
        };
        Port {
            wire,
            rx_lane,
            tx_lane: 1 - rx_lane,
            capabilities,
            rx_budget: u32::MAX,
        }
    }
}

struct RxFrame<'a> {
    wire: &'a Wire,
    frame: Frame,
}

struct TxSlot<'a> {
    wire: &'a Wire,
    lane: usize,
}

impl phy::RxToken for RxFrame<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(&self.frame.buf[..self.frame.len]);
        self.wire.free.borrow_mut().push(self.frame.buf);
        result
    }
}

impl phy::TxToken for TxSlot<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.wire.take_buffer(len);
        let result = f(&mut buf[..len]);
        #[cfg(test)]
        if self.lane == DATA_LANE
            && self.wire.corrupt_data_frame.get() == Some(self.wire.sent_frames[DATA_LANE].get())
            && len > 100
        {
            buf[len - 1] ^= 0x10;
        }
        self.wire.lanes[self.lane]
            .borrow_mut()
            .push_back(Frame { buf, len });
        let sent = &self.wire.sent_frames[self.lane];
        sent.set(sent.get() + 1);
        result
    }
}

impl phy::Device for Port<'_> {
    type RxToken<'a>
        = RxFrame<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxSlot<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: SmolInstant) -> Option<(RxFrame<'_>, TxSlot<'_>)> {
        if self.rx_budget == 0 {
            return None;
        }
        let frame = self.wire.lanes[self.rx_lane].borrow_mut().pop_front()?;
        self.rx_budget -= 1;
        let lane = self.rx_lane;
        let frames = &self.wire.received_frames[lane];
        frames.set(frames.get() + 1);
        let bytes = &self.wire.received_bytes[lane];
        bytes.set(bytes.get() + frame.len as u64);
        Some((
            RxFrame {
                wire: self.wire,
                frame,
            },
            TxSlot {
                wire: self.wire,
                lane: self.tx_lane,
            },
        ))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<TxSlot<'_>> {
        Some(TxSlot {
            wire: self.wire,
            lane: self.tx_lane,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.capabilities.clone()
    }
}

/// One end: interface, its socket set and the one TCP socket.
struct End {
    iface: Interface,
    sockets: SocketSet<'static>,
    socket: SocketHandle,
}

impl End {
    fn new(port: &mut Port<'_>, mac: u8, ip: [u8; 4], config: &BulkConfig) -> End {
        let hardware = HardwareAddress::Ethernet(EthernetAddress([0x02, 0, 0, 0, 0, mac]));
        let mut iface = Interface::new(Config::new(hardware), port, SmolInstant::now());
        iface.update_ip_addrs(|addrs| {
            // One address into an empty list of capacity >= 1 cannot fail.
            let _ = addrs.push(IpCidr::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), 24));
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; config.socket_buffer]),
            tcp::SocketBuffer::new(vec![0u8; config.socket_buffer]),
        );
        socket.set_congestion_control(match config.congestion {
            Congestion::None => tcp::CongestionControl::None,
            Congestion::Reno => tcp::CongestionControl::Reno,
            Congestion::Cubic => tcp::CongestionControl::Cubic,
        });
        socket.set_nagle_enabled(config.nagle);
        let mut sockets = SocketSet::new(Vec::with_capacity(1));
        let socket = sockets.add(socket);
        End {
            iface,
            sockets,
            socket,
        }
    }

    fn tcp(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.socket)
    }
}

/// One prepared smoltcp transfer.
struct SmoltcpTransfer {
    config: BulkConfig,
    wire: Wire,
    client: End,
    server: End,
    pattern: Option<Pattern>,
    ran: bool,
}

impl SmoltcpTransfer {
    fn new(config: BulkConfig) -> SmoltcpTransfer {
        let mss = usize::from(config.mtu) - 40;
        let frame_capacity = config.max_frame_len();
        let wanted = config.socket_buffer.div_ceil(mss) + 64;
        let preallocated = wanted.min(MAX_PREALLOCATED_FRAME_BYTES / frame_capacity);
        let wire = Wire::new(frame_capacity, preallocated);
        let client = End::new(
            &mut Port::new(&wire, ACK_LANE, &config),
            1,
            CLIENT_IP,
            &config,
        );
        let server = End::new(
            &mut Port::new(&wire, DATA_LANE, &config),
            2,
            SERVER_IP,
            &config,
        );
        let pattern = config.verify.then(|| Pattern::new(config.socket_buffer));
        SmoltcpTransfer {
            config,
            wire,
            client,
            server,
            pattern,
            ran: false,
        }
    }

    fn setup_error(detail: String) -> BulkError {
        BulkError::setup(NAME, detail)
    }

    fn transfer_error(detail: String) -> BulkError {
        BulkError::transfer(NAME, detail)
    }

    fn state(&mut self) -> String {
        let client = self.client.tcp();
        let (c_state, c_queue) = (client.state(), client.send_queue());
        let server = self.server.tcp();
        format!(
            "client {c_state} with {c_queue} bytes queued, server {} with {} bytes unread",
            server.state(),
            server.recv_queue()
        )
    }
}

impl BulkRun for SmoltcpTransfer {
    fn run(&mut self) -> Result<BulkCounts, BulkError> {
        if std::mem::replace(&mut self.ran, true) {
            return Err(BulkError::AlreadyRun { stack: NAME });
        }
        let config = self.config;
        let total = config.bytes;
        let burst = config.rx_burst.unwrap_or(u32::MAX);
        let stall_us = i64::try_from(config.stall_timeout.as_micros()).unwrap_or(i64::MAX);
        let mut client_port = Port::new(&self.wire, ACK_LANE, &config);
        let mut server_port = Port::new(&self.wire, DATA_LANE, &config);

        self.server
            .tcp()
            .listen(SERVER_PORT)
            .map_err(|e| Self::setup_error(format!("listen on port {SERVER_PORT}: {e}")))?;
        let [a, b, c, d] = SERVER_IP;
        let client_socket = self
            .client
            .sockets
            .get_mut::<tcp::Socket>(self.client.socket);
        client_socket
            .connect(
                self.client.iface.context(),
                (IpAddress::v4(a, b, c, d), SERVER_PORT),
                CLIENT_PORT,
            )
            .map_err(|e| Self::setup_error(format!("connect to port {SERVER_PORT}: {e}")))?;

        let (mut sent, mut received, mut polls) = (0u64, 0u64, 0u64);
        let mut last_progress = (0u64, SmolInstant::now());
        while received < total {
            polls += 1;
            let now = SmolInstant::now();
            client_port.rx_budget = burst;
            server_port.rx_budget = burst;
            self.client
                .iface
                .poll(now, &mut client_port, &mut self.client.sockets);
            self.server
                .iface
                .poll(now, &mut server_port, &mut self.server.sockets);

            let client = self
                .client
                .sockets
                .get_mut::<tcp::Socket>(self.client.socket);
            let pattern = self.pattern.as_ref();
            while sent < total && client.can_send() {
                let accepted = client
                    .send(|buf| {
                        let n = buf.len().min((total - sent) as usize);
                        if let Some(p) = pattern {
                            p.fill(sent, &mut buf[..n]);
                        }
                        (n, n)
                    })
                    .map_err(|e| Self::transfer_error(format!("send on the client socket: {e}")))?;
                if accepted == 0 {
                    break;
                }
                sent += accepted as u64;
            }

            let server = self
                .server
                .sockets
                .get_mut::<tcp::Socket>(self.server.socket);
            while server.can_recv() {
                let (n, verdict) = server
                    .recv(|buf| {
                        let verdict = match pattern {
                            Some(p) => p.check(received, buf),
                            None => Ok(()),
                        };
                        (buf.len(), (buf.len(), verdict))
                    })
                    .map_err(|e| {
                        Self::transfer_error(format!("receive on the server socket: {e}"))
                    })?;
                if let Err(mismatch) = verdict {
                    return Err(BulkError::Corrupt {
                        stack: NAME,
                        offset: mismatch.offset,
                    });
                }
                received += n as u64;
            }

            if received != last_progress.0 {
                last_progress = (received, now);
            } else if (now - last_progress.1).total_micros() as i64 > stall_us {
                return Err(BulkError::Stalled {
                    stack: NAME,
                    delivered: received,
                    expected: total,
                    state: self.state(),
                });
            }
        }

        let w = &self.wire;
        Ok(BulkCounts {
            bytes: received,
            verified: config.verify,
            data_frames: w.received_frames[DATA_LANE].get(),
            data_wire_bytes: w.received_bytes[DATA_LANE].get(),
            reverse_frames: w.received_frames[ACK_LANE].get(),
            tx_requests: w.sent_frames[DATA_LANE].get(),
            polls,
            retransmissions: None,
            nic_cpu: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(bytes: u64) -> BulkConfig {
        BulkConfig {
            bytes,
            socket_buffer: 64 << 10,
            ..BulkConfig::REFERENCE
        }
    }

    fn run(config: BulkConfig) -> (BulkCounts, u64) {
        let mut transfer = SmoltcpTransfer::new(config);
        let counts = transfer.run().unwrap();
        (counts, transfer.wire.late_allocations.get())
    }

    #[test]
    fn moves_every_byte_verified_at_both_mtus_and_checksum_modes() {
        for (mtu, offload) in [
            (1500, OffloadMode::Csum),
            (1500, OffloadMode::None),
            (9000, OffloadMode::Csum),
            (9000, OffloadMode::None),
        ] {
            let config = BulkConfig {
                mtu,
                offload,
                ..small(1 << 20)
            };
            let (counts, late) = run(config);
            assert_eq!(counts.bytes, 1 << 20, "{mtu} {offload}");
            assert!(counts.verified);
            let mss = u64::from(mtu) - 40;
            // At least one frame per MSS of data, frames no larger than the MTU allows.
            assert!(counts.data_frames >= (1 << 20) / mss, "{counts:?}");
            assert!(counts.data_wire_bytes <= counts.data_frames * (u64::from(mtu) + 14));
            assert!(counts.data_wire_bytes > 1 << 20);
            assert_eq!(
                counts.tx_requests, counts.data_frames,
                "no TSO: one request a frame"
            );
            assert!(counts.reverse_frames > 0 && counts.polls > 0);
            assert_eq!(late, 0, "the wire's free list covers the whole transfer");
        }
    }

    #[test]
    fn honours_burst_nagle_and_congestion_knobs() {
        for config in [
            BulkConfig {
                rx_burst: Some(4),
                ..small(256 << 10)
            },
            BulkConfig {
                nagle: false,
                congestion: Congestion::Cubic,
                ..small(256 << 10)
            },
            BulkConfig {
                congestion: Congestion::None,
                verify: false,
                ..small(256 << 10)
            },
        ] {
            let (counts, _) = run(config);
            assert_eq!(counts.bytes, 256 << 10, "{config:?}");
            assert_eq!(counts.verified, config.verify);
        }
        // With at most 4 frames received per poll, 256 KiB needs at least a poll per 4 frames.
        let (limited, _) = run(BulkConfig {
            rx_burst: Some(4),
            ..small(256 << 10)
        });
        assert!(limited.polls * 4 >= limited.data_frames, "{limited:?}");
    }

    #[test]
    fn checksum_mode_decides_who_catches_a_corrupted_frame() {
        // One payload bit of the 20th data frame flipped on the wire. With checksums
        // "offloaded" smoltcp trusts the frame and the application's verification must catch
        // the bad byte; with software checksums smoltcp drops the frame, retransmits, and the
        // data arrives intact.
        for offload in [OffloadMode::Csum, OffloadMode::None] {
            let config = BulkConfig {
                offload,
                ..small(256 << 10)
            };
            let mut transfer = SmoltcpTransfer::new(config);
            transfer.wire.corrupt_data_frame.set(Some(20));
            let result = transfer.run();
            match offload {
                OffloadMode::Csum => match result {
                    Err(BulkError::Corrupt { stack, offset }) => {
                        assert_eq!(stack, "smoltcp");
                        assert!(offset < 256 << 10);
                    }
                    other => panic!("corruption went unnoticed: {other:?}"),
                },
                _ => {
                    let counts = result.expect("software checksums drop the bad frame");
                    assert_eq!(counts.bytes, 256 << 10);
                }
            }
        }
    }

    #[test]
    fn refuses_what_smoltcp_cannot_do() {
        let stack = SmoltcpBulk;
        for config in [
            BulkConfig {
                offload: OffloadMode::Tso,
                ..BulkConfig::REFERENCE
            },
            BulkConfig {
                backend: Backend::Model,
                ..BulkConfig::REFERENCE
            },
        ] {
            let err = stack.supports(&config).unwrap_err();
            assert_eq!(err.stack, "smoltcp");
            assert!(matches!(
                stack.prepare(&config),
                Err(BulkError::Unsupported(_))
            ));
        }
        stack.supports(&BulkConfig::REFERENCE).unwrap();
    }

    #[test]
    fn a_transfer_runs_once() {
        let mut transfer = SmoltcpBulk.prepare(&small(16 << 10)).unwrap();
        transfer.run().unwrap();
        assert!(matches!(transfer.run(), Err(BulkError::AlreadyRun { .. })));
    }
}
