#!/usr/bin/python3
"""bench-stamp: the python3-protobuf comparator of scripts/bench (a comparator, not part of edsmod).

Usage: scripts/bench-stamp.py PYDIR IN OUT     (PYDIR: classes from scripts/bench-gen.py)
       scripts/bench-stamp.py PYDIR --impl     (print the protobuf backend: cpp, upb or python)

Does what testdata/examples/aigateway.edsmod does, the way a team would write
it with python3-protobuf: parse the binary CLA, stamp
metadata["aigateway.envoy.io"].per_route_rule_backend_name on every endpoint
of a locality whose region is "httproute/<ns>/<route>/rule/<i>/backend/<j>"
(as "<ns>/<backend>/route/<route>/rule/<i>/ref/<j>", the backend named by the
locality's "envoy-gateway" metadata), and .upstream_host on every endpoint
with a hostname; serialize.
"""

import re
import sys

REGION = re.compile(r"^httproute/([^/]+)/([^/]+)/rule/([0-9]+)/backend/([0-9]+)$")


def stamp(cla, hosts=True):
    for loc in cla.endpoints:
        m = REGION.match(loc.locality.region)
        name = None
        if m:
            name = "%s/%s/route/%s/rule/%s/ref/%s" % (
                m.group(1), loc.metadata.filter_metadata["envoy-gateway"]["resources"][0]["name"],
                m.group(2), m.group(3), m.group(4))
        for lbe in loc.lb_endpoints:
            host = lbe.endpoint.hostname if hosts else ""
            if name is None and not host:
                continue
            s = lbe.metadata.filter_metadata["aigateway.envoy.io"]
            if name is not None:
                s["per_route_rule_backend_name"] = name
            if host:
                s["upstream_host"] = host


def main(argv):
    sys.path.insert(0, argv[0])
    if argv[1:] == ["--impl"]:
        from google.protobuf.internal import api_implementation
        print(api_implementation.Type())
        return 0
    from envoy.config.endpoint.v3 import endpoint_pb2
    cla = endpoint_pb2.ClusterLoadAssignment()
    with open(argv[1], "rb") as f:
        cla.ParseFromString(f.read())
    stamp(cla)
    with open(argv[2], "wb") as f:
        f.write(cla.SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
