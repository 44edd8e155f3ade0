//! The money lifecycle (refunds, cash-outs, expiry, statement) driven through the domain
//! services of a [`Gateway`], on any backend, plus the books every scenario must leave behind:
//! [`Shop::assert_books`] checks the whole-ledger invariants (Σ legs = 0, balances = Σ legs,
//! nothing overdrawn, splits + remainder = amount, no split both paid and cancelled, refunds
//! and cash-outs matching their movements) and [`Shop::assert_network_agrees`] compares the
//! gateway's records with what the sandbox PIX network actually moved.
//!
//! Charges are created through `POST /api/pix/cash-in` (a stable route) and paid by a signed
//! sandbox provider webhook; refunds, cash-outs, the scheduler and the sweeper are called on
//! the state's services directly, so these tests do not depend on the money-out routes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use http::Method;
use pixgw_api::accounts::NewAccountCredentials;
use pixgw_api::{ApiRequest, ApiResponse, AppState};
use pixgw_domain::cash_out::{
    BankAccountType, CashOut, CashOutDestination, CashOutId, CashOutState,
};
use pixgw_domain::charge::Charge;
use pixgw_domain::dispute::DisputeState;
use pixgw_domain::error::{DomainError, ProviderError};
use pixgw_domain::flows::cash_out::CashOutInput;
use pixgw_domain::flows::refund::RefundInput;
use pixgw_domain::flows::run_payout_windows::RunReport;
use pixgw_domain::flows::statement::entries_of;
use pixgw_domain::flows::statement::{StatementEntry, StatementQuery, statement_page};
use pixgw_domain::idempotency::StoredResponse;
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::messaging::relay::relay_outbox;
use pixgw_domain::payout::PayoutState;
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, RefundId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::provider::{
    InboundWebhook, ProviderEvent, ProviderWebhookError, RefundOutcome, RefundRequest,
    TransferOutcome, TransferRequest,
};
use pixgw_domain::provider::{
    PixProvider, ProviderCapabilities, ProviderCharge, ProviderChargeRequest,
};
use pixgw_domain::refund::liability::SplitPartKind;
use pixgw_domain::refund::{RefundLiability, RefundState};
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_providers::sandbox::{SandboxPayment, SignedWebhook};
use serde_json::{Value, json};

use crate::harness::{Backend, Gateway, test_keys};

mod disputes;
mod refund_books;

// ---------------------------------------------------------------------------------------------
// Request bodies

/// A money value for a JSON body, written with exactly two decimals.
pub fn money_json(cents: i64) -> Value {
    let number: serde_json::Number = format!("{}.{:02}", cents / 100, cents % 100)
        .parse()
        .expect("a number");
    Value::Number(number)
}

/// One split of a [`charge_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitSpec {
    /// FIXED cents, or PERCENTAGE in hundredths of a percent (`1250` = 12.5 %).
    pub fixed: bool,
    pub value: i64,
    pub immediate: bool,
    /// The recipient's key: a key containing `reject` is unknown to the sandbox DICT.
    pub pix_key: String,
}

/// `POST /api/pix/cash-in` body: `cents` with these splits, expiring after `expiration`
/// seconds.
pub fn charge_body(external_id: &str, cents: i64, splits: &[SplitSpec], expiration: u32) -> Value {
    let splits: Vec<Value> = splits
        .iter()
        .map(|s| {
            json!({
                "pixKey": s.pix_key, "pixKeyType": "EMAIL", "name": "Recebedor",
                "document": "12345678909",
                "type": if s.fixed { "FIXED" } else { "PERCENTAGE" },
                "value": money_json(s.value), "immediate": s.immediate,
            })
        })
        .collect();
    json!({
        "transaction": {"value": money_json(cents), "description": "Pedido", "externalId": external_id, "expirationTime": expiration},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": splits,
    })
}

/// A charge without splits (what funds `available` in the scenarios).
pub fn plain_charge(external_id: &str, cents: i64) -> Value {
    charge_body(external_id, cents, &[], 86_400)
}

pub fn to_pix_key(key: &str) -> CashOutDestination {
    CashOutDestination::PixKey {
        key: key.into(),
        key_type: PixKeyType::Email,
    }
}

pub fn to_bank_account() -> CashOutDestination {
    CashOutDestination::BankAccount {
        ispb: Ispb::parse("60746948").expect("ispb"),
        branch: "1234".into(),
        account: "5678901".into(),
        account_type: BankAccountType::Checking,
        document: TaxDocument::parse("12345678909").expect("cpf"),
        name: "João Pereira".into(),
    }
}

/// The provider webhook request carrying `webhook`, as a PSP would POST it.
pub fn webhook_request(webhook: &SignedWebhook) -> ApiRequest {
    let mut request = ApiRequest::new(Method::POST, "/webhooks/provider/sandbox");
    for (k, v) in &webhook.headers {
        request.headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            http::HeaderValue::from_str(v).expect("header value"),
        );
    }
    request.body = webhook.body.clone().into();
    request
}

// ---------------------------------------------------------------------------------------------
// The gateway's provider, altered

/// What an [`Altered`] provider does with a money-out call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// What the wrapped provider answers.
    AsIs,
    /// Refused outright (a `Rejected` answer, as a PSP gives for a devolution the payer's bank
    /// declines): [`REFUSED_REFUND_REASON`].
    Refuse,
    /// Accepted and left pending: its outcome comes later, by webhook.
    Hold,
}

/// The gateway's provider (the sandbox's network stays the one the test observes), except for
/// what it answers refunds and transfers, and — `full_refunds_only` — that it declares
/// ConnectPSP's capabilities (seed 001's refund takes no amount).
pub struct Altered {
    pub inner: Arc<dyn PixProvider>,
    pub refunds: Answer,
    pub transfers: Answer,
    pub full_refunds_only: bool,
}

pub const REFUSED_REFUND_REASON: &str = "devolution refused by the payer's bank";

impl Altered {
    pub fn new(inner: Arc<dyn PixProvider>) -> Altered {
        Altered {
            inner,
            refunds: Answer::AsIs,
            transfers: Answer::AsIs,
            full_refunds_only: false,
        }
    }

    /// Every refund refused outright.
    pub fn refusing_refunds(inner: Arc<dyn PixProvider>) -> Arc<dyn PixProvider> {
        Arc::new(Altered {
            refunds: Answer::Refuse,
            ..Altered::new(inner)
        })
    }
}

#[async_trait]
impl PixProvider for Altered {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> ProviderCapabilities {
        if self.full_refunds_only {
            ProviderCapabilities::FULL_REFUNDS_ONLY
        } else {
            self.inner.capabilities()
        }
    }

    async fn create_charge(
        &self,
        request: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        self.inner.create_charge(request).await
    }

    async fn transfer(&self, request: &TransferRequest) -> Result<TransferOutcome, ProviderError> {
        match self.transfers {
            Answer::AsIs => self.inner.transfer(request).await,
            Answer::Refuse => Err(ProviderError::rejected("transfer refused".to_owned())),
            Answer::Hold => Ok(TransferOutcome::Pending {
                provider_transfer_id: format!("held-{}", request.idempotency_key),
            }),
        }
    }

    async fn refund(&self, request: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        match self.refunds {
            Answer::AsIs => self.inner.refund(request).await,
            Answer::Refuse => Err(ProviderError::rejected(REFUSED_REFUND_REASON.to_owned())),
            Answer::Hold => {
                let ispb = Ispb::parse("12345678").ok_or_else(|| {
                    ProviderError::rejected("the test ISPB does not parse".to_owned())
                })?;
                Ok(RefundOutcome::Pending {
                    provider_refund_id: format!("held-{}", request.idempotency_key),
                    end_to_end_id: EndToEndId::generate(
                        EndToEndKind::Devolution,
                        &ispb,
                        Utc::now(),
                    ),
                })
            }
        }
    }

    async fn verify_webhook(
        &self,
        webhook: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        self.inner.verify_webhook(webhook).await
    }
}

// ---------------------------------------------------------------------------------------------
// The shop: one merchant account on its own gateway

/// Everything of one account that must not change when an operation is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub charges: Vec<Charge>,
    pub splits: Vec<Vec<SplitEntry>>,
    pub balance: Balance,
    pub movements: Vec<Movement>,
    pub cash_outs: Vec<CashOut>,
    pub events: Vec<String>,
}

/// One merchant account on its own gateway; remembers every charge and cash-out it made, so
/// the books can be checked against all of them.
pub struct Shop {
    pub gw: Gateway,
    pub account: AccountId,
    pub credentials: NewAccountCredentials,
    token: Mutex<Option<(String, DateTime<Utc>)>>,
    charges: Mutex<Vec<TransactionId>>,
    cash_outs: Mutex<Vec<CashOutId>>,
}

impl Shop {
    pub async fn open(backend: Backend) -> Shop {
        Shop::on(Gateway::start(backend).await).await
    }

    pub async fn on(gw: Gateway) -> Shop {
        let credentials = gw.new_account("Loja Ciclo do Dinheiro").await;
        let account = AccountId::parse(&credentials.account_id).expect("account id");
        Shop {
            gw,
            account,
            credentials,
            token: Mutex::new(None),
            charges: Mutex::new(Vec::new()),
            cash_outs: Mutex::new(Vec::new()),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.gw.clock_now()
    }

    pub fn advance(&self, by: Duration) {
        self.gw.clock.advance(by);
    }

    /// Moves the clock to exactly `at` (forward only).
    pub fn set_clock(&self, at: DateTime<Utc>) {
        let by = at - self.now();
        assert!(by >= Duration::zero(), "the clock only moves forward");
        self.gw.clock.advance(by);
    }

    /// A bearer token, renewed before it expires on the test clock.
    pub async fn token(&self) -> String {
        let now = self.now();
        let cached = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some((token, at)) = cached
            && now - at < Duration::minutes(30)
        {
            return token;
        }
        let token = self.gw.token_for(&self.credentials).await;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some((token.clone(), now));
        token
    }

    pub fn charge_ids(&self) -> Vec<TransactionId> {
        self.charges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn cash_out_ids(&self) -> Vec<CashOutId> {
        self.cash_outs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the gateway's provider (the sandbox's network stays the one the test
    /// observes); returns the state as it was, to put back.
    pub fn swap_provider(&mut self, provider: Arc<dyn PixProvider>) -> AppState {
        let old = self.gw.state.clone();
        self.gw.state = AppState::new(
            old.store.clone(),
            provider,
            old.clock.clone(),
            test_keys(),
            old.sandbox.clone(),
        );
        old
    }

    /// Runs the gateway on `providers` (e.g. the real adapters on mock PSPs, built on the
    /// gateway's clock); returns the state as it was.
    pub fn swap_providers(
        &mut self,
        providers: Arc<pixgw_domain::provider::directory::ProviderDirectory>,
    ) -> AppState {
        let old = self.gw.state.clone();
        self.gw.state = AppState::with_providers(
            old.store.clone(),
            providers,
            old.clock.clone(),
            test_keys(),
            old.sandbox.clone(),
        );
        old
    }

    // --- charges ----------------------------------------------------------------------------

    pub async fn create(&self, body: &Value) -> TransactionId {
        let token = self.token().await;
        let response = self.gw.post("/api/pix/cash-in", &token, body, None).await;
        assert_eq!(response.status, 201, "{body}: {:?}", response.body_json());
        let id = TransactionId::parse(
            response.body_json()["transactionId"]
                .as_str()
                .expect("transactionId"),
        )
        .expect("transaction id");
        self.charges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id.clone());
        id
    }

    /// The signed CASHIN_PAID the sandbox PIX network sends for a payment of `charge` now.
    pub fn payment_webhook(&self, charge: &Charge) -> SignedWebhook {
        self.payment_webhook_with(charge, false)
    }

    /// The same, `held` under a cautelar hold.
    pub fn payment_webhook_with(&self, charge: &Charge, held: bool) -> SignedWebhook {
        self.gw.sandbox.pay_charge(&SandboxPayment {
            hold: held,
            transaction_id: charge.transaction_id.clone(),
            amount: charge.amount,
            paid_by: PaidBy {
                name: "João Pereira".into(),
                document: "12345678909".into(),
                bank: PayerBankData::new(Ispb::parse("00000000").expect("ispb"), "0001", "123456")
                    .expect("bank data"),
            },
        })
    }

    pub async fn deliver(&self, webhook: &SignedWebhook) -> ApiResponse {
        self.gw.call(webhook_request(webhook)).await
    }

    /// The payer's bank pays the charge (the provider webhook is accepted); nothing drained.
    pub async fn pay(&self, id: &TransactionId) {
        let charge = self.charge(id).await;
        let response = self.deliver(&self.payment_webhook(&charge)).await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
        assert_eq!(response.body_json()["outcome"], "CONFIRMED");
    }

    /// Created, paid, and the pipeline run (splits booked, immediate ones paid out).
    pub async fn paid(&self, body: &Value) -> TransactionId {
        let id = self.create(body).await;
        self.pay(&id).await;
        self.gw.run_pipeline().await;
        id
    }

    pub async fn charge(&self, id: &TransactionId) -> Charge {
        self.gw
            .state
            .store
            .get_charge(id)
            .await
            .expect("get charge")
            .expect("charge exists")
    }

    /// `GET /api/pix/cash-in/{id}`.
    pub async fn charge_view(&self, id: &TransactionId) -> Value {
        let token = self.token().await;
        let response = self.gw.get(&format!("/api/pix/cash-in/{id}"), &token).await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
        response.body_json()
    }

    pub async fn splits(&self, id: &TransactionId) -> Vec<SplitEntry> {
        let mut splits = self
            .gw
            .state
            .store
            .get_splits(id)
            .await
            .expect("get splits");
        splits.sort_by_key(|s| s.index);
        splits
    }

    // --- money out ---------------------------------------------------------------------------

    /// Refunds all that is left of the charge, under the account's refund policy.
    pub async fn refund(&self, id: &TransactionId) -> Result<Charge, DomainError> {
        self.refund_part(id, None, None).await.map(|(c, _)| c)
    }

    /// Refunds `cents` of the charge (`None`: all that is left) under `liability` (`None`:
    /// the account's refund policy); the charge afterwards and the refund's id.
    pub async fn refund_part(
        &self,
        id: &TransactionId,
        cents: Option<i64>,
        liability: Option<RefundLiability>,
    ) -> Result<(Charge, RefundId), DomainError> {
        self.gw
            .state
            .refunds
            .request(
                &self.account,
                id,
                RefundInput {
                    reason: "CUSTOMER_REQUEST".into(),
                    description: "Cliente desistiu da compra".into(),
                    amount: cents.map(Money::from_cents),
                    liability,
                },
                None,
            )
            .await
    }

    pub async fn cash_out(
        &self,
        external_id: &str,
        amount: Money,
        destination: CashOutDestination,
    ) -> Result<CashOut, DomainError> {
        let render = |c: &CashOut| StoredResponse {
            status: 202,
            body: c.id.to_string(),
        };
        let result = self
            .gw
            .state
            .cash_outs
            .request(
                &self.account,
                CashOutInput {
                    external_id: external_id.to_owned(),
                    amount,
                    description: "Saque para conta própria".into(),
                    destination,
                },
                None,
                &render,
            )
            .await;
        if let Ok(c) = &result {
            self.cash_outs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(c.id.clone());
        }
        result
    }

    pub async fn get_cash_out(&self, id: &CashOutId) -> CashOut {
        self.gw
            .state
            .store
            .get_cash_out(id)
            .await
            .expect("get cash-out")
            .expect("cash-out exists")
    }

    /// Runs the account's payout window now (a minute after the last thing happened).
    pub async fn run_scheduler(&self) -> RunReport {
        self.advance(Duration::minutes(1));
        self.gw
            .state
            .payout_scheduler
            .run_account_now(&self.account)
            .await
            .expect("payout scheduler")
    }

    pub async fn drain(&self) {
        self.gw.run_pipeline().await;
    }

    /// [`Gateway::run_pipeline`] without waiting for stragglers: relays what the outbox feed
    /// shows now and handles what the queues hold, until a round finds nothing. On DynamoDB a
    /// message written a moment ago may be left for the next drain (the stream lags), which
    /// only delays it, as in production. Panics if a handler fails.
    pub async fn drain_quickly(&self) {
        let gw = &self.gw;
        for _ in 0..8 {
            let mut worked = relay_outbox(gw.feed.as_ref(), gw.queues.as_ref(), 100)
                .await
                .expect("relay outbox");
            for queue in [QueueName::ChargeConfirmed, QueueName::PayoutRequests] {
                for message in gw.receive_all(queue).await {
                    gw.handle(queue, &message)
                        .await
                        .unwrap_or_else(|e| panic!("{queue}: {e}"));
                    gw.ack(queue, &message).await;
                    worked += 1;
                }
                worked += relay_outbox(gw.feed.as_ref(), gw.queues.as_ref(), 100)
                    .await
                    .expect("relay outbox");
            }
            if worked == 0 {
                return;
            }
        }
    }

    // --- reads -------------------------------------------------------------------------------

    pub async fn balance(&self) -> Balance {
        self.gw
            .state
            .store
            .get_balance(&self.account)
            .await
            .expect("get balance")
    }

    pub async fn movements(&self) -> Vec<Movement> {
        self.gw
            .state
            .store
            .list_movements(&self.account)
            .await
            .expect("list movements")
    }

    pub async fn movement(&self, kind: MovementKind, reference: &str) -> Option<Movement> {
        let id = kind.movement_id(reference);
        self.movements().await.into_iter().find(|m| m.id == id)
    }

    pub async fn all_events(&self) -> Vec<AccountEvent> {
        let mut all: Vec<AccountEvent> = Vec::new();
        loop {
            let after = all.last().map(|e| e.id.clone());
            let page = self
                .gw
                .state
                .store
                .list_events(&self.account, after.as_deref(), 100)
                .await
                .expect("list events");
            let done = page.len() < 100;
            all.extend(page);
            if done {
                return all;
            }
        }
    }

    pub async fn events(&self, event_type: EventType) -> Vec<AccountEvent> {
        self.all_events()
            .await
            .into_iter()
            .filter(|e| e.event_type == event_type)
            .collect()
    }

    pub async fn snapshot(&self) -> Snapshot {
        let mut charges = Vec::new();
        let mut splits = Vec::new();
        for id in self.charge_ids() {
            charges.push(self.charge(&id).await);
            splits.push(self.splits(&id).await);
        }
        let mut cash_outs = Vec::new();
        for id in self.cash_out_ids() {
            cash_outs.push(self.get_cash_out(&id).await);
        }
        let mut movements = self.movements().await;
        movements.sort_by(|a, b| a.id.cmp(&b.id));
        Snapshot {
            charges,
            splits,
            balance: self.balance().await,
            movements,
            cash_outs,
            events: self.all_events().await.into_iter().map(|e| e.id).collect(),
        }
    }

    /// The whole statement, as computed from the movements: oldest first (created_at, then
    /// movement id), each movement's entries in leg order.
    pub async fn expected_statement(&self) -> Vec<StatementEntry> {
        let mut movements = self.movements().await;
        movements.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        movements.iter().flat_map(entries_of).collect()
    }

    /// Every page of the statement with `limit` entries per page.
    pub async fn statement_pages(&self, limit: u32) -> Vec<Vec<StatementEntry>> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = statement_page(
                self.gw.state.store.as_ref(),
                &self.account,
                &StatementQuery {
                    from: None,
                    to: None,
                    after: after.take(),
                    limit,
                },
            )
            .await
            .expect("statement page");
            assert!(page.entries.len() <= limit as usize);
            pages.push(page.entries);
            match page.next {
                Some(next) => after = Some(next),
                None => return pages,
            }
            assert!(pages.len() < 10_000, "the statement never ends");
        }
    }

    // --- the books -----------------------------------------------------------------------------

    /// The invariants of the whole ledger of this account, over every charge and cash-out it
    /// made. Panics with the first violation.
    pub async fn assert_books(&self) {
        let store = &self.gw.state.store;
        let movements = self.movements().await;
        let charge_ids = self.charge_ids();
        let cash_out_ids = self.cash_out_ids();
        let known_charges: BTreeSet<&str> = charge_ids.iter().map(|c| c.as_str()).collect();
        let known_cash_outs: BTreeSet<&str> = cash_out_ids.iter().map(|c| c.as_str()).collect();

        // Every movement balances, and so does the ledger as a whole (PIX network included).
        let mut by_id: BTreeMap<&str, &Movement> = BTreeMap::new();
        let mut total = 0i64;
        for m in &movements {
            assert!(
                by_id.insert(m.id.as_str(), m).is_none(),
                "movement {} listed twice",
                m.id
            );
            assert_eq!(m.account_id, self.account, "{m:?}");
            assert_eq!(m.id, m.kind.movement_id(&m.reference), "{m:?}");
            let sum: i64 = m.legs.iter().map(|l| l.amount.cents()).sum();
            assert_eq!(sum, 0, "movement {} does not balance: {:?}", m.id, m.legs);
            for leg in &m.legs {
                if let LedgerAccount::Merchant(owner, _) = &leg.account {
                    assert_eq!(owner, &self.account, "{m:?}");
                }
            }
            total += sum;
            // Nothing moves that this shop did not cause.
            match m.kind {
                MovementKind::ChargeConfirmed
                | MovementKind::SplitsBooked
                | MovementKind::HoldReleased
                | MovementKind::HoldReturned => {
                    assert!(known_charges.contains(m.reference.as_str()), "{m:?}")
                }
                MovementKind::RefundRequested | MovementKind::RefundReturned => {
                    let charge = m.reference.split('#').next().unwrap_or_default();
                    assert!(known_charges.contains(charge), "{m:?}")
                }
                MovementKind::CashoutRequested | MovementKind::CashoutReturned => {
                    assert!(known_cash_outs.contains(m.reference.as_str()), "{m:?}")
                }
                MovementKind::PayoutPaid
                | MovementKind::PayoutFailed
                | MovementKind::SplitsFailed => {}
                MovementKind::DisputeOpened
                | MovementKind::DisputeWon
                | MovementKind::DisputeLost => assert!(
                    pixgw_domain::pix::ids::DisputeId::parse(&m.reference).is_some(),
                    "{m:?}"
                ),
                // Only the account's claim on a recipient changes: no money moves.
                MovementKind::DebtsWrittenOff => assert!(
                    m.legs.iter().all(|l| matches!(
                        l.account,
                        LedgerAccount::Recipient(..)
                            | LedgerAccount::Merchant(_, Bucket::RecipientDebts)
                    )),
                    "{m:?}"
                ),
            }
        }
        assert_eq!(total, 0, "the ledger does not sum to zero");

        // Balances are the sum of their legs, shard by shard too, and nothing is overdrawn.
        let balance = self.balance().await;
        let truth = Balance::from_movements(&self.account, &movements);
        assert_eq!(
            balance, truth,
            "the stored balance differs from Σ movements"
        );
        let shards = store
            .balance_shards(&self.account)
            .await
            .expect("balance shards");
        let summed = shards
            .iter()
            .fold(Balance::default(), |acc, (_, b)| acc.plus(*b));
        assert_eq!(summed, truth, "the balance shards differ from Σ movements");
        for (shard, b) in &shards {
            assert!(b.available.cents() >= 0, "shard {shard} overdrawn: {b:?}");
        }
        // Money buckets never go below 0, the debt bucket (`owed`) never above.
        for bucket in Bucket::ALL {
            let cents = balance.get(bucket).cents();
            let sign_ok = if bucket.is_debt() {
                cents <= 0
            } else {
                cents >= 0
            };
            assert!(
                sign_ok,
                "{} has the wrong sign: {balance:?}",
                bucket.as_str()
            );
        }

        // Charges, their splits, their refunds and disputes.
        let mut owed_to_recipients = 0i64;
        let (mut held, mut owed, mut disputes) = (0i64, 0i64, 0usize);
        for id in &charge_ids {
            let c = self.charge(id).await;
            let shares: i64 = c.splits.iter().map(|s| s.amount.cents()).sum();
            assert_eq!(
                shares + c.remainder.cents(),
                c.amount.cents(),
                "splits + remainder ≠ amount: {c:?}"
            );
            let confirmed = by_id.get(
                MovementKind::ChargeConfirmed
                    .movement_id(id.as_str())
                    .as_str(),
            );
            assert_eq!(confirmed.is_some(), c.payment.is_some(), "{c:?}");
            if let Some(m) = confirmed {
                // To `incoming`, or to `held` for a payment under a cautelar hold.
                let d = m.balance_delta();
                let expected = if c.hold.is_some() { d.held } else { d.incoming };
                assert_eq!(expected, c.amount, "{m:?}");
            }
            self.assert_hold(&c, &by_id, &mut held);
            let entries = self.splits(id).await;
            match by_id.get(MovementKind::SplitsBooked.movement_id(id.as_str()).as_str()) {
                Some(booked) => {
                    // The account's part, less what it paid toward disputes' `owed`.
                    let d = booked.balance_delta();
                    assert_eq!(d.incoming.cents(), -c.amount.cents(), "{booked:?}");
                    assert_eq!(d.reserved_for_splits.cents(), shares, "{booked:?}");
                    assert!(d.owed.cents() >= 0, "{booked:?}");
                    assert_eq!(
                        d.available.cents() + d.owed.cents(),
                        c.remainder.cents(),
                        "{booked:?}"
                    );
                    assert_eq!(entries.len(), c.splits.len(), "{c:?}: {entries:?}");
                }
                None => assert!(entries.is_empty(), "splits without a booking: {entries:?}"),
            }
            let by_disputes = self.assert_disputes(&c, &by_id, &mut held, &mut owed).await;
            disputes += c.disputes.len();
            self.assert_refunds(&c, &entries, &by_id, by_disputes);
            let mut dispute_records = Vec::with_capacity(c.disputes.len());
            for claim in &c.disputes {
                dispute_records.push(self.dispute(&claim.id).await);
            }
            for e in &entries {
                assert_eq!(e.split.amount, c.splits[e.index as usize].amount, "{e:?}");
                // What the refunds reduced it by, less what refusals gave back (at most
                // their parts; `assert_refunds` ties the totals to the movements).
                let reduced_by = |failed: bool| -> i64 {
                    c.refunds
                        .iter()
                        .filter(|r| failed || r.state != RefundState::Failed)
                        .flat_map(|r| &r.split_parts)
                        .chain(
                            dispute_records
                                .iter()
                                .filter(|d| failed || d.state != DisputeState::Won)
                                .flat_map(|d| &d.split_parts),
                        )
                        .filter(|p| p.index == e.index && p.kind == SplitPartKind::Reduced)
                        .map(|p| p.amount.cents())
                        .sum()
                };
                assert!(
                    (reduced_by(false)..=reduced_by(true)).contains(&e.refunded.cents()),
                    "split reductions vs refunds: {e:?}"
                );
                let cents = e.payable().cents();
                assert!(cents >= 0, "{e:?}");
                match e.state {
                    SplitState::Scheduled => {
                        assert!(e.end_to_end_id.is_none(), "{e:?}");
                        assert!(cents > 0, "a SCHEDULED split with nothing to pay: {e:?}");
                        owed_to_recipients += cents;
                    }
                    SplitState::Processing => {
                        assert!(e.payout_id.is_some(), "{e:?}");
                        owed_to_recipients += cents;
                    }
                    SplitState::Paid => {
                        let payout_id = e.payout_id.as_ref().expect("a PAID split's payout");
                        if e.end_to_end_id.is_none() {
                            let payout = store
                                .get_payout(payout_id)
                                .await
                                .expect("get payout")
                                .expect("payout");
                            assert_eq!(
                                payout.net_amount(),
                                Money::ZERO,
                                "a PAID split without a transfer: {e:?} {payout:?}"
                            );
                        }
                    }
                    SplitState::Failed => {}
                    SplitState::Cancelled => {
                        assert!(
                            e.payout_id.is_none() && e.end_to_end_id.is_none(),
                            "a split both cancelled and paid out: {e:?}"
                        );
                        assert_eq!(cents, 0, "a cancelled split still owed: {e:?}");
                        assert!(
                            !c.refunds.is_empty() || !c.disputes.is_empty(),
                            "cancelled without a refund or dispute: {e:?}"
                        );
                    }
                }
            }
        }
        assert_eq!(
            balance.reserved_for_splits.cents(),
            owed_to_recipients,
            "reservedForSplits ≠ Σ splits not paid out yet"
        );
        self.assert_recipient_debts(&movements, &balance).await;
        self.assert_dispute_totals(&balance, held, owed, &movements, disputes);

        // Cash-outs match their movements.
        for id in &cash_out_ids {
            let co = self.get_cash_out(id).await;
            let out = by_id
                .get(
                    MovementKind::CashoutRequested
                        .movement_id(id.as_str())
                        .as_str(),
                )
                .unwrap_or_else(|| panic!("cash-out {id} has no movement"));
            let d = out.balance_delta();
            assert_eq!(d.available.cents(), -co.amount.cents(), "{out:?}");
            assert_eq!(
                (d.incoming, d.reserved_for_splits),
                (Money::ZERO, Money::ZERO)
            );
            let back = by_id.get(
                MovementKind::CashoutReturned
                    .movement_id(id.as_str())
                    .as_str(),
            );
            match co.state {
                CashOutState::Processing => {
                    assert!(back.is_none() && co.end_to_end_id.is_none(), "{co:?}")
                }
                CashOutState::Completed => {
                    assert!(back.is_none(), "a completed cash-out was returned: {co:?}");
                    let e2e = co
                        .end_to_end_id
                        .as_ref()
                        .expect("E… of a completed cash-out");
                    assert_eq!(e2e.kind(), EndToEndKind::Payment, "{co:?}");
                }
                CashOutState::Failed => {
                    let back =
                        back.unwrap_or_else(|| panic!("failed cash-out not returned: {co:?}"));
                    assert_eq!(back.balance_delta().available, co.amount, "{back:?}");
                    assert!(
                        co.failure_reason.is_some() && co.end_to_end_id.is_none(),
                        "{co:?}"
                    );
                }
            }
        }
    }

    /// What the sandbox PIX network moved agrees with the gateway's records (after a full
    /// drain): every completed/failed cash-out transfer, payout transfer and refund.
    pub async fn assert_network_agrees(&self) {
        let mut completed_cash_outs = 0;
        for t in self.gw.sandbox.transfers() {
            let key = t.idempotency_key.as_str();
            if let Some(id) = CashOutId::parse(key) {
                let co = self.get_cash_out(&id).await;
                assert_eq!(co.amount, t.amount, "{co:?}");
                match &t.outcome {
                    TransferOutcome::Completed { end_to_end_id, .. } => {
                        completed_cash_outs += 1;
                        assert_eq!(co.state, CashOutState::Completed, "{co:?}");
                        assert_eq!(co.end_to_end_id.as_ref(), Some(end_to_end_id), "{co:?}");
                    }
                    TransferOutcome::Failed { .. } => {
                        assert_eq!(co.state, CashOutState::Failed, "{co:?}")
                    }
                    TransferOutcome::Pending { .. } => {}
                }
            } else if let Some(id) = pixgw_domain::payout::PayoutId::parse(key) {
                let payout = self
                    .gw
                    .state
                    .store
                    .get_payout(&id)
                    .await
                    .expect("get payout")
                    .expect("payout of a transfer");
                assert_eq!(payout.net_amount(), t.amount, "{payout:?}");
                match &t.outcome {
                    TransferOutcome::Completed { .. } => {
                        assert_eq!(payout.state, PayoutState::Paid, "{payout:?}")
                    }
                    TransferOutcome::Failed { .. } => {
                        assert_eq!(payout.state, PayoutState::Failed, "{payout:?}")
                    }
                    TransferOutcome::Pending { .. } => {}
                }
            }
        }
        let mine = self.cash_out_ids();
        let mut completed = 0;
        for id in &mine {
            if self.get_cash_out(id).await.state == CashOutState::Completed {
                completed += 1;
            }
        }
        assert_eq!(
            completed, completed_cash_outs,
            "completed cash-outs vs network transfers"
        );

        // Every devolução on the network is a refund of ours, of its amount; every settled
        // refund of ours is a completed devolução on the network, with its D… id.
        let mut settled_on_network = BTreeSet::new();
        for r in self.gw.sandbox.refunds() {
            let (id, refund_id) =
                pixgw_domain::flows::refund::parse_refund_idempotency_key(&r.idempotency_key)
                    .expect("refund key");
            let c = self.charge(&id).await;
            let refund = c.refund(&refund_id).expect("a devolução's refund");
            assert_eq!(r.amount, refund.amount, "{c:?}");
            if let RefundOutcome::Completed { end_to_end_id, .. } = &r.outcome {
                assert_eq!(refund.state, RefundState::Completed, "{c:?}");
                assert_eq!(refund.end_to_end_id.as_ref(), Some(end_to_end_id), "{c:?}");
                settled_on_network.insert(refund_id);
            }
        }
        for id in self.charge_ids() {
            let c = self.charge(&id).await;
            for r in &c.refunds {
                assert_eq!(
                    r.state == RefundState::Completed,
                    settled_on_network.contains(&r.id),
                    "a settled refund without its devolução on the network (or the reverse): {c:?}"
                );
            }
        }
    }
}

/// Σ of a movement's PIX network legs (what left the gateway is positive).
pub fn network_cents(m: &Movement) -> i64 {
    m.legs
        .iter()
        .filter(|l| l.account == LedgerAccount::PixNetwork)
        .map(|l| l.amount.cents())
        .sum()
}
