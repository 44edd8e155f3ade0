//! One deployment of `template.yaml` on DynamoDB Local and moto: the table, the queues the
//! template declares, and every function the template creates, each built the way its binary
//! builds itself (its builder, on exactly the environment the template gives it, recording
//! which variables it reads: [`start`]) with a recorder on its AWS clients. The Lambda
//! service's part is played here, driven by the template too: API Gateway events for the HTTP
//! functions, the SQS event source mappings (the queue each function's `SQS` event names), the
//! stream mapping of the outbox relay (with its `FilterCriteria`) and the scheduled ticks. The
//! Lambda service's own AWS calls (polling, deleting, reading the stream) are not recorded:
//! they are checked from the template's `Events` instead ([`super::iam::event_source_needs`]).
//!
//! Two things are not AWS and are replaced: merchant webhook hosts resolve to a public address
//! and the merchant endpoints answer by path ([`MerchantEndpoints`]), since the tests have no
//! internet; the functions' URL policy stays the production one.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use pixgw_api::auth::AuthKeys;
use pixgw_api::state::{SandboxConfig, SandboxDelivery};
use pixgw_api::store::DynStore;
use pixgw_api::{AppState, Route};
use pixgw_domain::flows::expire::ExpirySweeper;
use pixgw_domain::flows::run_payout_windows::PayoutScheduler;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::webhooks::url_policy::HostResolver;
use pixgw_domain::webhooks::{WebhookRequest, WebhookResponse, WebhookSender};
use pixgw_functions::aws::{AwsClients, Env};
use pixgw_functions::pipeline::{handle_stream, webhook_dispatcher_with};
use pixgw_functions::runner::{Consumer, handle_tick};
use pixgw_functions::{BootstrapError, bootstrap, expiry, pipeline, scheduler};
use pixgw_providers::sandbox::SandboxProvider;
use pixgw_queue_sqs::SqsQueues;
use pixgw_store_dynamodb::DynamoStore;
use serde_json::{Value, json};

use super::recorder::{CallLog, Recorder};
use super::template::{Deployment, Function, Stack, Template};

/// moto's account, and the account of every ARN here.
pub const ACCOUNT: &str = "123456789012";

/// The endpoint of an emulator `./scripts/test.sh` started and exported in `var`: missing
/// means the emulator is not running, which fails the test, never skips it.
pub fn emulator_endpoint(var: &str, emulator: &str) -> String {
    match std::env::var(var) {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => panic!(
            "{var} is not set: {emulator} is not running. Run the tests with ./scripts/test.sh \
             (or infra/scripts/emulators.sh run cargo test ...), which starts it."
        ),
    }
}

/// What a function runs per invocation.
pub enum Handler {
    /// An API route: `pixgw_functions::handle` on the state `serve` builds.
    Http {
        state: Box<AppState>,
        route: Route,
    },
    /// An SQS consumer, as `runner::serve_sqs` runs it.
    Queue(Consumer),
    /// The outbox relay on the table's stream.
    Relay {
        queues: SqsQueues,
    },
    Scheduler(PayoutScheduler),
    Sweeper(ExpirySweeper),
}

pub struct Lambda {
    pub function: Function,
    pub handler: Handler,
}

impl Lambda {
    /// The sandbox provider of this function's instance (its own simulated PIX network).
    pub fn sandbox(&self) -> &SandboxProvider {
        let sandbox = match &self.handler {
            Handler::Http { state, .. } => state.sandbox.as_ref().map(|s| &s.provider),
            Handler::Queue(consumer) => consumer.sandbox.as_ref(),
            _ => None,
        };
        sandbox.unwrap_or_else(|| panic!("{} built no sandbox provider", self.function.binary))
    }
}

/// Merchant hosts resolve to a public address (the URL policy accepts it; nothing connects to
/// it, see [`MerchantEndpoints`]), except `private.example.com`, which resolves to a private
/// one (the URL policy refuses it).
pub struct PublicDns;

pub const PRIVATE_HOST: &str = "private.example.com";

#[async_trait]
impl HostResolver for PublicDns {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
        let ip = if host == PRIVATE_HOST {
            "10.0.0.7"
        } else {
            "93.184.216.34"
        };
        Ok(vec![ip.parse().expect("an IP address")])
    }
}

/// The merchants' webhook endpoints, answering by the URL's last path segment: `ok` → 200,
/// `gone` → 410, anything else → 503.
#[derive(Default)]
pub struct MerchantEndpoints {
    posted: Mutex<Vec<String>>,
}

impl MerchantEndpoints {
    /// The URLs POSTed to so far.
    pub fn posted(&self) -> Vec<String> {
        self.posted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl WebhookSender for MerchantEndpoints {
    async fn send(&self, request: WebhookRequest) -> WebhookResponse {
        let status = match request.url.rsplit('/').next() {
            Some("ok") => 200,
            Some("gone") => 410,
            _ => 503,
        };
        self.posted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.url);
        WebhookResponse {
            status: Some(status),
            latency: Duration::from_millis(1),
            error: None,
        }
    }
}

/// Where the outbox relay's mapping has read the stream up to: shard id → the last sequence
/// number read (a fresh iterator after it each time, so none expires between reads).
#[derive(Default)]
struct StreamPosition {
    last_read: BTreeMap<String, String>,
}

pub struct World {
    pub deployment: Deployment,
    pub log: CallLog,
    pub keys: AuthKeys,
    pub endpoints: Arc<MerchantEndpoints>,
    pub lambdas: BTreeMap<String, Lambda>,
    /// A store on the table without a recorder: fixtures an operator makes (accounts) and
    /// reads the test makes.
    pub operator_store: DynStore,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    queue_urls: BTreeMap<String, String>,
    stream: tokio::sync::Mutex<StreamPosition>,
    /// Messages a consumer failed (binary, body), in order.
    failures: Mutex<Vec<(String, String)>>,
    /// The functions invoked so far.
    invoked: Mutex<BTreeSet<String>>,
}

impl World {
    /// Deploys the template with `overrides` on top of its parameters' defaults.
    pub async fn deploy(overrides: &[(&str, &str)]) -> World {
        let dynamodb_endpoint = emulator_endpoint("PIXGW_TEST_DYNAMODB_ENDPOINT", "DynamoDB Local");
        let sqs_endpoint = emulator_endpoint("PIXGW_TEST_SQS_ENDPOINT", "moto (SQS)");
        let run = uuid::Uuid::new_v4().simple().to_string();
        let stack = Stack {
            name: format!("pixgw-policy-{}", &run[..12]),
            region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            account: ACCOUNT.to_owned(),
            table: format!("pixgw-policy-Table-{run}"),
            stream_label: "2026-01-01T00:00:00.000".to_owned(),
        };
        let mut deployment = Deployment::new(Template::load(), stack.clone(), overrides);
        let secrets = generated_secrets(&deployment);
        for (arn, value) in &secrets {
            deployment = deployment.with_secret(arn, value);
        }
        let refused = deployment.failing_rules();
        assert!(
            refused.is_empty(),
            "CloudFormation refuses these parameters: {refused:?}"
        );

        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .endpoint_url(&dynamodb_endpoint)
                .build(),
        );
        let streams = aws_sdk_dynamodbstreams::Client::from_conf(
            aws_sdk_dynamodbstreams::config::Builder::from(&config)
                .endpoint_url(&dynamodb_endpoint)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&config)
                .endpoint_url(&sqs_endpoint)
                .build(),
        );
        // The table as the code defines it (the template mirrors it; see its comment).
        pixgw_store_dynamodb::create_table(&dynamodb, &stack.table)
            .await
            .unwrap_or_else(|e| {
                panic!("creating table {} at {dynamodb_endpoint}: {e}", stack.table)
            });
        let queue_urls = create_queues(&deployment, &sqs).await;

        let functions = deployment.functions();
        let secret = |logical_id: &str| secrets[&deployment.secret_arn(logical_id)].clone();
        let keys = AuthKeys::from_hex(&secret("JwtSecret"), &secret("DataKey"))
            .expect("the template's keys");
        let log = CallLog::default();
        let endpoints = Arc::new(MerchantEndpoints::default());
        let mut lambdas = BTreeMap::new();
        for function in functions {
            let mut environment = function.environment.clone();
            // What `sam local` would add to reach the emulators.
            environment.insert("DYNAMODB_ENDPOINT".into(), dynamodb_endpoint.clone());
            environment.insert("SQS_ENDPOINT".into(), sqs_endpoint.clone());
            let aws = AwsClients::load().await.with_interceptor(Recorder::new(
                &function.binary,
                &stack,
                &log,
            ));
            let handler = start(&function, &environment, &aws, &endpoints)
                .handler
                .unwrap_or_else(|e| panic!("{}: cold start failed: {e}", function.binary));
            lambdas.insert(function.binary.clone(), Lambda { function, handler });
        }
        let operator_store: DynStore = Arc::new(DynamoStore::new(dynamodb.clone(), &stack.table));
        World {
            deployment,
            log,
            keys,
            endpoints,
            lambdas,
            operator_store,
            sqs,
            dynamodb,
            streams,
            queue_urls,
            stream: Default::default(),
            failures: Mutex::default(),
            invoked: Mutex::default(),
        }
    }

    /// The functions invoked so far.
    pub fn invoked(&self) -> BTreeSet<String> {
        self.invoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn invoking(&self, binary: &str) -> &Lambda {
        self.invoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(binary.to_owned());
        self.lambda(binary)
    }

    pub fn lambda(&self, binary: &str) -> &Lambda {
        self.lambdas
            .get(binary)
            .unwrap_or_else(|| panic!("template.yaml creates no function {binary}"))
    }

    /// An application state on the table without a recorder, on `clock`: fixtures that need
    /// another time than now (a charge created days ago). Sandbox provider, in-process
    /// delivery, the same keys as the functions.
    pub fn operator_state(&self, clock: Arc<dyn Clock>) -> AppState {
        let provider = SandboxProvider::new(
            pixgw_functions::SANDBOX_LOCATION_HOST_WITHOUT_DOMAIN,
            clock.clone(),
            self.keys
                .sandbox_webhook_secret()
                .expect("the keys hold a data key"),
        )
        .expect("host");
        let sandbox = SandboxConfig {
            provider: provider.clone(),
            delivery: SandboxDelivery::InProcess,
        };
        AppState::new(
            self.operator_store.clone(),
            Arc::new(provider),
            clock,
            self.keys.clone(),
            Some(sandbox),
        )
        .with_webhook_resolver(Arc::new(PublicDns))
    }

    /// The queues without a recorder, as an operator (or a setup step) sends to them.
    pub fn operator_queues(&self) -> SqsQueues {
        SqsQueues::new(self.sqs.clone(), self.deployment.stack.name.clone())
    }

    /// Invokes HTTP function `binary` with an API Gateway HTTP API (v2) event.
    pub async fn http(
        &self,
        binary: &str,
        method: &str,
        path_and_query: &str,
        headers: Value,
        body: Option<&Value>,
    ) -> (u16, Value, http::HeaderMap) {
        let Handler::Http { state, route } = &self.invoking(binary).handler else {
            panic!("{binary} is not an HTTP function");
        };
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let body = body.map(Value::to_string);
        let event = crate::common::event(method, path, query, headers, body.as_deref());
        let response = pixgw_functions::handle(state, *route, event).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let json = if response.body().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null)
        };
        (status, json, headers)
    }

    /// Invokes queue consumer `binary` with one SQS batch of `bodies`, as its event source
    /// mapping would; answers the ids (`m0`, `m1`, …) of the messages it reported failed.
    pub async fn invoke_queue(&self, binary: &str, bodies: &[String]) -> Vec<String> {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| sqs_record(&format!("m{i}"), body, "1"))
            .collect();
        let event: SqsEvent =
            serde_json::from_value(json!({ "Records": records })).expect("an SQS event");
        self.invoke_sqs_event(binary, event)
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    async fn invoke_sqs_event(&self, binary: &str, event: SqsEvent) -> SqsBatchResponse {
        let Handler::Queue(consumer) = &self.invoking(binary).handler else {
            panic!("{binary} is not a queue consumer");
        };
        consumer.handle(event).await
    }

    /// One EventBridge Scheduler tick of `binary`.
    pub async fn tick(&self, binary: &str) -> Value {
        let event = json!({"source": "aws.scheduler"});
        match &self.invoking(binary).handler {
            Handler::Scheduler(scheduler) => {
                handle_tick(scheduler, event).await.expect("scheduler tick")
            }
            Handler::Sweeper(sweeper) => handle_tick(sweeper, event).await.expect("sweeper tick"),
            _ => panic!("{binary} is not a scheduled function"),
        }
    }

    /// Runs the event source mappings until nothing moves: the relay over new stream records,
    /// then every SQS consumer over its queue, again and again.
    pub async fn pump(&self) {
        self.pump_except(&[]).await;
    }

    /// [`World::pump`] with the consumers in `idle` not polling (their messages wait in their
    /// queues).
    pub async fn pump_except(&self, idle_consumers: &[&str]) {
        let mut idle = 0;
        while idle < 3 {
            let moved = self.relay_stream().await + self.poll_queues(idle_consumers).await;
            if moved == 0 {
                idle += 1;
                // DynamoDB Local's stream can trail a commit by a moment.
                tokio::time::sleep(Duration::from_millis(150)).await;
            } else {
                idle = 0;
            }
        }
    }

    /// The messages consumers failed since the last call (binary, body).
    pub fn take_failures(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.failures.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The relay's mapping: new stream records, filtered by its `FilterCriteria`, in batches of
    /// its `BatchSize`. Answers how many records reached the function.
    async fn relay_stream(&self) -> usize {
        let relay = self
            .lambdas
            .values()
            .find(|l| matches!(l.handler, Handler::Relay { .. }))
            .expect("the outbox relay");
        let Handler::Relay { queues } = &relay.handler else {
            unreachable!()
        };
        let (stream_arn, filters, batch_size) = stream_event(&relay.function);
        let records = self.new_stream_records(&stream_arn).await;
        let records: Vec<Value> = records
            .into_iter()
            .filter(|r| filters.iter().any(|f| pattern_matches(f, r)))
            .collect();
        for batch in records.chunks(batch_size) {
            self.invoking(&relay.function.binary);
            let event: StreamEvent = serde_json::from_value(json!({ "Records": batch }))
                .expect("a DynamoDB stream event");
            let response = handle_stream(queues, event).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "the outbox relay failed a batch: {:?}",
                response.batch_item_failures
            );
        }
        records.len()
    }

    /// Stream records not read before, in the JSON Lambda receives, with the template's
    /// stream ARN as their source.
    async fn new_stream_records(&self, template_stream_arn: &str) -> Vec<Value> {
        let table = &self.deployment.stack.table;
        let described = self
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe table");
        let arn = described
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        let stream = self
            .streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .expect("describe stream");
        let mut position = self.stream.lock().await;
        let mut records = Vec::new();
        for shard in stream.stream_description.expect("description").shards() {
            let shard_id = shard.shard_id().expect("shard id").to_owned();
            let opening = self
                .streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(&shard_id);
            let opening = match position.last_read.get(&shard_id) {
                Some(sequence) => opening
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence),
                None => opening.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = opening.send().await.expect("shard iterator").shard_iterator;
            while let Some(current) = iterator.take() {
                let out = self
                    .streams
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .expect("stream records");
                let batch = out.records.unwrap_or_default();
                if batch.is_empty() {
                    break;
                }
                iterator = out.next_shard_iterator;
                for record in &batch {
                    if let Some(sequence) = record.dynamodb().and_then(|c| c.sequence_number()) {
                        position
                            .last_read
                            .insert(shard_id.clone(), sequence.to_owned());
                    }
                    records.push(lambda_stream_record(record, template_stream_arn));
                }
            }
        }
        records
    }

    /// Every SQS mapping once: up to its `BatchSize` visible messages to its function.
    /// Succeeded messages are deleted; failed ones are made visible again at once (the real
    /// mapping waits for the visibility timeout), so the queue's redrive policy decides when
    /// they are dead letters. Answers how many messages were handed to functions.
    async fn poll_queues(&self, skip: &[&str]) -> usize {
        let mut moved = 0;
        for lambda in self.lambdas.values() {
            if skip.contains(&lambda.function.binary.as_str()) {
                continue;
            }
            for (_, event) in &lambda.function.events {
                if event["Type"] != "SQS" {
                    continue;
                }
                let properties = &event["Properties"];
                let arn = properties["Queue"].as_str().expect("Queue");
                let name = arn.rsplit(':').next().expect("queue name");
                let url = &self.queue_urls[name];
                let batch_size = properties["BatchSize"].as_i64().unwrap_or(10) as i32;
                let received = self
                    .sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(batch_size)
                    .message_system_attribute_names(
                        MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .expect("receive");
                let messages = received.messages.unwrap_or_default();
                if messages.is_empty() {
                    continue;
                }
                moved += messages.len();
                let records: Vec<Value> = messages
                    .iter()
                    .map(|m| {
                        let count = m
                            .attributes()
                            .and_then(|a| {
                                a.get(&MessageSystemAttributeName::ApproximateReceiveCount)
                            })
                            .cloned()
                            .unwrap_or_else(|| "1".into());
                        let mut record = sqs_record(
                            m.message_id().expect("message id"),
                            m.body().unwrap_or_default(),
                            &count,
                        );
                        record["eventSourceARN"] = json!(arn);
                        record
                    })
                    .collect();
                let event: SqsEvent =
                    serde_json::from_value(json!({ "Records": records })).expect("an SQS event");
                let response = self.invoke_sqs_event(&lambda.function.binary, event).await;
                let failed: BTreeSet<String> = response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect();
                for message in &messages {
                    let id = message.message_id().unwrap_or_default();
                    let receipt = message.receipt_handle().expect("receipt");
                    if failed.contains(id) {
                        self.failures
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((
                                lambda.function.binary.clone(),
                                message.body().unwrap_or_default().to_owned(),
                            ));
                        self.sqs
                            .change_message_visibility()
                            .queue_url(url)
                            .receipt_handle(receipt)
                            .visibility_timeout(0)
                            .send()
                            .await
                            .expect("change visibility");
                    } else {
                        self.sqs
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(receipt)
                            .send()
                            .await
                            .expect("delete");
                    }
                }
            }
        }
        moved
    }

    /// The bodies of the messages waiting in queue `name` (e.g. a dead-letter queue), removed.
    pub async fn drain_queue(&self, name: &str) -> Vec<String> {
        let url = &self.queue_urls[name];
        let mut bodies = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.push(message.body().unwrap_or_default().to_owned());
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle().expect("receipt"))
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// The physical name of queue resource `logical_id`.
    pub fn queue_name(&self, logical_id: &str) -> String {
        let (_, spec) = self
            .deployment
            .resources("AWS::SQS::Queue")
            .into_iter()
            .find(|(id, _)| id == logical_id)
            .unwrap_or_else(|| panic!("no queue {logical_id}"));
        self.deployment
            .property(&spec, "QueueName")
            .and_then(|n| n.as_str().map(str::to_owned))
            .expect("QueueName")
    }
}

/// A function's cold start, and which variables of its environment it read.
pub struct Started {
    pub handler: Result<Handler, BootstrapError>,
    pub read: BTreeSet<String>,
}

/// Starts `function` the way its binary's `main` does, on exactly `environment`, recording
/// every variable its cold start looks up (set or not).
pub fn start(
    function: &Function,
    environment: &BTreeMap<String, String>,
    aws: &AwsClients,
    endpoints: &Arc<MerchantEndpoints>,
) -> Started {
    let read = RefCell::new(BTreeSet::new());
    let env = |name: &str| {
        read.borrow_mut().insert(name.to_owned());
        environment.get(name).cloned()
    };
    let handler = build(function, &env, aws, endpoints);
    Started {
        handler,
        read: read.into_inner(),
    }
}

/// Builds what `binary`'s `main` builds, on `env` and `aws`.
fn build(
    function: &Function,
    env: Env<'_>,
    aws: &AwsClients,
    endpoints: &Arc<MerchantEndpoints>,
) -> Result<Handler, BootstrapError> {
    let binary = function.binary.as_str();
    let source_path = format!("{}/src/bin/{binary}.rs", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&source_path)
        .unwrap_or_else(|e| panic!("{}: no binary {source_path}: {e}", function.logical_id));
    // The binary's `main` must run what is built here.
    let runs = |entries: &[&str]| {
        for entry in entries {
            assert!(
                source.contains(entry),
                "{source_path} no longer runs {entry}: teach functions/tests/aws/world.rs what it runs"
            );
        }
    };
    if let Some(spec) = pixgw_api::routes::ROUTES
        .iter()
        .find(|spec| spec.function == binary)
    {
        runs(&[&format!("Route::{:?}", spec.route)]);
        let state = bootstrap::api_state(spec.route, env, aws)?;
        return Ok(Handler::Http {
            state: Box::new(state.with_webhook_resolver(Arc::new(PublicDns))),
            route: spec.route,
        });
    }
    Ok(match binary {
        "split-calculator" => {
            runs(&["serve_sqs", "pipeline::split_calculator"]);
            Handler::Queue(pipeline::split_calculator(env, aws)?)
        }
        "payout-executor" => {
            runs(&["serve_sqs", "pipeline::payout_executor"]);
            Handler::Queue(pipeline::payout_executor(env, aws)?)
        }
        "webhook-dispatcher" => {
            // The production dispatcher with the merchants' endpoints and DNS played here.
            runs(&["serve_sqs", "pipeline::webhook_dispatcher"]);
            Handler::Queue(webhook_dispatcher_with(
                env,
                aws,
                endpoints.clone(),
                Arc::new(PublicDns),
            )?)
        }
        "outbox-relay" => {
            runs(&["pipeline::serve_relay"]);
            Handler::Relay {
                queues: pipeline::relay_queues(env, aws)?,
            }
        }
        "payout-scheduler" => {
            runs(&["serve_ticks", "scheduler::payout_scheduler"]);
            Handler::Scheduler(scheduler::payout_scheduler(env, aws)?)
        }
        "expiry-sweeper" => {
            runs(&["serve_ticks", "expiry::sweeper"]);
            Handler::Sweeper(expiry::sweeper(env, aws)?)
        }
        other => panic!(
            "{}: binary {other} is not known to functions/tests/aws/world.rs",
            function.logical_id
        ),
    })
}

/// What Secrets Manager generates for the template's secrets (the JWT and data keys):
/// `PasswordLength` characters of lowercase hex, as their `GenerateSecretString` asks.
/// Answers secret ARN → value.
fn generated_secrets(deployment: &Deployment) -> BTreeMap<String, String> {
    deployment
        .resources("AWS::SecretsManager::Secret")
        .into_iter()
        .map(|(logical_id, spec)| {
            let length = deployment
                .property(&spec, "GenerateSecretString")
                .and_then(|g| g["PasswordLength"].as_u64())
                .expect("a generated secret's PasswordLength") as usize;
            let value: String =
                std::iter::repeat_with(|| uuid::Uuid::new_v4().simple().to_string())
                    .flat_map(|hex| hex.chars().collect::<Vec<_>>())
                    .take(length)
                    .collect();
            (deployment.secret_arn(&logical_id), value)
        })
        .collect()
}

/// Creates the template's queues in moto, dead-letter queues first, with their visibility
/// timeouts and redrive policies. Answers name → URL.
async fn create_queues(
    deployment: &Deployment,
    sqs: &aws_sdk_sqs::Client,
) -> BTreeMap<String, String> {
    let mut queues: Vec<(String, Value)> = deployment
        .resources("AWS::SQS::Queue")
        .into_iter()
        .map(|(id, spec)| {
            let properties = deployment
                .resolve(spec.get("Properties").expect("queue properties"))
                .expect("queue properties");
            (id, properties)
        })
        .collect();
    // Queues without a redrive policy (the dead-letter queues) first.
    queues.sort_by_key(|(_, p)| !p["RedrivePolicy"].is_null());
    let mut urls = BTreeMap::new();
    let mut moto_arns: BTreeMap<String, String> = BTreeMap::new();
    for (id, properties) in queues {
        let name = properties["QueueName"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: QueueName"))
            .to_owned();
        let mut create = sqs.create_queue().queue_name(&name);
        if let Some(timeout) = properties["VisibilityTimeout"].as_u64() {
            create = create.attributes(QueueAttributeName::VisibilityTimeout, timeout.to_string());
        }
        if let Some(redrive) = properties["RedrivePolicy"].as_object() {
            let target = redrive["deadLetterTargetArn"].as_str().expect("target");
            let target_name = target.rsplit(':').next().expect("name");
            let policy = json!({
                "deadLetterTargetArn": moto_arns[target_name],
                "maxReceiveCount": redrive["maxReceiveCount"],
            });
            create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = create
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating queue {name}: {e:?}"))
            .queue_url
            .expect("queue URL");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("queue ARN");
        moto_arns.insert(name.clone(), arn);
        urls.insert(name, url);
    }
    urls
}

/// The relay's stream event: the stream ARN, its filter patterns and its batch size.
fn stream_event(function: &Function) -> (String, Vec<Value>, usize) {
    let (_, event) = function
        .events
        .iter()
        .find(|(_, e)| e["Type"] == "DynamoDB")
        .expect("the relay's DynamoDB event");
    let properties = &event["Properties"];
    let filters = properties["FilterCriteria"]["Filters"]
        .as_array()
        .map(|filters| {
            filters
                .iter()
                .map(|f| {
                    serde_json::from_str(f["Pattern"].as_str().expect("Pattern"))
                        .expect("a JSON filter pattern")
                })
                .collect()
        })
        // No FilterCriteria: every record.
        .unwrap_or_else(|| vec![json!({})]);
    (
        properties["Stream"].as_str().expect("Stream").to_owned(),
        filters,
        properties["BatchSize"].as_u64().unwrap_or(100) as usize,
    )
}

/// Lambda event filtering for the patterns the template uses: an object matches if each of
/// its keys matches; a list of values matches a value equal to one of them.
fn pattern_matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, p)| value.get(k).is_some_and(|v| pattern_matches(p, v))),
        Value::Array(allowed) => allowed.contains(value),
        other => panic!("filter pattern {other} is not modelled"),
    }
}

fn lambda_stream_record(record: &aws_sdk_dynamodbstreams::types::Record, source: &str) -> Value {
    let change = record.dynamodb().expect("a stream record's change");
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_767_225_600,
        "SequenceNumber": change.sequence_number(),
        "SizeBytes": change.size_bytes().unwrap_or_default(),
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    for (field, image) in [
        ("Keys", change.keys()),
        ("NewImage", change.new_image()),
        ("OldImage", change.old_image()),
    ] {
        if let Some(image) = image {
            dynamodb[field] = json!(serde_dynamo::Item::from(image.clone()));
        }
    }
    json!({
        "eventID": record.event_id().unwrap_or("1"),
        "eventName": record.event_name().map(|e| e.as_str()).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": source
    })
}

fn sqs_record(id: &str, body: &str, receive_count: &str) -> Value {
    json!({
        "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
        "attributes": {"ApproximateReceiveCount": receive_count, "SentTimestamp": "1767225600000",
                       "SenderId": "AROA", "ApproximateFirstReceiveTimestamp": "1767225600001"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
        "awsRegion": "us-east-1"
    })
}
