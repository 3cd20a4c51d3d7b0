//! The sipwake push protocol (see docs/core-api.md).
