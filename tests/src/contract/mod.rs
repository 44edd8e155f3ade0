//! The storage contract: what every adapter of the storage ports must do (DynamoDB and the
//! embedded store), so the local gateway behaves like production. One module per aggregate,
//! named as in the domain, holding the cases of that aggregate's ports:
//!
//! | module | ports |
//! |---|---|
//! | [`account`] | `AccountStore` (an account is created with its credential and its default schedule) |
//! | [`idempotency`] | `IdempotencyStore` (claim, complete, release) |
//! | [`charge`] | `ChargeStore`, `ChargeTransitions` (insert, read, list; confirm, transition, expiry index) |
//! | [`refund`] | `RefundStore` |
//! | [`dispute`] | `DisputeStore` (open, defend, decide, list; what a dispute owes, repaid by a booking) |
//! | [`split`] | `SplitStore` (book, read) |
//! | [`ledger`] | `LedgerStore` (balances, movements, the statement's pages) |
//! | [`payout`] | `PayoutStore` (read, list, settle a payout and a scheduled payout's splits) |
//! | [`payout_run`] | `PayoutRunStore` (the payout scheduler's windows) |
//! | [`schedule`] | `ScheduleStore` |
//! | [`cash_out`] | `CashOutStore` |
//! | [`events`] | `EventLog`, `OutboxFeed` |
//! | [`webhooks`] | `WebhookStore` |
//! | [`paging`] | every paged listing, walked across its page boundaries |
//!
//! A case that writes across aggregates goes with the port whose write it is (a confirmation
//! books a movement and records events, yet it is [`charge`]'s). Each case is an
//! `async fn(Subject)` that panics on a violation; [`store_contract_cases!`] lists them all,
//! module by module, and `tests/store_contract.rs` runs every one on a fresh [`Subject`] of each
//! adapter. The queues are another port family with a contract of their own ([`queue`], run by
//! `tests/queue_contract.rs`).
//!
//! Times are based on the real clock (rounded to the millisecond, as stored) rather than a fixed
//! date, so no record is ever old enough for a storage TTL to remove it mid-case; the cases move
//! `now` explicitly where they need expiry. DynamoDB serves listings from indexes, which are
//! eventually consistent: those reads (and only those) are polled briefly with [`eventually`],
//! like the outbox, which cases read through the adapter's [`OutboxFeed`] (the embedded store
//! itself; the table's stream on DynamoDB).
//!
//! The money of the fixtures follows the ledger's rules:
//!
//! - confirm: PIX network → incoming (the gross);
//! - book: incoming → available (the remainder) + reservedForSplits (Σ shares);
//! - paid: reservedForSplits → PIX network; failed: reservedForSplits → available.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use pixgw_api::store::DynStore;
use pixgw_domain::account::{Account, ClientCredential};
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::charge::{Charge, ChargeSplit, ChargeStatus, Payer};
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::flows::book_splits::booking;
use pixgw_domain::idempotency::{
    ClaimOutcome, ClaimRequest, IdempotencyClaim, IdempotencyCompletion, StoredResponse,
};
use pixgw_domain::ledger::{Balance, Bucket, LedgerAccount, Leg, Movement, MovementKind};
use pixgw_domain::messaging::events::{AccountEvent, EventType};
use pixgw_domain::messaging::outbox::{OutboxFeed, OutboxMessage, PipelineMessage};
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::payout::ports::SettlePayout;
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::{AccountId, TransactionId};
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData, Payment};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::recipient::RecipientTotals;
use pixgw_domain::schedule::PayoutSchedule;
use pixgw_domain::schedule::ports::ScheduleState;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::{SplitRule, SplitValue};
use pixgw_domain::webhooks::WebhookMessage;
use pixgw_store_dynamodb::DynamoStreamFeed;
use pixgw_store_embedded::EmbeddedStore;
use tempfile::TempDir;
use uuid::Uuid;

use crate::harness::{
    Backend, dynamodb_endpoint, fresh_dynamodb_store, fresh_dynamodb_store_without_stream,
};

pub mod account;
pub mod cash_out;
pub mod charge;
pub mod dispute;
pub mod events;
pub mod idempotency;
pub mod ledger;
pub mod paging;
pub mod payout;
pub mod payout_run;
pub mod queue;
pub mod refund;
pub mod schedule;
pub mod split;
pub mod webhooks;

/// Calls `$callback!($($args)*; module { sequential: [...], streamed: [...], concurrent: [...],
/// large: [...] }, ...)` with every case of the storage contract, module by module: the list of
/// what each aggregate's ports must pass.
///
/// - `sequential`: a current-thread runtime, a fresh [`Subject::fresh_without_stream`]: the
///   case reads nothing from the outbox. Most cases: DynamoDB Local slows every request to a
///   streamed table as the process's stream records pile up (see
///   [`crate::harness::fresh_dynamodb_store_without_stream`]), so only cases that read the
///   outbox pay for a stream.
/// - `streamed`: as `sequential`, on a fresh [`Subject::fresh`] (its outbox read through the
///   table's stream on DynamoDB). A case here that stops reading the outbox belongs above; a
///   case above that starts reading it fails loudly ("run it on a subject with a stream").
/// - `concurrent`: racing writers, so a multi-threaded runtime; a fresh [`Subject::fresh`].
/// - `large`: thousands of writes and nothing read from the outbox: multi-threaded, on a
///   [`Subject::fresh_without_stream`].
#[macro_export]
macro_rules! store_contract_cases {
    ($callback:ident ! ( $($args:tt)* )) => {
        $callback! {
            $($args)*;
            account {
                sequential: [
                    account_round_trips,
                    duplicate_account_id_writes_nothing,
                    duplicate_client_id_writes_nothing,
                    new_account_has_the_default_schedule,
                    failed_account_creation_leaves_the_schedule_alone,
                    providers_are_set_replaced_and_cleared_without_touching_the_rest,
                    providers_given_at_creation_are_stored,
                    providers_of_an_unknown_account_are_not_found,
                    refund_policy_is_set_without_touching_the_rest,
                ],
                streamed: [],
                concurrent: [],
                large: [],
            },
            idempotency {
                sequential: [
                    claim_is_exclusive,
                    claim_with_a_different_body_is_a_mismatch,
                    idempotency_keys_are_per_account,
                    complete_alone_replays_the_response,
                    wrong_lock_token_changes_nothing,
                    release_frees_the_key,
                    lease_expiry_lets_the_same_request_take_over,
                    expired_record_counts_as_absent,
                ],
                streamed: [],
                concurrent: [
                    concurrent_claims_grant_exactly_one,
                ],
                large: [],
            },
            charge {
                sequential: [
                    charge_round_trips_every_field,
                    missing_charges_are_none,
                    duplicate_external_id_keeps_the_first_charge,
                    same_external_id_on_two_accounts_is_fine,
                    transaction_id_collision_writes_nothing,
                    insert_with_completion_replays_the_exact_response,
                    completion_without_a_claim_is_claim_lost,
                    a_completed_claim_cannot_complete_another_charge,
                    insert_errors_have_a_precedence,
                    failed_insert_leaves_the_claim_in_progress,
                    listing_walks_every_page_newest_first,
                    listing_time_bounds_are_half_open_to_the_millisecond,
                    listing_filters_by_status,
                    listing_limits_and_unreachable_positions,
                    a_cursor_from_another_account_never_reveals_its_charges,
                    a_transition_is_conditioned_on_the_stored_status,
                    confirming_an_expired_charge_applies,
                    the_expiry_index_holds_only_pending_charges_soonest_first,
                ],
                streamed: [
                    confirm_applies_every_effect,
                    repeated_confirm_conflicts_and_changes_nothing,
                    same_end_to_end_id_on_another_charge_conflicts,
                    confirm_with_an_existing_movement_conflicts,
                    confirm_of_a_missing_charge_conflicts,
                    a_confirmation_records_its_event_once_with_one_webhook_message,
                    a_confirmation_whose_event_exists_already_writes_nothing,
                ],
                concurrent: [
                    concurrent_inserts_with_one_external_id_create_one_charge,
                    concurrent_idempotent_inserts_complete_only_the_winners_claim,
                    concurrent_identical_confirms_apply_once,
                ],
                large: [],
            },
            refund {
                sequential: [
                    a_refund_of_an_unpaid_charge_conflicts,
                    a_full_refund_cancels_scheduled_splits_and_draws_the_rest,
                    a_refund_at_a_stale_revision_writes_nothing,
                    a_proportional_refund_reduces_splits_and_records_debts,
                    a_refused_refund_restores_and_forgives_at_what_it_read,
                    a_debt_write_off_applies_once_at_what_it_read,
                    attaching_a_split_reduced_since_it_was_read_conflicts,
                    a_transition_at_a_stale_refund_revision_conflicts,
                    a_refund_with_a_lost_claim_writes_nothing,
                ],
                streamed: [],
                concurrent: [],
                large: [],
            },
            dispute {
                sequential: [
                    a_dispute_opens_once_holding_exactly_its_amount,
                    an_opening_planned_before_another_write_of_its_charge_conflicts,
                    an_opening_whose_draw_was_spent_meanwhile_is_balance_changed,
                    a_defence_applies_only_at_the_version_read,
                    a_won_dispute_restores_its_splits_and_clears_what_it_owes,
                    a_stale_decision_conflicts_and_writes_nothing,
                    a_lost_dispute_makes_the_paid_splits_part_its_recipients_debt,
                    disputes_list_newest_first_by_status_within_one_account,
                    an_owing_dispute_is_repaid_once_by_the_next_credits,
                    a_stale_repayment_makes_the_whole_booking_conflict,
                    malformed_openings_are_refused_before_anything_is_written,
                    malformed_defences_and_decisions_are_refused_before_anything_is_written,
                    malformed_repayments_are_refused_before_anything_is_written,
                    repayments_that_do_not_match_their_booking_are_refused,
                ],
                streamed: [],
                concurrent: [],
                large: [],
            },
            split {
                sequential: [
                    book_splits_under_another_account_conflicts,
                ],
                streamed: [
                    book_splits_creates_entries_payouts_and_movement,
                    repeated_book_splits_conflicts_and_duplicates_nothing,
                    book_splits_before_confirm_conflicts,
                ],
                concurrent: [],
                large: [],
            },
            ledger {
                sequential: [
                    balance_always_equals_the_sum_of_movements,
                    movements_page_in_order_from_the_cursor,
                    movement_exists_tells_booked_movements_apart,
                ],
                streamed: [],
                concurrent: [],
                large: [],
            },
            payout {
                sequential: [
                    a_settlement_whose_movement_or_event_exists_writes_nothing,
                    a_failed_scheduled_payout_settles_without_a_movement_and_records_its_event_once,
                    a_paid_chunk_settles_its_splits_counts_down_and_records_their_events,
                    a_failed_chunk_reschedules_retries_and_returns_splits_failed_for_good,
                    conflicting_chunks_write_nothing,
                    a_chunk_larger_than_the_unsettled_count_conflicts,
                    a_chunk_whose_movement_exists_conflicts,
                    a_chunk_over_the_size_limit_conflicts,
                    payouts_are_listed_newest_first_by_state_and_range_with_a_cursor,
                    paid_payouts_pay_every_split_with_the_transfer_id,
                    a_failing_recipient_is_retried_for_three_windows_then_refunded,
                    a_manifest_left_half_settled_is_finished_by_a_redelivery,
                ],
                streamed: [
                    settle_paid_pays_out_the_reserve,
                    settle_failed_returns_the_reserve_to_available,
                    settle_with_a_split_not_in_processing_writes_nothing,
                    a_settlements_events_each_enqueue_one_webhook_message,
                ],
                concurrent: [
                    concurrent_executions_settle_a_payout_once,
                ],
                large: [],
            },
            payout_run {
                sequential: [
                    one_payout_per_recipient_summing_its_splits,
                    splits_booked_after_the_cutoff_wait,
                    catch_up_after_missed_windows_is_one_run,
                    a_crashed_run_is_completed_without_duplicates,
                    assembling_payouts_are_never_listed_and_released_ones_are,
                ],
                streamed: [],
                concurrent: [
                    racing_runs_pay_each_recipient_once,
                ],
                large: [
                    ten_thousand_splits_over_a_thousand_recipients,
                ],
            },
            schedule {
                sequential: [
                    put_expecting_none_conflicts_when_one_is_stored,
                    put_with_the_read_version_applies_and_reads_back,
                    stale_or_future_version_conflicts_and_changes_nothing,
                    account_without_a_schedule_takes_a_first_write,
                    schedules_are_per_account,
                ],
                streamed: [],
                concurrent: [
                    concurrent_puts_on_one_version_apply_once,
                ],
                large: [],
            },
            cash_out {
                sequential: [
                    a_draw_that_does_not_match_the_movement_is_refused_and_writes_nothing,
                    a_duplicate_external_id_is_refused_per_account,
                    a_cash_out_completes_its_claim_or_reports_it_lost,
                    a_cash_out_update_is_conditioned_on_its_stored_state,
                    cash_outs_list_newest_first_with_filters_and_cursor,
                ],
                streamed: [
                    a_stale_draw_is_balance_changed_and_writes_nothing,
                ],
                concurrent: [
                    concurrent_cash_outs_that_replan_spend_only_what_is_available,
                ],
                large: [],
            },
            events {
                sequential: [
                    events_are_listed_oldest_first_and_paged_by_id,
                ],
                streamed: [
                    the_outbox_feed_returns_committed_messages_until_acked,
                ],
                concurrent: [],
                large: [],
            },
            webhooks {
                sequential: [
                    the_endpoint_is_created_once_and_replaced_only_on_the_version_read,
                    a_delivery_is_created_once_and_read_only_by_its_account,
                    deliveries_are_listed_newest_first_filtered_and_paged_within_one_account,
                    get_event_reads_only_the_accounts_own_events,
                ],
                streamed: [
                    updates_apply_on_the_version_read_and_a_stale_one_writes_nothing_not_even_its_message,
                    a_message_that_exists_already_is_kept_and_the_delivery_still_written,
                ],
                concurrent: [],
                large: [],
            },
            paging {
                sequential: [],
                streamed: [],
                concurrent: [],
                large: [
                    charges_walk_exactly,
                    charges_of_one_status_walk_exactly,
                    cash_outs_walk_exactly,
                    payouts_walk_exactly,
                    a_payouts_splits_walk_exactly,
                    webhook_deliveries_walk_exactly,
                    the_statement_walks_exactly,
                ],
            },
        }
    };
}

// =============================================================================================
// Subjects

/// A fresh, empty store of one adapter, where its committed outbox messages are read from, and
/// whatever must live as long as it (the embedded store's temporary directory).
pub struct Subject {
    pub store: DynStore,
    /// The embedded store itself, or a [`DynamoStreamFeed`] on the table's stream (which lags a
    /// moment behind writes); `None` on a table without a stream.
    pub outbox: Option<Arc<dyn OutboxFeed>>,
    _keep: Option<TempDir>,
}

impl Subject {
    /// A fresh embedded store in its own temporary directory, or a fresh table in DynamoDB
    /// Local (at `PIXGW_TEST_DYNAMODB_ENDPOINT`; without it this panics: a contract that
    /// silently skipped its production adapter would prove nothing) read through its stream.
    pub async fn fresh(backend: Backend) -> Subject {
        match backend {
            Backend::Embedded => Subject::embedded(),
            Backend::Dynamodb => {
                let store = fresh_dynamodb_store().await;
                let feed =
                    DynamoStreamFeed::connect(Some(dynamodb_endpoint()), store.table()).await;
                Subject {
                    store: Arc::new(store),
                    outbox: Some(Arc::new(feed)),
                    _keep: None,
                }
            }
        }
    }

    /// [`Subject::fresh`], but on DynamoDB a table that never had a stream (and so no outbox
    /// feed), for every case that reads nothing from the outbox: DynamoDB Local slows every
    /// request to a streamed table down as stream records pile up (see
    /// [`crate::harness::fresh_dynamodb_store_without_stream`]).
    pub async fn fresh_without_stream(backend: Backend) -> Subject {
        match backend {
            Backend::Embedded => Subject::embedded(),
            Backend::Dynamodb => Subject {
                store: Arc::new(fresh_dynamodb_store_without_stream().await),
                outbox: None,
                _keep: None,
            },
        }
    }

    fn embedded() -> Subject {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(EmbeddedStore::open(dir.path()).expect("open embedded store"));
        Subject {
            store: store.clone(),
            outbox: Some(store),
            _keep: Some(dir),
        }
    }

    /// The store as the payout scheduler sees it.
    pub fn runs(&self) -> Arc<dyn PayoutRunStore> {
        self.store.clone()
    }

    fn feed(&self) -> &dyn OutboxFeed {
        self.outbox
            .as_deref()
            .expect("this case reads the outbox: run it on a subject with a stream")
    }

    /// The outbox messages waiting (polled, not acked).
    pub async fn outbox_messages(&self) -> Vec<OutboxMessage> {
        self.feed().poll_outbox(10_000).await.expect("poll outbox")
    }

    /// The ids of the outbox messages waiting.
    pub async fn outbox_ids(&self) -> BTreeSet<String> {
        ids_of(&self.outbox_messages().await)
    }

    /// Asserts the messages waiting in the outbox are exactly `expected` (polling while a
    /// stream catches up).
    pub async fn assert_outbox(&self, expected: BTreeSet<String>) {
        let waiting = eventually(|| self.outbox_ids(), |ids| *ids == expected).await;
        assert_eq!(waiting, expected, "outbox messages waiting");
    }

    /// The waiting outbox messages once every id of `wanted` is among them (a stream lags).
    pub async fn outbox_with(&self, wanted: &BTreeSet<String>) -> Vec<OutboxMessage> {
        eventually(
            || self.outbox_messages(),
            |messages| wanted.is_subset(&ids_of(messages)),
        )
        .await
    }
}

// =============================================================================================
// Builders

pub const CPF: &str = "12345678909";
pub const CNPJ: &str = "11222333000181";
pub const CNPJ_ALPHANUMERIC: &str = "12ABC34501DE35";

/// "Now", rounded to the millisecond like every stored time.
pub fn base_time() -> DateTime<Utc> {
    let ms = Utc::now().timestamp_millis();
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("now is representable")
}

pub fn ms(n: i64) -> Duration {
    Duration::milliseconds(n)
}

pub fn doc(number: &str) -> TaxDocument {
    TaxDocument::parse(number).unwrap_or_else(|e| panic!("{number} must be valid: {e:?}"))
}

/// An account (not stored) and its API credential, created now.
pub fn new_account() -> (Account, ClientCredential) {
    let id = AccountId::generate();
    let account = Account {
        id: id.clone(),
        name: "Padaria Pão de Açúcar Ltda.".into(),
        merchant_name: "PADARIA PAO DE ACUCAR".into(),
        merchant_city: "SAO PAULO".into(),
        crypto_token_encrypted: format!("v1:{}", Uuid::new_v4().simple()),
        providers: Vec::new(),
        refund_liability: Default::default(),
        created_at: base_time(),
    };
    let credential = new_credential(&id);
    (account, credential)
}

pub fn new_credential(account_id: &AccountId) -> ClientCredential {
    ClientCredential {
        client_id: format!("cli_{}", Uuid::new_v4().simple()),
        account_id: account_id.clone(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        created_at: base_time(),
    }
}

/// A [`new_account`], stored.
pub async fn create_account(store: &DynStore) -> (Account, ClientCredential) {
    let (account, credential) = new_account();
    store
        .create_account(&account, &credential)
        .await
        .expect("create account");
    (account, credential)
}

/// A minimal PENDING charge: no splits, no additional info.
pub fn plain_charge(
    account_id: &AccountId,
    external_id: &str,
    created_at: DateTime<Utc>,
) -> Charge {
    Charge {
        transaction_id: TransactionId::generate(),
        account_id: account_id.clone(),
        correlation_id: Uuid::new_v4(),
        external_id: external_id.to_owned(),
        status: ChargeStatus::Pending,
        amount: Money::from_cents(4990),
        description: "Pedido simples".into(),
        payer: Payer {
            full_name: "Maria Souza".into(),
            document: doc(CPF),
        },
        additional_info: Default::default(),
        splits: Vec::new(),
        remainder: Money::from_cents(4990),
        pix_code: "00020101021226830014br.gov.bcb.pix2561pix.example.com/qr/v2/cobv/abc5204000053039865802BR6304ABCD".into(),
        generate_qr_code: false,
        provider: "sandbox".into(),
        provider_charge_id: format!("sbx_{}", Uuid::new_v4().simple()),
        expiration_seconds: 3600,
        created_at,
        expires_at: created_at + Duration::seconds(3600),
        payment: None,
        refunds: Vec::new(),
        hold: None,
        disputes: Vec::new(),
        refund_revision: 0,
    }
}

/// Inserts `charge` (no idempotency completion).
pub async fn insert(store: &DynStore, charge: &Charge) {
    store
        .insert_charge(charge, None)
        .await
        .unwrap_or_else(|e| panic!("insert charge {}: {e:?}", charge.transaction_id));
}

// ---------------------------------------------------------------------------------------------
// Idempotency claims

/// A claim made at `now` with a 30 s lease and a 24 h life.
pub struct ClaimSpec<'a> {
    pub account_id: &'a AccountId,
    pub key: &'a str,
    pub hash: &'a str,
    pub token: &'a str,
    pub now: DateTime<Utc>,
}

impl<'a> ClaimSpec<'a> {
    pub fn request(&self) -> ClaimRequest<'a> {
        ClaimRequest {
            account_id: self.account_id,
            key: self.key,
            request_hash: self.hash,
            lock_token: self.token,
            now: self.now,
            lease_until: self.now + Duration::seconds(30),
            expires_at: self.now + Duration::hours(24),
        }
    }
}

/// What a [`ClaimSpec`] of these values gets.
pub async fn claim(
    store: &DynStore,
    account_id: &AccountId,
    key: &str,
    hash: &str,
    token: &str,
    now: DateTime<Utc>,
) -> ClaimOutcome {
    let spec = ClaimSpec {
        account_id,
        key,
        hash,
        token,
        now,
    };
    store.claim(&spec.request()).await.expect("claim")
}

#[track_caller]
pub fn claimed(outcome: ClaimOutcome) -> IdempotencyClaim {
    match outcome {
        ClaimOutcome::Claimed(claim) => claim,
        other => panic!("expected Claimed, got {other:?}"),
    }
}

pub fn response(status: u16, body: &str) -> StoredResponse {
    StoredResponse {
        status,
        body: body.to_owned(),
    }
}

pub fn completion(claim: &IdempotencyClaim, status: u16, body: &str) -> IdempotencyCompletion {
    IdempotencyCompletion {
        claim: claim.clone(),
        response: response(status, body),
    }
}

// ---------------------------------------------------------------------------------------------
// A charge with splits, through confirmation, booking and settlement

fn charge_split(
    pix_key: &str,
    key_type: PixKeyType,
    value: SplitValue,
    immediate: bool,
    gross: Money,
) -> ChargeSplit {
    ChargeSplit {
        rule: SplitRule {
            pix_key: pix_key.into(),
            pix_key_type: key_type,
            name: format!("Recebedor {key_type}").into(),
            document: doc(pix_key),
            value,
            immediate,
        },
        amount: value.share_of(gross).expect("a share within range"),
    }
}

/// A PENDING charge of R$ 200.00 with an immediate 70 % split (CPF key, R$ 140.00) and a
/// scheduled R$ 10.00 split (CNPJ key); the merchant keeps R$ 50.00.
pub fn charge_with_splits(account_id: &AccountId, created_at: DateTime<Utc>) -> Charge {
    let gross = Money::from_cents(20_000);
    let splits = vec![
        charge_split(
            CPF,
            PixKeyType::Cpf,
            SplitValue::Percentage(7000),
            true,
            gross,
        ),
        charge_split(
            CNPJ,
            PixKeyType::Cnpj,
            SplitValue::Fixed(Money::from_cents(1000)),
            false,
            gross,
        ),
    ];
    let shares: i64 = splits.iter().map(|s| s.amount.cents()).sum();
    Charge {
        external_id: format!("ext-{}", Uuid::new_v4().simple()),
        amount: gross,
        description: "Pedido com splits — ção".into(),
        splits,
        remainder: Money::from_cents(gross.cents() - shares),
        pix_code: "00020101021226830014br.gov.bcb.pix2561pix.example.com/qr/v2/abc6304ABCD".into(),
        ..plain_charge(account_id, "", created_at)
    }
}

/// Inserts a fresh PENDING [`charge_with_splits`] for a new account.
pub async fn pending_charge(store: &DynStore) -> Charge {
    let charge = charge_with_splits(&AccountId::generate(), base_time());
    insert(store, &charge).await;
    charge
}

/// A payment with a fresh end-to-end id, settled at `at`.
pub fn payment(at: DateTime<Utc>) -> Payment {
    let ispb = Ispb::parse("00416968").expect("ispb");
    Payment {
        end_to_end_id: EndToEndId::generate(EndToEndKind::Payment, &ispb, at),
        paid_at: at,
        paid_by: PaidBy {
            name: "Maria Souza".into(),
            document: CPF.into(),
            bank: PayerBankData::new(ispb, "0001", "1234567").expect("bank data"),
        },
        provider: "sandbox".into(),
        provider_event_id: format!("evt_{}", Uuid::new_v4().simple()),
    }
}

/// A movement of `amount` from one account to another (panics on a non-positive amount).
pub fn transfer(
    kind: MovementKind,
    account: &AccountId,
    reference: &str,
    from: LedgerAccount,
    to: LedgerAccount,
    amount: Money,
    at: DateTime<Utc>,
) -> Movement {
    Movement::transfer(kind, account, reference, from, to, amount, at).expect("movement")
}

pub fn merchant(account: &AccountId, bucket: Bucket) -> LedgerAccount {
    LedgerAccount::Merchant(account.clone(), bucket)
}

/// Confirms `charge` with `payment` at `at`: the gross enters `incoming`; the outbox asks the
/// split calculator to book it; CASHIN_CONFIRMED is recorded.
pub fn confirm_write(charge: &Charge, payment: Payment, at: DateTime<Utc>) -> ConfirmCharge {
    let account = &charge.account_id;
    let message = PipelineMessage::ChargeConfirmed {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
    };
    ConfirmCharge {
        hold: None,
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
        payment,
        confirmed_at: at,
        movement: transfer(
            MovementKind::ChargeConfirmed,
            account,
            charge.transaction_id.as_str(),
            LedgerAccount::PixNetwork,
            merchant(account, Bucket::Incoming),
            charge.amount,
            at,
        ),
        // Created with the confirmation, like the one the confirmation service records.
        events: vec![AccountEvent::new(
            account,
            EventType::CashinConfirmed,
            charge.transaction_id.as_str(),
            at,
            serde_json::json!({ "transactionId": charge.transaction_id.as_str(), "status": "CONFIRMED" }),
        )],
        outbox: vec![message.to_outbox(at)],
    }
}

/// A charge confirmed through the store, and the write that confirmed it.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub charge: Charge,
    pub confirm: ConfirmCharge,
}

/// Confirms a stored PENDING `charge` 1 s after its creation.
pub async fn confirm(store: &DynStore, charge: Charge) -> Confirmed {
    let at = charge.created_at + Duration::seconds(1);
    let confirm = confirm_write(&charge, payment(at), at);
    assert_eq!(
        store.confirm_charge(&confirm).await,
        Ok(WriteOutcome::Applied),
        "confirm"
    );
    Confirmed { charge, confirm }
}

/// The confirmed-payment fixture: a fresh [`pending_charge`], confirmed 1 s after creation.
pub async fn confirmed_charge(store: &DynStore) -> Confirmed {
    let charge = pending_charge(store).await;
    confirm(store, charge).await
}

/// Books `charge`'s splits at `at`: immediate ones PROCESSING in a payout of their own (and a
/// payout request in the outbox), the others SCHEDULED.
pub fn book_write(charge: &Charge, at: DateTime<Utc>) -> BookSplits {
    let account = &charge.account_id;
    let mut splits = Vec::new();
    let mut payouts = Vec::new();
    for (index, split) in charge.splits.iter().enumerate() {
        let index = u8::try_from(index).expect("index");
        let mut entry = SplitEntry {
            transaction_id: charge.transaction_id.clone(),
            account_id: account.clone(),
            index,
            split: split.clone(),
            state: SplitState::Scheduled,
            payout_id: None,
            end_to_end_id: None,
            failure_reason: None,
            attempts: 0,
            refunded: Money::ZERO,
            created_at: at,
            updated_at: at,
        };
        if split.rule.immediate {
            let id = PayoutId::for_immediate_split(&charge.transaction_id, index);
            entry.state = SplitState::Processing;
            entry.payout_id = Some(id.clone());
            payouts.push(Payout {
                id,
                account_id: account.clone(),
                trigger: PayoutTrigger::Immediate,
                recipient: entry.recipient(),
                amount: split.amount,
                splits: vec![entry.key()],
                split_count: 1,
                unsettled_splits: 0,
                state: PayoutState::Processing,
                end_to_end_id: None,
                deductions: None,
                provider_transfer_id: None,
                failure_reason: None,
                created_at: at,
                updated_at: at,
            });
        }
        splits.push(entry);
    }
    let shares: i64 = charge.splits.iter().map(|s| s.amount.cents()).sum();
    let leg = |bucket, cents| Leg {
        account: merchant(account, bucket),
        amount: Money::from_cents(cents),
    };
    let movement = Movement::new(
        MovementKind::SplitsBooked,
        account,
        charge.transaction_id.as_str(),
        vec![
            leg(Bucket::Incoming, -charge.amount.cents()),
            leg(Bucket::Available, charge.remainder.cents()),
            leg(Bucket::ReservedForSplits, shares),
        ],
        at,
    )
    .expect("booking movement");
    let outbox = payouts
        .iter()
        .map(|p| {
            PipelineMessage::PayoutRequested {
                payout_id: p.id.clone(),
                account_id: account.clone(),
            }
            .to_outbox(at)
        })
        .collect();
    let recipients = RecipientTotals::scheduled_by_split(
        account,
        splits.iter().map(|s| (s, s.split.amount.cents())),
    );
    BookSplits {
        transaction_id: charge.transaction_id.clone(),
        account_id: account.clone(),
        splits,
        payouts,
        movement,
        outbox,
        recipients,
        repayments: Vec::new(),
    }
}

/// A confirmed charge whose splits are booked, and the booking.
#[derive(Debug, Clone)]
pub struct Booked {
    pub confirmed: Confirmed,
    pub book: BookSplits,
}

impl Booked {
    /// The immediate payout (of split 0) and the split it pays, as booked.
    pub fn immediate(&self) -> (Payout, SplitEntry) {
        (self.book.payouts[0].clone(), self.book.splits[0].clone())
    }

    pub fn account(&self) -> &AccountId {
        &self.confirmed.charge.account_id
    }
}

/// Books a confirmed charge's splits 1 s after its confirmation.
pub async fn book_confirmed(store: &DynStore, confirmed: Confirmed) -> Booked {
    let at = confirmed.confirm.confirmed_at + Duration::seconds(1);
    let book = book_write(&confirmed.charge, at);
    assert_eq!(
        store.book_splits(&book).await,
        Ok(WriteOutcome::Applied),
        "book"
    );
    Booked { confirmed, book }
}

/// [`confirmed_charge`], then its splits booked 1 s later.
pub async fn booked_charge(store: &DynStore) -> Booked {
    let confirmed = confirmed_charge(store).await;
    book_confirmed(store, confirmed).await
}

/// A [`charge_with_splits`] of `account` created at `at`, inserted, confirmed and booked.
pub async fn booked_charge_of(store: &DynStore, account: &AccountId, at: DateTime<Utc>) -> Booked {
    let charge = charge_with_splits(account, at);
    insert(store, &charge).await;
    let confirmed = confirm(store, charge).await;
    book_confirmed(store, confirmed).await
}

/// How a payout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutEnd {
    Paid,
    Failed,
}

/// Settles `payout` (and `splits`, the ones it pays) at `at`, announcing it to the merchant
/// through the outbox.
pub fn settle_write(
    payout: &Payout,
    splits: &[SplitEntry],
    end: PayoutEnd,
    at: DateTime<Utc>,
) -> SettlePayout {
    let account = &payout.account_id;
    let ispb = Ispb::parse("00416968").expect("ispb");
    let e2e = EndToEndId::generate(EndToEndKind::Payment, &ispb, at);
    let (state, split_state, kind, to) = match end {
        PayoutEnd::Paid => (
            PayoutState::Paid,
            SplitState::Paid,
            MovementKind::PayoutPaid,
            LedgerAccount::PixNetwork,
        ),
        PayoutEnd::Failed => (
            PayoutState::Failed,
            SplitState::Failed,
            MovementKind::PayoutFailed,
            merchant(account, Bucket::Available),
        ),
    };
    let paid = end == PayoutEnd::Paid;
    let reason = (!paid).then(|| "recipient key not found".to_owned());
    SettlePayout {
        payout: Payout {
            state,
            end_to_end_id: paid.then(|| e2e.clone()),
            provider_transfer_id: paid.then(|| format!("tr_{}", Uuid::new_v4().simple())),
            failure_reason: reason.clone(),
            updated_at: at,
            ..payout.clone()
        },
        splits: splits
            .iter()
            .map(|s| SplitEntry {
                state: split_state,
                end_to_end_id: paid.then(|| e2e.clone()),
                failure_reason: reason.clone(),
                updated_at: at,
                ..s.clone()
            })
            .collect(),
        movement: Some(transfer(
            kind,
            account,
            payout.id.as_str(),
            merchant(account, Bucket::ReservedForSplits),
            to,
            payout.amount,
            at,
        )),
        events: vec![AccountEvent::new(
            account,
            if paid {
                EventType::PayoutPaid
            } else {
                EventType::PayoutFailed
            },
            payout.id.as_str(),
            at,
            serde_json::json!({ "payoutId": payout.id.as_str() }),
        )],
        outbox: vec![OutboxMessage {
            id: format!("payout-settled:{}", payout.id),
            queue: QueueName::WebhookDeliveries,
            body: format!(
                r#"{{"payoutId":"{}","state":"{}"}}"#,
                payout.id,
                state.as_str()
            ),
            created_at: at,
        }],
        recipient: None,
        totals: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Scheduled splits (the payout scheduler's material)

/// Daily at 09:00 São Paulo = 12:00 UTC. Day `d` of January 2031.
pub fn nine_am(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2031, 1, day, 12, 0, 0)
        .single()
        .expect("instant")
}

/// An account whose daily 09:00 schedule is next due at `next_run_at`.
pub async fn account_due_at(store: &DynStore, next_run_at: DateTime<Utc>) -> AccountId {
    let account = AccountId::generate();
    let schedule = PayoutSchedule::daily(NaiveTime::from_hms_opt(9, 0, 0).expect("time"));
    let state = ScheduleState {
        account_id: account.clone(),
        schedule,
        next_run_at,
        version: 1,
        updated_at: next_run_at - Duration::days(1),
        lease: None,
    };
    assert_eq!(
        store.put_schedule(&state, None).await,
        Ok(WriteOutcome::Applied)
    );
    account
}

pub fn recipient_key(n: usize) -> String {
    format!("recebedor{n}@example.com")
}

/// A charge of `account` with one scheduled FIXED split per recipient number.
pub fn charge_for(
    account: &AccountId,
    recipients: &[usize],
    cents: i64,
    at: DateTime<Utc>,
) -> Charge {
    let mut charge = charge_with_splits(account, at);
    charge.splits = recipients
        .iter()
        .map(|&n| ChargeSplit {
            rule: SplitRule {
                pix_key: recipient_key(n).into(),
                pix_key_type: PixKeyType::Email,
                name: format!("Recebedor {n}").into(),
                document: doc(CPF),
                value: SplitValue::Fixed(Money::from_cents(cents)),
                immediate: false,
            },
            amount: Money::from_cents(cents),
        })
        .collect();
    let shares = cents * i64::try_from(recipients.len()).expect("count");
    charge.amount = Money::from_cents(shares + 100);
    charge.remainder = Money::from_cents(100);
    charge
}

/// Inserts, confirms and books the charge's splits at `at` (their booking time), with the
/// split calculator's own booking; the booking it wrote.
pub async fn book(store: &DynStore, charge: Charge, at: DateTime<Utc>) -> BookSplits {
    insert(store, &charge).await;
    let confirm = confirm_write(&charge, payment(at), at);
    assert_eq!(
        store.confirm_charge(&confirm).await,
        Ok(WriteOutcome::Applied)
    );
    let confirmed = Charge {
        status: ChargeStatus::Confirmed,
        ..charge
    };
    let write = booking(&confirmed, at).expect("booking");
    assert_eq!(store.book_splits(&write).await, Ok(WriteOutcome::Applied));
    write
}

// =============================================================================================
// Reads and checks

/// Reads until `done` holds or 5 s pass, then returns the last value (for index reads, which
/// may lag behind writes on DynamoDB, and the outbox stream). The caller asserts on it.
pub async fn eventually<T, F, Fut>(mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + StdDuration::from_secs(5);
    loop {
        let value = read().await;
        if done(&value) || Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

/// The account's movements once the index shows at least `n` of them.
pub async fn movements(store: &DynStore, account: &AccountId, n: usize) -> Vec<Movement> {
    eventually(
        || async move { store.list_movements(account).await.expect("list movements") },
        |m| m.len() >= n,
    )
    .await
}

pub async fn balance(store: &DynStore, account: &AccountId) -> Balance {
    store.get_balance(account).await.expect("balance")
}

/// A balance from bucket amounts in centavos.
pub fn balance_of(incoming: i64, available: i64, reserved: i64) -> Balance {
    Balance {
        incoming: Money::from_cents(incoming),
        available: Money::from_cents(available),
        reserved_for_splits: Money::from_cents(reserved),
        ..Balance::default()
    }
}

/// Asserts the account's movements are exactly `expected` (oldest first) and that the balance
/// equals their sum.
pub async fn assert_ledger(store: &DynStore, account: &AccountId, expected: &[&Movement]) {
    let listed = movements(store, account, expected.len()).await;
    let expected: Vec<Movement> = expected.iter().map(|m| (*m).clone()).collect();
    assert_eq!(listed, expected, "movements of {account}");
    assert_balanced(store, account, &listed).await;
}

/// The balance equals the sum of `movements` (the account's, all of them), and no bucket went
/// below zero.
pub async fn assert_balanced(store: &DynStore, account: &AccountId, movements: &[Movement]) {
    let stored = balance(store, account).await;
    assert_eq!(
        stored,
        Balance::from_movements(account, movements),
        "the balance of {account} must equal the sum of its movements"
    );
    assert!(
        stored.incoming.cents() >= 0
            && stored.available.cents() >= 0
            && stored.reserved_for_splits.cents() >= 0,
        "a bucket of {account} went negative: {stored:?}"
    );
}

pub async fn stored_charge(store: &DynStore, id: &TransactionId) -> Option<Charge> {
    store.get_charge(id).await.expect("get charge")
}

/// The stored versions of `splits`, in their order.
pub async fn stored_splits(store: &DynStore, splits: &[SplitEntry]) -> Vec<SplitEntry> {
    let mut out = Vec::with_capacity(splits.len());
    for split in splits {
        let stored = store
            .get_splits(&split.transaction_id)
            .await
            .expect("get splits");
        out.push(
            stored
                .into_iter()
                .find(|s| s.index == split.index)
                .expect("split stored"),
        );
    }
    out
}

/// What a confirmation leaves in the outbox: its messages, and one webhook message per event.
pub fn confirm_outbox(write: &ConfirmCharge) -> Vec<OutboxMessage> {
    write
        .outbox
        .iter()
        .cloned()
        .chain(write.events.iter().map(WebhookMessage::for_event))
        .collect()
}

pub fn ids_of<'a>(messages: impl IntoIterator<Item = &'a OutboxMessage>) -> BTreeSet<String> {
    messages.into_iter().map(|m| m.id.clone()).collect()
}

/// What a conflicting write must leave exactly as it was.
pub struct Snapshot {
    charge: Option<Charge>,
    balance: Balance,
    movements: Vec<Movement>,
    splits: Vec<SplitEntry>,
}

pub async fn snapshot(subject: &Subject, charge: &Charge, movements_expected: usize) -> Snapshot {
    let store = &subject.store;
    Snapshot {
        charge: stored_charge(store, &charge.transaction_id).await,
        balance: balance(store, &charge.account_id).await,
        movements: movements(store, &charge.account_id, movements_expected).await,
        splits: store
            .get_splits(&charge.transaction_id)
            .await
            .expect("splits"),
    }
}

#[track_caller]
pub fn assert_unchanged(before: &Snapshot, after: &Snapshot, what: &str) {
    assert_eq!(before.charge, after.charge, "{what}: the charge changed");
    assert_eq!(before.balance, after.balance, "{what}: the balance changed");
    assert_eq!(
        before.movements, after.movements,
        "{what}: the movements changed"
    );
    assert_eq!(before.splits, after.splits, "{what}: the splits changed");
}
