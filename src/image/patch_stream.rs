//! A stream of training minibatches that scales with the image folder.
//!
//! Drawing each minibatch's patches from random images (as
//! [`sample_patches`](super::sample_patches) does) costs one image decode per
//! patch once the folder outgrows the image cache: on 400 photos learning was
//! ~2000× slower per step than on the embedded samples. Here images are
//! decoded a few at a time and many patches are taken from each:
//!
//! * Images are visited in passes, each pass a seeded permutation of the
//!   folder. Consecutive groups of `images_per_block` images form **blocks**;
//!   a block holds up to `pool_patches` preprocessed patches drawn from
//!   positions uniform over its images' area, flat patches dropped (so every
//!   non-flat training position is equally likely, as with uniform sampling
//!   over the folder: an image of sky gives few patches, not its area's share). Each photo is thus decoded once per pass (twice
//!   at most when a block straddles two passes), whatever the folder's size.
//! * A minibatch mixes `window` consecutive blocks (default 2: up to 32
//!   photos), taking an equal share from each; every block serves
//!   `window × steps_per_block` steps and each of its patches is used once
//!   (in a seeded shuffled order), so blocks overlap and batches change
//!   smoothly rather than jumping from one group of photos to the next.
//! * The next block is built on a background thread while the current ones
//!   are learned from, so decoding runs in parallel with learning.
//!
//! Everything a batch holds is a pure function of `(seed, step)`: blocks are
//! rebuilt from their index alone, so a resumed run draws exactly the batches
//! of the uninterrupted one, and no result depends on thread timing, on the
//! number of threads or on the number of MPI ranks. Memory is bounded by
//! `window + 1` blocks plus the image cache of [`ImageSet`].
//!
//! **Over MPI ranks** ([`PatchStream::shared`]) each rank decodes only the
//! images it owns ([`owner_of`]: image `i` on rank `i mod N`). The positions
//! drawn in an image come from that image's own random stream, so its owner
//! draws them alone; the ranks then exchange only how many patches each
//! image kept (a few integers per block), which fixes the block's shuffled
//! order on every rank, and each rank keeps just its own images' patches
//! (a block's memory is divided by N). [`PatchStream::batch`] returns this
//! rank's [`share`] of the step's batch: every patch is sent by the rank that
//! owns its image to the rank that encodes it (one all-to-all per step), so
//! the global batch is the single-process batch for any N.
//!
//! A fixed **held-out** set of patches, never trained on, comes from the
//! bottom twentieth of up to [`HELDOUT_IMAGES`] images: training positions never
//! overlap those rows (see [`heldout_rows`]).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use nalgebra::DMatrix;
use rand::RngExt;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::folder::ImageSet;
use super::preprocess::Preprocessor;
use crate::distributed::{Communicator, SINGLE_PROCESS, gather_columns, owner_of, share};
use crate::error::{Error, Result};

/// Most patches one block holds (for small patches; large ones are bounded by
/// [`DEFAULT_POOL_BYTES`]).
pub const DEFAULT_POOL_PATCHES: usize = 65_536;
/// Most bytes of patches one block holds.
pub const DEFAULT_POOL_BYTES: usize = 64 << 20;
/// Images decoded per block.
pub const DEFAULT_IMAGES_PER_BLOCK: usize = 16;
/// Blocks a minibatch mixes.
pub const DEFAULT_WINDOW: usize = 2;
/// Held-out patches are taken from at most this many images.
pub const HELDOUT_IMAGES: usize = 32;

/// Settings of a [`PatchStream`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct PatchStreamParams {
    /// Patch side `P` (patches are `P × P`).
    pub patch: usize,
    /// Patches per minibatch.
    pub batch_size: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Most patches per block.
    pub pool_patches: usize,
    /// Most bytes per block (patches are `P²·channels` `f32`s).
    pub pool_bytes: usize,
    /// Images decoded per block.
    pub images_per_block: usize,
    /// Blocks each minibatch mixes (≥ 1).
    pub window: usize,
    /// Held-out patches (0: none, and every row of every image is trained on).
    pub heldout_patches: usize,
}

crate::settings::setters!(PatchStreamParams {
    patch: usize,
    batch_size: usize,
    seed: u64,
    pool_patches: usize,
    pool_bytes: usize,
    images_per_block: usize,
    window: usize,
    heldout_patches: usize,
});

impl PatchStreamParams {
    /// Defaults for `patch × patch` patches and `batch_size` patches per step.
    pub fn new(patch: usize, batch_size: usize, seed: u64) -> Self {
        PatchStreamParams {
            patch,
            batch_size,
            seed,
            pool_patches: DEFAULT_POOL_PATCHES,
            pool_bytes: DEFAULT_POOL_BYTES,
            images_per_block: DEFAULT_IMAGES_PER_BLOCK,
            window: DEFAULT_WINDOW,
            heldout_patches: 0,
        }
    }
}

/// Rows at the bottom of an image of `height` rows kept for held-out patches
/// (0 when the image is too small to give both training and held-out patches):
/// a twentieth of the height, at least one patch — little enough that the
/// training data hardly shrinks, enough for a few thousand distinct patches.
pub fn heldout_rows(height: usize, patch: usize) -> usize {
    let rows = height.div_ceil(20).max(patch);
    if height >= rows + patch { rows } else { 0 }
}

/// Tags of the independent random streams (high byte of the stream id).
const TAG_PASS: u64 = 1;
const TAG_IMAGE: u64 = 2;
const TAG_SHUFFLE: u64 = 3;
const TAG_HELDOUT: u64 = 4;
const TAG_INIT: u64 = 5;
const TAG_ZCA: u64 = 6;
const TAG_PROBE: u64 = 7;

/// The random stream a run fits its ZCA transform with.
pub fn zca_rng(seed: u64) -> ChaCha8Rng {
    stream(seed, TAG_ZCA, 0)
}

fn stream(seed: u64, tag: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((tag << 56) | (index & ((1 << 56) - 1)));
    rng
}

/// One block: the positions of its patches in shuffled order, which rank
/// holds each, and this rank's patches (one column each, in that order).
struct Block {
    /// Owner rank of each position.
    owner: Vec<u32>,
    /// Column of `patches` of each position this rank holds.
    column: Vec<u32>,
    /// This rank's patches.
    patches: DMatrix<f32>,
}

/// What one rank draws of a block before the ranks agree on its order: the
/// block's images and, for those this rank owns, their kept patches.
struct LocalBlock {
    images: Vec<usize>,
    /// Kept patches per image (0 for images of other ranks).
    counts: Vec<usize>,
    /// Their values, per image.
    data: Vec<Vec<f32>>,
}

/// What the background builder shares with the stream.
struct Source {
    set: Arc<ImageSet>,
    pre: Arc<Preprocessor>,
    params: PatchStreamParams,
    /// Patch length `P²·channels`.
    dim: usize,
    /// Training images (large enough for a patch above their held-out rows).
    usable: Vec<usize>,
    /// Held-out rows per image (0 without held-out patches).
    heldout: Vec<usize>,
    /// Patches per block.
    block_patches: usize,
    /// Images per block (`images_per_block`, at most the number of images).
    per_block: usize,
    /// Positions drawn per patch kept: 1.2 / (fraction of non-flat patches),
    /// estimated once from the images of the first block (so a pure function
    /// of the set and the seed), between 1.25 and 16.
    oversample: f64,
    /// This process's rank and the job's size: images of other ranks are
    /// neither decoded nor drawn from.
    rank: usize,
    size: usize,
}

impl Source {
    /// Image at position `s` of the infinite sequence of passes.
    fn image_at(&self, s: u64, perm: &mut (u64, Vec<usize>)) -> usize {
        let n = self.usable.len() as u64;
        let pass = s / n;
        if perm.0 != pass || perm.1.is_empty() {
            let mut order = self.usable.clone();
            order.shuffle(&mut stream(self.params.seed, TAG_PASS, pass));
            *perm = (pass, order);
        }
        perm.1[(s % n) as usize]
    }

    /// Training positions of image `i` (top-left corners).
    fn positions(&self, i: usize) -> (usize, usize) {
        let (w, h) = self.set.dims(i);
        let p = self.params.patch;
        let rows = h.saturating_sub(self.heldout[i]);
        if w < p || rows < p {
            return (0, 0);
        }
        (w - p + 1, rows - p + 1)
    }

    /// Decodes (or fetches from the cache) image `i` as preprocessing wants
    /// it; `None` when the file cannot be decoded. The set remembers such a
    /// file (it is never decoded again, so skipping it is deterministic) and
    /// reports it once through its `take_warnings`.
    fn image(&self, i: usize) -> Result<Option<Arc<super::Image>>> {
        let key = self.pre.image_key();
        match self
            .set
            .load_derived(i, key, |raw| Ok(self.pre.forward_image(raw)?.0))
        {
            Ok(img) => Ok(Some(img)),
            Err(_) if self.set.is_bad(i) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The preprocessed, non-flat patches among `draws` positions of image
    /// `i` drawn uniformly by `rng` (`x in 0..nx`, `y in y0..y0 + ny`),
    /// appended to `out`. Flat patches are dropped, not redrawn: an image
    /// then contributes in proportion to its *non-flat* area, as when every
    /// valid non-flat position of the folder is equally likely.
    fn draw(
        &self,
        i: usize,
        draws: usize,
        (nx, y0, ny): (usize, usize, usize),
        rng: &mut ChaCha8Rng,
        out: &mut Vec<f32>,
    ) -> Result<usize> {
        if draws == 0 || nx == 0 || ny == 0 {
            return Ok(0);
        }
        let Some(img) = self.image(i)? else {
            return Ok(0);
        };
        let (p, d) = (self.params.patch, self.dim);
        let mut got = 0;
        let mut left = draws;
        while left > 0 {
            let now = left.min(4096);
            left -= now;
            let mut batch = DMatrix::<f32>::zeros(d, now);
            for col in batch.as_mut_slice().chunks_exact_mut(d) {
                let x = rng.random_range(0..nx);
                let y = y0 + rng.random_range(0..ny);
                super::patches::extract(&img, x, y, p, col);
            }
            let stats = self.pre.forward_patches(&mut batch)?;
            for (col, s) in batch.as_slice().chunks_exact(d).zip(&stats) {
                if s.kept {
                    out.extend_from_slice(col);
                    got += 1;
                }
            }
        }
        Ok(got)
    }

    /// Whether this rank decodes image `i`.
    fn owns(&self, i: usize) -> bool {
        owner_of(i, self.size) == self.rank
    }

    /// This rank's part of block `b`: the patches of the images it owns
    /// (each image's draws are a pure function of the seed, `b` and its slot).
    fn build_local(&self, b: u64) -> Result<LocalBlock> {
        let g = self.per_block as u64;
        let mut perm = (u64::MAX, Vec::new());
        let images: Vec<usize> = (0..g)
            .map(|j| self.image_at(b * g + j, &mut perm))
            .collect();
        let sizes: Vec<(usize, usize)> = images.iter().map(|&i| self.positions(i)).collect();
        let total: f64 = sizes.iter().map(|&(nx, ny)| (nx * ny) as f64).sum();
        let k = self.block_patches;
        // Positions drawn: enough that about `k` survive the flat-patch test.
        let draws = (k as f64 * self.oversample).ceil();
        let mut counts = Vec::with_capacity(images.len());
        let mut data = Vec::with_capacity(images.len());
        let mut cumulative = 0.0;
        let mut assigned = 0usize;
        for (j, (&i, &(nx, ny))) in images.iter().zip(&sizes).enumerate() {
            cumulative += (nx * ny) as f64;
            let upto = (draws * cumulative / total.max(1.0)).round() as usize;
            let quota = upto - assigned.min(upto);
            assigned += quota;
            let mut patches = Vec::new();
            if self.owns(i) {
                let mut rng = stream(self.params.seed, TAG_IMAGE, b * g + j as u64);
                self.draw(i, quota, (nx, 0, ny), &mut rng, &mut patches)?;
            }
            counts.push(patches.len() / self.dim);
            data.push(patches);
        }
        Ok(LocalBlock {
            images,
            counts,
            data,
        })
    }

    /// Block `b` from this rank's part: the ranks add up how many patches
    /// each image kept (one small allreduce), which fixes the block's
    /// shuffled order everywhere; this rank keeps its own patches of it.
    fn finish(&self, b: u64, local: LocalBlock, comm: &dyn Communicator) -> Result<Block> {
        let mut counts: Vec<i64> = local.counts.iter().map(|&c| c as i64).collect();
        comm.all_reduce_sum_i64(&mut counts)?;
        let n: usize = counts.iter().map(|&c| c as usize).sum();
        if n == 0 {
            let names: Vec<&str> = local.images.iter().map(|&i| self.set.name(i)).collect();
            return Err(Error::Data(format!(
                "no usable patch in images {} (all flat, below min_norm, or unreadable)",
                names.join(", ")
            )));
        }
        let mut offsets = Vec::with_capacity(counts.len());
        let mut acc = 0usize;
        for &c in &counts {
            offsets.push(acc);
            acc += c as usize;
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut stream(self.params.seed, TAG_SHUFFLE, b));
        // A uniform subsample of the surplus keeps every image's share.
        order.truncate(self.block_patches);
        let d = self.dim;
        let mut owner = Vec::with_capacity(order.len());
        let mut column = Vec::with_capacity(order.len());
        let mut mine = Vec::new();
        for &g in &order {
            let slot = offsets.partition_point(|&o| o <= g) - 1;
            let o = owner_of(local.images[slot], self.size);
            owner.push(o as u32);
            if o == self.rank {
                column.push((mine.len() / d) as u32);
                let at = (g - offsets[slot]) * d;
                mine.extend_from_slice(&local.data[slot][at..at + d]);
            } else {
                column.push(u32::MAX);
            }
        }
        let held = mine.len() / d;
        Ok(Block {
            owner,
            column,
            patches: DMatrix::from_vec(d, held, mine),
        })
    }

    /// The oversampling factor, from probes of the first block's images
    /// (each rank probes the images it owns; the kept counts are added up).
    fn estimate_oversample(&self, comm: &dyn Communicator) -> Result<f64> {
        const PROBES: usize = 512;
        let mut perm = (u64::MAX, Vec::new());
        let (mut drawn, mut kept) = (0usize, 0i64);
        let mut scratch = Vec::new();
        for j in 0..self.per_block as u64 {
            let i = self.image_at(j, &mut perm);
            drawn += PROBES;
            if !self.owns(i) {
                continue;
            }
            let (nx, ny) = self.positions(i);
            let mut rng = stream(self.params.seed, TAG_PROBE, j);
            kept += self.draw(i, PROBES, (nx, 0, ny), &mut rng, &mut scratch)? as i64;
            scratch.clear();
        }
        let mut total = [kept];
        comm.all_reduce_sum_i64(&mut total)?;
        let fraction = total[0] as f64 / drawn.max(1) as f64;
        Ok((1.2 / fraction.max(1e-9)).clamp(1.25, 16.0))
    }

    fn take_warnings(&self) -> Vec<String> {
        self.set.take_warnings()
    }
}

/// Deterministic minibatches of preprocessed patches from an [`ImageSet`],
/// decoded block by block in the background (see the module docs).
///
/// ```
/// use std::sync::Arc;
/// use lca::image::{ImageSet, PatchStream, PatchStreamParams, Preprocessing, Preprocessor};
/// let settings = Preprocessing::default();
/// let set = Arc::new(ImageSet::embedded(settings.load_options()).unwrap());
/// let pre = Arc::new(Preprocessor::new(settings).unwrap());
/// let params = PatchStreamParams::new(8, 64, 7).pool_patches(4096);
/// let mut stream = PatchStream::new(set.clone(), pre.clone(), params).unwrap();
/// let x = stream.batch(3).unwrap();
/// assert_eq!((x.nrows(), x.ncols()), (64, 64));
/// // A fresh stream (as after a resume) gives the same batch for the same step.
/// let mut again = PatchStream::new(set, pre, params).unwrap();
/// assert_eq!(again.batch(3).unwrap(), x);
/// ```
pub struct PatchStream<'c> {
    source: Arc<Source>,
    /// Steps between two consecutive blocks entering the window.
    steps_per_block: u64,
    /// Built blocks, by index (at most `window` of them).
    blocks: Vec<(u64, Arc<Block>)>,
    /// The block being built in the background (this rank's part of it).
    pending: Option<(u64, Receiver<Result<LocalBlock>>)>,
    /// The job's ranks (one process: [`SINGLE_PROCESS`]).
    comm: &'c dyn Communicator,
}

impl PatchStream<'static> {
    /// Checks the settings against the set and prepares the first pass.
    pub fn new(
        set: Arc<ImageSet>,
        pre: Arc<Preprocessor>,
        params: PatchStreamParams,
    ) -> Result<Self> {
        Self::shared(set, pre, params, &SINGLE_PROCESS)
    }
}

impl<'c> PatchStream<'c> {
    /// [`PatchStream::new`] for a job of several ranks: this rank decodes
    /// only the images it owns and [`PatchStream::batch`] returns its share
    /// of each batch (see the module docs). Every rank must make the same
    /// calls in the same order (they exchange data).
    pub fn shared(
        set: Arc<ImageSet>,
        pre: Arc<Preprocessor>,
        params: PatchStreamParams,
        comm: &'c dyn Communicator,
    ) -> Result<Self> {
        let settings = pre.settings();
        let opts = set.options();
        if opts.color != settings.color || opts.downscale != settings.downscale {
            return Err(Error::setting(
                "preprocessing",
                format!(
                    "images were loaded with color={} downscale={} but preprocessing expects color={} downscale={}",
                    opts.color, opts.downscale, settings.color, settings.downscale
                ),
            ));
        }
        let p = params.patch;
        set.check_patch(p)?; // its warnings were shown when the set was opened
        if params.batch_size == 0 || params.window == 0 || params.images_per_block == 0 {
            return Err(Error::setting(
                "batch_size",
                "batch size, window and images per block must be at least 1",
            ));
        }
        let dim = p * p * set.channels();
        let heldout: Vec<usize> = (0..set.len())
            .map(|i| {
                if params.heldout_patches == 0 {
                    0
                } else {
                    heldout_rows(set.dims(i).1, p)
                }
            })
            .collect();
        let usable: Vec<usize> = (0..set.len())
            .filter(|&i| {
                let (w, h) = set.dims(i);
                !set.is_bad(i) && w >= p && h >= heldout[i] + p
            })
            .collect();
        if usable.is_empty() {
            return Err(Error::setting(
                "patch_size",
                format!("no image holds a {p}×{p} training patch"),
            ));
        }
        let by_bytes = params.pool_bytes / (dim * std::mem::size_of::<f32>()).max(1);
        // A block feeds `window` steps' shares at least once.
        let block_patches = params.pool_patches.min(by_bytes).max(params.batch_size);
        let steps_per_block = (block_patches / params.batch_size).max(1) as u64;
        let per_block = params.images_per_block.min(usable.len());
        let source = Source {
            set,
            pre,
            params,
            dim,
            usable,
            heldout,
            block_patches,
            per_block,
            oversample: 1.0,
            rank: comm.rank(),
            size: comm.size(),
        };
        let mut source = source;
        source.oversample = source.estimate_oversample(comm)?;
        Ok(PatchStream {
            source: Arc::new(source),
            steps_per_block,
            blocks: Vec::new(),
            pending: None,
            comm,
        })
    }

    /// Patch length `P²·channels`.
    pub fn dim(&self) -> usize {
        self.source.dim
    }

    /// Patches per block.
    pub fn block_patches(&self) -> usize {
        self.source.block_patches
    }

    /// Steps between two blocks entering the window.
    pub fn steps_per_block(&self) -> u64 {
        self.steps_per_block
    }

    /// Warnings (unreadable images, skipped) since the last call.
    pub fn take_warnings(&self) -> Vec<String> {
        self.source.take_warnings()
    }

    /// Returns block `b`, building it (or waiting for its background build).
    fn block(&mut self, b: u64) -> Result<Arc<Block>> {
        if let Some((_, blk)) = self.blocks.iter().find(|(i, _)| *i == b) {
            return Ok(Arc::clone(blk));
        }
        let local = match self.pending.take() {
            Some((i, rx)) if i == b => rx
                .recv()
                .unwrap_or_else(|_| Err(Error::Internal("patch builder thread panicked".into())))?,
            other => {
                self.pending = other;
                self.source.build_local(b)?
            }
        };
        // On this thread: the exchange is a collective every rank makes here.
        let blk = Arc::new(self.source.finish(b, local, self.comm)?);
        self.blocks.push((b, Arc::clone(&blk)));
        Ok(blk)
    }

    /// Starts building block `b` in the background unless it is built or pending.
    fn prefetch(&mut self, b: u64) {
        if self.blocks.iter().any(|(i, _)| *i == b)
            || self.pending.as_ref().is_some_and(|(i, _)| *i == b)
        {
            return;
        }
        let (tx, rx) = channel();
        let source = Arc::clone(&self.source);
        std::thread::spawn(move || {
            let _ = tx.send(source.build_local(b));
        });
        self.pending = Some((b, rx));
    }

    /// This rank's [`share`] of the minibatch of `step` (one patch per
    /// column; the whole batch on one process): an equal share of patches
    /// from each of the `window` blocks `b..b + window` where
    /// `b = step / steps_per_block`.
    pub fn batch(&mut self, step: u64) -> Result<DMatrix<f32>> {
        let w = self.source.params.window as u64;
        let s = self.steps_per_block;
        let bsz = self.source.params.batch_size;
        let first = step / s;
        // The batch's patches: (block, position in the block), in order.
        let mut picks: Vec<(Arc<Block>, usize)> = Vec::with_capacity(bsz);
        for c in first..first + w {
            let blk = self.block(c)?;
            // Block c sits at window position c - first; it entered at step
            // (c + 1 - w)·s (its life starts before 0 for the first blocks) and
            // takes share(pos) patches per step while at position pos.
            let pos = (c - first) as usize;
            let share = |p: usize| bsz / w as usize + usize::from(p < bsz % w as usize);
            let age = step + (w - 1) * s - c * s; // steps since it entered
            let mut offset = 0u64;
            let mut remaining = age;
            let mut p = w as usize - 1;
            while remaining > 0 {
                let seg = remaining.min(s);
                offset += seg * share(p) as u64;
                remaining -= seg;
                p = p.saturating_sub(1);
            }
            let n = blk.owner.len() as u64;
            for t in 0..share(pos) as u64 {
                picks.push((Arc::clone(&blk), ((offset + t) % n) as usize));
            }
        }
        let out = self.route(&picks)?;
        // Keep only the blocks still needed and build the next in the background.
        self.blocks.retain(|(i, _)| *i >= first);
        self.prefetch(first + w);
        Ok(out)
    }

    /// This rank's share of the batch `picks`: each patch goes from the rank
    /// that holds it to the rank that encodes it (one all-to-all).
    fn route(&self, picks: &[(Arc<Block>, usize)]) -> Result<DMatrix<f32>> {
        let d = self.source.dim;
        let m = picks.len();
        let (rank, size) = (self.comm.rank(), self.comm.size());
        fn column(d: usize, (blk, j): &(Arc<Block>, usize)) -> &[f32] {
            let c = blk.column[*j] as usize;
            &blk.patches.as_slice()[c * d..(c + 1) * d]
        }
        if size == 1 {
            let mut out = Vec::with_capacity(m * d);
            for p in picks {
                out.extend_from_slice(column(d, p));
            }
            return Ok(DMatrix::from_vec(d, m, out));
        }
        let owner = |(blk, j): &(Arc<Block>, usize)| blk.owner[*j] as usize;
        let mut send = Vec::new();
        let mut send_counts = vec![0usize; size];
        for (e, count) in send_counts.iter_mut().enumerate() {
            for p in &picks[share(m, e, size)] {
                if owner(p) == rank {
                    send.extend_from_slice(column(d, p));
                    *count += d;
                }
            }
        }
        let mine = &picks[share(m, rank, size)];
        let mut recv_counts = vec![0usize; size];
        for p in mine {
            recv_counts[owner(p)] += d;
        }
        let recv = self
            .comm
            .all_to_all_f32(&send, &send_counts, &recv_counts)?;
        let mut next: Vec<usize> = recv_counts
            .iter()
            .scan(0, |acc, &c| {
                let start = *acc;
                *acc += c;
                Some(start)
            })
            .collect();
        let mut out = Vec::with_capacity(mine.len() * d);
        for p in mine {
            let o = owner(p);
            out.extend_from_slice(&recv[next[o]..next[o] + d]);
            next[o] += d;
        }
        Ok(DMatrix::from_vec(d, mine.len(), out))
    }

    /// `n` patches for the initial dictionary, drawn from the first block
    /// (on every rank).
    pub fn initial_patches(&mut self, n: usize) -> Result<DMatrix<f32>> {
        let blk = self.block(0)?;
        let m = blk.owner.len();
        let mut rng = stream(self.source.params.seed, TAG_INIT, 0);
        let mut order: Vec<usize> = (0..m).collect();
        order.shuffle(&mut rng);
        let picks: Vec<usize> = (0..n).map(|j| order[j % m]).collect();
        let d = self.source.dim;
        let rank = self.comm.rank();
        let owners: Vec<usize> = picks.iter().map(|&p| blk.owner[p] as usize).collect();
        let mut mine = Vec::new();
        for (&p, &o) in picks.iter().zip(&owners) {
            if o == rank {
                let c = blk.column[p] as usize;
                mine.extend_from_slice(&blk.patches.as_slice()[c * d..(c + 1) * d]);
            }
        }
        gather_columns(self.comm, d, &owners, &mine)
    }

    /// The held-out patches: `heldout_patches` of them from the held-out rows
    /// of up to [`HELDOUT_IMAGES`] images spread over the set; `None` when no
    /// image has held-out rows or none were asked for.
    pub fn heldout(&self) -> Result<Option<DMatrix<f32>>> {
        let src = &self.source;
        let total = src.params.heldout_patches;
        let with_rows: Vec<usize> = (0..src.set.len()).filter(|&i| src.heldout[i] > 0).collect();
        if total == 0 || with_rows.is_empty() {
            return Ok(None);
        }
        let m = with_rows.len().min(HELDOUT_IMAGES);
        let chosen: Vec<usize> = (0..m).map(|j| with_rows[j * with_rows.len() / m]).collect();
        let p = src.params.patch;
        // Each rank draws from the images it owns; every rank gets them all.
        let mut data = Vec::new();
        let mut counts = Vec::with_capacity(chosen.len());
        for (j, &i) in chosen.iter().enumerate() {
            if !src.owns(i) {
                counts.push(0);
                continue;
            }
            let quota = total / m + usize::from(j < total % m);
            let (w, h) = src.set.dims(i);
            let rows = src.heldout[i];
            let mut rng = stream(src.params.seed, TAG_HELDOUT, j as u64);
            counts.push(src.draw(
                i,
                quota,
                (w - p + 1, h - rows, rows - p + 1),
                &mut rng,
                &mut data,
            )? as i64);
        }
        self.comm.all_reduce_sum_i64(&mut counts)?;
        let owners: Vec<usize> = chosen
            .iter()
            .zip(&counts)
            .flat_map(|(&i, &c)| std::iter::repeat_n(owner_of(i, src.size), c as usize))
            .collect();
        if owners.is_empty() {
            return Ok(None);
        }
        gather_columns(self.comm, src.dim, &owners, &data).map(Some)
    }
}
