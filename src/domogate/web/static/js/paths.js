// The page's paths (local / cloud) as pure rules: which paths the policy offers from the
// origin the page was loaded from, when the live channel is dead, when to probe local
// again from the cloud and when to go back. No I/O, no timers: times are passed in (ms),
// so node --test drives them with a made-up clock. livesession.js does the I/O.

export const PING_EVERY = 500; // the live channel is pinged this often…
export const DEAD_AFTER = 1500; // …and dead after this long without any message
export const SUSPECT_AFTER = 1000; // silent this long: the other path is made ready
export const HELLO_WITHIN = 2000; // a new channel that has not said hello by then is dead
export const PROBE_EVERY = 3000; // on cloud: local is asked this often…
export const PROBE_AGAIN = 250; // …then this often once it answers…
export const BACK_AFTER = 1000; // …and the page goes back after this long of good answers
export const PROBE_TIMEOUT = 1000; // one probe's bound
export const COMMAND_BOUND = 3000; // a command waits at most this long for a channel

/** The origin (scheme://host[:port]) of an https URL, or null (anything else is ignored). */
export function httpsOrigin(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" ? parsed.origin : null;
  } catch {
    return null;
  }
}

/**
 * The paths this page may use, from /api/info and the origin it was loaded from:
 * `{local, cloud}` (each an origin, or null when not offered), `start` (the path to use
 * first, when no question is asked) and `failover` (whether it moves by itself).
 * - a page loaded from the cloud origin uses the cloud only (the local origin's
 *   self-signed certificate cannot be reached from it);
 * - `local`: local only; `cloud`: cloud only; `local_and_cloud`: both, local first.
 */
export function offeredPaths(info, pageOrigin) {
  const cloud = httpsOrigin(info?.paths?.cloud);
  const onCloud = cloud !== null && cloud === pageOrigin;
  const policy = info?.connection_policy || "local";
  if (onCloud) return { local: null, cloud, start: "cloud", failover: false };
  if (policy === "cloud") {
    return cloud ? { local: null, cloud, start: "cloud", failover: false } : only(pageOrigin);
  }
  if (policy === "local_and_cloud" && cloud) {
    return { local: pageOrigin, cloud, start: "local", failover: info?.automatic_connection !== false };
  }
  return only(pageOrigin);
}

function only(local) {
  return { local, cloud: null, start: "local", failover: false };
}

/** Whether the person must be asked which path (automatic connection off, two paths). */
export function mustAsk(info, offered) {
  return info?.automatic_connection === false && Boolean(offered.local && offered.cloud);
}

/** Health of one live channel: `opened(now)`, `heard(now)` on every message, `hello(now)`. */
export class ChannelWatch {
  constructor(now) {
    this.openedAt = now;
    this.lastHeard = null;
    this.greeted = false;
  }

  heard(now, isHello = false) {
    this.lastHeard = now;
    if (isHello) this.greeted = true;
  }

  /** Suspect: greeted, then silent for SUSPECT_AFTER (time to make the other path ready). */
  suspect(now) {
    return this.greeted && now - this.lastHeard > SUSPECT_AFTER;
  }

  /** Dead: no hello within HELLO_WITHIN of opening, or silent for DEAD_AFTER since. */
  dead(now) {
    if (!this.greeted) return now - this.openedAt > HELLO_WITHIN;
    return now - this.lastHeard > DEAD_AFTER;
  }
}

/** On cloud, whether and when local is back: feed it probe results. */
export class BackToLocal {
  constructor(now) {
    this.goodSince = null;
    this.lastProbe = now;
  }

  /** How long until the next probe. */
  nextProbeIn(now) {
    const every = this.goodSince === null ? PROBE_EVERY : PROBE_AGAIN;
    return Math.max(0, this.lastProbe + every - now);
  }

  /** A probe's answer (`ok`) at `now`; true when the page should go back to local now. */
  answered(ok, now) {
    this.lastProbe = now;
    if (!ok) {
      this.goodSince = null;
      return false;
    }
    if (this.goodSince === null) this.goodSince = now;
    return now - this.goodSince >= BACK_AFTER;
  }
}

/** Whether a command asked at `queuedAt` may still be sent (or sent again) at `now`. */
export function withinBound(queuedAt, now) {
  return now - queuedAt <= COMMAND_BOUND;
}
