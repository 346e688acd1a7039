//! PCI addresses (`domain:bus:device.function`), as users type them and sysfs names them.
//!
//! Owns [`PciAddress`] and its parser. Pure: touches no file.

use std::fmt;
use std::str::FromStr;

/// A PCI function's address. Displays in sysfs form, `0000:03:00.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    /// PCI domain (segment); 0 on most machines.
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device number, below 32.
    pub device: u8,
    /// Function number, below 8.
    pub function: u8,
}

/// A string that is not a PCI address, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciAddressError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for PciAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a PCI address ({}); expected DDDD:BB:DD.F or BB:DD.F in hex, \
             e.g. 0000:03:00.0 (`lspci -D` lists them)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for PciAddressError {}

impl FromStr for PciAddress {
    type Err = PciAddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| PciAddressError {
            input: s.to_owned(),
            reason,
        };
        let hex = |part: &str, max_digits: usize, what| {
            if part.is_empty() || part.len() > max_digits {
                return Err(err(what));
            }
            u32::from_str_radix(part, 16).map_err(|_| err(what))
        };
        let (rest, function) = s.rsplit_once('.').ok_or_else(|| err("no `.function`"))?;
        let function = hex(function, 1, "function is not one hex digit")?;
        if function > 7 {
            return Err(err("function above 7"));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (domain, bus, device) = match parts.as_slice() {
            [bus, device] => (0, *bus, *device),
            [domain, bus, device] => (hex(domain, 8, "domain is not hex")?, *bus, *device),
            _ => return Err(err("expected two or three `:`-separated fields")),
        };
        let bus = hex(bus, 2, "bus is not two hex digits")?;
        let device = hex(device, 2, "device is not two hex digits")?;
        if device > 31 {
            return Err(err("device above 0x1f"));
        }
        Ok(PciAddress {
            domain,
            bus: bus as u8,
            device: device as u8,
            function: function as u8,
        })
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_sysfs_form() {
        let a: PciAddress = "0000:03:1f.7".parse().unwrap();
        assert_eq!(
            a,
            PciAddress {
                domain: 0,
                bus: 3,
                device: 0x1f,
                function: 7
            }
        );
        assert_eq!(a.to_string(), "0000:03:1f.7");
        let short: PciAddress = "00:02.0".parse().unwrap();
        assert_eq!(short.to_string(), "0000:00:02.0");
        let vmd: PciAddress = "10000:e1:00.0".parse().unwrap();
        assert_eq!(vmd.to_string(), "10000:e1:00.0");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "0000:03:00",
            "0000:03:00.8",
            "0000:03:20.0",
            "03.0",
            "zz:00.0",
            "0000:003:00.0",
            "1:2:3:4.0",
            "00:00.00",
        ] {
            let e = bad.parse::<PciAddress>().unwrap_err();
            assert!(e.to_string().contains("lspci -D"), "{bad}: {e}");
        }
    }
}
