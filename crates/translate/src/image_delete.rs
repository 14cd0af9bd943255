//! `DELETE /images/{name}` (ImageDelete) as moby decides it (daemon/images/image_delete.go): which references go,
//! whether the image itself goes, and the conflicts (409) with Docker's sentences.
//!
//! - By **reference** (`alpine`, `alpine@sha256:...`): the reference is removed; if it was a tag and no other tag of
//!   the same repository is left, that repository's digest references go too. Without `force`, a container using
//!   the image refuses the removal when this is the image's only reference (the image would be left dangling). The
//!   image is deleted once no reference is left and nothing uses it (a used image just stays, untagged).
//! - By **id** (or id prefix): with at most one tag, all in one repository, every reference is removed; then the
//!   image is deleted unless a running container uses it (never, even with `force`), or without `force`, a
//!   stopped one does or references in other repositories remain.

use bollard_stubs::models::ImageDeleteResponseItem;

use super::image_ref::{familiar_reference, short_image_id, ImageRef};
use super::TranslateError;

/// A container that uses the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub running: bool,
}

/// What a delete does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletePlan {
    /// Full references (tags and digests) to remove from the image.
    pub remove: Vec<String>,
    /// Whether the image (its record) is deleted.
    pub delete_image: bool,
    /// The response items, in Docker's order (`Untagged` ..., then `Deleted`).
    pub items: Vec<ImageDeleteResponseItem>,
}

/// Why a delete is refused: Docker's 409 sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Conflict(pub String);

/// How the client named the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A reference, normalised (`docker.io/library/alpine:latest`), and as the client wrote it.
    Reference { full: ImageRef, given: String },
    /// An id or id prefix.
    Id,
}

/// The plan for deleting an image with references `refs` (full tags and digests), id `id`, used by `users`.
pub fn plan(id: &str, refs: &[String], named: &Named, users: &[User], force: bool) -> Result<DeletePlan, Conflict> {
    let mut plan = DeletePlan::default();
    let mut remaining: Vec<String> = refs.to_vec();
    let untag = |plan: &mut DeletePlan, remaining: &mut Vec<String>, r: &str| {
        remaining.retain(|x| x != r);
        plan.remove.push(r.to_string());
        plan.items.push(ImageDeleteResponseItem { untagged: Some(familiar_reference(r)), deleted: None });
    };
    let quiet = match named {
        Named::Reference { full, given } => {
            if !force && is_single_reference(refs) {
                if let Some(user) = users.first() {
                    return Err(Conflict(format!(
                        "conflict: unable to remove repository reference \"{given}\" (must force) - container {} is using its referenced image {}",
                        super::labels::short_id(&user.id),
                        short_image_id(id)
                    )));
                }
            }
            let wanted = full.full();
            untag(&mut plan, &mut remaining, &wanted);
            if full.digest.is_none() {
                let name = full.name();
                let tag_left = remaining.iter().any(|r| !r.contains('@') && repository(r) == name);
                if !tag_left {
                    let digests: Vec<String> =
                        remaining.iter().filter(|r| r.contains('@') && repository(r) == name).cloned().collect();
                    for d in digests {
                        untag(&mut plan, &mut remaining, &d);
                    }
                }
            }
            if !remaining.is_empty() {
                return Ok(plan);
            }
            true
        }
        Named::Id => {
            if is_single_reference(refs) {
                if let Some(conflict) = conflict(id, &remaining, users, false, !force) {
                    return Err(conflict);
                }
                for r in refs {
                    untag(&mut plan, &mut remaining, r);
                }
            }
            false
        }
    };
    if let Some(found) = conflict(id, &remaining, users, !force, !force) {
        if quiet {
            // Removing the last reference of a used image leaves it, untagged.
            return Ok(plan);
        }
        return Err(found);
    }
    for r in remaining.clone() {
        untag(&mut plan, &mut remaining, &r);
    }
    plan.delete_image = true;
    plan.items.push(ImageDeleteResponseItem { untagged: None, deleted: Some(id.to_string()) });
    Ok(plan)
}

/// moby's checkImageDeleteConflict: a running container always conflicts; references left (when `references`)
/// and a stopped container (when `stopped`) conflict unless forced.
fn conflict(id: &str, remaining: &[String], users: &[User], references: bool, stopped: bool) -> Option<Conflict> {
    let short = short_image_id(id);
    let sentence =
        |forced: &str, why: String| Conflict(format!("conflict: unable to delete {short} ({forced}) - {why}"));
    if let Some(user) = users.iter().find(|u| u.running) {
        let why = format!("image is being used by running container {}", super::labels::short_id(&user.id));
        return Some(sentence("cannot be forced", why));
    }
    if references && !remaining.is_empty() {
        return Some(sentence("must be forced", "image is referenced in multiple repositories".into()));
    }
    if stopped {
        if let Some(user) = users.iter().find(|u| !u.running) {
            let why = format!("image is being used by stopped container {}", super::labels::short_id(&user.id));
            return Some(sentence("must be forced", why));
        }
    }
    None
}

/// At most one tag, and every reference in one repository.
fn is_single_reference(refs: &[String]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let tags = refs.iter().filter(|r| !r.contains('@')).count();
    let first = repository(&refs[0]);
    tags <= 1 && refs.iter().all(|r| repository(r) == first)
}

/// The repository of a full reference: `docker.io/library/alpine:latest` -> `docker.io/library/alpine`.
fn repository(full: &str) -> String {
    ImageRef::parse(full).map(|r| r.name()).unwrap_or_else(|_| full.to_string())
}

/// A delete request's reference as the client wrote it, parsed (`invalid reference format` is a 400).
pub fn named(given: &str) -> Result<ImageRef, TranslateError> {
    ImageRef::parse(given).map(ImageRef::with_default_tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:1d0925695eda7263e0afa3c13cebec3c8360d331d928738a046b6e9b6b0d3d24";
    const DIGEST: &str =
        "docker.io/library/alpine@sha256:b5c7cdcaa2d2756e94639f2d0eebe2cd73c522e42dffc9b995a007485b9a0abe";

    fn by_ref(given: &str) -> Named {
        Named::Reference { full: named(given).unwrap(), given: given.to_string() }
    }

    fn refs(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    fn user(running: bool) -> User {
        User { id: "9084a4d5e176108718e8927b3f9b4a103a62dd1ece80d8e1cc8b75ae4932752f".into(), running }
    }

    fn untagged(plan: &DeletePlan) -> Vec<&str> {
        plan.items.iter().filter_map(|i| i.untagged.as_deref()).collect()
    }

    #[test]
    fn the_last_tag_untags_the_digest_and_deletes_the_image() {
        let p = plan(ID, &refs(&["docker.io/library/alpine:latest", DIGEST]), &by_ref("alpine"), &[], false).unwrap();
        assert!(p.delete_image);
        assert_eq!(untagged(&p), vec!["alpine:latest", &DIGEST[18..]]);
        assert_eq!(p.items.last().unwrap().deleted.as_deref(), Some(ID));
    }

    #[test]
    fn one_of_two_tags_only_untags() {
        let all = refs(&["docker.io/library/alpine:latest", "docker.io/me/x:1", DIGEST]);
        let p = plan(ID, &all, &by_ref("me/x:1"), &[user(true)], false).unwrap();
        assert!(!p.delete_image);
        assert_eq!(untagged(&p), vec!["me/x:1"]);
    }

    #[test]
    fn an_only_reference_in_use_needs_force_with_dockers_sentence() {
        let all = refs(&["docker.io/library/alpine:latest", DIGEST]);
        let err = plan(ID, &all, &by_ref("alpine"), &[user(false)], false).unwrap_err();
        assert_eq!(
            err.0,
            "conflict: unable to remove repository reference \"alpine\" (must force) - container 9084a4d5e176 is using its referenced image 1d0925695eda"
        );
        // Forced, the references go and the used image stays, dangling.
        let p = plan(ID, &all, &by_ref("alpine"), &[user(true)], true).unwrap();
        assert!(!p.delete_image);
        assert_eq!(p.remove.len(), 2);
    }

    #[test]
    fn by_id_a_running_user_cannot_be_forced() {
        let all = refs(&["docker.io/library/alpine:latest", DIGEST]);
        let err = plan(ID, &all, &Named::Id, &[user(true)], true).unwrap_err();
        assert_eq!(
            err.0,
            "conflict: unable to delete 1d0925695eda (cannot be forced) - image is being used by running container 9084a4d5e176"
        );
        let err = plan(ID, &all, &Named::Id, &[user(false)], false).unwrap_err();
        assert!(err.0.ends_with("(must be forced) - image is being used by stopped container 9084a4d5e176"));
        let p = plan(ID, &all, &Named::Id, &[user(false)], true).unwrap();
        assert!(p.delete_image);
    }

    #[test]
    fn by_id_with_several_repositories_needs_force() {
        let all = refs(&["docker.io/library/alpine:latest", "docker.io/me/x:1"]);
        let err = plan(ID, &all, &Named::Id, &[], false).unwrap_err();
        assert_eq!(
            err.0,
            "conflict: unable to delete 1d0925695eda (must be forced) - image is referenced in multiple repositories"
        );
        let p = plan(ID, &all, &Named::Id, &[], true).unwrap();
        assert_eq!(untagged(&p), vec!["alpine:latest", "me/x:1"]);
        assert!(p.delete_image);
    }
}
