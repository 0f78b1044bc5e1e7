//! `GET /metrics`: the cache's metrics (`cache_runtime` with its `metrics` feature) in the
//! Prometheus text format, rendered on each scrape by `metrics-exporter-prometheus`'s recorder.
//! The recorder has no HTTP listener of its own: the service's router serves it.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

use crate::error::ApiError;
use crate::state::AppState;

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Installs the Prometheus recorder for the whole process; install it before building the
/// cache, so that the cache registers its metrics with it. Fails if a recorder is installed.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new().install_recorder()
}

/// `GET /metrics`: every metric of the process, or 404 when the state serves none.
pub async fn scrape(State(state): State<AppState>) -> Response {
    match state.prometheus() {
        Some(prometheus) => {
            // Histograms are summaries kept in buckets that roll over: keep them current.
            prometheus.run_upkeep();
            ([(header::CONTENT_TYPE, TEXT_FORMAT)], prometheus.render()).into_response()
        }
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "metrics_disabled",
            "this service was started without a metrics recorder",
        )
        .into_response(),
    }
}
