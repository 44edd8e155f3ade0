//! Split recipients: who a payout pays (PIX key type + key + document, within an account),
//! and what each owes the account — its **debt**: the parts of refunds its splits bore after
//! they were paid, which the account fronted (see [`crate::refund::liability`]). A debt only
//! grows by a refund and only shrinks by what a payout of that recipient recovers.

pub mod ports;
pub mod record;

use crate::payout::PayoutRecipient;
use crate::pix::ids::{AccountId, RecipientId};
use crate::pix::money::Money;

/// A split recipient of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub id: RecipientId,
    pub account_id: AccountId,
    pub recipient: PayoutRecipient,
    /// What it owes the account; never negative.
    pub debt: Money,
}
