#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Drives the Golem Cockpit page in headless Chromium (Debian's chromium, chromium-driver and
python3-selenium), as tests/system/run's check "Cockpit page" does: in the network namespace of
the system test's container, against the Cockpit there.

    cockpit-page.py manage  URL USER PASSWORD SCREENSHOT_DIR VM SSH_KEY
    cockpit-page.py refused URL USER PASSWORD SCREENSHOT_DIR VM SSH_KEY

manage: logs in, opens the page, creates VM through the dialog (submitted with the keyboard),
sees it become running without a reload, stops it, starts it, reads its journal, deletes it
(after the confirmation), toggles advertising off and on, and shows the page at phone width.
refused: a user polkit does not allow: creating and toggling advertising are refused, and the
page says so with the provider's D-Bus error text.

Prints "ok: ..." per step and "screenshot: PATH" per screenshot; "advertising: on|off" for each
state it set, which the caller compares with the provider's property. Exit status 0 when every
step passed.
"""

import os
import sys
import tempfile
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

mode, url, user, password, shots, vm, ssh_key = sys.argv[1:8]
os.makedirs(shots, exist_ok=True)
prefix = "refused" if mode == "refused" else "manage"
shot_no = 0


def shot(name):
    global shot_no
    shot_no += 1
    path = os.path.join(shots, f"{prefix}-{shot_no:02d}-{name}.png")
    driver.save_screenshot(path)
    print(f"screenshot: {path}", flush=True)


def ok(what):
    print(f"ok: {what}", flush=True)


def fail(what):
    print(f"FAILED: {what}", flush=True)
    try:
        shot("failure")
        alert = driver.find_element(By.ID, "alert")
        if alert.is_displayed():
            print(f"    the page's alert: {alert.text}")
        for entry in driver.get_log("browser")[-10:]:
            print(f"    console: {entry['level']} {entry['message']}")
    except Exception as e:  # the report of a failure must not hide it
        print(f"    (no more details: {e})")
    driver.quit()
    sys.exit(1)


def wait(what, cond, timeout=60):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: cond())
    except TimeoutException:
        fail(f"timed out after {timeout} s waiting for {what}")


def by_id(i):
    return driver.find_element(By.ID, i)


def row():
    rows = driver.find_elements(By.CSS_SELECTOR, f'#vms-body tr[data-vm="{vm}"]')
    return rows[0] if rows else None


def state():
    # In one step: the page makes a row again when its VM changes.
    return driver.execute_script("const r = document.querySelector(arguments[0]); return r ? r.dataset.state : null;",
                                 f'#vms-body tr[data-vm="{vm}"]')


def press(action, key=None):
    """Presses the row's button (with KEY, or a click), looked up again should it be made again."""
    for _ in range(10):
        try:
            b = row().find_element(By.CSS_SELECTOR, f'button[data-action="{action}"]')
            if not b.is_enabled():
                fail(f"the {action} button is disabled in state {state()}")
            if key:
                b.send_keys(key)
            else:
                b.click()
            return
        except StaleElementReferenceException:
            continue
    fail(f"the {action} button kept being replaced")


def alert_text():
    a = by_id("alert")
    return a.find_element(By.TAG_NAME, "p").text if a.is_displayed() else ""


def refusal(text):
    """The provider's polkit refusal, as the page shows it: the D-Bus error's text and name."""
    return ("Access denied by polkit." in text and "org.freedesktop.DBus.Error.AccessDenied" in text) or \
           ("Interactive authentication required." in text and "InteractiveAuthorizationRequired" in text)


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
          "--window-size=1280,800", "--no-first-run", "--disable-extensions",
          f"--user-data-dir={tempfile.mkdtemp(prefix='golem-chromium-')}"):
    options.add_argument(a)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def viewport(width, height):
    """Makes the page's viewport (not the window with its frame) width x height."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])
    wait(f"a {width}x{height} viewport",
         lambda: driver.execute_script("return [window.innerWidth, window.innerHeight];") == [width, height], 10)


viewport(1280, 800)

# ---- log in through Cockpit's login page, then open the page ----
# Cockpit answers the page's address with its login page, and loads the page after the login.
page = url.rstrip("/") + "/cockpit/@localhost/golem/index.html"
driver.get(page)
wait("Cockpit's login page", lambda: driver.find_elements(By.ID, "login-user-input")
     and by_id("login-user-input").is_displayed() and by_id("login-user-input").is_enabled())
by_id("login-user-input").send_keys(user)
by_id("login-password-input").send_keys(password)
shot("login")
by_id("login-button").click()
wait("the login", lambda: driver.find_elements(By.ID, "status"), 30)
ok(f"logged in to Cockpit as {user}, the page loaded: {driver.current_url}")
wait("the page to connect to the provider", lambda: by_id("status").text.startswith("Connected"), 60)
wait("the provider's identity", lambda: by_id("p-id").text != "", 30)
# A marker a reload would lose: every change below must arrive without one.
driver.execute_script("window.golemNoReload = true;")
ok(f"page open: {by_id('status').text} identity {by_id('p-id').text[:40]}..., country "
   f"'{by_id('p-country').text}', discovery '{by_id('p-discovery').text}'")
bars = driver.find_elements(By.CSS_SELECTOR, ".bar-track[role=meter]")
if len(bars) != 3:
    fail(f"{len(bars)} resource bars, not 3")
ok("resource bars: " + "; ".join(b.get_attribute("aria-label") + " " + b.get_attribute("aria-valuetext") for b in bars))
shot("page")


def set_advertising(on):
    sw = by_id("advertising")
    if sw.is_selected() == on:
        return
    # The switch is a real checkbox: the keyboard's space toggles it.
    sw.send_keys(Keys.SPACE)


def open_create(key=None):
    # The keyboard: Enter on the button opens the dialog, which has the focus on its first field.
    by_id("create-open").send_keys(Keys.ENTER)
    wait("the create dialog", lambda: by_id("create-dialog").is_displayed(), 10)
    if driver.switch_to.active_element != by_id("create-name"):
        fail("the create dialog did not put the focus on the name field")
    for field, value in (("create-name", vm), ("create-key", key or ssh_key)):
        by_id(field).clear()
        by_id(field).send_keys(value)


if mode == "refused":
    adv_before = by_id("advertising").is_selected()
    print(f"advertising: {'on' if adv_before else 'off'}")
    vms_before = len(driver.find_elements(By.CSS_SELECTOR, "#vms-body tr"))
    open_create()
    # Enter in a text field submits the form.
    by_id("create-name").send_keys(Keys.ENTER)
    wait("the refusal in the create dialog", lambda: by_id("create-error").is_displayed(), 60)
    text = by_id("create-error").text
    shot("create-refused")
    if not refusal(text):
        fail(f"the create dialog says '{text}', not the provider's polkit refusal")
    ok(f"create refused, the dialog says: {text}")
    by_id("create-cancel").click()
    set_advertising(not adv_before)
    wait("the refusal of the advertising switch", lambda: alert_text() != "", 60)
    text = alert_text()
    if not refusal(text):
        fail(f"the alert says '{text}', not the provider's polkit refusal")
    wait("the switch to show the property again", lambda: by_id("advertising").is_selected() == adv_before
         and by_id("advertising").is_enabled(), 10)
    shot("advertising-refused")
    ok(f"advertising switch refused and back at {'on' if adv_before else 'off'}; the page says: {text}")
    if row() is not None or len(driver.find_elements(By.CSS_SELECTOR, "#vms-body tr")) != vms_before:
        fail("the VM list changed")
    ok(f"the VM list is as before ({vms_before} VMs)")
    driver.quit()
    sys.exit(0)

# ---- manage: create, watch it run, stop, start, journal, delete ----
if row() is not None:
    fail(f"VM {vm} exists before the test")
def cpu_used():
    return int(driver.execute_script("return document.querySelector('#bar-cpu [role=meter]').getAttribute('aria-valuenow');"))


# A key the provider refuses: its D-Bus error's text in the dialog, which stays open.
open_create("ssh-ed25519 not-a-key")
by_id("create-name").send_keys(Keys.ENTER)
wait("the provider's answer in the create dialog", lambda: by_id("create-error").is_displayed(), 30)
text = by_id("create-error").text
if "ssh_key must be one OpenSSH public key line" not in text or "org.freedesktop.DBus.Error.InvalidArgs" not in text:
    fail(f"the create dialog says '{text}' for a bad key")
shot("create-bad-key")
ok(f"a bad key: the dialog stays open and says: {text}")
# Escape closes a dialog.
by_id("create-key").send_keys(Keys.ESCAPE)
wait("the create dialog to close on Escape", lambda: not by_id("create-dialog").is_displayed(), 10)

# Now with CPUs, memory and storage instead of a size.
cpu_before = cpu_used()
open_create()
by_id("sizing-custom").send_keys(Keys.SPACE)
for field, value in (("create-cpu", "2"), ("create-memory", "2"), ("create-storage", "20")):
    by_id(field).clear()
    by_id(field).send_keys(value)
shot("create-dialog")
t0 = time.monotonic()
by_id("create-name").send_keys(Keys.ENTER)
wait("the VM in the list", lambda: row() is not None, 60)
seen = []
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    s = state()
    if s and (not seen or seen[-1] != s):
        seen.append(s)
        if s == "creating":
            shot("creating")
    if s in ("running", "error"):
        break
    time.sleep(0.1)
if seen[-1:] != ["running"]:
    fail(f"VM {vm} states seen: {seen}")
if by_id("create-dialog").is_displayed():
    fail("the create dialog is still open")
t_run = time.monotonic() - t0
cells = driver.execute_script("""const r = document.querySelector(arguments[0]), o = {};
                                 for (const td of r.querySelectorAll("td[data-label]")) o[td.dataset.label] = td.innerText;
                                 return o;""", f'#vms-body tr[data-vm="{vm}"]')
ok(f"VM {vm} went {' -> '.join(seen)} in {t_run:.1f} s without a reload: IP {cells.get('IP address')}, "
   f"SSH port {cells.get('SSH port')}, {cells.get('Resources')}, image {cells.get('Image')}, owner {cells.get('Owner')}")
if cells.get("SSH port") in (None, "", "–"):
    fail("no SSH port shown")
if cells.get("Resources") != "2 CPUs, 2 GB memory, 20 GB storage":
    fail(f"the VM has {cells.get('Resources')}, not the 2 CPUs, 2 GB memory, 20 GB storage asked for")
cpus = int(cells.get("Resources", "0").split()[0])
wait("the CPUs in use to follow", lambda: cpu_used() == cpu_before + cpus, 10)
ok("resources followed: CPU " + driver.execute_script("return document.querySelector('#bar-cpu [role=meter]').getAttribute('aria-valuetext');"))
shot("running")

# Phone width: one column, the VM as a card, nothing wider than the window.
viewport(390, 844)
over = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
driver.execute_script("document.getElementById('vms-heading').scrollIntoView();")
shot("phone")
if over[0] > over[1]:
    fail(f"at phone width the page is {over[0]} px wide in a {over[1]} px window")
if driver.execute_script("return document.querySelector(arguments[0]).getBoundingClientRect().right;",
                         f'#vms-body tr[data-vm="{vm}"] button[data-action="delete"]') > over[1]:
    fail("at phone width the VM's buttons are outside the window")
ok(f"phone width: the page fits its {over[1]} px window, the VM is a card with its buttons in view")
driver.execute_script("window.scrollTo(0, 0);")
viewport(1280, 800)

# Stop and start: the row follows the provider's PropertiesChanged.
for action, want in (("stop", "stopped"), ("start", "running")):
    t0 = time.monotonic()
    press(action, Keys.ENTER)
    wait(f"{vm} {want}", lambda: state() == want, 120)
    # The keyboard's place: still in the VM's row, on a button that can be pressed.
    wait("the focus back on a button of the row", lambda: driver.execute_script(
        "const a = document.activeElement, tr = a && a.closest('tr');"
        "return a.tagName == 'BUTTON' && !a.disabled && tr && tr.dataset.vm == arguments[0];", vm), 10)
    focus = driver.execute_script("return document.activeElement.dataset.action;")
    ok(f"{action}: {vm} {want} after {time.monotonic() - t0:.1f} s; the focus is on its {focus} button")
    shot(want if action == "stop" else "started")

# The journal: the provider's entries with GOLEM_VM= and the VM's units.
press("journal")
wait("the journal dialog", lambda: by_id("journal-dialog").is_displayed(), 10)
wait("the journal's entries", lambda: by_id("journal-text").text not in ("", "Loading…"), 30)
journal = by_id("journal-text").text
if f"VM {vm} is running" not in journal or "golem-providerd" not in journal or f"golem-vm-{vm}-" not in journal:
    fail(f"the journal lacks the provider's entries for {vm} or its units' entries: {journal[:300]}")
ok(f"journal of {vm} ({by_id('journal-units').text}): {len(journal.splitlines())} lines, the last: "
   f"{journal.splitlines()[-1][:120]}")
shot("journal")
by_id("journal-text").send_keys(Keys.ESCAPE)
wait("the journal dialog to close", lambda: not by_id("journal-dialog").is_displayed(), 10)

# Delete, after the confirmation (whose focus starts on Cancel).
press("delete")
wait("the delete confirmation", lambda: by_id("delete-dialog").is_displayed(), 10)
if driver.switch_to.active_element != by_id("delete-cancel"):
    fail("the delete confirmation does not put the focus on Cancel")
shot("delete-confirm")
t0 = time.monotonic()
by_id("delete-confirm").click()
wait(f"{vm} to leave the list", lambda: row() is None, 120)
wait("the delete dialog to close", lambda: not by_id("delete-dialog").is_displayed(), 30)
ok(f"deleted after the confirmation: {vm} left the list after {time.monotonic() - t0:.1f} s")
shot("deleted")

# Advertising off and on again.
for on in (not by_id("advertising").is_selected(), by_id("advertising").is_selected()):
    set_advertising(on)
    wait(f"advertising {on}", lambda: by_id("advertising").is_selected() == on and by_id("advertising").is_enabled()
         and by_id("advertising-text").text == ("On" if on else "Off"), 30)
    if alert_text():
        fail(f"the page shows an error: {alert_text()}")
    print(f"advertising: {'on' if on else 'off'}", flush=True)
    ok(f"advertising switched {'on' if on else 'off'} (keyboard: space on the switch)")
    shot("advertising-" + ("on" if on else "off"))

if not driver.execute_script("return window.golemNoReload === true;"):
    fail("the page was reloaded")
ok("no reload from the login to here")

driver.quit()
