//! Every spike of an encoding, in order, what a raster plot shows of one
//! signal, and the `.npz` file users exchange.

use nalgebra::DMatrix;

use crate::error::{Error, Result};

/// Every spike of an encoding: parallel arrays, ordered by signal, then
/// step, then neuron.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpikeRecord {
    /// Atoms of the dictionary.
    pub n_atoms: usize,
    /// Neurons per signal: `n_atoms`, or `2·n_atoms` for ON/OFF pairs
    /// (neuron `n_atoms + i` is the OFF neuron of atom `i`).
    pub n_neurons: usize,
    /// Steps simulated per signal.
    pub steps: usize,
    /// Steps before the averaging window.
    pub settle: usize,
    /// Signal of each spike.
    pub signal: Vec<u32>,
    /// Neuron of each spike.
    pub neuron: Vec<u32>,
    /// Time step of each spike (0-based).
    pub step: Vec<u32>,
    /// Per signal, the code value of one spike in the averaging window:
    /// `a_i = quantum·(N_i⁺ − N_i⁻)`.
    pub quantum: Vec<f32>,
}

/// Most atoms a spike record read from a file may declare (16 M neurons).
pub const MAX_RECORD_ATOMS: usize = 1 << 24;

impl SpikeRecord {
    /// Number of signals.
    pub fn n_signals(&self) -> usize {
        self.quantum.len()
    }

    /// Whether neurons come in ON/OFF pairs (signed codes).
    pub fn signed(&self) -> bool {
        self.n_neurons == 2 * self.n_atoms
    }

    /// Index range of the spikes of `signal` (spikes are sorted by signal).
    fn range(&self, signal: usize) -> std::ops::Range<usize> {
        let s = signal as u32;
        self.signal.partition_point(|&x| x < s)..self.signal.partition_point(|&x| x <= s)
    }

    /// The spikes of one signal and the rate code of every neuron, as a
    /// raster plot shows them.
    pub fn raster(&self, signal: usize) -> Result<Raster> {
        if signal >= self.n_signals() {
            return Err(Error::setting(
                "signal",
                format!(
                    "signal {signal} out of range: the spike file holds {} signals",
                    self.n_signals()
                ),
            ));
        }
        let range = self.range(signal);
        let spikes: Vec<(u32, u32)> = self.neuron[range.clone()]
            .iter()
            .zip(&self.step[range])
            .map(|(&n, &t)| (n, t))
            .collect();
        let mut counts = vec![0i64; self.n_neurons];
        for &(n, t) in &spikes {
            if t as usize >= self.settle {
                counts[n as usize] += 1;
            }
        }
        let q = self.quantum[signal];
        let rates = counts
            .iter()
            .enumerate()
            .map(|(n, &c)| code_value(q, if n >= self.n_atoms { -c } else { c }))
            .collect();
        Ok(Raster {
            n_neurons: self.n_neurons,
            steps: self.steps,
            spikes,
            rates,
        })
    }

    /// The codes the spikes imply (`n_atoms × n_signals`): the same values
    /// the encoding returned.
    pub fn codes(&self) -> DMatrix<f32> {
        let (k, m) = (self.n_atoms, self.n_signals());
        let mut counts = vec![0i64; k * m];
        for ((&s, &n), &t) in self.signal.iter().zip(&self.neuron).zip(&self.step) {
            if t as usize >= self.settle {
                let (atom, sign) = if (n as usize) < k {
                    (n as usize, 1)
                } else {
                    (n as usize - k, -1)
                };
                counts[s as usize * k + atom] += sign;
            }
        }
        let mut codes = DMatrix::zeros(k, m);
        for (s, col) in codes.as_mut_slice().chunks_mut(k.max(1)).enumerate() {
            for (a, &c) in col.iter_mut().zip(&counts[s * k..(s + 1) * k]) {
                *a = code_value(self.quantum[s], c);
            }
        }
        codes
    }

    /// Writes the spikes to an `.npz` (atomically): int32 arrays `signal`,
    /// `neuron`, `step`, float32 `quantum` (per signal) and int64 scalars
    /// `n_atoms`, `n_neurons`, `steps`, `settle`.
    pub fn write_npz(&self, path: &std::path::Path) -> Result<()> {
        use crate::io::npy::NpyArray;
        let to_i32 = |v: &[u32]| v.iter().map(|&x| x as i32).collect::<Vec<i32>>();
        let n = self.signal.len();
        let scalar = |x: usize| NpyArray::from_i64(vec![], &[x as i64]);
        let arrays = [
            (
                "signal",
                NpyArray::from_i32(vec![n], &to_i32(&self.signal))?,
            ),
            (
                "neuron",
                NpyArray::from_i32(vec![n], &to_i32(&self.neuron))?,
            ),
            ("step", NpyArray::from_i32(vec![n], &to_i32(&self.step))?),
            (
                "quantum",
                NpyArray::from_f32(vec![self.quantum.len()], &self.quantum)?,
            ),
            ("n_atoms", scalar(self.n_atoms)?),
            ("n_neurons", scalar(self.n_neurons)?),
            ("steps", scalar(self.steps)?),
            ("settle", scalar(self.settle)?),
        ];
        let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, v)| (*k, v)).collect();
        crate::io::npz::write_npz(path, &refs)
    }

    /// Reads a spike file written by [`SpikeRecord::write_npz`], checking
    /// that every array is present, consistent and in range.
    pub fn read_npz(path: &std::path::Path) -> Result<SpikeRecord> {
        let bad = |msg: String| Error::format(path, msg);
        let arrays = crate::io::npz::read_npz(path)?;
        let get = |name: &str| {
            arrays
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, a)| a)
                .ok_or_else(|| bad(format!("not a spike file: array {name:?} is missing")))
        };
        let ints = |name: &str| -> Result<Vec<i64>> {
            get(name)?
                .to_i64_vec()
                .ok_or_else(|| bad(format!("array {name:?} must hold integers")))
        };
        let scalar = |name: &str| -> Result<usize> {
            match ints(name)?.as_slice() {
                [v] if *v >= 0 => Ok(*v as usize),
                _ => Err(bad(format!("{name:?} must be one non-negative integer"))),
            }
        };
        let (n_atoms, n_neurons, steps, settle) = (
            scalar("n_atoms")?,
            scalar("n_neurons")?,
            scalar("steps")?,
            scalar("settle")?,
        );
        if n_atoms == 0 || (n_neurons != n_atoms && n_neurons != 2 * n_atoms) {
            return Err(bad(format!(
                "n_neurons = {n_neurons} must be n_atoms = {n_atoms} or twice it"
            )));
        }
        if settle >= steps || steps > u32::MAX as usize {
            return Err(bad(format!("invalid steps = {steps} / settle = {settle}")));
        }
        // Rasters and codes allocate per neuron: a hostile header must not
        // make them request terabytes (found while fuzzing).
        if n_atoms > MAX_RECORD_ATOMS {
            return Err(bad(format!(
                "n_atoms = {n_atoms} exceeds the {MAX_RECORD_ATOMS} a spike record may hold"
            )));
        }
        let quantum = get("quantum")?
            .to_f32_vec()
            .ok_or_else(|| bad("array \"quantum\" must hold floats".into()))?;
        if let Some(i) = quantum.iter().position(|q| !(q.is_finite() && *q >= 0.0)) {
            return Err(bad(format!("quantum[{i}] is negative or not finite")));
        }
        let (signal, neuron, step) = (ints("signal")?, ints("neuron")?, ints("step")?);
        if signal.len() != neuron.len() || signal.len() != step.len() {
            return Err(bad(format!(
                "signal, neuron and step have different lengths ({}, {}, {})",
                signal.len(),
                neuron.len(),
                step.len()
            )));
        }
        let checked = |v: Vec<i64>, name: &str, limit: usize| -> Result<Vec<u32>> {
            match v.iter().position(|&x| x < 0 || x as usize >= limit) {
                Some(i) => Err(bad(format!("{name}[{i}] = {} is outside 0..{limit}", v[i]))),
                None => Ok(v.into_iter().map(|x| x as u32).collect()),
            }
        };
        let signal = checked(signal, "signal", quantum.len())?;
        if let Some(i) = signal.windows(2).position(|w| w[0] > w[1]) {
            return Err(bad(format!(
                "spikes must be sorted by signal (entry {} is out of order)",
                i + 1
            )));
        }
        Ok(SpikeRecord {
            n_atoms,
            n_neurons,
            steps,
            settle,
            signal,
            neuron: checked(neuron, "neuron", n_neurons)?,
            step: checked(step, "step", steps)?,
            quantum,
        })
    }
}

/// The spikes of one signal, ready to plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Raster {
    /// Neurons (rows of the raster).
    pub n_neurons: usize,
    /// Steps (columns of the raster).
    pub steps: usize,
    /// `(neuron, step)` of every spike.
    pub spikes: Vec<(u32, u32)>,
    /// Rate code of every neuron: ϑ-scaled spike count in the averaging
    /// window, negative for OFF neurons, so an atom's code is the sum of its
    /// pair.
    pub rates: Vec<f32>,
}

/// `quantum·count` rounded once to f32: the one formula for every code.
#[inline]
pub(super) fn code_value(quantum: f32, count: i64) -> f32 {
    let a = (f64::from(quantum) * count as f64) as f32;
    if a == 0.0 { 0.0 } else { a }
}
