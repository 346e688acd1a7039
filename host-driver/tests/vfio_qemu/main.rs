//! The real VFIO path, end to end: boots a QEMU guest under software emulation (TCG) with an
//! emulated Intel IOMMU and QEMU's `edu` test device, and runs the VFIO backend against `edu`
//! inside it: open through vfio-pci, BAR0 identity register, DMA round trip from hugepage memory
//! at IOVAs below edu's 28-bit mask, MSI through an eventfd, reset (edu has none), quiesce on
//! drop, reopen, and real error messages.
//!
//! This binary is both sides. On the host (the default) it fetches a Debian kernel (see
//! `kernel.rs`), builds an initramfs holding busybox, the VFIO modules, this very binary and the
//! shared libraries it links, boots QEMU, and asserts on the guest's console. In the guest
//! (`FERROTOE_VFIO_GUEST=1`, set by the initramfs's init) it runs the checks of `guest.rs`.
//! Running the test binary `cargo test` already built avoids a second, static build.
//!
//! Needs: qemu-system-x86, busybox-static, cpio, apt-get/dpkg-deb (Debian), xz-utils. A missing
//! tool, a kernel that cannot be fetched or a QEMU that does not start is a failure with a
//! message, never a skip.

mod guest;
mod kernel;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TEST_NAME: &str = "vfio_qemu_edu";
/// Generous for a loaded 2-core CI machine; a normal run takes seconds.
const QEMU_TIMEOUT: Duration = Duration::from_secs(240);

fn main() -> ExitCode {
    if std::env::var_os("FERROTOE_VFIO_GUEST").is_some() {
        return ExitCode::from(guest::run() as u8);
    }
    // The few libtest arguments that matter for a harness-less test.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{TEST_NAME}: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let selected = filters.is_empty()
        || filters.iter().any(|f| {
            if exact {
                f.as_str() == TEST_NAME
            } else {
                TEST_NAME.contains(f.as_str())
            }
        });
    println!("\nrunning {} test", u8::from(selected));
    if !selected {
        println!("\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n");
        return ExitCode::SUCCESS;
    }
    let start = Instant::now();
    let result = kernel::self_check().and_then(|()| host());
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            println!("test {TEST_NAME} ... ok");
            println!(
                "\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("test {TEST_NAME} ... FAILED\n\n---- {TEST_NAME} ----\n{e}\n");
            println!(
                "\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::FAILURE
        }
    }
}

fn need_tool(tool: &str, package: &str) -> Result<(), String> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(format!(
            "`{tool}` not found: install it with `apt-get install -y {package}` (listed in scripts/system-packages.txt)"
        ))
    }
}

fn host() -> Result<(), String> {
    need_tool("qemu-system-x86_64", "qemu-system-x86")?;
    need_tool("cpio", "cpio")?;
    need_tool("apt-get", "apt")?;
    need_tool("dpkg-deb", "dpkg")?;
    need_tool("xz", "xz-utils")?;
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        return Err(
            "/bin/busybox not found: install it with `apt-get install -y busybox-static`".into(),
        );
    }

    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vfio-guest");
    let t0 = Instant::now();
    let kernel = kernel::guest_kernel(&cache)?;
    let t_kernel = t0.elapsed();

    let t1 = Instant::now();
    let initrd = build_initramfs(&cache, busybox, &kernel.modules)?;
    let t_initrd = t1.elapsed();

    let t2 = Instant::now();
    let console = boot(&kernel.vmlinuz, &initrd);
    let t_boot = t2.elapsed();
    let _ = fs::remove_file(&initrd);
    let console = console?;

    let verdict = judge(&console);
    eprintln!(
        "vfio_qemu: kernel {} ({} in {:.1}s), initramfs {:.1}s, QEMU boot + guest checks {:.1}s",
        kernel.version,
        if kernel.downloaded {
            "downloaded"
        } else {
            "cached"
        },
        t_kernel.as_secs_f64(),
        t_initrd.as_secs_f64(),
        t_boot.as_secs_f64()
    );
    for line in console.lines().filter(|l| l.contains(guest::TAG)) {
        eprintln!("  {}", line.trim_end());
    }
    verdict
}

/// The shared libraries a dynamically linked binary needs (from `ldd`), by absolute path.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("running ldd: {e} (install libc-bin)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    let libs: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    if libs.is_empty() {
        return Err(format!(
            "ldd listed no libraries for {}:\n{text}",
            binary.display()
        ));
    }
    Ok(libs)
}

fn copy_into(stage: &Path, src: &Path, dst_in_stage: &Path) -> Result<(), String> {
    let dst = stage.join(dst_in_stage.strip_prefix("/").unwrap_or(dst_in_stage));
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    fs::copy(src, &dst)
        .map_err(|e| format!("copying {} to {}: {e}", src.display(), dst.display()))?;
    Ok(())
}

/// Init of the guest: mount, load the modules, bind edu to vfio-pci, reserve hugepages, run the
/// guest checks, power off.
fn init_script(modules: &[String]) -> String {
    format!(
        r#"#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
for m in {modules}; do
  /bin/busybox insmod /modules/$m.ko || echo "{tag} FAIL setup insmod $m"
done
echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id || echo "{tag} FAIL setup vfio-pci new_id"
echo {pages} > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
FERROTOE_VFIO_GUEST=1 /ferrotoe-vfio-guest
echo "{tag} exit $?"
/bin/busybox poweroff -f
"#,
        modules = modules.join(" "),
        tag = guest::TAG,
        pages = guest::GUEST_HUGEPAGES,
    )
}

/// Builds an uncompressed newc initramfs (uncompressed: nothing to inflate under TCG).
fn build_initramfs(cache: &Path, busybox: &Path, modules: &[PathBuf]) -> Result<PathBuf, String> {
    let stage = cache.join(format!("initramfs-{}", std::process::id()));
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(stage.join("modules")).map_err(|e| e.to_string())?;
    copy_into(&stage, busybox, Path::new("/bin/busybox"))?;
    let me = std::env::current_exe().map_err(|e| format!("finding this test binary: {e}"))?;
    copy_into(&stage, &me, Path::new("/ferrotoe-vfio-guest"))?;
    for lib in shared_libraries(&me)? {
        copy_into(&stage, &lib, &lib)?;
    }
    let mut names = Vec::new();
    for m in modules {
        let name = m
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("bad module name")?
            .to_owned();
        copy_into(&stage, m, &Path::new("/modules").join(format!("{name}.ko")))?;
        names.push(name);
    }
    let init = stage.join("init");
    fs::write(&init, init_script(&names)).map_err(|e| e.to_string())?;
    set_executable(&init)?;
    set_executable(&stage.join("ferrotoe-vfio-guest"))?;

    // The file list for cpio, relative to the stage.
    let mut list = String::new();
    let mut dirs = vec![stage.clone()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).map_err(|e| e.to_string())?.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(&stage).map_err(|e| e.to_string())?;
            list.push_str(&rel.to_string_lossy());
            list.push('\n');
            if p.is_dir() {
                dirs.push(p);
            }
        }
    }
    let initrd = cache.join(format!("initrd-{}.cpio", std::process::id()));
    let out = fs::File::create(&initrd).map_err(|e| e.to_string())?;
    let mut child = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&stage)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running cpio: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("cpio has no stdin")?;
        stdin
            .write_all(list.as_bytes())
            .map_err(|e| format!("feeding cpio: {e}"))?;
    }
    let done = child.wait_with_output().map_err(|e| e.to_string())?;
    if !done.status.success() {
        return Err(format!(
            "cpio failed: {}",
            String::from_utf8_lossy(&done.stderr)
        ));
    }
    let _ = fs::remove_dir_all(&stage);
    Ok(initrd)
}

fn set_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// Boots the guest and returns its console output.
fn boot(vmlinuz: &Path, initrd: &Path) -> Result<String, String> {
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-machine", "q35,kernel-irqchip=split"])
        .args([
            "-device",
            "intel-iommu,intremap=on,caching-mode=on",
            "-device",
            "edu",
        ])
        .args([
            "-m", "1024", "-smp", "1", "-net", "none", "-vga", "none", "-display", "none",
        ])
        .args(["-serial", "stdio", "-monitor", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 intel_iommu=on panic=-1 quiet loglevel=3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting qemu-system-x86_64: {e} (install qemu-system-x86)"))?;
    let stdout = child.stdout.take().ok_or("qemu has no stdout")?;
    let stderr = child.stderr.take().ok_or("qemu has no stderr")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            if tx
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let deadline = Instant::now() + QEMU_TIMEOUT;
    let mut console = String::new();
    let mut timed_out = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                console.push_str(&line);
                console.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break;
        }
    }
    let status = child.wait().map_err(|e| format!("waiting for qemu: {e}"))?;
    let _ = reader.join();
    let qemu_stderr = err_reader.join().unwrap_or_default();
    if timed_out {
        return Err(format!(
            "the guest did not power off within {}s; console tail:\n{}",
            QEMU_TIMEOUT.as_secs(),
            tail(&console, 40)
        ));
    }
    if !console.contains(&format!("{} done", guest::TAG)) {
        return Err(format!(
            "the guest never finished its checks (qemu {status}); qemu stderr:\n{}\nconsole tail:\n{}",
            qemu_stderr.trim(),
            tail(&console, 60)
        ));
    }
    Ok(console)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every check printed `ok`, none `FAIL`, and the guest exited 0.
fn judge(console: &str) -> Result<(), String> {
    let tagged: Vec<&str> = console
        .lines()
        .filter_map(|l| l.split_once(guest::TAG).map(|(_, rest)| rest.trim()))
        .collect();
    let mut problems = Vec::new();
    for line in tagged.iter().filter(|l| l.starts_with("FAIL")) {
        problems.push(format!("guest: {line}"));
    }
    for check in guest::CHECKS {
        let ok = tagged.iter().any(|l| {
            l.strip_prefix("ok ")
                .is_some_and(|rest| rest.split_whitespace().next() == Some(check))
        });
        if !ok {
            problems.push(format!("check `{check}` did not report ok"));
        }
    }
    if !tagged.contains(&"exit 0") {
        problems.push("the guest binary did not exit 0".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\nconsole tail:\n{}",
            problems.join("\n"),
            tail(console, 60)
        ))
    }
}
