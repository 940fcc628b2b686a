//! Learn a dictionary from a folder of photos with the library's training
//! loop, printing the held-out objective as it is scored.
//!
//! ```sh
//! cargo run --release --example learn_folder -- [PHOTOS_DIR] [OUT_DIR]
//! ```
//! Without a folder it learns from the sample images embedded in the binary.

use lca::dictionary::TrainingRow;
use lca::dictionary::{Observer, Training, TrainingConfig};
use lca::distributed::SingleProcess;

/// Prints every held-out score; everything else stays quiet.
struct PrintHeldout;

impl Observer for PrintHeldout {
    fn step(&mut self, row: &TrainingRow) {
        if let Some(h) = row.heldout_energy {
            println!(
                "step {:>5}  {:6.2} s  held-out objective {h:.4}",
                row.step, row.seconds
            );
        }
    }
    fn warning(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
}

fn main() -> lca::Result<()> {
    let mut args = std::env::args().skip(1);
    let images = args.next().map(Into::into);
    let out = args.next().unwrap_or_else(|| "out/example_learn".into());
    let mut config = TrainingConfig::default().images(images);
    config.learning.steps = 1000;
    let mut run = Training::start(config, out.as_ref(), &SingleProcess, &mut PrintHeldout)?;
    let report = run.run(&mut PrintHeldout)?;
    println!(
        "{} steps in {:.1} s; dictionary in {out}/dictionary.npy",
        report.steps_done, report.seconds
    );
    Ok(())
}
