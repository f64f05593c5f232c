#!/usr/bin/python3
"""verify-jobs: check the golden outputs of the rules cases independently.

Usage: testdata/rules/verify-jobs.py [PYDIR]

For the five real jobs of issue 3 (and a few actions), re-implements what
the rules do with python3-protobuf on classes compiled from Envoy's REAL
protos (scripts/fetch-envoy-protos), applies it to the case's input and
compares the result with the case's golden `out`, parsed by python's own
text_format.  So the goldens are checked by an implementation that shares
no code with edsmod.  PYDIR: a directory of already compiled classes
(import envoy.config.endpoint.v3.endpoint_pb2); compiled into a temporary
directory when not given.  Exits 1 and prints both messages on a mismatch.
"""

import copy
import ipaddress
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def compile_protos(out):
    cache = subprocess.check_output([os.path.join(TOP, "scripts", "fetch-envoy-protos")], text=True).strip()
    inc = ["-I" + os.path.join(cache, d) for d in ("envoy-api", "xds", "googleapis", "protoc-gen-validate")]
    fds = os.path.join(out, "set.binpb")
    subprocess.check_call(["protoc"] + inc + ["--include_imports", "--descriptor_set_out=" + fds,
                                              "envoy/config/endpoint/v3/endpoint.proto"])
    from google.protobuf import descriptor_pb2
    s = descriptor_pb2.FileDescriptorSet()
    with open(fds, "rb") as f:
        s.ParseFromString(f.read())
    files = [f.name for f in s.file if not f.name.startswith("google/protobuf/")]
    subprocess.check_call(["protoc"] + inc + ["--python_out=" + out] + files)


if len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])
else:
    tmp = tempfile.mkdtemp(prefix="verify-jobs.")
    compile_protos(tmp)
    sys.path.insert(0, tmp)

from google.protobuf import text_format  # noqa: E402
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: E402


def load(path):
    m = endpoint_pb2.ClusterLoadAssignment()
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".binpb"):
        m.ParseFromString(data)
    else:
        text_format.Parse(data.decode(), m)
    return m


def endpoints(m):
    for loc in m.endpoints:
        for e in loc.lb_endpoints:
            yield loc, e


def keep_only(m, pred):
    for loc in m.endpoints:
        keep = [copy.deepcopy(e) for e in loc.lb_endpoints if pred(loc, e)]
        del loc.lb_endpoints[:]
        loc.lb_endpoints.extend(keep)


def job1_aigateway(m):
    rx = re.compile(r"^httproute/([^/]+)/([^/]+)/rule/([0-9]+)/backend/([0-9]+)$")
    for loc, e in endpoints(m):
        g = rx.match(loc.locality.region)
        if g:
            backend = loc.metadata.filter_metadata["envoy-gateway"]["resources"][0]["name"]
            e.metadata.filter_metadata["aigateway.envoy.io"]["per_route_rule_backend_name"] = \
                "%s/%s/route/%s/rule/%s/ref/%s" % (g[1], backend, g[2], g[3], g[4])
    job2_upstream_host(m)


def job2_upstream_host(m):
    for _, e in endpoints(m):
        if e.endpoint.hostname:
            e.metadata.filter_metadata["aigateway.envoy.io"]["upstream_host"] = e.endpoint.hostname


def job3_drain_zone(m):
    for loc, e in endpoints(m):
        if loc.locality.zone == "us-east-1a":
            e.health_status = 3  # DRAINING


def in_net(e, net):
    a = e.endpoint.address
    if not a.HasField("socket_address"):
        return False
    try:
        ip = ipaddress.ip_address(a.socket_address.address)
    except ValueError:
        return False
    return ip.version == net.version and ip in net


def job4_drop_cidr(m):
    net = ipaddress.ip_network("10.1.0.0/16")
    keep_only(m, lambda loc, e: not in_net(e, net))


def job4_canary_weight(m):
    for _, e in endpoints(m):
        lb = e.metadata.filter_metadata.get("envoy.lb")
        if lb is not None and "canary" in lb.fields and \
                lb.fields["canary"].WhichOneof("kind") == "bool_value" and lb["canary"] is True:
            e.load_balancing_weight.value = 5


def job5_mapping(m):
    rule = re.compile(r'^region == "([^"]*)" \{ set metadata\["aigateway\.envoy\.io"\]'
                      r'\.per_route_rule_backend_name = "([^"]*)" \}$')
    mapping = {}
    with open(os.path.join(HERE, "job5-mapping", "mapping.edsmod")) as f:
        for line in f:
            g = rule.match(line.rstrip("\n"))
            if g:
                mapping.setdefault(g[1], []).append(g[2])
    for loc, e in endpoints(m):
        for value in mapping.get(loc.locality.region, []):
            e.metadata.filter_metadata["aigateway.envoy.io"]["per_route_rule_backend_name"] = value


def act_drop(m):
    keep_only(m, lambda loc, e: e.health_status != 3)


def act_del(m):
    for loc, e in endpoints(m):
        fm = e.metadata.filter_metadata
        if "envoy.transport_socket_match" in fm:
            del fm["envoy.transport_socket_match"]
        if loc.locality.zone == "us-east-1a":
            e.ClearField("load_balancing_weight")
        if e.health_status == 3 and "envoy.lb" in fm and "canary" in fm["envoy.lb"].fields:
            del fm["envoy.lb"]["canary"]
    m.ClearField("policy")


def act_set_merge(m):
    for _, e in endpoints(m):
        b = "B" if e.endpoint.address.socket_address.port_value == 443 else "b"
        e.metadata.filter_metadata["envoy.transport_socket_match"].update({"extra": {"a": [1, b, None]}})


CASES = [
    ("job1-aigateway", job1_aigateway),
    ("job2-upstream-host", job2_upstream_host),
    ("job3-drain-zone", job3_drain_zone),
    ("job4-drop-cidr", job4_drop_cidr),
    ("job4-canary-weight", job4_canary_weight),
    ("job5-mapping", job5_mapping),
    ("act-drop", act_drop),
    ("act-del", act_del),
    ("act-set-merge", act_set_merge),
]

bad = 0
for name, fn in CASES:
    d = os.path.join(HERE, name)
    want = load(os.path.join(d, "in.txtpb"))
    fn(want)
    got = endpoint_pb2.ClusterLoadAssignment()
    with open(os.path.join(d, "out")) as f:
        text_format.Parse(f.read(), got)
    if got == want:
        print("ok %s" % name)
    else:
        bad += 1
        print("FAIL %s: the golden output differs from python's result" % name)
        print("--- python\n%s--- golden out\n%s" % (text_format.MessageToString(want),
                                                    text_format.MessageToString(got)))
sys.exit(1 if bad else 0)
