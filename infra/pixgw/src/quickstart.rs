//! What `pixgw serve` prints on start: where it listens and a copy-paste quickstart that
//! mirrors ConnectPSP's "Your first Cash-In" (token → charge → QR → fetch → list → pay), then
//! a marketplace charge whose splits are paid out (sandbox payout run, sandbox clock, payouts),
//! money out (a signed refund and cash-out, the statement), and how to receive the account's
//! webhooks on this machine.

use pixgw_api::accounts::NewAccountCredentials;

pub fn print(
    base: &str,
    store: &str,
    providers: &str,
    scheduler_every: u64,
    demo: &NewAccountCredentials,
) {
    let NewAccountCredentials {
        account_id,
        client_id,
        client_secret,
        crypto_token,
    } = demo;
    println!(
        r#"
PIX gateway running at {base}   (store: {store}, PIX providers: {providers})

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

  # 5. A marketplace charge split 70 % / 20 % / R$ 10, paid: its splits wait for the payout
  #    window (DAILY 09:00 São Paulo by default; the scheduler ticks every {scheduler_every} s)
  MKT=$(curl -s -X POST {base}/api/pix/cash-in -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{{"transaction":{{"value":200.00,"description":"Pedido #12345","externalId":"MKT-'$RANDOM'"}},"payer":{{"fullName":"João Pereira","document":"12345678909"}},"splits":[{{"pixKey":"vendedor@email.com","pixKeyType":"EMAIL","name":"Loja do João","document":"11222333000181","type":"PERCENTAGE","value":70}},{{"pixKey":"11222333000181","pixKeyType":"CNPJ","name":"Marketplace Ltda","document":"11222333000181","type":"PERCENTAGE","value":20}},{{"pixKey":"+5511999887766","pixKeyType":"PHONE","name":"Entregador Silva","document":"98765432100","type":"FIXED","value":10.00}}]}}' \
    | sed -E 's/.*"transactionId":"([^"]+)".*/\1/')
  curl -s -X POST {base}/api/sandbox/cash-in/$MKT/pay -H "Authorization: Bearer $TOKEN"

  # 6. Pay the splits out now (one payout per recipient), then list payouts and open one
  curl -s -X POST {base}/api/sandbox/payouts/run -H "Authorization: Bearer $TOKEN"
  curl -s "{base}/api/payouts?limit=10" -H "Authorization: Bearer $TOKEN" | tee /tmp/payouts.json
  PO=$(sed -E 's/.*"id":"(po_[0-9a-f]+)".*/\1/' /tmp/payouts.json)
  curl -s {base}/api/payouts/$PO -H "Authorization: Bearer $TOKEN"

  #    Instead of the run, you can move the sandbox clock a day ahead: the scheduler pays the
  #    window by itself (everything ages with the clock: tokens expire after 1 h of sandbox
  #    time, so redo step 1 afterwards)
  curl -s -X POST {base}/api/sandbox/clock/advance -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{{"seconds":86400}}'

  # 7. Money out. Refunds, cash-outs and payout-schedule changes are signed: DigitalSignature =
  #    hex(HMAC-SHA256(key = cryptoToken, message = the bearer token)); recompute it with every
  #    new token. Refund the first charge in full (202, REFUND_PROCESSING, a D... end-to-end id;
  #    GET then shows it REFUNDED), send R$ 5 of the available balance to a PIX key (202
  #    PROCESSING, then COMPLETED), and read the ledger entries behind the balance.
  SIG=$(printf %s "$TOKEN" | openssl dgst -sha256 -hmac '{crypto_token}' -hex | sed 's/^.* //')
  curl -s -X POST {base}/api/pix/cash-in/$ID/refund -H "Authorization: Bearer $TOKEN" -H "DigitalSignature: $SIG" \
    -H 'Content-Type: application/json' -d '{{"reason":"CUSTOMER_REQUEST","description":"Ticket #1234"}}'
  curl -s {base}/api/pix/cash-in/$ID -H "Authorization: Bearer $TOKEN"
  curl -s -X POST {base}/api/pix/cash-out -H "Authorization: Bearer $TOKEN" -H "DigitalSignature: $SIG" \
    -H 'Content-Type: application/json' -H "X-Idempotency-Key: $(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)" \
    -d '{{"value":5.00,"description":"Saque","externalId":"WD-'$RANDOM'","pixKey":"financeiro@lojaexemplo.com.br","pixKeyType":"EMAIL"}}'
  curl -s "{base}/api/pix/cash-out?limit=10" -H "Authorization: Bearer $TOKEN"
  curl -s "{base}/api/account/statement?limit=50" -H "Authorization: Bearer $TOKEN"

  # 8. Webhooks: every event (CASHIN_CONFIRMED, PAYOUT_PAID, SPLIT_PAID, ...) POSTed to your
  #    endpoint, signed per Standard Webhooks. Here http://localhost / http://127.0.0.1 receivers
  #    are allowed (on AWS: public https only); run one on port 9000 (README.md "Webhooks" has a
  #    Python and a Node receiver that verify signatures), then register it: the answer shows
  #    the signing secret (whsec_...) once. Events from then on are delivered and retried.
  curl -s -X PUT {base}/api/account/webhook -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{{"url":"http://127.0.0.1:9000/webhooks"}}'
  curl -s "{base}/api/webhooks/deliveries?limit=10" -H "Authorization: Bearer $TOKEN"

More examples (minimal, B2B, marketplace with 3 splits, immediate split), webhooks: README.md.
API reference: curl -s {base}/api/openapi.json -H "Authorization: Bearer $TOKEN"
"#
    );
}
