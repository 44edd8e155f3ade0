//! The storage contract: one suite of cases every adapter of the storage ports must pass
//! (DynamoDB and the embedded store), so the local gateway behaves like production.
//!
//! Each case is an `async fn(DynStore)` that panics on a violation. `tests/store_contract.rs`
//! runs every case against a fresh, empty store of each adapter; the list of cases is
//! [`store_contract_cases!`], kept next to the cases so a new one cannot be forgotten.
//!
//! Times are based on the real clock (rounded to the millisecond, as stored) rather than a
//! fixed date, so no record is ever old enough for a storage TTL to remove it mid-test; the
//! cases move `now` explicitly where they need expiry.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::join_all;
use pixgw_api::store::DynStore;
use pixgw_domain::account::ports::CreateAccountError;
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::charge::ports::{ChargeCursor, ChargeQuery, InsertChargeError, Page};
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus, Payer};
use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyCompletion, StoredResponse,
};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::split::{SplitRule, SplitValue};
use uuid::Uuid;

/// Calls `$callback!($($args)*; sequential: [...], concurrent: [...])` with every case of the
/// contract. `concurrent` cases need a multi-threaded runtime.
#[macro_export]
macro_rules! store_contract_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            sequential: [
                account_round_trips,
                duplicate_account_id_writes_nothing,
                duplicate_client_id_writes_nothing,
                charge_round_trips_every_field,
                missing_charges_are_none,
                duplicate_external_id_keeps_the_first_charge,
                same_external_id_on_two_accounts_is_fine,
                transaction_id_collision_writes_nothing,
                claim_is_exclusive,
                claim_with_a_different_body_is_a_mismatch,
                idempotency_keys_are_per_account,
                insert_with_completion_replays_the_exact_response,
                complete_alone_replays_the_response,
                wrong_lock_token_changes_nothing,
                release_frees_the_key,
                lease_expiry_lets_the_same_request_take_over,
                expired_record_counts_as_absent,
                completion_without_a_claim_is_claim_lost,
                insert_errors_have_a_precedence,
                failed_insert_leaves_the_claim_in_progress,
                listing_walks_every_page_newest_first,
                listing_time_bounds_are_half_open_to_the_millisecond,
                listing_filters_by_status,
            ],
            concurrent: [
                concurrent_inserts_with_one_external_id_create_one_charge,
                concurrent_claims_grant_exactly_one,
            ],
        }
    };
}

// =============================================================================================
// Builders

/// "Now", rounded to the millisecond like every stored time.
fn base_time() -> DateTime<Utc> {
    let ms = Utc::now().timestamp_millis();
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("now is representable")
}

fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

fn doc(number: &str) -> TaxDocument {
    TaxDocument::parse(number).unwrap_or_else(|e| panic!("{number} must be valid: {e:?}"))
}

const CPF: &str = "12345678909";
const CNPJ: &str = "11222333000181";
const CNPJ_ALPHANUMERIC: &str = "12ABC34501DE35";

fn new_account() -> (Account, ClientCredential) {
    let id = AccountId::generate();
    let account = Account {
        id: id.clone(),
        name: "Padaria Pão de Açúcar Ltda.".into(),
        merchant_name: "PADARIA PAO DE ACUCAR".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: format!("v1:{}", Uuid::new_v4().simple()),
        providers: Vec::new(),
        created_at: base_time(),
    };
    let credential = new_credential(&id);
    (account, credential)
}

fn new_credential(account_id: &AccountId) -> ClientCredential {
    ClientCredential {
        client_id: format!("cli_{}", Uuid::new_v4().simple()),
        account_id: account_id.clone(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        created_at: base_time(),
    }
}

/// A minimal charge: no splits, no additional info.
fn plain_charge(account_id: &AccountId, external_id: &str, created_at: DateTime<Utc>) -> Charge {
    Charge {
        transaction_id: TransactionId::generate(),
        account_id: account_id.clone(),
        correlation_id: Uuid::new_v4(),
        external_id: external_id.to_owned(),
        status: ChargeStatus::Pending,
        amount: Money::from_cents(4990),
        description: "Pedido simples".into(),
        payer: Payer {
            full_name: "Maria Souza".into(),
            document: doc(CPF),
        },
        additional_info: BTreeMap::new(),
        splits: Vec::new(),
        remainder: Money::from_cents(4990),
        pix_code: "00020101021226830014br.gov.bcb.pix2561pix.example.com/qr/v2/cobv/abc5204000053039865802BR6304ABCD".into(),
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

struct ClaimSpec<'a> {
    account_id: &'a AccountId,
    key: &'a str,
    hash: &'a str,
    token: &'a str,
    now: DateTime<Utc>,
}

impl<'a> ClaimSpec<'a> {
    /// A claim made at `now` with a 30 s lease and a 24 h life.
    fn request(&self) -> ClaimRequest<'a> {
        ClaimRequest {
            account_id: self.account_id,
            key: self.key,
            request_hash: self.hash,
            lock_token: self.token,
            now: self.now,
            lease_until: self.now + Duration::seconds(30),
            expires_at: self.now + Duration::hours(24),
        }
    }
}

async fn claim(
    store: &DynStore,
    account_id: &AccountId,
    key: &str,
    hash: &str,
    token: &str,
    now: DateTime<Utc>,
) -> ClaimOutcome {
    let spec = ClaimSpec {
        account_id,
        key,
        hash,
        token,
        now,
    };
    store.claim(&spec.request()).await.expect("claim")
}

#[track_caller]
fn claimed(outcome: ClaimOutcome) -> IdempotencyClaim {
    match outcome {
        ClaimOutcome::Claimed(claim) => claim,
        other => panic!("expected Claimed, got {other:?}"),
    }
}

fn response(status: u16, body: &str) -> StoredResponse {
    StoredResponse {
        status,
        body: body.to_owned(),
    }
}

fn completion(claim: &IdempotencyClaim, status: u16, body: &str) -> IdempotencyCompletion {
    IdempotencyCompletion {
        claim: claim.clone(),
        response: response(status, body),
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

async fn create(store: &DynStore) -> (Account, ClientCredential) {
    let (account, credential) = new_account();
    store
        .create_account(&account, &credential)
        .await
        .expect("create account");
    (account, credential)
}

async fn insert(store: &DynStore, charge: &Charge) {
    store
        .insert_charge(charge, None)
        .await
        .unwrap_or_else(|e| panic!("insert charge {}: {e:?}", charge.transaction_id));
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

// =============================================================================================
// Accounts

pub async fn account_round_trips(store: DynStore) {
    let (account, credential) = create(&store).await;
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(account.clone()))
    );
    assert_eq!(
        store.find_client(&credential.client_id).await,
        Ok(Some(credential.clone()))
    );
    assert_eq!(store.get_account(&AccountId::generate()).await, Ok(None));
    assert_eq!(store.find_client("cli_unknown").await, Ok(None));
}

pub async fn duplicate_account_id_writes_nothing(store: DynStore) {
    let (account, _credential) = create(&store).await;
    let renamed = Account {
        name: "Impostor".into(),
        ..account.clone()
    };
    let fresh_client = new_credential(&account.id);
    assert_eq!(
        store.create_account(&renamed, &fresh_client).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
    assert_eq!(
        store.find_client(&fresh_client.client_id).await,
        Ok(None),
        "the new client must not be written when the account id is taken"
    );
}

pub async fn duplicate_client_id_writes_nothing(store: DynStore) {
    let (_account, credential) = create(&store).await;
    let (other, _) = new_account();
    let stolen = ClientCredential {
        account_id: other.id.clone(),
        ..credential.clone()
    };
    assert_eq!(
        store.create_account(&other, &stolen).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(
        store.get_account(&other.id).await,
        Ok(None),
        "the new account must not be written when the client id is taken"
    );
    assert_eq!(
        store.find_client(&credential.client_id).await,
        Ok(Some(credential))
    );
}

// =============================================================================================
// Charges

pub async fn charge_round_trips_every_field(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn missing_charges_are_none(store: DynStore) {
    let (account, _) = create(&store).await;
    let (other, _) = create(&store).await;
    let charge = plain_charge(&account.id, "only-mine", base_time());
    insert(&store, &charge).await;
    assert_eq!(store.get_charge(&TransactionId::generate()).await, Ok(None));
    assert_eq!(
        store.find_charge_by_external_id(&account.id, "nope").await,
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

pub async fn duplicate_external_id_keeps_the_first_charge(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn same_external_id_on_two_accounts_is_fine(store: DynStore) {
    let (a, _) = create(&store).await;
    let (b, _) = create(&store).await;
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

pub async fn transaction_id_collision_writes_nothing(store: DynStore) {
    let (account, _) = create(&store).await;
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
// Idempotency

pub async fn claim_is_exclusive(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let spec = ClaimSpec {
        account_id: &account.id,
        key: "8a4a5c3e-0d1f-4a52-9d0b-7d1e4f3a2b10",
        hash: "hash-A",
        token: "token-1",
        now,
    };
    let request = spec.request();
    assert_eq!(
        store.claim(&request).await,
        Ok(ClaimOutcome::Claimed(IdempotencyClaim {
            account_id: account.id.clone(),
            key: spec.key.to_owned(),
            lock_token: "token-1".into(),
            expires_at: request.expires_at,
        }))
    );
    let again = claim(
        &store,
        &account.id,
        spec.key,
        "hash-A",
        "token-2",
        now + ms(10),
    )
    .await;
    assert_eq!(again, ClaimOutcome::InUse);
    // Still in use right at the end of the lease (expired means lease_until < now).
    let at_lease_end = now + Duration::seconds(30);
    let again = claim(
        &store,
        &account.id,
        spec.key,
        "hash-A",
        "token-3",
        at_lease_end,
    )
    .await;
    assert_eq!(again, ClaimOutcome::InUse);
}

pub async fn claim_with_a_different_body_is_a_mismatch(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let first = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    assert_eq!(
        claim(&store, &account.id, "k", "hash-B", "t2", now).await,
        ClaimOutcome::Mismatch,
        "in progress with another body"
    );
    store
        .complete(&completion(&first, 201, "{}"))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-B", "t3", now).await,
        ClaimOutcome::Mismatch,
        "completed with another body"
    );
    // A mismatch even once the lease ran out: a lease only lets the SAME request take over.
    let later = now + Duration::minutes(5);
    let other = claimed(claim(&store, &account.id, "k2", "hash-A", "t4", now).await);
    assert_eq!(
        claim(&store, &account.id, "k2", "hash-B", "t5", later).await,
        ClaimOutcome::Mismatch
    );
    store.release(&other).await.expect("release");
}

pub async fn idempotency_keys_are_per_account(store: DynStore) {
    let (a, _) = create(&store).await;
    let (b, _) = create(&store).await;
    let now = base_time();
    claimed(claim(&store, &a.id, "same-key", "hash-A", "t1", now).await);
    let of_b = claimed(claim(&store, &b.id, "same-key", "hash-B", "t2", now).await);
    assert_eq!(of_b.account_id, b.id);
}

pub async fn insert_with_completion_replays_the_exact_response(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn complete_alone_replays_the_response(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    store
        .complete(&completion(
            &held,
            409,
            "{\"code\":\"DUPLICATE_EXTERNAL_ID\"}",
        ))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t2", now + ms(1)).await,
        ClaimOutcome::Replay(response(409, "{\"code\":\"DUPLICATE_EXTERNAL_ID\"}"))
    );
}

pub async fn wrong_lock_token_changes_nothing(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "right", now).await);
    let forged = IdempotencyClaim {
        lock_token: "wrong".into(),
        ..held.clone()
    };
    store
        .complete(&completion(&forged, 201, "forged"))
        .await
        .expect("complete with a wrong token is a silent no-op");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t2", now + ms(1)).await,
        ClaimOutcome::InUse,
        "a wrong token must not complete the claim"
    );
    store
        .release(&forged)
        .await
        .expect("release with a wrong token is a silent no-op");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t3", now + ms(2)).await,
        ClaimOutcome::InUse,
        "a wrong token must not release the claim"
    );
    // The real owner still can.
    store
        .complete(&completion(&held, 201, "real"))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t4", now + ms(3)).await,
        ClaimOutcome::Replay(response(201, "real"))
    );
}

pub async fn release_frees_the_key(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    store.release(&held).await.expect("release");
    // A corrected retry (different body) may now use the key.
    let retry = claimed(claim(&store, &account.id, "k", "hash-B", "t2", now + ms(1)).await);
    assert_eq!(retry.lock_token, "t2");
    // Releasing the old claim again does not free the new one.
    store.release(&held).await.expect("release");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-B", "t3", now + ms(2)).await,
        ClaimOutcome::InUse
    );
}

pub async fn lease_expiry_lets_the_same_request_take_over(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let old = claimed(claim(&store, &account.id, "k", "hash-A", "old", now).await);
    let after_lease = now + Duration::seconds(31);
    let new = claimed(claim(&store, &account.id, "k", "hash-A", "new", after_lease).await);
    assert_eq!(new.lock_token, "new");
    assert_eq!(new.expires_at, after_lease + Duration::hours(24));

    // The crashed owner wakes up and tries to finish: its claim is lost, nothing is written.
    let charge = plain_charge(&account.id, "ext-1", now);
    assert_eq!(
        store
            .insert_charge(&charge, Some(&completion(&old, 201, "old")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    assert_eq!(store.get_charge(&charge.transaction_id).await, Ok(None));
    assert_eq!(
        store.find_charge_by_external_id(&account.id, "ext-1").await,
        Ok(None)
    );
    store
        .complete(&completion(&old, 201, "old"))
        .await
        .expect("complete of a lost claim is a no-op");
    store
        .release(&old)
        .await
        .expect("release of a lost claim is a no-op");
    assert_eq!(
        claim(
            &store,
            &account.id,
            "k",
            "hash-A",
            "third",
            after_lease + ms(1)
        )
        .await,
        ClaimOutcome::InUse,
        "the new owner still holds the key"
    );

    // The new owner finishes normally.
    store
        .insert_charge(&charge, Some(&completion(&new, 201, "new")))
        .await
        .expect("insert by the new owner");
    assert_eq!(
        claim(
            &store,
            &account.id,
            "k",
            "hash-A",
            "fourth",
            after_lease + ms(2)
        )
        .await,
        ClaimOutcome::Replay(response(201, "new"))
    );
}

pub async fn expired_record_counts_as_absent(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let day_later = now + Duration::hours(24);

    // A completed record, replayed until it expires, then absent even for another body.
    let done = claimed(claim(&store, &account.id, "done", "hash-A", "t1", now).await);
    store
        .complete(&completion(&done, 201, "{}"))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "done", "hash-A", "t2", day_later).await,
        ClaimOutcome::Replay(response(201, "{}")),
        "still live exactly at expires_at"
    );
    let after = day_later + Duration::seconds(1);
    let reclaimed = claimed(claim(&store, &account.id, "done", "hash-B", "t3", after).await);
    assert_eq!(reclaimed.lock_token, "t3");
    assert_eq!(
        claim(&store, &account.id, "done", "hash-B", "t4", after + ms(1)).await,
        ClaimOutcome::InUse
    );

    // An abandoned in-progress record, absent once expired even for another body.
    claimed(claim(&store, &account.id, "stuck", "hash-A", "t5", now).await);
    claimed(claim(&store, &account.id, "stuck", "hash-C", "t6", after).await);
}

pub async fn completion_without_a_claim_is_claim_lost(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn insert_errors_have_a_precedence(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn failed_insert_leaves_the_claim_in_progress(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn listing_walks_every_page_newest_first(store: DynStore) {
    let (a, _) = create(&store).await;
    let (b, _) = create(&store).await;
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

pub async fn listing_time_bounds_are_half_open_to_the_millisecond(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn listing_filters_by_status(store: DynStore) {
    let (account, _) = create(&store).await;
    let (other, _) = create(&store).await;
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

// =============================================================================================
// Concurrency

pub async fn concurrent_inserts_with_one_external_id_create_one_charge(store: DynStore) {
    let (account, _) = create(&store).await;
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

pub async fn concurrent_claims_grant_exactly_one(store: DynStore) {
    let (account, _) = create(&store).await;
    let now = base_time();
    let tasks = (0..50).map(|i| {
        let store = store.clone();
        let account_id = account.id.clone();
        tokio::spawn(async move {
            let token = format!("token-{i}");
            let spec = ClaimSpec {
                account_id: &account_id,
                key: "contended-key",
                hash: "hash-A",
                token: &token,
                now,
            };
            store.claim(&spec.request()).await
        })
    });
    let outcomes: Vec<Result<ClaimOutcome, StoreError>> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let winners: Vec<IdempotencyClaim> = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok(ClaimOutcome::Claimed(claim)) => Some(claim.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {outcomes:?}");
    let in_use = outcomes
        .iter()
        .filter(|o| **o == Ok(ClaimOutcome::InUse))
        .count();
    assert_eq!(in_use, 49, "every other claim is InUse: {outcomes:?}");

    // The winner really holds the key.
    store
        .complete(&completion(&winners[0], 201, "won"))
        .await
        .expect("complete");
    assert_eq!(
        claim(
            &store,
            &account.id,
            "contended-key",
            "hash-A",
            "late",
            now + ms(1)
        )
        .await,
        ClaimOutcome::Replay(response(201, "won"))
    );
}
