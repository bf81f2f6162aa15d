"""The benchmarks' one wrk script generator (`superapp.bench.wrk_script`), run by wrk against a recording server."""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from superapp import bench

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


@pytest.fixture
def recorder():
    seen: list[tuple[str, str, dict, str]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            seen.append((self.command, self.path, dict(self.headers), body))
            payload = b'{"source":"materialised:1"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _run(url, lua, **kwargs):
    return bench.wrk_run(url, duration_s=1, connections=2, threads=2, lua=lua, **kwargs)


def test_gets_rotate_over_paths_and_tokens_and_keep_wrk_headers(recorder):
    url, seen = recorder
    result = _run(url + "/p/a", bench.wrk_script(paths=["/p/a", "/p/b?x=1"], tokens=["t1", "t2"]),
                  headers={"X-Extra": "kept"})
    assert result.requests > 10 and result.non_2xx == 0
    assert {path for _, path, _, _ in seen} == {"/p/a", "/p/b?x=1"}
    assert {headers["Authorization"] for _, _, headers, _ in seen} == {"Bearer t1", "Bearer t2"}
    assert all(method == "GET" and headers["X-Extra"] == "kept" for method, _, headers, _ in seen)


def test_posts_random_bodies_each_with_a_fresh_idempotency_key(recorder):
    url, seen = recorder
    bodies = ['{"amount": "1.00"}', '{"amount": "2.00", "note": "a \\"quoted\\" word"}']
    _run(url + "/pay", bench.wrk_script(method="POST", bodies=bodies, tokens=["t"], idempotency_key=True,
                                        pick="random"))
    assert {body for _, _, _, body in seen} == set(bodies)
    keys = [headers["Idempotency-Key"] for _, _, headers, _ in seen]
    assert len(set(keys)) == len(keys) > 10
    assert all(m == "POST" and p == "/pay" and h["Content-Type"] == "application/json" for m, p, h, _ in seen)


def test_a_custom_request_and_done_hook_reach_the_output(recorder):
    url, seen = recorder
    request = '  return wrk.format("GET", "/n/" .. thread_id .. "/" .. counter, nil, nil)'
    extra = """
pages = 0
response = function(status, headers, body) pages = pages + 1 end
function done(summary, latency, requests)
  local p = 0
  for _, t in ipairs(threads) do p = p + t:get("pages") end
  io.write(string.format("PAGES %d\\n", p))
end
"""
    result = _run(url + "/", bench.wrk_script(request=request, extra=extra))
    assert f"PAGES {result.requests}" in result.output
    paths = [path for _, path, _, _ in seen]
    assert len(set(paths)) == len(paths)  # thread id and counter make every request distinct
    assert {p.split("/")[2] for p in paths} == {"0", "1"}
