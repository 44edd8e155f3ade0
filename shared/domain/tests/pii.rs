//! Personal data in the domain types (payer names, PIX keys, bank branches and accounts,
//! holder and recipient names) is masked by `{:?}`, and the JSON built from those types (the
//! stored records and the API views) is byte for byte what it was before the data was wrapped:
//! the expected texts below were produced by the code that held these fields as plain
//! `String`s (plus, since, the refund and deduction fields partial refunds added:
//! `refundedAmount`, `refunds`, a payout's `grossAmount` and `deductions`).

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use pixgw_domain::cash_out::record::CashOutRecord;
use pixgw_domain::cash_out::view::CashOutView;
use pixgw_domain::cash_out::{
    BankAccountType, CashOut, CashOutDestination, CashOutId, CashOutState,
};
use pixgw_domain::charge::record::ChargeRecord;
use pixgw_domain::charge::view::ChargeView;
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus, Payer};
use pixgw_domain::payout::record::PayoutRecord;
use pixgw_domain::payout::view::PayoutView;
use pixgw_domain::payout::{
    Payout, PayoutId, PayoutRecipient, PayoutState, PayoutTrigger, SplitRef,
};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, Ispb, PaidBy, PayerBankData, Payment};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::provider::{ProviderChargeRequest, TransferDestination, TransferRequest};
use pixgw_domain::split::{SplitRule, SplitValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

const PAYER_NAME: &str = "Maria Aparecida da Silva";
const PAYER_CPF: &str = "12345678909";
const SPLIT_KEY: &str = "loja.parceira@example.com";
const SPLIT_NAME: &str = "Loja Parceira Ltda";
const SPLIT_CNPJ: &str = "11222333000181";
const PAID_BY_NAME: &str = "Joaquim Pagador";
const PAID_BY_DOCUMENT: &str = "98765432100";
const PAID_BY_BRANCH: &str = "2468";
const PAID_BY_ACCOUNT: &str = "13579024";
const CASH_OUT_KEY: &str = "+5511987654321";
const HOLDER_BRANCH: &str = "8642";
const HOLDER_ACCOUNT: &str = "97531086";
const HOLDER_NAME: &str = "Beatriz Titular";

/// Every personal value above whose masked form must not give it away.
const PERSONAL: [&str; 11] = [
    PAYER_NAME,
    SPLIT_KEY,
    SPLIT_NAME,
    PAID_BY_NAME,
    PAID_BY_DOCUMENT,
    PAID_BY_BRANCH,
    PAID_BY_ACCOUNT,
    CASH_OUT_KEY,
    HOLDER_BRANCH,
    HOLDER_ACCOUNT,
    HOLDER_NAME,
];

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + seconds, 0).unwrap()
}

fn account() -> AccountId {
    AccountId::parse("acc_0123456789abcdef0123456789abcdef").unwrap()
}

fn ispb() -> Ispb {
    Ispb::parse("00000000").unwrap()
}

fn split_rule() -> SplitRule {
    SplitRule {
        pix_key: SPLIT_KEY.into(),
        pix_key_type: PixKeyType::Email,
        name: SPLIT_NAME.into(),
        document: TaxDocument::parse(SPLIT_CNPJ).unwrap(),
        value: SplitValue::Percentage(1_000),
        immediate: false,
    }
}

/// A confirmed R$ 100.00 charge with a 10 % split, paid by someone other than its payer.
fn paid_charge() -> Charge {
    Charge {
        transaction_id: TransactionId::parse("0a1b2c3d4e5f60718293a4b5c6d7e8f9").unwrap(),
        account_id: account(),
        correlation_id: uuid::Uuid::from_u128(0x1234),
        external_id: "pedido-1".to_owned(),
        status: ChargeStatus::Confirmed,
        amount: Money::from_cents(10_000),
        description: "Pedido 1".to_owned(),
        payer: Payer {
            full_name: PAYER_NAME.into(),
            document: TaxDocument::parse(PAYER_CPF).unwrap(),
        },
        additional_info: BTreeMap::new(),
        splits: vec![ChargeSplit {
            rule: split_rule(),
            amount: Money::from_cents(1_000),
        }],
        remainder: Money::from_cents(9_000),
        pix_code: "000201".to_owned(),
        generate_qr_code: false,
        provider: "sandbox".to_owned(),
        provider_charge_id: "sbx_1".to_owned(),
        expiration_seconds: 3600,
        created_at: at(0),
        expires_at: at(3600),
        payment: Some(Payment {
            end_to_end_id: EndToEndId::parse("E00000000202601010000abcdefghijk").unwrap(),
            paid_at: at(60),
            paid_by: PaidBy {
                name: PAID_BY_NAME.into(),
                document: PAID_BY_DOCUMENT.into(),
                bank: PayerBankData::new(ispb(), PAID_BY_BRANCH, PAID_BY_ACCOUNT).unwrap(),
            },
            provider: "sandbox".to_owned(),
            provider_event_id: "evt_1".to_owned(),
        }),
        refunds: Vec::new(),
        hold: None,
        disputes: Vec::new(),
        refund_revision: 0,
    }
}

fn cash_out(destination: CashOutDestination) -> CashOut {
    CashOut {
        id: CashOutId::parse("co_00000000000000000000000000000001").unwrap(),
        account_id: account(),
        external_id: "saque-1".to_owned(),
        amount: Money::from_cents(2_500),
        description: "Saque".to_owned(),
        destination,
        state: CashOutState::Processing,
        end_to_end_id: None,
        provider: "sandbox".to_owned(),
        provider_transfer_id: None,
        failure_reason: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn to_bank_account() -> CashOutDestination {
    CashOutDestination::BankAccount {
        ispb: ispb(),
        branch: HOLDER_BRANCH.into(),
        account: HOLDER_ACCOUNT.into(),
        account_type: BankAccountType::Savings,
        document: TaxDocument::parse(PAYER_CPF).unwrap(),
        name: HOLDER_NAME.into(),
    }
}

fn to_pix_key() -> CashOutDestination {
    CashOutDestination::PixKey {
        key: CASH_OUT_KEY.into(),
        key_type: PixKeyType::Phone,
    }
}

fn payout() -> Payout {
    Payout {
        id: PayoutId::parse("po_00000000000000000000000000000002").unwrap(),
        account_id: account(),
        trigger: PayoutTrigger::Immediate,
        recipient: PayoutRecipient {
            pix_key: SPLIT_KEY.into(),
            pix_key_type: PixKeyType::Email,
            name: SPLIT_NAME.into(),
            document: TaxDocument::parse(SPLIT_CNPJ).unwrap(),
        },
        amount: Money::from_cents(1_000),
        splits: vec![SplitRef {
            transaction_id: paid_charge().transaction_id,
            index: 0,
        }],
        split_count: 1,
        unsettled_splits: 0,
        state: PayoutState::Processing,
        end_to_end_id: None,
        deductions: None,
        provider_transfer_id: None,
        failure_reason: None,
        created_at: at(120),
        updated_at: at(120),
    }
}

fn assert_masked(what: &str, debug: String) {
    for value in PERSONAL {
        assert!(!debug.contains(value), "{what} shows {value:?} in {debug}");
    }
}

#[test]
fn debug_of_the_domain_types_masks_personal_data() {
    let charge = paid_charge();
    assert_masked("Charge", format!("{charge:?}"));
    assert_masked("Payer", format!("{:?}", charge.payer));
    assert_masked("SplitRule", format!("{:?}", split_rule()));
    assert_masked("Payment", format!("{:?}", charge.payment));
    assert_masked(
        "CashOut to an account",
        format!("{:?}", cash_out(to_bank_account())),
    );
    assert_masked("CashOut to a key", format!("{:?}", cash_out(to_pix_key())));
    assert_masked("Payout", format!("{:?}", payout()));
    let transfer = TransferRequest {
        idempotency_key: "k".to_owned(),
        amount: Money::from_cents(100),
        destination: TransferDestination::BankAccount {
            ispb: ispb(),
            branch: HOLDER_BRANCH.into(),
            account: HOLDER_ACCOUNT.into(),
            account_type: "SVGS".to_owned(),
        },
        recipient_name: Some(HOLDER_NAME.into()),
        recipient_document: None,
        description: "d".to_owned(),
    };
    assert_masked("TransferRequest", format!("{transfer:?}"));
    let to_key = TransferDestination::PixKey {
        key: CASH_OUT_KEY.into(),
        key_type: PixKeyType::Phone,
    };
    assert_masked("TransferDestination", format!("{to_key:?}"));
    let request = ProviderChargeRequest {
        transaction_id: charge.transaction_id.clone(),
        amount: charge.amount,
        description: "d".to_owned(),
        payer_name: PAYER_NAME.into(),
        payer_document: charge.payer.document.clone(),
        created_at: at(0),
        expires_at: at(1),
        merchant_name: "Loja".to_owned(),
        merchant_city: "SAO PAULO".to_owned(),
        idempotency_key: "k".to_owned(),
    };
    assert_masked("ProviderChargeRequest", format!("{request:?}"));
    // …and so do the stored records and API views built from them.
    assert_masked("ChargeRecord", format!("{:?}", ChargeRecord::from(&charge)));
    assert_masked(
        "ChargeView",
        format!("{:?}", ChargeView::new(&charge, &[], None)),
    );
    let record = CashOutRecord::from(&cash_out(to_bank_account()));
    assert_masked("CashOutRecord", format!("{record:?}"));
    let view = CashOutView::new(&cash_out(to_bank_account()));
    assert_masked("CashOutView", format!("{view:?}"));
    assert_masked(
        "PayoutRecord",
        format!("{:?}", PayoutRecord::from(&payout())),
    );
    assert_masked("PayoutView", format!("{:?}", PayoutView::new(&payout())));
}

/// `value` serialises to exactly `expected`.
fn assert_json<T: Serialize>(value: &T, expected: &str) {
    assert_eq!(serde_json::to_string(value).unwrap(), expected);
}

/// …and, being a record, reads back from it to itself.
fn assert_round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    record: &T,
    expected: &str,
) {
    assert_json(record, expected);
    assert_eq!(&serde_json::from_str::<T>(expected).unwrap(), record);
}

#[test]
fn records_and_views_serialise_exactly_as_before() {
    let charge = paid_charge();
    let record = ChargeRecord::from(&charge);
    assert_round_trip(&record, CHARGE_RECORD);
    assert_eq!(Charge::try_from(record).unwrap(), charge);
    assert_json(&ChargeView::new(&charge, &[], None), CHARGE_VIEW);

    for (destination, expected_record, expected_view) in [
        (
            to_bank_account(),
            CASH_OUT_TO_ACCOUNT_RECORD,
            CASH_OUT_TO_ACCOUNT_VIEW,
        ),
        (to_pix_key(), CASH_OUT_TO_KEY_RECORD, CASH_OUT_TO_KEY_VIEW),
    ] {
        let cash_out = cash_out(destination);
        let record = CashOutRecord::from(&cash_out);
        assert_round_trip(&record, expected_record);
        assert_eq!(CashOut::try_from(record).unwrap(), cash_out);
        assert_json(&CashOutView::new(&cash_out), expected_view);
    }

    let payout = payout();
    let record = PayoutRecord::from(&payout);
    assert_round_trip(&record, PAYOUT_RECORD);
    assert_eq!(Payout::try_from(record).unwrap(), payout);
    assert_json(&PayoutView::new(&payout), PAYOUT_VIEW);
}

const CHARGE_RECORD: &str = r#"{"transactionId":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","accountId":"acc_0123456789abcdef0123456789abcdef","correlationId":"00000000-0000-0000-0000-000000001234","externalId":"pedido-1","status":"CONFIRMED","amountCents":10000,"description":"Pedido 1","payerName":"Maria Aparecida da Silva","payerDocument":"12345678909","splits":[{"pixKey":"loja.parceira@example.com","pixKeyType":"EMAIL","name":"Loja Parceira Ltda","document":"11222333000181","kind":"PERCENTAGE","value":1000,"immediate":false,"amountCents":1000}],"remainderCents":9000,"pixCode":"000201","generateQrCode":false,"provider":"sandbox","providerChargeId":"sbx_1","expirationSeconds":3600,"createdAtMs":1767225600000,"expiresAtMs":1767229200000,"payment":{"endToEndId":"E00000000202601010000abcdefghijk","paidAtMs":1767225660000,"payerName":"Joaquim Pagador","payerDocument":"98765432100","payerIspb":"00000000","payerBranch":"2468","payerAccount":"13579024","provider":"sandbox","providerEventId":"evt_1"}}"#;
const CHARGE_VIEW: &str = r#"{"transactionId":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","correlationId":"00000000-0000-0000-0000-000000001234","externalId":"pedido-1","status":"CONFIRMED","value":100.00,"description":"Pedido 1","pixCode":"000201","generateTime":"2026-01-01T00:00:00.000Z","expirationDate":"2026-01-01T01:00:00.000Z","expirationTime":3600,"payer":{"fullName":"Maria Aparecida da Silva","document":"12345678909"},"additionalInfo":{},"splits":[{"pixKey":"loja.parceira@example.com","pixKeyType":"EMAIL","name":"Loja Parceira Ltda","document":"11222333000181","type":"PERCENTAGE","value":10.00,"immediate":false,"amount":10.00,"status":"PENDING","refundedAmount":0.00}],"endToEndId":"E00000000202601010000abcdefghijk","paidAt":"2026-01-01T00:01:00.000Z","paidBy":{"name":"Joaquim Pagador","document":"98765432100","bankData":{"ispb":"00000000","branch":"2468","account":"13579024"}},"paidAfterExpiration":false,"refundedAmount":0.00,"refunds":[]}"#;
const CASH_OUT_TO_ACCOUNT_RECORD: &str = r#"{"cashOutId":"co_00000000000000000000000000000001","accountId":"acc_0123456789abcdef0123456789abcdef","externalId":"saque-1","amountCents":2500,"description":"Saque","destinationKind":"BANK_ACCOUNT","ispb":"00000000","branch":"8642","bankAccount":"97531086","bankAccountType":"SVGS","holderDocument":"12345678909","holderName":"Beatriz Titular","state":"PROCESSING","provider":"sandbox","createdAtMs":1767225600000,"updatedAtMs":1767225600000}"#;
const CASH_OUT_TO_ACCOUNT_VIEW: &str = r#"{"id":"co_00000000000000000000000000000001","externalId":"saque-1","status":"PROCESSING","value":25.00,"description":"Saque","bankAccount":{"ispb":"00000000","branch":"8642","account":"97531086","accountType":"SVGS","document":"12345678909","name":"Beatriz Titular"},"createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z"}"#;
const CASH_OUT_TO_KEY_RECORD: &str = r#"{"cashOutId":"co_00000000000000000000000000000001","accountId":"acc_0123456789abcdef0123456789abcdef","externalId":"saque-1","amountCents":2500,"description":"Saque","destinationKind":"PIX_KEY","pixKey":"+5511987654321","pixKeyType":"PHONE","state":"PROCESSING","provider":"sandbox","createdAtMs":1767225600000,"updatedAtMs":1767225600000}"#;
const CASH_OUT_TO_KEY_VIEW: &str = r#"{"id":"co_00000000000000000000000000000001","externalId":"saque-1","status":"PROCESSING","value":25.00,"description":"Saque","pixKey":"+5511987654321","pixKeyType":"PHONE","createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z"}"#;
const PAYOUT_RECORD: &str = r#"{"payoutId":"po_00000000000000000000000000000002","accountId":"acc_0123456789abcdef0123456789abcdef","trigger":"IMMEDIATE","recipientPixKey":"loja.parceira@example.com","recipientPixKeyType":"EMAIL","recipientName":"Loja Parceira Ltda","recipientDocument":"11222333000181","amountCents":1000,"splits":[{"transactionId":"0a1b2c3d4e5f60718293a4b5c6d7e8f9","index":0}],"splitCount":1,"unsettledSplits":0,"state":"PROCESSING","createdAtMs":1767225720000,"updatedAtMs":1767225720000}"#;
const PAYOUT_VIEW: &str = r#"{"id":"po_00000000000000000000000000000002","trigger":"IMMEDIATE","status":"PROCESSING","amount":10.00,"grossAmount":10.00,"deductions":[],"recipient":{"name":"Loja Parceira Ltda","pixKey":"loja.parceira@example.com","pixKeyType":"EMAIL","document":"11222333000181"},"splitCount":1,"createdAt":"2026-01-01T00:02:00.000Z","updatedAt":"2026-01-01T00:02:00.000Z"}"#;
