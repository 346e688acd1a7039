//! The configuration of a device build: what its `IDENT` block advertises.
//!
//! Owns the reference values ([`DeviceConfig::REFERENCE`]) and their consistency rules, and the
//! `IDENT` register words derived from them. It must not contain behaviour.

use hw_spec::DeviceCaps;
use hw_spec::regs::{ident, irq, queue, stats};

/// Queue counts, ring limits and capabilities of one device build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// TX queues.
    pub tx_queues: u8,
    /// RX queues.
    pub rx_queues: u8,
    /// Completion queues.
    pub completion_queues: u8,
    /// Interrupt vectors.
    pub irq_vectors: u8,
    /// Smallest ring, log2 of entries.
    pub ring_min_log2: u8,
    /// Largest ring, log2 of entries (at most 15).
    pub ring_max_log2: u8,
    /// Offloads and limits (`max_sg` included).
    pub caps: DeviceCaps,
    /// Datapath width in bits (`IDENT.DATAPATH.WIDTH_BITS`).
    pub datapath_bits: u16,
    /// Nominal clock in MHz (`IDENT.DATAPATH.CLOCK_MHZ`).
    pub clock_mhz: u16,
    /// Implementation revision (`IDENT.DEVICE_ID.REVISION`).
    pub revision: u16,
    /// `IDENT.BUILD_ID`.
    pub build_id: u32,
}

/// Why a configuration cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid device configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Version of this crate as a build id: `major << 16 | minor << 8 | patch`.
const fn crate_build_id() -> u32 {
    const fn parse(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut v = 0u32;
        let mut i = 0;
        while i < b.len() {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        v
    }
    (parse(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (parse(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | parse(env!("CARGO_PKG_VERSION_PATCH"))
}

impl DeviceConfig {
    /// The reference device: 4 TX and 4 RX queues, 8 completion queues and 8 vectors; rings of
    /// 8 to 32768 entries; every offload; jumbo frames of 9216 bytes; TSO of up to 65535 payload
    /// bytes with MSS 64 to 9162 (9216 minus minimal Ethernet, IPv4 and TCP headers); up to 16
    /// descriptors per frame; a 512-bit datapath at 250 MHz (128 Gbit/s).
    pub const REFERENCE: DeviceConfig = DeviceConfig {
        tx_queues: 4,
        rx_queues: 4,
        completion_queues: 8,
        irq_vectors: 8,
        ring_min_log2: 3,
        ring_max_log2: 15,
        caps: DeviceCaps {
            tx_ipv4_csum: true,
            tx_tcp_csum: true,
            tx_udp_csum: true,
            rx_csum: true,
            tso: true,
            rss: true,
            timestamp: true,
            tx_scatter_gather: true,
            max_tso_payload: 65535,
            max_frame_len: 9216,
            min_mss: 64,
            max_mss: 9162,
            max_sg: 16,
        },
        datapath_bits: 512,
        clock_mhz: 250,
        revision: 1,
        build_id: crate_build_id(),
    };

    /// Checks the configuration against the layout's room and the spec's consistency rules.
    pub fn check(&self) -> Result<(), ConfigError> {
        let err = |s: String| Err(ConfigError(s));
        let room_tx = queue::MAX_QUEUES.min((stats::RX_ARRAY_OFFSET - stats::TX_ARRAY_OFFSET) / 32);
        let room_rx = queue::MAX_QUEUES;
        let room_irq = (0x1000 - irq::ARRAY_OFFSET) / irq::STRIDE;
        for (name, n, room) in [
            ("TX queues", self.tx_queues, room_tx),
            ("RX queues", self.rx_queues, room_rx),
            (
                "completion queues",
                self.completion_queues,
                queue::MAX_QUEUES,
            ),
            ("interrupt vectors", self.irq_vectors, room_irq),
        ] {
            if n == 0 || u32::from(n) > room {
                return err(format!("{n} {name}: use 1 to {room}"));
            }
        }
        if self.ring_min_log2 == 0
            || self.ring_min_log2 > self.ring_max_log2
            || self.ring_max_log2 > 15
        {
            return err(format!(
                "ring sizes 2^{}..2^{}: need 1 <= min <= max <= 15",
                self.ring_min_log2, self.ring_max_log2
            ));
        }
        if let Err(e) = self.caps.check() {
            return err(format!("capabilities are inconsistent: {e:?}"));
        }
        if self.caps.max_frame_len < 60 {
            return err("MAX_FRAME_LEN below 60".into());
        }
        Ok(())
    }

    /// The `IDENT.CAPS` word.
    pub fn caps_word(&self) -> u32 {
        self.caps.caps_word()
    }

    /// The `IDENT.QUEUE_COUNTS` word.
    pub fn queue_counts_word(&self) -> u32 {
        let mut w = ident::QUEUE_COUNTS_TX.set32(0, self.tx_queues.into());
        w = ident::QUEUE_COUNTS_RX.set32(w, self.rx_queues.into());
        w = ident::QUEUE_COUNTS_CQ.set32(w, self.completion_queues.into());
        ident::QUEUE_COUNTS_IRQ.set32(w, self.irq_vectors.into())
    }

    /// The `IDENT.RING_LIMITS` word.
    pub fn ring_limits_word(&self) -> u32 {
        let mut w = ident::RING_LIMITS_MIN_LOG2.set32(0, self.ring_min_log2.into());
        w = ident::RING_LIMITS_MAX_LOG2.set32(w, self.ring_max_log2.into());
        ident::RING_LIMITS_MAX_SG.set32(w, self.caps.max_sg.into())
    }

    /// The `IDENT.DATAPATH` word.
    pub fn datapath_word(&self) -> u32 {
        ident::DATAPATH_CLOCK_MHZ.set32(
            ident::DATAPATH_WIDTH_BITS.set32(0, self.datapath_bits.into()),
            self.clock_mhz.into(),
        )
    }

    /// Bytes of the largest TX request the device can be asked to gather: a maximum frame, or
    /// maximal headers plus the maximum TSO payload. Longer requests fail validation.
    pub fn max_request_len(&self) -> usize {
        let frame = usize::from(self.caps.max_frame_len);
        let tso = if self.caps.tso {
            (hw_spec::offload::MAX_L2_LEN
                + hw_spec::offload::MAX_L3_LEN
                + hw_spec::offload::MAX_TCP_LEN) as usize
                + self.caps.max_tso_payload as usize
        } else {
            0
        };
        frame.max(tso)
    }
}

impl DeviceConfig {
    /// The fields in which `other` differs from `self`, as `name: self vs other` (empty when
    /// they are equal): what an error about a configuration mismatch should name.
    pub fn differences(&self, other: &DeviceConfig) -> Vec<String> {
        let mut out = Vec::new();
        let mut cmp = |name: &str, a: String, b: String| {
            if a != b {
                out.push(format!("{name}: {a} vs {b}"));
            }
        };
        let (a, b) = (self, other);
        cmp(
            "tx_queues",
            a.tx_queues.to_string(),
            b.tx_queues.to_string(),
        );
        cmp(
            "rx_queues",
            a.rx_queues.to_string(),
            b.rx_queues.to_string(),
        );
        cmp(
            "completion_queues",
            a.completion_queues.to_string(),
            b.completion_queues.to_string(),
        );
        cmp(
            "irq_vectors",
            a.irq_vectors.to_string(),
            b.irq_vectors.to_string(),
        );
        cmp(
            "ring_min_log2",
            a.ring_min_log2.to_string(),
            b.ring_min_log2.to_string(),
        );
        cmp(
            "ring_max_log2",
            a.ring_max_log2.to_string(),
            b.ring_max_log2.to_string(),
        );
        cmp("caps", format!("{:?}", a.caps), format!("{:?}", b.caps));
        cmp(
            "datapath_bits",
            a.datapath_bits.to_string(),
            b.datapath_bits.to_string(),
        );
        cmp(
            "clock_mhz",
            a.clock_mhz.to_string(),
            b.clock_mhz.to_string(),
        );
        cmp("revision", a.revision.to_string(), b.revision.to_string());
        cmp("build_id", a.build_id.to_string(), b.build_id.to_string());
        out
    }
}

/// The `IDENT` words that describe a build (what [`DeviceConfig`] is read back from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdentWords {
    /// `IDENT.DEVICE_ID`.
    pub device_id: u32,
    /// `IDENT.BUILD_ID`.
    pub build_id: u32,
    /// `IDENT.CAPS`.
    pub caps: u32,
    /// `IDENT.MAX_TSO_PAYLOAD`.
    pub max_tso_payload: u32,
    /// `IDENT.MAX_FRAME_LEN`.
    pub max_frame_len: u32,
    /// `IDENT.MSS_LIMITS`.
    pub mss_limits: u32,
    /// `IDENT.QUEUE_COUNTS`.
    pub queue_counts: u32,
    /// `IDENT.RING_LIMITS`.
    pub ring_limits: u32,
    /// `IDENT.DATAPATH`.
    pub datapath: u32,
}

impl IdentWords {
    /// BAR0 offsets of the words, in the order of [`IdentWords::from_array`].
    pub const OFFSETS: [u32; 9] = [
        ident::BASE + ident::DEVICE_ID.offset,
        ident::BASE + ident::BUILD_ID.offset,
        ident::BASE + ident::CAPS.offset,
        ident::BASE + ident::MAX_TSO_PAYLOAD.offset,
        ident::BASE + ident::MAX_FRAME_LEN.offset,
        ident::BASE + ident::MSS_LIMITS.offset,
        ident::BASE + ident::QUEUE_COUNTS.offset,
        ident::BASE + ident::RING_LIMITS.offset,
        ident::BASE + ident::DATAPATH.offset,
    ];

    /// The words read at [`IdentWords::OFFSETS`], in that order.
    pub const fn from_array(w: [u32; 9]) -> IdentWords {
        IdentWords {
            device_id: w[0],
            build_id: w[1],
            caps: w[2],
            max_tso_payload: w[3],
            max_frame_len: w[4],
            mss_limits: w[5],
            queue_counts: w[6],
            ring_limits: w[7],
            datapath: w[8],
        }
    }
}

impl DeviceConfig {
    /// The configuration a device's `IDENT` words describe (what a driver learns at attach),
    /// checked like any other.
    pub fn from_ident(w: &IdentWords) -> Result<DeviceConfig, ConfigError> {
        let field = |f: hw_spec::layout::BitField, v: u32| f.get32(v);
        let cfg = DeviceConfig {
            tx_queues: field(ident::QUEUE_COUNTS_TX, w.queue_counts) as u8,
            rx_queues: field(ident::QUEUE_COUNTS_RX, w.queue_counts) as u8,
            completion_queues: field(ident::QUEUE_COUNTS_CQ, w.queue_counts) as u8,
            irq_vectors: field(ident::QUEUE_COUNTS_IRQ, w.queue_counts) as u8,
            ring_min_log2: field(ident::RING_LIMITS_MIN_LOG2, w.ring_limits) as u8,
            ring_max_log2: field(ident::RING_LIMITS_MAX_LOG2, w.ring_limits) as u8,
            caps: DeviceCaps::from_registers(
                w.caps,
                w.max_tso_payload,
                w.max_frame_len,
                w.mss_limits,
                w.ring_limits,
            ),
            datapath_bits: field(ident::DATAPATH_WIDTH_BITS, w.datapath) as u16,
            clock_mhz: field(ident::DATAPATH_CLOCK_MHZ, w.datapath) as u16,
            revision: field(ident::DEVICE_ID_REVISION, w.device_id) as u16,
            build_id: w.build_id,
        };
        cfg.check()?;
        Ok(cfg)
    }
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig::REFERENCE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_is_consistent() {
        DeviceConfig::REFERENCE.check().unwrap();
        assert_eq!(DeviceConfig::REFERENCE.max_request_len(), 184 + 65535);
        let w = DeviceConfig::REFERENCE.ring_limits_word();
        assert_eq!(ident::RING_LIMITS_MAX_SG.get32(w), 16);
        assert_eq!(ident::RING_LIMITS_MAX_LOG2.get32(w), 15);
        assert_eq!(
            ident::QUEUE_COUNTS_CQ.get32(DeviceConfig::REFERENCE.queue_counts_word()),
            8
        );
        assert_eq!(DeviceConfig::REFERENCE.build_id >> 16, 0);
    }

    #[test]
    fn ident_words_round_trip() {
        let c = DeviceConfig::REFERENCE;
        let device_id = ident::DEVICE_ID_REVISION.set32(0, c.revision.into());
        let w = IdentWords {
            device_id,
            build_id: c.build_id,
            caps: c.caps_word(),
            max_tso_payload: c.caps.max_tso_payload,
            max_frame_len: c.caps.max_frame_len.into(),
            mss_limits: c.caps.mss_limits_word(),
            queue_counts: c.queue_counts_word(),
            ring_limits: c.ring_limits_word(),
            datapath: c.datapath_word(),
        };
        assert_eq!(DeviceConfig::from_ident(&w), Ok(c));
        let mut bad = w;
        bad.queue_counts = 0;
        assert!(DeviceConfig::from_ident(&bad).is_err());
        let mut two = c;
        two.tx_queues = 2;
        assert_eq!(c.differences(&c), Vec::<String>::new());
        assert_eq!(c.differences(&two), vec!["tx_queues: 4 vs 2".to_string()]);
    }

    #[test]
    fn rejects_out_of_room_and_inconsistent() {
        let mut c = DeviceConfig::REFERENCE;
        c.tx_queues = 0;
        assert!(c.check().is_err());
        let mut c = DeviceConfig::REFERENCE;
        c.rx_queues = 127;
        assert!(c.check().unwrap_err().to_string().contains("RX queues"));
        let mut c = DeviceConfig::REFERENCE;
        c.ring_max_log2 = 16;
        assert!(c.check().is_err());
        let mut c = DeviceConfig::REFERENCE;
        c.caps.tx_scatter_gather = false;
        assert!(c.check().unwrap_err().to_string().contains("MaxSg"));
    }
}
