//! The checkpoint of a convolutional learning run (`checkpoint.npz`): the
//! filters and the online rule's statistics, with the step and training
//! seconds, written durably through the run folder's rotation
//! ([`crate::learning::run_folder`]) and read back for `--resume`.

use std::path::Path;

use super::learn::{ConvLearnerState, FilterShapeNd};
use crate::error::{Error, Result};
use crate::io::npy::NpyArray;
use crate::io::npz;
use crate::learning::run_folder as folder;

/// Writes a checkpoint: `filters` `(M, C, k…)` f32, `stat_r` `(M, M, 2k−1…)`
/// and `stat_b` `(M, C, k…)` f64 (flat, as [`ConvLearnerState`] holds them:
/// the same file for filters of any axes), `meta` JSON `{"step", "seconds"}`.
pub fn write_conv_checkpoint(path: &Path, state: &ConvLearnerState, seconds: f64) -> Result<()> {
    let arrays = conv_checkpoint_arrays(state, seconds)?;
    let named: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
    npz::write_npz(path, &named)
}

/// Saves `state` as the checkpoint of the run in `out`, verified and keeping
/// the previous one (as patch learning does).
pub(crate) fn save_conv_checkpoint(
    out: &Path,
    state: &ConvLearnerState,
    shape: FilterShapeNd,
    seconds: f64,
) -> Result<()> {
    let arrays = conv_checkpoint_arrays(state, seconds)?;
    let named: Vec<(&str, &NpyArray)> = arrays.iter().map(|(n, a)| (*n, a)).collect();
    folder::save_checkpoint(out, &named, |written| {
        // The state, bit for bit (the seconds are bookkeeping, and JSON
        // does not promise their last bit).
        let (back, _) = read_conv_checkpoint(written, shape)?;
        if back != *state {
            return Err(Error::format(
                written,
                "holds other values than were written",
            ));
        }
        Ok(())
    })
}

/// The arrays of a checkpoint of `state`.
fn conv_checkpoint_arrays(
    state: &ConvLearnerState,
    seconds: f64,
) -> Result<[(&'static str, NpyArray); 4]> {
    let meta = serde_json::json!({ "step": state.step, "seconds": seconds, "rule": "conv-online" })
        .to_string();
    let arrays = [
        (
            "filters",
            NpyArray::from_f32(vec![state.filters.len()], &state.filters)?,
        ),
        (
            "stat_r",
            NpyArray::from_f64(vec![state.stat_r.len()], &state.stat_r)?,
        ),
        (
            "stat_b",
            NpyArray::from_f64(vec![state.stat_b.len()], &state.stat_b)?,
        ),
        (
            "meta",
            NpyArray::from_u8(vec![meta.len()], meta.as_bytes())?,
        ),
    ];
    Ok(arrays)
}

/// Reads a checkpoint written by [`write_conv_checkpoint`] for filters of
/// `shape` (a [`FilterShape`](super::FilterShape) or a [`FilterShapeNd`]);
/// every array is checked against the shape before use.
pub fn read_conv_checkpoint(
    path: &Path,
    shape: impl Into<FilterShapeNd>,
) -> Result<(ConvLearnerState, f64)> {
    let shape = shape.into();
    let arrays = npz::read_npz(path)?;
    let bad = |m: String| Error::format(path, m);
    let get = |name: &str| {
        arrays
            .iter()
            .find(|(a, _)| a == name)
            .map(|(_, a)| a)
            .ok_or_else(|| bad(format!("checkpoint has no '{name}' array")))
    };
    let m = shape.atoms;
    let filters = get("filters")?
        .to_f32_vec()
        .ok_or_else(|| bad("'filters' is not float32".into()))?;
    let stat_r = get("stat_r")?
        .to_f64_vec()
        .ok_or_else(|| bad("'stat_r' is not float64".into()))?;
    let stat_b = get("stat_b")?
        .to_f64_vec()
        .ok_or_else(|| bad("'stat_b' is not float64".into()))?;
    for (name, got, want) in [
        ("filters", filters.len(), m * shape.filter_len()),
        ("stat_r", stat_r.len(), m * m * shape.lags()),
        ("stat_b", stat_b.len(), m * shape.filter_len()),
    ] {
        if got != want {
            return Err(bad(format!(
                "'{name}' has {got} values, expected {want} for {m} filters of {}",
                shape.describe()
            )));
        }
    }
    let meta: serde_json::Value = serde_json::from_slice(&get("meta")?.bytes)
        .map_err(|e| bad(format!("unreadable 'meta' ({e})")))?;
    let step = meta["step"]
        .as_u64()
        .ok_or_else(|| bad("no step in 'meta'".into()))?;
    let state = ConvLearnerState {
        step,
        filters,
        stat_r,
        stat_b,
    };
    Ok((state, meta["seconds"].as_f64().unwrap_or(0.0)))
}
