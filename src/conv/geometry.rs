//! Sizes and conventions of one image's convolutional network, shared by
//! the event-driven rate schedules (module `settling`) and the spiking
//! network: where an atom sits, how far its Gram neighbourhood reaches, and
//! (zero boundary) the norms of atoms cut by the image edges.

use super::dictionary::ConvDictionary;
use super::planes::Boundary;

/// Sizes and conventions of one image's network.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) n_filters: usize,
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) k: usize,
    /// Filter tap on a coefficient's own pixel.
    pub(super) origin: usize,
    pub(super) boundary: Boundary,
}

impl Geometry {
    /// Geometry of the network coding an `height × width` image.
    pub(super) fn new(
        dict: &ConvDictionary,
        height: usize,
        width: usize,
        boundary: Boundary,
    ) -> Geometry {
        Geometry {
            n_filters: dict.n_filters(),
            height,
            width,
            k: dict.kernel_size(),
            origin: dict.origin(),
            boundary,
        }
    }
    pub(super) fn plane(&self) -> usize {
        self.height * self.width
    }
    /// Gram radius `k − 1`.
    pub(super) fn radius(&self) -> usize {
        self.k - 1
    }
}

/// [`edge_inv_norm2`] of an `height × width` image.
pub(super) fn edge_inv_norm2_of(dict: &ConvDictionary, height: usize, width: usize) -> Vec<f32> {
    edge_inv_norm2(dict, &Geometry::new(dict, height, width, Boundary::Zero))
}

/// Zero boundary: `1/‖atom‖²` of every coefficient, its atom cut by the
/// image edges (an atom always keeps its origin tap, but that tap may be 0:
/// a fully cut-off atom gets 0, so its neuron never activates).
pub(super) fn edge_inv_norm2(dict: &ConvDictionary, g: &Geometry) -> Vec<f32> {
    let (k, o) = (g.k, g.origin);
    let mut out = vec![1.0f32; g.n_filters * g.plane()];
    for m in 0..g.n_filters {
        // Integral image of the squared taps summed over channels.
        let mut sq = vec![0.0f64; (k + 1) * (k + 1)];
        for ty in 0..k {
            for tx in 0..k {
                let v: f64 = (0..dict.channels())
                    .map(|c| f64::from(dict.kernel(m, c)[ty * k + tx]).powi(2))
                    .sum();
                sq[(ty + 1) * (k + 1) + tx + 1] =
                    v + sq[ty * (k + 1) + tx + 1] + sq[(ty + 1) * (k + 1) + tx]
                        - sq[ty * (k + 1) + tx];
            }
        }
        let tap_range = |pos: usize, size: usize| {
            // Taps t with 0 ≤ pos + t − o < size.
            let lo = o.saturating_sub(pos);
            let hi = (size + o - pos).min(k);
            (lo, hi)
        };
        for y in 0..g.height {
            let (y0, y1) = tap_range(y, g.height);
            for x in 0..g.width {
                let (x0, x1) = tap_range(x, g.width);
                if (y0, y1, x0, x1) == (0, k, 0, k) {
                    continue;
                }
                let s = sq[y1 * (k + 1) + x1] - sq[y0 * (k + 1) + x1] - sq[y1 * (k + 1) + x0]
                    + sq[y0 * (k + 1) + x0];
                out[m * g.plane() + y * g.width + x] = if s > 0.0 { (1.0 / s) as f32 } else { 0.0 };
            }
        }
    }
    out
}
