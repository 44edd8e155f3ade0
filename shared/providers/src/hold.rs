//! Cautelar holds (bloqueio cautelar, MED 2.0) as the real PSPs' webhooks may state them.
//!
//! A receiving institution that finds a credit suspicious may hold it for up to
//! [`MAX_HOLD_HOURS`] hours, then either release it (the money is the merchant's) or return it
//! to the payer (a devolução, usually `MED_FRAUDE`). Neither ConnectPSP's nor PagFast's
//! documents (seeds 000–003) say anything of holds, so the shapes those adapters read are our
//! assumption (see their module docs); this module holds what both read alike, compared
//! [`med::normalise`]d (ASCII letters and digits only, upper case) like the MED synonyms:
//!
//! - **A payment's hold** ([`stated`]): an object `hold` (`{"until": …}`, the until also as
//!   `heldUntil`, `blockedUntil`, `releaseAt`; `true` means held with no until, `false` not
//!   held), else a flat until field ([`HOLD_UNTIL_FIELDS`]: `holdUntil`, `heldUntil`,
//!   `blockedUntil`, `cautelarUntil`, `blockUntil`), else a status naming a hold
//!   ([`HELD_STATUSES`]: `HELD`, `BLOCKED`, `ON_HOLD`, …). A hold stated without an until is
//!   held for the longest the rule allows, [`MAX_HOLD_HOURS`] after payment ([`until_or_max`]):
//!   refusing it would leave a payment the payer made unrecorded, and the provider's release
//!   ends it sooner. An until is accepted as given, in the past or beyond 72 h (the domain caps
//!   it at 72 h after payment), and may lack an offset ([`NaiveTimes`] says how the provider
//!   writes local times); a present until that is no timestamp at all is an error naming it.
//! - **A return's nature** ([`nature`]): the natures of [`DevolutionNature`] or their return
//!   reason codes, `MED_FRAUDE`/`FR01`, `MED_OPERACIONAL`/`BE08`, `ORIGINAL`/`MD06`,
//!   `RETIRADA`/`SL02`, plus the spellings in [`MED_FRAUD_NATURES`] and its siblings. Unknown
//!   natures are errors naming the field; an absent one is `None` (the domain reads
//!   `MED_FRAUDE`: a hold is kept for suspected fraud).

use chrono::{DateTime, FixedOffset, NaiveDateTime, SubsecRound, TimeDelta, TimeZone, Utc};
use pixgw_domain::charge::MAX_HOLD_HOURS;
use pixgw_domain::dispute::DevolutionNature;
use serde_json::Value;

use crate::med::{self, Lenient};

/// What reads as [`DevolutionNature::MedFraud`].
pub const MED_FRAUD_NATURES: &[&str] = &["MED_FRAUDE", "MED_FRAUD", "FRAUD", "FRAUDE", "FR01"];

/// What reads as [`DevolutionNature::MedOperational`].
pub const MED_OPERATIONAL_NATURES: &[&str] = &[
    "MED_OPERACIONAL",
    "MED_OPERATIONAL",
    "MED_FALHA_OPERACIONAL",
    "FALHA_OPERACIONAL",
    "OPERATIONAL_FLAW",
    "BE08",
];

/// What reads as [`DevolutionNature::Original`].
pub const ORIGINAL_NATURES: &[&str] = &["ORIGINAL", "MD06"];

/// What reads as [`DevolutionNature::Withdrawal`].
pub const WITHDRAWAL_NATURES: &[&str] = &["RETIRADA", "WITHDRAWAL", "SAQUE", "TROCO", "SL02"];

/// Statuses that say a payment is held.
pub const HELD_STATUSES: &[&str] = &[
    "HELD",
    "ON_HOLD",
    "BLOCKED",
    "BLOCKED_CAUTELAR",
    "CAUTELAR_BLOCK",
    "CAUTELAR",
    "PAID_HELD",
    "PAID_BLOCKED",
    "BLOQUEADO",
    "BLOQUEIO_CAUTELAR",
];

/// The object a payment's hold is stated in.
pub const HOLD_OBJECT: &[&str] = &["hold"];

/// The until inside [`HOLD_OBJECT`].
pub const HOLD_OBJECT_UNTIL: &[&str] = &["until", "heldUntil", "blockedUntil", "releaseAt"];

/// A hold's until as a field of the payment itself.
pub const HOLD_UNTIL_FIELDS: &[&str] = &[
    "holdUntil",
    "heldUntil",
    "blockedUntil",
    "cautelarUntil",
    "blockUntil",
];

/// How a provider writes a timestamp without an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NaiveTimes {
    /// In UTC (a provider whose documented timestamps all end in `Z`).
    Utc,
    /// In Brasília time, UTC−03:00 (no daylight saving since 2019; a provider whose
    /// documented timestamps carry `-03:00`).
    Brasilia,
}

/// What a payment event says of a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stated {
    /// Nothing.
    Silent,
    /// Explicitly not held (`"hold": false`).
    NotHeld,
    /// Held, until this instant if it says.
    Held(Option<DateTime<Utc>>),
}

/// The devolução nature `text` names, if it is one of the spellings.
pub fn nature_of(text: &str) -> Option<DevolutionNature> {
    if med::is_one_of(text, MED_FRAUD_NATURES) {
        Some(DevolutionNature::MedFraud)
    } else if med::is_one_of(text, MED_OPERATIONAL_NATURES) {
        Some(DevolutionNature::MedOperational)
    } else if med::is_one_of(text, ORIGINAL_NATURES) {
        Some(DevolutionNature::Original)
    } else if med::is_one_of(text, WITHDRAWAL_NATURES) {
        Some(DevolutionNature::Withdrawal)
    } else {
        None
    }
}

/// The nature in the first of `names` present: `None` when absent, an error naming the field
/// when it is not a nature.
pub fn nature(
    fields: &Lenient<'_>,
    names: &[&'static str],
) -> Result<Option<DevolutionNature>, String> {
    let Some((name, text)) = fields.text(names)? else {
        return Ok(None);
    };
    nature_of(text).map(Some).ok_or_else(|| {
        format!(
            "{} {} is not a devolução nature (MED_FRAUDE, MED_OPERACIONAL, ORIGINAL, RETIRADA \
             or their codes FR01, BE08, MD06, SL02)",
            fields.path(name),
            med::shown(text)
        )
    })
}

/// `text` as an instant: RFC 3339 in any offset, or without an offset (`T` or a space between
/// date and time, optional fraction) read as `naive` says; in UTC at millisecond precision.
pub fn instant(text: &str, naive: NaiveTimes) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc).trunc_subsecs(3));
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())?;
    let at = match naive {
        NaiveTimes::Utc => local.and_utc(),
        NaiveTimes::Brasilia => FixedOffset::west_opt(3 * 3600)?
            .from_local_datetime(&local)
            .single()?
            .with_timezone(&Utc),
    };
    Some(at.trunc_subsecs(3))
}

/// The instant in the first of `names` present (`None` when absent); an error naming the field
/// when it is no timestamp.
pub fn until(
    fields: &Lenient<'_>,
    names: &[&'static str],
    naive: NaiveTimes,
) -> Result<Option<DateTime<Utc>>, String> {
    let Some((name, text)) = fields.text(names)? else {
        return Ok(None);
    };
    instant(text, naive).map(Some).ok_or_else(|| {
        format!(
            "{} must be a timestamp (RFC 3339, or without an offset), got {}",
            fields.path(name),
            med::shown(text)
        )
    })
}

/// What the payment object `fields` says of a hold (see the module doc): its
/// [`HOLD_OBJECT`] (read with `hold_prefix`, e.g. `"data.hold."`, naming its fields), else a
/// flat [`HOLD_UNTIL_FIELDS`], else a held status in the first of `status_names`.
pub fn stated(
    fields: &Lenient<'_>,
    hold_prefix: &'static str,
    status_names: &[&'static str],
    naive: NaiveTimes,
) -> Result<Stated, String> {
    if let Some((_, value)) = fields.field(HOLD_OBJECT) {
        return match value {
            Value::Bool(false) => Ok(Stated::NotHeld),
            Value::Bool(true) => Ok(Stated::Held(None)),
            Value::Object(_) => {
                let hold = Lenient::object(value, hold_prefix)?;
                Ok(Stated::Held(until(&hold, HOLD_OBJECT_UNTIL, naive)?))
            }
            _ => Err(format!(
                "{} must be an object (or a boolean)",
                hold_prefix.trim_end_matches('.')
            )),
        };
    }
    if let Some(at) = until(fields, HOLD_UNTIL_FIELDS, naive)? {
        return Ok(Stated::Held(Some(at)));
    }
    match fields.text(status_names)? {
        Some((_, status)) if med::is_one_of(status, HELD_STATUSES) => Ok(Stated::Held(None)),
        _ => Ok(Stated::Silent),
    }
}

/// A hold's until: the one stated, else the longest allowed, [`MAX_HOLD_HOURS`] after
/// `paid_at`.
pub fn until_or_max(until: Option<DateTime<Utc>>, paid_at: DateTime<Utc>) -> DateTime<Utc> {
    until.unwrap_or_else(|| {
        TimeDelta::try_hours(MAX_HOLD_HOURS)
            .and_then(|hours| paid_at.checked_add_signed(hours))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .trunc_subsecs(3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn natures_are_disjoint_and_cover_the_domain() {
        let lists = [
            MED_FRAUD_NATURES,
            MED_OPERATIONAL_NATURES,
            ORIGINAL_NATURES,
            WITHDRAWAL_NATURES,
        ];
        let mut all: Vec<String> = lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|s| med::normalise(s))
            .collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "a nature is listed twice");
        for nature in DevolutionNature::ALL {
            assert_eq!(nature_of(nature.as_str()), Some(nature));
            assert_eq!(nature_of(nature.return_code()), Some(nature));
        }
        assert_eq!(nature_of("med-fraude"), Some(DevolutionNature::MedFraud));
        assert_eq!(nature_of("Withdrawal"), Some(DevolutionNature::Withdrawal));
        assert_eq!(nature_of("CHARGEBACK"), None);
        assert_eq!(nature_of(""), None);
    }

    #[test]
    fn instants_without_an_offset_are_read_as_the_provider_writes_them() {
        let utc = Utc.with_ymd_and_hms(2026, 3, 13, 10, 0, 0).unwrap();
        assert_eq!(
            instant("2026-03-13T10:00:00Z", NaiveTimes::Brasilia),
            Some(utc)
        );
        assert_eq!(
            instant("2026-03-13T07:00:00-03:00", NaiveTimes::Utc),
            Some(utc)
        );
        assert_eq!(instant("2026-03-13T10:00:00", NaiveTimes::Utc), Some(utc));
        assert_eq!(
            instant("2026-03-13 07:00:00", NaiveTimes::Brasilia),
            Some(utc)
        );
        assert_eq!(
            instant("2026-03-13T07:00:00.1239", NaiveTimes::Brasilia),
            Some(utc + TimeDelta::milliseconds(123))
        );
        assert_eq!(instant("2026-03-13", NaiveTimes::Utc), None);
        assert_eq!(instant("tomorrow", NaiveTimes::Utc), None);
    }

    #[test]
    fn a_hold_is_stated_by_object_field_or_status() {
        let read = |value: Value| {
            let fields = Lenient::object(&value, "data.").unwrap();
            stated(&fields, "data.hold.", &["status"], NaiveTimes::Utc)
        };
        let at = Some(Utc.with_ymd_and_hms(2026, 3, 13, 10, 0, 0).unwrap());
        assert_eq!(read(json!({"status": "PAID"})), Ok(Stated::Silent));
        assert_eq!(read(json!({"hold": null})), Ok(Stated::Silent));
        assert_eq!(read(json!({"hold": false})), Ok(Stated::NotHeld));
        assert_eq!(read(json!({"hold": true})), Ok(Stated::Held(None)));
        assert_eq!(read(json!({"hold": {}})), Ok(Stated::Held(None)));
        assert_eq!(
            read(json!({"hold": {"until": "2026-03-13T10:00:00Z"}})),
            Ok(Stated::Held(at))
        );
        assert_eq!(
            read(json!({"blockedUntil": "2026-03-13T10:00:00Z"})),
            Ok(Stated::Held(at))
        );
        assert_eq!(read(json!({"status": "blocked"})), Ok(Stated::Held(None)));
        assert_eq!(
            read(json!({"hold": {"until": "soon"}})),
            Err("data.hold.until must be a timestamp (RFC 3339, or without an offset), got \"soon\"".into())
        );
        assert_eq!(
            read(json!({"hold": "yes"})),
            Err("data.hold must be an object (or a boolean)".into())
        );
        assert_eq!(
            read(json!({"cautelarUntil": 5})),
            Err("data.cautelarUntil must be a string".into())
        );
    }

    #[test]
    fn an_unstated_until_is_the_longest_hold() {
        let paid = Utc.with_ymd_and_hms(2026, 3, 10, 10, 0, 0).unwrap();
        assert_eq!(until_or_max(None, paid), paid + TimeDelta::hours(72));
        assert_eq!(until_or_max(Some(paid), paid), paid);
    }
}
