//! What `pixgw serve` prints on start: where it listens and a copy-paste quickstart that
//! mirrors ConnectPSP's "Your first Cash-In" (token → charge → QR → fetch → list → pay), then
//! a marketplace charge whose splits are paid out (sandbox payout run, payouts), money out (a
//! signed refund and cash-out, the statement), and how to receive the account's webhooks on
//! this machine.
//!
//! The block is pasted whole, so every step must work right after the one before it: a step
//! that needs the background pipeline to have done something (splits booked, payouts or a
//! cash-out settled) waits for it with a bounded poll (`wait_for`), and nothing in the block
//! may break a later step (the sandbox clock advance, which expires the token, is printed
//! after it). README.md's Quickstart shows [`STEPS`] verbatim after the same variables, and a
//! test of the real binary pastes the printed block into `bash` and checks every answer.

use pixgw_api::accounts::NewAccountCredentials;

/// The quickstart's commands after the variables (`BASE`, `CLIENT_ID`, `CLIENT_SECRET`,
/// `CRYPTO_TOKEN`) they use. Plain shell (bash or zsh), one curl per answer shown, every
/// answer on its own line.
pub const STEPS: &str = r#"# 1. Get a bearer token (valid 1 h)
TOKEN=$(curl -s -X POST $BASE/api/auth/token -H 'Content-Type: application/json' \
  -d "{\"clientId\":\"$CLIENT_ID\",\"clientSecret\":\"$CLIENT_SECRET\"}" \
  | sed -E 's/.*"accessToken":"([^"]+)".*/\1/')

# wait_for URL TEXT: polls GET URL until its answer contains TEXT (at most 10 s); the
# payment pipeline runs in the background, so steps that need its work wait with this
wait_for() {
  for i in $(seq 50); do
    curl -s "$1" -H "Authorization: Bearer $TOKEN" | grep -qF -- "$2" && return 0
    sleep 0.2
  done
  echo "gave up waiting for $2 at $1" >&2; return 1
}

# 2. Create a charge with a QR code (seed 004 "most common" example): 201, PENDING
CHARGE=$(curl -s -X POST $BASE/api/pix/cash-in -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -H "X-Idempotency-Key: $(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)" \
  -d '{"transaction":{"value":189.90,"description":"Pedido #8842 - Loja Virtual","externalId":"ORD-8842-'$RANDOM'","expirationTime":3600,"generateQrCode":true},"payer":{"fullName":"Carlos Oliveira","document":"11222333000181"},"additionalInfo":{"orderId":"8842"}}')
printf '%s\n' "$CHARGE"
ID=$(printf '%s' "$CHARGE" | sed -E 's/.*"transactionId":"([^"]+)".*/\1/')

# 3. Save the QR code (open pix.png), fetch the charge, list the pending charges
printf '%s' "$CHARGE" | sed -E 's/.*"qrCodeImage":"data:image\/png;base64,([^"]+)".*/\1/' | base64 -d > pix.png
curl -s -w '\n' $BASE/api/pix/cash-in/$ID -H "Authorization: Bearer $TOKEN"
curl -s -w '\n' "$BASE/api/pix/cash-in?status=PENDING&limit=10" -H "Authorization: Bearer $TOKEN"

# 4. Pay it as the payer's bank would (sandbox): CONFIRMED. The balance shows the money at
#    once: in `incoming` until its booking (moments later) moves it to `available`
curl -s -w '\n' -X POST $BASE/api/sandbox/cash-in/$ID/pay -H "Authorization: Bearer $TOKEN"
curl -s -w '\n' $BASE/api/account/balance -H "Authorization: Bearer $TOKEN"

# 5. A marketplace charge split 70 % / 20 % / R$ 10, paid
MKT=$(curl -s -X POST $BASE/api/pix/cash-in -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"transaction":{"value":200.00,"description":"Pedido #12345","externalId":"MKT-'$RANDOM'"},"payer":{"fullName":"João Pereira","document":"12345678909"},"splits":[{"pixKey":"vendedor@email.com","pixKeyType":"EMAIL","name":"Loja do João","document":"11222333000181","type":"PERCENTAGE","value":70},{"pixKey":"11222333000181","pixKeyType":"CNPJ","name":"Marketplace Ltda","document":"11222333000181","type":"PERCENTAGE","value":20},{"pixKey":"+5511999887766","pixKeyType":"PHONE","name":"Entregador Silva","document":"98765432100","type":"FIXED","value":10.00}]}' \
  | sed -E 's/.*"transactionId":"([^"]+)".*/\1/')
curl -s -w '\n' -X POST $BASE/api/sandbox/cash-in/$MKT/pay -H "Authorization: Bearer $TOKEN"

# 6. Its splits are booked SCHEDULED (140.00 / 40.00 / 10.00): they wait for the payout
#    window (DAILY 09:00 São Paulo by default). Pay them out now instead (one payout per
#    recipient), wait until no payout is PROCESSING, then list the paid ones and open one
wait_for $BASE/api/pix/cash-in/$MKT '"status":"SCHEDULED"'
curl -s -w '\n' $BASE/api/pix/cash-in/$MKT -H "Authorization: Bearer $TOKEN"
curl -s -w '\n' -X POST $BASE/api/sandbox/payouts/run -H "Authorization: Bearer $TOKEN"
wait_for "$BASE/api/payouts?status=PROCESSING" '"items":[]'
PAYOUTS=$(curl -s "$BASE/api/payouts?status=PAID&limit=10" -H "Authorization: Bearer $TOKEN")
printf '%s\n' "$PAYOUTS"
PO=$(printf '%s' "$PAYOUTS" | sed -E 's/.*"id":"(po_[0-9a-f]+)".*/\1/')
curl -s -w '\n' $BASE/api/payouts/$PO -H "Authorization: Bearer $TOKEN"

# 7. Money out. Refunds, cash-outs and payout-schedule changes are signed: DigitalSignature =
#    hex(HMAC-SHA256(key = cryptoToken, message = the bearer token)); recompute it with every
#    new token. Refund the first charge in full (202, REFUND_PROCESSING with a D... end-to-end
#    id; the sandbox settles it at once, so GET shows it REFUNDED), send R$ 5 of the available
#    balance to a PIX key (202, PROCESSING, then COMPLETED), and read the ledger entries
#    behind the balance
SIG=$(printf %s "$TOKEN" | openssl dgst -sha256 -hmac "$CRYPTO_TOKEN" -hex | sed 's/^.* //')
curl -s -w '\n' -X POST $BASE/api/pix/cash-in/$ID/refund -H "Authorization: Bearer $TOKEN" -H "DigitalSignature: $SIG" \
  -H 'Content-Type: application/json' -d '{"reason":"CUSTOMER_REQUEST","description":"Ticket #1234"}'
curl -s -w '\n' $BASE/api/pix/cash-in/$ID -H "Authorization: Bearer $TOKEN"
CASHOUT=$(curl -s -X POST $BASE/api/pix/cash-out -H "Authorization: Bearer $TOKEN" -H "DigitalSignature: $SIG" \
  -H 'Content-Type: application/json' -H "X-Idempotency-Key: $(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)" \
  -d '{"value":5.00,"description":"Saque","externalId":"WD-'$RANDOM'","pixKey":"financeiro@lojaexemplo.com.br","pixKeyType":"EMAIL"}')
printf '%s\n' "$CASHOUT"
CO=$(printf '%s' "$CASHOUT" | sed -E 's/.*"id":"(co_[0-9a-f]+)".*/\1/')
wait_for $BASE/api/pix/cash-out/$CO '"status":"COMPLETED"'
curl -s -w '\n' $BASE/api/pix/cash-out/$CO -H "Authorization: Bearer $TOKEN"
curl -s -w '\n' $BASE/api/account/balance -H "Authorization: Bearer $TOKEN"
curl -s -w '\n' "$BASE/api/account/statement?limit=50" -H "Authorization: Bearer $TOKEN"

# 8. Webhooks: every event (CASHIN_CONFIRMED, PAYOUT_PAID, SPLIT_PAID, ...) POSTed to your
#    endpoint, signed per Standard Webhooks. Here http://localhost / http://127.0.0.1 receivers
#    are allowed (on AWS: public https only); run one on port 9000 (README.md "Webhooks" has a
#    Python and a Node receiver that verify signatures), then register it: the answer (201)
#    shows the signing secret (whsec_...) once. Events from then on are delivered and retried.
curl -s -w '\n' -X PUT $BASE/api/account/webhook -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:9000/webhooks"}'
curl -s -w '\n' "$BASE/api/webhooks/deliveries?limit=10" -H "Authorization: Bearer $TOKEN"
"#;

/// The banner's heading line of the paste block: the block is the indented text after it.
pub const PASTE_HEADING: &str = "Quickstart — paste into a shell:";

/// The variables the steps use, with this gateway's values. Single-quoted: the secrets are
/// URL-safe base64 today, but a quote-free value is not something to rely on in a paste.
fn variables(base: &str, demo: &NewAccountCredentials) -> String {
    format!(
        "BASE={base}\nCLIENT_ID='{}'\nCLIENT_SECRET='{}'\nCRYPTO_TOKEN='{}'\n",
        demo.client_id, demo.client_secret, demo.crypto_token
    )
}

/// `text` with every non-empty line indented by two spaces, as the banner shows code.
fn indented(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() {
                "\n".to_owned()
            } else {
                format!("  {line}\n")
            }
        })
        .collect()
}

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
    let block = indented(&format!("{}\n{STEPS}", variables(base, demo)));
    println!(
        r#"
PIX gateway running at {base}   (store: {store}, PIX providers: {providers})

Demo account (kept in the data dir; `pixgw account create --name NAME` makes more):
  accountId    {account_id}
  clientId     {client_id}
  clientSecret {client_secret}
  cryptoToken  {crypto_token}

{PASTE_HEADING}

{block}
Not in the block: the payout scheduler pays each window by itself on the sandbox clock
(the scheduler ticks every {scheduler_every} s). Move that clock a day ahead to see SCHEDULED
splits paid without a run; everything ages with it (tokens expire after 1 h of sandbox
time), so get a new token (step 1) afterwards:
  curl -s -w '\n' -X POST $BASE/api/sandbox/clock/advance -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{{"seconds":86400}}'

More examples (minimal, B2B, marketplace with 3 splits, immediate split), webhooks: README.md.
API reference: curl -s {base}/api/openapi.json -H "Authorization: Bearer $TOKEN"
"#
    );
}
