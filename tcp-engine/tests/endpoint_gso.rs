//! Software segmentation (GSO) in the poll helper: with it on, a device without TSO sees
//! exactly the frames it would see with it off (same bytes, same order, same times), while the
//! connection plans and commits once per super-segment; a device that refuses or runs out of
//! buffers in the middle of a super-segment loses nothing.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{Stream, ip, mac};
use tcp_engine::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta, transmit_each};
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
    let (counters, dev_a, _) = transfer_between(link, gso, total, wrap, Tap::new);
    (counters, dev_a)
}

/// [`transfer`] with the server's device built by `wrap_b` too; returns it as well.
fn transfer_between<DA: FrameDevice>(
    link: &LinkConfig,
    gso: bool,
    total: u64,
    wrap: impl FnOnce(LinkEnd, &SimClock) -> DA,
    wrap_b: impl FnOnce(LinkEnd) -> Tap,
) -> (EndpointCounters, DA, Tap) {
    let clock = SimClock::new();
    clock.set_us(1_000_000);
    let (a, b) = pair(link, &clock).unwrap();
    let mut dev_a = wrap(a, &clock);
    let mut dev_b = wrap_b(b);
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
                dev_b.end.next_arrival_us(),
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
    (*client.counters(), dev_a, dev_b)
}

/// A link end that keeps every frame it receives (the wire's output, on the server) and
/// counts the batches it sends, taking them whole or (`one_by_one`) through
/// `transmit_each`, one `transmit` per frame (the trait's default).
struct Tap {
    end: LinkEnd,
    one_by_one: bool,
    frames: Vec<Vec<u8>>,
    batches: u64,
    batched_frames: u64,
}

impl Tap {
    fn new(end: LinkEnd) -> Tap {
        Tap {
            end,
            one_by_one: false,
            frames: Vec::new(),
            batches: 0,
            batched_frames: 0,
        }
    }

    fn one_by_one(end: LinkEnd) -> Tap {
        Tap {
            one_by_one: true,
            ..Tap::new(end)
        }
    }
}

impl FrameDevice for Tap {
    fn caps(&self) -> OffloadCaps {
        self.end.caps()
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let frames = &mut self.frames;
        self.end.rx_burst(max, |frame, meta| {
            frames.push(frame.to_vec());
            on_frame(frame, meta);
        })
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        self.end.transmit(fill)
    }

    fn transmit_batch<F: FnMut(usize, &mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        count: usize,
        fill: F,
    ) -> usize {
        let sent = if self.one_by_one {
            transmit_each(self, count, fill)
        } else {
            self.end.transmit_batch(count, fill)
        };
        self.batches += 1;
        self.batched_frames += sent as u64;
        sent
    }
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

#[test]
fn batched_transmit_puts_the_same_frames_on_the_wire_as_one_frame_per_call() {
    let lossy = Impairments {
        delay_us: 20,
        loss: tcp_engine::link::Loss::Uniform(0.005),
        ..Impairments::NONE
    };
    for caps in [
        OffloadCaps::none(1514),
        tcp_engine::link::offload_caps(1500, false),
    ] {
        let mut small_queue = link(caps);
        small_queue.queue_frames = 24;
        for config in [
            link(caps),
            LinkConfig::new(caps).impaired(lossy),
            small_queue,
        ] {
            let (one, _, wire_one) = transfer_between(
                &config,
                true,
                3 << 20,
                |end, _| Tap::one_by_one(end),
                Tap::new,
            );
            let (batched, dev, wire_batched) =
                transfer_between(&config, true, 3 << 20, |end, _| Tap::new(end), Tap::new);
            assert!(
                dev.batches > 20 && dev.batched_frames > 10 * dev.batches,
                "the link's batches carried the transfer: {} calls, {} frames",
                dev.batches,
                dev.batched_frames
            );
            assert_eq!(one, batched, "the client's counters");
            assert!(wire_one.frames.len() > 2000, "{}", wire_one.frames.len());
            assert_eq!(wire_one.frames.len(), wire_batched.frames.len());
            let first_difference = wire_one
                .frames
                .iter()
                .zip(&wire_batched.frames)
                .position(|(a, b)| a != b);
            assert_eq!(
                first_difference, None,
                "the server received different frames (first difference at this index)"
            );
        }
    }
}
