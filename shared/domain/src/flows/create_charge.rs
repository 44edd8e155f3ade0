//! Cash-in: create a charge at the provider and store it (with its `externalId` guard and the
//! idempotency completion, in one write); read one with its booked splits; list them.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use tracing::warn;
use uuid::Uuid;

use crate::account::Account;
use crate::charge::ports::ChargeStore;
use crate::charge::ports::{ChargeQuery, InsertChargeError, Page};
use crate::charge::validation::CreateChargeInput;
use crate::charge::{Charge, ChargeSplit, ChargeStatus};
use crate::error::{DomainError, ProviderError};
use crate::idempotency::{IdempotencyClaim, IdempotencyCompletion, StoredResponse};
use crate::pix::clock::Clock;
use crate::pix::ids::{AccountId, TransactionId};
use crate::provider::directory::ProviderDirectory;
use crate::provider::{ProviderCharge, ProviderChargeRequest};
use crate::split;
use crate::split::entry::SplitEntry;
use crate::split::ports::SplitStore;

/// Renders the response a replay of this request must return, so it can be stored in the same
/// atomic write as the charge itself.
pub type RenderResponse<'a> = &'a (dyn Fn(&Charge) -> StoredResponse + Send + Sync);

/// The storage ports [`ChargeService`] uses, and nothing more.
#[derive(Clone)]
pub struct ChargeServicePorts {
    pub charges: Arc<dyn ChargeStore>,
    pub splits: Arc<dyn SplitStore>,
}

/// Cash-in use cases.
#[derive(Clone)]
pub struct ChargeService {
    store: ChargeServicePorts,
    providers: Arc<ProviderDirectory>,
    clock: Arc<dyn Clock>,
}

/// A charge with its booked splits (empty until the split calculator has run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeDetails {
    pub charge: Charge,
    pub splits: Vec<SplitEntry>,
}

/// A listing request: `externalId` is a direct lookup; otherwise a key/index query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeListRequest {
    pub external_id: Option<String>,
    pub query: ChargeQuery,
}

impl ChargeService {
    pub fn new(
        store: ChargeServicePorts,
        providers: Arc<ProviderDirectory>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ChargeService {
            store,
            providers,
            clock,
        }
    }

    /// Creates a PENDING charge at the provider and stores it with its `externalId` guard and
    /// (when the request carries one) the idempotency record, atomically.
    pub async fn create_charge(
        &self,
        account: &Account,
        input: CreateChargeInput,
        claim: Option<IdempotencyClaim>,
        render: RenderResponse<'_>,
    ) -> Result<Charge, DomainError> {
        let created_at = truncate_to_millis(self.clock.now());
        let expires_at = created_at + Duration::seconds(i64::from(input.expiration_seconds));
        let transaction_id = TransactionId::generate();

        let values: Vec<_> = input.splits.iter().map(|rule| rule.value).collect();
        // Validation already proved the allocation fits; recomputing keeps this function
        // honest on its own.
        let allocation = split::allocate(input.amount, &values).map_err(|problems| {
            DomainError::Validation(problems.iter().map(ToString::to_string).collect())
        })?;

        let (provider, provider_charge) = self
            .create_at_provider(
                account,
                &ProviderChargeRequest {
                    transaction_id: transaction_id.clone(),
                    amount: input.amount,
                    description: input.description.clone(),
                    payer_name: input.payer.full_name.clone(),
                    payer_document: input.payer.document.clone(),
                    created_at,
                    expires_at,
                    merchant_name: account.merchant_name.clone(),
                    merchant_city: account.merchant_city.clone(),
                    idempotency_key: transaction_id.to_string(),
                },
            )
            .await?;

        let charge = Charge {
            transaction_id,
            account_id: account.id.clone(),
            correlation_id: Uuid::new_v4(),
            external_id: input.external_id,
            status: ChargeStatus::Pending,
            amount: input.amount,
            description: input.description,
            payer: input.payer,
            additional_info: input.additional_info,
            splits: input
                .splits
                .into_iter()
                .zip(allocation.shares)
                .map(|(rule, amount)| ChargeSplit { rule, amount })
                .collect(),
            remainder: allocation.remainder,
            pix_code: provider_charge.pix_code,
            generate_qr_code: input.generate_qr_code,
            provider: provider.to_owned(),
            provider_charge_id: provider_charge.provider_charge_id,
            expiration_seconds: input.expiration_seconds,
            created_at,
            expires_at,
            payment: None,
            refunds: Vec::new(),
            hold: None,
            disputes: Vec::new(),
            refund_revision: 0,
        };

        let completion = claim.map(|claim| IdempotencyCompletion {
            claim,
            response: render(&charge),
        });
        match self
            .store
            .charges
            .insert_charge(&charge, completion.as_ref())
            .await
        {
            Ok(()) => Ok(charge),
            Err(InsertChargeError::DuplicateExternalId) => Err(DomainError::DuplicateExternalId),
            // Our lease ran out and a retry of the same request took the key over: it owns
            // the outcome now.
            Err(InsertChargeError::ClaimLost) => Err(DomainError::IdempotencyKeyInUse),
            Err(InsertChargeError::IdCollision) => Err(DomainError::Store(
                crate::error::StoreError::Unavailable("transaction id collision".into()),
            )),
            Err(InsertChargeError::Store(e)) => Err(e.into()),
        }
    }

    /// Creates the charge at the first of the account's providers that answers (see
    /// [`ProviderDirectory`] for the order and when a provider counts as down). A refusal is
    /// the merchant's answer, not a reason to try elsewhere. The same idempotency key goes to
    /// every provider tried: a provider that created the charge but timed out before saying so
    /// holds a charge nobody was shown, which expires unpaid.
    async fn create_at_provider(
        &self,
        account: &Account,
        request: &ProviderChargeRequest,
    ) -> Result<(&'static str, ProviderCharge), DomainError> {
        let mut last = None;
        for provider in self.providers.charge_candidates(account) {
            let result = provider.create_charge(request).await;
            self.providers.record(provider.name(), &result);
            match result {
                Ok(created) => return Ok((provider.name(), created)),
                Err(e @ ProviderError::Unavailable(_)) => {
                    warn!(
                        provider = provider.name(),
                        transaction_id = %request.transaction_id,
                        error = %e,
                        "PIX provider unavailable for a new charge; trying the next"
                    );
                    last = Some(e);
                }
                Err(rejected) => return Err(rejected.into()),
            }
        }
        Err(last
            .unwrap_or_else(|| ProviderError::Unavailable("no PIX provider configured".into()))
            .into())
    }

    /// One of the account's charges; another account's id is indistinguishable from a
    /// missing one.
    pub async fn get_charge(
        &self,
        account_id: &AccountId,
        id: &TransactionId,
    ) -> Result<Charge, DomainError> {
        match self.store.charges.get_charge(id).await? {
            Some(charge) if &charge.account_id == account_id => Ok(charge),
            _ => Err(DomainError::NotFound("charge")),
        }
    }

    /// [`ChargeService::get_charge`] with the booked splits.
    pub async fn get_charge_details(
        &self,
        account_id: &AccountId,
        id: &TransactionId,
    ) -> Result<ChargeDetails, DomainError> {
        let mut charge = self.get_charge(account_id, id).await?;
        charge.status = charge.status_at(self.clock.now());
        let splits = self.booked_splits(&charge).await?;
        Ok(ChargeDetails { charge, splits })
    }

    /// [`ChargeService::list_charges`] with each charge's booked splits (read concurrently,
    /// and only for paid charges that have splits).
    pub async fn list_charge_details(
        &self,
        account_id: &AccountId,
        request: &ChargeListRequest,
    ) -> Result<Page<ChargeDetails>, DomainError> {
        let page = self.list_charges(account_id, request).await?;
        let now = self.clock.now();
        let splits =
            futures::future::try_join_all(page.items.iter().map(|c| self.booked_splits(c))).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .zip(splits)
                .map(|(mut charge, splits)| {
                    // As GET shows it: EXPIRED from `expirationDate` on, swept or not.
                    charge.status = charge.status_at(now);
                    ChargeDetails { charge, splits }
                })
                .collect(),
            next: page.next,
        })
    }

    async fn booked_splits(&self, charge: &Charge) -> Result<Vec<SplitEntry>, DomainError> {
        if charge.splits.is_empty() || charge.payment.is_none() {
            return Ok(Vec::new());
        }
        Ok(self.store.splits.get_splits(&charge.transaction_id).await?)
    }

    pub async fn list_charges(
        &self,
        account_id: &AccountId,
        request: &ChargeListRequest,
    ) -> Result<Page<Charge>, DomainError> {
        if let Some(external_id) = &request.external_id {
            let found = self
                .store
                .charges
                .find_charge_by_external_id(account_id, external_id)
                .await?;
            let query = &request.query;
            let items = found
                .into_iter()
                .filter(|c| query.status.is_none_or(|s| s == c.status))
                .filter(|c| query.from.is_none_or(|from| c.created_at >= from))
                .filter(|c| query.to.is_none_or(|to| c.created_at < to))
                .collect();
            return Ok(Page { items, next: None });
        }
        Ok(self
            .store
            .charges
            .list_charges(account_id, &request.query)
            .await?)
    }
}

/// Storage and JSON both carry milliseconds; truncating up front keeps what we return equal to
/// what we store.
pub fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::milliseconds(1)).unwrap_or(t)
}
