//! (being written)

/// Architecture of the GPT prior, inferred from tensor shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct T2sConfig {
    pub n_layer: usize,
}
