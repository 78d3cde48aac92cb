//! Nothing is lost on a crash: a message committed to the outbox survives the process being
//! killed (SIGKILL) before delivery, and is delivered exactly once after a restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET_KEY: &str = "sk_test_crashcrashcrashcrashcrashcrash01";

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &str, smtp_port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            db,
            "--secret-key",
            SECRET_KEY,
            "--smtp-url",
            &format!("smtp://127.0.0.1:{smtp_port}?tls=none"),
            "--email-from",
            "Vestibule <no-reply@vestibule.test>",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vestibule");
    let stdout = child.stdout.take().expect("stdout");
    let mut url = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(u) = line.trim().strip_prefix("Frontend API:") {
            url = u.trim().to_owned();
        }
        if line.trim().starts_with("Listening on:") {
            break;
        }
    }
    assert!(url.starts_with("http://"), "no banner");
    Server { child, url }
}

type Mail = (Vec<String>, String);

#[derive(Clone)]
struct Sink {
    received: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin_embedded::Handler for Sink {
    fn data_start(
        &mut self,
        _: &str,
        _: &str,
        _: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned();
        self.received
            .lock()
            .expect("lock")
            .push((std::mem::take(&mut self.to), text));
        mailin_embedded::response::OK
    }
}

fn start_smtp(listener: std::net::TcpListener) -> Arc<Mutex<Vec<Mail>>> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let mut server = mailin_embedded::Server::new(Sink {
        received: Arc::clone(&received),
        to: Vec::new(),
        data: Vec::new(),
    });
    server
        .with_name("sink.test")
        .with_ssl(mailin_embedded::SslConfig::None)
        .expect("ssl")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    received
}

#[tokio::test]
async fn a_committed_message_survives_sigkill_and_is_delivered_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/v.db", dir.path().display());
    // Reserve a port for the SMTP server, which is down until after the crash.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let http = reqwest::Client::new();

    let first = serve(&db, port);
    let created = http
        .post(format!("{}/v1/users", first.url))
        .bearer_auth(SECRET_KEY)
        .json(&serde_json::json!({"email_address": ["crash@example.com"], "password": "a long passphrase"}))
        .send()
        .await
        .expect("create user");
    assert_eq!(created.status(), 200);
    let r = http
        .post(format!("{}/v1/client/sign_ins?_is_native=1", first.url))
        .form(&[
            ("identifier", "crash@example.com"),
            ("strategy", "email_code"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 200, "the code's message is committed");
    // Killed hard: no shutdown, no flush. The first delivery attempt, if any, found no server.
    drop(first);

    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("SMTP port");
    let received = start_smtp(listener);
    let _second = serve(&db, port);

    let deadline = Instant::now() + Duration::from_secs(90);
    while received.lock().expect("lock").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the message was not delivered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And only once, even as the courier keeps polling.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mails = received.lock().expect("lock").clone();
    assert_eq!(mails.len(), 1, "delivered exactly once");
    assert_eq!(mails[0].0, vec!["crash@example.com".to_owned()]);
    let has_code = mails[0]
        .1
        .split(|c: char| !c.is_ascii_digit())
        .any(|w| w.len() == 6);
    assert!(has_code, "the mail carries the six-digit code");
}
