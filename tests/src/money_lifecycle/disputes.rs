//! MED disputes in the money lifecycle: the sandbox's payer bank opening and deciding them
//! through the API, the merchant's defence, and their books — what [`Shop::assert_books`]
//! asks of every dispute.

use std::collections::BTreeMap;

use pixgw_api::auth::digital_signature;
use pixgw_api::http_types::ApiResponse;
use pixgw_domain::charge::{Charge, HoldState};
use pixgw_domain::dispute::{Dispute, DisputeState};
use pixgw_domain::ledger::{Balance, Movement, MovementKind};
use pixgw_domain::pix::ids::{DisputeId, TransactionId};
use pixgw_domain::pix::payment::EndToEndKind;
use pixgw_domain::refund::liability::SplitPartKind;
use serde_json::{Value, json};

use super::{Shop, money_json, network_cents};

impl Shop {
    /// `POST /api/sandbox/cash-in/{id}/infraction` `{reason, value?}` (`value` in centavos).
    pub async fn infraction(
        &self,
        id: &TransactionId,
        reason: &str,
        cents: Option<i64>,
    ) -> ApiResponse {
        let token = self.token().await;
        let mut body = json!({ "reason": reason });
        if let Some(cents) = cents {
            body["value"] = money_json(cents);
        }
        self.gw
            .post(
                &format!("/api/sandbox/cash-in/{id}/infraction"),
                &token,
                &body,
                None,
            )
            .await
    }

    /// A FRAUD infraction on `cents` of the charge (all still disputable: `None`), opened; the
    /// dispute as stored.
    pub async fn disputed(&self, id: &TransactionId, cents: Option<i64>) -> Dispute {
        let response = self.infraction(id, "FRAUD", cents).await;
        assert_eq!(response.status, 201, "{:?}", response.body_json());
        let dispute_id = response.body_json()["disputeId"]
            .as_str()
            .and_then(DisputeId::parse)
            .expect("disputeId");
        self.dispute(&dispute_id).await
    }

    /// `POST /api/sandbox/disputes/{id}/decide` `{outcome}`.
    pub async fn decide(&self, id: &DisputeId, outcome: &str) -> ApiResponse {
        let token = self.token().await;
        self.gw
            .post(
                &format!("/api/sandbox/disputes/{id}/decide"),
                &token,
                &json!({ "outcome": outcome }),
                None,
            )
            .await
    }

    /// `POST /api/disputes/{id}/defence` `{text}`, signed.
    pub async fn defend(&self, id: &DisputeId, text: &str) -> ApiResponse {
        let token = self.token().await;
        let signature = digital_signature(&self.credentials.crypto_token, &token);
        let request = pixgw_api::http_types::ApiRequest::new(
            http::Method::POST,
            format!("/api/disputes/{id}/defence"),
        )
        .with_json(&json!({ "text": text }))
        .with_header("authorization", &format!("Bearer {token}"))
        .with_header("digitalsignature", &signature);
        self.gw.call(request).await
    }

    /// `GET /api/disputes/{id}`.
    pub async fn dispute_view(&self, id: &DisputeId) -> Value {
        let token = self.token().await;
        let response = self.gw.get(&format!("/api/disputes/{id}"), &token).await;
        assert_eq!(response.status, 200, "{:?}", response.body_json());
        response.body_json()
    }

    /// The dispute as stored.
    pub async fn dispute(&self, id: &DisputeId) -> Dispute {
        self.gw
            .state
            .store
            .get_dispute(id)
            .await
            .expect("get dispute")
            .expect("dispute exists")
    }

    /// Every dispute of `c` has its opening movement and, decided, its decision's (and no
    /// other); each moves exactly its amount and its declared parts; the claim on the charge
    /// agrees with the dispute. Returns (Σ reduced parts, Σ restored by wins) for the splits'
    /// check, and adds each open dispute's amount and each dispute's still-owed to `held` /
    /// `owed`.
    pub(super) async fn assert_disputes(
        &self,
        c: &Charge,
        by_id: &BTreeMap<&str, &Movement>,
        held: &mut i64,
        owed: &mut i64,
    ) -> (i64, i64) {
        let (mut reduced_total, mut restored_total) = (0, 0);
        for claim in &c.disputes {
            let d = self.dispute(&claim.id).await;
            assert_eq!(
                (d.amount, d.state, &d.transaction_id, &d.account_id),
                (claim.amount, claim.state, &c.transaction_id, &c.account_id),
                "the charge's claim vs its dispute"
            );
            let movement =
                |kind: MovementKind| by_id.get(kind.movement_id(d.id.as_str()).as_str()).copied();
            let opened = movement(MovementKind::DisputeOpened)
                .unwrap_or_else(|| panic!("dispute {} has no opening", d.id));
            let o = opened.balance_delta();
            let reduced: i64 = d
                .split_parts
                .iter()
                .filter(|p| p.kind == SplitPartKind::Reduced)
                .map(|p| p.amount.cents())
                .sum();
            assert_eq!(o.held, d.amount, "{opened:?}");
            assert_eq!(-o.reserved_for_splits.cents(), reduced, "{opened:?} {d:?}");
            assert_eq!(-o.owed.cents(), d.hold.owed, "{opened:?} {d:?}");
            assert_eq!(
                network_cents(opened),
                0,
                "an opening moves nothing out: {opened:?}"
            );
            assert!((0..=d.hold.owed).contains(&d.still_owed), "{d:?}");
            reduced_total += reduced;
            *owed -= d.still_owed;
            let won = movement(MovementKind::DisputeWon);
            let lost = movement(MovementKind::DisputeLost);
            match d.state {
                DisputeState::Open | DisputeState::Defended => {
                    assert!(won.is_none() && lost.is_none(), "{d:?}");
                    assert!(d.decided_at.is_none(), "{d:?}");
                    *held += d.amount.cents();
                }
                DisputeState::Won => {
                    let won = won.unwrap_or_else(|| panic!("won dispute {} unbooked", d.id));
                    assert!(lost.is_none(), "{d:?}");
                    assert_eq!(d.still_owed, 0, "a won dispute owes nothing: {d:?}");
                    let w = won.balance_delta();
                    assert_eq!(w.held.cents(), -d.amount.cents(), "{won:?}");
                    let restored = w.reserved_for_splits.cents();
                    assert!((0..=reduced).contains(&restored), "{won:?} {d:?}");
                    assert_eq!(network_cents(won), 0, "{won:?}");
                    restored_total += restored;
                }
                DisputeState::Lost => {
                    let lost = lost.unwrap_or_else(|| panic!("lost dispute {} unbooked", d.id));
                    assert!(won.is_none(), "{d:?}");
                    let l = lost.balance_delta();
                    assert_eq!(l.held.cents(), -d.amount.cents(), "{lost:?}");
                    assert_eq!(network_cents(lost), d.amount.cents(), "{lost:?}");
                    let debts: i64 = d
                        .split_parts
                        .iter()
                        .filter(|p| p.kind == SplitPartKind::Debt)
                        .map(|p| p.amount.cents())
                        .sum();
                    assert!(
                        (0..=debts).contains(&l.recipient_debts.cents()),
                        "a loss indebted recipients beyond their parts: {lost:?} {d:?}"
                    );
                    if let Some(e2e) = &d.devolution_end_to_end_id {
                        assert_eq!(e2e.kind(), EndToEndKind::Devolution, "{d:?}");
                    }
                }
            }
        }
        assert!(
            c.committed_refunds().cents() + c.disputed().cents() <= c.amount.cents(),
            "refunds and disputes exceed the amount: {c:?}"
        );
        (reduced_total, restored_total)
    }

    /// `POST /api/sandbox/cash-in/{id}/pay` `{"hold": true}`: paid under a cautelar hold.
    pub async fn pay_held(&self, id: &TransactionId) -> ApiResponse {
        let token = self.token().await;
        self.gw
            .post(
                &format!("/api/sandbox/cash-in/{id}/pay"),
                &token,
                &json!({ "hold": true }),
                None,
            )
            .await
    }

    /// `POST /api/sandbox/cash-in/{id}/hold/{release|return}`.
    pub async fn end_hold(&self, id: &TransactionId, ending: &str) -> ApiResponse {
        let token = self.token().await;
        self.gw
            .post(
                &format!("/api/sandbox/cash-in/{id}/hold/{ending}"),
                &token,
                &json!({}),
                None,
            )
            .await
    }

    /// A charge's hold agrees with its movements: held, its confirmation went to `held` and
    /// nothing was booked; released, `held` → `incoming` once and its booking follows;
    /// returned, `held` → the PIX network and nothing was ever booked. Adds a held charge's
    /// amount to `held`.
    pub(super) fn assert_hold(
        &self,
        c: &Charge,
        by_id: &BTreeMap<&str, &Movement>,
        held: &mut i64,
    ) {
        let id = c.transaction_id.as_str();
        let movement = |kind: MovementKind| by_id.get(kind.movement_id(id).as_str()).copied();
        let released = movement(MovementKind::HoldReleased);
        let returned = movement(MovementKind::HoldReturned);
        let Some(hold) = &c.hold else {
            assert!(released.is_none() && returned.is_none(), "{c:?}");
            return;
        };
        let confirmed = movement(MovementKind::ChargeConfirmed).expect("a held charge was paid");
        assert_eq!(confirmed.balance_delta().held, c.amount, "{confirmed:?}");
        let booked = movement(MovementKind::SplitsBooked);
        match hold.state {
            HoldState::Held => {
                assert!(
                    released.is_none() && returned.is_none() && booked.is_none(),
                    "{c:?}"
                );
                *held += c.amount.cents();
            }
            HoldState::Released => {
                let r = released.unwrap_or_else(|| panic!("released hold unbooked: {c:?}"));
                let d = r.balance_delta();
                assert_eq!((d.held.cents(), d.incoming), (-c.amount.cents(), c.amount));
                assert!(returned.is_none(), "{c:?}");
            }
            HoldState::Returned => {
                let r = returned.unwrap_or_else(|| panic!("returned hold unbooked: {c:?}"));
                assert_eq!(r.balance_delta().held.cents(), -c.amount.cents(), "{r:?}");
                assert_eq!(network_cents(r), c.amount.cents(), "{r:?}");
                assert!(released.is_none() && booked.is_none(), "{c:?}");
                assert_eq!(
                    c.status,
                    pixgw_domain::charge::ChargeStatus::Refunded,
                    "{c:?}"
                );
            }
        }
    }

    /// `held` is Σ open disputes and held charges; `owed` is minus Σ what disputes still owe;
    /// every dispute movement belongs to a dispute of a known charge.
    pub(super) fn assert_dispute_totals(
        &self,
        balance: &Balance,
        held: i64,
        owed: i64,
        movements: &[Movement],
        disputes: usize,
    ) {
        assert_eq!(balance.held.cents(), held, "held ≠ Σ open disputes");
        assert_eq!(balance.owed.cents(), owed, "owed ≠ Σ disputes' still owed");
        let openings = movements
            .iter()
            .filter(|m| m.kind == MovementKind::DisputeOpened)
            .count();
        assert_eq!(openings, disputes, "dispute openings without their dispute");
    }
}
