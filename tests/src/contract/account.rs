//! `AccountStore`: an account is created with its API credential and its default payout
//! schedule in one atomic write, or not at all; its provider order is set in place.

use chrono::Duration;
use pixgw_domain::account::Account;
use pixgw_domain::account::ports::{AccountUpdateError, CreateAccountError};
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::refund::RefundLiability;
use pixgw_domain::schedule::Frequency;
use pixgw_domain::schedule::ports::ScheduleState;

use super::schedule::{fridays_at_six, hm, replacement, stored_schedule};
use super::{Subject, base_time, create_account, new_account, new_credential};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

pub async fn account_round_trips(subject: Subject) {
    let store = &subject.store;
    let (account, credential) = create_account(store).await;
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(account.clone()))
    );
    assert_eq!(
        store.find_client(&credential.client_id).await,
        Ok(Some(credential.clone()))
    );
    assert_eq!(store.get_account(&AccountId::generate()).await, Ok(None));
    assert_eq!(store.find_client("cli_unknown").await, Ok(None));
    // Client ids no credential can have (empty, longer than a key holds) are simply unknown.
    assert_eq!(store.find_client("").await, Ok(None));
    assert_eq!(store.find_client(&"c".repeat(4_000)).await, Ok(None));
}

pub async fn duplicate_account_id_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let (account, _credential) = create_account(store).await;
    let renamed = Account {
        name: "Impostor".into(),
        ..account.clone()
    };
    let fresh_client = new_credential(&account.id);
    assert_eq!(
        store.create_account(&renamed, &fresh_client).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
    assert_eq!(
        store.find_client(&fresh_client.client_id).await,
        Ok(None),
        "the new client must not be written when the account id is taken"
    );
}

pub async fn duplicate_client_id_writes_nothing(subject: Subject) {
    let store = &subject.store;
    let (_account, credential) = create_account(store).await;
    let (other, _) = new_account();
    let stolen = pixgw_domain::account::ClientCredential {
        account_id: other.id.clone(),
        ..credential.clone()
    };
    assert_eq!(
        store.create_account(&other, &stolen).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(
        store.get_account(&other.id).await,
        Ok(None),
        "the new account must not be written when the client id is taken"
    );
    assert_eq!(
        store.find_client(&credential.client_id).await,
        Ok(Some(credential))
    );
}

// =============================================================================================
// The schedule written with the account

pub async fn new_account_has_the_default_schedule(subject: Subject) {
    let store = &subject.store;
    let (account, _) = create_account(store).await;
    let state = stored_schedule(store, &account.id)
        .await
        .expect("written with the account");
    assert_eq!(
        state,
        ScheduleState::initial(&account.id, account.created_at)
    );
    assert_eq!(state.schedule.frequency, Frequency::Daily);
    assert_eq!(state.schedule.time, hm(9, 0));
    assert_eq!(state.version, 1);
    assert!(state.next_run_at > account.created_at);
    // 09:00 in São Paulo (UTC−3) is 12:00Z.
    assert_eq!(state.next_run_at.format("%H:%M:%S").to_string(), "12:00:00");
}

/// Account, credential and schedule are one atomic write: a creation refused because the
/// account exists does not reset the schedule the account already changed.
pub async fn failed_account_creation_leaves_the_schedule_alone(subject: Subject) {
    let store = &subject.store;
    let (account, _) = create_account(store).await;
    let changed = replacement(&account.id, fridays_at_six(), Some(1), base_time());
    assert_eq!(
        store.put_schedule(&changed, Some(1)).await,
        Ok(pixgw_domain::error::WriteOutcome::Applied)
    );

    let credential = new_credential(&account.id);
    let again = Account {
        created_at: base_time() + Duration::days(1),
        ..account.clone()
    };
    assert_eq!(
        store.create_account(&again, &credential).await,
        Err(CreateAccountError::AlreadyExists)
    );
    assert_eq!(stored_schedule(store, &account.id).await, Some(changed));
    assert_eq!(store.find_client(&credential.client_id).await, Ok(None));
}

// =============================================================================================
// The provider order

pub async fn providers_are_set_replaced_and_cleared_without_touching_the_rest(subject: Subject) {
    let store = &subject.store;
    let (account, _) = create_account(store).await;

    store
        .set_account_providers(&account.id, &names(&["pagfast", "connectpsp"]))
        .await
        .expect("set");
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(Account {
            providers: names(&["pagfast", "connectpsp"]),
            ..account.clone()
        })),
        "the order as given, nothing else changed"
    );

    store
        .set_account_providers(&account.id, &names(&["sandbox"]))
        .await
        .expect("replace");
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(Account {
            providers: names(&["sandbox"]),
            ..account.clone()
        }))
    );

    store
        .set_account_providers(&account.id, &[])
        .await
        .expect("clear");
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
}

pub async fn providers_given_at_creation_are_stored(subject: Subject) {
    let store = &subject.store;
    let (mut account, credential) = new_account();
    account.providers = names(&["connectpsp", "sandbox"]);
    store
        .create_account(&account, &credential)
        .await
        .expect("create account");
    assert_eq!(
        store
            .get_account(&account.id)
            .await
            .map(|a| a.map(|a| a.providers)),
        Ok(Some(names(&["connectpsp", "sandbox"])))
    );
}

/// The refund policy: MERCHANT until set; set and replaced with nothing else changed; an
/// unknown account is not found (and not created).
pub async fn refund_policy_is_set_without_touching_the_rest(subject: Subject) {
    let store = &subject.store;
    let (mut account, _) = new_account();
    account.providers = names(&["sandbox"]);
    let credential = super::new_credential(&account.id);
    store
        .create_account(&account, &credential)
        .await
        .expect("create account");
    assert_eq!(account.refund_liability, RefundLiability::Merchant);
    store
        .set_refund_liability(&account.id, RefundLiability::Proportional)
        .await
        .expect("set");
    assert_eq!(
        store.get_account(&account.id).await,
        Ok(Some(Account {
            refund_liability: RefundLiability::Proportional,
            ..account.clone()
        })),
        "the policy changed, nothing else"
    );
    store
        .set_refund_liability(&account.id, RefundLiability::Merchant)
        .await
        .expect("replace");
    assert_eq!(store.get_account(&account.id).await, Ok(Some(account)));
    let missing = AccountId::generate();
    assert_eq!(
        store
            .set_refund_liability(&missing, RefundLiability::Proportional)
            .await,
        Err(AccountUpdateError::AccountNotFound)
    );
    assert_eq!(store.get_account(&missing).await, Ok(None));
}

pub async fn providers_of_an_unknown_account_are_not_found(subject: Subject) {
    let store = &subject.store;
    let missing = AccountId::generate();
    assert_eq!(
        store
            .set_account_providers(&missing, &names(&["pagfast"]))
            .await,
        Err(AccountUpdateError::AccountNotFound)
    );
    assert_eq!(
        store.set_account_providers(&missing, &[]).await,
        Err(AccountUpdateError::AccountNotFound)
    );
    // No account appears (not even a partial one, which would read as corrupt).
    assert_eq!(store.get_account(&missing).await, Ok(None));
}
