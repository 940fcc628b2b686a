//! Spiking neural networks trained with surrogate gradients, built on the
//! same neuron kernels as the spiking LCA ([`crate::neuron`]).
//!
//! A network is a stack of discrete-time CUBA-LIF layers ([`layer`]),
//! feed-forward or recurrent, ending in spiking neurons or a leaky
//! non-spiking readout. The forward pass uses the true spike `H(v − ϑ)`;
//! backpropagation through time replaces its derivative by a nascent delta
//! φ ([`crate::neuron::Surrogate`]) with width τ and scale α. Inputs are
//! spike trains from an [`encoder`] (latency, Bernoulli rate, or trains
//! recorded from the spiking LCA: [`SpikingLcaEncoder`], [`trains_from_record`]), losses ([`loss`]) act on spike counts,
//! first-spike times or readout voltages; event streams (time, channel)
//! from files or the synthetic [`StreamTask`] are binned onto the steps
//! ([`streams`]; SHD/SSC files through [`shd`]); [`nir`] writes and reads
//! NIR graphs (trained networks and the spiking LCA) for other simulators
//! and neuromorphic hardware; [`defaults`] holds the per-dataset recipes; and [`train()`] runs minibatch Adam
//! in parallel, bit-identically for any thread count. [`eventprop`] computes
//! exact gradients from the spikes instead (`TrainConfig::method`).
//!
//! ```
//! use lca::neuron::{Surrogate, SurrogateKind};
//! use lca::snn::{Encoder, Latency, LayerKind, LayerSpec, Network, SpikeMode};
//! let specs = [
//!     LayerSpec::new(LayerKind::FeedForward, 16, 0.8, 0.9),
//!     LayerSpec::new(LayerKind::Readout, 3, 0.8, 0.9),
//! ];
//! let phi = Surrogate { kind: SurrogateKind::FastSigmoid, tau: 0.1, alpha: 1.0 };
//! let net = Network::new(4, &specs, phi, 0).unwrap();
//! let x = Latency { steps: 20, window: 16 }.encode(&[0.1, 0.9, 0.9, 0.1], 0);
//! let trace = net.forward(&x, SpikeMode::Heaviside);
//! assert_eq!(trace.output().len(), 20 * 3);
//! ```

pub mod data;
pub mod defaults;
mod encoder;
pub mod eventprop;
mod interpolated;
mod layer;
mod loss;
mod network;
pub mod nir;
mod optim;
pub mod overrides;
mod plot;
mod samples;
pub mod shd;
mod streams;
mod train;

pub use data::{Dataset, Scaling, Splits};
pub use defaults::{EncoderKind, Recipe};
pub use encoder::{
    Encoder, EncoderConfig, Latency, Rate, SpikeTrain, SpikingLcaEncoder, trains_from_record,
};
pub use eventprop::{EventTrace, Method, SpikeEvent, SpikeTiming};
pub use layer::{Layer, LayerKind, LayerSpec, SpikeMode};
pub use loss::Loss;
pub use network::{Network, Trace, Workspace};
pub use optim::Adam;
pub use plot::write_training_png;
pub use samples::{Encoded, InputDropout, Samples, SpikeDataset};
pub use streams::{Binned, Binning, EventDataset, StreamTask};
pub use train::{
    CheckedTrainConfig, EpochStats, Model, SampleRun, TrainConfig, accuracy, batch_gradient, train,
};

/// The interchange formats a trained [`Model`] can be written in
/// (`lca snn export --format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExportFormat {
    /// Neuromorphic Intermediate Representation (HDF5), as `nir.read` loads it.
    #[default]
    Nir,
}

impl ExportFormat {
    /// Writes `model` to `path` in this format (a temporary file renamed
    /// into place).
    pub fn write(self, model: &Model, path: &std::path::Path) -> crate::error::Result<()> {
        match self {
            ExportFormat::Nir => nir::write_model(model, path),
        }
    }
}
