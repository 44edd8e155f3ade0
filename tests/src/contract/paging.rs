//! The paging contract: every paged listing, on every storage adapter, walks exactly.
//!
//! A walk follows the cursors from a page to the next until there is none. For N items and any
//! limit 1..=100 it must visit each item exactly once, in the listing's documented order, and
//! end with no cursor; and it is exact: every page but the last is full, and the last page is
//! empty only when there is nothing at all (a cursor is handed out only when an item follows).
//! The end of a listing is what the store says, never what a short read suggests: the
//! statement once stopped after 200 of 213 entries because the one-past-the-page look-ahead
//! was capped at the store's page maximum and the short answer read as the last page.
//!
//! Each case builds one listing's items once, through the real write paths (more than the
//! store page maximum of 100: see [`ITEMS`]; on DynamoDB, charges and webhook deliveries are
//! big enough that fewer than 100 of them fill the 1 MB a Query returns at once), then checks
//! walks of N items: the last N, from the cursor a client holds after the others (made from
//! the items as the listing documents its cursor, or, where it is opaque, met on a walk one
//! item at a time; N = 0: a listing with nothing in it). N and the limit are `proptest`
//! values, with N drawn near the boundaries
//! (0, 1, limit − 1, limit, limit + 1, 2 × limit, 99, 100, 101, 200, 201, 213, the whole
//! listing) and anywhere. `tests/store_contract.rs` runs every case on both adapters, as the
//! `large` cases of [`store_contract_cases!`](crate::store_contract_cases).
//!
//! The seed is [`DEFAULT_SEED`], so every run checks the same walks; `PROPTEST_RNG_SEED=<seed>`
//! explores others. Case counts are fixed here (`PROPTEST_CASES` does not apply).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use pixgw_api::store::DynStore;
use pixgw_domain::cash_out::ports::RequestCashOut;
use pixgw_domain::cash_out::ports::{CashOutCursor, CashOutQuery};
use pixgw_domain::cash_out::{CashOut, CashOutDestination, CashOutId, CashOutState};
use pixgw_domain::charge::ports::{ChargeCursor, ChargeQuery};
use pixgw_domain::charge::{Charge, ChargeStatus};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::run_payout_windows::{PayoutScheduler, SchedulerConfig};
use pixgw_domain::flows::statement::entries_of;
use pixgw_domain::flows::statement::{StatementCursor, StatementQuery, statement_page};
use pixgw_domain::ledger::{AvailableDraw, Bucket, LedgerAccount, Movement, MovementKind};
use pixgw_domain::messaging::outbox::PipelineMessage;
use pixgw_domain::payout::ports::{PayoutCursor, PayoutQuery};
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::payout::{PayoutId, SplitRef};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::webhooks::{Delivery, DeliveryAttempt, DeliveryQuery, DeliveryStatus};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestError, TestRunner};
use tokio::runtime::Handle;

use super::{
    Subject, account_due_at, base_time, book, charge_for, charge_with_splits, movements, nine_am,
};
use crate::harness::ManualClock;

/// Items (of the listing under test) each case builds: more than two store pages of 100.
pub const ITEMS: usize = 213;
/// Random (limit, N) pairs per listing and adapter, after the fixed boundary pairs.
const RANDOM_WALKS: u32 = 16;
/// The proptest seed unless `PROPTEST_RNG_SEED` is set.
const DEFAULT_SEED: u64 = 0x5EED_0015;
/// Replays spent shrinking a failing walk (each is a few reads).
const MAX_SHRINK_ITERS: u32 = 64;
/// More pages than any walk here needs (a few hundred items, one at a time).
const MAX_PAGES: usize = 1_000;
/// Pairs every run checks, whatever the seed: the boundaries around one page and the store's
/// page maximum ([`walks_exactly`] caps N at the listing's length).
const BOUNDARY_WALKS: [(u32, usize); 13] = [
    (1, 0),
    (1, 1),
    (1, 2),
    (7, 7),
    (7, 8),
    (100, 0),
    (100, 1),
    (100, 99),
    (100, 100),
    (100, 101),
    (100, 200),
    (100, ITEMS),
    (10, ITEMS),
];

// =============================================================================================
// Listings, pages and walks

/// Where a walk continues, in whichever form the listing hands it out.
#[derive(Debug, Clone)]
enum Cursor {
    Charge(ChargeCursor),
    CashOut(CashOutCursor),
    Payout(PayoutCursor),
    Split(SplitRef),
    /// Opaque to callers, and spelled differently by each adapter.
    Delivery(String),
    Statement(StatementCursor),
}

/// Which listing, and whose.
#[derive(Debug, Clone)]
enum Source {
    Charges(AccountId, Option<ChargeStatus>),
    CashOuts(AccountId),
    Payouts(AccountId),
    PayoutSplits(PayoutId),
    Deliveries(AccountId),
    Statement(AccountId),
}

/// One listing with the ids it must give, in its documented order.
struct Listing {
    source: Source,
    expected: Vec<String>,
    positions: Positions,
    /// The same listing where nothing was ever written (a new account; for a payout's splits,
    /// the position after its last one), for walks of 0 items.
    empty: (Source, Option<Cursor>),
}

/// The cursor a client holds after reading the first `k` items, at `[k]` (none before the
/// first), where a walk of the items after them starts.
enum Positions {
    /// Made from the items, as the listing documents its cursor: the last item shown (the
    /// statement's: the next entry).
    Known(Vec<Option<Cursor>>),
    /// Opaque (webhook deliveries): read by [`cursor_table`].
    Opaque,
}

/// One page: the ids it shows and the cursor it hands out.
type Page = (Vec<String>, Option<Cursor>);

fn wrong_cursor(source: &Source, cursor: &Cursor) -> ! {
    panic!("a {cursor:?} is not a cursor of {source:?}")
}

async fn page(store: &DynStore, source: &Source, after: Option<Cursor>, limit: u32) -> Page {
    match source {
        Source::Charges(account, status) => {
            let after = after.map(|c| match c {
                Cursor::Charge(c) => c,
                other => wrong_cursor(source, &other),
            });
            let query = ChargeQuery {
                status: *status,
                from: None,
                to: None,
                limit,
                after,
            };
            let page = store.list_charges(account, &query).await.expect("charges");
            let ids = page.items.iter().map(|c| c.transaction_id.to_string());
            (ids.collect(), page.next.map(Cursor::Charge))
        }
        Source::CashOuts(account) => {
            let after = after.map(|c| match c {
                Cursor::CashOut(c) => c,
                other => wrong_cursor(source, &other),
            });
            let query = CashOutQuery {
                state: None,
                from: None,
                to: None,
                limit,
                after,
            };
            let page = store
                .list_cash_outs(account, &query)
                .await
                .expect("cash-outs");
            let ids = page.items.iter().map(|c| c.id.to_string());
            (ids.collect(), page.next.map(Cursor::CashOut))
        }
        Source::Payouts(account) => {
            let after = after.map(|c| match c {
                Cursor::Payout(c) => c,
                other => wrong_cursor(source, &other),
            });
            let query = PayoutQuery {
                state: None,
                from: None,
                to: None,
                limit,
                after,
            };
            let page = store.list_payouts(account, &query).await.expect("payouts");
            let ids = page.items.iter().map(|p| p.id.to_string());
            (ids.collect(), page.next.map(Cursor::Payout))
        }
        Source::PayoutSplits(payout) => {
            let after = after.map(|c| match c {
                Cursor::Split(c) => c,
                other => wrong_cursor(source, &other),
            });
            let (refs, next) = store
                .payout_splits_page(payout, after.as_ref(), limit as usize)
                .await
                .expect("payout splits");
            (refs.iter().map(split_id).collect(), next.map(Cursor::Split))
        }
        Source::Deliveries(account) => {
            let cursor = after.map(|c| match c {
                Cursor::Delivery(c) => c,
                other => wrong_cursor(source, &other),
            });
            let query = DeliveryQuery {
                event_type: None,
                status: None,
                cursor,
                limit: limit as usize,
            };
            let page = store
                .list_deliveries(account, &query)
                .await
                .expect("deliveries");
            let ids = page.deliveries.iter().map(|d| d.id.clone());
            (ids.collect(), page.next_cursor.map(Cursor::Delivery))
        }
        Source::Statement(account) => {
            let after = after.map(|c| match c {
                Cursor::Statement(c) => c,
                other => wrong_cursor(source, &other),
            });
            let query = StatementQuery {
                from: None,
                to: None,
                after,
                limit,
            };
            let page = statement_page(store.as_ref(), account, &query)
                .await
                .expect("statement");
            let ids = page.entries.iter().map(|e| e.id.clone());
            (ids.collect(), page.next.map(Cursor::Statement))
        }
    }
}

fn split_id(r: &SplitRef) -> String {
    format!("{}/{}", r.transaction_id, r.index)
}

/// Every page from `after` on, `limit` at a time, until a page hands out no cursor.
async fn walk(
    store: &DynStore,
    source: &Source,
    mut after: Option<Cursor>,
    limit: u32,
) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let (ids, next) = page(store, source, after.take(), limit).await;
        pages.push(ids);
        match next {
            Some(next) => after = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= MAX_PAGES, "{source:?}: the walk never ends");
    }
}

/// The cursor a client holds after each number of items: `[k]` after the first `k` (none
/// before the first; none after the last either, so the table ends at `len − 1`). Read by a
/// walk of the whole listing one item at a time, checked on the way like any walk: a cursor
/// names a position, whatever the limit of the page that handed it out.
async fn cursor_table(store: &DynStore, listing: &Listing) -> Vec<Option<Cursor>> {
    let total = listing.expected.len();
    let what = format!("{:?}, all {total} items one at a time", listing.source);
    let mut table = vec![None];
    loop {
        let read = table.len() - 1;
        let after = table[read].clone();
        let (ids, next) = page(store, &listing.source, after, 1).await;
        assert_eq!(
            ids,
            listing.expected[read..(read + 1).min(total)],
            "{what}: item {read}"
        );
        match next {
            Some(next) => table.push(Some(next)),
            None => break,
        }
        assert!(table.len() <= total, "{what}: a cursor after the last item");
    }
    assert_eq!(table.len(), total.max(1), "{what}: the walk ended early");
    table
}

/// Walking the last `n` items of the listing `limit` at a time (from the cursor a client
/// holds after the others) visits exactly them, in order, in pages that are all full but the
/// last, and ends without a cursor.
async fn walks_exactly(
    store: &DynStore,
    listing: &Listing,
    table: &[Option<Cursor>],
    limit: u32,
    n: usize,
) {
    let total = listing.expected.len();
    let n = n.min(total);
    let (source, after) = if n == 0 {
        (&listing.empty.0, listing.empty.1.clone())
    } else {
        (&listing.source, table[total - n].clone())
    };
    let pages = walk(store, source, after, limit).await;
    let what = format!("{source:?}, {n} of {total} items, limit {limit}");
    let visited: Vec<&String> = pages.iter().flatten().collect();
    let expected: Vec<&String> = listing.expected[total - n..].iter().collect();
    assert_eq!(visited, expected, "{what}: each item once, in order");
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    let full = n.div_ceil(limit as usize).max(1);
    assert_eq!(sizes.len(), full, "{what}: page sizes {sizes:?}");
    assert!(
        sizes[..full - 1].iter().all(|&s| s == limit as usize),
        "{what}: only the last page may be short: {sizes:?}"
    );
}

/// N near a page boundary, near the store's page maximum, or anywhere.
fn item_counts(limit: usize, total: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            limit - 1,
            limit,
            limit + 1,
            2 * limit,
            99,
            100,
            101,
            200,
            201,
            ITEMS,
            total,
        ]),
        0..=total,
    ]
    .prop_map(move |n| n.min(total))
}

fn walks(total: usize) -> impl Strategy<Value = (u32, usize)> {
    (1u32..=100).prop_flat_map(move |limit| (Just(limit), item_counts(limit as usize, total)))
}

/// The boundary walks, then the random ones (on a thread that may block: each walk runs on
/// the test's runtime through `handle`).
fn check_walks(handle: &Handle, store: &DynStore, listing: &Listing) {
    let table = match &listing.positions {
        Positions::Known(table) => table.clone(),
        Positions::Opaque => handle.block_on(cursor_table(store, listing)),
    };
    assert_eq!(table.len(), listing.expected.len().max(1));
    for (limit, n) in BOUNDARY_WALKS {
        handle.block_on(walks_exactly(store, listing, &table, limit, n));
    }
    let mut config = ProptestConfig {
        cases: RANDOM_WALKS,
        max_shrink_iters: MAX_SHRINK_ITERS,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    let seed = config.rng_seed;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&walks(listing.expected.len()), |(limit, n)| {
        handle.block_on(walks_exactly(store, listing, &table, limit, n));
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (limit, n))) => panic!(
            "{:?}: a walk of {n} items with limit {limit} is not exact ({why}); replay with \
             PROPTEST_RNG_SEED={seed}",
            listing.source
        ),
        Err(TestError::Abort(why)) => panic!("{:?}: proptest aborted: {why}", listing.source),
    }
}

async fn check(store: DynStore, listing: Listing) {
    assert!(
        listing.expected.len() >= ITEMS,
        "{:?}: only {} items",
        listing.source,
        listing.expected.len()
    );
    let handle = Handle::current();
    let run = tokio::task::spawn_blocking(move || check_walks(&handle, &store, &listing));
    if let Err(e) = run.await {
        std::panic::resume_unwind(e.into_panic());
    }
}

// =============================================================================================
// Builders

/// When item `i` is made: `at` + (i − i / 3) ms, so every third item shares its millisecond
/// with the one before (and the listing's order falls back to the id there).
fn instant(at: DateTime<Utc>, i: usize) -> DateTime<Utc> {
    let i = i64::try_from(i).expect("small");
    at + Duration::milliseconds(i - i / 3)
}

/// `items` newest first by (time, id), the order of the charge, cash-out, payout and delivery
/// listings: their ids, and the cursor after each number of them (the last one shown's,
/// made by `cursor_of`) when it is not opaque.
fn newest_first<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> (DateTime<Utc>, String),
    cursor_of: Option<&dyn Fn(&T) -> Cursor>,
) -> (Vec<String>, Positions) {
    items.sort_by_key(|item| std::cmp::Reverse(key(item)));
    let ids = items.iter().map(|item| key(item).1).collect();
    let positions = match cursor_of {
        Some(cursor_of) => Positions::Known(after_each(&items, cursor_of)),
        None => Positions::Opaque,
    };
    (ids, positions)
}

/// `[None, cursor_of(items[0]), …, cursor_of(items[len − 2])]`: the cursor after each number
/// of items, for listings whose cursor is the position of the last item shown.
fn after_each<T>(items: &[T], cursor_of: &dyn Fn(&T) -> Cursor) -> Vec<Option<Cursor>> {
    let shown_before_the_last = items.len().saturating_sub(1);
    std::iter::once(None)
        .chain(
            items[..shown_before_the_last]
                .iter()
                .map(|i| Some(cursor_of(i))),
        )
        .collect()
}

/// An `additionalInfo` as big as validation lets a charge carry in two-byte characters (10
/// keys of 100 characters, values of 500): about 13 kB, so that 100 charges are more than the
/// 1 MB a DynamoDB Query returns at once.
fn big_additional_info() -> BTreeMap<String, String> {
    (0..10)
        .map(|i| {
            let key = format!("{i:02}-{}", "ã".repeat(97));
            (key, "ãçõéáíóúâê".repeat(50))
        })
        .collect()
}

/// [`ITEMS`] PENDING charges of one account with every seventh charge of another status in
/// between, each with a big `additionalInfo`; the listing of `status` (or of all).
async fn charges_listing(store: &DynStore, status: Option<ChargeStatus>) -> Listing {
    let account = AccountId::generate();
    let t = base_time();
    let others = [ChargeStatus::Confirmed, ChargeStatus::Expired];
    let mut listed: Vec<Charge> = Vec::new();
    for i in 0..ITEMS + ITEMS / 6 {
        let mut charge = charge_with_splits(&account, instant(t, i));
        if i % 7 == 6 {
            charge.status = others[i % 2];
        }
        charge.additional_info = big_additional_info();
        store.insert_charge(&charge, None).await.expect("insert");
        if status.is_none_or(|s| s == charge.status) {
            listed.push(charge);
        }
    }
    let (expected, positions) = newest_first(
        listed,
        |c| (c.created_at, c.transaction_id.to_string()),
        Some(&|c| Cursor::Charge(ChargeCursor::of(c))),
    );
    Listing {
        source: Source::Charges(account, status),
        expected,
        positions,
        empty: (Source::Charges(AccountId::generate(), status), None),
    }
}

/// A charge with splits confirmed and booked at `at`: R$ 50.00 of it becomes `available`
/// (four statement entries: incoming in; incoming out, available and reserve in).
async fn fund(store: &DynStore, account: &AccountId, at: DateTime<Utc>) {
    book(store, charge_with_splits(account, at), at).await;
}

/// Requests a cash-out of `cents` at `at` (one statement entry: available out).
async fn cash_out(
    store: &DynStore,
    account: &AccountId,
    n: usize,
    cents: i64,
    at: DateTime<Utc>,
) -> CashOut {
    let cash_out = CashOut {
        id: CashOutId::generate(),
        account_id: account.clone(),
        external_id: format!("saque-{n}"),
        amount: Money::from_cents(cents),
        description: "Saque para conta própria".into(),
        destination: CashOutDestination::PixKey {
            key: "11222333000181".into(),
            key_type: PixKeyType::Cnpj,
        },
        state: CashOutState::Processing,
        end_to_end_id: None,
        provider: "sandbox".into(),
        provider_transfer_id: None,
        failure_reason: None,
        created_at: at,
        updated_at: at,
    };
    let movement = Movement::transfer(
        MovementKind::CashoutRequested,
        account,
        cash_out.id.as_str(),
        LedgerAccount::Merchant(account.clone(), Bucket::Available),
        LedgerAccount::PixNetwork,
        cash_out.amount,
        at,
    )
    .expect("movement");
    let shards = store.balance_shards(account).await.expect("shards");
    let message = PipelineMessage::CashOutRequested {
        cash_out_id: cash_out.id.clone(),
        account_id: account.clone(),
    };
    let write = RequestCashOut {
        cash_out: cash_out.clone(),
        movement,
        draw: AvailableDraw::plan(&shards, cash_out.amount).expect("enough available"),
        outbox: vec![message.to_outbox(at)],
        completion: None,
    };
    assert_eq!(
        store.request_cash_out(&write).await,
        Ok(pixgw_domain::ledger::ports::MoneyOutOutcome::Applied)
    );
    cash_out
}

/// Charges funding [`cash_out_account`], one before every sixth of its first cash-outs.
const FUNDINGS: usize = 10;

/// One account with `count` cash-outs, funded by a charge with splits (R$ 50.00 each) before
/// every sixth of the first ones. Its statement mixes movements of one entry with those of
/// three, then runs movements of one entry only: there a page of 100 entries needs 101
/// movements to know where the next page starts, more than the store reads at once.
async fn cash_out_account(store: &DynStore, count: usize) -> (AccountId, Vec<CashOut>) {
    let account = AccountId::generate();
    let t = base_time();
    let mut cash_outs = Vec::new();
    for i in 0..count {
        let at = instant(t, i);
        if i % 6 == 0 && i / 6 < FUNDINGS {
            fund(store, &account, at).await;
        }
        // R$ 1.00, R$ 1.01, …: at most R$ 438.78 for 213 of them.
        let cents = 100 + i64::try_from(i).expect("small");
        cash_outs.push(cash_out(store, &account, i, cents, at).await);
    }
    (account, cash_outs)
}

async fn cash_outs_listing(store: &DynStore) -> Listing {
    let (account, cash_outs) = cash_out_account(store, ITEMS).await;
    let (expected, positions) = newest_first(
        cash_outs,
        |c| (c.created_at, c.id.to_string()),
        Some(&|c| Cursor::CashOut(CashOutCursor::of(c))),
    );
    Listing {
        source: Source::CashOuts(account),
        expected,
        positions,
        empty: (Source::CashOuts(AccountId::generate()), None),
    }
}

/// The statement of a [`cash_out_account`] with [`ITEMS`] entries (four per funding charge,
/// one per cash-out): oldest first, each movement's entries in leg order. Its cursor is the
/// next entry: its movement and its place among the movement's entries.
async fn statement_listing(store: &DynStore) -> Listing {
    let (account, cash_outs) = cash_out_account(store, ITEMS - 4 * FUNDINGS).await;
    let movements = movements(store, &account, cash_outs.len() + 2 * FUNDINGS).await;
    assert_eq!(movements.len(), cash_outs.len() + 2 * FUNDINGS);
    let mut expected = Vec::new();
    let mut positions = Vec::new();
    for movement in &movements {
        for (leg, entry) in entries_of(movement).into_iter().enumerate() {
            expected.push(entry.id);
            positions.push(Some(Cursor::Statement(StatementCursor {
                created_at_ms: movement.created_at.timestamp_millis(),
                movement_id: movement.id.clone(),
                leg,
            })));
        }
    }
    assert_eq!(expected.len(), ITEMS);
    // Before the first entry, no cursor at all.
    positions[0] = None;
    Listing {
        source: Source::Statement(account),
        expected,
        positions: Positions::Known(positions),
        empty: (Source::Statement(AccountId::generate()), None),
    }
}

/// [`ITEMS`] immediate payouts (a PIX transfer each): charges of ten immediate splits, each
/// split its own payout, all ten created in the same millisecond.
async fn payouts_listing(store: &DynStore) -> Listing {
    let account = AccountId::generate();
    let t = base_time();
    let mut payouts = Vec::new();
    for (n, chunk) in (0..ITEMS).collect::<Vec<_>>().chunks(10).enumerate() {
        let at = instant(t, n);
        let mut charge = charge_for(&account, chunk, 150, at);
        for split in &mut charge.splits {
            split.rule.immediate = true;
        }
        let write = book(store, charge, at).await;
        payouts.extend(write.payouts);
    }
    let (expected, positions) = newest_first(
        payouts,
        |p| (p.created_at, p.id.to_string()),
        Some(&|p| Cursor::Payout(PayoutCursor::of(p))),
    );
    Listing {
        source: Source::Payouts(account),
        expected,
        positions,
        empty: (Source::Payouts(AccountId::generate()), None),
    }
}

/// One scheduled payout of [`ITEMS`] splits to one recipient (ten per charge), made by the
/// payout scheduler; its manifest in key order.
async fn payout_splits_listing(store: &DynStore) -> Listing {
    let runs: Arc<dyn PayoutRunStore> = store.clone();
    let window = nine_am(10);
    let account = account_due_at(store, window).await;
    let mut refs = Vec::new();
    for (n, chunk) in (0..ITEMS).collect::<Vec<_>>().chunks(10).enumerate() {
        let at = window - Duration::hours(3) + Duration::milliseconds(i64::try_from(n).expect("n"));
        let charge = charge_for(&account, &vec![0; chunk.len()], 150, at);
        refs.extend((0..chunk.len()).map(|index| SplitRef {
            transaction_id: charge.transaction_id.clone(),
            index: u8::try_from(index).expect("index"),
        }));
        book(store, charge, at).await;
    }
    let clock = Arc::new(ManualClock::new(window + Duration::minutes(1)));
    let report = PayoutScheduler::with_config(runs, clock, SchedulerConfig::default())
        .run_due(window + Duration::minutes(1))
        .await
        .expect("payout run");
    assert_eq!((report.payouts, report.splits), (1, ITEMS), "{report:?}");
    let payout = store
        .get_splits(&refs[0].transaction_id)
        .await
        .expect("splits")[0]
        .payout_id
        .clone()
        .expect("the split is in a payout");
    refs.sort();
    let last = refs.last().cloned().map(Cursor::Split);
    Listing {
        source: Source::PayoutSplits(payout.clone()),
        expected: refs.iter().map(split_id).collect(),
        positions: Positions::Known(after_each(&refs, &|r| Cursor::Split(r.clone()))),
        empty: (Source::PayoutSplits(payout), last),
    }
}

/// A delivery that failed its 50 logged attempts, each with a long reason: about 12 kB, so
/// that 100 of them are more than the 1 MB a DynamoDB Query returns at once.
fn failed_delivery(account: &AccountId, n: usize, at: DateTime<Utc>) -> Delivery {
    let mut delivery = Delivery::new(
        account,
        &format!("evt_paging_{n}"),
        pixgw_domain::messaging::events::EventType::CashinConfirmed,
        at,
    );
    for number in 1..=50u32 {
        delivery.log_attempt(DeliveryAttempt {
            number,
            round: 0,
            at,
            status_code: Some(503),
            latency_ms: 812,
            error: Some(format!(
                "HTTP 503 Service Unavailable from https://loja.example.com.br/webhooks/pix \
                 (attempt {number}): the endpoint answered with a non-2xx status, so it is retried"
            )),
        });
    }
    delivery.status = DeliveryStatus::Failed;
    delivery.next_attempt_at = None;
    delivery
}

async fn deliveries_listing(store: &DynStore) -> Listing {
    let account = AccountId::generate();
    let t = base_time();
    let mut deliveries = Vec::new();
    for i in 0..ITEMS {
        let delivery = failed_delivery(&account, i, instant(t, i));
        assert_eq!(
            store.create_delivery(&delivery).await,
            Ok(WriteOutcome::Applied)
        );
        deliveries.push(delivery);
    }
    let (expected, positions) = newest_first(deliveries, |d| (d.created_at, d.id.clone()), None);
    Listing {
        source: Source::Deliveries(account),
        expected,
        positions,
        empty: (Source::Deliveries(AccountId::generate()), None),
    }
}

// =============================================================================================
// Cases

/// `GET /api/pix/cash-in`: newest first by (createdAt, transactionId).
pub async fn charges_walk_exactly(subject: Subject) {
    let store = subject.store.clone();
    let listing = charges_listing(&store, None).await;
    check(store, listing).await;
}

/// `GET /api/pix/cash-in?status=PENDING`: the status index, newest first.
pub async fn charges_of_one_status_walk_exactly(subject: Subject) {
    let store = subject.store.clone();
    let listing = charges_listing(&store, Some(ChargeStatus::Pending)).await;
    check(store, listing).await;
}

/// `GET /api/pix/cash-out`: newest first by (createdAt, id).
pub async fn cash_outs_walk_exactly(subject: Subject) {
    let store = subject.store.clone();
    let listing = cash_outs_listing(&store).await;
    check(store, listing).await;
}

/// `GET /api/payouts`: newest first by (createdAt, id).
pub async fn payouts_walk_exactly(subject: Subject) {
    let store = subject.store.clone();
    let listing = payouts_listing(&store).await;
    check(store, listing).await;
}

/// `GET /api/payouts/{id}` (the manifest of a scheduled payout) and the payout executor's
/// settlement: in key order (transactionId, index).
pub async fn a_payouts_splits_walk_exactly(subject: Subject) {
    let store = subject.store.clone();
    let listing = payout_splits_listing(&store).await;
    check(store, listing).await;
}

/// `GET /api/webhooks/deliveries`: newest first by (createdAt, id).
pub async fn webhook_deliveries_walk_exactly(subject: Subject) {
    let store = subject.store.clone();
    let listing = deliveries_listing(&store).await;
    check(store, listing).await;
}

/// `GET /api/account/statement`: oldest first by (createdAt, movementId), each movement's
/// entries in leg order.
pub async fn the_statement_walks_exactly(subject: Subject) {
    let store = subject.store.clone();
    let listing = statement_listing(&store).await;
    check(store, listing).await;
}
