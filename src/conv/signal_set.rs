//! The training signals of a convolutional learning run read from files: a
//! folder of pictures (2-D, today's `lca learn --conv DIR`), a folder of
//! `.wav` recordings (1-D) or one `.npy` of signals in a layout of its
//! dimension (module `dims`), and the rule that picks the dimension of each
//! ([`learning_dims`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dims::{SignalShape, check_dims, infer_signal_dims};
use super::planes::Planes;
use super::signal_file::{SignalFile, SignalFileKind, SignalSource};
use crate::error::{Error, Result};
use crate::image::ImageSet;

/// The dimension of `lca learn --conv INPUT [--dims D]`: `explicit` where
/// given, checked against the input, else the input's own — the embedded
/// photos and a folder of pictures are 2-D, a folder of `.wav` files 1-D,
/// an `.npy` what its shape allows ([`infer_signal_dims`]: an ambiguous rank
/// asks for `--dims`). Errors name the file.
///
/// ```
/// use lca::conv::learning_dims;
/// assert_eq!(learning_dims(None, None, false).unwrap(), 2);
/// assert!(learning_dims(None, Some(1), false).is_err());
/// ```
pub fn learning_dims(
    input: Option<&Path>,
    explicit: Option<usize>,
    recursive: bool,
) -> Result<usize> {
    if let Some(d) = explicit {
        check_dims(d)?;
    }
    let Some(path) = input else {
        return match explicit {
            None | Some(2) => Ok(2),
            Some(d) => Err(Error::setting(
                "dims",
                format!("the embedded photos are 2-D, not {d}-D (--dims {d})"),
            )),
        };
    };
    if path.is_dir() {
        let wavs = wav_files(path, recursive)?;
        let wavs = if has_pictures(path)? {
            Vec::new()
        } else {
            wavs
        };
        return match (wavs.first(), explicit) {
            (Some(_), None | Some(1)) => Ok(1),
            (Some(first), Some(d)) => Err(Error::format(
                first,
                format!("a .wav file is 1-D, not {d}-D (--dims {d})"),
            )),
            (None, None | Some(2)) => Ok(2),
            (None, Some(d)) => Err(Error::format(
                path,
                format!(
                    "a folder of pictures is 2-D, not {d}-D (--dims {d}); {d}-D signals come from {}",
                    if d == 1 {
                        "a folder of .wav files or an .npy"
                    } else {
                        "an .npy"
                    }
                ),
            )),
        };
    }
    match SignalFileKind::of(path) {
        SignalFileKind::Npy => {
            let shape = crate::io::npy::read_shape(path)?;
            infer_signal_dims(explicit, SignalShape::Array(&shape))
                .map_err(|e| Error::format(path, e.to_string()))
        }
        SignalFileKind::Wav => Err(Error::format(
            path,
            "learning reads a folder of .wav files, not one: put it in a folder",
        )),
        SignalFileKind::Picture => Err(Error::format(
            path,
            "learning reads a folder of pictures or .wav files, or an .npy of signals",
        )),
    }
}

/// Extensions of the pictures a folder run reads.
const PICTURE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp"];

/// Whether `dir` holds a picture (then it is a folder of pictures, as it
/// always was, whatever else it holds).
fn has_pictures(dir: &Path) -> Result<bool> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let ext = (path.extension().and_then(|e| e.to_str())).map(str::to_ascii_lowercase);
        if ext.is_some_and(|e| PICTURE_EXTENSIONS.contains(&e.as_str())) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `.wav` files of `dir` (and its sub-folders when `recursive`), by name.
fn wav_files(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&folder, e))?.path();
            if path.is_dir() {
                if recursive {
                    folders.push(path);
                }
            } else if SignalFileKind::of(&path) == SignalFileKind::Wav {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The signals a run learns from.
pub(crate) enum SignalSet {
    /// Pictures, decoded on demand (2-D).
    Pictures(Arc<ImageSet>),
    /// Recordings or the items of an `.npy`, all in memory.
    Signals(Vec<Arc<Planes>>),
}

impl SignalSet {
    /// The `dims`-dimensional signals of a folder of `.wav` files or an
    /// `.npy` (pictures are opened by the caller). Every signal has the
    /// first one's channels, and the recordings its sample rate.
    pub(crate) fn read(input: &Path, dims: usize, recursive: bool) -> Result<SignalSet> {
        if input.is_dir() {
            let mut signals = Vec::new();
            let mut first: Option<(PathBuf, usize, u32)> = None;
            for path in wav_files(input, recursive)? {
                let file = SignalFile::read(&path, dims)?;
                let SignalSource::Wav { sample_rate } = file.source else {
                    unreachable!("a .wav file reads as a recording")
                };
                let signal = file.signals.into_iter().next().expect("one recording");
                match &first {
                    None => first = Some((path.clone(), signal.channels, sample_rate)),
                    Some((p, c, rate)) => {
                        if signal.channels != *c || sample_rate != *rate {
                            return Err(Error::format(
                                &path,
                                format!(
                                    "{} channel(s) at {sample_rate} Hz, but {} has {c} at {rate} Hz: the recordings of a run must agree",
                                    signal.channels,
                                    p.display()
                                ),
                            ));
                        }
                    }
                }
                signals.push(Arc::new(signal));
            }
            if signals.is_empty() {
                return Err(Error::format(input, "holds no .wav file"));
            }
            return Ok(SignalSet::Signals(signals));
        }
        let file = SignalFile::read(input, dims)?;
        Ok(SignalSet::Signals(
            file.signals.into_iter().map(Arc::new).collect(),
        ))
    }

    /// Number of signals.
    pub(crate) fn len(&self) -> usize {
        match self {
            SignalSet::Pictures(set) => set.len(),
            SignalSet::Signals(s) => s.len(),
        }
    }

    /// Channels of every signal.
    pub(crate) fn channels(&self) -> usize {
        match self {
            SignalSet::Pictures(set) => set.channels(),
            SignalSet::Signals(s) => s[0].channels,
        }
    }

    /// Extent `[D, H, W]` of signal `i` (without decoding a picture).
    pub(crate) fn extent(&self, i: usize) -> [usize; 3] {
        match self {
            SignalSet::Pictures(set) => {
                let (w, h) = set.dims(i);
                [1, h, w]
            }
            SignalSet::Signals(s) => s[i].extent(),
        }
    }

    /// Warnings of skipped files since the last call.
    pub(crate) fn take_warnings(&self) -> Vec<String> {
        match self {
            SignalSet::Pictures(set) => set.take_warnings(),
            SignalSet::Signals(_) => Vec::new(),
        }
    }

    /// Pictures decoded so far (0 for signals in memory).
    pub(crate) fn decode_count(&self) -> u64 {
        match self {
            SignalSet::Pictures(set) => set.decode_count(),
            SignalSet::Signals(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::npy::{NpyArray, write_npy};
    use crate::io::wav::{Audio, WavSampleFormat, write_wav};

    #[test]
    fn the_input_decides_the_dimension_unless_told() {
        let dir = tempfile::tempdir().unwrap();
        let wavs = dir.path().join("wavs");
        std::fs::create_dir(&wavs).unwrap();
        let audio = Audio::new(8000, 1, vec![0.1; 200]).unwrap();
        write_wav(&wavs.join("a.wav"), &audio, WavSampleFormat::I16).unwrap();
        assert_eq!(learning_dims(Some(&wavs), None, false).unwrap(), 1);
        let e = learning_dims(Some(&wavs), Some(3), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.wav") && e.contains("1-D"), "{e}");
        let pics = dir.path().join("pics");
        std::fs::create_dir(&pics).unwrap();
        assert_eq!(learning_dims(Some(&pics), None, false).unwrap(), 2);
        assert!(learning_dims(Some(&pics), Some(1), false).is_err());
        let npy = |name: &str, shape: Vec<usize>| {
            let path = dir.path().join(name);
            let n = shape.iter().product();
            write_npy(&path, &NpyArray::from_f32(shape, &vec![0.0; n]).unwrap()).unwrap();
            path
        };
        let video = npy("v.npy", vec![2, 1, 9, 9, 9]);
        assert_eq!(learning_dims(Some(&video), None, false).unwrap(), 3);
        let ambiguous = npy("s.npy", vec![2, 1, 50]);
        let e = learning_dims(Some(&ambiguous), None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.npy") && e.contains("--dims"), "{e}");
        assert!(!e.contains('\n'));
        assert_eq!(learning_dims(Some(&ambiguous), Some(1), false).unwrap(), 1);
        let e = learning_dims(Some(&video), Some(1), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("v.npy"), "{e}");
    }

    #[test]
    fn recordings_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        let mono = Audio::new(8000, 1, vec![0.1; 200]).unwrap();
        let stereo = Audio::new(8000, 2, vec![0.1; 200]).unwrap();
        write_wav(&dir.path().join("a.wav"), &mono, WavSampleFormat::I16).unwrap();
        write_wav(&dir.path().join("b.wav"), &stereo, WavSampleFormat::I16).unwrap();
        let e = SignalSet::read(dir.path(), 1, false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("b.wav") && e.contains("must agree"), "{e}");
        std::fs::remove_file(dir.path().join("b.wav")).unwrap();
        let set = SignalSet::read(dir.path(), 1, false).unwrap();
        assert_eq!(
            (set.len(), set.channels(), set.extent(0)),
            (1, 1, [1, 1, 200])
        );
    }
}
