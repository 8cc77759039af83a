#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compares an interface file with the live introspection of an object.

    compare-introspection.py INTERFACE_FILE LIVE_XML_FILE

For every interface in INTERFACE_FILE: the same methods with the same arguments
(name, type, direction, in order), the same signals, and the same properties (type,
access and org.freedesktop.DBus.Property.EmitsChangedSignal, "true" when absent), in
the live XML. Prints the differences; exit status 1 when there is one.
"""
import sys
import xml.etree.ElementTree as ET

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


def describe(interface):
    members = {}
    for kind in ("method", "signal"):
        for m in interface.findall(kind):
            args = tuple((a.get("name"), a.get("type"), a.get("direction", "out" if kind == "signal" else "in"))
                         for a in m.findall("arg"))
            members[f"{kind} {m.get('name')}"] = args
    for p in interface.findall("property"):
        emits = "true"
        for a in p.findall("annotation"):
            if a.get("name") == EMITS:
                emits = a.get("value")
        members[f"property {p.get('name')}"] = (p.get("type"), p.get("access"), emits)
    return members


def main():
    wanted = ET.parse(sys.argv[1]).getroot()
    live = ET.parse(sys.argv[2]).getroot()
    live_interfaces = {i.get("name"): i for i in live.findall("interface")}
    problems = []
    for interface in wanted.findall("interface"):
        name = interface.get("name")
        if name not in live_interfaces:
            problems.append(f"{name}: not in the live introspection")
            continue
        want, have = describe(interface), describe(live_interfaces[name])
        for key in sorted(set(want) | set(have)):
            if key not in have:
                problems.append(f"{name}: {key} is in the file, not live")
            elif key not in want:
                problems.append(f"{name}: {key} is live, not in the file")
            elif want[key] != have[key]:
                problems.append(f"{name}: {key}: file {want[key]}, live {have[key]}")
        print(f"{name}: {len(want)} members compared")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
