// The maintenance page: the project's service password opens a short session (kept in
// memory only) to see the server and project, the users and administrators, and the
// recent audit events, to grant or remove the admin flag, and to apply a version published
// through the cloud (when automatic server update is off).

import { api } from "./api.js";
import { auditItem } from "./audit.js";
import { clear, h, icon } from "./dom.js";
import { formatFingerprint } from "./format.js";
import { availableLanguages, currentLanguage, formatTime, initI18n, setLanguage, t } from "./i18n.js";
import { errorMessage } from "./messages.js";
import { updateNotices } from "./updates.js";

const root = document.getElementById("app");
let token = null;
let data = null;

function header() {
  const select = h(
    "select",
    { class: "lang", "aria-label": t("app.language") },
    Object.entries(availableLanguages()).map(([code, name]) =>
      h("option", { value: code, text: name, selected: code === currentLanguage() }),
    ),
  );
  select.addEventListener("change", async () => {
    await setLanguage(select.value);
    render();
  });
  const actions = h("div", { class: "top-actions" }, select);
  if (token)
    actions.append(h("button", { type: "button", class: "ghost", onclick: lock }, h("span", { text: t("mnt.lock") })));
  actions.append(
    h("a", { class: "ghost-link", href: "/" }, icon("back"), h("span", { class: "label", text: t("mnt.back") })),
  );
  return h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "brand" },
      h("img", { src: "/static/icons/icon.svg", alt: "", width: "32", height: "32" }),
      h("div", {}, h("h1", { text: t("mnt.title") }), h("span", { class: "version", text: "domogate" })),
    ),
    actions,
  );
}

function render() {
  clear(root).append(header(), h("main", { id: "main" }, token && data ? overview() : unlockForm()));
}

function unlockForm() {
  const alert = h("div", { role: "alert", class: "alert" });
  const input = h("input", { id: "service-password", type: "password", autocomplete: "current-password" });
  const button = h("button", { type: "submit", class: "primary wide", text: t("mnt.unlock") });
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "mnt-unlock-title" },
    h("h2", { id: "mnt-unlock-title", text: t("mnt.title") }),
    h("p", { class: "muted", text: t("mnt.intro") }),
    h("div", { class: "field" }, h("label", { for: "service-password", text: t("mnt.password") }), input),
    alert,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    alert.textContent = "";
    button.disabled = true;
    try {
      const session = await api("POST", "/api/maintenance/session", { body: { password: input.value } });
      token = session.token;
      input.value = "";
      await refresh();
    } catch (err) {
      alert.textContent = err.code === "invalid_credentials" ? t("mnt.wrong") : errorMessage(err);
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  setTimeout(() => input.focus(), 0);
  return form;
}

async function refresh() {
  try {
    data = await api("GET", "/api/maintenance", { token });
  } catch (err) {
    token = null;
    data = null;
    render();
    const alert = root.querySelector("[role=alert]");
    if (alert) alert.textContent = errorMessage(err);
    return;
  }
  render();
}

async function lock() {
  const old = token;
  token = null;
  data = null;
  if (old) await api("DELETE", "/api/maintenance/session", { token: old }).catch(() => undefined);
  render();
}

function facts(rows) {
  return h(
    "dl",
    { class: "facts" },
    rows.map(([k, v]) => [
      h("dt", { text: k }),
      h("dd", { text: v === null || v === undefined || v === "" ? t("mnt.none") : String(v) }),
    ]),
  );
}

function cloudText(cloud) {
  const text = t(`cloud.${cloud.status}`);
  if (cloud.status === "linked") return `${text} — ${cloud.url}`;
  if (cloud.status === "error") return `${text} — ${cloud.message || cloud.code}`;
  return `${text} (${cloud.name})`;
}

/** The published version waiting, with its Apply button, and the last refusal. */
function updateSection() {
  const update = data.update;
  const notices = updateNotices(update, "maintenance");
  if (notices.length === 0) return null;
  const children = [h("h2", { id: "mnt-update", text: t("update.title") })];
  children.push(...notices.map((n) => h("p", { class: "update-line", text: t(n.key, n.vars) })));
  if (Number.isInteger(update.available)) {
    const version = update.available;
    const button = h("button", {
      type: "button",
      class: "primary",
      id: "update-apply",
      text: t("update.apply", { version }),
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = t("update.applying");
      try {
        const result = await api("POST", "/api/maintenance/update", { token });
        await refresh();
        const after = root.querySelector("#update-result");
        if (after) after.textContent = t("update.applied", { version, project: result.version });
      } catch (err) {
        await refresh();
        const after = root.querySelector("#update-result");
        if (after) after.textContent = errorMessage(err);
      }
    });
    children.push(button);
  }
  return h("section", { "aria-labelledby": "mnt-update", class: "card" }, children);
}

function overview() {
  const s = data.server;
  const p = data.project;
  const yes = (b) => (b ? t("mnt.yes") : t("mnt.no"));
  const notice = h("p", { class: "notice", role: "status" });
  const rows = data.users.map((u) => {
    const button = h("button", {
      type: "button",
      class: u.admin ? "small danger" : "small",
      text: u.admin ? t("mnt.revoke_admin") : t("mnt.grant"),
      disabled: u.revoked && !u.admin,
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api("PUT", `/api/maintenance/users/${encodeURIComponent(u.id)}/admin`, {
          body: { admin: !u.admin },
          token,
        });
        await refresh();
      } catch (err) {
        notice.textContent = errorMessage(err);
        button.disabled = false;
      }
    });
    return h(
      "tr",
      {},
      h(
        "td",
        { "data-label": t("mnt.col_user"), class: "label-cell" },
        h("span", { class: "name-label", text: u.name }),
        u.revoked ? h("span", { class: "tag guest", text: t("status.Revoked") }) : null,
      ),
      h("td", { "data-label": t("mnt.col_group"), text: u.group }),
      h("td", { "data-label": t("col.devices"), text: String(u.devices) }),
      h("td", { "data-label": t("mnt.col_admin"), text: yes(u.admin) }),
      h("td", { class: "actions-cell" }, h("div", { class: "row-actions" }, button)),
    );
  });
  const audit = h("ol", { class: "audit-list" }, data.audit.map(auditItem));
  return h(
    "div",
    { class: "maintenance" },
    h("p", { class: "notice", role: "status", id: "update-result" }),
    updateSection(),
    h(
      "div",
      { class: "two-col" },
      h(
        "section",
        { "aria-labelledby": "mnt-server" },
        h("h2", { id: "mnt-server", text: t("mnt.server") }),
        facts([
          [t("mnt.server_id"), s.id],
          [t("mnt.fingerprint"), formatFingerprint(s.fingerprint)],
          [t("mnt.software"), s.software_version],
          [t("mnt.address"), s.address],
          ...(data.cloud?.name ? [[t("mnt.cloud"), cloudText(data.cloud)]] : []),
        ]),
      ),
      h(
        "section",
        { "aria-labelledby": "mnt-project" },
        h("h2", { id: "mnt-project", text: t("mnt.project") }),
        p
          ? facts([
              [t("mnt.name"), p.name],
              [t("mnt.version"), p.version],
              [t("mnt.deployed_at"), formatTime(p.deployed_at)],
              [t("mnt.groups"), p.groups.join(", ")],
              [t("auth.otp"), yes(p.use_otp_authentication)],
            ])
          : h("p", { class: "muted", text: t("app.no_project") }),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "mnt-users" },
      h("h2", { id: "mnt-users", text: t("mnt.users") }),
      h(
        "p",
        {},
        h("strong", { text: `${t("mnt.admins")}: ` }),
        data.admins.length ? data.admins.join(", ") : t("mnt.none"),
      ),
      notice,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "clients-table" },
          h("caption", { text: t("mnt.users") }),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              [t("mnt.col_user"), t("mnt.col_group"), t("col.devices"), t("mnt.col_admin"), t("col.actions")].map((c) =>
                h("th", { scope: "col", text: c }),
              ),
            ),
          ),
          h("tbody", {}, rows),
        ),
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "mnt-audit" },
      h("h2", { id: "mnt-audit", text: t("mnt.audit") }),
      h("div", { class: "card" }, audit),
    ),
  );
}

initI18n()
  .then(render)
  .catch((err) => {
    clear(root).append(h("p", { role: "alert", class: "alert", text: String(err) }));
  });
