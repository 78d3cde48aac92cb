//! A minimal HTTP/1.1 client: one keep-alive connection per worker, built on hyper's connection
//! API. No pool, no redirects, no cookie jar, no TLS, no extra task per connection: every request
//! costs one header map, one body buffer and nothing else the generator could avoid.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use std::fmt;
use std::net::SocketAddr;
use tokio::net::TcpStream;

pub const FORM: &str = "application/x-www-form-urlencoded";
pub const JSON: &str = "application/json";

#[derive(Debug)]
pub enum Error {
    Connect(std::io::Error),
    Http(hyper::Error),
    Request(hyper::http::Error),
    /// The server closed the connection before answering.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "connect: {e}"),
            Error::Http(e) => write!(f, "http: {e}"),
            Error::Request(e) => write!(f, "request: {e}"),
            Error::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for Error {}

pub struct Reply {
    pub status: u16,
    /// The `authorization` response header: a native client's (possibly rotated) token.
    pub authorization: Option<HeaderValue>,
    pub body: Bytes,
}

impl Reply {
    /// The first bytes of the body, for error messages.
    pub fn snippet(&self) -> String {
        let end = self.body.len().min(200);
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

/// The client half of one HTTP/1.1 connection and the connection itself. The connection is driven
/// inside [`Conn::send`] (no task of its own), so a request wakes one task, not two.
struct Open {
    sender: SendRequest<Full<Bytes>>,
    connection: http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
}

/// One keep-alive connection to the server, reopened only if it breaks.
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    open: Option<Open>,
    /// TCP connections opened so far (1 if keep-alive held for the whole run).
    pub connects: u64,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        let host = HeaderValue::from_str(&addr.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
        Conn {
            addr,
            host,
            open: None,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> Result<Open, Error> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(Error::Connect)?;
        stream.set_nodelay(true).map_err(Error::Connect)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Error::Http)?;
        self.connects += 1;
        Ok(Open { sender, connection })
    }

    /// Sends one request and reads the whole response. `uri` is origin-form (`/v1/…?…`).
    pub async fn send(
        &mut self,
        method: Method,
        uri: &Uri,
        authorization: Option<&HeaderValue>,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<Reply, Error> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri.clone())
            .header(HOST, self.host.clone());
        if let Some(a) = authorization {
            builder = builder.header(AUTHORIZATION, a.clone());
        }
        let body = match body {
            Some((content_type, bytes)) => {
                builder = builder.header(CONTENT_TYPE, HeaderValue::from_static(content_type));
                Full::new(bytes)
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body).map_err(Error::Request)?;
        let mut open = match self.open.take() {
            Some(open) => open,
            None => self.connect().await?,
        };
        let Open { sender, connection } = &mut open;
        let exchange = async {
            sender.ready().await.map_err(Error::Http)?;
            let response = sender.send_request(request).await.map_err(Error::Http)?;
            let status = response.status().as_u16();
            let authorization = response.headers().get(AUTHORIZATION).cloned();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(Error::Http)?
                .to_bytes();
            Ok::<_, Error>(Reply {
                status,
                authorization,
                body,
            })
        };
        let reply = tokio::select! {
            biased;
            reply = exchange => reply?,
            // The connection only finishes on its own when the server closed it or it broke.
            ended = connection => {
                return Err(match ended {
                    Err(e) => Error::Http(e),
                    Ok(()) => Error::Closed,
                });
            }
        };
        self.open = Some(open);
        Ok(reply)
    }
}
