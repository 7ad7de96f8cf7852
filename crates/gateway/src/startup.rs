//! Builds the application from settings: store, migrations, engines, services, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rand::RngCore;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::{DatabaseSettings, Settings};
use crate::domain::audit::Actor;
use crate::domain::identity::{DisplayName, Email};
use crate::domain::plan::{Plan, Role};
use crate::domain::records::User;
use crate::engine::local::{LocalEngine, LocalEngineSettings};
use crate::engine::minimax::MinimaxEngine;
use crate::engine::EngineRegistry;
use crate::http::{router, AppState};
use crate::limits::Limiter;
use crate::service::account::AccountService;
use crate::service::admin::{AdminServices, IssuedKey, NewUserRequest, UserAdmin};
use crate::service::auth::Authenticator;
use crate::service::key_cache::KeyCache;
use crate::service::reaper;
use crate::service::synthesis::SynthesisService;
use crate::service::voice_cache::VoiceCache;
use crate::service::voices::VoiceCatalogue;
use crate::store::postgres::{PgPoolSettings, PostgresStore};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

/// The configured database, before it is handed to the services as a [`Store`].
#[derive(Clone)]
pub enum Database {
    /// The embedded default.
    Sqlite(SqliteStore),
    /// The scale-out backend.
    Postgres(PostgresStore),
}

impl Database {
    /// Applies pending migrations (safe from several nodes at once on PostgreSQL).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Database::Sqlite(store) => store.migrate().await,
            Database::Postgres(store) => store.migrate().await,
        }
        .context("applying database migrations")
    }

    /// Names of embedded migrations the database has not applied, oldest first.
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Database::Sqlite(store) => store.pending_migrations().await,
            Database::Postgres(store) => store.pending_migrations().await,
        }
        .context("reading the applied database migrations")
    }

    /// Fails, naming the first missing migration, unless the schema is current.
    pub async fn require_current_schema(&self) -> anyhow::Result<()> {
        match self.pending_migrations().await?.first() {
            None => Ok(()),
            Some(first) => anyhow::bail!(
                "database schema is behind: migration {first} has not been applied; run odeadev-tts migrate"
            ),
        }
    }

    /// Closes the connections, so that a PostgreSQL server sees each session end cleanly
    /// instead of its socket dropping when the process exits.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(store) => store.close().await,
            Database::Postgres(store) => store.close().await,
        }
    }

    /// The store the services use.
    pub fn into_store(self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(store) => Arc::new(store),
            Database::Postgres(store) => Arc::new(store),
        }
    }
}

/// Opens the configured database (creating an SQLite file when missing). Does not migrate.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Database> {
    match &settings.database {
        DatabaseSettings::Sqlite { path } => SqliteStore::open(path, settings.db_max_connections)
            .await
            .map(Database::Sqlite)
            .with_context(|| format!("cannot open SQLite database {}", path.display())),
        DatabaseSettings::Postgres { url } => {
            let pool = PgPoolSettings {
                max_connections: settings.db_max_connections,
                acquire_timeout: settings.db_acquire_timeout,
                statement_timeout: settings.db_statement_timeout,
            };
            // The URL is not in the message: it may hold a password.
            PostgresStore::open(url, pool)
                .await
                .map(Database::Postgres)
                .context("cannot connect to the PostgreSQL database in DATABASE_URL")
        }
    }
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
        create_admin_in(settings, database.clone().into_store(), name, email).await
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

/// Builds the engines this deployment has.
pub async fn engines(settings: &Settings) -> anyhow::Result<EngineRegistry> {
    let local = LocalEngine::new(LocalEngineSettings {
        program: settings.local.program.clone(),
        max_concurrent: settings.local.max_concurrent,
        timeout: settings.local.timeout,
    })
    .await;
    if let Some(reason) = crate::engine::Engine::unavailable_reason(&local) {
        tracing::warn!(reason, "local engine unavailable");
    }
    let mut registry = EngineRegistry::default().with(Arc::new(local));
    if let Some(minimax) = &settings.minimax {
        let engine = Arc::new(MinimaxEngine::new(minimax.clone())?);
        registry = registry.with(engine.clone()).with_cloner(engine);
    } else {
        tracing::info!("MINIMAX_API_KEY not set: MiniMax voices are unavailable");
    }
    Ok(registry)
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    settings: Settings,
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
        let store = database.into_store();
        let pepper = key_pepper(&settings, store.as_ref()).await?;
        let limits = Limiter::from_settings(&settings.limits)
            .map_err(|e| anyhow::anyhow!("invalid setting REDIS_URL: {e}"))?;
        tracing::info!(backend = limits.backend_name(), "rate limits");
        // Read on the request path, cleared by the admin services that change what they hold.
        let recent_keys = Arc::new(KeyCache::default());
        let recent_voices = Arc::new(VoiceCache::default());
        let auth = Authenticator::new(store.clone(), pepper, recent_keys.clone())
            .with_limiter(limits.clone());
        let engines = engines(&settings).await?;
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
            openai_voices: Arc::new(settings.openai_voices.iter().cloned().collect()),
        };
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
        let reaper = tokio::spawn(reaper::run(
            self.state.store.clone(),
            self.settings.reap_interval,
        ));
        let synthesis = self.state.synthesis.clone();
        let store = self.state.store.clone();
        let metrics = self.metrics_listener.map(|listener| {
            let app = crate::http::metrics_router(self.state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await })
        });
        let app = router(self.state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            self.settings.server.body_timeout,
        ));
        // The accept loop runs as a task on the workers: on the thread that blocks on `main`,
        // each new connection would cost a cross-thread wake-up before its first byte is read.
        let server = tokio::spawn(crate::server::serve(
            self.listener,
            app,
            self.settings.server,
            shutdown,
        ));
        let drained = server.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the server loop failed");
            false
        });
        reaper.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        if !drained {
            tracing::warn!("grace period over with requests still in flight");
        }
        let abandoned = synthesis.abandon_in_flight().await;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "settled requests still in flight at shutdown as failed"
            );
        }
        store.close().await;
        Ok(())
    }
}
