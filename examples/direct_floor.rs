//! The direct floor for `docker run --rm alpine true`: what the same work costs without podshim. Creates the
//! pod podshim would create (image, args `true`, restartPolicy Never) with kube-rs, watches it to completion,
//! deletes it and waits until it is gone; prints one wall time in microseconds per run on stdout.
//!
//!     cargo run --example direct_floor -- KUBECONFIG [RUNS] [IMAGE]
//!
//! Used by bench/run.sh against the simulated cluster podshim runs on, in the same run as podshim's figure.

use std::time::Instant;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::wait::{await_condition, conditions};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let kubeconfig = args.next().ok_or("usage: direct_floor KUBECONFIG [RUNS] [IMAGE]")?;
    let runs: u32 = args.next().map(|r| r.parse()).transpose()?.unwrap_or(20);
    let image = args.next().unwrap_or_else(|| "alpine".to_string());
    let config = kube::config::Kubeconfig::read_from(&kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await?;
    let pods: Api<Pod> = Api::default_namespaced(kube::Client::try_from(config)?);
    for i in 0..runs {
        let name = format!("direct-floor-{}-{i}", std::process::id());
        let started = Instant::now();
        run_once(&pods, &name, &image).await?;
        println!("{}", started.elapsed().as_micros());
    }
    Ok(())
}

/// Create, watch until Succeeded or Failed, delete, watch until gone.
async fn run_once(pods: &Api<Pod>, name: &str, image: &str) -> Result<(), Error> {
    let pod = Pod {
        metadata: ObjectMeta { name: Some(name.to_string()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some(image.to_string()),
                args: Some(vec!["true".into()]),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = pods.create(&PostParams::default(), &pod).await?;
    let uid = created.metadata.uid.unwrap_or_default();
    let finished = |p: Option<&Pod>| {
        let phase = p.and_then(|p| p.status.as_ref()).and_then(|s| s.phase.as_deref());
        matches!(phase, Some("Succeeded" | "Failed"))
    };
    await_condition(pods.clone(), name, finished).await?;
    pods.delete(name, &DeleteParams::default()).await?;
    await_condition(pods.clone(), name, conditions::is_deleted(&uid)).await?;
    Ok(())
}
