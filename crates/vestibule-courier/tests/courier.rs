//! The courier against real transports: an SMTP server in-process (mailin-embedded), an HTTP sink
//! for the SMS webhook, and a store on every backend (SQLite; PostgreSQL when configured).

#![allow(clippy::unwrap_used)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use mailin_embedded::{response, Handler, Response, Server, SslConfig};
use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vestibule_courier::{
    Courier, CourierConfig, Message, Purpose, SendError, SendFuture, SmsWebhookTransport,
    SmtpTransport, Templates, Transport, Transports, Vars,
};
use vestibule_crypto::Sealer;
use vestibule_model::{Clock, OsRng, TestClock, Timestamp};
use vestibule_store::outbox::{self, OutboxMessage};
use vestibule_store::testing::{backends, fresh, TestStore};

const START: Timestamp = Timestamp(1_700_000_000_000);
const KEY: [u8; 32] = [42; 32];

async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let ts = fresh(backend).await;
        eprintln!("backend {backend:?}");
        test(ts).await;
    }
}

fn courier(
    ts: &TestStore,
    transports: Transports,
    clock: &TestClock,
    development: bool,
) -> Courier {
    Courier::new(
        ts.store.clone(),
        Arc::new(Sealer::new(KEY)),
        transports,
        Arc::new(clock.clone()),
        Arc::new(OsRng),
        development,
    )
}

fn vars(code: &str) -> Vars {
    Vars {
        application_name: "Acme".into(),
        code: code.into(),
        link: String::new(),
        expires_in_minutes: 10,
    }
}

fn sms(code: &str) -> Message {
    Templates::load(None)
        .unwrap()
        .render_sms(Purpose::SignInCode, "+15550100123", &vars(code))
}

fn email(to: &str, code: &str) -> Message {
    Templates::load(None)
        .unwrap()
        .render_email(Purpose::SignInCode, to, &vars(code))
}

async fn enqueue_committed(ts: &TestStore, courier: &Courier, message: &Message) -> String {
    let mut tx = ts.store.begin().await.unwrap();
    let id = courier.enqueue(&mut tx, message).await.unwrap();
    tx.commit().await.unwrap();
    courier.wake();
    id
}

async fn row(ts: &TestStore, id: &str) -> OutboxMessage {
    let mut c = ts.store.read().await.unwrap();
    outbox::get(&mut c, id).await.unwrap().unwrap()
}

// ---------------------------------------------------------------------------------------------
// An SMTP server in-process.

#[derive(Debug, Clone)]
struct Received {
    to: Vec<String>,
    data: Vec<u8>,
}

#[derive(Clone)]
struct SmtpSink {
    received: Arc<Mutex<Vec<Received>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for SmtpSink {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.starts_with("nobody@") {
            response::NO_MAILBOX
        } else if to.starts_with("busy@") {
            response::INTERNAL_ERROR
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.received.lock().unwrap().push(Received {
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        });
        response::OK
    }
}

/// Starts a plain SMTP server (no STARTTLS) on a free port; it runs until the test binary ends.
fn start_smtp() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let mut server = Server::new(SmtpSink {
        received: received.clone(),
        to: Vec::new(),
        data: Vec::new(),
    });
    server
        .with_name("sink.test")
        .with_num_threads(16)
        .with_ssl(SslConfig::None)
        .unwrap()
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            eprintln!("SMTP sink stopped: {e}");
        }
    });
    (port, received)
}

fn smtp_transports(port: u16) -> Transports {
    Transports {
        email: Some(Arc::new(
            SmtpTransport::new(
                &format!("smtp://127.0.0.1:{port}?tls=none"),
                "Acme <no-reply@acme.test>",
            )
            .unwrap(),
        )),
        sms: None,
    }
}

#[tokio::test]
async fn smtp_delivers_a_multipart_email_with_the_code_in_both_parts() {
    on_every_backend(|ts| async move {
        let (port, received) = start_smtp();
        let clock = TestClock::new(START);
        let c = courier(&ts, smtp_transports(port), &clock, false);
        let id = enqueue_committed(&ts, &c, &email("alice@example.com", "493027")).await;

        assert_eq!(c.deliver_due_now().await, 1);
        let m = row(&ts, &id).await;
        assert_eq!(
            (m.delivered_at, m.attempts, m.last_error),
            (Some(START), 1, None)
        );

        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, ["alice@example.com"]);
        let mail = mailparse::parse_mail(&got[0].data).unwrap();
        let header = |name: &str| {
            mail.headers
                .iter()
                .find(|h| h.get_key().eq_ignore_ascii_case(name))
                .map(|h| h.get_value())
                .unwrap_or_default()
        };
        assert_eq!(header("Subject"), "493027 is your Acme sign-in code");
        assert!(
            header("From").contains("no-reply@acme.test"),
            "{}",
            header("From")
        );
        assert_eq!(header("To"), "alice@example.com");
        assert!(!header("Date").is_empty());
        assert_eq!(header("Message-ID"), format!("<{id}@acme.test>"));
        assert_eq!(mail.ctype.mimetype, "multipart/alternative");
        let parts: Vec<(String, String)> = mail
            .subparts
            .iter()
            .map(|p| (p.ctype.mimetype.clone(), p.get_body().unwrap()))
            .collect();
        assert_eq!(
            parts.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            ["text/plain", "text/html"]
        );
        assert!(
            parts[0].1.contains("    493027\n") || parts[0].1.contains("    493027\r\n"),
            "{}",
            parts[0].1
        );
        assert!(parts[1].1.contains(">493027</p>"), "{}", parts[1].1);

        // Nothing more to send, now or later.
        clock.advance_seconds(3600);
        assert_eq!(c.deliver_due_now().await, 0);
        assert_eq!(received.lock().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn smtp_rejections_fail_at_once_or_retry_by_reply_code() {
    on_every_backend(|ts| async move {
        let (port, received) = start_smtp();
        let clock = TestClock::new(START);
        let c = courier(&ts, smtp_transports(port), &clock, false);
        let gone = enqueue_committed(&ts, &c, &email("nobody@example.com", "111111")).await;
        let busy = enqueue_committed(&ts, &c, &email("busy@example.com", "222222")).await;

        assert_eq!(c.deliver_due_now().await, 2);
        let gone = row(&ts, &gone).await;
        assert_eq!(gone.failed_at, Some(START), "550 is final");
        assert!(
            gone.last_error.as_deref().unwrap().contains("550"),
            "{:?}",
            gone.last_error
        );
        let busy = row(&ts, &busy).await;
        assert_eq!(
            (busy.failed_at, busy.delivered_at),
            (None, None),
            "451 is retried"
        );
        assert_eq!(busy.next_attempt_at, START.plus_seconds(5));
        assert!(!busy.last_error.as_deref().unwrap().contains("222222"));
        assert!(received.lock().unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn starttls_is_required_unless_tls_none_is_said() {
    on_every_backend(|ts| async move {
        // The sink offers no STARTTLS: the default smtp:// form must refuse to send in clear.
        let (port, received) = start_smtp();
        let clock = TestClock::new(START);
        let transports = Transports {
            email: Some(Arc::new(
                SmtpTransport::new(&format!("smtp://127.0.0.1:{port}"), "no-reply@acme.test")
                    .unwrap(),
            )),
            sms: None,
        };
        let c = courier(&ts, transports, &clock, false);
        let id = enqueue_committed(&ts, &c, &email("alice@example.com", "333333")).await;
        assert_eq!(c.deliver_due_now().await, 1);
        let m = row(&ts, &id).await;
        assert_eq!(
            (m.delivered_at, m.failed_at),
            (None, None),
            "retried, not sent"
        );
        assert!(m.last_error.unwrap().contains("STARTTLS"));
        assert!(received.lock().unwrap().is_empty());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// An HTTP sink for the SMS webhook.

#[derive(Default)]
struct WebhookSink {
    requests: Mutex<Vec<(HeaderMap, Vec<u8>)>>,
    /// Statuses to answer, in order; 200 once they run out.
    statuses: Mutex<VecDeque<u16>>,
}

impl WebhookSink {
    fn hits(&self) -> Vec<(HeaderMap, serde_json::Value, Vec<u8>)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(h, raw)| (h.clone(), serde_json::from_slice(raw).unwrap(), raw.clone()))
            .collect()
    }
}

async fn sink_handler(
    State(sink): State<Arc<WebhookSink>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    sink.requests.lock().unwrap().push((headers, body.to_vec()));
    let status = sink.statuses.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

async fn start_webhook(statuses: &[u16]) -> (String, Arc<WebhookSink>) {
    let sink = Arc::new(WebhookSink::default());
    sink.statuses.lock().unwrap().extend(statuses);
    let app = Router::new()
        .route("/hooks/sms", post(sink_handler))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, sink)
}

fn webhook_transports(url: &str, secret: Option<&str>, clock: &TestClock) -> Transports {
    Transports {
        email: None,
        sms: Some(Arc::new(
            SmsWebhookTransport::new(url, secret, Arc::new(clock.clone())).unwrap(),
        )),
    }
}

#[tokio::test]
async fn sms_webhook_gets_the_documented_payload_signed() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[]).await;
        let clock = TestClock::new(START);
        let c = courier(
            &ts,
            webhook_transports(&url, Some("whsec_test"), &clock),
            &clock,
            false,
        );
        let id = enqueue_committed(&ts, &c, &sms("804512")).await;
        assert_eq!(c.deliver_due_now().await, 1);
        assert!(row(&ts, &id).await.delivered_at.is_some());

        let hits = sink.hits();
        assert_eq!(hits.len(), 1);
        let (headers, json, raw) = &hits[0];
        assert_eq!(
            json,
            &serde_json::json!({
                "to": "+15550100123",
                "body": "804512 is your Acme sign-in code. It expires in 10 minutes.",
                "purpose": "sign_in_code",
                "message_id": id,
            })
        );
        assert_eq!(headers["content-type"], "application/json");

        // The receiver's check, done here from the documented format alone.
        let sig = headers["x-vestibule-signature"].to_str().unwrap();
        let (t, v1) = sig.split_once(',').unwrap();
        let t = t.strip_prefix("t=").unwrap();
        let v1 = v1.strip_prefix("v1=").unwrap();
        assert_eq!(t, START.seconds().to_string());
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"whsec_test");
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(raw);
        assert_eq!(v1, hex::encode(ring::hmac::sign(&key, &signed).as_ref()));
        assert!(vestibule_courier::verify_signature(
            b"whsec_test",
            sig,
            raw,
            START.seconds() + 60,
            300
        ));
        assert!(!vestibule_courier::verify_signature(
            b"other",
            sig,
            raw,
            START.seconds(),
            300
        ));
    })
    .await;
}

#[tokio::test]
async fn unsigned_webhook_has_no_signature_header() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[]).await;
        let clock = TestClock::new(START);
        let c = courier(&ts, webhook_transports(&url, None, &clock), &clock, false);
        enqueue_committed(&ts, &c, &sms("100200")).await;
        assert_eq!(c.deliver_due_now().await, 1);
        let hits = sink.hits();
        assert_eq!(hits.len(), 1);
        assert!(!hits[0].0.contains_key("x-vestibule-signature"));
    })
    .await;
}

#[tokio::test]
async fn webhook_500_then_200_is_delivered_on_the_second_attempt() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[500, 200]).await;
        let clock = TestClock::new(START);
        let c = courier(&ts, webhook_transports(&url, None, &clock), &clock, false);
        let id = enqueue_committed(&ts, &c, &sms("765432")).await;

        assert_eq!(c.deliver_due_now().await, 1);
        let m = row(&ts, &id).await;
        assert_eq!((m.attempts, m.delivered_at, m.failed_at), (1, None, None));
        assert_eq!(
            m.next_attempt_at,
            START.plus_seconds(5),
            "first backoff is 5 s"
        );
        let error = m.last_error.unwrap();
        assert!(
            error.contains("500") && !error.contains("765432"),
            "{error}"
        );

        // Not due yet.
        clock.advance_seconds(4);
        assert_eq!(c.deliver_due_now().await, 0);
        clock.advance_seconds(1);
        assert_eq!(c.deliver_due_now().await, 1);
        let m = row(&ts, &id).await;
        assert_eq!(
            (m.attempts, m.delivered_at, m.last_error),
            (2, Some(START.plus_seconds(5)), None)
        );

        let hits = sink.hits();
        assert_eq!(hits.len(), 2);
        assert_eq!(
            hits[0].1["message_id"], hits[1].1["message_id"],
            "same id on retry"
        );
    })
    .await;
}

#[tokio::test]
async fn webhook_4xx_fails_at_once_but_408_and_429_retry() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[400]).await;
        let clock = TestClock::new(START);
        let c = courier(&ts, webhook_transports(&url, None, &clock), &clock, false);
        let id = enqueue_committed(&ts, &c, &sms("123123")).await;
        assert_eq!(c.deliver_due_now().await, 1);
        let m = row(&ts, &id).await;
        assert_eq!((m.attempts, m.failed_at), (1, Some(START)));
        assert!(m.last_error.unwrap().contains("400"));
        clock.advance_seconds(3600);
        assert_eq!(c.deliver_due_now().await, 0, "given up for good");
        assert_eq!(sink.hits().len(), 1);

        for status in [408, 429] {
            sink.statuses.lock().unwrap().push_back(status);
            let id = enqueue_committed(&ts, &c, &sms("123123")).await;
            assert_eq!(c.deliver_due_now().await, 1);
            let m = row(&ts, &id).await;
            assert_eq!(
                (m.failed_at, m.delivered_at),
                (None, None),
                "{status} is retried"
            );
            clock.advance_seconds(5);
            assert_eq!(c.deliver_due_now().await, 1);
            assert!(row(&ts, &id).await.delivered_at.is_some());
        }
    })
    .await;
}

#[tokio::test]
async fn a_message_is_given_up_after_ten_attempts() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[503; 20]).await;
        let clock = TestClock::new(START);
        let c = courier(&ts, webhook_transports(&url, None, &clock), &clock, false);
        let id = enqueue_committed(&ts, &c, &sms("999000")).await;
        let mut waits = Vec::new();
        for _ in 0..10 {
            assert_eq!(c.deliver_due_now().await, 1);
            let m = row(&ts, &id).await;
            if m.failed_at.is_some() {
                break;
            }
            let wait = (m.next_attempt_at.0 - clock.now().0) / 1000;
            waits.push(wait);
            clock.advance_seconds(wait);
        }
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600]);
        let m = row(&ts, &id).await;
        assert_eq!((m.attempts, m.failed_at.is_some()), (10, true));
        clock.advance_seconds(3600);
        assert_eq!(c.deliver_due_now().await, 0);
        assert_eq!(sink.hits().len(), 10);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Exactly once per commit.

#[tokio::test]
async fn rolled_back_enqueue_sends_nothing_and_committed_sends_once() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[]).await;
        let clock = TestClock::new(START);
        let c = courier(&ts, webhook_transports(&url, None, &clock), &clock, false);
        let sealer = Sealer::new(KEY);

        // The free function, inside a transaction that is dropped: rolled back.
        {
            let mut tx = ts.store.begin().await.unwrap();
            vestibule_courier::enqueue(&mut tx, &sealer, &sms("555001"), clock.now(), &OsRng)
                .await
                .unwrap();
        }
        assert_eq!(c.deliver_due_now().await, 0);
        assert!(sink.hits().is_empty());

        let mut tx = ts.store.begin().await.unwrap();
        let id = vestibule_courier::enqueue(&mut tx, &sealer, &sms("555002"), clock.now(), &OsRng)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(id.starts_with("msg_") && id.len() == 31, "{id}");

        // Sealed at rest: the stored row does not show the code.
        let stored = row(&ts, &id).await;
        assert!(!stored.payload.windows(6).any(|w| w == b"555002"));
        assert_eq!(
            (stored.recipient.as_str(), stored.purpose.as_str()),
            ("+15550100123", "sign_in_code")
        );

        assert_eq!(c.deliver_due_now().await, 1);
        assert_eq!(c.deliver_due_now().await, 0);
        clock.advance_seconds(600);
        assert_eq!(c.deliver_due_now().await, 0);
        let hits = sink.hits();
        assert_eq!(hits.len(), 1);
        assert!(hits[0].1["body"].as_str().unwrap().contains("555002"));
    })
    .await;
}

/// Signals when a send starts, then never finishes: a node that dies mid-delivery.
struct Hang(tokio::sync::mpsc::UnboundedSender<String>);

impl Transport for Hang {
    fn send<'a>(&'a self, message_id: &'a str, _message: &'a Message) -> SendFuture<'a> {
        let _ = self.0.send(message_id.to_owned());
        Box::pin(futures::future::pending::<Result<(), SendError>>())
    }
}

#[tokio::test]
async fn a_crashed_couriers_claim_is_delivered_by_another_after_the_lease() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[]).await;
        let clock = TestClock::new(START);
        let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
        let doomed = courier(
            &ts,
            Transports {
                email: None,
                sms: Some(Arc::new(Hang(started_tx))),
            },
            &clock,
            false,
        );
        let id = enqueue_committed(&ts, &doomed, &sms("246810")).await;
        let run = {
            let doomed = doomed.clone();
            tokio::spawn(async move { doomed.deliver_due_now().await })
        };
        assert_eq!(started.recv().await.unwrap(), id, "claimed and sending");
        // The crash: the task is gone without recording anything.
        run.abort();
        assert!(run.await.unwrap_err().is_cancelled());
        drop(doomed);

        let survivor = courier(&ts, webhook_transports(&url, None, &clock), &clock, false);
        assert_eq!(
            survivor.deliver_due_now().await,
            0,
            "leased to the dead node"
        );
        clock.advance_seconds(59);
        assert_eq!(survivor.deliver_due_now().await, 0, "lease still running");
        clock.advance_seconds(1);
        assert_eq!(survivor.deliver_due_now().await, 1);
        let m = row(&ts, &id).await;
        assert_eq!(
            (m.attempts, m.delivered_at),
            (2, Some(START.plus_seconds(60)))
        );
        let hits = sink.hits();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].1["message_id"], id.as_str());
    })
    .await;
}

#[tokio::test]
async fn run_delivers_when_woken_and_stops_on_shutdown() {
    on_every_backend(|ts| async move {
        let (url, sink) = start_webhook(&[]).await;
        let clock = TestClock::new(START);
        let c = courier(&ts, webhook_transports(&url, None, &clock), &clock, false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run(async {
                    let _ = stopped.await;
                })
                .await
            })
        };
        // Let the loop go idle first, so the delivery below is due to the wake, not the first round.
        tokio::time::sleep(Duration::from_millis(200)).await;
        enqueue_committed(&ts, &c, &sms("135790")).await; // commits, then wakes
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while sink.hits().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "woken courier delivers well before its 5 s poll"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sink.hits().len(), 1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Development and production modes.

#[tokio::test]
async fn development_without_transports_delivers_to_the_inbox() {
    on_every_backend(|ts| async move {
        let clock = TestClock::new(START);
        let c = courier(&ts, Transports::none(), &clock, true);
        let mail = enqueue_committed(&ts, &c, &email("dev@example.com", "314159")).await;
        clock.advance_seconds(1);
        let text = enqueue_committed(&ts, &c, &sms("271828")).await;
        assert_eq!(c.deliver_due_now().await, 2);

        let all = c.inbox(None, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            [text.as_str(), mail.as_str()]
        );
        let e = &all[1];
        assert_eq!(
            (e.channel.as_str(), e.to.as_str(), e.purpose.as_str()),
            ("email", "dev@example.com", "sign_in_code")
        );
        assert_eq!(
            e.subject.as_deref(),
            Some("314159 is your Acme sign-in code")
        );
        assert!(
            e.text.as_deref().unwrap().contains("314159")
                && e.html.as_deref().unwrap().contains("314159")
        );
        assert_eq!(
            (e.body.as_deref(), e.created_at, e.delivered_at, e.attempts),
            (None, START, Some(START.plus_seconds(1)), 1)
        );

        let phone =
            vestibule_courier::inbox(&ts.store, &Sealer::new(KEY), Some("+15550100123"), 10)
                .await
                .unwrap();
        assert_eq!(phone.len(), 1);
        assert_eq!(
            phone[0].body.as_deref(),
            Some("271828 is your Acme sign-in code. It expires in 10 minutes.")
        );
        assert_eq!(
            (phone[0].subject.as_deref(), phone[0].failed_at),
            (None, None)
        );
        let json = serde_json::to_value(&phone[0]).unwrap();
        assert_eq!(json["channel"], "sms");

        // Under another key the entries are listed without their content.
        let blind = vestibule_courier::inbox(&ts.store, &Sealer::new([0; 32]), None, 10)
            .await
            .unwrap();
        assert_eq!(blind.len(), 2);
        assert!(blind.iter().all(|e| e.text.is_none() && e.body.is_none()));
    })
    .await;
}

#[tokio::test]
async fn production_without_a_transport_gives_the_message_up() {
    on_every_backend(|ts| async move {
        let clock = TestClock::new(START);
        let c = courier(&ts, Transports::none(), &clock, false);
        let id = enqueue_committed(&ts, &c, &email("prod@example.com", "161803")).await;
        assert_eq!(c.deliver_due_now().await, 1);
        let m = row(&ts, &id).await;
        assert_eq!(m.failed_at, Some(START));
        assert!(m.last_error.unwrap().contains("no email transport"));
    })
    .await;
}

fn config(toml_like: serde_json::Value) -> CourierConfig {
    serde_json::from_value(toml_like).unwrap()
}

#[test]
fn production_validate_names_what_is_missing() {
    let none = CourierConfig::default();
    assert!(none.validate(false, false).is_ok());
    assert_eq!(
        none.validate(true, false).unwrap_err().to_string(),
        "email codes are enabled but [email] smtp_url is not configured"
    );
    assert_eq!(
        none.validate(false, true).unwrap_err().to_string(),
        "SMS codes are enabled but [sms] webhook_url is not configured"
    );

    let no_from = config(serde_json::json!({"email": {"smtp_url": "smtp://mail.example.com"}}));
    assert!(no_from
        .validate(true, false)
        .unwrap_err()
        .to_string()
        .contains("[email] from"));

    let bad_url = config(
        serde_json::json!({"email": {"smtp_url": "smtp://u:pw@mail.example.com?tls=off", "from": "a@example.com"}}),
    );
    let e = bad_url.validate(true, false).unwrap_err().to_string();
    assert!(
        e.contains("[email] smtp_url is not valid") && !e.contains("pw@"),
        "{e}"
    );

    let bad_hook = config(serde_json::json!({"sms": {"webhook_url": "ftp://x"}}));
    assert!(bad_hook
        .validate(false, true)
        .unwrap_err()
        .to_string()
        .contains("[sms] webhook_url is not valid"));

    let full = config(serde_json::json!({
        "email": {"smtp_url": "smtps://u:pw@mail.example.com", "from": "Acme <no-reply@example.com>"},
        "sms": {"webhook_url": "https://sms.example.com/send", "webhook_secret": "s"},
    }));
    assert!(full.validate(true, true).is_ok());
    let transports = full.transports(Arc::new(TestClock::new(START))).unwrap();
    assert!(transports.email.is_some() && transports.sms.is_some());
    assert!(CourierConfig::default()
        .transports(Arc::new(TestClock::new(START)))
        .unwrap()
        .email
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// Templates.

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn template_overrides_replace_only_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sign_in_code.subject.txt",
        "Code for {{ application_name }}: {{code}}\n",
    );
    write(
        dir.path(),
        "sign_in_code.html",
        "<b>{{code}}</b> for {{application_name}}\n",
    );
    write(
        dir.path(),
        "sign_in_code.sms.txt",
        "{{application_name}} code {{code}}\n",
    );
    write(dir.path(), "README.md", "{{ not a template }}");
    std::fs::create_dir(dir.path().join("images")).unwrap();

    let t = CourierConfig {
        templates_dir: Some(dir.path().to_owned()),
        ..CourierConfig::default()
    }
    .templates()
    .unwrap();
    let mut v = vars("777888");
    v.application_name = "A&B".into();
    let Message::Email {
        subject,
        text,
        html,
        ..
    } = t.render_email(Purpose::SignInCode, "a@example.com", &v)
    else {
        panic!("email")
    };
    assert_eq!(subject, "Code for A&B: 777888");
    assert_eq!(html, "<b>777888</b> for A&amp;B\n");
    assert!(
        text.starts_with("Your A&B sign-in code is:"),
        "built-in text kept: {text}"
    );
    let Message::Sms { body, .. } = t.render_sms(Purpose::SignInCode, "+15550100123", &v) else {
        panic!("sms")
    };
    assert_eq!(body, "A&B code 777888");
    // Other purposes keep their built-ins.
    let Message::Sms { body, .. } = t.render_sms(Purpose::ResetPasswordCode, "+15550100123", &v)
    else {
        panic!("sms")
    };
    assert!(body.starts_with("777888 is your A&B password reset code"));
}

#[test]
fn bad_template_files_are_refused_by_name() {
    let cases = [
        (
            "reset_password_code.txt",
            "Your code: {{ otp }}",
            "unknown placeholder {{otp}}",
        ),
        ("sign_in_link.html", "<a href=\"{{link\">", "never closed"),
        ("sign_in_cod.txt", "{{code}}", "not a template name"),
        (
            "sign_in_code.subject.txt",
            "line one\nline two",
            "one non-empty line",
        ),
    ];
    for (file, text, why) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), file, text);
        let e = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains(file) && e.contains(why), "{file}: {e}");
    }
    let e = Templates::load(Some(Path::new("/nonexistent/templates")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/templates"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Logs: bodies only in development.

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn development_logs_the_body_with_a_masked_recipient() {
    on_every_backend(|ts| async move {
        let (logs, _guard) = capture_logs();
        let clock = TestClock::new(START);
        let c = courier(&ts, Transports::none(), &clock, true);
        enqueue_committed(&ts, &c, &sms("271828")).await;
        enqueue_committed(&ts, &c, &email("developer@example.com", "314159")).await;
        assert_eq!(c.deliver_due_now().await, 2);
        let text = logs.text();
        assert!(text.contains("271828") && text.contains("314159"), "{text}");
        assert!(
            text.contains("+1********23") && text.contains("d***@example.com"),
            "{text}"
        );
        assert!(
            !text.contains("15550100123") && !text.contains("developer@"),
            "{text}"
        );
        assert!(text.contains("INFO"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn production_logs_failures_without_bodies() {
    on_every_backend(|ts| async move {
        let (logs, _guard) = capture_logs();
        let (url, _sink) = start_webhook(&[500, 400]).await;
        let clock = TestClock::new(START);
        let c = courier(
            &ts,
            webhook_transports(&url, Some("whsec"), &clock),
            &clock,
            false,
        );
        enqueue_committed(&ts, &c, &sms("818181")).await;
        assert_eq!(c.deliver_due_now().await, 1);
        clock.advance_seconds(5);
        assert_eq!(c.deliver_due_now().await, 1);
        let text = logs.text();
        assert!(
            text.contains("will retry") && text.contains("given up"),
            "{text}"
        );
        assert!(
            !text.contains("818181") && !text.contains("15550100123") && !text.contains("whsec"),
            "{text}"
        );
    })
    .await;
}
