//! `lca snn train` / `lca snn eval` end to end on a small CSV dataset.

use std::path::Path;
use std::process::Command;

fn lca(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lca"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Two Gaussian-ish blobs in 3 features, labels 0 and 1, with a header line.
fn blobs_csv() -> String {
    let mut s = String::from("f1,f2,f3,label\n");
    for i in 0..80 {
        let c = i % 2;
        let j = (i * 37 % 11) as f32 / 11.0;
        let (a, b) = if c == 0 {
            (0.2 + 0.2 * j, 0.8)
        } else {
            (0.6 + 0.2 * j, 0.1)
        };
        s.push_str(&format!("{a},{b},{},{c}\n", 0.5 * j));
    }
    s
}

#[test]
fn train_writes_model_log_and_figure_then_eval_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blobs.csv"), blobs_csv()).unwrap();
    let out = lca(
        &[
            "snn",
            "train",
            "--dataset",
            "blobs.csv",
            "--hidden",
            "16",
            "--epochs",
            "3",
            "--steps",
            "20",
            "--output",
            "run",
            "--json",
            "--threads",
            "2",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["test_accuracy", "epochs", "seconds"] {
        assert!(summary.get(key).is_some(), "missing {key} in {summary}");
    }
    assert_eq!(summary["epochs"], 3);
    let run = dir.path().join("run");
    for f in ["model.json", "training.csv", "training.png"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(run.join("training.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.starts_with("epoch,"));

    let ev = lca(
        &[
            "snn",
            "eval",
            "--model",
            "run/model.json",
            "--dataset",
            "blobs.csv",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        ev.status.success(),
        "{}",
        String::from_utf8_lossy(&ev.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(r["samples"], 80);
    let acc = r["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
}

#[test]
fn bad_csv_files_fail_with_the_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "short.csv",
            "1,2,0\n3,4,1\n5,6\n",
            "line 3: expected 3 columns, found 2",
        ),
        (
            "text.csv",
            "1,2,0\n3,x,1\n",
            "line 2, column 2: 'x' is not a finite number",
        ),
        ("label.csv", "1,2,0\n3,4,1.5\n", "line 2: label '1.5'"),
    ];
    for (name, text, msg) in cases {
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = lca(
            &[
                "snn",
                "train",
                "--dataset",
                name,
                "--epochs",
                "1",
                "--output",
                "o",
            ],
            dir.path(),
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name) && err.contains(msg), "{name}: {err}");
        assert!(!dir.path().join("o/model.json").exists());
    }
    // labels beyond the model's classes at evaluation time
    std::fs::write(dir.path().join("blobs.csv"), blobs_csv()).unwrap();
    let ok = lca(
        &[
            "snn",
            "train",
            "--dataset",
            "blobs.csv",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--steps",
            "10",
            "--output",
            "m",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    std::fs::write(dir.path().join("far.csv"), "0.1,0.2,0.3,0\n0.1,0.2,0.3,5\n").unwrap();
    let out = lca(
        &[
            "snn",
            "eval",
            "--model",
            "m/model.json",
            "--dataset",
            "far.csv",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("far.csv") && err.contains("line 2: label 5 out of range"),
        "{err}"
    );
}

/// `snn train --json` on blobs.csv with `flags`, without the timings.
fn train_summary(dir: &Path, out: &str, flags: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "snn",
        "train",
        "--dataset",
        "blobs.csv",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--output",
        out,
        "--json",
        "--threads",
        "1",
    ];
    args.extend_from_slice(flags);
    let run = lca(&args, dir);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    for key in ["seconds", "epoch_seconds", "model"] {
        summary.as_object_mut().unwrap().remove(key);
    }
    summary
}

#[test]
fn unambiguous_flag_names_and_their_old_spellings_train_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blobs.csv"), blobs_csv()).unwrap();
    let new = train_summary(
        dir.path(),
        "new",
        &[
            "--surrogate-width",
            "0.3",
            "--firing-threshold",
            "0.8",
            "--time-steps",
            "12",
        ],
    );
    let old = train_summary(
        dir.path(),
        "old",
        &["--tau", "0.3", "--threshold", "0.8", "--steps", "12"],
    );
    assert_eq!(new, old);
    assert_eq!(new["surrogate_width"], 0.3f32 as f64);
    assert_eq!(new["firing_threshold"], 0.8f32 as f64);
    assert_eq!(new["time_steps"], 12);
    let model = |d: &str| std::fs::read_to_string(dir.path().join(d).join("model.json")).unwrap();
    assert_eq!(model("new"), model("old"));
    // The new names are the ones --help shows.
    let help = lca(&["snn", "train", "--help"], dir.path());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--surrogate-width") && help.contains("--time-steps"));
    assert!(!help.contains("--tau "), "{help}");
}

#[test]
fn eval_quiet_prints_nothing_but_still_fails_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blobs.csv"), blobs_csv()).unwrap();
    train_summary(dir.path(), "m", &["--time-steps", "10"]);
    let eval = |dataset: &str| {
        lca(
            &[
                "snn",
                "eval",
                "-m",
                "m/model.json",
                "--dataset",
                dataset,
                "--quiet",
            ],
            dir.path(),
        )
    };
    let ok = eval("blobs.csv");
    assert!(ok.status.success());
    assert!(ok.stdout.is_empty() && ok.stderr.is_empty());
    let bad = eval("missing.csv");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing.csv"));
}

#[test]
fn json_reports_the_dataset_recipe_with_the_flags_applied() {
    let dir = tempfile::tempdir().unwrap();
    let out = lca(
        &[
            "snn",
            "train",
            "--dataset",
            "digits",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--output",
            "d",
            "--json",
            "--threads",
            "1",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &s["recipe"];
    // the digits recipe where no flag was given
    assert_eq!(r["time_steps"], 20);
    assert_eq!(r["window"], 16);
    assert_eq!(r["neuron"]["current_decay"], 0.85f32 as f64);
    assert_eq!(r["train_decays"], false);
    assert_eq!(r["weight_scale"], 1.5);
    // the flags where given
    assert_eq!(r["hidden"], serde_json::json!([8]));
    assert_eq!(r["train"]["epochs"], 1);
    assert_eq!(s["epochs"], 1);
    // `snn recipe` prints the same defaults
    let rec = lca(&["snn", "recipe", "--dataset", "digits"], dir.path());
    let rec: serde_json::Value = serde_json::from_slice(&rec.stdout).unwrap();
    assert_eq!(rec["time_steps"], 20);
    assert_eq!(rec["train"]["epochs"], 30);
}

#[test]
fn streams_written_to_a_file_train_and_evaluate_like_the_built_in_task() {
    let dir = tempfile::tempdir().unwrap();
    let made = lca(
        &[
            "snn",
            "make-streams",
            "ev.npz",
            "--seed",
            "0",
            "--samples",
            "120",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(m["samples"], 120);
    assert_eq!(m["n_channels"], 20);
    let out = lca(
        &[
            "snn",
            "train",
            "--dataset",
            "ev.npz",
            "--hidden",
            "16",
            "--epochs",
            "2",
            "--time-steps",
            "25",
            "--output",
            "m",
            "--json",
            "--threads",
            "2",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["recipe"]["time_steps"], 25);
    let acc = s["test_accuracy"].as_f64().unwrap();
    let ev = lca(
        &[
            "snn",
            "eval",
            "-m",
            "m/model.json",
            "--dataset",
            "ev.npz",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        ev.status.success(),
        "{}",
        String::from_utf8_lossy(&ev.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(e["samples"], 120);
    assert!((0.0..=1.0).contains(&acc));
    // a feature model refuses streams, a stream model refuses features
    let bad = lca(
        &["snn", "eval", "-m", "m/model.json", "--dataset", "digits"],
        dir.path(),
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("spike streams"));
    // a broken file is named
    std::fs::write(dir.path().join("junk.npz"), b"not a zip").unwrap();
    let junk = lca(
        &[
            "snn",
            "train",
            "--dataset",
            "junk.npz",
            "--epochs",
            "1",
            "--output",
            "j",
        ],
        dir.path(),
    );
    assert!(!junk.status.success());
    assert!(String::from_utf8_lossy(&junk.stderr).contains("junk.npz"));
}

#[test]
fn eventprop_runs_start_from_the_eventprop_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let rec = lca(
        &[
            "snn",
            "recipe",
            "--dataset",
            "digits",
            "--method",
            "eventprop",
        ],
        dir.path(),
    );
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let rec: serde_json::Value = serde_json::from_slice(&rec.stdout).unwrap();
    assert_eq!(rec["train"]["method"], "event-prop");
    assert_eq!(rec["train_decays"], false);
    let out = lca(
        &[
            "snn",
            "train",
            "--dataset",
            "digits",
            "--method",
            "eventprop",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--output",
            "d",
            "--json",
            "--threads",
            "1",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &s["recipe"];
    assert_eq!(s["method"], "eventprop");
    // the eventprop recipe where no flag was given, the flags where given
    for key in ["time_steps", "weight_scale", "output_scale", "weight_mean"] {
        assert_eq!(r[key], rec[key], "{key}");
    }
    assert_eq!(r["train"]["loss"], rec["train"]["loss"]);
    // f32 settings: `snn recipe` prints them short, `--json` as f64
    let close = |a: &serde_json::Value, b: &serde_json::Value| {
        (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6
    };
    assert!(close(&r["train"]["lr"], &rec["train"]["lr"]));
    let decay = |v: &serde_json::Value| v["neuron"]["current_decay"].clone();
    assert!(close(&decay(r), &decay(&rec)));
    assert_eq!(r["hidden"], serde_json::json!([8]));
    assert!(s["spikes_per_sample"].as_f64().is_some());
}
