//! Signing in to the web UI: `GET /login` (the form), `POST /login` (user name and
//! password, checked like Basic credentials: the htpasswd file, the failed-login limit),
//! `POST /logout`. A session is the `wharf_session` cookie (`Auth::issue_session`:
//! HttpOnly, `SameSite=Lax`, `Secure` behind a TLS proxy), read by the auth middleware for
//! page and catalog API reads only, so a session shows private packages and can do nothing
//! else.
//!
//! CSRF: every form repeats the `wharf_csrf` cookie (a random value set with the sign-in
//! form, `SameSite=Strict`) in a hidden field, and a POST is refused unless they match and
//! its `Origin`, when sent, is this host (OWASP's double-submit cookie and origin check).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::super::AppState;
use super::super::auth::{CSRF_COOKIE, SESSION_COOKIE, client_address, cookie};
use super::{Frame, page};

/// Largest sign-in form body read, in bytes.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// `next` when it is a path on this site (`/…`, not `//host` or `/\host`), else `/`.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// True when the request came over HTTPS through a TLS proxy (cookies then get `Secure`).
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly, `Path=/`, the given `SameSite` and lifetime.
fn set_cookie(
    headers: &HeaderMap,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: u64,
) -> HeaderValue {
    let secure = if forwarded_https(headers) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A fresh CSRF value: two random v4 UUIDs, 244 random bits.
fn fresh_csrf() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Constant-time equality of two secrets.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Refused unless the form's `csrf` repeats the CSRF cookie and `Origin`, when sent, is
/// this host.
fn csrf_ok(headers: &HeaderMap, form_csrf: Option<&str>) -> bool {
    let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            origin.split_once("://").is_some_and(|(scheme, rest)| {
                (scheme == "http" || scheme == "https") && rest == host
            })
        }
    };
    let token_ok = match (cookie(headers, CSRF_COOKIE), form_csrf) {
        (Some(c), Some(f)) => same(c, f),
        _ => false,
    };
    origin_ok && token_ok
}

fn login_form(frame: &Frame, csrf: &str, next: &str, problem: Option<&str>) -> maud::Markup {
    html! {
        h1 { "Sign in" }
        @if let Some(p) = problem {
            p.alert role="alert" { (p) }
        }
        form.login action="/login" method="post" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            div {
                label for="user" { "User name" }
                input #user name="user" type="text" autocomplete="username" required autofocus;
            }
            div {
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
            }
            button type="submit" { "Sign in" }
        }
        p { "The same users and permissions as the registry: signed in, you see the packages you may pull." }
        @if frame.user.is_some() {
            p { "You are signed in already; signing in again replaces the session." }
        }
    }
}

/// The sign-in page, with a CSRF cookie when the browser has none yet.
fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    frame: &Frame,
    next: &str,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    if state.auth.is_none() {
        let body = html! {
            h1 { "No sign-in here" }
            p { "This registry has no users: everything it holds is public." }
        };
        return page("Sign in", body, frame, StatusCode::NOT_FOUND);
    }
    let existing = cookie(headers, CSRF_COOKIE).map(str::to_owned);
    let csrf = existing.clone().unwrap_or_else(fresh_csrf);
    let mut resp = page(
        "Sign in",
        login_form(frame, &csrf, next, problem),
        frame,
        status,
    );
    if existing.is_none() {
        resp.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(headers, CSRF_COOKIE, &csrf, "Strict", 12 * 3600),
        );
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /login?next=/path`
pub(crate) async fn login_get(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    identity: Option<axum::Extension<super::Identity>>,
) -> Response {
    let frame = Frame::new(&state, &headers, identity.as_deref(), &uri);
    let query = super::Query::parse(uri.query().map(str::to_owned));
    let next = local_path(query.get("next"));
    login_page(&state, &headers, &frame, &next, None, StatusCode::OK)
}

/// The fields of a form body (`application/x-www-form-urlencoded`), at most
/// [`MAX_FORM_BYTES`].
async fn form(req: Request) -> Option<std::collections::HashMap<String, String>> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
        .await
        .ok()?;
    Some(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// `POST /login`
pub(crate) async fn login_post(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let headers = req.headers().clone();
    let uri = req.uri().clone();
    let client = client_address(&req);
    let frame = Frame::new(&state, &headers, None, &uri);
    let Some(auth) = state.auth.as_ref() else {
        return login_page(&state, &headers, &frame, "/", None, StatusCode::NOT_FOUND);
    };
    let Some(fields) = form(req).await else {
        return login_page(
            &state,
            &headers,
            &frame,
            "/",
            Some("The form could not be read (at most 16 KiB of form fields)."),
            StatusCode::BAD_REQUEST,
        );
    };
    let next = local_path(fields.get("next").map(String::as_str));
    if !csrf_ok(&headers, fields.get("csrf").map(String::as_str)) {
        return login_page(
            &state,
            &headers,
            &frame,
            &next,
            Some("This form expired or came from another site: sign in again from this page."),
            StatusCode::FORBIDDEN,
        );
    }
    let user = fields.get("user").cloned().unwrap_or_default();
    let password = fields.get("password").cloned().unwrap_or_default();
    if let Err(secs) = auth.login_allowed(client) {
        return login_page(
            &state,
            &headers,
            &frame,
            &next,
            Some(&format!(
                "Too many failed sign-ins from this address: try again in {secs} s."
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let checker = state.clone();
    let name = user.clone();
    // bcrypt is slow by design: keep it off the async threads
    let ok = tokio::task::spawn_blocking(move || {
        checker
            .auth
            .as_ref()
            .is_some_and(|a| a.check_password(&name, &password))
    })
    .await
    .unwrap_or(false);
    if !ok {
        auth.login_failed(client);
        return login_page(
            &state,
            &headers,
            &frame,
            &next,
            Some("Wrong user name or password."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let session = match auth.issue_session(&user) {
        Ok(s) => s,
        Err(e) => {
            let e = crate::service::ServiceError::Internal(e.to_string());
            return super::error_page(e.into(), &frame);
        }
    };
    tracing::info!(user = %user, "signed in to the web UI");
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &headers,
            SESSION_COOKIE,
            &session,
            "Lax",
            crate::auth::SESSION_TTL.as_secs(),
        ),
    );
    resp
}

/// `POST /logout`
pub(crate) async fn logout(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let headers = req.headers().clone();
    let uri = req.uri().clone();
    let frame = Frame::new(&state, &headers, None, &uri);
    let fields = form(req).await.unwrap_or_default();
    if !csrf_ok(&headers, fields.get("csrf").map(String::as_str)) {
        let e = super::ApiError::new(
            super::super::ErrorCode::Denied,
            "sign out from a page of this site (the form's CSRF value did not match)",
        );
        return super::error_page(e, &frame);
    }
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&headers, SESSION_COOKIE, "", "Lax", 0),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path(Some("/packages/a/b?x=1")), "/packages/a/b?x=1");
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "x",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn csrf_needs_the_cookie_repeated_and_a_same_origin() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("reg:5000"));
        assert!(!csrf_ok(&h, Some("abc")), "no cookie");
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; wharf_csrf=abc"),
        );
        assert!(csrf_ok(&h, Some("abc")));
        assert!(!csrf_ok(&h, Some("abd")));
        assert!(!csrf_ok(&h, None));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!csrf_ok(&h, Some("abc")), "another origin");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://reg:5000"));
        assert!(csrf_ok(&h, Some("abc")));
    }
}
