//! The stored form of a dispute (integer centavos, epoch milliseconds), the same for both
//! adapters.

use serde::{Deserialize, Serialize};

use crate::dispute::{Defence, Dispute, DisputeHold, DisputeReason, DisputeState};
use crate::error::{StoreError, corrupt};
use crate::pix::clock::millis_to_time;
use crate::pix::ids::{AccountId, DisputeId, TransactionId};
use crate::pix::money::Money;
use crate::pix::payment::EndToEndId;
use crate::refund::RefundLiability;
use crate::refund::record::SplitPartRecord;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisputeRecord {
    pub dispute_id: String,
    pub account_id: String,
    pub transaction_id: String,
    pub provider: String,
    pub infraction_id: String,
    pub reason: String,
    pub amount_cents: i64,
    pub liability: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_parts: Vec<SplitPartRecord>,
    pub from_reserve_cents: i64,
    pub from_available_cents: i64,
    pub owed_cents: i64,
    pub still_owed_cents: i64,
    pub state: String,
    #[serde(default)]
    pub version: u32,
    pub respond_by_ms: i64,
    pub opened_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defence_filed_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devolution_end_to_end_id: Option<String>,
}

impl From<&Dispute> for DisputeRecord {
    fn from(d: &Dispute) -> Self {
        DisputeRecord {
            dispute_id: d.id.to_string(),
            account_id: d.account_id.to_string(),
            transaction_id: d.transaction_id.to_string(),
            provider: d.provider.clone(),
            infraction_id: d.infraction_id.clone(),
            reason: d.reason.as_str().to_owned(),
            amount_cents: d.amount.cents(),
            liability: d.liability.as_str().to_owned(),
            split_parts: d.split_parts.iter().map(SplitPartRecord::from).collect(),
            from_reserve_cents: d.hold.from_reserve,
            from_available_cents: d.hold.from_available,
            owed_cents: d.hold.owed,
            still_owed_cents: d.still_owed,
            state: d.state.as_str().to_owned(),
            version: d.version,
            respond_by_ms: d.respond_by.timestamp_millis(),
            opened_at_ms: d.opened_at.timestamp_millis(),
            decided_at_ms: d.decided_at.map(|t| t.timestamp_millis()),
            defence: d.defence.as_ref().map(|x| x.text.clone()),
            defence_filed_at_ms: d.defence.as_ref().map(|x| x.filed_at.timestamp_millis()),
            devolution_end_to_end_id: d.devolution_end_to_end_id.as_ref().map(ToString::to_string),
        }
    }
}

impl TryFrom<DisputeRecord> for Dispute {
    type Error = StoreError;

    fn try_from(r: DisputeRecord) -> Result<Self, StoreError> {
        let id = r.dispute_id.clone();
        let time = |ms: i64, what: &str| millis_to_time(ms).ok_or_else(|| corrupt(what, &id));
        let defence = match (r.defence, r.defence_filed_at_ms) {
            (Some(text), Some(ms)) => Some(Defence {
                text,
                filed_at: time(ms, "dispute defenceFiledAt")?,
            }),
            (None, None) => None,
            _ => return Err(corrupt("dispute defence", &id)),
        };
        let hold = DisputeHold {
            from_reserve: r.from_reserve_cents,
            from_available: r.from_available_cents,
            owed: r.owed_cents,
        };
        if r.amount_cents < 1
            || hold.owed < 0
            || hold.from_reserve < 0
            || hold.from_reserve + hold.from_available + hold.owed != r.amount_cents
            || !(0..=hold.owed).contains(&r.still_owed_cents)
        {
            return Err(corrupt("dispute amount", &id));
        }
        Ok(Dispute {
            id: DisputeId::parse(&r.dispute_id).ok_or_else(|| corrupt("disputeId", &id))?,
            account_id: AccountId::parse(&r.account_id)
                .ok_or_else(|| corrupt("dispute accountId", &id))?,
            transaction_id: TransactionId::parse(&r.transaction_id)
                .ok_or_else(|| corrupt("dispute transactionId", &id))?,
            provider: r.provider,
            infraction_id: r.infraction_id,
            reason: DisputeReason::parse(&r.reason)
                .ok_or_else(|| corrupt("dispute reason", &id))?,
            amount: Money::from_cents(r.amount_cents),
            liability: RefundLiability::parse(&r.liability)
                .ok_or_else(|| corrupt("dispute liability", &id))?,
            split_parts: r
                .split_parts
                .into_iter()
                .map(|p| {
                    p.into_part()
                        .ok_or_else(|| corrupt("dispute split part", &id))
                })
                .collect::<Result<Vec<_>, _>>()?,
            hold,
            still_owed: r.still_owed_cents,
            version: r.version,
            state: DisputeState::parse(&r.state).ok_or_else(|| corrupt("dispute state", &id))?,
            respond_by: time(r.respond_by_ms, "dispute respondBy")?,
            opened_at: time(r.opened_at_ms, "dispute openedAt")?,
            decided_at: r
                .decided_at_ms
                .map(|ms| time(ms, "dispute decidedAt"))
                .transpose()?,
            defence,
            devolution_end_to_end_id: r
                .devolution_end_to_end_id
                .map(|e| EndToEndId::parse(&e).ok_or_else(|| corrupt("dispute endToEndId", &id)))
                .transpose()?,
        })
    }
}
