//! sipwake: a SIP push gateway. See docs/ARCHITECTURE.md for how the modules
//! fit; `tests/layering.rs` holds the order they depend on each other in:
//!
//! `util`, `net`, `config` (leaf vocabulary) → `tls`, `token`, `bindings` →
//! `transport`, `transaction` → `registrar` → `proxy` (with its hold hook
//! seam) → `wake`, `keeper` (the hook and the registration keeper) →
//! `http`, `web`, `api` (routers) → `runtime` (everything wired once) →
//! `metrics`; `main` composes the routers and runs it all.

pub mod acme;
pub mod api;
pub mod bindings;
pub mod cluster;
pub mod config;
pub mod http;
pub mod keeper;
pub mod metrics;
pub mod net;
pub mod proxy;
pub mod registrar;
pub mod runtime;
pub mod tls;
pub mod token;
pub mod transaction;
pub mod transport;
pub mod util;
pub mod wake;
pub mod web;
