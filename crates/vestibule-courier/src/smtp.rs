//! Email over SMTP, with `lettre`.
//!
//! # `smtp_url`
//!
//! Exactly these forms are accepted (user and password percent-encoded where needed):
//!
//! | URL | connection | default port |
//! |---|---|---|
//! | `smtp://host[:port]` or `smtp://user:pass@host[:port]` | STARTTLS, required: the server must offer it and present a valid certificate for `host`, or nothing (credentials included) is sent | 587 |
//! | `smtp://…?tls=starttls` | the same, said explicitly | 587 |
//! | `smtps://host[:port]` or `smtps://user:pass@host[:port]` | implicit TLS from the first byte | 465 |
//! | `smtp://host[:port]?tls=none` | plain text, for a relay on the same machine or network; credentials are refused with it, since they would cross the wire in clear | 25 |
//!
//! No other scheme, query parameter, path or fragment is accepted, so a typo is a start-up error
//! rather than a silent downgrade. Certificates are checked against the bundled web PKI roots.

use crate::config::ConfigError;
use crate::message::Message;
use crate::transport::{SendError, SendFuture, Transport};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::OnceLock;
use std::time::Duration;

/// Per SMTP command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// Per message, well inside the outbox lease (60 s), so no other node takes the message over
/// while this one may still be sending it.
const SEND_TIMEOUT: Duration = Duration::from_secs(40);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    ImplicitTls,
    None,
}

/// A parsed `smtp_url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

impl SmtpUrl {
    /// Errors never repeat the URL: it may hold a password.
    pub fn parse(s: &str) -> Result<SmtpUrl, ConfigError> {
        let bad = |why: &str| ConfigError::new(format!("[email] smtp_url is not valid: {why}"));
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            _ => return Err(bad("it must start with smtp:// or smtps://")),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("it has no host")),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(bad("it may not have a path or fragment"));
        }
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), tls) {
                ("tls", None) => tls = Some(value.into_owned()),
                ("tls", Some(_)) => return Err(bad("tls is given twice")),
                (other, _) => {
                    return Err(bad(&format!(
                        "unknown parameter {other:?}; only tls is accepted"
                    )))
                }
            }
        }
        let security = match (implicit, tls.as_deref()) {
            (true, None) => SmtpSecurity::ImplicitTls,
            (true, Some(_)) => return Err(bad("smtps:// always uses TLS; drop the tls parameter")),
            (false, None | Some("starttls")) => SmtpSecurity::StartTls,
            (false, Some("none")) => SmtpSecurity::None,
            (false, Some(_)) => return Err(bad("tls must be starttls or none")),
        };
        let decode = |part: &str| {
            percent_decode(part)
                .ok_or_else(|| bad("user or password is not valid percent-encoded UTF-8"))
        };
        let user = decode(url.username())?;
        let credentials = match (user.is_empty(), url.password()) {
            (true, None) => None,
            (false, Some(p)) => Some((user, decode(p)?)),
            (false, None) => return Err(bad("a user is given without a password")),
            (true, Some(_)) => return Err(bad("a password is given without a user")),
        };
        if credentials.is_some() && security == SmtpSecurity::None {
            return Err(bad(
                "tls=none would send the password unencrypted; use STARTTLS or smtps://",
            ));
        }
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::ImplicitTls => 465,
            SmtpSecurity::None => 25,
        });
        Ok(SmtpUrl {
            host,
            port,
            security,
            credentials,
        })
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Sends each email as `multipart/alternative` (plain text, then HTML).
pub struct SmtpTransport {
    builder: AsyncSmtpTransportBuilder,
    /// Built on first use: lettre's connection pool starts a task, which needs a running runtime,
    /// and configuration is checked before one may exist.
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    url: SmtpUrl,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("url", &self.url)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// `from` is a mailbox: `no-reply@example.com` or `Example <no-reply@example.com>`.
    pub fn new(smtp_url: &str, from: &str) -> Result<SmtpTransport, ConfigError> {
        let url = SmtpUrl::parse(smtp_url)?;
        let from = parse_from(from)?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned())
                .map_err(|e| ConfigError::new(format!("[email] smtp_url: cannot set up TLS: {e}")))
        };
        let tls = match url.security {
            SmtpSecurity::StartTls => Tls::Required(tls(&url.host)?),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls(&url.host)?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .tls(tls)
            .timeout(Some(COMMAND_TIMEOUT));
        if let Some((user, pass)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(SmtpTransport {
            builder,
            transport: OnceLock::new(),
            from,
            url,
        })
    }

    async fn send_email(&self, message_id: &str, message: &Message) -> Result<(), SendError> {
        let Message::Email {
            to,
            subject,
            text,
            html,
            ..
        } = message
        else {
            return Err(SendError::permanent("an SMS cannot go by email"));
        };
        let to: Mailbox = to
            .parse()
            .map_err(|_| SendError::permanent("the recipient is not a valid email address"))?;
        let email = lettre::Message::builder()
            // Stable across retries: a copy sent twice (delivery is at least once) reads as one.
            .message_id(Some(format!("<{message_id}@{}>", self.from.email.domain())))
            .from(self.from.clone())
            .to(to)
            .subject(subject.as_str())
            .multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            ))
            .map_err(|e| SendError::permanent(format!("cannot build the email: {e}")))?;
        let transport = self.transport.get_or_init(|| self.builder.clone().build());
        match tokio::time::timeout(SEND_TIMEOUT, transport.send(email)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(SendError::temporary(format!(
                "SMTP server took more than {} s",
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }
}

pub(crate) fn parse_from(from: &str) -> Result<Mailbox, ConfigError> {
    from.parse::<Mailbox>().map_err(|e| {
        ConfigError::new(format!(
            "[email] from is not a valid mailbox (\"name@example.com\" or \"Name <name@example.com>\"): {e}"
        ))
    })
}

/// 5xx replies are final, except the authentication ones: those mean our configuration is
/// wrong, and the queue should survive until an operator fixes it.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    // lettre's text holds the reply code and the server's words, never the message.
    let mut detail = format!("SMTP: {e}");
    if detail.len() > 300 {
        let mut end = 300;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
    }
    let code = e.status().map(|c| c.to_string());
    let auth = matches!(code.as_deref(), Some("530" | "534" | "535" | "538"));
    if e.is_permanent() && !auth {
        SendError::permanent(detail)
    } else {
        SendError::temporary(detail)
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, message_id: &'a str, message: &'a Message) -> SendFuture<'a> {
        Box::pin(self.send_email(message_id, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SmtpUrl {
        SmtpUrl::parse(s).unwrap()
    }

    fn err(s: &str) -> String {
        SmtpUrl::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(
            parse("smtp://user:p%40ss@mail.example.com:2525"),
            SmtpUrl {
                host: "mail.example.com".into(),
                port: 2525,
                security: SmtpSecurity::StartTls,
                credentials: Some(("user".into(), "p@ss".into())),
            }
        );
        let u = parse("smtp://mail.example.com");
        assert_eq!(
            (u.port, u.security, u.credentials),
            (587, SmtpSecurity::StartTls, None)
        );
        assert_eq!(
            parse("smtp://mail.example.com?tls=starttls").security,
            SmtpSecurity::StartTls
        );
        let u = parse("smtps://u:p@mail.example.com");
        assert_eq!((u.port, u.security), (465, SmtpSecurity::ImplicitTls));
        let u = parse("smtp://127.0.0.1:2525?tls=none");
        assert_eq!(
            (u.host.as_str(), u.port, u.security),
            ("127.0.0.1", 2525, SmtpSecurity::None)
        );
        assert_eq!(parse("smtp://localhost?tls=none").port, 25);
        assert_eq!(parse("smtp://[::1]:25?tls=none").host, "::1");
    }

    #[test]
    fn refused_forms_do_not_echo_the_password() {
        for (url, why) in [
            ("http://mail.example.com", "smtp:// or smtps://"),
            ("smtp://u:hunter2@mail.example.com?tls=none", "unencrypted"),
            (
                "smtp://u:hunter2@mail.example.com?tls=yes",
                "starttls or none",
            ),
            (
                "smtps://u:hunter2@mail.example.com?tls=none",
                "drop the tls",
            ),
            (
                "smtp://u:hunter2@mail.example.com?tls=none&tls=none",
                "twice",
            ),
            (
                "smtp://u:hunter2@mail.example.com?helo=x",
                "unknown parameter",
            ),
            ("smtp://u:hunter2@mail.example.com/path", "path"),
            ("smtp://u@mail.example.com", "without a password"),
            ("smtp://:hunter2@mail.example.com", "without a user"),
            ("smtp://u:%ZZ@mail.example.com", "percent-encoded"),
            ("smtp://", "no host"),
        ] {
            let e = err(url);
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{url}: {e}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let text = format!(
            "{:?}",
            SmtpTransport::new("smtp://u:hunter2@mail.example.com", "a@example.com").unwrap()
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("mail.example.com"));
    }

    #[test]
    fn from_must_be_a_mailbox() {
        assert!(
            SmtpTransport::new("smtp://mail.example.com", "Example <no-reply@example.com>").is_ok()
        );
        let e = SmtpTransport::new("smtp://mail.example.com", "not an address").unwrap_err();
        assert!(e.to_string().contains("[email] from"), "{e}");
    }
}
