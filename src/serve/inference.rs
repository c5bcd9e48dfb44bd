//! The model's one thread. The model is loaded once and owned by a dedicated thread, away from
//! the async threads that read requests; requests hand it their prepared images through a
//! bounded queue and wait for their rows of probabilities. When several requests are waiting,
//! the thread joins them into one pass of the model (up to
//! [`MAX_JOINED_IMAGES`] images): one matrix product over 32
//! images costs far less than 32 products over one, so under load the answers come faster,
//! and with no load a request is answered alone at once.

use super::config::{MAX_JOINED_IMAGES, QUEUE};
use super::error::ApiError;
use super::metrics::Metrics;
use crate::model::{Classifier, Classify, Predictions};
use crate::{Error, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Images waiting to be classified, and where their answer goes.
struct Job {
    images: Vec<f32>,
    reply: oneshot::Sender<std::result::Result<Predictions, String>>,
}

/// A handle on the inference thread; cheap to share. The thread ends when every handle is gone.
pub struct Inference {
    queue: mpsc::Sender<Job>,
    input_len: usize,
}

impl Inference {
    /// Starts the thread that owns `classifier`.
    pub fn start(classifier: Classifier, metrics: Arc<Metrics>) -> Result<Inference> {
        let input_len = classifier.input_shape().len();
        let (queue, jobs) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("digits-inference".into())
            .spawn(move || work(classifier, jobs, &metrics))
            .map_err(|e| Error::invalid(format!("cannot start the inference thread: {e}")))?;
        Ok(Inference { queue, input_len })
    }

    /// Values per image the model reads.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// The class probabilities of `images` (whole images of [`Self::input_len`] values each).
    pub async fn predict(&self, images: Vec<f32>) -> std::result::Result<Predictions, ApiError> {
        let (reply, answer) = oneshot::channel();
        let gone = || ApiError::internal("the inference thread has stopped");
        self.queue.send(Job { images, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?.map_err(ApiError::internal)
    }
}

/// The thread's loop: take the first waiting job, join the ones queued behind it, run the
/// model once, hand each job its rows.
fn work(mut classifier: Classifier, mut jobs: mpsc::Receiver<Job>, metrics: &Metrics) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        let mut images: usize = batch[0].images.len();
        let per = classifier.input_shape().len().max(1);
        while images / per < MAX_JOINED_IMAGES {
            match jobs.try_recv() {
                Ok(job) => {
                    images += job.images.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let counts: Vec<usize> = batch.iter().map(|j| j.images.len() / per).collect();
        let joined: Vec<f32> = if batch.len() == 1 {
            std::mem::take(&mut batch[0].images)
        } else {
            batch.iter().flat_map(|j| j.images.iter().copied()).collect()
        };
        metrics.record_pass(batch.len(), joined.len() / per);
        // A panic in the model must not take the server down with it: the requests of this
        // pass get a 500 and the thread goes on with the next.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| classifier.predict(&joined)));
        answer(batch, &counts, result);
    }
}

/// Splits one pass's probabilities back into each job's rows, `counts[i]` images for job `i`
/// (a job whose client went away is skipped).
fn answer(batch: Vec<Job>, counts: &[usize], result: std::thread::Result<Result<Predictions>>) {
    let predictions = match result {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return batch.into_iter().for_each(|j| drop(j.reply.send(Err(e.to_string())))),
        Err(_) => {
            let message = "the model failed on this input (a bug: please report it)";
            return batch.into_iter().for_each(|j| drop(j.reply.send(Err(message.into()))));
        }
    };
    let classes = predictions.classes;
    let mut row = 0;
    for (job, &n) in batch.into_iter().zip(counts) {
        let probabilities = predictions.probabilities[row * classes..(row + n) * classes].to_vec();
        row += n;
        let _ = job.reply.send(Ok(Predictions { classes, probabilities }));
    }
}
