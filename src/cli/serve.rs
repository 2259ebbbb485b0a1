//! `sovits-rt serve`: the HTTP + WebSocket server.

use std::net::SocketAddr;

use anyhow::Context;

use super::EngineArgs;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    engine: EngineArgs,
    /// Address to listen on. Anything but loopback requires --api-key.
    #[arg(long, default_value = "127.0.0.1:9880")]
    listen: SocketAddr,
    /// API key required on every route (Authorization: Bearer KEY, or ?api_key=KEY).
    #[arg(long, env = "SOVITS_RT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    sovits_rt::server::check_bind(&a.listen, a.api_key.as_deref()).map_err(anyhow::Error::msg)?;
    let engine = a.engine.engine()?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
        let addr = listener.local_addr()?;
        eprintln!("serving on http://{addr}/ (WebSocket ws://{addr}/v1/stream); Ctrl-C stops");
        sovits_rt::server::serve(listener, engine, a.api_key).await.context("the server stopped")
    })
}
