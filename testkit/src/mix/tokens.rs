//! The authentication tokens of the mix: the generic emitters (`ntlm`, `kerberos`, `spnego`,
//! `basic_digest`) filled with the world's names and random bytes, in the order the mix
//! draws them (the same seed writes the same file).

use super::world::{domain, realm, Client, Proxy};
use crate::basic_digest::{self, DigestCredentials};
use crate::der::{OID_KRB5, OID_MS_KRB5, OID_NEGOEX, OID_NTLMSSP};
use crate::kerberos::{self, KrbError};
use crate::ntlm::{self, av, av_pair, utf16, Authenticate, Challenge};
use crate::rng::WyRand;
use crate::spnego;
use crate::time::generalized_time;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

const TYPE1_FLAGS: u32 = 0xe208_8297;
const TYPE2_FLAGS: u32 = 0xe289_8215;
const TYPE3_FLAGS: u32 = 0xe288_8215;

pub(crate) fn ntlm_type1() -> Vec<u8> {
    ntlm::negotiate(TYPE1_FLAGS, Some(ntlm::WINDOWS_10), 0)
}

fn server_av_pairs(dom: &str, p: &Proxy, secs: u64) -> Vec<u8> {
    let dns_dom = format!("{}.example.com", dom.to_ascii_lowercase());
    ntlm::server_av_pairs(
        dom,
        &p.name.to_ascii_uppercase(),
        &dns_dom,
        &format!("{}.{dns_dom}", p.name),
        secs,
    )
}

pub(crate) fn ntlm_type2(rng: &mut WyRand, dom: &str, p: &Proxy, secs: u64) -> Vec<u8> {
    let name = utf16(dom);
    let mut ti = server_av_pairs(dom, p, secs);
    av_pair(&mut ti, av::EOL, &[]);
    Challenge {
        flags: TYPE2_FLAGS,
        target_name: &name,
        server_challenge: rng.bytes::<8>(),
        target_info: &ti,
        version: Some(ntlm::WINDOWS_10),
    }
    .to_bytes()
}

pub(crate) fn ntlm_type3(rng: &mut WyRand, c: &Client, p: &Proxy, secs: u64, v1: bool) -> Vec<u8> {
    let dom = utf16(domain(c));
    let user = utf16(&c.user);
    let ws = utf16(&c.ws);
    let (lm, nt) = if v1 {
        (rng.vec(24), rng.vec(24))
    } else {
        let client_challenge = rng.bytes::<8>();
        let mut pairs = server_av_pairs(domain(c), p, secs);
        av_pair(&mut pairs, av::FLAGS, &2u32.to_le_bytes());
        av_pair(&mut pairs, av::CHANNEL_BINDINGS, &[0; 16]);
        av_pair(
            &mut pairs,
            av::TARGET_NAME,
            &utf16(&format!("HTTP/{}.corp.example.com", p.name)),
        );
        av_pair(&mut pairs, av::EOL, &[]);
        let blob = ntlm::ntlmv2_blob(ntlm::filetime(secs), client_challenge, &pairs);
        let mut nt = rng.vec(16); // NTProofStr
        nt.extend_from_slice(&blob);
        (vec![0u8; 24], nt)
    };
    let key = rng.vec(16);
    let mic = rng.bytes::<16>();
    Authenticate {
        flags: TYPE3_FLAGS,
        lm: &lm,
        nt: &nt,
        domain: &dom,
        user: &user,
        workstation: &ws,
        session_key: &key,
        version: Some(ntlm::WINDOWS_10),
        mic: Some(mic),
        responses_first: false,
    }
    .to_bytes()
}

fn spn_host(p: &Proxy) -> String {
    format!("{}.corp.example.com", p.name)
}

/// SPNEGO NegTokenInit carrying a Kerberos AP-REQ for `HTTP/<proxy fqdn>`.
pub(crate) fn kerberos_token(rng: &mut WyRand, c: &Client, p: &Proxy) -> Vec<u8> {
    let realm = realm(c);
    let sname = kerberos::principal(kerberos::NT_SRV_INST, &["HTTP", &spn_host(p)]);
    let (ticket_len, auth_len) = (rng.range(1000, 3600) as usize, rng.range(150, 300) as usize);
    let etype = kerberos::AES256_CTS_HMAC_SHA1_96;
    let ticket_enc = kerberos::encrypted_data(etype, Some(3), &rng.vec(ticket_len));
    let ticket = kerberos::ticket(&realm, &sname, &ticket_enc);
    let authenticator = kerberos::encrypted_data(etype, None, &rng.vec(auth_len));
    let ap_req = kerberos::ap_req(kerberos::MUTUAL_REQUIRED, &ticket, &authenticator);
    let mech_token = kerberos::gss_token(kerberos::TOK_AP_REQ, &ap_req);
    spnego::neg_token_init(
        &[OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP],
        &mech_token,
    )
}

/// SPNEGO NegTokenResp rejecting the client, carrying a KRB-ERROR.
pub(crate) fn krb_error_reply(rng: &mut WyRand, c: &Client, p: &Proxy, secs: u64) -> Vec<u8> {
    let code = *rng.pick(&[37u32, 41, 32]); // SKEW, MODIFIED, TKT_EXPIRED
    let stime = generalized_time(secs);
    let susec = rng.below(999_999) as u32;
    let sname = kerberos::principal(kerberos::NT_SRV_INST, &["HTTP", &spn_host(p)]);
    let err = kerberos::krb_error(&KrbError {
        stime: &stime,
        susec,
        error_code: code,
        realm: &realm(c),
        sname: &sname,
    });
    let token = kerberos::gss_token(kerberos::TOK_KRB_ERROR, &err);
    spnego::neg_token_resp(Some(spnego::REJECT), Some(OID_MS_KRB5), Some(&token))
}

pub(crate) use basic_digest::basic;

pub(crate) fn digest_nonce(rng: &mut WyRand) -> String {
    B64.encode(rng.vec(24))
}

const DIGEST_REALM: &str = "Branch Office Proxy";

pub(crate) fn digest_challenge(nonce: &str, stale: bool) -> String {
    basic_digest::digest_challenge(DIGEST_REALM, nonce, stale)
}

pub(crate) fn digest_credentials(
    rng: &mut WyRand,
    c: &Client,
    nonce: &str,
    uri: &str,
    nc: u32,
) -> String {
    let cnonce = rng.hex(16);
    let response = rng.hex(32);
    DigestCredentials {
        username: &c.user,
        realm: DIGEST_REALM,
        nonce,
        uri,
        cnonce: &cnonce,
        nc,
        response: &response,
    }
    .header_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::OID_SPNEGO;
    use crate::mix::world::World;
    use crate::mix::START_SECS;

    #[test]
    fn ntlm_type3_security_buffers_point_inside_and_name_the_user() {
        let mut rng = WyRand(9);
        let w = World::new(&mut rng);
        let c = &w.clients[42];
        for v1 in [false, true] {
            let m = ntlm_type3(&mut rng, c, &w.proxies[0], START_SECS, v1);
            assert_eq!(&m[..12], b"NTLMSSP\0\x03\0\0\0");
            let buf = |i: usize| {
                let o = 12 + i * 8;
                let len = u16::from_le_bytes([m[o], m[o + 1]]) as usize;
                let off = u32::from_le_bytes([m[o + 4], m[o + 5], m[o + 6], m[o + 7]]) as usize;
                assert!(off >= 88 && off + len <= m.len());
                &m[off..off + len]
            };
            let (lm, nt, dom, user, ws) = (buf(0), buf(1), buf(2), buf(3), buf(4));
            assert_eq!(lm.len(), 24);
            assert_eq!(nt.len() == 24, v1);
            assert_eq!(dom, utf16(domain(c)).as_slice());
            assert_eq!(user, utf16(&c.user).as_slice());
            assert_eq!(ws, utf16(&c.ws).as_slice());
        }
        let t2 = ntlm_type2(&mut rng, "CORP", &w.proxies[0], START_SECS);
        let off = u32::from_le_bytes([t2[44], t2[45], t2[46], t2[47]]) as usize;
        let len = u16::from_le_bytes([t2[40], t2[41]]) as usize;
        assert_eq!(off + len, t2.len());
        assert_eq!(&t2[len + off - 4..], &[0, 0, 0, 0]); // MsvAvEOL
    }

    /// Walks a DER TLV at `b`, returning (tag, content, rest).
    fn tlv(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let (len, hdr) = match b[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (b[2] as usize, 3),
            0x82 => ((b[2] as usize) << 8 | b[3] as usize, 4),
            _ => (
                (b[2] as usize) << 16 | (b[3] as usize) << 8 | b[4] as usize,
                5,
            ),
        };
        (b[0], &b[hdr..hdr + len], &b[hdr + len..])
    }

    #[test]
    fn kerberos_token_is_spnego_around_an_ap_req_for_the_proxy() {
        let mut rng = WyRand(10);
        let w = World::new(&mut rng);
        let tok = kerberos_token(&mut rng, &w.clients[1], &w.proxies[2]);
        let (tag, body, rest) = tlv(&tok);
        assert_eq!((tag, rest.len()), (0x60, 0));
        assert!(body.starts_with(OID_SPNEGO));
        let (tag, init, _) = tlv(&body[OID_SPNEGO.len()..]);
        assert_eq!(tag, 0xa0);
        let (_, seq, _) = tlv(init);
        let (tag, _, rest) = tlv(seq); // [0] mechTypes
        assert_eq!(tag, 0xa0);
        let (tag, mech, _) = tlv(rest); // [2] mechToken
        assert_eq!(tag, 0xa2);
        let (_, gss, _) = tlv(mech);
        let (tag, inner, _) = tlv(gss);
        assert_eq!(tag, 0x60);
        assert!(inner.starts_with(OID_KRB5));
        assert_eq!(inner[OID_KRB5.len()..][..3], [0x01, 0x00, 0x6e]);
        let s = String::from_utf8_lossy(&tok);
        assert!(s.contains("CORP.EXAMPLE.COM") || s.contains(".CORP.EXAMPLE.COM"));
        assert!(s.contains("proxy-03.corp.example.com"));
    }

    #[test]
    fn basic_credentials_carry_generated_passwords_only() {
        let mut rng = WyRand(11);
        let w = World::new(&mut rng);
        for c in &w.clients[..50] {
            assert!(c.password.starts_with("Gen-") && c.password.len() == 16);
        }
        let v = basic("anna.smith", "Gen-abc");
        assert_eq!(v, "Basic YW5uYS5zbWl0aDpHZW4tYWJj");
    }
}
