//! Sizes and conventions of one signal's convolutional network, shared by
//! the event-driven rate schedules (module `settling`) and the spiking
//! network: where an atom sits, how far its Gram neighbourhood reaches, and
//! (zero boundary) the norms of atoms cut by the signal's edges.
//!
//! Every signal has three axes, (depth, height, width): a 2-D image has
//! depth 1, a 1-D signal depth and height 1, so one walk serves D = 1, 2, 3
//! and a 2-D image's neurons are visited in the same order with the same
//! arithmetic as when only 2-D existed.

use super::dictionary::ConvDictionary;
use super::planes::Boundary;

/// A position or extent along (depth, height, width).
pub(super) type Axes = [usize; 3];

/// Sizes and conventions of one signal's network.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) n_filters: usize,
    /// Extent of the signal.
    pub(super) size: Axes,
    /// Extent of the kernels.
    pub(super) k: Axes,
    /// Filter tap on a coefficient's own position.
    pub(super) origin: Axes,
    pub(super) boundary: Boundary,
}

impl Geometry {
    /// Geometry of the network coding a signal of extent `size`.
    pub(super) fn new(dict: &ConvDictionary, size: Axes, boundary: Boundary) -> Geometry {
        Geometry {
            n_filters: dict.n_filters(),
            size,
            k: dict.extent(),
            origin: dict.origins(),
            boundary,
        }
    }
    /// Positions per map.
    pub(super) fn plane(&self) -> usize {
        self.size.iter().product()
    }
    /// Gram radius `k − 1` along `axis`.
    pub(super) fn radius(&self, axis: usize) -> usize {
        self.k[axis] - 1
    }
    /// Gram span `2k − 1` along `axis`.
    pub(super) fn span(&self, axis: usize) -> usize {
        2 * self.k[axis] - 1
    }
    /// The position of flat index `p` within a map.
    #[inline(always)]
    pub(super) fn position(&self, p: usize) -> Axes {
        let [_, h, w] = self.size;
        [p / (h * w), p / w % h, p % w]
    }
    /// The flat index within a map of a position.
    #[inline(always)]
    pub(super) fn index(&self, [z, y, x]: Axes) -> usize {
        (z * self.size[1] + y) * self.size[2] + x
    }
}

/// [`edge_inv_norm2`] of a signal of extent `size`.
pub(super) fn edge_inv_norm2_of(dict: &ConvDictionary, size: Axes) -> Vec<f32> {
    edge_inv_norm2(dict, &Geometry::new(dict, size, Boundary::Zero))
}

/// Zero boundary: `1/‖atom‖²` of every coefficient, its atom cut by the
/// signal's edges (an atom always keeps its origin tap, but that tap may be
/// 0: a fully cut-off atom gets 0, so its neuron never activates).
///
/// Sums of squared taps come from a summed-volume table; the terms along
/// the depth axis come first and are exact zeros for 2-D kernels, so 2-D
/// norms are the ones of the summed-area table bit for bit.
pub(super) fn edge_inv_norm2(dict: &ConvDictionary, g: &Geometry) -> Vec<f32> {
    let [kd, kh, kw] = g.k;
    let o = g.origin;
    let (sh, sw) = (kh + 1, kw + 1);
    let at = |z: usize, y: usize, x: usize| (z * sh + y) * sw + x;
    let mut out = vec![1.0f32; g.n_filters * g.plane()];
    for m in 0..g.n_filters {
        let kernels: Vec<&[f32]> = (0..dict.channels()).map(|c| dict.kernel(m, c)).collect();
        let mut sq = vec![0.0f64; (kd + 1) * sh * sw];
        for tz in 0..kd {
            for ty in 0..kh {
                for tx in 0..kw {
                    let t = (tz * kh + ty) * kw + tx;
                    let v: f64 = kernels.iter().map(|k| f64::from(k[t]).powi(2)).sum();
                    sq[at(tz + 1, ty + 1, tx + 1)] = v
                        + sq[at(tz, ty + 1, tx + 1)]
                        + sq[at(tz + 1, ty, tx + 1)]
                        + sq[at(tz + 1, ty + 1, tx)]
                        - sq[at(tz, ty, tx + 1)]
                        - sq[at(tz, ty + 1, tx)]
                        - sq[at(tz + 1, ty, tx)]
                        + sq[at(tz, ty, tx)];
                }
            }
        }
        let tap_range = |axis: usize, pos: usize| {
            // Taps t with 0 ≤ pos + t − o < size.
            let lo = o[axis].saturating_sub(pos);
            let hi = (g.size[axis] + o[axis] - pos).min(g.k[axis]);
            (lo, hi)
        };
        for z in 0..g.size[0] {
            let (z0, z1) = tap_range(0, z);
            for y in 0..g.size[1] {
                let (y0, y1) = tap_range(1, y);
                for x in 0..g.size[2] {
                    let (x0, x1) = tap_range(2, x);
                    if (z0, z1, y0, y1, x0, x1) == (0, kd, 0, kh, 0, kw) {
                        continue;
                    }
                    let s = sq[at(z1, y1, x1)]
                        - sq[at(z0, y1, x1)]
                        - sq[at(z1, y0, x1)]
                        - sq[at(z1, y1, x0)]
                        + sq[at(z0, y0, x1)]
                        + sq[at(z0, y1, x0)]
                        + sq[at(z1, y0, x0)]
                        - sq[at(z0, y0, x0)];
                    out[m * g.plane() + g.index([z, y, x])] =
                        if s > 0.0 { (1.0 / s) as f32 } else { 0.0 };
                }
            }
        }
    }
    out
}
