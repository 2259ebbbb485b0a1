//! Typed reads from a Hugging Face `config.json` (research/upstream-v2.md §1.4). A key that is
//! absent takes the default of the transformers config class, as `from_pretrained` does; a key
//! of the wrong type is an error naming the file and the key.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ModelError;

/// A `config.json` and the file it came from (for error messages).
pub struct HfConfig<'a> {
    file: PathBuf,
    value: &'a Value,
}

impl<'a> HfConfig<'a> {
    pub fn new(dir: &Path, value: &'a Value) -> Self {
        HfConfig { file: dir.join("config.json"), value }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// An architecture error about this config.
    pub fn error(&self, reason: impl Into<String>) -> ModelError {
        ModelError::Architecture { file: self.file.clone(), reason: reason.into() }
    }

    fn field(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, wanted: &str) -> ModelError {
        self.error(format!("config key {key:?} should be {wanted}, found {}", self.value[key]))
    }

    /// A non-negative integer; `default` when absent (`None`: the key is required).
    pub fn usize(&self, key: &str, default: Option<usize>) -> Result<usize, ModelError> {
        match self.field(key) {
            None => default.ok_or_else(|| self.error(format!("config key {key:?} is missing"))),
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| self.bad(key, "a non-negative integer")),
        }
    }

    pub fn f64(&self, key: &str, default: f64) -> Result<f64, ModelError> {
        match self.field(key) {
            None => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| self.bad(key, "a number")),
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ModelError> {
        match self.field(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(key, "true or false")),
        }
    }

    pub fn str(&self, key: &str, default: &'a str) -> Result<&'a str, ModelError> {
        match self.field(key) {
            None => Ok(default),
            Some(v) => v.as_str().ok_or_else(|| self.bad(key, "a string")),
        }
    }

    /// A list of non-negative integers; `default` when absent.
    pub fn usize_list(&self, key: &str, default: &[usize]) -> Result<Vec<usize>, ModelError> {
        match self.field(key) {
            None => Ok(default.to_vec()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_u64().map(|n| n as usize))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.bad(key, "a list of non-negative integers")),
            Some(_) => Err(self.bad(key, "a list of non-negative integers")),
        }
    }

    /// Requires a string option to have one of the values we implement.
    pub fn expect_str(&self, key: &str, default: &'a str, supported: &[&str]) -> Result<&'a str, ModelError> {
        let v = self.str(key, default)?;
        if supported.contains(&v) {
            Ok(v)
        } else {
            Err(self.error(format!("config {key:?} = {v:?} is not supported (supported: {supported:?})")))
        }
    }
}
