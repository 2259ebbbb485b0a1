//! `sovits-rt serve`: the HTTP + WebSocket server.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sovits_rt::server::{raise_descriptor_limit, ConnectionLimits, ServerOptions};

use super::EngineArgs;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Address to listen on (`HOST:PORT`; a name such as localhost is resolved). Anything but
    /// loopback requires --api-key.
    #[arg(long, default_value = "127.0.0.1:9880")]
    listen: String,
    /// API key required on every route (Authorization: Bearer KEY, X-API-Key: KEY, or
    /// ?api_key=KEY); at least 16 characters.
    #[arg(long, env = "SOVITS_RT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// An origin (e.g. https://app.example) whose web pages may open WebSocket sessions, besides
    /// the server's own player page; repeatable.
    #[arg(long = "allow-origin")]
    allowed_origins: Vec<String>,
    /// Connections open at once (default: what the descriptor limit leaves room for).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Connections open at once from one IP address.
    #[arg(long, default_value_t = 512)]
    max_connections_per_ip: usize,
    /// Seconds a client has to send a request's headers (and an idle connection is kept).
    #[arg(long, default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds running requests and sessions get to finish on Ctrl-C / SIGTERM.
    #[arg(long, default_value_t = 5.0)]
    shutdown_grace: f64,
    /// A folder api_v2 requests may take reference clips from (`ref_audio_path`,
    /// `aux_ref_audio_paths`); repeatable. Default: the voices directory, plus the working
    /// directory when listening on loopback only. Nothing outside these folders is ever read.
    #[arg(long = "ref-root")]
    ref_roots: Vec<PathBuf>,
}

/// `HOST:PORT` → the first address it resolves to.
fn resolve(listen: &str) -> anyhow::Result<SocketAddr> {
    listen
        .to_socket_addrs()
        .with_context(|| format!("--listen {listen}: not an address or a name that resolves (HOST:PORT)"))?
        .next()
        .with_context(|| format!("--listen {listen} resolves to no address"))
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    let listen = resolve(&a.listen)?;
    sovits_rt::server::check_bind(&listen, a.api_key.as_deref()).map_err(anyhow::Error::msg)?;
    // Bound before the models load, so a busy port is reported at once.
    let socket = std::net::TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    socket.set_nonblocking(true)?;
    let seconds = |name: &str, s: f64| {
        if s.is_finite() && s > 0.0 && s <= 3600.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(anyhow::anyhow!("--{name} must be between 0 and 3600 seconds, got {s}"))
        }
    };
    // The default capacity follows the descriptor limit, so raise that first.
    raise_descriptor_limit();
    let limits = ConnectionLimits {
        header_timeout: seconds("header-timeout", a.header_timeout)?,
        max_connections: a.max_connections.unwrap_or(ConnectionLimits::default().max_connections).max(1),
        max_per_peer: a.max_connections_per_ip.max(1),
    };
    let options = ServerOptions {
        api_key: a.api_key.clone(),
        allowed_origins: a.allowed_origins.clone(),
        limits,
        shutdown_grace: seconds("shutdown-grace", a.shutdown_grace)?,
    };
    let engine = a.engine.engine_with(|config| {
        if !a.ref_roots.is_empty() {
            config.reference_roots = a.ref_roots.clone();
        } else if listen.ip().is_loopback() {
            config.reference_roots.extend(std::env::current_dir().ok());
        }
    })?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(socket)?;
        let addr = listener.local_addr()?;
        eprintln!("serving on http://{addr}/ (WebSocket ws://{addr}/v1/stream); Ctrl-C or SIGTERM stops");
        sovits_rt::server::serve(listener, engine, options).await.context("the server stopped")
    })
}
