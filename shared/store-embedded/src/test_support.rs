//! Fixtures shared by the crate's unit tests: charges, their confirmation and booking, a
//! scheduled payout carried through assembly, release and settlement with the domain's own
//! write builders, funded accounts, idempotency claims, and small reads of what a test wrote.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus, Payer};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::settle::{FinalOutcome, settle_chunk, settle_payout};
use pixgw_domain::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::payout::ports::SettlePayout;
use pixgw_domain::payout::runs::{AttachSplits, PayoutHeader, PayoutRunStore, SettleSplits};
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger, SplitRef};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData, Payment};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::recipient::RecipientTotals;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::{SplitRule, SplitValue};

use pixgw_domain::charge::ports::{ChargeQuery, ChargeTransitions};
use pixgw_domain::idempotency::ClaimRequest;
use pixgw_domain::ledger::Balance;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::split::ports::SplitStore;
use tempfile::TempDir;

use crate::EmbeddedStore;

/// Every charge of the fixtures is of this amount.
pub(crate) const CHARGE_CENTS: i64 = 10_000;

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_705_314_600_123)
        .single()
        .unwrap_or_default()
}

/// `t0` plus `s` seconds.
pub(crate) fn at(s: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(s)
}

pub(crate) fn doc(n: &str) -> TaxDocument {
    TaxDocument::parse(n).expect("valid document")
}

pub(crate) fn split_rule(immediate: bool, cents: i64) -> ChargeSplit {
    ChargeSplit {
        rule: SplitRule {
            pix_key: "11222333000181".into(),
            pix_key_type: PixKeyType::Cnpj,
            name: "Parceiro".into(),
            document: doc("11222333000181"),
            value: SplitValue::Fixed(Money::from_cents(cents)),
            immediate,
        },
        amount: Money::from_cents(cents),
    }
}

/// A PENDING charge of [`CHARGE_CENTS`] created at `t0`, with these splits.
pub(crate) fn charge_with(account: &AccountId, splits: Vec<ChargeSplit>) -> Charge {
    let shares: i64 = splits.iter().map(|s| s.amount.cents()).sum();
    Charge {
        transaction_id: TransactionId::generate(),
        account_id: account.clone(),
        correlation_id: uuid::Uuid::new_v4(),
        external_id: format!("ext-{}", uuid::Uuid::new_v4()),
        status: ChargeStatus::Pending,
        amount: Money::from_cents(CHARGE_CENTS),
        description: "Pedido".into(),
        payer: Payer {
            full_name: "Maria".into(),
            document: doc("12345678909"),
        },
        additional_info: BTreeMap::new(),
        splits,
        remainder: Money::from_cents(CHARGE_CENTS - shares),
        pix_code: "000201...6304ABCD".into(),
        generate_qr_code: false,
        provider: "sandbox".into(),
        provider_charge_id: "sbx-1".into(),
        expiration_seconds: 3600,
        created_at: t0(),
        expires_at: t0() + Duration::seconds(3600),
        payment: None,
        refunds: Vec::new(),
        hold: None,
        disputes: Vec::new(),
        refund_revision: 0,
    }
}

/// A charge with an immediate split of 10.00 and a scheduled one of 5.00.
pub(crate) fn charge(account: &AccountId) -> Charge {
    charge_with(
        account,
        vec![split_rule(true, 1_000), split_rule(false, 500)],
    )
}

pub(crate) fn end_to_end_id(at: DateTime<Utc>) -> EndToEndId {
    let ispb = Ispb::parse("00416968").expect("ispb");
    EndToEndId::generate(EndToEndKind::Payment, &ispb, at)
}

pub(crate) fn confirm_write(charge: &Charge, at: DateTime<Utc>) -> ConfirmCharge {
    let ispb = Ispb::parse("00416968").expect("ispb");
    let payment = Payment {
        end_to_end_id: end_to_end_id(at),
        paid_at: at,
        paid_by: PaidBy {
            name: "Maria".into(),
            document: "12345678909".into(),
            bank: PayerBankData::new(ispb, "0001", "123456").expect("bank"),
        },
        provider: "sandbox".into(),
        provider_event_id: "evt-1".into(),
    };
    let account = &charge.account_id;
    let movement = Movement::transfer(
        MovementKind::ChargeConfirmed,
        account,
        charge.transaction_id.as_str(),
        LedgerAccount::PixNetwork,
        LedgerAccount::Merchant(account.clone(), Bucket::Incoming),
        charge.amount,
        at,
    )
    .expect("movement");
    let message = PipelineMessage::ChargeConfirmed {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
    };
    ConfirmCharge {
        hold: None,
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
        payment,
        confirmed_at: at,
        movement,
        events: Vec::new(),
        outbox: vec![message.to_outbox(at)],
    }
}

pub(crate) fn entry(charge: &Charge, index: u8, state: SplitState) -> SplitEntry {
    SplitEntry {
        transaction_id: charge.transaction_id.clone(),
        account_id: charge.account_id.clone(),
        index,
        split: charge.splits[usize::from(index)].clone(),
        state,
        payout_id: None,
        end_to_end_id: None,
        failure_reason: None,
        attempts: 0,
        refunded: Money::ZERO,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// The immediate payout of `split` (PROCESSING), created at `created_at`.
pub(crate) fn immediate_payout(split: &SplitEntry, created_at: DateTime<Utc>) -> Payout {
    Payout {
        id: PayoutId::for_immediate_split(&split.transaction_id, split.index),
        account_id: split.account_id.clone(),
        trigger: PayoutTrigger::Immediate,
        recipient: split.recipient(),
        amount: split.split.amount,
        splits: vec![split.key()],
        split_count: 1,
        unsettled_splits: 0,
        state: PayoutState::Processing,
        end_to_end_id: None,
        deductions: None,
        provider_transfer_id: None,
        failure_reason: None,
        created_at,
        updated_at: created_at,
    }
}

/// Books `splits` (and `payouts`) of `charge`: its remainder to available, the shares to
/// reservedForSplits.
pub(crate) fn booking(
    charge: &Charge,
    splits: Vec<SplitEntry>,
    payouts: Vec<Payout>,
) -> BookSplits {
    let account = &charge.account_id;
    let merchant = |bucket| LedgerAccount::Merchant(account.clone(), bucket);
    let shares: i64 = splits.iter().map(|s| s.split.amount.cents()).sum();
    let legs = vec![
        Leg {
            account: merchant(Bucket::Incoming),
            amount: Money::from_cents(-charge.amount.cents()),
        },
        Leg {
            account: merchant(Bucket::Available),
            amount: Money::from_cents(charge.amount.cents() - shares),
        },
        Leg {
            account: merchant(Bucket::ReservedForSplits),
            amount: Money::from_cents(shares),
        },
    ];
    let movement = Movement::new(
        MovementKind::SplitsBooked,
        account,
        charge.transaction_id.as_str(),
        legs,
        t0(),
    )
    .expect("movement");
    let recipients = RecipientTotals::scheduled_by_split(
        account,
        splits.iter().map(|s| (s, s.split.amount.cents())),
    );
    BookSplits {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
        splits,
        payouts,
        movement,
        outbox: Vec::new(),
        recipients,
        repayments: Vec::new(),
    }
}

/// [`charge`]'s booking: the immediate split PROCESSING in its payout, the other SCHEDULED.
pub(crate) fn book_write(charge: &Charge) -> BookSplits {
    let immediate = entry(charge, 0, SplitState::Processing);
    let payout = immediate_payout(&immediate, t0());
    let immediate = SplitEntry {
        payout_id: Some(payout.id.clone()),
        ..immediate
    };
    let scheduled = entry(charge, 1, SplitState::Scheduled);
    booking(charge, vec![immediate, scheduled], vec![payout])
}

pub(crate) fn keys_of(store: &EmbeddedStore, table: TableDefinition<&str, &str>) -> Vec<String> {
    let txn = store.db.begin_read().expect("read");
    let table = txn.open_table(table).expect("table");
    table
        .iter()
        .expect("iter")
        .map(|e| e.expect("entry").0.value().to_owned())
        .collect()
}

pub(crate) async fn stored_charge(store: &EmbeddedStore, charge: &Charge) {
    store.insert_charge(charge, None).await.expect("insert");
}

/// Stores `charge` and confirms it.
pub(crate) async fn confirmed(store: &EmbeddedStore, charge: &Charge) {
    stored_charge(store, charge).await;
    let write = confirm_write(charge, t0());
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
}

/// A confirmed charge with one immediate split of `cents`, booked with its payout created at
/// `created_at`; the payout as stored.
pub(crate) async fn booked_immediate(
    store: &EmbeddedStore,
    account: &AccountId,
    cents: i64,
    created_at: DateTime<Utc>,
) -> Payout {
    let charge = charge_with(account, vec![split_rule(true, cents)]);
    confirmed(store, &charge).await;
    let payout = immediate_payout(&entry(&charge, 0, SplitState::Processing), created_at);
    let split = SplitEntry {
        payout_id: Some(payout.id.clone()),
        ..entry(&charge, 0, SplitState::Processing)
    };
    let write = booking(&charge, vec![split], vec![payout.clone()]);
    assert_eq!(store.book_splits(&write).await, Ok(WriteOutcome::Applied));
    payout
}

/// A confirmed charge whose splits are all SCHEDULED (same recipient), one per `(cents,
/// attempts)`; the splits as booked.
pub(crate) async fn booked_scheduled(
    store: &EmbeddedStore,
    account: &AccountId,
    splits: &[(i64, u8)],
) -> Vec<SplitEntry> {
    let rules = splits.iter().map(|(c, _)| split_rule(false, *c)).collect();
    let charge = charge_with(account, rules);
    confirmed(store, &charge).await;
    let entries: Vec<SplitEntry> = splits
        .iter()
        .zip(0u8..)
        .map(|((_, attempts), i)| SplitEntry {
            attempts: *attempts,
            ..entry(&charge, i, SplitState::Scheduled)
        })
        .collect();
    let write = booking(&charge, entries.clone(), Vec::new());
    assert_eq!(store.book_splits(&write).await, Ok(WriteOutcome::Applied));
    entries
}

/// Attaches every SCHEDULED split of `account` to its payout of `window` (created at
/// `window`); the payout, still ASSEMBLING.
pub(crate) async fn assembled(
    store: &EmbeddedStore,
    account: &AccountId,
    window: DateTime<Utc>,
) -> Payout {
    let (splits, _) = store
        .scheduled_splits_page(account, window, None, 99)
        .await
        .expect("page");
    let recipient = splits.first().expect("a scheduled split").recipient();
    let header = PayoutHeader {
        id: PayoutId::for_scheduled_window(account, window, &recipient),
        account_id: account.clone(),
        window,
        recipient,
    };
    let write = AttachSplits {
        payout: header.clone(),
        splits,
        now: window,
    };
    assert_eq!(store.attach_splits(&write).await, Ok(WriteOutcome::Applied));
    stored_payout(store, &header.id).await
}

/// [`assembled`], then released (PROCESSING).
pub(crate) async fn released(
    store: &EmbeddedStore,
    account: &AccountId,
    window: DateTime<Utc>,
) -> Payout {
    let payout = assembled(store, account, window).await;
    assert_eq!(
        store.release_payout(&payout.id, &[], window).await,
        Ok(WriteOutcome::Applied)
    );
    stored_payout(store, &payout.id).await
}

pub(crate) async fn stored_payout(store: &EmbeddedStore, id: &PayoutId) -> Payout {
    store.get_payout(id).await.expect("get").expect("payout")
}

pub(crate) fn outcome(state: PayoutState, at: DateTime<Utc>) -> FinalOutcome {
    let paid = state == PayoutState::Paid;
    FinalOutcome {
        state,
        end_to_end_id: paid.then(|| end_to_end_id(at)),
        provider_transfer_id: Some("sbx-transfer-1".into()),
        failure_reason: (!paid).then(|| "recipient key not found".into()),
    }
}

/// The stored versions of `payout`'s inline splits (an immediate payout's one split).
pub(crate) async fn inline_splits(store: &EmbeddedStore, payout: &Payout) -> Vec<SplitEntry> {
    let mut splits = Vec::new();
    for key in &payout.splits {
        let stored = store.get_splits(&key.transaction_id).await.expect("splits");
        splits.extend(stored.into_iter().filter(|s| s.index == key.index));
    }
    splits
}

/// The executor's write settling a PROCESSING payout (with its inline splits, if any).
pub(crate) async fn settle_write(
    store: &EmbeddedStore,
    payout: Payout,
    state: PayoutState,
    now: DateTime<Utc>,
) -> SettlePayout {
    let inline = inline_splits(store, &payout).await;
    settle_payout(payout, inline, &outcome(state, now), now).expect("write")
}

/// Settles a PROCESSING payout as the executor does; the payout as stored after.
pub(crate) async fn settled(
    store: &EmbeddedStore,
    payout: Payout,
    state: PayoutState,
    now: DateTime<Utc>,
) -> Payout {
    let id = payout.id.clone();
    let write = settle_write(store, payout, state, now).await;
    assert_eq!(store.settle_payout(&write).await, Ok(WriteOutcome::Applied));
    stored_payout(store, &id).await
}

/// Every split of `payout`'s manifest, as stored.
pub(crate) async fn manifest_splits(store: &EmbeddedStore, payout: &Payout) -> Vec<SplitEntry> {
    let (refs, _) = store
        .payout_splits_page(&payout.id, None, 1_000)
        .await
        .expect("manifest");
    let mut splits = Vec::new();
    for SplitRef {
        transaction_id,
        index,
    } in refs
    {
        let stored = store.get_splits(&transaction_id).await.expect("splits");
        splits.extend(stored.into_iter().filter(|s| s.index == index));
    }
    splits
}

/// The executor's chunk write for `pending` splits of a settled `payout`.
pub(crate) fn chunk(payout: &Payout, pending: Vec<SplitEntry>, now: DateTime<Utc>) -> SettleSplits {
    settle_chunk(payout, pending, now).expect("chunk")
}

/// A store on a fresh temporary directory (kept alive by the returned guard).
pub(crate) fn open() -> (TempDir, EmbeddedStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    (dir, store)
}

/// Adds [`CHARGE_CENTS`] to the account's `available`: a charge without splits, confirmed and
/// booked at `at`.
pub(crate) async fn funded_at(
    store: &EmbeddedStore,
    account: &AccountId,
    at: DateTime<Utc>,
) -> Charge {
    let charge = charge_with(account, Vec::new());
    stored_charge(store, &charge).await;
    assert_eq!(
        store.confirm_charge(&confirm_write(&charge, at)).await,
        Ok(WriteOutcome::Applied)
    );
    let mut booking = booking(&charge, Vec::new(), Vec::new());
    booking.movement.created_at = at;
    assert_eq!(store.book_splits(&booking).await, Ok(WriteOutcome::Applied));
    charge
}

/// [`funded_at`] `t0`.
pub(crate) async fn funded(store: &EmbeddedStore, account: &AccountId) -> Charge {
    funded_at(store, account, t0()).await
}

/// The account's balance.
pub(crate) async fn balance(store: &EmbeddedStore, account: &AccountId) -> Balance {
    store.get_balance(account).await.expect("balance")
}

/// The stored balance row equals the sum of the account's movements, and spends nothing it
/// does not have.
pub(crate) async fn assert_balance_is_sum_of_movements(store: &EmbeddedStore, account: &AccountId) {
    let movements = store.list_movements(account).await.expect("movements");
    let stored = balance(store, account).await;
    assert_eq!(stored, Balance::from_movements(account, &movements));
    assert!(stored.available.cents() >= 0, "available went negative");
    assert!(stored.incoming.cents() >= 0 && stored.reserved_for_splits.cents() >= 0);
}

/// The stored version of `charge`.
pub(crate) async fn stored(store: &EmbeddedStore, charge: &Charge) -> Charge {
    store
        .get_charge(&charge.transaction_id)
        .await
        .expect("get")
        .expect("charge")
}

/// A PENDING charge of 49.90 with this `externalId`, created at `created_at`.
pub(crate) fn charge_at(
    account_id: &AccountId,
    external_id: &str,
    created_at: DateTime<Utc>,
) -> Charge {
    Charge {
        transaction_id: TransactionId::generate(),
        account_id: account_id.clone(),
        correlation_id: uuid::Uuid::new_v4(),
        external_id: external_id.to_owned(),
        status: ChargeStatus::Pending,
        amount: Money::from_cents(4990),
        description: "Pedido nº 42 — café".into(),
        payer: Payer {
            full_name: "João da Silva".into(),
            document: TaxDocument::parse("12345678909").expect("valid CPF"),
        },
        additional_info: BTreeMap::from([("pedido".to_owned(), "42".to_owned())]),
        splits: Vec::new(),
        remainder: Money::from_cents(4990),
        pix_code: "000201...6304ABCD".into(),
        generate_qr_code: true,
        provider: "sandbox".into(),
        provider_charge_id: "sbx-1".into(),
        expiration_seconds: 3600,
        created_at,
        expires_at: created_at + Duration::seconds(3600),
        payment: None,
        refunds: Vec::new(),
        hold: None,
        disputes: Vec::new(),
        refund_revision: 0,
    }
}

/// A claim of `key` by `token` at `now`: lease 30 s, kept 24 h.
pub(crate) fn claim_request<'a>(
    account_id: &'a AccountId,
    key: &'a str,
    token: &'a str,
    now: DateTime<Utc>,
) -> ClaimRequest<'a> {
    ClaimRequest {
        account_id,
        key,
        request_hash: "hash-1",
        lock_token: token,
        now,
        lease_until: now + Duration::seconds(30),
        expires_at: now + Duration::hours(24),
    }
}

/// An account's charges, any status, newest first.
pub(crate) fn query(limit: u32) -> ChargeQuery {
    ChargeQuery {
        status: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

/// How many entries `table` holds.
pub(crate) fn count(
    store: &EmbeddedStore,
    table: TableDefinition<&str, impl redb::Value + 'static>,
) -> u64 {
    use redb::ReadableTableMetadata;
    let txn = store.db.begin_read().expect("read");
    txn.open_table(table).expect("table").len().expect("len")
}
