//! The SHD/SSC HDF5 reader on small files written by h5py
//! (tests/fixtures/shd_*.h5: variable-length float16 times and uint16 units
//! in global heaps, ragged and empty samples).

use std::path::Path;

use lca::snn::shd::{CHANNELS, read_shd};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn the_shd_layout_reads_as_the_events_h5py_wrote() {
    let d = read_shd(&fixture("shd_tiny.h5"), None).unwrap();
    assert_eq!(d.labels, [0, 1, 2, 1, 0, 2]);
    assert_eq!(d.offsets, [0, 3, 3, 4, 8, 8, 10]);
    assert_eq!(
        d.times,
        [0.5, 0.25, 1.0, 0.125, 0.75, 0.0, 0.5, 0.25, 1.25, 1.25]
    );
    assert_eq!(d.channels, [3, 699, 0, 42, 1, 2, 3, 4, 7, 8]);
    assert_eq!((d.n_channels, d.n_classes, d.duration), (CHANNELS, 3, 1.25));
    assert_eq!(
        read_shd(&fixture("shd_tiny.h5"), Some(5))
            .unwrap()
            .n_classes,
        5
    );
}

#[test]
fn bad_shd_files_are_refused_naming_the_file_and_the_problem() {
    let e = read_shd(&fixture("shd_bad_units.h5"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shd_bad_units.h5") && e.contains("unit -3"),
        "{e}"
    );
    let e = read_shd(&fixture("shd_ragged_mismatch.h5"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has 2 samples but 'labels' has 3"), "{e}");
    let e = read_shd(&fixture("shd_tiny.h5"), Some(2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("label 2 but there are 2 classes"), "{e}");
    // an HDF5 file without the datasets (a NIR graph written here)
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("other.h5");
    let mut t = lca::io::hdf5::Tree::new();
    t.insert("labels".into(), lca::io::hdf5::Entry::string("x"));
    lca::io::hdf5::write_tree(&p, &t).unwrap();
    let e = read_shd(&p, None).unwrap_err().to_string();
    assert!(
        e.contains("other.h5") && e.contains("missing dataset 'spikes/times'"),
        "{e}"
    );
    let e = read_shd(&dir.path().join("absent.h5"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.h5"), "{e}");
}
