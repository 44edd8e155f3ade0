//! The settlement contract: what every adapter of the settlement ports
//! ([`ChargeTransitions`](pixgw_domain::charge::ports::ChargeTransitions),
//! [`SplitStore`](pixgw_domain::split::ports::SplitStore),
//! [`PayoutStore`](pixgw_domain::payout::ports::PayoutStore)) must do (DynamoDB and the
//! embedded store), run by `tests/settlement_contract.rs` against a fresh store of each.
//!
//! Each case is an `async fn(Subject)` that panics on a violation; [`settlement_contract_cases!`]
//! lists them all. The builders (a pending charge with two splits, its confirmation, the
//! booking of its splits, the settlement of its immediate payout) are public so lifecycle tests
//! can reuse them; the money follows the ledger's rules:
//!
//! - confirm: PIX network → incoming (the gross);
//! - book: incoming → available (the remainder) + reservedForSplits (Σ shares);
//! - paid: reservedForSplits → PIX network; failed: reservedForSplits → available.
//!
//! DynamoDB serves `list_movements` and listings by status from indexes, which are eventually
//! consistent; those reads (and only those) are polled briefly with [`eventually`], like the
//! outbox, which each case reads through the adapter's [`OutboxFeed`] (the embedded store
//! itself; the table's stream on DynamoDB) and compares with exactly the messages of the writes
//! that were applied.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::charge::ports::ChargeQuery;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus, Payer};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, Leg, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::outbox::{OutboxMessage, PipelineMessage};
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::payout::ports::SettlePayout;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData, Payment};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::{SplitRule, SplitValue};
use pixgw_domain::webhooks::WebhookMessage;
use pixgw_store_dynamodb::DynamoStreamFeed;
use pixgw_store_embedded::EmbeddedStore;
use tempfile::TempDir;
use uuid::Uuid;

use crate::harness::{Backend, dynamodb_endpoint, fresh_dynamodb_store};

/// Calls `$callback!($($args)*; sequential: [...], concurrent: [...])` with every case of the
/// settlement contract. `concurrent` cases need a multi-threaded runtime.
#[macro_export]
macro_rules! settlement_contract_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            sequential: [
                confirm_applies_every_effect,
                repeated_confirm_conflicts_and_changes_nothing,
                same_end_to_end_id_on_another_charge_conflicts,
                confirm_with_an_existing_movement_conflicts,
                confirm_of_a_missing_charge_conflicts,
                book_splits_creates_entries_payouts_and_movement,
                repeated_book_splits_conflicts_and_duplicates_nothing,
                book_splits_before_confirm_conflicts,
                settle_paid_pays_out_the_reserve,
                settle_failed_returns_the_reserve_to_available,
                settle_with_a_split_not_in_processing_writes_nothing,
                balance_always_equals_the_sum_of_movements,
            ],
            concurrent: [
                concurrent_identical_confirms_apply_once,
            ],
        }
    };
}

// =============================================================================================
// Subjects

/// A fresh store of one adapter, plus its outbox feed: the embedded store itself, or a
/// [`DynamoStreamFeed`] on the DynamoDB table's stream (which lags a moment behind writes).
pub struct Subject {
    pub store: DynStore,
    pub outbox: Option<Arc<dyn OutboxFeed>>,
    _keep: Option<TempDir>,
}

impl Subject {
    pub async fn fresh(backend: Backend) -> Subject {
        match backend {
            Backend::Embedded => {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open embedded"));
                Subject {
                    store: store.clone(),
                    outbox: Some(store),
                    _keep: Some(dir),
                }
            }
            Backend::Dynamodb => {
                let store = fresh_dynamodb_store().await;
                let feed =
                    DynamoStreamFeed::connect(Some(dynamodb_endpoint()), store.table()).await;
                Subject {
                    store: Arc::new(store),
                    outbox: Some(Arc::new(feed)),
                    _keep: None,
                }
            }
        }
    }

    /// The ids of the outbox messages waiting (polled, not acked), or `None` without a feed.
    pub async fn outbox_ids(&self) -> Option<BTreeSet<String>> {
        let feed = self.outbox.as_ref()?;
        let messages = feed.poll_outbox(10_000).await.expect("poll outbox");
        Some(messages.into_iter().map(|m| m.id).collect())
    }

    /// Asserts the messages waiting in the outbox are exactly `expected` (polling while a
    /// stream catches up).
    pub async fn assert_outbox(&self, expected: BTreeSet<String>) {
        if self.outbox.is_none() {
            return;
        }
        let waiting = eventually(|| self.outbox_ids(), |ids| ids.as_ref() == Some(&expected)).await;
        assert_eq!(waiting, Some(expected), "outbox messages waiting");
    }
}

// =============================================================================================
// Builders

pub const CPF: &str = "12345678909";
pub const CNPJ: &str = "11222333000181";

/// "Now", rounded to the millisecond like every stored time.
pub fn base_time() -> DateTime<Utc> {
    let ms = Utc::now().timestamp_millis();
    Utc.timestamp_millis_opt(ms).single().expect("now")
}

pub fn doc(number: &str) -> TaxDocument {
    TaxDocument::parse(number).unwrap_or_else(|e| panic!("{number} must be valid: {e:?}"))
}

fn charge_split(
    pix_key: &str,
    key_type: PixKeyType,
    value: SplitValue,
    immediate: bool,
    gross: Money,
) -> ChargeSplit {
    ChargeSplit {
        rule: SplitRule {
            pix_key: pix_key.into(),
            pix_key_type: key_type,
            name: format!("Recebedor {key_type}").into(),
            document: doc(pix_key),
            value,
            immediate,
        },
        amount: value.share_of(gross).expect("a share within range"),
    }
}

/// A PENDING charge of R$ 200.00 with an immediate 70 % split (CPF key, R$ 140.00) and a
/// scheduled R$ 10.00 split (CNPJ key); the merchant keeps R$ 50.00.
pub fn charge_with_splits(account_id: &AccountId, created_at: DateTime<Utc>) -> Charge {
    let gross = Money::from_cents(20_000);
    let splits = vec![
        charge_split(
            CPF,
            PixKeyType::Cpf,
            SplitValue::Percentage(7000),
            true,
            gross,
        ),
        charge_split(
            CNPJ,
            PixKeyType::Cnpj,
            SplitValue::Fixed(Money::from_cents(1000)),
            false,
            gross,
        ),
    ];
    let shares: i64 = splits.iter().map(|s| s.amount.cents()).sum();
    Charge {
        transaction_id: TransactionId::generate(),
        account_id: account_id.clone(),
        correlation_id: Uuid::new_v4(),
        external_id: format!("ext-{}", Uuid::new_v4().simple()),
        status: ChargeStatus::Pending,
        amount: gross,
        description: "Pedido com splits — ção".into(),
        payer: Payer {
            full_name: "Maria Souza".into(),
            document: doc(CPF),
        },
        additional_info: Default::default(),
        splits,
        remainder: Money::from_cents(gross.cents() - shares),
        pix_code: "00020101021226830014br.gov.bcb.pix2561pix.example.com/qr/v2/abc6304ABCD".into(),
        generate_qr_code: false,
        provider: "sandbox".into(),
        provider_charge_id: format!("sbx_{}", Uuid::new_v4().simple()),
        expiration_seconds: 3600,
        created_at,
        expires_at: created_at + Duration::seconds(3600),
        payment: None,
        refund: None,
    }
}

/// Inserts a fresh PENDING [`charge_with_splits`] for a new account.
pub async fn pending_charge(store: &DynStore) -> Charge {
    let charge = charge_with_splits(&AccountId::generate(), base_time());
    store
        .insert_charge(&charge, None)
        .await
        .expect("insert charge");
    charge
}

/// A payment with a fresh end-to-end id, settled at `at`.
pub fn payment(at: DateTime<Utc>) -> Payment {
    let ispb = Ispb::parse("00416968").expect("ispb");
    Payment {
        end_to_end_id: EndToEndId::generate(EndToEndKind::Payment, &ispb, at),
        paid_at: at,
        paid_by: PaidBy {
            name: "Maria Souza".into(),
            document: CPF.into(),
            bank: PayerBankData::new(ispb, "0001", "1234567").expect("bank data"),
        },
        provider: "sandbox".into(),
        provider_event_id: format!("evt_{}", Uuid::new_v4().simple()),
    }
}

/// A movement of `amount` from one account to another (panics on a non-positive amount).
pub fn transfer(
    kind: MovementKind,
    account: &AccountId,
    reference: &str,
    from: LedgerAccount,
    to: LedgerAccount,
    amount: Money,
    at: DateTime<Utc>,
) -> Movement {
    Movement::transfer(kind, account, reference, from, to, amount, at).expect("movement")
}

fn merchant(account: &AccountId, bucket: Bucket) -> LedgerAccount {
    LedgerAccount::Merchant(account.clone(), bucket)
}

/// Confirms `charge` with `payment` at `at`: the gross enters `incoming`; the outbox asks the
/// split calculator to book it.
pub fn confirm_write(charge: &Charge, payment: Payment, at: DateTime<Utc>) -> ConfirmCharge {
    let account = &charge.account_id;
    let message = PipelineMessage::ChargeConfirmed {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
    };
    ConfirmCharge {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
        payment,
        confirmed_at: at,
        movement: transfer(
            MovementKind::ChargeConfirmed,
            account,
            charge.transaction_id.as_str(),
            LedgerAccount::PixNetwork,
            merchant(account, Bucket::Incoming),
            charge.amount,
            at,
        ),
        // Created with the confirmation, like the one the confirmation service records.
        events: vec![AccountEvent::new(
            account,
            EventType::CashinConfirmed,
            charge.transaction_id.as_str(),
            at,
            serde_json::json!({ "transactionId": charge.transaction_id.as_str(), "status": "CONFIRMED" }),
        )],
        outbox: vec![message.to_outbox(at)],
    }
}

/// A charge confirmed through the store, and the write that confirmed it.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub charge: Charge,
    pub confirm: ConfirmCharge,
}

/// The confirmed-payment fixture: a fresh [`pending_charge`], confirmed 1 s after creation.
pub async fn confirmed_charge(store: &DynStore) -> Confirmed {
    let charge = pending_charge(store).await;
    let at = charge.created_at + Duration::seconds(1);
    let confirm = confirm_write(&charge, payment(at), at);
    assert_eq!(
        store.confirm_charge(&confirm).await,
        Ok(WriteOutcome::Applied),
        "confirm"
    );
    Confirmed { charge, confirm }
}

/// Books `charge`'s splits at `at`: immediate ones PROCESSING in a payout of their own (and a
/// payout request in the outbox), the others SCHEDULED.
pub fn book_write(charge: &Charge, at: DateTime<Utc>) -> BookSplits {
    let account = &charge.account_id;
    let mut splits = Vec::new();
    let mut payouts = Vec::new();
    for (index, split) in charge.splits.iter().enumerate() {
        let index = u8::try_from(index).expect("index");
        let mut entry = SplitEntry {
            transaction_id: charge.transaction_id.clone(),
            account_id: account.clone(),
            index,
            split: split.clone(),
            state: SplitState::Scheduled,
            payout_id: None,
            end_to_end_id: None,
            failure_reason: None,
            attempts: 0,
            created_at: at,
            updated_at: at,
        };
        if split.rule.immediate {
            let id = PayoutId::for_immediate_split(&charge.transaction_id, index);
            entry.state = SplitState::Processing;
            entry.payout_id = Some(id.clone());
            payouts.push(Payout {
                id,
                account_id: account.clone(),
                trigger: PayoutTrigger::Immediate,
                recipient: entry.recipient(),
                amount: split.amount,
                splits: vec![entry.key()],
                split_count: 1,
                unsettled_splits: 0,
                state: PayoutState::Processing,
                end_to_end_id: None,
                provider_transfer_id: None,
                failure_reason: None,
                created_at: at,
                updated_at: at,
            });
        }
        splits.push(entry);
    }
    let shares: i64 = charge.splits.iter().map(|s| s.amount.cents()).sum();
    let leg = |bucket, cents| Leg {
        account: merchant(account, bucket),
        amount: Money::from_cents(cents),
    };
    let movement = Movement::new(
        MovementKind::SplitsBooked,
        account,
        charge.transaction_id.as_str(),
        vec![
            leg(Bucket::Incoming, -charge.amount.cents()),
            leg(Bucket::Available, charge.remainder.cents()),
            leg(Bucket::ReservedForSplits, shares),
        ],
        at,
    )
    .expect("booking movement");
    let outbox = payouts
        .iter()
        .map(|p| {
            PipelineMessage::PayoutRequested {
                payout_id: p.id.clone(),
                account_id: account.clone(),
            }
            .to_outbox(at)
        })
        .collect();
    BookSplits {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
        splits,
        payouts,
        movement,
        outbox,
    }
}

/// A confirmed charge whose splits are booked, and the booking.
#[derive(Debug, Clone)]
pub struct Booked {
    pub confirmed: Confirmed,
    pub book: BookSplits,
}

impl Booked {
    /// The immediate payout (of split 0) and the split it pays, as booked.
    pub fn immediate(&self) -> (Payout, SplitEntry) {
        (self.book.payouts[0].clone(), self.book.splits[0].clone())
    }
}

/// [`confirmed_charge`], then its splits booked 1 s later.
pub async fn booked_charge(store: &DynStore) -> Booked {
    let confirmed = confirmed_charge(store).await;
    let at = confirmed.confirm.confirmed_at + Duration::seconds(1);
    let book = book_write(&confirmed.charge, at);
    assert_eq!(
        store.book_splits(&book).await,
        Ok(WriteOutcome::Applied),
        "book"
    );
    Booked { confirmed, book }
}

/// How a payout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutEnd {
    Paid,
    Failed,
}

/// Settles `payout` (and `splits`, the ones it pays) at `at`, announcing it to the merchant
/// through the outbox.
pub fn settle_write(
    payout: &Payout,
    splits: &[SplitEntry],
    end: PayoutEnd,
    at: DateTime<Utc>,
) -> SettlePayout {
    let account = &payout.account_id;
    let ispb = Ispb::parse("00416968").expect("ispb");
    let e2e = EndToEndId::generate(EndToEndKind::Payment, &ispb, at);
    let (state, split_state, kind, to) = match end {
        PayoutEnd::Paid => (
            PayoutState::Paid,
            SplitState::Paid,
            MovementKind::PayoutPaid,
            LedgerAccount::PixNetwork,
        ),
        PayoutEnd::Failed => (
            PayoutState::Failed,
            SplitState::Failed,
            MovementKind::PayoutFailed,
            merchant(account, Bucket::Available),
        ),
    };
    let paid = end == PayoutEnd::Paid;
    let reason = (!paid).then(|| "recipient key not found".to_owned());
    SettlePayout {
        payout: Payout {
            state,
            end_to_end_id: paid.then(|| e2e.clone()),
            provider_transfer_id: paid.then(|| format!("tr_{}", Uuid::new_v4().simple())),
            failure_reason: reason.clone(),
            updated_at: at,
            ..payout.clone()
        },
        splits: splits
            .iter()
            .map(|s| SplitEntry {
                state: split_state,
                end_to_end_id: paid.then(|| e2e.clone()),
                failure_reason: reason.clone(),
                updated_at: at,
                ..s.clone()
            })
            .collect(),
        movement: Some(transfer(
            kind,
            account,
            payout.id.as_str(),
            merchant(account, Bucket::ReservedForSplits),
            to,
            payout.amount,
            at,
        )),
        events: vec![AccountEvent::new(
            account,
            if paid {
                EventType::PayoutPaid
            } else {
                EventType::PayoutFailed
            },
            payout.id.as_str(),
            at,
            serde_json::json!({ "payoutId": payout.id.as_str() }),
        )],
        outbox: vec![OutboxMessage {
            id: format!("payout-settled:{}", payout.id),
            queue: QueueName::WebhookDeliveries,
            body: format!(
                r#"{{"payoutId":"{}","state":"{}"}}"#,
                payout.id,
                state.as_str()
            ),
            created_at: at,
        }],
    }
}

// =============================================================================================
// Reads and checks

/// Reads until `done` holds or 5 s pass, then returns the last value (for index reads, which
/// may lag behind writes on DynamoDB). The caller asserts on it.
pub async fn eventually<T, F, Fut>(mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + StdDuration::from_secs(5);
    loop {
        let value = read().await;
        if done(&value) || Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

/// The account's movements once the index shows at least `n` of them.
pub async fn movements(store: &DynStore, account: &AccountId, n: usize) -> Vec<Movement> {
    eventually(
        || async move { store.list_movements(account).await.expect("list movements") },
        |m| m.len() >= n,
    )
    .await
}

pub async fn balance(store: &DynStore, account: &AccountId) -> Balance {
    store.get_balance(account).await.expect("balance")
}

/// A balance from bucket amounts in centavos.
pub fn balance_of(incoming: i64, available: i64, reserved: i64) -> Balance {
    Balance {
        incoming: Money::from_cents(incoming),
        available: Money::from_cents(available),
        reserved_for_splits: Money::from_cents(reserved),
    }
}

/// Asserts the account's movements are exactly `expected` (oldest first) and that the balance
/// equals their sum.
pub async fn assert_ledger(store: &DynStore, account: &AccountId, expected: &[&Movement]) {
    let listed = movements(store, account, expected.len()).await;
    let expected: Vec<Movement> = expected.iter().map(|m| (*m).clone()).collect();
    assert_eq!(listed, expected, "movements of {account}");
    assert_eq!(
        balance(store, account).await,
        Balance::from_movements(account, &listed),
        "the balance of {account} must equal the sum of its movements"
    );
}

/// The ids of the account's charges listed with `status`, once `done` holds (index read).
async fn listed_with_status(
    store: &DynStore,
    account: &AccountId,
    status: ChargeStatus,
    done: impl Fn(&[TransactionId]) -> bool,
) -> Vec<TransactionId> {
    let query = ChargeQuery {
        status: Some(status),
        from: None,
        to: None,
        limit: 100,
        after: None,
    };
    let query = &query;
    eventually(
        || async move {
            let page = store
                .list_charges(account, query)
                .await
                .expect("list charges");
            page.items
                .into_iter()
                .map(|c| c.transaction_id)
                .collect::<Vec<_>>()
        },
        |ids| done(ids),
    )
    .await
}

async fn stored_charge(store: &DynStore, id: &TransactionId) -> Option<Charge> {
    store.get_charge(id).await.expect("get charge")
}

/// What a confirmation leaves in the outbox: its messages, and one webhook message per event.
fn confirm_outbox(write: &ConfirmCharge) -> Vec<OutboxMessage> {
    write
        .outbox
        .iter()
        .cloned()
        .chain(write.events.iter().map(WebhookMessage::for_event))
        .collect()
}

fn ids_of<'a>(messages: impl IntoIterator<Item = &'a OutboxMessage>) -> BTreeSet<String> {
    messages.into_iter().map(|m| m.id.clone()).collect()
}

// =============================================================================================
// Confirmation

pub async fn confirm_applies_every_effect(subject: Subject) {
    let store = &subject.store;
    let charge = pending_charge(store).await;
    let account = &charge.account_id;
    assert_eq!(
        listed_with_status(store, account, ChargeStatus::Pending, |ids| !ids.is_empty()).await,
        vec![charge.transaction_id.clone()]
    );
    let at = charge.created_at + Duration::seconds(1);
    let write = confirm_write(&charge, payment(at), at);

    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );

    let expected = Charge {
        status: ChargeStatus::Confirmed,
        payment: Some(write.payment.clone()),
        ..charge.clone()
    };
    assert_eq!(
        stored_charge(store, &charge.transaction_id).await,
        Some(expected)
    );
    assert_eq!(
        store
            .find_charge_by_end_to_end_id(&write.payment.end_to_end_id)
            .await,
        Ok(Some(charge.transaction_id.clone()))
    );
    assert_eq!(balance(store, account).await, balance_of(20_000, 0, 0));
    assert_ledger(store, account, &[&write.movement]).await;
    assert_eq!(
        listed_with_status(store, account, ChargeStatus::Confirmed, |ids| !ids
            .is_empty())
        .await,
        vec![charge.transaction_id.clone()]
    );
    assert_eq!(
        listed_with_status(store, account, ChargeStatus::Pending, |ids| ids.is_empty()).await,
        Vec::<TransactionId>::new()
    );
    subject.assert_outbox(ids_of(&confirm_outbox(&write))).await;
}

/// What a conflicting write must leave exactly as it was.
struct Snapshot {
    charge: Option<Charge>,
    balance: Balance,
    movements: Vec<Movement>,
    splits: Vec<SplitEntry>,
}

async fn snapshot(subject: &Subject, charge: &Charge, movements_expected: usize) -> Snapshot {
    let store = &subject.store;
    Snapshot {
        charge: stored_charge(store, &charge.transaction_id).await,
        balance: balance(store, &charge.account_id).await,
        movements: movements(store, &charge.account_id, movements_expected).await,
        splits: store
            .get_splits(&charge.transaction_id)
            .await
            .expect("splits"),
    }
}

#[track_caller]
fn assert_unchanged(before: &Snapshot, after: &Snapshot, what: &str) {
    assert_eq!(before.charge, after.charge, "{what}: the charge changed");
    assert_eq!(before.balance, after.balance, "{what}: the balance changed");
    assert_eq!(
        before.movements, after.movements,
        "{what}: the movements changed"
    );
    assert_eq!(before.splits, after.splits, "{what}: the splits changed");
}

pub async fn repeated_confirm_conflicts_and_changes_nothing(subject: Subject) {
    let store = &subject.store;
    let Confirmed { charge, confirm } = confirmed_charge(store).await;
    let before = snapshot(&subject, &charge, 1).await;

    // The same report delivered again.
    assert_eq!(
        store.confirm_charge(&confirm).await,
        Ok(WriteOutcome::Conflict)
    );
    // Another payment of the same charge, even with a movement id of its own: not PENDING.
    let at = confirm.confirmed_at + Duration::seconds(1);
    let mut other = confirm_write(&charge, payment(at), at);
    other.movement = transfer(
        MovementKind::ChargeConfirmed,
        &charge.account_id,
        &format!("{}-again", charge.transaction_id),
        LedgerAccount::PixNetwork,
        merchant(&charge.account_id, Bucket::Incoming),
        charge.amount,
        at,
    );
    assert_eq!(
        store.confirm_charge(&other).await,
        Ok(WriteOutcome::Conflict)
    );

    let after = snapshot(&subject, &charge, 1).await;
    assert_unchanged(&before, &after, "second confirm");
    subject
        .assert_outbox(ids_of(&confirm_outbox(&confirm)))
        .await;
    assert_eq!(
        store
            .find_charge_by_end_to_end_id(&other.payment.end_to_end_id)
            .await,
        Ok(None)
    );
}

pub async fn same_end_to_end_id_on_another_charge_conflicts(subject: Subject) {
    let store = &subject.store;
    let first = confirmed_charge(store).await;
    // A second charge of the same account, reported with the first one's payment.
    let second = charge_with_splits(&first.charge.account_id, base_time());
    store.insert_charge(&second, None).await.expect("insert");
    let at = first.confirm.confirmed_at;
    let write = confirm_write(&second, first.confirm.payment.clone(), at);
    let before = snapshot(&subject, &second, 1).await;

    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );

    let after = snapshot(&subject, &second, 1).await;
    assert_unchanged(&before, &after, "confirm with a taken end-to-end id");
    subject
        .assert_outbox(ids_of(&confirm_outbox(&first.confirm)))
        .await;
    assert_eq!(
        after.charge.map(|c| (c.status, c.payment)),
        Some((ChargeStatus::Pending, None))
    );
    assert_eq!(
        store
            .find_charge_by_end_to_end_id(&first.confirm.payment.end_to_end_id)
            .await,
        Ok(Some(first.charge.transaction_id.clone()))
    );
}

pub async fn confirm_with_an_existing_movement_conflicts(subject: Subject) {
    let store = &subject.store;
    let first = confirmed_charge(store).await;
    // A PENDING charge with a fresh payment whose movement id is already booked.
    let second = charge_with_splits(&first.charge.account_id, base_time());
    store.insert_charge(&second, None).await.expect("insert");
    let at = first.confirm.confirmed_at;
    let mut write = confirm_write(&second, payment(at), at);
    write.movement = first.confirm.movement.clone();
    let before = snapshot(&subject, &second, 1).await;

    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );

    assert_unchanged(
        &before,
        &snapshot(&subject, &second, 1).await,
        "confirm with a booked movement",
    );
    subject
        .assert_outbox(ids_of(&confirm_outbox(&first.confirm)))
        .await;
    assert_eq!(
        store
            .find_charge_by_end_to_end_id(&write.payment.end_to_end_id)
            .await,
        Ok(None)
    );
}

pub async fn confirm_of_a_missing_charge_conflicts(subject: Subject) {
    let store = &subject.store;
    let never_stored = charge_with_splits(&AccountId::generate(), base_time());
    let at = never_stored.created_at;
    let write = confirm_write(&never_stored, payment(at), at);

    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );

    let after = snapshot(&subject, &never_stored, 0).await;
    assert_eq!(after.charge, None, "confirm must not create a charge");
    assert_eq!(after.balance, Balance::default());
    assert_eq!(after.movements, Vec::new());
    assert_eq!(
        store
            .find_charge_by_end_to_end_id(&write.payment.end_to_end_id)
            .await,
        Ok(None)
    );
    subject.assert_outbox(BTreeSet::new()).await;
}

// =============================================================================================
// Booking

pub async fn book_splits_creates_entries_payouts_and_movement(subject: Subject) {
    let store = &subject.store;
    let Booked { confirmed, book } = booked_charge(store).await;
    let charge = &confirmed.charge;

    assert_eq!(
        store.get_splits(&charge.transaction_id).await,
        Ok(book.splits.clone())
    );
    assert_eq!(
        book.splits.iter().map(|s| s.state).collect::<Vec<_>>(),
        vec![SplitState::Processing, SplitState::Scheduled]
    );
    for payout in &book.payouts {
        assert_eq!(store.get_payout(&payout.id).await, Ok(Some(payout.clone())));
    }
    assert_eq!(
        balance(store, &charge.account_id).await,
        balance_of(0, 5_000, 15_000)
    );
    assert_ledger(
        store,
        &charge.account_id,
        &[&confirmed.confirm.movement, &book.movement],
    )
    .await;
    subject
        .assert_outbox(ids_of(
            confirm_outbox(&confirmed.confirm)
                .iter()
                .chain(&book.outbox),
        ))
        .await;
}

pub async fn repeated_book_splits_conflicts_and_duplicates_nothing(subject: Subject) {
    let store = &subject.store;
    let Booked { confirmed, book } = booked_charge(store).await;
    let charge = &confirmed.charge;
    let payouts_before = store.get_payout(&book.payouts[0].id).await.expect("payout");
    let before = snapshot(&subject, charge, 2).await;
    let at = book.movement.created_at + Duration::seconds(1);
    let other_movement = |reference: &str| {
        transfer(
            MovementKind::SplitsBooked,
            &charge.account_id,
            reference,
            merchant(&charge.account_id, Bucket::Incoming),
            merchant(&charge.account_id, Bucket::Available),
            Money::from_cents(1),
            at,
        )
    };

    // The exact redelivery.
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Conflict));
    // The same split entries under a fresh movement id, without payouts.
    let same_splits = BookSplits {
        payouts: Vec::new(),
        movement: other_movement("again-1"),
        ..book.clone()
    };
    assert_eq!(
        store.book_splits(&same_splits).await,
        Ok(WriteOutcome::Conflict)
    );
    // The same payout with a split entry of another index and a fresh movement id.
    let mut extra = book.splits[1].clone();
    extra.index = 7;
    let same_payout = BookSplits {
        splits: vec![extra],
        movement: other_movement("again-2"),
        ..book.clone()
    };
    assert_eq!(
        store.book_splits(&same_payout).await,
        Ok(WriteOutcome::Conflict)
    );
    // Fresh split entries and no payouts, under the movement already booked.
    let mut fresh = book.splits[1].clone();
    fresh.index = 8;
    let same_movement = BookSplits {
        splits: vec![fresh],
        payouts: Vec::new(),
        ..book.clone()
    };
    assert_eq!(
        store.book_splits(&same_movement).await,
        Ok(WriteOutcome::Conflict)
    );

    assert_unchanged(
        &before,
        &snapshot(&subject, charge, 2).await,
        "repeated booking",
    );
    subject
        .assert_outbox(ids_of(
            confirm_outbox(&confirmed.confirm)
                .iter()
                .chain(&book.outbox),
        ))
        .await;
    assert_eq!(
        store.get_payout(&book.payouts[0].id).await,
        Ok(payouts_before)
    );
}

pub async fn book_splits_before_confirm_conflicts(subject: Subject) {
    let store = &subject.store;
    let charge = pending_charge(store).await;
    let book = book_write(&charge, charge.created_at + Duration::seconds(1));
    let before = snapshot(&subject, &charge, 0).await;

    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Conflict));

    assert_unchanged(
        &before,
        &snapshot(&subject, &charge, 0).await,
        "booking a PENDING charge",
    );
    subject.assert_outbox(BTreeSet::new()).await;
    assert_eq!(
        store.get_splits(&charge.transaction_id).await,
        Ok(Vec::new())
    );
    assert_eq!(store.get_payout(&book.payouts[0].id).await, Ok(None));
    assert_eq!(balance(store, &charge.account_id).await, Balance::default());
}

// =============================================================================================
// Settlement

/// Books a charge, settles its immediate payout with `end`, checks what every settlement
/// leaves and that a repeat (either way) is a conflict; returns the booking and the settlement.
async fn settle_immediate(subject: &Subject, end: PayoutEnd) -> (Booked, SettlePayout) {
    let store = &subject.store;
    let booked = booked_charge(store).await;
    let charge = &booked.confirmed.charge;
    let (payout, split) = booked.immediate();
    let at = booked.book.movement.created_at + Duration::seconds(1);
    let settle = settle_write(&payout, std::slice::from_ref(&split), end, at);

    assert_eq!(
        store.settle_payout(&settle).await,
        Ok(WriteOutcome::Applied)
    );

    assert_eq!(
        store.get_payout(&payout.id).await,
        Ok(Some(settle.payout.clone()))
    );
    let splits = store
        .get_splits(&charge.transaction_id)
        .await
        .expect("splits");
    assert_eq!(
        splits,
        vec![settle.splits[0].clone(), booked.book.splits[1].clone()],
        "only the paid split changes"
    );
    assert_ledger(
        store,
        &charge.account_id,
        &[
            &booked.confirmed.confirm.movement,
            &booked.book.movement,
            settle
                .movement
                .as_ref()
                .expect("a settled payout moves money"),
        ],
    )
    .await;
    let account = &charge.account_id;
    let events = eventually(
        || async move { store.list_events(account, None, 100).await.expect("events") },
        |e| e.len() > 1,
    )
    .await;
    let expected: Vec<AccountEvent> = booked
        .confirmed
        .confirm
        .events
        .iter()
        .chain(&settle.events)
        .cloned()
        .collect();
    assert_eq!(
        events, expected,
        "the confirmation and the settlement record their events"
    );

    let before = snapshot(subject, charge, 3).await;
    assert_eq!(
        store.settle_payout(&settle).await,
        Ok(WriteOutcome::Conflict),
        "repeat"
    );
    let other_end = match end {
        PayoutEnd::Paid => PayoutEnd::Failed,
        PayoutEnd::Failed => PayoutEnd::Paid,
    };
    let flip = settle_write(&payout, std::slice::from_ref(&split), other_end, at);
    assert_eq!(
        store.settle_payout(&flip).await,
        Ok(WriteOutcome::Conflict),
        "settled the other way"
    );
    assert_unchanged(
        &before,
        &snapshot(subject, charge, 3).await,
        "repeated settlement",
    );
    // Every recorded event is also a webhook-deliveries message.
    let event_messages: Vec<OutboxMessage> = booked
        .confirmed
        .confirm
        .events
        .iter()
        .chain(&settle.events)
        .map(WebhookMessage::for_event)
        .collect();
    subject
        .assert_outbox(ids_of(
            booked
                .confirmed
                .confirm
                .outbox
                .iter()
                .chain(&booked.book.outbox)
                .chain(&settle.outbox)
                .chain(&event_messages),
        ))
        .await;
    assert_eq!(
        store.get_payout(&payout.id).await,
        Ok(Some(settle.payout.clone()))
    );
    (booked, settle)
}

pub async fn settle_paid_pays_out_the_reserve(subject: Subject) {
    let (booked, settle) = settle_immediate(&subject, PayoutEnd::Paid).await;
    assert_eq!(settle.splits[0].state, SplitState::Paid);
    // 140.00 left for the recipient; 10.00 stays reserved for the scheduled split.
    let account = &booked.confirmed.charge.account_id;
    assert_eq!(
        balance(&subject.store, account).await,
        balance_of(0, 5_000, 1_000)
    );
}

pub async fn settle_failed_returns_the_reserve_to_available(subject: Subject) {
    let (booked, settle) = settle_immediate(&subject, PayoutEnd::Failed).await;
    assert_eq!(settle.splits[0].state, SplitState::Failed);
    let account = &booked.confirmed.charge.account_id;
    assert_eq!(
        balance(&subject.store, account).await,
        balance_of(0, 19_000, 1_000)
    );
}

pub async fn settle_with_a_split_not_in_processing_writes_nothing(subject: Subject) {
    let store = &subject.store;
    // Booked with the scheduled split naming the immediate payout, so only its state is wrong.
    let confirmed = confirmed_charge(store).await;
    let mut book = book_write(
        &confirmed.charge,
        confirmed.confirm.confirmed_at + Duration::seconds(1),
    );
    book.splits[1].payout_id = Some(book.payouts[0].id.clone());
    assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
    let booked = Booked { confirmed, book };
    let charge = &booked.confirmed.charge;
    let (payout, split) = booked.immediate();
    let scheduled = booked.book.splits[1].clone();
    let at = booked.book.movement.created_at + Duration::seconds(1);
    let before = snapshot(&subject, charge, 2).await;

    // A SCHEDULED split of this payout.
    let with_scheduled = settle_write(
        &payout,
        &[split.clone(), scheduled.clone()],
        PayoutEnd::Paid,
        at,
    );
    assert_eq!(
        store.settle_payout(&with_scheduled).await,
        Ok(WriteOutcome::Conflict)
    );
    // A PROCESSING split of another payout.
    let other = booked_charge(store).await;
    let (_, foreign) = other.immediate();
    let with_foreign = settle_write(
        &payout,
        &[split.clone(), foreign.clone()],
        PayoutEnd::Paid,
        at,
    );
    assert_eq!(
        store.settle_payout(&with_foreign).await,
        Ok(WriteOutcome::Conflict)
    );
    // Everything in order, but under a movement id already booked.
    let reused = SettlePayout {
        movement: Some(booked.book.movement.clone()),
        ..settle_write(&payout, std::slice::from_ref(&split), PayoutEnd::Paid, at)
    };
    assert_eq!(
        store.settle_payout(&reused).await,
        Ok(WriteOutcome::Conflict)
    );
    // A payout that does not exist.
    let ghost = Payout {
        id: PayoutId::generate(),
        ..payout.clone()
    };
    assert_eq!(
        store
            .settle_payout(&settle_write(&ghost, &[], PayoutEnd::Paid, at))
            .await,
        Ok(WriteOutcome::Conflict)
    );

    let after = snapshot(&subject, charge, 2).await;
    assert_unchanged(&before, &after, "settlement with a split not in PROCESSING");
    assert_eq!(store.get_payout(&payout.id).await, Ok(Some(payout.clone())));
    assert_eq!(
        store
            .get_splits(&other.confirmed.charge.transaction_id)
            .await,
        Ok(other.book.splits.clone())
    );
    let booked_messages: Vec<OutboxMessage> = [&booked, &other]
        .into_iter()
        .flat_map(|b| {
            confirm_outbox(&b.confirmed.confirm)
                .into_iter()
                .chain(b.book.outbox.iter().cloned())
        })
        .collect();
    subject.assert_outbox(ids_of(&booked_messages)).await;
}

// =============================================================================================
// Ledger

pub async fn balance_always_equals_the_sum_of_movements(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let charges: Vec<Charge> = (0..3)
        .map(|i| charge_with_splits(&account, base_time() + Duration::milliseconds(i)))
        .collect();
    let mut writes = Vec::new();
    for charge in &charges {
        store.insert_charge(charge, None).await.expect("insert");
        let at = charge.created_at + Duration::seconds(1);
        let confirm = confirm_write(charge, payment(at), at);
        assert_eq!(
            store.confirm_charge(&confirm).await,
            Ok(WriteOutcome::Applied)
        );
        let book = book_write(charge, at + Duration::seconds(1));
        assert_eq!(store.book_splits(&book).await, Ok(WriteOutcome::Applied));
        writes.push((confirm, book));
    }
    let (payout0, split0) = (
        writes[0].1.payouts[0].clone(),
        writes[0].1.splits[0].clone(),
    );
    let (payout1, split1) = (
        writes[1].1.payouts[0].clone(),
        writes[1].1.splits[0].clone(),
    );
    let later = base_time() + Duration::seconds(5);
    let paid = settle_write(&payout0, &[split0], PayoutEnd::Paid, later);
    let failed = settle_write(
        &payout1,
        &[split1],
        PayoutEnd::Failed,
        later + Duration::milliseconds(1),
    );
    assert_eq!(store.settle_payout(&paid).await, Ok(WriteOutcome::Applied));
    assert_eq!(
        store.settle_payout(&failed).await,
        Ok(WriteOutcome::Applied)
    );

    let mut booked: Vec<&Movement> = Vec::new();
    for (confirm, book) in &writes {
        booked.push(&confirm.movement);
        booked.push(&book.movement);
    }
    booked.extend(paid.movement.as_ref());
    booked.extend(failed.movement.as_ref());
    booked.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    assert_ledger(store, &account, &booked).await;
    // 3 × 200.00 in; 140.00 paid out; the failed 140.00 back to available.
    assert_eq!(
        balance(store, &account).await,
        balance_of(0, 3 * 5_000 + 14_000, 3 * 15_000 - 2 * 14_000)
    );
    // Another account's ledger is untouched.
    assert_eq!(
        balance(store, &AccountId::generate()).await,
        Balance::default()
    );
}

// =============================================================================================
// Concurrency

pub async fn concurrent_identical_confirms_apply_once(subject: Subject) {
    let store = &subject.store;
    let charge = pending_charge(store).await;
    let at = charge.created_at + Duration::seconds(1);
    let write = confirm_write(&charge, payment(at), at);
    let tasks = (0..20).map(|_| {
        let store = store.clone();
        let write = write.clone();
        tokio::spawn(async move { store.confirm_charge(&write).await })
    });
    let outcomes: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();

    let applied = outcomes
        .iter()
        .filter(|o| **o == Ok(WriteOutcome::Applied))
        .count();
    let conflicts = outcomes
        .iter()
        .filter(|o| **o == Ok(WriteOutcome::Conflict))
        .count();
    assert_eq!(
        (applied, conflicts),
        (1, 19),
        "exactly one confirm applies: {outcomes:?}"
    );
    assert_eq!(
        balance(store, &charge.account_id).await,
        balance_of(20_000, 0, 0)
    );
    assert_ledger(store, &charge.account_id, &[&write.movement]).await;
    subject.assert_outbox(ids_of(&confirm_outbox(&write))).await;
}
