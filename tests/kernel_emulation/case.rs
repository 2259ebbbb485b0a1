//! One emulation case as a file the C++ driver runs (tests/kernel_emulation/main.cpp): named
//! device buffers with their contents before the launches, the launches (built by the same
//! `*_launch` functions the GPU path uses, on fake addresses), and what each output buffer must
//! hold afterwards, as computed by the Rust CPU twin, with its tolerance.
//!
//! The file is a safetensors file: `buf.<name>` the initial contents of a buffer, `expect.<name>`
//! its expected final contents (the buffer's own dtype: compared bit for bit; F64: compared
//! within `tol.<name>`, one value or one per element, where a NaN means "must still be NaN:
//! never written"); metadata `kernel`, `config`, `tolerance` (the report's columns) and
//! `launches`, a JSON list of `{kernel, grid, block, args}` whose pointer arguments are
//! `{"buf": name, "offset": bytes}` or `{"null": true}` and whose scalars are `{"i32": v}` or
//! `{"f32_bits": v}`.

use std::collections::HashMap;
use std::path::Path;

use half::f16;
use safetensors::tensor::{Dtype, TensorView};
use serde_json::{json, Value};
use sovits_rt::cuda::runtime::Dev;
use sovits_rt::cuda::{Arg, KernelLaunch};

/// An element type a case buffer can hold.
pub trait Element: bytemuck::Pod {
    const DTYPE: Dtype;
}

macro_rules! elements {
    ($($t:ty => $dtype:ident),*) => {
        $(impl Element for $t {
            const DTYPE: Dtype = Dtype::$dtype;
        })*
    };
}
elements!(f16 => F16, f32 => F32, f64 => F64, i32 => I32, u32 => U32, u64 => U64, u8 => U8);

/// Distance between the fake device addresses of two buffers: far beyond any buffer's size, so
/// every pointer into a buffer (a `Dev::range` view too) maps back to it.
const ADDRESS_SPACING: u64 = 1 << 40;

/// A named buffer's dtype, element count, bytes and fake address.
struct Buffer {
    name: String,
    dtype: Dtype,
    len: usize,
    bytes: Vec<u8>,
    address: u64,
}

/// What a buffer must hold after the launches.
struct Expectation {
    name: String,
    dtype: Dtype,
    bytes: Vec<u8>,
    len: usize,
    /// F64 expectations only: one tolerance, or one per element.
    tolerance: Option<Vec<f64>>,
}

/// One case: build it with [`Case::buffer`], [`Case::launch`] and the `expect_*` methods, then
/// [`Case::write`] it.
pub struct Case {
    kernel: String,
    config: String,
    tolerance: String,
    buffers: Vec<Buffer>,
    launches: Vec<KernelLaunch>,
    expectations: Vec<Expectation>,
}

impl Case {
    /// `kernel`: the entry point (or group) the report names; `config`: the case's parameters;
    /// `tolerance`: how its tolerances are set, in words.
    pub fn new(kernel: impl Into<String>, config: impl Into<String>, tolerance: impl Into<String>) -> Case {
        Case {
            kernel: kernel.into(),
            config: config.into(),
            tolerance: tolerance.into(),
            buffers: Vec::new(),
            launches: Vec::new(),
            expectations: Vec::new(),
        }
    }

    /// A device buffer `name` holding `values` before the launches; the handle to pass to the
    /// launch builders.
    pub fn buffer<T: Element>(&mut self, name: &str, values: &[T]) -> Dev<T> {
        assert!(self.buffers.iter().all(|b| b.name != name), "buffer {name} defined twice");
        let address = (self.buffers.len() as u64 + 1) * ADDRESS_SPACING;
        let bytes = bytemuck::cast_slice(values).to_vec();
        self.buffers.push(Buffer { name: name.into(), dtype: T::DTYPE, len: values.len(), bytes, address });
        Dev::from_raw(address, values.len())
    }

    /// Runs `launch` after the launches added before it.
    pub fn launch(&mut self, launch: KernelLaunch) {
        self.launches.push(launch);
    }

    /// The launches, in the order they run.
    pub fn launches(&self) -> &[KernelLaunch] {
        &self.launches
    }

    /// Buffer `name` must end holding exactly `values`, bit for bit (integers, copies, f16
    /// results the twin rounds the same way; a NaN there must be the same NaN, still unwritten).
    pub fn expect_exact<T: Element>(&mut self, name: &str, values: &[T]) {
        let bytes = bytemuck::cast_slice(values).to_vec();
        self.add_expectation(Expectation {
            name: name.into(),
            dtype: T::DTYPE,
            bytes,
            len: values.len(),
            tolerance: None,
        });
    }

    /// Float buffer `name` must end within `tolerance` of `values` element by element
    /// (`tolerance`: one value for all, or one per element); a NaN in `values` means the element
    /// must still be NaN (never written).
    pub fn expect_near(&mut self, name: &str, values: &[f64], tolerance: &[f64]) {
        assert!(tolerance.len() == 1 || tolerance.len() == values.len(), "{name}: one tolerance or one per element");
        let bytes = bytemuck::cast_slice(values).to_vec();
        let tolerance = Some(tolerance.to_vec());
        self.add_expectation(Expectation { name: name.into(), dtype: Dtype::F64, bytes, len: values.len(), tolerance });
    }

    fn add_expectation(&mut self, e: Expectation) {
        let buffer = self.buffers.iter().find(|b| b.name == e.name);
        let buffer = buffer.unwrap_or_else(|| panic!("expectation for {}, which is no buffer", e.name));
        assert_eq!(buffer.len, e.len, "{}: expected {} elements of a buffer of {}", e.name, e.len, buffer.len);
        assert!(
            e.tolerance.is_some() || e.dtype == buffer.dtype,
            "{}: exact expectations keep the buffer's dtype",
            e.name
        );
        assert!(self.expectations.iter().all(|x| x.name != e.name), "{} expected twice", e.name);
        self.expectations.push(e);
    }

    /// A pointer argument as the case file names it: a buffer and a byte offset, or null.
    fn pointer(&self, address: u64) -> Value {
        if address == 0 {
            return json!({ "null": true });
        }
        let buffer = self.buffers.iter().find(|b| address >= b.address && address - b.address <= b.bytes.len() as u64);
        let buffer =
            buffer.unwrap_or_else(|| panic!("{}: a launch points at {address:#x}, inside no buffer", self.kernel));
        json!({ "buf": buffer.name, "offset": address - buffer.address })
    }

    fn launches_json(&self) -> String {
        let launches: Vec<Value> = self
            .launches
            .iter()
            .map(|l| {
                let args: Vec<Value> = l
                    .args
                    .iter()
                    .map(|a| match *a {
                        Arg::Ptr(p) => self.pointer(p),
                        Arg::I32(v) => json!({ "i32": v }),
                        Arg::F32(v) => json!({ "f32_bits": v.to_bits() }),
                    })
                    .collect();
                json!({ "kernel": l.kernel, "grid": [l.grid.0, l.grid.1, l.grid.2], "block": l.block, "args": args })
            })
            .collect();
        Value::Array(launches).to_string()
    }

    /// Writes the case to `dir`, named after its position `index` (the driver runs the files in
    /// name order) and its kernel.
    pub fn write(&self, dir: &Path, index: usize) {
        assert!(
            !self.launches.is_empty() && !self.expectations.is_empty(),
            "{}: a case launches and expects",
            self.kernel
        );
        let tolerances: Vec<(String, Vec<u8>, usize)> = self
            .expectations
            .iter()
            .filter_map(|e| e.tolerance.as_ref().map(|t| (e.name.clone(), bytemuck::cast_slice(t).to_vec(), t.len())))
            .collect();
        let mut tensors: Vec<(String, TensorView<'_>)> = Vec::new();
        for b in &self.buffers {
            tensors.push((format!("buf.{}", b.name), view(b.dtype, b.len, &b.bytes)));
        }
        for e in &self.expectations {
            tensors.push((format!("expect.{}", e.name), view(e.dtype, e.len, &e.bytes)));
        }
        for (name, bytes, len) in &tolerances {
            tensors.push((format!("tol.{name}"), view(Dtype::F64, *len, bytes)));
        }
        let metadata = HashMap::from([
            ("kernel".to_string(), self.kernel.clone()),
            ("config".to_string(), self.config.clone()),
            ("tolerance".to_string(), self.tolerance.clone()),
            ("launches".to_string(), self.launches_json()),
        ]);
        let file: String =
            self.kernel.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
        let path = dir.join(format!("{index:03}-{file}.safetensors"));
        let bytes = safetensors::serialize(tensors, Some(metadata)).expect("serializing a case");
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

/// A one-dimensional tensor of `len` elements over `bytes`.
fn view(dtype: Dtype, len: usize, bytes: &[u8]) -> TensorView<'_> {
    TensorView::new(dtype, vec![len], bytes).expect("a tensor view of its own bytes")
}
