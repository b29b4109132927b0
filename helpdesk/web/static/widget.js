/* helpdesk web chat widget: <script src="https://helpdesk.example.com/widget.js" async></script>
 *
 * Keeps the chat token and every unacknowledged message in localStorage, so a reload or a lost
 * connection never loses what the customer wrote: on reconnect it resends each message with the
 * same client id and the server stores it once. Everything the server sends is shown as text,
 * never as HTML. Buttons a message offers (quick replies: "Yes, that helped", "Talk to a person")
 * are shown under the latest message only; tapping one sends a `choose` frame with its payload.
 * "Talk to a person" and "I want to complain" are always shown above the input.
 * When the server asks who the customer is (`ready.identify`, or an `identify` frame when a
 * person takes over), a small form asks for the name and email, then the code mailed to it.
 */
(function () {
  "use strict";
  if (window.__helpdeskWidget) return;
  window.__helpdeskWidget = true;

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var base = new URL(script.src, location.href).origin;
  var KEY = "helpdesk:" + base + ":";
  var store = {
    get: function (k, d) { try { var v = localStorage.getItem(KEY + k); return v === null ? d : JSON.parse(v); } catch (e) { return d; } },
    set: function (k, v) { try { localStorage.setItem(KEY + k, JSON.stringify(v)); } catch (e) { /* private mode */ } }
  };

  var socket = null, retryDelay = 1000, shownIds = {}, typingTimer = null;

  // ---- the panel, in a shadow root so the host page's styles cannot reach it ----
  var host = document.createElement("div");
  host.setAttribute("data-helpdesk-widget", "");
  // A snippet in <head> runs before <body> exists: attach the panel once it does.
  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.innerHTML =
    '<style>' +
    ':host{all:initial}' +
    '.btn{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:#2456d3;color:#fff;font:600 22px system-ui;cursor:pointer;box-shadow:0 2px 8px #0004;z-index:2147483000}' +
    '.panel{position:fixed;right:20px;bottom:88px;width:340px;max-width:calc(100vw - 40px);height:460px;max-height:calc(100vh - 120px);display:none;flex-direction:column;background:#fff;border-radius:10px;box-shadow:0 4px 24px #0005;font:14px/1.4 system-ui,sans-serif;color:#222;z-index:2147483000;overflow:hidden}' +
    '.panel.open{display:flex}' +
    '.head{background:#2456d3;color:#fff;padding:10px 14px;display:flex;justify-content:space-between;align-items:center}' +
    '.state{font-size:12px;opacity:.85}' +
    '.log{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}' +
    '.msg{max-width:80%;padding:7px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}' +
    '.msg.customer{align-self:flex-end;background:#e5edff}' +
    '.msg.agent,.msg.bot,.msg.system{align-self:flex-start;background:#f1f1f1}' +
    '.who{display:block;font-size:11px;color:#666}' +
    '.msg.pending{opacity:.6}.msg.failed{outline:1px solid #c33}' +
    '.typing{font-size:12px;color:#666;padding:0 12px;min-height:16px}' +
    'form{display:flex;border-top:1px solid #ddd}' +
    'textarea{flex:1;border:0;padding:10px;font:inherit;resize:none;height:44px}' +
    'button.send{border:0;background:none;color:#2456d3;font-weight:600;padding:0 14px;cursor:pointer}' +
    '.choices{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start;max-width:90%}' +
    '.actions{display:flex;gap:6px;padding:4px 10px;border-top:1px solid #eee}' +
    '.actions button{border:0;background:none;color:#2456d3;font:inherit;font-size:12px;cursor:pointer;padding:2px 4px;text-decoration:underline}' +
    '.choices button{border:1px solid #2456d3;background:#fff;color:#2456d3;border-radius:14px;padding:4px 10px;font:inherit;font-size:13px;cursor:pointer}' +
    '.who-are-you{display:none;flex-direction:column;gap:6px;padding:8px 10px;border-top:1px solid #eee;background:#f8f9fc}' +
    '.who-are-you.open{display:flex}.who-are-you input{font:inherit;padding:5px 7px;border:1px solid #ccc;border-radius:5px}' +
    '.who-are-you .row{display:flex;gap:6px}.who-are-you .row button{font:inherit;border:0;border-radius:5px;padding:5px 10px;cursor:pointer}' +
    '.who-are-you .go{background:#2456d3;color:#fff}.who-are-you .later{background:none;color:#2456d3;text-decoration:underline}' +
    '.note{font-size:12px;color:#444}.note.bad{color:#b00020}.step{display:none;flex-direction:column;gap:6px}.step.open{display:flex}' +
    '</style>' +
    '<button class="btn" data-testid="chat-open" aria-label="Chat with us">?</button>' +
    '<div class="panel" role="dialog" aria-label="Chat">' +
    '<div class="head"><span>Chat with us</span><span class="state" data-testid="chat-state">connecting…</span></div>' +
    '<div class="log" data-testid="chat-log" aria-live="polite"></div>' +
    '<div class="typing" data-testid="chat-typing"></div>' +
    // Who the customer is (webchat.ask_name / ask_email): asked before the chat or when a
    // person takes over; an email is proven with a code mailed to it.
    '<div class="who-are-you" data-testid="chat-identify">' +
    '<div class="step details"><span class="note">So that we know who you are:</span>' +
    '<input data-testid="chat-name" autocomplete="name" maxlength="200" placeholder="Your name">' +
    '<input data-testid="chat-email" type="email" autocomplete="email" maxlength="320" placeholder="Your email">' +
    '<div class="row"><button type="button" class="go" data-testid="chat-identify-send">Continue</button>' +
    '<button type="button" class="later" data-testid="chat-identify-skip">Not now</button></div></div>' +
    '<div class="step code"><span class="note" data-testid="chat-code-note"></span>' +
    '<input data-testid="chat-code" inputmode="numeric" autocomplete="one-time-code" maxlength="20" placeholder="Code from the email">' +
    '<div class="row"><button type="button" class="go" data-testid="chat-code-send">Confirm</button>' +
    '<button type="button" class="later" data-testid="chat-code-resend">Send a new code</button>' +
    '<button type="button" class="later" data-testid="chat-code-skip">Later</button></div></div>' +
    '<span class="note" data-testid="chat-identify-status" aria-live="polite"></span></div>' +
    // Always there, whatever the bot said last: a person, or a complaint, is one tap away.
    '<div class="actions"><button type="button" data-testid="chat-human" data-payload="human">Talk to a person</button>' +
    '<button type="button" data-testid="chat-complaint" data-payload="complaint">I want to complain</button></div>' +
    '<form><textarea data-testid="chat-input" placeholder="Write a message… (a person will answer)" maxlength="16000"></textarea>' +
    '<button class="send" data-testid="chat-send" type="submit">Send</button></form>' +
    '</div>';

  var panel = root.querySelector(".panel"), log = root.querySelector(".log");
  var stateLabel = root.querySelector(".state"), typingLabel = root.querySelector(".typing");
  var input = root.querySelector("textarea"), form = root.querySelector("form");
  var who = root.querySelector(".who-are-you"), whoStatus = root.querySelector('[data-testid="chat-identify-status"]');
  var nameInput = root.querySelector('[data-testid="chat-name"]'), emailInput = root.querySelector('[data-testid="chat-email"]');
  var codeInput = root.querySelector('[data-testid="chat-code"]'), identity = null;

  function sendFrame(frame) { if (socket && socket.ready) socket.send(JSON.stringify(frame)); }
  function whoSays(text, bad) { whoStatus.textContent = text || ""; whoStatus.className = "note" + (bad ? " bad" : ""); }

  // What to ask now: the details while a required one is missing (or an optional one was not
  // yet given nor put off), then the code while the email is unproven.
  function showIdentify() {
    var s = identity, step = null;
    if (s && s.due) {
      var k = s.known, later = store.get("identify-later", false);
      var optional = (s.name === "optional" && !k.name) || (s.email === "optional" && !k.email);
      if (s.missing.length || (optional && !later)) step = "details";
      else if (k.email && !k.verified && k.code_sent && !store.get("code-later", false)) step = "code";
    }
    who.classList.toggle("open", !!step);
    root.querySelector(".step.details").classList.toggle("open", step === "details");
    root.querySelector(".step.code").classList.toggle("open", step === "code");
    if (!s) return;
    nameInput.style.display = s.name === "off" ? "none" : "";
    emailInput.style.display = s.email === "off" ? "none" : "";
    root.querySelector('[data-testid="chat-identify-skip"]').style.display = s.missing.length ? "none" : "";
    if (s.known.name && !nameInput.value) nameInput.value = s.known.name;
    if (s.known.email && !emailInput.value) emailInput.value = s.known.email;
    if (step === "code") root.querySelector('[data-testid="chat-code-note"]').textContent = "Type the code we emailed to " + s.known.email + ".";
  }

  function resendPending() { store.get("pending", []).forEach(function (p) { transmit(p); }); }

  root.querySelector('[data-testid="chat-identify-send"]').addEventListener("click", function () {
    var frame = { type: "identify" };
    if (identity && identity.name !== "off") frame.name = nameInput.value.trim();
    if (identity && identity.email !== "off" && emailInput.value.trim()) frame.email = emailInput.value.trim();
    if (frame.name) store.set("name", frame.name);
    whoSays("");
    sendFrame(frame);
  });
  root.querySelector('[data-testid="chat-identify-skip"]').addEventListener("click", function () { store.set("identify-later", true); showIdentify(); });
  root.querySelector('[data-testid="chat-code-skip"]').addEventListener("click", function () { store.set("code-later", true); showIdentify(); });
  root.querySelector('[data-testid="chat-code-send"]').addEventListener("click", function () { whoSays(""); sendFrame({ type: "verify", code: codeInput.value }); });
  root.querySelector('[data-testid="chat-code-resend"]').addEventListener("click", function () { whoSays(""); sendFrame({ type: "send_code" }); });

  root.querySelector(".btn").addEventListener("click", function () {
    panel.classList.toggle("open");
    if (panel.classList.contains("open")) input.focus();
  });
  var actions = root.querySelectorAll(".actions button");
  for (var a = 0; a < actions.length; a++) {
    actions[a].addEventListener("click", function (e) {
      var b = e.currentTarget;
      choose({ label: b.textContent, payload: b.getAttribute("data-payload") });
    });
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); input.value = ""; });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(input.value); input.value = ""; }
    else notifyTyping();
  });

  function setState(text) { stateLabel.textContent = text; }

  function render(entry) {
    var key = entry.id ? "m" + entry.id : "c" + entry.client_id;
    var node = root.querySelector('[data-key="' + key + '"]') ||
      (entry.client_id && root.querySelector('[data-key="c' + entry.client_id + '"]'));
    if (!node) {
      node = document.createElement("div");
      var who = document.createElement("span");
      who.className = "who";
      node.appendChild(who);
      node.appendChild(document.createTextNode(""));
      log.appendChild(node);
    }
    node.setAttribute("data-key", key);
    node.className = "msg " + entry.author + (entry.pending ? " pending" : "") + (entry.failed ? " failed" : "");
    node.setAttribute("data-testid", "chat-message");
    node.firstChild.textContent = entry.author === "customer" ? "" : (entry.name || "Support");
    node.lastChild.textContent = entry.text + (entry.failed ? "  (not sent: " + entry.failed + ")" : "");
    if (entry.quick_replies && entry.quick_replies.length && entry.author !== "customer") {
      node.quickReplies = entry.quick_replies;
    }
    showChoices();
    log.scrollTop = log.scrollHeight;
  }

  // Only the latest message's buttons can be tapped: older questions have moved on.
  function showChoices() {
    var old = root.querySelectorAll(".choices");
    for (var i = 0; i < old.length; i++) old[i].parentNode.removeChild(old[i]);
    var last = log.lastElementChild;
    if (!last || !last.quickReplies) return;
    var box = document.createElement("div");
    box.className = "choices";
    box.setAttribute("data-testid", "chat-choices");
    last.quickReplies.forEach(function (q) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = q.label;
      button.setAttribute("data-testid", "chat-choice");
      button.addEventListener("click", function () { choose(q); });
      box.appendChild(button);
    });
    log.appendChild(box);
  }

  function choose(q) {
    var item = { client_id: newClientId(), text: q.label, payload: q.payload };
    var pending = store.get("pending", []);
    pending.push(item);
    store.set("pending", pending);
    render({ client_id: item.client_id, author: "customer", text: q.label, pending: true });
    transmit(item);
  }

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function send(text) {
    text = (text || "").trim();
    if (!text) return;
    var item = { client_id: newClientId(), text: text };
    var pending = store.get("pending", []);
    pending.push(item);
    store.set("pending", pending);
    render({ client_id: item.client_id, author: "customer", text: text, pending: true });
    transmit(item);
  }

  function transmit(item) {
    if (socket && socket.readyState === 1 && socket.ready) {
      if (item.payload) socket.send(JSON.stringify({ type: "choose", client_id: item.client_id, payload: item.payload }));
      else socket.send(JSON.stringify({ type: "message", client_id: item.client_id, text: item.text, name: store.get("name", "") }));
    }
  }

  function forget(clientId) {
    store.set("pending", store.get("pending", []).filter(function (p) { return p.client_id !== clientId; }));
  }

  var lastTyping = 0;
  function notifyTyping() {
    var now = Date.now();
    if (socket && socket.ready && now - lastTyping > 3000) {
      lastTyping = now;
      socket.send(JSON.stringify({ type: "typing" }));
    }
  }

  function confirmShown(ids) {
    if (ids.length && socket && socket.ready) socket.send(JSON.stringify({ type: "received", ids: ids }));
  }

  function token() {
    return fetch(base + "/api/chat/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: store.get("token", null) })
    }).then(function (r) {
      if (r.status === 401) { store.set("token", null); return token(); }
      if (!r.ok) throw new Error("chat session refused: " + r.status);
      return r.json();
    }).then(function (s) { store.set("token", s.token); return s.token; });
  }

  function connect() {
    setState("connecting…");
    token().then(function (t) {
      socket = new WebSocket(base.replace(/^http/, "ws") + "/api/chat/ws");
      socket.onopen = function () { socket.send(JSON.stringify({ type: "hello", token: t })); };
      socket.onmessage = function (e) { onFrame(JSON.parse(e.data)); };
      socket.onclose = function (e) {
        socket = null;
        if (e.code === 4401) store.set("token", null);
        setState("offline, reconnecting…");
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      };
    }).catch(function () {
      setState("offline, reconnecting…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    });
  }

  function onFrame(frame) {
    if (frame.type === "ready") {
      socket.ready = true;
      // Redraw from the server's order, so replies that came while offline sit where they belong.
      log.textContent = "";
      retryDelay = 1000;
      setState("online");
      var seen = {}, shown = [];
      frame.history.forEach(function (m) {
        render(m);
        if (m.client_id) seen[m.client_id] = true;
        if (m.author !== "customer" && !shownIds[m.id]) { shownIds[m.id] = true; shown.push(m.id); }
      });
      confirmShown(shown);
      identity = frame.identify || null;
      showIdentify();
      // Whatever the server has not stored yet is sent again; it stores each client id once.
      store.get("pending", []).forEach(function (p) {
        if (seen[p.client_id]) { forget(p.client_id); return; }
        render({ client_id: p.client_id, author: "customer", text: p.text, pending: true });
        transmit(p);
      });
    } else if (frame.type === "ack") {
      var item = store.get("pending", []).filter(function (p) { return p.client_id === frame.client_id; })[0];
      forget(frame.client_id);
      if (item) render({ id: frame.message_id, client_id: frame.client_id, author: "customer", text: item.text });
    } else if (frame.type === "message") {
      typingLabel.textContent = "";
      render(frame);
      if (!shownIds[frame.id]) { shownIds[frame.id] = true; confirmShown([frame.id]); }
      if (!panel.classList.contains("open")) panel.classList.add("open");
    } else if (frame.type === "typing") {
      typingLabel.textContent = (frame.name || "Support") + " is typing…";
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typingLabel.textContent = ""; }, 4000);
    } else if (frame.type === "identify") {
      identity = frame;
      store.set("code-later", false);
      showIdentify();
      if (frame.code) whoSays(frame.code.message, frame.code.status !== "sent");
      if (!frame.missing.length || !frame.due) resendPending();
    } else if (frame.type === "code_sent") {
      codeInput.value = "";
      whoSays(frame.message);
    } else if (frame.type === "verified") {
      if (frame.identify) identity = frame.identify;
      showIdentify();
      whoSays("");
      render({ id: "verified", author: "system", name: "Support", text: "Thank you: your email " + frame.email + " is confirmed." });
    } else if (frame.type === "error" && frame.code === "identify_first") {
      // Kept to send again once the customer says who they are.
      if (identity) {
        identity.due = true;
        if (!identity.missing.length) identity.missing = ["details"];
        showIdentify();
      }
      whoSays(frame.message, true);
    } else if (frame.type === "error" && !frame.client_id && who.classList.contains("open")) {
      whoSays(frame.message, true);
    } else if (frame.type === "error") {
      if (frame.client_id && (frame.code === "too_large" || frame.code === "bad_frame" || frame.code === "not_offered")) {
        var bad = store.get("pending", []).filter(function (p) { return p.client_id === frame.client_id; })[0];
        forget(frame.client_id);
        if (bad) render({ client_id: frame.client_id, author: "customer", text: bad.text, failed: frame.message });
      } else if (frame.client_id && (frame.code === "rate_limited" || frame.code === "unavailable")) {
        // Not stored (too fast, or the server could not store it just now): send it again later.
        var again = store.get("pending", []).filter(function (p) { return p.client_id === frame.client_id; })[0];
        if (again) setTimeout(function () { transmit(again); }, frame.code === "unavailable" ? 5000 : 2000);
      }
    }
  }

  connect();
})();
