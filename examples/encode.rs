//! Encode signals with a dictionary through the library API.
//!
//! Builds an overcomplete cosine dictionary (twice as many atoms as samples),
//! encodes signals made of two tones plus noise with the rate LCA, prints how
//! sparse and how accurate the codes are, and saves them as a numpy file.
//!
//! Run: `cargo run --release --example encode`

use lca::io::npy;
use lca::solver::lasso_objectives;
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;

fn main() -> lca::Result<()> {
    let (n, k, m) = (64usize, 128usize, 1000usize);
    // Atom j is a cosine at frequency j/2 cycles per window: an overcomplete frame.
    let atoms = DMatrix::from_fn(n, k, |i, j| {
        (std::f32::consts::PI * (i as f32 + 0.5) * j as f32 / (2.0 * n as f32)).cos()
    });
    let dict = Dictionary::from_atoms(atoms)?;

    // Each signal: two atoms with weights of both signs, plus deterministic "noise".
    let mut signals = DMatrix::zeros(n, m);
    for s in 0..m {
        let (p, q) = ((s * 37) % k, (s * 91 + 5) % k);
        for i in 0..n {
            let noise = 0.01 * (((s * 131 + i * 17) % 23) as f32 / 11.0 - 1.0);
            signals[(i, s)] = 1.5 * dict.atom(p)[i] - 0.8 * dict.atom(q)[i] + noise;
        }
    }

    let lambda = 0.05;
    let lca = LcaParams::new().lambda(lambda).check()?;
    let enc = lca.encode(&dict, &signals)?;
    let energies = lasso_objectives(&dict, &signals, &enc.codes, lambda);
    let mean_energy = energies.iter().sum::<f64>() / m as f64;
    // Steps of the dynamics and jumps to fixed points (the default solver
    // usually needs no steps at all).
    let mean = |v: &[u32]| v.iter().map(|&i| f64::from(i)).sum::<f64>() / m as f64;
    println!(
        "{m} signals, {k} atoms: mean active {:.2}, mean energy {mean_energy:.5}, mean steps {:.1}, mean jumps {:.1}",
        enc.mean_active(),
        mean(&enc.iterations),
        mean(&enc.jumps)
    );

    // Codes in numpy layout (n_samples, n_atoms): np.load("codes.npy").
    let out = std::env::temp_dir().join("lca-example-codes.npy");
    npy::write_matrix(&out, m, k, enc.codes.as_slice())?;
    println!("codes written to {}", out.display());
    Ok(())
}
