//! Authentication middleware and the token endpoint (Docker/OCI token flow).
//!
//! A request to `/v2/…` needs, per repository, `pull` (reads), `push` (uploads, manifest
//! pushes; plus `pull` on the source of a cross-repository mount) or `delete`. Credentials
//! come as `Authorization: Basic` (checked against the htpasswd file) or `Bearer` (a token
//! from `/token`). Anonymous or under-scoped requests get 401 with
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=repository:<name>:<actions>`; an
//! authenticated user without the permission gets 403 `DENIED`. The answer never depends
//! on whether the repository exists.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::route::{self, Route};
use super::{ApiError, Query};
use crate::AppState;
use crate::auth::{Action, Auth, Token};

/// Who made a request, for handlers that filter by permission (`_catalog`).
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// The user name, when authenticated.
    pub user: Option<String>,
}

enum Who {
    Anonymous,
    User(String),
    Token(Token),
}

impl Who {
    fn user(&self) -> Option<&str> {
        match self {
            Who::Anonymous => None,
            Who::User(u) => Some(u),
            Who::Token(t) => (!t.subject.is_empty()).then_some(t.subject.as_str()),
        }
    }

    fn may(&self, auth: &Auth, repo: &str, action: Action) -> bool {
        match self {
            Who::Anonymous => auth.permitted(None, repo).contains(&action),
            Who::User(u) => auth.permitted(Some(u), repo).contains(&action),
            Who::Token(t) => t.allows(repo, action),
        }
    }
}

/// The (repository, action) pairs a `/v2/` request needs.
fn required(route: &Route, method: &Method, query: &Query) -> Vec<(String, Action)> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    match route {
        Route::Catalog => Vec::new(),
        Route::Tags(r) | Route::Referrers(r, _) => vec![(r.to_string(), Action::Pull)],
        Route::Manifest(r, _) | Route::Blob(r, _) if read => vec![(r.to_string(), Action::Pull)],
        Route::Manifest(r, _) | Route::Blob(r, _) if *method == Method::DELETE => {
            vec![(r.to_string(), Action::Delete)]
        }
        Route::Manifest(r, _) | Route::Blob(r, _) => vec![(r.to_string(), Action::Push)],
        Route::StartUpload(r) => {
            let mut need = vec![(r.to_string(), Action::Push)];
            if let (Some(_), Some(from)) = (query.get("mount"), query.get("from")) {
                need.push((from.to_owned(), Action::Pull));
            }
            need
        }
        Route::Upload(r, _) => vec![(r.to_string(), Action::Push)],
    }
}

enum Credentials {
    Basic(String, String),
    Bearer(String),
}

fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let (u, p) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
        Some(Credentials::Basic(u.to_owned(), p.to_owned()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Credentials::Bearer(rest.trim().to_owned()))
    } else {
        None
    }
}

/// Who the credentials name; `Err` when they are given but wrong.
async fn identify(auth: &Arc<AppState>, headers: &HeaderMap) -> Result<Who, ()> {
    let Some(a) = auth.auth.as_ref() else {
        return Ok(Who::Anonymous);
    };
    match credentials(headers) {
        None => Ok(Who::Anonymous),
        Some(Credentials::Bearer(t)) => a.verify(&t).map(Who::Token).ok_or(()),
        Some(Credentials::Basic(u, p)) => {
            let state = auth.clone();
            let user = u.clone();
            // bcrypt is slow by design: keep it off the async threads
            let ok = tokio::task::spawn_blocking(move || {
                state
                    .auth
                    .as_ref()
                    .is_some_and(|a| a.check_password(&user, &p))
            })
            .await
            .unwrap_or(false);
            if ok { Ok(Who::User(u)) } else { Err(()) }
        }
    }
}

fn realm(auth: &Auth, headers: &HeaderMap) -> String {
    auth.realm.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}/token")
    })
}

fn challenge(auth: &Auth, headers: &HeaderMap, scope: Option<String>, message: &str) -> Response {
    let mut value = format!(
        "Bearer realm=\"{}\",service=\"{}\"",
        realm(auth, headers),
        auth.service
    );
    if let Some(scope) = scope {
        value.push_str(&format!(",scope=\"{scope}\""));
    }
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Middleware guarding `/v2/`.
pub(crate) async fn authorize(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(auth) = state.auth.as_ref() else {
        return next.run(req).await;
    };
    let Some(rest) = req.uri().path().strip_prefix("/v2") else {
        // the catalog API and the web UI show what the caller may pull: identify them
        // (wrong credentials are still a 401); anonymous callers see what anyone may
        let who = match identify(&state, req.headers()).await {
            Ok(w) => w,
            Err(()) => return challenge(auth, req.headers(), None, "invalid credentials"),
        };
        req.extensions_mut().insert(Identity {
            user: who.user().map(str::to_owned),
        });
        return next.run(req).await;
    };
    let rest = rest.trim_start_matches('/').to_owned();
    let query = Query::parse(req.uri().query().map(str::to_owned));
    let need = if rest.is_empty() || rest == "_catalog" {
        Vec::new()
    } else {
        match route::parse(&rest) {
            Ok(Some(r)) => required(&r, req.method(), &query),
            // not an endpoint, or a malformed name: the handler answers 404/400, revealing nothing
            _ => return next.run(req).await,
        }
    };
    let who = match identify(&state, req.headers()).await {
        Ok(w) => w,
        Err(()) => return challenge(auth, req.headers(), None, "invalid credentials"),
    };
    // `/v2/` and `_catalog` need someone who may do something, or an open root
    if need.is_empty() && matches!(who, Who::Anonymous) && auth.permitted(None, "").is_empty() {
        return challenge(auth, req.headers(), None, "authentication required");
    }
    if let Some((repo, action)) = need
        .iter()
        .find(|(repo, action)| !who.may(auth, repo, *action))
    {
        let actions = match action {
            Action::Push => "pull,push",
            other => other.as_str(),
        };
        return match who {
            Who::User(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                "DENIED",
                format!("{action:?} access to repository `{repo}` is denied").to_lowercase(),
            )
            .into_response(),
            _ => challenge(
                auth,
                req.headers(),
                Some(format!("repository:{repo}:{actions}")),
                "authentication required",
            ),
        };
    }
    req.extensions_mut().insert(Identity {
        user: who.user().map(str::to_owned),
    });
    next.run(req).await
}

/// `GET /token?service=…&scope=repository:<name>:<actions>…`: a bearer token for what the
/// (Basic-authenticated, or anonymous) client asks and may do.
pub(crate) async fn token(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let Some(auth) = state.auth.as_ref() else {
        return ApiError::not_found("/token (authentication is not configured)").into_response();
    };
    let query = Query::parse(req.uri().query().map(str::to_owned));
    let user = match identify(&state, req.headers()).await {
        Ok(Who::User(u)) => Some(u),
        Ok(Who::Anonymous) => None,
        Ok(Who::Token(t)) if !t.subject.is_empty() => Some(t.subject),
        Ok(Who::Token(_)) => None,
        Err(()) => return challenge(auth, req.headers(), None, "invalid credentials"),
    };
    let scopes: Vec<String> = query
        .all("scope")
        .flat_map(|s| s.split(' '))
        .map(str::to_owned)
        .collect();
    match auth.issue(user.as_deref(), &scopes) {
        Ok((token, ttl)) => {
            let issued_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            axum::Json(serde_json::json!({ "token": token, "access_token": token, "expires_in": ttl, "issued_at": issued_at })).into_response()
        }
        Err(e) => {
            ApiError::from(crate::service::ServiceError::Internal(e.to_string())).into_response()
        }
    }
}
