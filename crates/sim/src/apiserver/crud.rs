//! The verbs on objects: get, list, create, update (PUT), patch and delete, and the status subresource.

use serde_json::{json, Value};

use super::http::{self, Query, Resp};
use super::objects::{self, UpdateTarget};
use super::patch::{self, PatchType};
use super::pods::{self, PodDeletion};
use super::render::Render;
use super::router::ResourcePath;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{now_rfc3339, Store};
use super::{fieldvalidation, kinds, State};
use crate::status::ApiError;

/// Namespaces that cannot be deleted.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

fn name_of(rp: &ResourcePath) -> &str {
    rp.name.as_deref().unwrap_or_default()
}

pub fn get(state: &State, rp: &ResourcePath, render: &Render) -> Result<Resp, ApiError> {
    let object = state
        .store
        .get(rp.info.name, rp.ns(), name_of(rp))
        .ok_or_else(|| ApiError::not_found(&rp.info.qualified(), name_of(rp)))?;
    Ok(http::json(200, &render.one(rp.info.name, &object)))
}

/// The selectors of a list or watch.
pub fn selectors(rp: &ResourcePath, query: &Query) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?;
    let mut fields = query.get("fieldSelector").unwrap_or("").to_string();
    if let Some(name) = &rp.name {
        // A watch on one object's path watches that name.
        fields = format!("{fields},metadata.name={name}");
    }
    let fields = FieldSelector::parse(&fields, rp.info.name)?;
    Ok((labels, fields))
}

pub fn list(state: &State, rp: &ResourcePath, query: &Query, render: &Render) -> Result<Resp, ApiError> {
    let (labels, fields) = selectors(rp, query)?;
    let (items, rv) = state.store.list(rp.info.name, rp.namespace.as_deref());
    check_exact_version(query, rv)?;
    let items: Vec<Value> = items.into_iter().filter(|o| labels.matches(o) && fields.matches(o)).collect();
    Ok(http::json(200, &render.list(rp.info.name, rp.info.kind, items, rv)))
}

/// Lists are served from the current state only: `resourceVersionMatch=Exact` for an older version, or
/// a `continue` token (this server never hands one out), is 410 Expired like a compacted etcd answers.
fn check_exact_version(query: &Query, current: u64) -> Result<(), ApiError> {
    let exact_old = query.get("resourceVersionMatch") == Some("Exact")
        && query.get("resourceVersion").and_then(|v| v.parse::<u64>().ok()).is_some_and(|v| v < current);
    if exact_old || query.get("continue").is_some_and(|c| !c.is_empty()) {
        return Err(ApiError::gone("The resourceVersion for the provided list is too old."));
    }
    Ok(())
}

fn require_namespace(store: &Store, rp: &ResourcePath) -> Result<(), ApiError> {
    if rp.info.namespaced && store.get("namespaces", "", rp.ns()).is_none() {
        return Err(ApiError::not_found("namespaces", rp.ns()));
    }
    Ok(())
}

fn dry_run(query: &Query) -> bool {
    query.get("dryRun").is_some_and(|v| v == "All")
}

pub fn create(state: &State, rp: &ResourcePath, query: &Query, body: &[u8]) -> Result<Resp, ApiError> {
    if rp.info.namespaced && rp.namespace.is_none() {
        return Err(ApiError::method_not_allowed("the server does not allow this method on the requested resource"));
    }
    let raw = http::parse_json(body, rp.info.kind)?;
    let decoded = kinds::decode(rp.info, raw.clone())?;
    let warnings = fieldvalidation::check(query, rp.info.kind, &raw, &decoded)?;
    let generated = decoded["metadata"]["name"].as_str().is_none_or(str::is_empty);
    let mut object = objects::prepare_create(rp.info, rp.ns(), decoded)?;
    require_namespace(&state.store, rp)?;
    if rp.info.name == "persistentvolumeclaims" {
        super::volumes::admit_claim(&state.store, &mut object);
    }
    if dry_run(query) {
        let mut object = object;
        object["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        object["metadata"]["creationTimestamp"] = json!(now_rfc3339());
        return Ok(fieldvalidation::with_warnings(http::json(201, &object), &warnings));
    }
    if rp.info.name == "pods" {
        admit_quota(&state.store, rp.ns(), &object)?;
    }
    let created = create_with_retries(&state.store, rp, object, generated)?;
    if rp.info.name == "namespaces" {
        let name = created["metadata"]["name"].as_str().unwrap_or_default();
        create_default_service_account(&state.store, name);
    }
    Ok(fieldvalidation::with_warnings(http::json(201, &created), &warnings))
}

/// The ResourceQuota admission plugin: a pod that would take its namespace over a quota is Forbidden, with the
/// plugin's words.
fn admit_quota(store: &Store, namespace: &str, pod: &Value) -> Result<(), ApiError> {
    let (quotas, _) = store.list("resourcequotas", Some(namespace));
    if quotas.is_empty() {
        return Ok(());
    }
    let (pods, _) = store.list("pods", Some(namespace));
    match crate::resources::quota_refusal(pod, &quotas, &pods) {
        None => Ok(()),
        Some(why) => {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default();
            Err(ApiError::forbidden(format!("pods \"{name}\" is forbidden: {why}")))
        }
    }
}

/// Stores a new object; a generated name that is taken is generated again, a few times, like the real
/// server does since 1.32 (RetryGenerateName).
fn create_with_retries(
    store: &Store,
    rp: &ResourcePath,
    mut object: Value,
    generated: bool,
) -> Result<Value, ApiError> {
    let mut attempts = 0;
    loop {
        match store.create(rp.info.name, rp.ns(), object.clone()) {
            Err(err) if generated && err.reason == "AlreadyExists" && attempts < 7 => {
                attempts += 1;
                object["metadata"]["name"] = Value::Null;
                kinds::apply_generate_name(&mut object);
            }
            other => return other,
        }
    }
}

/// Every namespace gets a `default` ServiceAccount, as the real controller manager makes one.
pub fn create_default_service_account(store: &Store, namespace: &str) {
    let account =
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}});
    let _ = store.create("serviceaccounts", namespace, account);
}

pub fn update(
    state: &State,
    rp: &ResourcePath,
    query: &Query,
    body: &[u8],
    target: UpdateTarget,
) -> Result<Resp, ApiError> {
    let raw = http::parse_json(body, rp.info.kind)?;
    let new = kinds::decode(rp.info, raw.clone())?;
    let warnings = fieldvalidation::check(query, rp.info.kind, &raw, &new)?;
    let resp = write(state, rp, query, |current| objects::prepare_update(rp.info, rp.ns(), current, new, target))?;
    Ok(fieldvalidation::with_warnings(resp, &warnings))
}

pub fn patch(
    state: &State,
    rp: &ResourcePath,
    query: &Query,
    content_type: &str,
    body: &[u8],
    target: UpdateTarget,
) -> Result<Resp, ApiError> {
    let kind = PatchType::from_content_type(content_type)?;
    let mut warnings = Vec::new();
    let resp = write(state, rp, query, |current| {
        let patched = patch::apply(kind, current, body)?;
        let decoded = kinds::decode(rp.info, patched.clone())?;
        warnings = fieldvalidation::check(query, rp.info.kind, &patched, &decoded)?;
        objects::prepare_update(rp.info, rp.ns(), current, decoded, target)
    })?;
    Ok(fieldvalidation::with_warnings(resp, &warnings))
}

fn write(
    state: &State,
    rp: &ResourcePath,
    query: &Query,
    change: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Resp, ApiError> {
    let name = name_of(rp);
    if dry_run(query) {
        let current =
            state.store.get(rp.info.name, rp.ns(), name).ok_or_else(|| ApiError::not_found(rp.info.name, name))?;
        return Ok(http::json(200, &change(&current)?));
    }
    let updated = state.store.update(rp.info.name, rp.ns(), name, change)?;
    Ok(http::json(200, &updated))
}

/// The DeleteOptions of a request: body first, then query parameters.
struct DeleteOptions {
    grace: Option<i64>,
    uid: Option<String>,
    resource_version: Option<String>,
    /// `propagationPolicy=Orphan`: the dependents stay and lose their reference to this owner.
    orphan: bool,
}

fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let body: Value =
        if body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { http::parse_json(body, "DeleteOptions")? };
    let grace = match body["gracePeriodSeconds"].as_i64() {
        Some(g) => Some(g),
        None => query.int("gracePeriodSeconds")?,
    };
    let pre = &body["preconditions"];
    let policy = body["propagationPolicy"].as_str().or_else(|| query.get("propagationPolicy"));
    let orphan = match policy {
        None | Some("Background") | Some("Foreground") => false,
        Some("Orphan") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )))
        }
    };
    Ok(DeleteOptions {
        grace,
        uid: pre["uid"].as_str().map(str::to_string),
        resource_version: pre["resourceVersion"].as_str().map(str::to_string),
        orphan,
    })
}

pub fn delete(state: &State, rp: &ResourcePath, query: &Query, body: &[u8]) -> Result<Resp, ApiError> {
    let (resource, ns, name) = (rp.info.name, rp.ns(), name_of(rp));
    let opts = delete_options(query, body)?;
    if resource == "namespaces" && PROTECTED_NAMESPACES.contains(&name) {
        return Err(ApiError::forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    let current = state.store.get(resource, ns, name).ok_or_else(|| ApiError::not_found(&rp.info.qualified(), name))?;
    check_preconditions(&current, resource, name, &opts)?;
    if dry_run(query) {
        return Ok(http::json(200, &current));
    }
    if opts.orphan {
        orphan_dependents(state, ns, &current);
    }
    let has_finalizers = current["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    let mode = if resource == "pods" { pods::deletion(&current, opts.grace) } else { PodDeletion::Now };
    let object = match mode {
        PodDeletion::Unchanged => current,
        PodDeletion::Graceful(grace) => {
            state.store.update(resource, ns, name, |pod| Ok(pods::mark_terminating(pod, grace)))?
        }
        PodDeletion::Now if has_finalizers => state.store.update(resource, ns, name, |obj| {
            let mut obj = obj.clone();
            if obj["metadata"].get("deletionTimestamp").is_none() || opts.grace == Some(0) {
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            }
            // Finalizers decide from here: removing the last one removes the object.
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            Ok(obj)
        })?,
        PodDeletion::Now => {
            let mut removed =
                state.store.remove(resource, ns, name).ok_or_else(|| ApiError::not_found(resource, name))?;
            if resource == "namespaces" {
                state.store.remove_namespace_contents(name);
                removed["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                removed["status"]["phase"] = json!("Terminating");
            }
            if !matches!(resource, "pods" | "namespaces") {
                let uid = removed["metadata"]["uid"].clone();
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "kind": resource, "uid": uid}});
                return Ok(http::json(200, &status));
            }
            removed
        }
    };
    Ok(http::json(200, &object))
}

/// Removes the ownerReferences to `owner` from every object in its namespace (`propagationPolicy=Orphan`), so
/// the garbage collector leaves them alone.
fn orphan_dependents(state: &State, namespace: &str, owner: &Value) {
    let Some(uid) = owner["metadata"]["uid"].as_str() else { return };
    for info in crate::apiserver::discovery::RESOURCES.iter().filter(|i| i.namespaced) {
        let (items, _) = state.store.list(info.name, Some(namespace));
        for item in items {
            let refs = item["metadata"]["ownerReferences"].as_array();
            if !refs.is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid)) {
                continue;
            }
            let name = item["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let _ = state.store.update(info.name, namespace, &name, |obj| {
                let mut obj = obj.clone();
                if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"] != uid);
                }
                Ok(obj)
            });
        }
    }
}

/// `DELETE` on a collection: deletes every object matching the selectors, returns the list of what
/// was deleted (or is now terminating).
pub fn delete_collection(state: &State, rp: &ResourcePath, query: &Query, body: &[u8]) -> Result<Resp, ApiError> {
    let (labels, fields) = selectors(rp, query)?;
    let (items, _) = state.store.list(rp.info.name, rp.namespace.as_deref());
    let mut deleted = Vec::new();
    for item in items.into_iter().filter(|o| labels.matches(o) && fields.matches(o)) {
        let name = item["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if rp.info.name == "namespaces" && PROTECTED_NAMESPACES.contains(&name.as_str()) {
            continue;
        }
        let namespace = item["metadata"]["namespace"].as_str().map(str::to_string);
        let one = ResourcePath { info: rp.info, namespace, name: Some(name), sub: None };
        match delete(state, &one, query, body) {
            Ok(_) => deleted.push(item),
            Err(err) if err.code == 404 => {}
            Err(err) => return Err(err),
        }
    }
    let rv = state.store.list(rp.info.name, Some("")).1;
    let list = json!({"kind": format!("{}List", rp.info.kind), "apiVersion": rp.info.api_version(),
        "metadata": {"resourceVersion": rv.to_string()}, "items": deleted});
    Ok(http::json(200, &list))
}

fn check_preconditions(current: &Value, resource: &str, name: &str, opts: &DeleteOptions) -> Result<(), ApiError> {
    let meta = &current["metadata"];
    if let Some(uid) = &opts.uid {
        let have = meta["uid"].as_str().unwrap_or_default();
        if uid != have {
            let why = format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}");
            return Err(ApiError::conflict(resource, name, &why));
        }
    }
    if let Some(rv) = &opts.resource_version {
        let have = meta["resourceVersion"].as_str().unwrap_or_default();
        if rv != have {
            let why = format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"
            );
            return Err(ApiError::conflict(resource, name, &why));
        }
    }
    Ok(())
}

/// `POST pods/{name}/binding`.
pub fn bind(state: &State, rp: &ResourcePath, body: &[u8]) -> Result<Resp, ApiError> {
    let binding = kinds::decode_kind("bindings", "Binding", http::parse_json(body, "Binding")?)?;
    let status = pods::bind(&state.store, rp.ns(), name_of(rp), &binding)?;
    Ok(http::json(201, &status))
}
