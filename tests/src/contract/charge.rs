//! `ChargeStore` and `ChargeTransitions`: a charge is inserted with its per-account
//! `externalId` guard and (when given) its idempotency completion in one write, read back
//! whole, listed newest first; it is confirmed, expired or otherwise transitioned only from
//! the status the write names, each transition with its movement, events and outbox messages
//! in the same write; the expiry index holds exactly the PENDING charges.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::charge::ports::{
    ChargeCursor, ChargeQuery, ChargeTransition, InsertChargeError, Page,
};
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus, Payer};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::idempotency::{ClaimOutcome, IdempotencyClaim};
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::split::{SplitRule, SplitValue};
use pixgw_domain::webhooks::WebhookMessage;
use uuid::Uuid;

use super::{
    CNPJ, CNPJ_ALPHANUMERIC, CPF, Confirmed, Subject, assert_ledger, assert_unchanged, balance,
    balance_of, base_time, charge_with_splits, claim, claimed, completion, confirm_outbox,
    confirm_write, confirmed_charge, create_account, doc, eventually, ids_of, insert, merchant, ms,
    payment, pending_charge, plain_charge, response, snapshot, stored_charge, transfer,
};

// =============================================================================================
// Builders and reads

fn split(
    pix_key: &str,
    pix_key_type: PixKeyType,
    document: &str,
    value: SplitValue,
    immediate: bool,
    gross: Money,
) -> ChargeSplit {
    ChargeSplit {
        rule: SplitRule {
            pix_key: pix_key.into(),
            pix_key_type,
            name: format!("Recebedor {pix_key_type} — ção").into(),
            document: doc(document),
            value,
            immediate,
        },
        amount: value.share_of(gross).expect("a share within range"),
    }
}

/// A charge that exercises every field: FIXED and PERCENTAGE splits with every document kind,
/// unicode text, additional info, QR flag, a payer with an alphanumeric CNPJ.
fn rich_charge(account_id: &AccountId, external_id: &str, created_at: DateTime<Utc>) -> Charge {
    let gross = Money::from_cents(20_000);
    let splits = vec![
        split(
            CPF,
            PixKeyType::Cpf,
            CPF,
            SplitValue::Percentage(7000),
            true,
            gross,
        ),
        split(
            &Uuid::new_v4().to_string(),
            PixKeyType::Random,
            CNPJ,
            SplitValue::Fixed(Money::from_cents(1000)),
            false,
            gross,
        ),
        split(
            "+5511987654321",
            PixKeyType::Phone,
            CNPJ_ALPHANUMERIC,
            SplitValue::Percentage(1234),
            false,
            gross,
        ),
        split(
            "financeiro@loja.com.br",
            PixKeyType::Email,
            CPF,
            SplitValue::Fixed(Money::from_cents(1)),
            true,
            gross,
        ),
    ];
    let shares: i64 = splits.iter().map(|s| s.amount.cents()).sum();
    Charge {
        amount: gross,
        description: "Pedido nº 42 — café & pão de queijo ✓ 🚀 \"aspas\" \\ barra".into(),
        payer: Payer {
            full_name: "Zoë Araújo d'Ávila".into(),
            document: doc(CNPJ_ALPHANUMERIC),
        },
        additional_info: BTreeMap::from([
            (
                "observação".to_owned(),
                "entregar após 18h — portão 2".to_owned(),
            ),
            ("pedido".to_owned(), "42".to_owned()),
            ("vazio".to_owned(), String::new()),
        ]),
        remainder: Money::from_cents(gross.cents() - shares),
        splits,
        generate_qr_code: true,
        expiration_seconds: 86_400,
        expires_at: created_at + Duration::seconds(86_400),
        ..plain_charge(account_id, external_id, created_at)
    }
}

fn query(limit: u32) -> ChargeQuery {
    ChargeQuery {
        status: None,
        from: None,
        to: None,
        limit,
        after: None,
    }
}

async fn list(store: &DynStore, account_id: &AccountId, query: &ChargeQuery) -> Page<Charge> {
    store
        .list_charges(account_id, query)
        .await
        .expect("list charges")
}

async fn ids_listed(
    store: &DynStore,
    account_id: &AccountId,
    query: &ChargeQuery,
) -> Vec<TransactionId> {
    ids(&list(store, account_id, query).await.items)
}

fn ids(charges: &[Charge]) -> Vec<TransactionId> {
    charges.iter().map(|c| c.transaction_id.clone()).collect()
}

/// Ids ordered as a listing must return them: newest first by (created_at, transaction_id).
fn newest_first(charges: &[Charge]) -> Vec<TransactionId> {
    let mut sorted: Vec<&Charge> = charges.iter().collect();
    sorted
        .sort_by(|a, b| (b.created_at, &b.transaction_id).cmp(&(a.created_at, &a.transaction_id)));
    sorted.iter().map(|c| c.transaction_id.clone()).collect()
}

/// Follows `next` from the first page to the last, returning every page.
async fn walk(
    store: &DynStore,
    account_id: &AccountId,
    mut query: ChargeQuery,
) -> Vec<Page<Charge>> {
    let mut pages = Vec::new();
    loop {
        let page = list(store, account_id, &query).await;
        let next = page.next.clone();
        pages.push(page);
        assert!(pages.len() <= 100, "pagination does not terminate");
        match next {
            Some(cursor) => query.after = Some(cursor),
            None => return pages,
        }
    }
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

// =============================================================================================
// Insert and read

pub async fn charge_round_trips_every_field(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let t = base_time();
    let rich = rich_charge(&account.id, "pedido-42/ção", t);
    let plain = plain_charge(&account.id, "plain-1", t + ms(1));
    let cnpj_payer = Charge {
        payer: Payer {
            full_name: "Empresa Exemplo S.A.".into(),
            document: doc(CNPJ),
        },
        ..plain_charge(&account.id, "cnpj-1", t + ms(2))
    };
    for charge in [&rich, &plain, &cnpj_payer] {
        insert(&store, charge).await;
    }
    for charge in [&rich, &plain, &cnpj_payer] {
        assert_eq!(
            store.get_charge(&charge.transaction_id).await,
            Ok(Some(charge.clone()))
        );
        assert_eq!(
            store
                .find_charge_by_external_id(&account.id, &charge.external_id)
                .await,
            Ok(Some(charge.clone()))
        );
    }
    let page = list(&store, &account.id, &query(10)).await;
    assert_eq!(page.items, vec![cnpj_payer, plain, rich]);
    assert_eq!(page.next, None);
}

pub async fn missing_charges_are_none(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let (other, _) = create_account(&store).await;
    let charge = plain_charge(&account.id, "only-mine", base_time());
    insert(&store, &charge).await;
    assert_eq!(store.get_charge(&TransactionId::generate()).await, Ok(None));
    assert_eq!(
        store.find_charge_by_external_id(&account.id, "nope").await,
        Ok(None)
    );
    // An externalId no charge can have (longer than a key holds) is simply unknown.
    assert_eq!(
        store
            .find_charge_by_external_id(&account.id, &"x".repeat(5_000))
            .await,
        Ok(None)
    );
    assert_eq!(
        store
            .find_charge_by_external_id(&other.id, "only-mine")
            .await,
        Ok(None),
        "externalId lookups are per account"
    );
    assert_eq!(list(&store, &other.id, &query(10)).await.items, Vec::new());
}

pub async fn duplicate_external_id_keeps_the_first_charge(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let t = base_time();
    let first = plain_charge(&account.id, "order-1", t);
    insert(&store, &first).await;
    let second = Charge {
        amount: Money::from_cents(1),
        remainder: Money::from_cents(1),
        ..rich_charge(&account.id, "order-1", t + ms(5))
    };
    assert_eq!(
        store.insert_charge(&second, None).await,
        Err(InsertChargeError::DuplicateExternalId)
    );
    assert_eq!(store.get_charge(&second.transaction_id).await, Ok(None));
    assert_eq!(
        store
            .find_charge_by_external_id(&account.id, "order-1")
            .await,
        Ok(Some(first.clone()))
    );
    assert_eq!(
        list(&store, &account.id, &query(10)).await.items,
        vec![first]
    );
}

pub async fn same_external_id_on_two_accounts_is_fine(subject: Subject) {
    let store = subject.store.clone();
    let (a, _) = create_account(&store).await;
    let (b, _) = create_account(&store).await;
    let t = base_time();
    let of_a = plain_charge(&a.id, "shared-ext", t);
    let of_b = plain_charge(&b.id, "shared-ext", t);
    insert(&store, &of_a).await;
    insert(&store, &of_b).await;
    assert_eq!(
        store.find_charge_by_external_id(&a.id, "shared-ext").await,
        Ok(Some(of_a))
    );
    assert_eq!(
        store.find_charge_by_external_id(&b.id, "shared-ext").await,
        Ok(Some(of_b))
    );
}

pub async fn transaction_id_collision_writes_nothing(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let t = base_time();
    let first = plain_charge(&account.id, "ext-a", t);
    insert(&store, &first).await;
    let clash = Charge {
        transaction_id: first.transaction_id.clone(),
        ..plain_charge(&account.id, "ext-b", t + ms(1))
    };
    assert_eq!(
        store.insert_charge(&clash, None).await,
        Err(InsertChargeError::IdCollision)
    );
    assert_eq!(
        store.get_charge(&first.transaction_id).await,
        Ok(Some(first.clone()))
    );
    assert_eq!(
        store.find_charge_by_external_id(&account.id, "ext-b").await,
        Ok(None),
        "the externalId guard must not be written when the charge is not"
    );
    // …so the externalId is still free for a charge with a fresh id.
    insert(&store, &plain_charge(&account.id, "ext-b", t + ms(2))).await;
}

// =============================================================================================
// Insert with an idempotency completion

pub async fn insert_with_completion_replays_the_exact_response(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let claim_1 = claimed(claim(&store, &account.id, "key-1", "hash-A", "t1", now).await);
    let charge = rich_charge(&account.id, "ext-1", now);
    let body = "{\"transactionId\":\"x\",\"description\":\"café ✓ 🚀\",\"amount\":200.00}\n";
    store
        .insert_charge(&charge, Some(&completion(&claim_1, 201, body)))
        .await
        .expect("insert with completion");
    assert_eq!(
        store.get_charge(&charge.transaction_id).await,
        Ok(Some(charge.clone()))
    );
    for (token, at) in [("t2", now + ms(1)), ("t3", now + Duration::hours(1))] {
        assert_eq!(
            claim(&store, &account.id, "key-1", "hash-A", token, at).await,
            ClaimOutcome::Replay(response(201, body))
        );
    }
    assert_eq!(
        claim(&store, &account.id, "key-1", "hash-B", "t4", now).await,
        ClaimOutcome::Mismatch
    );
    // Completing or releasing a finished claim changes nothing.
    store
        .complete(&completion(&claim_1, 500, "other"))
        .await
        .expect("complete");
    store.release(&claim_1).await.expect("release");
    assert_eq!(
        claim(&store, &account.id, "key-1", "hash-A", "t5", now).await,
        ClaimOutcome::Replay(response(201, body))
    );
}

pub async fn completion_without_a_claim_is_claim_lost(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let never_claimed = IdempotencyClaim {
        account_id: account.id.clone(),
        key: "never-claimed".into(),
        lock_token: "ghost".into(),
        expires_at: now + Duration::hours(24),
    };
    let charge = plain_charge(&account.id, "ext-1", now);
    assert_eq!(
        store
            .insert_charge(&charge, Some(&completion(&never_claimed, 201, "{}")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    assert_eq!(store.get_charge(&charge.transaction_id).await, Ok(None));
    assert_eq!(
        store.find_charge_by_external_id(&account.id, "ext-1").await,
        Ok(None)
    );
    assert_eq!(
        list(&store, &account.id, &query(10)).await.items,
        Vec::new()
    );
    // No idempotency record was created either.
    claimed(claim(&store, &account.id, "never-claimed", "hash-A", "t1", now).await);
    // The externalId is free.
    insert(&store, &charge).await;
}

/// A claim completes ONE write: once a charge completed it, another charge presenting it is
/// refused as if the claim were lost, and nothing of it is written.
pub async fn a_completed_claim_cannot_complete_another_charge(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    let first = plain_charge(&account.id, "first", now);
    store
        .insert_charge(&first, Some(&completion(&held, 201, "first")))
        .await
        .expect("insert with the claim");
    let second = plain_charge(&account.id, "second", now + ms(1));
    assert_eq!(
        store
            .insert_charge(&second, Some(&completion(&held, 201, "second")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    assert_eq!(store.get_charge(&second.transaction_id).await, Ok(None));
    assert_eq!(
        store
            .find_charge_by_external_id(&account.id, "second")
            .await,
        Ok(None)
    );
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t2", now + ms(2)).await,
        ClaimOutcome::Replay(response(201, "first"))
    );
}

pub async fn insert_errors_have_a_precedence(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let first = plain_charge(&account.id, "ext-1", now);
    insert(&store, &first).await;
    let lost = IdempotencyClaim {
        account_id: account.id.clone(),
        key: "lost".into(),
        lock_token: "ghost".into(),
        expires_at: now + Duration::hours(24),
    };

    // All three fail: same id, same externalId, unknown claim.
    assert_eq!(
        store
            .insert_charge(&first, Some(&completion(&lost, 201, "{}")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    // Same id and same externalId.
    assert_eq!(
        store.insert_charge(&first, None).await,
        Err(InsertChargeError::DuplicateExternalId)
    );
    // Fresh id, same externalId, unknown claim.
    let fresh = plain_charge(&account.id, "ext-1", now + ms(1));
    assert_eq!(
        store
            .insert_charge(&fresh, Some(&completion(&lost, 201, "{}")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    assert_eq!(store.get_charge(&fresh.transaction_id).await, Ok(None));
    assert_eq!(
        store.get_charge(&first.transaction_id).await,
        Ok(Some(first))
    );
}

pub async fn failed_insert_leaves_the_claim_in_progress(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    insert(&store, &plain_charge(&account.id, "taken", now)).await;
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    let duplicate = plain_charge(&account.id, "taken", now + ms(1));
    assert_eq!(
        store
            .insert_charge(&duplicate, Some(&completion(&held, 201, "{}")))
            .await,
        Err(InsertChargeError::DuplicateExternalId)
    );
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t2", now + ms(2)).await,
        ClaimOutcome::InUse,
        "a failed insert must not complete the claim"
    );
    // The owner records the 409 (or releases); here it completes.
    store
        .complete(&completion(&held, 409, "dup"))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t3", now + ms(3)).await,
        ClaimOutcome::Replay(response(409, "dup"))
    );
}

// =============================================================================================
// Listing

pub async fn listing_walks_every_page_newest_first(subject: Subject) {
    let store = subject.store.clone();
    let (a, _) = create_account(&store).await;
    let (b, _) = create_account(&store).await;
    let t = base_time();
    // 45 charges for A, one per second, but every fifth shares its millisecond with the
    // previous one, so ties are broken by transaction id; 5 for B interleaved in time.
    let mut of_a = Vec::new();
    for i in 0..45 {
        let second = i - i64::from(i % 5 == 4);
        of_a.push(plain_charge(
            &a.id,
            &format!("a-{i}"),
            t + Duration::seconds(second),
        ));
    }
    let of_b: Vec<Charge> = (0..5)
        .map(|i| plain_charge(&b.id, &format!("b-{i}"), t + Duration::seconds(i * 9)))
        .collect();
    for charge in of_a.iter().chain(&of_b) {
        insert(&store, charge).await;
    }

    let pages = walk(&store, &a.id, query(10)).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert!(
        pages.len() >= 5,
        "45 charges need at least 5 pages of 10: {sizes:?}"
    );
    assert_eq!(
        &sizes[..4],
        &[10, 10, 10, 10],
        "full pages first: {sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 45, "page sizes {sizes:?}");
    for page in &pages[..4] {
        assert_eq!(
            page.next,
            page.items.last().map(ChargeCursor::of),
            "next is the cursor of the last item"
        );
    }
    let walked: Vec<TransactionId> = pages.iter().flat_map(|p| ids(&p.items)).collect();
    let unique: HashSet<&TransactionId> = walked.iter().collect();
    assert_eq!(unique.len(), walked.len(), "no charge twice");
    assert_eq!(
        walked,
        newest_first(&of_a),
        "all of A's charges, newest first"
    );
    // Every item is the full charge.
    let first_page = &pages[0].items;
    for item in first_page {
        let stored = of_a
            .iter()
            .find(|c| c.transaction_id == item.transaction_id)
            .expect("one of A's charges");
        assert_eq!(item, stored);
    }

    // A cursor in the middle: strictly older, ties within the millisecond included.
    let middle = newest_first(&of_a)[22].clone();
    let middle = of_a
        .iter()
        .find(|c| c.transaction_id == middle)
        .expect("middle charge");
    let after_middle = ChargeQuery {
        after: Some(ChargeCursor::of(middle)),
        ..query(100)
    };
    assert_eq!(
        ids_listed(&store, &a.id, &after_middle).await,
        newest_first(&of_a)[23..].to_vec()
    );

    // B sees only its own, and a big page needs no cursor.
    let page_b = list(&store, &b.id, &query(100)).await;
    assert_eq!(ids(&page_b.items), newest_first(&of_b));
    assert_eq!(page_b.next, None);
}

pub async fn listing_time_bounds_are_half_open_to_the_millisecond(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let t = base_time();
    let charges: Vec<Charge> = (0..4)
        .map(|i| plain_charge(&account.id, &format!("c{i}"), t + ms(i)))
        .collect();
    for charge in &charges {
        insert(&store, charge).await;
    }
    let id = |i: usize| charges[i].transaction_id.clone();
    let between = |from: Option<i64>, to: Option<i64>| ChargeQuery {
        from: from.map(|f| t + ms(f)),
        to: to.map(|x| t + ms(x)),
        ..query(100)
    };
    let cases = [
        (between(Some(1), Some(3)), vec![id(2), id(1)]),
        (between(Some(1), None), vec![id(3), id(2), id(1)]),
        (between(None, Some(3)), vec![id(2), id(1), id(0)]),
        (between(Some(0), Some(4)), vec![id(3), id(2), id(1), id(0)]),
        (between(Some(2), Some(3)), vec![id(2)]),
        (between(Some(2), Some(2)), vec![]),
        (between(Some(3), Some(1)), vec![]),
        (between(Some(4), None), vec![]),
        (between(None, Some(0)), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids_listed(&store, &account.id, &query).await,
            expected,
            "from {:?} to {:?}",
            query.from.map(|f| (f - t).num_milliseconds()),
            query.to.map(|x| (x - t).num_milliseconds()),
        );
    }
    // Bounds and cursor together.
    let with_cursor = ChargeQuery {
        after: Some(ChargeCursor::of(&charges[3])),
        ..between(Some(1), None)
    };
    assert_eq!(
        ids_listed(&store, &account.id, &with_cursor).await,
        vec![id(2), id(1)]
    );
}

pub async fn listing_filters_by_status(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let (other, _) = create_account(&store).await;
    let t = base_time();
    let statuses = [
        ChargeStatus::Pending,
        ChargeStatus::Expired,
        ChargeStatus::Pending,
        ChargeStatus::Confirmed,
        ChargeStatus::Expired,
        ChargeStatus::Pending,
        ChargeStatus::Expired,
    ];
    let charges: Vec<Charge> = statuses
        .iter()
        .enumerate()
        .map(|(i, status)| Charge {
            status: *status,
            ..plain_charge(
                &account.id,
                &format!("s{i}"),
                t + Duration::seconds(i as i64),
            )
        })
        .collect();
    for charge in &charges {
        insert(&store, charge).await;
    }
    insert(&store, &plain_charge(&other.id, "other", t)).await;

    let with_status = |status: ChargeStatus| -> Vec<Charge> {
        charges
            .iter()
            .filter(|c| c.status == status)
            .cloned()
            .collect()
    };
    for status in ChargeStatus::ALL {
        let query = ChargeQuery {
            status: Some(status),
            ..query(100)
        };
        assert_eq!(
            ids_listed(&store, &account.id, &query).await,
            newest_first(&with_status(status)),
            "status {status:?}"
        );
    }

    // Paging through one status, one item at a time.
    let pages = walk(
        &store,
        &account.id,
        ChargeQuery {
            status: Some(ChargeStatus::Expired),
            ..query(1)
        },
    )
    .await;
    let walked: Vec<TransactionId> = pages.iter().flat_map(|p| ids(&p.items)).collect();
    assert_eq!(walked, newest_first(&with_status(ChargeStatus::Expired)));

    // Status and time bounds together: PENDING within [t+1s, t+5s).
    let bounded = ChargeQuery {
        status: Some(ChargeStatus::Pending),
        from: Some(t + Duration::seconds(1)),
        to: Some(t + Duration::seconds(5)),
        ..query(100)
    };
    assert_eq!(
        ids_listed(&store, &account.id, &bounded).await,
        vec![charges[2].transaction_id.clone()]
    );
}

/// A limit of 0 still makes progress (one item and a cursor); times no stored key can hold
/// (before 1970, far in the future) and cursors before every charge are simply empty.
pub async fn listing_limits_and_unreachable_positions(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let t = base_time();
    let charges: Vec<Charge> = (0..3)
        .map(|i| plain_charge(&account.id, &format!("ext-{i}"), t + Duration::seconds(i)))
        .collect();
    for charge in &charges {
        insert(&store, charge).await;
    }

    let page = list(&store, &account.id, &query(0)).await;
    assert_eq!(ids(&page.items), vec![charges[2].transaction_id.clone()]);
    assert_eq!(page.next, Some(ChargeCursor::of(&charges[2])));

    let at = |ms: i64| Utc.timestamp_millis_opt(ms).single().expect("instant");
    for (from, to) in [
        (at(-5_000), at(-1)),
        (at(4_000_000_000_000_000), at(4_000_000_000_000_001)),
        (t + Duration::seconds(10), t),
    ] {
        let q = ChargeQuery {
            from: Some(from),
            to: Some(to),
            ..query(10)
        };
        let page = list(&store, &account.id, &q).await;
        assert_eq!((page.items, page.next), (Vec::new(), None), "{from} … {to}");
    }
    for status in [None, Some(ChargeStatus::Pending)] {
        let ancient = ChargeQuery {
            status,
            after: Some(ChargeCursor {
                created_at_ms: -5,
                transaction_id: TransactionId::generate(),
            }),
            ..query(10)
        };
        assert_eq!(
            list(&store, &account.id, &ancient).await.items,
            Vec::new(),
            "a cursor before the epoch: nothing older ({status:?})"
        );
    }
}

/// A cursor only positions the listing inside the account's own charges: one taken from
/// another account's listing shows strictly older charges of this account, never theirs.
pub async fn a_cursor_from_another_account_never_reveals_its_charges(subject: Subject) {
    let store = subject.store.clone();
    let (a, _) = create_account(&store).await;
    let (b, _) = create_account(&store).await;
    let t = base_time();
    let statuses = [ChargeStatus::Pending, ChargeStatus::Expired];
    let charge_of = |account: &AccountId, tag: &str, i: i64, at: DateTime<Utc>| Charge {
        status: statuses[(i % 2) as usize],
        ..plain_charge(account, &format!("{tag}-{i}"), at)
    };
    // A's charges three per millisecond, B's interleaved in time.
    let of_a: Vec<Charge> = (0..30)
        .map(|i| charge_of(&a.id, "a", i, t + ms(i / 3 * 10)))
        .collect();
    let of_b: Vec<Charge> = (0..10)
        .map(|i| charge_of(&b.id, "b", i, t + ms(i * 30 + 5)))
        .collect();
    for charge in of_a.iter().chain(&of_b) {
        insert(&store, charge).await;
    }
    let b_ids: HashSet<TransactionId> = ids(&of_b).into_iter().collect();

    for b_charge in [&of_b[0], &of_b[5], &of_b[9]] {
        let cursor = ChargeCursor::of(b_charge);
        for status in [None, Some(ChargeStatus::Pending)] {
            let q = ChargeQuery {
                status,
                after: Some(cursor.clone()),
                ..query(7)
            };
            let seen = walk(&store, &a.id, q).await;
            let seen: Vec<TransactionId> = seen.iter().flat_map(|p| ids(&p.items)).collect();
            assert!(seen.iter().all(|id| !b_ids.contains(id)), "{seen:?}");
            let older: Vec<Charge> = of_a
                .iter()
                .filter(|c| status.is_none_or(|s| c.status == s))
                .filter(|c| {
                    (c.created_at.timestamp_millis(), &c.transaction_id)
                        < (cursor.created_at_ms, &cursor.transaction_id)
                })
                .cloned()
                .collect();
            assert_eq!(seen, newest_first(&older), "after {cursor:?}, {status:?}");
        }
    }
    // And B, listed with A's cursor, sees only B's.
    let q = ChargeQuery {
        after: Some(ChargeCursor::of(&of_a[29])),
        ..query(100)
    };
    let seen = list(&store, &b.id, &q).await.items;
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|c| c.account_id == b.id));
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
    // Its message under an id of its own, so that one leaking out of the refused write shows.
    other.outbox[0].id = format!("never-{}", other.outbox[0].id);
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
    assert_eq!(store.movement_exists(&write.movement.id).await, Ok(false));
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

/// A confirmation records its events once, each with its webhook message beside the
/// confirmation's own message; a write carrying the same event twice, or a retried
/// confirmation (a duplicate provider webhook, even reported later), writes nothing.
pub async fn a_confirmation_records_its_event_once_with_one_webhook_message(subject: Subject) {
    let store = &subject.store;
    let charge = pending_charge(store).await;
    let account = &charge.account_id;
    let at = charge.created_at + Duration::seconds(1);
    let write = confirm_write(&charge, payment(at), at);
    let event = write.events[0].clone();

    let mut doubled = write.clone();
    doubled.events.push(event.clone());
    assert_eq!(
        store.confirm_charge(&doubled).await,
        Ok(WriteOutcome::Conflict),
        "two copies of one event"
    );
    assert_eq!(
        stored_charge(store, &charge.transaction_id)
            .await
            .map(|c| c.status),
        Some(ChargeStatus::Pending)
    );
    assert_eq!(store.get_event(account, &event.id).await, Ok(None));

    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let listed = eventually(
        || async move { store.list_events(account, None, 10).await.expect("events") },
        |events| !events.is_empty(),
    )
    .await;
    assert_eq!(listed, vec![event.clone()]);
    assert_eq!(
        store.get_event(account, &event.id).await,
        Ok(Some(event.clone()))
    );
    let webhook = WebhookMessage::for_event(&event);
    let expected = ids_of(&[write.outbox[0].clone(), webhook.clone()]);
    subject.assert_outbox(expected.clone()).await;
    let waiting = subject.outbox_messages().await;
    assert!(waiting.contains(&webhook), "the webhook message, whole");
    assert_eq!(
        WebhookMessage::parse(&webhook.body).expect("a webhook message"),
        WebhookMessage::Event {
            event_id: event.id.clone(),
            account_id: account.clone(),
        }
    );

    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    let mut later = write.clone();
    later.confirmed_at = at + Duration::minutes(1);
    later.events[0].occurred_at = later.confirmed_at;
    assert_eq!(
        store.confirm_charge(&later).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        store.list_events(account, None, 10).await,
        Ok(vec![event.clone()])
    );
    subject.assert_outbox(expected).await;
}

/// Another charge's confirmation carrying an event that is already recorded: the event's
/// condition alone refuses it, and nothing of it is written.
pub async fn a_confirmation_whose_event_exists_already_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let first = confirmed_charge(store).await;
    let second = charge_with_splits(&first.charge.account_id, base_time());
    insert(store, &second).await;
    let at = second.created_at + Duration::seconds(1);
    let mut clash = confirm_write(&second, payment(at), at);
    clash.events = first.confirm.events.clone();
    let before = snapshot(&subject, &second, 1).await;

    assert_eq!(
        store.confirm_charge(&clash).await,
        Ok(WriteOutcome::Conflict)
    );

    assert_unchanged(
        &before,
        &snapshot(&subject, &second, 1).await,
        "confirm with a recorded event",
    );
    assert_eq!(store.movement_exists(&clash.movement.id).await, Ok(false));
    subject
        .assert_outbox(ids_of(&confirm_outbox(&first.confirm)))
        .await;
    assert_eq!(
        store
            .list_events(&first.charge.account_id, None, 10)
            .await
            .map(|e| e.len()),
        Ok(1)
    );

    // Without the duplicate it goes through, with its own event and messages.
    let ok = confirm_write(&second, payment(at), at);
    assert_eq!(store.confirm_charge(&ok).await, Ok(WriteOutcome::Applied));
    subject
        .assert_outbox(ids_of(
            confirm_outbox(&first.confirm)
                .iter()
                .chain(&confirm_outbox(&ok)),
        ))
        .await;
}

// =============================================================================================
// Transitions and the expiry index

/// PENDING → EXPIRED at `at`, recording CASHIN_EXPIRED.
fn expire(charge: &Charge, at: DateTime<Utc>) -> ChargeTransition {
    let event = AccountEvent::new(
        &charge.account_id,
        EventType::CashinExpired,
        charge.transaction_id.as_str(),
        at,
        serde_json::json!({ "transactionId": charge.transaction_id.as_str() }),
    );
    ChargeTransition {
        charge: Charge {
            status: ChargeStatus::Expired,
            ..charge.clone()
        },
        from: ChargeStatus::Pending,
        from_revision: 0,
        movement: None,
        events: vec![event],
        outbox: Vec::new(),
    }
}

fn expiring(account: &AccountId, external_id: &str, now: DateTime<Utc>, in_s: i64) -> Charge {
    Charge {
        expires_at: now + Duration::seconds(in_s),
        ..plain_charge(account, external_id, now)
    }
}

fn ids_of_charges(charges: Vec<Charge>) -> Vec<TransactionId> {
    charges.into_iter().map(|c| c.transaction_id).collect()
}

pub async fn a_transition_is_conditioned_on_the_stored_status(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let charge = plain_charge(&account.id, "tr-1", base_time());
    insert(&store, &charge).await;
    let write = expire(&charge, charge.expires_at);
    let wrong = ChargeTransition {
        from: ChargeStatus::Confirmed,
        ..write.clone()
    };

    assert_eq!(
        store.transition_charge(&wrong).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        stored_charge(&store, &charge.transaction_id).await,
        Some(charge.clone())
    );
    assert_eq!(
        store.transition_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store.transition_charge(&write).await,
        Ok(WriteOutcome::Conflict)
    );
    assert_eq!(
        stored_charge(&store, &charge.transaction_id).await,
        Some(write.charge.clone())
    );
    // The status listings follow.
    let expired = listed_with_status(&store, &account.id, ChargeStatus::Expired, |ids| {
        !ids.is_empty()
    })
    .await;
    assert_eq!(expired, vec![charge.transaction_id.clone()]);
    let pending = listed_with_status(&store, &account.id, ChargeStatus::Pending, |ids| {
        ids.is_empty()
    })
    .await;
    assert_eq!(pending, Vec::new());
    let events = eventually(
        || async {
            store
                .list_events(&account.id, None, 10)
                .await
                .expect("events")
        },
        |events| !events.is_empty(),
    )
    .await;
    assert_eq!(events, write.events, "recorded once");
}

/// A payment the PIX network settled after the charge expired is still the merchant's money:
/// EXPIRED → CONFIRMED applies, once.
pub async fn confirming_an_expired_charge_applies(subject: Subject) {
    let store = &subject.store;
    let charge = pending_charge(store).await;
    assert_eq!(
        store
            .transition_charge(&expire(&charge, charge.expires_at))
            .await,
        Ok(WriteOutcome::Applied)
    );
    let late = charge.expires_at + Duration::minutes(5);
    let write = confirm_write(&charge, payment(late), late);
    assert_eq!(
        store.confirm_charge(&write).await,
        Ok(WriteOutcome::Applied)
    );
    let confirmed = stored_charge(store, &charge.transaction_id)
        .await
        .expect("charge");
    assert_eq!(confirmed.status, ChargeStatus::Confirmed);
    assert!(confirmed.paid_after_expiration());
    assert_eq!(
        balance(store, &charge.account_id).await,
        balance_of(20_000, 0, 0)
    );
    assert_eq!(
        store
            .expired_pending_charges(late + Duration::days(1), 10)
            .await,
        Ok(Vec::new())
    );
    // Once CONFIRMED, a second report of a payment is refused as before.
    let again = late + Duration::minutes(1);
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&charge, payment(again), again))
            .await,
        Ok(WriteOutcome::Conflict)
    );
}

/// The sweeper's index: PENDING charges whose expiry is at or before `now` (inclusive),
/// soonest first, up to the limit; a charge leaves it when it is confirmed or expired.
pub async fn the_expiry_index_holds_only_pending_charges_soonest_first(subject: Subject) {
    let store = &subject.store;
    let account = AccountId::generate();
    let t = base_time();
    let late = expiring(&account, "late", t, 300);
    let soon = expiring(&account, "soon", t, 100);
    let middle = expiring(&account, "middle", t, 200);
    let paid = expiring(&account, "paid", t, 150);
    let much_later = expiring(&account, "much-later", t, 86_400);
    for charge in [&late, &soon, &middle, &paid, &much_later] {
        insert(store, charge).await;
    }
    let due = |now: DateTime<Utc>, limit: usize, n: usize| async move {
        let charges = eventually(
            || async move {
                store
                    .expired_pending_charges(now, limit)
                    .await
                    .expect("due charges")
            },
            |charges| charges.len() == n,
        )
        .await;
        ids_of_charges(charges)
    };
    let id = |c: &Charge| c.transaction_id.clone();

    assert_eq!(
        due(t + Duration::seconds(200), 10, 3).await,
        vec![id(&soon), id(&paid), id(&middle)]
    );
    assert_eq!(
        due(t + Duration::seconds(400), 2, 2).await,
        vec![id(&soon), id(&paid)]
    );
    assert_eq!(
        due(soon.expires_at, 10, 1).await,
        vec![id(&soon)],
        "due exactly at its expiry"
    );
    assert_eq!(due(soon.expires_at - ms(1), 10, 0).await, Vec::new());

    // Confirmed by a payment, expired by the sweeper: both leave the index.
    let at = t + Duration::seconds(10);
    assert_eq!(
        store
            .confirm_charge(&confirm_write(&paid, payment(at), at))
            .await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        store
            .transition_charge(&expire(&soon, soon.expires_at))
            .await,
        Ok(WriteOutcome::Applied)
    );
    assert_eq!(
        due(t + Duration::seconds(400), 10, 2).await,
        vec![id(&middle), id(&late)]
    );
    assert_eq!(
        due(t + Duration::days(2), 10, 3).await,
        vec![id(&middle), id(&late), id(&much_later)]
    );
}

// =============================================================================================
// Concurrency

pub async fn concurrent_inserts_with_one_external_id_create_one_charge(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let t = base_time();
    let candidates: Vec<Charge> = (0..50)
        .map(|i| plain_charge(&account.id, "contended", t + ms(i)))
        .collect();
    let tasks = candidates.iter().cloned().map(|charge| {
        let store = store.clone();
        tokio::spawn(async move {
            let result = store.insert_charge(&charge, None).await;
            (charge.transaction_id, result)
        })
    });
    let results: Vec<(TransactionId, Result<(), InsertChargeError>)> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();

    let winners: Vec<&TransactionId> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(id, _)| id)
        .collect();
    let others: Vec<&Result<(), InsertChargeError>> = results
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.is_err())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one insert wins: {results:?}");
    assert!(
        others
            .iter()
            .all(|r| **r == Err(InsertChargeError::DuplicateExternalId)),
        "every other insert is a DuplicateExternalId: {others:?}"
    );
    let winner = winners[0];
    let found = store
        .find_charge_by_external_id(&account.id, "contended")
        .await
        .expect("find")
        .expect("the winner is stored");
    assert_eq!(&found.transaction_id, winner);
    assert_eq!(
        ids_listed(&store, &account.id, &query(100)).await,
        vec![winner.clone()]
    );
    for (id, result) in &results {
        if result.is_err() {
            assert_eq!(store.get_charge(id).await, Ok(None), "loser {id} stored");
        }
    }
}

/// The whole insert under contention: each writer holds its own idempotency claim and
/// completes it in the same write as its charge. Only the winner's claim is completed; every
/// loser's stays in progress (its owner then records the 409 or releases it).
pub async fn concurrent_idempotent_inserts_complete_only_the_winners_claim(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let tasks = (0..50).map(|i| {
        let store = store.clone();
        let account_id = account.id.clone();
        tokio::spawn(async move {
            let key = format!("key-{i}");
            let held = claimed(claim(&store, &account_id, &key, "hash-A", "t1", now).await);
            let charge = plain_charge(&account_id, "contended", now + ms(i));
            let result = store
                .insert_charge(&charge, Some(&completion(&held, 201, "won")))
                .await;
            let retry = claim(&store, &account_id, &key, "hash-A", "t2", now + ms(100)).await;
            (result, retry)
        })
    });
    let (mut won, mut lost) = (0, 0);
    for joined in join_all(tasks).await {
        match joined.expect("task") {
            (Ok(()), ClaimOutcome::Replay(replayed)) => {
                assert_eq!(replayed, response(201, "won"));
                won += 1;
            }
            (Err(InsertChargeError::DuplicateExternalId), ClaimOutcome::InUse) => lost += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((won, lost), (1, 49));
    assert_eq!(list(&store, &account.id, &query(100)).await.items.len(), 1);
}

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
