"""Who may open what on the overlay server: the access rules, decided without sockets."""

from __future__ import annotations

from websockets.datastructures import Headers
from websockets.http11 import Request

from canvascap.web.access import AccessRules


def request(
    path: str, host: str = "127.0.0.1:8765", method: str = "GET", **headers: str
) -> Request:
    return Request(path, Headers({"Host": host, **headers}), method=method)


def test_on_loopback_without_tokens_every_page_opens() -> None:
    rules = AccessRules("127.0.0.1")
    for path in ("/", "/overlay", "/watch", "/healthz", "/ws", "/mic", "/nowhere"):
        assert rules.decide(request(path), 1, 10) is None, path


def test_the_admin_token_opens_all_and_the_viewer_token_only_the_audience() -> None:
    rules = AccessRules("0.0.0.0", token="admin", viewer_token="viewer")
    for path in ("/", "/healthz", "/mic", "/ingest", "/ws", "/watch"):
        assert rules.decide(request(f"{path}?token=admin"), 1, 10) is None, path
    for path in ("/ws", "/watch"):
        assert rules.decide(request(f"{path}?token=viewer"), 1, 10) is None, path
    for path in ("/", "/healthz", "/mic", "/ingest"):
        refused = rules.decide(request(f"{path}?token=viewer"), 1, 10)
        assert refused is not None and refused.status == 401, path
    refused = rules.decide(request("/ws?token=wrong"), 1, 10)
    assert refused is not None and refused.status == 401
    assert rules.decide(request("/overlay"), 1, 10) is None  # the page itself holds nothing


def test_a_rebound_dns_name_is_refused_and_counted() -> None:
    rules = AccessRules("127.0.0.1", allowed_hosts=["studio.lan"])
    refused = rules.decide(request("/", host="evil.example:8765"), 1, 10)
    assert refused is not None and (refused.status, refused.counter) == (
        403,
        "overlay.hosts_refused",
    )
    for host in ("localhost:8765", "studio.lan", "app.localhost", "[::1]:8765"):
        assert rules.decide(request("/", host=host), 1, 10) is None, host


def test_feeds_need_an_allowed_origin_and_room_under_the_cap() -> None:
    rules = AccessRules("127.0.0.1", origins=["https://obs.example"])
    own = request("/ws", Origin="http://127.0.0.1:8765")
    other = request("/ws", Origin="https://elsewhere.example")
    listed = request("/ws", Origin="https://obs.example")
    assert rules.decide(own, 1, 10) is None
    assert rules.decide(listed, 1, 10) is None
    refused = rules.decide(other, 1, 10)
    assert refused is not None and refused.status == 403
    assert rules.decide(request("/ws"), 1, 10) is None  # not a browser: OBS, scripts
    full = rules.decide(request("/ws"), open_connections=11, max_connections=10)
    assert full is not None and (full.status, full.counter) == (503, "overlay.feeds_refused")


def test_only_get_and_head_are_served_and_a_socket_needs_get() -> None:
    rules = AccessRules("127.0.0.1")
    for method, path, expected in (
        ("POST", "/", 405),
        ("PUT", "/ws", 405),
        ("HEAD", "/overlay", None),
        ("HEAD", "/ws", 405),
    ):
        refused = rules.decide(request(path, method=method), 1, 10)
        assert (refused.status if refused else None) == expected, (method, path)
