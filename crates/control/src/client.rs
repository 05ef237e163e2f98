//! The Rust client of the control port: connects over TLS (the server's certificate pinned by
//! its fingerprint, or checked against a CA file or the system's roots) or plain HTTP, keeps its
//! connections open between calls, sends the bearer token, and turns the port's
//! `{"code", "message"}` answers back into engine errors.

use crate::pin::Pinned;
use crate::reply::KEEP_ALIVE;
use crate::serve::DEFAULT_HEADER_TIMEOUT;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use jetstream_engine::error::{Code, Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long a connection to the port may take to open (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much sooner than the port closes an idle connection the client stops reusing it: a
/// request sent just as the port closes the connection would be lost with it.
const IDLE_MARGIN: Duration = Duration::from_secs(1);

/// How a client reaches and trusts a control port.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Plain HTTP instead of TLS.
    pub plain: bool,
    /// Trust the server whose certificate has this fingerprint (`sha256:HEX`).
    pub fingerprint: Option<String>,
    /// Trust the certificates issued by the CA in this PEM file.
    pub ca: Option<PathBuf>,
    /// The bearer token sent with every request (a session token from `auth` or an API token).
    pub token: Option<String>,
}

/// A client of one control port. Calls may run concurrently: each takes an idle connection or
/// opens another.
pub struct Client {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    token: Mutex<Option<String>>,
    idle: Mutex<Vec<Idle>>,
}

/// An open connection waiting for the next call.
struct Idle {
    sender: SendRequest<Full<Bytes>>,
    /// When the port may close it for idleness, less [`IDLE_MARGIN`]; not reused after.
    reuse_until: Instant,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the control port at `host`:`port`: a certificate that is not trusted, or a
    /// port that cannot be reached, fails here.
    pub async fn connect(host: &str, port: u16, opts: ClientOptions) -> Result<Client> {
        let tls = if opts.plain {
            if opts.fingerprint.is_some() || opts.ca.is_some() {
                return Err(Error::new(
                    Code::InvalidArgument,
                    "a fingerprint or a CA file is for TLS, not for a plain connection",
                ));
            }
            None
        } else {
            Some((
                TlsConnector::from(Arc::new(tls_config(&opts)?)),
                server_name(host)?,
            ))
        };
        let client = Client {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            tls,
            token: Mutex::new(opts.token),
            idle: Mutex::new(Vec::new()),
        };
        // Kept for the first call; the port's idle timeout is not known before it answers.
        let connection = client.open().await?;
        client.keep(connection, DEFAULT_HEADER_TIMEOUT);
        Ok(client)
    }

    /// Sends `token` as the bearer of every request from now on (`None`: no credentials).
    pub fn set_token(&self, token: Option<String>) {
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = token;
    }

    /// The bearer token the requests carry.
    pub fn token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Logs in as `user_name` with `password` (the `auth` method) and sends the session token
    /// with every request from now on; the `auth` result.
    pub async fn auth(&self, user_name: &str, password: &str) -> Result<Value> {
        let result = self
            .execute(
                "auth",
                json!({ "userName": user_name, "password": password }),
            )
            .await?;
        let token = result["sessionToken"]
            .as_str()
            .ok_or_else(|| Error::new(Code::Protocol, "auth answered without a sessionToken"))?;
        self.set_token(Some(token.to_owned()));
        Ok(result)
    }

    /// Runs `method` with `params` (a JSON object, or null) and returns its JSON result; a
    /// refusal comes back with the code the server gave it.
    pub async fn execute(&self, method: &str, params: Value) -> Result<Value> {
        let body = json!({ "method": method, "params": params }).to_string();
        self.execute_json(body).await
    }

    /// Runs the command `body` (`{"method": ..., "params": ...}` as JSON text) and returns its
    /// JSON result.
    pub async fn execute_json(&self, body: String) -> Result<Value> {
        let (status, body) = self
            .request(Method::POST, "/api", Bytes::from(body))
            .await?;
        if status == StatusCode::OK {
            return serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    Code::Protocol,
                    format!("the control port answered with no JSON: {e}"),
                )
            });
        }
        Err(refusal(status, &body))
    }

    /// The server's figures, `GET /metrics`, as Prometheus text.
    pub async fn metrics(&self) -> Result<String> {
        let (status, body) = self.request(Method::GET, "/metrics", Bytes::new()).await?;
        if status != StatusCode::OK {
            return Err(refusal(status, &body));
        }
        String::from_utf8(body.to_vec()).map_err(|e| {
            Error::new(
                Code::Protocol,
                format!("the metrics are not UTF-8 text: {e}"),
            )
        })
    }

    /// Sends one request, on an idle connection if one is still open, and reads the whole
    /// answer.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let mut request = self.build(method, path, body)?;
        loop {
            let Some(Idle {
                mut sender,
                reuse_until,
            }) = self.idle().pop()
            else {
                break;
            };
            if Instant::now() >= reuse_until || sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return self.finish(sender, response).await,
                // The server closed the idle connection before the request left: another one.
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(self.unavailable(e.into_error())),
                },
            }
        }
        let mut sender = self.open().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| self.unavailable(e))?;
        self.finish(sender, response).await
    }

    fn build(&self, method: Method, path: &str, body: Bytes) -> Result<Request<Full<Bytes>>> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.authority())
            .header(CONTENT_TYPE, "application/json");
        if let Some(token) = self.token() {
            let value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                Error::new(
                    Code::InvalidArgument,
                    "the token has characters a header cannot carry",
                )
            })?;
            request = request.header(AUTHORIZATION, value);
        }
        request
            .body(Full::new(body))
            .map_err(|e| Error::new(Code::InvalidArgument, e.to_string()))
    }

    /// Reads the answer and keeps the connection for the next call unless the server closes it.
    async fn finish(
        &self,
        sender: SendRequest<Full<Bytes>>,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<(StatusCode, Bytes)> {
        let status = response.status();
        let closing = response
            .headers()
            .get(CONNECTION)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
        let idle_timeout = idle_timeout(response.headers());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unavailable(e))?
            .to_bytes();
        if !closing {
            self.keep(sender, idle_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT));
        }
        Ok((status, body))
    }

    /// Keeps `sender` for a later call while the port keeps it open: `idle_timeout` from now.
    fn keep(&self, sender: SendRequest<Full<Bytes>>, idle_timeout: Duration) {
        if let Some(left) = idle_timeout
            .checked_sub(IDLE_MARGIN)
            .filter(|left| !left.is_zero())
        {
            let reuse_until = Instant::now() + left;
            self.idle().push(Idle {
                sender,
                reuse_until,
            });
        }
    }

    /// A new connection to the port, TLS established.
    async fn open(&self) -> Result<SendRequest<Full<Bytes>>> {
        let connect = async {
            let stream = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| self.unavailable(e))?;
            let _ = stream.set_nodelay(true);
            match &self.tls {
                None => handshake(stream).await,
                Some((connector, name)) => {
                    let stream = connector
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|e| self.tls_refused(e))?;
                    handshake(stream).await
                }
            }
            .map_err(|e| self.unavailable(e))
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| {
                Error::new(
                    Code::TimedOut,
                    format!(
                        "control port {}: no connection within {} s",
                        self.authority(),
                        CONNECT_TIMEOUT.as_secs()
                    ),
                )
            })?
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `host:port`, with an IPv6 address in brackets.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> Error {
        Error::new(
            Code::Unavailable,
            format!("control port {}: {e}", self.authority()),
        )
    }

    /// A failed TLS handshake: `AUTH_FAILED` when the server's certificate is not trusted.
    fn tls_refused(&self, e: std::io::Error) -> Error {
        let certificate = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)));
        if certificate {
            Error::new(
                Code::AuthFailed,
                format!(
                    "control port {}: certificate refused: {e}",
                    self.authority()
                ),
            )
        } else {
            self.unavailable(format!("TLS: {e}"))
        }
    }
}

/// Starts HTTP/1.1 on `io`; the connection runs on its own task until either side closes it.
async fn handshake<I>(io: I) -> hyper::Result<SendRequest<Full<Bytes>>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("control port connection: {e}");
        }
    });
    Ok(sender)
}

/// How long the port keeps an idle connection open, from its `Keep-Alive: timeout=SECONDS`.
fn idle_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(KEEP_ALIVE)?.to_str().ok()?;
    value.split(',').find_map(|param| {
        let (name, seconds) = param.split_once('=')?;
        (name.trim().eq_ignore_ascii_case("timeout"))
            .then(|| seconds.trim().parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

/// The error an answer other than 200 carries.
fn refusal(status: StatusCode, body: &[u8]) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        code: String,
        message: String,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { code, message }) => match Code::parse(&code) {
            Some(code) => Error::new(code, message),
            None => Error::new(Code::Internal, format!("{code}: {message}")),
        },
        Err(_) => Error::new(
            Code::Protocol,
            format!(
                "the control port answered HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        ),
    }
}

/// The TLS settings `opts` ask for: a pinned fingerprint, a CA file, or the system's roots.
fn tls_config(opts: &ClientOptions) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
    let mut config = match (&opts.fingerprint, &opts.ca) {
        (Some(_), Some(_)) => {
            return Err(Error::new(
                Code::InvalidArgument,
                "trust the control port by its fingerprint or by a CA file, not both",
            ))
        }
        (Some(fingerprint), None) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned::new(fingerprint)?))
            .with_no_client_auth(),
        (None, Some(ca)) => {
            let invalid = |why: String| {
                Error::new(
                    Code::InvalidArgument,
                    format!("CA file {}: {why}", ca.display()),
                )
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| invalid(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| invalid(e.to_string()))?)
                    .map_err(|e| invalid(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(invalid("no certificate in the file".into()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        (None, None) => {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(Error::new(
                    Code::Unavailable,
                    "no system root certificate could be read: pin the control port's \
                     certificate by its fingerprint or give its CA file",
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The name the server's certificate is checked against: `host` without IPv6 brackets.
fn server_name(host: &str) -> Result<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned())
        .map_err(|e| Error::new(Code::InvalidArgument, format!("host {host}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_timeout_is_read_from_the_keep_alive_header() {
        let timeout = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(KEEP_ALIVE, HeaderValue::try_from(value).unwrap());
            idle_timeout(&headers)
        };
        assert_eq!(timeout("timeout=10"), Some(Duration::from_secs(10)));
        assert_eq!(
            timeout("max=100, Timeout = 5"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(timeout("max=100"), None);
        assert_eq!(timeout("timeout=soon"), None);
        assert_eq!(idle_timeout(&HeaderMap::new()), None);
    }
}
