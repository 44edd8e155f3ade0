//! Request bodies of seed 004's examples, shared by the API and pipeline tests.

use serde_json::{Value, json};

/// Seed 004's marketplace example: R$ 200 split 70 % / 20 % / R$ 10 fixed, on the schedule.
pub fn marketplace(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 200.00, "description": "Pedido #12345 - Marketplace", "externalId": external_id, "generateQrCode": true},
        "payer": {"fullName": "João Pereira", "document": "12345678909"},
        "splits": [
            {"pixKey": "vendedor@email.com", "pixKeyType": "EMAIL", "name": "Loja do João", "document": "11222333000181", "type": "PERCENTAGE", "value": 70},
            {"pixKey": "11222333000181", "pixKeyType": "CNPJ", "name": "Marketplace Ltda", "document": "11222333000181", "type": "PERCENTAGE", "value": 20},
            {"pixKey": "+5511999887766", "pixKeyType": "PHONE", "name": "Entregador Silva", "document": "98765432100", "type": "FIXED", "value": 10.00}
        ]
    })
}

/// Seed 004's immediate split example: R$ 350, 80 % paid out at once.
pub fn immediate_split(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 350.00, "description": "Serviço de consultoria - Projeto Alpha", "externalId": external_id, "generateQrCode": true},
        "payer": {"fullName": "Empresa XYZ S.A.", "document": "11222333000181"},
        "splits": [
            {"pixKey": "a1b2c3d4-e5f6-4890-abcd-ef1234567890", "pixKeyType": "RANDOM", "name": "Consultor Freelancer", "document": "12345678909", "type": "PERCENTAGE", "value": 80, "immediate": true}
        ]
    })
}

/// An immediate split the sandbox PIX network refuses (its key contains `reject`): R$ 100,
/// R$ 25.50 to the recipient, whose payout FAILS.
pub fn rejected_immediate_split(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 100.00, "description": "Pedido com repasse recusado", "externalId": external_id},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"},
        "splits": [
            {"pixKey": "reject@example.com", "pixKeyType": "EMAIL", "name": "Recebedor Inexistente", "document": "98765432100", "type": "FIXED", "value": 25.50, "immediate": true}
        ]
    })
}

/// A charge without splits (percentages that do not divide evenly elsewhere: R$ 33.33).
pub fn no_splits(external_id: &str) -> Value {
    json!({
        "transaction": {"value": 33.33, "description": "Assinatura", "externalId": external_id},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"}
    })
}

/// Rounding dust: 3 × 33.33 % of R$ 0.10 → 0.03 each, the account keeps 0.01.
pub fn rounding_dust(external_id: &str) -> Value {
    let split = |key: &str| json!({"pixKey": key, "pixKeyType": "EMAIL", "name": "Sócio", "document": "12345678909", "type": "PERCENTAGE", "value": 33.33, "immediate": true});
    json!({
        "transaction": {"value": 0.10, "description": "Centavos", "externalId": external_id},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"},
        "splits": [split("a@example.com"), split("b@example.com"), split("c@example.com")]
    })
}

/// The one recipient of [`same_recipient_splits`].
pub const SAME_RECIPIENT_KEY: &str = "fornecedor@example.com";

/// A R$ 100 charge with `count` (at most 10) scheduled FIXED splits, ALL to the same recipient
/// ([`SAME_RECIPIENT_KEY`]): R$ 1.00, 1.01, 1.02, … — so a scheduled payout of that recipient
/// gathers many splits from few charges.
pub fn same_recipient_splits(external_id: &str, count: usize) -> Value {
    let splits: Vec<Value> = (0..count)
        .map(|k| {
            // Parsed, not built from an f64: the amount keeps its two decimals as written.
            let value: serde_json::Number = format!("1.{k:02}").parse().expect("a number");
            json!({"pixKey": SAME_RECIPIENT_KEY, "pixKeyType": "EMAIL", "name": "Fornecedor Ltda", "document": "11222333000181", "type": "FIXED", "value": value})
        })
        .collect();
    json!({
        "transaction": {"value": 100.00, "description": "Pedido com vários repasses", "externalId": external_id},
        "payer": {"fullName": "Maria Silva", "document": "12345678909"},
        "splits": splits
    })
}
