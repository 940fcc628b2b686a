//! Convolutional LCA: the reconstruction contract, optimality, agreement with
//! an independent solver, thread-count independence.

mod common;

use common::Lcg;

use lca::conv::{
    Boundary, ConvDictionary, ConvLcaParams, Planes, Schedule, Termination, objective, reconstruct,
};
use lca::neuron::Threshold;

/// The schedules of the rate solver that reach the exact fixed point: the
/// splitting default, the accelerated schedule and greedy settling.
const SCHEDULES: [Schedule; 3] = [
    Schedule::Splitting,
    Schedule::Accelerated,
    Schedule::Greedy { segment: None },
];

fn random_dict(n: usize, c: usize, k: usize, seed: u64) -> ConvDictionary {
    ConvDictionary::normalized(n, c, k, Lcg(seed).vec(n * c * k * k)).unwrap()
}

fn random_planes(c: usize, h: usize, w: usize, seed: u64) -> Planes {
    Planes::new(c, h, w, Lcg(seed).vec(c * h * w)).unwrap()
}

/// scipy.signal.convolve2d(a, kernel, mode='same', boundary=B) written out from
/// its definition: the full convolution `Σ a[i, j]·K[y − i, x − j]` (wrapped
/// or zero-padded input), cropped to the input's size starting at
/// `(k − 1) / 2` in each axis.
fn convolve2d_same(
    a: &[f32],
    h: usize,
    w: usize,
    kernel: &[f32],
    k: usize,
    wrap: bool,
) -> Vec<f64> {
    let start = (k as isize - 1) / 2;
    let mut out = vec![0.0f64; h * w];
    for oy in 0..h as isize {
        for ox in 0..w as isize {
            // Full-convolution index of this output.
            let (fy, fx) = (oy + start, ox + start);
            let mut acc = 0.0f64;
            for p in 0..k as isize {
                for q in 0..k as isize {
                    let (mut iy, mut ix) = (fy - p, fx - q);
                    if wrap {
                        iy = iy.rem_euclid(h as isize);
                        ix = ix.rem_euclid(w as isize);
                    } else if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                        continue;
                    }
                    acc += f64::from(kernel[(p * k as isize + q) as usize])
                        * f64::from(a[(iy * w as isize + ix) as usize]);
                }
            }
            out[(oy * w as isize + ox) as usize] = acc;
        }
    }
    out
}

/// x̂[c] = Σ_m convolve2d_same(A[m], D[m, c]).
fn direct_reconstruction(d: &ConvDictionary, a: &Planes, boundary: Boundary) -> Vec<f64> {
    let (h, w, k) = (a.height, a.width, d.kernel_size());
    let mut out = vec![0.0f64; d.channels() * h * w];
    for c in 0..d.channels() {
        for m in 0..d.n_filters() {
            let conv = convolve2d_same(
                a.plane(m),
                h,
                w,
                d.kernel(m, c),
                k,
                boundary == Boundary::Circular,
            );
            for (o, v) in out[c * h * w..(c + 1) * h * w].iter_mut().zip(conv) {
                *o += v;
            }
        }
    }
    out
}

/// Adjoint of [`direct_reconstruction`]: `g[m] = Σ_c corr(r[c], D[m, c])`,
/// computed as inner products with explicit atoms (independent of the
/// library's correlation).
fn direct_adjoint(
    d: &ConvDictionary,
    r: &[f64],
    h: usize,
    w: usize,
    boundary: Boundary,
) -> Vec<f64> {
    let k = d.kernel_size();
    let mut out = vec![0.0f64; d.n_filters() * h * w];
    for m in 0..d.n_filters() {
        for y in 0..h {
            for x in 0..w {
                let mut unit = Planes::zeros(d.n_filters(), h, w);
                unit.data[m * h * w + y * w + x] = 1.0;
                let _ = &unit;
                // Atom of (m, y, x): convolve a delta (only its support matters).
                let mut acc = 0.0;
                for c in 0..d.channels() {
                    let mut delta = vec![0.0f32; h * w];
                    delta[y * w + x] = 1.0;
                    let atom = convolve2d_same(
                        &delta,
                        h,
                        w,
                        d.kernel(m, c),
                        k,
                        boundary == Boundary::Circular,
                    );
                    acc += atom
                        .iter()
                        .zip(&r[c * h * w..(c + 1) * h * w])
                        .map(|(a, b)| a * b)
                        .sum::<f64>();
                }
                out[m * h * w + y * w + x] = acc;
            }
        }
    }
    out
}

#[test]
fn reconstruction_matches_scipy_convolve2d_same() {
    for boundary in [Boundary::Circular, Boundary::Zero] {
        for k in [1, 2, 3, 4, 5] {
            let d = random_dict(3, 2, k, 7 + k as u64);
            let mut a = random_planes(3, 9, 11, 99);
            // Sparse codes, some at the edges and corners.
            for (i, v) in a.data.iter_mut().enumerate() {
                if i % 5 != 0 {
                    *v = 0.0;
                }
            }
            let ours = reconstruct(&d, &a, boundary).unwrap();
            let want = direct_reconstruction(&d, &a, boundary);
            for (i, (&o, &w)) in ours.data.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(o) - w).abs() < 1e-5,
                    "{boundary:?} k={k} index {i}: {o} vs {w}"
                );
            }
        }
    }
}

#[test]
fn reconstruction_matches_values_printed_by_scipy() {
    // python: A = zeros((6, 6)); A[0, 0] = 1; K = arange(16.).reshape(4, 4) + 1
    //         convolve2d(A, K, mode='same', boundary='wrap')
    let want = [
        6., 7., 8., 0., 0., 5., 10., 11., 12., 0., 0., 9., 14., 15., 16., 0., 0., 13., 0., 0., 0.,
        0., 0., 0., 0., 0., 0., 0., 0., 0., 2., 3., 4., 0., 0., 1.,
    ];
    let taps: Vec<f32> = (1..=16).map(|v| v as f32).collect();
    let norm = taps.iter().map(|v| v * v).sum::<f32>().sqrt();
    let d = ConvDictionary::normalized(1, 1, 4, taps).unwrap();
    let mut a = Planes::zeros(1, 6, 6);
    a.data[0] = norm;
    let x = reconstruct(&d, &a, Boundary::Circular).unwrap();
    for (v, w) in x.data.iter().zip(want) {
        assert!((v - w).abs() < 1e-4, "{:?}", x.data);
    }
    // Same with boundary='fill': only the in-image part survives.
    let x = reconstruct(&d, &a, Boundary::Zero).unwrap();
    for (i, v) in x.data.iter().enumerate() {
        let (y, xx) = (i / 6, i % 6);
        let w = if y < 3 && xx < 3 { want[i] } else { 0.0 };
        assert!((v - w).abs() < 1e-4, "zero boundary {:?}", x.data);
    }
}

#[test]
fn single_pixel_filter_is_the_soft_threshold() {
    let d = ConvDictionary::new(1, 1, 1, vec![1.0]).unwrap();
    let x = random_planes(1, 7, 5, 3);
    for boundary in [Boundary::Circular, Boundary::Zero] {
        for (threshold, nonneg) in [
            (Threshold::Soft, false),
            (Threshold::Soft, true),
            (Threshold::Hard, false),
        ] {
            // A tight tolerance: the accelerated schedule's step is a hair
            // below 1 here, so it reaches the threshold geometrically.
            let lca = ConvLcaParams::new()
                .lambda(0.2)
                .tol(1e-6)
                .threshold(threshold)
                .nonneg(nonneg)
                .boundary(boundary)
                .check()
                .unwrap();
            let enc = lca.encode_one(&d, &x, None).unwrap();
            assert_eq!(enc.termination, Termination::Converged);
            for (&a, &v) in enc.codes.data.iter().zip(&x.data) {
                let want = match (threshold, nonneg) {
                    (Threshold::Hard, _) => {
                        if v.abs() > 0.2 {
                            v
                        } else {
                            0.0
                        }
                    }
                    (_, true) => (v - 0.2).max(0.0),
                    _ => (v.abs() - 0.2).max(0.0).copysign(v),
                };
                assert!(
                    (a - want).abs() < 2e-6,
                    "{threshold:?} nonneg={nonneg}: {a} vs {want}"
                );
            }
        }
    }
}

/// Largest violation of the LASSO optimality conditions, from the residual
/// correlations computed with explicit atoms: `|c_i − λ sign a_i|` on the
/// support, `max(|c_i| − λ, 0)` off it (`c_i ≤ λ` with `A ≥ 0`).
fn kkt_violation(
    d: &ConvDictionary,
    x: &Planes,
    a: &Planes,
    lambda: f32,
    boundary: Boundary,
    nonneg: bool,
) -> f64 {
    let recon = direct_reconstruction(d, a, boundary);
    let r: Vec<f64> = x
        .data
        .iter()
        .zip(&recon)
        .map(|(&x, &r)| f64::from(x) - r)
        .collect();
    let c = direct_adjoint(d, &r, x.height, x.width, boundary);
    let l = f64::from(lambda);
    c.iter()
        .zip(&a.data)
        .map(|(&ci, &ai)| {
            if ai != 0.0 {
                (ci - l * f64::from(ai.signum())).abs()
            } else if nonneg {
                (ci - l).max(0.0)
            } else {
                (ci.abs() - l).max(0.0)
            }
        })
        .fold(0.0, f64::max)
}

#[test]
fn codes_satisfy_the_kkt_conditions() {
    for (boundary, k, nonneg) in [
        (Boundary::Circular, 5, false),
        (Boundary::Zero, 4, false),
        (Boundary::Circular, 4, true),
        (Boundary::Zero, 3, true),
    ] {
        for schedule in SCHEDULES {
            let d = random_dict(4, 1, k, 11);
            let x = random_planes(1, 14, 13, 12);
            let lca = ConvLcaParams::new()
                .lambda(0.1)
                .tol(1e-5)
                .max_iters(100_000)
                .nonneg(nonneg)
                .boundary(boundary)
                .schedule(schedule)
                .check()
                .unwrap();
            let enc = lca.encode_one(&d, &x, None).unwrap();
            assert!(enc.converged(), "{schedule:?} {boundary:?} k={k}");
            assert!(enc.codes.nnz() > 0);
            if nonneg {
                assert!(enc.codes.data.iter().all(|&v| v >= 0.0));
            }
            let v = kkt_violation(&d, &x, &enc.codes, 0.1, boundary, nonneg);
            assert!(
                v < 1e-4,
                "{schedule:?} {boundary:?} k={k} nonneg={nonneg}: KKT violation {v}"
            );
        }
    }
}

/// FISTA (Beck & Teboulle 2009) with the direct convolutions above: an
/// independent solver of the same problem.
fn fista(
    d: &ConvDictionary,
    x: &Planes,
    lambda: f64,
    boundary: Boundary,
    iters: usize,
) -> Vec<f64> {
    let (h, w) = (x.height, x.width);
    let n = d.n_filters() * h * w;
    let as_planes = |v: &[f64]| {
        Planes::new(d.n_filters(), h, w, v.iter().map(|&v| v as f32).collect()).unwrap()
    };
    // Lipschitz constant by power iteration on DᵀD.
    let mut v = vec![1.0f64; n];
    let mut lip = 1.0;
    for _ in 0..50 {
        let dv = direct_reconstruction(d, &as_planes(&v), boundary);
        let g = direct_adjoint(d, &dv, h, w, boundary);
        lip = g.iter().map(|v| v * v).sum::<f64>().sqrt()
            / v.iter().map(|v| v * v).sum::<f64>().sqrt();
        v = g;
    }
    let step = 1.0 / (lip * 1.01);
    let (mut a, mut z, mut t) = (vec![0.0f64; n], vec![0.0f64; n], 1.0f64);
    for _ in 0..iters {
        let recon = direct_reconstruction(d, &as_planes(&z), boundary);
        let r: Vec<f64> = x
            .data
            .iter()
            .zip(&recon)
            .map(|(&x, &r)| f64::from(x) - r)
            .collect();
        let g = direct_adjoint(d, &r, h, w, boundary);
        let next: Vec<f64> = z
            .iter()
            .zip(&g)
            .map(|(&z, &g)| {
                let u = z + step * g;
                (u.abs() - step * lambda).max(0.0).copysign(u)
            })
            .collect();
        let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        for i in 0..n {
            z[i] = next[i] + (t - 1.0) / t_next * (next[i] - a[i]);
        }
        a = next;
        t = t_next;
    }
    a
}

#[test]
fn agrees_with_fista_on_both_boundaries() {
    for ((boundary, k), schedule) in [(Boundary::Circular, 3), (Boundary::Zero, 4)]
        .into_iter()
        .flat_map(|b| SCHEDULES.map(|s| (b, s)))
    {
        let d = random_dict(3, 2, k, 21);
        let x = random_planes(2, 10, 9, 22);
        let lambda = 0.05;
        let reference = fista(&d, &x, f64::from(lambda), boundary, 1500);
        let ref_planes =
            Planes::new(3, 10, 9, reference.iter().map(|&v| v as f32).collect()).unwrap();
        let ref_obj = objective(&d, &x, &ref_planes, lambda, boundary).unwrap();
        let enc = ConvLcaParams::new()
            .lambda(lambda)
            .tol(1e-6)
            .max_iters(100_000)
            .boundary(boundary)
            .schedule(schedule)
            .check()
            .unwrap()
            .encode_one(&d, &x, None)
            .unwrap();
        assert!(enc.converged());
        let gap = (enc.objective - ref_obj) / ref_obj;
        assert!(
            gap.abs() < 1e-5,
            "{schedule:?} {boundary:?}: objective {} vs FISTA {ref_obj}",
            enc.objective
        );
        let diff = enc
            .codes
            .data
            .iter()
            .zip(&reference)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(
            diff < 1e-3,
            "{schedule:?} {boundary:?}: codes differ by {diff}"
        );
    }
}

#[test]
fn lca_dynamics_reach_the_same_fixed_point() {
    let d = random_dict(3, 1, 3, 31);
    let x = random_planes(1, 12, 12, 32);
    for boundary in [Boundary::Circular, Boundary::Zero] {
        let greedy = ConvLcaParams::new()
            .tol(1e-6)
            .max_iters(100_000)
            .boundary(boundary)
            .schedule(Schedule::Greedy { segment: None })
            .check()
            .unwrap();
        let dynamics = ConvLcaParams::new()
            .tol(1e-5)
            .max_iters(50_000)
            .boundary(boundary)
            .schedule(Schedule::Dynamics { eta: 0.2 })
            .check()
            .unwrap();
        let a = greedy.encode_one(&d, &x, None).unwrap();
        let b = dynamics.encode_one(&d, &x, None).unwrap();
        assert!(a.converged(), "{boundary:?}: greedy");
        assert!(
            b.converged(),
            "{boundary:?}: dynamics after {} steps",
            b.iterations
        );
        assert!(
            ((a.objective - b.objective) / a.objective).abs() < 1e-4,
            "{boundary:?}: {} vs {}",
            a.objective,
            b.objective
        );
    }
}

#[test]
fn warm_start_from_the_solution_stops_at_once() {
    let d = random_dict(3, 1, 4, 41);
    let x = random_planes(1, 12, 10, 42);
    for (schedule, boundary) in SCHEDULES
        .into_iter()
        .flat_map(|s| [Boundary::Zero, Boundary::Circular].map(|b| (s, b)))
    {
        let lca = ConvLcaParams::new()
            .tol(1e-5)
            .max_iters(100_000)
            .boundary(boundary)
            .schedule(schedule)
            .check()
            .unwrap();
        let cold = lca.encode_one(&d, &x, None).unwrap();
        let warm = lca.encode_one(&d, &x, Some(&cold.codes)).unwrap();
        assert!(warm.converged());
        // Greedy settling counts neuron updates, the accelerated schedule steps.
        let work = |e: &lca::conv::ConvEncoding| e.updates + u64::from(e.iterations);
        assert!(
            work(&warm) < work(&cold) / 4,
            "{schedule:?} {boundary:?}: {} vs {}",
            work(&warm),
            work(&cold)
        );
        assert!((warm.objective - cold.objective).abs() <= 1e-6 * cold.objective);
    }
}

#[test]
fn identical_for_one_and_two_threads() {
    let d = random_dict(4, 3, 5, 51);
    let images: Vec<Planes> = (0..4)
        .map(|i| random_planes(3, 16, 12 + i, 60 + i as u64))
        .collect();
    for schedule in SCHEDULES {
        let lca = ConvLcaParams::new()
            .lambda(0.05)
            .schedule(schedule)
            .check()
            .unwrap();
        let [one, two] = [1, 2].map(|t| on_threads(t, || lca.encode(&d, &images).unwrap()));
        for (a, b) in one.iter().zip(&two) {
            assert_eq!(a.codes, b.codes, "{schedule:?}");
            assert_eq!(a.objective.to_bits(), b.objective.to_bits());
        }
    }
    let spiking = lca::conv::ConvSpikingParams::new()
        .lambda(0.05)
        .steps(256)
        .check()
        .unwrap();
    for fixed in [false, true] {
        let spiking = spiking.params().clone().fixed_point(fixed).check().unwrap();
        let [one, two] = [1, 2].map(|t| on_threads(t, || spiking.encode(&d, &images).unwrap()));
        for (a, b) in one.iter().zip(&two) {
            assert_eq!(a.codes, b.codes, "fixed point: {fixed}");
            assert_eq!(a.spikes, b.spikes);
        }
    }
    // One large image: the Fourier-domain schedules split their own work
    // (filter maps, several chunks of frequencies) across threads; the codes
    // must not change.
    for (schedule, channels, (h, w)) in [
        (Schedule::Splitting, 1, (128, 97)),
        (Schedule::Splitting, 2, (64, 101)),
        (Schedule::Accelerated, 1, (128, 97)),
    ] {
        let d = random_dict(6, channels, 5, 52);
        let image = [random_planes(channels, h, w, 70)];
        let lca = ConvLcaParams::new()
            .lambda(0.05)
            .schedule(schedule)
            .check()
            .unwrap();
        let [one, two] = [1, 2].map(|t| on_threads(t, || lca.encode(&d, &image).unwrap()));
        assert_eq!(one[0].codes, two[0].codes, "{schedule:?} C={channels}");
        assert!(one[0].converged(), "{schedule:?} C={channels}");
    }
}

/// `f` run on a pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn shape_errors_are_clear() {
    let d = random_dict(2, 3, 5, 1);
    let grey = random_planes(1, 16, 16, 2);
    let err = ConvLcaParams::new()
        .check()
        .unwrap()
        .encode_one(&d, &grey, None)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("1 channel(s) but the filters have 3"),
        "{err}"
    );
    let tiny = random_planes(3, 4, 16, 2);
    let err = ConvLcaParams::new()
        .check()
        .unwrap()
        .encode_one(&d, &tiny, None)
        .unwrap_err();
    assert!(
        err.to_string().contains("smaller than the 5×5 filters"),
        "{err}"
    );
}

#[test]
fn dictionary_npy_round_trip_and_3d_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = random_dict(3, 2, 4, 5);
    let path = dir.path().join("d.npy");
    d.write_npy(&path).unwrap();
    assert_eq!(ConvDictionary::from_npy(&path).unwrap(), d);
    assert!(ConvDictionary::is_conv_npy(&path).unwrap());
    // A 3-D (n_filters, k, k) file is one channel; unnormalised filters are refused
    // unless normalised on reading.
    let grey =
        lca::io::npy::NpyArray::from_f32(vec![2, 2, 2], &[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0])
            .unwrap();
    let path3 = dir.path().join("grey.npy");
    lca::io::npy::write_npy(&path3, &grey).unwrap();
    let err = ConvDictionary::from_npy(&path3).unwrap_err().to_string();
    assert!(
        err.contains("grey.npy") && err.contains("filter 1"),
        "{err}"
    );
    let g = ConvDictionary::from_npy_normalized(&path3).unwrap();
    assert_eq!((g.n_filters(), g.channels(), g.kernel_size()), (2, 1, 2));
    assert_eq!(g.filter(1), &[1.0, 0.0, 0.0, 0.0]);
}

/// The non-negative optimum's objective, from the rate solver at `tol`:
/// the reference of the spiking solvers' gaps.
fn nonneg_optimum(
    d: &ConvDictionary,
    x: &Planes,
    lambda: f32,
    boundary: Boundary,
    tol: f32,
) -> f64 {
    ConvLcaParams::new()
        .lambda(lambda)
        .tol(tol)
        .max_iters(100_000)
        .nonneg(true)
        .boundary(boundary)
        .check()
        .unwrap()
        .encode_one(d, x, None)
        .unwrap()
        .objective
}

#[test]
fn spiking_rates_approach_the_nonnegative_optimum() {
    use lca::conv::ConvSpikingParams;
    let d = random_dict(3, 1, 3, 71);
    let x = random_planes(1, 12, 12, 72);
    for boundary in [Boundary::Circular, Boundary::Zero] {
        let optimum = nonneg_optimum(&d, &x, 0.1, boundary, 1e-6);
        let gap = |steps| {
            let enc = ConvSpikingParams::new()
                .boundary(boundary)
                .steps(steps)
                .check()
                .unwrap()
                .encode_one(&d, &x)
                .unwrap();
            assert!(enc.codes.data.iter().all(|&v| v >= 0.0));
            (enc.objective - optimum) / optimum
        };
        let (short, long) = (gap(128), gap(2048));
        assert!(long < 1e-2, "{boundary:?}: gap {long} after 2048 steps");
        assert!(
            long < short,
            "{boundary:?}: gap {short} → {long} does not fall"
        );
    }
}

/// Smooth oriented filters (Gabor-like, 8×8, four orientations × two
/// phases): overlapping shifts are strongly correlated, as in natural-image
/// convolutional dictionaries, so many neurons compete for the same pixels.
fn coherent_dict() -> ConvDictionary {
    let k = 8;
    let mut taps = Vec::new();
    for o in 0..4 {
        let th = o as f32 * std::f32::consts::PI / 4.0;
        for phase in [0.0, std::f32::consts::FRAC_PI_2] {
            for y in 0..k {
                for x in 0..k {
                    let (u, v) = (x as f32 - 3.5, y as f32 - 3.5);
                    let along = u * th.cos() + v * th.sin();
                    let envelope = (-(u * u + v * v) / 8.0).exp();
                    taps.push(envelope * (0.8 * along + phase).cos());
                }
            }
        }
    }
    ConvDictionary::normalized(8, 1, k, taps).unwrap()
}

#[test]
fn spiking_rates_reach_the_optimum_with_coherent_filters() {
    // The failure this guards against: when all the spikes of a step are
    // delivered together at the next step, coherent neighbours fire in
    // lockstep and the rates never settle (here: gap 0.46 and 9 % of the
    // neurons firing every step; with the in-step order, gap 8e-4 and 0.8 %).
    use lca::conv::ConvSpikingParams;
    let d = coherent_dict();
    let x = random_planes(1, 24, 24, 73);
    let lambda = 0.03;
    let optimum = nonneg_optimum(&d, &x, lambda, Boundary::Circular, 1e-5);
    let enc = ConvSpikingParams::new()
        .lambda(lambda)
        .check()
        .unwrap()
        .encode_one(&d, &x)
        .unwrap();
    let gap = (enc.objective - optimum) / optimum;
    assert!(gap < 1e-2, "gap {gap} with the default settings");
    let neurons = enc.codes.data.len() as f64;
    let per_step = enc.spikes as f64 / f64::from(enc.steps);
    assert!(
        per_step < 0.05 * neurons,
        "{per_step} spikes a step among {neurons} neurons"
    );
}

/// Filters and an image whose every weight, bias and voltage is a short
/// dyadic fraction: f32 holds them exactly and so do Loihi's integer formats,
/// so fixed point has nothing to round.
fn dyadic_problem() -> (ConvDictionary, Planes) {
    let d = ConvDictionary::new(2, 1, 2, vec![0.5, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, -0.5]).unwrap();
    let mut rng = Lcg(91);
    let mut x: Vec<f32> = (0..100).map(|_| (rng.next() * 8.0).round() / 4.0).collect();
    // A block of ones makes max|b| = 2, a power of two, so the drive
    // scaling is exact too.
    for i in [44, 45, 54, 55] {
        x[i] = 1.0;
    }
    (d, Planes::new(1, 10, 10, x).unwrap())
}

#[test]
fn fixed_point_equals_float_when_nothing_is_rounded() {
    // The integer network is the float network's twin: where quantisation
    // loses nothing, the same neurons fire at the same steps in the same
    // order, cut atoms at a zero boundary included.
    use lca::conv::ConvSpikingParams;
    let (d, x) = dyadic_problem();
    for boundary in [Boundary::Circular, Boundary::Zero] {
        let run = |fixed| {
            ConvSpikingParams::new()
                .lambda(0.25)
                .steps(400)
                .boundary(boundary)
                .fixed_point(fixed)
                .check()
                .unwrap()
                .encode_one(&d, &x)
                .unwrap()
        };
        let (float, fixed) = (run(false), run(true));
        assert!(
            float.spikes > 500,
            "{boundary:?}: only {} spikes",
            float.spikes
        );
        assert_eq!(float.spikes, fixed.spikes, "{boundary:?}");
        assert_eq!(float.codes, fixed.codes, "{boundary:?}");
    }
}

#[test]
fn fixed_point_rates_approach_the_nonnegative_optimum() {
    // Two 8-bit synapses per Gram tap (15-bit weights) keep the integer
    // network as close to the optimum as the float one; with one, the
    // coherent filters' network runs away (gap 0.9).
    use lca::conv::ConvSpikingParams;
    let problems = [
        (random_dict(3, 1, 3, 71), random_planes(1, 12, 12, 72), 0.1),
        (coherent_dict(), random_planes(1, 24, 24, 73), 0.03),
    ];
    for (d, x, lambda) in problems {
        for boundary in [Boundary::Circular, Boundary::Zero] {
            let optimum = nonneg_optimum(&d, &x, lambda, boundary, 1e-5);
            let run = |fixed| {
                ConvSpikingParams::new()
                    .lambda(lambda)
                    .steps(512)
                    .boundary(boundary)
                    .fixed_point(fixed)
                    .check()
                    .unwrap()
                    .encode_one(&d, &x)
                    .unwrap()
            };
            let (float, fixed) = (run(false), run(true));
            assert!(fixed.codes.data.iter().all(|&v| v >= 0.0));
            let gap = |e: &lca::conv::ConvSpikingEncoding| (e.objective - optimum) / optimum;
            eprintln!(
                "{} filters, {boundary:?}: gap float {:.2e}, fixed {:.2e}",
                d.n_filters(),
                gap(&float),
                gap(&fixed)
            );
            assert!(
                gap(&fixed) < 1e-3,
                "{boundary:?}: fixed-point gap {}",
                gap(&fixed)
            );
            assert!(gap(&fixed) > -1e-5, "below the optimum: {}", gap(&fixed));
        }
    }
}

#[test]
fn fixed_point_limits_are_reported() {
    use lca::conv::ConvSpikingParams;
    // A drive of 2·dt/ϑ thresholds per step must fit the 13-bit bias.
    let err = ConvSpikingParams::new()
        .dt(5.0)
        .fixed_point(true)
        .check()
        .unwrap_err()
        .to_string();
    assert!(err.contains("dt") && err.contains("fixed point"), "{err}");
    assert!(
        ConvSpikingParams::new()
            .fixed_point(true)
            .weight_synapses(3)
            .check()
            .is_err()
    );
}

#[test]
fn monitors_count_images_and_cancel_before_the_next() {
    use lca::conv::ConvSpikingParams;
    use lca::solver::Monitor;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let d = random_dict(2, 1, 3, 81);
    let images: Vec<Planes> = (0..5).map(|i| random_planes(1, 8, 8, 90 + i)).collect();
    let rate = ConvLcaParams::new().check().unwrap();
    let spiking = ConvSpikingParams::new().steps(64).check().unwrap();
    let done = AtomicUsize::new(0);
    let count = |n: usize| {
        done.fetch_add(n, Ordering::Relaxed);
    };
    let monitor = Monitor::with_progress(Some(&count));
    let codes = rate.encode_monitored(&d, &images, monitor).unwrap();
    assert_eq!(done.load(Ordering::Relaxed), 5);
    assert_eq!(codes[3].codes, rate.encode(&d, &images).unwrap()[3].codes);
    spiking.encode_monitored(&d, &images, monitor).unwrap();
    assert_eq!(done.load(Ordering::Relaxed), 10);
    let stop = AtomicUsize::new(2); // SIGINT's number, as the crate's flags hold
    let cancelled = Monitor {
        progress: None,
        cancel: Some(&stop),
    };
    assert!(matches!(
        rate.encode_monitored(&d, &images, cancelled),
        Err(lca::Error::Interrupted)
    ));
    assert!(matches!(
        spiking.encode_monitored(&d, &images, cancelled),
        Err(lca::Error::Interrupted)
    ));
}
