//! `digits serve` end to end: the real binary on an ephemeral loopback port, every endpoint,
//! every kind of bad request (each followed by a good request that must still be answered),
//! slow clients, and SIGTERM under load.

mod common;

use common::{TempDir, digits, s, temp_dir};
use digits::data::picture::{self, encode_png};
use digits::data::{Dataset, Split};
use digits::model::Classifier;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A small model trained once for every test of this file (about 2 s).
fn model() -> &'static Path {
    static MODEL: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let dir = temp_dir("serve-model");
            let run = dir.join("mlp");
            let out = digits(&["train", "--model", "mlp-64-64", "--limit", "5000", "--epochs", "3", "--out", s(&run)]);
            assert!(out.status.success(), "training failed: {}", String::from_utf8_lossy(&out.stderr));
            (dir, run)
        })
        .1
}

/// A running `digits serve`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_digits"))
            .args(["serve", "--model", s(model()), "--addr", "127.0.0.1:0"])
            .args(if extra.contains(&"--threads") { &[][..] } else { &["--threads", "1"][..] })
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start digits serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the URL");
        let url = line.trim().strip_prefix("digits serve: ").unwrap_or_else(|| panic!("no URL in {line:?}"));
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Server { url: url.trim_end_matches('/').to_string(), child }
    }

    fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// SIGTERM, then the exit status and standard error.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: signalling our own child process by its id.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        self.child.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
        (status, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Status and body of a POST of `body` with `content_type`.
fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut r = agent().post(url).header("Content-Type", content_type).send(body).expect("the request is answered");
    (r.status().as_u16(), r.body_mut().read_to_string().expect("a text body"))
}

fn get(url: &str) -> (u16, String, String) {
    let mut r = agent().get(url).call().expect("the request is answered");
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (r.status().as_u16(), ct, r.body_mut().read_to_string().expect("a text body"))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// MNIST test image `i` as a picture: dark ink on white, three times as large, as a PNG.
fn test_picture(i: usize) -> Vec<u8> {
    let test = Dataset::open_split("data/mnist", Split::Test).expect("MNIST test set").first(i + 1);
    let img = image::GrayImage::from_fn(84, 84, |x, y| {
        let v = test.image(i)[(y / 3 * 28 + x / 3) as usize];
        image::Luma([255 - (v * 255.0).round() as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// What the library answers for `images` with the served model.
fn library(images: &[f32]) -> digits::model::Predictions {
    Classifier::load(model()).unwrap().predict(images).unwrap()
}

fn close(a: &Value, b: &[f32]) {
    let a: Vec<f64> = a.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - *y as f64).abs() < 1e-6, "{a:?} vs {b:?}");
    }
}

#[test]
fn every_endpoint_answers_as_the_library_does() {
    let server = Server::start(&[]);
    let (status, _, body) = get(&server.url("/healthz"));
    assert_eq!((status, json(&body)), (200, json!({"status": "ok"})));
    let (_, _, body) = get(&server.url("/api/model"));
    let info = json(&body);
    assert_eq!(info["name"], "mlp-64-64");
    assert_eq!(info["parameters"]["total"], 55050);
    assert_eq!(info["kind"], "run");
    assert!(info["test_accuracy"].as_f64().unwrap() > 0.8, "{info}");
    let (status, ct, body) = get(&server.url("/api/openapi.json"));
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    assert!(json(&body)["paths"]["/api/predict"].is_object());
    let (status, ct, page) = get(&server.url("/"));
    assert!(status == 200 && ct.starts_with("text/html") && page.contains("<canvas"), "{ct} {page}");
    for asset in ["/app.js", "/style.css"] {
        let (status, _, text) = get(&server.url(asset));
        assert!(status == 200 && text.len() > 500, "{asset}");
    }

    // A picture, raw and in a form, answers as the library's preparation and model do.
    let png = test_picture(0);
    let prepared = picture::load_picture_bytes(&png, Path::new("x.png")).unwrap();
    let expected = library(&prepared);
    let (status, body) = post(&server.url("/api/predict?image=true"), "image/png", &png);
    let answer = json(&body);
    assert_eq!(status, 200, "{body}");
    assert_eq!(answer["label"], expected.label(0));
    close(&answer["probabilities"], expected.row(0));
    assert_eq!(answer["top3"][0]["digit"], expected.label(0));
    assert_eq!(answer["top3"].as_array().unwrap().len(), 3);
    let data_url = format!("data:image/png;base64,{}", base64_png(&prepared));
    assert_eq!(answer["image"], data_url, "the prepared image is the library's");
    let (status, body) = post(&server.url("/api/predict"), &form_type(), &form(&[("seven.png", &png)]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["label"], expected.label(0));
    assert!(json(&body).get("image").is_none(), "the image only when asked for");
    // A form of 3 MB (a large photo; here a text field before the picture) is within --max-body.
    let mut large = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n").into_bytes();
    large.extend(vec![b'x'; 3_000_000]);
    large.extend(b"\r\n");
    large.extend(form(&[("seven.png", &png)]));
    let (status, body) = post(&server.url("/api/predict"), &form_type(), &large);
    assert_eq!((status, json(&body)["label"].as_u64()), (200, Some(expected.label(0) as u64)), "{body}");

    // JSON pixels, 0..1 and 0..255, and a batch in JSON, CSV and a form, answered in order.
    let test = Dataset::open_split("data/mnist", Split::Test).unwrap().first(5);
    let expected = library(&test.images);
    let pixels: Vec<f32> = test.image(3).to_vec();
    let (_, body) =
        post(&server.url("/api/predict"), "application/json", json!({"pixels": pixels}).to_string().as_bytes());
    close(&json(&body)["probabilities"], expected.row(3));
    let bytes: Vec<u8> = pixels.iter().map(|v| (v * 255.0).round() as u8).collect();
    let (_, body) =
        post(&server.url("/api/predict"), "application/json", json!({"pixels": bytes}).to_string().as_bytes());
    assert_eq!(json(&body)["label"], expected.label(3));
    let images: Vec<&[f32]> = (0..5).map(|i| test.image(i)).collect();
    let (status, body) =
        post(&server.url("/api/predict/batch"), "application/json", json!({"images": images}).to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    let rows = json(&body)["predictions"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 5);
    for (i, row) in rows.iter().enumerate() {
        close(&row["probabilities"], expected.row(i));
    }
    let mut csv = String::from("label");
    (0..784).for_each(|p| csv.push_str(&format!(",pixel{p}")));
    for i in 0..5 {
        csv.push_str(&format!("\n{}", test.labels[i]));
        test.image(i).iter().for_each(|v| csv.push_str(&format!(",{}", (v * 255.0).round() as u8)));
    }
    let (status, body) = post(&server.url("/api/predict/batch"), "text/csv", csv.as_bytes());
    assert_eq!(status, 200, "{body}");
    let labels: Vec<u64> =
        json(&body)["predictions"].as_array().unwrap().iter().map(|r| r["label"].as_u64().unwrap()).collect();
    assert_eq!(labels, expected.labels().iter().map(|&l| l as u64).collect::<Vec<_>>());
    let (status, body) =
        post(&server.url("/api/predict/batch"), &form_type(), &form(&[("a.png", &png), ("b.png", &test_picture(1))]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["count"], 2);

    // The metrics count what was answered.
    let (status, ct, text) = get(&server.url("/metrics"));
    assert!(status == 200 && ct.starts_with("text/plain"), "{ct}");
    assert!(
        text.contains(r#"digits_http_requests_total{method="POST",route="/api/predict",status="200"} 5"#),
        "{text}"
    );
    assert!(text.contains(r#"digits_http_request_duration_seconds_count{route="/api/predict/batch"} 3"#), "{text}");
    assert!(text.contains("digits_http_requests_in_flight 1"), "only the metrics request itself: {text}");
    assert!(text.contains("digits_inference_images_total 17"), "{text}");
}

/// The answers to a JSON batch of `images` at `route` (with its query).
fn batch_answers(url: &str, images: &[&[f32]]) -> Vec<Value> {
    let (status, body) = post(url, "application/json", json!({ "images": images }).to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    json(&body)["predictions"].as_array().unwrap().clone()
}

#[test]
fn unsure_answers_are_exactly_those_below_the_threshold() {
    let test = Dataset::open_split("data/mnist", Split::Test).unwrap().first(60);
    let images: Vec<&[f32]> = (0..60).map(|i| test.image(i)).collect();
    let server = Server::start(&[]);
    let plain = batch_answers(&server.url("/api/predict/batch"), &images);
    let confidence: Vec<f64> = plain.iter().map(|r| r["confidence"].as_f64().unwrap()).collect();
    for (row, &c) in plain.iter().zip(&confidence) {
        assert_eq!(row["unsure"], false, "no threshold, never unsure: {row}");
        let top = row["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).fold(0.0, f64::max);
        assert_eq!(c, top, "the confidence is the top probability");
    }
    // The threshold at the median confidence, as the server printed it (so the same f32).
    let mut order: Vec<usize> = (0..60).collect();
    order.sort_by(|&a, &b| confidence[a].total_cmp(&confidence[b]));
    let p = plain[order[30]]["confidence"].to_string();
    let check = |rows: &[Value]| {
        for (i, row) in rows.iter().enumerate() {
            let below = confidence[i] < confidence[order[30]];
            assert_eq!(row["unsure"], below, "image {i}: {row}");
            assert_eq!(row["label"].is_null(), below, "image {i}: {row}");
            if !below {
                assert_eq!(row["label"], plain[i]["label"]);
            }
        }
        assert!(rows.iter().filter(|r| r["unsure"] == true).count() >= 1);
    };
    check(&batch_answers(&server.url(&format!("/api/predict/batch?min_confidence={p}")), &images));
    let (_, body) = post(
        &server.url(&format!("/api/predict?min_confidence={p}")),
        "application/json",
        json!({"pixels": images[order[0]]}).to_string().as_bytes(),
    );
    assert_eq!((json(&body)["unsure"].as_bool(), json(&body)["label"].is_null()), (Some(true), true), "{body}");
    // The server's --min-confidence is the default a request's query overrides.
    let strict = Server::start(&["--min-confidence", &p]);
    check(&batch_answers(&strict.url("/api/predict/batch"), &images));
    let relaxed = batch_answers(&strict.url("/api/predict/batch?min_confidence=0"), &images);
    assert!(relaxed.iter().all(|r| r["unsure"] == false && r["label"].is_u64()));
}

fn base64_png(pixels: &[f32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(encode_png(pixels, 28))
}

const BOUNDARY: &str = "digits-test-boundary";

fn form_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A multipart form with one `file` field per picture.
fn form(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in files {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n"
        );
        out.extend(head.as_bytes());
        out.extend(*bytes);
        out.extend(b"\r\n");
    }
    out.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// A PNG whose header declares `w`×`h` pixels, followed by a little data.
fn png_header(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn blank_png() -> Vec<u8> {
    let img = image::GrayImage::from_pixel(100, 100, image::Luma([255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Every bad request of the issue: a clear JSON error with the right 4xx, and the next good
/// request is answered.
#[test]
fn bad_requests_get_a_json_4xx_and_the_server_keeps_serving() {
    let server = Server::start(&["--max-body", "200000"]);
    let good = test_picture(0);
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let mut nan = json!({"pixels": vec![0.5; 784]}).to_string();
    nan = nan.replacen("0.5", "NaN", 1);
    let mut wrong_row = vec![vec![0.0f32; 784]; 3];
    wrong_row[1].pop();
    let batch_wrong = json!({"images": wrong_row}).to_string();
    let form_type = form_type();
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("/api/predict", "text/plain", b"hello, world".to_vec(), 415, "is not a picture"),
        ("/api/predict", "application/octet-stream", Vec::new(), 415, "the body is empty"),
        ("/api/predict", "image/png", truncated, 422, "cannot decode the image"),
        ("/api/predict", "image/png", blank_png(), 422, "no ink found"),
        ("/api/predict", "image/png", vec![0; 300_000], 413, "larger than 200000 bytes (--max-body)"),
        ("/api/predict", "image/png", png_header(100_000, 100_000), 413, "100000x100000, more than 25000000 pixels"),
        ("/api/predict", "application/json", nan.into_bytes(), 422, "NaN"),
        ("/api/predict", "application/json", br#"{"pixels": [1, 2, 3]}"#.to_vec(), 422, "expected 784 numbers"),
        ("/api/predict", "application/json", br#"{"pixels": [1, 2"#.to_vec(), 400, "invalid JSON"),
        ("/api/predict", "application/json", br#"{"pixel": []}"#.to_vec(), 422, "unknown field `pixel`"),
        ("/api/predict", "text/csv", b"pixel0\n1".to_vec(), 415, "/api/predict/batch"),
        ("/api/predict/batch", "application/json", batch_wrong.into_bytes(), 422, "images[1]: expected 784 numbers"),
        ("/api/predict/batch", "application/json", b"[]".to_vec(), 422, "no image"),
        ("/api/predict/batch", "text/csv", b"label,pixel0\n3,abc\n".to_vec(), 422, "request body: line"),
        ("/api/predict/batch", "image/png", good.clone(), 415, "a batch is JSON"),
        ("/api/predict", &form_type, form(&[]), 422, "no picture"),
        ("/api/predict", "multipart/form-data", b"--x".to_vec(), 400, "boundary"),
        ("/api/predict?min_confidence=2", "image/png", good.clone(), 400, "min_confidence must be a probability"),
        ("/api/predict?min_confidence=NaN", "image/png", good.clone(), 400, "min_confidence must be a probability"),
        ("/api/predict/batch?min_confidence=abc", "text/csv", b"pixel0\n1".to_vec(), 400, "min_confidence"),
    ];
    for (route, content_type, body, status, words) in cases {
        let (got, text) = post(&server.url(route), content_type, &body);
        assert_eq!(got, status, "{route} {content_type}: {text}");
        let v = json(&text);
        assert_eq!(v["status"], status);
        let message = v["error"].as_str().unwrap_or_else(|| panic!("no message: {text}"));
        assert!(message.contains(words), "{route} {content_type}: expected {words:?} in {message:?}");
        let (got, text) = post(&server.url("/api/predict"), "image/png", &good);
        assert_eq!(got, 200, "after {words:?}: {text}");
    }
    let (status, _, text) = get(&server.url("/no/such/route"));
    assert_eq!((status, json(&text)["error"].as_str().unwrap()), (404, "no route GET /no/such/route"));
    let mut r = agent().delete(&server.url("/api/predict")).call().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(allow.as_deref(), Some("POST"), "a 405 names the methods the route takes (RFC 9110)");
    assert_eq!(json(&r.body_mut().read_to_string().unwrap())["error"], "DELETE is not allowed on /api/predict");
    let (status, _, text) = get(&server.url("/api/predict"));
    assert_eq!((status, json(&text)["status"].as_u64()), (405, Some(405)));
    let (_, _, text) = get(&server.url("/metrics"));
    assert!(
        text.contains(r#"digits_http_request_errors_total{method="POST",route="/api/predict",status="413"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"digits_http_request_errors_total{method="GET",route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(!text.contains(r#"digits_http_request_errors_total{method="POST",route="/api/predict",status="200"}"#));
}

/// A body sent in chunks past the limit, with no Content-Length to refuse it by, is cut off
/// once the limit is passed.
#[test]
fn a_chunked_body_past_the_limit_is_refused() {
    let server = Server::start(&["--max-body", "10000"]);
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: {}\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr()
    );
    stream.write_all(head.as_bytes()).unwrap();
    for _ in 0..4 {
        let chunk = vec![b'x'; 4000];
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err() || stream.write_all(&chunk).is_err() {
            break;
        }
        let _ = stream.write_all(b"\r\n");
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let response = read_response(&mut stream);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("larger than 10000 bytes"), "{response}");
    assert_eq!(post(&server.url("/api/predict"), "image/png", &test_picture(2)).0, 200);
}

/// What the server sent until it closed the connection (or 10 s passed).
fn read_response(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend(&buf[..n]),
        }
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length: ")?.trim().parse::<usize>().ok());
            if length.is_some_and(|n| out.len() >= end + 4 + n) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Slow clients (a slowloris sending its headers byte by byte, a body that stalls) are cut off
/// after `--timeout`, and other clients are served meanwhile and after.
#[test]
fn slow_clients_are_cut_off_and_others_served() {
    let server = Server::start(&["--timeout", "1"]);
    let start = Instant::now();
    let mut headers = TcpStream::connect(server.addr()).unwrap();
    headers.write_all(b"POST /api/predict HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut body = TcpStream::connect(server.addr()).unwrap();
    body.write_all(
        b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n0123456789",
    )
    .unwrap();
    // Served while the two stall.
    assert_eq!(post(&server.url("/api/predict"), "image/png", &test_picture(1)).0, 200);
    let answer = read_response(&mut body);
    let waited = start.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "a stalled body gets 408: {answer:?}");
    assert!(answer.contains("--timeout"), "{answer}");
    assert!(waited < Duration::from_secs(5), "cut off after {waited:?}");
    let mut rest = Vec::new();
    headers.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let closed = headers.read_to_end(&mut rest);
    assert!(
        closed.is_ok() || start.elapsed() < Duration::from_secs(10),
        "headers never finished: connection still open"
    );
    assert!(start.elapsed() < Duration::from_secs(6), "slowloris cut off after {:?}", start.elapsed());
    assert_eq!(post(&server.url("/api/predict"), "image/png", &test_picture(1)).0, 200);
}

/// SIGTERM while 8 clients send requests: every request the server answered reached its
/// client whole, none failed with a server error, and the server exits 0 having said how many
/// it answered — the same number the clients received.
#[test]
fn sigterm_under_load_loses_no_answered_request_and_exits_0() {
    let server = Server::start(&["--threads", "2"]);
    let url = server.url("/api/predict");
    let pictures: Vec<Vec<u8>> = (0..8).map(test_picture).collect();
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let clients: Vec<_> = pictures
        .into_iter()
        .map(|png| {
            let (url, received) = (url.clone(), received.clone());
            std::thread::spawn(move || {
                let agent = agent();
                loop {
                    match agent.post(&url).header("Content-Type", "image/png").send(&png[..]) {
                        Ok(mut r) => {
                            let status = r.status().as_u16();
                            let text = r.body_mut().read_to_string().expect("an answered request arrives whole");
                            assert_eq!(status, 200, "{text}");
                            assert!(json(&text)["label"].is_u64(), "{text}");
                            received.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        // Refused or closed before the request was read: the server is stopping.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    while received.load(std::sync::atomic::Ordering::SeqCst) < 200 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, stderr) = server.terminate();
    for c in clients {
        c.join().expect("a client saw a broken answer");
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    let answered: u64 = stderr
        .split("stopped after answering ")
        .nth(1)
        .and_then(|t| t.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stderr:?}"));
    assert_eq!(answered, received.load(std::sync::atomic::Ordering::SeqCst), "{stderr}");
    assert!(!stderr.contains("cut off"), "{stderr}");
}
