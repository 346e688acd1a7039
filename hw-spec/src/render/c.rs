//! The C header: `#define`s for drivers written in C. `*_RANGE` symbols are Verilog-only.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use super::{SymbolValue, banner, symbols};

/// Renders `ferrotoe_hw_spec.h`.
pub fn c_header() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "/* {} */", banner());
    let _ = writeln!(
        out,
        "/* The ferrotoe NIC contract for C drivers: register offsets, fields, layouts, values."
    );
    let _ = writeln!(
        out,
        " * Register offsets are from the start of BAR0 (reference layout) or, with _OFFSET,"
    );
    let _ = writeln!(
        out,
        " * from the start of their block or array element. Descriptor fields: bit _LSB of the"
    );
    let _ = writeln!(
        out,
        " * little-endian descriptor, _WIDTH bits; _BYTE is the byte holding bit _LSB. */"
    );
    out.push_str("#ifndef FERROTOE_HW_SPEC_H\n#define FERROTOE_HW_SPEC_H\n");
    for g in symbols() {
        let _ = writeln!(out, "\n/* ---- {} ---- */", g.title);
        for s in g.symbols {
            let value = match s.value {
                SymbolValue::Word(w) => format!("0x{w:08X}u"),
                SymbolValue::Sized { value, width } if width > 32 => format!("0x{value:X}ull"),
                SymbolValue::Sized { value, .. } => format!("0x{value:X}u"),
                SymbolValue::Number(n) => format!("{n}u"),
                SymbolValue::Range { .. } => continue,
            };
            if s.doc.is_empty() {
                let _ = writeln!(out, "#define {} {}", s.name, value);
            } else {
                let _ = writeln!(
                    out,
                    "#define {} {} /* {} */",
                    s.name,
                    value,
                    s.doc.replace("*/", "* /")
                );
            }
        }
    }
    out.push_str("\n#endif /* FERROTOE_HW_SPEC_H */\n");
    out
}
