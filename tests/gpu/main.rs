//! Every GPU test, in one test binary (the GPU machine gets a copy of the tree limited to 64 MiB,
//! so `scripts/gpu-bundle.sh` carries as few binaries as possible): each stage on the GPU against
//! the CPU reference. Needs an NVIDIA GPU; every test prints SKIP without one (fails instead with
//! `SOVITS_RT_REQUIRE_GPU=1`).
//!
//! * [`kernels`]: single kernels against their CPU twins;
//! * [`t2s`]: the GPT prior and BERT;
//! * [`hubert`]: HuBERT and the prompt tokens;
//! * [`acoustic`]: the SoVITS decoder + HiFi-GAN, batched.
#[path = "../common/mod.rs"]
mod common;

mod acoustic;
mod hubert;
mod kernels;
mod t2s;
