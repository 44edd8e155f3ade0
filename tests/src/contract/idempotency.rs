//! `IdempotencyStore`: a key is claimed by exactly one request at a time, completed with the
//! response to replay or released, and taken over only by the same request once its lease ran
//! out or by anyone once the record expired. (Completing a claim in the same write as a charge
//! is `insert_charge`'s: see [`super::charge`].)

use chrono::Duration;
use futures::future::join_all;
use pixgw_domain::charge::ports::InsertChargeError;
use pixgw_domain::error::StoreError;
use pixgw_domain::idempotency::{ClaimOutcome, IdempotencyClaim};

use super::{
    ClaimSpec, Subject, base_time, claim, claimed, completion, create_account, ms, plain_charge,
    response,
};

pub async fn claim_is_exclusive(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let spec = ClaimSpec {
        account_id: &account.id,
        key: "8a4a5c3e-0d1f-4a52-9d0b-7d1e4f3a2b10",
        hash: "hash-A",
        token: "token-1",
        now,
    };
    let request = spec.request();
    assert_eq!(
        store.claim(&request).await,
        Ok(ClaimOutcome::Claimed(IdempotencyClaim {
            account_id: account.id.clone(),
            key: spec.key.to_owned(),
            lock_token: "token-1".into(),
            expires_at: request.expires_at,
        }))
    );
    let again = claim(
        &store,
        &account.id,
        spec.key,
        "hash-A",
        "token-2",
        now + ms(10),
    )
    .await;
    assert_eq!(again, ClaimOutcome::InUse);
    // Still in use right at the end of the lease (expired means lease_until < now).
    let at_lease_end = now + Duration::seconds(30);
    let again = claim(
        &store,
        &account.id,
        spec.key,
        "hash-A",
        "token-3",
        at_lease_end,
    )
    .await;
    assert_eq!(again, ClaimOutcome::InUse);
}

pub async fn claim_with_a_different_body_is_a_mismatch(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let first = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    assert_eq!(
        claim(&store, &account.id, "k", "hash-B", "t2", now).await,
        ClaimOutcome::Mismatch,
        "in progress with another body"
    );
    store
        .complete(&completion(&first, 201, "{}"))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-B", "t3", now).await,
        ClaimOutcome::Mismatch,
        "completed with another body"
    );
    // A mismatch even once the lease ran out: a lease only lets the SAME request take over.
    let later = now + Duration::minutes(5);
    let other = claimed(claim(&store, &account.id, "k2", "hash-A", "t4", now).await);
    assert_eq!(
        claim(&store, &account.id, "k2", "hash-B", "t5", later).await,
        ClaimOutcome::Mismatch
    );
    store.release(&other).await.expect("release");
}

pub async fn idempotency_keys_are_per_account(subject: Subject) {
    let store = subject.store.clone();
    let (a, _) = create_account(&store).await;
    let (b, _) = create_account(&store).await;
    let now = base_time();
    claimed(claim(&store, &a.id, "same-key", "hash-A", "t1", now).await);
    let of_b = claimed(claim(&store, &b.id, "same-key", "hash-B", "t2", now).await);
    assert_eq!(of_b.account_id, b.id);
}

pub async fn complete_alone_replays_the_response(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    store
        .complete(&completion(
            &held,
            409,
            "{\"code\":\"DUPLICATE_EXTERNAL_ID\"}",
        ))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t2", now + ms(1)).await,
        ClaimOutcome::Replay(response(409, "{\"code\":\"DUPLICATE_EXTERNAL_ID\"}"))
    );
}

pub async fn wrong_lock_token_changes_nothing(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "right", now).await);
    let forged = IdempotencyClaim {
        lock_token: "wrong".into(),
        ..held.clone()
    };
    store
        .complete(&completion(&forged, 201, "forged"))
        .await
        .expect("complete with a wrong token is a silent no-op");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t2", now + ms(1)).await,
        ClaimOutcome::InUse,
        "a wrong token must not complete the claim"
    );
    store
        .release(&forged)
        .await
        .expect("release with a wrong token is a silent no-op");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t3", now + ms(2)).await,
        ClaimOutcome::InUse,
        "a wrong token must not release the claim"
    );
    // The real owner still can.
    store
        .complete(&completion(&held, 201, "real"))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-A", "t4", now + ms(3)).await,
        ClaimOutcome::Replay(response(201, "real"))
    );
}

pub async fn release_frees_the_key(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let held = claimed(claim(&store, &account.id, "k", "hash-A", "t1", now).await);
    store.release(&held).await.expect("release");
    // A corrected retry (different body) may now use the key.
    let retry = claimed(claim(&store, &account.id, "k", "hash-B", "t2", now + ms(1)).await);
    assert_eq!(retry.lock_token, "t2");
    // Releasing the old claim again does not free the new one.
    store.release(&held).await.expect("release");
    assert_eq!(
        claim(&store, &account.id, "k", "hash-B", "t3", now + ms(2)).await,
        ClaimOutcome::InUse
    );
}

pub async fn lease_expiry_lets_the_same_request_take_over(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let old = claimed(claim(&store, &account.id, "k", "hash-A", "old", now).await);
    let after_lease = now + Duration::seconds(31);
    let new = claimed(claim(&store, &account.id, "k", "hash-A", "new", after_lease).await);
    assert_eq!(new.lock_token, "new");
    assert_eq!(new.expires_at, after_lease + Duration::hours(24));

    // The crashed owner wakes up and tries to finish: its claim is lost, nothing is written.
    let charge = plain_charge(&account.id, "ext-1", now);
    assert_eq!(
        store
            .insert_charge(&charge, Some(&completion(&old, 201, "old")))
            .await,
        Err(InsertChargeError::ClaimLost)
    );
    assert_eq!(store.get_charge(&charge.transaction_id).await, Ok(None));
    assert_eq!(
        store.find_charge_by_external_id(&account.id, "ext-1").await,
        Ok(None)
    );
    store
        .complete(&completion(&old, 201, "old"))
        .await
        .expect("complete of a lost claim is a no-op");
    store
        .release(&old)
        .await
        .expect("release of a lost claim is a no-op");
    assert_eq!(
        claim(
            &store,
            &account.id,
            "k",
            "hash-A",
            "third",
            after_lease + ms(1)
        )
        .await,
        ClaimOutcome::InUse,
        "the new owner still holds the key"
    );

    // The new owner finishes normally.
    store
        .insert_charge(&charge, Some(&completion(&new, 201, "new")))
        .await
        .expect("insert by the new owner");
    assert_eq!(
        claim(
            &store,
            &account.id,
            "k",
            "hash-A",
            "fourth",
            after_lease + ms(2)
        )
        .await,
        ClaimOutcome::Replay(response(201, "new"))
    );
}

pub async fn expired_record_counts_as_absent(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let day_later = now + Duration::hours(24);

    // A completed record, replayed until it expires, then absent even for another body.
    let done = claimed(claim(&store, &account.id, "done", "hash-A", "t1", now).await);
    store
        .complete(&completion(&done, 201, "{}"))
        .await
        .expect("complete");
    assert_eq!(
        claim(&store, &account.id, "done", "hash-A", "t2", day_later).await,
        ClaimOutcome::Replay(response(201, "{}")),
        "still live exactly at expires_at"
    );
    let after = day_later + Duration::seconds(1);
    let reclaimed = claimed(claim(&store, &account.id, "done", "hash-B", "t3", after).await);
    assert_eq!(reclaimed.lock_token, "t3");
    assert_eq!(
        claim(&store, &account.id, "done", "hash-B", "t4", after + ms(1)).await,
        ClaimOutcome::InUse
    );

    // An abandoned in-progress record, absent once expired even for another body.
    claimed(claim(&store, &account.id, "stuck", "hash-A", "t5", now).await);
    claimed(claim(&store, &account.id, "stuck", "hash-C", "t6", after).await);
}

pub async fn concurrent_claims_grant_exactly_one(subject: Subject) {
    let store = subject.store.clone();
    let (account, _) = create_account(&store).await;
    let now = base_time();
    let tasks = (0..50).map(|i| {
        let store = store.clone();
        let account_id = account.id.clone();
        tokio::spawn(async move {
            let token = format!("token-{i}");
            let spec = ClaimSpec {
                account_id: &account_id,
                key: "contended-key",
                hash: "hash-A",
                token: &token,
                now,
            };
            store.claim(&spec.request()).await
        })
    });
    let outcomes: Vec<Result<ClaimOutcome, StoreError>> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let winners: Vec<IdempotencyClaim> = outcomes
        .iter()
        .filter_map(|o| match o {
            Ok(ClaimOutcome::Claimed(claim)) => Some(claim.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {outcomes:?}");
    let in_use = outcomes
        .iter()
        .filter(|o| **o == Ok(ClaimOutcome::InUse))
        .count();
    assert_eq!(in_use, 49, "every other claim is InUse: {outcomes:?}");

    // The winner really holds the key.
    store
        .complete(&completion(&winners[0], 201, "won"))
        .await
        .expect("complete");
    assert_eq!(
        claim(
            &store,
            &account.id,
            "contended-key",
            "hash-A",
            "late",
            now + ms(1)
        )
        .await,
        ClaimOutcome::Replay(response(201, "won"))
    );
}
