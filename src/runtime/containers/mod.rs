//! Operations on one container, one file each: `create`, `rename`, `start`, `stop` (stop, kill, restart),
//! `remove` (rm, prune) and `wait`; `mounts` resolves a container's volumes; `claim_wait` tells a start whose claims will not bind; `pods` finds a container's pods and lets the earlier ones go.

pub(crate) mod claim_wait;
pub(crate) mod create;
pub(crate) mod mounts;
pub(crate) mod names;
pub(crate) mod pods;
pub(crate) mod remove;
pub(crate) mod rename;
pub(crate) mod start;
pub(crate) mod stop;
pub(crate) mod wait;
