//! The consumer of `payout-requests`: every request to send money out (a payout, a cash-out,
//! a refund) is executed by the use case it names. Each is idempotent on its own (provider
//! idempotency keys + conditional writes), so redeliveries change nothing twice.

use async_trait::async_trait;

use crate::pix::ids::RefundId;

use crate::error::DomainError;
use crate::flows::cash_out::CashOutService;
use crate::flows::execute_payout::PayoutExecutor;
use crate::flows::refund::RefundService;
use crate::messaging::consumer::{HandlerError, MessageHandler};
use crate::messaging::outbox::PipelineMessage;
use crate::provider::{RefundOutcome, RefundReference, TransferOutcome};

#[derive(Clone)]
pub struct MoneyOutExecutor {
    pub payouts: PayoutExecutor,
    pub cash_outs: CashOutService,
    pub refunds: RefundService,
}

impl MoneyOutExecutor {
    /// Routes a transfer outcome `provider` reported by webhook by its idempotency key:
    /// `po_…` is a payout, `co_…` a cash-out. Each is settled only by the provider holding it
    /// (`NotFound` to any other), like charges and refunds.
    pub async fn settle_transfer(
        &self,
        provider: &str,
        idempotency_key: &str,
        outcome: TransferOutcome,
    ) -> Result<(), DomainError> {
        if idempotency_key.starts_with("co_") {
            self.cash_outs
                .settle_reported(provider, idempotency_key, outcome)
                .await?;
        } else {
            self.payouts
                .settle_reported(provider, idempotency_key, outcome)
                .await?;
        }
        Ok(())
    }

    /// Records a refund outcome `provider` reported by webhook.
    pub async fn settle_refund(
        &self,
        provider: &str,
        refund: &RefundReference,
        outcome: RefundOutcome,
    ) -> Result<(), DomainError> {
        self.refunds
            .settle_reported(provider, refund, outcome)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl MessageHandler for MoneyOutExecutor {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        match PipelineMessage::parse(body) {
            Ok(PipelineMessage::PayoutRequested { payout_id, .. }) => {
                self.payouts.execute(&payout_id).await?;
                Ok(())
            }
            Ok(PipelineMessage::CashOutRequested { cash_out_id, .. }) => {
                self.cash_outs.execute(&cash_out_id).await?;
                Ok(())
            }
            Ok(PipelineMessage::RefundRequested {
                transaction_id,
                refund_id,
                attempt,
                ..
            }) => {
                let refund_id = match (refund_id, attempt) {
                    (Some(id), _) => id,
                    (None, Some(attempt)) => RefundId::legacy(&transaction_id, attempt),
                    (None, None) => {
                        return Err(HandlerError::Poison(
                            "refund message names no refund".to_owned(),
                        ));
                    }
                };
                self.refunds.execute(&transaction_id, &refund_id).await?;
                Ok(())
            }
            Ok(other) => Err(HandlerError::Poison(format!(
                "unexpected message on payout-requests: {other:?}"
            ))),
            Err(e) => Err(HandlerError::Poison(format!("unreadable message: {e}"))),
        }
    }
}
