//! Refund fixtures: a refund request built by the refund flow's own pure builder
//! ([`refund_request`]) over the splits as given — so a test can also build one from a stale
//! read.

use pixgw_domain::charge::Charge;
use pixgw_domain::flows::refund::refund_request;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::pix::ids::RefundId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::refund::ports::RequestRefund;
use pixgw_domain::refund::{ChargeRefund, RefundLiability, RefundState};
use pixgw_domain::split::entry::SplitEntry;
use pixgw_store_dynamodb::DynamoStore;

use super::at_ms;

/// The request of a refund of `amount` of `c` (as read) under `liability` at `at_millis`,
/// built by the domain's own [`refund_request`] over `entries` (the charge's splits as read,
/// possibly stale) and the account's shards as stored.
pub async fn refund_write(
    store: &DynamoStore,
    c: &Charge,
    entries: &[SplitEntry],
    amount: i64,
    liability: RefundLiability,
    at_millis: i64,
) -> RequestRefund {
    let at = at_ms(at_millis);
    let refund = ChargeRefund {
        id: RefundId::generate(),
        amount: Money::from_cents(amount),
        liability,
        split_parts: Vec::new(),
        state: RefundState::Processing,
        reason: "CUSTOMER_REQUEST".to_owned(),
        description: "devolução".to_owned(),
        end_to_end_id: None,
        provider_refund_id: None,
        failure_reason: None,
        requested_at: at,
        settled_at: None,
        idempotency_key: None,
    };
    let shards = store.balance_shards(&c.account_id).await.expect("shards");
    refund_request(c, entries, refund, &shards, at).expect("an affordable refund")
}
