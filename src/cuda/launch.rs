//! Kernel launches as plain data. Every host wrapper builds its launches with a pure, safe
//! function (`*_launch` in [`super::ops`], [`super::t2s`], [`super::bert`], [`super::hubert`])
//! that checks the operand sizes and returns a [`KernelLaunch`]; [`super::Queue::run`] queues
//! it. Because the builders need no device, the emulation test (`tests/kernel_emulation.rs`)
//! calls the very same functions with fake addresses ([`super::runtime::Dev::from_raw`]) and
//! runs what they return on its host emulator.

use super::runtime::Dev;

/// A kernel argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    /// A device pointer (`T*` in the kernel); `Arg::NULL` for an absent optional operand.
    Ptr(u64),
    I32(i32),
    F32(f32),
}

impl Arg {
    pub const NULL: Arg = Arg::Ptr(0);

    pub fn ptr<T>(d: Dev<T>) -> Arg {
        Arg::Ptr(d.raw())
    }

    pub fn opt<T>(d: Option<Dev<T>>) -> Arg {
        d.map_or(Arg::NULL, Arg::ptr)
    }

    /// A size or index. Every one we pass is bounded by an allocation of at most a few GiB
    /// of 2-byte elements per dimension product, far below `i32::MAX` per dimension.
    pub fn int(v: usize) -> Arg {
        debug_assert!(v <= i32::MAX as usize, "kernel argument {v} overflows int");
        Arg::I32(v.min(i32::MAX as usize) as i32)
    }
}

/// One launch of an entry point of `kernels/*.cu`: its name, grid, threads per block
/// (one-dimensional blocks) and arguments in the kernel's parameter order.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelLaunch {
    pub kernel: &'static str,
    pub grid: (u32, u32, u32),
    pub block: u32,
    pub args: Vec<Arg>,
}
