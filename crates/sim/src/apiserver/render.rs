//! How objects are sent back, from the request's Accept header: as themselves, as a `meta.k8s.io/v1`
//! Table (kubectl get), or as PartialObjectMetadata (kube-rs `list_metadata` / `metadata_watcher`).

use serde_json::{json, Value};

use super::http::Query;
use super::table;

/// The requested representation.
#[derive(Debug, Clone, PartialEq)]
pub enum Render {
    Object,
    /// With the `includeObject` parameter (None, Object, PartialObjectMetadata).
    Table(String),
    Metadata,
}

impl Render {
    /// From the first media type of the Accept header (clients list their fallbacks after it).
    pub fn from_request(accept: &str, query: &Query) -> Render {
        let first = accept.split(',').next().unwrap_or("");
        if first.contains("as=Table") {
            Render::Table(query.get("includeObject").unwrap_or("").to_string())
        } else if first.contains("as=PartialObjectMetadata") {
            Render::Metadata
        } else {
            Render::Object
        }
    }

    /// One object (a get, or a watch event's object).
    pub fn one(&self, resource: &str, object: &Value) -> Value {
        match self {
            Render::Object => object.clone(),
            Render::Table(include) => {
                let rv = object["metadata"]["resourceVersion"].as_str();
                table::table(resource, std::slice::from_ref(object), rv, include)
            }
            Render::Metadata => metadata_of(object),
        }
    }

    /// A list of `kind` objects at resourceVersion `rv`.
    pub fn list(&self, resource: &str, kind: &str, items: Vec<Value>, rv: u64) -> Value {
        let rv = rv.to_string();
        match self {
            Render::Object => json!({"kind": format!("{kind}List"), "apiVersion": list_api_version(resource),
                "metadata": {"resourceVersion": rv}, "items": items}),
            Render::Table(include) => table::table(resource, &items, Some(&rv), include),
            Render::Metadata => json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": rv}, "items": items.iter().map(metadata_of).collect::<Vec<_>>()}),
        }
    }
}

/// The `apiVersion` of a list of `resource`.
pub fn list_api_version(resource: &str) -> String {
    super::discovery::resource(resource).map_or_else(|| "v1".to_string(), |r| r.api_version())
}

fn metadata_of(object: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_header_picks_the_representation() {
        let q = Query::parse(Some("includeObject=Object"));
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
        assert_eq!(Render::from_request(table, &q), Render::Table("Object".into()));
        let meta = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(Render::from_request(meta, &q), Render::Metadata);
        assert_eq!(Render::from_request("application/json", &q), Render::Object);
        assert_eq!(Render::from_request("application/json, application/json;as=Table", &q), Render::Object);
    }

    #[test]
    fn metadata_lists_keep_only_metadata() {
        let list = Render::Metadata.list("pods", "Pod", vec![json!({"metadata": {"name": "a"}, "spec": {}})], 7);
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert_eq!(list["metadata"]["resourceVersion"], "7");
        assert_eq!(
            list["items"][0],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}})
        );
    }
}
