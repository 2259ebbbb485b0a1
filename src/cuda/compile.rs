//! NVRTC compilation of the embedded kernels: once per process and architecture, cached.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions, Ptx};
use parking_lot::Mutex;

/// Device helpers every kernel file may use, compiled in front of each: block-wide reductions,
/// the tensor-core product, Philox random numbers.
const KERNEL_PRELUDE: &str = concat!(
    include_str!("../../kernels/block_reduce.cuh"),
    "\n",
    include_str!("../../kernels/mma.cuh"),
    "\n",
    include_str!("../../kernels/philox.cuh")
);

/// Every kernel file: (name, CUDA C source).
pub const KERNELS: &[(&str, &str)] = &[
    ("norm", include_str!("../../kernels/norm.cu")),
    ("linear", include_str!("../../kernels/linear.cu")),
    ("attention", include_str!("../../kernels/attention.cu")),
    ("embed", include_str!("../../kernels/embed.cu")),
    ("sampling", include_str!("../../kernels/sampling.cu")),
    ("hubert", include_str!("../../kernels/hubert.cu")),
    ("acoustic_conv", include_str!("../../kernels/acoustic_conv.cu")),
    ("acoustic", include_str!("../../kernels/acoustic.cu")),
    ("acoustic_attention", include_str!("../../kernels/acoustic_attention.cu")),
];

/// Architectures NVRTC is asked for; `&'static` because cudarc's options want it. sm_80 is the
/// floor: the tensor-core GEMM uses `mma.sync.m16n8k16`.
const ARCHS: &[&str] = &["compute_80", "compute_86", "compute_89", "compute_90", "compute_100", "compute_120"];

/// The `extern "C" __global__` kernels a CUDA source declares, in order (a
/// `__launch_bounds__(…)` before the name is skipped).
pub fn declared_kernels(source: &str) -> Vec<String> {
    source
        .split("extern \"C\" __global__ void ")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let rest = match rest.strip_prefix("__launch_bounds__(") {
                Some(bounded) => bounded.split_once(')')?.1.trim_start(),
                None => rest,
            };
            rest.split('(').next().map(|name| name.trim().to_string())
        })
        .collect()
}

/// The newest architecture we compile for that a GPU of `capability` runs (PTX JIT-compiles
/// forward, so a GPU newer than every entry takes the newest); `None` below sm_80.
pub fn arch_for(capability: (i32, i32)) -> Option<&'static str> {
    let wanted = capability.0 * 10 + capability.1;
    // ARCHS is in ascending order.
    ARCHS.iter().rev().copied().find(|a| a.trim_start_matches("compute_").parse::<i32>().is_ok_and(|v| v <= wanted))
}

/// Why a kernel did not compile.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KernelCompileError {
    #[error("{0}")]
    Unavailable(#[from] super::Unavailable),
    #[error("architecture {0} is not supported; use one of {ARCHS:?}")]
    Arch(String),
    #[error(
        "cuda_fp16.h not found: set CUDA_FP16_INCLUDE to a folder holding it (the CUDA toolkit's include/, or \
         the nvidia-cuda-runtime wheel's nvidia/cu13/include)"
    )]
    NoFp16Header,
    #[error("kernels/{name}.cu does not compile for {arch}: {message}")]
    Compile { name: String, arch: String, message: String },
}

/// One compiled kernel file.
#[derive(Debug, Clone)]
pub struct CompiledKernel {
    pub name: &'static str,
    pub arch: &'static str,
    pub ptx: String,
}

impl CompiledKernel {
    pub fn ptx(&self) -> Ptx {
        Ptx::from_src(self.ptx.clone())
    }

    /// The kernels this PTX defines (its `.entry` names).
    pub fn entry_points(&self) -> Vec<String> {
        self.ptx
            .lines()
            .filter_map(|l| l.split(".entry ").nth(1))
            .filter_map(|rest| rest.split('(').next())
            .map(|name| name.trim().to_string())
            .collect()
    }
}

/// The folder holding `cuda_fp16.h`: `$CUDA_FP16_INCLUDE`, `$CUDA_HOME/include`, or
/// `/usr/local/cuda/include`.
pub fn fp16_include_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CUDA_FP16_INCLUDE").map(PathBuf::from),
        std::env::var_os("CUDA_HOME").map(|h| PathBuf::from(h).join("include")),
        Some(PathBuf::from("/usr/local/cuda/include")),
    ];
    candidates.into_iter().flatten().find(|d| d.join("cuda_fp16.h").is_file())
}

/// Compiles one source for `arch` (e.g. `compute_90`), returning NVRTC's log on failure.
pub fn compile_kernel(name: &'static str, source: &str, arch: &str) -> Result<CompiledKernel, KernelCompileError> {
    let arch = ARCHS.iter().copied().find(|a| *a == arch).ok_or_else(|| KernelCompileError::Arch(arch.into()))?;
    if !super::nvrtc_present() {
        return Err(super::Unavailable::NoNvrtc.into());
    }
    let include = fp16_include_dir().ok_or(KernelCompileError::NoFp16Header)?;
    let options = CompileOptions {
        arch: Some(arch),
        include_paths: vec![include.to_string_lossy().into_owned()],
        options: vec!["--std=c++17".into()],
        name: Some(format!("{name}.cu")),
        ..Default::default()
    };
    let failed = |message: String| KernelCompileError::Compile { name: name.into(), arch: arch.into(), message };
    // `#line` keeps NVRTC's messages pointing at the kernel file's own lines.
    let source = format!("{KERNEL_PRELUDE}\n#line 1 \"{name}.cu\"\n{source}");
    match compile_ptx_with_opts(source, options) {
        Ok(ptx) => Ok(CompiledKernel { name, arch, ptx: ptx.to_src() }),
        Err(CompileError::CompileError { log, .. }) => Err(failed(log.to_string_lossy().into_owned())),
        Err(e) => Err(failed(format!("{e:?}"))),
    }
}

/// Every kernel compiled for `arch`, compiled on the first call and cached for the process.
pub fn kernels_for(arch: &str) -> Result<Arc<Vec<CompiledKernel>>, KernelCompileError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<CompiledKernel>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(k) = cache.lock().get(arch) {
        return Ok(k.clone());
    }
    let compiled =
        Arc::new(KERNELS.iter().map(|(name, src)| compile_kernel(name, src, arch)).collect::<Result<Vec<_>, _>>()?);
    cache.lock().insert(arch.to_string(), compiled.clone());
    Ok(compiled)
}
