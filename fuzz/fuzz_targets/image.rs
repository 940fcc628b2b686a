//! Images (`lca learn DIR`, `lca reconstruct FILE`) from arbitrary bytes:
//! header probe, then a full decode in gray and in colour. Errors are fine;
//! panics, hangs and allocations past the loader's limits are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use lca::image::{ImageSet, LoadOptions};
    for color in [false, true] {
        let opts = LoadOptions::default().color(color).downscale(1.0);
        let Ok(set) = ImageSet::from_memory(vec![("fuzz".into(), data.to_vec())], opts) else {
            return;
        };
        // The loader allows up to 1 GiB of pixels; decoding that under the
        // sanitiser would only measure the limit, not find bugs.
        let (w, h) = set.dims(0);
        if w * h > 1 << 22 {
            return;
        }
        if set.load(0).is_err() {
            assert!(set.is_bad(0));
            assert_eq!(set.take_warnings().len(), 1);
            assert!(set.load(0).is_err());
        }
    }
});
