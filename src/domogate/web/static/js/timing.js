// When the live session acts: renewing the session before it ends, backing off between
// reconnections, deciding that a reconnection needs a new session. Times in milliseconds.

export const FIRST_RECONNECT_DELAY = 1000;

/** How long to wait before renewing a session that ends at `expiresAt` (ISO): a minute
 * ahead, and never sooner than 5 s. */
export function refreshDelay(expiresAt, now) {
  return Math.max(5000, new Date(expiresAt).getTime() - now - 60000);
}

/** The delay after `delay` between reconnection attempts: doubled, at most 30 s. */
export function nextReconnectDelay(delay) {
  return Math.min(30000, delay * 2);
}

/** Whether the live channel can only come back with a new session: closed with 4401, or
 * the session ends within 5 s. */
export function needsNewSession(closeCode, expiresAt, now) {
  return closeCode === 4401 || Boolean(expiresAt && new Date(expiresAt).getTime() < now + 5000);
}
