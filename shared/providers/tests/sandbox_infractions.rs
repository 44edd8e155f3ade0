//! The sandbox's MED infractions: what `open_infraction` / `decide_infraction` sign is what the
//! gateway's `verify_webhook` reads back, a decision is made once, the journal remembers both,
//! and malformed events name their field.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use pixgw_domain::dispute::{DEFAULT_DEFENCE_DAYS, DisputeOutcome, DisputeReason};
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind};
use pixgw_domain::provider::{
    InfractionDecided, InfractionOpened, PixProvider, ProviderEvent, ProviderWebhookError,
};
use pixgw_providers::sandbox::journal::{self, JournalEntry};
use pixgw_providers::sandbox::signature::{HEADER_ID, HEADER_TIMESTAMP};
use pixgw_providers::sandbox::{
    SANDBOX_ISPB, SANDBOX_PROVIDER, SandboxInfraction, SandboxProvider, SignedWebhook,
};
use serde_json::{Value, json};

const SECRET: &[u8] = b"whsec-sandbox-infraction-secret";
const TX: &str = "0123456789abcdef0123456789abcdef";
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

fn fraud(amount: Option<Money>, respond_by: Option<DateTime<Utc>>) -> SandboxInfraction {
    SandboxInfraction {
        transaction_id: tx(),
        reason: DisputeReason::Fraud,
        amount,
        respond_by,
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

// --- open ---------------------------------------------------------------------------------------

#[test]
fn an_opened_infraction_round_trips_to_the_exact_domain_event() {
    let (provider, _) = sandbox();
    let deadline =
        Utc.with_ymd_and_hms(2026, 3, 15, 23, 59, 59).unwrap() + Duration::microseconds(999_999);
    let notice = provider.open_infraction(&fraud(Some(Money::from_cents(4_990)), Some(deadline)));

    assert!(
        notice.infraction_id.starts_with("inf_"),
        "{}",
        notice.infraction_id
    );
    let event_id = notice.webhook.header(HEADER_ID).unwrap().to_owned();
    let json = body(&notice.webhook);
    assert_eq!(
        json,
        json!({
            "eventId": event_id,
            "eventType": "INFRACTION_OPENED",
            "eventAt": "2026-03-10T14:22:15.123Z",
            "data": {
                "infractionId": notice.infraction_id,
                "transactionId": TX,
                "reason": "FRAUD",
                "amount": serde_json::from_str::<Value>("49.90").unwrap(),
                "respondBy": "2026-03-15T23:59:59.999Z",
                "openedAt": "2026-03-10T14:22:15.123Z",
            },
        })
    );
    // The amount travels as a two-decimal JSON number, exactly.
    assert!(
        String::from_utf8_lossy(&notice.webhook.body).contains("\"amount\":49.90"),
        "{}",
        String::from_utf8_lossy(&notice.webhook.body)
    );

    assert_eq!(
        verify(&provider, &notice.webhook, start()),
        Ok(ProviderEvent::InfractionOpened(InfractionOpened {
            event_id,
            infraction_id: notice.infraction_id.clone(),
            transaction_id: tx(),
            reason: DisputeReason::Fraud,
            amount: Some(Money::from_cents(4_990)),
            respond_by: Some(
                Utc.with_ymd_and_hms(2026, 3, 15, 23, 59, 59).unwrap()
                    + Duration::milliseconds(999)
            ),
            opened_at: start_ms(),
        }))
    );
    assert_eq!(provider.name(), SANDBOX_PROVIDER);
    let recorded = provider.infractions();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].infraction_id, notice.infraction_id);
}

#[test]
fn without_amount_or_deadline_the_body_omits_the_amount_and_gives_seven_days() {
    let (provider, _) = sandbox();
    let notice = provider.open_infraction(&SandboxInfraction {
        reason: DisputeReason::OperationalFlaw,
        ..fraud(None, None)
    });
    let json = body(&notice.webhook);
    assert!(json["data"].get("amount").is_none(), "{json}");
    assert_eq!(json["data"]["reason"], "OPERATIONAL_FLAW");
    assert_eq!(json["data"]["respondBy"], "2026-03-17T14:22:15.123Z");

    let Ok(ProviderEvent::InfractionOpened(opened)) = verify(&provider, &notice.webhook, start())
    else {
        panic!("not an opened infraction");
    };
    assert_eq!(opened.reason, DisputeReason::OperationalFlaw);
    assert_eq!(opened.amount, None);
    assert_eq!(
        opened.respond_by,
        Some(start_ms() + Duration::days(DEFAULT_DEFENCE_DAYS))
    );
}

#[test]
fn each_opening_is_a_new_infraction_and_a_redelivery_repeats_the_body() {
    let (provider, clock) = sandbox();
    let first = provider.open_infraction(&fraud(None, None));
    let second = provider.open_infraction(&fraud(None, None));
    assert_ne!(first.infraction_id, second.infraction_id);
    assert_ne!(
        first.webhook.header(HEADER_ID),
        second.webhook.header(HEADER_ID)
    );

    clock.advance(Duration::hours(1));
    let again = provider.infraction_webhook(&first.infraction_id).unwrap();
    assert_eq!(again.body, first.webhook.body);
    assert_eq!(again.header(HEADER_ID), first.webhook.header(HEADER_ID));
    // Signed now, so the redelivery passes the freshness check an hour later.
    assert_ne!(
        again.header(HEADER_TIMESTAMP),
        first.webhook.header(HEADER_TIMESTAMP)
    );
    assert!(verify(&provider, &again, start() + Duration::hours(1)).is_ok());
    assert!(provider.infraction_webhook("inf_unknown").is_none());
}

// --- decide -------------------------------------------------------------------------------------

#[test]
fn a_lost_decision_names_a_fresh_sandbox_devolution_and_round_trips() {
    let (provider, clock) = sandbox();
    let notice = provider.open_infraction(&fraud(None, None));
    clock.advance(Duration::days(2));
    let decided_at = start_ms() + Duration::days(2);

    let webhook = provider.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Lost);

    let json = body(&webhook);
    let event_id = webhook.header(HEADER_ID).unwrap().to_owned();
    let e2e = json["data"]["endToEndId"].as_str().unwrap().to_owned();
    assert_eq!(
        json,
        json!({
            "eventId": event_id,
            "eventType": "INFRACTION_DECIDED",
            "eventAt": "2026-03-12T14:22:15.123Z",
            "data": {
                "infractionId": notice.infraction_id,
                "transactionId": TX,
                "outcome": "LOST",
                "endToEndId": e2e,
                "decidedAt": "2026-03-12T14:22:15.123Z",
            },
        })
    );
    let e2e = EndToEndId::parse(&e2e).unwrap();
    assert_eq!(e2e.kind(), EndToEndKind::Devolution);
    assert_eq!(e2e.ispb(), SANDBOX_ISPB);

    assert_eq!(
        verify(&provider, &webhook, start() + Duration::days(2)),
        Ok(ProviderEvent::InfractionDecided(InfractionDecided {
            event_id,
            infraction_id: notice.infraction_id.clone(),
            transaction_id: tx(),
            outcome: DisputeOutcome::Lost,
            end_to_end_id: Some(e2e),
            decided_at,
        }))
    );
}

#[test]
fn a_won_decision_has_no_end_to_end_id() {
    let (provider, _) = sandbox();
    let webhook = provider.decide_infraction("inf_won", &tx(), DisputeOutcome::Won);
    let json = body(&webhook);
    assert_eq!(json["data"]["outcome"], "WON");
    assert!(json["data"].get("endToEndId").is_none(), "{json}");
    let Ok(ProviderEvent::InfractionDecided(decided)) = verify(&provider, &webhook, start()) else {
        panic!("not a decision");
    };
    assert_eq!(decided.outcome, DisputeOutcome::Won);
    assert_eq!(decided.end_to_end_id, None);
    assert_eq!(decided.infraction_id, "inf_won");
}

#[test]
fn deciding_twice_returns_the_first_decision_byte_for_byte() {
    let (provider, clock) = sandbox();
    let notice = provider.open_infraction(&fraud(None, None));
    let first = provider.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Lost);

    clock.advance(Duration::minutes(30));
    let again = provider.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Lost);
    // Asked differently: still the first decision.
    let other = provider.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Won);

    for repeat in [&again, &other] {
        assert_eq!(repeat.body, first.body);
        assert_eq!(repeat.header(HEADER_ID), first.header(HEADER_ID));
        assert_ne!(
            repeat.header(HEADER_TIMESTAMP),
            first.header(HEADER_TIMESTAMP)
        );
        assert_eq!(
            verify(&provider, repeat, start() + Duration::minutes(30)),
            verify(&provider, &first, start())
        );
    }
    assert_eq!(provider.infraction_decisions().len(), 1);
    assert_eq!(
        provider.infraction_decisions()[0].outcome,
        DisputeOutcome::Lost
    );
    // Another infraction is decided on its own.
    let separate = provider.decide_infraction("inf_other", &tx(), DisputeOutcome::Lost);
    assert_ne!(separate.header(HEADER_ID), first.header(HEADER_ID));
    assert_ne!(
        body(&separate)["data"]["endToEndId"],
        body(&first)["data"]["endToEndId"]
    );
}

#[test]
fn clones_share_infractions_and_decisions() {
    let (provider, _) = sandbox();
    let handle = provider.clone();
    let notice = provider.open_infraction(&fraud(None, None));
    let first = provider.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Lost);
    assert_eq!(handle.infractions().len(), 1);
    let again = handle.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Lost);
    assert_eq!(again.body, first.body);
}

#[test]
fn a_journaled_sandbox_remembers_infractions_and_decisions_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox-network.jsonl");
    let (notice, decided) = {
        let (provider, _) = sandbox();
        let provider = provider.with_journal(&path).unwrap();
        let notice = provider.open_infraction(&fraud(Some(Money::from_cents(1_000)), None));
        let decided =
            provider.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Lost);
        (notice, decided)
    };

    let (provider, clock) = sandbox();
    let provider = provider.with_journal(&path).unwrap();
    clock.advance(Duration::days(1));
    let again = provider.decide_infraction(&notice.infraction_id, &tx(), DisputeOutcome::Won);
    assert_eq!(again.body, decided.body);
    assert_eq!(again.header(HEADER_ID), decided.header(HEADER_ID));
    let opened = provider.infraction_webhook(&notice.infraction_id).unwrap();
    assert_eq!(opened.body, notice.webhook.body);
    assert_eq!(provider.infractions().len(), 1);
    assert_eq!(provider.infraction_decisions().len(), 1);

    let entries = journal::read_entries(&path).unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(matches!(entries[0], JournalEntry::InfractionOpened { .. }));
    assert!(matches!(entries[1], JournalEntry::InfractionDecided { .. }));
}

// --- parsing ------------------------------------------------------------------------------------

fn opened_body() -> Value {
    json!({
        "eventId": "evt_1",
        "eventType": "INFRACTION_OPENED",
        "eventAt": "2026-03-10T14:22:15Z",
        "data": {
            "infractionId": "inf_1",
            "transactionId": TX,
            "reason": "FRAUD",
            "amount": number("10.00"),
            "respondBy": "2026-03-17T14:22:15Z",
            "openedAt": "2026-03-10T14:22:15Z",
        },
    })
}

fn decided_body() -> Value {
    json!({
        "eventId": "evt_2",
        "eventType": "INFRACTION_DECIDED",
        "eventAt": "2026-03-12T09:00:00Z",
        "data": {
            "infractionId": "inf_1",
            "transactionId": TX,
            "outcome": "LOST",
            "endToEndId": D_ID,
            "decidedAt": "2026-03-12T06:00:00-03:00",
        },
    })
}

/// A JSON number with exactly this text (the workspace keeps numbers' text).
fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
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
fn hand_written_events_with_offsets_and_optional_fields_are_understood() {
    let (provider, _) = sandbox();
    assert_eq!(
        signed(&provider, &opened_body()),
        Ok(ProviderEvent::InfractionOpened(InfractionOpened {
            event_id: "evt_1".into(),
            infraction_id: "inf_1".into(),
            transaction_id: tx(),
            reason: DisputeReason::Fraud,
            amount: Some(Money::from_cents(1_000)),
            respond_by: Some(Utc.with_ymd_and_hms(2026, 3, 17, 14, 22, 15).unwrap()),
            opened_at: Utc.with_ymd_and_hms(2026, 3, 10, 14, 22, 15).unwrap(),
        }))
    );
    // Absent and null alike: the domain's defaults.
    for value in [None, Some(Value::Null)] {
        let body = with(opened_body(), "amount", value.clone());
        let body = with(body, "respondBy", value);
        let Ok(ProviderEvent::InfractionOpened(opened)) = signed(&provider, &body) else {
            panic!("{body}");
        };
        assert_eq!((opened.amount, opened.respond_by), (None, None));
    }
    assert_eq!(
        signed(&provider, &decided_body()),
        Ok(ProviderEvent::InfractionDecided(InfractionDecided {
            event_id: "evt_2".into(),
            infraction_id: "inf_1".into(),
            transaction_id: tx(),
            outcome: DisputeOutcome::Lost,
            end_to_end_id: Some(EndToEndId::parse(D_ID).unwrap()),
            decided_at: Utc.with_ymd_and_hms(2026, 3, 12, 9, 0, 0).unwrap(),
        }))
    );
    // A lost decision may leave the devolução unnamed.
    let Ok(ProviderEvent::InfractionDecided(decided)) =
        signed(&provider, &with(decided_body(), "endToEndId", None))
    else {
        panic!("not understood");
    };
    assert_eq!(decided.end_to_end_id, None);
}

#[test]
fn malformed_infraction_events_name_the_field() {
    let (provider, _) = sandbox();
    let long_id = Value::from("i".repeat(129));
    let cases: Vec<(Value, &str)> = vec![
        (
            with(opened_body(), "infractionId", None),
            "data.infractionId is missing",
        ),
        (
            with(opened_body(), "infractionId", Some("".into())),
            "data.infractionId must be",
        ),
        (
            with(opened_body(), "infractionId", Some(long_id.clone())),
            "data.infractionId must be",
        ),
        (
            with(opened_body(), "infractionId", Some("inf 1".into())),
            "data.infractionId must be",
        ),
        (
            with(opened_body(), "transactionId", Some("../etc".into())),
            "data.transactionId is not",
        ),
        (
            with(opened_body(), "transactionId", Some(7.into())),
            "data.transactionId must be a string",
        ),
        (
            with(opened_body(), "reason", None),
            "data.reason is missing",
        ),
        (
            with(opened_body(), "reason", Some("CHARGEBACK".into())),
            "data.reason must be",
        ),
        // Strict: the sandbox's own events use the canonical names only.
        (
            with(opened_body(), "reason", Some("fraud".into())),
            "data.reason must be",
        ),
        (
            with(opened_body(), "amount", Some("10.00".into())),
            "data.amount must be a JSON number",
        ),
        (
            with(opened_body(), "amount", Some(number("10.001"))),
            "data.amount must have at most two decimal places",
        ),
        (
            with(opened_body(), "amount", Some(number("0"))),
            "data.amount must be positive",
        ),
        (
            with(opened_body(), "amount", Some(number("-5.00"))),
            "data.amount must be positive",
        ),
        (
            with(opened_body(), "amount", Some(number("100000000.01"))),
            "data.amount exceeds the maximum",
        ),
        (
            with(opened_body(), "amount", Some(number("1e400"))),
            "data.amount is not a representable",
        ),
        (
            with(opened_body(), "respondBy", Some("next week".into())),
            "data.respondBy must be an RFC 3339",
        ),
        (
            with(opened_body(), "openedAt", None),
            "data.openedAt is missing",
        ),
        (
            with(opened_body(), "openedAt", Some("2026-03-10".into())),
            "data.openedAt must be an RFC 3339",
        ),
        (
            json!({"eventId": "evt_1", "eventType": "INFRACTION_OPENED", "data": []}),
            "data must be an object",
        ),
        (
            json!({"eventId": "evt_1", "eventType": "INFRACTION_DECIDED"}),
            "data is missing",
        ),
        (
            with(decided_body(), "infractionId", Some(long_id)),
            "data.infractionId must be",
        ),
        (
            with(decided_body(), "transactionId", None),
            "data.transactionId is missing",
        ),
        (
            with(decided_body(), "outcome", None),
            "data.outcome is missing",
        ),
        (
            with(decided_body(), "outcome", Some("ACCEPTED".into())),
            "data.outcome must be",
        ),
        (
            with(decided_body(), "outcome", Some("lost".into())),
            "data.outcome must be",
        ),
        (
            with(decided_body(), "endToEndId", Some("D123".into())),
            "data.endToEndId is not a PIX end-to-end id",
        ),
        (
            with(
                decided_body(),
                "endToEndId",
                Some("E00416968202603101827cemeFscF6AG".into()),
            ),
            "data.endToEndId must be a devolution (D…)",
        ),
        (
            with(decided_body(), "outcome", Some("WON".into())),
            "data.endToEndId must be absent when data.outcome is \"WON\"",
        ),
        (
            with(decided_body(), "decidedAt", Some("yesterday".into())),
            "data.decidedAt must be an RFC 3339",
        ),
        (
            with(decided_body(), "decidedAt", None),
            "data.decidedAt is missing",
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
        &with(opened_body(), "reason", Some("X".repeat(500).into())),
    ));
    assert!(why.len() < 200, "{why}");
}

#[test]
fn a_forged_infraction_is_unauthenticated_before_it_is_read() {
    let (provider, _) = sandbox();
    let other = SandboxProvider::new(
        "pix.example.com",
        Arc::new(TestClock(Mutex::new(start()))),
        b"another-secret".to_vec(),
    )
    .unwrap();
    let forged = other.decide_infraction("inf_1", &tx(), DisputeOutcome::Lost);
    assert!(matches!(
        verify(&provider, &forged, start()),
        Err(ProviderWebhookError::Unauthenticated(_))
    ));
}
