//! Weights by name, after candle's `VarBuilder`: `w.pp("enc_p").get(&[192, 768, 1], "ssl_proj.weight")`
//! checks presence, shape and finiteness and records the name as used, so a test can assert that
//! a checkpoint was consumed completely ([`Weights::unused`]). Weight-norm pairs
//! (`weight_g`/`weight_v`, or the newer `parametrizations.weight.original0/1`) are folded here.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use crate::checkpoint::TensorStore;
use crate::tensor::Tensor;

use super::ModelError;

/// A prefixed view of a [`TensorStore`].
#[derive(Clone)]
pub struct Weights<'a> {
    store: &'a TensorStore,
    prefix: String,
    used: Rc<RefCell<BTreeSet<String>>>,
}

impl<'a> Weights<'a> {
    pub fn new(store: &'a TensorStore) -> Self {
        Weights { store, prefix: String::new(), used: Rc::default() }
    }

    /// Descends into a sub-module: `w.pp("enc_p").pp(3)` reads `enc_p.3.*`.
    pub fn pp(&self, name: impl std::fmt::Display) -> Self {
        Weights { store: self.store, prefix: format!("{}{}.", self.prefix, name), used: self.used.clone() }
    }

    /// The checkpoint file (for error messages).
    pub fn file(&self) -> &std::path::Path {
        self.store.path()
    }

    fn full(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// The checkpoint file (for error messages).
    pub fn path(&self) -> &std::path::Path {
        self.store.path()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.store.contains(&self.full(name))
    }

    /// The stored shape of `name`, if present (used to infer architecture numbers).
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.store.get(&self.full(name)).map(|v| v.shape.to_vec())
    }

    /// Like [`shape`](Self::shape) but missing is an error.
    pub fn require_shape(&self, name: &str) -> Result<Vec<usize>, ModelError> {
        self.shape(name).ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> ModelError {
        ModelError::MissingTensor { file: self.store.path().to_path_buf(), name: self.full(name) }
    }

    /// Reads `name` as f32 of any shape.
    pub fn get_any(&self, name: &str) -> Result<Tensor, ModelError> {
        let full = self.full(name);
        let view = self.store.get(&full).ok_or_else(|| self.missing(name))?;
        let data = view.to_f32()?;
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(ModelError::NonFinite { file: self.store.path().to_path_buf(), name: full, index: i });
        }
        self.used.borrow_mut().insert(full);
        Ok(Tensor::new(view.shape.to_vec(), data))
    }

    /// Reads `name`, which must have exactly `shape`.
    pub fn get(&self, shape: &[usize], name: &str) -> Result<Tensor, ModelError> {
        let got = self.require_shape(name)?;
        if got != shape {
            return Err(ModelError::ShapeMismatch {
                file: self.store.path().to_path_buf(),
                name: self.full(name),
                expected: shape.to_vec(),
                got,
            });
        }
        self.get_any(name)
    }

    /// Reads a weight that may be stored weight-normed. `name` is the plain parameter name
    /// (`"weight"`); `<name>_g`/`<name>_v` or `parametrizations.<name>.original0/1` are folded
    /// as `g · v / ‖v‖`, the norm taken over every dimension where `g` has size 1
    /// (`torch.nn.utils.weight_norm`; dim 0 for convs, dim 2 for HuBERT's positional conv).
    pub fn get_weight_norm(&self, shape: &[usize], name: &str) -> Result<Tensor, ModelError> {
        let pairs = [
            (format!("{name}_g"), format!("{name}_v")),
            (format!("parametrizations.{name}.original0"), format!("parametrizations.{name}.original1")),
        ];
        for (g_name, v_name) in pairs {
            if self.contains(&g_name) && self.contains(&v_name) {
                let v = self.get(shape, &v_name)?;
                let g = self.get_any(&g_name)?;
                return fold_weight_norm(&g, &v).ok_or_else(|| ModelError::ShapeMismatch {
                    file: self.store.path().to_path_buf(),
                    name: self.full(&g_name),
                    expected: shape.to_vec(),
                    got: g.shape().to_vec(),
                });
            }
        }
        self.get(shape, name)
    }

    /// Names in the store that no `get*` call has read (under any prefix).
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.store.names().filter(|n| !used.contains(*n)).map(str::to_string).collect()
    }
}

/// `w = g · v / ‖v‖` with the norm over all dims where `g` has extent 1. Returns `None` when
/// `g` does not broadcast against `v` along a single kept dimension.
pub fn fold_weight_norm(g: &Tensor, v: &Tensor) -> Option<Tensor> {
    let (gs, vs) = (g.shape(), v.shape());
    if gs.len() != vs.len() {
        return None;
    }
    let kept: Vec<usize> = (0..gs.len()).filter(|&d| gs[d] != 1).collect();
    let dim = match kept.as_slice() {
        [] => 0,
        [d] if gs[*d] == vs[*d] => *d,
        _ => return None,
    };
    if gs.iter().product::<usize>() != vs[dim] {
        return None;
    }
    let inner: usize = vs[dim + 1..].iter().product();
    let outer: usize = vs[..dim].iter().product();
    let n = vs[dim];
    // Accumulate ‖v‖² per kept index in f64: the fold is exact to f32 rounding.
    // Blocks of `inner` elements cycle through the kept index: block b belongs to index b % n.
    let mut sq = vec![0f64; n];
    for (b, block) in v.data().chunks_exact(inner.max(1)).enumerate().take(outer * n) {
        sq[b % n] += block.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
    }
    let scale: Vec<f32> = g.data().iter().zip(&sq).map(|(&gk, s)| (gk as f64 / s.sqrt()) as f32).collect();
    let mut out = v.data().to_vec();
    for (b, block) in out.chunks_exact_mut(inner.max(1)).enumerate() {
        block.iter_mut().for_each(|x| *x *= scale[b % n]);
    }
    Some(Tensor::new(vs.to_vec(), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Folded weight norm equals the unfolded formula, for the kept dim first and last.
    #[test]
    fn fold_matches_formula() {
        let v = Tensor::new([2, 3, 2], (0..12).map(|i| i as f32 - 5.5).collect());
        let g = Tensor::new([2, 1, 1], vec![2.0, -0.5]);
        let w = fold_weight_norm(&g, &v).unwrap();
        for o in 0..2 {
            let row = &v.data()[o * 6..o * 6 + 6];
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            for (i, r) in row.iter().enumerate() {
                let expect = g.data()[o] * r / norm;
                assert!((w.data()[o * 6 + i] - expect).abs() < 1e-6);
            }
        }
        let g2 = Tensor::new([1, 1, 2], vec![3.0, 0.25]);
        let w2 = fold_weight_norm(&g2, &v).unwrap();
        for k in 0..2 {
            let norm = (0..6).map(|j| v.data()[j * 2 + k].powi(2)).sum::<f32>().sqrt();
            for j in 0..6 {
                let expect = g2.data()[k] * v.data()[j * 2 + k] / norm;
                assert!((w2.data()[j * 2 + k] - expect).abs() < 1e-6);
            }
        }
        assert!(fold_weight_norm(&Tensor::new([3, 1, 1], vec![1.0; 3]), &v).is_none());
    }
}
