"""Container health check: GET $HEALTHCHECK_URL, healthy on a 2xx answer within 2 seconds.

The image runs several services, so compose sets HEALTHCHECK_URL per service (the slim image has no curl).
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = os.environ.get("HEALTHCHECK_URL", "http://127.0.0.1:8088/health")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
