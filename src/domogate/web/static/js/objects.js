// Object cards: each object becomes a real control from its attributes
// (switch, dimmer, shutter, thermostat, scene, sensor). Commands go out over the live
// channel; the state shown is always the one the server sends back.

import { h, icon, uid } from "./dom.js";
import { formatTarget, formatValue, sceneNumber, stepTarget } from "./format.js";
import { currentLanguage, t } from "./i18n.js";

const ICON_OF = {
  switch: "bulb",
  dimmer: "dimmer",
  shutter: "shutter",
  thermostat: "thermostat",
  scene: "scene",
  sensor: "sensor",
};

/**
 * A card for one object. `send(objectId, attribute, value)` returns a Promise resolving to
 * the result message. Returns {el, update(state)}.
 */
export function objectCard(obj, send) {
  const attrs = obj.attributes || {};
  const can = (name) => Boolean(attrs[name]?.writable);
  const has = (name) => Boolean(attrs[name]);
  const titleId = uid("obj");
  const status = h("p", { class: "card-error", role: "status" });
  const updaters = [];
  const body = h("div", { class: "card-body" });

  async function command(attribute, value, control) {
    status.textContent = "";
    if (control) control.classList.add("pending");
    try {
      const result = await send(obj.id, attribute, value);
      if (result && result.ok === false) status.textContent = commandError(result.error);
    } finally {
      if (control) control.classList.remove("pending");
    }
  }

  function toggle(attribute) {
    const button = h(
      "button",
      {
        type: "button",
        role: "switch",
        "aria-checked": "false",
        class: "switch big",
        "aria-label": obj.name,
        disabled: !can(attribute),
      },
      h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })),
    );
    button.addEventListener("click", () => {
      const on = button.getAttribute("aria-checked") === "true";
      command(attribute, !on, button);
    });
    updaters.push((state) => {
      const on = state[attribute] === true;
      button.setAttribute("aria-checked", on ? "true" : "false");
      button.classList.toggle("unknown", state[attribute] === null || state[attribute] === undefined);
    });
    return button;
  }

  function slider(attribute, label, unit = "%") {
    const id = uid("rng");
    const out = h("output", { for: id, class: "slider-value", text: "—" });
    const input = h("input", {
      id,
      type: "range",
      min: "0",
      max: "100",
      step: "1",
      value: "0",
      disabled: !can(attribute),
    });
    let dragging = false;
    input.addEventListener("input", () => {
      dragging = true;
      out.textContent = `${input.value} ${unit}`;
    });
    input.addEventListener("change", () => {
      dragging = false;
      command(attribute, Number(input.value), input);
    });
    updaters.push((state) => {
      const v = state[attribute];
      if (dragging) return;
      if (typeof v === "number") {
        input.value = String(Math.round(v));
        out.textContent = `${Math.round(v)} ${unit}`;
      } else out.textContent = "—";
    });
    return h("div", { class: "slider" }, h("label", { for: id, text: label }), input, out);
  }

  function readout(attribute, label) {
    const value = h("span", { class: "readout-value", text: "—" });
    updaters.push((state) => {
      value.textContent = formatValue(state[attribute], attrs[attribute].dpt, currentLanguage(), {
        on: t("state.on"),
        off: t("state.off"),
      });
    });
    return h("div", { class: "readout" }, label ? h("span", { class: "readout-label", text: label }) : null, value);
  }

  const head = h(
    "div",
    { class: "card-head" },
    h("span", { class: `card-icon type-${obj.type}` }, icon(ICON_OF[obj.type] || "sensor")),
    h("h3", { id: titleId, text: obj.name }),
  );

  switch (obj.type) {
    case "switch":
      if (has("on")) head.append(toggle("on"));
      break;
    case "dimmer":
      if (has("on")) head.append(toggle("on"));
      if (has("brightness")) body.append(slider("brightness", t("obj.brightness")));
      break;
    case "shutter": {
      const buttons = h("div", { class: "button-row" });
      if (has("move")) {
        buttons.append(
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              "aria-label": t("obj.up"),
              title: t("obj.up"),
              disabled: !can("move"),
              onclick: (e) => command("move", false, e.currentTarget),
            },
            icon("up"),
          ),
        );
      }
      if (has("stop")) {
        buttons.append(
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              "aria-label": t("obj.stop"),
              title: t("obj.stop"),
              disabled: !can("stop"),
              onclick: (e) => command("stop", true, e.currentTarget),
            },
            icon("stop"),
          ),
        );
      }
      if (has("move")) {
        buttons.append(
          h(
            "button",
            {
              type: "button",
              class: "icon-button",
              "aria-label": t("obj.down"),
              title: t("obj.down"),
              disabled: !can("move"),
              onclick: (e) => command("move", true, e.currentTarget),
            },
            icon("down"),
          ),
        );
      }
      if (buttons.childElementCount) body.append(buttons);
      if (has("position")) body.append(slider("position", t("obj.position")));
      if (has("slats")) body.append(slider("slats", t("obj.slats")));
      break;
    }
    case "thermostat": {
      if (has("temperature")) body.append(readout("temperature", t("obj.temperature")));
      if (has("target")) {
        const value = h("output", { class: "target-value", text: "—", "aria-live": "polite" });
        let current = null;
        const step = (delta) => {
          command("target", stepTarget(current, delta), value);
        };
        const minus = h(
          "button",
          {
            type: "button",
            class: "icon-button",
            "aria-label": t("obj.target_down"),
            title: t("obj.target_down"),
            disabled: !can("target"),
            onclick: () => step(-0.5),
          },
          icon("minus"),
        );
        const plus = h(
          "button",
          {
            type: "button",
            class: "icon-button",
            "aria-label": t("obj.target_up"),
            title: t("obj.target_up"),
            disabled: !can("target"),
            onclick: () => step(0.5),
          },
          icon("plus"),
        );
        updaters.push((state) => {
          current = typeof state.target === "number" ? state.target : null;
          value.textContent = formatTarget(current, currentLanguage());
        });
        body.append(
          h(
            "div",
            { class: "stepper" },
            h("span", { class: "readout-label", text: t("obj.target") }),
            h("div", { class: "stepper-controls" }, minus, value, plus),
          ),
        );
      }
      if (has("mode")) {
        const id = uid("mode");
        const modes = ["auto", "comfort", "standby", "economy", "building_protection"];
        const select = h(
          "select",
          { id, disabled: !can("mode") },
          h("option", { value: "", text: "—", disabled: true }),
          modes.map((m) => h("option", { value: m, text: t(`mode.${m}`) })),
        );
        select.addEventListener("change", () => command("mode", select.value, select));
        updaters.push((state) => {
          select.value = modes.includes(state.mode) ? state.mode : "";
        });
        body.append(h("div", { class: "field inline" }, h("label", { for: id, text: t("obj.mode") }), select));
      }
      break;
    }
    case "scene": {
      const id = uid("scene");
      const number = h("input", {
        id,
        type: "number",
        min: "1",
        max: "64",
        value: "1",
        class: "scene-number",
        disabled: !can("scene"),
      });
      const run = h("button", { type: "button", class: "secondary", text: t("obj.activate"), disabled: !can("scene") });
      run.addEventListener("click", () => {
        command("scene", sceneNumber(number.value), run);
      });
      body.append(h("div", { class: "scene-row" }, h("label", { for: id, text: t("obj.scene_number") }), number, run));
      break;
    }
    default:
      for (const name of Object.keys(attrs)) body.append(readout(name, name === "value" ? "" : name));
  }

  const el = h(
    "article",
    { class: `card card-${obj.type}`, "aria-labelledby": titleId, "data-object": obj.id },
    head,
    body,
    status,
  );
  return {
    el,
    update(state) {
      for (const fn of updaters) fn(state || {});
    },
  };
}

function commandError(error) {
  const code = error?.code || "unknown";
  const known = ["forbidden", "bus_unavailable", "value_invalid", "not_found", "rate_limited", "timeout", "offline"];
  return known.includes(code) ? t(`cmd.${code}`) : t("cmd.unknown", { message: error?.message || code });
}
