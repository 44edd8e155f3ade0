//! PagFast's error answers (seed 003's 400, 401 and 409s) in our terms.

use pixgw_domain::error::RejectionKind;
use pixgw_domain::provider::PixProvider;
use pixgw_providers::pagfast::PagFastProvider;
use serde_json::{Value, json};

use super::pagfast::*;
use super::{rejection, unavailable};

#[tokio::test]
async fn a_400_is_an_invalid_request_with_the_seed_details_as_errors() {
    let server = pagfast().await;
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(400, fixture("invalid_request_format_400.json")))
        .expect(1) // a 4xx is never retried
        .mount(&server)
        .await;

    let refused = rejection(provider(&server).create_charge(&charge(SEED_CPF)).await);

    assert_eq!(refused.kind, RejectionKind::InvalidRequest);
    assert_eq!(refused.reason, "InvalidRequestFormatError");
    assert_eq!(
        refused.message.as_deref(),
        Some("The request body is invalid. See error object `details` property for more info")
    );
    assert_eq!(
        refused.errors,
        ["/payment/payer: must have required property 'cpf'"]
    );
}

#[tokio::test]
async fn a_refused_token_is_unavailable_so_failover_counts_it() {
    let server = pagfast().await;
    let mut config = config(&server.uri());
    config.api_token = pixgw_providers::secret::Secret::new("expired-token");
    let provider = PagFastProvider::new(config).unwrap();

    let message = unavailable(provider.create_charge(&charge(SEED_CPF)).await);

    assert_eq!(
        message,
        "PagFast refused our API token (AuthenticationTokenInvalid)"
    );
    assert!(!message.contains("expired-token"));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_two_409_reasons_map_to_their_kinds_with_the_cpf_masked() {
    let cases = [
        (
            "restricted_cpf_request.json",
            "counterparty_tax_number_invalid_409.json",
            // The seed's 50194184190 fails the CPF check digits, so our API would never send
            // it: we drive with the seed's other test CPF and serve the seed's 409 verbatim.
            ("10777438666", "50194184190"),
            RejectionKind::PayerDocumentRestricted,
            "CounterpartyTaxNumberInvalid",
            "TaxNumber:***.***.***-**",
        ),
        (
            "invalid_cpf_request.json",
            "counterparty_service_error_409.json",
            ("96449033070", "96449033070"),
            RejectionKind::PayerDocumentInvalid,
            "CounterpartyServiceError",
            "TaxNumber:***.***.***-**",
        ),
    ];
    for (seed_request, seed_response, (cpf, echoed), kind, reason, masked) in cases {
        let server = pagfast().await;
        cash_in(Shape::of(
            seed_request,
            &["/payment/payer/name", "/payment/value/editable"],
        ))
        .respond_with(json(409, fixture(seed_response)))
        .expect(1)
        .mount(&server)
        .await;

        let error = provider(&server)
            .create_charge(&charge(cpf))
            .await
            .unwrap_err();

        assert!(!error.to_string().contains(echoed), "{error}");
        let refused = rejection(Err::<(), _>(error));
        assert_eq!(refused.kind, kind);
        assert_eq!(refused.reason, reason);
        assert_eq!(refused.message.as_deref(), Some(masked));
        assert_eq!(
            bodies(&server).await[0]["payment"]["payer"]["cpf"],
            Value::from(cpf)
        );
    }
}

#[tokio::test]
async fn another_4xx_is_rejected_with_its_error_name() {
    let server = pagfast().await;
    let body = json!({"statusCode": "Error", "error": {"name": "LimitExceededError", "message": "Daily limit"}});
    cash_in(Shape::of("full_request.json", &[]))
        .respond_with(json(422, body))
        .mount(&server)
        .await;

    let refused = rejection(provider(&server).create_charge(&charge(SEED_CPF)).await);

    assert_eq!(refused.kind, RejectionKind::Other);
    assert_eq!(refused.reason, "LimitExceededError");
    assert_eq!(refused.message.as_deref(), Some("Daily limit"));
}
