//! Authentication, in one place: client credentials (argon2id hashes), bearer tokens (HS256
//! JWTs, 1 h), the `DigitalSignature` of money-moving calls, and the at-rest encryption of each
//! account's `cryptoToken` and webhook signing secrets.
//!
//! Token checks use the injected clock, not the system clock, so sandbox time travel and tests
//! see expiry exactly where the domain does. Only HS256 is accepted: `none`, RS256 and any other
//! algorithm in the header are refused before the signature is even considered.

use crate::store::DynStore;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pixgw_domain::pix::hmac::hmac_sha256;
use pixgw_domain::pix::ids::AccountId;
use pixgw_domain::webhooks::ports::{SealError, SecretSealer};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::http_types::ApiRequest;

/// Bearer tokens live one hour (seed 001).
pub const TOKEN_TTL_SECONDS: i64 = 3600;
const ISSUER: &str = "pixgw";
const AUDIENCE: &str = "pixgw-api";

/// The gateway's own secrets. Never logged (no `Debug` that shows them).
///
/// A host holds only the keys its flow uses: each Lambda function is given just its own
/// (`functions/src/bootstrap.rs`), so a function that never verifies tokens has no JWT key and
/// one that never opens a stored secret has no data key. Using a key the host does not hold is
/// a deployment mistake, answered as an internal error ([`KeyError::NotHeld`]), never worked
/// around.
#[derive(Clone)]
pub struct AuthKeys {
    jwt_secret: Option<Vec<u8>>,
    data_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKeys(**redacted**)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the JWT secret must be at least 32 bytes")]
    WeakJwtSecret,
    #[error("the data key must be 64 hex characters (32 bytes)")]
    BadDataKey,
    /// The host was built without this key because its flow should never need it.
    #[error("this host holds no {0}: its flow was not expected to use it")]
    NotHeld(&'static str),
}

const JWT_KEY: &str = "JWT key";
const DATA_KEY: &str = "data key";

impl AuthKeys {
    pub fn new(jwt_secret: Vec<u8>, data_key: [u8; 32]) -> Result<AuthKeys, KeyError> {
        AuthKeys::only(Some(jwt_secret), Some(data_key))
    }

    /// Only the keys a host's flow uses (`None`: not held).
    pub fn only(
        jwt_secret: Option<Vec<u8>>,
        data_key: Option<[u8; 32]>,
    ) -> Result<AuthKeys, KeyError> {
        if jwt_secret.as_ref().is_some_and(|secret| secret.len() < 32) {
            return Err(KeyError::WeakJwtSecret);
        }
        Ok(AuthKeys {
            jwt_secret,
            data_key,
        })
    }

    /// From hex strings, as configuration carries them.
    pub fn from_hex(jwt_secret_hex: &str, data_key_hex: &str) -> Result<AuthKeys, KeyError> {
        AuthKeys::only_from_hex(Some(jwt_secret_hex), Some(data_key_hex))
    }

    /// [`AuthKeys::only`] from hex strings.
    pub fn only_from_hex(
        jwt_secret_hex: Option<&str>,
        data_key_hex: Option<&str>,
    ) -> Result<AuthKeys, KeyError> {
        let jwt = jwt_secret_hex
            .map(|hex| hex::decode(hex.trim()).map_err(|_| KeyError::WeakJwtSecret))
            .transpose()?;
        let data = data_key_hex
            .map(|hex| {
                hex::decode(hex.trim())
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or(KeyError::BadDataKey)
            })
            .transpose()?;
        AuthKeys::only(jwt, data)
    }

    fn jwt_secret(&self) -> Result<&[u8], KeyError> {
        self.jwt_secret.as_deref().ok_or(KeyError::NotHeld(JWT_KEY))
    }

    fn data_key(&self) -> Result<&[u8; 32], KeyError> {
        self.data_key.as_ref().ok_or(KeyError::NotHeld(DATA_KEY))
    }

    /// A key for one purpose, derived from the data key (HMAC-SHA256 with `label`), so each
    /// purpose gets its own secret without another secret to provision.
    pub fn derive(&self, label: &str) -> Result<Vec<u8>, KeyError> {
        let mut mac = hmac_sha256(self.data_key()?);
        mac.update(label.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// The secret the sandbox PIX network signs its webhooks with.
    pub fn sandbox_webhook_secret(&self) -> Result<Vec<u8>, KeyError> {
        self.derive("pixgw/sandbox-provider-webhook/v1")
    }

    /// Fresh random keys, hex encoded: `(jwt_secret, data_key)`.
    pub fn generate_hex() -> (String, String) {
        (
            hex::encode(random_bytes::<48>()),
            hex::encode(random_bytes::<32>()),
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A freshly issued bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

pub fn issue_token(
    keys: &AuthKeys,
    account: &AccountId,
    now: DateTime<Utc>,
) -> Result<IssuedToken, ApiError> {
    let claims = Claims {
        sub: account.to_string(),
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        iat: now.timestamp(),
        exp: now.timestamp() + TOKEN_TTL_SECONDS,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(keys.jwt_secret().map_err(not_held)?),
    )
    .map_err(|e| ApiError::Internal(format!("signing token: {e}")))?;
    Ok(IssuedToken {
        access_token: token,
        expires_in: TOKEN_TTL_SECONDS,
    })
}

/// Verifies a bearer token and returns the account it speaks for.
pub fn verify_token(
    keys: &AuthKeys,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccountId, ApiError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against the injected clock.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let secret = keys.jwt_secret().map_err(not_held)?;
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|_| ApiError::InvalidToken)?;
    if data.claims.exp <= now.timestamp() || data.claims.iat > now.timestamp() + 60 {
        return Err(ApiError::InvalidToken);
    }
    AccountId::parse(&data.claims.sub).ok_or(ApiError::InvalidToken)
}

/// The token of a request's `Authorization: Bearer …` header, exactly as `DigitalSignature`
/// signs it (surrounding whitespace is not part of it). The scheme name is case-insensitive
/// (RFC 9110 §11.1: `Bearer`, `bearer` and `BEARER` are one scheme) and is separated from
/// the token by one or more spaces (RFC 9110 §11.4). Any other scheme is no bearer token.
pub fn bearer_token(request: &ApiRequest) -> Result<&str, ApiError> {
    let header = request
        .header("authorization")
        .ok_or(ApiError::MissingToken)?;
    let (scheme, token) = header
        .trim_start()
        .split_once(' ')
        .ok_or(ApiError::MissingToken)?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
        Ok(token)
    } else {
        Err(ApiError::MissingToken)
    }
}

/// The account behind a request's `Authorization: Bearer …` header.
pub fn authenticate(
    keys: &AuthKeys,
    request: &ApiRequest,
    now: DateTime<Utc>,
) -> Result<AccountId, ApiError> {
    verify_token(keys, bearer_token(request)?, now)
}

// ---------------------------------------------------------------------------------------------
// DigitalSignature (money-moving calls)

/// The request header carrying the signature (header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "digitalsignature";

type HmacSha256 = Hmac<sha2::Sha256>;

fn signature_mac(crypto_token: &str, bearer_token: &str) -> HmacSha256 {
    let mut mac = hmac_sha256(crypto_token.as_bytes());
    mac.update(bearer_token.as_bytes());
    mac
}

/// `hex(HMAC-SHA256(key = cryptoToken, message = bearer token))`, lowercase: what a client
/// sends as `DigitalSignature`. The key is the `cryptoToken` text exactly as handed out (its
/// UTF-8 bytes, not base64-decoded).
pub fn digital_signature(crypto_token: &str, bearer_token: &str) -> String {
    hex::encode(
        signature_mac(crypto_token, bearer_token)
            .finalize()
            .into_bytes(),
    )
}

/// Checks a `DigitalSignature` header value against the account's `cryptoToken`: hex in either
/// case, surrounding whitespace ignored, compared in constant time (so the response time does
/// not reveal how many leading bytes of a guess were right).
fn check_signature(crypto_token: &str, bearer_token: &str, header: &str) -> Result<(), ApiError> {
    let sent = hex::decode(header.trim()).map_err(|_| ApiError::InvalidSignature)?;
    signature_mac(crypto_token, bearer_token)
        .verify_slice(&sent)
        .map_err(|_| ApiError::InvalidSignature)
}

/// Requires a valid `DigitalSignature` on a request already authenticated as `account_id`
/// with `bearer_token`. The header is looked at before the account is read, so an unsigned
/// call costs no storage read.
pub async fn verify_digital_signature(
    store: &DynStore,
    keys: &AuthKeys,
    request: &ApiRequest,
    account_id: &AccountId,
    bearer_token: &str,
) -> Result<(), ApiError> {
    let header = match request.headers.get(SIGNATURE_HEADER) {
        None => return Err(ApiError::SignatureRequired),
        // Not visible ASCII: certainly not hex.
        Some(value) => value.to_str().map_err(|_| ApiError::InvalidSignature)?,
    };
    if header.trim().is_empty() {
        return Err(ApiError::SignatureRequired);
    }
    // A token outliving its account (deleted or moved) is no longer a valid session.
    let account = store
        .get_account(account_id)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let crypto_token = decrypt_secret(keys, &account.crypto_token_encrypted)?;
    check_signature(&crypto_token, bearer_token, header)
}

// ---------------------------------------------------------------------------------------------
// Client secrets

/// A new random client secret (256 bits, URL-safe).
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A memory-hard hash (argon2id, default parameters) in PHC format.
pub fn hash_secret(secret: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing secret: {e}")))
}

pub fn verify_secret(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Verified against when the client id is unknown, so both paths cost the same hash and the
/// response time does not reveal which client ids exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_secret(&generate_secret()).unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// cryptoToken at rest

/// Encrypts with AES-256-GCM under the gateway's data key: `v1.<base64(nonce ‖ ciphertext)>`.
pub fn encrypt_secret(keys: &AuthKeys, plaintext: &str) -> Result<String, ApiError> {
    let cipher = Aes256Gcm::new_from_slice(keys.data_key().map_err(not_held)?)
        .map_err(|_| ApiError::Internal("data key".into()))?;
    let nonce_bytes = random_bytes::<12>();
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce_bytes), plaintext.as_bytes())
        .map_err(|_| ApiError::Internal("encrypting secret".into()))?;
    let mut sealed = nonce_bytes.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(format!("v1.{}", STANDARD.encode(sealed)))
}

pub fn decrypt_secret(keys: &AuthKeys, sealed: &str) -> Result<String, ApiError> {
    let fail = || ApiError::Internal("stored secret cannot be decrypted".into());
    let bytes = sealed
        .strip_prefix("v1.")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .filter(|b| b.len() > 12)
        .ok_or_else(fail)?;
    let (nonce, ciphertext) = bytes.split_at(12);
    let cipher =
        Aes256Gcm::new_from_slice(keys.data_key().map_err(not_held)?).map_err(|_| fail())?;
    let plain = cipher
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .map_err(|_| fail())?;
    String::from_utf8(plain).map_err(|_| fail())
}

/// Merchant webhook signing secrets are sealed like the `cryptoToken`: AES-256-GCM under the
/// data key. The domain only sees "it could not be sealed/opened"; the cause stays here.
impl SecretSealer for AuthKeys {
    fn seal(&self, plaintext: &str) -> Result<String, SealError> {
        encrypt_secret(self, plaintext).map_err(|_| SealError)
    }

    fn open(&self, sealed: &str) -> Result<String, SealError> {
        decrypt_secret(self, sealed).map_err(|_| SealError)
    }
}

/// A key this host was not given: a deployment mistake, not the caller's, hence a 500 (its
/// message is logged, never shown).
fn not_held(error: KeyError) -> ApiError {
    ApiError::Internal(error.to_string())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;

    fn with_authorization(value: &str) -> ApiRequest {
        ApiRequest::new(Method::GET, "/api/x").with_header("authorization", value)
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER a.b.c",
            "bEaReR   a.b.c  ",
        ] {
            assert_eq!(
                bearer_token(&with_authorization(value)),
                Ok("a.b.c"),
                "{value}"
            );
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_bearer_token() {
        for value in [
            "Basic a.b.c",
            "Bearer",
            "Bearer ",
            "Bearera.b.c",
            "Bearer\ta.b.c",
            "",
        ] {
            assert_eq!(
                bearer_token(&with_authorization(value)),
                Err(ApiError::MissingToken),
                "{value:?}"
            );
        }
        let none = ApiRequest::new(Method::GET, "/api/x");
        assert_eq!(bearer_token(&none), Err(ApiError::MissingToken));
    }

    #[test]
    fn webhook_secrets_are_sealed_under_the_data_key() {
        let keys = AuthKeys::new(vec![1u8; 32], [2u8; 32]).unwrap();
        let sealed = keys.seal("whsec_c2VjcmV0").unwrap();
        assert!(!sealed.contains("whsec_"));
        assert_eq!(keys.open(&sealed), Ok("whsec_c2VjcmV0".to_owned()));
        let other = AuthKeys::new(vec![1u8; 32], [3u8; 32]).unwrap();
        assert_eq!(other.open(&sealed), Err(SealError));
        assert_eq!(keys.open("garbage"), Err(SealError));
    }

    #[test]
    fn a_key_the_host_does_not_hold_is_an_internal_error_never_a_pass() {
        let now = Utc::now();
        let account = AccountId::generate();
        let full = AuthKeys::new(vec![1u8; 32], [2u8; 32]).unwrap();
        let token = issue_token(&full, &account, now).unwrap().access_token;
        let sealed = full.seal("whsec_c2VjcmV0").unwrap();

        let tokens_only = AuthKeys::only(Some(vec![1u8; 32]), None).unwrap();
        assert_eq!(verify_token(&tokens_only, &token, now), Ok(account.clone()));
        assert_eq!(tokens_only.open(&sealed), Err(SealError));
        assert!(matches!(
            decrypt_secret(&tokens_only, &sealed),
            Err(ApiError::Internal(message)) if message.contains("data key")
        ));
        assert_eq!(
            tokens_only.sandbox_webhook_secret(),
            Err(KeyError::NotHeld("data key"))
        );

        let data_only = AuthKeys::only(None, Some([2u8; 32])).unwrap();
        assert_eq!(data_only.open(&sealed), Ok("whsec_c2VjcmV0".to_owned()));
        assert_eq!(
            data_only.sandbox_webhook_secret(),
            full.sandbox_webhook_secret()
        );
        for refused in [
            verify_token(&data_only, &token, now).map(|_| ()),
            issue_token(&data_only, &account, now).map(|_| ()),
        ] {
            assert!(
                matches!(&refused, Err(ApiError::Internal(m)) if m.contains("JWT key")),
                "{refused:?}"
            );
        }
        assert_eq!(
            AuthKeys::only_from_hex(Some("ab"), None).err(),
            Some(KeyError::WeakJwtSecret)
        );
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_token_under_the_crypto_token() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            digital_signature("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_check_accepts_either_hex_case_and_nothing_else() {
        let good = digital_signature("crypto-token", "the.bearer.token");
        assert_eq!(
            check_signature("crypto-token", "the.bearer.token", &good),
            Ok(())
        );
        let upper = good.to_uppercase();
        assert_eq!(
            check_signature("crypto-token", "the.bearer.token", &upper),
            Ok(())
        );
        assert_eq!(
            check_signature("crypto-token", "the.bearer.token", &format!(" {good} ")),
            Ok(())
        );
        let refused = [
            digital_signature("other-token", "the.bearer.token"),
            digital_signature("crypto-token", "another.bearer.token"),
            good[..62].to_owned(),
            format!("{good}00"),
            format!("{}zz", &good[..62]),
            "not hex".to_owned(),
        ];
        for sent in refused {
            assert_eq!(
                check_signature("crypto-token", "the.bearer.token", &sent),
                Err(ApiError::InvalidSignature),
                "{sent}"
            );
        }
    }
}
