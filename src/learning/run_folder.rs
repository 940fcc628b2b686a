//! The output folder of a learning run, shared by patch learning
//! ([`super::training`]) and convolutional learning (`crate::conv`): where
//! `config.json`, `training.csv` and `checkpoint.npz` live, how they are
//! written (atomically) and read back on `--resume`, and the bookkeeping both
//! loops do the same way (rows kept on resume, "already finished", the
//! report). What differs between the two — the learner, its checkpoint
//! arrays, the dictionary files — stays with each loop.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::log::{CSV_HEADER, TrainingRow, read_training_csv};
use crate::error::{Error, Result};
use crate::image::{ImageSet, LoadOptions};
use crate::io::atomic::{AtomicFile, write_bytes_atomic};
use crate::io::npy::NpyArray;
use crate::io::npz;
use crate::learning::{Observer, Status, TrainingReport};

/// `config.json` of a run in `out`.
pub(crate) fn config_path(out: &Path) -> PathBuf {
    out.join("config.json")
}

/// The checkpoint file of a run in `out`.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    out.join("checkpoint.npz")
}

/// The checkpoint before the newest one, kept so that a damaged newest
/// checkpoint costs the steps between the two instead of the run.
pub fn previous_checkpoint_path(out: &Path) -> PathBuf {
    out.join("checkpoint.prev.npz")
}

/// Saves `arrays` as the checkpoint of the run in `out`, durably: written to
/// a temporary file and fsynced, read back by `verify` (which compares it
/// with the state in memory), and only then put in place, the checkpoint it
/// replaces becoming `checkpoint.prev.npz`. A failure (a full disk) leaves
/// both existing checkpoints as they were.
pub(crate) fn save_checkpoint(
    out: &Path,
    arrays: &[(&str, &NpyArray)],
    verify: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let mut file = AtomicFile::create(&checkpoint_path(out))?;
    npz::write_npz_into(&mut file, arrays)?;
    file.commit_keeping_previous(&previous_checkpoint_path(out), verify)
}

/// The state to resume the run in `out` from: its newest checkpoint read by
/// `read`, or, when that one is missing or damaged, the previous one, with a
/// warning naming both steps (`step` gives a state's step). `None` (with a
/// warning) when the run has no checkpoint at all; an error naming both
/// files when neither is readable.
pub(crate) fn load_checkpoint<T>(
    out: &Path,
    observer: &mut dyn Observer,
    read: impl Fn(&Path) -> Result<T>,
    step: impl Fn(&T) -> u64,
) -> Result<Option<T>> {
    let (newest, previous) = (checkpoint_path(out), previous_checkpoint_path(out));
    let failure = if newest.exists() {
        match read(&newest) {
            Ok(state) => return Ok(Some(state)),
            Err(e) => {
                let at = recorded_step(&newest)
                    .map_or("an unknown step".into(), |s| format!("step {s}"));
                Some((format!("{} (at {at}) is unreadable", newest.display()), e))
            }
        }
    } else {
        None
    };
    if !previous.exists() {
        return match failure {
            Some((_, e)) => Err(e),
            None => {
                warn_no_checkpoint(out, observer);
                Ok(None)
            }
        };
    }
    let why = match &failure {
        Some((what, e)) => format!("{what} ({e})"),
        None => format!(
            "{} is missing (the run was stopped while replacing it)",
            newest.display()
        ),
    };
    match read(&previous) {
        Ok(state) => {
            observer.warning(&format!(
                "{why}; resuming from {} at step {} instead",
                previous.display(),
                step(&state)
            ));
            Ok(Some(state))
        }
        Err(e) => Err(Error::format(
            out,
            format!(
                "no readable checkpoint: {why}, and {e} (remove both checkpoints to start the run again from step 0)"
            ),
        )),
    }
}

/// The step recorded in a checkpoint's `meta` (patch and convolutional
/// checkpoints both have one), read alone so that a damaged array elsewhere
/// in the file does not hide it.
fn recorded_step(path: &Path) -> Option<u64> {
    let meta = npz::read_npz_array(path, "meta").ok()?;
    serde_json::from_slice::<serde_json::Value>(&meta.bytes).ok()?["step"].as_u64()
}

/// `e`, a failure while running the learning run in `out`, with the way to
/// continue: every step up to the last checkpoint is safe, so once the cause
/// is fixed the run resumes (`lca learn --resume OUT`) and ends exactly as
/// it would have. File-system errors name the remedy of their cause.
pub fn with_way_to_continue(e: Error, out: &Path) -> Error {
    let Error::Io { path, cause } = e else {
        return e;
    };
    use std::io::ErrorKind as K;
    let kind = root_kind(&cause);
    let remedy = match kind {
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge => "free space".to_string(),
        K::ReadOnlyFilesystem | K::PermissionDenied => {
            format!("make {} writable", out.display())
        }
        _ => "fix the cause".to_string(),
    };
    let message = format!(
        "{cause}; {remedy} and run `lca learn --resume {}`",
        out.display()
    );
    Error::io(path, std::io::Error::new(kind, message))
}

/// The kind of the innermost I/O error inside `e`: encoders (PNG) wrap the
/// operating system's error in errors of their own, of kind `Other`.
fn root_kind(e: &std::io::Error) -> std::io::ErrorKind {
    let mut kind = e.kind();
    let mut inner: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(err) = inner {
        inner = match err.downcast_ref::<std::io::Error>() {
            Some(io) => {
                kind = io.kind();
                io.get_ref().map(|i| i as _)
            }
            None => err.source(),
        };
    }
    kind
}

/// Makes `path` absolute (so a resumed run finds it from any directory),
/// failing with the path when it does not exist.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| Error::io(path, e))
}

/// Reads the `config.json` of the run in `out` as a `T`; a file that does not
/// parse is "not a valid `command` config". Returns the config and its path.
pub(crate) fn read_config<T: DeserializeOwned>(out: &Path, command: &str) -> Result<(T, PathBuf)> {
    let path = config_path(out);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let config = serde_json::from_str(&text)
        .map_err(|e| Error::format(&path, format!("not a valid {command} config ({e})")))?;
    Ok((config, path))
}

/// Fails on the first of `paths` (recorded in the config at `config`) that no
/// longer exists, naming the config it came from.
pub(crate) fn check_recorded_paths<'a>(
    paths: impl IntoIterator<Item = &'a PathBuf>,
    config: &Path,
) -> Result<()> {
    for p in paths {
        if !p.exists() {
            return Err(Error::format(
                p,
                format!("not found (path recorded in {})", config.display()),
            ));
        }
    }
    Ok(())
}

/// Opens the images of a run: the folder `images` (or the embedded samples),
/// warning once per skipped file; `recorded_in` names the config the folder
/// came from, for the error when it is gone.
pub(crate) fn open_images(
    images: Option<&Path>,
    recursive: bool,
    opts: LoadOptions,
    observer: &mut dyn Observer,
    recorded_in: Option<&Path>,
) -> Result<ImageSet> {
    match images {
        None => ImageSet::embedded(opts),
        Some(dir) => {
            let (set, warnings) =
                ImageSet::from_folder(dir, recursive, opts).map_err(|e| match recorded_in {
                    Some(cfg) => {
                        Error::Data(format!("{e} (image folder recorded in {})", cfg.display()))
                    }
                    None => e,
                })?;
            for w in warnings {
                observer.warning(&w);
            }
            Ok(set)
        }
    }
}

/// The warning of a resume that finds no checkpoint.
pub(crate) fn warn_no_checkpoint(out: &Path, observer: &mut dyn Observer) {
    observer.warning(&format!(
        "{}: no checkpoint to resume from (the run was stopped before its first one); starting again from step 0",
        out.display()
    ));
}

/// The log rows of the run in `out` up to its checkpoint at `step` (rows
/// after it were lost with the interrupted run).
pub(crate) fn resumed_rows(out: &Path, step: u64) -> Result<Vec<TrainingRow>> {
    let csv = out.join("training.csv");
    if !csv.exists() {
        return Ok(Vec::new());
    }
    Ok(read_training_csv(&csv)?
        .into_iter()
        .filter(|r| r.step <= step)
        .collect())
}

/// `Some(status)` when a resumed run has nothing left to do: all `steps` done,
/// or stopped by its time budget — unless the budget only chose the horizon
/// (`budget_planned`): such a run resumes to the end of its plan.
pub(crate) fn finished_status(
    done: u64,
    steps: u64,
    status: Option<Status>,
    budget_planned: bool,
) -> Option<Status> {
    let budget_spent = status == Some(Status::TimeBudget) && !budget_planned;
    (done >= steps || budget_spent).then(|| status.unwrap_or(Status::Completed))
}

/// What [`report`] needs besides the log.
pub(crate) struct ReportFacts {
    /// Training seconds of earlier sessions.
    pub elapsed: f64,
    /// Steps done in all.
    pub steps_done: u64,
    /// Steps done when this session started.
    pub start_step: u64,
    /// Images (or signals) of the run.
    pub images: usize,
    /// Images decoded so far.
    pub decodes: u64,
}

/// The report of a run that ended with `status` after `secs` wall seconds of
/// this session.
pub(crate) fn report(
    rows: &[TrainingRow],
    facts: ReportFacts,
    status: Status,
    secs: f64,
) -> TrainingReport {
    let last = rows.last().copied();
    TrainingReport {
        steps_done: facts.steps_done,
        seconds: last.map_or(facts.elapsed, |r| r.seconds),
        status,
        last,
        heldout_energy: rows.iter().rev().find_map(|r| r.heldout_energy),
        images: facts.images,
        decodes: facts.decodes,
        session_steps: facts.steps_done - facts.start_step,
        session_seconds: secs,
        time: None,
    }
}

/// Writes `config` (with its progress already set) as `config.json`.
pub(crate) fn write_config<T: Serialize>(out: &Path, config: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(config)
        .map_err(|e| Error::Internal(format!("cannot serialise config ({e})")))?;
    write_bytes_atomic(&config_path(out), text.as_bytes())
}

/// Writes the whole training log atomically, so it is never seen half-written.
pub(crate) fn write_log(out: &Path, rows: &[TrainingRow]) -> Result<()> {
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for r in rows {
        text.push_str(&r.to_csv_line());
        text.push('\n');
    }
    write_bytes_atomic(&out.join("training.csv"), text.as_bytes())
}
/// Where a run's images came from, for a title: the embedded samples or the
/// folder's name.
pub(crate) fn images_label(images: Option<&Path>) -> String {
    match images {
        None => "the embedded photos".into(),
        Some(dir) => {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string());
            format!("the photos in {name}/")
        }
    }
}

/// `"2000 steps"`, or `"1 step"`.
pub(crate) fn steps_phrase(n: u64) -> String {
    if n == 1 {
        "1 step".into()
    } else {
        format!("{n} steps")
    }
}
