//! The f32 reference implementation of every stage, multi-threaded. It is what the CUDA path
//! is tested against and what users without a GPU run.
//!
//! Shape letters: `T` time steps, `C` channels, `N` phones, `P` prompt tokens, `V` vocabulary.

pub mod acoustic_twins;
pub mod bert;
pub mod conv2d;
pub mod encoder;
pub mod gemv;
pub mod hubert;
pub mod ops;
pub mod sovits;
pub mod speaker;
pub mod t2s;
pub mod vecmath;

pub use bert::CpuBert;
pub use hubert::CpuHubert;
pub use sovits::{CpuSovits, StyleColumns, VoiceAnalyzer};
pub use speaker::CpuSpeakerNet;
pub use t2s::CpuT2s;
