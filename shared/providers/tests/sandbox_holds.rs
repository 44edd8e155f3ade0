//! The sandbox's cautelar holds (bloqueio cautelar, MED 2.0): a held `CASHIN_PAID` carries its
//! until and reads back as `ChargePaid::hold_until`; `release_hold` / `return_hold` sign what
//! the gateway's `verify_webhook` reads back as `HoldReleased` / `HoldReturned`; a hold ends
//! once (repeats return the first ending), the journal remembers it, and malformed events
//! name their field.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use pixgw_domain::charge::MAX_HOLD_HOURS;
use pixgw_domain::dispute::DevolutionNature;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData};
use pixgw_domain::provider::{ProviderEvent, ProviderWebhookError};
use pixgw_providers::sandbox::journal::{self, JournalEntry};
use pixgw_providers::sandbox::signature::{HEADER_ID, HEADER_TIMESTAMP};
use pixgw_providers::sandbox::{
    SANDBOX_ISPB, SandboxHoldOutcome, SandboxPayment, SandboxProvider, SignedWebhook,
};
use serde_json::{Value, json};

const SECRET: &[u8] = b"whsec-sandbox-hold-secret";
const TX: &str = "0123456789abcdef0123456789abcdef";
const OTHER_TX: &str = "fedcba9876543210fedcba9876543210";
const D_ID: &str = "D99999999202603101422abcdefghijk";

/// A clock tests move by hand; sub-millisecond on purpose (the network keeps milliseconds).
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
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

fn start_ms() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 15).unwrap() + Duration::milliseconds(123)
}

fn sandbox() -> (SandboxProvider, Arc<TestClock>) {
    let clock = Arc::new(TestClock(Mutex::new(start())));
    let provider = SandboxProvider::new("pix.example.com", clock.clone(), SECRET.to_vec()).unwrap();
    (provider, clock)
}

fn tx() -> TransactionId {
    TransactionId::parse(TX).unwrap()
}

fn other_tx() -> TransactionId {
    TransactionId::parse(OTHER_TX).unwrap()
}

fn payment(hold: bool) -> SandboxPayment {
    SandboxPayment {
        transaction_id: tx(),
        amount: Money::from_cents(20_000),
        paid_by: PaidBy {
            name: "Maria Souza".into(),
            document: "12345678909".into(),
            bank: PayerBankData::new(Ispb::parse("00000000").unwrap(), "0001", "1234567").unwrap(),
        },
        hold,
    }
}

fn verify(
    provider: &SandboxProvider,
    webhook: &SignedWebhook,
    now: DateTime<Utc>,
) -> Result<ProviderEvent, ProviderWebhookError> {
    provider.verify_signed(&webhook.inbound(now))
}

fn body(webhook: &SignedWebhook) -> Value {
    serde_json::from_slice(&webhook.body).unwrap()
}

fn malformed(result: Result<ProviderEvent, ProviderWebhookError>) -> String {
    match result {
        Err(ProviderWebhookError::Malformed(why)) => why,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

// --- the held payment ---------------------------------------------------------------------------

#[test]
fn a_held_payment_carries_its_until_72_hours_on_and_round_trips() {
    let (provider, _) = sandbox();
    let webhook = provider.pay_charge(&payment(true));
    let json = body(&webhook);
    assert_eq!(json["eventType"], "CASHIN_PAID");
    assert_eq!(json["data"]["paidAt"], "2026-03-10T14:22:15.123Z");
    assert_eq!(
        json["data"]["hold"],
        json!({"until": "2026-03-13T14:22:15.123Z"})
    );

    let Ok(ProviderEvent::ChargePaid(paid)) = verify(&provider, &webhook, start()) else {
        panic!("not a payment");
    };
    assert_eq!(paid.paid_at, start_ms());
    assert_eq!(
        paid.hold_until,
        Some(start_ms() + Duration::hours(MAX_HOLD_HOURS))
    );
    assert_eq!(paid.transaction_id, tx());
    assert_eq!(paid.amount, Money::from_cents(20_000));
}

#[test]
fn a_payment_not_held_has_no_hold_at_all() {
    let (provider, _) = sandbox();
    let webhook = provider.pay_charge(&payment(false));
    let json = body(&webhook);
    assert!(json["data"].get("hold").is_none(), "{json}");
    let Ok(ProviderEvent::ChargePaid(paid)) = verify(&provider, &webhook, start()) else {
        panic!("not a payment");
    };
    assert_eq!(paid.hold_until, None);
}

// --- release and return -------------------------------------------------------------------------

#[test]
fn a_release_round_trips_to_hold_released() {
    let (provider, clock) = sandbox();
    provider.pay_charge(&payment(true));
    clock.advance(Duration::hours(20));

    let webhook = provider.release_hold(&tx());

    let event_id = webhook.header(HEADER_ID).unwrap().to_owned();
    assert!(event_id.starts_with("evt_"), "{event_id}");
    assert_eq!(
        body(&webhook),
        json!({
            "eventId": event_id,
            "eventType": "CASHIN_HOLD_RELEASED",
            "eventAt": "2026-03-11T10:22:15.123Z",
            "data": {
                "transactionId": TX,
                "releasedAt": "2026-03-11T10:22:15.123Z",
            },
        })
    );
    assert_eq!(
        verify(&provider, &webhook, start() + Duration::hours(20)),
        Ok(ProviderEvent::HoldReleased {
            event_id,
            transaction_id: tx(),
        })
    );
    let endings = provider.hold_endings();
    assert_eq!(endings.len(), 1);
    assert_eq!(endings[0].outcome, SandboxHoldOutcome::Released);
    assert_eq!(endings[0].ended_at, start_ms() + Duration::hours(20));
}

#[test]
fn a_return_names_a_fresh_sandbox_devolution_for_fraud_and_round_trips() {
    let (provider, clock) = sandbox();
    provider.pay_charge(&payment(true));
    clock.advance(Duration::hours(30));

    let webhook = provider.return_hold(&tx());

    let json = body(&webhook);
    let event_id = webhook.header(HEADER_ID).unwrap().to_owned();
    let e2e = json["data"]["endToEndId"].as_str().unwrap().to_owned();
    assert_eq!(
        json,
        json!({
            "eventId": event_id,
            "eventType": "CASHIN_HOLD_RETURNED",
            "eventAt": "2026-03-11T20:22:15.123Z",
            "data": {
                "transactionId": TX,
                "nature": "MED_FRAUDE",
                "endToEndId": e2e,
                "returnedAt": "2026-03-11T20:22:15.123Z",
            },
        })
    );
    let e2e = EndToEndId::parse(&e2e).unwrap();
    assert_eq!(e2e.kind(), EndToEndKind::Devolution);
    assert_eq!(e2e.ispb(), SANDBOX_ISPB);
    assert!(e2e.as_str().starts_with("D99999999202603112022"), "{e2e:?}");

    assert_eq!(
        verify(&provider, &webhook, start() + Duration::hours(30)),
        Ok(ProviderEvent::HoldReturned {
            event_id,
            transaction_id: tx(),
            nature: Some(DevolutionNature::MedFraud),
            end_to_end_id: Some(e2e.clone()),
        })
    );
    assert_eq!(
        provider.hold_endings()[0].outcome,
        SandboxHoldOutcome::Returned {
            nature: DevolutionNature::MedFraud,
            end_to_end_id: e2e,
        }
    );
}

#[test]
fn a_hold_ends_once_and_every_repeat_returns_the_first_ending() {
    let (provider, clock) = sandbox();
    let released = provider.release_hold(&tx());

    clock.advance(Duration::minutes(30));
    let again = provider.release_hold(&tx());
    // Asked the other way: still the release.
    let returned = provider.return_hold(&tx());
    for repeat in [&again, &returned] {
        assert_eq!(repeat.body, released.body);
        assert_eq!(repeat.header(HEADER_ID), released.header(HEADER_ID));
        // Signed now, so the redelivery passes the freshness check later.
        assert_ne!(
            repeat.header(HEADER_TIMESTAMP),
            released.header(HEADER_TIMESTAMP)
        );
        assert_eq!(
            verify(&provider, repeat, start() + Duration::minutes(30)),
            verify(&provider, &released, start())
        );
    }

    // And a return stands against a later release, devolução id included.
    let first_return = provider.return_hold(&other_tx());
    clock.advance(Duration::minutes(30));
    for repeat in [
        provider.return_hold(&other_tx()),
        provider.release_hold(&other_tx()),
    ] {
        assert_eq!(repeat.body, first_return.body);
        assert_eq!(repeat.header(HEADER_ID), first_return.header(HEADER_ID));
    }
    assert_ne!(first_return.header(HEADER_ID), released.header(HEADER_ID));

    let endings = provider.hold_endings();
    assert_eq!(endings.len(), 2, "{endings:?}");
    assert_eq!(endings[0].transaction_id, tx());
    assert_eq!(endings[0].outcome, SandboxHoldOutcome::Released);
    assert_eq!(endings[1].transaction_id, other_tx());
    assert!(matches!(
        endings[1].outcome,
        SandboxHoldOutcome::Returned { .. }
    ));
}

#[test]
fn two_returns_of_different_transactions_get_different_devolutions() {
    let (provider, _) = sandbox();
    let first = provider.return_hold(&tx());
    let second = provider.return_hold(&other_tx());
    assert_ne!(first.header(HEADER_ID), second.header(HEADER_ID));
    assert_ne!(
        body(&first)["data"]["endToEndId"],
        body(&second)["data"]["endToEndId"]
    );
}

#[test]
fn clones_share_hold_endings() {
    let (provider, _) = sandbox();
    let handle = provider.clone();
    let first = provider.return_hold(&tx());
    assert_eq!(handle.hold_endings().len(), 1);
    assert_eq!(handle.release_hold(&tx()).body, first.body);
}

#[test]
fn a_journaled_sandbox_remembers_hold_endings_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox-network.jsonl");
    let (released, returned) = {
        let (provider, _) = sandbox();
        let provider = provider.with_journal(&path).unwrap();
        (
            provider.release_hold(&tx()),
            provider.return_hold(&other_tx()),
        )
    };

    let (provider, clock) = sandbox();
    let provider = provider.with_journal(&path).unwrap();
    clock.advance(Duration::days(1));
    let again = provider.return_hold(&tx());
    assert_eq!(again.body, released.body);
    assert_eq!(again.header(HEADER_ID), released.header(HEADER_ID));
    let again = provider.release_hold(&other_tx());
    assert_eq!(again.body, returned.body);
    assert_eq!(again.header(HEADER_ID), returned.header(HEADER_ID));
    assert_eq!(provider.hold_endings().len(), 2);

    // Repeats are answered from memory, not written again.
    let entries = journal::read_entries(&path).unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(matches!(entries[0], JournalEntry::HoldReleased { .. }));
    let JournalEntry::HoldReturned { ref nature, .. } = entries[1] else {
        panic!("{entries:?}");
    };
    assert_eq!(nature, "MED_FRAUDE");
}

// --- parsing ------------------------------------------------------------------------------------

fn paid_body() -> Value {
    json!({
        "eventId": "evt_1",
        "eventType": "CASHIN_PAID",
        "eventAt": "2026-03-10T14:22:15Z",
        "data": {
            "transactionId": TX,
            "endToEndId": "E00000000202603101422abcdefghijk",
            "status": "PAID",
            "amount": serde_json::from_str::<Value>("200.00").unwrap(),
            "paidAt": "2026-03-10T14:22:15Z",
            "payer": {
                "name": "Maria Souza",
                "document": "12345678909",
                "bankData": {"ispb": "00000000", "branch": "0001", "account": "1234567"},
            },
            "hold": {"until": "2026-03-13T11:22:15-03:00"},
        },
    })
}

fn released_body() -> Value {
    json!({
        "eventId": "evt_2",
        "eventType": "CASHIN_HOLD_RELEASED",
        "eventAt": "2026-03-11T09:00:00Z",
        "data": {"transactionId": TX, "releasedAt": "2026-03-11T09:00:00Z"},
    })
}

fn returned_body() -> Value {
    json!({
        "eventId": "evt_3",
        "eventType": "CASHIN_HOLD_RETURNED",
        "eventAt": "2026-03-11T09:00:00Z",
        "data": {
            "transactionId": TX,
            "nature": "MED_OPERACIONAL",
            "endToEndId": D_ID,
            "returnedAt": "2026-03-11T06:00:00-03:00",
        },
    })
}

/// `body` with `data.{field}` set to `value` (`None`: removed).
fn with(mut body: Value, field: &str, value: Option<Value>) -> Value {
    let data = body["data"].as_object_mut().unwrap();
    match value {
        Some(value) => data.insert(field.to_owned(), value),
        None => data.remove(field),
    };
    body
}

fn signed(provider: &SandboxProvider, body: &Value) -> Result<ProviderEvent, ProviderWebhookError> {
    let webhook = provider.sign_webhook("evt_x", body.to_string().into_bytes());
    verify(provider, &webhook, start())
}

#[test]
fn hand_written_hold_events_are_understood() {
    let (provider, _) = sandbox();
    let Ok(ProviderEvent::ChargePaid(paid)) = signed(&provider, &paid_body()) else {
        panic!("not a payment");
    };
    // Any offset, normalised to UTC.
    assert_eq!(
        paid.hold_until,
        Some(Utc.with_ymd_and_hms(2026, 3, 13, 14, 22, 15).unwrap())
    );
    // A null hold is no hold; an until in the past is the domain's to judge.
    let Ok(ProviderEvent::ChargePaid(paid)) =
        signed(&provider, &with(paid_body(), "hold", Some(Value::Null)))
    else {
        panic!("not a payment");
    };
    assert_eq!(paid.hold_until, None);
    let past = with(
        paid_body(),
        "hold",
        Some(json!({"until": "2020-01-01T00:00:00Z"})),
    );
    let Ok(ProviderEvent::ChargePaid(paid)) = signed(&provider, &past) else {
        panic!("not a payment");
    };
    assert_eq!(
        paid.hold_until,
        Some(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap())
    );

    assert_eq!(
        signed(&provider, &released_body()),
        Ok(ProviderEvent::HoldReleased {
            event_id: "evt_2".into(),
            transaction_id: tx(),
        })
    );
    assert_eq!(
        signed(&provider, &returned_body()),
        Ok(ProviderEvent::HoldReturned {
            event_id: "evt_3".into(),
            transaction_id: tx(),
            nature: Some(DevolutionNature::MedOperational),
            end_to_end_id: Some(EndToEndId::parse(D_ID).unwrap()),
        })
    );
    for nature in DevolutionNature::ALL {
        let body = with(returned_body(), "nature", Some(nature.as_str().into()));
        let Ok(ProviderEvent::HoldReturned { nature: read, .. }) = signed(&provider, &body) else {
            panic!("{body}");
        };
        assert_eq!(read, Some(nature));
    }
    // The nature and the devolução id may go unsaid (absent or null).
    for value in [None, Some(Value::Null)] {
        let body = with(returned_body(), "nature", value.clone());
        let body = with(body, "endToEndId", value);
        assert_eq!(
            signed(&provider, &body),
            Ok(ProviderEvent::HoldReturned {
                event_id: "evt_3".into(),
                transaction_id: tx(),
                nature: None,
                end_to_end_id: None,
            })
        );
    }
}

#[test]
fn malformed_hold_events_name_the_field() {
    let (provider, _) = sandbox();
    let cases: Vec<(Value, &str)> = vec![
        (
            with(paid_body(), "hold", Some("2026-03-13T14:22:15Z".into())),
            "data.hold must be an object",
        ),
        (
            with(paid_body(), "hold", Some(json!(true))),
            "data.hold must be an object",
        ),
        (
            with(paid_body(), "hold", Some(json!({}))),
            "data.hold.until is missing",
        ),
        (
            with(paid_body(), "hold", Some(json!({"until": null}))),
            "data.hold.until is missing",
        ),
        (
            with(paid_body(), "hold", Some(json!({"until": "in three days"}))),
            "data.hold.until must be an RFC 3339 timestamp",
        ),
        // Strict: the sandbox always sends an offset.
        (
            with(
                paid_body(),
                "hold",
                Some(json!({"until": "2026-03-13T14:22:15"})),
            ),
            "data.hold.until must be an RFC 3339 timestamp",
        ),
        (
            with(paid_body(), "hold", Some(json!({"until": 1773411735}))),
            "data.hold.until must be a string",
        ),
        (
            with(released_body(), "transactionId", None),
            "data.transactionId is missing",
        ),
        (
            with(released_body(), "transactionId", Some("../etc".into())),
            "data.transactionId is not",
        ),
        (
            with(released_body(), "releasedAt", None),
            "data.releasedAt is missing",
        ),
        (
            with(released_body(), "releasedAt", Some("now".into())),
            "data.releasedAt must be an RFC 3339",
        ),
        (
            json!({"eventId": "evt_2", "eventType": "CASHIN_HOLD_RELEASED"}),
            "data is missing",
        ),
        (
            json!({"eventId": "evt_3", "eventType": "CASHIN_HOLD_RETURNED", "data": "x"}),
            "data must be an object",
        ),
        (
            with(returned_body(), "transactionId", Some(7.into())),
            "data.transactionId must be a string",
        ),
        (
            with(returned_body(), "nature", Some("FRAUD".into())),
            "data.nature must be \"ORIGINAL\", \"RETIRADA\", \"MED_OPERACIONAL\" or \"MED_FRAUDE\"",
        ),
        // Strict: the sandbox's own events use the canonical names only.
        (
            with(returned_body(), "nature", Some("med_fraude".into())),
            "data.nature must be",
        ),
        (
            with(returned_body(), "nature", Some("FR01".into())),
            "data.nature must be",
        ),
        (
            with(returned_body(), "nature", Some(1.into())),
            "data.nature must be a string",
        ),
        (
            with(returned_body(), "endToEndId", Some("D123".into())),
            "data.endToEndId is not a PIX end-to-end id",
        ),
        (
            with(
                returned_body(),
                "endToEndId",
                Some("E00416968202603101827cemeFscF6AG".into()),
            ),
            "data.endToEndId must be a devolution (D…)",
        ),
        (
            with(returned_body(), "returnedAt", None),
            "data.returnedAt is missing",
        ),
        (
            with(returned_body(), "returnedAt", Some("2026-03-11".into())),
            "data.returnedAt must be an RFC 3339",
        ),
    ];
    for (body, expected) in cases {
        let why = malformed(signed(&provider, &body));
        assert!(
            why.contains(expected),
            "{body}\n=> {why:?}, wanted {expected:?}"
        );
    }
    // Quoted values are cut short.
    let why = malformed(signed(
        &provider,
        &with(returned_body(), "nature", Some("X".repeat(500).into())),
    ));
    assert!(why.len() < 200, "{why}");
}

#[test]
fn a_forged_hold_ending_is_unauthenticated_before_it_is_read() {
    let (provider, _) = sandbox();
    let other = SandboxProvider::new(
        "pix.example.com",
        Arc::new(TestClock(Mutex::new(start()))),
        b"another-secret".to_vec(),
    )
    .unwrap();
    for forged in [other.release_hold(&tx()), other.return_hold(&other_tx())] {
        assert!(matches!(
            verify(&provider, &forged, start()),
            Err(ProviderWebhookError::Unauthenticated(_))
        ));
    }
    // The forger's network remembers them; ours does not.
    assert!(provider.hold_endings().is_empty());
}
