//! The two registries of a [`crate::SimCluster`]: where they listen, the files that tell other
//! processes, and the hosts under which the node finds them.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Access, Registries, Registry};

/// Starts the public and the private registry on free loopback ports, writes their addresses to
/// `<data_dir>/registry` and `<data_dir>/registry-private` (one line, `127.0.0.1:PORT`), and returns the
/// hosts under which the node finds them.
pub(crate) async fn start_for_cluster(
    data_dir: &Path,
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: &CancellationToken,
) -> io::Result<(Registries, SocketAddr, SocketAddr)> {
    let mut registries = Registries::default();
    let mut addrs = Vec::new();
    let public = Registry::with_catalogue(Access::Open)?;
    for (registry, file, docker_hub) in [(public, "registry", true), (Registry::private()?, "registry-private", false)]
    {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        write_atomically(&data_dir.join(file), &format!("{addr}\n"))?;
        let mut hosts = vec![addr.to_string(), format!("localhost:{}", addr.port())];
        if docker_hub {
            hosts.extend(["docker.io".to_string(), "registry-1.docker.io".to_string()]);
        }
        registries.add(hosts, registry.clone());
        tasks.spawn(super::serve(listener, registry, shutdown.clone()));
        addrs.push(addr);
    }
    Ok((registries, addrs[0], addrs[1]))
}

fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
