//! Login tokens (§P-3.3): lowercase hex of HMAC-SHA256(key = secret, message = account).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The token a server with `secret` accepts for `account`.
pub fn token_for(secret: &str, account: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any size");
    mac.update(account.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Exact comparison, in constant time with respect to the token's content.
pub fn verify(secret: &str, account: &str, token: &str) -> bool {
    let expected = token_for(secret, account);
    expected.len() == token.len()
        && expected
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc4231_style_reference() {
        // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog")
        assert_eq!(
            token_for("key", "The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(verify("s", "alice", &token_for("s", "alice")));
        assert!(!verify("s", "alice", &token_for("s", "bob")));
        assert!(!verify(
            "s",
            "alice",
            &token_for("s", "alice").to_uppercase()
        ));
    }
}
