//! `vestibule-bench`: starts `vestibule serve`, loads it through the Frontend API as native
//! clients, and measures in the same run the machine's own limits (argon2id verification and
//! RSA-2048 signing) so every throughput is printed as a ratio to what the hardware allows, and
//! where the server's CPU went.
//!
//! See `bench/README.md` for what each scenario measures and how its bound is computed.

mod cpu;
mod email_code;
mod http;
mod limits;
mod passkey;
mod scenarios;
mod server;
mod stats;
mod web3;

use clap::{Parser, ValueEnum};
use rand::distributions::Alphanumeric;
use rand::Rng;
use scenarios::Run;
use server::Server;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Password,
    Tokens,
    EmailCode,
    Web3,
    Passkey,
    Rss,
    All,
}

#[derive(Parser, Debug)]
#[command(
    name = "vestibule-bench",
    about = "Measures Vestibule against the machine's own limits, in one run"
)]
struct Args {
    /// Which scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: Scenario,
    /// Measured seconds per load scenario (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of load before each measurement window opens.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent connections (= workers) for the load scenarios; default 16 for password and
    /// email-code sign-in and 64 for token refresh.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Users with a password created through the Backend API before the password and token
    /// scenarios.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Users without a password created through the Backend API for the email-code scenario
    /// (at least one per worker).
    #[arg(long, default_value_t = 2000)]
    code_users: usize,
    /// Users with one Ethereum wallet each, created through the Backend API for the web3
    /// scenario (at least one per worker).
    #[arg(long, default_value_t = 1000)]
    wallet_users: usize,
    /// Users with one passkey each, registered through the Frontend API before the passkey
    /// scenario (at least one per worker).
    #[arg(long, default_value_t = 200)]
    passkey_users: usize,
    /// Run the server on PostgreSQL (postgres://user:pass@host/db) instead of a fresh SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    /// Start the server with this TOML file instead of the bench's own (which raises every rate
    /// limit above the load, see bench/README.md): for experiments, e.g. limits disabled.
    #[arg(long)]
    server_config: Option<PathBuf>,
    /// Use this server binary instead of building it with `cargo build --release -p vestibule`.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Keep the temporary directory (SQLite database and server log) after the run.
    #[arg(long)]
    keep: bool,
}

const PASSWORD_TARGET: f64 = 0.85;
const TOKENS_TARGET: f64 = 0.7;
const TOKENS_P99_TARGET_MS: f64 = 25.0;
const EMAIL_CODE_TARGET: f64 = 300.0;
const WEB3_TARGET: f64 = 500.0;
const WEB3_P99_TARGET_MS: f64 = 60.0;
const RSS_TARGET_MIB: f64 = 40.0;
/// Other processes using more than this many cores make the machine too noisy to trust a ratio.
const NOISE_CORES: f64 = 0.1;

fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build of the load generator; its own overhead will be \
             overstated (use cargo run --release -p vestibule-bench)"
        );
    }
    // One thread: the generator must stay cheap on a 2-core machine it shares with the server.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        // Benchmarks report; missed targets are in the table, not in the exit code.
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Results {
    rss_kib: Option<u64>,
    rss_after_load_kib: Option<u64>,
    rss_detail: String,
    password: Option<Run>,
    email_code: Option<Run>,
    web3: Option<Run>,
    passkey: Option<Run>,
    tokens: Option<Run>,
}

async fn run(args: Args) -> Result<(), String> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .ok_or("no workspace directory")?;
    let bin = match &args.server_bin {
        // The server runs in its own directory, so a relative path must be made absolute.
        Some(b) => std::fs::canonicalize(b).map_err(|e| format!("{}: {e}", b.display()))?,
        None => server::build(&workspace)?,
    };
    let tag = random_alnum(6).to_lowercase();
    let dir = std::env::temp_dir().join(format!("vestibule-bench-{tag}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let database_url = match &args.postgres {
        Some(url) => url.clone(),
        None => format!("sqlite://{}/bench.db", dir.display()),
    };
    let secret_key = format!("sk_test_{}", random_alnum(32));
    let result = bench(&args, &bin, &dir, &database_url, &secret_key, &tag).await;
    if args.keep || result.is_err() {
        eprintln!("kept {} (server.log, database)", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn bench(
    args: &Args,
    bin: &std::path::Path,
    dir: &std::path::Path,
    database_url: &str,
    secret_key: &str,
    tag: &str,
) -> Result<(), String> {
    let wants = |s: Scenario| args.scenario == s || args.scenario == Scenario::All;
    let started = Instant::now();
    let config = match &args.server_config {
        // The server runs in its own directory, so a relative path must be made absolute.
        Some(c) => std::fs::canonicalize(c).map_err(|e| format!("{}: {e}", c.display()))?,
        None => server::write_config(dir, wants(Scenario::Passkey))?,
    };
    let server = Server::start(bin, dir, &config, database_url, secret_key)?;
    let store = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "vestibule-bench: server pid {} at {} ({store}), publishable key {}, {} cores, started in {:.2} s",
        server.pid,
        server.frontend_api,
        server.publishable_key,
        limits::cores(),
        started.elapsed().as_secs_f64()
    );

    let mut results = Results {
        rss_kib: None,
        rss_after_load_kib: None,
        rss_detail: String::new(),
        password: None,
        email_code: None,
        web3: None,
        passkey: None,
        tokens: None,
    };

    if wants(Scenario::Rss) {
        let rss = server.settled_rss_kib(Duration::from_secs(1), Duration::from_secs(10));
        results.rss_detail = format!(
            "RssAnon {} KiB, RssFile {} KiB, {} threads",
            server.status_kib("RssAnon").unwrap_or(0),
            server.status_kib("RssFile").unwrap_or(0),
            server.threads().unwrap_or(0)
        );
        results.rss_kib = rss;
        println!();
        println!("== idle RSS (after startup settled, before any load) ==");
        println!(
            "  VmRSS                  {}  ({})",
            rss.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_else(|| "unreadable".into()),
            results.rss_detail
        );
    }

    // How busy the machine is without our load: the ratios below assume the cores are ours.
    let a = cpu::snapshot(server.pid, args.postgres.is_some());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let quiet = cpu::Usage::between(&a, &cpu::snapshot(server.pid, args.postgres.is_some()));
    println!();
    println!(
        "machine before load: other processes {:.2} cores, idle {:.2} of {} cores{}",
        quiet.cores(quiet.other),
        quiet.cores(quiet.idle),
        limits::cores(),
        if quiet.cores(quiet.other) > NOISE_CORES {
            "  (noisy: ratios will be understated)"
        } else {
            ""
        }
    );

    let password_load = wants(Scenario::Password) || wants(Scenario::Tokens);
    let code_load = wants(Scenario::EmailCode);
    let wallet_load = wants(Scenario::Web3);
    let passkey_load = wants(Scenario::Passkey);
    let warmup = Duration::from_secs(args.warmup);
    let duration = Duration::from_secs(args.duration.max(1));
    let mut password_users = None;
    let password = format!("Bench-{}", random_alnum(16));
    if password_load {
        let t = Instant::now();
        let emails: Vec<String> = (0..args.users.max(1))
            .map(|i| scenarios::email(i, tag))
            .collect();
        scenarios::create_users(server.addr, &server.secret_key, &emails, Some(&password), 8)
            .await?;
        println!();
        println!(
            "setup: {} users with a password created through BAPI POST /v1/users in {:.1} s",
            emails.len(),
            t.elapsed().as_secs_f64()
        );
        password_users = Some(Arc::new(scenarios::password_users(&emails, &password)));
    }
    let mut code_users = None;
    let code_concurrency = args.concurrency.unwrap_or(16).max(1);
    if code_load {
        let t = Instant::now();
        let emails: Vec<String> = (0..args.code_users.max(code_concurrency))
            .map(|i| email_code::email(i, tag))
            .collect();
        scenarios::create_users(server.addr, &server.secret_key, &emails, None, 8).await?;
        println!();
        println!(
            "setup: {} users without a password created through BAPI POST /v1/users in {:.1} s",
            emails.len(),
            t.elapsed().as_secs_f64()
        );
        code_users = Some(Arc::new(email_code::users(&emails)?));
    }

    let mut wallet_users = None;
    if wallet_load {
        let t = Instant::now();
        let users = web3::users(args.wallet_users.max(code_concurrency));
        scenarios::create_users_from(
            server.addr,
            &server.secret_key,
            web3::user_bodies(&users),
            8,
        )
        .await?;
        println!();
        println!(
            "setup: {} users with an Ethereum wallet created through BAPI POST /v1/users in {:.1} s",
            users.len(),
            t.elapsed().as_secs_f64()
        );
        wallet_users = Some(Arc::new(users));
    }

    let mut passkey_users = None;
    if passkey_load {
        let t = Instant::now();
        let users = passkey::users(
            server.addr,
            &server.frontend_api,
            &server.secret_key,
            args.passkey_users.max(code_concurrency),
            tag,
            8,
        )
        .await?;
        println!();
        println!(
            "setup: {} users created through BAPI, each signed in with a ticket and registering a passkey through FAPI POST /v1/me/passkeys in {:.1} s",
            users.len(),
            t.elapsed().as_secs_f64()
        );
        passkey_users = Some(Arc::new(users));
    }

    if let (true, Some(users)) = (wants(Scenario::Password), &password_users) {
        let c = args.concurrency.unwrap_or(16).max(1);
        let run = scenarios::password(
            server.addr,
            server.pid,
            args.postgres.is_some(),
            Arc::clone(users),
            &password,
            c,
            warmup,
            duration,
        )
        .await?;
        print_password(&run, users.len());
        results.password = Some(run);
    }
    if let Some(users) = &code_users {
        let run = email_code::run(
            server.addr,
            server.pid,
            args.postgres.is_some(),
            &server.frontend_api,
            &server.secret_key,
            Arc::clone(users),
            code_concurrency,
            warmup,
            duration,
        )
        .await?;
        print_email_code(&run, users.len(), store);
        results.email_code = Some(run);
    }
    if let Some(users) = &wallet_users {
        let run = web3::run(
            server.addr,
            server.pid,
            args.postgres.is_some(),
            Arc::clone(users),
            code_concurrency,
            warmup,
            duration,
        )
        .await?;
        print_web3(&run, users.len(), store);
        results.web3 = Some(run);
    }
    if let Some(users) = &passkey_users {
        let run = passkey::run(
            server.addr,
            server.pid,
            args.postgres.is_some(),
            Arc::clone(users),
            code_concurrency,
            warmup,
            duration,
        )
        .await?;
        print_passkey(&run, users.len(), store);
        results.passkey = Some(run);
    }
    if let (true, Some(users)) = (wants(Scenario::Tokens), &password_users) {
        let c = args.concurrency.unwrap_or(64).max(1);
        let run = scenarios::tokens(
            server.addr,
            server.pid,
            args.postgres.is_some(),
            &server.frontend_api,
            Arc::clone(users),
            c,
            warmup,
            duration,
        )
        .await?;
        print_tokens(&run);
        results.tokens = Some(run);
    }
    if password_load || code_load || wallet_load || passkey_load {
        results.rss_after_load_kib = server.status_kib("VmRSS");
        println!();
        println!(
            "after load: server VmRSS {:.1} MiB, VmHWM {:.1} MiB",
            results.rss_after_load_kib.unwrap_or(0) as f64 / 1024.0,
            server.status_kib("VmHWM").unwrap_or(0) as f64 / 1024.0
        );
    }

    print_summary(&results);
    let mut server = server;
    server.stop();
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_common(run: &Run, unit: &str) {
    let o = &run.outcome;
    println!(
        "  completed              {} {unit} in {:.1} s = {:.1} {unit}/s   errors: {}",
        o.completed,
        run.window.as_secs_f64(),
        run.throughput(),
        o.errors.describe()
    );
    if let Some(e) = &o.first_error {
        println!("  first error            {e}");
    }
    println!(
        "  latency                p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms   max {:.2} ms",
        o.latency.percentile_ms(50.0),
        o.latency.percentile_ms(99.0),
        o.latency.mean_ms(),
        o.latency.percentile_ms(100.0)
    );
}

/// Operations completed over the CPU snapshots' wall time (the window's count, scaled to it).
fn ops_in_usage(run: &Run) -> f64 {
    run.outcome.completed.max(1) as f64 * run.usage.wall / run.window.as_secs_f64()
}

fn print_cpu(run: &Run, unit: &str) {
    let u = &run.usage;
    let database = if u.database > 0.0 {
        format!("   postgres {:.2}", u.cores(u.database))
    } else {
        String::new()
    };
    println!(
        "  CPU (cores' worth)     server {:.2}{database}   bench {:.2}   other {:.2}   idle {:.2}   (over {:.1} s)",
        u.cores(u.server),
        u.cores(u.bench),
        u.cores(u.other),
        u.cores(u.idle),
        u.wall
    );
    // CPU time per completed operation, against the window's completions.
    let n = ops_in_usage(run);
    let database = if u.database > 0.0 {
        format!("   postgres {:.3} ms", u.database * 1000.0 / n)
    } else {
        String::new()
    };
    println!(
        "  CPU per {unit:<14} server {:.3} ms{database}   bench {:.3} ms   (bench/server {:.1} %)",
        u.server * 1000.0 / n,
        u.bench * 1000.0 / n,
        if u.server > 0.0 {
            100.0 * u.bench / u.server
        } else {
            0.0
        }
    );
    let threads: Vec<String> = cpu::Threads::ALL
        .iter()
        .zip(u.server_threads)
        .zip(u.server_threads_kernel)
        .filter(|((t, secs), _)| *secs > 0.0 || **t == cpu::Threads::Runtime)
        .map(|((t, secs), kernel)| {
            format!(
                "{} {:.2} ({:.3} ms, {:.0} % kernel)",
                t.label(),
                u.cores(secs),
                secs * 1000.0 / n,
                if secs > 0.0 {
                    100.0 * kernel / secs
                } else {
                    0.0
                }
            )
        })
        .collect();
    println!(
        "  server by thread       {}   cores (ms per {unit}, share in the kernel)",
        threads.join("   ")
    );
    println!(
        "  server context switches {:.1} per {unit} ({:.0}/s), minor page faults {:.0} per {unit}",
        u.server_switches as f64 / n,
        u.server_switches as f64 / u.wall.max(f64::EPSILON),
        u.server_faults as f64 / n
    );
    println!(
        "  TCP connections        {} for {} workers",
        run.outcome.connections, run.concurrency
    );
    let busy = u.cores(u.other);
    if busy > NOISE_CORES {
        println!(
            "  WARNING                other processes used {busy:.2} cores during the window: the ratio is \
             understated (efficiency is not); rerun on a quieter machine"
        );
    }
}

fn print_bound(run: &Run, what: &str, unit: &str, target: f64) {
    let b = &run.bound;
    println!(
        "  {what:<22} median {:.3} ms before, {:.3} ms after; cost = p{} of {} samples = {:.3} ms (single thread, in-process)",
        ms(b.median_before),
        ms(b.median_after),
        limits::COST_PERCENTILE,
        b.samples,
        ms(b.cost)
    );
    println!(
        "  bound                  {} cores / {:.3} ms = {:.1} {unit}/s   (all cores at once, measured: {:.1}/s)",
        b.cores,
        ms(b.cost),
        b.per_second(),
        b.parallel_rate
    );
    println!(
        "  ratio                  {:.3} of bound (target ≥ {target})",
        run.ratio()
    );
    println!(
        "  server efficiency      {:.3} = {:.3} ms bound cost / {:.3} ms server{} CPU per op (noise-independent)",
        run.efficiency(),
        ms(b.cost),
        run.server_cpu_per_op() * 1000.0,
        if run.usage.database > 0.0 {
            "+postgres"
        } else {
            ""
        }
    );
}

fn print_password(run: &Run, users: usize) {
    println!();
    println!(
        "== password sign-in: sign_in → touch → tokens, new native client per flow (concurrency {}, {users} users) ==",
        run.concurrency
    );
    print_common(run, "flows");
    let names = ["sign_in", "touch", "tokens"];
    for (name, s) in names.iter().zip(&run.outcome.steps) {
        println!(
            "    {name:<20} p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms",
            s.percentile_ms(50.0),
            s.percentile_ms(99.0),
            s.mean_ms()
        );
    }
    print_bound(run, "argon2id verify", "flows", PASSWORD_TARGET);
    print_cpu(run, "flow");
}

/// Where one email-code flow's server CPU goes, milliseconds: (store, signing, rest of the
/// runtime threads, argon2 + other threads), and the total including PostgreSQL's.
struct FlowSplit {
    store: f64,
    signing: f64,
    runtime_rest: f64,
    other: f64,
    total: f64,
}

fn flow_split(run: &Run) -> FlowSplit {
    let u = &run.usage;
    let n = ops_in_usage(run);
    let ms_per = |secs: f64| secs * 1000.0 / n;
    let [runtime, hash, other] = u.server_threads;
    let signing = ms(run.bound.op_cost());
    let runtime = ms_per(runtime);
    FlowSplit {
        store: ms_per(u.database),
        signing,
        runtime_rest: (runtime - signing).max(0.0),
        other: ms_per(hash + other),
        total: ms_per(u.server + u.database),
    }
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

fn print_web3(run: &Run, users: usize, store: &str) {
    println!();
    println!(
        "== web3 sign-in: create(identifier=<address>) → prepare_first_factor → personal_sign (in the bench) → attempt_first_factor → tokens, new native client per flow (concurrency {}, {users} users, {store}) ==",
        run.concurrency
    );
    print_common(run, "flows");
    for (name, s) in web3::STEPS.iter().zip(&run.outcome.steps) {
        println!(
            "    {name:<20} p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms",
            s.percentile_ms(50.0),
            s.percentile_ms(99.0),
            s.mean_ms()
        );
    }
    let p99 = run.outcome.latency.percentile_ms(99.0);
    println!(
        "  target                 ≥ {WEB3_TARGET} flows/s with p99 < {WEB3_P99_TARGET_MS} ms: {}",
        if run.throughput() >= WEB3_TARGET && p99 < WEB3_P99_TARGET_MS {
            "met"
        } else {
            "NOT met"
        }
    );
    let b = &run.bound;
    println!(
        "  EIP-191 verify         median {:.4} ms before, {:.4} ms after; cost = p{} of {} samples = {:.4} ms (single thread, in-process: k256 recovery + Keccak-256)",
        ms(b.median_before),
        ms(b.median_after),
        limits::COST_PERCENTILE,
        b.samples,
        ms(b.cost)
    );
    println!(
        "  verification ceiling   {} cores / {:.4} ms = {:.0} flows/s if verifying were all the work (all cores at once, measured: {:.0}/s); reached {:.3}",
        b.cores,
        ms(b.cost),
        b.per_second(),
        b.parallel_rate,
        run.ratio()
    );
    print_cpu(run, "flow");
    let total = run.server_cpu_per_op() * 1000.0;
    let verify = ms(b.op_cost());
    println!(
        "  server CPU per flow    {total:.3} ms{} = signature verification {verify:.3} ms ({:.0} %) + the rest {:.3} ms ({:.0} %: HTTP, JSON, four requests' handlers, the store, RS256 signing of two tokens)",
        if run.usage.database > 0.0 {
            " (server + postgres)"
        } else {
            ""
        },
        pct(verify, total),
        (total - verify).max(0.0),
        pct((total - verify).max(0.0), total)
    );
}

fn print_passkey(run: &Run, users: usize, store: &str) {
    println!();
    println!(
        "== passkey sign-in: create(strategy=passkey) → assertion (software authenticator, in the bench) → attempt_first_factor → tokens, new native client per flow (concurrency {}, {users} users, {store}) ==",
        run.concurrency
    );
    print_common(run, "flows");
    for (name, s) in passkey::STEPS.iter().zip(&run.outcome.steps) {
        println!(
            "    {name:<20} p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms",
            s.percentile_ms(50.0),
            s.percentile_ms(99.0),
            s.mean_ms()
        );
    }
    let b = &run.bound;
    println!(
        "  WebAuthn verify        median {:.4} ms before, {:.4} ms after; cost = p{} of {} samples = {:.4} ms (single thread, in-process: webauthn_rp, the server's relying party: JSON parsed, state decoded, ECDSA P-256)",
        ms(b.median_before),
        ms(b.median_after),
        limits::COST_PERCENTILE,
        b.samples,
        ms(b.cost)
    );
    println!(
        "  verification ceiling   {} cores / {:.4} ms = {:.0} flows/s if verifying were all the work (all cores at once, measured: {:.0}/s); reached {:.3}",
        b.cores,
        ms(b.cost),
        b.per_second(),
        b.parallel_rate,
        run.ratio()
    );
    print_cpu(run, "flow");
    let total = run.server_cpu_per_op() * 1000.0;
    let verify = ms(b.op_cost());
    println!(
        "  server CPU per flow    {total:.3} ms{} = signature verification {verify:.3} ms ({:.0} %) + the rest {:.3} ms ({:.0} %: HTTP, JSON, three requests' handlers, the store, RS256 signing of two tokens)",
        if run.usage.database > 0.0 {
            " (server + postgres)"
        } else {
            ""
        },
        pct(verify, total),
        (total - verify).max(0.0),
        pct((total - verify).max(0.0), total)
    );
}

fn print_email_code(run: &Run, users: usize, store: &str) {
    println!();
    println!(
        "== email-code sign-in: create(strategy=email_code) → dev inbox → attempt_first_factor → tokens, new native client per flow (concurrency {}, {users} users, {store}) ==",
        run.concurrency
    );
    print_common(run, "flows");
    for (name, s) in email_code::STEPS.iter().zip(&run.outcome.steps) {
        println!(
            "    {name:<20} p50 {:.2} ms   p99 {:.2} ms   mean {:.2} ms",
            s.percentile_ms(50.0),
            s.percentile_ms(99.0),
            s.mean_ms()
        );
    }
    println!(
        "  target                 ≥ {EMAIL_CODE_TARGET} flows/s: {}",
        if run.throughput() >= EMAIL_CODE_TARGET {
            "met"
        } else {
            "NOT met"
        }
    );
    let b = &run.bound;
    println!(
        "  RS256 sign (2048)      median {:.3} ms before, {:.3} ms after; cost = p{} of {} samples = {:.3} ms (single thread, in-process)",
        ms(b.median_before),
        ms(b.median_after),
        limits::COST_PERCENTILE,
        b.samples,
        ms(b.cost)
    );
    println!(
        "  signing ceiling        {} cores / ({} × {:.3} ms) = {:.1} flows/s if signing were all the work (all cores at once, measured: {:.1}/s); reached {:.3}",
        b.cores,
        b.per_op,
        ms(b.cost),
        b.per_second(),
        b.parallel_rate / f64::from(b.per_op),
        run.ratio()
    );
    print_cpu(run, "flow");
    let f = flow_split(run);
    println!(
        "  server CPU per flow    {:.3} ms{} = store {:.3} ms ({:.0} %) + RS256 signing {:.3} ms ({:.0} %) + rest of runtime {:.3} ms ({:.0} %) + other threads {:.3} ms ({:.0} %)",
        f.total,
        if run.usage.database > 0.0 {
            " (server + postgres)"
        } else {
            ""
        },
        f.store,
        pct(f.store, f.total),
        f.signing,
        pct(f.signing, f.total),
        f.runtime_rest,
        pct(f.runtime_rest, f.total),
        f.other,
        pct(f.other, f.total)
    );
    println!(
        "                         store = {}; signing = {} × the in-process cost (it runs on the runtime threads); rest of runtime = HTTP, routing, JSON, handlers, rate-limit and outbox bookkeeping, the courier, logging{}",
        if run.usage.database > 0.0 {
            "the PostgreSQL processes"
        } else {
            "0 here: SQLite runs on the runtime threads, inside the rest"
        },
        b.per_op,
        if run.usage.database > 0.0 {
            ", the PostgreSQL wire protocol"
        } else {
            ""
        }
    );
}

fn print_tokens(run: &Run) {
    println!();
    println!(
        "== token refresh: POST /v1/client/sessions/{{sid}}/tokens (concurrency {}, one session per client) ==",
        run.concurrency
    );
    print_common(run, "tokens");
    print_bound(run, "RS256 sign (2048)", "tokens", TOKENS_TARGET);
    print_cpu(run, "token");
    // Closed loop: mean latency = concurrency / throughput (Little's law).
    let needed = run.concurrency as f64 / (TOKENS_P99_TARGET_MS / 1000.0);
    println!(
        "  note                   at concurrency {} a p99 under {TOKENS_P99_TARGET_MS} ms needs more than {:.0} tokens/s (Little's law)",
        run.concurrency, needed
    );
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "NO" }.into()
}

fn efficiency_row(run: &Run) -> [String; 6] {
    [
        String::new(),
        "efficiency (info)".into(),
        format!("{:.3}", run.efficiency()),
        format!("{:.2} ms server CPU/op", run.server_cpu_per_op() * 1000.0),
        String::new(),
        String::new(),
    ]
}

fn print_summary(r: &Results) {
    let mut rows: Vec<[String; 6]> = vec![[
        "scenario".into(),
        "figure".into(),
        "measured".into(),
        "limit (same run)".into(),
        "target".into(),
        "met".into(),
    ]];
    if let Some(run) = &r.password {
        let o = &run.outcome;
        rows.push([
            "password sign-in".into(),
            "throughput".into(),
            format!("{:.1} flows/s", run.throughput()),
            format!(
                "{:.1}/s = {}/{:.1} ms argon2id",
                run.bound.per_second(),
                run.bound.cores,
                ms(run.bound.cost)
            ),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "ratio".into(),
            format!("{:.3}", run.ratio()),
            String::new(),
            format!("≥ {PASSWORD_TARGET}"),
            yes_no(run.ratio() >= PASSWORD_TARGET),
        ]);
        rows.push(efficiency_row(run));
        rows.push([
            String::new(),
            "p50 / p99 flow".into(),
            format!(
                "{:.1} / {:.1} ms",
                o.latency.percentile_ms(50.0),
                o.latency.percentile_ms(99.0)
            ),
            String::new(),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "errors".into(),
            o.errors.total().to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    if let Some(run) = &r.email_code {
        let o = &run.outcome;
        let f = flow_split(run);
        rows.push([
            "email-code sign-in".into(),
            "throughput".into(),
            format!("{:.1} flows/s", run.throughput()),
            format!(
                "{:.0}/s = {}/({}×{:.3} ms) RS256 alone",
                run.bound.per_second(),
                run.bound.cores,
                run.bound.per_op,
                ms(run.bound.cost)
            ),
            format!("≥ {EMAIL_CODE_TARGET} flows/s"),
            yes_no(run.throughput() >= EMAIL_CODE_TARGET),
        ]);
        rows.push([
            String::new(),
            "p50 / p99 flow".into(),
            format!(
                "{:.1} / {:.1} ms",
                o.latency.percentile_ms(50.0),
                o.latency.percentile_ms(99.0)
            ),
            String::new(),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "server CPU/flow".into(),
            format!("{:.2} ms", f.total),
            format!(
                "store {:.2} · sign {:.2} · rest {:.2} · other {:.2}",
                f.store, f.signing, f.runtime_rest, f.other
            ),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "errors".into(),
            o.errors.total().to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    if let Some(run) = &r.web3 {
        let o = &run.outcome;
        let p99 = o.latency.percentile_ms(99.0);
        let verify = ms(run.bound.op_cost());
        let total = run.server_cpu_per_op() * 1000.0;
        rows.push([
            "web3 sign-in".into(),
            "throughput".into(),
            format!("{:.1} flows/s", run.throughput()),
            format!(
                "{:.0}/s = {}/{:.3} ms EIP-191 verify alone",
                run.bound.per_second(),
                run.bound.cores,
                verify
            ),
            format!("≥ {WEB3_TARGET} flows/s"),
            yes_no(run.throughput() >= WEB3_TARGET),
        ]);
        rows.push([
            String::new(),
            "p50 / p99 flow".into(),
            format!("{:.1} / {:.1} ms", o.latency.percentile_ms(50.0), p99),
            String::new(),
            format!("p99 < {WEB3_P99_TARGET_MS} ms"),
            yes_no(o.completed > 0 && p99 < WEB3_P99_TARGET_MS),
        ]);
        rows.push([
            String::new(),
            "server CPU/flow".into(),
            format!("{total:.2} ms"),
            format!("verify {verify:.3} · rest {:.2}", (total - verify).max(0.0)),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "errors".into(),
            o.errors.total().to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    if let Some(run) = &r.passkey {
        let o = &run.outcome;
        let verify = ms(run.bound.op_cost());
        let total = run.server_cpu_per_op() * 1000.0;
        rows.push([
            "passkey sign-in".into(),
            "throughput".into(),
            format!("{:.1} flows/s", run.throughput()),
            format!(
                "{:.0}/s = {}/{:.3} ms WebAuthn verify alone",
                run.bound.per_second(),
                run.bound.cores,
                verify
            ),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "p50 / p99 flow".into(),
            format!(
                "{:.1} / {:.1} ms",
                o.latency.percentile_ms(50.0),
                o.latency.percentile_ms(99.0)
            ),
            String::new(),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "server CPU/flow".into(),
            format!("{total:.2} ms"),
            format!("verify {verify:.3} · rest {:.2}", (total - verify).max(0.0)),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "errors".into(),
            o.errors.total().to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    if let Some(run) = &r.tokens {
        let o = &run.outcome;
        let p99 = o.latency.percentile_ms(99.0);
        rows.push([
            "token refresh".into(),
            "throughput".into(),
            format!("{:.0} tokens/s", run.throughput()),
            format!(
                "{:.0}/s = {}/{:.3} ms RS256",
                run.bound.per_second(),
                run.bound.cores,
                ms(run.bound.cost)
            ),
            String::new(),
            String::new(),
        ]);
        rows.push([
            String::new(),
            "ratio".into(),
            format!("{:.3}", run.ratio()),
            String::new(),
            format!("≥ {TOKENS_TARGET}"),
            yes_no(run.ratio() >= TOKENS_TARGET),
        ]);
        rows.push(efficiency_row(run));
        rows.push([
            String::new(),
            "p50 / p99".into(),
            format!("{:.2} / {:.2} ms", o.latency.percentile_ms(50.0), p99),
            String::new(),
            format!("p99 < {TOKENS_P99_TARGET_MS} ms"),
            yes_no(o.completed > 0 && p99 < TOKENS_P99_TARGET_MS),
        ]);
        rows.push([
            String::new(),
            "errors".into(),
            o.errors.total().to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    if let Some(kib) = r.rss_kib {
        let mib = kib as f64 / 1024.0;
        rows.push([
            "idle RSS".into(),
            "VmRSS".into(),
            format!("{mib:.1} MiB"),
            String::new(),
            format!("< {RSS_TARGET_MIB} MiB"),
            yes_no(mib < RSS_TARGET_MIB),
        ]);
    }
    if let Some(kib) = r.rss_after_load_kib {
        rows.push([
            if r.rss_kib.is_some() {
                String::new()
            } else {
                "RSS".into()
            },
            "VmRSS after load (info)".into(),
            format!("{:.1} MiB", kib as f64 / 1024.0),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for (name, run) in [
        ("password", &r.password),
        ("email-code", &r.email_code),
        ("web3", &r.web3),
        ("passkey", &r.passkey),
        ("tokens", &r.tokens),
    ] {
        if let Some(run) = run {
            let u = &run.usage;
            let (label, database) = if u.database > 0.0 {
                (
                    "server / postgres / bench / other",
                    format!(" / {:.2}", u.cores(u.database)),
                )
            } else {
                ("server / bench / other", String::new())
            };
            rows.push([
                format!("CPU in {name}"),
                label.into(),
                format!(
                    "{:.2}{database} / {:.2} / {:.2} cores",
                    u.cores(u.server),
                    u.cores(u.bench),
                    u.cores(u.other)
                ),
                format!("{} cores", run.bound.cores),
                String::new(),
                String::new(),
            ]);
        }
    }

    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    println!();
    println!("== summary ==");
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            println!("{}", "-".repeat(total));
        }
    }
}
