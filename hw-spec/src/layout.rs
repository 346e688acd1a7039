//! The data model of the contract: bit fields, registers, register blocks, descriptor layouts
//! and enumerations.
//!
//! Everything in [`crate::regs`], [`crate::descriptors`] and [`crate::commands`] is written as
//! `const` values of these types. The generators in [`crate::render`] walk the same values, so a
//! field position typed here is the only place it is typed anywhere in the project.
//!
//! Bit numbering is little-endian throughout: bit 0 of a register is its least significant bit,
//! and bit `8 * n + k` of a descriptor is bit `k` of byte `n`.

/// How software may access a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only; writes are ignored and flagged as a bad register access.
    ReadOnly,
    /// Read and write.
    ReadWrite,
    /// Write only (command words); reads return 0.
    WriteOnly,
    /// Read; writing a 1 to a bit clears it.
    ReadWrite1Clear,
}

impl Access {
    /// The short name used in the generated tables (`RO`, `RW`, `WO`, `RW1C`).
    pub const fn short_name(self) -> &'static str {
        match self {
            Access::ReadOnly => "RO",
            Access::ReadWrite => "RW",
            Access::WriteOnly => "WO",
            Access::ReadWrite1Clear => "RW1C",
        }
    }

    /// Whether a software write has an effect.
    pub const fn is_writable(self) -> bool {
        !matches!(self, Access::ReadOnly)
    }
}

/// A named run of bits inside a register word or a descriptor.
///
/// For registers `lsb` counts from bit 0 of the 32-bit word; for descriptors it counts from bit 0
/// of byte 0 of the descriptor (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BitField {
    /// Upper-case name, unique within its register or descriptor.
    pub name: &'static str,
    /// Position of the least significant bit.
    pub lsb: u32,
    /// Number of bits (1 to 64).
    pub width: u32,
    /// One-line meaning.
    pub doc: &'static str,
}

impl BitField {
    /// A field of `width` bits starting at bit `lsb`.
    pub const fn new(name: &'static str, lsb: u32, width: u32, doc: &'static str) -> Self {
        BitField {
            name,
            lsb,
            width,
            doc,
        }
    }

    /// The largest value the field holds (all of its bits set), unshifted.
    pub const fn max_value(&self) -> u64 {
        if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        }
    }

    /// The position of the most significant bit.
    pub const fn msb(&self) -> u32 {
        self.lsb + self.width - 1
    }

    /// Whether `value` fits in the field without truncation.
    pub const fn fits(&self, value: u64) -> bool {
        value <= self.max_value()
    }

    /// The field's bits in a 32-bit register word, in place.
    ///
    /// Only meaningful for register fields (`msb() < 32`).
    pub const fn mask32(&self) -> u32 {
        (self.max_value() << self.lsb) as u32
    }

    /// Extracts the field from a 32-bit register word.
    #[inline]
    pub const fn get32(&self, word: u32) -> u32 {
        ((word as u64 >> self.lsb) & self.max_value()) as u32
    }

    /// Returns `word` with the field replaced by `value` (truncated to the field width).
    #[inline]
    pub const fn set32(&self, word: u32, value: u32) -> u32 {
        (word & !self.mask32()) | (((value as u64 & self.max_value()) << self.lsb) as u32)
    }

    /// Extracts the field from a little-endian byte buffer (a descriptor).
    ///
    /// # Panics
    /// Panics if the field reaches beyond `bytes`; descriptor layouts are checked by tests to fit
    /// their declared size, so callers pass a buffer of that size.
    #[inline]
    pub fn get_le(&self, bytes: &[u8]) -> u64 {
        let first = (self.lsb / 8) as usize;
        let shift = self.lsb % 8;
        let span = (shift + self.width).div_ceil(8) as usize;
        let mut acc: u128 = 0;
        for (i, byte) in bytes[first..first + span].iter().enumerate() {
            acc |= (*byte as u128) << (8 * i);
        }
        ((acc >> shift) as u64) & self.max_value()
    }

    /// Writes `value` (truncated to the field width) into a layout held as little-endian 64-bit
    /// words (word `i` is bytes `8i..8i + 8`), leaving the other bits untouched: what
    /// [`BitField::set_le`] does to the bytes, in whole-word operations (an encoder that builds
    /// the words first and stores them once avoids many byte stores).
    ///
    /// # Panics
    /// Panics if the field reaches beyond `words`.
    #[inline]
    pub fn set_le_words(&self, words: &mut [u64], value: u64) {
        let w = (self.lsb / 64) as usize;
        let shift = self.lsb % 64;
        let mask = (self.max_value() as u128) << shift;
        let bits = ((value & self.max_value()) as u128) << shift;
        words[w] = (words[w] & !(mask as u64)) | bits as u64;
        if shift + self.width > 64 {
            words[w + 1] = (words[w + 1] & !((mask >> 64) as u64)) | (bits >> 64) as u64;
        }
    }

    /// Writes `value` (truncated to the field width) into a little-endian byte buffer, leaving
    /// the other bits untouched.
    ///
    /// # Panics
    /// Panics if the field reaches beyond `bytes` (see [`BitField::get_le`]).
    #[inline]
    pub fn set_le(&self, bytes: &mut [u8], value: u64) {
        let first = (self.lsb / 8) as usize;
        let shift = self.lsb % 8;
        let span = (shift + self.width).div_ceil(8) as usize;
        let window = &mut bytes[first..first + span];
        let mask = (self.max_value() as u128) << shift;
        let bits = ((value & self.max_value()) as u128) << shift;
        for (i, byte) in window.iter_mut().enumerate() {
            let m = (mask >> (8 * i)) as u8;
            let b = (bits >> (8 * i)) as u8;
            *byte = (*byte & !m) | (b & m);
        }
    }
}

/// One 32-bit register at a fixed offset inside its block (or inside one element of a
/// [`RegisterArray`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Register {
    /// Upper-case name, unique within its block or array.
    pub name: &'static str,
    /// Byte offset from the start of the block (or array element); a multiple of 4.
    pub offset: u32,
    /// Software access.
    pub access: Access,
    /// Value after power-on and after `CONTROL.CTRL.RESET`, unless the doc says the device fills
    /// it in (identity and capability registers).
    pub reset: u32,
    /// Meaning, one or two sentences.
    pub doc: &'static str,
    /// Named fields; empty when the register is one 32-bit quantity.
    pub fields: &'static [BitField],
}

/// A repeated group of registers, one element per queue or vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegisterArray {
    /// Upper-case name of one element (e.g. `TXQ`).
    pub name: &'static str,
    /// Offset of element 0 from the start of the block.
    pub offset: u32,
    /// Distance between elements in bytes.
    pub stride: u32,
    /// Most elements the block has room for; the device reports how many exist.
    pub max_count: u32,
    /// Registers of one element, offsets relative to the element.
    pub registers: &'static [Register],
    /// Meaning of one element.
    pub doc: &'static str,
}

/// A discoverable register block: it starts with the common header (`TYPE`, `VERSION`, `NEXT`)
/// so a driver can walk the list from offset 0 without knowing the build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Upper-case name, used as the prefix of generated constants.
    pub name: &'static str,
    /// Block type (lower 16 bits of the `TYPE` register; the upper 16 are the vendor).
    pub type_id: u16,
    /// Layout version of this block (`VERSION` register).
    pub version: u32,
    /// Offset of the block in BAR0.
    pub base: u32,
    /// Bytes reserved for the block.
    pub size: u32,
    /// What the block is for.
    pub doc: &'static str,
    /// Registers at fixed offsets, header included.
    pub registers: &'static [Register],
    /// Repeated register groups.
    pub arrays: &'static [RegisterArray],
}

impl Block {
    /// The value the block's `TYPE` register reads as.
    pub const fn type_word(&self) -> u32 {
        crate::regs::type_word(self.type_id)
    }

    /// Finds a fixed register by name.
    pub fn register(&self, name: &str) -> Option<&'static Register> {
        self.registers.iter().find(|r| r.name == name)
    }
}

/// The byte layout of a descriptor or completion entry in host memory (little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DescriptorLayout {
    /// Upper-case name, used as the prefix of generated constants (e.g. `TXD`).
    pub name: &'static str,
    /// Size in bytes; a power of two.
    pub size: u32,
    /// What the structure is for.
    pub doc: &'static str,
    /// Fields; bits not covered are reserved and must be zero.
    pub fields: &'static [BitField],
}

/// One named value of an [`Enumeration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnumValue {
    /// Upper-case name.
    pub name: &'static str,
    /// Encoded value.
    pub value: u32,
    /// Meaning.
    pub doc: &'static str,
}

/// A set of named values that a field takes (opcodes, error codes, status codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Enumeration {
    /// Upper-case name, used as the prefix of generated constants.
    pub name: &'static str,
    /// Width of the field that carries the value, in bits.
    pub width: u32,
    /// What the values are.
    pub doc: &'static str,
    /// The values.
    pub values: &'static [EnumValue],
}

impl Enumeration {
    /// Finds the name of an encoded value.
    pub fn name_of(&self, value: u32) -> Option<&'static str> {
        self.values
            .iter()
            .find(|v| v.value == value)
            .map(|v| v.name)
    }
}

/// A named numeric parameter of the contract (alignment, vendor, spec version, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Constant {
    /// Upper-case name.
    pub name: &'static str,
    /// Value.
    pub value: u64,
    /// Meaning.
    pub doc: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_field_get_set_round_trip() {
        let f = BitField::new("X", 8, 5, "");
        assert_eq!(f.mask32(), 0x1F00);
        let w = f.set32(0xFFFF_FFFF, 0b10101);
        assert_eq!(w, 0xFFFF_F5FF);
        assert_eq!(f.get32(w), 0b10101);
        // Values wider than the field are truncated, not spilled into neighbours.
        assert_eq!(f.set32(0, 0xFF), 0x1F00);
    }

    #[test]
    fn descriptor_field_crossing_bytes() {
        let f = BitField::new("X", 12, 20, "");
        let mut buf = [0xAAu8; 8];
        f.set_le(&mut buf, 0xF_1234);
        assert_eq!(f.get_le(&buf), 0xF_1234);
        // Bits 0..12 and 32.. are untouched.
        assert_eq!(buf[0], 0xAA);
        assert_eq!(buf[1] & 0x0F, 0x0A);
        assert_eq!(&buf[4..], &[0xAA; 4]);
    }

    /// Word-wise writes give the bytes byte-wise writes give, for fields inside one word,
    /// crossing a word boundary and a full word, over a background of ones and of zeros.
    #[test]
    fn word_writes_match_byte_writes() {
        let fields = [
            BitField::new("A", 0, 16, ""),
            BitField::new("B", 60, 9, ""),
            BitField::new("C", 64, 64, ""),
            BitField::new("D", 125, 3, ""),
            BitField::new("E", 33, 31, ""),
        ];
        for background in [0u8, 0xFF] {
            for (i, f) in fields.iter().enumerate() {
                let value = 0x5A5A_F0F0_1234_ABCDu64.rotate_left(i as u32 * 7);
                let mut bytes = [background; 16];
                f.set_le(&mut bytes, value);
                let mut words = [u64::from_le_bytes([background; 8]); 2];
                f.set_le_words(&mut words, value);
                let mut from_words = [0u8; 16];
                from_words[..8].copy_from_slice(&words[0].to_le_bytes());
                from_words[8..].copy_from_slice(&words[1].to_le_bytes());
                assert_eq!(from_words, bytes, "{} over {background:#x}", f.name);
            }
        }
    }

    #[test]
    fn full_width_u64_field() {
        let f = BitField::new("ADDR", 0, 64, "");
        let mut buf = [0u8; 8];
        f.set_le(&mut buf, 0x0123_4567_89AB_CDEF);
        assert_eq!(buf, 0x0123_4567_89AB_CDEFu64.to_le_bytes());
        assert_eq!(f.get_le(&buf), 0x0123_4567_89AB_CDEF);
    }
}
