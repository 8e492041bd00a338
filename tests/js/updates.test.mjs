// Which notices an administrator sees of published versions.
import assert from "node:assert/strict";
import { test } from "node:test";

import { updateNotices } from "../../src/domogate/web/static/js/updates.js";

test("nothing to say without an update status", () => {
  assert.deepEqual(updateNotices(null), []);
  assert.deepEqual(updateNotices({ available: null, refused: null }), []);
});

test("an available version points to the maintenance page, or is applied there", () => {
  assert.deepEqual(updateNotices({ available: 4, refused: null }), [{ key: "update.available", vars: { version: 4 } }]);
  assert.deepEqual(updateNotices({ available: 4 }, "maintenance"), [
    { key: "update.available_here", vars: { version: 4 } },
  ]);
});

test("a refusal says which version and why, after the available one", () => {
  const refused = { version: 3, code: "signature_invalid", message: "Not signed by the pinned key." };
  assert.deepEqual(updateNotices({ available: 5, refused }), [
    { key: "update.available", vars: { version: 5 } },
    { key: "update.refused", vars: { version: 3, message: "Not signed by the pinned key." } },
  ]);
  assert.deepEqual(updateNotices({ refused: { version: 3, code: "version_not_newer" } })[0].vars, {
    version: 3,
    message: "version_not_newer",
  });
});
