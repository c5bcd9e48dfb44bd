//! `digits serve`: a trained model over HTTP — a drawing page at `/` and a JSON API — on axum
//! and tokio.
//!
//! - [`config`]: the settings and the limits every request is checked against;
//! - [`state`]: the model, loaded once, and what is said about it;
//! - [`inference`]: the thread that owns the model and joins concurrent requests into one pass;
//! - [`input`]: request bodies (pictures, JSON, CSV, multipart forms) made into prepared images;
//! - [`routes`]: the routes, the JSON 404/405 fallbacks, the time limit and the metrics layer;
//! - [`error`]: errors as JSON with a 4xx status; [`metrics`]: Prometheus' counters;
//!   [`page`]: the embedded page and OpenAPI file.
//!
//! [`serve`] runs it all until SIGINT or SIGTERM, then stops accepting connections, lets the
//! requests in flight finish (at most [`config::SHUTDOWN_GRACE`]) and returns.

pub mod config;
pub mod error;
pub mod inference;
pub mod input;
pub mod metrics;
pub mod page;
pub mod routes;
pub mod state;

pub use config::ServeConfig;
pub use state::{AppState, ModelInfo};

use crate::{Error, Result};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Loads the model, binds `config.addr`, calls `ready` with the bound address (port 0 is
/// resolved) and the model, and serves until SIGINT or SIGTERM; returns once the requests in
/// flight are answered.
pub fn serve(config: &ServeConfig, ready: impl FnOnce(SocketAddr, &ModelInfo)) -> Result<Served> {
    config.check()?;
    let state = AppState::load(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("digits-serve")
        .build()
        .map_err(|e| Error::invalid(format!("cannot start the server's threads: {e}")))?;
    runtime.block_on(async {
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| Error::invalid(format!("cannot listen on {}: {e}", config.addr)))?;
        let addr = listener.local_addr().map_err(|e| Error::invalid(format!("the bound address: {e}")))?;
        let shutdown = shutdown_signal()?;
        ready(addr, &state.model);
        run(listener, state, shutdown).await
    })
}

/// Serves `listener` until `shutdown` completes, then drains: no new connection is accepted,
/// idle keep-alive connections are closed, requests in flight are answered.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) -> Result<Served> {
    let app = routes::router(state.clone());
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(config::MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that sends its headers slowly (slowloris) is cut off; a slow body is the
    // request layer's time limit (408).
    http.timer(TokioTimer::new()).header_read_timeout(state.config.timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors or a connection reset before it was accepted: wait
                // a moment rather than spin, and go on serving the others.
                Err(_) => { tokio::time::sleep(std::time::Duration::from_millis(20)).await; continue }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(config::SHUTDOWN_GRACE, graceful.shutdown()).await.is_ok();
    Ok(Served { requests: state.metrics.answered(), drained })
}

/// What a server did, once it has stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// Requests answered.
    pub requests: u64,
    /// Whether every connection finished within [`config::SHUTDOWN_GRACE`].
    pub drained: bool,
}

/// A future that completes at the first SIGINT (Ctrl-C) or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: a signal that arrives as soon as
/// the URL is printed must stop the server gracefully too. Call it inside the runtime.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind| signal(kind).map_err(|e| Error::invalid(format!("cannot handle signals: {e}")));
    let (mut interrupt, mut terminate) = (install(SignalKind::interrupt())?, install(SignalKind::terminate())?);
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}
