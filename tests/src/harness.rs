//! Builds the whole API in-process on a chosen storage backend and drives it exactly as a host
//! would (through `pixgw_api::dispatch`), so every test runs against the embedded store AND
//! DynamoDB Local.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use chrono::{DateTime, Duration, Utc};
use http::Method;
use pixgw_api::accounts::{NewAccountCredentials, create_account};
use pixgw_api::auth::AuthKeys;
use pixgw_api::sandbox_clock::SandboxClock;
use pixgw_api::state::{SandboxConfig, SandboxDelivery};
use pixgw_api::store::DynStore;
use pixgw_api::{ApiRequest, ApiResponse, AppState, dispatch};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::queue::MessageQueue;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::webhooks::url_policy::HostResolver;
use pixgw_providers::sandbox::SandboxProvider;
use pixgw_queue_local::LocalQueues;
use pixgw_queue_sqs::SqsQueues;
use pixgw_store_dynamodb::DynamoStore;
use pixgw_store_dynamodb::outbox::DynamoStreamFeed;
use pixgw_store_embedded::EmbeddedStore;
use serde_json::Value;
use tempfile::TempDir;

/// The sandbox location host used in tests.
pub const PUBLIC_HOST: &str = "127.0.0.1:3000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Dynamodb,
}

/// The endpoint of an emulator `./scripts/test.sh` started and exported in `var`. Missing
/// means the emulator is not running: fail loudly, never skip.
pub fn emulator_endpoint(var: &str, emulator: &str) -> String {
    match std::env::var(var) {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "{var} is not set: {emulator} is not running. \
             Run the tests with ./scripts/test.sh, which starts it."
        ),
    }
}

/// The DynamoDB Local endpoint (`PIXGW_TEST_DYNAMODB_ENDPOINT`).
pub fn dynamodb_endpoint() -> String {
    emulator_endpoint("PIXGW_TEST_DYNAMODB_ENDPOINT", "DynamoDB Local")
}

/// The moto (SQS) endpoint (`PIXGW_TEST_SQS_ENDPOINT`).
pub fn sqs_endpoint() -> String {
    emulator_endpoint("PIXGW_TEST_SQS_ENDPOINT", "moto (SQS)")
}

/// A DynamoDB store on a new, uniquely named table in DynamoDB Local.
pub async fn fresh_dynamodb_store() -> DynamoStore {
    let endpoint = dynamodb_endpoint();
    let table = format!("pixgw-test-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoStore::connect(Some(endpoint.clone()), table.clone()).await;
    pixgw_store_dynamodb::create_table(store.client(), &table)
        .await
        .unwrap_or_else(|e| panic!("cannot create table {table} at {endpoint}: {e}"));
    store
}

/// [`fresh_dynamodb_store`] on a table that never had a stream, for tests that write a lot and
/// read nothing from the stream (no outbox relay, no webhook messages).
///
/// DynamoDB Local keeps the stream records of every table in one SQLite table and, on every
/// request to a table that has or ever had a stream, computes its stream description from
/// them: such a request slows down with every stream record written in the process so far (a
/// 10k-split scheduler run goes from about a minute on a fresh emulator to many minutes after
/// other tests). Turning the stream off after creation does not help, as the table keeps its
/// latest stream; a table created without one does not pay for it.
pub async fn fresh_dynamodb_store_without_stream() -> DynamoStore {
    let endpoint = dynamodb_endpoint();
    let table = format!("pixgw-test-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoStore::connect(Some(endpoint), table.clone()).await;
    create_table_without_stream(store.client(), &table).await;
    store
}

/// The table of [`pixgw_store_dynamodb::create_table`] (its keys and indexes from
/// [`pixgw_store_dynamodb::table::KEYS`], every attribute S, every index projecting ALL,
/// PAY_PER_REQUEST, TTL on `ttl`) without a stream; returns once it and its indexes are ACTIVE.
async fn create_table_without_stream(client: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement,
        KeyType, Projection, ProjectionType, ScalarAttributeType, TableStatus,
        TimeToLiveSpecification,
    };
    use pixgw_store_dynamodb::keys::TTL;
    use pixgw_store_dynamodb::table::KEYS;

    let key_schema = |hash: &str, range: &str| {
        [(hash, KeyType::Hash), (range, KeyType::Range)]
            .into_iter()
            .map(|(name, key_type)| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(key_type)
                    .build()
                    .expect("key schema element")
            })
            .collect::<Vec<_>>()
    };
    let attributes = KEYS
        .iter()
        .flat_map(|(_, hash, range)| [*hash, *range])
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition")
        })
        .collect();
    let indexes = KEYS
        .iter()
        .filter_map(|(index, hash, range)| {
            index.map(|name| {
                GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .set_key_schema(Some(key_schema(hash, range)))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("global secondary index")
            })
        })
        .collect();
    let (_, pk, sk) = KEYS
        .iter()
        .find(|(index, _, _)| index.is_none())
        .expect("the table's own keys");
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(pk, sk)))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot create table {table}: {e:?}"));
    let mut active = false;
    for _ in 0..1_200 {
        let description = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot describe table {table}: {e:?}"));
        let description = description.table().expect("table description");
        active = description.table_status() == Some(&TableStatus::Active)
            && description
                .global_secondary_indexes()
                .iter()
                .all(|gsi| gsi.index_status() == Some(&IndexStatus::Active));
        if active {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(active, "table {table} did not become ACTIVE");
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL)
                .enabled(true)
                .build()
                .expect("TTL specification"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("cannot enable TTL on {table}: {e:?}"));
}

/// A fresh, empty store. The `TempDir` (embedded) must live as long as the store.
pub async fn fresh_store(backend: Backend) -> (DynStore, Option<TempDir>) {
    match backend {
        Backend::Embedded => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
            (Arc::new(store), Some(dir))
        }
        Backend::Dynamodb => (Arc::new(fresh_dynamodb_store().await), None),
    }
}

/// Everything the settlement pipeline runs on, for one backend: the store, where its outbox
/// is read from, and the queues (embedded store + in-process queues, or DynamoDB Local with
/// its stream + SQS on moto).
pub struct PipelineParts {
    pub store: DynStore,
    pub feed: Arc<dyn OutboxFeed>,
    pub queues: Arc<dyn MessageQueue>,
    pub dir: Option<TempDir>,
}

/// SQS visibility timeout of test queues: long enough that a message being processed is not
/// redelivered by accident; tests simulate expiry with `retry_later(ZERO)`.
pub const TEST_VISIBILITY: std::time::Duration = std::time::Duration::from_secs(30);
/// Receives before a message is dead-lettered, on both queue adapters.
pub const TEST_MAX_RECEIVES: u32 = 5;

/// Fresh SQS queues on moto under a unique prefix.
pub async fn fresh_sqs_queues() -> SqsQueues {
    let endpoint = sqs_endpoint();
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let queues = SqsQueues::connect(Some(endpoint.clone()), prefix.clone()).await;
    pixgw_queue_sqs::create_queues(queues.client(), &prefix, TEST_VISIBILITY, TEST_MAX_RECEIVES)
        .await
        .unwrap_or_else(|e| panic!("cannot create queues {prefix}-* at {endpoint}: {e}"));
    queues
}

/// The embedded store with in-process queues, kept in memory only or, `journaled`, in the
/// store's directory as the local gateway keeps them.
pub fn fresh_embedded_pipeline(clock: Arc<dyn Clock>, journaled: bool) -> PipelineParts {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open embedded store"));
    let config = pixgw_queue_local::LocalQueueConfig {
        visibility_timeout: TEST_VISIBILITY,
        max_receives: TEST_MAX_RECEIVES,
    };
    let queues = if journaled {
        LocalQueues::open_dir(dir.path(), clock, config).expect("open journaled queues")
    } else {
        LocalQueues::with_default_config(clock, config)
    };
    PipelineParts {
        store: store.clone(),
        feed: store,
        queues: Arc::new(queues),
        dir: Some(dir),
    }
}

pub async fn fresh_pipeline(backend: Backend, clock: Arc<dyn Clock>) -> PipelineParts {
    match backend {
        Backend::Embedded => fresh_embedded_pipeline(clock, false),
        Backend::Dynamodb => {
            let store = fresh_dynamodb_store().await;
            let feed =
                DynamoStreamFeed::connect(Some(dynamodb_endpoint()), store.table().to_owned())
                    .await;
            PipelineParts {
                store: Arc::new(store),
                feed: Arc::new(feed),
                queues: Arc::new(fresh_sqs_queues().await),
                dir: None,
            }
        }
    }
}

/// A clock tests move by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn test_keys() -> AuthKeys {
    AuthKeys::new(vec![7u8; 48], [9u8; 32]).expect("test keys")
}

/// The whole gateway on one backend, with a manual clock: the API, the sandbox PIX network
/// (webhooks delivered in-process through the router), and the pipeline's outbox and queues
/// (driven step by step by the tests, see `crate::pipeline`).
///
/// [`Gateway::start_sandbox`] builds it like the local gateway: every part runs on an
/// adjustable [`SandboxClock`] (over the manual clock), which `POST /api/sandbox/clock/advance`
/// moves; the other constructors have no adjustable clock, so that route does not exist there.
pub struct Gateway {
    pub state: AppState,
    /// The base time; `state.clock` may run ahead of it (see `sandbox_clock`).
    pub clock: Arc<ManualClock>,
    /// The adjustable clock the state runs on, for gateways built by [`Gateway::start_sandbox`].
    pub sandbox_clock: Option<Arc<SandboxClock>>,
    pub backend: Backend,
    pub sandbox: SandboxProvider,
    pub feed: Arc<dyn OutboxFeed>,
    pub queues: Arc<dyn MessageQueue>,
    _dir: Option<TempDir>,
}

impl Gateway {
    pub async fn start(backend: Backend) -> Gateway {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let parts = fresh_pipeline(backend, clock.clone()).await;
        Gateway::start_with(backend, clock, parts)
    }

    /// A gateway over pipeline parts built by the caller (e.g. a store with an instrumented
    /// client).
    pub fn start_with(backend: Backend, clock: Arc<ManualClock>, parts: PipelineParts) -> Gateway {
        Gateway::build(backend, clock, None, parts)
    }

    /// Like the local gateway: the API, the sandbox and the queues all run on one adjustable
    /// sandbox clock over a manual clock starting at `start`, and
    /// `POST /api/sandbox/clock/advance` exists.
    pub async fn start_sandbox(backend: Backend, start: DateTime<Utc>) -> Gateway {
        let clock = Arc::new(ManualClock::new(start));
        let sandbox_clock = Arc::new(SandboxClock::over(clock.clone()));
        let parts = fresh_pipeline(backend, sandbox_clock.clone()).await;
        Gateway::build(backend, clock, Some(sandbox_clock), parts)
    }

    fn build(
        backend: Backend,
        clock: Arc<ManualClock>,
        sandbox_clock: Option<Arc<SandboxClock>>,
        parts: PipelineParts,
    ) -> Gateway {
        let keys = test_keys();
        let state_clock: Arc<dyn Clock> = match &sandbox_clock {
            Some(adjustable) => adjustable.clone(),
            None => clock.clone(),
        };
        let sandbox = SandboxProvider::new(
            PUBLIC_HOST,
            state_clock.clone(),
            keys.sandbox_webhook_secret()
                .expect("the test keys hold a data key"),
        )
        .expect("sandbox provider");
        let config = SandboxConfig {
            provider: sandbox.clone(),
            delivery: SandboxDelivery::InProcess,
        };
        let state = match &sandbox_clock {
            Some(adjustable) => AppState::with_sandbox_clock(
                parts.store,
                Arc::new(sandbox.clone()),
                adjustable.clone(),
                keys,
                Some(config),
            ),
            None => AppState::new(
                parts.store,
                Arc::new(sandbox.clone()),
                state_clock,
                keys,
                Some(config),
            ),
        };
        Gateway {
            state,
            clock,
            sandbox_clock,
            backend,
            sandbox,
            feed: parts.feed,
            queues: parts.queues,
            _dir: parts.dir,
        }
    }

    /// The gateway's time (the sandbox clock's, when it has one).
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    pub async fn call(&self, request: ApiRequest) -> ApiResponse {
        dispatch(&self.state, request).await
    }

    pub async fn new_account(&self, name: &str) -> NewAccountCredentials {
        create_account(
            &self.state.store,
            &self.state.keys,
            name,
            "SAO PAULO",
            self.clock_now(),
        )
        .await
        .expect("create account")
    }

    pub async fn token_for(&self, credentials: &NewAccountCredentials) -> String {
        let response = self
            .call(
                ApiRequest::new(Method::POST, "/api/auth/token").with_json(&serde_json::json!({
                    "clientId": credentials.client_id,
                    "clientSecret": credentials.client_secret,
                })),
            )
            .await;
        assert_eq!(response.status, 200, "token: {:?}", response.body_json());
        response.body_json()["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_owned()
    }

    /// A new account and a bearer token for it.
    pub async fn merchant(&self, name: &str) -> (NewAccountCredentials, String) {
        let credentials = self.new_account(name).await;
        let token = self.token_for(&credentials).await;
        (credentials, token)
    }

    /// Creates a charge (201) and pays it through the sandbox (200); its transaction id. The
    /// pipeline is not run: callers run it when they need the splits booked.
    pub async fn create_and_pay(&self, token: &str, body: &Value) -> String {
        let created = self.post("/api/pix/cash-in", token, body, None).await;
        assert_eq!(created.status, 201, "{:?}", created.body_json());
        let id = created.body_json()["transactionId"]
            .as_str()
            .expect("transactionId")
            .to_owned();
        let path = format!("/api/sandbox/cash-in/{id}/pay");
        let paid = self.post(&path, token, &serde_json::json!({}), None).await;
        assert_eq!(paid.status, 200, "{:?}", paid.body_json());
        id
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> ApiResponse {
        self.send_json(Method::POST, path, token, body, idempotency_key)
            .await
    }

    pub async fn put(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> ApiResponse {
        self.send_json(Method::PUT, path, token, body, idempotency_key)
            .await
    }

    /// A bearer-authenticated request with a JSON body and an optional idempotency key.
    async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> ApiResponse {
        let mut request = ApiRequest::new(method, path)
            .with_json(body)
            .with_header("authorization", &format!("Bearer {token}"));
        if let Some(key) = idempotency_key {
            request = request.with_header("x-idempotency-key", key);
        }
        self.call(request).await
    }

    /// Merchant webhook hosts resolve through `table` instead of the system resolver, so tests
    /// never touch real DNS: `("hooks.example", &["93.184.216.34"])`.
    pub fn with_webhook_hosts(mut self, table: &[(&str, &[&str])]) -> Gateway {
        let resolver = Arc::new(TableResolver::new(table));
        self.state = self.state.with_webhook_resolver(resolver);
        self
    }

    pub async fn get(&self, path_and_query: &str, token: &str) -> ApiResponse {
        self.call(
            ApiRequest::from_uri(Method::GET, path_and_query)
                .with_header("authorization", &format!("Bearer {token}")),
        )
        .await
    }
}

/// A DNS stand-in: host names resolve to the addresses listed for them, and any other name
/// is unknown.
#[derive(Debug, Clone, Default)]
pub struct TableResolver(Vec<(String, Vec<IpAddr>)>);

impl TableResolver {
    /// Panics on an address that does not parse (a typo in the test itself).
    pub fn new(table: &[(&str, &[&str])]) -> TableResolver {
        TableResolver(
            table
                .iter()
                .map(|(host, ips)| {
                    let ips = ips
                        .iter()
                        .map(|ip| ip.parse().expect("IP address in the test's table"))
                        .collect();
                    ((*host).to_owned(), ips)
                })
                .collect(),
        )
    }
}

#[async_trait]
impl HostResolver for TableResolver {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, ips)| ips.clone())
            .ok_or_else(|| format!("{host}: no such host"))
    }
}

/// Runs each listed async test body once per backend: `embedded::name`, `dynamodb::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Embedded).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Dynamodb).await;
                }
            )*
        }
    };
}
