#!/usr/bin/python3
"""COMPARATOR ONLY -- not part of edsmod.

The AI Gateway endpoint stamp of testdata/examples/aigateway.edsmod written
the way a team would write an Envoy Gateway extension server in an
afternoon: python3-grpcio, Envoy's python3-protobuf classes, a loop over
localities and endpoints.  It exists so scripts/loadtest can put a number
next to `edsmod serve` (issue 6, item 7).  It implements PostEndpointsModify
and Health/Check only, validates nothing, and always returns the CLA.

usage: EG_PY=DIR scripts/serve_comparator.py [--listen ADDR] [--threads N]
  EG_PY: python classes generated from Envoy's protos (protoc --python_out;
  scripts/loadtest makes them).  Logs "listening on HOST:PORT" on stderr.
"""
import argparse
import os
import re
import signal
import sys
import threading
from concurrent import futures

sys.path.insert(0, os.environ.get("EG_PY", "."))

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: E402

# Envoy Gateway's request/response envelopes (proto/extension/service.proto
# upstream), declared against the CLA class above.
_fd = descriptor_pb2.FileDescriptorProto(
    name="comparator/envoygateway_extension.proto", package="envoygateway.extension",
    syntax="proto3", dependency=["envoy/config/endpoint/v3/endpoint.proto"])
_F = descriptor_pb2.FieldDescriptorProto
_ctx = _fd.message_type.add(name="PostEndpointsExtensionContext")
_req = _fd.message_type.add(name="PostEndpointsModifyRequest")
_req.field.add(name="load_assignment", number=1, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL,
               type_name=".envoy.config.endpoint.v3.ClusterLoadAssignment")
_req.field.add(name="post_endpoints_context", number=2, type=_F.TYPE_MESSAGE,
               label=_F.LABEL_OPTIONAL, type_name=".envoygateway.extension.PostEndpointsExtensionContext")
_resp = _fd.message_type.add(name="PostEndpointsModifyResponse")
_resp.field.add(name="load_assignment", number=1, type=_F.TYPE_MESSAGE, label=_F.LABEL_OPTIONAL,
                type_name=".envoy.config.endpoint.v3.ClusterLoadAssignment")
_pool = descriptor_pool.Default()
_pool.Add(_fd)
_factory = message_factory.MessageFactory(_pool)
Request = _factory.GetPrototype(_pool.FindMessageTypeByName("envoygateway.extension.PostEndpointsModifyRequest"))
Response = _factory.GetPrototype(_pool.FindMessageTypeByName("envoygateway.extension.PostEndpointsModifyResponse"))

REGION = re.compile(r"^httproute/([^/]+)/([^/]+)/rule/([0-9]+)/backend/([0-9]+)$")
NS = "aigateway.envoy.io"


def post_endpoints_modify(req, context):
    cla = req.load_assignment
    for loc in cla.endpoints:
        m = REGION.match(loc.locality.region)
        backend = None
        if m and "envoy-gateway" in loc.metadata.filter_metadata:
            res = loc.metadata.filter_metadata["envoy-gateway"]["resources"]
            backend = "%s/%s/route/%s/rule/%s/ref/%s" % (
                m.group(1), res[0]["name"], m.group(2), m.group(3), m.group(4))
        for ep in loc.lb_endpoints:
            if backend:
                ep.metadata.filter_metadata[NS]["per_route_rule_backend_name"] = backend
            if ep.endpoint.hostname:
                ep.metadata.filter_metadata[NS]["upstream_host"] = ep.endpoint.hostname
    return Response(load_assignment=cla)


def health_check(req, context):
    return b"\x08\x01"  # HealthCheckResponse{status: SERVING}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:5006")
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=a.threads),
                         options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler("envoygateway.extension.EnvoyGatewayExtension", {
            "PostEndpointsModify": grpc.unary_unary_rpc_method_handler(
                post_endpoints_modify, request_deserializer=Request.FromString,
                response_serializer=Response.SerializeToString),
        }),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(health_check),
        }),
    ])
    port = server.add_insecure_port(a.listen)
    server.start()
    host = a.listen.rsplit(":", 1)[0]
    print("serve_comparator: listening on %s:%d" % (host, port), file=sys.stderr, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(5).wait()


if __name__ == "__main__":
    main()
