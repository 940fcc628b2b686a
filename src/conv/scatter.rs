//! Scattering one coefficient's change into the inputs of the neurons it
//! overlaps, through the Gram kernels: the inhibition of the event-driven
//! rate schedules and of the spiking network.

use multiversion::multiversion;

use super::correlate::for_each_run;
use super::dictionary::ConvDictionary;
use super::geometry::Geometry;
use super::planes::Boundary;

/// `u[n, y + Δ] −= δ·G_mn(Δ)` over the Gram window of `(y, x)` for every
/// filter `n`; `gram_row` is [`GramKernels::row`] of `m`.
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn scatter(
    g: &Geometry,
    gram_row: &[f32],
    input: &mut [f32],
    (y, x): (usize, usize),
    delta: f32,
) {
    scatter_with(g, gram_row, input, (y, x), |u, t| *u -= delta * t);
}

/// Applies `apply(&mut u[n, y + Δ], tap)` for every tap of the Gram window
/// of `(y, x)` (wrapped or clipped by the boundary): the one walk over a
/// coefficient's neighbourhood, shared by the float scatter and the integer
/// one of the fixed-point spiking network.
#[inline(always)]
pub(super) fn scatter_with<T: Copy>(
    g: &Geometry,
    gram_row: &[T],
    input: &mut [T],
    (y, x): (usize, usize),
    apply: impl Fn(&mut T, T),
) {
    let r = g.radius() as isize;
    let span = 2 * g.radius() + 1;
    // Both axes' pieces are collected first, so the loops below hold no
    // closure call: a closure is compiled for the baseline target even when
    // its caller is multiversioned (it halved the integer scatter's speed).
    let (cols, n_cols) = window_runs(x as isize - r, span, g.width, g.boundary);
    let (rows, n_rows) = window_runs(y as isize - r, span, g.height, g.boundary);
    let (col_runs, row_runs) = (&cols[..n_cols], &rows[..n_rows]);
    let plane = g.plane();
    let w = g.width;
    for (kernel, u) in gram_row
        .chunks_exact(span * span)
        .zip(input.chunks_exact_mut(plane))
    {
        for &(roff, row, rows) in row_runs {
            for j in 0..rows {
                let taps = &kernel[(roff + j) * span..(roff + j + 1) * span];
                let urow = &mut u[(row + j) * w..(row + j + 1) * w];
                for &(off, i, n) in col_runs {
                    for (ui, &t) in urow[i..i + n].iter_mut().zip(&taps[off..off + n]) {
                        apply(ui, t);
                    }
                }
            }
        }
    }
}

/// The pieces `(offset, index, len)` of a window along one axis
/// ([`for_each_run`]) and their number: a Gram window, at most `2·size − 1`
/// cells, wraps into at most three.
#[inline(always)]
fn window_runs(
    start: isize,
    len: usize,
    size: usize,
    boundary: Boundary,
) -> ([(usize, usize, usize); 3], usize) {
    let mut runs = [(0usize, 0usize, 0usize); 3];
    let mut n = 0;
    for_each_run(start, len, size, boundary, |off, i, count| {
        runs[n] = (off, i, count);
        n += 1;
    });
    (runs, n)
}

/// Zero boundary: the part of the Gram kernels [`scatter`] applied that
/// lies outside the image. For every pixel of coefficient `(m, y, x)`'s atom
/// that falls outside, adds back `δ·D_m[c, t]·D_n[c, t']` to every
/// coefficient whose atom covers that pixel.
pub(super) fn correct_edges(
    g: &Geometry,
    dict: &ConvDictionary,
    input: &mut [f32],
    (m, y, x): (usize, usize, usize),
    delta: f32,
) {
    let (k, o) = (g.k as isize, g.origin as isize);
    let (h, w) = (g.height as isize, g.width as isize);
    let (y, x) = (y as isize, x as isize);
    let inside = |py: isize, px: isize| py >= 0 && py < h && px >= 0 && px < w;
    if inside(y - o, x - o) && inside(y - o + k - 1, x - o + k - 1) {
        return;
    }
    for ty in 0..k {
        for tx in 0..k {
            let (py, px) = (y + ty - o, x + tx - o);
            if inside(py, px) {
                continue;
            }
            for c in 0..dict.channels() {
                let weight = delta * dict.kernel(m, c)[(ty * k + tx) as usize];
                if weight == 0.0 {
                    continue;
                }
                for n in 0..g.n_filters {
                    let kernel = dict.kernel(n, c);
                    let u = &mut input[n * g.plane()..(n + 1) * g.plane()];
                    // Coefficients (by, bx) = (py − t'y + o, px − t'x + o) inside the grid.
                    for sy in 0..k {
                        let by = py - sy + o;
                        if by < 0 || by >= h {
                            continue;
                        }
                        for sx in 0..k {
                            let bx = px - sx + o;
                            if bx < 0 || bx >= w {
                                continue;
                            }
                            u[(by * w + bx) as usize] += weight * kernel[(sy * k + sx) as usize];
                        }
                    }
                }
            }
        }
    }
}
