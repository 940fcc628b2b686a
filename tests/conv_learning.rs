//! Convolutional dictionary learning: the high-pass preprocessing against
//! SPORCO, the learner's statistics against a direct convolution written
//! here, recovery of planted filters, thread-count independence.

mod common;
use common::csv_steps;
use std::path::Path;

use lca::conv::{CodedImage, ConvLearner, FilterShape, tikhonov_highpass};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn fixture(name: &str) -> (Vec<usize>, Vec<f64>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let a = lca::io::npy::read_array(&path).unwrap();
    (a.header.shape.clone(), a.to_f64_vec().unwrap())
}

/// `tests/fixtures/make_highpass_fixture.py` ran SPORCO's `tikhonov_filter`.
#[test]
fn highpass_matches_sporco_tikhonov_filter() {
    for (input, output, lambda, pad) in [
        ("highpass_input.npy", "highpass_l5_p16.npy", 5.0, 16),
        ("highpass_input.npy", "highpass_l0.5_p3.npy", 0.5, 3),
        (
            "highpass_small_input.npy",
            "highpass_small_l5_p16.npy",
            5.0,
            16,
        ),
    ] {
        let (shape, s) = fixture(input);
        let (_, want) = fixture(output);
        let plane: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        let got = tikhonov_highpass(&plane, shape[0], shape[1], lambda, pad).unwrap();
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (f64::from(*g) - w).abs())
            .fold(0.0, f64::max);
        // f32 input and output; the filtering itself is in f64.
        assert!(worst < 2e-6, "{output}: max error {worst}");
        assert!(
            want.iter().any(|v| v.abs() > 0.05),
            "fixture is not trivial"
        );
    }
}

/// `x̂[c] = Σ_m convolve2d(A[m], D[m, c], mode='same', boundary='wrap')`,
/// written directly: `x̂(y) = Σ_i A(y + s − i) D(i)` with `s = (k−1)/2`.
fn reconstruct(shape: FilterShape, filters: &[f32], codes: &[f32], h: usize, w: usize) -> Vec<f64> {
    let (m, c, k) = (shape.atoms, shape.channels, shape.kernel);
    let s = (k - 1) / 2;
    let mut out = vec![0.0f64; c * h * w];
    for mi in 0..m {
        for ch in 0..c {
            let f = &filters[(mi * c + ch) * k * k..(mi * c + ch + 1) * k * k];
            for y in 0..h {
                for x in 0..w {
                    let mut acc = 0.0;
                    for iy in 0..k {
                        for ix in 0..k {
                            let yy = (y + s + h - iy) % h;
                            let xx = (x + s + w - ix) % w;
                            acc += f64::from(codes[mi * h * w + yy * w + xx])
                                * f64::from(f[iy * k + ix]);
                        }
                    }
                    out[ch * h * w + y * w + x] += acc;
                }
            }
        }
    }
    out
}

fn sparse_codes(rng: &mut ChaCha8Rng, m: usize, hw: usize, density: f64) -> Vec<f32> {
    (0..m * hw)
        .map(|_| {
            if rng.random::<f64>() < density {
                rng.random_range(-1.0f32..1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// After one update the statistics hold exactly this batch, so the surrogate
/// plus `½‖x‖²` is the data term `½‖x − Σ D ∗ A‖²` per pixel of the new
/// filters — for odd and even `k`, grey and colour, non-square images.
#[test]
fn surrogate_is_the_data_term_of_a_direct_convolution() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (k, c, h, w) in [(3, 1, 9, 11), (4, 3, 12, 10), (5, 1, 9, 16)] {
        let shape = FilterShape {
            atoms: 3,
            channels: c,
            kernel: k,
        };
        let image: Vec<f32> = (0..c * h * w)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let codes = sparse_codes(&mut rng, 3, h * w, 0.1);
        let init = common::unit_filters(&mut rng, shape.atoms, shape.filter_len());
        let mut learner = ConvLearner::new(shape, init, 4, 1).unwrap();
        learner
            .update(&[CodedImage {
                height: h,
                width: w,
                image: &image,
                codes: &codes,
            }])
            .unwrap();
        let rec = reconstruct(shape, learner.filters(), &codes, h, w);
        let pixels = (h * w) as f64;
        let direct: f64 = image
            .iter()
            .zip(&rec)
            .map(|(x, r)| 0.5 * (f64::from(*x) - r).powi(2))
            .sum::<f64>()
            / pixels;
        let energy: f64 = image
            .iter()
            .map(|&x| 0.5 * f64::from(x).powi(2))
            .sum::<f64>()
            / pixels;
        let via_stats = energy + learner.surrogate();
        assert!(
            (direct - via_stats).abs() < 1e-9 * energy.max(1.0),
            "k={k} c={c}: direct {direct} vs statistics {via_stats}"
        );
    }
}

/// Images made by planted filters from known codes: learning with those
/// codes recovers the filters, and the data term falls at every step.
#[test]
fn recovers_planted_filters_from_their_codes() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let shape = FilterShape {
        atoms: 4,
        channels: 1,
        kernel: 5,
    };
    let (h, w) = (24, 24);
    let truth = common::unit_filters(&mut rng, shape.atoms, shape.filter_len());
    let batches: Vec<(Vec<f32>, Vec<f32>)> = (0..6)
        .map(|_| {
            let codes = sparse_codes(&mut rng, 4, h * w, 0.03);
            let image = reconstruct(shape, &truth, &codes, h, w)
                .into_iter()
                .map(|v| v as f32)
                .collect();
            (image, codes)
        })
        .collect();
    let init = common::unit_filters(&mut rng, shape.atoms, shape.filter_len());
    let mut learner = ConvLearner::new(shape, init, 4, 4).unwrap();
    for step in 0..60 {
        let (image, codes) = &batches[step % batches.len()];
        learner
            .update(&[CodedImage {
                height: h,
                width: w,
                image,
                codes,
            }])
            .unwrap();
    }
    let err = learner
        .filters()
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f32>()
        .sqrt();
    assert!(err < 1e-3, "distance to the planted filters {err}");
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let shape = FilterShape {
        atoms: 6,
        channels: 3,
        kernel: 4,
    };
    let (h, w) = (16, 20);
    let image: Vec<f32> = (0..3 * h * w)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let codes = sparse_codes(&mut rng, 6, h * w, 0.05);
    let init = common::unit_filters(&mut rng, shape.atoms, shape.filter_len());
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut learner = ConvLearner::new(shape, init.clone(), 8, 2).unwrap();
            for _ in 0..3 {
                learner
                    .update(&[CodedImage {
                        height: h,
                        width: w,
                        image: &image,
                        codes: &codes,
                    }])
                    .unwrap();
            }
            learner.state().clone()
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn refuses_images_smaller_than_the_lag_window() {
    let shape = FilterShape {
        atoms: 1,
        channels: 1,
        kernel: 5,
    };
    let mut learner = ConvLearner::new(shape, vec![0.2; 25], 4, 1).unwrap();
    let err = learner
        .update(&[CodedImage {
            height: 8,
            width: 8,
            image: &[0.0; 64],
            codes: &[0.0; 64],
        }])
        .unwrap_err();
    assert!(err.to_string().contains("smaller than 2k−1"), "{err}");
}

// ---- `lca learn --conv` end to end ----

use std::process::Command;
use std::time::{Duration, Instant};

fn lca_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lca"))
}

/// The three embedded sample images shrunk 4× (the last two are held out).
const SMALL: [&str; 12] = [
    "learn",
    "--conv",
    "--downscale",
    "4",
    "--kernel-size",
    "5",
    "--atoms",
    "6",
    "--crop",
    "32",
    "--seed",
    "3",
];

#[test]
fn conv_learning_writes_every_output_in_the_pytorch_layout() {
    let tmp = tempfile::tempdir().unwrap();
    for (color, shape) in [(false, vec![6, 5, 5]), (true, vec![6, 3, 5, 5])] {
        let out = tmp.path().join(format!("out{color}"));
        let mut cmd = lca_cmd();
        cmd.args(SMALL)
            .args(["--steps", "6", "--heldout-every", "3", "--quiet", "--json"]);
        if color {
            cmd.arg("--color");
        }
        let res = cmd.arg("--output").arg(&out).output().unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
        assert_eq!(summary["mode"], "conv");
        assert!(summary["heldout_energy"].as_f64().unwrap() > 0.0);
        for f in [
            "dictionary.npy",
            "atoms.png",
            "training.csv",
            "training.png",
            "config.json",
            "checkpoint.npz",
        ] {
            assert!(out.join(f).exists(), "{f} missing");
        }
        let d = lca::io::npy::read_array(&out.join("dictionary.npy")).unwrap();
        assert_eq!(d.header.shape, shape);
        let filters = d.to_f32_vec().unwrap();
        for f in filters.chunks(filters.len() / 6) {
            let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "filter norm {norm}");
        }
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["conv"]["kernel_size"], 5);
        assert_eq!(config["progress"]["status"], "completed");
        assert_eq!(
            csv_steps(&out.join("training.csv")),
            (1..=6).collect::<Vec<_>>()
        );
        // The learned filters load as a convolutional dictionary.
        lca::conv::ConvDictionary::from_npy(&out.join("dictionary.npy")).unwrap();
    }
}

#[test]
fn patch_flags_with_conv_and_conv_flags_without_it_are_refused() {
    let res = lca_cmd()
        .args(["learn", "--kernel-size", "5", "-o", "/nonexistent/x"])
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("need --conv"));
    let res = lca_cmd()
        .args([
            "learn",
            "--conv",
            "--rule",
            "online",
            "-o",
            "/nonexistent/x",
        ])
        .output()
        .unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("cannot be given with --conv"));
}

#[test]
fn a_conv_run_killed_mid_way_resumes_to_the_same_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let steps = 40;
    let flags = [
        "--steps",
        "40",
        "--checkpoint-every",
        "4",
        "--heldout-every",
        "7",
        "--quiet",
    ];
    let run = |out: &Path| {
        let mut c = lca_cmd();
        c.args(SMALL).args(flags).arg("--output").arg(out);
        c
    };
    assert!(run(&whole).status().unwrap().success());
    let mut child = run(&killed).spawn().unwrap();
    let start = Instant::now();
    while !killed.join("checkpoint.npz").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let interrupted = csv_steps(&killed.join("training.csv")).len();
    assert!(
        interrupted < steps,
        "the run finished before it could be killed"
    );
    let out = lca_cmd()
        .args(["learn", "--quiet", "--resume"])
        .arg(&killed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("killed after {interrupted} logged steps, resumed to {steps}");
    assert_eq!(
        csv_steps(&killed.join("training.csv")),
        (1..=steps as u64).collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read(whole.join("dictionary.npy")).unwrap(),
        std::fs::read(killed.join("dictionary.npy")).unwrap(),
        "the resumed run must end where the uninterrupted one did"
    );
    let whole_log = std::fs::read_to_string(whole.join("training.csv")).unwrap();
    let killed_log = std::fs::read_to_string(killed.join("training.csv")).unwrap();
    // Same codes at every step (the seconds column differs).
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                let mut c: Vec<&str> = l.split(',').collect();
                c.remove(1);
                c.join(",")
            })
            .collect()
    };
    assert_eq!(strip(&whole_log), strip(&killed_log));
}
