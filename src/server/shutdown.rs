//! Stopping the server without cutting anyone off mid-word: WebSocket sessions live outside the
//! HTTP server's own graceful shutdown (an upgraded connection is detached from it), so they are
//! told to stop here, each sends its client an `error` (`shutting_down`) and a close frame, and
//! the server waits — bounded — until they have.

use std::time::Duration;

use tokio::sync::watch;

/// The stop signal and the count of sessions still open.
pub(crate) struct Shutdown {
    stopping: watch::Sender<bool>,
    open: watch::Sender<usize>,
}

/// Held by an open session: while any exist, [`Shutdown::drain`] waits.
pub(crate) struct OpenSession<'a>(&'a Shutdown);

impl Drop for OpenSession<'_> {
    fn drop(&mut self) {
        self.0.open.send_modify(|n| *n -= 1);
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Shutdown { stopping: watch::Sender::new(false), open: watch::Sender::new(0) }
    }

    /// Counts a session as open until the returned guard is dropped.
    pub fn open(&self) -> OpenSession<'_> {
        self.open.send_modify(|n| *n += 1);
        OpenSession(self)
    }

    /// Resolves once the server is stopping (at once if it already is).
    pub async fn stopping(&self) {
        let mut signal = self.stopping.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we borrow it.
        let _ = signal.wait_for(|&stop| stop).await;
    }

    /// The stop signal, for the connection loop.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Tells every session to stop.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Waits until every session is closed, for at most `limit`; returns how many are still open.
    pub async fn drain(&self, limit: Duration) -> usize {
        let mut open = self.open.subscribe();
        let _ = tokio::time::timeout(limit, open.wait_for(|&n| n == 0)).await;
        let left = *open.borrow();
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_open_sessions_and_gives_up_at_the_limit() {
        let shutdown = std::sync::Arc::new(Shutdown::new());
        assert!(!shutdown.is_stopping());
        assert_eq!(shutdown.drain(Duration::from_secs(1)).await, 0, "nothing open: done at once");

        let shutdown = std::sync::Arc::new(Shutdown::new());
        let (told, mut heard) = tokio::sync::mpsc::channel(1);
        let s = shutdown.clone();
        let session = tokio::spawn(async move {
            let _open = s.open();
            told.send(()).await.unwrap();
            s.stopping().await;
            tokio::time::sleep(Duration::from_millis(300)).await; // saying goodbye
        });
        heard.recv().await.unwrap();
        shutdown.stop();
        assert!(shutdown.is_stopping());
        assert_eq!(shutdown.drain(Duration::from_secs(1)).await, 0, "the session closed within the limit");
        session.await.unwrap();

        let stuck = shutdown.open();
        assert_eq!(shutdown.drain(Duration::from_secs(1)).await, 1, "a session that never closes is given up on");
        drop(stuck);
        shutdown.stopping().await; // already stopping: resolves at once
    }
}
