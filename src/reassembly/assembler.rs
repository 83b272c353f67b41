//! One direction's reassembler (stub).

use super::StreamEvent;

#[derive(Debug, Default)]
pub struct Assembler {
    _max_buffered: usize,
}

impl Assembler {
    pub fn new(max_buffered: usize) -> Self {
        Assembler {
            _max_buffered: max_buffered,
        }
    }
    pub fn segment(
        &mut self,
        seq: u32,
        syn: bool,
        payload: &[u8],
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        let _ = (seq, syn);
        out(StreamEvent::Data(payload));
    }
}
