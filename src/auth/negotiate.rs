//! Negotiate tokens (RFC 4559): SPNEGO (RFC 4178) unwrapped into what it carries. A client
//! token is a GSS-API `0x60` wrapper with the SPNEGO OID around a NegTokenInit `[0]`
//! (mechTypes, mechToken) or a NegTokenResp `[1]` (negState, supportedMech, responseToken);
//! the mechanism token is raw NTLMSSP or a Kerberos GSS token (`0x60` + Kerberos OID +
//! TOK_ID) around an AP-REQ, whose ticket gives the realm and service principal. Bare
//! NTLMSSP, a bare AP-REQ, and a server's KRB-ERROR (with its error code named) are read too.
//! The ticket, authenticator, AP-REP and every other secret stay in the input.

use super::der::{self, app, DerError, Tlv, TAG_OCTET_STRING, TAG_OID};
use super::ntlm::{self, NtlmMessage};
use crate::anomaly::CredentialAnomaly as A;

/// OID contents (without tag and length) of the mechanisms that matter.
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
pub const OID_KERBEROS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
pub const OID_MS_KERBEROS: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];

/// How many wrappers (GSS → SPNEGO → mechanism token → ...) are unwrapped at most.
const MAX_NESTING: u8 = 6;

/// A security mechanism named in SPNEGO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mech {
    Kerberos,
    MsKerberos,
    Ntlm,
    Other(String),
}

impl Mech {
    fn from_oid(v: &[u8]) -> Mech {
        match v {
            OID_KERBEROS => Mech::Kerberos,
            OID_MS_KERBEROS => Mech::MsKerberos,
            OID_NTLMSSP => Mech::Ntlm,
            _ => Mech::Other(der::oid_string(v).unwrap_or_else(|| "invalid".to_string())),
        }
    }
}

/// The ticket of a Kerberos AP-REQ: where it is valid and for which service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KerberosTicket {
    pub realm: Option<String>,
    /// Name components joined by `/` (`HTTP/proxy.example.com`).
    pub service_principal: Option<String>,
}

/// What a Negotiate token holds, secrets removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NegotiateToken {
    /// The token was SPNEGO (not a bare NTLMSSP or Kerberos token).
    pub spnego: bool,
    /// NegTokenInit mechTypes, in the client's order of preference.
    pub mech_types: Vec<Mech>,
    /// NegTokenResp negState (0 accept-completed, 1 accept-incomplete, 2 reject,
    /// 3 request-mic).
    pub neg_state: Option<i64>,
    pub supported_mech: Option<Mech>,
    /// The token was a NegTokenResp (a server's reply, or a client's later leg).
    pub response: bool,
    /// An NTLMSSP message inside (raw or as the mechanism token).
    pub ntlm: Option<NtlmMessage>,
    /// A Kerberos AP-REQ.
    pub ap_req: Option<KerberosTicket>,
    /// A Kerberos AP-REP (mutual authentication reply); its contents are encrypted.
    pub ap_rep: bool,
    /// A KRB-ERROR's error code.
    pub krb_error_code: Option<i64>,
    /// Why part of the token could not be read.
    pub anomaly: Option<A>,
}

/// Parses decoded Negotiate token bytes. Never fails: an unreadable token is one whose
/// fields are all empty and whose `anomaly` says why.
pub fn parse(bytes: &[u8]) -> NegotiateToken {
    let mut t = NegotiateToken::default();
    if let Err(a) = walk(bytes, 0, &mut t) {
        t.anomaly.get_or_insert(a);
    }
    t
}

fn e(err: DerError) -> A {
    err.anomaly()
}

fn walk(bytes: &[u8], nesting: u8, t: &mut NegotiateToken) -> Result<(), A> {
    if nesting > MAX_NESTING {
        return Err(A::NegotiateTooDeep);
    }
    if ntlm::is_ntlmssp(bytes) {
        t.ntlm = Some(ntlm::parse(bytes)?);
        return Ok(());
    }
    let tlv = Tlv::parse(bytes).map_err(e)?;
    match tlv.tag {
        0x60 => gss(tlv, nesting, t),
        0xa0 => neg_token_init(tlv, nesting, t),
        0xa1 => neg_token_resp(tlv, nesting, t),
        0x6e => ap_req(tlv, t),
        0x6f => {
            t.ap_rep = true;
            Ok(())
        }
        0x7e => krb_error(tlv, t),
        _ => Err(A::NegotiateUnknownToken),
    }
}

/// GSS-API InitialContextToken: `0x60 { OID, innerToken }`. The inner token is not a
/// DER element of its own in the Kerberos case (2-byte TOK_ID first), so the bytes after
/// the OID are handled by mechanism.
fn gss(tlv: Tlv<'_>, nesting: u8, t: &mut NegotiateToken) -> Result<(), A> {
    let (oid, rest) = der::read(tlv.value, tlv.depth.saturating_add(1)).map_err(e)?;
    if oid.tag != TAG_OID {
        return Err(A::GssNoOid);
    }
    match oid.value {
        OID_SPNEGO => {
            t.spnego = true;
            walk(rest, nesting.saturating_add(1), t)
        }
        OID_KERBEROS | OID_MS_KERBEROS => {
            // TOK_ID: 01 00 AP-REQ, 02 00 AP-REP, 03 00 KRB-ERROR.
            let inner = rest.get(2..).ok_or(A::KrbTruncated)?;
            walk(inner, nesting.saturating_add(1), t)
        }
        OID_NTLMSSP => walk(rest, nesting.saturating_add(1), t),
        _ => Err(A::GssUnknownMech),
    }
}

fn neg_token_init(tlv: Tlv<'_>, nesting: u8, t: &mut NegotiateToken) -> Result<(), A> {
    t.spnego = true;
    let seq = tlv.inner().map_err(e)?;
    if let Some(types) = seq.field(0).map_err(e)? {
        for m in types.children() {
            let m = m.map_err(e)?;
            if m.tag == TAG_OID {
                t.mech_types.push(Mech::from_oid(m.value));
            }
        }
    }
    match seq.field(2).map_err(e)? {
        Some(tok) if tok.tag == TAG_OCTET_STRING => walk(tok.value, nesting.saturating_add(1), t),
        Some(_) => Err(A::SpnegoBadMechToken),
        None => Err(A::SpnegoNoMechToken),
    }
}

fn neg_token_resp(tlv: Tlv<'_>, nesting: u8, t: &mut NegotiateToken) -> Result<(), A> {
    t.spnego = true;
    t.response = true;
    let seq = tlv.inner().map_err(e)?;
    if let Some(st) = seq.field(0).map_err(e)? {
        t.neg_state = st.integer();
    }
    if let Some(m) = seq.field(1).map_err(e)? {
        if m.tag == TAG_OID {
            t.supported_mech = Some(Mech::from_oid(m.value));
        }
    }
    match seq.field(2).map_err(e)? {
        Some(tok) if tok.tag == TAG_OCTET_STRING => walk(tok.value, nesting.saturating_add(1), t),
        Some(_) => Err(A::SpnegoBadResponseToken),
        // A reply without a token (accept-completed, or reject) is normal.
        None => Ok(()),
    }
}

/// AP-REQ `[APPLICATION 14] SEQUENCE { [0] pvno, [1] msg-type, [2] ap-options,
/// [3] ticket, [4] authenticator }`.
fn ap_req(tlv: Tlv<'_>, t: &mut NegotiateToken) -> Result<(), A> {
    let seq = tlv.inner().map_err(e)?;
    let ticket = seq.field(3).map_err(e)?.ok_or(A::KrbNoTicket)?;
    if ticket.tag != app(1) {
        return Err(A::KrbBadTicket);
    }
    // Ticket ::= [APPLICATION 1] SEQUENCE { [0] tkt-vno, [1] realm, [2] sname, [3] enc-part }
    let tseq = ticket.inner().map_err(e)?;
    let mut k = KerberosTicket::default();
    if let Some(realm) = tseq.field(1).map_err(e)? {
        k.realm = Some(realm.text()).filter(|s| !s.is_empty());
    }
    if let Some(sname) = tseq.field(2).map_err(e)? {
        k.service_principal = principal_name(sname)?;
    }
    t.ap_req = Some(k);
    Ok(())
}

/// PrincipalName ::= SEQUENCE { [0] name-type, [1] name-string SEQUENCE OF GeneralString }
pub(crate) fn principal_name(seq: Tlv<'_>) -> Result<Option<String>, A> {
    let Some(names) = seq.field(1).map_err(e)? else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    for n in names.children() {
        parts.push(n.map_err(e)?.text());
    }
    Ok(Some(parts.join("/")).filter(|s| !s.is_empty()))
}

/// KRB-ERROR `[APPLICATION 30] SEQUENCE { ... [6] error-code ... }`.
fn krb_error(tlv: Tlv<'_>, t: &mut NegotiateToken) -> Result<(), A> {
    let seq = tlv.inner().map_err(e)?;
    let code = seq.field(6).map_err(e)?.ok_or(A::KrbErrorNoCode)?;
    t.krb_error_code = Some(code.integer().ok_or(A::KrbErrorBadCode)?);
    Ok(())
}

/// The RFC 4120 §7.5.9 name of a Kerberos error code (`KRB_AP_ERR_SKEW` for 37), or
/// `KRB_ERROR_<n>` for one not in the table.
pub fn krb_error_name(code: i64) -> String {
    let name = match code {
        0 => "KDC_ERR_NONE",
        1 => "KDC_ERR_NAME_EXP",
        2 => "KDC_ERR_SERVICE_EXP",
        3 => "KDC_ERR_BAD_PVNO",
        4 => "KDC_ERR_C_OLD_MAST_KVNO",
        5 => "KDC_ERR_S_OLD_MAST_KVNO",
        6 => "KDC_ERR_C_PRINCIPAL_UNKNOWN",
        7 => "KDC_ERR_S_PRINCIPAL_UNKNOWN",
        8 => "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
        9 => "KDC_ERR_NULL_KEY",
        10 => "KDC_ERR_CANNOT_POSTDATE",
        11 => "KDC_ERR_NEVER_VALID",
        12 => "KDC_ERR_POLICY",
        13 => "KDC_ERR_BADOPTION",
        14 => "KDC_ERR_ETYPE_NOSUPP",
        15 => "KDC_ERR_SUMTYPE_NOSUPP",
        16 => "KDC_ERR_PADATA_TYPE_NOSUPP",
        17 => "KDC_ERR_TRTYPE_NOSUPP",
        18 => "KDC_ERR_CLIENT_REVOKED",
        19 => "KDC_ERR_SERVICE_REVOKED",
        20 => "KDC_ERR_TGT_REVOKED",
        21 => "KDC_ERR_CLIENT_NOTYET",
        22 => "KDC_ERR_SERVICE_NOTYET",
        23 => "KDC_ERR_KEY_EXPIRED",
        24 => "KDC_ERR_PREAUTH_FAILED",
        25 => "KDC_ERR_PREAUTH_REQUIRED",
        26 => "KDC_ERR_SERVER_NOMATCH",
        27 => "KDC_ERR_MUST_USE_USER2USER",
        28 => "KDC_ERR_PATH_NOT_ACCEPTED",
        29 => "KDC_ERR_SVC_UNAVAILABLE",
        31 => "KRB_AP_ERR_BAD_INTEGRITY",
        32 => "KRB_AP_ERR_TKT_EXPIRED",
        33 => "KRB_AP_ERR_TKT_NYV",
        34 => "KRB_AP_ERR_REPEAT",
        35 => "KRB_AP_ERR_NOT_US",
        36 => "KRB_AP_ERR_BADMATCH",
        37 => "KRB_AP_ERR_SKEW",
        38 => "KRB_AP_ERR_BADADDR",
        39 => "KRB_AP_ERR_BADVERSION",
        40 => "KRB_AP_ERR_MSG_TYPE",
        41 => "KRB_AP_ERR_MODIFIED",
        42 => "KRB_AP_ERR_BADORDER",
        44 => "KRB_AP_ERR_BADKEYVER",
        45 => "KRB_AP_ERR_NOKEY",
        46 => "KRB_AP_ERR_MUT_FAIL",
        47 => "KRB_AP_ERR_BADDIRECTION",
        48 => "KRB_AP_ERR_METHOD",
        49 => "KRB_AP_ERR_BADSEQ",
        50 => "KRB_AP_ERR_INAPP_CKSUM",
        51 => "KRB_AP_PATH_NOT_ACCEPTED",
        52 => "KRB_ERR_RESPONSE_TOO_BIG",
        60 => "KRB_ERR_GENERIC",
        61 => "KRB_ERR_FIELD_TOOLONG",
        62 => "KDC_ERR_CLIENT_NOT_TRUSTED",
        63 => "KDC_ERR_KDC_NOT_TRUSTED",
        64 => "KDC_ERR_INVALID_SIG",
        65 => "KDC_ERR_KEY_TOO_WEAK",
        68 => "KDC_ERR_WRONG_REALM",
        _ => return format!("KRB_ERROR_{code}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names() {
        assert_eq!(krb_error_name(37), "KRB_AP_ERR_SKEW");
        assert_eq!(krb_error_name(7), "KDC_ERR_S_PRINCIPAL_UNKNOWN");
        assert_eq!(krb_error_name(99), "KRB_ERROR_99");
        assert_eq!(krb_error_name(-1), "KRB_ERROR_-1");
    }

    #[test]
    fn garbage_is_an_anomaly() {
        assert_eq!(parse(b"").anomaly, Some(A::DerTruncated));
        assert_eq!(parse(b"\x05\x00").anomaly, Some(A::NegotiateUnknownToken));
        assert_eq!(
            parse(b"\x60\x03\x06\x01\x2b").anomaly,
            Some(A::GssUnknownMech)
        );
    }
}
