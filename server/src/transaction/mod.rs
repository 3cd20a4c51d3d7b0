//! transaction (being written)
