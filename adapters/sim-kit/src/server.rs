//! Serving a simulator: [`SimServer`].
//!
//! The actix-web server runs with one worker (or as many as asked, for load runs that must not be
//! bound by the simulator) and no signal handling, driven by a task spawned on the current tokio
//! runtime, so it works inside any runtime (a `#[tokio::test]`, the gateway in sandbox mode). Dropping the [`SimServer`] stops it (without waiting); [`SimServer::stop`] stops
//! it gracefully and waits.

use std::io;
use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;

/// Seconds a graceful stop waits for requests in flight.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 2;

/// A running simulator server.
pub struct SimServer {
    name: &'static str,
    addr: SocketAddr,
    handle: ServerHandle,
    /// `None` once stopped.
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimServer {
    /// Serves the app `configure` builds (routes, app data, default service) on `127.0.0.1` with a
    /// free port. `name` (e.g. `"VNPT SmartCA"`) only appears in logs.
    ///
    /// # Errors
    /// Binding the socket fails, or there is no current tokio runtime.
    pub fn start_local<F>(name: &'static str, configure: F) -> io::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        Self::start(name, TcpListener::bind(("127.0.0.1", 0))?, configure)
    }

    /// Serves the app `configure` builds on a listener the caller has bound (for a fixed
    /// address). Must be called within a tokio runtime; the server runs on it.
    ///
    /// # Errors
    /// The listener is unusable, or there is no current tokio runtime.
    pub fn start<F>(name: &'static str, listener: TcpListener, configure: F) -> io::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        Self::start_with_workers(name, listener, 1, configure)
    }

    /// Like [`SimServer::start`], with `workers` worker threads (at least one), each serving
    /// requests on its own: what a load run needs so that the simulator is not its ceiling.
    ///
    /// # Errors
    /// The listener is unusable, or there is no current tokio runtime.
    pub fn start_with_workers<F>(
        name: &'static str,
        listener: TcpListener,
        workers: usize,
        configure: F,
    ) -> io::Result<Self>
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let addr = listener.local_addr()?;
        let server = HttpServer::new(move || App::new().configure(|cfg| configure(cfg)))
            .workers(workers.max(1))
            .disable_signals()
            .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
            .listen(listener)?
            .run();
        let handle = server.handle();
        let task = runtime.spawn(async move {
            if let Err(error) = server.await {
                tracing::error!(%error, simulator = name, "the simulator's server failed");
            }
        });
        tracing::debug!(%addr, simulator = name, "simulator listening");
        Ok(Self {
            name,
            addr,
            handle,
            task: Some(task),
        })
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`, e.g. `url("/sca/sp769")`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server gracefully (requests in flight get up to [`SHUTDOWN_TIMEOUT_SECS`]) and
    /// waits until it is down.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(%error, simulator = self.name, "the simulator's server task failed");
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if self.task.take().is_some() {
            // `ServerHandle::stop` sends the stop command when called; the returned future only
            // waits for completion, so dropping it needs no runtime and still stops the server.
            drop(self.handle.stop(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::HttpResponse;

    use super::*;

    fn app(cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(7_u32))
            .route(
                "/hello",
                web::get().to(|n: web::Data<u32>| async move { format!("hello {}", n.get_ref()) }),
            )
            .default_service(web::to(|| async { HttpResponse::ImATeapot().finish() }));
    }

    #[tokio::test]
    async fn serves_and_stops() {
        let server = SimServer::start_local("test", app).unwrap();
        let url = server.url("/hello");
        assert_eq!(url, format!("http://{}/hello", server.addr()));
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert_eq!(body, "hello 7");
        let status = reqwest::get(server.url("/other")).await.unwrap().status();
        assert_eq!(status.as_u16(), 418);
        server.stop().await;
        assert!(reqwest::get(&url).await.is_err());
    }

    #[tokio::test]
    async fn dropping_stops() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let server = SimServer::start("test", listener, app).unwrap();
        let url = server.url("/hello");
        assert!(reqwest::get(&url).await.is_ok());
        drop(server);
        let mut stopped = false;
        for _ in 0..100 {
            if reqwest::get(&url).await.is_err() {
                stopped = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(stopped, "the server still answers after the drop");
    }

    #[test]
    fn needs_a_runtime() {
        assert!(SimServer::start_local("test", app).is_err());
    }
}
