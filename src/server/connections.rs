//! Accepting TCP connections with limits, so that clients which open connections and never finish
//! a request (slowloris) cannot exhaust the process's file descriptors and lock everyone out:
//!
//! * a request's headers must arrive within [`ConnectionLimits::header_timeout`], and a kept-alive
//!   connection waiting for its next request is closed after the same time (hyper's
//!   header-read timer runs whenever a request head is awaited);
//! * at most [`ConnectionLimits::max_connections`] are open at once, and at most
//!   [`ConnectionLimits::max_per_peer`] from one IP address; a connection past either is closed at
//!   once, before anything is read;
//! * at start the soft descriptor limit is raised to the hard one ([`raise_descriptor_limit`]).
//!
//! Connections are served as HTTP/1.1 (WebSocket upgrades included) by hyper directly, which
//! is what `axum::serve` does minus the timer it does not set.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// What one server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers (and that an idle kept-alive connection is
    /// kept).
    pub header_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one IP address.
    pub max_per_peer: usize,
}

/// Descriptors kept free for the model files, the voices directory and logs.
const RESERVED_DESCRIPTORS: u64 = 128;

impl Default for ConnectionLimits {
    /// 10 s for headers; as many connections as the descriptor limit leaves room for (at most
    /// 16,384), 512 of them per address.
    fn default() -> Self {
        let room = descriptor_limit().saturating_sub(RESERVED_DESCRIPTORS).clamp(64, 16_384);
        ConnectionLimits { header_timeout: Duration::from_secs(10), max_connections: room as usize, max_per_peer: 512 }
    }
}

/// The soft limit on open descriptors (`RLIMIT_NOFILE`); 1,024 where it cannot be read.
fn descriptor_limit() -> u64 {
    rlimit().map_or(1024, |l| l.rlim_cur)
}

fn rlimit() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes one `rlimit` through a valid pointer to a local.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// Raises the soft descriptor limit to the hard limit (the default soft limit of 1,024 is what a
/// few hundred stalled clients exhaust). Returns the soft limit in force afterwards.
pub fn raise_descriptor_limit() -> u64 {
    let Some(mut limit) = rlimit() else { return 1024 };
    if limit.rlim_cur < limit.rlim_max {
        let wanted = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: `setrlimit` reads one `rlimit` through a valid pointer to a local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            limit = wanted;
        }
    }
    limit.rlim_cur
}

/// Counts open connections, in all and per address.
#[derive(Default)]
struct Open {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    open: Arc<Mutex<Open>>,
    peer: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock();
        open.total -= 1;
        if let Some(n) = open.per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.per_peer.remove(&self.peer);
            }
        }
    }
}

fn admit(open: &Arc<Mutex<Open>>, limits: &ConnectionLimits, peer: IpAddr) -> Option<Admitted> {
    let mut o = open.lock();
    let from_peer = o.per_peer.get(&peer).copied().unwrap_or(0);
    if o.total >= limits.max_connections || from_peer >= limits.max_per_peer {
        return None;
    }
    o.total += 1;
    o.per_peer.insert(peer, from_peer + 1);
    Some(Admitted { open: open.clone(), peer })
}

/// Serves `app` on `listener` until `stop` changes to true; then stops accepting, lets every
/// connection finish its request in flight (WebSocket sessions are ended by the caller), and
/// returns once all are closed or `grace` has passed.
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    // Every connection task holds a sender: `recv` gives `None` once the last one has ended.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(e) if is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
            () = stopped(&mut stop) => break,
        };
        let Some(admitted) = admit(&open, &limits, peer.ip()) else {
            drop(tcp);
            continue;
        };
        tokio::spawn(serve_connection(tcp, app.clone(), limits, stop.clone(), (admitted, alive.clone())));
    }
    drop((listener, alive));
    let _ = tokio::time::timeout(grace, all_closed.recv()).await;
    Ok(())
}

/// Resolves once the server is stopping (the guard `wait_for` returns is not `Send`, so it is
/// dropped here, before the caller's next await).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|&s| s).await;
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
        || e.raw_os_error().is_some_and(|c| c == libc::EMFILE || c == libc::ENFILE)
}

/// Serves one connection; `_held` frees its place and tells the server it ended when dropped.
async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
    _held: (Admitted, mpsc::Sender<()>),
) {
    // Audio frames are small and latency-bound: without TCP_NODELAY, Nagle's algorithm holds a
    // frame until the client's delayed ACK (~40 ms).
    let _ = tcp.set_nodelay(true);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app)).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = stopped(&mut stop) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}
