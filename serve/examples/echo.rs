//! A bare actix-web JSON echo endpoint: the ceiling `bench/serve.sh` compares `POST /v1/score`
//! against (same framework, same payload, no auth, scoring or database).
//! Run: `cargo run --release --example echo -- 127.0.0.1:18081`.

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    HttpServer::new(|| {
        App::new().route(
            "/echo",
            web::post().to(|body: web::Json<serde_json::Value>| async move {
                HttpResponse::Ok().json(body.into_inner())
            }),
        )
    })
    .bind(listen)?
    .run()
    .await
}
