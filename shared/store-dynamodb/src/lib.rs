//! DynamoDB adapter of the storage ports ([`AccountStore`], [`IdempotencyStore`],
//! [`ChargeStore`], [`ChargeTransitions`], [`RefundStore`], [`DisputeStore`], [`RecipientStore`], [`SplitStore`], [`LedgerStore`],
//! [`PayoutStore`], [`CashOutStore`], [`ScheduleStore`], [`PayoutRunStore`], [`EventLog`],
//! [`WebhookStore`]) — single-table design — and of the
//! [`OutboxFeed`] over the table's DynamoDB Stream ([`outbox`]).
//!
//! [`AccountStore`]: pixgw_domain::account::ports::AccountStore
//! [`ScheduleStore`]: pixgw_domain::schedule::ports::ScheduleStore
//! [`PayoutRunStore`]: pixgw_domain::payout::runs::PayoutRunStore
//! [`EventLog`]: pixgw_domain::messaging::events::EventLog
//! [`WebhookStore`]: pixgw_domain::webhooks::WebhookStore
//! [`IdempotencyStore`]: pixgw_domain::idempotency::IdempotencyStore
//! [`ChargeTransitions`]: pixgw_domain::charge::ports::ChargeTransitions
//! [`RefundStore`]: pixgw_domain::refund::ports::RefundStore
//! [`DisputeStore`]: pixgw_domain::dispute::ports::DisputeStore
//! [`RecipientStore`]: pixgw_domain::recipient::ports::RecipientStore
//! [`SplitStore`]: pixgw_domain::split::ports::SplitStore
//! [`LedgerStore`]: pixgw_domain::ledger::ports::LedgerStore
//! [`PayoutStore`]: pixgw_domain::payout::ports::PayoutStore
//! [`CashOutStore`]: pixgw_domain::cash_out::ports::CashOutStore
//! [`ChargeStore`]: pixgw_domain::charge::ports::ChargeStore
//! [`OutboxFeed`]: pixgw_domain::messaging::outbox::OutboxFeed
//!
//! # Where the code is
//!
//! One module per aggregate of the domain, the same map as `pixgw-store-embedded`; each holds
//! its port's `impl … for DynamoStore`, its items (the domain record plus table and index keys)
//! and the writes and reads only it uses:
//!
//! | module | port | items |
//! |---|---|---|
//! | `account` | `AccountStore` | account, client credential |
//! | `idempotency` | `IdempotencyStore` | idempotency record (and its completion inside other writes) |
//! | `charge` | `ChargeStore`, `ChargeTransitions` | charge, `externalId` guard, end-to-end id guard; the expiry and hold index reads (`charge::due`) |
//! | `refund` | `RefundStore` | (the charge, its reduced splits, its recipients' debts) |
//! | `dispute` | `DisputeStore` | MED dispute (and, inside its writes, the charge, its reduced or restored splits, its recipients' debts; its repayment inside a booking) |
//! | `recipient` | `RecipientStore` | recipient (its debt queue; changed inside refunds and payout nettings / settlements) |
//! | `split` | `SplitStore` | split entry |
//! | `ledger` | `LedgerStore` | movement, balance shard; the statement pages (`ledger::statement`) |
//! | `payout` | `PayoutStore` | payout (its listing, its manifest, its settlement) |
//! | `payout_run` | `PayoutRunStore` | (the payout scheduler's writes on schedules, splits, payouts) |
//! | `schedule` | `ScheduleStore` | payout schedule |
//! | `cash_out` | `CashOutStore` | cash-out, cash-out `externalId` guard |
//! | `events` | `EventLog` | account event |
//! | [`outbox`] | `OutboxFeed` ([`DynamoStreamFeed`]) | outbox message; the stream relay's decoding ([`outbox_message_from_image`]) |
//! | `webhooks` | `WebhookStore` | webhook endpoint, delivery |
//!
//! What several ports share is `ledger_write`: the ledger half (movement, balance shards,
//! events, outbox) every write that moves money ends with, and the two ways such a
//! transaction is sent and its outcome read. The DynamoDB plumbing: [`keys`] (every key and
//! attribute name), [`table`] (the table definition, [`create_table`]), `transact` (the one
//! place `TransactWriteItems` is sent and retried), [`errors`] (SDK errors to
//! [`StoreError`], the conflict retry of single-item writes), `items` (records as items),
//! `listing` (newest-first listing reads), `merge` (oldest-first reads of sharded partitions)
//! and `versioned` (optimistic-lock single-item writes).
//!
//! # The table
//!
//! One table, generic attribute names, so new item types need no schema change:
//!
//! | attribute | type | role |
//! |---|---|---|
//! | `pk`, `sk` | S | table primary key (hash, range) |
//! | `gsi1pk`, `gsi1sk` | S | index `gsi1` (hash, range), projection ALL |
//! | `gsi2pk`, `gsi2sk` | S | index `gsi2` (hash, range), projection ALL |
//! | `gsi3pk`, `gsi3sk` | S | index `gsi3` (hash, range), projection ALL, sparse: the expiry index (only PENDING charges, `EXPIRY#…` partitions), the hold index (only charges whose cautelar hold is HELD, `HOLD#…` partitions) and the owing index (only disputes that still owe, `ACCOUNT#…#DISPUTES#OWING` partitions) |
//! | `ttl` | N | TTL attribute, epoch **seconds** |
//! | `entity` | S | item type (`ACCOUNT`, `CLIENT`, `CHARGE`, `EXTID`, `IDEM`, `E2E`, `MOVEMENT`, `BALANCE`, `SPLIT`, `RECIPIENT`, `PAYOUT`, `OUTBOX`, `SCHEDULE`, `EVENT`, `WEBHOOK_ENDPOINT`, `DELIVERY`, `DISPUTE`), for humans and for the stream relay |
//!
//! The table has a stream with NEW_AND_OLD_IMAGES: the outbox relay reads inserted `OUTBOX`
//! items from it, and inserted `EVENT` items as the events' webhook messages (see
//! [`outbox`]).
//!
//! Billing is PAY_PER_REQUEST. [`create_table`] (module [`table`]) is the definition in code;
//! the SAM template mirrors it exactly:
//!
//! ```yaml
//! Table:
//!   Type: AWS::DynamoDB::Table
//!   Properties:
//!     BillingMode: PAY_PER_REQUEST
//!     AttributeDefinitions:
//!       - { AttributeName: pk,     AttributeType: S }
//!       - { AttributeName: sk,     AttributeType: S }
//!       - { AttributeName: gsi1pk, AttributeType: S }
//!       - { AttributeName: gsi1sk, AttributeType: S }
//!       - { AttributeName: gsi2pk, AttributeType: S }
//!       - { AttributeName: gsi2sk, AttributeType: S }
//!       - { AttributeName: gsi3pk, AttributeType: S }
//!       - { AttributeName: gsi3sk, AttributeType: S }
//!     KeySchema:
//!       - { AttributeName: pk, KeyType: HASH }
//!       - { AttributeName: sk, KeyType: RANGE }
//!     GlobalSecondaryIndexes:
//!       - IndexName: gsi1
//!         KeySchema: [{ AttributeName: gsi1pk, KeyType: HASH }, { AttributeName: gsi1sk, KeyType: RANGE }]
//!         Projection: { ProjectionType: ALL }
//!       - IndexName: gsi2
//!         KeySchema: [{ AttributeName: gsi2pk, KeyType: HASH }, { AttributeName: gsi2sk, KeyType: RANGE }]
//!         Projection: { ProjectionType: ALL }
//!       - IndexName: gsi3
//!         KeySchema: [{ AttributeName: gsi3pk, KeyType: HASH }, { AttributeName: gsi3sk, KeyType: RANGE }]
//!         Projection: { ProjectionType: ALL }
//!     TimeToLiveSpecification: { AttributeName: ttl, Enabled: true }
//!     StreamSpecification: { StreamViewType: NEW_AND_OLD_IMAGES }
//! ```
//!
//! # Item types
//!
//! | item | `pk` | `sk` | index keys | other attributes |
//! |---|---|---|---|---|
//! | account | `ACCOUNT#{accountId}` | `ACCOUNT` | — | serde of `Account` |
//! | client credential | `CLIENT#{clientId}` | `CLIENT` | — | serde of `ClientCredential` (secret only as its hash) |
//! | charge | `CHARGE#{transactionId}` | `CHARGE` | `gsi1pk` = `ACCOUNT#{accountId}#CHARGES`, `gsi1sk` = `{createdAtMs:015}#{transactionId}`; `gsi2pk` = `ACCOUNT#{accountId}#CHARGES#{STATUS}`, `gsi2sk` = `gsi1sk`; only while PENDING: `gsi3pk` = `EXPIRY#{shard:02}` (shard = `balance_shard(transactionId) % 16`), `gsi3sk` = `{expiresAtMs:015}#{transactionId}`; only while its cautelar hold is HELD (never PENDING then): `gsi3pk` = `HOLD#{shard:02}` (the same shard), `gsi3sk` = `{hold.untilMs:015}#{transactionId}`; no `gsi3` keys otherwise | `ChargeRecord` (money as integer centavos in `N`, times as epoch ms; `refunds` (list) once one is requested, `refundRevision` (N, +1 per refund, dispute or hold-ending write, absent = 0); `hold` (a map: `HoldRecord`, `untilMs`, `state` `HELD`\|`RELEASED`\|`RETURNED`, …) when its payment was held, kept once the hold ends; a legacy single `refund` is read as the first of `refunds` and removed by the next rewrite) |
//! | externalId guard | `ACCOUNT#{accountId}#EXTID#{externalId}` | `EXTID` | — | `accountId`, `externalId`, `transactionId` |
//! | idempotency record | `ACCOUNT#{accountId}#IDEM#{key}` | `IDEM` | — | `state` (`IN_PROGRESS`\|`COMPLETED`), `requestHash`, `lockToken`, `leaseUntilMs`, `expiresAtMs`, `ttl` (= `expiresAtMs` / 1000), `responseStatus`, `responseBody` |
//! | end-to-end id guard | `E2E#{endToEndId}` | `E2E` | — | `transactionId`, `accountId` |
//! | ledger movement | `MOVEMENT#{movementId}` | `MOVEMENT` | `gsi1pk` = `ACCOUNT#{accountId}#LEDGER#{shard:02}` (shard = `movement.balance_shard()`), `gsi1sk` = `{createdAtMs:015}#{movementId}` | `MovementRecord` (legs in integer centavos) |
//! | balance shard | `ACCOUNT#{accountId}#BALANCE#{shard:02}` (32 per account) | `BALANCE` | — | `incomingCents`, `availableCents`, `reservedForSplitsCents`, `recipientDebtsCents`, `heldCents`, `owedCents` (N, running totals; absent = 0), `accountId` |
//! | split entry | `CHARGE#{transactionId}` (its charge's partition) | `SPLIT#{index:02}` | only while `SCHEDULED` (booked so, or back after a failed payout window): `gsi2pk` = `ACCOUNT#{accountId}#SPLITS#SCHEDULED#{shard:02}` (shard = `balance_shard(transactionId)`), `gsi2sk` = `{createdAtMs:015}#{transactionId}#{index:02}`; from its attachment to a scheduled payout on, until it goes back to SCHEDULED (kept when settled PAID or FAILED): `gsi1pk` = `PAYOUT#{payoutId}#SPLITS`, `gsi1sk` = `{transactionId}#{index:02}` (the payout's manifest) | `SplitEntryRecord` (`attempts`: failed payout windows so far; absent = 0; `refundedCents`: what refunds took of the share, absent = 0) |
//! | recipient | `ACCOUNT#{accountId}#RECIPIENTS` (one partition per account) | `RECIPIENT#{recipientId}` | — | `RecipientRecord`: `debtCents` (N) = Σ `openDebts` (L of `{refundId, transactionId, amountCents}`, oldest first), `recoveringCents` (N, only ever `ADD`ed), `version` (N; absent = 0); created by the first refund that gives the recipient a debt |
//! | payout | `PAYOUT#{payoutId}` | `PAYOUT` | every state but `ASSEMBLING` (immediate payouts from their booking, scheduled ones from their release on): `gsi1pk` = `ACCOUNT#{accountId}#PAYOUTS`, `gsi1sk` = `{createdAtMs:015}#{payoutId}`, `gsi2pk` = `ACCOUNT#{accountId}#PAYOUTS#{STATE}` (`PROCESSING`\|`PAID`\|`FAILED`), `gsi2sk` = `gsi1sk`; only while `ASSEMBLING` (scheduled payouts), instead: `gsi2pk` = `ACCOUNT#{accountId}#PAYOUTS#ASSEMBLING#{windowMs:015}`, `gsi2sk` = `{payoutId}` | `PayoutRecord` (a scheduled payout: `splits` empty, `splitCount` and `amountCents` grown by `ADD`; `unsettledSplits` (N) counted down by its split settlement, absent = 0; `deductions` (L of `{refundId, transactionId, amountCents}`) absent until decided, then set once, maybe empty) |
//! | outbox message | `OUTBOX#{messageId}` | `OUTBOX` | — | `OutboxRecord`, `ttl` = createdAt seconds + 7 days |
//! | account event | `EVENT#{eventId}` | `EVENT` | `gsi1pk` = `ACCOUNT#{accountId}#EVENTS#{shard:02}` (shard = `balance_shard(eventId)`, 32 per account), `gsi1sk` = `{occurredAtMs:015}#{eventId}` | `AccountEventRecord` (`data` as JSON text); created only if absent, never changed |
//! | webhook endpoint | `ACCOUNT#{accountId}` (its account's partition) | `WEBHOOK_ENDPOINT` | — | `WebhookEndpointRecord` (secrets sealed; `version` N, +1 per write) |
//! | webhook delivery | `DELIVERY#{deliveryId}` (`dlv_…`, derived from the event id) | `DELIVERY` | `gsi1pk` = `ACCOUNT#{accountId}#DELIVERIES`, `gsi1sk` = `{createdAtMs:015}#{deliveryId}` | `DeliveryRecord` (`status`, `eventType` as API names; at most the newest 50 attempts; `version` N, +1 per write) |
//! | cash-out | `CASHOUT#{cashOutId}` | `CASHOUT` | `gsi1pk` = `ACCOUNT#{accountId}#CASHOUTS`, `gsi1sk` = `{createdAtMs:015}#{cashOutId}`; `gsi2pk` = `ACCOUNT#{accountId}#CASHOUTS#{STATE}`, `gsi2sk` = `gsi1sk` | `CashOutRecord` |
//! | MED dispute | `DISPUTE#{disputeId}` (`dp_…`, derived from the provider and its infraction id) | `DISPUTE` | `gsi1pk` = `ACCOUNT#{accountId}#DISPUTES`, `gsi1sk` = `{openedAtMs:015}#{disputeId}`; `gsi2pk` = `ACCOUNT#{accountId}#DISPUTES#{STATE}` (`OPEN`\|`DEFENDED`\|`WON`\|`LOST`), `gsi2sk` = `gsi1sk`; only while `stillOwedCents` > 0: `gsi3pk` = `ACCOUNT#{accountId}#DISPUTES#OWING`, `gsi3sk` = `gsi1sk` | `DisputeRecord` (`version` N, +1 per write; always written whole, so its index keys follow its state and what it owes) |
//! | cash-out externalId guard | `ACCOUNT#{accountId}#CASHOUT_EXTID#{externalId}` | `CASHOUT_EXTID` | — | `accountId`, `externalId`, `cashOutId` |
//! | payout schedule | `ACCOUNT#{accountId}` (its account's partition) | `SCHEDULE` | `gsi1pk` = `PAYOUT_SCHEDULES#{shard:02}` (shard = `balance_shard(accountId) % 16`), `gsi1sk` = `{nextRunAtMs:015}#{accountId}` | `ScheduleRecord`: `accountId`, `frequency`, `time` (`HH:MM`, São Paulo), `weekday`? (WEEKLY), `dayOfMonth`? (MONTHLY), `nextRunAtMs`, `version` (N, +1 per write), `updatedAtMs`; while a scheduler run holds a window: `leaseRunId`, `leaseWindowMs`, `leaseUntilMs` (all three or none) |
//!
//! A confirmed charge also stores `payment` (a map: `PaymentRecord`) and `confirmedAtMs`, and
//! one whose payment arrived under a cautelar hold stores `hold` (a map: `HoldRecord`) from
//! that same confirmation on; a pending one has none of them, and charge reads decode every
//! form. Its `gsi3` keys say which due index it is in: `EXPIRY#…` while PENDING, `HOLD#…`
//! while its hold is HELD (a CONFIRMED charge can therefore carry `gsi3` keys), none once it
//! is in neither.
//!
//! Only charges (and, while PENDING, the expiry index; while HELD, the hold index), disputes (and, while they owe, the owing index), cash-outs, movements, payouts, SCHEDULED split entries, split entries of scheduled
//! payouts, account events, webhook deliveries and payout schedules carry index attributes (sparse indexes: a
//! split entry leaving SCHEDULED loses its `gsi2` keys in the same write — rewritten whole by
//! settlement, updated with `REMOVE` by the scheduler — and one going back to SCHEDULED after a
//! failed payout is rewritten whole exactly like a freshly booked one: scheduled `gsi2` keys,
//! no manifest keys, no `payoutId`; an ASSEMBLING payout has no listing keys, and its release
//! replaces its assembling `gsi2` keys by the listing ones). **Any state change of a listed
//! payout must rewrite its `gsi2pk` in the same write that changes `state`** (today: the
//! release Update and the settlement's whole-item Put). Every account has a schedule item from its creation on (written in the account's own
//! transaction); an account without one predates schedules and is shown the default. Only the
//! idempotency record and the outbox message have a TTL; the outbox one outlives the stream's
//! 24 h retention by far, so TTL never deletes a message before the relay could read it. `sk`
//! is a constant per type (or, for split entries, `SPLIT#…` under a `CHARGE#` partition whose
//! charge is `CHARGE`), so two item types can never share a primary key, whatever characters a
//! client puts in an `externalId` or idempotency key.
//!
//! Why the sort key is `{createdAtMs:015}#{transactionId}` (15 digits = up to year 33658):
//! string order is (creation time, id) order, every position is unique (so a cursor is
//! exact even when several charges share a millisecond), and a time bound is just a prefix.
//! `gsi2sk` is a separate attribute with the same value (rather than reusing `gsi1sk`) so
//! that later item types can use `gsi2` with their own sort keys. **Any status change of a
//! charge must rewrite `gsi2pk` in the same conditional update that changes `status`.**
//!
//! # Access patterns
//!
//! | use | operation |
//! |---|---|
//! | create account + first credential + default payout schedule (DAILY 09:00) | `TransactWriteItems`: 3 × Put `attribute_not_exists(pk)` |
//! | get account / client (token endpoint) | GetItem, strongly consistent |
//! | set an account's provider order / refund policy | UpdateItem of that one attribute, `attribute_exists(pk)` |
//! | get a recipient | GetItem, strongly consistent |
//! | claim an idempotency key | one conditional PutItem (`attribute_not_exists(pk) OR expiresAtMs < :now OR (state = IN_PROGRESS AND leaseUntilMs < :now AND requestHash = :hash)`), `ReturnValuesOnConditionCheckFailure = ALL_OLD` decides Mismatch / Replay / InUse |
//! | complete / release a claim | UpdateItem / DeleteItem conditioned on `state = IN_PROGRESS AND lockToken = :token` |
//! | create a charge | `TransactWriteItems`: Put charge + Put guard (both `attribute_not_exists(pk)`) + Update idempotency record (as *complete*); cancellation reasons are decoded by position |
//! | charge by id (webhooks, public location) | GetItem, strongly consistent; ownership is checked by the service |
//! | charge by externalId | GetItem guard → GetItem charge, strongly consistent |
//! | list charges (newest first, `[from, to)`, cursor) | Query `gsi1` (or `gsi2` with a status), `ScanIndexForward = false` |
//! | confirm a charge | `TransactWriteItems`: Update charge (`attribute_exists(pk) AND (status = PENDING OR status = EXPIRED) AND accountId = :acc`; SET `status`, `gsi2pk`, `payment`, `confirmedAtMs`, and REMOVE `gsi3pk`, `gsi3sk` (it leaves the expiry index); a held payment instead also SETs `hold` and SETs `gsi3pk`/`gsi3sk` to the hold index keys, replacing the expiry ones) + Put e2e guard + Put movement (a held payment's into `held`) + Update balance shard + Put each event (`CASHIN_CONFIRMED`, or `CASHIN_HELD`) + Put each outbox message |
//! | book a charge's splits | `TransactWriteItems`: ConditionCheck charge (`status = CONFIRMED AND accountId = :acc AND (attribute_not_exists(hold) OR hold.state <> HELD)`: a held payment is booked after its release) + Put each split entry + Put each payout + Put movement + Update balance shard + Put each outbox message + Put each repaid dispute, whole (`version = :read AND accountId = :acc`; its `still owed` lower, the owing `gsi3` keys left out once 0) |
//! | decide a payout's deductions (netting) | `TransactWriteItems`: Update payout (SET `deductions`, maybe an empty list; `state = PROCESSING AND accountId = :acc AND attribute_not_exists(deductions)`) + (if it takes debt) Update recipient (SET `openDebts`, `debtCents`, `version`; ADD `recoveringCents` what it took; `attribute_exists(pk)`, same account and recipient, `version = :read`, absent for 0) |
//! | settle a payout | `TransactWriteItems`: Put payout (`state = PROCESSING AND accountId = :acc AND deductions = :decided`, `attribute_not_exists(deductions)` when undecided; its listing keys follow the new state) + Put each split entry (`state = PROCESSING AND payoutId = :pid AND accountId = :acc`) + (if the settlement moves money) Put movement + Update balance shard + Put each event + Put each outbox message + (if it had deductions) Update recipient (`recoveringCents >= Σ`, same account and recipient; ADD `recoveringCents` −Σ; FAILED: also SET `openDebts = list_append(:parts, openDebts)`, ADD `debtCents` Σ, `version` 1) |
//! | settle a chunk of a settled scheduled payout's splits (≤ 48) | `TransactWriteItems`: Update payout (`ADD unsettledSplits -n`, SET `updatedAtMs`; `state = :settledState AND accountId = :acc AND unsettledSplits >= n`) + Put each split entry, whole (`state = PROCESSING AND payoutId = :pid AND accountId = :acc`; PAID/FAILED keep the manifest keys, SCHEDULED gets the scheduled keys) + (if any split failed for good) Put movement + Update balance shard + Put each event — at most 1 + 48 + 2 + 48 = 99 items |
//! | (in all of the above) | every Put of a new item (movement, event, outbox message, …) is `attribute_not_exists(pk)`; the balance shard is `ADD incomingCents, availableCents, reservedForSplitsCents, recipientDebtsCents` with the movement's delta, only ever next to the movement's guarded Put; any failed condition = `WriteOutcome::Conflict`, nothing written |
//! | transition a charge (expiry, a refund's settlement, a hold's release or return) | `TransactWriteItems`: Update charge SETting every attribute of its new item (the `gsi3` keys of the index it is in: expiry while PENDING, hold while HELD) and REMOVing the optional ones it lacks (`payment`, `hold`, `refunds`, `refundRevision`, always the legacy `refund`, the `gsi3` keys when it is in neither index, so a released or returned hold leaves the hold index in the same write), `attribute_exists(pk) AND status = :from AND accountId = :acc AND refundRevision = :rev` (`attribute_not_exists` for revision 0) + (if any) Put movement + Update its balance shard + Put each event + Put each outbox message |
//! | request a refund | `TransactWriteItems`: the charge Update as above (status and refund revision as read) + Put each reduced (or cancelled) split, whole (`state = SCHEDULED AND attribute_not_exists(payoutId) AND accountId = :acc AND refundedCents = :read`, absent for 0) + per new debt Update its recipient (`SET` each attribute `if_not_exists`, `openDebts = list_append(if_not_exists(openDebts, []), :part)`, `ADD debtCents, version`; `attribute_not_exists(pk) OR` same account and recipient) + Put movement + one Update per shard update (`ADD` the delta; a shard the draw takes `available` from is conditioned `availableCents >= :part`) + Put each outbox message + (optional) Update idempotency record (as *complete*); ≤ 100 items or refused before sending |
//! | open a dispute | `TransactWriteItems`: Put dispute (`attribute_not_exists(pk)`) + the charge Update as for a refund (status and refund revision as read, with the dispute's claim) + Put each reduced (or cancelled) split as for a refund + per recipient Update its totals + Put movement + the shard Updates (as for a refund) + Put each event; decoded by item role like a cash-out (`Conflict` unless only a shard of the draw failed: `BalanceChanged`) |
//! | defend a dispute | one PutItem of the whole dispute, `version = :read AND accountId = :acc` |
//! | decide a dispute | `TransactWriteItems`: Put dispute, whole (`version = :read AND accountId = :acc`; its `gsi2pk` follows the state, a won dispute leaves the owing index) + the charge Update (status and revision as read) + Put each restored split (`state IN (SCHEDULED, CANCELLED) AND attribute_not_exists(payoutId) AND accountId = :acc AND refundedCents = :read`) + per recipient Update (a lost dispute's debt appended as a refund's; the totals) + Put movement + Update its shard + Put each event |
//! | dispute by id | GetItem `DISPUTE#{id}`, strongly consistent |
//! | an account's disputes (newest first, cursor, optional state) | Query `gsi1` on `ACCOUNT#{accountId}#DISPUTES` (or `gsi2` on `…#DISPUTES#{STATE}`), `ScanIndexForward = false`, `gsi1sk <` the cursor's key |
//! | an account's disputes that still owe (a booking repays them) | Query `gsi3` on `ACCOUNT#{accountId}#DISPUTES#OWING`, oldest first, up to 5 (more when the index still shows one repaid meanwhile), then GetItem each, strongly consistent, keeping those that still owe |
//! | request a cash-out | `TransactWriteItems`: Put cash-out + Put its externalId guard (both `attribute_not_exists(pk)`) + Put movement + the shard Updates (as for a refund) + Put each outbox message + (optional) idempotency completion. Cancellation reasons are decoded by item role: claim → `ClaimLost`, guard → `DuplicateExternalId`, any other non-shard item → `Conflict`, else a shard → `BalanceChanged` |
//! | settle a cash-out | `TransactWriteItems`: Put cash-out, whole (`state = :from AND accountId = :acc`; `gsi2pk` follows the state) + (if any) Put movement + Update its shard + Put each event |
//! | cash-out by id / by externalId | GetItem, strongly consistent / GetItem guard → GetItem cash-out |
//! | an account's cash-outs (newest first, `[from, to)`, cursor, optional state) | Query `gsi1` on `ACCOUNT#{accountId}#CASHOUTS` (or `gsi2` on `…#CASHOUTS#{STATE}`), `ScanIndexForward = false`, bounds as for charges |
//! | balance shard by shard (to plan a debit of `available`) | the balance BatchGetItem, per shard |
//! | a page of the statement (oldest first, `[from, to)`, start position inclusive or not) | Query `gsi1` on each of the 32 `…#LEDGER#{shard}` partitions (8 at a time) from the start key (`>=` / `>` `{createdAtMs:015}#{movementId}`, `BETWEEN` with an upper `to` bound, the start item dropped when exclusive), at most a page each, merged by (createdAt, id) and cut to the page |
//! | PENDING charges expired at `now` (expiry sweeper) | Query `gsi3` on each of the 16 `EXPIRY#{shard}` partitions (8 at a time), `gsi3sk < {now+1 ms:015}`, oldest first, at most `limit` each, merged soonest first (ties by transaction id) and cut to `limit`; the charges are read from the projection (ALL), entries whose charge is no longer PENDING (index lag) skipped |
//! | charges whose cautelar hold is due at `now` (hold sweeper) | the same read on the 16 `HOLD#{shard}` partitions (`gsi3sk < {now+1 ms:015}`, by the hold's `until`), entries whose projected hold is no longer HELD or not yet due skipped; an entry the table has released meanwhile can still come back (index lag): the release is a transition conditioned on the status and refund revision read, so it then conflicts and the sweeper re-reads |
//! | movement exists | GetItem, strongly consistent |
//! | charge by end-to-end id | GetItem guard, strongly consistent |
//! | a charge's split entries | Query `pk = CHARGE#{id} AND begins_with(sk, "SPLIT#")`, strongly consistent, paginated |
//! | payout by id | GetItem, strongly consistent |
//! | balance | BatchGetItem of the 32 shard keys, strongly consistent, unprocessed keys retried with backoff; absent shards are zero |
//! | an account's movements | Query `gsi1` on each of the 32 `…#LEDGER#{shard}` partitions (8 at a time, paginated), merged by (createdAt, id) |
//! | SCHEDULED splits of an account booked by a cut-off, a page after a cursor (payout scheduler) | Query `gsi2` on each of the 32 `…#SPLITS#SCHEDULED#{shard}` partitions, `gsi2sk <= {cutoffMs:015}~` (and `>` the cursor's `gsi2sk`: the index order is global, so the cursor is every shard's position), 8 at a time, in chunks of about a page's share per shard, k-way merged; an emptied shard is re-queried from its `LastEvaluatedKey` before the next pick |
//! | claim a window / finish a run (payout scheduler) | one UpdateItem of the schedule: claim SETs the lease and `ADD version 1`, conditioned on (lease expired `AND leaseWindowMs = :window`) or (no lease `AND nextRunAtMs <= :window`); finish SETs `nextRunAtMs`, `gsi1sk`, `version + 1` and REMOVEs the lease, conditioned on `leaseRunId = :run AND version = :expected` |
//! | attach ≤ 99 splits of one recipient to its scheduled payout | `TransactWriteItems`: Update payout (`ADD amountCents, splitCount`, SET the rest with `if_not_exists`, the assembling `gsi2` keys; `attribute_not_exists(pk) OR (state = ASSEMBLING AND` same account and recipient`)`) + per split Update (SET `state = PROCESSING`, `payoutId`, manifest `gsi1` keys, REMOVE `gsi2pk`, `gsi2sk`; `state = SCHEDULED AND` same account, recipient, amount and `refundedCents` as read, absent for 0; the payout's amount is Σ of the splits' payable = share − refunded) |
//! | ASSEMBLING payouts of a window | Query `gsi2` on `ACCOUNT#{accountId}#PAYOUTS#ASSEMBLING#{windowMs:015}` |
//! | release a payout | GetItem payout (strongly consistent: its account and creation time make the listing keys; not ASSEMBLING = `Conflict`), then `TransactWriteItems`: Update payout (`state = ASSEMBLING AND accountId = :acc AND createdAtMs = :created` → PROCESSING; SET `gsi1pk`/`gsi1sk` listing keys and `gsi2pk`/`gsi2sk` = the PROCESSING partition, replacing the assembling keys) + Put each outbox message (`attribute_not_exists`) |
//! | a scheduled payout's splits (its manifest) | Query `gsi1` on `PAYOUT#{payoutId}#SPLITS`, `gsi1sk >` the cursor |
//! | an account's payouts (newest first, `[from, to]` inclusive, cursor, optional state) | Query `gsi1` on `ACCOUNT#{accountId}#PAYOUTS` (or `gsi2` on `ACCOUNT#{accountId}#PAYOUTS#{STATE}`), `ScanIndexForward = false`, bounds as for charges with `to` + 1 ms as the exclusive upper bound; state ASSEMBLING lists nothing (an ASSEMBLING item that still has `gsi1` keys, written before releases set them, is skipped and the page still fills) |
//! | an account's events (oldest first, after an event id) | GetItem `EVENT#{after}` (strongly consistent) for its sort key (not this account's event = nothing after it), then Query `gsi1` on each of the 32 `…#EVENTS#{shard}` partitions, `gsi1sk >` that key, 8 at a time, in chunks of about a page's share, k-way merged (like the SCHEDULED splits) |
//! | an account's payout schedule | GetItem `ACCOUNT#{accountId}` / `SCHEDULE`, strongly consistent |
//! | replace a payout schedule | one UpdateItem that SETs every schedule attribute (REMOVEs an absent `weekday`/`dayOfMonth`) and never touches the lease, conditioned on `attribute_not_exists(pk)` (none stored yet) or `version = :expected` (the version the caller read); a failed condition = `WriteOutcome::Conflict`, nothing written |
//! | schedules due at `t` (payout scheduler) | Query `gsi1` on each of the 16 `PAYOUT_SCHEDULES#{shard}` partitions, `gsi1sk < {t+1 ms:015}`, oldest first |
//! | webhook endpoint of an account | GetItem `ACCOUNT#{accountId}` / `WEBHOOK_ENDPOINT`, strongly consistent |
//! | create / replace the webhook endpoint | one PutItem of the whole item, conditioned on `attribute_not_exists(pk)` (create) or `version = :expected` (replace); a failed condition = `WriteOutcome::Conflict`, nothing written |
//! | an event by id (webhook dispatcher, redelivery) | GetItem `EVENT#{eventId}`, strongly consistent; another account's = none |
//! | create a delivery | one PutItem, `attribute_not_exists(pk)` (a second one for the same event = `Conflict`) |
//! | a delivery by id | GetItem `DELIVERY#{id}`, strongly consistent; another account's = none |
//! | record an attempt / claim / redeliver | with the next attempt's message: `TransactWriteItems`: Put delivery, whole (`version = :expected AND accountId = :acc`) + Put outbox message (`attribute_not_exists`; one that exists already is left alone and the delivery is written by itself); without: the same conditional Put as one PutItem |
//! | an account's deliveries (newest first, optional event type / status, cursor) | Query `gsi1` on `ACCOUNT#{accountId}#DELIVERIES`, `ScanIndexForward = false`, `gsi1sk <` the cursor's position, the filters as a FilterExpression; at most 5 Queries per call (each evaluating ≤ 200 deliveries when filtered), so a filtered page may be short, with a cursor at the last item examined |
//! | relay the outbox | the table's stream: INSERT records whose new image has `entity = OUTBOX` (the message) or `entity = EVENT` (its webhook message) |
//!
//! No Scan anywhere. Index reads are **eventually consistent** (GSIs cannot be read
//! consistently): a charge created a moment ago may be missing from a listing for a short
//! while, although `get_charge` and `find_charge_by_external_id` already see it; likewise a
//! movement from `list_movements`, although the balance (base-table reads) already has it, a
//! payout from `list_payouts` (or listed in its previous state), an event from `list_events`,
//! a delivery from `list_deliveries` (or listed with its previous status).
//!
//! Listing: the partition key is always built from the account id argument. `from`/`to`
//! become `gsi1sk >= {from:015}` / `gsi1sk < {to:015}`; a cursor `(createdAtMs, id)` becomes
//! `gsi1sk < {createdAtMs:015}#{id}`; with both bounds, `BETWEEN` plus dropping the item
//! exactly at the upper bound. A cursor from another account can therefore only move the
//! position inside the caller's own partition. One item more than the limit is read to know
//! whether a next page exists.
//!
//! Expired idempotency records: DynamoDB's TTL deletes items lazily (typically within days),
//! so expiry is enforced by the claim condition (`expiresAtMs < :now` counts as absent), never
//! by relying on TTL.
//!
//! # Concurrency
//!
//! Every state change is conditional; multi-item changes are one transaction. A transaction
//! cancelled only by `TransactionConflict` (another transaction on the same item, expected
//! under concurrent identical requests) is retried up to [`errors::CONFLICT_ATTEMPTS`] times
//! with exponential backoff and full jitter; if it still conflicts, the items are re-read
//! (strongly consistent) to report what the competitors left behind (a guard → duplicate
//! externalId, an idempotency record no longer ours → claim lost; for a settlement write, its
//! deterministic movement or one of its deterministic events existing → someone made this
//! change, `Conflict`; for a chunk of a scheduled payout's splits, also one of its splits no
//! longer PROCESSING in the payout). Single-item writes that hit
//! `TransactionConflictException` are retried the same way. Throttling, network and other
//! failures (after the SDK's own retries) become `StoreError::Unavailable`, carrying the SDK
//! error's whole cause chain.
//!
//! Every transaction is written with `transact::transact_write` (the one place that sends
//! `TransactWriteItems` and runs that retry loop; callers only decode the cancellation reasons
//! by position and do the re-read). Conditional single-item writes retry with
//! `errors::write_retrying_conflicts`, except the idempotency claim's PutItem, which needs the
//! old item returned with a failed condition.
//!
//! # Hot partitions (known limit, not needed yet)
//!
//! Every charge of an account is written to the single `gsi1pk` value of that account (and one
//! `gsi2pk` per status). A GSI partition key value sustains about 1,000 write units per
//! second, and with projection ALL a charge of 2–3 KB costs 2–3 units per index write, so one
//! account can create roughly 300–500 charges per second before its index partition
//! throttles — and GSI throttling back-pressures writes to the table itself. Base-table keys
//! (`CHARGE#{id}`, guards, idempotency records) are spread by random ids and have no such
//! limit. When an account approaches it, the plan is write sharding: `gsi1pk` =
//! `ACCOUNT#{accountId}#CHARGES#{shard}` with `shard = hash(transactionId) % N` (N stored on
//! the account item, only ever increased, old charges keep their shard), likewise for
//! `gsi2pk`; a listing then queries the N shards in parallel and merges them by `gsi1sk`
//! (the cursor stays `(createdAtMs, id)`, a global order, so it works unchanged). A
//! KEYS_ONLY/INCLUDE projection would cut index write units too, at the price of a
//! BatchGetItem per page.
//!
//! The settlement items are built for hot accounts from the start: balances are 32 shard
//! items per account and each movement adds to exactly one (chosen by hashing its id), and
//! the ledger index uses the same 32 partitions, so 3,000 movements/s on one account are
//! ~94 writes/s per item and per index partition. SCHEDULED splits are spread over 32 index
//! partitions by their charge id the same way, and so are an account's events by their id (a
//! scheduled payout of 100,000 splits records 100,000 events, about 48 per transaction, as fast
//! as the executor settles its chunks). Only `ACCOUNT#{accountId}#PAYOUTS` and its per-state
//! partitions are single partitions, one or two index writes per payout state change
//! (scheduled payouts group many splits; immediate payouts share the charges' limit above).
//!
//! Webhook deliveries are one `ACCOUNT#{accountId}#DELIVERIES` partition per account, and
//! every write of a delivery (creation, claim, recorded attempt) is an index write: about
//! three per event. An account whose events come in bursts (a scheduled payout of 100,000
//! splits) therefore writes its delivery index at up to three times its event rate, and the
//! dispatcher's throughput for that account is bounded by that partition (~1,000 write units
//! per second, a delivery with a long attempt log costing several). The plan when that
//! matters is the events' layout: 32 shards by a hash of the delivery id, listed by a
//! newest-first k-way merge with the cursor as every shard's position.
//!
//! Payout schedules are global, not per account: the scheduler must find every due account
//! with a key-bounded query. Most accounts keep the default 09:00 window, so a single due
//! partition would take every schedule write of the 09:00 rush (each run rewrites its
//! schedule to advance `nextRunAtMs`) and every scheduler read at once, beyond what one index
//! partition sustains with many accounts. The due index is therefore spread over 16
//! partitions (`PAYOUT_SCHEDULES#00` … `#15`, by a stable hash of the account id), which the
//! scheduler queries in parallel; within a partition `gsi1sk` orders schedules by next run. A confirmation
//! still rewrites the charge's `gsi2pk` into the account's CONFIRMED status partition: that is
//! the charges-index limit above, with the same sharding plan; no base-table item is written by
//! every confirmation of an account.

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use pixgw_domain::error::StoreError;
use tracing::debug;

// The storage ports, one module per aggregate of the domain (the same map as
// `pixgw-store-embedded`).
mod account;
mod cash_out;
mod charge;
mod dispute;
mod events;
mod idempotency;
mod ledger;
pub mod outbox;
mod payout;
mod payout_run;
mod recipient;
mod refund;
mod schedule;
mod split;
mod webhooks;

// What several ports share: the ledger half of every money write.
mod ledger_write;

// DynamoDB plumbing.
pub mod errors;
mod items;
pub mod keys;
mod listing;
mod merge;
pub mod table;
mod transact;
mod versioned;

pub use errors::SetupError;
pub use outbox::{DynamoStreamFeed, outbox_message_from_image};
pub use table::create_table;

use crate::keys::{Item, primary_key};

/// Environment variable naming the table ([`DynamoStore::from_env`]).
pub const TABLE_ENV: &str = "PIXGW_TABLE";
/// Optional environment variable with an endpoint override, e.g. DynamoDB Local.
pub const ENDPOINT_ENV: &str = "DYNAMODB_ENDPOINT";

/// The DynamoDB implementation of every storage port.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// Builds the SDK client from the default AWS configuration chain (region, credentials),
    /// pointing at `endpoint` when one is given (DynamoDB Local).
    pub async fn connect(endpoint: Option<String>, table: impl Into<String>) -> DynamoStore {
        DynamoStore::new(sdk_client(endpoint).await, table)
    }

    /// [`DynamoStore::connect`] with the table from `PIXGW_TABLE` and the optional endpoint
    /// from `DYNAMODB_ENDPOINT` (DynamoDB Local).
    pub async fn from_env() -> Result<DynamoStore, SetupError> {
        let table = std::env::var(TABLE_ENV)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or(SetupError::MissingEnv(TABLE_ENV))?;
        let endpoint = std::env::var(ENDPOINT_ENV).ok().filter(|e| !e.is_empty());
        Ok(DynamoStore::connect(endpoint, table).await)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A strongly consistent GetItem by primary key.
    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(primary_key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| errors::unavailable("GetItem", &err))?;
        debug!(found = out.item.is_some(), sk, "GetItem");
        Ok(out.item)
    }
}

/// Every item a query matches, all pages of it (the SDK's paginator follows
/// `LastEvaluatedKey`). For reads whose result is bounded by design (one charge's splits, one
/// ledger partition); listings that stop at a page size page by hand.
pub(crate) async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>, StoreError> {
    let mut pages = query.into_paginator().send();
    let mut items = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| errors::unavailable("Query", &err))?;
        items.extend(page.items.unwrap_or_default());
    }
    Ok(items)
}

/// An SDK client from the default configuration chain, with an optional endpoint override.
pub async fn sdk_client(endpoint: Option<String>) -> Client {
    Client::new(&sdk_config(endpoint).await)
}

/// The default configuration chain with an optional endpoint override, shared by the
/// DynamoDB and the DynamoDB Streams clients (DynamoDB Local serves both on one endpoint).
pub(crate) async fn sdk_config(endpoint: Option<String>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}
