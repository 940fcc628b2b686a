//! Checkpoints of dictionary learning: everything a [`DictionaryLearner`]
//! needs to continue bit for bit, as one `.npz` archive (numpy reads it:
//! `np.load("checkpoint.npz")`), written atomically so `kill -9` at any moment
//! leaves either the previous checkpoint or the new one.
//!
//! Arrays: `atoms` and `velocity` `(n_atoms, n_features)` f32, `idle`
//! `(n_atoms,)` i64, with the online rule `stat_a` `(n_atoms, n_atoms)` and
//! `stat_b` `(n_atoms, n_features)` f32 (numpy row-major views of `A` and
//! `Bᵀ`), and `meta`, a JSON object `{"step", "seconds", "rule"}` as bytes.
//!
//! A run saves its checkpoints with `save_checkpoint`: each one is read
//! back and compared with the state before it replaces the last one, which
//! is kept as `checkpoint.prev.npz` for a resume to fall back on.
//!
//! [`DictionaryLearner`]: super::learn::DictionaryLearner

use std::path::Path;

use nalgebra::DMatrix;

use super::learn::{LearnerState, OnlineStats, Rule};
use crate::error::{Error, Result};
use crate::io::npy::NpyArray;
use crate::io::npz;
use crate::learning::run_folder;

/// Writes `state` (and the training seconds so far) to `path`, atomically.
///
/// ```
/// use lca::dictionary::{read_checkpoint, write_checkpoint};
/// use lca::dictionary::{DictionaryLearner, LearnParams};
/// use lca::Dictionary;
/// # let dir = tempfile::tempdir().unwrap();
/// let init = Dictionary::from_rows(2, 2, vec![1.0, 0.2, 0.1, 1.0]).unwrap();
/// let learner = DictionaryLearner::new(LearnParams::default(), init).unwrap();
/// let path = dir.path().join("checkpoint.npz");
/// write_checkpoint(&path, learner.state(), 1.5).unwrap();
/// let (state, seconds) = read_checkpoint(&path, 2, 2).unwrap();
/// assert_eq!((&state, seconds), (learner.state(), 1.5));
/// ```
pub fn write_checkpoint(path: &Path, state: &LearnerState, seconds: f64) -> Result<()> {
    let arrays = checkpoint_arrays(state, seconds)?;
    npz::write_npz(path, &named(&arrays))
}

/// Saves `state` as the checkpoint of the run in `out`, verified and keeping
/// the previous one (`run_folder::save_checkpoint`).
pub(crate) fn save_checkpoint(out: &Path, state: &LearnerState, seconds: f64) -> Result<()> {
    let arrays = checkpoint_arrays(state, seconds)?;
    let (n, k) = state.atoms.shape();
    run_folder::save_checkpoint(out, &named(&arrays), |written| {
        // The state, bit for bit (the seconds are bookkeeping, and JSON
        // does not promise their last bit).
        let (back, _) = read_checkpoint(written, n, k)?;
        if back != *state {
            return Err(Error::format(
                written,
                "holds other values than were written",
            ));
        }
        Ok(())
    })
}

/// `(name, array)` pairs as the `npz` writer takes them.
fn named<'a>(arrays: &'a [(&'static str, NpyArray)]) -> Vec<(&'a str, &'a NpyArray)> {
    arrays.iter().map(|(name, a)| (*name, a)).collect()
}

/// The arrays of a checkpoint of `state` (see the module documentation).
fn checkpoint_arrays(state: &LearnerState, seconds: f64) -> Result<Vec<(&'static str, NpyArray)>> {
    let (n, k) = state.atoms.shape();
    let rule = if state.stats.is_some() {
        Rule::Online
    } else {
        Rule::Hebbian
    };
    let meta = serde_json::json!({ "step": state.step, "seconds": seconds, "rule": rule.name() })
        .to_string();
    let idle: Vec<i64> = state
        .idle
        .iter()
        .map(|&v| i64::try_from(v).unwrap_or(i64::MAX))
        .collect();
    let mut arrays = vec![
        (
            "atoms",
            NpyArray::from_f32(vec![k, n], state.atoms.as_slice())?,
        ),
        (
            "velocity",
            NpyArray::from_f32(vec![k, n], state.velocity.as_slice())?,
        ),
        ("idle", NpyArray::from_i64(vec![k], &idle)?),
    ];
    if let Some(stats) = &state.stats {
        arrays.push((
            "stat_a",
            NpyArray::from_f32(vec![k, k], stats.a.as_slice())?,
        ));
        arrays.push((
            "stat_b",
            NpyArray::from_f32(vec![k, n], stats.b.as_slice())?,
        ));
    }
    arrays.push((
        "meta",
        NpyArray::from_u8(vec![meta.len()], meta.as_bytes())?,
    ));
    Ok(arrays)
}

/// Reads a checkpoint of `k` atoms of `n` features written by
/// [`write_checkpoint`]; returns the state and the training seconds so far.
///
/// Fails with [`Error::Format`] naming the file when an array is missing, has
/// the wrong type or size, or the metadata is unreadable: the reader takes
/// files from anyone, so nothing is trusted (sizes are checked against the
/// expected shape before use; `npz` reading itself is bounded).
pub fn read_checkpoint(path: &Path, n: usize, k: usize) -> Result<(LearnerState, f64)> {
    let arrays = npz::read_npz(path)?;
    let bad = |m: String| Error::format(path, m);
    let get = |name: &str| {
        arrays
            .iter()
            .find(|(a, _)| a == name)
            .map(|(_, a)| a)
            .ok_or_else(|| bad(format!("checkpoint has no '{name}' array")))
    };
    let matrix = |name: &str, rows: usize, cols: usize| -> Result<DMatrix<f32>> {
        let v = get(name)?
            .to_f32_vec()
            .ok_or_else(|| bad(format!("'{name}' is not float32")))?;
        if v.len() != rows * cols {
            return Err(bad(format!(
                "'{name}' has {} values, expected {cols} × {rows}",
                v.len()
            )));
        }
        Ok(DMatrix::from_vec(rows, cols, v))
    };
    let idle = get("idle")?
        .to_i64_vec()
        .ok_or_else(|| bad("'idle' is not int64".into()))?;
    if idle.len() != k {
        return Err(bad(format!(
            "'idle' has {} values, expected {k}",
            idle.len()
        )));
    }
    let meta: serde_json::Value = serde_json::from_slice(&get("meta")?.bytes)
        .map_err(|e| bad(format!("unreadable 'meta' ({e})")))?;
    let step = meta["step"]
        .as_u64()
        .ok_or_else(|| bad("no step in 'meta'".into()))?;
    let online = meta["rule"].as_str() == Some("online");
    let stats = if online {
        Some(OnlineStats {
            a: matrix("stat_a", k, k)?,
            b: matrix("stat_b", n, k)?,
        })
    } else {
        None
    };
    let state = LearnerState {
        step,
        atoms: matrix("atoms", n, k)?,
        velocity: matrix("velocity", n, k)?,
        idle: idle.into_iter().map(|v| v.max(0) as u64).collect(),
        stats,
    };
    Ok((state, meta["seconds"].as_f64().unwrap_or(0.0)))
}
