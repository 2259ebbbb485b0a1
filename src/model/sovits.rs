//! (being written)

/// Architecture of the SoVITS decoder, inferred from tensor shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct SovitsConfig {
    pub gin_channels: usize,
}
