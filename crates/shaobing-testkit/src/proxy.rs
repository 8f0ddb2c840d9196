use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy on 127.0.0.1 in front of `upstream`.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    switches: Arc<Switches>,
}

#[derive(Debug, Default)]
struct Switches {
    stalled: AtomicBool,
    cut: AtomicBool,
}

impl Proxy {
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let switches = Arc::new(Switches::default());
        let sw = switches.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if sw.cut.load(Ordering::SeqCst) {
                    continue; // dropped at once: refused
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { continue };
                let (cr, cw) = client.into_split();
                let (sr, sw_half) = server.into_split();
                tokio::spawn(pump(cr, sw_half, sw.clone()));
                tokio::spawn(pump(sr, cw, sw.clone()));
            }
        });
        Proxy { port, switches }
    }

    /// Stops (or resumes) forwarding while every socket stays open.
    pub fn stall(&self, on: bool) {
        self.switches.stalled.store(on, Ordering::SeqCst);
    }

    /// Closes every connection and refuses new ones (or accepts them again).
    pub fn cut(&self, on: bool) {
        self.switches.cut.store(on, Ordering::SeqCst);
    }
}

async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, sw: Arc<Switches>) {
    let mut buf = vec![0u8; 64 * 1024];
    let cut = || async {
        while !sw.cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    loop {
        while sw.stalled.load(Ordering::SeqCst) && !sw.cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = cut() => return,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
