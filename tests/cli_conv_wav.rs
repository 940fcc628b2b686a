//! `lca encode` and `lca reconstruct` on `.wav` recordings with 1-D
//! convolutional dictionaries: inferred 1-D, codes as the library computes
//! them, the reconstruction written back as a float `.wav` at the input's
//! sample rate with the SNR reported, and bad recordings refused with one
//! line naming the file and nothing written.

mod common;

use std::path::Path;

use common::cli::{assert_fails, lca};
use lca::conv::{Boundary, ConvDictionary, ConvLcaParams, Planes};
use lca::io::npy::{self, NpyArray};
use lca::io::wav::{self, Audio, WavSampleFormat};

/// `m` unit-norm damped cosines of `k` taps over `channels` channels,
/// written to `path` as `(m, channels, k)`.
fn write_filters(path: &Path, m: usize, channels: usize, k: usize) -> ConvDictionary {
    let mut taps = Vec::new();
    for f in 0..m {
        let freq = 0.03 + 0.4 * f as f32 / m as f32;
        for c in 0..channels {
            let row: Vec<f32> = (0..k)
                .map(|t| {
                    let u = t as f32 - k as f32 / 2.0;
                    (-(u / (k as f32 / 4.0)).powi(2)).exp()
                        * (std::f32::consts::TAU * freq * u + c as f32).cos()
                })
                .collect();
            taps.extend(row);
        }
    }
    let per = channels * k;
    for f in taps.chunks_mut(per) {
        let n = f.iter().map(|x| x * x).sum::<f32>().sqrt();
        f.iter_mut().for_each(|x| *x /= n);
    }
    npy::write_npy(
        path,
        &NpyArray::from_f32(vec![m, channels, k], &taps).unwrap(),
    )
    .unwrap();
    ConvDictionary::with_shape(m, channels, &[k], taps).unwrap()
}

/// A chirp-and-clicks recording of `frames` samples per channel, stored as
/// 16-bit PCM; returns the samples as read back (quantised).
fn write_recording(path: &Path, rate: u32, channels: usize, frames: usize) -> Audio {
    let samples: Vec<f32> = (0..channels * frames)
        .map(|i| {
            let (c, t) = (i / frames, (i % frames) as f32);
            let chirp = (0.002 * t * t / frames as f32 * 40.0 + c as f32).sin();
            let click = if (i % frames).is_multiple_of(97) {
                0.4
            } else {
                0.0
            };
            0.3 * chirp + click
        })
        .collect();
    let audio = Audio::new(rate, channels, samples).unwrap();
    wav::write_wav(path, &audio, WavSampleFormat::I16).unwrap();
    wav::read_wav(path).unwrap()
}

fn read(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let a = npy::read_array(path).unwrap();
    (a.header.shape.clone(), a.to_f32_vec().unwrap())
}

fn succeeded(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_wav_is_inferred_one_dimensional_and_coded_as_the_library_codes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = write_filters(&dir.path().join("F.npy"), 6, 1, 16);
    let audio = write_recording(&dir.path().join("s.wav"), 8000, 1, 400);
    let out = lca(
        &[
            "encode", "-d", "F.npy", "-i", "s.wav", "-o", "A.npy", "--json",
        ],
        dir.path(),
    );
    succeeded(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["dims"].as_u64(), summary["dims_given"].as_bool()),
        (Some(1), Some(false))
    );
    let (shape, codes) = read(&dir.path().join("A.npy"));
    assert_eq!(shape, [1, 6, 400]);
    let x = Planes::with_extent(1, [1, 1, 400], audio.samples.clone()).unwrap();
    let want = ConvLcaParams::new()
        .check()
        .unwrap()
        .encode_one(&d, &x, None)
        .unwrap();
    assert_eq!(codes, want.codes.data, "bit for bit");
    assert!(want.codes.nnz() > 0);

    // --dims 1 says the same; --dims 2 or 3 is refused, naming the file.
    let given = lca(
        &[
            "encode", "-d", "F.npy", "-i", "s.wav", "-o", "B.npy", "--dims", "1",
        ],
        dir.path(),
    );
    succeeded(&given);
    assert_eq!(read(&dir.path().join("B.npy")).1, codes);
    for d in ["2", "3"] {
        let out = lca(
            &[
                "encode", "-d", "F.npy", "-i", "s.wav", "-o", "C.npy", "--dims", d,
            ],
            dir.path(),
        );
        assert_fails(&out, &["s.wav", "1-D", &format!("--dims {d}")]);
        assert!(!dir.path().join("C.npy").exists());
    }
}

#[test]
fn reconstruct_writes_a_float_wav_at_the_input_rate_and_reports_its_snr() {
    let dir = tempfile::tempdir().unwrap();
    let d = write_filters(&dir.path().join("F.npy"), 8, 2, 12);
    let audio = write_recording(&dir.path().join("st.wav"), 11025, 2, 300);
    let out = lca(
        &[
            "reconstruct",
            "-d",
            "F.npy",
            "st.wav",
            "-o",
            "rec",
            "--lambda",
            "0.02",
            "--json",
        ],
        dir.path(),
    );
    succeeded(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["dims"], 1);

    let back = wav::read_wav(&dir.path().join("rec/st.recon.wav")).unwrap();
    assert_eq!(
        (back.sample_rate, back.format, back.shape()),
        (11025, WavSampleFormat::F32, [2, 300])
    );
    // The .npy outputs beside it: the same reconstruction, and the codes.
    let (rshape, recon) = read(&dir.path().join("rec/st.recon.npy"));
    assert_eq!((rshape, &recon), (vec![1, 2, 300], &back.samples));
    let (cshape, codes) = read(&dir.path().join("rec/st.codes.npy"));
    assert_eq!(cshape, [1, 8, 300]);
    // The reconstruction is the codes through the filters (the library's
    // synthesis), and the SNR reported is that of the file written.
    let a = Planes::with_extent(8, [1, 1, 300], codes).unwrap();
    let want = lca::conv::reconstruct(&d, &a, Boundary::default()).unwrap();
    assert_eq!(want.data, back.samples);
    let (signal, error) = audio
        .samples
        .iter()
        .zip(&back.samples)
        .fold((0.0f64, 0.0f64), |(s, e), (&x, &y)| {
            (s + f64::from(x).powi(2), e + f64::from(x - y).powi(2))
        });
    let snr = 10.0 * (signal / error).log10();
    let reported = summary["images"][0]["snr"].as_f64().unwrap();
    assert!(
        (reported - snr).abs() < 1e-6 * snr.abs(),
        "{reported} vs {snr}"
    );
    assert!(snr > 3.0, "a poor reconstruction: {snr} dB");
}

/// A 16-bit mono recording with one field of its fmt chunk overwritten.
fn patched(path: &Path, offset: usize, value: &[u8]) {
    write_recording(path, 8000, 1, 200);
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"fmt ").unwrap() + 8 + offset;
    bytes[at..at + value.len()].copy_from_slice(value);
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn bad_recordings_get_one_line_naming_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    write_filters(&dir.path().join("F.npy"), 4, 1, 9);
    write_filters(&dir.path().join("F2.npy"), 4, 2, 9);
    write_filters(&dir.path().join("Long.npy"), 4, 1, 301);
    write_recording(&dir.path().join("ok.wav"), 8000, 1, 200);
    // Truncated: the data chunk cut short.
    let cut = dir.path().join("cut.wav");
    write_recording(&cut, 8000, 1, 200);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    // A zero sample rate (and byte rate, kept consistent).
    let zero = dir.path().join("zero.wav");
    patched(&zero, 4, &0u32.to_le_bytes());
    let mut b = std::fs::read(&zero).unwrap();
    let at = b.windows(4).position(|w| w == b"fmt ").unwrap() + 16;
    b[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&zero, &b).unwrap();
    // Not a recording at all.
    std::fs::write(dir.path().join("text.wav"), b"hello, world").unwrap();

    let cases: [(&str, &str, &[&str]); 5] = [
        ("F.npy", "cut.wav", &["cut.wav", "truncated"]),
        ("F.npy", "zero.wav", &["zero.wav", "zero sample rate"]),
        ("F.npy", "text.wav", &["text.wav", "not a .wav file"]),
        (
            "F2.npy",
            "ok.wav",
            &["ok.wav", "1 channel(s)", "F2.npy", "2"],
        ),
        (
            "Long.npy",
            "ok.wav",
            &["ok.wav", "smaller than the 301 filters"],
        ),
    ];
    for (dict, input, needles) in cases {
        let out = lca(
            &["encode", "-d", dict, "-i", input, "-o", "A.npy"],
            dir.path(),
        );
        assert_fails(&out, needles);
        assert!(!dir.path().join("A.npy").exists(), "{input}");
        // lca reconstruct reads every file before writing: a good one first.
        let out = lca(
            &["reconstruct", "-d", dict, "ok.wav", input, "-o", "rec"],
            dir.path(),
        );
        assert_fails(&out, needles);
        assert!(!dir.path().join("rec").exists(), "{input}");
    }
}
