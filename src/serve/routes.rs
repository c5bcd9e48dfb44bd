//! The routes: the page and its assets, `POST /api/predict`, `POST /api/predict/batch`,
//! `GET /api/model`, `GET /api/openapi.json`, `GET /healthz`, `GET /metrics`; JSON 404 and 405
//! for everything else; and the layer every request passes through (time limit, metrics).

use super::config::check_probability;
use super::error::ApiError;
use super::input::{self, Kind, PixelsBody};
use super::page;
use super::state::AppState;
use crate::data::picture;
use crate::model::Predictions;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

type Shared = State<Arc<AppState>>;

/// The application: every route, the fallbacks and the request layer.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { page::html(page::INDEX) }))
        .route("/app.js", get(|| async { page::asset("text/javascript; charset=utf-8", page::APP_JS) }))
        .route("/style.css", get(|| async { page::asset("text/css; charset=utf-8", page::STYLE_CSS) }))
        .route("/api/openapi.json", get(|| async { page::asset("application/json", page::OPENAPI) }))
        .route("/api/predict", post(predict))
        .route("/api/predict/batch", post(predict_batch))
        .route("/api/model", get(model))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .fallback(|request: Request| async move {
            ApiError::new(StatusCode::NOT_FOUND, format!("no route {} {}", request.method(), request.uri().path()))
        })
        .method_not_allowed_fallback(|request: Request| async move {
            let message = format!("{} is not allowed on {}", request.method(), request.uri().path());
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, message)
        })
        // The multipart reader applies this limit to the body it is given (2 MB unless set);
        // the body in memory is already within `--max-body`.
        .layer(DefaultBodyLimit::max(state.config.max_body))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Every request: a time limit on the whole of it (reading a slow body included: 408 when it
/// is not answered in `--timeout`), and its route, status and latency in the metrics.
async fn guard(State(state): Shared, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = request.method().clone();
    let _in_flight = state.metrics.in_flight();
    let start = Instant::now();
    let limit = state.config.timeout;
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request was not received and answered within {} s (--timeout)", limit.as_secs_f64()),
        )
        .into_response(),
    };
    state.metrics.record(&route, method.as_str(), response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}

#[derive(Deserialize, Default)]
struct PredictQuery {
    /// Include the prepared 28×28 image (a PNG data URL) in the answer.
    #[serde(default)]
    image: bool,
    /// Answer "unsure" below this top probability (overrides `--min-confidence`).
    min_confidence: Option<f32>,
}

impl PredictQuery {
    /// The query of `request`, checked (an absent query is the default one).
    fn of(request: &Request) -> Result<PredictQuery, ApiError> {
        let query: PredictQuery = match request.uri().query() {
            Some(_) => Query::try_from_uri(request.uri()).map_err(|e| ApiError::bad_request(e.body_text()))?.0,
            None => PredictQuery::default(),
        };
        if let Some(p) = query.min_confidence {
            check_probability(p).map_err(|e| ApiError::bad_request(format!("min_confidence {e}")))?;
        }
        Ok(query)
    }

    /// The threshold below which an answer is "unsure": the request's, else the server's.
    fn threshold(&self, state: &AppState) -> Option<f32> {
        self.min_confidence.or(state.config.min_confidence)
    }
}

/// `POST /api/predict`: one picture (raw body or multipart) or one JSON image.
async fn predict(State(state): Shared, request: Request) -> Result<Json<Value>, ApiError> {
    let query = PredictQuery::of(&request)?;
    let (parts, bytes) = input::read_body(request, state.config.max_body).await?;
    let mut with_image = query.image;
    let pixels = match input::kind(&parts) {
        Kind::Json => {
            let body: PixelsBody = input::parse_json(&bytes)?;
            with_image |= body.image;
            let pixels = input::pixels(&body.pixels, "pixels")?;
            if body.prepare { blocking(move || input::prepare_pixels(&pixels)).await? } else { pixels }
        }
        Kind::Multipart => {
            let (name, bytes) = input::multipart_pictures(parts, bytes, 1).await?.remove(0);
            blocking(move || input::picture(&bytes, &name)).await?
        }
        Kind::Csv => return Err(ApiError::unsupported("CSV holds many images: send it to /api/predict/batch")),
        Kind::Picture => blocking(move || input::picture(&bytes, "the body")).await?,
    };
    let predictions = state.inference.predict(pixels.clone()).await?;
    Ok(Json(answer(&predictions, 0, query.threshold(&state), with_image.then_some(&pixels[..]))))
}

/// `POST /api/predict/batch`: a JSON array of images, a Kaggle CSV, or a multipart form of
/// pictures; answered in order.
async fn predict_batch(State(state): Shared, request: Request) -> Result<Json<Value>, ApiError> {
    let threshold = PredictQuery::of(&request)?.threshold(&state);
    let (parts, bytes) = input::read_body(request, state.config.max_body).await?;
    let pixels = match input::kind(&parts) {
        Kind::Json => blocking(move || input::json_batch(&bytes)).await?,
        Kind::Csv => blocking(move || input::csv_batch(&bytes)).await?,
        Kind::Multipart => {
            let pictures = input::multipart_pictures(parts, bytes, usize::MAX).await?;
            let prepare = move || -> Result<Vec<f32>, ApiError> {
                let mut out = Vec::new();
                for (name, bytes) in &pictures {
                    out.extend(input::picture(bytes, name)?);
                }
                Ok(out)
            };
            blocking(prepare).await?
        }
        Kind::Picture => {
            return Err(ApiError::unsupported(
                "a batch is JSON ({\"images\": [[784 numbers], ...]}), text/csv (Kaggle's format) or a multipart form of pictures",
            ));
        }
    };
    let predictions = state.inference.predict(pixels).await?;
    let rows: Vec<Value> = (0..predictions.len()).map(|i| answer(&predictions, i, threshold, None)).collect();
    Ok(Json(json!({ "count": rows.len(), "predictions": rows })))
}

/// One image's answer: label (`null` when unsure below `threshold`), whether it is unsure, its
/// confidence (the top probability), probabilities, top 3, and the prepared image when asked for.
fn answer(predictions: &Predictions, i: usize, threshold: Option<f32>, image: Option<&[f32]>) -> Value {
    let top3: Vec<Value> =
        predictions.top(i, 3).into_iter().map(|(d, p)| json!({"digit": d, "probability": p})).collect();
    let label = predictions.answer(i, threshold.unwrap_or(0.0));
    let confidence = predictions.row(i)[predictions.label(i) as usize];
    let mut v = json!({
        "label": label,
        "unsure": label.is_none(),
        "confidence": confidence,
        "probabilities": predictions.row(i),
        "top3": top3,
    });
    if let Some(pixels) = image {
        let png =
            base64::engine::general_purpose::STANDARD.encode(picture::encode_png(pixels, crate::data::MNIST_SIDE));
        v["image"] = json!(format!("data:image/png;base64,{png}"));
    }
    v
}

/// Runs CPU-bound preparation on the blocking pool, off the threads that read requests.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::internal("preparing the input failed (a bug)"))?
}

/// `GET /api/model`.
async fn model(State(state): Shared) -> Json<Value> {
    Json(serde_json::to_value(&state.model).expect("model info serialises"))
}

/// `GET /metrics`, in Prometheus' text format.
async fn metrics(State(state): Shared) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
