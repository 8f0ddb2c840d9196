//! Waiting for a condition that real services reach in their own time.

use std::time::{Duration, Instant};

/// Polls `condition` every 100 ms until it holds (`true`) or `timeout` passes (`false`).
pub async fn until(timeout: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
