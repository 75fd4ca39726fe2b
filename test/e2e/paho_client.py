"""Paho MQTT (Debian python3-paho-mqtt) over WebSockets against the broker: one scenario per run.

Usage: paho_client.py SCENARIO PORT PROTOCOL(4|5) PREFIX
Prints one JSON object with what was observed; exits non-zero on a timeout.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

scenario, port, version, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
PROTOCOL = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
DEADLINE = time.time() + 20


def client(name, will=None):
    kwargs = {"client_id": f"{prefix}-{name}", "protocol": PROTOCOL, "transport": "websockets"}
    if PROTOCOL != mqtt.MQTTv5:
        kwargs["clean_session"] = True
    c = mqtt.Client(**kwargs)
    c.ws_set_options(path="/mqtt")
    if will:
        c.will_set(*will)
    c.received = []
    c.arrived = threading.Event()
    connected = threading.Event()
    c.on_connect = lambda cl, ud, flags, rc, props=None: (cl.__setattr__("rc", int(getattr(rc, "value", rc))), connected.set())
    c.on_message = lambda cl, ud, m: (cl.received.append(
        {"topic": m.topic, "payload": m.payload.decode(), "qos": m.qos, "retain": bool(m.retain)}), cl.arrived.set())
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not connected.wait(10):
        fail(f"{name}: no CONNACK")
    return c


def wait_for(c, count):
    while len(c.received) < count:
        if time.time() > DEADLINE:
            fail(f"received {len(c.received)} of {count}: {c.received}")
        c.arrived.wait(0.1)
        c.arrived.clear()


def subscribe(c, topic, qos):
    done = threading.Event()
    c.on_subscribe = lambda *args: done.set()
    c.subscribe(topic, qos)
    if not done.wait(10):
        fail("no SUBACK")


def fail(message):
    print(json.dumps({"error": message}))
    sys.exit(1)


def qos():
    sub = client("sub")
    subscribe(sub, f"{prefix}/t", 2)
    pub = client("pub")
    for q in (0, 1, 2):
        pub.publish(f"{prefix}/t", f"q{q}", qos=q).wait_for_publish(10)
    wait_for(sub, 3)
    return {"connack": sub.rc, "received": sub.received}


def retained():
    pub = client("pub")
    pub.publish(f"{prefix}/r", "kept", qos=1, retain=True).wait_for_publish(10)
    sub = client("sub")
    subscribe(sub, f"{prefix}/#", 1)
    wait_for(sub, 1)
    return {"received": sub.received}


def will():
    watch = client("watch")
    subscribe(watch, f"{prefix}/will", 1)
    dev = client("dev", will=(f"{prefix}/will", "gone", 1, False))
    dev.socket().close()  # the connection drops without DISCONNECT
    wait_for(watch, 1)
    polite = client("polite", will=(f"{prefix}/will", "polite", 1, False))
    polite.disconnect()
    time.sleep(0.5)
    return {"received": watch.received}


print(json.dumps({"qos": qos, "retained": retained, "will": will}[scenario]()))
sys.stdout.flush()
