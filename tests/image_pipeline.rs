//! Image loading, preprocessing and patch pipeline: properties the CLI's
//! `learn` and `reconstruct` rely on.

use std::path::Path;

use image::{ImageBuffer, Luma, Rgb, Rgba};
use lca::image::{
    Image, ImageSet, LoadOptions, Preprocessing, Preprocessor, Whitening, Zca, overlap_add,
    sample_patches, tile,
};
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A smooth image: a few random sinusoids with frequencies up to 0.25
/// cycles/pixel, per channel, around 0.5.
fn band_limited(width: usize, height: usize, channels: usize, seed: u64) -> Image {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let waves: Vec<(f32, f32, f32, f32)> = (0..6 * channels)
        .map(|_| {
            (
                rng.random_range(-0.25f32..0.25),
                rng.random_range(-0.25f32..0.25),
                rng.random_range(0.0f32..std::f32::consts::TAU),
                rng.random_range(0.02f32..0.08),
            )
        })
        .collect();
    let mut data = Vec::with_capacity(width * height * channels);
    for y in 0..height {
        for x in 0..width {
            for c in 0..channels {
                let v: f32 = waves[6 * c..6 * c + 6]
                    .iter()
                    .map(|&(fx, fy, ph, a)| {
                        a * (std::f32::consts::TAU * (fx * x as f32 + fy * y as f32) + ph).cos()
                    })
                    .sum();
                data.push(0.5 + v);
            }
        }
    }
    Image::new(width, height, channels, data).unwrap()
}

fn noise_image(width: usize, height: usize, channels: usize, seed: u64) -> Image {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = (0..width * height * channels)
        .map(|_| rng.random_range(0.0f32..1.0))
        .collect();
    Image::new(width, height, channels, data).unwrap()
}

fn one_over_f(color: bool) -> Preprocessor {
    Preprocessor::new(
        Preprocessing::default()
            .color(color)
            .whiten(Whitening::OneOverF { f0: 0.4 }),
    )
    .unwrap()
}

#[test]
fn one_over_f_whitening_inverts_on_band_limited_images() {
    for (w, h, c, seed) in [(48, 40, 1, 1), (37, 29, 3, 2)] {
        let img = band_limited(w, h, c, seed);
        let pre = one_over_f(c == 3);
        let (white, info) = pre.forward_image(&img).unwrap();
        // Scaled to the documented per-pixel variance, and actually changed.
        let var = white.data.iter().map(|v| v * v).sum::<f32>() / white.data.len() as f32;
        assert!(
            (var - lca::image::WHITENED_VARIANCE).abs() < 1e-4,
            "variance {var}"
        );
        assert!(max_abs_diff(&white.data, &img.data) > 0.1);
        let back = pre.inverse_image(&white, &info).unwrap();
        let err = max_abs_diff(&back.data, &img.data);
        assert!(err < 2e-3, "{w}x{h}x{c}: max error {err}");
    }
}

#[test]
fn one_over_f_whitening_decorrelates_neighbouring_pixels() {
    // Natural images are smooth (neighbours strongly correlated); whitening
    // flattens the spectrum, which removes most of that correlation.
    let set = ImageSet::embedded(LoadOptions::default().color(false).downscale(2.0)).unwrap();
    let img = set.load(0).unwrap();
    let (white, _) = one_over_f(false).forward_image(&img).unwrap();
    let neighbour_corr = |im: &Image| {
        let m = im.data.iter().sum::<f32>() / im.data.len() as f32;
        let (mut num, mut den) = (0f64, 0f64);
        for row in im.data.chunks_exact(im.width) {
            for p in row.windows(2) {
                num += f64::from((p[0] - m) * (p[1] - m));
            }
            den += row.iter().map(|v| f64::from((v - m).powi(2))).sum::<f64>();
        }
        num / den
    };
    let (raw, whitened) = (neighbour_corr(&img), neighbour_corr(&white));
    eprintln!("neighbour correlation raw {raw:.3} whitened {whitened:.3}");
    assert!(
        raw > 0.9 && whitened.abs() < 0.6,
        "raw {raw}, whitened {whitened}"
    );
    // And the real photo comes back, too (up to the documented corner loss).
    let back = one_over_f(false)
        .inverse_image(&white, &one_over_f(false).forward_image(&img).unwrap().1)
        .unwrap();
    let err = max_abs_diff(&back.data, &img.data);
    eprintln!("camera round trip max error {err}");
    assert!(err < 0.01);
}

#[test]
fn whitening_and_patch_steps_invert_end_to_end() {
    let img = band_limited(40, 33, 3, 4);
    let pre = one_over_f(true);
    let (white, info) = pre.forward_image(&img).unwrap();
    let (mut p, pos) = tile(&white, 8, 4).unwrap();
    let stats = pre.forward_patches(&mut p).unwrap();
    pre.inverse_patches(&mut p, &stats).unwrap();
    let white_back = overlap_add(&p, &pos, 40, 33, 3, 8).unwrap();
    let back = pre.inverse_image(&white_back, &info).unwrap();
    assert!(max_abs_diff(&back.data, &img.data) < 2e-3);
}

#[test]
fn zca_whitens_to_identity_covariance_and_inverts() {
    let (d, n) = (6, 20_000);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mix = DMatrix::from_fn(d, d, |_, _| rng.random_range(-1.0f32..1.0));
    let z = DMatrix::from_fn(d, n, |_, _| rng.sample::<f32, _>(StandardNormal));
    let mut x = &mix * z;
    for mut col in x.column_iter_mut() {
        col.add_scalar_mut(0.3);
    }
    let zca = Zca::fit(&x, 1e-6).unwrap();
    let y = zca.apply(&x).unwrap();
    let mean = y.column_mean();
    assert!(mean.amax() < 1e-3);
    let cov = (&y * y.transpose()) / (n - 1) as f32;
    let err = (cov - DMatrix::<f32>::identity(d, d)).amax();
    assert!(err < 1e-2, "covariance differs from identity by {err}");
    // ZCA is symmetric: it stays in pixel space.
    let w = zca.whitening_matrix();
    assert!((w - w.transpose()).amax() < 1e-4);
    let back = zca.invert(&y).unwrap();
    assert!((back - &x).amax() < 1e-3);
    // Serialises and comes back doing the same thing.
    let json = serde_json::to_string(&zca).unwrap();
    let again: Zca = serde_json::from_str(&json).unwrap();
    assert!((again.apply(&x).unwrap() - &y).amax() < 1e-4);
    assert!(zca.apply(&DMatrix::zeros(d + 1, 1)).is_err());
}

#[test]
fn zca_preprocessor_fits_on_a_folder_and_inverts_patches() {
    let settings = Preprocessing::default()
        .downscale(2.0)
        .whiten(Whitening::Zca { epsilon: 1e-3 });
    let set = ImageSet::embedded(settings.load_options()).unwrap();
    let pre = Preprocessor::fit(settings, &set, 4, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    assert_eq!(pre.zca().unwrap().n_features(), 16);
    let img = set.load(0).unwrap();
    let (orig, _) = tile(&img, 4, 4).unwrap();
    let mut p = orig.clone();
    let stats = pre.forward_patches(&mut p).unwrap();
    pre.inverse_patches(&mut p, &stats).unwrap();
    assert!((p - orig).amax() < 1e-4);
    // Without a fitted transform, ZCA settings refuse to touch patches.
    let unfitted = Preprocessor::new(settings).unwrap();
    assert!(
        unfitted
            .forward_patches(&mut DMatrix::zeros(16, 1))
            .is_err()
    );
}

#[test]
fn tile_then_overlap_add_is_the_identity() {
    let img = noise_image(23, 17, 3, 6);
    for stride in [1, 2, 3, 5, 7, 8] {
        let (p, pos) = tile(&img, 8, stride).unwrap();
        assert_eq!(p.nrows(), 8 * 8 * 3);
        assert!(pos.contains(&(15, 9)), "last tile flush with both borders");
        assert!(pos.iter().all(|&(x, y)| x + 8 <= 23 && y + 8 <= 17));
        let back = overlap_add(&p, &pos, 23, 17, 3, 8).unwrap();
        assert!(
            max_abs_diff(&back.data, &img.data) < 1e-6,
            "stride {stride}"
        );
    }
    // A patch is HWC-flattened: value (y*P + x)*3 + c.
    let (p, pos) = tile(&img, 8, 8).unwrap();
    let (x0, y0) = pos[1];
    assert_eq!(p[((2 * 8 + 3) * 3 + 1, 1)], img.get(x0 + 3, y0 + 2, 1));
    assert!(tile(&img, 18, 1).is_err());
    assert!(tile(&img, 4, 0).is_err());
    assert!(
        tile(&img, 4, 5).is_err(),
        "a stride above the patch size leaves gaps"
    );
}

fn write_png_gray(path: &Path, w: u32, h: u32) {
    ImageBuffer::from_fn(w, h, |x, y| Luma([((x * 7 + y * 13) % 256) as u8]))
        .save(path)
        .unwrap();
}

#[test]
fn corrupt_files_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write_png_gray(&dir.path().join("a.png"), 20, 10);
    std::fs::write(
        dir.path().join("b.png"),
        b"definitely not a png \x00\x01\x02",
    )
    .unwrap();
    ImageBuffer::from_fn(12, 14, |x, y| Rgb([x as u8 * 10, y as u8 * 10, 128]))
        .save(dir.path().join("c.jpg"))
        .unwrap();
    std::fs::write(dir.path().join(".hidden.png"), b"junk").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write_png_gray(&dir.path().join("sub").join("d.png"), 9, 9);

    let (set, warnings) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("b.png: not a readable image ("),
        "{}",
        warnings[0]
    );
    assert!(!warnings[0].contains('\n'));
    assert!(set.name(0).ends_with("a.png") && set.name(1).ends_with("c.jpg"));
    assert_eq!(set.dims(1), (12, 14));
    for i in 0..set.len() {
        let img = set.load(i).unwrap();
        assert_eq!((img.width, img.height), set.dims(i));
    }

    let (set, _) = ImageSet::from_folder(dir.path(), true, LoadOptions::default()).unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.name(2).ends_with("d.png"));
    assert_eq!(set.usable_for_patch(10), 2);
    // 20×10, 12×14 and 9×9: only the first two hold a 10×10 patch.
    let small = set.check_patch(10).unwrap();
    assert_eq!(small.len(), 1, "{small:?}");
    assert!(
        small[0].ends_with("d.png: 9×9 is smaller than the 10×10 patch, skipped"),
        "{}",
        small[0]
    );
    let err = set.check_patch(32).unwrap_err().to_string();
    assert!(err.contains("smaller than the 32×32 patch"), "{err}");

    // Named explicitly, a corrupt file is an error naming it.
    let err =
        ImageSet::from_files(&[dir.path().join("b.png")], LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("b.png"), "{err}");
}

#[test]
fn empty_or_missing_folders_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = ImageSet::from_folder(dir.path(), true, LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("no readable images (the folder holds no files)"),
        "{err}"
    );
    std::fs::write(dir.path().join("x.png"), b"garbage").unwrap();
    let err = ImageSet::from_folder(dir.path(), true, LoadOptions::default()).unwrap_err();
    // The reason is in the error: no warnings are printed when the scan fails.
    assert!(
        err.to_string()
            .contains("no readable images (1 file skipped: ")
            && err.to_string().contains("x.png: not a readable image ("),
        "{err}"
    );
    assert!(
        ImageSet::from_folder(&dir.path().join("missing"), false, LoadOptions::default()).is_err()
    );
    let bad = LoadOptions::default().color(false).downscale(0.5);
    assert!(ImageSet::embedded(bad).is_err());
}

#[test]
fn sixteen_bit_and_rgba_images_read_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let p16 = dir.path().join("deep.png");
    ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(5, 3, |x, y| {
        Luma([(x * 10_000 + y * 1_000) as u16])
    })
    .save(&p16)
    .unwrap();
    let prgba = dir.path().join("alpha.png");
    ImageBuffer::from_fn(4, 2, |x, y| {
        Rgba([(x * 60) as u8, (y * 200) as u8, 30, (x * 50) as u8])
    })
    .save(&prgba)
    .unwrap();

    let gray = ImageSet::from_files(&[p16.clone(), prgba.clone()], LoadOptions::default()).unwrap();
    let deep = gray.load(0).unwrap();
    assert_eq!((deep.width, deep.height, deep.channels), (5, 3, 1));
    // 16-bit precision survives: 41 000 / 65535, not a value rounded to 8 bits.
    assert!((deep.get(4, 1, 0) - 41_000.0 / 65_535.0).abs() < 1e-6);
    let luma = gray.load(1).unwrap();
    let expect = (0.2126 * 180.0 + 0.7152 * 200.0 + 0.0722 * 30.0) / 255.0;
    assert!(
        (luma.get(3, 1, 0) - expect).abs() < 1e-3,
        "{} vs {expect}",
        luma.get(3, 1, 0)
    );

    let color = ImageSet::from_files(
        &[prgba, p16],
        LoadOptions::default().color(true).downscale(1.0),
    )
    .unwrap();
    let rgb = color.load(0).unwrap();
    assert_eq!(rgb.channels, 3);
    assert_eq!(rgb.data.len(), 4 * 2 * 3);
    let px: Vec<f32> = (0..3).map(|c| rgb.get(3, 1, c)).collect();
    assert!(max_abs_diff(&px, &[180.0 / 255.0, 200.0 / 255.0, 30.0 / 255.0]) < 1e-6);
    // Gray loaded as colour repeats the value in R, G and B.
    let g3 = color.load(1).unwrap();
    assert_eq!(g3.get(2, 2, 0), g3.get(2, 2, 2));
}

#[test]
fn downscale_shrinks_with_a_smooth_filter() {
    let opts = LoadOptions::default().color(true).downscale(3.0);
    let set = ImageSet::embedded(opts).unwrap();
    assert_eq!(set.dims(0), (171, 171));
    let img = set.load(2).unwrap();
    assert_eq!((img.width, img.height, img.channels), (200, 133, 3));
    assert!(img.data.iter().all(|v| (0.0..=1.0).contains(v)));
}

fn sample_with(threads: usize, set: &ImageSet, pre: &Preprocessor, seed: u64) -> DMatrix<f32> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| sample_patches(set, 300, 8, pre, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap())
}

#[test]
fn sample_patches_is_reproducible_and_thread_independent() {
    let settings = Preprocessing::default().downscale(2.0).color(true);
    let set = ImageSet::embedded(settings.load_options()).unwrap();
    let pre = Preprocessor::new(settings).unwrap();
    let a = sample_with(1, &set, &pre, 42);
    assert_eq!(a.shape(), (8 * 8 * 3, 300));
    assert_eq!(a, sample_with(2, &set, &pre, 42));
    assert_eq!(
        a,
        sample_with(2, &set, &pre, 42),
        "cached images give the same patches"
    );
    let uncached = ImageSet::embedded(settings.load_options())
        .unwrap()
        .with_cache_bytes(0);
    assert_eq!(a, sample_with(2, &uncached, &pre, 42));
    assert_ne!(a, sample_with(1, &set, &pre, 43));
    // Repeated calls on one generator keep drawing new patches.
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let first = sample_patches(&set, 300, 8, &pre, &mut rng).unwrap();
    let second = sample_patches(&set, 300, 8, &pre, &mut rng).unwrap();
    assert_eq!(first, a);
    assert_ne!(first, second);
    // Settings that disagree with how the set was loaded are refused.
    let gray = Preprocessor::new(Preprocessing::default().downscale(2.0)).unwrap();
    assert!(sample_patches(&set, 1, 8, &gray, &mut rng).is_err());
}

#[test]
fn unit_norm_patches_have_norm_one_and_zero_mean() {
    let settings = Preprocessing::default()
        .downscale(2.0)
        .whiten(Whitening::None)
        .min_norm(0.05);
    let set = ImageSet::embedded(settings.load_options()).unwrap();
    let pre = Preprocessor::new(settings).unwrap();
    let x = sample_patches(&set, 500, 6, &pre, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
    for col in x.column_iter() {
        assert!((col.norm() - 1.0).abs() < 1e-5);
        assert!(col.mean().abs() < 1e-6);
    }
    // When tiling, flat patches are kept but not scaled, and everything inverts.
    let mut img = noise_image(12, 12, 1, 1);
    img.data[..12 * 6].iter_mut().for_each(|v| *v = 0.25); // flat top half
    let (orig, pos) = tile(&img, 6, 6).unwrap();
    let mut p = orig.clone();
    let stats = pre.forward_patches(&mut p).unwrap();
    assert_eq!(
        stats.iter().map(|s| s.kept).collect::<Vec<_>>(),
        [false, false, true, true]
    );
    assert!((stats[0].mean - 0.25).abs() < 1e-6 && p.column(0).amax() < 1e-6);
    assert!((p.column(3).norm() - 1.0).abs() < 1e-5);
    pre.inverse_patches(&mut p, &stats).unwrap();
    let back = overlap_add(&p, &pos, 12, 12, 1, 6).unwrap();
    assert!(max_abs_diff(&back.data, &img.data) < 1e-6);
}

#[test]
fn all_flat_images_fail_instead_of_looping() {
    let dir = tempfile::tempdir().unwrap();
    ImageBuffer::from_pixel(16, 16, Luma([100u8]))
        .save(dir.path().join("flat.png"))
        .unwrap();
    let (set, _) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    let pre = Preprocessor::new(Preprocessing::default().whiten(Whitening::None)).unwrap();
    let err = sample_patches(&set, 10, 4, &pre, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
    assert!(err.to_string().contains("min_norm"), "{err}");
}

#[test]
fn settings_serialise_with_kebab_case_whitening() {
    let s = Preprocessing::default().whiten(Whitening::from_name("one-over-f").unwrap());
    let json = serde_json::to_string(&s).unwrap();
    assert!(
        json.contains(r#""whiten":{"kind":"one-over-f","f0":0.4}"#),
        "{json}"
    );
    let back: Preprocessing = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let z: Whitening = serde_json::from_str(r#"{"kind":"zca","epsilon":0.01}"#).unwrap();
    assert_eq!(z, Whitening::Zca { epsilon: 0.01 });
    assert_eq!(Whitening::from_name("none").unwrap(), Whitening::None);
    assert!(Preprocessor::new(s.min_norm(-1.0)).is_err());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn hostile_headers_are_rejected_at_scan_time() {
    let dir = tempfile::tempdir().unwrap();
    write_png_gray(&dir.path().join("ok.png"), 8, 8);
    // A valid PNG whose header claims 100 000 × 100 000 RGBA pixels (40 GB).
    let mut bytes = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut bytes),
        &[0u8; 4],
        1,
        1,
        image::ExtendedColorType::Rgba8,
    )
    .unwrap();
    bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(dir.path().join("bomb.png"), &bytes).unwrap();
    let (set, warnings) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("bomb.png: not a readable image ("),
        "{}",
        warnings[0]
    );
}

/// A 96×64 noisy gradient as JPEG bytes.
fn jpeg_bytes() -> Vec<u8> {
    let img = ImageBuffer::from_fn(96, 64, |x, y| {
        Rgb([(x * 2) as u8, (y * 3) as u8, ((x * y * 7919) % 251) as u8])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    bytes
}

#[test]
fn truncated_jpegs_are_refused_whether_scanned_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let full = jpeg_bytes();
    assert_eq!(&full[full.len() - 2..], &[0xFF, 0xD9]);
    std::fs::write(dir.path().join("cut.jpg"), &full[..full.len() / 3]).unwrap();
    // Bytes after the end-of-image marker (camera trailers) are fine.
    let mut trailer = full.clone();
    trailer.extend_from_slice(b"trailing camera data");
    std::fs::write(dir.path().join("trailer.jpg"), &trailer).unwrap();

    let (set, warnings) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    assert_eq!(set.len(), 1);
    assert!(set.name(0).ends_with("trailer.jpg"));
    assert_eq!(set.load(0).unwrap().width, 96);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("cut.jpg: not a readable image (truncated JPEG"),
        "{}",
        warnings[0]
    );

    let err = ImageSet::from_files(&[dir.path().join("cut.jpg")], LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cut.jpg") && err.contains("truncated JPEG"),
        "{err}"
    );
    // Every cut, even one byte short of the end, is found.
    for len in [2, 3, 200, full.len() / 2, full.len() - 1] {
        let r = ImageSet::from_memory(
            vec![("m.jpg".into(), full[..len].to_vec())],
            LoadOptions::default(),
        );
        assert!(r.is_err(), "a JPEG cut to {len} bytes was accepted");
    }
}

#[test]
fn a_file_failing_at_decode_time_is_marked_bad_and_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    write_png_gray(&dir.path().join("a.png"), 20, 20);
    let jpg = dir.path().join("b.jpg");
    std::fs::write(&jpg, jpeg_bytes()).unwrap();
    // A PNG whose header is whole but whose pixel data is cut: the scan
    // (headers only) accepts it, decoding fails.
    let noise = ImageBuffer::from_fn(64, 64, |x, y| {
        Luma([((x * 7919 + y * 104_729) % 251) as u8])
    });
    let mut png = Vec::new();
    noise
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(dir.path().join("c.png"), &png[..png.len() * 2 / 3]).unwrap();

    let (set, warnings) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    assert_eq!((set.len(), warnings.len()), (3, 0), "{warnings:?}");
    // The JPEG is cut after the scan: decoding finds it.
    let full = std::fs::read(&jpg).unwrap();
    std::fs::write(&jpg, &full[..full.len() / 3]).unwrap();

    assert!(set.load(0).is_ok());
    for i in [1, 2] {
        let err = set.load(i).unwrap_err().to_string();
        assert!(
            err.contains(set.name(i)) && err.contains("cannot decode image"),
            "{err}"
        );
        assert!(set.is_bad(i));
        // Later loads fail the same way without decoding again.
        assert_eq!(set.load(i).unwrap_err().to_string(), err);
    }
    assert!(!set.is_bad(0));
    let lines = set.take_warnings();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("b.jpg: cannot decode image (truncated JPEG"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("c.png: cannot decode image (") && lines[1].ends_with(", skipped"));
    assert!(set.take_warnings().is_empty(), "reported once");
    assert_eq!(set.usable_for_patch(8), 1);
    assert!(set.check_patch(8).unwrap().is_empty());

    // When every image went bad, check_patch says why.
    let named = ImageSet::from_files(&[dir.path().join("c.png")], LoadOptions::default()).unwrap();
    assert!(named.load(0).is_err());
    let err = named.check_patch(8).unwrap_err().to_string();
    assert!(
        err.contains("no image could be decoded: ") && err.contains("c.png"),
        "{err}"
    );
}

#[test]
fn folders_say_why_they_hold_no_images_and_flag_dropped_alpha() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("2024")).unwrap();
    std::fs::create_dir(dir.path().join("2025")).unwrap();
    write_png_gray(&dir.path().join("2024").join("a.png"), 8, 8);
    let err = ImageSet::from_folder(dir.path(), false, LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 sub-folders not searched: pass --recursive"),
        "{err}"
    );
    assert!(ImageSet::from_folder(dir.path(), true, LoadOptions::default()).is_ok());

    for i in 0..5 {
        std::fs::write(dir.path().join(format!("junk{i}.png")), b"junk").unwrap();
    }
    let err = ImageSet::from_folder(dir.path(), false, LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(5 files skipped: ") && err.contains("; and 2 more)"),
        "{err}"
    );
    assert!(err.contains("junk0.png: not a readable image ("), "{err}");

    let dir = tempfile::tempdir().unwrap();
    write_png_gray(&dir.path().join("gray.png"), 8, 8);
    for name in ["a.png", "b.png"] {
        ImageBuffer::from_fn(8, 8, |x, _| Rgba([(x * 30) as u8, 0, 0, 128]))
            .save(dir.path().join(name))
            .unwrap();
    }
    let (set, warnings) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.has_alpha(0) && set.has_alpha(1) && !set.has_alpha(2));
    assert_eq!(warnings.len(), 1, "one line per run: {warnings:?}");
    assert!(
        warnings[0].starts_with("2 images have an alpha channel, which is ignored")
            && warnings[0].ends_with("a.png"),
        "{}",
        warnings[0]
    );
}

#[test]
fn original_size_is_kept_next_to_the_downscaled_one() {
    let dir = tempfile::tempdir().unwrap();
    write_png_gray(&dir.path().join("a.png"), 64, 48);
    let opts = LoadOptions::default().color(false).downscale(2.0);
    let set = ImageSet::from_files(&[dir.path().join("a.png")], opts).unwrap();
    assert_eq!((set.dims(0), set.original_dims(0)), ((32, 24), (64, 48)));
}
