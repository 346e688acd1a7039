//! The pages the HTTP responder serves, all in memory: a built-in site, or the regular files
//! of a directory read once at start-up (so the data path never touches the file system and
//! never allocates). Pages are sorted by path and found by binary search; `/` and any path
//! ending in `/` mean its `index.html`.
//!
//! Owns the pages and their content types; knows nothing of connections.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::pattern::Pattern;

/// Most files a directory site may hold.
pub const MAX_FILES: usize = 10_000;
/// Most bytes a directory site may hold in all.
pub const MAX_SITE_BYTES: u64 = 256 << 20;
/// Length of the built-in `/pattern-1m.bin` page.
pub const PATTERN_PAGE_LEN: usize = 1 << 20;

/// One page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Its path, starting with `/` (bytes: file names need not be UTF-8).
    pub path: Box<[u8]>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: Box<[u8]>,
}

/// A set of pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    pages: Vec<Page>,
}

/// Why a directory could not be served.
#[derive(Debug)]
pub enum SiteError {
    /// Reading a file or directory failed.
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The directory holds more than [`MAX_FILES`] files or [`MAX_SITE_BYTES`] bytes.
    TooLarge {
        /// The directory.
        dir: PathBuf,
        /// What overflowed.
        what: String,
    },
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteError::Io { path, source } => write!(
                f,
                "cannot read {} for the HTTP site ({source}); check the path given with --root \
                 and its permissions",
                path.display()
            ),
            SiteError::TooLarge { dir, what } => write!(
                f,
                "{} is too large to serve from memory ({what}; at most {MAX_FILES} files and \
                 {} MiB): point --root at a smaller directory",
                dir.display(),
                MAX_SITE_BYTES >> 20
            ),
        }
    }
}

impl std::error::Error for SiteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SiteError::Io { source, .. } => Some(source),
            SiteError::TooLarge { .. } => None,
        }
    }
}

/// The content type of a file name, by its extension.
pub fn content_type(name: &[u8]) -> &'static str {
    let ext = name
        .rsplit(|&b| b == b'.')
        .next()
        .filter(|e| e.len() < name.len())
        .unwrap_or(b"");
    let is = |e: &[u8]| ext.eq_ignore_ascii_case(e);
    if is(b"html") || is(b"htm") {
        "text/html; charset=utf-8"
    } else if is(b"txt") || is(b"md") {
        "text/plain; charset=utf-8"
    } else if is(b"css") {
        "text/css"
    } else if is(b"js") {
        "text/javascript"
    } else if is(b"json") {
        "application/json"
    } else if is(b"svg") {
        "image/svg+xml"
    } else if is(b"png") {
        "image/png"
    } else if is(b"jpg") || is(b"jpeg") {
        "image/jpeg"
    } else if is(b"gif") {
        "image/gif"
    } else if is(b"pdf") {
        "application/pdf"
    } else {
        "application/octet-stream"
    }
}

/// The built-in index page.
pub const INDEX_HTML: &str = "<!DOCTYPE html>
<html><head><meta charset=\"utf-8\"><title>ferrotoe</title></head>
<body>
<h1>ferrotoe serve</h1>
<p>This page came from ferrotoe's allocation-free TCP engine, not the Linux kernel's TCP.</p>
<ul>
<li><a href=\"/hello.txt\">/hello.txt</a>: a line of text</li>
<li><a href=\"/pattern-1m.bin\">/pattern-1m.bin</a>: 1 MiB of the verification pattern (byte i is i mod 251)</li>
</ul>
</body></html>
";

/// The built-in `/hello.txt`.
pub const HELLO_TXT: &str = "Hello from ferrotoe: this answer left through its TCP engine.\n";

impl Site {
    /// The built-in site: `/index.html` (also `/`), `/hello.txt` and `/pattern-1m.bin`.
    pub fn builtin() -> Site {
        let mut pattern = vec![0u8; PATTERN_PAGE_LEN];
        Pattern::new(PATTERN_PAGE_LEN).fill(0, &mut pattern);
        Site::from_pages(vec![
            page(b"/index.html", INDEX_HTML.as_bytes().into()),
            page(b"/hello.txt", HELLO_TXT.as_bytes().into()),
            page(b"/pattern-1m.bin", pattern.into_boxed_slice()),
        ])
    }

    /// A site of these pages (sorted here; a later duplicate path wins).
    pub fn from_pages(mut pages: Vec<Page>) -> Site {
        pages.reverse();
        pages.sort_by(|a, b| a.path.cmp(&b.path));
        pages.dedup_by(|later, earlier| later.path == earlier.path);
        Site { pages }
    }

    /// The regular files under `dir` (recursively; symbolic links to files are followed, to
    /// directories are not), as pages at their relative paths. When `dir` has no
    /// `index.html`, one listing every file is generated.
    ///
    /// # Errors
    /// A file or directory cannot be read, or the directory is too large.
    pub fn from_dir(dir: &Path) -> Result<Site, SiteError> {
        let mut pages = Vec::new();
        let mut total = 0u64;
        let mut pending = vec![(dir.to_path_buf(), Vec::<u8>::new())];
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SiteError::Io { path, source }
        };
        while let Some((at, prefix)) = pending.pop() {
            let mut entries = std::fs::read_dir(&at)
                .map_err(io(&at))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(io(&at))?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = entry.path();
                let name = entry.file_name();
                let mut url = prefix.clone();
                url.push(b'/');
                url.extend_from_slice(name.as_encoded_bytes());
                let kind = entry.file_type().map_err(io(&path))?;
                if kind.is_dir() {
                    pending.push((path, url));
                    continue;
                }
                let meta = std::fs::metadata(&path).map_err(io(&path))?;
                if !meta.is_file() {
                    continue;
                }
                total += meta.len();
                if pages.len() >= MAX_FILES || total > MAX_SITE_BYTES {
                    return Err(SiteError::TooLarge {
                        dir: dir.to_path_buf(),
                        what: format!("{} files, {} bytes so far", pages.len() + 1, total),
                    });
                }
                let body = std::fs::read(&path).map_err(io(&path))?;
                pages.push(page(&url, body.into_boxed_slice()));
            }
        }
        let mut site = Site::from_pages(pages);
        if site.find(b"/index.html").is_none() {
            let mut html = String::from(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ferrotoe</title>\
                 </head>\n<body><h1>Files</h1><ul>\n",
            );
            for p in &site.pages {
                let shown = String::from_utf8_lossy(&p.path).replace('<', "&lt;");
                html.push_str(&format!("<li>{shown} ({} bytes)</li>\n", p.body.len()));
            }
            html.push_str("</ul></body></html>\n");
            site.pages
                .push(page(b"/index.html", html.into_bytes().into()));
            site = Site::from_pages(site.pages);
        }
        Ok(site)
    }

    /// All pages, sorted by path.
    pub fn pages(&self) -> &[Page] {
        &self.pages
    }

    /// Page `i` (as [`find`](Self::find) returned).
    pub fn page(&self, i: usize) -> Option<&Page> {
        self.pages.get(i)
    }

    /// The page for a decoded request path (`/`, and paths ending in `/`, mean their
    /// `index.html`). No allocation.
    pub fn find(&self, path: &[u8]) -> Option<usize> {
        let suffix: &[u8] = if path.ends_with(b"/") {
            b"index.html"
        } else {
            b""
        };
        self.pages
            .binary_search_by(|p| cmp_concat(&p.path, path, suffix))
            .ok()
    }
}

fn page(path: &[u8], body: Box<[u8]>) -> Page {
    Page {
        path: path.into(),
        content_type: content_type(path),
        body,
    }
}

/// `x` compared with the concatenation of `a` and `b`.
fn cmp_concat(x: &[u8], a: &[u8], b: &[u8]) -> Ordering {
    x.iter().cmp(a.iter().chain(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pages_and_index_lookup() {
        let site = Site::builtin();
        let index = site.find(b"/").unwrap();
        assert_eq!(site.find(b"/index.html"), Some(index));
        assert_eq!(&*site.page(index).unwrap().body, INDEX_HTML.as_bytes());
        assert_eq!(
            site.page(index).unwrap().content_type,
            "text/html; charset=utf-8"
        );
        let p = site.page(site.find(b"/pattern-1m.bin").unwrap()).unwrap();
        assert_eq!(p.body.len(), PATTERN_PAGE_LEN);
        assert_eq!(p.body[251 + 7], 7);
        assert_eq!(site.find(b"/nope"), None);
        assert_eq!(site.find(b"/hello.txt/"), None);
        assert_eq!(site.find(b""), None);
    }

    #[test]
    fn directories_become_pages() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.txt"), b"alpha").unwrap();
        std::fs::write(dir.path().join("sub/index.html"), b"<p>sub</p>").unwrap();
        std::fs::write(dir.path().join("sub/data"), b"\x00\x01").unwrap();
        let site = Site::from_dir(dir.path()).unwrap();
        let body = |p: &[u8]| site.page(site.find(p).unwrap()).unwrap().body.to_vec();
        assert_eq!(body(b"/a.txt"), b"alpha");
        assert_eq!(body(b"/sub/"), b"<p>sub</p>");
        assert_eq!(
            site.page(site.find(b"/sub/data").unwrap())
                .unwrap()
                .content_type,
            "application/octet-stream"
        );
        let listing = String::from_utf8(body(b"/")).unwrap();
        assert!(
            listing.contains("/a.txt (5 bytes)") && listing.contains("/sub/data"),
            "{listing}"
        );
        let err = Site::from_dir(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("--root"), "{err}");
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type(b"/x.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type(b"/x.json"), "application/json");
        assert_eq!(content_type(b"/README"), "application/octet-stream");
        assert_eq!(content_type(b"/.png"), "image/png");
    }
}
