#!/usr/bin/env python3
"""The registry of benches/scale.sh and benches/site.sh, generated.

Usage: scale_registry.py SITE_DIR REFS BASE_URL

REFS refs x 4 versions; version v of pack<i> depends on 3 earlier refs at
`^1` (a seeded random sample of pack0..pack<i-1>). Written in three forms
from the same graph: SITE_DIR/whole/index.json (one knap index),
SITE_DIR/sparse/ (the knap sparse layout) and SITE_DIR/cargo/ (a sparse
Cargo registry whose config.json points at BASE_URL), plus
SITE_DIR/small/index.json (10 refs x 4 versions). SITE_DIR/../graph.txt
gets how many packs the newest-first resolution of the last ref reaches and
how many refs the dependencies of every version reach.
"""
import json, os, random, sys, hashlib
site, n, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
VERSIONS = 4
rng = random.Random(4)
deps = {}
for i in range(n):
    for v in range(VERSIONS):
        deps[(i, v)] = rng.sample(range(i), min(3, i))

def entry(i, v, dep_refs):
    r = f"pack{i}"
    ver = f"1.{v}.0"
    h = hashlib.sha256(f"{r}@{ver}".encode()).hexdigest()
    return {
        "ref": r, "label": f"Pack {i}", "description": f"Automation content number {i}, generated for the scale benchmark",
        "version": ver, "author": "Bench", "license": "Apache-2.0",
        "keywords": ["bench", f"k{i % 97}"], "runtime_deps": ["python3"],
        "install_sources": [
            {"type": "git", "url": f"https://example.org/{r}.git", "ref": h[:40], "checksum": "sha256:" + h},
            {"type": "archive", "url": f"https://example.org/{r}-{ver}.tar.gz", "checksum": "sha256:" + h},
        ],
        "dependencies": {"packs": [f"pack{d}@^1" for d in dep_refs]},
        "contents": {"actions": [{"name": "run", "description": "Runs it"}], "sensors": [],
                     "triggers": [], "rules": [], "workflows": []},
    }

def write(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))

head = {"registry_name": "Scale", "registry_url": "https://example.org/scale/",
        "version": "1.0", "last_updated": "2026-12-01T12:00:00Z"}
# Whole index: entries sorted by ref then version, as knap-index writes it.
order = sorted(range(n), key=lambda i: f"pack{i}")
packs = [entry(i, v, deps[(i, v)]) for i in order for v in range(VERSIONS)]
os.makedirs(f"{site}/whole", exist_ok=True)
with open(f"{site}/whole/index.json", "w") as f:
    f.write(json.dumps({**head, "packs": []}, separators=(",", ":"))[:-3])
    f.write("[")
    for k, e in enumerate(packs):
        if k:
            f.write(",\n")
        f.write(json.dumps(e, separators=(",", ":")))
    f.write("]}\n")
# Sparse layout.
write(f"{site}/sparse/config.json", {"format": "knap-sparse-1", "registry_name": "Scale",
      "registry_url": "https://example.org/scale/", "last_updated": "2026-12-01T12:00:00Z"})
for i in range(n):
    write(f"{site}/sparse/packs/pack{i}.json",
          {"ref": f"pack{i}", "versions": [entry(i, v, deps[(i, v)]) for v in range(VERSIONS)]})
# The same graph as a sparse Cargo registry.
write(f"{site}/cargo/config.json", {"dl": base + "/cargo/dl/{crate}/{version}/download"})
for i in range(n):
    name = f"pack{i}"
    d = f"{site}/cargo/{name[:2]}/{name[2:4]}" if len(name) > 3 else f"{site}/cargo/{len(name)}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/{name}", "w") as f:
        for v in range(VERSIONS):
            f.write(json.dumps({
                "name": name, "vers": f"1.{v}.0",
                "deps": [{"name": f"pack{x}", "req": "^1", "features": [], "optional": False,
                          "default_features": True, "target": None, "kind": "normal"}
                         for x in deps[(i, v)]],
                "cksum": hashlib.sha256(f"{name}@{v}".encode()).hexdigest(),
                "features": {}, "yanked": False}, separators=(",", ":")) + "\n")
# The 40-version registry.
small = [entry(i, v, deps[(i, v)]) for i in sorted(range(10), key=lambda i: f"pack{i}")
         for v in range(VERSIONS)]
write(f"{site}/small/index.json", {**head, "registry_name": "Small", "packs": small})
# How many packs the newest-first resolution of the last ref reaches, and how
# many refs the dependencies of every version reach (the old eager lookup).
def closure(all_versions):
    seen = {n - 1}; todo = [n - 1]
    while todo:
        i = todo.pop()
        for v in (range(VERSIONS) if all_versions else [VERSIONS - 1]):
            for x in deps[(i, v)]:
                if x not in seen:
                    seen.add(x); todo.append(x)
    return len(seen)
with open(f"{site}/../graph.txt", "w") as f:
    f.write(f"{closure(False)} {closure(True)}\n")
