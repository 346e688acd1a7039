//! Queue command words.
//!
//! Queue state changes are single 32-bit writes to a queue's `CMD` register, never
//! read-modify-write sequences: `OPCODE` in bits 31:24, `ARG` in bits 23:0. The device applies a
//! command atomically or rejects it whole (it is then ignored, `ERROR_STATUS.BAD_COMMAND` is set
//! and `LAST_ERROR` names the queue).
//!
//! | opcode | TX/RX queue | completion queue | rule |
//! |---|---|---|---|
//! | `SET_LOG2_SIZE` | yes | yes | only while disabled; ARG within `RING_LIMITS` |
//! | `SET_CQ` | yes | - | only while disabled; ARG < number of completion queues |
//! | `SET_PROD` | yes | - | the doorbell; needs a size; ARG - CONS must not exceed the ring size |
//! | `SET_CONS` | - | yes | the driver has consumed up to ARG; ARG within [CONS, PROD] |
//! | `SET_CONS_ARM` | - | yes | `SET_CONS` then `ARM` in one write |
//! | `ARM` | - | yes | the next completion raises the interrupt vector once |
//! | `SET_IRQ` | - | yes | only while disabled; ARG < number of vectors |
//! | `ENABLE` | yes | yes | needs size set and base aligned; TX/RX also need an enabled CQ; clears STOPPED_ON_FAULT |
//! | `DISABLE` | yes | yes | a TX queue finishes the frame in flight first |
//! | `RESET_POINTERS` | yes | yes | only while disabled; PROD = CONS = 0 |

use crate::enums::QueueKind;
use crate::layout::BitField;

/// `CMD.OPCODE`.
pub const CMD_OPCODE: BitField = BitField::new("OPCODE", 24, 8, "Command (enum OPCODE)");
/// `CMD.ARG`.
pub const CMD_ARG: BitField = BitField::new("ARG", 0, 24, "Command argument");

pub use crate::enums::{OPCODE, Opcode};

impl Opcode {
    /// Whether queues of `kind` accept this opcode.
    pub const fn valid_for(self, kind: QueueKind) -> bool {
        match self {
            Opcode::SetLog2Size | Opcode::Enable | Opcode::Disable | Opcode::ResetPointers => {
                !matches!(kind, QueueKind::None)
            }
            Opcode::SetCq | Opcode::SetProd => matches!(kind, QueueKind::Tx | QueueKind::Rx),
            Opcode::SetCons | Opcode::SetConsArm | Opcode::Arm | Opcode::SetIrq => {
                matches!(kind, QueueKind::Cq)
            }
        }
    }

    /// Width in bits of the argument this opcode takes (0: the argument must be zero).
    pub const fn arg_width(self) -> u32 {
        match self {
            Opcode::SetLog2Size => 5,
            Opcode::SetCq | Opcode::SetIrq => 8,
            Opcode::SetProd | Opcode::SetCons | Opcode::SetConsArm => 16,
            Opcode::Arm | Opcode::Enable | Opcode::Disable | Opcode::ResetPointers => 0,
        }
    }
}

/// A decoded queue command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueCommand {
    /// Ring size in log2 of entries.
    SetLog2Size(u8),
    /// Completion queue binding of a TX/RX queue.
    SetCq(u8),
    /// Producer pointer of a TX/RX queue (the doorbell).
    SetProd(u16),
    /// Consumer pointer of a completion queue.
    SetCons(u16),
    /// Consumer pointer of a completion queue, then arm.
    SetConsArm(u16),
    /// Arm a completion queue.
    Arm,
    /// Interrupt vector of a completion queue.
    SetIrq(u8),
    /// Enable.
    Enable,
    /// Disable.
    Disable,
    /// Zero both pointers.
    ResetPointers,
}

/// Why a command word does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandError {
    /// The opcode byte is not one of [`Opcode`].
    UnknownOpcode(u8),
    /// The argument has bits set beyond the opcode's argument width.
    ArgumentOutOfRange {
        /// The opcode.
        opcode: Opcode,
        /// The whole 24-bit argument.
        arg: u32,
    },
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CommandError::UnknownOpcode(op) => write!(f, "unknown queue command opcode {op:#04x}"),
            CommandError::ArgumentOutOfRange { opcode, arg } => write!(
                f,
                "argument {arg:#x} of {opcode:?} exceeds its {} bits",
                opcode.arg_width()
            ),
        }
    }
}

impl QueueCommand {
    /// The opcode of this command.
    pub const fn opcode(self) -> Opcode {
        match self {
            QueueCommand::SetLog2Size(_) => Opcode::SetLog2Size,
            QueueCommand::SetCq(_) => Opcode::SetCq,
            QueueCommand::SetProd(_) => Opcode::SetProd,
            QueueCommand::SetCons(_) => Opcode::SetCons,
            QueueCommand::SetConsArm(_) => Opcode::SetConsArm,
            QueueCommand::Arm => Opcode::Arm,
            QueueCommand::SetIrq(_) => Opcode::SetIrq,
            QueueCommand::Enable => Opcode::Enable,
            QueueCommand::Disable => Opcode::Disable,
            QueueCommand::ResetPointers => Opcode::ResetPointers,
        }
    }

    /// The argument of this command (0 for commands without one).
    pub const fn arg(self) -> u32 {
        match self {
            QueueCommand::SetLog2Size(v) | QueueCommand::SetCq(v) | QueueCommand::SetIrq(v) => {
                v as u32
            }
            QueueCommand::SetProd(p) | QueueCommand::SetCons(p) | QueueCommand::SetConsArm(p) => {
                p as u32
            }
            QueueCommand::Arm
            | QueueCommand::Enable
            | QueueCommand::Disable
            | QueueCommand::ResetPointers => 0,
        }
    }

    /// The command word to write to `CMD`.
    ///
    /// `SetLog2Size` values wider than 5 bits cannot be encoded faithfully; they are truncated,
    /// so build that command only from validated sizes.
    pub const fn encode(self) -> u32 {
        let op = self.opcode();
        let arg = self.arg() & (((1u64 << op.arg_width()) - 1) as u32);
        CMD_ARG.set32(CMD_OPCODE.set32(0, op as u32), arg)
    }

    /// Decodes a command word.
    pub const fn decode(word: u32) -> Result<QueueCommand, CommandError> {
        let op_byte = CMD_OPCODE.get32(word) as u8;
        let arg = CMD_ARG.get32(word);
        let Some(op) = Opcode::from_bits(op_byte as u32) else {
            return Err(CommandError::UnknownOpcode(op_byte));
        };
        if (arg as u64) >> op.arg_width() != 0 {
            return Err(CommandError::ArgumentOutOfRange { opcode: op, arg });
        }
        Ok(match op {
            Opcode::SetLog2Size => QueueCommand::SetLog2Size(arg as u8),
            Opcode::SetCq => QueueCommand::SetCq(arg as u8),
            Opcode::SetProd => QueueCommand::SetProd(arg as u16),
            Opcode::SetCons => QueueCommand::SetCons(arg as u16),
            Opcode::SetConsArm => QueueCommand::SetConsArm(arg as u16),
            Opcode::Arm => QueueCommand::Arm,
            Opcode::SetIrq => QueueCommand::SetIrq(arg as u8),
            Opcode::Enable => QueueCommand::Enable,
            Opcode::Disable => QueueCommand::Disable,
            Opcode::ResetPointers => QueueCommand::ResetPointers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        assert_eq!(QueueCommand::SetProd(0x1234).encode(), 0x0300_1234);
        assert_eq!(QueueCommand::Enable.encode(), 0x0800_0000);
        assert_eq!(
            QueueCommand::decode(0x0500_00FF),
            Ok(QueueCommand::SetConsArm(0xFF))
        );
    }

    #[test]
    fn rejects_bad_words() {
        assert_eq!(
            QueueCommand::decode(0xFF00_0000),
            Err(CommandError::UnknownOpcode(0xFF))
        );
        assert_eq!(
            QueueCommand::decode(0x0800_0001),
            Err(CommandError::ArgumentOutOfRange {
                opcode: Opcode::Enable,
                arg: 1
            })
        );
        assert_eq!(
            QueueCommand::decode(0x0301_0000),
            Err(CommandError::ArgumentOutOfRange {
                opcode: Opcode::SetProd,
                arg: 0x1_0000
            })
        );
        assert!(QueueCommand::decode(0x0100_0020).is_err());
    }

    #[test]
    fn kind_rules() {
        assert!(Opcode::SetProd.valid_for(QueueKind::Tx));
        assert!(!Opcode::SetProd.valid_for(QueueKind::Cq));
        assert!(Opcode::Arm.valid_for(QueueKind::Cq));
        assert!(!Opcode::Arm.valid_for(QueueKind::Rx));
        assert!(!Opcode::Enable.valid_for(QueueKind::None));
    }
}
