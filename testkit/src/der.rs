//! ASN.1 DER as the Kerberos and SPNEGO emitters write it: definite-length TLVs, INTEGER,
//! GeneralString, and the mechanism OIDs (each a whole TLV, tag 06 included).

/// A DER TLV with a definite length.
pub fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut v = Vec::with_capacity(n + 5);
    v.push(tag);
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else if n < 0x1_0000 {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    } else {
        v.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

/// The concatenation of encoded elements.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A non-negative INTEGER in its shortest form.
pub fn int(n: u32) -> Vec<u8> {
    let b = n.to_be_bytes();
    let mut i = 0;
    while i < 3 && b[i] == 0 && b[i + 1] < 0x80 {
        i += 1;
    }
    let mut c = Vec::new();
    if b[i] >= 0x80 {
        c.push(0);
    }
    c.extend_from_slice(&b[i..]);
    der(0x02, &c)
}

/// A GeneralString (KerberosString).
pub fn general_string(s: &str) -> Vec<u8> {
    der(0x1b, s.as_bytes())
}

/// 1.3.6.1.5.5.2, SPNEGO.
pub const OID_SPNEGO: &[u8] = &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// 1.2.840.113554.1.2.2, Kerberos 5.
pub const OID_KRB5: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
];
/// 1.2.840.48018.1.2.2, Microsoft's Kerberos 5.
pub const OID_MS_KRB5: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
];
/// 1.3.6.1.4.1.311.2.2.30, NEGOEX.
pub const OID_NEGOEX: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e,
];
/// 1.3.6.1.4.1.311.2.2.10, NTLMSSP.
pub const OID_NTLMSSP: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_integers() {
        assert_eq!(der(0x04, &[]), [0x04, 0]);
        assert_eq!(der(0x04, &[0; 0x80])[..3], [0x04, 0x81, 0x80]);
        assert_eq!(der(0x04, &[0; 0x100])[..4], [0x04, 0x82, 1, 0]);
        assert_eq!(der(0x04, &[0; 0x10000])[..5], [0x04, 0x83, 1, 0, 0]);
        assert_eq!(int(0), [2, 1, 0]);
        assert_eq!(int(5), [2, 1, 5]);
        assert_eq!(int(0x80), [2, 2, 0, 0x80]);
        assert_eq!(int(0x1234), [2, 2, 0x12, 0x34]);
        assert_eq!(int(u32::MAX), [2, 5, 0, 0xff, 0xff, 0xff, 0xff]);
    }
}
