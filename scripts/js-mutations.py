#!/usr/bin/env python3
"""Mutation check of the web client's JavaScript unit tests (tests/js, `node --test`).

Each line below breaks one pure function once, in a copy of the files in a temporary
folder (the work tree is never touched), runs the tests of that module and expects red.
Prints one line per mutation and exits 1 if any mutation went unnoticed.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# (module, text, replacement, test file in tests/js without .test.mjs)
mutations = [
    # (file, old, new, test file)
    (
        "catalogue.js",
        "out = out.split(`{${name}}`).join(String(value));",
        "out = out.replace(`{${name}}`, String(value));",
        "catalogue",
    ),
    (
        "catalogue.js",
        "catalogue[key] ?? fallback[key] ?? key",
        "catalogue[key] || fallback[key] || key",
        "catalogue",
    ),
    ("catalogue.js", "if (stored && stored in languages) return stored;", "", "catalogue"),
    ("catalogue.js", '.split("-")[0]', "", "catalogue"),
    ("joinlink.js", 'fields.get("otp")', 'fields.get("o")', "joinlink"),
    (
        "joinlink.js",
        'if (pathname !== "/join" || !hash) return null;',
        "if (!hash) return null;",
        "joinlink",
    ),
    ("joinlink.js", 'if (!otpEnabled) return { code: "otp_disabled" };', "", "joinlink"),
    (
        "joinlink.js",
        "join.server && join.server !== serverId",
        "join.server !== serverId",
        "joinlink",
    ),
    ("format.js", '"9.001": "°C",', '"9.001": "C",', "format"),
    ("format.js", '"9.020": "mV",', '9.020: "mV",', "format"),
    (
        "format.js",
        "return value ? words.on : words.off;",
        "return value ? words.off : words.on;",
        "format",
    ),
    ("format.js", "formatNumber(value, lang, 2)", "formatNumber(value, lang, 1)", "format"),
    (
        "format.js",
        'const base = typeof current === "number" ? current : 20;',
        'const base = typeof current === "number" ? current : 21;',
        "format",
    ),
    ("format.js", "Math.round((base + delta) * 2) / 2", "base + delta", "format"),
    ("format.js", "Math.min(64, Math.max(1,", "Math.min(63, Math.max(1,", "format"),
    (
        "format.js",
        "const sameDay = date.toDateString() === now.toDateString();",
        "const sameDay = true;",
        "format",
    ),
    ("format.js", 'hex.match(/.{1,2}/g).join(":")', 'hex.match(/.{1,2}/g).join("")', "format"),
    ("format.js", "/[^A-Za-z0-9_-]+/g", "/[^A-Za-z0-9_-]/g", "format"),
    (
        "format.js",
        "event.target_name && event.target_name !== event.actor_name",
        "event.target_name",
        "format",
    ),
    ("names.js", ".toLowerCase()", "", "names"),
    ("names.js", r"\p{Cf}", "", "names"),
    ("names.js", "/Edg\\//.test(ua)", "false", "names"),
    ("timing.js", "- 60000", "- 30000", "timing"),
    ("timing.js", "Math.max(5000,", "Math.max(1000,", "timing"),
    ("timing.js", "Math.min(30000, delay * 2)", "delay * 2", "timing"),
    ("timing.js", "closeCode === 4401 ||", "", "timing"),
    ("timing.js", "now + 5000", "now", "timing"),
    ("router.js", "admin && ADMIN_VIEWS.has(view)", "ADMIN_VIEWS.has(view)", "router"),
    ("router.js", 'clients: "advanced"', 'clients: "project"', "router"),
    ("router.js", "if (listener) listener(view);", "", "router"),
    ("projectview.js", "(index - 1 + count) % count", "(index - 1) % count", "router"),
]


def main() -> int:
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp)
        shutil.copytree(ROOT / "src/domogate/web/static", copy / "src/domogate/web/static")
        shutil.copytree(ROOT / "tests/js", copy / "tests/js")
        js = copy / "src/domogate/web/static/js"

        def run(target: str) -> bool:
            done = subprocess.run(
                ["node", "--test", target], cwd=copy, capture_output=True, text=True
            )
            return done.returncode == 0

        if not run("tests/js/"):
            print("the tests fail without any mutation", file=sys.stderr)
            return 1
        for module, old, new, test in mutations:
            path = js / module
            source = path.read_text("utf-8")
            if source.count(old) != 1:
                print(f"STALE  {module}: {old!r} is not in the file exactly once")
                missed += 1
                continue
            path.write_text(source.replace(old, new), "utf-8")
            caught = not run(f"tests/js/{test}.test.mjs")
            path.write_text(source, "utf-8")
            missed += not caught
            print(f"{'red   ' if caught else 'MISSED'} {module}: {old[:48]!r} -> {new[:32]!r}")
    print(f"{len(mutations) - missed} of {len(mutations)} mutations caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
