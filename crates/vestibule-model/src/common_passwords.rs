//! The bundled list of common passwords (see `data/README.md` for its source and license).
//! New passwords found on it are refused: NIST 800-63B requires comparing against such a list.

use std::collections::HashSet;
use std::sync::OnceLock;

const LIST: &str = include_str!("../data/common-passwords.txt");

fn set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| LIST.lines().filter(|l| !l.is_empty()).collect())
}

/// Whether `password` is on the list, ignoring case (the list is lower case).
pub fn is_common(password: &str) -> bool {
    set().contains(password.to_lowercase().as_str())
}

/// How many passwords the list holds.
pub fn count() -> usize {
    set().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_large_and_matches_regardless_of_case() {
        assert!(count() >= 10_000, "{}", count());
        for p in ["password", "PassWord", "12345678", "qwerty123", "iloveyou"] {
            assert!(is_common(p), "{p}");
        }
        assert!(!is_common("correct horse battery staple 42"));
    }
}
