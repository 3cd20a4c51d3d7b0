//! sipwake push delivery (work in progress).
