//! What a new user hits first (issue 11): broken photos, folders that hold
//! nothing usable, downscaled reconstructions. Runs the `lca` binary.

use std::path::Path;
use std::process::{Command, Output};

use image::{ImageBuffer, Luma, Rgb, Rgba};

fn lca(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lca"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A textured 96×64 photo-like image.
fn photo() -> ImageBuffer<Rgb<u8>, Vec<u8>> {
    ImageBuffer::from_fn(96, 64, |x, y| {
        Rgb([
            (x * 2 + y) as u8,
            (y * 3) as u8,
            ((x * y * 7919) % 251) as u8,
        ])
    })
}

fn jpeg_bytes() -> Vec<u8> {
    let mut bytes = Vec::new();
    photo()
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    bytes
}

/// A random 16-atom dictionary of 8×8 gray patches, `D.npy` in `dir`.
fn dictionary(dir: &Path) {
    let mut state = 12345u32;
    let data: Vec<f32> = (0..16 * 64)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect();
    lca::io::npy::write_matrix(&dir.join("D.npy"), 16, 64, &data).unwrap();
}

#[test]
fn a_truncated_jpeg_named_to_reconstruct_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    dictionary(dir.path());
    let full = jpeg_bytes();
    std::fs::write(dir.path().join("whole.jpg"), &full).unwrap();
    std::fs::write(dir.path().join("cut.jpg"), &full[..full.len() / 3]).unwrap();

    let ok = lca(
        &["reconstruct", "-d", "D.npy", "-o", "out", "whole.jpg"],
        dir.path(),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));

    let out = lca(
        &["reconstruct", "-d", "D.npy", "-o", "out", "cut.jpg"],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("cut.jpg: not a readable image (truncated JPEG"),
        "{err}"
    );
    assert!(!dir.path().join("out/cut.recon.png").exists());
}

#[test]
fn a_truncated_jpeg_in_a_folder_is_skipped_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("photos");
    std::fs::create_dir(&images).unwrap();
    photo().save(images.join("good.png")).unwrap();
    let full = jpeg_bytes();
    std::fs::write(images.join("cut.jpg"), &full[..full.len() / 3]).unwrap();
    let out = lca(
        &[
            "learn",
            "photos",
            "--steps",
            "2",
            "--atoms",
            "8",
            "--batch-size",
            "16",
            "-o",
            "run",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("cut.jpg")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with("warning: ") && warnings[0].contains("truncated JPEG"),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["images"], 1);
}

#[test]
fn a_folder_without_usable_images_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("photos");
    std::fs::create_dir(&images).unwrap();
    std::fs::write(images.join("notes.txt"), "shopping list").unwrap();
    let out = lca(&["learn", "photos", "-o", "run"], dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no readable images (1 file skipped: ")
            && err.contains("notes.txt: not a readable image ("),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("photos");
    std::fs::create_dir_all(images.join("holiday")).unwrap();
    photo().save(images.join("holiday").join("a.png")).unwrap();
    let out = lca(&["learn", "photos", "-o", "run"], dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("1 sub-folder not searched: pass --recursive"),
        "{err}"
    );
}

#[test]
fn reconstruct_warns_about_dropped_alpha() {
    let dir = tempfile::tempdir().unwrap();
    dictionary(dir.path());
    ImageBuffer::from_fn(32, 32, |x, y| Rgba([(x * 8) as u8, (y * 8) as u8, 0, 100]))
        .save(dir.path().join("logo.png"))
        .unwrap();
    let out = lca(
        &["reconstruct", "-d", "D.npy", "-o", "out", "logo.png"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: logo.png: the alpha channel is ignored"),
        "{err}"
    );
}

#[test]
fn a_downscaled_reconstruction_reports_the_size_it_was_written_and_measured_at() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("photos");
    std::fs::create_dir(&images).unwrap();
    ImageBuffer::from_fn(64, 48, |x, y| Luma([((x * 5 + y * 11) % 256) as u8]))
        .save(images.join("a.png"))
        .unwrap();
    let out = lca(
        &[
            "learn",
            "photos",
            "--downscale",
            "2",
            "--steps",
            "2",
            "--atoms",
            "8",
            "--batch-size",
            "16",
            "-o",
            "run",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let args = [
        "reconstruct",
        "-d",
        "run/dictionary.npy",
        "-o",
        "rec",
        "photos/a.png",
    ];
    let out = lca(&[&args[..], &["--json"]].concat(), dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["downscale"], 2.0);
    let image = &summary["images"][0];
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(32), Some(24))
    );
    assert_eq!(
        (
            image["original_width"].as_u64(),
            image["original_height"].as_u64()
        ),
        (Some(64), Some(48))
    );
    let written = image::open(dir.path().join("rec/a.recon.png")).unwrap();
    assert_eq!((written.width(), written.height()), (32, 24));

    let human = lca(&args, dir.path());
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("at 32×24, downscaled 2× from 64×48"),
        "{text}"
    );
    let help = lca(&["reconstruct", "--help"], dir.path());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--downscale"));
}

#[test]
fn learn_says_once_that_alpha_channels_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("icons");
    std::fs::create_dir(&images).unwrap();
    for name in ["a.png", "b.png", "c.png"] {
        ImageBuffer::from_fn(32, 32, |x, y| Rgba([(x * 8) as u8, (y * 8) as u8, 50, 200]))
            .save(images.join(name))
            .unwrap();
    }
    let out = lca(
        &[
            "learn",
            "icons",
            "--steps",
            "2",
            "--atoms",
            "8",
            "--batch-size",
            "16",
            "-o",
            "run",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("alpha")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("warning: 3 images have an alpha channel, which is ignored"));
}
