//! sipwake: a SIP push gateway. See docs/ARCHITECTURE.md for how the modules fit.
//!
//! `transport` turns bytes into framed SIP messages tagged with their flow and
//! knows nothing of push; `transaction` + `proxy` + `registrar` decide where
//! messages go; `http` serves WebSocket SIP, health and (later) the API.

pub mod api;
pub mod bindings;
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
