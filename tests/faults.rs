//! Faults a long learning run must survive without losing anything: a second
//! run on its folder, `kill -9` in the middle of checkpoint writes, a damaged
//! newest checkpoint, a full disk (a tmpfs of a few dozen KiB, mounted when
//! the tests run as root, as in CI). After each, `lca learn --resume`
//! must end with the uninterrupted run's dictionary, byte for byte.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A short patch-learning run of [`STEPS`] steps: 5 checkpoints (steps 10
/// to 50).
const RUN: [&str; 13] = [
    "learn",
    "--atoms",
    "16",
    "--patch-size",
    "8",
    "--batch-size",
    "128",
    "--heldout-patches",
    "256",
    "--checkpoint-every",
    "10",
    "--seed",
    "3",
];
const STEPS: u64 = 50;

/// A short convolutional run: checkpoints every 4 steps.
const CONV: [&str; 17] = [
    "learn",
    "--conv",
    "--downscale",
    "4",
    "--kernel-size",
    "5",
    "--atoms",
    "6",
    "--crop",
    "32",
    "--seed",
    "3",
    "--steps",
    "20",
    "--checkpoint-every",
    "4",
    "--quiet",
];

fn lca() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lca"))
}

/// `lca learn RUN... --quiet --output out`, not yet started.
fn run_cmd(out: &Path) -> Command {
    run_steps(out, STEPS)
}

/// [`run_cmd`] for `steps` steps.
fn run_steps(out: &Path, steps: u64) -> Command {
    let mut c = lca();
    c.args(RUN)
        .args(["--steps", &steps.to_string()])
        .args(["--quiet", "--threads", "1", "--output"])
        .arg(out);
    c
}

/// `lca learn --resume out`, with its warnings on stderr.
fn resume(out: &Path) -> Output {
    lca()
        .args(["learn", "--threads", "1", "--resume"])
        .arg(out)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn dictionary(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("dictionary.npy")).unwrap()
}

/// A scratch folder, in memory where the system has one (`/dev/shm`): the
/// runs fsync every checkpoint, which costs nothing there.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

/// The dictionary of the uninterrupted [`RUN`], computed once.
fn reference() -> &'static [u8] {
    static REFERENCE: OnceLock<Vec<u8>> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let tmp = scratch();
        let out = tmp.path().join("whole");
        let o = run_cmd(&out).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        dictionary(&out)
    })
}

/// Steps of the rows of `training.csv`.
fn logged_steps(out: &Path) -> Vec<u64> {
    std::fs::read_to_string(out.join("training.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// Names in `dir` ending in `.tmp` (what an interrupted write leaves).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// Resumes `out`, which must end exactly as the uninterrupted run did.
fn assert_resumes_bit_exactly(out: &Path, reference: &[u8]) -> Output {
    let o = resume(out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(logged_steps(out), (1..=STEPS).collect::<Vec<_>>());
    assert!(
        dictionary(out) == reference,
        "{}: the resumed run must end where the uninterrupted one did",
        out.display()
    );
    assert!(temporaries(out).is_empty(), "{:?}", temporaries(out));
    o
}

#[test]
fn a_second_run_on_a_folder_refuses_at_once_naming_the_holder() {
    let tmp = scratch();
    let (solo, shared) = (tmp.path().join("solo"), tmp.path().join("shared"));
    let long = |out: &Path| run_steps(out, 400);
    let mut first = long(&shared).spawn().unwrap();
    let lock = shared.join(".lock");
    let start = Instant::now();
    while std::fs::read_to_string(&lock).map_or(true, |t| t.is_empty()) {
        assert!(start.elapsed() < Duration::from_secs(30), "no lock taken");
        std::thread::sleep(Duration::from_millis(1));
    }
    let holder = format!("is in use by process {}", first.id());
    let conv_start = |out: &Path| {
        let mut c = lca();
        c.args(CONV).arg("--output").arg(out);
        c
    };
    let mut second_new = long(&shared);
    let mut second_resume = lca();
    second_resume.args(["learn", "--resume"]).arg(&shared);
    for (what, mut second) in [
        ("a new run", second_new),
        ("a resume", second_resume),
        ("a conv run", conv_start(&shared)),
    ] {
        let t0 = Instant::now();
        let o = second.output().unwrap();
        let took = t0.elapsed();
        println!("{what} on a busy folder refused in {took:.2?}");
        assert!(!o.status.success(), "{what} must refuse");
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(&holder) && err.contains(" since "), "{err}");
        // It refused without waiting for the first run.
        assert!(first.try_wait().unwrap().is_none(), "{what} waited");
    }
    second_new = long(&solo);
    assert!(second_new.status().unwrap().success());
    assert!(first.wait().unwrap().success());
    assert!(
        dictionary(&shared) == dictionary(&solo),
        "the first run must be untouched by the refused ones"
    );
    // A run that ended normally leaves the folder free, with no holder.
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "");
}

#[test]
fn a_folder_left_locked_by_a_killed_run_is_taken_over_with_a_warning() {
    let tmp = scratch();
    let out = tmp.path().join("run");
    let mut child = run_cmd(&out).spawn().unwrap();
    let start = Instant::now();
    while !out.join("checkpoint.npz").exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "no checkpoint");
        std::thread::sleep(Duration::from_millis(1));
    }
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    let o = assert_resumes_bit_exactly(&out, reference());
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "taking over the run folder from process {pid} since"
        )),
        "{err}"
    );
}

/// What a `kill -9` interrupted.
#[derive(Debug, Default)]
struct Kills {
    /// A checkpoint half-written (its temporary file left behind).
    mid_write: usize,
    /// Between the two renames of a checkpoint (only the previous one there).
    between_renames: usize,
    /// Steps or other writes.
    elsewhere: usize,
    /// Nothing: the run had ended.
    after_end: usize,
}

/// Starts [`RUN`] in `out` and waits until it has a folder to resume (its
/// `config.json`), returning the process and that moment.
fn start_run(out: &Path) -> (std::process::Child, Instant) {
    let mut child = run_cmd(out).spawn().unwrap();
    let start = Instant::now();
    while !out.join("config.json").exists() && child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "no config.json");
        std::thread::sleep(Duration::from_micros(200));
    }
    (child, Instant::now())
}

/// Starts [`RUN`] in `out` and kills it (SIGKILL) at `at` after it wrote
/// its config, or up to `window` later, as soon as a checkpoint write shows
/// (its temporary file), plus `delay`: this lands the kill inside
/// checkpoint writes far more often than a plain clock would.
fn kill_at(out: &Path, at: Duration, window: Duration, delay: Duration, kills: &mut Kills) {
    let (mut child, started) = start_run(out);
    while started.elapsed() < at {
        std::thread::sleep(Duration::from_micros(200));
    }
    let waiting = Instant::now();
    while waiting.elapsed() < window && child.try_wait().unwrap().is_none() {
        let writing = std::fs::read_dir(out).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".checkpoint.npz.")
            })
        });
        if writing {
            std::thread::sleep(delay);
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let status = child.wait().unwrap();
    if status.success() {
        kills.after_end += 1;
    } else if !out.join("checkpoint.npz").exists() && out.join("checkpoint.prev.npz").exists() {
        kills.between_renames += 1;
    } else if temporaries(out)
        .iter()
        .any(|n| n.starts_with(".checkpoint.npz."))
    {
        kills.mid_write += 1;
    } else {
        kills.elsewhere += 1;
    }
}

#[test]
fn kill_9_at_20_instants_then_resume_is_bit_exact() {
    let reference = reference();
    // On disk: a checkpoint write there lasts as long as its fsyncs.
    let tmp = tempfile::tempdir().unwrap();
    // The run's length on this machine (from its config on), to spread the
    // instants over it.
    let (mut timed, started) = start_run(&tmp.path().join("timed"));
    assert!(timed.wait().unwrap().success());
    let length = started.elapsed();
    // Four at a time: each kill and resume mostly waits on fsync.
    let kills: Vec<Kills> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4u32)
            .map(|w| {
                let dir = tmp.path().to_path_buf();
                scope.spawn(move || {
                    let mut kills = Kills::default();
                    for i in (w..20).step_by(4) {
                        let out = dir.join(format!("killed{i}"));
                        let at = length.mul_f64(f64::from(i) / 25.0);
                        let delay = Duration::from_micros(300 * u64::from(i % 4));
                        kill_at(&out, at, length / 8, delay, &mut kills);
                        assert_resumes_bit_exactly(&out, reference);
                        std::fs::remove_dir_all(&out).unwrap();
                    }
                    kills
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let total = Kills {
        mid_write: kills.iter().map(|k| k.mid_write).sum(),
        between_renames: kills.iter().map(|k| k.between_renames).sum(),
        elsewhere: kills.iter().map(|k| k.elsewhere).sum(),
        after_end: kills.iter().map(|k| k.after_end).sum(),
    };
    println!("20 kills over a {length:.2?} run, each resumed bit-exactly: {total:?}");
}

/// Overwrites `path` with `bytes` cut to `len` or with bit `bit` of byte
/// `at` flipped.
enum Damage {
    Cut(usize),
    Flip(usize, u8),
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one() {
    let reference = reference();
    let tmp = scratch();
    let done = tmp.path().join("done");
    let o = run_cmd(&done).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let newest = std::fs::read(done.join("checkpoint.npz")).unwrap();
    let len = newest.len();
    let mut damages = vec![Damage::Cut(0), Damage::Cut(len / 3), Damage::Cut(len - 1)];
    // The first entry's header, the middle of the arrays, the central
    // directory, the end-of-archive record.
    for (at, bit) in [(20, 3), (len / 2, 0), (len - 200, 5), (len - 10, 1)] {
        damages.push(Damage::Flip(at, bit));
    }
    let mut fell_back = 0;
    for (i, damage) in damages.iter().enumerate() {
        let out = tmp.path().join(format!("damaged{i}"));
        copy_folder(&done, &out);
        let mut bytes = newest.clone();
        match *damage {
            Damage::Cut(n) => bytes.truncate(n),
            Damage::Flip(at, bit) => bytes[at] ^= 1 << bit,
        }
        let path = out.join("checkpoint.npz");
        std::fs::write(&path, &bytes).unwrap();
        let unreadable = lca::dictionary::read_checkpoint(&path, 64, 16).is_err();
        let o = assert_resumes_bit_exactly(&out, reference);
        if unreadable {
            fell_back += 1;
            let err = stderr(&o);
            assert!(
                err.contains("checkpoint.npz (at step 50) is unreadable")
                    || err.contains("checkpoint.npz (at an unknown step) is unreadable"),
                "{err}"
            );
            assert!(
                err.contains("resuming from") && err.contains("checkpoint.prev.npz at step 40"),
                "{err}"
            );
        }
    }
    println!(
        "{fell_back} of {} damaged checkpoints were unreadable, each resumed from step 40",
        damages.len()
    );
    assert!(fell_back >= damages.len() - 2);

    // Both damaged: refused, naming both files.
    let out = tmp.path().join("both");
    copy_folder(&done, &out);
    std::fs::write(out.join("checkpoint.npz"), &newest[..len / 2]).unwrap();
    std::fs::write(out.join("checkpoint.prev.npz"), b"not a zip").unwrap();
    let o = resume(&out);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("no readable checkpoint")
            && err.contains("checkpoint.npz")
            && err.contains("checkpoint.prev.npz"),
        "{err}"
    );
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_conv_run_with_a_damaged_checkpoint_resumes_from_the_previous_one() {
    let tmp = scratch();
    let (whole, damaged) = (tmp.path().join("whole"), tmp.path().join("damaged"));
    let conv = |out: &Path| lca().args(CONV).arg("--output").arg(out).output().unwrap();
    let o = conv(&whole);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = conv(&damaged);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = damaged.join("checkpoint.npz");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let o = resume(&damaged);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("checkpoint.prev.npz at step 16"),
        "{}",
        stderr(&o)
    );
    assert!(dictionary(&whole) == dictionary(&damaged));
}

/// A tmpfs of `size` at a fresh folder, unmounted on drop; `None` (after
/// saying why) where mounting is not allowed (not root, no tmpfs).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match o {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                println!(
                    "skipped: cannot mount a tmpfs ({}): run as root to test a full disk",
                    stderr(&o).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: no `mount` command ({e})");
                None
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn resize(&self, size: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_mid_run_says_how_to_continue_and_the_resumed_run_is_bit_exact() {
    let reference = reference();
    // Sizes at which the disk fills at different points: the first
    // checkpoint, the dictionary, the config, the atoms picture.
    for size in ["40k", "48k", "52k", "56k"] {
        let Some(fs) = Tmpfs::mount(size) else { return };
        let out = fs.path().join("run");
        let o = run_cmd(&out).output().unwrap();
        let err = stderr(&o);
        println!("{size}: {}", err.trim());
        assert!(!o.status.success(), "{size}: the run must fail");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        let resume_cmd = format!("free space and run `lca learn --resume {}`", out.display());
        assert!(
            err.contains(&out.display().to_string()) && err.contains("No space left on device"),
            "{err}"
        );
        assert!(err.trim_end().ends_with(&resume_cmd), "{err}");
        assert!(temporaries(&out).is_empty(), "{:?}", temporaries(&out));
        fs.resize("8m");
        assert_resumes_bit_exactly(&out, reference);
    }
}

#[test]
fn encode_on_a_full_disk_leaves_no_output_and_one_line() {
    let Some(fs) = Tmpfs::mount("16k") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // 300 signals of 16 values over 64 atoms: 75 KiB of dense codes.
    let (n, k, m) = (16, 64, 300);
    let mut state = 1u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut d: Vec<f32> = (0..k * n).map(|_| next()).collect();
    for atom in d.chunks_mut(n) {
        let norm = atom.iter().map(|v| v * v).sum::<f32>().sqrt();
        atom.iter_mut().for_each(|v| *v /= norm);
    }
    let x: Vec<f32> = (0..m * n).map(|_| next()).collect();
    lca::io::npy::write_matrix(&tmp.path().join("D.npy"), k, n, &d).unwrap();
    lca::io::npy::write_matrix(&tmp.path().join("X.npy"), m, n, &x).unwrap();
    for (name, lambda) in [("A.npy", "0.001"), ("A.npz", "0.0001")] {
        let target = fs.path().join(name);
        let o = lca()
            .args(["encode", "--quiet", "--lambda", lambda, "-d"])
            .arg(tmp.path().join("D.npy"))
            .arg("-i")
            .arg(tmp.path().join("X.npy"))
            .arg("-o")
            .arg(&target)
            .output()
            .unwrap();
        let err = stderr(&o);
        println!("{name}: {}", err.trim());
        assert!(!o.status.success(), "{name}: must fail");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(name) && err.contains("No space left on device"),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(fs.path()).unwrap().collect();
        assert!(
            left.is_empty(),
            "nothing under the final name, no temporary: {left:?}"
        );
    }
}
