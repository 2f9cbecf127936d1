//! The web UI: server-rendered HTML from the same catalog service methods as the JSON
//! API. Readable without JavaScript (one small script adds copy buttons); semantic HTML
//! with a skip link, labelled forms and visible focus. Every page answers with a
//! `Server-Timing: app;dur=<ms>` header so its server time can be measured.
//!
//! Pages are written with maud's `html!` templates: every interpolated value is escaped
//! unless it is wrapped in `PreEscaped`, which nothing here does, so no value a client
//! pushed (names, annotations, WIT) can become markup.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use wharf_oci::{Digest, Reference};

use super::AppState;
use super::api::{ViewerParts, parse_target, search_query};
use super::auth::Identity;
use super::{ApiError, Query};
use crate::service::{
    PackageDetail, PackagePage, RepositoryDetail, SearchQuery, VersionDetail, WitTarget,
};
use crate::store::unversioned;

mod session;
pub(crate) use session::{login_get, login_post, logout};

const CSS: &str = include_str!("ui/wharf.css");
const JS: &str = include_str!("ui/wharf.js");

/// Percent-encode a query value.
fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The first 19 characters of a digest (`sha256:` and 12 hex digits).
fn short(digest: &Digest) -> String {
    let text = digest.to_string();
    text.get(..19).unwrap_or(&text).to_owned()
}

/// A time for people: RFC 3339 to the second, UTC.
fn when(t: &crate::store::Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What frames every page: its start (for the measured server time), who is signed in,
/// and what the header's sign-in or sign-out form needs.
pub(crate) struct Frame {
    started: Instant,
    /// The user the request is served as (a session, or Basic credentials).
    user: Option<String>,
    /// True when the registry has users to sign in as.
    sign_in: bool,
    /// The CSRF cookie's value, which the sign-out form repeats.
    csrf: Option<String>,
    /// This page's path and query, where signing in or out comes back to.
    here: String,
}

impl Frame {
    pub(crate) fn new(
        state: &AppState,
        headers: &HeaderMap,
        identity: Option<&Identity>,
        here: &axum::http::Uri,
    ) -> Frame {
        Frame {
            started: Instant::now(),
            user: identity.and_then(|i| i.user.clone()),
            sign_in: state.auth.is_some(),
            csrf: super::auth::cookie(headers, super::auth::CSRF_COOKIE).map(str::to_owned),
            here: here
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        }
    }
}

/// The header's account corner: a sign-in link, or who is signed in and a sign-out form.
fn account(frame: &Frame) -> Markup {
    html! {
        @if frame.sign_in {
            div.account {
                @match (&frame.user, &frame.csrf) {
                    (Some(user), Some(csrf)) => {
                        span { "Signed in as " strong { (user) } }
                        form action="/logout" method="post" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                    (Some(user), None) => span { "Signed in as " strong { (user) } },
                    (None, _) => a href={ "/login?next=" (q(&frame.here)) } { "Sign in" },
                }
            }
        }
    }
}

/// A whole page around `body`, with the measured server time.
pub(crate) fn page(title: &str, body: Markup, frame: &Frame, status: StatusCode) -> Response {
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · wharf" }
                link rel="stylesheet" href="/static/wharf.css";
                script src="/static/wharf.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Site" {
                        a.brand href="/" { "wharf" }
                        a href="/search" { "Packages" }
                        a href="/repositories" { "Repositories" }
                        a href="/api/v1/openapi.json" { "API" }
                    }
                    form role="search" action="/search" method="get" {
                        label for="site-q" class="visually-hidden" { "Search packages" }
                        input #site-q name="q" type="search" placeholder="Search packages";
                        button type="submit" { "Search" }
                    }
                    (account(frame))
                }
                main #main tabindex="-1" { (body) }
            }
        }
    };
    let ms = frame.started.elapsed().as_secs_f64() * 1000.0;
    (
        status,
        [
            ("content-type", "text/html; charset=utf-8".to_owned()),
            ("server-timing", format!("app;dur={ms:.2}")),
            // what a page shows depends on who asks; a signed-in page is kept by no cache
            ("vary", "Cookie, Authorization".to_owned()),
            (
                "cache-control",
                if frame.user.is_some() {
                    "private, no-store"
                } else {
                    "no-cache"
                }
                .to_owned(),
            ),
        ],
        html.into_string(),
    )
        .into_response()
}

pub(crate) fn error_page(e: ApiError, frame: &Frame) -> Response {
    let body = html! {
        h1 { (e.status().canonical_reason().unwrap_or("Error")) }
        p { (e.message()) }
        p { a href="/" { "Back to the start page" } }
    };
    page("Error", body, frame, e.status())
}

/// The search form, pre-filled from `sq`.
fn search_form(sq: &SearchQuery) -> Markup {
    let (by, interface) = match (sq.exports.is_empty(), sq.imports.is_empty()) {
        (false, _) => ("exports", sq.exports.as_str()),
        (_, false) => ("imports", sq.imports.as_str()),
        _ => ("exports", ""),
    };
    html! {
        form.search action="/search" method="get" role="search" aria-label="Packages" {
            div {
                label for="q" { "Name or description" }
                input #q name="q" type="search" value=(sq.text);
            }
            div {
                label for="by" { "Interface" }
                select #by name="by" {
                    option value="exports" selected[by == "exports"] { "exported" }
                    option value="imports" selected[by == "imports"] { "imported" }
                }
                label for="interface" class="visually-hidden" { "Interface name" }
                input #interface name="interface" type="search"
                    placeholder="wasi:http/incoming-handler or wasi:sockets/*" value=(interface);
            }
            button type="submit" { "Search" }
        }
    }
}

fn package_list(p: &PackagePage) -> Markup {
    html! {
        @if p.packages.is_empty() {
            p.empty { "No packages found." }
        } @else {
            ol.packages {
                @for pkg in &p.packages {
                    li {
                        a href={ "/packages/" (pkg.repository) } {
                            (pkg.name.as_deref().unwrap_or(pkg.repository.as_str()))
                        }
                        " " span.version { (pkg.latest) }
                        " " span.kind { (pkg.kind.as_str()) }
                        @if let Some(t) = &pkg.target {
                            " " span.target { "targets " code { (t) } }
                        }
                        p { (pkg.description.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
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
    uri: axum::http::Uri,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let frame = Frame::new(&state, &headers, identity.as_deref(), &uri);
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
            let body = html! {
                h1 { "WebAssembly packages" }
                p {
                    (recent.total)
                    " packages. Find a component by name, or by an interface it exports or imports."
                }
                (search_form(&SearchQuery::default()))
                section aria-labelledby="recent" {
                    h2 #recent { "Recently published" }
                    (package_list(&recent))
                }
            };
            page("Packages", body, &frame, StatusCode::OK)
        }
        Err(e) => error_page(e.into(), &frame),
    }
}

/// `GET /search`
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let frame = Frame::new(&state, &headers, identity.as_deref(), &uri);
    let query = Query::parse(raw);
    let sq = match ui_search(&query) {
        Ok(sq) => sq,
        Err(e) => return error_page(e, &frame),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    let result = match parts
        .with(async |v| state.registry.search_packages(&sq, v).await)
        .await
    {
        Ok(r) => r,
        Err(e) => return error_page(e.into(), &frame),
    };
    let pages = result.total.div_ceil(result.per_page as usize).max(1);
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
    let body = html! {
        h1 {
            @if !sq.exports.is_empty() {
                "Packages exporting " code { (sq.exports) }
            } @else if !sq.imports.is_empty() {
                "Packages importing " code { (sq.imports) }
            } @else if !sq.text.is_empty() {
                "Packages matching “" (sq.text) "”"
            } @else {
                "All packages"
            }
        }
        (search_form(&sq))
        p.count { (result.total) " found" }
        (package_list(&result))
        @if pages > 1 {
            nav.pages aria-label="Pages" {
                @if result.page > 1 {
                    a rel="prev" href=(link(result.page - 1)) { "Previous" } " "
                }
                span { "Page " (result.page) " of " (pages) }
                @if (result.page as usize) < pages {
                    " " a rel="next" href=(link(result.page + 1)) { "Next" }
                }
            }
        }
    };
    page("Search", body, &frame, StatusCode::OK)
}

/// `GET /packages/{repository}` and `/packages/{repository}@{version}`
pub(crate) async fn package(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    Path(path): Path<String>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let frame = Frame::new(&state, &headers, identity.as_deref(), &uri);
    let (repo, reference) = match parse_target(&path) {
        Ok(t) => t,
        Err(e) => return error_page(e, &frame),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    match reference {
        None => match parts
            .with(async |v| state.registry.package(&repo, v).await)
            .await
        {
            Ok(p) => page(
                p.name.as_deref().unwrap_or(p.repository.as_str()),
                package_page(&p),
                &frame,
                StatusCode::OK,
            ),
            Err(e) => error_page(e.into(), &frame),
        },
        Some(r) => match parts
            .with(async |v| state.registry.version(&repo, &r, v).await)
            .await
        {
            Ok(d) => {
                let names = d.wit.as_deref().map(wit_references).unwrap_or_default();
                let targets = parts
                    .with(async |v| {
                        state
                            .registry
                            .wit_targets(names.iter().map(String::as_str), v)
                            .await
                    })
                    .await
                    .unwrap_or_default();
                let title = format!(
                    "{}@{}",
                    d.name.as_deref().unwrap_or(d.repository.as_str()),
                    d.reference
                );
                page(
                    &title,
                    version_page(&d, &r, &targets),
                    &frame,
                    StatusCode::OK,
                )
            }
            Err(e) => error_page(e.into(), &frame),
        },
    }
}

/// One `<dt>`/`<dd>` pair, left out when there is no value; `link` makes an http(s)
/// value a link.
fn meta_row(label: &str, value: Option<&str>, link: bool) -> Markup {
    html! {
        @if let Some(v) = value.filter(|v| !v.is_empty()) {
            dt { (label) }
            dd {
                @if link && (v.starts_with("https://") || v.starts_with("http://")) {
                    a href=(v) { (v) }
                } @else {
                    (v)
                }
            }
        }
    }
}

/// A size for people: bytes, KiB or MiB.
fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// A doc comment, its line breaks kept.
fn doc_text(docs: Option<&str>) -> Markup {
    html! {
        @if let Some(d) = docs {
            p.docs { (d) }
        }
    }
}

fn function_list(functions: &[wharf_component::FunctionDoc]) -> Markup {
    html! {
        @if !functions.is_empty() {
            dl.functions {
                @for f in functions {
                    dt { code { span.fn-name { (f.name) } ": " (f.signature) } }
                    dd { (doc_text(f.docs.as_deref())) }
                }
            }
        }
    }
}

/// The interfaces a package exports (or defines), as documentation.
fn interface_docs(p: &PackageDetail) -> Markup {
    let imported_by = |name: &str| {
        let base = unversioned(name);
        p.dependents
            .iter()
            .find(|d| d.interface == base)
            .map_or(0, |d| d.packages)
    };
    let title = if p.kind == Some(crate::store::WasmKind::WitPackage) {
        "Interfaces"
    } else {
        "Exported interfaces"
    };
    html! {
        section aria-labelledby="interfaces" {
            h2 #interfaces { (title) }
            @if p.interfaces.is_empty() {
                p.empty { "No interfaces to document." }
            }
            @for i in &p.interfaces {
                article.interface {
                    h3 { code { (i.name) } }
                    (doc_text(i.docs.as_deref()))
                    p.dependents {
                        @match imported_by(&i.name) {
                            0 => "No package here imports it.",
                            n => {
                                a href={ "/search?by=imports&interface=" (q(unversioned(&i.name))) } {
                                    "Imported by " (n) @if n == 1 { " package" } @else { " packages" }
                                }
                            }
                        }
                    }
                    (function_list(&i.functions))
                    @for t in &i.types {
                        div.type-doc {
                            h4 { span.kind { (t.kind) } " " code { (t.name) } }
                            (doc_text(t.docs.as_deref()))
                            @if !t.members.is_empty() {
                                ul.members { @for m in &t.members { li { code { (m) } } } }
                            }
                            (function_list(&t.functions))
                        }
                    }
                }
            }
        }
    }
}

fn package_page(p: &PackageDetail) -> Markup {
    let latest = p.latest.as_ref().map(|t| t.as_str());
    html! {
        h1 { (p.name.as_deref().unwrap_or(p.repository.as_str())) @if let Some(l) = latest { " " span.version { (l) } } }
        @if let Some(d) = &p.description {
            p.description { (d) }
        }
        dl.meta {
            (meta_row("Repository", Some(p.repository.as_str()), false))
            (meta_row("Latest version", latest, false))
            (meta_row("Kind", p.kind.map(|k| k.as_str()), false))
            (meta_row("Target world", p.target.as_deref(), false))
            (meta_row("Size", p.size.map(human_size).as_deref(), false))
            (meta_row("Licences", p.licenses.as_deref(), false))
            (meta_row("Source", p.source.as_deref(), true))
            (meta_row("Documentation", p.documentation.as_deref(), true))
            (meta_row("Homepage", p.homepage.as_deref(), true))
            (meta_row("Authors", p.authors.as_deref(), false))
        }
        @if let Some(latest) = latest {
            p {
                a.button href={ "/packages/" (p.repository) "@" (latest) } {
                    "View " (latest) " (latest): fetch commands, WIT, signatures"
                }
            }
        }
        @if p.kind.is_some() && p.kind != Some(crate::store::WasmKind::WitPackage) {
            section aria-labelledby="capabilities" {
                h2 #capabilities { "What it asks of its host" }
                @if p.capabilities.is_empty() {
                    p.empty { "Nothing: it imports no WASI capability." }
                } @else {
                    ul.capabilities {
                        @for c in &p.capabilities {
                            li data-capability=(c.id) {
                                strong { (c.description) }
                                " "
                                span.interfaces {
                                    @for (i, name) in c.interfaces.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        code { (name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if p.kind.is_some() {
            (interface_docs(p))
        }
        section aria-labelledby="versions" {
            h2 #versions { "Versions" }
            table {
                thead {
                    tr {
                        th scope="col" { "Version" }
                        th scope="col" { "Digest" }
                        th scope="col" { "Published" }
                        th scope="col" { "Signed" }
                        th scope="col" { "Status" }
                    }
                }
                tbody {
                    @for v in &p.versions {
                        tr {
                            td { a href={ "/packages/" (p.repository) "@" (v.version) } { (v.version) } }
                            td { code title=(v.digest) { (short(&v.digest)) } }
                            td { (when(&v.updated_at)) }
                            td {
                                @if v.verified_signatures > 0 {
                                    span.badge.verified { "verified" }
                                } @else if v.signatures > 0 {
                                    span.badge.unverified { "signed" }
                                }
                            }
                            td {
                                @if let Some(reason) = &v.yanked {
                                    span.badge.yanked { "yanked" } " " (reason)
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !p.tags.is_empty() {
            section aria-labelledby="tags" {
                h2 #tags { "Other tags" }
                ul {
                    @for t in &p.tags {
                        li {
                            a href={ "/packages/" (p.repository) "@" (t.tag) } { (t.tag) }
                            " " code { (short(&t.digest)) }
                        }
                    }
                }
            }
        }
    }
}

fn interface_list(id: &str, title: &str, names: &[String]) -> Markup {
    html! {
        section aria-labelledby=(id) {
            h2 id=(id) { (title) }
            @if names.is_empty() {
                p.empty { "None." }
            } @else {
                ul.interfaces {
                    @for n in names {
                        li {
                            a href={ "/search?exports=" (q(unversioned(n))) } title="Packages that export it" {
                                code { (n) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A command with a copy button (shown by the script).
fn copyable(label: &str, command: &str) -> Markup {
    html! {
        div.command {
            span { (label) }
            code { (command) }
            button.copy type="button" data-copy=(command) hidden { "Copy" }
        }
    }
}

fn version_page(d: &VersionDetail, r: &Reference, targets: &BTreeMap<String, WitTarget>) -> Markup {
    let name = d.name.as_deref().unwrap_or(d.repository.as_str());
    let a = &d.artifact;
    let version_href = |digest: &Digest| format!("/packages/{}@{digest}", d.repository);
    html! {
        p.crumbs { a href={ "/packages/" (d.repository) } { (name) } }
        h1 {
            (name) " "
            @match r {
                Reference::Digest(digest) => span.version title=(digest) { (short(digest)) },
                Reference::Tag(tag) => span.version { (tag) },
            }
        }
        @if let Some(reason) = &d.yanked {
            p.alert role="note" { strong { "Yanked:" } " " (reason) }
        }
        @if let Some(desc) = &d.description {
            p.description { (desc) }
        }
        dl.meta {
            (meta_row("Kind", Some(a.class.label()), false))
            @if !a.class.is_wasm() {
                (meta_row("Artifact type", d.artifact_type.as_deref(), false))
                (meta_row("Media type", Some(&d.media_type), false))
            }
            @if let Some(t) = &d.target {
                dt { "Target world" }
                dd { a href={ "/search?q=" (q(t.split('/').next().unwrap_or(t))) } { code { (t) } } }
            }
            (meta_row("Platform", a.platform.as_deref(), false))
            @if let Some(subject) = &a.subject {
                dt { "Refers to" }
                dd { a href=(version_href(subject)) { code { (short(subject)) } } }
            }
            (meta_row("Predicate type", a.predicate_type.as_deref(), false))
            @if let Some(v) = &a.attestation {
                dt { "Verification" }
                dd {
                    span class={ "badge " (v.status.as_str()) } { (v.status.as_str()) }
                    @if let Some(signer) = &v.signer { " by " code { (signer) } }
                    @if let Some(why) = &v.detail { " — " (why) }
                }
            }
            (meta_row("Digest", Some(&d.digest.to_string()), false))
            (meta_row("Size", Some(&format!("{} bytes", d.size)), false))
            (meta_row("Created", d.created.as_deref(), false))
            (meta_row("Licences", d.licenses.as_deref(), false))
            (meta_row("Source", d.source.as_deref(), true))
            (meta_row("Authors", d.authors.as_deref(), false))
        }
        section aria-labelledby="fetch" {
            h2 #fetch { "Fetch" }
            @for c in &d.commands {
                (copyable(&c.tool, &c.command))
            }
        }
        @if let Some(sbom) = &a.sbom {
            section aria-labelledby="components" {
                h2 #components { "Components" }
                p {
                    (sbom.format)
                    @if let Some(what) = &sbom.describes { " bill of materials of " strong { (what) } }
                    ": " (sbom.total) @if sbom.total == 1 { " component" } @else { " components" }
                    @if sbom.components.len() < sbom.total { ", the first " (sbom.components.len()) " shown" }
                    "."
                }
                table.components {
                    thead {
                        tr {
                            th scope="col" { "Component" }
                            th scope="col" { "Version" }
                            th scope="col" { "Licences" }
                            th scope="col" { "Package URL" }
                        }
                    }
                    tbody {
                        @for c in &sbom.components {
                            tr {
                                td { (c.name) }
                                td { (c.version.as_deref().unwrap_or("")) }
                                td { (c.licenses.join(", ")) }
                                td { @if let Some(p) = &c.purl { code { (p) } } }
                            }
                        }
                    }
                }
            }
        } @else if a.class == crate::service::ArtifactClass::Sbom {
            section aria-labelledby="components" {
                h2 #components { "Components" }
                p.empty { "The document is not CycloneDX or SPDX JSON this registry can read (or larger than 16 MiB)." }
            }
        }
        @if !a.manifests.is_empty() {
            section aria-labelledby="manifests" {
                h2 #manifests { "Manifests" }
                table {
                    thead {
                        tr {
                            th scope="col" { "Platform" }
                            th scope="col" { "Media type" }
                            th scope="col" { "Digest" }
                            th scope="col" { "Size" }
                        }
                    }
                    tbody {
                        @for m in &a.manifests {
                            tr {
                                td { (m.platform.as_deref().or(m.artifact_type.as_deref()).unwrap_or("")) }
                                td { (m.media_type) }
                                td { a href=(version_href(&m.digest)) { code title=(m.digest) { (short(&m.digest)) } } }
                                td { (m.size) }
                            }
                        }
                    }
                }
            }
        }
        @if !a.class.is_wasm() && !a.layers.is_empty() {
            section aria-labelledby="layers" {
                h2 #layers { "Layers" }
                table {
                    thead {
                        tr {
                            th scope="col" { "Media type" }
                            th scope="col" { "Title" }
                            th scope="col" { "Digest" }
                            th scope="col" { "Size" }
                        }
                    }
                    tbody {
                        @for l in &a.layers {
                            tr {
                                td { (l.media_type) }
                                td { (l.title.as_deref().unwrap_or("")) }
                                td { code title=(l.digest) { (short(&l.digest)) } }
                                td { (l.size) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="signatures" {
            h2 #signatures { "Signatures" }
            @if d.signatures.is_empty() {
                p.empty { "Not signed." }
            } @else {
                ul.signatures {
                    @for s in &d.signatures {
                        li {
                            span class={ "badge " (s.status) } { (s.status) } " "
                            @match &s.key_id {
                                Some(k) => { "signed by key " code { (k) } }
                                None => { "signed by an unknown key" }
                            }
                            @if let Some(x) = &s.detail { " (" (x) ")" }
                            " " a href=(version_href(&s.signature_digest)) { code title=(s.signature_digest) { (short(&s.signature_digest)) } }
                        }
                    }
                }
            }
        }
        @if a.class != crate::service::ArtifactClass::Sbom {
            section aria-labelledby="sbom" {
                h2 #sbom { "SBOM" }
                @match &d.sbom {
                    Some(digest) => p {
                        "CycloneDX bill of materials attached: "
                        a href=(version_href(digest)) { "its components" }
                        " (" code { (short(digest)) } ")."
                    },
                    None => p.empty { "No SBOM attached." },
                }
            }
        }
        @if a.class.is_wasm() {
            (interface_list("exports", "Exports", &d.exports))
            (interface_list("imports", "Imports", &d.imports))
        }
        @if let Some(wit) = &d.wit {
            section aria-labelledby="wit" {
                h2 #wit { "WIT" }
                pre.wit { code { (highlight_wit(wit, targets)) } }
            }
        }
        @if !d.referrers.is_empty() {
            section aria-labelledby="referrers" {
                h2 #referrers { "Referrers" }
                table {
                    thead { tr { th scope="col" { "Artifact type" } th scope="col" { "Digest" } } }
                    tbody {
                        @for r in &d.referrers {
                            tr {
                                td { (r.artifact_type.as_deref().unwrap_or("")) }
                                td {
                                    a href=(version_href(&r.digest)) {
                                        code { (short(&r.digest)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
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

/// One piece of highlighted WIT.
enum WitToken<'a> {
    /// A `//` comment to the end of the line.
    Comment(String),
    /// A keyword.
    Keyword(&'a str),
    /// A built-in type.
    Type(&'a str),
    /// A qualified name (`ns:pkg`, `ns:pkg/interface@version`).
    Reference { text: String },
    /// Anything else.
    Text(String),
}

/// The tokens of `wit`: comments, keywords, built-in types, qualified names.
fn wit_tokens(wit: &str) -> Vec<WitToken<'static>> {
    let mut out = Vec::new();
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
            out.push(WitToken::Comment(chars[start..i].iter().collect()));
            continue;
        }
        if word(c) {
            let start = i;
            while i < chars.len()
                && (word(chars[i]) || matches!(chars[i], ':' | '/' | '@' | '.' | '+'))
            {
                i += 1;
            }
            // a trailing `.` belongs to `use a.{b}`, and a trailing `:` to `name: type`
            while i > start + 1 && matches!(chars[i - 1], '.' | ':') {
                i -= 1;
            }
            let token: String = chars[start..i].iter().collect();
            if token.contains(':') {
                out.push(WitToken::Reference { text: token });
            } else if let Some(k) = KEYWORDS.iter().find(|k| **k == token) {
                out.push(WitToken::Keyword(k));
            } else if let Some(t) = TYPES.iter().find(|t| **t == token) {
                out.push(WitToken::Type(t));
            } else {
                out.push(WitToken::Text(token));
            }
            continue;
        }
        out.push(WitToken::Text(c.to_string()));
        i += 1;
    }
    out
}

/// The qualified names (`ns:pkg`, `ns:pkg/interface@version`) in `wit`.
pub fn wit_references(wit: &str) -> Vec<String> {
    wit_tokens(wit)
        .into_iter()
        .filter_map(|t| match t {
            WitToken::Reference { text } => Some(text),
            _ => None,
        })
        .collect()
}

/// The page a [`WitTarget`] is shown on.
fn target_href(t: &WitTarget) -> String {
    match t {
        WitTarget::Exporters(interface) => format!("/search?exports={}", q(interface)),
        WitTarget::Package(repo) => format!("/packages/{repo}"),
    }
}

/// WIT as HTML: comments, keywords and built-in types in spans; a qualified name
/// (`ns:pkg/interface@version`) is a link when `targets` (by name without version) says
/// where it leads: the packages exporting it, or its package. Other names, and names
/// followed by `:` (functions, fields, parameters), are plain text.
pub fn highlight_wit(wit: &str, targets: &BTreeMap<String, WitTarget>) -> Markup {
    html! {
        @for t in wit_tokens(wit) {
            @match t {
                WitToken::Comment(c) => span.c { (c) },
                WitToken::Keyword(k) => span.k { (k) },
                WitToken::Type(t) => span.t { (t) },
                WitToken::Reference { text } => {
                    @match targets.get(unversioned(&text)) {
                        Some(target) => a.ref href=(target_href(target)) { (text) },
                        None => (text),
                    }
                }
                WitToken::Text(s) => (s),
            }
        }
    }
}

/// `GET /repositories`
pub(crate) async fn repositories(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let frame = Frame::new(&state, &headers, identity.as_deref(), &uri);
    let query = Query::parse(raw);
    let page_no = match super::api::number(&query, "page", 1) {
        Ok(n) => n,
        Err(e) => return error_page(e, &frame),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    match parts
        .with(async |v| state.registry.repository_page(page_no, 100, v).await)
        .await
    {
        Ok(listing) => {
            let (items, total) = (listing.repositories, listing.total);
            let body = html! {
                h1 { "Repositories" }
                p { (total) " repositories, Wasm packages and other artifacts." }
                ul.repositories {
                    @for r in &items {
                        li { a href={ "/repositories/" (r) } { (r) } }
                    }
                }
                @if total > page_no as usize * 100 {
                    nav aria-label="Pages" {
                        a rel="next" href={ "/repositories?page=" (page_no + 1) } { "Next" }
                    }
                }
            };
            page("Repositories", body, &frame, StatusCode::OK)
        }
        Err(e) => error_page(e.into(), &frame),
    }
}

/// `GET /repositories/{repository}`
pub(crate) async fn repository(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    Path(path): Path<String>,
    headers: HeaderMap,
    identity: Option<axum::Extension<Identity>>,
) -> Response {
    let frame = Frame::new(&state, &headers, identity.as_deref(), &uri);
    let repo = match parse_target(&path) {
        Ok((r, _)) => r,
        Err(e) => return error_page(e, &frame),
    };
    let parts = ViewerParts::new(&state, &headers, identity.as_deref());
    match parts
        .with(async |v| state.registry.repository_detail(&repo, v).await)
        .await
    {
        Ok(d) => page(
            d.repository.as_str(),
            repository_page(&d),
            &frame,
            StatusCode::OK,
        ),
        Err(e) => error_page(e.into(), &frame),
    }
}

fn repository_page(d: &RepositoryDetail) -> Markup {
    html! {
        h1 { (d.repository) }
        table {
            thead {
                tr {
                    th scope="col" { "Tag" }
                    th scope="col" { "Artifact type" }
                    th scope="col" { "Digest" }
                    th scope="col" { "Size" }
                    th scope="col" { "Updated" }
                }
            }
            tbody {
                @for t in &d.tags {
                    tr {
                        td { a href={ "/packages/" (d.repository) "@" (t.tag) } { (t.tag) } }
                        td {
                            (t.kind.map(|k| k.as_str()).or(t.artifact_type.as_deref()).unwrap_or(&t.media_type))
                        }
                        td { code title=(t.digest) { (short(&t.digest)) } }
                        td { (t.size) }
                        td { (when(&t.updated_at)) }
                    }
                }
            }
        }
    }
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
        let targets = BTreeMap::from([
            (
                "demo:app".to_owned(),
                WitTarget::Package("demo/app".parse().unwrap()),
            ),
            (
                "wasi:http/types".to_owned(),
                WitTarget::Exporters("wasi:http/types".into()),
            ),
        ]);
        let html = highlight_wit(
            "// a <comment>\npackage demo:app@1.0.0;\nworld w {\n  import wasi:http/types@0.2.0;\n  use wasi:io/streams@0.2.12.{input-stream};\n  export run: func(n: u32) -> string;\n}\n",
            &targets,
        )
        .into_string();
        assert!(
            html.contains("<span class=\"c\">// a &lt;comment&gt;</span>"),
            "{html}"
        );
        assert!(html.contains("<span class=\"k\">package</span>"));
        assert!(
            html.contains("<a class=\"ref\" href=\"/packages/demo/app\">demo:app@1.0.0</a>"),
            "{html}"
        );
        assert!(html.contains("<a class=\"ref\" href=\"/search?exports=wasi%3Ahttp%2Ftypes\">wasi:http/types@0.2.0</a>"), "{html}");
        // a name that leads nowhere here is text, not a link
        assert!(
            html.contains(" wasi:io/streams@0.2.12.{input-stream}"),
            "{html}"
        );
        assert_eq!(html.matches("<a ").count(), 2, "{html}");
        assert!(html.contains("<span class=\"t\">u32</span>"));
        assert!(!html.contains("<comment>"));
        // names before `:` (functions, parameters, fields) are not references
        assert!(
            html.contains("run: <span class=\"k\">func</span>(n: "),
            "{html}"
        );
        assert_eq!(
            wit_references("package a:b@1.0.0;\nworld w { import c:d/e; export f: func(); }"),
            ["a:b@1.0.0", "c:d/e"]
        );
    }

    #[test]
    fn values_from_clients_are_escaped_in_pages() {
        let markup = meta_row(
            "Source",
            Some("https://x/\"><script>alert(1)</script>"),
            true,
        );
        let html = markup.into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("href=\"https://x/&quot;&gt;"), "{html}");
    }
}
