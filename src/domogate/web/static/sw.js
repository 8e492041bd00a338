// Offline shell: the client's own files come from the network first and from this cache
// when the server cannot be reached. The API and the live channel are never cached.
// A page that cannot be loaded at all (the house unreachable on this origin: offline, or
// the cloud down) gets the offline page built here, never the browser's error page: it
// says the house cannot be reached and offers to try again (js/offline.js).
const CACHE = "domogate-shell-v3";
const SHELL = [
  "/",
  "/manifest.webmanifest",
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
  "/static/js/offline.js",
  "/static/js/pathchoice.js",
  "/static/js/paths.js",
  "/static/js/pathview.js",
  "/static/js/projectview.js",
  "/static/js/router.js",
  "/static/js/session.js",
  "/static/js/shell.js",
  "/static/js/state.js",
  "/static/js/timing.js",
  "/static/js/updates.js",
  "/static/i18n/index.json",
  "/static/i18n/en.json",
  "/static/i18n/fr.json",
  "/static/icons/icon.svg",
  "/static/icons/icon-192.png",
];

// The same strict policy as the server's pages.
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// Shown before offline.js has put the page in the person's language (or without scripts).
const OFFLINE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<meta name="theme-color" content="#0f766e">
<title>domogate</title>
<link rel="manifest" href="/manifest.webmanifest">
<link rel="icon" href="/static/icons/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/css/app.css">
<script type="module" src="/static/js/offline.js"></script>
</head>
<body>
<div id="app"><div class="splash offline-page">
<img src="/static/icons/icon.svg" alt="" width="72" height="72">
<h1>Cannot reach the house</h1>
<p lang="fr">Impossible de joindre la maison</p>
</div></div>
</body>
</html>`;

function offlinePage() {
  return new Response(OFFLINE_PAGE, {
    status: 503,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": CSP,
      "Cache-Control": "no-store",
    },
  });
}

self.addEventListener("install", (event) => {
  // One file at a time: a file this server lacks must not leave the installed app with no
  // offline shell at all.
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => Promise.allSettled(SHELL.map((path) => cache.add(path))))
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
  const navigation = event.request.mode === "navigate";
  event.respondWith(
    fetch(event.request)
      .then((res) => {
        if (res.ok && SHELL.includes(key)) {
          const copy = res.clone();
          caches.open(CACHE).then((cache) => cache.put(key, copy));
        }
        return res;
      })
      .catch(() => (navigation ? offlinePage() : caches.match(key).then((hit) => hit || Response.error()))),
  );
});
