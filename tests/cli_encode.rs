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
