//! Digest (RFC 7616): from credentials the `username` (or the RFC 8187 `username*`
//! ext-value) and `realm`; from a challenge the `realm` and `stale`. The `response`,
//! `nonce`, `cnonce` and the other parameters are never copied out of the header value.

use super::header::AuthItem;
use crate::anomaly::CredentialAnomaly as A;

/// What Digest credentials reveal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestCredentials {
    pub user: Option<String>,
    pub realm: Option<String>,
    pub anomaly: Option<A>,
}

/// Reads the identity out of a parsed `Digest ...` credentials item.
pub fn credentials(item: &AuthItem<'_>) -> DigestCredentials {
    let mut out = DigestCredentials {
        realm: non_empty(item.param("realm")),
        ..Default::default()
    };
    let userhash = item
        .param("userhash")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if let Some(ext) = item.param("username*") {
        match ext_value(ext) {
            Some(u) => out.user = non_empty(Some(&u)),
            None => out.anomaly = Some(A::DigestBadUsernameExt),
        }
    } else if let Some(u) = item.param("username") {
        out.user = non_empty(Some(u));
    }
    if userhash {
        // The "name" is a hash of the name and realm: not an identity to show.
        out.user = None;
    }
    if out.user.is_none() && !userhash {
        out.anomaly.get_or_insert(A::DigestNoUsername);
    }
    out
}

/// What a Digest challenge reveals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: Option<String>,
    pub stale: bool,
}

pub fn challenge(item: &AuthItem<'_>) -> DigestChallenge {
    DigestChallenge {
        realm: non_empty(item.param("realm")),
        stale: item
            .param("stale")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
    }
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_string)
}

/// Decodes an RFC 8187 ext-value: `charset'language'percent-encoded`. UTF-8 and
/// ISO-8859-1 are understood (others are read as UTF-8, lossily).
pub(crate) fn ext_value(v: &str) -> Option<String> {
    let mut parts = v.splitn(3, '\'');
    let charset = parts.next()?;
    let _lang = parts.next()?;
    let enc = parts.next()?;
    let mut bytes = Vec::with_capacity(enc.len());
    let mut it = enc.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let h = hex(it.next()?)?;
            let l = hex(it.next()?)?;
            bytes.push(h << 4 | l);
        } else {
            bytes.push(b);
        }
    }
    if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.iter().map(|&b| char::from(b)).collect())
    } else {
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::auth::header;

    #[test]
    fn username_and_ext_value() {
        let p = header::parse(r#"Digest username="Susan", realm="INS.COM", response="abc""#);
        let c = credentials(&p.items[0]);
        assert_eq!(c.user.as_deref(), Some("Susan"));
        assert_eq!(c.realm.as_deref(), Some("INS.COM"));
        let p = header::parse(r#"Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="r""#);
        assert_eq!(credentials(&p.items[0]).user.as_deref(), Some("Jäsøn Doe"));
        assert_eq!(ext_value("iso-8859-1''%E9").as_deref(), Some("é"));
        assert_eq!(ext_value("UTF-8''%G1"), None);
    }

    #[test]
    fn stale_variants() {
        for (v, want) in [
            ("stale=true", true),
            ("stale=\"TRUE\"", true),
            ("stale=false", false),
            ("realm=x", false),
        ] {
            let value = format!("Digest nonce=\"n\", {v}");
            let p = header::parse(&value);
            assert_eq!(challenge(&p.items[0]).stale, want, "{v}");
        }
    }
}
