//! Properties of the rate LCA: exact cases, LASSO optimality, agreement with an
//! independent solver, energy descent, warm starts and thread independence.

mod common;

use common::*;
use lca::neuron::{Integrator, Threshold, Transfer};
use lca::solver::Anneal;
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;

#[test]
fn identity_dictionary_gives_the_soft_threshold_exactly() {
    let n = 16;
    let eye: Vec<f32> = (0..n * n)
        .map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    let d = Dictionary::from_rows(n, n, eye).unwrap();
    let x = DMatrix::from_fn(n, 3, |i, j| ((i * 7 + j * 3) % 11) as f32 * 0.05 - 0.25);
    let soft = Transfer {
        threshold: Threshold::Soft,
        lambda: 0.1,
        nonneg: false,
    };
    // A one-step exponential integrator lands on the fixed point u = b exactly.
    let exact = LcaParams::new()
        .integrator(Integrator::ExponentialEuler)
        .dt(100.0);
    let enc = exact.check().unwrap().encode(&d, &x).unwrap();
    for (a, xi) in enc.codes.iter().zip(x.iter()) {
        assert_eq!(*a, soft.value(*xi));
    }
    // Default settings reach it to within the tolerance.
    let enc = LcaParams::new().check().unwrap().encode(&d, &x).unwrap();
    for (a, xi) in enc.codes.iter().zip(x.iter()) {
        assert!((a - soft.value(*xi)).abs() < 1e-4);
    }
}

#[test]
fn an_atom_as_input_activates_only_that_atom() {
    let d = random_dictionary(32, 48, 1);
    for j in [0, 17, 47] {
        let x = DMatrix::from_column_slice(32, 1, d.atom(j));
        let enc = LcaParams::new()
            .lambda(0.1)
            .tol(1e-6)
            .check()
            .unwrap()
            .encode(&d, &x)
            .unwrap();
        let active: Vec<usize> = (0..48).filter(|&i| enc.codes[(i, 0)] != 0.0).collect();
        assert_eq!(active, vec![j]);
        assert!((enc.codes[(j, 0)] - 0.9).abs() < 1e-4);
    }
}

/// Largest eigenvalue of ΦᵀΦ by power iteration.
fn lipschitz(d: &Dictionary) -> f32 {
    let gram = d.atoms().tr_mul(d.atoms());
    let mut v = DMatrix::from_element(d.n_atoms(), 1, 1.0f32);
    let mut l = 0.0;
    for _ in 0..500 {
        let w = &gram * &v;
        l = w.norm() / v.norm();
        v = w / l;
    }
    l
}

/// The energy is a Lyapunov function of the discrete LCA dynamics as long as
/// the step does not exceed 1/L (L = ‖Φ‖², so dt/τ ≤ 1 for an orthonormal
/// dictionary); the fixed-point jumps only ever lower it.
#[test]
fn energy_never_increases_for_steps_up_to_one_over_l() {
    let overcomplete = random_dictionary(24, 48, 2);
    let q = nalgebra::linalg::QR::new(random_dictionary(24, 24, 3).atoms().clone()).q();
    let orthonormal = Dictionary::from_atoms(q).unwrap();
    for d in [overcomplete, orthonormal] {
        let l = lipschitz(&d);
        let x = sparse_signals(&d, 20, 4, 3);
        for (frac, projection) in [
            (0.1f32, false),
            (0.5, false),
            (1.0, false),
            (0.5, true),
            (1.0, true),
        ] {
            let dt = (frac / l).min(1.0);
            let lca = LcaParams::new()
                .dt(dt)
                .lambda(0.1)
                .trace(true)
                .max_iters(300)
                .tol(0.0)
                .projection(projection);
            let enc = lca.check().unwrap().encode(&d, &x).unwrap();
            for t in &enc.traces {
                assert!(t.energy.len() >= 2);
            }
            assert_energy_never_rises(&enc, 1e-6, &format!("L={l} dt={dt}"));
        }
    }
}

#[test]
fn converged_codes_satisfy_the_kkt_conditions() {
    let d = random_dictionary(64, 128, 4);
    let x = sparse_signals(&d, 50, 6, 5);
    for nonneg in [false, true] {
        let lca = LcaParams::new()
            .lambda(0.1)
            .nonneg(nonneg)
            .tol(1e-6)
            .max_iters(20_000);
        let enc = lca.check().unwrap().encode(&d, &x).unwrap();
        assert!(enc.termination.iter().all(|t| t.converged()));
        for s in 0..x.ncols() {
            let a = enc.codes.column(s);
            let v = kkt_violation(&d, x.column(s).as_slice(), a.as_slice(), 0.1, nonneg);
            assert!(v < 1e-3, "nonneg={nonneg} signal {s}: KKT violation {v}");
            if nonneg {
                assert!(a.iter().all(|&v| v >= 0.0));
            }
        }
    }
}

/// Both the default solver (dynamics + fixed-point projection) and the pure
/// dynamics agree with an exact solver on random unit-norm dictionaries.
#[test]
fn defaults_agree_with_coordinate_descent() {
    for (seed, nonneg) in [(6u64, false), (7, true), (8, false)] {
        let d = random_dictionary(64, 128, seed);
        let x = sparse_signals(&d, 40, 8, seed + 100);
        for projection in [true, false] {
            let params = LcaParams::new()
                .lambda(0.1)
                .nonneg(nonneg)
                .projection(projection);
            let enc = params.check().unwrap().encode(&d, &x).unwrap();
            let mut worst = 0.0f64;
            for s in 0..x.ncols() {
                let xs = x.column(s);
                let a = enc.codes.column(s);
                let gap = relative_gap(&d, xs.as_slice(), a.as_slice(), 0.1, nonneg);
                worst = worst.max(gap);
                assert!(gap >= -1e-9, "beat the exact solver?");
                if nonneg {
                    assert!(a.iter().all(|&v| v >= 0.0));
                }
            }
            let iters = enc.iterations.iter().sum::<u32>() as f64 / x.ncols() as f64;
            println!(
                "seed {seed} nonneg={nonneg} projection={projection}: worst gap {worst:.2e}, mean iterations {iters:.0}"
            );
            assert!(worst < 1e-4, "relative gap {worst}");
        }
    }
}

#[test]
fn hard_and_firm_thresholds_reach_a_fixed_point() {
    let d = random_dictionary(32, 64, 9);
    let x = sparse_signals(&d, 10, 3, 10);
    for th in [Threshold::Hard, Threshold::Firm { width: 0.2 }] {
        let enc = LcaParams::new()
            .threshold(th)
            .tol(1e-6)
            .max_iters(20_000)
            .check()
            .unwrap()
            .encode(&d, &x)
            .unwrap();
        assert_fixed_point(&d, &x, &enc, th);
    }
}

/// Every trace's energy is non-increasing up to a relative `slack`.
fn assert_energy_never_rises(enc: &lca::Encoding, slack: f32, what: &str) {
    for (s, t) in enc.traces.iter().enumerate() {
        for w in t.energy.windows(2) {
            assert!(
                w[1] <= w[0] + slack * w[0],
                "{what} signal {s}: {} -> {}",
                w[0],
                w[1]
            );
        }
    }
}

/// `u = b − G a` within rounding and `a = T(u)` exactly: a fixed point of the
/// dynamics with threshold `th` (λ = 0.1).
fn assert_fixed_point(d: &Dictionary, x: &DMatrix<f32>, enc: &lca::Encoding, th: Threshold) {
    let b = d.drive(x);
    let g = d.inhibition() * &enc.codes;
    let residual = (&b - &g - &enc.states).abs().max();
    assert!(residual < 1e-5, "{th:?}: fixed point residual {residual}");
    let transfer = Transfer {
        threshold: th,
        lambda: 0.1,
        nonneg: false,
    };
    for (a, u) in enc.codes.iter().zip(enc.states.iter()) {
        assert_eq!(*a, transfer.value(*u));
    }
}

#[test]
fn warm_start_from_a_solution_stops_at_once() {
    let d = random_dictionary(32, 64, 11);
    let x = sparse_signals(&d, 30, 4, 12);
    let lca = LcaParams::new().check().unwrap();
    let cold = lca.encode(&d, &x).unwrap();
    let warm = lca.encode_from(&d, &x, Some(&cold.states), None).unwrap();
    assert!(
        warm.iterations.iter().all(|&i| i <= 2),
        "{:?}",
        warm.iterations
    );
    assert!((&warm.codes - &cold.codes).abs().max() < 1e-4);
}

#[test]
fn codes_do_not_depend_on_the_thread_count() {
    let d = random_dictionary(64, 128, 13);
    let x = sparse_signals(&d, 300, 6, 14);
    let lca = LcaParams::new().check().unwrap();
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| lca.encode(&d, &x).unwrap())
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.codes.as_slice(), two.codes.as_slice());
    assert_eq!(one.iterations, two.iterations);
}

#[test]
fn bad_settings_and_inputs_are_errors() {
    for p in [
        LcaParams::new().lambda(-0.1),
        LcaParams::new().lambda(f32::NAN),
        LcaParams::new().dt(0.0),
        LcaParams::new().tau(-1.0),
        LcaParams::new().dt(3.0),
        LcaParams::new().max_iters(0),
        LcaParams::new().threshold(Threshold::Firm { width: 0.0 }),
        LcaParams::new().anneal(Some(Anneal {
            start: 0.5,
            decay: 0.9,
        })),
        LcaParams::new().anneal(Some(Anneal {
            start: 2.0,
            decay: 1.0,
        })),
        LcaParams::new()
            .adaptive_dt(true)
            .threshold(Threshold::Hard),
    ] {
        assert!(p.check().is_err());
    }
    let d = random_dictionary(8, 10, 15);
    let lca = LcaParams::new().check().unwrap();
    let wrong = DMatrix::<f32>::zeros(7, 2);
    assert!(
        lca.encode(&d, &wrong)
            .unwrap_err()
            .to_string()
            .contains("features")
    );
    let mut nan = DMatrix::<f32>::zeros(8, 2);
    nan[(3, 1)] = f32::NAN;
    assert!(
        lca.encode(&d, &nan)
            .unwrap_err()
            .to_string()
            .contains("non-finite")
    );
    assert!(Dictionary::from_rows(2, 2, vec![1.0, 0.0, 0.0, 0.0]).is_err());
    assert!(Dictionary::from_rows(2, 2, vec![1.0, f32::INFINITY, 0.0, 1.0]).is_err());
    assert!(Dictionary::from_rows(0, 2, vec![]).is_err());
}

/// A small λ drives supports up to the number of features, where the frozen
/// systems become ill-conditioned or singular: the solver must still land on
/// the LASSO solution.
#[test]
fn small_lambda_with_large_supports_still_solves_the_lasso() {
    let d = random_dictionary(16, 48, 21);
    let x = sparse_signals(&d, 20, 12, 22);
    for nonneg in [false, true] {
        let lca = LcaParams::new().lambda(0.002).nonneg(nonneg).tol(1e-6);
        let enc = lca.check().unwrap().encode(&d, &x).unwrap();
        let mut largest = 0;
        for s in 0..x.ncols() {
            let xs = x.column(s);
            let a = enc.codes.column(s);
            largest = largest.max(a.iter().filter(|&&v| v != 0.0).count());
            let gap = relative_gap(&d, xs.as_slice(), a.as_slice(), 0.002, nonneg);
            assert!(
                gap < 1e-3,
                "nonneg={nonneg} signal {s}: gap {gap} (converged {}, {} iterations, {} jumps, {} active)",
                enc.termination[s].converged(),
                enc.iterations[s],
                enc.jumps[s],
                a.iter().filter(|&&v| v != 0.0).count()
            );
        }
        let jumps = enc.jumps.iter().sum::<u32>() as f64 / x.ncols() as f64;
        println!("nonneg={nonneg}: largest support {largest}, mean jumps {jumps:.1}");
        assert!(largest >= 12, "supports stayed small: {largest}");
    }
}

/// The adaptive step undoes any step that raises the energy, so the recorded
/// energy never rises — even from a step far beyond the stability limit — and
/// it still lands on the LASSO solution in fewer iterations than the fixed step.
#[test]
fn adaptive_time_step_keeps_the_energy_falling_and_converges() {
    let d = random_dictionary(32, 96, 31);
    let x = sparse_signals(&d, 12, 5, 32);
    let pure = LcaParams::new()
        .projection(false)
        .tol(1e-5)
        .max_iters(20_000);
    let fixed = pure.clone().check().unwrap().encode(&d, &x).unwrap();
    for dt in [0.1f32, 1.8] {
        let enc = pure
            .clone()
            .dt(dt)
            .adaptive_dt(true)
            .trace(true)
            .check()
            .unwrap()
            .encode(&d, &x)
            .unwrap();
        assert!(enc.termination.iter().all(|t| t.converged()), "dt {dt}");
        assert_energy_never_rises(&enc, 1e-5, &format!("dt {dt}"));
        for s in 0..x.ncols() {
            let xs = x.column(s);
            let a = enc.codes.column(s);
            let gap = relative_gap(&d, xs.as_slice(), a.as_slice(), 0.1, false);
            assert!(gap < 1e-4, "dt {dt} signal {s}: gap {gap}");
        }
        let mean = |v: &[u32]| v.iter().sum::<u32>() as f64 / v.len() as f64;
        println!(
            "dt {dt}: adaptive {:.0} vs fixed {:.0} iterations",
            mean(&enc.iterations),
            mean(&fixed.iterations)
        );
        assert!(mean(&enc.iterations) < mean(&fixed.iterations));
    }
}

/// Annealing only changes the path: soft-threshold codes still reach the
/// LASSO solution (with and without jumps), and hard-threshold codes a fixed
/// point of the final threshold.
#[test]
fn annealed_threshold_ends_at_the_target_fixed_point() {
    let d = random_dictionary(32, 64, 33);
    let x = sparse_signals(&d, 10, 4, 34);
    let anneal = Some(Anneal {
        start: 4.0,
        decay: 0.9,
    });
    for projection in [true, false] {
        let enc = LcaParams::new()
            .anneal(anneal)
            .projection(projection)
            .tol(1e-6)
            .max_iters(20_000)
            .check()
            .unwrap()
            .encode(&d, &x)
            .unwrap();
        assert!(enc.termination.iter().all(|t| t.converged()));
        // λ needs ln 4 / ln(1/0.9) ≈ 13 iterations to come down.
        assert!(
            enc.iterations.iter().all(|&i| i >= 13),
            "{:?}",
            enc.iterations
        );
        for s in 0..x.ncols() {
            let xs = x.column(s);
            let a = enc.codes.column(s);
            let gap = relative_gap(&d, xs.as_slice(), a.as_slice(), 0.1, false);
            assert!(gap < 1e-4, "projection {projection} signal {s}: gap {gap}");
        }
    }
    let enc = LcaParams::new()
        .threshold(Threshold::Hard)
        .anneal(anneal)
        .tol(1e-6)
        .max_iters(20_000)
        .check()
        .unwrap()
        .encode(&d, &x)
        .unwrap();
    assert_fixed_point(&d, &x, &enc, Threshold::Hard);
}

/// Duplicated and antipodal atoms, dense signals and tiny λ push supports to
/// the dimension, where the frozen systems are singular or badly conditioned:
/// the default solver must still reach the LASSO optimum (or, at λ = 0, an
/// exact fit), falling back to the dynamics where jumps would cycle.
#[test]
fn degenerate_dictionaries_and_tiny_lambda_still_reach_the_optimum() {
    let base = random_dictionary(32, 96, 41);
    let mut phi = base.atoms().clone();
    let copy = phi.column(4).clone_owned();
    phi.set_column(5, &copy);
    let flip = -phi.column(6).clone_owned();
    phi.set_column(7, &flip);
    let d = Dictionary::from_atoms(phi).unwrap();
    let mut rng_signals = sparse_signals(&d, 30, 32, 42); // dense: 32 random atoms each
    rng_signals.column_mut(0).copy_from(&d.atoms().column(4)); // a duplicated atom itself
    for lambda in [0.0f32, 0.02] {
        let enc = LcaParams::new()
            .lambda(lambda)
            .check()
            .unwrap()
            .encode(&d, &rng_signals)
            .unwrap();
        for s in 0..rng_signals.ncols() {
            let xs = rng_signals.column(s);
            let a = enc.codes.column(s);
            let ours = lca::solver::lasso_energy(&d, xs.as_slice(), a.as_slice(), lambda);
            if lambda == 0.0 {
                assert!(ours < 1e-6, "signal {s}: residual energy {ours}");
            } else {
                let gap = relative_gap(&d, xs.as_slice(), a.as_slice(), lambda, false);
                assert!(
                    gap < 1e-3,
                    "signal {s}: gap {gap} ({} jumps, {} steps)",
                    enc.jumps[s],
                    enc.iterations[s]
                );
            }
        }
    }
}

#[test]
fn a_cancel_flag_stops_the_batch_between_chunks_and_changes_nothing_otherwise() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let d = random_dictionary(32, 64, 21);
    let m = 40 * lca::solver::SIGNAL_CHUNK;
    let x = sparse_signals(&d, m, 4, 22);
    let lca = LcaParams::new().check().unwrap();
    // Raised by the progress hook after the first chunk: the rest is skipped.
    let stop = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let progress = |n: usize| {
        done.fetch_add(n, Ordering::SeqCst);
        stop.store(2, Ordering::SeqCst);
    };
    let monitor = lca::solver::Monitor {
        progress: Some(&progress),
        cancel: Some(&stop),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let result = pool.install(|| lca.encode_monitored(&d, &x, None, monitor));
    assert!(matches!(result, Err(lca::Error::Interrupted)), "{result:?}");
    assert!(
        done.load(Ordering::SeqCst) < m / 2,
        "{} of {m}",
        done.load(Ordering::SeqCst)
    );
    // Never raised: bit for bit the codes of a plain encode, every signal reported.
    let idle = AtomicUsize::new(0);
    let count = AtomicUsize::new(0);
    let report = |n: usize| {
        count.fetch_add(n, Ordering::SeqCst);
    };
    let monitor = lca::solver::Monitor {
        progress: Some(&report),
        cancel: Some(&idle),
    };
    let enc = lca.encode_monitored(&d, &x, None, monitor).unwrap();
    assert_eq!(enc.codes, lca.encode(&d, &x).unwrap().codes);
    assert_eq!(count.load(Ordering::SeqCst), m);
}
