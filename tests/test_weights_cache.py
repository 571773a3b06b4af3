import numpy as np

from bmbench import engine
from bmbench.models import cache, config


def test_cache_round_trip_gives_identical_weights_and_decode(tmp_path, monkeypatch):
    monkeypatch.setenv("BMBENCH_CACHE_DIR", str(tmp_path))
    c = config.get_config("tiny-bitmamba")
    w1, o1 = cache.synthetic_weights(c, "ternary-lut", seed=3)
    w2, o2 = cache.synthetic_weights(c, "ternary-lut", seed=3)
    assert o1 == "generated" and o2.startswith("cache")
    np.testing.assert_array_equal(w1.lm_head.data, w2.lm_head.data)
    assert w1.layers[1].in_proj.scale == w2.layers[1].in_proj.scale
    np.testing.assert_array_equal(w1.layers[0].D, w2.layers[0].D)
    toks = [engine.Engine(w, flavour="scalar").decode([1, 2], 6).tokens.tolist() for w in (w1, w2)]
    assert toks[0] == toks[1]
    assert len(list(tmp_path.iterdir())) == 1  # no temp directories left behind


def test_cache_off(monkeypatch):
    monkeypatch.setenv("BMBENCH_CACHE_DIR", "off")
    _, origin = cache.synthetic_weights(config.get_config("tiny-mamba2"), "f32")
    assert origin == "generated (cache off)"
