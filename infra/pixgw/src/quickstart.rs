//! What `pixgw serve` prints on start: where it listens and a copy-paste quickstart that
//! mirrors ConnectPSP's "Your first Cash-In" (token → charge → QR → fetch → list → pay).

use pixgw_api::accounts::NewAccountCredentials;

pub fn print(base: &str, store: &str, demo: &NewAccountCredentials) {
    let NewAccountCredentials {
        account_id,
        client_id,
        client_secret,
        crypto_token,
    } = demo;
    println!(
        r#"
PIX gateway running at {base}   (store: {store}, provider: sandbox)

Demo account (kept in the data dir; `pixgw account create --name NAME` makes more):
  accountId    {account_id}
  clientId     {client_id}
  clientSecret {client_secret}
  cryptoToken  {crypto_token}

Quickstart — paste into a shell:

  # 1. Get a bearer token (valid 1 h)
  TOKEN=$(curl -s -X POST {base}/api/auth/token -H 'Content-Type: application/json' \
    -d '{{"clientId":"{client_id}","clientSecret":"{client_secret}"}}' \
    | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')

  # 2. Create a charge with a QR code (seed 004 "most common" example)
  curl -s -X POST {base}/api/pix/cash-in -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -H "X-Idempotency-Key: $(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)" \
    -d '{{"transaction":{{"value":189.90,"description":"Pedido #8842 - Loja Virtual","externalId":"ORD-8842-'$RANDOM'","expirationTime":3600,"generateQrCode":true}},"payer":{{"fullName":"Carlos Oliveira","document":"11222333000181"}},"additionalInfo":{{"orderId":"8842"}}}}' \
    | tee /tmp/charge.json

  # 3. See the QR code (open the PNG), fetch the charge, list charges
  sed -E 's/.*"qrCodeImage":"data:image\/png;base64,([^"]+)".*/\1/' /tmp/charge.json | base64 -d > /tmp/pix.png
  ID=$(sed -E 's/.*"transactionId":"([^"]+)".*/\1/' /tmp/charge.json)
  curl -s {base}/api/pix/cash-in/$ID -H "Authorization: Bearer $TOKEN"
  curl -s "{base}/api/pix/cash-in?status=PENDING&limit=10" -H "Authorization: Bearer $TOKEN"

  # 4. Pay it as the payer's bank would (sandbox), then see it CONFIRMED and the balance
  curl -s -X POST {base}/api/sandbox/cash-in/$ID/pay -H "Authorization: Bearer $TOKEN"
  curl -s {base}/api/account/balance -H "Authorization: Bearer $TOKEN"

More examples (minimal, B2B, marketplace with 3 splits, immediate split): README.md.
API reference: curl -s {base}/api/openapi.json -H "Authorization: Bearer $TOKEN"
"#
    );
}
