//! `vestibule`: run the server, migrate its database, manage users and signing keys.

use axum::extract::State;
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use vestibule_model::{InstanceMode, OsRng, SystemClock};
use vestibule_server::config::{parse_mode, FileConfig, Overrides};
use vestibule_server::params::Params;
use vestibule_server::{AppState, Config, Deps};

#[derive(Parser)]
#[command(
    name = "vestibule",
    version,
    about = "A self-hosted sign-in server that speaks Clerk's Frontend API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (zero configuration: a development instance on 127.0.0.1:8080 with ./vestibule.db).
    Serve(Common),
    /// Create or upgrade the database schema, then exit.
    Migrate(Common),
    /// Manage users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Show the instance keys, or rotate the session-token signing key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user (the same rules as the Backend API's POST /v1/users).
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long = "email")]
        emails: Vec<String>,
        #[arg(long = "phone")]
        phones: Vec<String>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        /// The password (visible to other local users in the process list; prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users, newest first.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        email: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print the publishable key, the secret key and the active signing key.
    Show(Common),
    /// Make a new signing key active; the old one stays published until its tokens expired.
    Rotate(Common),
}

/// Options every command shares. Each is also a `VESTIBULE_*` environment variable and a key of
/// the TOML file; flags win over the environment, which wins over the file.
#[derive(Args, Clone)]
struct Common {
    /// TOML configuration file (default: ./vestibule.toml when it exists).
    #[arg(long, env = "VESTIBULE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long, env = "VESTIBULE_LISTEN")]
    listen: Option<String>,
    /// sqlite://path or postgres://user:pass@host/db.
    #[arg(long, env = "VESTIBULE_DATABASE_URL")]
    database_url: Option<String>,
    /// URL of the Frontend API as clients reach it; its host goes into the publishable key.
    #[arg(long, env = "VESTIBULE_FRONTEND_API_URL")]
    frontend_api_url: Option<String>,
    /// development or production.
    #[arg(long, env = "VESTIBULE_MODE", value_parser = parse_mode)]
    mode: Option<InstanceMode>,
    /// Secret key shared by every node (generated and stored on first start when absent).
    #[arg(long, env = "VESTIBULE_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Origins allowed to call the Frontend API from a browser, comma-separated.
    #[arg(long, env = "VESTIBULE_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// Outgoing mail: smtp://user:pass@host:587 (STARTTLS), smtps://host:465, smtp://host:25?tls=none.
    #[arg(long, env = "VESTIBULE_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender of outgoing mail, e.g. "Acme <no-reply@example.com>".
    #[arg(long, env = "VESTIBULE_EMAIL_FROM")]
    email_from: Option<String>,
    /// URL that receives SMS as JSON {to, body, purpose, message_id}.
    #[arg(long, env = "VESTIBULE_SMS_WEBHOOK_URL", hide_env_values = true)]
    sms_webhook_url: Option<String>,
    /// Secret that signs SMS webhook requests (X-Vestibule-Signature).
    #[arg(long, env = "VESTIBULE_SMS_WEBHOOK_SECRET", hide_env_values = true)]
    sms_webhook_secret: Option<String>,
}

impl Common {
    fn config(&self) -> Result<Config, String> {
        let path = self.config.clone().or_else(|| {
            let default = PathBuf::from("vestibule.toml");
            default.exists().then_some(default)
        });
        let file = match path {
            Some(p) => FileConfig::read(&p)?,
            None => FileConfig::default(),
        };
        Config::resolve(
            file,
            Overrides {
                listen: self.listen.clone(),
                database_url: self.database_url.clone(),
                frontend_api_url: self.frontend_api_url.clone(),
                mode: self.mode,
                secret_key: self.secret_key.clone(),
                allowed_origins: self.allowed_origins.clone(),
                smtp_url: self.smtp_url.clone(),
                email_from: self.email_from.clone(),
                sms_webhook_url: self.sms_webhook_url.clone(),
                sms_webhook_secret: self.sms_webhook_secret.clone(),
            },
        )
    }
}

fn frontend_api_url(config: &Config, bound: std::net::SocketAddr) -> String {
    config
        .frontend_api_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
}

async fn state(config: &Config) -> Result<AppState, String> {
    AppState::build(
        config,
        &frontend_api_url(config, config.listen),
        Deps::default(),
    )
    .await
}

/// Requests allocate and free many small objects on several threads (runtime workers, SQLite's
/// threads); mimalloc's per-thread free lists serve that with less CPU than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VESTIBULE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(common) => serve(common.config()?).await,
        Command::Migrate(common) => {
            let config = common.config()?;
            let store = vestibule_store::Store::open(&config.database_url, &Default::default())
                .await
                .map_err(|e| {
                    format!(
                        "database {}: {e}",
                        vestibule_server::state::redact_url(&config.database_url)
                    )
                })?;
            store.close().await;
            println!("database is up to date");
            Ok(())
        }
        Command::Users { command } => users(command).await,
        Command::Keys { command } => keys(command).await,
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let fapi = frontend_api_url(&config, bound);
    let state = AppState::build(&config, &fapi, Deps::default()).await?;
    vestibule_server::state::remember_frontend_api_url(
        &state.store,
        &state.instance.frontend_api_url,
    )
    .await?;
    let i = &state.instance;
    let secret = match i.mode {
        InstanceMode::Development => i.secret_key.clone(),
        // Production secrets stay out of logs; `vestibule keys show` prints it on demand.
        InstanceMode::Production => format!(
            "{}… (vestibule keys show)",
            &i.secret_key[..12.min(i.secret_key.len())]
        ),
    };
    println!("Vestibule is running ({} instance)", i.mode.as_str());
    println!("  Frontend API:     {}", i.frontend_api_url);
    println!("  Backend API:      http://{bound}/v1 (Authorization: Bearer <secret key>)");
    println!("  Publishable key:  {}", i.publishable_key);
    println!("  Secret key:       {secret}");
    println!(
        "  Database:         {}",
        vestibule_server::state::redact_url(&config.database_url)
    );
    println!("  Listening on:     {bound}");
    vestibule_server::serve(state, listener, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

fn params(value: serde_json::Value) -> Result<Params, String> {
    Params::parse_body(Some("application/json"), value.to_string().as_bytes())
        .map_err(|e| e.0.long_message())
}

async fn users(command: UsersCommand) -> Result<(), String> {
    match command {
        UsersCommand::Create {
            common,
            emails,
            phones,
            username,
            first_name,
            last_name,
            password,
            password_stdin,
        } => {
            let state = state(&common.config()?).await?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| e.to_string())?;
                Some(s.trim_end_matches(['\n', '\r']).to_owned())
            } else {
                password
            };
            let mut body = serde_json::json!({
                "email_address": emails,
                "phone_number": phones,
            });
            for (k, v) in [
                ("username", username),
                ("first_name", first_name),
                ("last_name", last_name),
                ("password", password),
            ] {
                if let Some(v) = v {
                    body[k] = v.into();
                }
            }
            let user = vestibule_server::bapi::users::create(State(state), params(body)?)
                .await
                .map_err(|e| format!("{} ({})", e.0.long_message(), e.0.code()))?;
            println!("{}", user.0.id);
            Ok(())
        }
        UsersCommand::List {
            common,
            limit,
            email,
        } => {
            let state = state(&common.config()?).await?;
            let mut body = serde_json::json!({ "limit": limit });
            if let Some(e) = email {
                body["email_address"] = serde_json::json!([e]);
            }
            let list = vestibule_server::bapi::users::list(State(state), params(body)?)
                .await
                .map_err(|e| format!("{} ({})", e.0.long_message(), e.0.code()))?;
            for u in list.0 {
                let email = u
                    .email_addresses
                    .first()
                    .map(|e| e.email_address.as_str())
                    .unwrap_or("-");
                println!(
                    "{}\t{}\t{}",
                    u.id,
                    email,
                    u.username.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
    }
}

async fn keys(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Show(common) => {
            let config = common.config()?;
            let store = vestibule_store::Store::open(&config.database_url, &Default::default())
                .await
                .map_err(|e| e.to_string())?;
            // The publishable key encodes the Frontend API host: the configured one, else the one
            // the last `serve` on this database answered at.
            let (url, source) = match (
                &config.frontend_api_url,
                vestibule_server::state::remembered_frontend_api_url(&store).await?,
            ) {
                (Some(u), _) => (u.clone(), "configured"),
                (None, Some(u)) => (u, "where the server last ran"),
                (None, None) => (
                    frontend_api_url(&config, config.listen),
                    "the listen address",
                ),
            };
            let state = AppState::with_store(&config, &url, store, Deps::default()).await?;
            println!("Frontend API:     {url} ({source})");
            let key = state.keys.active();
            println!("Publishable key:  {}", state.instance.publishable_key);
            println!("Secret key:       {}", state.instance.secret_key);
            println!("Signing key id:   {}", key.kid());
            println!(
                "Public key (PEM, for verifyToken's jwtKey):\n{}",
                key.public_key_pem()
            );
            Ok(())
        }
        KeysCommand::Rotate(common) => {
            let config = common.config()?;
            let store = vestibule_store::Store::open(&config.database_url, &Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let kid = vestibule_server::keys::insert_new_key(&store, &SystemClock, &OsRng, true)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "new signing key {kid} is active; running servers switch within {} s",
                vestibule_server::keys::REFRESH_EVERY_SECONDS
            );
            Ok(())
        }
    }
}
