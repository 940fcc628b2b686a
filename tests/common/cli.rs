//! Running the `lca` binary on small problems written to a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lca::io::npy;

use super::{random_dictionary, sparse_signals};

/// A random dictionary `D.npy` and signals `X.npy` in a temporary folder.
pub struct Problem {
    pub dir: tempfile::TempDir,
}

impl Problem {
    /// `n_atoms` random atoms of `n_features` values (seed `seed`) and
    /// `n_signals` signals of 3 atoms each (seed `seed + 1`).
    pub fn new(n_features: usize, n_atoms: usize, n_signals: usize, seed: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = random_dictionary(n_features, n_atoms, seed);
        let x = sparse_signals(&d, n_signals, 3, seed + 1);
        npy::write_matrix(&dir.path().join("D.npy"), n_atoms, n_features, d.as_rows()).unwrap();
        npy::write_matrix(
            &dir.path().join("X.npy"),
            n_signals,
            n_features,
            x.as_slice(),
        )
        .unwrap();
        Problem { dir }
    }

    /// A file in the problem's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `lca ARGS` in `dir`.
pub fn lca(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lca"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Asserts failure with a single error line mentioning every `needle`.
pub fn assert_fails(out: &Output, needles: &[&str]) {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one line expected, got: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "error {err:?} should mention {n:?}");
    }
}

/// Asserts that the command succeeded, showing its error output if not.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `--json` summary of a command that must have succeeded.
pub fn summary(out: &Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap()
}
