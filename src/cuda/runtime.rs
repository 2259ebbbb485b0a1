//! One GPU ready to run our kernels: its context and every kernel loaded once, queues (one
//! stream per model) and typed device buffers. Kernels take raw device pointers; [`Dev`] keeps
//! a pointer with its length so the launch builders ([`super::launch`]) can check sizes before
//! any launch.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{
    CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use half::f16;

use super::launch::{Arg, KernelLaunch};
use super::{discover, kernels_for, Gpu, KernelCompileError, Unavailable};
use crate::model::ModelError;

/// Why a GPU operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error("{0}")]
    Unavailable(#[from] Unavailable),
    #[error("{0}")]
    Compile(#[from] KernelCompileError),
    #[error("the GPU (compute capability {0}.{1}) is too old: the kernels need sm_80 (Ampere) or newer")]
    TooOld(i32, i32),
    #[error("CUDA driver: {0}")]
    Driver(String),
    #[error("kernel {0} is not in kernels/*.cu")]
    NoKernel(String),
    #[error("not supported by the GPU kernels: {0}")]
    Unsupported(String),
}

impl From<cudarc::driver::DriverError> for CudaError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        CudaError::Driver(e.to_string())
    }
}

impl From<CudaError> for ModelError {
    fn from(e: CudaError) -> Self {
        ModelError::Device(e.to_string())
    }
}

/// A device pointer with its element count: cheap to copy, offset-able, checked by the wrappers.
#[derive(Debug)]
pub struct Dev<T> {
    ptr: u64,
    len: usize,
    _element: PhantomData<T>,
}

impl<T> Clone for Dev<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Dev<T> {}

impl<T> Dev<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements `start..start + len`; panics when that is out of range (a bug in our own code,
    /// never in user input: callers size requests before they get here).
    pub fn range(self, start: usize, len: usize) -> Dev<T> {
        assert!(start + len <= self.len, "device range {start}+{len} beyond {}", self.len);
        Dev { ptr: self.ptr + (start * std::mem::size_of::<T>()) as u64, len, _element: PhantomData }
    }

    /// A handle to memory this process did not allocate: describes a launch without a device
    /// (the emulation test gives every buffer a fake address and maps the pointers of the
    /// launches back to its own buffers).
    pub fn from_raw(ptr: u64, len: usize) -> Dev<T> {
        Dev { ptr, len, _element: PhantomData }
    }

    pub(crate) fn raw(self) -> u64 {
        self.ptr
    }
}

/// An owned device allocation.
pub struct DeviceBuffer<T> {
    slice: CudaSlice<T>,
    dev: Dev<T>,
}

impl<T> DeviceBuffer<T> {
    pub fn dev(&self) -> Dev<T> {
        self.dev
    }

    pub fn len(&self) -> usize {
        self.dev.len
    }

    pub fn is_empty(&self) -> bool {
        self.dev.len == 0
    }
}

/// The GPU with every kernel loaded. Work is queued on [`Queue`]s, one per model.
pub struct GpuRuntime {
    pub gpu: Gpu,
    functions: HashMap<String, CudaFunction>,
}

/// One in-order stream of work and the buffers used on it. Each model (the GPT of each pair,
/// BERT) owns one, so models driven from different threads never wait on, or get captured into
/// the CUDA graphs of, each other's work.
#[derive(Clone)]
pub struct Queue {
    rt: Arc<GpuRuntime>,
    stream: Arc<CudaStream>,
}

impl GpuRuntime {
    /// Opens GPU `ordinal`, compiles (or takes from the process cache) every kernel for its
    /// architecture and loads them.
    pub fn open(ordinal: usize) -> Result<Arc<Self>, CudaError> {
        let gpu = discover(ordinal)?;
        let arch = gpu.arch().ok_or(CudaError::TooOld(gpu.capability.0, gpu.capability.1))?;
        // cudarc's per-buffer event tracking would only add work (and events recorded inside a
        // graph capture): every buffer is used on the one Queue that allocated it.
        // SAFETY: see above; `Queue` allocates, uses and frees its buffers on its own stream.
        unsafe { gpu.ctx.disable_event_tracking() };
        let mut functions = HashMap::new();
        for kernel in kernels_for(arch)?.iter() {
            let module = gpu.ctx.load_module(kernel.ptx())?;
            for name in kernel.entry_points() {
                let function = module.load_function(&name)?;
                functions.insert(name, function);
            }
        }
        Ok(Arc::new(GpuRuntime { gpu, functions }))
    }

    /// A new queue (a stream of our own: CUDA graphs cannot be captured on the legacy default
    /// stream).
    pub fn queue(self: &Arc<Self>) -> Result<Queue, CudaError> {
        Ok(Queue { rt: self.clone(), stream: self.gpu.ctx.new_stream()? })
    }

    /// Free and total device memory in bytes.
    pub fn memory(&self) -> Result<(usize, usize), CudaError> {
        Ok(self.gpu.ctx.mem_get_info()?)
    }
}

impl Queue {
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Queues `launch` on the stream.
    ///
    /// # Safety
    /// `launch.args` must match the kernel's parameter list in kernels/*.cu in number, order and
    /// type, and every pointer must cover what the kernel reads and writes for this grid. The
    /// `*_launch` builders of `src/cuda` guarantee both for what they return (each says which
    /// kernel signature it matches and checks the operand sizes); callers pass only their
    /// launches.
    pub unsafe fn run(&self, launch: &KernelLaunch) -> Result<(), CudaError> {
        let kernel = launch.kernel;
        let f = self.rt.functions.get(kernel).ok_or_else(|| CudaError::NoKernel(kernel.into()))?;
        let mut builder = self.stream.launch_builder(f);
        for a in &launch.args {
            match a {
                Arg::Ptr(p) => builder.arg(p),
                Arg::I32(v) => builder.arg(v),
                Arg::F32(v) => builder.arg(v),
            };
        }
        let config = LaunchConfig { grid_dim: launch.grid, block_dim: (launch.block, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: the caller guarantees the argument list (see above).
        unsafe { builder.launch(config) }?;
        Ok(())
    }

    fn wrap<T>(&self, slice: CudaSlice<T>) -> DeviceBuffer<T> {
        let (ptr, _sync) = slice.device_ptr(&self.stream);
        let dev = Dev { ptr, len: slice.len(), _element: PhantomData };
        drop(_sync);
        DeviceBuffer { slice, dev }
    }

    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<DeviceBuffer<T>, CudaError> {
        Ok(self.wrap(self.stream.alloc_zeros::<T>(len.max(1))?))
    }

    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<DeviceBuffer<T>, CudaError> {
        Ok(self.wrap(self.stream.clone_htod(host)?))
    }

    /// f32 host values stored as f16 (the checkpoints' own precision).
    pub fn upload_f16(&self, host: &[f32]) -> Result<DeviceBuffer<f16>, CudaError> {
        let h: Vec<f16> = host.iter().map(|&v| f16::from_f32(v)).collect();
        self.upload(&h)
    }

    /// Copies `host` into the start of `dst` (e.g. one slot's state).
    pub fn write<T: DeviceRepr>(&self, dst: &mut DeviceBuffer<T>, offset: usize, host: &[T]) -> Result<(), CudaError> {
        let mut view = dst.slice.slice_mut(offset..offset + host.len());
        self.stream.memcpy_htod(host, &mut view)?;
        Ok(())
    }

    /// The first `len` elements of `src`, after everything queued so far.
    pub fn read<T: DeviceRepr + Default + Clone>(
        &self,
        src: &DeviceBuffer<T>,
        len: usize,
    ) -> Result<Vec<T>, CudaError> {
        let mut host = vec![T::default(); len];
        self.stream.memcpy_dtoh(&src.slice.slice(..len), &mut host)?;
        self.stream.synchronize()?;
        Ok(host)
    }

    /// Copies `host` to the start of `dst` (a view of one of this queue's allocations).
    pub fn write_to<T: DeviceRepr>(&self, dst: Dev<T>, host: &[T]) -> Result<(), CudaError> {
        assert!(host.len() <= dst.len(), "a write of {} elements into {}", host.len(), dst.len());
        self.stream.context().bind_to_thread()?;
        // SAFETY: `dst` covers `host.len()` elements of live device memory (checked above; views
        // never outlive their executor's allocations), and a copy from pageable host memory
        // returns once `host` has been read.
        unsafe { cudarc::driver::result::memcpy_htod_async(dst.raw(), host, self.stream.cu_stream()) }?;
        Ok(())
    }

    /// The contents of `src`, after everything queued so far.
    pub fn read_from<T: DeviceRepr + Default + Clone>(&self, src: Dev<T>) -> Result<Vec<T>, CudaError> {
        let mut host = vec![T::default(); src.len()];
        self.stream.context().bind_to_thread()?;
        // SAFETY: `src` covers `host.len()` elements of live device memory; the synchronisation
        // below completes the copy before `host` is used.
        unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut host, src.raw(), self.stream.cu_stream()) }?;
        self.stream.synchronize()?;
        Ok(host)
    }

    /// Queues a device-to-device copy of all of `src` into `dst`.
    pub fn copy<T: DeviceRepr>(&self, src: &DeviceBuffer<T>, dst: &mut DeviceBuffer<T>) -> Result<(), CudaError> {
        self.stream.memcpy_dtod(&src.slice, &mut dst.slice)?;
        Ok(())
    }

    pub fn synchronize(&self) -> Result<(), CudaError> {
        Ok(self.stream.synchronize()?)
    }

    /// Records the launches `queue` makes on this queue as a CUDA graph instead of running
    /// them. `queue` must only launch (no copies, no synchronisation).
    pub fn record<E: From<CudaError>>(&self, queue: impl FnOnce() -> Result<(), E>) -> Result<Recording, E> {
        let stream = &self.stream;
        stream.begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL).map_err(CudaError::from)?;
        let queued = std::panic::catch_unwind(std::panic::AssertUnwindSafe(queue));
        // End the capture even when a launch failed or panicked, so the stream stays usable.
        let graph = stream.end_capture(CUgraphInstantiate_flags(0));
        let queued = queued.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let graph = graph.map_err(CudaError::from)?;
        queued?;
        Ok(Recording(graph.ok_or_else(|| CudaError::Driver("the recorded step holds no launch".into()))?))
    }
}

/// Launches recorded by [`Queue::record`], replayed on the same stream.
pub struct Recording(CudaGraph);

// SAFETY: the CUDA graph API requires that one graph is not launched from two threads at once;
// every owner keeps its recordings behind the lock that serialises its steps.
unsafe impl Send for Recording {}

impl Recording {
    pub fn replay(&self) -> Result<(), CudaError> {
        Ok(self.0.launch()?)
    }
}
