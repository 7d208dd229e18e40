#!/usr/bin/env python3
"""Adds seed inputs to fuzz/corpus/{prescan,rewrite,testmode}/ (where
`cargo fuzz run TARGET` reads and grows its corpus): the lines of the golden
-bt inputs (../shared/fixtures/sendmail-cf/bt/*.in) plus hostile inputs.
Files are named by their SHA-1, so running it again adds nothing twice.
Run from anywhere: python3 fuzz/seed-corpus.py"""
import glob, hashlib, os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
BT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "fixtures", "sendmail-cf", "bt")
CONDELSE = b"\x9b"  # $| as the engine's metabyte

lines = []
for f in sorted(glob.glob(os.path.join(BT, "*.in"))):
    for l in open(f, "rb").read().split(b"\n"):
        if l and l not in lines:
            lines.append(l)

def addr_of(line):
    """The address of a ruleset-list line (first word stripped), or None."""
    if line[:1] in b"/.$=-#?":
        return None
    parts = line.split(None, 1)
    return parts[1] if len(parts) == 2 else None

addrs = []
for l in lines:
    a = addr_of(l)
    if a is not None and a not in addrs:
        addrs.append(a)
for l in lines:  # /parse and /try addresses too
    if l.startswith(b"/parse "):
        a = l[7:]
        if a not in addrs:
            addrs.append(a)

hostile = [
    b"a" * 300,
    b"a." * 700,
    b"<" * 600 + b"user@host" + b">" * 10,
    b"<" * 40 + b"@a,@b:user@c" + b">" * 40,
    b"\"" * 51,
    b"\"unbalanced quote@host",
    b"(((((comment user@host",
    b"user@host)))))",
    b"\\" * 255,
    b"a\\\\b\\\"c\\<d\\@e\\!f",
    b"host\\!user@x",
    b"$" * 100 + b"@" + b"$:$#$@$>3",
    b"$*$+$-$=w$~w$1$2$9",
    b"\x80\x81\x82\x93\x94\x95\x9b\x9f\xff user@host",
    bytes(range(256)),
    b"\xff" * 300,
    b"user@" + b"a." * 200 + b"example",
    b"@" * 1100,
    b"a%" * 120 + b"b@localhost",
    b"a!" * 120 + b"b",
    b"<@" + b"a,@" * 150 + b"b:user@c>",
    b"user@[" + b"1" * 300 + b"]",
    b"user@[127.0.0.1",
    b"\"quoted\\\"local\"@[::1]",
    b"user@host,other@host,<third@host>",
    b"user@host.\x00trailing after NUL",
    b"a b\tc\rd\ne\x0bf\x0cg",
    b"<>",
    b"<<>>",
    b"",
    b"unknown.example.com " + CONDELSE + b" 192.0.2.99",
    b"x " + CONDELSE + b" " + CONDELSE + b" " + CONDELSE,
]

def write(d, items):
    os.makedirs(d, exist_ok=True)
    for it in items:
        name = hashlib.sha1(it).hexdigest()
        open(os.path.join(d, name), "wb").write(it)

# prescan: addresses, hostile inputs, and the whole lines themselves.
write(os.path.join(HERE, "prescan"), addrs + hostile + lines)

# rewrite: a selector byte (config = bit 0, ruleset list = the rest) and
# the address. `$|` becomes the metabyte; some get client macros.
rw = []
base = [a.replace(b"$|", CONDELSE) for a in addrs] + hostile
for i, a in enumerate(base):
    for k in range(12):
        rw.append(bytes([(i * 7 + k * 13) % 256]) + a)
for a in base[:20]:
    for sel in range(0, 80):
        rw.append(bytes([sel]) + a)
for sel in range(0, 80, 3):
    rw.append(bytes([sel]) + b"<user@lab.example>\x00192.0.2.99\x00evil.example.com\x00PLAIN")
    rw.append(bytes([sel]) + b"unknown.example.com " + CONDELSE + b" 192.0.2.99\x00192.0.2.99\x00unknown.example.com")
write(os.path.join(HERE, "rewrite"), rw)

# testmode: each golden input whole, each line alone, and hostile lines
# behind each command prefix.
tm = []
for f in sorted(glob.glob(os.path.join(BT, "*.in"))):
    tm.append(open(f, "rb").read())
tm += lines
for h in hostile:
    for p in [b"3,0 ", b"canonify,parse ", b"check_rcpt ", b"/parse ", b"/try esmtp ",
              b"/map access ", b".D{x}", b".Cw ", b"$", b"/expand ", b"/canon ", b"=S"]:
        tm.append(p + h.replace(b"\n", b" "))
tm.append(b".D{a}$b\n.D{b}$a\n/expand $a\n3,0 $&a\n")
tm.append(b"-d21.12\n3,0 user@localhost\n/tryflags hs\n/try esmtp user\n")
tm.append(b".Cw " + b"w " * 500 + b"\n$=w\n3,0 user@w\n")
tm.append(b"/quit\n3,0 after quit\n")
write(os.path.join(HERE, "testmode"), tm)
print(len(addrs + hostile + lines), len(rw), len(tm))
