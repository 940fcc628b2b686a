//! Convolutional LCA over 1, 2 and 3 spatial axes: optimality (KKT) and
//! agreement with an independent FISTA written here, for both boundaries,
//! several channels and non-square kernels; the spiking and fixed-point
//! networks against the non-negative LASSO; the reconstruction against a
//! direct sum of atoms.

mod common;

use common::Lcg;

use lca::conv::{
    Boundary, ConvDictionary, ConvLcaParams, ConvSpikingParams, Planes, Schedule, reconstruct,
};

/// One test problem: `dims`, channels, filters, kernel and signal extents.
struct Case {
    kernel: Vec<usize>,
    size: Vec<usize>,
    channels: usize,
    filters: usize,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            kernel: vec![5],
            size: vec![48],
            channels: 2,
            filters: 3,
        },
        Case {
            kernel: vec![3, 4],
            size: vec![9, 10],
            channels: 2,
            filters: 3,
        },
        Case {
            kernel: vec![2, 3, 3],
            size: vec![5, 6, 7],
            channels: 2,
            filters: 2,
        },
    ]
}

/// `[depth, height, width]` of a shape over `dims` axes.
fn three(shape: &[usize]) -> [usize; 3] {
    let mut out = [1; 3];
    out[3 - shape.len()..].copy_from_slice(shape);
    out
}

fn problem(case: &Case, seed: u64) -> (ConvDictionary, Planes) {
    let taps: usize = case.kernel.iter().product();
    let mut rng = Lcg(seed);
    let d = ConvDictionary::normalized_with_shape(
        case.filters,
        case.channels,
        &case.kernel,
        rng.vec(case.filters * case.channels * taps),
    )
    .unwrap();
    let n: usize = case.size.iter().product();
    // A sparse code through the filters plus noise: a signal with structure.
    let x =
        Planes::with_extent(case.channels, three(&case.size), rng.vec(case.channels * n)).unwrap();
    (d, x)
}

/// The synthesis operator written from its definition: coefficient `(m, p)`
/// puts tap `t` of filter `m` on position `p + t − o` (`o = (k − 1)/2` per
/// axis), wrapped or dropped at the edges. Its adjoint is the inner product
/// with each atom. Independent of the library's code paths.
struct Direct {
    nf: usize,
    nc: usize,
    size: [usize; 3],
    k: [usize; 3],
    taps: Vec<f64>,
    wrap: bool,
}

impl Direct {
    fn new(d: &ConvDictionary, size: [usize; 3], boundary: Boundary) -> Direct {
        Direct {
            nf: d.n_filters(),
            nc: d.channels(),
            size,
            k: three(d.kernel_shape()),
            taps: d.data().iter().map(|&v| f64::from(v)).collect(),
            wrap: boundary == Boundary::Circular,
        }
    }
    fn n(&self) -> usize {
        self.size.iter().product()
    }
    /// Calls `f(position of p, tap index t, target position q)` for every tap
    /// of the atom at `p` that lands inside the signal.
    fn atom(&self, p: usize, mut f: impl FnMut(usize, usize)) {
        let [d, h, w] = self.size;
        let pos = [p / (h * w), p / w % h, p % w];
        let [kd, kh, kw] = self.k;
        for tz in 0..kd {
            for ty in 0..kh {
                for tx in 0..kw {
                    let t = [tz, ty, tx];
                    let mut q = [0isize; 3];
                    let mut inside = true;
                    for a in 0..3 {
                        let o = (self.k[a] as isize - 1) / 2;
                        let v = pos[a] as isize + t[a] as isize - o;
                        let n = self.size[a] as isize;
                        q[a] = if self.wrap { v.rem_euclid(n) } else { v };
                        inside &= q[a] >= 0 && q[a] < n;
                    }
                    if inside {
                        let qi = ((q[0] as usize * h) + q[1] as usize) * w + q[2] as usize;
                        f((tz * kh + ty) * kw + tx, qi);
                    }
                    let _ = d;
                }
            }
        }
    }
    /// `‖atom‖²` of coefficient `(m, p)`, cut by the edges with the zero boundary.
    fn norm2(&self, m: usize, p: usize) -> f64 {
        let mut s = 0.0;
        for c in 0..self.nc {
            let kernel = self.kernel(m, c);
            self.atom(p, |t, _| s += kernel[t] * kernel[t]);
        }
        s
    }
    fn kernel(&self, m: usize, c: usize) -> &[f64] {
        let kk: usize = self.k.iter().product();
        &self.taps[(m * self.nc + c) * kk..][..kk]
    }
    fn synth(&self, a: &[f64]) -> Vec<f64> {
        let n = self.n();
        let mut x = vec![0.0; self.nc * n];
        for m in 0..self.nf {
            for p in 0..n {
                let v = a[m * n + p];
                if v == 0.0 {
                    continue;
                }
                for c in 0..self.nc {
                    let kernel = self.kernel(m, c);
                    self.atom(p, |t, q| x[c * n + q] += v * kernel[t]);
                }
            }
        }
        x
    }
    fn adjoint(&self, r: &[f64]) -> Vec<f64> {
        let n = self.n();
        let mut g = vec![0.0; self.nf * n];
        for m in 0..self.nf {
            for p in 0..n {
                let mut acc = 0.0;
                for c in 0..self.nc {
                    let kernel = self.kernel(m, c);
                    self.atom(p, |t, q| acc += kernel[t] * r[c * n + q]);
                }
                g[m * n + p] = acc;
            }
        }
        g
    }
    /// `Dᵀ(Da − x)`.
    fn gradient(&self, a: &[f64], x: &[f64]) -> Vec<f64> {
        let r: Vec<f64> = self.synth(a).iter().zip(x).map(|(s, x)| s - x).collect();
        self.adjoint(&r)
    }
    fn objective(&self, a: &[f64], x: &[f64], lambda: f64) -> f64 {
        let r: f64 = self
            .synth(a)
            .iter()
            .zip(x)
            .map(|(s, x)| (s - x).powi(2))
            .sum();
        0.5 * r + lambda * a.iter().map(|v| v.abs()).sum::<f64>()
    }
    /// FISTA (Beck & Teboulle) in f64 with the step from power iteration.
    fn fista(&self, x: &[f64], lambda: f64, nonneg: bool, iters: usize) -> Vec<f64> {
        let len = self.nf * self.n();
        let mut v: Vec<f64> = (0..len).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let mut l = 1.0;
        for _ in 0..60 {
            let w = self.adjoint(&self.synth(&v));
            l = w.iter().map(|v| v * v).sum::<f64>().sqrt()
                / v.iter().map(|v| v * v).sum::<f64>().sqrt();
            v = w;
        }
        let step = 1.0 / (l * 1.01);
        let (mut a, mut y) = (vec![0.0; len], vec![0.0; len]);
        let mut t = 1.0f64;
        for _ in 0..iters {
            let g = self.gradient(&y, x);
            let next: Vec<f64> = y
                .iter()
                .zip(&g)
                .map(|(y, g)| {
                    let u = y - step * g;
                    let s = (u.abs() - step * lambda).max(0.0) * u.signum();
                    if nonneg { s.max(0.0) } else { s }
                })
                .collect();
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            for i in 0..len {
                y[i] = next[i] + (t - 1.0) / t_next * (next[i] - a[i]);
            }
            a = next;
            t = t_next;
        }
        a
    }
}

/// The largest violation of the LASSO's KKT conditions by `a`, relative to
/// `max|Dᵀx|`: `g + λ·sign(a) = 0` where `a ≠ 0`, `|g| ≤ λ` (or `g ≥ −λ`
/// with `a ≥ 0`) where `a = 0`.
fn kkt(op: &Direct, a: &[f64], x: &[f64], lambda: f64, nonneg: bool) -> f64 {
    let g = op.gradient(a, x);
    let scale = op.adjoint(x).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(&g).fold(0.0f64, |m, (&a, &g)| {
        let v = if a > 0.0 {
            (g + lambda).abs()
        } else if a < 0.0 {
            (g - lambda).abs()
        } else if nonneg {
            (-g - lambda).max(0.0)
        } else {
            (g.abs() - lambda).max(0.0)
        };
        m.max(v)
    });
    worst / scale
}

fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| f64::from(v)).collect()
}

#[test]
fn rate_schedules_solve_the_lasso_in_every_dimension() {
    let lambda = 0.1;
    for (i, case) in cases().iter().enumerate() {
        let (d, x) = problem(case, 11 + i as u64);
        assert_eq!(d.dims(), case.kernel.len());
        for boundary in [Boundary::Circular, Boundary::Zero] {
            let op = Direct::new(&d, x.extent(), boundary);
            let x64 = to64(&x.data);
            let reference = op.fista(&x64, lambda, false, 3000);
            let best = op.objective(&reference, &x64, lambda);
            // The test can tell: FISTA's codes meet the KKT conditions, zeros do not.
            assert!(kkt(&op, &reference, &x64, lambda, false) < 1e-4);
            assert!(kkt(&op, &vec![0.0; reference.len()], &x64, lambda, false) > 1e-2);
            for schedule in [
                Schedule::Splitting,
                Schedule::Accelerated,
                Schedule::Greedy { segment: None },
            ] {
                let lca = ConvLcaParams::new()
                    .lambda(lambda as f32)
                    .tol(1e-5)
                    .max_iters(20000)
                    .boundary(boundary)
                    .schedule(schedule)
                    .check()
                    .unwrap();
                let enc = lca.encode_one(&d, &x, None).unwrap();
                let what = format!("{}-D {boundary:?} {schedule:?}", d.dims());
                assert!(enc.converged(), "{what}");
                assert_eq!(enc.codes.extent(), x.extent(), "{what}");
                let a = to64(&enc.codes.data);
                let violation = kkt(&op, &a, &x64, lambda, false);
                assert!(violation < 1e-3, "{what}: KKT violation {violation:e}");
                let obj = op.objective(&a, &x64, lambda);
                assert!((obj - best) / best < 1e-4, "{what}: {obj} vs FISTA {best}");
                assert!(
                    (enc.objective - obj).abs() / obj < 1e-4,
                    "{what}: reported objective"
                );
                let diff: f64 = a.iter().zip(&reference).map(|(a, b)| (a - b).powi(2)).sum();
                let norm: f64 = reference.iter().map(|v| v * v).sum();
                assert!(
                    (diff / norm).sqrt() < 2e-2,
                    "{what}: codes differ from FISTA's"
                );
            }
        }
    }
}

/// The LCA's stopping test written from its definition: the largest
/// distance `|T_λ(u_i)/‖atom_i‖² − a_i|` of a neuron from its fixed-point
/// output, `u_i = ‖atom_i‖²·a_i − g_i` its input (`g = Dᵀ(Da − x)`),
/// relative to `max|Dᵀx|`.
fn fixed_point_distance(op: &Direct, a: &[f64], x: &[f64], lambda: f64, nonneg: bool) -> f64 {
    let g = op.gradient(a, x);
    let scale = op.adjoint(x).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let n = op.n();
    let worst = (0..a.len()).fold(0.0f64, |worst, i| {
        let norm2 = op.norm2(i / n, i % n);
        let u = norm2 * a[i] - g[i];
        let soft = (u.abs() - lambda).max(0.0) * u.signum();
        let soft = if nonneg { soft.max(0.0) } else { soft };
        let target = if norm2 > 0.0 { soft / norm2 } else { 0.0 };
        worst.max((target - a[i]).abs())
    });
    worst / scale
}

/// The default schedule on 1-D signals (greedy settling at half the
/// tolerance): at the default tolerance every neuron ends within that
/// tolerance of its fixed point (the LCA's KKT test) and the codes reach the optimum to a relative gap below 1e-3 (the
/// f64 FISTA's), for both boundaries, signed and non-negative codes, several
/// channels; and they do not depend on the number of threads.
#[test]
fn one_dimensional_default_is_greedy_and_reaches_the_optimum() {
    let case = Case {
        kernel: vec![9],
        size: vec![160],
        channels: 2,
        filters: 4,
    };
    let lambda = 0.1;
    let (d, x) = problem(&case, 7);
    // Several signals, so images also run in parallel.
    let signals: Vec<Planes> = (0..3)
        .map(|s| {
            let data = x
                .data
                .iter()
                .enumerate()
                .map(|(i, v)| v * (1.0 + 0.2 * s as f32) + 0.01 * ((i * (s + 3)) % 7) as f32)
                .collect();
            Planes::with_extent(x.channels, x.extent(), data).unwrap()
        })
        .collect();
    for boundary in [Boundary::Circular, Boundary::Zero] {
        for nonneg in [false, true] {
            let lca = ConvLcaParams::new()
                .lambda(lambda as f32)
                .nonneg(nonneg)
                .boundary(boundary)
                .check()
                .unwrap();
            let tol = f64::from(lca.params().tol);
            let encode = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| lca.encode(&d, &signals).unwrap())
            };
            let (one, two) = (encode(1), encode(2));
            let op = Direct::new(&d, x.extent(), boundary);
            for (s, (enc, enc2)) in one.iter().zip(&two).enumerate() {
                let what = format!("{boundary:?} nonneg {nonneg} signal {s}");
                assert_eq!(enc.codes.data, enc2.codes.data, "{what}: 1 and 2 threads");
                assert_eq!(enc.schedule, Schedule::Greedy { segment: None }, "{what}");
                assert!(enc.converged(), "{what}");
                let x64 = to64(&signals[s].data);
                let a = to64(&enc.codes.data);
                let distance = fixed_point_distance(&op, &a, &x64, lambda, nonneg);
                assert!(
                    distance <= tol,
                    "{what}: distance to the fixed point {distance:e}"
                );
                let best = op.objective(&op.fista(&x64, lambda, nonneg, 4000), &x64, lambda);
                let obj = op.objective(&a, &x64, lambda);
                assert!(
                    (obj - best) / best < 1e-3,
                    "{what}: gap {:e}",
                    (obj - best) / best
                );
            }
        }
    }
}

#[test]
fn reconstruction_is_the_sum_of_atoms() {
    for (i, case) in cases().iter().enumerate() {
        let (d, x) = problem(case, 40 + i as u64);
        let mut rng = Lcg(99);
        let n: usize = case.size.iter().product();
        let codes: Vec<f32> = rng
            .vec(case.filters * n)
            .into_iter()
            .map(|v| if v.abs() > 0.3 { v } else { 0.0 })
            .collect();
        let codes = Planes::with_extent(case.filters, x.extent(), codes).unwrap();
        for boundary in [Boundary::Circular, Boundary::Zero] {
            let op = Direct::new(&d, x.extent(), boundary);
            let want = op.synth(&to64(&codes.data));
            let got = reconstruct(&d, &codes, boundary).unwrap();
            assert_eq!(got.extent(), x.extent());
            for (g, w) in got.data.iter().zip(&want) {
                assert!(
                    (f64::from(*g) - w).abs() < 1e-5,
                    "{}-D {boundary:?}",
                    d.dims()
                );
            }
        }
    }
}

#[test]
fn spiking_and_fixed_point_networks_approach_the_nonnegative_lasso() {
    let lambda = 0.1;
    for (i, case) in cases().iter().enumerate() {
        let (d, x) = problem(case, 70 + i as u64);
        for boundary in [Boundary::Circular, Boundary::Zero] {
            let op = Direct::new(&d, x.extent(), boundary);
            let x64 = to64(&x.data);
            let best = op.objective(&op.fista(&x64, lambda, true, 3000), &x64, lambda);
            let mut objectives = Vec::new();
            for fixed in [false, true] {
                let net = ConvSpikingParams::new()
                    .lambda(lambda as f32)
                    .steps(4000)
                    .boundary(boundary)
                    .fixed_point(fixed)
                    .check()
                    .unwrap();
                let enc = net.encode_one(&d, &x).unwrap();
                assert!(enc.codes.data.iter().all(|&a| a >= 0.0));
                let obj = op.objective(&to64(&enc.codes.data), &x64, lambda);
                let what = format!("{}-D {boundary:?} fixed={fixed}", d.dims());
                assert!((obj - best) / best < 2e-2, "{what}: {obj} vs {best}");
                objectives.push(obj);
            }
            assert!((objectives[0] - objectives[1]).abs() / best < 1e-2);
        }
    }
}

#[test]
fn signals_must_fit_the_filters() {
    let d = ConvDictionary::normalized_with_shape(2, 1, &[3, 3, 3], Lcg(1).vec(54)).unwrap();
    let lca = ConvLcaParams::new().check().unwrap();
    // Too small along the depth axis.
    let small = Planes::zeros_with_extent(1, [2, 8, 8]);
    let e = lca.encode_one(&d, &small, None).unwrap_err().to_string();
    assert!(e.contains("smaller than the 3×3×3 filters"), "{e}");
    // A 1-D dictionary refuses a 2-D image.
    let d1 = ConvDictionary::normalized_with_shape(2, 1, &[3], Lcg(2).vec(6)).unwrap();
    let e = lca
        .encode_one(&d1, &Planes::zeros(1, 4, 8), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("1-D"), "{e}");
}
