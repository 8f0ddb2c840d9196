use crate::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// A running metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    /// The bound address; differs from the configured one when port 0 was asked for.
    pub local_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `listen` and serves `/metrics` and `/healthz` until `cancel` fires.
pub async fn serve(listen: SocketAddr, metrics: Metrics, cancel: CancellationToken) -> std::io::Result<MetricsServer> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let local_addr = listener.local_addr()?;
    let app =
        Router::new().route("/metrics", get(render)).route("/healthz", get(|| async { "ok\n" })).with_state(metrics);
    let task = tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    });
    Ok(MetricsServer { local_addr, task })
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
        let server = serve(SocketAddr::from(([127, 0, 0, 1], 0)), m, cancel.clone()).await.unwrap();
        let mut s = tokio::net::TcpStream::connect(server.local_addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("shaobing_frames_analysed_total{camera=\"c1\"} 1"), "{body}");
        cancel.cancel();
        server.task.await.unwrap();
    }
}
