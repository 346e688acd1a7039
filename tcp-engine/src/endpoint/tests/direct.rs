//! Zero-copy receive frame by frame: what is offered to the sink, when, and what is buffered.

use super::scenarios::establish;
use super::*;

const T0: Instant = Instant::from_secs(1);

/// Delivers `payload` at the peer's sequence number `seq` through `receive_direct` with a sink
/// taking `take(offer)` bytes; returns the offers it saw.
fn deliver_direct(
    ep: &mut Ep,
    port: u16,
    iss: u32,
    seq: u32,
    payload: &[u8],
    take: impl Fn(&[u8]) -> usize,
) -> Vec<Vec<u8>> {
    let mut offers = Vec::new();
    let mut sink = |_: SlotKey, data: &[u8]| {
        offers.push(data.to_vec());
        take(data)
    };
    let h = seg(80, port, seq, Some(iss + 1), TcpFlags::PSH, 65535);
    let mut frame = PEER.tcp(&h, payload);
    let _ = ep.receive_direct(T0, &mut frame, RxMeta::UNVERIFIED, &mut sink);
    ep.check_invariants().expect("endpoint invariants");
    offers
}

fn read_all(ep: &mut Ep, key: SlotKey) -> Vec<u8> {
    let mut out = vec![0u8; 64 << 10];
    let n = ep.read(key, &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn in_order_payload_goes_to_the_sink_and_what_it_leaves_is_buffered() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    // Taken whole: nothing to read, the window is whole again, the ACK covers it.
    let offers = deliver_direct(&mut ep, port, iss, y + 1, b"0123456789", |d| d.len());
    assert_eq!(offers, [b"0123456789".to_vec()]);
    assert!(read_all(&mut ep, key).is_empty());
    assert_eq!(ep.counters().rx_direct_bytes, 10);
    assert_eq!(ep.tcb(key).unwrap().rcv_nxt().0, y + 11);
    // Taken in part: the rest is read from the buffer, in order.
    let offers = deliver_direct(&mut ep, port, iss, y + 11, b"abcdefghij", |_| 3);
    assert_eq!(offers, [b"abcdefghij".to_vec()]);
    assert_eq!(ep.counters().rx_direct_bytes, 13);
    assert_eq!(read_all(&mut ep, key), b"defghij");
    let acks = drain_tcp(&mut ep, T0);
    assert_eq!(acks.last().unwrap().h.ack.0, y + 21, "{acks:?}");
}

#[test]
fn nothing_is_offered_while_bytes_wait_in_the_buffer() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    let offers = deliver_direct(&mut ep, port, iss, y + 1, b"first", |_| 0);
    assert_eq!(offers.len(), 1, "offered, declined");
    // "first" waits unread: the next segment must not overtake it.
    let offers = deliver_direct(&mut ep, port, iss, y + 6, b"second", |d| d.len());
    assert!(offers.is_empty(), "{offers:?}");
    assert_eq!(read_all(&mut ep, key), b"firstsecond");
    assert_eq!(ep.counters().rx_direct_bytes, 0);
    // Drained: offers resume.
    let offers = deliver_direct(&mut ep, port, iss, y + 12, b"third", |d| d.len());
    assert_eq!(offers, [b"third".to_vec()]);
}

#[test]
fn out_of_order_data_and_duplicates_are_never_offered() {
    let mut ep = endpoint_with_peer(4);
    let (key, port, iss, y) = establish(&mut ep, T0);
    // A segment past a hole is stored, not offered.
    let offers = deliver_direct(&mut ep, port, iss, y + 6, b"world", |d| d.len());
    assert!(offers.is_empty(), "{offers:?}");
    // Filling the hole with out-of-order data pending goes through the buffer.
    let offers = deliver_direct(&mut ep, port, iss, y + 1, b"hello", |d| d.len());
    assert!(offers.is_empty(), "{offers:?}");
    assert_eq!(read_all(&mut ep, key), b"helloworld");
    // A pure duplicate has nothing new to offer; a partial one offers only its new bytes.
    let offers = deliver_direct(&mut ep, port, iss, y + 1, b"hello", |d| d.len());
    assert!(offers.is_empty(), "{offers:?}");
    let offers = deliver_direct(&mut ep, port, iss, y + 6, b"world!!", |d| d.len());
    assert_eq!(offers, [b"!!".to_vec()]);
    assert_eq!(ep.tcb(key).unwrap().rcv_nxt().0, y + 13);
    assert!(read_all(&mut ep, key).is_empty());
}
