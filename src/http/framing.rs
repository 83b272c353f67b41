//! Body framing (stub).
