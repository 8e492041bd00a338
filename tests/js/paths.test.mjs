// The page's path rules: which paths the policy offers, when a channel is dead, when the
// page goes back to local. A made-up clock (ms) drives them.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  BACK_AFTER,
  BackToLocal,
  ChannelWatch,
  COMMAND_BOUND,
  DEAD_AFTER,
  HELLO_WITHIN,
  httpsOrigin,
  mustAsk,
  offeredPaths,
  PROBE_AGAIN,
  PROBE_EVERY,
  SUSPECT_AFTER,
  withinBound,
} from "../../src/domogate/web/static/js/paths.js";

const LOCAL = "https://192.168.1.20:7550";
const CLOUD = "https://abcd.home.test:7443";
const info = (policy, automatic = true, cloud = `${CLOUD}/`) => ({
  connection_policy: policy,
  automatic_connection: automatic,
  paths: { local: LOCAL, cloud },
});

test("a page loaded locally follows the policy", () => {
  assert.deepEqual(offeredPaths(info("local_and_cloud"), LOCAL), {
    local: LOCAL,
    cloud: CLOUD,
    start: "local",
    failover: true,
  });
  assert.deepEqual(offeredPaths(info("local"), LOCAL), { local: LOCAL, cloud: null, start: "local", failover: false });
  assert.deepEqual(offeredPaths(info("cloud"), LOCAL), { local: null, cloud: CLOUD, start: "cloud", failover: false });
  // Not linked at the moment: local only, whatever the policy.
  assert.equal(offeredPaths(info("local_and_cloud", true, null), LOCAL).cloud, null);
  assert.equal(offeredPaths(info("cloud", true, null), LOCAL).start, "local");
});

test("a page loaded from the cloud origin stays on the cloud, whatever the policy", () => {
  for (const policy of ["local", "cloud", "local_and_cloud"]) {
    assert.deepEqual(offeredPaths(info(policy), CLOUD), { local: null, cloud: CLOUD, start: "cloud", failover: false });
  }
});

test("the person is asked only with automatic connection off and two paths", () => {
  const both = offeredPaths(info("local_and_cloud", false), LOCAL);
  assert.equal(both.failover, false);
  assert.equal(mustAsk(info("local_and_cloud", false), both), true);
  assert.equal(mustAsk(info("local_and_cloud", true), offeredPaths(info("local_and_cloud"), LOCAL)), false);
  assert.equal(mustAsk(info("local", false), offeredPaths(info("local", false), LOCAL)), false);
  assert.equal(mustAsk(info("local_and_cloud", false), offeredPaths(info("local_and_cloud", false), CLOUD)), false);
});

test("only https origins count", () => {
  assert.equal(httpsOrigin("https://h.example:8443/join?x=1"), "https://h.example:8443");
  assert.equal(httpsOrigin("http://h.example"), null);
  assert.equal(httpsOrigin("javascript:alert(1)"), null);
  assert.equal(httpsOrigin("not a url"), null);
  assert.equal(httpsOrigin(null), null);
});

test("a channel is dead after DEAD_AFTER of silence, or without hello in HELLO_WITHIN", () => {
  const watch = new ChannelWatch(0);
  assert.equal(watch.dead(HELLO_WITHIN), false);
  assert.equal(watch.dead(HELLO_WITHIN + 1), true);
  watch.heard(100, true);
  assert.equal(watch.dead(100 + DEAD_AFTER), false);
  watch.heard(600); // a pong
  assert.equal(watch.dead(600 + DEAD_AFTER), false);
  assert.equal(watch.dead(600 + DEAD_AFTER + 1), true);
});

test("on cloud, local is probed every few seconds, then often, and after BACK_AFTER of answers the page goes back", () => {
  const back = new BackToLocal(0);
  assert.equal(back.nextProbeIn(0), PROBE_EVERY);
  assert.equal(back.answered(false, PROBE_EVERY), false);
  assert.equal(back.nextProbeIn(PROBE_EVERY), PROBE_EVERY);
  let now = 2 * PROBE_EVERY;
  assert.equal(back.answered(true, now), false);
  assert.equal(back.nextProbeIn(now), PROBE_AGAIN);
  while (now + PROBE_AGAIN - 2 * PROBE_EVERY < BACK_AFTER) {
    now += PROBE_AGAIN;
    assert.equal(back.answered(true, now), false, `at ${now}`);
  }
  assert.equal(back.answered(true, now + PROBE_AGAIN), true);
});

test("one failed probe starts the count again", () => {
  const back = new BackToLocal(0);
  back.answered(true, 0);
  back.answered(true, 900);
  assert.equal(back.answered(false, 950), false);
  assert.equal(back.answered(true, 1000), false);
  assert.equal(back.answered(true, 1000 + BACK_AFTER), true);
});

test("a command is sent (or sent again) only within COMMAND_BOUND of being asked", () => {
  assert.equal(withinBound(0, COMMAND_BOUND), true);
  assert.equal(withinBound(0, COMMAND_BOUND + 1), false);
});

test("a greeted channel silent for SUSPECT_AFTER is suspect before it is dead", () => {
  const watch = new ChannelWatch(0);
  assert.equal(watch.suspect(5000), false); // never greeted: only HELLO_WITHIN counts
  watch.heard(0, true);
  assert.equal(watch.suspect(SUSPECT_AFTER), false);
  assert.equal(watch.suspect(SUSPECT_AFTER + 1), true);
  assert.equal(watch.dead(SUSPECT_AFTER + 1), false);
  assert.ok(SUSPECT_AFTER < DEAD_AFTER);
});
