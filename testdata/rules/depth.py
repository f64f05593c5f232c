#!/usr/bin/python3
"""--max-depth and the rules (testdata/rules.bats): a set whose target path,
or the message it copies there, would nest deeper than --max-depth is
refused, and whatever edsmod writes its own decoders read back with the
same limit.  Random paths (fixed seeds) at every level a rule can name,
through Struct keys, map keys and list elements, under small limits.

  depth.py EDSMOD INPUT    exit 1, listing them, on any rule where the
                           verdict and the decoders disagree
"""
import random
import subprocess
import sys

ROOTS = ['metadata["x"]', 'locality.metadata["x"]', 'cla.endpoints[0].metadata["x"]',
         'cla.endpoints[0].lb_endpoints[0].metadata["x"]',
         'locality.metadata["envoy-gateway"].resources[0]']


def run(edsmod, depth, rule, data=None, path=None):
    args = [edsmod, "--max-depth", str(depth), "--to", "binary", "-e", rule, path or "-"]
    return subprocess.run(args, input=data, capture_output=True)


def readable(edsmod, depth, data):
    return subprocess.run([edsmod, "--max-depth", str(depth), "--to", "json", "-"], input=data,
                          capture_output=True).returncode == 0


def judge(edsmod, depth, rule, data, path, bad):
    """1 when compared, 0 when the rule fails for another reason."""
    r = run(edsmod, depth, rule, data, path)
    if r.returncode == 0:
        if not readable(edsmod, depth, r.stdout):
            bad.append("written but not read back under --max-depth %d: %s" % (depth, rule))
        return 1
    if b"(--max-depth)" not in r.stderr or r.returncode not in (6, 9):
        return 0
    big = run(edsmod, 1000, rule, data, path)
    if big.returncode == 0 and readable(edsmod, depth, big.stdout):
        bad.append("refused under --max-depth %d, yet its output reads back: %s" % (depth, rule))
    return 1


def main(edsmod, cla):
    rnd = random.Random(7)
    with open(cla, "rb") as f:
        cla_bytes = f.read()
    bad, n, at_compile, at_run = [], 0, 0, 0
    for _ in range(100):  # paths that nest by themselves (refused when compiling, exit 9)
        path = rnd.choice(ROOTS) + "".join(rnd.choice([".k%d" % i, '["k%d"]' % i])
                                           for i in range(rnd.randint(0, 12)))
        depth = rnd.choice([12, 13, 15, 18, 22, 30])
        if not readable(edsmod, depth, cla_bytes):
            continue  # the input is already too deep for this limit
        k = judge(edsmod, depth, "set %s = 1" % path, None, cla, bad)
        n += k
        at_compile += k and run(edsmod, depth, "set %s = 1" % path, None, cla).returncode == 9
    for _ in range(100):  # a Struct copied deeper than it was (refused when running, exit 6)
        src = 'metadata["s"]' + "".join(".k%d" % i for i in range(rnd.randint(0, 5)))
        made = run(edsmod, 1000, "set %s.leaf = 1" % src, None, cla)
        dst = rnd.choice(ROOTS[:2] + ROOTS[4:]).replace('"x"', '"d"') + "".join(
            ".d%d" % i for i in range(rnd.randint(0, 4)))
        what = rnd.choice([src, 'metadata["s"]'])
        depth = rnd.choice([12, 13, 15, 18, 22])
        if not readable(edsmod, depth, made.stdout):
            continue  # the input is already too deep for this limit
        k = judge(edsmod, depth, "set %s = %s" % (dst, what), made.stdout, None, bad)
        n += k
        at_run += k and run(edsmod, depth, "set %s = %s" % (dst, what), made.stdout).returncode == 6
    for b in bad:
        print(b)
    print("%d rules compared (%d refused when compiling, %d when running), %d disagree"
          % (n, at_compile, at_run, len(bad)))
    return 1 if bad or n < 100 or at_compile < 10 or at_run < 10 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
