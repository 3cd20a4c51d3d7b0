#!/usr/bin/python3
"""A desktop notification server (org.freedesktop.Notifications) for tests.

Chromium on Linux shows web notifications through this D-Bus interface, and a
click on one arrives as the ActionInvoked("default") signal, which Chromium
turns into a real (trusted) `notificationclick` in the service worker. There
is no other way to click a notification in a headless browser.

Protocol: one JSON object per line on stdout for every Notify/Close
({"event": "notify", "id", "summary", "body"}); on stdin, `click <id>` emits
ActionInvoked(id, "default") and `quit` stops.
"""
import json
import sys
import threading

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

IFACE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Server(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, PATH)
        self.next_id = 1
        self.open = {}

    @dbus.service.method(IFACE, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["actions", "body", "persistence"]

    @dbus.service.method(IFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("sipwake-test", "sipwake", "1.0", "1.2")

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):
        nid = int(replaces) or self.next_id
        if not replaces:
            self.next_id += 1
        self.open[nid] = summary
        emit({"event": "notify", "id": nid, "summary": str(summary), "body": str(body),
              "actions": [str(a) for a in actions]})
        return dbus.UInt32(nid)

    @dbus.service.method(IFACE, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        if self.open.pop(int(nid), None) is not None:
            emit({"event": "close", "id": int(nid)})
        self.NotificationClosed(nid, dbus.UInt32(3))

    @dbus.service.signal(IFACE, signature="uu")
    def NotificationClosed(self, nid, reason):
        pass

    @dbus.service.signal(IFACE, signature="us")
    def ActionInvoked(self, nid, action):
        pass


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName(IFACE, bus, do_not_queue=True)
    server = Server(bus)
    loop = GLib.MainLoop()

    def commands():
        for line in sys.stdin:
            parts = line.split()
            if parts[:1] == ["click"] and len(parts) == 2:
                nid = dbus.UInt32(int(parts[1]))
                GLib.idle_add(lambda: (server.ActionInvoked(nid, "default"), False)[1])
            elif parts[:1] == ["quit"]:
                break
        GLib.idle_add(loop.quit)

    threading.Thread(target=commands, daemon=True).start()
    emit({"event": "ready", "name": str(name.get_name())})
    loop.run()


if __name__ == "__main__":
    main()
