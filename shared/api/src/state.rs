//! Everything a request handler needs, built once per process by the host.

use std::sync::Arc;

use pixgw_domain::ports::{Clock, DynStore, PixProvider};
use pixgw_domain::service::ChargeService;

use crate::auth::AuthKeys;

/// Sandbox-only features (the public PIX location endpoint today; payments and the test
/// clock later). `None` in production builds: those routes answer 404.
#[derive(Debug, Clone)]
pub struct SandboxConfig;

#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub charges: ChargeService,
    pub clock: Arc<dyn Clock>,
    pub keys: AuthKeys,
    pub sandbox: Option<SandboxConfig>,
}

impl AppState {
    pub fn new(
        store: DynStore,
        provider: Arc<dyn PixProvider>,
        clock: Arc<dyn Clock>,
        keys: AuthKeys,
        sandbox: Option<SandboxConfig>,
    ) -> AppState {
        AppState {
            charges: ChargeService::new(store.clone(), provider, clock.clone()),
            store,
            clock,
            keys,
            sandbox,
        }
    }
}
