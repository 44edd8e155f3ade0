//! Merchant webhooks end to end, over every store adapter: real events (recorded by the real
//! confirmation and payout writes), relayed from the store's outbox, dispatched by the
//! [`WebhookDispatcher`] the hosts run, POSTed by the real [`ReqwestSender`] to a real HTTP
//! receiver on 127.0.0.1, and every request that arrives verified with the Standard Webhooks
//! reference library (`standardwebhooks`), independently of our own signing code. Run by
//! `tests/webhook_delivery.rs`.
//!
//! Time is a [`ManualClock`]: the queues (in-process, [`LocalQueues`]) and the dispatcher run
//! on it, so a retry due in eight hours is made by moving the clock, never by sleeping. The
//! backoff's jitter is fixed ([`JITTER`]), so the schedule is exact. Only `webhook-timestamp`
//! is real time (the dispatcher's wall clock, as on AWS and in the local gateway): receivers
//! judge it against their own clock, so the library's full `verify`, freshness check included,
//! passes for every request even after the manual clock has moved days ahead.
//!
//! Deliveries are read by id (strongly consistent on both adapters; the delivery id is derived
//! from the event id), so the cases mean the same on DynamoDB as on the embedded store; the
//! delivery log (an index, eventually consistent on DynamoDB) is read once, patiently.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use http::Method;
use pixgw_api::ApiRequest;
use pixgw_api::accounts::NewAccountCredentials;
use pixgw_api::store::DynStore;
use pixgw_domain::messaging::consumer::HandlerError;
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::pix::clock::Clock;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::delivery::{ATTEMPT_LEASE, RETRY_WINDOW, backoff};
use pixgw_domain::webhooks::dispatcher::{Dispatched, WebhookDispatcher};
use pixgw_domain::webhooks::endpoint::ROTATION_OVERLAP;
use pixgw_domain::webhooks::url_policy::{HostResolver, UrlPolicy};
use pixgw_domain::webhooks::{
    Delivery, DeliveryStatus, EndpointStatus, WebhookMessage, WebhookRequest, WebhookResponse,
    WebhookSender,
};
use pixgw_queue_local::{LocalQueueConfig, LocalQueues};
use pixgw_store_dynamodb::outbox::DynamoStreamFeed;
use pixgw_webhook_http::ReqwestSender;
use serde_json::{Value, json};
use standardwebhooks::Webhook;
use tempfile::TempDir;
use tokio::sync::Notify;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::bodies::{immediate_split, no_splits};
use crate::contract::eventually;
use crate::harness::{
    Backend, Gateway, ManualClock, PipelineParts, TEST_MAX_RECEIVES, TEST_VISIBILITY,
    dynamodb_endpoint, fresh_dynamodb_store,
};

/// Calls `$callback!($($args)*; cases: [...])` with every case.
#[macro_export]
macro_rules! webhook_delivery_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            cases: [
                a_paid_charge_is_posted_once_signed_per_standard_webhooks,
                failed_attempts_are_retried_on_the_backoff_schedule,
                duplicate_and_stale_messages_make_no_extra_posts,
                a_crashed_attempt_is_made_again_once_its_lease_expires,
                a_rotated_secret_signs_beside_the_new_one_for_a_day,
                gone_disables_the_endpoint_until_it_is_registered_again,
                exhausted_retries_fail_the_delivery_and_dead_letter_it,
                private_addresses_are_refused_at_delivery_time,
                a_delivered_webhook_can_be_redelivered_by_hand,
            ],
        }
    };
}

/// The backoff's jitter in every case: waits are 0.9 × nominal (not the midpoint, so a
/// dispatcher that ignored the injected jitter would show).
pub const JITTER: f64 = 0.25;

/// The receiver's path.
const HOOK_PATH: &str = "/hooks/pix";

// =============================================================================================
// Subjects

/// The store adapter under test and where its committed outbox messages are read from.
pub struct Subject {
    pub backend: Backend,
    pub store: DynStore,
    pub feed: Arc<dyn OutboxFeed>,
    dir: Option<TempDir>,
}

impl Subject {
    /// A fresh embedded store (its own outbox is the feed) in a temporary directory.
    pub async fn fresh_embedded() -> Subject {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            pixgw_store_embedded::EmbeddedStore::open(dir.path()).expect("open embedded store"),
        );
        Subject {
            backend: Backend::Embedded,
            store: store.clone(),
            feed: store,
            dir: Some(dir),
        }
    }

    /// A fresh DynamoDB Local table, read through its stream (as the Lambda relay reads it).
    /// Panics when DynamoDB Local is not running.
    pub async fn fresh_dynamodb() -> Subject {
        let store = fresh_dynamodb_store().await;
        let feed =
            DynamoStreamFeed::connect(Some(dynamodb_endpoint()), store.table().to_owned()).await;
        Subject {
            backend: Backend::Dynamodb,
            store: Arc::new(store),
            feed: Arc::new(feed),
            dir: None,
        }
    }
}

// =============================================================================================
// The rig: a gateway, a merchant, a receiver

/// A [`WebhookSender`] that counts the requests it is asked to send (the URL policy refuses a
/// URL before the sender is ever called).
pub struct CountingSender {
    inner: ReqwestSender,
    sent: AtomicUsize,
}

impl CountingSender {
    fn new() -> CountingSender {
        CountingSender {
            inner: ReqwestSender::new().expect("webhook sender"),
            sent: AtomicUsize::new(0),
        }
    }

    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl WebhookSender for CountingSender {
    async fn send(&self, request: WebhookRequest) -> WebhookResponse {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send(request).await
    }
}

/// A resolver whose answer the test changes (DNS that changes after registration).
#[derive(Default)]
pub struct SwitchableResolver(Mutex<BTreeMap<String, Vec<IpAddr>>>);

impl SwitchableResolver {
    pub fn set(&self, host: &str, addresses: &[&str]) {
        let ips = addresses
            .iter()
            .map(|a| a.parse().expect("ip address"))
            .collect();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_owned(), ips);
    }
}

#[async_trait]
impl HostResolver for SwitchableResolver {
    async fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()
            .ok_or_else(|| format!("{host}: no such host"))
    }
}

/// One merchant of a gateway on a manual clock, with its webhook receiver.
pub struct Rig {
    pub gw: Gateway,
    pub receiver: MockServer,
    /// `http://127.0.0.1:{port}/hooks/pix` (allowed by the local URL policy).
    pub url: String,
    pub sender: Arc<CountingSender>,
    pub credentials: NewAccountCredentials,
    pub account: AccountId,
    pub token: String,
    /// Unix seconds (real time) when the rig started.
    pub wall_start: i64,
}

impl Rig {
    /// The gateway on `subject` and in-process queues, all on one manual clock starting now
    /// (on a whole second), with the local URL policy (http://127.0.0.1 receivers).
    pub async fn start(subject: Subject) -> Rig {
        let wall_start = Utc::now().timestamp();
        let start = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
        let clock = Arc::new(ManualClock::new(start));
        let queues = LocalQueues::with_default_config(
            clock.clone(),
            LocalQueueConfig {
                visibility_timeout: TEST_VISIBILITY,
                max_receives: TEST_MAX_RECEIVES,
            },
        );
        let parts = PipelineParts {
            store: subject.store,
            feed: subject.feed,
            queues: Arc::new(queues),
            dir: subject.dir,
        };
        let mut gw = Gateway::start_with(subject.backend, clock, parts);
        gw.state = gw.state.clone().with_webhook_policy(UrlPolicy::LOCAL);
        let receiver = MockServer::start().await;
        let url = format!("{}{HOOK_PATH}", receiver.uri());
        let (credentials, token) = gw.merchant("Loja Webhooks").await;
        let account = AccountId::parse(&credentials.account_id).expect("account id");
        Rig {
            gw,
            receiver,
            url,
            sender: Arc::new(CountingSender::new()),
            credentials,
            account,
            token,
            wall_start,
        }
    }

    /// The receiver answers `status` to every POST not taken by an earlier [`Rig::answer_first`].
    pub async fn answer(&self, status: u16) {
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(status))
            .with_priority(10)
            .mount(&self.receiver)
            .await;
    }

    /// The receiver answers `status` to the next `times` POSTs.
    pub async fn answer_first(&self, times: u64, status: u16) {
        Mock::given(method("POST"))
            .and(path(HOOK_PATH))
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.receiver)
            .await;
    }

    /// Every request the receiver got, in order.
    pub async fn posts(&self) -> Vec<Request> {
        self.receiver
            .received_requests()
            .await
            .expect("the receiver records requests")
    }

    /// The requests that carried `event_id`.
    pub async fn posts_of(&self, event_id: &str) -> Vec<Request> {
        self.posts()
            .await
            .into_iter()
            .filter(|r| header(r, "webhook-id") == event_id)
            .collect()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.gw.clock.now()
    }

    pub fn advance_to(&self, at: DateTime<Utc>) {
        let now = self.now();
        if at > now {
            self.gw.clock.advance(at - now);
        }
    }

    /// A new bearer token (tokens expire after an hour of clock time).
    pub async fn refresh_token(&mut self) {
        self.token = self.gw.token_for(&self.credentials).await;
    }

    /// `PUT /api/account/webhook`; the response body.
    pub async fn put_endpoint(&self, url: &str, events: Option<&[&str]>) -> (u16, Value) {
        let body = match events {
            Some(events) => json!({"url": url, "events": events}),
            None => json!({"url": url}),
        };
        let response = self
            .gw
            .call(
                ApiRequest::new(Method::PUT, "/api/account/webhook")
                    .with_json(&body)
                    .with_header("authorization", &format!("Bearer {}", self.token)),
            )
            .await;
        (response.status.as_u16(), response.body_json())
    }

    /// Registers the receiver for `events` (all when `None`); the `whsec_` secret shown once.
    pub async fn register(&self, events: Option<&[&str]>) -> String {
        let (status, body) = self.put_endpoint(&self.url.clone(), events).await;
        assert_eq!(status, 201, "register: {body}");
        assert_eq!(body["status"], "ENABLED");
        let secret = body["secret"].as_str().expect("secret").to_owned();
        assert!(secret.starts_with("whsec_"), "{secret}");
        secret
    }

    /// Creates a charge with `body` and pays it through the sandbox (the payer's bank): the
    /// confirmation records CASHIN_CONFIRMED in its own write. Its transaction id.
    pub async fn paid_charge(&self, body: Value) -> String {
        let created = self
            .gw
            .post("/api/pix/cash-in", &self.token, &body, None)
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body_json());
        let id = created.body_json()["transactionId"]
            .as_str()
            .expect("transactionId")
            .to_owned();
        let paid = self
            .gw
            .post(
                &format!("/api/sandbox/cash-in/{id}/pay"),
                &self.token,
                &json!({}),
                None,
            )
            .await;
        assert_eq!(paid.status, 200, "{:?}", paid.body_json());
        id
    }

    /// A paid charge without splits (one event: CASHIN_CONFIRMED), with a unique external id.
    pub async fn paid_simple_charge(&self) -> String {
        let external = format!("WH-{}", uuid::Uuid::new_v4().simple());
        self.paid_charge(no_splits(&external)).await
    }

    /// The id of the CASHIN_CONFIRMED event of a charge (derived, like the store derives it).
    pub fn confirmed_event_id(&self, transaction_id: &str) -> String {
        AccountEvent::new(
            &self.account,
            EventType::CashinConfirmed,
            transaction_id,
            self.now(),
            Value::Null,
        )
        .id
    }

    pub async fn delivery(&self, event_id: &str) -> Delivery {
        self.gw
            .state
            .store
            .get_delivery(&self.account, &Delivery::id_for(event_id))
            .await
            .expect("read delivery")
            .unwrap_or_else(|| panic!("no delivery for event {event_id}"))
    }

    /// The dispatcher as the hosts build it (on the state's store, keys, resolver, clock and
    /// URL policy, and these queues), sending with `sender`, on the fixed jitter.
    pub fn dispatcher_with(&self, sender: Arc<dyn WebhookSender>) -> WebhookDispatcher {
        self.gw
            .state
            .webhook_dispatcher(self.gw.queues.clone(), sender)
            .with_jitter(Arc::new(|| JITTER))
    }

    pub fn dispatcher(&self) -> WebhookDispatcher {
        self.dispatcher_with(self.sender.clone())
    }

    /// The webhook messages visible now (received: invisible until acked or retried).
    pub async fn webhook_messages(&self) -> Vec<pixgw_domain::messaging::queue::ReceivedMessage> {
        let mut all = Vec::new();
        loop {
            let batch = self
                .gw
                .queues
                .receive(QueueName::WebhookDeliveries, 10, StdDuration::ZERO)
                .await
                .expect("receive");
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }

    /// Relays the outbox and dispatches every visible webhook message, acking each, until
    /// none is left (a retry not yet due is sent on with its remaining delay, invisible until
    /// the clock reaches it). What each message came to; a failed message panics.
    pub async fn pump(&self) -> Vec<Dispatched> {
        let dispatcher = self.dispatcher();
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            self.gw.relay().await;
            let messages = self.webhook_messages().await;
            if messages.is_empty() {
                return outcomes;
            }
            for message in messages {
                let outcome = dispatcher
                    .dispatch(&message.body)
                    .await
                    .unwrap_or_else(|e| panic!("webhook message {}: {e}", message.body));
                self.gw
                    .queues
                    .ack(QueueName::WebhookDeliveries, &message.receipt)
                    .await
                    .expect("ack");
                outcomes.push(outcome);
            }
        }
        panic!("webhook messages kept coming after 20 rounds");
    }

    /// Moves the clock to the delivery's next attempt and pumps. The attempt's outcome.
    pub async fn next_attempt(&self, event_id: &str) -> Dispatched {
        let delivery = self.delivery(event_id).await;
        assert_eq!(delivery.status, DeliveryStatus::Pending, "{delivery:?}");
        let due = delivery
            .next_attempt_at
            .expect("a PENDING delivery has a next attempt");
        self.advance_to(due);
        let outcomes = self.pump().await;
        let attempted: Vec<&Dispatched> = outcomes
            .iter()
            .filter(|o| matches!(o, Dispatched::Attempted { .. }))
            .collect();
        assert_eq!(attempted.len(), 1, "one attempt when due: {outcomes:?}");
        attempted[0].clone()
    }
}

// =============================================================================================
// Checks

pub fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("request without {name}"))
        .to_str()
        .expect("ASCII header")
}

/// Whether `request` verifies with `secret`, judged by the Standard Webhooks reference
/// library (signature, and a timestamp within 5 minutes of the wall clock).
pub fn verifies(secret: &str, request: &Request) -> bool {
    Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(&request.body, &request.headers)
        .is_ok()
}

/// `webhook-timestamp` is the wall-clock time of the attempt: between the rig's start and now
/// (real time, whatever the manual clock says).
fn assert_stamped_in_real_time(rig: &Rig, request: &Request) {
    let timestamp: i64 = header(request, "webhook-timestamp")
        .parse()
        .expect("numeric webhook-timestamp");
    let now = Utc::now().timestamp();
    assert!(
        (rig.wall_start..=now).contains(&timestamp),
        "webhook-timestamp {timestamp} outside [{}, {now}]",
        rig.wall_start
    );
}

fn assert_verifies(secret: &str, request: &Request) {
    assert!(
        verifies(secret, request),
        "signature {:?} of {} does not verify",
        header(request, "webhook-signature"),
        header(request, "webhook-id")
    );
}

fn body_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("JSON body")
}

/// The shape every POST has: `{id, type, createdAt, data}`, JSON, `webhook-id` = `id`, and the
/// timestamp of the attempt.
fn assert_well_formed(request: &Request, event_type: &str) -> Value {
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(header(request, "content-type"), "application/json");
    let body = body_of(request);
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["createdAt", "data", "id", "type"], "{body}");
    assert_eq!(body["type"], event_type);
    assert_eq!(body["id"], header(request, "webhook-id"));
    assert!(
        body["id"].as_str().is_some_and(|id| id.starts_with("evt_")),
        "{body}"
    );
    assert!(
        DateTime::parse_from_rfc3339(body["createdAt"].as_str().expect("createdAt")).is_ok(),
        "{body}"
    );
    body
}

fn attempted(status: DeliveryStatus, code: u16) -> Dispatched {
    Dispatched::Attempted {
        status,
        code: Some(code),
    }
}

// =============================================================================================
// Cases

/// (a) The real CASHIN_CONFIRMED (recorded by the confirmation) reaches the receiver exactly
/// once, `{id, type, createdAt, data}` with the charge as the API shows it, signed so the
/// reference library verifies it with the secret shown at registration; an immediate split's
/// PAYOUT_PAID and SPLIT_PAID follow.
pub async fn a_paid_charge_is_posted_once_signed_per_standard_webhooks(subject: Subject) {
    let rig = Rig::start(subject).await;
    rig.answer(200).await;
    let secret = rig.register(None).await;

    let transaction_id = rig.paid_simple_charge().await;
    let outcomes = rig.pump().await;
    assert_eq!(
        outcomes,
        [attempted(DeliveryStatus::Delivered, 200)],
        "one event, one attempt"
    );
    let posts = rig.posts().await;
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    let body = assert_well_formed(post, "CASHIN_CONFIRMED");
    assert_eq!(body["data"]["transactionId"], transaction_id.as_str());
    assert_eq!(body["data"]["status"], "CONFIRMED");
    let event_id = rig.confirmed_event_id(&transaction_id);
    assert_eq!(header(post, "webhook-id"), event_id);
    assert_stamped_in_real_time(&rig, post);
    assert_verifies(&secret, post);
    assert!(
        !verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", post),
        "another secret must not verify"
    );
    let delivery = rig.delivery(&event_id).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(delivery.attempt_count, 1);
    assert_eq!(delivery.attempts[0].status_code, Some(200));
    assert_eq!(delivery.attempts[0].error, None);
    // Nothing more comes: the delivery is done.
    assert_eq!(rig.pump().await, []);
    assert_eq!(rig.posts().await.len(), 1);

    // An immediate split: the payout executor pays it and records PAYOUT_PAID and SPLIT_PAID.
    let external = format!("WH-IMM-{}", uuid::Uuid::new_v4().simple());
    let marketplace_charge = rig.paid_charge(immediate_split(&external)).await;
    rig.gw.run_pipeline().await;
    rig.pump().await;
    let posts = rig.posts().await;
    let mut by_type: BTreeMap<String, Vec<&Request>> = BTreeMap::new();
    for post in &posts[1..] {
        by_type
            .entry(body_of(post)["type"].as_str().expect("type").to_owned())
            .or_default()
            .push(post);
    }
    let kinds: Vec<(&str, usize)> = by_type.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    assert_eq!(
        kinds,
        [
            ("CASHIN_CONFIRMED", 1),
            ("PAYOUT_PAID", 1),
            ("SPLIT_PAID", 1)
        ],
        "one POST per event"
    );
    for (event_type, posts) in &by_type {
        let post = posts[0];
        let body = assert_well_formed(post, event_type);
        assert_verifies(&secret, post);
        match event_type.as_str() {
            "CASHIN_CONFIRMED" => {
                assert_eq!(body["data"]["transactionId"], marketplace_charge.as_str())
            }
            "SPLIT_PAID" => {
                assert_eq!(body["data"]["transactionId"], marketplace_charge.as_str());
                assert_eq!(body["data"]["status"], "PAID");
                assert_eq!(body["data"]["amount"], "280.00");
            }
            "PAYOUT_PAID" => assert_eq!(body["data"]["status"], "PAID", "{body}"),
            _ => unreachable!(),
        }
        let delivery = rig.delivery(header(post, "webhook-id")).await;
        assert_eq!(delivery.status, DeliveryStatus::Delivered, "{event_type}");
    }
}

/// (b) 500, 500, 500, then 200: one delivery, DELIVERED after four attempts with those codes,
/// the same `webhook-id` on all four, and the attempts spaced exactly by the backoff.
pub async fn failed_attempts_are_retried_on_the_backoff_schedule(subject: Subject) {
    let rig = Rig::start(subject).await;
    rig.answer_first(3, 500).await;
    rig.answer(200).await;
    let secret = rig.register(Some(&["CASHIN_CONFIRMED"])).await;
    let transaction_id = rig.paid_simple_charge().await;
    let event_id = rig.confirmed_event_id(&transaction_id);

    let first = rig.pump().await;
    assert!(
        first.contains(&attempted(DeliveryStatus::Pending, 500)),
        "{first:?}"
    );
    for _ in 0..2 {
        assert_eq!(
            rig.next_attempt(&event_id).await,
            attempted(DeliveryStatus::Pending, 500)
        );
    }
    assert_eq!(
        rig.next_attempt(&event_id).await,
        attempted(DeliveryStatus::Delivered, 200)
    );
    assert_eq!(rig.pump().await, [], "nothing left after the success");

    let delivery = rig.delivery(&event_id).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(delivery.attempt_count, 4);
    assert_eq!(delivery.next_attempt_at, None);
    let codes: Vec<Option<u16>> = delivery.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(500), Some(200)]);
    let numbers: Vec<u32> = delivery.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    for (n, pair) in delivery.attempts.windows(2).enumerate() {
        let failed = u32::try_from(n + 1).expect("small");
        assert_eq!(
            pair[1].at - pair[0].at,
            backoff(failed, JITTER),
            "wait after attempt {failed}"
        );
    }
    // 4.5 s, 27 s, 108 s with this jitter (0.9 × 5 s, 30 s, 120 s).
    assert_eq!(
        delivery.attempts[3].at - delivery.attempts[0].at,
        Duration::milliseconds(139_500)
    );
    for attempt in &delivery.attempts[..3] {
        assert_eq!(attempt.error.as_deref(), Some("HTTP 500"));
    }

    let posts = rig.posts().await;
    assert_eq!(posts.len(), 4, "one POST per attempt");
    for post in &posts {
        assert_eq!(header(post, "webhook-id"), event_id);
        assert_stamped_in_real_time(&rig, post);
        assert_well_formed(post, "CASHIN_CONFIRMED");
        assert_verifies(&secret, post);
    }
    assert!(
        posts.windows(2).all(|p| p[0].body == p[1].body),
        "every attempt carries the same payload"
    );

    // The delivery log holds that one delivery (read through the index: it may lag a moment
    // on DynamoDB).
    let log = eventually(
        || async {
            rig.gw
                .get("/api/webhooks/deliveries", &rig.token)
                .await
                .body_json()
        },
        |page| page["items"][0]["status"] == "DELIVERED",
    )
    .await;
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{log}");
    assert_eq!(items[0]["id"], delivery.id.as_str());
    assert_eq!(items[0]["eventId"], event_id.as_str());
    assert_eq!(items[0]["attemptCount"], 4);
    let logged: Vec<&Value> = items[0]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(logged, [&json!(500), &json!(500), &json!(500), &json!(200)]);
}

/// (c) The same event message handled twice, one after the other and then four times at
/// once, opens one delivery and makes one POST per attempt; an attempt message for an
/// attempt already made is stale and sends nothing.
pub async fn duplicate_and_stale_messages_make_no_extra_posts(subject: Subject) {
    let rig = Rig::start(subject).await;
    rig.answer_first(1, 500).await;
    rig.answer(200).await;
    let secret = rig.register(None).await;
    let dispatcher = rig.dispatcher();

    let first_charge = rig.paid_simple_charge().await;
    let first_event = rig.confirmed_event_id(&first_charge);
    rig.gw.relay().await;
    let messages = rig.webhook_messages().await;
    let event_message = messages
        .iter()
        .find(|m| m.body.contains(&first_event))
        .expect("the event's message")
        .body
        .clone();

    assert_eq!(
        dispatcher.dispatch(&event_message).await,
        Ok(attempted(DeliveryStatus::Pending, 500))
    );
    assert_eq!(
        dispatcher.dispatch(&event_message).await,
        Ok(Dispatched::Stale),
        "a duplicate of the event message"
    );
    let stale_attempt = WebhookMessage::Attempt {
        delivery_id: Delivery::id_for(&first_event),
        account_id: rig.account.clone(),
        round: 0,
        attempt: 1,
        not_before_ms: rig.now().timestamp_millis(),
    }
    .to_body();
    assert_eq!(
        dispatcher.dispatch(&stale_attempt).await,
        Ok(Dispatched::Stale),
        "attempt 1 was made already"
    );
    assert_eq!(rig.posts_of(&first_event).await.len(), 1);
    for message in messages {
        rig.gw
            .queues
            .ack(QueueName::WebhookDeliveries, &message.receipt)
            .await
            .expect("ack");
    }

    // Attempt 2 through the queue; its message delivered again afterwards is stale.
    rig.pump().await;
    assert_eq!(
        rig.next_attempt(&first_event).await,
        attempted(DeliveryStatus::Delivered, 200)
    );
    let second_attempt = WebhookMessage::Attempt {
        delivery_id: Delivery::id_for(&first_event),
        account_id: rig.account.clone(),
        round: 0,
        attempt: 2,
        not_before_ms: rig.now().timestamp_millis(),
    }
    .to_body();
    assert_eq!(
        dispatcher.dispatch(&second_attempt).await,
        Ok(Dispatched::Stale)
    );
    assert_eq!(
        dispatcher.dispatch(&event_message).await,
        Ok(Dispatched::Stale)
    );
    let first_posts = rig.posts_of(&first_event).await;
    assert_eq!(first_posts.len(), 2, "two attempts, two POSTs");
    let delivery = rig.delivery(&first_event).await;
    assert_eq!(delivery.attempt_count, 2);
    assert_eq!(delivery.status, DeliveryStatus::Delivered);

    // Four copies of a new event's message at once: one attempt between them.
    let second_charge = rig.paid_simple_charge().await;
    let second_event = rig.confirmed_event_id(&second_charge);
    rig.gw.relay().await;
    let messages = rig.webhook_messages().await;
    let body = messages
        .iter()
        .find(|m| m.body.contains(&second_event))
        .expect("the event's message")
        .body
        .clone();
    let racing: Vec<_> = (0..4)
        .map(|_| {
            let dispatcher = dispatcher.clone();
            let body = body.clone();
            tokio::spawn(async move { dispatcher.dispatch(&body).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in racing {
        outcomes.push(task.await.expect("dispatch task"));
    }
    let made = outcomes
        .iter()
        .filter(|o| **o == Ok(attempted(DeliveryStatus::Delivered, 200)))
        .count();
    assert_eq!(made, 1, "{outcomes:?}");
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                Ok(Dispatched::Attempted { .. })
                    | Ok(Dispatched::Stale)
                    | Err(HandlerError::Transient(_))
            ),
            "{outcome:?}"
        );
        // A copy that lost the race is redelivered by the queue: by then it is stale.
        if outcome.is_err() {
            assert_eq!(dispatcher.dispatch(&body).await, Ok(Dispatched::Stale));
        }
    }
    for message in messages {
        rig.gw
            .queues
            .ack(QueueName::WebhookDeliveries, &message.receipt)
            .await
            .expect("ack");
    }
    let second_posts = rig.posts_of(&second_event).await;
    assert_eq!(second_posts.len(), 1, "one POST for one attempt");
    let delivery = rig.delivery(&second_event).await;
    assert_eq!(delivery.attempt_count, 1);
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(
        delivery.version, 2,
        "created (0), claimed (1), recorded (2): nothing else"
    );
    for post in first_posts.iter().chain(&second_posts) {
        assert_well_formed(post, "CASHIN_CONFIRMED");
        assert_verifies(&secret, post);
    }
    assert_eq!(rig.posts().await.len(), 3);
}

/// A sender that POSTs for real and then never returns: the dispatcher "dies" after the
/// request reached the merchant and before it recorded the attempt.
struct DiesAfterPosting {
    inner: ReqwestSender,
    posted: Arc<Notify>,
}

#[async_trait]
impl WebhookSender for DiesAfterPosting {
    async fn send(&self, request: WebhookRequest) -> WebhookResponse {
        let _ = self.inner.send(request).await;
        self.posted.notify_one();
        std::future::pending().await
    }
}

/// (d) A dispatcher dies between the POST and its record: the attempt's claim holds the
/// message off (a transient failure, no POST) until its lease expires; then the same attempt
/// is made again, once, with the same `webhook-id` (at least once, never lost).
pub async fn a_crashed_attempt_is_made_again_once_its_lease_expires(subject: Subject) {
    let rig = Rig::start(subject).await;
    rig.answer(200).await;
    let secret = rig.register(None).await;
    let transaction_id = rig.paid_simple_charge().await;
    let event_id = rig.confirmed_event_id(&transaction_id);
    rig.gw.relay().await;
    let messages = rig.webhook_messages().await;
    assert_eq!(messages.len(), 1, "the event's message");
    let message = messages[0].body.clone();

    let posted = Arc::new(Notify::new());
    let doomed = rig.dispatcher_with(Arc::new(DiesAfterPosting {
        inner: ReqwestSender::new().expect("sender"),
        posted: posted.clone(),
    }));
    let crashing = {
        let message = message.clone();
        tokio::spawn(async move { doomed.dispatch(&message).await })
    };
    posted.notified().await;
    crashing.abort();
    assert!(crashing.await.expect_err("killed").is_cancelled());
    assert_eq!(rig.posts().await.len(), 1, "the merchant got the POST");
    let claimed = rig.delivery(&event_id).await;
    assert_eq!(claimed.status, DeliveryStatus::Pending);
    assert_eq!(claimed.attempt_count, 0, "the attempt was never recorded");
    let claim = claimed
        .in_flight
        .clone()
        .expect("the dead dispatcher's claim");
    assert_eq!(claim.attempt, 1);
    assert_eq!(claim.lease_until, rig.now() + ATTEMPT_LEASE);

    // The queue delivers the message again while the claim holds: refused, nothing sent.
    let dispatcher = rig.dispatcher();
    rig.gw.clock.advance(ATTEMPT_LEASE - Duration::seconds(1));
    let early = dispatcher.dispatch(&message).await;
    assert!(
        matches!(early, Err(HandlerError::Transient(_))),
        "{early:?}"
    );
    assert_eq!(rig.posts().await.len(), 1);
    assert_eq!(rig.sender.sent(), 0);

    // Once the lease has passed, the redelivered message makes the attempt, once.
    rig.gw.clock.advance(Duration::seconds(1));
    assert_eq!(
        dispatcher.dispatch(&message).await,
        Ok(attempted(DeliveryStatus::Delivered, 200))
    );
    assert_eq!(dispatcher.dispatch(&message).await, Ok(Dispatched::Stale));
    let posts = rig.posts().await;
    assert_eq!(posts.len(), 2, "the crashed attempt, then its retry");
    for post in &posts {
        assert_eq!(header(post, "webhook-id"), event_id);
        assert_well_formed(post, "CASHIN_CONFIRMED");
        assert_verifies(&secret, post);
    }
    let delivery = rig.delivery(&event_id).await;
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
    assert_eq!(delivery.attempt_count, 1);
    assert_eq!(delivery.in_flight, None);
    assert_eq!(delivery.attempts[0].at, claim.lease_until);
    // The copy received before the "crash" comes back once its visibility runs out: stale.
    drop(messages);
    let rest = rig.pump().await;
    assert!(rest.iter().all(|o| *o == Dispatched::Stale), "{rest:?}");
    assert_eq!(rig.posts().await.len(), 2);
}

/// (e) After a rotation the next delivery carries two signatures and verifies with the old
/// secret and with the new one; a day later only the new one signs.
pub async fn a_rotated_secret_signs_beside_the_new_one_for_a_day(subject: Subject) {
    let mut rig = Rig::start(subject).await;
    rig.answer(200).await;
    let old = rig.register(None).await;

    rig.paid_simple_charge().await;
    rig.pump().await;
    let before = rig.posts().await;
    assert_eq!(before.len(), 1);
    assert_eq!(
        header(&before[0], "webhook-signature").split(' ').count(),
        1
    );
    assert_verifies(&old, &before[0]);

    let rotated = rig
        .gw
        .post(
            "/api/account/webhook/rotate-secret",
            &rig.token,
            &json!({}),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body_json());
    let new = rotated.body_json()["secret"]
        .as_str()
        .expect("the new secret")
        .to_owned();
    assert_ne!(new, old);

    rig.paid_simple_charge().await;
    rig.pump().await;
    let during = rig.posts().await;
    assert_eq!(during.len(), 2);
    let post = &during[1];
    assert_eq!(
        header(post, "webhook-signature").split(' ').count(),
        2,
        "signed with both secrets"
    );
    assert_verifies(&old, post);
    assert_verifies(&new, post);

    // A day on, the old secret has stopped signing.
    rig.gw.clock.advance(ROTATION_OVERLAP);
    rig.refresh_token().await;
    rig.paid_simple_charge().await;
    rig.pump().await;
    let after = rig.posts().await;
    assert_eq!(after.len(), 3);
    let post = &after[2];
    assert_eq!(header(post, "webhook-signature").split(' ').count(), 1);
    assert_verifies(&new, post);
    assert!(!verifies(&old, post), "the old secret no longer signs");
    assert_stamped_in_real_time(&rig, post);
}

/// (f) 410 Gone: the delivery FAILS and the endpoint is DISABLED; later events are logged as
/// FAILED without a POST. Registering the endpoint again enables it, and a manual redelivery
/// of such an event delivers it.
pub async fn gone_disables_the_endpoint_until_it_is_registered_again(subject: Subject) {
    let rig = Rig::start(subject).await;
    rig.answer_first(1, 410).await;
    rig.answer(200).await;
    let secret = rig.register(None).await;

    let first = rig.confirmed_event_id(&rig.paid_simple_charge().await);
    assert_eq!(rig.pump().await, [attempted(DeliveryStatus::Failed, 410)]);
    let gone = rig.delivery(&first).await;
    assert_eq!(gone.status, DeliveryStatus::Failed);
    assert_eq!(gone.attempt_count, 1, "410 is not retried");
    assert_eq!(gone.next_attempt_at, None);
    let endpoint = rig
        .gw
        .state
        .store
        .get_webhook_endpoint(&rig.account)
        .await
        .expect("read endpoint")
        .expect("endpoint");
    assert!(
        matches!(endpoint.status, EndpointStatus::Disabled { .. }),
        "{:?}",
        endpoint.status
    );
    let shown = rig.gw.get("/api/account/webhook", &rig.token).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body_json()["status"], "DISABLED");

    let second = rig.confirmed_event_id(&rig.paid_simple_charge().await);
    assert_eq!(rig.pump().await, [Dispatched::EndpointUnavailable]);
    let skipped = rig.delivery(&second).await;
    assert_eq!(skipped.status, DeliveryStatus::Failed);
    assert_eq!(skipped.attempt_count, 0);
    assert_eq!(
        rig.posts().await.len(),
        1,
        "nothing is sent to a disabled endpoint"
    );
    assert_eq!(rig.sender.sent(), 1);

    // Registered again (same URL): enabled, secrets kept (none shown).
    let (status, body) = rig.put_endpoint(&rig.url.clone(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ENABLED");
    assert!(body.get("secret").is_none_or(Value::is_null), "{body}");

    let redeliver = rig
        .gw
        .post(
            &format!("/api/webhooks/deliveries/{}/redeliver", skipped.id),
            &rig.token,
            &json!({}),
            None,
        )
        .await;
    assert_eq!(redeliver.status, 202, "{:?}", redeliver.body_json());
    assert_eq!(
        rig.pump().await,
        [attempted(DeliveryStatus::Delivered, 200)]
    );
    let delivered = rig.delivery(&second).await;
    assert_eq!(delivered.status, DeliveryStatus::Delivered);
    assert_eq!(delivered.round, 1);
    assert_eq!(delivered.attempt_count, 1);
    let posts = rig.posts().await;
    assert_eq!(posts.len(), 2);
    assert_eq!(header(&posts[1], "webhook-id"), second);
    assert_well_formed(&posts[1], "CASHIN_CONFIRMED");
    assert_verifies(&secret, &posts[1]);
    // The first delivery stays FAILED until someone redelivers it.
    assert_eq!(rig.delivery(&first).await.status, DeliveryStatus::Failed);
}

/// (g) A receiver that always answers 503: retried on the backoff schedule for at least a
/// day, then FAILED and parked in the webhook-deliveries dead-letter queue.
pub async fn exhausted_retries_fail_the_delivery_and_dead_letter_it(subject: Subject) {
    let rig = Rig::start(subject).await;
    rig.answer(503).await;
    let secret = rig.register(None).await;
    let event_id = rig.confirmed_event_id(&rig.paid_simple_charge().await);
    let started = rig.now();

    // The schedule, from the backoff alone: attempt n+1 follows attempt n by backoff(n); a
    // failure at or after the 24-hour mark is the last.
    let mut expected_times = vec![started];
    while *expected_times.last().expect("one") < started + RETRY_WINDOW {
        let n = u32::try_from(expected_times.len()).expect("small");
        let next = *expected_times.last().expect("one") + backoff(n, JITTER);
        expected_times.push(next);
    }

    assert!(
        rig.pump()
            .await
            .contains(&attempted(DeliveryStatus::Pending, 503))
    );
    let mut retries = 0;
    loop {
        let delivery = rig.delivery(&event_id).await;
        if delivery.status != DeliveryStatus::Pending {
            break;
        }
        retries += 1;
        assert!(retries < 40, "the schedule must end");
        let outcome = rig.next_attempt(&event_id).await;
        assert!(
            matches!(
                outcome,
                Dispatched::Attempted {
                    code: Some(503),
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    let failed = rig.delivery(&event_id).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.next_attempt_at, None);
    let times: Vec<DateTime<Utc>> = failed.attempts.iter().map(|a| a.at).collect();
    assert_eq!(times, expected_times, "the backoff schedule");
    assert_eq!(failed.attempt_count as usize, expected_times.len());
    assert!(failed.attempt_count >= 10, "{}", failed.attempt_count);
    let last = failed.attempts.last().expect("attempts");
    assert!(last.at >= started + RETRY_WINDOW, "{}", last.at - started);
    assert!(failed.attempts.iter().all(|a| a.status_code == Some(503)));

    let posts = rig.posts().await;
    assert_eq!(posts.len(), expected_times.len(), "one POST per attempt");
    for post in &posts {
        assert_eq!(header(post, "webhook-id"), event_id);
        assert_stamped_in_real_time(&rig, post);
        assert_verifies(&secret, post);
    }

    let dead = rig
        .gw
        .queues
        .dead_letters(QueueName::WebhookDeliveries, 10)
        .await
        .expect("dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    match WebhookMessage::parse(&dead[0].body).expect("a webhook message") {
        WebhookMessage::Attempt {
            delivery_id,
            account_id,
            attempt,
            ..
        } => {
            assert_eq!(delivery_id, failed.id);
            assert_eq!(account_id, rig.account);
            assert_eq!(attempt, failed.attempt_count);
        }
        other => panic!("unexpected dead letter {other:?}"),
    }
    assert_eq!(rig.pump().await, [], "nothing left to retry");
}

/// (h) Production URL policy: an endpoint registered while its host resolved to a public
/// address, whose DNS then points at a private, metadata, or loopback address, is never
/// connected to: each attempt is recorded as "not sent" and the sender is never called.
pub async fn private_addresses_are_refused_at_delivery_time(subject: Subject) {
    let mut rig = Rig::start(subject).await;
    let dns = Arc::new(SwitchableResolver::default());
    rig.gw.state = rig
        .gw
        .state
        .clone()
        .with_webhook_policy(UrlPolicy::PRODUCTION)
        .with_webhook_resolver(dns.clone());
    // A listener on loopback, to show no connection is made even to a live local socket.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    let accepting = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            accepted.fetch_add(1, Ordering::SeqCst);
        }
    });

    let host = "hooks.merchant.example";
    let url = format!("https://{host}:{port}/pix");
    dns.set(host, &["127.0.0.1"]);
    let (status, body) = rig.put_endpoint(&url, None).await;
    assert_eq!(
        status, 400,
        "a loopback host is refused at registration: {body}"
    );
    assert_eq!(body["code"], "INVALID_WEBHOOK_URL");
    dns.set(host, &["93.184.216.34"]);
    let (status, body) = rig.put_endpoint(&url, None).await;
    assert_eq!(status, 201, "public at registration: {body}");

    let event_id = rig.confirmed_event_id(&rig.paid_simple_charge().await);
    let targets = ["10.0.0.7", "169.254.169.254", "::1", "127.0.0.1"];
    for (index, address) in targets.iter().enumerate() {
        dns.set(host, &[address]);
        let outcome = if index == 0 {
            // The first attempt, then its retry's message (deferred: not due yet).
            let outcomes = rig.pump().await;
            assert_eq!(outcomes.len(), 2, "{outcomes:?}");
            assert_eq!(outcomes[1], Dispatched::Deferred);
            outcomes[0].clone()
        } else {
            rig.next_attempt(&event_id).await
        };
        assert_eq!(
            outcome,
            Dispatched::Attempted {
                status: DeliveryStatus::Pending,
                code: None
            }
        );
        let delivery = rig.delivery(&event_id).await;
        let attempt = delivery.last_attempt().expect("attempt");
        let error = attempt.error.as_deref().expect("an error");
        assert!(error.starts_with("not sent: "), "{error}");
        assert!(error.contains(address), "{error} names {address}");
        assert_eq!(attempt.status_code, None);
    }
    let delivery = rig.delivery(&event_id).await;
    assert_eq!(delivery.attempt_count, 4);
    assert_eq!(delivery.status, DeliveryStatus::Pending, "retried later");
    assert_eq!(rig.sender.sent(), 0, "the sender was never called");
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no connection made");
    assert!(rig.posts().await.is_empty());
    accepting.abort();
}

/// (i) Redelivering a DELIVERED delivery by hand: a new round, one more POST with the same
/// `webhook-id`; the earlier round's messages are stale.
pub async fn a_delivered_webhook_can_be_redelivered_by_hand(subject: Subject) {
    let rig = Rig::start(subject).await;
    rig.answer(200).await;
    let secret = rig.register(None).await;
    let event_id = rig.confirmed_event_id(&rig.paid_simple_charge().await);
    assert_eq!(
        rig.pump().await,
        [attempted(DeliveryStatus::Delivered, 200)]
    );
    let delivered = rig.delivery(&event_id).await;

    rig.gw.clock.advance(Duration::minutes(10));
    let path = format!("/api/webhooks/deliveries/{}/redeliver", delivered.id);
    let response = rig.gw.post(&path, &rig.token, &json!({}), None).await;
    assert_eq!(response.status, 202, "{:?}", response.body_json());
    assert_eq!(response.body_json()["status"], "PENDING");
    assert_eq!(response.body_json()["id"], delivered.id.as_str());

    assert_eq!(
        rig.pump().await,
        [attempted(DeliveryStatus::Delivered, 200)]
    );
    let again = rig.delivery(&event_id).await;
    assert_eq!(again.round, 1);
    assert_eq!(again.attempt_count, 2);
    let rounds: Vec<(u32, u32, Option<u16>)> = again
        .attempts
        .iter()
        .map(|a| (a.number, a.round, a.status_code))
        .collect();
    assert_eq!(rounds, [(1, 0, Some(200)), (2, 1, Some(200))]);
    assert_eq!(again.attempts[1].at, rig.now());

    let posts = rig.posts().await;
    assert_eq!(posts.len(), 2);
    for post in &posts {
        assert_eq!(header(post, "webhook-id"), event_id);
        assert_well_formed(post, "CASHIN_CONFIRMED");
        assert_verifies(&secret, post);
    }
    assert_eq!(posts[0].body, posts[1].body, "the same payload");

    // A late copy of round 0's first attempt is stale.
    let late = WebhookMessage::Attempt {
        delivery_id: delivered.id.clone(),
        account_id: rig.account.clone(),
        round: 0,
        attempt: 2,
        not_before_ms: rig.now().timestamp_millis(),
    }
    .to_body();
    assert_eq!(
        rig.dispatcher().dispatch(&late).await,
        Ok(Dispatched::Stale)
    );
    assert_eq!(rig.posts().await.len(), 2);
}
