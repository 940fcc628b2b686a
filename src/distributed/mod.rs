//! Running one job over several processes (MPI ranks) with the results of a
//! single process, bit for bit.
//!
//! The learning loop and the encoder talk to a [`Communicator`]: a
//! [`SingleProcess`] one that is always compiled (and that every run without
//! `mpirun` uses), and, with the cargo feature `mpi`, one over MPI's world
//! communicator. Both go through the same code, so there is one path to test.
//!
//! **Work is cut where results do not depend on the cut.** A batch of `m`
//! signals is cut into the solver's fixed chunks of [`SIGNAL_CHUNK`] signals
//! (whose codes depend on their own signals only); rank `r` solves the
//! contiguous run of chunks [`share`]`(m, r, N)`.
//!
//! **Learning: one reproducible allreduce per step.** Each rank forms the
//! dictionary update of its chunks, one partial per chunk (`R_c A_cᵀ` for the
//! Hebbian rule; `A_c A_cᵀ` and `X_c A_cᵀ`, the online rule's sufficient
//! statistics), and the partials are summed by one `MPI_SUM` over 64-bit
//! integers in a fixed point fixed beforehand by a small `MPI_MAX` of
//! per-column exponent bounds ([`FixedPointSum`], module `exact_sum`).
//! Integer sums do not depend on their order, so the update after S steps is
//! the same for any N — and one process runs the very same arithmetic, so
//! it equals the single-process update bit for bit. Per-signal figures the
//! step needs (squared residuals for the log and for choosing re-seeding
//! donors) travel in the same integer vector, one rank writing each slot.
//! Why per chunk and not per image: chunks are what the solver already
//! fixes, they keep the encoding balanced over the ranks whatever the images'
//! sizes, and the partial of a chunk is one small GEMM.
//!
//! **Images: each rank decodes only its share.** Image `i` of the folder
//! belongs to rank `i mod N` ([`owner_of`]): the patch sampler draws the
//! (image, position) pairs from the seed alone, the owner decodes the image
//! and extracts those patches, and each patch is sent to the rank that
//! encodes its chunk (one all-to-all of the batch, `m·n·4/N` bytes a rank).
//! See [`crate::image::PatchStream`].
//!
//! **Faults.** Every collective is nonblocking and waited on with a deadline
//! (the timeout given to [`World::init`]; the CLI reads `LCA_MPI_TIMEOUT`
//! seconds, default [`DEFAULT_TIMEOUT_SECONDS`]):
//! a rank that stops answering makes the others print which wait failed and
//! abort the whole job (non-zero exit on every rank), never hang. A rank
//! killed outright is noticed sooner by `mpirun`, which ends the others.
//! Outputs are written by rank 0 only, each atomically, so the last
//! checkpoint stays intact and resumable with any number of ranks.
//!
//! ```
//! use lca::distributed::{Communicator, SingleProcess, share};
//! let comm = SingleProcess;
//! assert_eq!((comm.rank(), comm.size()), (0, 1));
//! // 300 signals in chunks of 64 over 2 ranks: chunks 0–1 and 2–4.
//! assert_eq!(share(300, 0, 2), 0..128);
//! assert_eq!(share(300, 1, 2), 128..300);
//! assert_eq!(comm.all_gather_f32(&[1.0, 2.0], &[2]).unwrap(), [1.0, 2.0]);
//! let mut sums = [3i64, -4];
//! comm.all_reduce_sum_i64(&mut sums).unwrap();
//! assert_eq!(sums, [3, -4]);
//! ```

mod exact_sum;
#[cfg(feature = "mpi")]
mod mpi;
mod traffic;

pub use exact_sum::{FixedPointSum, exponent_of, outer_bounds};
pub use traffic::{Traffic, TrafficCounters};
pub(crate) use traffic::{timed_encode, timed_update};

use std::ops::Range;
use std::time::Duration;

use nalgebra::DMatrix;

use crate::Dictionary;
use crate::error::{Error, Result};
use crate::solver::{
    Encoding, Lca, SIGNAL_CHUNK, SpikeRecord, SpikingEncoding, SpikingLca, Termination,
};

/// Seconds a rank waits in one collective before it declares the job broken.
/// Long enough for the slowest rank's step, a checkpoint write or a block of
/// images decoded at the start; short enough that a hung job ends.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 300.0;

/// The processes of a job and the few collectives the crate needs. Every
/// gather concatenates the ranks' pieces in rank order; `counts[r]` is the
/// number of values rank `r` sends (every rank knows them: they follow from
/// [`share`]).
pub trait Communicator: Sync {
    /// This process's index, `0..size`.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn size(&self) -> usize;
    /// Every rank's `local`, concatenated in rank order, on every rank.
    fn all_gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Vec<f32>>;
    /// As [`Communicator::all_gather_f32`], for counts and flags.
    fn all_gather_u32(&self, local: &[u32], counts: &[usize]) -> Result<Vec<u32>>;
    /// Every rank's `local` in rank order on rank 0 (`None` on the others).
    fn gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Option<Vec<f32>>>;
    /// As [`Communicator::gather_f32`], for counts and flags.
    fn gather_u32(&self, local: &[u32], counts: &[usize]) -> Result<Option<Vec<u32>>>;
    /// Element-wise sum over the ranks, in place on every rank (`MPI_SUM`
    /// on `i64`: exact, so independent of the reduction order).
    fn all_reduce_sum_i64(&self, values: &mut [i64]) -> Result<()>;
    /// Element-wise maximum over the ranks, in place on every rank.
    fn all_reduce_max_i32(&self, values: &mut [i32]) -> Result<()>;
    /// Personalised exchange: `send` holds, in rank order, `send_counts[r]`
    /// values for rank `r`; the result holds, in rank order, the
    /// `recv_counts[r]` values rank `r` sent here.
    fn all_to_all_f32(
        &self,
        send: &[f32],
        send_counts: &[usize],
        recv_counts: &[usize],
    ) -> Result<Vec<f32>>;

    /// Rank 0 writes the outputs.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// The counters of what this communicator exchanged (`None`: it does
    /// not measure, e.g. a single process).
    fn counters(&self) -> Option<&TrafficCounters> {
        None
    }
}

/// A job of one process: every gather returns its input.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

/// The [`SingleProcess`] communicator, for code that keeps a `&'static` one.
pub static SINGLE_PROCESS: SingleProcess = SingleProcess;

fn check_single(local: usize, counts: &[usize]) -> Result<()> {
    if counts != [local] {
        return Err(Error::Shape(format!(
            "gather of {local} values on one process with counts {counts:?}"
        )));
    }
    Ok(())
}

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Vec<f32>> {
        check_single(local.len(), counts)?;
        Ok(local.to_vec())
    }
    fn all_gather_u32(&self, local: &[u32], counts: &[usize]) -> Result<Vec<u32>> {
        check_single(local.len(), counts)?;
        Ok(local.to_vec())
    }
    fn gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Option<Vec<f32>>> {
        check_single(local.len(), counts)?;
        Ok(Some(local.to_vec()))
    }
    fn gather_u32(&self, local: &[u32], counts: &[usize]) -> Result<Option<Vec<u32>>> {
        check_single(local.len(), counts)?;
        Ok(Some(local.to_vec()))
    }
    fn all_reduce_sum_i64(&self, _values: &mut [i64]) -> Result<()> {
        Ok(())
    }
    fn all_reduce_max_i32(&self, _values: &mut [i32]) -> Result<()> {
        Ok(())
    }
    fn all_to_all_f32(
        &self,
        send: &[f32],
        send_counts: &[usize],
        recv_counts: &[usize],
    ) -> Result<Vec<f32>> {
        check_single(send.len(), send_counts)?;
        check_single(send.len(), recv_counts)?;
        Ok(send.to_vec())
    }
}

/// The rank that decodes image `image` of a folder in a job of `size` ranks
/// (round robin, so every rank holds a share of any block of images).
pub fn owner_of(image: usize, size: usize) -> usize {
    image % size.max(1)
}

/// The rank whose [`share`] of `m` signals holds signal `signal`.
pub fn encoder_of(signal: usize, m: usize, size: usize) -> usize {
    // share() cuts chunk c to rank r when c0(r) <= c < c0(r + 1), with
    // c0(r) = chunks·r/size; invert by search (size is small next to m).
    let chunk = signal / SIGNAL_CHUNK;
    let chunks = m.div_ceil(SIGNAL_CHUNK);
    let size = size.max(1);
    let mut r = (chunk * size / chunks.max(1)).min(size - 1);
    while r > 0 && chunks * r / size > chunk {
        r -= 1;
    }
    while r + 1 < size && chunks * (r + 1) / size <= chunk {
        r += 1;
    }
    r
}

/// A matrix of `rows`-long columns, column `t` held by rank `owners[t]`, on
/// every rank: each rank passes the columns it holds, in order of `t`, and
/// receives the whole matrix (one all-gather).
pub fn gather_columns(
    comm: &dyn Communicator,
    rows: usize,
    owners: &[usize],
    mine: &[f32],
) -> Result<DMatrix<f32>> {
    let size = comm.size();
    let mut counts = vec![0usize; size];
    for &o in owners {
        counts[o] += rows;
    }
    if mine.len() != counts[comm.rank()] {
        return Err(Error::Shape(format!(
            "rank {} holds {} values of the gathered columns, expected {}",
            comm.rank(),
            mine.len(),
            counts[comm.rank()]
        )));
    }
    if size == 1 {
        return Ok(DMatrix::from_column_slice(rows, owners.len(), mine));
    }
    let all = comm.all_gather_f32(mine, &counts)?;
    let mut next: Vec<usize> = counts
        .iter()
        .scan(0, |acc, &c| {
            let start = *acc;
            *acc += c;
            Some(start)
        })
        .collect();
    let mut out = Vec::with_capacity(rows * owners.len());
    for &o in owners {
        out.extend_from_slice(&all[next[o]..next[o] + rows]);
        next[o] += rows;
    }
    Ok(DMatrix::from_vec(rows, owners.len(), out))
}

/// The signals `0..m` rank `rank` of `size` works on: a contiguous run of
/// whole solver chunks ([`SIGNAL_CHUNK`]), as even as chunks allow. The
/// cut depends on `m` and `size` only; results never depend on it.
pub fn share(m: usize, rank: usize, size: usize) -> Range<usize> {
    let chunks = m.div_ceil(SIGNAL_CHUNK);
    let size = size.max(1);
    let c0 = chunks * rank / size;
    let c1 = chunks * (rank + 1) / size;
    (c0 * SIGNAL_CHUNK).min(m)..(c1 * SIGNAL_CHUNK).min(m)
}

/// Signals of every rank's share of `m` signals.
pub fn share_sizes(m: usize, size: usize) -> Vec<usize> {
    (0..size).map(|r| share(m, r, size).len()).collect()
}

/// Codes of every column of `signals` (which every rank holds), each rank
/// solving its [`share`] and all ranks receiving every code: exactly
/// `lca.encode(dict, signals)?.codes` on every rank, for any number of ranks.
pub fn encode_codes(
    comm: &dyn Communicator,
    lca: &Lca,
    dict: &Dictionary,
    signals: &DMatrix<f32>,
) -> Result<DMatrix<f32>> {
    let (k, m) = (dict.n_atoms(), signals.ncols());
    if comm.size() == 1 {
        return Ok(timed_encode(comm, || lca.encode(dict, signals))?.codes);
    }
    let mine = share(m, comm.rank(), comm.size());
    let local = signals.columns(mine.start, mine.len()).into_owned();
    let codes = timed_encode(comm, || lca.encode(dict, &local))?.codes;
    let counts: Vec<usize> = share_sizes(m, comm.size()).iter().map(|c| c * k).collect();
    let all = comm.all_gather_f32(codes.as_slice(), &counts)?;
    Ok(DMatrix::from_vec(k, m, all))
}

/// [`Lca::encode_from`] over the ranks for streamed encoding: each rank
/// solves its [`share`] of the columns of `signals` (every rank holds the
/// block), and rank 0 receives the whole [`Encoding`] — identical to a
/// single-process call — while the others get `None`. `progress` hears
/// rank 0's chunks as they finish and then the other ranks' signals at once.
/// Traces are per-signal curves of variable length and are not gathered:
/// asking for them on more than one rank is refused.
pub fn encode_gathered(
    comm: &dyn Communicator,
    lca: &Lca,
    dict: &Dictionary,
    signals: &DMatrix<f32>,
    initial_states: Option<&DMatrix<f32>>,
    progress: Option<&(dyn Fn(usize) + Sync)>,
) -> Result<Option<Encoding>> {
    if comm.size() == 1 {
        return timed_encode(comm, || {
            lca.encode_from(dict, signals, initial_states, progress)
        })
        .map(Some);
    }
    if lca.params().trace {
        return Err(Error::setting(
            "trace",
            format!(
                "energy traces are not gathered over MPI ranks: encode with one process to record them ({} ranks)",
                comm.size()
            ),
        ));
    }
    let (k, m) = (dict.n_atoms(), signals.ncols());
    let mine = share(m, comm.rank(), comm.size());
    let local = signals.columns(mine.start, mine.len()).into_owned();
    let warm = initial_states.map(|s| s.columns(mine.start, mine.len()).into_owned());
    let enc = timed_encode(comm, || {
        lca.encode_from(dict, &local, warm.as_ref(), progress)
    })?;
    let sizes = share_sizes(m, comm.size());
    // Codes and states in one message, iterations, jumps and flags in another.
    let mut floats = Vec::with_capacity(2 * k * mine.len());
    floats.extend_from_slice(enc.codes.as_slice());
    floats.extend_from_slice(enc.states.as_slice());
    let mut ints = Vec::with_capacity(3 * mine.len());
    ints.extend_from_slice(&enc.iterations);
    ints.extend_from_slice(&enc.jumps);
    ints.extend(enc.termination.iter().map(|t| t.code()));
    let float_counts: Vec<usize> = sizes.iter().map(|c| 2 * k * c).collect();
    let int_counts: Vec<usize> = sizes.iter().map(|c| 3 * c).collect();
    let floats = comm.gather_f32(&floats, &float_counts)?;
    let ints = comm.gather_u32(&ints, &int_counts)?;
    let (Some(floats), Some(ints)) = (floats, ints) else {
        return Ok(None);
    };
    if let Some(report) = progress {
        report(m - mine.len());
    }
    let mut codes = Vec::with_capacity(k * m);
    let mut states = Vec::with_capacity(k * m);
    let (mut iterations, mut jumps, mut termination) = (Vec::new(), Vec::new(), Vec::new());
    let (mut f, mut i) = (0, 0);
    for &c in &sizes {
        codes.extend_from_slice(&floats[f..f + k * c]);
        states.extend_from_slice(&floats[f + k * c..f + 2 * k * c]);
        iterations.extend_from_slice(&ints[i..i + c]);
        jumps.extend_from_slice(&ints[i + c..i + 2 * c]);
        termination.extend(
            ints[i + 2 * c..i + 3 * c]
                .iter()
                .map(|&v| Termination::from_code(v)),
        );
        f += 2 * k * c;
        i += 3 * c;
    }
    Ok(Some(Encoding {
        codes: DMatrix::from_vec(k, m, codes),
        states: DMatrix::from_vec(k, m, states),
        iterations,
        jumps,
        termination,
        traces: Vec::new(),
    }))
}

/// [`SpikingLca::encode_with`] over the ranks, as [`encode_gathered`] for
/// the rate LCA: each rank simulates its [`share`] of the columns (every
/// signal's network is independent of the others', and the shares are whole
/// solver chunks), and rank 0 receives the whole [`SpikingEncoding`] —
/// codes, spike counts, saturation flags and, when recording, every spike in
/// signal order — identical to a single-process call; the others get `None`.
pub fn encode_spiking_gathered(
    comm: &dyn Communicator,
    solver: &SpikingLca,
    dict: &Dictionary,
    signals: &DMatrix<f32>,
    progress: Option<&(dyn Fn(usize) + Sync)>,
) -> Result<Option<SpikingEncoding>> {
    if comm.size() == 1 {
        return timed_encode(comm, || solver.encode_with(dict, signals, progress)).map(Some);
    }
    let (k, m, size) = (dict.n_atoms(), signals.ncols(), comm.size());
    let mine = share(m, comm.rank(), size);
    let local = signals.columns(mine.start, mine.len()).into_owned();
    let enc = timed_encode(comm, || solver.encode_with(dict, &local, progress))?;
    let sizes = share_sizes(m, size);
    let recording = enc.spikes.is_some();
    let q = usize::from(recording);
    // Codes (and each signal's spike quantum) in one message; spike counts
    // (as two 32-bit halves) and saturation flags in another.
    let mut floats = Vec::with_capacity((k + q) * mine.len());
    floats.extend_from_slice(enc.codes.as_slice());
    if let Some(r) = &enc.spikes {
        floats.extend_from_slice(&r.quantum);
    }
    let mut ints = Vec::with_capacity(3 * mine.len());
    ints.extend(enc.spike_counts.iter().map(|&c| c as u32));
    ints.extend(enc.spike_counts.iter().map(|&c| (c >> 32) as u32));
    ints.extend(enc.saturated.iter().map(|&s| u32::from(s)));
    let float_counts: Vec<usize> = sizes.iter().map(|c| (k + q) * c).collect();
    let int_counts: Vec<usize> = sizes.iter().map(|c| 3 * c).collect();
    let floats = comm.gather_f32(&floats, &float_counts)?;
    let ints = comm.gather_u32(&ints, &int_counts)?;
    // Every spike as (signal in the whole block, neuron, step).
    let spikes = match &enc.spikes {
        Some(r) => {
            let n = u32::try_from(r.neuron.len()).map_err(|_| {
                Error::Shape(format!(
                    "{} spikes on one rank are more than one message holds: use smaller blocks (--chunk-rows)",
                    r.neuron.len()
                ))
            })?;
            let per_rank = comm.all_gather_u32(&[n], &vec![1; size])?;
            let mut triples = Vec::with_capacity(3 * r.neuron.len());
            triples.extend(r.signal.iter().map(|&s| s + mine.start as u32));
            triples.extend_from_slice(&r.neuron);
            triples.extend_from_slice(&r.step);
            let counts: Vec<usize> = per_rank.iter().map(|&c| 3 * c as usize).collect();
            comm.gather_u32(&triples, &counts)?.map(|t| (t, per_rank))
        }
        None => None,
    };
    let (Some(floats), Some(ints)) = (floats, ints) else {
        return Ok(None);
    };
    if let Some(report) = progress {
        report(m - mine.len());
    }
    let mut codes = Vec::with_capacity(k * m);
    let mut quantum = Vec::with_capacity(q * m);
    let (mut spike_counts, mut saturated) = (Vec::with_capacity(m), Vec::with_capacity(m));
    let (mut f, mut i) = (0, 0);
    for &c in &sizes {
        codes.extend_from_slice(&floats[f..f + k * c]);
        quantum.extend_from_slice(&floats[f + k * c..f + (k + q) * c]);
        for s in 0..c {
            spike_counts.push(u64::from(ints[i + s]) | (u64::from(ints[i + c + s]) << 32));
            saturated.push(ints[i + 2 * c + s] != 0);
        }
        f += (k + q) * c;
        i += 3 * c;
    }
    let record = match (enc.spikes, spikes) {
        (Some(r), Some((triples, per_rank))) => {
            let mut record = SpikeRecord {
                signal: Vec::new(),
                neuron: Vec::new(),
                step: Vec::new(),
                quantum,
                ..r
            };
            let mut at = 0;
            for &n in &per_rank {
                let n = n as usize;
                record.signal.extend_from_slice(&triples[at..at + n]);
                record
                    .neuron
                    .extend_from_slice(&triples[at + n..at + 2 * n]);
                record
                    .step
                    .extend_from_slice(&triples[at + 2 * n..at + 3 * n]);
                at += 3 * n;
            }
            Some(record)
        }
        _ => None,
    };
    Ok(Some(SpikingEncoding {
        codes: DMatrix::from_vec(k, m, codes),
        spike_counts,
        saturated,
        spikes: record,
        steps: enc.steps,
    }))
}

/// Combines per-rank stop requests so every rank stops at the same step:
/// `any` is true when any rank asks (e.g. an interrupt reached one of them),
/// `root` is rank 0's own decision (e.g. its clock's time budget).
pub fn agree(comm: &dyn Communicator, any: bool, root: bool) -> Result<(bool, bool)> {
    if comm.size() == 1 {
        return Ok((any, root));
    }
    let mine = u32::from(any) | (u32::from(root && comm.is_root()) << 1);
    let all = comm.all_gather_u32(&[mine], &vec![1; comm.size()])?;
    Ok((
        all.iter().any(|v| v & 1 != 0),
        all.first().is_some_and(|v| v & 2 != 0),
    ))
}

/// [`agree`], plus rank 0's choice of a new horizon (a time-budgeted run
/// re-planning on rank 0's clock), so every rank revises it at the same step.
pub fn agree_plan(
    comm: &dyn Communicator,
    any: bool,
    root: bool,
    plan: Option<u64>,
) -> Result<(bool, bool, Option<u64>)> {
    if comm.size() == 1 {
        return Ok((any, root, plan));
    }
    let is_root = comm.is_root();
    let flags = u32::from(any) | (u32::from(root && is_root) << 1);
    let (flags, plan) = match plan.filter(|_| is_root) {
        Some(p) => (flags | 4, p),
        None => (flags, 0),
    };
    let mine = [flags, plan as u32, (plan >> 32) as u32];
    let all = comm.all_gather_u32(&mine, &vec![3; comm.size()])?;
    let root_flags = all.first().copied().unwrap_or(0);
    let root_plan = (root_flags & 4 != 0).then(|| u64::from(all[1]) | (u64::from(all[2]) << 32));
    Ok((
        all.chunks(3).any(|v| v[0] & 1 != 0),
        root_flags & 2 != 0,
        root_plan,
    ))
}

/// The processes of a job as this program sees them: MPI's world when the
/// cargo feature `mpi` is on and a launcher (`mpirun`, `srun`) started the
/// process, else a single process. A program makes it once, in its `main`
/// (MPI can be initialised once per process), passes [`World::comm`] to what
/// runs over it, and ends with [`World::exit`] or [`World::abort`], which
/// finalise MPI (a rank that exits without it makes `mpirun` report the job
/// as failed).
pub struct World {
    processes: Processes,
}

/// What a [`World`] runs over; MPI's world owns MPI's initialisation, so
/// dropping it finalises MPI.
enum Processes {
    Single,
    #[cfg(feature = "mpi")]
    Mpi(mpi::MpiWorld),
}

impl World {
    /// The world of this process; `timeout` bounds every wait for the other
    /// ranks (see the module doc, **Faults**).
    pub fn init(timeout: Duration) -> World {
        #[cfg(feature = "mpi")]
        if let Some(world) = mpi::MpiWorld::init(timeout) {
            return World {
                processes: Processes::Mpi(world),
            };
        }
        let _ = timeout; // one process waits for nobody
        World {
            processes: Processes::Single,
        }
    }

    /// The communicator over the job's ranks.
    pub fn comm(&self) -> &dyn Communicator {
        match &self.processes {
            Processes::Single => &SINGLE_PROCESS,
            #[cfg(feature = "mpi")]
            Processes::Mpi(world) => world,
        }
    }

    /// Ends the process with `code`, MPI finalised first when it was started
    /// (dropping the world finalises it).
    // Without the `mpi` feature the world holds nothing to finalise.
    #[cfg_attr(not(feature = "mpi"), allow(clippy::drop_non_drop))]
    pub fn exit(self, code: i32) -> ! {
        drop(self);
        std::process::exit(code)
    }

    /// Ends the process after an error: in a job of several ranks the whole
    /// job is aborted (the others may be waiting for this one), else like
    /// [`World::exit`].
    pub fn abort(self, code: i32) -> ! {
        #[cfg(feature = "mpi")]
        if let Processes::Mpi(world) = &self.processes {
            world.abort_job(code);
        }
        self.exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_signals_in_whole_chunks() {
        for m in [0, 1, 63, 64, 65, 256, 300, 1000] {
            for size in 1..=9 {
                let mut next = 0;
                for r in 0..size {
                    let s = share(m, r, size);
                    assert_eq!(s.start, next, "m={m} size={size} rank={r}");
                    assert!(s.start.is_multiple_of(SIGNAL_CHUNK) || s.is_empty());
                    next = s.end;
                }
                assert_eq!(next, m);
            }
        }
    }

    #[test]
    fn every_signal_is_encoded_by_the_rank_whose_share_holds_it() {
        for m in [1, 63, 64, 65, 200, 256, 300, 1000, 4096] {
            for size in 1..=12 {
                for s in 0..m {
                    let r = encoder_of(s, m, size);
                    assert!(
                        share(m, r, size).contains(&s),
                        "m={m} size={size} s={s} r={r}"
                    );
                }
            }
        }
        assert_eq!(owner_of(7, 3), 1);
    }

    #[test]
    fn single_process_gathers_refuse_wrong_counts() {
        assert!(SingleProcess.all_gather_f32(&[1.0], &[2]).is_err());
        assert_eq!(SingleProcess.gather_u32(&[3], &[1]).unwrap(), Some(vec![3]));
        assert_eq!(agree(&SingleProcess, true, false).unwrap(), (true, false));
    }

    /// A fake job of `size` ranks in one process, for checking that the
    /// split-and-gather gives the single-process codes: each "rank" encodes
    /// its share and the pieces are concatenated as a gather would.
    #[test]
    fn split_encodings_concatenate_to_the_whole() {
        let dict = crate::solver::test_dictionary(16, 24, 3);
        let x = DMatrix::from_fn(16, 200, |i, j| ((i * 7 + j * 13) % 11) as f32 / 5.0 - 1.0);
        let lca = crate::LcaParams::new().lambda(0.2).check().unwrap();
        let whole = lca.encode(&dict, &x).unwrap().codes;
        for size in [2, 3, 4] {
            let mut parts = Vec::new();
            for r in 0..size {
                let s = share(200, r, size);
                let local = x.columns(s.start, s.len()).into_owned();
                parts.extend_from_slice(lca.encode(&dict, &local).unwrap().codes.as_slice());
            }
            assert_eq!(parts, whole.as_slice(), "{size} ranks");
        }
    }
}
