//! `.npz` archives (scipy CSR matrices and spike records) from arbitrary
//! bytes. The readers take paths, so each input goes through one reused
//! file in a private temporary folder.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::var_os("LCA_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("lca-fuzz-npz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir.join("input.npz")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write scratch file");
    if let Ok(m) = lca::io::npz::read_csr(path) {
        let _ = m.to_dense_rows();
    }
    let _ = lca::io::npz::read_npz(path);
    // What `lca plot raster` does with a spike file.
    if let Ok(record) = lca::solver::SpikeRecord::read_npz(path) {
        let _ = record.raster(0);
    }
});
