//! The acoustic stage as the GPU runs it: SoVITS decode + HiFi-GAN for a *batch* of windows in
//! one pass, FP16 storage, time-major activations padded per item, every convolution an implicit
//! GEMM with its bias, activation, gate and residuals fused ([`ops`]); the weights laid out for
//! that once at load ([`weights`]); and one step as a fixed sequence of operations per padded
//! shape ([`step`]), which the GPU captures as a CUDA graph.
//!
//! The sequence is written once, against [`ops::AcousticOps`]: `cuda::acoustic` runs it with the
//! kernels, `cpu::acoustic_twins` with their CPU twins — so the whole batched algorithm (padding,
//! masking, the folded flips, the fused epilogues) is tested against the f32 reference
//! (`cpu::sovits`) on machines without a GPU, and each kernel against its twin.

pub mod batched;
pub mod ops;
pub mod step;
pub mod weights;

pub use batched::{BatchOptions, BatchedSovits};
pub use ops::AcousticOps;
pub use step::{Shape, StepItem, Trace, Views, Workspace};
pub use weights::{Conditioner, GraphWeights, PreparedVoice};
