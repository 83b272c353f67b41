//! NTLMSSP messages (MS-NLMP): NEGOTIATE (type 1), CHALLENGE (type 2) with its AV pairs,
//! AUTHENTICATE (type 3) with LM/NT responses and the NTLMv2 client blob. The contents are
//! the caller's (generated names, random hashes); the layout is the real one.

use crate::ntlm::av::*;

pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

pub const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
pub const REQUEST_TARGET: u32 = 0x0000_0004;
pub const NEGOTIATE_NTLM: u32 = 0x0000_0200;

/// The VERSION field of Windows 10 build 19041, NTLM revision 15.
pub const WINDOWS_10: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 15];

/// AV pair ids (MS-NLMP 2.2.2.1).
pub mod av {
    pub const EOL: u16 = 0;
    pub const NB_COMPUTER: u16 = 1;
    pub const NB_DOMAIN: u16 = 2;
    pub const DNS_COMPUTER: u16 = 3;
    pub const DNS_DOMAIN: u16 = 4;
    pub const DNS_TREE: u16 = 5;
    pub const FLAGS: u16 = 6;
    pub const TIMESTAMP: u16 = 7;
    pub const TARGET_NAME: u16 = 9;
    pub const CHANNEL_BINDINGS: u16 = 10;
}

/// UTF-16LE, as Unicode NTLMSSP carries names.
pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Appends a security buffer (length, maximum length, offset).
pub fn sec_buf(v: &mut Vec<u8>, len: usize, offset: usize) {
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&(len as u16).to_le_bytes());
    v.extend_from_slice(&(offset as u32).to_le_bytes());
}

/// Appends one AV pair.
pub fn av_pair(v: &mut Vec<u8>, id: u16, val: &[u8]) {
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&(val.len() as u16).to_le_bytes());
    v.extend_from_slice(val);
}

/// A Windows FILETIME (100 ns since 1601) of a Unix time, little-endian.
pub fn filetime(secs: u64) -> [u8; 8] {
    ((secs + 11_644_473_600) * 10_000_000).to_le_bytes()
}

/// The server's AV pairs of a domain member: NetBIOS and DNS names, timestamp (no EOL).
pub fn server_av_pairs(
    nb_domain: &str,
    nb_computer: &str,
    dns_domain: &str,
    dns_computer: &str,
    secs: u64,
) -> Vec<u8> {
    let mut ti = Vec::new();
    av_pair(&mut ti, NB_DOMAIN, &utf16(nb_domain));
    av_pair(&mut ti, NB_COMPUTER, &utf16(nb_computer));
    av_pair(&mut ti, DNS_DOMAIN, &utf16(dns_domain));
    av_pair(&mut ti, DNS_COMPUTER, &utf16(dns_computer));
    av_pair(&mut ti, DNS_TREE, &utf16(dns_domain));
    av_pair(&mut ti, TIMESTAMP, &filetime(secs));
    ti
}

/// NEGOTIATE_MESSAGE (type 1) without domain or workstation. `empty_offset` is the offset
/// its two empty security buffers carry (Windows writes 0, other clients the end of the
/// header; a reader must accept either); `version` adds the VERSION field.
pub fn negotiate(flags: u32, version: Option<[u8; 8]>, empty_offset: usize) -> Vec<u8> {
    let mut v = SIGNATURE.to_vec();
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&flags.to_le_bytes());
    sec_buf(&mut v, 0, empty_offset);
    sec_buf(&mut v, 0, empty_offset);
    if let Some(ver) = version {
        v.extend_from_slice(&ver);
    }
    v
}

/// CHALLENGE_MESSAGE (type 2). Names are already encoded (see [`utf16`]).
#[derive(Clone, Debug)]
pub struct Challenge<'a> {
    pub flags: u32,
    pub target_name: &'a [u8],
    pub server_challenge: [u8; 8],
    /// AV pairs, EOL included when wanted.
    pub target_info: &'a [u8],
    pub version: Option<[u8; 8]>,
}

impl Challenge<'_> {
    /// Header (48 bytes, 56 with VERSION), then target name, then target info.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = 48 + if self.version.is_some() { 8 } else { 0 };
        let mut v = SIGNATURE.to_vec();
        v.extend_from_slice(&2u32.to_le_bytes());
        sec_buf(&mut v, self.target_name.len(), header);
        v.extend_from_slice(&self.flags.to_le_bytes());
        v.extend_from_slice(&self.server_challenge);
        v.extend_from_slice(&[0u8; 8]); // reserved
        sec_buf(
            &mut v,
            self.target_info.len(),
            header + self.target_name.len(),
        );
        if let Some(ver) = self.version {
            v.extend_from_slice(&ver);
        }
        v.extend_from_slice(self.target_name);
        v.extend_from_slice(self.target_info);
        v
    }
}

/// AUTHENTICATE_MESSAGE (type 3). Names are already encoded (see [`utf16`]). A 24-byte NT
/// response is NTLMv1, a longer one NTLMv2.
#[derive(Clone, Debug)]
pub struct Authenticate<'a> {
    pub flags: u32,
    pub lm: &'a [u8],
    pub nt: &'a [u8],
    pub domain: &'a [u8],
    pub user: &'a [u8],
    pub workstation: &'a [u8],
    pub session_key: &'a [u8],
    pub version: Option<[u8; 8]>,
    pub mic: Option<[u8; 16]>,
    /// Payload order: LM and NT responses first, or (as Windows writes it) after the names.
    /// The security buffers say where each field is; a reader must follow them.
    pub responses_first: bool,
}

impl Authenticate<'_> {
    /// Header (64 bytes, +8 with VERSION, +16 with MIC), then the payload; the session key
    /// comes last.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = 64
            + if self.version.is_some() { 8 } else { 0 }
            + if self.mic.is_some() { 16 } else { 0 };
        let order: [&[u8]; 5] = if self.responses_first {
            [self.lm, self.nt, self.domain, self.user, self.workstation]
        } else {
            [self.domain, self.user, self.workstation, self.lm, self.nt]
        };
        let mut offsets = [0usize; 5];
        let mut off = header;
        for (o, p) in offsets.iter_mut().zip(order) {
            *o = off;
            off += p.len();
        }
        // Offsets in the header's order: LM, NT, domain, user, workstation.
        let at = |i: usize| {
            if self.responses_first {
                offsets[i]
            } else {
                offsets[(i + 3) % 5]
            }
        };
        let mut v = SIGNATURE.to_vec();
        v.extend_from_slice(&3u32.to_le_bytes());
        for (i, p) in [self.lm, self.nt, self.domain, self.user, self.workstation]
            .into_iter()
            .enumerate()
        {
            sec_buf(&mut v, p.len(), at(i));
        }
        sec_buf(&mut v, self.session_key.len(), off);
        v.extend_from_slice(&self.flags.to_le_bytes());
        if let Some(ver) = self.version {
            v.extend_from_slice(&ver);
        }
        if let Some(mic) = self.mic {
            v.extend_from_slice(&mic);
        }
        for p in order {
            v.extend_from_slice(p);
        }
        v.extend_from_slice(self.session_key);
        v
    }
}

/// The NTLMv2 client blob (the NT response after its 16-byte proof): header, timestamp,
/// client challenge, AV pairs (EOL included when wanted), trailing zeros.
pub fn ntlmv2_blob(timestamp: [u8; 8], client_challenge: [u8; 8], av_pairs: &[u8]) -> Vec<u8> {
    let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&timestamp);
    blob.extend_from_slice(&client_challenge);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(av_pairs);
    blob.extend_from_slice(&[0; 4]);
    blob
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(m: &[u8], at: usize) -> &[u8] {
        let len = u16::from_le_bytes([m[at], m[at + 1]]) as usize;
        let off = u32::from_le_bytes([m[at + 4], m[at + 5], m[at + 6], m[at + 7]]) as usize;
        &m[off..off + len]
    }

    #[test]
    fn authenticate_buffers_point_at_their_fields_in_either_order() {
        for responses_first in [false, true] {
            let (d, u, w) = (utf16("CORP"), utf16("anna"), utf16("PC-1"));
            let m = Authenticate {
                flags: NEGOTIATE_UNICODE,
                lm: &[1; 24],
                nt: &[2; 40],
                domain: &d,
                user: &u,
                workstation: &w,
                session_key: &[3; 16],
                version: Some(WINDOWS_10),
                mic: Some([4; 16]),
                responses_first,
            }
            .to_bytes();
            assert_eq!(buf(&m, 12), [1; 24]);
            assert_eq!(buf(&m, 20), [2; 40]);
            assert_eq!(buf(&m, 28), d.as_slice());
            assert_eq!(buf(&m, 36), u.as_slice());
            assert_eq!(buf(&m, 44), w.as_slice());
            assert_eq!(buf(&m, 52), [3; 16]);
            assert_eq!(m.len(), 88 + 24 + 40 + d.len() + u.len() + w.len() + 16);
        }
    }

    #[test]
    fn challenge_target_info_ends_the_message() {
        let name = utf16("CORP");
        let mut ti = server_av_pairs("CORP", "P1", "corp.example.com", "p1.corp.example.com", 0);
        av_pair(&mut ti, EOL, &[]);
        for version in [None, Some(WINDOWS_10)] {
            let m = Challenge {
                flags: NEGOTIATE_UNICODE,
                target_name: &name,
                server_challenge: [9; 8],
                target_info: &ti,
                version,
            }
            .to_bytes();
            assert_eq!(buf(&m, 12), name.as_slice());
            assert_eq!(buf(&m, 40), ti.as_slice());
            assert_eq!(&m[24..32], &[9; 8]);
            assert!(m.ends_with(&[0, 0, 0, 0]));
        }
    }
}
