//! SIP messages for a forwarding proxy: parse lazily, edit only what a proxy must.
