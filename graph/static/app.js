// The web app's only script: served from here, nothing loaded from elsewhere.
// Text from the sweep is only ever set with textContent, never parsed as HTML.
"use strict";

function uploadPage(form) {
  const input = document.getElementById("results_file");
  const drop = document.getElementById("drop");
  const picked = document.getElementById("picked");
  const error = document.getElementById("error");
  const button = document.getElementById("go");
  const maxBytes = Number(form.dataset.maxBytes);
  const showPicked = () => { picked.textContent = input.files.length ? input.files[0].name : ""; };
  const fail = (message) => { error.textContent = message; error.hidden = false; button.disabled = false; };
  input.addEventListener("change", showPicked);
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault(); drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) { input.files = event.dataTransfer.files; showPicked(); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const files = [input, document.getElementById("curves_file")].filter((i) => i && i.files.length).map((i) => i.files[0]);
    const size = files.reduce((total, file) => total + file.size, 0);
    if (size > maxBytes) {
      fail(`upload too large (${(size / 1e6).toFixed(1)} MB); the limit is ${maxBytes / 1e6} MB (start the server with --max-upload-mb to change it)`);
      return;
    }
    button.disabled = true;
    let reply;
    try {
      const response = await fetch("/runs", { method: "POST", body: new FormData(form) });
      reply = await response.json();
    } catch (exc) {
      fail(`the server did not answer (${exc.message})`);
      return;
    }
    if (reply.error) { fail(reply.error); return; }
    window.location.assign(reply.url);
  });
}

function runPage(section) {
  const progress = document.getElementById("progress");
  const notes = document.getElementById("notes");
  const item = (node) => progress.querySelector(`li[data-node="${node}"]`);
  const show = (event) => {
    if (event.kind === "node") {
      const li = item(event.node);
      if (!li) return;
      li.className = "done";
      li.querySelector(".text").textContent = event.text;
    } else if (event.kind === "step") {
      const li = item(event.text.split(":")[0]);
      if (li && li.className !== "done") li.className = "running";
    } else if (event.kind === "note") {
      if (section.dataset.state === "running" || section.dataset.state === "queued") {
        const li = document.createElement("li"); li.textContent = event.text; notes.appendChild(li);
      }
    }
  };
  JSON.parse(document.getElementById("events").textContent).forEach(show);
  if (section.dataset.state === "error") progress.querySelectorAll("li.running").forEach((li) => { li.className = "failed"; });
  if (section.dataset.state !== "running" && section.dataset.state !== "queued") return;
  const status = document.getElementById("status");
  const source = new EventSource(`/runs/${section.dataset.run}/events`);
  source.addEventListener("progress", (message) => {
    if (status) status.textContent = "Running…";
    show(JSON.parse(message.data));
  });
  source.addEventListener("end", () => { source.close(); window.location.reload(); });
}

function issueTable(table) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const type = document.getElementById("filter-type");
  const severity = document.getElementById("filter-severity");
  const text = document.getElementById("filter-text");
  const count = document.getElementById("issue-count");
  const total = count.textContent.split(" of ")[1];
  const filter = () => {
    const needle = text.value.trim().toLowerCase();
    let shown = 0;
    rows.forEach((row) => {
      const keep = (!type.value || row.dataset.type === type.value)
        && (!severity.value || row.dataset.severity === severity.value)
        && (!needle || row.textContent.toLowerCase().includes(needle));
      row.hidden = !keep;
      if (keep) shown += 1;
    });
    count.textContent = `${shown} of ${total}`;
  };
  [type, severity].forEach((el) => el.addEventListener("change", filter));
  text.addEventListener("input", filter);
  table.querySelectorAll("th[data-key]").forEach((th, column) => th.addEventListener("click", () => {
    const ascending = !th.classList.contains("asc");
    table.querySelectorAll("th").forEach((other) => other.classList.remove("asc", "desc"));
    th.classList.add(ascending ? "asc" : "desc");
    const numeric = th.dataset.numeric === "1";
    const key = (row) => row.cells[column].dataset.value;
    const compare = numeric
      ? (a, b) => (key(a) === "" ? Infinity : Number(key(a))) - (key(b) === "" ? Infinity : Number(key(b)))
      : (a, b) => key(a).localeCompare(key(b), undefined, { numeric: true });
    rows.sort((a, b) => (ascending ? compare(a, b) : compare(b, a)));
    rows.forEach((row) => body.appendChild(row));
  }));
}

function copyButtons() {
  document.querySelectorAll("button.copy").forEach((button) => button.addEventListener("click", async () => {
    const text = document.getElementById(button.dataset.copy).textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch (exc) {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }));
}

function livePage(section) {
  const key = `scroll:${section.dataset.events.split("&v=")[0]}`;
  const at = sessionStorage.getItem(key);
  if (at !== null) { sessionStorage.removeItem(key); window.scrollTo(0, Number(at)); }
  const source = new EventSource(section.dataset.events);
  source.addEventListener("changed", () => {
    source.close();
    sessionStorage.setItem(key, String(window.scrollY));  // the reader keeps their place across updates
    window.location.reload();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (form) uploadPage(form);
  const section = document.getElementById("run");
  if (section) runPage(section);
  const live = document.getElementById("live");
  if (live) livePage(live);
  const table = document.getElementById("issue-table");
  if (table) issueTable(table);
  copyButtons();
});
