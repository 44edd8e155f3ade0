//! Onboarding: creating a merchant account with its first API credentials.

use crate::store::DynStore;
use chrono::{DateTime, Utc};
use pixgw_domain::account::ports::CreateAccountError;
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::pix::brcode::{sanitize_merchant_city, sanitize_merchant_name};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::provider::directory::validate_provider_list;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthKeys, encrypt_secret, generate_secret, hash_secret};
use crate::error::ApiError;

/// Shown ONCE, at creation; afterwards only hashes / ciphertexts exist.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccountCredentials {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub crypto_token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("account name must not be empty")]
    EmptyName,
    #[error("city must contain at least one letter")]
    EmptyCity,
    #[error("providers: {0}")]
    InvalidProviders(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("storage: {0}")]
    Store(#[from] CreateAccountError),
}

/// Creates an account that uses the deployment's default provider order; `merchant name /
/// city` feed BR Code fields 59 / 60.
pub async fn create_account(
    store: &DynStore,
    keys: &AuthKeys,
    name: &str,
    city: &str,
    now: DateTime<Utc>,
) -> Result<NewAccountCredentials, OnboardingError> {
    create_account_with_providers(store, keys, name, city, Vec::new(), now).await
}

/// [`create_account`] with the account's own provider order (`Account::providers`; empty:
/// the deployment's default), checked with [`validate_provider_list`] before anything is
/// stored.
pub async fn create_account_with_providers(
    store: &DynStore,
    keys: &AuthKeys,
    name: &str,
    city: &str,
    providers: Vec<String>,
    now: DateTime<Utc>,
) -> Result<NewAccountCredentials, OnboardingError> {
    validate_provider_list(&providers).map_err(OnboardingError::InvalidProviders)?;
    let merchant_name = sanitize_merchant_name(name);
    if name.trim().is_empty() || merchant_name.is_empty() {
        return Err(OnboardingError::EmptyName);
    }
    let merchant_city = sanitize_merchant_city(city);
    if merchant_city.is_empty() {
        return Err(OnboardingError::EmptyCity);
    }
    let client_secret = generate_secret();
    let crypto_token = generate_secret();
    let account = Account {
        id: AccountId::generate(),
        name: name.trim().to_owned(),
        merchant_name,
        merchant_city,
        crypto_token_encrypted: encrypt_secret(keys, &crypto_token)?,
        providers,
        refund_liability: Default::default(),
        created_at: now,
    };
    let credential = ClientCredential {
        client_id: uuid::Uuid::new_v4().to_string(),
        account_id: account.id.clone(),
        secret_hash: hash_secret(&client_secret)?,
        created_at: now,
    };
    store.create_account(&account, &credential).await?;
    Ok(NewAccountCredentials {
        account_id: account.id.to_string(),
        client_id: credential.client_id,
        client_secret,
        crypto_token,
    })
}
