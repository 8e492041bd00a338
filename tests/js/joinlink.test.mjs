// Join links: /join#v=1&s=…&fp=…&otp=…&n=…
import assert from "node:assert/strict";
import { test } from "node:test";

import { joinLinkProblem, parseJoinLink } from "../../src/domogate/web/static/js/joinlink.js";

test("a join link's fragment gives the server, the OTP and the name", () => {
  const join = parseJoinLink("/join", "#v=1&s=srv-1&fp=ab12&otp=K7QM-2XPA&n=Ann%20Lee");
  assert.deepEqual(join, {
    server: "srv-1",
    otp: "K7QM-2XPA",
    name: "Ann Lee",
    local: null,
    cloud: null,
    asked: false,
  });
});

test("a join link for the cloud carries the local and cloud origins (https only)", () => {
  const hash = `#v=1&s=srv-1&otp=X&l=${encodeURIComponent("https://192.168.1.20:7550")}&c=${encodeURIComponent("https://abcd.home.test/")}&r=relay:7443`;
  const join = parseJoinLink("/join", hash);
  assert.equal(join.local, "https://192.168.1.20:7550");
  assert.equal(join.cloud, "https://abcd.home.test");
  const plain = parseJoinLink("/join", "#otp=X&l=http%3A%2F%2F10.0.0.1&c=javascript%3Aalert(1)&asked=1");
  assert.equal(plain.local, null);
  assert.equal(plain.cloud, null);
  assert.equal(plain.asked, true);
});

test("missing fields are null; other pages and empty fragments are no join link", () => {
  assert.deepEqual(parseJoinLink("/join", "#otp=ABC"), {
    server: null,
    otp: "ABC",
    name: null,
    local: null,
    cloud: null,
    asked: false,
  });
  assert.equal(parseJoinLink("/", "#otp=ABC"), null);
  assert.equal(parseJoinLink("/join", ""), null);
});

test("a link for another server, or with OTP sign-in disabled, says why", () => {
  const join = { server: "srv-1", otp: "X", name: null };
  assert.equal(joinLinkProblem(join, "srv-1", true), null);
  assert.equal(joinLinkProblem({ ...join, server: null }, "srv-1", true), null);
  assert.deepEqual(joinLinkProblem(join, "srv-2", true), { code: "join_other_server" });
  assert.deepEqual(joinLinkProblem(join, "srv-2", false), { code: "otp_disabled" });
});
