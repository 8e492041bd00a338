// User names as the server identifies them; this browser's device name.
import assert from "node:assert/strict";
import { test } from "node:test";

import { deviceName, nameKey } from "../../src/domogate/web/static/js/names.js";

test("case, compatibility forms, spaces and invisible characters make no other name", () => {
  assert.equal(nameKey("Alice"), nameKey("alice"));
  assert.equal(nameKey("Ａｌｉｃｅ"), "alice"); // full-width letters (NFKC)
  assert.equal(nameKey("Ann Lee"), "annlee");
  assert.equal(nameKey("ann\u200blee"), "annlee"); // zero-width space
  assert.equal(nameKey("ann\u00a0lee\t"), "annlee");
  assert.notEqual(nameKey("ann"), nameKey("anne"));
  assert.equal(nameKey(undefined), "");
});

test("the device name from the user agent", () => {
  const android =
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
  const iphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
  const edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 Edg/126.0";
  const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
  assert.equal(deviceName(android), "Chrome on Android");
  assert.equal(deviceName(iphone), "Safari on iOS");
  assert.equal(deviceName(edge), "Edge on Windows");
  assert.equal(deviceName(firefox), "Firefox on Linux");
  assert.equal(deviceName("curl/8"), "Browser");
});
