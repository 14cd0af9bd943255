//! Docker's merge of an image's config into a container's (moby daemon `merge`, run at `docker create`): what the
//! client left unset comes from the image. Container inspect's `Config` shows the result.
//!
//! The rules, field by field:
//! - `User`, `WorkingDir`, `StopSignal`: the image's when the container's is empty.
//! - `Env`: the container's, then every image variable whose name the container does not set.
//! - `ExposedPorts`, `Volumes`: the union. `Labels`: the image's, overridden by the container's.
//! - `Entrypoint` / `Cmd`: without a container Entrypoint, the image's Cmd (and ArgsEscaped) when the container
//!   has no Cmd, and the image's Entrypoint when the container's is absent (`null`); a container Entrypoint
//!   (even `[""]`, the CLI's `--entrypoint ""`) resets the image's Cmd.
//! - `Healthcheck`: the image's, with each field the container sets taking precedence.
//! - Everything else (`StopTimeout`, `Shell`, `OnBuild`, `Hostname`, ...) is the container's alone.

use bollard_stubs::models::{ContainerCreateBody, HealthConfig, ImageConfig};

/// The container's config with the image's defaults merged in.
pub fn merge(container: &ContainerCreateBody, image: &ImageConfig) -> ContainerCreateBody {
    let mut out = container.clone();
    if out.user.as_deref().unwrap_or("").is_empty() {
        out.user = image.user.clone().or(out.user);
    }
    out.exposed_ports = union(out.exposed_ports.take(), image.exposed_ports.as_deref());
    out.env = merge_env(out.env.take(), image.env.as_deref());
    if out.labels.is_some() || image.labels.is_some() {
        let mut labels = image.labels.clone().unwrap_or_default();
        labels.extend(out.labels.take().unwrap_or_default());
        out.labels = Some(labels);
    }
    if out.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if out.cmd.as_ref().is_none_or(Vec::is_empty) {
            out.cmd = image.cmd.clone();
            out.args_escaped = image.args_escaped;
        }
        if out.entrypoint.is_none() {
            out.entrypoint = image.entrypoint.clone();
        }
    }
    out.healthcheck = merge_healthcheck(out.healthcheck.take(), image.healthcheck.as_ref());
    if out.working_dir.as_deref().unwrap_or("").is_empty() {
        out.working_dir = image.working_dir.clone().or(out.working_dir);
    }
    out.volumes = union(out.volumes.take(), image.volumes.as_deref());
    if out.stop_signal.as_deref().unwrap_or("").is_empty() {
        out.stop_signal = image.stop_signal.clone().or(out.stop_signal);
    }
    out
}

/// The container's list, then the image's entries it lacks; the image's list (or none) when the container's is
/// empty.
fn union(container: Option<Vec<String>>, image: Option<&[String]>) -> Option<Vec<String>> {
    match container {
        Some(mut mine) if !mine.is_empty() => {
            for item in image.unwrap_or_default() {
                if !mine.contains(item) {
                    mine.push(item.clone());
                }
            }
            Some(mine)
        }
        _ => image.map(<[String]>::to_vec),
    }
}

fn merge_env(container: Option<Vec<String>>, image: Option<&[String]>) -> Option<Vec<String>> {
    let key = |entry: &str| entry.split('=').next().unwrap_or("").to_string();
    match container {
        Some(mut mine) if !mine.is_empty() => {
            let keys: Vec<String> = mine.iter().map(|e| key(e)).collect();
            mine.extend(image.unwrap_or_default().iter().filter(|e| !keys.contains(&key(e))).cloned());
            Some(mine)
        }
        mine => image.map(<[String]>::to_vec).or(mine),
    }
}

fn merge_healthcheck(container: Option<HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let Some(image) = image else { return container };
    let Some(mut mine) = container else { return Some(image.clone()) };
    if mine.test.as_ref().is_none_or(Vec::is_empty) {
        mine.test = image.test.clone();
    }
    for (field, theirs) in [
        (&mut mine.interval, image.interval),
        (&mut mine.timeout, image.timeout),
        (&mut mine.start_period, image.start_period),
        (&mut mine.retries, image.retries),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = theirs.or(*field);
        }
    }
    Some(mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    fn image() -> ImageConfig {
        ImageConfig {
            user: Some("postgres".into()),
            env: strings(&["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]),
            entrypoint: strings(&["/entry.sh"]),
            cmd: strings(&["serve", "--port=80"]),
            working_dir: Some("/srv".into()),
            exposed_ports: strings(&["80/tcp"]),
            volumes: strings(&["/data"]),
            labels: Some([("a".to_string(), "image".to_string()), ("b".into(), "image".into())].into()),
            stop_signal: Some("SIGQUIT".into()),
            healthcheck: Some(HealthConfig {
                test: strings(&["CMD", "true"]),
                interval: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_empty_container_config_takes_everything_from_the_image() {
        let merged = merge(&ContainerCreateBody { image: Some("x".into()), ..Default::default() }, &image());
        assert_eq!(merged.user.as_deref(), Some("postgres"));
        assert_eq!(merged.env, strings(&["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]));
        assert_eq!((merged.entrypoint, merged.cmd), (strings(&["/entry.sh"]), strings(&["serve", "--port=80"])));
        assert_eq!(merged.working_dir.as_deref(), Some("/srv"));
        assert_eq!(merged.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(merged.volumes, strings(&["/data"]));
        assert_eq!(merged.healthcheck.unwrap().interval, Some(5));
    }

    #[test]
    fn the_container_wins_and_env_is_container_then_image() {
        let container = ContainerCreateBody {
            user: Some("1000".into()),
            env: strings(&["LANG=fr_FR", "X=1"]),
            cmd: strings(&["other"]),
            working_dir: Some("/tmp".into()),
            exposed_ports: strings(&["8080/tcp"]),
            labels: Some([("b".to_string(), "mine".to_string())].into()),
            ..Default::default()
        };
        let merged = merge(&container, &image());
        assert_eq!(merged.user.as_deref(), Some("1000"));
        assert_eq!(merged.env, strings(&["LANG=fr_FR", "X=1", "PATH=/usr/bin:/bin"]));
        // A container Cmd replaces the image's; the image Entrypoint stays.
        assert_eq!((merged.entrypoint, merged.cmd), (strings(&["/entry.sh"]), strings(&["other"])));
        assert_eq!(merged.working_dir.as_deref(), Some("/tmp"));
        assert_eq!(merged.exposed_ports, strings(&["8080/tcp", "80/tcp"]));
        let labels = merged.labels.unwrap();
        assert_eq!((labels["a"].as_str(), labels["b"].as_str()), ("image", "mine"));
    }

    #[test]
    fn a_container_entrypoint_resets_the_image_cmd() {
        let container = ContainerCreateBody { entrypoint: strings(&["/bin/sh"]), ..Default::default() };
        let merged = merge(&container, &image());
        assert_eq!((merged.entrypoint, merged.cmd), (strings(&["/bin/sh"]), None));
        // `--entrypoint ""`: no entrypoint, and the image's Cmd is not used either.
        let container = ContainerCreateBody { entrypoint: strings(&[""]), cmd: strings(&["ls"]), ..Default::default() };
        let merged = merge(&container, &image());
        assert_eq!((merged.entrypoint, merged.cmd), (strings(&[""]), strings(&["ls"])));
    }

    #[test]
    fn an_empty_entrypoint_list_keeps_it_empty_and_takes_the_image_cmd() {
        let container = ContainerCreateBody { entrypoint: Some(vec![]), ..Default::default() };
        let merged = merge(&container, &image());
        assert_eq!((merged.entrypoint, merged.cmd), (Some(vec![]), strings(&["serve", "--port=80"])));
    }

    #[test]
    fn empty_lists_take_the_images_even_none() {
        let container =
            ContainerCreateBody { volumes: Some(vec![]), exposed_ports: Some(vec![]), ..Default::default() };
        let merged = merge(&container, &ImageConfig::default());
        assert_eq!((merged.volumes, merged.exposed_ports), (None, None));
    }

    #[test]
    fn healthcheck_fields_the_container_sets_win() {
        let container = ContainerCreateBody {
            healthcheck: Some(HealthConfig { retries: Some(7), ..Default::default() }),
            ..Default::default()
        };
        let hc = merge(&container, &image()).healthcheck.unwrap();
        assert_eq!((hc.test, hc.interval, hc.retries), (strings(&["CMD", "true"]), Some(5), Some(7)));
    }
}
