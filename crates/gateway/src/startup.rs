//! Builds the application from settings: store, migrations, engines, services, listener.

mod engines;

pub use engines::{engines, Engines};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::RngCore;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::{DatabaseSettings, Settings, SqliteSynchronous};
use crate::domain::audit::Actor;
use crate::domain::identity::{DisplayName, Email};
use crate::domain::plan::{Plan, Role};
use crate::domain::records::User;
use crate::http::{router, AppState};
use crate::limits::Limiter;
use crate::runtime::supervision::Supervisor;
use crate::service::account::AccountService;
use crate::service::admin::{AdminServices, IssuedKey, NewUserRequest, UserAdmin};
use crate::service::auth::Authenticator;
use crate::service::key_cache::KeyCache;
use crate::service::reaper;
use crate::service::synthesis::SynthesisService;
use crate::service::voice_cache::VoiceCache;
use crate::service::voices::VoiceCatalogue;
use crate::store::postgres::PgPoolSettings;
use crate::store::sqlite::{SqliteOptions, Synchronous};
use crate::store::{Database, DatabaseConfig, Store};

/// The database `settings` name, as the store opens it.
pub fn database_config(settings: &Settings) -> DatabaseConfig {
    match &settings.database {
        DatabaseSettings::Sqlite { path } => DatabaseConfig::Sqlite(SqliteOptions {
            path: path.clone(),
            readers: settings.db_max_connections,
            synchronous: match settings.sqlite_synchronous {
                SqliteSynchronous::Normal => Synchronous::Normal,
                SqliteSynchronous::Full => Synchronous::Full,
            },
        }),
        DatabaseSettings::Postgres { url } => DatabaseConfig::Postgres {
            url: url.clone(),
            pool: PgPoolSettings {
                max_connections: settings.db_max_connections,
                acquire_timeout: settings.db_acquire_timeout,
                statement_timeout: settings.db_statement_timeout,
            },
        },
    }
}

/// Opens the configured database (creating an SQLite file when missing). Does not migrate.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Database> {
    let supervisor = Supervisor::new(settings.background_stall);
    Database::open(&database_config(settings), supervisor).await
}

/// Opens the configured database, runs `work` on it, then closes it whatever the outcome:
/// what a one-shot command (`migrate`, `create-admin`, ...) does with its database.
pub async fn with_database<T>(
    settings: &Settings,
    work: impl AsyncFnOnce(&Database) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let database = open_store(settings).await?;
    let result = work(&database).await;
    database.close().await;
    result
}

/// Applies pending migrations.
pub async fn migrate(database: &Database) -> anyhow::Result<()> {
    database.migrate().await
}

/// What [`Application::build_with`] does about the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaPolicy {
    /// Apply pending migrations first (the default `serve`).
    #[default]
    Migrate,
    /// Refuse to start unless every migration is applied (`serve --no-migrate`).
    RequireCurrent,
}

/// The key pepper: from settings, else kept in the database (embedded set-up).
pub async fn key_pepper(settings: &Settings, store: &dyn Store) -> anyhow::Result<Vec<u8>> {
    if let Some(pepper) = &settings.key_pepper {
        return Ok(pepper.expose_secret().as_bytes().to_vec());
    }
    let mut candidate = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut candidate);
    store
        .key_pepper(&candidate)
        .await
        .context("reading the key pepper from the database")
}

/// Creates an admin user (enterprise plan, admin role) with a first key, migrating first.
pub async fn create_admin(
    settings: &Settings,
    name: &str,
    email: &str,
) -> anyhow::Result<(User, IssuedKey)> {
    with_database(settings, async |database| {
        migrate(database).await?;
        create_admin_in(settings, database.store(), name, email).await
    })
    .await
}

/// [`create_admin`] on an open, migrated store.
async fn create_admin_in(
    settings: &Settings,
    store: Arc<dyn Store>,
    name: &str,
    email: &str,
) -> anyhow::Result<(User, IssuedKey)> {
    // Checked here first so that the command line words its errors its own way; the
    // service applies the same rules again.
    let name = DisplayName::parse(name).map_err(|e| anyhow::anyhow!("name {e}"))?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pepper = key_pepper(settings, store.as_ref()).await?;
    // A one-shot command: no request path reads these caches.
    let auth = Authenticator::new(store.clone(), pepper, Arc::default());
    let users = UserAdmin::new(store, auth, Arc::default());
    let admin = NewUserRequest {
        name: name.into_string(),
        email: email.into_string(),
        plan: Some(Plan::Enterprise),
        role: Some(Role::Admin),
    };
    // Audited like an admin's write, with no actor: it came from the command line.
    users
        .create_user(&Actor::command_line(), admin)
        .await
        .map_err(|e| anyhow::anyhow!("creating the admin: {e}"))
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    settings: Settings,
    database: Database,
}

impl Application {
    /// Opens and migrates the database, builds engines and services, binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Application::build_with(settings, SchemaPolicy::Migrate).await
    }

    /// As [`Application::build`], with a choice about pending migrations.
    pub async fn build_with(
        settings: Settings,
        schema: SchemaPolicy,
    ) -> anyhow::Result<Application> {
        let database = open_store(&settings).await?;
        let built = Application::build_on(settings, schema, database.clone()).await;
        if built.is_err() {
            database.close().await;
        }
        built
    }

    /// The rest of [`Application::build_with`], on the opened database.
    async fn build_on(
        settings: Settings,
        schema: SchemaPolicy,
        database: Database,
    ) -> anyhow::Result<Application> {
        match schema {
            SchemaPolicy::Migrate => migrate(&database).await?,
            SchemaPolicy::RequireCurrent => database.require_current_schema().await?,
        }
        let store = database.store();
        let pepper = key_pepper(&settings, store.as_ref()).await?;
        let limits = Limiter::from_settings(&settings.limits)
            .map_err(|e| anyhow::anyhow!("invalid setting REDIS_URL: {e}"))?;
        tracing::info!(backend = limits.backend_name(), "rate limits");
        // Read on the request path, cleared by the admin services that change what they hold.
        let recent_keys = Arc::new(KeyCache::default());
        let recent_voices = Arc::new(VoiceCache::default());
        let auth = Authenticator::new(store.clone(), pepper, recent_keys.clone())
            .with_limiter(limits.clone());
        let Engines {
            registry: engines,
            piper_voices,
        } = engines(&settings).await?;
        let voices = VoiceCatalogue::new(store.clone(), engines.clone());
        let state = AppState {
            admin: AdminServices::new(
                store.clone(),
                auth.clone(),
                voices.clone(),
                recent_keys,
                recent_voices.clone(),
            ),
            account: AccountService::new(store.clone()),
            voices,
            synthesis: SynthesisService::new(
                store.clone(),
                engines,
                settings.lease,
                settings.default_voice.clone(),
                limits.clone(),
                recent_voices,
            ),
            limits,
            auth,
            store,
            database: database.clone(),
            openai_voices: Arc::new(settings.openai_voices.iter().cloned().collect()),
        };
        engines::register_piper_voices(&state.admin.voices, state.store.as_ref(), &piper_voices)
            .await?;
        crate::metrics::install();
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {} (ODEADEV_BIND)", settings.bind))?;
        let metrics_listener = match settings.server.metrics_bind {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (ODEADEV_METRICS_BIND)"))?,
            ),
            None => None,
        };
        Ok(Application {
            listener,
            metrics_listener,
            state,
            settings,
            database,
        })
    }

    /// The metrics listener's address, when `ODEADEV_METRICS_BIND` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let supervisor = self.database.supervisor().clone();
        let interval = self.settings.reap_interval;
        let store = self.state.store.clone();
        let owed = self.state.synthesis.clone();
        let counted = self.state.synthesis.clone();
        let background = [
            supervisor.spawn("reaper", interval, |beat| {
                reaper::run_reaper(store.clone(), interval, beat)
            }),
            supervisor.spawn("cycle_sweep", interval, |beat| {
                reaper::run_cycle_sweep(store, interval, beat)
            }),
            supervisor.spawn("settlement_retry", Duration::from_secs(1), |beat| {
                owed.settle_owed(beat)
            }),
            supervisor.spawn("refusal_flush", Duration::from_secs(1), |beat| {
                counted.run_refusal_flush(beat)
            }),
            tokio::spawn(watch(supervisor.clone())),
        ];
        let synthesis = self.state.synthesis.clone();
        let database = self.database.clone();
        let metrics = self.metrics_listener.map(|listener| {
            let app = crate::http::metrics_router(self.state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await })
        });
        let deadlines = crate::http::request_body::BodyDeadlines {
            pause: self.settings.server.body_timeout,
            total: self.settings.server.body_total_timeout,
        };
        let app = router(self.state, deadlines);
        // The accept loop runs as a task on the workers: on the thread that blocks on `main`,
        // each new connection would cost a cross-thread wake-up before its first byte is read.
        let limits = crate::runtime::connections::ConnectionLimits::new(
            self.settings.server.max_connections,
            self.settings.server.max_connections_per_address,
            self.settings.limits.trusted_proxies.clone(),
        );
        let server = tokio::spawn(crate::runtime::server::serve(
            self.listener,
            app,
            self.settings.server,
            limits,
            shutdown,
        ));
        let drained = server.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the server loop failed");
            false
        });
        for task in &background {
            task.abort();
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        if !drained {
            tracing::warn!("grace period over with requests still in flight");
        }
        if !synthesis.flush_refusals().await {
            tracing::warn!("refusal counts lost at shutdown: the database did not take them");
        }
        let abandoned = synthesis.abandon_in_flight().await;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "settled requests still in flight at shutdown as failed"
            );
        }
        database.close().await;
        Ok(())
    }
}

/// Checks the background work every second, so that a stall is logged and counted when it
/// happens, not only when `/ready` or `/metrics` is asked.
async fn watch(supervisor: Supervisor) {
    let mut tick = crate::runtime::ticks::every(Duration::from_secs(1));
    loop {
        tick.tick().await;
        supervisor.check();
    }
}
