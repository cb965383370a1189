//! The daemon run inside a bench's own process, on a 2-thread runtime, until the bench stops it.
//! Include with `#[path = "support/daemon.rs"] mod daemon;`.

use std::path::Path;
use std::time::Duration;

use siem_relay::config::Config;
use siem_relay::daemon::{self, ConfigSource, Report};

pub struct InProcess {
    /// For the bench's own async calls (control requests).
    pub runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<anyhow::Result<Report>>,
}

impl InProcess {
    /// Starts the daemon with `config` and waits until every path in `ready` (its sockets)
    /// exists.
    pub fn start(config: Config, ready: &[&Path]) -> InProcess {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = runtime.spawn(async move {
            daemon::run(config, ConfigSource::Embedded, Vec::new(), async { drop(stopped.await) }, |_| {}).await
        });
        while !ready.iter().all(|path| path.exists()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        InProcess { runtime, stop, handle }
    }

    /// Shuts the daemon down and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.runtime.block_on(self.handle);
    }
}
