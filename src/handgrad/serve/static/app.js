// The page of `handgrad serve`: asks the JSON API and draws the answer. No framework.
"use strict";
const $ = (id) => document.getElementById(id);

function showError(message, suggestion) {
  const box = $("error");
  box.textContent = message;
  if (suggestion) {
    const b = document.createElement("button");
    b.id = "use-suggestion";
    b.textContent = `use “${suggestion}”`;
    b.onclick = () => { $("name").value = suggestion; ask(); };
    box.appendChild(b);
  }
  box.hidden = false;
}

function clearError() { $("error").hidden = true; $("error").textContent = ""; }

function drawBars(values, predicted, percent) {
  const bars = $("bars");
  bars.textContent = "";
  const max = Math.max(...Object.values(values).map(Math.abs), 1e-12);
  for (const [cls, v] of Object.entries(values)) {
    const name = document.createElement("span");
    name.textContent = cls;
    const bar = document.createElement("div");
    bar.className = "bar" + (cls === predicted ? " best" : "");
    bar.style.width = (percent ? 100 * v : 100 * Math.abs(v) / max) + "%";
    bar.dataset.cls = cls;
    const num = document.createElement("span");
    num.className = "pct";
    num.textContent = percent ? (100 * v).toFixed(1) + "%" : v.toFixed(2);
    bars.append(name, bar, num);
  }
}

async function api(url, options) {
  const r = await fetch(url, options);
  let body;
  try { body = await r.json(); } catch (e) { body = { error: `the server answered ${r.status} ${r.statusText}` }; }
  if (!r.ok) throw Object.assign(new Error(body.error || `error ${r.status}`), { body });
  return body;
}

// -- surnames ----------------------------------------------------------------------------------
let seq = 0, timer = null;
async function ask() {
  const name = $("name").value, mine = ++seq;
  if (!name.trim()) {
    clearError(); $("bars").textContent = "";
    $("top").innerHTML = '<span class="muted">The prediction appears as you type.</span>';
    return;
  }
  try {
    // POST: a long name never meets a URL length limit; the server checks the length itself
    const body = await api("/api/predict", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify({ names: [name] }) });
    if (mine !== seq) return;  // a later keystroke has already asked
    const r = body.results[0];
    clearError();
    $("top").innerHTML = "";
    const strong = document.createElement("strong");
    strong.id = "predicted";
    strong.textContent = r.predicted;
    $("top").append(`“${r.encoded}” is most likely `, strong, ` (${(100 * r.probability).toFixed(1)}%)`);
    if (r.truncated) $("top").append(" — only its first characters were read");
    drawBars(r.probabilities, r.predicted, true);
  } catch (e) {
    if (mine !== seq) return;
    $("top").textContent = ""; $("bars").textContent = "";
    showError(e.message, e.body && e.body.suggestion);
  }
}

// -- images ------------------------------------------------------------------------------------
async function classify(file) {
  if (!file) return;
  const max = Number(document.body.dataset.maxImageBytes);
  if (max && file.size > max) {  // say so before sending it (the server refuses it too)
    $("top").textContent = ""; $("bars").textContent = ""; $("seen").hidden = true;
    showError(`the image is ${(file.size / 1048576).toFixed(1)} MB; at most ${Math.floor(max / 1048576)} MB are accepted`);
    return;
  }
  const form = new FormData();
  form.append("image", file);
  $("top").textContent = "…";
  try {
    const r = await api("/api/classify", { method: "POST", body: form });
    clearError();
    $("seen").src = r.input_png; $("seen").hidden = false;
    const values = r.probabilities || r.scores;
    $("top").innerHTML = "";
    const strong = document.createElement("strong");
    strong.id = "predicted";
    strong.textContent = r.predicted;
    $("top").append("Most likely ", strong,
      r.probabilities ? ` (${(100 * r.value).toFixed(1)}%)` : ` (score ${r.value.toFixed(2)}; an SVM-loss model gives scores, not probabilities)`);
    drawBars(values, r.predicted, !!r.probabilities);
  } catch (e) {
    $("top").textContent = ""; $("bars").textContent = ""; $("seen").hidden = true;
    showError(e.message);
  }
}

if (document.body.dataset.kind === "surnames") {
  $("name").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 120); });
  if ($("name").value) ask();
} else {
  const drop = $("drop");
  $("image").addEventListener("change", (e) => classify(e.target.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); classify(e.dataTransfer.files[0]); });
}
