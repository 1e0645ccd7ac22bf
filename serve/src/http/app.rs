//! The HTTP server: built on a bound listener with its middleware (request id, tracing span,
//! metrics) and routes, the background work beside it (policy reloads, following the
//! registry, write probes), and a graceful stop that drains requests and then flushes the
//! decision writer.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web};
use tracing::Instrument;

use super::auth::Authenticator;
use super::state::{AppState, Limits};
use super::{openapi, request_id, routes};
use crate::decision::ServedModel;
use crate::lifecycle::retrain::schedule::Schedule;
use crate::lifecycle::retrain::{self, Cycle, RetrainError, RetrainSettings};
use crate::monitoring::{Monitor, MonitorSettings};
use crate::registry::challenger::ChallengerSlot;
use crate::registry::{ModelSlot, PolicyStore};
use crate::shadow::Shadow;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::writer::{DecisionWriter, WriterSettings, WriterTasks};

/// What [`Application::build`] needs.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: std::net::SocketAddr,
    pub policy: PathBuf,
    pub writer: WriterSettings,
    pub limits: Limits,
    /// Worker threads; 0 lets actix pick one per core.
    pub workers: usize,
    /// Retrain cycles on a schedule, if configured.
    pub retrain: Option<ScheduledRetrain>,
    pub monitoring: MonitorSettings,
    /// HTTPS instead of HTTP, if configured.
    pub tls: Option<super::tls::TlsSettings>,
}

/// How long a stopped server waits for a retrain cycle in flight to record its interruption.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// What the server's scheduler runs, and when.
#[derive(Debug)]
pub struct ScheduledRetrain {
    pub schedule: Schedule,
    pub settings: RetrainSettings,
    pub models_dir: PathBuf,
    pub work_dir: PathBuf,
}

pub struct Application {
    server: actix_web::dev::Server,
    address: std::net::SocketAddr,
    state: web::Data<AppState>,
    writer_tasks: WriterTasks,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Turns true once the server has stopped: a retrain cycle in flight then records its job
    /// as interrupted and gives the lease back (see [`Cycle::stop`]).
    stop: tokio::sync::watch::Sender<bool>,
    /// The scheduled retrains, awaited (briefly) after the stop rather than aborted.
    retrains: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish()
    }
}

impl Application {
    /// Loads the champion model (if any) and the policy, starts the writer, binds the listener.
    pub async fn build(store: Store, config: ServeConfig) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::default());
        let model = ModelSlot::default();
        if let Some(champion) = store.champion().await? {
            let served =
                ServedModel::load(std::path::Path::new(&champion.record.path)).map_err(|e| {
                    anyhow::anyhow!(
                        "the champion model {} cannot be served: {e}",
                        champion.record.version
                    )
                })?;
            metrics.model(served.version());
            model.swap(Arc::new(served));
        }
        let policy = PolicyStore::open(&config.policy)?;
        let deciding = policy.current();
        if let Some(model) = model.current() {
            deciding
                .check_against(&model.schema)
                .map_err(|reason| anyhow::anyhow!("{}: {reason}", config.policy.display()))?;
        }
        store
            .store_policy(&deciding.sha256, &deciding.version, &deciding.text)
            .await?;
        let (writer, writer_tasks) = DecisionWriter::start(&store, config.writer, &metrics)?;
        let (shadow, shadow_task) = Shadow::start(store.clone());
        let state = web::Data::new(AppState {
            store,
            model,
            challenger: ChallengerSlot::default(),
            shadow,
            monitor: Monitor::new(config.monitoring),
            policy,
            writer,
            auth: Authenticator::default(),
            limiter: Default::default(),
            in_flight: Default::default(),
            metrics,
            limits: config.limits,
        });
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let address = listener.local_addr()?;
        let data = state.clone();
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let limits = config.limits;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap(from_fn(observe))
                .configure(openapi::configure)
                .configure(routes::configure)
        })
        .workers(workers)
        .max_connections(limits.max_connections.div_ceil(workers).max(1))
        .client_request_timeout(Duration::from_millis(limits.header_timeout_ms))
        .shutdown_timeout(30)
        // actix's own handlers stop at once on SIGINT; `stop_on_signals` drains on both.
        .disable_signals();
        let mut reload = None;
        let server = match &config.tls {
            Some(tls) => {
                let (rustls_config, task) = super::tls::server_config(tls)?;
                reload = Some(task);
                tracing::info!(cert = %tls.cert.display(), "serving HTTPS");
                server.listen_rustls_0_23(listener, rustls_config)?
            }
            None => server.listen(listener)?,
        }
        .run();
        let registry_changed = Arc::new(tokio::sync::Notify::new());
        let mut background = vec![
            tokio::spawn(background(state.clone(), registry_changed.clone())),
            tokio::spawn(listen_registry(state.clone(), registry_changed)),
            tokio::spawn(recover_writes(state.clone())),
            tokio::spawn(crate::telemetry::protocol_errors::report_every_minute()),
            shadow_task,
        ];
        background.extend(reload);
        let (stop, _) = tokio::sync::watch::channel(false);
        let retrains = config.retrain.map(|plan| {
            tracing::info!(schedule = %plan.schedule, "retraining on a schedule (UTC)");
            tokio::spawn(scheduled_retrains(state.clone(), plan, stop.subscribe()))
        });
        Ok(Self {
            server,
            address,
            state,
            writer_tasks,
            background,
            stop,
            retrains,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address the API listens on (the port resolved when 0 was asked for).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.address
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The stop signal a retrain cycle run beside the server watches (see [`Cycle::stop`]).
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Makes SIGINT (Ctrl-C) and SIGTERM stop the server gracefully: no new connections,
    /// requests in flight answered, then every queued decision committed. A second signal
    /// stops at once, as actix's own handler did on the first SIGINT.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let handle = self.handle();
        tokio::spawn(async move {
            for graceful in [true, false] {
                let name = tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                };
                if graceful {
                    tracing::info!(
                        signal = name,
                        "stopping: answering requests in flight, then committing every accepted \
                         decision (a second signal stops at once)"
                    );
                } else {
                    tracing::warn!(
                        signal = name,
                        "stopping at once: requests in flight are cut"
                    );
                }
                let handle = handle.clone();
                tokio::spawn(async move { handle.stop(graceful).await });
            }
        });
        Ok(())
    }

    /// Serves until stopped ([`Application::stop_on_signals`] or [`ServerHandle::stop`]), then
    /// flushes every queued decision before returning.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.stop.send_replace(true);
        if let Some(task) = self.retrains
            && tokio::time::timeout(STOP_GRACE, task).await.is_err()
        {
            tracing::warn!(
                "a scheduled retrain did not stop in time; the next cycle marks its job interrupted"
            );
        }
        for task in &self.background {
            task.abort();
        }
        self.state.auth.flush_usage(&self.state.store).await;
        // The server's workers are gone; dropping the last state drops the writer's sender, so
        // the writer tasks finish what is queued and stop.
        drop(self.state);
        self.writer_tasks.flushed().await;
        tracing::info!("stopped; every accepted decision is committed");
        result
    }
}

/// Policy reloads, following the registry's champion, key-use flushes: every second, and at
/// once when another server says the registry changed; the drift monitor's verdict (logged
/// when it changes) every minute.
async fn background(state: web::Data<AppState>, registry_changed: Arc<tokio::sync::Notify>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut reported = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = registry_changed.notified() => {}
        }
        if reported.elapsed() >= Duration::from_secs(60) {
            reported = Instant::now();
            state.monitor.report();
        }
        let model = state.model.current();
        if let Some(pending) = state.policy.changed(model.as_deref().map(|m| &m.schema)) {
            // Stored first: every decision names a policy whose text can be found.
            let p = &pending.policy;
            match state
                .store
                .store_policy(&p.sha256, &p.version, &p.text)
                .await
            {
                Ok(()) => {
                    state.policy.install(pending);
                }
                Err(err) => tracing::warn!(error = %err,
                    "cannot store the changed policy; the previous one decides until it can be"),
            }
        }
        let policy = state.policy.current();
        if let Some(version) =
            crate::registry::follow_champion(&state.store, &state.model, &policy).await
        {
            state.metrics.model(&version);
        }
        crate::registry::challenger::follow(&state.store, &state.challenger).await;
        state.auth.flush_usage(&state.store).await;
        state.metrics.queue_depth(state.writer.queued());
    }
}

/// Wakes [`background`] whenever another server changes the registry (PostgreSQL only).
async fn listen_registry(state: web::Data<AppState>, registry_changed: Arc<tokio::sync::Notify>) {
    state
        .store
        .listen_registry(|what| {
            tracing::debug!(what, "registry changed");
            registry_changed.notify_one();
        })
        .await;
}

/// Retrain cycles at the schedule's times. Several servers on one database may all wake; the
/// cycle's lease lets one run and the others find it busy.
async fn scheduled_retrains(
    state: web::Data<AppState>,
    plan: ScheduledRetrain,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let actor = format!("scheduler@{}", crate::cli::retrain::hostname());
    loop {
        let now = chrono::Utc::now();
        let Some(next) = plan.schedule.next_after(now) else {
            tracing::warn!(schedule = %plan.schedule, "the retrain schedule never comes round");
            return;
        };
        tokio::select! {
            () = tokio::time::sleep((next - now).to_std().unwrap_or_default()) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let policy = state.policy.current();
        let cycle = Cycle {
            store: &state.store,
            settings: &plan.settings,
            models_dir: plan.models_dir.clone(),
            work_dir: plan.work_dir.clone(),
            policy: &policy,
            slot: Some(&state.model),
            actor: actor.clone(),
            stop: Some(stop.clone()),
        };
        match retrain::run(&cycle, &|step| tracing::info!("retrain: {step}")).await {
            Ok(report) => {
                if report.promoted {
                    state.metrics.model(&report.challenger);
                }
                tracing::info!(job = report.job, challenger = report.challenger,
                    promoted = report.promoted, refusals = ?report.evaluation.refusals,
                    "scheduled retrain finished");
            }
            Err(RetrainError::Busy) => {
                tracing::info!("scheduled retrain skipped: another process is retraining");
            }
            Err(RetrainError::Interrupted) => {
                tracing::warn!("scheduled retrain interrupted: the server stopped");
                return;
            }
            Err(err) => tracing::error!(error = %err, "scheduled retrain failed"),
        }
    }
}

/// While the database refuses writes, asks it again every second: decisions are accepted again
/// as soon as a probe write succeeds.
async fn recover_writes(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        state.metrics.store_up(!state.writer.health().is_down());
        if state.writer.health().is_down()
            && let Err(err) = state.writer.probe(Duration::from_secs(5)).await
        {
            tracing::debug!(error = %err, "write probe failed");
        }
    }
}

/// Request id, tracing span, metrics by route pattern and status.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id::accept_or_new(
        req.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let span = tracing::info_span!("request", request_id = %id, method = method.as_str(), %route);
    let response = request_id::scope(id.clone(), next.call(req).instrument(span.clone())).await;
    let mut response = match response {
        Ok(r) => r,
        Err(err) => {
            // An error no handler turned into a response; it still gets an id and a metric.
            let r = err.error_response();
            return Err(actix_web::error::InternalError::from_response(err, r).into());
        }
    };
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.request(&route, method.as_str(), status, started.elapsed());
    }
    span.in_scope(|| {
        tracing::debug!(
            status,
            micros = started.elapsed().as_micros() as u64,
            "answered"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}
