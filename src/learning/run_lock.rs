//! One writer per run folder: every learning run (start or resume, patch or
//! convolutional, from the CLI, Python or rank 0 of an MPI job) holds an
//! advisory lock on `OUT/.lock` while it runs, so a second run on the same
//! folder refuses at once instead of mixing its files with the first one's.
//!
//! The lock is the operating system's (`flock` on Unix, `LockFileEx` on
//! Windows, through `std::fs::File::try_lock`): it is released when the
//! holder exits in any way, `kill -9` included, so it can never be left
//! stale. The file itself records the holder (`{"pid", "since"}`) for the
//! refusal message, and is emptied (not removed: removing a lock file lets
//! two processes lock two different files) when the run ends normally. A
//! record left by a run that was killed is taken over with a warning.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::learning::Observer;

/// The lock file of the run folder `out`.
pub fn lock_path(out: &Path) -> PathBuf {
    out.join(".lock")
}

/// A held run-folder lock; dropping it releases the folder.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

/// Who holds (or last held) a lock, as recorded in the lock file.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Holder {
    pid: u32,
    since: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!("process {} since {}", self.pid, self.since)
    }
}

impl RunLock {
    /// Locks the existing folder `out` for this process, or fails at once
    /// with [`Error::InUse`] naming the process that holds it. A record left
    /// by a run that ended without releasing it (killed) is reported to
    /// `observer` as a warning and taken over. Where the file system has no
    /// locks (some network file systems) the run goes on unprotected, with a
    /// warning.
    ///
    /// ```
    /// use lca::dictionary::{NoObserver, RunLock};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let lock = RunLock::acquire(dir.path(), &mut NoObserver).unwrap();
    /// let second = RunLock::acquire(dir.path(), &mut NoObserver).unwrap_err();
    /// assert!(second.to_string().contains(&format!("is in use by process {}", std::process::id())));
    /// drop(lock);
    /// RunLock::acquire(dir.path(), &mut NoObserver).unwrap();
    /// ```
    pub fn acquire(out: &Path, observer: &mut dyn Observer) -> Result<RunLock> {
        let path = lock_path(out);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::InUse {
                    path: out.to_path_buf(),
                    holder: current_holder(&mut file)
                        .map_or_else(|| "another process".into(), |h| h.describe()),
                });
            }
            Err(TryLockError::Error(e)) => observer.warning(&format!(
                "{}: cannot lock the run folder ({e}); nothing stops a second run from writing to it",
                path.display()
            )),
        }
        if let Some(old) = read_holder(&mut file)
            && old.pid != std::process::id()
        {
            observer.warning(&format!(
                "{}: taking over the run folder from {}, which ended without releasing it (killed?)",
                out.display(),
                old.describe()
            ));
        }
        let me = Holder {
            pid: std::process::id(),
            since: utc_timestamp(SystemTime::now()),
        };
        let text = serde_json::to_string(&me).expect("a holder serialises") + "\n";
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        Ok(RunLock { file })
    }
}

impl Drop for RunLock {
    /// Empties the record (a run that ends normally leaves no holder behind);
    /// closing the file releases the lock.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The holder recorded in a lock file, if any.
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// The holder of a lock another process holds: it writes its record just
/// after locking, so an empty record is read again for a moment.
fn current_holder(file: &mut File) -> Option<Holder> {
    for _ in 0..10 {
        if let Some(h) = read_holder(file) {
            return Some(h);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `t` as an ISO 8601 UTC time to the second (`2026-12-07T00:51:21Z`), by
/// the civil-from-days algorithm (H. Hinnant): no date crate for one line.
fn utc_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learning::NoObserver;

    #[test]
    fn timestamps_match_known_dates() {
        let at = |s: u64| utc_timestamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_604_681), "2026-12-07T00:51:21Z");
    }

    struct Warnings(Vec<String>);
    impl Observer for Warnings {
        fn warning(&mut self, m: &str) {
            self.0.push(m.to_string());
        }
    }

    #[test]
    fn a_record_left_by_a_killed_run_is_taken_over_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let killed = r#"{"pid":4000000000,"since":"2026-01-01T00:00:00Z"}"#;
        std::fs::write(lock_path(dir.path()), killed).unwrap();
        let mut w = Warnings(Vec::new());
        let lock = RunLock::acquire(dir.path(), &mut w).unwrap();
        assert_eq!(w.0.len(), 1, "{:?}", w.0);
        assert!(w.0[0].contains("process 4000000000 since 2026-01-01T00:00:00Z"));
        drop(lock);
        // A run that ended normally leaves nothing to warn about.
        assert_eq!(std::fs::read(lock_path(dir.path())).unwrap(), b"");
        let mut w = Warnings(Vec::new());
        let _lock = RunLock::acquire(dir.path(), &mut w).unwrap();
        assert!(w.0.is_empty(), "{:?}", w.0);
        assert!(RunLock::acquire(dir.path(), &mut NoObserver).is_err());
    }
}
