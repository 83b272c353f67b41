//! A small DER reader for the few ASN.1 structures SPNEGO and Kerberos need: one
//! tag-length-value at a time, definite lengths only (short form, or long form of up to 4
//! length bytes), single-byte tags, and a nesting depth limit. Every length is checked
//! against the bytes that are really there before anything is sliced; malformed input is an
//! error naming what was wrong, never a panic. It knows no schema: the callers in
//! `negotiate.rs` say which tags they expect.

use crate::anomaly::CredentialAnomaly;

/// The deepest nesting [`Tlv::children`] will descend to.
pub const MAX_DEPTH: u8 = 24;

/// Why some bytes are not a DER element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DerError {
    /// Fewer bytes than the header or the length says.
    Truncated,
    /// Indefinite length (`0x80`), or a long form of more than 4 length bytes.
    BadLength,
    /// A multi-byte (high-tag-number) identifier, which none of these structures use.
    HighTag,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl DerError {
    /// The anomaly it is.
    pub fn anomaly(self) -> CredentialAnomaly {
        match self {
            DerError::Truncated => CredentialAnomaly::DerTruncated,
            DerError::BadLength => CredentialAnomaly::DerBadLength,
            DerError::HighTag => CredentialAnomaly::DerHighTag,
            DerError::TooDeep => CredentialAnomaly::DerTooDeep,
        }
    }
}

/// One element: its identifier byte and its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// How deep this element sits (0 for the outermost).
    pub depth: u8,
}

pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_OID: u8 = 0x06;
pub const TAG_ENUMERATED: u8 = 0x0a;
pub const TAG_GENERAL_STRING: u8 = 0x1b;
pub const TAG_SEQUENCE: u8 = 0x30;

/// The identifier of a constructed context-specific tag `[n]` (n < 31).
pub const fn ctx(n: u8) -> u8 {
    0xa0 | (n & 0x1f)
}

/// The identifier of a constructed application tag `[APPLICATION n]` (n < 31).
pub const fn app(n: u8) -> u8 {
    0x60 | (n & 0x1f)
}

/// Reads one element at the start of `input`; returns it and the bytes after it.
pub fn read(input: &[u8], depth: u8) -> Result<(Tlv<'_>, &[u8]), DerError> {
    if depth > MAX_DEPTH {
        return Err(DerError::TooDeep);
    }
    let (&tag, rest) = input.split_first().ok_or(DerError::Truncated)?;
    if tag & 0x1f == 0x1f {
        return Err(DerError::HighTag);
    }
    let (&first, mut rest) = rest.split_first().ok_or(DerError::Truncated)?;
    let len: usize = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(DerError::BadLength);
        }
        let bytes = rest.get(..n).ok_or(DerError::Truncated)?;
        rest = rest.get(n..).ok_or(DerError::Truncated)?;
        let mut l: u64 = 0;
        for &b in bytes {
            l = (l << 8) | u64::from(b);
        }
        usize::try_from(l).map_err(|_| DerError::BadLength)?
    };
    let value = rest.get(..len).ok_or(DerError::Truncated)?;
    let after = rest.get(len..).ok_or(DerError::Truncated)?;
    Ok((Tlv { tag, value, depth }, after))
}

impl<'a> Tlv<'a> {
    /// Reads a whole buffer as one element (trailing bytes are ignored).
    pub fn parse(input: &'a [u8]) -> Result<Tlv<'a>, DerError> {
        read(input, 0).map(|(t, _)| t)
    }

    /// The elements inside this (constructed) element, in order.
    pub fn children(&self) -> Children<'a> {
        Children {
            rest: self.value,
            depth: self.depth.saturating_add(1),
            failed: false,
        }
    }

    /// The single element this one wraps (an explicit tag `[n] { inner }`).
    pub fn inner(&self) -> Result<Tlv<'a>, DerError> {
        read(self.value, self.depth.saturating_add(1)).map(|(t, _)| t)
    }

    /// The first child with identifier `tag`, skipping others; errors stop the search.
    pub(crate) fn child(&self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        for c in self.children() {
            let c = c?;
            if c.tag == tag {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Explicitly tagged field `[n]` of a SEQUENCE: finds `[n]` and returns what it wraps.
    pub fn field(&self, n: u8) -> Result<Option<Tlv<'a>>, DerError> {
        match self.child(ctx(n))? {
            Some(t) => t.inner().map(Some),
            None => Ok(None),
        }
    }

    /// The value as a signed INTEGER (up to 8 bytes), if it is one.
    pub(crate) fn integer(&self) -> Option<i64> {
        if self.tag != TAG_INTEGER && self.tag != TAG_ENUMERATED {
            return None;
        }
        let v = self.value;
        if v.is_empty() || v.len() > 8 {
            return None;
        }
        let first = *v.first()?;
        let mut n: i64 = if first & 0x80 != 0 { -1 } else { 0 };
        for &b in v {
            n = (n << 8) | i64::from(b);
        }
        Some(n)
    }

    /// The value as text (GeneralString and friends), non-UTF-8 bytes replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.value).into_owned()
    }
}

/// Iterator over the children of a constructed element; stops after the first error.
#[derive(Clone, Debug)]
pub struct Children<'a> {
    rest: &'a [u8],
    depth: u8,
    failed: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, DerError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match read(self.rest, self.depth) {
            Ok((t, after)) => {
                self.rest = after;
                Some(Ok(t))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Dotted form of an OBJECT IDENTIFIER's contents (`1.2.840.113554.1.2.2`), or `None` when
/// the encoding is broken.
pub(crate) fn oid_string(value: &[u8]) -> Option<String> {
    let (&first, rest) = value.split_first()?;
    let mut out = format!("{}.{}", first / 40, first % 40);
    if first >= 120 {
        // Arcs above 2.39 would need a multi-byte first sub-identifier; not used here.
        out = format!("2.{}", first.saturating_sub(80));
    }
    let mut acc: u64 = 0;
    let mut pending = false;
    for &b in rest {
        acc = acc.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        pending = true;
        if b & 0x80 == 0 {
            out.push('.');
            out.push_str(&acc.to_string());
            acc = 0;
            pending = false;
        }
    }
    if pending {
        return None;
    }
    Some(out)
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
    fn short_and_long_lengths() {
        let (t, rest) = read(&[0x04, 0x02, 0xaa, 0xbb, 0xcc], 0).unwrap();
        assert_eq!(t.tag, 0x04);
        assert_eq!(t.value, &[0xaa, 0xbb]);
        assert_eq!(rest, &[0xcc]);
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        let (t, rest) = read(&long, 0).unwrap();
        assert_eq!(t.value.len(), 256);
        assert!(rest.is_empty());
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(read(&[0x30, 0x80, 0, 0], 0), Err(DerError::BadLength));
        assert_eq!(
            read(&[0x30, 0x85, 1, 1, 1, 1, 1], 0),
            Err(DerError::BadLength)
        );
        assert_eq!(
            read(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], 0),
            Err(DerError::Truncated)
        );
        assert_eq!(read(&[0x30, 0x05, 1], 0), Err(DerError::Truncated));
        assert_eq!(read(&[0x30], 0), Err(DerError::Truncated));
        assert_eq!(read(&[], 0), Err(DerError::Truncated));
        assert_eq!(read(&[0x1f, 0x01, 0x00], 0), Err(DerError::HighTag));
    }

    #[test]
    fn depth_is_limited() {
        // 40 nested SEQUENCEs, walked by always taking the first child.
        let mut bytes: Vec<u8> = Vec::new();
        for _ in 0..40 {
            let mut outer = vec![0x30, bytes.len() as u8];
            outer.extend(&bytes);
            bytes = outer;
        }
        let mut t = Tlv::parse(&bytes).unwrap();
        let err = loop {
            match t.inner() {
                Ok(i) => t = i,
                Err(e) => break e,
            }
        };
        assert_eq!(err, DerError::TooDeep);
    }

    #[test]
    fn integers_and_oids() {
        let t = Tlv {
            tag: TAG_INTEGER,
            value: &[0x25],
            depth: 0,
        };
        assert_eq!(t.integer(), Some(37));
        let t = Tlv {
            tag: TAG_INTEGER,
            value: &[0xff, 0x7f],
            depth: 0,
        };
        assert_eq!(t.integer(), Some(-129));
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02]).as_deref(),
            Some("1.2.840.113554.1.2.2")
        );
        assert_eq!(oid_string(&[0x2b, 0x86]), None);
    }
}
