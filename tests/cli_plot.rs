//! `lca plot atoms` on conv dictionaries and `lca plot codes` on the codes
//! `lca encode` writes for an image, end to end through the binary.

mod common;

use common::cli::{Problem, assert_fails, lca};
use lca::io::npy;

/// Four unit-norm 5×5 filters `C.npy` (`(4, 1, 5, 5)`) and a 24×20 gray
/// photo-like `I.png` (a bright square on a ramp).
fn conv_files() -> Problem {
    let p = Problem::new(4, 4, 1, 3);
    let mut filters: Vec<f32> = (0..100)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
        .collect();
    for f in filters.chunks_mut(25) {
        let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        f.iter_mut().for_each(|v| *v /= norm);
    }
    npy::write_npy(
        &p.path("C.npy"),
        &npy::NpyArray::from_f32(vec![4, 1, 5, 5], &filters).unwrap(),
    )
    .unwrap();
    let img = image::GrayImage::from_fn(24, 20, |x, y| {
        let square = (8..16).contains(&x) && (6..14).contains(&y);
        image::Luma([if square { 230 } else { (x * 6) as u8 }])
    });
    img.save(p.path("I.png")).unwrap();
    p
}

#[test]
fn plot_codes_draws_the_maps_of_an_encoded_image() {
    let p = conv_files();
    let dir = p.dir.path();
    let enc = lca(
        &[
            "encode", "-d", "C.npy", "-i", "I.png", "-o", "A.npy", "--quiet",
        ],
        dir,
    );
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let out = lca(
        &[
            "plot", "codes", "A.npy", "--image", "I.png", "-d", "C.npy", "--top", "3",
        ],
        dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fig = image::open(p.path("A.maps.png")).unwrap().to_rgb8();
    assert!(
        fig.width() > 400 && fig.height() > 200,
        "{:?}",
        fig.dimensions()
    );
    // Some map pixels are drawn in the positive or negative colour.
    let coloured = fig
        .pixels()
        .filter(|p| (p.0[0] > 150 && p.0[1] < 90) || (p.0[2] > 150 && p.0[0] < 90))
        .count();
    assert!(coloured > 20, "{coloured} coloured pixels");

    // The codes of another image size do not fit this image.
    image::GrayImage::new(10, 10)
        .save(p.path("small.png"))
        .unwrap();
    let bad = lca(
        &[
            "plot",
            "codes",
            "A.npy",
            "--image",
            "small.png",
            "-o",
            "B.png",
        ],
        dir,
    );
    assert_fails(&bad, &["A.npy", "small.png", "10x10"]);
    assert!(!p.path("B.png").exists());
    // A patch dictionary's codes are not conv maps.
    let bad = lca(&["plot", "codes", "D.npy", "--image", "I.png"], dir);
    assert_fails(&bad, &["D.npy", "(n_filters, H, W)"]);
    // Filters that do not match the maps.
    let bad = lca(
        &["plot", "codes", "A.npy", "--image", "I.png", "-d", "D.npy"],
        dir,
    );
    assert_fails(&bad, &["D.npy"]);
}

#[test]
fn plot_atoms_draws_conv_filters() {
    let p = conv_files();
    let out = lca(&["plot", "atoms", "C.npy"], p.dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fig = image::open(p.path("C.atoms.png")).unwrap().to_rgb8();
    // 4 filters of 5×5 in a 2×2 grid, each at least 32 px.
    let grid = lca::plot::atom_grid(&vec![0.1; 100], 4, 25, 1).unwrap();
    assert_eq!(
        fig.width(),
        grid.width().max(lca::plot::MIN_FIGURE_WIDTH as u32)
    );
    assert!(grid.width() >= 2 * 32);
    npy::write_npy(
        &p.path("R.npy"),
        &npy::NpyArray::from_f32(vec![2, 3, 4], &[0.5; 24]).unwrap(),
    )
    .unwrap();
    let bad = lca(&["plot", "atoms", "R.npy"], p.dir.path());
    assert_fails(&bad, &["R.npy", "[2, 3, 4]"]);
}
