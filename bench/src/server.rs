//! Building and running `vestibule serve`, and reading its memory and CPU from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `cargo build --release -p vestibule`, returning the path of the binary cargo reports.
pub fn build(workspace: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building: {cargo} build --release -p vestibule");
    let output = Command::new(&cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "-p",
            "vestibule",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo build failed ({})", output.status));
    }
    let mut found = None;
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "vestibule" {
            if let Some(exe) = msg["executable"].as_str() {
                found = Some(PathBuf::from(exe));
            }
        }
    }
    found.ok_or_else(|| "cargo reported no vestibule executable".into())
}

/// The server's configuration for a benchmark. All load comes from 127.0.0.1 and flows reuse
/// users, so every rate limit is raised far above what the load can reach; they stay enabled, so
/// what counting them costs (one upsert each) is part of what is measured. Codes may be asked for
/// again at once (the cooldown is per sign-in step, so fresh sign-ins never meet it, but a
/// scenario reusing one must not wait either).
pub const CONFIG: &str = "\
# Written by vestibule-bench.
[settings.rate_limits]
enabled = true

[settings.rate_limits.sign_in_create_per_ip]
max = 1000000
window_seconds = 10

[settings.rate_limits.attempts_per_ip]
max = 1000000
window_seconds = 10

[settings.rate_limits.sign_in_create_per_identifier]
max = 1000000
window_seconds = 10

[settings.rate_limits.attempts_per_user]
max = 1000000
window_seconds = 10

[settings.rate_limits.messages_per_identification]
max = 1000000
window_seconds = 10

[settings.codes]
resend_cooldown_seconds = 0

# The password scenarios sign in from a new client each time; client trust would turn every one
# into an email-code flow.
[settings.sign_in]
client_trust = false

# The web3 scenario signs in with MetaMask-style personal_sign.
[settings.web3]
metamask = true
";

/// Added to [`CONFIG`] for the passkey scenario only, so the other scenarios still run against a
/// server that does not know `[settings.passkeys]` (its settings refuse unknown keys). The
/// software authenticators act for this origin, under this RP ID.
pub const PASSKEYS_CONFIG: &str = "
# The passkey scenario's software authenticators claim to act for this page.
[settings.passkeys]
enabled = true
rp_id = \"localhost\"
origins = [\"http://localhost:5173\"]
";

/// Writes [`CONFIG`] (with [`PASSKEYS_CONFIG`] if `passkeys`) to `dir/bench.toml`.
pub fn write_config(dir: &Path, passkeys: bool) -> Result<PathBuf, String> {
    let path = dir.join("bench.toml");
    let config = if passkeys {
        format!("{CONFIG}{PASSKEYS_CONFIG}")
    } else {
        CONFIG.to_owned()
    };
    std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub frontend_api: String,
    pub publishable_key: String,
    pub secret_key: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `bin serve --config <config>` on a free loopback port, in `dir` (so no stray
    /// `./vestibule.toml` is read), with its log (stderr) going to `dir/server.log`. Waits for the
    /// startup banner.
    pub fn start(
        bin: &Path,
        dir: &Path,
        config: &Path,
        database_url: &str,
        secret_key: &str,
    ) -> Result<Server, String> {
        let log = dir.join("server.log");
        let log_file =
            std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new(bin);
        // Only the flags and the file above configure it (a stray VESTIBULE_SMTP_URL or
        // VESTIBULE_MODE would change what is measured, or close the development inbox);
        // VESTIBULE_LOG passes through.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("VESTIBULE_") && name != "VESTIBULE_LOG" {
                command.env_remove(&*name);
            }
        }
        let mut child = command
            .current_dir(dir)
            .args(["serve", "--config"])
            .arg(config)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
                "--secret-key",
                secret_key,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "server stdout is not piped".to_owned())?;
        let (tx, rx) = mpsc::channel::<String>();
        // Reads the banner, then keeps draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            frontend_api: String::new(),
            publishable_key: String::new(),
            secret_key: secret_key.to_owned(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut listening = false;
        while !listening {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let line = line.trim();
                    if let Some(v) = line.strip_prefix("Frontend API:") {
                        server.frontend_api = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("Publishable key:") {
                        server.publishable_key = v.trim().to_owned();
                    } else if line.starts_with("Listening on:") {
                        listening = true;
                    }
                }
                Err(_) => {
                    return Err(format!(
                        "server did not print its banner; log {}:\n{}",
                        server.log.display(),
                        server.log_tail()
                    ))
                }
            }
        }
        let host = server
            .frontend_api
            .strip_prefix("http://")
            .unwrap_or(&server.frontend_api)
            .trim_end_matches('/');
        server.addr = host
            .parse()
            .map_err(|_| format!("cannot parse Frontend API {:?}", server.frontend_api))?;
        Ok(server)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS`, `RssAnon`, `VmHWM`, …).
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        status_kib(self.pid, field)
    }

    /// Waits until VmRSS has not changed for `quiet`, at most `limit`; returns it in KiB.
    pub fn settled_rss_kib(&self, quiet: Duration, limit: Duration) -> Option<u64> {
        let start = Instant::now();
        let mut last = self.status_kib("VmRSS")?;
        let mut since = Instant::now();
        while since.elapsed() < quiet && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.status_kib("VmRSS")?;
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        Some(last)
    }

    /// Threads in the server process.
    pub fn threads(&self) -> Option<u64> {
        status_kib(self.pid, "Threads")
    }

    /// Stops the server with SIGTERM (graceful), then SIGKILL if it lingers.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}
