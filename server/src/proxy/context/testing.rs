//! A response context over a recording network, for unit tests here and
//! in the wake module: what the context sends is recorded, branch
//! responses are fed back as the network would.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sipwake_sip::Message;

use super::{BranchEnv, OnSuccess, RelayEdits, ResponseContext};
use crate::net::{Destination, FlowId, FlowInfo, NetError, Network, SendFuture, TransportKind};
use crate::transaction::{ClientTable, ClientTx, ServerTable, ServerTx, Timers};

/// The caller's flow: responses to the request go there.
pub const CALLER: FlowId = FlowId(1);

/// Records every send.
#[derive(Default)]
pub struct Recorder {
    pub sent: Mutex<Vec<(Destination, Message)>>,
}

impl Recorder {
    pub fn all(&self) -> Vec<(Destination, Message)> {
        self.sent.lock().unwrap().clone()
    }

    /// Status codes sent to the caller, in order.
    pub fn to_caller(&self) -> Vec<u16> {
        self.all()
            .iter()
            .filter(|(d, _)| *d == Destination::Flow(CALLER))
            .filter_map(|(_, m)| m.status())
            .collect()
    }

    /// Requests sent to `dest` with this method.
    pub fn requests(&self, dest: FlowId, method: &str) -> Vec<Message> {
        self.all()
            .into_iter()
            .filter(|(d, m)| *d == Destination::Flow(dest) && m.method() == Some(method))
            .map(|(_, m)| m)
            .collect()
    }
}

impl Network for Recorder {
    fn send(&self, dest: Destination, bytes: Bytes) -> SendFuture<'_> {
        Box::pin(async move {
            let m = Message::parse(bytes).map_err(|e| NetError(e.to_string()))?;
            self.sent.lock().unwrap().push((dest.clone(), m));
            Ok(match dest {
                Destination::Flow(f) => f,
                Destination::Addr { .. } => FlowId(99),
            })
        })
    }
    fn flow(&self, id: FlowId) -> Option<FlowInfo> {
        Some(FlowInfo {
            kind: TransportKind::Tcp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: format!("127.0.0.2:{}", 40000 + id.0).parse().unwrap(),
        })
    }
    fn via_host_port(&self, _: TransportKind) -> Option<(String, u16)> {
        Some(("127.0.0.1".into(), 5060))
    }
    fn load(&self) -> u8 {
        0
    }
}

/// One request's context, its network and client table.
pub struct Setup {
    pub ctx: Arc<ResponseContext>,
    pub net: Arc<Recorder>,
    pub clients: ClientTable,
}

pub fn request(method: &str) -> Message {
    Message::parse(Bytes::from(format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.3:5060;branch=z9hG4bKcaller\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: ctx-test\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )))
    .unwrap()
}

/// A context for a `method` request that arrived on [`CALLER`] (TCP).
pub fn setup(method: &str, on_success: Option<OnSuccess>) -> Setup {
    let net = Arc::new(Recorder::default());
    let clients = ClientTable::default();
    let original = request(method);
    let servers: ServerTable = Arc::default();
    let server = ServerTx::start(
        &servers,
        net.clone(),
        Timers::default(),
        sipwake_sip::txn::server_key(&original).unwrap(),
        Destination::Flow(CALLER),
        true,
        "ctx-test".into(),
    );
    let env = BranchEnv {
        net: net.clone(),
        timers: Timers::default(),
        clients: clients.clone(),
        stats: Arc::default(),
    };
    let ctx = ResponseContext::new(env, server, original, RelayEdits::default(), on_success);
    Setup { ctx, net, clients }
}

impl Setup {
    /// Starts a branch to `flow` with the request as a proxy would send it
    /// (our Via on top, branch `b`).
    pub fn branch(&self, flow: FlowId, b: &str) -> usize {
        let m = branch_request(&self.ctx.original, b);
        self.ctx
            .add_branch_with(m, Destination::Flow(flow), true, None, None)
    }

    /// The response `code` of the branch whose request was sent to `flow`.
    pub async fn answer(&self, flow: FlowId, method: &str, code: u16) {
        let req = self
            .net
            .requests(flow, method)
            .pop()
            .expect("no request on that flow");
        assert!(ClientTx::dispatch(&self.clients, response(&req, code)));
        settle().await;
    }
}

/// `original` with our Via (branch `b`) on top.
pub fn branch_request(original: &Message, b: &str) -> Message {
    let mut e = original.edit();
    e.push_via(&format!("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKsw{b}"));
    Message::parse(e.build()).unwrap()
}

/// A response to `req` (Via, From, To with a tag, Call-ID, CSeq copied).
pub fn response(req: &Message, code: u16) -> Message {
    let mut s = format!("SIP/2.0 {code} Reason\r\n");
    for v in req.values("Via") {
        s.push_str(&format!("Via: {v}\r\n"));
    }
    s.push_str(&format!(
        "From: {}\r\nTo: {};tag=callee\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        req.header("From").unwrap(),
        req.header("To").unwrap(),
        req.header("Call-ID").unwrap(),
        req.header("CSeq").unwrap()
    ));
    Message::parse(Bytes::from(s)).unwrap()
}

/// Lets the spawned transaction tasks run.
pub async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}
