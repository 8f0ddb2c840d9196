//! Living under a service manager: readiness and stopping reported to systemd (`Type=notify`),
//! SIGTERM and SIGINT handled as a graceful stop, a second signal as an immediate exit.

use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// How long a graceful stop may take before the process exits anyway: systemd's default
/// stop timeout is 90 s, an operator's patience about 5.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// Sends `state` (e.g. `READY=1`) to systemd when started with `Type=notify`; does nothing
/// otherwise. The protocol is one datagram to the socket named by `NOTIFY_SOCKET`.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else { return };
    let sent = match path.to_str().and_then(|p| p.strip_prefix('@')) {
        // An abstract socket name.
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
        }
        None => socket.send_to(state.as_bytes(), &path),
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, state, "cannot notify the service manager");
    }
}

/// Cancels `cancel` at the first SIGTERM or SIGINT; exits the process at the second, or when
/// the graceful stop outlives [`STOP_DEADLINE`].
pub fn stop_on_signals(cancel: CancellationToken) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("stop requested; stopping sources, draining, committing");
        notify("STOPPING=1");
        cancel.cancel();
        tokio::select! {
            _ = term.recv() => tracing::warn!("second stop signal; exiting at once"),
            _ = int.recv() => tracing::warn!("second stop signal; exiting at once"),
            _ = tokio::time::sleep(STOP_DEADLINE) => tracing::error!("graceful stop took over {STOP_DEADLINE:?}; exiting"),
        }
        std::process::exit(1);
    });
    Ok(())
}
