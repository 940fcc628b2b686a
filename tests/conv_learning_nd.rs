//! Convolutional dictionary learning over 1 and 3 axes: the generic
//! statistics against a direct circular convolution written here (D = 1, 2,
//! 3), recovery of planted 1-D and 3-D filters, and `lca learn --conv --dims
//! 1|3` on folders of `.wav` files and `.npy` arrays (outputs, resume, errors).

mod common;
use common::csv_steps;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lca::conv::{CodedSignal, ConvLearner, FilterShapeNd};
use lca::io::npy::{NpyArray, read_array, write_npy};
use lca::io::wav::{Audio, WavSampleFormat, write_wav};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `x̂ = Σ_m D_m ∗ A_m` with circular boundaries, written directly: a
/// coefficient at `t` paints its filter at `t − s + i`, `s = (k − 1)/2` per axis.
fn reconstruct(shape: FilterShapeNd, filters: &[f32], codes: &[f32], e: [usize; 3]) -> Vec<f64> {
    let [d, h, w] = e;
    let [kd, kh, kw] = shape.extent;
    let s = shape.extent.map(|k| (k - 1) / 2);
    let n = d * h * w;
    let kk = kd * kh * kw;
    let mut out = vec![0.0f64; shape.channels * n];
    for m in 0..shape.atoms {
        for t in 0..n {
            let a = f64::from(codes[m * n + t]);
            if a == 0.0 {
                continue;
            }
            let (z, y, x) = (t / (h * w), t / w % h, t % w);
            for c in 0..shape.channels {
                let f = &filters[(m * shape.channels + c) * kk..][..kk];
                for i in 0..kd {
                    for j in 0..kh {
                        for l in 0..kw {
                            let zz = (z + d + i - s[0]) % d;
                            let yy = (y + h + j - s[1]) % h;
                            let xx = (x + w + l - s[2]) % w;
                            out[c * n + (zz * h + yy) * w + xx] +=
                                a * f64::from(f[(i * kh + j) * kw + l]);
                        }
                    }
                }
            }
        }
    }
    out
}

/// After one update the statistics hold exactly this batch, so the
/// surrogate plus `½‖x‖²` is `½‖x − Σ D ∗ A‖²` per sample of the new
/// filters: over 1, 2 and 3 axes, odd and even kernels, one and two channels.
#[test]
fn surrogate_is_the_data_term_of_a_direct_convolution_in_every_dimension() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let cases: [(&[usize], usize, [usize; 3]); 5] = [
        (&[7], 1, [1, 1, 23]),
        (&[4], 2, [1, 1, 16]),
        (&[3, 4], 1, [1, 9, 11]),
        (&[3, 3, 3], 1, [6, 7, 8]),
        (&[2, 3, 4], 2, [5, 6, 9]),
    ];
    for (kernel, c, e) in cases {
        let shape = FilterShapeNd::with_kernel(3, c, kernel).unwrap();
        let n: usize = e.iter().product();
        let signal: Vec<f32> = (0..c * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let codes: Vec<f32> = (0..3 * n)
            .map(|_| {
                if rng.random_range(0.0..1.0) < 0.15 {
                    rng.random_range(-1.0..1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let init = common::unit_filters(&mut rng, shape.atoms, shape.filter_len());
        let mut learner = ConvLearner::new(shape, init, 4, 1).unwrap();
        let item = CodedSignal {
            extent: e,
            signal: &signal,
            codes: &codes,
        };
        learner.update_signals(&[item]).unwrap();
        let rec = reconstruct(shape, learner.filters(), &codes, e);
        let direct: f64 = (signal.iter().zip(&rec))
            .map(|(x, r)| 0.5 * (f64::from(*x) - r).powi(2))
            .sum::<f64>()
            / n as f64;
        let energy: f64 = signal
            .iter()
            .map(|&x| 0.5 * f64::from(x).powi(2))
            .sum::<f64>()
            / n as f64;
        let via_stats = energy + learner.surrogate();
        assert!(
            (direct - via_stats).abs() < 1e-9 * energy.max(1.0),
            "kernel {kernel:?} c={c}: direct {direct} vs statistics {via_stats}"
        );
    }
}

/// A signal made of a planted filter at a few places, coded by unit spikes
/// there: the learner finds the filter from a flat start.
fn recovers(kernel: &[usize], extent: [usize; 3], spikes: &[[usize; 3]]) {
    let shape = FilterShapeNd::with_kernel(1, 1, kernel).unwrap();
    let len = shape.filter_len();
    let raw: Vec<f32> = (0..len).map(|i| ((i as f32) * 1.7).sin() + 0.3).collect();
    let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
    let target: Vec<f32> = raw.iter().map(|v| v / norm).collect();
    let n: usize = extent.iter().product();
    let mut codes = vec![0.0f32; n];
    let [_, h, w] = extent;
    for p in spikes {
        codes[(p[0] * h + p[1]) * w + p[2]] = 1.0;
    }
    let signal: Vec<f32> = reconstruct(shape, &target, &codes, extent)
        .iter()
        .map(|&v| v as f32)
        .collect();
    let mut learner = ConvLearner::new(shape, vec![1.0; len], 8, 4).unwrap();
    let item = CodedSignal {
        extent,
        signal: &signal,
        codes: &codes,
    };
    let mut last = f64::INFINITY;
    for _ in 0..30 {
        learner.update_signals(&[item]).unwrap();
        let s = learner.surrogate();
        assert!(s <= last + 1e-12, "surrogate rose: {last} → {s}");
        last = s;
    }
    let err: f32 = (learner.filters().iter().zip(&target))
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(err < 1e-3, "{kernel:?}: error {err}");
}

#[test]
fn recovers_a_planted_temporal_kernel() {
    recovers(&[9], [1, 1, 60], &[[0, 0, 5], [0, 0, 30], [0, 0, 52]]);
}

#[test]
fn recovers_a_planted_volume_kernel() {
    recovers(&[3, 3, 3], [7, 8, 9], &[[1, 2, 2], [5, 6, 6]]);
}

// ---------------------------------------------------------------------------
// The CLI.

fn lca_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lca"))
}

/// A quick 1-D run: 6 filters of 15 taps on crops of 256 samples.
const SMALL_1D: [&str; 14] = [
    "learn",
    "--conv",
    "--kernel-size",
    "15",
    "--atoms",
    "6",
    "--crop",
    "256",
    "--seed",
    "3",
    "--heldout-images",
    "1",
    "--lambda",
    "0.05",
];

/// Three clips of decaying 440 Hz / 1.1 kHz bursts at 8 kHz, the last held out.
fn wav_folder(dir: &Path) -> std::path::PathBuf {
    let folder = dir.join("clips");
    std::fs::create_dir(&folder).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for i in 0..3 {
        let mut x = vec![0.0f32; 2000];
        for _ in 0..25 {
            let at = rng.random_range(0..1900usize);
            let f = if rng.random_range(0.0..1.0) < 0.5 {
                440.0
            } else {
                1100.0
            };
            for (t, v) in x[at..].iter_mut().take(100).enumerate() {
                let time = t as f32 / 8000.0;
                *v += 0.5 * (-time * 300.0).exp() * (2.0 * std::f32::consts::PI * f * time).sin();
            }
        }
        let audio = Audio::new(8000, 1, x).unwrap();
        write_wav(
            &folder.join(format!("clip{i}.wav")),
            &audio,
            WavSampleFormat::I16,
        )
        .unwrap();
    }
    folder
}

fn npy(path: &Path, shape: Vec<usize>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    write_npy(path, &NpyArray::from_f32(shape, &data).unwrap()).unwrap();
}

fn succeeds(cmd: &mut Command) -> serde_json::Value {
    let res = cmd.output().unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    serde_json::from_slice(&res.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn temporal_kernels_from_a_wav_folder_and_from_an_npy() {
    let tmp = tempfile::tempdir().unwrap();
    let clips = wav_folder(tmp.path());
    let out = tmp.path().join("wav");
    let summary = succeeds(
        lca_cmd()
            .args(SMALL_1D)
            .args(["--steps", "6", "--heldout-every", "3", "--quiet", "--json"])
            .arg(&clips)
            .arg("--output")
            .arg(&out),
    );
    assert_eq!(summary["dims"], 1);
    assert!(summary["heldout_energy"].as_f64().unwrap() > 0.0);
    let d = read_array(&out.join("dictionary.npy")).unwrap();
    assert_eq!(d.header.shape, [6, 1, 15]);
    for f in d.to_f32_vec().unwrap().chunks(15) {
        let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "filter norm {norm}");
    }
    for f in ["atoms.png", "training.png", "config.json", "checkpoint.npz"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["conv"]["dims"], 1);
    // The learned kernels code a recording (`lca encode --dims 1`).
    lca::conv::ConvDictionary::read_npy(&out.join("dictionary.npy"), 1, false).unwrap();

    // Two-channel signals (N, C, T) from an .npy: --dims 1 is needed.
    let signals = tmp.path().join("signals.npy");
    npy(&signals, vec![4, 2, 300], 1);
    let res = lca_cmd()
        .args(SMALL_1D)
        .arg(&signals)
        .args(["--steps", "3", "--output"])
        .arg(tmp.path().join("ask"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        !res.status.success() && err.contains("signals.npy") && err.contains("--dims"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!tmp.path().join("ask").exists());
    let out = tmp.path().join("npy");
    succeeds(
        lca_cmd()
            .args(SMALL_1D)
            .arg(&signals)
            .args(["--dims", "1", "--steps", "3", "--quiet", "--output"])
            .arg(&out),
    );
    assert_eq!(
        read_array(&out.join("dictionary.npy"))
            .unwrap()
            .header
            .shape,
        [6, 2, 15]
    );
}

#[test]
fn a_1d_run_killed_mid_way_resumes_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let clips = wav_folder(tmp.path());
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let steps = 300;
    let run = |out: &Path| {
        let mut c = lca_cmd();
        c.args(SMALL_1D)
            .arg(&clips)
            .args([
                "--steps",
                "300",
                "--checkpoint-every",
                "5",
                "--heldout-every",
                "7",
                "--quiet",
            ])
            .arg("--output")
            .arg(out);
        c
    };
    assert!(run(&whole).status().unwrap().success());
    let mut child = run(&killed).spawn().unwrap();
    let start = Instant::now();
    while !killed.join("checkpoint.npz").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(5));
    child.kill().unwrap();
    child.wait().unwrap();
    let interrupted = csv_steps(&killed.join("training.csv")).len();
    assert!(
        interrupted < steps,
        "the run finished before it could be killed"
    );
    succeeds(
        lca_cmd()
            .args(["learn", "--quiet", "--resume"])
            .arg(&killed),
    );
    assert_eq!(
        csv_steps(&killed.join("training.csv")),
        (1..=steps as u64).collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read(whole.join("dictionary.npy")).unwrap(),
        std::fs::read(killed.join("dictionary.npy")).unwrap(),
        "the resumed run must end where the uninterrupted one did"
    );
    // The checkpoints hold the same state (their seconds differ).
    let shape = FilterShapeNd::with_kernel(6, 1, &[15]).unwrap();
    let state = |dir: &Path| {
        lca::conv::read_conv_checkpoint(&dir.join("checkpoint.npz"), shape)
            .unwrap()
            .0
    };
    assert_eq!(state(&whole), state(&killed));
    let strip = |p: &Path| -> Vec<String> {
        (std::fs::read_to_string(p).unwrap().lines())
            .map(|l| {
                let mut c: Vec<&str> = l.split(',').collect();
                c.remove(1);
                c.join(",")
            })
            .collect()
    };
    assert_eq!(
        strip(&whole.join("training.csv")),
        strip(&killed.join("training.csv"))
    );
}

#[test]
fn volume_kernels_from_an_npy_of_video() {
    let tmp = tempfile::tempdir().unwrap();
    let video = tmp.path().join("video.npy");
    npy(&video, vec![3, 1, 8, 12, 12], 4);
    let out = tmp.path().join("v");
    let summary = succeeds(
        lca_cmd()
            .args([
                "learn",
                "--conv",
                "--atoms",
                "4",
                "--kernel-size",
                "3",
                "--kernel-depth",
                "2",
            ])
            .args([
                "--crop",
                "8",
                "--crop-depth",
                "4",
                "--steps",
                "3",
                "--heldout-images",
                "1",
            ])
            .args(["--seed", "1", "--quiet", "--json", "--output"])
            .arg(&out)
            .arg(&video),
    );
    assert_eq!(summary["dims"], 3);
    assert_eq!(summary["kernel_shape"], serde_json::json!([2, 3, 3]));
    let d = read_array(&out.join("dictionary.npy")).unwrap();
    assert_eq!(d.header.shape, [4, 1, 2, 3, 3]);
    assert!(out.join("atoms.png").exists());
}

/// Each bad input: one line naming the file, a failure, no output folder.
#[test]
fn bad_inputs_name_the_file_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let clips = wav_folder(tmp.path());
    let video = tmp.path().join("video.npy");
    npy(&video, vec![3, 1, 8, 12, 12], 4);
    let short = tmp.path().join("short.npy");
    npy(&short, vec![3, 1, 40], 4);
    let cases: Vec<(Vec<&str>, &Path, &str)> = vec![
        (vec!["--dims", "3"], &clips, "clip0.wav"),
        (vec!["--dims", "1"], &video, "video.npy"),
        (
            vec!["--dims", "1", "--kernel-size", "64", "--crop", "0"],
            &short,
            "short.npy",
        ),
    ];
    for (i, (flags, input, named)) in cases.into_iter().enumerate() {
        let out = tmp.path().join(format!("out{i}"));
        let res = lca_cmd()
            .args(["learn", "--conv", "--steps", "2"])
            .args(&flags)
            .arg(input)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(!res.status.success(), "{flags:?} succeeded");
        assert!(err.contains(named), "{flags:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{flags:?}: {err}");
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
    }
}
