use super::*;
use serde_json::json;
use std::sync::OnceLock;

const NOW: i64 = 1_750_000_000;

/// Two keys, generated once for all tests (RSA key generation is the slow part).
fn keys() -> &'static (SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            SigningKey::generate("ins_key_a".into()).unwrap(),
            SigningKey::generate("ins_key_b".into()).unwrap(),
        )
    })
}

fn key() -> &'static SigningKey {
    &keys().0
}

fn jwks_of(keys: &[&SigningKey]) -> Jwks {
    Jwks {
        keys: keys.iter().map(|k| k.public_jwk()).collect(),
    }
}

fn claims() -> serde_json::Value {
    json!({"sub": "user_123", "sid": "sess_456", "iat": NOW, "nbf": NOW - 10, "exp": NOW + 60, "v": 2})
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn sign_and_verify_round_trip() {
    let token = key().sign_jwt(&claims()).unwrap();
    let got = verify_jwt(&token, &jwks_of(&[key()]), NOW, 5).unwrap();
    assert_eq!(got, claims());
}

#[test]
fn header_is_rs256_with_kid_and_typ() {
    let token = key().sign_jwt(&claims()).unwrap();
    let p = parts(&token);
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|s| !s.contains('=')), "no padding");
    let header = URL_SAFE_NO_PAD.decode(&p[0]).unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        r#"{"alg":"RS256","kid":"ins_key_a","typ":"JWT"}"#
    );
    // PKCS#1 v1.5 signatures are deterministic and as long as the modulus.
    assert_eq!(URL_SAFE_NO_PAD.decode(&p[2]).unwrap().len(), 256);
    assert_eq!(key().sign_jwt(&claims()).unwrap(), token);
}

#[test]
fn tampered_payload_is_rejected() {
    let token = key().sign_jwt(&claims()).unwrap();
    let p = parts(&token);
    let mut forged = claims();
    forged["sub"] = json!("user_admin");
    let tampered = format!("{}.{}.{}", p[0], b64(forged.to_string().as_bytes()), p[2]);
    assert_eq!(
        verify_jwt(&tampered, &jwks_of(&[key()]), NOW, 5),
        Err(JwtError::InvalidSignature)
    );
}

#[test]
fn flipped_signature_bit_is_rejected() {
    let token = key().sign_jwt(&claims()).unwrap();
    let p = parts(&token);
    for bit in [0usize, 7, 1000, 2047] {
        let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
        sig[bit / 8] ^= 1 << (bit % 8);
        let flipped = format!("{}.{}.{}", p[0], p[1], b64(&sig));
        assert_eq!(
            verify_jwt(&flipped, &jwks_of(&[key()]), NOW, 5),
            Err(JwtError::InvalidSignature),
            "bit {bit}"
        );
    }
}

#[test]
fn alg_none_is_rejected() {
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg, "kid": "ins_key_a", "typ": "JWT"})
            .to_string()
            .as_bytes());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert!(
                matches!(
                    verify_jwt(&token, &jwks_of(&[key()]), NOW, 5),
                    Err(JwtError::UnsupportedAlgorithm(_) | JwtError::Malformed(_))
                ),
                "{alg}"
            );
        }
        let token = format!("{header}.{payload}.");
        assert_eq!(
            verify_jwt(&token, &jwks_of(&[key()]), NOW, 5),
            Err(JwtError::UnsupportedAlgorithm(alg.into()))
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_rejected() {
    // The classic confusion attack: HMAC keyed with the (public) PEM, hoping the verifier uses it as a secret.
    let header = b64(json!({"alg": "HS256", "kid": "ins_key_a", "typ": "JWT"})
        .to_string()
        .as_bytes());
    let payload = b64(claims().to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    for secret in [key().public_key_pem(), key().public_jwk().n] {
        let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&mac_key, signing_input.as_bytes());
        let token = format!("{signing_input}.{}", b64(tag.as_ref()));
        assert_eq!(
            verify_jwt(&token, &jwks_of(&[key()]), NOW, 5),
            Err(JwtError::UnsupportedAlgorithm("HS256".into()))
        );
    }
}

#[test]
fn unknown_or_missing_kid_is_rejected() {
    let (a, b) = keys();
    let token = a.sign_jwt(&claims()).unwrap();
    assert_eq!(
        verify_jwt(&token, &jwks_of(&[b]), NOW, 5),
        Err(JwtError::UnknownKey)
    );
    assert_eq!(
        verify_jwt(&token, &Jwks::default(), NOW, 5),
        Err(JwtError::UnknownKey)
    );
    let p = parts(&token);
    let no_kid = b64(json!({"alg": "RS256", "typ": "JWT"}).to_string().as_bytes());
    assert_eq!(
        verify_jwt(
            &format!("{no_kid}.{}.{}", p[1], p[2]),
            &jwks_of(&[a]),
            NOW,
            5
        ),
        Err(JwtError::Malformed("header has no kid"))
    );
}

#[test]
fn expired_tokens_are_rejected_after_the_leeway() {
    let mut c = claims();
    c["exp"] = json!(NOW - 10);
    let token = key().sign_jwt(&c).unwrap();
    let jwks = jwks_of(&[key()]);
    assert_eq!(verify_jwt(&token, &jwks, NOW, 5), Err(JwtError::Expired));
    // exp must be strictly after now - leeway.
    assert_eq!(verify_jwt(&token, &jwks, NOW, 10), Err(JwtError::Expired));
    assert!(verify_jwt(&token, &jwks, NOW, 11).is_ok());
    // Fractional NumericDates are read too.
    c["exp"] = json!(NOW as f64 - 0.5);
    let token = key().sign_jwt(&c).unwrap();
    assert_eq!(verify_jwt(&token, &jwks, NOW, 0), Err(JwtError::Expired));
}

#[test]
fn tokens_from_the_future_are_rejected() {
    let mut c = claims();
    c["nbf"] = json!(NOW + 30);
    let token = key().sign_jwt(&c).unwrap();
    let jwks = jwks_of(&[key()]);
    assert_eq!(
        verify_jwt(&token, &jwks, NOW, 5),
        Err(JwtError::NotYetValid)
    );
    // nbf may be up to now + leeway.
    assert!(verify_jwt(&token, &jwks, NOW, 30).is_ok());
}

#[test]
fn exp_is_required_and_time_claims_must_be_numbers() {
    let jwks = jwks_of(&[key()]);
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    let token = key().sign_jwt(&c).unwrap();
    assert_eq!(
        verify_jwt(&token, &jwks, NOW, 5),
        Err(JwtError::Malformed("exp is required"))
    );
    let mut c = claims();
    c["nbf"] = json!("yesterday");
    let token = key().sign_jwt(&c).unwrap();
    assert!(matches!(
        verify_jwt(&token, &jwks, NOW, 5),
        Err(JwtError::Malformed(_))
    ));
    // A signed payload that is not an object.
    let token = key().sign_jwt(&json!([1, 2, 3])).unwrap();
    assert!(matches!(
        verify_jwt(&token, &jwks, NOW, 5),
        Err(JwtError::Malformed(_))
    ));
}

#[test]
fn malformed_tokens_are_rejected() {
    let jwks = jwks_of(&[key()]);
    let token = key().sign_jwt(&claims()).unwrap();
    for bad in [
        String::new(),
        "a.b".into(),
        "a.b.c.d".into(),
        format!("{token}.x"),
        format!("={token}"),
        "x".repeat(20_000),
    ] {
        assert!(
            matches!(verify_jwt(&bad, &jwks, NOW, 5), Err(JwtError::Malformed(_))),
            "{bad:.40}"
        );
    }
    // A critical extension we do not understand.
    let p = parts(&token);
    let crit = b64(
        json!({"alg": "RS256", "kid": "ins_key_a", "crit": ["b64"], "b64": false})
            .to_string()
            .as_bytes(),
    );
    assert!(matches!(
        verify_jwt(&format!("{crit}.{}.{}", p[1], p[2]), &jwks, NOW, 5),
        Err(JwtError::Malformed(_))
    ));
}

#[test]
fn public_key_pem_has_the_fixed_rsa_2048_prefix_and_suffix() {
    let pem = key().public_key_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert!(
        pem.trim_end().ends_with("-----END PUBLIC KEY-----"),
        "{pem}"
    );
    // @clerk/backend's `jwtKey` drops line breaks, the PEM armour, this prefix and this suffix, and takes what is
    // left as the modulus.
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        body.starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
        "{body}"
    );
    assert!(body.ends_with("IDAQAB"), "{body}");
    let modulus = body
        .trim_start_matches("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
        .trim_end_matches("IDAQAB")
        .replace('+', "-")
        .replace('/', "_");
    assert_eq!(modulus, key().public_jwk().n);
}

#[test]
fn jwk_is_rsa_2048_with_e_65537() {
    let jwk = key().public_jwk();
    assert_eq!(jwk.kid, "ins_key_a");
    assert_eq!(jwk.kty, "RSA");
    assert_eq!(jwk.alg, "RS256");
    assert_eq!(jwk.use_, "sig");
    assert_eq!(jwk.e, "AQAB");
    let n = URL_SAFE_NO_PAD.decode(&jwk.n).unwrap();
    assert_eq!(n.len(), 256);
    assert!(n[0] & 0x80 != 0, "top bit set: a full 2048-bit modulus");
    let wire = serde_json::to_value(jwks_of(&[key()])).unwrap();
    assert_eq!(wire["keys"][0]["use"], "sig");
    assert!(wire["keys"][0].get("use_").is_none());
}

#[test]
fn two_keys_in_a_jwks_each_verify_their_own_tokens() {
    let (a, b) = keys();
    let jwks: Jwks =
        serde_json::from_str(&serde_json::to_string(&jwks_of(&[a, b])).unwrap()).unwrap();
    for k in [a, b] {
        let token = k.sign_jwt(&claims()).unwrap();
        assert_eq!(
            verify_jwt(&token, &jwks, NOW, 5).unwrap(),
            claims(),
            "{}",
            k.kid()
        );
    }
    // A token signed by A but naming B's kid fails on the signature.
    let p = parts(&a.sign_jwt(&claims()).unwrap());
    let header_b = b64(json!({"alg": "RS256", "kid": "ins_key_b", "typ": "JWT"})
        .to_string()
        .as_bytes());
    assert_eq!(
        verify_jwt(&format!("{header_b}.{}.{}", p[1], p[2]), &jwks, NOW, 5),
        Err(JwtError::InvalidSignature)
    );
}

#[test]
fn stored_key_round_trips_through_pkcs8() {
    let restored = SigningKey::from_pkcs8_der("ins_key_a".into(), key().pkcs8_der()).unwrap();
    assert_eq!(restored.public_jwk(), key().public_jwk());
    assert_eq!(restored.public_key_pem(), key().public_key_pem());
    let token = restored.sign_jwt(&claims()).unwrap();
    assert!(verify_jwt(&token, &jwks_of(&[key()]), NOW, 5).is_ok());
}

#[test]
fn keys_other_than_rsa_2048_e65537_are_refused() {
    assert!(matches!(
        SigningKey::from_pkcs8_der("k".into(), b"not a key"),
        Err(KeyError::InvalidKey(_))
    ));
    let small = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let der = small.to_pkcs8_der().unwrap();
    assert!(matches!(
        SigningKey::from_pkcs8_der("k".into(), der.as_bytes()),
        Err(KeyError::UnsupportedKey(_))
    ));
    let odd_exponent =
        RsaPrivateKey::new_with_exp(&mut rand::rngs::OsRng, 2048, &BigUint::from(3u32)).unwrap();
    let der = odd_exponent.to_pkcs8_der().unwrap();
    assert!(matches!(
        SigningKey::from_pkcs8_der("k".into(), der.as_bytes()),
        Err(KeyError::UnsupportedKey(_))
    ));
}

#[test]
fn debug_shows_no_private_material() {
    let shown = format!("{:?}", key());
    assert!(shown.contains("ins_key_a"), "{shown}");
    assert!(shown.len() < 60, "{shown}");
    let der_b64 = base64::engine::general_purpose::STANDARD.encode(key().pkcs8_der());
    assert!(!shown.contains(&der_b64[..16]));
}
