//! The native half of the `lca` Python package (`lca._lca`): thin wrappers
//! that move numpy arrays in and out of the `lca` library and release the GIL
//! while it works. Argument handling, scikit-learn conventions and docs live
//! in the pure-Python half (`python/lca/`); nothing here reimplements an
//! algorithm.
//!
//! Settings arrive as a dict (keys named as in the Python signatures) so the
//! functions keep short signatures; unknown keys are refused, so a typo in the
//! Python layer cannot silently fall back to a default.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lca::dictionary::{
    HorizonRule, LearnParams, NoObserver, Observer, PatchMatrixParams, PatchMatrixTraining, Rule,
    Status, Training, TrainingConfig, TrainingRow, UNBOUNDED_STEPS,
};
use lca::image::{Image, Preprocessing, Preprocessor, Whitening, psnr, reconstruct, tile};
use lca::neuron::{Integrator, Threshold};
use lca::solver::{Anneal, Mode, Monitor, SpikingParams};
use lca::{Dictionary, LcaParams};

mod error;
mod interchange;
use error::{invalid_input, invalid_setting, to_py};
use nalgebra::DMatrix;
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A float32 `(rows, cols)` numpy array.
type Array2<'py> = Bound<'py, PyArray2<f32>>;

// ---------------------------------------------------------------------------
// Errors and settings

/// Typed, checked access to a settings dict; remembers which keys were read
/// so [`Settings::finish`] can refuse the others.
struct Settings<'py> {
    dict: Bound<'py, PyDict>,
    used: HashSet<String>,
}

impl<'py> Settings<'py> {
    fn new(dict: Option<&Bound<'py, PyDict>>, py: Python<'py>) -> Self {
        Settings {
            dict: dict.cloned().unwrap_or_else(|| PyDict::new(py)),
            used: HashSet::new(),
        }
    }

    /// The value of `key`, `None` when absent or `None`.
    fn get<T>(&mut self, key: &str) -> PyResult<Option<T>>
    where
        T: for<'a> FromPyObject<'a, 'py>,
        for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
    {
        self.used.insert(key.to_string());
        match self.dict.get_item(key)? {
            Some(v) if !v.is_none() => v.extract::<T>().map(Some).map_err(|e| {
                let e: PyErr = e.into();
                PyTypeError::new_err(format!("{key}: {}", e.value(self.dict.py())))
            }),
            _ => Ok(None),
        }
    }

    fn or<T>(&mut self, key: &str, default: T) -> PyResult<T>
    where
        T: for<'a> FromPyObject<'a, 'py>,
        for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
    {
        Ok(self.get(key)?.unwrap_or(default))
    }

    /// The value of `key` named as the library names it (the CLI's
    /// spellings, aliases included), `None` when absent or `None`.
    fn named<T>(&mut self, key: &str) -> PyResult<Option<T>>
    where
        T: lca::names::Named + std::str::FromStr<Err = lca::Error>,
    {
        self.get::<String>(key)?
            .map(|v| v.parse::<T>().map_err(to_py))
            .transpose()
    }

    /// Fails on a key nobody read.
    fn finish(self) -> PyResult<()> {
        for key in self.dict.keys() {
            let key: String = key.extract()?;
            if !self.used.contains(&key) {
                return Err(PyTypeError::new_err(format!("unknown setting '{key}'")));
            }
        }
        Ok(())
    }
}

/// The transfer function from `threshold` (by name) and `firm_width`.
fn threshold(s: &mut Settings<'_>) -> PyResult<Threshold> {
    let t: Threshold = s.named("threshold")?.unwrap_or_default();
    let width = s.get("firm_width")?;
    if width.is_some() && !matches!(t, Threshold::Firm { .. }) {
        return Err(invalid_setting(
            "firm_width",
            "firm_width needs threshold='firm'",
        ));
    }
    Ok(t.with_firm_width(width))
}

/// Rate-LCA settings from a dict; absent keys keep the library's defaults.
fn rate_params(s: &mut Settings<'_>, lambda: f32) -> PyResult<LcaParams> {
    let d = LcaParams::default();
    let threshold = threshold(s)?;
    let integrator: Integrator = s.named("integrator")?.unwrap_or_default();
    let anneal_from: Option<f32> = s.get("anneal_from")?;
    let anneal_decay: Option<f32> = s.get("anneal_decay")?;
    if anneal_decay.is_some() && anneal_from.is_none() {
        return Err(invalid_setting(
            "anneal_decay",
            "anneal_decay needs anneal_from",
        ));
    }
    Ok(LcaParams::new()
        .lambda(lambda)
        .nonneg(s.or("positive", false)?)
        .threshold(threshold)
        .tau(s.or("tau", d.tau)?)
        .dt(s.or("dt", d.dt)?)
        .integrator(integrator)
        .max_iters(s.or("max_iter", d.max_iters)?)
        .tol(s.or("tol", d.tol)?)
        .projection(s.or("projection", d.projection)?)
        .patience(s.or("patience", d.patience)?)
        .adaptive_dt(s.or("adaptive_dt", d.adaptive_dt)?)
        .anneal(anneal_from.map(|start| Anneal::from_start(start, anneal_decay))))
}

fn spiking_params(s: &mut Settings<'_>, lambda: f32) -> PyResult<SpikingParams> {
    let d = SpikingParams::default();
    let steps: usize = s.or("time_steps", d.steps)?;
    if steps == 0 {
        return Err(invalid_setting(
            "time_steps",
            "time_steps must be at least 1, got 0",
        ));
    }
    let mut p = SpikingParams::new()
        .lambda(lambda)
        .nonneg(s.or("positive", false)?)
        .dt(s.or("dt", d.dt)?)
        .threshold(s.or("spike_threshold", d.threshold)?)
        .steps(steps)
        .current_decay(s.or("current_decay", d.current_decay)?)
        .pair_coupling(s.or("pair_coupling", d.pair_coupling)?)
        .fixed_point(s.or("fixed_point", false)?);
    if let Some(settle) = s.get("settle")? {
        p = p.settle(settle);
    }
    Ok(p)
}

// ---------------------------------------------------------------------------
// Arrays

/// A 2-D float32/float64 array `(rows, cols)` as a matrix with one column
/// per row. A C-contiguous float32 array is one `memcpy` (the engine's
/// layout); other layouts and float64 are converted in one pass.
fn columns(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<DMatrix<f32>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray2<'_, f32>>() {
        let (rows, cols) = (a.shape()[0], a.shape()[1]);
        if let (Ok(slice), true) = (a.as_slice(), a.is_c_contiguous()) {
            return Ok(DMatrix::from_column_slice(cols, rows, slice));
        }
        let v = a.as_array();
        return Ok(DMatrix::from_fn(cols, rows, |i, j| v[[j, i]]));
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray2<'_, f64>>() {
        let (rows, cols) = (a.shape()[0], a.shape()[1]);
        let v = a.as_array();
        return Ok(DMatrix::from_fn(cols, rows, |i, j| v[[j, i]] as f32));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a 2-D float32 or float64 numpy array"
    )))
}

/// A matrix with one column per row of the result as a numpy `(cols, rows)`
/// array, moving the buffer (no copy).
fn to_numpy<'py>(py: Python<'py>, m: DMatrix<f32>) -> PyResult<Array2<'py>> {
    let (r, c) = m.shape();
    let v: Vec<f32> = m.data.into();
    PyArray1::from_vec(py, v).reshape([c, r])
}

/// The dictionary for encoding under the library's unit-norm policy
/// ([`Dictionary::for_encoding`]): it and whether an atom was rescaled.
fn unit_dictionary(obj: &Bound<'_, PyAny>, normalize: bool) -> PyResult<(Dictionary, bool)> {
    Dictionary::for_encoding(columns(obj, "dictionary")?, normalize).map_err(to_py)
}

// ---------------------------------------------------------------------------
// Threads and interrupts

/// Runs `work` on a rayon pool of `n_jobs` threads (`None`: all cores).
fn with_pool<T: Send>(n_jobs: Option<usize>, work: impl FnOnce() -> T + Send) -> PyResult<T> {
    match n_jobs {
        None => Ok(work()),
        Some(0) => Err(invalid_setting("n_jobs", "n_jobs must be at least 1")),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads ({e})")))?;
            Ok(pool.install(work))
        }
    }
}

/// Runs `work` on a pool of `n_jobs` threads in a helper thread, the GIL
/// released, while this (the calling, normally the main) thread checks for
/// signals: Python runs signal handlers only on the main thread, and a rayon
/// pool runs its work elsewhere. On KeyboardInterrupt (or any error a
/// handler raises) `stop` is set, `work` is expected to return soon (a
/// learner after its current step, a batch solve before its next chunk of
/// signals, with `lca::Error::Interrupted`), and the handler's error is
/// raised after it did. The waiting thread wakes the moment `work` is done
/// (a condition variable, not a polling sleep), so a short call pays no latency.
fn interruptible<T: Send>(
    py: Python<'_>,
    n_jobs: Option<usize>,
    stop: &AtomicUsize,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    let mut raised: Option<PyErr> = None;
    // Set (and notified) by the worker when it is done, even if it panicked.
    let done = (std::sync::Mutex::new(false), std::sync::Condvar::new());
    let result = std::thread::scope(|scope| {
        let handle = scope.spawn(|| {
            struct Notify<'a>(&'a (std::sync::Mutex<bool>, std::sync::Condvar));
            impl Drop for Notify<'_> {
                fn drop(&mut self) {
                    let (flag, signal) = self.0;
                    *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    signal.notify_all();
                }
            }
            let _notify = Notify(&done);
            with_pool(n_jobs, work)
        });
        loop {
            let finished = py.detach(|| {
                let (flag, signal) = &done;
                let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, _) = signal
                    .wait_timeout_while(guard, SIGNAL_POLL, |finished| !*finished)
                    .unwrap_or_else(|e| e.into_inner());
                *guard
            });
            if finished {
                break;
            }
            if raised.is_none()
                && let Err(e) = py.check_signals()
            {
                stop.store(1, Ordering::SeqCst);
                raised = Some(e);
            }
        }
        handle.join()
    });
    let value = match result {
        Ok(v) => v?,
        Err(_) => return Err(PyRuntimeError::new_err("the engine panicked")),
    };
    match raised {
        Some(e) => Err(e),
        None => Ok(value),
    }
}

/// How often a waiting call looks for Ctrl-C (Python's own `time.sleep`
/// reacts within about this long too).
const SIGNAL_POLL: Duration = Duration::from_millis(20);

/// A solve's result where an interrupt surfaces as the handler's error: the
/// engine's `Interrupted` means `interruptible` is about to raise it.
fn solved<T>(r: PyResult<lca::Result<T>>) -> PyResult<T> {
    r?.map_err(to_py)
}

/// The training log as a dict of numpy columns (`heldout_energy` NaN where
/// the held-out set was not scored), the columns of `training.csv`.
fn log_dict<'py>(py: Python<'py>, rows: &[TrainingRow]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let col = |f: &dyn Fn(&TrainingRow) -> f64| -> Vec<f64> { rows.iter().map(f).collect() };
    let step: Vec<u64> = rows.iter().map(|r| r.step).collect();
    d.set_item("step", PyArray1::from_vec(py, step))?;
    d.set_item("seconds", PyArray1::from_vec(py, col(&|r| r.seconds)))?;
    d.set_item("mse", PyArray1::from_vec(py, col(&|r| r.mse)))?;
    d.set_item("l1", PyArray1::from_vec(py, col(&|r| r.l1)))?;
    d.set_item(
        "active_fraction",
        PyArray1::from_vec(py, col(&|r| r.active_fraction)),
    )?;
    d.set_item("energy", PyArray1::from_vec(py, col(&|r| r.energy)))?;
    d.set_item(
        "heldout_energy",
        PyArray1::from_vec(py, col(&|r| r.heldout_energy.unwrap_or(f64::NAN))),
    )?;
    Ok(d)
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Completed => "completed",
        Status::TimeBudget => "time-budget",
        Status::Interrupted => "interrupted",
        Status::Running => "running",
    }
}

/// Collects the warnings of a run (handed to Python's `warnings` afterwards).
#[derive(Default)]
struct Collect {
    warnings: Vec<String>,
}

impl Observer for Collect {
    fn warning(&mut self, message: &str) {
        self.warnings.push(message.to_string());
    }
}

fn warn_all(py: Python<'_>, warnings: &[String]) -> PyResult<()> {
    let module = py.import("warnings")?;
    for w in warnings {
        module.call_method1("warn", (w.as_str(),))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Functions

/// The library's defaults, so the Python layer shows and documents the same
/// values as the CLI (one source).
#[pyfunction]
fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let r = LcaParams::default();
    let s = SpikingParams::default();
    let l = LearnParams::default();
    let m = PatchMatrixParams::default();
    let d = PyDict::new(py);
    d.set_item("alpha", r.lambda)?;
    d.set_item("tau", r.tau)?;
    d.set_item("dt", r.dt)?;
    d.set_item("max_iter", r.max_iters)?;
    d.set_item("tol", r.tol)?;
    d.set_item("patience", r.patience)?;
    d.set_item("spiking_dt", s.dt)?;
    d.set_item("time_steps", s.steps)?;
    d.set_item("spike_threshold", s.threshold)?;
    d.set_item("current_decay", s.current_decay)?;
    d.set_item("pair_coupling", s.pair_coupling)?;
    d.set_item("n_components", m.atoms)?;
    d.set_item("batch_size", m.batch_size)?;
    d.set_item("n_steps", l.steps)?;
    d.set_item("rule", l.rule.name())?;
    d.set_item("learning_rate", l.learning_rate)?;
    d.set_item("learning_rate_final", l.learning_rate_final)?;
    d.set_item("momentum", l.momentum)?;
    d.set_item("resample_after", l.resample_after)?;
    d.set_item("signal_chunk", lca::solver::SIGNAL_CHUNK)?;
    // Convolutional coding and learning (`lca encode` with a conv
    // dictionary, `lca learn --conv`).
    let cr = lca::conv::ConvLcaParams::default();
    let cs = lca::conv::ConvSpikingParams::default();
    d.set_item("conv_alpha", cr.lambda)?;
    d.set_item("conv_tol", cr.tol)?;
    d.set_item("conv_max_iter", cr.max_iters)?;
    d.set_item("conv_time_steps", cs.steps)?;
    d.set_item("conv_spiking_dt", cs.dt)?;
    {
        use lca::conv::learn_defaults as cl;
        d.set_item("conv_n_components", cl::ATOMS)?;
        d.set_item("conv_kernel_size", cl::KERNEL_SIZE)?;
        d.set_item("conv_learn_alpha", cl::LAMBDA)?;
        d.set_item("conv_n_steps", cl::STEPS)?;
        d.set_item("conv_crop", cl::CROP)?;
        d.set_item("conv_images_per_step", cl::IMAGES_PER_STEP)?;
        d.set_item("conv_dict_sweeps", cl::DICT_SWEEPS)?;
        d.set_item("conv_forgetting", cl::FORGETTING)?;
        d.set_item("conv_coder_tol", cl::CODER_TOL)?;
    }
    Ok(d)
}

/// Sparse codes of the rows of `x` over the rows of `dictionary`:
/// `(codes (n_samples, n_atoms) float32, info dict)`.
#[pyfunction]
#[pyo3(signature = (x, dictionary, alpha, settings=None, n_jobs=None))]
fn encode<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dictionary: &Bound<'py, PyAny>,
    alpha: f32,
    settings: Option<&Bound<'py, PyDict>>,
    n_jobs: Option<usize>,
) -> PyResult<(Array2<'py>, Bound<'py, PyDict>)> {
    let mut s = Settings::new(settings, py);
    let mode: Mode = s.named("mode")?.unwrap_or_default();
    let normalize: bool = s.or("normalize", false)?;
    let return_states: bool = s.or("return_states", false)?;
    let init: Option<Bound<'py, PyAny>> = s.get("init")?;
    let info = PyDict::new(py);
    let (dict, normalized) = unit_dictionary(dictionary, normalize)?;
    let signals = columns(x, "X")?;
    if signals.nrows() != dict.n_features() {
        return Err(invalid_input(format!(
            "X has {} features (shape ({}, {})) but the atoms of the dictionary have {} (shape ({}, {}))",
            signals.nrows(),
            signals.ncols(),
            signals.nrows(),
            dict.n_features(),
            dict.n_atoms(),
            dict.n_features()
        )));
    }
    info.set_item("normalized", normalized)?;
    let codes = match mode {
        Mode::Rate => {
            let lca = rate_params(&mut s, alpha)?.check().map_err(to_py)?;
            s.finish()?;
            let initial = init.map(|i| columns(&i, "init")).transpose()?;
            let stop = AtomicUsize::new(0);
            let monitor = Monitor {
                progress: None,
                cancel: Some(&stop),
            };
            let enc = solved(interruptible(py, n_jobs, &stop, || {
                lca.encode_monitored(&dict, &signals, initial.as_ref(), monitor)
            }))?;
            info.set_item("iterations", PyArray1::from_vec(py, enc.iterations))?;
            info.set_item("jumps", PyArray1::from_vec(py, enc.jumps))?;
            let converged: Vec<bool> = enc.termination.iter().map(|t| t.converged()).collect();
            info.set_item("converged", PyArray1::from_vec(py, converged))?;
            if return_states {
                info.set_item("states", to_numpy(py, enc.states)?)?;
            }
            enc.codes
        }
        Mode::Spiking => {
            if init.is_some() || return_states {
                return Err(invalid_setting(
                    if init.is_some() {
                        "init"
                    } else {
                        "return_states"
                    },
                    "init and return_states apply to mode='rate' only",
                ));
            }
            let solver = spiking_params(&mut s, alpha)?.check().map_err(to_py)?;
            s.finish()?;
            let stop = AtomicUsize::new(0);
            let monitor = Monitor {
                progress: None,
                cancel: Some(&stop),
            };
            let enc = solved(interruptible(py, n_jobs, &stop, || {
                solver.encode_monitored(&dict, &signals, monitor)
            }))?;
            info.set_item("spike_counts", PyArray1::from_vec(py, enc.spike_counts))?;
            info.set_item("saturated", PyArray1::from_vec(py, enc.saturated))?;
            info.set_item("time_steps", enc.steps)?;
            enc.codes
        }
    };
    Ok((to_numpy(py, codes)?, info))
}

/// Codes of every row of the `.npy` file `input` written to `output`
/// (`.npy`, or scipy CSR `.npz`) block by block in bounded memory, exactly
/// as `lca encode` streams them; returns the run's summary (`lca encode
/// --json`'s figures). Rate mode reads warm-start states from the `.npy`
/// `init` and writes the final states to `save_states`; spiking mode writes
/// every spike to the `.npz` `spikes`.
#[pyfunction]
#[pyo3(signature = (input, dictionary, output, alpha, settings=None, n_jobs=None))]
fn encode_file<'py>(
    py: Python<'py>,
    input: PathBuf,
    dictionary: &Bound<'py, PyAny>,
    output: PathBuf,
    alpha: f32,
    settings: Option<&Bound<'py, PyDict>>,
    n_jobs: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    use lca::distributed::SingleProcess;
    use lca::streamed_encoding::{NpyStream, encode_rate, encode_spiking};
    let mut s = Settings::new(settings, py);
    let mode: Mode = s.named("mode")?.unwrap_or_default();
    let (dict, normalized) = unit_dictionary(dictionary, s.or("normalize", false)?)?;
    let files = NpyStream::new(input, output).block_rows(s.get("block_rows")?);
    let summary = PyDict::new(py);
    summary.set_item("mode", mode.name())?;
    summary.set_item("normalized", normalized)?;
    let stop = AtomicUsize::new(0);
    let monitor = Monitor {
        progress: None,
        cancel: Some(&stop),
    };
    let (m, energy, active, seconds) = match mode {
        Mode::Rate => {
            let files = files
                .warm_start(s.get("init")?)
                .save_states(s.get("save_states")?)
                .check()
                .map_err(to_py)?;
            let lca = rate_params(&mut s, alpha)?.check().map_err(to_py)?;
            s.finish()?;
            let r = solved(interruptible(py, n_jobs, &stop, || {
                encode_rate(&SingleProcess, &lca, &dict, &files, monitor)
            }))?
            .expect("a single process is rank 0");
            let per_signal = |total: u64| total as f64 / r.n_signals.max(1) as f64;
            summary.set_item("iterations", per_signal(r.iterations))?;
            summary.set_item("jumps", per_signal(r.jumps))?;
            summary.set_item("unconverged", r.unconverged)?;
            (r.n_signals, r.mean_energy, r.mean_active, r.seconds)
        }
        Mode::Spiking => {
            let spikes: Option<PathBuf> = s.get("spikes")?;
            let files = files.spikes(spikes.clone()).check().map_err(to_py)?;
            let solver = spiking_params(&mut s, alpha)?
                .record_spikes(spikes.is_some())
                .check()
                .map_err(to_py)?;
            s.finish()?;
            let r = solved(interruptible(py, n_jobs, &stop, || {
                encode_spiking(&SingleProcess, &solver, &dict, &files, monitor)
            }))?
            .expect("a single process is rank 0");
            summary.set_item(
                "spikes_per_signal",
                r.spikes as f64 / r.n_signals.max(1) as f64,
            )?;
            summary.set_item("saturated", r.saturated)?;
            summary.set_item("time_steps", solver.params().steps)?;
            (r.n_signals, r.mean_energy, r.mean_active, r.seconds)
        }
    };
    summary.set_item("n_signals", m)?;
    summary.set_item("n_atoms", dict.n_atoms())?;
    summary.set_item("mean_energy", energy)?;
    summary.set_item("mean_active", active)?;
    summary.set_item("seconds", seconds)?;
    Ok(summary)
}

/// Per-row objective `½‖x − Dᵀa‖² + λ‖a‖₁` (float64), the engine's own.
#[pyfunction]
fn lasso_objectives<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dictionary: &Bound<'py, PyAny>,
    codes: &Bound<'py, PyAny>,
    alpha: f32,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let dict = Dictionary::from_atoms(columns(dictionary, "dictionary")?).map_err(to_py)?;
    let x = columns(x, "X")?;
    let a = columns(codes, "codes")?;
    if x.nrows() != dict.n_features() || a.nrows() != dict.n_atoms() || a.ncols() != x.ncols() {
        return Err(invalid_input(format!(
            "shapes do not fit: X ({}, {}), dictionary ({}, {}), codes ({}, {})",
            x.ncols(),
            x.nrows(),
            dict.n_atoms(),
            dict.n_features(),
            a.ncols(),
            a.nrows()
        )));
    }
    let e = py.detach(|| lca::solver::lasso_objectives(&dict, &x, &a, alpha));
    Ok(PyArray1::from_vec(py, e))
}

/// An image array `(H, W)` or `(H, W, 3)` as the library's [`Image`].
fn image(obj: &Bound<'_, PyAny>) -> PyResult<Image> {
    let arr: numpy::PyReadonlyArrayDyn<'_, f32> = obj.extract().map_err(|_| {
        PyTypeError::new_err("image must be a float32 numpy array of shape (H, W) or (H, W, 3)")
    })?;
    let shape = arr.shape().to_vec();
    let (h, w, c) = match shape.as_slice() {
        [h, w] => (*h, *w, 1),
        [h, w, c] => (*h, *w, *c),
        _ => {
            return Err(invalid_input(format!(
                "image must have shape (H, W) or (H, W, 3), got {shape:?}"
            )));
        }
    };
    let data: Vec<f32> = arr.as_array().iter().copied().collect();
    lca::error::check_finite("image", &data).map_err(to_py)?;
    Image::new(w, h, c, data).map_err(to_py)
}

fn image_to_numpy<'py>(py: Python<'py>, img: Image) -> PyResult<Bound<'py, PyAny>> {
    let (h, w, c) = (img.height, img.width, img.channels);
    let a = PyArray1::from_vec(py, img.data);
    Ok(if c == 1 {
        a.reshape([h, w])?.into_any()
    } else {
        a.reshape([h, w, c])?.into_any()
    })
}

/// Patch preprocessing from a settings dict (whitening by name).
fn preprocessing(s: &mut Settings<'_>, color: bool) -> PyResult<Preprocessing> {
    let d = Preprocessing::default();
    let whiten: Whitening = s.named("whiten")?.unwrap_or(d.whiten);
    let p = Preprocessing::default()
        .downscale(s.or("downscale", d.downscale)?)
        .color(color)
        .whiten(whiten)
        .remove_mean(s.or("remove_mean", d.remove_mean)?)
        .unit_norm(s.or("unit_norm", d.unit_norm)?)
        .min_norm(s.or("min_norm", d.min_norm)?);
    p.check().map_err(to_py)?;
    Ok(p)
}

/// All `P×P` patches of an image on a grid of `stride` (last row and
/// column flush with the borders): `(patches (n, P·P·C), positions (n, 2) as
/// (x, y))`, optionally mean-removed / unit-norm.
#[pyfunction]
#[pyo3(signature = (image_array, patch_size, stride, normalize=None))]
fn extract_patches<'py>(
    py: Python<'py>,
    image_array: &Bound<'py, PyAny>,
    patch_size: usize,
    stride: usize,
    normalize: Option<&Bound<'py, PyDict>>,
) -> PyResult<(Array2<'py>, Bound<'py, PyArray2<u64>>)> {
    let img = image(image_array)?;
    let (mut patches, positions) = tile(&img, patch_size, stride).map_err(to_py)?;
    if let Some(settings) = normalize {
        let mut s = Settings::new(Some(settings), py);
        let mut pre = preprocessing(&mut s, img.channels == 3)?;
        s.finish()?;
        pre.whiten = Whitening::None;
        Preprocessor::new(pre)
            .and_then(|p| p.forward_patches(&mut patches))
            .map_err(to_py)?;
    }
    let pos: Vec<u64> = positions
        .iter()
        .flat_map(|&(x, y)| [x as u64, y as u64])
        .collect();
    let n = positions.len();
    Ok((
        to_numpy(py, patches)?,
        PyArray1::from_vec(py, pos).reshape([n, 2])?,
    ))
}

/// Rebuilds an image from the sparse codes of its overlapping patches
/// (`lca reconstruct`'s pipeline): `(image, codes (n_patches, n_atoms), psnr)`.
#[pyfunction]
#[pyo3(signature = (image_array, dictionary, alpha, settings=None, n_jobs=None))]
fn reconstruct_image<'py>(
    py: Python<'py>,
    image_array: &Bound<'py, PyAny>,
    dictionary: &Bound<'py, PyAny>,
    alpha: f32,
    settings: Option<&Bound<'py, PyDict>>,
    n_jobs: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Array2<'py>, f64)> {
    let img = image(image_array)?;
    let dict = Dictionary::from_atoms(columns(dictionary, "dictionary")?).map_err(to_py)?;
    let mut s = Settings::new(settings, py);
    let patch_size: usize = s
        .get("patch_size")?
        .ok_or_else(|| invalid_setting("patch_size", "patch_size is required"))?;
    let stride: usize = s.or("stride", (patch_size / 2).max(1))?;
    let pre = Preprocessor::new(preprocessing(&mut s, img.channels == 3)?).map_err(to_py)?;
    s.finish()?;
    let lca = LcaParams::new().lambda(alpha).check().map_err(to_py)?;
    let rec = py
        .detach(|| {
            with_pool(n_jobs, || {
                reconstruct(&img, &dict, &lca, &pre, patch_size, stride)
            })
        })?
        .map_err(to_py)?;
    let quality = psnr(&img, &rec.image);
    Ok((
        image_to_numpy(py, rec.image)?,
        to_numpy(py, rec.codes)?,
        quality,
    ))
}

/// Learning-rule settings shared by the image-folder and patch-matrix runs,
/// with where the step count comes from (`n_steps` given, or the library's
/// choice: the problem size, or the time budget).
fn learn_params(s: &mut Settings<'_>) -> PyResult<(LearnParams, HorizonRule)> {
    let d = LearnParams::default();
    let rule: Rule = s.named("rule")?.unwrap_or(d.rule);
    let max_seconds: Option<f64> = s.get("max_seconds")?;
    let given: Option<u64> = s.get("n_steps")?;
    let horizon = if given.is_some() {
        HorizonRule::Given
    } else {
        HorizonRule::Auto
    };
    let steps = match (given.unwrap_or(d.steps), max_seconds) {
        (0, Some(_)) => UNBOUNDED_STEPS,
        (0, None) => {
            return Err(invalid_setting(
                "n_steps",
                "n_steps=0 (no step limit) needs max_seconds",
            ));
        }
        (n, _) => n,
    };
    let alpha = s.or("alpha", LcaParams::default().lambda)?;
    let lr: f32 = s.or("learning_rate", d.learning_rate)?;
    let params = LearnParams::default()
        .rule(rule)
        .lca(LcaParams::new().lambda(alpha))
        .learning_rate(lr)
        .lambda_final(s.get("alpha_final")?)
        .momentum(s.or("momentum", d.momentum)?)
        .steps(steps)
        .resample_after(s.or("resample_after", d.resample_after)?);
    // An explicit final rate is the rate the run ends at, whatever its
    // horizon; the default one falls for longer horizons (as in `lca learn`).
    let params = match s.get::<f32>("learning_rate_final")? {
        Some(f) => params.learning_rate_final(Some(f)).final_rate_horizon(None),
        None => params,
    };
    Ok((params, horizon))
}

/// `lca learn FOLDER --output OUT` from Python: `(dictionary (n_atoms,
/// n_features), training log dict, summary dict)`. Ctrl-C stops after the
/// current step with every output written (resumable with `lca learn
/// --resume OUT`) and raises KeyboardInterrupt.
#[pyfunction]
#[pyo3(signature = (folder, output, settings=None, n_jobs=None))]
fn learn_images<'py>(
    py: Python<'py>,
    folder: Option<PathBuf>,
    output: PathBuf,
    settings: Option<&Bound<'py, PyDict>>,
    n_jobs: Option<usize>,
) -> PyResult<(Array2<'py>, Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let mut s = Settings::new(settings, py);
    let (learning, horizon) = learn_params(&mut s)?;
    let color = s.or("color", false)?;
    let d = TrainingConfig::default();
    let config = TrainingConfig::default()
        .images(folder)
        .recursive(s.or("recursive", false)?)
        .patch_size(s.or("patch_size", d.patch_size)?)
        .atoms(s.or("n_components", d.atoms)?)
        .batch_size(s.or("batch_size", d.batch_size)?)
        .seed(s.or("random_state", 0u64)?)
        .init(s.get("init")?)
        .checkpoint_every(s.or("checkpoint_every", 0u64)?)
        .max_seconds(s.get("max_seconds")?)
        .heldout_patches(s.or("heldout_patches", d.heldout_patches)?)
        .heldout_every(s.or("heldout_every", d.heldout_every)?)
        .preprocessing(preprocessing(&mut s, color)?)
        .learning(learning)
        .horizon(horizon);
    s.finish()?;
    let mut observer = Collect::default();
    let single = &lca::distributed::SINGLE_PROCESS;
    let started = py.detach(|| Training::start(config, &output, single, &mut observer));
    warn_all(py, &observer.warnings)?;
    observer.warnings.clear();
    let stop = Arc::new(AtomicUsize::new(0));
    let mut training = started.map_err(to_py)?.with_interrupt(Arc::clone(&stop));
    let report = interruptible(py, n_jobs, &stop, || training.run(&mut observer));
    warn_all(py, &observer.warnings)?;
    let report = report?.map_err(to_py)?;
    let summary = PyDict::new(py);
    summary.set_item("status", status_name(report.status))?;
    summary.set_item("steps", report.steps_done)?;
    summary.set_item("seconds", report.seconds)?;
    summary.set_item("images", report.images)?;
    summary.set_item("heldout_energy", report.heldout_energy)?;
    summary.set_item("output", output.display().to_string())?;
    if let Some(t) = &report.time {
        summary.set_item("horizon", t.horizon)?;
        summary.set_item("horizon_rule", t.rule.name())?;
        summary.set_item("wall_seconds", t.seconds)?;
        summary.set_item("time_use", t.sentence())?;
    }
    let atoms = training.learner().state().atoms.clone();
    Ok((
        to_numpy(py, atoms)?,
        log_dict(py, training.rows())?,
        summary,
    ))
}

/// Dictionary learning over the rows of an in-memory matrix, the engine of
/// `DictionaryLearning.fit` / `partial_fit` (and of `lca learn --patches`).
#[pyclass(module = "lca._lca")]
struct PatchLearner {
    training: PatchMatrixTraining,
    stop: Arc<AtomicUsize>,
}

#[pymethods]
impl PatchLearner {
    /// Checks the settings and draws the initial atoms from the rows of `x`
    /// (or takes `init`, `(n_atoms, n_features)`).
    #[new]
    #[pyo3(signature = (x, settings=None, init=None))]
    fn new<'py>(
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        settings: Option<&Bound<'py, PyDict>>,
        init: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let mut s = Settings::new(settings, py);
        let (learning, horizon) = learn_params(&mut s)?;
        let d = PatchMatrixParams::default();
        let params = PatchMatrixParams::default()
            .atoms(s.or("n_components", d.atoms)?)
            .batch_size(s.or("batch_size", d.batch_size)?)
            .seed(s.or("random_state", d.seed)?)
            .max_seconds(s.get("max_seconds")?)
            .learning(learning)
            .horizon(horizon);
        s.finish()?;
        let patches = columns(x, "X")?;
        let init = init
            .map(|i| Dictionary::from_atoms(columns(i, "init")?).map_err(to_py))
            .transpose()?;
        let training = py
            .detach(|| PatchMatrixTraining::new(params, patches, init))
            .map_err(to_py)?;
        Ok(PatchLearner {
            training,
            stop: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs the remaining steps (or until the time budget); returns the
    /// status. Ctrl-C stops after the current step and raises
    /// KeyboardInterrupt, the state so far kept.
    #[pyo3(signature = (n_jobs=None))]
    fn run(&mut self, py: Python<'_>, n_jobs: Option<usize>) -> PyResult<&'static str> {
        self.stop.store(0, Ordering::SeqCst);
        let stop = Arc::clone(&self.stop);
        let training = &mut self.training;
        let report = interruptible(py, n_jobs, &stop, || {
            training.run(&mut NoObserver, Some(&stop))
        })?
        .map_err(to_py)?;
        Ok(status_name(report.status))
    }

    /// One learning step on the rows of `batch` (partial_fit).
    #[pyo3(signature = (batch, n_jobs=None))]
    fn step(
        &mut self,
        py: Python<'_>,
        batch: &Bound<'_, PyAny>,
        n_jobs: Option<usize>,
    ) -> PyResult<()> {
        let batch = columns(batch, "X")?;
        let training = &mut self.training;
        py.detach(|| with_pool(n_jobs, || training.step_on(&batch)))?
            .map_err(to_py)?;
        Ok(())
    }

    /// The atoms, `(n_atoms, n_features)`.
    fn components<'py>(&self, py: Python<'py>) -> PyResult<Array2<'py>> {
        to_numpy(py, self.training.learner().state().atoms.clone())
    }

    /// Steps done.
    fn steps_done(&self) -> u64 {
        self.training.learner().steps_done()
    }

    /// The training log (one entry per step).
    fn log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        log_dict(py, self.training.rows())
    }
}

#[pymodule]
fn _lca(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(defaults, m)?)?;
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(encode_file, m)?)?;
    m.add_function(wrap_pyfunction!(lasso_objectives, m)?)?;
    m.add_function(wrap_pyfunction!(extract_patches, m)?)?;
    m.add_function(wrap_pyfunction!(reconstruct_image, m)?)?;
    m.add_function(wrap_pyfunction!(learn_images, m)?)?;
    m.add_class::<PatchLearner>()?;
    m.add_function(wrap_pyfunction!(snn_train, m)?)?;
    m.add_function(wrap_pyfunction!(snn_recipe, m)?)?;
    m.add_function(wrap_pyfunction!(conv_encode, m)?)?;
    m.add_function(wrap_pyfunction!(conv_reconstruct, m)?)?;
    m.add_function(wrap_pyfunction!(conv_dims, m)?)?;
    m.add_function(wrap_pyfunction!(conv_learning_dims, m)?)?;
    m.add_function(wrap_pyfunction!(conv_objective, m)?)?;
    m.add_class::<ConvImageLearner>()?;
    m.add_function(wrap_pyfunction!(snn_dataset, m)?)?;
    m.add_class::<SnnModel>()?;
    interchange::register(m)?;
    error::register(m)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Spiking networks (`lca snn train` / `lca snn eval`)

/// A dataset from `x (n_samples, n_features)` and integer labels `y`.
fn dataset(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    n_classes: Option<usize>,
) -> PyResult<lca::snn::Dataset> {
    let m = columns(x, "X")?;
    let labels: Vec<i64> = y
        .extract::<numpy::PyReadonlyArray1<'_, i64>>()
        .map_err(|_| PyTypeError::new_err("y must be a 1-D int64 numpy array of class labels"))?
        .as_array()
        .to_vec();
    if labels.len() != m.ncols() {
        return Err(invalid_input(format!(
            "X has {} samples but y has {} labels",
            m.ncols(),
            labels.len()
        )));
    }
    if let Some(i) = labels.iter().position(|&l| l < 0) {
        return Err(invalid_input(format!(
            "label {} of sample {i} is negative",
            labels[i]
        )));
    }
    let labels: Vec<usize> = labels.into_iter().map(|l| l as usize).collect();
    let n_classes = n_classes.unwrap_or_else(|| labels.iter().max().map_or(0, |&l| l + 1));
    lca::error::check_finite("X", m.as_slice()).map_err(to_py)?;
    Ok(lca::snn::Dataset {
        n_features: m.nrows(),
        features: m.data.into(),
        labels,
        n_classes,
    })
}

/// A trained spiking network with its encoder, loss and feature scaling:
/// the `model.json` of `lca snn train` (`save` / `load` read and write it).
#[pyclass(module = "lca._lca")]
struct SnnModel {
    model: lca::snn::Model,
}

#[pymethods]
impl SnnModel {
    /// Reads a `model.json` written by `lca snn train` or `save`.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Ok(SnnModel {
            model: lca::snn::Model::load(&path).map_err(to_py)?,
        })
    }

    /// Writes the model as `lca snn eval --model` reads it (atomically).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.model.save(&path).map_err(to_py)
    }

    /// Accuracy on raw (unscaled) samples `x` with labels `y`, or on the
    /// event streams of an `EventDataset` `x` (a model trained on streams).
    #[pyo3(signature = (x, y=None, n_jobs=None))]
    fn evaluate(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: Option<&Bound<'_, PyAny>>,
        n_jobs: Option<usize>,
    ) -> PyResult<f64> {
        if let Ok(events) = x.cast::<interchange::EventDataset>() {
            if y.is_some() {
                return Err(PyTypeError::new_err(
                    "an EventDataset carries its labels: pass no y",
                ));
            }
            return interchange::evaluate_events(py, &self.model, &events.borrow(), n_jobs);
        }
        let y = y.ok_or_else(|| PyTypeError::new_err("evaluate(X, y): y is missing"))?;
        let data = dataset(x, y, Some(self.model.n_classes))?;
        let model = &self.model;
        py.detach(|| with_pool(n_jobs, || model.evaluate(&data)))?
            .map_err(to_py)
    }

    /// Runs raw samples `x` (labels `y`) as `evaluate` does and returns
    /// `(inputs, predicted, hidden_counts)`: the encoded input spikes
    /// `(n_samples, steps, channels)`, the predicted classes and, per hidden
    /// layer, every neuron's spike count `(n_samples, size)`, for cross-checks
    /// against other simulators.
    #[pyo3(signature = (x, y, n_jobs=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        n_jobs: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = dataset(x, y, Some(self.model.n_classes))?;
        let model = &self.model;
        let runs = py
            .detach(|| with_pool(n_jobs, || model.run_samples(&data)))?
            .map_err(to_py)?;
        let n = runs.len();
        let (steps, channels) = runs
            .first()
            .map_or((0, 0), |r| (r.input.steps, r.input.channels));
        let mut inputs = Vec::with_capacity(n * steps * channels);
        for r in &runs {
            inputs.extend(r.input.data.iter().map(|&v| u8::from(v != 0.0)));
        }
        let inputs = numpy::PyArray1::from_vec(py, inputs).reshape([n, steps, channels])?;
        let predicted: Vec<i64> = runs.iter().map(|r| r.predicted as i64).collect();
        let layers = runs.first().map_or(0, |r| r.hidden_counts.len());
        let counts = (0..layers)
            .map(|l| {
                let size = runs[0].hidden_counts[l].len();
                let flat: Vec<u32> = runs
                    .iter()
                    .flat_map(|r| r.hidden_counts[l].iter().copied())
                    .collect();
                numpy::PyArray1::from_vec(py, flat).reshape([n, size])
            })
            .collect::<PyResult<Vec<_>>>()?;
        (inputs, PyArray1::from_vec(py, predicted), counts).into_bound_py_any(py)
    }

    #[getter]
    fn n_classes(&self) -> usize {
        self.model.n_classes
    }

    #[getter]
    fn n_features(&self) -> usize {
        self.model.scaling.min.len()
    }

    #[getter]
    fn n_parameters(&self) -> usize {
        self.model.network.params.len()
    }
}

/// A recipe name of `lca snn train --dataset` that applies to feature
/// arrays; `yinyang` is also the recipe of a CSV file.
fn recipe_for(name: &str) -> PyResult<lca::snn::Recipe> {
    match name {
        "yinyang" | "digits" | "streams" | "shd" | "ssc" => {
            Ok(lca::snn::defaults::for_dataset(name))
        }
        other => Err(invalid_setting(
            "dataset",
            format!(
                "dataset must name a recipe: 'yinyang' (also that of CSV files), 'digits', 'streams', 'shd' or 'ssc', got '{other}'"
            ),
        )),
    }
}

/// `lca snn recipe --dataset NAME`: every hyperparameter `train` starts
/// from, as the JSON text the CLI prints.
#[pyfunction]
fn snn_recipe(dataset: &str) -> PyResult<String> {
    serde_json::to_string(&recipe_for(dataset)?)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot serialise the recipe ({e})")))
}

/// The recipe of `settings["dataset"]` with every other setting applied on
/// top, exactly as `lca snn train` applies its flags (same names with
/// underscores; a setting left out keeps the recipe's value).
fn snn_recipe_from(s: &mut Settings<'_>) -> PyResult<lca::snn::Recipe> {
    use lca::neuron::{Reset, SurrogateKind};
    use lca::snn::overrides::RecipeOverrides;
    use lca::snn::{EncoderKind, Loss, Method};
    let dataset: String = s.or("dataset", "yinyang".to_string())?;
    recipe_for(&dataset)?;
    let overrides = RecipeOverrides {
        method: s.named::<Method>("method")?,
        surrogate: s.named::<SurrogateKind>("surrogate")?,
        surrogate_width: s.get("surrogate_width")?,
        alpha: s.get("alpha")?,
        hidden: s.get("hidden")?,
        recurrent: s.get("recurrent")?,
        loss: s.named::<Loss>("loss")?,
        ttfs_tau0: s.get("ttfs_tau0")?,
        ttfs_tau1: s.get("ttfs_tau1")?,
        ttfs_gamma: s.get("ttfs_gamma")?,
        exp_tau: s.get("exp_tau")?,
        encoder: s.named::<EncoderKind>("encoder")?,
        time_steps: s.get("time_steps")?,
        window: s.get("window")?,
        max_rate: s.get("max_rate")?,
        epochs: s.get("epochs")?,
        batch_size: s.get("batch_size")?,
        lr: s.get("lr")?,
        lr_final: s.get("lr_final")?,
        weight_decay: s.get("weight_decay")?,
        input_dropout: s.get("input_dropout")?,
        current_decay: s.get("current_decay")?,
        voltage_decay: s.get("voltage_decay")?,
        firing_threshold: s.get("firing_threshold")?,
        reset: s.named::<Reset>("reset")?,
        // `train_decays=False` is the CLI's --fixed-decays, True its --train-decays.
        train_decays: s.get("train_decays")?,
        train_threshold: s.get("train_threshold")?,
        reset_gradient: s.get("reset_gradient")?,
        weight_scale: s.get("weight_scale")?,
        output_scale: s.get("output_scale")?,
        weight_mean: s.get("weight_mean")?,
        output_mean: s.get("output_mean")?,
        seed: s.or("seed", 0)?,
        keep_last: s.or("keep_last", false)?,
    };
    overrides.recipe(&dataset).map_err(to_py)
}

/// `lca snn train` on arrays: the network, encoder, loss and schedule of
/// the recipe of `settings["dataset"]` (default `yinyang`, the recipe `lca
/// snn train` uses for a CSV file) with the other settings applied as the
/// CLI applies its flags. Features are scaled to [0, 1] by the training
/// set's range unless `scale=False` (the CLI's named datasets are already
/// in [0, 1] and not rescaled). Returns the model (the best validation
/// epoch's parameters when a validation set is given, unless `keep_last`)
/// and the per-epoch log (`training.csv`'s columns).
#[pyfunction]
#[pyo3(signature = (train, validation=None, test=None, settings=None, n_jobs=None))]
fn snn_train<'py>(
    py: Python<'py>,
    train: (Bound<'py, PyAny>, Bound<'py, PyAny>),
    validation: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    test: Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    settings: Option<&Bound<'py, PyDict>>,
    n_jobs: Option<usize>,
) -> PyResult<(SnnModel, Bound<'py, PyDict>)> {
    let mut s = Settings::new(settings, py);
    let mut tr = dataset(&train.0, &train.1, s.get("n_classes")?)?;
    let n_classes = tr.n_classes;
    let mut va = validation
        .map(|(x, y)| dataset(&x, &y, Some(n_classes)))
        .transpose()?;
    let mut te = test
        .map(|(x, y)| dataset(&x, &y, Some(n_classes)))
        .transpose()?;
    let scaling = if s.or("scale", true)? {
        lca::snn::Scaling::fit(&tr)
    } else {
        lca::snn::Scaling::identity(tr.n_features)
    };
    for d in [Some(&mut tr), va.as_mut(), te.as_mut()]
        .into_iter()
        .flatten()
    {
        scaling.apply(d).map_err(to_py)?;
    }
    let recipe = snn_recipe_from(&mut s)?;
    s.finish()?;
    let seed = recipe.train.seed;
    let encoder = recipe.encoder();
    let mut network = recipe
        .network(tr.n_features, n_classes, seed)
        .map_err(to_py)?;
    let cfg = recipe.train.clone().check().map_err(to_py)?;
    let enc = |d| lca::snn::Encoded {
        data: d,
        encoder: &encoder,
        seed,
    };
    let (trs, vas, tes) = (enc(&tr), va.as_ref().map(enc), te.as_ref().map(enc));
    let stop = AtomicUsize::new(0);
    let log = interruptible(py, n_jobs, &stop, || {
        lca::snn::train(
            &mut network,
            &trs,
            vas.as_ref().map(|v| v as &dyn lca::snn::Samples),
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
        dataset: "python".to_string(),
        n_classes,
        scaling,
        encoder,
        loss: cfg.loss,
        seed,
        network,
        events: None,
    };
    Ok((SnnModel { model }, d))
}

/// The per-epoch log of training as a dict of arrays (`training.csv`'s columns).
fn epoch_log<'py>(py: Python<'py>, log: &[lca::snn::EpochStats]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let col =
        |f: &dyn Fn(&lca::snn::EpochStats) -> f64| -> Vec<f64> { log.iter().map(f).collect() };
    d.set_item(
        "epoch",
        PyArray1::from_vec(py, log.iter().map(|e| e.epoch as u64).collect()),
    )?;
    d.set_item("lr", PyArray1::from_vec(py, col(&|e| f64::from(e.lr))))?;
    d.set_item("train_loss", PyArray1::from_vec(py, col(&|e| e.train_loss)))?;
    d.set_item(
        "train_accuracy",
        PyArray1::from_vec(py, col(&|e| e.train_accuracy)),
    )?;
    d.set_item(
        "validation_accuracy",
        PyArray1::from_vec(py, col(&|e| e.validation_accuracy.unwrap_or(f64::NAN))),
    )?;
    d.set_item(
        "test_accuracy",
        PyArray1::from_vec(py, col(&|e| e.test_accuracy.unwrap_or(f64::NAN))),
    )?;
    d.set_item("seconds", PyArray1::from_vec(py, col(&|e| e.seconds)))?;
    Ok(d)
}

/// A dataset's features `(n, n_features)` float32 and labels int64.
fn dataset_arrays<'py>(
    py: Python<'py>,
    d: &lca::snn::Dataset,
) -> PyResult<(Array2<'py>, Bound<'py, PyArray1<i64>>)> {
    let x = PyArray1::from_vec(py, d.features.clone()).reshape([d.len(), d.n_features])?;
    let y: Vec<i64> = d.labels.iter().map(|&l| l as i64).collect();
    Ok((x, PyArray1::from_vec(py, y)))
}

/// The splits `lca snn train --dataset NAME` trains, validates and tests on
/// (`yinyang`, `digits`): `(train, validation or None, test)`, each `(X, y)`.
#[pyfunction]
fn snn_dataset<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let splits = match name {
        "yinyang" => lca::snn::data::yinyang_splits(),
        "digits" => lca::snn::data::digits_splits().map_err(to_py)?,
        other => {
            return Err(invalid_setting(
                "dataset",
                format!("dataset must be 'yinyang' or 'digits', got '{other}'"),
            ));
        }
    };
    let train = dataset_arrays(py, &splits.train)?;
    let validation = splits
        .validation
        .as_ref()
        .map(|v| dataset_arrays(py, v))
        .transpose()?;
    let test = dataset_arrays(py, &splits.test)?;
    Ok((train, validation, test).into_pyobject(py)?.into_any())
}

// ---------------------------------------------------------------------------
// Convolutional sparse coding (`lca encode` / `lca learn --conv` with a
// convolutional dictionary): whole images, PyTorch's (M, C, k, k) filters.

use lca::conv::{
    Boundary, ConvArrayParams, ConvArrayTraining, ConvDictionary, ConvLca, ConvLcaParams,
    ConvSpiking, ConvSpikingParams, GramKernels, Planes,
};
use rayon::prelude::*;

/// A float32 / float64 numpy array of 4 dimensions: its shape and its values
/// in C order as float32 (one copy; none beyond that for C-ordered float32).
fn array4(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<([usize; 4], Vec<f32>)> {
    let (shape, data) = if let Ok(a) = obj.extract::<numpy::PyReadonlyArrayDyn<'_, f32>>() {
        let data = match a.as_slice() {
            Ok(s) if a.is_c_contiguous() => s.to_vec(),
            _ => a.as_array().iter().copied().collect(),
        };
        (a.shape().to_vec(), data)
    } else if let Ok(a) = obj.extract::<numpy::PyReadonlyArrayDyn<'_, f64>>() {
        let data = a.as_array().iter().map(|&v| v as f32).collect();
        (a.shape().to_vec(), data)
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a float32 or float64 numpy array"
        )));
    };
    match shape[..] {
        [a, b, c, d] => Ok(([a, b, c, d], data)),
        _ => Err(invalid_input(format!(
            "{what} must have 4 dimensions, got shape {shape:?}"
        ))),
    }
}

/// A float32/float64 numpy array of any rank: its shape and values (C order).
fn array_nd(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<usize>, Vec<f32>)> {
    if let Ok(a) = obj.extract::<numpy::PyReadonlyArrayDyn<'_, f32>>() {
        let data = match a.as_slice() {
            Ok(s) if a.is_c_contiguous() => s.to_vec(),
            _ => a.as_array().iter().copied().collect(),
        };
        Ok((a.shape().to_vec(), data))
    } else if let Ok(a) = obj.extract::<numpy::PyReadonlyArrayDyn<'_, f64>>() {
        let data = a.as_array().iter().map(|&v| v as f32).collect();
        Ok((a.shape().to_vec(), data))
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be a float32 or float64 numpy array"
        )))
    }
}

/// The spatial axes of a convolutional problem: `dims` where given (checked
/// against both shapes), else inferred by the library
/// ([`lca::conv::infer_dims`]: where the shapes leave one reading, and 2-D
/// for what was read as 2-D before 1-D and 3-D existed).
#[pyfunction]
#[pyo3(signature = (filters_shape, signal_shape, dims=None))]
fn conv_dims(
    filters_shape: Vec<usize>,
    signal_shape: Vec<usize>,
    dims: Option<&Bound<'_, PyAny>>,
) -> PyResult<usize> {
    let dims = explicit_dims(dims)?;
    lca::conv::infer_dims(
        dims,
        &filters_shape,
        lca::conv::SignalShape::Array(&signal_shape),
    )
    .map_err(|e| invalid_input(e.to_string()))
}

/// The spatial axes of a batch of training signals of this shape
/// ([`lca::conv::batch_learning_dims`]: `dims` checked against the rank,
/// else 3 for a rank-5 batch and 2 otherwise).
#[pyfunction]
#[pyo3(signature = (shape, dims=None))]
fn conv_learning_dims(shape: Vec<usize>, dims: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let dims = explicit_dims(dims)?;
    lca::conv::batch_learning_dims(dims, &shape).map_err(|e| invalid_input(format!("X: {e}")))
}

/// Python's `dims=`: None, or 1, 2, 3 (as a number or its text).
fn explicit_dims(dims: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    Ok(match dims {
        None => None,
        Some(d) if d.is_none() => None,
        Some(d) => Some(
            match d.extract::<usize>() {
                Ok(n) => lca::conv::check_dims(n),
                Err(_) => lca::conv::parse_dims(&d.str()?.to_string()),
            }
            .map_err(|e| invalid_input(format!("dims: {e}")))?,
        ),
    })
}

/// Filters `(M, C, k…)` with an explicit channel axis, over 1 to 3 spatial
/// axes (the rank says which): unit-norm (as `lca encode` requires) unless
/// `normalize`.
fn conv_dictionary(obj: &Bound<'_, PyAny>, normalize: bool) -> PyResult<ConvDictionary> {
    let (shape, data) = array_nd(obj, "filters")?;
    if !(3..=5).contains(&shape.len()) {
        return Err(invalid_input(format!(
            "filters must have shape (n_filters, channels, k…) over 1 to 3 axes, got shape {shape:?}"
        )));
    }
    let (m, c, kernel) = lca::conv::dictionary_layout(shape.len() - 2, &shape)
        .map_err(|e| invalid_input(format!("filters: {e}")))?;
    lca::error::check_finite("filters", &data).map_err(to_py)?;
    let made = if normalize {
        ConvDictionary::normalized_with_shape(m, c, &kernel, data)
    } else {
        ConvDictionary::with_shape(m, c, &kernel, data)
    };
    made.map_err(|e| {
        invalid_input(format!(
            "filters: {e}{}",
            if normalize {
                ""
            } else {
                " (normalise each filter to unit L2 norm or pass normalize=True)"
            }
        ))
    })
}

/// `n` items `(n, channels, …)` of the filters' dimension as planes.
fn batch_planes(
    obj: &Bound<'_, PyAny>,
    dims: usize,
    what: &str,
) -> PyResult<(Vec<Planes>, Vec<usize>)> {
    let (shape, data) = array_nd(obj, what)?;
    if shape.len() != dims + 2 {
        return Err(invalid_input(format!(
            "{what} must have shape (n, channels, …) over {dims} spatial axes, got shape {shape:?}"
        )));
    }
    let layout = match lca::conv::signal_layout(dims, &shape) {
        Ok(l) => l,
        // An empty batch: no items.
        Err(_) if shape[0] == 0 => return Ok((Vec::new(), shape)),
        Err(e) => return Err(invalid_input(format!("{what}: {e}"))),
    };
    let len = layout.channels * layout.extent.iter().product::<usize>();
    let items = (0..layout.count)
        .map(|i| {
            Planes::with_extent(
                layout.channels,
                layout.extent,
                data[i * len..(i + 1) * len].to_vec(),
            )
            .map_err(to_py)
        })
        .collect::<PyResult<_>>()?;
    Ok((items, shape))
}

/// Images `(n, C, …)` as planes, checked against the filters.
fn conv_images(obj: &Bound<'_, PyAny>, dict: &ConvDictionary, what: &str) -> PyResult<Vec<Planes>> {
    let (images, shape) = batch_planes(obj, dict.dims(), what)?;
    if shape[1] != dict.channels() {
        let mut dshape = vec![dict.n_filters(), dict.channels()];
        dshape.extend_from_slice(dict.kernel_shape());
        return Err(invalid_input(format!(
            "{what} have {} channel(s) (shape {}) but the filters have {} (shape {})",
            shape[1],
            lca::conv::shape_text(&shape),
            dict.channels(),
            lca::conv::shape_text(&dshape),
        )));
    }
    for (i, img) in images.iter().enumerate() {
        lca::conv::check_image(dict, img).map_err(|e| invalid_input(format!("{what} {i}: {e}")))?;
        lca::error::check_finite(what, &img.data).map_err(to_py)?;
    }
    Ok(images)
}

/// `(n, channels, …)` numpy array of `dims` spatial axes from per-item
/// planes (one copy into one buffer, handed to numpy without another).
fn planes_to_numpy<'py>(
    py: Python<'py>,
    planes: &[&Planes],
    dims: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let first = planes.first().expect("at least one item");
    let mut shape = vec![planes.len(), first.channels];
    shape.extend_from_slice(&first.extent()[3 - dims..]);
    let mut all = Vec::with_capacity(shape.iter().product());
    for p in planes {
        all.extend_from_slice(&p.data);
    }
    Ok(PyArray1::from_vec(py, all).reshape(shape)?.into_any())
}

/// An empty `(0, channels, 0…)` array of `dims` spatial axes.
fn empty_batch<'py>(py: Python<'py>, channels: usize, dims: usize) -> PyResult<Bound<'py, PyAny>> {
    let mut shape = vec![0, channels];
    shape.extend(std::iter::repeat_n(0, dims));
    Ok(PyArray1::from_vec(py, Vec::<f32>::new())
        .reshape(shape)?
        .into_any())
}

/// `boundary` by name (default circular).
fn boundary(s: &mut Settings<'_>) -> PyResult<Boundary> {
    Ok(s.named("boundary")?.unwrap_or_default())
}

/// The rate convolutional coder from settings (absent keys: the CLI's defaults).
fn conv_rate_params(s: &mut Settings<'_>, alpha: f32) -> PyResult<ConvLca> {
    let d = ConvLcaParams::default();
    ConvLcaParams::new()
        .lambda(alpha)
        .threshold(threshold(s)?)
        .nonneg(s.or("positive", false)?)
        .boundary(boundary(s)?)
        .tol(s.or("tol", d.tol)?)
        .max_iters(s.or("max_iter", d.max_iters)?)
        .check()
        .map_err(to_py)
}

fn conv_spiking_params(s: &mut Settings<'_>, alpha: f32) -> PyResult<ConvSpiking> {
    let d = ConvSpikingParams::default();
    let mut p = ConvSpikingParams::new()
        .lambda(alpha)
        .boundary(boundary(s)?)
        .dt(s.or("dt", d.dt)?)
        .threshold(s.or("spike_threshold", d.threshold)?)
        .steps(s.or("time_steps", d.steps)?)
        .fixed_point(s.or("fixed_point", d.fixed_point)?)
        .weight_synapses(s.or("weight_synapses", d.weight_synapses)?);
    if let Some(settle) = s.get("settle")? {
        p = p.settle(settle);
    }
    p.check().map_err(to_py)
}

/// Codes `A (n, M, H, W)` of images `(n, C, H, W)` over filters `(M, C, k, k)`,
/// and an info dict (`objective` per image; rate: `iterations`, `converged`;
/// spiking: `spikes`). The images run in parallel, each solved as `lca
/// encode` solves it (the same codes, bit for bit); Ctrl-C stops before the
/// next image and raises KeyboardInterrupt.
#[pyfunction]
#[pyo3(signature = (images, filters, alpha, settings=None, n_jobs=None))]
fn conv_encode<'py>(
    py: Python<'py>,
    images: &Bound<'py, PyAny>,
    filters: &Bound<'py, PyAny>,
    alpha: f32,
    settings: Option<&Bound<'py, PyDict>>,
    n_jobs: Option<usize>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let mut s = Settings::new(settings, py);
    let mode: Mode = s.named("mode")?.unwrap_or_default();
    let dict = conv_dictionary(filters, s.or("normalize", false)?)?;
    let images = conv_images(images, &dict, "images")?;
    let info = PyDict::new(py);
    let stop = AtomicUsize::new(0);
    let go = || stop.load(Ordering::Relaxed) == 0;
    let codes: Vec<Planes> = match mode {
        Mode::Rate => {
            let coder = conv_rate_params(&mut s, alpha)?;
            s.finish()?;
            let encoded = solved(interruptible(py, n_jobs, &stop, || {
                let gram = GramKernels::new(&dict);
                images
                    .par_iter()
                    .map(|img| {
                        if go() {
                            coder.encode_with(&dict, &gram, img, None)
                        } else {
                            Err(lca::Error::Interrupted)
                        }
                    })
                    .collect::<lca::Result<Vec<_>>>()
            }))?;
            let col = |f: &dyn Fn(&lca::conv::ConvEncoding) -> f64| -> Vec<f64> {
                encoded.iter().map(f).collect()
            };
            info.set_item("objective", PyArray1::from_vec(py, col(&|e| e.objective)))?;
            let iterations: Vec<u32> = encoded.iter().map(|e| e.iterations).collect();
            info.set_item("iterations", PyArray1::from_vec(py, iterations))?;
            let converged: Vec<bool> = encoded.iter().map(|e| e.converged()).collect();
            info.set_item("converged", PyArray1::from_vec(py, converged))?;
            encoded.into_iter().map(|e| e.codes).collect()
        }
        Mode::Spiking => {
            let coder = conv_spiking_params(&mut s, alpha)?;
            s.finish()?;
            let encoded = solved(interruptible(py, n_jobs, &stop, || {
                let gram = GramKernels::new(&dict);
                images
                    .par_iter()
                    .map(|img| {
                        if go() {
                            coder.encode_with(&dict, &gram, img)
                        } else {
                            Err(lca::Error::Interrupted)
                        }
                    })
                    .collect::<lca::Result<Vec<_>>>()
            }))?;
            let objective: Vec<f64> = encoded.iter().map(|e| e.objective).collect();
            info.set_item("objective", PyArray1::from_vec(py, objective))?;
            let spikes: Vec<u64> = encoded.iter().map(|e| e.spikes).collect();
            info.set_item("spikes", PyArray1::from_vec(py, spikes))?;
            encoded.into_iter().map(|e| e.codes).collect()
        }
    };
    let refs: Vec<&Planes> = codes.iter().collect();
    let out = if refs.is_empty() {
        empty_batch(py, dict.n_filters(), dict.dims())?
    } else {
        planes_to_numpy(py, &refs, dict.dims())?
    };
    Ok((out, info))
}

/// Code maps `(n, M, …)` as planes checked against the filters.
fn conv_codes(obj: &Bound<'_, PyAny>, dict: &ConvDictionary) -> PyResult<Vec<Planes>> {
    let (codes, shape) = batch_planes(obj, dict.dims(), "codes")?;
    if shape[1] != dict.n_filters() {
        return Err(invalid_input(format!(
            "codes have {} maps (shape {}) but there are {} filters",
            shape[1],
            lca::conv::shape_text(&shape),
            dict.n_filters()
        )));
    }
    Ok(codes)
}

/// Images `x̂[c] = Σ_m convolve2d(A[m], D[m, c], mode='same')` of codes
/// `(n, M, H, W)`: `(n, C, H, W)`.
#[pyfunction]
#[pyo3(signature = (codes, filters, boundary_name="circular", normalize=false))]
fn conv_reconstruct<'py>(
    py: Python<'py>,
    codes: &Bound<'py, PyAny>,
    filters: &Bound<'py, PyAny>,
    boundary_name: &str,
    normalize: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let dict = conv_dictionary(filters, normalize)?;
    let b: Boundary = boundary_name.parse().map_err(to_py)?;
    let codes = conv_codes(codes, &dict)?;
    let images = py
        .detach(|| {
            codes
                .par_iter()
                .map(|a| lca::conv::reconstruct(&dict, a, b))
                .collect::<lca::Result<Vec<_>>>()
        })
        .map_err(|e| invalid_input(format!("codes: {e}")))?;
    if images.is_empty() {
        return empty_batch(py, dict.channels(), dict.dims());
    }
    let refs: Vec<&Planes> = images.iter().collect();
    planes_to_numpy(py, &refs, dict.dims())
}

/// Per-image `½‖x − Σ_m D_m ∗ A_m‖² + λ‖A‖₁` (float64), the engine's own.
#[pyfunction]
#[pyo3(signature = (images, filters, codes, alpha, boundary_name="circular", normalize=false))]
fn conv_objective<'py>(
    py: Python<'py>,
    images: &Bound<'py, PyAny>,
    filters: &Bound<'py, PyAny>,
    codes: &Bound<'py, PyAny>,
    alpha: f32,
    boundary_name: &str,
    normalize: bool,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let dict = conv_dictionary(filters, normalize)?;
    let b: Boundary = boundary_name.parse().map_err(to_py)?;
    let images = conv_images(images, &dict, "images")?;
    let codes = conv_codes(codes, &dict)?;
    if codes.len() != images.len() {
        return Err(invalid_input(format!(
            "{} images but {} code arrays",
            images.len(),
            codes.len()
        )));
    }
    let e = py
        .detach(|| {
            images
                .par_iter()
                .zip(&codes)
                .map(|(x, a)| lca::conv::objective(&dict, x, a, alpha, b))
                .collect::<lca::Result<Vec<_>>>()
        })
        .map_err(to_py)?;
    Ok(PyArray1::from_vec(py, e))
}

/// Convolutional dictionary learning on in-memory images, the engine of
/// `ConvDictionaryLearning`: the library's [`ConvArrayTraining`], the source
/// of `lca learn --conv`'s learner, coder and crops that reads the caller's
/// images instead of a folder.
#[pyclass(module = "lca._lca")]
struct ConvImageLearner {
    training: ConvArrayTraining,
    stop: Arc<AtomicUsize>,
}

/// The settings of a convolutional learner (absent keys: `lca learn
/// --conv`'s defaults); `n_steps=0` is no step limit.
fn conv_array_params(s: &mut Settings<'_>) -> PyResult<ConvArrayParams> {
    let d = ConvArrayParams::default();
    let dims: usize = s.or("dims", 2)?;
    let base = lca::conv::ConvLearnParams::for_dims(dims)
        .map_err(|e| invalid_input(format!("dims: {e}")))?;
    let conv = base
        .clone()
        .kernel_size(s.or("kernel_size", base.kernel_size)?)
        .kernel_depth(s.or("kernel_depth", base.kernel_depth)?)
        .lambda(s.or("alpha", d.conv.lambda)?)
        .crop(s.or("crop", base.crop)?)
        .crop_depth(s.or("crop_depth", base.crop_depth)?)
        .images_per_step(s.or("images_per_step", d.conv.images_per_step)?)
        .dict_sweeps(s.or("dict_sweeps", d.conv.dict_sweeps)?)
        .forgetting(s.or("forgetting", d.conv.forgetting)?);
    let steps = match s.or("n_steps", d.steps)? {
        0 => UNBOUNDED_STEPS,
        n => n,
    };
    let coder = (d.coder.clone()).tol(s.or("coder_tol", d.coder.tol)?);
    Ok(d.clone()
        .atoms(s.or("n_components", d.atoms)?)
        .steps(steps)
        .seed(s.or("random_state", d.seed)?)
        .max_seconds(s.get("max_seconds")?)
        .conv(conv)
        .coder(coder))
}

#[pymethods]
impl ConvImageLearner {
    /// Checks the settings and draws the initial filters from windows of
    /// `images` `(n, C, H, W)` (or takes `init`, `(M, C, k, k)`).
    #[new]
    #[pyo3(signature = (images, settings=None, init=None))]
    fn new<'py>(
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
        settings: Option<&Bound<'py, PyDict>>,
        init: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let mut s = Settings::new(settings, py);
        let params = conv_array_params(&mut s)?;
        s.finish()?;
        let dims = params.conv.dims;
        let images: Vec<Planes> = if dims == 2 {
            let ([n, channels, h, w], data) = array4(images, "X")?;
            let len = channels * h * w;
            (0..n)
                .map(|i| Planes::new(channels, h, w, data[i * len..(i + 1) * len].to_vec()))
                .collect::<lca::Result<_>>()
                .map_err(to_py)?
        } else {
            batch_planes(images, dims, "X")?.0
        };
        let init = init.map(|i| conv_dictionary(i, true)).transpose()?;
        if init.as_ref().is_some_and(|d| d.dims() != dims) {
            return Err(invalid_input(format!(
                "initial filters must be {dims}-D (n_filters, C, k…) like X"
            )));
        }
        let training = py
            .detach(|| ConvArrayTraining::new(params, images, init))
            .map_err(to_py)?;
        Ok(ConvImageLearner {
            training,
            stop: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs the remaining steps (or until the time budget); returns the
    /// status. Ctrl-C stops after the current step and raises
    /// KeyboardInterrupt, the state so far kept.
    #[pyo3(signature = (n_jobs=None))]
    fn run(&mut self, py: Python<'_>, n_jobs: Option<usize>) -> PyResult<&'static str> {
        self.stop.store(0, Ordering::SeqCst);
        let stop = Arc::clone(&self.stop);
        let training = &mut self.training;
        let report = interruptible(py, n_jobs, &stop, || {
            training.run(&mut NoObserver, Some(&stop))
        })?
        .map_err(to_py)?;
        Ok(status_name(report.status))
    }

    /// One learning step on the whole images `batch` `(n, C, H, W)` (partial_fit).
    #[pyo3(signature = (batch, n_jobs=None))]
    fn step(
        &mut self,
        py: Python<'_>,
        batch: &Bound<'_, PyAny>,
        n_jobs: Option<usize>,
    ) -> PyResult<()> {
        let dict = self.training.dictionary().map_err(to_py)?;
        let batch = conv_images(batch, &dict, "X")?;
        let training = &mut self.training;
        py.detach(|| with_pool(n_jobs, || training.step_on(&batch)))?
            .map_err(to_py)?;
        Ok(())
    }

    /// The filters, `(M, C, k…)` (PyTorch's layout of their dimension).
    fn components<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let learner = self.training.learner();
        Ok(PyArray1::from_vec(py, learner.filters().to_vec())
            .reshape(learner.shape_nd().torch_shape())?
            .into_any())
    }

    /// Steps done.
    fn steps_done(&self) -> u64 {
        self.training.learner().steps_done()
    }

    /// The training log (one entry per step).
    fn log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        log_dict(py, self.training.rows())
    }
}
