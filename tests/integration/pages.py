"""pages.py - what the integration tests' pager (lib.sh pager_channel) wrote,
and waiting for it; shared by the tests that drive the collector with wire.py.

Each line of DIR/pages.log is "STATE RULE SITE HOST CHECK | SUMMARY".
Every wait is bounded; a missing page ends the test with what was there.
"""
import os
import sys
import time


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


class Pages:
    def __init__(self, directory):
        self.path = os.path.join(directory, "pages.log")

    def lines(self, prefix=""):
        """The pages whose line starts with prefix, oldest first."""
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return [l for l in f.read().splitlines() if l.startswith(prefix)]

    def wait(self, prefix, n, limit, also=None):
        """Waits up to limit seconds for n pages starting with prefix, calling
        also() (e.g. to keep an agent talking) every half second meanwhile."""
        end = time.time() + limit
        while time.time() < end:
            if also:
                also()
            if len(self.lines(prefix)) >= n:
                return self.lines(prefix)
            time.sleep(0.5)
        raise SystemExit("FAIL: expected %d page(s) '%s' within %d s, have %r"
                         % (n, prefix, limit, self.lines()))
