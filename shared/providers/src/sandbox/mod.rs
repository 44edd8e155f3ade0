//! The sandbox PIX provider: the default for local runs and sandbox deployments.
//!
//! It plays the PSP *and* the PIX network behind it:
//!
//! - **Charges.** It issues real dynamic BR Codes whose location (field 26-25) points at this
//!   gateway's own `GET /pix/loc/{transactionId}`, which serves the charge's payload the way a
//!   PSP's location URL would.
//! - **Payments.** [`SandboxProvider::pay_charge`] plays the payer's bank: it returns the signed
//!   `CASHIN_PAID` webhook a PSP would POST to the gateway, with an end-to-end id issued by the
//!   payer's PSP (so it carries the payer's ISPB). The gateway authenticates it with
//!   [`PixProvider::verify_webhook`] exactly as it would a real PSP's (see [`signature`] for the
//!   Standard Webhooks scheme and [`events`] for the JSON).
//! - **MED infractions.** [`SandboxProvider::open_infraction`] plays the payer's bank opening an
//!   infraction on a charge (the signed `INFRACTION_OPENED` webhook, with a fresh `inf_…` id
//!   and, unless given, a deadline [`DEFAULT_DEFENCE_DAYS`] days on);
//!   [`SandboxProvider::decide_infraction`] plays its decision (`INFRACTION_DECIDED`, `WON` or
//!   `LOST`, a lost one with the devolução's fresh `D…` id). An infraction is decided once:
//!   deciding it again returns the first decision's event, byte for byte (same event id,
//!   outcome, end-to-end id and times; only the signature's timestamp is new), whatever is
//!   asked the second time. See [`events`] for the JSON.
//! - **Cautelar holds** (bloqueio cautelar, MED 2.0). A [`SandboxPayment`] with `hold` plays
//!   the receiving PSP holding a suspicious credit: its `CASHIN_PAID` carries
//!   `data.hold.until`, [`MAX_HOLD_HOURS`] after `paidAt`.
//!   [`SandboxProvider::release_hold`] lifts it (`CASHIN_HOLD_RELEASED`) and
//!   [`SandboxProvider::return_hold`] gives the money back to the payer
//!   (`CASHIN_HOLD_RETURNED`, nature `MED_FRAUDE`, with the devolução's fresh `D…` id). A
//!   transaction's hold ends once: the first release or return stands, and every later call
//!   for that transaction, either of them, returns the first ending's event byte for byte (a
//!   different ask is logged). The sandbox does not check that the payment was held: that is
//!   the gateway's job. See [`events`] for the JSON.
//! - **Transfers and refunds** settle immediately ([`TransferOutcome::Completed`] /
//!   [`RefundOutcome::Completed`]) with end-to-end ids carrying [`SANDBOX_ISPB`] (the sandbox is
//!   the paying PSP), and are idempotent per `idempotency_key` (see [`network`]).
//!
//! # Conventions for tests
//!
//! - **Unknown PIX keys.** The sandbox's DICT knows every key except those containing `reject`
//!   (any case), e.g. the EMAIL key `reject@example.com`: a transfer to one ends
//!   [`TransferOutcome::Failed`] with reason [`REJECTED_KEY_REASON`] (`"PIX key not found in
//!   DICT"`) and moves no money. Bank-account destinations always succeed.
//! - **Outages.** [`SandboxProvider::fail_next_calls`]`(n)` makes the next `n` transfer/refund
//!   calls return [`ProviderError::Unavailable`] without recording anything, so a retry with the
//!   same key is a first call.
//! - **Observation.** [`SandboxProvider::transfers`] lists one entry per distinct idempotency key
//!   that completed or failed; [`SandboxProvider::transfer_calls`] counts every call, repeats and
//!   injected failures included. Same for refunds.
//!
//! All clones share one network (an `Arc<Mutex<..>>`), so a test can keep a handle to the
//! provider it gave the gateway and inspect what the gateway did.
//!
//! The network lives in process memory; the local gateway also keeps it in a file
//! ([`SandboxProvider::with_journal`], see [`journal`]) so that, like a real PSP, it remembers
//! every idempotency key (and every infraction, decision and hold ending) across the
//! gateway's restarts. The
//! local gateway is one process, so its sandbox is exact; on a Lambda sandbox deployment each
//! function instance has its own, so the sandbox's transfer idempotency holds per instance
//! only: a payout executor that crashed between its transfer and storing the outcome could,
//! retried on another instance, "transfer" twice in the sandbox. Likewise an infraction
//! decided (or a hold ended) on one instance and again on another gets two different endings
//! there. A real PSP keeps idempotency keys for every caller, which is
//! what production relies on. No real money moves in the sandbox.

pub mod events;
pub mod journal;
pub mod network;
pub mod signature;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use pixgw_domain::charge::MAX_HOLD_HOURS;
use pixgw_domain::dispute::{DEFAULT_DEFENCE_DAYS, DisputeOutcome, DisputeReason};
use pixgw_domain::error::ProviderError;
use pixgw_domain::pix::brcode::{DynamicBrCode, build_dynamic};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy};
use pixgw_domain::provider::{
    InboundWebhook, ProviderCapabilities, ProviderEvent, ProviderWebhookError, RefundOutcome,
    RefundRequest, TransferOutcome, TransferRequest,
};
use pixgw_domain::provider::{PixProvider, ProviderCharge, ProviderChargeRequest};
use uuid::Uuid;

pub use network::{
    REJECTED_KEY_REASON, SandboxHoldEnding, SandboxHoldOutcome, SandboxInfractionDecision,
    SandboxOpenedInfraction, SandboxRefund, SandboxTransfer,
};
pub use signature::SignedWebhook;

use events::CashInPaid;
use network::{HoldEnd, Network};
use signature::WebhookKey;

/// BR Code field 26-25 allows 77 characters; a location is `{host}/pix/loc/{32-char id}`.
pub const MAX_LOCATION_HOST_LEN: usize = 77 - "/pix/loc/".len() - 32;

/// The sandbox PSP's ISPB. `99999999` is not assigned to any real participant, so a sandbox
/// end-to-end id can never be mistaken for a real one.
pub const SANDBOX_ISPB: &str = "99999999";

/// The sandbox's [`PixProvider::name`]: stored on its charges and disputes (a dispute's id
/// derives from it and the infraction id).
pub const SANDBOX_PROVIDER: &str = "sandbox";

/// The simulated network does everything a real PSP may.
pub const CAPABILITIES: ProviderCapabilities = ProviderCapabilities::ALL;

/// A payment made by the (simulated) payer's bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxPayment {
    pub transaction_id: TransactionId,
    pub amount: Money,
    pub paid_by: PaidBy,
    /// The receiving PSP holds the credit as suspicious (a cautelar hold, MED 2.0): the
    /// webhook carries `data.hold.until`, [`MAX_HOLD_HOURS`] after payment.
    pub hold: bool,
}

/// An infraction (MED) the (simulated) payer's bank opens on a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfraction {
    pub transaction_id: TransactionId,
    pub reason: DisputeReason,
    /// The disputed amount; `None`: all of the charge not yet refunded or disputed. Sent as
    /// given: a non-positive one makes a webhook the gateway refuses as malformed.
    pub amount: Option<Money>,
    /// The defence deadline; `None`: [`DEFAULT_DEFENCE_DAYS`] days after opening. Sent at
    /// millisecond precision.
    pub respond_by: Option<DateTime<Utc>>,
}

/// What [`SandboxProvider::open_infraction`] returns: the new infraction's id (the gateway's
/// dispute id derives from it) and the signed webhook announcing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfractionNotice {
    pub infraction_id: String,
    pub webhook: SignedWebhook,
}

#[derive(Clone)]
pub struct SandboxProvider {
    /// Host (and optional path prefix) serving `/pix/loc/…`, without scheme, e.g.
    /// `127.0.0.1:3000` or `abc123.execute-api.sa-east-1.amazonaws.com`.
    location_host: String,
    clock: Arc<dyn Clock>,
    webhook_key: WebhookKey,
    ispb: Ispb,
    network: Arc<Mutex<Network>>,
}

/// Hand-written so the webhook key never reaches a log.
impl fmt::Debug for SandboxProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxProvider")
            .field("location_host", &self.location_host)
            .field("webhook_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "sandbox location host must be 1..={MAX_LOCATION_HOST_LEN} ASCII characters without a scheme, got {0:?}"
)]
pub struct BadLocationHost(String);

impl SandboxProvider {
    /// `webhook_secret` signs the webhooks [`pay_charge`](Self::pay_charge) produces and is the
    /// key [`PixProvider::verify_webhook`] checks against.
    pub fn new(
        location_host: &str,
        clock: Arc<dyn Clock>,
        webhook_secret: Vec<u8>,
    ) -> Result<SandboxProvider, BadLocationHost> {
        let host = location_host
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let ok = !host.is_empty()
            && host.len() <= MAX_LOCATION_HOST_LEN
            && host.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(BadLocationHost(location_host.to_owned()));
        }
        Ok(SandboxProvider {
            location_host: host.to_owned(),
            clock,
            webhook_key: WebhookKey::new(&webhook_secret),
            ispb: sandbox_ispb(),
            network: Arc::new(Mutex::new(Network::default())),
        })
    }

    /// The same provider with a network kept in `path` (see [`journal`]): what the file holds
    /// is remembered (idempotency keys, infractions, decisions and hold endings included), and
    /// every new transfer or refund is written and synced there before it is answered. New
    /// infractions, decisions and hold endings are written too; failing to write one is logged rather than refused (the
    /// webhook moves no money; only a restart would forget it). Replaces this provider's
    /// network, so call it before handing out clones.
    pub fn with_journal(mut self, path: &std::path::Path) -> std::io::Result<SandboxProvider> {
        self.network = Arc::new(Mutex::new(Network::open(path)?));
        Ok(self)
    }

    /// Network time: the injected clock at millisecond precision, the precision the network's
    /// timestamps (and our stored payments) carry, so an outcome and its webhook agree exactly.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(3)
    }

    fn network(&self) -> MutexGuard<'_, Network> {
        // Every mutation completes before anything can panic, so a poisoned lock still guards
        // consistent state; refusing to serve it would only turn one failed test into many.
        self.network.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the next `n` transfer/refund calls fail with [`ProviderError::Unavailable`]
    /// without recording anything (replaces any previous setting).
    pub fn fail_next_calls(&self, n: usize) {
        self.network().fail_next_calls(n);
    }

    /// One entry per distinct idempotency key that completed or failed, in first-call order.
    pub fn transfers(&self) -> Vec<SandboxTransfer> {
        self.network().transfers()
    }

    /// Every `transfer` call, repeats and injected failures included.
    pub fn transfer_calls(&self) -> usize {
        self.network().transfer_calls()
    }

    /// One entry per distinct refund idempotency key, in first-call order.
    pub fn refunds(&self) -> Vec<SandboxRefund> {
        self.network().refunds()
    }

    /// Every `refund` call, repeats and injected failures included.
    pub fn refund_calls(&self) -> usize {
        self.network().refund_calls()
    }

    /// Plays the payer's bank paying a charge: the signed `CASHIN_PAID` webhook the PSP sends
    /// (held until [`MAX_HOLD_HOURS`] after now when `payment.hold`). Each call is a new
    /// payment (fresh event and end-to-end ids); the gateway must recognise a redelivery by
    /// reusing the returned webhook, not by calling this again.
    pub fn pay_charge(&self, payment: &SandboxPayment) -> SignedWebhook {
        let now = self.now();
        let hold_until = payment.hold.then(|| {
            TimeDelta::try_hours(MAX_HOLD_HOURS)
                .and_then(|hours| now.checked_add_signed(hours))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
                .trunc_subsecs(3)
        });
        let event_id = new_event_id();
        // The payer's PSP initiates the payment, so the id carries the payer's ISPB.
        let end_to_end_id =
            EndToEndId::generate(EndToEndKind::Payment, &payment.paid_by.bank.ispb, now);
        let body = events::cash_in_paid_body(&CashInPaid {
            event_id: &event_id,
            transaction_id: &payment.transaction_id,
            end_to_end_id: &end_to_end_id,
            amount: payment.amount,
            paid_by: &payment.paid_by,
            at: now,
            hold_until,
        });
        self.webhook_key.signed(&event_id, now, body)
    }

    /// Plays the payer's bank opening a MED infraction on a charge: the signed
    /// `INFRACTION_OPENED` webhook the PSP sends, and the infraction's id. Each call is a new
    /// infraction (fresh event and `inf_…` infraction ids, also in
    /// [`infractions`](Self::infractions)); redeliver one with
    /// [`infraction_webhook`](Self::infraction_webhook). The sandbox does not check that the
    /// charge exists or was paid: that is the gateway's job.
    pub fn open_infraction(&self, infraction: &SandboxInfraction) -> SandboxInfractionNotice {
        let now = self.now();
        let default_deadline = TimeDelta::try_days(DEFAULT_DEFENCE_DAYS)
            .and_then(|days| now.checked_add_signed(days))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let opened = SandboxOpenedInfraction {
            event_id: new_event_id(),
            infraction_id: format!("inf_{}", Uuid::new_v4().simple()),
            transaction_id: infraction.transaction_id.clone(),
            reason: infraction.reason,
            amount: infraction.amount,
            respond_by: infraction
                .respond_by
                .map_or(default_deadline, |at| at.trunc_subsecs(3)),
            opened_at: now,
        };
        let body = events::infraction_opened_body(&opened);
        let event_id = opened.event_id.clone();
        let infraction_id = opened.infraction_id.clone();
        self.network().open_infraction(opened);
        SandboxInfractionNotice {
            infraction_id,
            webhook: self.webhook_key.signed(&event_id, now, body),
        }
    }

    /// The `INFRACTION_OPENED` webhook of an infraction this sandbox opened, signed again now
    /// (same body and event id: a redelivery). `None` if it did not open `infraction_id`.
    pub fn infraction_webhook(&self, infraction_id: &str) -> Option<SignedWebhook> {
        let opened = self.network().infraction(infraction_id)?.clone();
        let body = events::infraction_opened_body(&opened);
        Some(self.webhook_key.signed(&opened.event_id, self.now(), body))
    }

    /// Plays the payer's bank deciding an infraction: the signed `INFRACTION_DECIDED` webhook.
    /// `Lost` names the devolução's fresh `D…` end-to-end id (issued by [`SANDBOX_ISPB`], like
    /// a refund's); `Won` none.
    ///
    /// The first call for an `infraction_id` decides it for good: every later call returns the
    /// same body (event id, outcome, end-to-end id, `decidedAt`), signed again now, whatever
    /// `transaction_id` and `outcome` it passes (a different ask is logged). The infraction
    /// need not have been opened by this sandbox (on Lambda another instance may have opened
    /// it), so `transaction_id` is taken from the caller.
    pub fn decide_infraction(
        &self,
        infraction_id: &str,
        transaction_id: &TransactionId,
        outcome: DisputeOutcome,
    ) -> SignedWebhook {
        let now = self.now();
        let decision = self.network().decide_infraction(
            infraction_id,
            transaction_id,
            outcome,
            &self.ispb,
            now,
        );
        let body = events::infraction_decided_body(&decision);
        self.webhook_key.signed(&decision.event_id, now, body)
    }

    /// Plays the receiving PSP lifting a payment's cautelar hold: the signed
    /// `CASHIN_HOLD_RELEASED` webhook. The first release or return of `transaction_id` ends
    /// its hold for good: every later call of either returns that first ending's body (event
    /// id, type, times, devolução id), signed again now (a different ask is logged).
    pub fn release_hold(&self, transaction_id: &TransactionId) -> SignedWebhook {
        self.end_hold(transaction_id, HoldEnd::Release)
    }

    /// Plays the receiving PSP giving a held payment back to the payer: the signed
    /// `CASHIN_HOLD_RETURNED` webhook, nature `MED_FRAUDE`, naming the devolução's fresh `D…`
    /// end-to-end id (issued by [`SANDBOX_ISPB`], like a refund's). Ends the hold once, like
    /// [`release_hold`](Self::release_hold).
    pub fn return_hold(&self, transaction_id: &TransactionId) -> SignedWebhook {
        self.end_hold(transaction_id, HoldEnd::Return)
    }

    fn end_hold(&self, transaction_id: &TransactionId, asked: HoldEnd) -> SignedWebhook {
        let now = self.now();
        let ending = self
            .network()
            .end_hold(transaction_id, asked, &self.ispb, now);
        let body = events::hold_ended_body(&ending);
        self.webhook_key.signed(&ending.event_id, now, body)
    }

    /// How every hold this sandbox ended ended, in order (one per transaction id).
    pub fn hold_endings(&self) -> Vec<SandboxHoldEnding> {
        self.network().hold_endings()
    }

    /// Every infraction this sandbox opened, in opening order.
    pub fn infractions(&self) -> Vec<SandboxOpenedInfraction> {
        self.network().infractions()
    }

    /// Every infraction decision, in decision order (one per infraction id).
    pub fn infraction_decisions(&self) -> Vec<SandboxInfractionDecision> {
        self.network().infraction_decisions()
    }

    /// The signed `TRANSFER_COMPLETED` / `TRANSFER_FAILED` webhook for a recorded transfer
    /// (the sandbox answers transfers synchronously, but the gateway also accepts the
    /// asynchronous notice a real PSP sends). `None` if no transfer has this key.
    pub fn transfer_webhook(&self, idempotency_key: &str) -> Option<SignedWebhook> {
        let outcome = self.network().transfer(idempotency_key)?.outcome.clone();
        let now = self.now();
        let event_id = new_event_id();
        let body = events::transfer_body(&event_id, idempotency_key, &outcome, now)?;
        Some(self.webhook_key.signed(&event_id, now, body))
    }

    /// Signs an arbitrary body as the sandbox network would, stamped now. For tests of the
    /// gateway's handling of unusual events.
    pub fn sign_webhook(&self, webhook_id: &str, body: Vec<u8>) -> SignedWebhook {
        self.webhook_key.signed(webhook_id, self.now(), body)
    }
}

/// [`SANDBOX_ISPB`] as an [`Ispb`].
pub fn sandbox_ispb() -> Ispb {
    // A compile-time constant of 8 digits (a unit test parses it), not input data: this
    // cannot fail.
    #[allow(clippy::expect_used)]
    Ispb::parse(SANDBOX_ISPB).expect("SANDBOX_ISPB is 8 digits")
}

fn new_event_id() -> String {
    format!("evt_{}", Uuid::new_v4().simple())
}

impl SandboxProvider {
    /// [`PixProvider::verify_webhook`] without the future: the sandbox signs its webhooks,
    /// so checking one needs no I/O.
    pub fn verify_signed(
        &self,
        webhook: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        // Nothing in the body is looked at before the signature holds.
        self.webhook_key.verify(webhook)?;
        events::parse(webhook.body)
    }
}

#[async_trait]
impl PixProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        SANDBOX_PROVIDER
    }

    fn capabilities(&self) -> ProviderCapabilities {
        CAPABILITIES
    }

    async fn create_charge(
        &self,
        request: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        let location = format!("{}/pix/loc/{}", self.location_host, request.transaction_id);
        let pix_code = build_dynamic(&DynamicBrCode {
            location: &location,
            merchant_name: &request.merchant_name,
            merchant_city: &request.merchant_city,
        })
        .map_err(|e| ProviderError::rejected(format!("BR Code: {e}")))?;
        Ok(ProviderCharge {
            provider_charge_id: format!("sbx_{}", request.transaction_id),
            pix_code,
        })
    }

    async fn transfer(&self, request: &TransferRequest) -> Result<TransferOutcome, ProviderError> {
        let now = self.now();
        self.network().execute_transfer(request, &self.ispb, now)
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        let now = self.now();
        self.network().execute_refund(request, &self.ispb, now)
    }

    async fn verify_webhook(
        &self,
        webhook: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        self.verify_signed(webhook)
    }
}
