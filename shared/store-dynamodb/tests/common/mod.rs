//! Harness shared by the DynamoDB Local tests: a fresh, uniquely named table per test, and
//! charge fixtures.
#![allow(dead_code)]

pub mod dispute;
pub mod faults;
pub mod refund;
pub mod scheduled;
pub mod settlement;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus, Payer};
use pixgw_domain::idempotency::{ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyStore};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::split::{SplitRule, SplitValue};
use pixgw_store_dynamodb::{DynamoStore, create_table, sdk_client};
use uuid::Uuid;

pub const ENDPOINT_VAR: &str = "PIXGW_TEST_DYNAMODB_ENDPOINT";

/// The DynamoDB Local endpoint. Missing = a broken test setup, which must fail loudly: these
/// tests are the only proof that the adapter works against DynamoDB.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "{ENDPOINT_VAR} is not set. These tests need a running DynamoDB Local: start it \
             (scripts/test.sh does) and export {ENDPOINT_VAR}=http://127.0.0.1:<port> together \
             with AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
        ),
    }
}

pub fn unique_table() -> String {
    format!("pixgw-test-{}", Uuid::new_v4().simple())
}

/// Debug logs of the adapter for `RUST_LOG=pixgw_store_dynamodb=debug cargo test …`.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A store on a fresh table whose requests can be made to fail (see [`faults`]).
pub async fn faulty_store() -> (DynamoStore, faults::Faults) {
    init_tracing();
    let faults = faults::Faults::default();
    let client = faults::faulty_client(&endpoint(), &faults).await;
    let table = unique_table();
    if let Err(err) = create_table(&client, &table).await {
        panic!("creating table {table}: {err}");
    }
    (DynamoStore::new(client, table), faults)
}

/// A store on a freshly created table of its own.
pub async fn fresh_store() -> DynamoStore {
    init_tracing();
    let endpoint = endpoint();
    let client = sdk_client(Some(endpoint.clone())).await;
    let table = unique_table();
    if let Err(err) = create_table(&client, &table).await {
        panic!("creating table {table} on {endpoint}: {err}");
    }
    DynamoStore::new(client, table)
}

pub fn at_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("valid time")
}

/// 2024-01-15T10:30:00Z, a fixed "now" for the tests.
pub const T0_MS: i64 = 1_705_314_600_000;

pub fn charge(account: &AccountId, external_id: &str, created_at_ms: i64) -> Charge {
    let created_at = at_ms(created_at_ms);
    let amount = Money::from_cents(10_000);
    let share = Money::from_cents(1_000);
    Charge {
        transaction_id: TransactionId::generate(),
        account_id: account.clone(),
        correlation_id: Uuid::new_v4(),
        external_id: external_id.to_owned(),
        status: ChargeStatus::Pending,
        amount,
        description: "Pedido 42 — café".to_owned(),
        payer: Payer {
            full_name: "Maria da Silva".into(),
            document: TaxDocument::parse("12345678909").expect("valid CPF"),
        },
        additional_info: BTreeMap::from([("pedido".to_owned(), "42".to_owned())]),
        splits: vec![ChargeSplit {
            rule: SplitRule {
                pix_key: "3f1c2a9e-5b7d-4c1e-9a2b-8d6e4f0a1b2c".into(),
                pix_key_type: PixKeyType::Random,
                name: "Loja Parceira".into(),
                document: TaxDocument::parse("11222333000181").expect("valid CNPJ"),
                value: SplitValue::Percentage(1_000),
                immediate: true,
            },
            amount: share,
        }],
        remainder: Money::from_cents(amount.cents() - share.cents()),
        pix_code: "00020101021226...6304ABCD".to_owned(),
        generate_qr_code: true,
        provider: "sandbox".to_owned(),
        provider_charge_id: format!("prov-{}", Uuid::new_v4().simple()),
        expiration_seconds: 3_600,
        created_at,
        expires_at: created_at + Duration::seconds(3_600),
        payment: None,
        refunds: Vec::new(),
        hold: None,
        disputes: Vec::new(),
        refund_revision: 0,
    }
}

/// A claim request at `now_ms` with a 30 s lease and a 24 h expiry.
pub fn claim_request<'a>(
    account: &'a AccountId,
    key: &'a str,
    hash: &'a str,
    token: &'a str,
    now_ms: i64,
) -> ClaimRequest<'a> {
    let now = at_ms(now_ms);
    ClaimRequest {
        account_id: account,
        key,
        request_hash: hash,
        lock_token: token,
        now,
        lease_until: now + Duration::seconds(30),
        expires_at: now + Duration::hours(24),
    }
}

/// Claims and insists on getting the claim.
pub async fn must_claim(store: &DynamoStore, request: &ClaimRequest<'_>) -> IdempotencyClaim {
    match store.claim(request).await {
        Ok(ClaimOutcome::Claimed(claim)) => claim,
        other => panic!("expected Claimed, got {other:?}"),
    }
}
