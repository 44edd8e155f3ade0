//! An account's payout schedule: when its non-immediate splits are paid out.
//!
//! `GET/PUT /api/account/payout-schedule` `{frequency: DAILY|WEEKLY|MONTHLY, time: "HH:MM",
//! weekday (WEEKLY), dayOfMonth 1..31 (MONTHLY)}`. Every wall-clock value is in
//! `America/Sao_Paulo` ([`TIME_ZONE`]); a `dayOfMonth` past a month's end means that month's last
//! day (31 → 28/29 February, 30 April). New accounts get [`PayoutSchedule::default`], DAILY at
//! 09:00.
//!
//! Everything here is pure: no clock reads, the instant is always an argument. The run instants
//! of a schedule form one strictly increasing sequence, one per matching local date, so
//! [`PayoutSchedule::next_run_after`] and [`PayoutSchedule::latest_run_at_or_before`] agree with
//! each other: `latest_run_at_or_before(next_run_after(t)) == Some(next_run_after(t))`.
//!
//! Local times that do not exist or exist twice (Brazil observed daylight saving time until
//! 2019, and the time-zone database keeps that history) resolve deterministically:
//! - a time skipped by a jump forward runs at the first instant after the gap (00:30 on
//!   2018-11-04, when 00:00 became 01:00, runs at 01:00 -02:00);
//! - a time that happened twice runs at the earlier of the two instants, once.

pub mod ports;
pub mod record;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// The time zone every schedule is expressed in.
pub const TIME_ZONE: Tz = chrono_tz::America::Sao_Paulo;

/// The schedule new accounts get: every day at this local time.
pub const DEFAULT_TIME: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(time) => time,
    None => NaiveTime::MIN,
};

/// Allowed `dayOfMonth` values.
pub const DAY_OF_MONTH_MIN: u8 = 1;
pub const DAY_OF_MONTH_MAX: u8 = 31;

const FREQUENCY_VALUES: &str = "DAILY, WEEKLY, MONTHLY";
const WEEKDAY_VALUES: &str = "MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY";
const KNOWN_PROPERTIES: [&str; 4] = ["frequency", "time", "weekday", "dayOfMonth"];

/// How often an account's scheduled splits are paid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::Daily, Frequency::Weekly, Frequency::Monthly];

    /// The API (and stored) name: `DAILY`, `WEEKLY` or `MONTHLY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
        }
    }

    /// Parses an API name, exactly as [`Frequency::as_str`] writes it.
    pub fn parse(s: &str) -> Option<Frequency> {
        Frequency::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl std::fmt::Display for Frequency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// The API (and stored) name of a weekday: `MONDAY` … `SUNDAY`.
fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "MONDAY",
        Weekday::Tue => "TUESDAY",
        Weekday::Wed => "WEDNESDAY",
        Weekday::Thu => "THURSDAY",
        Weekday::Fri => "FRIDAY",
        Weekday::Sat => "SATURDAY",
        Weekday::Sun => "SUNDAY",
    }
}

/// Parses a weekday's API name, exactly as [`weekday_name`] writes it.
fn parse_weekday(s: &str) -> Option<Weekday> {
    WEEKDAYS.into_iter().find(|w| weekday_name(*w) == s)
}

/// Parses a strict `HH:MM` (24-hour, two digits each, `00:00`..=`23:59`).
pub fn parse_time(s: &str) -> Option<NaiveTime> {
    let bytes = s.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return None;
    }
    let two_digits = |hi: u8, lo: u8| {
        (hi.is_ascii_digit() && lo.is_ascii_digit())
            .then(|| u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
    };
    let hour = two_digits(bytes[0], bytes[1])?;
    let minute = two_digits(bytes[3], bytes[4])?;
    NaiveTime::from_hms_opt(hour, minute, 0)
}

/// Formats a time as `HH:MM` (seconds, if any, are dropped).
fn format_time(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// When an account's scheduled splits are paid out, in [`TIME_ZONE`] wall-clock time.
///
/// Build it with [`PayoutSchedule::daily`], [`PayoutSchedule::weekly`],
/// [`PayoutSchedule::monthly`], [`PayoutSchedule::new`], [`PayoutSchedule::from_record`] or
/// [`parse_schedule`], which all uphold the rules: `time` in whole minutes, `weekday` set exactly
/// for WEEKLY, `day_of_month` (1..=31) exactly for MONTHLY. The fields are public for reading
/// and pattern matching; a value built by hand that breaks those rules is still computed on
/// without panicking, as if normalised: seconds dropped, a missing weekday = MONDAY, a missing
/// day = 1, a day outside 1..=31 clamped, fields the frequency does not use ignored
/// (see [`PayoutSchedule::normalized`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayoutSchedule {
    pub frequency: Frequency,
    /// Local time of day, whole minutes.
    pub time: NaiveTime,
    /// WEEKLY only.
    pub weekday: Option<Weekday>,
    /// MONTHLY only, 1..=31; past a month's end = its last day.
    pub day_of_month: Option<u8>,
}

impl Default for PayoutSchedule {
    /// DAILY at 09:00, what new accounts get.
    fn default() -> Self {
        PayoutSchedule::daily(DEFAULT_TIME)
    }
}

/// The rule a schedule's run dates follow, with the invariants made structural.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Daily,
    Weekly(Weekday),
    Monthly(u8),
}

impl PayoutSchedule {
    /// Every day at `time` (seconds are dropped).
    pub fn daily(time: NaiveTime) -> PayoutSchedule {
        PayoutSchedule {
            frequency: Frequency::Daily,
            time: whole_minutes(time),
            weekday: None,
            day_of_month: None,
        }
    }

    /// Every `weekday` at `time` (seconds are dropped).
    pub fn weekly(weekday: Weekday, time: NaiveTime) -> PayoutSchedule {
        PayoutSchedule {
            frequency: Frequency::Weekly,
            time: whole_minutes(time),
            weekday: Some(weekday),
            day_of_month: None,
        }
    }

    /// Every month on `day_of_month` (1..=31, past the month's end = its last day) at `time`
    /// (seconds are dropped). `None` when the day is outside 1..=31.
    pub fn monthly(day_of_month: u8, time: NaiveTime) -> Option<PayoutSchedule> {
        (DAY_OF_MONTH_MIN..=DAY_OF_MONTH_MAX)
            .contains(&day_of_month)
            .then(|| PayoutSchedule {
                frequency: Frequency::Monthly,
                time: whole_minutes(time),
                weekday: None,
                day_of_month: Some(day_of_month),
            })
    }

    /// A schedule from typed parts, checked with the same rules and messages as
    /// [`parse_schedule`] (seconds in `time` are dropped).
    pub fn new(
        frequency: Frequency,
        time: NaiveTime,
        weekday: Option<Weekday>,
        day_of_month: Option<u8>,
    ) -> Result<PayoutSchedule, Vec<String>> {
        let mut errors = Vec::new();
        if let Some(day) = day_of_month {
            check_day_range(f64::from(day), &mut errors);
        }
        check_combination(
            frequency,
            weekday.is_some(),
            day_of_month.is_some(),
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PayoutSchedule {
            frequency,
            time: whole_minutes(time),
            weekday,
            day_of_month,
        })
    }

    /// The stored form: `(frequency, "HH:MM", weekday name, day of month)`, e.g.
    /// `("WEEKLY", "18:00", Some("FRIDAY"), None)`. Read back with
    /// [`PayoutSchedule::from_record`].
    pub fn as_record(&self) -> (String, String, Option<String>, Option<u8>) {
        let normalized = self.normalized();
        (
            normalized.frequency.as_str().to_owned(),
            format_time(normalized.time),
            normalized.weekday.map(|w| weekday_name(w).to_owned()),
            normalized.day_of_month,
        )
    }

    /// Reads back the stored form written by [`PayoutSchedule::as_record`]; `None` when it is
    /// not a valid schedule.
    pub fn from_record(
        frequency: &str,
        time: &str,
        weekday: Option<&str>,
        day_of_month: Option<u8>,
    ) -> Option<PayoutSchedule> {
        let frequency = Frequency::parse(frequency)?;
        let time = parse_time(time)?;
        let weekday = match weekday {
            Some(name) => Some(parse_weekday(name)?),
            None => None,
        };
        PayoutSchedule::new(frequency, time, weekday, day_of_month).ok()
    }

    /// The API view: `{frequency, time: "HH:MM", weekday?, dayOfMonth?}` (`weekday` only for
    /// WEEKLY, `dayOfMonth` only for MONTHLY). The API adds `nextRunAt` itself.
    pub fn view(&self) -> Value {
        let normalized = self.normalized();
        let mut object = Map::new();
        object.insert(
            "frequency".to_owned(),
            Value::from(normalized.frequency.as_str()),
        );
        object.insert("time".to_owned(), Value::from(format_time(normalized.time)));
        if let Some(weekday) = normalized.weekday {
            object.insert("weekday".to_owned(), Value::from(weekday_name(weekday)));
        }
        if let Some(day) = normalized.day_of_month {
            object.insert("dayOfMonth".to_owned(), Value::from(day));
        }
        Value::Object(object)
    }

    /// The schedule the computations actually follow: identical for every schedule built
    /// through the constructors; for a hand-built value that breaks the rules, seconds are
    /// dropped, a missing weekday is MONDAY, a missing day is 1, a day is clamped to 1..=31 and
    /// fields the frequency does not use are cleared.
    pub fn normalized(&self) -> PayoutSchedule {
        let time = whole_minutes(self.time);
        match self.rule() {
            Rule::Daily => PayoutSchedule::daily(time),
            Rule::Weekly(weekday) => PayoutSchedule::weekly(weekday, time),
            Rule::Monthly(day) => PayoutSchedule {
                frequency: Frequency::Monthly,
                time,
                weekday: None,
                day_of_month: Some(day),
            },
        }
    }

    fn rule(&self) -> Rule {
        match self.frequency {
            Frequency::Daily => Rule::Daily,
            Frequency::Weekly => Rule::Weekly(self.weekday.unwrap_or(Weekday::Mon)),
            Frequency::Monthly => Rule::Monthly(
                self.day_of_month
                    .unwrap_or(DAY_OF_MONTH_MIN)
                    .clamp(DAY_OF_MONTH_MIN, DAY_OF_MONTH_MAX),
            ),
        }
    }

    /// The first run instant strictly after `after`.
    ///
    /// Saturates at [`DateTime::<Utc>::MAX_UTC`] when no later run is representable (only
    /// within days of the year 262142).
    pub fn next_run_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        self.try_next_run_after(after)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The most recent run instant at or before `at`: the window a scheduler that was down
    /// catches up with, in ONE run, using it as the cut-off. `None` only when no earlier run is
    /// representable (within days of the year -262143).
    pub fn latest_run_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let rule = self.rule();
        let time = whole_minutes(self.time);
        // Runs on local dates after `at`'s local date are all later than `at`: start the day
        // after and walk back.
        let start = local_date(at)?;
        let mut date = rule.on_or_before(start.succ_opt().unwrap_or(start))?;
        for _ in 0..MAX_STEPS {
            if let Some(run) = resolve(date, time).filter(|run| *run <= at) {
                return Some(run);
            }
            date = rule.on_or_before(date.pred_opt()?)?;
        }
        None
    }

    fn try_next_run_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let rule = self.rule();
        let time = whole_minutes(self.time);
        // Runs on local dates before `after`'s local date are all earlier than `after`: start
        // the day before and walk forward.
        let start = local_date(after).unwrap_or(NaiveDate::MIN);
        let mut date = rule.on_or_after(start.pred_opt().unwrap_or(start))?;
        for _ in 0..MAX_STEPS {
            if let Some(run) = resolve(date, time).filter(|run| *run > after) {
                return Some(run);
            }
            date = rule.on_or_after(date.succ_opt()?)?;
        }
        None
    }
}

/// Matching dates visited before giving up; at most three are ever needed (the day before,
/// the day itself, the next match).
const MAX_STEPS: usize = 8;

impl Rule {
    /// The first matching local date on or after `date`.
    fn on_or_after(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            Rule::Daily => Some(date),
            Rule::Weekly(weekday) => {
                let ahead = (weekday.num_days_from_monday() + 7
                    - date.weekday().num_days_from_monday())
                    % 7;
                date.checked_add_days(Days::new(u64::from(ahead)))
            }
            Rule::Monthly(day) => {
                let this_month = day_in_month(date.year(), date.month(), day)?;
                if this_month >= date {
                    return Some(this_month);
                }
                let (year, month) = if date.month() == 12 {
                    (date.year().checked_add(1)?, 1)
                } else {
                    (date.year(), date.month() + 1)
                };
                day_in_month(year, month, day)
            }
        }
    }

    /// The last matching local date on or before `date`.
    fn on_or_before(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            Rule::Daily => Some(date),
            Rule::Weekly(weekday) => {
                let back = (date.weekday().num_days_from_monday() + 7
                    - weekday.num_days_from_monday())
                    % 7;
                date.checked_sub_days(Days::new(u64::from(back)))
            }
            Rule::Monthly(day) => {
                let this_month = day_in_month(date.year(), date.month(), day)?;
                if this_month <= date {
                    return Some(this_month);
                }
                let (year, month) = if date.month() == 1 {
                    (date.year().checked_sub(1)?, 12)
                } else {
                    (date.year(), date.month() - 1)
                };
                day_in_month(year, month, day)
            }
        }
    }
}

/// `day` of the month, or the month's last day when it has fewer days.
fn day_in_month(year: i32, month: u32, day: u8) -> Option<NaiveDate> {
    let wanted = u32::from(day).clamp(1, 31);
    (1..=wanted)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

fn whole_minutes(time: NaiveTime) -> NaiveTime {
    NaiveTime::from_hms_opt(time.hour(), time.minute(), 0).unwrap_or(time)
}

/// The local date of an instant in [`TIME_ZONE`]; `None` only at the edges of the
/// representable range.
fn local_date(at: DateTime<Utc>) -> Option<NaiveDate> {
    let offset = TIME_ZONE.offset_from_utc_datetime(&at.naive_utc()).fix();
    at.naive_utc()
        .checked_add_offset(offset)
        .map(|local| local.date())
}

/// The run instant for a local date and time: the instant itself when it exists once, the
/// earlier one when it exists twice, and the first instant after the gap when it was skipped.
fn resolve(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let local = date.and_time(time);
    match TIME_ZONE.from_local_datetime(&local) {
        LocalResult::Single(run) => Some(run.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => first_instant_at_or_after_local(local),
    }
}

/// The first instant whose [`TIME_ZONE`] wall-clock time is at or after `local`. For a local
/// time inside a gap this is the instant the clocks jumped (its wall-clock time is the end of
/// the gap).
fn first_instant_at_or_after_local(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const BOUND: i64 = 15 * 3600; // wider than any UTC offset
    let target = local.and_utc().timestamp();
    let wall = |ts: i64| -> Option<i64> {
        let at = DateTime::from_timestamp(ts, 0)?;
        let offset = TIME_ZONE.offset_from_utc_datetime(&at.naive_utc()).fix();
        ts.checked_add(i64::from(offset.local_minus_utc()))
    };
    // Invariant: wall(lo) < target <= wall(hi).
    let mut lo = target.checked_sub(BOUND)?;
    let mut hi = target.checked_add(BOUND)?;
    if wall(lo)? >= target || wall(hi)? < target {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall(mid)? >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Validates a `PUT /api/account/payout-schedule` body `{frequency, time: "HH:MM", weekday?,
/// dayOfMonth?}`. `Err` lists every problem at once, class-validator style. `null` counts as
/// absent.
pub fn parse_schedule(body: &Value) -> Result<PayoutSchedule, Vec<String>> {
    let Some(root) = body.as_object() else {
        return Err(vec!["request body must be a JSON object".to_owned()]);
    };
    let mut errors = Vec::new();
    for key in root
        .keys()
        .filter(|k| !KNOWN_PROPERTIES.contains(&k.as_str()))
    {
        errors.push(format!("property {key} should not exist"));
    }

    let present = |key: &str| root.get(key).filter(|v| !v.is_null());

    let frequency = match present("frequency") {
        None => {
            errors.push("frequency should not be empty".to_owned());
            None
        }
        Some(value) => {
            let parsed = value.as_str().and_then(Frequency::parse);
            if parsed.is_none() {
                errors.push(format!(
                    "frequency must be one of the following values: {FREQUENCY_VALUES}"
                ));
            }
            parsed
        }
    };

    let time = match present("time") {
        None => {
            errors.push("time should not be empty".to_owned());
            None
        }
        Some(Value::String(s)) => {
            let parsed = parse_time(s);
            if parsed.is_none() {
                errors.push("time must be a valid time in HH:MM format".to_owned());
            }
            parsed
        }
        Some(_) => {
            errors.push("time must be a string in HH:MM format".to_owned());
            None
        }
    };

    let weekday_value = present("weekday");
    let day_value = present("dayOfMonth");
    // A field the frequency does not use is reported as such, not validated.
    let uses_weekday = frequency.is_none_or(|f| f == Frequency::Weekly);
    let uses_day = frequency.is_none_or(|f| f == Frequency::Monthly);

    let weekday = match weekday_value {
        Some(value) if uses_weekday => {
            let parsed = value.as_str().and_then(parse_weekday);
            if parsed.is_none() {
                errors.push(format!(
                    "weekday must be one of the following values: {WEEKDAY_VALUES}"
                ));
            }
            parsed
        }
        _ => None,
    };
    let day_of_month = match day_value {
        Some(value) if uses_day => day_of_month_value(value, &mut errors),
        _ => None,
    };
    if let Some(frequency) = frequency {
        check_combination(
            frequency,
            weekday_value.is_some(),
            day_value.is_some(),
            &mut errors,
        );
    }

    match (frequency, time) {
        (Some(frequency), Some(time)) if errors.is_empty() => Ok(PayoutSchedule {
            frequency,
            time,
            weekday,
            day_of_month,
        }),
        _ => Err(errors),
    }
}

/// `weekday` exactly for WEEKLY, `dayOfMonth` exactly for MONTHLY.
fn check_combination(
    frequency: Frequency,
    has_weekday: bool,
    has_day: bool,
    errors: &mut Vec<String>,
) {
    let name = frequency.as_str();
    match (frequency == Frequency::Weekly, has_weekday) {
        (true, false) => errors.push(format!("weekday is required when frequency is {name}")),
        (false, true) => errors.push(format!(
            "weekday should not be set when frequency is {name}"
        )),
        _ => {}
    }
    match (frequency == Frequency::Monthly, has_day) {
        (true, false) => errors.push(format!("dayOfMonth is required when frequency is {name}")),
        (false, true) => errors.push(format!(
            "dayOfMonth should not be set when frequency is {name}"
        )),
        _ => {}
    }
}

fn day_of_month_value(value: &Value, errors: &mut Vec<String>) -> Option<u8> {
    const NOT_INTEGER: &str = "dayOfMonth must be an integer number";
    let Value::Number(number) = value else {
        errors.push(NOT_INTEGER.to_owned());
        return None;
    };
    let approx = if let Some(n) = number.as_i64() {
        n as f64
    } else if number.as_u64().is_some() {
        f64::INFINITY
    } else {
        match number.as_f64() {
            Some(f) if f.is_finite() => f,
            // Beyond f64: an integer, far out of range either way.
            _ if number.to_string().starts_with('-') => f64::NEG_INFINITY,
            _ => f64::INFINITY,
        }
    };
    if approx.is_finite() && approx.fract() != 0.0 {
        errors.push(NOT_INTEGER.to_owned());
        return None;
    }
    if !check_day_range(approx, errors) {
        return None;
    }
    // In 1..=31 and whole: the cast is exact.
    Some(approx as u8)
}

fn check_day_range(day: f64, errors: &mut Vec<String>) -> bool {
    if day < f64::from(DAY_OF_MONTH_MIN) {
        errors.push(format!(
            "dayOfMonth must not be less than {DAY_OF_MONTH_MIN}"
        ));
        false
    } else if day > f64::from(DAY_OF_MONTH_MAX) {
        errors.push(format!(
            "dayOfMonth must not be greater than {DAY_OF_MONTH_MAX}"
        ));
        false
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("test time")
    }

    fn monthly(day: u8, time: NaiveTime) -> PayoutSchedule {
        PayoutSchedule::monthly(day, time).expect("valid day")
    }

    #[test]
    fn default_is_daily_at_nine() {
        let schedule = PayoutSchedule::default();
        assert_eq!(schedule.frequency, Frequency::Daily);
        assert_eq!(schedule.time, hm(9, 0));
        assert_eq!(schedule.weekday, None);
        assert_eq!(schedule.day_of_month, None);
        assert_eq!(
            schedule.view(),
            json!({"frequency": "DAILY", "time": "09:00"})
        );
    }

    #[test]
    fn sao_paulo_offset_nine_local_is_noon_utc() {
        let schedule = PayoutSchedule::default();
        assert_eq!(
            schedule.next_run_after(utc("2026-03-10T00:00:00Z")),
            utc("2026-03-10T12:00:00Z")
        );
        // 23:30Z on the 10th is already 20:30 on the 10th in São Paulo, not the 11th.
        let late = PayoutSchedule::daily(hm(21, 0));
        assert_eq!(
            late.next_run_after(utc("2026-03-10T23:30:00Z")),
            utc("2026-03-11T00:00:00Z")
        );
        // 02:00Z on the 11th is still the 10th locally (23:00): the 10th's 21:00 run passed.
        assert_eq!(
            late.next_run_after(utc("2026-03-11T02:00:00Z")),
            utc("2026-03-12T00:00:00Z")
        );
    }

    #[test]
    fn daily_before_at_and_after_the_time() {
        let schedule = PayoutSchedule::default();
        assert_eq!(
            schedule.next_run_after(utc("2026-05-04T11:59:59Z")),
            utc("2026-05-04T12:00:00Z")
        );
        // Strictly after: the window itself moves to the next day.
        assert_eq!(
            schedule.next_run_after(utc("2026-05-04T12:00:00Z")),
            utc("2026-05-05T12:00:00Z")
        );
        assert_eq!(
            schedule.next_run_after(utc("2026-05-04T12:00:00.000000001Z")),
            utc("2026-05-05T12:00:00Z")
        );
        assert_eq!(
            schedule.next_run_after(utc("2026-12-31T13:00:00Z")),
            utc("2027-01-01T12:00:00Z")
        );
        assert_eq!(
            schedule.latest_run_at_or_before(utc("2026-05-04T12:00:00Z")),
            Some(utc("2026-05-04T12:00:00Z"))
        );
        assert_eq!(
            schedule.latest_run_at_or_before(utc("2026-05-04T11:59:59Z")),
            Some(utc("2026-05-03T12:00:00Z"))
        );
    }

    #[test]
    fn weekly_across_week_boundaries() {
        // Fridays at 18:00 local = 21:00Z. 2026-05-08 is a Friday.
        let schedule = PayoutSchedule::weekly(Weekday::Fri, hm(18, 0));
        // Monday → that Friday.
        assert_eq!(
            schedule.next_run_after(utc("2026-05-04T10:00:00Z")),
            utc("2026-05-08T21:00:00Z")
        );
        // Friday before the time → the same day.
        assert_eq!(
            schedule.next_run_after(utc("2026-05-08T20:59:00Z")),
            utc("2026-05-08T21:00:00Z")
        );
        // Friday at the time → next week.
        assert_eq!(
            schedule.next_run_after(utc("2026-05-08T21:00:00Z")),
            utc("2026-05-15T21:00:00Z")
        );
        // Saturday and Sunday → next Friday.
        assert_eq!(
            schedule.next_run_after(utc("2026-05-09T12:00:00Z")),
            utc("2026-05-15T21:00:00Z")
        );
        assert_eq!(
            schedule.next_run_after(utc("2026-05-10T12:00:00Z")),
            utc("2026-05-15T21:00:00Z")
        );
        // Across a month and a year end: 2027-01-01 is a Friday.
        assert_eq!(
            schedule.next_run_after(utc("2026-12-26T00:00:00Z")),
            utc("2027-01-01T21:00:00Z")
        );
        // Sunday 23:00 local, i.e. Monday 02:00Z: still Sunday locally.
        let sundays = PayoutSchedule::weekly(Weekday::Sun, hm(23, 0));
        assert_eq!(
            sundays.next_run_after(utc("2026-05-10T12:00:00Z")),
            utc("2026-05-11T02:00:00Z")
        );
        assert_eq!(
            sundays.latest_run_at_or_before(utc("2026-05-17T01:59:00Z")),
            Some(utc("2026-05-11T02:00:00Z"))
        );
    }

    #[test]
    fn monthly_day_31_in_february_leap_and_non_leap_and_in_april() {
        let schedule = monthly(31, hm(9, 0));
        assert_eq!(
            schedule.next_run_after(utc("2027-02-01T00:00:00Z")),
            utc("2027-02-28T12:00:00Z")
        );
        assert_eq!(
            schedule.next_run_after(utc("2028-02-01T00:00:00Z")),
            utc("2028-02-29T12:00:00Z")
        );
        assert_eq!(
            schedule.next_run_after(utc("2027-04-01T00:00:00Z")),
            utc("2027-04-30T12:00:00Z")
        );
        // From one run to the next: Jan 31 → Feb 28 → Mar 31 → Apr 30.
        let runs: Vec<_> = std::iter::successors(Some(utc("2027-01-31T12:00:00Z")), |t| {
            Some(schedule.next_run_after(*t))
        })
        .take(4)
        .collect();
        assert_eq!(
            runs,
            [
                utc("2027-01-31T12:00:00Z"),
                utc("2027-02-28T12:00:00Z"),
                utc("2027-03-31T12:00:00Z"),
                utc("2027-04-30T12:00:00Z"),
            ]
        );
        // The month's run already passed → next month's.
        assert_eq!(
            schedule.next_run_after(utc("2027-04-30T12:00:00Z")),
            utc("2027-05-31T12:00:00Z")
        );
        assert_eq!(
            schedule.latest_run_at_or_before(utc("2028-03-15T00:00:00Z")),
            Some(utc("2028-02-29T12:00:00Z"))
        );
    }

    #[test]
    fn monthly_day_29_and_30_in_february() {
        let day29 = monthly(29, hm(9, 0));
        let day30 = monthly(30, hm(9, 0));
        assert_eq!(
            day29.next_run_after(utc("2027-02-01T00:00:00Z")),
            utc("2027-02-28T12:00:00Z")
        );
        assert_eq!(
            day29.next_run_after(utc("2028-02-01T00:00:00Z")),
            utc("2028-02-29T12:00:00Z")
        );
        assert_eq!(
            day30.next_run_after(utc("2027-02-01T00:00:00Z")),
            utc("2027-02-28T12:00:00Z")
        );
        assert_eq!(
            day30.next_run_after(utc("2028-02-01T00:00:00Z")),
            utc("2028-02-29T12:00:00Z")
        );
        // After February's (clamped) run, March's is on the real day.
        assert_eq!(
            day30.next_run_after(utc("2027-02-28T12:00:00Z")),
            utc("2027-03-30T12:00:00Z")
        );
        // Day 28 is not moved in a leap year.
        assert_eq!(
            monthly(28, hm(9, 0)).next_run_after(utc("2028-02-01T00:00:00Z")),
            utc("2028-02-28T12:00:00Z")
        );
        // Day 1 across a year end.
        assert_eq!(
            monthly(1, hm(0, 0)).next_run_after(utc("2027-12-01T03:00:00Z")),
            utc("2028-01-01T03:00:00Z")
        );
    }

    #[test]
    fn dst_gap_2018_11_04_runs_at_the_first_instant_after_the_gap() {
        // On 2018-11-04 São Paulo clocks jumped from 00:00 (-03:00) to 01:00 (-02:00): 00:30
        // did not exist. The run is at the jump, 01:00 -02:00 = 03:00Z.
        let schedule = PayoutSchedule::daily(hm(0, 30));
        assert_eq!(
            schedule.next_run_after(utc("2018-11-03T12:00:00Z")),
            utc("2018-11-04T03:00:00Z")
        );
        assert_eq!(
            schedule.next_run_after(utc("2018-11-04T03:00:00Z")),
            utc("2018-11-05T02:30:00Z")
        );
        assert_eq!(
            schedule.latest_run_at_or_before(utc("2018-11-04T04:00:00Z")),
            Some(utc("2018-11-04T03:00:00Z"))
        );
        assert_eq!(
            schedule.latest_run_at_or_before(utc("2018-11-04T02:59:59Z")),
            Some(utc("2018-11-03T03:30:00Z"))
        );
    }

    #[test]
    fn dst_overlap_2019_02_17_runs_once_at_the_earlier_instant() {
        // On 2019-02-17 at 00:00 (-02:00) clocks went back to 23:00 on the 16th (-03:00):
        // 23:30 on the 16th happened twice, at 01:30Z and 02:30Z. It runs once, at 01:30Z.
        let schedule = PayoutSchedule::daily(hm(23, 30));
        assert_eq!(
            schedule.next_run_after(utc("2019-02-16T12:00:00Z")),
            utc("2019-02-17T01:30:00Z")
        );
        assert_eq!(
            schedule.next_run_after(utc("2019-02-17T01:30:00Z")),
            utc("2019-02-18T02:30:00Z")
        );
        assert_eq!(
            schedule.latest_run_at_or_before(utc("2019-02-17T02:45:00Z")),
            Some(utc("2019-02-17T01:30:00Z"))
        );
    }

    #[test]
    fn next_run_is_strictly_increasing_and_is_its_own_latest_run() {
        let schedules = [
            PayoutSchedule::default(),
            PayoutSchedule::daily(hm(0, 30)),
            PayoutSchedule::daily(hm(23, 30)),
            PayoutSchedule::weekly(Weekday::Sun, hm(0, 0)),
            monthly(31, hm(23, 59)),
        ];
        for schedule in schedules {
            // Across Brazil's last DST years and into the present.
            let mut t = utc("2017-01-01T00:00:00Z");
            while t < utc("2021-01-01T00:00:00Z") {
                let next = schedule.next_run_after(t);
                assert!(next > t, "{schedule:?} {t}");
                assert_eq!(schedule.latest_run_at_or_before(next), Some(next));
                assert_eq!(
                    schedule.latest_run_at_or_before(next - Duration::nanoseconds(1)),
                    schedule.latest_run_at_or_before(t),
                    "no run between {t} and {next}"
                );
                t = next;
            }
        }
    }

    #[test]
    fn catch_up_after_downtime_is_one_run_at_the_latest_window() {
        let schedule = PayoutSchedule::default();
        // Down from Monday's run until Thursday 15:00Z: one catch-up, cut-off Thursday 12:00Z.
        let last_run = utc("2026-05-04T12:00:00Z");
        let now = utc("2026-05-07T15:00:00Z");
        let window = schedule.latest_run_at_or_before(now);
        assert_eq!(window, Some(utc("2026-05-07T12:00:00Z")));
        assert!(window > Some(last_run));
        assert_eq!(schedule.next_run_after(now), utc("2026-05-08T12:00:00Z"));
    }

    #[test]
    fn a_changed_schedule_takes_effect_at_its_next_window() {
        let now = utc("2026-05-04T13:00:00Z"); // Monday 10:00 local
        let old = PayoutSchedule::default();
        assert_eq!(old.next_run_after(now), utc("2026-05-05T12:00:00Z"));
        let new = PayoutSchedule::weekly(Weekday::Mon, hm(18, 0));
        assert_eq!(new.next_run_after(now), utc("2026-05-04T21:00:00Z"));
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        let schedules = [
            PayoutSchedule::default(),
            PayoutSchedule::weekly(Weekday::Wed, hm(23, 59)),
            monthly(31, hm(0, 0)),
        ];
        for schedule in schedules {
            for t in [
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
                DateTime::<Utc>::MIN_UTC + Duration::hours(1),
                DateTime::<Utc>::MAX_UTC - Duration::hours(1),
                DateTime::<Utc>::UNIX_EPOCH,
            ] {
                let next = schedule.next_run_after(t);
                assert!(next > t || next == DateTime::<Utc>::MAX_UTC);
                if let Some(latest) = schedule.latest_run_at_or_before(t) {
                    assert!(latest <= t);
                }
            }
        }
    }

    #[test]
    fn hand_built_inconsistent_schedules_are_normalised_not_panicking() {
        let odd = PayoutSchedule {
            frequency: Frequency::Monthly,
            time: NaiveTime::from_hms_opt(9, 0, 42).expect("time"),
            weekday: Some(Weekday::Fri),
            day_of_month: Some(200),
        };
        assert_eq!(odd.normalized(), monthly(31, hm(9, 0)));
        assert_eq!(
            odd.next_run_after(utc("2027-02-01T00:00:00Z")),
            utc("2027-02-28T12:00:00Z")
        );
        let no_weekday = PayoutSchedule {
            frequency: Frequency::Weekly,
            time: hm(9, 0),
            weekday: None,
            day_of_month: None,
        };
        assert_eq!(
            no_weekday.view(),
            json!({"frequency": "WEEKLY", "time": "09:00", "weekday": "MONDAY"})
        );
    }

    #[test]
    fn view_and_record_round_trip() {
        let weekly = PayoutSchedule::weekly(Weekday::Fri, hm(18, 0));
        assert_eq!(
            weekly.view(),
            json!({"frequency": "WEEKLY", "time": "18:00", "weekday": "FRIDAY"})
        );
        let monthly = monthly(31, hm(7, 5));
        assert_eq!(
            monthly.view(),
            json!({"frequency": "MONTHLY", "time": "07:05", "dayOfMonth": 31})
        );
        for schedule in [PayoutSchedule::default(), weekly, monthly] {
            assert_eq!(parse_schedule(&schedule.view()), Ok(schedule));
            let (frequency, time, weekday, day) = schedule.as_record();
            assert_eq!(
                PayoutSchedule::from_record(&frequency, &time, weekday.as_deref(), day),
                Some(schedule)
            );
        }
        assert_eq!(
            weekly.as_record(),
            (
                "WEEKLY".to_owned(),
                "18:00".to_owned(),
                Some("FRIDAY".to_owned()),
                None
            )
        );
        assert_eq!(
            PayoutSchedule::from_record("DAILY", "09:00", Some("FRIDAY"), None),
            None
        );
        assert_eq!(
            PayoutSchedule::from_record("MONTHLY", "09:00", None, Some(0)),
            None
        );
        assert_eq!(
            PayoutSchedule::from_record("HOURLY", "09:00", None, None),
            None
        );
        assert_eq!(Frequency::parse("weekly"), None);
        assert_eq!(parse_weekday("FRIDAY"), Some(Weekday::Fri));
        assert_eq!(parse_weekday("Friday"), None);
    }

    #[test]
    fn parse_accepts_the_issue_example() {
        let body = json!({"frequency": "WEEKLY", "weekday": "FRIDAY", "time": "18:00"});
        assert_eq!(
            parse_schedule(&body),
            Ok(PayoutSchedule::weekly(Weekday::Fri, hm(18, 0)))
        );
        assert_eq!(
            parse_schedule(&json!({"frequency": "DAILY", "time": "00:00"})),
            Ok(PayoutSchedule::daily(hm(0, 0)))
        );
        assert_eq!(
            parse_schedule(&json!({"frequency": "MONTHLY", "time": "23:59", "dayOfMonth": 31})),
            Ok(monthly(31, hm(23, 59)))
        );
        // 1.0 is an integer, as in class-validator; null is absent.
        assert_eq!(
            parse_schedule(
                &json!({"frequency": "MONTHLY", "time": "23:59", "dayOfMonth": 1.0,
                "weekday": null})
            ),
            Ok(monthly(1, hm(23, 59)))
        );
    }

    #[test]
    fn parse_lists_every_error_of_a_bad_body() {
        let body = json!({
            "frequency": "HOURLY",
            "time": "9:00",
            "weekday": "FRI",
            "dayOfMonth": 32,
            "timezone": "UTC",
        });
        assert_eq!(
            parse_schedule(&body),
            Err(vec![
                "property timezone should not exist".to_owned(),
                "frequency must be one of the following values: DAILY, WEEKLY, MONTHLY".to_owned(),
                "time must be a valid time in HH:MM format".to_owned(),
                "weekday must be one of the following values: MONDAY, TUESDAY, WEDNESDAY, \
                 THURSDAY, FRIDAY, SATURDAY, SUNDAY"
                    .to_owned(),
                "dayOfMonth must not be greater than 31".to_owned(),
            ])
        );
    }

    #[test]
    fn parse_reports_missing_and_misplaced_fields() {
        assert_eq!(
            parse_schedule(&json!({})),
            Err(vec![
                "frequency should not be empty".to_owned(),
                "time should not be empty".to_owned(),
            ])
        );
        assert_eq!(
            parse_schedule(&json!({"frequency": "WEEKLY", "time": "18:00", "dayOfMonth": 5})),
            Err(vec![
                "weekday is required when frequency is WEEKLY".to_owned(),
                "dayOfMonth should not be set when frequency is WEEKLY".to_owned(),
            ])
        );
        assert_eq!(
            parse_schedule(&json!({"frequency": "MONTHLY", "time": "18:00", "weekday": "MONDAY"})),
            Err(vec![
                "weekday should not be set when frequency is MONTHLY".to_owned(),
                "dayOfMonth is required when frequency is MONTHLY".to_owned(),
            ])
        );
        assert_eq!(
            parse_schedule(
                &json!({"frequency": "DAILY", "time": "18:00", "weekday": "MONDAY",
                "dayOfMonth": 0})
            ),
            Err(vec![
                "weekday should not be set when frequency is DAILY".to_owned(),
                "dayOfMonth should not be set when frequency is DAILY".to_owned(),
            ])
        );
    }

    #[test]
    fn parse_reports_wrong_types_and_ranges() {
        assert_eq!(
            parse_schedule(&json!([1, 2])),
            Err(vec!["request body must be a JSON object".to_owned()])
        );
        assert_eq!(
            parse_schedule(&json!("DAILY")),
            Err(vec!["request body must be a JSON object".to_owned()])
        );
        assert_eq!(
            parse_schedule(&json!({"frequency": 1, "time": 900})),
            Err(vec![
                "frequency must be one of the following values: DAILY, WEEKLY, MONTHLY".to_owned(),
                "time must be a string in HH:MM format".to_owned(),
            ])
        );
        let day_error = |day: Value| {
            parse_schedule(&json!({"frequency": "MONTHLY", "time": "09:00", "dayOfMonth": day}))
                .err()
        };
        let one = |s: &str| Some(vec![s.to_owned()]);
        assert_eq!(
            day_error(json!(0)),
            one("dayOfMonth must not be less than 1")
        );
        assert_eq!(
            day_error(json!(-7)),
            one("dayOfMonth must not be less than 1")
        );
        assert_eq!(
            day_error(json!(32)),
            one("dayOfMonth must not be greater than 31")
        );
        assert_eq!(
            day_error(json!(u64::MAX)),
            one("dayOfMonth must not be greater than 31")
        );
        assert_eq!(
            day_error(json!(1.5)),
            one("dayOfMonth must be an integer number")
        );
        assert_eq!(
            day_error(json!("15")),
            one("dayOfMonth must be an integer number")
        );
        assert_eq!(
            day_error(json!(true)),
            one("dayOfMonth must be an integer number")
        );
        assert_eq!(
            parse_schedule(&json!({"frequency": "WEEKLY", "time": "09:00", "weekday": 5})),
            Err(vec![
                "weekday must be one of the following values: MONDAY, TUESDAY, WEDNESDAY, \
                 THURSDAY, FRIDAY, SATURDAY, SUNDAY"
                    .to_owned()
            ])
        );
        for bad in [
            "24:00",
            "12:60",
            "1200",
            "12:0",
            " 12:00",
            "12:00:00",
            "١٢:٠٠",
            "ab:cd",
            "",
        ] {
            assert_eq!(
                parse_schedule(&json!({"frequency": "DAILY", "time": bad})),
                Err(vec!["time must be a valid time in HH:MM format".to_owned()]),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse_handles_huge_numbers_without_panicking() {
        for raw in [
            "1e400",
            "-1e400",
            "123456789012345678901234567890",
            "-0",
            "31.0000001",
        ] {
            let body: Value = serde_json::from_str(&format!(
                r#"{{"frequency":"MONTHLY","time":"09:00","dayOfMonth":{raw}}}"#
            ))
            .expect("json");
            let result = parse_schedule(&body);
            if raw == "-0" {
                assert_eq!(
                    result,
                    Err(vec!["dayOfMonth must not be less than 1".to_owned()])
                );
            } else {
                assert!(result.is_err(), "{raw}");
            }
        }
    }

    fn arb_time() -> impl Strategy<Value = NaiveTime> {
        (0u32..24, 0u32..60).prop_map(|(h, m)| hm(h, m))
    }

    fn arb_schedule() -> impl Strategy<Value = PayoutSchedule> {
        prop_oneof![
            arb_time().prop_map(PayoutSchedule::daily),
            (0usize..7, arb_time()).prop_map(|(w, t)| PayoutSchedule::weekly(WEEKDAYS[w], t)),
            (1u8..=31, arb_time()).prop_map(|(d, t)| monthly(d, t)),
        ]
    }

    fn arb_instant(from_year: i32, to_year: i32) -> impl Strategy<Value = DateTime<Utc>> {
        let from = utc(&format!("{from_year:04}-01-01T00:00:00Z")).timestamp();
        let to = utc(&format!("{to_year:04}-01-01T00:00:00Z")).timestamp();
        (from..to, 0u32..1_000_000_000)
            .prop_map(|(s, n)| DateTime::from_timestamp(s, n).expect("instant in range"))
    }

    fn period(schedule: &PayoutSchedule) -> Duration {
        match schedule.frequency {
            Frequency::Daily => Duration::days(1),
            Frequency::Weekly => Duration::days(7),
            Frequency::Monthly => Duration::days(31),
        }
    }

    fn local_time_exists(date: NaiveDate, time: NaiveTime) -> bool {
        !matches!(
            TIME_ZONE.from_local_datetime(&date.and_time(time)),
            LocalResult::None
        )
    }

    /// Checks next/latest around `after` against every rule of the schedule.
    fn check_schedule_rules(schedule: &PayoutSchedule, after: DateTime<Utc>) {
        let next = schedule.next_run_after(after);
        assert!(next > after);
        // One hour of slack for a DST change inside the period.
        assert!(next - after <= period(schedule) + Duration::hours(1));

        let local = next.with_timezone(&TIME_ZONE);
        let date = local.date_naive();
        if local.time() != schedule.time {
            // Only a skipped local time moves the run, to the end of the gap on the same day.
            assert!(
                !local_time_exists(date, schedule.time),
                "{schedule:?} {next}"
            );
            assert!(local.time() > schedule.time);
        }
        match schedule.frequency {
            Frequency::Daily => {}
            Frequency::Weekly => assert_eq!(Some(date.weekday()), schedule.weekday),
            Frequency::Monthly => {
                let wanted = u32::from(schedule.day_of_month.expect("monthly day"));
                let last = day_in_month(date.year(), date.month(), 31).expect("date");
                assert_eq!(date.day(), wanted.min(last.day()));
            }
        }

        assert_eq!(schedule.latest_run_at_or_before(next), Some(next));
        let latest = schedule
            .latest_run_at_or_before(after)
            .expect("a run before");
        assert!(latest <= after);
        assert!(after - latest < period(schedule) + Duration::hours(1));
        assert_eq!(schedule.next_run_after(latest), next);
        assert!(schedule.next_run_after(next) > next);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn prop_next_and_latest_runs_follow_the_schedule_2020_2040(
            schedule in arb_schedule(),
            after in arb_instant(2020, 2040),
        ) {
            check_schedule_rules(&schedule, after);
            // Without DST in these years, the local time is always exact.
            prop_assert_eq!(
                schedule.next_run_after(after).with_timezone(&TIME_ZONE).time(),
                schedule.time
            );
        }

        #[test]
        fn prop_next_and_latest_runs_follow_the_schedule_in_dst_years(
            schedule in arb_schedule(),
            after in arb_instant(1985, 2020),
        ) {
            check_schedule_rules(&schedule, after);
        }

        #[test]
        fn prop_parse_schedule_never_panics(body in arb_json()) {
            if let Ok(schedule) = parse_schedule(&body) {
                prop_assert_eq!(parse_schedule(&schedule.view()), Ok(schedule));
            }
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            prop_oneof![
                Just("DAILY".to_owned()),
                Just("WEEKLY".to_owned()),
                Just("MONTHLY".to_owned()),
                Just("FRIDAY".to_owned()),
                Just("18:00".to_owned()),
                "[0-9:]{0,6}",
                ".*",
            ]
            .prop_map(Value::from),
        ];
        let field = prop_oneof![
            Just("frequency".to_owned()),
            Just("time".to_owned()),
            Just("weekday".to_owned()),
            Just("dayOfMonth".to_owned()),
            "[a-zA-Z]{1,8}",
        ];
        let value = leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop_oneof![
            prop::collection::btree_map(field, value.clone(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            value,
        ]
    }
}
