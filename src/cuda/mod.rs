//! The CUDA backend: FP16 kernels of our own (`kernels/*.cu`, embedded and compiled at run time
//! by NVRTC) behind the same stage traits as the CPU reference.
//!
//! * [`device`]/[`compile`]: finding a GPU without ever panicking (cudarc panics when libcuda or
//!   libnvrtc is missing, so presence is checked first) and compiling every kernel once per
//!   process and architecture, with NVRTC's log surfaced on error;
//! * [`runtime`]: the context, loaded kernels, queues (one stream per model), typed device buffers;
//! * [`launch`]: launches as data ([`KernelLaunch`]), built by pure functions next to each
//!   wrapper, so the emulation test runs exactly what the GPU would be given;
//! * [`ops`]: checked wrappers of the kernels shared by the models (linear, LayerNorm, attention);
//! * [`t2s`]: the GPT prior — batched decode over KV slots, CUDA graphs, sampler on the device;
//! * [`t2s_kernels`]: the launches of its own kernels (embeddings, KV cache, decode attention,
//!   slot counters, sampler); [`t2s_plan`]: its prefill and decode step as launch lists;
//! * [`encoder`]: the post-LN transformer layer BERT and HuBERT share;
//! * [`bert`]: chinese-roberta-wwm-ext-large for the Chinese text features;
//! * [`hubert`]: chinese-hubert-base, so adding a voice from a clip needs no CPU pass;
//! * [`acoustic`]: the SoVITS decoder + HiFi-GAN (`model::acoustic_graph` on the GPU), batched
//!   across sessions, one CUDA graph per step shape; [`acoustic_kernels`]: its launches.

pub mod acoustic;
pub mod acoustic_kernels;
pub mod bert;
mod compile;
mod device;
pub mod encoder;
pub mod hubert;
pub mod launch;
pub mod ops;
pub mod runtime;
pub mod t2s;
pub mod t2s_kernels;
pub mod t2s_plan;

pub use acoustic::{CudaOps, CudaSovits, CudaSovitsOptions};
pub use bert::CudaBert;
pub use compile::{
    compile_kernel, declared_kernels, fp16_include_dir, kernels_for, CompiledKernel, KernelCompileError, KERNELS,
};
pub use device::{discover, nvrtc_present, Gpu, Unavailable};
pub use hubert::CudaHubert;
pub use launch::{Arg, KernelLaunch};
pub use runtime::{CudaError, GpuRuntime, Queue};
pub use t2s::{CudaT2s, CudaT2sOptions, CudaT2sSession, SampledToken, SamplerSetup};
