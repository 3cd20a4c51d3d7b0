//! sipwake-android (placeholder until the SDK lands)
