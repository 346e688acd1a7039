//! What sysfs says about PCI devices, IOMMU groups and hugepages: the facts behind VFIO's
//! preconditions and behind every error message.
//!
//! Owns [`Sysfs`], a reader rooted at a configurable directory (`/sys` in real use, a temporary
//! tree in tests) plus the `/dev` root where VFIO's device nodes live. Reads only; never writes
//! sysfs and never opens a VFIO node for longer than a permission check.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::address::PciAddress;

/// The driver a bound device uses, as its `driver` link names it.
pub type DriverName = String;

/// A device of an IOMMU group and the driver it is bound to (`None`: unbound).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// The member's address as sysfs names it.
    pub address: String,
    /// Its driver, when bound.
    pub driver: Option<DriverName>,
}

/// Hugepage counters of one page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HugepageCounts {
    /// Pages reserved (`nr_hugepages`).
    pub total: u64,
    /// Pages not in use (`free_hugepages`).
    pub free: u64,
}

/// Reader of `/sys` and `/dev/vfio` (or stand-ins for tests).
#[derive(Clone, Debug)]
pub struct Sysfs {
    sys: PathBuf,
    dev: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs::new("/sys", "/dev")
    }
}

impl Sysfs {
    /// A reader with `sys` standing for `/sys` and `dev` for `/dev`.
    pub fn new(sys: impl Into<PathBuf>, dev: impl Into<PathBuf>) -> Sysfs {
        Sysfs {
            sys: sys.into(),
            dev: dev.into(),
        }
    }

    /// `/sys/bus/pci/devices/<address>`.
    pub fn device_dir(&self, address: &PciAddress) -> PathBuf {
        self.sys.join("bus/pci/devices").join(address.to_string())
    }

    /// `/dev/vfio/vfio`, the container node.
    pub fn container_node(&self) -> PathBuf {
        self.dev.join("vfio/vfio")
    }

    /// `/dev/vfio/<group>`.
    pub fn group_node(&self, group: u32) -> PathBuf {
        self.dev.join("vfio").join(group.to_string())
    }

    /// `/sys/kernel/iommu_groups`.
    pub fn iommu_groups_dir(&self) -> PathBuf {
        self.sys.join("kernel/iommu_groups")
    }

    /// `/sys/kernel/mm/hugepages/hugepages-2048kB`.
    pub fn hugepages_2m_dir(&self) -> PathBuf {
        self.sys.join("kernel/mm/hugepages/hugepages-2048kB")
    }

    /// The device's vendor and device IDs.
    pub fn ids(&self, address: &PciAddress) -> io::Result<(u16, u16)> {
        let dir = self.device_dir(address);
        Ok((
            read_hex_u16(&dir.join("vendor"))?,
            read_hex_u16(&dir.join("device"))?,
        ))
    }

    /// The driver the device is bound to (`None`: unbound).
    pub fn driver(&self, address: &PciAddress) -> io::Result<Option<DriverName>> {
        link_name(&self.device_dir(address).join("driver"))
    }

    /// The device's IOMMU group (`None`: no `iommu_group` link, the IOMMU is off).
    pub fn iommu_group(&self, address: &PciAddress) -> io::Result<Option<u32>> {
        match link_name(&self.device_dir(address).join("iommu_group"))? {
            None => Ok(None),
            Some(name) => name.parse().map(Some).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("iommu_group link names `{name}`, not a group number"),
                )
            }),
        }
    }

    /// Whether any IOMMU group exists (false: the IOMMU is off or absent).
    pub fn any_iommu_group(&self) -> bool {
        fs::read_dir(self.iommu_groups_dir())
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    }

    /// The devices of an IOMMU group and their drivers, sorted by address.
    pub fn group_members(&self, group: u32) -> io::Result<Vec<GroupMember>> {
        let dir = self
            .iommu_groups_dir()
            .join(group.to_string())
            .join("devices");
        let mut members = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let address = entry.file_name().to_string_lossy().into_owned();
            let driver = link_name(&entry.path().join("driver"))?;
            members.push(GroupMember { address, driver });
        }
        members.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(members)
    }

    /// Every PCI device with its vendor and device IDs, sorted by address (devices whose IDs
    /// cannot be read are left out).
    pub fn devices(&self) -> io::Result<Vec<(PciAddress, u16, u16)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.sys.join("bus/pci/devices"))? {
            let entry = entry?;
            let Ok(address) = entry.file_name().to_string_lossy().parse::<PciAddress>() else {
                continue;
            };
            if let Ok((vendor, device)) = self.ids(&address) {
                out.push((address, vendor, device));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The 2 MiB hugepage counters.
    pub fn hugepages_2m(&self) -> io::Result<HugepageCounts> {
        let dir = self.hugepages_2m_dir();
        Ok(HugepageCounts {
            total: read_u64(&dir.join("nr_hugepages"))?,
            free: read_u64(&dir.join("free_hugepages"))?,
        })
    }

    /// The reset methods the kernel knows for the device (`reset_method`: "flr pm bus"); empty
    /// when it has none or the kernel does not say.
    pub fn reset_methods(&self, address: &PciAddress) -> String {
        fs::read_to_string(self.device_dir(address).join("reset_method"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }

    /// The command register from the device's config space file (bus mastering is bit 2).
    pub fn command_register(&self, address: &PciAddress) -> io::Result<u16> {
        let config = fs::read(self.device_dir(address).join("config"))?;
        match config.get(4..6) {
            Some(b) => Ok(u16::from_le_bytes([b[0], b[1]])),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "config space shorter than 6 bytes",
            )),
        }
    }
}

/// The last component of a symlink's target; `None` when the link does not exist.
fn link_name(path: &Path) -> io::Result<Option<String>> {
    match fs::read_link(path) {
        Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_hex_u16(path: &Path) -> io::Result<u16> {
    let text = fs::read_to_string(path)?;
    let t = text.trim();
    let digits = t.strip_prefix("0x").unwrap_or(t);
    u16::from_str_radix(digits, 16).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds `{t}`, not a 16-bit hex number", path.display()),
        )
    })
}

fn read_u64(path: &Path) -> io::Result<u64> {
    let text = fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds `{}`, not a number", path.display(), text.trim()),
        )
    })
}

/// Builds a sysfs-like tree in a directory, for tests of everything that reads sysfs.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake `/sys` + `/dev` under a temporary directory.
    pub(crate) struct FakeSys {
        pub(crate) dir: tempfile::TempDir,
    }

    impl FakeSys {
        pub(crate) fn new() -> FakeSys {
            let dir = tempfile::tempdir().unwrap();
            for d in [
                "sys/bus/pci/devices",
                "sys/bus/pci/drivers",
                "sys/kernel/iommu_groups",
                "sys/kernel/mm/hugepages/hugepages-2048kB",
                "dev/vfio",
            ] {
                fs::create_dir_all(dir.path().join(d)).unwrap();
            }
            FakeSys { dir }
        }

        pub(crate) fn sysfs(&self) -> Sysfs {
            Sysfs::new(self.dir.path().join("sys"), self.dir.path().join("dev"))
        }

        /// Adds a device with IDs, an optional driver and an optional IOMMU group.
        pub(crate) fn add_device(
            &self,
            address: &str,
            ids: (u16, u16),
            driver: Option<&str>,
            group: Option<u32>,
        ) {
            let sys = self.dir.path().join("sys");
            let dev = sys.join("bus/pci/devices").join(address);
            fs::create_dir_all(&dev).unwrap();
            fs::write(dev.join("vendor"), format!("{:#06x}\n", ids.0)).unwrap();
            fs::write(dev.join("device"), format!("{:#06x}\n", ids.1)).unwrap();
            let mut config = vec![0u8; 64];
            config[4] = 0x06; // memory space + bus master
            fs::write(dev.join("config"), config).unwrap();
            if let Some(driver) = driver {
                let drv = sys.join("bus/pci/drivers").join(driver);
                fs::create_dir_all(&drv).unwrap();
                symlink(&drv, dev.join("driver")).unwrap();
            }
            if let Some(group) = group {
                let g = sys.join("kernel/iommu_groups").join(group.to_string());
                fs::create_dir_all(g.join("devices")).unwrap();
                symlink(&g, dev.join("iommu_group")).unwrap();
                symlink(&dev, g.join("devices").join(address)).unwrap();
            }
        }

        pub(crate) fn add_group_node(&self, group: u32) {
            fs::write(
                self.dir.path().join("dev/vfio").join(group.to_string()),
                b"",
            )
            .unwrap();
        }

        pub(crate) fn add_container_node(&self) {
            fs::write(self.dir.path().join("dev/vfio/vfio"), b"").unwrap();
        }

        pub(crate) fn set_hugepages(&self, total: u64, free: u64) {
            let d = self
                .dir
                .path()
                .join("sys/kernel/mm/hugepages/hugepages-2048kB");
            fs::write(d.join("nr_hugepages"), format!("{total}\n")).unwrap();
            fs::write(d.join("free_hugepages"), format!("{free}\n")).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::FakeSys;
    use super::*;

    fn addr(s: &str) -> PciAddress {
        s.parse().unwrap()
    }

    #[test]
    fn reads_ids_driver_group_and_members() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x1234, 0x11e8), Some("vfio-pci"), Some(2));
        fake.add_device("0000:00:1f.0", (0x8086, 0x2918), Some("lpc_ich"), Some(3));
        fake.add_device("0000:00:1f.2", (0x8086, 0x2922), None, Some(3));
        fake.add_device("0000:00:05.0", (0x8086, 0x10d3), None, None);
        let s = fake.sysfs();
        assert_eq!(s.ids(&addr("00:02.0")).unwrap(), (0x1234, 0x11e8));
        assert_eq!(
            s.driver(&addr("00:02.0")).unwrap().as_deref(),
            Some("vfio-pci")
        );
        assert_eq!(s.driver(&addr("00:05.0")).unwrap(), None);
        assert_eq!(s.iommu_group(&addr("00:02.0")).unwrap(), Some(2));
        assert_eq!(s.iommu_group(&addr("00:05.0")).unwrap(), None);
        assert!(s.any_iommu_group());
        assert_eq!(
            s.group_members(3).unwrap(),
            vec![
                GroupMember {
                    address: "0000:00:1f.0".into(),
                    driver: Some("lpc_ich".into())
                },
                GroupMember {
                    address: "0000:00:1f.2".into(),
                    driver: None
                },
            ]
        );
        let all = s.devices().unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], (addr("00:02.0"), 0x1234, 0x11e8));
        assert_eq!(s.command_register(&addr("00:02.0")).unwrap(), 0x0006);
        assert_eq!(s.reset_methods(&addr("00:02.0")), "");
        assert!(s.ids(&addr("00:09.0")).is_err());
    }

    #[test]
    fn reads_hugepage_counters() {
        let fake = FakeSys::new();
        fake.set_hugepages(16, 3);
        assert_eq!(
            fake.sysfs().hugepages_2m().unwrap(),
            HugepageCounts { total: 16, free: 3 }
        );
        assert_eq!(
            fake.sysfs().group_node(7),
            fake.dir.path().join("dev/vfio/7")
        );
    }
}
