//! Kerberos 5 messages (RFC 4120) as `Negotiate` carries them: PrincipalName,
//! EncryptedData, Ticket, AP-REQ and KRB-ERROR, and the GSS-API token wrapper of RFC 4121
//! (TOK_ID 01 00 for an AP-REQ, 03 00 for a KRB-ERROR). Cipher texts are the caller's
//! random bytes.

use crate::der::{cat, der, general_string, int, OID_KRB5};

pub const NT_SRV_INST: u32 = 2;
pub const AP_REQ: u32 = 14;
pub const KRB_ERROR: u32 = 30;
pub const AES256_CTS_HMAC_SHA1_96: u32 = 18;

/// GSS-API TOK_IDs.
pub const TOK_AP_REQ: [u8; 2] = [0x01, 0x00];
pub const TOK_KRB_ERROR: [u8; 2] = [0x03, 0x00];

/// PrincipalName { name-type, name-string }.
pub fn principal(name_type: u32, components: &[&str]) -> Vec<u8> {
    let names: Vec<u8> = components.iter().flat_map(|c| general_string(c)).collect();
    der(
        0x30,
        &cat(&[&der(0xa0, &int(name_type)), &der(0xa1, &der(0x30, &names))]),
    )
}

/// EncryptedData { etype, kvno?, cipher }.
pub fn encrypted_data(etype: u32, kvno: Option<u32>, cipher: &[u8]) -> Vec<u8> {
    let mut c = der(0xa0, &int(etype));
    if let Some(k) = kvno {
        c.extend_from_slice(&der(0xa1, &int(k)));
    }
    c.extend_from_slice(&der(0xa2, &der(0x04, cipher)));
    der(0x30, &c)
}

/// Ticket `[APPLICATION 1]` { tkt-vno 5, realm, sname, enc-part }.
pub fn ticket(realm: &str, sname: &[u8], enc_part: &[u8]) -> Vec<u8> {
    der(
        0x61,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &int(5)),
                &der(0xa1, &general_string(realm)),
                &der(0xa2, sname),
                &der(0xa3, enc_part),
            ]),
        ),
    )
}

/// APOptions mutual-required, as browsers send it.
pub const MUTUAL_REQUIRED: u32 = 0x2000_0000;

/// AP-REQ `[APPLICATION 14]` { pvno 5, msg-type 14, ap-options (a 32-bit BIT STRING),
/// ticket, authenticator (an encoded EncryptedData) }.
pub fn ap_req(ap_options: u32, ticket: &[u8], authenticator: &[u8]) -> Vec<u8> {
    let mut options = vec![0x00];
    options.extend_from_slice(&ap_options.to_be_bytes());
    der(
        0x6e,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &int(5)),
                &der(0xa1, &int(AP_REQ)),
                &der(0xa2, &der(0x03, &options)),
                &der(0xa3, ticket),
                &der(0xa4, authenticator),
            ]),
        ),
    )
}

/// The fields of a KRB-ERROR this kit writes.
#[derive(Clone, Debug)]
pub struct KrbError<'a> {
    /// KerberosTime, e.g. from `time::generalized_time`.
    pub stime: &'a str,
    pub susec: u32,
    pub error_code: u32,
    pub realm: &'a str,
    /// An encoded PrincipalName (see [`principal`]).
    pub sname: &'a [u8],
}

/// KRB-ERROR `[APPLICATION 30]` { pvno 5, msg-type 30, stime, susec, error-code, realm,
/// sname }.
pub fn krb_error(e: &KrbError<'_>) -> Vec<u8> {
    der(
        0x7e,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &int(5)),
                &der(0xa1, &int(KRB_ERROR)),
                &der(0xa4, &der(0x18, e.stime.as_bytes())),
                &der(0xa5, &int(e.susec)),
                &der(0xa6, &int(e.error_code)),
                &der(0xa9, &general_string(e.realm)),
                &der(0xaa, e.sname),
            ]),
        ),
    )
}

/// The GSS-API initial context token of the Kerberos mechanism: `[APPLICATION 0]` { OID,
/// TOK_ID, message }.
pub fn gss_token(tok_id: [u8; 2], message: &[u8]) -> Vec<u8> {
    der(0x60, &cat(&[OID_KRB5, &tok_id, message]))
}
