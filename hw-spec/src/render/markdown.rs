//! The Markdown reference: every block, register, field, layout and value in tables.

use alloc::string::String;
use core::fmt::Write;

use crate::layout::{BitField, Register};

use super::banner;

fn bits(f: &BitField) -> String {
    if f.width == 1 {
        alloc::format!("{}", f.lsb)
    } else {
        alloc::format!("{}:{}", f.msb(), f.lsb)
    }
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

fn register_table(out: &mut String, base: Option<u32>, regs: &[Register]) {
    let _ = writeln!(
        out,
        "| offset | BAR0 | register | access | reset | description |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in regs {
        let abs = base.map_or(String::from("-"), |b| {
            alloc::format!("`{:#06x}`", b + r.offset)
        });
        let _ = writeln!(
            out,
            "| `{:#04x}` | {} | `{}` | {} | `{:#010x}` | {} |",
            r.offset,
            abs,
            r.name,
            r.access.short_name(),
            r.reset,
            esc(r.doc)
        );
    }
    let with_fields: alloc::vec::Vec<_> = regs.iter().filter(|r| !r.fields.is_empty()).collect();
    if !with_fields.is_empty() {
        let _ = writeln!(out, "\n| register | bits | field | description |");
        let _ = writeln!(out, "|---|---|---|---|");
        for r in with_fields {
            for f in r.fields {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | `{}` | {} |",
                    r.name,
                    bits(f),
                    f.name,
                    esc(f.doc)
                );
            }
        }
    }
}

/// Renders `REFERENCE.md`.
pub fn markdown_reference() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# ferrotoe NIC register and descriptor reference\n");
    let _ = writeln!(out, "<!-- {} -->", banner());
    let _ = writeln!(
        out,
        "Contract version {}.{}. The semantics are in `hw-spec/SPEC.md`; this file is generated \
         from the Rust definitions in `hw-spec/src` and lists every number.\n",
        crate::regs::SPEC_VERSION_MAJOR,
        crate::regs::SPEC_VERSION_MINOR
    );

    let _ = writeln!(
        out,
        "## Constants\n\n| name | value | description |\n|---|---|---|"
    );
    for c in crate::CONSTANTS {
        let _ = writeln!(
            out,
            "| `{}` | `{:#x}` ({}) | {} |",
            c.name,
            c.value,
            c.value,
            esc(c.doc)
        );
    }

    let _ = writeln!(
        out,
        "\n## Block chain\n\n| BAR0 base | block | type | size | next |\n|---|---|---|---|---|"
    );
    for b in crate::regs::BLOCKS {
        let _ = writeln!(
            out,
            "| `{:#06x}` | `{}` | `{:#010x}` | `{:#x}` | `{:#06x}` |",
            b.base,
            b.name,
            b.type_word(),
            b.size,
            crate::regs::next_of(b)
        );
    }

    for b in crate::regs::BLOCKS {
        let _ = writeln!(
            out,
            "\n## Block `{}` (type `{:#06x}`, base `{:#06x}`)\n\n{}\n",
            b.name, b.type_id, b.base, b.doc
        );
        register_table(&mut out, Some(b.base), b.registers);
        for a in b.arrays {
            let _ = writeln!(
                out,
                "\n### Array `{}`: {} (element i at block base + `{:#x}` + i * `{:#x}`, at most {})\n",
                a.name, a.doc, a.offset, a.stride, a.max_count
            );
            register_table(&mut out, None, a.registers);
        }
    }

    let _ = writeln!(out, "\n## Host-memory layouts (little-endian)");
    for d in crate::descriptors::DESCRIPTORS {
        let _ = writeln!(out, "\n### `{}` ({} bytes): {}\n", d.name, d.size, d.doc);
        let _ = writeln!(
            out,
            "| bits | bytes | field | description |\n|---|---|---|---|"
        );
        for f in d.fields {
            let _ = writeln!(
                out,
                "| {} | {}..{} | `{}` | {} |",
                bits(f),
                f.lsb / 8,
                f.msb() / 8 + 1,
                f.name,
                esc(f.doc)
            );
        }
        let _ = writeln!(out, "\nAll other bits are reserved (zero).");
    }

    let _ = writeln!(out, "\n## Enumerations");
    for e in crate::enums::ENUMERATIONS {
        let _ = writeln!(out, "\n### `{}` ({} bits): {}\n", e.name, e.width, e.doc);
        let _ = writeln!(out, "| value | name | meaning |\n|---|---|---|");
        for v in e.values {
            let _ = writeln!(out, "| {} | `{}` | {} |", v.value, v.name, esc(v.doc));
        }
    }
    out
}
