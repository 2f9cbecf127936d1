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
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::AppState;
use super::route::Route;
use super::{ApiError, ErrorCode, Query};
use crate::auth::{Action, Auth, Token};

/// Who made a request, for handlers that filter by permission (`_catalog`); also put on
/// the response, for the access log.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// The user name, when authenticated.
    pub user: Option<String>,
    /// For a bearer token: the repositories it grants `pull` on (and its user may still
    /// pull). Listings show a token what anyone may pull and these, not everything its
    /// user may pull: a token is worth what it names.
    pub token_pulls: Option<Vec<String>>,
}

impl Identity {
    /// The repositories this caller's listings show ([`crate::store::Visibility`]).
    pub fn visibility(&self, auth: Option<&Auth>) -> crate::store::Visibility {
        let Some(auth) = auth else {
            return crate::store::Visibility::all();
        };
        match &self.token_pulls {
            Some(names) => auth.pull_visibility(None).also(names.iter().cloned()),
            None => auth.pull_visibility(self.user.as_deref()),
        }
    }
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

/// The (repository, action) pairs a `/v2/` request needs. The source of a cross-repository
/// mount is validated here, since it is authorised here: an invalid `from` is a 400.
fn required(
    route: &Route,
    method: &Method,
    query: &Query,
) -> Result<Vec<(String, Action)>, ApiError> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    Ok(match route {
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
                let from: wharf_oci::RepositoryName =
                    from.parse().map_err(|e: wharf_oci::NameError| {
                        ApiError::name_invalid(format!("mount source: {e}"))
                    })?;
                need.push((from.to_string(), Action::Pull));
            }
            need
        }
        Route::Upload(r, _) => vec![(r.to_string(), Action::Push)],
    })
}

/// `repository:<name>:<actions>` for each repository `need` names, space-separated, with
/// `pull,push` wherever a push is needed (clients read what they push to).
fn scopes_of(need: &[(String, Action)]) -> String {
    let mut per_repo: Vec<(&str, std::collections::BTreeSet<Action>)> = Vec::new();
    for (repo, action) in need {
        let i = match per_repo.iter().position(|(r, _)| r == repo) {
            Some(i) => i,
            None => {
                per_repo.push((repo, Default::default()));
                per_repo.len() - 1
            }
        };
        per_repo[i].1.insert(*action);
        if *action == Action::Push {
            per_repo[i].1.insert(Action::Pull);
        }
    }
    per_repo
        .iter()
        .map(|(repo, actions)| {
            let list: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
            format!("repository:{repo}:{}", list.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// The web UI's session cookie (`Auth::issue_session`).
pub(crate) const SESSION_COOKIE: &str = "wharf_session";
/// The web UI's CSRF cookie: a random value its forms repeat (double submit).
pub(crate) const CSRF_COOKIE: &str = "wharf_csrf";

/// The value of cookie `name` in the request's `Cookie` headers (RFC 6265 §5.4).
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Why credentials were not accepted.
enum Refused {
    /// Wrong password, unknown user, bad or expired token, a token whose user is gone.
    Invalid,
    /// Too many failed password checks from this address: wait this many seconds.
    TooMany(u64),
}

impl Refused {
    fn respond(self, auth: &Auth, headers: &HeaderMap) -> Response {
        match self {
            Refused::Invalid => challenge(auth, headers, None, "invalid credentials"),
            Refused::TooMany(secs) => {
                let mut resp = ApiError::new(
                    ErrorCode::TooManyRequests,
                    format!("too many failed logins from this address; retry in {secs} s"),
                )
                .into_response();
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                resp
            }
        }
    }
}

pub(crate) fn client_address(req: &Request) -> std::net::IpAddr {
    // (the address is taken before any await: a `&Request` is not `Send`)
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// Who the credentials in `headers` name; `Err` when they are given but not accepted.
/// Failed password checks are counted per `client` address.
async fn identify(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    client: std::net::IpAddr,
) -> Result<Who, Refused> {
    let Some(a) = state.auth.as_ref() else {
        return Ok(Who::Anonymous);
    };
    match credentials(headers) {
        None => Ok(Who::Anonymous),
        Some(Credentials::Bearer(t)) => {
            let token = a.verify(&t).ok_or(Refused::Invalid)?;
            // a token outlives nothing: its user must still be in the htpasswd file
            if !token.subject.is_empty() && !a.has_user(&token.subject) {
                return Err(Refused::Invalid);
            }
            Ok(Who::Token(token))
        }
        Some(Credentials::Basic(u, p)) => {
            a.login_allowed(client).map_err(Refused::TooMany)?;
            let state = state.clone();
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
            if ok {
                Ok(Who::User(u))
            } else {
                a.login_failed(client);
                Err(Refused::Invalid)
            }
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
    let mut resp = ApiError::new(ErrorCode::Unauthorized, message).into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// Middleware guarding `/v2/`.
pub(crate) async fn authorize(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(auth) = state.auth.as_ref() else {
        return next.run(req).await;
    };
    let Some(rest) = req.uri().path().strip_prefix("/v2") else {
        // the catalog API and the web UI show what the caller may pull: identify them
        // (wrong credentials are still a 401); anonymous callers see what anyone may
        let who = match identify(&state, req.headers(), client_address(&req)).await {
            Ok(w) => w,
            Err(r) => return r.respond(auth, req.headers()),
        };
        // a web UI session counts for reading pages and the catalog API only: never on
        // `/v2/` (a browser sends cookies with any request, so a cross-site form must not
        // be able to act with them), never for a write, never at `/token`
        let reads = matches!(*req.method(), Method::GET | Method::HEAD);
        let who = match who {
            Who::Anonymous if reads && req.uri().path() != "/token" => {
                match cookie(req.headers(), SESSION_COOKIE).and_then(|c| auth.verify_session(c)) {
                    Some(user) => Who::User(user),
                    None => Who::Anonymous,
                }
            }
            w => w,
        };
        return run_as(&who, auth, req, next).await;
    };
    let query = Query::parse(req.uri().query().map(str::to_owned));
    // decide on exactly the route the handler will act on: `route::resolve` decoded and
    // validated it (and answered anything invalid) before this middleware runs
    let need = match req.extensions().get::<Route>() {
        Some(r) => match required(r, req.method(), &query) {
            Ok(need) => need,
            Err(e) => return e.into_response(),
        },
        None if rest.trim_start_matches('/').is_empty() => Vec::new(),
        // nothing else reaches here through the router; refuse rather than pass through
        None => return ApiError::not_found(req.uri().path()).into_response(),
    };
    let who = match identify(&state, req.headers(), client_address(&req)).await {
        Ok(w) => w,
        Err(r) => return r.respond(auth, req.headers()),
    };
    // `/v2/` and `_catalog` need someone who may do something, or an open root
    if need.is_empty() && matches!(who, Who::Anonymous) && auth.permitted(None, "").is_empty() {
        return challenge(auth, req.headers(), None, "authentication required");
    }
    if let Some((repo, action)) = need
        .iter()
        .find(|(repo, action)| !who.may(auth, repo, *action))
    {
        // a known user whom the rules refuse this is denied (403), whether they came with
        // a password or with a token for them: a new token would not help; a token that
        // merely lacks a scope its user has gets the challenge, to fetch one that has it
        let user_refused = match &who {
            Who::User(u) => Some(u.as_str()),
            Who::Token(_) => who.user(),
            Who::Anonymous => None,
        }
        .is_some_and(|u| !auth.permitted(Some(u), repo).contains(action));
        return match who {
            _ if user_refused => ApiError::new(
                ErrorCode::Denied,
                format!("{action:?} access to repository `{repo}` is denied").to_lowercase(),
            )
            .into_response(),
            // the challenge names every scope the request needs (the Docker token
            // specification; CNCF Distribution does the same), so a client that fetches one
            // token and retries once succeeds, e.g. for a cross-repository mount
            _ => challenge(
                auth,
                req.headers(),
                Some(scopes_of(&need)),
                "authentication required",
            ),
        };
    }
    run_as(&who, auth, req, next).await
}

/// Run the request as `who`: its [`Identity`] goes on the request (for handlers that
/// filter by permission) and on the response (for the access log).
async fn run_as(who: &Who, auth: &Auth, mut req: Request, next: Next) -> Response {
    let token_pulls = match who {
        Who::Token(t) => Some(
            t.access
                .iter()
                .filter(|a| a.kind == "repository" && a.actions.iter().any(|x| x == "pull"))
                .map(|a| a.name.clone())
                .filter(|name| auth.permitted(who.user(), name).contains(&Action::Pull))
                .collect(),
        ),
        _ => None,
    };
    let identity = Identity {
        user: who.user().map(str::to_owned),
        token_pulls,
    };
    req.extensions_mut().insert(identity.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(identity);
    resp
}

/// `GET /token?service=…&scope=repository:<name>:<actions>…`: a bearer token for what the
/// Basic-authenticated (or anonymous) client asks and may do. Tokens are minted only from
/// a user name and password checked against the htpasswd file: a bearer token offered
/// as credentials is refused (401), so no exchange can widen a scope or outlive the user.
pub(crate) async fn token(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let Some(auth) = state.auth.as_ref() else {
        return ApiError::not_found("/token (authentication is not configured)").into_response();
    };
    let query = Query::parse(req.uri().query().map(str::to_owned));
    if matches!(credentials(req.headers()), Some(Credentials::Bearer(_))) {
        return challenge(
            auth,
            req.headers(),
            None,
            "the token endpoint takes a user name and password (Basic), not a bearer token",
        );
    }
    let user = match identify(&state, req.headers(), client_address(&req)).await {
        Ok(Who::User(u)) => Some(u),
        Ok(Who::Anonymous) => None,
        Ok(Who::Token(_)) => return challenge(auth, req.headers(), None, "invalid credentials"),
        Err(r) => return r.respond(auth, req.headers()),
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
