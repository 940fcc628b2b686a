//! Files users exchange with numpy and scipy (and `.wav` audio), written so that an interrupted
//! run never leaves a truncated file behind.

pub mod atomic;
pub mod hdf5;
pub mod npy;
pub mod npz;
pub mod wav;
