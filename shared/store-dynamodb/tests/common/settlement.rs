//! Settlement fixtures: a pending charge with one immediate and one scheduled split, and the
//! writes of its pipeline (confirm, book, settle) with the money following the ledger's rules:
//! confirm = PIX network → incoming (gross); book = incoming → available (remainder) +
//! reservedForSplits (Σ shares); paid = reserve → PIX network; failed = reserve → available.

use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use pixgw_domain::charge::ports::ConfirmCharge;
use pixgw_domain::charge::{Charge, ChargeSplit};
use pixgw_domain::ledger::{Bucket, LedgerAccount, Leg, Movement, MovementKind};
use pixgw_domain::messaging::outbox::{OutboxMessage, PipelineMessage};
use pixgw_domain::messaging::queue::QueueName;
use pixgw_domain::payout::ports::SettlePayout;
use pixgw_domain::payout::{Payout, PayoutId, PayoutState, PayoutTrigger};
use pixgw_domain::pix::document::TaxDocument;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::pix::money::Money;
use pixgw_domain::pix::payment::{EndToEndId, EndToEndKind, Ispb, PaidBy, PayerBankData, Payment};
use pixgw_domain::pix::pix_key::PixKeyType;
use pixgw_domain::recipient::RecipientTotals;
use pixgw_domain::split::entry::{SplitEntry, SplitState};
use pixgw_domain::split::ports::BookSplits;
use pixgw_domain::split::{SplitRule, SplitValue};

use super::{at_ms, charge};

pub const GROSS: i64 = 10_000;
pub const IMMEDIATE_SHARE: i64 = 1_000;
pub const SCHEDULED_SHARE: i64 = 500;
pub const REMAINDER: i64 = GROSS - IMMEDIATE_SHARE - SCHEDULED_SHARE;

/// A PENDING charge of `account` (10,000 centavos) with an immediate 1,000 split (index 0) and
/// a scheduled 500 split (index 1).
pub fn split_charge(account: &AccountId, created_at_ms: i64) -> Charge {
    let mut c = charge(
        account,
        &format!("ext-{}", uuid::Uuid::new_v4()),
        created_at_ms,
    );
    c.splits.push(ChargeSplit {
        rule: SplitRule {
            pix_key: "11222333000181".into(),
            pix_key_type: PixKeyType::Cnpj,
            name: "Parceiro Agendado".into(),
            document: TaxDocument::parse("11222333000181").expect("valid CNPJ"),
            value: SplitValue::Fixed(Money::from_cents(SCHEDULED_SHARE)),
            immediate: false,
        },
        amount: Money::from_cents(SCHEDULED_SHARE),
    });
    c.remainder = Money::from_cents(REMAINDER);
    c
}

pub fn payment(at: DateTime<Utc>) -> Payment {
    let ispb = Ispb::parse("00416968").expect("ispb");
    Payment {
        end_to_end_id: EndToEndId::generate(EndToEndKind::Payment, &ispb, at),
        paid_at: at,
        paid_by: PaidBy {
            name: "Maria da Silva".into(),
            document: "12345678909".into(),
            bank: PayerBankData::new(ispb, "0001", "123456").expect("bank data"),
        },
        provider: "sandbox".to_owned(),
        provider_event_id: format!("evt-{}", uuid::Uuid::new_v4().simple()),
    }
}

/// The confirmation of `c` at `at_ms` with a fresh payment.
pub fn confirm_write(c: &Charge, at_millis: i64) -> ConfirmCharge {
    let at = at_ms(at_millis);
    let account = &c.account_id;
    let movement = Movement::transfer(
        MovementKind::ChargeConfirmed,
        account,
        c.transaction_id.as_str(),
        LedgerAccount::PixNetwork,
        LedgerAccount::Merchant(account.clone(), Bucket::Incoming),
        c.amount,
        at,
    )
    .expect("movement");
    let message = PipelineMessage::ChargeConfirmed {
        transaction_id: c.transaction_id.clone(),
        account_id: account.clone(),
    };
    ConfirmCharge {
        transaction_id: c.transaction_id.clone(),
        account_id: account.clone(),
        payment: payment(at),
        confirmed_at: at,
        hold: None,
        movement,
        events: Vec::new(),
        outbox: vec![message.to_outbox(at)],
    }
}

fn entry(c: &Charge, index: u8, state: SplitState, at: DateTime<Utc>) -> SplitEntry {
    SplitEntry {
        transaction_id: c.transaction_id.clone(),
        account_id: c.account_id.clone(),
        index,
        split: c.splits[usize::from(index)].clone(),
        state,
        payout_id: None,
        end_to_end_id: None,
        failure_reason: None,
        attempts: 0,
        refunded: Money::ZERO,
        created_at: at,
        updated_at: at,
    }
}

/// The booking of `c`'s splits at `at_ms`: index 0 PROCESSING in its own immediate payout,
/// index 1 SCHEDULED.
pub fn book_write(c: &Charge, at_millis: i64) -> BookSplits {
    let at = at_ms(at_millis);
    let account = &c.account_id;
    let payout_id = PayoutId::for_immediate_split(&c.transaction_id, 0);
    let immediate = SplitEntry {
        payout_id: Some(payout_id.clone()),
        ..entry(c, 0, SplitState::Processing, at)
    };
    let scheduled = entry(c, 1, SplitState::Scheduled, at);
    let payout = Payout {
        id: payout_id.clone(),
        account_id: account.clone(),
        trigger: PayoutTrigger::Immediate,
        recipient: immediate.recipient(),
        amount: immediate.split.amount,
        splits: vec![immediate.key()],
        split_count: 1,
        unsettled_splits: 0,
        state: PayoutState::Processing,
        end_to_end_id: None,
        deductions: None,
        provider_transfer_id: None,
        failure_reason: None,
        created_at: at,
        updated_at: at,
    };
    let merchant = |bucket, cents| Leg {
        account: LedgerAccount::Merchant(account.clone(), bucket),
        amount: Money::from_cents(cents),
    };
    let movement = Movement::new(
        MovementKind::SplitsBooked,
        account,
        c.transaction_id.as_str(),
        vec![
            merchant(Bucket::Incoming, -GROSS),
            merchant(Bucket::Available, REMAINDER),
            merchant(Bucket::ReservedForSplits, IMMEDIATE_SHARE + SCHEDULED_SHARE),
        ],
        at,
    )
    .expect("movement");
    let message = PipelineMessage::PayoutRequested {
        payout_id,
        account_id: account.clone(),
    };
    let splits = vec![immediate, scheduled];
    let recipients = RecipientTotals::scheduled_by_split(
        account,
        splits.iter().map(|s| (s, s.split.amount.cents())),
    );
    BookSplits {
        transaction_id: c.transaction_id.clone(),
        account_id: account.clone(),
        splits,
        payouts: vec![payout],
        movement,
        outbox: vec![message.to_outbox(at)],
        recipients,
        repayments: Vec::new(),
    }
}

/// The settlement (PAID or FAILED) at `at_ms` of the immediate payout `book` created.
pub fn settle_write(book: &BookSplits, state: PayoutState, at_millis: i64) -> SettlePayout {
    let at = at_ms(at_millis);
    let ispb = Ispb::parse("00416968").expect("ispb");
    let mut payout = book.payouts[0].clone();
    let mut split = book.splits[0].clone();
    let account = &payout.account_id;
    payout.state = state;
    payout.updated_at = at;
    split.updated_at = at;
    let (kind, to) = match state {
        PayoutState::Paid => {
            let e2e = EndToEndId::generate(EndToEndKind::Payment, &ispb, at);
            payout.end_to_end_id = Some(e2e.clone());
            payout.provider_transfer_id = Some("tr-1".to_owned());
            split.state = SplitState::Paid;
            split.end_to_end_id = Some(e2e);
            (MovementKind::PayoutPaid, LedgerAccount::PixNetwork)
        }
        _ => {
            payout.failure_reason = Some("recipient key not found".to_owned());
            split.state = SplitState::Failed;
            split.failure_reason = payout.failure_reason.clone();
            (
                MovementKind::PayoutFailed,
                LedgerAccount::Merchant(account.clone(), Bucket::Available),
            )
        }
    };
    let movement = Movement::transfer(
        kind,
        account,
        payout.id.as_str(),
        LedgerAccount::Merchant(account.clone(), Bucket::ReservedForSplits),
        to,
        payout.amount,
        at,
    )
    .expect("movement");
    let message = OutboxMessage {
        id: format!("payout-settled:{}", payout.id),
        queue: QueueName::WebhookDeliveries,
        body: format!("{{\"payoutId\":\"{}\"}}", payout.id),
        created_at: at,
    };
    SettlePayout {
        payout,
        splits: vec![split],
        movement: Some(movement),
        events: Vec::new(),
        outbox: vec![message],
        recipient: None,
        totals: None,
    }
}

/// Polls `read` until `done` holds (index reads are eventually consistent), for up to 10 s.
pub async fn eventually<T, F, Fut>(mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + StdDuration::from_secs(10);
    loop {
        let value = read().await;
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

/// `ms` plus `seconds`, in epoch ms.
pub fn later(ms: i64, seconds: i64) -> i64 {
    (at_ms(ms) + Duration::seconds(seconds)).timestamp_millis()
}
