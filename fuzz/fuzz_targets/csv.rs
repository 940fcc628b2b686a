//! CSV datasets (`lca snn train --dataset FILE.csv[.gz]`) from arbitrary
//! bytes, plain and gzip-compressed, with and without a class count.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use lca::snn::data::{Scaling, read_csv_bytes};
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let path = Path::new(if flags & 1 == 1 {
        "fuzz.csv.gz"
    } else {
        "fuzz.csv"
    });
    let classes = (flags & 2 == 2).then_some(usize::from(flags >> 2) + 1);
    if let Ok(mut ds) = read_csv_bytes(bytes.to_vec(), path, classes) {
        let _ = ds.class_counts();
        let scaling = Scaling::fit(&ds);
        let _ = scaling.apply(&mut ds);
        if ds.len() >= 2 {
            let _ = lca::snn::data::stratified_split(&ds, 0.25, 0);
        }
    }
});
