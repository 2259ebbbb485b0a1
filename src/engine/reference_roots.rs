//! Which files a request may name as a reference clip (api_v2's `ref_audio_path` and
//! `aux_ref_audio_paths`): regular files under the configured roots (`--ref-root`), checked after
//! canonicalization so that `..`, symlinks and absolute paths cannot leave them. Every refusal
//! gets the same answer — a missing file, a directory, a FIFO and a file outside the roots are
//! indistinguishable — so a client cannot probe which files exist on the server.

use std::path::{Path, PathBuf};

use super::EngineError;

/// The canonical directories reference clips may come from.
#[derive(Debug, Clone, Default)]
pub struct ReferenceRoots {
    roots: Vec<PathBuf>,
}

impl ReferenceRoots {
    /// The directories of `dirs` that exist, canonicalized (a missing one allows nothing).
    pub fn new(dirs: &[PathBuf]) -> Self {
        ReferenceRoots { roots: dirs.iter().filter_map(|d| d.canonicalize().ok()).filter(|d| d.is_dir()).collect() }
    }

    /// The canonical path of `requested` if a request may read it, else the one refusal.
    pub fn resolve(&self, requested: &Path) -> Result<PathBuf, EngineError> {
        let refused = || {
            EngineError::BadRequest(format!(
                "reference clip {} is not allowed: the server reads reference clips only from existing regular \
                 files under its reference folders (serve --ref-root)",
                requested.display()
            ))
        };
        let path = requested.canonicalize().map_err(|_| refused())?;
        if !self.roots.iter().any(|root| path.starts_with(root)) {
            return Err(refused());
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.file_type().is_file() => Ok(path),
            _ => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_under_a_root_are_allowed() {
        let base = std::env::temp_dir().join(format!("sovits-rt-roots-{}", std::process::id()));
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("sub/clip.wav"), b"RIFF").unwrap();
        std::fs::write(outside.join("secret.wav"), b"RIFF").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.join("secret.wav"), root.join("link.wav")).unwrap();
        let roots = ReferenceRoots::new(&[root.clone(), base.join("missing")]);

        let allowed = roots.resolve(&root.join("sub/../sub/clip.wav")).unwrap();
        assert_eq!(allowed, root.join("sub/clip.wav").canonicalize().unwrap());
        let refusals: Vec<String> = [
            outside.join("secret.wav"),
            root.join("../outside/secret.wav"),
            root.join("link.wav"),
            root.join("sub"),
            root.join("no-such.wav"),
            PathBuf::from("/dev/zero"),
        ]
        .iter()
        .map(|p| {
            let e = roots.resolve(p).unwrap_err();
            assert!(matches!(e, EngineError::BadRequest(_)), "{p:?}: {e}");
            // The message only echoes the request: every refusal reads the same.
            e.to_string().replace(&p.display().to_string(), "PATH")
        })
        .collect();
        assert!(refusals.iter().all(|r| r == &refusals[0] && r.contains("not allowed")), "{refusals:?}");
        assert!(ReferenceRoots::new(&[]).resolve(&root.join("sub/clip.wav")).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
