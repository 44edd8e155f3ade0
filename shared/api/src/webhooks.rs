//! The merchant-webhook API's own input: the `PUT /api/account/webhook` body and the delivery
//! log's cursor. The rules (URL policy, secrets, rounds) are the domain's
//! ([`pixgw_domain::webhooks`]); this only reads what the client sent.

use std::collections::BTreeSet;

use pixgw_domain::messaging::events::EventType;
use pixgw_domain::pix::cursor_text;
use pixgw_domain::webhooks::url_policy::UrlPolicy;
use serde_json::{Map, Value};

/// What `PUT /api/account/webhook` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointBody {
    pub url: String,
    /// `None` = every event type.
    pub events: Option<BTreeSet<EventType>>,
}

const KNOWN_PROPERTIES: [&str; 2] = ["url", "events"];

/// The event type names, comma separated, for error messages.
fn event_type_values() -> String {
    EventType::ALL.map(EventType::as_str).join(", ")
}

/// Reads `{url, events?}`; `Err` lists every failure, in document order.
///
/// The URL policy is the service's to apply (DNS included), and a URL that is the only
/// problem is refused there with `INVALID_WEBHOOK_URL`. When something else is wrong too,
/// the URL's form is judged here by `policy` (no DNS), so one response still lists every
/// problem the client can fix without trying again.
pub fn parse_endpoint_body(body: &Value, policy: UrlPolicy) -> Result<EndpointBody, Vec<String>> {
    let Some(root) = body.as_object() else {
        return Err(vec!["request body must be a JSON object".to_owned()]);
    };
    let mut errors: Vec<String> = root
        .keys()
        .filter(|k| !KNOWN_PROPERTIES.contains(&k.as_str()))
        .map(|k| format!("property {k} should not exist"))
        .collect();

    let url = match present(root, "url") {
        None => {
            errors.push("url should not be empty".to_owned());
            None
        }
        Some(Value::String(s)) if s.is_empty() => {
            errors.push("url should not be empty".to_owned());
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push("url must be a string".to_owned());
            None
        }
    };
    // Where the URL's own problem goes, should one be reported (document order).
    let url_at = errors.len();
    let events = events(root, &mut errors);

    match (url, events) {
        (Some(url), Some(events)) if errors.is_empty() => Ok(EndpointBody { url, events }),
        (url, _) => {
            if let Some(Err(reason)) = url.map(|u| policy.check_syntax(&u)) {
                errors.insert(url_at, reason.to_string());
            }
            Err(errors)
        }
    }
}

/// `null` counts as absent, like every body of the API.
fn present<'a>(root: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    root.get(key).filter(|v| !v.is_null())
}

/// `Some(None)` = every type (absent or null); `None` when invalid (errors recorded).
fn events(
    root: &Map<String, Value>,
    errors: &mut Vec<String>,
) -> Option<Option<BTreeSet<EventType>>> {
    let Some(value) = present(root, "events") else {
        return Some(None);
    };
    let Value::Array(items) = value else {
        errors.push("events must be an array of event types".to_owned());
        return None;
    };
    if items.is_empty() {
        // An endpoint that wants nothing would only ever be a mistake; "all" is null.
        errors.push(
            "events should not be empty (omit it or send null to receive every event type)"
                .to_owned(),
        );
        return None;
    }
    let mut chosen = BTreeSet::new();
    let mut valid = true;
    for (index, item) in items.iter().enumerate() {
        match item.as_str().and_then(EventType::parse) {
            None => {
                valid = false;
                errors.push(format!(
                    "events[{index}] must be one of the following values: {}",
                    event_type_values()
                ));
            }
            Some(event_type) if !chosen.insert(event_type) => {
                valid = false;
                errors.push(format!(
                    "events[{index}] must not repeat {}",
                    event_type.as_str()
                ));
            }
            Some(_) => {}
        }
    }
    valid.then_some(Some(chosen))
}

/// Whether `id` has the form of a delivery id (`dlv_` + 32 lowercase hex, see
/// [`Delivery::id_for`](pixgw_domain::webhooks::Delivery::id_for)). Anything else is answered
/// 404 without a read: no store ever sees an arbitrary (e.g. 10 KB) key from a path.
pub fn is_delivery_id(id: &str) -> bool {
    id.strip_prefix("dlv_").is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The longest store cursor an API cursor carries, in bytes (both stores' cursors are about
/// 100: an account id, a time and a delivery id).
const MAX_STORE_CURSOR: usize = 512;

/// The grammar of the delivery log's cursor: what [`decode_delivery_cursor`] accepts, exactly
/// (see [`pixgw_domain::pix::cursor_text`]).
pub const DELIVERY_CURSOR_PATTERN: &str = r"^(?:[0-9a-f]{2}){1,512}$";

/// The delivery log's cursor as clients see it: the store's own cursor (whose form differs
/// between backends) in lowercase hex, so every backend's cursor looks alike and fits a URL
/// as is. Which positions exist is the store's business: a well-formed cursor the store does
/// not recognise (made up, tampered with, another account's) yields an empty last page, never
/// another account's data and never an error.
pub fn encode_delivery_cursor(store_cursor: &str) -> String {
    cursor_text::write_hex(store_cursor)
}

/// The store's cursor inside an API cursor; `None` for text that is not one.
pub fn decode_delivery_cursor(text: &str) -> Option<String> {
    cursor_text::read_hex(text, MAX_STORE_CURSOR)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: Value) -> Result<EndpointBody, Vec<String>> {
        parse_endpoint_body(&body, UrlPolicy::PRODUCTION)
    }

    #[test]
    fn url_alone_means_every_event_type() {
        let parsed = parse(json!({"url": "https://hooks.example.com/pix"})).unwrap();
        assert_eq!(parsed.url, "https://hooks.example.com/pix");
        assert_eq!(parsed.events, None);
        let parsed = parse(json!({"url": "https://h.example/x", "events": null})).unwrap();
        assert_eq!(parsed.events, None);
    }

    #[test]
    fn chosen_event_types_are_a_set() {
        let parsed = parse(json!({
            "url": "https://h.example/x",
            "events": ["PAYOUT_PAID", "CASHIN_CONFIRMED"]
        }))
        .unwrap();
        assert_eq!(
            parsed.events,
            Some([EventType::CashinConfirmed, EventType::PayoutPaid].into())
        );
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let errors = parse(json!({
            "url": "http://h.example/x",
            "events": ["PAYOUT_PAID", "NOPE", 3, "PAYOUT_PAID"],
            "secret": "mine"
        }))
        .unwrap_err();
        let values = event_type_values();
        assert_eq!(
            errors,
            [
                "property secret should not exist".to_owned(),
                "url must use https".to_owned(),
                format!("events[1] must be one of the following values: {values}"),
                format!("events[2] must be one of the following values: {values}"),
                "events[3] must not repeat PAYOUT_PAID".to_owned(),
            ]
        );
    }

    #[test]
    fn a_url_that_is_the_only_problem_is_left_to_the_service() {
        // The service's full check answers INVALID_WEBHOOK_URL for it.
        assert!(parse(json!({"url": "http://h.example/x"})).is_ok());
    }

    #[test]
    fn missing_mistyped_and_empty_fields() {
        assert_eq!(
            parse(json!([])).unwrap_err(),
            ["request body must be a JSON object"]
        );
        assert_eq!(parse(json!({})).unwrap_err(), ["url should not be empty"]);
        assert_eq!(
            parse(json!({"url": "", "events": []})).unwrap_err(),
            [
                "url should not be empty",
                "events should not be empty (omit it or send null to receive every event type)"
            ]
        );
        assert_eq!(
            parse(json!({"url": 7, "events": "PAYOUT_PAID"})).unwrap_err(),
            [
                "url must be a string",
                "events must be an array of event types"
            ]
        );
    }

    #[test]
    fn delivery_ids_are_recognised_by_form() {
        use pixgw_domain::webhooks::Delivery;
        assert!(is_delivery_id(&Delivery::id_for("evt_1")));
        for bad in [
            "",
            "dlv_",
            "dlv_0123",
            "DLV_0123456789abcdef0123456789abcdef",
            "dlv_0123456789ABCDEF0123456789abcdef",
            "dlv_0123456789abcdef0123456789abcdeff",
        ] {
            assert!(!is_delivery_id(bad), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_what_is_not_one() {
        let store = "acc_1:1700000000000:dlv_abc";
        let cursor = encode_delivery_cursor(store);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(decode_delivery_cursor(&cursor).as_deref(), Some(store));
        for bad in ["", "%%%", "not a cursor", "abc", "ABCD", &"00".repeat(513)] {
            assert_eq!(decode_delivery_cursor(bad), None, "{bad:?}");
        }
    }
}
