//! `lca learn` and `lca encode` under `mpirun` (cargo feature `mpi`): the
//! results of N ranks are the single-process results bit for bit, a run
//! resumes with another number of ranks, and a rank that dies or hangs ends
//! the whole job with a failing exit, its last checkpoint resumable.
//!
//! Needs OpenMPI's `mpirun` on the PATH (`.ci/run` installs it).
#![cfg(feature = "mpi")]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const LCA: &str = env!("CARGO_BIN_EXE_lca");

fn lca(args: &[&str]) -> Output {
    let out = Command::new(LCA).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "lca {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mpirun_command(ranks: usize, args: &[&str]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "-np"])
        .arg(ranks.to_string())
        .arg(LCA)
        .args(args)
        // One solver thread per rank: ranks share this machine's cores.
        .env("RAYON_NUM_THREADS", "1");
    cmd
}

fn mpirun(ranks: usize, args: &[&str]) -> Output {
    let out = mpirun_command(ranks, args).output().unwrap();
    assert!(
        out.status.success(),
        "mpirun -np {ranks} lca {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `training.csv` without its wall-clock column (the only one that may differ).
fn log_without_seconds(dir: &Path) -> Vec<String> {
    log_without(dir, &["seconds"])
}

/// `training.csv` without the columns `drop`.
fn log_without(dir: &Path, drop: &[&str]) -> Vec<String> {
    let text = String::from_utf8(read(&dir.join("training.csv"))).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let dropped: Vec<usize> = drop
        .iter()
        .map(|d| header.iter().position(|h| h == d).unwrap())
        .collect();
    text.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| !dropped.contains(i))
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// A small run: 200 patches a step are 4 solver chunks (64, 64, 64, 8), so
/// two ranks get unequal shares; held-out scoring every 5 steps.
fn learn_args<'a>(out: &'a str, rule: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "learn",
        "--quiet",
        "--rule",
        rule,
        "--steps",
        steps,
        "--batch-size",
        "200",
        "--atoms",
        "48",
        "--heldout-patches",
        "300",
        "--heldout-every",
        "5",
        "--checkpoint-every",
        "5",
        "--seed",
        "7",
        "--output",
        out,
    ]
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

#[test]
fn learning_on_one_and_two_ranks_gives_the_same_dictionary_and_log() {
    let dir = tmp();
    for rule in ["hebbian", "online"] {
        let single = path_str(&dir.path().join(format!("single-{rule}")));
        let one = path_str(&dir.path().join(format!("one-{rule}")));
        let two = path_str(&dir.path().join(format!("two-{rule}")));
        lca(&learn_args(&single, rule, "20"));
        mpirun(1, &learn_args(&one, rule, "20"));
        mpirun(2, &learn_args(&two, rule, "20"));
        let reference = read(&Path::new(&single).join("dictionary.npy"));
        for other in [&one, &two] {
            let other = Path::new(other);
            assert_eq!(
                read(&other.join("dictionary.npy")),
                reference,
                "{rule}: {}",
                other.display()
            );
            assert_eq!(
                log_without_seconds(other),
                log_without_seconds(Path::new(&single))
            );
        }
        // Only rank 0 wrote: no stray temporaries beside the outputs.
        let names: Vec<String> = std::fs::read_dir(&two)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    }
}

/// Signals from a fixed generator (no RNG dependency), as a numpy file.
fn write_signals(path: &Path, rows: usize, cols: usize) {
    let mut state = 12345u64;
    let data: Vec<f32> = (0..rows * cols)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    lca::io::npy::write_matrix(path, rows, cols, &data).unwrap();
}

#[test]
fn encoding_on_two_ranks_writes_the_single_process_files() {
    let dir = tmp();
    let learned = dir.path().join("learned");
    lca(&learn_args(&path_str(&learned), "hebbian", "5"));
    let dict = path_str(&learned.join("dictionary.npy"));
    let x = dir.path().join("x.npy");
    write_signals(&x, 1000, 64);
    let x = path_str(&x);
    for ext in ["npy", "npz"] {
        let single = path_str(&dir.path().join(format!("single.{ext}")));
        let states1 = path_str(&dir.path().join(format!("states-single-{ext}.npy")));
        let two = path_str(&dir.path().join(format!("two.{ext}")));
        let states2 = path_str(&dir.path().join(format!("states-two-{ext}.npy")));
        // Blocks of 320 rows: 5 chunks each, split 2 / 3 over the ranks,
        // and a last block of 40 rows that rank 1 gets none of.
        let args = |out: &str, states: &str| -> Vec<String> {
            [
                "encode",
                "--quiet",
                "-d",
                &dict,
                "-i",
                &x,
                "-o",
                out,
                "--save-states",
                states,
                "--chunk-rows",
                "320",
                "--lambda",
                "0.2",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let a1 = args(&single, &states1);
        let a2 = args(&two, &states2);
        lca(&a1.iter().map(String::as_str).collect::<Vec<_>>());
        let out = mpirun(2, &a2.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.stdout.is_empty(), "--quiet on every rank");
        assert_eq!(read(Path::new(&two)), read(Path::new(&single)), "{ext}");
        assert_eq!(
            read(Path::new(&states2)),
            read(Path::new(&states1)),
            "{ext}"
        );
    }
}

/// The spiking LCA is split over the ranks too: codes and every recorded
/// spike are the single-process files, with float and fixed-point networks
/// (the latter also simulates the float network for its comparison).
#[test]
fn spiking_encoding_on_two_ranks_writes_the_single_process_files() {
    let dir = tmp();
    let learned = dir.path().join("learned");
    lca(&learn_args(&path_str(&learned), "hebbian", "5"));
    let dict = path_str(&learned.join("dictionary.npy"));
    let x = dir.path().join("x.npy");
    write_signals(&x, 300, 64);
    let x = path_str(&x);
    for fixed in [false, true] {
        let name = |what: &str, ranks: usize| {
            path_str(&dir.path().join(format!("{what}-{fixed}-{ranks}")))
        };
        let args = |ranks: usize| -> Vec<String> {
            let mut a: Vec<String> = [
                "encode",
                "--quiet",
                "--json",
                "--mode",
                "spiking",
                "-d",
                &dict,
                "-i",
                &x,
                "-o",
                &format!("{}.npy", name("codes", ranks)),
                "--spikes",
                &format!("{}.npz", name("spikes", ranks)),
                "--time-steps",
                "200",
                "--chunk-rows",
                "192",
                "--lambda",
                "0.2",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if fixed {
                a.push("--fixed-point".into());
            }
            a
        };
        let a1 = args(1);
        let a2 = args(2);
        let one = lca(&a1.iter().map(String::as_str).collect::<Vec<_>>());
        let two = mpirun(2, &a2.iter().map(String::as_str).collect::<Vec<_>>());
        for what in ["codes", "spikes"] {
            let ext = if what == "codes" { "npy" } else { "npz" };
            assert_eq!(
                read(Path::new(&format!("{}.{ext}", name(what, 2)))),
                read(Path::new(&format!("{}.{ext}", name(what, 1)))),
                "{what}, fixed point {fixed}"
            );
        }
        // The summaries agree except for the timings.
        let summary = |o: &Output| {
            let mut v: serde_json::Value =
                serde_json::from_slice(&o.stdout).expect("one JSON summary");
            for key in ["seconds", "signals_per_second", "output"] {
                v.as_object_mut().unwrap().remove(key);
            }
            v
        };
        assert_eq!(summary(&two), summary(&one), "fixed point {fixed}");
    }
}

/// Each rank decodes only the images it owns: rank 0 of two decodes about
/// half of what one process decodes (the embedded samples all fit the
/// image cache, so each is decoded once).
#[test]
fn each_rank_decodes_only_its_share_of_the_images() {
    let dir = tmp();
    let decodes = |out: &Output| -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["decodes"].as_u64().unwrap()
    };
    let mut single = learn_args("", "hebbian", "3");
    single.push("--json");
    let one_out = path_str(&dir.path().join("one"));
    let two_out = path_str(&dir.path().join("two"));
    let with = |out: &str| -> Vec<String> {
        single
            .iter()
            .map(|s| {
                if s.is_empty() {
                    out.to_string()
                } else {
                    s.to_string()
                }
            })
            .collect()
    };
    let a1 = with(&one_out);
    let a2 = with(&two_out);
    let one = decodes(&lca(&a1.iter().map(String::as_str).collect::<Vec<_>>()));
    let two = decodes(&mpirun(
        2,
        &a2.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(one >= 3, "{one}");
    assert!(
        two <= one.div_ceil(2),
        "rank 0 of 2 decoded {two}, one process {one}"
    );
    assert_eq!(
        read(&Path::new(&two_out).join("dictionary.npy")),
        read(&Path::new(&one_out).join("dictionary.npy"))
    );
}

/// The ranks `mpirun` started for `job` (its children), by MPI rank.
fn ranks_of(job: &Child) -> Vec<(usize, u32)> {
    let mut ranks = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Field 4 (after the parenthesised name) is the parent's pid.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if ppid != job.id() {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let rank = env
            .split(|&b| b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
            .find_map(|kv| kv.strip_prefix("OMPI_COMM_WORLD_RANK="))
            .and_then(|r| r.parse().ok());
        if let Some(rank) = rank {
            ranks.push((rank, pid));
        }
    }
    ranks.sort();
    ranks
}

/// Steps done at the last checkpoint, from `config.json` (0 before any).
fn checkpointed_steps(out: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(out.join("config.json")) else {
        return 0;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return 0;
    };
    v["progress"]["steps_done"].as_u64().unwrap_or(0)
}

/// Steps of the runs that are stopped mid-way: long enough to be hit
/// after their checkpoint at step 10, short enough for a test.
const LONG: &str = "400";

/// Waits until `out` has a checkpoint at step ≥ 10, then returns.
fn wait_for_checkpoint(out: &Path) {
    let start = Instant::now();
    while checkpointed_steps(out) < 10 {
        assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a 2-rank run of [`LONG`] steps, waits for its checkpoint at step
/// ≥ 10, and hands back the job and its ranks.
fn start_job(out: &Path, timeout: &str) -> (Child, Vec<(usize, u32)>) {
    let job = mpirun_command(2, &learn_args(&path_str(out), "hebbian", LONG))
        .env("LCA_MPI_TIMEOUT", timeout)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_checkpoint(out);
    let ranks = ranks_of(&job);
    assert_eq!(ranks.len(), 2, "{ranks:?}");
    (job, ranks)
}

/// Waits for the job to end (it must, within a minute) and returns its output.
fn wait_ended(job: Child) -> Output {
    let start = Instant::now();
    let pid = job.id();
    let waiter = std::thread::spawn(move || job.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the job hung after one rank failed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().unwrap()
}

fn signal(pid: u32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |s| s.contains(") Z ") || s.contains(") X "))
}

/// Resumes `out` on `ranks` ranks (1: a plain process) and checks that the
/// finished run holds the dictionary and log of the uninterrupted one.
fn resume_and_compare(out: &Path, ranks: usize, reference: &Path) {
    assert!(checkpointed_steps(out) >= 10);
    let out_s = path_str(out);
    let args = ["learn", "--quiet", "--resume", out_s.as_str()];
    if ranks == 1 {
        lca(&args);
    } else {
        mpirun(ranks, &args);
    }
    assert_eq!(
        read(&out.join("dictionary.npy")),
        read(&reference.join("dictionary.npy")),
        "resumed on {ranks} ranks"
    );
    // An interrupted run also scores its last step on the held-out patches,
    // which the uninterrupted one does not: compare the training columns.
    let columns = ["seconds", "heldout_energy"];
    assert!(
        log_without(out, &columns) == log_without(reference, &columns),
        "resumed on {ranks} ranks: training.csv differs"
    );
}

/// One test for the stopped runs, so their jobs never compete for the cores.
#[test]
fn stopped_runs_resume_on_another_rank_count_and_failed_ranks_end_the_job() {
    let dir = tmp();
    let reference = dir.path().join("reference");
    lca(&learn_args(&path_str(&reference), "hebbian", LONG));

    // SIGTERM reaching the ranks: they agree on a step, write, and stop;
    // the run continues on one process.
    let out = dir.path().join("interrupted-2");
    let (job, ranks) = start_job(&out, "300");
    for (_, pid) in &ranks {
        signal(*pid, "-TERM");
    }
    let ended = wait_ended(job);
    assert!(!ended.status.success());
    resume_and_compare(&out, 1, &reference);

    // A single-process run interrupted, continued on two ranks.
    let out = dir.path().join("interrupted-1");
    let single = Command::new(LCA)
        .args(learn_args(&path_str(&out), "hebbian", LONG))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_checkpoint(&out);
    signal(single.id(), "-TERM");
    assert!(!wait_ended(single).status.success());
    resume_and_compare(&out, 2, &reference);

    // A rank killed outright: mpirun ends the job with a failing status,
    // nothing keeps running, and the last checkpoint resumes.
    let out = dir.path().join("killed");
    let (job, ranks) = start_job(&out, "300");
    signal(ranks[1].1, "-KILL");
    let ended = wait_ended(job);
    assert!(!ended.status.success(), "the job must fail");
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert!(
        stderr.contains("rank 1") || stderr.contains("signal 9"),
        "{stderr}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(ranks.iter().all(|&(_, pid)| gone(pid)), "a rank still runs");
    resume_and_compare(&out, 1, &reference);

    // A rank that hangs (stopped): the other gives up after LCA_MPI_TIMEOUT
    // seconds with a message and aborts the job.
    let out = dir.path().join("hung");
    let (job, ranks) = start_job(&out, "2");
    signal(ranks[1].1, "-STOP");
    let ended = wait_ended(job);
    let _ = Command::new("kill")
        .args(["-9", &ranks[1].1.to_string()])
        .status();
    assert!(!ended.status.success());
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert!(
        stderr.contains("no answer from the other ranks"),
        "{stderr}"
    );
    resume_and_compare(&out, 2, &reference);
}
