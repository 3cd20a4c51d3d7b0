//! registrar (being written)
