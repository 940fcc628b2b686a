//! `.npy` arrays and matrices from arbitrary bytes: errors are fine, panics,
//! hangs and allocations beyond the input's size are not.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.npy");
    let len = Some(data.len() as u64);
    if let Ok(a) = lca::io::npy::read_array_from(data, len, path) {
        let _ = a.to_f32_vec();
        let _ = a.into_c_order();
    }
    // Without the length: memory must still grow only as data arrives.
    let _ = lca::io::npy::read_array_from(data, None, path);
    let _ = lca::io::npy::read_matrix_from(data, len, path);
});
