/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The MicroVMs page of Cockpit: the logged-in user's VMs, live, from microvmd's D-Bus
 * API (org.microvm.Manager on the system bus), called as that user, so polkit decides
 * exactly as for microvm-client. No polling: the list follows the ObjectManager and
 * PropertiesChanged signals.
 */
"use strict";

const BUS_NAME = "org.microvm.Manager";
const MANAGER_PATH = "/org/microvm/Manager";
const MANAGER_IFACE = "org.microvm.Manager";
const VM_IFACE = "org.microvm.Manager.VM";
/* A stop waits for the guest to power off (up to microvmd's StopTimeoutSec). */
const LONG_CALL_MSEC = 10 * 60 * 1000;

let client = null;
let vms = null;         /* proxies of org.microvm.Manager.VM, by object path */
let manager = null;
let myUid = null;
let detailsPath = null;

function $(id) {
    return document.getElementById(id);
}

/* Plain words for what microvmd or polkit said. */
function describeError(error) {
    const name = error && error.name ? error.name : "";
    const message = error && error.message ? error.message : String(error);
    if (name === "org.microvm.Error.NotAuthorized" ||
        name === "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" ||
        name === "org.freedesktop.DBus.Error.AccessDenied")
        return "Not allowed: " + message + " Ask an administrator (you may need to be in the group microvm).";
    if (error && error.problem === "not-found")
        return "microvmd is not installed or not running.";
    return message;
}

function showError(error) {
    $("error-text").textContent = describeError(error);
    $("error").hidden = false;
}

function clearError() {
    $("error").hidden = true;
}

function formatSize(proxy) {
    const memory = proxy.MemoryMiB >= 1024 && proxy.MemoryMiB % 1024 === 0
        ? (proxy.MemoryMiB / 1024) + " GiB" : proxy.MemoryMiB + " MiB";
    return proxy.VCPUs + " vCPU" + (proxy.VCPUs === 1 ? "" : "s") + ", " + memory;
}

function call(path, iface, method, args, options) {
    clearError();
    return client.call(path, iface, method, args, options).catch(showError);
}

function actionButton(label, className, handler, enabled) {
    const button = document.createElement("button");
    button.className = "pf-c-button pf-m-secondary pf-m-small " + className;
    button.textContent = label;
    button.disabled = !enabled;
    button.addEventListener("click", handler);
    return button;
}

function cell(label, className, content) {
    const td = document.createElement("td");
    td.className = className;
    td.dataset.label = label;
    if (content instanceof Node)
        td.appendChild(content);
    else
        td.textContent = content;
    return td;
}

function mine(proxy) {
    return proxy && proxy.valid !== false && proxy.Name && proxy.Owner === myUid;
}

function renderRow(path, proxy) {
    const state = proxy.State;
    const running = state === "running" || state === "starting";
    const tr = document.createElement("tr");
    tr.dataset.vm = proxy.Name;

    const name = document.createElement("button");
    name.className = "microvm-name";
    name.textContent = proxy.Name;
    name.addEventListener("click", () => showDetails(path));
    tr.appendChild(cell("Name", "name", name));
    tr.appendChild(cell("State", "state", state));
    tr.appendChild(cell("Address", "address", proxy.IPAddress || "\u2014"));
    tr.appendChild(cell("Size", "size", formatSize(proxy)));
    tr.appendChild(cell("Ready", "ready", state === "running" ? (proxy.Ready ? "yes" : "booting") : "\u2014"));

    const actions = document.createElement("div");
    actions.className = "microvm-actions";
    actions.appendChild(actionButton("Start", "start",
        () => call(path, VM_IFACE, "Start", [{}], { timeout: LONG_CALL_MSEC }),
        state === "stopped" || state === "failed"));
    actions.appendChild(actionButton("Stop", "stop",
        () => call(path, VM_IFACE, "Stop", [{}], { timeout: LONG_CALL_MSEC }), running));
    actions.appendChild(actionButton("Restart", "restart",
        () => call(path, VM_IFACE, "Restart", [{}], { timeout: LONG_CALL_MSEC }), state === "running"));
    actions.appendChild(actionButton("Delete", "delete", () => confirmDelete(path, proxy.Name),
        state === "stopped" || state === "failed"));
    tr.appendChild(cell("", "actions", actions));
    return tr;
}

function render() {
    const body = $("vms");
    const rows = [];
    for (const path of Object.keys(vms || {}).sort()) {
        const proxy = vms[path];
        if (mine(proxy))
            rows.push(renderRow(path, proxy));
    }
    rows.sort((a, b) => a.dataset.vm.localeCompare(b.dataset.vm));
    body.replaceChildren(...rows);
    $("empty").hidden = rows.length > 0;
    if (detailsPath)
        renderDetails();
}

function confirmDelete(path, name) {
    $("confirm-title").textContent = "Delete " + name + "?";
    $("confirm-text").textContent = "The VM and its definition are removed. Its workspace directory " +
        "is kept unless you remove it too.";
    const remove = document.createElement("label");
    remove.innerHTML = '<input type="checkbox" id="confirm-remove-files"> Also remove the workspace';
    $("confirm-text").appendChild(document.createElement("br"));
    $("confirm-text").appendChild(remove);
    $("confirm").hidden = false;
    $("confirm-yes").onclick = () => {
        const removeFiles = $("confirm-remove-files").checked;
        $("confirm").hidden = true;
        if (detailsPath === path)
            closeDetails();
        call(path, VM_IFACE, "Delete", [{ "remove-files": { t: "b", v: removeFiles } }]);
    };
    $("confirm-no").onclick = () => {
        $("confirm").hidden = true;
    };
}

function field(list, label, value) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    list.append(dt, dd);
}

function renderDetails() {
    const proxy = vms[detailsPath];
    if (!mine(proxy)) {
        closeDetails();
        return;
    }
    const list = $("details-fields");
    list.replaceChildren();
    $("details-name").textContent = proxy.Name;
    field(list, "State", proxy.State + (proxy.FailureReason ? " (" + proxy.FailureReason + ")" : ""));
    field(list, "Ready", proxy.Ready ? "yes" : "no");
    field(list, "Address", (proxy.IPAddress || "\u2014") + (proxy.MACAddress ? " (" + proxy.MACAddress + ")" : ""));
    field(list, "Egress", proxy.Egress || "\u2014");
    field(list, "Hypervisor", proxy.Hypervisor || "\u2014");
    field(list, "Size", formatSize(proxy) + (proxy.VolumeGiB ? ", " + proxy.VolumeGiB + " GiB volume" : ""));
    field(list, "Workspace", proxy.Workspace);
    field(list, "Unit", proxy.Unit);
    field(list, "Main PID", proxy.MainPID ? String(proxy.MainPID) : "\u2014");
    field(list, "Started", proxy.StartedAt ? new Date(proxy.StartedAt / 1000).toLocaleString() : "\u2014");
    field(list, "Created", new Date(proxy.CreatedAt / 1000).toLocaleString());
    field(list, "Autostart", proxy.Autostart ? "yes" : "no");
}

/* The last lines of the VM's log, through microvm-client as the user (GetLogs hands
 * over a file descriptor, which Cockpit's D-Bus channel cannot carry). */
function loadLog(name) {
    $("details-log").textContent = "Loading\u2026";
    cockpit.spawn(["microvm-client", "--no-ask-password", "logs", name, "-n", "40"], { err: "message" })
        .then(text => {
            $("details-log").textContent = text || "(empty)";
        })
        .catch(error => {
            $("details-log").textContent = "Cannot read the log: " + (error.message || error);
        });
}

function showDetails(path) {
    detailsPath = path;
    $("details").hidden = false;
    renderDetails();
    loadLog(vms[path].Name);
}

function closeDetails() {
    detailsPath = null;
    $("details").hidden = true;
}

function setupCreateForm() {
    $("create-open").addEventListener("click", () => {
        $("create-form").hidden = false;
        if (manager && manager.valid) {
            $("create-vcpus").value = manager.DefaultVCPUs;
            $("create-vcpus").max = manager.MaxVCPUs;
            $("create-memory").value = manager.DefaultMemoryMiB;
            $("create-memory").max = manager.MaxMemoryMiB;
        }
        $("create-name").focus();
    });
    $("create-cancel").addEventListener("click", () => {
        $("create-form").hidden = true;
    });
    $("create-form").addEventListener("submit", event => {
        event.preventDefault();
        const options = {};
        const vcpus = parseInt($("create-vcpus").value, 10);
        const memory = parseInt($("create-memory").value, 10);
        const keys = $("create-keys").value.split("\n").map(k => k.trim()).filter(k => k.length > 0);
        if (vcpus > 0)
            options.vcpus = { t: "u", v: vcpus };
        if (memory > 0)
            options["memory-mib"] = { t: "t", v: memory };
        if (keys.length > 0)
            options["authorized-keys"] = { t: "as", v: keys };
        call(MANAGER_PATH, MANAGER_IFACE, "CreateWorkspace", [$("create-name").value, options])
            .then(result => {
                if (result) {
                    $("create-form").hidden = true;
                    $("create-name").value = "";
                }
            });
    });
}

function init() {
    $("error-close").addEventListener("click", clearError);
    $("details-close").addEventListener("click", closeDetails);
    setupCreateForm();

    client = cockpit.dbus(BUS_NAME, { bus: "system" });
    client.addEventListener("close", (event, options) => {
        if (options.problem)
            $("unavailable").hidden = false;
    });
    manager = client.proxy(MANAGER_IFACE, MANAGER_PATH);
    manager.wait().catch(() => {
        $("unavailable").hidden = false;
    });

    cockpit.user().then(user => {
        myUid = user.id;
        vms = client.proxies(VM_IFACE, MANAGER_PATH);
        vms.addEventListener("added", render);
        vms.addEventListener("changed", render);
        vms.addEventListener("removed", render);
        vms.wait(render);
    });
    cockpit.transport.wait(() => document.body.classList.add("microvm-ready"));
}

document.addEventListener("DOMContentLoaded", init);
