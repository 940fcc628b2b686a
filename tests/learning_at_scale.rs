//! Learning from folders of many photos: the block-wise patch stream (bounded
//! decodes, determinism), the online rule, the time budget, interrupts and
//! resumes, and the checks a run makes before it writes anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lca::dictionary::{DictionaryLearner, LearnParams, Rule};
use lca::image::{
    ImageSet, LoadOptions, PatchStream, PatchStreamParams, Preprocessing, Preprocessor,
};
use lca::solver::lasso_objectives;
use lca::{Dictionary, LcaParams};

fn lca_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lca"))
}

/// `n` distinct 48×40 textured grey PNGs.
fn photo_folder(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        let img = image::GrayImage::from_fn(48, 40, |x, y| {
            let v = ((x as f32 * (0.3 + 0.05 * i as f32)).sin()
                + (y as f32 * (0.2 + 0.03 * i as f32) + i as f32).cos())
                * 60.0
                + 128.0
                + ((x * 7 + y * 13 + i as u32 * 31) % 17) as f32;
            image::Luma([v.clamp(0.0, 255.0) as u8])
        });
        img.save(dir.path().join(format!("p{i:03}.png"))).unwrap();
    }
    dir
}

fn stream_over(set: Arc<ImageSet>, params: PatchStreamParams) -> PatchStream<'static> {
    let pre = Arc::new(Preprocessor::new(Preprocessing::default()).unwrap());
    PatchStream::new(set, pre, params).unwrap()
}

#[test]
fn each_photo_is_decoded_once_per_pass_without_a_cache() {
    let dir = photo_folder(40);
    let (set, _) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    let set = Arc::new(set.with_cache_bytes(0));
    let params = PatchStreamParams::new(6, 32, 1)
        .pool_patches(256)
        .images_per_block(4);
    let mut stream = stream_over(Arc::clone(&set), params);
    assert_eq!(stream.steps_per_block(), 8);
    // 10 blocks per pass: 160 steps are two passes over the folder.
    let steps = 2 * 10 * stream.steps_per_block();
    for s in 0..steps {
        stream.batch(s).unwrap();
    }
    // Two passes, plus the blocks the window and the background build have
    // reached beyond them (at most window + 1 blocks of 4 images).
    let decodes = set.decode_count();
    assert!(
        (80..=80 + 3 * 4).contains(&decodes),
        "{decodes} decodes for two passes over 40 photos"
    );
}

#[test]
fn batches_depend_only_on_seed_and_step() {
    let dir = photo_folder(9);
    let open = || {
        let (set, _) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
        Arc::new(set)
    };
    let params = PatchStreamParams::new(8, 48, 5)
        .pool_patches(512)
        .images_per_block(2)
        .heldout_patches(50);
    let run = |threads: usize, steps: &[u64]| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut s = stream_over(open(), params);
            let batches: Vec<_> = steps.iter().map(|&t| s.batch(t).unwrap()).collect();
            (batches, s.heldout().unwrap().unwrap())
        })
    };
    let steps: Vec<u64> = (0..40).collect();
    let (seq, held) = run(1, &steps);
    // Out of order, on two threads, from a fresh stream (as after a resume).
    let shuffled: Vec<u64> = vec![33, 2, 39, 17, 0];
    let (jumps, held2) = run(2, &shuffled);
    for (b, &t) in jumps.iter().zip(&shuffled) {
        assert_eq!(b, &seq[t as usize], "step {t}");
    }
    assert_eq!(held, held2);
    assert_eq!(held.ncols(), 50);
    // Batches are unit-norm patches and differ from step to step.
    assert!(seq[0].column_iter().all(|c| (c.norm() - 1.0).abs() < 1e-4));
    assert_ne!(seq[0], seq[1]);
    // Another seed, other patches.
    let mut other = stream_over(open(), params.seed(6));
    assert_ne!(other.batch(0).unwrap(), seq[0]);
}

#[test]
fn heldout_patches_are_never_trained_on() {
    // One image whose bottom tenth is a distinct constant texture: training
    // patches never contain it, held-out patches always do.
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (64u32, 200u32);
    let rows = lca::image::heldout_rows(h as usize, 8) as u32;
    assert_eq!(rows, 10);
    let img = image::GrayImage::from_fn(w, h, |x, y| {
        if y >= h - rows {
            image::Luma([if (x + y) % 2 == 0 { 255 } else { 0 }])
        } else {
            image::Luma([(((x * 5 + y * 3) % 11) * 12 + 40) as u8])
        }
    });
    img.save(dir.path().join("a.png")).unwrap();
    let (set, _) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    let pre = Preprocessing::default()
        .remove_mean(false)
        .unit_norm(false)
        .min_norm(0.0);
    let params = PatchStreamParams::new(8, 100, 2)
        .pool_patches(2000)
        .heldout_patches(100);
    let mut stream = PatchStream::new(
        Arc::new(set),
        Arc::new(Preprocessor::new(pre).unwrap()),
        params,
    )
    .unwrap();
    let is_checker = |v: f32| v == 0.0 || v == 1.0;
    for s in 0..20 {
        let b = stream.batch(s).unwrap();
        assert!(
            b.iter().all(|&v| !is_checker(v)),
            "step {s} trained on held-out rows"
        );
    }
    let held = stream.heldout().unwrap().unwrap();
    assert!(held.iter().all(|&v| is_checker(v)));
}

#[test]
fn the_online_rule_lowers_the_objective_of_a_fixed_batch() {
    let set = Arc::new(ImageSet::embedded(LoadOptions::default()).unwrap());
    let mut stream = stream_over(set, PatchStreamParams::new(8, 256, 0).pool_patches(4096));
    let x = stream.batch(0).unwrap();
    let init = Dictionary::from_atoms(stream.initial_patches(32).unwrap()).unwrap();
    let params = LearnParams::default().rule(Rule::Online).steps(50);
    let exact = LcaParams::new().lambda(0.1).tol(0.0).check().unwrap();
    let objective = |d: &Dictionary| {
        let codes = exact.encode(d, &x).unwrap().codes;
        lasso_objectives(d, &x, &codes, 0.1).iter().sum::<f64>() / x.ncols() as f64
    };
    let before = objective(&init);
    let mut learner = DictionaryLearner::new(params, init).unwrap();
    let mut trace = vec![before];
    for _ in 0..30 {
        learner.step(&x).unwrap();
        trace.push(objective(&learner.dictionary().unwrap()));
    }
    let after = *trace.last().unwrap();
    println!("objective of the batch: {before:.4} -> {after:.4}");
    assert!(after < 0.8 * before, "{trace:?}");
    // Statistics stay symmetric positive semi-definite on the diagonal.
    let stats = learner.state().stats.as_ref().unwrap();
    assert!((0..32).all(|j| stats.a[(j, j)] >= 0.0));
    assert!((&stats.a - stats.a.transpose()).abs().max() < 1e-5);
}

fn learn(args: &[&str], dir: Option<&Path>) -> Output {
    let mut cmd = lca_cmd();
    cmd.arg("learn").args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn config(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap()
}

const SMALL: [&str; 8] = [
    "--atoms",
    "16",
    "--patch-size",
    "6",
    "--batch-size",
    "32",
    "--seed",
    "1",
];

#[test]
fn a_time_budget_stops_with_every_output_and_records_the_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = SMALL.to_vec();
    args.extend([
        "--max-seconds",
        "0.5",
        "--steps",
        "0",
        "--rule",
        "online",
        "--quiet",
        "-o",
        out.to_str().unwrap(),
    ]);
    let o = learn(&args, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = config(&out);
    assert_eq!(c["max_seconds"], 0.5);
    assert_eq!(c["progress"]["status"], "time-budget");
    let steps = c["progress"]["steps_done"].as_u64().unwrap();
    // At least one step, however loaded the machine (a timed test must not depend on speed).
    assert!(steps >= 1, "{c}");
    for f in [
        "dictionary.npy",
        "atoms.png",
        "training.csv",
        "training.png",
        "checkpoint.npz",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    // The last row was scored on the held-out patches.
    let log = std::fs::read_to_string(out.join("training.csv")).unwrap();
    assert!(log.starts_with("step,seconds,mse,l1,active_fraction,energy,heldout_energy\n"));
    let last = log.lines().last().unwrap();
    assert!(!last.ends_with(','), "{last}");
    assert!(last.starts_with(&format!("{steps},")));
    // Resuming a run at its budget has nothing to do, and says so.
    let o = learn(&["--resume", out.to_str().unwrap()], None);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("already at its time budget"),
        "{}",
        stderr(&o)
    );
}

#[cfg(unix)]
#[test]
fn sigint_writes_everything_and_resume_finishes_bit_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let mut args = SMALL.to_vec();
    args.extend(["--steps", "1500", "--quiet"]);
    let o = learn(
        &[&args[..], &["-o", whole.to_str().unwrap()]].concat(),
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = lca_cmd()
        .arg("learn")
        .args(&args)
        .args(["-o", cut.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first log rewrite (step 100), then Ctrl-C.
    let start = Instant::now();
    while !cut.join("training.csv").exists()
        || std::fs::read_to_string(cut.join("training.csv"))
            .unwrap()
            .lines()
            .count()
            < 2
    {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    unsafe_kill(child.id(), 2);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let c = config(&cut);
    assert_eq!(c["progress"]["status"], "interrupted");
    let at = c["progress"]["steps_done"].as_u64().unwrap();
    assert!(at < 1500, "finished before the interrupt");
    assert!(cut.join("dictionary.npy").exists() && cut.join("checkpoint.npz").exists());

    let o = learn(&["--resume", cut.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("resuming at step {at} of 1500")),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(whole.join("dictionary.npy")).unwrap(),
        std::fs::read(cut.join("dictionary.npy")).unwrap()
    );
    let o = learn(&["--resume", cut.to_str().unwrap()], None);
    assert!(
        stderr(&o).contains("already complete (1500 of 1500 steps)"),
        "{}",
        stderr(&o)
    );
}

#[cfg(unix)]
fn unsafe_kill(pid: u32, sig: i32) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn resume_works_from_any_directory_and_refuses_new_settings() {
    let photos = photo_folder(3);
    let tmp = tempfile::tempdir().unwrap();
    // A relative image folder and output, typed from the photos' parent.
    let parent = photos.path().parent().unwrap();
    let rel = photos.path().file_name().unwrap().to_str().unwrap();
    let out = tmp.path().join("run");
    let mut args = SMALL.to_vec();
    args.extend([
        "--steps",
        "40",
        "--checkpoint-every",
        "10",
        "--quiet",
        rel,
        "-o",
        out.to_str().unwrap(),
    ]);
    let o = learn(&args, Some(parent));
    assert!(o.status.success(), "{}", stderr(&o));
    let c = config(&out);
    assert_eq!(
        PathBuf::from(c["images"].as_str().unwrap()),
        photos.path().canonicalize().unwrap()
    );

    // Another working directory: the recorded absolute path still resolves.
    let o = learn(&["--resume", out.to_str().unwrap()], Some(tmp.path()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));

    let o = learn(&["--resume", out.to_str().unwrap(), "--steps", "80"], None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--steps cannot be given with --resume"),
        "{}",
        stderr(&o)
    );

    // The folder is gone: the error says where the path came from.
    let moved = tmp.path().join("elsewhere");
    std::fs::rename(photos.path(), &moved).unwrap();
    let o = learn(&["--resume", out.to_str().unwrap()], None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("recorded in") && stderr(&o).contains("config.json"),
        "{}",
        stderr(&o)
    );
    std::fs::rename(&moved, photos.path()).unwrap();
}

#[test]
fn a_run_without_a_checkpoint_says_it_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = SMALL.to_vec();
    args.extend(["--steps", "20", "--quiet", "-o", out.to_str().unwrap()]);
    assert!(learn(&args, None).status.success());
    std::fs::remove_file(out.join("checkpoint.npz")).unwrap();
    let o = learn(&["--resume", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no checkpoint to resume from"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("resuming at step 0 of 20"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn failed_starts_leave_no_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--atoms".into(),
                "100000".into(),
                "--steps".into(),
                "1".into(),
            ],
            "memory",
        ),
        (
            vec![tmp.path().join("missing").display().to_string()],
            "missing",
        ),
        (vec![empty.display().to_string()], "no readable images"),
        (vec!["--patch-size".into(), "5000".into()], "smaller than"),
    ];
    for (i, (extra, what)) in cases.iter().enumerate() {
        let out = tmp.path().join(format!("out{i}"));
        let mut args: Vec<&str> = extra.iter().map(String::as_str).collect();
        args.extend(["--quiet", "-o", out.to_str().unwrap()]);
        let o = learn(&args, None);
        assert!(!o.status.success(), "{extra:?}");
        let e = stderr(&o);
        assert!(e.contains(what), "{extra:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(!out.exists(), "{extra:?} left {} behind", out.display());
    }
}

#[test]
fn a_photo_that_fails_to_decode_mid_run_is_skipped_once() {
    let dir = photo_folder(4);
    // A PNG cut inside its pixel data: the header scan accepts it, decoding fails.
    let good = std::fs::read(dir.path().join("p000.png")).unwrap();
    std::fs::write(dir.path().join("p999.png"), &good[..good.len() / 2]).unwrap();
    let (set, _) = ImageSet::from_folder(dir.path(), false, LoadOptions::default()).unwrap();
    let set = Arc::new(set);
    let params = PatchStreamParams::new(6, 32, 4)
        .pool_patches(256)
        .images_per_block(5);
    let mut stream = stream_over(Arc::clone(&set), params);
    let mut warnings = Vec::new();
    for s in 0..40 {
        assert_eq!(stream.batch(s).unwrap().ncols(), 32);
        warnings.extend(stream.take_warnings());
    }
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("p999.png"), "{warnings:?}");
}
