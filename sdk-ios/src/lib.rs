//! sipwake-ios (placeholder until the SDK lands)
