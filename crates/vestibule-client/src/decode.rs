//! Just enough base64 and JWT reading for publishable keys and the token cache. The SDK never
//! verifies tokens (the backend does); it only reads `exp` to know when to ask for a new one.

/// Decodes base64 in either alphabet (standard or URL-safe), with or without `=` padding, as the
/// browser's forgiving `atob` and JWT segments need. `None` for anything malformed.
pub(crate) fn base64(input: &str) -> Option<Vec<u8>> {
    let data = input.trim_end_matches('=');
    let padding = input.len() - data.len();
    if padding > 2 || (padding > 0 && !input.len().is_multiple_of(4)) || data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in data.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The claims of a three-part JWT, unverified.
pub(crate) fn jwt_claims(jwt: &str) -> Option<serde_json::Value> {
    let mut parts = jwt.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    serde_json::from_slice(&base64(payload)?).ok()
}

/// `exp` of a JWT, in Unix seconds.
pub(crate) fn jwt_expiry(jwt: &str) -> Option<i64> {
    let exp = jwt_claims(jwt)?.get("exp")?.clone();
    // Some issuers write NumericDate with a fraction; whole seconds are enough here.
    exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_alphabets_with_and_without_padding() {
        assert_eq!(base64("").as_deref(), Some(&b""[..]));
        assert_eq!(base64("Zg").as_deref(), Some(&b"f"[..]));
        assert_eq!(base64("Zg==").as_deref(), Some(&b"f"[..]));
        assert_eq!(base64("Zm8").as_deref(), Some(&b"fo"[..]));
        assert_eq!(base64("Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(base64("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(base64("Zm9vYmFy").as_deref(), Some(&b"foobar"[..]));
        // 0xfb 0xff: '+/' in the standard alphabet, '-_' in the URL-safe one.
        assert_eq!(base64("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64("+/8=").as_deref(), Some(&[0xfb, 0xff][..]));
    }

    #[test]
    fn refuses_malformed_base64() {
        assert_eq!(base64("Z"), None, "one dangling character");
        assert_eq!(base64("Zg="), None, "padding without a full quantum");
        assert_eq!(base64("Z==="), None, "three padding characters");
        assert_eq!(base64("Zm9v!"), None, "a character outside both alphabets");
        assert_eq!(base64("Zm 9v"), None, "whitespace");
    }

    #[test]
    fn reads_jwt_expiry() {
        // {"alg":"none"} . {"sub":"user_1","exp":1700000000} . sig
        let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyXzEiLCJleHAiOjE3MDAwMDAwMDB9.c2ln";
        assert_eq!(jwt_expiry(jwt), Some(1_700_000_000));
        assert_eq!(
            jwt_claims(jwt).and_then(|c| c["sub"].as_str().map(str::to_owned)),
            Some("user_1".into())
        );
        assert_eq!(jwt_expiry("only.two"), None);
        assert_eq!(jwt_expiry("a.b.c.d"), None);
        assert_eq!(jwt_expiry("a.!!!.c"), None);
        // {"sub":"x"}: no exp.
        assert_eq!(jwt_expiry("e30.eyJzdWIiOiJ4In0.c2ln"), None);
    }
}
