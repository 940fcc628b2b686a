//! Convolutional dictionary learning: the high-pass preprocessing against
//! SPORCO, the learner's statistics against a direct convolution written
//! here, recovery of planted filters, thread-count independence.

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

fn unit_filters(rng: &mut ChaCha8Rng, shape: FilterShape) -> Vec<f32> {
    let mut f: Vec<f32> = (0..shape.atoms * shape.filter_len())
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    for chunk in f.chunks_mut(shape.filter_len()) {
        let n = chunk.iter().map(|v| v * v).sum::<f32>().sqrt();
        chunk.iter_mut().for_each(|v| *v /= n);
    }
    f
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
        let init = unit_filters(&mut rng, shape);
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
    let truth = unit_filters(&mut rng, shape);
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
    let init = unit_filters(&mut rng, shape);
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
    let init = unit_filters(&mut rng, shape);
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
