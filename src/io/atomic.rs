//! Atomic file replacement: write everything to a hidden temporary file in the
//! target's directory, fsync it, then rename it over the target. A crash or an
//! error part-way through leaves either the old file or the complete new one,
//! never a truncated mix, which matters for long runs that save checkpoints.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Distinguishes temporary files of concurrent writes from the same process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a file atomically: `write` fills a buffered temporary file in the
/// same directory as `path`, which is then flushed, fsynced and renamed over
/// `path`.
///
/// The temporary file is hidden (`.NAME.PID.N.tmp`) and lives in the target's
/// directory so that the final rename stays on one file system. On any error
/// (from `write`, flushing, syncing or renaming) the temporary file is removed
/// and [`Error::Io`] naming `path` is returned; an existing file at `path` is
/// then left untouched. A missing or unwritable directory fails before anything
/// is created. If `path` is a symbolic link, the link itself is replaced.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("hello.txt");
/// lca::io::atomic::write_atomic(&path, |w| w.write_all(b"hello\n")).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello\n");
/// ```
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let mut file = AtomicFile::create(path)?;
    write(file.writer()).map_err(|e| Error::io(path, e))?;
    file.commit()
}

/// A file written incrementally and replaced atomically: the same temporary
/// file, fsync and rename as [`write_atomic`], for outputs produced piece by
/// piece (a streamed encoding) that should not be held in memory whole.
///
/// Nothing appears at the target until [`AtomicFile::commit`]; dropping an
/// uncommitted file (an error, a panic) removes the temporary file.
///
/// ```
/// use std::io::Write;
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("log.txt");
/// let mut f = lca::io::atomic::AtomicFile::create(&path).unwrap();
/// f.writer().write_all(b"one ").unwrap();
/// f.writer().write_all(b"two").unwrap();
/// assert!(!path.exists());
/// f.commit().unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"one two");
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the hidden temporary file (`.NAME.PID.N.tmp`) next to `path`;
    /// a missing or unwritable directory fails here, before any work.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let file_name = path.file_name().ok_or_else(|| {
            Error::io(
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "path does not name a file"),
            )
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = dir.join(tmp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| {
                let msg = format!("cannot create a file in directory '{}': {e}", dir.display());
                Error::io(path, io::Error::new(e.kind(), msg))
            })?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            dir,
            tmp,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The buffered temporary file; write errors should name [`AtomicFile::path`].
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("writer exists until commit")
    }

    /// Flushes, fsyncs and renames the temporary file over the target. On
    /// failure the temporary file is removed and the target left untouched.
    pub fn commit(mut self) -> Result<()> {
        let result = self
            .sync_temporary()
            .and_then(|()| fs::rename(&self.tmp, &self.path));
        if let Err(e) = result {
            let _ = fs::remove_file(&self.tmp);
            return Err(Error::io(&self.path, e));
        }
        sync_dir(&self.dir);
        Ok(())
    }

    /// Like [`AtomicFile::commit`], for a file whose last good version must
    /// outlive a bad new one (a checkpoint): once the temporary file is on
    /// disk, `verify` reads it back; only if that succeeds is the target
    /// renamed to `previous` (replacing it) and the temporary file renamed
    /// over the target, and the directory synced. On failure the temporary
    /// file is removed and the existing files are left as they were. A crash
    /// between the two renames leaves `previous` and no target: readers treat
    /// a missing target like a damaged one and fall back to `previous`.
    ///
    /// ```
    /// use std::io::Write;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let (path, prev) = (dir.path().join("state.bin"), dir.path().join("state.prev.bin"));
    /// for text in [b"one", b"two"] {
    ///     let mut f = lca::io::atomic::AtomicFile::create(&path).unwrap();
    ///     f.writer().write_all(text).unwrap();
    ///     f.commit_keeping_previous(&prev, |tmp| {
    ///         assert_eq!(std::fs::read(tmp).unwrap(), text);
    ///         Ok(())
    ///     })
    ///     .unwrap();
    /// }
    /// assert_eq!(std::fs::read(&path).unwrap(), b"two");
    /// assert_eq!(std::fs::read(&prev).unwrap(), b"one");
    /// ```
    pub fn commit_keeping_previous(
        mut self,
        previous: &Path,
        verify: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let result = match self.sync_temporary() {
            Err(e) => Err(Error::io(&self.path, e)),
            Ok(()) => verify(&self.tmp)
                .map_err(|e| {
                    let msg = format!(
                        "the new version did not read back ({e}); the previous one is kept"
                    );
                    Error::io(&self.path, io::Error::new(io::ErrorKind::InvalidData, msg))
                })
                .and_then(|()| match fs::rename(&self.path, previous) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(previous, e)),
                    _ => fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e)),
                }),
        };
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        sync_dir(&self.dir);
        result
    }

    /// Flushes and fsyncs the temporary file, which stays in place.
    fn sync_temporary(&mut self) -> io::Result<()> {
        let w = self.writer.take().expect("writer exists until commit");
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
    }
}

/// Persists renames in `dir`; not all platforms and file systems allow
/// syncing a directory, and the data is already safe, so failure is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl Drop for AtomicFile {
    /// Removes the temporary file of a write that was not committed.
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Removes the temporary files that [`write_atomic`] calls of processes that
/// no longer run (killed mid-write, e.g. by `kill -9`) from `dir`, and returns
/// their paths. A resumed run calls it so an interruption leaves nothing behind.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let stale = dir.path().join(".codes.npy.999999999.0.tmp");
/// std::fs::write(&stale, b"half a file").unwrap();
/// std::fs::write(dir.path().join("codes.npy"), b"kept").unwrap();
/// let removed = lca::io::atomic::remove_stale_temporaries(dir.path()).unwrap();
/// assert_eq!(removed, vec![stale.clone()]);
/// assert!(!stale.exists() && dir.path().join("codes.npy").exists());
/// ```
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    let own = std::process::id();
    let mut removed = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_owner) else {
            continue;
        };
        // A process that still runs may be writing it (Linux tells; elsewhere
        // a resumed run's output folder has no other writer).
        let alive = pid == own || Path::new("/proc").join(pid.to_string()).exists();
        if !alive {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

/// The process id in a name of the form `.NAME.PID.N.tmp`.
fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = rest.rsplitn(3, '.');
    let _counter: u64 = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next().filter(|target| !target.is_empty())?;
    Some(pid)
}

/// Atomically replaces `path` with `bytes`; see [`write_atomic`].
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("data.bin");
/// lca::io::atomic::write_bytes_atomic(&path, &[1, 2, 3]).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), [1, 2, 3]);
/// ```
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}
