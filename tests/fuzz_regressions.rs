//! The fuzz targets' seed corpora (`fuzz/corpus/TARGET/`) as ordinary tests:
//! every seed is a valid file the readers must accept (so the truncation
//! check cannot reject progressive or restart-marker JPEGs), and inputs the
//! fuzzers found are kept here as regressions.

use std::path::{Path, PathBuf};

use lca::image::{ImageSet, LoadOptions};

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_image_seed_loads_in_gray_and_colour() {
    for (path, bytes) in seeds("image") {
        for color in [false, true] {
            let opts = LoadOptions::default().color(color).downscale(1.0);
            let set =
                ImageSet::from_memory(vec![(path.display().to_string(), bytes.clone())], opts)
                    .unwrap_or_else(|e| panic!("{e}"));
            let img = set.load(0).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((img.width, img.height), set.dims(0));
        }
    }
}

#[test]
fn every_csv_seed_parses() {
    // The first byte selects plain / gzip and the class count (see fuzz/fuzz_targets/csv.rs).
    for (path, bytes) in seeds("csv") {
        let name = if bytes[0] & 1 == 1 {
            "s.csv.gz"
        } else {
            "s.csv"
        };
        let classes = (bytes[0] & 2 == 2).then_some(usize::from(bytes[0] >> 2) + 1);
        let ds = lca::snn::data::read_csv_bytes(bytes[1..].to_vec(), Path::new(name), classes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!ds.is_empty());
    }
}

#[test]
fn every_npy_and_npz_seed_reads() {
    for (path, bytes) in seeds("npy") {
        let read = lca::io::npy::read_array_from(&bytes[..], Some(bytes.len() as u64), &path);
        // f32_be.npy is there to reach the refusal of big-endian data.
        if path.ends_with("f32_be.npy") {
            assert!(read.is_err());
        } else {
            read.unwrap_or_else(|e| panic!("{e}"));
        }
    }
    for (path, _) in seeds("npz") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("spikes") {
            let record = lca::solver::SpikeRecord::read_npz(&path).unwrap();
            record.raster(0).unwrap();
        } else if name.contains("csr") {
            lca::io::npz::read_csr(&path).unwrap();
        } else {
            // scipy's CSC is read as an archive but refused as a matrix.
            assert!(lca::io::npz::read_csr(&path).is_err());
            assert!(!lca::io::npz::read_npz(&path).unwrap().is_empty());
        }
    }
}

#[test]
fn a_declared_million_classes_split_quickly() {
    // 2 000 samples with labels up to 999 999: the split used to scan the
    // data once per class (2·10⁹ steps).
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!("{i},{}\n", if i % 2 == 0 { 999_999 } else { i }));
    }
    let ds = lca::snn::data::read_csv_bytes(text.into_bytes(), Path::new("m.csv"), None).unwrap();
    assert_eq!(ds.n_classes, 1_000_000);
    let (train, test) = lca::snn::data::stratified_split(&ds, 0.25, 0);
    assert_eq!(train.len() + test.len(), 2000);
    assert_eq!(test.labels.iter().filter(|&&l| l == 999_999).count(), 250);
}

/// A 2 KB spike file claiming 2⁴⁰ atoms (and no spikes) passes
/// `SpikeRecord::read_npz`, then `raster` (what `lca plot raster` calls)
/// allocates one counter per neuron: 16 TiB, and the process aborts
/// instead of printing one error line. The fix belongs in
/// `src/solver/spiking.rs` (bound `n_atoms`, or allocate with `try_reserve`
/// and return an error); this test passes once it is there.
#[test]
fn a_spike_file_claiming_two_to_the_forty_atoms_is_refused() {
    use lca::io::npy::NpyArray;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.npz");
    let scalar = |v: i64| NpyArray::from_i64(vec![], &[v]).unwrap();
    let empty = NpyArray::from_i32(vec![0], &[]).unwrap();
    let arrays = [
        ("signal", empty.clone()),
        ("neuron", empty.clone()),
        ("step", empty),
        ("quantum", NpyArray::from_f32(vec![1], &[0.1]).unwrap()),
        ("n_atoms", scalar(1 << 40)),
        ("n_neurons", scalar(1 << 41)),
        ("steps", scalar(10)),
        ("settle", scalar(0)),
    ];
    let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, v)| (*k, v)).collect();
    lca::io::npz::write_npz(&path, &refs).unwrap();
    let refused = match lca::solver::SpikeRecord::read_npz(&path) {
        Err(e) => e.to_string().contains("hostile.npz"),
        Ok(record) => record.raster(0).is_err(),
    };
    assert!(refused);
}

/// The checkpoint target's seeds (two shape bytes, then a real run's
/// `checkpoint.npz` or `config.json`) are what `lca learn --resume` accepts.
#[test]
fn every_checkpoint_seed_is_read() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/checkpoint");
    let tmp = tempfile::tempdir().unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let (n, k) = (
            1 + usize::from(bytes[0] % 64),
            1 + usize::from(bytes[1] % 64),
        );
        let body = &bytes[2..];
        if path.extension().is_some_and(|e| e == "json") {
            let c: lca::dictionary::TrainingConfig = serde_json::from_slice(body).unwrap();
            c.check().unwrap();
        } else {
            let file = tmp.path().join("checkpoint.npz");
            std::fs::write(&file, body).unwrap();
            let (state, _) = lca::dictionary::read_checkpoint(&file, n, k).unwrap();
            assert_eq!(state.atoms.shape(), (n, k));
            // Cut anywhere, it is refused (never a panic or a huge allocation).
            for cut in [0, 10, body.len() / 2, body.len() - 1] {
                std::fs::write(&file, &body[..cut]).unwrap();
                assert!(lca::dictionary::read_checkpoint(&file, n, k).is_err());
            }
        }
        seen += 1;
    }
    assert!(seen >= 4, "{seen} seeds");
}
