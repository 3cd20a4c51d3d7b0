//! sipwake-wasm: the sipwake push protocol for web phones and service workers.
//!
//! A thin wasm-bindgen facade over `sipwake-core`, so a browser app builds
//! exactly the `X-MPUSH` / `X-PIID` / RFC 8599 values the gateway parses, and
//! its service worker reads pushes exactly as the gateway wrote them. Results
//! are plain JS objects in the JSON shape of `tests/vectors`; errors are thrown
//! JS `Error`s carrying the core's message. See docs/sdk-web.md.
//!
//! Each module holds the pure-Rust helpers (tested on the host) next to the
//! `#[wasm_bindgen]` exports (tested in Node, Chromium and a service worker by
//! client-wasm/tests).

pub mod caps;
mod error;
mod js;
pub mod mpush;
pub mod piid;
pub mod pn;
pub mod push;
pub mod register;
pub mod template;
mod types;

pub use error::SdkError;

use wasm_bindgen::prelude::*;

/// The SDK version (the crate version).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
