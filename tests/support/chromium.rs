//! Runs `player.html` in headless Chromium and returns the JSON summary that the page writes into
//! `document.title` in test mode (`?test=1`).
//!
//! Why not `--dump-dom`: it serialises the DOM right after the load event, before a WebSocket session
//! has had time to run, and `--virtual-time-budget` fast-forwards timers but not real socket I/O.
//! Instead Chromium runs with `--remote-debugging-port=0` and we poll the DevTools HTTP endpoint
//! `/json/list`, which reports every page's title: plain HTTP over `std::net`, no CDP WebSocket client.
//!
//! Browser lookup: `$SOVITS_RT_CHROMIUM`, else `chromium`, `chromium-browser`, `google-chrome`,
//! `google-chrome-stable` on `PATH`. No browser gives [`PlayerError::NoBrowser`], which tests should
//! report as a skip unless [`browser_required`] (`SOVITS_RT_REQUIRE_BROWSER=1`, set it in CI).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub enum PlayerError {
    /// No Chromium-family browser found: skip the test (unless [`browser_required`]).
    NoBrowser(String),
    /// The browser ran but the page gave no summary in time, or the browser failed.
    Failed(String),
}

impl std::fmt::Display for PlayerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlayerError::NoBrowser(m) => write!(f, "no headless browser: {m}"),
            PlayerError::Failed(m) => write!(f, "player page failed: {m}"),
        }
    }
}

/// True when `SOVITS_RT_REQUIRE_BROWSER=1`: a missing browser is then a failure, not a skip.
pub fn browser_required() -> bool {
    std::env::var("SOVITS_RT_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// Finds a Chromium-family binary; see the module docs for the search order.
pub fn find_chromium() -> Result<PathBuf, PlayerError> {
    if let Some(p) = std::env::var_os("SOVITS_RT_CHROMIUM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        // An explicit override that does not exist is a configuration error, never a silent skip.
        return if p.is_file() {
            Ok(p)
        } else {
            Err(PlayerError::Failed(format!("SOVITS_RT_CHROMIUM={} does not exist", p.display())))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(PlayerError::NoBrowser(
        "none of chromium, chromium-browser, google-chrome on PATH; install one \
         (Debian: apt-get install --no-install-recommends chromium) or set SOVITS_RT_CHROMIUM"
            .into(),
    ))
}

/// Kills the browser and removes its throwaway profile however the run ends.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Renderer/utility processes outlive the SIGKILLed browser by a few ms and keep writing
        // into the profile, so a single remove_dir_all can lose the race.
        for _ in 0..30 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Loads `url` (which should carry `test=1`) in headless Chromium and waits up to `timeout` for the
/// page's summary, e.g. `{"ok":true,"frames":50,"decoded_samples":48000,"segments":1,"done":{..},..}`.
pub fn run_player_page(url: &str, timeout: Duration) -> Result<serde_json::Value, PlayerError> {
    let bin = find_chromium()?;
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "sovits-rt-chromium-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&profile);
    let child = Command::new(&bin)
        .args([
            "--headless=new",
            // Root in containers/CI cannot use the sandbox; the page is our own, so this is fine.
            "--no-sandbox",
            "--disable-gpu",
            // Docker's 64 MiB /dev/shm makes Chromium crash under load.
            "--disable-dev-shm-usage",
            // AudioContext must run without a click; muted so local runs stay quiet (it still runs).
            "--autoplay-policy=no-user-gesture-required",
            "--mute-audio",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| PlayerError::Failed(format!("cannot start {}: {e}", bin.display())))?;
    let mut browser = Browser { child, profile };

    // stderr carries "DevTools listening on ws://127.0.0.1:PORT/..."; keep a tail for error messages.
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    let tail = Arc::new(Mutex::new(Vec::<String>::new()));
    let stderr = browser.child.stderr.take().expect("stderr is piped");
    let tail_w = Arc::clone(&tail);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("DevTools listening on ws://") {
                if let Some(port) = rest.split(['/', ':']).nth(1).and_then(|p| p.parse().ok()) {
                    let _ = port_tx.send(port);
                }
            }
            let mut t = tail_w.lock().unwrap();
            t.push(line);
            if t.len() > 20 {
                t.remove(0);
            }
        }
    });
    let stderr_tail = || tail.lock().unwrap().join("\n");

    let deadline = Instant::now() + timeout;
    let mut port = None;
    let mut last_title = String::new();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = browser.child.try_wait() {
            return Err(PlayerError::Failed(format!(
                "{} exited early ({status}); stderr:\n{}",
                bin.display(),
                stderr_tail()
            )));
        }
        if port.is_none() {
            port = port_rx.try_recv().ok();
        }
        if let Some(port) = port {
            if let Some(title) = page_title(port) {
                if title.starts_with('{') {
                    return serde_json::from_str(&title)
                        .map_err(|e| PlayerError::Failed(format!("summary is not JSON ({e}): {title}")));
                }
                last_title = title;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(PlayerError::Failed(format!(
        "no summary within {timeout:?} (devtools port {port:?}, last title {last_title:?}); stderr:\n{}",
        stderr_tail()
    )))
}

/// Title of the first normal page target, from DevTools' `/json/list` (None while not reachable yet).
fn page_title(port: u16) -> Option<String> {
    let body = http_get(port, "/json/list").ok()?;
    let targets: serde_json::Value = serde_json::from_str(&body).ok()?;
    targets.as_array()?.iter().find_map(|t| {
        let url = t["url"].as_str().unwrap_or_default();
        (t["type"] == "page" && !url.starts_with("chrome"))
            .then(|| unescape_html(t["title"].as_str().unwrap_or_default()))
    })
}

/// `/json/list` HTML-escapes titles (`"` arrives as `&quot;`); undo that, `&amp;` last.
fn unescape_html(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Minimal HTTP/1.1 GET (the DevTools server rejects HTTP/1.0); the body length comes from
/// Content-Length because the server may keep the connection open.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    // DevTools rejects Host headers that are not an IP or localhost (DNS-rebinding guard).
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status)?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(status.trim().to_owned()));
    }
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        None => {
            r.read_to_end(&mut body)?;
        }
    }
    String::from_utf8(body).map_err(std::io::Error::other)
}
