//! Inference shared by many cameras: one queue, served in arrival order by a few worker
//! threads that each own a session. A lock around one session lets an unlucky camera lose
//! the race every time (std's mutex is not fair); a queue serves every camera in turn.

use crate::{DetectError, Detector};
use shaobing_core::{Detection, Frame};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

struct Job {
    frame: Frame,
    min_score: f32,
    reply: oneshot::Sender<Result<(Vec<Detection>, Duration), DetectError>>,
}

/// A handle to the workers; cheap to clone, one per camera. Workers stop when every handle
/// is dropped.
#[derive(Clone)]
pub struct InferencePool {
    jobs: mpsc::Sender<Job>,
    model: Arc<str>,
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
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for (i, mut detector) in detectors.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("inference-{model}-{i}"))
                .spawn(move || serve(&mut detector, &rx))
                .map_err(|e| DetectError::Ort(format!("cannot start an inference thread: {e}")))?;
        }
        Ok(Self { jobs, model })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Detections in `frame` and how long the inference itself took.
    pub async fn detect(&self, frame: Frame, min_score: f32) -> Result<(Vec<Detection>, Duration), DetectError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { frame, min_score, reply })
            .map_err(|_| DetectError::Ort("the inference workers have stopped".into()))?;
        answer.await.map_err(|_| DetectError::Ort("an inference worker stopped mid-frame".into()))?
    }
}

fn serve(detector: &mut Detector, rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Holding the receiver's lock only while taking a job keeps the dispatch in order.
        let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let started = Instant::now();
        let result = detector.detect(&job.frame, job.min_score).map(|d| (d, started.elapsed()));
        let _ = job.reply.send(result);
    }
}
