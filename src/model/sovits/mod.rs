//! SoVITS v1/v2/v2Pro/v2ProPlus `SynthesizerTrn` for inference (upstream `GPT_SoVITS/module/models.py`,
//! `attentions.py`, `mrte_model.py`, `modules.py`, `quantize.py`): the architecture inferred from
//! tensor shapes ([`config`]) and the weights by checkpoint name ([`weights`]), with weight norm
//! folded at load. Specification: research/upstream-v2.md §5.1 (module tree and keys), §5.3
//! (math), §5.5 (weight norm), §3.1 step 6 (`ssl_proj` + VQ), Appendix B (key list).
//!
//! The constants below are upstream's numbers that no tensor shape carries.

pub mod config;
pub mod weights;

pub use config::{
    FlowConfig, GeneratorConfig, QuantizerConfig, RefEncConfig, SovitsConfig, SpeakerConditioningConfig,
    TextEncoderConfig,
};
pub use weights::*;

/// `attentions.LayerNorm` epsilon (§5.3.2).
pub const LAYER_NORM_EPS: f32 = 1e-5;
/// Value upstream writes into masked attention scores (`masked_fill(mask == 0, -1e4)`, §5.3.2).
pub const ATTENTION_MASK_FILL: f32 = -1e4;
/// `MRTE(n_heads=4)`: hard-coded in `mrte_model.py`, not visible in any shape (§5.3.3).
pub const MRTE_HEADS: usize = 4;
/// `MelStyleEncoder(style_head=2)`: upstream default, not visible in any shape (§5.3.5).
pub const REF_ENC_HEADS: usize = 2;
/// `modules.LRELU_SLOPE`, used everywhere in the generator except before `conv_post` (§5.3.6).
pub const LRELU_SLOPE: f32 = 0.1;
/// `F.leaky_relu` default slope, used once before the generator's `conv_post` (§5.3.6, §9 item 5).
pub const FINAL_LRELU_SLOPE: f32 = 0.01;
/// `configs/s2.json` `upsample_rates` of every v1/v2 model (§1.3.3); used when the checkpoint's
/// pickled config does not carry them.
pub const V2_UPSAMPLE_RATES: [usize; 5] = [10, 8, 2, 2, 2];
/// `configs/s2.json` `resblock_dilation_sizes` entry (the same for every resblock kernel).
pub const V2_RESBLOCK_DILATIONS: [usize; 3] = [1, 3, 5];
/// WaveNet dilation rate of the flow couplings (`ResidualCouplingBlock(..., 5, 1, 4, ...)`): 1, so
/// every WN layer has dilation 1.
pub const FLOW_DILATION_RATE: usize = 1;
