//! Test support shared by shaobing's crates: real services, never mocks.
//!
//! - [`Pg`]: a fresh database on the PostgreSQL named by `DATABASE_URL`, or on a private
//!   server started with Debian's `initdb`/`pg_ctl` in a temporary directory on a free port.
//! - [`Proxy`]: a loopback TCP proxy that can stall a link (stop forwarding, keep sockets
//!   open: a camera that hangs) or cut it (close connections and refuse new ones).
//! - [`mosquitto`]: a private Mosquitto on a free loopback port (stop, restart, its log) and
//!   a QoS 1 client to publish and watch topics.
//! - [`until`]: polls a condition until it holds or a timeout passes.
//! - [`CapturedLogs`]: the process's trace-level logs in memory, for secret-leak tests.
//! - [`synth`]: a fixed camera's noise, exposure and flame flicker applied to still photos.
//! - [`issue`]: a plausible candidate issue for the stages downstream of the rules.
//! - [`Tmpfs`]: a tiny tmpfs over a directory (root only), to fill a disk.
//! - [`http`]: plain HTTP/1.1 requests over a socket.
//! - [`browser`]: headless Chromium driven over WebDriver (chromedriver), at a desktop or a
//!   phone's size, to click through the console.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed step fails the test

pub mod browser;
pub mod http;
pub mod issue;
mod logs;
pub mod mosquitto;
mod pg;
mod poll;
mod proxy;
pub mod synth;
mod tmpfs;

pub use logs::CapturedLogs;
pub use pg::Pg;
pub use poll::until;
pub use proxy::Proxy;
pub use tmpfs::Tmpfs;
