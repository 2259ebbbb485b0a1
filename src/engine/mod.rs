//! The streaming engine: voices, sessions, the scheduler that batches GPT decode steps across
//! sessions, and the chunk plan that turns token streams into continuous audio.

pub mod chunk;
