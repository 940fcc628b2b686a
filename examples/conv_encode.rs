//! Convolutional LCA on one image, timed: the driver of
//! `scripts/compare_conv.py`'s time-to-gap curves.
//!
//! ```text
//! cargo run --release --example conv_encode -- DICT.npy IMAGE.npy [options]
//!   --lambda L        (default 0.1)
//!   --tol T           relative KKT tolerance (default: the library's)
//!   --max-iters N,N…  one timed solve per cap (default: the library's)
//!   --boundary circular|zero
//!   --segment S       greedy segment side (default k)
//!   --schedule splitting|accelerated|greedy  (default: the library's)
//!   --dynamics ETA    plain LCA dynamics with dt/τ = ETA instead
//!   --nonneg
//!   --spiking STEPS   spiking LCA with STEPS steps instead (non-negative)
//!   --fixed-point     with --spiking: Loihi integer arithmetic
//!   --weight-synapses N  with --fixed-point: 8-bit synapses per Gram tap (1 or 2)
//!   --out CODES.npy   write the last solve's codes (n_filters, H, W)
//! ```
//!
//! IMAGE.npy holds `(H, W)` or `(C, H, W)` floats. Each solve prints one JSON
//! line with its wall time (Gram kernels, drive and solve), objective,
//! sweeps, scattered updates and non-zeros.

use std::path::PathBuf;
use std::time::Instant;

use lca::conv::{
    Boundary, ConvDictionary, ConvLcaParams, ConvSpikingParams, Planes, Schedule, defaults,
};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dict_path = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: DICT.npy IMAGE.npy [options]"))?,
    );
    let image_path = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("missing IMAGE.npy"))?,
    );
    let mut params = ConvLcaParams::new();
    let mut caps = vec![defaults::MAX_ITERS];
    let mut spiking_steps: Option<Vec<usize>> = None;
    let mut out: Option<PathBuf> = None;
    let mut segment = None;
    let mut fixed_point = false;
    let mut synapses = lca::conv::ConvSpikingParams::default().weight_synapses;
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--lambda" => params = params.lambda(value()?.parse()?),
            "--tol" => params = params.tol(value()?.parse()?),
            "--max-iters" => {
                caps = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--boundary" => params = params.boundary(Boundary::from_name(&value()?)?),
            "--segment" => segment = Some(value()?.parse()?),
            "--dynamics" => {
                params = params.schedule(Schedule::Dynamics {
                    eta: value()?.parse()?,
                })
            }
            "--schedule" => params = params.schedule(schedule_from_name(&value()?)?),
            "--nonneg" => params = params.nonneg(true),
            "--spiking" => {
                spiking_steps = Some(
                    value()?
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()?,
                )
            }
            "--fixed-point" => fixed_point = true,
            "--weight-synapses" => synapses = value()?.parse()?,
            "--out" => out = Some(PathBuf::from(value()?)),
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    if let Some(segment) = segment {
        params = params.schedule(Schedule::Greedy {
            segment: Some(segment),
        });
    }
    let dict = ConvDictionary::from_npy(&dict_path)?;
    let array = lca::io::npy::read_array(&image_path)?.into_c_order();
    let values = array
        .to_f32_vec()
        .ok_or_else(|| anyhow::anyhow!("image must be float"))?;
    let image = match array.header.shape[..] {
        [h, w] => Planes::new(1, h, w, values)?,
        [c, h, w] => Planes::new(c, h, w, values)?,
        ref s => anyhow::bail!("image shape {s:?}: expected (H, W) or (C, H, W)"),
    };
    let mut last = None;
    if let Some(steps) = spiking_steps {
        for s in steps {
            let solver = ConvSpikingParams::new()
                .lambda(params.lambda)
                .boundary(params.boundary)
                .steps(s)
                .fixed_point(fixed_point)
                .weight_synapses(synapses)
                .check()?;
            let t = Instant::now();
            let enc = solver.encode_one(&dict, &image)?;
            let seconds = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"solver": "spiking", "fixed_point": fixed_point, "steps": s, "seconds": seconds,
                    "objective": enc.objective, "spikes": enc.spikes, "nnz": enc.codes.nnz()})
            );
            last = Some(enc.codes);
        }
    } else {
        for cap in caps {
            let solver = params.clone().max_iters(cap).check()?;
            let t = Instant::now();
            let enc = solver.encode_one(&dict, &image, None)?;
            let seconds = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"solver": "rate", "max_iters": cap, "seconds": seconds,
                    "objective": enc.objective, "iterations": enc.iterations,
                    "updates": enc.updates, "converged": enc.converged(), "nnz": enc.codes.nnz()})
            );
            last = Some(enc.codes);
        }
    }
    if let (Some(path), Some(codes)) = (out, last) {
        let shape = vec![codes.channels, codes.height, codes.width];
        lca::io::npy::write_npy(
            &path,
            &lca::io::npy::NpyArray::from_f32(shape, &codes.data)?,
        )?;
    }
    Ok(())
}

fn schedule_from_name(name: &str) -> anyhow::Result<Schedule> {
    Ok(match name {
        "splitting" => Schedule::Splitting,
        "accelerated" => Schedule::Accelerated,
        "greedy" => Schedule::Greedy { segment: None },
        other => {
            anyhow::bail!("--schedule: expected splitting, accelerated or greedy, got {other}")
        }
    })
}
