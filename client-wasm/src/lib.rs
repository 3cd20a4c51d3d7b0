//! sipwake-wasm (placeholder until the SDK lands)
