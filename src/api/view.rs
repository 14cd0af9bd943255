//! A [`Container`] as the translation layer reads it: the record's annotations (id, name, create body) with the
//! state and address of its newest pod, so inspect and list show a created container (no pod yet) too.

use bollard::models::ContainerCreateBody;
use jiff::Timestamp;

use crate::runtime::Container;
use crate::translate::inspect::ContainerRecord;
use crate::translate::labels::CONFIG_ANNOTATION;

/// The translation layer's view of a container. The record is the truth for the id, the name (a rename changes
/// only the record) and the create body; the pod adds the state and the IP.
pub fn container_record(container: &Container, now: Timestamp) -> ContainerRecord {
    let meta = &container.record.metadata;
    let created = meta.creation_timestamp.as_ref().map(|t| t.0).or(Some(now));
    let mut record = match container.pod.as_deref() {
        Some(pod) => ContainerRecord::from_pod(pod, created),
        None => ContainerRecord {
            id: String::new(),
            name: String::new(),
            body: ContainerCreateBody::default(),
            state: container.state(),
            created,
            ip: None,
        },
    };
    record.id = container.id.clone();
    record.name = container.name.trim_start_matches('/').to_string();
    if let Some(body) = create_body(container) {
        record.body = body;
    }
    record.created = created;
    record
}

/// The create body kept on the record (annotation, or data key of the same name).
pub fn create_body(container: &Container) -> Option<ContainerCreateBody> {
    let record = &container.record;
    let from_annotation = record.metadata.annotations.as_ref().and_then(|a| a.get(CONFIG_ANNOTATION));
    let from_data = record.data.as_ref().and_then(|d| d.get(CONFIG_ANNOTATION));
    serde_json::from_str(from_annotation.or(from_data)?).ok()
}

/// Whether the container has a TTY (`Config.Tty`): decides raw or multiplexed output.
pub fn tty(container: &Container) -> bool {
    create_body(container).and_then(|b| b.tty).unwrap_or(false)
}

/// Whether the container keeps stdin open (`Config.OpenStdin`, `docker run -i`).
pub fn open_stdin(container: &Container) -> bool {
    create_body(container).and_then(|b| b.open_stdin).unwrap_or(false)
}

/// Records the resolved id on the request span.
pub fn record_id(container: &Container) {
    tracing::Span::current().record("container.id", container.id.as_str());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    fn container(config: &str) -> Container {
        let mut record = ConfigMap::default();
        record.metadata.annotations = Some(BTreeMap::from([(CONFIG_ANNOTATION.to_string(), config.to_string())]));
        Container { id: "a".repeat(64), name: "w".into(), record: Arc::new(record), pod: None }
    }

    #[test]
    fn a_created_container_reads_its_body_from_the_record() {
        let c = container(r#"{"Image":"alpine","Tty":true,"OpenStdin":true}"#);
        let record = container_record(&c, Timestamp::UNIX_EPOCH);
        assert_eq!(record.image(), "alpine");
        assert_eq!(record.name, "w");
        assert_eq!(record.state.status, crate::translate::state::Status::Created);
        assert!(tty(&c) && open_stdin(&c));
        assert!(!tty(&container("not json")));
    }
}
