/*!
 * recagent chat widget -- one file, no dependencies, no build step.
 *
 *   <script src="https://your-host/widget.js" data-endpoint="https://your-host" defer></script>
 *
 * Options (data-* attributes on the script tag):
 *   data-endpoint  base URL of the recagent API (default: where widget.js came from)
 *   data-title     panel title                      \
 *   data-launcher  text of the button that opens it  | default: from the server's
 *   data-placeholder  the message box's placeholder  | /widget/config, made from the
 *   data-welcome   the first line of a conversation  | catalog (its item noun, top
 *   data-examples  example requests, "|"-separated   / categories, best-known items)
 *   data-open      "true" to open the panel on load
 *   data-user-id   a user id to personalise with (optional)
 *   data-user-token  its HMAC made by the host site's backend (when the service has a widget secret)
 *
 * The panel lives in a shadow root (the page's CSS does not leak in or out). Replies stream
 * over Server-Sent Events read with fetch + ReadableStream; the session id is kept in
 * sessionStorage so a reload continues the conversation, and the cards of every answer too
 * (items missing there are read back from /v1/items/{id}; the session keeps each card's
 * reason, so a rebuilt card says what it said before).
 */
(function () {
  "use strict";
  if (window.__recagentWidget) return;
  window.__recagentWidget = true;

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var endpoint = (data.endpoint || (script && script.src ? new URL(script.src, location.href).origin : location.origin))
    .replace(/\/+$/, "");
  var userId = data.userId || null;
  // the host backend's HMAC of the user id (RECAGENT_WIDGET_SECRET), sent as X-User-Token
  var userToken = data.userToken || null;
  var storeKey = "recagent-session:" + endpoint;
  // the anonymous session's claim (X-Session-Token, minted by the server with the first
  // answer), kept per endpoint like the session id: a cross-origin embed sends no cookie
  var tokenKey = "recagent-token:" + endpoint;
  function withUser(headers) {
    if (userId && userToken) headers["X-User-Token"] = userToken;
    var claim = null;
    try { claim = sessionStorage.getItem(tokenKey); } catch (e) { /* private mode */ }
    if (claim) headers["X-Session-Token"] = claim;
    return headers;
  }
  function keepToken(res) {
    var claim = res.headers.get("X-Session-Token");
    try { if (claim) sessionStorage.setItem(tokenKey, claim); } catch (e) { /* private mode */ }
  }
  // texts: data-* attributes win, then the server's /widget/config (from the catalog)
  var texts = {
    title: "Recommendations", launcher: "Ask for a recommendation",
    placeholder: "What are you looking for?",
    welcome: "Tell me what you are in the mood for.", examples: []
  };
  function own(key) { return data[key] && String(data[key]).trim(); }
  function applyTexts() {
    heading.textContent = own("title") || texts.title;
    launcher.textContent = own("launcher") || texts.launcher;
    input.setAttribute("placeholder", own("placeholder") || texts.placeholder);
  }
  function examples() {
    if (own("examples")) return own("examples").split("|").map(function (t) { return t.trim(); }).filter(Boolean);
    return texts.examples || [];
  }

  var CSS = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; }",
    ".root { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d1d1f; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 999px;",
    "  background: #3a2fd1; color: #fff; font: inherit; font-weight: 600; padding: 12px 20px; cursor: pointer;",
    "  box-shadow: 0 6px 20px rgba(20,20,60,.3); min-height: 48px; }",
    ".launcher:hover { background: #2c22b0; }",
    "button:focus-visible, textarea:focus-visible, .log:focus-visible { outline: 3px solid #ffb020; outline-offset: 2px; }",
    ".panel { position: fixed; right: 20px; bottom: 20px; z-index: 2147483001; width: 400px; max-width: calc(100vw - 24px);",
    "  height: min(640px, calc(100vh - 40px)); display: flex; flex-direction: column; background: #fff;",
    "  border-radius: 14px; box-shadow: 0 12px 40px rgba(20,20,60,.28); overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    "header { display: flex; align-items: center; gap: 6px; padding: 10px 10px 10px 16px; background: #3a2fd1; color: #fff; }",
    "header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 650; }",
    "header button { background: rgba(255,255,255,.16); color: #fff; border: 0; border-radius: 8px; font: inherit;",
    "  font-size: 13px; padding: 8px 10px; cursor: pointer; min-height: 36px; }",
    "header button:hover { background: rgba(255,255,255,.28); }",
    ".log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 10px; background: #f6f6fb; }",
    ".msg { max-width: 92%; padding: 9px 12px; border-radius: 12px; white-space: pre-wrap; word-wrap: break-word; }",
    ".msg.user { align-self: flex-end; background: #3a2fd1; color: #fff; border-bottom-right-radius: 4px; }",
    ".msg.bot { align-self: flex-start; background: #fff; border: 1px solid #e3e3ee; border-bottom-left-radius: 4px; }",
    ".msg.error { background: #fff1f0; border-color: #f3b7b2; color: #8a1c12; }",
    ".msg.note { align-self: center; background: transparent; color: #5b5b6b; font-size: 13px; text-align: center; }",
    ".examples { display: flex; flex-wrap: wrap; gap: 6px; justify-content: center; }",
    ".examples button { border: 1px solid #c9c6f2; background: #fff; color: #2c22b0; border-radius: 999px;",
    "  padding: 6px 12px; font: inherit; font-size: 13px; cursor: pointer; min-height: 36px; }",
    ".cards { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 8px; align-self: stretch; }",
    ".card { background: #fff; border: 1px solid #e3e3ee; border-radius: 10px; padding: 10px 12px; }",
    ".card.liked { border-color: #2e9d5b; box-shadow: inset 4px 0 0 #2e9d5b; }",
    ".card.disliked { opacity: .6; }",
    ".card h3 { margin: 0; font-size: 15px; font-weight: 650; }",
    ".card .year { color: #5b5b6b; font-weight: 400; }",
    ".chips { display: flex; flex-wrap: wrap; gap: 4px; margin: 6px 0 0; padding: 0; list-style: none; }",
    ".chips li { background: #eeedfb; color: #3a2fd1; border-radius: 999px; padding: 1px 8px; font-size: 12px; }",
    ".reason { margin: 6px 0 0; color: #44444f; font-size: 13px; }",
    ".card .body { display: flex; gap: 10px; align-items: flex-start; }",
    ".card .body > div { flex: 1; min-width: 0; }",
    ".card img { width: 56px; height: 80px; object-fit: cover; border-radius: 6px; background: #eeedfb; flex: none; }",
    ".card a.more { display: inline-block; margin-top: 6px; font-size: 13px; color: #2c22b0; }",
    ".actions { display: flex; gap: 6px; margin-top: 8px; align-items: center; }",
    ".actions button { border: 1px solid #d3d3e0; background: #fff; border-radius: 8px; padding: 6px 10px; font: inherit;",
    "  font-size: 13px; cursor: pointer; min-height: 36px; min-width: 44px; color: #1d1d1f; }",
    ".actions button[aria-pressed='true'].like { background: #e6f6ec; border-color: #2e9d5b; color: #17643a; }",
    ".actions button[aria-pressed='true'].dislike { background: #fdeceb; border-color: #d4554a; color: #8a1c12; }",
    ".actions .state { font-size: 12px; color: #17643a; }",
    ".status { min-height: 20px; padding: 0 16px; font-size: 12px; color: #5b5b6b; background: #f6f6fb; }",
    "form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e3ee; background: #fff; }",
    "textarea { flex: 1; resize: none; border: 1px solid #c9c9d6; border-radius: 10px; padding: 9px 11px; font: inherit;",
    "  min-height: 44px; max-height: 120px; }",
    "form button { border: 0; border-radius: 10px; background: #3a2fd1; color: #fff; font: inherit; font-weight: 600;",
    "  padding: 0 16px; cursor: pointer; min-height: 44px; }",
    "form button:disabled { background: #9a96d9; cursor: default; }",
    ".sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }",
    "@media (max-width: 480px) {",
    "  .panel { right: 0; bottom: 0; width: 100vw; max-width: 100vw; height: 100%; height: 100dvh; border-radius: 0; }",
    "  .launcher { right: 12px; bottom: 12px; }",
    "}"
  ].join("\n");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "className") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function readSession() {
    try { return sessionStorage.getItem(storeKey); } catch (e) { return null; }
  }
  function writeSession(id) {
    try { if (id) sessionStorage.setItem(storeKey, id); else sessionStorage.removeItem(storeKey); } catch (e) { /* private mode */ }
  }

  // ---- DOM ---------------------------------------------------------------------------------
  var host = el("div", { id: "recagent-widget" });
  var shadow = host.attachShadow({ mode: "open" });
  var style = el("style"); style.textContent = CSS;
  var root = el("div", { className: "root" });
  shadow.appendChild(style); shadow.appendChild(root);

  var panelId = "recagent-panel";
  var launcher = el("button", { type: "button", className: "launcher", "aria-expanded": "false",
    "aria-controls": panelId, "aria-label": "Open the recommendations chat", text: texts.launcher });
  var heading = el("h2", { id: "recagent-title", text: texts.title });
  var newBtn = el("button", { type: "button", className: "new", "aria-label": "Start a new conversation", text: "New conversation" });
  var closeBtn = el("button", { type: "button", className: "close", "aria-label": "Close the chat", text: "\u2715" });
  var log = el("div", { className: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
  var status = el("div", { className: "status", role: "status", "aria-live": "polite" });
  var input = el("textarea", { id: "recagent-input", rows: "1", placeholder: texts.placeholder,
    "aria-label": "Your message", maxlength: "2000", autocomplete: "off" });
  var sendBtn = el("button", { type: "submit", className: "send", text: "Send" });
  var form = el("form", { "aria-label": "Send a message" }, [
    el("label", { className: "sr-only", for: "recagent-input", text: "Your message" }), input, sendBtn]);
  var panel = el("section", { id: panelId, className: "panel", role: "dialog", "aria-modal": "false",
    "aria-labelledby": "recagent-title", hidden: "" }, [
    el("header", null, [heading, newBtn, closeBtn]), log, status, form]);
  root.appendChild(launcher); root.appendChild(panel);

  var sessionId = readSession();
  var busy = false;
  var liked = {};     // item_id -> "like" | "dislike"
  var cardsById = {}; // item_id -> [card elements]

  var anchor = null;  // the user message of the turn in progress: keep it in view, text grows below
  function scrollDown() {
    var bottom = log.scrollHeight - log.clientHeight;
    log.scrollTop = anchor ? Math.min(bottom, Math.max(0, anchor.offsetTop - log.offsetTop - 8)) : bottom;
  }

  function addMessage(kind, text) {
    var node = el("div", { className: "msg " + kind, text: text || "" });
    log.appendChild(node); scrollDown();
    return node;
  }

  function showWelcome() {
    if (log.querySelector(".msg.user")) return;  // a conversation started meanwhile
    addMessage("note", own("welcome") || texts.welcome);
    var box = el("div", { className: "examples", role: "group", "aria-label": "Example requests" });
    examples().forEach(function (text) {
      var b = el("button", { type: "button", text: text });
      b.addEventListener("click", function () { send(text); });
      box.appendChild(b);
    });
    log.appendChild(box);
  }

  function setOpen(open) {
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) { input.focus(); scrollDown(); } else { launcher.focus(); }
  }

  // ---- feedback ----------------------------------------------------------------------------
  function applyMark(itemId) {
    (cardsById[itemId] || []).forEach(function (card) {
      var signal = liked[itemId];
      card.classList.toggle("liked", signal === "like");
      card.classList.toggle("disliked", signal === "dislike");
      card.querySelector("button.like").setAttribute("aria-pressed", String(signal === "like"));
      card.querySelector("button.dislike").setAttribute("aria-pressed", String(signal === "dislike"));
      card.querySelector(".state").textContent = signal === "like" ? "Liked" : signal === "dislike" ? "Not for me" : "";
    });
  }

  function sendFeedback(itemId, signal, title) {
    if (!sessionId) return;
    var body = { item_id: itemId, signal: signal };
    if (userId) body.user_id = userId;
    fetch(endpoint + "/v1/sessions/" + encodeURIComponent(sessionId) + "/feedback", {
      method: "POST", headers: withUser({ "Content-Type": "application/json" }), body: JSON.stringify(body)
    }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      liked[itemId] = signal;
      applyMark(itemId);
      status.textContent = (signal === "like" ? "Noted: you like " : "Noted: not ") + title + ".";
    }).catch(function () {
      status.textContent = "Could not save that feedback; please try again.";
    });
  }

  function safeUrl(u) {
    return typeof u === "string" && (/^https?:\/\//i.test(u) || /^\/[^\/]/.test(u) || /^data:image\//i.test(u));
  }

  // the cards of each answer, kept per session so a reload shows them again
  function cardsKey() { return "recagent-cards:" + endpoint + ":" + sessionId; }
  function rememberCards(recs) {
    try {
      var all = JSON.parse(sessionStorage.getItem(cardsKey()) || "{}");
      recs.forEach(function (r) { all[r.item_id] = r; });
      sessionStorage.setItem(cardsKey(), JSON.stringify(all));
    } catch (e) { /* private mode, full storage: cards are read back from the API instead */ }
  }
  function rememberedCards() {
    try { return JSON.parse(sessionStorage.getItem(cardsKey()) || "{}"); } catch (e) { return {}; }
  }

  function renderCards(recs) {
    var list = el("ul", { className: "cards", "aria-label": "Recommendations" });
    recs.forEach(function (r) {
      var label = r.title + (r.year ? " (" + r.year + ")" : "");
      var h = el("h3", null, [document.createTextNode(r.title + " ")]);
      if (r.year) h.appendChild(el("span", { className: "year", text: "(" + r.year + ")" }));
      var chips = el("ul", { className: "chips", "aria-label": "Categories" });
      (r.categories || []).slice(0, 5).forEach(function (c) { chips.appendChild(el("li", { text: c })); });
      var likeBtn = el("button", { type: "button", className: "like", "aria-pressed": "false",
        "aria-label": "Like " + label, text: "Like" });
      var dislikeBtn = el("button", { type: "button", className: "dislike", "aria-pressed": "false",
        "aria-label": "Dislike " + label, text: "Dislike" });
      likeBtn.addEventListener("click", function () { sendFeedback(r.item_id, "like", label); });
      dislikeBtn.addEventListener("click", function () { sendFeedback(r.item_id, "dislike", label); });
      var more = null;
      if (safeUrl(r.link)) {
        more = el("a", { className: "more", href: r.link, target: "_blank", rel: "noopener noreferrer",
          "aria-label": "More about " + label + " (opens a new tab)", text: "More about it \u2197" });
      }
      var img = safeUrl(r.image) ? el("img", { src: r.image, alt: label, loading: "lazy" }) : null;
      var card = el("li", { className: "card", "data-item-id": r.item_id }, [
        el("div", { className: "body" }, [img, el("div", null, [
          h, (r.categories && r.categories.length) ? chips : null,
          r.reason ? el("p", { className: "reason", text: r.reason }) : null, more])]),
        el("div", { className: "actions" }, [likeBtn, dislikeBtn, el("span", { className: "state", "aria-live": "polite" })])
      ]);
      (cardsById[r.item_id] = cardsById[r.item_id] || []).push(card);
      list.appendChild(card);
      if (liked[r.item_id]) applyMark(r.item_id);
    });
    return list;
  }

  // ---- streaming ---------------------------------------------------------------------------
  function parseFrame(frame) {
    var event = "message", lines = [];
    frame.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) event = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) lines.push(line.slice(5).replace(/^ /, ""));
    });
    if (!lines.length) return null;
    try { return { event: event, data: JSON.parse(lines.join("\n")) }; } catch (e) { return null; }
  }

  function errorText(body, statusCode) {
    var err = body && body.error;
    if (err && err.code === "rate_limited") return "Too many messages at once \u2014 please wait a moment.";
    if (err && err.message) return "Sorry: " + err.message;
    return "Sorry, something went wrong (HTTP " + statusCode + ").";
  }

  function setBusy(value) {
    busy = value;
    sendBtn.disabled = value;
    panel.setAttribute("aria-busy", String(value));
    if (!value) status.textContent = "";
  }

  async function stream(message, bubble, allowRetry) {
    var body = { message: message };
    if (sessionId) body.session_id = sessionId;
    if (userId) body.user_id = userId;
    var res = await fetch(endpoint + "/v1/chat/stream", {
      method: "POST", headers: withUser({ "Content-Type": "application/json", "Accept": "text/event-stream" }),
      body: JSON.stringify(body)
    });
    keepToken(res);
    if (!res.ok) {
      var errBody = await res.json().catch(function () { return null; });
      if (res.status === 404 && allowRetry && errBody && errBody.error && errBody.error.code === "session_not_found") {
        sessionId = null; writeSession(null);  // expired: start afresh, once
        return stream(message, bubble, false);
      }
      bubble.classList.add("error"); bubble.textContent = errorText(errBody, res.status);
      return;
    }
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "", text = "", cardsShown = false;
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        var parsed = parseFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (!parsed) continue;
        var d = parsed.data || {};
        if (d.session_id && d.session_id !== sessionId) { sessionId = d.session_id; writeSession(sessionId); }
        if (parsed.event === "plan") {
          status.textContent = "Planning\u2026";
        } else if (parsed.event === "tool") {
          status.textContent = "Searching the catalog (" + (d.name || "tool") + ")\u2026";
        } else if (parsed.event === "recommendations") {
          if ((d.recommendations || []).length && !cardsShown) {
            cardsShown = true; rememberCards(d.recommendations);
            log.appendChild(renderCards(d.recommendations)); scrollDown();
          }
          status.textContent = "Writing the answer\u2026";
        } else if (parsed.event === "delta") {
          text = d.replace ? (d.text || "") : text + (d.text || "");
          bubble.textContent = text; scrollDown();
        } else if (parsed.event === "done") {
          if (!text && d.reply) bubble.textContent = d.reply;
          if (!cardsShown && (d.recommendations || []).length) {
            cardsShown = true; rememberCards(d.recommendations); log.appendChild(renderCards(d.recommendations));
          }
          panel.setAttribute("data-turns", String(Number(panel.getAttribute("data-turns") || 0) + 1));
          scrollDown();
        } else if (parsed.event === "error") {
          bubble.classList.add("error"); bubble.textContent = errorText(d, 200);
        }
      }
    }
  }

  async function send(text) {
    var message = (text || "").trim();
    if (!message || busy) return;
    var examples = log.querySelector(".examples");
    if (examples) examples.remove();
    anchor = null;
    anchor = addMessage("user", message);
    input.value = "";
    var bubble = addMessage("bot", "\u2026");
    setBusy(true);
    status.textContent = "Thinking\u2026";
    try {
      await stream(message, bubble, true);
    } catch (e) {
      bubble.classList.add("error");
      bubble.textContent = "Sorry, the service could not be reached. Please try again.";
    } finally {
      setBusy(false);
      input.focus();
    }
  }

  function newConversation() {
    var old = sessionId;
    anchor = null;
    sessionId = null; writeSession(null);
    liked = {}; cardsById = {};
    log.textContent = "";
    panel.setAttribute("data-turns", "0");
    if (old) {  // forget the old one on the server too (best effort)
      var q = userId ? "?user_id=" + encodeURIComponent(userId) : "";
      fetch(endpoint + "/v1/sessions/" + encodeURIComponent(old) + q, { method: "DELETE", headers: withUser({}) }).catch(function () {});
    }
    showWelcome();
    input.focus();
  }

  async function restore() {
    if (!sessionId) { showWelcome(); return; }
    try {
      var q = userId ? "?user_id=" + encodeURIComponent(userId) : "";
      var res = await fetch(endpoint + "/v1/sessions/" + encodeURIComponent(sessionId) + q, { headers: withUser({}) });
      if (!res.ok) throw new Error("gone");
      var s = await res.json();
      (s.profile && s.profile.liked || []).forEach(function (i) { liked[i] = "like"; });
      (s.profile && s.profile.disliked || []).forEach(function (i) { liked[i] = "dislike"; });
      addMessage("note", "Continuing your conversation \u2014 \u201cNew conversation\u201d starts over.");
      var known = rememberedCards();
      for (var k = 0; k < (s.messages || []).length; k++) {
        var m = s.messages[k];
        addMessage(m.role === "user" ? "user" : "bot", m.content);
        var ids = m.role === "assistant" ? (m.recommendations || []) : [];
        if (!ids.length) continue;
        // each card as it was shown: the reason the server kept with the answer, the rest
        // from this tab's copy, else from the catalog (title, year, categories, link, picture)
        var reasons = m.reasons || [];
        var recs = await Promise.all(ids.map(function (id, j) {
          var reason = reasons[j] || "";
          if (known[id]) return Object.assign({}, known[id], reason ? { reason: reason } : {});
          return fetch(endpoint + "/v1/items/" + encodeURIComponent(id)).then(function (r) {
            return r.ok ? r.json() : null;
          }).then(function (v) {
            return v && { item_id: v.item_id, title: v.title, year: v.year, categories: v.categories || [],
                          reason: reason, link: v.link || null, image: v.image || null };
          }).catch(function () { return null; });
        }));
        recs = recs.filter(Boolean);
        if (recs.length) log.appendChild(renderCards(recs));
      }
      scrollDown();
    } catch (e) {
      sessionId = null; writeSession(null);
      showWelcome();
    }
  }

  // ---- events ------------------------------------------------------------------------------
  launcher.addEventListener("click", function () { setOpen(true); });
  closeBtn.addEventListener("click", function () { setOpen(false); });
  newBtn.addEventListener("click", newConversation);
  form.addEventListener("submit", function (ev) { ev.preventDefault(); send(input.value); });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(input.value); }
  });
  panel.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { ev.preventDefault(); setOpen(false); }
  });

  async function loadTexts() {
    try {
      var res = await fetch(endpoint + "/widget/config");
      if (res.ok) {
        var cfg = await res.json();
        Object.keys(texts).forEach(function (k) { if (cfg[k]) texts[k] = cfg[k]; });
      }
    } catch (e) { /* keep the neutral defaults */ }
    applyTexts();
  }

  async function mount() {
    document.body.appendChild(host);
    applyTexts();
    if (data.open === "true") setOpen(true);
    await loadTexts();
    await restore();
    root.setAttribute("data-ready", "true");
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
