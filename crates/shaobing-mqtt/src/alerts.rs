//! Issue alerts: every new issue, and every issue resolved, published at once with QoS 1 on a
//! topic tree per box, priority and category, so the command centre (and for a fire, every
//! department) can subscribe to exactly what it must act on.
//!
//! ```text
//! shaobing/<box_id>/availability                   online | offline (retained, last will)
//! shaobing/<box_id>/issues/emergency/<category>    {"event":"new"|"resolved", "issue":{...}}
//! shaobing/<box_id>/issues/routine/<category>
//! ```

use crate::ingest::{MqttError, mqtt_options};
use crate::{MqttConfig, availability_topic};
use rumqttc::{AsyncClient, Event, NetworkOptions, Packet, QoS};
use shaobing_core::{Backoff, RateLimiter};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One alert: what happened to which issue, and the issue as the problem database holds it.
#[derive(Debug, Clone)]
pub struct Alert {
    pub event: &'static str,
    pub priority: String,
    pub category: String,
    /// The issue snapshot as JSON.
    pub issue: serde_json::Value,
}

pub fn issue_topic(box_id: &str, priority: &str, category: &str) -> String {
    format!("shaobing/{box_id}/issues/{priority}/{category}")
}

/// Publishes alerts until `cancel`. Alerts queued while the broker is away are published when
/// it returns (the session is persistent and QoS 1 publishes are retried).
pub async fn publish_alerts(
    mqtt: MqttConfig,
    box_id: String,
    mut alerts: mpsc::Receiver<Alert>,
    cancel: CancellationToken,
) -> Result<(), MqttError> {
    mqtt.validate()?;
    let client_id = format!("{}-alerts", mqtt.client_id_for(&box_id));
    let (client, mut eventloop) = AsyncClient::new(mqtt_options(&mqtt, &box_id, client_id)?, 1024);
    let mut network = NetworkOptions::new();
    network.set_connection_timeout(mqtt.connect_timeout_secs);
    eventloop.set_network_options(network);
    let availability = availability_topic(&box_id);
    let poll = {
        let (client, cancel) = (client.clone(), cancel.clone());
        let mut backoff =
            Backoff::new(Duration::from_millis(mqtt.backoff_initial_ms), Duration::from_millis(mqtt.backoff_max_ms));
        let mut log = RateLimiter::new(Duration::from_secs(10));
        async move {
            loop {
                let event = tokio::select! {
                    _ = cancel.cancelled() => return,
                    e = eventloop.poll() => e,
                };
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff.reset();
                        let _ = client.try_publish(availability.as_str(), QoS::AtLeastOnce, true, "online");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(suppressed) = log.allow("alerts_disconnected", Instant::now()) {
                            tracing::warn!(error = %e, suppressed, "alert broker unreachable; alerts wait");
                        }
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(backoff.next_delay()) => {}
                        }
                    }
                }
            }
        }
    };
    let poller = tokio::spawn(poll);
    loop {
        let alert = tokio::select! {
            _ = cancel.cancelled() => break,
            a = alerts.recv() => match a { Some(a) => a, None => break },
        };
        let topic = issue_topic(&box_id, &alert.priority, &alert.category);
        let payload = serde_json::json!({ "event": alert.event, "issue": alert.issue }).to_string();
        if client.publish(topic, QoS::AtLeastOnce, false, payload).await.is_err() {
            break;
        }
    }
    let _ = client.try_publish(availability_topic(&box_id), QoS::AtLeastOnce, true, "offline");
    let _ = client.try_disconnect();
    poller.abort();
    Ok(())
}
