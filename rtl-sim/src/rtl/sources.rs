//! Which Verilog files a build Verilates: the crate's own `rtl/` directory, with the files of
//! an optional **overlay** directory in place of the same-named ones.
//!
//! A hardware team tests its own implementation of an engine against the TCP stack by putting
//! its `ft_rx_csum.v` (or any set of `.v`/`.vh` files, new modules included) in a directory and
//! building with `FERROTOE_RTL_OVERLAY=<dir>`: every RTL harness (engine differential tests,
//! device conformance and co-simulation, `demo --backend rtl`, `serve --backend rtl` against
//! the Linux kernel) then runs the overlay's modules, and everything else from `rtl/`. An
//! overlay file replaces the reference file of the same name; a name `rtl/` lacks is added.
//! Include directories are searched overlay first, so an overlay's `ft_proto.vh` wins too.
//! A `.v`/`.vh` entry that cannot take part (a symbolic link to nothing, a name that is not
//! UTF-8) is an error, never skipped: skipping it would test the reference file of its name.
//!
//! Owns the resolution of the file set only. Used by the build script (through `#[path]`,
//! so it depends on `std` alone) and by the lint test; must not run tools or read the
//! environment itself: callers pass the overlay they were given.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The environment variable that names an overlay directory at build time.
pub const OVERLAY_ENV: &str = "FERROTOE_RTL_OVERLAY";

/// Where a source file comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The crate's own `rtl/` directory.
    Reference,
    /// The overlay, in place of a reference file of the same name.
    Replaces,
    /// The overlay, a file the reference set does not have.
    Adds,
}

/// One Verilog source (`.v`) or header (`.vh`) of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtlSource {
    /// File name, e.g. `ft_rx_csum.v`.
    pub name: String,
    /// Where it is read from.
    pub path: PathBuf,
    /// Reference or overlay.
    pub origin: Origin,
}

/// The resolved file set of a build, sorted by file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtlSources {
    /// The reference directory (`rtl-sim/rtl`).
    pub reference: PathBuf,
    /// The overlay directory, when one was given.
    pub overlay: Option<PathBuf>,
    /// Every `.v` and `.vh` file, one per name.
    pub files: Vec<RtlSource>,
}

/// Why a file set could not be resolved. The message names the directory and the fix.
#[derive(Debug)]
pub enum SourcesError {
    /// The reference directory could not be listed.
    Reference {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// The overlay directory could not be listed (missing, not a directory, no permission).
    Overlay {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// The overlay holds no `.v` or `.vh` file: almost certainly the wrong directory.
    EmptyOverlay {
        /// The directory.
        dir: PathBuf,
    },
    /// The overlay was named by a relative path, and the directory cargo was started from is
    /// unknown (`PWD` unset), so there is nothing to resolve it against.
    RelativeOverlay {
        /// The path as given.
        dir: PathBuf,
    },
    /// The overlay's path is not UTF-8: Verilator's include options and cargo's build
    /// directives carry paths as text, and a lossy one would name another directory.
    NonUtf8Overlay {
        /// The path as given.
        dir: PathBuf,
    },
    /// A `.v` or `.vh` entry that cannot take part: a symbolic link to nothing, or a name
    /// that is not UTF-8. Never skipped: a skipped overlay file would leave the reference
    /// file of its name in the build while the user believes theirs is tested.
    Unusable {
        /// The entry.
        path: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The overlay holds a file named like the contract header that hw-spec generates
    /// ([`CONTRACT_HEADER`]): it would shadow the contract the driver and the model are built
    /// from, so hardware and software would no longer agree.
    ContractShadowed {
        /// The overlay's file.
        path: PathBuf,
    },
}

/// The Verilog header hw-spec generates (`hw-spec/generated/`): the contract's constants, which
/// an overlay may not replace.
pub const CONTRACT_HEADER: &str = "ferrotoe_hw_spec.vh";

impl fmt::Display for SourcesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourcesError::Reference { dir, error } => write!(
                f,
                "cannot list the reference RTL directory {}: {error} (a broken checkout? \
                 `git status rtl-sim/rtl`)",
                dir.display()
            ),
            SourcesError::Overlay { dir, error } => write!(
                f,
                "cannot list the RTL overlay directory {} named by {OVERLAY_ENV}: {error}; \
                 point {OVERLAY_ENV} at a directory of .v/.vh files, or unset it to build the \
                 reference RTL",
                dir.display()
            ),
            SourcesError::EmptyOverlay { dir } => write!(
                f,
                "the RTL overlay directory {} named by {OVERLAY_ENV} holds no .v or .vh file; \
                 put the modules to test there (same file names as in rtl-sim/rtl to replace \
                 them), or unset {OVERLAY_ENV}",
                dir.display()
            ),
            SourcesError::RelativeOverlay { dir } => write!(
                f,
                "{OVERLAY_ENV}={} is a relative path and the directory cargo was started from \
                 is unknown (PWD is not set); give {OVERLAY_ENV} an absolute path",
                dir.display()
            ),
            SourcesError::NonUtf8Overlay { dir } => write!(
                f,
                "the RTL overlay directory {} named by {OVERLAY_ENV} has a path that is not \
                 UTF-8, which the build cannot pass on intact; move or link the overlay to a \
                 UTF-8 path",
                dir.display()
            ),
            SourcesError::Unusable { path, why } => write!(
                f,
                "cannot build the RTL file {}: {why}; fix or remove it",
                path.display()
            ),
            SourcesError::ContractShadowed { path } => write!(
                f,
                "the RTL overlay file {} would replace the contract header that hw-spec \
                 generates, which the driver and the model are built from too; remove it from \
                 the overlay and change the contract in hw-spec instead (see hw-spec/SPEC.md)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SourcesError {}

/// The overlay directory a build was given, and what chose it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverlayArg {
    /// The directory: the value of [`OVERLAY_ENV`], a relative one joined to the directory
    /// cargo was started from.
    pub dir: PathBuf,
    /// The value was relative, so the directory also depends on `PWD`: a build script must
    /// watch `PWD` as well as [`OVERLAY_ENV`], or the same relative value given from another
    /// directory would silently reuse the build of the first directory's overlay.
    pub depends_on_pwd: bool,
}

/// The overlay directory named by `value`, the value of [`OVERLAY_ENV`] at build time (unset
/// or empty: none), a relative value taken relative to `pwd`, the directory cargo was started
/// from (`PWD`: cargo runs build scripts in the package directory). The result must be UTF-8.
pub fn overlay_arg(
    value: Option<&OsStr>,
    pwd: Option<&OsStr>,
) -> Result<Option<OverlayArg>, SourcesError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let dir = PathBuf::from(value);
    let arg = if dir.is_absolute() {
        OverlayArg {
            dir,
            depends_on_pwd: false,
        }
    } else {
        match pwd.filter(|p| !p.is_empty()) {
            Some(pwd) => OverlayArg {
                dir: Path::new(pwd).join(dir),
                depends_on_pwd: true,
            },
            None => return Err(SourcesError::RelativeOverlay { dir }),
        }
    };
    if arg.dir.to_str().is_none() {
        return Err(SourcesError::NonUtf8Overlay { dir: arg.dir });
    }
    Ok(Some(arg))
}

/// A `.v`/`.vh` file directly in a directory, or why one cannot be used.
type Listed = Result<(String, PathBuf), SourcesError>;

/// The `.v`/`.vh` files directly in `dir` (not in subdirectories; symbolic links followed),
/// by file name; a link to nothing or a name that is not UTF-8 is an [`Unusable`] entry.
///
/// [`Unusable`]: SourcesError::Unusable
fn verilog_files(dir: &Path) -> io::Result<Vec<Listed>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_verilog = path.extension().is_some_and(|x| x == "v" || x == "vh");
        // A directory named like a file is not a source; a link to nothing is an error.
        if !is_verilog || path.is_dir() {
            continue;
        }
        let unusable = |why| {
            Err(SourcesError::Unusable {
                path: path.clone(),
                why,
            })
        };
        files.push(if !path.is_file() {
            unusable("it is a symbolic link to nothing (or not a regular file)")
        } else {
            match path.file_name().and_then(|n| n.to_str()) {
                Some(name) => Ok((name.to_string(), path.clone())),
                None => unusable("its name is not UTF-8 (module files need UTF-8 names)"),
            }
        });
    }
    files.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => a.cmp(b),
        (a, b) => a.is_ok().cmp(&b.is_ok()),
    });
    Ok(files)
}

impl RtlSources {
    /// The files of `reference`, with those of `overlay` (when given) in place of the
    /// same-named ones and added where `reference` has no such name.
    pub fn resolve(reference: &Path, overlay: Option<&Path>) -> Result<RtlSources, SourcesError> {
        let mut files: Vec<RtlSource> = verilog_files(reference)
            .map_err(|error| SourcesError::Reference {
                dir: reference.to_path_buf(),
                error,
            })?
            .into_iter()
            .map(|listed| {
                listed.map(|(name, path)| RtlSource {
                    name,
                    path,
                    origin: Origin::Reference,
                })
            })
            .collect::<Result<_, _>>()?;
        if let Some(dir) = overlay {
            let extra = verilog_files(dir)
                .map_err(|error| SourcesError::Overlay {
                    dir: dir.to_path_buf(),
                    error,
                })?
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            if extra.is_empty() {
                return Err(SourcesError::EmptyOverlay {
                    dir: dir.to_path_buf(),
                });
            }
            if let Some((_, path)) = extra.iter().find(|(name, _)| name == CONTRACT_HEADER) {
                return Err(SourcesError::ContractShadowed { path: path.clone() });
            }
            for (name, path) in extra {
                match files.iter_mut().find(|f| f.name == name) {
                    Some(file) => {
                        file.path = path;
                        file.origin = Origin::Replaces;
                    }
                    None => files.push(RtlSource {
                        name,
                        path,
                        origin: Origin::Adds,
                    }),
                }
            }
            files.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(RtlSources {
            reference: reference.to_path_buf(),
            overlay: overlay.map(Path::to_path_buf),
            files,
        })
    }

    /// The Verilog sources (`.v`) to hand to a tool, in file-name order.
    pub fn verilog(&self) -> impl Iterator<Item = &RtlSource> {
        self.files.iter().filter(|f| f.name.ends_with(".v"))
    }

    /// Include directories in search order: the overlay first, then the reference.
    pub fn include_dirs(&self) -> Vec<&Path> {
        self.overlay
            .iter()
            .map(PathBuf::as_path)
            .chain(std::iter::once(self.reference.as_path()))
            .collect()
    }

    /// Every regular file under the overlay directory, subdirectories included (links to
    /// directories are not followed), sorted; empty without an overlay. The overlay is an
    /// include directory, so Verilator may read any of them (`.svh` headers, `sub/defs.vh`),
    /// not only the `.v`/`.vh` files of [`files`](Self::files): all of them must key a cached
    /// build, or an edited header would be built from the stale cache.
    pub fn overlay_tree(&self) -> io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        let mut dirs: Vec<PathBuf> = self.overlay.iter().cloned().collect();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    dirs.push(path);
                } else if path.is_file() {
                    found.push(path);
                }
            }
        }
        found.sort();
        Ok(found)
    }

    /// The files taken from the overlay (replacing or added), in file-name order.
    pub fn overlay_files(&self) -> impl Iterator<Item = &RtlSource> {
        self.files.iter().filter(|f| f.origin != Origin::Reference)
    }

    /// One line saying what the build uses: "reference RTL" or the overlay's files.
    pub fn summary(&self) -> String {
        let Some(dir) = &self.overlay else {
            return "reference RTL (rtl-sim/rtl)".to_string();
        };
        let names: Vec<String> = self
            .overlay_files()
            .map(|f| match f.origin {
                Origin::Adds => format!("{} (added)", f.name),
                _ => f.name.clone(),
            })
            .collect();
        format!(
            "RTL overlay {}: {}; the rest from rtl-sim/rtl",
            dir.display(),
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("ferrotoe-rtl-sources-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create a scratch directory");
            Scratch(dir)
        }

        fn file(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).expect("write a scratch file");
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn without_an_overlay_the_set_is_the_reference_directory() {
        let reference = Scratch::new("plain");
        reference.file("b.v", "module b; endmodule\n");
        reference.file("a.v", "module a; endmodule\n");
        reference.file("p.vh", "`define X 1\n");
        reference.file("notes.md", "not verilog\n");
        std::fs::create_dir_all(reference.0.join("sub.v")).expect("a directory named like a file");
        let set = RtlSources::resolve(&reference.0, None).expect("resolves");
        let names: Vec<&str> = set.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.v", "b.v", "p.vh"]);
        assert!(set.files.iter().all(|f| f.origin == Origin::Reference));
        let verilog: Vec<&str> = set.verilog().map(|f| f.name.as_str()).collect();
        assert_eq!(verilog, ["a.v", "b.v"]);
        assert_eq!(set.include_dirs(), [reference.0.as_path()]);
        assert_eq!(set.overlay_files().count(), 0);
        assert_eq!(set.summary(), "reference RTL (rtl-sim/rtl)");
    }

    #[test]
    fn overlay_files_replace_same_named_ones_and_add_new_ones() {
        let reference = Scratch::new("ref");
        reference.file("a.v", "module a; endmodule\n");
        reference.file("b.v", "module b; endmodule\n");
        reference.file("p.vh", "`define X 1\n");
        let overlay = Scratch::new("ovl");
        let b = overlay.file("b.v", "module b; /* ours */ endmodule\n");
        let c = overlay.file("c.v", "module c; endmodule\n");
        let p = overlay.file("p.vh", "`define X 2\n");
        let set = RtlSources::resolve(&reference.0, Some(&overlay.0)).expect("resolves");
        let seen: Vec<(&str, &Path, Origin)> = set
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.path.as_path(), f.origin))
            .collect();
        assert_eq!(
            seen,
            [
                ("a.v", reference.0.join("a.v").as_path(), Origin::Reference),
                ("b.v", b.as_path(), Origin::Replaces),
                ("c.v", c.as_path(), Origin::Adds),
                ("p.vh", p.as_path(), Origin::Replaces),
            ]
        );
        assert_eq!(
            set.include_dirs(),
            [overlay.0.as_path(), reference.0.as_path()]
        );
        let summary = set.summary();
        assert!(
            summary.contains("b.v, c.v (added), p.vh") && summary.contains("RTL overlay"),
            "{summary}"
        );
    }

    #[test]
    fn an_overlay_may_not_replace_the_generated_contract_header() {
        let reference = Scratch::new("ref-contract");
        reference.file("a.v", "module a; endmodule\n");
        let overlay = Scratch::new("ovl-contract");
        overlay.file("a.v", "module a; endmodule\n");
        let shadow = overlay.file(CONTRACT_HEADER, "`define FT_CPL_SIZE 99\n");
        let err = RtlSources::resolve(&reference.0, Some(&overlay.0)).expect_err("shadowed");
        assert!(
            matches!(&err, SourcesError::ContractShadowed { path } if *path == shadow),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("change the contract in hw-spec"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_or_empty_overlay_is_an_error_that_names_it_and_the_variable() {
        let reference = Scratch::new("ref2");
        reference.file("a.v", "module a; endmodule\n");
        let missing = reference.0.join("no-such-dir");
        let err = RtlSources::resolve(&reference.0, Some(&missing)).expect_err("missing overlay");
        let text = err.to_string();
        assert!(matches!(err, SourcesError::Overlay { .. }), "{err:?}");
        assert!(
            text.contains("no-such-dir") && text.contains(OVERLAY_ENV),
            "{text}"
        );
        let empty = Scratch::new("empty");
        empty.file("README", "modules go here\n");
        let err = RtlSources::resolve(&reference.0, Some(&empty.0)).expect_err("empty overlay");
        assert!(matches!(err, SourcesError::EmptyOverlay { .. }), "{err:?}");
        assert!(err.to_string().contains("holds no .v or .vh file"), "{err}");
        let err = RtlSources::resolve(&missing, None).expect_err("missing reference");
        assert!(matches!(err, SourcesError::Reference { .. }), "{err:?}");
    }

    #[cfg(unix)]
    #[test]
    fn the_overlay_tree_is_every_file_verilator_may_include_from_it() {
        let reference = Scratch::new("ref5");
        reference.file("a.v", "`include \"defs.svh\"\nmodule a; endmodule\n");
        reference.file("README.md", "not part of an overlay tree\n");
        let set = RtlSources::resolve(&reference.0, None).expect("resolves");
        assert_eq!(set.overlay_tree().expect("lists"), Vec::<PathBuf>::new());
        let overlay = Scratch::new("tree");
        let a = overlay.file("a.v", "`include \"defs.svh\"\nmodule a; endmodule\n");
        let svh = overlay.file("defs.svh", "`include \"sub/more.vh\"\n");
        std::fs::create_dir_all(overlay.0.join("sub")).expect("a subdirectory");
        let more = overlay.file("sub/more.vh", "`define MORE 1\n");
        // A link to a directory is not followed (a link to the overlay itself would loop).
        std::os::unix::fs::symlink(&overlay.0, overlay.0.join("loop")).expect("symlink");
        let set = RtlSources::resolve(&reference.0, Some(&overlay.0)).expect("resolves");
        assert_eq!(set.overlay_tree().expect("lists"), [a, svh, more]);
    }

    #[test]
    fn a_relative_overlay_is_taken_from_where_cargo_runs_and_depends_on_it() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(matches!(overlay_arg(None, os("/w")), Ok(None)));
        assert!(matches!(overlay_arg(os(""), os("/w")), Ok(None)));
        let abs = overlay_arg(os("/rtl/mine"), os("/w")).expect("absolute");
        assert_eq!(
            abs,
            Some(OverlayArg {
                dir: PathBuf::from("/rtl/mine"),
                depends_on_pwd: false,
            })
        );
        // The same value from two directories names two overlays: the build depends on PWD.
        for pwd in ["/w/a", "/w/b"] {
            let rel = overlay_arg(os("mine"), os(pwd)).expect("relative");
            assert_eq!(
                rel,
                Some(OverlayArg {
                    dir: Path::new(pwd).join("mine"),
                    depends_on_pwd: true,
                })
            );
        }
        let err = overlay_arg(os("mine"), None).expect_err("relative without PWD");
        assert!(
            matches!(err, SourcesError::RelativeOverlay { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("absolute path"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_overlay_path_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        // The build hands include directories to Verilator and paths to cargo as text: a
        // lossy `-I` would miss the overlay's headers and use the reference ones instead.
        let value = OsStr::from_bytes(b"/rtl/caf\xe9");
        let err = overlay_arg(Some(value), Some(OsStr::new("/w"))).expect_err("not UTF-8");
        assert!(err.to_string().contains("UTF-8"), "{err}");
        let relative = OsStr::from_bytes(b"caf\xe9");
        assert!(overlay_arg(Some(relative), Some(OsStr::new("/w"))).is_err());
        let pwd = OsStr::from_bytes(b"/w/caf\xe9");
        assert!(overlay_arg(Some(OsStr::new("mine")), Some(pwd)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn an_overlay_file_that_cannot_be_read_or_named_stops_the_build() {
        use std::os::unix::ffi::OsStrExt;
        let reference = Scratch::new("ref4");
        reference.file("a.v", "module a; endmodule\n");
        reference.file("b.v", "module b; endmodule\n");
        // A link to a file that is gone, named like a reference file: skipped, the build would
        // test the reference `b.v` while the user believes it tests theirs.
        let overlay = Scratch::new("dangling");
        overlay.file("a.v", "module a; /* ours */ endmodule\n");
        let link = overlay.0.join("b.v");
        std::os::unix::fs::symlink(overlay.0.join("gone.v"), &link).expect("symlink");
        let err = RtlSources::resolve(&reference.0, Some(&overlay.0)).expect_err("dangling link");
        assert!(matches!(err, SourcesError::Unusable { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&link.display().to_string()),
            "{err}"
        );
        // A link to a file that exists is the file.
        let target = overlay.file("mine.txt", "module b; /* ours */ endmodule\n");
        std::fs::remove_file(&link).expect("remove the link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let set = RtlSources::resolve(&reference.0, Some(&overlay.0)).expect("a good link");
        assert_eq!(set.overlay_files().count(), 2);
        // A Verilog file whose name is not UTF-8: skipped, and an overlay of only such files
        // was reported as holding no .v file at all.
        let odd = Scratch::new("non-utf8");
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.v");
        std::fs::write(odd.0.join(name), "module cafe; endmodule\n").expect("write");
        let err = RtlSources::resolve(&reference.0, Some(&odd.0)).expect_err("non-UTF-8 name");
        assert!(matches!(err, SourcesError::Unusable { .. }), "{err:?}");
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }
}
