//! What `lca learn --resume` reads from a run folder: `config.json` and
//! `checkpoint.npz`. The first two input bytes pick the shape the checkpoint
//! is read for (1–64 features, 1–64 atoms); the rest is the file, read both
//! as a checkpoint (through a scratch file, the reader takes paths) and as a
//! config.
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
        let dir = base.join(format!("lca-fuzz-checkpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir.join("checkpoint.npz")
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (n, k) = (1 + usize::from(data[0] % 64), 1 + usize::from(data[1] % 64));
    let file = &data[2..];
    let path = scratch();
    std::fs::write(path, file).expect("write scratch file");
    if let Ok((state, _)) = lca::dictionary::read_checkpoint(path, n, k) {
        let params = lca::dictionary::LearnParams::default().rule(if state.stats.is_some() {
            lca::dictionary::Rule::Online
        } else {
            lca::dictionary::Rule::Hebbian
        });
        let _ = lca::dictionary::DictionaryLearner::resume(params, state);
    }
    if let Ok(text) = std::str::from_utf8(file)
        && let Ok(config) = serde_json::from_str::<lca::dictionary::TrainingConfig>(text)
    {
        let _ = config.clone().check();
        let _ = config.memory_needed(3);
    }
});
