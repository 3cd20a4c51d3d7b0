//! A silent loopback "upstream" (UDP and TCP on one port) that records every
//! byte the gateway forwards to it, so tests can assert what was (not) relayed
//! without any message leaving the machine.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};

use crate::{Error, util};

/// A silent upstream on one free port (UDP and TCP) recording every message
/// received as raw bytes.
pub struct Sink {
    pub port: u16,
    got: Arc<Mutex<Vec<Vec<u8>>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sink {
    pub async fn start() -> Result<Self, Error> {
        let port = util::free_port()?;
        let addr = util::loopback(port);
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| Error::io("sink udp", e))?;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io("sink tcp", e))?;
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let g = got.clone();
        let t1 = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, _)) = udp.recv_from(&mut buf).await {
                g.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(buf[..n].to_vec());
            }
        });
        let g = got.clone();
        let t2 = tokio::spawn(async move {
            while let Ok((mut s, _)) = tcp.accept().await {
                let g = g.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65536];
                    // Stream chunks are recorded as they come: matching is by substring.
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        g.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(buf[..n].to_vec());
                    }
                });
            }
        });
        Ok(Self {
            port,
            got,
            tasks: vec![t1, t2],
        })
    }

    pub fn uri(&self) -> String {
        format!("sip:127.0.0.1:{};transport=udp", self.port)
    }

    /// Everything received whose text contains `key`.
    pub fn matching(&self, key: &str) -> Vec<Vec<u8>> {
        let got = self.got.lock().unwrap_or_else(|p| p.into_inner());
        got.iter()
            .filter(|m| String::from_utf8_lossy(m).contains(key))
            .cloned()
            .collect()
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
