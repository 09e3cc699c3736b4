"""Sends what the compat test expects through statsd.StatsClient (UDP): python statsd_client.py HOST PORT."""
import random
import sys

import statsd

# Sampled calls are sent only when random.random() <= rate: always send them, so the
# test knows exactly what arrives.
random.random = lambda: 0.0

host, port = sys.argv[1], int(sys.argv[2])
client = statsd.StatsClient(host, port, prefix="app")

client.incr("requests")                      # app.requests:1|c
client.incr("requests", 5)                   # app.requests:5|c
client.incr("requests", rate=0.5)            # app.requests:1|c|@0.5
client.decr("requests")                      # app.requests:-1|c (refused)
client.gauge("queue.depth", 10)              # app.queue.depth:10|g
client.gauge("queue.depth", 3, delta=True)   # app.queue.depth:+3|g
client.gauge("queue.depth", -1, delta=True)  # app.queue.depth:-1|g
client.gauge("temperature", -4)              # app.temperature:0|g + app.temperature:-4|g
client.timing("db.query", 250)               # app.db.query:250.000000|ms
client.timing("db.query", 3.5, rate=0.5)     # app.db.query:3.500000|ms|@0.5
with client.timer("handler"):                # app.handler:0.00xxxx|ms
    pass
client.set("users", "alice")                 # app.users:alice|s
client.set("users", "bob")
client.set("users", "alice")
with client.pipeline() as pipe:              # one datagram of four lines
    pipe.incr("pipelined")
    pipe.incr("pipelined", 2)
    pipe.timing("db.query", 1)
    pipe.gauge("queue.depth", 1, delta=True)
print("sent")
