//! The OpenAPI 3.1 description, generated from the handlers' annotations so it cannot drift,
//! plus what holds for every operation, written once (problem+json refusals, 401 and 403 on
//! every operation that needs a key).

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::routes::route;

/// `GET /openapi.json`, served beside the routes it describes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route("/openapi.json", Method::GET, openapi));
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, body = Object)))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// What holds for every operation, written once here rather than on each handler: refusals are
/// `application/problem+json` (the one body `ApiError` writes), and every operation that needs
/// a key can answer 401 (no or unknown key) and 403 (a role that may not).
struct Problems;

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
        let problem = || {
            Content::new(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
                Ref::from_schema_name("Problem"),
            )))
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                for (status, response) in responses.iter_mut() {
                    if let (true, RefOr::T(response)) = (status.as_str() >= "400", response)
                        && let Some(content) = response.content.shift_remove("application/json")
                    {
                        response
                            .content
                            .insert("application/problem+json".into(), content);
                    }
                }
                if operation.security.is_some() {
                    for (status, what) in [
                        ("401", "missing or unknown API key"),
                        ("403", "this key's role may not do this"),
                    ] {
                        responses.entry(status.into()).or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(what)
                                    .content("application/problem+json", problem())
                                    .build(),
                            )
                        });
                    }
                }
            }
        }
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "riskloop scoring API", description = "Credit-risk decisions with reasons, durable write-back and outcome ingestion."),
    paths(
        crate::http::routes::score::score,
        crate::http::routes::score::score_batch,
        crate::http::routes::decisions::list,
        crate::http::routes::decisions::get,
        crate::http::routes::decisions::review,
        crate::http::routes::decisions::replay,
        crate::http::routes::outcomes::report,
        crate::http::routes::models::list,
        crate::http::routes::models::promote,
        crate::http::routes::models::rollback,
        crate::http::routes::challenger::get,
        crate::http::routes::challenger::attach,
        crate::http::routes::challenger::detach,
        crate::http::routes::monitoring::get,
        crate::http::routes::health::healthz,
        crate::http::routes::health::readyz,
        crate::http::routes::health::metrics,
        crate::http::routes::health::info,
        openapi,
    ),
    modifiers(&BearerAuth, &Problems)
)]
pub struct ApiDoc;
