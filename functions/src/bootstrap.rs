//! An API function's cold start: the application state its route runs on, built from what its
//! flow needs ([`Needs`]) and nothing more. Everything that can be refused for a configuration
//! mistake is checked before the store is touched, so a wrong or missing setting fails the cold
//! start with its own message.

use std::sync::Arc;

use pixgw_api::auth::AuthKeys;
use pixgw_api::store::DynStore;
use pixgw_api::{AppState, Route};
use pixgw_domain::pix::clock::{Clock, SystemClock};

use crate::BootstrapError;
use crate::aws::{AwsClients, Env, required};
use crate::needs::Needs;
use crate::providers::ProviderPlan;

/// The state the function serving `route` runs on: the keys it uses, its providers as it uses
/// them ([`ProviderPlan`]), the store (`PIXGW_TABLE`) and the system clock.
pub fn api_state(route: Route, env: Env<'_>, aws: &AwsClients) -> Result<AppState, BootstrapError> {
    let needs = Needs::of(route);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let plan = ProviderPlan::read(needs.psp, env)?;
    let keys = auth_keys(env, needs.jwt_key, needs.data_key || plan.builds_sandbox())?;
    let providers = plan.build(env, &keys, &clock)?;
    let store: DynStore = Arc::new(aws.store(env)?);
    Ok(AppState::with_providers(
        store,
        providers.directory,
        clock,
        keys,
        providers.sandbox,
    ))
}

/// The keys a function uses: `PIXGW_JWT_SECRET` if it issues or verifies tokens,
/// `PIXGW_DATA_KEY` if it opens or seals secrets; each required then, and never read otherwise.
pub fn auth_keys(env: Env<'_>, jwt_key: bool, data_key: bool) -> Result<AuthKeys, BootstrapError> {
    let jwt = jwt_key
        .then(|| required(env, "PIXGW_JWT_SECRET"))
        .transpose()?;
    let data = data_key
        .then(|| required(env, "PIXGW_DATA_KEY"))
        .transpose()?;
    AuthKeys::only_from_hex(jwt.as_deref(), data.as_deref())
        .map_err(|e| BootstrapError::Invalid(e.to_string()))
}
