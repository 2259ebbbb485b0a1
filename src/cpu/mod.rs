//! The f32 reference implementation of every stage, multi-threaded. It is what the CUDA path
//! is tested against and what users without a GPU run.
//!
//! Shape letters: `T` time steps, `C` channels, `N` phones, `P` prompt tokens, `V` vocabulary.

pub mod ops;
pub mod sovits;

pub use sovits::CpuSovits;
