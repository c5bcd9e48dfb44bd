//! The server's settings and the limits every request is checked against before it sizes an
//! allocation, a loop or a wait.

use crate::{Error, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The address served when none is given: loopback only, so that nothing is exposed to the
/// network unless asked for.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The largest request body accepted by default (5 MB): a photo from a phone fits, a flood does not.
pub const DEFAULT_MAX_BODY: usize = 5 * 1000 * 1000;

/// The ceiling `--max-body` may be raised to (1 GiB, the most a CSV file may hold).
pub const MAX_MAX_BODY: usize = 1 << 30;

/// Seconds a client has to send a request's headers, and a whole request, by default.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The most images one batch request may hold (a Kaggle test.csv has 28,000).
pub const MAX_BATCH_IMAGES: usize = 30_000;

/// The most pictures one multipart request may hold: each is decoded, so each costs memory.
pub const MAX_PARTS: usize = 64;

/// The most connections served at once; further ones wait to be accepted.
pub const MAX_CONNECTIONS: usize = 1024;

/// The most images the inference thread puts in one pass of the model when it joins
/// concurrent requests together: enough to amortise the model's weights over many images,
/// few enough that a pass stays in the cache and no request waits long behind others.
pub const MAX_JOINED_IMAGES: usize = 256;

/// Requests waiting for the inference thread; further ones wait to be queued (back-pressure).
pub const QUEUE: usize = 1024;

/// How long a shutdown waits for requests in flight before it gives up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What `digits serve` serves and how.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// A run directory or an ensemble directory.
    pub model: PathBuf,
    /// Where to listen (port 0: any free port; the bound address is reported).
    pub addr: SocketAddr,
    /// The largest request body, in bytes.
    pub max_body: usize,
    /// How long a client may take to send a request (headers, then the whole request).
    pub timeout: Duration,
    /// Answer "unsure" (label `null`) below this top probability, unless a request asks for
    /// another threshold (`?min_confidence=P`).
    pub min_confidence: Option<f32>,
}

impl ServeConfig {
    /// The defaults for `model`: [`DEFAULT_ADDR`], [`DEFAULT_MAX_BODY`], [`DEFAULT_TIMEOUT_SECS`].
    pub fn new(model: impl Into<PathBuf>) -> ServeConfig {
        ServeConfig {
            model: model.into(),
            addr: DEFAULT_ADDR.parse().expect("the default address parses"),
            max_body: DEFAULT_MAX_BODY,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            min_confidence: None,
        }
    }

    /// Refuses settings out of range, naming the setting.
    pub fn check(&self) -> Result<()> {
        if self.max_body == 0 || self.max_body > MAX_MAX_BODY {
            return Err(Error::invalid(format!("--max-body must be 1 to {MAX_MAX_BODY} bytes, got {}", self.max_body)));
        }
        if let Some(p) = self.min_confidence {
            check_probability(p).map_err(|e| Error::Invalid(format!("--min-confidence {e}")))?;
        }
        let secs = self.timeout.as_secs_f64();
        if !(0.1..=3600.0).contains(&secs) {
            return Err(Error::invalid(format!("--timeout must be 0.1 to 3600 seconds, got {secs}")));
        }
        Ok(())
    }
}

/// Checks a confidence threshold is a probability.
pub fn check_probability(p: f32) -> std::result::Result<(), String> {
    if (0.0..=1.0).contains(&p) { Ok(()) } else { Err(format!("must be a probability from 0 to 1, got {p}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_are_refused_by_name() {
        let mut c = ServeConfig::new("runs/x");
        assert!(c.check().is_ok());
        c.max_body = 0;
        assert!(c.check().unwrap_err().to_string().contains("--max-body"));
        c.max_body = DEFAULT_MAX_BODY;
        c.timeout = Duration::from_secs(0);
        assert!(c.check().unwrap_err().to_string().contains("--timeout"));
    }
}
