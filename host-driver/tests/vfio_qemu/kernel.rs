//! The guest kernel: a Debian `linux-image-*-amd64` package, fetched with `apt-get download`
//! into a cache under `target/`, reduced to `vmlinuz` plus the VFIO modules (and their module
//! dependencies, found from each module's `depends=` field), decompressed, in load order.
//!
//! Version choice: `FERROTOE_GUEST_KERNEL` (e.g. `6.12.100+deb12`) pins one; otherwise the newest
//! `linux-image-<version>-amd64` the apt cache offers (not cloud, rt, dbg or unsigned variants,
//! not the meta-packages). When apt offers none (no `apt-get update` yet) the test runs
//! `apt-get update` once; when apt cannot be reached but a kernel is already cached, the newest
//! cached one is used.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Modules the guest needs, in the order they would be loaded by hand. `vfio_virqfd` is a
/// separate module only on older kernels (built into `vfio` since 6.2).
const WANTED: &[(&str, bool)] = &[
    ("irqbypass", true),
    ("vfio", true),
    ("vfio_iommu_type1", true),
    ("vfio_virqfd", false),
    ("vfio_pci_core", true),
    ("vfio_pci", true),
];

/// A kernel ready to boot: `vmlinuz` and the modules to load, in order.
pub struct GuestKernel {
    pub version: String,
    pub vmlinuz: PathBuf,
    /// Decompressed `.ko` files in load order.
    pub modules: Vec<PathBuf>,
    /// Whether this run downloaded it (for the timing report).
    pub downloaded: bool,
}

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: {:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Orders kernel versions: numeric fields compared as numbers (6.12.100 > 6.1.0-50).
fn version_key(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0))
        .collect()
}

/// The version part of a plain `linux-image-<version>-amd64` package name, if it is one.
fn plain_image_version(package: &str) -> Option<&str> {
    let v = package
        .strip_prefix("linux-image-")?
        .strip_suffix("-amd64")?;
    let numeric_fields = v
        .split(['.', '-', '+'])
        .take_while(|f| f.chars().all(|c| c.is_ascii_digit()))
        .count();
    let excluded = ["cloud", "rt", "dbg", "unsigned"]
        .iter()
        .any(|x| v.contains(x));
    // A real image has at least three version fields (6.1.0, 6.12.100); "6.12" is a meta-package.
    (v.starts_with(|c: char| c.is_ascii_digit()) && numeric_fields >= 3 && !excluded).then_some(v)
}

fn apt_candidates() -> Result<Vec<String>, String> {
    let out = run(
        Command::new("apt-cache").args(["search", "--names-only", "^linux-image-[0-9].*-amd64$"]),
        "listing kernel packages",
    )?;
    let mut versions: Vec<String> = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(plain_image_version)
        .map(str::to_owned)
        .collect();
    versions.sort_by_key(|v| version_key(v));
    Ok(versions)
}

fn cached_versions(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(cache)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_prefix("kernel-")
                        .map(str::to_owned)
                })
                .filter(|v| cache.join(format!("kernel-{v}/ready")).exists())
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|v| version_key(v));
    v
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Picks the kernel version: pinned, newest offered by apt, or newest cached.
fn choose_version(cache: &Path) -> Result<String, String> {
    if let Ok(pinned) = std::env::var("FERROTOE_GUEST_KERNEL") {
        return Ok(pinned);
    }
    let mut offered = apt_candidates().unwrap_or_default();
    if offered.is_empty() && is_root() {
        // A fresh machine may have no package lists yet.
        let _ = run(
            Command::new("apt-get").args(["update", "-qq"]),
            "apt-get update",
        );
        offered = apt_candidates()?;
    }
    if let Some(newest) = offered.last() {
        return Ok(newest.clone());
    }
    if let Some(cached) = cached_versions(cache).pop() {
        eprintln!("vfio_qemu: apt offers no linux-image-*-amd64; using cached kernel {cached}");
        return Ok(cached);
    }
    Err(
        "no linux-image-<version>-amd64 package is offered by apt and none is cached; fix: run \
         `apt-get update` (as root) on a Debian system, or set FERROTOE_GUEST_KERNEL=<version> \
         to one `apt-cache search linux-image` lists"
            .into(),
    )
}

/// The module name as the kernel uses it (dashes become underscores).
fn module_name(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let stem = name.split(".ko").next()?;
    name.contains(".ko").then(|| stem.replace('-', "_"))
}

fn decompress(src: &Path, dst: &Path) -> Result<(), String> {
    let name = src.to_string_lossy();
    let tool = if name.ends_with(".ko") {
        fs::copy(src, dst).map_err(|e| format!("copying {}: {e}", src.display()))?;
        return Ok(());
    } else if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return Err(format!("unknown module compression: {}", src.display()));
    };
    let bytes = run(
        Command::new(tool).arg("-dc").arg(src),
        &format!(
            "decompressing {} (install the `{tool}` package if missing)",
            src.display()
        ),
    )?;
    fs::write(dst, bytes).map_err(|e| format!("writing {}: {e}", dst.display()))
}

/// The `depends=` list of a module's `.modinfo`.
fn depends_of(ko: &[u8]) -> Vec<String> {
    ko.split(|&b| b == 0)
        .filter_map(|s| s.strip_prefix(b"depends="))
        .flat_map(|d| d.split(|&b| b == b','))
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).replace('-', "_"))
        .collect()
}

/// Downloads and unpacks the package, keeping vmlinuz and the needed modules.
fn prepare(version: &str, dir: &Path) -> Result<(), String> {
    let work = PathBuf::from(format!("{}.tmp-{}", dir.display(), std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let result = prepare_in(version, dir, &work);
    let _ = fs::remove_dir_all(&work);
    result
}

fn prepare_in(version: &str, dir: &Path, work: &Path) -> Result<(), String> {
    let package = format!("linux-image-{version}-amd64");
    run(
        Command::new("apt-get")
            .args(["download", "-qq", &package])
            .current_dir(work),
        &format!(
            "downloading {package} (fix: `apt-get update`, check the network to the Debian mirror)"
        ),
    )?;
    let deb = fs::read_dir(work)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            format!(
                "apt-get download {package} left no .deb in {}",
                work.display()
            )
        })?;
    let tree = work.join("tree");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree),
        &format!("unpacking {}", deb.display()),
    )?;
    let boot = tree.join("boot");
    let vmlinuz = fs::read_dir(&boot)
        .map_err(|e| format!("{}: {e}", boot.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz"))
        })
        .ok_or_else(|| format!("{package} has no /boot/vmlinuz*"))?;
    let moddir = fs::read_dir(tree.join("lib/modules"))
        .map_err(|e| format!("{package} has no /lib/modules: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .ok_or_else(|| format!("{package} has an empty /lib/modules"))?;
    let builtin: BTreeSet<String> = fs::read_to_string(moddir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| module_name(Path::new(l)))
        .collect();
    let mut index: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut stack = vec![moddir.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)
            .map_err(|e| format!("{}: {e}", d.display()))?
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(name) = module_name(&p) {
                index.insert(name, p);
            }
        }
    }

    let out = work.join("out");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    fs::copy(&vmlinuz, out.join("vmlinuz")).map_err(|e| e.to_string())?;
    // Depth-first: dependencies before dependants.
    let mut order: Vec<String> = Vec::new();
    fn visit(
        name: &str,
        required: bool,
        index: &BTreeMap<String, PathBuf>,
        builtin: &BTreeSet<String>,
        out: &Path,
        order: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), String> {
        if order.iter().any(|o| o == name) || builtin.contains(name) {
            return Ok(());
        }
        let Some(src) = index.get(name) else {
            return if required {
                Err(format!(
                    "the kernel has neither a module nor a built-in `{name}`"
                ))
            } else {
                Ok(())
            };
        };
        if depth > 16 {
            return Err(format!("module dependency chain too deep at `{name}`"));
        }
        let dst = out.join(format!("{name}.ko"));
        decompress(src, &dst)?;
        let ko = fs::read(&dst).map_err(|e| e.to_string())?;
        for dep in depends_of(&ko) {
            visit(&dep, true, index, builtin, out, order, depth + 1)?;
        }
        order.push(name.to_owned());
        Ok(())
    }
    for (name, required) in WANTED {
        visit(name, *required, &index, &builtin, &out, &mut order, 0)?;
    }
    fs::write(out.join("order"), order.join("\n") + "\n").map_err(|e| e.to_string())?;
    fs::write(out.join("ready"), version).map_err(|e| e.to_string())?;
    let _ = fs::remove_dir_all(dir);
    fs::rename(&out, dir).map_err(|e| format!("moving the kernel into {}: {e}", dir.display()))
}

/// A bootable kernel with its VFIO modules, from the cache or freshly downloaded.
pub fn guest_kernel(cache: &Path) -> Result<GuestKernel, String> {
    fs::create_dir_all(cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let mut version = choose_version(cache)?;
    let mut dir = cache.join(format!("kernel-{version}"));
    let mut downloaded = false;
    if !dir.join("ready").exists() {
        if let Err(first) = prepare(&version, &dir) {
            // Stale package lists name versions the mirror no longer has: refresh once, retry.
            let pinned = std::env::var_os("FERROTOE_GUEST_KERNEL").is_some();
            if pinned || !is_root() {
                return Err(first);
            }
            eprintln!("vfio_qemu: {first}; running apt-get update and retrying");
            run(
                Command::new("apt-get").args(["update", "-qq"]),
                "apt-get update",
            )?;
            version = choose_version(cache)?;
            dir = cache.join(format!("kernel-{version}"));
            if !dir.join("ready").exists() {
                prepare(&version, &dir)?;
            }
        }
        downloaded = true;
    }
    let order = fs::read_to_string(dir.join("order")).map_err(|e| e.to_string())?;
    Ok(GuestKernel {
        modules: order.lines().map(|m| dir.join(format!("{m}.ko"))).collect(),
        vmlinuz: dir.join("vmlinuz"),
        version,
        downloaded,
    })
}

/// Unit checks of the pure helpers, run by `main` before anything else (this binary has no
/// test harness).
pub fn self_check() -> Result<(), String> {
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("kernel helper self-check failed: {what}"))
        }
    };
    check(
        plain_image_version("linux-image-6.1.0-50-amd64") == Some("6.1.0-50"),
        "6.1.0-50",
    )?;
    check(
        plain_image_version("linux-image-6.12.100+deb12-amd64") == Some("6.12.100+deb12"),
        "6.12.100",
    )?;
    check(
        plain_image_version("linux-image-6.12-amd64").is_none(),
        "meta-package excluded",
    )?;
    check(
        plain_image_version("linux-image-6.1.0-50-cloud-amd64").is_none(),
        "cloud excluded",
    )?;
    check(
        plain_image_version("linux-image-6.1.0-50-rt-amd64").is_none(),
        "rt excluded",
    )?;
    check(
        plain_image_version("linux-image-amd64").is_none(),
        "generic meta excluded",
    )?;
    check(
        version_key("6.12.100+deb12") > version_key("6.1.0-50"),
        "version order",
    )?;
    check(
        module_name(Path::new("a/vfio-pci-core.ko.xz")).as_deref() == Some("vfio_pci_core"),
        "module name",
    )?;
    check(
        module_name(Path::new("kernel/drivers/vfio/vfio.ko")).as_deref() == Some("vfio"),
        "builtin name",
    )?;
    check(
        depends_of(b"x\0depends=vfio-pci-core,vfio\0vermagic=6\0") == ["vfio_pci_core", "vfio"],
        "depends parsing",
    )?;
    check(depends_of(b"depends=\0").is_empty(), "empty depends")?;
    Ok(())
}
