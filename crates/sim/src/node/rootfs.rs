//! Each container's root filesystem: this machine's root as a read-only image with a writable layer of
//! the container's own on top (overlayfs), so what a container writes or deletes outside its volumes
//! never reaches this machine, and is gone with the container, as with Docker.
//!
//! Everything happens in the container process's own mount namespace, between fork and exec
//! ([`Prepared::enter`]), so nothing of it shows on the host and nothing is left to clean up:
//! 1. a tmpfs is mounted (in that namespace only) over a directory of the node, holding the layer
//!    (`upper`, `work`) and the mount point of the new root;
//! 2. the overlay: lower layer `/` (one filesystem: mounts below it, such as `/proc` or a separate
//!    `/tmp`, are not part of it), upper layer on the tmpfs;
//! 3. `pivot_root` into it, the old root kept at a temporary mount point for the binds below, then
//!    detached (and its mount point removed);
//! 4. what a process needs on top: a fresh `/proc` (with `/proc/sys` and `/proc/sysrq-trigger`
//!    read-only), a `/dev` of its own (a tmpfs with `null`, `zero`, `full`, `random`, `urandom` and
//!    `tty` bound from the host, the host's `/dev/pts` for terminals, a private `/dev/shm`), `/sys`
//!    read-only, and the node's data directory hidden (it holds the cluster's credentials and the
//!    other pods' files);
//! 5. the volumes, bound from the host (their paths resolved on the host before the fork, so no
//!    symbolic link is followed in the old root), their mount points created inside the new root (in
//!    the layer, or inside an outer volume, as a real runtime does), so a symbolic link in the
//!    container's files resolves within its root and never leads a mount point onto this machine;
//! 6. the working directory, created when missing, as Docker does.
//!
//! Device nodes are unusable on every filesystem the container can write to (`nodev`), so a root
//! process in it cannot create one for this machine's disk. The layer lives as long as the mount
//! namespace: a container restarted by the kubelet starts from a fresh one, as on a real node (the
//! kubelet creates a new container each time). It is memory (tmpfs).
//!
//! Not protected: reads (the host's files are the image), processes (no PID namespace: a root
//! container can signal or trace this machine's processes, and its capabilities let it leave the
//! namespace), the network (the host's), and the host's terminals in `/dev/pts`.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, mkdir, pivot_root};

/// One bind mount into the process's mount namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
    /// The mount point to create is a file (a file volume, a subPath to a file).
    pub is_file: bool,
}

/// Where a container's root is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootFs {
    /// A directory of the node: the layer's tmpfs is mounted over it, in the container's namespace only.
    pub layer_dir: PathBuf,
    /// The node's data directory, hidden in the container.
    pub hide: PathBuf,
}

/// The host devices a container's `/dev` gets.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// `/dev` symbolic links, as Docker makes them.
const DEV_LINKS: &[(&CStr, &CStr)] = &[
    (c"/proc/self/fd", c"/dev/fd"),
    (c"/proc/self/fd/0", c"/dev/stdin"),
    (c"/proc/self/fd/1", c"/dev/stdout"),
    (c"/proc/self/fd/2", c"/dev/stderr"),
    (c"pts/ptmx", c"/dev/ptmx"),
];

/// Where the old root stays while the binds are made (inside the new root, removed afterwards).
const OLD_ROOT: &CStr = c"/.podshim-host";
const OLD_ROOT_FROM_NEW_ROOT: &CStr = c".podshim-host";

/// A bind prepared before the fork: the target's missing parents to create.
struct Bind {
    /// The source under [`OLD_ROOT`].
    source: CString,
    target: CString,
    parents: Vec<CString>,
    is_file: bool,
    /// With the mounts below the source (volumes, as the kubelet binds them).
    recursive: bool,
    /// Flags set on the bind after it is made (`MS_RDONLY`, `MS_NODEV`).
    flags: MsFlags,
}

/// Everything [`Prepared::enter`] needs, made before the fork: after it the child may only make
/// system calls (no allocation, no locks).
pub struct Prepared {
    layer_dir: CString,
    root_mode: u32,
    hide: CString,
    devices: Vec<Bind>,
    pts: Bind,
    sys: Bind,
    volumes: Vec<Bind>,
    cwd_parents: Vec<CString>,
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains a NUL byte"))
}

/// Every proper ancestor of an absolute `path`, outermost first (`/a/b/c` -> `/a`, `/a/b`).
fn parents(path: &Path) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    let mut current = PathBuf::from("/");
    let components: Vec<_> = path.components().filter(|c| matches!(c, Component::Normal(_))).collect();
    for component in components.iter().take(components.len().saturating_sub(1)) {
        current.push(component);
        out.push(cstring(&current)?);
    }
    Ok(out)
}

/// A bind of the host's `source` (its real path, symbolic links resolved here) to `target` in the new root.
fn bind(source: &Path, target: &Path, is_file: bool, recursive: bool, flags: MsFlags) -> io::Result<Bind> {
    // Not NotFound: that would read as a missing executable.
    let real = std::fs::canonicalize(source).map_err(|e| io::Error::other(format!("{}: {e}", source.display())))?;
    let old_root = Path::new(std::ffi::OsStr::from_bytes(OLD_ROOT.to_bytes()));
    let under_old_root = old_root.join(real.strip_prefix("/").unwrap_or(&real));
    Ok(Bind {
        source: cstring(&under_old_root)?,
        target: cstring(target)?,
        parents: parents(target)?,
        is_file,
        recursive,
        flags,
    })
}

/// A volume's bind: read-only if asked; device nodes in it unusable, unless the volume is a device itself.
fn volume(m: &BindMount) -> io::Result<Bind> {
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(&m.source).map_err(|e| io::Error::other(format!("{}: {e}", m.source.display())))?;
    let kind = kind.file_type();
    let mut flags = MsFlags::empty();
    flags.set(MsFlags::MS_RDONLY, m.read_only);
    flags.set(MsFlags::MS_NODEV, !kind.is_char_device() && !kind.is_block_device());
    bind(&m.source, &m.target, m.is_file, true, flags)
}

impl Prepared {
    pub fn new(root: &RootFs, volumes: &[BindMount], cwd: &Path) -> io::Result<Prepared> {
        let root_mode = std::fs::metadata("/")?.permissions().mode() & 0o7777;
        let devices = DEVICES
            .iter()
            .map(|name| {
                let path = Path::new("/dev").join(name);
                bind(&path, &path, true, false, MsFlags::empty())
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Prepared {
            layer_dir: cstring(&root.layer_dir)?,
            root_mode,
            hide: cstring(&root.hide)?,
            devices,
            pts: bind(Path::new("/dev/pts"), Path::new("/dev/pts"), false, false, MsFlags::empty())?,
            // Without the cgroup filesystems below it.
            sys: bind(Path::new("/sys"), Path::new("/sys"), false, false, MsFlags::MS_RDONLY | MsFlags::MS_NODEV)?,
            volumes: volumes.iter().map(volume).collect::<io::Result<Vec<_>>>()?,
            cwd_parents: {
                let mut all = parents(cwd)?;
                if cwd.components().any(|c| matches!(c, Component::Normal(_))) {
                    all.push(cstring(cwd)?);
                }
                all
            },
        })
    }

    /// Runs in the child between fork and exec, in its new private mount namespace: makes the root and
    /// enters it. The working directory is created (the caller changes into it).
    pub fn enter(&self) -> io::Result<()> {
        let none: Option<&CStr> = None;
        mount_layer(&self.layer_dir, self.root_mode)?;
        chdir(c"root")?;
        // Relative: in the new root, not in this machine's.
        mkdir(OLD_ROOT_FROM_NEW_ROOT, Mode::from_bits_truncate(0o700))?;
        pivot_root(c".", OLD_ROOT_FROM_NEW_ROOT)?;
        chdir(c"/")?;

        mkdir_ignoring_existing(c"/proc")?;
        let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some(c"proc"), c"/proc", Some(c"proc"), hardened, none)?;
        for path in [c"/proc/sys", c"/proc/sysrq-trigger"] {
            match mount(Some(path), path, none, MsFlags::MS_BIND, none) {
                Ok(()) => remount(path, MsFlags::MS_RDONLY | hardened)?,
                Err(Errno::ENOENT) => {} // a kernel without it
                Err(err) => return Err(err.into()),
            }
        }
        self.make_dev()?;
        mkdir_ignoring_existing(c"/sys")?;
        self.sys.mount()?;
        // Hidden only where this machine's root filesystem shows it.
        match mount(
            Some(c"tmpfs"),
            self.hide.as_c_str(),
            Some(c"tmpfs"),
            hardened | MsFlags::MS_RDONLY,
            Some(c"size=4k"),
        ) {
            Ok(()) | Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => {}
            Err(err) => return Err(err.into()),
        }
        for volume in &self.volumes {
            volume.mount()?;
        }
        umount2(OLD_ROOT, MntFlags::MNT_DETACH)?;
        nix::unistd::unlinkat(nix::fcntl::AT_FDCWD, OLD_ROOT, nix::unistd::UnlinkatFlags::RemoveDir)?;
        for dir in &self.cwd_parents {
            mkdir_ignoring_existing(dir)?;
        }
        Ok(())
    }

    fn make_dev(&self) -> io::Result<()> {
        mkdir_ignoring_existing(c"/dev")?;
        // nodev: a node made here opens nothing; the devices are binds, each with its own flags.
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
        mount(Some(c"tmpfs"), c"/dev", Some(c"tmpfs"), flags, Some(c"mode=0755,size=64k"))?;
        for device in &self.devices {
            device.mount()?;
        }
        self.pts.mount()?;
        mkdir_ignoring_existing(c"/dev/shm")?;
        let shm = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some(c"shm"), c"/dev/shm", Some(c"tmpfs"), shm, Some(c"mode=1777,size=65536k"))?;
        for (target, link) in DEV_LINKS {
            nix::unistd::symlinkat(*target, nix::fcntl::AT_FDCWD, *link)?;
        }
        Ok(())
    }
}

impl Bind {
    /// Creates the mount point (and its parents) inside the new root, then binds the source over it.
    fn mount(&self) -> io::Result<()> {
        for dir in &self.parents {
            mkdir_ignoring_existing(dir)?;
        }
        if self.is_file {
            let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
            match open(self.target.as_c_str(), flags, Mode::from_bits_truncate(0o644)) {
                Ok(fd) => drop(fd),
                Err(Errno::EISDIR) => {}
                Err(err) => return Err(err.into()),
            }
        } else {
            mkdir_ignoring_existing(&self.target)?;
        }
        let none: Option<&CStr> = None;
        let mut flags = MsFlags::MS_BIND;
        flags.set(MsFlags::MS_REC, self.recursive);
        mount(Some(self.source.as_c_str()), self.target.as_c_str(), none, flags, none)?;
        if !self.flags.is_empty() {
            remount(&self.target, self.flags)?;
        }
        Ok(())
    }
}

fn mkdir_ignoring_existing(path: &CStr) -> io::Result<()> {
    match mkdir(path, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Sets the flags of the bind at `path` (the top one; mounts below it keep theirs).
fn remount(path: &CStr, flags: MsFlags) -> io::Result<()> {
    let none: Option<&CStr> = None;
    mount(none, path, none, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags, none)?;
    Ok(())
}

/// In a private mount namespace: a tmpfs over `layer_dir`, and in it the layer (`upper`, `work`) and the
/// overlay of `/` mounted at `root`; the working directory is left at `layer_dir`.
fn mount_layer(layer_dir: &CStr, root_mode: u32) -> Result<(), Errno> {
    let nodev = MsFlags::MS_NODEV;
    mount(Some(c"tmpfs"), layer_dir, Some(c"tmpfs"), nodev, Some(c"mode=0700"))?;
    chdir(layer_dir)?;
    for dir in [c"upper", c"work", c"root"] {
        mkdir(dir, Mode::from_bits_truncate(0o700))?;
    }
    // The layer's top directory is the new root's: it gets the mode of this machine's root.
    let mode = Mode::from_bits_truncate(root_mode);
    nix::sys::stat::fchmodat(nix::fcntl::AT_FDCWD, c"upper", mode, nix::sys::stat::FchmodatFlags::FollowSymlink)?;
    let options = c"lowerdir=/,upperdir=upper,workdir=work";
    mount(Some(c"overlay"), c"root", Some(c"overlay"), nodev, Some(options))
}

/// Whether this node can give containers such a root: tried once in a child process (its own mount
/// namespace, the layer over `dir`), which exits at once. The error says why not.
pub fn probe(dir: &Path) -> Result<(), String> {
    let dir = cstring(dir).map_err(|e| e.to_string())?;
    let attempt = || -> Result<(), Errno> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
        let none: Option<&CStr> = None;
        mount(none, c"/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)?;
        mount_layer(&dir, 0o755)
    };
    // SAFETY: the child only makes system calls on data prepared before the fork, then exits.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = match attempt() {
                Ok(()) => 0,
                Err(errno) => errno as i32,
            };
            // SAFETY: leaves the child at once, without running the parent's destructors.
            unsafe { nix::libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, errno)) => {
                Err(format!("mounting an overlay of / failed: {}", Errno::from_raw(errno).desc()))
            }
            Ok(other) => Err(format!("the probe ended with {other:?}")),
            Err(err) => Err(format!("waiting for the probe: {err}")),
        },
        Err(err) => Err(format!("cannot fork the probe: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_the_proper_ancestors_outermost_first() {
        assert_eq!(parents(Path::new("/a/b/c")).unwrap(), vec![c"/a".to_owned(), c"/a/b".to_owned()]);
        assert!(parents(Path::new("/a")).unwrap().is_empty());
        assert!(parents(Path::new("/")).unwrap().is_empty());
    }
}
