use super::*;
use bollard_stubs::models::{MountBindOptions, MountTmpfsOptions, MountVolumeOptions, MountVolumeOptionsDriverConfig};

fn body(hc: HostConfig) -> ContainerCreateBody {
    ContainerCreateBody { image: Some("busybox".into()), host_config: Some(hc), ..Default::default() }
}

fn binds(list: &[&str]) -> ContainerCreateBody {
    body(HostConfig { binds: Some(list.iter().map(|s| s.to_string()).collect()), ..Default::default() })
}

fn mounts(list: Vec<Mount>) -> ContainerCreateBody {
    body(HostConfig { mounts: Some(list), ..Default::default() })
}

fn err(create: &ContainerCreateBody) -> String {
    requested(create, &[]).unwrap_err().to_string()
}

fn vol_mount(source: &str, target: &str) -> Mount {
    Mount {
        typ: Some(MountType::VOLUME),
        source: Some(source.into()),
        target: Some(target.into()),
        ..Default::default()
    }
}

#[test]
fn binds_of_volume_names_are_volumes_with_dockers_modes() {
    let r = requested(&binds(&["data:/d", "logs:/l:ro", "cache:/c:nocopy", "/anon"]), &[]).unwrap();
    let got: Vec<(&str, &str, bool, &str, bool)> = r
        .mounts
        .iter()
        .map(|m| (m.name.as_str(), m.destination.as_str(), m.rw, m.mode.as_str(), m.anonymous))
        .collect();
    assert_eq!(
        got,
        [
            ("data", "/d", true, "z", false),
            ("logs", "/l", false, "ro", false),
            ("cache", "/c", true, "nocopy", false),
            ("", "/anon", true, "z", true),
        ]
    );
}

#[test]
fn bind_errors_use_dockers_words() {
    // Each checked against Docker 20.10.
    let cases = [
        (vec!["a1:/x", "b1:/x"], "Duplicate mount point: /x"),
        (vec!["vm-a:rel"], "invalid volume specification: 'vm-a:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"),
        (vec!["vm-a:/"], "invalid volume specification: 'vm-a:/': invalid mount config for type \"volume\": invalid specification: destination can't be '/'"),
        (vec!["vm-a:/x:bogus"], "invalid mode: bogus"),
        (vec!["vm-a:/x:ro,rw"], "invalid mode: ro,rw"),
        (vec!["a:b:c:d"], "invalid volume specification: 'a:b:c:d'"),
        (vec!["/x:ro"], "invalid volume specification: '/x:ro'"),
        (vec![":/x"], "invalid volume specification: ':/x'"),
        (vec!["vol1"], "invalid volume specification: 'vol1': invalid mount config for type \"volume\": invalid mount path: 'vol1' mount path must be absolute"),
        (vec!["vm-a:/x:shared"], "invalid volume specification: 'vm-a:/x:shared': invalid mount config for type \"volume\": field BindOptions must not be specified"),
        (vec!["_a:/x"], "create _a: \"_a\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"),
    ];
    for (list, want) in cases {
        assert_eq!(err(&binds(&list)), want, "{list:?}");
    }
    // A mode given hundreds of times is no mode (and no overflow).
    let many = format!("vm-a:/x:{}", vec!["rw"; 300].join(","));
    assert!(err(&binds(&[many.as_str()])).starts_with("invalid mode: rw,rw"));
}

#[test]
fn binds_are_taken_as_docker_shows_them_and_propagation_and_the_docker_socket_are_refused() {
    let r = requested(&binds(&["/srv/./in/:/x:ro", "/out:/y"]), &[]).unwrap();
    let shown = inspect_mounts(&r.mounts, "ns");
    assert_eq!(shown[0].typ.as_deref(), Some("bind"));
    assert_eq!(shown[0].source.as_deref(), Some("/srv/in"));
    assert_eq!((shown[0].rw, shown[0].mode.as_deref()), (Some(false), Some("ro")));
    assert_eq!((shown[1].rw, shown[1].mode.as_deref()), (Some(true), Some("")));
    assert_eq!(shown[1].propagation.as_deref(), Some("rprivate"));
    assert!(r.mounts.iter().all(|m| !m.anonymous && m.create_source), "-v makes a missing source");
    let e = requested(&binds(&["/var/run/docker.sock:/var/run/docker.sock"]), &[]).unwrap_err();
    assert_eq!(e.status_code(), 400);
    assert!(e.to_string().contains("DOCKER_HOST"), "{e}");
    assert!(err(&binds(&["/srv:/x:rshared"])).contains("needs a privileged container"));
    let bind = Mount { typ: Some(MountType::BIND), ..vol_mount("/tmp", "/x") };
    let r = requested(&mounts(vec![bind.clone()]), &[]).unwrap();
    assert!(!r.mounts[0].create_source, "--mount type=bind fails on a missing source");
    let relative = Mount { source: Some("tmp".into()), ..bind.clone() };
    assert_eq!(
        err(&mounts(vec![relative])),
        "invalid mount config for type \"bind\": invalid mount path: 'tmp' mount path must be absolute"
    );
    let shared = Mount {
        bind_options: Some(MountBindOptions {
            propagation: Some(MountBindOptionsPropagationEnum::RSHARED),
            ..Default::default()
        }),
        ..bind
    };
    assert!(err(&mounts(vec![shared])).contains("needs a privileged container"));
    let driver = body(HostConfig { volume_driver: Some("nfs".into()), ..Default::default() });
    // Without volumes, Docker only keeps the driver's name.
    assert!(requested(&driver, &[]).is_ok());
    let mut driver = binds(&["data:/d"]);
    driver.host_config.as_mut().unwrap().volume_driver = Some("nfs".into());
    assert!(err(&driver).starts_with("VolumeDriver is not supported by podshim: \"nfs\": only the local driver"));
    let local = body(HostConfig { volume_driver: Some("local".into()), ..Default::default() });
    assert!(requested(&local, &[]).is_ok());
}

#[test]
fn mount_volumes_take_subpath_and_read_only_and_refuse_what_a_claim_cannot_do() {
    let mut m = vol_mount("vv", "/d/");
    m.read_only = Some(true);
    m.volume_options =
        Some(MountVolumeOptions { subpath: Some("sub/dir".into()), no_copy: Some(true), ..Default::default() });
    let r = requested(&mounts(vec![m, vol_mount("", "/anon2")]), &[]).unwrap();
    assert_eq!((r.mounts[0].destination.as_str(), r.mounts[0].rw), ("/d", false));
    assert_eq!(r.mounts[0].subpath.as_deref(), Some("sub/dir"));
    assert_eq!((r.mounts[1].anonymous, r.mounts[1].mode.as_str()), (true, "z"));

    let mut escape = vol_mount("vv", "/d");
    escape.volume_options = Some(MountVolumeOptions { subpath: Some("../x".into()), ..Default::default() });
    assert!(err(&mounts(vec![escape])).contains("subpath must be a relative path within the volume"));
    let mut nfs = vol_mount("vv", "/d");
    nfs.volume_options = Some(MountVolumeOptions {
        driver_config: Some(MountVolumeOptionsDriverConfig { name: Some("nfs".into()), options: None }),
        ..Default::default()
    });
    assert!(err(&mounts(vec![nfs])).starts_with("Mounts.VolumeOptions.DriverConfig is not supported"));
    assert_eq!(
        err(&mounts(vec![vol_mount("a1", "rel")])),
        "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"
    );
    assert_eq!(
        err(&mounts(vec![vol_mount("/abs", "/x")])),
        "create /abs: \"/abs\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    );
    let mut hc = HostConfig { mounts: Some(vec![vol_mount("a1", "/x")]), ..Default::default() };
    hc.binds = Some(vec!["b1:/x".into()]);
    assert_eq!(err(&body(hc)), "Duplicate mount point: /x");
}

#[test]
fn tmpfs_mounts_become_sized_memory_empty_dirs() {
    let hc = HostConfig {
        tmpfs: Some([("/run".to_string(), "size=64m,mode=1777".to_string()), ("/t".into(), "".into())].into()),
        mounts: Some(vec![Mount {
            typ: Some(MountType::TMPFS),
            target: Some("/t2".into()),
            tmpfs_options: Some(MountTmpfsOptions { size_bytes: Some(1 << 20), ..Default::default() }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let r = requested(&body(hc), &[]).unwrap();
    let got: Vec<(&str, Option<i64>, bool)> =
        r.mounts.iter().map(|m| (m.destination.as_str(), m.size_bytes, m.listed)).collect();
    // `--mount type=tmpfs` is listed in inspect's Mounts, `--tmpfs` is not (Docker 20.10).
    assert_eq!(got, [("/t2", Some(1 << 20), true), ("/run", Some(64 << 20), false), ("/t", None, false)]);
    let mut pod = Pod { spec: Some(Default::default()), ..Default::default() };
    pod.spec.as_mut().unwrap().containers.push(Default::default());
    add_to_pod(&mut pod, &r.mounts).unwrap();
    let spec = pod.spec.unwrap();
    let empty = spec.volumes.unwrap()[1].empty_dir.clone().unwrap();
    assert_eq!((empty.medium.as_deref(), empty.size_limit), (Some("Memory"), Some(Quantity("67108864".into()))));
    assert_eq!(spec.containers[0].volume_mounts.as_ref().unwrap()[1].mount_path, "/run");
}

#[test]
fn tmpfs_errors() {
    let tmpfs = |dst: &str, opts: &str| {
        body(HostConfig { tmpfs: Some([(dst.into(), opts.into())].into()), ..Default::default() })
    };
    assert_eq!(err(&tmpfs("rel", "")), "invalid mount path: 'rel' mount path must be absolute");
    assert_eq!(err(&tmpfs("/", "")), "invalid specification: destination can't be '/'");
    assert!(err(&tmpfs("/x", "size=abc")).contains("invalid tmpfs size"));
    assert!(err(&tmpfs("/x", "size=50%")).starts_with("Tmpfs is not supported"));
    assert!(err(&tmpfs("/x", "mode=700")).contains("mode 700"));
    assert!(err(&tmpfs("/x", "noexec")).contains("option \"noexec\""));
    let mut hc = HostConfig { binds: Some(vec!["a1:/x".into()]), ..Default::default() };
    hc.tmpfs = Some([("/x".into(), "".into())].into());
    assert_eq!(err(&body(hc)), "Duplicate mount point: /x");
    let npipe = Mount { typ: Some(MountType::NPIPE), ..vol_mount("/y", "/x") };
    assert_eq!(err(&mounts(vec![npipe])), "invalid mount config for type \"npipe\": mount type unknown");
    let no_target = Mount { target: None, ..vol_mount("aa", "") };
    assert_eq!(
        err(&mounts(vec![no_target])),
        "invalid mount config for type \"volume\": field Target must not be empty"
    );
    let root = Mount { typ: Some(MountType::TMPFS), ..vol_mount("", "/") };
    assert_eq!(
        err(&mounts(vec![root])),
        "invalid mount config for type \"tmpfs\": invalid specification: destination can't be '/'"
    );
    let sourced = Mount { typ: Some(MountType::TMPFS), ..vol_mount("foo", "/x") };
    assert_eq!(
        err(&mounts(vec![sourced])),
        "invalid mount config for type \"tmpfs\": field Source must not be specified"
    );
}

#[test]
fn volumes_from_and_anonymous_volumes_fill_what_is_free() {
    let mut create = binds(&["mine:/d"]);
    create.volumes = Some(vec!["/d".into(), "/scratch".into(), "/e".into()]);
    create.host_config.as_mut().unwrap().volumes_from = Some(vec!["other:ro".into()]);
    let r = requested(&create, &["/image-vol".to_string()]).unwrap();
    assert_eq!(r.volumes_from, [VolumesFrom { container: "other".into(), read_write: false }]);
    let theirs = vec![
        volume("/d", "theirs-d", true, "z"),
        volume("/e", "theirs-e", true, "z"),
        ContainerMount { anonymous: true, ..volume("/f", "0123", true, "") },
        parse_tmpfs("/t", "").unwrap(),
    ];
    let all = combine(r.clone(), &[(r.volumes_from[0].clone(), theirs)]);
    let got: Vec<(&str, &str, bool, &str)> =
        all.iter().map(|m| (m.destination.as_str(), m.name.as_str(), m.rw, m.mode.as_str())).collect();
    assert_eq!(
        got,
        [
            ("/d", "mine", true, "z"),
            ("/e", "theirs-e", false, ""),
            ("/f", "0123", false, ""),
            ("/scratch", "", true, ""),
            ("/image-vol", "", true, ""),
        ]
    );
    let mut named = all.clone();
    for (n, m) in named.iter_mut().enumerate().filter(|(_, m)| m.name.is_empty()) {
        m.name = format!("anon{n}");
    }
    let uses = volume_uses(&named);
    let anonymous: Vec<&str> = uses.iter().filter(|u| u.anonymous).map(|u| u.name.as_str()).collect();
    // The other container's anonymous volume stays its own.
    assert_eq!(anonymous, ["anon3", "anon4"]);
    let from = |spec: &str| body(HostConfig { volumes_from: Some(vec![spec.into()]), ..Default::default() });
    assert_eq!(err(&from("x:bogus")), "invalid mode: bogus");
    assert_eq!(err(&from("x:shared")), "invalid mode: shared");
    assert!(requested(&from("x:z"), &[]).is_ok());
}

#[test]
fn a_volume_mounted_twice_is_one_claim_and_inspect_shows_the_claim() {
    let mut r = requested(&binds(&["data:/a", "data:/b:ro"]), &[]).unwrap();
    r.mounts[1].subpath = Some("s".into());
    let mut pod = Pod { spec: Some(Default::default()), ..Default::default() };
    pod.spec.as_mut().unwrap().containers.push(Default::default());
    add_to_pod(&mut pod, &r.mounts).unwrap();
    let spec = pod.spec.unwrap();
    let volumes = spec.volumes.unwrap();
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].persistent_volume_claim.as_ref().unwrap().claim_name, volume_claim_name("data"));
    let vm = spec.containers[0].volume_mounts.clone().unwrap();
    assert_eq!((vm[1].read_only, vm[1].sub_path.as_deref()), (Some(true), Some("s")));
    let shown = inspect_mounts(&r.mounts, "ns");
    assert_eq!(
        shown[1].source.as_deref(),
        Some(format!("k8s://ns/persistentvolumeclaims/{}", volume_claim_name("data")).as_str())
    );
    assert_eq!(
        (shown[1].mode.as_deref(), shown[1].rw, shown[1].driver.as_deref()),
        (Some("ro"), Some(false), Some("local"))
    );
    let json = serde_json::to_string(&r.mounts[0]).unwrap();
    assert_eq!(serde_json::from_str::<ContainerMount>(&json).unwrap(), r.mounts[0]);
}

#[test]
fn an_unnamed_anonymous_volume_cannot_become_a_pod_volume() {
    let r = requested(&binds(&["/anon"]), &[]).unwrap();
    let mut pod = Pod { spec: Some(Default::default()), ..Default::default() };
    assert!(add_to_pod(&mut pod, &r.mounts).is_err());
}
