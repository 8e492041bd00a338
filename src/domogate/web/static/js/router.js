// Which screen the signed-in client shows: the project, or (administrators only) Advanced
// settings and its Manage clients and Audit log screens. No DOM: shell.js renders the view.

export const VIEWS = ["project", "advanced", "clients", "audit"];
const ADMIN_VIEWS = new Set(["advanced", "clients", "audit"]);
const PARENT = { advanced: "project", clients: "advanced", audit: "advanced" };

let current = "project";
let listener = null;

/** The view actually shown for `view`: administrators' views fall back to the project. */
export function resolveView(view, admin) {
  return admin && ADMIN_VIEWS.has(view) ? view : "project";
}

/** Where Back goes from `view`. */
export function parentOf(view) {
  return PARENT[view] || "project";
}

export function currentView() {
  return current;
}

/** Settle the current view for this user (a non-administrator only sees the project). */
export function settleView(admin) {
  current = resolveView(current, admin);
  return current;
}

export function onNavigate(fn) {
  listener = fn;
}

export function show(view) {
  current = view;
  if (listener) listener(view);
}
