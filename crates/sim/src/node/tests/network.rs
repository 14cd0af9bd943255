//! Each pod's own network namespace: two pods listen on the same port, reach each other by IP, and this machine
//! reaches both; what the node made is gone when it is done. Without root the pods share this machine's network
//! and these tests have nothing to check.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::json;

use super::*;

/// A server on `port` that answers each connection with `reply`, in Python (on every machine these tests run on).
fn server(port: u16, reply: &str) -> Value {
    let script = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('0.0.0.0', {port}))\ns.listen()\nwhile True:\n    c, _ = s.accept()\n    c.sendall(b'{reply}')\n    c.close()\n"
    );
    json!(["python3", "-c", script])
}

fn pod_ip(status: &Value) -> Ipv4Addr {
    status["podIP"].as_str().and_then(|ip| ip.parse().ok()).unwrap_or_else(|| panic!("no pod IP: {status:#}"))
}

/// Reads what a TCP server at `ip:port` sends, retrying while it starts.
async fn fetch(ip: Ipv4Addr, port: u16) -> String {
    for _ in 0..100 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect((ip, port)).await {
            let mut out = String::new();
            if tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut out).await.is_ok() && !out.is_empty() {
                return out;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing answered at {ip}:{port}");
}

fn links() -> String {
    String::from_utf8(std::process::Command::new("ip").args(["-o", "link"]).output().unwrap().stdout).unwrap()
}

#[tokio::test]
async fn two_pods_listen_on_one_port_and_reach_each_other_by_ip() {
    let f = fixture();
    if f.node.ctx.network.is_none() {
        return;
    }
    let running = |s: &Value| s["containerStatuses"][0]["state"]["running"].is_object() && s["podIP"].is_string();
    let (a, _) =
        f.start("a", json!({"containers": [{"name": "c", "image": "busybox", "command": server(80, "from a")}]}));
    let (b, _) =
        f.start("b", json!({"containers": [{"name": "c", "image": "busybox", "command": server(80, "from b")}]}));
    let (ip_a, ip_b) = (pod_ip(&wait_for(&a, running).await), pod_ip(&wait_for(&b, running).await));
    assert_ne!(ip_a, ip_b);
    assert_eq!(ip_a.octets()[..2], [10, 213]);
    assert_eq!(fetch(ip_a, 80).await, "from a");
    assert_eq!(fetch(ip_b, 80).await, "from b");
    // From inside a: b by its IP, and a itself on its loopback.
    let client = format!(
        "import socket\nfor ip in ['{ip_b}', '127.0.0.1']:\n    s = socket.create_connection((ip, 80), 5)\n    print(s.recv(100).decode())\n"
    );
    let spec = json!({"restartPolicy": "Never", "containers": [
        {"name": "srv", "image": "busybox", "command": server(80, "c-self")},
        {"name": "cli", "image": "busybox", "command": ["sh", "-c", format!("sleep 0.5; exec python3 -c \"{client}\"")]},
    ]});
    let (c, pod) = f.start("c", spec);
    wait_for(&c, |s| s["containerStatuses"][1]["state"]["terminated"].is_object()).await;
    assert_eq!(f.logs(&pod, query("cli")).await, "from b\nc-self\n", "containers of a pod share its network");
    let host_veth_of_a = format!("psv{}x{}", ip_a.octets()[2], ip_a.octets()[3]);
    assert!(links().contains(&host_veth_of_a));
    for runtime in [&a, &b, &c] {
        runtime.stop(Duration::ZERO).await;
        runtime.forget();
        runtime.release_network().await;
    }
    assert!(!links().contains(&host_veth_of_a), "the pod's veth is gone");
}

#[tokio::test]
async fn the_bridge_goes_with_the_node() {
    let f = fixture();
    let Some(network) = f.node.ctx.network.clone() else { return };
    // By its index: another node of a test running meanwhile may take the freed name at once.
    let name = format!(" podshim{}:", network.gateway().octets()[2]);
    let index = links().lines().find(|l| l.contains(&name)).and_then(|l| l.split(':').next()).map(str::to_string);
    let index = index.unwrap_or_else(|| panic!("{name} in {}", links()));
    network.remove().await;
    assert!(!links().lines().any(|l| l.starts_with(&format!("{index}:"))), "bridge {index} is gone");
}

#[tokio::test]
async fn the_pod_has_the_kubelets_hosts_file_with_its_aliases() {
    let f = fixture();
    if f.node.ctx.network.is_none() || !f.node.ctx.isolated {
        return;
    }
    let spec = json!({"restartPolicy": "Never", "hostname": "web", "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["db"]}],
        "containers": [{"name": "c", "image": "busybox", "command": ["cat", "/etc/hosts"]}]});
    let (runtime, pod) = f.start("h", spec);
    let status = wait_for(&runtime, phase_is("Succeeded")).await;
    let hosts = f.logs(&pod, query("c")).await;
    assert!(hosts.starts_with("# Kubernetes-managed hosts file.\n"), "{hosts}");
    assert!(hosts.contains(&format!("{}\tweb\n", pod_ip(&status))), "{hosts}");
    assert!(hosts.ends_with("# Entries added by HostAliases.\n1.2.3.4\tdb\n"), "{hosts}");
    runtime.forget();
    runtime.release_network().await;
}

#[tokio::test]
async fn nodes_starting_together_all_get_a_network_when_they_remove_the_same_stale_bridge() {
    let f = fixture();
    if f.node.ctx.network.is_none() {
        return;
    }
    // A bridge left by a node that died (its owner process is gone), which every starting node removes.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("podshimx{}", dead % 10_000_000);
    let ip =
        |args: &[&str]| assert!(std::process::Command::new("ip").args(args).status().unwrap().success(), "ip {args:?}");
    ip(&["link", "add", &stale, "type", "bridge"]);
    ip(&["link", "set", &stale, "alias", &format!("podshim-sim pid={dead} start=1")]);
    let starts: Vec<_> = (0..4).map(|_| std::thread::spawn(crate::node::network::Network::create)).collect();
    let mut networks = Vec::new();
    for start in starts {
        networks.push(start.join().unwrap().unwrap_or_else(|e| panic!("a node starting beside others: {e}")));
    }
    assert!(!links().contains(&format!(" {stale}:")), "the stale bridge is gone");
    for network in networks {
        network.remove().await;
    }
}
