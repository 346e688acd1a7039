//! Prefetching for receive bursts: before the frames of a burst are received one by one, their
//! connections' tuple-map buckets and slots are read in two tight passes, so that at a million
//! connections, where every one of them misses the caches, the misses of a burst overlap
//! instead of queueing one after another (each frame would otherwise wait for two dependent
//! trips to memory: bucket, then slot). A bucket is one cache line
//! ([`Bucket`](crate::table::Bucket)), so the first pass reads one line per frame (about 80 % of
//! lookups end there; the rest go on to the next line during the probe).
//!
//! Plain loads (the values they read are folded and handed to `core::hint::black_box`), no
//! `unsafe`, no allocation. Owns only the prefetch passes; it never changes the endpoint and a
//! frame it misreads (not TCP/IPv4, malformed) is just not prefetched.

use core::hint::black_box;
use core::net::Ipv4Addr;

use super::{BucketStorage, ConnectionBuffers, Endpoint, LossStorage, SlotStorage};
use crate::table::{FourTuple, TupleHasher};

/// Frames whose buckets are read before their slots are.
const GROUP: usize = 32;

/// The 4-tuple of a TCP/IPv4 frame as the receiving endpoint sees it (local = destination),
/// read without validation beyond bounds.
fn tcp_tuple(frame: &[u8]) -> Option<FourTuple> {
    let ip = frame.get(14..)?;
    if frame.get(12..14)? != [0x08, 0x00] || ip.first()? >> 4 != 4 || *ip.get(9)? != 6 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0F) * 4;
    let ports = ip.get(ihl..ihl + 4)?;
    let addr = |at: usize| Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
    Some(FourTuple::new(
        addr(16),
        u16::from_be_bytes([ports[2], ports[3]]),
        addr(12),
        u16::from_be_bytes([ports[0], ports[1]]),
    ))
}

/// Collects the tuples of a burst's frames and, a group at a time, hashes them, reads their
/// home buckets in one tight loop, finds their slots, and reads the slots in another. The
/// loops that only load are kept tiny, so that the processor has many of their (independent)
/// cache misses in flight at once.
pub(super) struct Prefetcher {
    tuples: [FourTuple; GROUP],
    hashes: [u32; GROUP],
    slots: [u32; GROUP],
    len: usize,
}

impl Prefetcher {
    pub(super) fn new() -> Prefetcher {
        Prefetcher {
            tuples: [FourTuple::listener(Ipv4Addr::UNSPECIFIED, 0); GROUP],
            hashes: [0; GROUP],
            slots: [0; GROUP],
            len: 0,
        }
    }

    /// Takes one frame of the burst.
    pub(super) fn add<
        B: ConnectionBuffers,
        SS: SlotStorage<B>,
        MS: BucketStorage,
        LS: LossStorage,
    >(
        &mut self,
        ep: &Endpoint<B, SS, MS, LS>,
        frame: &[u8],
    ) {
        let Some(tuple) = tcp_tuple(frame) else {
            return;
        };
        self.tuples[self.len] = tuple;
        self.len += 1;
        if self.len == GROUP {
            self.flush(ep);
        }
    }

    /// Prefetches for the frames taken since the last flush.
    pub(super) fn flush<
        B: ConnectionBuffers,
        SS: SlotStorage<B>,
        MS: BucketStorage,
        LS: LossStorage,
    >(
        &mut self,
        ep: &Endpoint<B, SS, MS, LS>,
    ) {
        let n = self.len;
        let map = ep.table.map();
        for (hash, tuple) in self.hashes[..n].iter_mut().zip(&self.tuples[..n]) {
            *hash = map.hasher().hash_tuple(tuple);
        }
        let mut sink = 0u32;
        for &hash in &self.hashes[..n] {
            sink ^= map.touch_home(hash);
        }
        let mut found = 0;
        for (tuple, &hash) in self.tuples[..n].iter().zip(&self.hashes[..n]) {
            if let Some(key) = map.get_hashed(tuple, hash) {
                self.slots[found] = key.index();
                found += 1;
            }
        }
        for &slot in &self.slots[..found] {
            if let Some((_, c)) = ep.table.get_index(slot) {
                sink ^= c.touch();
            }
        }
        black_box(sink);
        self.len = 0;
    }
}

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    /// Warms the caches for a burst of received frames before they go through
    /// [`receive`](Self::receive) one by one: reads the tuple-map buckets of all of them, then
    /// their connection slots, so the cache misses of the burst overlap. Worth it when the
    /// endpoint holds far more connections than the caches do (hundreds of thousands); a
    /// waste of a hash per frame otherwise. Changes nothing. [`poll`](Self::poll) does this by
    /// itself above [`PREFETCH_MIN_CONNECTIONS`](super::PREFETCH_MIN_CONNECTIONS), for devices
    /// that can show their frames ahead ([`FrameDevice::peek_rx`](crate::device::FrameDevice::peek_rx)).
    pub fn prefetch<'f>(&self, frames: impl IntoIterator<Item = &'f [u8]>) {
        let mut p = Prefetcher::new();
        for frame in frames {
            p.add(self, frame);
        }
        p.flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_receivers_tuple_from_a_tcp_frame_and_nothing_else() {
        let mut f = [0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[26..30].copy_from_slice(&[10, 0, 0, 2]); // source
        f[30..34].copy_from_slice(&[10, 0, 0, 1]); // destination
        f[34..38].copy_from_slice(&[0x1F, 0x90, 0x00, 0x50]); // 8080 -> 80
        let t = tcp_tuple(&f).unwrap();
        assert_eq!(
            t,
            FourTuple::new(
                Ipv4Addr::new(10, 0, 0, 1),
                80,
                Ipv4Addr::new(10, 0, 0, 2),
                8080
            )
        );
        let mut udp = f;
        udp[14 + 9] = 17;
        assert_eq!(tcp_tuple(&udp), None);
        assert_eq!(tcp_tuple(&f[..36]), None, "truncated before the ports");
        let mut arp = f;
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(tcp_tuple(&arp), None);
    }
}
