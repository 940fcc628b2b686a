//! Learn a dictionary through the library API and reconstruct an image with it.
//!
//! Samples 8×8 patches (mean removed, unit norm) from the images embedded in
//! the crate, learns 128 atoms with LCA codes and Hebbian updates, saves the
//! atoms as a picture, then rebuilds one image from overlapping patches and
//! prints its PSNR.
//!
//! Run: `cargo run --release --example learn_and_reconstruct`

use lca::dictionary::{DictionaryLearner, LearnParams};
use lca::image::{
    ImageSet, Preprocessing, Preprocessor, Whitening, psnr, reconstruct, sample_patches,
};
use lca::{Dictionary, LcaParams};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> lca::Result<()> {
    let (patch, atoms, steps, batch) = (8, 128, 1000, 128);
    let settings = Preprocessing::default().whiten(Whitening::None);
    let images = ImageSet::embedded(settings.load_options())?;
    let pre = Preprocessor::new(settings)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);

    // Start from random patches; learn with the default schedule (η 4 → 0.4).
    let init = Dictionary::from_atoms(sample_patches(&images, atoms, patch, &pre, &mut rng)?)?;
    let params = LearnParams::default()
        .steps(steps)
        .lca(LcaParams::new().lambda(0.1));
    let mut learner = DictionaryLearner::new(params, init)?;
    for step in 0..steps {
        let stats = learner.step(&sample_patches(&images, batch, patch, &pre, &mut rng)?)?;
        if step % 200 == 0 || step + 1 == steps {
            println!(
                "step {step:4}: energy {:.4}, mse {:.5}, active fraction {:.3}",
                stats.energy, stats.mse, stats.active_fraction
            );
        }
    }
    let dict = learner.dictionary()?;
    let atoms_png = std::env::temp_dir().join("lca-example-atoms.png");
    lca::plot::write_atoms_png(&atoms_png, dict.as_rows(), atoms, patch * patch, 1)?;

    let image = images.load(0)?;
    let lca = LcaParams::new().lambda(0.1).check()?;
    let rec = reconstruct(&image, &dict, &lca, &pre, patch, patch / 2)?;
    println!(
        "{}: PSNR {:.2} dB with {:.2} active atoms per patch; atoms drawn in {}",
        images.name(0),
        psnr(&image, &rec.image),
        rec.mean_active(),
        atoms_png.display()
    );
    Ok(())
}
