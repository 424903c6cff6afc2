//! The templates, the stylesheet and the script, embedded; and the one minijinja environment
//! that renders them. Templates are named `*.html`, so minijinja escapes every value they
//! print: run data (test names, tags, versions, rule messages) never reaches a page as markup.
//! The only markup passed through unescaped is the SVG the server draws itself
//! ([`super::charts`], whose text goes through plotters' escaping).

use std::sync::OnceLock;

use axum::http::StatusCode;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::error::PageError;

pub const CSS: &str = include_str!("static/serve.css");
pub const JS: &str = include_str!("static/serve.js");

const TEMPLATES: [(&str, &str); 12] = [
    ("base.html", include_str!("templates/base.html.j2")),
    ("runs.html", include_str!("templates/runs.html.j2")),
    ("compare.html", include_str!("templates/compare.html.j2")),
    ("error.html", include_str!("templates/error.html.j2")),
    ("trends.html", include_str!("templates/trends.html.j2")),
    ("policy.html", include_str!("templates/policy.html.j2")),
    ("retention_preview.html", include_str!("templates/retention_preview.html.j2")),
    ("sla_edit.html", include_str!("templates/sla_edit.html.j2")),
    ("waiver_new.html", include_str!("templates/waiver_new.html.j2")),
    ("waiver_state.html", include_str!("templates/waiver_state.html.j2")),
    ("teams.html", include_str!("templates/teams.html.j2")),
    ("retention.html", include_str!("templates/retention.html.j2")),
];

fn env() -> Result<&'static Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|e| e.to_string())?;
        }
        Ok(env)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// `template` with `page` as its context.
pub fn render(template: &str, page: &impl Serialize) -> Result<String, PageError> {
    let rendered = env().and_then(|env| {
        env.get_template(template)
            .and_then(|t| t.render(minijinja::context! { page => page }))
            .map_err(|e| e.to_string())
    });
    rendered.map_err(|e| {
        tracing::error!("rendering {template}: {e}");
        PageError::Internal("the page could not be laid out (the server log says why)".into())
    })
}

#[derive(Serialize)]
struct ErrorPage<'a> {
    title: String,
    status: u16,
    message: &'a str,
}

/// The page of a 4xx or 5xx answer.
pub fn error_page(status: StatusCode, message: &str) -> String {
    let page = ErrorPage {
        title: format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")),
        status: status.as_u16(),
        message,
    };
    env()
        .and_then(|env| {
            env.get_template("error.html")
                .and_then(|t| t.render(minijinja::context! { page => page }))
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|_| {
            format!(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title></head>\
                 <body><h1>{0}</h1><p>{1}</p></body></html>\n",
                crate::escape::escape_html(&page.title),
                crate::escape::escape_html(message)
            )
        })
}
