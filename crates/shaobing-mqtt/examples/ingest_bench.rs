//! Benchmark (not a test): readings/s through decode -> store commit -> ack -> rules, QoS 1,
//! against a bare rumqttc QoS 1 drain of the same broker in the same run.
//!
//! Both sides drain the same backlog: a persistent session is created, the client goes away,
//! N messages are published and queued by the broker, then the client comes back and the time
//! to receive (bare) or commit (ingest) all N is measured. The payload values replay a real
//! series, EPA daily PM2.5 at Durham NC in 2011 (fixtures/README.md in shaobing-sensors).
//!
//! cargo run --release -p shaobing-mqtt --example ingest_bench [-- N [ROUNDS]]

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Broker, start_ingest_subscribed, start_ingest_with};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use shaobing_mqtt::MqttConfig;
use shaobing_sensors::corpus::{AIR_TOPIC, EXAMPLE_CONFIG};
use std::time::{Duration, Instant};

const SERIES: &str = include_str!("../../shaobing-sensors/fixtures/pm25_2011_durham.csv");

fn real_values() -> Vec<f64> {
    SERIES.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse().unwrap()).collect()
}

async fn publish_backlog(broker: &Broker, n: usize) {
    common::publish_backlog(broker, AIR_TOPIC, n, &real_values()).await;
}

fn bare_options(broker: &Broker) -> MqttOptions {
    let mut o = MqttOptions::new("bench-bare", "127.0.0.1", broker.port);
    o.set_clean_session(false).set_keep_alive(Duration::from_secs(15));
    o
}

/// A plain rumqttc subscriber with automatic acks draining `n` queued messages.
async fn bare_drain(broker: &Broker, n: usize) -> Duration {
    {
        let (client, mut eventloop) = AsyncClient::new(bare_options(broker), 1024);
        client.subscribe(AIR_TOPIC, QoS::AtLeastOnce).await.unwrap();
        while !matches!(eventloop.poll().await.unwrap(), Event::Incoming(Packet::SubAck(_))) {}
        client.disconnect().await.unwrap();
        while eventloop.poll().await.is_ok() {}
    }
    publish_backlog(broker, n).await;
    let (_client, mut eventloop) = AsyncClient::new(bare_options(broker), 1024);
    let started = Instant::now();
    let mut received = 0;
    while received < n {
        if let Event::Incoming(Packet::Publish(_)) = eventloop.poll().await.unwrap() {
            received += 1;
        }
    }
    started.elapsed()
}

async fn ingest_drain(broker: &Broker, n: usize) -> Duration {
    start_ingest_subscribed(broker, EXAMPLE_CONFIG, "bench-box").await.shutdown().await;
    publish_backlog(broker, n).await;
    let batch_max = std::env::var("BENCH_BATCH_MAX").map_or(MqttConfig::default().batch_max, |v| v.parse().unwrap());
    let running = start_ingest_with(broker, EXAMPLE_CONFIG, "bench-box", |m| {
        m.batch_max = batch_max;
        m.queue_capacity = m.queue_capacity.max(batch_max);
    });
    let started = Instant::now();
    // The committed counter, not a store query: a 1 ms poll keeps the measurement honest.
    while running.metrics.committed.get() < n as u64 {
        assert!(started.elapsed() < Duration::from_secs(600), "ingest stalled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    // A later round may also receive the few messages an earlier round committed but had not
    // acknowledged when it shut down: the broker redelivers them into this round's fresh store.
    assert!(running.reader().count().unwrap() >= n as u64);
    let commits = &running.metrics.commit_seconds;
    println!(
        "commits:              {:>9} transactions of {:.0} readings on average, {:.2} ms each (batch_max {batch_max})",
        commits.get_sample_count(),
        n as f64 / commits.get_sample_count() as f64,
        1000.0 * commits.get_sample_sum() / commits.get_sample_count() as f64
    );
    running.shutdown().await;
    elapsed
}

/// A run lasts under a second and the bare drain alone varies by half between runs on a busy
/// box, so the two sides alternate for several rounds and the median ratio is the figure.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args().nth(1).map_or(20_000, |a| a.parse().expect("N"));
    let rounds: usize = std::env::args().nth(2).map_or(5, |a| a.parse().expect("ROUNDS"));
    let broker = Broker::start();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("messages:             {n} per round (QoS 1, one PM2.5 reading each, real EPA values)");
    let mut ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let bare = bare_drain(&broker, n).await;
        let ingest = ingest_drain(&broker, n).await;
        ratios.push(rate(ingest) / rate(bare));
        println!(
            "round {round}: bare {:>7.0} msg/s, ingest {:>7.0} readings/s committed, ratio {:.2}",
            rate(bare),
            rate(ingest),
            rate(ingest) / rate(bare)
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!("ratio ingest / bare:  median {:.2} of {rounds} rounds (target >= 0.8)", ratios[ratios.len() / 2]);
}
