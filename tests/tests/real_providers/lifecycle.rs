//! Scenario 1, a charge's whole life at ConnectPSP: created, paid (read back), its immediate
//! split paid out through `/cash-out`, a refund settled by CASHIN_REFUNDED, a cash-out
//! completed by CASHOUT_PAID, and the books.

use chrono::Duration;
use pixgw_domain::cash_out::CashOutState;
use pixgw_domain::charge::ChargeStatus;
use pixgw_domain::messaging::events::EventType;
use pixgw_domain::refund::RefundState;
use pixgw_domain::split::entry::SplitState;
use pixgw_tests::harness::Backend;
use pixgw_tests::mock_psps::CP_WEBHOOK_TOKEN;
use pixgw_tests::money_lifecycle::{SplitSpec, charge_body, plain_charge, to_pix_key};
use wiremock::Request;

use super::rig::{
    cents, expected_idempotency_key, expected_signature, header, json_of, rig, seconds,
};

pub async fn a_connectpsp_charge_lives_its_whole_life_at_connectpsp(backend: Backend) {
    let rig = rig(backend, &["connectpsp", "pagfast"], &[]).await;
    let shop = &rig.shop;

    // Created at ConnectPSP: our pixCode is its copyAndPaste.
    let split = SplitSpec {
        fixed: true,
        value: 2_500,
        immediate: true,
        pix_key: "recebedor@example.com".into(),
    };
    let id = shop
        .create(&charge_body("CP-LIFE", 10_000, &[split], 3_600))
        .await;
    let at_cp = rig.cp.charge_for(id.as_str());
    let charge = shop.charge(&id).await;
    assert_eq!(charge.provider, "connectpsp");
    assert_eq!(charge.provider_charge_id, at_cp.internal_code);
    assert_eq!(
        charge.pix_code,
        format!("00020101021226connectpsp{}", at_cp.internal_code)
    );
    assert_eq!(shop.charge_view(&id).await["pixCode"], charge.pix_code);
    let sent = rig.cp_cash_ins().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        header(&sent[0], "X-Idempotency-Key"),
        Some(expected_idempotency_key(id.as_str()).as_str())
    );
    let body = json_of(&sent[0]);
    assert_eq!(body["externalReference"], id.as_str());
    assert_eq!(body["amount"].to_string(), "100.00");
    assert!(
        body["webhookUrl"]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("?token={CP_WEBHOOK_TOKEN}"))),
        "{body}"
    );

    // CASHIN_PAID through the HTTP route; what is recorded comes from the read-back.
    let paid_at = shop.now() - Duration::seconds(3);
    let delivery = rig.cp.pay(&at_cp.internal_code, paid_at);
    let response = rig.cp_deliver(&delivery).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    assert_eq!(response.body_json()["outcome"], "CONFIRMED");
    let read_backs = rig
        .cp
        .requests("GET", &format!("/cash-in/{}", at_cp.internal_code))
        .await;
    assert_eq!(read_backs.len(), 1);
    let confirmed = shop.charge(&id).await;
    assert_eq!(confirmed.status, ChargeStatus::Confirmed);
    let payment = confirmed.payment.clone().expect("payment");
    assert_eq!(
        payment.end_to_end_id.as_str(),
        delivery["data"]["endToEndId"].as_str().expect("e2e")
    );
    assert_eq!(seconds(payment.paid_at), seconds(paid_at));
    assert_eq!(payment.paid_by.bank.ispb.as_str(), "60746948");
    assert_eq!(payment.paid_by.bank.account, "123456");
    assert_eq!(payment.provider, "connectpsp");

    // The immediate split is paid out through ConnectPSP's /cash-out, signed.
    shop.drain().await;
    let cash_outs = rig.cp.requests("POST", "/cash-out").await;
    assert_eq!(cash_outs.len(), 1, "one payout transfer");
    let payout = &cash_outs[0];
    assert_eq!(
        header(payout, "DigitalSignature"),
        Some(expected_signature().as_str())
    );
    let payout_body = json_of(payout);
    let reference = payout_body["externalReference"]
        .as_str()
        .expect("externalReference")
        .to_owned();
    assert_eq!(
        header(payout, "X-Idempotency-Key"),
        Some(expected_idempotency_key(&reference).as_str())
    );
    assert_eq!(payout_body["amount"].to_string(), "25.00");
    assert_eq!(payout_body["pixKey"], "recebedor@example.com");
    assert_eq!(shop.splits(&id).await[0].state, SplitState::Processing);
    let response = rig
        .cp_deliver(&rig.cp.cash_out_paid(&reference, shop.now()))
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    shop.drain().await;
    assert_eq!(shop.splits(&id).await[0].state, SplitState::Paid);

    // A second charge is refunded at ConnectPSP: PROCESSING with its D… id, then REFUNDED.
    let refunded = shop.create(&plain_charge("CP-REFUND", 4_000)).await;
    let refunded_at_cp = rig.cp.charge_for(refunded.as_str());
    let delivery = rig.cp.pay(&refunded_at_cp.internal_code, shop.now());
    assert_eq!(rig.cp_deliver(&delivery).await.status, 200);
    shop.drain().await;
    let processing = shop.refund(&refunded).await.expect("refund accepted");
    shop.drain().await;
    let refund_calls = rig
        .cp
        .requests(
            "POST",
            &format!("/cash-in/{}/refund", refunded_at_cp.internal_code),
        )
        .await;
    // Asked when requested and again by the queue message while it is pending: always the
    // same attempt's key, so ConnectPSP makes one devolution.
    assert!(!refund_calls.is_empty());
    let refund_key = header(&refund_calls[0], "X-Idempotency-Key").expect("key");
    for call in &refund_calls {
        assert_eq!(header(call, "X-Idempotency-Key"), Some(refund_key));
        assert_eq!(
            header(call, "DigitalSignature"),
            Some(expected_signature().as_str())
        );
        assert_eq!(json_of(call)["reason"], "CUSTOMER_REQUEST");
    }
    let pending = shop.charge(&refunded).await;
    assert_eq!(
        pending.status,
        ChargeStatus::RefundProcessing,
        "{processing:?}"
    );
    let d_id = rig.cp.charge_for(refunded.as_str()).refund_end_to_end_id;
    let refund = pending.refunds[0].clone();
    assert_eq!(refund.state, RefundState::Processing);
    assert_eq!(refund.end_to_end_id.map(|e| e.as_str().to_owned()), d_id);

    let settled = rig
        .cp
        .settle_refund(&refunded_at_cp.internal_code, shop.now());
    let response = rig.cp_deliver(&settled).await;
    assert_eq!(response.status, 200, "{:?}", response.body_json());
    shop.drain().await;
    let done = shop.charge(&refunded).await;
    assert_eq!(done.status, ChargeStatus::Refunded);
    assert_eq!(done.refunds[0].state, RefundState::Completed);
    assert_eq!(shop.events(EventType::CashinRefunded).await.len(), 1);

    // A cash-out of the first charge's remainder: /cash-out, CASHOUT_PAID, COMPLETED.
    let cash_out = shop
        .cash_out("CO-CP", cents(5_000), to_pix_key("maria@example.com"))
        .await
        .expect("cash-out");
    shop.drain().await;
    assert_eq!(cash_out.provider, "connectpsp");
    let sent: Vec<Request> = rig
        .cp
        .requests("POST", "/cash-out")
        .await
        .into_iter()
        .filter(|r| json_of(r)["externalReference"] == cash_out.id.as_str())
        .collect();
    assert!(
        !sent.is_empty(),
        "the cash-out's transfer went to ConnectPSP"
    );
    for call in &sent {
        assert_eq!(
            header(call, "X-Idempotency-Key"),
            Some(expected_idempotency_key(cash_out.id.as_str()).as_str())
        );
        assert_eq!(
            header(call, "DigitalSignature"),
            Some(expected_signature().as_str())
        );
        assert_eq!(json_of(call)["amount"].to_string(), "50.00");
    }
    assert_eq!(
        shop.get_cash_out(&cash_out.id).await.state,
        CashOutState::Processing
    );
    let paid = rig.cp.cash_out_paid(cash_out.id.as_str(), shop.now());
    assert_eq!(rig.cp_deliver(&paid).await.status, 200);
    shop.drain().await;
    let completed = shop.get_cash_out(&cash_out.id).await;
    assert_eq!(completed.state, CashOutState::Completed);
    assert_eq!(
        completed.end_to_end_id.map(|e| e.as_str().to_owned()),
        paid["data"]["endToEndId"].as_str().map(str::to_owned)
    );
    assert_eq!(shop.events(EventType::CashinConfirmed).await.len(), 2);
    // 100 − 25 paid out − 50 cashed out; the refunded 40 is gone.
    assert_eq!(shop.balance().await.available, cents(2_500));
    shop.assert_books().await;
}
