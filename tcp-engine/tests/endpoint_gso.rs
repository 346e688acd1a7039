//! Software segmentation (GSO) in the poll helper: with it on, a device without TSO sees
//! exactly the frames it would see with it off (same bytes, same order, same times), while the
//! connection plans and commits once per super-segment; a device that refuses or runs out of
//! buffers in the middle of a super-segment loses nothing.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{Stream, ip, mac};
use tcp_engine::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta};
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig, EndpointCounters};
use tcp_engine::link::{Impairments, LinkConfig, LinkEnd, SimClock, pair};
use tcp_engine::pcap::Capture;
use tcp_engine::table::HashSecret;
use tcp_engine::tcb::{Events, RingBuffer, TcbConfig};
use tcp_engine::wire::Ipv4Cidr;

type Ep = BoxedEndpoint<Buffers<RingBuffer<Box<[u8]>>>>;

/// A capture's output the test can read back.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn host(n: u8, caps: OffloadCaps, gso: bool) -> Ep {
    let mut config = EndpointConfig::new(
        mac(n),
        Ipv4Cidr::new(ip(n), 24).unwrap(),
        caps,
        HashSecret::from_bytes([n; 16]),
    );
    config.tcb = TcbConfig::DATACENTER;
    config.software_segmentation = gso;
    Ep::with_capacity(config, 4).unwrap()
}

/// A device that refuses every `nth` frame after writing it (or, with `before_fill`, offers
/// no buffer for it): what a full or picky NIC does in the middle of a burst.
struct Flaky<D> {
    inner: D,
    nth: u64,
    count: u64,
    before_fill: bool,
}

impl<D: FrameDevice> FrameDevice for Flaky<D> {
    fn caps(&self) -> OffloadCaps {
        self.inner.caps()
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, on_frame: F) -> usize {
        self.inner.rx_burst(max, on_frame)
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        self.count += 1;
        if self.count % self.nth != 0 {
            return self.inner.transmit(fill);
        }
        if !self.before_fill {
            let mut scratch = vec![0u8; 70_000];
            let _ = fill(&mut scratch);
        }
        None
    }
}

/// Client (host 1, with `gso`) sends `total` bytes to the server (host 2) over `link`,
/// through devices built by `wrap`; returns the client's counters once everything arrived
/// byte-exact.
fn transfer<DA: FrameDevice>(
    link: &LinkConfig,
    gso: bool,
    total: u64,
    wrap: impl FnOnce(LinkEnd, &SimClock) -> DA,
) -> (EndpointCounters, DA) {
    let clock = SimClock::new();
    clock.set_us(1_000_000);
    let (a, mut dev_b) = pair(link, &clock).unwrap();
    let mut dev_a = wrap(a, &clock);
    let (mut client, mut server) = (host(1, link.caps_a, gso), host(2, link.caps_b, gso));
    server
        .listen(common::PORT, Buffers::with_capacity(256 << 10, 256 << 10))
        .map_err(|(e, _)| e)
        .unwrap();
    let conn = client
        .connect(
            clock.now(),
            ip(2),
            common::PORT,
            Buffers::with_capacity(256 << 10, 256 << 10),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    let (mut up, mut accepted) = (Stream::new(1, total), None);
    let mut steps = 0u64;
    while up.received < total {
        steps += 1;
        assert!(steps < 10_000_000, "stalled at {} of {total}", up.received);
        let now = clock.now();
        let a = client.poll(now, &mut dev_a, |_, _| {});
        let b = server.poll(now, &mut dev_b, |_, open| {
            if open.events.contains(Events::SYN_TO_LISTENER) {
                accepted = Some(open.key);
            }
        });
        let mut progress = a.received + a.transmitted + b.received + b.transmitted > 0;
        if client.state(conn).is_some_and(|s| s.is_synchronized()) {
            progress |= up.write(&mut client, now, conn);
        }
        if let Some(key) = accepted {
            progress |= up.read(&mut server, key);
        }
        if !progress {
            let next = [
                dev_b.next_arrival_us(),
                client.next_deadline().map(|t| t.micros()),
                server.next_deadline().map(|t| t.micros()),
            ]
            .into_iter()
            .flatten()
            .filter(|&t| t > now.micros())
            .min();
            // The client's device may hold frames too: step at least a microsecond.
            clock.set_us(next.unwrap_or(now.micros() + 1).min(now.micros() + 50));
        }
    }
    client.check_invariants().unwrap();
    (*client.counters(), dev_a)
}

fn link(caps: OffloadCaps) -> LinkConfig {
    LinkConfig::new(caps).impaired(Impairments {
        delay_us: 20,
        ..Impairments::NONE
    })
}

#[test]
fn software_segmentation_puts_the_same_frames_on_the_wire() {
    for caps in [
        OffloadCaps::none(1514),
        tcp_engine::link::offload_caps(1500, false),
    ] {
        let capture = |gso: bool| {
            let out = Shared::default();
            let (counters, dev) = transfer(&link(caps), gso, 3 << 20, |end, clock| {
                let c = clock.clone();
                Capture::new(end, out.clone(), move || c.now_us()).unwrap()
            });
            let frames = dev.frames_recorded();
            let bytes = out.0.borrow().clone();
            (counters, frames, bytes)
        };
        let (with, frames, pcap_with) = capture(true);
        let (without, _, pcap_without) = capture(false);
        assert!(
            with.gso_batches > 20 && with.gso_batches * 10 < with.tx_frames,
            "{with:?}"
        );
        assert_eq!(without.gso_batches, 0);
        assert_eq!(with.tx_frames, without.tx_frames);
        assert_eq!(with.tx_segments, without.tx_segments);
        assert_eq!(with.tx_bytes, without.tx_bytes);
        assert_eq!(with.tx_payload_bytes, without.tx_payload_bytes);
        assert!(frames > 2000, "{frames} frames captured");
        assert!(
            pcap_with == pcap_without,
            "the captures of the client's frames differ"
        );
    }
}

#[test]
fn a_device_that_refuses_mid_super_segment_loses_nothing() {
    for before_fill in [false, true] {
        let (counters, dev) = transfer(&link(OffloadCaps::none(1514)), true, 2 << 20, |end, _| {
            Flaky {
                inner: end,
                nth: 7,
                count: 0,
                before_fill,
            }
        });
        assert!(counters.gso_batches > 10, "{counters:?}");
        assert!(dev.count > 7);
        if before_fill {
            assert_eq!(counters.tx_device_refused, 0);
        } else {
            assert!(counters.tx_device_refused > 10, "{counters:?}");
        }
        assert_eq!(
            counters.tx_stale_commits, 0,
            "partial super-segments commit cleanly"
        );
    }
}
