//! Packet capture in the classic libpcap format (microsecond timestamps, link type Ethernet),
//! readable by `tshark -r`, `tcpdump -r` and Wireshark, and [`Capture`], a [`FrameDevice`]
//! wrapper that records both directions of any device.
//!
//! Transmitted frames are recorded as they leave the device on the wire: a frame with an
//! offload request is put through the same software offload the in-memory link uses
//! (`softnic`), so captures show real checksums and MSS-sized TSO segments instead of the
//! zero checksums and 64 KiB super-frames the engine hands the device. Received frames are
//! recorded as received. Capture never changes what the wrapped device sees, and a failing
//! writer never disturbs the data path: errors are counted and the first one kept for
//! [`Capture::finish`].
//!
//! Owns the file format and the recording; knows nothing about protocols.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::device::{FrameDevice, OffloadCaps, RxMeta, TxMeta};
use crate::softnic::{TxPlan, max_tx_frame_len};

/// Link type of Ethernet II frames (LINKTYPE_ETHERNET).
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Largest frame recorded whole; longer frames are truncated in the file (their original
/// length is kept).
pub const SNAPLEN: u32 = 262_144;

/// Writes a classic pcap stream: the global header at construction, then one record per frame.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header to `out`.
    ///
    /// # Errors
    /// The header could not be written.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Records `frame`, seen at `timestamp_us` microseconds since the Unix epoch (or since any
    /// origin, for simulated time).
    ///
    /// # Errors
    /// The record could not be written.
    pub fn write_frame(&mut self, timestamp_us: u64, frame: &[u8]) -> io::Result<()> {
        let captured = frame.len().min(SNAPLEN as usize);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&((timestamp_us / 1_000_000) as u32).to_le_bytes());
        record[4..8].copy_from_slice(&((timestamp_us % 1_000_000) as u32).to_le_bytes());
        record[8..12].copy_from_slice(&(captured as u32).to_le_bytes());
        record[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&frame[..captured])
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    /// The flush failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Microseconds since the Unix epoch, from the system clock (timestamps for real devices).
pub fn wall_clock_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A [`FrameDevice`] that records every frame through a wrapped device to a pcap stream.
/// `clock` gives timestamps in microseconds (e.g. [`wall_clock_us`], or a simulated clock).
pub struct Capture<D, W: Write, C = fn() -> u64> {
    inner: D,
    pcap: PcapWriter<W>,
    clock: C,
    caps: OffloadCaps,
    /// Copy of the last transmitted frame (recorded once the device accepted it).
    tx_copy: Box<[u8]>,
    /// One wire segment of it.
    segment: Box<[u8]>,
    frames: u64,
    errors: u64,
    first_error: Option<io::Error>,
}

impl<D: FrameDevice, W: Write, C: FnMut() -> u64> Capture<D, W, C> {
    /// Wraps `inner`, writing a pcap header to `out` now.
    ///
    /// # Errors
    /// The pcap header could not be written.
    pub fn new(inner: D, out: W, clock: C) -> io::Result<Self> {
        let caps = inner.caps();
        Ok(Capture {
            inner,
            pcap: PcapWriter::new(out)?,
            clock,
            caps,
            tx_copy: vec![0u8; max_tx_frame_len(&caps)].into_boxed_slice(),
            // Wire frames never exceed the largest plain frame (rules F4 and F8).
            segment: vec![0u8; usize::from(caps.max_frame_len)].into_boxed_slice(),
            frames: 0,
            errors: 0,
            first_error: None,
        })
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutably.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Frames recorded so far.
    pub fn frames_recorded(&self) -> u64 {
        self.frames
    }

    /// Records that could not be written.
    pub fn write_errors(&self) -> u64 {
        self.errors
    }

    /// Flushes the capture and gives back the device.
    ///
    /// # Errors
    /// The first write error of the capture, or the final flush's.
    pub fn finish(mut self) -> io::Result<D> {
        if let Some(e) = self.first_error.take() {
            return Err(e);
        }
        self.pcap.flush()?;
        Ok(self.inner)
    }

    fn record(
        pcap: &mut PcapWriter<W>,
        frames: &mut u64,
        errors: &mut u64,
        first: &mut Option<io::Error>,
        ts: u64,
        frame: &[u8],
    ) {
        match pcap.write_frame(ts, frame) {
            Ok(()) => *frames += 1,
            Err(e) => {
                *errors += 1;
                first.get_or_insert(e);
            }
        }
    }
}

impl<D: FrameDevice, W: Write, C: FnMut() -> u64> FrameDevice for Capture<D, W, C> {
    fn caps(&self) -> OffloadCaps {
        self.caps
    }

    fn peek_rx<F: FnMut(&[u8])>(&mut self, max: usize, on_frame: F) {
        self.inner.peek_rx(max, on_frame);
    }

    fn rx_burst<F: FnMut(&mut [u8], RxMeta)>(&mut self, max: usize, mut on_frame: F) -> usize {
        let Capture {
            inner,
            pcap,
            clock,
            frames,
            errors,
            first_error,
            ..
        } = self;
        inner.rx_burst(max, |frame, meta| {
            Self::record(pcap, frames, errors, first_error, clock(), frame);
            on_frame(frame, meta);
        })
    }

    fn transmit<F: FnOnce(&mut [u8]) -> Option<(usize, TxMeta)>>(
        &mut self,
        fill: F,
    ) -> Option<(usize, TxMeta)> {
        let copy = &mut self.tx_copy;
        let sent = self.inner.transmit(|buf| {
            let (len, meta) = fill(buf)?;
            if let (Some(dst), Some(src)) = (copy.get_mut(..len), buf.get(..len)) {
                dst.copy_from_slice(src);
            }
            Some((len, meta))
        })?;
        let (len, meta) = sent;
        let ts = (self.clock)();
        let frame = &self.tx_copy[..len.min(self.tx_copy.len())];
        match TxPlan::new(frame, &meta, &self.caps) {
            Ok(plan) => {
                for i in 0..plan.segments() {
                    let n = plan.write_segment(frame, i, &mut self.segment);
                    Self::record(
                        &mut self.pcap,
                        &mut self.frames,
                        &mut self.errors,
                        &mut self.first_error,
                        ts,
                        &self.segment[..n],
                    );
                }
            }
            // The device accepted a request our model refuses: record it as handed over.
            Err(_) => Self::record(
                &mut self.pcap,
                &mut self.frames,
                &mut self.errors,
                &mut self.first_error,
                ts,
                frame,
            ),
        }
        Some(sent)
    }

    fn flush(&mut self) {
        self.inner.flush();
    }
}

impl<D: FrameDevice> Capture<D, std::io::BufWriter<std::fs::File>, fn() -> u64> {
    /// Captures `inner` to a new file at `path`, with wall-clock timestamps.
    ///
    /// # Errors
    /// The file could not be created or written (the error names the path).
    pub fn to_file(inner: D, path: &std::path::Path) -> io::Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("creating pcap file {}: {e}", path.display()),
            )
        })?;
        Capture::new(
            inner,
            std::io::BufWriter::new(file),
            wall_clock_us as fn() -> u64,
        )
    }
}

impl<D, W: Write, C> std::fmt::Debug for Capture<D, W, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("frames", &self.frames)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{LinkConfig, SimClock, offload_caps, pair};
    use crate::testutil::{self, MAC_A, MAC_B, TcpSpec};
    use std::process::Command;

    #[test]
    fn global_header_and_records_have_the_classic_layout() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_frame(3_000_123, &[0xAA; 5]).unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len(), 24 + 16 + 5);
        assert_eq!(
            &bytes[..4],
            &[0xD4, 0xC3, 0xB2, 0xA1],
            "microsecond magic, little-endian"
        );
        assert_eq!(&bytes[4..8], &[2, 0, 4, 0], "version 2.4");
        assert_eq!(
            u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
            LINKTYPE_ETHERNET
        );
        let rec = &bytes[24..40];
        assert_eq!(u32::from_le_bytes(rec[0..4].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(rec[4..8].try_into().unwrap()), 123);
        assert_eq!(u32::from_le_bytes(rec[8..12].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(rec[12..16].try_into().unwrap()), 5);
    }

    struct FailingWriter;
    impl Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_writer_is_counted_and_never_disturbs_traffic() {
        let clock = SimClock::new();
        let (a, _) = pair(&LinkConfig::new(OffloadCaps::none(1514)), &clock).unwrap();
        // The header fails at once: construction reports it.
        assert!(Capture::new(a, FailingWriter, || 0).is_err());
        let (a, _) = pair(&LinkConfig::new(OffloadCaps::none(1514)), &clock).unwrap();
        let header_then_fail = FailAfter(24);
        let mut cap = Capture::new(a, header_then_fail, || 0).unwrap();
        let frame = testutil::tcp_frame(&TcpSpec::default(), b"hello", true);
        let sent = cap.transmit(|buf| {
            buf[..frame.len()].copy_from_slice(&frame);
            Some((frame.len(), TxMeta::NONE))
        });
        assert!(sent.is_some(), "the frame still goes out");
        assert_eq!(cap.write_errors(), 1);
        let err = cap.finish().unwrap_err();
        assert!(err.to_string().contains("disk full"));
    }

    /// Accepts `n` bytes, then fails.
    struct FailAfter(usize);
    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn tshark_fields(path: &std::path::Path, fields: &[&str]) -> Vec<Vec<String>> {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(path).args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-T",
            "fields",
        ]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().unwrap_or_else(|e| {
            panic!("running tshark failed ({e}): install it with `apt-get install -y tshark` (scripts/system-packages.txt lists it)")
        });
        assert!(
            out.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn tshark_reads_both_directions_with_valid_checksums_and_wire_sized_segments() {
        let dir = std::env::temp_dir().join(format!("ferrotoe-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("link.pcap");
        let clock = SimClock::new();
        clock.set_us(1_700_000_000_000_000);
        let (a, mut b) = pair(&LinkConfig::new(offload_caps(1500, true)), &clock).unwrap();
        let c = clock.clone();
        let file = std::fs::File::create(&path).unwrap();
        let mut cap = Capture::new(a, io::BufWriter::new(file), move || c.now_us()).unwrap();

        // A -> B: an ARP request, then a 5000-byte TSO super-frame with zero checksums.
        let arp = testutil::arp_frame(1, MAC_A, [198, 18, 0, 1], [0; 6], [198, 18, 0, 2]);
        cap.transmit(|buf| {
            buf[..arp.len()].copy_from_slice(&arp);
            Some((arp.len(), TxMeta::NONE))
        })
        .unwrap();
        let payload = testutil::pattern(5000, 0);
        let spec = TcpSpec {
            flags: 0x18,
            ..TcpSpec::default()
        };
        let tso = testutil::tcp_frame(&spec, &payload, false);
        let meta = TxMeta {
            checksum: true,
            tso_mss: Some(1460),
            l2_len: 14,
            l3_len: 20,
            l4_len: 20,
        };
        cap.transmit(|buf| {
            buf[..tso.len()].copy_from_slice(&tso);
            Some((tso.len(), meta))
        })
        .unwrap();
        // B -> A: a pure ACK, received through the capture.
        clock.advance_us(250);
        let ack_spec = TcpSpec {
            src_mac: MAC_B,
            dst_mac: MAC_A,
            src: [198, 18, 0, 2],
            dst: [198, 18, 0, 1],
            src_port: 80,
            dst_port: 40000,
            seq: 7,
            ack: 0xFFFF_FF00u32.wrapping_add(5000),
            flags: 0x10,
            ..TcpSpec::default()
        };
        let ack = testutil::tcp_frame(&ack_spec, &[], true);
        b.transmit(|buf| {
            buf[..ack.len()].copy_from_slice(&ack);
            Some((ack.len(), TxMeta::NONE))
        })
        .unwrap();
        assert_eq!(cap.rx_burst(8, |_, _| {}), 1);
        assert_eq!(cap.frames_recorded(), 1 + 4 + 1);
        cap.finish().unwrap();

        let rows = tshark_fields(
            &path,
            &[
                "frame.len",
                "eth.type",
                "ip.checksum.status",
                "tcp.checksum.status",
                "tcp.len",
                "tcp.flags.push",
                "frame.time_epoch",
            ],
        );
        assert_eq!(rows.len(), 6, "{rows:?}");
        assert_eq!(rows[0][1], "0x0806", "ARP first");
        let data: Vec<_> = rows[1..5].iter().collect();
        let lens: Vec<&str> = data.iter().map(|r| r[4].as_str()).collect();
        assert_eq!(lens, ["1460", "1460", "1460", "620"]);
        // tshark's checksum status: 0 bad, 1 good, 2 unverified.
        for r in rows[1..].iter() {
            assert_eq!(r[2], "1", "IPv4 checksum good per tshark: {r:?}");
            assert_eq!(r[3], "1", "TCP checksum good per tshark: {r:?}");
            assert!(r[0].parse::<usize>().unwrap() <= 1514);
        }
        let push: Vec<&str> = rows[1..5].iter().map(|r| r[5].as_str()).collect();
        assert_eq!(push, ["0", "0", "0", "1"], "PSH only on the last segment");
        assert_eq!(rows[5][4], "0", "the ACK from B");
        assert!(
            rows[5][6].starts_with("1700000000.000250"),
            "simulated timestamps: {}",
            rows[5][6]
        );

        // Control: the super-frame as the engine handed it over (zero checksums) is flagged bad,
        // so the statuses above are real verdicts.
        let control = dir.join("control.pcap");
        let mut w = PcapWriter::new(std::fs::File::create(&control).unwrap()).unwrap();
        w.write_frame(0, &testutil::tcp_frame(&spec, &payload[..100], false))
            .unwrap();
        drop(w);
        let rows = tshark_fields(&control, &["ip.checksum.status", "tcp.checksum.status"]);
        assert_eq!(rows, vec![vec!["0".to_owned(), "0".to_owned()]]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
