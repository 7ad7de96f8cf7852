//! Builds the application from settings: store, migrations, engines, services, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rand::RngCore;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::{DatabaseSettings, Settings};
use crate::domain::plan::{Plan, Role};
use crate::domain::records::User;
use crate::engine::local::{LocalEngine, LocalEngineSettings};
use crate::engine::minimax::MinimaxEngine;
use crate::engine::EngineRegistry;
use crate::http::{router, AppState};
use crate::service::accounts::{Accounts, IssuedKey};
use crate::service::auth::Authenticator;
use crate::service::reaper;
use crate::service::synthesis::SynthesisService;
use crate::store::sqlite::SqliteStore;
use crate::store::{NewUser, Store};

/// Opens the configured database (creating an SQLite file when missing).
pub async fn open_store(settings: &Settings) -> anyhow::Result<SqliteStore> {
    match &settings.database {
        DatabaseSettings::Sqlite { path } => SqliteStore::open(path, settings.db_max_connections)
            .await
            .with_context(|| format!("cannot open SQLite database {}", path.display())),
        DatabaseSettings::Postgres { .. } => {
            anyhow::bail!("invalid setting DATABASE_URL: PostgreSQL is not supported by this build yet; use sqlite://")
        }
    }
}

/// Applies pending migrations.
pub async fn migrate(store: &SqliteStore) -> anyhow::Result<()> {
    store
        .migrate()
        .await
        .context("applying database migrations")
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
    use crate::http::routes::users::{validate_email, validate_name};
    let store = open_store(settings).await?;
    migrate(&store).await?;
    let store: Arc<dyn Store> = Arc::new(store);
    let pepper = key_pepper(settings, store.as_ref()).await?;
    let accounts = Accounts::new(store.clone(), Authenticator::new(store, pepper));
    let user = NewUser {
        name: validate_name(name).map_err(|e| anyhow::anyhow!("name {e}"))?,
        email: validate_email(email).map_err(|e| anyhow::anyhow!("{e}"))?,
        plan: Plan::Enterprise,
        role: Role::Admin,
    };
    accounts
        .create_user(user)
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
    state: AppState,
    settings: Settings,
}

impl Application {
    /// Opens and migrates the database, builds engines and services, binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = open_store(&settings).await?;
        migrate(&store).await?;
        let store: Arc<dyn Store> = Arc::new(store);
        let pepper = key_pepper(&settings, store.as_ref()).await?;
        let auth = Authenticator::new(store.clone(), pepper);
        let state = AppState {
            accounts: Accounts::new(store.clone(), auth.clone()),
            synthesis: SynthesisService::new(
                store.clone(),
                engines(&settings).await?,
                settings.lease,
                settings.default_voice.clone(),
            ),
            auth,
            store,
        };
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {} (ODEADEV_BIND)", settings.bind))?;
        Ok(Application {
            listener,
            state,
            settings,
        })
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
        let app = router(self.state);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        reaper.abort();
        served.context("serving HTTP")
    }
}
