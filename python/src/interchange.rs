//! Networks and data in and out of other tools: NIR graphs of trained
//! networks (`lca snn export --format nir`, `lca snn eval --model X.nir`),
//! event streams (`EventDataset`, from tonic arrays or SHD/SSC files) and
//! training on them (`lca snn train --dataset shd:PATH.h5`).

use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{
    Settings, SnnModel, epoch_log, interruptible, recipe_for, snn_recipe_from, spiking_params,
    to_py, unit_dictionary, with_pool,
};
use crate::error::invalid_input;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EventDataset>()?;
    m.add_function(wrap_pyfunction!(snn_load_nir, m)?)?;
    m.add_function(wrap_pyfunction!(snn_load_shd, m)?)?;
    m.add_function(wrap_pyfunction!(snn_train_events, m)?)?;
    m.add_function(wrap_pyfunction!(snn_export_nir, m)?)?;
    m.add_function(wrap_pyfunction!(spiking_lca_nir, m)?)?;
    Ok(())
}

/// Labelled event streams, the `EventDataset` `lca snn train` takes: per
/// sample a list of `(time, channel)` events and a label, in the CSR layout
/// of the event `.npz` files (`times`, `channels`, `offsets`, `labels`).
#[pyclass(module = "lca._lca", name = "EventDataset")]
pub(crate) struct EventDataset {
    pub(crate) data: lca::snn::EventDataset,
}

fn vec_of<'py, T: numpy::Element + Copy>(a: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<T>> {
    let arr: PyReadonlyArray1<'py, T> = a.extract().map_err(|_| {
        invalid_input(format!(
            "{what} must be a 1-D numpy array of {}",
            std::any::type_name::<T>()
        ))
    })?;
    Ok(arr.as_array().to_vec())
}

/// One sample's times (float32) and channels (int64).
type SampleArrays<'py> = (Bound<'py, PyArray1<f32>>, Bound<'py, PyArray1<i64>>);

#[pymethods]
impl EventDataset {
    /// `times` (float32, all samples concatenated), `channels` (int64,
    /// `0..n_channels`), `offsets` (int64, `n_samples + 1`: sample `i` owns
    /// events `offsets[i]:offsets[i+1]`), `labels` (int64); `n_channels`
    /// (default: largest channel + 1), `duration` of every sample (default:
    /// the largest time), `n_classes` (default: largest label + 1).
    #[new]
    #[pyo3(signature = (times, channels, offsets, labels, n_channels=None, duration=None, n_classes=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        times: &Bound<'_, PyAny>,
        channels: &Bound<'_, PyAny>,
        offsets: &Bound<'_, PyAny>,
        labels: &Bound<'_, PyAny>,
        n_channels: Option<usize>,
        duration: Option<f32>,
        n_classes: Option<usize>,
    ) -> PyResult<Self> {
        let times: Vec<f32> = vec_of(times, "times")?;
        let channels: Vec<i64> = vec_of(channels, "channels")?;
        let offsets: Vec<i64> = vec_of(offsets, "offsets")?;
        let labels: Vec<i64> = vec_of(labels, "labels")?;
        let bad = |m: String| Err(invalid_input(m));
        if channels.len() != times.len() {
            return bad(format!(
                "{} times but {} channels",
                times.len(),
                channels.len()
            ));
        }
        if offsets.len() != labels.len() + 1 {
            return bad(format!(
                "offsets has {} entries, expected labels + 1 = {}",
                offsets.len(),
                labels.len() + 1
            ));
        }
        if offsets[0] != 0
            || *offsets.last().unwrap() != times.len() as i64
            || offsets.windows(2).any(|w| w[1] < w[0])
        {
            return bad("offsets must rise from 0 to the number of events".into());
        }
        if let Some(k) = channels
            .iter()
            .position(|&c| c < 0 || c > i64::from(u32::MAX - 1))
        {
            return bad(format!("event {k} has channel {}", channels[k]));
        }
        if let Some(k) = labels.iter().position(|&l| l < 0) {
            return bad(format!("sample {k} has negative label {}", labels[k]));
        }
        if let Some(k) = times.iter().position(|t| !(t.is_finite() && *t >= 0.0)) {
            return bad(format!(
                "event {k} has time {}: expected finite and >= 0",
                times[k]
            ));
        }
        let max_channel = channels.iter().max().map_or(0, |&c| c as usize + 1);
        let n_channels = n_channels.unwrap_or(max_channel).max(1);
        if n_channels < max_channel {
            return bad(format!(
                "{n_channels} channels, but an event uses channel {}",
                max_channel - 1
            ));
        }
        let max_time = times.iter().fold(0.0f32, |m, &t| m.max(t));
        let duration = duration.unwrap_or(if max_time > 0.0 { max_time } else { 1.0 });
        if !(duration > 0.0 && duration >= max_time) {
            return bad(format!(
                "duration {duration} must be positive and cover the largest time {max_time}"
            ));
        }
        let seen = labels.iter().max().map_or(0, |&l| l as usize + 1);
        let n_classes = n_classes.unwrap_or(seen);
        if n_classes < seen {
            return bad(format!(
                "a sample has label {} but there are {n_classes} classes",
                seen - 1
            ));
        }
        Ok(EventDataset {
            data: lca::snn::EventDataset {
                n_channels,
                duration,
                times,
                channels: channels.into_iter().map(|c| c as u32).collect(),
                offsets: offsets.into_iter().map(|o| o as usize).collect(),
                labels: labels.into_iter().map(|l| l as usize).collect(),
                n_classes,
            },
        })
    }

    /// Reads an event `.npz` file (`lca snn make-streams`, `EventDataset.save`).
    #[staticmethod]
    #[pyo3(signature = (path, n_classes=None))]
    fn load(path: PathBuf, n_classes: Option<usize>) -> PyResult<Self> {
        Ok(EventDataset {
            data: lca::snn::EventDataset::read_npz(&path, n_classes).map_err(to_py)?,
        })
    }

    /// Writes the event `.npz` file `lca snn train --dataset FILE.npz` reads.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.data.write_npz(&path).map_err(to_py)
    }

    fn __len__(&self) -> usize {
        self.data.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<EventDataset>()
            .is_ok_and(|o| o.borrow().data == self.data)
    }

    fn __repr__(&self) -> String {
        format!(
            "EventDataset({} samples, {} events, {} channels, {} classes, duration {})",
            self.data.len(),
            self.data.times.len(),
            self.data.n_channels,
            self.data.n_classes,
            self.data.duration
        )
    }

    /// Times and channels of sample `i`.
    fn events<'py>(&self, py: Python<'py>, i: usize) -> PyResult<SampleArrays<'py>> {
        if i >= self.data.len() {
            return Err(invalid_input(format!("sample {i} of {}", self.data.len())));
        }
        let (t, c) = self.data.events(i);
        Ok((
            PyArray1::from_slice(py, t),
            PyArray1::from_vec(py, c.iter().map(|&c| i64::from(c)).collect()),
        ))
    }

    #[getter]
    fn times<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_slice(py, &self.data.times)
    }

    #[getter]
    fn channels<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(
            py,
            self.data.channels.iter().map(|&c| i64::from(c)).collect(),
        )
    }

    #[getter]
    fn offsets<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.data.offsets.iter().map(|&o| o as i64).collect())
    }

    #[getter]
    fn labels<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.data.labels.iter().map(|&l| l as i64).collect())
    }

    #[getter]
    fn n_channels(&self) -> usize {
        self.data.n_channels
    }

    #[getter]
    fn duration(&self) -> f32 {
        self.data.duration
    }

    #[getter]
    fn n_classes(&self) -> usize {
        self.data.n_classes
    }
}

/// `lca snn eval --model X.nir`: the model a NIR file computes; a graph
/// made elsewhere takes the encoder, time steps and loss of the recipe of
/// `dataset` (and, with `events`, bins streams like it).
#[pyfunction]
#[pyo3(signature = (path, dataset="yinyang", events=None))]
fn snn_load_nir(
    path: PathBuf,
    dataset: &str,
    events: Option<PyRef<'_, EventDataset>>,
) -> PyResult<SnnModel> {
    let recipe = recipe_for(dataset)?;
    let hint = lca::snn::nir::Defaults {
        events: events.map(|e| e.data.binning(recipe.time_steps)),
        recipe,
        dataset: dataset.to_string(),
    };
    Ok(SnnModel {
        model: lca::snn::nir::read_model(&path, &hint).map_err(to_py)?,
    })
}

/// `lca snn export --format nir`: writes the model's NIR graph.
#[pyfunction]
fn snn_export_nir(model: PyRef<'_, SnnModel>, path: PathBuf) -> PyResult<()> {
    lca::snn::nir::write_model(&model.model, &path).map_err(to_py)
}

/// Reads an SHD/SSC-layout HDF5 file (`lca::snn::shd`).
#[pyfunction]
#[pyo3(signature = (path, n_classes=None))]
fn snn_load_shd(py: Python<'_>, path: PathBuf, n_classes: Option<usize>) -> PyResult<EventDataset> {
    let data = py
        .detach(|| lca::snn::shd::read_shd(&path, n_classes))
        .map_err(to_py)?;
    Ok(EventDataset { data })
}

/// `lca snn train` on event streams: the recipe of `settings["dataset"]`
/// (default `streams`; `shd` / `ssc` for the SHD recipe) with the other
/// settings applied as the CLI applies its flags; streams are binned onto
/// `time_steps` steps over the training set's duration.
#[pyfunction]
#[pyo3(signature = (train, test=None, settings=None, n_jobs=None))]
fn snn_train_events<'py>(
    py: Python<'py>,
    train: PyRef<'py, EventDataset>,
    test: Option<PyRef<'py, EventDataset>>,
    settings: Option<&Bound<'py, PyDict>>,
    n_jobs: Option<usize>,
) -> PyResult<(SnnModel, Bound<'py, PyDict>)> {
    let mut s = Settings::new(settings, py);
    let recipe = snn_recipe_from(&mut s)?;
    s.finish()?;
    let tr = &train.data;
    let n_classes = tr
        .n_classes
        .max(test.as_ref().map_or(0, |t| t.data.n_classes));
    let steps = recipe.time_steps;
    if steps == 0 {
        return Err(invalid_input("time_steps must be at least 1"));
    }
    // test streams read with the training set's channels and duration
    let te = test.as_ref().map(|t| {
        let mut d = t.data.clone();
        d.n_channels = tr.n_channels.max(d.n_channels);
        d.duration = tr.duration;
        d
    });
    let mut tr = tr.clone();
    tr.n_classes = n_classes;
    if let Some(t) = &te {
        tr.n_channels = t.n_channels;
    }
    let seed = recipe.train.seed;
    let mut network = recipe
        .network(tr.n_channels, n_classes, seed)
        .map_err(to_py)?;
    let cfg = recipe.train.clone().check().map_err(to_py)?;
    let trs = lca::snn::Binned { data: &tr, steps };
    let tes = te.as_ref().map(|d| lca::snn::Binned { data: d, steps });
    let stop = AtomicUsize::new(0);
    let log = interruptible(py, n_jobs, &stop, || {
        lca::snn::train(
            &mut network,
            &trs,
            None,
            tes.as_ref().map(|t| t as &dyn lca::snn::Samples),
            n_classes,
            &cfg,
            &mut |_| {},
        )
    })?
    .map_err(to_py)?;
    let d = epoch_log(py, &log)?;
    let model = lca::snn::Model {
        format: lca::snn::Model::FORMAT.to_string(),
        dataset: "python-events".to_string(),
        n_classes,
        scaling: lca::snn::Scaling::identity(tr.n_channels),
        encoder: recipe.encoder(),
        loss: cfg.loss,
        seed,
        events: Some(tr.binning(steps)),
        network,
    };
    Ok((SnnModel { model }, d))
}

/// Accuracy of a model trained on event streams (`lca snn eval` on streams).
pub(crate) fn evaluate_events(
    py: Python<'_>,
    model: &lca::snn::Model,
    data: &EventDataset,
    n_jobs: Option<usize>,
) -> PyResult<f64> {
    let d = &data.data;
    py.detach(|| with_pool(n_jobs, || model.evaluate_events(d)))?
        .map_err(to_py)
}

/// `lca encode --mode spiking --export-nir PATH`: writes the spiking LCA of
/// `dictionary` with penalty `alpha` and the spiking settings of `encode` as
/// a NIR graph (`lca::snn::nir::spiking_lca_graph`).
#[pyfunction]
#[pyo3(signature = (dictionary, alpha, path, settings=None))]
fn spiking_lca_nir(
    py: Python<'_>,
    dictionary: &Bound<'_, PyAny>,
    alpha: f32,
    path: PathBuf,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let mut s = Settings::new(settings, py);
    let normalize: bool = s.or("normalize", false)?;
    let p = spiking_params(&mut s, alpha)?;
    s.finish()?;
    let p = p.check().map_err(to_py)?.params().clone();
    let (dict, _) = unit_dictionary(dictionary, normalize)?;
    lca::snn::nir::spiking_lca_graph(&dict, &p)
        .and_then(|g| g.write(&path))
        .map_err(to_py)
}
