//! Who may use the listener: one rule for every path but the health probes.
//!
//! - With `metrics.access_token` set, every path (the API, `/metrics`, the console page and its
//!   files) needs a token: as `Authorization: Bearer <token>` (the API's clients,
//!   Prometheus), or, for reading only, as the password of HTTP Basic authentication, which is
//!   how a browser loads the console page without the token in its URL or a cookie. Anything
//!   that would change state takes the bearer header only: a browser attaches Basic
//!   credentials to cross-site requests by itself, never a bearer header.
//! - Two roles: the operator's token (`access_token`) reads and gives verdicts; a viewer's
//!   (`viewer_token`) only reads, and a change asked with it is refused with 403.
//! - On a loopback listener the `Host` header must name the loopback: a web page on another
//!   site that rebinds its DNS name to 127.0.0.1 reaches this port with its own name as Host.
//! - `/healthz` and `/readyz` answer anyone who may reach the port: probes carry no secrets.

use crate::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;

/// What the listener checks on every request.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// The operator's token.
    pub token: Option<String>,
    /// A token that may only read.
    pub viewer: Option<String>,
    pub loopback: bool,
}

pub(crate) async fn guard(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    if access.loopback && !host_is_loopback(request.headers()) {
        return ApiError(StatusCode::MISDIRECTED_REQUEST, "this listener answers to a loopback Host only".into())
            .into_response();
    }
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let Some(token) = &access.token else { return next.run(request).await };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    let given = credentials(request.headers(), reading);
    if given.as_ref().is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    if let (Some(given), Some(viewer)) = (&given, &access.viewer)
        && same(given.as_bytes(), viewer.as_bytes())
    {
        if reading {
            return next.run(request).await;
        }
        return ApiError(StatusCode::FORBIDDEN, "this token may only read; verdicts need the operator's token".into())
            .into_response();
    }
    let refused = ApiError(StatusCode::UNAUTHORIZED, "missing or wrong access token (Authorization: Bearer …)".into());
    let mut response = refused.into_response();
    if reading && !request.uri().path().starts_with("/api/") {
        // The console page: let the browser ask for the token (any user name).
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"shaobing\", charset=\"UTF-8\""),
        );
    }
    response
}

/// The token a request offers: a bearer token, or for reading the password of Basic auth.
fn credentials(headers: &HeaderMap, reading: bool) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(bearer) = value.strip_prefix("Bearer ") {
        return Some(bearer.to_string());
    }
    let basic = value.strip_prefix("Basic ").filter(|_| reading)?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    pair.split_once(':').map(|(_, password)| password.to_string())
}

/// Compared in constant time, so the token's length and prefix do not leak through timing.
fn same(given: &[u8], token: &[u8]) -> bool {
    given.len() == token.len() && given.iter().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// `localhost`, `127.x.x.x` or `[::1]`, with any port; a request without Host (HTTP/1.0) too.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return true };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host
            .rsplit_once(':')
            .map_or(host, |(n, port)| if port.chars().all(|c| c.is_ascii_digit()) { n } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for ok in ["127.0.0.1:9464", "localhost", "LOCALHOST:80", "[::1]:9464", "127.1.2.3"] {
            assert!(host_is_loopback(&headers(&[("host", ok)])), "{ok}");
        }
        for bad in
            ["evil.example", "evil.example:9464", "192.168.1.5:9464", "127.0.0.1.evil.example", "[2001:db8::1]:80"]
        {
            assert!(!host_is_loopback(&headers(&[("host", bad)])), "{bad}");
        }
    }

    #[test]
    fn basic_credentials_are_for_reading_only() {
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("anyone:s3cret"));
        let h = headers(&[("authorization", &basic)]);
        assert_eq!(credentials(&h, true).as_deref(), Some("s3cret"));
        assert_eq!(credentials(&h, false), None, "a browser sends Basic credentials cross-site by itself");
        let h = headers(&[("authorization", "Bearer s3cret")]);
        assert_eq!(credentials(&h, false).as_deref(), Some("s3cret"));
        assert!(same(b"s3cret", b"s3cret") && !same(b"s3cre", b"s3cret") && !same(b"s3creT", b"s3cret"));
    }
}
