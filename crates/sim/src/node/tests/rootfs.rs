//! Each container's own copy-on-write root: what it writes or deletes stays in it, as with Docker. Every
//! host path a test touches is its own (a unique name under /tmp), so a node without the protection fails
//! these tests without harming the machine.

use std::path::PathBuf;

use serde_json::json;

use super::*;

fn unique(what: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/podshim-rootfs-{what}-{}", uuid::Uuid::new_v4().simple()))
}

/// Removes a test's host paths even when an assertion fails.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
        }
    }
}

#[tokio::test]
async fn writes_and_deletions_stay_in_the_container() {
    let f = fixture();
    if !f.node.ctx.isolated {
        return;
    }
    let (kept, made) = (unique("kept"), unique("made"));
    let _cleanup = Cleanup(vec![kept.clone(), made.clone()]);
    std::fs::create_dir(&kept).unwrap();
    std::fs::write(kept.join("f"), "host").unwrap();
    let (kept_s, made_s) = (kept.display(), made.display());
    let script = format!(
        "cat {kept_s}/f; echo; rm -rf {kept_s}; echo container > {made_s}; test -e {kept_s} || echo deleted; \
         cat {made_s}; ls / | grep -qx etc && echo has-etc; \
         {{ cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname; }} 2>/dev/null || echo proc-sys-read-only"
    );
    let spec = json!({"restartPolicy": "Never",
        "containers": [{"name": "c", "image": "busybox", "command": sh(&script)}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(f.logs(&pod, query("c")).await, "host\ndeleted\ncontainer\nhas-etc\nproc-sys-read-only\n");
    assert_eq!(std::fs::read_to_string(kept.join("f")).unwrap(), "host", "the host's directory is untouched");
    assert!(!made.exists(), "the container's file did not reach the host");
}

#[tokio::test]
async fn containers_do_not_see_each_others_writes() {
    let f = fixture();
    if !f.node.ctx.isolated {
        return;
    }
    let marker = unique("peer");
    let _cleanup = Cleanup(vec![marker.clone()]);
    let m = marker.display();
    let spec = json!({"restartPolicy": "Never", "containers": [
        {"name": "writer", "image": "busybox", "command": sh(&format!("echo w > {m}; sleep 1"))},
        {"name": "reader", "image": "busybox", "command": sh(&format!("sleep 0.5; test -e {m} && echo seen || echo unseen"))},
    ]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(f.logs(&pod, query("reader")).await, "unseen\n");
    assert!(!marker.exists());
}

#[tokio::test]
async fn a_restarted_container_starts_from_a_fresh_layer_as_on_a_real_node() {
    let f = fixture();
    if !f.node.ctx.isolated {
        return;
    }
    let marker = unique("restart");
    let _cleanup = Cleanup(vec![marker.clone()]);
    let m = marker.display();
    let spec = json!({"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox",
        "command": sh(&format!("test -e {m} && echo kept || echo fresh; touch {m}; exit 1"))}]});
    let (runtime, pod) = f.start("p", spec);
    // The previous run is then the second: it finds no marker from the first.
    wait_for(&runtime, |s| s["containerStatuses"][0]["restartCount"].as_i64() >= Some(2)).await;
    let previous = LogQuery { previous: true, ..query("c") };
    assert_eq!(f.logs(&pod, previous).await, "fresh\n");
    runtime.stop(Duration::ZERO).await;
    assert!(!marker.exists());
}

#[tokio::test]
async fn the_data_directory_is_hidden_and_a_missing_working_dir_is_created() {
    let f = fixture();
    if !f.node.ctx.isolated {
        return;
    }
    let data = f.node.ctx.data_dir.display().to_string();
    let workdir = unique("workdir");
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
        "workingDir": workdir, "command": sh(&format!("pwd; ls -A {data} | wc -l; touch {data}/x 2>/dev/null || echo ro"))}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    assert_eq!(f.logs(&pod, query("c")).await, format!("{}\n0\nro\n", workdir.display()));
    assert!(!workdir.exists(), "the working directory was made in the container, not on the host");
}
