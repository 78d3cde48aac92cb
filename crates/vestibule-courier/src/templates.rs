//! Message templates: built in for every purpose, each part overridable by the operator.
//!
//! An override directory may hold any of these files, for any purpose in [`Purpose::ALL`]:
//!
//! | file | used as |
//! |---|---|
//! | `<purpose>.subject.txt` | email subject (one line) |
//! | `<purpose>.txt` | email plain-text part |
//! | `<purpose>.html` | email HTML part |
//! | `<purpose>.sms.txt` | SMS text |
//!
//! Placeholders are `{{code}}`, `{{link}}`, `{{application_name}}` and `{{expires_in_minutes}}`
//! (spaces inside the braces are allowed). Values are HTML-escaped in `.html` files and inserted
//! as they are elsewhere. A file with an unknown placeholder, an unclosed `{{`, or a `.txt`/`.html`
//! name that matches no purpose is refused at load time, naming the file: a typo should stop the
//! server at start, not blank out the code in every message later. Other files are ignored.

use crate::message::Message;
use std::path::{Path, PathBuf};

pub use vestibule_model::Purpose;

/// The values a template may use. Empty strings stand for values a purpose does not have.
#[derive(Clone, Default)]
pub struct Vars {
    pub application_name: String,
    pub code: String,
    pub link: String,
    pub expires_in_minutes: u32,
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vars")
            .field("application_name", &self.application_name)
            .field("expires_in_minutes", &self.expires_in_minutes)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {}: unknown placeholder {{{{{name}}}}}; known are {{{{code}}}}, {{{{link}}}}, {{{{application_name}}}}, {{{{expires_in_minutes}}}}", path.display())]
    UnknownPlaceholder { path: PathBuf, name: String },
    #[error("template {}: a {{{{ is never closed", path.display())]
    Unclosed { path: PathBuf },
    #[error("template {}: not a template name; expected <purpose>.subject.txt, <purpose>.txt, <purpose>.html or <purpose>.sms.txt, with <purpose> one of {}", path.display(), purpose_list())]
    UnknownFile { path: PathBuf },
    #[error("template {}: a subject must be one non-empty line", path.display())]
    BadSubject { path: PathBuf },
}

fn purpose_list() -> String {
    Purpose::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    Code,
    Link,
    ApplicationName,
    ExpiresInMinutes,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Placeholder> {
        match name {
            "code" => Some(Placeholder::Code),
            "link" => Some(Placeholder::Link),
            "application_name" => Some(Placeholder::ApplicationName),
            "expires_in_minutes" => Some(Placeholder::ExpiresInMinutes),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Placeholder),
}

/// A template parsed once, at load time, so rendering cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Piece>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Html,
}

impl Template {
    fn parse(src: &str, path: &Path) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = src;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(TemplateError::Unclosed {
                    path: path.to_owned(),
                });
            };
            let name = after[..end].trim();
            let var =
                Placeholder::parse(name).ok_or_else(|| TemplateError::UnknownPlaceholder {
                    path: path.to_owned(),
                    name: name.to_owned(),
                })?;
            pieces.push(Piece::Var(var));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Template(pieces))
    }

    fn render(&self, vars: &Vars, escape: Escape) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => {
                    let minutes;
                    let value: &str = match v {
                        Placeholder::Code => &vars.code,
                        Placeholder::Link => &vars.link,
                        Placeholder::ApplicationName => &vars.application_name,
                        Placeholder::ExpiresInMinutes => {
                            minutes = vars.expires_in_minutes.to_string();
                            &minutes
                        }
                    };
                    match escape {
                        Escape::None => out.push_str(value),
                        Escape::Html => html_escape_into(value, &mut out),
                    }
                }
            }
        }
        out
    }
}

fn html_escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Subject,
    Text,
    Html,
    Sms,
}

impl Part {
    /// Longest suffix first: `x.subject.txt` must not be taken for `x.subject` + `.txt`.
    const SUFFIXES: [(&'static str, Part); 4] = [
        (".subject.txt", Part::Subject),
        (".sms.txt", Part::Sms),
        (".html", Part::Html),
        (".txt", Part::Text),
    ];
}

#[derive(Debug, Clone)]
struct Set {
    subject: Template,
    text: Template,
    html: Template,
    sms: Template,
}

/// Every purpose's templates, built in or overridden.
#[derive(Debug, Clone)]
pub struct Templates {
    sets: Vec<Set>,
}

impl Templates {
    /// The built-in templates, with any overrides found in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut sets = Vec::with_capacity(Purpose::ALL.len());
        for purpose in Purpose::ALL {
            let b = builtin(purpose);
            let path = PathBuf::from(format!("<built-in {purpose}>"));
            sets.push(Set {
                subject: Template::parse(b.subject, &path)?,
                text: Template::parse(b.text, &path)?,
                html: Template::parse(&layout(b.heading, &b.html_body), &path)?,
                sms: Template::parse(b.sms, &path)?,
            });
        }
        let mut templates = Templates { sets };
        if let Some(dir) = dir {
            templates.override_from(dir)?;
        }
        Ok(templates)
    }

    fn override_from(&mut self, dir: &Path) -> Result<(), TemplateError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TemplateError::Io { path, source }
        };
        let mut entries = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io(dir))?;
        // Sorted, so the first error reported is the same on every start.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') || !(name.ends_with(".txt") || name.ends_with(".html")) {
                continue;
            }
            if !path.is_file() {
                continue;
            }
            let parsed = Part::SUFFIXES.iter().find_map(|(suffix, part)| {
                let purpose = Purpose::parse(name.strip_suffix(suffix)?)?;
                Some((purpose, *part))
            });
            let Some((purpose, part)) = parsed else {
                return Err(TemplateError::UnknownFile { path });
            };
            let src = std::fs::read_to_string(&path).map_err(io(&path))?;
            let set = &mut self.sets[purpose as usize];
            match part {
                Part::Subject => {
                    let line = src.trim();
                    if line.is_empty() || line.contains(['\r', '\n']) {
                        return Err(TemplateError::BadSubject { path });
                    }
                    set.subject = Template::parse(line, &path)?;
                }
                Part::Text => set.text = Template::parse(&src, &path)?,
                Part::Html => set.html = Template::parse(&src, &path)?,
                Part::Sms => set.sms = Template::parse(src.trim_end(), &path)?,
            }
        }
        Ok(())
    }

    pub fn render_email(&self, purpose: Purpose, to: &str, vars: &Vars) -> Message {
        let set = &self.sets[purpose as usize];
        // A subject is a header: a line break from a value would end it.
        let subject = set
            .subject
            .render(vars, Escape::None)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        Message::Email {
            purpose: purpose.as_str().to_owned(),
            to: to.to_owned(),
            subject,
            text: set.text.render(vars, Escape::None),
            html: set.html.render(vars, Escape::Html),
        }
    }

    pub fn render_sms(&self, purpose: Purpose, to: &str, vars: &Vars) -> Message {
        Message::Sms {
            purpose: purpose.as_str().to_owned(),
            to: to.to_owned(),
            body: self.sets[purpose as usize].sms.render(vars, Escape::None),
        }
    }
}

struct Builtin {
    subject: &'static str,
    text: &'static str,
    heading: &'static str,
    html_body: String,
    sms: &'static str,
}

const CODE_BLOCK: &str = "<p style=\"margin:24px 0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:32px;font-weight:600;letter-spacing:6px;color:#18181b;\">{{code}}</p>";

fn paragraph(text: &str) -> String {
    format!("<p style=\"margin:0 0 16px;font-size:15px;line-height:1.5;color:#3f3f46;\">{text}</p>")
}

fn small(text: &str) -> String {
    format!("<p style=\"margin:24px 0 0;font-size:13px;line-height:1.5;color:#71717a;\">{text}</p>")
}

fn builtin(purpose: Purpose) -> Builtin {
    match purpose {
        Purpose::SignInCode => Builtin {
            subject: "{{code}} is your {{application_name}} sign-in code",
            text: "Your {{application_name}} sign-in code is:\n\n    {{code}}\n\n\
                   It expires in {{expires_in_minutes}} minutes.\n\n\
                   If you did not try to sign in, you can ignore this email: someone may have typed your address by mistake.\n",
            heading: "Your sign-in code",
            html_body: [
                paragraph("Enter this code to sign in to {{application_name}}:"),
                CODE_BLOCK.to_owned(),
                paragraph("It expires in {{expires_in_minutes}} minutes."),
                small("If you did not try to sign in, you can ignore this email: someone may have typed your address by mistake."),
            ]
            .concat(),
            sms: "{{code}} is your {{application_name}} sign-in code. It expires in {{expires_in_minutes}} minutes.",
        },
        Purpose::SignInLink => Builtin {
            subject: "Sign in to {{application_name}}",
            text: "Open this link to sign in to {{application_name}}:\n\n{{link}}\n\n\
                   The link works once and expires in {{expires_in_minutes}} minutes.\n\n\
                   If you did not try to sign in, you can ignore this email.\n",
            heading: "Sign in",
            html_body: [
                paragraph("Use the button below to sign in to {{application_name}}. The link works once and expires in {{expires_in_minutes}} minutes."),
                "<p style=\"margin:24px 0;\"><a href=\"{{link}}\" style=\"display:inline-block;padding:12px 20px;border-radius:6px;background:#18181b;color:#ffffff;font-size:15px;font-weight:600;text-decoration:none;\">Sign in to {{application_name}}</a></p>".to_owned(),
                small("If the button does not work, copy this address into your browser:<br><a href=\"{{link}}\" style=\"color:#3f3f46;word-break:break-all;\">{{link}}</a>"),
                small("If you did not try to sign in, you can ignore this email."),
            ]
            .concat(),
            sms: "Sign in to {{application_name}}: {{link}} (works once, expires in {{expires_in_minutes}} minutes)",
        },
        Purpose::ResetPasswordCode => Builtin {
            subject: "{{code}} is your {{application_name}} password reset code",
            text: "Someone asked to reset the password of your {{application_name}} account. Your code is:\n\n    {{code}}\n\n\
                   It expires in {{expires_in_minutes}} minutes.\n\n\
                   If it was not you, ignore this email: your password stays as it is.\n",
            heading: "Reset your password",
            html_body: [
                paragraph("Someone asked to reset the password of your {{application_name}} account. Enter this code to choose a new one:"),
                CODE_BLOCK.to_owned(),
                paragraph("It expires in {{expires_in_minutes}} minutes."),
                small("If it was not you, ignore this email: your password stays as it is."),
            ]
            .concat(),
            sms: "{{code}} is your {{application_name}} password reset code. It expires in {{expires_in_minutes}} minutes. Not you? Ignore this message.",
        },
        Purpose::SecondFactorCode => Builtin {
            subject: "{{code}} is your {{application_name}} verification code",
            text: "Your {{application_name}} verification code is:\n\n    {{code}}\n\n\
                   It expires in {{expires_in_minutes}} minutes.\n\n\
                   You are receiving this because someone signed in to your account with your password. \
                   If that was not you, change your password.\n",
            heading: "Your verification code",
            html_body: [
                paragraph("Enter this code to finish signing in to {{application_name}}:"),
                CODE_BLOCK.to_owned(),
                paragraph("It expires in {{expires_in_minutes}} minutes."),
                small("You are receiving this because someone signed in to your account with your password. If that was not you, change your password."),
            ]
            .concat(),
            sms: "{{code}} is your {{application_name}} verification code. It expires in {{expires_in_minutes}} minutes.",
        },
        Purpose::ClientTrustCode => Builtin {
            subject: "{{code}} is your {{application_name}} verification code",
            text: "Someone is signing in to your {{application_name}} account from a new device. To confirm it is you, enter:\n\n    {{code}}\n\n\
                   It expires in {{expires_in_minutes}} minutes.\n\n\
                   If that was not you, do not share this code, and change your password.\n",
            heading: "Confirm a new device",
            html_body: [
                paragraph("Someone is signing in to your {{application_name}} account from a new device. To confirm it is you, enter:"),
                CODE_BLOCK.to_owned(),
                paragraph("It expires in {{expires_in_minutes}} minutes."),
                small("If that was not you, do not share this code, and change your password."),
            ]
            .concat(),
            sms: "{{code}} is your {{application_name}} code to confirm a new device. It expires in {{expires_in_minutes}} minutes. Not you? Change your password.",
        },
    }
}

/// One quiet card, inline styles only: many mail clients drop `<style>` blocks.
fn layout(heading: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n\
<html lang=\"en\">\n\
<head>\n\
<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{heading}</title>\n\
</head>\n\
<body style=\"margin:0;padding:0;background:#f4f4f5;\">\n\
<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f4f4f5;padding:32px 16px;\">\n\
<tr><td align=\"center\">\n\
<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"max-width:480px;background:#ffffff;border:1px solid #e4e4e7;border-radius:8px;\">\n\
<tr><td style=\"padding:32px;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\">\n\
<p style=\"margin:0 0 24px;font-size:13px;font-weight:600;color:#71717a;\">{{{{application_name}}}}</p>\n\
<h1 style=\"margin:0 0 16px;font-size:20px;font-weight:600;color:#18181b;\">{heading}</h1>\n\
{body}\n\
</td></tr>\n\
</table>\n\
</td></tr>\n\
</table>\n\
</body>\n\
</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            application_name: "Acme <& Co>".into(),
            code: "123456".into(),
            link: "https://auth.example.com/v1/verify?token=a&b=c".into(),
            expires_in_minutes: 10,
        }
    }

    #[test]
    fn every_builtin_renders_every_value_it_needs() {
        let t = Templates::load(None).unwrap();
        for purpose in Purpose::ALL {
            let Message::Email {
                subject,
                text,
                html,
                ..
            } = t.render_email(purpose, "a@example.com", &vars())
            else {
                panic!("email")
            };
            let Message::Sms { body, .. } = t.render_sms(purpose, "+15550100", &vars()) else {
                panic!("sms")
            };
            let secret = if purpose == Purpose::SignInLink {
                "https://auth.example.com/v1/verify?token=a&b=c"
            } else {
                "123456"
            };
            assert!(text.contains(secret) && body.contains(secret), "{purpose}");
            assert!(!text.contains("{{") && !html.contains("{{") && !subject.contains("{{"));
            assert!(text.contains("10 minutes") && html.contains("10 minutes"));
            assert!(html.contains("Acme &lt;&amp; Co&gt;"), "escaped in HTML");
            assert!(text.contains("Acme <& Co>"), "as is in text");
            assert!(
                body.chars().count() <= 160 || purpose == Purpose::SignInLink,
                "{purpose}: {}",
                body.len()
            );
        }
        let Message::Email { html, .. } = t.render_email(Purpose::SignInLink, "a@x", &vars())
        else {
            panic!("email")
        };
        assert!(html.contains("href=\"https://auth.example.com/v1/verify?token=a&amp;b=c\""));
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let t = Templates::load(None).unwrap();
        let mut v = vars();
        v.application_name = "Acme\r\nBcc: victim@example.com".into();
        let Message::Email { subject, .. } = t.render_email(Purpose::SignInCode, "a@x", &v) else {
            panic!("email")
        };
        assert!(!subject.contains(['\r', '\n']));
    }

    #[test]
    fn placeholders_parse_with_spaces_and_reject_strangers() {
        let p = Path::new("x.txt");
        let t = Template::parse("a {{ code }} b {{link}}", p).unwrap();
        assert_eq!(
            t.render(&vars(), Escape::None),
            "a 123456 b https://auth.example.com/v1/verify?token=a&b=c"
        );
        assert!(matches!(
            Template::parse("{{ cod }}", p),
            Err(TemplateError::UnknownPlaceholder { name, .. }) if name == "cod"
        ));
        assert!(matches!(
            Template::parse("x {{code", p),
            Err(TemplateError::Unclosed { .. })
        ));
        assert_eq!(
            Template::parse("}} {", p)
                .unwrap()
                .render(&vars(), Escape::Html),
            "}} {"
        );
    }

    #[test]
    fn vars_debug_hides_code_and_link() {
        let text = format!("{:?}", vars());
        assert!(!text.contains("123456") && !text.contains("token"));
    }
}
