//! Wire ports: where the frames a simulated NIC sends go, and where the frames it receives come
//! from.
//!
//! | port | what it is |
//! |---|---|
//! | [`cable::CableEnd`] | a cable to another simulated NIC (threads or processes), with seeded [`impair::Impairment`] and a [`bottleneck::Bottleneck`] |
//! | [`tap::TapPort`] | a Linux TAP interface: the kernel is the peer |
//! | [`impaired::Impaired`] | any port above, with seeded impairment and a bottleneck per direction (the TAP's) |
//! | [`pcap::PcapPort`] | a capture file only (send-only wire) |
//! | [`pcap::Capture`] | any port above, with both directions recorded to a capture file |
//! | [`NullPort`] | nothing attached: frames sent are counted and lost |
//!
//! A [`Port`] is a [`Wire`] (what the device core drives) that can also wake the device when a
//! frame arrives for it ([`Port::connect`]). Owns the ports; it must not contain device
//! behaviour. Nothing here allocates per frame.

pub mod bottleneck;
pub mod cable;
pub mod impair;
pub mod impaired;
pub mod pcap;
pub mod ring;
pub mod tap;

use sim_link::DeviceWaker;

use crate::device::Wire;

/// What a port has carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames handed on (to the cable, the kernel, the file).
    pub sent: u64,
    /// Frames received.
    pub received: u64,
    /// Frames lost in the port itself (a full cable ring, a kernel write error, a full inbox).
    pub dropped: u64,
    /// What impairment did to the frames this port sent (cables; an [`impaired::Impaired`]
    /// port's transmit direction).
    pub impairment: impair::ImpairStats,
    /// What impairment did to the frames this port received (an [`impaired::Impaired`]
    /// port's receive direction; cables impair at the sending end, so zero for them).
    pub impairment_received: impair::ImpairStats,
    /// What the bottleneck on the direction this port sends did (cables with one; zero
    /// otherwise).
    pub bottleneck: bottleneck::BottleneckStats,
    /// What the bottleneck on the direction this port receives did (an
    /// [`impaired::Impaired`] port with one; zero otherwise).
    pub bottleneck_received: bottleneck::BottleneckStats,
}

/// A wire port a simulated NIC can own.
pub trait Port: Wire + Send {
    /// Tells the port how to wake the device it serves (called once when the NIC is built),
    /// so a frame arriving while the device sleeps wakes it.
    fn connect(&mut self, own: &DeviceWaker);
    /// A short description for logs and reports ("cable /dev/shm/x (side A)").
    fn describe(&self) -> String;
    /// What the port has carried.
    fn counters(&self) -> PortCounters;
    /// When, in device time, the port next has something to do by itself (a frame leaving a
    /// [`bottleneck`] queue): a simulated clock must reach it, and the device [`Wire::flush`]
    /// at or after it, for the frame to move. `None`: nothing waits on time.
    fn next_event_ns(&self) -> Option<u64> {
        None
    }
}

impl Wire for Box<dyn Port> {
    fn transmit(&mut self, frame: &[u8], now_ns: u64) {
        (**self).transmit(frame, now_ns)
    }
    fn transmit_split(&mut self, headers: &[u8], payload: &[u8], now_ns: u64) -> bool {
        (**self).transmit_split(headers, payload, now_ns)
    }
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        (**self).receive(buf)
    }
    fn rx_pending(&self) -> bool {
        (**self).rx_pending()
    }
    fn tx_ready(&self, frames: usize) -> bool {
        (**self).tx_ready(frames)
    }
    fn flush(&mut self, now_ns: u64) {
        (**self).flush(now_ns)
    }
    fn begin_step(&mut self, now_ns: u64) {
        (**self).begin_step(now_ns)
    }
}

impl Port for Box<dyn Port> {
    fn connect(&mut self, own: &DeviceWaker) {
        (**self).connect(own)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn counters(&self) -> PortCounters {
        (**self).counters()
    }
    fn next_event_ns(&self) -> Option<u64> {
        (**self).next_event_ns()
    }
}

/// No cable plugged in: frames sent are counted and lost, nothing arrives.
#[derive(Debug, Default)]
pub struct NullPort {
    /// Frames sent into nothing.
    pub sent: u64,
}

impl Wire for NullPort {
    fn transmit(&mut self, _frame: &[u8], _now_ns: u64) {
        self.sent += 1;
    }
    fn receive(&mut self, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn rx_pending(&self) -> bool {
        false
    }
}

impl Port for NullPort {
    fn connect(&mut self, _own: &DeviceWaker) {}
    fn describe(&self) -> String {
        "no wire".into()
    }
    fn counters(&self) -> PortCounters {
        PortCounters {
            sent: self.sent,
            dropped: self.sent,
            ..PortCounters::default()
        }
    }
}
