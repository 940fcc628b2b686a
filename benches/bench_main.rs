//! Benchmarks named after what users do: encode natural-image patches over a
//! learned dictionary, and take one dictionary-learning step.
//!
//! Run: `cargo bench` (or `cargo bench -- encode_8x8_128`). Throughput is
//! reported in signals per second. Dictionaries were learned by `lca learn` on
//! the embedded images (`benches/data/`); signals are patches of those images,
//! mean-removed and unit-norm, drawn with a fixed seed.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lca::dictionary::{DictionaryLearner, LearnParams};
use lca::image::{ImageSet, Preprocessing, Preprocessor, Whitening, sample_patches};
use lca::io::npy;
use lca::{Dictionary, LcaParams};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn problem(patch: usize, atoms: usize, n: usize) -> (Dictionary, DMatrix<f32>) {
    let path = format!(
        "{}/benches/data/dictionary_{patch}x{patch}_{atoms}.npy",
        env!("CARGO_MANIFEST_DIR")
    );
    let m = npy::read_matrix(std::path::Path::new(&path)).expect("bench dictionary");
    let dict = Dictionary::from_rows(m.rows, m.cols, m.data).unwrap();
    let settings = Preprocessing::default().whiten(Whitening::None);
    let set = ImageSet::embedded(settings.load_options()).unwrap();
    let pre = Preprocessor::new(settings).unwrap();
    let x = sample_patches(&set, n, patch, &pre, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    (dict, x)
}

fn encode(c: &mut Criterion) {
    for (patch, atoms, n) in [(8, 128, 4096), (16, 512, 1024)] {
        let (dict, x) = problem(patch, atoms, n);
        let lca = LcaParams::new().lambda(0.1).check().unwrap();
        let mut group = c.benchmark_group(format!("encode_{patch}x{patch}_{atoms}"));
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(10);
        group.bench_function("default", |b| b.iter(|| lca.encode(&dict, &x).unwrap()));
        let pure = LcaParams::new()
            .lambda(0.1)
            .projection(false)
            .check()
            .unwrap();
        group.bench_function("pure_dynamics", |b| {
            b.iter(|| pure.encode(&dict, &x).unwrap())
        });
        let adaptive = LcaParams::new()
            .lambda(0.1)
            .projection(false)
            .adaptive_dt(true)
            .check()
            .unwrap();
        group.bench_function("pure_dynamics_adaptive_dt", |b| {
            b.iter(|| adaptive.encode(&dict, &x).unwrap())
        });
        group.finish();
    }
}

fn learn_step(c: &mut Criterion) {
    let (dict, x) = problem(8, 128, 256);
    let mut learner = DictionaryLearner::new(LearnParams::default(), dict).unwrap();
    let mut group = c.benchmark_group("learn_step_8x8_128");
    group.throughput(Throughput::Elements(256));
    group.sample_size(20);
    group.bench_function("batch_256", |b| b.iter(|| learner.step(&x).unwrap()));
    group.finish();
}

criterion_group!(benches, encode, learn_step);
criterion_main!(benches);
