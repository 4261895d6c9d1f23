"""A scripted Prometheus on 127.0.0.1: ``/api/v1/query`` answers as Prometheus v2.42.0 does (a vector of
one sample), with values chosen by the side the query selects; ``/healthz`` answers 200."""

from __future__ import annotations

import http.server
import json
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.cloud.fake_cloud import serve

Answer = Callable[[str], bytes]


def _vector(value: float) -> bytes:
    sample = {"metric": {}, "value": [1700000000, str(value)]}
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [sample]}}).encode()


def scripted(
    new_errors: float, old_errors: float, new: str, requests: str | tuple[str, ...] = "sum(increase(requests"
) -> Answer:
    """Answers for the side the query selects (``new`` is an instance or pod name of the new side): a
    requests query (one starting with ``requests``, or with any of them) counts 500 (new) and 900 (old),
    any other query the given values."""

    def answer(query: str) -> bytes:
        side_new = new in query
        if query.startswith(requests):
            return _vector(500 if side_new else 900)
        return _vector(new_errors if side_new else old_errors)

    return answer


@contextmanager
def serving(answer: Answer | None) -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A health endpoint (/healthz) and, when ``answer`` is given, Prometheus' /api/v1/query."""
    asked: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/healthz":
                body, status = b"ok", 200
            elif url.path == "/api/v1/query" and answer is not None:
                parameters = dict(urllib.parse.parse_qsl(url.query))
                asked.append(parameters)
                body, status = answer(parameters["query"]), 200
            else:
                body, status = b"", 404
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    with serve(Handler) as port:
        yield port, asked
