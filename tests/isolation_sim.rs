//! `podshim --sim` as root keeps containers off this machine's files, with the real docker CLI: a container
//! sees the machine's root filesystem as its image, but what it writes or deletes stays in its own layer, gone
//! with the container, as with Docker. Every host path here is the test's own (a unique name under /tmp), so a
//! simulator without the protection fails the test without harming the machine.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;

use common::Podshim;

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "docker failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
        }
    }
}

#[test]
fn rm_rf_and_writes_in_a_container_do_not_reach_the_host() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: the simulated node cannot isolate containers (it says so at start)");
        return;
    }
    let p = Podshim::start();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (kept, made) = (PathBuf::from(format!("/tmp/podshim-iso-kept-{id}")), format!("/tmp/podshim-iso-made-{id}"));
    let _cleanup = Cleanup(vec![kept.clone(), PathBuf::from(&made)]);
    std::fs::create_dir(&kept).unwrap();
    std::fs::write(kept.join("f"), "host\n").unwrap();

    let listing = ok(p.docker(&["run", "--rm", "alpine", "ls", "/tmp"]));
    assert!(listing.lines().any(|l| l == kept.file_name().unwrap().to_str().unwrap()), "{listing}");

    let script = format!("rm -rf /tmp/podshim-iso-kept-{id}; echo container > {made}; ls /tmp | grep -c {id}");
    assert_eq!(ok(p.docker(&["run", "--rm", "alpine", "sh", "-c", &script])), "1\n");
    assert_eq!(std::fs::read_to_string(kept.join("f")).unwrap(), "host\n", "the host's directory is untouched");
    assert!(!std::path::Path::new(&made).exists(), "the container's file did not reach the host");

    let after = ok(p.docker(&["run", "--rm", "alpine", "ls", "/tmp"]));
    assert!(!after.contains(&format!("podshim-iso-made-{id}")), "another container does not see it: {after}");
}
