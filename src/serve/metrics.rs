//! What `GET /metrics` reports, in Prometheus' text format: requests and errors by route and
//! status, a latency histogram by route, the requests in flight, and the inference thread's
//! passes and images (how well concurrent requests are being joined).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The server's counters, registered once.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    passes: IntCounter,
    images: IntCounter,
    joined: IntCounter,
    answered: std::sync::atomic::AtomicU64,
}

/// Latency buckets in seconds: from a cached MLP answer (~100 µs) to a slow upload.
const BUCKETS: [f64; 14] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let labels = ["route", "method", "status"];
        let requests =
            IntCounterVec::new(Opts::new("digits_http_requests_total", "HTTP requests answered"), &labels).unwrap();
        let errors = IntCounterVec::new(
            Opts::new("digits_http_request_errors_total", "HTTP requests answered with a 4xx or 5xx status"),
            &labels,
        )
        .unwrap();
        let latency = HistogramVec::new(
            HistogramOpts::new("digits_http_request_duration_seconds", "Time to answer a request")
                .buckets(BUCKETS.to_vec()),
            &["route"],
        )
        .unwrap();
        let in_flight = IntGauge::new("digits_http_requests_in_flight", "Requests being answered now").unwrap();
        let passes = IntCounter::new("digits_inference_passes_total", "Passes of the model").unwrap();
        let images = IntCounter::new("digits_inference_images_total", "Images classified").unwrap();
        let joined = IntCounter::new(
            "digits_inference_requests_total",
            "Requests served by the passes (more than passes: concurrent requests were joined)",
        )
        .unwrap();
        for c in [&requests, &errors] {
            registry.register(Box::new(c.clone())).unwrap();
        }
        registry.register(Box::new(latency.clone())).unwrap();
        registry.register(Box::new(in_flight.clone())).unwrap();
        for c in [&passes, &images, &joined] {
            registry.register(Box::new(c.clone())).unwrap();
        }
        Metrics { registry, requests, errors, latency, in_flight, passes, images, joined, answered: Default::default() }
    }

    /// Counts one answered request of `route` (its pattern, never the raw path, so that a
    /// scan of random paths cannot grow the label set) and how long it took.
    pub fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        if status.starts_with('4') || status.starts_with('5') {
            self.errors.with_label_values(&labels).inc();
        }
        self.latency.with_label_values(&[route]).observe(seconds);
        self.answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Requests answered so far, whatever their route and status.
    pub fn answered(&self) -> u64 {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts one pass of the model over `images` images joined from `requests` requests.
    pub fn record_pass(&self, requests: usize, images: usize) {
        self.passes.inc();
        self.joined.inc_by(requests as u64);
        self.images.inc_by(images as u64);
    }

    /// A request started; the guard counts it as finished when dropped, however it ends
    /// (answered, timed out, or dropped when its client went away).
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding into memory");
        String::from_utf8(out).expect("Prometheus' text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A request in flight (see [`Metrics::in_flight`]).
pub struct InFlight<'a>(&'a IntGauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_errors_and_passes_are_rendered() {
        let m = Metrics::new();
        m.record("/api/predict", "POST", 200, 0.002);
        m.record("/api/predict", "POST", 422, 0.001);
        m.record_pass(3, 5);
        let guard = m.in_flight();
        let text = m.render();
        assert!(
            text.contains(r#"digits_http_requests_total{method="POST",route="/api/predict",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"digits_http_request_errors_total{method="POST",route="/api/predict",status="422"} 1"#)
        );
        assert!(!text.contains(r#"digits_http_request_errors_total{method="POST",route="/api/predict",status="200"}"#));
        assert!(text.contains(r#"digits_http_request_duration_seconds_bucket{route="/api/predict",le="0.0025"} 2"#));
        assert!(text.contains("digits_http_requests_in_flight 1"));
        assert!(text.contains("digits_inference_images_total 5"));
        drop(guard);
        assert!(m.render().contains("digits_http_requests_in_flight 0"));
    }
}
