#!/usr/bin/env python3
"""The original design's search_server.py (the 2016 post "A Python microservice stack"),
restored to its own service registration, run by the tests under `tern up` with
`register = "self"`: it picks its port at random, registers itself with py-consul as
`search-service` / `search-service-PORT` with a TCP check of ":PORT", and deregisters on
Ctrl-C. Starting point: the seed server of the baseline benchmark
(/work/shared/bench/seed-baseline/server_seed.py), which had the registration removed.

Usage: search_server_original.py      (no arguments, as the original)

Deviations from the post, all deliberate (only the port and the database settings, plus
what no longer runs on today's libraries, as in the seed server):
  * grpc.server(ThreadPoolExecutor(8)) + search_pb2_grpc.add_SearchServicer_to_server
    instead of the removed beta API search_pb2.beta_create_Search_server (as the seed).
    search_pb2 / search_pb2_grpc are generated from proto/search.proto by the test (grpcio-
    tools) and found through PYTHONPATH.
  * Port: random.randint(50000, 59000) as in the post, but a port that is taken is drawn
    again (up to 20 times) instead of failing: two replicas on one machine may draw the same
    one. It listens on 127.0.0.1, the address it registers (the post's address argument is
    the host's address; 127.0.0.1 is where tern's replicas run).
  * The registry: consul.Consul() as in the post; py-consul reads CONSUL_HTTP_ADDR, which
    `tern up` sets to its registry, so no address is written here.
  * Database: the models module is search_models.py next to this file (the post's
    models.py, minimally adapted as the seed's: DSN from $SEARCH_DSN, psycopg2 named,
    MULTIPOLYGON column, a scoped_session per worker thread).
  * BUG FIX kept from the seed: WKT is POINT(lng lat); the post wrote POINT(lat lng).
  * Log level from $SEED_LOG_LEVEL (default WARNING), as the seed server.
"""
import logging
import os
import random
import sys
import time
from concurrent import futures

import consul
import grpc

import search_pb2
import search_pb2_grpc
from search_models import Thing, func, session

log = logging.getLogger()
log.setLevel(os.environ.get("SEED_LOG_LEVEL", "WARNING"))
ch = logging.StreamHandler(sys.stdout)
formatter = logging.Formatter('%(asctime)s - %(name)s - %(levelname)s - %(message)s')
ch.setFormatter(formatter)
log.addHandler(ch)

_ONE_DAY_IN_SECONDS = 60 * 60 * 24


class SearchServicer(search_pb2_grpc.SearchServicer):
    def search(self, request, context):
        log.info("search request: " + str(request))
        query = session.query(Thing).filter(
                func.ST_Contains(Thing.geom, 'POINT({} {})'.format(request.lng, request.lat)))
        responses = [search_pb2.SearchResponse(response=rec.name) for rec in query]
        log.info("search responses: " + str(responses))
        return search_pb2.SearchResponses(responses=responses)

    def monitor(self, request, context):
        n_things = session.query(Thing).count()
        return search_pb2.MonitorResponse(n_things=n_things)


def bind(server):
    """The post's random port, drawn again while taken."""
    for _ in range(20):
        port = random.randint(50000, 59000)
        try:
            if server.add_insecure_port('127.0.0.1:%d' % port) == port:
                return port
        except RuntimeError:
            pass
    raise SystemExit("no free port in 50000-59000")


def serve():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=[('grpc.so_reuseport', 0)])
    search_pb2_grpc.add_SearchServicer_to_server(SearchServicer(), server)
    port = bind(server)
    server.start()
    service_id = 'search-service-%d' % port
    c = consul.Consul()
    c.agent.service.register('search-service', service_id=service_id, address='127.0.0.1',
                             port=port, check=consul.Check.tcp("", port, "30s"))
    log.warning("search server started on port %d, registered as %s", port, service_id)
    try:
        while True:
            time.sleep(_ONE_DAY_IN_SECONDS)
    except KeyboardInterrupt:
        c.agent.service.deregister(service_id)
        server.stop(0)


if __name__ == '__main__':
    serve()
