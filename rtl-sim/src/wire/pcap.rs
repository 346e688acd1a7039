//! Classic libpcap capture files (the format tshark and Wireshark open): a port that writes
//! what the device sends, and a wrapper that records both directions of another port.
//!
//! Format: a 24-byte global header (magic `0xa1b2c3d4` in the host's byte order, version 2.4,
//! snap length 65535, link type 1 = Ethernet), then per frame a 16-byte record header (seconds,
//! microseconds, captured length, original length) and the bytes. Timestamps are the wall clock
//! when the writer was created plus device time. Writes are buffered (no allocation per frame)
//! and flushed at least every 100 ms of wall time and on drop, so a capture can be read while
//! the simulator runs. A write error is counted and remembered, never fatal to the device.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sim_link::DeviceWaker;

use super::{Port, PortCounters};
use crate::device::Wire;

/// Bytes of a frame kept in a record.
pub const SNAPLEN: u32 = 65535;
const LINKTYPE_ETHERNET: u32 = 1;
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A capture file being written.
#[derive(Debug)]
pub struct PcapWriter {
    out: BufWriter<File>,
    path: PathBuf,
    wall_base_ns: u64,
    last_flush: Instant,
    frames: u64,
    errors: u64,
    first_error: Option<String>,
}

impl PcapWriter {
    /// Creates (or truncates) `path` and writes the global header.
    pub fn create(path: &Path) -> io::Result<PcapWriter> {
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create capture file {}: {e}", path.display()),
            )
        })?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_ne_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_ne_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_ne_bytes());
        hdr[16..20].copy_from_slice(&SNAPLEN.to_ne_bytes());
        hdr[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
        out.write_all(&hdr)?;
        out.flush()?;
        let wall_base_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(PcapWriter {
            out,
            path: path.to_path_buf(),
            wall_base_ns,
            last_flush: Instant::now(),
            frames: 0,
            errors: 0,
            first_error: None,
        })
    }

    /// Appends one frame seen at device time `now_ns`.
    pub fn record(&mut self, frame: &[u8], now_ns: u64) {
        let t = self.wall_base_ns.wrapping_add(now_ns);
        let caplen = (frame.len() as u32).min(SNAPLEN);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((t / 1_000_000_000) as u32).to_ne_bytes());
        rec[4..8].copy_from_slice(&(((t % 1_000_000_000) / 1000) as u32).to_ne_bytes());
        rec[8..12].copy_from_slice(&caplen.to_ne_bytes());
        rec[12..16].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        let r = self
            .out
            .write_all(&rec)
            .and_then(|()| self.out.write_all(&frame[..caplen as usize]));
        match r {
            Ok(()) => self.frames += 1,
            Err(e) => self.note(e),
        }
    }

    fn note(&mut self, e: io::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("writing {}: {e}", self.path.display()));
        }
    }

    /// Flushes when the last flush is older than 100 ms.
    pub fn maybe_flush(&mut self) {
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Writes buffered records to the file.
    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        if let Err(e) = self.out.flush() {
            self.note(e);
        }
    }

    /// Frames recorded.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// The first write error, if any (with the count of errors).
    pub fn error(&self) -> Option<(u64, &str)> {
        self.first_error.as_deref().map(|e| (self.errors, e))
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PcapWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// A wire that is a capture file: every frame the device sends is recorded; nothing arrives.
#[derive(Debug)]
pub struct PcapPort {
    writer: PcapWriter,
}

impl PcapPort {
    /// Creates the capture file.
    pub fn create(path: &Path) -> io::Result<PcapPort> {
        Ok(PcapPort {
            writer: PcapWriter::create(path)?,
        })
    }

    /// The writer (frame count, errors).
    pub fn writer(&self) -> &PcapWriter {
        &self.writer
    }
}

impl Wire for PcapPort {
    fn transmit(&mut self, frame: &[u8], now_ns: u64) {
        self.writer.record(frame, now_ns);
    }
    fn receive(&mut self, _buf: &mut [u8]) -> Option<usize> {
        None
    }
    fn rx_pending(&self) -> bool {
        false
    }
    fn flush(&mut self, _now_ns: u64) {
        self.writer.maybe_flush();
    }
}

impl Port for PcapPort {
    fn connect(&mut self, _own: &DeviceWaker) {}
    fn describe(&self) -> String {
        format!("pcap file {}", self.writer.path().display())
    }
    fn counters(&self) -> PortCounters {
        PortCounters {
            sent: self.writer.frames(),
            dropped: self.writer.error().map_or(0, |(n, _)| n),
            ..PortCounters::default()
        }
    }
}

/// Another port with both directions recorded in a capture file.
#[derive(Debug)]
pub struct Capture<P> {
    inner: P,
    writer: PcapWriter,
    now_ns: u64,
}

impl<P: Port> Capture<P> {
    /// Records `inner`'s traffic into a new capture file at `path`.
    pub fn new(inner: P, path: &Path) -> io::Result<Capture<P>> {
        Ok(Capture {
            inner,
            writer: PcapWriter::create(path)?,
            now_ns: 0,
        })
    }

    /// The writer (frame count, errors).
    pub fn writer(&self) -> &PcapWriter {
        &self.writer
    }

    /// The wrapped port.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

impl<P: Port> Wire for Capture<P> {
    fn transmit(&mut self, frame: &[u8], now_ns: u64) {
        self.now_ns = now_ns;
        self.writer.record(frame, now_ns);
        self.inner.transmit(frame, now_ns);
    }
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        let n = self.inner.receive(buf)?;
        self.writer.record(&buf[..n.min(buf.len())], self.now_ns);
        Some(n)
    }
    fn rx_pending(&self) -> bool {
        self.inner.rx_pending()
    }
    fn tx_ready(&self, frames: usize) -> bool {
        self.inner.tx_ready(frames)
    }
    fn flush(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
        self.inner.flush(now_ns);
        self.writer.maybe_flush();
    }
    fn begin_step(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
        self.inner.begin_step(now_ns);
    }
}

impl<P: Port> Port for Capture<P> {
    fn connect(&mut self, own: &DeviceWaker) {
        self.inner.connect(own);
    }
    fn describe(&self) -> String {
        format!(
            "{}, captured to {}",
            self.inner.describe(),
            self.writer.path().display()
        )
    }
    fn counters(&self) -> PortCounters {
        self.inner.counters()
    }
    fn next_event_ns(&self) -> Option<u64> {
        self.inner.next_event_ns()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_layout() {
        let path = std::env::temp_dir().join(format!("pcap-layout-{}.pcap", std::process::id()));
        {
            let mut p = PcapPort::create(&path).unwrap();
            p.transmit(&[0xAB; 70], 1_500_000_000);
            p.transmit(&[0xCD; 60], 1_500_001_000);
            assert_eq!(p.writer().frames(), 2);
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24 + 16 + 70 + 16 + 60);
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()),
            0xa1b2_c3d4
        );
        assert_eq!(u32::from_ne_bytes(bytes[20..24].try_into().unwrap()), 1);
        let usec = |at: usize| u32::from_ne_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        let second = 24 + 16 + 70;
        assert_eq!(
            (usec(second) + 1_000_000 - usec(24)) % 1_000_000,
            1,
            "1 us apart"
        );
        assert_eq!(
            u32::from_ne_bytes(bytes[second + 8..second + 12].try_into().unwrap()),
            60
        );
        assert_eq!(bytes[second + 16], 0xCD);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn unwritable_path_is_an_error_naming_it() {
        let e = PcapWriter::create(Path::new("/nonexistent/dir/x.pcap")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/dir/x.pcap"));
    }
}
