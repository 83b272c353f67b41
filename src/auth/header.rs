//! The RFC 9110 §11 grammar of `Proxy-Authenticate` / `Proxy-Authorization` (and the
//! `WWW-` forms): a value is a comma-separated list of `scheme [ token68 / #auth-param ]`.
//! Commas separate both challenges and auth-params; a new challenge starts at a token that
//! is followed by a space (or a comma, or the end) rather than by `=`. Quoted strings take
//! backslash escapes; scheme and parameter names compare case-insensitively; empty list
//! elements are skipped. Anything malformed is named as an anomaly on the item it spoils
//! and the parse moves on to the next comma: it never fails and never panics.
//!
//! The items borrow the header value, which may hold secrets (a nonce, a token): they have
//! no `Display`, and their `Debug` shows only the scheme and parameter names.

use crate::anomaly::CredentialAnomaly as A;
use std::borrow::Cow;

/// One challenge (or a credentials value): the scheme and what follows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthItem<'a> {
    pub scheme: &'a str,
    /// The token68 form (`Basic dXNlcjpwYXNz`, `NTLM TlRMTVNTUA...`).
    pub token68: Option<&'a str>,
    /// The auth-param form: names as sent, values unquoted.
    pub params: Vec<(&'a str, Cow<'a, str>)>,
    pub anomaly: Option<A>,
}

impl std::fmt::Debug for AuthItem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.params.iter().map(|(n, _)| *n).collect();
        f.debug_struct("AuthItem")
            .field("scheme", &self.scheme)
            .field("token68_len", &self.token68.map(str::len))
            .field("params", &names)
            .field("anomaly", &self.anomaly)
            .finish()
    }
}

impl AuthItem<'_> {
    /// The value of a parameter, by case-insensitive name (the first one if repeated).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// The items of one header value, and an anomaly for junk that belonged to no item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub items: Vec<AuthItem<'a>>,
    pub anomaly: Option<A>,
}

/// A byte class as a table: ASCII letters and digits plus `extra`.
// Evaluated at compile time only: a bad index or an overflow here fails the build.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn class(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}

/// RFC 9110 tchar.
const TCHAR: [bool; 256] = class(b"!#$%&'*+-.^_`|~");
/// token68 characters other than the trailing `=`.
const TOKEN68: [bool; 256] = class(b"-._~+/");

fn is_tchar(b: u8) -> bool {
    TCHAR.get(usize::from(b)).copied().unwrap_or(false)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn peek_at(&self, at: usize) -> Option<u8> {
        self.s.as_bytes().get(at).copied()
    }
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.pos = self.pos.saturating_add(1);
        }
    }
    fn ows_end(&self, mut at: usize) -> usize {
        while self.peek_at(at).is_some_and(is_ows) {
            at = at.saturating_add(1);
        }
        at
    }
    /// The end of the run of bytes of `class` that starts at `at`.
    fn run_end(&self, at: usize, class: &[bool; 256]) -> usize {
        let rest = self.s.as_bytes().get(at..).unwrap_or_default();
        let run = rest
            .iter()
            .position(|&b| !class.get(usize::from(b)).copied().unwrap_or(false))
            .unwrap_or(rest.len());
        at.saturating_add(run)
    }
    fn token_end(&self, at: usize) -> usize {
        self.run_end(at, &TCHAR)
    }
    fn slice(&self, from: usize, to: usize) -> &'a str {
        // Both ends sit on ASCII bytes or the ends of the string, so they are char
        // boundaries; `get` keeps it panic-free regardless.
        self.s.get(from..to).unwrap_or("")
    }
    /// Skips to just after the next comma (or to the end).
    fn skip_past_comma(&mut self) {
        while let Some(b) = self.peek() {
            self.pos = self.pos.saturating_add(1);
            if b == b',' {
                return;
            }
        }
    }
    /// Skips to the next comma (or to the end), stopping on it.
    fn skip_to_comma(&mut self) {
        while self.peek().is_some_and(|b| b != b',') {
            self.pos = self.pos.saturating_add(1);
        }
    }
    /// Skips commas and whitespace between list elements.
    fn skip_separators(&mut self) {
        while self.peek().is_some_and(|b| b == b',' || is_ows(b)) {
            self.pos = self.pos.saturating_add(1);
        }
    }
    /// Reads a quoted-string starting at the opening quote. Returns the unescaped text and
    /// whether the closing quote was found.
    fn quoted(&mut self) -> (Cow<'a, str>, bool) {
        self.pos = self.pos.saturating_add(1); // opening quote
        let start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            let Some(b) = self.peek() else {
                let v = match owned {
                    Some(o) => Cow::Owned(o),
                    None => Cow::Borrowed(self.slice(start, self.pos)),
                };
                return (v, false);
            };
            match b {
                b'"' => {
                    let v = match owned {
                        Some(o) => Cow::Owned(o),
                        None => Cow::Borrowed(self.slice(start, self.pos)),
                    };
                    self.pos = self.pos.saturating_add(1);
                    return (v, true);
                }
                b'\\' => {
                    let o = owned.get_or_insert_with(|| self.slice(start, self.pos).to_string());
                    self.pos = self.pos.saturating_add(1);
                    if let Some(c) = self.s.get(self.pos..).and_then(|r| r.chars().next()) {
                        o.push(c);
                        self.pos = self.pos.saturating_add(c.len_utf8());
                    }
                }
                _ => {
                    let c = self
                        .s
                        .get(self.pos..)
                        .and_then(|r| r.chars().next())
                        .unwrap_or('\u{fffd}');
                    if let Some(o) = owned.as_mut() {
                        o.push(c);
                    }
                    self.pos = self.pos.saturating_add(c.len_utf8().max(1));
                }
            }
        }
    }
}

/// Parses one header value into its items.
pub fn parse(value: &str) -> Parsed<'_> {
    let mut c = Cursor { s: value, pos: 0 };
    let mut out = Parsed::default();
    loop {
        c.skip_separators();
        if c.at_end() {
            break;
        }
        let start = c.pos;
        let end = c.token_end(start);
        if end == start {
            out.anomaly.get_or_insert(A::BadAuthScheme);
            c.skip_past_comma();
            continue;
        }
        let mut item = AuthItem {
            scheme: c.slice(start, end),
            token68: None,
            params: Vec::new(),
            anomaly: None,
        };
        c.pos = end;
        match c.peek() {
            None | Some(b',') => {
                out.items.push(item);
                continue;
            }
            Some(b) if is_ows(b) => c.skip_ows(),
            Some(_) => {
                item.anomaly = Some(A::BadAuthScheme);
                c.skip_past_comma();
                out.items.push(item);
                continue;
            }
        }
        if c.at_end() || c.peek() == Some(b',') {
            out.items.push(item);
            continue;
        }
        // token68: its characters, then `=` padding, then the end or a comma.
        let t_start = c.pos;
        let mut t_end = c.run_end(t_start, &TOKEN68);
        let body_end = t_end;
        while c.peek_at(t_end) == Some(b'=') {
            t_end = t_end.saturating_add(1);
        }
        let after = c.ows_end(t_end);
        // (`name=` alone reads as a token68, as an empty parameter value is not allowed.)
        let token68_ok = body_end > t_start && matches!(c.peek_at(after), None | Some(b','));
        if token68_ok {
            item.token68 = Some(c.slice(t_start, t_end));
            c.pos = after;
            out.items.push(item);
            continue;
        }
        // auth-params, until a token that starts a new challenge.
        parse_params(&mut c, &mut item);
        out.items.push(item);
    }
    out
}

/// Reads `name = value` pairs separated by commas. Stops before a token that is not
/// followed by `=` (the next challenge's scheme).
fn parse_params<'a>(c: &mut Cursor<'a>, item: &mut AuthItem<'a>) {
    loop {
        c.skip_ows();
        let n_start = c.pos;
        let n_end = c.token_end(n_start);
        if n_end == n_start {
            item.anomaly.get_or_insert(A::BadAuthParam);
            c.skip_past_comma();
        } else {
            let eq = c.ows_end(n_end);
            if c.peek_at(eq) != Some(b'=') {
                if item.params.is_empty() && item.token68.is_none() {
                    // `Scheme garbage`: not a parameter, not a token68.
                    item.anomaly.get_or_insert(A::BadAuthParam);
                    c.skip_past_comma();
                } else {
                    // A new challenge starts here.
                    c.pos = n_start;
                    return;
                }
            } else {
                let name = c.slice(n_start, n_end);
                c.pos = c.ows_end(eq.saturating_add(1));
                let value: Cow<'a, str> = if c.peek() == Some(b'"') {
                    let (v, closed) = c.quoted();
                    if !closed {
                        item.anomaly.get_or_insert(A::UnterminatedQuotedString);
                    }
                    v
                } else {
                    // token; leniently anything up to a comma or whitespace.
                    let v_start = c.pos;
                    while c.peek().is_some_and(|b| b != b',' && !is_ows(b)) {
                        c.pos = c.pos.saturating_add(1);
                    }
                    let v = c.slice(v_start, c.pos);
                    if v.is_empty() || !v.bytes().all(is_tchar) {
                        item.anomaly.get_or_insert(A::BadAuthParamValue);
                    }
                    Cow::Borrowed(v)
                };
                item.params.push((name, value));
                c.skip_ows();
                match c.peek() {
                    None => return,
                    Some(b',') => {}
                    Some(_) => {
                        item.anomaly.get_or_insert(A::BadAuthParam);
                        c.skip_to_comma();
                    }
                }
            }
        }
        // At a comma (or the end): skip empty elements, then see what follows.
        c.skip_separators();
        if c.at_end() {
            return;
        }
        let n_start = c.pos;
        let n_end = c.token_end(n_start);
        let eq = c.ows_end(n_end);
        if n_end > n_start && c.peek_at(eq) != Some(b'=') {
            // A token not followed by `=`: the next challenge.
            return;
        }
    }
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

    fn schemes(v: &str) -> Vec<String> {
        parse(v)
            .items
            .iter()
            .map(|i| i.scheme.to_string())
            .collect()
    }

    #[test]
    fn several_challenges() {
        let p = parse(
            r#"Negotiate, NTLM, Basic realm="Squid proxy", Digest realm="x", nonce="n", qop="auth", stale=TRUE"#,
        );
        assert_eq!(
            p.items.iter().map(|i| i.scheme).collect::<Vec<_>>(),
            ["Negotiate", "NTLM", "Basic", "Digest"]
        );
        assert_eq!(p.items[2].param("REALM"), Some("Squid proxy"));
        assert_eq!(p.items[3].param("stale"), Some("TRUE"));
        assert_eq!(p.items[3].param("qop"), Some("auth"));
        assert!(p.items.iter().all(|i| i.anomaly.is_none()), "{p:?}");
    }

    #[test]
    fn token68_with_padding() {
        let p = parse("NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==");
        assert_eq!(p.items.len(), 1);
        assert_eq!(
            p.items[0].token68,
            Some("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAFASgKAAAADw==")
        );
        let p = parse("Negotiate abc=, Basic realm=x");
        assert_eq!(p.items[0].token68, Some("abc="));
        assert_eq!(p.items[1].param("realm"), Some("x"));
    }

    #[test]
    fn escapes_and_empty_elements() {
        let p = parse(r#" , ,Basic realm="a \"b\" \\c", , charset="UTF-8" ,, Digest realm="d""#);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].param("realm"), Some(r#"a "b" \c"#));
        assert_eq!(p.items[0].param("charset"), Some("UTF-8"));
        assert_eq!(p.items[1].param("realm"), Some("d"));
    }

    #[test]
    fn malformed_is_named() {
        let p = parse(r#"Basic realm="never closed"#);
        assert_eq!(p.items[0].anomaly, Some(A::UnterminatedQuotedString));
        assert_eq!(p.items[0].param("realm"), Some("never closed"));
        let p = parse("=oops, Basic");
        assert_eq!(p.anomaly, Some(A::BadAuthScheme));
        assert_eq!(schemes("=oops, Basic"), ["Basic"]);
        let p = parse("Basic realm=\"x\" junk, NTLM");
        assert_eq!(p.items[0].anomaly, Some(A::BadAuthParam));
        assert_eq!(schemes("Basic realm=\"x\" junk, NTLM"), ["Basic", "NTLM"]);
    }

    #[test]
    fn debug_hides_values() {
        let p = parse(r#"Digest nonce="s3cr3t-nonce", realm="r""#);
        let d = format!("{p:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("nonce"));
    }
}
