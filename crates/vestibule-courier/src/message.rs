//! A rendered message, as it is sealed into the outbox and handed to a transport.

use serde::{Deserialize, Serialize};
use vestibule_store::outbox::Channel;

/// One outgoing message. `purpose` says what it is for (`sign_in_code`, `sign_in_link`,
/// `reset_password_code`, …): it is kept as text so a message written by a newer node can still
/// be delivered by an older one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Message {
    Email {
        purpose: String,
        to: String,
        subject: String,
        text: String,
        html: String,
    },
    Sms {
        purpose: String,
        to: String,
        body: String,
    },
}

impl Message {
    pub fn channel(&self) -> Channel {
        match self {
            Message::Email { .. } => Channel::Email,
            Message::Sms { .. } => Channel::Sms,
        }
    }

    /// Email address or E.164 phone number.
    pub fn to(&self) -> &str {
        match self {
            Message::Email { to, .. } | Message::Sms { to, .. } => to,
        }
    }

    pub fn purpose(&self) -> &str {
        match self {
            Message::Email { purpose, .. } | Message::Sms { purpose, .. } => purpose,
        }
    }
}

/// Bodies carry codes and links: Debug shows only what a log may hold.
impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("channel", &self.channel().as_str())
            .field("purpose", &self.purpose())
            .field("to", &mask_recipient(self.to()))
            .finish_non_exhaustive()
    }
}

/// A recipient fit for logs: enough to tell messages apart, not enough to harvest addresses.
/// `alice@example.com` → `a***@example.com`, `+15551234567` → `+1********67`.
pub fn mask_recipient(to: &str) -> String {
    if let Some((local, domain)) = to.rsplit_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let chars: Vec<char> = to.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let head = if chars[0] == '+' { 2 } else { 1 };
    let tail = 2;
    let hidden = chars.len().saturating_sub(head + tail);
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_masked() {
        assert_eq!(mask_recipient("alice@example.com"), "a***@example.com");
        assert_eq!(mask_recipient("+15551234567"), "+1********67");
        assert_eq!(mask_recipient("123"), "***");
        assert_eq!(mask_recipient("@x"), "***@x");
    }

    #[test]
    fn debug_hides_the_body() {
        let m = Message::Sms {
            purpose: "sign_in_code".into(),
            to: "+15551234567".into(),
            body: "Your code is 424242".into(),
        };
        let text = format!("{m:?}");
        assert!(
            !text.contains("424242") && !text.contains("5551234"),
            "{text}"
        );
        assert!(text.contains("sign_in_code"));
    }

    #[test]
    fn serialises_with_a_channel_tag() {
        let m = Message::Email {
            purpose: "sign_in_link".into(),
            to: "a@example.com".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["channel"], "email");
        assert_eq!(json["purpose"], "sign_in_link");
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), m);
    }
}
