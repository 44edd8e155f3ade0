//! The seed-004 cash-in contract: every field, type, limit and default, and every failure
//! reported at once.

// Test code: a broken assumption must fail the test loudly; the workspace lints are for
// shipped code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pixgw_domain::charge::validation::{CreateChargeInput, validate_create_charge};
use pixgw_domain::pix::money::Money;
use pixgw_domain::split::SplitValue;
use serde_json::{Value, json};

fn minimal() -> Value {
    json!({
        "transaction": {"value": 49.90, "description": "Assinatura mensal - Plano Básico", "externalId": "SUB-2024-001"},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"}
    })
}

fn marketplace() -> Value {
    json!({
        "transaction": {"value": 200.00, "description": "Pedido #12345 - Marketplace", "externalId": "MKT-12345", "generateQrCode": true},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": [
            {"pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "name": "Loja do João", "document": "11222333000181", "type": "PERCENTAGE", "value": 70},
            {"pixKey": "11222333000181", "pixKeyType": "CNPJ", "name": "Marketplace Ltda", "document": "11222333000181", "type": "PERCENTAGE", "value": 20},
            {"pixKey": "+5511999887766", "pixKeyType": "PHONE", "name": "Entregador Silva", "document": "98765432100", "type": "FIXED", "value": 10.00}
        ]
    })
}

fn ok(body: Value) -> CreateChargeInput {
    match validate_create_charge(&body) {
        Ok(input) => input,
        Err(errors) => panic!("expected valid, got {errors:?}"),
    }
}

fn errors(body: Value) -> Vec<String> {
    validate_create_charge(&body).expect_err("expected validation errors")
}

fn set(body: &mut Value, pointer: &str, value: Value) {
    *body.pointer_mut(pointer).expect("pointer exists") = value;
}

#[test]
fn minimal_example_gets_the_defaults() {
    let input = ok(minimal());
    assert_eq!(input.amount, Money::from_cents(4990));
    assert_eq!(input.expiration_seconds, 86_400);
    assert!(!input.generate_qr_code);
    assert!(input.additional_info.is_empty());
    assert!(input.splits.is_empty());
}

#[test]
fn marketplace_example_parses_splits_exactly() {
    let input = ok(marketplace());
    let values: Vec<SplitValue> = input.splits.iter().map(|s| s.value).collect();
    assert_eq!(
        values,
        vec![
            SplitValue::Percentage(7000),
            SplitValue::Percentage(2000),
            SplitValue::Fixed(Money::from_cents(1000))
        ]
    );
    assert!(input.generate_qr_code);
}

#[test]
fn seed_documents_with_wrong_check_digits_are_rejected_by_field() {
    for (pointer, doc) in [
        ("/payer/document", "12345678901"),
        ("/payer/document", "98765432000188"),
        ("/payer/document", "11222333000144"),
        ("/payer/document", "55666777000199"),
    ] {
        let mut body = minimal();
        set(&mut body, pointer, json!(doc));
        let errs = errors(body);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with("payer.document must be a valid CPF"),
            "{errs:?}"
        );
    }
    let mut body = marketplace();
    set(&mut body, "/splits/1/document", json!("11222333000144"));
    set(&mut body, "/splits/1/pixKey", json!("11222333000144"));
    let errs = errors(body);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("splits[1].document must be a valid")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("splits[1].pixKey must be a valid CNPJ")),
        "{errs:?}"
    );
}

#[test]
fn alphanumeric_cnpj_is_accepted_everywhere() {
    let mut body = marketplace();
    set(&mut body, "/payer/document", json!("12ABC34501DE35"));
    set(&mut body, "/splits/1/document", json!("12ABC34501DE35"));
    set(&mut body, "/splits/1/pixKey", json!("12ABC34501DE35"));
    ok(body);
}

#[test]
fn every_failure_is_listed_at_once() {
    let body = json!({
        "transaction": {"value": 0.001, "description": "", "expirationTime": 299, "generateQRCode": true},
        "payer": {"fullName": "x".repeat(101), "document": "123"},
        "additionalInfo": {"a": "1", "b": 2},
    });
    let errs = errors(body);
    for expected in [
        "property transaction.generateQRCode should not exist",
        "transaction.value must have no more than 2 decimal places",
        "transaction.value must not be less than 0.01",
        "transaction.description should not be empty",
        "transaction.externalId should not be empty",
        "transaction.expirationTime must not be less than 300",
        "payer.fullName must be shorter than or equal to 100 characters",
        "additionalInfo.b must be a string",
    ] {
        assert!(
            errs.iter().any(|e| e == expected),
            "missing {expected:?} in {errs:?}"
        );
    }
    assert!(
        errs.iter()
            .any(|e| e.starts_with("payer.document must be a valid CPF"))
    );
}

#[test]
fn limits_are_exact() {
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("/transaction/value", json!(0.01), None),
        (
            "/transaction/value",
            json!(0),
            Some("transaction.value must not be less than 0.01"),
        ),
        (
            "/transaction/value",
            json!(-5),
            Some("transaction.value must not be less than 0.01"),
        ),
        (
            "/transaction/value",
            json!(10.999),
            Some("transaction.value must have no more than 2 decimal places"),
        ),
        (
            "/transaction/value",
            json!("49.90"),
            Some("transaction.value must be a number conforming to the specified constraints"),
        ),
        ("/transaction/description", json!("d".repeat(140)), None),
        (
            "/transaction/description",
            json!("d".repeat(141)),
            Some("transaction.description must be shorter than or equal to 140 characters"),
        ),
        ("/transaction/expirationTime", json!(300), None),
        ("/transaction/expirationTime", json!(604_800), None),
        (
            "/transaction/expirationTime",
            json!(604_801),
            Some("transaction.expirationTime must not be greater than 604800"),
        ),
        (
            "/transaction/expirationTime",
            json!(300.5),
            Some("transaction.expirationTime must be an integer number"),
        ),
        (
            "/transaction/generateQrCode",
            json!("yes"),
            Some("transaction.generateQrCode must be a boolean value"),
        ),
        ("/payer/fullName", json!("n".repeat(100)), None),
        ("/payer", json!("Maria"), Some("payer must be an object")),
    ];
    for (pointer, value, expected) in cases {
        let mut body = minimal();
        if body.pointer(pointer).is_none() {
            let (parent, key) = pointer.rsplit_once('/').expect("pointer");
            body.pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .expect("parent")
                .insert(key.into(), Value::Null);
        }
        set(&mut body, pointer, value.clone());
        let result = validate_create_charge(&body);
        match expected {
            None => assert!(result.is_ok(), "{pointer}={value}: {result:?}"),
            Some(message) => {
                let errs = result.expect_err("should fail");
                assert_eq!(errs, vec![message.to_owned()], "{pointer}={value}");
            }
        }
    }
}

#[test]
fn additional_info_allows_ten_keys_not_eleven() {
    let ten: serde_json::Map<String, Value> =
        (0..10).map(|i| (format!("k{i}"), json!("v"))).collect();
    let mut body = minimal();
    body["additionalInfo"] = Value::Object(ten.clone());
    ok(body.clone());
    let mut eleven = ten;
    eleven.insert("k10".into(), json!("v"));
    body["additionalInfo"] = Value::Object(eleven);
    assert_eq!(
        errors(body),
        vec!["additionalInfo must not have more than 10 keys"]
    );
}

#[test]
fn split_rules() {
    // Eleven splits.
    let mut body = marketplace();
    let split = body["splits"][2].clone();
    body["splits"] = Value::Array(vec![split; 11]);
    set(&mut body, "/transaction/value", json!(1000));
    assert!(errors(body).contains(&"splits must contain no more than 10 elements".to_owned()));

    // Sum of shares above the amount.
    let mut body = marketplace();
    set(&mut body, "/splits/2/value", json!(20.01));
    assert_eq!(
        errors(body),
        vec!["splits total (200.01) must not exceed transaction.value (200.00)"]
    );

    // Exactly the amount is fine.
    let mut body = marketplace();
    set(&mut body, "/splits/2/value", json!(20));
    ok(body);

    // PERCENTAGE above 100, unknown enum values, keys invalid for their type, a share < 0.01.
    let mut body = marketplace();
    set(&mut body, "/splits/0/value", json!(100.01));
    set(&mut body, "/splits/1/pixKeyType", json!("TWITTER"));
    set(&mut body, "/splits/2/pixKey", json!("11999887766"));
    set(&mut body, "/splits/2/type", json!("fixed"));
    let errs = errors(body);
    assert!(
        errs.contains(&"splits[0].value must not be greater than 100".to_owned()),
        "{errs:?}"
    );
    assert!(errs.contains(&"splits[1].pixKeyType must be one of the following values: EMAIL, PHONE, CPF, CNPJ, RANDOM".to_owned()), "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("splits[2].pixKey must be a phone number")),
        "{errs:?}"
    );
    assert!(
        errs.contains(
            &"splits[2].type must be one of the following values: FIXED, PERCENTAGE".to_owned()
        ),
        "{errs:?}"
    );

    let mut body = minimal();
    set(&mut body, "/transaction/value", json!(0.5));
    body["splits"] = json!([{"pixKey": "a1b2c3d4-e5f6-4890-abcd-ef1234567890", "pixKeyType": "RANDOM", "name": "X", "document": "12345678909", "type": "PERCENTAGE", "value": 1}]);
    assert_eq!(
        errors(body),
        vec!["splits[0].value results in a share of less than 0.01 on transaction.value"]
    );
}

#[test]
fn wrong_types_and_unknown_fields_at_every_level() {
    let body = json!({
        "transaction": [],
        "payer": {"fullName": 5, "document": 12345678909u64, "email": "x"},
        "splits": {"0": {}},
        "extra": 1
    });
    let errs = errors(body);
    for expected in [
        "property extra should not exist",
        "transaction must be an object",
        "property payer.email should not exist",
        "payer.fullName must be a string",
        "payer.document must be a string",
        "splits must be an array",
    ] {
        assert!(
            errs.iter().any(|e| e == expected),
            "missing {expected:?} in {errs:?}"
        );
    }
    assert_eq!(
        errors(json!([1, 2])),
        vec!["request body must be a JSON object"]
    );
    assert_eq!(
        errors(json!(null)),
        vec!["request body must be a JSON object"]
    );
}

#[test]
fn huge_and_scientific_numbers_do_not_panic() {
    for value in [json!(1e300), json!(-1e300), json!(1.0e2)] {
        let mut body = minimal();
        set(&mut body, "/transaction/value", value);
        let _ = validate_create_charge(&body);
    }
    let body: Value = serde_json::from_str(
        r#"{"transaction":{"value":1e400,"description":"d","externalId":"e","expirationTime":1e400},"payer":{"fullName":"n","document":"12345678909"}}"#,
    )
    .expect("arbitrary precision parses huge numbers");
    let errs = errors(body);
    assert!(
        errs.contains(&"transaction.value must not be greater than 100000000".to_owned()),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"transaction.expirationTime must not be greater than 604800".to_owned()),
        "{errs:?}"
    );
}
