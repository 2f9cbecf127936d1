//! The web UI: server-rendered HTML from the same catalog service methods as the JSON
//! API. Readable without JavaScript (one small script adds copy buttons); semantic HTML
//! with a skip link, labelled forms and visible focus. Every page answers with a
//! `Server-Timing: app;dur=<ms>` header so its server time can be measured.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use wharf_oci::Reference;

use super::api::{ViewerParts, parse_target, search_query};
use super::auth::Identity;
use super::{ApiError, Query};
use super::AppState;
use crate::service::{PackageDetail, PackagePage, RepositoryDetail, SearchQuery, VersionDetail};

const CSS: &str = include_str!("ui/wharf.css");
const JS: &str = include_str!("ui/wharf.js");

/// Escape text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a query value.
fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(b, _)| b)
}

fn page(title: &str, body: &str, started: Instant, status: StatusCode) -> Response {
    let html = format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · wharf</title>
<link rel="stylesheet" href="/static/wharf.css">
<script src="/static/wharf.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<nav aria-label="Site">
<a class="brand" href="/">wharf</a>
<a href="/search">Packages</a>
<a href="/repositories">Repositories</a>
<a href="/api/v1/openapi.json">API</a>
</nav>
<form role="search" action="/search" method="get">
<label for="site-q" class="visually-hidden">Search packages</label>
<input id="site-q" name="q" type="search" placeholder="Search packages">
<button type="submit">Search</button>
</form>
</header>
<main id="main" tabindex="-1">
{body}
</main>
</body>
</html>
"##,
        title = esc(title)
    );
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (
        status,
        [
            ("content-type", "text/html; charset=utf-8".to_owned()),
            ("server-timing", format!("app;dur={ms:.2}")),
        ],
        html,
    )
        .into_response()
}

fn error_page(e: ApiError, started: Instant) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"/\">Back to the start page</a></p>",
        esc(e.status().canonical_reason().unwrap_or("Error")),
        esc(e.message())
    );
    page("Error", &body, started, e.status())
}

/// The search form, pre-filled from `sq`.
fn search_form(sq: &SearchQuery) -> String {
    let (by, interface) = match (sq.exports.is_empty(), sq.imports.is_empty()) {
        (false, _) => ("exports", sq.exports.as_str()),
        (_, false) => ("imports", sq.imports.as_str()),
        _ => ("exports", ""),
    };
    let sel = |v: &str| if v == by { " selected" } else { "" };
    format!(
        r#"<form class="search" action="/search" method="get" role="search" aria-label="Packages">
<div><label for="q">Name or description</label>
<input id="q" name="q" type="search" value="{}"></div>
<div><label for="by">Interface</label>
<select id="by" name="by"><option value="exports"{}>exported</option><option value="imports"{}>imported</option></select>
<label for="interface" class="visually-hidden">Interface name</label>
<input id="interface" name="interface" type="search" placeholder="wasi:http/incoming-handler or wasi:sockets/*" value="{}"></div>
<button type="submit">Search</button>
</form>"#,
        esc(&sq.text),
        sel("exports"),
        sel("imports"),
        esc(interface)
    )
}

fn package_list(p: &PackagePage) -> String {
    if p.packages.is_empty() {
        return "<p class=\"empty\">No packages found.</p>".into();
    }
    let mut out = String::from("<ol class=\"packages\">\n");
    for pkg in &p.packages {
        let title = pkg.name.clone().unwrap_or_else(|| pkg.repository.clone());
        let _ = writeln!(
            out,
            "<li><a href=\"/packages/{repo}\">{title}</a> <span class=\"version\">{latest}</span> <span class=\"kind\">{kind}</span>{target}<p>{desc}</p></li>",
            repo = esc(&pkg.repository),
            title = esc(&title),
            latest = esc(&pkg.latest),
            kind = esc(&pkg.kind),
            target = pkg
                .target
                .as_deref()
                .map(|t| format!(
                    " <span class=\"target\">targets <code>{}</code></span>",
                    esc(t)
                ))
                .unwrap_or_default(),
            desc = esc(pkg.description.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</ol>\n");
    out
}

/// Which search the UI form or a link asks for: `by`/`interface` map to `exports`/`imports`.
fn ui_search(query: &Query) -> Result<SearchQuery, ApiError> {
    let mut sq = search_query(query)?;
    if let Some(interface) = query.get("interface").filter(|i| !i.trim().is_empty()) {
        match query.get("by") {
            Some("imports") => sq.imports = interface.to_owned(),
            _ => sq.exports = interface.to_owned(),
        }
    }
    Ok(sq)
}

/// `GET /`
pub(crate) async fn home(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let started = Instant::now();
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    let sq = SearchQuery {
        page: 1,
        per_page: 20,
        recent: true,
        ..Default::default()
    };
    match parts
        .with(async |v| state.registry.search_packages(&sq, v).await)
        .await
    {
        Ok(recent) => {
            let body = format!(
                "<h1>WebAssembly packages</h1>\n<p>{total} packages. Find a component by name, or by an interface it exports or imports.</p>\n{form}\n<section aria-labelledby=\"recent\"><h2 id=\"recent\">Recently published</h2>\n{list}</section>",
                total = recent.total,
                form = search_form(&SearchQuery::default()),
                list = package_list(&recent)
            );
            page("Packages", &body, started, StatusCode::OK)
        }
        Err(e) => error_page(e.into(), started),
    }
}

/// `GET /search`
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let started = Instant::now();
    let query = Query::parse(raw);
    let sq = match ui_search(&query) {
        Ok(sq) => sq,
        Err(e) => return error_page(e, started),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    let result = match parts
        .with(async |v| state.registry.search_packages(&sq, v).await)
        .await
    {
        Ok(r) => r,
        Err(e) => return error_page(e.into(), started),
    };
    let what = match (sq.exports.as_str(), sq.imports.as_str(), sq.text.as_str()) {
        (e, _, _) if !e.is_empty() => format!("Packages exporting <code>{}</code>", esc(e)),
        (_, i, _) if !i.is_empty() => format!("Packages importing <code>{}</code>", esc(i)),
        (_, _, t) if !t.is_empty() => format!("Packages matching “{}”", esc(t)),
        _ => "All packages".to_owned(),
    };
    let pages = result.total.div_ceil(result.per_page as usize).max(1);
    let mut nav = String::new();
    let link = |p: u32| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &sq.text),
            ("exports", &sq.exports),
            ("imports", &sq.imports),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.append_pair("page", &p.to_string());
        format!("/search?{}", s.finish())
    };
    if pages > 1 {
        nav.push_str("<nav aria-label=\"Pages\" class=\"pages\">");
        if result.page > 1 {
            let _ = write!(
                nav,
                "<a rel=\"prev\" href=\"{}\">Previous</a> ",
                esc(&link(result.page - 1))
            );
        }
        let _ = write!(nav, "<span>Page {} of {pages}</span>", result.page);
        if (result.page as usize) < pages {
            let _ = write!(
                nav,
                " <a rel=\"next\" href=\"{}\">Next</a>",
                esc(&link(result.page + 1))
            );
        }
        nav.push_str("</nav>");
    }
    let body = format!(
        "<h1>{what}</h1>\n{form}\n<p class=\"count\">{total} found</p>\n{list}{nav}",
        form = search_form(&sq),
        total = result.total,
        list = package_list(&result),
    );
    page("Search", &body, started, StatusCode::OK)
}

/// `GET /packages/{repository}` and `/packages/{repository}@{version}`
pub(crate) async fn package(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let started = Instant::now();
    let (repo, reference) = match parse_target(&path) {
        Ok(t) => t,
        Err(e) => return error_page(e, started),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    match reference {
        None => match parts
            .with(async |v| state.registry.package(&repo, v).await)
            .await
        {
            Ok(p) => page(
                p.name.as_deref().unwrap_or(&p.repository),
                &package_page(&p),
                started,
                StatusCode::OK,
            ),
            Err(e) => error_page(e.into(), started),
        },
        Some(r) => match parts
            .with(async |v| state.registry.version(&repo, &r, v).await)
            .await
        {
            Ok(d) => {
                let title = format!(
                    "{}@{}",
                    d.name.as_deref().unwrap_or(&d.repository),
                    d.reference
                );
                page(&title, &version_page(&d, &r), started, StatusCode::OK)
            }
            Err(e) => error_page(e.into(), started),
        },
    }
}

fn meta_row(out: &mut String, label: &str, value: Option<&str>, link: bool) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        let shown = if link && (v.starts_with("https://") || v.starts_with("http://")) {
            format!("<a href=\"{0}\">{0}</a>", esc(v))
        } else {
            esc(v)
        };
        let _ = writeln!(out, "<dt>{label}</dt><dd>{shown}</dd>");
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn package_page(p: &PackageDetail) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<h1>{}</h1>",
        esc(p.name.as_deref().unwrap_or(&p.repository))
    );
    if let Some(d) = &p.description {
        let _ = writeln!(out, "<p class=\"description\">{}</p>", esc(d));
    }
    out.push_str("<dl class=\"meta\">\n");
    meta_row(&mut out, "Repository", Some(&p.repository), false);
    meta_row(&mut out, "Latest version", p.latest.as_deref(), false);
    meta_row(&mut out, "Kind", p.kind.as_deref(), false);
    meta_row(&mut out, "Licences", p.licenses.as_deref(), false);
    meta_row(&mut out, "Source", p.source.as_deref(), true);
    meta_row(&mut out, "Authors", p.authors.as_deref(), false);
    out.push_str("</dl>\n");
    if let Some(latest) = &p.latest {
        let _ = writeln!(
            out,
            "<p><a class=\"button\" href=\"/packages/{}@{}\">View {} (latest)</a></p>",
            esc(&p.repository),
            esc(latest),
            esc(latest)
        );
    }
    out.push_str("<section aria-labelledby=\"versions\"><h2 id=\"versions\">Versions</h2>\n<table><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Digest</th><th scope=\"col\">Published</th><th scope=\"col\">Status</th></tr></thead><tbody>\n");
    for v in &p.versions {
        let status = match &v.yanked {
            Some(r) => format!("<span class=\"badge yanked\">yanked</span> {}", esc(r)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"/packages/{repo}@{ver}\">{ver}</a></td><td><code title=\"{digest}\">{sd}</code></td><td>{at}</td><td>{status}</td></tr>",
            repo = esc(&p.repository),
            ver = esc(&v.version),
            digest = esc(&v.digest),
            sd = esc(short(&v.digest)),
            at = esc(&v.updated_at),
        );
    }
    out.push_str("</tbody></table></section>\n");
    if !p.tags.is_empty() {
        out.push_str("<section aria-labelledby=\"tags\"><h2 id=\"tags\">Other tags</h2><ul>\n");
        for t in &p.tags {
            let _ = writeln!(
                out,
                "<li><a href=\"/packages/{}@{}\">{}</a> <code>{}</code></li>",
                esc(&p.repository),
                esc(&t.tag),
                esc(&t.tag),
                esc(short(&t.digest))
            );
        }
        out.push_str("</ul></section>\n");
    }
    out
}

fn interface_list(out: &mut String, id: &str, title: &str, names: &[String]) {
    let _ = writeln!(
        out,
        "<section aria-labelledby=\"{id}\"><h2 id=\"{id}\">{title}</h2>"
    );
    if names.is_empty() {
        out.push_str("<p class=\"empty\">None.</p></section>\n");
        return;
    }
    out.push_str("<ul class=\"interfaces\">\n");
    for n in names {
        let _ = writeln!(
            out,
            "<li><a href=\"/search?exports={}\" title=\"Packages that export it\"><code>{}</code></a></li>",
            esc(&q(unversioned(n))),
            esc(n)
        );
    }
    out.push_str("</ul></section>\n");
}

fn copyable(out: &mut String, label: &str, command: &str) {
    let _ = writeln!(
        out,
        "<div class=\"command\"><span>{label}</span><code>{}</code><button type=\"button\" class=\"copy\" data-copy=\"{}\" hidden>Copy</button></div>",
        esc(command),
        esc(command)
    );
}

fn version_page(d: &VersionDetail, r: &Reference) -> String {
    let mut out = String::new();
    let name = d.name.as_deref().unwrap_or(&d.repository);
    let _ = writeln!(
        out,
        "<p class=\"crumbs\"><a href=\"/packages/{}\">{}</a></p><h1>{} <span class=\"version\">{}</span></h1>",
        esc(&d.repository),
        esc(name),
        esc(name),
        esc(&r.to_string())
    );
    if let Some(reason) = &d.yanked {
        let _ = writeln!(
            out,
            "<p class=\"alert\" role=\"note\"><strong>Yanked:</strong> {}</p>",
            esc(reason)
        );
    }
    if let Some(desc) = &d.description {
        let _ = writeln!(out, "<p class=\"description\">{}</p>", esc(desc));
    }
    out.push_str("<dl class=\"meta\">\n");
    meta_row(
        &mut out,
        "Kind",
        d.kind.as_deref().or(d.artifact_type.as_deref()),
        false,
    );
    if let Some(t) = &d.target {
        let _ = writeln!(
            out,
            "<dt>Target world</dt><dd><a href=\"/search?q={}\"><code>{}</code></a></dd>",
            esc(&q(t.split('/').next().unwrap_or(t))),
            esc(t)
        );
    }
    meta_row(&mut out, "Digest", Some(&d.digest), false);
    meta_row(&mut out, "Size", Some(&format!("{} bytes", d.size)), false);
    meta_row(&mut out, "Created", d.created.as_deref(), false);
    meta_row(&mut out, "Licences", d.licenses.as_deref(), false);
    meta_row(&mut out, "Source", d.source.as_deref(), true);
    meta_row(&mut out, "Authors", d.authors.as_deref(), false);
    out.push_str("</dl>\n");

    out.push_str("<section aria-labelledby=\"fetch\"><h2 id=\"fetch\">Fetch</h2>\n");
    copyable(&mut out, "wharf", &d.commands.wharf);
    if let Some(wkg) = &d.commands.wkg {
        copyable(&mut out, "wkg", wkg);
    }
    copyable(&mut out, "oras", &d.commands.oras);
    out.push_str("</section>\n");

    out.push_str("<section aria-labelledby=\"signatures\"><h2 id=\"signatures\">Signatures</h2>\n");
    if d.signatures.is_empty() {
        out.push_str("<p class=\"empty\">Not signed.</p>\n");
    } else {
        out.push_str("<ul class=\"signatures\">\n");
        for s in &d.signatures {
            let _ = writeln!(
                out,
                "<li><span class=\"badge {status}\">{status}</span> {key}{detail} <code title=\"{digest}\">{sd}</code></li>",
                status = esc(&s.status),
                key = s
                    .key_id
                    .as_deref()
                    .map(|k| format!("signed by key <code>{}</code>", esc(k)))
                    .unwrap_or_else(|| "signed by an unknown key".into()),
                detail = s
                    .detail
                    .as_deref()
                    .map(|x| format!(" ({})", esc(x)))
                    .unwrap_or_default(),
                digest = esc(&s.signature_digest.to_string()),
                sd = esc(short(&s.signature_digest.to_string())),
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");

    out.push_str("<section aria-labelledby=\"sbom\"><h2 id=\"sbom\">SBOM</h2>\n");
    match &d.sbom {
        Some(digest) => {
            let _ = writeln!(
                out,
                "<p>CycloneDX bill of materials attached: <a href=\"/v2/{}/manifests/{}\"><code>{}</code></a>. Print it with <code>wharf sbom {}</code>.</p>",
                esc(&d.repository),
                esc(digest),
                esc(short(digest)),
                esc(d.commands.wharf.trim_start_matches("wharf pull ")),
            );
        }
        None => out.push_str("<p class=\"empty\">No SBOM attached.</p>\n"),
    }
    out.push_str("</section>\n");

    interface_list(&mut out, "exports", "Exports", &d.exports);
    interface_list(&mut out, "imports", "Imports", &d.imports);

    if let Some(wit) = &d.wit {
        let _ = writeln!(
            out,
            "<section aria-labelledby=\"wit\"><h2 id=\"wit\">WIT</h2>\n<pre class=\"wit\"><code>{}</code></pre></section>",
            highlight_wit(wit)
        );
    }
    let others: Vec<_> = d.referrers.iter().collect();
    if !others.is_empty() {
        out.push_str("<section aria-labelledby=\"referrers\"><h2 id=\"referrers\">Referrers</h2><table><thead><tr><th scope=\"col\">Artifact type</th><th scope=\"col\">Digest</th></tr></thead><tbody>\n");
        for r in others {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><a href=\"/packages/{}@{}\"><code>{}</code></a></td></tr>",
                esc(r.artifact_type.as_deref().unwrap_or("")),
                esc(&d.repository),
                esc(&r.digest),
                esc(short(&r.digest))
            );
        }
        out.push_str("</tbody></table></section>\n");
    }
    out
}

const KEYWORDS: &[&str] = &[
    "package",
    "world",
    "interface",
    "import",
    "export",
    "use",
    "type",
    "record",
    "variant",
    "enum",
    "flags",
    "resource",
    "func",
    "static",
    "constructor",
    "include",
    "with",
    "as",
    "from",
    "async",
];
const TYPES: &[&str] = &[
    "u8",
    "u16",
    "u32",
    "u64",
    "s8",
    "s16",
    "s32",
    "s64",
    "f32",
    "f64",
    "bool",
    "char",
    "string",
    "list",
    "option",
    "result",
    "tuple",
    "borrow",
    "own",
    "future",
    "stream",
    "error-context",
];

/// WIT as HTML: comments, keywords and built-in types in spans, qualified names
/// (`ns:pkg/interface@version`) linked to the packages that export them.
pub fn highlight_wit(wit: &str) -> String {
    let mut out = String::with_capacity(wit.len() * 2);
    let chars: Vec<char> = wit.chars().collect();
    let mut i = 0;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '%';
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            let start = i;
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let _ = write!(out, "<span class=\"c\">{}</span>", esc(&text));
            continue;
        }
        if word(c) {
            let start = i;
            while i < chars.len()
                && (word(chars[i]) || matches!(chars[i], ':' | '/' | '@' | '.' | '+'))
            {
                i += 1;
            }
            // a trailing `.` belongs to `use a.{b}`, not to the name
            while i > start + 1 && chars[i - 1] == '.' {
                i -= 1;
            }
            let token: String = chars[start..i].iter().collect();
            if token.contains(':') {
                let base = unversioned(&token);
                let target = if base.contains('/') {
                    format!("/search?exports={}", q(base))
                } else {
                    format!("/search?q={}", q(base))
                };
                let _ = write!(
                    out,
                    "<a class=\"ref\" href=\"{}\">{}</a>",
                    esc(&target),
                    esc(&token)
                );
            } else if KEYWORDS.contains(&token.as_str()) {
                let _ = write!(out, "<span class=\"k\">{}</span>", esc(&token));
            } else if TYPES.contains(&token.as_str()) {
                let _ = write!(out, "<span class=\"t\">{}</span>", esc(&token));
            } else {
                out.push_str(&esc(&token));
            }
            continue;
        }
        out.push_str(&esc(&c.to_string()));
        i += 1;
    }
    out
}

/// `GET /repositories`
pub(crate) async fn repositories(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let started = Instant::now();
    let query = Query::parse(raw);
    let page_no = match super::api::number(&query, "page", 1) {
        Ok(n) => n,
        Err(e) => return error_page(e, started),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    match parts
        .with(async |v| state.registry.repository_page(page_no, 100, v).await)
        .await
    {
        Ok((items, total)) => {
            let mut body = format!(
                "<h1>Repositories</h1>\n<p>{total} repositories, Wasm packages and other artifacts.</p>\n<ul class=\"repositories\">\n"
            );
            for r in &items {
                let _ = writeln!(
                    body,
                    "<li><a href=\"/repositories/{0}\">{0}</a></li>",
                    esc(r)
                );
            }
            body.push_str("</ul>\n");
            if total > page_no as usize * 100 {
                let _ = write!(
                    body,
                    "<nav aria-label=\"Pages\"><a rel=\"next\" href=\"/repositories?page={}\">Next</a></nav>",
                    page_no + 1
                );
            }
            page("Repositories", &body, started, StatusCode::OK)
        }
        Err(e) => error_page(e.into(), started),
    }
}

/// `GET /repositories/{repository}`
pub(crate) async fn repository(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let started = Instant::now();
    let repo = match parse_target(&path) {
        Ok((r, _)) => r,
        Err(e) => return error_page(e, started),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    match parts
        .with(async |v| state.registry.repository_detail(&repo, v).await)
        .await
    {
        Ok(d) => page(&d.repository, &repository_page(&d), started, StatusCode::OK),
        Err(e) => error_page(e.into(), started),
    }
}

fn repository_page(d: &RepositoryDetail) -> String {
    let mut out = format!(
        "<h1>{}</h1>\n<table><thead><tr><th scope=\"col\">Tag</th><th scope=\"col\">Artifact type</th><th scope=\"col\">Digest</th><th scope=\"col\">Size</th><th scope=\"col\">Updated</th></tr></thead><tbody>\n",
        esc(&d.repository)
    );
    for t in &d.tags {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"/packages/{repo}@{tag}\">{tag}</a></td><td>{at}</td><td><code title=\"{digest}\">{sd}</code></td><td>{size}</td><td>{up}</td></tr>",
            repo = esc(&d.repository),
            tag = esc(&t.tag),
            at = esc(t
                .kind
                .as_deref()
                .or(t.artifact_type.as_deref())
                .unwrap_or(&t.media_type)),
            digest = esc(&t.digest),
            sd = esc(short(&t.digest)),
            size = t.size,
            up = esc(&t.updated_at),
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

/// `GET /static/wharf.css`
pub(crate) async fn css() -> Response {
    (
        [
            ("content-type", "text/css; charset=utf-8"),
            ("cache-control", "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// `GET /static/wharf.js`
pub(crate) async fn js() -> Response {
    (
        [
            ("content-type", "text/javascript; charset=utf-8"),
            ("cache-control", "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_is_escaped_highlighted_and_linked() {
        let html = highlight_wit(
            "// a <comment>\npackage demo:app@1.0.0;\nworld w {\n  import wasi:http/types@0.2.0;\n  use wasi:io/streams@0.2.12.{input-stream};\n  export run: func(n: u32) -> string;\n}\n",
        );
        assert!(
            html.contains("<span class=\"c\">// a &lt;comment&gt;</span>"),
            "{html}"
        );
        assert!(html.contains("<span class=\"k\">package</span>"));
        assert!(
            html.contains("<a class=\"ref\" href=\"/search?q=demo%3Aapp\">demo:app@1.0.0</a>"),
            "{html}"
        );
        assert!(html.contains("<a class=\"ref\" href=\"/search?exports=wasi%3Ahttp%2Ftypes\">wasi:http/types@0.2.0</a>"), "{html}");
        assert!(
            html.contains(">wasi:io/streams@0.2.12</a>.{input-stream}"),
            "{html}"
        );
        assert!(html.contains("<span class=\"t\">u32</span>"));
        assert!(!html.contains("<comment>"));
    }
}
