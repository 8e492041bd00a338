// What the client knows about the server's data: the project, the objects' states, the bus
// status and (administrators) the clients. The live session and the REST answers write it;
// views read it and listen for changes.

export const state = {
  project: null,
  states: {},
  bus: null,
  cloud: null,
  // Published versions (administrators): {available, published_at, refused} or null.
  update: null,
  clients: [],
  // The path this page's API and live channel use: current "local" | "cloud" | null (not
  // connected yet); switching: the target path while a switch is under way, else null.
  path: { current: null, switching: null },
};

const listeners = new Map(); // event → Set of functions

/** Call `fn(detail)` on each `event`: "states" (every object), "state" (one id), "bus", "cloud", "update", "clients", "path". */
export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(fn);
  return () => listeners.get(event).delete(fn);
}

function emit(event, detail) {
  for (const fn of listeners.get(event) || []) fn(detail);
}

export function setProject(project) {
  state.project = project;
}

export function mergeStates(states) {
  state.states = { ...state.states, ...(states || {}) };
  emit("states");
}

export function setObjectState(id, objectState) {
  state.states[id] = objectState;
  emit("state", id);
}

export function setBus(bus) {
  state.bus = bus;
  emit("bus", bus);
}

export function setCloud(cloud) {
  state.cloud = cloud;
  emit("cloud", cloud);
}

export function setUpdate(update) {
  state.update = update;
  emit("update", update);
}

export function setClients(list) {
  state.clients = Array.isArray(list) ? list : [];
  emit("clients", state.clients);
}

/** Merge `{current?, switching?}` into the page's path and tell the views ("path"). */
export function setPath(patch) {
  state.path = { ...state.path, ...patch };
  emit("path", state.path);
}
