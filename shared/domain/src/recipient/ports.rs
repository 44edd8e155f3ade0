//! What storage must do for recipients. Their debts are written by the refund that creates
//! them ([`RequestRefund`](crate::refund::ports::RequestRefund)).

use async_trait::async_trait;

use crate::error::StoreError;
use crate::pix::ids::{AccountId, RecipientId};
use crate::recipient::Recipient;

#[async_trait]
pub trait RecipientStore: Send + Sync {
    /// The account's recipient `id`, if it ever owed anything. Strongly consistent.
    async fn get_recipient(
        &self,
        account: &AccountId,
        id: &RecipientId,
    ) -> Result<Option<Recipient>, StoreError>;
}
