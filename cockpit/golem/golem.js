/* SPDX-License-Identifier: MIT */
/* The Golem provider page: speaks only org.golem.Provider1 on the system bus (the manager's
 * properties, its ObjectManager for the VM objects, PropertiesChanged for live updates) and
 * reads a VM's journal with journalctl. Every change is a D-Bus call that the provider checks
 * with polkit; a refusal is shown with the D-Bus error's text. */
"use strict";

(function () {
        const BUS_NAME = "org.golem.Provider1";
        const MANAGER_PATH = "/org/golem/Provider1";
        const MANAGER_IFACE = "org.golem.Provider1.Manager";
        const VM_IFACE = "org.golem.Provider1.VM";
        const NAME_RE = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

        let client = null;
        let manager = null;
        let vms = null;
        let deleting = null;    /* the VM the delete dialog asks about */
        let journalVM = null;   /* the VM the journal dialog shows */
        let busyFocus = null;   /* [VM, action] of a pressed button, which lost the focus when disabled */

        const $ = id => document.getElementById(id);

        function text(id, value) {
                $(id).textContent = value;
        }

        /* ---- errors ---- */

        /* A D-Bus error as the user should read it: its text, and its name for the record. */
        function errorText(ex) {
                if (!ex)
                        return "Unknown error";
                if (ex.name && ex.message)
                        return ex.message + " (" + ex.name + ")";
                if (ex.problem)
                        return cockpit.message(ex);
                return ex.message || String(ex);
        }

        function showAlert(title, ex) {
                text("alert-title", title + ":");
                text("alert-text", errorText(ex));
                $("alert").hidden = false;
        }

        function hideAlert() {
                $("alert").hidden = true;
        }

        function inlineError(id, ex) {
                const e = $(id);
                if (ex) {
                        e.textContent = errorText(ex);
                        e.hidden = false;
                } else {
                        e.textContent = "";
                        e.hidden = true;
                }
        }

        /* ---- formatting ---- */

        function gb(n) {
                return n + " GB";
        }

        function plural(n, one, many) {
                return n + " " + (n === 1 ? one : many);
        }

        function formatTime(usec) {
                if (!usec)
                        return "never";
                return new Date(usec / 1000).toLocaleString();
        }

        /* ---- the manager: identity, advertising, resources ---- */

        /* A bar is made once and then updated in place (an assistive technology or a test
         * that holds it keeps it). */
        function bar(id, label, total, available, unit) {
                const row = $(id);
                const used = Math.max(0, total - available);
                const pct = total > 0 ? Math.round(100 * used / total) : 0;
                if (!row.firstChild) {
                        const head = document.createElement("div");
                        head.className = "bar-label";
                        const name = document.createElement("span");
                        name.textContent = label;
                        head.append(name, document.createElement("span"));
                        const track = document.createElement("div");
                        track.className = "bar-track";
                        track.setAttribute("role", "meter");
                        track.setAttribute("aria-label", label + " in use");
                        track.setAttribute("aria-valuemin", "0");
                        track.append(document.createElement("div"));
                        row.append(head, track);
                }
                const figures = row.querySelector(".bar-label span:last-child");
                const track = row.querySelector(".bar-track");
                const fill = track.firstChild;
                figures.textContent = unit(available) + " free of " + unit(total);
                track.setAttribute("aria-valuemax", String(total));
                track.setAttribute("aria-valuenow", String(used));
                track.setAttribute("aria-valuetext", unit(used) + " of " + unit(total) + " in use");
                fill.className = "bar-fill" + (pct >= 90 ? " bar-full" : "");
                fill.style.width = pct + "%";
        }

        function renderManager() {
                if (!manager.valid) {
                        text("status", "The provider is not running or not reachable on the system bus.");
                        $("advertising").disabled = true;
                        return;
                }
                text("status", "Connected to " + BUS_NAME + ".");
                text("p-name", manager.Name || "(none)");
                text("p-id", manager.ProviderID || "");
                text("p-country", manager.Country || "(not set)");
                text("p-ip", manager.PublicIP || "(unknown)");
                text("p-discovery", manager.DiscoveryURL || "(not set)");
                text("p-last-ad", formatTime(manager.LastAdvertisement));

                const adv = $("advertising");
                adv.disabled = false;
                adv.checked = !!manager.Advertising;
                adv.setAttribute("aria-checked", adv.checked ? "true" : "false");
                text("advertising-text", adv.checked ? "On" : "Off");

                const err = $("p-ad-error");
                err.textContent = manager.AdvertisementError ? "Last advertisement failed: " + manager.AdvertisementError : "";
                err.hidden = !manager.AdvertisementError;

                bar("bar-cpu", "CPU", manager.TotalCPU || 0, manager.AvailableCPU || 0, n => plural(n, "CPU", "CPUs"));
                bar("bar-memory", "Memory", manager.TotalMemory || 0, manager.AvailableMemory || 0, gb);
                bar("bar-storage", "Storage", manager.TotalStorage || 0, manager.AvailableStorage || 0, gb);
        }

        function setAdvertising(on) {
                const adv = $("advertising");
                adv.disabled = true;
                client.call(MANAGER_PATH, "org.freedesktop.DBus.Properties", "Set",
                            [MANAGER_IFACE, "Advertising", cockpit.variant("b", on)])
                                .then(() => hideAlert())
                                .catch(ex => showAlert(on ? "Cannot start advertising" : "Cannot stop advertising", ex))
                                .finally(() => {
                                        /* The switch shows the property, not the click. */
                                        adv.disabled = false;
                                        renderManager();
                                });
        }

        /* ---- the VMs ---- */

        function sortedVMs() {
                return Object.keys(vms).map(path => vms[path])
                                .filter(vm => vm.valid && vm.Name)
                                .sort((a, b) => a.Name.localeCompare(b.Name));
        }

        function vmCall(vm, method, what) {
                return client.call(vm.path, VM_IFACE, method, [])
                                .then(() => hideAlert())
                                .catch(ex => showAlert("Cannot " + what + " VM " + vm.Name, ex));
        }

        function actionButton(label, cls, vm, onclick, enabled) {
                const b = document.createElement("button");
                b.type = "button";
                b.className = "btn " + cls;
                b.textContent = label;
                b.setAttribute("aria-label", label + " VM " + vm.Name);
                b.dataset.action = label.toLowerCase();
                b.disabled = !enabled;
                b.addEventListener("click", () => onclick(b));
                return b;
        }

        function cell(row, label, value, cls) {
                const td = document.createElement("td");
                td.dataset.label = label;
                if (cls)
                        td.className = cls;
                if (value instanceof Node)
                        td.append(value);
                else
                        td.textContent = value;
                row.append(td);
                return td;
        }

        function busyCall(button, vm, method, what) {
                if (document.activeElement === button)
                        busyFocus = [vm.Name, button.dataset.action];
                button.disabled = true;
                vmCall(vm, method, what).finally(() => {
                        /* Made again even when the VM did not change: the button is enabled. */
                        const tr = button.closest("tr");
                        if (tr)
                                tr.dataset.sig = "";
                        renderVMs();
                        busyFocus = null;
                });
        }

        function renderVMs() {
                const list = sortedVMs();
                const body = $("vms-body");
                const focused = document.activeElement;
                const lost = !focused || focused === document.body;
                let refocus = !lost && focused.closest && focused.closest("#vms-body") ?
                        [focused.closest("tr").dataset.vm, focused.dataset.action] : null;
                /* While a pressed button's call runs, the focus returns to it (or, disabled, to
                 * its row's first button that can be pressed: Start after Stop). */
                if (busyFocus && (lost || (refocus && refocus[0] === busyFocus[0])))
                        refocus = busyFocus;

                /* Rows whose VM did not change are kept as they are (and with them a button
                 * that is being pressed); the others are made again. */
                const old = new Map([...body.children].map(tr => [tr.dataset.vm, tr]));
                const rows = [];
                for (const vm of list) {
                        const sig = JSON.stringify([vm.State, vm.IPAddress, vm.SSHPort, vm.CPUs, vm.Memory, vm.Storage,
                                                    vm.Image, vm.Owner, vm.Error]);
                        const kept = old.get(vm.Name);
                        if (kept && kept.dataset.sig === sig) {
                                rows.push(kept);
                                continue;
                        }
                        const row = document.createElement("tr");
                        row.dataset.vm = vm.Name;
                        row.dataset.state = vm.State;
                        row.dataset.sig = sig;

                        const th = document.createElement("th");
                        th.scope = "row";
                        th.dataset.label = "Name";
                        th.textContent = vm.Name;
                        row.append(th);

                        const state = document.createElement("span");
                        state.className = "state state-" + vm.State;
                        state.textContent = vm.State;
                        cell(row, "State", state, "vm-state");
                        cell(row, "IP address", vm.IPAddress || "–", "mono");
                        cell(row, "SSH port", vm.SSHPort ? String(vm.SSHPort) : "–", "mono");
                        cell(row, "Resources", plural(vm.CPUs, "CPU", "CPUs") + ", " + gb(vm.Memory) + " memory, " + gb(vm.Storage) + " storage");
                        cell(row, "Image", vm.Image || "default");
                        cell(row, "Owner", vm.Owner || "–", "mono owner");
                        cell(row, "Error", vm.Error || "–", vm.Error ? "vm-error" : "");

                        const actions = document.createElement("div");
                        actions.className = "row-actions";
                        const s = vm.State;
                        actions.append(
                                actionButton("Start", "btn-secondary", vm, b => busyCall(b, vm, "Start", "start"),
                                             s === "stopped" || s === "error"),
                                actionButton("Stop", "btn-secondary", vm, b => busyCall(b, vm, "Stop", "stop"),
                                             s === "running" || s === "starting"),
                                actionButton("Delete", "btn-danger", vm, () => openDelete(vm), s !== "deleting"),
                                actionButton("Journal", "btn-link", vm, () => openJournal(vm.Name), true));
                        cell(row, "Actions", actions, "actions-cell");
                        rows.push(row);
                }
                if (rows.length !== body.children.length || rows.some((r, i) => body.children[i] !== r))
                        body.replaceChildren(...rows);
                $("vms").hidden = list.length === 0;
                $("vms-empty").hidden = list.length !== 0;
                text("vm-count", "(" + list.length + ")");

                /* A re-render must not lose the keyboard's place. */
                if (refocus && (lost || !document.contains(focused))) {
                        const b = body.querySelector('tr[data-vm="' + CSS.escape(refocus[0]) + '"] button[data-action="' + refocus[1] + '"]');
                        if (b && !b.disabled)
                                b.focus();
                        else if (b)
                                (b.parentNode.querySelector("button:not([disabled])") || $("create-open")).focus();
                        else
                                $("create-open").focus();
                }
        }

        /* ---- create ---- */

        function openCreate() {
                inlineError("create-error", null);
                $("create-submit").disabled = false;
                $("create-dialog").showModal();
                $("create-name").focus();
        }

        function updateSizing() {
                const custom = $("sizing-custom").checked;
                $("size-fields").hidden = custom;
                $("custom-fields").hidden = !custom;
        }

        function positiveInt(id, max, what) {
                const v = Number($(id).value);
                if (!Number.isInteger(v) || v < 1 || v > max)
                        throw new Error(what + " must be a whole number from 1 to " + max);
                return v;
        }

        /* The values the provider validates again; checked here to say so before the call. */
        function createOptions() {
                const name = $("create-name").value.trim();
                if (!NAME_RE.test(name))
                        throw new Error("The name must be 3 to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit");
                const key = $("create-key").value.trim();
                if (!key || key.includes("\n"))
                        throw new Error("Paste one OpenSSH public key line");
                const options = { ssh_key: cockpit.variant("s", key) };
                if ($("sizing-custom").checked) {
                        options.cpu = cockpit.variant("u", positiveInt("create-cpu", 256, "CPUs"));
                        options.memory = cockpit.variant("u", positiveInt("create-memory", 4096, "Memory"));
                        options.storage = cockpit.variant("u", positiveInt("create-storage", 65536, "Storage"));
                } else {
                        options.size = cockpit.variant("s", $("create-size").value);
                }
                const image = $("create-image").value.trim();
                if (image)
                        options.image = cockpit.variant("s", image);
                return [name, options];
        }

        function submitCreate(ev) {
                ev.preventDefault();
                let args;
                try {
                        args = createOptions();
                } catch (ex) {
                        inlineError("create-error", ex);
                        return;
                }
                inlineError("create-error", null);
                $("create-submit").disabled = true;
                text("status", "Creating VM " + args[0] + "…");
                /* The call returns once the VM runs (or failed to); the list follows the
                 * signals meanwhile, so the dialog closes as soon as the provider accepted. */
                const call = client.call(MANAGER_PATH, MANAGER_IFACE, "CreateVM", args, { type: "sa{sv}" });
                let closed = false;
                const closeOnce = () => {
                        if (!closed) {
                                closed = true;
                                $("create-dialog").close();
                                $("create-form").reset();
                                updateSizing();
                        }
                };
                const seen = () => sortedVMs().some(vm => vm.Name === args[0]);
                const onAdded = () => {
                        if (seen())
                                closeOnce();
                };
                vms.addEventListener("added", onAdded);
                call.then(() => {
                        closeOnce();
                        hideAlert();
                }).catch(ex => {
                        if (closed)
                                showAlert("Cannot create VM " + args[0], ex);
                        else
                                inlineError("create-error", ex);
                }).finally(() => {
                        vms.removeEventListener("added", onAdded);
                        $("create-submit").disabled = false;
                        renderManager();
                });
        }

        function pickKey() {
                const f = $("create-key-file").files[0];
                if (!f)
                        return;
                if (f.size > 16384) {
                        inlineError("create-error", new Error("That file is too large for a public key"));
                        return;
                }
                f.text().then(t => {
                        $("create-key").value = t.trim();
                        inlineError("create-error", null);
                });
        }

        /* ---- delete ---- */

        function openDelete(vm) {
                deleting = vm;
                text("delete-name", vm.Name);
                inlineError("delete-error", null);
                $("delete-confirm").disabled = false;
                $("delete-dialog").showModal();
                /* The safe choice has the focus. */
                $("delete-cancel").focus();
        }

        function submitDelete(ev) {
                ev.preventDefault();
                const vm = deleting;
                if (!vm)
                        return;
                $("delete-confirm").disabled = true;
                client.call(vm.path, VM_IFACE, "Delete", [])
                                .then(() => {
                                        $("delete-dialog").close();
                                        hideAlert();
                                        $("create-open").focus();
                                })
                                .catch(ex => inlineError("delete-error", ex))
                                .finally(() => {
                                        $("delete-confirm").disabled = false;
                                });
        }

        /* ---- journal ---- */

        /* The units of a VM: golem-vm-NAME.service and golem-vm-NAME-*.{service,socket}; not
         * those of a VM whose name starts with NAME-. */
        function vmUnits(name, units) {
                const known = new Set(units.filter(u => u));
                const own = new RegExp("^golem-vm-" + name + "(-(launch|start|stop|delete|info|keys|ssh)[^.]*)?\\.(service|socket)$");
                return [...known].filter(u => own.test(u)).sort();
        }

        function loadJournal() {
                const name = journalVM;
                const pre = $("journal-text");
                pre.textContent = "Loading…";
                const opts = { superuser: "try", err: "message" };
                /* The unit names the journal knows of, so that the matches are exact. */
                Promise.all([
                        cockpit.spawn(["journalctl", "--no-pager", "-F", "_SYSTEMD_UNIT"], opts),
                        cockpit.spawn(["journalctl", "--no-pager", "-F", "UNIT"], opts),
                ]).then(([a, b]) => {
                        const units = vmUnits(name, (a + "\n" + b).split("\n"));
                        text("journal-units", units.length ? units.join(", ") : "golem-vm-" + name + "*");
                        const argv = ["journalctl", "--no-pager", "-o", "short-iso", "-n", "300", "GOLEM_VM=" + name];
                        for (const u of units)
                                argv.push("+", "_SYSTEMD_UNIT=" + u, "+", "UNIT=" + u);
                        return cockpit.spawn(argv, opts);
                }).then(out => {
                        pre.textContent = out.trim() || "No entries (reading the system journal needs membership of the group systemd-journal or adm, or administrative access).";
                        pre.scrollTop = pre.scrollHeight;
                }).catch(ex => {
                        pre.textContent = "Cannot read the journal: " + errorText(ex);
                });
        }

        function openJournal(name) {
                journalVM = name;
                text("journal-name", name);
                text("journal-field", "GOLEM_VM=" + name);
                text("journal-units", "golem-vm-" + name + "*");
                $("journal-dialog").showModal();
                $("journal-close").focus();
                loadJournal();
        }

        /* ---- wiring ---- */

        function connect() {
                client = cockpit.dbus(BUS_NAME, { bus: "system", superuser: "try" });
                client.addEventListener("close", (ev, options) => {
                        text("status", "Disconnected from the system bus: " + cockpit.message(options));
                });
                client.addEventListener("owner", (ev, owner) => {
                        if (owner === null)
                                text("status", "The provider is not running (it starts on the next request).");
                });

                manager = client.proxy(MANAGER_IFACE, MANAGER_PATH);
                manager.addEventListener("changed", renderManager);
                manager.wait(renderManager);

                /* The VM objects below the manager: the provider has an ObjectManager there, so
                 * objects arrive and leave with InterfacesAdded/Removed, and their properties
                 * follow PropertiesChanged. */
                vms = client.proxies(VM_IFACE, MANAGER_PATH);
                for (const ev of ["added", "changed", "removed"])
                        vms.addEventListener(ev, renderVMs);
                vms.wait(renderVMs);
        }

        function init() {
                $("alert-close").addEventListener("click", hideAlert);
                $("advertising").addEventListener("change", ev => setAdvertising(ev.target.checked));
                $("create-open").addEventListener("click", openCreate);
                $("create-form").addEventListener("submit", submitCreate);
                $("create-cancel").addEventListener("click", () => $("create-dialog").close());
                $("sizing-size").addEventListener("change", updateSizing);
                $("sizing-custom").addEventListener("change", updateSizing);
                $("create-key-file").addEventListener("change", pickKey);
                $("delete-form").addEventListener("submit", submitDelete);
                $("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
                $("journal-refresh").addEventListener("click", loadJournal);
                $("journal-close").addEventListener("click", () => $("journal-dialog").close());
                $("delete-dialog").addEventListener("close", () => {
                        deleting = null;
                });
                updateSizing();
                connect();
                document.body.dataset.ready = "1";
        }

        document.addEventListener("DOMContentLoaded", init);
}());
