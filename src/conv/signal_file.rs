//! Signal files for convolutional coding: an `.npy` array in one of the
//! layouts of its dimension (module `dims`) or a `.wav` recording (1-D, one
//! signal of `(1, C, T)`), loaded into the signals the solvers take together
//! with what it takes to write a reconstruction back in the same kind of
//! file (the array's shape; the recording's sample rate). Pictures are read
//! by [`crate::image`] and are not handled here.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::npy::{self, NpyArray};
use crate::io::wav::{self, Audio, WavSampleFormat};

use super::dims::{SignalShape, check_dims, dictionary_layout, infer_dims, signal_layout};
use super::planes::Planes;

/// What kind of signal file a path names, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalFileKind {
    /// `.npy`: an array of signals.
    Npy,
    /// `.wav`: audio, 1-D.
    Wav,
    /// Anything else: a picture file (2-D).
    Picture,
}

impl SignalFileKind {
    /// The kind of `path` (the extension, case-insensitively).
    ///
    /// ```
    /// use lca::conv::SignalFileKind;
    /// use std::path::Path;
    /// assert_eq!(SignalFileKind::of(Path::new("a/Speech.WAV")), SignalFileKind::Wav);
    /// assert_eq!(SignalFileKind::of(Path::new("x.npy")), SignalFileKind::Npy);
    /// assert_eq!(SignalFileKind::of(Path::new("cat.png")), SignalFileKind::Picture);
    /// ```
    pub fn of(path: &Path) -> SignalFileKind {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("npy") => SignalFileKind::Npy,
            Some("wav") => SignalFileKind::Wav,
            _ => SignalFileKind::Picture,
        }
    }
}

/// Where a [`SignalFile`]'s signals came from, as needed to write a
/// reconstruction back alike.
#[derive(Clone, Debug, PartialEq)]
pub enum SignalSource {
    /// An `.npy` array of this shape.
    Npy { shape: Vec<usize> },
    /// A `.wav` recording at this sample rate.
    Wav { sample_rate: u32 },
}

/// The signals of one file, all of one shape.
#[derive(Clone, Debug)]
pub struct SignalFile {
    /// The signals, `(C, …)` each.
    pub signals: Vec<Planes>,
    /// Whether codes get a leading batch axis `N` (an `.npy` with one, and
    /// every `.wav`: one signal of `(1, C, T)`).
    pub batched: bool,
    /// The dimension the signals were read in.
    pub dims: usize,
    /// The file's kind and what writing back needs.
    pub source: SignalSource,
}

/// What is known of the signal at `path` before reading it whole, for
/// choosing the dimension ([`super::infer_dims`]): an `.npy`'s shape (read
/// from its header), a `.wav` (1-D) or a picture (2-D).
pub fn signal_shape_of(path: &Path) -> Result<SignalShapeOwned> {
    Ok(match SignalFileKind::of(path) {
        SignalFileKind::Npy => SignalShapeOwned::Array(npy::read_shape(path)?),
        SignalFileKind::Wav => SignalShapeOwned::Audio,
        SignalFileKind::Picture => SignalShapeOwned::Picture,
    })
}

/// The dimension of coding the signals in the file `input` with the
/// dictionary in the `.npy` `dictionary`: `explicit` (`--dims`, Python's
/// `dims=`) checked against both files — a file whose kind fixes the
/// dimension says so first — else inferred where the shapes leave one
/// reading ([`super::infer_dims`]). Every error names the file at fault (or
/// both, where only the pair does not fit).
///
/// ```
/// use lca::conv::coding_dims;
/// # let dir = tempfile::tempdir().unwrap();
/// let (d, x) = (dir.path().join("D.npy"), dir.path().join("x.npy"));
/// use lca::io::npy::{NpyArray, write_npy};
/// write_npy(&d, &NpyArray::from_f32(vec![4, 1, 9], &[1.0 / 3.0; 36]).unwrap()).unwrap();
/// write_npy(&x, &NpyArray::from_f32(vec![2, 1, 100], &[0.0; 200]).unwrap()).unwrap();
/// // (4, 1, 9) filters on (2, 1, 100): 1-D, or 2-D filters of 1×9? Ask.
/// assert!(coding_dims(&d, &x, None).unwrap_err().to_string().contains("--dims"));
/// assert_eq!(coding_dims(&d, &x, Some(1)).unwrap(), 1);
/// let err = coding_dims(&d, &x, Some(3)).unwrap_err().to_string();
/// assert!(err.starts_with(&d.display().to_string()), "{err}");
/// ```
pub fn coding_dims(dictionary: &Path, input: &Path, explicit: Option<usize>) -> Result<usize> {
    let dict_shape = npy::read_shape(dictionary)?;
    let signal = signal_shape_of(input)?;
    if let Some(d) = explicit {
        check_dims(d)?;
        match &signal {
            SignalShapeOwned::Picture if d != 2 => {
                return Err(Error::format(
                    input,
                    format!("a picture is 2-D, not {d}-D (--dims {d})"),
                ));
            }
            SignalShapeOwned::Audio if d != 1 => {
                return Err(Error::format(
                    input,
                    format!("a .wav file is 1-D, not {d}-D (--dims {d})"),
                ));
            }
            _ => {}
        }
        dictionary_layout(d, &dict_shape).map_err(|e| Error::format(dictionary, e.to_string()))?;
        if let SignalShapeOwned::Array(shape) = &signal {
            signal_layout(d, shape).map_err(|e| Error::format(input, e.to_string()))?;
        }
    }
    infer_dims(explicit, &dict_shape, signal.as_shape())
        .map_err(|e| Error::format(dictionary, format!("with {}: {e}", input.display())))
}

/// A [`SignalShape`] that owns its array shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalShapeOwned {
    /// A picture file: 2-D.
    Picture,
    /// A `.wav` recording: 1-D.
    Audio,
    /// An array of this shape.
    Array(Vec<usize>),
}

impl SignalShapeOwned {
    /// The borrowed form [`super::infer_dims`] takes.
    pub fn as_shape(&self) -> SignalShape<'_> {
        match self {
            SignalShapeOwned::Picture => SignalShape::Picture,
            SignalShapeOwned::Audio => SignalShape::Audio,
            SignalShapeOwned::Array(s) => SignalShape::Array(s),
        }
    }
}

impl SignalFile {
    /// Reads the `.npy` or `.wav` at `path` as `dims`-dimensional signals.
    /// Every error names the file: an unreadable or truncated file, a zero
    /// sample rate, an array that is not float or not in a layout of `dims`,
    /// a `.wav` read as anything but 1-D.
    ///
    /// ```
    /// use lca::conv::{SignalFile, SignalSource};
    /// use lca::io::wav::{self, Audio, WavSampleFormat};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("two.wav");
    /// let audio = Audio::new(8000, 2, vec![0.5, -0.5, 0.25, 0.0, 1.0, -1.0]).unwrap();
    /// wav::write_wav(&path, &audio, WavSampleFormat::F32).unwrap();
    /// let file = SignalFile::read(&path, 1).unwrap();
    /// assert_eq!(file.signals.len(), 1);
    /// assert_eq!((file.signals[0].channels, file.signals[0].extent()), (2, [1, 1, 3]));
    /// assert_eq!(file.source, SignalSource::Wav { sample_rate: 8000 });
    /// assert!(SignalFile::read(&path, 2).is_err());
    /// ```
    pub fn read(path: &Path, dims: usize) -> Result<SignalFile> {
        check_dims(dims)?;
        match SignalFileKind::of(path) {
            SignalFileKind::Wav => {
                if dims != 1 {
                    return Err(Error::format(
                        path,
                        format!("a .wav file is 1-D, not {dims}-D (--dims {dims})"),
                    ));
                }
                let audio = wav::read_wav(path)?;
                let signal =
                    Planes::with_extent(audio.channels, [1, 1, audio.frames], audio.samples)?;
                Ok(SignalFile {
                    signals: vec![signal],
                    batched: true,
                    dims,
                    source: SignalSource::Wav {
                        sample_rate: audio.sample_rate,
                    },
                })
            }
            SignalFileKind::Npy => {
                let array = npy::read_array(path)?.into_c_order();
                let values = array
                    .to_f32_vec()
                    .ok_or_else(|| Error::format(path, "signals must be float32 or float64"))?;
                let shape = array.header.shape.clone();
                let layout =
                    signal_layout(dims, &shape).map_err(|e| Error::format(path, e.to_string()))?;
                let len = layout.channels * layout.extent.iter().product::<usize>();
                let signals = values
                    .chunks_exact(len.max(1))
                    .take(layout.count)
                    .map(|v| Planes::with_extent(layout.channels, layout.extent, v.to_vec()))
                    .collect::<Result<Vec<_>>>()?;
                Ok(SignalFile {
                    signals,
                    batched: layout.batched,
                    dims,
                    source: SignalSource::Npy { shape },
                })
            }
            SignalFileKind::Picture => Err(Error::format(
                path,
                "signals are read from .npy or .wav files (pictures are images)",
            )),
        }
    }

    /// The shape codes of these signals have with `n_filters` filters:
    /// `(N, M, …)`, or `(M, …)` where the file had no batch axis.
    pub fn code_shape(&self, n_filters: usize) -> Vec<usize> {
        let mut shape = if self.batched {
            vec![self.signals.len(), n_filters]
        } else {
            vec![n_filters]
        };
        if let Some(first) = self.signals.first() {
            shape.extend_from_slice(&first.extent()[3 - self.dims..]);
        }
        shape
    }

    /// Writes `signals` (one per signal read, of the same shapes, e.g. their
    /// reconstructions) to `path` in the kind of file they were read from:
    /// an `.npy` of the input's shape, or a 32-bit float `.wav` at the input's
    /// sample rate. Atomic: nothing is left at `path` on failure.
    pub fn write_like(&self, path: &Path, signals: &[Planes]) -> Result<()> {
        let values = self.flatten(path, signals)?;
        match &self.source {
            SignalSource::Npy { shape } => {
                npy::write_npy(path, &NpyArray::from_f32(shape.clone(), &values)?)
            }
            SignalSource::Wav { sample_rate } => {
                let audio = Audio::new(*sample_rate, self.signals[0].channels, values)?;
                wav::write_wav(path, &audio, WavSampleFormat::F32)
            }
        }
    }

    /// The values of `signals`, checked to match the signals read.
    fn flatten(&self, path: &Path, signals: &[Planes]) -> Result<Vec<f32>> {
        let fits = signals.len() == self.signals.len()
            && signals
                .iter()
                .zip(&self.signals)
                .all(|(a, b)| (a.channels, a.extent()) == (b.channels, b.extent()));
        if !fits {
            return Err(Error::Shape(format!(
                "cannot write {}: the signals do not have the shapes of those read",
                path.display()
            )));
        }
        Ok(signals
            .iter()
            .flat_map(|s| s.data.iter().copied())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_signals_round_trip_in_their_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.npy");
        let values: Vec<f32> = (0..2 * 3 * 10).map(|i| i as f32).collect();
        npy::write_npy(&path, &NpyArray::from_f32(vec![2, 3, 10], &values).unwrap()).unwrap();
        let file = SignalFile::read(&path, 1).unwrap();
        assert_eq!(file.signals.len(), 2);
        assert_eq!(file.signals[1].data, values[30..]);
        assert_eq!(file.code_shape(5), [2, 5, 10]);
        let out = dir.path().join("back.npy");
        file.write_like(&out, &file.signals).unwrap();
        let back = npy::read_array(&out).unwrap();
        assert_eq!(back.header.shape, [2, 3, 10]);
        assert_eq!(back.to_f32_vec().unwrap(), values);
        // Read as 2-D: three channels of 2×10? No — (2, 3, 10) is (C, H, W).
        let as_2d = SignalFile::read(&path, 2).unwrap();
        assert_eq!(as_2d.code_shape(4), [4, 3, 10]);
    }

    #[test]
    fn wav_is_one_batched_signal_written_back_as_float_wav() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let audio = Audio::new(22050, 2, (0..40).map(|i| i as f32 / 64.0).collect()).unwrap();
        wav::write_wav(&path, &audio, WavSampleFormat::I16).unwrap();
        let file = SignalFile::read(&path, 1).unwrap();
        assert!(file.batched);
        assert_eq!(file.code_shape(3), [1, 3, 20]);
        assert_eq!(file.signals[0].data, audio.samples);
        let out = dir.path().join("b.wav");
        file.write_like(&out, &file.signals).unwrap();
        let back = wav::read_wav(&out).unwrap();
        assert_eq!(
            (back.sample_rate, back.format, back.shape()),
            (22050, WavSampleFormat::F32, [2, 20])
        );
        assert_eq!(back.samples, audio.samples);
        // Signals of another shape are refused and nothing is written.
        let short = Planes::with_extent(2, [1, 1, 19], vec![0.0; 38]).unwrap();
        let bad = dir.path().join("c.wav");
        assert!(file.write_like(&bad, &[short]).is_err());
        assert!(!bad.exists());
    }

    #[test]
    fn wav_is_only_one_dimensional_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let audio = Audio::new(8000, 1, vec![0.25; 16]).unwrap();
        wav::write_wav(&path, &audio, WavSampleFormat::I16).unwrap();
        for d in [2, 3] {
            let e = SignalFile::read(&path, d).unwrap_err().to_string();
            assert!(e.contains("a.wav") && e.contains("1-D"), "{e}");
        }
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let e = SignalFile::read(&path, 1).unwrap_err().to_string();
        assert!(e.contains("a.wav: file is truncated"), "{e}");
        assert_eq!(
            signal_shape_of(&path).unwrap().as_shape(),
            SignalShape::Audio
        );
    }
}
