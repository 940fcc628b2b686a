//! `lca learn` and `lca reconstruct` end to end: determinism, resume after
//! `kill -9`, bad folders, and exact reconstruction with a complete basis.

mod common;
use common::csv_steps;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lca::image::{Image, Preprocessing, Preprocessor, Whitening, reconstruct};
use lca::io::npy;
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;

fn lca_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lca"))
}

fn learn(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "learn",
        "--patch-size",
        "8",
        "--atoms",
        "32",
        "--batch-size",
        "64",
        "--seed",
        "3",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    lca_cmd()
        .args(&args)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap()
}

/// A folder with two of the embedded sample images.
fn image_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let assets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/images");
    for name in ["camera.png", "chelsea.png"] {
        std::fs::copy(assets.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

#[test]
fn learning_writes_every_output_and_is_identical_for_1_and_2_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(
        learn(&a, &["--steps", "30", "--threads", "1"])
            .status
            .success()
    );
    assert!(
        learn(&b, &["--steps", "30", "--threads", "2"])
            .status
            .success()
    );
    for f in [
        "dictionary.npy",
        "atoms.png",
        "training.csv",
        "training.png",
        "config.json",
    ] {
        assert!(a.join(f).exists(), "missing {f}");
    }
    assert_eq!(
        std::fs::read(a.join("dictionary.npy")).unwrap(),
        std::fs::read(b.join("dictionary.npy")).unwrap()
    );
    let d = npy::read_matrix(&a.join("dictionary.npy")).unwrap();
    assert_eq!((d.rows, d.cols), (32, 64));
    for row in d.data.chunks(64) {
        let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    assert_eq!(
        csv_steps(&a.join("training.csv")),
        (1..=30).collect::<Vec<_>>()
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["seed"], 3);
    assert_eq!(config["preprocessing"]["remove_mean"], true);
    assert!(config["crate_version"].is_string());
}

#[test]
fn a_run_killed_mid_way_resumes_to_the_same_dictionary_online_rule() {
    killed_run_resumes_bit_exactly("online");
}

#[test]
fn a_run_killed_mid_way_resumes_to_the_same_dictionary_hebbian_rule() {
    killed_run_resumes_bit_exactly("hebbian");
}

fn killed_run_resumes_bit_exactly(rule: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    let flags = [
        "--steps",
        "120",
        "--checkpoint-every",
        "5",
        "--batch-size",
        "512",
        "--patch-size",
        "12",
        "--rule",
        rule,
        "--heldout-every",
        "7",
    ];
    let mut args = vec!["learn", "--atoms", "32", "--seed", "3", "--quiet"];
    args.extend_from_slice(&flags);
    assert!(
        lca_cmd()
            .args(&args)
            .arg("--output")
            .arg(&whole)
            .status()
            .unwrap()
            .success()
    );

    let mut child = lca_cmd()
        .args(&args)
        .arg("--output")
        .arg(&killed)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !killed.join("checkpoint.npz").exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(30));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let interrupted = csv_steps(&killed.join("training.csv")).len();
    assert!(
        interrupted < 120,
        "the run finished before it could be killed"
    );
    // What a kill in the middle of an atomic write leaves: the resume removes it.
    std::fs::write(killed.join(".dictionary.npy.999999999.0.tmp"), b"half").unwrap();

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
    println!("killed after {interrupted} logged steps, resumed to 120");
    assert_eq!(
        csv_steps(&killed.join("training.csv")),
        (1..=120).collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read(whole.join("dictionary.npy")).unwrap(),
        std::fs::read(killed.join("dictionary.npy")).unwrap(),
        "the resumed run must end where the uninterrupted one did"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&killed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_corrupt_image_is_skipped_with_a_warning() {
    let dir = image_folder();
    std::fs::write(
        dir.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = lca_cmd()
        .args([
            "learn",
            "--steps",
            "3",
            "--atoms",
            "16",
            "--batch-size",
            "32",
        ])
        .arg(dir.path())
        .arg("--output")
        .arg(out_dir.path().join("run"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("broken.png"));
}

#[test]
fn an_empty_folder_or_tiny_images_are_errors() {
    let empty = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = lca_cmd()
        .arg("learn")
        .arg(empty.path())
        .arg("--output")
        .arg(out_dir.path().join("run"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no readable images"), "{err}");

    let tiny = tempfile::tempdir().unwrap();
    Image::new(4, 4, 1, vec![0.5; 16])
        .unwrap()
        .save_png(&tiny.path().join("tiny.png"))
        .unwrap();
    let out = lca_cmd()
        .arg("learn")
        .arg(tiny.path())
        .arg("--output")
        .arg(out_dir.path().join("run2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("smaller than"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_complete_orthonormal_dictionary_at_lambda_zero_reconstructs_exactly() {
    // A random orthonormal basis of 8×8 patches.
    let mut seed = 12345u64;
    let random = DMatrix::from_fn(64, 64, |_, _| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    });
    let q = nalgebra::linalg::QR::new(random).q();
    let dict = Dictionary::from_atoms(q).unwrap();
    let lca = LcaParams::new().lambda(0.0).check().unwrap();
    let img = Image::new(
        40,
        36,
        1,
        (0..40 * 36)
            .map(|i| ((i * 37 % 101) as f32) / 100.0)
            .collect(),
    )
    .unwrap();
    for whiten in [Whitening::None, Whitening::from_name("one-over-f").unwrap()] {
        let pre = Preprocessor::new(Preprocessing::default().whiten(whiten)).unwrap();
        let rec = reconstruct(&img, &dict, &lca, &pre, 8, 4).unwrap();
        let worst = rec
            .image
            .data
            .iter()
            .zip(&img.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        let expected = if whiten == Whitening::None {
            1e-4
        } else {
            2e-2
        };
        assert!(worst < expected, "{whiten:?}: max error {worst}");
    }
}

#[test]
fn reconstruct_cli_writes_images_codes_and_reports_psnr() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    assert!(learn(&run, &["--steps", "20"]).status.success());
    let image = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/images/camera.png");
    let out = lca_cmd()
        .args(["reconstruct", "--json", "--stride", "8", "-d"])
        .arg(run.join("dictionary.npy"))
        .arg(&image)
        .arg("--output")
        .arg(tmp.path().join("rec"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let psnr = summary["mean_psnr"].as_f64().unwrap();
    assert!(psnr > 20.0, "PSNR {psnr}");
    for f in ["camera.recon.png", "camera.compare.png", "camera.codes.npz"] {
        assert!(tmp.path().join("rec").join(f).exists(), "missing {f}");
    }
    let codes = lca::io::npz::read_csr(&tmp.path().join("rec/camera.codes.npz")).unwrap();
    assert_eq!((codes.rows, codes.cols), (64 * 64, 32));
}
