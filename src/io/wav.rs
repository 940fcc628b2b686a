//! WAVE (`.wav`) audio, the 1-D signals users sparse-code with convolutional
//! LCA: read into the channels-first `(C, T)` layout the 1-D solvers take
//! (one signal of `(N, C, T)`), written back from it.
//!
//! The RIFF chunks are parsed by `hound`; this module adds what a file from
//! outside needs before anything is allocated: the data size the header
//! declares is checked against what the file holds (a truncated file is one
//! clear error, not a partial signal or an allocation sized by a corrupt
//! header), and a zero sample rate or zero channels is refused. Outputs go
//! through [`write_atomic`], so an interrupted write leaves no partial `.wav`.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use crate::error::{Error, Result, check_finite};

use super::atomic::write_atomic;

/// How samples are stored in a `.wav` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WavSampleFormat {
    /// Unsigned 8-bit integers (offset 128).
    U8,
    /// Signed 16-bit integers, the usual CD and speech-corpus format.
    I16,
    /// Signed 24-bit integers (in 3-byte or 4-byte containers when read).
    I24,
    /// Signed 32-bit integers.
    I32,
    /// 32-bit IEEE floats, stored as they are (not clipped).
    F32,
}

impl WavSampleFormat {
    /// Bits of an integer format; `None` for floats.
    fn int_bits(self) -> Option<u16> {
        match self {
            WavSampleFormat::U8 => Some(8),
            WavSampleFormat::I16 => Some(16),
            WavSampleFormat::I24 => Some(24),
            WavSampleFormat::I32 => Some(32),
            WavSampleFormat::F32 => None,
        }
    }

    fn spec(self, channels: u16, sample_rate: u32) -> hound::WavSpec {
        let (bits_per_sample, sample_format) = match self.int_bits() {
            Some(bits) => (bits, hound::SampleFormat::Int),
            None => (32, hound::SampleFormat::Float),
        };
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample,
            sample_format,
        }
    }
}

/// Audio in the channels-first layout of the 1-D convolutional solvers.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Samples per second per channel (never 0).
    pub sample_rate: u32,
    /// Number of channels `C` (never 0).
    pub channels: usize,
    /// Samples per channel `T`.
    pub frames: usize,
    /// `C × T` values, channel after channel (row-major `(C, T)`): channel
    /// `c` is `samples[c * frames..(c + 1) * frames]`. Integer formats are
    /// scaled to [-1, 1) by dividing by 2^(bits-1).
    pub samples: Vec<f32>,
    /// How the samples were stored in the file read (for writing back alike).
    pub format: WavSampleFormat,
}

impl Audio {
    /// Audio from channels-first samples; `samples.len()` must be `channels
    /// × frames`, and `channels` and `sample_rate` must be positive.
    pub fn new(sample_rate: u32, channels: usize, samples: Vec<f32>) -> Result<Audio> {
        if sample_rate == 0 {
            return Err(Error::setting("sample_rate", "must be positive"));
        }
        if channels == 0 || !samples.len().is_multiple_of(channels) {
            return Err(Error::Shape(format!(
                "{} samples do not split into {channels} channel(s) of equal length",
                samples.len()
            )));
        }
        Ok(Audio {
            sample_rate,
            channels,
            frames: samples.len() / channels,
            samples,
            format: WavSampleFormat::F32,
        })
    }

    /// The `(C, T)` shape.
    pub fn shape(&self) -> [usize; 2] {
        [self.channels, self.frames]
    }

    /// The samples of channel `c`.
    pub fn channel(&self, c: usize) -> &[f32] {
        &self.samples[c * self.frames..(c + 1) * self.frames]
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / self.sample_rate as f64
    }
}

/// Counts the bytes read through it, shared with the caller, so we learn
/// where the data chunk starts after `hound` has parsed the header.
struct CountingReader<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// One line for a `hound` error about `path`. `at_end` says whether every
/// byte of the file had been read (`hound` reports an early end as a plain
/// I/O error); `in_data` whether the header was complete by then.
fn wav_error(path: &Path, e: hound::Error, at_end: bool, in_data: bool) -> Error {
    match e {
        hound::Error::IoError(_) if at_end => {
            let what = if in_data {
                "the data chunk ends early"
            } else {
                "the header is incomplete or there is no data chunk"
            };
            Error::format(path, format!("file is truncated: {what}"))
        }
        hound::Error::IoError(e) => Error::io(path, e),
        hound::Error::FormatError(m) => Error::format(path, format!("invalid .wav header: {m}")),
        _ => Error::format(
            path,
            "unsupported .wav encoding: only PCM integers (8, 16, 24, 32 bits) and 32-bit \
             floats are read",
        ),
    }
}

/// Reads a `.wav` file into channels-first `(C, T)` audio.
///
/// Accepts PCM integers of 8, 16, 24 (3- or 4-byte containers) and 32 bits,
/// scaled to [-1, 1), and 32-bit floats, kept as they are; any number of
/// channels (interleaved in the file, split into rows here). Refused, with
/// one error naming the file: a file that is not RIFF/WAVE, a header that
/// declares more samples than the file holds (truncated), zero channels, a
/// zero sample rate, other encodings. Memory is bounded by the file's size,
/// whatever its header claims.
///
/// ```
/// use lca::io::wav::{self, Audio, WavSampleFormat};
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("two.wav");
/// // Two channels of three samples, channels first.
/// let audio = Audio::new(16000, 2, vec![0.5, -0.25, 0.0, 1.0, 0.125, -1.0]).unwrap();
/// wav::write_wav(&path, &audio, WavSampleFormat::F32).unwrap();
/// let back = wav::read_wav(&path).unwrap();
/// assert_eq!((back.shape(), back.sample_rate), ([2, 3], 16000));
/// assert_eq!(back.channel(1), [1.0, 0.125, -1.0]);
/// ```
pub fn read_wav(path: &Path) -> Result<Audio> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::format(path, "is a directory, not a .wav file"));
    }
    let file_len = meta.len();
    check_riff_wave(&mut file, path)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;

    let count = Rc::new(Cell::new(0u64));
    let counting = CountingReader {
        inner: BufReader::new(file),
        count: Rc::clone(&count),
    };
    let reader = hound::WavReader::new(counting)
        .map_err(|e| wav_error(path, e, count.get() >= file_len, false))?;
    let spec = reader.spec();
    if spec.channels == 0 {
        return Err(Error::format(path, "invalid .wav header: zero channels"));
    }
    if spec.sample_rate == 0 {
        return Err(Error::format(path, "invalid .wav header: zero sample rate"));
    }
    let format = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => WavSampleFormat::F32,
        (hound::SampleFormat::Int, 8) => WavSampleFormat::U8,
        (hound::SampleFormat::Int, 16) => WavSampleFormat::I16,
        (hound::SampleFormat::Int, 24) => WavSampleFormat::I24,
        (hound::SampleFormat::Int, 32) => WavSampleFormat::I32,
        (_, bits) => {
            return Err(Error::format(
                path,
                format!("unsupported .wav encoding: {bits}-bit samples"),
            ));
        }
    };

    // The header's claim against the bytes after it; a 24-bit sample takes
    // at least 3 bytes (4 in some files, which then end early while reading).
    let total = reader.len() as u64;
    let declared = total * u64::from(spec.bits_per_sample / 8);
    let held = file_len.saturating_sub(count.get());
    if declared > held {
        return Err(Error::format(
            path,
            format!(
                "file is truncated: the header declares {total} samples ({declared} bytes) \
                 but only {held} bytes of data follow"
            ),
        ));
    }

    let channels = usize::from(spec.channels);
    let frames = total as usize / channels;
    let mut samples = vec![0f32; frames * channels];
    let mut put = |i: usize, v: f32| samples[(i % channels) * frames + i / channels] = v;
    match format.int_bits() {
        None => {
            for (i, s) in reader.into_samples::<f32>().enumerate() {
                put(
                    i,
                    s.map_err(|e| wav_error(path, e, count.get() >= file_len, true))?,
                );
            }
        }
        Some(bits) => {
            let scale = 1.0 / f64::from(1u32 << (bits - 1));
            for (i, s) in reader.into_samples::<i32>().enumerate() {
                let v = s.map_err(|e| wav_error(path, e, count.get() >= file_len, true))?;
                put(i, (f64::from(v) * scale) as f32);
            }
        }
    }
    Ok(Audio {
        sample_rate: spec.sample_rate,
        channels,
        frames,
        samples,
        format,
    })
}

/// Fails unless the file starts with `RIFF....WAVE`, so that another kind of
/// file gets "not a .wav file" rather than a puzzling header error.
fn check_riff_wave(file: &mut File, path: &Path) -> Result<()> {
    let mut head = [0u8; 12];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    if got == 0 {
        return Err(Error::format(path, "not a .wav file: the file is empty"));
    }
    if got < 12 || &head[..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(Error::format(
            path,
            "not a .wav file: it does not start with a RIFF/WAVE header",
        ));
    }
    Ok(())
}

/// Writes channels-first audio as a `.wav` file in `format`, atomically.
///
/// Channels are interleaved as the format requires. Integer formats scale
/// by 2^(bits-1), round, and clip to the format's range (so values read by
/// [`read_wav`] from a file of the same format come back exactly); `F32`
/// stores the values unchanged. Refused: non-finite values, more than 65535
/// channels, and data beyond the format's 4 GiB limit.
pub fn write_wav(path: &Path, audio: &Audio, format: WavSampleFormat) -> Result<()> {
    let shape_error = |m: String| Error::Shape(format!("cannot write {}: {m}", path.display()));
    if audio.channels.checked_mul(audio.frames) != Some(audio.samples.len()) {
        return Err(shape_error(format!(
            "{} channel(s) of {} samples need {} values, got {}",
            audio.channels,
            audio.frames,
            audio.channels.saturating_mul(audio.frames),
            audio.samples.len()
        )));
    }
    let channels = u16::try_from(audio.channels)
        .ok()
        .filter(|&c| c > 0)
        .ok_or_else(|| shape_error(format!("{} channels (1 to 65535)", audio.channels)))?;
    if audio.sample_rate == 0 {
        return Err(Error::setting("sample_rate", "must be positive"));
    }
    let spec = format.spec(channels, audio.sample_rate);
    let bytes = audio.samples.len() as u64 * u64::from(spec.bits_per_sample / 8);
    // The RIFF size field is 32 bits and also covers the header (< 100 bytes).
    if bytes > u64::from(u32::MAX) - 100 {
        return Err(shape_error(format!(
            "{bytes} bytes of samples exceed the .wav limit of 4 GiB"
        )));
    }
    check_finite("audio", &audio.samples)?;

    let to_io = |e: hound::Error| match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    };
    let (channels, frames) = (audio.channels, audio.frames);
    write_atomic(path, |w| {
        let mut writer = hound::WavWriter::new(w, spec).map_err(to_io)?;
        let interleaved = (0..frames).flat_map(|t| (0..channels).map(move |c| c * frames + t));
        match format.int_bits() {
            None => {
                for i in interleaved {
                    writer.write_sample(audio.samples[i]).map_err(to_io)?;
                }
            }
            Some(bits) => {
                let full = f64::from(1u32 << (bits - 1));
                for i in interleaved {
                    let q = (f64::from(audio.samples[i]) * full)
                        .round()
                        .clamp(-full, full - 1.0);
                    writer.write_sample(q as i32).map_err(to_io)?;
                }
            }
        }
        writer.finalize().map_err(to_io)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of interleaved integer or float samples written by `hound`
    /// directly, independent of [`write_wav`].
    fn hound_file(path: &Path, spec: hound::WavSpec, interleaved: &[f64]) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for &v in interleaved {
            match spec.sample_format {
                hound::SampleFormat::Float => w.write_sample(v as f32).unwrap(),
                hound::SampleFormat::Int => w.write_sample(v as i32).unwrap(),
            }
        }
        w.finalize().unwrap();
    }

    fn spec(channels: u16, bits: u16, float: bool) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: 8000,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        }
    }

    fn message(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn sixteen_bit_round_trip_is_exact_and_scaled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let ints = [-32768i32, -1, 0, 1, 12345, 32767];
        hound_file(&path, spec(1, 16, false), &ints.map(f64::from));
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.format, WavSampleFormat::I16);
        let expect: Vec<f32> = ints.iter().map(|&v| v as f32 / 32768.0).collect();
        assert_eq!(audio.samples, expect);
        assert!(audio.samples.iter().all(|v| (-1.0..1.0).contains(v)));

        let again = dir.path().join("b.wav");
        write_wav(&again, &audio, WavSampleFormat::I16).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&again).unwrap()
        );
        assert_eq!(read_wav(&again).unwrap(), audio);
    }

    #[test]
    fn float_and_wide_integer_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.wav");
        let values = vec![0.1f32, -0.7, 1.5, -2.0, 1e-7, 0.0];
        let audio = Audio::new(44100, 2, values.clone()).unwrap();
        write_wav(&path, &audio, WavSampleFormat::F32).unwrap();
        let back = read_wav(&path).unwrap();
        assert_eq!(back.samples, values, "floats are stored unchanged");
        assert_eq!(
            (back.sample_rate, back.format),
            (44100, WavSampleFormat::F32)
        );

        for (format, bits) in [(WavSampleFormat::I24, 24), (WavSampleFormat::I32, 32)] {
            let step = 1.0 / f64::from(1u32 << (bits - 1));
            let clipped = [0.25f32, -1.0, 0.999, -0.5, 0.0, 0.75];
            let a = Audio::new(8000, 3, clipped.to_vec()).unwrap();
            write_wav(&path, &a, format).unwrap();
            let b = read_wav(&path).unwrap();
            assert_eq!(b.format, format);
            for (x, y) in clipped.iter().zip(&b.samples) {
                assert!(f64::from((x - y).abs()) <= step, "{bits} bits: {x} vs {y}");
            }
        }
    }

    #[test]
    fn integer_writes_clip_to_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.wav");
        let a = Audio::new(8000, 1, vec![1.0, -1.0, 3.0, -3.0]).unwrap();
        write_wav(&path, &a, WavSampleFormat::I16).unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        let raw: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(raw, [32767, -32768, 32767, -32768]);
    }

    #[test]
    fn multichannel_files_are_split_channels_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wav");
        // Interleaved frames (c0, c1, c2) of values 100 * c + t.
        let (channels, frames) = (3usize, 5usize);
        let interleaved: Vec<f64> = (0..frames)
            .flat_map(|t| (0..channels).map(move |c| (100 * c + t) as f64))
            .collect();
        hound_file(&path, spec(channels as u16, 16, false), &interleaved);
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.shape(), [channels, frames]);
        for c in 0..channels {
            let expect: Vec<f32> = (0..frames)
                .map(|t| (100 * c + t) as f32 / 32768.0)
                .collect();
            assert_eq!(audio.channel(c), expect, "channel {c}");
        }
        // And back: our writer interleaves in the same order.
        let out = dir.path().join("m2.wav");
        write_wav(&out, &audio, WavSampleFormat::I16).unwrap();
        let mut r = hound::WavReader::open(&out).unwrap();
        let raw: Vec<f64> = r.samples::<i32>().map(|s| f64::from(s.unwrap())).collect();
        assert_eq!(raw, interleaved);
    }

    #[test]
    fn truncated_file_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let a = Audio::new(8000, 2, vec![0.25; 2000]).unwrap();
        write_wav(&path, &a, WavSampleFormat::I16).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let e = message(read_wav(&path).unwrap_err());
        assert!(
            e.contains("t.wav") && e.contains("file is truncated"),
            "{e}"
        );
        assert!(e.contains("declares 2000 samples"), "{e}");
        // Cut inside the header.
        std::fs::write(&path, &bytes[..30]).unwrap();
        let e = message(read_wav(&path).unwrap_err());
        assert!(e.contains("t.wav") && e.contains("truncated"), "{e}");
    }

    #[test]
    fn truncation_found_while_reading_is_the_same_error() {
        // 24-bit samples in 4-byte containers: the size check before reading
        // counts 3 bytes a sample, so this cut is found by the read itself.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.wav");
        let spec_ex = hound::WavSpecEx {
            spec: spec(1, 24, false),
            bytes_per_sample: 4,
        };
        let file = std::io::BufWriter::new(File::create(&path).unwrap());
        let mut w = hound::WavWriter::new_with_spec_ex(file, spec_ex).unwrap();
        for v in [-8_388_608i32, 4_194_304, 0, 8_388_607] {
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.samples, [-1.0, 0.5, 0.0, 8_388_607.0 / 8_388_608.0]);
        assert_eq!(audio.format, WavSampleFormat::I24);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let e = message(read_wav(&path).unwrap_err());
        assert_eq!(
            e,
            format!(
                "{}: file is truncated: the data chunk ends early",
                path.display()
            )
        );
    }

    #[test]
    fn huge_declared_length_is_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.wav");
        let a = Audio::new(8000, 1, vec![0.5; 4]).unwrap();
        write_wav(&path, &a, WavSampleFormat::F32).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        // The data chunk's size field follows the "data" tag.
        let at = bytes.windows(4).position(|w| w == b"data").unwrap() + 4;
        bytes[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let e = message(read_wav(&path).unwrap_err());
        assert!(e.contains("h.wav: file is truncated"), "{e}");
    }

    /// Sets the fmt chunk's little-endian field at `offset` (from the chunk's
    /// data start) in a file written by `write_wav` with one channel.
    fn patch_fmt(path: &Path, offset: usize, value: &[u8]) {
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes.windows(4).position(|w| w == b"fmt ").unwrap() + 8 + offset;
        bytes[at..at + value.len()].copy_from_slice(value);
        std::fs::write(path, &bytes).unwrap();
    }

    #[test]
    fn zero_sample_rate_and_zero_channels_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.wav");
        let a = Audio::new(8000, 1, vec![0.5; 4]).unwrap();
        write_wav(&path, &a, WavSampleFormat::I16).unwrap();
        // Sample rate at 4, byte rate at 8 (kept consistent: rate × block).
        patch_fmt(&path, 4, &0u32.to_le_bytes());
        patch_fmt(&path, 8, &0u32.to_le_bytes());
        let e = message(read_wav(&path).unwrap_err());
        assert_eq!(
            e,
            format!("{}: invalid .wav header: zero sample rate", path.display())
        );

        write_wav(&path, &a, WavSampleFormat::I16).unwrap();
        patch_fmt(&path, 2, &0u16.to_le_bytes());
        let e = message(read_wav(&path).unwrap_err());
        assert!(
            e.starts_with(&format!("{}: invalid .wav header", path.display())),
            "{e}"
        );
        assert!(e.contains("zero channels"), "{e}");
    }

    #[test]
    fn other_files_are_not_wav() {
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("x.npy");
        crate::io::npy::write_matrix(&npy, 1, 2, &[1.0, 2.0]).unwrap();
        let e = message(read_wav(&npy).unwrap_err());
        assert_eq!(
            e,
            format!(
                "{}: not a .wav file: it does not start with a RIFF/WAVE header",
                npy.display()
            )
        );
        let empty = dir.path().join("e.wav");
        std::fs::write(&empty, b"").unwrap();
        assert!(message(read_wav(&empty).unwrap_err()).ends_with("the file is empty"));
        let missing = dir.path().join("missing.wav");
        assert!(message(read_wav(&missing).unwrap_err()).contains("missing.wav"));
    }

    #[test]
    fn reads_the_committed_clip() {
        // assets/speech_like_16k.wav, written by scripts/make_audio_clip.py with
        // Python's `wave`: 4 s of 16 kHz mono 16-bit, peak -3 dBFS.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/speech_like_16k.wav");
        let audio = read_wav(&path).unwrap();
        assert_eq!((audio.sample_rate, audio.shape()), (16000, [1, 64000]));
        assert_eq!(audio.format, WavSampleFormat::I16);
        let peak = audio.samples.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!((peak - 0.7079).abs() < 1e-3, "peak {peak}");
    }

    #[test]
    fn bad_audio_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.wav");
        let mut a = Audio::new(8000, 1, vec![0.5, f32::NAN]).unwrap();
        assert!(write_wav(&path, &a, WavSampleFormat::F32).is_err());
        a.samples.pop();
        assert!(
            write_wav(&path, &a, WavSampleFormat::F32).is_err(),
            "shape mismatch"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(Audio::new(0, 1, vec![0.0]).is_err());
        assert!(Audio::new(8000, 2, vec![0.0; 3]).is_err());
    }
}
