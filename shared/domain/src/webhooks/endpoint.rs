//! The account's webhook endpoint: where its events go, which ones, and the secrets that sign
//! them.
//!
//! One endpoint per account. Secrets are Standard Webhooks secrets (`whsec_` + base64 of 32
//! random bytes; the key is the decoded bytes). They are stored sealed (encrypted with the
//! deployment's data key by a [`SecretSealer`](super::ports::SecretSealer)) and shown to the
//! merchant once, when created. Rotating keeps the previous secret signing alongside the new
//! one for [`ROTATION_OVERLAP`], so a merchant can switch verifiers without missing an event.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

use crate::messaging::events::EventType;
use crate::pix::ids::AccountId;

/// How long a rotated-out secret keeps signing next to the new one.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// The prefix of every signing secret, as Standard Webhooks libraries expect it.
pub const SECRET_PREFIX: &str = "whsec_";

/// A plaintext signing secret (`whsec_…`). Never logged: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

impl WebhookSecret {
    /// 32 bytes from the thread-local CSPRNG (seeded by the OS).
    pub fn generate() -> WebhookSecret {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        WebhookSecret(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
    }

    /// A stored (unsealed) secret; `None` unless it is `whsec_` + base64.
    pub fn parse(text: &str) -> Option<WebhookSecret> {
        let encoded = text.strip_prefix(SECRET_PREFIX)?;
        let key = STANDARD.decode(encoded).ok()?;
        (!key.is_empty()).then(|| WebhookSecret(text.to_owned()))
    }

    /// The text shown to the merchant once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the base64-decoded part after the prefix.
    pub fn key(&self) -> Vec<u8> {
        self.0
            .strip_prefix(SECRET_PREFIX)
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .unwrap_or_default()
    }
}

/// A secret as stored: sealed, with its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub sealed: String,
    pub created_at: DateTime<Utc>,
    /// `None` for the current secret; set when it is rotated out.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SealedSecret {
    fn signs_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointStatus {
    Enabled,
    /// No deliveries are attempted (the endpoint answered 410 Gone). Registering the endpoint
    /// again (`PUT`) enables it.
    Disabled {
        reason: String,
        at: DateTime<Utc>,
    },
}

impl EndpointStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointStatus::Enabled => "ENABLED",
            EndpointStatus::Disabled { .. } => "DISABLED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub account_id: AccountId,
    /// Validated by [`UrlPolicy`](super::url_policy::UrlPolicy) when registered and again
    /// before every delivery.
    pub url: String,
    /// The event types delivered; `None` = all of them.
    pub events: Option<BTreeSet<EventType>>,
    /// Newest first: the current secret, then any rotated-out one still inside its overlap.
    pub secrets: Vec<SealedSecret>,
    pub status: EndpointStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic lock: every write names the version it read and bumps it.
    pub version: u64,
}

impl WebhookEndpoint {
    pub fn wants(&self, event_type: EventType) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.contains(&event_type))
    }

    pub fn is_enabled(&self) -> bool {
        self.status == EndpointStatus::Enabled
    }

    /// The secrets that sign a delivery made at `now`, newest first.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> impl Iterator<Item = &SealedSecret> {
        self.secrets.iter().filter(move |s| s.signs_at(now))
    }

    /// Puts `sealed` first and rotates the current secret out: it keeps signing until
    /// `now + ROTATION_OVERLAP`. Secrets already expired are dropped, and so is any earlier
    /// rotated-out one (two rotations in a day keep the two newest secrets, never more).
    pub fn rotate(&mut self, sealed: String, now: DateTime<Utc>) {
        let previous = self
            .secrets
            .iter()
            .find(|s| s.expires_at.is_none())
            .cloned()
            .map(|s| SealedSecret {
                expires_at: Some(now + ROTATION_OVERLAP),
                ..s
            });
        self.secrets = std::iter::once(SealedSecret {
            sealed,
            created_at: now,
            expires_at: None,
        })
        .chain(previous)
        .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
    }

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint {
            account_id: AccountId::generate(),
            url: "https://example.com/hook".into(),
            events: None,
            secrets: vec![SealedSecret {
                sealed: "s1".into(),
                created_at: at(0),
                expires_at: None,
            }],
            status: EndpointStatus::Enabled,
            created_at: at(0),
            updated_at: at(0),
            version: 1,
        }
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let secret = WebhookSecret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(secret.key().len(), 32);
        assert_eq!(WebhookSecret::parse(secret.expose()), Some(secret.clone()));
        assert_ne!(WebhookSecret::generate(), secret);
        assert!(!format!("{secret:?}").contains(&secret.expose()[6..]));
        assert_eq!(WebhookSecret::parse("whsec_"), None);
        assert_eq!(WebhookSecret::parse("nope"), None);
        assert_eq!(WebhookSecret::parse("whsec_***"), None);
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_a_day_only() {
        let mut e = endpoint();
        e.rotate("s2".into(), at(10));
        let now: Vec<_> = e
            .signing_secrets(at(11))
            .map(|s| s.sealed.as_str())
            .collect();
        assert_eq!(now, ["s2", "s1"]);
        let next_day: Vec<_> = e
            .signing_secrets(at(10) + ROTATION_OVERLAP)
            .map(|s| s.sealed.as_str())
            .collect();
        assert_eq!(next_day, ["s2"]);

        e.rotate("s3".into(), at(12));
        let secrets: Vec<_> = e.secrets.iter().map(|s| s.sealed.as_str()).collect();
        assert_eq!(
            secrets,
            ["s3", "s2"],
            "at most the current and one previous secret"
        );
    }

    #[test]
    fn an_endpoint_filters_event_types() {
        let mut e = endpoint();
        assert!(e.wants(EventType::CashinConfirmed));
        e.events = Some([EventType::PayoutPaid].into_iter().collect());
        assert!(e.wants(EventType::PayoutPaid));
        assert!(!e.wants(EventType::CashinConfirmed));
    }
}
