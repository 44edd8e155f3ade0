//! API models: what the JSON API shows, separate from the domain types it is built from.
//! The charge and payout resources are in the `view` module of each aggregate in `pixgw_domain` (events carry them).

use chrono::{DateTime, Utc};
use pixgw_domain::flows::run_payout_windows::RunReport;
use pixgw_domain::ledger::Balance;
use pixgw_domain::payout::{Payout, SplitRef};
use pixgw_domain::pix::document::{DocumentKind, TaxDocument};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pii::Pii;
use pixgw_domain::recipient::{DebtPart, Recipient};
use pixgw_domain::refund::RefundLiability;
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::split::entry::SplitEntry;
use pixgw_domain::webhooks::{
    Delivery, DeliveryAttempt, DeliveryStatus, EndpointStatus, WebhookEndpoint, WebhookSecret,
};
use serde::Serialize;

pub use pixgw_domain::charge::view::{BankDataView, ChargeView, PaidByView, PayerView, SplitView};
pub use pixgw_domain::payout::view::{PayoutRecipientView, PayoutView};
pub use pixgw_domain::pix::clock::timestamp;

/// A page of a listing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `GET /api/account/balance`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    /// Confirmed charges whose splits are not booked yet: the money has arrived but is not
    /// divided into `available` and `reservedForSplits` yet (normally for moments). Shown so
    /// that a paid charge is never invisible in the balance.
    pub incoming: Money,
    /// The merchant's own money.
    pub available: Money,
    /// Owed to split recipients until their payouts are paid.
    pub reserved_for_splits: Money,
    /// What split recipients owe the account: their parts of PROPORTIONAL refunds of splits
    /// already paid, which the account fronted and their next payouts pay back.
    pub recipient_debts: Money,
    /// Set aside while the PIX network may claim it back (an open MED dispute, a confirmation
    /// under cautelar hold); 0.00 when none.
    pub held: Money,
    /// What the account owes and could not cover (a dispute larger than `available`); its
    /// next credits pay it first. 0.00 when none.
    pub owed: Money,
    pub currency: &'static str,
}

impl BalanceView {
    pub fn new(balance: &Balance) -> BalanceView {
        BalanceView {
            incoming: balance.incoming,
            available: balance.available,
            reserved_for_splits: balance.reserved_for_splits,
            recipient_debts: balance.recipient_debts,
            held: balance.held,
            // The ledger keeps what is owed as a negative bucket.
            owed: Money::from_cents(-balance.owed.cents()),
            currency: "BRL",
        }
    }
}

/// `GET/PUT /api/account/payout-schedule`: `{frequency, time, weekday?, dayOfMonth?,
/// nextRunAt}` (`weekday` only for WEEKLY, `dayOfMonth` only for MONTHLY).
pub fn schedule_view(state: &ScheduleState) -> serde_json::Value {
    let mut view = state.schedule.view();
    if let serde_json::Value::Object(fields) = &mut view {
        fields.insert(
            "nextRunAt".to_owned(),
            serde_json::Value::from(timestamp(state.next_run_at)),
        );
    }
    view
}

/// `GET/PUT /api/account/refund-policy`: who bears a refund that does not say.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPolicyView {
    /// `MERCHANT` or `PROPORTIONAL`.
    pub liability: &'static str,
}

impl RefundPolicyView {
    pub fn new(liability: RefundLiability) -> RefundPolicyView {
        RefundPolicyView {
            liability: liability.as_str(),
        }
    }
}

/// `GET /api/payouts/{payoutId}`: the payout and one page (≤ 100) of its manifest.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutDetailView {
    #[serde(flatten)]
    pub payout: PayoutView,
    pub splits: Vec<ManifestSplitView>,
    /// Pass as `splitsCursor` for the next page of `splits`; `null` on the last one.
    pub next_splits_cursor: Option<String>,
}

/// One split a payout pays: which charge, how much, and where that split's money is now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSplitView {
    pub transaction_id: String,
    /// Position in the charge's `splits` (0-based).
    pub index: u8,
    pub amount: Money,
    /// The split's current state (see `SplitStatus`).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    /// Failed payout windows of this split so far.
    pub attempts: u8,
    /// The payout the split is in now, when that is another one: the split of a FAILED
    /// payout goes back to SCHEDULED and may have been paid by a later payout since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payout_id: Option<String>,
}

impl ManifestSplitView {
    pub fn new(payout: &Payout, key: &SplitRef, entry: &SplitEntry) -> ManifestSplitView {
        let moved = entry.payout_id.as_ref().filter(|id| **id != payout.id);
        ManifestSplitView {
            transaction_id: key.transaction_id.to_string(),
            index: key.index,
            amount: entry.payable(),
            status: entry.state.as_str(),
            end_to_end_id: entry.end_to_end_id.as_ref().map(ToString::to_string),
            attempts: entry.attempts,
            payout_id: moved.map(ToString::to_string),
        }
    }
}

/// A split recipient of the account (`GET /api/recipients[/{recipientId}]`): its PIX key, name,
/// masked document, and its running totals.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientView {
    pub recipient_id: String,
    pub pix_key_type: &'static str,
    pub pix_key: Pii,
    pub name: Pii,
    /// Masked ([`masked_document`]): a listing of recipients is a list of people's CPFs.
    pub document: String,
    /// Booked, not paid yet.
    pub scheduled: Money,
    /// Transferred to it by PIX.
    pub paid: Money,
    /// All it owes the account: its open debt parts plus what payouts in flight are recovering.
    pub debt: Money,
    /// The part of `debt` that payouts in flight have deducted and not settled yet.
    pub recovering: Money,
    /// The debt parts not taken by a payout yet, oldest first (Σ = `debt` − `recovering`).
    /// Only on `GET /api/recipients/{recipientId}`: a listing stays one line per recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_debts: Option<Vec<DebtPartView>>,
}

/// One open part of a recipient's debt: what refund `refundId` of charge `transactionId` left
/// it owing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DebtPartView {
    pub refund_id: String,
    pub transaction_id: String,
    pub amount: Money,
}

impl RecipientView {
    /// The recipient as listed (no `openDebts`).
    pub fn summary(recipient: &Recipient) -> RecipientView {
        let r = &recipient.recipient;
        RecipientView {
            recipient_id: recipient.id.to_string(),
            pix_key_type: r.pix_key_type.as_str(),
            pix_key: r.pix_key.clone(),
            name: r.name.clone(),
            document: masked_document(&r.document),
            scheduled: recipient.scheduled,
            paid: recipient.paid,
            debt: Money::from_cents(recipient.debt.cents() + recipient.recovering.cents()),
            recovering: recipient.recovering,
            open_debts: None,
        }
    }

    /// The recipient with its open debt parts.
    pub fn detail(recipient: &Recipient) -> RecipientView {
        RecipientView {
            open_debts: Some(recipient.open_debts.iter().map(DebtPartView::new).collect()),
            ..RecipientView::summary(recipient)
        }
    }
}

impl DebtPartView {
    fn new(part: &DebtPart) -> DebtPartView {
        DebtPartView {
            refund_id: part.refund_id.to_string(),
            transaction_id: part.transaction_id.to_string(),
            amount: part.amount,
        }
    }
}

/// A document as the recipients API shows it, enough for the merchant to recognise it, never
/// the whole number: a CPF keeps its six middle digits (`***.456.789-**`, the mask Brazilian
/// government portals use); a CNPJ keeps its root — the company, public in the Receita
/// Federal's register — and hides the branch and check digits (`11.222.333/****-**`).
pub fn masked_document(document: &TaxDocument) -> String {
    // Validated ASCII on construction, so byte ranges are on char boundaries; `get` keeps this
    // panic-free regardless.
    let n = document.as_str();
    match document.kind() {
        DocumentKind::Cpf => match (n.get(3..6), n.get(6..9)) {
            (Some(a), Some(b)) => format!("***.{a}.{b}-**"),
            _ => "***.***.***-**".to_owned(),
        },
        DocumentKind::Cnpj => match (n.get(0..2), n.get(2..5), n.get(5..8)) {
            (Some(a), Some(b), Some(c)) => format!("{a}.{b}.{c}/****-**"),
            _ => "**.***.***/****-**".to_owned(),
        },
    }
}

/// `POST /api/sandbox/payouts/run`: what the run did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayoutRunView {
    /// Accounts whose window the run finished (0 or 1: the caller's).
    pub accounts: usize,
    /// Payouts released to the executor (one per recipient).
    pub payouts: usize,
    /// Splits attached to them.
    pub splits: usize,
    /// Σ of those splits.
    pub amount: Money,
}

impl PayoutRunView {
    pub fn new(report: &RunReport) -> PayoutRunView {
        PayoutRunView {
            accounts: report.accounts,
            payouts: report.payouts,
            splits: report.splits,
            amount: report.amount,
        }
    }
}

/// `POST /api/sandbox/clock/advance`: the sandbox time after the move.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxClockView {
    pub now: String,
}

/// `GET/PUT /api/account/webhook` and `POST /api/account/webhook/rotate-secret`: the account's
/// webhook endpoint. The signing secret appears only in the response of the call that made it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointView {
    pub url: String,
    /// The event types delivered; `null` = every type.
    pub events: Option<Vec<&'static str>>,
    /// `ENABLED` or `DISABLED`.
    pub status: &'static str,
    /// Why deliveries stopped (e.g. the endpoint answered 410 Gone), when `DISABLED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// While a rotated-out secret still signs (next to the current one): when the current
    /// secret replaced it, and when it stops signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_rotated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// `whsec_…`: shown once, by the call that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookEndpointView {
    /// `secret` is the one this call created (if any); `now` decides whether a rotated-out
    /// secret still signs.
    pub fn new(
        endpoint: &WebhookEndpoint,
        secret: Option<&WebhookSecret>,
        now: DateTime<Utc>,
    ) -> WebhookEndpointView {
        let current = endpoint.secrets.iter().find(|s| s.expires_at.is_none());
        let previous_expiry = endpoint
            .secrets
            .iter()
            .filter_map(|s| s.expires_at)
            .find(|expiry| now < *expiry);
        let (disabled_reason, disabled_at) = match &endpoint.status {
            EndpointStatus::Enabled => (None, None),
            EndpointStatus::Disabled { reason, at } => (Some(reason.clone()), Some(timestamp(*at))),
        };
        WebhookEndpointView {
            url: endpoint.url.clone(),
            events: endpoint
                .events
                .as_ref()
                .map(|events| events.iter().map(|e| e.as_str()).collect()),
            status: endpoint.status.as_str(),
            disabled_reason,
            disabled_at,
            created_at: timestamp(endpoint.created_at),
            updated_at: timestamp(endpoint.updated_at),
            secret_rotated_at: previous_expiry
                .and(current)
                .map(|s| timestamp(s.created_at)),
            previous_secret_expires_at: previous_expiry.map(timestamp),
            secret: secret.map(|s| s.expose().to_owned()),
        }
    }
}

/// One entry of `GET /api/webhooks/deliveries` (and `POST .../redeliver`): an event sent to
/// the endpoint, with its attempts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    /// Also the `webhook-id` header of every attempt.
    pub event_id: String,
    pub event_type: &'static str,
    /// `PENDING`, `DELIVERED` or `FAILED`.
    pub status: &'static str,
    /// The newest attempts (at most 50), oldest first.
    pub attempts: Vec<DeliveryAttemptView>,
    /// Every attempt made, all rounds (may exceed `attempts.len()`).
    pub attempt_count: u32,
    /// When the next attempt is due; `null` unless `PENDING`.
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptView {
    pub number: u32,
    /// 0 for the automatic deliveries, +1 per manual redelivery.
    pub round: u32,
    pub at: String,
    /// `null` when no response came (timeout, connection refused, URL refused).
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it did not succeed; `null` when it did.
    pub error: Option<String>,
}

impl DeliveryView {
    pub fn new(delivery: &Delivery) -> DeliveryView {
        DeliveryView {
            id: delivery.id.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.as_str(),
            status: delivery.status.as_str(),
            attempts: delivery
                .attempts
                .iter()
                .map(DeliveryAttemptView::new)
                .collect(),
            attempt_count: delivery.attempt_count,
            // Only a PENDING delivery has a next attempt, whatever an old record still holds.
            next_attempt_at: delivery
                .next_attempt_at
                .filter(|_| delivery.status == DeliveryStatus::Pending)
                .map(timestamp),
            created_at: timestamp(delivery.created_at),
            updated_at: timestamp(delivery.updated_at),
        }
    }
}

impl DeliveryAttemptView {
    fn new(attempt: &DeliveryAttempt) -> DeliveryAttemptView {
        DeliveryAttemptView {
            number: attempt.number,
            round: attempt.round,
            at: timestamp(attempt.at),
            status_code: attempt.status_code,
            latency_ms: attempt.latency_ms,
            error: attempt.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixgw_domain::payout::PayoutRecipient;
    use pixgw_domain::pix::ids::{AccountId, RecipientId, RefundId, TransactionId};
    use pixgw_domain::pix::pix_key::PixKeyType;

    fn document(number: &str) -> TaxDocument {
        TaxDocument::parse(number).expect("valid document")
    }

    #[test]
    fn documents_are_masked_cpf_by_its_middle_cnpj_by_its_root() {
        assert_eq!(masked_document(&document("12345678909")), "***.456.789-**");
        assert_eq!(
            masked_document(&document("11222333000181")),
            "11.222.333/****-**"
        );
        assert_eq!(
            masked_document(&document("12ABC34501DE35")),
            "12.ABC.345/****-**"
        );
        for number in ["12345678909", "11222333000181", "12ABC34501DE35"] {
            let masked = masked_document(&document(number));
            let digits: String = masked.chars().filter(char::is_ascii_alphanumeric).collect();
            assert!(digits.len() <= 8, "{masked} shows too much");
        }
    }

    /// Owes 80.00 from one refund, of which 30.00 a payout in flight is recovering.
    fn owing_recipient() -> Recipient {
        let account = AccountId::generate();
        let recipient = PayoutRecipient {
            pix_key: "a1b2c3d4-e5f6-4890-abcd-ef1234567890".into(),
            pix_key_type: PixKeyType::Random,
            name: "Consultor Freelancer".into(),
            document: document("12345678909"),
        };
        let part = DebtPart {
            refund_id: RefundId::generate(),
            transaction_id: TransactionId::generate(),
            amount: Money::from_cents(5_000),
        };
        Recipient {
            id: RecipientId::derive(&account, recipient.grouping_key()),
            account_id: account,
            recipient,
            debt: part.amount,
            open_debts: vec![part],
            recovering: Money::from_cents(3_000),
            version: 2,
            scheduled: Money::from_cents(14_000),
            paid: Money::from_cents(28_000),
        }
    }

    #[test]
    fn a_recipient_shows_all_it_owes_and_its_open_parts_only_in_detail() {
        let r = owing_recipient();
        let part = &r.open_debts[0];
        let detail = serde_json::to_value(RecipientView::detail(&r)).expect("json");
        // Parsed from text: money is written with exactly two decimals (`140.00`).
        let expected: serde_json::Value = serde_json::from_str(&format!(
            r#"{{"recipientId": "{id}", "pixKeyType": "RANDOM",
                "pixKey": "a1b2c3d4-e5f6-4890-abcd-ef1234567890", "name": "Consultor Freelancer",
                "document": "***.456.789-**", "scheduled": 140.00, "paid": 280.00,
                "debt": 80.00, "recovering": 30.00,
                "openDebts": [{{"refundId": "{refund}", "transactionId": "{charge}", "amount": 50.00}}]}}"#,
            id = r.id,
            refund = part.refund_id,
            charge = part.transaction_id,
        ))
        .expect("json");
        assert_eq!(detail, expected);
        assert_eq!(detail["debt"].to_string(), "80.00");
        let mut summary = detail;
        summary.as_object_mut().expect("object").remove("openDebts");
        assert_eq!(
            serde_json::to_value(RecipientView::summary(&r)).expect("json"),
            summary
        );
    }
}
