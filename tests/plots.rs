//! PNG figures: sizes, pixel values of the atom grid, and the training log CSV.

use std::path::Path;

use lca::dictionary::{CSV_HEADER, TrainingRow, read_training_csv};
use lca::plot;

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
        heldout_energy: step.is_multiple_of(100).then(|| 0.3 / (1.0 + s) + 0.12),
    }
}

// ---------------------------------------------------------------- atoms ----

const SEP: u32 = plot::SEPARATOR_PIXELS as u32;

#[test]
fn atom_grid_maps_each_atom_to_its_own_symmetric_range() {
    // Two gray 2×2 atoms, stored y*P + x.
    let d = [
        1.0, -1.0, 0.0, 0.5, // atom 0: max 1 -> white, min -1 -> black
        0.0, 0.0, -2.0, 2.0, // atom 1: a different range, same mapping
    ];
    let img = plot::atom_grid(&d, 2, 4, 1).unwrap();
    // 2 atoms -> 2 columns, 1 row; P = 2 upscaled by an integer factor s.
    let s = plot::atom_scale(2, 2) as u32;
    let cell = 2 * s;
    assert_eq!(img.dimensions(), (SEP + 2 * (cell + SEP), SEP + cell + SEP));
    let px = |atom: u32, x: u32, y: u32| {
        let x0 = SEP + atom * (cell + SEP) + x * s;
        let y0 = SEP + y * s;
        // Every pixel of the upscaled block has the same value.
        let v = img.get_pixel(x0, y0).0;
        assert_eq!(img.get_pixel(x0 + s - 1, y0 + s - 1).0, v);
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
        assert_eq!(img.get_pixel(x, y).0, plot::SEPARATOR_COLOR, "({x}, {y})");
    }
}

#[test]
fn gray_atoms_keep_zero_at_mid_grey() {
    let img = plot::atom_grid(&[0.2, 0.1, 0.0, -0.4], 1, 4, 1).unwrap();
    let s = plot::atom_scale(2, 1) as u32;
    let at = |x: u32, y: u32| img.get_pixel(SEP + s * x, SEP + s * y).0[0];
    assert_eq!([at(0, 0), at(1, 0), at(0, 1), at(1, 1)], [191, 159, 128, 0]);
    // An all-zero atom is uniformly grey.
    let img = plot::atom_grid(&[0.0; 4], 1, 4, 1).unwrap();
    assert_eq!(img.get_pixel(SEP, SEP).0, [128; 3]);
}

#[test]
fn colour_atoms_are_symmetric_around_grey_over_their_channels() {
    // One 2×2 RGB atom, pixel-interleaved: largest magnitude 5, so 5 -> 255,
    // -5 would be 0 and 0 is mid-grey in every channel.
    #[rustfmt::skip]
    let d = [
        5.0, 1.0, -3.0,   1.0, 1.0, 1.0,
        -3.0, -3.0, 5.0,  3.0, 1.0, -1.0,
    ];
    let img = plot::atom_grid(&d, 1, 12, 3).unwrap();
    let s = plot::atom_scale(2, 1) as u32;
    assert_eq!(img.dimensions(), (SEP + 2 * s + SEP, SEP + 2 * s + SEP));
    let at = |x: u32, y: u32| img.get_pixel(SEP + s * x, SEP + s * y).0;
    assert_eq!(at(0, 0), [255, 153, 51]);
    assert_eq!(at(1, 0), [153, 153, 153]);
    assert_eq!(at(0, 1), [51, 51, 255]);
    assert_eq!(at(1, 1), [204, 153, 102]);
}

#[test]
fn atom_grid_is_near_square_and_fills_its_width() {
    // 10 atoms of 8×8 -> 4 columns × 3 rows of atoms grown to 96 px.
    let d: Vec<f32> = (0..10 * 64).map(|i| (i as f32 * 0.37).sin()).collect();
    let img = plot::atom_grid(&d, 10, 64, 1).unwrap();
    let cell = 96;
    assert_eq!(
        img.dimensions(),
        (SEP + 4 * (cell + SEP), SEP + 3 * (cell + SEP))
    );
    // The two unused cells of the last row stay in the separator colour.
    let x = SEP + 3 * (cell + SEP) + 5;
    let y = SEP + 2 * (cell + SEP) + 5;
    assert_eq!(img.get_pixel(x, y).0, plot::SEPARATOR_COLOR);
    // The default run's 128 atoms of 8×8: 12 columns of 40 px.
    let d = vec![0.5f32; 128 * 64];
    let img = plot::atom_grid(&d, 128, 64, 1).unwrap();
    assert_eq!(img.width(), SEP + 12 * (40 + SEP));
    // Large patches are not upscaled.
    let d = vec![0.5f32; 2 * 200 * 200];
    let img = plot::atom_grid(&d, 2, 40_000, 1).unwrap();
    assert_eq!(img.dimensions(), (SEP + 2 * (200 + SEP), SEP + 200 + SEP));
}

#[test]
fn every_atom_is_at_least_32_pixels_a_side_and_the_grid_no_wider_than_needed() {
    for p in 1..=40usize {
        for n in [1usize, 7, 32, 128, 400] {
            let s = plot::atom_scale(p, n);
            let cell = p * s;
            assert!(
                cell >= plot::MIN_ATOM_PIXELS,
                "P = {p}, {n} atoms: {cell} px"
            );
            let minimum = p * plot::MIN_ATOM_PIXELS.div_ceil(p);
            assert!(
                cell <= plot::MAX_ATOM_PIXELS.max(minimum),
                "P = {p}, {n} atoms: {cell} px"
            );
            let cols = n.isqrt() + usize::from(n.isqrt() * n.isqrt() < n);
            let width = plot::SEPARATOR_PIXELS + cols * (cell + plot::SEPARATOR_PIXELS);
            if s > plot::MIN_ATOM_PIXELS.div_ceil(p) {
                // Grown beyond the minimum only while the grid fits the target.
                assert!(width <= plot::TARGET_GRID_WIDTH, "P = {p}, {n} atoms");
            }
        }
        let img = plot::atom_grid(&vec![0.3f32; p * p], 1, p * p, 1).unwrap();
        let cell = img.width() - 2 * SEP;
        assert_eq!(cell % p as u32, 0, "P = {p}: integer upscaling");
    }
}

/// Whether a pixel is ink of the title (dark text on white, antialiased).
fn is_ink(px: [u8; 3]) -> bool {
    px.iter().all(|&c| c < 160)
}

#[test]
fn atoms_figure_is_the_grid_under_a_title() {
    let min_w = plot::MIN_FIGURE_WIDTH as u32;
    let long = [
        "128 atoms of 8×8 pixels learned from the embedded sample photos".to_string(),
        "LCA dictionary learning: hebbian rule, λ = 0.1, 2000 steps of 256 patches".to_string(),
    ];
    // (atoms, features, channels): a wide grid, a narrow one, one RGB atom.
    for (n, f, c) in [(256, 64, 1), (10, 64, 1), (1, 27, 3), (128, 192, 3)] {
        let d: Vec<f32> = (0..n * f).map(|i| (i as f32 * 0.37).sin()).collect();
        let grid = plot::atom_grid(&d, n, f, c).unwrap();
        for fig in [
            plot::atoms_figure(&d, n, f, c).unwrap(),
            plot::titled_atoms_figure(&d, n, f, c, &long).unwrap(),
        ] {
            let (gw, gh) = grid.dimensions();
            let width = gw.max(min_w);
            // As wide as the grid: the canvas is not padded for the title.
            assert_eq!(fig.width(), width, "{n} atoms of {f}x{c}");
            assert!(fig.height() > gh + 20, "{n} atoms: no title band");
            let title = fig.height() - gh;
            // The grid, pixel for pixel, at the bottom, centred.
            let x0 = (width - gw) / 2;
            for (x, y, px) in grid.enumerate_pixels() {
                assert_eq!(fig.get_pixel(x0 + x, title + y), px, "({x}, {y})");
            }
            // The title band holds dark text on white, inside the band.
            let ink = (0..title)
                .flat_map(|y| (0..width).map(move |x| (x, y)))
                .filter(|&(x, y)| is_ink(fig.get_pixel(x, y).0))
                .count();
            assert!(ink > 100, "{n} atoms: only {ink} text pixels in the title");
            for x in 0..width {
                assert_eq!(fig.get_pixel(x, 0).0, [255; 3], "text touches the top edge");
                assert_eq!(
                    fig.get_pixel(x, title - 1).0,
                    [255; 3],
                    "text touches the grid"
                );
            }
            // Beside a narrow grid: background.
            if x0 > 0 {
                assert_eq!(fig.get_pixel(0, fig.height() - 1).0, [255; 3]);
            }
        }
    }
    assert_eq!(plot::atoms_title(128, 8, 1), "128 atoms, 8×8");
    assert_eq!(plot::atoms_title(48, 8, 3), "48 atoms, 8×8×3 RGB");
}

#[test]
fn a_long_title_wraps_into_more_lines_instead_of_widening_the_figure() {
    let d = vec![0.5f32; 4 * 64];
    let short = plot::titled_atoms_figure(&d, 4, 64, 1, &["four atoms".to_string()]).unwrap();
    let words = ["four flat atoms drawn in a narrow grid"; 4].join(" ");
    let long = plot::titled_atoms_figure(&d, 4, 64, 1, &[words]).unwrap();
    assert_eq!(long.width(), short.width());
    assert!(
        long.height() >= short.height() + 2 * 20,
        "{}",
        long.height()
    );
}

#[test]
fn conv_filters_interleave_their_planes() {
    // Two 2×2 filters of 3 channels in (n, C, k, k) order.
    let planar: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let rows = plot::interleave_channels(&planar, 2, 3, 4);
    for m in 0..2 {
        for c in 0..3 {
            for p in 0..4 {
                assert_eq!(rows[m * 12 + p * 3 + c], planar[m * 12 + c * 4 + p]);
            }
        }
    }
}

#[test]
fn run_titles_say_what_was_learned() {
    let config = lca::dictionary::TrainingConfig::default();
    let lines = config.title(1234);
    assert!(lines[0].starts_with(&format!("{} atoms of 8×8 pixels", config.atoms)));
    assert!(lines[1].contains("1234 steps"), "{lines:?}");
    let conv = lca::conv::ConvTrainingConfig::default();
    let lines = conv.title(1);
    assert!(
        lines[0].contains("convolutional filters of 12×12"),
        "{lines:?}"
    );
    assert!(lines[1].contains("1 step on"), "{lines:?}");
    // A run folder's config.json gives the same title as the run.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(lca::conv::run_title(dir.path()), None);
    let mut config = config;
    config.progress = Some(lca::dictionary::Progress {
        steps_done: 77,
        seconds: 1.0,
        status: lca::dictionary::Status::Completed,
    });
    std::fs::write(
        dir.path().join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    assert_eq!(lca::conv::run_title(dir.path()), Some(config.title(77)));
}

// ---------------------------------------------------------------- codes ----

/// A 40×30 gray image and the codes of 3 filters: filter 2 fires strongly at
/// (5, 5) (positive), filter 0 weakly at (30, 20) (negative), filter 1 never.
fn toy_codes() -> (lca::image::Image, Vec<f32>) {
    let (w, h) = (40, 30);
    let img = lca::image::Image::new(
        w,
        h,
        1,
        (0..w * h).map(|i| (i % w) as f32 / w as f32).collect(),
    )
    .unwrap();
    let mut codes = vec![0.0f32; 3 * w * h];
    codes[2 * w * h + 5 * w + 5] = 2.0;
    codes[20 * w + 30] = -0.5;
    (img, codes)
}

#[test]
fn filters_are_ranked_by_the_l1_norm_of_their_maps() {
    let (_, codes) = toy_codes();
    let maps = plot::CodeMaps {
        data: &codes,
        n_filters: 3,
        height: 30,
        width: 40,
    };
    assert_eq!(plot::filter_strengths(&maps), vec![(2, 2.0), (0, 0.5)]);
}

#[test]
fn codes_figure_shows_each_strong_filter_where_it_fires() {
    let (img, codes) = toy_codes();
    let maps = plot::CodeMaps {
        data: &codes,
        n_filters: 3,
        height: 30,
        width: 40,
    };
    let title = ["toy".to_string()];
    let fig = plot::codes_figure(&img, &maps, None, 12, &title).unwrap();
    // Two active maps, each 40×30 enlarged ×5 to 200×150: the strongest
    // (filter 2) first. Find the saturated red and blue blocks.
    let reds: Vec<(u32, u32)> = fig
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0[0] > 180 && p.0[1] < 40 && p.0[2] < 40)
        .map(|(x, y, _)| (x, y))
        .collect();
    let blues: Vec<(u32, u32)> = fig
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0[2] > 180 && p.0[0] < 40)
        .map(|(x, y, _)| (x, y))
        .collect();
    // One code pixel each, drawn as a 5×5 block at full opacity.
    assert_eq!(reds.len(), 25, "red pixels");
    assert_eq!(blues.len(), 25, "blue pixels");
    let (rx, ry) = reds[0];
    let (bx, by) = blues[0];
    // The negative code sits 25 pixels right and 15 down of the positive
    // one in the image: (30 - 5)·5 and (20 - 5)·5 in its map, whose origin
    // is one tile further (the second map, right of or below the first).
    let (dx, dy) = (i64::from(bx) - i64::from(rx), i64::from(by) - i64::from(ry));
    assert!(
        (dx - 125, dy - 75) == (200 + 10, 0) || dx - 125 == 0 && dy - 75 > 150,
        "offset ({dx}, {dy})"
    );
    // With top = 1 only the strongest map is drawn.
    let fig1 = plot::codes_figure(&img, &maps, None, 1, &title).unwrap();
    assert!(
        fig1.enumerate_pixels()
            .all(|(_, _, p)| !(p.0[2] > 180 && p.0[0] < 40))
    );
}

#[test]
fn codes_figure_rejects_what_does_not_fit() {
    let (img, codes) = toy_codes();
    let title = ["t".to_string()];
    let maps = plot::CodeMaps {
        data: &codes,
        n_filters: 3,
        height: 40,
        width: 30,
    };
    let e = plot::codes_figure(&img, &maps, None, 4, &title)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the image is 40x30"), "{e}");
    let maps = plot::CodeMaps {
        data: &codes[1..],
        n_filters: 3,
        height: 30,
        width: 40,
    };
    assert!(plot::codes_figure(&img, &maps, None, 4, &title).is_err());
    let maps = plot::CodeMaps {
        data: &codes,
        n_filters: 3,
        height: 30,
        width: 40,
    };
    let filters = plot::FilterImages {
        data: &[0.0; 10],
        kernel: 2,
        channels: 1,
    };
    let e = plot::codes_figure(&img, &maps, Some(filters), 4, &title)
        .unwrap_err()
        .to_string();
    assert!(e.contains("need 12 values, got 10"), "{e}");
    assert!(plot::codes_figure(&img, &maps, None, 0, &title).is_err());
}

#[test]
fn write_atoms_png_writes_the_titled_grid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atoms.png");
    let d: Vec<f32> = (0..5 * 27).map(|i| (i as f32 * 0.11).cos()).collect();
    plot::write_atoms_png(&path, &d, 5, 27, 3).unwrap();
    let expected = plot::atoms_figure(&d, 5, 27, 3).unwrap();
    assert_eq!(decode(&path), expected);
    assert!(plot::write_atoms_png(&path, &d, 5, 27, 1).is_err());
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

/// A colour of `lca::plot::curves` as RGB bytes.
macro_rules! rgb {
    ($c:ident) => {{
        let c = plot::$c;
        [c.0, c.1, c.2]
    }};
}

/// A log whose MSE rises linearly from 1 to 2 and whose energy falls; with
/// held-out values every 100 steps when `heldout`.
fn linear_log(n: u64, heldout: bool) -> Vec<TrainingRow> {
    (0..n)
        .map(|s| {
            let t = s as f64 / n as f64;
            let wiggle = 0.05 * (s as f64 * 1.3).sin();
            TrainingRow {
                step: s,
                seconds: s as f64 * 0.01,
                mse: 1.0 + t + wiggle,
                l1: 3.0 - t + wiggle,
                active_fraction: 0.1 + 0.05 * t + 0.01 * wiggle,
                energy: 2.0 - t + wiggle,
                heldout_energy: (heldout && s.is_multiple_of(100)).then_some(2.1 - t),
            }
        })
        .collect()
}

/// Whether a pixel is a data colour (blue, light blue or orange) rather than
/// the white background or the gray text, axes and grid.
fn is_data(px: [u8; 3]) -> bool {
    let (lo, hi) = (px.iter().min().unwrap(), px.iter().max().unwrap());
    hi - lo > 30
}

/// Pixels of `img` inside `area` (shrunk by `inset`) matching `pred`.
fn count_in(
    img: &image::RgbImage,
    area: &plot::PlotArea,
    inset: u32,
    pred: impl Fn([u8; 3]) -> bool,
) -> usize {
    let mut n = 0;
    for y in area.y.start + inset..area.y.end - inset {
        for x in area.x.start + inset..area.x.end - inset {
            n += usize::from(pred(img.get_pixel(x, y).0));
        }
    }
    n
}

#[test]
fn training_panels_are_laid_out_in_a_2x2_grid() {
    let fig = plot::training_figure(&linear_log(500, true)).unwrap();
    let [a, b, c, d] = &fig.plot_areas;
    let (w, h) = plot::TRAINING_FIGURE_SIZE;
    assert!(a.x.end < b.x.start && c.x.end < d.x.start);
    assert!(a.y.end < c.y.start && b.y.end < d.y.start);
    assert!(a.y.start > 60, "room for the title above the panels");
    assert!(b.x.end <= w && d.y.end <= h);
    for area in [a, b, c, d] {
        assert!(area.x.len() > 400 && area.y.len() > 250, "{area:?}");
    }
}

#[test]
fn outliers_stay_inside_their_panels_and_do_not_flatten_the_curves() {
    let mut rows = linear_log(1000, true);
    for r in &mut rows[500..502] {
        (r.mse, r.l1, r.active_fraction, r.energy) = (1e6, 1e6, 1e6, 1e6);
    }
    rows[700].energy = -1e6;
    rows[300].heldout_energy = Some(2.5);
    let fig = plot::training_figure(&rows).unwrap();
    let img = &fig.image;
    // Nothing of the data outside the plotting areas (the lines' width may
    // reach over their edge by a pixel or two): not over the title, the
    // captions, the axes' labels or the neighbouring panels.
    let near = |x: u32, y: u32| {
        fig.plot_areas.iter().any(|a| {
            (a.x.start.saturating_sub(3)..a.x.end + 3).contains(&x)
                && (a.y.start.saturating_sub(3)..a.y.end + 3).contains(&y)
        })
    };
    let mut stray = Vec::new();
    for (x, y, px) in img.enumerate_pixels() {
        if !near(x, y) && is_data(px.0) {
            stray.push((x, y));
        }
    }
    assert!(
        stray.is_empty(),
        "{} data pixels outside the panels, e.g. {:?}",
        stray.len(),
        &stray[..stray.len().min(5)]
    );
    // The title band above all panels is untouched by data.
    let top = fig.plot_areas.iter().map(|a| a.y.start).min().unwrap();
    for y in 0..top.saturating_sub(3) {
        for x in 0..img.width() {
            assert!(!is_data(img.get_pixel(x, y).0), "({x}, {y})");
        }
    }
    // The y range follows the curve, not the outlier: the rising MSE starts in
    // the lower half of its panel and ends in the upper half.
    let mse = &fig.plot_areas[0];
    let mean_row = |cols: std::ops::Range<u32>| {
        let ys: Vec<u32> = cols
            .flat_map(|x| mse.y.clone().map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == rgb!(SMOOTHED_COLOR))
            .map(|(_, y)| y)
            .collect();
        assert!(!ys.is_empty());
        ys.iter().sum::<u32>() as f64 / ys.len() as f64
    };
    let mid = (mse.y.start + mse.y.end) as f64 / 2.0;
    let w = mse.x.len() as u32;
    assert!(mean_row(mse.x.start + w / 20..mse.x.start + w / 8) > mid);
    assert!(mean_row(mse.x.end - w / 8..mse.x.end - w / 20) < mid);
    // The outlier's bump reaches the top edge of the panel: clipped there.
    let bump_col = mse.x.start + w / 2;
    let top_hit = (bump_col - 10..bump_col + 10)
        .any(|x| img.get_pixel(x, mse.y.start).0 == rgb!(SMOOTHED_COLOR));
    assert!(top_hit, "the bump is clipped at the top edge");
}

#[test]
fn held_out_energy_is_drawn_only_in_the_energy_panel_and_only_when_logged() {
    let orange = |px: [u8; 3]| px == rgb!(HELDOUT_COLOR);
    let blue = |px: [u8; 3]| px == rgb!(SMOOTHED_COLOR);
    let with = plot::training_figure(&linear_log(2000, true)).unwrap();
    let without = plot::training_figure(&linear_log(2000, false)).unwrap();
    let held = |fig: &plot::TrainingFigure, panel: usize| {
        count_in(&fig.image, &fig.plot_areas[panel], 0, orange)
    };
    assert!(
        held(&with, 3) > 500,
        "held-out line and points: {}",
        held(&with, 3)
    );
    assert_eq!(held(&without, 3), 0);
    for panel in 0..3 {
        assert_eq!(held(&with, panel), 0, "panel {panel}");
    }
    // Smoothed curves everywhere, and faint raw values behind them.
    for fig in [&with, &without] {
        for area in &fig.plot_areas {
            assert!(count_in(&fig.image, area, 0, blue) > 300);
            let faint = |px: [u8; 3]| px == rgb!(RAW_COLOR);
            assert!(count_in(&fig.image, area, 0, faint) > 300);
        }
    }
    // Held-out values outside the training values' range widen the range.
    let mut rows = linear_log(2000, true);
    rows[1000].heldout_energy = Some(10.0);
    let fig = plot::training_figure(&rows).unwrap();
    let area = &fig.plot_areas[3];
    let high = (area.y.start..area.y.start + area.y.len() as u32 / 8)
        .flat_map(|y| area.x.clone().map(move |x| (x, y)))
        .filter(|&(x, y)| orange(fig.image.get_pixel(x, y).0))
        .count();
    assert!(high > 10, "the high held-out point is drawn near the top");
}

#[test]
fn long_logs_and_gaps_still_plot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("training.png");
    let mut rows = linear_log(200_000, true);
    for r in rows.iter_mut().skip(1000).take(5000) {
        r.l1 = f64::NAN;
        r.energy = f64::INFINITY;
    }
    plot::write_training_png(&path, &rows).unwrap();
    let img = decode(&path);
    assert_eq!(img.dimensions(), plot::TRAINING_FIGURE_SIZE);
    // Every panel still shows its curve.
    let fig = plot::training_figure(&rows).unwrap();
    for area in &fig.plot_areas {
        let n = count_in(&fig.image, area, 0, |px| px == rgb!(SMOOTHED_COLOR));
        assert!(n > 300, "{area:?}: {n}");
    }
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
