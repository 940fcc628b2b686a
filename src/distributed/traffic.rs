//! What one process's communicator has exchanged, for the scaling figures of
//! BENCHMARKS.md: counters owned by the communicator (not by the process), so
//! two communicators — or two tests — never add to each other's figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Communicator;

/// What this process has communicated so far (all zero on one process):
/// for the scaling figures of BENCHMARKS.md.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Traffic {
    /// Collective calls made.
    pub collectives: u64,
    /// Payload bytes: what this rank received from the others in all-gathers,
    /// all-to-alls and gathers to rank 0, what it sent in gathers to rank 0,
    /// and the size of its vector in each allreduce (which a ring allreduce
    /// sends and receives about twice).
    pub bytes: u64,
    /// Of `bytes`, those of allreduces.
    pub reduce_bytes: u64,
    /// Seconds spent inside collectives (transfer and waiting for the
    /// slowest rank alike).
    pub seconds: f64,
    /// Seconds this rank spent solving its share of learning steps'
    /// encodings.
    pub encode_seconds: f64,
    /// Seconds this rank spent forming its chunks' partial updates and
    /// their fixed-point integers.
    pub update_seconds: f64,
}

/// The running counters behind [`Traffic`], kept by a communicator that
/// measures ([`Communicator::counters`]).
#[derive(Debug, Default)]
pub struct TrafficCounters {
    collectives: AtomicU64,
    bytes: AtomicU64,
    reduce_bytes: AtomicU64,
    nanos: AtomicU64,
    encode_nanos: AtomicU64,
    update_nanos: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl TrafficCounters {
    /// One collective moving `bytes` that took `took`.
    pub fn collective(&self, bytes: usize, took: Duration) {
        self.collectives.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    /// One allreduce of `bytes` that took `took`.
    pub fn reduce(&self, bytes: usize, took: Duration) {
        self.reduce_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.collective(bytes, took);
    }

    /// The figures so far.
    pub fn snapshot(&self) -> Traffic {
        Traffic {
            collectives: self.collectives.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            reduce_bytes: self.reduce_bytes.load(Ordering::Relaxed),
            seconds: self.nanos.load(Ordering::Relaxed) as f64 * 1e-9,
            encode_seconds: self.encode_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
            update_seconds: self.update_nanos.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }
}

/// Runs `f`, adding its duration to `comm`'s [`Traffic::encode_seconds`].
pub(crate) fn timed_encode<T>(comm: &dyn Communicator, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    if let Some(c) = comm.counters() {
        c.encode_nanos
            .fetch_add(nanos(start.elapsed()), Ordering::Relaxed);
    }
    out
}

/// Runs `f`, adding its duration to `comm`'s [`Traffic::update_seconds`].
pub(crate) fn timed_update<T>(comm: &dyn Communicator, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    if let Some(c) = comm.counters() {
        c.update_nanos
            .fetch_add(nanos(start.elapsed()), Ordering::Relaxed);
    }
    out
}
