//! Event-driven settling of one image's rate convolutional LCA: greedy
//! settling within segments ([`Schedule::Greedy`]) and the plain LCA
//! dynamics ([`Schedule::Dynamics`]); see the module documentation of
//! `rate` for how they work.

use multiversion::multiversion;

use super::correlate::{GramKernels, for_each_run};
use super::dictionary::ConvDictionary;
use super::geometry::{Axes, Geometry, edge_inv_norm2};
use super::planes::{Boundary, Planes};
use super::scatter::{correct_edges, scatter};
use super::settings::{ConvLca, Schedule};
use crate::neuron::{Threshold, Transfer};

/// Segments of the signal for greedy settling: a grid of `side`-wide blocks
/// along every axis of extent above 1 (the last blocks may be smaller),
/// each covering every filter, with a flag saying whether it may hold an
/// unsettled neuron.
struct Segments {
    /// Block extent along (depth, height, width).
    side: Axes,
    /// Blocks along each axis.
    grid: Axes,
    dirty: Vec<bool>,
    dirty_count: usize,
}

impl Segments {
    fn new(g: &Geometry, side: usize) -> Segments {
        let side = side.min(g.size.into_iter().max().unwrap_or(1)).max(1);
        let side = g.size.map(|n| side.min(n).max(1));
        let grid = [0, 1, 2].map(|a| g.size[a].div_ceil(side[a]));
        let n = grid.iter().product();
        Segments {
            side,
            grid,
            dirty: vec![true; n],
            dirty_count: n,
        }
    }

    fn mark_dirty(&mut self, s: usize) {
        if !self.dirty[s] {
            self.dirty[s] = true;
            self.dirty_count += 1;
        }
    }

    fn mark_clean(&mut self, s: usize) {
        if self.dirty[s] {
            self.dirty[s] = false;
            self.dirty_count -= 1;
        }
    }

    /// The positions of block `s` along each axis.
    fn block(&self, g: &Geometry, s: usize) -> [std::ops::Range<usize>; 3] {
        let [_, gh, gw] = self.grid;
        let index = [s / (gh * gw), s / gw % gh, s % gw];
        [0, 1, 2].map(|a| index[a] * self.side[a]..((index[a] + 1) * self.side[a]).min(g.size[a]))
    }

    /// Marks every segment the Gram window of position `at` reaches.
    fn touch_window(&mut self, g: &Geometry, at: Axes) {
        let mut ranges = [[(0usize, 0usize); 3]; 3];
        let mut counts = [0usize; 3];
        for a in 0..3 {
            let side = self.side[a];
            let (ranges, count) = (&mut ranges[a], &mut counts[a]);
            let start = at[a] as isize - g.radius(a) as isize;
            for_each_run(start, g.span(a), g.size[a], g.boundary, |_, i, n| {
                ranges[*count] = (i / side, (i + n - 1) / side);
                *count += 1;
            });
        }
        let [_, gh, gw] = self.grid;
        for &(z0, z1) in &ranges[0][..counts[0]] {
            for sz in z0..=z1 {
                for &(r0, r1) in &ranges[1][..counts[1]] {
                    for sr in r0..=r1 {
                        for &(c0, c1) in &ranges[2][..counts[2]] {
                            for sc in c0..=c1 {
                                self.mark_dirty((sz * gh + sr) * gw + sc);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Everything one image's solve works on, allocated once per image.
pub(super) struct ImageState<'a> {
    geometry: Geometry,
    dict: &'a ConvDictionary,
    gram: &'a GramKernels,
    transfer: Transfer,
    pub(super) schedule: Schedule,
    /// Absolute tolerance `tol·max|b|`.
    tol: f32,
    /// Equilibrium inputs `u_i = b_i − Σ_{j≠i} G_ij a_j`.
    input: Vec<f32>,
    /// Outputs `a`.
    pub(super) codes: Vec<f32>,
    /// Zero boundary: `1/‖atom_i‖²` of atoms cut by the edge (all 1 inside);
    /// `None` for the circular boundary, where every atom has unit norm.
    inv_norm2: Option<Vec<f32>>,
    segments: Segments,
    /// Dynamics only: the LCA potentials and a buffer for their outputs.
    dynamics: Option<DynamicsState>,
    /// Whether the last dynamics step moved every neuron by at most `tol`.
    settled: bool,
    pub(super) updates: u64,
}

struct DynamicsState {
    /// Membrane potentials `v` of the LCA.
    potential: Vec<f32>,
    /// Outputs `T(v)` of the step, before their changes are scattered.
    next: Vec<f32>,
}

impl<'a> ImageState<'a> {
    pub(super) fn new(
        dict: &'a ConvDictionary,
        gram: &'a GramKernels,
        lca: &ConvLca,
        drive: Planes,
    ) -> ImageState<'a> {
        let p = lca.params();
        let geometry = Geometry::new(dict, drive.extent(), p.boundary);
        let scale = drive.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let inv_norm2 = (p.boundary == Boundary::Zero).then(|| edge_inv_norm2(dict, &geometry));
        // The accelerated schedule gets here only where it does not apply:
        // it falls back to greedy settling.
        let schedule = match p.schedule {
            Schedule::Accelerated | Schedule::Splitting => Schedule::Greedy { segment: None },
            s => s,
        };
        let side = match schedule {
            Schedule::Greedy { segment } => {
                segment.unwrap_or(geometry.k.into_iter().max().unwrap_or(1))
            }
            Schedule::Dynamics { .. } | Schedule::Accelerated | Schedule::Splitting => {
                geometry.size.into_iter().max().unwrap_or(1)
            }
        };
        let dynamics = match schedule {
            Schedule::Dynamics { .. } => Some(DynamicsState {
                // The LCA starts at rest.
                potential: vec![0.0; drive.data.len()],
                next: vec![0.0; drive.data.len()],
            }),
            Schedule::Greedy { .. } | Schedule::Accelerated | Schedule::Splitting => None,
        };
        let n = drive.data.len();
        ImageState {
            geometry,
            dict,
            gram,
            transfer: lca.transfer(),
            schedule,
            tol: p.tol * scale,
            input: drive.data,
            codes: vec![0.0; n],
            inv_norm2,
            segments: Segments::new(&geometry, side),
            dynamics,
            settled: false,
            updates: 0,
        }
    }

    /// Starts from given outputs: their inhibition is scattered once.
    pub(super) fn warm_start(&mut self, start: &[f32]) {
        for (i, &a) in start.iter().enumerate() {
            if a != 0.0 {
                self.set_output(i, a);
            }
        }
        if let Some(dynamics) = &mut self.dynamics {
            // At equilibrium: v = b − (G − I)a (see `euler_step`).
            for (i, v) in dynamics.potential.iter_mut().enumerate() {
                let self_term = match &self.inv_norm2 {
                    Some(inv) if inv[i] > 0.0 => 1.0 - 1.0 / inv[i],
                    _ => 0.0,
                };
                *v = self.input[i] + self_term * self.codes[i];
            }
        }
    }

    pub(super) fn converged(&self) -> bool {
        match self.schedule {
            Schedule::Greedy { .. } | Schedule::Accelerated | Schedule::Splitting => {
                self.segments.dirty_count == 0
            }
            Schedule::Dynamics { .. } => self.settled,
        }
    }

    /// One sweep of greedy settling, or one step of the dynamics.
    pub(super) fn step(&mut self) {
        match self.schedule {
            Schedule::Greedy { .. } | Schedule::Accelerated | Schedule::Splitting => self.sweep(),
            Schedule::Dynamics { eta } => self.euler_step(eta),
        }
    }

    /// The fixed-point output of neuron `i` given its input.
    #[inline(always)]
    fn target(&self, i: usize) -> f32 {
        let t = self.transfer.value(self.input[i]);
        match &self.inv_norm2 {
            Some(inv) => t * inv[i],
            None => t,
        }
    }

    /// Visits every segment once; in each that may hold an unsettled neuron,
    /// settles the one farthest from its fixed point.
    fn sweep(&mut self) {
        let g = self.geometry;
        for s in 0..self.segments.dirty.len() {
            if !self.segments.dirty[s] {
                continue;
            }
            let (best, gap) = self.farthest(self.segments.block(&g, s));
            if gap <= self.tol {
                self.segments.mark_clean(s);
                continue;
            }
            let target = self.target(best);
            self.set_output(best, target);
            self.segments.touch_window(&g, g.position(best % g.plane()));
        }
    }

    /// The neuron of a block of positions (all filters) farthest from its
    /// fixed point, and that distance `|T(u_i) − a_i|`. Rows are reduced
    /// with vectorised kernels; only the winning row is searched for the index.
    fn farthest(&self, [slices, rows, cols]: [std::ops::Range<usize>; 3]) -> (usize, f32) {
        let g = &self.geometry;
        let soft = self.transfer.threshold == Threshold::Soft;
        let l = self.transfer.lambda;
        let block = RowBlock {
            maps: g.n_filters,
            plane: g.plane(),
            slices: slices.clone(),
            rows: rows.clone(),
            first: g.index([slices.start, rows.start, cols.start]),
            slice_stride: g.size[1] * g.size[2],
            row_stride: g.size[2],
            len: cols.len(),
        };
        let (best_start, best) = match (&self.inv_norm2, soft, self.transfer.nonneg) {
            (None, true, false) => farthest_row_soft(&self.input, &self.codes, &block, l),
            (None, true, true) => farthest_row_soft_nonneg(&self.input, &self.codes, &block, l),
            (Some(inv), true, false) => block.farthest_row(|s, e| {
                max_gap_soft_cut(&self.input[s..e], &self.codes[s..e], &inv[s..e], l)
            }),
            (Some(inv), true, true) => block.farthest_row(|s, e| {
                max_gap_soft_nonneg_cut(&self.input[s..e], &self.codes[s..e], &inv[s..e], l)
            }),
            _ => block.farthest_row(|start, end| {
                (start..end)
                    .map(|i| (self.target(i) - self.codes[i]).abs())
                    .fold(0.0f32, f32::max)
            }),
        };
        let offset = (best_start..best_start + cols.len())
            .position(|i| (self.target(i) - self.codes[i]).abs() == best)
            .unwrap_or(0);
        (best_start + offset, best)
    }

    /// Sets output `i` to `value` and scatters the change into the inputs of
    /// the neurons its atom overlaps (not its own).
    fn set_output(&mut self, i: usize, value: f32) {
        let delta = value - self.codes[i];
        if delta == 0.0 {
            return;
        }
        self.codes[i] = value;
        self.updates += 1;
        let g = self.geometry;
        let (m, at) = (i / g.plane(), g.position(i % g.plane()));
        scatter(&g, self.gram.row(m), &mut self.input, at, delta);
        let own_norm2 = match &self.inv_norm2 {
            Some(inv) => {
                correct_edges(&g, self.dict, &mut self.input, (m, at), delta);
                1.0 / inv[i]
            }
            None => 1.0,
        };
        // The scatter also inhibited the neuron itself by δ·‖atom‖².
        self.input[i] += delta * own_norm2;
    }

    /// One forward-Euler step of the LCA dynamics for every neuron:
    /// `v ← v + η(b − v − (G − I)a)`, `a = T(v)`, where `b − (G − I)a =
    /// u + (1 − ‖atom‖²)a` from the inputs kept; then only the output changes
    /// are scattered.
    fn euler_step(&mut self, eta: f32) {
        let mut dynamics = self.dynamics.take().expect("dynamics state");
        let mut max_move = 0.0f32;
        for (i, v) in dynamics.potential.iter_mut().enumerate() {
            let self_term = match &self.inv_norm2 {
                Some(inv) if inv[i] > 0.0 => 1.0 - 1.0 / inv[i],
                _ => 0.0,
            };
            let dv = eta * (self.input[i] + self_term * self.codes[i] - *v);
            max_move = max_move.max(dv.abs());
            *v += dv;
        }
        self.transfer.apply(&dynamics.potential, &mut dynamics.next);
        for (i, &a) in dynamics.next.iter().enumerate() {
            if a != self.codes[i] {
                self.set_output(i, a);
            }
        }
        self.settled = max_move <= self.tol * eta;
        self.dynamics = Some(dynamics);
    }
}

/// The rows of one segment: every map, the segment's slices and rows, a run
/// of `len` columns each.
struct RowBlock {
    maps: usize,
    plane: usize,
    slices: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
    /// Flat index of the segment's first cell within a map.
    first: usize,
    slice_stride: usize,
    row_stride: usize,
    len: usize,
}

impl RowBlock {
    /// The first row (in map, slice, row order) with the largest
    /// `row_max(start, end)`, as (its first index, that maximum); `(0, -1)`
    /// for no rows.
    #[inline(always)]
    fn farthest_row(&self, mut row_max: impl FnMut(usize, usize) -> f32) -> (usize, f32) {
        let (mut best_start, mut best) = (0usize, -1.0f32);
        for m in 0..self.maps {
            for z in 0..self.slices.len() {
                for y in 0..self.rows.len() {
                    let start =
                        m * self.plane + self.first + z * self.slice_stride + y * self.row_stride;
                    let v = row_max(start, start + self.len);
                    if v > best {
                        (best_start, best) = (start, v);
                    }
                }
            }
        }
        (best_start, best)
    }
}

/// [`RowBlock::farthest_row`] of `|S_λ(u_i) − a_i|` (soft threshold): one
/// call per segment, each row reduced in 8 independent lanes so it
/// vectorises.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn farthest_row_soft(u: &[f32], a: &[f32], block: &RowBlock, l: f32) -> (usize, f32) {
    let gap = |u: f32, a: f32| (((u - l).max(0.0) - (-u - l).max(0.0)) - a).abs();
    block.farthest_row(|start, end| row_max(u, a, start, end, gap))
}

/// [`farthest_row_soft`] for `|max(u_i − λ, 0) − a_i|` (non-negative soft threshold).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn farthest_row_soft_nonneg(u: &[f32], a: &[f32], block: &RowBlock, l: f32) -> (usize, f32) {
    let gap = |u: f32, a: f32| ((u - l).max(0.0) - a).abs();
    block.farthest_row(|start, end| row_max(u, a, start, end, gap))
}

/// `max gap(u_i, a_i)` over `start..end`. A row of at most 16 cells (a
/// segment's width: `k`) is read as one 16-wide vector with the cells past
/// its end masked out, instead of an 8-wide chunk and a scalar tail.
#[inline(always)]
fn row_max(u: &[f32], a: &[f32], start: usize, end: usize, gap: impl Fn(f32, f32) -> f32) -> f32 {
    const WIDE: usize = 16;
    let len = end - start;
    if len > WIDE || start + WIDE > u.len() {
        return lane_max(&u[start..end], &a[start..end], gap);
    }
    let (u, a) = (&u[start..start + WIDE], &a[start..start + WIDE]);
    let mut lanes = [0.0f32; WIDE];
    for j in 0..WIDE {
        let v = gap(u[j], a[j]);
        lanes[j] = if j < len { v } else { 0.0 };
    }
    lanes.iter().fold(0.0f32, |m, &v| if v > m { v } else { m })
}

/// Zero boundary: `max_i |S_λ(u_i)/‖atom_i‖² − a_i|` (soft threshold, atoms
/// cut by the edges; `inv` holds `1/‖atom_i‖²`), the arithmetic of
/// [`ImageState::target`], vectorised (the scalar loop took 70 % of a 1-D
/// solve).
#[multiversion(targets("x86_64+avx2+fma"))]
fn max_gap_soft_cut(u: &[f32], a: &[f32], inv: &[f32], l: f32) -> f32 {
    let gap = |u: f32, a: f32, inv: f32| (((u - l).max(0.0) - (-u - l).max(0.0)) * inv - a).abs();
    lane_max3(u, a, inv, gap)
}

/// Zero boundary: `max_i |max(u_i − λ, 0)/‖atom_i‖² − a_i|`.
#[multiversion(targets("x86_64+avx2+fma"))]
fn max_gap_soft_nonneg_cut(u: &[f32], a: &[f32], inv: &[f32], l: f32) -> f32 {
    lane_max3(u, a, inv, |u, a, inv| ((u - l).max(0.0) * inv - a).abs())
}

/// [`lane_max`] of a gap that also reads `1/‖atom_i‖²`.
#[inline(always)]
fn lane_max3(u: &[f32], a: &[f32], inv: &[f32], gap: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (uc, ac, ic) = (u.chunks_exact(8), a.chunks_exact(8), inv.chunks_exact(8));
    let (ur, ar, ir) = (uc.remainder(), ac.remainder(), ic.remainder());
    for ((u8, a8), i8) in uc.zip(ac).zip(ic) {
        for j in 0..8 {
            let v = gap(u8[j], a8[j], i8[j]);
            lanes[j] = if v > lanes[j] { v } else { lanes[j] };
        }
    }
    for (j, ((&u, &a), &i)) in ur.iter().zip(ar).zip(ir).enumerate() {
        let v = gap(u, a, i);
        lanes[j] = if v > lanes[j] { v } else { lanes[j] };
    }
    lanes.iter().fold(0.0f32, |m, &v| m.max(v))
}

#[inline(always)]
fn lane_max(u: &[f32], a: &[f32], gap: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (uc, ac) = (u.chunks_exact(8), a.chunks_exact(8));
    let (ur, ar) = (uc.remainder(), ac.remainder());
    for (u8, a8) in uc.zip(ac) {
        for j in 0..8 {
            let v = gap(u8[j], a8[j]);
            lanes[j] = if v > lanes[j] { v } else { lanes[j] };
        }
    }
    for (j, (&u, &a)) in ur.iter().zip(ar).enumerate() {
        let v = gap(u, a);
        lanes[j] = if v > lanes[j] { v } else { lanes[j] };
    }
    lanes.iter().fold(0.0f32, |m, &v| m.max(v))
}
