//! SPNEGO (RFC 4178) tokens of the `Negotiate` scheme: the client's NegTokenInit inside its
//! GSS-API wrapper, and the server's NegTokenResp.

use crate::der::{cat, der, OID_SPNEGO};

/// NegTokenResp negState values.
pub const ACCEPT_COMPLETED: u8 = 0;
pub const ACCEPT_INCOMPLETE: u8 = 1;
pub const REJECT: u8 = 2;

/// `[APPLICATION 0]` { SPNEGO OID, NegTokenInit { mechTypes, mechToken } }. `mech_types` are
/// OID TLVs (see `der`), the first the preferred one.
pub fn neg_token_init(mech_types: &[&[u8]], mech_token: &[u8]) -> Vec<u8> {
    let init = der(
        0xa0,
        &der(
            0x30,
            &cat(&[
                &der(0xa0, &der(0x30, &mech_types.concat())),
                &der(0xa2, &der(0x04, mech_token)),
            ]),
        ),
    );
    der(0x60, &cat(&[OID_SPNEGO, &init]))
}

/// NegTokenResp `[1]` { negState, supportedMech, responseToken }, each field optional.
pub fn neg_token_resp(
    neg_state: Option<u8>,
    supported_mech: Option<&[u8]>,
    response_token: Option<&[u8]>,
) -> Vec<u8> {
    let mut c = Vec::new();
    if let Some(s) = neg_state {
        c.extend_from_slice(&der(0xa0, &[0x0a, 0x01, s]));
    }
    if let Some(m) = supported_mech {
        c.extend_from_slice(&der(0xa1, m));
    }
    if let Some(t) = response_token {
        c.extend_from_slice(&der(0xa2, &der(0x04, t)));
    }
    der(0xa1, &der(0x30, &c))
}
