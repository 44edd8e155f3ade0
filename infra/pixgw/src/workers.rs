//! The local stand-ins for Lambda's event sources: an outbox relay loop (in place of the
//! DynamoDB Stream trigger), consumer loops per queue (in place of SQS event source
//! mappings), all over the in-process queues, and the ticks of the payout scheduler and the
//! charge-expiry sweeper (in place of their EventBridge schedules). The handlers are the same ones the Lambda functions run, on the
//! gateway's sandbox clock: the webhook dispatcher included, so merchant webhooks are POSTed
//! for real (to `http://localhost` too: the gateway's URL policy is the local one).
//!
//! # Stopping
//! [`Workers::shutdown`] asks every loop to stop and waits, up to a deadline, for each to
//! finish what it holds: a consumer its batch (each message processed and acked, or released
//! for a retry), a tick its run. Nothing is lost when the deadline cuts one short, or when the
//! process is killed: the queues are journaled (an unacked message is delivered again after
//! a restart), the outbox is in the store, and every consumer is idempotent.

use std::sync::Arc;
use std::time::Duration;

use pixgw_api::AppState;
use pixgw_domain::flows::expire::ExpirySweeper;
use pixgw_domain::flows::run_payout_windows::PayoutScheduler;
use pixgw_domain::messaging::consumer::{MessageHandler, drain};
use pixgw_domain::messaging::outbox::OutboxFeed;
use pixgw_domain::messaging::queue::{MessageQueue, QueueName};
use pixgw_domain::messaging::relay::relay_outbox;
use pixgw_domain::webhooks::WebhookSender;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// How often the relay looks for new outbox messages when it found none (it keeps going
/// without pause while there are more).
const RELAY_IDLE: Duration = Duration::from_millis(20);
/// Long poll of the consumer loops.
const RECEIVE_WAIT: Duration = Duration::from_secs(1);
/// A failed message is retried after this long (until it dead-letters after the queue's
/// maximum receives).
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Pause after an infrastructure error, so a broken store does not spin the CPU.
const ERROR_PAUSE: Duration = Duration::from_millis(500);
/// Consumer loops on `webhook-deliveries`: a merchant endpoint may take up to the attempt
/// timeout (10 s) to answer, and one slow endpoint should not hold up everyone's webhooks
/// (on Lambda a batch's messages are delivered concurrently, and batches run in parallel).
const WEBHOOK_CONSUMERS: usize = 4;

/// Charges expired per sweeper tick at most (the rest wait for the next tick), as on AWS.
const SWEEP_MAX: usize = 10_000;

/// The running loops, and the switch that stops them.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// A loop's view of the switch: `stopping()` once shutdown began; `stopped()` resolves then.
#[derive(Clone)]
struct Stop(watch::Receiver<bool>);

impl Stop {
    fn stopping(&self) -> bool {
        *self.0.borrow()
    }

    async fn stopped(&mut self) {
        // An error means the sender is gone, which only happens once shutdown is over.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Starts the relay, the consumers (the webhook dispatcher POSTing with `webhook_sender`), the
/// payout scheduler and the charge-expiry sweeper (each one tick every `scheduler_every`) on
/// the current runtime; they run until [`Workers::shutdown`].
pub fn spawn(
    state: Arc<AppState>,
    feed: Arc<dyn OutboxFeed>,
    queues: Arc<dyn MessageQueue>,
    webhook_sender: Arc<dyn WebhookSender>,
    scheduler_every: Duration,
) -> Workers {
    let (stop, switch) = watch::channel(false);
    let stop_rx = Stop(switch);
    let mut tasks = JoinSet::new();
    tasks.spawn(relay_loop(feed, queues.clone(), stop_rx.clone()));
    tasks.spawn(scheduler_loop(
        state.payout_scheduler.clone(),
        scheduler_every,
        stop_rx.clone(),
    ));
    tasks.spawn(expiry_loop(
        state.expiry.clone(),
        scheduler_every,
        stop_rx.clone(),
    ));
    let consumers: [(QueueName, Arc<dyn MessageHandler>); 2] = [
        (
            QueueName::ChargeConfirmed,
            Arc::new(state.split_calculator.clone()),
        ),
        (QueueName::PayoutRequests, Arc::new(state.money_out.clone())),
    ];
    for (queue, handler) in consumers {
        tasks.spawn(consumer_loop(
            queues.clone(),
            queue,
            handler,
            stop_rx.clone(),
        ));
    }
    // Built on the state: its store, data key, resolver, clock and (local) URL policy, and
    // these queues, for retries due later than the queue's delay limit and for dead letters.
    let dispatcher: Arc<dyn MessageHandler> =
        Arc::new(state.webhook_dispatcher(queues.clone(), webhook_sender));
    for _ in 0..WEBHOOK_CONSUMERS {
        tasks.spawn(consumer_loop(
            queues.clone(),
            QueueName::WebhookDeliveries,
            dispatcher.clone(),
            stop_rx.clone(),
        ));
    }
    Workers { stop, tasks }
}

impl Workers {
    /// Stops every loop and waits up to `deadline` for them to finish what they hold; returns
    /// how many were cut short at the deadline.
    pub async fn shutdown(mut self, deadline: Duration) -> usize {
        let _ = self.stop.send(true);
        let finished = tokio::time::timeout(deadline, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_ok() {
            return 0;
        }
        let cut = self.tasks.len();
        self.tasks.shutdown().await;
        cut
    }
}

async fn relay_loop(feed: Arc<dyn OutboxFeed>, queues: Arc<dyn MessageQueue>, mut stop: Stop) {
    while !stop.stopping() {
        let pause = match relay_outbox(feed.as_ref(), queues.as_ref(), 100).await {
            Ok(0) => RELAY_IDLE,
            Ok(_) => continue,
            Err(e) => {
                warn!(error = %e, "outbox relay failed; retrying");
                ERROR_PAUSE
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.stopped() => {}
        }
    }
}

/// Receives and processes batches until stopped. The stop is looked at between batches only:
/// a batch in hand is finished (each message acked or released for a retry), and the long
/// poll is short enough ([`RECEIVE_WAIT`]) not to hold shutdown up.
async fn consumer_loop(
    queues: Arc<dyn MessageQueue>,
    queue: QueueName,
    handler: Arc<dyn MessageHandler>,
    mut stop: Stop,
) {
    while !stop.stopping() {
        if let Err(e) = drain(
            queues.as_ref(),
            queue,
            handler.as_ref(),
            RECEIVE_WAIT,
            RETRY_AFTER,
        )
        .await
        {
            warn!(queue = %queue, error = %e, "consumer failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(ERROR_PAUSE) => {}
                _ = stop.stopped() => {}
            }
        }
    }
}

/// The payout scheduler's tick: every `every`, the accounts whose payout window has come (on
/// the sandbox clock, so advancing it makes windows due) get one payout per recipient. A tick
/// that finds nothing due costs one index read. A tick that fails is simply retried by the
/// next one, as on AWS.
async fn scheduler_loop(scheduler: PayoutScheduler, every: Duration, mut stop: Stop) {
    let mut ticker = tokio::time::interval(every);
    // A slow tick (a big window) delays the next one instead of causing a burst after it.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.stopped() => return,
        }
        match scheduler.run_now().await {
            Ok(report) if report.accounts + report.payouts + report.skipped > 0 => info!(
                accounts = report.accounts,
                payouts = report.payouts,
                splits = report.splits,
                amount = %report.amount,
                skipped = report.skipped,
                "payout scheduler tick"
            ),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "payout scheduler tick failed; the next tick retries"),
        }
    }
}

/// The charge-expiry sweeper's tick: every `every`, the PENDING charges whose `expirationDate`
/// has come (on the sandbox clock, so advancing it expires charges) are stored EXPIRED with
/// `CASHIN_EXPIRED`. A tick that fails is simply retried by the next one, as on AWS.
async fn expiry_loop(sweeper: ExpirySweeper, every: Duration, mut stop: Stop) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.stopped() => return,
        }
        match sweeper.sweep(SWEEP_MAX).await {
            Ok(report) if report.expired + report.skipped + report.holds_released > 0 => info!(
                expired = report.expired,
                skipped = report.skipped,
                holds_released = report.holds_released,
                "expiry sweeper tick"
            ),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "expiry sweeper tick failed; the next tick retries"),
        }
    }
}
