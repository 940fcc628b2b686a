//! `lca encode` end to end: outputs, JSON summary, and every kind of bad input
//! failing with one clear line, a non-zero exit and no output file.

mod common;

use common::cli::*;
use common::*;
use lca::LcaParams;
use lca::io::{npy, npz};

fn encode(p: &Problem, extra: &[&str], out: &str) -> std::process::Output {
    let mut args = vec![
        "encode",
        "--dictionary",
        "D.npy",
        "--input",
        "X.npy",
        "--output",
        out,
        "--quiet",
    ];
    args.extend_from_slice(extra);
    lca(&args, p.dir.path())
}

#[test]
fn encodes_like_the_library_and_reports_json() {
    let p = Problem::new(16, 64, 100, 1);
    let out = lca(
        &[
            "encode",
            "-d",
            "D.npy",
            "-i",
            "X.npy",
            "-o",
            "A.npy",
            "--lambda",
            "0.1",
            "--json",
            "--threads",
            "2",
        ],
        p.dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "mean_energy",
        "mean_active",
        "iterations",
        "seconds",
        "signals_per_second",
    ] {
        assert!(summary[key].is_number(), "missing {key}: {summary}");
    }
    let a = npy::read_matrix(&p.path("A.npy")).unwrap();
    assert_eq!((a.rows, a.cols), (100, 64));

    let d = random_dictionary(16, 64, 1);
    let x = sparse_signals(&d, 100, 3, 2);
    let enc = LcaParams::new()
        .lambda(0.1)
        .check()
        .unwrap()
        .encode(&d, &x)
        .unwrap();
    // The CLI re-normalises the already unit-norm atoms it reads: equal up to rounding.
    let worst = a
        .data
        .iter()
        .zip(enc.codes.iter())
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "CLI and library codes differ by {worst}");
    let mean_active = summary["mean_active"].as_f64().unwrap();
    assert!((mean_active - enc.mean_active()).abs() < 0.05);
}

#[test]
fn npz_output_is_the_same_codes_in_csr() {
    let p = Problem::new(16, 64, 100, 1);
    assert!(encode(&p, &[], "A.npy").status.success());
    assert!(encode(&p, &[], "A.npz").status.success());
    let dense = npy::read_matrix(&p.path("A.npy")).unwrap();
    let csr = npz::read_csr(&p.path("A.npz")).unwrap();
    assert_eq!((csr.rows, csr.cols), (100, 64));
    assert_eq!(csr.nnz(), dense.data.iter().filter(|&&v| v != 0.0).count());
    assert_eq!(csr.to_dense_rows(), dense.data);
}

#[test]
fn thread_count_does_not_change_the_output() {
    let p = Problem::new(16, 64, 100, 1);
    assert!(encode(&p, &["--threads", "1"], "A1.npy").status.success());
    assert!(encode(&p, &["--threads", "2"], "A2.npy").status.success());
    assert_eq!(
        std::fs::read(p.path("A1.npy")).unwrap(),
        std::fs::read(p.path("A2.npy")).unwrap()
    );
}

#[test]
fn warm_start_and_trace_outputs() {
    let p = Problem::new(16, 64, 100, 1);
    assert!(
        encode(
            &p,
            &["--save-states", "U.npy", "--trace", "trace.csv"],
            "A.npy"
        )
        .status
        .success()
    );
    let trace = std::fs::read_to_string(p.path("trace.csv")).unwrap();
    assert!(trace.starts_with("iteration,mean_energy,mean_l1,mean_active,running\n"));
    let energies: Vec<f64> = trace
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(energies.len() >= 2 && energies.last() < energies.first());
    let out = lca(
        &[
            "encode",
            "-d",
            "D.npy",
            "-i",
            "X.npy",
            "-o",
            "B.npy",
            "--warm-start",
            "U.npy",
            "--json",
        ],
        p.dir.path(),
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["iterations"].as_f64().unwrap() <= 2.0, "{summary}");
}

#[test]
fn mismatched_shapes_are_reported_with_both_files() {
    let p = Problem::new(16, 64, 100, 1);
    npy::write_matrix(&p.path("X.npy"), 10, 15, &vec![0.1; 150]).unwrap();
    assert_fails(&encode(&p, &[], "A.npy"), &["X.npy", "D.npy", "15", "16"]);
    assert!(!p.path("A.npy").exists());
}

#[test]
fn non_finite_values_are_rejected() {
    for (file, rows, cols) in [("X.npy", 100, 16), ("D.npy", 64, 16)] {
        let p = Problem::new(16, 64, 100, 1);
        let mut m = npy::read_matrix(&p.path(file)).unwrap();
        m.data[cols + 3] = if file == "X.npy" {
            f32::NAN
        } else {
            f32::INFINITY
        };
        npy::write_matrix(&p.path(file), rows, cols, &m.data).unwrap();
        assert_fails(
            &encode(&p, &[], "A.npy"),
            &[file, "non-finite", "row 1, column 3"],
        );
        assert!(!p.path("A.npy").exists());
    }
}

#[test]
fn invalid_settings_are_rejected_before_any_work() {
    let p = Problem::new(16, 64, 100, 1);
    for (flags, needle) in [
        (&["--lambda", "-0.1"][..], "lambda"),
        (&["--dt", "0"][..], "dt"),
        (&["--dt", "-1"][..], "dt"),
        (&["--tau", "0"][..], "--time-constant"),
        (&["--time-constant", "-1"][..], "--time-constant"),
        (&["--max-iters", "0"][..], "max_iters"),
        (&["--threads", "0"][..], "threads"),
        (&["--anneal-from", "0.5"][..], "annealing"),
        (
            &["--anneal-from", "2", "--anneal-decay", "1.5"][..],
            "annealing",
        ),
        (
            &["--adaptive-dt", "--threshold", "hard"][..],
            "soft threshold",
        ),
        (&["--anneal-decay", "0.9"][..], "--anneal-from"),
    ] {
        assert_fails(&encode(&p, flags, "A.npy"), &[needle]);
        assert!(!p.path("A.npy").exists());
    }
}

#[test]
fn a_zero_atom_is_an_error_naming_the_dictionary() {
    let p = Problem::new(16, 64, 100, 1);
    let mut d = npy::read_matrix(&p.path("D.npy")).unwrap();
    d.data[5 * 16..6 * 16].fill(0.0);
    npy::write_matrix(&p.path("D.npy"), 64, 16, &d.data).unwrap();
    assert_fails(&encode(&p, &[], "A.npy"), &["D.npy", "atom 5", "zero norm"]);
}

#[test]
fn a_dictionary_without_atoms_is_an_error() {
    let p = Problem::new(16, 64, 100, 1);
    npy::write_matrix(&p.path("D.npy"), 0, 16, &[]).unwrap();
    assert_fails(&encode(&p, &[], "A.npy"), &["D.npy", "at least one atom"]);
    assert!(!p.path("A.npy").exists());
}

#[test]
fn missing_truncated_and_wrongly_typed_files_are_errors() {
    let p = Problem::new(16, 64, 100, 1);
    assert_fails(
        &lca(
            &["encode", "-d", "nope.npy", "-i", "X.npy", "-o", "A.npy"],
            p.dir.path(),
        ),
        &["nope.npy"],
    );

    let bytes = std::fs::read(p.path("X.npy")).unwrap();
    std::fs::write(p.path("X.npy"), &bytes[..bytes.len() - 10]).unwrap();
    assert_fails(&encode(&p, &[], "A.npy"), &["X.npy", "truncated"]);

    let mut ints = Vec::new();
    npy::write_array(
        &mut ints,
        npy::Dtype::I64,
        &[100, 16],
        &vec![0u8; 100 * 16 * 8],
    )
    .unwrap();
    std::fs::write(p.path("X.npy"), ints).unwrap();
    assert_fails(&encode(&p, &[], "A.npy"), &["X.npy", "dtype"]);

    std::fs::write(p.path("X.npy"), b"this is not numpy").unwrap();
    assert_fails(&encode(&p, &[], "A.npy"), &["X.npy"]);
    assert!(!p.path("A.npy").exists());
}

#[test]
fn an_unwritable_output_fails_before_encoding_and_leaves_nothing() {
    let p = Problem::new(16, 64, 100, 1);
    assert_fails(
        &encode(&p, &[], "missing-dir/A.npy"),
        &["missing-dir/A.npy", "does not exist"],
    );
    assert_fails(&encode(&p, &[], "A.txt"), &["A.txt", ".npy or .npz"]);
    std::fs::create_dir(p.path("adir.npy")).unwrap();
    assert_fails(&encode(&p, &[], "adir.npy"), &["adir.npy", "directory"]);
    let leftovers: Vec<_> = std::fs::read_dir(p.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 3, "{leftovers:?}");
}

/// The pure-dynamics options reach the same codes as the default solver; the
/// adaptive step in fewer iterations than the fixed one.
#[test]
fn adaptive_step_and_annealing_flags_reach_the_same_codes() {
    let p = Problem::new(16, 48, 40, 3);
    let summary = |flags: &[&str], out: &str| {
        let mut all = vec!["--json", "--tol", "1e-6"];
        all.extend_from_slice(flags);
        let o = encode(&p, &all, out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (
            v["iterations"].as_f64().unwrap(),
            npy::read_matrix(&p.path(out)).unwrap(),
        )
    };
    let (_, exact) = summary(&[], "exact.npy");
    let (fixed, _) = summary(&["--no-projection"], "fixed.npy");
    let (adaptive, a) = summary(&["--no-projection", "--adaptive-dt"], "adaptive.npy");
    let (_, annealed) = summary(
        &["--anneal-from", "3", "--anneal-decay", "0.8"],
        "annealed.npy",
    );
    assert!(
        adaptive < fixed,
        "adaptive {adaptive} vs fixed {fixed} iterations"
    );
    for other in [&a, &annealed] {
        let worst = exact
            .data
            .iter()
            .zip(&other.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "codes differ by {worst}");
    }
}

/// Issue 11 item 4: the codes must be a LASSO solution for the dictionary
/// given, so atoms that are not unit-norm are refused unless --normalize.
#[test]
fn a_dictionary_that_is_not_unit_norm_is_refused_unless_normalize() {
    let p = Problem::new(16, 64, 100, 1);
    let d = npy::read_matrix(&p.path("D.npy")).unwrap();
    let doubled: Vec<f32> = d.data.iter().map(|v| 2.0 * v).collect();
    npy::write_matrix(&p.path("D2.npy"), 64, 16, &doubled).unwrap();
    let with = |dict: &str, extra: &[&str], out: &str| {
        let mut args = vec!["encode", "-d", dict, "-i", "X.npy", "-o", out, "--json"];
        args.extend_from_slice(extra);
        lca(&args, p.dir.path())
    };
    assert_fails(
        &with("D2.npy", &[], "A2.npy"),
        &["D2.npy", "row 0", "2.000000", "--normalize"],
    );
    assert!(!p.path("A2.npy").exists());
    // Only one atom off: that row is named.
    let mut one = d.data.clone();
    one[7 * 16..8 * 16].iter_mut().for_each(|v| *v *= 1.01);
    npy::write_matrix(&p.path("D3.npy"), 64, 16, &one).unwrap();
    assert_fails(
        &with("D3.npy", &[], "A3.npy"),
        &["D3.npy", "row 7", "1.010000"],
    );
    for mode in ["rate", "spiking"] {
        let out = with("D2.npy", &["--normalize", "--mode", mode], "A2.npy");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["normalized"], true, "{s}");
        let out = with("D.npy", &["--mode", mode], "A.npy");
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["normalized"], false, "{s}");
        // --normalize encodes over the normalised atoms, which are D's.
        let (a, a2) = (
            npy::read_matrix(&p.path("A.npy")).unwrap(),
            npy::read_matrix(&p.path("A2.npy")).unwrap(),
        );
        let worst = a
            .data
            .iter()
            .zip(&a2.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{mode}: codes differ by {worst}");
    }
    let help = lca(&["encode", "--help"], p.dir.path());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--normalize"));
}

/// Issue 11 item 8: negative numbers are values, so they reach the real
/// validation, for every subcommand.
#[test]
fn negative_numbers_reach_the_validation_of_every_subcommand() {
    let p = Problem::new(16, 64, 10, 1);
    for (args, needle) in [
        (&["--lambda", "-1"][..], "lambda"),
        (&["--tol", "-1"][..], "tol"),
        (&["--dt", "-0.5"][..], "dt"),
        (&["--anneal-from", "-2"][..], "anneal"),
    ] {
        let out = encode(&p, args, "A.npy");
        assert_fails(&out, &[needle]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
    // An unsigned count gets clap's own value error, not the flag confusion.
    let out = encode(&p, &["--max-iters", "-1"], "A.npy");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value '-1' for '--max-iters"), "{err}");
    for (args, needle) in [
        (
            &["learn", "--lambda", "-1", "--output", "out"][..],
            "lambda",
        ),
        (
            &[
                "snn",
                "train",
                "--lr",
                "-1",
                "--dataset",
                "yinyang",
                "--output",
                "net",
            ][..],
            "`lr`",
        ),
    ] {
        let out = lca(args, p.dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// Issue 11 item 15: unambiguous names, old spellings kept as aliases.
#[test]
fn renamed_flags_and_their_old_spellings_give_the_same_codes() {
    let p = Problem::new(16, 48, 40, 3);
    for (old, new) in [
        (
            &["--tau", "2", "--no-projection"][..],
            &["--time-constant", "2", "--no-projection"][..],
        ),
        (
            &["--threshold", "firm", "--firm-width", "0.2"][..],
            &["--transfer", "firm", "--firm-width", "0.2"][..],
        ),
        (
            &["--mode", "spiking", "--steps", "100"][..],
            &["--mode", "spiking", "--time-steps", "100"][..],
        ),
    ] {
        let (a, b) = (encode(&p, old, "A.npy"), encode(&p, new, "B.npy"));
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        assert_eq!(
            std::fs::read(p.path("A.npy")).unwrap(),
            std::fs::read(p.path("B.npy")).unwrap(),
            "{old:?} vs {new:?}"
        );
    }
    // The spelling matters: --tau 2 is not the default.
    assert!(encode(&p, &["--no-projection"], "C.npy").status.success());
    assert!(
        encode(&p, &["--tau", "2", "--no-projection"], "A.npy")
            .status
            .success()
    );
    let s = |f: &str| {
        let out = lca(
            &[
                "encode",
                "-d",
                "D.npy",
                "-i",
                "X.npy",
                "-o",
                f,
                "--json",
                "--no-projection",
                "--tau",
                "2",
            ],
            p.dir.path(),
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert!(s("A.npy")["iterations"].as_f64().unwrap() > 0.0);
    let help =
        String::from_utf8_lossy(&lca(&["encode", "--help"], p.dir.path()).stdout).to_string();
    for flag in ["--time-constant", "--transfer", "--time-steps"] {
        assert!(help.contains(flag), "help lacks {flag}");
    }
    for old in ["--tau ", "--threshold ", "--steps "] {
        assert!(!help.contains(old), "help still shows {old}");
    }
    assert_fails(
        &encode(&p, &["--firm-width", "0.2"], "F.npy"),
        &["--firm-width", "--transfer firm"],
    );
}

/// Issue 11 item 10: the summary reports what the default solver does.
#[test]
fn the_text_summary_reports_jumps_and_dynamics_steps() {
    let p = Problem::new(16, 64, 100, 1);
    let out = lca(
        &["encode", "-d", "D.npy", "-i", "X.npy", "-o", "A.npy"],
        p.dir.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("jumps per signal") && text.contains("dynamics steps"),
        "{text}"
    );
    assert!(!text.contains("mean iterations"), "{text}");
}

#[test]
fn an_output_under_a_regular_file_says_it_is_not_a_directory() {
    let p = Problem::new(16, 64, 10, 1);
    std::fs::write(p.path("afile"), b"x").unwrap();
    assert_fails(
        &encode(&p, &[], "afile/A.npy"),
        &["afile/A.npy", "afile is not a directory"],
    );
}
