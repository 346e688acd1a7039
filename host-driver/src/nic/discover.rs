//! Discovery: walking BAR0's block chain and reading the `IDENT` block, without changing the
//! device.
//!
//! Owns [`DeviceInfo`] (identity, capabilities, limits, queue counts, block bases) and the
//! checks that make a driver refuse a device (hw-spec section 2 and 3): a block header with
//! another vendor, a `NEXT` that points backwards or outside BAR0, a chain without an end, a
//! missing block, a block whose registers do not fit BAR0, an unsupported contract major
//! version, inconsistent capabilities. Every refusal is a [`DeviceError`] naming the device,
//! the block and offset concerned and the fix. Discovery only reads registers, so
//! `ferrotoe probe` can run it on a device another driver is using.

use hw_spec::offload::CapsError;
use hw_spec::regs::{self, block_type, control, header, ident, irq, queue, rss, stats};
use hw_spec::{DeviceCaps, Implementation};

use crate::access::DeviceAccess;
use crate::error::{DeviceError, DeviceErrorKind};

/// Longest block chain a driver follows (the reference device has 8 blocks).
pub const MAX_BLOCKS: usize = 64;

/// One block found on the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Block type (lower 16 bits of `TYPE`).
    pub type_id: u16,
    /// Layout version of the block (`VERSION`).
    pub version: u32,
    /// BAR0 offset of the block.
    pub base: u32,
}

impl BlockInfo {
    /// The block's name in the contract (`"?"` for a type this driver does not know).
    pub fn name(&self) -> &'static str {
        block_name(self.type_id)
    }
}

/// The contract name of a block type.
pub fn block_name(type_id: u16) -> &'static str {
    regs::block_by_type(type_id).map(|b| b.name).unwrap_or("?")
}

/// The BAR0 bases of the blocks the driver uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockBases {
    /// `CONTROL`.
    pub control: u32,
    /// `TXQ`.
    pub txq: u32,
    /// `RXQ`.
    pub rxq: u32,
    /// `CQ`.
    pub cq: u32,
    /// `STATS`.
    pub stats: u32,
    /// `IRQ`.
    pub irq: u32,
    /// `RSS`, when the device has receive-side scaling.
    pub rss: Option<u32>,
}

/// What a device is and can do, read from its `IDENT` block and block chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Where the device is (PCI address, simulator path).
    pub location: String,
    /// Contract version (major, minor).
    pub spec_version: (u16, u16),
    /// What implements the device (`None`: a value this driver does not know).
    pub implementation: Option<Implementation>,
    /// The raw `DEVICE_ID.IMPLEMENTATION` value.
    pub implementation_code: u8,
    /// Implementation revision.
    pub revision: u16,
    /// Build identifier.
    pub build_id: u32,
    /// The raw `CAPS` word.
    pub caps_word: u32,
    /// Offloads and limits.
    pub caps: DeviceCaps,
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
    /// Largest ring, log2 of entries.
    pub ring_max_log2: u8,
    /// Stream datapath width in bits.
    pub datapath_bits: u16,
    /// Nominal datapath clock in MHz.
    pub clock_mhz: u16,
    /// The chain, in order.
    pub blocks: Vec<BlockInfo>,
    /// Bases of the blocks the driver uses.
    pub bases: BlockBases,
}

impl DeviceInfo {
    /// Queue pairs the driver can run: one TX queue, one RX queue and two completion queues
    /// each.
    pub fn queue_pairs(&self) -> u16 {
        u16::from(self.tx_queues)
            .min(self.rx_queues.into())
            .min(u16::from(self.completion_queues) / 2)
    }

    /// Walks the block chain of `dev` and reads its identity. Reads registers only.
    pub fn discover<D: DeviceAccess + ?Sized>(dev: &D) -> Result<DeviceInfo, DeviceError> {
        let blocks = walk_chain(dev)?;
        let find = |t: u16| blocks.iter().find(|b| b.type_id == t).map(|b| b.base);
        if blocks[0].type_id != block_type::IDENT {
            return Err(refuse(
                dev,
                "walking the BAR0 block chain",
                format!(
                    "the chain starts with block type {:#06x} ({}), not IDENT",
                    blocks[0].type_id,
                    blocks[0].name()
                ),
                "this is not a ferrotoe NIC, or its BAR0 is not the register BAR",
            ));
        }
        let base = blocks[0].base;
        let r = |reg: &hw_spec::layout::Register| read(dev, (base + reg.offset) as usize);
        let version = r(&ident::SPEC_VERSION)?;
        let major = ident::SPEC_VERSION_MAJOR.get32(version) as u16;
        let minor = ident::SPEC_VERSION_MINOR.get32(version) as u16;
        if major != regs::SPEC_VERSION_MAJOR {
            return Err(DeviceError::unsupported_spec_version(
                dev.location(),
                (major, minor),
                regs::SPEC_VERSION_MAJOR,
            ));
        }
        let device_id = r(&ident::DEVICE_ID)?;
        let build_id = r(&ident::BUILD_ID)?;
        let caps_word = r(&ident::CAPS)?;
        let max_tso = r(&ident::MAX_TSO_PAYLOAD)?;
        let max_frame = r(&ident::MAX_FRAME_LEN)?;
        let mss = r(&ident::MSS_LIMITS)?;
        let counts = r(&ident::QUEUE_COUNTS)?;
        let ring = r(&ident::RING_LIMITS)?;
        let datapath = r(&ident::DATAPATH)?;
        let caps = DeviceCaps::from_registers(caps_word, max_tso, max_frame, mss, ring);
        if let Err(e) = caps.check() {
            return Err(DeviceError::new(
                DeviceErrorKind::DeviceMisbehaved,
                dev.location(),
                "checking the device's capabilities (IDENT)",
                format!(
                    "inconsistent capabilities: {} (CAPS {caps_word:#010x}, MAX_TSO_PAYLOAD \
                     {max_tso}, MAX_FRAME_LEN {max_frame}, MSS_LIMITS {mss:#010x}, RING_LIMITS \
                     {ring:#010x})",
                    caps_error_text(e)
                ),
            )
            .with_fix(
                "the device's IDENT block breaks hw-spec section 3: fix its configuration \
                 (bitstream, simulator flags)",
            ));
        }
        let implementation_code = ident::DEVICE_ID_IMPLEMENTATION.get32(device_id) as u8;
        let info = DeviceInfo {
            location: dev.location().to_string(),
            spec_version: (major, minor),
            implementation: Implementation::from_bits(implementation_code.into()),
            implementation_code,
            revision: ident::DEVICE_ID_REVISION.get32(device_id) as u16,
            build_id,
            caps_word,
            caps,
            tx_queues: ident::QUEUE_COUNTS_TX.get32(counts) as u8,
            rx_queues: ident::QUEUE_COUNTS_RX.get32(counts) as u8,
            completion_queues: ident::QUEUE_COUNTS_CQ.get32(counts) as u8,
            irq_vectors: ident::QUEUE_COUNTS_IRQ.get32(counts) as u8,
            ring_min_log2: ident::RING_LIMITS_MIN_LOG2.get32(ring) as u8,
            ring_max_log2: ident::RING_LIMITS_MAX_LOG2.get32(ring) as u8,
            datapath_bits: ident::DATAPATH_WIDTH_BITS.get32(datapath) as u16,
            clock_mhz: ident::DATAPATH_CLOCK_MHZ.get32(datapath) as u16,
            bases: BlockBases {
                control: require(dev, find, block_type::CONTROL)?,
                txq: require(dev, find, block_type::TXQ)?,
                rxq: require(dev, find, block_type::RXQ)?,
                cq: require(dev, find, block_type::CQ)?,
                stats: require(dev, find, block_type::STATS)?,
                irq: require(dev, find, block_type::IRQ)?,
                rss: if caps.rss {
                    Some(require(dev, find, block_type::RSS)?)
                } else {
                    find(block_type::RSS)
                },
            },
            blocks,
        };
        info.check_limits(dev)?;
        Ok(info)
    }

    fn check_limits<D: DeviceAccess + ?Sized>(&self, dev: &D) -> Result<(), DeviceError> {
        let step = "checking the device's queue counts and ring limits (IDENT)";
        if self.ring_min_log2 == 0
            || self.ring_min_log2 > self.ring_max_log2
            || self.ring_max_log2 > 15
        {
            return Err(DeviceError::new(
                DeviceErrorKind::DeviceMisbehaved,
                dev.location(),
                step,
                format!(
                    "RING_LIMITS gives ring sizes 2^{}..2^{}; hw-spec needs 1 <= MIN_LOG2 <= \
                     MAX_LOG2 <= 15",
                    self.ring_min_log2, self.ring_max_log2
                ),
            )
            .with_fix("fix the device's IDENT.RING_LIMITS"));
        }
        if self.queue_pairs() == 0 {
            return Err(DeviceError::new(
                DeviceErrorKind::Unsupported,
                dev.location(),
                step,
                format!(
                    "the device has {} TX, {} RX and {} completion queues; the driver needs at \
                     least one TX and one RX queue and two completion queues",
                    self.tx_queues, self.rx_queues, self.completion_queues
                ),
            )
            .with_fix(
                "build the device with more queues (`ferrotoe nicsim --completion-queues 2`)",
            ));
        }
        // Every register the driver may touch must lie inside BAR0.
        let bar = dev.bar0_len() as u64;
        let b = &self.bases;
        let q_end = |base: u32, n: u8| {
            u64::from(base)
                + u64::from(queue::ARRAY_OFFSET)
                + u64::from(n) * u64::from(queue::STRIDE)
        };
        let mut extents = vec![
            (
                "CONTROL",
                b.control,
                u64::from(b.control) + u64::from(control::RX_DROPS_NO_QUEUE.offset) + 4,
            ),
            ("TXQ", b.txq, q_end(b.txq, self.tx_queues)),
            ("RXQ", b.rxq, q_end(b.rxq, self.rx_queues)),
            ("CQ", b.cq, q_end(b.cq, self.completion_queues)),
            (
                "STATS",
                b.stats,
                u64::from(b.stats)
                    + u64::from(stats::RX_ARRAY_OFFSET)
                    + u64::from(self.rx_queues) * u64::from(stats::STRIDE),
            ),
            (
                "IRQ",
                b.irq,
                u64::from(b.irq)
                    + u64::from(irq::ARRAY_OFFSET)
                    + u64::from(self.irq_vectors) * u64::from(irq::STRIDE),
            ),
        ];
        if let Some(r) = b.rss {
            extents.push((
                "RSS",
                r,
                u64::from(r) + u64::from(rss::TABLE_OFFSET) + u64::from(rss::TABLE_ENTRIES) * 4,
            ));
        }
        let tx_stats_end = u64::from(b.stats)
            + u64::from(stats::TX_ARRAY_OFFSET)
            + u64::from(self.tx_queues) * u64::from(stats::STRIDE);
        let tx_stats_room = u64::from(b.stats) + u64::from(stats::RX_ARRAY_OFFSET);
        for (name, base, end) in extents {
            if end > bar || (name == "STATS" && tx_stats_end > tx_stats_room) {
                return Err(refuse(
                    dev,
                    "checking the register blocks against BAR0",
                    format!(
                        "the {name} block at BAR0 offset {base:#x} needs registers up to {end:#x} \
                         for the advertised queue counts, beyond BAR0 ({bar:#x} bytes)"
                    ),
                    "the device's block layout or queue counts are wrong",
                ));
            }
        }
        Ok(())
    }
}

fn caps_error_text(e: CapsError) -> &'static str {
    match e {
        CapsError::MssRange => "MIN_MSS is 0 or above MAX_MSS",
        CapsError::TooManySegments => {
            "a TSO request could need more than 65535 segments (MAX_TSO_PAYLOAD / MIN_MSS)"
        }
        CapsError::MaxSg => "MAX_SG is 0, or above 1 without TX_SCATTER_GATHER",
        CapsError::TsoWithoutChecksums => {
            "TSO is advertised without IPv4 and TCP checksum insertion"
        }
        CapsError::MaxFrameLen => "MAX_FRAME_LEN is below 60 bytes",
    }
}

fn refuse<D: DeviceAccess + ?Sized>(dev: &D, step: &str, detail: String, fix: &str) -> DeviceError {
    DeviceError::new(DeviceErrorKind::WrongDevice, dev.location(), step, detail).with_fix(fix)
}

/// Reads a register; a device that reads all ones has stopped answering.
fn read<D: DeviceAccess + ?Sized>(dev: &D, offset: usize) -> Result<u32, DeviceError> {
    let v = dev
        .read32(offset)
        .map_err(|e| DeviceError::register(dev.location(), e))?;
    if v == u32::MAX {
        return Err(not_responding(dev, offset));
    }
    Ok(v)
}

/// The error for a device whose register reads return all ones (gone from the bus, or a
/// simulator that stopped).
pub fn not_responding<D: DeviceAccess + ?Sized>(dev: &D, offset: usize) -> DeviceError {
    let detail = match dev.failure() {
        Some(why) => format!(
            "the register at BAR0 offset {offset:#x} reads 0xffffffff: the device is not \
             responding ({why})"
        ),
        None => format!(
            "the register at BAR0 offset {offset:#x} reads 0xffffffff: the device is not \
             responding (gone from the bus, powered down, or in reset)"
        ),
    };
    DeviceError::new(
        DeviceErrorKind::Timeout,
        dev.location(),
        "reading BAR0",
        detail,
    )
    .with_fix("reset the device (or restart the simulator, reload the bitstream) and attach again")
}

fn require<D: DeviceAccess + ?Sized>(
    dev: &D,
    find: impl Fn(u16) -> Option<u32>,
    type_id: u16,
) -> Result<u32, DeviceError> {
    find(type_id).ok_or_else(|| {
        refuse(
            dev,
            "walking the BAR0 block chain",
            format!(
                "the chain has no {} block (type {type_id:#06x})",
                block_name(type_id)
            ),
            "this device does not implement what the driver needs: check its hw-spec version \
             and build",
        )
    })
}

fn walk_chain<D: DeviceAccess + ?Sized>(dev: &D) -> Result<Vec<BlockInfo>, DeviceError> {
    let bar = dev.bar0_len() as u64;
    let step = "walking the BAR0 block chain";
    let mut blocks: Vec<BlockInfo> = Vec::new();
    let mut at: u32 = regs::ident::BASE;
    loop {
        if blocks.len() == MAX_BLOCKS {
            return Err(refuse(
                dev,
                step,
                format!("the chain has more than {MAX_BLOCKS} blocks without ending"),
                "the device's block chain is broken",
            ));
        }
        let ty = read(dev, (at + header::TYPE_OFFSET) as usize)?;
        let vendor = header::TYPE_VENDOR.get32(ty) as u16;
        if vendor != regs::VENDOR {
            return Err(refuse(
                dev,
                step,
                format!(
                    "the block header at BAR0 offset {at:#x} has vendor {vendor:#06x} (TYPE word \
                     {ty:#010x}), expected {:#06x}",
                    regs::VENDOR
                ),
                "this is not a ferrotoe NIC (check the PCI address), or its BAR0 is not the \
                 register BAR",
            ));
        }
        let type_id = header::TYPE_BLOCK.get32(ty) as u16;
        let version = read(dev, (at + header::VERSION_OFFSET) as usize)?;
        let next = dev
            .read32((at + header::NEXT_OFFSET) as usize)
            .map_err(|e| DeviceError::register(dev.location(), e))?;
        if let Some(dup) = blocks.iter().find(|b| b.type_id == type_id) {
            return Err(refuse(
                dev,
                step,
                format!(
                    "the {} block (type {type_id:#06x}) appears twice, at BAR0 offsets {:#x} and \
                     {at:#x}",
                    block_name(type_id),
                    dup.base
                ),
                "the device's block chain is broken",
            ));
        }
        blocks.push(BlockInfo {
            type_id,
            version,
            base: at,
        });
        if next == 0 {
            return Ok(blocks);
        }
        if next <= at {
            return Err(refuse(
                dev,
                step,
                format!(
                    "NEXT of the {} block at BAR0 offset {at:#x} points back to {next:#x}: the \
                     chain would loop",
                    block_name(type_id)
                ),
                "the device's block chain is broken",
            ));
        }
        if next % 4 != 0 || u64::from(next) + u64::from(header::SIZE) > bar {
            return Err(refuse(
                dev,
                step,
                format!(
                    "NEXT of the {} block at BAR0 offset {at:#x} is {next:#x}, outside BAR0 \
                     ({bar:#x} bytes) or not 4-byte aligned",
                    block_name(type_id)
                ),
                "the device's block chain is broken",
            ));
        }
        at = next;
    }
}
