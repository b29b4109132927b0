// The agents' workspace: live updates (the agent's feed), presence, keyboard shortcuts,
// drafts, collision detection. Plain JavaScript over the server-rendered pages: every page
// works without it, this only keeps it current and quick to use.
(function () {
  "use strict";
  const body = document.body;
  const page = body.dataset.page;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  if (!csrfMeta) return; // signed out: nothing to do
  const csrf = csrfMeta.content;

  function post(url, data, extra) {
    return fetch(url, Object.assign({
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(data || {}),
    }, extra || {}));
  }

  // ---- live status line -------------------------------------------------------------------
  const live = document.getElementById("live-status");
  function say(text) { if (live) live.textContent = text; }

  // ---- presence: online while used, away after idle, heartbeat while open -----------------
  const presenceEl = document.getElementById("presence");
  const idleLimit = parseFloat(body.dataset.idle || "300") * 1000;
  const beat = parseFloat(body.dataset.heartbeat || "20") * 1000;
  let lastActivity = Date.now();
  let presence = null;
  function showPresence(value) {
    presence = value;
    if (presenceEl) { presenceEl.textContent = value; presenceEl.dataset.presence = value; }
  }
  function setPresence(value) {
    if (presence === value) return;
    showPresence(value);
    post("/api/me/presence", { presence: value }).catch(function () {});
  }
  ["keydown", "pointerdown", "pointermove", "focus"].forEach(function (name) {
    window.addEventListener(name, function () {
      lastActivity = Date.now();
      if (presence === "away") setPresence("online");
    }, { passive: true });
  });
  setPresence("online");
  setInterval(function () {
    if (Date.now() - lastActivity > idleLimit) setPresence("away");
    post("/api/me/heartbeat").catch(function () {});
  }, beat);

  // ---- the live feed ----------------------------------------------------------------------
  // `hello` comes on every (re)connection: what changed while no feed was open (a reload after
  // a form, a dropped connection) is read once then, since the feed does not replay it.
  const handlers = { hello: [], ticket: [], viewers: [], presence: [showPresenceFrame], escalation: [] };
  function showPresenceFrame(frame) { showPresence(frame.presence); }
  function connect() {
    const source = new EventSource("/api/me/feed?tickets=true");
    source.addEventListener("hello", function () { body.dataset.live = "on"; say(""); });
    // (The handlers below run after this one: the page is marked live first.)
    Object.keys(handlers).forEach(function (type) {
      source.addEventListener(type, function (event) {
        const frame = JSON.parse(event.data);
        handlers[type].forEach(function (handle) { handle(frame); });
      });
    });
    source.onerror = function () {
      body.dataset.live = "off";
      say("Live updates paused; reconnecting…");
    };
  }
  connect();

  // Re-read a fragment and put it in place; bursts of frames cause one read.
  function refresher(container, urlOf, after) {
    let timer = null;
    let running = false;
    let again = false;
    async function run() {
      if (running) { again = true; return; }
      running = true;
      try {
        const response = await fetch(urlOf(), { credentials: "same-origin" });
        if (response.redirected || !response.ok) return;
        container.innerHTML = await response.text();
        if (after) after();
      } finally {
        running = false;
        if (again) { again = false; run(); }
      }
    }
    return function () {
      clearTimeout(timer);
      timer = setTimeout(run, 0);
    };
  }

  // ---- countdowns --------------------------------------------------------------------------
  function countdowns() {
    const now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      const due = Date.parse(el.dataset.due);
      if (isNaN(due)) return;
      const minutes = Math.round((due - now) / 60000);
      const span = Math.abs(minutes) >= 120 ? Math.round(Math.abs(minutes) / 60) + " h" : Math.abs(minutes) + " min";
      el.textContent = minutes >= 0 ? "due in " + span : "overdue " + span;
      el.classList.toggle("overdue", minutes < 0);
    });
  }
  countdowns();
  setInterval(countdowns, 30000);

  // ---- keyboard ----------------------------------------------------------------------------
  const help = document.getElementById("help");
  let pendingG = false;
  const keys = {};
  function typingIn(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingIn(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "?") { event.preventDefault(); if (help) help.showModal(); return; }
    if (pendingG) {
      pendingG = false;
      if (event.key === "q") { window.location.href = "/workspace"; }
      return;
    }
    if (event.key === "g") { pendingG = true; return; }
    const handle = keys[event.key];
    if (handle) { event.preventDefault(); handle(); }
  });

  // ---- the queue ---------------------------------------------------------------------------
  if (page === "queue") {
    const queue = document.getElementById("queue");
    let selected = null; // the ticket number kept selected across live refreshes
    function rows() { return Array.from(queue.querySelectorAll("li.ticket")); }
    function select(row) {
      rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-current"); });
      if (!row) return;
      row.classList.add("selected");
      row.setAttribute("aria-current", "true");
      selected = row.dataset.ticket;
      row.scrollIntoView({ block: "nearest" });
    }
    function move(step) {
      const all = rows();
      if (!all.length) return;
      const at = all.findIndex(function (r) { return r.dataset.ticket === selected; });
      select(all[Math.min(all.length - 1, Math.max(0, at < 0 ? 0 : at + step))]);
    }
    function open() {
      const row = queue.querySelector("li.ticket.selected") || rows()[0];
      if (row) window.location.href = row.querySelector("a.open").href;
    }
    keys.j = function () { move(1); };
    keys.k = function () { move(-1); };
    keys.o = open;
    keys.Enter = open;
    const refresh = refresher(queue, function () { return queue.dataset.listUrl; }, function () {
      const again = rows().find(function (r) { return r.dataset.ticket === selected; });
      if (again) select(again);
      body.dataset.refreshed = String(Date.now());
    });
    handlers.ticket.push(refresh);
    handlers.hello.push(refresh);
    // Filters apply as they are chosen.
    document.querySelectorAll("#filters select, #filters input[type=checkbox]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });
  }

  // ---- the ticket --------------------------------------------------------------------------
  if (page === "ticket") {
    const root = document.querySelector(".ticket-page");
    const number = root.dataset.ticket;
    const conversation = document.getElementById("conversation");
    const reply = document.getElementById("reply-text");
    const replyForm = document.getElementById("reply-form");
    const resolveForm = document.getElementById("resolve-form");
    const viewersEl = document.getElementById("viewers");

    const refresh = refresher(conversation, function () { return conversation.dataset.url; });
    handlers.ticket.push(function (frame) { if (String(frame.ticket) === number) refresh(); });
    handlers.hello.push(refresh);

    // Drafts survive a reload: kept in this browser until sent.
    const draftKey = reply.dataset.draft;
    const saved = window.localStorage.getItem(draftKey);
    if (saved && !reply.value) reply.value = saved;
    reply.addEventListener("input", function () {
      if (reply.value) window.localStorage.setItem(draftKey, reply.value);
      else window.localStorage.removeItem(draftKey);
    });
    replyForm.addEventListener("submit", function () { window.localStorage.removeItem(draftKey); });

    function insert(text) {
      const start = reply.selectionStart || reply.value.length;
      const end = reply.selectionEnd || reply.value.length;
      const before = reply.value.slice(0, start);
      const joiner = before && !before.endsWith("\n") ? "\n" : "";
      reply.value = before + joiner + text + reply.value.slice(end);
      reply.dispatchEvent(new Event("input"));
      reply.focus();
    }
    const canned = document.getElementById("canned");
    if (canned) {
      canned.addEventListener("change", function () {
        const option = canned.selectedOptions[0];
        if (option && option.dataset.text) insert(option.dataset.text);
        canned.value = "";
      });
    }
    document.querySelectorAll("button.insert").forEach(function (button) {
      button.addEventListener("click", async function () {
        const article = parseInt(button.dataset.article, 10);
        const response = await post("/api/tickets/" + number + "/kb/insert", { article_id: article, send: false });
        if (response.ok) insert((await response.json()).text);
        else say("The article could not be inserted (" + response.status + ")");
      });
    });

    // Collision detection: say we are here (and typing); show who else is.
    function showViewers(list) {
      viewersEl.textContent = list.map(function (v) {
        return v.name + (v.typing ? " is typing…" : " is viewing");
      }).join(" · ");
      viewersEl.classList.toggle("others", list.length > 0);
    }
    async function viewing(typing, leaving) {
      try {
        const response = await post("/workspace/tickets/" + number + "/viewing",
          { typing: !!typing, leaving: !!leaving }, leaving ? { keepalive: true } : {});
        if (response.ok && !leaving) showViewers((await response.json()).viewers);
      } catch (error) { /* the next beat tries again */ }
    }
    handlers.viewers.push(function (frame) { if (String(frame.ticket) === number) showViewers(frame.viewers); });
    viewing(false, false);
    setInterval(function () { viewing(false, false); }, 5000);
    let lastTyping = 0;
    reply.addEventListener("input", function () {
      const now = Date.now();
      if (now - lastTyping < 2000) return;
      lastTyping = now;
      viewing(true, false);
      post("/api/tickets/" + number + "/typing").catch(function () {});
    });
    window.addEventListener("pagehide", function () { viewing(false, true); });

    keys.r = function () { reply.focus(); };
    keys.e = function () {
      if (!resolveForm) return;
      const first = resolveForm.querySelector("textarea, select");
      if (first && !first.value) { first.focus(); return; }
      resolveForm.requestSubmit();
    };
  }

  // ---- the supervisor dashboard ------------------------------------------------------------
  if (page === "dashboard") {
    const list = document.getElementById("escalations");
    const refresh = refresher(list, function () { return list.dataset.listUrl; }, function () {
      body.dataset.refreshed = String(Date.now());
    });
    // Raised escalations arrive on the feed; acknowledgements by others show at the next look.
    handlers.escalation.push(refresh);
    handlers.hello.push(refresh); // what was raised while the feed was not connected
    setInterval(refresh, 30000);
    list.addEventListener("submit", async function (event) {
      const form = event.target.closest("form.ack");
      if (!form) return;
      event.preventDefault();
      const response = await fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new FormData(form),
      });
      say(response.ok ? "Acknowledged." : "Not acknowledged (" + response.status + ")");
      refresh();
    });
  }

  // ---- admin forms: each changes things through the JSON API -------------------------------
  // <form data-api="METHOD /api/path">: the fields become the JSON body (data-type list, lines,
  // int, json); the session cookie and the CSRF header authenticate it, as for any API call.
  function fieldValue(el) {
    const type = el.dataset.type;
    if (el.type === "checkbox") return el.checked;
    if (type === "list") return el.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    if (type === "lines") return el.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    if (type === "int") return el.value === "" ? null : parseInt(el.value, 10);
    if (type === "number") return el.value === "" ? null : parseFloat(el.value);
    if (type === "nullable") return el.value === "" ? null : el.value;
    if (type === "json") return JSON.parse(el.value || "{}");
    return el.value;
  }
  document.addEventListener("submit", async function (event) {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    const space = form.dataset.api.indexOf(" ");
    const method = form.dataset.api.slice(0, space);
    const url = form.dataset.api.slice(space + 1);
    const result = form.querySelector("output.result");
    const data = {};
    try {
      Array.from(form.elements).forEach(function (el) {
        if (!el.name) return;
        const value = fieldValue(el);
        if ((value === "" || value === null) && el.dataset.optional) return;
        data[el.name] = value;
      });
    } catch (error) {
      if (result) result.textContent = "Not saved: " + error.message;
      return;
    }
    const response = await post(url, data, { method: method, body: method === "DELETE" ? undefined : JSON.stringify(data) });
    if (response.ok) {
      let answer = {};
      try { answer = await response.json(); } catch (error) { /* 204: nothing to read */ }
      say(form.dataset.done || "Saved.");
      if (form.dataset.goto) window.location.href = form.dataset.goto.replace("{id}", answer.id);
      else window.location.reload();
      return;
    }
    let detail = String(response.status);
    try {
      const answer = await response.json();
      detail = typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail);
    } catch (error) { /* not JSON */ }
    if (result) result.textContent = "Not saved: " + detail;
    say("Not saved: " + detail);
  });

  // ---- the article editor's preview, rendered by the server --------------------------------
  if (page === "article-editor") {
    const previewButton = document.getElementById("preview-button");
    const target = document.getElementById("article-preview");
    previewButton.addEventListener("click", async function () {
      const form = new FormData();
      form.append("csrf_token", csrf);
      form.append("body", document.getElementById("article-body").value);
      const response = await fetch("/workspace/admin/articles/preview", {
        method: "POST", credentials: "same-origin", body: form,
      });
      // Sanitised by the server (Markdown without raw HTML, then nh3), as customers see it.
      if (response.ok) target.innerHTML = await response.text();
    });
  }
})();
