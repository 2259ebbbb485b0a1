//! An [`Engine`] on the fixture models with two voices (`alice`, `bob` at speed 1.2) in a
//! throwaway voices directory, and the server on an ephemeral loopback port. Included by the
//! tests that need it with `#[path = "common/engine.rs"] mod test_engine;` (not from `common`,
//! so the other test binaries do not compile the server).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use sovits_rt::engine::{Engine, EngineConfig, NewVoice, RequestParams, VoiceManifest};
use sovits_rt::server::ServerOptions;

/// An engine serving at most `max_sessions` sessions; keep the directory alive as long as it.
pub fn engine(dir: &Path, max_sessions: usize) -> (Arc<Engine>, tempdir::Dir) {
    engine_with(dir, |c| c.max_sessions = max_sessions)
}

/// An engine whose config `tweak` may change (capacity, event buffer, …).
pub fn engine_with(dir: &Path, tweak: impl FnOnce(&mut EngineConfig)) -> (Arc<Engine>, tempdir::Dir) {
    let voices = tempdir::Dir::new("engine-voices");
    let mut config = EngineConfig::new(
        dir.join("gpt.ckpt"),
        dir.join("sovits.pth"),
        dir.join("chinese-hubert-base"),
        dir.join("chinese-roberta-wwm-ext-large"),
        voices.path().to_path_buf(),
    );
    tweak(&mut config);
    let engine = Arc::new(Engine::new(config).unwrap());
    let (transcript, wav) = reference(dir);
    for (name, speed) in [("alice", 1.0), ("bob", 1.2)] {
        let manifest = VoiceManifest {
            name: name.into(),
            transcript: transcript.clone(),
            lang: "zh".into(),
            gpt: None,
            sovits: None,
            defaults: RequestParams { speed, ..Default::default() },
        };
        engine.add_voice(&NewVoice { manifest, reference_wav: wav.clone() }).unwrap();
    }
    (engine, voices)
}

/// The fixture reference clip: (transcript, WAV bytes).
pub fn reference(dir: &Path) -> (String, Vec<u8>) {
    let transcript = std::fs::read_to_string(dir.join("ref.txt")).unwrap().trim().to_string();
    (transcript, std::fs::read(dir.join("ref.wav")).unwrap())
}

/// Serves `sovits_rt::server::serve` on 127.0.0.1:0 from the current tokio runtime.
pub async fn serve(engine: Arc<Engine>, api_key: Option<&str>) -> SocketAddr {
    serve_with(engine, ServerOptions { api_key: api_key.map(str::to_string), ..Default::default() }).await
}

/// Serves with `options` on 127.0.0.1:0 from the current tokio runtime.
pub async fn serve_with(engine: Arc<Engine>, options: ServerOptions) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { sovits_rt::server::serve(listener, engine, options).await.unwrap() });
    addr
}

/// Like [`serve`], stopped by sending on the returned channel; the task ends when the server has.
pub async fn serve_stoppable(
    engine: Arc<Engine>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(sovits_rt::server::serve_until(listener, engine, ServerOptions::default(), async {
        let _ = stopped.await;
    }));
    (addr, stop, served)
}

/// Waits up to `limit` for the engine to count no active session; returns how long it took.
pub async fn wait_idle(engine: &Engine, limit: std::time::Duration) -> Result<std::time::Duration, usize> {
    let t = std::time::Instant::now();
    while t.elapsed() < limit {
        if engine.metrics().active() == 0 {
            return Ok(t.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    match engine.metrics().active() {
        0 => Ok(t.elapsed()),
        n => Err(n),
    }
}

pub mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Self {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("sovits-rt-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
