// Offline shell: the client's own files come from the network first and from this cache
// when the server cannot be reached. The API and the live channel are never cached.
const CACHE = "domogate-shell-v2";
const SHELL = [
  "/",
  "/static/css/app.css",
  "/static/js/main.js",
  "/static/js/advanced.js",
  "/static/js/api.js",
  "/static/js/audit.js",
  "/static/js/auth.js",
  "/static/js/catalogue.js",
  "/static/js/clients.js",
  "/static/js/dom.js",
  "/static/js/format.js",
  "/static/js/i18n.js",
  "/static/js/joinlink.js",
  "/static/js/keys.js",
  "/static/js/live.js",
  "/static/js/livesession.js",
  "/static/js/messages.js",
  "/static/js/names.js",
  "/static/js/objects.js",
  "/static/js/projectview.js",
  "/static/js/router.js",
  "/static/js/session.js",
  "/static/js/shell.js",
  "/static/js/state.js",
  "/static/js/timing.js",
  "/static/i18n/index.json",
  "/static/i18n/en.json",
  "/static/i18n/fr.json",
  "/static/icons/icon.svg",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  const key = url.pathname === "/join" ? "/" : url.pathname;
  event.respondWith(
    fetch(event.request)
      .then((res) => {
        if (res.ok && SHELL.includes(key)) {
          const copy = res.clone();
          caches.open(CACHE).then((cache) => cache.put(key, copy));
        }
        return res;
      })
      .catch(() => caches.match(key).then((hit) => hit || Response.error())),
  );
});
