//! Builds the application from settings: database, migrations, routes and a
//! bound HTTP server. `main` and the tests start the service the same way.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::{anyhow, Context};

use crate::configuration::Settings;
use crate::db::Db;
use crate::mail::handoff::Handoff;
use crate::mail::transport::Transport;
use crate::mail::worker::{MailWorker, Mailroom};
use crate::routes::bursts::ClientBursts;
use crate::routes::middleware::cross_site::{self, AllowedOrigins};
use crate::routes::middleware::rate_limit::RateLimiter;
use crate::routes::middleware::{rate_limit, security};
use crate::schedule::resources::Resources;
use crate::schedule::ClinicCalendar;
use crate::server_key::{Origin, ServerKey};
use crate::state::AppState;
use crate::webhooks::worker::{Dispatch, WebhookWorker};
use crate::webhooks::Webhooks;
use crate::workflows::privacy::RetentionWorker;
use crate::workflows::waitlist::WaitlistWorker;
use crate::{routes, telemetry};

pub struct Application {
    port: u16,
    server: Server,
    /// The listener of `metrics.bind`, when set.
    metrics: Option<MetricsListener>,
    state: web::Data<AppState>,
    mail_worker: MailWorker,
    retention_worker: RetentionWorker,
    webhook_worker: WebhookWorker,
    waitlist_worker: WaitlistWorker,
}

/// The server of `metrics.bind`, running on its own task.
struct MetricsListener {
    port: u16,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the listener of `metrics.bind` when one is set, and says at start
/// where `/metrics` is served (or that it is not).
fn start_metrics(
    settings: &Settings,
    state: &web::Data<AppState>,
) -> anyhow::Result<Option<MetricsListener>> {
    match crate::routes::metrics::Exposure::of(&settings.metrics) {
        crate::routes::metrics::Exposure::NotServed => {
            tracing::info!(
                "GET /metrics is not served: set metrics.bind (an address of its own) or metrics.token (a bearer token)"
            );
            Ok(None)
        }
        crate::routes::metrics::Exposure::PublicWithToken => {
            tracing::info!("GET /metrics is served to requests that present metrics.token");
            Ok(None)
        }
        crate::routes::metrics::Exposure::OwnAddress => {
            let bind = settings.metrics.bind.trim();
            let listener = TcpListener::bind(bind)
                .with_context(|| format!("cannot listen on metrics.bind {bind}"))?;
            let address = listener.local_addr()?;
            let server = crate::routes::metrics::own_server(listener, state.clone())?;
            tracing::info!(
                token = !secrecy::ExposeSecret::expose_secret(&settings.metrics.token).is_empty(),
                "GET /metrics is served on http://{address}/metrics only"
            );
            Ok(Some(MetricsListener {
                port: address.port(),
                handle: server.handle(),
                task: tokio::spawn(server),
            }))
        }
    }
}

/// Checks the settings that only fail later, so start-up stops at once with
/// one clear message.
pub fn check_settings(settings: &Settings) -> anyhow::Result<(ClinicCalendar, Resources)> {
    let calendar = ClinicCalendar::from_settings(&settings.schedule, &settings.clinic.timezone)?;
    let resources = Resources::from_settings(
        &settings.resources,
        &settings.schedule.consultation_types,
        &calendar,
    )?;
    crate::domain::questionnaire::catalogue()?.check_types(
        calendar
            .consultation_types()
            .iter()
            .map(|kind| kind.code.as_str()),
    )?;
    RateLimiter::from_settings(&settings.rate_limit)?;
    security::check(&settings.http)?;
    settings.webhooks.check()?;
    let public_url = &settings.server.public_url;
    let derived_or_http = public_url.is_empty()
        || public_url.starts_with("http://")
        || public_url.starts_with("https://");
    if !derived_or_http {
        return Err(anyhow!(
            "invalid setting server.public_url: {public_url:?} must start with http:// or https://"
        ));
    }
    if settings.server.body_limit_bytes < 1024 {
        return Err(anyhow!(
            "invalid setting server.body_limit_bytes: must be at least 1024"
        ));
    }
    if settings.staff.session_idle_hours == 0 {
        return Err(anyhow!(
            "invalid setting staff.session_idle_hours: must be at least 1"
        ));
    }
    if settings.database.pool_size == 0 {
        return Err(anyhow!(
            "invalid setting database.pool_size: must be at least 1"
        ));
    }
    Ok((calendar, resources))
}

/// Opens the database and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let settings = settings.clone();
    let db = tokio::task::spawn_blocking(move || {
        let db = Db::connect(&settings.database, settings.database_url())?;
        let applied = db.run_migrations()?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        Ok::<_, anyhow::Error>(db)
    })
    .await
    .context("database start-up task failed")??;
    let keyed = db
        .write(|conn| crate::db::contact_keys::backfill(conn, chrono::Utc::now().naive_utc()))
        .await
        .map_err(|error| anyhow!("cannot key existing bookings by mailbox: {error}"))?;
    if keyed > 0 {
        tracing::info!(keyed, "existing bookings and messages keyed by mailbox");
    }
    Ok(db)
}

/// The server key (`ServerKey::load`), said in the log: where it is, and
/// that it must be backed up when it was just made.
fn load_server_key(settings: &Settings) -> anyhow::Result<ServerKey> {
    let sqlite_database = match crate::db::Location::parse(settings.database_url())? {
        crate::db::Location::Sqlite(path) => Some(path),
        crate::db::Location::Postgres(_) => None,
    };
    let (key, origin) = ServerKey::load(&settings.security, sqlite_database.as_deref())?;
    match origin {
        Origin::Configured => tracing::info!(key_id = key.id(), "server key from configuration"),
        Origin::File(path) => {
            tracing::info!(key_id = key.id(), path = %path.display(), "server key read")
        }
        Origin::Created(path) => tracing::warn!(
            key_id = key.id(),
            path = %path.display(),
            "server key created: back it up apart from the database (docs/SECURITY.md)"
        ),
    }
    Ok(key)
}

/// Seals what an earlier version stored in clear, and warns when stored
/// values were sealed with another key (a lost or replaced key file).
async fn seal_stored_values(db: &Db, key: &Arc<ServerKey>) -> anyhow::Result<()> {
    let sealer = key.clone();
    let sealed = db
        .write(move |conn| crate::db::sealing::seal_plain_rows(conn, &sealer))
        .await
        .map_err(|error| anyhow!("cannot seal stored values: {error}"))?;
    if sealed != Default::default() {
        tracing::info!(
            stored_answers = sealed.stored_answers,
            messages = sealed.messages,
            "values stored in clear by an earlier version sealed"
        );
    }
    let checker = key.clone();
    let foreign = db
        .read(move |conn| crate::db::sealing::sealed_with_another_key(conn, &checker))
        .await
        .map_err(|error| anyhow!("cannot read stored values: {error}"))?;
    if foreign {
        tracing::error!(
            key_id = key.id(),
            "the database holds values sealed with another server key: pending mail and \
             stored answers sealed with it cannot be read; restore that key (docs/SECURITY.md)"
        );
    }
    Ok(())
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Application> {
        let (calendar, resources) = check_settings(&settings)?;
        crate::metrics::handle();
        crate::articles::library()?;
        let db = open_database(&settings).await?;
        db.listen_for_schedule_changes()?;
        let server_key = Arc::new(load_server_key(&settings)?);
        seal_stored_values(&db, &server_key).await?;
        let mail_transport = Transport::from_settings(&settings.mail)?;
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        let address = listener.local_addr()?;
        let port = address.port();
        if settings.server.public_url.is_empty() {
            settings.server.public_url = format!("http://{address}");
        }
        crate::preflight::log_warnings(&settings, address, calendar.today(chrono::Utc::now()));
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            calendar,
            resources,
            db,
            availability_cache: Default::default(),
            mail_handoff: Arc::new(Handoff::new(Duration::from_secs(
                settings.mail.lease_seconds.max(1),
            ))),
            webhooks: Arc::new(Webhooks::new(settings.webhooks.check()?)),
            server_key,
            clock: Default::default(),
        });
        let limiter = web::Data::new(RateLimiter::from_settings(&settings.rate_limit)?);
        let origins = web::Data::new(AllowedOrigins::new(
            &settings.server.public_url,
            &settings.http.cors_allowed_origins,
        ));
        let bursts = web::Data::new(ClientBursts::from_settings(
            &settings.booking,
            settings.rate_limit.max_clients,
        ));
        let app_state = state.clone();
        let http = settings.http.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(limiter.clone())
                .app_data(bursts.clone())
                .app_data(origins.clone())
                .wrap(from_fn(rate_limit::limit))
                .wrap(from_fn(cross_site::refuse))
                .wrap(from_fn(telemetry::localize_errors))
                .wrap(security::cors(&http))
                .wrap(from_fn(security::headers))
                .wrap(from_fn(telemetry::trace_request))
                .configure(routes::configure)
        })
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_grace_seconds)
        .client_request_timeout(Duration::from_secs(
            settings.server.client_request_timeout_seconds,
        ))
        .keep_alive(Duration::from_secs(settings.server.keep_alive_seconds));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let metrics = start_metrics(&settings, &state)?;
        let mail_worker = MailWorker::start(
            Mailroom {
                db: state.db.clone(),
                handoff: state.mail_handoff.clone(),
                server_key: state.server_key.clone(),
                settings: settings.clone(),
                calendar: state.calendar.clone(),
            },
            mail_transport,
        );
        let retention_worker = RetentionWorker::start(state.db.clone(), settings.clone());
        let webhook_worker = WebhookWorker::start(Dispatch {
            db: state.db.clone(),
            settings: settings.webhooks.clone(),
            webhooks: state.webhooks.clone(),
        })?;
        let waitlist_worker = WaitlistWorker::start(state.clone().into_inner());
        Ok(Application {
            port,
            server: server.run(),
            metrics,
            state,
            mail_worker,
            retention_worker,
            webhook_worker,
            waitlist_worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `metrics.bind`, when metrics have an address of their own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|metrics| metrics.port)
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then lets the mail worker finish the message
    /// in hand, the retention purge its batch and the webhook worker its
    /// attempts in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(metrics) = self.metrics {
            metrics.handle.stop(true).await;
            match metrics.task.await {
                Ok(Err(error)) => tracing::error!(%error, "the metrics listener failed"),
                Err(error) => tracing::error!(%error, "the metrics listener ended abnormally"),
                Ok(Ok(())) => {}
            }
        }
        self.mail_worker.stop().await;
        self.retention_worker.stop().await;
        self.webhook_worker.stop().await;
        self.waitlist_worker.stop().await;
        served
    }
}
