//! `--max-seconds` alone sizes the learning schedule (issue 28): the run
//! measures its pace, records the horizon it chose in `config.json`, and a
//! resumed run keeps that plan, so it ends where the uninterrupted run under
//! the same plan does, bit for bit. No timing is asserted here (speed and
//! budget use are measured in `scripts/learning_vs_time.py`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lca::dictionary::{HorizonRule, NoObserver, Training, TrainingConfig, problem_size_steps};

fn lca_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lca"))
}

const SMALL: [&str; 8] = [
    "--atoms",
    "32",
    "--batch-size",
    "64",
    "--seed",
    "3",
    "--heldout-patches",
    "256",
];

fn run(args: &[&str], out: &Path) -> Output {
    let out = lca_cmd().args(args).arg(out).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn config(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_budget_alone_chooses_the_horizon_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = vec!["learn", "--quiet", "--json", "--max-seconds", "2"];
    args.extend_from_slice(&SMALL);
    args.push("--output");
    let summary = json(&run(&args, &out));
    let c = config(&out);
    assert_eq!(c["horizon"], "budget");
    assert_eq!(summary["horizon"]["rule"], "budget");
    let planned = c["learning"]["steps"].as_u64().unwrap();
    assert_eq!(summary["horizon"]["steps"].as_u64().unwrap(), planned);
    let sentence = summary["horizon"]["summary"].as_str().unwrap();
    assert!(
        sentence.contains(&format!(
            "horizon {planned} steps chosen for the 2 s budget"
        )),
        "{sentence}"
    );
    // The plan starts from the problem-size horizon and records each revision.
    let pieces = c["learning"]["horizons"].as_array().unwrap();
    assert!(pieces.len() >= 2, "{pieces:?}");
    assert_eq!(pieces[0]["from_step"], 0);
    assert_eq!(
        pieces[0]["steps"].as_u64(),
        Some(problem_size_steps(64, 32))
    );
    assert_eq!(pieces.last().unwrap()["steps"].as_u64(), Some(planned));
    let done = summary["steps"].as_u64().unwrap();
    assert!(done <= planned && done > 0);
}

#[test]
fn steps_given_keep_their_horizon_and_the_budget_is_only_a_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = vec!["learn", "--quiet", "--json", "--max-seconds", "100"];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(&["--steps", "40", "--output"]);
    let summary = json(&run(&args, &out));
    let c = config(&out);
    assert_eq!(c["horizon"], "given");
    assert_eq!(c["learning"]["steps"], 40);
    assert!(c["learning"].get("horizons").is_none());
    assert_eq!(summary["status"], "completed");
    let sentence = summary["horizon"]["summary"].as_str().unwrap();
    assert!(sentence.starts_with("40 steps in "), "{sentence}");
    assert!(
        sentence.ends_with("; the 100 s budget was not needed"),
        "{sentence}"
    );
}

#[test]
fn the_default_horizon_scales_with_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    for (patch, atoms, color) in [(8, 128, false), (16, 256, false), (8, 128, true)] {
        let mut preprocessing = lca::image::Preprocessing::default();
        preprocessing.color = color;
        let settings = TrainingConfig::default()
            .patch_size(patch)
            .atoms(atoms)
            .heldout_patches(64)
            .preprocessing(preprocessing);
        let out = tmp.path().join(format!("{patch}-{atoms}-{color}"));
        let run = Training::start(
            settings,
            &out,
            &lca::distributed::SingleProcess,
            &mut NoObserver,
        )
        .unwrap();
        let n = patch * patch * if color { 3 } else { 1 };
        assert_eq!(run.config().horizon, HorizonRule::ProblemSize);
        assert_eq!(run.config().learning.steps, problem_size_steps(n, atoms));
        let written = config(&out);
        assert_eq!(written["horizon"], "problem-size");
        assert_eq!(
            written["learning"]["steps"].as_u64(),
            Some(problem_size_steps(n, atoms))
        );
    }
    assert_eq!(problem_size_steps(64, 128), 2000);
}

/// Kill -9 a budgeted run after it has re-planned and checkpointed, resume
/// it; then replay its recorded plan from scratch in a fresh folder (its
/// `config.json` alone, no checkpoint): both dictionaries are the same bytes.
#[test]
fn a_budgeted_run_killed_and_resumed_is_its_plan_run_uninterrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let (killed, replay) = (tmp.path().join("killed"), tmp.path().join("replay"));
    let mut args = vec![
        "learn",
        "--quiet",
        "--max-seconds",
        "3",
        "--checkpoint-every",
        "10",
        "--patch-size",
        "12",
    ];
    args.extend_from_slice(&SMALL);
    let mut child = lca_cmd()
        .args(&args)
        .arg("--output")
        .arg(&killed)
        .spawn()
        .unwrap();
    // Wait for a checkpoint written after the first re-planning.
    let start = Instant::now();
    let replanned = || {
        std::fs::read_to_string(killed.join("config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|c| c["learning"].get("horizons").is_some())
            && killed.join("checkpoint.npz").exists()
    };
    while !replanned() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let at_kill = config(&killed);
    assert_eq!(
        at_kill["progress"]["status"], "running",
        "the run finished before it could be killed"
    );

    let resumed = lca_cmd()
        .args(["learn", "--quiet", "--json", "--resume"])
        .arg(&killed)
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let summary = json(&resumed);
    let plan = config(&killed);
    let planned = plan["learning"]["steps"].as_u64().unwrap();
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["steps"].as_u64(), Some(planned));
    // The plan recorded at the kill is the one the resumed run followed.
    assert_eq!(
        plan["learning"]["horizons"],
        at_kill["learning"]["horizons"]
    );

    std::fs::create_dir_all(&replay).unwrap();
    std::fs::copy(killed.join("config.json"), replay.join("config.json")).unwrap();
    let again = lca_cmd()
        .args(["learn", "--quiet", "--resume"])
        .arg(&replay)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        config(&replay)["progress"]["steps_done"].as_u64(),
        Some(planned)
    );
    assert_eq!(
        std::fs::read(killed.join("dictionary.npy")).unwrap(),
        std::fs::read(replay.join("dictionary.npy")).unwrap(),
        "the resumed run must end where its plan run uninterrupted does"
    );
}
