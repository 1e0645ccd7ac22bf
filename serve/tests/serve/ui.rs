//! The analyst UI: sign-in, sessions, CSRF and roles over plain HTTP on both engines, then the
//! whole walk through in Debian's Chromium driven by ChromeDriver (sign in, overview, a
//! decision, a review, models, a refused and an allowed promotion, sign out), with no console
//! error and a screenshot of every page under `target/ui-screenshots/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use riskloop_serve::decision::policy::Policy;
use riskloop_serve::lifecycle::retrain::{self, Cycle, RetrainSettings};

use crate::app::{POLICY, Reply, TestApp, http, spawn_app};
use crate::data_loop::{lenient, score_all};
use crate::helpers::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_sessions_forms_and_roles_on_sqlite() {
    let app = spawn_app(TestDb::sqlite().await).await;
    sign_in_gives_a_strict_cookie_and_every_form_and_role_is_checked_on_the_server(&app).await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_sessions_forms_and_roles_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let app = spawn_app(db).await;
    sign_in_gives_a_strict_cookie_and_every_form_and_role_is_checked_on_the_server(&app).await;
    app.finish().await;
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The value of cookie `name` set by a response.
fn set_cookie<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn cookie_value(set: &str) -> String {
    set.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// The CSRF token a page's forms carry.
fn csrf_of(body: &str) -> String {
    let at = body
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + 19;
    body[at..at + 64].to_owned()
}

fn post_form(port: u16, path: &str, cookie: &str, body: &str) -> Reply {
    http(
        port,
        "POST",
        path,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", cookie),
        ],
        Some(body),
    )
}

/// Signs in with `key`: the session cookie (`riskloop_session=…`) and its CSRF token.
fn sign_in(app: &TestApp, key: &str) -> Result<(String, String), Reply> {
    let page = http(app.port, "GET", "/ui/login", &[], None);
    assert_eq!(page.status, 200, "{}", page.body);
    let login = cookie_value(set_cookie(&page, "riskloop_login").unwrap());
    let reply = post_form(
        app.port,
        "/ui/login",
        &format!("riskloop_login={login}"),
        &form(&[("csrf", &login), ("key", key), ("next", "/ui/decisions")]),
    );
    if reply.status != 303 {
        return Err(reply);
    }
    assert_eq!(reply.header("location"), Some("/ui/decisions"));
    let set = set_cookie(&reply, "riskloop_session").unwrap().to_owned();
    let lower = set.to_ascii_lowercase();
    assert!(
        lower.contains("httponly")
            && lower.contains("samesite=strict")
            && lower.contains("path=/ui"),
        "{set}"
    );
    assert!(!lower.contains("secure"), "plain HTTP: not Secure ({set})");
    let cookie = format!("riskloop_session={}", cookie_value(&set));
    let home = http(app.port, "GET", "/ui/", &[("Cookie", &cookie)], None);
    assert_eq!(home.status, 200, "{}", home.body);
    Ok((cookie.clone(), csrf_of(&home.body)))
}

async fn sign_in_gives_a_strict_cookie_and_every_form_and_role_is_checked_on_the_server(
    app: &TestApp,
) {
    let port = app.port;
    // Signed out, every page sends the browser to sign in, and says where it was going.
    let r = http(port, "GET", "/ui/decisions?decision=review", &[], None);
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/ui/login?next=/ui/decisions%3Fdecision%3Dreview")
    );
    let r = http(port, "GET", "/ui/login", &[], None);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    // A sign-in form that did not come from the sign-in page is refused before the key is read.
    let r = post_form(
        port,
        "/ui/login",
        "",
        &form(&[("csrf", "x"), ("key", &app.admin)]),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(set_cookie(&r, "riskloop_session").is_none());
    // A wrong key, and an integration key, cannot sign in.
    let r = sign_in(app, "rk_not_a_key").unwrap_err();
    assert_eq!(r.status, 401);
    assert!(r.body.contains("not valid"), "{}", r.body);
    let r = sign_in(app, &app.integration).unwrap_err();
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("integration key cannot sign in"),
        "{}",
        r.body
    );

    score_all(app);
    let (analyst, csrf) = sign_in(app, &app.analyst).unwrap();
    let (waiting, waiting_count) = app.store.review_queue(1).await.unwrap();
    assert!(waiting_count > 0);
    let id = &waiting[0].record.id;
    let review_path = format!("/ui/decisions/{id}/review");
    let body = form(&[
        ("csrf", &csrf),
        ("decision", "approve"),
        ("note", "income verified"),
    ]);
    // Without the session's CSRF token, or without a comment, nothing is stored.
    let r = post_form(
        port,
        &review_path,
        &analyst,
        &form(&[("decision", "approve"), ("note", "x")]),
    );
    assert_eq!(r.status, 422, "a form without its token: {}", r.body);
    let wrong = form(&[
        ("csrf", &"0".repeat(64)),
        ("decision", "approve"),
        ("note", "x"),
    ]);
    assert_eq!(post_form(port, &review_path, &analyst, &wrong).status, 403);
    let silent = form(&[("csrf", &csrf), ("decision", "approve"), ("note", "  ")]);
    let r = post_form(port, &review_path, &analyst, &silent);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("note: a comment is required"), "{}", r.body);
    assert!(app.store.reviews_of(id).await.unwrap().is_empty());
    // The same form from a session cookie alone (another site's post) fails too: SameSite=Strict
    // keeps the cookie off it, and without the cookie it goes to sign in.
    assert_eq!(post_form(port, &review_path, "", &body).status, 303);
    let r = post_form(port, &review_path, &analyst, &body);
    assert_eq!(r.status, 303, "{}", r.body);
    let reviews = app.store.reviews_of(id).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].note, "income verified");
    assert_eq!(
        app.store
            .get_decision(id)
            .await
            .unwrap()
            .unwrap()
            .record
            .decision
            .as_str(),
        "review"
    );

    // An analyst reads models but cannot promote, by page or by form.
    let promote = format!("/ui/models/{}/promote", app.versions[1]);
    let r = http(port, "GET", &promote, &[("Cookie", &analyst)], None);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("manage models"), "{}", r.body);
    let r = post_form(port, &promote, &analyst, &form(&[("csrf", &csrf)]));
    assert_eq!(r.status, 403);
    assert_eq!(
        app.store.champion().await.unwrap().unwrap().record.version,
        app.versions[0]
    );
    for page in [
        "/ui/",
        "/ui/decisions",
        &format!("/ui/decisions/{id}"),
        "/ui/review",
        "/ui/models",
        &format!("/ui/models/{}", app.versions[0]),
        "/ui/monitoring",
        "/ui/jobs",
    ] {
        let r = http(port, "GET", page, &[("Cookie", &analyst)], None);
        assert_eq!(r.status, 200, "{page}: {}", r.body);
    }
    // Bad input on a page is a page naming the field, never a 5xx.
    let r = http(
        port,
        "GET",
        "/ui/decisions?from=yesterday",
        &[("Cookie", &analyst)],
        None,
    );
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("from: `yesterday` is not a date"),
        "{}",
        r.body
    );
    assert_eq!(
        http(
            port,
            "GET",
            "/ui/decisions/nope",
            &[("Cookie", &analyst)],
            None
        )
        .status,
        422
    );
    assert_eq!(
        http(
            port,
            "GET",
            "/ui/jobs/999999",
            &[("Cookie", &analyst)],
            None
        )
        .status,
        404
    );
    assert_eq!(
        http(port, "GET", "/ui/nowhere", &[("Cookie", &analyst)], None).status,
        404
    );

    // An admin promotes through the confirmation's form.
    let (admin, admin_csrf) = sign_in(app, &app.admin).unwrap();
    let r = http(port, "GET", &promote, &[("Cookie", &admin)], None);
    assert_eq!(r.status, 200);
    let r = post_form(port, &promote, &admin, &form(&[("csrf", &admin_csrf)]));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        app.store.champion().await.unwrap().unwrap().record.version,
        app.versions[1]
    );
    // And rolls back, after its confirmation; an analyst cannot.
    let r = http(port, "GET", "/ui/rollback", &[("Cookie", &analyst)], None);
    assert_eq!(r.status, 403);
    let r = post_form(port, "/ui/rollback", &analyst, &form(&[("csrf", &csrf)]));
    assert_eq!(r.status, 403);
    let r = http(port, "GET", "/ui/rollback", &[("Cookie", &admin)], None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&app.versions[0]), "{}", r.body);
    let r = post_form(
        port,
        "/ui/rollback",
        &admin,
        &form(&[("csrf", &admin_csrf)]),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        app.store.champion().await.unwrap().unwrap().record.version,
        app.versions[0]
    );

    // Signing out ends the session on the server; revoking a key ends its sessions at once.
    let r = post_form(port, "/ui/logout", &analyst, &form(&[("csrf", &csrf)]));
    assert_eq!(r.status, 303);
    assert_eq!(
        http(port, "GET", "/ui/", &[("Cookie", &analyst)], None).status,
        303
    );
    let key = app.store.list_api_keys().await.unwrap();
    let admin_key = key.iter().find(|k| k.role.as_str() == "admin").unwrap();
    app.store.revoke_api_key(admin_key.id).await.unwrap();
    assert_eq!(
        http(port, "GET", "/ui/", &[("Cookie", &admin)], None).status,
        303
    );
    let audit = app.store.recent_audit(50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "ui.sign_in"));
    assert!(audit.iter().any(|a| a.action == "ui.sign_out"));
}

/// A W3C WebDriver session on a ChromeDriver started for the test.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    shots: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One WebDriver command; its `value`.
fn wd(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let value = wd_raw(port, method, path, body);
    if let Some(error) = value["error"].as_str() {
        panic!("webdriver {method} {path}: {error}: {}", value["message"]);
    }
    value
}

/// One WebDriver command; its `value`, errors included.
fn wd_raw(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    // ChromeDriver answers `Connection: close` but keeps the connection open: read the head,
    // then exactly Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let head_end = loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "webdriver {method} {path}: connection closed before the head"
        );
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Content-Length");
    while raw.len() < head_end + length {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "webdriver {method} {path}: connection closed mid-body"
        );
        raw.extend_from_slice(&buf[..n]);
    }
    let json = String::from_utf8_lossy(&raw[head_end..head_end + length]);
    let value: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    value["value"].clone()
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium; `None` (with a notice) where they are not
    /// installed, except in CI, where the UI must be tested.
    fn start() -> Option<Self> {
        let driver = std::env::var("RISKLOOP_TEST_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        if !std::path::Path::new(&driver).exists() {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the browser tests: ChromeDriver is not at {driver}"
            );
            println!(
                "notice: no ChromeDriver at {driver}; skipping the browser test (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = free_port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "ChromeDriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("/usr/bin/chromium");
        let session = wd(
            port,
            "POST",
            "/session",
            Some(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--no-first-run", "--disable-extensions"]
                }
            }}})),
        );
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let browser = Self {
            driver: child,
            port,
            session: session["sessionId"].as_str().unwrap().to_owned(),
            shots,
        };
        browser.cmd("POST", "/timeouts", Some(&json!({"implicit": 3000})));
        Some(browser)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        wd(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_owned()
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        self.cmd(
            "POST",
            "/elements",
            Some(&json!({"using": "css selector", "value": css})),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e.as_object()
                .unwrap()
                .values()
                .next()
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
    }

    fn find(&self, css: &str) -> String {
        self.find_all(css)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no `{css}` on {}", self.url()))
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(&json!({})));
    }

    /// Clicks what submits a form or follows a link, and waits for the next page.
    fn submit(&self, css: &str) {
        let page = self.find("html");
        self.click(css);
        let started = Instant::now();
        loop {
            let probe = wd_raw(
                self.port,
                "GET",
                &format!("/session/{}/element/{page}/name", self.session),
                None,
            );
            if probe["error"].is_string() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no new page after clicking `{css}` on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The new document may still be loading: wait for its body.
        self.find("body");
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(&json!({ "text": text })),
        );
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("/element/{e}/text"), None)
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn width(&self, px: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({"width": px, "height": 1000})),
        );
    }

    /// The whole page as a PNG under `target/ui-screenshots/`.
    fn shot(&self, name: &str) {
        // Full height: size the window to the document, then take the viewport.
        let height = self
            .cmd(
                "POST",
                "/execute/sync",
                Some(
                    &json!({"script": "return document.documentElement.scrollHeight", "args": []}),
                ),
            )
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 6000);
        let width = self.cmd("GET", "/window/rect", None)["width"]
            .as_u64()
            .unwrap();
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height + 120})),
        );
        let png = self.cmd("GET", "/screenshot", None);
        let bytes = base64_decode(png.as_str().unwrap());
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
        self.cmd(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": 1000})),
        );
    }

    /// Messages the pages logged as errors (CSP violations, failed loads, script errors).
    fn console_errors(&self) -> Vec<String> {
        wd(
            self.port,
            "POST",
            &format!("/session/{}/se/log", self.session),
            Some(&json!({"type": "browser"})),
        )
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        // The refusals this test asks for (a 401/403 page) are logged as failed loads.
        .filter(|e| {
            let m = e["message"].as_str().unwrap_or("");
            !(m.contains("status of 401") || m.contains("status of 403"))
        })
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = TcpStream::connect(("127.0.0.1", self.port)).map(|mut s| {
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = s.write_all(request.as_bytes());
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read(&mut [0u8; 4096]);
        });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
    {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_and_an_admin_use_the_ui_in_chromium() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let app = spawn_app(TestDb::sqlite().await).await;
    let decided = score_all(&app);
    // Outcomes for half the book, so that observed default rates can be drawn.
    let at = (chrono::Utc::now() + chrono::TimeDelta::seconds(1)).to_rfc3339();
    let outcomes: Vec<Value> = decided
        .iter()
        .step_by(2)
        .map(|(id, bad)| json!({"decision_id": id, "outcome": if *bad == 1 { "default" } else { "repaid" }, "observed_at": at}))
        .collect();
    let r = app.post(
        "/v1/outcomes",
        &app.integration,
        &json!({ "outcomes": outcomes }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // A retrain cycle whose challenger must gain 0.5 AUC: a job with a log, refused.
    let work = tempfile::tempdir().unwrap();
    let policy = Policy::parse(POLICY, "test").unwrap();
    let strict = RetrainSettings {
        min_auc_gain: 0.5,
        ..lenient()
    };
    let cycle = Cycle {
        store: &app.store,
        settings: &strict,
        models_dir: work.path().join("models"),
        work_dir: work.path().join("work"),
        policy: &policy,
        slot: None,
        actor: "test".into(),
        stop: None,
    };
    let refused = retrain::run(&cycle, &|_| {}).await.unwrap();
    assert!(!refused.promoted);
    let base = format!("http://127.0.0.1:{}", app.port);

    // Signed out: the sign-in page. An integration key is refused there.
    browser.go(&format!("{base}/ui/"));
    assert!(browser.url().contains("/ui/login"), "{}", browser.url());
    browser.shot("01-sign-in");
    browser.type_into("#key", &app.integration);
    browser.submit("button[type=submit]");
    assert!(
        browser
            .text(".error")
            .contains("integration key cannot sign in")
    );

    // An analyst signs in and sees the overview with its charts drawn.
    browser.type_into("#key", &app.analyst);
    browser.submit("button[type=submit]");
    assert!(
        browser.url().ends_with("/ui/"),
        "{}: {}",
        browser.url(),
        browser.text("main")
    );
    assert_eq!(browser.text("h1"), "Overview");
    assert!(
        browser.find_all("svg.chart rect.bar").len() >= 3,
        "volume and score bars"
    );
    assert!(
        !browser.find_all("svg.chart polyline.line").is_empty(),
        "rate lines"
    );
    browser.shot("02-overview");

    // Decisions: filter to reviews, open one.
    browser.go(&format!("{base}/ui/decisions?decision=review"));
    let rows = browser.find_all("table.list tbody tr");
    assert!(!rows.is_empty());
    browser.shot("03-decisions");
    browser.submit("table.list tbody tr a");
    assert!(
        browser.url().contains("/ui/decisions/"),
        "{}",
        browser.url()
    );
    assert!(browser.text("h1").contains("review"));
    assert!(
        !browser.find_all("svg.chart rect.bar").is_empty(),
        "contributions drawn"
    );
    browser.shot("04-decision");

    // The review queue: approve the oldest with a comment.
    browser.go(&format!("{base}/ui/review"));
    let before = app.store.review_queue(1).await.unwrap();
    let oldest = before.0[0].record.id.clone();
    browser.shot("05-review-queue");
    browser.type_into("ul.queue li input[name=note]", "income verified by phone");
    browser.submit("ul.queue li button[value=approve]");
    assert!(browser.text(".notice").contains("Review stored"));
    let reviews = app.store.reviews_of(&oldest).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].note, "income verified by phone");
    assert_eq!(app.store.review_queue(1).await.unwrap().1, before.1 - 1);

    // Models, a model's page; promotion is refused to an analyst.
    browser.go(&format!("{base}/ui/models"));
    assert_eq!(
        browser.find_all("table.list tbody tr").len(),
        3,
        "two models and a challenger"
    );
    browser.shot("06-models");
    browser.go(&format!("{base}/ui/models/{}", app.versions[0]));
    assert!(
        browser.find_all("svg.chart polyline.line").len() >= 2,
        "ROC and calibration"
    );
    browser.shot("07-model");
    assert!(
        browser.find_all("a.button").is_empty(),
        "no promote button for an analyst"
    );
    browser.go(&format!("{base}/ui/models/{}/promote", app.versions[1]));
    assert_eq!(browser.text("h1"), "Not allowed");
    browser.shot("08-promote-refused-to-analyst");
    browser.go(&format!("{base}/ui/monitoring"));
    assert!(!browser.find_all("svg.chart").is_empty());
    browser.shot("09-monitoring");
    browser.go(&format!("{base}/ui/jobs"));
    browser.shot("10-jobs");
    browser.submit("table a");
    assert!(browser.text("h1").contains("retrain"));
    assert!(
        browser.find_all("ol.log li").len() >= 3,
        "the cycle's steps"
    );
    assert!(browser.text("main").contains("not promoted"));
    browser.shot("10b-job");

    // Narrow screens: the same pages, one column.
    browser.width(768);
    browser.go(&format!("{base}/ui/"));
    browser.shot("11-overview-768");
    browser.go(&format!("{base}/ui/decisions/{oldest}"));
    browser.shot("12-decision-768");
    browser.width(1280);

    // Sign out; the pages are closed again.
    browser.submit("form.signout button");
    assert!(browser.url().contains("/ui/login"), "{}", browser.url());
    browser.go(&format!("{base}/ui/models"));
    assert!(browser.url().contains("/ui/login"), "{}", browser.url());

    // An admin promotes the other model after confirming; the server decides with it.
    browser.type_into("#key", &app.admin);
    browser.submit("button[type=submit]");
    assert!(
        browser.url().ends_with("/ui/models"),
        "back where it was going: {}",
        browser.url()
    );
    browser.go(&format!("{base}/ui/models/{}", app.versions[1]));
    browser.submit("a.button");
    browser.shot("13-promote-confirm");
    browser.submit("form button.danger");
    assert!(browser.text(".notice").contains("is now the champion"));
    browser.shot("14-promoted");
    let info = app.get("/v1/info", None).json();
    assert_eq!(info["model_version"], app.versions[1].as_str());

    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    app.finish().await;
}
