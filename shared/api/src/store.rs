//! The whole store: every storage port of the domain as one object. Both storage adapters
//! (DynamoDB, embedded) implement all of them; hosts (the API state, the Lambda bootstraps, the
//! local gateway, tests) hold one and hand each flow only the ports it uses.

use std::sync::Arc;

use pixgw_domain::account::ports::AccountStore;
use pixgw_domain::cash_out::ports::CashOutStore;
use pixgw_domain::charge::ports::ChargeStore;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::dispute::ports::DisputeStore;
use pixgw_domain::flows::book_splits::SplitCalculatorPorts;
use pixgw_domain::flows::cash_out::CashOutServicePorts;
use pixgw_domain::flows::confirm::ConfirmationServicePorts;
use pixgw_domain::flows::create_charge::ChargeServicePorts;
use pixgw_domain::flows::dispute::DisputeServicePorts;
use pixgw_domain::flows::execute_payout::PayoutExecutorPorts;
use pixgw_domain::flows::expire::ExpirySweeperPorts;
use pixgw_domain::flows::refund::RefundServicePorts;
use pixgw_domain::idempotency::IdempotencyStore;
use pixgw_domain::ledger::ports::LedgerStore;
use pixgw_domain::messaging::events::EventLog;
use pixgw_domain::payout::ports::PayoutStore;
use pixgw_domain::payout::runs::PayoutRunStore;
use pixgw_domain::recipient::ports::RecipientStore;
use pixgw_domain::refund::ports::RefundStore;
use pixgw_domain::split::ports::SplitStore;
use pixgw_domain::webhooks::WebhookStore;

/// Every storage port, as one object to pass around. Only hosts hold it (the API state, the
/// Lambda bootstraps, the local gateway, tests); each flow takes just the ports it uses.
pub trait Store:
    AccountStore
    + IdempotencyStore
    + ChargeStore
    + ChargeTransitions
    + RefundStore
    + DisputeStore
    + RecipientStore
    + SplitStore
    + LedgerStore
    + PayoutStore
    + PayoutRunStore
    + CashOutStore
    + EventLog
    + WebhookStore
{
}

impl<T> Store for T where
    T: AccountStore
        + IdempotencyStore
        + ChargeStore
        + ChargeTransitions
        + RefundStore
        + DisputeStore
        + RecipientStore
        + SplitStore
        + LedgerStore
        + PayoutStore
        + PayoutRunStore
        + CashOutStore
        + EventLog
        + WebhookStore
{
}

pub type DynStore = Arc<dyn Store>;

// The ports each flow takes, cut from the whole store: the one place a host turns "everything"
// into "what this flow may touch".

pub fn charge_ports(store: &DynStore) -> ChargeServicePorts {
    ChargeServicePorts {
        charges: store.clone(),
        splits: store.clone(),
    }
}

pub fn confirmation_ports(store: &DynStore) -> ConfirmationServicePorts {
    ConfirmationServicePorts {
        charges: store.clone(),
        transitions: store.clone(),
    }
}

pub fn split_calculator_ports(store: &DynStore) -> SplitCalculatorPorts {
    SplitCalculatorPorts {
        charges: store.clone(),
        splits: store.clone(),
        disputes: store.clone(),
        ledger: store.clone(),
    }
}

pub fn payout_executor_ports(store: &DynStore) -> PayoutExecutorPorts {
    PayoutExecutorPorts {
        splits: store.clone(),
        payouts: store.clone(),
        accounts: store.clone(),
        recipients: store.clone(),
        charges: store.clone(),
        ledger: store.clone(),
    }
}

pub fn refund_ports(store: &DynStore) -> RefundServicePorts {
    RefundServicePorts {
        accounts: store.clone(),
        charges: store.clone(),
        transitions: store.clone(),
        refunds: store.clone(),
        recipients: store.clone(),
        splits: store.clone(),
        ledger: store.clone(),
        disputes: store.clone(),
    }
}

pub fn dispute_ports(store: &DynStore) -> DisputeServicePorts {
    DisputeServicePorts {
        accounts: store.clone(),
        charges: store.clone(),
        disputes: store.clone(),
        splits: store.clone(),
        ledger: store.clone(),
    }
}

pub fn cash_out_ports(store: &DynStore) -> CashOutServicePorts {
    CashOutServicePorts {
        ledger: store.clone(),
        cash_outs: store.clone(),
        accounts: store.clone(),
    }
}

pub fn expiry_ports(store: &DynStore) -> ExpirySweeperPorts {
    ExpirySweeperPorts {
        charges: store.clone(),
        transitions: store.clone(),
    }
}
