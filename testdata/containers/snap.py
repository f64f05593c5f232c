#!/usr/bin/python3
"""Independent reading of snapshots for testdata/snapshots.bats.

Everything here uses Envoy's REAL protos (scripts/fetch-envoy-protos) with
python3-protobuf and PyYAML, never edsmod's code.  Python classes for the
closure of the CLA, the discovery messages and
envoy/admin/v3/config_dump_shared.proto (EndpointsConfigDump) are generated
once per proto version and cached under .cache/py-envoy-snap/<key>/.
envoy/admin/v3/config_dump.proto imports the whole bootstrap, which the npm
copy cannot compile, so its one message, ConfigDump { repeated Any configs
= 1 }, is declared here the way upstream declares it; the other dumps in a
config dump stay packed (binary) or plain JSON (compared as JSON).

A snapshot is named by its file and read by its extension:
  .binpb .txtpb .json .yaml        one message of TYPE
  .delimited                       CLAs, each after its varint length
  .jsonl                           one JSON CLA per line
  list.json, list.yaml             a JSON array / YAML sequence or stream
TYPE is cla, dr (DiscoveryResponse), delta, dump (ConfigDump), ecd
(EndpointsConfigDump) or list.

Subcommands (PROTOS is the fetch-envoy-protos cache directory):
  encode PROTOS TYPE IN OUT [IN OUT]...
                              write each IN as OUT, converting by extension
  same PROTOS TYPE ZONE A B [A B]...
                              exit 1 with a diff unless each A and B hold the
                              same messages (Any expanded, maps sorted).
                              Unless ZONE is -, A is first drained:
                              health_status DRAINING on every endpoint of
                              every CLA in it whose locality zone is ZONE
                              (what edsmod -e 'zone == "Z" { set health =
                              "DRAINING" }' does)
"""

import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOTS = ["envoy/config/endpoint/v3/endpoint.proto", "envoy/service/discovery/v3/discovery.proto",
         "envoy/admin/v3/config_dump_shared.proto"]
TYPES = {
    "cla": "envoy.config.endpoint.v3.ClusterLoadAssignment",
    "dr": "envoy.service.discovery.v3.DiscoveryResponse",
    "delta": "envoy.service.discovery.v3.DeltaDiscoveryResponse",
    "dump": "envoy.admin.v3.ConfigDump",
    "ecd": "envoy.admin.v3.EndpointsConfigDump",
}
CLA = TYPES["cla"]


def includes(protos):
    return ["-I" + os.path.join(protos, d) for d in ("envoy-api", "xds", "googleapis", "protoc-gen-validate")]


def load(protos):
    marker = sorted(f for f in os.listdir(protos) if f.startswith(".ok-"))
    ver = subprocess.run(["protoc", "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256(("|".join(marker + ROOTS) + ver + os.path.realpath(protos)).encode()).hexdigest()[:16]
    base = os.path.join(TOP, ".cache", "py-envoy-snap")
    out = os.path.join(base, key)
    if not os.path.isfile(os.path.join(out, ".ok")):
        os.makedirs(base, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=base, prefix=".tmp-")
        try:
            fds = os.path.join(tmp, "closure.pb")
            subprocess.run(["protoc"] + includes(protos) + ["--include_imports", "-o", fds] + ROOTS, check=True)
            from google.protobuf import descriptor_pb2
            fset = descriptor_pb2.FileDescriptorSet()
            with open(fds, "rb") as f:
                fset.ParseFromString(f.read())
            files = [f.name for f in fset.file if not f.name.startswith("google/protobuf/")]
            subprocess.run(["protoc"] + includes(protos) + ["--python_out=" + tmp] + files, check=True)
            os.remove(fds)
            open(os.path.join(tmp, ".ok"), "w").close()
            try:
                os.rename(tmp, out)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    sys.path.insert(0, out)
    import importlib
    for r in ROOTS:
        importlib.import_module(r[:-len(".proto")].replace("/", ".") + "_pb2")
    from google.protobuf import descriptor_pb2, descriptor_pool, any_pb2
    f = descriptor_pb2.FileDescriptorProto(name="snap/config_dump.proto", package="envoy.admin.v3",
                                           dependency=["google/protobuf/any.proto"], syntax="proto3")
    m = f.message_type.add(name="ConfigDump")
    m.field.add(name="configs", number=1, label=3, type=11, type_name=".google.protobuf.Any", json_name="configs")
    assert any_pb2
    descriptor_pool.Default().Add(f)


def cls(name):
    from google.protobuf import descriptor_pool, message_factory, symbol_database
    try:
        return symbol_database.Default().GetSymbol(name)
    except KeyError:
        return message_factory.MessageFactory().GetPrototype(descriptor_pool.Default().FindMessageTypeByName(name))


def dump_from_json(value):
    """A ConfigDump's JSON: endpoint dumps as messages, others as JSON."""
    out = []
    for c in value.get("configs", []):
        if c.get("@type", "").endswith("/envoy.admin.v3.EndpointsConfigDump"):
            out.append(from_json_value("ecd", c))
        else:
            out.append(json.dumps(c, sort_keys=True, indent=1))
    return out


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def put_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def from_json_value(typ, value):
    from google.protobuf import json_format
    if "@type" in value:  # the message written as an Any
        value = {k: v for k, v in value.items() if k != "@type"}
    return json_format.ParseDict(value, cls(TYPES[typ])())


def read(path, typ):
    """The messages in a file: a list (one element unless TYPE is list)."""
    from google.protobuf import text_format
    import yaml
    ext = os.path.splitext(path)[1]
    data = open(path, "rb").read()
    if typ == "list":
        if ext == ".delimited":
            out, i = [], 0
            while i < len(data):
                n, i = varint(data, i)
                m = cls(CLA)()
                m.ParseFromString(data[i:i + n])
                out.append(m)
                i += n
            return out
        if ext == ".jsonl":
            return [from_json_value("cla", json.loads(line)) for line in data.decode().splitlines() if line.strip()]
        if ext == ".json":
            return [from_json_value("cla", v) for v in json.loads(data)]
        docs = [d for d in yaml.safe_load_all(data.decode()) if d is not None]
        if len(docs) == 1 and isinstance(docs[0], list):
            docs = docs[0]
        return [from_json_value("cla", d) for d in docs]
    if typ == "dump" and ext in (".json", ".yaml"):
        return dump_from_json(json.loads(data) if ext == ".json" else yaml.safe_load(data.decode()))
    m = cls(TYPES[typ])()
    if ext == ".binpb":
        m.ParseFromString(data)
    elif ext == ".txtpb":
        text_format.Parse(data.decode(), m)
    elif ext == ".json":
        return [from_json_value(typ, json.loads(data))]
    elif ext == ".yaml":
        return [from_json_value(typ, yaml.safe_load(data.decode()))]
    else:
        sys.exit("snap.py: unknown extension " + ext)
    return [m]


def write(path, typ, msgs):
    from google.protobuf import json_format, text_format
    import yaml
    ext = os.path.splitext(path)[1]
    if typ == "list":
        if ext == ".delimited":
            data = b"".join(put_varint(len(m.SerializeToString())) + m.SerializeToString() for m in msgs)
        elif ext == ".jsonl":
            data = "".join(json.dumps(json_format.MessageToDict(m), separators=(",", ":")) + "\n" for m in msgs)
        elif ext == ".json":
            data = json.dumps([json_format.MessageToDict(m) for m in msgs], indent=2) + "\n"
        else:
            data = yaml.safe_dump(json.loads(json.dumps([json_format.MessageToDict(m) for m in msgs])), sort_keys=True)
    else:
        m = msgs[0]
        if ext == ".binpb":
            data = m.SerializeToString()
        elif ext == ".txtpb":
            data = text_format.MessageToString(m)
        elif ext == ".json":
            data = json_format.MessageToJson(m, indent=2) + "\n"
        else:  # through json: MessageToDict gives OrderedDicts for Any
            data = yaml.safe_dump(json.loads(json.dumps(json_format.MessageToDict(m))), sort_keys=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def canon(m):
    from google.protobuf import text_format
    if isinstance(m, str):
        return m + "\n"
    return text_format.MessageToString(m, print_unknown_fields=True)


def clas_in(m, typ):
    """(holder, field) pairs of every CLA packed in an Any of m, and the
    enclosing Anys to repack afterwards, innermost first."""
    out = []
    any_cls = cls("google.protobuf.Any")

    def any_cla(a, repack):
        if a.type_url.endswith("/" + CLA):
            c = cls(CLA)()
            a.Unpack(c)
            out.append((c, lambda c=c, a=a: (a.Pack(c), [f() for f in repack])))
        elif a.type_url.endswith("/envoy.service.discovery.v3.Resource"):
            r = cls("envoy.service.discovery.v3.Resource")()
            a.Unpack(r)
            any_cla(r.resource, [lambda r=r, a=a: a.Pack(r)] + repack)
        elif a.type_url.endswith("/envoy.admin.v3.EndpointsConfigDump"):
            e = cls(TYPES["ecd"])()
            a.Unpack(e)
            ecd(e, [lambda e=e, a=a: a.Pack(e)] + repack)

    def ecd(e, repack):
        for s in e.static_endpoint_configs:
            any_cla(s.endpoint_config, repack)
        for s in e.dynamic_endpoint_configs:
            any_cla(s.endpoint_config, repack)

    if typ == "dr":
        for a in m.resources:
            any_cla(a, [])
    elif typ == "delta":
        for r in m.resources:
            if r.HasField("resource"):
                any_cla(r.resource, [])
    elif typ == "dump":
        for a in m.configs:
            any_cla(a, [])
    elif typ == "ecd":
        ecd(m, [])
    assert isinstance(any_cls, type)
    return out


def drain(msgs, typ, zone):
    for m in msgs:
        if isinstance(m, str):
            continue  # a dump edsmod does not read
        sites = [(m, None)] if typ in ("cla", "list") or m.DESCRIPTOR.full_name == CLA else \
            clas_in(m, "ecd" if m.DESCRIPTOR.full_name == TYPES["ecd"] else typ)
        for c, repack in sites:
            for g in c.endpoints:
                if g.locality.zone == zone:
                    for e in g.lb_endpoints:
                        e.health_status = 3  # DRAINING
            if repack:
                repack()


def encode(typ, src, dst):
    if typ == "dump" and dst.endswith(".binpb"):
        # JSON to binary: the endpoint dumps packed, the others as an opaque
        # Struct payload under their own type URL (they only need to survive)
        dump = cls(TYPES["dump"])()
        for c in read(src, typ):
            a = dump.configs.add()
            if isinstance(c, str):
                v = json.loads(c)
                try:
                    cls(v["@type"].rsplit("/", 1)[1])
                    del dump.configs[-1]  # known here but holding types unknown here: left out
                    continue
                except KeyError:
                    pass
                st = cls("google.protobuf.Struct")()
                st.update({k: x for k, x in v.items() if k != "@type"})
                a.type_url, a.value = v["@type"], st.SerializeToString()
            else:
                a.Pack(c)
        write(dst, typ, [dump])
    else:
        write(dst, typ, read(src, typ))


def same(typ, zone, pa, pb):
    a, b = read(pa, typ), read(pb, typ)
    if zone != "-":
        drain(a, typ, zone)
    ta = "".join("# message %d\n%s" % (i, canon(m)) for i, m in enumerate(a))
    tb = "".join("# message %d\n%s" % (i, canon(m)) for i, m in enumerate(b))
    if ta == tb:
        return True
    sys.stdout.writelines(difflib.unified_diff(ta.splitlines(True), tb.splitlines(True), pa, pb))
    return False


def main():
    cmd, protos, typ = sys.argv[1], sys.argv[2], sys.argv[3]
    load(protos)
    if cmd == "encode":
        args = sys.argv[4:]
        for i in range(0, len(args), 2):
            encode(typ, args[i], args[i + 1])
    elif cmd == "same":
        zone, args, ok = sys.argv[4], sys.argv[5:], True
        if not args or len(args) % 2:
            sys.exit("snap.py: same needs pairs of files")
        for i in range(0, len(args), 2):
            ok = same(typ, zone, args[i], args[i + 1]) and ok
        return 0 if ok else 1
    else:
        sys.exit("snap.py: unknown command " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
