//! `ferrotoe spec`: prints the hw-spec contract in one of its generated forms.

use std::io::Write;

use crate::SpecFormat;

/// Prints the contract to stdout.
pub fn run(format: SpecFormat) -> anyhow::Result<()> {
    let text = match format {
        SpecFormat::Text => hw_spec::render::text_map(),
        SpecFormat::Markdown => hw_spec::render::markdown_reference(),
        SpecFormat::Verilog => hw_spec::render::verilog_header(),
        SpecFormat::C => hw_spec::render::c_header(),
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // `ferrotoe spec | head` closes the pipe early; that is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow::anyhow!("writing the contract to stdout: {e}")),
    }
}
