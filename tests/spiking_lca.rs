//! Properties of the spiking LCA: exact small cases, convergence of the rates
//! to the LASSO solution as 1/T, the fixed-point mode against float, spike
//! records, thread independence and bad input.

mod common;

use common::*;
use lca::solver::{SpikeRecord, SpikingParams};
use lca::{Dictionary, Error};
use nalgebra::DMatrix;

/// Relative L2 error of every column of `a` against f64 references.
fn rel_errors(a: &DMatrix<f32>, exact: &[Vec<f64>]) -> Vec<f64> {
    exact
        .iter()
        .enumerate()
        .map(|(s, e)| {
            let num: f64 = e
                .iter()
                .enumerate()
                .map(|(i, &v)| (f64::from(a[(i, s)]) - v).powi(2))
                .sum();
            let den: f64 = e.iter().map(|v| v * v).sum();
            (num / den.max(1e-30)).sqrt()
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean relative objective gap of the codes against exact LASSO codes.
fn mean_gap(
    d: &Dictionary,
    x: &DMatrix<f32>,
    a: &DMatrix<f32>,
    exact: &[Vec<f64>],
    lambda: f64,
) -> f64 {
    mean(
        &(0..x.ncols())
            .map(|s| {
                let xs = x.column(s);
                let opt = objective(d, xs.as_slice(), &exact[s], lambda);
                let code: Vec<f64> = a.column(s).iter().map(|&v| f64::from(v)).collect();
                (objective(d, xs.as_slice(), &code, lambda) - opt) / opt
            })
            .collect::<Vec<_>>(),
    )
}

fn exact_codes(d: &Dictionary, x: &DMatrix<f32>, lambda: f64, nonneg: bool) -> Vec<Vec<f64>> {
    (0..x.ncols())
        .map(|s| coordinate_descent(d, x.column(s).as_slice(), lambda, nonneg))
        .collect()
}

#[test]
fn rates_converge_to_the_nonneg_lasso_as_one_over_t() {
    let d = random_dictionary(16, 32, 7);
    let x = sparse_signals(&d, 10, 3, 8);
    let lambda = 0.1;
    let exact = exact_codes(&d, &x, lambda, true);
    println!("nonneg LASSO, 32 atoms × 16 features, 10 signals, dt = 0.5, ϑ = 1, settle = steps/4");
    println!("steps       T   mean rel. code error   error·T   mean rel. objective gap");
    let mut rows = Vec::new();
    for steps in [250usize, 500, 1000, 2000, 4000, 8000] {
        let enc = SpikingParams::new()
            .lambda(lambda as f32)
            .nonneg(true)
            .steps(steps)
            .check()
            .unwrap()
            .encode(&d, &x)
            .unwrap();
        assert!(enc.codes.iter().all(|&v| v >= 0.0));
        let err = mean(&rel_errors(&enc.codes, &exact));
        let gap = mean_gap(&d, &x, &enc.codes, &exact, lambda);
        let t = (steps - steps / 4) as f64 * 0.5;
        println!(
            "{steps:5} {t:7.0}   {err:20.3e}   {:7.3}   {gap:23.3e}",
            err * t
        );
        rows.push((t, err, gap));
    }
    // Least-squares slope of log error against log T: −1 for a 1/T decay.
    let n = rows.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = rows.iter().map(|(t, e, _)| (t.ln(), e.ln())).unzip();
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let slope = lx
        .iter()
        .zip(&ly)
        .map(|(x, y)| (x - mx) * (y - my))
        .sum::<f64>()
        / lx.iter().map(|x| (x - mx).powi(2)).sum::<f64>();
    println!("log-log slope of the code error: {slope:.2}");
    assert!((-1.3..=-0.75).contains(&slope), "slope {slope}");
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    assert!(last.1 < 2e-3, "error at the longest run {}", last.1);
    assert!(last.1 < first.1 / 16.0);
    assert!(last.2 < 1e-5 && last.2 < first.2 / 100.0);
}

#[test]
fn signed_rates_converge_to_the_lasso() {
    let d = random_dictionary(16, 32, 9);
    let x = sparse_signals(&d, 10, 3, 10);
    let lambda = 0.1;
    let exact = exact_codes(&d, &x, lambda, false);
    println!("signed LASSO (ON/OFF pairs): steps, mean rel. code error, mean rel. gap");
    let mut errs = Vec::new();
    for steps in [500usize, 2000, 8000] {
        for fixed in [false, true] {
            let enc = SpikingParams::new()
                .steps(steps)
                .fixed_point(fixed)
                .check()
                .unwrap()
                .encode(&d, &x)
                .unwrap();
            let err = mean(&rel_errors(&enc.codes, &exact));
            let gap = mean_gap(&d, &x, &enc.codes, &exact, lambda);
            println!(
                "{steps:5} {:>11}  {err:.3e}  {gap:.3e}",
                if fixed { "fixed-point" } else { "float" }
            );
            if !fixed {
                errs.push(err);
            } else {
                assert!(gap < 5e-3, "fixed point gap {gap}");
            }
        }
    }
    assert!(errs[2] < 3e-3 && errs[2] < errs[0] / 8.0, "{errs:?}");
}

fn identity(n: usize) -> Dictionary {
    let eye: Vec<f32> = (0..n * n)
        .map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    Dictionary::from_rows(n, n, eye).unwrap()
}

/// Without competition each neuron fires at `(b_i − λ)/ϑ`: the rate code is the
/// soft threshold of the drive, to within one spike in the window.
#[test]
fn identity_dictionary_gives_the_soft_threshold() {
    let n = 16;
    let d = identity(n);
    let x = DMatrix::from_fn(n, 3, |i, j| ((i * 7 + j * 3) % 11) as f32 * 0.07 - 0.35);
    let lambda = 0.1f32;
    for nonneg in [true, false] {
        for fixed in [false, true] {
            let p = SpikingParams::new()
                .nonneg(nonneg)
                .steps(1000)
                .fixed_point(fixed);
            let enc = p.clone().check().unwrap().encode(&d, &x).unwrap();
            for s in 0..x.ncols() {
                let col = x.column(s);
                let scale = col.amax();
                let quantum = scale / (750.0 * 0.5);
                for i in 0..n {
                    let b = col[i];
                    let want = if nonneg {
                        (b - lambda).max(0.0)
                    } else {
                        (b.abs() - lambda).max(0.0).copysign(b)
                    };
                    let got = enc.codes[(i, s)];
                    // Fixed point quantises the drive to 13 significant bits.
                    let tol = quantum * 1.0001 + if fixed { 1e-3 * b.abs() } else { 1e-6 };
                    assert!(
                        (got - want).abs() <= tol,
                        "nonneg={nonneg} fixed={fixed} signal {s} atom {i}: {got} vs {want}"
                    );
                }
            }
        }
    }
}

/// The competition problems of Lava's LCA tests: atoms [0, √½, √½] and
/// [√⅓, √⅓, √⅓]. Input [0, 1, 1] favours the first, [1, 1, 1] the second; the
/// winner must suppress the loser entirely.
#[test]
fn one_atom_wins_the_competition_and_silences_the_other() {
    let (h, t) = (0.5f32.sqrt(), (1.0f32 / 3.0).sqrt());
    let d = Dictionary::from_rows(2, 3, vec![0.0, h, h, t, t, t]).unwrap();
    let lambda = 0.1f64;
    let g = f64::from(h) * f64::from(t) * 2.0; // φ₀·φ₁ = √(2/3)
    for (input, winner) in [([0.0f32, 1.0, 1.0], 0usize), ([1.0, 1.0, 1.0], 1)] {
        let x = DMatrix::from_column_slice(3, 1, &input);
        let b: Vec<f64> = (0..2)
            .map(|j| {
                d.atom(j)
                    .iter()
                    .zip(&input)
                    .map(|(&p, &v)| f64::from(p * v))
                    .sum()
            })
            .collect();
        // Exact LASSO: with the loser silent the winner's code is b_w − λ, and
        // the loser stays silent because its residual drive is below λ.
        let loser = 1 - winner;
        let a_w = b[winner] - lambda;
        let residual = b[loser] - g * a_w;
        assert!(residual.abs() < lambda, "derivation: residual {residual}");
        for nonneg in [true, false] {
            let cd = coordinate_descent(&d, &input, lambda, nonneg);
            assert!(
                (cd[winner] - a_w).abs() < 1e-6 && cd[loser] == 0.0,
                "{cd:?}"
            );
            for fixed in [false, true] {
                let enc = SpikingParams::new()
                    .nonneg(nonneg)
                    .steps(4000)
                    .settle(1000)
                    .fixed_point(fixed)
                    .check()
                    .unwrap()
                    .encode(&d, &x)
                    .unwrap();
                let a = enc.codes.column(0);
                println!(
                    "input {input:?} nonneg={nonneg} fixed={fixed}: codes {:?}, exact [{:.4}, {:.4}]",
                    a.as_slice(),
                    if winner == 0 { a_w } else { 0.0 },
                    if winner == 1 { a_w } else { 0.0 }
                );
                assert_eq!(a[loser], 0.0, "the loser must be silenced");
                assert!(
                    (f64::from(a[winner]) - a_w).abs() < 2e-3 * a_w,
                    "winner {} vs {a_w}",
                    a[winner]
                );
            }
        }
    }
}

#[test]
fn a_synaptic_filter_does_not_move_the_limit() {
    let d = random_dictionary(16, 32, 11);
    let x = sparse_signals(&d, 8, 3, 12);
    let exact = exact_codes(&d, &x, 0.1, true);
    for decay in [0.5f32, 0.9] {
        for fixed in [false, true] {
            let enc = SpikingParams::new()
                .nonneg(true)
                .steps(4000)
                .current_decay(decay)
                .fixed_point(fixed)
                .check()
                .unwrap()
                .encode(&d, &x)
                .unwrap();
            let gap = mean_gap(&d, &x, &enc.codes, &exact, 0.1);
            assert!(gap < 1e-4, "decay {decay} fixed={fixed}: gap {gap}");
        }
    }
}

#[test]
fn fixed_point_tracks_float() {
    let d = random_dictionary(24, 64, 13);
    let x = sparse_signals(&d, 40, 4, 14);
    for nonneg in [true, false] {
        let exact = exact_codes(&d, &x, 0.1, nonneg);
        let p = SpikingParams::new().nonneg(nonneg).steps(1000);
        let float = p.clone().check().unwrap().encode(&d, &x).unwrap();
        let fixed = p.fixed_point(true).check().unwrap().encode(&d, &x).unwrap();
        let (gf, gx) = (
            mean_gap(&d, &x, &float.codes, &exact, 0.1),
            mean_gap(&d, &x, &fixed.codes, &exact, 0.1),
        );
        let mse = |a: &DMatrix<f32>| (&x - d.reconstruct(a)).norm_squared() / x.len() as f32;
        let db = 10.0 * (mse(&float.codes) / mse(&fixed.codes)).log10();
        println!(
            "nonneg={nonneg}: gap float {gf:.2e}, fixed {gx:.2e}; PSNR fixed − float {db:+.4} dB"
        );
        assert!(gf < 1e-3 && gx < 2e-3, "gaps {gf} {gx}");
        assert!(db.abs() < 0.05);
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let d = random_dictionary(16, 40, 15);
    let x = sparse_signals(&d, 150, 3, 16); // three chunks
    for fixed in [false, true] {
        let solver = SpikingParams::new()
            .steps(300)
            .fixed_point(fixed)
            .record_spikes(true)
            .check()
            .unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| solver.encode(&d, &x).unwrap())
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one.codes, two.codes);
        assert_eq!(one.spike_counts, two.spike_counts);
        assert_eq!(one.spikes, two.spikes);
    }
}

#[test]
fn the_spike_record_reproduces_the_codes_and_round_trips() {
    let d = random_dictionary(12, 20, 17);
    let x = sparse_signals(&d, 70, 3, 18);
    let enc = SpikingParams::new()
        .steps(200)
        .record_spikes(true)
        .check()
        .unwrap()
        .encode(&d, &x)
        .unwrap();
    let rec = enc.spikes.as_ref().unwrap();
    assert_eq!((rec.n_atoms, rec.n_neurons, rec.n_signals()), (20, 40, 70));
    assert_eq!(
        rec.signal.len() as u64,
        enc.spike_counts.iter().sum::<u64>()
    );
    assert_eq!(rec.codes(), enc.codes);
    assert!(rec.step.iter().all(|&t| (t as usize) < 200));
    let raster = rec.raster(5).unwrap();
    assert_eq!((raster.n_neurons, raster.steps), (40, 200));
    assert_eq!(raster.spikes.len() as u64, enc.spike_counts[5]);
    for i in 0..20 {
        assert!((raster.rates[i] + raster.rates[20 + i] - enc.codes[(i, 5)]).abs() < 1e-6);
    }
    assert!(rec.raster(70).is_err());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spikes.npz");
    rec.write_npz(&path).unwrap();
    assert_eq!(&SpikeRecord::read_npz(&path).unwrap(), rec);
    // A file missing an array, or with an out-of-range neuron, is refused.
    let mut bad = rec.clone();
    bad.neuron[0] = 40;
    bad.write_npz(&path).unwrap();
    let err = SpikeRecord::read_npz(&path).unwrap_err().to_string();
    assert!(
        err.contains("spikes.npz") && err.contains("neuron[0]"),
        "{err}"
    );
    let other = dir.path().join("other.npz");
    let a = lca::io::npy::NpyArray::from_f32(vec![1], &[1.0]).unwrap();
    lca::io::npz::write_npz(&other, &[("x", &a)]).unwrap();
    let err = SpikeRecord::read_npz(&other).unwrap_err().to_string();
    assert!(err.contains("not a spike file"), "{err}");
}

#[test]
fn a_fixed_point_overflow_is_reported_not_returned() {
    // 200 copies of one atom: their simultaneous first spikes inhibit each
    // neuron by 199·ϑ, beyond the 24-bit current of the chip.
    let atom = [0.6f32, 0.8];
    let d = Dictionary::from_rows(200, 2, atom.repeat(200)).unwrap();
    let x = DMatrix::from_column_slice(2, 2, &[0.0, 0.0, 0.6, 0.8]);
    let p = SpikingParams::new().nonneg(true).steps(50);
    let err = p
        .clone()
        .fixed_point(true)
        .check()
        .unwrap()
        .encode(&d, &x)
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InvalidSetting { .. }));
    assert!(
        msg.contains("cannot represent signal 1") && msg.contains("current"),
        "{msg}"
    );
    // Float has no such limit, and a synaptic filter spreads the inhibition.
    assert!(p.clone().check().unwrap().encode(&d, &x).is_ok());
    let spread = p
        .clone()
        .fixed_point(true)
        .current_decay(0.5)
        .check()
        .unwrap();
    assert!(spread.encode(&d, &x).is_ok());
    // A neuron that needs two spikes per step piles up voltage until it overflows.
    let sat = SpikingParams::new()
        .dt(2.0)
        .steps(1000)
        .fixed_point(true)
        .check()
        .unwrap();
    let msg = sat
        .encode(&identity(2), &DMatrix::from_column_slice(2, 1, &[1.0, 0.0]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("signal 0") && msg.contains("voltage") && msg.contains("lower dt"),
        "{msg}"
    );
}

#[test]
fn saturation_and_silence_are_reported() {
    let d = identity(4);
    let x = DMatrix::from_column_slice(
        4,
        3,
        &[
            1.0, 0.5, 0.0, 0.0, // needs 1.8 spikes per step at dt = 2
            0.0, 0.0, 0.0, 0.0, // zero signal
            0.05, -0.08, 0.0, 0.0, // below λ everywhere
        ],
    );
    let enc = SpikingParams::new()
        .dt(2.0)
        .steps(100)
        .check()
        .unwrap()
        .encode(&d, &x)
        .unwrap();
    assert_eq!(enc.saturated, vec![true, false, false]);
    assert!(enc.codes[(0, 0)] < 0.9 * 0.9); // capped at ϑ·s/dt = 0.5
    assert_eq!(&enc.spike_counts[1..], &[0, 0]);
    assert!(
        enc.codes
            .columns(1, 2)
            .iter()
            .all(|&v| v == 0.0 && v.is_sign_positive())
    );
}

#[test]
fn bad_settings_and_inputs_fail_clearly() {
    let bad = [
        SpikingParams::new().lambda(-0.1),
        SpikingParams::new().lambda(f32::NAN),
        SpikingParams::new().dt(0.0),
        SpikingParams::new().threshold(-1.0),
        SpikingParams::new().steps(0),
        SpikingParams::new().steps(100).settle(100),
        SpikingParams::new().current_decay(1.0),
        SpikingParams::new().pair_coupling(1.5),
        SpikingParams::new().fixed_point(true).dt(8.0),
    ];
    for p in bad {
        let err = p.clone().check().unwrap_err();
        assert!(matches!(err, Error::InvalidSetting { .. }), "{p:?}: {err}");
        assert_eq!(err.to_string().lines().count(), 1);
    }
    assert!(SpikingParams::new().dt(8.0).check().is_ok());
    let d = random_dictionary(8, 10, 19);
    let solver = SpikingParams::new().check().unwrap();
    let wrong = DMatrix::zeros(7, 2);
    assert!(matches!(solver.encode(&d, &wrong), Err(Error::Shape(_))));
    let mut nan = DMatrix::zeros(8, 2);
    nan[(3, 1)] = f32::NAN;
    assert!(matches!(
        solver.encode(&d, &nan),
        Err(Error::NonFinite { .. })
    ));
    let empty = solver.encode(&d, &DMatrix::zeros(8, 0)).unwrap();
    assert_eq!(empty.codes.shape(), (10, 0));
}
