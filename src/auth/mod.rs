//! Authentication headers and tokens: the RFC 9110 §11 challenge/credentials grammar,
//! Basic, Digest, NTLMSSP (types 1–3), Negotiate (SPNEGO → Kerberos AP-REQ or NTLMSSP,
//! KRB-ERROR), and the KDC's own messages (`kdc`: AS/TGS requests and replies, KRB-ERROR,
//! their TCP records). Pure, bounds-checked parsers that keep identities and drop secrets at once:
//! nothing returned here holds a password, hash, nonce, response or raw token.
//!
//! `docs/verdicts.md` describes what this yields: challenges and their continuation legs
//! (§1.3), credentials and which handshake steps are final (§1.4), and what identity each
//! scheme reveals (§2.1).
//!
//! No panic on any input, enforced by the compiler: clippy's `unwrap_used`, `expect_used`,
//! `indexing_slicing` and `arithmetic_side_effects` are denied here and in the submodules.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod basic;
pub mod der;
pub mod digest;
pub mod header;
pub mod kdc;
pub mod negotiate;
pub mod ntlm;

use crate::anomaly::CredentialAnomaly as A;

/// An authentication scheme, compared case-insensitively; unknown ones kept by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Basic,
    Digest,
    Ntlm,
    Negotiate,
    Other(String),
}

impl Scheme {
    pub fn parse(name: &str) -> Scheme {
        if name.eq_ignore_ascii_case("basic") {
            Scheme::Basic
        } else if name.eq_ignore_ascii_case("digest") {
            Scheme::Digest
        } else if name.eq_ignore_ascii_case("ntlm") {
            Scheme::Ntlm
        } else if name.eq_ignore_ascii_case("negotiate") {
            Scheme::Negotiate
        } else {
            Scheme::Other(name.to_string())
        }
    }
    /// The canonical name used in every output: `Basic`, `Digest`, `NTLM`, `Negotiate`, or
    /// the name as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Basic => "Basic",
            Scheme::Digest => "Digest",
            Scheme::Ntlm => "NTLM",
            Scheme::Negotiate => "Negotiate",
            Scheme::Other(s) => s,
        }
    }
    /// NTLM and Negotiate bind their handshake to one connection.
    pub(crate) fn is_connection_bound(&self) -> bool {
        matches!(self, Scheme::Ntlm | Scheme::Negotiate)
    }
}

/// Which message of a handshake a credentials header (or a challenge token) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthStep {
    Basic,
    Digest,
    /// NTLMSSP NEGOTIATE (type 1), raw or inside Negotiate/SPNEGO.
    NtlmType1,
    /// NTLMSSP CHALLENGE (type 2), in a challenge.
    NtlmType2,
    /// NTLMSSP AUTHENTICATE (type 3).
    NtlmType3,
    /// A Kerberos AP-REQ (inside SPNEGO or a bare GSS-API token).
    Kerberos,
    /// A server's Negotiate reply token (SPNEGO NegTokenResp, or a KRB-ERROR).
    NegotiateReply,
    /// Something that could not be read (see the anomaly).
    Unknown,
}

impl AuthStep {
    /// The name in the `auth_step` column.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthStep::Basic => "basic",
            AuthStep::Digest => "digest",
            AuthStep::NtlmType1 => "ntlm_type1",
            AuthStep::NtlmType2 => "ntlm_type2",
            AuthStep::NtlmType3 => "ntlm_type3",
            AuthStep::Kerberos => "kerberos",
            AuthStep::NegotiateReply => "negotiate_reply",
            AuthStep::Unknown => "unknown",
        }
    }
    /// Credentials that finish a handshake: the proxy's next answer is its verdict on them.
    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            AuthStep::Basic | AuthStep::Digest | AuthStep::NtlmType3 | AuthStep::Kerberos
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NtlmVersion {
    V1,
    V2,
}

/// What a `Proxy-Authorization` value reveals, secrets removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub scheme: Scheme,
    pub step: AuthStep,
    pub user: Option<String>,
    pub domain: Option<String>,
    pub workstation: Option<String>,
    /// Digest realm, or the Kerberos ticket's realm.
    pub realm: Option<String>,
    /// Kerberos: the service principal of the ticket (`HTTP/proxy.example.com`).
    pub service_principal: Option<String>,
    pub ntlm_version: Option<NtlmVersion>,
    /// Negotiate carried NTLMSSP instead of Kerberos.
    pub ntlm_in_negotiate: bool,
    /// Length of the whole header value in bytes.
    pub header_len: usize,
    /// Why (part of) the value could not be read; counted and shown, never fatal.
    pub anomaly: Option<A>,
}

/// One challenge of a `Proxy-Authenticate` (or `WWW-Authenticate`) header, secrets removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: Scheme,
    /// Present for a continuation leg: NTLM type 2, Negotiate reply token.
    pub step: Option<AuthStep>,
    pub realm: Option<String>,
    /// Digest `stale=true`.
    pub stale: bool,
    /// NTLM type 2 target name.
    pub target_name: Option<String>,
    /// A KRB-ERROR inside a Negotiate reply: its error name (`KRB_AP_ERR_SKEW`).
    pub krb_error: Option<String>,
    pub anomaly: Option<A>,
}

impl Credentials {
    fn empty(scheme: Scheme, header_len: usize) -> Credentials {
        Credentials {
            scheme,
            step: AuthStep::Unknown,
            user: None,
            domain: None,
            workstation: None,
            realm: None,
            service_principal: None,
            ntlm_version: None,
            ntlm_in_negotiate: false,
            header_len,
            anomaly: None,
        }
    }

    /// Takes the names of an NTLMSSP NEGOTIATE or AUTHENTICATE message.
    fn set_ntlm(&mut self, m: ntlm::NtlmMessage) {
        match m.msg_type {
            1 => self.step = AuthStep::NtlmType1,
            3 => self.step = AuthStep::NtlmType3,
            _ => {
                self.anomaly.get_or_insert(A::NtlmUnexpectedType);
            }
        }
        if m.msg_type == 1 || m.msg_type == 3 {
            self.user = m.user;
            self.domain = m.domain;
            self.workstation = m.workstation;
            self.ntlm_version = m.version;
        }
        if let Some(a) = m.anomaly {
            self.anomaly.get_or_insert(a);
        }
    }
}

impl Challenge {
    /// A challenge of `scheme` with nothing else known.
    pub fn new(scheme: Scheme) -> Challenge {
        Challenge {
            scheme,
            step: None,
            realm: None,
            stale: false,
            target_name: None,
            krb_error: None,
            anomaly: None,
        }
    }
}

/// The token of a token68 scheme (NTLM, Negotiate, Basic) in a credentials value: what
/// follows the scheme, read leniently (the grammar's token68, or else the raw rest).
fn raw_token<'a>(value: &'a str, item: &header::AuthItem<'a>) -> &'a str {
    if let Some(t) = item.token68 {
        return t;
    }
    // The scheme borrows `value`: the token is what follows it.
    let start = (item.scheme.as_ptr() as usize)
        .checked_sub(value.as_ptr() as usize)
        .and_then(|o| o.checked_add(item.scheme.len()))
        .unwrap_or(value.len());
    value.get(start..).unwrap_or("").trim()
}

/// Parses a credentials header value (`Proxy-Authorization`). Never fails: what cannot be
/// read is named in [`Credentials::anomaly`].
pub fn parse_credentials(value: &str) -> Credentials {
    let parsed = header::parse(value);
    let Some(item) = parsed.items.first() else {
        let mut c = Credentials::empty(Scheme::Other(String::new()), value.len());
        c.anomaly = Some(parsed.anomaly.unwrap_or(A::EmptyCredentials));
        return c;
    };
    let scheme = Scheme::parse(item.scheme);
    let mut c = Credentials::empty(scheme.clone(), value.len());
    match scheme {
        Scheme::Basic => match basic::parse(raw_token(value, item)) {
            Ok(user) => {
                c.step = AuthStep::Basic;
                c.user = Some(user).filter(|u| !u.is_empty());
            }
            Err(a) => c.anomaly = Some(a),
        },
        Scheme::Digest => {
            let d = digest::credentials(item);
            c.step = AuthStep::Digest;
            c.user = d.user;
            c.realm = d.realm;
            c.anomaly = d.anomaly;
        }
        Scheme::Ntlm => match token_bytes(raw_token(value, item)) {
            Ok(mut bytes) => {
                match ntlm::parse(&bytes) {
                    Ok(m) => c.set_ntlm(m),
                    Err(a) => c.anomaly = Some(a),
                }
                basic::wipe(&mut bytes);
            }
            Err(a) => c.anomaly = Some(a),
        },
        Scheme::Negotiate => match token_bytes(raw_token(value, item)) {
            Ok(mut bytes) => {
                let t = negotiate::parse(&bytes);
                basic::wipe(&mut bytes);
                if let Some(m) = t.ntlm {
                    c.ntlm_in_negotiate = true;
                    c.set_ntlm(m);
                } else if let Some(k) = t.ap_req {
                    c.step = AuthStep::Kerberos;
                    c.realm = k.realm;
                    c.service_principal = k.service_principal;
                } else if t.anomaly.is_none() {
                    c.anomaly = Some(A::NegotiateNoCredentials);
                }
                if let Some(a) = t.anomaly {
                    c.anomaly.get_or_insert(a);
                }
            }
            Err(a) => c.anomaly = Some(a),
        },
        Scheme::Other(_) => {}
    }
    if c.anomaly.is_none() {
        c.anomaly = item.anomaly.or(parsed.anomaly);
    }
    c
}

/// Decodes a base64 token; `missing_token` when empty, `bad_base64` when not base64.
fn token_bytes(token: &str) -> Result<Vec<u8>, A> {
    if token.is_empty() {
        return Err(A::MissingToken);
    }
    basic::decode_base64(token).ok_or(A::BadBase64)
}

/// Parses every challenge of every header value given (several per header and across
/// headers). Malformed parts become challenges with an anomaly, or are skipped.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        let parsed = header::parse(value);
        for item in &parsed.items {
            out.push(challenge(item));
        }
    }
    out
}

fn challenge(item: &header::AuthItem<'_>) -> Challenge {
    let scheme = Scheme::parse(item.scheme);
    let mut ch = Challenge::new(scheme.clone());
    match scheme {
        Scheme::Digest => {
            let d = digest::challenge(item);
            ch.realm = d.realm;
            ch.stale = d.stale;
        }
        Scheme::Ntlm | Scheme::Negotiate => {
            if let Some(tok) = item.token68 {
                match token_bytes(tok) {
                    Ok(mut bytes) => {
                        token_challenge(&bytes, &mut ch);
                        basic::wipe(&mut bytes);
                    }
                    Err(a) => {
                        ch.step = Some(AuthStep::Unknown);
                        ch.anomaly = Some(a);
                    }
                }
            } else if !item.params.is_empty() {
                ch.anomaly = Some(A::UnexpectedAuthParams);
            }
        }
        Scheme::Basic | Scheme::Other(_) => {
            ch.realm = item
                .param("realm")
                .filter(|r| !r.is_empty())
                .map(str::to_string);
        }
    }
    if ch.anomaly.is_none() {
        ch.anomaly = item.anomaly;
    }
    ch
}

/// Reads the token of an NTLM or Negotiate challenge: an NTLMSSP type 2, or a Negotiate
/// reply (SPNEGO NegTokenResp, AP-REP, KRB-ERROR).
fn token_challenge(bytes: &[u8], ch: &mut Challenge) {
    let t = if ch.scheme == Scheme::Negotiate {
        negotiate::parse(bytes)
    } else {
        match ntlm::parse(bytes) {
            Ok(m) => negotiate::NegotiateToken {
                ntlm: Some(m),
                ..Default::default()
            },
            Err(a) => negotiate::NegotiateToken {
                anomaly: Some(a),
                ..Default::default()
            },
        }
    };
    if let Some(m) = t.ntlm {
        if m.msg_type == 2 {
            ch.step = Some(AuthStep::NtlmType2);
            ch.target_name = m.target_name;
        } else {
            ch.step = Some(AuthStep::Unknown);
            ch.anomaly = Some(A::NtlmUnexpectedType);
        }
        if let Some(a) = m.anomaly {
            ch.anomaly.get_or_insert(a);
        }
    } else if ch.scheme == Scheme::Negotiate {
        ch.step = Some(AuthStep::NegotiateReply);
    } else {
        ch.step = Some(AuthStep::Unknown);
    }
    ch.krb_error = t.krb_error_code.map(negotiate::krb_error_name);
    if let Some(a) = t.anomaly {
        ch.anomaly.get_or_insert(a);
    }
}
