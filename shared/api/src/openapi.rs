//! The OpenAPI 3.1 document (`openapi.json` beside this crate's `Cargo.toml`), checked against
//! the route table by tests: a route missing from the document, or documented but missing,
//! fails the build.
//!
//! Operations marked `"x-local-gateway-only": true` are the [`LOCAL_ROUTES`] (served by the
//! local gateway alone, with no Lambda function): [`documented_operations`] leaves them out,
//! so it lists exactly the deployable API of [`ROUTES`], and [`documented_local_operations`]
//! lists them.
//!
//! [`LOCAL_ROUTES`]: crate::routes::LOCAL_ROUTES
//! [`ROUTES`]: crate::routes::ROUTES

use pixgw_domain::cash_out::ports::CashOutCursor;
use pixgw_domain::charge::ports::ChargeCursor;
use pixgw_domain::dispute::ports::DisputeCursor;
use pixgw_domain::flows::statement::StatementCursor;

use crate::handlers::recipients;
use crate::{payouts, webhooks};

pub const DOCUMENT: &str = include_str!("../openapi.json");

/// A listing's cursor parameter and the grammar its decoder accepts, exactly.
#[derive(Debug, Clone, Copy)]
pub struct CursorParameter {
    /// The `GET` route's path template.
    pub path: &'static str,
    /// The query parameter.
    pub name: &'static str,
    /// The regular expression of every value the decoder accepts (and of nothing else),
    /// documented as the parameter's `pattern`.
    pub pattern: &'static str,
    /// Whether the decoder accepts `text`.
    pub accepts: fn(&str) -> bool,
}

/// Every cursor parameter of the API. Tests hold `openapi.json` to these patterns and the
/// decoders to their patterns, so a request the document allows is never refused for its
/// cursor (see [`pixgw_domain::pix::cursor_text`]).
pub const CURSOR_PARAMETERS: [CursorParameter; 8] = [
    CursorParameter {
        path: "/api/pix/cash-in",
        name: "cursor",
        pattern: ChargeCursor::PATTERN,
        accepts: |text| ChargeCursor::decode(text).is_some(),
    },
    CursorParameter {
        path: "/api/pix/cash-out",
        name: "cursor",
        pattern: CashOutCursor::PATTERN,
        accepts: |text| CashOutCursor::decode(text).is_some(),
    },
    CursorParameter {
        path: "/api/payouts",
        name: "cursor",
        pattern: payouts::LIST_CURSOR_PATTERN,
        accepts: |text| payouts::decode_list_cursor(text).is_some(),
    },
    CursorParameter {
        path: "/api/payouts/{payoutId}",
        name: "splitsCursor",
        pattern: payouts::SPLITS_CURSOR_PATTERN,
        accepts: |text| payouts::decode_splits_cursor(text).is_some(),
    },
    CursorParameter {
        path: "/api/recipients",
        name: "cursor",
        pattern: recipients::LIST_CURSOR_PATTERN,
        accepts: |text| recipients::decode_list_cursor(text).is_some(),
    },
    CursorParameter {
        path: "/api/account/statement",
        name: "cursor",
        pattern: StatementCursor::PATTERN,
        accepts: |text| StatementCursor::decode(text).is_some(),
    },
    CursorParameter {
        path: "/api/webhooks/deliveries",
        name: "cursor",
        pattern: webhooks::DELIVERY_CURSOR_PATTERN,
        accepts: |text| webhooks::decode_delivery_cursor(text).is_some(),
    },
    CursorParameter {
        path: "/api/disputes",
        name: "cursor",
        pattern: DisputeCursor::PATTERN,
        accepts: |text| DisputeCursor::decode(text).is_some(),
    },
];

/// The schema of `GET path`'s query parameter `name`, `$ref`s followed.
pub fn query_parameter_schema(path: &str, name: &str) -> Option<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_str(DOCUMENT).ok()?;
    let schema = doc["paths"][path]["get"]["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name && p["in"] == "query")?
        .get("schema")?;
    Some(resolve(&doc, schema).clone())
}

/// `schema`, or the schema its `$ref` (local, `#/…`) points at.
fn resolve<'a>(doc: &'a serde_json::Value, schema: &'a serde_json::Value) -> &'a serde_json::Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc
            .pointer(pointer)
            .map_or(schema, |target| resolve(doc, target)),
        None => schema,
    }
}

/// The extension marking an operation of a [`crate::routes::LOCAL_ROUTES`] route.
pub const LOCAL_ONLY_EXTENSION: &str = "x-local-gateway-only";

/// `(METHOD, path)` pairs the document describes, local-gateway-only operations excluded.
pub fn documented_operations() -> Vec<(String, String)> {
    operations(false)
}

/// `(METHOD, path)` pairs of the operations marked local-gateway-only.
pub fn documented_local_operations() -> Vec<(String, String)> {
    operations(true)
}

fn operations(local_only: bool) -> Vec<(String, String)> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(DOCUMENT) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch"] {
                let Some(op) = item.get(method) else {
                    continue;
                };
                let marked = op
                    .get(LOCAL_ONLY_EXTENSION)
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false);
                if marked == local_only {
                    out.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::string::string_regex;

    use super::*;
    use crate::routes::LOCAL_ROUTES;

    /// The pattern as a `regex` (anchored, as JSON Schema patterns are when they say so).
    fn regex(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("valid pattern")
    }

    /// The pattern without its anchors, as proptest's generator wants it.
    fn unanchored(pattern: &str) -> &str {
        pattern.trim_start_matches('^').trim_end_matches('$')
    }

    #[test]
    fn every_cursor_parameter_is_documented_with_its_grammar() {
        for cursor in CURSOR_PARAMETERS {
            let schema = query_parameter_schema(cursor.path, cursor.name)
                .unwrap_or_else(|| panic!("{} {} not documented", cursor.path, cursor.name));
            assert_eq!(schema["type"], "string", "{}", cursor.path);
            assert_eq!(
                schema["pattern"], cursor.pattern,
                "{} {}",
                cursor.path, cursor.name
            );
            assert!(cursor.pattern.starts_with('^') && cursor.pattern.ends_with('$'));
        }
        // And no listing has a cursor this table does not know.
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (_, op) in item.as_object().expect("path item") {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap_or_default();
                    if name.to_ascii_lowercase().contains("cursor") {
                        assert!(
                            CURSOR_PARAMETERS
                                .iter()
                                .any(|c| c.path == path && c.name == name),
                            "{path} {name} missing from CURSOR_PARAMETERS"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the documented pattern allows, the decoder takes.
        #[test]
        fn every_value_the_pattern_allows_is_accepted(
            (index, text) in (0..CURSOR_PARAMETERS.len()).prop_flat_map(|i| {
                let pattern = unanchored(CURSOR_PARAMETERS[i].pattern);
                (Just(i), string_regex(pattern).expect("generator"))
            })
        ) {
            let cursor = CURSOR_PARAMETERS[index];
            prop_assert!((cursor.accepts)(&text), "{} {}: {text:?}", cursor.path, cursor.name);
        }

        /// And nothing else: near misses (a valid cursor with one character changed, cut or
        /// added) are accepted exactly when they still match.
        #[test]
        fn the_decoder_accepts_exactly_the_pattern(
            (index, text, at, edit) in (0..CURSOR_PARAMETERS.len()).prop_flat_map(|i| {
                let pattern = unanchored(CURSOR_PARAMETERS[i].pattern);
                (
                    Just(i),
                    string_regex(pattern).expect("generator"),
                    any::<prop::sample::Index>(),
                    prop_oneof![
                        Just(None),
                        prop::char::any().prop_map(Some),
                        prop::sample::select(vec!['.', '-', '0', 'a', 'f', 'g', 'A', '_', '%'])
                            .prop_map(Some),
                    ],
                )
            })
        ) {
            let cursor = CURSOR_PARAMETERS[index];
            let mut chars: Vec<char> = text.chars().collect();
            let at = at.index(chars.len() + 1);
            match edit {
                None if at < chars.len() => { chars.remove(at); }
                None => { chars.pop(); }
                Some(c) if at < chars.len() => chars[at] = c,
                Some(c) => chars.push(c),
            }
            let edited: String = chars.into_iter().collect();
            prop_assert_eq!(
                (cursor.accepts)(&edited),
                regex(cursor.pattern).is_match(&edited),
                "{} {}: {:?}", cursor.path, cursor.name, edited
            );
        }

        /// What the API hands out is what it takes back.
        #[test]
        fn issued_cursors_match_their_pattern(ms in -999_999_999_999_999_i64..=999_999_999_999_999, leg in 0usize..8, index: u8, movement in "[ -~]{1,199}") {
            use pixgw_domain::cash_out::CashOutId;
            use pixgw_domain::pix::ids::{AccountId, DisputeId, RecipientId, TransactionId};
            use pixgw_domain::payout::{PayoutId, SplitRef};
            use pixgw_domain::payout::ports::PayoutCursor;
            let issued = [
                ChargeCursor { created_at_ms: ms, transaction_id: TransactionId::generate() }.encode(),
                CashOutCursor { created_at_ms: ms, id: CashOutId::generate() }.encode(),
                payouts::encode_list_cursor(&PayoutCursor {
                    created_at: chrono::DateTime::from_timestamp_millis(ms).expect("in range"),
                    payout_id: PayoutId::generate(),
                }),
                payouts::encode_splits_cursor(&SplitRef { transaction_id: TransactionId::generate(), index }),
                recipients::encode_list_cursor(&RecipientId::derive(&AccountId::generate(), ("EMAIL", &movement, "12345678909"))),
                StatementCursor { created_at_ms: ms, movement_id: movement.clone(), leg }.encode(),
                webhooks::encode_delivery_cursor(&movement),
                DisputeCursor { opened_at_ms: ms, dispute_id: DisputeId::derive("sandbox", &movement) }.encode(),
            ];
            for (cursor, text) in CURSOR_PARAMETERS.iter().zip(issued) {
                prop_assert!(regex(cursor.pattern).is_match(&text), "{}: {text}", cursor.path);
                prop_assert!((cursor.accepts)(&text), "{}: {text}", cursor.path);
            }
        }
    }

    #[test]
    fn local_routes_are_documented_as_local_only() {
        let mut local: Vec<(String, String)> = LOCAL_ROUTES
            .iter()
            .map(|s| (s.method.as_str().to_owned(), s.path.to_owned()))
            .collect();
        local.sort();
        assert_eq!(documented_local_operations(), local);
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        for spec in LOCAL_ROUTES {
            let op = &doc["paths"][spec.path][spec.method.as_str().to_lowercase()];
            let description = op["description"].as_str().unwrap_or_default();
            assert!(description.contains("Sandbox only"), "{}", spec.path);
            assert!(description.contains("local gateway"), "{}", spec.path);
        }
    }
}
