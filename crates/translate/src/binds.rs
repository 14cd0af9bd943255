//! Bind mounts (`-v /host/path:/dst`, `--mount type=bind`): the caller's path is not on the node, so a bind is
//! either **mapped** onto a claim (`--bind-map HOSTPREFIX=CLAIM[/SUBPATH]`: the sidecar deployment, where the
//! caller's directory is itself on that claim) or **copied**: an `emptyDir` the init container
//! [`COPY_IN_CONTAINER`] fills from the tar podshim sends on its stdin before the container's command starts, and,
//! for a writable bind, the keeper container [`COPY_OUT_CONTAINER`] that outlives the main container so podshim
//! can copy what it left back into the caller's directory. This module decides which ([`resolve`]) and builds the
//! pod's parts ([`copy_containers`]); it does no IO.

use k8s_openapi::api::core::v1::{Container, VolumeMount};

use super::files::clean_path;
use super::labels::is_dns_subdomain;
use super::mounts::{copy_volume_name, ContainerMount, MountKind};

/// The init container that receives the copied binds.
pub const COPY_IN_CONTAINER: &str = "podshim-binds-in";
/// The container that keeps the copied writable binds until podshim has copied them back.
pub const COPY_OUT_CONTAINER: &str = "podshim-binds-out";
/// Where both mount the copied binds: the `n`th at `/podshim-binds/<n>`.
pub const COPY_ROOT: &str = "/podshim-binds";
/// The keeper waits for a line on this FIFO in its own filesystem; podshim writes it once the files are copied
/// back ([`keeper_release`]). It ignores SIGTERM, so a `docker stop` leaves it the grace period for the copy.
const KEEPER_FIFO: &str = "/tmp/podshim-release";
/// The last entry of the tar podshim sends: the copy in checks that it arrived, so an upload cut short fails the
/// start instead of starting the command without its files.
pub const COPY_IN_COMPLETE: &str = ".podshim-complete";

/// The copy-in container's command: its stdin is the archive's length in bytes on a line, then the archive;
/// `head` takes exactly that much, so tar ends without the stream being closed (a server without
/// `v5.channel.k8s.io` can only close it through a second session, which could overtake the data). It fails
/// unless the whole archive came.
fn copy_in_script() -> String {
    format!("read -r n && head -c \"$n\" | tar -x -f - -C {COPY_ROOT} && rm {COPY_ROOT}/{COPY_IN_COMPLETE}")
}

/// The keeper's command (`trap '' TERM`: as PID 1 without a handler it would ignore SIGTERM anyway).
fn keeper_script() -> String {
    format!("trap '' TERM; mkfifo {KEEPER_FIFO} && read -r _ < {KEEPER_FIFO}")
}

/// The command that ends the keeper (run in it with `pods/exec`).
pub fn keeper_release() -> Vec<String> {
    vec!["sh".into(), "-c".into(), format!("echo > {KEEPER_FIFO}")]
}

/// One `--bind-map HOSTPREFIX=CLAIM[/SUBPATH]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMap {
    /// An absolute, cleaned path on the caller's side.
    pub prefix: String,
    pub claim: String,
    /// The directory in the claim that HOSTPREFIX is; empty for its root.
    pub subpath: String,
}

/// Parses one `--bind-map` value.
pub fn parse_bind_map(value: &str) -> Result<BindMap, String> {
    let (prefix, target) =
        value.split_once('=').ok_or_else(|| format!("{value:?}: expected HOSTPREFIX=CLAIM[/SUBPATH]"))?;
    if !prefix.starts_with('/') {
        return Err(format!("{value:?}: HOSTPREFIX must be an absolute path"));
    }
    let (claim, subpath) = target.split_once('/').unwrap_or((target, ""));
    if !is_dns_subdomain(claim) {
        return Err(format!("{value:?}: {claim:?} is no claim name (a DNS subdomain)"));
    }
    let subpath = relative(subpath).ok_or_else(|| format!("{value:?}: SUBPATH must stay inside the claim"))?;
    Ok(BindMap { prefix: clean_path(prefix), claim: claim.to_string(), subpath })
}

/// A size in bytes with an optional `k`, `m`, `g`, `t` suffix (powers of 1024), as `--tmpfs size=` reads it.
pub fn parse_size(value: &str) -> Result<u64, String> {
    super::mounts::tmpfs_size(value).map(|n| n as u64).map_err(|e| e.to_string())
}

/// A relative path without `..`, cleaned, without leading or trailing `/`; `None` when it would leave its root.
fn relative(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The claim and the directory in it that a (cleaned, absolute) bind source is on: the longest HOSTPREFIX that
/// holds it; `None` when no map covers it (the bind is copied).
pub fn resolve(maps: &[BindMap], source: &str) -> Option<(String, String)> {
    let covering = maps.iter().filter(|m| {
        m.prefix == "/" || source == m.prefix || source.strip_prefix(&m.prefix).is_some_and(|r| r.starts_with('/'))
    });
    let map = covering.max_by_key(|m| m.prefix.len())?;
    let rest = source.strip_prefix(&map.prefix).unwrap_or_default().trim_start_matches('/');
    let subpath = match (map.subpath.is_empty(), rest.is_empty()) {
        (_, true) => map.subpath.clone(),
        (true, false) => rest.to_string(),
        (false, false) => format!("{}/{rest}", map.subpath),
    };
    Some((map.claim.clone(), subpath))
}

/// The binds a pod gets by copy, in mount order: the `n` of each is its directory under [`COPY_ROOT`].
pub fn copied(mounts: &[ContainerMount]) -> Vec<&ContainerMount> {
    mounts.iter().filter(|m| m.kind == MountKind::Bind && m.claim.is_none()).collect()
}

/// The copied binds that are copied back (writable ones), with their `n`.
pub fn copied_back(mounts: &[ContainerMount]) -> Vec<(usize, &ContainerMount)> {
    copied(mounts).into_iter().enumerate().filter(|(_, m)| m.rw).collect()
}

/// Where the `n`th copied bind is in the init and keeper containers.
pub fn copy_dir(n: usize) -> String {
    format!("{COPY_ROOT}/{n}")
}

/// The init container (tar from its stdin into the binds' directories) and, when a bind is writable, the keeper
/// (the copies stay mounted after the main container exits). Both run `image` (podshim's `--helper-image`) with
/// the runtime's default capabilities, so tar keeps the caller's owners and modes.
pub fn copy_containers(mounts: &[ContainerMount], image: &str) -> (Option<Container>, Option<Container>) {
    let copies = copied(mounts);
    if copies.is_empty() {
        return (None, None);
    }
    let volume_mounts = |writable_only: bool| -> Vec<VolumeMount> {
        copies
            .iter()
            .enumerate()
            .filter(|(_, m)| !writable_only || m.rw)
            .map(|(n, _)| VolumeMount { name: copy_volume_name(n), mount_path: copy_dir(n), ..Default::default() })
            .collect()
    };
    let base = |name: &str, command: Vec<String>, mounts: Vec<VolumeMount>| Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(command),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let copy_in = Container {
        stdin: Some(true),
        stdin_once: Some(true),
        ..base(COPY_IN_CONTAINER, vec!["sh".into(), "-c".into(), copy_in_script()], volume_mounts(false))
    };
    let keeper = copies
        .iter()
        .any(|m| m.rw)
        .then(|| base(COPY_OUT_CONTAINER, vec!["sh".into(), "-c".into(), keeper_script()], volume_mounts(true)));
    (Some(copy_in), keeper)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(s: &str) -> BindMap {
        parse_bind_map(s).unwrap()
    }

    #[test]
    fn a_bind_map_names_a_prefix_a_claim_and_a_directory_in_it() {
        assert_eq!(
            map("/srv/jobs/=work/jobs/"),
            BindMap { prefix: "/srv/jobs".into(), claim: "work".into(), subpath: "jobs".into() }
        );
        assert_eq!(map("/srv=work").subpath, "");
        for bad in ["srv=work", "/srv", "/srv=Work_1", "/srv=work/../x", "/srv="] {
            assert!(parse_bind_map(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_longest_prefix_decides_and_the_rest_is_the_sub_path() {
        let maps = [map("/srv=work"), map("/srv/jobs=jobs/all")];
        assert_eq!(resolve(&maps, "/srv/jobs/42/in"), Some(("jobs".into(), "all/42/in".into())));
        assert_eq!(resolve(&maps, "/srv/jobs"), Some(("jobs".into(), "all".into())));
        assert_eq!(resolve(&maps, "/srv/other"), Some(("work".into(), "other".into())));
        assert_eq!(resolve(&maps, "/srv"), Some(("work".into(), String::new())));
        assert_eq!(resolve(&maps, "/srvx/a"), None);
        assert_eq!(resolve(&maps, "/tmp/a"), None);
    }

    #[test]
    fn a_writable_copied_bind_gets_the_copy_in_and_the_keeper() {
        let rw = ContainerMount { rw: true, ..ro("/x") };
        let (copy_in, keeper) = copy_containers(&[rw.clone(), ro("/y")], "busybox");
        let copy_in = copy_in.unwrap();
        assert_eq!(copy_in.stdin_once, Some(true));
        assert!(copy_in.command.as_ref().unwrap()[2].ends_with(&format!("rm /podshim-binds/{COPY_IN_COMPLETE}")));
        let dirs = |c: &Container| c.volume_mounts.iter().flatten().map(|m| m.mount_path.clone()).collect::<Vec<_>>();
        assert_eq!(dirs(&copy_in), ["/podshim-binds/0", "/podshim-binds/1"]);
        let keeper = keeper.unwrap();
        assert_eq!(dirs(&keeper), ["/podshim-binds/0"], "only the writable one comes back");
        assert!(keeper.command.unwrap()[2].contains(KEEPER_FIFO) && keeper_release()[2].contains(KEEPER_FIFO));
        let (_, none) = copy_containers(&[ro("/y")], "busybox");
        assert!(none.is_none(), "nothing to keep");
    }

    fn ro(destination: &str) -> ContainerMount {
        let m: ContainerMount = serde_json::from_value(serde_json::json!({
            "Type": "bind", "Source": "/src", "Destination": destination, "RW": false
        }))
        .unwrap();
        m
    }
}
