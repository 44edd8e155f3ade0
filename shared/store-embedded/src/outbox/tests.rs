//! Embedded specifics of the outbox feed: unacked messages come back oldest first until acked.

use chrono::Duration;
use pixgw_domain::charge::ports::ChargeTransitions;
use pixgw_domain::error::WriteOutcome;
use pixgw_domain::pix::ids::AccountId;
use tempfile::TempDir;

use super::*;
use crate::test_support::*;

#[tokio::test]
async fn the_outbox_returns_unacked_messages_oldest_first_until_acked() {
    let dir = TempDir::new().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open");
    let account = AccountId::generate();
    let mut written = Vec::new();
    // Confirmed in reverse creation order, so the poll order is the messages' time order.
    for i in (0..3).rev() {
        let charge = charge(&account);
        stored_charge(&store, &charge).await;
        let write = confirm_write(&charge, t0() + Duration::seconds(i));
        assert_eq!(
            store.confirm_charge(&write).await,
            Ok(WriteOutcome::Applied)
        );
        written.insert(0, write.outbox[0].clone());
    }

    assert_eq!(store.poll_outbox(2).await, Ok(written[..2].to_vec()));
    assert_eq!(
        store.poll_outbox(10).await,
        Ok(written.clone()),
        "polled but unacked messages come back"
    );
    store
        .ack_outbox(&[written[0].id.clone(), "unknown".to_owned()])
        .await
        .expect("ack");
    assert_eq!(store.poll_outbox(10).await, Ok(written[1..].to_vec()));
    store
        .ack_outbox(&[written[0].id.clone()])
        .await
        .expect("acking twice is harmless");
    assert_eq!(store.poll_outbox(0).await, Ok(Vec::new()));
    assert_eq!(keys_of(&store, OUTBOX_BY_TIME).len(), 2);
}
