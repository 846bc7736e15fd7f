"""A small Kubernetes API client for the real-cluster tier (standard library only).

HTTPS with a client certificate against the test control plane; JSON in and out. Used by the
simulated kubelets, the cluster's readiness checks and the tier's assertions (which read the
live objects from the API server, never through the tool under test).
"""

import http.client
import json
import ssl
import threading
import urllib.parse


class ApiError(Exception):
    """A request that reached the API server and was answered with a non-2xx status."""

    def __init__(self, status, body, method, path):
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


class Client:
    """One client identity (certificate) against one API server; thread-safe (a connection per thread)."""

    def __init__(self, host, port, ca, cert, key, timeout=10.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(cert, key)
        self.local = threading.local()

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=self.timeout)
            self.local.conn = conn
        return conn

    def close(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        """Send one request; return the decoded JSON. Raises ApiError or OSError/HTTPException."""
        if query:
            path = path + "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        conn = self._conn()
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        text = raw.decode("utf-8", "replace")
        if resp.status // 100 != 2:
            raise ApiError(resp.status, text, method, path)
        if not text:
            return {}
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(text)
        return text

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def put(self, path, body):
        return self.request("PUT", path, body)

    def post(self, path, body):
        return self.request("POST", path, body)

    def delete(self, path, body=None):
        return self.request("DELETE", path, body)

    def patch(self, path, body, kind="merge"):
        ctype = {"merge": "application/merge-patch+json", "strategic": "application/strategic-merge-patch+json"}[kind]
        return self.request("PATCH", path, body, content_type=ctype)
