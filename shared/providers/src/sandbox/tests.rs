use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use pixgw_domain::error::ProviderError;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::provider::{
    ChargePaid, InboundWebhook, ProviderEvent, ProviderWebhookError, RefundOutcome, RefundRequest,
    TransferDestination, TransferOutcome, TransferRequest,
};
use pixgw_domain::provider::{PixProvider, ProviderChargeRequest};
use proptest::prelude::*;

use super::signature::{self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use super::*;

const SECRET: &[u8] = b"whsec-sandbox-test-secret";

/// A clock tests move by hand; sub-millisecond on purpose, to check the ms truncation.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 15).unwrap() + Duration::microseconds(123_456)
}

/// `start()` as the network reports it (ms precision).
fn start_ms() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 15).unwrap() + Duration::milliseconds(123)
}

fn sandbox_with(secret: &[u8]) -> (SandboxProvider, Arc<TestClock>) {
    let clock = Arc::new(TestClock(Mutex::new(start())));
    let provider = SandboxProvider::new("pix.example.com", clock.clone(), secret.to_vec()).unwrap();
    (provider, clock)
}

fn sandbox() -> SandboxProvider {
    sandbox_with(SECRET).0
}

fn payer() -> PaidBy {
    PaidBy {
        name: "Test User".into(),
        document: "12345678909".into(),
        bank: PayerBankData::new(Ispb::parse("00416968").unwrap(), "0001", "123456").unwrap(),
    }
}

fn payment(cents: i64) -> SandboxPayment {
    SandboxPayment {
        transaction_id: TransactionId::parse("0123456789abcdef0123456789abcdef").unwrap(),
        amount: Money::from_cents(cents),
        paid_by: payer(),
        hold: false,
    }
}

fn transfer_to(key: &str, idempotency_key: &str, cents: i64) -> TransferRequest {
    TransferRequest {
        idempotency_key: idempotency_key.to_owned(),
        amount: Money::from_cents(cents),
        destination: TransferDestination::PixKey {
            key: key.into(),
            key_type: PixKeyType::Email,
        },
        recipient_name: Some("Seller".into()),
        recipient_document: Some(TaxDocument::parse("12345678909").unwrap()),
        description: "payout".to_owned(),
    }
}

fn refund_of(idempotency_key: &str, cents: i64) -> RefundRequest {
    RefundRequest {
        idempotency_key: idempotency_key.to_owned(),
        transaction_id: TransactionId::parse("0123456789abcdef0123456789abcdef").unwrap(),
        provider_charge_id: "sbx_0123456789abcdef0123456789abcdef".to_owned(),
        end_to_end_id: EndToEndId::parse("E00416968202603101827cemeFscF6AG").unwrap(),
        amount: Money::from_cents(cents),
        reason: "customer asked".to_owned(),
        description: "support ticket #1".to_owned(),
    }
}

fn verify_at(
    provider: &SandboxProvider,
    webhook: &SignedWebhook,
    now: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    provider.verify_signed(&webhook.inbound(now))
}

fn with_header(webhook: &SignedWebhook, name: &str, value: Option<&str>) -> SignedWebhook {
    let mut headers: Vec<(String, String)> = webhook
        .headers
        .iter()
        .filter(|(k, _)| k != name)
        .cloned()
        .collect();
    if let Some(value) = value {
        headers.push((name.to_owned(), value.to_owned()));
    }
    SignedWebhook {
        headers,
        body: webhook.body.clone(),
    }
}

fn unauthenticated(result: Result<ProviderEvent, ProviderWebhookError>) -> &'static str {
    match result {
        Err(ProviderWebhookError::Unauthenticated(why)) => why,
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

fn malformed(result: Result<ProviderEvent, ProviderWebhookError>) -> String {
    match result {
        Err(ProviderWebhookError::Malformed(why)) => why,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

// --- construction -----------------------------------------------------------------------------

#[test]
fn location_host_is_normalised_and_checked() {
    let clock: Arc<dyn Clock> = Arc::new(TestClock(Mutex::new(start())));
    let ok = SandboxProvider::new(" https://pix.example.com/ ", clock.clone(), SECRET.to_vec());
    assert_eq!(ok.unwrap().location_host, "pix.example.com");
    for bad in [
        "",
        "https://",
        "has space.example.com",
        &"a".repeat(MAX_LOCATION_HOST_LEN + 1),
    ] {
        assert!(
            SandboxProvider::new(bad, clock.clone(), SECRET.to_vec()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn sandbox_ispb_is_a_valid_ispb_and_debug_hides_the_secret() {
    assert_eq!(sandbox_ispb().as_str(), SANDBOX_ISPB);
    let debug = format!("{:?}", sandbox());
    assert!(!debug.contains("whsec"), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

#[tokio::test]
async fn create_charge_points_the_br_code_at_our_location() {
    let provider = sandbox();
    let id = TransactionId::generate();
    let charge = provider
        .create_charge(&ProviderChargeRequest {
            transaction_id: id.clone(),
            amount: Money::from_cents(1000),
            description: "order".to_owned(),
            payer_name: "Test User".into(),
            payer_document: TaxDocument::parse("12345678909").unwrap(),
            created_at: start(),
            expires_at: start() + Duration::hours(1),
            merchant_name: "Loja".to_owned(),
            merchant_city: "SAO PAULO".to_owned(),
            idempotency_key: "k".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(charge.provider_charge_id, format!("sbx_{id}"));
    assert!(
        charge
            .pix_code
            .contains(&format!("pix.example.com/pix/loc/{id}"))
    );
}

// --- signed webhooks --------------------------------------------------------------------------

#[test]
fn paid_webhook_round_trips_to_the_exact_charge_paid() {
    let provider = sandbox();
    let webhook = provider.pay_charge(&payment(20_000));

    let event_id = webhook.header(HEADER_ID).unwrap().to_owned();
    assert!(event_id.starts_with("evt_"), "{event_id}");
    assert_eq!(
        webhook.header(HEADER_TIMESTAMP),
        Some(start().timestamp().to_string().as_str())
    );
    let body = String::from_utf8(webhook.body.clone()).unwrap();
    assert!(body.contains(r#""amount":200.00"#), "{body}");
    assert!(body.contains(r#""eventType":"CASHIN_PAID""#), "{body}");
    assert!(
        body.contains(r#""paidAt":"2026-03-10T14:22:15.123Z""#),
        "{body}"
    );

    let ProviderEvent::ChargePaid(paid) = verify_at(&provider, &webhook, start()).unwrap() else {
        panic!("not a ChargePaid");
    };
    assert_eq!(
        paid,
        ChargePaid {
            event_id,
            transaction_id: payment(0).transaction_id,
            end_to_end_id: paid.end_to_end_id.clone(),
            amount: Money::from_cents(20_000),
            paid_at: start_ms(),
            paid_by: payer(),
            hold_until: None,
        }
    );
    // Issued by the payer's PSP, at the payment's minute.
    let e2e = paid.end_to_end_id.as_str();
    assert_eq!(paid.end_to_end_id.kind(), EndToEndKind::Payment);
    assert_eq!(paid.end_to_end_id.ispb(), "00416968");
    assert!(e2e.starts_with("E00416968202603101422"), "{e2e}");
}

#[test]
fn each_payment_gets_fresh_ids() {
    let provider = sandbox();
    let event = |w: &SignedWebhook| match verify_at(&provider, w, start()) {
        Ok(ProviderEvent::ChargePaid(paid)) => paid,
        other => panic!("{other:?}"),
    };
    let a = event(&provider.pay_charge(&payment(100)));
    let b = event(&provider.pay_charge(&payment(100)));
    assert_ne!(a.event_id, b.event_id);
    assert_ne!(a.end_to_end_id, b.end_to_end_id);
}

#[test]
fn tampered_bodies_and_headers_are_rejected() {
    let provider = sandbox();
    let webhook = provider.pay_charge(&payment(20_000));

    let body = String::from_utf8(webhook.body.clone()).unwrap();
    let richer = SignedWebhook {
        headers: webhook.headers.clone(),
        body: body.replace("200.00", "900.00").into_bytes(),
    };
    assert_ne!(richer.body, webhook.body);
    assert_eq!(
        unauthenticated(verify_at(&provider, &richer, start())),
        "no valid v1 signature"
    );

    let other_id = with_header(&webhook, HEADER_ID, Some("evt_other"));
    unauthenticated(verify_at(&provider, &other_id, start()));

    // Same second, different text: the signature covers the header as sent.
    let ts = webhook.header(HEADER_TIMESTAMP).unwrap();
    let padded = with_header(&webhook, HEADER_TIMESTAMP, Some(&format!("0{ts}")));
    unauthenticated(verify_at(&provider, &padded, start()));
}

#[test]
fn a_webhook_signed_with_another_secret_is_rejected() {
    let (impostor, _) = sandbox_with(b"not-our-secret");
    let forged = impostor.pay_charge(&payment(20_000));
    assert_eq!(
        unauthenticated(verify_at(&sandbox(), &forged, start())),
        "no valid v1 signature"
    );
}

#[test]
fn missing_or_empty_headers_are_rejected() {
    let provider = sandbox();
    let webhook = provider.pay_charge(&payment(100));
    for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
        let missing = with_header(&webhook, name, None);
        let why = unauthenticated(verify_at(&provider, &missing, start()));
        assert!(why.contains(name), "{name}: {why}");
        let empty = with_header(&webhook, name, Some("  "));
        unauthenticated(verify_at(&provider, &empty, start()));
    }
    for bad_ts in ["-5", "+1773152535", "1773152535.0", "soon"] {
        let odd = with_header(&webhook, HEADER_TIMESTAMP, Some(bad_ts));
        unauthenticated(verify_at(&provider, &odd, start()));
    }
}

#[test]
fn header_names_match_case_insensitively() {
    let provider = sandbox();
    let webhook = provider.pay_charge(&payment(100));
    let shouting = SignedWebhook {
        headers: webhook
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
            .collect(),
        body: webhook.body.clone(),
    };
    assert!(verify_at(&provider, &shouting, start()).is_ok());
}

#[test]
fn timestamps_more_than_five_minutes_away_either_way_are_rejected() {
    let provider = sandbox();
    let webhook = provider.pay_charge(&payment(100));
    let signed_at = Utc.timestamp_opt(start().timestamp(), 0).unwrap();

    for ok in [Duration::seconds(300), Duration::seconds(-300)] {
        assert!(
            verify_at(&provider, &webhook, signed_at + ok).is_ok(),
            "{ok}"
        );
    }
    // Received long after it was signed (a replay), or "signed" in the future.
    for off in [
        Duration::seconds(301),
        Duration::seconds(-301),
        Duration::days(400),
    ] {
        assert_eq!(
            unauthenticated(verify_at(&provider, &webhook, signed_at + off)),
            "webhook-timestamp is outside the 5-minute tolerance",
            "{off}"
        );
    }
    // A timestamp far outside any date range must not overflow the comparison.
    let huge = with_header(&webhook, HEADER_TIMESTAMP, Some("99999999999999999999"));
    unauthenticated(verify_at(&provider, &huge, start()));
}

#[test]
fn the_clock_moving_on_changes_the_signed_timestamp() {
    let (provider, clock) = sandbox_with(SECRET);
    clock.advance(Duration::minutes(10));
    let webhook = provider.pay_charge(&payment(100));
    unauthenticated(verify_at(&provider, &webhook, start()));
    assert!(verify_at(&provider, &webhook, start() + Duration::minutes(10)).is_ok());
}

#[test]
fn any_valid_v1_signature_is_enough_during_key_rotation() {
    let (old, _) = sandbox_with(b"old-secret");
    let (new, _) = sandbox_with(b"new-secret");
    let webhook = old.pay_charge(&payment(100));
    let id = webhook.header(HEADER_ID).unwrap();
    let ts: i64 = webhook.header(HEADER_TIMESTAMP).unwrap().parse().unwrap();
    let old_sig = webhook.header(HEADER_SIGNATURE).unwrap().to_owned();
    let new_sig = signature::sign(b"new-secret", id, ts, &webhook.body);
    assert_ne!(old_sig, new_sig);

    // Only the old signature: the new receiver refuses it.
    unauthenticated(verify_at(&new, &webhook, start()));

    let both = with_header(
        &webhook,
        HEADER_SIGNATURE,
        Some(&format!("v2,abc v1,not-base64!! {old_sig} {new_sig}")),
    );
    assert!(verify_at(&old, &both, start()).is_ok());
    assert!(verify_at(&new, &both, start()).is_ok());

    // Only unknown versions or a v1 tag under another version's prefix: nothing valid.
    let b64 = new_sig.trim_start_matches("v1,");
    let wrong_version = with_header(&webhook, HEADER_SIGNATURE, Some(&format!("v1a,{b64}")));
    unauthenticated(verify_at(&new, &wrong_version, start()));
    // A truncated tag is not a valid tag.
    let short = with_header(
        &webhook,
        HEADER_SIGNATURE,
        Some(&new_sig[..new_sig.len() - 4]),
    );
    unauthenticated(verify_at(&new, &short, start()));
}

#[test]
fn signed_but_malformed_payloads_name_the_problem() {
    let provider = sandbox();
    let paid = |data: &str| {
        format!(
            r#"{{"eventId":"evt_1","eventType":"CASHIN_PAID","eventAt":"2026-03-10T14:22:15Z","data":{data}}}"#
        )
    };
    let data = |amount: &str, e2e: &str, ispb: &str, branch: &str, paid_at: &str| {
        paid(&format!(
            r#"{{"transactionId":"0123456789abcdef0123456789abcdef","endToEndId":"{e2e}","status":"PAID","amount":{amount},"paidAt":"{paid_at}","payer":{{"name":"Test User","document":"12345678909","bankData":{{"ispb":"{ispb}","branch":"{branch}","account":"123456"}}}}}}"#
        ))
    };
    let e2e = "E00416968202603101827cemeFscF6AG";
    let at = "2026-03-10T14:22:15Z";
    let good = data("10.00", e2e, "00416968", "0001", at);
    assert!(matches!(
        provider.verify_signed(
            &provider
                .sign_webhook("evt_1", good.into_bytes())
                .inbound(start())
        ),
        Ok(ProviderEvent::ChargePaid(_))
    ));

    let cases: Vec<(String, &str)> = vec![
        ("not json".to_owned(), "not valid JSON"),
        ("[1,2]".to_owned(), "JSON object"),
        (r#"{"eventType":"CASHIN_PAID"}"#.to_owned(), "eventId is missing"),
        (r#"{"eventId":"","eventType":"X"}"#.to_owned(), "eventId must be"),
        (r#"{"eventId":"evt_1","eventType":7}"#.to_owned(), "eventType must be a string"),
        (r#"{"eventId":"evt_1","eventType":"CASHIN_PAID"}"#.to_owned(), "data is missing"),
        (paid("[]"), "data must be an object"),
        (
            good_with(&data("10.00", e2e, "00416968", "0001", at), "0123456789abcdef0123456789abcdef", "../etc"),
            "data.transactionId",
        ),
        (
            good_with(&data("10.00", e2e, "00416968", "0001", at), r#""PAID""#, r#""PENDING""#),
            "data.status",
        ),
        (data("10.00", "E123", "00416968", "0001", at), "data.endToEndId is not"),
        (
            data("10.00", "D00416968202603101827cemeFscF6AG", "00416968", "0001", at),
            "data.endToEndId must be a payment",
        ),
        (data(r#""10.00""#, e2e, "00416968", "0001", at), "data.amount must be a JSON number"),
        (data("10.001", e2e, "00416968", "0001", at), "two decimal places"),
        (data("0", e2e, "00416968", "0001", at), "data.amount must be positive"),
        (data("-10.00", e2e, "00416968", "0001", at), "data.amount must be positive"),
        (data("-7e28", e2e, "00416968", "0001", at), "data.amount must be positive"),
        (
            data("-79228162514264337593543950335", e2e, "00416968", "0001", at),
            "data.amount must be positive",
        ),
        (data("7e28", e2e, "00416968", "0001", at), "exceeds the maximum"),
        (data("1e30", e2e, "00416968", "0001", at), "data.amount is not a representable"),
        // Near Decimal::MAX: converting to centavos would overflow.
        (
            data("79228162514264337593543950335", e2e, "00416968", "0001", at),
            "exceeds the maximum",
        ),
        (data("1e400", e2e, "00416968", "0001", at), "data.amount is not a representable"),
        (data("100000000.01", e2e, "00416968", "0001", at), "exceeds the maximum"),
        (data("10.00", e2e, "0041696", "0001", at), "data.payer.bankData.ispb"),
        (data("10.00", e2e, "00416968", "00001", at), "data.payer.bankData must have"),
        (data("10.00", e2e, "00416968", "0001", "yesterday"), "data.paidAt must be an RFC 3339"),
        (
            good_with(&data("10.00", e2e, "00416968", "0001", at), r#""name":"Test User""#, r#""name":" ""#),
            "data.payer.name must not be empty",
        ),
        (
            good_with(&data("10.00", e2e, "00416968", "0001", at), r#""bankData":{"#, r#""bankData":null,"x":{"#),
            "data.payer.bankData is missing",
        ),
        (
            r#"{"eventId":"evt_1","eventType":"TRANSFER_COMPLETED","data":{"idempotencyKey":"k","transferId":"t","settledAt":"2026-03-10T14:22:15Z"}}"#.to_owned(),
            "data.endToEndId is missing",
        ),
        (
            r#"{"eventId":"evt_1","eventType":"TRANSFER_FAILED","data":{"transferId":"t"}}"#.to_owned(),
            "data.idempotencyKey is missing",
        ),
    ];
    for (body, expected) in cases {
        let webhook = provider.sign_webhook("evt_1", body.clone().into_bytes());
        let why = malformed(provider.verify_signed(&webhook.inbound(start())));
        assert!(
            why.contains(expected),
            "{body}\n=> {why:?}, wanted {expected:?}"
        );
    }
}

fn good_with(body: &str, from: &str, to: &str) -> String {
    assert!(body.contains(from), "{from} not in {body}");
    body.replacen(from, to, 1)
}

#[test]
fn the_connectpsp_seed_shape_with_offsets_and_extra_fields_is_understood() {
    let provider = sandbox();
    let body = r#"{ "eventId": "evt_seed", "eventType": "CASHIN_PAID", "eventAt": "2026-03-10T11:22:18Z", "data": { "transactionId": "0123456789abcdef0123456789abcdef", "internalCode": "US7B1JQ", "externalReference": "test-order-001", "endToEndId": "E00416968202603101827cemeFscF6AG", "status": "PAID", "amount": 10.00, "payer": { "name": "Test User", "document": "12345678909", "bankData": { "ispb": "00000000", "bank": "Banco do Brasil S.A.", "branch": "0001", "account": "123456" } }, "requestedAt": "2026-03-10T11:20:00-03:00", "paidAt": "2026-03-10T11:22:15.5-03:00" } }"#;
    let webhook = provider.sign_webhook("evt_seed", body.as_bytes().to_vec());
    let Ok(ProviderEvent::ChargePaid(paid)) = provider.verify_signed(&webhook.inbound(start()))
    else {
        panic!("not understood");
    };
    assert_eq!(paid.amount, Money::from_cents(1000));
    assert_eq!(
        paid.paid_at,
        Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 15).unwrap() + Duration::milliseconds(500)
    );
    assert_eq!(paid.paid_by.bank.ispb.as_str(), "00000000");
}

#[test]
fn other_authentic_events_are_ignored_not_refused() {
    let provider = sandbox();
    let body = br#"{"eventId":"evt_9","eventType":"CASHIN_EXPIRED","data":{"whatever":true}}"#;
    let webhook = provider.sign_webhook("evt_9", body.to_vec());
    assert_eq!(
        provider.verify_signed(&webhook.inbound(start())),
        Ok(ProviderEvent::Ignored {
            event_id: "evt_9".to_owned(),
            kind: "CASHIN_EXPIRED".to_owned(),
        })
    );
}

#[tokio::test]
async fn transfer_webhooks_carry_the_recorded_outcome() {
    let provider = sandbox();
    assert_eq!(provider.transfer_webhook("nope"), None);
    for (key, pix_key) in [("ok", "seller@example.com"), ("no", "reject@example.com")] {
        let outcome = provider
            .transfer(&transfer_to(pix_key, key, 500))
            .await
            .unwrap();
        let webhook = provider.transfer_webhook(key).unwrap();
        match provider.verify_signed(&webhook.inbound(start())).unwrap() {
            ProviderEvent::TransferSettled {
                event_id,
                idempotency_key,
                outcome: reported,
            } => {
                assert_eq!(Some(event_id.as_str()), webhook.header(HEADER_ID));
                assert_eq!(idempotency_key, key);
                assert_eq!(reported, outcome);
            }
            other => panic!("{other:?}"),
        }
    }
    // A PSP may omit the reason; the event still settles the transfer as failed.
    let body =
        br#"{"eventId":"evt_f","eventType":"TRANSFER_FAILED","data":{"idempotencyKey":"k"}}"#;
    let webhook = provider.sign_webhook("evt_f", body.to_vec());
    assert!(matches!(
        provider.verify_signed(&webhook.inbound(start())),
        Ok(ProviderEvent::TransferSettled {
            outcome: TransferOutcome::Failed {
                provider_transfer_id: None,
                ..
            },
            ..
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_headers_and_bodies_never_panic(
        headers in proptest::collection::vec(
            (
                prop_oneof![
                    Just(HEADER_ID.to_owned()),
                    Just(HEADER_TIMESTAMP.to_owned()),
                    Just(HEADER_SIGNATURE.to_owned()),
                    ".{0,20}",
                ],
                prop_oneof![
                    Just(start().timestamp().to_string()),
                    "v1,[A-Za-z0-9+/=]{0,60}( v1,[A-Za-z0-9+/=]{0,60}){0,3}",
                    "[0-9]{0,25}",
                    ".{0,80}",
                ],
            ),
            0..6,
        ),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        skew in -1_000_000i64..1_000_000,
    ) {
        let provider = sandbox();
        let webhook = InboundWebhook { headers: &headers, query: &[], body: &body, now: start() + Duration::seconds(skew) };
        // Forged input can never pass the signature check.
        prop_assert!(matches!(
            provider.verify_signed(&webhook),
            Err(ProviderWebhookError::Unauthenticated(_))
        ));
    }

    #[test]
    fn signed_arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let provider = sandbox();
        let webhook = provider.sign_webhook("evt_p", body);
        let result = provider.verify_signed(&webhook.inbound(start()));
        prop_assert!(!matches!(result, Err(ProviderWebhookError::Unauthenticated(_))));
    }

    #[test]
    fn signed_payloads_with_arbitrary_field_values_never_panic(
        values in proptest::collection::vec(
            prop_oneof![
                Just("null".to_owned()),
                Just("{}".to_owned()),
                Just("[]".to_owned()),
                any::<bool>().prop_map(|b| b.to_string()),
                "-?[0-9]{1,40}(\\.[0-9]{0,30})?([eE][+-]?[0-9]{1,5})?",
                "\"[^\"\\\\]{0,40}\"",
                Just("\"E00416968202603101827cemeFscF6AG\"".to_owned()),
                Just("\"2026-03-10T14:22:15Z\"".to_owned()),
            ],
            13,
        ),
        event_type in prop_oneof![
            Just("CASHIN_PAID"), Just("TRANSFER_COMPLETED"), Just("TRANSFER_FAILED"), Just("X"),
        ],
    ) {
        let v = &values;
        let body = format!(
            r#"{{"eventId":{},"eventType":"{event_type}","data":{{"transactionId":{},"endToEndId":{},"status":{},"amount":{},"paidAt":{},"idempotencyKey":{},"transferId":{},"reason":{},"settledAt":{},"payer":{{"name":{},"document":{},"bankData":{{"ispb":{},"branch":"1","account":"2"}}}}}}}}"#,
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12],
        );
        let provider = sandbox();
        let webhook = provider.sign_webhook("evt_p", body.into_bytes());
        let result = provider.verify_signed(&webhook.inbound(start()));
        prop_assert!(!matches!(result, Err(ProviderWebhookError::Unauthenticated(_))));
    }
}

// --- transfers and refunds --------------------------------------------------------------------

#[tokio::test]
async fn a_repeated_transfer_key_returns_the_first_outcome_and_moves_no_money() {
    let provider = sandbox();
    let request = transfer_to("seller@example.com", "payout-1", 12_345);
    let first = provider.transfer(&request).await.unwrap();
    let again = provider.transfer(&request).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(provider.transfer_calls(), 2);
    assert_eq!(
        provider.transfers(),
        vec![SandboxTransfer {
            idempotency_key: "payout-1".to_owned(),
            amount: Money::from_cents(12_345),
            destination: request.destination.clone(),
            outcome: first.clone(),
        }]
    );

    // Another key is another transfer.
    let other = provider
        .transfer(&transfer_to("seller@example.com", "payout-2", 12_345))
        .await
        .unwrap();
    assert_ne!(other, first);
    assert_eq!(provider.transfers().len(), 2);

    // Reusing a key for a different movement is refused and changes nothing.
    let conflicting = transfer_to("seller@example.com", "payout-1", 99_999);
    assert!(matches!(
        provider.transfer(&conflicting).await,
        Err(ProviderError::Rejected(_))
    ));
    assert_eq!(provider.transfers().len(), 2);
    assert_eq!(provider.transfer_calls(), 4);
}

#[tokio::test]
async fn clones_share_one_network() {
    let provider = sandbox();
    let handle = provider.clone();
    provider
        .transfer(&transfer_to("seller@example.com", "k", 100))
        .await
        .unwrap();
    assert_eq!(handle.transfers().len(), 1);
    handle.fail_next_calls(1);
    assert!(
        provider
            .transfer(&transfer_to("a@b.c", "k2", 1))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn keys_containing_reject_fail_as_unknown_in_the_dict() {
    let provider = sandbox();
    for (n, key) in ["reject@example.com", "someone.REJECTED@example.com"]
        .iter()
        .enumerate()
    {
        let request = transfer_to(key, &format!("k{n}"), 100);
        let outcome = provider.transfer(&request).await.unwrap();
        let TransferOutcome::Failed {
            provider_transfer_id: Some(id),
            reason,
        } = &outcome
        else {
            panic!("{outcome:?}");
        };
        assert!(id.starts_with("sbx_tr_"), "{id}");
        assert_eq!(reason, "PIX key not found in DICT");
        assert_eq!(provider.transfer(&request).await.unwrap(), outcome);
    }
    assert_eq!(provider.transfers().len(), 2);
    assert_eq!(provider.transfer_calls(), 4);
}

#[tokio::test]
async fn injected_failures_record_nothing_and_then_clear() {
    let provider = sandbox();
    provider.fail_next_calls(2);
    let request = transfer_to("seller@example.com", "payout-1", 100);
    for _ in 0..2 {
        assert!(matches!(
            provider.transfer(&request).await,
            Err(ProviderError::Unavailable(_))
        ));
    }
    assert!(provider.transfers().is_empty());
    assert_eq!(provider.transfer_calls(), 2);

    // The retry with the same key is the first real call.
    let outcome = provider.transfer(&request).await.unwrap();
    assert!(matches!(outcome, TransferOutcome::Completed { .. }));
    assert_eq!(provider.transfers().len(), 1);

    provider.fail_next_calls(1);
    assert!(matches!(
        provider.refund(&refund_of("refund-1", 100)).await,
        Err(ProviderError::Unavailable(_))
    ));
    assert!(provider.refunds().is_empty());
    assert!(provider.refund(&refund_of("refund-1", 100)).await.is_ok());
    assert_eq!(provider.refunds().len(), 1);
    assert_eq!(provider.refund_calls(), 2);
}

#[tokio::test]
async fn invalid_requests_are_refused_without_recording() {
    let provider = sandbox();
    for request in [
        transfer_to("seller@example.com", "k", 0),
        transfer_to("seller@example.com", "k", -5),
        transfer_to("seller@example.com", " ", 100),
    ] {
        assert!(matches!(
            provider.transfer(&request).await,
            Err(ProviderError::Rejected(_))
        ));
    }
    assert!(provider.transfers().is_empty());

    let mut devolution = refund_of("r", 100);
    devolution.end_to_end_id = EndToEndId::parse("D00416968202603101827cemeFscF6AG").unwrap();
    assert!(matches!(
        provider.refund(&devolution).await,
        Err(ProviderError::Rejected(_))
    ));
    assert!(provider.refunds().is_empty());
}

#[tokio::test]
async fn transfers_and_refunds_carry_sandbox_end_to_end_ids() {
    let provider = sandbox();
    let TransferOutcome::Completed {
        provider_transfer_id,
        end_to_end_id,
        settled_at,
    } = provider
        .transfer(&transfer_to("seller@example.com", "t", 100))
        .await
        .unwrap()
    else {
        panic!("not completed");
    };
    assert!(provider_transfer_id.starts_with("sbx_tr_"));
    assert_eq!(end_to_end_id.kind(), EndToEndKind::Payment);
    assert!(
        end_to_end_id.as_str().starts_with("E99999999202603101422"),
        "{end_to_end_id}"
    );
    assert_eq!(settled_at, start_ms());

    let account = TransferRequest {
        destination: TransferDestination::BankAccount {
            ispb: Ispb::parse("00000000").unwrap(),
            branch: "0001".into(),
            account: "123456".into(),
            account_type: "CACC".to_owned(),
        },
        ..transfer_to("", "acct", 100)
    };
    assert!(matches!(
        provider.transfer(&account).await,
        Ok(TransferOutcome::Completed { .. })
    ));

    let refund = provider.refund(&refund_of("r", 100)).await.unwrap();
    let RefundOutcome::Completed {
        provider_refund_id,
        end_to_end_id,
        settled_at,
    } = &refund
    else {
        panic!("{refund:?}");
    };
    assert!(provider_refund_id.starts_with("sbx_rf_"));
    assert_eq!(end_to_end_id.kind(), EndToEndKind::Devolution);
    assert!(
        end_to_end_id.as_str().starts_with("D99999999202603101422"),
        "{end_to_end_id}"
    );
    assert_eq!(
        EndToEndId::parse(end_to_end_id.as_str()).as_ref(),
        Some(end_to_end_id)
    );
    assert_eq!(*settled_at, start_ms());

    // Refunds are idempotent too.
    assert_eq!(provider.refund(&refund_of("r", 100)).await.unwrap(), refund);
    assert!(matches!(
        provider.refund(&refund_of("r", 50)).await,
        Err(ProviderError::Rejected(_))
    ));
    assert_eq!(provider.refunds().len(), 1);
    assert_eq!(provider.refund_calls(), 3);
}

// ---------------------------------------------------------------------------------------------
// The journal: the network remembers what it decided across the gateway's restarts.

#[tokio::test]
async fn a_devolution_described_with_reject_is_refused_and_stays_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox-network.jsonl");
    let refused = RefundRequest {
        description: "please REJECT this one".to_owned(),
        ..refund_of("refund:1#rf_1", 2_500)
    };
    let outcome = {
        let provider = sandbox().with_journal(&path).unwrap();
        provider.refund(&refused).await.unwrap()
    };
    assert!(
        matches!(&outcome, RefundOutcome::Failed { reason } if reason.contains("refused")),
        "{outcome:?}"
    );
    // After a restart the same key answers the same refusal.
    let provider = sandbox().with_journal(&path).unwrap();
    assert_eq!(provider.refund(&refused).await.unwrap(), outcome);
    assert!(matches!(
        provider
            .refund(&refund_of("refund:1#rf_2", 2_500))
            .await
            .unwrap(),
        RefundOutcome::Completed { .. }
    ));
}

#[tokio::test]
async fn a_journaled_network_remembers_its_transfers_and_refunds_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox-network.jsonl");
    let (first, rejected, refund) = {
        let provider = sandbox().with_journal(&path).unwrap();
        let first = provider
            .transfer(&transfer_to("seller@example.com", "po_1", 1_000))
            .await
            .unwrap();
        let rejected = provider
            .transfer(&transfer_to("reject@example.com", "co_2", 50))
            .await
            .unwrap();
        let refund = provider
            .refund(&refund_of("refund:1#1", 2_500))
            .await
            .unwrap();
        (first, rejected, refund)
    };
    // A process killed mid-write leaves a cut line behind: it was never answered.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"{\"kind\":\"TRANSFER\",\"idempotencyKey\":\"po_cut")
            .unwrap();
    }

    let provider = sandbox().with_journal(&path).unwrap();
    // The same keys answer the same outcomes and move nothing new.
    assert_eq!(
        provider
            .transfer(&transfer_to("seller@example.com", "po_1", 1_000))
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        provider
            .transfer(&transfer_to("reject@example.com", "co_2", 50))
            .await
            .unwrap(),
        rejected
    );
    assert_eq!(
        provider
            .refund(&refund_of("refund:1#1", 2_500))
            .await
            .unwrap(),
        refund
    );
    // A key reused for another movement is still refused.
    assert!(matches!(
        provider
            .transfer(&transfer_to("seller@example.com", "po_1", 999))
            .await,
        Err(ProviderError::Rejected(_))
    ));
    assert_eq!(provider.transfers().len(), 2);
    assert_eq!(provider.refunds().len(), 1);
    // The cut line's key is free, and the next entry is readable after it.
    provider
        .transfer(&transfer_to("seller@example.com", "po_cut", 10))
        .await
        .unwrap();
    let entries = journal::read_entries(&path).unwrap();
    assert_eq!(entries.len(), 4, "{entries:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
