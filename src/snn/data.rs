//! Classification data: the Yin-Yang dataset generated in code, the 8×8
//! digits compiled into the crate, and CSV files (features then an integer
//! label per line), with a stratified split and min–max scaling to `[0, 1]`.

use std::io::Read;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Labelled samples: `features` holds one row of `n_features` values per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Values per sample.
    pub n_features: usize,
    /// Row-major `[len × n_features]`.
    pub features: Vec<f32>,
    /// Class of every sample, in `0..n_classes`.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub n_classes: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.n_features..(i + 1) * self.n_features]
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(indices.len() * self.n_features);
        for &i in indices {
            features.extend_from_slice(self.row(i));
        }
        Dataset {
            n_features: self.n_features,
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            n_classes: self.n_classes,
        }
    }

    /// Samples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.n_classes];
        for &l in &self.labels {
            c[l] += 1;
        }
        c
    }
}

/// Train, optional validation, and test sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    /// Training set.
    pub train: Dataset,
    /// Validation set, when the dataset defines one.
    pub validation: Option<Dataset>,
    /// Test set.
    pub test: Dataset,
}

/// Radius of the whole Yin-Yang disc.
pub const YINYANG_R_BIG: f64 = 0.5;
/// Radius of the two small dots.
pub const YINYANG_R_SMALL: f64 = 0.1;

/// Class of the point `(x, y)` of the Yin-Yang disc: 0 yang, 1 yin, 2 dots
/// (Kriener et al. 2021).
pub fn yinyang_class(x: f64, y: f64) -> usize {
    let (rb, rs) = (YINYANG_R_BIG, YINYANG_R_SMALL);
    let d_right = ((x - 1.5 * rb).powi(2) + (y - rb).powi(2)).sqrt();
    let d_left = ((x - 0.5 * rb).powi(2) + (y - rb).powi(2)).sqrt();
    let c1 = d_right <= rs;
    let c2 = d_left > rs && d_left <= 0.5 * rb;
    let c3 = y > rb && d_right > 0.5 * rb;
    if d_right < rs || d_left < rs {
        2
    } else {
        usize::from(c1 || c2 || c3)
    }
}

/// `size` Yin-Yang samples (Kriener, Göltz & Petrovici 2021): each draws a
/// class uniformly, then points uniformly in the disc of radius 0.5 centred
/// at (0.5, 0.5) until one has that class (so classes are balanced in
/// expectation). Features are `(x, y, 1 − x, 1 − y)`.
pub fn yinyang(size: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut features = Vec::with_capacity(4 * size);
    let mut labels = Vec::with_capacity(size);
    for _ in 0..size {
        let goal = rng.random_range(0..3usize);
        let (x, y) = loop {
            let x = rng.random::<f64>() * 2.0 * YINYANG_R_BIG;
            let y = rng.random::<f64>() * 2.0 * YINYANG_R_BIG;
            if ((x - YINYANG_R_BIG).powi(2) + (y - YINYANG_R_BIG).powi(2)).sqrt() > YINYANG_R_BIG {
                continue;
            }
            if yinyang_class(x, y) == goal {
                break (x, y);
            }
        };
        features.extend_from_slice(&[x as f32, y as f32, (1.0 - x) as f32, (1.0 - y) as f32]);
        labels.push(goal);
    }
    Dataset {
        n_features: 4,
        features,
        labels,
        n_classes: 3,
    }
}

/// The standard Yin-Yang splits: 5000 training (seed 42), 1000 validation
/// (seed 41) and 1000 test samples (seed 40), the sizes and seeds of the
/// reference implementation.
pub fn yinyang_splits() -> Splits {
    Splits {
        train: yinyang(5000, 42),
        validation: Some(yinyang(1000, 41)),
        test: yinyang(1000, 40),
    }
}

static DIGITS_GZ: &[u8] = include_bytes!("../../assets/data/digits.csv.gz");

/// The 1797 8×8 handwritten digits (UCI, CC BY 4.0; see
/// `assets/data/README.md`), pixel values 0..16 scaled to `[0, 1]`.
pub fn digits() -> Result<Dataset> {
    let path = Path::new("assets/data/digits.csv.gz (embedded)");
    let text = gunzip(DIGITS_GZ, path)?;
    let mut ds = parse_csv(&text, path, Some(10))?;
    for v in &mut ds.features {
        *v /= 16.0;
    }
    Ok(ds)
}

/// The digits split 75/25, stratified, with a fixed seed.
pub fn digits_splits() -> Result<Splits> {
    let ds = digits()?;
    let (train, test) = stratified_split(&ds, 0.25, 0);
    Ok(Splits {
        train,
        validation: None,
        test,
    })
}

fn gunzip(bytes: &[u8], path: &Path) -> Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| Error::format(path, format!("cannot decompress: {e}")))?;
    Ok(text)
}

/// Reads a CSV file (`.csv`, or gzip-compressed `.csv.gz`): one sample per
/// line, feature values then an integer class label in `0..n_classes`
/// (`n_classes` inferred as the largest label + 1 when `None`). A first line
/// without any number is taken as a header. Errors name the line.
pub fn read_csv(path: &Path, n_classes: Option<usize>) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_csv_bytes(bytes, path, n_classes)
}

/// [`read_csv`] on the file's bytes (gzip-compressed when `path` ends in
/// `.gz`); `path` only names the source in errors. The entry point for
/// in-memory data and the fuzz target.
pub fn read_csv_bytes(bytes: Vec<u8>, path: &Path, n_classes: Option<usize>) -> Result<Dataset> {
    let text = if path.extension().is_some_and(|e| e == "gz") {
        gunzip(&bytes, path)?
    } else {
        String::from_utf8(bytes).map_err(|e| Error::format(path, format!("not UTF-8 text: {e}")))?
    };
    parse_csv(&text, path, n_classes)
}

/// Parses CSV text; `path` only names the source in errors.
pub fn parse_csv(text: &str, path: &Path, n_classes: Option<usize>) -> Result<Dataset> {
    let mut n_columns = None;
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line_no = no + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if line_no == 1 && cells.iter().all(|c| c.parse::<f64>().is_err()) {
            continue; // header
        }
        let expected = *n_columns.get_or_insert(cells.len());
        if cells.len() != expected {
            return Err(Error::format(
                path,
                format!(
                    "line {line_no}: expected {expected} columns, found {}",
                    cells.len()
                ),
            ));
        }
        if expected < 2 {
            return Err(Error::format(
                path,
                format!(
                    "line {line_no}: need at least one feature and a label, found {expected} column"
                ),
            ));
        }
        for (c, cell) in cells[..expected - 1].iter().enumerate() {
            match cell.parse::<f32>() {
                Ok(v) if v.is_finite() => features.push(v),
                _ => {
                    return Err(Error::format(
                        path,
                        format!(
                            "line {line_no}, column {}: '{cell}' is not a finite number",
                            c + 1
                        ),
                    ));
                }
            }
        }
        let cell = cells[expected - 1];
        let label = match cell.parse::<f64>() {
            Ok(v) if v >= 0.0 && v.fract() == 0.0 && v < 1e6 => v as usize,
            _ => {
                return Err(Error::format(
                    path,
                    format!("line {line_no}: label '{cell}' is not a non-negative integer class"),
                ));
            }
        };
        if let Some(k) = n_classes
            && label >= k
        {
            return Err(Error::format(
                path,
                format!(
                    "line {line_no}: label {label} out of range (classes 0..{})",
                    k - 1
                ),
            ));
        }
        labels.push(label);
    }
    let Some(n_columns) = n_columns else {
        return Err(Error::format(path, "no data lines"));
    };
    let n_classes = n_classes.unwrap_or_else(|| labels.iter().max().map_or(0, |m| m + 1));
    Ok(Dataset {
        n_features: n_columns - 1,
        features,
        labels,
        n_classes,
    })
}

/// Splits off `test_fraction` of every class (rounded) as a test set, after
/// shuffling each class with `seed`; both parts keep the original order.
pub fn stratified_split(ds: &Dataset, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let (train, test) = stratified_indices(&ds.labels, test_fraction, seed);
    (ds.subset(&train), ds.subset(&test))
}

/// Indices of the train and test parts of [`stratified_split`] for any
/// labelled collection (feature rows or event streams), each ascending.
pub fn stratified_indices(
    labels: &[usize],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // One pass to group samples by class: a file may declare up to 10⁶
    // classes, and a scan per class would take a million passes. Empty
    // classes draw nothing from `rng`, so skipping them changes no split.
    let mut by_class = std::collections::BTreeMap::<usize, Vec<usize>>::new();
    for (i, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(i);
    }
    let mut test = Vec::new();
    for mut idx in by_class.into_values() {
        idx.shuffle(&mut rng);
        let n_test = (idx.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
    }
    test.sort_unstable();
    let mut is_test = vec![false; labels.len()];
    for &i in &test {
        is_test[i] = true;
    }
    let train: Vec<usize> = (0..labels.len()).filter(|&i| !is_test[i]).collect();
    (train, test)
}

/// Per-feature affine map to `[0, 1]` fitted on a training set (constant
/// features map to 0); values outside the fitted range are clamped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Minimum of each feature.
    pub min: Vec<f32>,
    /// Maximum of each feature.
    pub max: Vec<f32>,
}

impl Scaling {
    /// The identity on `n` features already in `[0, 1]`.
    pub fn identity(n: usize) -> Self {
        Scaling {
            min: vec![0.0; n],
            max: vec![1.0; n],
        }
    }

    /// Range of every feature of `ds`.
    pub fn fit(ds: &Dataset) -> Self {
        let n = ds.n_features;
        let mut min = vec![f32::INFINITY; n];
        let mut max = vec![f32::NEG_INFINITY; n];
        for i in 0..ds.len() {
            for (j, &v) in ds.row(i).iter().enumerate() {
                min[j] = min[j].min(v);
                max[j] = max[j].max(v);
            }
        }
        Scaling { min, max }
    }

    /// Scales `ds` in place.
    pub fn apply(&self, ds: &mut Dataset) -> Result<()> {
        if ds.n_features != self.min.len() {
            return Err(Error::Shape(format!(
                "data have {} features, the model was trained on {}",
                ds.n_features,
                self.min.len()
            )));
        }
        let n = ds.n_features;
        for (k, v) in ds.features.iter_mut().enumerate() {
            let (lo, hi) = (self.min[k % n], self.max[k % n]);
            *v = if hi > lo {
                ((*v - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
        Ok(())
    }
}
