#!/usr/bin/env python3
"""uptime.check: GET a URL; print {"up", "status", "seconds"} as JSON."""
import json
import sys
import time
import urllib.error
import urllib.request

params = json.load(sys.stdin)
start = time.monotonic()
try:
    with urllib.request.urlopen(params["url"], timeout=params.get("timeout", 10)) as r:
        status = r.status
except urllib.error.HTTPError as e:
    status = e.code
except OSError:
    status = None
up = status is not None and 200 <= status < 400
print(json.dumps({"up": up, "status": status, "seconds": round(time.monotonic() - start, 3)}))
