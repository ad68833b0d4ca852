#!/usr/bin/env python3
"""pyxtream (PyPI), a client no one here wrote, against Atoll's Xtream Codes API.

usage: python3 pyxtream_client.py http://127.0.0.1:PORT USER PASS
Run by crates/atoll/tests/xc.rs. pyxtream only prints its JSON-schema failures; here they are
fatal. Exit code 0 = all good; any assertion or exception = failure.
"""
import sys
import tempfile

import requests

import pyxtream.pyxtream as core
from pyxtream import XTream, api
from pyxtream.schemaValidator import SchemaType, schemaValidator

server, user, pw = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]

# pyxtream only *prints* schema failures; make them fatal.
failures = []
_orig = core.schemaValidator


def strict(data, kind):
    ok = _orig(data, kind)
    if not ok:
        failures.append((kind, data))
    return ok


core.schemaValidator = strict

cache = tempfile.mkdtemp(prefix="pyxtream-cache-")  # must exist, else ~/.xtream-cache is used
xt = XTream("test", user, pw, server,
            cache_path=cache,          # fresh dir -> no stale cache files
            reload_time_sec=-1,        # never trust cache files
            validate_json=True)        # apply LIVE/VOD/SERIES_INFO schemas to stream lists

assert xt.state["authenticated"], "login failed (non-2xx or no response)"
ui, si = xt.auth_data["user_info"], xt.auth_data["server_info"]
assert int(ui["auth"]) == 1, ui
assert xt.authorization == {"username": user, "password": pw}, xt.authorization

assert xt.load_iptv() is True
assert not failures, f"schema failures: {failures}"

groups = [g for g in xt.groups if g.name != "xEverythingElse"]
assert groups, "no categories parsed (wrong category_id/parent_id types skip groups)"
for coll, kind in ((xt.channels, "live"), (xt.movies, "movie")):
    for c in coll:
        assert c.url.startswith(f"{server}/{kind}/{user}/{pw}/"), c.url
        assert c.group_title != "xEverythingElse", f"{c.name}: category_id matches no category"
assert xt.channels and xt.movies and xt.series, (len(xt.channels), len(xt.movies), len(xt.series))

n_eps = 0
for s in xt.series:
    raw = xt._load_series_info_by_id_from_provider(s.series_id)
    assert schemaValidator(raw, SchemaType.SERIES), "get_series_info fails pyxtream SERIES schema"
    xt.get_series_info_by_id(s)
    assert s.seasons, f"no seasons for {s.name}"
    for season in s.seasons.values():
        for ep in season.episodes.values():
            assert ep.url.startswith(f"{server}/series/{user}/{pw}/"), ep.url
            n_eps += 1
assert n_eps > 0, "no episodes loaded (seasons[] empty/mismatched season_number?)"

# get_vod_info: xt.vodInfoByID() is broken in 0.8.0 (passes base_url as timeout) -> call directly
vi = xt._get_request(api.get_VOD_info_URL_by_ID(xt.movies[0].id, xt.base_url))
assert isinstance(vi, dict) and "info" in vi and "movie_data" in vi, vi

# the channel the test's guide covers (the first with listings)
ch = next((c for c in xt.channels if xt.liveEpgByStream(c.id)["epg_listings"]), xt.channels[0])
epg = xt.liveEpgByStream(ch.id)
assert isinstance(epg, dict) and isinstance(epg.get("epg_listings"), list), epg
epg2 = xt.liveEpgByStreamAndLimit(ch.id, 2)
assert len(epg2["epg_listings"]) <= 2, epg2
full = xt.allLiveEpgByStream(ch.id)
assert isinstance(full, dict) and isinstance(full.get("epg_listings"), list), full
# the test's guide has programmes on every channel: the listings are real, base64 titles
assert epg["epg_listings"] and full["epg_listings"], (epg, full)
import base64
for e in full["epg_listings"]:
    base64.b64decode(e["title"], validate=True)
    assert e["has_archive"] in (0, 1) and e["now_playing"] in (0, 1), e

# stream URLs built by pyxtream must be servable
for url in (ch.url, xt.movies[0].url, next(iter(next(iter(xt.series[0].seasons.values())).episodes.values())).url):
    r = requests.get(url, stream=True, timeout=5)
    assert r.status_code in (200, 206), (url, r.status_code)
    r.close()

print(f"OK groups={len(groups)} channels={len(xt.channels)} movies={len(xt.movies)} "
      f"series={len(xt.series)} episodes={n_eps}")
