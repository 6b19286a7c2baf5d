//! `knap-test-server`: the test server as a command, for benchmark scripts.
//!
//! Prints one JSON line on stdout once it listens (`url`, `addr`, and `ca`
//! with `--tls`), serves until SIGINT or SIGTERM, then writes the counters
//! to `--stats FILE` (they are also at `GET /__stats`, and
//! `GET /__stats?reset` reads and resets them).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use knap_test_server::{Config, Protocol, Server, TestPki};

/// Serves a directory over HTTP/1.0, HTTP/1.1 or HTTP/2 (TLS or plain),
/// with an injected delay and a chosen accept queue, counting connections,
/// requests and streams.
#[derive(Parser)]
#[command(name = "knap-test-server", version)]
struct Args {
    /// The directory to serve.
    root: PathBuf,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Serve HTTPS with a fresh test CA and server certificate, written to
    /// DIR as ca.pem (trust this), server.pem and server.key.
    #[arg(long, value_name = "DIR")]
    tls: Option<PathBuf>,
    /// auto (HTTP/2 and HTTP/1.1: ALPN over TLS, h2c prior knowledge in
    /// plain HTTP), http1, http2, or http10 (like python's http.server:
    /// HTTP/1.0, Connection: close, a connection per request).
    #[arg(long, default_value = "auto")]
    protocol: Protocol,
    /// Milliseconds added before every response.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// listen(2)'s backlog (the accept queue); python's http.server uses 5.
    #[arg(long, default_value_t = 1024)]
    backlog: u32,
    /// The most concurrent HTTP/2 streams per connection.
    #[arg(long, default_value_t = 128)]
    max_streams: u32,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the counters (JSON) to FILE on exit.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Append a JSON line per connection event and request to FILE.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Close a connection after N requests (HTTP/2 GOAWAY, HTTP/1.1
    /// Connection: close), answering those it carries, as nginx does
    /// (keepalive_requests, 1000 by default).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// With --max-requests: do as hypercorn 0.18 does instead (its
    /// keep_alive_max_requests, 1000): the request over the limit and those
    /// still open on the connection are never answered, and the connection
    /// closes MS milliseconds later (hypercorn's keep_alive_timeout: 5000).
    #[arg(long, value_name = "MS", requires = "max_requests")]
    abandon_at_limit_ms: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.root.is_dir(),
        "{} is not a directory",
        args.root.display()
    );
    let mut cfg = Config::new(&args.root)
        .protocol(args.protocol)
        .delay(Duration::from_millis(args.delay_ms))
        .backlog(args.backlog)
        .max_concurrent_streams(args.max_streams)
        .threads(args.threads);
    cfg.bind = args.bind;
    if let Some(log) = &args.log {
        cfg = cfg.log(log);
    }
    if let Some(n) = args.max_requests {
        cfg = cfg.max_requests_per_connection(n);
    }
    if let Some(ms) = args.abandon_at_limit_ms {
        cfg = cfg.abandon_at_limit(Duration::from_millis(ms));
    }
    let mut ca = None;
    if let Some(dir) = &args.tls {
        let pki = TestPki::generate()?;
        let files = pki
            .write_to(dir)
            .with_context(|| format!("writing the test certificates to {}", dir.display()))?;
        ca = Some(files.ca);
        cfg = cfg.tls(Arc::new(pki));
    }
    let server = Server::start(cfg)?;
    let hello = serde_json::json!({
        "url": server.url("/"),
        "addr": server.addr().to_string(),
        "ca": ca,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{hello}")?;
    out.flush()?;
    drop(out);

    wait_for_signal()?;
    let stats = server.stop();
    if let Some(path) = &args.stats {
        std::fs::write(path, serde_json::to_vec_pretty(&stats)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_signal() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    Ok(())
}
