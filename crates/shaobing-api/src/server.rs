//! The console's HTTP listener: the console, its API, and the operational endpoints
//! (`/metrics`, `/healthz`, `/readyz`) on one port.

use crate::ApiState;
use crate::access::{Access, guard};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use shaobing_metrics::Metrics;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A running console listener.
#[derive(Debug)]
pub struct Server {
    /// The bound address; differs from the configured one when port 0 was asked for.
    pub local_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `listen` and serves the console, its API, `/metrics`, `/healthz` and `/readyz` until
/// `cancel` fires.
pub async fn serve(listen: SocketAddr, state: ApiState, cancel: CancellationToken) -> std::io::Result<Server> {
    let metrics = state.metrics.clone();
    let access = Arc::new(Access {
        token: state.token.clone(),
        viewer: state.viewer_token.clone(),
        loopback: listen.ip().is_loopback(),
    });
    let app =
        operations(metrics).merge(crate::router(state)).layer(axum::middleware::from_fn_with_state(access, guard));
    serve_router(listen, app, cancel).await
}

fn operations(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(metrics)
}

async fn serve_router(listen: SocketAddr, app: Router, cancel: CancellationToken) -> std::io::Result<Server> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local_addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "console listener failed");
        }
    });
    Ok(Server { local_addr, task })
}

/// 200 once the daemon is serving and a source delivers, 503 while it starts or stops or
/// while every camera and the sensors' broker are down: what a load balancer or an
/// orchestrator waits on, and what tells a box that watches nothing from one that works.
async fn readyz(State(metrics): State<Metrics>) -> impl IntoResponse {
    use axum::http::StatusCode;
    if !metrics.is_ready() {
        (StatusCode::SERVICE_UNAVAILABLE, "starting or stopping\n")
    } else if !metrics.any_source_up() {
        (StatusCode::SERVICE_UNAVAILABLE, "no camera and no sensor broker is up\n")
    } else {
        (StatusCode::OK, "ready\n")
    }
}

async fn render(State(metrics): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_metrics_over_http_and_stops() {
        let m = Metrics::new();
        m.camera("c1").frames_analysed.inc();
        let cancel = CancellationToken::new();
        let metrics = m.clone();
        let server = serve_router(SocketAddr::from(([127, 0, 0, 1], 0)), operations(m), cancel.clone()).await.unwrap();
        let mut s = tokio::net::TcpStream::connect(server.local_addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("shaobing_frames_analysed_total{camera=\"c1\"} 1"), "{body}");
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(server.local_addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).await.unwrap();
            body
        };
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        metrics.set_ready(true);
        let down = get("/readyz").await;
        assert!(down.starts_with("HTTP/1.1 503") && down.contains("no camera"), "every source down: {down}");
        metrics.camera("c1").up.set(1);
        assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
        cancel.cancel();
        server.task.await.unwrap();
    }
}
