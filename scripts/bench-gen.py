#!/usr/bin/python3
"""bench-gen: deterministic Envoy Gateway-shaped ClusterLoadAssignments for scripts/bench.

Usage: scripts/bench-gen.py [--out DIR] [N ...]      (default N: 10 1000 10000 100000)

Writes DIR/cla-N.binpb, cla-N.json (json_format, indent 2) and cla-N.txtpb
(`protoc --decode`), plus what the comparators need: DIR/py/ (python3-protobuf
classes compiled from Envoy's REAL protos, scripts/fetch-envoy-protos) and
DIR/envoy.binpb (a FileDescriptorSet of the CLA closure, buf's input).  DIR
defaults to .cache/bench.  Files already generated are kept (their content
depends only on N).  Prints DIR.

The shape follows internal/xds/translator/cluster.go of Envoy Gateway (see
/work/shared/docs/envoy-gateway.md): one CLA named
"httproute/<ns>/<route>/rule/<i>", one locality per backendRef with region
"<cluster>/backend/<j>" (index 3 is missing: a zero-weight ref), the locality
weight and priority of the ref, locality metadata "envoy-gateway" naming the
backend; endpoints are IPv4 and IPv6 socket addresses, EG Backend endpoints
carry a hostname, TLS backends carry "envoy.transport_socket_match"
metadata, every endpoint weight 1, every 50th DRAINING, the last ref has no
endpoints; the policy sets the overprovisioning factor.
"""

import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLA = "envoy.config.endpoint.v3.ClusterLoadAssignment"
ROOT_PROTO = "envoy/config/endpoint/v3/endpoint.proto"
SIZES = [10, 1000, 10000, 100000]

NAMESPACE = "ai"
ROUTE = "chat"
CLUSTER = "httproute/%s/%s/rule/0" % (NAMESPACE, ROUTE)

# (backendRef index, kind, backend name, share of endpoints, address family,
#  port, hostname pattern, TLS, locality weight, priority)
BACKENDS = [
    (0, "Service", "llama-a", 60, 4, 8080, None, False, 50, 0),
    (1, "Service", "llama-b", 10, 4, 8443, None, True, 30, 0),
    (2, "Backend", "openai", 5, 6, 443, "api-%d.openai.example", True, 10, 0),
    (4, "Service", "mistral", 20, 6, 8080, None, False, 10, 0),
    (5, "Backend", "bedrock", 5, 4, 443, "bedrock-%d.us-east-1.example", True, 1, 1),
    (6, "Backend", "spare", 0, 4, 443, None, False, 1, 1),
]


def proto_cache():
    return subprocess.check_output([os.path.join(TOP, "scripts", "fetch-envoy-protos")],
                                   text=True).strip()


def include_args(cache):
    return ["-I" + os.path.join(cache, d) for d in
            ("envoy-api", "xds", "googleapis", "protoc-gen-validate")]


def prepare(out):
    """Descriptor set and python classes, once per cache directory."""
    stamp = os.path.join(out, ".py-ok")
    fds = os.path.join(out, "envoy.binpb")
    py = os.path.join(out, "py")
    if os.path.exists(stamp):
        return py, fds
    cache = proto_cache()
    inc = include_args(cache)
    os.makedirs(py, exist_ok=True)
    subprocess.check_call(["protoc"] + inc + ["--include_imports", "--descriptor_set_out=" + fds,
                                              ROOT_PROTO])
    from google.protobuf import descriptor_pb2
    s = descriptor_pb2.FileDescriptorSet()
    with open(fds, "rb") as f:
        s.ParseFromString(f.read())
    files = [f.name for f in s.file if not f.name.startswith("google/protobuf/")]
    subprocess.check_call(["protoc"] + inc + ["--python_out=" + py] + files)
    open(stamp, "w").close()
    return py, fds


def load_classes(py):
    """Import the compiled Envoy classes; returns the CLA class."""
    if py not in sys.path:
        sys.path.insert(0, py)
    from envoy.config.endpoint.v3 import endpoint_pb2
    return endpoint_pb2.ClusterLoadAssignment


def split(n):
    """Endpoints per backendRef: shares of n, the rounding rest to ref 0."""
    total = sum(b[3] for b in BACKENDS)
    counts = [n * b[3] // total for b in BACKENDS]
    counts[0] += n - sum(counts)
    return counts


def build(cls, n):
    from google.protobuf import struct_pb2  # noqa: F401  (Struct is used through the fields)
    cla = cls()
    cla.cluster_name = CLUSTER
    k = 0
    for b, count in zip(BACKENDS, split(n)):
        j, kind, name, _, family, port, host, tls, weight, prio = b
        loc = cla.endpoints.add()
        loc.locality.region = "%s/backend/%d" % (CLUSTER, j)
        loc.load_balancing_weight.value = weight
        loc.priority = prio
        res = {"kind": kind, "name": name, "namespace": NAMESPACE}
        if kind == "Service":
            res["sectionName"] = "http"
        loc.metadata.filter_metadata["envoy-gateway"].update({"resources": [res]})
        for i in range(count):
            lbe = loc.lb_endpoints.add()
            sa = lbe.endpoint.address.socket_address
            if family == 4:
                h = i + 1
                sa.address = "10.%d.%d.%d" % (j * 4 + (h >> 16), (h >> 8) & 255, h & 255)
            else:
                sa.address = "fd00:10:%x::%x" % (j, i + 1)
            sa.port_value = port
            if host:
                lbe.endpoint.hostname = host % i
            lbe.health_status = 3 if k % 50 == 49 else 0  # DRAINING / UNKNOWN
            if tls:
                lbe.metadata.filter_metadata["envoy.transport_socket_match"].update(
                    {"name": "%s/tls/%d" % (CLUSTER, j)})
            lbe.load_balancing_weight.value = 1
            k += 1
    cla.policy.overprovisioning_factor.value = 140
    return cla


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def generate(out, sizes):
    py, fds = prepare(out)
    cls = None
    for n in sizes:
        base = os.path.join(out, "cla-%d" % n)
        if all(os.path.exists(base + e) for e in (".binpb", ".json", ".txtpb")):
            continue
        if cls is None:
            cls = load_classes(py)
        from google.protobuf import json_format
        cla = build(cls, n)
        binary = cla.SerializeToString(deterministic=True)
        write(base + ".binpb", binary)
        write(base + ".json", (json_format.MessageToJson(cla, indent=2) + "\n").encode())
        text = subprocess.run(["protoc"] + include_args(proto_cache()) + ["--decode=" + CLA, ROOT_PROTO],
                              input=binary, stdout=subprocess.PIPE, check=True).stdout
        write(base + ".txtpb", text)
    return py, fds


def main(argv):
    out = os.path.join(TOP, ".cache", "bench")
    sizes = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--out":
            out = args.pop(0)
        elif a.isdigit():
            sizes.append(int(a))
        else:
            sys.stderr.write("usage: bench-gen.py [--out DIR] [N ...]\n")
            return 2
    os.makedirs(out, exist_ok=True)
    generate(out, sizes or SIZES)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
