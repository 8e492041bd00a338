// Advanced settings → Manage clients (admins): the live table "Clients", "Add user",
// and per row "Show QR code", "New OTP", "Revoke" and the user's audit trail. The list of
// clients lives in state.js (the live channel's `clients` messages and REST answers).

import { api, apiBlob } from "./api.js";
import { historyDialog } from "./audit.js";
import { clear, download, h, icon, modal } from "./dom.js";
import { qrFileBase } from "./format.js";
import { formatTime, t } from "./i18n.js";
import { errorMessage } from "./messages.js";
import { clientPaths } from "./pathview.js";
import { session } from "./session.js";
import { on, setClients, state } from "./state.js";

const VALIDITY = [
  [15 * 60, "valid.15m"],
  [60 * 60, "valid.1h"],
  [2 * 3600, "valid.2h"],
  [8 * 3600, "valid.8h"],
  [24 * 3600, "valid.24h"],
];
const DEFAULT_VALIDITY = 2 * 3600;

let view = null; // {root, tbody, rows: Map, form, notice}
let groups = [];

on("clients", () => {
  if (view?.root.isConnected) renderRows();
});

function knownGroups() {
  const all = new Set(groups);
  for (const c of state.clients) all.add(c.group);
  if (session.user) all.add(session.user.group);
  return [...all].filter(Boolean);
}

export function clientsView({ onBack }) {
  const notice = h("p", { class: "notice", role: "status" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "clients-table" },
    h("caption", { text: t("clients.table") }),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["col.label", "col.group", "col.status", "col.devices", "col.last_seen", "col.path"].map((k) =>
          h("th", { scope: "col", text: t(k) }),
        ),
        h("th", { scope: "col", text: t("col.actions") }),
      ),
    ),
    tbody,
  );
  const addButton = h(
    "button",
    { type: "button", class: "primary", "aria-expanded": "false" },
    icon("plus"),
    h("span", { text: t("clients.add") }),
  );
  const form = addUserForm(() => toggleForm(false), notice);
  const toggleForm = (open) => {
    form.hidden = !open;
    addButton.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      fillGroups(form);
      form.querySelector("input").focus();
    }
  };
  addButton.addEventListener("click", () => toggleForm(form.hidden));
  const root = h(
    "section",
    { class: "panel", "aria-labelledby": "clients-title" },
    h(
      "div",
      { class: "panel-head" },
      h(
        "button",
        { type: "button", class: "ghost", onclick: onBack },
        icon("back"),
        h("span", { text: t("common.back") }),
      ),
      h("h2", { id: "clients-title", text: t("clients.title") }),
      addButton,
    ),
    form,
    notice,
    h("div", { class: "table-wrap" }, table),
  );
  view = { root, tbody, rows: new Map(), form, notice };
  renderRows();
  api("GET", "/api/clients", { token: session.token })
    .then((data) => {
      if (Array.isArray(data.groups)) groups = data.groups;
      setClients(data.clients);
      fillGroups(form);
    })
    .catch((err) => {
      notice.textContent = errorMessage(err);
    });
  return root;
}

function fillGroups(form) {
  const select = form.elements.group;
  const chosen = select.value;
  clear(select);
  for (const g of knownGroups()) select.append(h("option", { value: g, text: g }));
  if (chosen) select.value = chosen;
}

function addUserForm(close, notice) {
  const fid = (n) => `add-${n}`;
  const row = (label, control, id) => h("div", { class: "field" }, h("label", { for: id, text: label }), control);
  const name = h("input", { id: fid("name"), name: "name", maxlength: "100", autocomplete: "off" });
  const group = h("select", { id: fid("group"), name: "group" });
  const admin = h("input", { id: fid("admin"), name: "admin", type: "checkbox" });
  const validFor = h(
    "select",
    { id: fid("valid"), name: "valid" },
    VALIDITY.map(([s, k]) => h("option", { value: String(s), text: t(k), selected: s === DEFAULT_VALIDITY })),
  );
  const until = h("input", { id: fid("until"), name: "until", type: "datetime-local" });
  const local = h("input", { id: fid("local"), name: "local", type: "checkbox", checked: true });
  const cloud = h("input", { id: fid("cloud"), name: "cloud", type: "checkbox", checked: true });
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "add-user card", hidden: true, "aria-label": t("clients.add") },
    h(
      "div",
      { class: "form-grid" },
      row(t("add.name"), name, fid("name")),
      row(t("add.group"), group, fid("group")),
      row(t("add.valid_for"), validFor, fid("valid")),
      row(t("add.until"), until, fid("until")),
    ),
    h("div", { class: "check-row" }, admin, h("label", { for: fid("admin"), text: t("add.admin") })),
    h(
      "fieldset",
      { class: "paths" },
      h("legend", { text: t("add.paths") }),
      h("span", { class: "check-row" }, local, h("label", { for: fid("local"), text: t("path.local") })),
      h("span", { class: "check-row" }, cloud, h("label", { for: fid("cloud"), text: t("path.cloud") })),
    ),
    h("p", { class: "hint", text: t("add.hint") }),
    error,
    h(
      "div",
      { class: "button-row end" },
      h("button", { type: "button", class: "ghost", text: t("common.cancel"), onclick: () => close() }),
      h("button", { type: "submit", class: "primary", text: t("add.save") }),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const paths = [local.checked ? "local" : null, cloud.checked ? "cloud" : null].filter(Boolean);
    if (!paths.length) {
      error.textContent = t("add.need_path");
      return;
    }
    const body = { group: group.value || null, admin: admin.checked, valid_for_s: Number(validFor.value), paths };
    if (name.value.trim()) body.name = name.value.trim();
    if (until.value) {
      const date = new Date(until.value);
      if (Number.isNaN(date.getTime())) {
        error.textContent = t("add.bad_date");
        return;
      }
      body.account_expires_at = date.toISOString();
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const issued = await api("POST", "/api/clients", { body, token: session.token });
      merge(issued.client);
      notice.textContent = t("add.done", { otp: issued.otp, until: formatTime(issued.otp_expires_at) });
      form.reset();
      validFor.value = String(DEFAULT_VALIDITY);
      close();
    } catch (err) {
      error.textContent = errorMessage(err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function merge(client) {
  const rest = state.clients.filter((c) => c.id !== client.id);
  setClients([client, ...rest]);
}

function renderRows() {
  if (!view) return;
  const { tbody, rows } = view;
  const seen = new Set();
  let previous = null;
  for (const client of state.clients) {
    seen.add(client.id);
    const key = JSON.stringify(client);
    let entry = rows.get(client.id);
    if (!entry || entry.key !== key) {
      const tr = clientRow(client);
      if (entry) entry.tr.replaceWith(tr);
      entry = { tr, key };
      rows.set(client.id, entry);
    }
    const wanted = previous ? previous.nextSibling : tbody.firstChild;
    if (wanted !== entry.tr) {
      if (previous) previous.after(entry.tr);
      else tbody.prepend(entry.tr);
    }
    previous = entry.tr;
  }
  for (const [id, entry] of rows) {
    if (!seen.has(id)) {
      entry.tr.remove();
      rows.delete(id);
    }
  }
  if (!state.clients.length && !tbody.firstChild) {
    tbody.append(h("tr", { class: "empty" }, h("td", { colspan: "7", text: t("clients.empty") })));
  } else {
    for (const tr of [...tbody.querySelectorAll("tr.empty")]) tr.remove();
  }
}

function clientRow(c) {
  const online = c.devices.filter((d) => d.online).length;
  const live = c.devices.filter((d) => !d.revoked);
  const deviceCell = h(
    "td",
    { "data-label": t("col.devices") },
    live.length
      ? h(
          "ul",
          { class: "devices" },
          live.map((d) =>
            h(
              "li",
              { "data-device": d.id },
              h("span", {
                class: `dot ${d.online ? "on" : ""}`,
                role: "img",
                "aria-label": t(d.online ? "status.Online" : "status.Offline"),
                title: t(d.online ? "status.Online" : "status.Offline"),
              }),
              h("span", { class: "device-name", text: d.name }),
              d.path ? h("span", { class: `device-path ${d.online ? "on" : ""}`, text: t(`path.${d.path}`) }) : null,
            ),
          ),
        )
      : h("span", { class: "muted", text: "—" }),
  );
  const actions = h("div", { class: "row-actions" });
  if (c.otp_expires_at)
    actions.append(h("button", { type: "button", class: "small", text: t("row.qr"), onclick: () => showQr(c) }));
  if (c.status !== "Revoked") {
    actions.append(h("button", { type: "button", class: "small", text: t("row.new_otp"), onclick: () => newOtp(c) }));
    actions.append(
      h("button", { type: "button", class: "small danger", text: t("row.revoke"), onclick: () => confirmRevoke(c) }),
    );
  }
  actions.append(
    h("button", { type: "button", class: "small ghost", text: t("row.history"), onclick: () => historyDialog(c) }),
  );
  return h(
    "tr",
    { "data-client": c.id, class: `status-${String(c.status).toLowerCase()}` },
    h(
      "td",
      { "data-label": t("col.label"), class: "label-cell" },
      h("span", { class: c.status === "Pending" ? "otp-label" : "name-label", text: c.label }),
      c.name && c.name !== c.label ? h("span", { class: "sub-name", text: c.name }) : null,
      c.admin ? h("span", { class: "tag", text: t("row.admin") }) : null,
      c.account_expires_at
        ? h("span", { class: "tag guest", text: t("row.until", { date: formatTime(c.account_expires_at) }) })
        : null,
    ),
    h("td", { "data-label": t("col.group"), text: c.group }),
    h(
      "td",
      { "data-label": t("col.status") },
      h("span", { class: `badge status ${String(c.status).toLowerCase()}`, text: t(`status.${c.status}`) }),
      online > 1 ? ` ×${online}` : null,
    ),
    deviceCell,
    h("td", {
      "data-label": t("col.last_seen"),
      text: c.status === "Online" ? t("row.now") : formatTime(c.last_seen) || "—",
    }),
    h("td", {
      "data-label": t("col.path"),
      class: "path-cell",
      text:
        clientPaths(c)
          .map((p) => t(`path.${p}`))
          .join(", ") || "—",
    }),
    h("td", { class: "actions-cell" }, actions),
  );
}

// --- dialogs --------------------------------------------------------------------------

async function showQr(c, issued = null) {
  const label = issued ? issued.otp : c.label;
  const img = h("img", { class: "qr", alt: t("qr.alt", { label }), width: "260", height: "260" });
  const status = h("p", { class: "form-error", role: "alert" });
  const fileBase = qrFileBase(c.name || label);
  const expires = issued ? issued.otp_expires_at : c.otp_expires_at;
  let svgBlob = null;
  const dialog = modal(
    t("qr.title"),
    h(
      "div",
      { class: "qr-sheet" },
      session.info?.name ? h("p", { class: "qr-project", text: t("qr.join", { name: session.info.name }) }) : null,
      h("p", {
        class: "qr-for",
        text:
          c.devices.length && c.name
            ? t("qr.for_user", { name: c.name })
            : c.name
              ? t("qr.for_named", { name: c.name })
              : t("qr.for_new"),
      }),
      img,
      h("p", { class: "otp-big", text: label }),
      expires ? h("p", { class: "muted", text: t("qr.expires", { time: formatTime(expires) }) }) : null,
      h("p", { class: "hint", text: t("qr.hint") }),
    ),
    status,
    h(
      "div",
      { class: "button-row end no-print" },
      h("button", {
        type: "button",
        class: "secondary",
        text: t("qr.png"),
        onclick: () =>
          apiBlob(`/api/clients/${encodeURIComponent(c.id)}/qr.png`, session.token)
            .then((b) => download(b, `${fileBase}.png`))
            .catch((e) => (status.textContent = errorMessage(e))),
      }),
      h("button", {
        type: "button",
        class: "secondary",
        text: t("qr.svg"),
        onclick: () => (svgBlob ? download(svgBlob, `${fileBase}.svg`) : null),
      }),
      h("button", {
        type: "button",
        class: "primary",
        text: t("qr.print"),
        onclick: () => {
          document.body.classList.add("printing");
          window.print();
          document.body.classList.remove("printing");
        },
      }),
    ),
  );
  dialog.classList.add("qr-dialog");
  try {
    svgBlob = await apiBlob(`/api/clients/${encodeURIComponent(c.id)}/qr.svg`, session.token);
    const url = URL.createObjectURL(svgBlob);
    img.src = url;
    dialog.addEventListener("close", () => URL.revokeObjectURL(url));
  } catch (err) {
    status.textContent = errorMessage(err);
  }
}

async function newOtp(c) {
  try {
    const issued = await api("POST", `/api/clients/${encodeURIComponent(c.id)}/otp`, {
      body: {},
      token: session.token,
    });
    merge(issued.client);
    await showQr(issued.client, issued);
  } catch (err) {
    if (view) view.notice.textContent = errorMessage(err);
  }
}

function confirmRevoke(c) {
  const live = c.devices.filter((d) => !d.revoked);
  const name = "revoke-target";
  const choices = [
    h(
      "label",
      { class: "check-row" },
      h("input", { type: "radio", name, value: "", checked: true }),
      h("span", { text: t("revoke.user", { label: c.label }) }),
    ),
  ];
  if (live.length) {
    for (const d of live) {
      choices.push(
        h(
          "label",
          { class: "check-row" },
          h("input", { type: "radio", name, value: d.id }),
          h("span", { text: t("revoke.device", { device: d.name }) }),
        ),
      );
    }
  }
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h(
    "form",
    { class: "revoke-form" },
    h("p", { text: t("revoke.explain") }),
    session.user && session.user.id === c.id ? h("p", { class: "alert", text: t("revoke.self") }) : null,
    h("fieldset", { class: "choices" }, h("legend", { class: "sr-only", text: t("revoke.what") }), choices),
    error,
    h(
      "div",
      { class: "button-row end" },
      h("button", { type: "button", class: "ghost", text: t("common.cancel"), onclick: () => dialog.close() }),
      h("button", { type: "submit", class: "danger", text: t("row.revoke") }),
    ),
  );
  const dialog = modal(t("revoke.title", { label: c.label }), form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = form.elements[name].value || form.querySelector(`input[name=${name}]:checked`)?.value || "";
    const path = target
      ? `/api/clients/${encodeURIComponent(c.id)}/devices/${encodeURIComponent(target)}`
      : `/api/clients/${encodeURIComponent(c.id)}`;
    try {
      const answer = await api("DELETE", path, { token: session.token });
      merge(answer.client);
      dialog.close();
    } catch (err) {
      error.textContent = errorMessage(err);
    }
  });
}
