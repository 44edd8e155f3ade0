use chrono::{Duration, TimeZone, Utc};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::TransactionId;
use pixgw_domain::pix::money::Money;

use super::*;

fn charge_lasting(duration: Duration) -> ProviderChargeRequest {
    let created_at = Utc.with_ymd_and_hms(2026, 3, 10, 14, 20, 0).unwrap();
    ProviderChargeRequest {
        transaction_id: TransactionId::generate(),
        amount: Money::from_cents(1000),
        description: "d".into(),
        payer_name: "n".into(),
        payer_document: TaxDocument::parse("12345678909").unwrap(),
        created_at,
        expires_at: created_at + duration,
        merchant_name: "m".into(),
        merchant_city: "c".into(),
        idempotency_key: "k".into(),
    }
}

#[test]
fn expiration_rounds_up_to_whole_minutes_and_is_at_least_one() {
    for (duration, minutes) in [
        (Duration::minutes(60), 60),
        (Duration::seconds(3601), 61),
        (Duration::milliseconds(60_001), 2),
        (Duration::seconds(1), 1),
        (Duration::zero(), 1),
        (Duration::seconds(-30), 1),
    ] {
        assert_eq!(
            expiration_minutes(&charge_lasting(duration)),
            minutes,
            "{duration}"
        );
    }
}

#[test]
fn evp_is_connectpsps_name_for_random_keys() {
    assert_eq!(key_type_name(PixKeyType::Random), "EVP");
    assert_eq!(key_type_name(PixKeyType::Cnpj), "CNPJ");
}

#[test]
fn event_type_synonyms_are_disjoint() {
    use crate::med::normalise;
    let documented: &[&str] = &[
        "CASHIN_PAID",
        "CASHIN_REFUNDED",
        "CASHOUT_PAID",
        "CASHOUT_FAILED",
    ];
    let lists = [
        documented,
        webhook::HELD_PAYMENT_EVENTS,
        webhook::HOLD_RELEASED_EVENTS,
        webhook::HOLD_RETURNED_EVENTS,
        webhook::INFRACTION_OPENED_EVENTS,
        webhook::INFRACTION_DECIDED_EVENTS,
    ];
    let all: Vec<String> = lists
        .iter()
        .flat_map(|l| l.iter())
        .map(|s| normalise(s))
        .collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), unique.len(), "an event type is listed twice");
}
