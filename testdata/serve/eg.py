#!/usr/bin/python3
"""Envoy Gateway's side of `edsmod serve`, for testdata/serve.bats.

A real gRPC client (python3-grpcio's generic unary_unary, bytes in and
bytes out) and builders/checkers that use python3-protobuf classes
generated at test time from Envoy's REAL protos (protoc --python_out into
$EG_PY, see serve.bats).  The EG request/response envelopes are written
by hand with the wire helpers below: their field numbers are the contract
under test (see ../shared/docs/envoy-gateway.md).

  eg.py call [--ca F] [--cert F --key F] [--name H] [--timeout S] [--compress gzip|deflate]
              TARGET METHOD REQ OUT...
      prints "OK <n> bytes" or "<CODE>: <details>"; writes the reply to OUT
      (more REQ OUT pairs: more calls, in order, on the same channel)
  eg.py endpoints-req CLA.bin OUT           PostEndpointsModifyRequest
  eg.py context-field REQ K OUT [K OUT]...  REQ + field 2 { 1000: fixed64 K }: the
                                            same request to EG, other bytes
  eg.py cluster [--dns-extension] CLA.bin OUT
                                            a real STRICT_DNS Cluster inlining
                                            CLA.bin (or one of the DnsCluster
                                            extension, cluster_type)
  eg.py cluster-req CLUSTER.bin OUT         PostClusterModifyRequest
  eg.py translate-req OUT CLUSTER.bin...    PostTranslateModifyRequest with
                                            a secret, a listener and a route
  eg.py fields FILE                          top-level fields of a message
  eg.py random-vs-cli TARGET EDSMOD RULES SEED N
                                            random CLAs: serve's replies against
                                            the CLI's output and exit statuses
  eg.py ...                                  see the subcommands below
"""
import os
import sys

sys.path.insert(0, os.environ.get("EG_PY", "."))


# ---- wire helpers -------------------------------------------------------

def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """[(num, wiretype, record_bytes, payload_bytes)] of one message's top level
    (a group's record runs to its end tag; its payload is None)."""
    out, i = [], 0
    while i < len(b):
        start = i
        tag, i = read_varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 3:
            depth = 1
            while depth:
                depth += {3: 1, 4: -1}.get(read_varint(b, i)[0] & 7, 0)
                i = fields_one(b, i)
            payload = None
        elif wt == 0:
            _, i = read_varint(b, i)
            payload = None
        elif wt == 1:
            i += 8
            payload = None
        elif wt == 5:
            i += 4
            payload = None
        elif wt == 2:
            n, i = read_varint(b, i)
            payload = b[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, b[start:i], payload))
    return out


def fields_one(b, i):
    """The end of the field at b[i] (a group's start or end tag alone)."""
    tag, i = read_varint(b, i)
    wt = tag & 7
    if wt == 0:
        return read_varint(b, i)[1]
    if wt in (1, 5):
        return i + (8 if wt == 1 else 4)
    if wt == 2:
        n, i = read_varint(b, i)
        return i + n
    if wt in (3, 4):
        return i
    raise ValueError("wire type %d" % wt)


def rd(path):
    with open(path, "rb") as f:
        return f.read()


def wr(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- real Envoy classes --------------------------------------------------

def cla_class():
    from envoy.config.endpoint.v3 import endpoint_pb2
    return endpoint_pb2.ClusterLoadAssignment


def cluster_class():
    from envoy.config.cluster.v3 import cluster_pb2
    return cluster_pb2.Cluster


def make_cluster(cla_bytes, dns_extension=False):
    """A STRICT_DNS cluster as EG writes one, with fields on both sides of 33;
    dns_extension: the DNS cluster as an extension (cluster_type, field 38,
    envoy.extensions.clusters.dns.v3.DnsCluster) instead of type STRICT_DNS."""
    from google.protobuf import any_pb2
    Cluster = cluster_class()
    cla = cla_class()()
    cla.ParseFromString(cla_bytes)
    c = Cluster()
    c.name = cla.cluster_name
    c.type = Cluster.STRICT_DNS
    c.connect_timeout.seconds = 10
    c.lb_policy = Cluster.LEAST_REQUEST
    c.dns_lookup_family = Cluster.V4_PREFERRED
    c.per_connection_buffer_limit_bytes.value = 32768
    c.metadata.filter_metadata["envoy-gateway"].update({"resources": [{"kind": "HTTPRoute"}]})
    c.common_lb_config.locality_weighted_lb_config.SetInParent()
    c.ignore_health_on_host_removal = True
    c.load_assignment.CopyFrom(cla)
    c.respect_dns_ttl = True
    c.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].CopyFrom(
        any_pb2.Any(type_url="type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    value=b"\x1a\x00"))
    c.preconnect_policy.per_upstream_preconnect_ratio.value = 1.5
    if dns_extension:
        c.cluster_type.name = "envoy.cluster.dns"
        c.cluster_type.typed_config.type_url = "type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster"
        assert not c.HasField("type")
    # An unknown field (a newer Envoy's), which must survive untouched.
    return c.SerializeToString() + field(999, b"future field")


# ---- gRPC ------------------------------------------------------------------

def call(argv):
    """call [opts] TARGET METHOD REQ OUT [REQ OUT]...: the calls in order on
    one channel, a line each."""
    import grpc
    opts = {"--ca": None, "--cert": None, "--key": None, "--name": None, "--timeout": "10",
            "--compress": None}
    while argv and argv[0] in opts:
        opts[argv[0]] = argv[1]
        argv = argv[2:]
    target, method, pairs = argv[0], argv[1], argv[2:]
    assert pairs and len(pairs) % 2 == 0, "call: REQ OUT pairs"
    chopts = [("grpc.max_receive_message_length", 256 << 20),
              ("grpc.max_send_message_length", 256 << 20)]
    if opts["--name"]:
        chopts.append(("grpc.ssl_target_name_override", opts["--name"]))
    if opts["--ca"]:
        creds = grpc.ssl_channel_credentials(
            root_certificates=rd(opts["--ca"]),
            private_key=rd(opts["--key"]) if opts["--key"] else None,
            certificate_chain=rd(opts["--cert"]) if opts["--cert"] else None)
        ch = grpc.secure_channel(target, creds, options=chopts)
    else:
        ch = grpc.insecure_channel(target, options=chopts)
    fn = ch.unary_unary(method)
    comp = {None: None, "gzip": grpc.Compression.Gzip, "deflate": grpc.Compression.Deflate}[opts["--compress"]]
    try:
        for req, out in zip(pairs[0::2], pairs[1::2]):
            try:
                reply = fn(rd(req), timeout=float(opts["--timeout"]), compression=comp)
            except grpc.RpcError as e:
                print("%s: %s" % (e.code().name, e.details()))
                continue
            wr(out, reply)
            print("OK %d bytes" % len(reply))
    finally:
        ch.close()
    return 0


# ---- serve against the CLI ---------------------------------------------------

def random_cla(rng):
    """An Envoy Gateway-shaped CLA with random contents: locality names EG's
    way or not, the envoy-gateway backend metadata or none, IPv4 and IPv6,
    and the hostile strings of conform.py's random CLAs in names, hostnames
    and metadata (some of which the check refuses: an empty namespace)."""
    import conform  # (its string and Struct generators only: no classes of its own)
    cla = cla_class()(cluster_name=rng.choice(["httproute/default/chat/rule/0", conform.rand_str(rng, 6) or "c"]))
    for li in range(rng.randint(1, 4)):
        le = cla.endpoints.add()
        ns = rng.choice(["default", conform.rand_str(rng, 4).replace("/", "") or "ns"])
        le.locality.region = rng.choice(["httproute/%s/chat/rule/%d/backend/%d" % (ns, li, rng.randint(0, 3)),
                                         conform.rand_str(rng, 6)])
        if rng.random() < 0.7:
            res = le.metadata.filter_metadata["envoy-gateway"].fields["resources"].list_value.values.add()
            res.struct_value.fields["kind"].string_value = "Backend"
            res.struct_value.fields["name"].string_value = conform.rand_str(rng, 6)
        if rng.random() < 0.5:
            le.load_balancing_weight.value = rng.randint(1, 100)
        le.priority = rng.choice([0, 0, 1])
        for ei in range(rng.randint(0, 6)):
            lb = le.lb_endpoints.add()
            sa = lb.endpoint.address.socket_address
            sa.address = rng.choice(["10.%d.%d.%d" % (li, ei, rng.randint(1, 250)), "fd00::%x" % (li * 256 + ei + 1)])
            sa.port_value = rng.randint(1, 65535)
            if rng.random() < 0.5:
                lb.endpoint.hostname = conform.rand_str(rng, 8)
            if rng.random() < 0.5:
                conform.rand_struct(rng, lb.metadata.filter_metadata[conform.rand_str(rng, 4)], 0)
            if rng.random() < 0.3:
                lb.metadata.filter_metadata["aigateway.envoy.io"].fields["old"].string_value = conform.rand_str(rng, 4)
            lb.health_status = rng.choice([0, 1, 3])
            if rng.random() < 0.5:
                lb.load_balancing_weight.value = rng.randint(1, 10)
    return cla.SerializeToString()


def random_vs_cli(target, edsmod, rules, seed, n):
    """random-vs-cli TARGET EDSMOD RULES SEED N: N random CLAs (random_cla)
    through PostEndpointsModify at TARGET and through EDSMOD -f RULES.  The
    reply must hold exactly the CLI's output when it exits 0, and be
    FAILED_PRECONDITION when it exits 6 (a rule failed) or 7 (an invalid
    result).  Prints each disagreement and the outcomes' counts; exit 1 on a
    disagreement or when an outcome never occurred."""
    import random
    import subprocess
    import grpc
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conformance"))
    rng = random.Random(int(seed))
    ch = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 256 << 20)])
    fn = ch.unary_unary("/envoygateway.extension.EnvoyGatewayExtension/PostEndpointsModify")
    counts, bad = {0: 0, 6: 0, 7: 0}, 0
    for i in range(int(n)):
        cla = random_cla(rng)
        cli = subprocess.run([edsmod, "-f", rules, "--from", "binary", "--to", "binary"], input=cla, capture_output=True)
        try:
            got, code = fn(field(1, cla) + field(2, b""), timeout=10), "OK"
        except grpc.RpcError as e:
            got, code = None, e.code().name
        counts[cli.returncode] = counts.get(cli.returncode, 0) + 1
        want = "OK" if cli.returncode == 0 else "FAILED_PRECONDITION" if cli.returncode in (6, 7) else "?"
        if code != want:
            print("CLA %d: edsmod exits %d, the server answers %s" % (i, cli.returncode, code))
            bad += 1
        elif got is not None:
            la = next((f[3] for f in fields(got) if f[0] == 1), cla)  # (absent: unchanged)
            if la != cli.stdout:
                print("CLA %d: the reply's load_assignment is not the CLI's output" % i)
                bad += 1
    ch.close()
    print("CLI exit statuses: %s" % counts)
    return 1 if bad or 0 in counts.values() else 0


# ---- subcommands ------------------------------------------------------------

def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "call":
        return call(args)
    if cmd == "endpoints-req":
        wr(args[1], field(1, rd(args[0])) + field(2, b""))
    elif cmd == "context-field":
        # Repeated message fields merge: an unknown field in the context.
        req = rd(args[0])
        for k, out in zip(args[1::2], args[2::2]):
            wr(out, req + field(2, varint(1000 << 3 | 1) + int(k).to_bytes(8, "little")))
    elif cmd == "cluster":
        ext = args[0] == "--dns-extension"
        args = args[1:] if ext else args
        wr(args[1], make_cluster(rd(args[0]), ext))
    elif cmd == "odd-cluster":
        # What any protobuf parser reads as unknown fields: field 33 sent as
        # a varint first, then an unknown group (with a group nested in it)
        # after the cluster's fields.
        grp = varint(998 << 3 | 3) + varint(1 << 3) + varint(5) + varint(7 << 3 | 3) + \
            field(2, b"in") + varint(7 << 3 | 4) + varint(998 << 3 | 4)
        wr(args[1], varint(33 << 3) + varint(1) + rd(args[0]) + grp)
    elif cmd == "cluster-req":
        # A backend extension resource in the context, as EG sends it.
        ctx = field(1, field(1, b'{"kind":"Backend","metadata":{"name":"x"}}'))
        wr(args[1], field(1, rd(args[0])) + field(2, ctx))
    elif cmd == "translate-req":
        from envoy.config.listener.v3 import listener_pb2
        from envoy.config.route.v3 import route_pb2
        from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
        sec = secret_pb2.Secret(name="tls-secret")
        sec.tls_certificate.certificate_chain.inline_bytes = b"-----BEGIN CERTIFICATE-----\n"
        lis = listener_pb2.Listener(name="default/eg/http")
        lis.address.socket_address.address = "0.0.0.0"
        lis.address.socket_address.port_value = 10080
        rt = route_pb2.RouteConfiguration(name="default/eg/http")
        rt.virtual_hosts.add(name="vh", domains=["*"])
        req = field(1, field(1, field(1, b'{"kind":"Policy"}')))
        for path in args[1:]:
            req += field(2, rd(path))
        req += field(3, sec.SerializeToString()) + field(4, lis.SerializeToString())
        req += field(5, rt.SerializeToString())
        wr(args[0], req)
    elif cmd == "fields":
        for num, wt, rec, payload in fields(rd(args[0])):
            print(num, wt, len(rec))
    elif cmd == "payloads":
        # eg.py payloads FILE NUM OUTPREFIX: write each field NUM payload to OUTPREFIX.<i>
        i = 0
        for num, wt, rec, payload in fields(rd(args[0])):
            if num == int(args[1]):
                wr("%s.%d" % (args[2], i), payload)
                i += 1
        print(i)
    elif cmd == "same-except-33":
        # The reply's Cluster must be the request's byte for byte except
        # the load_assignment record, which stays in place.
        a, b = fields(rd(args[0])), fields(rd(args[1]))
        if [(n, r) for n, w, r, _ in a if (n, w) != (33, 2)] != [(n, r) for n, w, r, _ in b if (n, w) != (33, 2)]:
            print("fields other than 33 differ")
            return 1
        if [n for n, _, _, _ in a] != [n for n, _, _, _ in b]:
            print("field order differs: %s vs %s" % ([n for n, *_ in a], [n for n, *_ in b]))
            return 1
        print("same")
    elif cmd == "cla-of-cluster":
        c = cluster_class()()
        c.ParseFromString(rd(args[0]))
        wr(args[1], c.load_assignment.SerializeToString())
    elif cmd == "text":
        # eg.py text cla|cluster FILE: text format via the real classes
        m = (cla_class() if args[0] == "cla" else cluster_class())()
        m.ParseFromString(rd(args[1]))
        from google.protobuf import text_format
        sys.stdout.write(text_format.MessageToString(m))
    elif cmd == "stamped":
        # eg.py stamped IN.cla OUT.cla: check OUT is IN plus the AI Gateway
        # stamp (per_route_rule_backend_name from the locality name and the
        # locality's envoy-gateway metadata; upstream_host = hostname).
        import re
        cin, cout = cla_class()(), cla_class()()
        cin.ParseFromString(rd(args[0]))
        cout.ParseFromString(rd(args[1]))
        want = cla_class()()
        want.CopyFrom(cin)
        n = 0
        for loc in want.endpoints:
            m = re.match(r"^httproute/([^/]+)/([^/]+)/rule/([0-9]+)/backend/([0-9]+)$", loc.locality.region)
            for ep in loc.lb_endpoints:
                md = ep.metadata.filter_metadata["aigateway.envoy.io"]
                if m:
                    backend = loc.metadata.filter_metadata["envoy-gateway"]["resources"][0]["name"]
                    md["per_route_rule_backend_name"] = "%s/%s/route/%s/rule/%s/ref/%s" % (
                        m.group(1), backend, m.group(2), m.group(3), m.group(4))
                    n += 1
                if ep.endpoint.hostname:
                    md["upstream_host"] = ep.endpoint.hostname
                if not md.fields:
                    del ep.metadata.filter_metadata["aigateway.envoy.io"]
                    if not ep.metadata.filter_metadata:
                        ep.ClearField("metadata")
        if want != cout:
            from google.protobuf import text_format
            print("reply differs from the expected stamp:\n--- want\n%s--- got\n%s" % (
                text_format.MessageToString(want), text_format.MessageToString(cout)))
            return 1
        print("stamped %d endpoints" % n)
    elif cmd == "plain-cla":
        # A CLA no rule of aigateway.edsmod touches: no EG locality names,
        # no hostnames.
        cla = cla_class()(cluster_name="static/default/plain")
        loc = cla.endpoints.add()
        loc.locality.zone = "zone-a"
        for i in range(3):
            ep = loc.lb_endpoints.add()
            ep.endpoint.address.socket_address.address = "10.1.0.%d" % (i + 1)
            ep.endpoint.address.socket_address.port_value = 8080
            ep.load_balancing_weight.value = 1
        wr(args[0], cla.SerializeToString())
    elif cmd == "random-vs-cli":
        return random_vs_cli(*args)
    elif cmd == "dnsify":
        # eg.py dnsify IN OUT: the CLA with host names for addresses, as in
        # the inline CLA of a STRICT_DNS cluster.
        cla = cla_class()()
        cla.ParseFromString(rd(args[0]))
        for i, loc in enumerate(cla.endpoints):
            for j, ep in enumerate(loc.lb_endpoints):
                ep.endpoint.address.socket_address.address = "backend%d-%d.example.com" % (i, j)
        wr(args[1], cla.SerializeToString())
    elif cmd == "big-cla":
        # eg.py big-cla N OUT: an EG-shaped CLA with N endpoints over 4 backendRefs
        from google.protobuf import struct_pb2
        n = int(args[0])
        cla = cla_class()(cluster_name="httproute/default/chat/rule/0")
        for j in range(4):
            loc = cla.endpoints.add()
            loc.locality.region = "httproute/default/chat/rule/0/backend/%d" % j
            loc.load_balancing_weight.value = 25
            loc.metadata.filter_metadata["envoy-gateway"].update(
                {"resources": [{"kind": "Backend", "name": "backend%d" % j, "namespace": "default"}]})
            for i in range(j, n, 4):
                ep = loc.lb_endpoints.add()
                ep.endpoint.address.socket_address.address = "10.%d.%d.%d" % (j, i // 250 % 250, i % 250 + 1)
                ep.endpoint.address.socket_address.port_value = 8080
                ep.load_balancing_weight.value = 1
        wr(args[1], cla.SerializeToString())
    elif cmd == "translate-check":
        # eg.py translate-check REQ REP: the reply holds the request's
        # clusters, secrets, listeners and routes in order, renumbered
        # (2,3,4,5 -> 1,2,3,4); secrets, listeners and routes byte for byte,
        # clusters byte for byte except their load_assignment record.
        req = [(n, p) for n, wt, r, p in fields(rd(args[0])) if 2 <= n <= 5 and wt == 2]
        rep = [(n, p) for n, wt, r, p in fields(rd(args[1]))]
        if [n - 1 for n, _ in req] != [n for n, _ in rep]:
            print("field numbers: request %s, reply %s" % ([n for n, _ in req], [n for n, _ in rep]))
            return 1
        changed = 0
        for (n, a), (_, b) in zip(req, rep):
            if n != 2:
                if a != b:
                    print("field %d changed" % n)
                    return 1
                continue
            fa, fb = fields(a), fields(b)
            if [(x, r) for x, w, r, _ in fa if (x, w) != (33, 2)] != \
               [(x, r) for x, w, r, _ in fb if (x, w) != (33, 2)] or \
               [x for x, *_ in fa] != [x for x, *_ in fb]:
                print("a cluster changed outside load_assignment")
                return 1
            changed += a != b
        print("ok: %d clusters, %d changed" % (sum(1 for n, _ in req if n == 2), changed))
    elif cmd == "health-req":
        wr(args[0], field(1, args[1].encode()) if len(args) > 1 else b"")
    else:
        print("unknown subcommand " + cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
