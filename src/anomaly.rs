//! Named anomalies: everything a run met that is not as it should be, one enum per layer
//! ([`CaptureAnomaly`] for capture file damage, [`DecodeAnomaly`], [`FlowAnomaly`] for the
//! flow table's limits, [`ReassemblyAnomaly`], [`HttpAnomaly`] for HTTP framing,
//! [`CredentialAnomaly`] for authentication headers and tokens), wrapped in [`Anomaly`].
//!
//! Each variant has a stable name (`layer.what`, the key in the JSON summary's `anomalies`
//! object) and a one-line explanation. [`Anomalies`] counts them in one fixed array indexed
//! by variant: counting allocates nothing. The bottom layer of the crate: it uses nothing
//! but std and serde, and every stage produces its own enum's values.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Defines one layer's enum: its variants with their names and explanations, `ALL` in
/// declaration order (the order of every output) and `COUNT`.
macro_rules! layer {
    (
        $(#[$meta:meta])*
        $ty:ident => $wrap:ident, $prefix:literal,
        { $( $(#[$vmeta:meta])* $var:ident = $name:literal : $expl:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $ty {
            $( $(#[$vmeta])* $var ),+
        }

        impl $ty {
            /// Every variant, in the order of every output.
            pub const ALL: &'static [$ty] = &[$($ty::$var),+];
            pub const COUNT: usize = Self::ALL.len();

            /// The stable name: `layer.what`.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$var => concat!($prefix, ".", $name)),+
                }
            }

            /// What it means, in one line.
            pub fn explanation(self) -> &'static str {
                match self {
                    $($ty::$var => $expl),+
                }
            }

            /// The variant's place in `ALL`.
            fn index(self) -> usize {
                self as usize
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl From<$ty> for Anomaly {
            fn from(a: $ty) -> Anomaly {
                Anomaly::$wrap(a)
            }
        }
    };
}

layer! {
    /// Damage in a capture file (the source layer); each also gives a notice.
    CaptureAnomaly => Capture, "capture", {
        NotACapture = "not_a_capture":
            "a file is not a pcap or pcapng capture (empty, too short, unknown header): not read",
        ReadError = "read_error":
            "a file (or interface) could not be opened or read further: an I/O error",
        CorruptRecord = "corrupt_record":
            "a pcap record header is corrupt: reading resumed at the next plausible record, or \
             the rest of the file was skipped",
        BadBlock = "bad_block":
            "a pcapng block does not parse: skipped by its length, or the rest of the file",
        TruncatedFile = "truncated_file":
            "the file ends in the middle of a record (cut while being written or copied)",
        OversizedBlock = "oversized_block":
            "a block larger than 64 MiB: the rest of the file was skipped",
        Stalled = "stalled":
            "reading made no progress: the rest of the file was skipped",
        BadTimestampResolution = "bad_timestamp_resolution":
            "a pcapng interface with an invalid timestamp resolution: microseconds assumed",
        UndeclaredInterface = "undeclared_interface":
            "a pcapng packet for an interface never declared: skipped",
        ZeroLengthRecord = "zero_length_record":
            "a packet record with no captured bytes",
        RecordOverSnaplen = "record_over_snaplen":
            "a packet record longer than the file's own snap length",
    }
}

layer! {
    /// Frames that do not decode to what their link type says.
    DecodeAnomaly => Decode, "decode", {
        UnknownLinkType = "unknown_link_type":
            "packets of a link type that is not decoded: counted and skipped",
        EthernetHeader = "ethernet_header":
            "an Ethernet frame too short for its header",
        LinuxSllHeader = "linux_sll_header":
            "a Linux cooked (SLL) frame too short for its header",
        LinuxSll2Header = "linux_sll2_header":
            "a Linux cooked v2 (SLL2) frame too short for its header",
        NullHeader = "null_header":
            "a BSD loopback (NULL/LOOP) frame too short for its address family",
        NflogRecord = "nflog_record":
            "an NFLOG record whose attributes do not parse",
        IpVersion = "ip_version":
            "an IP packet that is empty or of a version other than 4 or 6 (or the link type's)",
        Ipv4Header = "ipv4_header":
            "an IPv4 header that is cut short or inconsistent (header or total length)",
        Ipv6Header = "ipv6_header":
            "an IPv6 header that is cut short",
        IpExtensionHeader = "ip_extension_header":
            "an IPv6 extension header (or an IP authentication header) that does not parse",
        TcpHeader = "tcp_header":
            "a TCP header that is cut short or has an impossible data offset",
        GreHeader = "gre_header":
            "a GRE header that is cut short, of another version or routed: its payload not decoded",
        Erspan2Header = "erspan2_header":
            "an ERSPAN type I/II header that is cut short or of another version",
        Erspan3Header = "erspan3_header":
            "an ERSPAN type III header (or its platform sub-header) that is cut short",
        VxlanHeader = "vxlan_header":
            "a VXLAN header that is cut short or lacks the VNI flag",
        GeneveHeader = "geneve_header":
            "a Geneve header that is cut short, of another version or with options past its end",
        MplsHeader = "mpls_header":
            "an MPLS label stack without a bottom label, or whose payload is neither IP nor a pseudowire",
        PppoeHeader = "pppoe_header":
            "a PPPoE session header that is cut short, or a PPP protocol other than IPv4/IPv6",
        TunnelDepth = "tunnel_depth":
            "tunnels nested more than 4 deep: the packet is not decoded further",
    }
}

layer! {
    /// The flow table's limits were reached (`--max-connections`, `--max-stream-buffer`).
    FlowAnomaly => Flow, "flow", {
        TableFull = "table_full":
            "the connection table was full (--max-connections): the least recently active \
             connection was evicted",
        HoldBufferFull = "hold_buffer_full":
            "segments held back for a late SYN or for bytes not yet seen exceeded \
             --max-stream-buffer: released early",
    }
}

layer! {
    /// TCP reassembly gave up on bytes.
    ReassemblyAnomaly => Reassembly, "reassembly", {
        Gap = "gap":
            "a hole in a TCP stream was given up on (bytes lost, or cut by the snap length): \
             counted in gap_bytes",
        BufferFull = "buffer_full":
            "out-of-order bytes over --max-stream-buffer or --max-total-buffer: holes became \
             gaps early",
    }
}

layer! {
    /// Bytes that are not the HTTP/1.x expected at their place in a stream.
    HttpAnomaly => Http, "http", {
        NotHttp = "not_http":
            "bytes where an HTTP head was expected that are not HTTP",
        BadHead = "bad_head":
            "a request line, status line or head that does not parse",
        BadHeader = "bad_header":
            "a header name or value with characters HTTP does not allow",
        TooManyHeaders = "too_many_headers":
            "a head with more header lines than the parser accepts",
        OversizedHead = "oversized_head":
            "a head larger than 64 KiB without its end",
        TruncatedHead = "truncated_head":
            "the connection closed in the middle of a head",
        BadContentLength = "bad_content_length":
            "a Content-Length that is not a number, or repeated with different values",
        BadTransferEncoding = "bad_transfer_encoding":
            "a request Transfer-Encoding that does not end in chunked: its body taken as empty",
        BadChunk = "bad_chunk":
            "a chunked body whose chunk sizes or line ends are broken",
        PipelineOverflow = "pipeline_overflow":
            "more pipelined requests awaiting answers than are tracked: one was dropped",
        Resync = "resync":
            "a gap lost the place in an HTTP stream: parsing resumed at the next head",
    }
}

layer! {
    /// Authentication headers (credentials and challenges) and their tokens that could not
    /// be read in full.
    CredentialAnomaly => Credential, "auth", {
        EmptyCredentials = "empty_credentials":
            "a Proxy-Authorization header with no scheme",
        BadAuthScheme = "bad_auth_scheme":
            "an authentication header whose scheme is not a token",
        BadAuthParam = "bad_auth_param":
            "an auth-param that is not name=value",
        BadAuthParamValue = "bad_auth_param_value":
            "an auth-param value that is neither a token nor a quoted string",
        UnterminatedQuotedString = "unterminated_quoted_string":
            "a quoted auth-param value without its closing quote",
        UnexpectedAuthParams = "unexpected_auth_params":
            "an NTLM or Negotiate challenge with parameters instead of a token",
        MissingToken = "missing_token":
            "an NTLM or Negotiate header without its token",
        BadBase64 = "bad_base64":
            "a token that is not base64",
        BasicNoColon = "basic_no_colon":
            "Basic credentials without the colon between user and password",
        DigestNoUsername = "digest_no_username":
            "Digest credentials without a username",
        DigestBadUsernameExt = "digest_bad_username_ext":
            "a Digest username* that is not RFC 8187 encoded",
        NotNtlmssp = "not_ntlmssp":
            "an NTLM token without the NTLMSSP signature",
        NtlmTruncated = "ntlm_truncated":
            "an NTLMSSP message cut short",
        NtlmUnknownType = "ntlm_unknown_type":
            "an NTLMSSP message of a type other than 1, 2 or 3",
        NtlmUnexpectedType = "ntlm_unexpected_type":
            "an NTLMSSP message of the wrong type for its place (a type 2 from a client, a type \
             1 or 3 from a proxy)",
        NtlmOddUnicodeLength = "ntlm_odd_unicode_length":
            "an NTLMSSP name in UTF-16 with an odd byte length",
        NtlmBufferOutOfBounds = "ntlm_buffer_out_of_bounds":
            "an NTLMSSP field that points outside its message",
        NtlmBadNtResponseLength = "ntlm_bad_nt_response_length":
            "an NTLMSSP AUTHENTICATE whose NT response length fits neither NTLMv1 nor NTLMv2",
        DerTruncated = "der_truncated":
            "a Negotiate token's DER cut short",
        DerBadLength = "der_bad_length":
            "a Negotiate token's DER with an indefinite or oversized length",
        DerHighTag = "der_high_tag":
            "a Negotiate token's DER with a multi-byte tag",
        DerTooDeep = "der_too_deep":
            "a Negotiate token's DER nested too deep",
        NegotiateTooDeep = "negotiate_too_deep":
            "a Negotiate token wrapping tokens too deep",
        NegotiateUnknownToken = "negotiate_unknown_token":
            "a Negotiate token that is neither SPNEGO, Kerberos nor NTLMSSP",
        NegotiateNoCredentials = "negotiate_no_credentials":
            "a client's Negotiate token carrying neither a Kerberos ticket nor NTLMSSP",
        GssNoOid = "gss_no_oid":
            "a GSS-API token without its mechanism OID",
        GssUnknownMech = "gss_unknown_mech":
            "a GSS-API token of a mechanism other than SPNEGO, Kerberos or NTLMSSP",
        SpnegoNoMechToken = "spnego_no_mech_token":
            "a SPNEGO NegTokenInit without a mechanism token",
        SpnegoBadMechToken = "spnego_bad_mech_token":
            "a SPNEGO mechanism token that is not an OCTET STRING",
        SpnegoBadResponseToken = "spnego_bad_response_token":
            "a SPNEGO NegTokenResp response token that is not an OCTET STRING",
        KrbTruncated = "krb_truncated":
            "a Kerberos token cut before its message",
        KrbNoTicket = "krb_no_ticket":
            "a Kerberos AP-REQ without its ticket",
        KrbBadTicket = "krb_bad_ticket":
            "a Kerberos AP-REQ whose ticket does not parse",
        KrbErrorNoCode = "krb_error_no_code":
            "a KRB-ERROR without its error code",
        KrbErrorBadCode = "krb_error_bad_code":
            "a KRB-ERROR whose error code is not an integer",
        KdcUnknownMessage = "kdc_unknown_message":
            "a message to or from a KDC port that is none of AS-REQ, AS-REP, TGS-REQ, TGS-REP \
             or KRB-ERROR",
        KdcMissingField = "kdc_missing_field":
            "a KDC request without its body, or a reply without its ticket",
        KdcFrameTooLarge = "kdc_frame_too_large":
            "a Kerberos message over TCP longer than 256 KiB: skipped",
        KdcFrameReserved = "kdc_frame_reserved":
            "a Kerberos TCP record length with its reserved high bit set: the rest of that \
             direction is not read",
    }
}

layer! {
    /// The analysis' limits were reached: what it keeps of episodes, users and floods is
    /// bounded so a sensor's memory stays flat (`--max-open-episodes`, `--max-tracked-users`).
    AnalysisAnomaly => Analysis, "analysis", {
        OpenEpisodesFull = "open_episodes_full":
            "more episodes open at once than --max-open-episodes: the least recently active \
             one was judged early",
        SettlingFull = "settling_full":
            "more judged episodes waiting to settle (for a later lockout or user name) than \
             --max-open-episodes: the oldest was handed on early",
        IdentitiesFull = "identities_full":
            "more client addresses with a known user than --max-tracked-users: the least \
             recently seen was forgotten",
        LockoutUsersFull = "lockout_users_full":
            "more users with rejected attempts in the lockout window than --max-tracked-users: \
             attempts of further users were not tracked",
        FloodSourcesFull = "flood_sources_full":
            "more than 1,048,576 distinct sources flooding one proxy: further sources were \
             counted as attempts only",
        KdcClientsFull = "kdc_clients_full":
            "more client addresses with recent KDC messages than --max-tracked-users: the \
             least recently seen was forgotten",
    }
}

/// An anomaly of any layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    Capture(CaptureAnomaly),
    Decode(DecodeAnomaly),
    Flow(FlowAnomaly),
    Reassembly(ReassemblyAnomaly),
    Http(HttpAnomaly),
    Credential(CredentialAnomaly),
    Analysis(AnalysisAnomaly),
}

/// Where each layer's counters start in [`Anomalies`].
const CAPTURE_AT: usize = 0;
const DECODE_AT: usize = CAPTURE_AT + CaptureAnomaly::COUNT;
const FLOW_AT: usize = DECODE_AT + DecodeAnomaly::COUNT;
const REASSEMBLY_AT: usize = FLOW_AT + FlowAnomaly::COUNT;
const HTTP_AT: usize = REASSEMBLY_AT + ReassemblyAnomaly::COUNT;
const CREDENTIAL_AT: usize = HTTP_AT + HttpAnomaly::COUNT;
const ANALYSIS_AT: usize = CREDENTIAL_AT + CredentialAnomaly::COUNT;
/// How many anomaly names there are.
pub const ANOMALY_COUNT: usize = ANALYSIS_AT + AnalysisAnomaly::COUNT;

impl Anomaly {
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::Capture(a) => a.name(),
            Anomaly::Decode(a) => a.name(),
            Anomaly::Flow(a) => a.name(),
            Anomaly::Reassembly(a) => a.name(),
            Anomaly::Http(a) => a.name(),
            Anomaly::Credential(a) => a.name(),
            Anomaly::Analysis(a) => a.name(),
        }
    }

    pub fn explanation(self) -> &'static str {
        match self {
            Anomaly::Capture(a) => a.explanation(),
            Anomaly::Decode(a) => a.explanation(),
            Anomaly::Flow(a) => a.explanation(),
            Anomaly::Reassembly(a) => a.explanation(),
            Anomaly::Http(a) => a.explanation(),
            Anomaly::Credential(a) => a.explanation(),
            Anomaly::Analysis(a) => a.explanation(),
        }
    }

    /// Every anomaly, layer by layer from the capture up, each layer in declaration order.
    pub fn all() -> impl Iterator<Item = Anomaly> {
        let capture = CaptureAnomaly::ALL.iter().map(|&a| Anomaly::from(a));
        let decode = DecodeAnomaly::ALL.iter().map(|&a| Anomaly::from(a));
        let flow = FlowAnomaly::ALL.iter().map(|&a| Anomaly::from(a));
        let reassembly = ReassemblyAnomaly::ALL.iter().map(|&a| Anomaly::from(a));
        let http = HttpAnomaly::ALL.iter().map(|&a| Anomaly::from(a));
        let credential = CredentialAnomaly::ALL.iter().map(|&a| Anomaly::from(a));
        let analysis = AnalysisAnomaly::ALL.iter().map(|&a| Anomaly::from(a));
        capture
            .chain(decode)
            .chain(flow)
            .chain(reassembly)
            .chain(http)
            .chain(credential)
            .chain(analysis)
    }

    /// The anomaly of a name, if there is one.
    pub fn from_name(name: &str) -> Option<Anomaly> {
        Anomaly::all().find(|a| a.name() == name)
    }

    /// Its place in [`Anomaly::all`].
    fn index(self) -> usize {
        match self {
            Anomaly::Capture(a) => CAPTURE_AT + a.index(),
            Anomaly::Decode(a) => DECODE_AT + a.index(),
            Anomaly::Flow(a) => FLOW_AT + a.index(),
            Anomaly::Reassembly(a) => REASSEMBLY_AT + a.index(),
            Anomaly::Http(a) => HTTP_AT + a.index(),
            Anomaly::Credential(a) => CREDENTIAL_AT + a.index(),
            Anomaly::Analysis(a) => ANALYSIS_AT + a.index(),
        }
    }
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A count per anomaly name. Serialized as a JSON object name → count with every name
/// present, in the order of [`Anomaly::all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomalies {
    counts: [u64; ANOMALY_COUNT],
}

impl Default for Anomalies {
    fn default() -> Self {
        Anomalies {
            counts: [0; ANOMALY_COUNT],
        }
    }
}

impl Anomalies {
    /// Counts one.
    pub fn add(&mut self, a: impl Into<Anomaly>) {
        self.add_n(a, 1);
    }

    /// Counts `n` at once (a count a layer keeps itself).
    pub fn add_n(&mut self, a: impl Into<Anomaly>, n: u64) {
        if let Some(c) = self.counts.get_mut(a.into().index()) {
            *c = c.saturating_add(n);
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Anomalies) {
        for (c, o) in self.counts.iter_mut().zip(other.counts.iter()) {
            *c = c.saturating_add(*o);
        }
    }

    pub fn get(&self, a: impl Into<Anomaly>) -> u64 {
        self.counts.get(a.into().index()).copied().unwrap_or(0)
    }

    /// Every anomaly with its count (zeros included), in the order of [`Anomaly::all`].
    pub fn iter(&self) -> impl Iterator<Item = (Anomaly, u64)> + '_ {
        Anomaly::all().zip(self.counts.iter().copied())
    }

    /// The anomalies counted at least once, in the order of [`Anomaly::all`].
    pub(crate) fn non_zero(&self) -> impl Iterator<Item = (Anomaly, u64)> + '_ {
        self.iter().filter(|(_, n)| *n > 0)
    }

    /// The sum of every count.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |s, n| s.saturating_add(*n))
    }

    /// The anomaly counted most (the first in order on a tie), if any was counted.
    pub(crate) fn largest(&self) -> Option<(Anomaly, u64)> {
        self.non_zero()
            .fold(None, |best: Option<(Anomaly, u64)>, (a, n)| match best {
                Some((_, m)) if m >= n => best,
                _ => Some((a, n)),
            })
    }
}

impl Serialize for Anomalies {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(ANOMALY_COUNT))?;
        for (a, n) in self.iter() {
            m.serialize_entry(a.name(), &n)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_prefixed_and_found_again() {
        let names: Vec<&str> = Anomaly::all().map(Anomaly::name).collect();
        assert_eq!(names.len(), ANOMALY_COUNT);
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        for a in Anomaly::all() {
            let (layer, what) = a.name().split_once('.').unwrap_or_default();
            assert!(
                [
                    "capture",
                    "decode",
                    "flow",
                    "reassembly",
                    "http",
                    "auth",
                    "analysis"
                ]
                .contains(&layer),
                "{a}"
            );
            assert!(
                !what.is_empty()
                    && what
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{a}"
            );
            assert!(!a.explanation().is_empty(), "{a}");
            assert_eq!(Anomaly::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn readme_lists_every_name_with_its_explanation() {
        let readme = include_str!("../README.md");
        for a in Anomaly::all() {
            let row = format!("| `{}` | {} |", a.name(), a.explanation());
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
    }

    #[test]
    fn indices_follow_the_order_of_all() {
        for (i, a) in Anomaly::all().enumerate() {
            assert_eq!(a.index(), i, "{a}");
        }
    }

    #[test]
    fn counts_add_merge_and_name_the_largest() {
        let mut a = Anomalies::default();
        assert_eq!(a.largest(), None);
        a.add(HttpAnomaly::BadChunk);
        a.add(DecodeAnomaly::Ipv4Header);
        a.add(DecodeAnomaly::Ipv4Header);
        let mut b = Anomalies::default();
        b.add_n(FlowAnomaly::TableFull, 2);
        b.add(CredentialAnomaly::NtlmTruncated);
        a.merge(&b);
        assert_eq!(a.get(DecodeAnomaly::Ipv4Header), 2);
        assert_eq!(a.get(HttpAnomaly::BadChunk), 1);
        assert_eq!(a.get(FlowAnomaly::TableFull), 2);
        assert_eq!(a.total(), 6);
        // A tie goes to the lower layer.
        assert_eq!(
            a.largest(),
            Some((Anomaly::from(DecodeAnomaly::Ipv4Header), 2))
        );
        let names: Vec<&str> = a.non_zero().map(|(x, _)| x.name()).collect();
        assert_eq!(
            names,
            [
                "decode.ipv4_header",
                "flow.table_full",
                "http.bad_chunk",
                "auth.ntlm_truncated"
            ]
        );
    }

    #[test]
    fn serializes_every_name_in_order() {
        let mut a = Anomalies::default();
        a.add(ReassemblyAnomaly::Gap);
        let json = serde_json::to_value(&a).unwrap_or_default();
        let obj = json.as_object().cloned().unwrap_or_default();
        assert_eq!(obj.len(), ANOMALY_COUNT);
        assert_eq!(obj.get("reassembly.gap"), Some(&serde_json::json!(1)));
        assert_eq!(
            obj.get("capture.corrupt_record"),
            Some(&serde_json::json!(0))
        );
        let text = serde_json::to_string(&a).unwrap_or_default();
        assert!(text.starts_with("{\"capture.not_a_capture\":0,"), "{text}");
    }
}
