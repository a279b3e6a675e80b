// The operator's console (docs/console.md): plain DOM, no build step, no network but the
// server it was loaded from. Every URL is built relative to where the page was loaded, so a
// reverse proxy may mount the server under a prefix (/cloacina/ui/ -> /cloacina/v1/...).
"use strict";

(() => {
  const KEY_SLOT = "cloacina.console.key";
  const TENANT_SLOT = "cloacina.console.tenant";
  const POLL_MS = 2000;
  const RUNS_CAP = 50;
  const RATE_WINDOW_MS = 30000;
  const ROLE_RANK = { read: 1, write: 2, admin: 3 };
  const VIEWS = ["tenants", "packages", "reactors", "graphs", "binding", "live", "keys"];
  const SVG_NS = "http://www.w3.org/2000/svg";

  // the server's root as seen by this page: everything before the last "/ui/"
  const BASE = (() => {
    const path = location.pathname;
    const at = path.lastIndexOf("/ui/");
    return at >= 0 ? path.slice(0, at + 1) : "/";
  })();
  const WS_BASE = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${BASE}`;

  const S = {
    key: null,
    who: null,
    tenant: null,
    tenants: [],
    data: emptyData(),
    rates: new Map(), // reactor -> [{t, fires}]
    sockets: new Map(), // graph -> {ws, state}
    closedAt: new Map(), // graph -> when its socket closed
    graphsFetchedAt: 0,
    graphDetails: new Map(), // graph -> GET graphs/{name} answer
    graphStamp: "",
    runs: [],
    keys: null,
    timer: null,
    polling: false,
    rendered: new Map(), // container id -> JSON of what it shows
  };

  function emptyData() {
    return { packages: null, reactors: null, graphs: null, accumulators: null, topology: null,
             topologyError: null };
  }

  // ------------------------------------------------------------------ small helpers

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), guarded(value));
      else el.setAttribute(name, value === true ? "" : String(value));
    }
  }

  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  // every handler's failure is reported on the page, never left as an unhandled rejection
  function guarded(fn) {
    return (...args) => {
      try {
        const out = fn(...args);
        if (out && typeof out.catch === "function") out.catch(report);
      } catch (err) {
        report(err);
      }
    };
  }

  function report(err) {
    status(`Error: ${err && err.message ? err.message : err}`, true);
  }

  function status(text, isError = false) {
    const el = $("status");
    el.textContent = text;
    el.classList.toggle("error", isError);
  }

  const enc = encodeURIComponent;
  const tenantPath = (rest) => `v1/tenants/${enc(S.tenant)}/${rest}`;
  const rank = () => (S.who ? (S.who.is_admin ? 3 : ROLE_RANK[S.who.role] || 0) : 0);
  const may = (role) => rank() >= ROLE_RANK[role];

  // every list in one page: the API pages lists (100 by default, 1000 at most)
  const LIST = "?limit=1000";

  function fmtTime(value) {
    if (value === null || value === undefined || value === "") return "—";
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return date.toLocaleString(undefined, { hour12: false });
  }

  function fmtSeconds(sec) {
    if (typeof sec !== "number") return "—";
    if (sec < 1e-3) return `${(sec * 1e6).toFixed(0)} µs`;
    if (sec < 1) return `${(sec * 1e3).toFixed(2)} ms`;
    return `${sec.toFixed(2)} s`;
  }

  function table(headers, rows, empty) {
    if (!rows.length) return h("p", { class: "empty" }, empty);
    return h("div", { class: "table-wrap" },
      h("table", {},
        h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, rows)));
  }

  // replace a container's content only when what it shows changed, keeping the focus on the
  // control with the same data-focus key (polling must not steal a keyboard user's place)
  function show(id, model, build) {
    const json = JSON.stringify(model);
    if (S.rendered.get(id) === json) return;
    S.rendered.set(id, json);
    const box = $(id);
    const active = document.activeElement;
    const focusKey = active && box.contains(active) ? active.dataset.focus : undefined;
    box.replaceChildren(build());
    if (focusKey) {
      const again = box.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  // ------------------------------------------------------------------ the API

  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.error ? body.error : `HTTP ${status}`);
      this.status = status;
      this.code = body && body.code;
      this.details = body && body.details;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${S.key}` };
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    const res = await fetch(BASE + path, { method, headers, body: payload, cache: "no-store" });
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { error: text };
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // The page's changes and its polls take turns: a poll never runs while an upload or a
  // delete is in flight, so it never reads a tenant half-way through a change (a delete of
  // the last package stops the tenant's worker, and a read racing it is refused).
  let turn = Promise.resolve();
  function exclusive(fn) {
    const run = turn.then(fn, fn);
    turn = run.catch(() => {});
    return run;
  }
  const act = (method, path, body) => exclusive(() => api(method, path, body));

  // ------------------------------------------------------------------ sign-in

  async function signIn(key) {
    S.key = key;
    const who = await api("GET", "v1/auth/whoami");
    S.who = who;
    sessionStorage.setItem(KEY_SLOT, key);
    if (who.is_admin) {
      S.tenants = (await api("GET", "v1/tenants" + LIST)).items;
      const saved = sessionStorage.getItem(TENANT_SLOT);
      const names = S.tenants.map((t) => t.name);
      S.tenant = names.includes(saved) ? saved : names[0] || null;
    } else {
      S.tenant = who.tenant;
      S.tenants = [{ name: who.tenant, description: "", created_at: null }];
    }
    $("signin").hidden = true;
    $("nav").hidden = false;
    $("session").hidden = false;
    $("who").textContent = who.is_admin ? "platform admin" : `${who.role} key`;
    renderTenantChoice();
    applyRole();
    if (!location.hash || !VIEWS.includes(location.hash.slice(1))) {
      history.replaceState(null, "", "#binding");
    }
    route(false);
    await refresh();
    S.timer = setInterval(guarded(refresh), POLL_MS);
  }

  function signOut() {
    sessionStorage.removeItem(KEY_SLOT);
    sessionStorage.removeItem(TENANT_SLOT);
    clearInterval(S.timer);
    closeSockets();
    Object.assign(S, { key: null, who: null, tenant: null, tenants: [], timer: null, keys: null,
                       data: emptyData(), runs: [] });
    S.rates.clear();
    S.graphDetails.clear();
    S.rendered.clear();
    for (const id of ["packages-body", "reactors-body", "accumulators-body", "graphs-body",
                      "binding-graph", "binding-text", "live-runs", "keys-body", "tenants-body",
                      "key-created", "package-result", "reactor-result", "push-result"]) {
      $(id).replaceChildren();
    }
    $("delete-refused").hidden = true;
    for (const el of document.querySelectorAll(".view")) el.hidden = true;
    $("nav").hidden = true;
    $("session").hidden = true;
    $("signin").hidden = false;
    $("api-key").value = "";
    $("api-key").focus();
    status("Signed out.");
  }

  function applyRole() {
    for (const el of document.querySelectorAll("[data-min-role]")) {
      const ok = may(el.dataset.minRole);
      el.hidden = !ok;
      const item = el.closest("li");
      if (item && el.tagName === "A") item.hidden = !ok;
    }
    for (const el of document.querySelectorAll("[data-platform-only]")) {
      el.hidden = !(S.who && S.who.is_admin);
    }
  }

  function renderTenantChoice() {
    const admin = S.who && S.who.is_admin;
    $("tenant-choice").hidden = !admin;
    $("tenant-fixed").textContent = admin ? "" : `tenant ${S.tenant}`;
    if (!admin) return;
    const picker = $("tenant-picker");
    const names = S.tenants.map((t) => t.name);
    // rebuilt only when the list changed: polling must not close a select the user has open
    if (JSON.stringify(names) !== JSON.stringify([...picker.options].map((o) => o.value))) {
      picker.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
      if (!names.length) picker.append(h("option", { value: "" }, "(no tenants)"));
    }
    if (picker.value !== (S.tenant || "")) picker.value = S.tenant || "";
  }

  function chooseTenant(name) {
    if (name === S.tenant) return;
    S.tenant = name || null;
    sessionStorage.setItem(TENANT_SLOT, name);
    closeSockets();
    S.data = emptyData();
    S.runs = [];
    S.keys = null;
    S.rates.clear();
    S.graphDetails.clear();
    S.rendered.clear();
    $("live-runs").replaceChildren();
    $("delete-refused").hidden = true;
    renderTenantChoice();
    return refresh();
  }

  // ------------------------------------------------------------------ views and routing

  function currentView() {
    const name = location.hash.slice(1);
    return VIEWS.includes(name) ? name : "binding";
  }

  function route(moveFocus) {
    if (!S.who) return;
    let view = currentView();
    if (view === "keys" && !may("admin")) view = "binding";
    for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
    for (const link of document.querySelectorAll("nav a")) {
      if (link.dataset.view === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (moveFocus) $(`h-${view}`).focus();
    render();
    if (view === "keys") guarded(loadKeys)();
    if (view === "graphs") guarded(loadGraphDetails)();
  }

  async function refresh() {
    if (!S.who || S.polling) return;
    S.polling = true;
    try {
      await exclusive(poll);
    } finally {
      S.polling = false;
    }
  }

  async function poll() {
    if (!S.who) return;
    if (S.who.is_admin) {
      S.tenants = (await api("GET", "v1/tenants" + LIST)).items;
      if (S.tenant && !S.tenants.some((t) => t.name === S.tenant)) S.tenant = null;
      if (!S.tenant && S.tenants.length) S.tenant = S.tenants[0].name;
      renderTenantChoice();
    }
    if (S.tenant) {
      const started = performance.now();
      const [packages, reactors, graphs, accumulators] = await Promise.all([
        api("GET", tenantPath("packages") + LIST),
        api("GET", tenantPath("reactors") + LIST),
        api("GET", tenantPath("graphs") + LIST),
        api("GET", tenantPath("accumulators") + LIST),
      ]);
      S.graphsFetchedAt = started;
      Object.assign(S.data, {
        packages: packages.items, reactors: reactors.items, graphs: graphs.items,
        accumulators: accumulators.items,
      });
      try {
        S.data.topology = await api("GET", tenantPath("topology"));
        S.data.topologyError = null;
      } catch (err) {
        S.data.topology = null;
        S.data.topologyError = err.message;
      }
      sampleFires(reactors.items);
      syncSockets();
      if (currentView() === "graphs") await loadGraphDetails();
    }
    render();
    status(`Updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}.`);
  }

  function render() {
    if (!S.who) return;
    renderTenants();
    if (!S.tenant) return;
    renderPackages();
    renderReactors();
    renderAccumulators();
    renderGraphs();
    renderBinding();
    renderLiveStatus();
    renderKeys();
  }

  // ------------------------------------------------------------------ tenants

  function renderTenants() {
    const rows = S.tenants.map((t) => ({ ...t, current: t.name === S.tenant }));
    show("tenants-body", rows, () => table(
      ["Tenant", "Description", "Created", ""],
      rows.map((t) => h("tr", { "data-tenant": t.name },
        h("td", {}, t.name, t.current ? " (shown)" : ""),
        h("td", {}, t.description || ""),
        h("td", {}, fmtTime(t.created_at)),
        h("td", {}, S.who.is_admin && !t.current
          ? h("button", { type: "button", class: "secondary", "data-focus": `tenant:${t.name}`,
                          onclick: () => chooseTenant(t.name) }, `Show ${t.name}`)
          : ""))),
      "No tenants yet."));
  }

  async function createTenant(event) {
    event.preventDefault();
    const name = $("tenant-new").value.trim();
    await api("POST", "v1/tenants", { name });
    $("tenant-result").textContent = `Created tenant ${name}.`;
    $("tenant-new").value = "";
    S.tenants = (await api("GET", "v1/tenants" + LIST)).items;
    await chooseTenant(name);
  }

  // ------------------------------------------------------------------ packages

  function renderPackages() {
    const items = S.data.packages;
    if (!items) return;
    const canDelete = may("write");
    show("packages-body", { items, canDelete }, () => table(
      ["Package", "Version", "Status", "Digest", "Signer", "Replicas", "Declares", ""],
      items.map((p) => h("tr", { "data-package": p.name, "data-status": p.status },
        h("td", {}, h("strong", {}, p.name), p.description ? h("span", { class: "reason" }, p.description) : ""),
        h("td", {}, p.version),
        h("td", {}, h("span", { class: `status status-${p.status}` }, p.status),
          p.reason ? h("span", { class: "reason" }, p.reason) : ""),
        h("td", {}, h("code", { title: p.sha256 }, (p.sha256 || "").slice(0, 12))),
        h("td", {}, p.signer ? h("code", {}, p.signer) : h("span", { class: "reason" }, "unsigned")),
        h("td", {}, p.summary || ""),
        h("td", {}, [...(p.reactors || []).map((r) => `reactor ${r}`),
                     ...(p.graphs || []).map((g) => `graph ${g}`)].join(", ")),
        h("td", {}, canDelete
          ? h("button", { type: "button", class: "danger", "data-focus": `delete:${p.id}`,
                          "data-action": "delete", "data-package": p.name,
                          onclick: () => deletePackage(p) }, "Delete")
          : ""))),
      "No packages stored in this tenant."));
  }

  async function upload(file) {
    if (!file) {
      $("package-result").textContent = "Choose a .cloacina archive first.";
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    $("package-result").textContent = `Uploading ${file.name}…`;
    try {
      const p = await act("POST", tenantPath("packages"), form);
      $("package-result").replaceChildren(h("p", { class: "note" },
        `Uploaded ${p.name} ${p.version}: `,
        h("span", { class: `status status-${p.status}` }, p.status),
        p.reason ? ` — ${p.reason}` : "", p.summary ? ` (${p.summary})` : ""));
    } catch (err) {
      $("package-result").replaceChildren(h("p", { class: "note error" },
        `Upload of ${file.name} refused: ${err.message}`));
    }
    $("upload-file").value = "";
    await refresh();
  }

  function askConfirm(text, okLabel) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    return new Promise((resolve) => {
      const done = (answer) => {
        dialog.removeEventListener("cancel", onCancel);
        $("confirm-ok").onclick = null;
        $("confirm-cancel").onclick = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      const onCancel = (ev) => { ev.preventDefault(); done(false); };
      dialog.addEventListener("cancel", onCancel);
      $("confirm-ok").onclick = () => done(true);
      $("confirm-cancel").onclick = () => done(false);
      dialog.showModal();
    });
  }

  async function deletePackage(p) {
    if (!(await askConfirm(`Delete package ${p.name} ${p.version}?`, `Delete ${p.name}`))) return;
    $("delete-refused").hidden = true;
    $("package-result").replaceChildren();
    try {
      const done = await act("DELETE", tenantPath(`packages/${enc(p.id)}`));
      deleted([done]);
    } catch (err) {
      if (err.code !== "bound_subscribers") throw err;
      refused(p, err);
    }
    await refresh();
  }

  function deleted(answers) {
    $("package-result").replaceChildren(...answers.map((d) => h("p", { class: "note" },
      `Deleted ${d.name} ${d.version}`,
      d.messages && d.messages.length ? `: ${d.messages.join("; ")}` : ".")));
  }

  function refused(p, err) {
    const details = err.details || {};
    const blockers = details.blocked_by || [];
    const order = details.safe_order || [];
    const box = $("delete-refused");
    box.replaceChildren(
      h("p", {}, `Deleting ${p.name} was refused:`),
      h("p", { class: "guard", "data-guard": "" }, err.message),
      blockers.length ? h("h3", {}, "Blocked by") : "",
      blockers.length ? h("ul", { class: "blockers" }, blockers.map((b) =>
        h("li", { "data-blocker-package": b.package, "data-blocker-graph": b.graph },
          `graph ${b.graph} of package ${b.package}, bound to reactor ${b.reactor}`))) : "",
      order.length ? h("h3", {}, "Safe order") : "",
      order.length ? h("ol", { class: "safe-order" }, order.map((n) => h("li", {}, n))) : "",
      order.length ? h("button", { type: "button", class: "danger", id: "delete-safe-order",
                                  onclick: () => deleteInOrder(order) },
                       `Delete in this order: ${order.join(", then ")}`) : "");
    box.hidden = false;
  }

  async function deleteInOrder(order) {
    if (!(await askConfirm(`Delete ${order.join(", then ")}?`, "Delete in this order"))) return;
    const answers = [];
    try {
      for (const name of order) answers.push(await act("DELETE", tenantPath(`packages/${enc(name)}`)));
      $("delete-refused").hidden = true;
      deleted(answers);
    } catch (err) {
      deleted(answers);
      $("package-result").append(h("p", { class: "note error" }, `Stopped: ${err.message}`));
    }
    await refresh();
  }

  // ------------------------------------------------------------------ reactors

  function sampleFires(reactors) {
    const now = performance.now();
    for (const r of reactors) {
      const samples = S.rates.get(r.name) || [];
      if (samples.length && r.fires < samples[samples.length - 1].fires) samples.length = 0;
      samples.push({ t: now, fires: r.fires });
      while (samples.length > 2 && now - samples[0].t > RATE_WINDOW_MS) samples.shift();
      S.rates.set(r.name, samples);
    }
  }

  function fireRate(name) {
    const samples = S.rates.get(name) || [];
    if (samples.length < 2) return "—";
    const first = samples[0];
    const last = samples[samples.length - 1];
    const seconds = (last.t - first.t) / 1000;
    return seconds > 0 ? `${((last.fires - first.fires) / seconds).toFixed(2)}/s` : "—";
  }

  function renderReactors() {
    const items = S.data.reactors;
    if (!items) return;
    const canAct = may("write");
    const model = items.map((r) => ({ ...r, rate: fireRate(r.name) }));
    show("reactors-body", { model, canAct }, () => table(
      ["Reactor", "Package", "Accumulators", "Criteria", "Input strategy", "State", "Fires",
       "Fire rate", "Last fire", "Subscribers", ""],
      model.map((r) => h("tr", { "data-reactor": r.name, "data-state": r.state },
        h("td", {}, h("strong", {}, r.name)),
        h("td", {}, r.package),
        h("td", {}, (r.accumulators || []).join(", ")),
        h("td", {}, r.criteria, r.criteria_accumulators && r.criteria_accumulators.length
          ? ` (${r.criteria_accumulators.join(", ")})` : ""),
        h("td", {}, r.input_strategy),
        h("td", {}, r.state),
        h("td", { "data-fires": r.fires }, r.fires),
        h("td", {}, r.rate),
        h("td", {}, fmtTime(r.last_fire_at)),
        h("td", {}, (r.subscribers || []).join(", ") || "none"),
        h("td", {}, canAct ? h("span", { class: "actions" },
          r.state === "paused"
            ? h("button", { type: "button", class: "secondary", "data-focus": `toggle:${r.name}`,
                            "data-action": "resume", onclick: () => reactorAction(r.name, "resume") },
                "Resume")
            : h("button", { type: "button", class: "secondary", "data-focus": `toggle:${r.name}`,
                            "data-action": "pause", onclick: () => reactorAction(r.name, "pause") },
                "Pause"),
          h("button", { type: "button", "data-focus": `fire:${r.name}`, "data-action": "fire",
                        onclick: () => reactorAction(r.name, "fire") }, "Force fire")) : ""))),
      "No reactors loaded."));
  }

  async function reactorAction(name, action) {
    const out = $("reactor-result");
    try {
      const reply = await act("POST", tenantPath(`reactors/${enc(name)}/${action}`),
                              action === "fire" ? {} : undefined);
      const text = action === "fire"
        ? `Fired ${name}: ${(reply.runs || []).length} run(s).`
        : action === "pause" ? `Paused ${name}.`
        : `Resumed ${name}${typeof reply.fires === "number" ? ` (${reply.fires} fire(s) on resume)` : ""}.`;
      out.replaceChildren(h("p", { class: "note" }, text));
    } catch (err) {
      out.replaceChildren(h("p", { class: "note error" }, `${action} ${name}: ${err.message}`));
    }
    await refresh();
  }

  function renderAccumulators() {
    const items = S.data.accumulators;
    if (!items) return;
    show("accumulators-body", items, () => table(
      ["Accumulator", "Reactor", "Package", "Kind", "Events", "Errors", "Last event", "Last error"],
      items.map((a) => h("tr", { "data-accumulator": a.name },
        h("td", {}, h("strong", {}, a.name)),
        h("td", {}, a.reactor),
        h("td", {}, a.package),
        h("td", {}, a.kind, a.subject ? ` (${a.subject})` : ""),
        h("td", {}, a.events_total),
        h("td", {}, a.errors_total),
        h("td", {}, fmtTime(a.last_event_at)),
        h("td", {}, a.last_error || ""))),
      "No accumulators."));
    const select = $("push-acc");
    const names = items.map((a) => a.name);
    const have = [...select.options].map((o) => o.value);
    if (JSON.stringify(names) !== JSON.stringify(have)) {
      const keep = select.value;
      select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
      if (names.includes(keep)) select.value = keep;
    }
  }

  async function pushEvent(event) {
    event.preventDefault();
    const out = $("push-result");
    const name = $("push-acc").value;
    const text = $("push-event").value;
    try {
      JSON.parse(text);
    } catch (err) {
      out.textContent = `Not JSON: ${err.message}`;
      out.classList.add("error");
      return;
    }
    out.classList.remove("error");
    if (!name) {
      out.textContent = "No accumulator to push to.";
      return;
    }
    try {
      const reply = await act("POST", tenantPath(`accumulators/${enc(name)}/events`), text);
      out.textContent = reply.fires === null || reply.fires === undefined
        ? `Pushed to ${name} (sequence ${reply.sequence}).`
        : `Pushed to ${name}: ${reply.fires} fire(s).`;
    } catch (err) {
      out.textContent = `Push to ${name} refused: ${err.message}`;
      out.classList.add("error");
    }
    await refresh();
  }

  // ------------------------------------------------------------------ graphs

  async function loadGraphDetails() {
    if (!S.tenant || !S.data.graphs) return;
    const names = S.data.graphs.map((g) => g.name);
    // a new version of a package may change its graphs: look again when the packages change
    const stamp = JSON.stringify((S.data.packages || []).map((p) => [p.id, p.status]));
    if (stamp !== S.graphStamp) S.graphDetails.clear();
    S.graphStamp = stamp;
    await Promise.all(names.filter((n) => !S.graphDetails.has(n)).map(async (n) => {
      try {
        S.graphDetails.set(n, await api("GET", tenantPath(`graphs/${enc(n)}`)));
      } catch (err) {
        if (err.status !== 404) throw err;
      }
    }));
    renderGraphs();
  }

  function renderGraphs() {
    const items = S.data.graphs;
    if (!items) return;
    const model = items.map((g) => ({ ...g, topology: (S.graphDetails.get(g.name) || {}).topology }));
    show("graphs-body", model, () => model.length ? h("div", {}, model.map((g) =>
      h("article", { class: "graph-card", "data-graph": g.name },
        h("h3", {}, g.name),
        h("p", {}, `package ${g.package} · trigger ${g.reactor || "none"} · runs ok ${g.runs_ok}, failed ${g.runs_failed}`,
          g.last_run ? ` · last run ${fmtTime(g.last_run.started_at)} in ${fmtSeconds(g.last_run.duration_seconds)}` : ""),
        g.topology
          ? table(["Node", "Inputs", "Next", "Routes"], g.topology.nodes.map((n) =>
              h("tr", { "data-node": n.name },
                h("td", {}, h("code", {}, n.name)),
                h("td", {}, (n.inputs || []).join(", ")),
                h("td", {}, (n.next || []).join(", ")),
                h("td", {}, Object.entries(n.routes || {}).map(([k, v]) => `${k} → ${v}`).join(", ")))),
            "No nodes.")
          : h("p", { class: "hint" }, `nodes: ${(g.nodes || []).join(", ")}`),
        g.topology && g.topology.fused ? h("p", { class: "hint" }, "Runs as one fused call (no per-node times).") : "")))
      : h("p", { class: "empty" }, "No graphs loaded."));
  }

  // ------------------------------------------------------------------ the binding graph

  function textWidth(text, px) {
    return Math.ceil(String(text).length * px * 0.6);
  }

  function renderBinding() {
    const topo = S.data.topology;
    if (!topo) {
      show("binding-graph", { error: S.data.topologyError }, () =>
        h("p", { class: "empty" }, S.data.topologyError
          ? `The topology is not available: ${S.data.topologyError}` : "Loading…"));
      return;
    }
    show("binding-graph", topo, () => drawBinding(topo));
    show("binding-text", topo.edges, () => table(["From", "To", "Kind", ""],
      topo.edges.map((e) => h("tr", {},
        h("td", {}, e.source), h("td", {}, e.target), h("td", {}, e.kind),
        h("td", {}, [e.cross_package ? "cross-package" : "", e.resolved === false ? "unresolved" : ""]
          .filter(Boolean).join(", ")))),
      "No edges."));
    const order = topo.safe_delete_order || [];
    $("safe-order").textContent = order.length
      ? `Safe delete order: ${order.join(" → ")}` : "";
  }

  function drawBinding(topo) {
    if (typeof dagre === "undefined") return h("p", { class: "error" }, "The layout library did not load.");
    if (!topo.nodes.length) return h("p", { class: "empty" }, "Nothing is stored in this tenant.");
    const g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 60, marginx: 12, marginy: 12 });
    g.setDefaultEdgeLabel(() => ({}));
    const byId = new Map(topo.nodes.map((n) => [n.id, n]));
    for (const n of topo.nodes) {
      if (n.kind === "package") {
        g.setNode(n.id, { data: n, width: textWidth(n.label, 13) + 24, height: 40 });
        continue;
      }
      const label = n.missing ? `${n.label} (missing)` : n.label;
      const width = Math.max(textWidth(label, 13), textWidth(n.kind, 10)) + 26;
      g.setNode(n.id, { data: n, label, width, height: 42 });
    }
    for (const n of topo.nodes) {
      if (n.kind !== "package" && n.package && byId.has(`package:${n.package}`)) {
        g.setParent(n.id, `package:${n.package}`);
      }
    }
    for (const e of topo.edges) {
      if (!byId.has(e.source) || !byId.has(e.target)) continue;
      g.setEdge(e.source, e.target, { data: e });
    }
    dagre.layout(g);

    const layout = g.graph();
    const top = 22; // room above the clusters for their labels
    // a package's box is at least as wide as its label (dagre sizes it by its children)
    const clusterLabel = (n) => (n.status && n.status !== "loaded" ? `${n.label} (${n.status})` : n.label);
    let right = layout.width;
    for (const id of g.nodes()) {
      const box = g.node(id);
      if (box.data && box.data.kind === "package") {
        box.drawnWidth = Math.max(box.width, textWidth(clusterLabel(box.data), 13) + 20);
        right = Math.max(right, box.x - box.width / 2 + box.drawnWidth + 12);
      }
    }
    const width = Math.ceil(right);
    const height = Math.ceil(layout.height) + top;
    const cross = topo.edges.filter((e) => e.cross_package).length;
    const missing = topo.nodes.filter((n) => n.missing).length;
    const svg = s("svg", {
      xmlns: SVG_NS, viewBox: `0 ${-top} ${width} ${height}`, width, height,
      role: "img", "aria-labelledby": "binding-title binding-desc", "data-tenant": topo.tenant,
    },
      s("title", { id: "binding-title" }, `Binding graph of tenant ${topo.tenant}`),
      s("desc", { id: "binding-desc" },
        `${topo.packages.length} package(s), ${topo.nodes.length - topo.packages.length} ` +
        `reactor(s), accumulator(s) and graph(s), ${topo.edges.length} edge(s) of which ` +
        `${cross} cross package boundaries; ${missing} missing reactor(s).`),
      s("defs", {},
        marker("arrow", "arrow"), marker("arrow-cross", "arrow-cross"),
        marker("arrow-unresolved", "arrow-unresolved")));

    const clusters = s("g", { class: "clusters" });
    const edges = s("g", { class: "edges" });
    const nodes = s("g", { class: "nodes" });
    svg.append(clusters, edges, nodes);

    for (const id of g.nodes()) {
      const box = g.node(id);
      const n = box.data;
      if (!n) continue;
      const x = box.x - box.width / 2;
      const y = box.y - box.height / 2;
      if (n.kind === "package") {
        clusters.append(s("g", { class: `cluster status-${n.status || "loaded"}`, "data-node-id": n.id,
                                 "data-node-kind": "package", "data-package": n.package || n.label,
                                 "data-status": n.status },
          s("rect", { x, y: y - 18, width: box.drawnWidth, height: box.height + 18, rx: 10 }),
          s("text", { x: x + 10, y: y - 2 }, clusterLabel(n))));
        continue;
      }
      const classes = ["node", n.kind, n.missing ? "missing" : ""].filter(Boolean).join(" ");
      nodes.append(s("g", { class: classes, "data-node-id": n.id, "data-node-kind": n.kind,
                            "data-package": n.package || "", "data-missing": n.missing ? "true" : "false",
                            transform: `translate(${x},${y})` },
        s("title", {}, nodeTitle(n)),
        s("rect", { width: box.width, height: box.height, rx: n.kind === "accumulator" ? 16 : 5 }),
        s("text", { class: "kind", x: 12, y: 15 }, n.kind),
        s("text", { x: 12, y: 32 }, box.label)));
    }

    for (const ref of g.edges()) {
      const e = g.edge(ref).data;
      const points = g.edge(ref).points || [];
      const classes = ["edge", e.kind, e.cross_package ? "cross" : "", e.resolved === false ? "unresolved" : ""];
      const arrow = e.resolved === false ? "arrow-unresolved" : e.cross_package ? "arrow-cross" : "arrow";
      edges.append(s("path", {
        class: classes.filter(Boolean).join(" "), d: pathOf(points), "marker-end": `url(#${arrow})`,
        "data-edge-kind": e.kind, "data-cross-package": e.cross_package ? "true" : "false",
        "data-resolved": e.resolved === false ? "false" : "true",
        "data-source": e.source, "data-target": e.target,
      }, s("title", {}, `${e.source} ${e.kind} ${e.target}` +
                        (e.cross_package ? " (cross-package)" : "") +
                        (e.resolved === false ? " (unresolved)" : ""))));
    }
    return svg;
  }

  function nodeTitle(n) {
    if (n.kind === "reactor") {
      return n.missing ? `reactor ${n.label}: no stored package declares it`
        : `reactor ${n.label} (${n.criteria}, ${n.input_strategy}) in ${n.package}`;
    }
    if (n.kind === "accumulator") return `accumulator ${n.label} (${n.accumulator_kind}) of ${n.reactor}`;
    if (n.kind === "graph") return `graph ${n.label} in ${n.package}, trigger ${n.trigger}; nodes ${(n.nodes || []).join(", ")}`;
    return n.label;
  }

  function marker(id, cls) {
    return s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
                         orient: "auto-start-reverse", markerUnits: "userSpaceOnUse" },
      s("path", { class: cls, d: "M0,0 L10,5 L0,10 z" }));
  }

  function pathOf(points) {
    if (!points.length) return "";
    const p = points.map((q) => ({ x: +q.x.toFixed(1), y: +q.y.toFixed(1) }));
    let d = `M${p[0].x},${p[0].y}`;
    for (let i = 1; i < p.length - 1; i += 1) {
      const mid = { x: (p[i].x + p[i + 1].x) / 2, y: (p[i].y + p[i + 1].y) / 2 };
      d += ` Q${p[i].x},${p[i].y} ${mid.x},${mid.y}`;
    }
    const last = p[p.length - 1];
    return `${d} L${last.x},${last.y}`;
  }

  // ------------------------------------------------------------------ live fires

  function syncSockets() {
    const names = new Set((S.data.graphs || []).map((g) => g.name));
    for (const [name, sock] of S.sockets) {
      if (!names.has(name)) {
        S.sockets.delete(name);
        sock.ws.close(1000, "graph gone");
      }
    }
    for (const name of names) {
      if (S.sockets.has(name)) continue;
      // reopen a closed socket only on a graph list fetched after it closed
      const closed = S.closedAt.get(name);
      if (closed !== undefined && S.graphsFetchedAt < closed + 500) continue;
      guarded(openSocket)(name);
    }
  }

  async function openSocket(name) {
    const entry = { ws: null, state: "connecting" };
    S.sockets.set(name, entry);
    const tenant = S.tenant;
    let ticket;
    try {
      ticket = (await api("POST", "v1/auth/ws-ticket")).ticket;
    } catch (err) {
      S.sockets.delete(name);
      throw err;
    }
    if (S.sockets.get(name) !== entry || S.tenant !== tenant) return; // signed out or moved on
    let url = `${WS_BASE}v1/ws/graph/${enc(name)}/outputs?token=${enc(ticket)}`;
    if (S.who.is_admin) url += `&tenant=${enc(tenant)}`;
    const ws = new WebSocket(url);
    entry.ws = ws;
    ws.onopen = () => { entry.state = "open"; renderLiveStatus(); };
    ws.onmessage = (msg) => {
      try {
        addRun(JSON.parse(msg.data));
      } catch (err) {
        report(err);
      }
    };
    ws.onclose = () => {
      entry.state = "closed";
      if (S.sockets.get(name) === entry) {
        S.sockets.delete(name);
        S.closedAt.set(name, performance.now());
      }
      renderLiveStatus();
    };
  }

  function closeSockets() {
    for (const sock of S.sockets.values()) if (sock.ws) sock.ws.close(1000, "done");
    S.sockets.clear();
    S.closedAt.clear();
  }

  function renderLiveStatus() {
    const parts = [...S.sockets.entries()].map(([name, sock]) => `${name} (${sock.state})`);
    $("live-status").textContent = parts.length
      ? `Watching ${parts.join(", ")}; newest first, the last ${RUNS_CAP} runs.`
      : "No graph to watch.";
  }

  function addRun(run) {
    S.runs.unshift(run);
    S.runs.length = Math.min(S.runs.length, RUNS_CAP);
    const list = $("live-runs");
    list.prepend(runItem(run));
    while (list.children.length > RUNS_CAP) list.lastElementChild.remove();
  }

  function runItem(run) {
    const timings = Object.entries(run.node_seconds || {});
    const longest = Math.max(...timings.map(([, sec]) => sec), 1e-9);
    return h("li", { class: run.error ? "failed" : "ok", "data-graph": run.graph,
                     "data-reactor": run.reactor || "", "data-fire": run.fire },
      h("div", { class: "head" },
        h("strong", {}, run.graph),
        h("span", {}, `fire #${run.fire}`),
        h("span", {}, run.reactor ? `by ${run.reactor}` : "invoked"),
        h("span", {}, fmtTime(run.started_at)),
        h("span", { "data-duration": run.duration_seconds }, `took ${fmtSeconds(run.duration_seconds)}`)),
      run.error
        ? h("pre", { class: "error" }, run.error)
        : h("pre", { class: "outputs" }, JSON.stringify(run.outputs, null, 1)),
      timings.length ? h("div", { class: "timings", "aria-label": "node timings" },
        timings.map(([node, sec]) => [
          h("code", {}, node),
          bar((100 * sec) / longest),
          h("span", {}, fmtSeconds(sec)),
        ])) : "");
  }

  // sized through the CSSOM rather than a style attribute (the page's CSP allows none)
  function bar(percent) {
    const el = h("div", { class: "bar" });
    el.style.width = `${Math.max(1, Math.round(percent))}%`;
    return el;
  }

  // ------------------------------------------------------------------ keys

  async function loadKeys() {
    if (!S.tenant || !may("admin")) return;
    S.keys = (await api("GET", tenantPath("keys") + LIST)).items;
    renderKeys();
  }

  function renderKeys() {
    if (!S.keys) return;
    const keys = S.keys;
    show("keys-body", keys, () => table(
      ["Name", "Role", "Prefix", "Created", "State", ""],
      keys.map((k) => h("tr", { "data-key-id": k.id },
        h("td", {}, k.name), h("td", {}, k.role), h("td", {}, h("code", {}, k.prefix)),
        h("td", {}, fmtTime(k.created_at)), h("td", {}, k.revoked ? "revoked" : "active"),
        h("td", {}, k.revoked || (S.who && k.id === S.who.key_id) ? ""
          : h("button", { type: "button", class: "danger", "data-focus": `revoke:${k.id}`,
                          onclick: () => revokeKey(k) }, "Revoke")))),
      "No keys in this tenant."));
  }

  async function createKey(event) {
    event.preventDefault();
    const name = $("key-name").value.trim();
    const role = $("key-role").value;
    const k = await act("POST", tenantPath("keys"), { name, role });
    $("key-created").replaceChildren(h("div", { class: "note" },
      h("p", {}, `Key ${k.name} (${k.role}) created. Copy it now: it is shown only this once.`),
      h("code", { class: "plaintext", "data-plaintext-key": "" }, k.key)));
    $("key-name").value = "";
    await loadKeys();
  }

  async function revokeKey(k) {
    if (!(await askConfirm(`Revoke key ${k.name} (${k.prefix}…)?`, "Revoke"))) return;
    await act("DELETE", tenantPath(`keys/${enc(k.id)}`));
    $("key-created").replaceChildren(h("p", { class: "note" }, `Revoked key ${k.name}.`));
    await loadKeys();
  }

  // ------------------------------------------------------------------ wiring

  function wire() {
    $("signin-form").addEventListener("submit", guarded(async (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      $("signin-error").textContent = "";
      try {
        await signIn(key);
        $("api-key").value = "";
      } catch (err) {
        S.key = null;
        S.who = null;
        sessionStorage.removeItem(KEY_SLOT);
        $("signin-error").textContent = err.status === 401
          ? "That key is not valid (unknown, revoked or mistyped)." : `Sign-in failed: ${err.message}`;
      }
    }));
    $("sign-out").addEventListener("click", guarded(signOut));
    $("tenant-picker").addEventListener("change", guarded((ev) => chooseTenant(ev.target.value)));
    $("tenant-form").addEventListener("submit", guarded(createTenant));
    $("upload-form").addEventListener("submit", guarded((event) => {
      event.preventDefault();
      return upload($("upload-file").files[0]);
    }));
    const drop = $("drop");
    drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", guarded((ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
      const file = ev.dataTransfer && ev.dataTransfer.files[0];
      return upload(file);
    }));
    $("push-form").addEventListener("submit", guarded(pushEvent));
    $("key-form").addEventListener("submit", guarded(createKey));
    window.addEventListener("hashchange", guarded(() => route(true)));

    const saved = sessionStorage.getItem(KEY_SLOT);
    if (saved) {
      signIn(saved).catch(() => {
        sessionStorage.removeItem(KEY_SLOT);
        S.key = null;
        S.who = null;
        $("signin-error").textContent = "The saved key no longer works; sign in again.";
      });
    } else {
      $("api-key").focus();
    }
  }

  wire();
})();
