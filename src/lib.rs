//! podshim: a Docker Engine API server that runs every container as a Kubernetes pod.
//!
//! Map of the crate (lower rooms first; no module imports one that imports it, checked by
//! `.ci/module_cycles.py`):
//! - [`admin`]: the admin endpoint (`--admin-listen`): `/metrics`, `/healthz`.
//! - [`config`]: command-line flags (each also `PODSHIM_<FLAG>`) resolved into a [`config::Config`].
//! - [`telemetry`]: the tracing subscriber (text or JSON).
//! - [`server`]: unix and TCP listeners, the accept loop, graceful shutdown, the request and response body
//!   types; it calls the API through its `Handler` trait.
//! - [`cluster`]: connects to Kubernetes the way kubectl does, or to the simulated cluster.
//! - [`api`]: the Docker Engine API surface (router, responses, one module per swagger tag).
//! - [`error`]: the errors a Docker client sees, with their HTTP status and Docker's wording.
//! - [`metrics`]: counts of the Kubernetes API requests podshim sends (Prometheus text).
//! - [`podshim_translate`] (crate `crates/translate`): pure Docker <-> Kubernetes translation (create body -> pod,
//!   pod -> container state); no IO, no async, no clock.
//! - [`runtime`]: Kubernetes side effects: the shared pod watch (cache) and the container lifecycle.
//! - `podshim_sim` (crate `crates/sim`, cargo feature `sim`, on by default): the built-in simulated Kubernetes
//!   cluster (`--sim`); it depends on no podshim crate.

pub mod admin;
pub mod api;
pub mod cluster;
pub mod config;
pub mod error;
pub mod metrics;
pub mod runtime;
pub mod server;
pub mod telemetry;
