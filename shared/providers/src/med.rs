//! MED infractions (disputes) as the real PSPs' webhooks may name them.
//!
//! Neither ConnectPSP's nor PagFast's documents (seeds 000–003) say anything of MED, so the
//! shapes those adapters read are our assumption (see their module docs). To be robust
//! against the names a PSP actually picks, both accept the synonyms below for an infraction's
//! reason and outcome, compared after [`normalise`] (ASCII letters and digits only, upper
//! case: `Fraud`, `FRAUD`, `med-fraude` and `MED_FRAUDE` all compare as written here). The
//! sandbox, whose events we define, is strict: exactly `FRAUD`/`OPERATIONAL_FLAW` and
//! `WON`/`LOST`.
//!
//! **Accepted and rejected speak of the infraction** (the payer's claim), as the Central
//! Bank's DICT does (`AGREED`/`DISAGREED`, `TOTALLY_ACCEPTED`/`REJECTED`): an infraction
//! accepted (by the receiving participant, us) gives the payer the money back, so the merchant
//! [`DisputeOutcome::Lost`]; a rejected one leaves the money with the merchant,
//! [`DisputeOutcome::Won`]. A *partial* acceptance (`PARTIALLY_ACCEPTED`) has no domain
//! outcome (a dispute is won or lost as a whole) and is refused as malformed with a message
//! saying so, rather than guessed.

use chrono::{DateTime, SubsecRound, Utc};
use pixgw_domain::dispute::{DisputeOutcome, DisputeReason};
use pixgw_domain::pix::money::{MAX_AMOUNT_CENTS, Money, parse_decimal};
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind};
use serde_json::{Map, Value};

/// Ids are stored and logged; anything longer than this is not an id a PSP would send.
pub const MAX_ID_LEN: usize = 128;

/// What the adapters read as [`DisputeReason::Fraud`].
pub const FRAUD_SYNONYMS: &[&str] = &["FRAUD", "FRAUDE", "MED_FRAUD", "MED_FRAUDE", "FR01"];

/// What the adapters read as [`DisputeReason::OperationalFlaw`].
pub const OPERATIONAL_FLAW_SYNONYMS: &[&str] = &[
    "OPERATIONAL_FLAW",
    "OPERATIONAL_FAILURE",
    "OPERATIONAL_ERROR",
    "FALHA_OPERACIONAL",
    "MED_OPERACIONAL",
    "MED_OPERATIONAL",
    "MED_FALHA_OPERACIONAL",
    "BE08",
];

/// What the adapters read as [`DisputeOutcome::Won`]: the merchant keeps the money.
pub const WON_SYNONYMS: &[&str] = &[
    "WON",
    "WIN",
    "MERCHANT_WON",
    "REJECTED",
    "REJECTED_BY_RECEIVER",
    "INFRACTION_REJECTED",
    "REFUND_REJECTED",
    "NOT_ACCEPTED",
    "DISAGREED",
    "IMPROCEDENTE",
    "REJEITADA",
    "REJEITADO",
];

/// What the adapters read as [`DisputeOutcome::Lost`]: the payer gets the money back.
pub const LOST_SYNONYMS: &[&str] = &[
    "LOST",
    "LOSS",
    "MERCHANT_LOST",
    "ACCEPTED",
    "ACCEPTED_BY_RECEIVER",
    "INFRACTION_ACCEPTED",
    "REFUND_ACCEPTED",
    "TOTALLY_ACCEPTED",
    "AGREED",
    "REFUNDED",
    "RETURNED",
    "PROCEDENTE",
    "ACEITA",
    "ACEITO",
    "DEVOLVIDA",
    "DEVOLVIDO",
];

/// Partial decisions: named so they are refused with a clear message (see the module doc).
pub const PARTIAL_SYNONYMS: &[&str] = &[
    "PARTIALLY_ACCEPTED",
    "PARTIALLY_REFUNDED",
    "PARTIALLY_RETURNED",
    "PARCIALMENTE_ACEITA",
    "PARCIALMENTE_DEVOLVIDA",
];

/// ASCII letters and digits of `text`, upper-cased: the form synonyms are compared in.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether `text` is one of `synonyms`, compared [`normalise`]d.
pub fn is_one_of(text: &str, synonyms: &[&str]) -> bool {
    let text = normalise(text);
    !text.is_empty() && synonyms.iter().any(|s| normalise(s) == text)
}

/// The reason `text` names, if it is one of the synonyms.
pub fn reason(text: &str) -> Option<DisputeReason> {
    if is_one_of(text, FRAUD_SYNONYMS) {
        Some(DisputeReason::Fraud)
    } else if is_one_of(text, OPERATIONAL_FLAW_SYNONYMS) {
        Some(DisputeReason::OperationalFlaw)
    } else {
        None
    }
}

/// Why an outcome was not understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeProblem {
    /// A partial acceptance: the domain has no such outcome.
    Partial,
    Unknown,
}

/// The outcome `text` names, if it is one of the synonyms.
pub fn outcome(text: &str) -> Result<DisputeOutcome, OutcomeProblem> {
    if is_one_of(text, WON_SYNONYMS) {
        Ok(DisputeOutcome::Won)
    } else if is_one_of(text, LOST_SYNONYMS) {
        Ok(DisputeOutcome::Lost)
    } else if is_one_of(text, PARTIAL_SYNONYMS) {
        Err(OutcomeProblem::Partial)
    } else {
        Err(OutcomeProblem::Unknown)
    }
}

/// `text` as an error message may quote it: at most 40 characters, debug-escaped.
pub fn shown(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// A disputed amount from its exact text (a JSON number's or a string's): positive, at most
/// the maximum, at most two significant decimals (`"50"`, `"50.000000"` and `50.5` are fine,
/// `50.001` is not). Never through `f64`. The error says why, without the field's name.
pub fn amount_from_text(text: &str) -> Result<Money, &'static str> {
    let decimal = parse_decimal(text.trim()).map_err(|_| "is not a representable amount")?;
    // Range-check the decimal before converting: the conversion scales by 100, which would
    // overflow near `Decimal::MAX` (or `MIN`).
    if decimal <= Money::ZERO.to_decimal() {
        return Err("must be positive");
    }
    if decimal > Money::from_cents(MAX_AMOUNT_CENTS).to_decimal() {
        return Err("exceeds the maximum amount");
    }
    Money::from_decimal(decimal).map_err(|_| "must have at most two decimal places")
}

/// One JSON object of an (assumed-shape) infraction webhook, read leniently: each field may go
/// by several names (the first present, non-null one wins) and is optional unless asked for
/// with a `required_*` method; what is present must be well-formed. Errors name the field by
/// `prefix` + the name found (or the first name, when none is).
pub struct Lenient<'a> {
    prefix: &'static str,
    map: &'a Map<String, Value>,
}

impl<'a> Lenient<'a> {
    /// `value` as an object, or an error naming it `{prefix}` (without its trailing dot).
    pub fn object(value: &'a Value, prefix: &'static str) -> Result<Lenient<'a>, String> {
        value
            .as_object()
            .map(|map| Lenient { prefix, map })
            .ok_or_else(|| format!("{} must be an object", prefix.trim_end_matches('.')))
    }

    /// The first of `names` present and not `null`, with the name it was found under.
    pub fn field(&self, names: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        names.iter().find_map(|&name| match self.map.get(name) {
            Some(Value::Null) | None => None,
            Some(value) => Some((name, value)),
        })
    }

    /// `name` as errors name it: this object's prefix and the name (`data.hold.until`).
    pub fn path(&self, name: &str) -> String {
        self.name(name)
    }

    fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn first(&self, names: &[&'static str]) -> String {
        self.name(names.first().copied().unwrap_or("?"))
    }

    /// A string field (empty or blank counts as absent).
    pub fn text(&self, names: &[&'static str]) -> Result<Option<(&'static str, &'a str)>, String> {
        match self.field(names) {
            None => Ok(None),
            Some((_, Value::String(s))) if s.trim().is_empty() => Ok(None),
            Some((name, Value::String(s))) => Ok(Some((name, s.as_str()))),
            Some((name, _)) => Err(format!("{} must be a string", self.name(name))),
        }
    }

    pub fn required_text(&self, names: &[&'static str]) -> Result<(&'static str, &'a str), String> {
        self.text(names)?
            .ok_or_else(|| format!("{} is missing", self.first(names)))
    }

    /// A provider-assigned identifier: 1..=[`MAX_ID_LEN`] printable ASCII characters.
    pub fn required_id(&self, names: &[&'static str]) -> Result<&'a str, String> {
        let (name, value) = self.required_text(names)?;
        let ok = value.len() <= MAX_ID_LEN && value.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(format!(
                "{} must be 1..={MAX_ID_LEN} printable ASCII characters",
                self.name(name)
            ));
        }
        Ok(value)
    }

    /// An amount given as a JSON number or a decimal string (see [`amount_from_text`]).
    pub fn amount(&self, names: &[&'static str]) -> Result<Option<Money>, String> {
        let Some((name, value)) = self.field(names) else {
            return Ok(None);
        };
        let text = match value {
            // With `arbitrary_precision` the number's text is exactly what was sent.
            Value::Number(n) => n.to_string(),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => s.clone(),
            _ => {
                return Err(format!(
                    "{} must be a number or a decimal string",
                    self.name(name)
                ));
            }
        };
        amount_from_text(&text)
            .map(Some)
            .map_err(|why| format!("{} {why}", self.name(name)))
    }

    /// An RFC 3339 instant in any offset, in UTC at millisecond precision.
    pub fn instant(&self, names: &[&'static str]) -> Result<Option<DateTime<Utc>>, String> {
        let Some((name, text)) = self.text(names)? else {
            return Ok(None);
        };
        DateTime::parse_from_rfc3339(text.trim())
            .map(|at| Some(at.with_timezone(&Utc).trunc_subsecs(3)))
            .map_err(|_| {
                format!(
                    "{} must be an RFC 3339 timestamp, got {}",
                    self.name(name),
                    shown(text)
                )
            })
    }

    /// The infraction's reason, one of the synonyms ([`reason`]).
    pub fn required_reason(&self, names: &[&'static str]) -> Result<DisputeReason, String> {
        let (name, text) = self.required_text(names)?;
        reason(text).ok_or_else(|| {
            format!(
                "{} {} is not a MED reason (fraud or operational flaw)",
                self.name(name),
                shown(text)
            )
        })
    }

    /// The decision, one of the synonyms ([`outcome`]).
    pub fn required_outcome(&self, names: &[&'static str]) -> Result<DisputeOutcome, String> {
        let (name, text) = self.required_text(names)?;
        outcome(text).map_err(|problem| match problem {
            OutcomeProblem::Partial => format!(
                "{} {} is a partial decision, which the gateway does not support (a dispute \
                 is won or lost as a whole)",
                self.name(name),
                shown(text)
            ),
            OutcomeProblem::Unknown => format!(
                "{} {} is not a MED decision (won or lost)",
                self.name(name),
                shown(text)
            ),
        })
    }

    /// The devolução's end-to-end id of a lost infraction: the first of `names` that holds a
    /// `D…` id. A present value that is no end-to-end id at all is an error; an `E…` id is the
    /// original payment's (some PSPs repeat it), not the devolução's, and is passed over.
    pub fn devolution_id(&self, names: &[&'static str]) -> Result<Option<EndToEndId>, String> {
        for &name in names {
            let Some((_, text)) = self.text(&[name])? else {
                continue;
            };
            let id = EndToEndId::parse(text.trim())
                .ok_or_else(|| format!("{} is not a PIX end-to-end id", self.name(name)))?;
            if id.kind() == EndToEndKind::Devolution {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_are_disjoint_and_compare_normalised() {
        let lists = [
            FRAUD_SYNONYMS,
            OPERATIONAL_FLAW_SYNONYMS,
            WON_SYNONYMS,
            LOST_SYNONYMS,
            PARTIAL_SYNONYMS,
        ];
        let all: Vec<String> = lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|s| normalise(s))
            .collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(all.len(), unique.len(), "a synonym is listed twice");
        assert_eq!(reason("Fraud"), Some(DisputeReason::Fraud));
        assert_eq!(reason("med-fraude"), Some(DisputeReason::Fraud));
        assert_eq!(
            reason("OperationalFlaw"),
            Some(DisputeReason::OperationalFlaw)
        );
        assert_eq!(reason("REFUND_CANCELLED"), None);
        assert_eq!(reason(""), None);
        assert_eq!(outcome("accepted_by_receiver"), Ok(DisputeOutcome::Lost));
        assert_eq!(outcome("Rejected"), Ok(DisputeOutcome::Won));
        assert_eq!(outcome("PartiallyAccepted"), Err(OutcomeProblem::Partial));
        assert_eq!(outcome("MAYBE"), Err(OutcomeProblem::Unknown));
    }

    #[test]
    fn amounts_are_exact_positive_and_bounded() {
        assert_eq!(amount_from_text("50"), Ok(Money::from_cents(5000)));
        assert_eq!(amount_from_text("15.000000"), Ok(Money::from_cents(1500)));
        assert_eq!(amount_from_text("0.1"), Ok(Money::from_cents(10)));
        assert_eq!(amount_from_text("1e2"), Ok(Money::from_cents(10000)));
        assert!(amount_from_text("10.001").is_err());
        assert!(amount_from_text("0").is_err());
        assert!(amount_from_text("-1").is_err());
        assert!(amount_from_text("100000000.01").is_err());
        assert!(amount_from_text("79228162514264337593543950335").is_err());
        assert!(amount_from_text("ten").is_err());
    }

    #[test]
    fn shown_cuts_long_text() {
        assert_eq!(shown("abc"), "\"abc\"");
        assert!(shown(&"x".repeat(100)).ends_with('…'));
    }
}
