//! `lca snn export --format nir`, `lca snn eval --model X.nir` and
//! `--dataset shd:PATH.h5` end to end.

use std::path::Path;
use std::process::Command;

fn lca(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lca"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn accuracy(stdout: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    v["accuracy"].as_f64().unwrap()
}

#[test]
fn an_exported_model_evaluates_as_the_model_itself() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&lca(
        &[
            "snn",
            "train",
            "--dataset",
            "yinyang",
            "--hidden",
            "12",
            "--recurrent",
            "--epochs",
            "1",
            "--quiet",
            "-o",
            "net",
        ],
        d,
    ));
    let out = ok(&lca(
        &[
            "snn",
            "export",
            "--model",
            "net/model.json",
            "--format",
            "nir",
            "-o",
            "net.nir",
            "--json",
        ],
        d,
    ));
    assert!(out.contains("\"format\":\"nir\""), "{out}");
    let a = accuracy(&ok(&lca(
        &[
            "snn",
            "eval",
            "--model",
            "net/model.json",
            "--dataset",
            "yinyang",
            "--json",
        ],
        d,
    )));
    let b = accuracy(&ok(&lca(
        &[
            "snn",
            "eval",
            "--model",
            "net.nir",
            "--dataset",
            "yinyang",
            "--json",
        ],
        d,
    )));
    assert_eq!(a, b);
}

#[test]
fn an_shd_file_trains_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shd_tiny.h5");
    let ds = format!("shd:{}", fx.display());
    ok(&lca(
        &[
            "snn",
            "train",
            "--dataset",
            &ds,
            "--hidden",
            "8",
            "--time-steps",
            "20",
            "--epochs",
            "2",
            "--quiet",
            "-o",
            "net",
        ],
        d,
    ));
    let acc = accuracy(&ok(&lca(
        &[
            "snn",
            "eval",
            "--model",
            "net/model.json",
            "--dataset",
            &ds,
            "--json",
        ],
        d,
    )));
    assert!((0.0..=1.0).contains(&acc));
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("net/model.json")).unwrap()).unwrap();
    assert_eq!(model["network"]["n_inputs"], 700);
    assert_eq!(
        model["network"]["timing"], "interpolated",
        "the SHD recipe is EventProp's"
    );
}

#[test]
fn bad_files_fail_with_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("junk.nir"), b"junk").unwrap();
    let o = lca(
        &["snn", "eval", "--model", "junk.nir", "--dataset", "yinyang"],
        d,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("junk.nir") && err.contains("not an HDF5 file"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shd_bad_units.h5");
    let o = lca(
        &[
            "snn",
            "train",
            "--dataset",
            &format!("shd:{}", fx.display()),
            "--epochs",
            "1",
            "-o",
            "out",
        ],
        d,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shd_bad_units.h5") && err.contains("unit -3"),
        "{err}"
    );
    assert!(!d.join("out").exists());

    let o = lca(
        &["snn", "export", "--model", "missing.json", "-o", "x.nir"],
        d,
    );
    assert!(!o.status.success() && !d.join("x.nir").exists());
}
