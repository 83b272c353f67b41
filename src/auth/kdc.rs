//! Kerberos KDC messages (RFC 4120 §5.4, §5.9.1), read with the DER reader of [`der`]:
//! AS-REQ, AS-REP, TGS-REQ, TGS-REP and KRB-ERROR, as they travel to and from a KDC on UDP or
//! TCP port 88. What is in clear is kept: the client's name and realm (in the body of an
//! AS-REQ, in an AS-REP, a TGS-REP and a KRB-ERROR; a TGS-REQ has it only in its encrypted
//! authenticator), the service name (`sname`: in a request's body, in the ticket of a reply,
//! in an error) and a KRB-ERROR's code and `e-text`. Pre-authentication data, tickets,
//! authenticators and every `enc-part` stay in the input: nothing returned holds a key,
//! a ciphertext or a timestamp.
//!
//! On TCP every message comes after a 4-byte big-endian length (RFC 4120 §7.2.2, the high bit
//! reserved); [`KdcStream`] cuts a direction's bytes into messages, across segments, holding
//! at most [`MAX_MESSAGE`] bytes.

use super::der::{app, DerError, Tlv};
use super::negotiate::principal_name;
use crate::anomaly::CredentialAnomaly as A;

/// The largest KDC message held over TCP; a longer one is skipped (counted).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Most characters kept of a name or an `e-text`.
const MAX_TEXT: usize = 256;

/// Which KDC message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KdcKind {
    AsReq,
    AsRep,
    TgsReq,
    TgsRep,
    Error,
}

impl KdcKind {
    /// A request (sent by the client) rather than an answer (sent to it).
    pub fn is_request(self) -> bool {
        matches!(self, KdcKind::AsReq | KdcKind::TgsReq)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KdcKind::AsReq => "AS-REQ",
            KdcKind::AsRep => "AS-REP",
            KdcKind::TgsReq => "TGS-REQ",
            KdcKind::TgsRep => "TGS-REP",
            KdcKind::Error => "KRB-ERROR",
        }
    }
}

/// What a KDC message says in clear. Names are their components joined by `/`
/// (`HTTP/proxy.example.com`, `krbtgt/LAB.TEST`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KdcMessage {
    pub kind: KdcKind,
    /// The client's name (`cname`), where the message has it in clear.
    pub client: Option<String>,
    /// The client's realm (`crealm`; the body's `realm` of an AS-REQ).
    pub client_realm: Option<String>,
    /// The service asked for or granted (`sname`).
    pub service: Option<String>,
    /// The realm of the service (`realm` of a request body, a ticket or an error).
    pub service_realm: Option<String>,
    /// A KRB-ERROR's `error-code`.
    pub error_code: Option<i64>,
    /// A KRB-ERROR's `e-text`.
    pub e_text: Option<String>,
}

impl KdcMessage {
    fn new(kind: KdcKind) -> Self {
        KdcMessage {
            kind,
            client: None,
            client_realm: None,
            service: None,
            service_realm: None,
            error_code: None,
            e_text: None,
        }
    }
}

fn e(err: DerError) -> A {
    err.anomaly()
}

/// Reads one KDC message (the bytes of a UDP datagram, or of one TCP record without its
/// length). Never panics; bytes that are no KDC message are an anomaly.
pub fn parse(bytes: &[u8]) -> Result<KdcMessage, A> {
    let tlv = Tlv::parse(bytes).map_err(e)?;
    match tlv.tag {
        t if t == app(10) => kdc_req(tlv, KdcKind::AsReq),
        t if t == app(12) => kdc_req(tlv, KdcKind::TgsReq),
        t if t == app(11) => kdc_rep(tlv, KdcKind::AsRep),
        t if t == app(13) => kdc_rep(tlv, KdcKind::TgsRep),
        t if t == app(30) => krb_error(tlv),
        _ => Err(A::KdcUnknownMessage),
    }
}

/// A cheap look at the first byte: could these bytes be a KDC message at all?
pub fn looks_like_kdc(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(&b) if [app(10), app(11), app(12), app(13), app(30)].contains(&b))
}

/// A text field, bounded, with what could break a `detail` (spaces, control characters)
/// replaced by `_`.
fn text(t: Tlv<'_>) -> Option<String> {
    clean(&t.text())
}

fn clean(s: &str) -> Option<String> {
    let out: String = s
        .chars()
        .take(MAX_TEXT)
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    Some(out).filter(|s| !s.is_empty())
}

fn name(seq: Tlv<'_>) -> Result<Option<String>, A> {
    Ok(principal_name(seq)?.and_then(|s| clean(&s)))
}

/// KDC-REQ ::= SEQUENCE { [1] pvno, [2] msg-type, [3] padata OPTIONAL, [4] req-body }
/// KDC-REQ-BODY ::= SEQUENCE { [0] kdc-options, [1] cname OPTIONAL, [2] realm,
/// [3] sname OPTIONAL, ... }. The padata (an encrypted timestamp, a TGS-REQ's AP-REQ) is not
/// read.
fn kdc_req(tlv: Tlv<'_>, kind: KdcKind) -> Result<KdcMessage, A> {
    let seq = tlv.inner().map_err(e)?;
    let body = seq.field(4).map_err(e)?.ok_or(A::KdcMissingField)?;
    let mut m = KdcMessage::new(kind);
    if let Some(c) = body.field(1).map_err(e)? {
        m.client = name(c)?;
    }
    if let Some(r) = body.field(2).map_err(e)? {
        m.service_realm = text(r);
        if kind == KdcKind::AsReq {
            m.client_realm = m.service_realm.clone();
        }
    }
    if let Some(s) = body.field(3).map_err(e)? {
        m.service = name(s)?;
    }
    Ok(m)
}

/// KDC-REP ::= SEQUENCE { [0] pvno, [1] msg-type, [2] padata OPTIONAL, [3] crealm,
/// [4] cname, [5] ticket, [6] enc-part }; Ticket ::= [APPLICATION 1] SEQUENCE
/// { [0] tkt-vno, [1] realm, [2] sname, [3] enc-part }.
fn kdc_rep(tlv: Tlv<'_>, kind: KdcKind) -> Result<KdcMessage, A> {
    let seq = tlv.inner().map_err(e)?;
    let mut m = KdcMessage::new(kind);
    if let Some(r) = seq.field(3).map_err(e)? {
        m.client_realm = text(r);
    }
    if let Some(c) = seq.field(4).map_err(e)? {
        m.client = name(c)?;
    }
    let ticket = seq.field(5).map_err(e)?.ok_or(A::KdcMissingField)?;
    if ticket.tag != app(1) {
        return Err(A::KrbBadTicket);
    }
    let tseq = ticket.inner().map_err(e)?;
    if let Some(r) = tseq.field(1).map_err(e)? {
        m.service_realm = text(r);
    }
    if let Some(s) = tseq.field(2).map_err(e)? {
        m.service = name(s)?;
    }
    Ok(m)
}

/// KRB-ERROR ::= [APPLICATION 30] SEQUENCE { [0] pvno, [1] msg-type, [2] ctime OPTIONAL,
/// [3] cusec OPTIONAL, [4] stime, [5] susec, [6] error-code, [7] crealm OPTIONAL,
/// [8] cname OPTIONAL, [9] realm, [10] sname, [11] e-text OPTIONAL, [12] e-data OPTIONAL }.
fn krb_error(tlv: Tlv<'_>) -> Result<KdcMessage, A> {
    let seq = tlv.inner().map_err(e)?;
    let mut m = KdcMessage::new(KdcKind::Error);
    let code = seq.field(6).map_err(e)?.ok_or(A::KrbErrorNoCode)?;
    m.error_code = Some(code.integer().ok_or(A::KrbErrorBadCode)?);
    if let Some(r) = seq.field(7).map_err(e)? {
        m.client_realm = text(r);
    }
    if let Some(c) = seq.field(8).map_err(e)? {
        m.client = name(c)?;
    }
    if let Some(r) = seq.field(9).map_err(e)? {
        m.service_realm = text(r);
    }
    if let Some(s) = seq.field(10).map_err(e)? {
        m.service = name(s)?;
    }
    if let Some(t) = seq.field(11).map_err(e)? {
        m.e_text = text(t);
    }
    Ok(m)
}

/// One direction of a TCP connection to a KDC, cut into messages at their 4-byte lengths.
#[derive(Clone, Debug, Default)]
pub struct KdcStream {
    buf: Vec<u8>,
    /// Bytes still to pass over of a message too long to hold.
    skip: usize,
    /// The stream lost its framing (a gap, a reserved bit): nothing more is read.
    lost: bool,
}

impl KdcStream {
    /// In-order bytes of this direction; every message completed by them is handed to `f`
    /// (with its result). A length over [`MAX_MESSAGE`] is reported once as
    /// `KdcFrameTooLarge` and its message skipped.
    pub fn data(&mut self, mut bytes: &[u8], f: &mut dyn FnMut(Result<KdcMessage, A>)) {
        if self.lost {
            return;
        }
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            self.skip = self.skip.saturating_sub(n);
            bytes = bytes.get(n..).unwrap_or_default();
        }
        // Whole records straight from the segment, without copying, while none is held.
        while self.buf.is_empty() && !self.lost {
            let Some((len, rest)) = record_len(bytes) else {
                break;
            };
            match len {
                Err(a) => {
                    self.lost = true;
                    f(Err(a));
                    return;
                }
                Ok(len) if len > MAX_MESSAGE => {
                    f(Err(A::KdcFrameTooLarge));
                    let n = len.min(rest.len());
                    self.skip = len.saturating_sub(n);
                    bytes = rest.get(n..).unwrap_or_default();
                    if self.skip > 0 {
                        return;
                    }
                }
                Ok(len) => match (rest.get(..len), rest.get(len..)) {
                    (Some(msg), Some(after)) => {
                        f(parse(msg));
                        bytes = after;
                    }
                    _ => break,
                },
            }
        }
        if bytes.is_empty() {
            return;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let Some((len, rest)) = record_len(&self.buf) else {
                return;
            };
            match len {
                Err(a) => {
                    self.lost = true;
                    self.buf = Vec::new();
                    f(Err(a));
                    return;
                }
                Ok(len) if len > MAX_MESSAGE => {
                    f(Err(A::KdcFrameTooLarge));
                    self.skip = len.saturating_sub(rest.len());
                    self.buf = Vec::new();
                    return;
                }
                Ok(len) => {
                    let Some(msg) = rest.get(..len) else {
                        return;
                    };
                    f(parse(msg));
                    let used = len.saturating_add(4);
                    self.buf.drain(..used.min(self.buf.len()));
                }
            }
        }
    }

    /// Bytes are missing from this direction: its framing is lost for good.
    pub fn gap(&mut self) {
        self.lost = true;
        self.buf = Vec::new();
    }

    /// Bytes held now (bounded by [`MAX_MESSAGE`] plus one segment).
    pub fn held(&self) -> usize {
        self.buf.len()
    }
}

/// The length of the record at the start of `bytes` and the bytes after the length, or
/// `None` while fewer than 4 bytes are there.
fn record_len(bytes: &[u8]) -> Option<(Result<usize, A>, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<4>()?;
    let n = u32::from_be_bytes(*head);
    if n & 0x8000_0000 != 0 {
        return Some((Err(A::KdcFrameReserved), rest));
    }
    Some((usize::try_from(n).map_err(|_| A::KdcFrameTooLarge), rest))
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

    /// DER element with a short or long length.
    fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let n = value.len();
        if n < 128 {
            v.push(n as u8);
        } else {
            v.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        v.extend(value);
        v
    }

    fn princ(parts: &[&str]) -> Vec<u8> {
        let names: Vec<u8> = parts.iter().flat_map(|p| tlv(0x1b, p.as_bytes())).collect();
        tlv(
            0x30,
            &[tlv(0xa0, &tlv(0x02, &[1])), tlv(0xa1, &tlv(0x30, &names))].concat(),
        )
    }

    fn krb_error(code: u8, cname: Option<&[&str]>, sname: &[&str], etext: Option<&str>) -> Vec<u8> {
        let mut f = vec![
            tlv(0xa0, &tlv(0x02, &[5])),
            tlv(0xa1, &tlv(0x02, &[30])),
            tlv(0xa6, &tlv(0x02, &[code])),
        ];
        if let Some(c) = cname {
            f.push(tlv(0xa7, &tlv(0x1b, b"LAB.TEST")));
            f.push(tlv(0xa8, &princ(c)));
        }
        f.push(tlv(0xa9, &tlv(0x1b, b"LAB.TEST")));
        f.push(tlv(0xaa, &princ(sname)));
        if let Some(t) = etext {
            f.push(tlv(0xab, &tlv(0x1b, t.as_bytes())));
        }
        tlv(0x7e, &tlv(0x30, &f.concat()))
    }

    #[test]
    fn reads_a_krb_error() {
        let m = parse(&krb_error(
            7,
            Some(&["frank"]),
            &["HTTP", "10.0.0.1"],
            Some("Server not found"),
        ))
        .unwrap();
        assert_eq!(m.kind, KdcKind::Error);
        assert_eq!(m.error_code, Some(7));
        assert_eq!(m.client.as_deref(), Some("frank"));
        assert_eq!(m.client_realm.as_deref(), Some("LAB.TEST"));
        assert_eq!(m.service.as_deref(), Some("HTTP/10.0.0.1"));
        assert_eq!(m.e_text.as_deref(), Some("Server_not_found"));
    }

    #[test]
    fn tcp_records_are_cut_across_segments() {
        let msg = krb_error(24, Some(&["frank"]), &["krbtgt", "LAB.TEST"], None);
        let mut rec = (msg.len() as u32).to_be_bytes().to_vec();
        rec.extend(&msg);
        let mut two = rec.clone();
        two.extend(&rec);
        for cut in [1, 3, 4, 5, rec.len() - 1, rec.len(), rec.len() + 2] {
            let mut s = KdcStream::default();
            let mut got = Vec::new();
            s.data(&two[..cut], &mut |r| got.push(r));
            s.data(&two[cut..], &mut |r| got.push(r));
            assert_eq!(got.len(), 2, "cut at {cut}");
            for g in got {
                assert_eq!(g.unwrap().error_code, Some(24));
            }
            assert_eq!(s.held(), 0);
        }
    }

    #[test]
    fn oversized_and_reserved_records() {
        let mut s = KdcStream::default();
        let mut got = Vec::new();
        let big = (MAX_MESSAGE as u32 + 1).to_be_bytes();
        s.data(&big, &mut |r| got.push(r));
        s.data(&vec![0u8; 1000], &mut |r| got.push(r));
        assert_eq!(got, vec![Err(A::KdcFrameTooLarge)]);
        assert_eq!(s.held(), 0);
        let mut s = KdcStream::default();
        let mut got = Vec::new();
        s.data(&[0x80, 0, 0, 1, 0], &mut |r| got.push(r));
        s.data(&[0, 0, 0, 1, 0], &mut |r| got.push(r));
        assert_eq!(got, vec![Err(A::KdcFrameReserved)]);
    }

    #[test]
    fn garbage_never_panics() {
        assert_eq!(parse(b""), Err(A::DerTruncated));
        assert_eq!(parse(b"\x30\x00"), Err(A::KdcUnknownMessage));
        assert_eq!(parse(b"\x6a\x02\x30\x00"), Err(A::KdcMissingField));
        let good = krb_error(37, None, &["HTTP", "localhost"], None);
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
            let mut flipped = good.clone();
            flipped[n] ^= 0xff;
            let _ = parse(&flipped);
        }
        assert!(looks_like_kdc(&good));
        assert!(!looks_like_kdc(b"GET /"));
    }
}
