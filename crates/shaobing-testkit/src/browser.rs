//! Headless Chromium driven over WebDriver by Debian's chromedriver (`chromium-driver`,
//! installed by scripts/setup.sh), for tests that click through the console as a person
//! would: at a desktop size or as a phone (mobile emulation: its viewport, pixel ratio and
//! touch). The protocol is plain JSON over HTTP, spoken here with the testkit's own requests.

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The key WebDriver gives an element's reference under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session with its own chromedriver and profile; both go when it is dropped.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

/// What the browser looks like to the page.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// A desktop window of this size.
    Desktop { width: u32, height: u32 },
    /// A phone: this viewport in CSS pixels, pixel ratio 3, touch.
    Phone { width: u32, height: u32 },
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session.
    pub async fn start(screen: Screen) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is missing: run scripts/setup.sh");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut options = json!({ "binary": "/usr/bin/chromium" });
        match screen {
            Screen::Desktop { width, height } => args.push(format!("--window-size={width},{height}")),
            Screen::Phone { width, height } => {
                args.push(format!("--window-size={width},{height}"));
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "touch": true },
                });
            }
        }
        options["args"] = json!(args);
        let caps =
            json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": options } } });
        let mut browser = Browser { driver, addr, session: String::new(), _profile: profile };
        let answer = browser.raw("POST", "/session", caps).await;
        browser.session = answer["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_string();
        browser
    }

    /// One request; chromedriver keeps connections open whatever the client asks, so the
    /// answer is read by its Content-Length, not to the end of the connection.
    async fn raw(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" { Vec::new() } else { body.to_string().into_bytes() };
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let answer = loop {
            let n = tokio::time::timeout(Duration::from_secs(60), s.read(&mut chunk)).await.expect("webdriver answers");
            let n = n.unwrap();
            raw.extend_from_slice(&chunk[..n]);
            if let Some(answer) = complete(&raw) {
                break answer;
            }
            assert!(n > 0, "webdriver closed the connection mid-answer: {}", String::from_utf8_lossy(&raw));
        };
        let value: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
        value.get("value").cloned().unwrap_or(value)
    }

    /// A command of this session; panics with the driver's message on an error.
    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let value = self.raw(method, &format!("/session/{}{path}", self.session), body).await;
        if let Some(error) = value.get("error") {
            panic!("webdriver {method} {path}: {error}: {}", value["message"]);
        }
        value
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` in the page (its `arguments` are `args`) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.cmd("POST", "/execute/sync", json!({ "script": script, "args": args })).await
    }

    /// The first element matching `css`, if any, right now.
    async fn find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let value = self.raw("POST", &path, json!({ "using": "css selector", "value": css })).await;
        value.get(ELEMENT).and_then(Value::as_str).map(str::to_string)
    }

    /// Waits (up to `timeout`) until an element matches `css`; panics with the page's text
    /// when none does.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            if let Some(element) = self.find(css).await {
                return element;
            }
            if started.elapsed() > timeout {
                let text = self.execute("return document.body.innerText", json!([])).await;
                panic!("nothing matches `{css}` after {timeout:?}; the page reads:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether an element matches `css` within `timeout`.
    pub async fn appears(&self, css: &str, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.find(css).await.is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Clicks the element matching `css` (waiting for it, scrolled into view as a person would).
    pub async fn click(&self, css: &str) {
        self.on_element(css, "click", json!({})).await;
    }

    /// Types `text` into the field matching `css`, after clearing it.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "clear", json!({})).await;
        self.on_element(css, "value", json!({ "text": text })).await;
    }

    /// `action` on the element matching `css`, found again if the page redrew it meanwhile,
    /// or tried again while it is not yet shown (a dialog opening, a form being laid out).
    async fn on_element(&self, css: &str, action: &str, body: Value) -> Value {
        for _ in 0..20 {
            let element = self.wait_for(css, Duration::from_secs(10)).await;
            let path = format!("/session/{}/element/{element}/{action}", self.session);
            let method = if action == "text" { "GET" } else { "POST" };
            let value = self.raw(method, &path, body.clone()).await;
            match value.get("error").and_then(Value::as_str) {
                None => return value,
                Some("stale element reference" | "element not interactable") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(error) => panic!("webdriver {action} on `{css}`: {error}: {}", value["message"]),
            }
        }
        panic!("`{css}` kept being redrawn or hidden under the {action}");
    }

    /// Chooses the option `value` of the select matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]")).await;
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, "text", json!({})).await.as_str().unwrap_or_default().to_string()
    }

    /// A Chrome DevTools Protocol command through the driver (`Emulation.setGeolocationOverride`,
    /// `Browser.grantPermissions`, …).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd("POST", "/goog/cdp/execute", json!({ "cmd": cmd, "params": params })).await
    }

    /// The page may ask for the position, and gets (`lat`, `lon`).
    pub async fn place_at(&self, origin: &str, lat: f64, lon: f64) {
        self.cdp("Browser.grantPermissions", json!({ "origin": origin, "permissions": ["geolocation"] })).await;
        self.cdp("Emulation.setGeolocationOverride", json!({ "latitude": lat, "longitude": lon, "accuracy": 10 }))
            .await;
    }

    /// A screenshot of the window, as a PNG at `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", json!({})).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// The body of a complete HTTP answer in `raw`, once all of it (by its Content-Length) is there.
fn complete(raw: &[u8]) -> Option<&[u8]> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))?;
    let body = &raw[split + 4..];
    (body.len() >= length).then(|| &body[..length])
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session first: chromedriver closes its browser then, which a killed
        // chromedriver cannot, and renderers left behind would load the machine for every later
        // test. Blocking, with a timeout: a drop cannot await.
        self.quit_blocking(Duration::from_secs(5));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn quit_blocking(&self, timeout: Duration) {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect_timeout(&self.addr, timeout) else { return };
        let _ = stream.set_read_timeout(Some(timeout));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session, self.addr
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}
