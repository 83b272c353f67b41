//! Robustness of the decoder and the file reader on arbitrary bytes: nothing panics, and
//! what comes out stays inside what went in.

use proptest::prelude::*;
use proxy407::decode::{decode, linktype, Decoded};
use proxy407::model::Ts;
use proxy407::source::file::open_reader;
use proxy407::source::Frame;

fn link_types() -> impl Strategy<Value = u32> {
    prop_oneof![
        proptest::sample::select(linktype::ALL.to_vec()),
        any::<u32>(),
    ]
}

/// Bytes that often look like the start of a real frame for the link type, so that the
/// deeper layers get exercised too.
fn framed(link: u32, tail: Vec<u8>, proto_v6: bool) -> Vec<u8> {
    let ip_first = if proto_v6 { 0x60 } else { 0x45 };
    let mut v = match link {
        linktype::ETHERNET => {
            let mut h = vec![0u8; 12];
            h.extend_from_slice(if proto_v6 {
                &[0x86, 0xdd]
            } else {
                &[0x81, 0x00]
            });
            if !proto_v6 {
                h.extend_from_slice(&[0, 5, 0x08, 0x00]);
            }
            h
        }
        linktype::LINUX_SLL => {
            let mut h = vec![0u8; 14];
            h.extend_from_slice(&[0x08, 0x00]);
            h
        }
        linktype::LINUX_SLL2 => {
            let mut h = vec![0x86, 0xdd];
            h.extend_from_slice(&[0u8; 18]);
            h
        }
        linktype::NULL | linktype::LOOP => vec![if proto_v6 { 30 } else { 2 }, 0, 0, 0],
        linktype::NFLOG => {
            let len = (4 + tail.len() + 1).min(0xffff) as u16;
            let mut h = vec![2, 0, 0, 0];
            h.extend_from_slice(&len.to_le_bytes());
            h.extend_from_slice(&[9, 0]);
            h
        }
        _ => Vec::new(),
    };
    v.push(ip_first);
    v.extend(tail);
    v
}

fn check(frame: &Frame<'_>) {
    if let Decoded::Tcp(s) = decode(frame) {
        // The payload is a part of the frame.
        let start = s.payload.as_ptr() as usize;
        let base = frame.data.as_ptr() as usize;
        assert!(
            s.payload.is_empty()
                || (start >= base && start + s.payload.len() <= base + frame.data.len())
        );
        assert_eq!(s.ts, frame.ts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn decode_never_panics_on_random_bytes(
        link in link_types(),
        data in proptest::collection::vec(any::<u8>(), 0..200),
        orig in any::<u32>(),
    ) {
        let f = Frame { ts: Ts(5), link_type: link, data: &data, orig_len: orig, shared: None, file: 0, number: 0 };
        check(&f);
    }

    #[test]
    fn decode_never_panics_on_plausible_headers(
        link in proptest::sample::select(linktype::ALL.to_vec()),
        tail in proptest::collection::vec(any::<u8>(), 0..120),
        v6 in any::<bool>(),
        extra in 0u32..100_000,
    ) {
        let data = framed(link, tail, v6);
        let f = Frame { ts: Ts(5), link_type: link, data: &data, orig_len: data.len() as u32 + extra, shared: None, file: 0, number: 0 };
        check(&f);
    }
}

fn pcap_header(magic: [u8; 4], link: u8) -> Vec<u8> {
    let mut h = magic.to_vec();
    h.extend_from_slice(&[
        2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, link, 0, 0, 0,
    ]);
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn file_reader_never_panics(
        kind in 0u8..4,
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = match kind {
            0 => pcap_header([0xd4, 0xc3, 0xb2, 0xa1], 1),
            1 => pcap_header([0xa1, 0xb2, 0x3c, 0x4d], 101),
            // A pcapng section header block (little-endian, 28 bytes).
            2 => vec![
                0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
            ],
            _ => Vec::new(),
        };
        bytes.extend(body);
        if let Ok(mut src) = open_reader("fuzz", Box::new(std::io::Cursor::new(bytes))) {
            let mut n = 0u64;
            let mut total = 0u64;
            while let Some(f) = src.next_frame() {
                n += 1;
                total += f.data.len() as u64;
                check(&f);
            }
            let stats = src.stats();
            prop_assert_eq!(stats.packets, n);
            prop_assert_eq!(stats.bytes, total);
            for notice in src.take_notices() {
                prop_assert_eq!(notice.origin.as_str(), "fuzz");
            }
        }
    }
}
