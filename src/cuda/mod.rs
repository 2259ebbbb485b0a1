//! The CUDA backend's plumbing: finding a GPU without ever panicking (cudarc panics when libcuda
//! or libnvrtc is missing, so presence is checked first), and compiling `kernels/*.cu` — embedded
//! in the binary — with NVRTC once per process and architecture, with the compiler log surfaced
//! on error. The FP16 stage implementations (issues 4 and 5) are built on these.

mod compile;
mod device;

pub use compile::{compile_kernel, fp16_include_dir, kernels_for, CompiledKernel, KernelCompileError, KERNELS};
pub use device::{discover, nvrtc_present, Gpu, Unavailable};
