//! Pure head parsing with httparse (stub).
