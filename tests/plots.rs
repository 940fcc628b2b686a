//! PNG figures: sizes, pixel values of the atom grid, and the training log CSV.

use std::path::Path;

use lca::dictionary::training_log::{CSV_HEADER, TrainingRow, read_training_csv};
use lca::plot::{self, atoms};

fn decode(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{} is not a valid PNG: {e}", path.display()))
        .to_rgb8()
}

fn row(step: u64) -> TrainingRow {
    let s = step as f64;
    TrainingRow {
        step,
        seconds: 0.37 * s,
        mse: 0.5 / (1.0 + s),
        l1: 3.0 + (s * 0.3).sin(),
        active_fraction: 0.05 + 0.2 / (1.0 + 0.1 * s),
        energy: 0.25 / (1.0 + s) + 0.1,
        heldout_energy: (step % 100 == 0).then(|| 0.3 / (1.0 + s) + 0.12),
    }
}

// ---------------------------------------------------------------- atoms ----

const SEP: u32 = atoms::SEPARATOR_PIXELS as u32;

#[test]
fn atom_grid_maps_each_atom_to_its_own_symmetric_range() {
    // Two gray 2×2 atoms, stored y*P + x.
    let d = [
        1.0, -1.0, 0.0, 0.5, // atom 0: max 1 -> white, min -1 -> black
        0.0, 0.0, -2.0, 2.0, // atom 1: a different range, same mapping
    ];
    let img = plot::atom_grid(&d, 2, 4, 1).unwrap();
    // 2 atoms -> 2 columns, 1 row; P = 2 upscaled ×12 to 24 px.
    let cell = 24;
    assert_eq!(img.dimensions(), (SEP + 2 * (cell + SEP), SEP + cell + SEP));
    let px = |atom: u32, x: u32, y: u32| {
        let x0 = SEP + atom * (cell + SEP) + x * 12;
        let y0 = SEP + y * 12;
        // Every pixel of the upscaled block has the same value.
        let v = img.get_pixel(x0, y0).0;
        assert_eq!(img.get_pixel(x0 + 11, y0 + 11).0, v);
        v
    };
    assert_eq!(px(0, 0, 0), [255; 3]);
    assert_eq!(px(0, 1, 0), [0; 3]);
    assert_eq!(px(0, 0, 1), [128; 3]); // 0 is mid-grey
    assert_eq!(px(0, 1, 1), [191; 3]); // 0.5 -> 0.75
    assert_eq!(px(1, 0, 0), [128; 3]);
    assert_eq!(px(1, 0, 1), [0; 3]);
    assert_eq!(px(1, 1, 1), [255; 3]);
    // Separators and frame.
    for (x, y) in [(0, 0), (1, 10), (SEP + cell, 5), (img.width() - 1, 20)] {
        assert_eq!(img.get_pixel(x, y).0, atoms::SEPARATOR_COLOR, "({x}, {y})");
    }
}

#[test]
fn gray_atoms_keep_zero_at_mid_grey() {
    let img = plot::atom_grid(&[0.2, 0.1, 0.0, -0.4], 1, 4, 1).unwrap();
    let at = |x: u32, y: u32| img.get_pixel(SEP + 12 * x, SEP + 12 * y).0[0];
    assert_eq!([at(0, 0), at(1, 0), at(0, 1), at(1, 1)], [191, 159, 128, 0]);
    // An all-zero atom is uniformly grey.
    let img = plot::atom_grid(&[0.0; 4], 1, 4, 1).unwrap();
    assert_eq!(img.get_pixel(SEP, SEP).0, [128; 3]);
}

#[test]
fn colour_atoms_scale_their_channels_jointly() {
    // One 2×2 RGB atom, pixel-interleaved: min -3 -> 0, max 5 -> 255.
    #[rustfmt::skip]
    let d = [
        5.0, 1.0, -3.0,   1.0, 1.0, 1.0,
        -3.0, -3.0, 5.0,  3.0, 1.0, -1.0,
    ];
    let img = plot::atom_grid(&d, 1, 12, 3).unwrap();
    assert_eq!(img.dimensions(), (SEP + 24 + SEP, SEP + 24 + SEP));
    let at = |x: u32, y: u32| img.get_pixel(SEP + 12 * x, SEP + 12 * y).0;
    assert_eq!(at(0, 0), [255, 128, 0]);
    assert_eq!(at(1, 0), [128, 128, 128]);
    assert_eq!(at(0, 1), [0, 0, 255]);
    assert_eq!(at(1, 1), [191, 128, 64]);
}

#[test]
fn atom_grid_is_near_square_and_upscales_small_patches() {
    // 10 atoms of 8×8 -> 4 columns × 3 rows, ×3 -> 24 px cells.
    let d: Vec<f32> = (0..10 * 64).map(|i| (i as f32 * 0.37).sin()).collect();
    let img = plot::atom_grid(&d, 10, 64, 1).unwrap();
    assert_eq!(
        img.dimensions(),
        (SEP + 4 * (24 + SEP), SEP + 3 * (24 + SEP))
    );
    // The two unused cells of the last row stay in the separator colour.
    let x = SEP + 3 * (24 + SEP) + 5;
    let y = SEP + 2 * (24 + SEP) + 5;
    assert_eq!(img.get_pixel(x, y).0, atoms::SEPARATOR_COLOR);
    // Large patches are not upscaled.
    let d = vec![0.5f32; 2 * 30 * 30];
    let img = plot::atom_grid(&d, 2, 900, 1).unwrap();
    assert_eq!(img.dimensions(), (SEP + 2 * (30 + SEP), SEP + 30 + SEP));
}

#[test]
fn write_atoms_png_writes_the_grid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atoms.png");
    let d: Vec<f32> = (0..5 * 27).map(|i| (i as f32 * 0.11).cos()).collect();
    plot::write_atoms_png(&path, &d, 5, 27, 3).unwrap();
    let expected = plot::atom_grid(&d, 5, 27, 3).unwrap();
    assert_eq!(decode(&path), expected);
}

#[test]
fn atom_grid_rejects_bad_shapes() {
    let e = plot::atom_grid(&[0.0; 10], 2, 5, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("perfect square"), "{e}");
    let e = plot::atom_grid(&[0.0; 8], 2, 4, 3).unwrap_err().to_string();
    assert!(e.contains("not a multiple of 3"), "{e}");
    let e = plot::atom_grid(&[0.0; 12], 2, 6, 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("6/3 = 2 is not a perfect square"), "{e}");
    let e = plot::atom_grid(&[0.0; 7], 2, 4, 1).unwrap_err().to_string();
    assert!(e.contains("need 8 values, got 7"), "{e}");
    assert!(plot::atom_grid(&[], 0, 4, 1).is_err());
    assert!(plot::atom_grid(&[0.0; 8], 2, 4, 2).is_err());
    assert!(plot::atom_grid(&[0.0, f32::NAN, 0.0, 0.0], 1, 4, 1).is_err());
}

#[test]
fn write_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("atoms.png");
    let e = plot::write_atoms_png(&path, &[1.0; 4], 1, 4, 1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("atoms.png"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

// ------------------------------------------------------------- training ----

#[test]
fn training_csv_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("training.csv");
    let mut rows: Vec<TrainingRow> = (0..20).map(|s| row(s * 50)).collect();
    rows[3].mse = 0.1 + 0.2; // not exactly representable in short decimal
    rows[4].energy = 1e-300;
    rows[5].l1 = -0.0;
    let mut text = format!("{CSV_HEADER}\n");
    for r in &rows {
        text.push_str(&r.to_csv_line());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    assert_eq!(read_training_csv(&path).unwrap(), rows);
}

#[test]
fn training_csv_reads_nan_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("training.csv");
    let mut r = row(7);
    r.mse = f64::NAN;
    r.energy = f64::INFINITY;
    std::fs::write(&path, format!("{CSV_HEADER}\n{}\n", r.to_csv_line())).unwrap();
    let back = read_training_csv(&path).unwrap();
    assert!(back[0].mse.is_nan());
    assert_eq!(back[0].energy, f64::INFINITY);
    assert_eq!(back[0].step, 7);
}

#[test]
fn bad_training_csv_lines_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    let good = row(1).to_csv_line();
    let cases = [
        (
            format!("{CSV_HEADER}\n{good}\n1,2,3\n"),
            "line 3",
            "expected 7 columns",
        ),
        (format!("{CSV_HEADER}\n{good},9\n"), "line 2", "found 8"),
        (
            format!("{CSV_HEADER}\n{good}\n{good}\n2,0.1,abc,1,0.1,1,\n"),
            "line 4",
            "'mse'",
        ),
        (
            format!("{CSV_HEADER}\n-1,0.1,0.1,1,0.1,1,\n"),
            "line 2",
            "'step'",
        ),
        (
            format!("{CSV_HEADER}\n1.5,0.1,0.1,1,0.1,1,\n"),
            "line 2",
            "integer",
        ),
        (format!("{good}\n"), "line 1", "missing header"),
        ("step,seconds,mse\n".to_string(), "line 1", "missing header"),
        (String::new(), "line 1", "empty"),
    ];
    for (text, line, what) in cases {
        std::fs::write(&path, &text).unwrap();
        let e = read_training_csv(&path).unwrap_err().to_string();
        assert!(e.contains("log.csv"), "{e}");
        assert!(e.contains(&format!("{line}:")), "{text:?}: {e}");
        assert!(e.contains(what), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    let e = read_training_csv(&dir.path().join("nope.csv")).unwrap_err();
    assert!(e.to_string().contains("nope.csv"), "{e}");
}

#[test]
fn training_png_has_the_documented_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("training.png");
    let rows: Vec<TrainingRow> = (0..200).map(|s| row(s * 10)).collect();
    plot::write_training_png(&path, &rows).unwrap();
    assert_eq!(decode(&path).dimensions(), plot::TRAINING_FIGURE_SIZE);
    // Degenerate logs still plot: one row, or a column without finite values.
    let mut one = row(0);
    one.l1 = f64::NAN;
    plot::write_training_png(&path, &[one]).unwrap();
    assert_eq!(decode(&path).dimensions(), plot::TRAINING_FIGURE_SIZE);
    assert!(plot::write_training_png(&path, &[]).is_err());
}

// -------------------------------------------------------------- compare ----

#[test]
fn image_png_is_8_bit_and_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let gray = dir.path().join("gray.png");
    plot::write_image_png(&gray, 2, 2, 1, &[0.0, 1.0, -0.5, 0.25]).unwrap();
    let img = image::open(&gray).unwrap();
    assert_eq!(img.color(), image::ColorType::L8);
    assert_eq!(img.to_luma8().as_raw(), &[0, 255, 0, 64]);

    let rgb = dir.path().join("rgb.png");
    let data = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0];
    plot::write_image_png(&rgb, 3, 1, 3, &data).unwrap();
    let img = image::open(&rgb).unwrap();
    assert_eq!(img.color(), image::ColorType::Rgb8);
    assert_eq!(img.to_rgb8().as_raw(), &[255, 0, 0, 0, 255, 0, 0, 0, 255]);

    assert!(plot::write_image_png(&rgb, 3, 1, 3, &data[..8]).is_err());
    assert!(plot::write_image_png(&rgb, 3, 1, 2, &data[..6]).is_err());
}

#[test]
fn compare_png_has_the_documented_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compare.png");
    for (w, h, c) in [(8, 8, 1), (40, 24, 3), (300, 200, 1)] {
        let n = w * h * c;
        let orig: Vec<f32> = (0..n)
            .map(|i| (i as f32 * 0.05).sin() * 0.5 + 0.5)
            .collect();
        let rec: Vec<f32> = orig.iter().map(|v| v * 0.9 + 0.03).collect();
        plot::write_compare_png(
            &path,
            w,
            h,
            c,
            &orig,
            &rec,
            ("original", "reconstruction (PSNR 31.2 dB)", "residual"),
        )
        .unwrap();
        let img = decode(&path);
        assert_eq!(img.dimensions(), plot::compare_figure_size(w, h));
        assert!(img.width() as usize >= 3 * w && img.height() as usize > h);
    }
    let e = plot::write_compare_png(&path, 2, 2, 1, &[0.0; 4], &[0.0; 3], ("a", "b", "c"));
    assert!(e.unwrap_err().to_string().contains("reconstruction"));
}

#[test]
fn compare_shows_a_zero_residual_as_mid_grey() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compare.png");
    let img = [0.2f32; 16];
    plot::write_compare_png(&path, 4, 4, 1, &img, &img, ("", "", "")).unwrap();
    let png = decode(&path);
    // The bottom row of the image panels sits 20 px above the bottom edge;
    // the rightmost panel ends 20 px before the right edge.
    let y = png.height() - 21;
    let x = png.width() - 21 - 150; // middle of the residual column (300 px)
    assert_eq!(png.get_pixel(x, y).0, [128; 3]);
    assert_eq!(png.get_pixel(20 + 150, y).0, [51; 3]); // original: 0.2
}

// --------------------------------------------------------------- raster ----

#[test]
fn raster_png_has_the_documented_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raster.png");
    let (n, t) = (30, 200);
    let spikes: Vec<(u32, u32)> = (0..n as u32)
        .flat_map(|i| {
            (0..t as u32)
                .filter(move |s| (s * (i + 3)) % 37 < 2)
                .map(move |s| (i, s))
        })
        .collect();
    let rates: Vec<f32> = (0..n)
        .map(|i| spikes.iter().filter(|s| s.0 == i as u32).count() as f32 / t as f32)
        .collect();
    plot::write_raster_png(&path, n, t, &spikes, &rates, "spiking LCA").unwrap();
    assert_eq!(decode(&path).dimensions(), plot::raster_figure_size(n));
    assert_eq!(plot::raster_figure_size(1), (1200, 480));
    assert_eq!(plot::raster_figure_size(10_000), (1200, 1400));

    let e = plot::write_raster_png(&path, n, t, &[(30, 0)], &rates, "x").unwrap_err();
    assert!(e.to_string().contains("neuron 30"), "{e}");
    assert!(plot::write_raster_png(&path, n, t, &[(0, 200)], &rates, "x").is_err());
    assert!(plot::write_raster_png(&path, n, t, &[], &rates[1..], "x").is_err());
    assert!(plot::write_raster_png(&path, 0, t, &[], &[], "x").is_err());
}
