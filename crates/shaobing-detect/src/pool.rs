//! Inference shared by many cameras: one queue, served in arrival order by a few worker
//! threads that each own a session. A lock around one session lets an unlucky camera lose
//! the race every time (std's mutex is not fair); a queue serves every camera in turn.
//! A model with a free batch dimension takes the frames waiting in the queue in one run.

use crate::{DetectError, Detector};
use shaobing_core::{Detection, Frame};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

struct InferenceJob {
    frame: Frame,
    min_score: f32,
    reply: oneshot::Sender<Result<(Vec<Detection>, Duration), DetectError>>,
}

/// A handle to the workers; cheap to clone, one per camera. Workers stop when every handle
/// is dropped.
#[derive(Clone)]
pub struct InferencePool {
    jobs: mpsc::Sender<InferenceJob>,
    model: Arc<str>,
    class_names: Arc<[String]>,
}

impl std::fmt::Debug for InferencePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferencePool").field("model", &self.model).finish_non_exhaustive()
    }
}

impl InferencePool {
    /// Starts one worker thread per detector (sessions of the same model).
    pub fn start(detectors: Vec<Detector>) -> Result<Self, DetectError> {
        let model: Arc<str> = detectors.first().map_or("", |d| d.spec().name.as_str()).into();
        let class_names: Arc<[String]> = detectors.first().map_or(&[][..], |d| d.class_names()).into();
        let (jobs, rx) = mpsc::channel::<InferenceJob>();
        let rx = Arc::new(Mutex::new(rx));
        for (i, mut detector) in detectors.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("inference-{model}-{i}"))
                .spawn(move || serve(&mut detector, &rx))
                .map_err(|e| DetectError::Ort(format!("cannot start an inference thread: {e}")))?;
        }
        Ok(Self { jobs, model, class_names })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Detections in `frame` and how long the inference itself took.
    pub async fn detect(&self, frame: Frame, min_score: f32) -> Result<(Vec<Detection>, Duration), DetectError> {
        self.submit(frame, min_score)?.wait().await
    }

    /// Queues `frame` now and returns at once, so the caller can do other work on the frame
    /// (the fire detector, the motion gate) while a worker runs the model.
    pub fn submit(&self, frame: Frame, min_score: f32) -> Result<Pending, DetectError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(InferenceJob { frame, min_score, reply })
            .map_err(|_| DetectError::Ort("the inference workers have stopped".into()))?;
        Ok(Pending(answer))
    }
}

/// A queued inference; `wait` for its detections.
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<Result<(Vec<Detection>, Duration), DetectError>>);

impl Pending {
    pub async fn wait(self) -> Result<(Vec<Detection>, Duration), DetectError> {
        self.0.await.map_err(|_| DetectError::Ort("an inference worker stopped mid-frame".into()))?
    }
}

fn serve(detector: &mut Detector, rx: &Mutex<mpsc::Receiver<InferenceJob>>) {
    let mut batch: Vec<InferenceJob> = Vec::with_capacity(detector.max_batch());
    while take_batch(rx, detector.max_batch(), &mut batch) {
        let started = Instant::now();
        let frames: Vec<&Frame> = batch.iter().map(|j| &j.frame).collect();
        let min_score = batch.iter().map(|j| j.min_score).fold(f32::INFINITY, f32::min);
        match detector.detect_batch(&frames, min_score) {
            Ok(all) => {
                let took = started.elapsed();
                for (job, detections) in batch.drain(..).zip(all) {
                    let own: Vec<Detection> = detections.into_iter().filter(|d| d.score >= job.min_score).collect();
                    let _ = job.reply.send(Ok((own, took)));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(DetectError::Ort(message.clone())));
                }
            }
        }
    }
}

/// Waits for one job, then takes whatever else is already queued up to `max`. Holding the
/// receiver's lock only while taking keeps the dispatch in arrival order. False once every
/// handle is gone.
fn take_batch(rx: &Mutex<mpsc::Receiver<InferenceJob>>, max: usize, batch: &mut Vec<InferenceJob>) -> bool {
    let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
    let Ok(first) = rx.recv() else { return false };
    batch.push(first);
    while batch.len() < max {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    true
}
