// What the page shows about its path: the header chip, the choice's answers, the clients' paths.
import assert from "node:assert/strict";
import { test } from "node:test";

import { answerKind, chipOf, clientPaths } from "../../src/domogate/web/static/js/pathview.js";

const withCloud = {
  paths: { local: "https://192.168.1.10:7550", cloud: "https://abc.cloud.test" },
  connection_policy: "local_and_cloud",
};
const localOnly = { paths: { local: "https://192.168.1.10:7550", cloud: null }, connection_policy: "local" };

test("the chip shows the live channel's path, else the session's", () => {
  assert.deepEqual(chipOf({ current: "cloud", switching: null }, "local", withCloud), {
    path: "cloud",
    switching: null,
  });
  assert.deepEqual(chipOf({ current: null, switching: null }, "local", withCloud), { path: "local", switching: null });
});

test("a switch under way is shown with its target; a switch to the current path is none", () => {
  assert.deepEqual(chipOf({ current: "local", switching: "cloud" }, "local", withCloud), {
    path: "local",
    switching: "cloud",
  });
  assert.deepEqual(chipOf({ current: "cloud", switching: "cloud" }, "local", withCloud), {
    path: "cloud",
    switching: null,
  });
  assert.deepEqual(chipOf({ current: null, switching: "cloud" }, null, withCloud), { path: null, switching: "cloud" });
});

test("an installation without a cloud path shows no chip, unless the page is on the cloud", () => {
  assert.equal(chipOf({ current: "local", switching: null }, "local", localOnly), null);
  assert.equal(chipOf({ current: null, switching: null }, null, withCloud), null);
  assert.deepEqual(chipOf({ current: "cloud", switching: null }, "cloud", localOnly), {
    path: "cloud",
    switching: null,
  });
  // The cloud link down when the page loaded: the policy still says a cloud path exists.
  const linkDown = { paths: { local: "https://h:1", cloud: null }, connection_policy: "cloud" };
  assert.deepEqual(chipOf({ current: "local", switching: null }, null, linkDown), { path: "local", switching: null });
  assert.equal(chipOf({ current: "local" }, null, null), null);
});

test("a path's answer: checking while pending, then answers only for true", () => {
  assert.equal(answerKind(false, undefined), "checking");
  assert.equal(answerKind(true, true), "answers");
  assert.equal(answerKind(true, false), "silent");
  assert.equal(answerKind(true, "yes"), "silent");
});

test("a client's paths: its online devices' paths, else the last one seen", () => {
  const dev = (path, online, revoked = false) => ({ path, online, revoked });
  assert.deepEqual(clientPaths({ path: "local", devices: [dev("cloud", true), dev("local", false)] }), ["cloud"]);
  assert.deepEqual(clientPaths({ path: "cloud", devices: [dev("cloud", true), dev("local", true)] }), [
    "local",
    "cloud",
  ]);
  assert.deepEqual(clientPaths({ path: "local", devices: [dev("cloud", false)] }), ["local"]);
  assert.deepEqual(clientPaths({ path: null, devices: [] }), []);
  assert.deepEqual(clientPaths({ path: "local", devices: [dev("cloud", true, true)] }), ["local"]);
});
