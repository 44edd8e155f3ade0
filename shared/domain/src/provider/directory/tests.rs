use std::sync::Mutex;

use async_trait::async_trait;
use chrono::TimeZone;

use super::*;
use crate::pix::ids::AccountId;
use crate::provider::{
    InboundWebhook, ProviderCapabilities, ProviderEvent, ProviderWebhookError, RefundOutcome,
    RefundRequest, TransferOutcome, TransferRequest,
};
use crate::provider::{ProviderCharge, ProviderChargeRequest};

struct Named(&'static str, ProviderCapabilities);

#[async_trait]
impl PixProvider for Named {
    fn name(&self) -> &'static str {
        self.0
    }
    fn capabilities(&self) -> ProviderCapabilities {
        self.1
    }
    async fn create_charge(
        &self,
        _: &ProviderChargeRequest,
    ) -> Result<ProviderCharge, ProviderError> {
        Err(ProviderError::Unavailable("not used".into()))
    }
    async fn transfer(&self, _: &TransferRequest) -> Result<TransferOutcome, ProviderError> {
        Err(ProviderError::Unavailable("not used".into()))
    }
    async fn refund(&self, _: &RefundRequest) -> Result<RefundOutcome, ProviderError> {
        Err(ProviderError::Unavailable("not used".into()))
    }
    async fn verify_webhook(
        &self,
        _: &InboundWebhook<'_>,
    ) -> Result<ProviderEvent, ProviderWebhookError> {
        Err(ProviderWebhookError::Unauthenticated("not used"))
    }
}

struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn setup() -> (ProviderDirectory, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock(Mutex::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
    )));
    let providers: Vec<Arc<dyn PixProvider>> = vec![
        Arc::new(Named("connectpsp", ProviderCapabilities::ALL)),
        Arc::new(Named("pagfast", ProviderCapabilities::CHARGES_ONLY)),
        Arc::new(Named("sandbox", ProviderCapabilities::ALL)),
    ];
    let directory =
        ProviderDirectory::new(providers, FailoverPolicy::default(), clock.clone()).unwrap();
    (directory, clock)
}

fn account(providers: &[&str]) -> Account {
    Account {
        id: AccountId::generate(),
        name: "Shop".into(),
        merchant_name: "SHOP".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: "x".into(),
        providers: providers.iter().map(|p| (*p).to_owned()).collect(),
        refund_liability: Default::default(),
        created_at: Utc::now(),
    }
}

fn names(list: &[Arc<dyn PixProvider>]) -> Vec<&'static str> {
    list.iter().map(|p| p.name()).collect()
}

fn unavailable() -> Result<(), ProviderError> {
    Err(ProviderError::Unavailable("timeout".into()))
}

#[test]
fn an_account_without_a_list_follows_the_deployment_order() {
    let (d, _) = setup();
    assert_eq!(
        names(&d.charge_candidates(&account(&[]))),
        ["connectpsp", "pagfast", "sandbox"]
    );
}

#[test]
fn an_account_list_wins_and_unknown_names_are_skipped() {
    let (d, _) = setup();
    assert_eq!(
        names(&d.charge_candidates(&account(&["pagfast", "nope", "connectpsp"]))),
        ["pagfast", "connectpsp"]
    );
    assert_eq!(
        names(&d.charge_candidates(&account(&["nope"]))),
        ["connectpsp", "pagfast", "sandbox"]
    );
}

#[test]
fn a_provider_is_down_after_the_threshold_and_tried_last() {
    let (d, _) = setup();
    let a = account(&["connectpsp", "pagfast"]);
    d.record("connectpsp", &unavailable());
    d.record("connectpsp", &unavailable());
    assert!(
        !d.is_down("connectpsp"),
        "two failures are below the threshold of 3"
    );
    assert_eq!(names(&d.charge_candidates(&a)), ["connectpsp", "pagfast"]);
    d.record("connectpsp", &unavailable());
    assert!(d.is_down("connectpsp"));
    assert_eq!(names(&d.charge_candidates(&a)), ["pagfast", "connectpsp"]);
}

#[test]
fn a_success_or_a_refusal_resets_the_count() {
    let (d, _) = setup();
    d.record("connectpsp", &unavailable());
    d.record("connectpsp", &unavailable());
    d.record("connectpsp", &Ok(()));
    d.record("connectpsp", &unavailable());
    d.record("connectpsp", &unavailable());
    assert!(!d.is_down("connectpsp"));
    d.record::<()>("connectpsp", &Err(ProviderError::rejected("bad cpf")));
    d.record("connectpsp", &unavailable());
    d.record("connectpsp", &unavailable());
    assert!(
        !d.is_down("connectpsp"),
        "a refusal proves the provider is up"
    );
}

#[test]
fn failures_spread_beyond_the_window_do_not_add_up() {
    let (d, clock) = setup();
    d.record("connectpsp", &unavailable());
    d.record("connectpsp", &unavailable());
    clock.advance(Duration::seconds(61));
    d.record("connectpsp", &unavailable());
    assert!(!d.is_down("connectpsp"));
}

#[test]
fn after_the_cool_down_one_probe_decides() {
    let (d, clock) = setup();
    for _ in 0..3 {
        d.record("connectpsp", &unavailable());
    }
    clock.advance(Duration::seconds(30));
    assert!(!d.is_down("connectpsp"), "probed again after the cool-down");
    d.record("connectpsp", &unavailable());
    assert!(
        d.is_down("connectpsp"),
        "a failed probe makes it down at once"
    );
    clock.advance(Duration::seconds(30));
    d.record("connectpsp", &Ok(()));
    d.record("connectpsp", &unavailable());
    assert!(!d.is_down("connectpsp"), "a good probe closes it");
}

#[test]
fn transfers_go_to_the_first_provider_that_can_make_them() {
    let (d, _) = setup();
    let t = d
        .transfer_provider(&account(&["pagfast", "connectpsp"]))
        .unwrap();
    assert_eq!(t.name(), "connectpsp");
    assert!(matches!(
        d.transfer_provider(&account(&["pagfast"])),
        Err(DomainError::ProviderOperationUnsupported { .. })
    ));
}

#[test]
fn transfers_never_fail_over() {
    let (d, _) = setup();
    for _ in 0..5 {
        d.record("connectpsp", &unavailable());
    }
    let t = d
        .transfer_provider(&account(&["connectpsp", "sandbox"]))
        .unwrap();
    assert_eq!(t.name(), "connectpsp");
}

#[test]
fn a_directory_needs_distinct_providers() {
    let clock: Arc<dyn Clock> = Arc::new(crate::pix::clock::SystemClock);
    assert_eq!(
        ProviderDirectory::new(Vec::new(), FailoverPolicy::default(), clock.clone()).unwrap_err(),
        DirectoryError::Empty
    );
    let twice: Vec<Arc<dyn PixProvider>> = vec![
        Arc::new(Named("sandbox", ProviderCapabilities::ALL)),
        Arc::new(Named("sandbox", ProviderCapabilities::ALL)),
    ];
    assert_eq!(
        ProviderDirectory::new(twice, FailoverPolicy::default(), clock).unwrap_err(),
        DirectoryError::Duplicate("sandbox")
    );
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn provider_lists_of_known_distinct_names_are_valid() {
    assert_eq!(validate_provider_list(&[]), Ok(()));
    assert_eq!(validate_provider_list(&owned(&["pagfast"])), Ok(()));
    assert_eq!(
        validate_provider_list(&owned(&["connectpsp", "pagfast", "sandbox"])),
        Ok(())
    );
    // Every known name is accepted on its own.
    for name in KNOWN_PROVIDERS {
        assert_eq!(validate_provider_list(&owned(&[name])), Ok(()), "{name}");
    }
}

#[test]
fn provider_lists_with_unknown_repeated_or_too_many_names_are_refused() {
    let unknown = validate_provider_list(&owned(&["connectpsp", "acme"])).unwrap_err();
    assert!(
        unknown.contains("unknown PIX provider \"acme\""),
        "{unknown}"
    );
    // Names are exact: no case folding, no trimming.
    assert!(validate_provider_list(&owned(&["PagFast"])).is_err());
    assert!(validate_provider_list(&owned(&[" sandbox"])).is_err());
    assert!(validate_provider_list(&owned(&[""])).is_err());

    let twice = validate_provider_list(&owned(&["pagfast", "sandbox", "pagfast"])).unwrap_err();
    assert!(twice.contains("\"pagfast\" is listed twice"), "{twice}");

    let four = owned(&["sandbox", "connectpsp", "pagfast", "sandbox"]);
    let too_many = validate_provider_list(&four).unwrap_err();
    assert!(too_many.contains("at most 3"), "{too_many}");
}
