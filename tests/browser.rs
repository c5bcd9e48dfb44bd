//! The drawing page in a real browser: `digits serve` on an ephemeral loopback port with a
//! model trained here (the `fast` recipe for one epoch on the full training set), Debian's
//! chromium driven over the DevTools protocol to draw a 1, a 7 and a 0 on the canvas with real
//! mouse events (`Input.dispatchMouseEvent`: press, moves with the button held, release), and
//! the label the page shows read back. `scripts/test` installs chromium when it is missing and
//! names it in `DIGITS_CHROMIUM`; without it this test fails, saying so.

mod common;

use common::{digits, s, temp_dir};
use headless_chrome::protocol::cdp::Input;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `DIGITS_CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("DIGITS_CHROMIUM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("chromium was not found (DIGITS_CHROMIUM is unset, no `chromium` on the PATH): run scripts/test, which installs it with apt-get")
    })
}

/// Points of one stroke in the unit square.
type Stroke = Vec<(f64, f64)>;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A stroke through the points of the unit square (0,0 top left), drawn on the canvas whose
/// box on the page is `rect` (x, y, width, height) as one press, moves every few pixels with
/// the left button held, and one release.
fn stroke(tab: &Tab, rect: [f64; 4], points: &[(f64, f64)]) {
    let at = |(u, v): (f64, f64)| (rect[0] + u * rect[2], rect[1] + v * rect[3]);
    let mut path = vec![at(points[0])];
    for w in points.windows(2) {
        let (a, b) = (at(w[0]), at(w[1]));
        let steps = ((b.0 - a.0).hypot(b.1 - a.1) / 4.0).ceil().max(1.0) as usize;
        path.extend((1..=steps).map(|i| {
            let t = i as f64 / steps as f64;
            (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
        }));
    }
    let event = |kind, (x, y): (f64, f64), buttons| Input::DispatchMouseEvent {
        Type: kind,
        x,
        y,
        modifiers: None,
        timestamp: None,
        button: Some(Input::MouseButton::Left),
        buttons: Some(buttons),
        click_count: Some(1),
        force: None,
        tangential_pressure: None,
        tilt_x: None,
        tilt_y: None,
        twist: None,
        delta_x: None,
        delta_y: None,
        pointer_Type: Some(Input::DispatchMouseEventPointer_TypeOption::Mouse),
    };
    use Input::DispatchMouseEventTypeOption::{MouseMoved, MousePressed, MouseReleased};
    tab.call_method(event(MousePressed, path[0], 1)).expect("press");
    for &p in &path[1..] {
        tab.call_method(event(MouseMoved, p, 1)).expect("move");
    }
    tab.call_method(event(MouseReleased, *path.last().unwrap(), 0)).expect("release");
}

fn js(tab: &Tab, expression: &str) -> serde_json::Value {
    tab.evaluate(expression, false).expect("evaluate").value.unwrap_or(serde_json::Value::Null)
}

/// Waits until the page has shown more than `seen` predictions and none is scheduled or on
/// its way; returns the count and the label shown.
fn label_after(tab: &Tab, seen: u64) -> (u64, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = js(
            tab,
            "[Number(document.body.dataset.answered || 0), document.body.dataset.busy || '0', document.getElementById('label').textContent].join(' ')",
        );
        let state = state.as_str().unwrap_or_default().to_string();
        let mut parts = state.split(' ');
        let answered: u64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        if answered > seen && parts.next() == Some("0") {
            return (answered, parts.next().unwrap_or_default().to_string());
        }
        let error = js(tab, "document.getElementById('error').textContent");
        assert!(Instant::now() < deadline, "no prediction shown within 20 s (state {state}, page error: {error})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_server(model: &std::path::Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_digits"))
        .args(["serve", "--model", s(model), "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start digits serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("digits serve: ").expect("the URL").to_string();
    (Server(child), url)
}

#[test]
fn a_drawn_1_7_and_0_are_read_right_in_chromium() {
    let chromium = chromium();
    let dir = temp_dir("browser");
    let model = dir.join("fast");
    let out = digits(&["train", "--recipe", "fast", "--epochs", "1", "--out", s(&model)]);
    assert!(out.status.success(), "training failed: {}", String::from_utf8_lossy(&out.stderr));
    let (_server, url) = start_server(&model);

    let options = LaunchOptions::default_builder()
        .path(Some(chromium))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1000, 800)))
        .user_data_dir(Some(dir.join("profile")))
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .expect("launch options");
    let browser = Browser::new(options).expect("chromium starts (run scripts/test to install it)");
    let tab = browser.new_tab().expect("a tab");
    tab.navigate_to(&url).expect("navigate").wait_until_navigated().expect("the page loads");
    tab.wait_for_element("#canvas").expect("the canvas");
    let r = js(&tab, "JSON.stringify(document.getElementById('canvas').getBoundingClientRect())");
    let r: serde_json::Value = serde_json::from_str(r.as_str().unwrap()).unwrap();
    let rect = ["x", "y", "width", "height"].map(|k| r[k].as_f64().unwrap());
    assert!(rect[2] > 200.0, "the canvas is drawn at {rect:?}");

    let ellipse: Vec<(f64, f64)> = (0..=40)
        .map(|i| {
            let a = i as f64 / 40.0 * std::f64::consts::TAU;
            (0.5 + 0.2 * a.sin(), 0.5 - 0.3 * a.cos())
        })
        .collect();
    let digits_drawn: [(&str, Vec<Stroke>); 3] = [
        ("1", vec![vec![(0.52, 0.18), (0.5, 0.5), (0.48, 0.82)]]),
        ("7", vec![vec![(0.28, 0.22), (0.72, 0.22), (0.6, 0.45), (0.45, 0.82)]]),
        ("0", vec![ellipse]),
    ];
    let mut seen = 0;
    for (expected, strokes) in &digits_drawn {
        for points in strokes {
            stroke(&tab, rect, points);
        }
        let (answered, label) = label_after(&tab, seen);
        seen = answered;
        if *expected == "7" {
            let shot =
                tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true).expect("screenshot");
            let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
            std::fs::write(&path, shot).expect("write the screenshot");
        }
        assert_eq!(&label, expected, "the page read a drawn {expected} as {label}");
        let bars = js(&tab, "document.querySelectorAll('#bars li').length");
        assert_eq!(bars, 10);
        let seen_src = js(&tab, "document.getElementById('seen').src.slice(0, 22)");
        assert_eq!(seen_src, "data:image/png;base64,", "the prepared image is shown");
        // Clear with a real click on the button.
        let clear = tab.find_element("#clear").expect("the Clear button");
        clear.click().expect("click Clear");
        assert_eq!(js(&tab, "document.getElementById('label').textContent"), "–");
    }
}
