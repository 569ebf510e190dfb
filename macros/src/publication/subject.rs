//! Subject templates: `orders.{tenant}.placed` — literal text and placeholders, each of which
//! fills one token: `{tenant}`, `{stream}`, or a field of the message (`{region}`).

use syn::LitStr;

use crate::ctxt::Ctxt;

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Tenant,
    Stream,
    Field(String),
}

const HELP: &str = "a subject is dot-separated tokens, each literal text or one placeholder: `{tenant}`, `{stream}` or a field of the message, as in `orders.{tenant}.placed`";

/// The parts of `template`, or `None` after reporting what is wrong with it.
pub(crate) fn parse(cx: &mut Ctxt, template: &LitStr) -> Option<Vec<Part>> {
    let text = template.value();
    let mut errors = Vec::new();
    if text.is_empty() {
        errors.push("the subject is empty".to_owned());
    }
    let mut parts = Vec::new();
    for token in text.split('.') {
        if token.is_empty() && !text.is_empty() {
            errors.push(format!("`{text}` has an empty token"));
            continue;
        }
        if let Some(inner) = token.strip_prefix('{') {
            let Some(name) = inner.strip_suffix('}') else {
                errors.push(format!("`{token}` opens a placeholder it does not close"));
                continue;
            };
            parts.push(match name {
                "tenant" => Part::Tenant,
                "stream" => Part::Stream,
                name if is_ident(name) => Part::Field(name.to_owned()),
                _ => {
                    errors.push(format!("`{{{name}}}` names no field"));
                    continue;
                }
            });
        } else if token.contains(['{', '}']) {
            errors.push(format!(
                "`{token}` mixes text and a placeholder in one token"
            ));
            continue;
        } else if token.contains(['*', '>']) || token.chars().any(char::is_whitespace) {
            errors.push(format!(
                "`{token}`: a published subject has no wildcards (`*`, `>`) or white space"
            ));
            continue;
        } else {
            parts.push(Part::Text(token.to_owned()));
        }
    }
    if errors.is_empty() {
        Some(join_text(parts))
    } else {
        cx.error_at(template, format!("{}; {HELP}", errors.join("; ")));
        None
    }
}

/// The parts with the dots back in and neighbouring text merged.
fn join_text(tokens: Vec<Part>) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    for (i, part) in tokens.into_iter().enumerate() {
        if i > 0 {
            push_text(&mut out, ".");
        }
        match part {
            Part::Text(text) => push_text(&mut out, &text),
            other => out.push(other),
        }
    }
    out
}

fn push_text(out: &mut Vec<Part>, text: &str) {
    if let Some(Part::Text(last)) = out.last_mut() {
        last.push_str(text);
    } else {
        out.push(Part::Text(text.to_owned()));
    }
}

fn is_ident(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && syn::parse_str::<syn::Ident>(name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(template: &str) -> Result<Vec<Part>, String> {
        let mut cx = Ctxt::default();
        let lit = LitStr::new(template, proc_macro2::Span::call_site());
        let parts = parse(&mut cx, &lit);
        match cx.into_compile_errors() {
            None => Ok(parts.unwrap()),
            Some(errors) => Err(errors.to_string()),
        }
    }

    #[test]
    fn placeholders_fill_whole_tokens() {
        assert_eq!(
            parts("orders.{tenant}.placed").unwrap(),
            vec![
                Part::Text("orders.".into()),
                Part::Tenant,
                Part::Text(".placed".into())
            ]
        );
        assert_eq!(
            parts("{stream}.{region}").unwrap(),
            vec![
                Part::Stream,
                Part::Text(".".into()),
                Part::Field("region".into())
            ]
        );
        assert_eq!(parts("a.b").unwrap(), vec![Part::Text("a.b".into())]);
    }

    #[test]
    fn every_mistake_of_a_template_is_reported_at_once() {
        let error = parts("orders..x{tenant}.{9}.{open.*").unwrap_err();
        for expected in [
            "empty token",
            "mixes text",
            "`{9}` names no field",
            "does not close",
            "wildcards",
        ] {
            assert!(error.contains(expected), "{expected}: {error}");
        }
        assert!(parts("").unwrap_err().contains("empty"));
    }
}
