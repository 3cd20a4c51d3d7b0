//! The hold seam (Kamailio's tsilo, the other way round): the proxy asks
//! an optional [`HoldHook`] about every out-of-dialog INVITE or MESSAGE
//! it routes, before any branch starts. The hook may promise held
//! branches to the request's [`ResponseContext`] (devices it wakes first),
//! take over starting branches it watches, and hears the caller's CANCEL.
//! The proxy knows nothing of push: the wake module implements the hook
//! using only the proxy's public API ([`Proxy::locate`],
//! [`Proxy::build_forward`], the response context).
//!
//! [`Proxy::locate`]: super::Proxy::locate
//! [`Proxy::build_forward`]: super::Proxy::build_forward

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use sipwake_sip::Message;
use tokio::sync::broadcast;

use super::Proxy;
use super::context::ResponseContext;
use super::route::Plan;
use crate::net::{Destination, Inbound};
use crate::registrar::RegistrarEvent;

pub type HoldFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether a request may be held for a device that is not reachable now:
/// out-of-dialog INVITE and MESSAGE.
pub fn may_hold(req: &Message) -> bool {
    let in_dialog = req.to().ok().and_then(|t| t.tag()).is_some();
    !in_dialog && matches!(req.method(), Some("INVITE" | "MESSAGE"))
}

/// A routed request as the hook sees it: what arrived, and the plan the
/// proxy made for it (its targets and who it is for, `plan.recipient`).
#[derive(Debug, Clone)]
pub struct HeldRequest {
    pub inb: Inbound,
    pub req: Message,
    pub plan: Plan,
    /// The request's loop hash (RFC 3261 §16.6 step 8), for the Via
    /// branches of later deliveries.
    pub loop_hash: String,
}

/// One branch the proxy built (RFC 3261 §16.6) and is about to start.
#[derive(Debug)]
pub struct BranchRequest {
    pub request: Message,
    pub dest: Destination,
    pub reliable: bool,
}

/// A hold, as the hook numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HoldId(pub u64);

/// What a hook is built from, inside [`Proxy::build`]: the proxy (usable
/// once built) and the registration events.
pub struct HookParts {
    pub proxy: Weak<Proxy>,
    pub registrations: broadcast::Receiver<RegistrarEvent>,
}

/// Holds requests for devices that are woken first (push wake-up).
pub trait HoldHook: Send + Sync + 'static {
    /// Called for a request [`may_hold`] with `plan.recipient` set, after its
    /// context exists and before any branch starts. Promises held
    /// branches to `ctx` ([`ResponseContext::hold`]) and returns the hold,
    /// or `None` when nothing is held or watched.
    fn hold<'a>(
        &'a self,
        request: &'a HeldRequest,
        ctx: &'a Arc<ResponseContext>,
    ) -> HoldFuture<'a, Option<HoldId>>;

    /// The proxy is about to start the branch to plan target `target`:
    /// the hook starts it itself when it watches that device (returns
    /// `None`), or gives it back.
    fn start_branch(
        &self,
        id: HoldId,
        target: usize,
        ctx: &Arc<ResponseContext>,
        branch: BranchRequest,
    ) -> Option<BranchRequest>;

    /// The caller cancelled the request.
    fn cancel(&self, id: HoldId);

    /// A client flow closed (its devices sleep now).
    fn flow_closed(&self, _flow: crate::net::FlowId) {}
}
