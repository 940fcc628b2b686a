//! Event-driven settling of one image's rate convolutional LCA: greedy
//! settling within segments ([`Schedule::Greedy`]) and the plain LCA
//! dynamics ([`Schedule::Dynamics`]); see the module documentation of
//! `rate` for how they work.

use multiversion::multiversion;

use super::correlate::{GramKernels, for_each_run};
use super::dictionary::ConvDictionary;
use super::geometry::{Geometry, edge_inv_norm2};
use super::planes::{Boundary, Planes};
use super::rate::{ConvLca, Schedule};
use super::scatter::{correct_edges, scatter};
use crate::neuron::{Threshold, Transfer};

/// Segments of the image for greedy settling: a grid of `side × side` pixel
/// blocks (the last row and column of blocks may be smaller), each covering
/// every filter, with a flag saying whether it may hold an unsettled neuron.
struct Segments {
    side: usize,
    cols: usize,
    dirty: Vec<bool>,
    dirty_count: usize,
}

impl Segments {
    fn new(g: &Geometry, side: usize) -> Segments {
        let side = side.min(g.height.max(g.width)).max(1);
        let rows = g.height.div_ceil(side);
        let cols = g.width.div_ceil(side);
        Segments {
            side,
            cols,
            dirty: vec![true; rows * cols],
            dirty_count: rows * cols,
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

    /// Marks every segment the Gram window of pixel `(y, x)` reaches.
    fn touch_window(&mut self, g: &Geometry, y: usize, x: usize) {
        let r = g.radius() as isize;
        let span = 2 * g.radius() + 1;
        let side = self.side;
        let mut row_range = [(0usize, 0usize); 3];
        let mut n_row = 0;
        for_each_run(y as isize - r, span, g.height, g.boundary, |_, i, n| {
            row_range[n_row] = (i / side, (i + n - 1) / side);
            n_row += 1;
        });
        let mut col_range = [(0usize, 0usize); 3];
        let mut n_col = 0;
        for_each_run(x as isize - r, span, g.width, g.boundary, |_, i, n| {
            col_range[n_col] = (i / side, (i + n - 1) / side);
            n_col += 1;
        });
        for &(r0, r1) in &row_range[..n_row] {
            for sr in r0..=r1 {
                for &(c0, c1) in &col_range[..n_col] {
                    for sc in c0..=c1 {
                        self.mark_dirty(sr * self.cols + sc);
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
        let geometry = Geometry::new(dict, drive.height, drive.width, p.boundary);
        let scale = drive.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let inv_norm2 = (p.boundary == Boundary::Zero).then(|| edge_inv_norm2(dict, &geometry));
        // The accelerated schedule gets here only where it does not apply:
        // it falls back to greedy settling.
        let schedule = match p.schedule {
            Schedule::Accelerated | Schedule::Splitting => Schedule::Greedy { segment: None },
            s => s,
        };
        let side = match schedule {
            Schedule::Greedy { segment } => segment.unwrap_or(geometry.k),
            Schedule::Dynamics { .. } | Schedule::Accelerated | Schedule::Splitting => {
                geometry.height.max(geometry.width)
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
        let side = self.segments.side;
        for s in 0..self.segments.dirty.len() {
            if !self.segments.dirty[s] {
                continue;
            }
            let (sr, sc) = (s / self.segments.cols, s % self.segments.cols);
            let rows = sr * side..((sr + 1) * side).min(g.height);
            let cols = sc * side..((sc + 1) * side).min(g.width);
            let (best, gap) = self.farthest(rows, cols);
            if gap <= self.tol {
                self.segments.mark_clean(s);
                continue;
            }
            let target = self.target(best);
            self.set_output(best, target);
            let p = best % g.plane();
            self.segments.touch_window(&g, p / g.width, p % g.width);
        }
    }

    /// The neuron of a block of pixels (all filters) farthest from its
    /// fixed point, and that distance `|T(u_i) − a_i|`. Rows are reduced
    /// with vectorised kernels; only the winning row is searched for the index.
    fn farthest(&self, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) -> (usize, f32) {
        let g = &self.geometry;
        let (mut best_start, mut best) = (0usize, -1.0f32);
        let soft = self.transfer.threshold == Threshold::Soft;
        let l = self.transfer.lambda;
        for m in 0..g.n_filters {
            for y in rows.clone() {
                let start = m * g.plane() + y * g.width + cols.start;
                let end = start + cols.len();
                let (u, a) = (&self.input[start..end], &self.codes[start..end]);
                let row_max = match (&self.inv_norm2, soft, self.transfer.nonneg) {
                    (None, true, false) => max_gap_soft(u, a, l),
                    (None, true, true) => max_gap_soft_nonneg(u, a, l),
                    _ => (start..end)
                        .map(|i| (self.target(i) - self.codes[i]).abs())
                        .fold(0.0f32, f32::max),
                };
                if row_max > best {
                    (best_start, best) = (start, row_max);
                }
            }
        }
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
        let (m, p) = (i / g.plane(), i % g.plane());
        let (y, x) = (p / g.width, p % g.width);
        scatter(&g, self.gram.row(m), &mut self.input, (y, x), delta);
        let own_norm2 = match &self.inv_norm2 {
            Some(inv) => {
                correct_edges(&g, self.dict, &mut self.input, (m, y, x), delta);
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

/// `max_i |S_λ(u_i) − a_i|` (soft threshold), in 8 independent lanes so
/// the reduction vectorises.
#[multiversion(targets("x86_64+avx2+fma"))]
fn max_gap_soft(u: &[f32], a: &[f32], l: f32) -> f32 {
    let gap = |u: f32, a: f32| (((u - l).max(0.0) - (-u - l).max(0.0)) - a).abs();
    lane_max(u, a, gap)
}

/// `max_i |max(u_i − λ, 0) − a_i|` (non-negative soft threshold).
#[multiversion(targets("x86_64+avx2+fma"))]
fn max_gap_soft_nonneg(u: &[f32], a: &[f32], l: f32) -> f32 {
    lane_max(u, a, |u, a| ((u - l).max(0.0) - a).abs())
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
