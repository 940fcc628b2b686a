//! `lca encode` and `lca reconstruct` with 1-D and 3-D convolutional
//! dictionaries: `--dims`, inference where unambiguous, the codes' layout
//! (the library's codes, round-tripped through files), and bad input (one
//! line naming the file, nothing written).

mod common;

use common::Lcg;
use common::cli::{assert_fails, assert_success, lca, summary};
use lca::conv::{ConvDictionary, ConvLcaParams, Planes};
use lca::io::npy::{self, NpyArray};

/// Deterministic values in [-0.5, 0.5).
fn values(n: usize, seed: u64) -> Vec<f32> {
    Lcg(seed).vec(n)
}

/// Unit-norm filters of `shape = (M, …)` written to `path`.
fn write_filters(path: &std::path::Path, shape: &[usize], seed: u64) -> Vec<f32> {
    let per: usize = shape[1..].iter().product();
    let mut v = values(shape[0] * per, seed);
    for f in v.chunks_mut(per) {
        let n = f.iter().map(|x| x * x).sum::<f32>().sqrt();
        f.iter_mut().for_each(|x| *x /= n);
    }
    npy::write_npy(path, &NpyArray::from_f32(shape.to_vec(), &v).unwrap()).unwrap();
    v
}

fn write_signal(path: &std::path::Path, shape: &[usize], seed: u64) -> Vec<f32> {
    let v = values(shape.iter().product(), seed);
    npy::write_npy(path, &NpyArray::from_f32(shape.to_vec(), &v).unwrap()).unwrap();
    v
}

fn read(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let a = npy::read_array(path).unwrap();
    (a.header.shape.clone(), a.to_f32_vec().unwrap())
}

#[test]
fn one_dimensional_codes_need_dims_where_ambiguous_and_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let taps = write_filters(&dir.path().join("F.npy"), &[4, 2, 9], 1);
    let x = write_signal(&dir.path().join("S.npy"), &[3, 2, 120], 2);
    // (4, 2, 9) with (3, 2, 120): 1-D over 2 channels or 2-D 2×9? Refused.
    let out = lca(
        &["encode", "-d", "F.npy", "-i", "S.npy", "-o", "A.npy"],
        dir.path(),
    );
    assert_fails(&out, &["F.npy", "S.npy", "--dims"]);
    assert!(!dir.path().join("A.npy").exists());
    let out = lca(
        &[
            "encode", "-d", "F.npy", "-i", "S.npy", "-o", "A.npy", "--dims", "1", "--json",
        ],
        dir.path(),
    );
    let summary = summary(&out);
    assert_eq!(summary["dims"], 1);
    assert_eq!(summary["dims_given"], true);
    let (shape, codes) = read(&dir.path().join("A.npy"));
    assert_eq!(shape, [3, 4, 120]);
    // The library's codes of the same signals, bit for bit.
    let d = ConvDictionary::with_shape(4, 2, &[9], taps).unwrap();
    let lca = ConvLcaParams::new().check().unwrap();
    for (i, signal) in x.chunks(240).enumerate() {
        let p = Planes::with_extent(2, [1, 1, 120], signal.to_vec()).unwrap();
        let want = lca.encode_one(&d, &p, None).unwrap().codes.data;
        assert_eq!(&codes[i * 480..(i + 1) * 480], &want[..]);
    }
}

#[test]
fn video_is_inferred_three_dimensional_and_reconstructed_as_npy() {
    let dir = tempfile::tempdir().unwrap();
    write_filters(&dir.path().join("F.npy"), &[3, 1, 3, 5, 5], 3);
    write_signal(&dir.path().join("V.npy"), &[1, 1, 6, 12, 12], 4);
    let out = lca(
        &[
            "encode",
            "-d",
            "F.npy",
            "-i",
            "V.npy",
            "-o",
            "A.npy",
            "--boundary",
            "zero",
        ],
        dir.path(),
    );
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3-D, inferred"));
    assert_eq!(read(&dir.path().join("A.npy")).0, [1, 3, 6, 12, 12]);
    let out = lca(
        &[
            "reconstruct",
            "-d",
            "F.npy",
            "V.npy",
            "-o",
            "rec",
            "--dims",
            "3",
            "--json",
        ],
        dir.path(),
    );
    let summary = summary(&out);
    assert_eq!(summary["dims"], 3);
    assert!(summary["mean_snr"].as_f64().unwrap() > 0.0);
    assert_eq!(
        read(&dir.path().join("rec/V.recon.npy")).0,
        [1, 1, 6, 12, 12]
    );
    assert_eq!(
        read(&dir.path().join("rec/V.codes.npy")).0,
        [1, 3, 6, 12, 12]
    );
}

#[test]
fn bad_inputs_get_one_line_naming_the_file_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    write_filters(&dir.path().join("F3.npy"), &[2, 1, 3, 5, 5], 5);
    write_filters(&dir.path().join("F1.npy"), &[2, 1, 9], 6);
    write_signal(&dir.path().join("V.npy"), &[1, 1, 2, 12, 12], 7);
    write_signal(&dir.path().join("S.npy"), &[2, 1, 6], 8);
    let run = |args: &[&str]| {
        let mut all = vec!["encode", "-o", "A.npy"];
        all.extend_from_slice(args);
        lca(&all, dir.path())
    };
    // Kernels larger than the signal, along depth and along time.
    assert_fails(
        &run(&["-d", "F3.npy", "-i", "V.npy"]),
        &["V.npy", "smaller than the 3×5×5 filters"],
    );
    assert_fails(
        &run(&["-d", "F1.npy", "-i", "S.npy", "--dims", "1"]),
        &["S.npy", "smaller than the 9 filters"],
    );
    // A dictionary of the wrong rank for --dims.
    assert_fails(
        &run(&["-d", "F1.npy", "-i", "V.npy", "--dims", "3"]),
        &["F1.npy", "3-D convolutional dictionary"],
    );
    // A signal of the wrong rank for --dims, and a picture that is not 3-D.
    assert_fails(
        &run(&["-d", "F3.npy", "-i", "S.npy", "--dims", "3"]),
        &["S.npy", "3-D signals have shape"],
    );
    // A dims that does not exist.
    let out = run(&["-d", "F3.npy", "-i", "V.npy", "--dims", "4"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be 1, 2 or 3"));
    assert!(!dir.path().join("A.npy").exists());
    // lca reconstruct reads and checks every array before writing anything.
    let out = lca(
        &["reconstruct", "-d", "F3.npy", "V.npy", "-o", "rec"],
        dir.path(),
    );
    assert_fails(&out, &["V.npy", "smaller than"]);
    assert!(!dir.path().join("rec").exists());
}

#[test]
fn today_2d_inputs_keep_their_meaning_and_accept_dims_2() {
    let dir = tempfile::tempdir().unwrap();
    write_filters(&dir.path().join("F.npy"), &[4, 5, 5], 9);
    write_signal(&dir.path().join("I.npy"), &[2, 1, 16, 14], 10);
    let plain = lca(
        &["encode", "-d", "F.npy", "-i", "I.npy", "-o", "A.npy"],
        dir.path(),
    );
    assert!(plain.status.success());
    let given = lca(
        &[
            "encode", "-d", "F.npy", "-i", "I.npy", "-o", "B.npy", "--dims", "2",
        ],
        dir.path(),
    );
    assert!(given.status.success());
    assert!(String::from_utf8_lossy(&given.stdout).contains("--dims 2"));
    let (a, b) = (
        read(&dir.path().join("A.npy")),
        read(&dir.path().join("B.npy")),
    );
    assert_eq!(a.0, [2, 4, 16, 14]);
    assert_eq!(a, b);
    // --dims is for convolutional dictionaries only.
    npy::write_matrix(&dir.path().join("P.npy"), 3, 4, &values(12, 1)).unwrap();
    let out = lca(
        &[
            "encode", "-d", "P.npy", "-i", "I.npy", "-o", "C.npy", "--dims", "2",
        ],
        dir.path(),
    );
    assert_fails(&out, &["--dims", "P.npy"]);
}
