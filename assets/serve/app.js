// The drawing page of `digits serve`: strokes drawn with pointer events (mouse, touch, pen),
// Undo and Clear, a prediction requested after each pause in the drawing (debounced), the
// ten probabilities as bars, the top label large and the 28×28 image the model saw. A
// dropped or chosen picture is sent as it is. Plain JavaScript, no framework, no build step.
"use strict";

const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const labelOut = document.getElementById("label");
const seen = document.getElementById("seen");
const bars = document.getElementById("bars");
const confidence = document.getElementById("confidence");
const errorOut = document.getElementById("error");

// A pen at this canvas size: MNIST's strokes are about a seventh of the digit's height.
const PEN = 18;
const DEBOUNCE_MS = 150;
let strokes = [];          // every stroke drawn, as lists of points, for Undo
let current = null;        // the stroke being drawn
let timer = 0;
let sequence = 0;          // answers to older requests are dropped
let answered = 0;          // predictions shown so far (tests wait on it)

const fills = [];
for (let d = 0; d < 10; d++) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="d">${d}</span><span class="track"><span class="fill"></span></span><span class="p">–</span>`;
  li.setAttribute("aria-label", `${d}: no prediction yet`);
  bars.appendChild(li);
  fills.push(li);
}

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#111";
  ctx.fillStyle = "#111";
  ctx.lineWidth = PEN;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    if (s.length === 1) {
      ctx.beginPath();
      ctx.arc(s[0][0], s[0][1], PEN / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

// The canvas is scaled by CSS: map the pointer from CSS pixels to canvas pixels.
function point(e) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
}

canvas.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  canvas.setPointerCapture(e.pointerId);
  current = [point(e)];
  strokes.push(current);
  redraw();
  e.preventDefault();
});
canvas.addEventListener("pointermove", (e) => {
  if (!current) return;
  // Pens and fast mice deliver several positions per event: take them all.
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const c of events.length ? events : [e]) current.push(point(c));
  redraw();
  schedule();
});
function endStroke() {
  if (!current) return;
  current = null;
  schedule();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// Whether a prediction is scheduled or on its way (tests and assistive tools wait on it).
function busy(on) {
  document.body.dataset.busy = on ? "1" : "0";
  document.getElementById("result-title").parentElement.setAttribute("aria-busy", on ? "true" : "false");
}

function schedule() {
  busy(true);
  clearTimeout(timer);
  timer = setTimeout(predictDrawing, DEBOUNCE_MS);
}

function undo() {
  strokes.pop();
  redraw();
  strokes.length ? schedule() : reset();
}
function clear() {
  strokes = [];
  redraw();
  reset();
}
function reset() {
  sequence++;
  clearTimeout(timer);
  busy(false);
  labelOut.textContent = "–";
  seen.removeAttribute("src");
  confidence.textContent = "";
  errorOut.textContent = "";
  fills.forEach((li, d) => show(li, d, null));
}
document.getElementById("undo").addEventListener("click", undo);
document.getElementById("clear").addEventListener("click", clear);
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { undo(); e.preventDefault(); }
  else if (e.key === "Escape") { clear(); }
});

function predictDrawing() {
  if (!strokes.length) return busy(false);
  canvas.toBlob((blob) => send(blob, "image/png"), "image/png");
}

async function send(body, type) {
  const mine = ++sequence;
  busy(true);
  try {
    const response = await fetch("api/predict?image=true", { method: "POST", headers: { "Content-Type": type }, body });
    const answer = await response.json();
    if (mine !== sequence) return;
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    showAnswer(answer);
  } catch (err) {
    if (mine !== sequence) return;
    busy(false);
    errorOut.textContent = String(err.message || err);
  }
}

function show(li, d, p) {
  li.querySelector(".fill").style.width = p === null ? "0" : `${(p * 100).toFixed(1)}%`;
  li.querySelector(".p").textContent = p === null ? "–" : `${(p * 100).toFixed(1)}%`;
  li.setAttribute("aria-label", p === null ? `${d}: no prediction yet` : `${d}: ${(p * 100).toFixed(1)} percent`);
}

function showAnswer(answer) {
  errorOut.textContent = "";
  // Below the server's --min-confidence the model is unsure: say so rather than guess.
  labelOut.textContent = answer.unsure ? "?" : String(answer.label);
  seen.src = answer.image;
  const top = answer.top3.map((t) => `${t.digit} (${(t.probability * 100).toFixed(1)}%)`).join(", ");
  confidence.textContent = (answer.unsure ? "Unsure. " : "") + `Top 3: ${top}`;
  answer.probabilities.forEach((p, d) => {
    show(fills[d], d, p);
    fills[d].classList.toggle("best", d === answer.label);
  });
  answered++;
  document.body.dataset.answered = String(answered);
  busy(false);
}

// A picture, dropped or chosen: shown on the canvas, sent as it is (the server prepares it).
function takeFile(file) {
  if (!file) return;
  strokes = [];
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const scale = Math.min(canvas.width / img.width, canvas.height / img.height);
    const w = img.width * scale, h = img.height * scale;
    ctx.drawImage(img, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    URL.revokeObjectURL(url);
  };
  img.onerror = () => URL.revokeObjectURL(url);
  img.src = url;
  send(file, file.type || "application/octet-stream");
}
document.getElementById("file").addEventListener("change", (e) => takeFile(e.target.files[0]));
const drop = document.getElementById("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  takeFile(e.dataTransfer.files[0]);
});

async function loadModel() {
  const out = document.getElementById("model");
  try {
    const m = await (await fetch("api/model")).json();
    const params = m.parameters.total.toLocaleString("en");
    const acc = m.test_accuracy == null ? "" : `, ${(m.test_accuracy * 100).toFixed(2)}% on the test set`;
    out.textContent = `Model ${m.name} (${params} parameters${acc})`;
  } catch (err) {
    out.textContent = "The model's description could not be loaded.";
  }
}

redraw();
loadModel();
