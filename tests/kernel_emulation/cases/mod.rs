//! The emulation cases, one module per kernel file (and `gpt`: the GPT's launch lists whole). Each builds its launches with the `*_launch`
//! functions of `src/cuda` and its expectations with the CPU twin named in the kernel file's
//! header comment.

pub mod acoustic;
pub mod attention;
pub mod embed;
pub mod gpt;
pub mod hubert;
pub mod linear;
pub mod norm;
pub mod sampling;

use crate::case::Case;

/// Every case, in the report's order.
pub fn all() -> Vec<Case> {
    [
        norm::cases(),
        linear::cases(),
        attention::cases(),
        embed::cases(),
        sampling::cases(),
        hubert::cases(),
        acoustic::cases(),
        gpt::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
