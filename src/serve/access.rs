//! Who may ask, and what every answer carries.
//!
//! - Loopback by default. A listen address beyond loopback is refused without a token
//!   ([`check_listen`]); with one, every request must carry it: `Authorization: Bearer
//!   <token>` (scripts), or the header a trusted reverse proxy adds after its own login
//!   (`--proxy-header`, whose value must be the token too, so a client that reaches the port
//!   directly cannot forge it).
//! - On loopback without a token, the `Host` must be a loopback name: a page on another site
//!   cannot reach the server through a DNS name rebound to 127.0.0.1.
//! - Every request that is not GET or HEAD needs the CSRF token: a per-process random secret
//!   that only the server's own pages carry (a hidden `csrf` form field, or the `X-CSRF-Token`
//!   header), compared in constant time; and an `Origin`, when the browser sends one, must be
//!   the server's own. Another site can make a browser post a form, but cannot read a page to
//!   learn the token.
//! - Every response has the security headers ([`SECURITY_HEADERS`]): a CSP without inline
//!   scripts or styles, no framing, no sniffing, no referrer to other sites.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::App;
use super::error::{PageError, ServeError};

/// The shortest token accepted: guessing one must not be practical.
pub const MIN_TOKEN_LEN: usize = 16;

/// The largest form body read (the CSRF check reads the body before the handler).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The headers of every response.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// Who may ask.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Every request must carry it (bearer or proxy header) when set.
    token: Option<String>,
    /// The header a trusted reverse proxy sets to the token.
    proxy_header: Option<HeaderName>,
    /// Bound to a loopback address: without a token, only loopback `Host` names.
    loopback: bool,
}

/// Checks the listen address against the token and returns the access rule: beyond loopback
/// only with a token of at least [`MIN_TOKEN_LEN`] characters.
pub fn check_listen(addr: SocketAddr, token: Option<&str>, proxy_header: Option<&str>) -> Result<Access, ServeError> {
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = token
        && t.chars().count() < MIN_TOKEN_LEN
    {
        return Err(ServeError::WeakToken { min: MIN_TOKEN_LEN });
    }
    let loopback = addr.ip().is_loopback();
    if !loopback && token.is_none() {
        return Err(ServeError::NeedsToken { addr });
    }
    let proxy_header = proxy_header
        .map(|name| HeaderName::try_from(name.trim()).map_err(|_| ServeError::ProxyHeader { name: name.to_string() }))
        .transpose()?;
    Ok(Access { token: token.map(str::to_string), proxy_header, loopback })
}

impl Access {
    /// Whether the request may go on, and why not.
    fn admit(&self, headers: &HeaderMap) -> Result<(), PageError> {
        let Some(token) = &self.token else {
            if self.loopback && !headers.get(header::HOST).is_some_and(loopback_host) {
                return Err(PageError::Forbidden(
                    "this server answers only to localhost names (127.0.0.1, localhost, [::1])".into(),
                ));
            }
            return Ok(());
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes()));
        let proxied = self
            .proxy_header
            .as_ref()
            .and_then(|h| headers.get(h))
            .is_some_and(|v| same(v.as_bytes(), token.as_bytes()));
        if bearer || proxied {
            Ok(())
        } else {
            Err(PageError::Unauthorized(
                "this server needs its token: an `Authorization: Bearer` header, or the trusted proxy's header".into(),
            ))
        }
    }
}

fn loopback_host(v: &HeaderValue) -> bool {
    let Ok(host) = v.to_str() else { return false };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host
            .rsplit_once(':')
            .map_or(host, |(n, port)| if port.bytes().all(|b| b.is_ascii_digit()) { n } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Constant-time equality (the length is not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The per-process CSRF secret.
pub struct Csrf(String);

impl Csrf {
    pub fn new() -> Result<Csrf, ServeError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| ServeError::Random(e.to_string()))?;
        Ok(Csrf(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// What the pages put in their forms.
    pub fn token(&self) -> &str {
        &self.0
    }

    fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), PageError> {
        let from_header = headers.get(CSRF_HEADER).map(|v| v.as_bytes().to_vec());
        let from_form = || -> Option<Vec<u8>> {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
            form.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v.into_bytes())
        };
        let given = from_header.or_else(from_form);
        if !given.is_some_and(|g| same(&g, self.0.as_bytes())) {
            return Err(PageError::Forbidden(
                "this form lacks its CSRF token: submit it from the page the server showed".into(),
            ));
        }
        // A browser names the page's origin; it must be this server's.
        if let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) {
            let origin = origin.to_str().unwrap_or("");
            let host = host.to_str().unwrap_or("");
            let own = origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
            if !own {
                return Err(PageError::Forbidden("a form from another site is refused".into()));
            }
        }
        Ok(())
    }
}

/// The middleware around every route: access, CSRF on anything but GET and HEAD, headers.
pub async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let mut response = match checked(&app, request).await {
        Ok(request) => next.run(request).await,
        Err(e) => {
            let unauthorized = matches!(e, PageError::Unauthorized(_));
            let mut r = e.into_response();
            if unauthorized {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            r
        }
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        // A route's own caching (the embedded assets) stands; pages are never stored.
        if name == "cache-control" && headers.contains_key(header::CACHE_CONTROL) {
            continue;
        }
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn checked(app: &App, request: Request) -> Result<Request, PageError> {
    app.config.access.admit(request.headers())?;
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::BadRequest(format!("the form is larger than {MAX_FORM_BYTES} bytes")))?;
    app.csrf.check(&parts.headers, &bytes)?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        for ok in ["127.0.0.1:8080", "localhost", "LOCALHOST:80", "[::1]:8080", "127.0.0.2"] {
            assert!(loopback_host(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in ["evil.example:8080", "10.0.0.1", "localhost.evil.example", "[2001:db8::1]:80"] {
            assert!(!loopback_host(&HeaderValue::from_static(bad)), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abcdef", b"abcdef"));
        assert!(!same(b"abcdef", b"abcdeg") && !same(b"abc", b"abcdef"));
    }
}
