//! proxy (being written)
