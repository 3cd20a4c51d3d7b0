//! The `[cluster]` section: this gateway as one node of several sharing
//! their state in Redis / Valkey (docs/cluster.md).

use serde::Deserialize;

/// `[cluster]` (docs/configuration.md, docs/cluster.md).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Join the cluster: needs `[store] backend = "redis"` and an upstream
    /// SIP server (the registrar every node forwards to).
    pub enabled: bool,
    /// This node's name, unique in the cluster; empty = the host name.
    pub node_id: String,
    /// The SIP URI other nodes use to reach this one
    /// (`sip:10.0.0.5:5060`, `;transport=tcp` for TCP); empty = the first
    /// `[sip] udp` address, which must then be a specific (not wildcard)
    /// address.
    pub sip_uri: String,
    /// How often this node writes its heartbeat; it counts as gone after
    /// three missed ones.
    pub heartbeat_ms: u64,
    /// While a request is held, how often the held users' live locations
    /// are re-read (covers lost pub/sub notifications).
    pub poll_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            node_id: String::new(),
            sip_uri: String::new(),
            heartbeat_ms: 1000,
            poll_ms: 500,
        }
    }
}

impl ClusterConfig {
    /// `Err((key, reason))` for a config error of the section alone.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !self.enabled {
            let set = !self.node_id.is_empty() || !self.sip_uri.is_empty();
            return if set {
                Err((
                    "cluster.enabled",
                    "is false, but node_id / sip_uri are set: set enabled = true to join the cluster",
                ))
            } else {
                Ok(())
            };
        }
        if self
            .node_id
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            return Err((
                "cluster.node_id",
                "may hold only letters, digits, '-', '_' and '.'",
            ));
        }
        if !self.sip_uri.is_empty() && !self.sip_uri.starts_with("sip:") {
            return Err((
                "cluster.sip_uri",
                "must be a sip: URI with an address and port, e.g. sip:10.0.0.5:5060",
            ));
        }
        if self.heartbeat_ms < 100 {
            return Err(("cluster.heartbeat_ms", "must be at least 100"));
        }
        if self.poll_ms < 50 {
            return Err(("cluster.poll_ms", "must be at least 50"));
        }
        Ok(())
    }
}
