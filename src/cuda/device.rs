//! GPU discovery. Every failure is a value: a machine without a driver, without NVRTC or without
//! a device gets [`Unavailable`] (and the CPU backend), never a panic.

use std::sync::Arc;

use cudarc::driver::CudaContext;

/// Why the CUDA backend cannot run here.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    #[error("no NVIDIA driver: libcuda.so.1 cannot be loaded (install the driver, or use the CPU backend)")]
    NoDriver,
    #[error(
        "NVRTC (libnvrtc.so.13) cannot be loaded: install the CUDA 13 toolkit or the nvidia-cuda-nvrtc wheel \
         and put its lib folder on LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    #[error("the NVIDIA driver reports no GPU (device {0} requested)")]
    NoDevice(usize),
    #[error("the CUDA driver failed: {0}")]
    Driver(String),
}

/// An initialized GPU.
pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub name: String,
    /// (major, minor), e.g. (9, 0) for an H100.
    pub capability: (i32, i32),
}

impl Gpu {
    /// NVRTC's `--gpu-architecture` for this device, e.g. `compute_90`: the newest we compile
    /// for that it runs; `None` before sm_80 (Ampere).
    pub fn arch(&self) -> Option<&'static str> {
        super::compile::arch_for(self.capability)
    }
}

/// True when libnvrtc can be loaded (the kernels can be compiled).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by name; no NVRTC call is made.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Opens GPU `ordinal`, or says why it cannot be used.
pub fn discover(ordinal: usize) -> Result<Gpu, Unavailable> {
    // SAFETY: only tries to dlopen the driver library by name; no driver call is made.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(Unavailable::NoDriver);
    }
    if !nvrtc_present() {
        return Err(Unavailable::NoNvrtc);
    }
    let count = CudaContext::device_count().map_err(|e| Unavailable::Driver(e.to_string()))?;
    if ordinal >= count.max(0) as usize {
        return Err(Unavailable::NoDevice(ordinal));
    }
    let ctx = CudaContext::new(ordinal).map_err(|e| Unavailable::Driver(e.to_string()))?;
    let name = ctx.name().map_err(|e| Unavailable::Driver(e.to_string()))?;
    let capability = ctx.compute_capability().map_err(|e| Unavailable::Driver(e.to_string()))?;
    Ok(Gpu { ctx, name, capability })
}
