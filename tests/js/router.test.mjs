// Which screen shows; tab keys in the project view.
import assert from "node:assert/strict";
import { test } from "node:test";

import { tabTarget } from "../../src/domogate/web/static/js/projectview.js";
import {
  currentView,
  onNavigate,
  parentOf,
  resolveView,
  settleView,
  show,
} from "../../src/domogate/web/static/js/router.js";

test("administrators' views fall back to the project for everyone else", () => {
  for (const view of ["advanced", "clients", "audit"]) {
    assert.equal(resolveView(view, true), view);
    assert.equal(resolveView(view, false), "project");
  }
  assert.equal(resolveView("project", true), "project");
  assert.equal(resolveView("nonsense", true), "project");
});

test("Back: clients and audit → advanced → project", () => {
  assert.equal(parentOf("clients"), "advanced");
  assert.equal(parentOf("audit"), "advanced");
  assert.equal(parentOf("advanced"), "project");
  assert.equal(parentOf("project"), "project");
});

test("show() tells the listener; settleView() keeps non-administrators on the project", () => {
  const seen = [];
  onNavigate((view) => seen.push(view));
  show("clients");
  assert.deepEqual(seen, ["clients"]);
  assert.equal(settleView(true), "clients");
  assert.equal(settleView(false), "project");
  assert.equal(currentView(), "project");
});

test("arrow keys wrap around the tabs; Home and End go to the ends", () => {
  assert.equal(tabTarget("ArrowRight", 0, 3), 1);
  assert.equal(tabTarget("ArrowRight", 2, 3), 0);
  assert.equal(tabTarget("ArrowLeft", 0, 3), 2);
  assert.equal(tabTarget("Home", 2, 3), 0);
  assert.equal(tabTarget("End", 0, 3), 2);
  assert.equal(tabTarget("Enter", 1, 3), null);
});
