//! Capture files: the input is written to a temporary file and read through
//! `source::file::open_files` to the end (pcap, pcapng, gzip are told apart by content).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let path: PathBuf =
        std::env::temp_dir().join(format!("proxy407-fuzz-capture-{}.pcap", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(mut src) = proxy407::source::file::open_files(std::slice::from_ref(&path)) {
        let mut n = 0u32;
        while let Some(f) = src.next_frame() {
            let _ = proxy407::decode::decode(&f);
            n += 1;
            if n > 100_000 {
                break;
            }
        }
        let _ = src.take_notices();
        let _ = src.stats();
    }
    let _ = std::fs::remove_file(&path);
});
