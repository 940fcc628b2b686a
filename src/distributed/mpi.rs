//! The [`Communicator`] over MPI's world communicator (cargo feature `mpi`).
//!
//! Collectives are the nonblocking `MPI_Iallgatherv`, `MPI_Igatherv`,
//! `MPI_Ialltoallv` and `MPI_Iallreduce` (built-in `MPI_SUM` / `MPI_MAX` on
//! integers only: exact, so the reduction order does not matter), polled until done or until the world's timeout has passed, when
//! the rank names the wait that failed and calls `MPI_Abort` on the job.

use std::time::{Duration, Instant};

use mpi::Count;
use mpi::collective::SystemOperation;
use mpi::datatype::{Equivalence, Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::request::{Request, Scope};
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::*;

use super::{Communicator, TrafficCounters};
use crate::error::{Error, Result};

/// Environment variables a launcher (OpenMPI's `mpirun`, PMI/PMIx launchers
/// such as Slurm's `srun`, MPICH's Hydra) sets in every rank it starts.
const LAUNCHER_VARIABLES: [&str; 4] = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"];

/// MPI's world, with this process's rank and the job's size.
pub(super) struct MpiWorld {
    rank: usize,
    size: usize,
    /// How long a wait for the other ranks may last before the job is aborted.
    timeout: Duration,
    counters: TrafficCounters,
    /// MPI stays initialised while the world lives: dropping the universe
    /// finalises it (owned here, not in a process-wide static, so the
    /// program's `World` is the one handle on MPI).
    _universe: Universe,
}

impl MpiWorld {
    /// Initialises MPI when the process was started by a launcher (a plain
    /// `lca` run stays a single process and never touches MPI).
    pub(super) fn init(timeout: Duration) -> Option<MpiWorld> {
        if !LAUNCHER_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        {
            return None;
        }
        // Serialized: the loop may run on a rayon worker rather than the main
        // thread (`--threads` installs a pool), but one thread calls MPI at a time.
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Some(MpiWorld {
            rank,
            size,
            timeout,
            counters: TrafficCounters::default(),
            _universe: universe,
        })
    }

    fn world(&self) -> SimpleCommunicator {
        SimpleCommunicator::world()
    }

    /// Counts and displacements of a partitioned receive buffer.
    fn partition(counts: &[usize]) -> Result<(Vec<Count>, Vec<Count>, usize)> {
        let too_big = || {
            Error::Shape(format!(
                "an MPI message of {} values exceeds MPI's {} per call",
                counts.iter().sum::<usize>(),
                Count::MAX
            ))
        };
        let mut displs = Vec::with_capacity(counts.len());
        let mut total = 0usize;
        for &c in counts {
            displs.push(Count::try_from(total).map_err(|_| too_big())?);
            total += c;
        }
        Count::try_from(total).map_err(|_| too_big())?;
        let counts = counts.iter().map(|&c| c as Count).collect();
        Ok((counts, displs, total))
    }

    fn check_counts(&self, local: usize, counts: &[usize]) -> Result<()> {
        if counts.len() != self.size || counts[self.rank] != local {
            return Err(Error::Shape(format!(
                "rank {} of {} sends {local} values but the counts are {counts:?}",
                self.rank, self.size
            )));
        }
        Ok(())
    }

    fn all_gather<T: Equivalence + Default + Clone>(
        &self,
        local: &[T],
        counts: &[usize],
    ) -> Result<Vec<T>> {
        self.check_counts(local.len(), counts)?;
        let (counts, displs, total) = Self::partition(counts)?;
        let mut out = vec![T::default(); total];
        let world = self.world();
        let start = Instant::now();
        let mut part = PartitionMut::new(&mut out[..], counts, &displs[..]);
        mpi::request::scope(|scope| {
            let req = world.immediate_all_gather_varcount_into(scope, local, &mut part);
            self.wait(req, "all-gather");
        });
        let item = std::mem::size_of::<T>();
        self.counters
            .collective(item * (total - local.len()), start.elapsed());
        Ok(out)
    }

    fn gather<T: Equivalence + Default + Clone>(
        &self,
        local: &[T],
        counts: &[usize],
    ) -> Result<Option<Vec<T>>> {
        self.check_counts(local.len(), counts)?;
        let (counts, displs, total) = Self::partition(counts)?;
        let world = self.world();
        let root = world.process_at_rank(0);
        let item = std::mem::size_of::<T>();
        let start = Instant::now();
        if self.rank != 0 {
            mpi::request::scope(|scope| {
                let req = root.immediate_gather_varcount_into(scope, local);
                self.wait(req, "gather to rank 0");
            });
            self.counters
                .collective(std::mem::size_of_val(local), start.elapsed());
            return Ok(None);
        }
        let mut out = vec![T::default(); total];
        let mut part = PartitionMut::new(&mut out[..], counts, &displs[..]);
        mpi::request::scope(|scope| {
            let req = root.immediate_gather_varcount_into_root(scope, local, &mut part);
            self.wait(req, "gather to rank 0");
        });
        self.counters
            .collective(item * (total - local.len()), start.elapsed());
        Ok(Some(out))
    }

    fn all_reduce<T: Equivalence + Copy>(&self, values: &mut [T], op: SystemOperation, what: &str) {
        let send = values.to_vec();
        let world = self.world();
        let start = Instant::now();
        mpi::request::scope(|scope| {
            let req = world.immediate_all_reduce_into(scope, &send[..], values, op);
            self.wait(req, what);
        });
        self.counters
            .reduce(std::mem::size_of_val(values), start.elapsed());
    }

    /// Polls `req` until it completes, yielding the core while waiting (the
    /// other ranks may share it); past the deadline the job is aborted.
    fn wait<'a, D: ?Sized, S: Scope<'a>>(&self, mut req: Request<'a, D, S>, what: &str) {
        let limit = self.timeout;
        let start = Instant::now();
        loop {
            match req.test() {
                Ok(_) => return,
                Err(pending) => req = pending,
            }
            let waited = start.elapsed();
            if waited > limit {
                eprintln!(
                    "error: rank {} of {}: no answer from the other ranks for {:.0} s in an MPI {what} (a rank died or hangs; LCA_MPI_TIMEOUT sets the limit): aborting the job; the last checkpoint is intact, continue with --resume",
                    self.rank,
                    self.size,
                    waited.as_secs_f64()
                );
                self.world().abort(1);
            }
            if waited < Duration::from_millis(2) {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
}

impl Communicator for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn counters(&self) -> Option<&TrafficCounters> {
        Some(&self.counters)
    }
    fn all_gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Vec<f32>> {
        self.all_gather(local, counts)
    }
    fn all_gather_u32(&self, local: &[u32], counts: &[usize]) -> Result<Vec<u32>> {
        self.all_gather(local, counts)
    }
    fn gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Option<Vec<f32>>> {
        self.gather(local, counts)
    }
    fn gather_u32(&self, local: &[u32], counts: &[usize]) -> Result<Option<Vec<u32>>> {
        self.gather(local, counts)
    }
    fn all_reduce_sum_i64(&self, values: &mut [i64]) -> Result<()> {
        Count::try_from(values.len()).map_err(|_| {
            Error::Shape(format!(
                "an allreduce of {} values exceeds MPI's limit",
                values.len()
            ))
        })?;
        self.all_reduce(values, SystemOperation::sum(), "allreduce (sum)");
        Ok(())
    }
    fn all_reduce_max_i32(&self, values: &mut [i32]) -> Result<()> {
        Count::try_from(values.len()).map_err(|_| {
            Error::Shape(format!(
                "an allreduce of {} values exceeds MPI's limit",
                values.len()
            ))
        })?;
        self.all_reduce(values, SystemOperation::max(), "allreduce (max)");
        Ok(())
    }
    fn all_to_all_f32(
        &self,
        send: &[f32],
        send_counts: &[usize],
        recv_counts: &[usize],
    ) -> Result<Vec<f32>> {
        if send_counts.len() != self.size
            || recv_counts.len() != self.size
            || send_counts.iter().sum::<usize>() != send.len()
        {
            return Err(Error::Shape(format!(
                "rank {} of {}: all-to-all of {} values with counts {send_counts:?} / {recv_counts:?}",
                self.rank,
                self.size,
                send.len()
            )));
        }
        let (scounts, sdispls, _) = Self::partition(send_counts)?;
        let (rcounts, rdispls, total) = Self::partition(recv_counts)?;
        let mut out = vec![0.0f32; total];
        let world = self.world();
        let start = Instant::now();
        {
            let part_send = Partition::new(send, scounts, &sdispls[..]);
            let mut part_recv = PartitionMut::new(&mut out[..], rcounts, &rdispls[..]);
            mpi::request::scope(|scope| {
                let req =
                    world.immediate_all_to_all_varcount_into(scope, &part_send, &mut part_recv);
                self.wait(req, "all-to-all");
            });
        }
        let received = total - recv_counts[self.rank];
        self.counters.collective(4 * received, start.elapsed());
        Ok(out)
    }
}

impl MpiWorld {
    /// `MPI_Abort` on the whole job when it has several ranks (the others
    /// may be waiting for this one); returns for a job of one.
    pub(super) fn abort_job(&self, code: i32) {
        if self.size > 1 {
            self.world().abort(code);
        }
    }
}
