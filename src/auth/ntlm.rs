//! NTLMSSP messages (MS-NLMP): the `NTLMSSP\0` signature, the message type, and the names
//! each message carries. NEGOTIATE (type 1): flags and the optional domain/workstation;
//! CHALLENGE (type 2): the target name; AUTHENTICATE (type 3): user, domain, workstation and
//! whether the NT response is NTLMv1 (24 bytes) or NTLMv2 (longer). Every security buffer
//! (length u16, max length u16, offset u32, little-endian) is bounds-checked before it is
//! sliced. The server challenge, the LM/NT responses and the session key are never copied
//! out of the input.

use super::NtlmVersion;
use crate::anomaly::CredentialAnomaly as A;

/// `NTLMSSP\0`.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// Strings are UTF-16LE when set, else OEM.
pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
pub const NEGOTIATE_OEM_DOMAIN_SUPPLIED: u32 = 0x0000_1000;
pub const NEGOTIATE_OEM_WORKSTATION_SUPPLIED: u32 = 0x0000_2000;

/// The names an NTLMSSP message reveals; nothing secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NtlmMessage {
    /// 1, 2 or 3.
    pub msg_type: u32,
    /// Negotiate flags, when the message has them.
    pub flags: Option<u32>,
    pub user: Option<String>,
    pub domain: Option<String>,
    pub workstation: Option<String>,
    /// Type 2 target name.
    pub target_name: Option<String>,
    /// Type 3: V1 for a 24-byte NT response, V2 for a longer one, `None` when anonymous.
    pub version: Option<NtlmVersion>,
    /// Type 3 with an empty NT response (anonymous authentication).
    pub anonymous: bool,
    /// Something odd that did not stop the parse (a name that could not be read).
    pub anomaly: Option<A>,
}

/// Starts with the NTLMSSP signature.
pub(crate) fn is_ntlmssp(bytes: &[u8]) -> bool {
    bytes.starts_with(SIGNATURE)
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

/// A security buffer descriptor at `at`.
#[derive(Clone, Copy, Debug)]
struct SecBuf {
    len: usize,
    offset: usize,
}

fn secbuf(b: &[u8], at: usize) -> Option<SecBuf> {
    let len = usize::from(u16_at(b, at)?);
    let offset = usize::try_from(u32_at(b, at.checked_add(4)?)?).ok()?;
    Some(SecBuf { len, offset })
}

/// The bytes a buffer points to, or `None` when it points outside the message. A zero
/// length is an empty slice wherever its offset points.
fn slice(b: &[u8], sb: SecBuf) -> Option<&[u8]> {
    if sb.len == 0 {
        return Some(&[]);
    }
    b.get(sb.offset..sb.offset.checked_add(sb.len)?)
}

/// Decodes a name: UTF-16LE when `unicode`, else OEM read as Latin-1. Empty → `None`.
pub(crate) fn decode_string(bytes: &[u8], unicode: bool) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let s: String = if unicode {
        let units = bytes
            .chunks_exact(2)
            .filter_map(|c| c.first_chunk().copied())
            .map(u16::from_le_bytes);
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    };
    let s = s.trim_end_matches('\0').to_string();
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// Parses an NTLMSSP message. `Err` names why it cannot be read at all; names that cannot
/// be read in an otherwise good message are left out and named in `anomaly`.
pub fn parse(b: &[u8]) -> Result<NtlmMessage, A> {
    if !is_ntlmssp(b) {
        return Err(A::NotNtlmssp);
    }
    let msg_type = u32_at(b, 8).ok_or(A::NtlmTruncated)?;
    match msg_type {
        1 => parse_negotiate(b),
        2 => parse_challenge(b),
        3 => parse_authenticate(b),
        _ => Err(A::NtlmUnknownType),
    }
}

/// Reads a name buffer; a buffer pointing outside the message sets `anomaly`.
fn name(b: &[u8], at: usize, unicode: bool, m: &mut NtlmMessage) -> Option<String> {
    let Some(sb) = secbuf(b, at) else {
        m.anomaly.get_or_insert(A::NtlmTruncated);
        return None;
    };
    match slice(b, sb) {
        Some(bytes) => {
            if unicode && bytes.len() % 2 != 0 {
                m.anomaly.get_or_insert(A::NtlmOddUnicodeLength);
            }
            decode_string(bytes, unicode)
        }
        None => {
            m.anomaly.get_or_insert(A::NtlmBufferOutOfBounds);
            None
        }
    }
}

fn parse_negotiate(b: &[u8]) -> Result<NtlmMessage, A> {
    let flags = u32_at(b, 12).ok_or(A::NtlmTruncated)?;
    let mut m = NtlmMessage {
        msg_type: 1,
        flags: Some(flags),
        ..Default::default()
    };
    // The domain and workstation of a NEGOTIATE are always OEM. Some clients fill the
    // buffers without setting the "supplied" flags, so a non-empty buffer is read too.
    if b.len() >= 24 {
        let has = secbuf(b, 16).is_some_and(|s| s.len > 0);
        if flags & NEGOTIATE_OEM_DOMAIN_SUPPLIED != 0 || has {
            m.domain = name(b, 16, false, &mut m);
        }
    }
    if b.len() >= 32 {
        let has = secbuf(b, 24).is_some_and(|s| s.len > 0);
        if flags & NEGOTIATE_OEM_WORKSTATION_SUPPLIED != 0 || has {
            m.workstation = name(b, 24, false, &mut m);
        }
    }
    Ok(m)
}

fn parse_challenge(b: &[u8]) -> Result<NtlmMessage, A> {
    // Target name buffer at 12, flags at 20, the server challenge at 24..32 (never read).
    let flags = u32_at(b, 20).ok_or(A::NtlmTruncated)?;
    let mut m = NtlmMessage {
        msg_type: 2,
        flags: Some(flags),
        ..Default::default()
    };
    m.target_name = name(b, 12, flags & NEGOTIATE_UNICODE != 0, &mut m);
    Ok(m)
}

fn parse_authenticate(b: &[u8]) -> Result<NtlmMessage, A> {
    // LM 12, NT 20, domain 28, user 36, workstation 44, session key 52, flags 60.
    let lm = secbuf(b, 12).ok_or(A::NtlmTruncated)?;
    let nt = secbuf(b, 20).ok_or(A::NtlmTruncated)?;
    let domain = secbuf(b, 28).ok_or(A::NtlmTruncated)?;
    let user = secbuf(b, 36).ok_or(A::NtlmTruncated)?;
    let ws = secbuf(b, 44).ok_or(A::NtlmTruncated)?;
    // Old type 3 messages end their fixed part at 52 (no session key, no flags): the
    // flags are there only when no payload starts before offset 64.
    let first_payload = [lm, nt, domain, user, ws]
        .iter()
        .filter(|s| s.len > 0)
        .map(|s| s.offset)
        .min()
        .unwrap_or(usize::MAX);
    let flags = if first_payload >= 64 {
        u32_at(b, 60)
    } else {
        None
    };
    // Without flags, assume Unicode (what every Windows client sends).
    let unicode = flags.is_none_or(|f| f & NEGOTIATE_UNICODE != 0);
    let mut m = NtlmMessage {
        msg_type: 3,
        flags,
        ..Default::default()
    };
    m.domain = name(b, 28, unicode, &mut m);
    m.user = name(b, 36, unicode, &mut m);
    m.workstation = name(b, 44, unicode, &mut m);
    if slice(b, lm).is_none() || slice(b, nt).is_none() {
        m.anomaly.get_or_insert(A::NtlmBufferOutOfBounds);
    }
    match nt.len {
        0 => m.anonymous = true,
        24 => m.version = Some(NtlmVersion::V1),
        n if n > 24 => m.version = Some(NtlmVersion::V2),
        _ => {
            m.anomaly.get_or_insert(A::NtlmBadNtResponseLength);
        }
    }
    Ok(m)
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

    #[test]
    fn rejects_non_ntlmssp_and_short() {
        assert_eq!(parse(b"NTLMSSX\0\x01\0\0\0"), Err(A::NotNtlmssp));
        assert_eq!(parse(b"NTLMSSP\0\x01\0"), Err(A::NtlmTruncated));
        assert_eq!(parse(b"NTLMSSP\0\x09\0\0\0"), Err(A::NtlmUnknownType));
        assert_eq!(parse(b"NTLMSSP\0\x03\0\0\0"), Err(A::NtlmTruncated));
    }

    #[test]
    fn minimal_negotiate() {
        let m = parse(b"NTLMSSP\0\x01\0\0\0\x07\x82\x08\xa2").unwrap();
        assert_eq!(m.msg_type, 1);
        assert_eq!(m.flags, Some(0xa208_8207));
        assert_eq!(m.domain, None);
    }

    #[test]
    fn strings() {
        assert_eq!(decode_string(b"a\0b\0", true).as_deref(), Some("ab"));
        assert_eq!(decode_string(b"\xe9t\xe9", false).as_deref(), Some("été"));
        assert_eq!(decode_string(b"", true), None);
        // Lone surrogate becomes a replacement character, no panic.
        assert_eq!(
            decode_string(b"\x00\xd8", true).as_deref(),
            Some("\u{fffd}")
        );
    }
}
