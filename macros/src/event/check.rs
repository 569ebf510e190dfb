//! The rules of an event's version chain, one function each. Stored events live for ever, so
//! every version below the current one must have exactly one way up to the next.

use std::collections::BTreeMap;

use super::ast::{EventModel, Step, Upcast};
use crate::ctxt::Ctxt;

pub(crate) fn check(cx: &mut Ctxt, model: &EventModel<'_>) {
    let steps = upcasters_read_older_versions(cx, model);
    let steps = one_upcaster_per_version(cx, steps);
    every_older_version_has_a_path(cx, model, &steps);
    typed_steps_have_a_type_to_produce(cx, &steps);
    renamed_from_is_another_name(cx, model);
}

/// An upcaster reads a version below the current one: the current version decodes as it is,
/// and a newer one cannot be known yet.
fn upcasters_read_older_versions<'m>(cx: &mut Ctxt, model: &'m EventModel<'_>) -> Vec<&'m Upcast> {
    let (ident, current) = (model.ident, model.version);
    model
        .upcasts
        .iter()
        .filter(|u| {
            if u.from < current {
                return true;
            }
            let message = if current == 1 {
                format!(
                    "`{ident}` is at version 1, so there is nothing older to upcast; bump it first: `#[event(version = 2)]`"
                )
            } else {
                format!(
                    "`{ident}` is at version {current}; an upcaster reads an older version (1 to {})",
                    current - 1
                )
            };
            cx.push(syn::Error::new(u.from_span, message));
            false
        })
        .collect()
}

/// Two upcasters for one version would make the decoded value depend on which one ran.
fn one_upcaster_per_version<'m>(
    cx: &mut Ctxt,
    upcasts: Vec<&'m Upcast>,
) -> BTreeMap<u32, &'m Upcast> {
    let mut steps = BTreeMap::new();
    for u in upcasts {
        if steps.insert(u.from, u).is_some() {
            cx.push(syn::Error::new(
                u.from_span,
                format!(
                    "a second upcaster reads version {}; keep one `#[upcast(from = {})]`",
                    u.from, u.from
                ),
            ));
        }
    }
    steps
}

/// Events stored at any older version must still decode, so each one needs a step up.
fn every_older_version_has_a_path(
    cx: &mut Ctxt,
    model: &EventModel<'_>,
    steps: &BTreeMap<u32, &Upcast>,
) {
    let missing: Vec<u32> = (1..model.version)
        .filter(|v| !steps.contains_key(v))
        .collect();
    let Some(&first) = missing.first() else {
        return;
    };
    let list: Vec<String> = missing.iter().map(u32::to_string).collect();
    let (noun, list) = if missing.len() == 1 {
        ("version", list[0].clone())
    } else {
        ("versions", list.join(", "))
    };
    cx.push(syn::Error::new(
        model.version_span,
        format!(
            "`{}` is at version {}, but nothing upcasts stored {noun} {list}; add `#[upcast(from = {first}, typed = OldType)]` (an old struct converted by `From`) or `#[upcast(from = {first}, json = path::to_fn)]` for each",
            model.ident, model.version
        ),
    ));
}

/// A typed step converts into the next version's type; a JSON step has no type, so a typed
/// step cannot be followed by one.
fn typed_steps_have_a_type_to_produce(cx: &mut Ctxt, steps: &BTreeMap<u32, &Upcast>) {
    for (from, upcast) in steps {
        let Step::Typed { ty, .. } = &upcast.step else {
            continue;
        };
        let next = from + 1;
        if let Some(Upcast {
            step: Step::Json(_),
            ..
        }) = steps.get(&next).copied()
        {
            cx.error_at(
                ty,
                format!(
                    "version {next} is upcast as JSON, so the typed step from version {from} has no type to convert into; make this step `json = ...` too, or version {next} `typed = ...`"
                ),
            );
        }
    }
}

/// A previous name equal to the current one would say nothing, and is likely a typo.
fn renamed_from_is_another_name(cx: &mut Ctxt, model: &EventModel<'_>) {
    for old in &model.renamed_from {
        if old.value() == model.name {
            cx.error_at(
                old,
                format!(
                    "`{}` is the current name; `renamed_from` lists names used before",
                    model.name
                ),
            );
        }
    }
}
