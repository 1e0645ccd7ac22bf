//! `GET /v1/monitoring` (analysts and admins): this server's live traffic against the served
//! model's training baseline (PSI of the score and of every feature, over the sliding window,
//! with warning and alert levels), approval rates and their trend, and predicted against
//! observed default rates by score band once outcomes arrive (from the database: every
//! server's decisions).

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::route;
use crate::http::AppState;
use crate::http::auth::{Caller, Permission};
use crate::http::error::ApiError;
use crate::monitoring::Report;
use crate::store::Band;

/// Score points per band of the default-rate table.
const BAND_WIDTH: i32 = 20;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route("/v1/monitoring", Method::GET, get));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitoringBody {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub window: Report,
    /// Predicted against observed default rate, per band of 20 score points, over the served
    /// model's decisions that have an outcome.
    #[schema(value_type = Vec<Object>)]
    pub default_rates: Vec<Band>,
}

#[utoipa::path(get, path = "/v1/monitoring", tag = "monitoring", operation_id = "monitoring", responses((status = 200, body = MonitoringBody)), security(("api_key" = [])))]
pub async fn get(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let window = state.monitor.report();
    let default_rates = match state.model.current() {
        Some(model) => {
            state
                .store
                .default_rates(model.version(), BAND_WIDTH)
                .await?
        }
        None => Vec::new(),
    };
    Ok(HttpResponse::Ok().json(MonitoringBody {
        window,
        default_rates,
    }))
}
