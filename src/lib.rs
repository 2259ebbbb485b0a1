//! sovits-rt: a realtime streaming voice-cloning engine for GPT-SoVITS models.
//!
//! Layers (see `../shared/DESIGN.md` and `README.md`): [`checkpoint`] reads the files users
//! have, [`model`] holds weight structs and the stage traits, [`cpu`] is the f32 reference
//! implementation of every stage, [`audio`] handles WAV, resampling and spectrograms.
//! [`synthetic`] builds full-size models with random weights for benchmarks and load tests.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::undocumented_unsafe_blocks)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod audio;
pub mod backend;
pub mod checkpoint;
pub mod cpu;
pub mod cuda;
pub mod engine;
pub mod error;
pub mod model;
pub mod pipeline;
pub mod server;
pub mod speaker_verifier;
pub mod synthetic;
pub mod tensor;
pub mod text;
