//! TLS 1.3 records as a browser's tunnel starts them: a padded ClientHello with SNI, ALPN
//! and an X25519 key share; a ServerHello with ChangeCipherSpec; application data record
//! headers. Random fields are the caller's.

fn l16(v: &mut Vec<u8>, body: &[u8]) {
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
}

fn ext(v: &mut Vec<u8>, ty: u16, body: &[u8]) {
    v.extend_from_slice(&ty.to_be_bytes());
    l16(v, body);
}

/// A TLS 1.3 ClientHello record for `host`, padded to 512 bytes of handshake.
pub fn client_hello(
    host: &str,
    key_share: [u8; 32],
    random: [u8; 32],
    session_id: [u8; 32],
) -> Vec<u8> {
    let mut exts = Vec::with_capacity(512);
    let mut sni = vec![0];
    l16(&mut sni, host.as_bytes());
    let mut sni_list = Vec::new();
    l16(&mut sni_list, &sni);
    ext(&mut exts, 0x0000, &sni_list);
    ext(&mut exts, 0x0017, &[]);
    ext(&mut exts, 0xff01, &[0]);
    ext(
        &mut exts,
        0x000a,
        &[0, 8, 0, 0x1d, 0, 0x17, 0, 0x18, 0, 0x19],
    );
    ext(&mut exts, 0x000b, &[1, 0]);
    ext(&mut exts, 0x0023, &[]);
    ext(
        &mut exts,
        0x0010,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    );
    ext(&mut exts, 0x0005, &[1, 0, 0, 0, 0]);
    ext(
        &mut exts,
        0x000d,
        &[0, 16, 4, 3, 8, 4, 4, 1, 5, 3, 8, 5, 5, 1, 8, 6, 6, 1],
    );
    let mut ks = vec![0, 0x1d, 0, 32];
    ks.extend_from_slice(&key_share);
    let mut ks_list = Vec::new();
    l16(&mut ks_list, &ks);
    ext(&mut exts, 0x0033, &ks_list);
    ext(&mut exts, 0x002d, &[1, 1]);
    ext(&mut exts, 0x002b, &[4, 3, 4, 3, 3]);
    let mut body = vec![3, 3];
    body.extend_from_slice(&random);
    body.push(32);
    body.extend_from_slice(&session_id);
    l16(
        &mut body,
        &[
            0x13, 0x01, 0x13, 0x03, 0x13, 0x02, 0xc0, 0x2b, 0xc0, 0x2f, 0xcc, 0xa9, 0xcc, 0xa8,
            0xc0, 0x2c, 0xc0, 0x30, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f,
            0x00, 0x35,
        ],
    );
    body.extend_from_slice(&[1, 0]);
    // Pad the hello to 512 bytes, as browsers do.
    let unpadded = 4 + body.len() + 2 + exts.len();
    if unpadded + 4 < 512 {
        ext(&mut exts, 0x0015, &vec![0; 512 - unpadded - 4]);
    }
    l16(&mut body, &exts);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 3, 1];
    l16(&mut rec, &hs);
    rec
}

/// A TLS 1.3 ServerHello record (X25519) followed by a ChangeCipherSpec record.
pub fn server_hello(random: [u8; 32], session_id: [u8; 32], key_share: [u8; 32]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&random);
    body.push(32);
    body.extend_from_slice(&session_id);
    body.extend_from_slice(&[0x13, 0x01, 0]);
    let mut exts = vec![0, 0x2b, 0, 2, 3, 4, 0, 0x33, 0, 36, 0, 0x1d, 0, 32];
    exts.extend_from_slice(&key_share);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut rec = vec![0x16, 3, 3];
    rec.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    rec.extend_from_slice(&[2, 0]);
    rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
    rec.extend_from_slice(&body);
    rec.extend_from_slice(&CHANGE_CIPHER_SPEC);
    rec
}

/// A ChangeCipherSpec record.
pub const CHANGE_CIPHER_SPEC: [u8; 6] = [0x14, 3, 3, 0, 1, 1];

/// The header of an application data record of `len` bytes (cipher text and tag).
pub fn application_data_header(len: u16) -> [u8; 5] {
    [0x17, 0x03, 0x03, (len >> 8) as u8, len as u8]
}
