// The live session's timing: renewal, back-off, when a reconnection needs a new session.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  FIRST_RECONNECT_DELAY,
  needsNewSession,
  nextReconnectDelay,
  refreshDelay,
} from "../../src/domogate/web/static/js/timing.js";

const now = Date.parse("2025-06-14T12:00:00Z");

test("a session is renewed a minute before it ends, never sooner than 5 s", () => {
  assert.equal(refreshDelay("2025-06-14T13:00:00Z", now), 59 * 60 * 1000);
  assert.equal(refreshDelay("2025-06-14T12:01:30Z", now), 30000);
  assert.equal(refreshDelay("2025-06-14T12:00:30Z", now), 5000);
  assert.equal(refreshDelay("2025-06-14T11:00:00Z", now), 5000);
});

test("reconnection waits double each time, up to 30 s", () => {
  const delays = [FIRST_RECONNECT_DELAY];
  for (let i = 0; i < 7; i++) delays.push(nextReconnectDelay(delays.at(-1)));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test("4401, or a session ending within 5 s, needs a new session", () => {
  assert.equal(needsNewSession(4401, "2025-06-14T13:00:00Z", now), true);
  assert.equal(needsNewSession(1006, "2025-06-14T12:00:04Z", now), true);
  assert.equal(needsNewSession(1006, "2025-06-14T12:00:06Z", now), false);
  assert.equal(needsNewSession(1006, null, now), false);
});
