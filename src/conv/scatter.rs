//! Scattering one coefficient's change into the inputs of the neurons it
//! overlaps, through the Gram kernels: the inhibition of the event-driven
//! rate schedules and of the spiking network.

use multiversion::multiversion;

use super::correlate::window_runs;
use super::dictionary::ConvDictionary;
use super::geometry::{Axes, Geometry};

/// `u[n, p + Δ] −= δ·G_mn(Δ)` over the Gram window of position `p` for
/// every filter `n`; `gram_row` is [`GramKernels::row`] of `m`.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub(super) fn scatter(g: &Geometry, gram_row: &[f32], input: &mut [f32], at: Axes, delta: f32) {
    scatter_with(g, gram_row, input, at, |u, t| *u -= delta * t);
}

/// Applies `apply(&mut u[n, p + Δ], tap)` for every tap of the Gram window
/// of position `p` (wrapped or clipped by the boundary): the one walk over a
/// coefficient's neighbourhood, shared by the float scatter and the integer
/// one of the fixed-point spiking network. Slices, then rows, then runs of
/// columns: 2-D windows (one slice) are walked as they always were.
#[inline(always)]
pub(super) fn scatter_with<T: Copy>(
    g: &Geometry,
    gram_row: &[T],
    input: &mut [T],
    [z, y, x]: Axes,
    apply: impl Fn(&mut T, T),
) {
    let [sd, sh, sw] = [g.span(0), g.span(1), g.span(2)];
    // The axes' pieces are collected first, so the loops below hold no
    // closure call: a closure is compiled for the baseline target even when
    // its caller is multiversioned (it halved the integer scatter's speed).
    let (cols, n_cols) = window_runs(x as isize - g.radius(2) as isize, sw, g.size[2], g.boundary);
    let (rows, n_rows) = window_runs(y as isize - g.radius(1) as isize, sh, g.size[1], g.boundary);
    let (slices, n_slices) =
        window_runs(z as isize - g.radius(0) as isize, sd, g.size[0], g.boundary);
    let (col_runs, row_runs, slice_runs) = (&cols[..n_cols], &rows[..n_rows], &slices[..n_slices]);
    let plane = g.plane();
    let (h, w) = (g.size[1], g.size[2]);
    for (kernel, u) in gram_row
        .chunks_exact(sd * sh * sw)
        .zip(input.chunks_exact_mut(plane))
    {
        for &(zoff, slice, count) in slice_runs {
            for i in 0..count {
                let kernel = &kernel[(zoff + i) * sh * sw..(zoff + i + 1) * sh * sw];
                let u = &mut u[(slice + i) * h * w..(slice + i + 1) * h * w];
                for &(roff, row, rows) in row_runs {
                    for j in 0..rows {
                        let taps = &kernel[(roff + j) * sw..(roff + j + 1) * sw];
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
    }
}

/// Zero boundary: the part of the Gram kernels [`scatter`] applied that
/// lies outside the signal. For every position of coefficient `(m, p)`'s
/// atom that falls outside, adds back `δ·D_m[c, t]·D_n[c, t']` to every
/// coefficient whose atom covers that position.
pub(super) fn correct_edges(
    g: &Geometry,
    dict: &ConvDictionary,
    input: &mut [f32],
    (m, at): (usize, Axes),
    delta: f32,
) {
    let [kd, kh, kw] = g.k.map(|k| k as isize);
    let o = g.origin.map(|o| o as isize);
    let [d, h, w] = g.size.map(|n| n as isize);
    let [z, y, x] = at.map(|v| v as isize);
    let inside = |pz: isize, py: isize, px: isize| {
        pz >= 0 && pz < d && py >= 0 && py < h && px >= 0 && px < w
    };
    if inside(z - o[0], y - o[1], x - o[2])
        && inside(z - o[0] + kd - 1, y - o[1] + kh - 1, x - o[2] + kw - 1)
    {
        return;
    }
    for tz in 0..kd {
        for ty in 0..kh {
            for tx in 0..kw {
                let (pz, py, px) = (z + tz - o[0], y + ty - o[1], x + tx - o[2]);
                if inside(pz, py, px) {
                    continue;
                }
                let t = ((tz * kh + ty) * kw + tx) as usize;
                for c in 0..dict.channels() {
                    let weight = delta * dict.kernel(m, c)[t];
                    if weight == 0.0 {
                        continue;
                    }
                    for n in 0..g.n_filters {
                        let kernel = dict.kernel(n, c);
                        let u = &mut input[n * g.plane()..(n + 1) * g.plane()];
                        // Coefficients b = p − t' + o inside the signal.
                        for sz in 0..kd {
                            let bz = pz - sz + o[0];
                            if bz < 0 || bz >= d {
                                continue;
                            }
                            for sy in 0..kh {
                                let by = py - sy + o[1];
                                if by < 0 || by >= h {
                                    continue;
                                }
                                for sx in 0..kw {
                                    let bx = px - sx + o[2];
                                    if bx < 0 || bx >= w {
                                        continue;
                                    }
                                    u[((bz * h + by) * w + bx) as usize] +=
                                        weight * kernel[((sz * kh + sy) * kw + sx) as usize];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
