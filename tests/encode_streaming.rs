//! `lca encode` reads its input in blocks of rows: every output must be the
//! same, byte for byte, whatever the block size, and the streamed codes must
//! still be LASSO solutions. `--chunk-rows` (hidden) forces small blocks.

mod common;

use common::cli::*;
use common::*;
use lca::Dictionary;
use lca::io::npy::{self, Dtype, Header, NpyArray};
use lca::solver::SpikeRecord;

/// 300 signals: not a multiple of 64, so the last block is a partial one.
const M: usize = 300;

fn run(p: &Problem, args: &[&str]) -> serde_json::Value {
    let mut all = vec![
        "encode",
        "-d",
        "D.npy",
        "--quiet",
        "--json",
        "--threads",
        "2",
    ];
    if !args.contains(&"-i") {
        all.extend_from_slice(&["-i", "X.npy"]);
    }
    all.extend_from_slice(args);
    let out = lca(&all, p.dir.path());
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The summary without what legitimately differs between two runs.
fn comparable(mut s: serde_json::Value) -> serde_json::Value {
    for key in ["seconds", "signals_per_second", "output"] {
        s.as_object_mut().unwrap().remove(key);
    }
    s
}

fn bytes(p: &Problem, name: &str) -> Vec<u8> {
    std::fs::read(p.path(name)).unwrap()
}

#[test]
fn rate_codes_states_trace_and_summary_do_not_depend_on_the_block_size() {
    let p = Problem::new(16, 48, M, 5);
    let whole = run(
        &p,
        &["-o", "A.npy", "--save-states", "U.npy", "--trace", "T.csv"],
    );
    for rows in ["64", "128", "192"] {
        let s = run(
            &p,
            &[
                "-o",
                "B.npy",
                "--save-states",
                "V.npy",
                "--trace",
                "S.csv",
                "--chunk-rows",
                rows,
            ],
        );
        assert_eq!(
            bytes(&p, "A.npy"),
            bytes(&p, "B.npy"),
            "codes, blocks of {rows}"
        );
        assert_eq!(
            bytes(&p, "U.npy"),
            bytes(&p, "V.npy"),
            "states, blocks of {rows}"
        );
        assert_eq!(
            bytes(&p, "T.csv"),
            bytes(&p, "S.csv"),
            "trace, blocks of {rows}"
        );
        assert_eq!(
            comparable(whole.clone()),
            comparable(s),
            "summary, blocks of {rows}"
        );
    }
    // CSR output gathered block by block is the dense codes.
    run(&p, &["-o", "A.npz", "--chunk-rows", "64"]);
    let csr = lca::io::npz::read_csr(&p.path("A.npz")).unwrap();
    assert_eq!((csr.rows, csr.cols), (M, 48));
    assert_eq!(
        csr.to_dense_rows(),
        npy::read_matrix(&p.path("A.npy")).unwrap().data
    );

    // A warm start streamed beside the input: same codes in one block or many.
    run(&p, &["-o", "W1.npy", "--warm-start", "U.npy"]);
    run(
        &p,
        &[
            "-o",
            "W2.npy",
            "--warm-start",
            "U.npy",
            "--chunk-rows",
            "64",
        ],
    );
    assert_eq!(bytes(&p, "W1.npy"), bytes(&p, "W2.npy"));
}

#[test]
fn streamed_rate_codes_satisfy_the_lasso_optimality_conditions() {
    let p = Problem::new(16, 48, M, 5);
    run(
        &p,
        &["-o", "A.npy", "--chunk-rows", "64", "--lambda", "0.1"],
    );
    let d = npy::read_matrix(&p.path("D.npy")).unwrap();
    let dict = Dictionary::from_rows(d.rows, d.cols, d.data).unwrap();
    let x = npy::read_matrix(&p.path("X.npy")).unwrap();
    let a = npy::read_matrix(&p.path("A.npy")).unwrap();
    for s in 0..M {
        let xs = &x.data[s * 16..(s + 1) * 16];
        let as_ = &a.data[s * 48..(s + 1) * 48];
        let v = kkt_violation(&dict, xs, as_, 0.1, false);
        assert!(v < 1e-3, "signal {s}: KKT violation {v}");
    }
}

#[test]
fn spiking_codes_spikes_and_summary_do_not_depend_on_the_block_size() {
    let p = Problem::new(16, 48, M, 6);
    for extra in [&[][..], &["--fixed-point"][..], &["--nonneg"][..]] {
        let mut one = vec!["--mode", "spiking", "--steps", "128", "-o", "A.npy"];
        one.extend_from_slice(&["--spikes", "S1.npz"]);
        one.extend_from_slice(extra);
        let whole = run(&p, &one);
        let mut many = vec!["--mode", "spiking", "--time-steps", "128", "-o", "B.npy"];
        many.extend_from_slice(&["--spikes", "S2.npz", "--chunk-rows", "64"]);
        many.extend_from_slice(extra);
        let blocks = run(&p, &many);
        assert_eq!(bytes(&p, "A.npy"), bytes(&p, "B.npy"), "{extra:?}");
        let (r1, r2) = (
            SpikeRecord::read_npz(&p.path("S1.npz")).unwrap(),
            SpikeRecord::read_npz(&p.path("S2.npz")).unwrap(),
        );
        assert_eq!(r1.n_signals(), M);
        // Signal numbers are rows of the whole input, not of a block.
        assert_eq!(*r2.signal.last().unwrap() as usize, M - 1);
        assert_eq!(r1, r2, "{extra:?}");
        assert_eq!(comparable(whole), comparable(blocks), "{extra:?}");
    }
}

/// The signals as a `.npy` of another layout: f64 and/or Fortran order.
fn write_variant(p: &Problem, name: &str, dtype: Dtype, fortran: bool) {
    let x = npy::read_matrix(&p.path("X.npy")).unwrap();
    let (rows, cols) = (x.rows, x.cols);
    let order: Vec<f32> = if fortran {
        (0..cols)
            .flat_map(|j| (0..rows).map(move |i| (i, j)))
            .map(|(i, j)| x.data[i * cols + j])
            .collect()
    } else {
        x.data.clone()
    };
    let bytes = match dtype {
        Dtype::F64 => npy::f64_bytes(&order.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()),
        _ => npy::f32_bytes(&order),
    };
    let array = NpyArray {
        header: Header {
            dtype,
            fortran_order: fortran,
            shape: vec![rows, cols],
        },
        bytes,
    };
    npy::write_npy(&p.path(name), &array).unwrap();
}

#[test]
fn fortran_order_and_f64_inputs_stream_to_the_same_codes() {
    let p = Problem::new(16, 48, M, 7);
    run(&p, &["-o", "A.npy"]);
    for (name, dtype, fortran) in [
        ("XF.npy", Dtype::F32, true),
        ("X64.npy", Dtype::F64, false),
        ("XF64.npy", Dtype::F64, true),
    ] {
        write_variant(&p, name, dtype, fortran);
        let out = format!("A-{name}");
        run(&p, &["-i", name, "-o", &out, "--chunk-rows", "64"]);
        assert_eq!(bytes(&p, "A.npy"), bytes(&p, &out), "{name}");
    }
}

#[test]
fn a_truncated_input_or_warm_start_is_refused_before_any_output() {
    let p = Problem::new(16, 48, M, 5);
    run(&p, &["-o", "A.npy", "--save-states", "U.npy"]);
    for (file, flags) in [
        ("X.npy", &[][..]),
        ("U.npy", &["--warm-start", "U.npy"][..]),
    ] {
        let full = bytes(&p, file);
        std::fs::write(p.path(file), &full[..full.len() - 4]).unwrap();
        let mut args = vec![
            "encode",
            "-d",
            "D.npy",
            "-i",
            "X.npy",
            "-o",
            "B.npy",
            "--chunk-rows",
            "64",
        ];
        args.extend_from_slice(flags);
        assert_fails(&lca(&args, p.dir.path()), &[file, "truncated"]);
        assert!(!p.path("B.npy").exists());
        std::fs::write(p.path(file), &full).unwrap();
    }
    // A NaN in a later block names its row in the whole file.
    let mut x = npy::read_matrix(&p.path("X.npy")).unwrap();
    x.data[200 * 16 + 7] = f32::NAN;
    npy::write_matrix(&p.path("X.npy"), M, 16, &x.data).unwrap();
    let out = lca(
        &[
            "encode",
            "-d",
            "D.npy",
            "-i",
            "X.npy",
            "-o",
            "B.npy",
            "--chunk-rows",
            "64",
        ],
        p.dir.path(),
    );
    assert_fails(&out, &["X.npy", "row 200, column 7"]);
    assert!(!p.path("B.npy").exists());
    let leftovers: Vec<_> = std::fs::read_dir(p.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn chunk_rows_must_be_a_multiple_of_the_solver_chunk() {
    let p = Problem::new(16, 48, 10, 5);
    for bad in ["0", "100"] {
        let out = lca(
            &[
                "encode",
                "-d",
                "D.npy",
                "-i",
                "X.npy",
                "-o",
                "A.npy",
                "--chunk-rows",
                bad,
            ],
            p.dir.path(),
        );
        assert_fails(&out, &["--chunk-rows", "64"]);
    }
}

#[test]
fn an_empty_input_gives_an_empty_output_and_a_zero_summary() {
    let p = Problem::new(16, 48, 10, 5);
    npy::write_matrix(&p.path("X.npy"), 0, 16, &[]).unwrap();
    for mode in ["rate", "spiking"] {
        let s = run(&p, &["-o", "A.npy", "--mode", mode]);
        assert_eq!(s["n_signals"], 0);
        let e = s["mean_energy"].as_f64().unwrap();
        assert!(e == 0.0 && e.is_sign_positive(), "{s}");
        let a = npy::read_matrix(&p.path("A.npy")).unwrap();
        assert_eq!((a.rows, a.cols), (0, 48));
        let out = lca(
            &[
                "encode", "-d", "D.npy", "-i", "X.npy", "-o", "A.npz", "--mode", mode,
            ],
            p.dir.path(),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("no rows"), "{text}");
        assert!(!text.contains("-0.0"), "{text}");
    }
}
