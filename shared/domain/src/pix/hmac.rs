//! HMAC-SHA256 keyed with a secret of any length: the one MAC the gateway computes (webhook
//! signatures, `DigitalSignature`, derived keys), built here so that no caller handles an error
//! that cannot happen.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A fresh HMAC-SHA256 keyed with `key`, ready for `update`.
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC is defined for keys of any length (long ones are hashed, short ones padded), so
    // `new_from_slice` never fails for it; its `Result` exists only because the same trait also
    // serves MACs with a fixed key size.
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_any_length_give_the_rfc_4231_macs() {
        // RFC 4231 test case 2 (a 4-byte key) and test case 6 (a 131-byte key, hashed first).
        let mut short = hmac_sha256(b"Jefe");
        short.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(short.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut long = hmac_sha256(&[0xaa; 131]);
        long.update(b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex::encode(long.finalize().into_bytes()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(hmac_sha256(b"").finalize().into_bytes().len(), 32);
    }
}
