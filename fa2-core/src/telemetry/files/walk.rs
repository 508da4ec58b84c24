//! Finds the files to read under the configured paths: each real directory and each real file
//! once (by device and inode on unix, by canonical path elsewhere), so that symbolic-link loops
//! and links to a parent end instead of multiplying the walk, and whatever is not read (a loop,
//! a second way to the same file, a FIFO, a socket, a device) is named with a reason.

use crate::error::SourceError;
use crate::telemetry::SourceQuery;
use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};

/// Directory levels read below an input; deeper ones are reported, not read.
pub(crate) const MAX_DEPTH: usize = 32;

/// What the walk found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Regular files to read, each real file once, in walk order (sorted per directory).
    pub files: Vec<PathBuf>,
    /// Entries not read, with the reason shown to the user.
    pub skipped: Vec<(PathBuf, String)>,
    /// The deadline passed before the walk ended (the listing is partial).
    pub stopped: bool,
}

/// One real file or directory, whatever the names that lead to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileId {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg_attr(unix, allow(dead_code))]
    Path(PathBuf),
}

impl FileId {
    #[cfg(unix)]
    fn of(_path: &Path, meta: &Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId::Inode(meta.dev(), meta.ino())
    }

    #[cfg(not(unix))]
    fn of(path: &Path, _meta: &Metadata) -> FileId {
        FileId::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    }
}

/// What a path is when it is neither a directory nor a regular file, for messages.
pub(crate) fn special_kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_char_device() {
            return "a character device";
        }
    }
    let _ = meta;
    "not a regular file"
}

/// Why a non-regular file is not read, and what to do instead.
pub fn special_reason(meta: &Metadata) -> String {
    format!(
        "{}: fa2 reads only regular files (a pipe or device could block or never end); save the data to a file first, e.g. `cat PATH > export.log`",
        special_kind(meta)
    )
}

/// Follows a symbolic link chain by hand: true when it comes back to a link it passed or does
/// not end within 40 links (what the kernel calls "too many levels of symbolic links").
fn link_loops(path: &Path) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut cur = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&cur) else {
            return false;
        };
        let next = match cur.parent() {
            Some(dir) if target.is_relative() => dir.join(&target),
            _ => target,
        };
        let key = std::fs::canonicalize(next.parent().unwrap_or(Path::new(".")))
            .map(|d| d.join(next.file_name().unwrap_or_default()))
            .unwrap_or_else(|_| next.clone());
        if !seen.insert(key) {
            return true;
        }
        cur = next;
    }
    true
}

/// Why an input path cannot be read at all (it does not exist, it is a dangling link or a link
/// loop, it cannot be looked at), or `None` when it can be walked. FIFOs and devices pass:
/// the walk reports them as skipped.
pub fn input_problem(path: &Path) -> Option<String> {
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some("does not exist".into());
        }
        Err(e) => return Some(format!("cannot be read: {e}")),
    };
    match std::fs::metadata(path) {
        Ok(_) => None,
        Err(e) if link.file_type().is_symlink() => Some(link_problem(path, &e)),
        Err(e) => Some(format!("cannot be read: {e}")),
    }
}

/// A symbolic link whose target cannot be reached, said plainly.
fn link_problem(path: &Path, e: &std::io::Error) -> String {
    let target = std::fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_else(|_| "?".into());
    if link_loops(path) {
        format!(
            "is a symbolic link loop (-> {target} leads back to itself): point it at a file or directory, or remove it"
        )
    } else if e.kind() == std::io::ErrorKind::NotFound {
        format!("is a symbolic link to {target}, which does not exist")
    } else {
        format!("is a symbolic link to {target} that cannot be followed: {e}")
    }
}

/// Walks the inputs. An input that cannot be read at all is an error for the whole source;
/// problems below it are skipped entries.
pub(crate) fn list(paths: &[PathBuf], query: Option<&SourceQuery>) -> Result<Listing, SourceError> {
    let mut w = Walker {
        dirs: HashMap::new(),
        files: HashMap::new(),
        query,
        out: Listing::default(),
    };
    for p in paths {
        if let Some(problem) = input_problem(p) {
            return Err(SourceError::Malformed {
                path: p.clone(),
                message: problem,
            });
        }
        let meta = std::fs::metadata(p).map_err(|e| SourceError::Io {
            path: p.clone(),
            source: e,
        })?;
        if meta.is_dir() {
            let id = FileId::of(p, &meta);
            if let Some(first) = w.dirs.get(&id) {
                let reason = format!("the same directory as {}: read once", first.display());
                w.out.skipped.push((p.clone(), reason));
                continue;
            }
            w.dirs.insert(id, p.clone());
            let rd = std::fs::read_dir(p).map_err(|e| SourceError::Io {
                path: p.clone(),
                source: e,
            })?;
            w.walk(p, rd, 0);
        } else {
            w.entry(p.clone(), &meta, Via::Input, 0);
        }
        if w.out.stopped {
            break;
        }
    }
    Ok(w.out)
}

/// How the walk came to a path, for the message when it was there before.
#[derive(Clone, Copy)]
enum Via {
    Input,
    Link,
    Entry,
}

struct Walker<'q> {
    /// Directories entered, with the path they were first reached by.
    dirs: HashMap<FileId, PathBuf>,
    files: HashMap<FileId, PathBuf>,
    query: Option<&'q SourceQuery>,
    out: Listing,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, rd: std::fs::ReadDir, depth: usize) {
        if self.query.is_some_and(SourceQuery::should_stop) {
            self.out.stopped = true;
            return;
        }
        let mut entries: Vec<PathBuf> = Vec::new();
        for e in rd {
            match e {
                Ok(e) => entries.push(e.path()),
                Err(e) => self.out.skipped.push((
                    dir.to_path_buf(),
                    format!("an entry of this directory cannot be listed: {e}"),
                )),
            }
        }
        entries.sort();
        for p in entries {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            let link = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) => {
                    self.out.skipped.push((p, format!("cannot be read: {e}")));
                    continue;
                }
            };
            let via_link = link.file_type().is_symlink();
            let meta = if via_link {
                match std::fs::metadata(&p) {
                    Ok(m) => m,
                    Err(e) => {
                        let reason = link_problem(&p, &e);
                        self.out.skipped.push((p, reason));
                        continue;
                    }
                }
            } else {
                link
            };
            let via = if via_link { Via::Link } else { Via::Entry };
            self.entry(p, &meta, via, depth + 1);
            if self.out.stopped {
                return;
            }
        }
    }

    /// One path below (or at) an input, `depth` levels down.
    fn entry(&mut self, p: PathBuf, meta: &Metadata, via: Via, depth: usize) {
        let how = match via {
            Via::Input => "named again in the inputs",
            Via::Link => "reached again through a symbolic link",
            Via::Entry => "reached again through a hard link or a mount",
        };
        if meta.is_dir() {
            let id = FileId::of(&p, meta);
            if let Some(first) = self.dirs.get(&id) {
                let reason = if p.starts_with(first) {
                    format!(
                        "directory loop: leads back to {}, a directory above it ({how}); not read again",
                        first.display()
                    )
                } else {
                    format!(
                        "the same directory as {} ({how}); read once",
                        first.display()
                    )
                };
                self.out.skipped.push((p, reason));
                return;
            }
            if depth > MAX_DEPTH {
                let reason = format!("more than {MAX_DEPTH} directory levels deep: not read");
                self.out.skipped.push((p, reason));
                return;
            }
            self.dirs.insert(id, p.clone());
            match std::fs::read_dir(&p) {
                Ok(rd) => self.walk(&p, rd, depth),
                Err(e) => self
                    .out
                    .skipped
                    .push((p, format!("the directory cannot be listed: {e}"))),
            }
        } else if meta.is_file() {
            let id = FileId::of(&p, meta);
            if let Some(first) = self.files.get(&id) {
                let reason = format!("the same file as {} ({how}); read once", first.display());
                self.out.skipped.push((p, reason));
                return;
            }
            self.files.insert(id, p.clone());
            self.out.files.push(p);
        } else if self.files.insert(FileId::of(&p, meta), p.clone()).is_none() {
            // Reported once, however many paths lead to it.
            let reason = special_reason(meta);
            self.out.skipped.push((p, reason));
        }
    }
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
        std::fs::write(dir.path().join("sub/b.log"), "y\n").unwrap();
        dir
    }

    #[test]
    fn two_self_links_are_loops_read_once() {
        let dir = tree();
        symlink(".", dir.path().join("l1")).unwrap();
        symlink(".", dir.path().join("l2")).unwrap();
        let l = list(&[dir.path().to_path_buf()], None).unwrap();
        assert_eq!(l.files.len(), 2, "{l:?}");
        assert_eq!(l.skipped.len(), 2, "{l:?}");
        assert!(l.skipped.iter().all(|(_, r)| r.contains("directory loop")));
    }

    #[test]
    fn link_to_a_parent_and_a_second_name_of_a_file() {
        let dir = tree();
        symlink("..", dir.path().join("sub/up")).unwrap();
        symlink("a.log", dir.path().join("z.log")).unwrap();
        let l = list(&[dir.path().to_path_buf()], None).unwrap();
        assert_eq!(l.files.len(), 2, "{l:?}");
        let reasons: Vec<&str> = l.skipped.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("directory loop")));
        assert!(reasons.iter().any(|r| r.starts_with("the same file as")));
    }

    #[test]
    fn the_same_input_twice_is_read_once() {
        let dir = tree();
        let p = dir.path().to_path_buf();
        let l = list(&[p.clone(), p.join("a.log"), p], None).unwrap();
        assert_eq!(l.files.len(), 2, "{l:?}");
        assert_eq!(l.skipped.len(), 2, "{l:?}");
    }

    #[test]
    fn sockets_are_skipped_by_kind() {
        let dir = tree();
        let _sock = std::os::unix::net::UnixListener::bind(dir.path().join("s.sock")).unwrap();
        let l = list(&[dir.path().to_path_buf()], None).unwrap();
        assert_eq!(l.files.len(), 2);
        assert!(
            l.skipped[0]
                .1
                .starts_with("a socket: fa2 reads only regular files")
        );
        let l = list(&[dir.path().join("s.sock")], None).unwrap();
        assert!(l.files.is_empty());
        assert!(l.skipped[0].1.starts_with("a socket"));
    }

    #[test]
    fn link_loops_and_dangling_links_say_what_they_are() {
        let dir = tree();
        let p = dir.path();
        symlink("loop-b", p.join("loop-a")).unwrap();
        symlink("loop-a", p.join("loop-b")).unwrap();
        symlink("self", p.join("self")).unwrap();
        symlink("nowhere", p.join("dangling")).unwrap();
        for name in ["loop-a", "self"] {
            let m = input_problem(&p.join(name)).unwrap();
            assert!(m.starts_with("is a symbolic link loop"), "{m}");
        }
        let m = input_problem(&p.join("dangling")).unwrap();
        assert!(m.contains("which does not exist"), "{m}");
        assert_eq!(input_problem(&p.join("missing")).unwrap(), "does not exist");
        assert!(input_problem(p).is_none());
        // inside a walk they are skipped entries, not errors
        let l = list(&[p.to_path_buf()], None).unwrap();
        assert_eq!(l.files.len(), 2);
        assert_eq!(l.skipped.len(), 4, "{l:?}");
        let e = list(&[p.join("self")], None).unwrap_err().to_string();
        assert!(e.contains("symbolic link loop"), "{e}");
    }
}
