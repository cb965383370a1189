// siem-relay operator console (see README "Operator console").
//
// One page over the daemon's /v1 API on the same origin: sign in with a bearer token (kept in
// sessionStorage, sent as Authorization: Bearer, never as a cookie), then the sinks, a sink's
// delivery history and dead letters, run-time webhooks (create, edit, delete) and the event
// types. Plain DOM code: no framework, no build step, no other host. The Content-Security-Policy
// forbids inline script and style, so every element is built here and styled by app.css classes.
"use strict";

(function () {
  const TOKEN_KEY = "siem-relay.console.token";
  const REFRESH_MS = 3000;
  const FORMATS = [
    ["json", "JSON (generic webhook)"],
    ["slack", "Slack"],
    ["teams", "Microsoft Teams"],
    ["splunk_hec", "Splunk HEC"],
  ];
  const SEVERITIES = ["critical", "high", "medium", "low", "info"];
  // Fields of the webhook form, by the API's key name (a 422 answer's `field`).
  const FORM_FIELDS = ["name", "url", "format", "events", "min_severity", "secret", "token", "retry_count", "timeout_ms"];
  // The SVG namespace, as the HTML parser assigns it (this file names no other host).
  const SVG_NS = (function () {
    const holder = document.createElement("div");
    holder.innerHTML = "<svg></svg>";
    return holder.firstChild.namespaceURI;
  })();

  const state = {
    token: null,
    role: null,
    // Bumped on every route change and sign-out: answers for an older view are dropped.
    generation: 0,
    timer: null,
    refresh: null,
    flash: null,
  };

  const $ = (id) => document.getElementById(id);
  const isAdmin = () => state.role === "admin";

  // ---------------------------------------------------------------------------------------
  // DOM helpers

  /** An element: `attrs` are attributes, except `text`, `class`, `on` (event handlers) and
   *  `hidden`/`disabled` (properties); children are nodes or strings. */
  function h(tag, attrs, ...children) {
    const element = document.createElement(tag);
    setAttrs(element, attrs);
    append(element, children);
    return element;
  }

  function svg(tag, attrs, ...children) {
    const element = document.createElementNS(SVG_NS, tag);
    setAttrs(element, attrs);
    append(element, children);
    return element;
  }

  function setAttrs(element, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") element.textContent = String(value);
      else if (key === "class") element.setAttribute("class", value);
      else if (key === "on") for (const [event, fn] of Object.entries(value)) element.addEventListener(event, fn);
      else if (key === "hidden" || key === "disabled" || key === "checked") element[key] = Boolean(value);
      else if (key === "value") element.value = value;
      else element.setAttribute(key, value === true ? "" : String(value));
    }
  }

  function append(element, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** Text with `backquoted` parts as <code>, as the API's messages write them. */
  function withCode(text) {
    return String(text)
      .split("`")
      .map((part, i) => (i % 2 === 1 ? h("code", { text: part }) : part));
  }

  function clear(element) {
    while (element.firstChild) element.removeChild(element.firstChild);
  }

  function setText(element, text) {
    const value = text === undefined || text === null ? "" : String(text);
    if (element.textContent !== value) element.textContent = value;
  }

  // ---------------------------------------------------------------------------------------
  // Formatting

  function bytes(n) {
    if (typeof n !== "number") return "–";
    const units = ["B", "KiB", "MiB", "GiB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? String(value) : value.toFixed(1)) + " " + units[unit];
  }

  function count(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : "–";
  }

  function rate(n) {
    if (typeof n !== "number") return "–";
    return (n >= 100 ? n.toFixed(0) : n.toFixed(1)) + "/s";
  }

  /** RFC 3339 in UTC, to the second. */
  function time(value) {
    if (!value) return "–";
    if (typeof value === "number") value = new Date(value * 1000).toISOString();
    return String(value).replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
    return Math.floor(seconds / 86400) + " d " + Math.floor((seconds % 86400) / 3600) + " h";
  }

  function isWebhook(sink) {
    return sink && sink.breaker !== null && sink.breaker !== undefined;
  }

  function sinkPath(name, rest) {
    return "/v1/sinks/" + encodeURIComponent(name) + (rest || "");
  }

  function dropped(counters) {
    if (!counters) return 0;
    return (
      (counters.dropped_newest || 0) +
      (counters.dropped_oldest || 0) +
      (counters.dropped_shutdown || 0) +
      (counters.dropped_unsendable || 0)
    );
  }

  // ---------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || "the daemon answered " + status);
      this.status = status;
      this.body = body || {};
      this.field = body && typeof body.field === "string" ? body.field : null;
    }
  }

  async function request(method, path, body, token) {
    const headers = { Authorization: "Bearer " + (token || state.token), Accept: "application/json" };
    const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, { error: "the daemon cannot be reached (" + error.message + ")" });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = { error: text.trim() || "the daemon answered " + response.status };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  /** A request with the signed-in token; a 401 ends the session. */
  async function api(method, path, body) {
    try {
      return await request(method, path, body);
    } catch (error) {
      if (error.status === 401 && state.token) signOut("The daemon no longer accepts your token: sign in again.", true);
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Session

  async function signIn(token) {
    const who = await request("GET", "/v1/whoami", undefined, token);
    state.token = token;
    state.role = who && who.role === "admin" ? "admin" : "viewer";
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch (_) {
      // Storage refused (private mode): the token stays in memory for this page only.
    }
    $("loading").hidden = true;
    $("signin").hidden = true;
    $("nav").hidden = false;
    $("session").hidden = false;
    $("view").hidden = false;
    setText($("role"), state.role);
    $("role").className = "badge role-" + state.role;
    $("role").title = state.role === "admin" ? "You may change sinks" : "Read only";
    route();
  }

  function signOut(message, error) {
    state.generation += 1;
    stopRefresh();
    state.token = null;
    state.role = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) {
      // Nothing stored.
    }
    clear($("view"));
    $("view").hidden = true;
    $("nav").hidden = true;
    $("session").hidden = true;
    setText($("health"), "");
    showSignIn(error ? message : "", error ? "" : message);
    if (location.hash) history.replaceState(null, "", location.pathname);
  }

  function showSignIn(error, note) {
    $("loading").hidden = true;
    $("signin").hidden = false;
    setText($("signin-error"), error || "");
    setText($("signin-note"), note || "");
    document.title = "Sign in · siem-relay console";
    $("token").focus();
  }

  async function submitSignIn(event) {
    event.preventDefault();
    const input = $("token");
    const token = input.value.trim();
    setText($("signin-note"), "");
    if (!token) {
      setText($("signin-error"), "Enter an access token.");
      input.setAttribute("aria-invalid", "true");
      return;
    }
    const button = $("signin-button");
    button.disabled = true;
    try {
      await signIn(token);
      input.value = "";
      input.removeAttribute("aria-invalid");
      setText($("signin-error"), "");
    } catch (error) {
      input.setAttribute("aria-invalid", "true");
      setText(
        $("signin-error"),
        error.status === 401
          ? "This token was refused: the daemon does not know it. Check it and try again."
          : "Cannot sign in: " + error.message,
      );
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Routing and refresh

  function stopRefresh() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    state.refresh = null;
  }

  /** Runs `refresh` now and every REFRESH_MS while the view is current. */
  function every(refresh) {
    const generation = state.generation;
    state.refresh = refresh;
    const tick = async () => {
      if (generation !== state.generation) return;
      if (!document.hidden) {
        await Promise.allSettled([refresh(generation), refreshHealth(generation)]);
      }
      if (generation === state.generation) state.timer = setTimeout(tick, REFRESH_MS);
    };
    return tick();
  }

  function current(generation) {
    return generation === state.generation;
  }

  function route() {
    if (!state.token) return;
    state.generation += 1;
    stopRefresh();
    const view = $("view");
    clear(view);
    let hash = "";
    try {
      hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
    } catch (_) {
      hash = "";
    }
    const parts = hash.split("/").filter(Boolean);
    for (const link of document.querySelectorAll("#nav a")) link.removeAttribute("aria-current");
    if (parts[0] === "event-types") {
      $("nav-event-types").setAttribute("aria-current", "page");
      renderEventTypes(view);
    } else if (parts[0] === "new") {
      $("nav-sinks").setAttribute("aria-current", "page");
      renderForm(view, null);
    } else if (parts[0] === "sinks" && parts[1] && parts[2] === "edit") {
      $("nav-sinks").setAttribute("aria-current", "page");
      renderForm(view, parts[1]);
    } else if (parts[0] === "sinks" && parts[1]) {
      $("nav-sinks").setAttribute("aria-current", "page");
      renderSink(view, parts[1]);
    } else {
      $("nav-sinks").setAttribute("aria-current", "page");
      renderSinks(view);
    }
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  /** The message an action left for the next view ("Created ...", "Deleted ..."), once. */
  function takeFlash() {
    const flash = state.flash;
    state.flash = null;
    return flash || "";
  }

  function heading(text, id) {
    const h1 = h("h1", { id: id || "view-title", tabindex: "-1", text });
    document.title = text + " · siem-relay console";
    return h1;
  }

  function focusHeading(view) {
    const h1 = view.querySelector("h1");
    if (h1) h1.focus({ preventScroll: true });
  }

  async function refreshHealth(generation) {
    try {
      const health = await api("GET", "/v1/health");
      if (!current(generation)) return;
      const element = $("health");
      const deactivated = (health.deactivated_sinks || []).length;
      setText(
        element,
        (health.status === "ok" ? "ok" : "degraded (" + deactivated + " deactivated)") +
          " · " + health.sinks + (health.sinks === 1 ? " sink" : " sinks") +
          " · up " + duration(health.uptime_seconds) +
          " · v" + health.version,
      );
      element.className = "health health-" + (health.status === "ok" ? "ok" : "degraded");
    } catch (_) {
      if (current(generation)) {
        setText($("health"), "daemon unreachable");
        $("health").className = "health health-degraded";
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Charts: delivered / failed / dropped per bucket of the series, stacked bars.

  /** Sums the series' points into `buckets` buckets of `seconds` each, ending at the newest point. */
  function bucketize(series, buckets, seconds) {
    const points = (series && series.points) || [];
    const result = [];
    for (let i = 0; i < buckets; i += 1) result.push({ delivered: 0, failed: 0, dropped: 0 });
    if (!points.length) return result;
    const end = Math.floor(points[points.length - 1].time / seconds);
    for (const point of points) {
      const index = buckets - 1 - (end - Math.floor(point.time / seconds));
      if (index < 0 || index >= buckets) continue;
      result[index].delivered += point.delivered || 0;
      result[index].failed += point.failed || 0;
      result[index].dropped += point.dropped || 0;
    }
    return result;
  }

  function chart(series, options) {
    const { buckets, seconds, width, height, testid } = options;
    const data = bucketize(series, buckets, seconds);
    const totals = data.reduce(
      (sum, b) => ({
        delivered: sum.delivered + b.delivered,
        failed: sum.failed + b.failed,
        dropped: sum.dropped + b.dropped,
      }),
      { delivered: 0, failed: 0, dropped: 0 },
    );
    const minutes = Math.round((buckets * seconds) / 60);
    const label =
      "Last " + minutes + " minutes: " + totals.delivered + " delivered, " + totals.failed + " failed, " +
      totals.dropped + " dropped";
    const max = Math.max(1, ...data.map((b) => b.delivered + b.failed + b.dropped));
    const slot = width / buckets;
    const bar = Math.max(1, slot - 1);
    const root = svg("svg", {
      class: "chart",
      viewBox: "0 0 " + width + " " + height,
      width,
      height,
      role: "img",
      "aria-label": label,
      "data-testid": testid,
      "data-delivered": totals.delivered,
      "data-failed": totals.failed,
      "data-dropped": totals.dropped,
      preserveAspectRatio: "none",
    });
    root.append(svg("title", { text: label }));
    root.append(svg("rect", { x: 0, y: 0, width, height, class: "chart-bg" }));
    data.forEach((b, i) => {
      let y = height;
      for (const kind of ["delivered", "failed", "dropped"]) {
        if (!b[kind]) continue;
        const h2 = Math.max(1, (b[kind] / max) * (height - 2));
        y -= h2;
        root.append(svg("rect", { x: (i * slot).toFixed(2), y: y.toFixed(2), width: bar.toFixed(2), height: h2.toFixed(2), class: "bar-" + kind }));
      }
    });
    root.append(svg("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "chart-axis" }));
    return root;
  }

  function legend() {
    return h(
      "p",
      { class: "legend" },
      h("span", { class: "key key-delivered", text: "delivered" }),
      h("span", { class: "key key-failed", text: "failed" }),
      h("span", { class: "key key-dropped", text: "dropped" }),
    );
  }

  function badge(text, kind, testid) {
    return h("span", { class: "badge badge-" + kind, "data-testid": testid, text });
  }

  function stateKind(value) {
    if (value === "active" || value === "closed") return "good";
    if (value === "half_open") return "warn";
    if (value === "open" || value === "deactivated") return "bad";
    return "neutral";
  }

  function setBadge(element, text) {
    setText(element, text === null || text === undefined ? "–" : String(text).replace("_", " "));
    element.className = "badge badge-" + stateKind(text);
  }

  // ---------------------------------------------------------------------------------------
  // Sinks

  const SINK_COLUMNS = [
    ["name", "Sink"],
    ["format", "Format"],
    ["url", "URL"],
    ["state", "State"],
    ["breaker", "Breaker"],
    ["queue", "Queue"],
    ["in", "In"],
    ["out", "Out"],
    ["delivered", "Delivered"],
    ["last_error", "Last error"],
    ["activity", "Last 5 min"],
  ];

  function renderSinks(view) {
    const body = h("tbody", { id: "sinks-body" });
    const section = h(
      "section",
      { id: "sinks-view", "data-testid": "sinks-view", "aria-labelledby": "view-title" },
      h(
        "div",
        { class: "view-head" },
        heading("Sinks"),
        isAdmin() ? h("a", { id: "create-sink", "data-testid": "create-sink", "data-change": "create", class: "button", href: "#/new", text: "New webhook" }) : null,
      ),
      h("p", { id: "action-result", "data-testid": "action-result", class: "note", role: "status", "aria-live": "polite", text: takeFlash() }),
      h("p", { id: "view-error", class: "error", role: "alert" }),
      h(
        "div",
        { class: "table-wrap", tabindex: "0", "aria-label": "Sinks table" },
        h(
          "table",
          { id: "sinks-table", "data-testid": "sinks-table", class: "data sinks" },
          h("caption", { class: "sr-only", text: "Sinks, their state, queue and delivery rates; refreshed every 3 seconds" }),
          h("thead", {}, h("tr", {}, SINK_COLUMNS.map(([key, label]) => h("th", { scope: "col", class: "col-" + key, text: label })))),
          body,
        ),
      ),
      h("p", { id: "sinks-empty", class: "muted", hidden: true, text: "No sinks." }),
      h(
        "div",
        { class: "foot" },
        legend(),
        h("p", { class: "muted", text: "In and out are events per second over the last 10 s. Refreshed every 3 s." }),
      ),
    );
    view.append(section);
    focusHeading(view);
    const rows = new Map();
    every(async (gen) => {
      let sinks;
      try {
        sinks = await api("GET", "/v1/sinks");
      } catch (error) {
        if (current(gen)) setText($("view-error"), "Cannot read the sinks: " + error.message);
        return;
      }
      if (!current(gen)) return;
      setText($("view-error"), "");
      const names = new Set(sinks.map((s) => s.name));
      for (const [name, row] of rows) {
        if (!names.has(name)) {
          row.element.remove();
          rows.delete(name);
        }
      }
      for (const sink of sinks) {
        let row = rows.get(sink.name);
        if (!row) {
          row = sinkRow(sink.name);
          rows.set(sink.name, row);
        }
        updateSinkRow(row, sink);
        body.append(row.element);
      }
      $("sinks-empty").hidden = sinks.length > 0;
      const series = await Promise.allSettled(sinks.map((s) => api("GET", sinkPath(s.name, "/series"))));
      if (!current(gen)) return;
      sinks.forEach((sink, i) => {
        const row = rows.get(sink.name);
        if (row && series[i].status === "fulfilled") {
          const cell = row.cells.activity;
          clear(cell);
          cell.append(chart(series[i].value, { buckets: 30, seconds: 10, width: 150, height: 32, testid: "chart-" + sink.name }));
        }
      });
    });
  }

  function sinkRow(name) {
    const cells = {};
    const element = h("tr", { id: "sink-row-" + name, "data-sink": name, "data-testid": "sink-row" });
    for (const [key, label] of SINK_COLUMNS) {
      // data-label: the column's name, shown beside each value on narrow windows (app.css).
      const cell = h(key === "name" ? "th" : "td", { class: "col-" + key, "data-col": key, "data-label": label });
      if (key === "name") cell.setAttribute("scope", "row");
      cells[key] = cell;
      element.append(cell);
    }
    cells.name.append(h("a", { href: "#/sinks/" + encodeURIComponent(name), "data-testid": "sink-link", text: name }));
    cells.state.append(h("span", { class: "badge" }));
    cells.breaker.append(h("span", { class: "badge" }));
    return { element, cells };
  }

  function updateSinkRow(row, sink) {
    const c = row.cells;
    setText(c.format, sink.format);
    setText(c.url, sink.url);
    c.url.title = sink.url;
    setBadge(c.state.firstChild, sink.state);
    if (sink.deactivation_reason) c.state.title = sink.deactivation_reason;
    else c.state.removeAttribute("title");
    if (isWebhook(sink)) setBadge(c.breaker.firstChild, sink.breaker);
    else {
      setText(c.breaker.firstChild, "–");
      c.breaker.firstChild.className = "badge badge-none";
    }
    const queue = sink.queue || {};
    setText(c.queue, count(queue.events) + " / " + bytes(queue.bytes));
    c.queue.title = "at most " + count(queue.max_events) + " events, " + bytes(queue.max_bytes) + "; when full: " + queue.when_full;
    setText(c.in, rate(sink.rates && sink.rates.in_per_second));
    setText(c.out, rate(sink.rates && sink.rates.out_per_second));
    setText(c.delivered, count(sink.counters && sink.counters.delivered));
    const error = sink.last_error;
    setText(c.last_error, error ? error.error : "–");
    c.last_error.title = error ? time(error.time) + ": " + error.error : "";
    c.last_error.classList.toggle("has-error", Boolean(error));
  }

  // ---------------------------------------------------------------------------------------
  // One sink

  function renderSink(view, name) {
    const generation = state.generation;
    const admin = isAdmin();
    const result = h("p", { id: "action-result", "data-testid": "action-result", class: "note", role: "status", "aria-live": "polite" });
    // Delivery controls first, then edit and delete (added once the keys show a run-time sink).
    const operate = h("div", { class: "actions" });
    const manage = h("div", { class: "actions" });
    const actions = h("div", { id: "sink-actions", class: "actions", hidden: true }, operate, manage);
    const confirm = h("div", { id: "delete-confirm", class: "confirm", role: "group", "aria-labelledby": "delete-question", hidden: true });
    const summary = h("dl", { id: "sink-summary", "data-testid": "sink-summary", class: "summary" });
    const counters = h("dl", { id: "sink-counters", "data-testid": "sink-counters", class: "summary counters" });
    const activity = h("div", { id: "sink-activity", class: "activity" });
    const keys = h("div", { id: "sink-keys", "data-testid": "sink-keys" });
    const webhookParts = h("div", { id: "webhook-parts" });
    const section = h(
      "section",
      { id: "sink-view", "data-testid": "sink-view", "data-sink": name, "aria-labelledby": "sink-title" },
      h("p", { class: "crumbs" }, h("a", { id: "back", href: "#/sinks", text: "← All sinks" })),
      h("div", { class: "view-head" }, heading(name, "sink-title"), h("span", { id: "sink-state", "data-testid": "sink-state", class: "badge" }), actions),
      confirm,
      result,
      h("p", { id: "view-error", class: "error", role: "alert" }),
      summary,
      h("h2", { text: "Activity, last 10 minutes" }),
      activity,
      legend(),
      webhookParts,
      h("h2", { text: "Configuration" }),
      keys,
      h("h2", { text: "Counters" }),
      counters,
    );
    view.append(section);
    focusHeading(view);
    setText(result, takeFlash());

    let sink = null;
    let built = false;

    const buttons = {};
    const say = (text, bad) => {
      setText(result, text);
      result.className = bad ? "error" : "note";
    };
    const act = async (button, work) => {
      if (button.disabled) return;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      try {
        await work();
      } catch (error) {
        if (current(generation)) say(error.message, true);
      } finally {
        button.removeAttribute("aria-busy");
        button.disabled = false;
        if (current(generation) && state.refresh) await state.refresh(generation);
      }
    };

    function buildOnce() {
      if (built || !sink) return;
      built = true;
      const webhook = isWebhook(sink);
      if (admin) {
        if (webhook) {
          buttons.test = h("button", { id: "test-delivery", "data-testid": "test-delivery", "data-change": "test", type: "button", class: "button", text: "Send test delivery" });
          buttons.test.addEventListener("click", () =>
            act(buttons.test, async () => {
              say("Sending a test delivery…");
              try {
                const answer = await api("POST", sinkPath(name, "/test"));
                say("Test delivery accepted: " + describeAttempt(answer.attempt));
              } catch (error) {
                if (error.status === 502 && error.body.attempt) say("Test delivery failed: " + describeAttempt(error.body.attempt), true);
                else throw error;
              }
            }),
          );
        }
        buttons.disable = h("button", { id: "disable-sink", "data-testid": "disable-sink", "data-change": "disable", type: "button", class: "button secondary", text: "Disable" });
        buttons.disable.addEventListener("click", () =>
          act(buttons.disable, async () => {
            await api("POST", sinkPath(name, "/disable"));
            say("Disabled: events wait in the queue.");
          }),
        );
        buttons.enable = h("button", { id: "enable-sink", "data-testid": "enable-sink", "data-change": "enable", type: "button", class: "button secondary", text: webhook ? "Enable (reset breaker)" : "Enable" });
        buttons.enable.addEventListener("click", () =>
          act(buttons.enable, async () => {
            await api("POST", sinkPath(name, "/enable"));
            say("Enabled.");
          }),
        );
        operate.append(buttons.test || "", buttons.disable, buttons.enable);
        actions.hidden = false;
      }
      if (webhook) buildWebhookParts();
      else webhookParts.append(h("p", { class: "muted", text: "Delivery history and dead letters are kept for webhook sinks only." }));
    }

    function buildWebhookParts() {
      webhookParts.append(
        h("h2", { id: "history-title", text: "Delivery history" }),
        h(
          "div",
          { class: "table-wrap", tabindex: "0", "aria-labelledby": "history-title" },
          h(
            "table",
            { id: "history-table", "data-testid": "history-table", class: "data" },
            h("caption", { class: "sr-only", text: "Delivery attempts, newest first" }),
            h(
              "thead",
              {},
              h("tr", {}, ["Time", "Status", "Result", "Attempt", "Error", "Duration", "Events"].map((t) => h("th", { scope: "col", text: t }))),
            ),
            h("tbody", { id: "history-body" }),
          ),
        ),
        h("p", { id: "history-empty", class: "muted", text: "No delivery attempts yet." }),
        h("div", { class: "section-head" }, h("h2", { id: "dead-letters-title", text: "Dead letters" }), admin ? replayButton() : null),
        h("p", { id: "dead-letters-summary", "data-testid": "dead-letters-summary", class: "muted" }),
        h(
          "div",
          { class: "table-wrap", tabindex: "0", "aria-labelledby": "dead-letters-title" },
          h(
            "table",
            { id: "dead-letters-table", "data-testid": "dead-letters-table", class: "data" },
            h("caption", { class: "sr-only", text: "Deliveries given up, oldest first" }),
            h("thead", {}, h("tr", {}, ["Time", "Error", "Attempts", "Events"].map((t) => h("th", { scope: "col", text: t })))),
            h("tbody", { id: "dead-letters-body" }),
          ),
        ),
      );
    }

    function replayButton() {
      buttons.replay = h("button", { id: "replay-dead-letters", "data-testid": "replay-dead-letters", "data-change": "replay", type: "button", class: "button secondary", text: "Replay all", disabled: true });
      buttons.replay.addEventListener("click", () =>
        act(buttons.replay, async () => {
          const answer = await api("POST", sinkPath(name, "/dead-letters/replay"));
          say("Replayed " + answer.replayed + " dead letter" + (answer.replayed === 1 ? "" : "s") + " into the queue.");
        }),
      );
      return buttons.replay;
    }

    function buildRuntimeControls() {
      if (!admin) return;
      buttons.edit = h("a", { id: "edit-sink", "data-testid": "edit-sink", "data-change": "edit", class: "button secondary", href: "#/sinks/" + encodeURIComponent(name) + "/edit", text: "Edit" });
      buttons.remove = h("button", { id: "delete-sink", "data-testid": "delete-sink", "data-change": "delete", type: "button", class: "button danger", text: "Delete" });
      buttons.remove.addEventListener("click", () => {
        confirm.hidden = false;
        $("confirm-delete").focus();
      });
      manage.append(buttons.edit, buttons.remove);
      actions.hidden = false;
      const yes = h("button", { id: "confirm-delete", "data-testid": "confirm-delete", "data-change": "delete", type: "button", class: "button danger", text: "Delete " + name });
      const no = h("button", { id: "cancel-delete", type: "button", class: "button secondary", text: "Keep it" });
      confirm.append(
        h("p", { id: "delete-question", text: "Delete the run-time sink " + name + "? Its drop-in file is removed and the events in its queue are dropped." }),
        yes,
        no,
      );
      no.addEventListener("click", () => {
        confirm.hidden = true;
        buttons.remove.focus();
      });
      yes.addEventListener("click", () =>
        act(yes, async () => {
          // No refresh of a sink that is going away (it would answer 404).
          stopRefresh();
          try {
            await api("DELETE", sinkPath(name));
          } catch (error) {
            every(refresh);
            throw error;
          }
          if (!current(generation)) return;
          state.flash = "Deleted the sink " + name + ".";
          go("#/sinks");
        }),
      );
    }

    async function loadKeys() {
      try {
        const answer = await api("GET", sinkPath(name, "/keys"));
        if (!current(generation)) return;
        clear(keys);
        keys.append(h("p", { class: "muted", text: "A run-time sink (drop-in file in control.sinks_dir)." }), keyList(answer.keys));
        buildRuntimeControls();
      } catch (error) {
        if (!current(generation)) return;
        clear(keys);
        keys.append(
          h("p", {
            class: "muted",
            text:
              error.status === 409
                ? "Defined in the configuration file: read-only here (" + error.message + ")."
                : "Cannot read its keys: " + error.message,
          }),
        );
      }
    }

    const refresh = async (gen) => {
      try {
        sink = await api("GET", sinkPath(name));
      } catch (error) {
        if (!current(gen)) return;
        setText($("view-error"), error.status === 404 ? "There is no sink named " + name + "." : "Cannot read the sink: " + error.message);
        return;
      }
      if (!current(gen)) return;
      setText($("view-error"), "");
      buildOnce();
      updateSummary(sink);
      const parts = [api("GET", sinkPath(name, "/series"))];
      if (isWebhook(sink)) parts.push(api("GET", sinkPath(name, "/history")), api("GET", sinkPath(name, "/dead-letters")));
      const [series, history, letters] = await Promise.allSettled(parts);
      if (!current(gen)) return;
      if (series.status === "fulfilled") {
        clear(activity);
        activity.append(
          chart(series.value, { buckets: 60, seconds: 10, width: 600, height: 90, testid: "sink-chart" }),
          h("div", { class: "axis", "aria-hidden": "true" }, h("span", { text: "10 min ago" }), h("span", { text: "5 min" }), h("span", { text: "now" })),
        );
      }
      if (history && history.status === "fulfilled") updateHistory(history.value.attempts || []);
      if (letters && letters.status === "fulfilled") updateDeadLetters(letters.value);
    };

    function updateSummary(s) {
      setBadge($("sink-state"), s.state);
      const queue = s.queue || {};
      const rows = [
        ["Format", s.format],
        ["URL", s.url],
        ["State", s.state + (s.deactivation_reason ? " (" + s.deactivation_reason + ")" : "")],
        ["Breaker", isWebhook(s) ? String(s.breaker).replace("_", " ") : "–"],
        ["Queue", count(queue.events) + " events, " + bytes(queue.bytes) + " (at most " + count(queue.max_events) + ", " + bytes(queue.max_bytes) + "; when full: " + queue.when_full + ")"],
        ["In / out", rate(s.rates && s.rates.in_per_second) + " / " + rate(s.rates && s.rates.out_per_second)],
        ["Delivered / dropped", count(s.counters && s.counters.delivered) + " / " + count(dropped(s.counters))],
        ["Last error", s.last_error ? time(s.last_error.time) + ": " + s.last_error.error : "–"],
        ["Running since", time(s.since)],
      ];
      if (isWebhook(s)) rows.push(["Dead letters", count(s.dead_letters)]);
      fillList(summary, rows, "summary");
      const c = s.counters || {};
      fillList(counters, Object.keys(c).map((key) => [key.replace(/_/g, " "), count(c[key])]), "counter");
      if (buttons.disable) buttons.disable.disabled = s.state === "deactivated";
    }

    function updateHistory(attempts) {
      const body = $("history-body");
      if (!body) return;
      clear(body);
      $("history-empty").hidden = attempts.length > 0;
      for (const a of attempts) {
        body.append(
          h(
            "tr",
            { "data-testid": "history-row", "data-status": a.status === null ? "" : a.status, "data-success": String(a.success), "data-test": String(Boolean(a.test)) },
            h("td", { text: time(a.time) }),
            h("td", { "data-col": "status", text: a.status === null || a.status === undefined ? "–" : a.status }),
            h("td", { "data-col": "success" }, badge(a.success ? "delivered" : "failed", a.success ? "good" : "bad")),
            h("td", { "data-col": "attempt", text: a.attempt }),
            h("td", { "data-col": "error", class: a.error ? "has-error" : "", text: a.error || "–" }),
            h("td", { "data-col": "duration", text: a.latency_ms + " ms" }),
            h("td", { "data-col": "events", text: a.test ? "test delivery" : (a.event_ids || []).join(", ") || "–" }),
          ),
        );
      }
    }

    function updateDeadLetters(answer) {
      const letters = answer.dead_letters || [];
      const body = $("dead-letters-body");
      if (!body) return;
      clear(body);
      setText(
        $("dead-letters-summary"),
        letters.length === 0
          ? "No dead letters."
          : letters.length + " dead letter" + (letters.length === 1 ? "" : "s") + (answer.discarded ? "; " + answer.discarded + " discarded (over dead_letter_max)" : ""),
      );
      for (const letter of letters) {
        body.append(
          h(
            "tr",
            { "data-testid": "dead-letter-row" },
            h("td", { text: time(letter.time) }),
            h("td", { class: "has-error", text: letter.error }),
            h("td", { text: letter.attempts }),
            h("td", { text: (letter.event_ids || []).join(", ") }),
          ),
        );
      }
      if (buttons.replay) buttons.replay.disabled = letters.length === 0;
    }

    loadKeys();
    every(refresh);
  }

  function describeAttempt(attempt) {
    if (!attempt) return "no answer";
    const parts = [];
    parts.push(attempt.status ? "HTTP " + attempt.status : "no status");
    if (attempt.error) parts.push(attempt.error);
    parts.push("in " + attempt.latency_ms + " ms");
    return parts.join(", ");
  }

  function fillList(list, rows, testid) {
    clear(list);
    for (const [term, value] of rows) {
      list.append(h("div", { class: "pair", "data-testid": testid + "-" + term.replace(/[^a-z0-9]+/gi, "-").toLowerCase() }, h("dt", { text: term }), h("dd", { text: value })));
    }
  }

  /** A run-time sink's keys as the API shows them: secrets are "<set>" and shown as "set". */
  function keyList(keys) {
    const list = h("dl", { class: "summary keys" });
    for (const [key, value] of Object.entries(keys || {})) {
      let shown;
      if (value === "<set>") shown = "set (hidden)";
      else if (key === "headers" && value && typeof value === "object") shown = Object.keys(value).join(", ") + " (values hidden)";
      else if (Array.isArray(value)) shown = value.join(", ");
      else if (value && typeof value === "object") shown = JSON.stringify(value);
      else shown = String(value);
      list.append(h("div", { class: "pair", "data-testid": "key-" + key }, h("dt", { text: key }), h("dd", { text: shown })));
    }
    return list;
  }

  // ---------------------------------------------------------------------------------------
  // Create / edit a run-time webhook

  function renderForm(view, name) {
    const generation = state.generation;
    const editing = name !== null;
    if (!isAdmin()) {
      view.append(
        h(
          "section",
          { id: "form-view", class: "card" },
          heading(editing ? "Edit " + name : "New webhook"),
          h("p", { class: "error", text: "Changing sinks needs an admin token: you are signed in as a viewer." }),
          h("p", {}, h("a", { href: "#/sinks", text: "Back to the sinks" })),
        ),
      );
      return;
    }
    const form = h("form", { id: "sink-form", "data-testid": "sink-form", novalidate: true, class: "form" });
    const formError = h("p", { id: "form-error", "data-testid": "form-error", class: "error", role: "alert" });
    view.append(
      h(
        "section",
        { id: "form-view", class: "card", "aria-labelledby": "view-title" },
        h("p", { class: "crumbs" }, h("a", { href: editing ? "#/sinks/" + encodeURIComponent(name) : "#/sinks", text: editing ? "← " + name : "← All sinks" })),
        heading(editing ? "Edit " + name : "New webhook"),
        h("p", { class: "muted", text: editing ? "Change the keys of this run-time webhook. Fields left as they are keep their value." : "A run-time webhook, kept as a drop-in file in control.sinks_dir and started at once." }),
        form,
      ),
    );
    const p = h("p", { class: "muted", text: "Loading…" });
    form.append(p);
    focusHeading(view);

    Promise.allSettled([api("GET", "/v1/event-types"), editing ? api("GET", sinkPath(name, "/keys")) : Promise.resolve({ keys: {} })]).then(
      ([types, keys]) => {
        if (!current(generation)) return;
        p.remove();
        if (keys.status === "rejected") {
          form.append(h("p", { class: "error", role: "alert", text: "Cannot edit " + name + ": " + keys.reason.message }));
          return;
        }
        const catalogue = types.status === "fulfilled" ? types.value.event_types || [] : [];
        buildForm(form, formError, name, keys.value.keys || {}, catalogue, generation);
      },
    );
  }

  function field(key, label, control, help, extra) {
    const id = control.id;
    const helpId = "help-" + key;
    const errorId = "error-" + key;
    control.setAttribute("aria-describedby", (help ? helpId + " " : "") + errorId);
    return h(
      "div",
      { class: "field", "data-field": key },
      h("label", { for: id, text: label }),
      control,
      extra || null,
      help ? h("p", { id: helpId, class: "help", text: help }) : null,
      h("p", { id: errorId, "data-testid": "error-" + key, "data-error-for": key, class: "field-error", role: "alert" }),
    );
  }

  function buildForm(form, formError, name, keys, catalogue, generation) {
    const editing = name !== null;
    const original = keys;
    const controls = {};

    // Name
    controls.name = h("input", { id: "f-name", "data-testid": "f-name", name: "name", type: "text", autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9_-]+", required: !editing, value: editing ? name : "", readonly: editing });
    form.append(field("name", "Name", controls.name, editing ? "A sink cannot be renamed." : "Letters, digits, _ and -."));

    // URL: a saved webhook's path is never shown (it may be the credential).
    controls.url = h("input", { id: "f-url", "data-testid": "f-url", name: "url", type: "url", autocomplete: "off", spellcheck: "false", inputmode: "url", required: !editing });
    form.append(
      field(
        "url",
        "URL",
        controls.url,
        editing
          ? "Now " + (original.url || "–") + " (its path is hidden). Leave empty to keep it."
          : "The receiver's http or https URL. Once saved, only its scheme and host are shown.",
      ),
    );

    // Format
    controls.format = h("select", { id: "f-format", "data-testid": "f-format", name: "format" }, FORMATS.map(([value, label]) => h("option", { value, text: label })));
    const format = original.format || "json";
    if (!FORMATS.some(([value]) => value === format)) controls.format.append(h("option", { value: format, text: format }));
    controls.format.value = format;
    form.append(field("format", "Format", controls.format, null));

    // Event types: the catalogue, "*", and any other globs.
    const selected = new Set(Array.isArray(original.events) ? original.events : original.events ? [original.events] : []);
    const boxes = h("div", { class: "checks", id: "f-events", "data-testid": "f-events" });
    const known = ["*"].concat(catalogue.map((t) => t.type));
    const described = new Map(catalogue.map((t) => [t.type, t.description]));
    for (const type of known) {
      const id = "f-event-" + (type === "*" ? "all" : type);
      const box = h("input", { id, type: "checkbox", name: "events", value: type, "data-testid": id, checked: selected.has(type) });
      const text = type === "*" ? "* (every type)" : type;
      const description = described.get(type);
      boxes.append(h("div", { class: "check" }, box, h("label", { for: id }, h("code", { text }), description ? h("span", { class: "muted", text: " " + description }) : null)));
    }
    const others = [...selected].filter((t) => !known.includes(t));
    controls.events = h("input", { id: "f-events-more", "data-testid": "f-events-more", type: "text", autocomplete: "off", spellcheck: "false", value: others.join(", ") });
    form.append(
      h(
        "fieldset",
        { class: "field", "data-field": "events", "aria-describedby": "help-events error-events" },
        h("legend", { text: "Event types" }),
        boxes,
        h("label", { for: "f-events-more", class: "sub-label", text: "Other patterns (globs, comma-separated)" }),
        controls.events,
        h("p", { id: "help-events", class: "help" }, withCode("None picked means every type. `*` matches any run of characters, `?` one character.")),
        h("p", { id: "error-events", "data-testid": "error-events", "data-error-for": "events", class: "field-error", role: "alert" }),
      ),
    );

    // Minimum severity
    controls.min_severity = h(
      "select",
      { id: "f-min-severity", "data-testid": "f-min-severity", name: "min_severity" },
      h("option", { value: "", text: "Any severity" }),
      SEVERITIES.map((s) => h("option", { value: s, text: s })),
    );
    if (original.min_severity !== undefined && !SEVERITIES.includes(String(original.min_severity))) {
      controls.min_severity.append(h("option", { value: String(original.min_severity), text: "score " + original.min_severity }));
    }
    controls.min_severity.value = original.min_severity === undefined ? "" : String(original.min_severity);
    form.append(field("min_severity", "Minimum severity", controls.min_severity, "The least severe event taken (a band: medium takes scores 4-10)."));

    // Secrets: write-only.
    const secretField = (key, label, help) => {
      const isSet = original[key] === "<set>";
      controls[key] = h("input", { id: "f-" + key, "data-testid": "f-" + key, name: key, type: "password", autocomplete: "new-password", spellcheck: "false", placeholder: isSet ? "set: leave empty to keep it" : "not set" });
      const status = h("span", { id: "f-" + key + "-state", "data-testid": "f-" + key + "-state", class: "badge " + (isSet ? "badge-good" : "badge-none"), text: isSet ? "set" : "not set" });
      let remove = null;
      if (isSet) {
        controls[key + "_remove"] = h("input", { id: "f-" + key + "-remove", "data-testid": "f-" + key + "-remove", type: "checkbox" });
        remove = h("div", { class: "check" }, controls[key + "_remove"], h("label", { for: "f-" + key + "-remove", text: "Remove the " + key }));
      }
      const wrapper = field(key, label, controls[key], help, h("div", { class: "secret-extra" }, status, remove));
      return wrapper;
    };
    form.append(secretField("secret", "Signing secret", "Write-only: never shown back. An empty field keeps the current secret. Standard Webhooks signatures take whsec_ and 24-64 bytes in base64."));
    const tokenField = secretField("token", "Splunk HEC token", "Write-only, like the secret; required for Splunk HEC.");
    form.append(tokenField);
    const showToken = () => {
      tokenField.hidden = controls.format.value !== "splunk_hec" && original.token === undefined;
    };
    controls.format.addEventListener("change", showToken);
    showToken();

    // Numbers
    controls.retry_count = h("input", { id: "f-retry-count", "data-testid": "f-retry-count", name: "retry_count", type: "number", inputmode: "numeric", min: "0", max: "10", step: "1", value: original.retry_count === undefined ? "" : String(original.retry_count), placeholder: "3" });
    form.append(field("retry_count", "Retries", controls.retry_count, "Retries after the first attempt, 0-10 (default 3)."));
    controls.timeout_ms = h("input", { id: "f-timeout-ms", "data-testid": "f-timeout-ms", name: "timeout_ms", type: "number", inputmode: "numeric", min: "1000", max: "30000", step: "1", value: original.timeout_ms === undefined ? "" : String(original.timeout_ms), placeholder: "5000" });
    form.append(field("timeout_ms", "Timeout (ms)", controls.timeout_ms, "Request timeout in milliseconds, 1000-30000 (default 5000)."));

    const save = h("button", { id: "save-sink", "data-testid": "save-sink", "data-change": "save", type: "submit", class: "button", text: editing ? "Save changes" : "Create webhook" });
    form.append(formError, h("div", { class: "actions" }, save, h("a", { id: "cancel-form", class: "button secondary", href: editing ? "#/sinks/" + encodeURIComponent(name) : "#/sinks", text: "Cancel" })));

    const clearErrors = () => {
      setText(formError, "");
      for (const element of form.querySelectorAll("[data-error-for]")) setText(element, "");
      for (const element of form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
    };
    const showError = (key, message) => {
      const target = form.querySelector('[data-error-for="' + key + '"]');
      if (!target || target.closest("[hidden]")) {
        setText(formError, (key ? key + ": " : "") + message);
        return;
      }
      setText(target, message);
      const control = key === "events" ? controls.events : controls[key];
      if (control) {
        control.setAttribute("aria-invalid", "true");
        control.focus();
      }
    };

    const eventsPicked = () => {
      const picked = [...form.querySelectorAll('input[name="events"]:checked')].map((box) => box.value);
      const more = controls.events.value.split(",").map((s) => s.trim()).filter(Boolean);
      return [...new Set(picked.concat(more))];
    };
    const numberOf = (key) => {
      const input = controls[key];
      if (input.validity.badInput) return { error: "expected a whole number" };
      const text = input.value.trim();
      if (text === "") return { empty: true };
      const value = Number(text);
      if (!Number.isInteger(value)) return { error: "expected a whole number" };
      return { value };
    };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors();
      const body = {};
      const numbers = {};
      for (const key of ["retry_count", "timeout_ms"]) {
        numbers[key] = numberOf(key);
        if (numbers[key].error) {
          showError(key, numbers[key].error);
          return;
        }
      }
      const events = eventsPicked();
      const url = controls.url.value.trim();
      const secret = controls.secret.value;
      const token = controls.token.value;
      if (!editing) {
        body.name = controls.name.value.trim();
        if (!body.name) return showError("name", "a name is required");
        if (!url) return showError("url", "a URL is required");
        body.format = controls.format.value;
        body.url = url;
        if (events.length) body.events = events;
        if (controls.min_severity.value) body.min_severity = controls.min_severity.value;
        if (secret) body.secret = secret;
        if (token && !tokenField.hidden) body.token = token;
        for (const key of ["retry_count", "timeout_ms"]) if (!numbers[key].empty) body[key] = numbers[key].value;
      } else {
        if (url) body.url = url;
        if (controls.format.value !== (original.format || "json")) body.format = controls.format.value;
        const before = Array.isArray(original.events) ? original.events : original.events ? [original.events] : [];
        const sorted = (list) => JSON.stringify([...list].sort());
        if (sorted(events) !== sorted(before)) body.events = events.length ? events : null;
        const severity = original.min_severity === undefined ? "" : String(original.min_severity);
        if (controls.min_severity.value !== severity) body.min_severity = controls.min_severity.value || null;
        for (const key of ["secret", "token"]) {
          const value = controls[key].value;
          if (value) body[key] = value;
          else if (controls[key + "_remove"] && controls[key + "_remove"].checked) body[key] = null;
        }
        for (const key of ["retry_count", "timeout_ms"]) {
          const was = original[key];
          if (numbers[key].empty) {
            if (was !== undefined) body[key] = null;
          } else if (numbers[key].value !== was) body[key] = numbers[key].value;
        }
        if (Object.keys(body).length === 0) {
          setText(formError, "Nothing to change.");
          return;
        }
      }
      save.disabled = true;
      save.setAttribute("aria-busy", "true");
      try {
        if (editing) await api("PATCH", sinkPath(name), body);
        else await api("POST", "/v1/sinks", body);
        if (!current(generation)) return;
        // Never keep a secret in the page longer than needed.
        controls.secret.value = "";
        controls.token.value = "";
        state.flash = editing ? "Saved the changes to " + name + "." : "Created the webhook " + body.name + ".";
        go("#/sinks/" + encodeURIComponent(editing ? name : body.name));
      } catch (error) {
        if (!current(generation)) return;
        let key = error.field;
        if (!key && /"name"|exists already|sink name/.test(error.message)) key = "name";
        if (key && FORM_FIELDS.includes(key)) showError(key, fieldMessage(error.message, key));
        else setText(formError, error.message);
      } finally {
        save.disabled = false;
        save.removeAttribute("aria-busy");
      }
    });
  }

  /** A refusal as shown beside its field: from the key on ("retry_count: expected 0 to 10"),
   *  without the drop-in file's path that the daemon's message starts with. */
  function fieldMessage(message, key) {
    const at = message.indexOf("." + key + ":");
    if (at < 0) return message;
    return message.slice(at + 1);
  }

  // ---------------------------------------------------------------------------------------
  // Event types

  function renderEventTypes(view) {
    const body = h("tbody", { id: "event-types-body" });
    const note = h("p", { id: "event-types-note", class: "muted" });
    view.append(
      h(
        "section",
        { id: "event-types-view", "data-testid": "event-types-view", "aria-labelledby": "view-title" },
        heading("Event types"),
        h("p", { id: "view-error", class: "error", role: "alert" }),
        h(
          "div",
          { class: "table-wrap", tabindex: "0", "aria-label": "Event types table" },
          h(
            "table",
            { id: "event-types-table", "data-testid": "event-types-table", class: "data" },
            h("caption", { class: "sr-only", text: "Configured and seen event types" }),
            h("thead", {}, h("tr", {}, ["Type", "Description", "Configured", "Seen"].map((t) => h("th", { scope: "col", text: t })))),
            body,
          ),
        ),
        note,
      ),
    );
    focusHeading(view);
    every(async (gen) => {
      let answer;
      try {
        answer = await api("GET", "/v1/event-types");
      } catch (error) {
        if (current(gen)) setText($("view-error"), "Cannot read the event types: " + error.message);
        return;
      }
      if (!current(gen)) return;
      setText($("view-error"), "");
      clear(body);
      for (const t of answer.event_types || []) {
        body.append(
          h(
            "tr",
            { "data-type": t.type, "data-testid": "event-type-row" },
            h("th", { scope: "row" }, h("code", { text: t.type })),
            h("td", { class: t.description ? "" : "muted", text: t.description || "not in [event_types]" }),
            h("td", { text: t.configured ? "yes" : "no" }),
            h("td", { "data-col": "seen", class: "num", text: count(t.seen) }),
          ),
        );
      }
      if (!(answer.event_types || []).length) body.append(h("tr", {}, h("td", { colspan: "4", class: "muted", text: "No event types configured or seen yet." })));
      clear(note);
      if (answer.wildcard) append(note, withCode(answer.wildcard.charAt(0).toUpperCase() + answer.wildcard.slice(1) + "."));
    });
  }

  // ---------------------------------------------------------------------------------------
  // Start

  function start() {
    $("signin-form").addEventListener("submit", submitSignIn);
    $("sign-out").addEventListener("click", () => signOut("Signed out. The token was removed from this tab.", false));
    window.addEventListener("hashchange", route);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && state.refresh && state.token) {
        const refresh = state.refresh;
        const generation = state.generation;
        refresh(generation);
      }
    });
    let saved = null;
    try {
      saved = sessionStorage.getItem(TOKEN_KEY);
    } catch (_) {
      saved = null;
    }
    if (!saved) {
      showSignIn("", "");
      return;
    }
    signIn(saved).catch((error) => {
        try {
          sessionStorage.removeItem(TOKEN_KEY);
        } catch (_) {
          // Nothing stored.
        }
        showSignIn(error.status === 401 ? "Your saved token is no longer accepted: sign in again." : "Cannot sign in: " + error.message, "");
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
