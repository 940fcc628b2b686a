//! `lca encode --mode spiking` end to end: codes, JSON summary, spike files,
//! the fixed-point report, and bad input failing with one line and no output.

mod common;

use common::cli::*;
use common::*;
use lca::io::{npy, npz};
use lca::solver::{SpikeRecord, SpikingParams};

fn encode(p: &Problem, extra: &[&str], out: &str) -> std::process::Output {
    let mut args = vec![
        "encode", "-d", "D.npy", "-i", "X.npy", "-o", out, "--quiet", "--json",
    ];
    args.extend_from_slice(extra);
    lca(&args, p.dir.path())
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn spiking_mode_writes_codes_spikes_and_a_summary() {
    let p = Problem::new(16, 48, 80, 3);
    let s = summary(&encode(
        &p,
        &[
            "--mode",
            "spiking",
            "--nonneg",
            "--steps",
            "400",
            "--spikes",
            "S.npz",
            "--threads",
            "2",
        ],
        "A.npy",
    ));
    for key in [
        "mean_energy",
        "mean_active",
        "iterations",
        "seconds",
        "signals_per_second",
        "spikes_per_signal",
        "saturated",
    ] {
        assert!(s[key].is_number(), "missing {key}: {s}");
    }
    assert_eq!(s["mode"], "spiking");
    assert_eq!(s["steps"], 400);
    assert_eq!(s["settle"], 100);
    let a = npy::read_matrix(&p.path("A.npy")).unwrap();
    assert_eq!((a.rows, a.cols), (80, 48));
    assert!(a.data.iter().all(|&v| v >= 0.0));

    // The spike file reproduces the codes exactly.
    let rec = SpikeRecord::read_npz(&p.path("S.npz")).unwrap();
    assert_eq!((rec.n_signals(), rec.n_atoms, rec.n_neurons), (80, 48, 48));
    assert_eq!(rec.codes().as_slice(), a.data.as_slice());
    let total = s["spikes_per_signal"].as_f64().unwrap() * 80.0;
    assert!((rec.signal.len() as f64 - total).abs() < 0.5);

    // Same codes as the library (the CLI re-normalises the unit-norm atoms).
    let d = random_dictionary(16, 48, 3);
    let x = sparse_signals(&d, 80, 3, 4);
    let enc = SpikingParams::new()
        .nonneg(true)
        .steps(400)
        .check()
        .unwrap()
        .encode(&d, &x)
        .unwrap();
    let energy = lca::solver::lasso_objectives(&d, &x, &enc.codes, 0.1)
        .iter()
        .sum::<f64>()
        / 80.0;
    assert!((energy - s["mean_energy"].as_f64().unwrap()).abs() < 1e-4 * energy);

    // CSR output holds the same codes.
    assert!(
        encode(
            &p,
            &["--mode", "spiking", "--nonneg", "--steps", "400"],
            "A.npz"
        )
        .status
        .success()
    );
    assert_eq!(
        npz::read_csr(&p.path("A.npz")).unwrap().to_dense_rows(),
        a.data
    );
}

#[test]
fn fixed_point_reports_its_error_against_float() {
    let p = Problem::new(16, 48, 80, 3);
    let s = summary(&encode(
        &p,
        &["--mode", "spiking", "--fixed-point", "--steps", "600"],
        "A.npy",
    ));
    assert_eq!(s["fixed_point"], true);
    let v = &s["vs_float"];
    let rel = v["energy_rel_diff"].as_f64().unwrap();
    assert!(rel.abs() < 5e-3, "{s}");
    assert!(v["rel_code_error"].as_f64().unwrap() < 0.2, "{s}");
    assert!(v["mean_energy_float"].is_number());
}

#[test]
fn thread_count_does_not_change_spiking_output() {
    let p = Problem::new(16, 48, 80, 3);
    for extra in [&[][..], &["--fixed-point"][..]] {
        let mut one = vec!["--mode", "spiking", "--threads", "1", "--spikes", "S1.npz"];
        let mut two = vec!["--mode", "spiking", "--threads", "2", "--spikes", "S2.npz"];
        one.extend_from_slice(extra);
        two.extend_from_slice(extra);
        assert!(encode(&p, &one, "A1.npy").status.success());
        assert!(encode(&p, &two, "A2.npy").status.success());
        for (a, b) in [("A1.npy", "A2.npy"), ("S1.npz", "S2.npz")] {
            let (fa, fb) = (p.path(a), p.path(b));
            if a.ends_with("npz") {
                assert_eq!(
                    SpikeRecord::read_npz(&fa).unwrap(),
                    SpikeRecord::read_npz(&fb).unwrap()
                );
            } else {
                assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
            }
        }
    }
}

#[test]
fn flags_of_the_other_mode_and_bad_settings_are_refused_without_output() {
    let p = Problem::new(16, 48, 80, 3);
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--steps", "100"], vec!["--time-steps", "--mode rate"]),
        (
            vec!["--time-steps", "100"],
            vec!["--time-steps", "--mode rate"],
        ),
        (vec!["--fixed-point"], vec!["--fixed-point", "--mode rate"]),
        (vec!["--spikes", "S.npz"], vec!["--spikes"]),
        (
            vec!["--mode", "spiking", "--trace", "t.csv"],
            vec!["--trace", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--threshold", "hard"],
            vec!["--transfer hard", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--transfer", "firm"],
            vec!["--transfer firm", "--mode spiking"],
        ),
        // Every rate-only flag is refused in spiking mode, naming flag and mode.
        (
            vec!["--mode", "spiking", "--max-iters", "10"],
            vec!["--max-iters", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--tol", "1e-3"],
            vec!["--tol", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--tau", "2"],
            vec!["--time-constant", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--time-constant", "2"],
            vec!["--time-constant", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--integrator", "exponential"],
            vec!["--integrator", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--patience", "3"],
            vec!["--patience", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--no-projection"],
            vec!["--no-projection", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--adaptive-dt"],
            vec!["--adaptive-dt", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--anneal-from", "2"],
            vec!["--anneal-from", "--mode spiking"],
        ),
        (
            vec!["--mode", "spiking", "--save-states", "U.npy"],
            vec!["--save-states", "--mode spiking"],
        ),
        // And every spiking-only flag in rate mode.
        (vec!["--settle", "10"], vec!["--settle", "--mode rate"]),
        (
            vec!["--spike-threshold", "2"],
            vec!["--spike-threshold", "--mode rate"],
        ),
        (
            vec!["--current-decay", "0.5"],
            vec!["--current-decay", "--mode rate"],
        ),
        (
            vec!["--pair-coupling", "1"],
            vec!["--pair-coupling", "--mode rate"],
        ),
        (
            vec!["--mode", "spiking", "--time-steps", "0"],
            vec!["--time-steps"],
        ),
        (
            vec!["--mode", "spiking", "--warm-start", "W.npy"],
            vec!["--warm-start"],
        ),
        (vec!["--mode", "spiking", "--steps", "0"], vec!["steps"]),
        (
            vec!["--mode", "spiking", "--steps", "10", "--settle", "10"],
            vec!["settling window"],
        ),
        (
            vec!["--mode", "spiking", "--spike-threshold", "0"],
            vec!["threshold"],
        ),
        (vec!["--mode", "spiking", "--dt", "-1"], vec!["dt"]),
        (
            vec!["--mode", "spiking", "--current-decay", "1"],
            vec!["current decay"],
        ),
        (
            vec!["--mode", "spiking", "--fixed-point", "--dt", "9"],
            vec!["fixed point"],
        ),
        (
            vec!["--mode", "spiking", "--spikes", "S.npy"],
            vec!["S.npy", ".npz"],
        ),
        (
            vec!["--mode", "spiking", "--spikes", "nodir/S.npz"],
            vec!["nodir"],
        ),
    ];
    for (extra, needles) in cases {
        let out = encode(&p, &extra, "A.npy");
        assert_fails(&out, &needles);
        assert!(!p.path("A.npy").exists(), "{extra:?} left an output");
        assert!(!p.path("S.npz").exists());
    }
    // Mismatched shapes name both files.
    npy::write_matrix(&p.path("Y.npy"), 3, 5, &[0.5; 15]).unwrap();
    let out = lca(
        &[
            "encode", "-d", "D.npy", "-i", "Y.npy", "-o", "A.npy", "--mode", "spiking", "--spikes",
            "S.npz",
        ],
        p.dir.path(),
    );
    assert_fails(&out, &["Y.npy", "D.npy"]);
    assert!(!p.path("A.npy").exists() && !p.path("S.npz").exists());
}

#[test]
fn a_fixed_point_overflow_fails_without_output() {
    let p = Problem::new(16, 48, 80, 3);
    let atom = [0.6f32, 0.8];
    npy::write_matrix(&p.path("D2.npy"), 200, 2, &atom.repeat(200)).unwrap();
    npy::write_matrix(&p.path("X2.npy"), 1, 2, &atom).unwrap();
    let args = [
        "encode", "-d", "D2.npy", "-i", "X2.npy", "-o", "A.npy", "--mode", "spiking", "--nonneg",
    ];
    let mut fixed = args.to_vec();
    fixed.extend(["--fixed-point", "--spikes", "S.npz"]);
    let out = lca(&fixed, p.dir.path());
    assert_fails(&out, &["cannot represent signal 0", "24-bit"]);
    assert!(!p.path("A.npy").exists() && !p.path("S.npz").exists());
    assert!(lca(&args, p.dir.path()).status.success());
}

#[test]
fn plot_raster_draws_one_signal_of_a_spike_file() {
    let p = Problem::new(16, 48, 80, 3);
    let out = encode(
        &p,
        &["--mode", "spiking", "--steps", "300", "--spikes", "S.npz"],
        "A.npy",
    );
    assert!(out.status.success());
    let plot = |extra: &[&str]| {
        let mut args = vec!["plot", "raster", "S.npz"];
        args.extend_from_slice(extra);
        lca(&args, p.dir.path())
    };
    let ok = plot(&["--signal", "3", "-o", "R.png"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let img = image::open(p.path("R.png")).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        lca::plot::raster_figure_size(96)
    );
    assert!(plot(&["--signal", "79"]).status.success());
    assert!(p.path("S.raster79.png").exists());
    let bad = plot(&["--signal", "80", "-o", "Bad.png"]);
    assert_fails(&bad, &["S.npz", "signal 80", "80 signals"]);
    assert!(!p.path("Bad.png").exists());
    let missing = lca(&["plot", "raster", "none.npz"], p.dir.path());
    assert_fails(&missing, &["none.npz"]);
}

/// A 3-D convolutional dictionary `C.npy` (4 unit-norm 5×5 filters) and a
/// 20×20 image `I.npy` in the problem's folder.
fn conv_problem() -> Problem {
    let p = Problem::new(4, 4, 1, 11);
    let mut seed = 0x9e37_79b9_u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut filters: Vec<f32> = (0..100).map(|_| next()).collect();
    for f in filters.chunks_mut(25) {
        let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        f.iter_mut().for_each(|v| *v /= norm);
    }
    let image: Vec<f32> = (0..400).map(|_| next()).collect();
    npy::write_npy(
        &p.path("C.npy"),
        &npy::NpyArray::from_f32(vec![4, 1, 5, 5], &filters).unwrap(),
    )
    .unwrap();
    npy::write_npy(
        &p.path("I.npy"),
        &npy::NpyArray::from_f32(vec![20, 20], &image).unwrap(),
    )
    .unwrap();
    p
}

fn conv_encode(p: &Problem, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "encode", "-d", "C.npy", "-i", "I.npy", "-o", "A.npy", "--quiet", "--json",
    ];
    args.extend_from_slice(extra);
    lca(&args, p.dir.path())
}

#[test]
fn conv_spiking_fixed_point_reports_its_cost_against_float() {
    let p = conv_problem();
    let s = summary(&conv_encode(
        &p,
        &[
            "--mode",
            "spiking",
            "--fixed-point",
            "--time-steps",
            "256",
            "--dt",
            "0.25",
        ],
    ));
    assert_eq!(s["mode"], "convolutional");
    assert_eq!(s["solver"], "spiking");
    assert_eq!(s["fixed_point"], true);
    assert_eq!(s["spiking"]["dt"], 0.25);
    assert_eq!(s["spiking"]["steps"], 256);
    assert_eq!(s["spiking"]["weight_synapses"], 2);
    let v = &s["vs_float"];
    let diff = v["objective_rel_diff"].as_f64().unwrap();
    assert!(diff.abs() < 1e-2, "fixed vs float: {v}");
    assert!(v["spikes_float"][0].as_u64().unwrap() > 0);
    assert!(s["spikes"][0].as_u64().unwrap() > 0);
    let a = npy::read_array(&p.path("A.npy")).unwrap();
    assert_eq!(a.header.shape, vec![4, 20, 20]);
    assert!(a.to_f32_vec().unwrap().iter().all(|&v| v >= 0.0));
    // The same settings through the library: identical codes.
    let d = lca::conv::ConvDictionary::from_npy(&p.path("C.npy")).unwrap();
    let image = npy::read_array(&p.path("I.npy")).unwrap();
    let x = lca::conv::Planes::new(1, 20, 20, image.to_f32_vec().unwrap()).unwrap();
    let lib = lca::conv::ConvSpikingParams::new()
        .steps(256)
        .dt(0.25)
        .fixed_point(true)
        .check()
        .unwrap()
        .encode_one(&d, &x)
        .unwrap();
    assert_eq!(lib.codes.data, a.to_f32_vec().unwrap());
}

#[test]
fn flags_a_convolutional_dictionary_cannot_use_are_refused() {
    let p = conv_problem();
    for (flags, needle) in [
        (
            &["--mode", "spiking", "--current-decay", "0.5"][..],
            "--current-decay",
        ),
        (&["--mode", "spiking", "--spikes", "S.npz"][..], "--spikes"),
        (&["--dt", "0.2"][..], "--dt"),
        (&["--warm-start", "W.npy"][..], "--warm-start"),
        (&["--mode", "spiking", "--tol", "1e-3"][..], "--tol"),
        (&["--fixed-point"][..], "--fixed-point"),
        (
            &["--mode", "spiking", "--weight-synapses", "1"][..],
            "--weight-synapses",
        ),
    ] {
        assert_fails(&conv_encode(&p, flags), &[needle]);
        assert!(!p.path("A.npy").exists(), "{flags:?} wrote codes");
    }
    // And the patch solvers refuse the convolutional one.
    assert_fails(
        &encode(
            &p,
            &[
                "--mode",
                "spiking",
                "--fixed-point",
                "--weight-synapses",
                "1",
            ],
            "B.npy",
        ),
        &["--weight-synapses", "convolutional"],
    );
}
