#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Cockpit page (cockpit/golem/) against what it relies on: the D-Bus members it uses exist
in the introspection data with the access it needs, its CreateVM options are those the provider
parses with their types, every element it looks up is in index.html, its manifest is valid, and
it loads nothing from outside the machine. The page in a real browser against a real Cockpit is
check "Cockpit page" of tests/system/run.

    test-cockpit-page.py PAGE_DIR INTROSPECTION_XML PROVIDER_BUS_C
"""

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

page, xml_path, bus_c = sys.argv[1:4]
failures = []


def check(ok, what):
    print(("ok: " if ok else "FAILED: ") + what)
    if not ok:
        failures.append(what)


js = open(f"{page}/golem.js", encoding="utf-8").read()
html = open(f"{page}/index.html", encoding="utf-8").read()
css = open(f"{page}/golem.css", encoding="utf-8").read()

# The manifest: JSON, a menu entry.
manifest = json.load(open(f"{page}/manifest.json", encoding="utf-8"))
check("index" in manifest.get("menu", {}) and manifest["menu"]["index"].get("label"),
      f"manifest.json has a menu entry: {manifest.get('menu')}")

# The API as the daemon prints it.
interfaces = {}
for iface in ET.parse(xml_path).getroot().iter("interface"):
    interfaces[iface.get("name")] = {
        "properties": {p.get("name"): (p.get("type"), p.get("access")) for p in iface.iter("property")},
        "methods": {m.get("name"): "".join(a.get("type") for a in m.iter("arg") if a.get("direction") == "in")
                    for m in iface.iter("method")},
    }
manager = interfaces["org.golem.Provider1.Manager"]
vm = interfaces["org.golem.Provider1.VM"]

used = set(re.findall(r"\bmanager\.([A-Z]\w*)", js))
check(used and used <= set(manager["properties"]),
      f"manager properties read by the page exist: {sorted(used)} (unknown: {sorted(used - set(manager['properties']))})")
used = set(re.findall(r"\bvm\.([A-Z]\w*)", js))
check(used and used <= set(vm["properties"]),
      f"VM properties read by the page exist: {sorted(used)} (unknown: {sorted(used - set(vm['properties']))})")

calls = re.findall(r"client\.call\(([^,]+),\s*([^,]+),\s*\"(\w+)\"", js)
for path, iface, method in calls:
    table = {"MANAGER_IFACE": manager, "VM_IFACE": vm}.get(iface.strip())
    if table is None:
        continue
    check(method in table["methods"], f"{iface.strip()}.{method} exists")
for method in re.findall(r'busyCall\(b, vm, "(\w+)"', js):
    check(method in vm["methods"], f"VM_IFACE.{method} exists")
check(any(m == "CreateVM" for _, _, m in calls) and 'type: "sa{sv}"' in js and manager["methods"]["CreateVM"] == "sa{sv}",
      "CreateVM is called with the signature sa{sv}")
for prop in re.findall(r"\"Set\",\s*\[MANAGER_IFACE, \"(\w+)\", cockpit\.variant\(\"(\w+)\"", js):
    t, access = manager["properties"].get(prop[0], (None, None))
    check(access == "readwrite" and t == prop[1], f"property {prop[0]} is written as '{prop[1]}': it is {t}, {access}")

# The CreateVM options and their types, as provider-bus.c parses them.
parsed = dict(re.findall(r'OPTION\("(\w+)", "(\w+)"', open(bus_c, encoding="utf-8").read()))
sent = dict(re.findall(r"options\.(\w+) = cockpit\.variant\(\"(\w+)\"", js))
sent.update(re.findall(r"\{ (\w+): cockpit\.variant\(\"(\w+)\"", js))
check(sent and all(parsed.get(k) == t for k, t in sent.items()),
      f"CreateVM options sent {sent} are parsed by the provider with these types {parsed}")

# Every element the script looks up is in the page.
ids = set(re.findall(r'\bid="([\w-]+)"', html))
looked_up = set(re.findall(r'\$\("([\w-]+)"\)', js))
check(looked_up <= ids, f"the {len(looked_up)} element ids golem.js uses are in index.html (missing: {sorted(looked_up - ids)})")
# Every form control has a label (for the keyboard and screen readers).
controls = re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([\w-]+)"', html)
labelled = set(re.findall(r'<label[^>]*\bfor="([\w-]+)"', html)) | set(re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([\w-]+)"[^>]*aria-label=', html))
radios = set(re.findall(r'<label class="radio"><input[^>]*\bid="([\w-]+)"', html))
check(set(controls) <= labelled | radios, f"every form control has a label (unlabelled: {sorted(set(controls) - labelled - radios)})")

# Nothing from outside the machine, no inline script (Cockpit's content security policy).
check(not re.search(r"(src|href)=\"(https?:)?//", html) and "http://" not in js and "https://" not in js
      and "@import" not in css and "url(" not in css,
      "nothing is loaded from outside the machine")
check(not re.search(r"<script>(?!</script>)|<script(?![^>]*\bsrc=)[^>]*>", html), "no inline scripts")
check("../base1/cockpit.js" in html, "the page uses Cockpit's own cockpit.js")
check("@media" in css, "the style sheet has a narrow-window layout")

node = shutil.which("node") or shutil.which("nodejs")
if node:
    r = subprocess.run([node, "--check", f"{page}/golem.js"], capture_output=True, text=True)
    check(r.returncode == 0, f"node --check golem.js {r.stderr.strip()}")
else:
    print("(node not found: the syntax check is left to the browser of the system test)")

sys.exit(1 if failures else 0)
